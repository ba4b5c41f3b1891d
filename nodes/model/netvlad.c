/* netvlad.c: NetVLADModelLF, the WILLOW model of the 2018 winning solution
 * (REFERENCE.md 2.7), on the CPU layers (layers.h, vlad.h).
 *
 *   sample S = iterations frames per video (2.6; sample_all in eval) ->
 *   L2-normalize -> [B*S, D] -> input_bn -> split the columns at
 *   netvlad_video_dim: video_VLAD (K clusters) and audio_VLAD (K/2), each
 *     a = softmax(cluster_bn(x cluster_weights)), V = aT x - asum c
 *     (cluster_weights2; none for LightVLAD), intra-L2 per cluster (unless
 *     netvlad_intra_norm = false, not in the reference), flatten d*K + k, global L2
 *   -> concat -> x hidden1_weights [P,H] (hidden1_bn + relu6, or biases and
 *   relu6 if netvlad_relu) -> context gating h sigmoid(gating_bn(h Wg)) ->
 *   MoE head (moe.c) -> label gating p sigmoid(gating_prob_bn(p Wp)).
 *
 * Without netvlad_add_batch_norm there is no input_bn, and cluster_biases
 * [K] ~ N(0, 1/sqrt(D_part)) and gating_biases [H] ~ N(0, 1/sqrt(feature_dim))
 * replace cluster_bn and gating_bn (WILLOW's code for this path does not run:
 * it names an undefined variable and an unshaped initializer; these are its
 * evident intent). gating_prob_bn is always there, as in WILLOW's MoeModel.
 * No L2 except the MoE's weights (moe_l2).
 *
 * This file holds no arithmetic on activations or parameters: every step is
 * a call through the backend table (m->be), so the same code runs on the CPU
 * layers and on CUDA. Host-side index work (frame sampling) is here; the
 * indices are uploaded once per forward. */
#include "model/model_impl.h"
#include "model/vlad.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  int D, K, off;         /* columns [off, off+D) of a frame row; clusters */
  int cw, c_bn, cb, cw2; /* cluster_weights, cluster_bn (beta), cluster_biases, cluster_weights2; -1 absent */
  float *x;              /* (N,D): the part's columns of x1 (x1 itself with one part) */
  float *z, *a;          /* (N,K): x cluster_weights (+ biases); the assignments (a == z without bn) */
  float *c_mean, *c_rstd; /* (K) */
  float *asum;            /* (B,K) */
  float *v, *vn, *vg;     /* (B,D*K): residuals; intra-normalized (unused without); global-normalized (== vlad, one part) */
} vlad_part;

typedef struct {
  int S, D, H, C, P, nparts, bn, hbn, relu, gating, pgating, light, rmdiag, intra;
  /* tensor indices; a batch norm's index is its beta (gamma, moving_mean,
   * moving_variance follow); -1 when absent */
  int in_bn, hw, h_bn, hb, gw, g_bn, gb, pw, p_bn;
  vlad_part part[2];
  int32_t *idx;                         /* (max_batch, S), host: the frame in each slot */
  int32_t *idx_dev;                     /* (max_batch, S): idx in the backend's memory */
  float *x0, *x1;                       /* (N,D): normalized sampled frames; after input_bn (== x0 without) */
  float *in_mean, *in_rstd;             /* (D) */
  float *dx1, *dxp;                     /* (N,D) d x1 (bn); (N, part D) a part's d x (bn, two parts) */
  float *dk1, *dk2;                     /* (N, max K): backward scratch */
  float *dv1, *dv2;                     /* (max_batch, max D*K): backward scratch */
  float *vlad, *dvlad;                  /* (max_batch, P); vlad == part[0].vg with one part */
  float *hz, *h, *h_mean, *h_rstd;      /* (max_batch, H): vlad W1 (+ b1); activation (== hz when linear) */
  float *gz, *g, *hg, *g_mean, *g_rstd; /* (max_batch, H): h Wg (+ bias); gate; h g (== h without gating) */
  float *dhg, *dh, *dgate, *dgz, *dgzb; /* (max_batch, H): backward */
  float *dhy, *dhz;                     /* (max_batch, H): before relu6; before hidden1_bn */
  float *p, *pz, *pg, *p_mean, *p_rstd; /* (max_batch, C): MoE output; p Wp; gate (p == probs without) */
  float *dp, *dpg, *dpz, *dpzb;         /* (max_batch, C): backward */
  yt_moe_head head;
} nv_state;

static float *falloc(yt_model *m, size_t n, yt_err *err) {
  return yt_model_alloc(m, n * sizeof(float), err);
}
#define BUF(p, n)                                                                                            \
  do {                                                                                                       \
    if (!((p) = falloc(m, (n), err))) return YT_ENOMEM;                                                      \
  } while (0)

/* ---- build ----------------------------------------------------------------------- */

static int build_part(yt_model *m, nv_state *s, vlad_part *q, const char *scope, int off, int D, int K,
                      yt_err *err) {
  char name[96];
  float sd = (float)(1 / sqrt(D));
  int rc, shape[2] = {D, K}, shape3[3] = {1, D, K};
  q->off = off, q->D = D, q->K = K;
  q->c_bn = q->cb = q->cw2 = -1;
  snprintf(name, sizeof name, "%s/cluster_weights", scope);
  if ((q->cw = yt_model_add_tensor(m, name, 2, shape, 1, 0, YT_INIT_NORMAL, sd, err)) < 0) return q->cw;
  if (s->bn) {
    snprintf(name, sizeof name, "%s/cluster_bn", scope);
    if ((rc = yt_model_add_batchnorm(m, name, K, &q->c_bn, err)) < 0) return rc;
  } else {
    snprintf(name, sizeof name, "%s/cluster_biases", scope);
    if ((q->cb = yt_model_add_tensor(m, name, 1, &K, 1, 0, YT_INIT_NORMAL, sd, err)) < 0) return q->cb;
  }
  if (!s->light) {
    snprintf(name, sizeof name, "%s/cluster_weights2", scope);
    if ((q->cw2 = yt_model_add_tensor(m, name, 3, shape3, 1, 0, YT_INIT_NORMAL, sd, err)) < 0) return q->cw2;
  }
  size_t B = (size_t)m->max_batch, N = B * s->S;
  if (s->nparts > 1)
    BUF(q->x, N * D);
  else
    q->x = s->x1;
  BUF(q->z, N * K);
  q->a = q->z;
  if (s->bn) {
    BUF(q->a, N * K);
    BUF(q->c_mean, K);
    BUF(q->c_rstd, K);
  }
  BUF(q->asum, B * K);
  BUF(q->v, B * D * K);
  BUF(q->vn, B * D * K);
  BUF(q->vg, B * D * K);
  return YT_OK;
}

static int build(yt_model *m, yt_err *err) {
  const yt_model_config *c = &m->cfg;
  nv_state *s = m->state = yt_model_alloc_host(m, sizeof *s, err);
  if (!s) return YT_ENOMEM;
  int K = c->netvlad_cluster_size, V = c->netvlad_video_dim, rc;
  s->S = c->iterations;
  s->D = c->feature_dim;
  s->H = c->netvlad_hidden_size;
  s->C = c->num_classes;
  s->nparts = V < s->D ? 2 : 1;
  s->bn = c->netvlad_add_batch_norm != 0;
  s->relu = c->netvlad_relu != 0;
  s->hbn = s->bn && s->relu;
  s->gating = c->gating != 0;
  s->pgating = c->moe_prob_gating != 0;
  s->light = c->lightvlad != 0;
  s->intra = c->netvlad_intra_norm != 0;
  s->rmdiag = c->gating_remove_diag != 0;
  s->in_bn = s->hb = s->h_bn = s->gw = s->g_bn = s->gb = s->pw = s->p_bn = -1;
  size_t B = (size_t)m->max_batch, N = B * s->S, D = s->D, H = s->H, C = s->C;

  if (!(s->idx = yt_model_alloc_host(m, N * sizeof(int32_t), err))) return YT_ENOMEM;
  if (!(s->idx_dev = yt_model_alloc(m, N * sizeof(int32_t), err))) return YT_ENOMEM;
  BUF(s->x0, N * D);
  s->x1 = s->x0;
  if (s->bn) {
    if ((rc = yt_model_add_batchnorm(m, "input_bn", s->D, &s->in_bn, err)) < 0) return rc;
    BUF(s->x1, N * D);
    BUF(s->dx1, N * D);
    BUF(s->in_mean, D);
    BUF(s->in_rstd, D);
  }
  if ((rc = build_part(m, s, &s->part[0], "video_VLAD", 0, V, K, err)) < 0) return rc;
  if (s->nparts > 1 && (rc = build_part(m, s, &s->part[1], "audio_VLAD", V, s->D - V, K / 2, err)) < 0)
    return rc;
  size_t maxK = 0, maxDK = 0, maxD = 0;
  s->P = 0;
  for (int i = 0; i < s->nparts; i++) {
    const vlad_part *q = &s->part[i];
    size_t dk = (size_t)q->D * q->K;
    s->P += (int)dk;
    if ((size_t)q->K > maxK) maxK = q->K;
    if (dk > maxDK) maxDK = dk;
    if ((size_t)q->D > maxD) maxD = q->D;
  }
  BUF(s->dk1, N * maxK);
  BUF(s->dk2, N * maxK);
  BUF(s->dv1, B * maxDK);
  BUF(s->dv2, B * maxDK);
  if (s->bn && s->nparts > 1) BUF(s->dxp, N * maxD);
  if (s->nparts > 1)
    BUF(s->vlad, B * s->P);
  else
    s->vlad = s->part[0].vg;
  BUF(s->dvlad, B * s->P);

  /* hidden layer: N(0, 1/sqrt(K)) with the cluster size, not the fan-in (2.7 step 4) */
  int hwshape[2] = {s->P, s->H};
  s->hw =
      yt_model_add_tensor(m, "hidden1_weights", 2, hwshape, 1, 0, YT_INIT_NORMAL, (float)(1 / sqrt(K)), err);
  if (s->hw < 0) return s->hw;
  if (s->hbn) {
    if ((rc = yt_model_add_batchnorm(m, "hidden1_bn", s->H, &s->h_bn, err)) < 0) return rc;
    BUF(s->h_mean, H);
    BUF(s->h_rstd, H);
  } else {
    s->hb = yt_model_add_tensor(m, "hidden1_biases", 1, &s->H, 1, 0, YT_INIT_NORMAL, 0.01f, err);
    if (s->hb < 0) return s->hb;
  }
  BUF(s->hz, B * H);
  s->h = s->hz;
  if (s->relu) BUF(s->h, B * H);
  BUF(s->dhg, B * H);
  s->dh = s->dhy = s->dhz = s->dhg;
  if (s->relu) BUF(s->dhy, B * H);
  s->dhz = s->dhy;
  if (s->hbn) BUF(s->dhz, B * H);

  /* context gating */
  s->hg = s->h;
  if (s->gating) {
    int gshape[2] = {s->H, s->H};
    s->gw = yt_model_add_tensor(m, "gating_weights_2", 2, gshape, 1, 0, YT_INIT_NORMAL,
                                (float)(1 / sqrt(s->H)), err);
    if (s->gw < 0) return s->gw;
    if (s->bn) {
      if ((rc = yt_model_add_batchnorm(m, "gating_bn", s->H, &s->g_bn, err)) < 0) return rc;
      BUF(s->g_mean, H);
      BUF(s->g_rstd, H);
    } else {
      s->gb = yt_model_add_tensor(m, "gating_biases", 1, &s->H, 1, 0, YT_INIT_NORMAL, (float)(1 / sqrt(s->D)),
                                  err);
      if (s->gb < 0) return s->gb;
    }
    BUF(s->gz, B * H);
    BUF(s->g, B * H);
    BUF(s->hg, B * H);
    BUF(s->dh, B * H);
    BUF(s->dgate, B * H);
    BUF(s->dgz, B * H);
    s->dgzb = s->dgz;
    if (s->bn) BUF(s->dgzb, B * H);
    if (!s->relu)
      s->dhy = s->dhz = s->dh; /* linear hidden layer: d hz is d h */
    else if (!s->hbn)
      s->dhz = s->dhy;
  }

  if ((rc = yt_moe_head_build(&s->head, m, s->H, err)) < 0) return rc;

  /* label gating: no L2, batch norm always (WILLOW's MoeModel) */
  if (s->pgating) {
    int pshape[2] = {s->C, s->C};
    s->pw = yt_model_add_tensor(m, "gating_prob_weights", 2, pshape, 1, 0, YT_INIT_NORMAL,
                                (float)(1 / sqrt(s->C)), err);
    if (s->pw < 0) return s->pw;
    if ((rc = yt_model_add_batchnorm(m, "gating_prob_bn", s->C, &s->p_bn, err)) < 0) return rc;
    BUF(s->p, B * C);
    BUF(s->pz, B * C);
    BUF(s->pg, B * C);
    BUF(s->p_mean, C);
    BUF(s->p_rstd, C);
    BUF(s->dp, B * C);
    BUF(s->dpg, B * C);
    BUF(s->dpz, B * C);
    BUF(s->dpzb, B * C);
  }
  return YT_OK;
}

/* ---- forward ------------------------------------------------------------------------- */

/* A batch norm's four tensors from its first index. */
#define BN_MOVING(i) yt_model_p(m, (i) + 2), yt_model_p(m, (i) + 3)
#define BN_AFFINE(i) yt_model_p(m, (i) + 1), yt_model_p(m, (i))
#define BN_GRADS(i) yt_model_g(m, (i) + 1), yt_model_g(m, (i))

static void part_forward(yt_model *m, nv_state *s, vlad_part *q, int B, int training) {
  int N = B * s->S, D = q->D, K = q->K;
  if (q->x != s->x1) m->be->cols_forward(q->x, s->x1 + q->off, N, D, D, s->D); // x1 (N, all D) -> x (N,D)
  // x (N,D)  cluster_weights (D,K)  z (N,K)
  m->be->matmul_forward(q->z, q->x, yt_model_p(m, q->cw), s->bn ? NULL : yt_model_p(m, q->cb), N, D, K);
  if (s->bn)
    m->be->batchnorm_forward(q->a, q->c_mean, q->c_rstd, BN_MOVING(q->c_bn), q->z, BN_AFFINE(q->c_bn), N, K,
                         training, m->cfg.batch_norm_decay);
  m->be->softmax_forward(q->a, q->a, N, K);
  // a (B,S,K)  x (B,S,D)  cluster_weights2 (D,K)  v (B,D,K)
  m->be->vlad_forward(q->v, q->asum, q->a, q->x, s->light ? NULL : yt_model_p(m, q->cw2), B, s->S, D, K);
  if (s->intra) m->be->l2norm_cols_forward(q->vn, q->v, B, D, K);
  m->be->l2norm_forward(q->vg, s->intra ? q->vn : q->v, B, D * K);
  if (s->nparts > 1) { // vg (B, D*K) -> vlad (B, P) at the part's offset
    int off = q == &s->part[0] ? 0 : s->part[0].D * s->part[0].K;
    m->be->cols_forward(s->vlad + off, q->vg, B, D * K, s->P, D * K);
  }
}

// x (B,F,D)  num_frames (B)  probs (B,C)
static void forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training) {
  nv_state *s = m->state;
  int S = s->S, D = s->D, H = s->H, C = s->C, N = B * S;
  float decay = m->cfg.batch_norm_decay;
  yt_model_sample_frames(m, s->idx, num_frames, B, S, training);
  m->be->upload(s->idx_dev, s->idx, (size_t)N * sizeof(int32_t));
  m->be->gather_frames(s->x0, x, s->idx_dev, B, S, m->cfg.max_frames, D);
  m->be->l2norm_forward(s->x0, s->x0, N, D); // x0 (N,D)
  if (s->bn)                             // x1 (N,D)
    m->be->batchnorm_forward(s->x1, s->in_mean, s->in_rstd, BN_MOVING(s->in_bn), s->x0, BN_AFFINE(s->in_bn), N, D,
                         training, decay);
  for (int i = 0; i < s->nparts; i++) part_forward(m, s, &s->part[i], B, training);

  // vlad (B,P)  hidden1_weights (P,H)  hz, h (B,H)
  m->be->matmul_forward(s->hz, s->vlad, yt_model_p(m, s->hw), s->hbn ? NULL : yt_model_p(m, s->hb), B, s->P, H);
  if (s->hbn) {
    m->be->batchnorm_forward(s->h, s->h_mean, s->h_rstd, BN_MOVING(s->h_bn), s->hz, BN_AFFINE(s->h_bn), B, H,
                         training, decay);
    m->be->relu6_forward(s->h, s->h, (size_t)B * H);
  } else if (s->relu) {
    m->be->relu6_forward(s->h, s->hz, (size_t)B * H);
  }

  // context gating: h (B,H)  gating_weights_2 (H,H)  hg (B,H)
  if (s->gating) {
    const float *wg = yt_model_p(m, s->gw);
    m->be->matmul_forward(s->gz, s->h, wg, s->bn ? NULL : yt_model_p(m, s->gb), B, H, H);
    if (s->rmdiag) m->be->remove_diag_forward(s->gz, s->h, wg, B, H);
    if (s->bn)
      m->be->batchnorm_forward(s->g, s->g_mean, s->g_rstd, BN_MOVING(s->g_bn), s->gz, BN_AFFINE(s->g_bn), B, H,
                           training, decay);
    m->be->sigmoid_forward(s->g, s->bn ? s->g : s->gz, (size_t)B * H);
    m->be->gate_forward(s->hg, s->h, s->g, (size_t)B * H);
  }

  // MoE head: hg (B,H)  p (B,C)
  float *p = s->pgating ? s->p : m->probs;
  yt_moe_head_forward(&s->head, m, p, s->hg, B);

  // label gating: p (B,C)  gating_prob_weights (C,C)  probs (B,C)
  if (s->pgating) {
    const float *wp = yt_model_p(m, s->pw);
    m->be->matmul_forward(s->pz, s->p, wp, NULL, B, C, C);
    if (s->rmdiag) m->be->remove_diag_forward(s->pz, s->p, wp, B, C);
    m->be->batchnorm_forward(s->pg, s->p_mean, s->p_rstd, BN_MOVING(s->p_bn), s->pz, BN_AFFINE(s->p_bn), B, C,
                         training, decay);
    m->be->sigmoid_forward(s->pg, s->pg, (size_t)B * C);
    m->be->gate_forward(m->probs, s->p, s->pg, (size_t)B * C);
  }
}

/* ---- backward -------------------------------------------------------------------------- */

static void zero(yt_model *m, float *p, size_t n) { m->be->zero(p, n * sizeof *p); }

/* dvg (B, D*K): d of the part's global-normalized VLAD. */
static void part_backward(yt_model *m, nv_state *s, vlad_part *q, const float *dvg, int B) {
  int S = s->S, N = B * S, D = q->D, K = q->K;
  size_t DK = (size_t)B * D * K, NK = (size_t)N * K;
  zero(m, s->dv1, DK);
  m->be->l2norm_backward(s->dv1, dvg, s->intra ? q->vn : q->v, B, D * K);
  zero(m, s->dv2, DK);
  if (s->intra) m->be->l2norm_cols_backward(s->dv2, s->dv1, q->v, B, D, K);
  else m->be->copy(s->dv2, s->dv1, DK * sizeof(float));
  /* d x of the part: only where input_bn sits below (else nothing trainable does) */
  float *dx = NULL;
  if (s->bn) {
    dx = s->nparts > 1 ? s->dxp : s->dx1;
    if (dx == s->dxp) zero(m, dx, (size_t)N * D);
  }
  zero(m, s->dk1, NK);
  m->be->vlad_backward(s->dk1, dx, s->light ? NULL : yt_model_g(m, q->cw2), s->dv2, q->a, q->x,
                   s->light ? NULL : yt_model_p(m, q->cw2), q->asum, B, S, D, K);
  zero(m, s->dk2, NK);
  m->be->softmax_backward(s->dk2, s->dk1, q->a, N, K);
  float *dz = s->dk2;
  if (s->bn) {
    zero(m, s->dk1, NK);
    m->be->batchnorm_backward(s->dk1, BN_GRADS(q->c_bn), s->dk2, q->z, q->c_mean, q->c_rstd,
                          yt_model_p(m, q->c_bn + 1), N, K);
    dz = s->dk1;
  }
  m->be->matmul_backward(dx, yt_model_g(m, q->cw), s->bn ? NULL : yt_model_g(m, q->cb), dz, q->x,
                     yt_model_p(m, q->cw), N, D, K);
  if (dx && dx == s->dxp) m->be->cols_backward(s->dx1 + q->off, dx, N, D, D, s->D);
}

static void backward(yt_model *m, const float *dprobs, int B) {
  nv_state *s = m->state;
  int S = s->S, D = s->D, H = s->H, C = s->C, N = B * S;
  size_t BH = (size_t)B * H, BC = (size_t)B * C;

  // label gating: probs = p g, g = sigmoid(bn(p Wp))
  const float *dp = dprobs;
  if (s->pgating) {
    const float *wp = yt_model_p(m, s->pw);
    zero(m, s->dp, BC), zero(m, s->dpg, BC);
    m->be->gate_backward(s->dp, s->dpg, dprobs, s->p, s->pg, BC);
    zero(m, s->dpz, BC);
    m->be->sigmoid_backward(s->dpz, s->dpg, s->pg, BC);
    zero(m, s->dpzb, BC);
    m->be->batchnorm_backward(s->dpzb, BN_GRADS(s->p_bn), s->dpz, s->pz, s->p_mean, s->p_rstd,
                          yt_model_p(m, s->p_bn + 1), B, C);
    m->be->matmul_backward(s->dp, yt_model_g(m, s->pw), NULL, s->dpzb, s->p, wp, B, C, C);
    if (s->rmdiag) m->be->remove_diag_backward(s->dp, yt_model_g(m, s->pw), s->dpzb, s->p, wp, B, C);
    dp = s->dp;
  }

  zero(m, s->dhg, BH);
  yt_moe_head_backward(&s->head, m, s->dhg, dp, s->hg, B);

  // context gating: hg = h g, g = sigmoid(bn(h Wg) or h Wg + b)
  if (s->gating) {
    const float *wg = yt_model_p(m, s->gw);
    zero(m, s->dh, BH), zero(m, s->dgate, BH);
    m->be->gate_backward(s->dh, s->dgate, s->dhg, s->h, s->g, BH);
    zero(m, s->dgz, BH);
    m->be->sigmoid_backward(s->dgz, s->dgate, s->g, BH);
    if (s->bn) {
      zero(m, s->dgzb, BH);
      m->be->batchnorm_backward(s->dgzb, BN_GRADS(s->g_bn), s->dgz, s->gz, s->g_mean, s->g_rstd,
                            yt_model_p(m, s->g_bn + 1), B, H);
    }
    m->be->matmul_backward(s->dh, yt_model_g(m, s->gw), s->bn ? NULL : yt_model_g(m, s->gb), s->dgzb, s->h, wg, B,
                       H, H);
    if (s->rmdiag) m->be->remove_diag_backward(s->dh, yt_model_g(m, s->gw), s->dgzb, s->h, wg, B, H);
  }

  // hidden layer: dh -> dhy (before relu6) -> dhz (before hidden1_bn)
  if (s->relu) {
    zero(m, s->dhy, BH);
    m->be->relu6_backward(s->dhy, s->dh, s->h, BH);
  }
  if (s->hbn) {
    zero(m, s->dhz, BH);
    m->be->batchnorm_backward(s->dhz, BN_GRADS(s->h_bn), s->dhy, s->hz, s->h_mean, s->h_rstd,
                          yt_model_p(m, s->h_bn + 1), B, H);
  }
  zero(m, s->dvlad, (size_t)B * s->P);
  m->be->matmul_backward(s->dvlad, yt_model_g(m, s->hw), s->hbn ? NULL : yt_model_g(m, s->hb), s->dhz, s->vlad,
                     yt_model_p(m, s->hw), B, s->P, H);

  // the VLADs, then input_bn
  if (s->bn) zero(m, s->dx1, (size_t)N * D);
  for (int i = 0; i < s->nparts; i++) {
    vlad_part *q = &s->part[i];
    int DK = q->D * q->K;
    const float *dvg = s->dvlad;
    if (s->nparts > 1) { // dvlad (B,P) at the part's offset -> dk (B, D*K), in dv2 (free until part_backward)
      zero(m, s->dv2, (size_t)B * DK);
      m->be->cols_backward(s->dv2, s->dvlad + (i ? s->part[0].D * s->part[0].K : 0), B, DK, s->P, DK);
      dvg = s->dv2;
    }
    part_backward(m, s, q, dvg, B);
  }
  if (s->bn)
    m->be->batchnorm_backward(NULL, BN_GRADS(s->in_bn), s->dx1, s->x0, s->in_mean, s->in_rstd,
                          yt_model_p(m, s->in_bn + 1), N, D);
}

/* ---- flops ------------------------------------------------------------------------------ */

static double flops(const yt_model *m, int training) {
  const nv_state *s = m->state;
  double fwd = 0, bwd = 0;
  for (int i = 0; i < s->nparts; i++) {
    double prod = 2.0 * s->S * s->part[i].D * s->part[i].K; /* x W, and aT x */
    fwd += 2 * prod;
    bwd += 2 * prod + (s->bn ? 2 * prod : 0); /* dW, da; dx (through both) only above input_bn */
  }
  double hidden = 2.0 * s->P * s->H, gate = s->gating ? 2.0 * s->H * s->H : 0,
         prob = s->pgating ? 2.0 * s->C * s->C : 0;
  fwd += hidden + gate + prob;
  bwd += 2 * (hidden + gate + prob);
  if (!training) return fwd + yt_moe_head_flops(&s->head, 0, 0);
  return fwd + bwd + yt_moe_head_flops(&s->head, 1, 1);
}

const yt_model_type yt_model_netvlad = {"NetVLADModelLF", 1, build, forward, backward, flops};
