/* model_ref.h: what the model tests compute independently of the library,
 * in double: the label loss of REFERENCE.md 3.1 and the L2 terms, for the
 * finite-difference checks of test_models.c, test_netvlad.c and test_lstm.c. */
#ifndef YT_TEST_MODEL_REF_H
#define YT_TEST_MODEL_REF_H

#include <math.h>

#include "model/model.h"

/* The total label loss, mean over the batch of the sum over classes. */
static inline double ref_loss(const yt_model *m, const float *p, const float *y, int B) {
  const yt_model_config *c = yt_model_cfg(m);
  int C = c->num_classes;
  double total = 0;
  for (int b = 0; b < B; b++) {
    const float *pr = p + (size_t)b * C, *yr = y + (size_t)b * C;
    if (c->label_loss == YT_LOSS_CE) {
      for (int k = 0; k < C; k++) total -= yr[k] * log(pr[k] + 1e-5) + (1 - yr[k]) * log(1 - pr[k] + 1e-5);
    } else if (c->label_loss == YT_LOSS_HINGE) {
      for (int k = 0; k < C; k++) total += fmax(0, 1 - (2.0 * yr[k] - 1) * pr[k]);
    } else {
      double ys = 0, mx = pr[0], s = 0;
      for (int k = 0; k < C; k++) ys += yr[k], mx = fmax(mx, pr[k]);
      for (int k = 0; k < C; k++) s += exp(pr[k] - mx);
      for (int k = 0; k < C; k++) total -= yr[k] / fmax(ys, 1e-7) * (pr[k] - mx - log(s));
    }
  }
  return total / B;
}

/* sum over tensors of l2 sum(w^2) / 2 */
static inline double ref_l2(yt_model *m) {
  double reg = 0;
  const float *w = yt_model_params(m);
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    double ss = 0;
    for (size_t k = 0; k < t->numel; k++) ss += (double)w[t->offset + k] * w[t->offset + k];
    reg += t->l2 * ss / 2;
  }
  return reg;
}

#endif
