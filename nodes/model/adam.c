/* adam.c: Adam with per-variable clipping, and the learning-rate schedule
 * (see adam.h). Float arithmetic in the order of TF's ApplyAdam CPU kernel. */
#include "model/adam.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int adam_setup(yt_adam *a, const yt_backend *be, size_t n, float *slot_m, float *slot_v, yt_err *err) {
  memset(a, 0, sizeof *a);
  a->be = be;
  a->n = n;
  a->beta1 = a->beta1_power = YT_ADAM_BETA1;
  a->beta2 = a->beta2_power = YT_ADAM_BETA2;
  a->eps = YT_ADAM_EPS;
  a->ntensors = YT_ADAM_MAX_TENSORS;
  size_t bytes = (n ? n : 1) * sizeof(float);
  if (slot_m && slot_v) {
    a->m = slot_m, a->v = slot_v;
  } else {
    a->owned = 1;
    a->m = be->alloc(bytes);
    a->v = a->m ? be->alloc(bytes) : NULL;
  }
  a->gsumsq = a->v ? be->alloc((size_t)a->ntensors * sizeof(float)) : NULL;
  int host = be == yt_backend_cpu();
  a->host_m = host ? a->m : calloc(1, bytes);
  a->host_v = host ? a->v : calloc(1, bytes);
  if (!a->gsumsq || !a->host_m || !a->host_v) {
    yt_err why = {0};
    be->check(&why);
    yt_adam_free(a);
    return yt_fail(err, YT_ENOMEM, "out of memory for the Adam moments (%zu parameters, %.1f MiB) on %s%s%s", n,
                   2.0 * bytes / 1048576.0, be->name, why.msg[0] ? ": " : "", why.msg);
  }
  return YT_OK;
}

int yt_adam_init(yt_adam *a, size_t n, yt_err *err) { return adam_setup(a, yt_backend_cpu(), n, NULL, NULL, err); }

int yt_adam_init_for(yt_adam *a, yt_model *m, yt_err *err) {
  return adam_setup(a, yt_model_backend(m), yt_model_num_params(m), yt_model_opt_slot(m, 0), yt_model_opt_slot(m, 1),
                    err);
}

void yt_adam_free(yt_adam *a) {
  if (a->be) {
    if (a->owned) {
      a->be->free(a->m);
      a->be->free(a->v);
    }
    a->be->free(a->gsumsq);
    if (a->host_m != a->m) free(a->host_m);
    if (a->host_v != a->v) free(a->host_v);
  }
  memset(a, 0, sizeof *a);
}

void yt_adam_moments(const yt_adam *a, float **m, float **v) {
  if (a->host_m != a->m) {
    a->be->download(a->host_m, a->m, a->n * sizeof(float));
    a->be->download(a->host_v, a->v, a->n * sizeof(float));
  }
  *m = a->host_m;
  *v = a->host_v;
}

void yt_adam_moments_changed(yt_adam *a) {
  if (a->host_m != a->m) {
    a->be->upload(a->m, a->host_m, a->n * sizeof(float));
    a->be->upload(a->v, a->host_v, a->n * sizeof(float));
  }
}

/* Per trainable tensor: the sum of its squared gradient when clipping (the
 * backward summed it already for tensors with an L2 term: yt_model_grad_sumsq),
 * then the update (backend.h adam_update; the CPU twin is nodes/backend/cpu/
 * ops.c, in TF's ApplyAdam order). Nothing waits for the device. */
void yt_adam_step(yt_adam *a, yt_model *m, float lr, float clip_norm) {
  assert(a->n == yt_model_num_params(m) && a->be == yt_model_backend(m));
  assert(yt_model_num_tensors(m) <= a->ntensors);
  const yt_backend *be = a->be;
  float *w = yt_model_params_dev(m);
  const float *grad = yt_model_grads_dev_ro(m);
  const float one = 1.0f;
  float alpha = lr * sqrtf(one - a->beta2_power) / (one - a->beta1_power);
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    if (!t->trainable) continue;
    const float *g = grad + t->offset;
    const float *gs = NULL;
    if (clip_norm > 0.0f && !(gs = yt_model_grad_sumsq(m, i))) { /* the backward's L2 pass summed it already */
      be->sumsq(a->gsumsq + i, g, t->numel);
      gs = a->gsumsq + i;
    }
    be->adam_update(w + t->offset, a->m + t->offset, a->v + t->offset, g, gs, clip_norm, t->numel, alpha, a->beta1,
                    a->beta2, a->eps);
  }
  a->t++;
  a->beta1_power *= a->beta1;
  a->beta2_power *= a->beta2;
}

float yt_learning_rate(float base, float decay, double decay_examples, int64_t global_step, int batch_size) {
  float examples = (float)(global_step * (int64_t)batch_size);
  float p = floorf(examples / (float)decay_examples);
  return base * powf(decay, p);
}
