/*
 * slots.c - the listener's counts of sessions and verb processes, and the
 * session process's questions about them (slots.h).
 *
 * The messages are single SOCK_SEQPACKET records:
 *
 *   session process -> listener        listener -> session process
 *   'L' 'V'|'S' USER  session slot     one answer byte
 *   'V'               verb slot        one answer byte
 *   'R'               verb slot back   (none)
 *
 * Answer bytes: 'Y' granted, 'F' sessions full, 'C' the connection's
 * verbs, 'U' the user's verbs, 'E' not allowed now.  The listener answers
 * every 'L' and 'V' in the order they came, so the session process reads
 * exactly one answer per question; an answer that does not come in time
 * breaks the link for good (later questions are refused).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "policy.h"
#include "slots.h"

/* ---- the session process's side ----------------------------------------- */

bool
slots_user_is_staff(const struct nis2_config *cfg, const char *user)
{
    if ((cfg->role_approvers != NULL &&
         nis2_user_in_any(cfg, user, cfg->role_approvers) == 1) ||
        (cfg->role_auditors != NULL &&
         nis2_user_in_any(cfg, user, cfg->role_auditors) == 1)) {
        return true;
    }
    for (size_t i = 0; i < cfg->n_policies; i++) {
        char **g = cfg->policies[i].approvers;
        if (g != NULL && nis2_user_in_any(cfg, user, g) == 1) {
            return true;
        }
    }
    return false;
}

static void
link_break(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static enum slot_answer
answer_of(char a)
{
    switch (a) {
    case 'Y':
        return SLOT_GRANTED;
    case 'F':
        return SLOT_SESSIONS_FULL;
    case 'C':
        return SLOT_CONN_FULL;
    case 'U':
        return SLOT_USER_FULL;
    default:
        return SLOT_ERROR;
    }
}

/* Send one question and wait for its answer. */
static enum slot_answer
ask(int *fd, const char *msg, size_t len)
{
    struct pollfd pfd;
    char a;
    ssize_t n;
    int r;

    if (*fd < 0) {
        return SLOT_ERROR;
    }
    do {
        n = send(*fd, msg, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len) {
        link_break(fd);
        return SLOT_ERROR;
    }
    pfd.fd = *fd;
    pfd.events = POLLIN;
    do {
        r = poll(&pfd, 1, SLOT_ANSWER_TIMEOUT_MS);
    } while (r < 0 && errno == EINTR);
    if (r != 1) {
        link_break(fd); /* a late answer would be taken for the next one */
        return SLOT_ERROR;
    }
    do {
        n = recv(*fd, &a, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        link_break(fd);
        return SLOT_ERROR;
    }
    return answer_of(a);
}

enum slot_answer
slots_ask_session(int *fd, const char *user, bool staff)
{
    char msg[2 + NIS2_USER_MAX];
    size_t ul = strlen(user);

    if (ul == 0 || ul > NIS2_USER_MAX) {
        return SLOT_ERROR;
    }
    msg[0] = 'L';
    msg[1] = staff ? 'S' : 'V';
    memcpy(msg + 2, user, ul);
    return ask(fd, msg, 2 + ul);
}

enum slot_answer
slots_ask_verb(int *fd)
{
    return ask(fd, "V", 1);
}

void
slots_release_verb(int *fd)
{
    ssize_t n;

    if (*fd < 0) {
        return;
    }
    do {
        n = send(*fd, "R", 1, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        link_break(fd);
    }
}

/* ---- the listener's side ------------------------------------------------ */

int
slots_table_init(struct slot_table *t, const struct nis2_config *cfg)
{
    memset(t, 0, sizeof(*t));
    t->cfg = cfg;
    t->cap = (size_t)cfg->max_startups + (size_t)cfg->max_sessions +
             (size_t)cfg->reserve_sessions;
    if ((t->kids = calloc(t->cap, sizeof(*t->kids))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

void
slots_table_free(struct slot_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        link_break(&t->kids[i].fd);
    }
    free(t->kids);
    memset(t, 0, sizeof(*t));
}

size_t
slots_startups(const struct slot_table *t)
{
    size_t u = 0;
    for (size_t i = 0; i < t->n; i++) {
        u += t->kids[i].state == SLOT_STARTUP ||
             t->kids[i].state == SLOT_REFUSED;
    }
    return u;
}

size_t
slots_sessions(const struct slot_table *t)
{
    size_t u = 0;
    for (size_t i = 0; i < t->n; i++) {
        u += t->kids[i].state == SLOT_VENDOR || t->kids[i].state == SLOT_STAFF;
    }
    return u;
}

bool
slots_may_accept(const struct slot_table *t)
{
    return t->n < t->cap && slots_startups(t) < (size_t)t->cfg->max_startups;
}

bool
slots_add(struct slot_table *t, pid_t pid, int fd)
{
    struct slot_child *k;

    if (t->n >= t->cap) {
        return false;
    }
    k = &t->kids[t->n++];
    memset(k, 0, sizeof(*k));
    k->pid = pid;
    k->fd = fd;
    k->state = SLOT_STARTUP;
    return true;
}

bool
slots_remove(struct slot_table *t, pid_t pid)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->kids[i].pid == pid) {
            link_break(&t->kids[i].fd);
            t->kids[i] = t->kids[--t->n];
            return true;
        }
    }
    return false;
}

enum slot_answer
slots_decide_session(struct slot_table *t, size_t i, const char *user,
                     bool staff)
{
    struct slot_child *k = &t->kids[i];
    size_t in_use = slots_sessions(t);
    size_t limit = (size_t)t->cfg->max_sessions;

    if (k->state != SLOT_STARTUP || !nis2_valid_user(user)) {
        return SLOT_ERROR;
    }
    if (staff) {
        limit += (size_t)t->cfg->reserve_sessions;
    }
    if (in_use >= limit) {
        k->state = SLOT_REFUSED;
        return SLOT_SESSIONS_FULL;
    }
    k->state = staff ? SLOT_STAFF : SLOT_VENDOR;
    snprintf(k->user, sizeof(k->user), "%s", user);
    return SLOT_GRANTED;
}

enum slot_answer
slots_decide_verb(struct slot_table *t, size_t i)
{
    struct slot_child *k = &t->kids[i];
    long user_verbs = 0;

    if (k->state != SLOT_VENDOR && k->state != SLOT_STAFF) {
        return SLOT_ERROR;
    }
    if (k->verbs >= t->cfg->max_verbs_per_connection) {
        return SLOT_CONN_FULL;
    }
    for (size_t j = 0; j < t->n; j++) {
        const struct slot_child *o = &t->kids[j];
        if ((o->state == SLOT_VENDOR || o->state == SLOT_STAFF) &&
            strcmp(o->user, k->user) == 0) {
            user_verbs += o->verbs;
        }
    }
    if (user_verbs >= t->cfg->max_verbs_per_user) {
        return SLOT_USER_FULL;
    }
    k->verbs++;
    return SLOT_GRANTED;
}

static char
answer_byte(enum slot_answer a)
{
    static const char bytes[] = {'Y', 'F', 'C', 'U', 'E'};
    return bytes[a <= SLOT_ERROR ? a : SLOT_ERROR];
}

void
slots_serve(struct slot_table *t, size_t i)
{
    struct slot_child *k = &t->kids[i];
    char msg[2 + NIS2_USER_MAX + 1], user[NIS2_USER_MAX + 1], a;
    enum slot_answer ans = SLOT_ERROR;
    ssize_t n;

    if (k->fd < 0) {
        return;
    }
    n = recv(k->fd, msg, sizeof(msg), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        link_break(&k->fd); /* the session process closed or ended */
        return;
    }
    switch (msg[0]) {
    case 'R':
        if (n == 1 && k->verbs > 0) {
            k->verbs--;
        }
        return;
    case 'V':
        ans = n == 1 ? slots_decide_verb(t, i) : SLOT_ERROR;
        break;
    case 'L':
        if (n >= 3 && n <= 2 + NIS2_USER_MAX &&
            (msg[1] == 'V' || msg[1] == 'S')) {
            memcpy(user, msg + 2, (size_t)n - 2);
            user[n - 2] = '\0';
            ans = slots_decide_session(t, i, user, msg[1] == 'S');
        }
        break;
    default:
        break;
    }
    a = answer_byte(ans);
    if (send(k->fd, &a, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
        link_break(&k->fd);
    }
}
