/* null_sink.c: sink node: counts what arrives and discards it. For benchmarks,
 * smoke tests, and comparing two runs (checksum = true).
 *
 * Not a validator of payloads: it never decodes them; the runner's
 * exactly-once accounting still sees every record it consumes.
 *
 * Pads: in "any"; no outputs.
 *
 *   node sink : null_sink { expect_records = 2069; checksum = true }
 */
#include <stdio.h>

#include "core/node.h"

typedef struct null_state {
  uint64_t records, hash;
  int64_t expect;
  bool checksum;
} null_state;

static const yt_param_def params[] = {
    {"expect_records", YT_P_INT, "-1", -1, 9.2e18, NULL,
     "fail at the end unless exactly this many records arrived (-1 = no check; needs x1)"},
    {"checksum", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "report a 64-bit FNV-1a of every payload frame, in arrival order, as counter 'checksum'"},
};

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static int init(yt_node *n, yt_err *err) {
  null_state *s = n->state;
  s->expect = yt_param_int(&n->params, "expect_records");
  s->checksum = yt_param_bool(&n->params, "checksum");
  s->hash = FNV_OFFSET;
  if (s->expect >= 0 && n->replicas != 1)
    return yt_fail(err, YT_EUSAGE,
                   "null_sink: expect_records counts what one replica receives; with x%d each sees only a part "
                   "(declare the node with x1, or drop expect_records)",
                   n->replicas);
  return YT_OK;
}

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad, (void)err;
  null_state *s = n->state;
  s->records += m->records;
  if (!s->checksum) return YT_OK;
  uint64_t h = s->hash;
  for (size_t f = 0; f < m->nframes; f++) {
    const uint8_t *p = m->frames[f].data;
    for (size_t i = 0; i < m->frames[f].len; i++) h = (h ^ p[i]) * FNV_PRIME;
  }
  s->hash = h;
  return YT_OK;
}

static int flush(yt_node *n, yt_err *err) {
  null_state *s = n->state;
  if (s->checksum) yt_node_count(n, "checksum", s->hash);
  if (s->expect >= 0 && (uint64_t)s->expect != s->records)
    return yt_fail(err, YT_EINVAL, "null_sink: expected %lld records, got %llu", (long long)s->expect,
                   (unsigned long long)s->records);
  return YT_OK;
}

const yt_node_def yt_node_null_sink = {
    .name = "null_sink",
    .summary = "counts and discards whatever arrives; optional record-count check and checksum",
    .inputs = {{"in", "any", "anything"}},
    .n_inputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(null_state),
    .init = init,
    .process = process,
    .flush = flush,
};
