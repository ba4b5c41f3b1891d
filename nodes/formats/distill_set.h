/* distill_set.h: writes a distillation set (REFERENCE.md 6.2): per input
 * shard an output shard of the same name holding each original record, in
 * input order, with a float list `teacher_predictions` added to its context
 * (features, for an Example).
 *
 * The teacher's predictions arrive keyed by (shard, index) in any order (a
 * graph's replicas reorder them); the input shards are read again here,
 * record by record, and a record is written as soon as its prediction is in,
 * so only the predictions that ran ahead are held. A shard is committed
 * atomically (tfrecord.h) when its last record is written. A shard whose
 * output exists already is complete from an earlier run: its predictions are
 * ignored (the caller counts them), which is how a killed run resumes. */
#ifndef YT_DISTILL_SET_H
#define YT_DISTILL_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct yt_distill_set yt_distill_set;

/* pattern: the reader's input pattern (the same shard numbers); out_dir
 * created if missing. Stale temporaries of a killed run are removed. */
int yt_distill_open(yt_distill_set **out, const char *pattern, const char *out_dir, yt_err *err);
/* The prediction of record `index` of shard `shard`, video id[id_len]: C
 * floats. *ignored = true when the shard was complete before this run.
 * Duplicates, records the shard does not have, and a record whose id is not
 * the prediction's are errors naming the shard. */
int yt_distill_add(yt_distill_set *d, uint32_t shard, uint64_t index, const char *id, size_t id_len,
                   const float *pred, size_t C, bool *ignored, yt_err *err);
/* End of the predictions: every shard that started must be complete; shards
 * with no records get their (empty) output. Errors name a missing record. */
int yt_distill_finish(yt_distill_set *d, yt_err *err);
/* Counts for the summary. */
void yt_distill_counts(const yt_distill_set *d, uint64_t *written, uint64_t *existing, uint64_t *records);
void yt_distill_free(yt_distill_set *d);

#endif
