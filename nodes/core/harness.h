/* harness.h: runs one node in process, for tests: no sockets, no processes.
 *
 * Emitted messages are captured (deep copies) per output pad; a test feeds
 * messages to process(), calls flush, and inspects what came out and the
 * node's counters (the same accounting the runner does).
 *
 *   yt_harness h;
 *   const char *params[] = {"batch_size=4", "drop_remainder=true", NULL};
 *   if (yt_harness_open(&h, "batcher", params, &err)) ...
 *   yt_harness_feed(&h, 0, &msg, &err); yt_harness_flush(&h, &err);
 *   h.out[0][k] ... h.n_out[0] ... h.node.counts.dropped
 *   yt_harness_close(&h);
 */
#ifndef YT_HARNESS_H
#define YT_HARNESS_H

#include "core/node.h"

typedef struct yt_harness {
  yt_node node;
  yt_msg *out[YT_MAX_PADS]; /* captured DATA messages per output pad (frames owned) */
  size_t n_out[YT_MAX_PADS], cap_out[YT_MAX_PADS];
  int initialized;
  /* > 0: the node may send records by reference, as under the runner with
   * consumers on the host; the value is what yt_node_ref_readers answers
   * (the consumer's replicas). Captured messages keep that form
   * (yt_records_resolve reads them), and yt_harness_feed resolves them. */
  int send_refs;
} yt_harness;

/* Sets up node type `type` as replica `replica` of `replicas` (use
 * yt_harness_open_replica) or 0 of 1, applies "name=value" params (NULL-
 * terminated list, may be NULL), checks required ones, and calls init. */
int yt_harness_open(yt_harness *h, const char *type, const char *const *params, yt_err *err);
int yt_harness_open_replica(yt_harness *h, const char *type, const char *const *params, int replica,
                            int replicas, yt_err *err);
/* Sources: calls run() until YT_EOF (or max_calls calls, 0 = no limit), then flush(). */
int yt_harness_run(yt_harness *h, size_t max_calls, yt_err *err);
/* Calls process() with m on input pad `pad` (accounting as the runner does;
 * a records message by reference is read first, as the runner does). */
int yt_harness_feed(yt_harness *h, int pad, const yt_msg *m, yt_err *err);
int yt_harness_flush(yt_harness *h, yt_err *err);
/* Drops the captured messages of every pad (to bound memory in long tests). */
void yt_harness_clear_out(yt_harness *h);
/* fini, frees the captured messages and the node. */
void yt_harness_close(yt_harness *h);

#endif
