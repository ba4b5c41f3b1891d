/* moe.c: MoeModel (REFERENCE.md 2.2) on the L2-normalized video-level input,
 * and the MoE head DbofModel ends with: gates = x Wg (no bias, [D, C(M+1)]),
 * experts = x We + be ([D, CM]), p = sum_{m<M} softmax(gates_c)_m
 * sigmoid(experts_c)_m with the dummy expert in slot M. Weights Glorot-uniform
 * with L2 moe_l2, biases zeros. Not here: the combine math (layers.c). */
#include "model/model_impl.h"

#include <string.h>

int yt_moe_head_build(yt_moe_head *h, yt_model *m, int D, yt_err *err) {
  int C = m->cfg.num_classes, M = m->cfg.moe_num_mixtures;
  float l2 = m->cfg.moe_l2;
  h->D = D;
  h->C = C;
  h->M = M;
  int gshape[2] = {D, C * (M + 1)}, eshape[2] = {D, C * M}, bshape[1] = {C * M};
  h->gates_w = yt_model_add_tensor(m, "gates/weights", 2, gshape, 1, l2, YT_INIT_GLOROT, 0, err);
  if (h->gates_w < 0) return h->gates_w;
  h->experts_w = yt_model_add_tensor(m, "experts/weights", 2, eshape, 1, l2, YT_INIT_GLOROT, 0, err);
  if (h->experts_w < 0) return h->experts_w;
  h->experts_b = yt_model_add_tensor(m, "experts/biases", 1, bshape, 1, 0, YT_INIT_ZEROS, 0, err);
  if (h->experts_b < 0) return h->experts_b;
  size_t B = (size_t)m->max_batch, G = (size_t)C * (M + 1), E = (size_t)C * M;
  h->gate_p = yt_model_alloc(m, B * G * sizeof(float), err);
  h->expert_p = h->gate_p ? yt_model_alloc(m, B * E * sizeof(float), err) : NULL;
  h->dgate = h->expert_p ? yt_model_alloc(m, B * G * sizeof(float), err) : NULL;
  h->dexpert = h->dgate ? yt_model_alloc(m, B * E * sizeof(float), err) : NULL;
  return h->dexpert ? YT_OK : YT_ENOMEM;
}

// x (B,D)  Wg (D,C(M+1))  We (D,CM)  be (CM)  probs (B,C)
void yt_moe_head_forward(yt_moe_head *h, yt_model *m, float *probs, const float *x, int B) {
  int C = h->C, M = h->M;
  m->be->matmul_forward(h->gate_p, x, yt_model_p(m, h->gates_w), NULL, B, h->D, C * (M + 1));
  m->be->matmul_forward(h->expert_p, x, yt_model_p(m, h->experts_w), yt_model_p(m, h->experts_b), B, h->D, C * M);
  m->be->moe_combine_forward(probs, h->gate_p, h->expert_p, h->gate_p, h->expert_p, B, C, M);
}

// dprobs (B,C)  x, dx (B,D)
void yt_moe_head_backward(yt_moe_head *h, yt_model *m, float *dx, const float *dprobs, const float *x, int B) {
  int C = h->C, M = h->M, G = C * (M + 1), E = C * M;
  m->be->zero(h->dgate, (size_t)B * G * sizeof(float));
  m->be->zero(h->dexpert, (size_t)B * E * sizeof(float));
  m->be->moe_combine_backward(h->dgate, h->dexpert, dprobs, h->gate_p, h->expert_p, B, C, M);
  m->be->matmul_backward(dx, yt_model_g(m, h->gates_w), NULL, h->dgate, x, yt_model_p(m, h->gates_w), B, h->D, G);
  m->be->matmul_backward(dx, yt_model_g(m, h->experts_w), yt_model_g(m, h->experts_b), h->dexpert, x,
                     yt_model_p(m, h->experts_w), B, h->D, E);
}

double yt_moe_head_flops(const yt_moe_head *h, int training, int need_dx) {
  double f = 2.0 * h->D * ((double)h->C * (h->M + 1) + (double)h->C * h->M);
  return training ? f * (2 + (need_dx ? 1 : 0)) : f;
}

/* ---- MoeModel ------------------------------------------------------------------- */

typedef struct {
  yt_moe_head head;
  float *xn; /* (max_batch, D) normalized input */
} moe_state;

static int build(yt_model *m, yt_err *err) {
  moe_state *s = m->state = yt_model_alloc_host(m, sizeof *s, err);
  if (!s) return YT_ENOMEM;
  s->xn = yt_model_alloc(m, (size_t)m->max_batch * m->cfg.feature_dim * sizeof(float), err);
  if (!s->xn) return YT_ENOMEM;
  return yt_moe_head_build(&s->head, m, m->cfg.feature_dim, err);
}

// x (B,D)
static void forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training) {
  (void)num_frames, (void)training;
  moe_state *s = m->state;
  m->be->l2norm_forward(s->xn, x, B, m->cfg.feature_dim);
  yt_moe_head_forward(&s->head, m, m->probs, s->xn, B);
}

static void backward(yt_model *m, const float *dprobs, int B) {
  moe_state *s = m->state;
  yt_moe_head_backward(&s->head, m, NULL, dprobs, s->xn, B);
}

static double flops(const yt_model *m, int training) {
  const moe_state *s = m->state;
  return yt_moe_head_flops(&s->head, training, 0);
}

const yt_model_type yt_model_moe = {"MoeModel", 0, build, forward, backward, flops};
