/* metrics.c: evaluates predictions against their labels as the starter
 * code's eval.py: per batch Hit@1, PERR and loss with its log line; at the
 * end Avg_Hit@1, Avg_PERR, MAP and GAP (top_k 20 per video, pooled over every
 * video, over all positives) with its three final lines; optionally the
 * figures as JSON in output_file. Eval scalars (the reference's TensorBoard
 * tags) go out on the metrics pad.
 *
 * Not here: the math of the metrics (model/metrics.c). Needs x1: the pooled
 * GAP and mAP see every video.
 *
 * Pads: in "predictions" (from infer or ensemble); out "metrics".
 *
 *   node eval : metrics { top_k = 20; output_file = "runs/moe/eval.json" }
 *   infer -> eval -> tb
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/node.h"
#include "core/payload.h"
#include "model/input.h"
#include "model/loss.h"
#include "model/metrics.h"
#include "model/model.h"

typedef struct metrics_state {
  yt_metrics m;
  int C, top_k, loss;
  float *labels;
  size_t labels_cap;
  long long step;
  double t_last;
} metrics_state;

static const yt_param_def params[] = {
    {"num_classes", YT_P_INT, "0", 0, 1e7, NULL, "C: the predictions' width; 0 = take it from the first batch"},
    {"top_k", YT_P_INT, "20", 1, 1e6, NULL, "predictions per video that enter GAP and mAP"},
    {"label_loss", YT_P_ENUM, "CrossEntropyLoss", YT_NORANGE, "CrossEntropyLoss|HingeLoss|SoftmaxLoss",
     "the loss the log lines report"},
    {"output_file", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "also write the final figures as JSON here (\"\" = no file)"},
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int init(yt_node *n, yt_err *err) {
  metrics_state *s = n->state;
  if (n->replicas != 1)
    return yt_fail(err, YT_EUSAGE, "metrics: GAP and mAP pool every video; declare the node x1 (not x%d)",
                   n->replicas);
  s->C = (int)yt_param_int(&n->params, "num_classes");
  s->top_k = (int)yt_param_int(&n->params, "top_k");
  const char *l = yt_param_str(&n->params, "label_loss");
  s->loss = !strcmp(l, "HingeLoss") ? YT_LOSS_HINGE : !strcmp(l, "SoftmaxLoss") ? YT_LOSS_SOFTMAX : YT_LOSS_CE;
  s->step = -1;
  return s->C ? yt_metrics_init(&s->m, s->C, s->top_k, err) : YT_OK; /* else at the first batch */
}

static int emit_scalars(yt_node *n, long long step, const char *const *tags, const double *v, int k, yt_err *err) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "step", (double)step);
  cJSON *sc = cJSON_AddObjectToObject(o, "scalars");
  for (int i = 0; i < k; i++) cJSON_AddNumberToObject(sc, tags[i], v[i]);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  int rc = yt_node_emit_metrics(n, 0, text, err);
  free(text);
  return rc;
}

/* The predictions again on pad "out", when it is connected (a csv_sink after
 * the metrics): the records go on, so this node is no sink then (node.h). */
static int pass_on(yt_node *n, const yt_msg *m, yt_err *err) {
  if (n->outputs_unconnected & (1u << 1)) return YT_OK;
  yt_msg c;
  yt_msg_init(&c, m->type);
  c.records = m->records;
  int rc = YT_OK;
  for (size_t i = 0; i < m->nframes && !rc; i++) rc = yt_msg_add(&c, m->frames[i].data, m->frames[i].len, err);
  if (!rc) return yt_node_emit(n, 1, &c, err);
  yt_msg_clear(&c);
  return rc;
}

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad;
  metrics_state *s = n->state;
  if (!s->t_last) s->t_last = now();
  yt_batch bt;
  int rc = yt_batch_decode(&bt, m, err);
  if (rc < 0) return rc;
  if (!s->C && bt.dtype == YT_DT_F32 && bt.dim > 0) { /* num_classes = 0: the model's width */
    if ((rc = yt_metrics_init(&s->m, (int)bt.dim, s->top_k, err)) < 0) goto out;
    s->C = (int)bt.dim;
  }
  int B = (int)bt.n, C = s->C;
  if ((int)bt.dim != C || bt.dtype != YT_DT_F32) {
    rc = yt_fail(err, YT_EINVAL, "metrics: predictions of width %u, expected num_classes = %d float32", bt.dim, C);
    goto out;
  }
  s->step = bt.step;
  if ((size_t)B * C > s->labels_cap) {
    free(s->labels);
    s->labels_cap = (size_t)B * C;
    if (!(s->labels = malloc(s->labels_cap * sizeof(float)))) {
      rc = yt_fail(err, YT_ENOMEM, "out of memory");
      goto out;
    }
  }
  if ((rc = yt_batch_labels_dense(&bt, C, s->labels, err)) < 0) goto out;
  if (!B) goto out;
  const float *probs = bt.features;
  double loss = yt_loss_forward(s->loss, probs, s->labels, B, C);
  yt_batch_metrics bm;
  if ((rc = yt_metrics_add(&s->m, probs, s->labels, B, loss, &bm, err)) < 0) goto out;
  double t = now(), eps = B / (t - s->t_last > 0 ? t - s->t_last : 1e-9);
  s->t_last = t;
  char step[32], line[512];
  snprintf(step, sizeof step, "%lld", s->step);
  yt_fmt_eval_batch_line(line, sizeof line, s->m.examples, step, &bm, eps);
  fprintf(stderr, "%s\n", line);
  static const char *const tags[] = {"GlobalStep/Eval_Hit@1", "GlobalStep/Eval_Perr", "GlobalStep/Eval_Loss",
                                     "GlobalStep/Eval_Example_Second"};
  double v[] = {bm.hit_at_one, bm.perr, bm.loss, eps};
  rc = emit_scalars(n, s->m.examples, tags, v, 4, err);
out:
  yt_batch_free(&bt);
  if (!rc) rc = pass_on(n, m, err);
  return rc;
}

static int flush(yt_node *n, yt_err *err) {
  metrics_state *s = n->state;
  if (!s->m.examples) return yt_fail(err, YT_EINVAL, "metrics: no predictions arrived: nothing to evaluate");
  yt_eval_result r;
  int rc = yt_metrics_get(&s->m, &r, err);
  if (rc < 0) return rc;
  char step[32], line[512];
  snprintf(step, sizeof step, "%lld", s->step);
  fprintf(stderr, "%s\n", YT_EVAL_DONE_LINE);
  yt_fmt_eval_epoch_line(line, sizeof line, step, &r);
  fprintf(stderr, "%s\n", line);
  yt_fmt_eval_total_line(line, sizeof line, r.examples);
  fprintf(stderr, "%s\n", line);
  static const char *const tags[] = {"Epoch/Eval_Avg_Hit@1", "Epoch/Eval_Avg_Perr", "Epoch/Eval_Avg_Loss",
                                     "Epoch/Eval_MAP", "Epoch/Eval_GAP"};
  double v[] = {r.avg_hit_at_one, r.avg_perr, r.avg_loss, r.map, r.gap};
  if ((rc = emit_scalars(n, s->step, tags, v, 5, err)) < 0) return rc;
  const char *path = yt_param_str(&n->params, "output_file");
  if (*path) {
    FILE *f = fopen(path, "w");
    if (!f) return yt_fail(err, YT_EIO, "metrics: cannot write %s", path);
    fprintf(f,
            "{\"global_step\": %lld, \"examples\": %lld, \"hit_at_one\": %.9g, \"perr\": %.9g, \"map\": %.9g, "
            "\"gap\": %.9g, \"loss\": %.9g, \"num_classes\": %d}\n",
            s->step, r.examples, r.avg_hit_at_one, r.avg_perr, r.map, r.gap, r.avg_loss, r.num_classes);
    if (fclose(f)) return yt_fail(err, YT_EIO, "metrics: writing %s failed", path);
  }
  yt_node_count(n, "examples", (uint64_t)r.examples);
  return YT_OK;
}

static void fini(yt_node *n) {
  metrics_state *s = n->state;
  yt_metrics_free(&s->m);
  free(s->labels);
}

const yt_node_def yt_node_metrics = {
    .name = "metrics",
    .summary = "Hit@1, PERR, GAP and mAP of predictions, with the starter code's eval log lines",
    .inputs = {{"in", "predictions", "predictions with labels (infer, ensemble)"}},
    .n_inputs = 1,
    .outputs = {{"metrics", "metrics", "eval scalars (the reference's TensorBoard tags)"},
                {"out", "predictions", "the predictions, passed on unchanged (optional: e.g. to a csv_sink)"}},
    .n_outputs = 2,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(metrics_state),
    .init = init,
    .process = process,
    .flush = flush,
    .fini = fini,
};
