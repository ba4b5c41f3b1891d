/* infer.c: runs a trained model over the batches that arrive and emits its
 * predictions (one row of num_classes scores per video, with the video's id
 * and labels), as the starter code's eval.py / inference.py forward pass.
 *
 * The model comes from train_dir (its latest checkpoint) or from a bundle
 * made by `yt8m-flow bundle` (input_model_tgz), as the starter's flags;
 * use_ema runs a checkpoint's EMA shadows instead of its raw weights (as
 * eval.py --use_EMA, REFERENCE.md 6.1).
 * Not here: metrics (the metrics node), the CSV (csv_sink).
 *
 * Pads: in "batch", model "model" (optional: train's final checkpoint, so
 * that one graph trains and then evaluates); out "predictions".
 *
 *   node infer : infer x2 { train_dir = "runs/moe" }
 *   batch -> infer -> eval
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/node.h"
#include "cJSON.h"
#include "core/payload.h"
#include "formats/safetensors.h"
#include "formats/tgz.h"
#include "model/checkpoint.h"
#include "model/ensemble.h"
#include "model/input.h"
#include "model/model.h"

#define MAX_MEMBERS 8

/* One model; an ensemble bundle (yt8m-flow ensemble) has several. */
typedef struct member {
  yt_model_config cfg;
  yt_st_file *ckpt;
  yt_model *model;
  double w; /* its weight in the mean */
} member;

typedef struct infer_state {
  yt_model_config cfg; /* member 0's: the input's shape */
  const yt_backend *be; /* the device parameter, opened at init */
  member m[MAX_MEMBERS];
  int nm;
  yt_st_file *ckpt; /* member 0's */
  int max_batch;
  int use_ema; /* load NAME/ExponentialMovingAverage as NAME */
  int64_t step;
  yt_model_input in;
  float *probs, *part; /* [max_batch, C]: the output; one member's (ensembles) */
  char source[4096];
} infer_state;

static const yt_param_def params[] = {
    {"train_dir", YT_P_STRING, "\"\"", YT_NORANGE, NULL, "load the latest checkpoint of this train dir"},
    {"input_model_tgz", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "or load a bundle made by `yt8m-flow bundle` (model_flags.json + weights), quantize or ensemble"},
    {"use_ema", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "run the checkpoint's EMA shadows (train with ema_halflife > 0) instead of its raw weights"},
    {"sample_all", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "DbofModel, NetVLADModelLF: take the first frames in order instead of random ones (deterministic eval)"},
    {"device", YT_P_STRING, "\"cpu\"", YT_NORANGE, NULL,
     "where the model runs: \"cpu\" (OpenBLAS) or \"cuda:N\" (the CUDA backend of a -DYT_CUDA=ON build)"},
    {"allow_tf32", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "cuda: let cuBLAS use TF32 tensor cores for sgemm (faster, ~1e-3 relative error); false = fp32 as the CPU"},
    {"seed", YT_P_INT, "1", YT_NORANGE, NULL, "DbofModel, NetVLADModelLF: frame-sampling seed (per replica)"},
};

/* An ensemble bundle's members (ensemble.json: weights, members). */
static int open_members(infer_state *s, const yt_tgz *t, const yt_tgz_entry *ens, const char *tgz, yt_err *err) {
  char *text = strndup((const char *)ens->data, ens->len);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  free(text);
  const cJSON *jw = cJSON_GetObjectItem(j, "weights"), *jm = cJSON_GetObjectItem(j, "members");
  int n = cJSON_GetArraySize(jm), rc = YT_OK;
  if (!j || !cJSON_IsArray(jw) || !cJSON_IsArray(jm) || n < 1 || n > MAX_MEMBERS || cJSON_GetArraySize(jw) != n)
    rc = yt_fail(err, YT_ECORRUPT, "%s: ensemble.json is not {\"weights\": [...], \"members\": [...]} with 1..%d "
                 "members (make ensembles with yt8m-flow ensemble)", tgz, MAX_MEMBERS);
  for (int i = 0; rc == YT_OK && i < n; i++) {
    const cJSON *name = cJSON_GetArrayItem(jm, i), *w = cJSON_GetArrayItem(jw, i);
    const yt_tgz_entry *e = cJSON_IsString(name) ? yt_tgz_find(t, name->valuestring) : NULL;
    if (!e || !cJSON_IsNumber(w)) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: ensemble.json member %d is missing from the archive", tgz, i);
      break;
    }
    char label[4200];
    snprintf(label, sizeof label, "%s:%s", tgz, name->valuestring);
    rc = yt_st_open_mem(&s->m[i].ckpt, e->data, e->len, label, err);
    s->m[i].w = w->valuedouble;
    s->nm = i + 1;
  }
  cJSON_Delete(j);
  return rc;
}

/* Opens the checkpoint or the bundle's weights (or an ensemble's members) into s->m. */
static int open_model(infer_state *s, const char *train_dir, const char *tgz, yt_err *err) {
  if (*train_dir && *tgz)
    return yt_fail(err, YT_EUSAGE, "infer: set train_dir or input_model_tgz, not both (as the starter code)");
  if (!*train_dir && !*tgz) return yt_fail(err, YT_EUSAGE, "infer: set train_dir or input_model_tgz");
  if (*train_dir) {
    int64_t step;
    int rc = yt_ckpt_latest(train_dir, s->source, sizeof s->source, &step, err);
    if (rc == YT_EOF)
      return yt_fail(err, YT_EINVAL,
                     "infer: no checkpoint (model.ckpt-N.safetensors) in %s: train first, or point train_dir at "
                     "the directory train wrote",
                     train_dir);
    s->nm = 1, s->m[0].w = 1;
    return yt_st_open(&s->m[0].ckpt, s->source, err);
  }
  yt_tgz *t;
  int rc = yt_tgz_read(&t, tgz, err);
  if (rc < 0) return rc;
  snprintf(s->source, sizeof s->source, "%s", tgz);
  const yt_tgz_entry *ens = yt_tgz_find(t, "ensemble.json");
  if (ens) {
    rc = open_members(s, t, ens, tgz, err);
    yt_tgz_free(t);
    return rc;
  }
  const yt_tgz_entry *e = yt_tgz_find(t, "inference_model.safetensors");
  if (!e) {
    yt_tgz_free(t);
    return yt_fail(err, YT_EINVAL, "%s: no inference_model.safetensors inside (make bundles with yt8m-flow bundle)",
                   tgz);
  }
  char name[4200];
  snprintf(name, sizeof name, "%s:inference_model.safetensors", tgz);
  rc = yt_st_open_mem(&s->m[0].ckpt, e->data, e->len, name, err);
  s->nm = 1, s->m[0].w = 1;
  yt_tgz_free(t);
  return rc;
}

static int load(yt_node *n, const char *train_dir, const char *tgz, yt_err *err) {
  infer_state *s = n->state;
  int rc = open_model(s, train_dir, tgz, err);
  if (rc < 0) return rc;
  s->ckpt = s->m[0].ckpt;
  for (int i = 0; i < s->nm; i++) {
    yt_model_config *c = &s->m[i].cfg;
    if ((rc = yt_ckpt_config(s->m[i].ckpt, c, err)) < 0) return rc;
    if (i && !yt_model_same_input(c, &s->cfg))
      return yt_fail(err, YT_EINVAL, "%s: ensemble member %d (%s) does not take member 0's input (%s)", s->source, i,
                     c->model, s->cfg.model);
    c->sample_all = yt_param_bool(&n->params, "sample_all");
    c->seed = (uint64_t)yt_param_int(&n->params, "seed") * 1000003u + (uint64_t)n->replica + 7919u * (uint64_t)i;
    if (!i) s->cfg = *c;
  }
  s->use_ema = yt_param_bool(&n->params, "use_ema");
  if (s->use_ema && s->nm > 1)
    return yt_fail(err, YT_EUSAGE, "infer: use_ema with an ensemble bundle: bundle each member with `yt8m-flow "
                   "bundle --use-ema` before `yt8m-flow ensemble`, and set use_ema = false");
  if (s->use_ema && !yt_ckpt_has_ema(s->ckpt))
    return yt_fail(err, YT_EINVAL,
                   "infer: use_ema = true, but %s holds no EMA shadows (NAME/ExponentialMovingAverage): %s",
                   yt_st_path(s->ckpt),
                   *yt_param_str(&n->params, "train_dir")
                       ? "train with ema_halflife > 0, or set use_ema = false"
                       : "a bundle holds the averaged weights as its weights when made with `yt8m-flow bundle "
                         "--use-ema`; run it with use_ema = false");
  if ((rc = yt_backend_open(yt_param_str(&n->params, "device"), yt_param_bool(&n->params, "allow_tf32"), &s->be,
                            err)) < 0)
    return rc;
  const char *st = yt_st_meta(s->ckpt, "step");
  s->step = st ? strtoll(st, NULL, 10) : 0;
  if (n->replica == 0 && s->nm == 1)
    fprintf(stderr, "infer: %s (%s, global step %" PRId64 "%s)\n", s->source, s->cfg.model, s->step,
            s->use_ema ? ", EMA shadows" : "");
  for (int i = 0; n->replica == 0 && s->nm > 1 && i < s->nm; i++)
    fprintf(stderr, "infer: %s: member %d %s, weight %g\n", s->source, i, s->m[i].cfg.model, s->m[i].w);
  return YT_OK;
}

/* With the "model" pad connected the model comes from a train node of the
 * same graph once it has finished (its final checkpoint); the runner reads
 * that pad to its end before any batch (yt_pad_def.first). */
static int init(yt_node *n, yt_err *err) {
  if (n->inputs_connected & (1u << 1)) return YT_OK;
  return load(n, yt_param_str(&n->params, "train_dir"), yt_param_str(&n->params, "input_model_tgz"), err);
}

/* {"train_dir": DIR, "step": N} from train's "model" pad */
static int model_arrived(yt_node *n, const yt_msg *m, yt_err *err) {
  infer_state *s = n->state;
  const char *json;
  size_t len;
  int rc = yt_metrics_decode(m, &json, &len, err);
  if (rc < 0) return rc;
  cJSON *o = cJSON_ParseWithLength(json, len);
  const cJSON *dir = cJSON_GetObjectItem(o, "train_dir");
  if (!cJSON_IsString(dir)) rc = yt_fail(err, YT_ECORRUPT, "infer: a message on 'model' without a train_dir");
  else if (s->nm) rc = yt_fail(err, YT_EUSAGE, "infer: a second model arrived on 'model' (connect one train node)");
  else rc = load(n, dir->valuestring, "", err);
  cJSON_Delete(o);
  return rc;
}

static int build(infer_state *s, int B, yt_err *err) {
  free(s->probs), free(s->part);
  s->probs = s->part = NULL;
  for (int i = 0; i < s->nm; i++) {
    member *mb = &s->m[i];
    yt_model_free(mb->model);
    mb->model = NULL;
    int rc = yt_model_new_on(&mb->model, &mb->cfg, B, s->be, 0, err);
    if (rc < 0) return rc;
    int64_t step;
    if ((rc = yt_ckpt_load(mb->ckpt, mb->model, NULL, &step, err)) < 0) return rc;
    if (s->use_ema) { /* the shadows over the raw weights: eval.py --use_EMA */
      if ((rc = yt_ckpt_load_ema(mb->ckpt, mb->model, yt_model_params(mb->model), err)) < 0) return rc;
      yt_model_params_changed(mb->model);
    }
  }
  s->max_batch = B;
  s->probs = malloc((size_t)B * s->cfg.num_classes * sizeof(float));
  s->part = malloc((size_t)B * s->cfg.num_classes * sizeof(float));
  return s->probs && s->part ? YT_OK : yt_fail(err, YT_ENOMEM, "out of memory");
}

/* probs [B, C] = sum_i w_i p_i over the members (one member: its p, unscaled). */
static int forward(infer_state *s, int B, yt_err *err) {
  size_t n = (size_t)B * s->cfg.num_classes;
  for (int i = 0; i < s->nm; i++) {
    yt_model *m = s->m[i].model;
    float *p = s->nm == 1 ? s->probs : s->part;
    int rc = s->in.q ? yt_model_forward_u8(m, s->in.q, s->in.num_frames, B, 0, p, err)
                     : yt_model_forward(m, s->in.x, s->in.num_frames, B, 0, p, err);
    if (rc < 0) return rc;
    if (s->nm == 1) break;
    float w = (float)s->m[i].w;
    for (size_t k = 0; k < n; k++) s->probs[k] = (i ? s->probs[k] : 0.0f) + w * p[k];
  }
  return YT_OK;
}

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  infer_state *s = n->state;
  if (pad == 1) return model_arrived(n, m, err);
  if (!s->nm)
    return yt_fail(err, YT_EUSAGE, "infer: batches arrived but no model did on 'model': its train node wrote no "
                   "checkpoint (did any batch reach it?)");
  yt_batch bt;
  int rc = yt_batch_decode(&bt, m, err);
  if (rc < 0) return rc;
  int B = (int)bt.n, C = s->cfg.num_classes;
  yt_batch_builder out;
  yt_batch_builder_init(&out, (uint32_t)C, YT_DT_F32, 0);
  out.step = (uint32_t)s->step;
  if (B > s->max_batch && (rc = build(s, B, err)) < 0) goto done;
  s->in.keep_u8 = 1; /* uint8 frames go to the model as they are: a device dequantizes them */
  if ((rc = yt_model_input_set(&s->in, &bt, &s->cfg, err)) < 0) goto done;
  if (B && (rc = forward(s, B, err)) < 0) goto done;
  for (int i = 0; i < B && !rc; i++)
    rc = yt_batch_add(&out, bt.shard[i], bt.index[i], bt.ids + bt.id_off[i], bt.id_off[i + 1] - bt.id_off[i],
                      bt.labels + bt.label_off[i], bt.label_off[i + 1] - bt.label_off[i],
                      s->probs + (size_t)i * C, 1, err);
  yt_msg msg;
  if (!rc) rc = yt_batch_to_msg(&out, &msg, err);
  if (!rc) rc = yt_node_emit(n, 0, &msg, err);
done:
  yt_batch_builder_free(&out);
  yt_batch_free(&bt);
  return rc;
}

static void fini(yt_node *n) {
  infer_state *s = n->state;
  for (int i = 0; i < s->nm; i++) {
    yt_model_free(s->m[i].model);
    yt_st_close(s->m[i].ckpt);
  }
  yt_model_input_free(&s->in);
  free(s->probs), free(s->part);
}

const yt_node_def yt_node_infer = {
    .name = "infer",
    .summary = "runs a trained model (train_dir or bundle) and emits per-video predictions",
    .inputs = {{"in", "batch", "batches from batcher"},
               {"model", "model", "optional: the model a train node of this graph ends with (then train_dir "
                "and input_model_tgz are not used); read before any batch", .optional = true, .first = true}},
    .n_inputs = 2,
    .outputs = {{"out", "predictions", "num_classes scores per video, with id and labels"}},
    .n_outputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .blas_threads = true,
    .state_size = sizeof(infer_state),
    .init = init,
    .process = process,
    .fini = fini,
};
