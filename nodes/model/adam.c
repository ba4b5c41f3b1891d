/* adam.c: Adam with per-variable clipping, and the learning-rate schedule
 * (see adam.h). Float arithmetic in the order of TF's ApplyAdam CPU kernel. */
#include "model/adam.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

int yt_adam_init(yt_adam *a, size_t n, yt_err *err) {
  memset(a, 0, sizeof *a);
  a->m = calloc(n ? n : 1, sizeof *a->m);
  a->v = calloc(n ? n : 1, sizeof *a->v);
  if (!a->m || !a->v) {
    yt_adam_free(a);
    return yt_fail(err, YT_ENOMEM, "out of memory for the Adam moments (%zu parameters, %.1f MiB)", n,
                   2.0 * n * sizeof(float) / 1048576.0);
  }
  a->n = n;
  a->beta1 = a->beta1_power = YT_ADAM_BETA1;
  a->beta2 = a->beta2_power = YT_ADAM_BETA2;
  a->eps = YT_ADAM_EPS;
  return YT_OK;
}

void yt_adam_free(yt_adam *a) {
  free(a->m);
  free(a->v);
  memset(a, 0, sizeof *a);
}

/* The update of one tensor, 4 lanes at a time where SSE is there (GCC will
 * not vectorize sqrtf without -fno-math-errno); the lanes do the scalar
 * loop's operations in the same order, so the results are the same bits. */
static void update(float *p, float *mm, float *vv, const float *g, size_t n, float clip, float denom, float alpha,
                   float c1, float c2, float eps) {
  size_t k = 0;
#ifdef __SSE__
  __m128 vclip = _mm_set1_ps(clip), vden = _mm_set1_ps(denom), valpha = _mm_set1_ps(alpha);
  __m128 vc1 = _mm_set1_ps(c1), vc2 = _mm_set1_ps(c2), veps = _mm_set1_ps(eps);
  for (; k + 4 <= n; k += 4) {
    __m128 gk = _mm_div_ps(_mm_mul_ps(_mm_loadu_ps(g + k), vclip), vden);
    __m128 m = _mm_loadu_ps(mm + k), v = _mm_loadu_ps(vv + k);
    m = _mm_add_ps(m, _mm_mul_ps(_mm_sub_ps(gk, m), vc1));
    v = _mm_add_ps(v, _mm_mul_ps(_mm_sub_ps(_mm_mul_ps(gk, gk), v), vc2));
    __m128 step = _mm_div_ps(_mm_mul_ps(m, valpha), _mm_add_ps(_mm_sqrt_ps(v), veps));
    _mm_storeu_ps(mm + k, m);
    _mm_storeu_ps(vv + k, v);
    _mm_storeu_ps(p + k, _mm_sub_ps(_mm_loadu_ps(p + k), step));
  }
#endif
  for (; k < n; k++) {
    float gk = g[k] * clip / denom;
    mm[k] += (gk - mm[k]) * c1;
    vv[k] += (gk * gk - vv[k]) * c2;
    p[k] -= (mm[k] * alpha) / (sqrtf(vv[k]) + eps);
  }
}

/* sum g^2 in double over 8 independent lanes: one running sum is a chain of
 * dependent adds (4 cycles each), which made the norm pass alone ~10 ms of a
 * 22M-parameter MoE step. */
static double sum_squares(const float *g, size_t n) {
  double acc[8] = {0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) acc[j] += (double)g[k + j] * g[k + j];
  for (; k < n; k++) acc[0] += (double)g[k] * g[k];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void yt_adam_step(yt_adam *a, yt_model *m, float lr, float clip_norm) {
  assert(a->n == yt_model_num_params(m));
  float *w = yt_model_params(m);
  const float *grad = yt_model_grads(m);
  const float one = 1.0f;
  float alpha = lr * sqrtf(one - a->beta2_power) / (one - a->beta1_power);
  float c1 = one - a->beta1, c2 = one - a->beta2, eps = a->eps;
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    if (!t->trainable) continue;
    const float *g = grad + t->offset;
    float *mm = a->m + t->offset, *vv = a->v + t->offset, *p = w + t->offset;
    float clip = 1.0f, denom = 1.0f; /* g clip / denom; 1/1 leaves g exact */
    if (clip_norm > 0.0f) {
      float norm = (float)sqrt(sum_squares(g, t->numel));
      clip = clip_norm;
      denom = norm > clip_norm ? norm : clip_norm;
    }
    update(p, mm, vv, g, t->numel, clip, denom, alpha, c1, c2, eps);
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
