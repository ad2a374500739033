/*
 * cmd_audit.c - `nis2ctl audit verify [FILE] [--json]`: check the hash
 * chain of the audit log and of its rotated files; `nis2ctl audit rotate`:
 * start a new file that continues the chain (docs/audit-format.md).
 *
 * Exit: 0 intact, 1 broken (the first bad line and why), 2 usage, config
 * or I/O errors (a missing file included).
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "error.h"
#include "nis2ctl.h"

static void
usage_audit(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl [--config FILE] audit verify [LOG] [--json]\n"
            "       nis2ctl [--config FILE] audit rotate\n"
            "\n"
            "  verify   check the hash chain of the audit log (default: the\n"
            "           configuration's [paths] audit_log) and of its rotated\n"
            "           files LOG.000001, LOG.000002, ... as one chain\n"
            "  rotate   keep the log as LOG.NNNNNN and start a new LOG whose\n"
            "           first event continues the chain\n");
}

static void
usage_verify(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl [--config FILE] audit verify [LOG] [--json]\n"
            "\n"
            "Reads the audit log line by line and checks each line's hash,\n"
            "that seq counts up by one and that prev is the hash of the line\n"
            "before; rotated files (LOG.000001, ...) first, oldest first, as\n"
            "one chain.  Prints 'intact: N events, last seq N, last hash H'\n"
            "(exit 0) or 'BROKEN at line N: why' for the first bad line\n"
            "('BROKEN at line N of FILE: why' with rotated files) (exit 1).\n"
            "Exit 2 when the log cannot be read.  Lines appended\n"
            "while the check runs are left for the next check.  Cutting\n"
            "lines off the end is only visible against an outside copy of\n"
            "the last hash (syslog carries it for every event).\n"
            "\n"
            "  LOG      the log to check (default: [paths] audit_log)\n"
            "  --json   {\"intact\": bool, \"lines\": N, "
            "\"bad_line\": N|null,\n"
            "            \"reason\": \"...\"|null, \"last_seq\": N, "
            "\"last_hash\": \"...\",\n"
            "            \"files\": [...], \"bad_file\": \"...\"|null}\n");
}

static int
print_json(struct nis2ctl *ctx, struct json_object *doc)
{
    const char *s = json_object_to_json_string_ext(
        doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                 JSON_C_TO_STRING_NOSLASHESCAPE);

    if (s == NULL || fprintf(ctx->out, "%s\n", s) < 0) {
        return -1;
    }
    return 0;
}

/* "files": [...] and "bad_file"; false when out of memory. */
static bool
add_files(struct json_object *doc, char **files, int r,
          const struct nis2_audit_result *res)
{
    struct json_object *a = json_object_new_array(), *x;

    if (a == NULL || json_object_object_add(doc, "files", a) != 0) {
        json_object_put(a);
        return false;
    }
    for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
        if ((x = json_object_new_string(files[i])) == NULL ||
            json_object_array_add(a, x) != 0) {
            json_object_put(x);
            return false;
        }
    }
    x = NULL;
    if (r == NIS2_ERR_INTEGRITY &&
        (x = json_object_new_string(res->bad_file)) == NULL) {
        return false;
    }
    if (json_object_object_add(doc, "bad_file", x) != 0) {
        json_object_put(x);
        return false;
    }
    return true;
}

static int
verify_json(struct nis2ctl *ctx, const char *path, int r,
            const struct nis2_audit_result *res, char **files)
{
    struct json_object *doc = json_object_new_object();
    int rc = NIS2CTL_EXIT_ERR;

    if (doc == NULL || !add_files(doc, files, r, res)) {
        fprintf(ctx->err, "nis2ctl: out of memory\n");
        json_object_put(doc);
        return rc;
    }
    json_object_object_add(doc, "file", json_object_new_string(path));
    if (r != 0 && r != NIS2_ERR_INTEGRITY) {
        json_object_object_add(doc, "intact", NULL);
        json_object_object_add(doc, "error",
                               json_object_new_string(nis2_strerror(r)));
    } else {
        json_object_object_add(doc, "intact", json_object_new_boolean(r == 0));
        json_object_object_add(doc, "lines",
                               json_object_new_int64((int64_t)res->lines));
        json_object_object_add(
            doc, "bad_line",
            r == 0 ? NULL : json_object_new_int64((int64_t)res->bad_line));
        json_object_object_add(
            doc, "reason", r == 0 ? NULL : json_object_new_string(res->why));
        json_object_object_add(doc, "last_seq",
                               json_object_new_int64((int64_t)res->last_seq));
        json_object_object_add(doc, "last_hash",
                               json_object_new_string(res->last_hash));
    }
    if (print_json(ctx, doc) == 0) {
        rc = r == 0                    ? NIS2CTL_EXIT_OK
             : r == NIS2_ERR_INTEGRITY ? NIS2CTL_EXIT_NO
                                       : NIS2CTL_EXIT_ERR;
    }
    json_object_put(doc);
    return rc;
}

static int
audit_verify(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct nis2_audit_result res;
    const char *path = NULL, *bad = NULL;
    char **files = NULL;
    bool json;
    int c, r, rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_verify(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        fprintf(ctx->err, "nis2ctl: audit verify: unexpected '%s'\n", bad);
        usage_verify(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: audit verify: unexpected '%s'\n",
                argv[optind + 1]);
        usage_verify(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    path = optind < argc ? argv[optind] : NULL;
    json = ctx->json;
    if (path == NULL) {
        struct nis2_config *cfg = nis2ctl_config(ctx);
        if (cfg == NULL) {
            return NIS2CTL_EXIT_ERR;
        }
        path = cfg->audit_log;
    }
    r = nis2_audit_verify_set(path, &res, &files);
    if (r != 0 && r != NIS2_ERR_INTEGRITY) {
        fprintf(ctx->err, "nis2ctl: audit verify: %s: %s\n",
                res.bad_file[0] != '\0' ? res.bad_file : path,
                nis2_strerror(r));
    }
    if (json) {
        rc = verify_json(ctx, path, r, &res, files);
    } else if (r == 0) {
        fprintf(ctx->out, "intact: %llu events, last seq %llu, last hash %s\n",
                (unsigned long long)res.lines, (unsigned long long)res.last_seq,
                res.last_hash);
        if (res.files > 1) {
            fprintf(ctx->out, "%u files, oldest first:\n", res.files);
            for (size_t i = 0; files[i] != NULL; i++) {
                fprintf(ctx->out, "  %s\n", files[i]);
            }
        }
        rc = NIS2CTL_EXIT_OK;
    } else if (r == NIS2_ERR_INTEGRITY &&
               (res.files > 1 || strcmp(res.bad_file, path) != 0)) {
        fprintf(ctx->out, "BROKEN at line %llu of %s: %s\n",
                (unsigned long long)res.bad_line, res.bad_file, res.why);
        rc = NIS2CTL_EXIT_NO;
    } else if (r == NIS2_ERR_INTEGRITY) {
        fprintf(ctx->out, "BROKEN at line %llu: %s\n",
                (unsigned long long)res.bad_line, res.why);
        rc = NIS2CTL_EXIT_NO;
    }
    nis2_audit_files_free(files);
    return rc;
}

static void
usage_rotate(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl [--config FILE] audit rotate\n"
            "\n"
            "Checks the whole audit log ([paths] audit_log), keeps it as\n"
            "LOG.NNNNNN (the next free number) and starts a new LOG whose\n"
            "first event, audit.rotated, continues the hash chain (seq and\n"
            "prev follow the old file's last line, which it names).  A broken\n"
            "log is not rotated.  `audit verify` checks all files as one\n"
            "chain.  Run it from cron or a systemd timer (as root).\n");
}

static int
audit_rotate(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct nis2_config *cfg;
    const char *bad = NULL;
    char *rotated = NULL;
    int c, r;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_rotate(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        fprintf(ctx->err, "nis2ctl: audit rotate: unexpected '%s'\n", bad);
        usage_rotate(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (optind != argc) {
        fprintf(ctx->err, "nis2ctl: audit rotate: unexpected '%s'\n",
                argv[optind]);
        usage_rotate(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    r = nis2_audit_rotate(cfg->audit_log, ctx->actor.name, &rotated);
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: audit rotate: %s: %s%s\n", cfg->audit_log,
                nis2_strerror(r),
                r == NIS2_ERR_INTEGRITY ? " (not rotated: see audit verify)"
                                        : "");
        return r == NIS2_ERR_INTEGRITY ? NIS2CTL_EXIT_NO : NIS2CTL_EXIT_ERR;
    }
    if (rotated == NULL) {
        fprintf(ctx->out, "%s is empty: nothing to rotate\n", cfg->audit_log);
    } else {
        fprintf(ctx->out, "rotated: %s kept as %s\n", cfg->audit_log, rotated);
    }
    free(rotated);
    return NIS2CTL_EXIT_OK;
}

int
cmd_audit(struct nis2ctl *ctx, int argc, char **argv)
{
    if (argc < 2) {
        usage_audit(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (strcmp(argv[1], "verify") == 0) {
        return audit_verify(ctx, argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "rotate") == 0) {
        return audit_rotate(ctx, argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_audit(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    fprintf(ctx->err, "nis2ctl: audit: unknown verb '%s'\n", argv[1]);
    usage_audit(ctx->err);
    return NIS2CTL_EXIT_ERR;
}
