/* node.c: the node registry and the calls a node's code makes (node.h). */
#include "core/node.h"

#include "core/payload.h"

#include <stdlib.h>
#include <string.h>

extern const yt_node_def *const yt_node_registry[]; /* generated: build/registry.c */

const yt_node_def *const *yt_node_all(size_t *n) {
  size_t k = 0;
  while (yt_node_registry[k]) k++;
  *n = k;
  return yt_node_registry;
}

const yt_node_def *yt_node_find(const char *type) {
  for (size_t i = 0; yt_node_registry[i]; i++)
    if (!strcmp(yt_node_registry[i]->name, type)) return yt_node_registry[i];
  return NULL;
}

int yt_node_pad(const yt_pad_def *pads, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(pads[i].name, name)) return i;
  return -1;
}

bool yt_pad_carries_records(const char *type) {
  return !strcmp(type, "records") || !strcmp(type, "videos") || !strcmp(type, "batch") ||
         !strcmp(type, "predictions") || !strcmp(type, "any");
}

int yt_node_publish(yt_node *n, const char *json, yt_err *err) {
  return n->metrics_fn ? n->metrics_fn(n, json, err) : YT_OK;
}

int yt_node_emit_metrics(yt_node *n, int pad, const char *json, yt_err *err) {
  int rc = yt_node_publish(n, json, err);
  yt_msg m;
  if (!rc) rc = yt_metrics_msg(&m, json, err);
  if (!rc) rc = yt_node_emit(n, pad, &m, err);
  return rc;
}

void yt_node_request_drain(yt_node *n) {
  if (n->drain_fn) n->drain_fn(n);
}

/* splitmix64 finalizer over the packed pair: sums of these hashes differ when
 * the multisets of pairs differ (with overwhelming probability), so a loss and
 * a duplicate cannot cancel out the way bare counts would. */
uint64_t yt_record_hash(uint32_t shard, uint64_t index) {
  uint64_t z = ((uint64_t)shard << 40) ^ index ^ 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int is_source(const yt_node_def *d) {
  for (int i = 0; i < d->n_inputs; i++)
    if (yt_pad_carries_records(d->inputs[i].type)) return 0;
  return 1;
}

static int is_sink(const yt_node *n) {
  for (int i = 0; i < n->def->n_outputs; i++)
    if (yt_pad_carries_records(n->def->outputs[i].type) && !(n->outputs_unconnected & (1u << i))) return 0;
  return 1;
}

static size_t msg_bytes(const yt_msg *m) {
  size_t b = 0;
  for (size_t i = 0; i < m->nframes; i++) b += m->frames[i].len;
  return b;
}

/* Adds the (shard, index) pairs of m to *count / *hash. */
static int account(const yt_msg *m, uint64_t *count, uint64_t *hash, yt_err *err) {
  uint32_t n, one;
  const uint32_t *shards;
  const uint64_t *index;
  int rc = yt_payload_ids(m, &n, &shards, &one, &index, err);
  if (rc) return rc;
  uint64_t h = 0;
  for (uint32_t i = 0; i < n; i++) h += yt_record_hash(shards ? shards[i] : one, index[i]);
  *count += n;
  *hash += h;
  return YT_OK;
}

int yt_node_account_in(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  n->counts.in_msgs++;
  n->counts.in_records += m->records;
  n->counts.in_bytes += msg_bytes(m);
  if (pad >= 0 && pad < n->def->n_inputs && yt_pad_carries_records(n->def->inputs[pad].type) && is_sink(n))
    return account(m, &n->counts.consumed, &n->counts.consumed_hash, err);
  return YT_OK;
}

int yt_node_account_out(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  n->counts.out_msgs++;
  n->counts.out_records += m->records;
  n->counts.out_bytes += msg_bytes(m);
  if (pad >= 0 && pad < n->def->n_outputs && yt_pad_carries_records(n->def->outputs[pad].type) &&
      is_source(n->def))
    return account(m, &n->counts.emitted, &n->counts.emitted_hash, err);
  return YT_OK;
}

int yt_node_emit(yt_node *n, int pad, yt_msg *m, yt_err *err) {
  if (pad < 0 || pad >= n->def->n_outputs) {
    yt_msg_clear(m);
    return yt_fail(err, YT_EINVAL, "node %s (%s) emitted on output pad %d, which it does not have", n->name,
                   n->def->name, pad);
  }
  int rc = yt_node_account_out(n, pad, m, err);
  if (!rc) rc = n->emit_fn(n, pad, m, err);
  yt_msg_clear(m);
  return rc;
}

int yt_node_alloc_frame(yt_node *n, int pad, size_t len, yt_buf *out, yt_err *err) {
  if (n->alloc_fn && n->alloc_fn(n, pad, len, out)) return YT_OK;
  void *p = malloc(len ? len : 1);
  if (!p) return yt_fail(err, YT_ENOMEM, "out of memory allocating a %zu-byte frame", len);
  *out = (yt_buf){.data = p, .len = len, .owned = 1};
  return YT_OK;
}

void yt_node_drop(yt_node *n, uint32_t shard, uint64_t index) {
  n->counts.dropped++;
  n->counts.dropped_hash += yt_record_hash(shard, index);
}

void yt_node_count(yt_node *n, const char *name, uint64_t v) {
  for (int i = 0; i < n->n_extra; i++)
    if (!strcmp(n->extra_name[i], name)) { n->extra[i] += v; return; }
  if (n->n_extra == YT_MAX_EXTRA) return; /* a node declaring more counters than fit: ignored */
  n->extra_name[n->n_extra] = name;
  n->extra[n->n_extra++] = v;
}

int yt_node_setup(yt_node *n, const yt_node_def *def, const char *name, int replica, int replicas, yt_err *err) {
  memset(n, 0, sizeof *n);
  n->def = def;
  n->name = name;
  n->replica = replica;
  n->replicas = replicas;
  int rc = yt_params_init(&n->params, def->params, (size_t)def->n_params, err);
  if (rc) return rc;
  if (def->state_size && !(n->state = calloc(1, def->state_size))) {
    yt_params_free(&n->params);
    return yt_fail(err, YT_ENOMEM, "out of memory");
  }
  return YT_OK;
}

void yt_node_teardown(yt_node *n) {
  yt_params_free(&n->params);
  free(n->state);
  n->state = NULL;
}
