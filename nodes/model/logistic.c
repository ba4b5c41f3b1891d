/* logistic.c: LogisticModel (REFERENCE.md 2.1): p = sigmoid(x W + b) on the
 * L2-normalized video-level input, W tower/fully_connected/weights [D,C]
 * Glorot-uniform with L2 l2_penalty, b zeros. Also the logistic head that
 * FrameLevelLogisticModel shares. Not here: the table (model.c). */
#include "model/model_impl.h"

#include <string.h>

int yt_logistic_head_build(yt_logistic_head *h, yt_model *m, int D, float l2, yt_err *err) {
  int C = m->cfg.num_classes, shape[2] = {D, C};
  h->D = D;
  h->C = C;
  h->w = yt_model_add_tensor(m, "fully_connected/weights", 2, shape, 1, l2, YT_INIT_GLOROT, 0, err);
  if (h->w < 0) return h->w;
  h->b = yt_model_add_tensor(m, "fully_connected/biases", 1, &C, 1, 0, YT_INIT_ZEROS, 0, err);
  if (h->b < 0) return h->b;
  h->dz = yt_model_alloc(m, (size_t)m->max_batch * C * sizeof(float), err);
  return h->dz ? YT_OK : YT_ENOMEM;
}

// x (B,D)  W (D,C)  b (C)  probs (B,C)
void yt_logistic_head_forward(yt_logistic_head *h, yt_model *m, float *probs, const float *x, int B) {
  m->be->matmul_forward(probs, x, yt_model_p(m, h->w), yt_model_p(m, h->b), B, h->D, h->C);
  m->be->sigmoid_forward(probs, probs, (size_t)B * h->C);
}

// dprobs, probs, dz (B,C)  x, dx (B,D)
void yt_logistic_head_backward(yt_logistic_head *h, yt_model *m, float *dx, const float *dprobs,
                               const float *probs, const float *x, int B) {
  size_t n = (size_t)B * h->C;
  m->be->zero(h->dz, n * sizeof *h->dz);
  m->be->sigmoid_backward(h->dz, dprobs, probs, n);
  m->be->matmul_backward(dx, yt_model_g(m, h->w), yt_model_g(m, h->b), h->dz, x, yt_model_p(m, h->w), B, h->D,
                     h->C);
}

double yt_logistic_head_flops(const yt_logistic_head *h, int training, int need_dx) {
  double f = 2.0 * h->D * h->C;
  return training ? f * (2 + (need_dx ? 1 : 0)) : f;
}

/* ---- LogisticModel ------------------------------------------------------------ */

typedef struct {
  yt_logistic_head head;
  float *xn; /* (max_batch, D) normalized input */
} logistic_state;

static int build(yt_model *m, yt_err *err) {
  logistic_state *s = m->state = yt_model_alloc_host(m, sizeof *s, err);
  if (!s) return YT_ENOMEM;
  s->xn = yt_model_alloc(m, (size_t)m->max_batch * m->cfg.feature_dim * sizeof(float), err);
  if (!s->xn) return YT_ENOMEM;
  return yt_logistic_head_build(&s->head, m, m->cfg.feature_dim, m->cfg.l2_penalty, err);
}

// x (B,D)
static void forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training) {
  (void)num_frames, (void)training;
  logistic_state *s = m->state;
  m->be->l2norm_forward(s->xn, x, B, m->cfg.feature_dim);
  yt_logistic_head_forward(&s->head, m, m->probs, s->xn, B);
}

static void backward(yt_model *m, const float *dprobs, int B) {
  logistic_state *s = m->state;
  yt_logistic_head_backward(&s->head, m, NULL, dprobs, m->probs, s->xn, B);
}

static double flops(const yt_model *m, int training) {
  const logistic_state *s = m->state;
  return yt_logistic_head_flops(&s->head, training, 0);
}

const yt_model_type yt_model_logistic = {"LogisticModel", 0, build, forward, backward, flops};
