/* frame_logistic.c: FrameLevelLogisticModel (REFERENCE.md 2.3): the mean of
 * each video's first num_frames L2-normalized frames (the true count, not F),
 * then the logistic head (tower/fully_connected, L2 l2_penalty). A video with
 * 0 frames pools to 0 where the starter divides 0 by 0 (NaN).
 * Not here: the head (logistic.c). */
#include "model/model_impl.h"

typedef struct {
  yt_logistic_head head;
  float *frames; /* (max_batch, F, D): the normalized frames (padding rows stay 0) */
  float *pooled; /* (max_batch, D) */
} frame_logistic_state;

static int build(yt_model *m, yt_err *err) {
  size_t D = (size_t)m->cfg.feature_dim;
  frame_logistic_state *s = m->state = yt_model_alloc_host(m, sizeof *s, err);
  if (!s) return YT_ENOMEM;
  s->frames = yt_model_alloc(m, (size_t)m->max_batch * m->cfg.max_frames * D * sizeof(float), err);
  s->pooled = s->frames ? yt_model_alloc(m, (size_t)m->max_batch * D * sizeof(float), err) : NULL;
  if (!s->pooled) return YT_ENOMEM;
  return yt_logistic_head_build(&s->head, m, m->cfg.feature_dim, m->cfg.l2_penalty, err);
}

// x (B,F,D)  num_frames (B)  pooled (B,D)
static void forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training) {
  (void)training;
  frame_logistic_state *s = m->state;
  int F = m->cfg.max_frames, D = m->cfg.feature_dim;
  (void)num_frames; /* m->nf: the same in the backend's memory */
  /* every row: a zero padding row stays zero (the norm's floor), and the mean
   * divides by the true count, so padding never counts */
  m->be->l2norm_forward(s->frames, x, B * F, D);
  m->be->meanpool_forward(s->pooled, s->frames, m->nf, B, F, D);
  yt_logistic_head_forward(&s->head, m, m->probs, s->pooled, B);
}

static void backward(yt_model *m, const float *dprobs, int B) {
  frame_logistic_state *s = m->state;
  yt_logistic_head_backward(&s->head, m, NULL, dprobs, m->probs, s->pooled, B);
}

static double flops(const yt_model *m, int training) {
  const frame_logistic_state *s = m->state;
  return yt_logistic_head_flops(&s->head, training, 0);
}

const yt_model_type yt_model_frame_logistic = {"FrameLevelLogisticModel", 1, build, forward, backward, flops};
