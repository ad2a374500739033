/*
 * chain_rec.c - the recording writer's checkpoint function: signs
 * nis2_rec_snapshot() with the session's chain (chain_rec.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain_rec.h"
#include "error.h"

/* Both structs carry the same fields; keep them in step. */
_Static_assert(sizeof(struct nis2_chain_file) ==
                   sizeof(struct nis2_rec_file_state),
               "nis2_chain_file and nis2_rec_file_state differ");

int
nis2_chain_rec_checkpoint(struct nis2_rec *rec, enum nis2_rec_cp_kind kind,
                          void *arg)
{
    struct nis2_chain *chain = arg;
    struct nis2_rec_file_state *st = NULL;
    struct nis2_chain_file *files = NULL;
    enum nis2_chain_kind ck;
    size_t n = 0;
    int r;

    switch (kind) {
    case NIS2_REC_CP_START:
        ck = NIS2_CHAIN_START;
        break;
    case NIS2_REC_CP_PERIODIC:
        ck = NIS2_CHAIN_PERIODIC;
        break;
    case NIS2_REC_CP_CLOSE:
        ck = NIS2_CHAIN_CLOSE;
        break;
    default:
        return NIS2_ERR_INVAL;
    }
    if (chain == NULL) {
        return NIS2_ERR_INVAL;
    }
    if ((r = nis2_rec_snapshot(rec, &st, &n)) != 0) {
        return r;
    }
    if ((files = calloc(n > 0 ? n : 1, sizeof(*files))) == NULL) {
        free(st);
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        _Static_assert(sizeof(files[i].name) == sizeof(st[i].name),
                       "name sizes differ");
        memcpy(files[i].name, st[i].name, sizeof(files[i].name));
        files[i].size = st[i].size;
        memcpy(files[i].sha256, st[i].sha256, sizeof(files[i].sha256));
    }
    r = nis2_chain_checkpoint_files(chain, ck, time(NULL), files, n,
                                    nis2_rec_meta(rec));
    free(files);
    free(st);
    return r;
}
