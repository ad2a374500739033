/*
 * deadline.h - when a target session must end, and when its user is
 * warned: one computation for the session's start (session.c session_setup)
 * and for an approver's change of the window while it runs (time_checks).
 */
#ifndef NIS2_BROKER_DEADLINE_H
#define NIS2_BROKER_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct deadline {
    time_t end;        /* the session ends here; 0: no deadline */
    time_t warn_first; /* first warning: [broker] warn_before ahead */
    time_t warn_last;  /* last warning: BROKER_LAST_WARNING ahead */
    bool warned_first, warned_last;
};

/*
 * The earliest of `start` + `max_duration` (the policy's), the end of the
 * policy's current hours range (`hours_end`, 0: none) and the covering
 * request's window end (`window_end`, 0: no request), with its warning
 * times.  The warnings are re-armed when the end moves later (an approver
 * extended the window), kept as they are otherwise.
 */
void deadline_compute(struct deadline *d, time_t start, int64_t max_duration,
                      time_t hours_end, time_t window_end, int64_t warn_before);

/*
 * Whether a warning is due at `now`: true once at warn_first and once
 * more at warn_last (a single warning when both are already past).
 */
bool deadline_warn_due(struct deadline *d, time_t now);

#endif
