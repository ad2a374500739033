/*
 * pam_worker.c - the PAM transaction of one login, in a worker thread.
 *
 * PAM's conversation is synchronous: pam_authenticate() calls our conv
 * function and expects the answers on return.  The SSH side, though, must
 * send the prompts as a keyboard-interactive info request and get the
 * answers in a later packet.  So pam_authenticate and pam_acct_mgmt run in
 * a worker thread; its conv function posts the prompts here and sleeps
 * until the connection's thread hands the answers back (or aborts).
 * Informational messages (PAM_TEXT_INFO, PAM_ERROR_MSG) are collected and
 * shown with the next prompt or at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>

#include "broker.h"
#include "error.h"
#include "fileio.h"

#define INFO_MAX 4096

struct broker_pam {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;

    char *service;
    char *confdir;
    char *user;
    char *target;
    char *rhost;
    bool do_auth;

    /* Worker -> connection. */
    char info[INFO_MAX]; /* collected messages not yet shown */
    char *shown;         /* info handed out with the last step */
    size_t n_prompts;
    char *prompts[8];
    char echo[8];
    bool posted; /* a step waits to be taken */
    bool done;
    bool success;

    /* Connection -> worker. */
    char *answers[8];
    bool answered;
    bool abort;
};

static void
info_add(struct broker_pam *p, const char *msg)
{
    size_t len = strlen(p->info);
    if (msg == NULL || len + 2 >= sizeof(p->info)) {
        return;
    }
    snprintf(p->info + len, sizeof(p->info) - len, "%s%s", msg,
             msg[0] != '\0' && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
}

static void
responses_free(struct pam_response *r, int n)
{
    for (int i = 0; r != NULL && i < n; i++) {
        nis2_freezero_str(r[i].resp);
    }
    free(r);
}

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
     void *arg)
{
    struct broker_pam *p = arg;
    struct pam_response *r = NULL;
    size_t np = 0;
    int idx[8];

    *resp = NULL;
    if (n <= 0 || n > 32 || (r = calloc((size_t)n, sizeof(*r))) == NULL) {
        return PAM_CONV_ERR;
    }
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON:
            if (np >= 8) {
                goto fail;
            }
            p->prompts[np] = strdup(msg[i]->msg != NULL ? msg[i]->msg : "");
            if (p->prompts[np] == NULL) {
                goto fail;
            }
            p->echo[np] = msg[i]->msg_style == PAM_PROMPT_ECHO_ON;
            idx[np++] = i;
            break;
        case PAM_TEXT_INFO:
        case PAM_ERROR_MSG:
            info_add(p, msg[i]->msg);
            break;
        default:
            goto fail;
        }
    }
    if (np > 0) {
        p->n_prompts = np;
        p->posted = true;
        p->answered = false;
        pthread_cond_broadcast(&p->cv);
        while (!p->answered && !p->abort) {
            pthread_cond_wait(&p->cv, &p->mu);
        }
        if (p->abort) {
            goto fail;
        }
        for (size_t i = 0; i < np; i++) {
            r[idx[i]].resp = p->answers[i];
            p->answers[i] = NULL;
        }
        p->answered = false;
    }
    for (size_t i = 0; i < np; i++) {
        free(p->prompts[i]);
        p->prompts[i] = NULL;
    }
    p->n_prompts = 0;
    pthread_mutex_unlock(&p->mu);
    *resp = r;
    return PAM_SUCCESS;
fail:
    for (size_t i = 0; i < 8; i++) {
        free(p->prompts[i]);
        p->prompts[i] = NULL;
    }
    p->n_prompts = 0;
    pthread_mutex_unlock(&p->mu);
    responses_free(r, n);
    return PAM_CONV_ERR;
}

static void *
worker(void *arg)
{
    struct broker_pam *p = arg;
    struct pam_conv c = {conv, p};
    pam_handle_t *pamh = NULL;
    char env[128];
    int rc;

    if (p->confdir != NULL) {
        rc = pam_start_confdir(p->service, p->user, &c, p->confdir, &pamh);
    } else {
        rc = pam_start(p->service, p->user, &c, &pamh);
    }
    if (rc == PAM_SUCCESS && p->rhost != NULL) {
        rc = pam_set_item(pamh, PAM_RHOST, p->rhost);
    }
    if (rc == PAM_SUCCESS && p->target[0] != '\0') {
        snprintf(env, sizeof(env), "NIS2_TARGET=%s", p->target);
        rc = pam_putenv(pamh, env);
    }
    if (rc == PAM_SUCCESS && p->do_auth) {
        rc = pam_authenticate(pamh, 0);
    }
    if (rc == PAM_SUCCESS && p->target[0] != '\0') {
        rc = pam_acct_mgmt(pamh, 0);
    }
    if (pamh != NULL) {
        pam_end(pamh, rc);
    }
    pthread_mutex_lock(&p->mu);
    p->done = true;
    p->success = rc == PAM_SUCCESS;
    p->posted = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int
broker_pam_start(const struct nis2_config *cfg, const char *user,
                 const char *target, const char *rhost, bool do_auth,
                 struct broker_pam **out)
{
    struct broker_pam *p = NULL;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        return r;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->do_auth = do_auth;
    if ((p->service = strdup(cfg->pam_service)) == NULL ||
        (cfg->pam_confdir != NULL &&
         (p->confdir = strdup(cfg->pam_confdir)) == NULL) ||
        (p->user = strdup(user)) == NULL ||
        (p->target = strdup(target != NULL ? target : "")) == NULL ||
        (rhost != NULL && (p->rhost = strdup(rhost)) == NULL)) {
        goto out;
    }
    if (pthread_create(&p->thread, NULL, worker, p) != 0) {
        r = NIS2_ERR_INTERNAL;
        goto out;
    }
    p->started = true;
    *out = p;
    p = NULL;
    r = 0;
out:
    broker_pam_free(p);
    return r;
}

int
broker_pam_next(struct broker_pam *p, struct broker_pam_step *step,
                int timeout_ms)
{
    struct timespec dl;
    int r = 0;

    memset(step, 0, sizeof(*step));
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->posted) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT) {
            r = NIS2_ERR_TIMEOUT;
            goto out;
        }
    }
    p->posted = false;
    free(p->shown);
    p->shown = NULL;
    if (p->info[0] != '\0') {
        p->shown = strdup(p->info);
        p->info[0] = '\0';
    }
    step->info = p->shown;
    step->done = p->done;
    step->success = p->success;
    if (!p->done) {
        step->n_prompts = p->n_prompts;
        for (size_t i = 0; i < p->n_prompts; i++) {
            step->prompts[i] = p->prompts[i];
            step->echo[i] = p->echo[i];
        }
    }
out:
    pthread_mutex_unlock(&p->mu);
    return r;
}

int
broker_pam_answer(struct broker_pam *p, const char *const *answers, size_t n)
{
    int r = 0;

    pthread_mutex_lock(&p->mu);
    if (p->done || p->n_prompts == 0) {
        r = NIS2_ERR_INVAL;
        goto out;
    }
    for (size_t i = 0; i < p->n_prompts; i++) {
        p->answers[i] = strdup(i < n && answers[i] != NULL ? answers[i] : "");
        if (p->answers[i] == NULL) {
            r = NIS2_ERR_NOMEM;
            p->abort = true;
            break;
        }
    }
    p->answered = true;
    pthread_cond_broadcast(&p->cv);
out:
    pthread_mutex_unlock(&p->mu);
    return r;
}

void
broker_pam_free(struct broker_pam *p)
{
    if (p == NULL) {
        return;
    }
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->abort = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < 8; i++) {
        nis2_freezero_str(p->answers[i]);
        free(p->prompts[i]);
    }
    explicit_bzero(p->info, sizeof(p->info));
    free(p->shown);
    free(p->service);
    free(p->confdir);
    free(p->user);
    free(p->target);
    free(p->rhost);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
