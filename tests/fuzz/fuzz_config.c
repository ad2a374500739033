/*
 * fuzz_config.c - libFuzzer harness for the nis2.conf parser
 * (nis2_config_load_buffer).  Includes are turned off so that the input
 * cannot make the harness read arbitrary files; everything else (sections,
 * keys, values, hours, cross references, zone loading) runs as in a real
 * load.
 *
 *   make fuzz && build-fuzz/fuzz_config -max_total_time=60 \
 *       -dict=tests/fuzz/config.dict
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nis2_config *cfg = NULL;
    struct nis2_diag diag;

    if (size > NIS2_CONFIG_MAX_SIZE) {
        return 0;
    }
    nis2_diag_init(&diag);
    if (nis2_config_load_buffer("/nonexistent/nis2.conf", (const char *)data,
                                size, NIS2_CONFIG_NO_INCLUDE, &cfg,
                                &diag) == 0) {
        (void)nis2_config_target(cfg, "a");
        (void)nis2_config_policy(cfg, "p");
        nis2_config_free(cfg);
    }
    nis2_diag_free(&diag);
    return 0;
}
