/* model.c: the model interface (model.h): the table of model types, config
 * defaults and checks, the tensor table and the one parameter block, the
 * initializers, and the steps every model shares (checks, loss, L2 terms).
 * Not here: the models' layers (logistic.c, moe.c, frame_logistic.c, dbof.c,
 * netvlad.c), frame sampling (sample.c). */
#include "model/model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/closest.h"
#include "formats/yt8m.h"

static const yt_model_type *const types[] = {&yt_model_logistic, &yt_model_moe, &yt_model_frame_logistic,
                                             &yt_model_dbof, &yt_model_lstm, &yt_model_netvlad};
enum { NTYPES = sizeof types / sizeof types[0] };

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double unif53(uint64_t *x) { return (double)(splitmix64(x) >> 11) * 0x1p-53; } /* [0, 1) */

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

void yt_model_config_defaults(yt_model_config *cfg) {
  int netvlad = !strcmp(cfg->model, "NetVLADModelLF");
  int frame = !strcmp(cfg->model, "FrameLevelLogisticModel") || !strcmp(cfg->model, "DbofModel") ||
              !strcmp(cfg->model, "LstmModel") || netvlad;
  cfg->num_classes = 3862;
  cfg->feature_dim = 1152;
  cfg->frame_features = frame;
  cfg->max_frames = 300;
  cfg->label_loss = YT_LOSS_CE;
  cfg->l2_penalty = 1e-8f;
  cfg->moe_num_mixtures = 2;
  cfg->moe_l2 = 1e-8f;
  cfg->iterations = 30;
  cfg->sample_random_frames = 1;
  cfg->sample_all = 0;
  cfg->dbof_cluster_size = 8192;
  cfg->dbof_hidden_size = 1024;
  cfg->dbof_add_batch_norm = 1;
  cfg->dbof_pooling = YT_POOL_MAX;
  cfg->dbof_activation = YT_ACT_SIGMOID;
  cfg->lstm_layers = 2;
  cfg->lstm_cells = 1024;
  /* NetVLADModelLF: the starter flags' defaults (REFERENCE.md 2.7), and for a
   * NetVLADModelLF the 2018 winner's (3.3): cluster size 256, iterations 300,
   * no relu, context gating, label gating, moe_l2 1e-6 */
  cfg->netvlad_cluster_size = netvlad ? 256 : 64;
  cfg->netvlad_hidden_size = 1024;
  cfg->netvlad_video_dim = 1024;
  cfg->netvlad_add_batch_norm = 1;
  cfg->netvlad_relu = !netvlad;
  cfg->gating = netvlad;
  cfg->moe_prob_gating = netvlad;
  cfg->lightvlad = 0;
  cfg->gating_remove_diag = 0;
  cfg->netvlad_intra_norm = 1;
  if (netvlad) {
    cfg->iterations = 300;
    cfg->moe_l2 = 1e-6f;
  }
  cfg->batch_norm_decay = YT_BN_DECAY;
  cfg->seed = 0;
}

/* ---- construction ------------------------------------------------------------ */

static int check_config(const yt_model_config *c, const yt_model_type *t, int max_batch, yt_err *err) {
#define NEED(cond, ...) \
  do {                  \
    if (!(cond)) return yt_fail(err, YT_EUSAGE, __VA_ARGS__); \
  } while (0)
  NEED(max_batch >= 1, "%s: max_batch must be at least 1 (got %d)", t->name, max_batch);
  NEED(c->num_classes >= 1, "%s: num_classes must be at least 1 (got %d)", t->name, c->num_classes);
  NEED(c->feature_dim >= 1, "%s: feature_dim must be at least 1 (got %d)", t->name, c->feature_dim);
  NEED(c->frame_features == t->frame_level,
       "%s is a %s-level model: set frame_features = %d (yt_model_config_defaults does)", t->name,
       t->frame_level ? "frame" : "video", t->frame_level);
  NEED(!t->frame_level || c->max_frames >= 1, "%s: max_frames must be at least 1 (got %d)", t->name,
       c->max_frames);
  NEED(yt_loss_name(c->label_loss) != NULL, "%s: unknown label_loss %d", t->name, c->label_loss);
  NEED(c->l2_penalty >= 0 && c->moe_l2 >= 0, "%s: l2_penalty and moe_l2 must be >= 0", t->name);
  NEED(c->batch_norm_decay >= 0 && c->batch_norm_decay <= 1, "%s: batch_norm_decay must be in [0, 1] (got %g)",
       t->name, c->batch_norm_decay);
  if (t == &yt_model_moe || t == &yt_model_dbof || t == &yt_model_lstm || t == &yt_model_netvlad)
    NEED(c->moe_num_mixtures >= 1, "%s: moe_num_mixtures must be at least 1 (got %d)", t->name,
         c->moe_num_mixtures);
  if (t == &yt_model_dbof) {
    NEED(c->iterations >= 1, "DbofModel: iterations must be at least 1 (got %d)", c->iterations);
    NEED(c->dbof_cluster_size >= 1 && c->dbof_hidden_size >= 1,
         "DbofModel: dbof_cluster_size and dbof_hidden_size must be at least 1 (got %d, %d)",
         c->dbof_cluster_size, c->dbof_hidden_size);
    NEED(c->dbof_pooling == YT_POOL_MAX || c->dbof_pooling == YT_POOL_AVERAGE,
         "DbofModel: dbof_pooling must be max or average (got %d)", c->dbof_pooling);
    NEED(c->dbof_activation == YT_ACT_SIGMOID || c->dbof_activation == YT_ACT_RELU6,
         "DbofModel: dbof_activation must be sigmoid or relu6 (got %d)", c->dbof_activation);
    NEED((double)max_batch * c->iterations < 2147483647.0 &&
             (double)max_batch * c->iterations * c->dbof_cluster_size < 1e12,
         "DbofModel: max_batch %d x iterations %d x cluster size %d is too large", max_batch, c->iterations,
         c->dbof_cluster_size);
  }
  if (t == &yt_model_lstm) {
    int most = (YT_MODEL_MAX_TENSORS - 3) / 2; /* a kernel and a bias per layer, 3 MoE tensors */
    NEED(c->lstm_layers >= 1 && c->lstm_layers <= most, "LstmModel: lstm_layers must be in 1..%d (got %d)", most,
         c->lstm_layers);
    NEED(c->lstm_cells >= 1, "LstmModel: lstm_cells must be at least 1 (got %d)", c->lstm_cells);
    double in = c->feature_dim > c->lstm_cells ? c->feature_dim : c->lstm_cells, G = 4.0 * c->lstm_cells;
    NEED((in + c->lstm_cells) * G < 2147483647.0, "LstmModel: a kernel [%d + %d, 4 x %d] is too large",
         c->feature_dim, c->lstm_cells, c->lstm_cells);
    NEED((double)max_batch * c->max_frames < 2147483647.0 &&
             (double)max_batch * (c->max_frames + 1) * G * c->lstm_layers < 1e12,
         "LstmModel: max_batch %d x max_frames %d x 4 x lstm_cells %d x lstm_layers %d is too large", max_batch,
         c->max_frames, c->lstm_cells, c->lstm_layers);
  }
  if (t == &yt_model_netvlad) {
    int K = c->netvlad_cluster_size, V = c->netvlad_video_dim, A = c->feature_dim - V;
    NEED(c->iterations >= 1, "NetVLADModelLF: iterations must be at least 1 (got %d)", c->iterations);
    NEED(V >= 1 && V <= c->feature_dim,
         "NetVLADModelLF: netvlad_video_dim (the first feature's size, %d) must be in 1..feature_dim %d", V,
         c->feature_dim);
    NEED(K >= (A > 0 ? 2 : 1), "NetVLADModelLF: netvlad_cluster_size must be at least %d (got %d)%s",
         A > 0 ? 2 : 1, K, A > 0 ? ": the audio VLAD gets half of it" : "");
    NEED(c->netvlad_hidden_size >= 1, "NetVLADModelLF: netvlad_hidden_size must be at least 1 (got %d)",
         c->netvlad_hidden_size);
    double P = (double)V * K + (double)A * (K / 2), N = (double)max_batch * c->iterations;
    NEED(P < 2147483647.0 && P * c->netvlad_hidden_size < 1e12,
         "NetVLADModelLF: a VLAD of %.0f values (netvlad_cluster_size %d) times netvlad_hidden_size %d is "
         "too large", P, K, c->netvlad_hidden_size);
    NEED(N < 2147483647.0 && N * (c->feature_dim > K ? c->feature_dim : K) < 1e12 && max_batch * P < 1e12,
         "NetVLADModelLF: max_batch %d x iterations %d x (feature_dim %d, cluster size %d) is too large",
         max_batch, c->iterations, c->feature_dim, K);
  }
#undef NEED
  return YT_OK;
}

/* The operations every model uses through its backend (model.c, moe.c,
 * logistic.c, adam.c), then each type's own; yt_model_new_on refuses a
 * backend that lacks one, by name. */
static const char *const common_ops[] = {"matmul_forward", "matmul_backward", "sigmoid_forward", "sigmoid_backward",
                                         "l2norm_forward", "l2norm_backward", "moe_combine_forward",
                                         "moe_combine_backward", "loss_forward", "loss_backward", "sumsq", "axpy",
                                         "adam_update", NULL};
static const char *const vlad_ops[] = {"gather_frames", "cols_forward", "cols_backward", "vlad_forward",
                                       "vlad_backward", "l2norm_cols_forward", "l2norm_cols_backward",
                                       "gate_forward", "gate_backward", "remove_diag_forward",
                                       "remove_diag_backward", NULL};
static const char *const lstm_ops[] = {"time_major_forward", "lstm_cell_forward", "lstm_cell_backward", NULL};
static const char *const frame_ops[] = {"meanpool_forward", "relu6_forward", "relu6_backward", "batchnorm_forward",
                                        "batchnorm_backward", "maxpool_forward", "maxpool_backward",
                                        "meanpool_backward", "softmax_forward", "softmax_backward",
                                        "dequantize_frames", NULL};

/* dry: the tensor table and the activations of the build, no parameter block
 * (yt_model_count_params) */
static int model_new(yt_model **out, const yt_model_config *cfg, int max_batch, const yt_backend *be, int opt_slots,
                     int dry, yt_err *err) {
  *out = NULL;
  const yt_model_type *t = NULL;
  const char *names[NTYPES];
  for (int i = 0; i < NTYPES; i++) {
    names[i] = types[i]->name;
    if (!strcmp(cfg->model, types[i]->name)) t = types[i];
  }
  if (!t) {
    const char *near = yt_closest(cfg->model, names, NTYPES);
    if (near) return yt_fail(err, YT_EUSAGE, "unknown model '%s': did you mean '%s'?", cfg->model, near);
    return yt_fail(err, YT_EUSAGE, "unknown model '%s' (known: LogisticModel, MoeModel, FrameLevelLogisticModel, "
                                   "DbofModel, LstmModel, NetVLADModelLF)", cfg->model);
  }
  int rc = check_config(cfg, t, max_batch, err);
  if (rc < 0) return rc;
  if (!be || dry) be = yt_backend_cpu();
  if ((rc = yt_backend_require(be, common_ops, err)) < 0 ||
      (t->frame_level && (rc = yt_backend_require(be, frame_ops, err)) < 0))
    return rc;
  if ((t == &yt_model_netvlad && (rc = yt_backend_require(be, vlad_ops, err)) < 0) ||
      (t == &yt_model_lstm && (rc = yt_backend_require(be, lstm_ops, err)) < 0))
    return rc;
  if (opt_slots < 0 || opt_slots > 4) return yt_fail(err, YT_EINVAL, "%s: opt_slots %d (0..4)", t->name, opt_slots);
  yt_model *m = calloc(1, sizeof *m);
  if (!m) return yt_fail(err, YT_ENOMEM, "out of memory for a %s", t->name);
  m->cfg = *cfg;
  m->type = t;
  m->max_batch = max_batch;
  m->dry_run = dry;
  m->be = be;
  m->on_host = be == yt_backend_cpu();
  m->opt_slots = opt_slots;
  yt_model_set_sampling_seed(m, cfg->seed);
  rc = t->build(m, err);
  if (rc < 0) goto fail;
  if (dry) {
    *out = m;
    return YT_OK;
  }
  size_t C = (size_t)cfg->num_classes, n = m->nparams ? m->nparams : 1;
  m->block = be->alloc((2 + (size_t)opt_slots) * n * sizeof(float));
  if (!m->block) {
    yt_err why = {0};
    be->check(&why);
    rc = yt_fail(err, YT_ENOMEM, "%s: out of memory for %zu parameters x %d (weights, gradients, optimizer: %.1f MiB) on "
                 "%s%s%s", t->name, m->nparams, 2 + opt_slots, (2 + opt_slots) * n * 4.0 / 1048576.0, be->name,
                 why.msg[0] ? ": " : "", why.msg);
    goto fail;
  }
  m->params = m->block;
  m->grads = m->block + n;
  if (m->on_host) {
    m->host_params = m->params;
    m->host_grads = m->grads;
  } else {
    m->host_params = yt_model_alloc_host(m, n * sizeof(float), err);
    m->host_grads = m->host_params ? yt_model_alloc_host(m, n * sizeof(float), err) : NULL;
    size_t rows = (size_t)max_batch * (t->frame_level ? (size_t)cfg->max_frames : 1);
    m->x_dev = m->host_grads ? yt_model_alloc(m, rows * cfg->feature_dim * sizeof(float), err) : NULL;
    m->nf_dev = m->x_dev ? yt_model_alloc(m, (size_t)max_batch * sizeof(int32_t), err) : NULL;
    m->labels_dev = m->nf_dev ? yt_model_alloc(m, (size_t)max_batch * C * sizeof(float), err) : NULL;
    if (!m->labels_dev) {
      rc = YT_ENOMEM;
      goto fail;
    }
  }
  /* the forward's num_frames, kept for backward (LstmModel reads it there) */
  if (t->frame_level && !m->nf_dev && !(m->nf_dev = yt_model_alloc(m, (size_t)max_batch * sizeof(int32_t), err))) {
    rc = YT_ENOMEM;
    goto fail;
  }
  m->scalars = yt_model_alloc(m, (1 + (size_t)m->ntensors) * sizeof(float), err);
  m->gsumsq = m->scalars ? yt_model_alloc(m, (m->ntensors ? (size_t)m->ntensors : 1) * sizeof(float), err) : NULL;
  m->probs = m->gsumsq ? yt_model_alloc(m, (size_t)max_batch * C * sizeof(float), err) : NULL;
  m->dprobs = m->probs ? yt_model_alloc(m, (size_t)max_batch * C * sizeof(float), err) : NULL;
  if (!m->dprobs) {
    rc = YT_ENOMEM;
    goto fail;
  }
  yt_model_init_params(m, cfg->seed);
  if ((rc = be->check(err)) < 0) goto fail;
  *out = m;
  return YT_OK;
fail:
  yt_model_free(m);
  return rc;
}

int yt_model_new(yt_model **out, const yt_model_config *cfg, int max_batch, yt_err *err) {
  return model_new(out, cfg, max_batch, NULL, 0, 0, err);
}

int yt_model_new_on(yt_model **out, const yt_model_config *cfg, int max_batch, const yt_backend *be,
                    int opt_slots, yt_err *err) {
  return model_new(out, cfg, max_batch, be, opt_slots, 0, err);
}

const yt_backend *yt_model_backend(const yt_model *m) { return m->be; }

int yt_model_count_params(const yt_model_config *cfg, size_t *trainable, size_t *total, yt_err *err) {
  yt_model *m;
  int rc = model_new(&m, cfg, 1, NULL, 0, 1, err); /* batch 1: the build's activations are small */
  if (rc < 0) return rc;
  size_t tr = 0;
  for (int i = 0; i < m->ntensors; i++)
    if (m->tensor[i].trainable) tr += m->tensor[i].numel;
  if (trainable) *trainable = tr;
  if (total) *total = m->nparams;
  yt_model_free(m);
  return YT_OK;
}

void yt_model_free(yt_model *m) {
  if (!m) return;
  free(m->x_host_buf);
  for (int i = 0; i < m->nbufs; i++) {
    if (m->buf_host[i]) free(m->buf[i]);
    else m->be->free(m->buf[i]);
  }
  if (m->block) m->be->free(m->block);
  free(m);
}

static void *model_alloc(yt_model *m, size_t n, int host, yt_err *err) {
  if (m->nbufs == YT_MODEL_MAX_BUFS) {
    yt_fail(err, YT_ENOMEM, "%s: more than %d buffers (raise YT_MODEL_MAX_BUFS)", m->type->name,
            YT_MODEL_MAX_BUFS);
    return NULL;
  }
  host |= m->on_host;
  void *p = host ? calloc(1, n ? n : 1) : m->be->alloc(n ? n : 1);
  if (!p) {
    yt_err why = {0};
    if (!host) m->be->check(&why);
    yt_fail(err, YT_ENOMEM, "%s: out of memory for %.1f MiB of activations on %s (max_batch %d: try a smaller "
            "batch)%s%s", m->type->name, n / 1048576.0, host ? "the host" : m->be->name, m->max_batch,
            why.msg[0] ? ": " : "", why.msg);
    return NULL;
  }
  m->buf_host[m->nbufs] = (unsigned char)host;
  m->buf[m->nbufs++] = p;
  return p;
}

void *yt_model_alloc(yt_model *m, size_t n, yt_err *err) { return model_alloc(m, n, 0, err); }
void *yt_model_alloc_host(yt_model *m, size_t n, yt_err *err) { return model_alloc(m, n, 1, err); }

int yt_model_add_tensor(yt_model *m, const char *name, int ndim, const int *shape, int trainable, float l2,
                        int init_kind, float init_std, yt_err *err) {
  if (m->ntensors == YT_MODEL_MAX_TENSORS)
    return yt_fail(err, YT_EINVAL, "%s: more than %d tensors", m->type->name, YT_MODEL_MAX_TENSORS);
  int i = m->ntensors++;
  yt_tensor_info *t = &m->tensor[i];
  snprintf(t->name, sizeof t->name, "tower/%s", name);
  t->ndim = ndim;
  t->numel = 1;
  for (int d = 0; d < ndim; d++) {
    t->shape[d] = shape[d];
    t->numel *= (size_t)shape[d];
  }
  t->offset = m->nparams;
  t->trainable = trainable;
  t->l2 = l2;
  m->nparams += t->numel;
  m->init_kind[i] = init_kind;
  m->init_std[i] = init_std;
  return i;
}

int yt_model_add_batchnorm(yt_model *m, const char *scope, int C, int *first, yt_err *err) {
  static const char *const part[4] = {"beta", "gamma", "moving_mean", "moving_variance"};
  static const int init[4] = {YT_INIT_ZEROS, YT_INIT_ONES, YT_INIT_ZEROS, YT_INIT_ONES};
  char name[96];
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "%s/%s", scope, part[k]);
    int i = yt_model_add_tensor(m, name, 1, &C, k < 2, 0.0f, init[k], 0.0f, err);
    if (i < 0) return i;
    if (k == 0) *first = i;
  }
  return YT_OK;
}

/* ---- accessors ------------------------------------------------------------------ */

const yt_model_config *yt_model_cfg(const yt_model *m) { return &m->cfg; }
int yt_model_num_tensors(const yt_model *m) { return m->ntensors; }
const yt_tensor_info *yt_model_tensor(const yt_model *m, int i) {
  return i >= 0 && i < m->ntensors ? &m->tensor[i] : NULL;
}
int yt_model_find_tensor(const yt_model *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (!strcmp(m->tensor[i].name, name)) return i;
  return -1;
}
size_t yt_model_num_params(const yt_model *m) { return m->nparams; }
float *yt_model_params(yt_model *m) {
  if (!m->on_host) m->be->download(m->host_params, m->params, m->nparams * sizeof(float));
  return m->host_params;
}
float *yt_model_grads(yt_model *m) {
  m->gsumsq_ready = 0; /* the caller may write them */
  if (!m->on_host) m->be->download(m->host_grads, m->grads, m->nparams * sizeof(float));
  return m->host_grads;
}
float *yt_model_params_dev(yt_model *m) { return m->params; }
float *yt_model_grads_dev(yt_model *m) {
  m->gsumsq_ready = 0; /* the caller may write them */
  return m->grads;
}
const float *yt_model_grads_dev_ro(const yt_model *m) { return m->grads; }
const float *yt_model_grad_sumsq(const yt_model *m, int i) {
  return m->gsumsq_ready && i >= 0 && i < m->ntensors && m->tensor[i].l2 > 0.0f ? m->gsumsq + i : NULL;
}
void yt_model_params_changed(yt_model *m) {
  if (!m->on_host) m->be->upload(m->params, m->host_params, m->nparams * sizeof(float));
}
float *yt_model_opt_slot(yt_model *m, int k) {
  size_t n = m->nparams ? m->nparams : 1;
  return k >= 0 && k < m->opt_slots ? m->block + (2 + (size_t)k) * n : NULL;
}
int yt_model_check(yt_model *m, yt_err *err) { return m->be->check(err); }

void yt_model_set_sampling_seed(yt_model *m, uint64_t seed) {
  uint64_t x = seed ^ 0x5eed5a3b1e5ull;
  m->sample_rng = splitmix64(&x);
}

float yt_model_uniform(yt_model *m) { return (float)(splitmix64(&m->sample_rng) >> 40) * 0x1p-24f; }

/* ---- initialization ---------------------------------------------------------------- */

void yt_model_init_params(yt_model *m, uint64_t seed) {
  for (int i = 0; i < m->ntensors; i++) {
    const yt_tensor_info *t = &m->tensor[i];
    float *p = m->host_params + t->offset;
    uint64_t x = seed ^ fnv1a(t->name); /* each tensor its own stream: order-independent */
    switch (m->init_kind[i]) {
    case YT_INIT_ZEROS: memset(p, 0, t->numel * sizeof *p); break;
    case YT_INIT_ONES:
      for (size_t k = 0; k < t->numel; k++) p[k] = 1.0f;
      break;
    case YT_INIT_GLOROT: { /* slim xavier_initializer(uniform): U(-a, a), a = sqrt(6/(fan_in+fan_out)) */
      double fan_in = t->shape[0], fan_out = t->ndim > 1 ? t->shape[1] : t->shape[0];
      double a = sqrt(6.0 / (fan_in + fan_out));
      for (size_t k = 0; k < t->numel; k++) p[k] = (float)((2.0 * unif53(&x) - 1.0) * a);
      break;
    }
    case YT_INIT_NORMAL: /* Box-Muller, plain N(0, sigma) */
      for (size_t k = 0; k < t->numel; k += 2) {
        double u1 = 1.0 - unif53(&x), u2 = unif53(&x);
        double r = sqrt(-2.0 * log(u1)) * m->init_std[i];
        p[k] = (float)(r * cos(2.0 * M_PI * u2));
        if (k + 1 < t->numel) p[k + 1] = (float)(r * sin(2.0 * M_PI * u2));
      }
      break;
    }
  }
  yt_model_params_changed(m);
}

/* ---- the shared steps ---------------------------------------------------------------- */

/* x (float32) or q (uint8, frame level): the input in host memory. q is
 * uploaded as it is, 4x fewer bytes than float32, and dequantized in the
 * backend's memory (REFERENCE.md 1.6; padding rows 0.0). */
static int forward_in(yt_model *m, const float *x, const uint8_t *q, const int32_t *num_frames, int B, int training,
                      float *probs, yt_err *err) {
  const char *name = m->type->name;
  if (B < 1 || B > m->max_batch)
    return yt_fail(err, YT_EINVAL, "%s: batch of %d videos, the model was built for 1..%d", name, B,
                   m->max_batch);
  if (m->type->frame_level) {
    if (!num_frames) return yt_fail(err, YT_EINVAL, "%s: frame-level input needs num_frames", name);
    for (int b = 0; b < B; b++)
      if (num_frames[b] < 0 || num_frames[b] > m->cfg.max_frames)
        return yt_fail(err, YT_EINVAL, "%s: video %d of the batch has num_frames %d, outside 0..%d", name, b,
                       num_frames[b], m->cfg.max_frames);
  } else if (q) {
    return yt_fail(err, YT_EINVAL, "%s: uint8 input is for frame-level models", name);
  }
  const yt_backend *be = m->be;
  m->nf = NULL;
  /* A device gets the batch through upload_input (page-locked staging, the
   * copy stream: it overlaps the previous step's queued Adam), and the
   * forward waits for it at inputs_ready. */
  if (num_frames && m->nf_dev) { /* backend memory; the model reads num_frames on the host too (sampling) */
    be->upload_input(m->nf_dev, num_frames, (size_t)B * sizeof(int32_t), YT_INPUT_NUM_FRAMES);
    m->nf = m->nf_dev;
  }
  size_t rows = (size_t)B * (m->type->frame_level ? (size_t)m->cfg.max_frames : 1), D = m->cfg.feature_dim;
  if (!m->on_host && q) { /* uint8 frames go to the device as they are */
    if (!m->q_dev && !(m->q_dev = yt_model_alloc(m, (size_t)m->max_batch * m->cfg.max_frames * D, err)))
      return YT_ENOMEM;
    be->upload_input(m->q_dev, q, rows * D, YT_INPUT_FEATURES);
    q = m->q_dev;
  } else if (!m->on_host) {
    be->upload_input(m->x_dev, x, rows * D * sizeof(float), YT_INPUT_FEATURES);
    x = m->x_dev;
  }
  be->inputs_ready();
  if (q) { /* (B,F,D) uint8 -> float32 where the model reads its input */
    float *dst = m->x_dev;
    if (m->on_host) {
      size_t need = (size_t)m->max_batch * m->cfg.max_frames * D * sizeof(float);
      if (!m->x_host_buf && !(m->x_host_buf = malloc(need)))
        return yt_fail(err, YT_ENOMEM, "%s: out of memory for the dequantized input (%zu bytes)", name, need);
      dst = m->x_host_buf;
    }
    be->dequantize_frames(dst, q, m->nf, B, m->cfg.max_frames, (int)D, YT_DQ_SCALE, YT_DQ_BIAS);
    x = dst;
  }
  m->gsumsq_ready = 0;
  m->type->forward(m, x, num_frames, B, training ? 1 : 0);
  be->inputs_done(); /* the next batch's uploads wait for this forward's reads */
  m->fwd_batch = B;
  m->fwd_training = training ? 1 : 0;
  size_t pn = (size_t)B * m->cfg.num_classes;
  if (probs) {
    if (m->on_host) memcpy(probs, m->probs, pn * sizeof *probs);
    else be->download(probs, m->probs, pn * sizeof *probs);
  }
  return be->check(err);
}

int yt_model_forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training,
                     float *probs, yt_err *err) {
  return forward_in(m, x, NULL, num_frames, B, training, probs, err);
}

int yt_model_forward_u8(yt_model *m, const uint8_t *q, const int32_t *num_frames, int B, int training,
                        float *probs, yt_err *err) {
  return forward_in(m, NULL, q, num_frames, B, training, probs, err);
}

int yt_model_backward(yt_model *m, const float *labels, float *label_loss, float *reg_loss, yt_err *err) {
  if (!m->fwd_batch || !m->fwd_training)
    return yt_fail(err, YT_EINVAL, "%s: backward needs a training forward first (training = 1)", m->type->name);
  int B = m->fwd_batch, C = m->cfg.num_classes;
  const yt_backend *be = m->be;
  if (!m->on_host) {
    be->upload_input(m->labels_dev, labels, (size_t)B * C * sizeof(float), YT_INPUT_LABELS);
    be->inputs_ready();
    labels = m->labels_dev;
  }
  be->zero(m->grads, m->nparams * sizeof(float));
  be->loss_forward(m->scalars, m->cfg.label_loss, m->probs, labels, B, C);
  be->zero(m->dprobs, (size_t)B * C * sizeof(float));
  be->loss_backward(m->cfg.label_loss, m->dprobs, m->probs, labels, B, C);
  m->type->backward(m, m->dprobs, B);
  /* L2 terms: loss += l2 sum(w^2) / 2, grad += l2 w; the pass also sums the
   * final gradient's squares, which the optimizer's clip reads (adam.c) */
  for (int i = 0; i < m->ntensors; i++) {
    const yt_tensor_info *t = &m->tensor[i];
    if (t->l2 <= 0.0f) continue;
    be->l2_grad(m->scalars + 1 + i, m->gsumsq + i, m->grads + t->offset, m->params + t->offset, t->l2, t->numel);
  }
  m->gsumsq_ready = 1;
  be->inputs_done(); /* the last reads of this step's inputs (and activations of them) are queued */
  float sc[1 + YT_MODEL_MAX_TENSORS];
  be->download(sc, m->scalars, (1 + (size_t)m->ntensors) * sizeof(float));
  int rc = be->check(err);
  if (rc < 0) return rc;
  double reg = 0;
  for (int i = 0; i < m->ntensors; i++)
    if (m->tensor[i].l2 > 0.0f) reg += m->tensor[i].l2 * (double)sc[1 + i] / 2;
  if (label_loss) *label_loss = sc[0];
  if (reg_loss) *reg_loss = (float)reg;
  return YT_OK;
}

float yt_model_loss(const yt_model *m, const float *probs, const float *labels, int B) {
  return yt_loss_forward(m->cfg.label_loss, probs, labels, B, m->cfg.num_classes);
}

double yt_model_flops(const yt_model *m, int training) { return m->type->flops(m, training); }
