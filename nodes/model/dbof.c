/* dbof.c: DbofModel, the starter's Deep Bag of Frames (REFERENCE.md 2.4, 2.6).
 *
 *   sample S = iterations frames per video (training and eval; sample_all in
 *   eval) -> L2-normalize -> [B*S, D] -> input_bn -> x cluster_weights [D,K]
 *   -> cluster_bn (or + cluster_biases) -> sigmoid|relu6 -> max|mean over the
 *   S slots -> x hidden1_weights [K,H] -> hidden1_bn (or + hidden1_biases)
 *   -> sigmoid|relu6 -> MoE head (moe.c).
 *
 * Batch norms are per column over all rows (B*S rows for the two frame-level
 * ones), no L2 except the MoE's. Not here: the layers (layers.c).
 *
 * hidden1_bn/moving_mean is not TF's moving average of the batch means of
 * hz = pooled hidden1_weights but the moving average of pooled's batch means
 * times the current hidden1_weights: the same for fixed weights, and the mean
 * the current weights give when they move. pooled (max or mean of sigmoids)
 * sits far from 0 (|mean| 0.6 per column against 0.06 across videos), so
 * hz's mean lives in the weights, and batch norm leaves it free in training:
 * Adam moves it 0.2-0.5 standard deviations a step, and TF's average lagged
 * 2-3.5 of them behind (bench_frame_models.sh, 20-60 frames: eval GAP 0.10
 * with training-batch GAP 0.65; 0.65 with this). The moving variance stays
 * TF's: it lags little and mattered nothing there. */
#include "model/model_impl.h"
#include "model/vlad.h"

#include <math.h>
#include <string.h>

typedef struct {
  int S, D, K, H, bn, act, pool;
  /* tensor indices; a batch norm's index is its beta (gamma, moving_mean,
   * moving_variance follow); the biases are -1 with batch norm */
  int in_bn, cw, c_bn, cb, hw, h_bn, hb;
  int32_t *idx;                   /* (max_batch, S), host: the frame in each slot, then its row of x */
  int32_t *rows;                  /* (max_batch, S): idx in the backend's memory */
  float *x0, *x1;                 /* (N, D): normalized sampled frames; after input_bn (x1 = x0 without) */
  float *z, *a;                   /* (N, K): x1 cluster_weights (+ biases); activation */
  float *g1, *g2;                 /* (N, K): backward scratch */
  float *dx1;                     /* (N, D): backward, batch norm only */
  float *in_mean, *in_rstd;       /* (D) */
  float *c_mean, *c_rstd;         /* (K) */
  float *h_mean, *h_rstd;         /* (H) */
  float *pooled, *dpooled;        /* (max_batch, K) */
  float *hz, *h, *dh, *dhy, *dhz; /* (max_batch, H): pooled hidden1_weights (+ biases); activation */
  float *ones;                    /* (max_batch): 1.0, for column sums (batch norm only) */
  float *psum, *pmean;            /* (K): pooled's batch sum; its moving mean (batch norm only) */
  int pmean_set;                  /* pmean holds a first batch's mean (not saved: restarts at a resume) */
  yt_moe_head head;
} dbof_state;

static float *falloc(yt_model *m, size_t n, yt_err *err) { return yt_model_alloc(m, n * sizeof(float), err); }

static int build(yt_model *m, yt_err *err) {
  const yt_model_config *c = &m->cfg;
  dbof_state *s = m->state = yt_model_alloc_host(m, sizeof *s, err);
  if (!s) return YT_ENOMEM;
  s->S = c->iterations;
  s->D = c->feature_dim;
  s->K = c->dbof_cluster_size;
  s->H = c->dbof_hidden_size;
  s->bn = c->dbof_add_batch_norm != 0;
  s->act = c->dbof_activation;
  s->pool = c->dbof_pooling;
  s->in_bn = s->c_bn = s->h_bn = s->cb = s->hb = -1;
  int rc, cwshape[2] = {s->D, s->K}, hwshape[2] = {s->K, s->H};
  if (s->bn && (rc = yt_model_add_batchnorm(m, "input_bn", s->D, &s->in_bn, err)) < 0) return rc;
  s->cw = yt_model_add_tensor(m, "cluster_weights", 2, cwshape, 1, 0, YT_INIT_NORMAL, (float)(1 / sqrt(s->D)),
                              err);
  if (s->cw < 0) return s->cw;
  if (s->bn) {
    if ((rc = yt_model_add_batchnorm(m, "cluster_bn", s->K, &s->c_bn, err)) < 0) return rc;
  } else {
    s->cb = yt_model_add_tensor(m, "cluster_biases", 1, &s->K, 1, 0, YT_INIT_NORMAL, (float)(1 / sqrt(s->D)), err);
    if (s->cb < 0) return s->cb;
  }
  s->hw = yt_model_add_tensor(m, "hidden1_weights", 2, hwshape, 1, 0, YT_INIT_NORMAL, (float)(1 / sqrt(s->K)),
                              err);
  if (s->hw < 0) return s->hw;
  if (s->bn) {
    if ((rc = yt_model_add_batchnorm(m, "hidden1_bn", s->H, &s->h_bn, err)) < 0) return rc;
  } else {
    s->hb = yt_model_add_tensor(m, "hidden1_biases", 1, &s->H, 1, 0, YT_INIT_NORMAL, 0.01f, err);
    if (s->hb < 0) return s->hb;
  }
  if ((rc = yt_moe_head_build(&s->head, m, s->H, err)) < 0) return rc;

  size_t B = (size_t)m->max_batch, N = B * s->S, D = s->D, K = s->K, H = s->H;
  if (!(s->idx = yt_model_alloc_host(m, N * sizeof(int32_t), err))) return YT_ENOMEM;
  if (!(s->rows = yt_model_alloc(m, N * sizeof(int32_t), err))) return YT_ENOMEM;
  if (!(s->x0 = falloc(m, N * D, err))) return YT_ENOMEM;
  s->x1 = s->x0;
  if (s->bn) {
    if (!(s->x1 = falloc(m, N * D, err)) || !(s->dx1 = falloc(m, N * D, err))) return YT_ENOMEM;
    if (!(s->in_mean = falloc(m, D, err)) || !(s->in_rstd = falloc(m, D, err))) return YT_ENOMEM;
    if (!(s->c_mean = falloc(m, K, err)) || !(s->c_rstd = falloc(m, K, err))) return YT_ENOMEM;
    if (!(s->h_mean = falloc(m, H, err)) || !(s->h_rstd = falloc(m, H, err))) return YT_ENOMEM;
    if (!(s->dhz = falloc(m, B * H, err))) return YT_ENOMEM;
    float *one = yt_model_alloc_host(m, B * sizeof(float), err); /* lives with the model: upload is async */
    if (!one || !(s->ones = falloc(m, B, err))) return YT_ENOMEM;
    if (!(s->psum = falloc(m, K, err)) || !(s->pmean = falloc(m, K, err))) return YT_ENOMEM;
    for (size_t b = 0; b < B; b++) one[b] = 1.0f;
    m->be->upload(s->ones, one, B * sizeof(float));
  }
  if (!(s->z = falloc(m, N * K, err)) || !(s->a = falloc(m, N * K, err))) return YT_ENOMEM;
  if (!(s->g1 = falloc(m, N * K, err)) || !(s->g2 = falloc(m, N * K, err))) return YT_ENOMEM;
  if (!(s->pooled = falloc(m, B * K, err)) || !(s->dpooled = falloc(m, B * K, err))) return YT_ENOMEM;
  if (!(s->hz = falloc(m, B * H, err)) || !(s->h = falloc(m, B * H, err))) return YT_ENOMEM;
  if (!(s->dh = falloc(m, B * H, err)) || !(s->dhy = falloc(m, B * H, err))) return YT_ENOMEM;
  return YT_OK;
}

static void act_forward(yt_model *m, int act, float *out, const float *x, size_t n) {
  if (act == YT_ACT_RELU6)
    m->be->relu6_forward(out, x, n);
  else
    m->be->sigmoid_forward(out, x, n);
}

static void act_backward(yt_model *m, int act, float *dx, const float *dout, const float *out, size_t n) {
  if (act == YT_ACT_RELU6)
    m->be->relu6_backward(dx, dout, out, n);
  else
    m->be->sigmoid_backward(dx, dout, out, n);
}

/* Training, batch norm: hidden1_bn/moving_mean = pmean hidden1_weights after
 * pmean -= (pmean - batch mean of pooled) (1 - decay), as layers.c averages
 * (the first batch sets pmean). decay 1 leaves it alone, as TF.
 * pooled (B,K)  pmean (K)  hidden1_weights (K,H)  moving_mean (H) */
static void hidden_moving_mean(yt_model *m, dbof_state *s, int B) {
  float momentum = s->pmean_set ? (float)(1.0 - (double)m->cfg.batch_norm_decay) : 1.0f;
  // ones (1,B)  pooled (B,K)  psum (1,K)
  m->be->matmul_forward(s->psum, s->ones, s->pooled, NULL, 1, B, s->K);
  m->be->axpy(s->pmean, -momentum, s->pmean, (size_t)s->K);
  m->be->axpy(s->pmean, momentum / (float)B, s->psum, (size_t)s->K);
  s->pmean_set = 1;
  // pmean (1,K)  hidden1_weights (K,H)  moving_mean (1,H)
  m->be->matmul_forward(yt_model_p(m, s->h_bn + 2), s->pmean, yt_model_p(m, s->hw), NULL, 1, s->K, s->H);
}

/* A batch norm's four tensors from its first index. */
#define BN_ARGS(i) yt_model_p(m, (i) + 2), yt_model_p(m, (i) + 3)
#define BN_AFFINE(i) yt_model_p(m, (i) + 1), yt_model_p(m, (i))

// x (B,F,D)  num_frames (B)  probs (B,C)
static void forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training) {
  dbof_state *s = m->state;
  int S = s->S, D = s->D, K = s->K, H = s->H, F = m->cfg.max_frames, N = B * S;
  yt_model_sample_frames(m, s->idx, num_frames, B, S, training); /* REFERENCE.md 2.6 (sample.c) */
  for (int i = 0; i < N; i++) s->idx[i] += (i / S) * F; /* frame in its video -> row of x (B*F, D) */
  m->be->upload(s->rows, s->idx, (size_t)N * sizeof(int32_t));
  m->be->gather_rows(s->x0, x, s->rows, N, D); // x0 (N,D)
  m->be->l2norm_forward(s->x0, s->x0, N, D); // x0 (N,D)
  if (s->bn) // x1 (N,D)
    m->be->batchnorm_forward(s->x1, s->in_mean, s->in_rstd, BN_ARGS(s->in_bn), s->x0, BN_AFFINE(s->in_bn), N, D,
                         training, m->cfg.batch_norm_decay);
  // x1 (N,D)  cluster_weights (D,K)  z (N,K)
  m->be->matmul_forward(s->z, s->x1, yt_model_p(m, s->cw), s->bn ? NULL : yt_model_p(m, s->cb), N, D, K);
  if (s->bn) {
    m->be->batchnorm_forward(s->a, s->c_mean, s->c_rstd, BN_ARGS(s->c_bn), s->z, BN_AFFINE(s->c_bn), N, K,
                         training, m->cfg.batch_norm_decay);
    act_forward(m, s->act, s->a, s->a, (size_t)N * K);
  } else {
    act_forward(m, s->act, s->a, s->z, (size_t)N * K);
  }
  // a (B,S,K)  pooled (B,K)
  if (s->pool == YT_POOL_AVERAGE)
    m->be->meanpool_forward(s->pooled, s->a, NULL, B, S, K);
  else
    m->be->maxpool_forward(s->pooled, s->a, NULL, B, S, K);
  // pooled (B,K)  hidden1_weights (K,H)  hz, h (B,H)
  m->be->matmul_forward(s->hz, s->pooled, yt_model_p(m, s->hw), s->bn ? NULL : yt_model_p(m, s->hb), B, K, H);
  if (s->bn) {
    /* moving_mean: hidden_moving_mean, when the averages move at all */
    int project = training && m->cfg.batch_norm_decay < 1.0f;
    m->be->batchnorm_forward(s->h, s->h_mean, s->h_rstd, project ? NULL : yt_model_p(m, s->h_bn + 2),
                             yt_model_p(m, s->h_bn + 3), s->hz, BN_AFFINE(s->h_bn), B, H, training,
                             m->cfg.batch_norm_decay);
    if (project) hidden_moving_mean(m, s, B);
    act_forward(m, s->act, s->h, s->h, (size_t)B * H);
  } else {
    act_forward(m, s->act, s->h, s->hz, (size_t)B * H);
  }
  yt_moe_head_forward(&s->head, m, m->probs, s->h, B);
}

static void zero(yt_model *m, float *p, size_t n) { m->be->zero(p, n * sizeof *p); }

static void backward(yt_model *m, const float *dprobs, int B) {
  dbof_state *s = m->state;
  int S = s->S, D = s->D, K = s->K, H = s->H, N = B * S;
  size_t NK = (size_t)N * K;
  // hidden layer: dh -> dhy (before the activation) -> dhz (before hidden1_bn)
  zero(m, s->dh, (size_t)B * H);
  yt_moe_head_backward(&s->head, m, s->dh, dprobs, s->h, B);
  zero(m, s->dhy, (size_t)B * H);
  act_backward(m, s->act, s->dhy, s->dh, s->h, (size_t)B * H);
  float *dhz = s->dhy;
  if (s->bn) {
    zero(m, s->dhz, (size_t)B * H);
    m->be->batchnorm_backward(s->dhz, yt_model_g(m, s->h_bn + 1), yt_model_g(m, s->h_bn), s->dhy, s->hz, s->h_mean,
                          s->h_rstd, yt_model_p(m, s->h_bn + 1), B, H);
    dhz = s->dhz;
  }
  zero(m, s->dpooled, (size_t)B * K);
  m->be->matmul_backward(s->dpooled, yt_model_g(m, s->hw), s->bn ? NULL : yt_model_g(m, s->hb), dhz, s->pooled,
                     yt_model_p(m, s->hw), B, K, H);
  // cluster layer: g1 = d a, g2 = d(before the activation), then d z
  zero(m, s->g1, NK);
  if (s->pool == YT_POOL_AVERAGE)
    m->be->meanpool_backward(s->g1, s->dpooled, NULL, B, S, K);
  else
    m->be->maxpool_backward(s->g1, s->dpooled, s->a, s->pooled, NULL, B, S, K);
  zero(m, s->g2, NK);
  act_backward(m, s->act, s->g2, s->g1, s->a, NK);
  float *dz = s->g2;
  if (s->bn) {
    zero(m, s->g1, NK);
    m->be->batchnorm_backward(s->g1, yt_model_g(m, s->c_bn + 1), yt_model_g(m, s->c_bn), s->g2, s->z, s->c_mean,
                          s->c_rstd, yt_model_p(m, s->c_bn + 1), N, K);
    dz = s->g1;
    zero(m, s->dx1, (size_t)N * D);
    m->be->matmul_backward(s->dx1, yt_model_g(m, s->cw), NULL, dz, s->x1, yt_model_p(m, s->cw), N, D, K);
    m->be->batchnorm_backward(NULL, yt_model_g(m, s->in_bn + 1), yt_model_g(m, s->in_bn), s->dx1, s->x0,
                          s->in_mean, s->in_rstd, yt_model_p(m, s->in_bn + 1), N, D);
  } else {
    m->be->matmul_backward(NULL, yt_model_g(m, s->cw), yt_model_g(m, s->cb), dz, s->x0, yt_model_p(m, s->cw), N, D,
                       K);
  }
}

static double flops(const yt_model *m, int training) {
  const dbof_state *s = m->state;
  double cluster = 2.0 * s->S * s->D * s->K, hidden = 2.0 * s->K * s->H;
  if (!training) return cluster + hidden + yt_moe_head_flops(&s->head, 0, 0);
  /* backward: every weight gradient; d input only where a trainable layer sits below (input_bn) */
  return cluster * (2 + s->bn) + hidden * 3 + yt_moe_head_flops(&s->head, 1, 1);
}

const yt_model_type yt_model_dbof = {"DbofModel", 1, build, forward, backward, flops};
