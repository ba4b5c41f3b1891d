/* tensorboard_sink.c: writes the metrics that arrive as TensorBoard event
 * files (events.out.tfevents.<time>.<host> in logdir, scalars only, one file
 * per run), so `tensorboard --logdir TRAIN_DIR` plots a run as it does the
 * starter code's. Flushed after every step: TensorBoard reads live files.
 *
 * Not here: the event encoding (formats/tfevents.c); metrics that are not
 * numbers are skipped.
 *
 * Pads: in "metrics"; no outputs.
 *
 *   node tb : tensorboard_sink { logdir = "${train_dir}" }
 *   train -> tb
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/node.h"
#include "core/payload.h"
#include "formats/tfevents.h"

typedef struct tb_state {
  yt_tfevents *w;
  uint64_t events;
} tb_state;

static const yt_param_def params[] = {
    {"logdir", YT_P_STRING, NULL, YT_NORANGE, NULL, "directory of the event file (made if missing)"},
};

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad;
  tb_state *s = n->state;
  const char *json;
  size_t len;
  int rc = yt_metrics_decode(m, &json, &len, err);
  if (rc < 0) return rc;
  if (!s->w && (rc = yt_tfevents_open(&s->w, yt_param_str(&n->params, "logdir"), 0, err)) < 0) return rc;
  cJSON *o = cJSON_ParseWithLength(json, len);
  const cJSON *sc = o ? cJSON_GetObjectItem(o, "scalars") : NULL;
  const cJSON *st = o ? cJSON_GetObjectItem(o, "step") : NULL;
  if (!cJSON_IsObject(sc) || !cJSON_IsNumber(st)) {
    cJSON_Delete(o);
    return yt_fail(err, YT_ECORRUPT, "tensorboard_sink: a metrics message without \"step\" and \"scalars\"");
  }
  const char *tags[64];
  float values[64];
  size_t k = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, sc) if (cJSON_IsNumber(it) && k < 64) tags[k] = it->string, values[k++] = (float)it->valuedouble;
  if (k) rc = yt_tfevents_scalars(s->w, (int64_t)st->valuedouble, k, tags, values, 0, err);
  cJSON_Delete(o);
  s->events++;
  return rc;
}

static int flush(yt_node *n, yt_err *err) {
  tb_state *s = n->state;
  if (!s->w) return YT_OK;
  fprintf(stderr, "tensorboard_sink: %llu events in %s\n", (unsigned long long)s->events, yt_tfevents_path(s->w));
  int rc = yt_tfevents_close(s->w, err);
  s->w = NULL;
  return rc;
}

static void fini(yt_node *n) {
  tb_state *s = n->state;
  if (s->w) yt_tfevents_close(s->w, NULL);
}

const yt_node_def yt_node_tensorboard_sink = {
    .name = "tensorboard_sink",
    .summary = "writes metrics as TensorBoard event files (scalars)",
    .inputs = {{"in", "metrics", "metrics from train or metrics nodes"}},
    .n_inputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(tb_state),
    .process = process,
    .flush = flush,
    .fini = fini,
};
