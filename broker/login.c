/*
 * login.c - the SSH login name "USER+TARGET" (or "USER" for the command
 * interface), split and validated before anything is looked up.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "error.h"
#include "util.h"

/* Longest login name looked at: a user and a target of 64 each, and '+'. */
#define LOGIN_MAX 129

int
broker_parse_login(const char *login, char *user, size_t userlen, char *target,
                   size_t targetlen, char *why, size_t whylen)
{
    const char *plus;
    size_t len, ulen;

    user[0] = '\0';
    target[0] = '\0';
    why[0] = '\0';
    if (login == NULL || (len = strnlen(login, LOGIN_MAX + 1)) == 0) {
        snprintf(why, whylen, "empty login name");
        return NIS2_ERR_INVAL;
    }
    if (len > LOGIN_MAX) {
        snprintf(why, whylen, "login name too long");
        return NIS2_ERR_INVAL;
    }
    plus = strchr(login, '+');
    if (plus != NULL && strchr(plus + 1, '+') != NULL) {
        snprintf(why, whylen, "more than one '+' in the login name");
        return NIS2_ERR_INVAL;
    }
    ulen = plus != NULL ? (size_t)(plus - login) : len;
    if (ulen == 0 || ulen >= userlen) {
        snprintf(why, whylen, "malformed user part");
        return NIS2_ERR_INVAL;
    }
    memcpy(user, login, ulen);
    user[ulen] = '\0';
    if (!nis2_valid_user(user)) {
        user[0] = '\0';
        snprintf(why, whylen, "malformed user part");
        return NIS2_ERR_INVAL;
    }
    if (plus != NULL) {
        size_t tlen = len - ulen - 1;
        if (tlen == 0 || tlen >= targetlen) {
            user[0] = '\0';
            snprintf(why, whylen, "malformed target part");
            return NIS2_ERR_INVAL;
        }
        memcpy(target, plus + 1, tlen);
        target[tlen] = '\0';
        if (!nis2_valid_target(target)) {
            user[0] = '\0';
            target[0] = '\0';
            snprintf(why, whylen, "malformed target part");
            return NIS2_ERR_INVAL;
        }
    }
    return 0;
}
