/*
 * evidence.c - the auditor's tools' shared, terminal-free parts
 * (evidence.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "evidence.h"
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

void
nis2_evidence_verify_text(const struct nis2_session *s, int r,
                          const struct nis2_chain_result *res, char *buf,
                          size_t len)
{
    char t[32];

    if (r == 0 && res->sealed) {
        nis2_format_time_utc(res->last_time, t, sizeof(t));
        snprintf(buf, len, "intact, %llu checkpoints, sealed at close (%s, %s)",
                 (unsigned long long)res->checkpoints, t,
                 res->end_reason[0] != '\0' ? res->end_reason : "?");
    } else if (r == 0) {
        nis2_format_time_utc(res->last_time, t, sizeof(t));
        snprintf(buf, len,
                 "intact up to checkpoint %llu at %s; session not closed "
                 "(%s)",
                 (unsigned long long)(res->checkpoints - 1), t,
                 s != NULL && s->live ? "still live" : "crash?");
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
