/*
 * fuzz_scp.c - libFuzzer harness for the legacy scp observer (lib/scp.c) and
 * the file operation event (lib/fileops.c).
 *
 * Input: the first byte chooses the command (scp -t or -f, into a
 * directory or not), then a sequence of records "1 byte header, data": the
 * header's low bit is the direction (1: to the server), the rest (0..127) the
 * length of the data that follows.  Promises checked: every event has an op and
 * a path that is valid UTF-8 without control characters, its JSON form builds,
 * a close has a direction and, when sequential, 64 hex digits; memory stays
 * bounded (ASan, -rss_limit_mb); after an error return the observer looks
 * at nothing more.
 *
 *   make fuzz; build-fuzz/fuzz_scp -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "fileops.h"
#include "scp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    if (s == NULL) {
        return;
    }
    for (size_t i = 0; u[i] != 0; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f ||
            (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)) {
            abort();
        }
    }
    if (strlen(s) > NIS2_FILEOPS_PATH_MAX) {
        abort();
    }
}

static int
sink(const struct nis2_fileop *op, void *arg)
{
    struct json_object *o = NULL;

    (void)arg;
    if (op->op == NULL || op->path == NULL) {
        abort();
    }
    check_text(op->path);
    check_text(op->path2);
    check_text(op->flags);
    if (strcmp(op->op, "close") == 0 &&
        (op->direction == NULL ||
         (op->sequential && strspn(op->sha256, "0123456789abcdef") != 64))) {
        abort();
    }
    if (nis2_fileops_json(op, &o) == 0) {
        json_object_put(o);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nis2_scp *s = NULL;
    bool stopped = false;

    static const char *const cmds[] = {"scp -t /srv/file", "scp -r -t /srv",
                                       "scp -f /data/fw.bin",
                                       "scp -r -f /data/dir"};

    if (size < 1 || nis2_scp_new(cmds[data[0] % 4], sink, NULL, &s) != 0) {
        return 0;
    }
    data++;
    size--;
    for (size_t i = 0; i < size;) {
        bool to_server = data[i] & 1;
        size_t n = data[i] >> 1;
        i++;
        if (n > size - i) {
            n = size - i;
        }
        int r = nis2_scp_feed(s, to_server, data + i, n);
        if (stopped && r != 0) {
            abort(); /* an error is reported once */
        }
        stopped = stopped || nis2_scp_error(s) != NULL;
        i += n;
    }
    nis2_scp_finish(s);
    nis2_scp_free(s);
    return 0;
}
