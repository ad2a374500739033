/*
 * cmd_audit.c - `nis2ctl audit verify [FILE] [--json]`: check the hash
 * chain of the audit log (docs/audit-format.md).
 *
 * Exit: 0 intact, 1 broken (the first bad line and why), 2 usage, config
 * or I/O errors (a missing file included).
 */
#include <json.h>
#include <stdio.h>
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
            "\n"
            "  verify   check the hash chain of the audit log (default: the\n"
            "           configuration's [paths] audit_log)\n");
}

static void
usage_verify(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl [--config FILE] audit verify [LOG] [--json]\n"
            "\n"
            "Reads the audit log line by line and checks each line's hash,\n"
            "that seq counts up by one and that prev is the hash of the line\n"
            "before.  Prints 'intact: N events, last seq N, last hash H'\n"
            "(exit 0) or 'BROKEN at line N: why' for the first bad line\n"
            "(exit 1).  Exit 2 when the log cannot be read.  Lines appended\n"
            "while the check runs are left for the next check.  Cutting\n"
            "lines off the end is only visible against an outside copy of\n"
            "the last hash (syslog carries it for every event).\n"
            "\n"
            "  LOG      the log to check (default: [paths] audit_log)\n"
            "  --json   {\"intact\": bool, \"lines\": N, "
            "\"bad_line\": N|null,\n"
            "            \"reason\": \"...\"|null, \"last_seq\": N, "
            "\"last_hash\": \"...\"}\n");
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

static int
verify_json(struct nis2ctl *ctx, const char *path, int r,
            const struct nis2_audit_result *res)
{
    struct json_object *doc = json_object_new_object();
    int rc = NIS2CTL_EXIT_ERR;

    if (doc == NULL) {
        fprintf(ctx->err, "nis2ctl: out of memory\n");
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
    bool json;
    int c, r;

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
    r = nis2_audit_verify(path, &res);
    if (r != 0 && r != NIS2_ERR_INTEGRITY) {
        fprintf(ctx->err, "nis2ctl: audit verify: %s: %s\n", path,
                nis2_strerror(r));
    }
    if (json) {
        return verify_json(ctx, path, r, &res);
    }
    if (r == 0) {
        fprintf(ctx->out, "intact: %llu events, last seq %llu, last hash %s\n",
                (unsigned long long)res.lines, (unsigned long long)res.last_seq,
                res.last_hash);
        return NIS2CTL_EXIT_OK;
    }
    if (r == NIS2_ERR_INTEGRITY) {
        fprintf(ctx->out, "BROKEN at line %llu: %s\n",
                (unsigned long long)res.bad_line, res.why);
        return NIS2CTL_EXIT_NO;
    }
    return NIS2CTL_EXIT_ERR;
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
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_audit(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    fprintf(ctx->err, "nis2ctl: audit: unknown verb '%s'\n", argv[1]);
    usage_audit(ctx->err);
    return NIS2CTL_EXIT_ERR;
}
