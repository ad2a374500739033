/*
 * cmd_forwards.c - `nis2ctl forwards [SESSION] [--user U] [--target T]
 * [--since T] [--until T] [--json]`: the port forwards of recorded
 * sessions for auditors (lib/forwards.h): destination, rule, bytes each
 * way, duration, blocked Modbus requests, and the capture file to open
 * in Wireshark.  Works on the recordings alone.
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_tools.h"
#include "error.h"
#include "forwards.h"
#include "nis2ctl.h"
#include "sessions.h"
#include "util.h"

static void
usage_forwards(FILE *f)
{
    fprintf(f, "usage: nis2ctl forwards [SESSION] [--user U] [--target T] "
               "[--since T]\n"
               "                        [--until T] [--json]\n"
               "\n"
               "Lists the port forwards (ssh -L / -W) of recorded sessions: "
               "capture file\n(fwd-N.pcap in the session's directory), "
               "destination as asked, address\nand port it went to, "
               "protocol rule, bytes forwarded each way, duration\nand "
               "Modbus requests blocked.  From meta.json's forward events "
               "and the\ncaptures themselves: a recording alone is enough "
               "(a session cut off by\na crash shows what its captures "
               "hold, marked 'capture').\n");
}

static int
parse(struct nis2ctl *ctx, int argc, char **argv, struct nis2_session_filter *f,
      const char **session)
{
    static const struct option longopts[] = {
        AT_FILTER_OPTIONS,
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c, k;

    *session = NULL;
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return -1;
        }
        if ((k = at_filter_opt(ctx, "forwards", c, optarg, f)) < 0) {
            return -1;
        }
        if (k == 0) {
            if (!at_bad_option(ctx, "forwards", bad != NULL ? bad : "?")) {
                usage_forwards(ctx->err);
            }
            return -1;
        }
    }
    if (optind < argc) {
        *session = argv[optind++];
    }
    if (optind < argc) {
        fprintf(ctx->err, "nis2ctl: forwards: unexpected '%s'\n", argv[optind]);
        usage_forwards(ctx->err);
        return -1;
    }
    return 0;
}

static struct json_object *
forward_json(const struct nis2_session *s, const struct nis2_forward *f)
{
    struct json_object *o = json_object_new_object();
    char t[32];
    int r = 0;

    nis2_format_time_utc(f->start.tv_sec, t, sizeof(t));
    r |= at_jstr(o, "session", s->id);
    r |= at_jstr(o, "user", s->user);
    r |= at_jstr(o, "target", s->target);
    r |= at_jstr(o, "file", f->file);
    r |= at_jstr(o, "destination", f->destination);
    r |= at_jstr(o, "address", f->address[0] != '\0' ? f->address : NULL);
    r |= at_jnum(o, "port", f->port > 0, f->port);
    r |= at_jstr(o, "rule", f->rule);
    r |= at_jnum(o, "bytes_to_target", f->bytes_to_target >= 0,
                 f->bytes_to_target);
    r |= at_jnum(o, "bytes_from_target", f->bytes_from_target >= 0,
                 f->bytes_from_target);
    r |= at_jnum(o, "captured_from_client", true, (int64_t)f->captured[0]);
    r |= at_jnum(o, "captured_to_client", true, (int64_t)f->captured[1]);
    r |= at_jstr(o, "start", f->start.tv_sec != 0 ? t : NULL);
    r |= at_jnum(o, "duration_ms", f->duration_ms >= 0, f->duration_ms);
    r |= at_jnum(o, "modbus_blocked", true, f->blocked);
    r |= at_jnum(o, "modbus_writes", true, f->writes);
    r |= at_jstr(o, "close_reason", f->close_reason);
    r |= at_jbool(o, "closed", true, f->closed);
    r |= at_jstr(o, "source", f->noted ? "notes" : "capture");
    r |= at_jstr(o, "capture_error", f->capture_error);
    if (r != 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* A byte count, or the capture's when the broker's note is missing. */
static void
count(char *buf, size_t len, int64_t noted, uint64_t captured)
{
    if (noted >= 0) {
        snprintf(buf, len, "%lld", (long long)noted);
    } else {
        snprintf(buf, len, "~%llu", (unsigned long long)captured);
    }
}

static void
print_line(struct nis2ctl *ctx, const struct nis2_session *s,
           const struct nis2_forward *f)
{
    char user[128], dest[320], addr[96], rule[64], up[32], down[32], dur[32],
        note[96], t[32];

    nis2_safe_text(s->user != NULL ? s->user : "?", user, sizeof(user));
    nis2_safe_text(f->destination != NULL ? f->destination : "?", dest,
                   sizeof(dest));
    snprintf(addr, sizeof(addr), "%s:%d",
             f->address[0] != '\0' ? f->address : "?", f->port);
    nis2_safe_text(f->rule != NULL ? f->rule : "-", rule, sizeof(rule));
    count(up, sizeof(up), f->bytes_to_target, f->captured[0]);
    count(down, sizeof(down), f->bytes_from_target, f->captured[1]);
    if (f->duration_ms >= 0) {
        nis2_format_duration(f->duration_ms / 1000, dur, sizeof(dur));
    } else {
        snprintf(dur, sizeof(dur), "%s", "open");
    }
    nis2_format_time_utc(f->start.tv_sec, t, sizeof(t));
    nis2_safe_text(f->capture_error != NULL  ? f->capture_error
                   : f->close_reason != NULL ? f->close_reason
                   : f->noted                ? ""
                                             : "capture",
                   note, sizeof(note));
    fprintf(ctx->out,
            "%-10s  %-10s  %-10s  %-20s  %-10s  %-22s  %-16s  %10s  %10s  "
            "%-8s  %7lld  %s\n",
            s->id, user, f->file, f->start.tv_sec != 0 ? t : "-", dest, addr,
            rule, up, down, dur, (long long)f->blocked, note);
}

int
cmd_forwards(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_session_filter flt = {0};
    struct nis2_session **v = NULL, *one = NULL;
    struct json_object *a = NULL;
    struct nis2_config *cfg;
    const char *session = NULL;
    size_t n = 0;
    int r, rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_forwards(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if (parse(ctx, argc, argv, &flt, &session) != 0) {
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = at_auditor_config(ctx, "forwards")) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    if (session != NULL) {
        if (at_find(ctx, cfg, "forwards", session, &one) != 0) {
            return NIS2CTL_EXIT_ERR;
        }
        if (!nis2_session_match(one, &flt)) {
            nis2_session_free(one);
            one = NULL;
        }
    } else if ((r = nis2_sessions_list(cfg->recordings_dir, &flt, &v, &n)) !=
               0) {
        fprintf(ctx->err, "nis2ctl: forwards: %s: %s\n", cfg->recordings_dir,
                nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    if (one != NULL) {
        v = &one;
        n = 1;
    }
    if (ctx->json && (a = json_object_new_array()) == NULL) {
        goto out;
    }
    if (!ctx->json) {
        fprintf(ctx->out,
                "%-10s  %-10s  %-10s  %-20s  %-10s  %-22s  %-16s  %10s  %10s  "
                "%-8s  %7s  %s\n",
                "SESSION", "USER", "FILE", "START", "DEST", "ADDRESS", "RULE",
                "TO_TARGET", "FROM_TGT", "DURATION", "BLOCKED", "NOTE");
    }
    for (size_t i = 0; i < n; i++) {
        struct nis2_forward *fw = NULL;
        size_t nf = 0;

        if ((r = nis2_forwards_of(v[i], &fw, &nf)) != 0) {
            fprintf(ctx->err, "nis2ctl: forwards: %s: %s\n", v[i]->id,
                    nis2_strerror(r));
            goto out;
        }
        for (size_t j = 0; j < nf; j++) {
            if (a == NULL) {
                print_line(ctx, v[i], &fw[j]);
                continue;
            }
            struct json_object *o = forward_json(v[i], &fw[j]);
            if (o == NULL || json_object_array_add(a, o) != 0) {
                json_object_put(o);
                nis2_forwards_free(fw, nf);
                goto out;
            }
        }
        nis2_forwards_free(fw, nf);
    }
    rc = a != NULL ? at_print_json(ctx, a) : NIS2CTL_EXIT_OK;
out:
    json_object_put(a);
    if (one != NULL) {
        nis2_session_free(one);
    } else {
        nis2_sessions_free(v, n);
    }
    return rc;
}
