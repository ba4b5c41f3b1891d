/* adam.h: TensorFlow's AdamOptimizer with the starter's per-variable gradient
 * clipping, and its staircase learning-rate schedule (REFERENCE.md 3.2).
 * The moments m and v are each one contiguous block laid out like the
 * model's parameters (zeros where a tensor is not trainable), so a checkpoint
 * stores them as they are. Not here: the gradients (model.h), checkpoints.
 *
 *   yt_adam a; yt_adam_init(&a, yt_model_num_params(m), &err);
 *   per step: forward, backward, yt_adam_step(&a, m, yt_learning_rate(...), 1.0f); */
#ifndef YT_ADAM_H
#define YT_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"
#include "model/model.h"

#define YT_ADAM_BETA1 0.9f
#define YT_ADAM_BETA2 0.999f
#define YT_ADAM_EPS 1e-8f
#define YT_ADAM_MAX_TENSORS 64 /* >= YT_MODEL_MAX_TENSORS (model_impl.h) */

typedef struct yt_adam {
  size_t n;          /* floats in m and in v = yt_model_num_params() */
  float *m, *v;      /* first and second moments, parameter layout, in be's memory */
  const yt_backend *be;
  int owned;         /* m and v allocated here (else a model's optimizer slots) */
  float *gsumsq;     /* be's memory: one sum of squared gradients per tensor (clipping) */
  int ntensors;
  float *host_m, *host_v; /* host views (= m, v on the CPU) */
  int64_t t;         /* steps taken */
  float beta1, beta2, eps;
  /* beta^(t+1): the powers the next step uses, kept as TF keeps its
   * beta1_power/beta2_power variables (a float product per step). */
  float beta1_power, beta2_power;
} yt_adam;

/* Zero moments for n parameters on the CPU, t = 0, TF defaults. */
int yt_adam_init(yt_adam *a, size_t n, yt_err *err);
/* The same on the model's backend, in its two optimizer slots when it was
 * built with them (yt_model_new_on(..., 2, ...): one block with the
 * parameters), else in memory of its own. */
int yt_adam_init_for(yt_adam *a, yt_model *m, yt_err *err);
/* Host views of the moments (on a device, downloaded by this call), and the
 * upload after writing them (checkpoints). */
void yt_adam_moments(const yt_adam *a, float **m, float **v);
void yt_adam_moments_changed(yt_adam *a);
void yt_adam_free(yt_adam *a);

/* One step on the model's trainable tensors from its gradient block: each
 * tensor's gradient g is clipped as tf.clip_by_norm, g clip / max(|g|, clip)
 * (clip_norm <= 0: no clipping; the gradient block itself is not changed),
 * then m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2),
 * w -= lr_t m / (sqrt(v) + eps), lr_t = lr sqrt(1 - b2^t) / (1 - b1^t).
 * a->n must equal yt_model_num_params(m). */
void yt_adam_step(yt_adam *a, yt_model *m, float lr, float clip_norm);

/* base * decay ^ floor(global_step * batch_size / decay_examples), in float32
 * as tf.train.exponential_decay(staircase=True). batch_size counts the
 * examples of one step over all towers. */
float yt_learning_rate(float base, float decay, double decay_examples, int64_t global_step, int batch_size);

#endif
