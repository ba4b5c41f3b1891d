/* node.h: what a node type is, and what a node's code may call.
 *
 * A node type is one file nodes/<type>.c exporting
 *     const yt_node_def yt_node_<type>;
 * (the build generates the registry from the file names, so `ls nodes/` is
 * the catalogue). The definition gives a one-line summary, typed pads, the
 * parameter schema (param.h) and the callbacks below. Nodes never touch
 * ZeroMQ: the runner (runner.c, one process per replica) or the in-process
 * harness (harness.h, for tests) owns the sockets and calls the callbacks:
 *
 *   init(n)                  once; read parameters, allocate n->state
 *   run(n)      sources only: produce and emit some records; YT_OK to be
 *                            called again, YT_EOF when done. Check
 *                            yt_node_stopping(n) to stop early (Ctrl-C drain).
 *   process(n, pad, m)       one DATA message arrived on input pad `pad`
 *                            (m is the runner's: decode it, do not keep it)
 *   flush(n)                 every input reached end of stream (sources: after
 *                            run returned YT_EOF): emit what is buffered
 *   fini(n)                  release n->state (also after a failure)
 *
 * Callbacks return YT_OK or a negative status with err filled; the runner
 * relays err as "ERROR: from node NAME[i] (TYPE): message" and the run fails.
 *
 * Pad types say what an edge carries (payload.h): "records" (serialized
 * TFRecord payloads), "videos" (decoded, packed rows), "batch" (decoded,
 * padded to max_frames), "predictions" (a model's scores per video, batch
 * layout with one row of C floats), "metrics" (JSON scalars per step: carries
 * no records), "any" (an input that takes whatever comes). The
 * checker refuses an edge whose types differ unless the input is "any"; a
 * "batch" output may also feed a "videos" input (same layout). */
#ifndef YT_NODE_H
#define YT_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/param.h"
#include "core/payload.h"
#include "transport/msg.h"

typedef struct yt_node yt_node;

typedef struct yt_pad_def {
  const char *name; /* "in", "out", "metrics" ... */
  const char *type; /* "records", "videos", "batch", "predictions", "metrics", "any" */
  const char *help;
  bool optional;    /* an input the graph may leave unconnected (yt_node.inputs_connected says) */
  bool first;       /* an input read to its end of stream before any other input is read (a
                       model that must arrive before the records it scores: infer's "model") */
} yt_pad_def;

#define YT_MAX_PADS 4

typedef struct yt_node_def {
  const char *name;    /* the graph keyword = the file name */
  const char *summary; /* one line, for `inspect` */
  yt_pad_def inputs[YT_MAX_PADS];
  int n_inputs;
  yt_pad_def outputs[YT_MAX_PADS];
  int n_outputs;
  const yt_param_def *params;
  int n_params;
  size_t state_size; /* n->state is calloc'd with this many bytes before init */
  /* Keeps OpenBLAS's worker threads (the model nodes). The others run with
   * OPENBLAS_NUM_THREADS=1: idle workers spin in sched_yield for a while after
   * start, which took ~0.04 s of CPU per process from the data nodes. */
  bool blas_threads;
  /* Optional, for `inspect TYPE [--set k=v]`: a few lines about what these
   * parameter values imply (train: the model's parameter count), written
   * into buf; YT_OK, or an error when the values do not make a valid node. */
  int (*describe)(const yt_params *p, char *buf, size_t cap, yt_err *err);
  int (*init)(yt_node *n, yt_err *err);
  int (*run)(yt_node *n, yt_err *err); /* sources (n_inputs == 0) */
  int (*process)(yt_node *n, int pad, const yt_msg *m, yt_err *err);
  int (*flush)(yt_node *n, yt_err *err);
  void (*fini)(yt_node *n);
} yt_node_def;

/* Counters the runner keeps per replica and reports in STATS and the summary. */
typedef struct yt_node_counts {
  uint64_t in_records, out_records, in_bytes, out_bytes, in_msgs, out_msgs;
  /* exactly-once accounting, see payload.h: count and a sum of hashed
   * (shard, index) pairs, for records a source emitted, a sink consumed, or a
   * node dropped on purpose (drop_remainder, on_corrupt = skip_record) */
  uint64_t emitted, emitted_hash, consumed, consumed_hash, dropped, dropped_hash;
} yt_node_counts;

#define YT_MAX_EXTRA 8

struct yt_node {
  const yt_node_def *def;
  const char *name; /* instance name from the graph */
  int replica;      /* 0 .. replicas-1 */
  int replicas;
  unsigned inputs_connected; /* bit p: input pad p has an edge (set before init) */
  unsigned outputs_unconnected; /* bit p: output pad p has no edge: what it would carry ends here, so a
                                   node whose record outputs are all unconnected counts as a sink */
  yt_params params;
  void *state;
  yt_node_counts counts;
  /* node-specific counters for the summary ("skipped_records", ...) */
  const char *extra_name[YT_MAX_EXTRA];
  uint64_t extra[YT_MAX_EXTRA];
  int n_extra;
  /* progress a source knows: work done / total (records or bytes), 0 = unknown */
  uint64_t progress_done, progress_total;
  const char *progress_unit; /* "records", "bytes" */
  /* owned by the runner or the harness */
  void *host;
  int (*emit_fn)(yt_node *n, int pad, yt_msg *m, yt_err *err);
  int (*metrics_fn)(yt_node *n, const char *json, yt_err *err); /* NULL: dropped */
  int (*drain_fn)(yt_node *n);                                    /* NULL: ignored */
  int (*alloc_fn)(yt_node *n, int pad, size_t len, yt_buf *out);  /* NULL: malloc */
  int (*refs_fn)(yt_node *n, int pad);                            /* NULL: no references (0) */
  volatile int stopping;
};

/* Sends m on output pad `pad` (blocks while the edge is full) and clears m;
 * the message's frames may be owned or borrowed (valid until this returns). */
int yt_node_emit(yt_node *n, int pad, yt_msg *m, yt_err *err);
/* A buffer of len bytes for a frame this node will emit on `pad`, as an owned
 * yt_buf: where the runner sends it from without a copy (its shared-memory
 * pool, transport/shm.h) when it can, else malloc'd. Builders that know their
 * output size ahead fill it in place; release with yt_buf_free if unsent. */
int yt_node_alloc_frame(yt_node *n, int pad, size_t len, yt_buf *out, yt_err *err);
/* Whether pad's consumers can take records messages by reference (payload.h,
 * YT_REC_BY_REF: where the records lie, read by the consumer's runner before
 * its node sees them): 0 when not (another host, a compressed edge, no
 * shared memory); else how many processes share the reading, i.e. the
 * replicas of the one consumer node (1 when several nodes take each message:
 * each would read it). tfrecord_reader decides from this. */
static inline int yt_node_ref_readers(yt_node *n, int pad) { return n->refs_fn ? n->refs_fn(n, pad) : 0; }
/* Drain requested (first Ctrl-C): a source should stop and return YT_EOF. */
static inline bool yt_node_stopping(const yt_node *n) { return n->stopping != 0; }
/* A received record discarded on purpose, for the exactly-once accounting. */
void yt_node_drop(yt_node *n, uint32_t shard, uint64_t index);
/* Publishes one metrics object (JSON text: {"step": S, "scalars": {TAG: v}})
 * on the coordinator's tap, beside the node's stats. Does not block on
 * subscribers; in the harness it goes nowhere. */
int yt_node_publish(yt_node *n, const char *json, yt_err *err);
/* The same object both ways: on the tap (yt_node_publish) and as a metrics
 * message on output pad `pad` (for tensorboard_sink and the like). */
int yt_node_emit_metrics(yt_node *n, int pad, const char *json, yt_err *err);
/* Asks the whole graph to drain, as a first Ctrl-C does (train at max_steps):
 * the sources stop and end-of-stream flows; what is in flight still arrives. */
void yt_node_request_drain(yt_node *n);
/* Adds v to a named counter that shows up in the summary and the tap. */
void yt_node_count(yt_node *n, const char *name, uint64_t v);

/* The hash of one (shard, index) pair summed by the accounting. */
uint64_t yt_record_hash(uint32_t shard, uint64_t index);

/* Registry (generated from the files in nodes/). */
const yt_node_def *yt_node_find(const char *type);
const yt_node_def *const *yt_node_all(size_t *n);
int yt_node_pad(const yt_pad_def *pads, int n, const char *name); /* index or -1 */

/* Sets up n for def (params from defaults; state allocated) and frees it. Used
 * by the runner and the harness; parameters are then set with yt_params_set
 * or from the plan, and init is called by the caller. */
int yt_node_setup(yt_node *n, const yt_node_def *def, const char *name, int replica, int replicas, yt_err *err);
void yt_node_teardown(yt_node *n);

/* For the runner and the harness: the counters and the exactly-once
 * accounting of one DATA message going in (pad) or out. A node with no
 * record-carrying inputs counts what it emits as `emitted`; one with no
 * record-carrying outputs counts what it receives as `consumed`. */
int yt_node_account_in(yt_node *n, int pad, const yt_msg *m, yt_err *err);
int yt_node_account_out(yt_node *n, int pad, const yt_msg *m, yt_err *err);
bool yt_pad_carries_records(const char *type);

#endif
