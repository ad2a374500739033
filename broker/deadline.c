/*
 * deadline.c - the session's end and its warnings (deadline.h).
 */
#include "broker.h"
#include "deadline.h"

void
deadline_compute(struct deadline *d, time_t start, int64_t max_duration,
                 time_t hours_end, time_t window_end, int64_t warn_before)
{
    time_t end = start + (time_t)max_duration;

    if (hours_end != 0 && hours_end < end) {
        end = hours_end;
    }
    if (window_end != 0 && window_end < end) {
        end = window_end;
    }
    if (end > d->end) {
        d->warned_first = false;
        d->warned_last = false;
    }
    d->end = end;
    d->warn_first = end - (time_t)warn_before;
    d->warn_last = end - BROKER_LAST_WARNING;
}

bool
deadline_warn_due(struct deadline *d, time_t now)
{
    if (d->end == 0) {
        return false;
    }
    if (!d->warned_first && now >= d->warn_first) {
        d->warned_first = true;
        d->warned_last = now >= d->warn_last;
        return true;
    }
    if (!d->warned_last && now >= d->warn_last) {
        d->warned_last = true;
        return true;
    }
    return false;
}
