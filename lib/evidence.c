/*
 * evidence.c - the auditor's tools' shared, terminal-free parts
 * (evidence.h).
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "evidence.h"
#include "fileio.h"
#include "policy.h"
#include "util.h"

bool
nis2_evidence_is_auditor(const struct nis2_config *cfg,
                         const struct nis2_actor *actor)
{
    if (actor->local_root) {
        return true;
    }
    return actor->name != NULL && cfg->role_auditors != NULL &&
           nis2_user_in_any(cfg, actor->name, cfg->role_auditors) == 1;
}

int
nis2_evidence_viewer(const struct nis2_config *cfg,
                     const struct nis2_actor *actor, bool *live_only)
{
    *live_only = false;
    if (nis2_evidence_is_auditor(cfg, actor)) {
        return 0;
    }
    if (actor->name != NULL && cfg->role_approvers != NULL &&
        nis2_user_in_any(cfg, actor->name, cfg->role_approvers) == 1) {
        *live_only = true;
        return 0;
    }
    return NIS2_ERR_DENIED;
}

int
nis2_evidence_trusted_key(const struct nis2_config *cfg, const char *key_path,
                          unsigned char pub[NIS2_CHAIN_PUBLEN], char **from_out,
                          char *why, size_t whylen)
{
    char *pubpath = NULL;
    int r;

    *from_out = NULL;
    why[0] = '\0';
    if (key_path != NULL) {
        if ((r = nis2_chain_pubkey_read(key_path, pub)) != 0) {
            snprintf(why, whylen, "%s: %s", key_path, nis2_strerror(r));
            return r;
        }
        *from_out = strdup(key_path);
        return *from_out != NULL ? 0 : NIS2_ERR_NOMEM;
    }
    /* The broker's own key where readable (root), else the published one. */
    if (cfg->signing_key != NULL &&
        nis2_chain_pubkey_read(cfg->signing_key, pub) == 0) {
        *from_out = strdup(cfg->signing_key);
        return *from_out != NULL ? 0 : NIS2_ERR_NOMEM;
    }
    if (asprintf(&pubpath, "%s/%s", cfg->recordings_dir,
                 NIS2_CHAIN_PUBKEY_NAME) < 0) {
        return NIS2_ERR_NOMEM;
    }
    if ((r = nis2_chain_pubkey_read(pubpath, pub)) != 0) {
        snprintf(why, whylen,
                 "no trusted key: [recording] signing_key is not readable "
                 "and %s: %s (give --key PUBKEY)",
                 pubpath, nis2_strerror(r));
        free(pubpath);
        return r;
    }
    *from_out = pubpath;
    return 0;
}

enum nis2_evidence_verdict
nis2_evidence_verdict(const struct nis2_session *s, int r,
                      const struct nis2_chain_result *res)
{
    if (r == NIS2_ERR_INTEGRITY) {
        return NIS2_VERDICT_BROKEN;
    }
    if (r != 0) {
        return NIS2_VERDICT_ERROR;
    }
    if (res->full) {
        return NIS2_VERDICT_INTACT;
    }
    return s != NULL && s->live && !res->sealed ? NIS2_VERDICT_LIVE
                                                : NIS2_VERDICT_PARTIAL;
}

const char *
nis2_evidence_verdict_name(enum nis2_evidence_verdict v)
{
    switch (v) {
    case NIS2_VERDICT_INTACT:
        return "intact";
    case NIS2_VERDICT_PARTIAL:
        return "partial";
    case NIS2_VERDICT_LIVE:
        return "live";
    case NIS2_VERDICT_BROKEN:
        return "broken";
    default:
        return "error";
    }
}

int
nis2_evidence_load_dir(const char *dir, struct nis2_session **out, char *why,
                       size_t whylen)
{
    struct nis2_session *s = NULL;
    struct json_object *m = NULL, *v = NULL;
    const char *base, *id;
    char *path = NULL, *buf = NULL;
    size_t len = 0;
    struct stat st;
    int r;

    *out = NULL;
    why[0] = '\0';
    if (lstat(dir, &st) != 0) {
        r = errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
        snprintf(why, whylen, "%s: %s", dir, nis2_strerror(r));
        return r;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "%s: not a directory", dir);
        return NIS2_ERR_UNTRUSTED;
    }
    if (asprintf(&path, "%s/meta.json", dir) < 0) {
        return NIS2_ERR_NOMEM;
    }
    base = strrchr(dir, '/');
    base = base != NULL ? base + 1 : dir;
    r = nis2_file_read_all(path, 64 * 1024 * 1024, NULL, &buf, &len);
    if (r == 0 && (m = json_tokener_parse(buf)) != NULL &&
        json_object_is_type(m, json_type_object) &&
        json_object_object_get_ex(m, "session", &v) &&
        json_object_is_type(v, json_type_string)) {
        id = json_object_get_string(v);
    } else {
        id = NULL;
    }
    if (id == NULL && nis2_session_id_valid(base)) {
        /* No readable id but named as recorded: load it as before, so
           that verify names what is wrong with meta.json. */
        id = base;
    }
    if (id == NULL || !nis2_session_id_valid(id)) {
        if (r != 0) {
            snprintf(why, whylen, "%s: %s", path, nis2_strerror(r));
        } else {
            snprintf(why, whylen,
                     "%s: no valid session id (\"session\": "
                     "\"S-XXXXXXXX\")",
                     path);
            r = NIS2_ERR_PARSE;
        }
        goto out;
    }
    if (strcmp(base, id) == 0) {
        /* Named as recorded: the full loader. */
        if ((r = nis2_session_load(dir, out)) != 0) {
            snprintf(why, whylen, "%s: %s", dir, nis2_strerror(r));
        }
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->dir = strdup(dir)) == NULL ||
        (s->approvers = calloc(1, sizeof(char *))) == NULL) {
        goto out;
    }
    snprintf(s->id, sizeof(s->id), "%s", id);
    if (json_object_object_get_ex(m, "user", &v) &&
        json_object_is_type(v, json_type_string) &&
        (s->user = strdup(json_object_get_string(v))) == NULL) {
        goto out;
    }
    s->live = nis2_chain_is_live(dir) == 1;
    s->meta = m;
    m = NULL;
    *out = s;
    s = NULL;
    r = 0;
out:
    nis2_session_free(s);
    json_object_put(m);
    free(buf);
    free(path);
    return r;
}

/* The id meta.json names, or NULL. */
static const char *
meta_id(const struct nis2_session *s)
{
    struct json_object *v = NULL;

    if (s == NULL || s->meta == NULL ||
        !json_object_object_get_ex(s->meta, "session", &v) ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

void
nis2_evidence_verify_text(const struct nis2_session *s, int r,
                          const struct nis2_chain_result *res, char *buf,
                          size_t len)
{
    const char *mid = meta_id(s);
    char t[32];

    if (r == 0 && res->full) {
        nis2_format_time_utc(res->last_time, t, sizeof(t));
        snprintf(buf, len, "intact, %llu checkpoints, sealed at close (%s, %s)",
                 (unsigned long long)res->checkpoints, t,
                 res->end_reason[0] != '\0' ? res->end_reason : "?");
    } else if (r == 0 && s != NULL && s->live && !res->sealed) {
        /* Being written: the tail is not checkpointed yet, as expected. */
        nis2_format_time_utc(res->last_time, t, sizeof(t));
        snprintf(buf, len,
                 "intact up to checkpoint %llu at %s; session not closed "
                 "(still live)",
                 (unsigned long long)(res->checkpoints - 1), t);
    } else if (r == 0) {
        nis2_format_time_utc(res->last_time, t, sizeof(t));
        snprintf(buf, len,
                 "PARTIAL: intact up to checkpoint %llu at %s; %llu bytes "
                 "after it unverified; %s",
                 (unsigned long long)(res->checkpoints - 1), t,
                 (unsigned long long)res->uncovered_bytes,
                 res->sealed ? "a torn chain line after the closing "
                               "checkpoint"
                             : "session not closed (crash?)");
    } else if (r == NIS2_ERR_INTEGRITY && res->session[0] != '\0' &&
               s != NULL && strcmp(res->session, s->id) != 0 && mid != NULL &&
               strcmp(mid, s->id) == 0) {
        snprintf(buf, len,
                 "BROKEN: meta.json names session %s but the chain was "
                 "signed for session %s",
                 s->id, res->session);
    } else if (r == NIS2_ERR_INTEGRITY) {
        snprintf(buf, len, "BROKEN: %s%s%s", res->file,
                 res->file[0] != '\0' ? " " : "", res->why);
    } else {
        snprintf(buf, len, "cannot verify: %s", nis2_strerror(r));
    }
}

int
nis2_evidence_find(const struct nis2_config *cfg, const char *arg,
                   struct nis2_session **out, char *why, size_t whylen)
{
    int r = nis2_session_find(cfg->recordings_dir, arg, out);

    why[0] = '\0';
    if (r == NIS2_ERR_INVAL) {
        snprintf(why, whylen,
                 "'%s' is not a session id (S-XXXXXXXX) or a session "
                 "directory",
                 arg);
    } else if (r == NIS2_ERR_NOTFOUND) {
        snprintf(why, whylen, "no session %s under %s", arg,
                 cfg->recordings_dir);
    } else if (r != 0) {
        snprintf(why, whylen, "%s: %s", arg, nis2_strerror(r));
    }
    return r;
}

int
nis2_evidence_pty_file(const struct nis2_session *s, int channel,
                       char **path_out)
{
    char **files = NULL, want[32];
    int r;

    *path_out = NULL;
    if ((r = nis2_session_files(s, "pty-", &files)) != 0) {
        return r;
    }
    snprintf(want, sizeof(want), "pty-%d.cast", channel);
    for (size_t i = 0; files[i] != NULL; i++) {
        if (strstr(files[i], ".cast") == NULL ||
            (channel > 0 && strcmp(files[i], want) != 0)) {
            continue;
        }
        if (asprintf(path_out, "%s/%s", s->dir, files[i]) < 0) {
            *path_out = NULL;
            r = NIS2_ERR_NOMEM;
        }
        break;
    }
    nis2_strv_free(files);
    if (r == 0 && *path_out == NULL) {
        return NIS2_ERR_NOTFOUND;
    }
    return r;
}

int
nis2_evidence_filter_set(struct nis2_session_filter *f, const char *name,
                         const char *value, char *why, size_t whylen)
{
    time_t *tp = NULL;

    why[0] = '\0';
    if (strcmp(name, "live") == 0) {
        f->live_only = true;
        return 0;
    }
    if (strcmp(name, "user") == 0) {
        if (!nis2_valid_user(value)) {
            snprintf(why, whylen, "invalid user name");
            return NIS2_ERR_INVAL;
        }
        f->user = value;
        return 0;
    }
    if (strcmp(name, "target") == 0) {
        f->target = value;
        return 0;
    }
    if (strcmp(name, "since") == 0) {
        tp = &f->since;
    } else if (strcmp(name, "until") == 0) {
        tp = &f->until;
    } else {
        return NIS2_ERR_NOTFOUND;
    }
    if (nis2_parse_time(value, tp) != 0) {
        snprintf(why, whylen,
                 "--%s: bad time '%s' (YYYY-MM-DD HH:MM[:SS] [Z|+HH:MM])", name,
                 value);
        return NIS2_ERR_INVAL;
    }
    return 0;
}

void
nis2_evidence_fmt_offset(double secs, char *buf, size_t len)
{
    long s = secs < 0 ? 0 : (long)secs;

    snprintf(buf, len, "%02ld:%02ld", s / 60, s % 60);
}

int
nis2_evidence_parse_offset(const char *s, double *out)
{
    unsigned m = 0, sec = 0;
    int used = 0;

    if (sscanf(s, "%u:%2u%n", &m, &sec, &used) != 2 || s[used] != '\0' ||
        sec > 59) {
        return NIS2_ERR_INVAL;
    }
    *out = m * 60.0 + sec;
    return 0;
}
