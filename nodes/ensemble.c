/* ensemble.c: node `ensemble`: the weighted mean of several models'
 * predictions (REFERENCE.md 6.4: predictions = sum_i w_i p_i), as the 2018
 * winners' graph_ensemble.py, but between processes: each member is its own
 * infer node fed the same batches (an output with several edges copies).
 *
 *   batch -> a : infer { train_dir = "runs/dbof" }   -> ens.in0
 *   batch -> b : infer { train_dir = "runs/netvlad" } -> ens.in1
 *   node ens : ensemble { weights = "0.4,0.6" } -> metrics
 *
 * Predictions are zipped per video by (shard, index), not per message: the
 * members' replicas may deliver in any order. A video leaves when every
 * connected input has delivered it; what is still waiting at the end is an
 * error naming a video and the input it lacks. Memory: the videos one
 * member is ahead of another (C floats each).
 *
 * Pads: in0, in1 (and optionally in2, in3) "predictions" -> out "predictions". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "model/ensemble.h"

#define NIN 4

typedef struct {
  uint32_t shard;
  uint64_t index;
  unsigned seen;  /* bit p: input p delivered */
  char *id;
  size_t id_len;
  int32_t *labels;
  size_t n_labels;
  float *sum;     /* [C]: sum of w_p p_p so far */
  bool used;
} entry;

typedef struct {
  double w[NIN];   /* per input pad; 0 for an unconnected one */
  unsigned all;    /* inputs_connected */
  int C;           /* from the first message */
  uint32_t step;
  entry *tab;      /* open addressing on (shard, index) */
  size_t cap, n;
  yt_batch_builder out;
} ens_state;

static const yt_param_def params[] = {
    {"weights", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "comma-separated weight per connected input, in0 first, summing to 1; \"\" = equal weights"},
};

static int init(yt_node *n, yt_err *err) {
  ens_state *s = n->state;
  s->all = n->inputs_connected;
  int k = 0;
  for (int p = 0; p < NIN; p++) k += (s->all >> p) & 1;
  if (!(s->all & 1) || !(s->all & 2))
    return yt_fail(err, YT_EUSAGE, "ensemble: connect in0 and in1 (in2 and in3 are optional)");
  /* one weight per connected input, in pad order */
  double w[NIN];
  int rc = yt_ensemble_weights(yt_param_str(&n->params, "weights"), k, "connected inputs", w, err);
  if (rc < 0) {
    yt_err_prefix(err, "ensemble: ");
    return rc;
  }
  for (int p = 0, i = 0; p < NIN; p++) s->w[p] = (s->all >> p) & 1 ? w[i++] : 0;
  return YT_OK;
}

static size_t slot(const ens_state *s, uint32_t shard, uint64_t index) {
  uint64_t h = (index * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)shard * 0xc2b2ae3d27d4eb4full);
  return (size_t)(h ^ (h >> 29)) & (s->cap - 1);
}

/* The entry of (shard, index), created when absent (NULL: out of memory). */
static entry *find(ens_state *s, uint32_t shard, uint64_t index) {
  if (2 * (s->n + 1) > s->cap) { /* grow: rehash */
    size_t old = s->cap, cap = old ? 2 * old : 1024;
    entry *t = calloc(cap, sizeof *t), *o = s->tab;
    if (!t) return NULL;
    s->tab = t, s->cap = cap;
    for (size_t i = 0; i < old; i++)
      if (o[i].used) {
        size_t j = slot(s, o[i].shard, o[i].index);
        while (t[j].used) j = (j + 1) & (cap - 1);
        t[j] = o[i];
      }
    free(o);
  }
  size_t j = slot(s, shard, index);
  while (s->tab[j].used && !(s->tab[j].shard == shard && s->tab[j].index == index)) j = (j + 1) & (s->cap - 1);
  entry *e = &s->tab[j];
  if (!e->used) {
    *e = (entry){.shard = shard, .index = index, .used = true};
    if (!(e->sum = calloc((size_t)s->C, sizeof *e->sum))) return NULL;
    s->n++;
  }
  return e;
}

/* Removes e, keeping every other key reachable (backward-shift deletion). */
static void erase(ens_state *s, entry *e) {
  free(e->id), free(e->labels), free(e->sum);
  size_t i = (size_t)(e - s->tab), j = i;
  s->tab[i].used = false;
  for (;;) {
    j = (j + 1) & (s->cap - 1);
    if (!s->tab[j].used) break;
    size_t home = slot(s, s->tab[j].shard, s->tab[j].index);
    /* move j back to i when i lies cyclically in [home, j) */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      s->tab[i] = s->tab[j];
      s->tab[j].used = false;
      i = j;
    }
  }
  s->n--;
}

static int emit(yt_node *n, ens_state *s, yt_err *err) {
  if (!s->out.n) return YT_OK;
  yt_msg m;
  s->out.step = s->step;
  int rc = yt_batch_to_msg(&s->out, &m, err);
  if (rc == YT_OK) rc = yt_node_emit(n, 0, &m, err);
  yt_msg_clear(&m);
  return rc;
}

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  ens_state *s = n->state;
  yt_batch bt;
  int rc = yt_batch_decode(&bt, m, err);
  if (rc < 0) return rc;
  if (bt.n && (bt.dtype != YT_DT_F32 || bt.frames > 1)) {
    yt_batch_free(&bt);
    return yt_fail(err, YT_EINVAL, "ensemble: input in%d is not predictions (one float32 row per video)", pad);
  }
  if (bt.n && !s->C) {
    s->C = (int)bt.dim;
    yt_batch_builder_init(&s->out, bt.dim, YT_DT_F32, 0);
  }
  if (pad == 0) s->step = bt.step;
  for (uint32_t i = 0; rc == YT_OK && i < bt.n; i++) {
    if ((int)bt.dim != s->C) {
      rc = yt_fail(err, YT_EINVAL, "ensemble: in%d gives %u classes, an earlier input %d: the members must be "
                   "trained on the same vocabulary", pad, bt.dim, s->C);
      break;
    }
    entry *e = find(s, bt.shard[i], bt.index[i]);
    if (!e) { rc = yt_fail(err, YT_ENOMEM, "out of memory holding %zu videos", s->n); break; }
    size_t id_len = bt.id_off[i + 1] - bt.id_off[i], nl = bt.label_off[i + 1] - bt.label_off[i];
    if (e->seen & (1u << pad)) {
      rc = yt_fail(err, YT_EINVAL, "ensemble: video '%.*s' (shard %u, record %llu) came twice on in%d", (int)id_len,
                   bt.ids + bt.id_off[i], bt.shard[i], (unsigned long long)bt.index[i], pad);
      break;
    }
    if (!e->id) { /* the first input to deliver it: keep its id and labels */
      e->id = malloc(id_len + 1), e->labels = malloc((nl + 1) * sizeof *e->labels);
      if (!e->id || !e->labels) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); break; }
      memcpy(e->id, bt.ids + bt.id_off[i], id_len), e->id_len = id_len;
      memcpy(e->labels, bt.labels + bt.label_off[i], nl * sizeof *e->labels), e->n_labels = nl;
    }
    const float *p = yt_batch_rows(&bt, i);
    float w = (float)s->w[pad];
    for (int c = 0; c < s->C; c++) e->sum[c] += w * p[c];
    e->seen |= 1u << pad;
    if (e->seen == s->all) {
      rc = yt_batch_add(&s->out, e->shard, e->index, e->id, e->id_len, e->labels, e->n_labels, e->sum, 1, err);
      erase(s, e);
    }
  }
  yt_batch_free(&bt);
  return rc < 0 ? rc : emit(n, s, err);
}

static int flush(yt_node *n, yt_err *err) {
  ens_state *s = n->state;
  for (size_t i = 0; i < s->cap; i++)
    if (s->tab[i].used) {
      const entry *e = &s->tab[i];
      int missing = 0;
      while (missing < NIN && (!((s->all >> missing) & 1) || (e->seen >> missing) & 1)) missing++;
      return yt_fail(err, YT_EINVAL,
                     "ensemble: %zu videos came from only some inputs, e.g. '%.*s' (shard %u, record %llu) never "
                     "came on in%d: every member must be fed the same videos",
                     s->n, (int)e->id_len, e->id, e->shard, (unsigned long long)e->index, missing);
    }
  return emit(n, s, err);
}

static void fini(yt_node *n) {
  ens_state *s = n->state;
  if (!s) return;
  for (size_t i = 0; i < s->cap; i++)
    if (s->tab[i].used) free(s->tab[i].id), free(s->tab[i].labels), free(s->tab[i].sum);
  free(s->tab);
  yt_batch_builder_free(&s->out);
}

const yt_node_def yt_node_ensemble = {
    .name = "ensemble",
    .summary = "weighted mean of several models' predictions, zipped per video (a graph-level ensemble)",
    .inputs = {{"in0", "predictions", "the first member's predictions (an infer node)"},
               {"in1", "predictions", "the second member's"},
               {"in2", "predictions", "a third member's (optional)", true},
               {"in3", "predictions", "a fourth member's (optional)", true}},
    .n_inputs = 4,
    .outputs = {{"out", "predictions", "sum_i w_i p_i per video, with the id and labels"}},
    .n_outputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(ens_state),
    .init = init,
    .process = process,
    .flush = flush,
    .fini = fini,
};
