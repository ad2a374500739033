/*
 * request.c - access requests: ids, rules, state machine and the JSON
 * document (see request.h and docs/formats.md).
 */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "error.h"
#include "identity.h"
#include "policy.h"
#include "util.h"

/* Crockford base32: no I, L, O, U. */
static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static const char *const state_names[] = {
    [NIS2_REQ_PENDING] = "pending",     [NIS2_REQ_APPROVED] = "approved",
    [NIS2_REQ_DENIED] = "denied",       [NIS2_REQ_REVOKED] = "revoked",
    [NIS2_REQ_CANCELLED] = "cancelled", [NIS2_REQ_EXPIRED] = "expired",
};

const char *
nis2_req_state_name(enum nis2_req_state s)
{
    if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0])) {
        return state_names[s];
    }
    return "invalid";
}

static void say(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL || msglen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* ---- ids ---------------------------------------------------------------- */

int
nis2_request_id_generate(char out[NIS2_REQUEST_ID_LEN + 1])
{
    unsigned char rnd[5];
    ssize_t n;

    memset(out, 0, NIS2_REQUEST_ID_LEN + 1);
    do {
        n = getrandom(rnd, sizeof(rnd), 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(rnd)) {
        return NIS2_ERR_IO;
    }
    out[0] = 'R';
    out[1] = '-';
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[2 + i] = crockford[rnd[i] & 31];
    }
    return NIS2_OK;
}

int
nis2_request_id_normalize(const char *in, char out[NIS2_REQUEST_ID_LEN + 1])
{
    char buf[NIS2_REQUEST_ID_LEN + 1];

    memset(out, 0, NIS2_REQUEST_ID_LEN + 1);
    if (in == NULL || strlen(in) != NIS2_REQUEST_ID_LEN) {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 0; i < NIS2_REQUEST_ID_LEN; i++) {
        unsigned char c = (unsigned char)in[i];
        buf[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    buf[NIS2_REQUEST_ID_LEN] = '\0';
    if (buf[0] != 'R' || buf[1] != '-') {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 2; i < NIS2_REQUEST_ID_LEN; i++) {
        if (buf[i] == '\0' || strchr(crockford, buf[i]) == NULL) {
            return NIS2_ERR_INVAL;
        }
    }
    memcpy(out, buf, sizeof(buf));
    return NIS2_OK;
}

/* ---- lifetime ----------------------------------------------------------- */

static void
mark_free(struct nis2_req_mark *m)
{
    free(m->by);
    free(m->reason);
    memset(m, 0, sizeof(*m));
}

void
nis2_request_free(struct nis2_request *req)
{
    if (req == NULL) {
        return;
    }
    free(req->requester);
    free(req->target);
    free(req->policy);
    free(req->reason);
    for (size_t i = 0; i < req->n_approvals; i++) {
        free(req->approvals[i].approver);
        free(req->approvals[i].comment);
    }
    free(req->approvals);
    mark_free(&req->denial);
    mark_free(&req->revocation);
    mark_free(&req->cancellation);
    for (size_t i = 0; i < req->n_extensions; i++) {
        free(req->extensions[i].by);
    }
    free(req->extensions);
    free(req->reviewed_by);
    free(req);
}

void
nis2_request_list_free(struct nis2_request **list, size_t n)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        nis2_request_free(list[i]);
    }
    free(list);
}

/* strdup that keeps NULL; sets *ok false on allocation failure. */
static char *
dup_opt(const char *s, bool *ok)
{
    char *d;

    if (s == NULL) {
        return NULL;
    }
    if ((d = strdup(s)) == NULL) {
        *ok = false;
    }
    return d;
}

static void
mark_dup(struct nis2_req_mark *dst, const struct nis2_req_mark *src, bool *ok)
{
    dst->by = dup_opt(src->by, ok);
    dst->at = src->at;
    dst->reason = dup_opt(src->reason, ok);
}

int
nis2_request_dup(const struct nis2_request *req, struct nis2_request **out)
{
    struct nis2_request *d = NULL;
    bool ok = true;

    *out = NULL;
    if ((d = calloc(1, sizeof(*d))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    memcpy(d->id, req->id, sizeof(d->id));
    d->revision = req->revision;
    d->state = req->state;
    d->requester = dup_opt(req->requester, &ok);
    d->target = dup_opt(req->target, &ok);
    d->policy = dup_opt(req->policy, &ok);
    d->reason = dup_opt(req->reason, &ok);
    d->want_start = req->want_start;
    d->want_duration = req->want_duration;
    d->start = req->start;
    d->end = req->end;
    d->clipped = req->clipped;
    d->min_approvals = req->min_approvals;
    if (req->n_approvals > 0) {
        d->approvals = calloc(req->n_approvals, sizeof(*d->approvals));
        if (d->approvals == NULL) {
            ok = false;
        } else {
            d->n_approvals = req->n_approvals;
            for (size_t i = 0; i < req->n_approvals; i++) {
                d->approvals[i].approver =
                    dup_opt(req->approvals[i].approver, &ok);
                d->approvals[i].at = req->approvals[i].at;
                d->approvals[i].comment =
                    dup_opt(req->approvals[i].comment, &ok);
            }
        }
    }
    mark_dup(&d->denial, &req->denial, &ok);
    mark_dup(&d->revocation, &req->revocation, &ok);
    mark_dup(&d->cancellation, &req->cancellation, &ok);
    if (req->n_extensions > 0) {
        d->extensions = calloc(req->n_extensions, sizeof(*d->extensions));
        if (d->extensions == NULL) {
            ok = false;
        } else {
            d->n_extensions = req->n_extensions;
            for (size_t i = 0; i < req->n_extensions; i++) {
                d->extensions[i] = req->extensions[i];
                d->extensions[i].by = NULL;
                d->extensions[i].by = dup_opt(req->extensions[i].by, &ok);
            }
        }
    }
    d->emergency = req->emergency;
    d->reviewed_by = dup_opt(req->reviewed_by, &ok);
    d->reviewed_at = req->reviewed_at;
    d->created = req->created;
    d->updated = req->updated;
    d->expired_at = req->expired_at;
    if (!ok) {
        nis2_request_free(d);
        return NIS2_ERR_NOMEM;
    }
    *out = d;
    return NIS2_OK;
}

/* ---- JSON out ----------------------------------------------------------- */

/* Add key -> value; a NULL value (failed allocation) counts as failure,
   except where `nullable` allows a JSON null. */
static int
put(struct json_object *o, const char *key, struct json_object *v,
    bool nullable)
{
    if (v == NULL && !nullable) {
        return NIS2_ERR_NOMEM;
    }
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return NIS2_ERR_NOMEM;
    }
    return NIS2_OK;
}

static struct json_object *
jstr(const char *s)
{
    return s != NULL ? json_object_new_string(s) : NULL;
}

static struct json_object *
jtime(time_t t)
{
    char buf[64];

    nis2_format_time_utc(t, buf, sizeof(buf));
    return json_object_new_string(buf);
}

static int
put_str(struct json_object *o, const char *key, const char *s)
{
    return put(o, key, jstr(s), s == NULL);
}

static int
mark_json(struct json_object *o, const char *key, const struct nis2_req_mark *m)
{
    struct json_object *j = NULL;
    int r;

    if (m->by == NULL) {
        return put(o, key, NULL, true);
    }
    if ((j = json_object_new_object()) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if ((r = put_str(j, "by", m->by)) != 0 ||
        (r = put(j, "at", jtime(m->at), false)) != 0 ||
        (r = put_str(j, "reason", m->reason)) != 0) {
        json_object_put(j);
        return r;
    }
    return put(o, key, j, false);
}

int
nis2_request_to_json(const struct nis2_request *req, struct json_object **out)
{
    struct json_object *o = NULL, *w = NULL, *a = NULL, *e = NULL, *x = NULL;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if ((o = json_object_new_object()) == NULL) {
        goto out;
    }
    if ((r = put(o, "format", json_object_new_int(NIS2_REQUEST_FORMAT),
                 false)) != 0 ||
        (r = put_str(o, "id", req->id)) != 0 ||
        (r = put(o, "revision", json_object_new_uint64(req->revision),
                 false)) != 0 ||
        (r = put_str(o, "state", nis2_req_state_name(req->state))) != 0 ||
        (r = put_str(o, "requester", req->requester)) != 0 ||
        (r = put_str(o, "target", req->target)) != 0 ||
        (r = put_str(o, "policy", req->policy)) != 0 ||
        (r = put_str(o, "reason", req->reason)) != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((w = json_object_new_object()) == NULL) {
        goto out;
    }
    if ((r = put(w, "start", jtime(req->want_start), false)) != 0 ||
        (r = put(w, "seconds", json_object_new_int64(req->want_duration),
                 false)) != 0) {
        goto out;
    }
    r = put(o, "requested", w, false);
    w = NULL;
    if (r != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((w = json_object_new_object()) == NULL) {
        goto out;
    }
    if ((r = put(w, "start", jtime(req->start), false)) != 0 ||
        (r = put(w, "end", jtime(req->end), false)) != 0) {
        goto out;
    }
    r = put(o, "window", w, false);
    w = NULL;
    if (r != 0 ||
        (r = put(o, "clipped", json_object_new_boolean(req->clipped), false)) !=
            0 ||
        (r = put(o, "min_approvals", json_object_new_int(req->min_approvals),
                 false)) != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((a = json_object_new_array()) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < req->n_approvals; i++) {
        const struct nis2_req_approval *ap = &req->approvals[i];
        if ((x = json_object_new_object()) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        if ((r = put_str(x, "approver", ap->approver)) != 0 ||
            (r = put(x, "at", jtime(ap->at), false)) != 0 ||
            (r = put_str(x, "comment", ap->comment)) != 0) {
            goto out;
        }
        if (json_object_array_add(a, x) != 0) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        x = NULL;
    }
    r = put(o, "approvals", a, false);
    a = NULL;
    if (r != 0 || (r = mark_json(o, "denial", &req->denial)) != 0 ||
        (r = mark_json(o, "revocation", &req->revocation)) != 0 ||
        (r = mark_json(o, "cancellation", &req->cancellation)) != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((e = json_object_new_array()) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < req->n_extensions; i++) {
        const struct nis2_req_extension *ex = &req->extensions[i];
        if ((x = json_object_new_object()) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        if ((r = put_str(x, "by", ex->by)) != 0 ||
            (r = put(x, "at", jtime(ex->at), false)) != 0 ||
            (r = put(x, "seconds", json_object_new_int64(ex->seconds),
                     false)) != 0 ||
            (r = put(x, "end", jtime(ex->end), false)) != 0) {
            goto out;
        }
        if (json_object_array_add(e, x) != 0) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        x = NULL;
    }
    r = put(o, "extensions", e, false);
    e = NULL;
    if (r != 0 ||
        (r = put(o, "emergency", json_object_new_boolean(req->emergency),
                 false)) != 0 ||
        (r = put(o, "needs_review",
                 json_object_new_boolean(nis2_request_needs_review(req)),
                 false)) != 0 ||
        (r = put_str(o, "reviewed_by", req->reviewed_by)) != 0 ||
        (r = put(o, "reviewed_at",
                 req->reviewed_by != NULL ? jtime(req->reviewed_at) : NULL,
                 req->reviewed_by == NULL)) != 0 ||
        (r = put(o, "created", jtime(req->created), false)) != 0 ||
        (r = put(o, "updated", jtime(req->updated), false)) != 0 ||
        (r = put(o, "expired_at",
                 req->expired_at != 0 ? jtime(req->expired_at) : NULL,
                 req->expired_at == 0)) != 0) {
        goto out;
    }
    *out = o;
    o = NULL;
    r = NIS2_OK;
out:
    json_object_put(x);
    json_object_put(e);
    json_object_put(a);
    json_object_put(w);
    json_object_put(o);
    return r;
}

int
nis2_request_to_string(const struct nis2_request *req, char **out)
{
    struct json_object *o = NULL;
    const char *s;
    int r;

    *out = NULL;
    if ((r = nis2_request_to_json(req, &o)) != 0) {
        return r;
    }
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                              JSON_C_TO_STRING_SPACED |
                                              JSON_C_TO_STRING_NOSLASHESCAPE);
    if (s == NULL || asprintf(out, "%s\n", s) < 0) {
        *out = NULL;
        r = NIS2_ERR_NOMEM;
    }
    json_object_put(o);
    return r;
}

/*
 * A reason or comment as given by a person (nis2_valid_text): the rules
 * refuse it with the option's name ("--reason: control character U+009B
 * at byte 1").  Stored requests are read with nis2_request_text_ok(),
 * which is more lenient so that files written before this check still
 * load; everything that prints them neutralises what they hold.
 */
static int
check_text(const char *opt, const char *s, char *msg, size_t msglen)
{
    char why[128];

    if (s == NULL || s[0] == '\0') {
        say(msg, msglen, "%s: a text is required (1-%d bytes)", opt,
            NIS2_REQUEST_TEXT_MAX);
        return NIS2_ERR_INVAL;
    }
    if (!nis2_valid_text(s, NIS2_REQUEST_TEXT_MAX, why, sizeof(why))) {
        say(msg, msglen, "%s: %s", opt, why);
        return NIS2_ERR_INVAL;
    }
    if (!nis2_request_text_ok(s)) {
        say(msg, msglen, "%s: only blanks", opt);
        return NIS2_ERR_INVAL;
    }
    return NIS2_OK;
}

/* ---- JSON in ------------------------------------------------------------ */

bool
nis2_request_text_ok(const char *s)
{
    size_t n;

    if (s == NULL || (n = strlen(s)) == 0 || n > NIS2_REQUEST_TEXT_MAX) {
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    /* All blanks is no reason. */
    for (const char *p = s; *p; p++) {
        if (*p != ' ') {
            return true;
        }
    }
    return false;
}

/* The member `key` when it is present and of type `t`, else NULL. */
static struct json_object *
field(struct json_object *o, const char *key, enum json_type t)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
        return NULL;
    }
    return json_object_is_type(v, t) ? v : NULL;
}

/* The string member `key`; NULL for a JSON null when `nullable`.  A
   missing member or a value of another type sets *ok false. */
static const char *
get_str(struct json_object *o, const char *key, bool nullable, bool *ok)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v)) {
        *ok = false;
        return NULL;
    }
    if (v == NULL) {
        if (!nullable) {
            *ok = false;
        }
        return NULL;
    }
    if (!json_object_is_type(v, json_type_string)) {
        *ok = false;
        return NULL;
    }
    return json_object_get_string(v);
}

/* Strict "YYYY-MM-DDTHH:MM:SSZ". */
static bool
parse_utc(const char *s, time_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

    if (s == NULL || strlen(s) != sizeof(shape) - 1) {
        return false;
    }
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i])
                            : s[i] != shape[i]) {
            return false;
        }
    }
    return nis2_parse_time(s, out) == 0;
}

static bool
get_time(struct json_object *o, const char *key, bool nullable, time_t *out,
         bool *ok)
{
    const char *s = get_str(o, key, nullable, ok);

    *out = 0;
    if (s == NULL) {
        return false;
    }
    if (!parse_utc(s, out)) {
        *ok = false;
        return false;
    }
    return true;
}

static int64_t
get_int(struct json_object *o, const char *key, int64_t lo, int64_t hi,
        bool *ok)
{
    struct json_object *v = field(o, key, json_type_int);
    int64_t x;

    if (v == NULL) {
        *ok = false;
        return 0;
    }
    errno = 0;
    x = json_object_get_int64(v);
    if (errno != 0 || x < lo || x > hi) {
        *ok = false;
        return 0;
    }
    return x;
}

static bool
get_bool(struct json_object *o, const char *key, bool *ok)
{
    struct json_object *v = field(o, key, json_type_boolean);

    if (v == NULL) {
        *ok = false;
        return false;
    }
    return json_object_get_boolean(v);
}

static char *
take_user(const char *s, bool nullable, bool *ok)
{
    if (s == NULL) {
        if (!nullable) {
            *ok = false;
        }
        return NULL;
    }
    if (!nis2_valid_user(s)) {
        *ok = false;
        return NULL;
    }
    return dup_opt(s, ok);
}

static char *
take_text(const char *s, bool nullable, bool *ok)
{
    if (s == NULL) {
        if (!nullable) {
            *ok = false;
        }
        return NULL;
    }
    if (!nis2_request_text_ok(s)) {
        *ok = false;
        return NULL;
    }
    return dup_opt(s, ok);
}

static void
parse_mark(struct json_object *o, const char *key, bool reason_required,
           struct nis2_req_mark *m, bool *ok)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v)) {
        *ok = false;
        return;
    }
    if (v == NULL) {
        return;
    }
    if (!json_object_is_type(v, json_type_object)) {
        *ok = false;
        return;
    }
    m->by = take_user(get_str(v, "by", false, ok), false, ok);
    get_time(v, "at", false, &m->at, ok);
    m->reason = take_text(get_str(v, "reason", !reason_required, ok),
                          !reason_required, ok);
}

static enum nis2_req_state
parse_state(const char *s, bool *ok)
{
    for (size_t i = 0;
         s != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++) {
        if (strcmp(s, state_names[i]) == 0) {
            return (enum nis2_req_state)i;
        }
    }
    *ok = false;
    return NIS2_REQ_PENDING;
}

/* The marks and lists must agree with the state: a document that says
   "approved" without the approvals to show for it is not trusted. */
static bool
consistent(const struct nis2_request *q)
{
    size_t distinct = q->n_approvals;

    if (q->start >= q->end || q->min_approvals < 1 || q->want_duration <= 0) {
        return false;
    }
    for (size_t i = 0; i < q->n_approvals; i++) {
        if (nis2_user_eq(q->approvals[i].approver, q->requester)) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (nis2_user_eq(q->approvals[i].approver,
                             q->approvals[j].approver)) {
                return false;
            }
        }
    }
    if (q->reviewed_by != NULL && !q->emergency) {
        return false;
    }
    switch (q->state) {
    case NIS2_REQ_PENDING:
        return q->denial.by == NULL && q->revocation.by == NULL &&
               q->cancellation.by == NULL && !q->emergency &&
               distinct < (size_t)q->min_approvals;
    case NIS2_REQ_APPROVED:
        return q->denial.by == NULL && q->revocation.by == NULL &&
               q->cancellation.by == NULL &&
               (q->emergency || distinct >= (size_t)q->min_approvals);
    case NIS2_REQ_DENIED:
        return q->denial.by != NULL && q->denial.reason != NULL;
    case NIS2_REQ_REVOKED:
        return q->revocation.by != NULL && q->revocation.reason != NULL;
    case NIS2_REQ_CANCELLED:
        return q->cancellation.by != NULL;
    case NIS2_REQ_EXPIRED:
        return q->expired_at != 0;
    }
    return false;
}

int
nis2_request_from_string(const char *text, size_t len,
                         struct nis2_request **out)
{
    struct json_tokener *tok = NULL;
    struct json_object *o = NULL, *v = NULL, *w = NULL;
    struct nis2_request *q = NULL;
    const char *s;
    bool ok = true;
    int r = NIS2_ERR_PARSE;
    size_t n;

    *out = NULL;
    if (text == NULL || len == 0 || len > NIS2_REQUEST_MAX_SIZE ||
        memchr(text, '\0', len) != NULL) {
        return NIS2_ERR_PARSE;
    }
    if ((tok = json_tokener_new()) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, text, (int)len);
    /* Truncated input leaves the tokener wanting more: not a document. */
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(o, json_type_object)) {
        goto out;
    }
    /* Only whitespace may follow the document. */
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (!isspace((unsigned char)text[i])) {
            goto out;
        }
    }
    r = NIS2_ERR_NOMEM;
    if ((q = calloc(1, sizeof(*q))) == NULL) {
        goto out;
    }
    r = NIS2_ERR_PARSE;
    if (get_int(o, "format", 1, NIS2_REQUEST_FORMAT, &ok) == 0 || !ok) {
        goto out;
    }
    s = get_str(o, "id", false, &ok);
    if (!ok || nis2_request_id_normalize(s, q->id) != 0 ||
        strcmp(s, q->id) != 0) {
        goto out;
    }
    q->revision = (uint64_t)get_int(o, "revision", 0, INT64_MAX, &ok);
    q->state = parse_state(get_str(o, "state", false, &ok), &ok);
    q->requester = take_user(get_str(o, "requester", false, &ok), false, &ok);
    s = get_str(o, "target", false, &ok);
    if (s == NULL || !nis2_valid_target(s)) {
        goto out;
    }
    q->target = dup_opt(s, &ok);
    /* A policy name follows the same rule as a target name. */
    s = get_str(o, "policy", false, &ok);
    if (s == NULL || strlen(s) > 64 || strchr(s, '/') != NULL ||
        !nis2_request_text_ok(s)) {
        goto out;
    }
    q->policy = dup_opt(s, &ok);
    q->reason = take_text(get_str(o, "reason", false, &ok), false, &ok);
    if ((w = field(o, "requested", json_type_object)) == NULL) {
        goto out;
    }
    get_time(w, "start", false, &q->want_start, &ok);
    q->want_duration = get_int(w, "seconds", 1, 366LL * 86400, &ok);
    if ((w = field(o, "window", json_type_object)) == NULL) {
        goto out;
    }
    get_time(w, "start", false, &q->start, &ok);
    get_time(w, "end", false, &q->end, &ok);
    q->clipped = get_bool(o, "clipped", &ok);
    q->min_approvals = (int)get_int(o, "min_approvals", 1, 100, &ok);
    if (!ok || (v = field(o, "approvals", json_type_array)) == NULL ||
        (n = json_object_array_length(v)) > NIS2_REQUEST_MAX_LIST) {
        goto out;
    }
    if (n > 0) {
        r = NIS2_ERR_NOMEM;
        if ((q->approvals = calloc(n, sizeof(*q->approvals))) == NULL) {
            goto out;
        }
        r = NIS2_ERR_PARSE;
        q->n_approvals = n;
        for (size_t i = 0; i < n; i++) {
            struct json_object *x = json_object_array_get_idx(v, i);
            if (x == NULL || !json_object_is_type(x, json_type_object)) {
                goto out;
            }
            q->approvals[i].approver =
                take_user(get_str(x, "approver", false, &ok), false, &ok);
            get_time(x, "at", false, &q->approvals[i].at, &ok);
            q->approvals[i].comment =
                take_text(get_str(x, "comment", true, &ok), true, &ok);
        }
    }
    parse_mark(o, "denial", true, &q->denial, &ok);
    parse_mark(o, "revocation", true, &q->revocation, &ok);
    parse_mark(o, "cancellation", false, &q->cancellation, &ok);
    if (!ok || (v = field(o, "extensions", json_type_array)) == NULL ||
        (n = json_object_array_length(v)) > NIS2_REQUEST_MAX_LIST) {
        goto out;
    }
    if (n > 0) {
        r = NIS2_ERR_NOMEM;
        if ((q->extensions = calloc(n, sizeof(*q->extensions))) == NULL) {
            goto out;
        }
        r = NIS2_ERR_PARSE;
        q->n_extensions = n;
        for (size_t i = 0; i < n; i++) {
            struct json_object *x = json_object_array_get_idx(v, i);
            if (x == NULL || !json_object_is_type(x, json_type_object)) {
                goto out;
            }
            q->extensions[i].by =
                take_user(get_str(x, "by", false, &ok), false, &ok);
            get_time(x, "at", false, &q->extensions[i].at, &ok);
            q->extensions[i].seconds =
                get_int(x, "seconds", 1, 366LL * 86400, &ok);
            get_time(x, "end", false, &q->extensions[i].end, &ok);
        }
    }
    q->emergency = get_bool(o, "emergency", &ok);
    q->reviewed_by = take_user(get_str(o, "reviewed_by", true, &ok), true, &ok);
    get_time(o, "reviewed_at", q->reviewed_by == NULL, &q->reviewed_at, &ok);
    get_time(o, "created", false, &q->created, &ok);
    get_time(o, "updated", false, &q->updated, &ok);
    get_time(o, "expired_at", true, &q->expired_at, &ok);
    if (!ok || !consistent(q)) {
        r = NIS2_ERR_PARSE;
        goto out;
    }
    *out = q;
    q = NULL;
    r = NIS2_OK;
out:
    nis2_request_free(q);
    json_object_put(o);
    json_tokener_free(tok);
    return r;
}

/* ---- rules -------------------------------------------------------------- */

const struct nis2_policy *
nis2_request_policy(const struct nis2_config *cfg,
                    const struct nis2_request *req)
{
    if (cfg == NULL || req == NULL || req->policy == NULL) {
        return NULL;
    }
    return nis2_config_policy(cfg, req->policy);
}

static char *const *
approver_groups(const struct nis2_config *cfg, const struct nis2_policy *p)
{
    return p->approvers != NULL ? p->approvers : cfg->role_approvers;
}

int
nis2_request_is_approver(const struct nis2_config *cfg,
                         const struct nis2_request *req, const char *user)
{
    const struct nis2_policy *p = nis2_request_policy(cfg, req);
    char *const *groups;

    int r;

    if (p == NULL || user == NULL || !nis2_valid_user(user)) {
        return 0;
    }
    /* Persons, not strings: the requester under any alias is no approver
       of their own request (identity.h). */
    if ((r = nis2_same_person(cfg, user, req->requester, NULL, 0)) != 0) {
        return r < 0 ? r : 0;
    }
    if ((groups = approver_groups(cfg, p)) == NULL) {
        return 0;
    }
    return nis2_user_in_any(cfg, user, groups);
}

bool
nis2_request_needs_review(const struct nis2_request *req)
{
    return req->emergency && req->reviewed_by == NULL;
}

bool
nis2_request_refresh(struct nis2_request *req, time_t now)
{
    if ((req->state == NIS2_REQ_PENDING || req->state == NIS2_REQ_APPROVED) &&
        now >= req->end) {
        req->state = NIS2_REQ_EXPIRED;
        req->expired_at = now;
        req->updated = now;
        return true;
    }
    return false;
}

bool
nis2_request_is_open(const struct nis2_request *req, time_t now)
{
    return (req->state == NIS2_REQ_PENDING ||
            req->state == NIS2_REQ_APPROVED) &&
           now < req->end;
}

bool
nis2_request_covers(const struct nis2_request *req, const char *user,
                    const char *target, time_t now)
{
    return req != NULL && user != NULL && target != NULL &&
           req->state == NIS2_REQ_APPROVED && req->revocation.by == NULL &&
           req->cancellation.by == NULL && req->denial.by == NULL &&
           nis2_user_eq(req->requester, user) &&
           strcmp(req->target, target) == 0 && req->start <= now &&
           now < req->end;
}

static void
fmt_time(time_t t, char *buf, size_t len)
{
    nis2_format_time_utc(t, buf, len);
}

/*
 * Clip [*start, *start + dur) to the policy hours: the first stretch of
 * hours at or after *start.  NIS2_ERR_RANGE when the window misses them.
 */
static int
clip_to_hours(const struct nis2_policy *p, time_t *start, time_t *end,
              int64_t dur, bool *clipped, char *msg, size_t msglen)
{
    time_t hs = 0, he = 0, want_end = *start + (time_t)dur;
    char a[64], b[64];
    int r;

    *end = want_end;
    if (p->hours == NULL) {
        return NIS2_OK;
    }
    r = nis2_hours_next(p->hours, *start, &hs, &he);
    if (r == NIS2_ERR_NOTFOUND || (r == 0 && hs >= want_end)) {
        fmt_time(*start, a, sizeof(a));
        fmt_time(want_end, b, sizeof(b));
        say(msg, msglen,
            "the window %s .. %s lies outside the hours of policy %s (%s)", a,
            b, p->name, p->hours->spec != NULL ? p->hours->spec : "?");
        return NIS2_ERR_RANGE;
    }
    if (r != 0) {
        say(msg, msglen, "cannot evaluate the hours of policy %s: %s", p->name,
            nis2_strerror(r));
        return r;
    }
    if (hs > *start) {
        *start = hs;
        *clipped = true;
    }
    if (he < want_end) {
        *end = he;
        *clipped = true;
    }
    return NIS2_OK;
}

int
nis2_request_build(const struct nis2_config *cfg,
                   const struct nis2_request_params *p, time_t now,
                   struct nis2_request **out, char *msg, size_t msglen)
{
    struct nis2_decision d;
    struct nis2_request *q = NULL;
    const struct nis2_policy *pol;
    time_t start, end;
    int64_t dur, max;
    bool clipped = false;
    char a[64], b[64], m1[32];
    int r;

    *out = NULL;
    say(msg, msglen, "%s", "");
    if (cfg == NULL || p == NULL || !nis2_valid_user(p->requester)) {
        say(msg, msglen, "invalid requester");
        return NIS2_ERR_INVAL;
    }
    if (!nis2_valid_target(p->target)) {
        say(msg, msglen, "invalid target name");
        return NIS2_ERR_INVAL;
    }
    if (check_text("--reason", p->reason, msg, msglen) != 0) {
        return NIS2_ERR_INVAL;
    }
    if (nis2_config_target(cfg, p->target) == NULL) {
        say(msg, msglen, "unknown target %s", p->target);
        return NIS2_ERR_NOTFOUND;
    }
    if (p->emergency && p->has_start) {
        say(msg, msglen, "a break-glass request starts now: drop --start");
        return NIS2_ERR_INVAL;
    }
    start = p->has_start ? p->start : now;
    if ((r = nis2_policy_decide(cfg, p->requester, p->target, start, &d)) !=
        0) {
        say(msg, msglen, "policy decision failed: %s", d.reason);
        return r;
    }
    /* Denied only for the hours still names the policy: clipping decides. */
    if ((pol = d.policy) == NULL) {
        say(msg, msglen, "%s: no request possible", d.reason);
        return NIS2_ERR_DENIED;
    }
    if (!pol->require_approval) {
        say(msg, msglen,
            "policy %s lets %s reach %s without approval: no request needed",
            pol->name, p->requester, p->target);
        return NIS2_ERR_DENIED;
    }
    dur = p->duration;
    max = pol->max_duration;
    if (p->emergency) {
        if (pol->emergency <= 0) {
            say(msg, msglen, "policy %s does not allow break-glass access",
                pol->name);
            return NIS2_ERR_DENIED;
        }
        max = pol->emergency;
        if (dur == 0) {
            dur = max;
        }
    }
    if (dur <= 0) {
        say(msg, msglen, "the duration must be positive");
        return NIS2_ERR_INVAL;
    }
    if (dur > max) {
        nis2_format_duration(dur, a, sizeof(a));
        nis2_format_duration(max, m1, sizeof(m1));
        say(msg, msglen, "duration %s is over the maximum of %s%s of policy %s",
            a, m1, p->emergency ? " for break-glass" : "", pol->name);
        return NIS2_ERR_RANGE;
    }
    if (start + (time_t)dur <= now) {
        fmt_time(start + (time_t)dur, a, sizeof(a));
        say(msg, msglen, "the window is in the past (it would end at %s)", a);
        return NIS2_ERR_RANGE;
    }
    /* Time already gone is not handed out again: start no earlier than now,
       and keep the wanted end. */
    if (start < now) {
        dur -= (int64_t)(now - start);
        start = now;
        clipped = true;
    }
    if ((r = clip_to_hours(pol, &start, &end, dur, &clipped, msg, msglen)) !=
        0) {
        return r;
    }
    r = NIS2_ERR_NOMEM;
    if ((q = calloc(1, sizeof(*q))) == NULL ||
        (q->requester = strdup(p->requester)) == NULL ||
        (q->target = strdup(p->target)) == NULL ||
        (q->policy = strdup(pol->name)) == NULL ||
        (q->reason = strdup(p->reason)) == NULL) {
        say(msg, msglen, "out of memory");
        goto out;
    }
    q->state = p->emergency ? NIS2_REQ_APPROVED : NIS2_REQ_PENDING;
    q->want_start = p->has_start ? p->start : now;
    q->want_duration = p->emergency && p->duration == 0 ? max : p->duration;
    q->start = start;
    q->end = end;
    q->clipped = clipped;
    q->min_approvals = pol->min_approvals > 0 ? pol->min_approvals : 1;
    q->emergency = p->emergency;
    q->created = now;
    q->updated = now;
    if (clipped) {
        fmt_time(start, a, sizeof(a));
        fmt_time(end, b, sizeof(b));
        say(msg, msglen, "window clipped to %s .. %s%s%s%s", a, b,
            pol->hours != NULL ? " (policy hours: " : "",
            pol->hours != NULL && pol->hours->spec != NULL ? pol->hours->spec
                                                           : "",
            pol->hours != NULL ? ")" : "");
    }
    *out = q;
    q = NULL;
    r = NIS2_OK;
out:
    nis2_request_free(q);
    return r;
}

/* The common gate of approver actions: policy exists, not own request,
   approver of that policy. */
static int
check_approver(const struct nis2_config *cfg, const struct nis2_request *req,
               const char *by, const char *what, char *msg, size_t msglen)
{
    const struct nis2_policy *p = nis2_request_policy(cfg, req);
    char why[256];
    int r;

    if (by == NULL || !nis2_valid_user(by)) {
        say(msg, msglen, "invalid user name");
        return NIS2_ERR_INVAL;
    }
    if (p == NULL) {
        say(msg, msglen, "policy %s of request %s no longer exists",
            req->policy, req->id);
        return NIS2_ERR_NOTFOUND;
    }
    /* Persons, not strings (identity.h): under any alias the requester
       never decides their own request. */
    if ((r = nis2_same_person(cfg, by, req->requester, why, sizeof(why))) !=
        0) {
        if (r < 0) {
            say(msg, msglen, "cannot tell whether %s is the requester %s: %s",
                by, req->requester, why);
            return r;
        }
        if (strcmp(by, req->requester) == 0) {
            say(msg, msglen, "%s cannot %s their own request %s", by, what,
                req->id);
        } else {
            say(msg, msglen,
                "%s cannot %s their own request %s (filed as "
                "%s, the same person)",
                by, what, req->id, req->requester);
        }
        return NIS2_ERR_DENIED;
    }
    if (approver_groups(cfg, p) == NULL) {
        say(msg, msglen,
            "policy %s names no approvers (and [roles] "
            "approvers is unset)",
            p->name);
        return NIS2_ERR_DENIED;
    }
    if ((r = nis2_request_is_approver(cfg, req, by)) < 0) {
        say(msg, msglen, "group lookup for %s failed: %s", by,
            nis2_strerror(r));
        return r;
    }
    if (r == 0) {
        say(msg, msglen, "%s is not an approver for policy %s", by, p->name);
        return NIS2_ERR_DENIED;
    }
    return NIS2_OK;
}

/* Refuse when the request is no longer in one of the wanted states. */
static int
check_state(struct nis2_request *req, time_t now, bool pending_ok,
            bool approved_ok, char *msg, size_t msglen)
{
    char a[64];

    nis2_request_refresh(req, now);
    if ((req->state == NIS2_REQ_PENDING && pending_ok) ||
        (req->state == NIS2_REQ_APPROVED && approved_ok)) {
        return NIS2_OK;
    }
    if (req->state == NIS2_REQ_EXPIRED) {
        fmt_time(req->end, a, sizeof(a));
        say(msg, msglen, "request %s has expired: its window ended at %s",
            req->id, a);
    } else {
        say(msg, msglen, "request %s is already %s", req->id,
            nis2_req_state_name(req->state));
    }
    return NIS2_ERR_CONFLICT;
}

static int
set_mark(struct nis2_req_mark *m, const char *by, const char *reason,
         time_t now)
{
    char *b = NULL, *rs = NULL;

    if ((b = strdup(by)) == NULL ||
        (reason != NULL && (rs = strdup(reason)) == NULL)) {
        free(b);
        return NIS2_ERR_NOMEM;
    }
    mark_free(m);
    m->by = b;
    m->reason = rs;
    m->at = now;
    return NIS2_OK;
}

int
nis2_request_approve(const struct nis2_config *cfg, struct nis2_request *req,
                     const char *approver, const char *comment, time_t now,
                     char *msg, size_t msglen)
{
    const struct nis2_policy *p;
    struct nis2_req_approval *na = NULL;
    char *who = NULL, *com = NULL;
    int r, need;

    say(msg, msglen, "%s", "");
    if (comment != NULL && check_text("--comment", comment, msg, msglen) != 0) {
        return NIS2_ERR_INVAL;
    }
    if ((r = check_state(req, now, true, false, msg, msglen)) != 0 ||
        (r = check_approver(cfg, req, approver, "approve", msg, msglen)) != 0) {
        return r;
    }
    /* Distinct persons count, not distinct spellings. */
    for (size_t i = 0; i < req->n_approvals; i++) {
        char why[256];
        r = nis2_same_person(cfg, req->approvals[i].approver, approver, why,
                             sizeof(why));
        if (r < 0) {
            say(msg, msglen,
                "cannot tell whether %s already approved "
                "request %s: %s",
                approver, req->id, why);
            return r;
        }
        if (r == 1) {
            const char *was = req->approvals[i].approver;
            if (strcmp(was, approver) == 0) {
                say(msg, msglen, "%s has already approved request %s", approver,
                    req->id);
            } else {
                say(msg, msglen,
                    "%s has already approved request %s (as %s, "
                    "the same person)",
                    approver, req->id, was);
            }
            return NIS2_ERR_CONFLICT;
        }
    }
    if (req->n_approvals >= NIS2_REQUEST_MAX_LIST) {
        say(msg, msglen, "request %s has too many approvals", req->id);
        return NIS2_ERR_RANGE;
    }
    if ((who = strdup(approver)) == NULL ||
        (comment != NULL && (com = strdup(comment)) == NULL) ||
        (na = realloc(req->approvals, (req->n_approvals + 1) * sizeof(*na))) ==
            NULL) {
        free(who);
        free(com);
        say(msg, msglen, "out of memory");
        return NIS2_ERR_NOMEM;
    }
    req->approvals = na;
    na[req->n_approvals].approver = who;
    na[req->n_approvals].at = now;
    na[req->n_approvals].comment = com;
    req->n_approvals++;
    /* A policy made stricter since the request was filed applies. */
    p = nis2_request_policy(cfg, req);
    need = req->min_approvals;
    if (p != NULL && p->min_approvals > need) {
        need = p->min_approvals;
    }
    req->min_approvals = need;
    if (req->n_approvals >= (size_t)need) {
        req->state = NIS2_REQ_APPROVED;
    } else {
        say(msg, msglen, "%zu of %d approvals", req->n_approvals, need);
    }
    req->updated = now;
    return NIS2_OK;
}

int
nis2_request_deny(const struct nis2_config *cfg, struct nis2_request *req,
                  const char *by, const char *reason, time_t now, char *msg,
                  size_t msglen)
{
    int r;

    say(msg, msglen, "%s", "");
    if (reason == NULL || reason[0] == '\0') {
        say(msg, msglen, "a reason is required to deny");
        return NIS2_ERR_INVAL;
    }
    if (check_text("--reason", reason, msg, msglen) != 0) {
        return NIS2_ERR_INVAL;
    }
    if ((r = check_state(req, now, true, false, msg, msglen)) != 0 ||
        (r = check_approver(cfg, req, by, "deny", msg, msglen)) != 0) {
        return r;
    }
    if ((r = set_mark(&req->denial, by, reason, now)) != 0) {
        return r;
    }
    req->state = NIS2_REQ_DENIED;
    req->updated = now;
    return NIS2_OK;
}

int
nis2_request_revoke(const struct nis2_config *cfg, struct nis2_request *req,
                    const char *by, const char *reason, time_t now, char *msg,
                    size_t msglen)
{
    int r;

    say(msg, msglen, "%s", "");
    if (reason == NULL || reason[0] == '\0') {
        say(msg, msglen, "a reason is required to revoke");
        return NIS2_ERR_INVAL;
    }
    if (check_text("--reason", reason, msg, msglen) != 0) {
        return NIS2_ERR_INVAL;
    }
    if ((r = check_state(req, now, false, true, msg, msglen)) != 0 ||
        (r = check_approver(cfg, req, by, "revoke", msg, msglen)) != 0) {
        return r;
    }
    if ((r = set_mark(&req->revocation, by, reason, now)) != 0) {
        return r;
    }
    req->state = NIS2_REQ_REVOKED;
    req->updated = now;
    return NIS2_OK;
}

int
nis2_request_cancel(struct nis2_request *req, const char *by, time_t now,
                    char *msg, size_t msglen)
{
    int r;

    say(msg, msglen, "%s", "");
    if (by == NULL || !nis2_user_eq(by, req->requester)) {
        say(msg, msglen, "only the requester %s can cancel request %s",
            req->requester, req->id);
        return NIS2_ERR_DENIED;
    }
    if ((r = check_state(req, now, true, true, msg, msglen)) != 0) {
        return r;
    }
    if ((r = set_mark(&req->cancellation, by, NULL, now)) != 0) {
        return r;
    }
    req->state = NIS2_REQ_CANCELLED;
    req->updated = now;
    return NIS2_OK;
}

int
nis2_request_review(const struct nis2_config *cfg, struct nis2_request *req,
                    const char *by, time_t now, char *msg, size_t msglen)
{
    char *who = NULL;
    int r;

    say(msg, msglen, "%s", "");
    if (!req->emergency) {
        say(msg, msglen,
            "request %s is not a break-glass request: nothing "
            "to review",
            req->id);
        return NIS2_ERR_CONFLICT;
    }
    if (req->reviewed_by != NULL) {
        say(msg, msglen, "request %s was already reviewed by %s", req->id,
            req->reviewed_by);
        return NIS2_ERR_CONFLICT;
    }
    if ((r = check_approver(cfg, req, by, "review", msg, msglen)) != 0) {
        return r;
    }
    if ((who = strdup(by)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    req->reviewed_by = who;
    req->reviewed_at = now;
    req->updated = now;
    return NIS2_OK;
}

int
nis2_request_extend(const struct nis2_config *cfg, struct nis2_request *req,
                    const char *by, int64_t seconds, time_t now, char *msg,
                    size_t msglen)
{
    const struct nis2_policy *p;
    struct nis2_req_extension *ne = NULL;
    time_t new_end, he = 0;
    int64_t max;
    char *who = NULL;
    char a[32], b[32];
    int r;

    say(msg, msglen, "%s", "");
    if (seconds <= 0 || seconds > 366LL * 86400) {
        say(msg, msglen, "the extension must be positive");
        return NIS2_ERR_INVAL;
    }
    if ((r = check_state(req, now, true, true, msg, msglen)) != 0 ||
        (r = check_approver(cfg, req, by, "extend", msg, msglen)) != 0) {
        return r;
    }
    p = nis2_request_policy(cfg, req);
    max = req->emergency ? p->emergency : p->max_duration;
    new_end = req->end + (time_t)seconds;
    if (max <= 0 || new_end - req->start > (time_t)max) {
        nis2_format_duration((int64_t)(new_end - req->start), a, sizeof(a));
        nis2_format_duration(max, b, sizeof(b));
        say(msg, msglen,
            "extending by that would make the window %s, over the maximum "
            "of %s%s of policy %s",
            a, b, req->emergency ? " for break-glass" : "", p->name);
        return NIS2_ERR_RANGE;
    }
    if (p->hours != NULL) {
        /* The stretch of hours holding the window's last second. */
        r = nis2_hours_contains(p->hours, req->end - 1, &he);
        if (r < 0) {
            say(msg, msglen, "cannot evaluate the hours of policy %s: %s",
                p->name, nis2_strerror(r));
            return r;
        }
        if (r == 0 || he <= req->end) {
            say(msg, msglen,
                "request %s already ends with the hours of "
                "policy %s (%s)",
                req->id, p->name,
                p->hours->spec != NULL ? p->hours->spec : "?");
            return NIS2_ERR_RANGE;
        }
        if (he < new_end) {
            fmt_time(he, a, sizeof(a));
            say(msg, msglen,
                "extension clipped to the policy hours: the "
                "window now ends at %s",
                a);
            new_end = he;
        }
    }
    if (req->n_extensions >= NIS2_REQUEST_MAX_LIST) {
        say(msg, msglen, "request %s has been extended too often", req->id);
        return NIS2_ERR_RANGE;
    }
    if ((who = strdup(by)) == NULL ||
        (ne = realloc(req->extensions,
                      (req->n_extensions + 1) * sizeof(*ne))) == NULL) {
        free(who);
        say(msg, msglen, "out of memory");
        return NIS2_ERR_NOMEM;
    }
    req->extensions = ne;
    ne[req->n_extensions].by = who;
    ne[req->n_extensions].at = now;
    ne[req->n_extensions].seconds = (int64_t)(new_end - req->end);
    ne[req->n_extensions].end = new_end;
    req->n_extensions++;
    req->end = new_end;
    req->updated = now;
    return NIS2_OK;
}
