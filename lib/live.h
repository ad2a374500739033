/*
 * live.h - the registry of live broker sessions, state_dir/sessions/:
 *
 *   ID.json   written by the broker's session process once the login is
 *             complete, removed when the session ends: who, what, and the
 *             process that serves it (pid, its start time in clock ticks
 *             after boot from /proc/PID/stat, and the kernel's boot id);
 *   ID.kill   a request to end the session (nis2ctl kill), polled by that
 *             process every second (broker/session.c time_checks).
 *
 * This file owns the format both ways: the broker writes and removes its
 * entry and reads its kill request here; nis2ctl reads entries and writes
 * kill requests here.
 *
 * A session process that crashes leaves its ID.json behind.  Such a stale
 * entry is told apart from a live one by the process stamp: the pid must
 * still exist, with the same start time, since the same boot; a reused
 * pid has another start time.  Session ids are validated before any path
 * is built from them.
 */
#ifndef NIS2_LIVE_H
#define NIS2_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct json_object;

#define NIS2_LIVE_BOOT_ID_LEN 36

struct nis2_live {
    char id[16];                  /* "S-XXXXXXXX" */
    pid_t pid;                    /* 0 when the entry has none */
    unsigned long long pid_start; /* 0: not recorded (pid alone counts) */
    char boot_id[NIS2_LIVE_BOOT_ID_LEN + 1]; /* "" when not recorded */
    char *user;                              /* NULL when absent */
    char *target; /* "" for a command-interface login */
    char *client;
    char *start;     /* "YYYY-MM-DDTHH:MM:SSZ" as written */
    char *request;   /* NULL when none */
    char *recording; /* the session directory, NULL when none */
};

/*
 * The start time of process `pid` (field 22 of /proc/PID/stat, clock ticks
 * after boot).  NIS2_ERR_NOTFOUND when /proc has no such process (gone,
 * or hidden from this user), NIS2_ERR_PARSE when the line is odd.
 */
int nis2_live_proc_start(pid_t pid, unsigned long long *out);

/* The kernel's boot id (/proc/sys/kernel/random/boot_id), 36 characters. */
int nis2_live_boot_id(char out[NIS2_LIVE_BOOT_ID_LEN + 1]);

/*
 * Add this process's stamp to a registry document: "pid", "pid_start"
 * and "boot_id".  Fails (nothing half added that matters) when /proc
 * cannot tell them: a registry entry without a stamp could never be told
 * from a stale one.
 */
int nis2_live_add_stamp(struct json_object *o);

/*
 * Read the registry entry of session `id` (a valid id, upper case, else
 * NIS2_ERR_INVAL before any path is built).  NIS2_ERR_NOTFOUND when there
 * is none; NIS2_ERR_PARSE when it is not a registry document.
 */
int nis2_live_get(const char *state_dir, const char *id,
                  struct nis2_live **out);

/*
 * Whether the process that wrote `e` still runs: 1 yes, 0 no (the entry
 * is stale: the pid is gone, or reused by a process that started at
 * another time, or the machine rebooted since).  When /proc hides the
 * process from this user (hidepid), kill(pid, 0) decides and the start
 * time cannot be compared.
 */
int nis2_live_alive(const struct nis2_live *e);

/*
 * Ask session `id` to end: write state_dir/sessions/ID.kill (atomically,
 * fsynced) holding `details` (may be NULL: {}), e.g. who asked and why.
 */
int nis2_live_request_kill(const char *state_dir, const char *id,
                           struct json_object *details);

void nis2_live_free(struct nis2_live *e);

/* What the broker registers for its session (all borrowed). */
struct nis2_live_info {
    const char *id;        /* a valid session id */
    const char *user;      /* canonical name */
    const char *target;    /* "" for a command-interface login */
    const char *client;    /* the client's address */
    time_t start;          /* written "YYYY-MM-DDTHH:MM:SSZ" */
    const char *request;   /* NULL: none (JSON null) */
    const char *recording; /* NULL: none (JSON null) */
};

/*
 * Write state_dir/sessions/ID.json for `info` with this process's stamp
 * (nis2_live_add_stamp), atomically, creating the directory (0750).
 * NIS2_ERR_INVAL for an invalid id, before any path is built.
 */
int nis2_live_register(const char *state_dir,
                       const struct nis2_live_info *info);

/* Remove the session's ID.json and ID.kill (best effort; invalid id: no-op). */
void nis2_live_unregister(const char *state_dir, const char *id);

/*
 * Whether someone asked session `id` to end (state_dir/sessions/ID.kill
 * exists): 1 yes, 0 no.  When it did, who (`by`, "" unless a valid user
 * name) and why (`reason`, "" unless printable ASCII that fits) from the
 * request; the session ends whatever the file holds.
 */
int nis2_live_kill_requested(const char *state_dir, const char *id, char *by,
                             size_t bylen, char *reason, size_t reasonlen);

#endif
