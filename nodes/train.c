/* train.c: trains a model on the batches that arrive, as the starter code's
 * train.py: Adam, staircase learning rate, per-variable clipping, L2; logs
 * "training step N | Loss: ..." lines, publishes per-step metrics, writes
 * checkpoints to train_dir (every export_model_steps steps and at the end)
 * and resumes from the latest one unless start_new_model.
 *
 * Not here: the math (model/), reading and batching (upstream nodes), the
 * event files (tensorboard_sink, fed by the metrics pad).
 *
 * Pads: in "batch" (from batcher); out "metrics" (one JSON object per step).
 * A sink for the accounting: every video that arrives is consumed, also the
 * ones that arrive after max_steps while the graph drains (not trained on).
 *
 *   node train : train { model = MoeModel; train_dir = "runs/moe" }
 *   batch -> train -> tb
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "core/fs.h"
#include "core/node.h"
#include "core/payload.h"
#include "formats/model_flags.h"
#include "formats/yt8m.h"
#include "model/adam.h"
#include "model/checkpoint.h"
#include "model/ema.h"
#include "model/input.h"
#include "model/metrics.h"
#include "model/model.h"

typedef struct train_state {
  yt_model_config cfg;
  const yt_backend *be; /* the device parameter, opened at init */
  yt_model *model;
  yt_adam adam;
  yt_ema ema;            /* the weights' moving average, when ema_halflife > 0 (optimizer slot 2) */
  int64_t ema_halflife;  /* 0: no EMA */
  yt_model_input in;
  float *probs;
  int max_batch;
  int64_t step, saved_step, max_steps, export_steps;
  int64_t examples; /* seen in this run */
  double base_lr, decay, decay_examples, clip;
  double loss_lambda;  /* distillation: weight of the teacher's predictions in the target */
  float *target;       /* [max_batch, C]: (1 - loss_lambda) labels + loss_lambda teacher */
  size_t target_cap;
  const char *train_dir;
  char feature_names[256], feature_sizes[128];
  int resumed, done, log_every;
  double t_start;    /* the first step's start, after the model is built */
  double t_last;     /* the latest step's end */
  double build_secs; /* building (and restoring) the model, outside [t_start, t_last] */
} train_state;

static const yt_param_def params[] = {
    {"model", YT_P_ENUM, "LogisticModel", YT_NORANGE,
     "LogisticModel|MoeModel|FrameLevelLogisticModel|DbofModel|LstmModel|NetVLADModelLF",
     "the starter code's --model"},
    {"train_dir", YT_P_STRING, NULL, YT_NORANGE, NULL,
     "checkpoints and model_flags.json go here; training resumes from the latest checkpoint in it"},
    {"start_new_model", YT_P_BOOL, "false", YT_NORANGE, NULL, "ignore checkpoints in train_dir and start over"},
    {"feature_names", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "as dequantize's; \"\" = rgb,audio (frame level) or mean_rgb,mean_audio (video level)"},
    {"feature_sizes", YT_P_STRING, "\"\"", YT_NORANGE, NULL, "as dequantize's; \"\" = 1024,128"},
    {"num_classes", YT_P_INT, "3862", 1, 1e7, NULL, "C, the output width"},
    {"max_frames", YT_P_INT, "300", 1, 100000, NULL, "frame level: rows per video (the batcher's max_frames)"},
    {"label_loss", YT_P_ENUM, "CrossEntropyLoss", YT_NORANGE, "CrossEntropyLoss|HingeLoss|SoftmaxLoss",
     "the loss minimized and printed"},
    {"loss_lambda", YT_P_FLOAT, "0.5", 0, 1, NULL,
     "distillation (batches with teacher_predictions): loss = (1 - loss_lambda) CE(labels) + loss_lambda "
     "CE(teacher); no effect on other input"},
    {"base_learning_rate", YT_P_FLOAT, "0.01", 0, 10, NULL, "Adam's learning rate before decay"},
    {"learning_rate_decay", YT_P_FLOAT, "0.95", 0, 1, NULL, "multiplied in every learning_rate_decay_examples"},
    {"learning_rate_decay_examples", YT_P_FLOAT, "4000000", 1, 1e15, NULL, "examples per decay step (staircase)"},
    {"clip_gradient_norm", YT_P_FLOAT, "1.0", 0, 1e9, NULL, "per-variable gradient norm clip; 0 = none"},
    {"regularization_penalty", YT_P_FLOAT, "1.0", 0, 1e9, NULL, "weight of the L2 terms in the loss"},
    {"moe_num_mixtures", YT_P_INT, "2", 1, 64, NULL, "MoE experts per class, not counting the dummy expert"},
    {"moe_l2", YT_P_FLOAT, "1e-8", 0, 1, NULL,
     "L2 on the MoE weights (the 2018 winner's NetVLADModelLF: 1e-6)"},
    {"l2_penalty", YT_P_FLOAT, "1e-8", 0, 1, NULL, "L2 on the logistic weights"},
    {"iterations", YT_P_INT, "30", 1, 100000, NULL,
     "DbofModel, NetVLADModelLF: frames sampled per video (the 2018 winner's NetVLADModelLF: 300)"},
    {"sample_random_frames", YT_P_BOOL, "true", YT_NORANGE, NULL,
     "DbofModel, NetVLADModelLF: independent random frames (true) or a random run of consecutive frames"},
    {"dbof_cluster_size", YT_P_INT, "8192", 1, 1e6, NULL, "DbofModel: K"},
    {"dbof_hidden_size", YT_P_INT, "1024", 1, 1e6, NULL, "DbofModel: H"},
    {"dbof_add_batch_norm", YT_P_BOOL, "true", YT_NORANGE, NULL, "DbofModel: batch norms (else biases)"},
    {"dbof_pooling_method", YT_P_ENUM, "max", YT_NORANGE, "max|average", "DbofModel: pooling over frames"},
    {"dbof_activation", YT_P_ENUM, "sigmoid", YT_NORANGE, "sigmoid|relu6", "DbofModel: activation"},
    {"lstm_layers", YT_P_INT, "2", 1, 100, NULL, "LstmModel: stacked LSTM layers (the model's table caps it)"},
    {"lstm_cells", YT_P_INT, "1024", 1, 1e5, NULL, "LstmModel: cells (H) of every layer"},
    {"netvlad_cluster_size", YT_P_INT, "256", 1, 1e6, NULL,
     "NetVLADModelLF: K clusters of the first feature's VLAD; the rest gets K/2 (the starter flag: 64)"},
    {"netvlad_hidden_size", YT_P_INT, "1024", 1, 1e6, NULL, "NetVLADModelLF: H, the hidden layer"},
    {"netvlad_add_batch_norm", YT_P_BOOL, "true", YT_NORANGE, NULL,
     "NetVLADModelLF: input_bn, cluster_bn, gating_bn (else biases)"},
    {"netvlad_relu", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "NetVLADModelLF: relu6 after the hidden layer, with hidden1_bn (the starter flag: true)"},
    {"gating", YT_P_BOOL, "true", YT_NORANGE, NULL,
     "NetVLADModelLF: context gating after the hidden layer (the starter flag: false)"},
    {"moe_prob_gating", YT_P_BOOL, "true", YT_NORANGE, NULL,
     "NetVLADModelLF: label gating of the MoE's probabilities (the starter flag: false)"},
    {"lightvlad", YT_P_BOOL, "false", YT_NORANGE, NULL, "NetVLADModelLF: LightVLAD, no cluster centres"},
    {"netvlad_intra_norm", YT_P_BOOL, "true", YT_NORANGE, NULL,
     "NetVLADModelLF: L2-normalize each cluster's residual (the winning solution); false keeps how much of the "
     "video each cluster took (not in the reference; see README, NetVLAD on gen data)"},
    {"gating_remove_diag", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "NetVLADModelLF: both gatings leave out their matrix's diagonal"},
    {"batch_norm_decay", YT_P_FLOAT, "0.999", 0, 1, NULL,
     "moving-average decay of the batch norms (slim's 0.999; 0.99 suits runs of a few thousand steps)"},
    {"ema_halflife", YT_P_INT, "0", 0, 9.2e18, NULL,
     "keep an exponential moving average of all weights (batch-norm statistics included), updated after every "
     "step with decay 1 - 1/ema_halflife, saved as NAME/ExponentialMovingAverage; 0 = none (the winner: 2000)"},
    {"max_steps", YT_P_INT, "0", 0, 9.2e18, NULL,
     "stop after this global step (the graph drains); 0 = when the input ends (num_epochs)"},
    {"export_model_steps", YT_P_INT, "1000", 0, 9.2e18, NULL, "checkpoint every N steps; 0 = only at the end"},
    {"log_every_steps", YT_P_INT, "1", 1, 1e9, NULL, "print a training line every N steps (the starter: 1)"},
    {"device", YT_P_STRING, "\"cpu\"", YT_NORANGE, NULL,
     "where the model runs: \"cpu\" (OpenBLAS) or \"cuda:N\" (the CUDA backend of a -DYT_CUDA=ON build)"},
    {"allow_tf32", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "cuda: let cuBLAS use TF32 tensor cores for sgemm (faster, ~1e-3 relative error); false = fp32 as the CPU"},
    {"seed", YT_P_INT, "1", YT_NORANGE, NULL, "initialization and frame sampling"},
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The model configuration the parameters describe (init and describe share
 * it). names/sizes get the feature names and sizes with their defaults. */
static int model_config(const yt_params *p, yt_model_config *c, char *names_out, size_t names_cap, char *sizes_out,
                        size_t sizes_cap, yt_err *err) {
  memset(c, 0, sizeof *c);
  snprintf(c->model, sizeof c->model, "%s", yt_param_str(p, "model"));
  yt_model_config_defaults(c);
  const char *names = yt_param_str(p, "feature_names"), *sizes = yt_param_str(p, "feature_sizes");
  snprintf(names_out, names_cap, "%s", *names ? names : c->frame_features ? "rgb,audio" : "mean_rgb,mean_audio");
  snprintf(sizes_out, sizes_cap, "%s", *sizes ? sizes : "1024,128");
  yt_schema schema; /* the same pairing and checks as dequantize's */
  int rc = yt_schema_init(&schema, c->frame_features ? YT_LEVEL_FRAME : YT_LEVEL_VIDEO, names_out, sizes_out, err);
  if (rc < 0) return rc;
  c->feature_dim = schema.dim;
  c->num_classes = (int)yt_param_int(p, "num_classes");
  c->max_frames = (int)yt_param_int(p, "max_frames");
  const char *loss = yt_param_str(p, "label_loss");
  c->label_loss = !strcmp(loss, "HingeLoss") ? YT_LOSS_HINGE : !strcmp(loss, "SoftmaxLoss") ? YT_LOSS_SOFTMAX
                                                                                               : YT_LOSS_CE;
  c->moe_num_mixtures = (int)yt_param_int(p, "moe_num_mixtures");
  c->moe_l2 = (float)yt_param_float(p, "moe_l2");
  c->l2_penalty = (float)yt_param_float(p, "l2_penalty");
  c->iterations = (int)yt_param_int(p, "iterations");
  c->sample_random_frames = yt_param_bool(p, "sample_random_frames");
  c->dbof_cluster_size = (int)yt_param_int(p, "dbof_cluster_size");
  c->dbof_hidden_size = (int)yt_param_int(p, "dbof_hidden_size");
  c->dbof_add_batch_norm = yt_param_bool(p, "dbof_add_batch_norm");
  c->dbof_pooling = strcmp(yt_param_str(p, "dbof_pooling_method"), "max") ? YT_POOL_AVERAGE : YT_POOL_MAX;
  c->dbof_activation = strcmp(yt_param_str(p, "dbof_activation"), "relu6") ? YT_ACT_SIGMOID : YT_ACT_RELU6;
  c->lstm_layers = (int)yt_param_int(p, "lstm_layers");
  c->lstm_cells = (int)yt_param_int(p, "lstm_cells");
  c->netvlad_cluster_size = (int)yt_param_int(p, "netvlad_cluster_size");
  c->netvlad_hidden_size = (int)yt_param_int(p, "netvlad_hidden_size");
  c->netvlad_video_dim = schema.sizes[0]; /* the video VLAD takes the first feature (rgb) */
  c->netvlad_add_batch_norm = yt_param_bool(p, "netvlad_add_batch_norm");
  c->netvlad_relu = yt_param_bool(p, "netvlad_relu");
  c->gating = yt_param_bool(p, "gating");
  c->moe_prob_gating = yt_param_bool(p, "moe_prob_gating");
  c->lightvlad = yt_param_bool(p, "lightvlad");
  c->netvlad_intra_norm = yt_param_bool(p, "netvlad_intra_norm");
  c->gating_remove_diag = yt_param_bool(p, "gating_remove_diag");
  c->batch_norm_decay = (float)yt_param_float(p, "batch_norm_decay");
  c->seed = (uint64_t)yt_param_int(p, "seed");
  double reg = yt_param_float(p, "regularization_penalty");
  if (reg != 1.0) { /* the model adds its L2 terms with weight 1, as the starter's default */
    c->l2_penalty = (float)(c->l2_penalty * reg);
    c->moe_l2 = (float)(c->moe_l2 * reg);
  }
  return YT_OK;
}

/* inspect train: the size of the model these parameters build. */
static int describe(const yt_params *p, char *buf, size_t cap, yt_err *err) {
  yt_model_config c;
  char names[256], sizes[256];
  size_t trainable, total;
  int rc = model_config(p, &c, names, sizeof names, sizes, sizeof sizes, err);
  if (rc < 0 || (rc = yt_model_count_params(&c, &trainable, &total, err)) < 0) return rc;
  snprintf(buf, cap,
           "model %s on %s (%s), %d classes: %zu trainable parameters (%.1f M) + %zu batch-norm statistics\n"
           "  = %.3f GB as float32; training keeps 4 such blocks (weights, gradients, Adam's m and v)\n",
           c.model, names, sizes, c.num_classes, trainable, trainable / 1e6, total - trainable, total * 4e-9);
  return YT_OK;
}

static int init(yt_node *n, yt_err *err) {
  train_state *s = n->state;
  const yt_params *p = &n->params;
  if (n->replicas != 1)
    return yt_fail(err, YT_EUSAGE,
                   "train: x%d replicas would train %d separate models; declare it x1 (data-parallel training "
                   "is not built yet)",
                   n->replicas, n->replicas);
  yt_model_config *c = &s->cfg;
  int rc = model_config(p, c, s->feature_names, sizeof s->feature_names, s->feature_sizes, sizeof s->feature_sizes,
                        err);
  if (rc < 0) return rc;
  const char *loss = yt_param_str(p, "label_loss");
  s->train_dir = yt_param_str(p, "train_dir");
  s->base_lr = yt_param_float(p, "base_learning_rate");
  s->decay = yt_param_float(p, "learning_rate_decay");
  s->decay_examples = yt_param_float(p, "learning_rate_decay_examples");
  s->clip = yt_param_float(p, "clip_gradient_norm");
  s->loss_lambda = yt_param_float(p, "loss_lambda");
  s->max_steps = yt_param_int(p, "max_steps");
  s->export_steps = yt_param_int(p, "export_model_steps");
  s->log_every = (int)yt_param_int(p, "log_every_steps");

  /* the model is built at the first batch (its size sets the buffers); check the configuration and the
   * device now, without allocating the model */
  if ((rc = yt_model_count_params(c, NULL, NULL, err)) < 0) return rc;
  if ((rc = yt_backend_open(yt_param_str(p, "device"), yt_param_bool(p, "allow_tf32"), &s->be, err)) < 0)
    return rc;

  /* model_flags.json: written once; a train dir of another model is refused, as the starter does */
  yt_model_flags mf = {c->model, s->feature_sizes, s->feature_names, c->frame_features != 0, loss};
  yt_mf_value extra[] = {
      {.key = "num_classes", .type = YT_MF_INT, .i = c->num_classes},
      {.key = "max_frames", .type = YT_MF_INT, .i = c->max_frames},
      {.key = "writer", .type = YT_MF_STRING, .s = "yt8m-flow"},
  };
  char path[4096];
  snprintf(path, sizeof path, "%s/model_flags.json", s->train_dir);
  yt_err ignore;
  int64_t step;
  char ck[4096];
  if (yt_param_bool(p, "start_new_model") || yt_ckpt_latest(s->train_dir, ck, sizeof ck, &step, &ignore) != YT_OK)
    remove(path); /* nothing to resume: a fresh start may replace an old model_flags.json */
  if ((rc = yt_mkdirs(s->train_dir, err)) < 0) return rc;
  return yt_model_flags_ensure(path, &mf, extra, sizeof extra / sizeof extra[0], NULL, err);
}

/* The EMA shadows start at the weights (just initialized or restored), or
 * at the shadows of the checkpoint ckpt (NULL: none) when it has them. */
static int start_ema(yt_node *n, const char *ckpt, yt_err *err) {
  train_state *s = n->state;
  int rc = yt_ema_init_for(&s->ema, s->model, s->ema_halflife, err);
  yt_st_file *f = NULL;
  if (rc < 0 || !ckpt) return rc;
  if ((rc = yt_st_open(&f, ckpt, err)) < 0) return rc;
  rc = yt_ckpt_load_ema(f, s->model, yt_ema_shadows(&s->ema), err);
  yt_st_close(f);
  if (rc < 0) return rc;
  if (rc == YT_OK) yt_ema_shadows_changed(&s->ema);
  fprintf(stderr, "train: EMA shadows (ema_halflife %" PRId64 ") %s\n", s->ema_halflife,
          rc == YT_OK ? "restored from the checkpoint" : "start at the restored weights (the checkpoint has none)");
  return YT_OK;
}

/* Builds the model (first batch), then resumes from train_dir when it can. */
static int build(yt_node *n, int B, yt_err *err) {
  train_state *s = n->state;
  /* weights, gradients, Adam's two moments and the EMA shadows: one block on the device */
  s->ema_halflife = yt_param_int(&n->params, "ema_halflife");
  int rc = yt_model_new_on(&s->model, &s->cfg, B, s->be, s->ema_halflife ? 3 : 2, err);
  if (rc < 0) return rc;
  s->max_batch = B;
  if ((rc = yt_adam_init_for(&s->adam, s->model, err)) < 0) return rc;
  s->probs = malloc((size_t)B * s->cfg.num_classes * sizeof(float));
  if (!s->probs) return yt_fail(err, YT_ENOMEM, "out of memory");
  yt_model_init_params(s->model, s->cfg.seed);
  char path[4096];
  int64_t step;
  if (!yt_param_bool(&n->params, "start_new_model") &&
      yt_ckpt_latest(s->train_dir, path, sizeof path, &step, err) == YT_OK) {
    yt_st_file *f;
    if ((rc = yt_st_open(&f, path, err)) < 0) return rc;
    yt_model_config saved;
    rc = yt_ckpt_config(f, &saved, err);
    if (!rc && (strcmp(saved.model, s->cfg.model) || saved.feature_dim != s->cfg.feature_dim ||
                saved.num_classes != s->cfg.num_classes))
      rc = yt_fail(err, YT_EINVAL,
                   "%s is a %s with %d features and %d classes; this train node builds a %s with %d and %d (use "
                   "another train_dir, or start_new_model = true)",
                   path, saved.model, saved.feature_dim, saved.num_classes, s->cfg.model, s->cfg.feature_dim,
                   s->cfg.num_classes);
    if (!rc) rc = yt_ckpt_load(f, s->model, &s->adam, &s->step, err);
    yt_st_close(f);
    if (rc < 0) return rc;
    s->saved_step = s->step;
    s->resumed = 1;
    fprintf(stderr, "train: restored %s (global step %" PRId64 ")\n", path, s->step);
  }
  return s->ema_halflife ? start_ema(n, s->resumed ? path : NULL, err) : YT_OK;
}

static int save(yt_node *n, yt_err *err) {
  train_state *s = n->state;
  char path[4096];
  const float *ema = s->ema_halflife ? yt_ema_shadows(&s->ema) : NULL;
  int rc = yt_ckpt_save(s->train_dir, s->model, &s->adam, ema, s->step, s->feature_names, s->feature_sizes, path,
                        sizeof path, err);
  if (rc < 0) return rc;
  s->saved_step = s->step;
  fprintf(stderr, "train: saved %s\n", path);
  return YT_OK;
}

static int publish(yt_node *n, const yt_batch_metrics *bm, double loss, double reg, double lr, double eps,
                   yt_err *err) {
  train_state *s = n->state;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "step", (double)s->step);
  cJSON_AddNumberToObject(o, "examples", (double)s->examples);
  cJSON *sc = cJSON_AddObjectToObject(o, "scalars");
  cJSON_AddNumberToObject(sc, "label_loss", loss);
  cJSON_AddNumberToObject(sc, "reg_loss", reg);
  cJSON_AddNumberToObject(sc, "learning_rate", lr);
  cJSON_AddNumberToObject(sc, "global_step/Examples/Second", eps);
  if (bm) {
    cJSON_AddNumberToObject(sc, "model/Training_Hit@1", bm->hit_at_one);
    cJSON_AddNumberToObject(sc, "model/Training_Perr", bm->perr);
    cJSON_AddNumberToObject(sc, "model/Training_GAP", bm->gap);
  }
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  int rc = yt_node_emit_metrics(n, 0, text, err);
  free(text);
  return rc;
}

/* Distillation (REFERENCE.md 6.2): sum_c [lambda BCE(p, t) + (1 - lambda) BCE(p, y)] is BCE(p, q) with
 * the soft target q = lambda t + (1 - lambda) y, since BCE is linear in its target; so the loss is the
 * plain CrossEntropyLoss on q. Batch metrics (Hit@1, PERR, GAP) stay on the labels y. */
static int distill_target(train_state *s, const yt_batch *bt, const float **target, yt_err *err) {
  int C = s->cfg.num_classes;
  size_t n = (size_t)bt->n * C;
  if ((int)bt->teacher != C)
    return yt_fail(err, YT_EINVAL, "the batch has %u teacher predictions per video, the model %d classes", bt->teacher,
                   C);
  if (s->loss_lambda > 0 && s->cfg.label_loss != YT_LOSS_CE)
    return yt_fail(err, YT_EUSAGE,
                   "distillation (teacher predictions, loss_lambda %g) is defined for label_loss = CrossEntropyLoss; "
                   "set loss_lambda = 0 to train on the labels only", s->loss_lambda);
  if (n > s->target_cap) {
    float *t = realloc(s->target, n * sizeof *t);
    if (!t) return yt_fail(err, YT_ENOMEM, "out of memory for distillation targets");
    s->target = t, s->target_cap = n;
  }
  float l = (float)s->loss_lambda;
  for (size_t i = 0; i < n; i++) {
    float t = bt->teach[i];
    if (!(t >= 0.0f && t <= 1.0f))
      return yt_fail(err, YT_EINVAL, "video (shard %u, index %llu): teacher prediction %g for class %zu is not a "
                     "probability in [0, 1]", bt->shard[i / C], (unsigned long long)bt->index[i / C], (double)t,
                     i % C);
    s->target[i] = (1.0f - l) * s->in.labels[i] + l * t;
  }
  *target = s->target;
  return YT_OK;
}

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad;
  train_state *s = n->state;
  yt_batch bt;
  int rc = yt_batch_decode(&bt, m, err);
  if (rc < 0) return rc;
  if (s->done) { /* past max_steps: the graph is draining; as a sink, train has consumed them (accounted) */
    yt_batch_free(&bt);
    return YT_OK;
  }
  if (!s->model) {
    double b0 = now();
    if ((rc = build(n, (int)bt.n, err)) < 0) goto out;
    s->build_secs = now() - b0;
  }
  double t0 = now();
  if (!s->t_start) s->t_start = t0;
  if ((int)bt.n > s->max_batch) {
    rc = yt_fail(err, YT_EINVAL,
                 "a batch of %u videos after batches of %d: the model's buffers are sized by the first batch "
                 "(a batcher's batches are all batch_size, the last may be smaller)",
                 bt.n, s->max_batch);
    goto out;
  }
  s->in.keep_u8 = 1; /* uint8 frames go to the model as they are: a device dequantizes them */
  if ((rc = yt_model_input_set(&s->in, &bt, &s->cfg, err)) < 0) goto out;
  int B = (int)bt.n;
  if (!B) goto out;
  double lr = yt_learning_rate((float)s->base_lr, (float)s->decay, s->decay_examples, s->step, B);
  float loss, reg;
  /* the probabilities come back to the host for the batch metrics, every 10th step */
  float *probs = (s->step + 1) % 10 == 0 ? s->probs : NULL;
  rc = s->in.q ? yt_model_forward_u8(s->model, s->in.q, s->in.num_frames, B, 1, probs, err)
               : yt_model_forward(s->model, s->in.x, s->in.num_frames, B, 1, probs, err);
  if (rc < 0) goto out;
  const float *target = s->in.labels;
  if (bt.teacher && (rc = distill_target(s, &bt, &target, err)) < 0) goto out;
  if ((rc = yt_model_backward(s->model, target, &loss, &reg, err)) < 0) goto out;
  if (!isfinite(loss)) {
    rc = yt_fail(err, YT_EINVAL,
                 "the loss is %g at global step %" PRId64 ": lower base_learning_rate (now %g) or check the input",
                 (double)loss, s->step + 1, s->base_lr);
    goto out;
  }
  yt_adam_step(&s->adam, s->model, (float)lr, (float)s->clip);
  if (s->ema_halflife) yt_ema_step(&s->ema, s->model); /* after the step, as the winner's separate run */
  s->step++;
  s->examples += B;
  s->t_last = now();
  double eps = B / (s->t_last - t0);
  yt_batch_metrics bm, *bmp = NULL;
  if (s->step % 10 == 0) {
    if ((rc = yt_batch_metrics_train(&bm, s->probs, s->in.labels, B, s->cfg.num_classes, 20, loss, err)) < 0)
      goto out;
    bmp = &bm;
  }
  if (s->step % s->log_every == 0 || bmp) {
    char line[256];
    yt_fmt_train_line(line, sizeof line, s->step, loss, eps, bmp);
    fprintf(stderr, "%s\n", line);
  }
  if ((rc = publish(n, bmp, loss, reg, lr, eps, err)) < 0) goto out;
  if (s->export_steps && s->step - s->saved_step >= s->export_steps && (rc = save(n, err)) < 0) goto out;
  if (s->max_steps && s->step >= s->max_steps) {
    s->done = 1;
    fprintf(stderr, "train: reached max_steps %" PRId64 ": stopping the input\n", s->max_steps);
    if (s->step != s->saved_step && (rc = save(n, err)) < 0) goto out;
    yt_node_request_drain(n);
  }
out:
  yt_batch_free(&bt);
  return rc;
}

static int flush(yt_node *n, yt_err *err) {
  train_state *s = n->state;
  if (!s->model) {
    fprintf(stderr, "train: no batches arrived: nothing trained, no checkpoint written\n");
    return YT_OK;
  }
  double s0 = now();
  int rc = s->step != s->saved_step ? save(n, err) : YT_OK;
  double save_secs = now() - s0;
  /* the training loop's time, first step to last (input waits and intermediate
   * checkpoints included), as a training loop's clock would read; building the
   * model and the final checkpoint are said apart */
  double secs = s->t_start && s->t_last > s->t_start ? s->t_last - s->t_start : 0;
  fprintf(stderr, "train: %" PRId64 " examples in %.3f s (%.1f examples/s), global step %" PRId64 "\n",
          s->examples, secs, secs > 0 ? s->examples / secs : 0.0, s->step);
  fprintf(stderr, "train: model built in %.2f s, final checkpoint in %.2f s (not counted above)\n", s->build_secs,
          save_secs);
  yt_node_count(n, "global_step", (uint64_t)s->step);
  yt_node_count(n, "examples", (uint64_t)s->examples);
  if (!rc && !(n->outputs_unconnected & (1u << 1))) { /* the final checkpoint, for an infer node downstream */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "train_dir", yt_param_str(&n->params, "train_dir"));
    cJSON_AddNumberToObject(o, "step", (double)s->step);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    yt_msg msg;
    rc = text ? yt_metrics_msg(&msg, text, err) : yt_fail(err, YT_ENOMEM, "out of memory");
    if (!rc) rc = yt_node_emit(n, 1, &msg, err);
    free(text);
  }
  return rc;
}

static void fini(yt_node *n) {
  train_state *s = n->state;
  yt_model_free(s->model);
  yt_adam_free(&s->adam);
  yt_ema_free(&s->ema);
  yt_model_input_free(&s->in);
  free(s->target);
  free(s->probs);
}

const yt_node_def yt_node_train = {
    .name = "train",
    .summary = "trains a model (Logistic, MoE, FrameLevelLogistic, DBoF, NetVLAD) as the starter's train.py",
    .inputs = {{"in", "batch", "batches from batcher (float32, or uint8 frames)"}},
    .n_inputs = 1,
    .outputs = {{"metrics", "metrics", "per-step loss, Hit@1, PERR, GAP, examples/s, learning rate"},
                {"model", "model", "at the end, the final checkpoint's train_dir and step (for infer.model)"}},
    .n_outputs = 2,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .blas_threads = true,
    .state_size = sizeof(train_state),
    .describe = describe,
    .init = init,
    .process = process,
    .flush = flush,
    .fini = fini,
};
