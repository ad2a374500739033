/*
 * chain_rec.h - glue between the recording writer (recording.h) and the
 * signing chain (chain.h): a checkpoint function for
 * nis2_rec_set_checkpoint() that signs the writer's own file states.
 *
 * Use in the session process:
 *
 *   nis2_rec_open(dir, &info, &rec);
 *   nis2_chain_open(nis2_rec_dir(rec), nis2_rec_id(rec),
 *                   cfg->signing_key, &chain);
 *   nis2_rec_set_checkpoint(rec, nis2_chain_rec_checkpoint, chain,
 *                           cfg->checkpoint_interval * 1000);
 *   ... nis2_rec_data / nis2_rec_tick ...
 *   nis2_rec_close(rec, reason, status);   (runs the CLOSE checkpoint)
 *   nis2_rec_free(rec); nis2_chain_free(chain);
 */
#ifndef NIS2_CHAIN_REC_H
#define NIS2_CHAIN_REC_H

#include "chain.h"
#include "recording.h"

/*
 * A nis2_rec_checkpoint_fn: `arg` is the struct nis2_chain *.  Takes
 * nis2_rec_snapshot() and nis2_rec_meta() and appends a checkpoint of the
 * matching kind at time(NULL).
 */
int nis2_chain_rec_checkpoint(struct nis2_rec *rec, enum nis2_rec_cp_kind kind,
                              void *arg);

#endif
