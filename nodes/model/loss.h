/* loss.h: the label losses of the starter (losses.py, REFERENCE.md 3.1) on
 * the CPU: value and gradient with respect to the predicted probabilities.
 * All reduce as mean over the batch of the sum over classes. Labels are
 * floats in 0..1 (soft targets for distillation work as they do in TF).
 * Not here: the L2 terms (the model adds them), label_weights (never passed).
 *
 * p, y, dp (B,C). Backward ACCUMULATES into dp. */
#ifndef YT_LOSS_H
#define YT_LOSS_H

#include "model/model.h" /* YT_LOSS_* */

#define YT_CE_EPS 1e-5f      /* CrossEntropyLoss: log(p + eps), spelled 10e-6 */
#define YT_SOFTMAX_EPS 1e-7f /* SoftmaxLoss: label row sum floor, spelled 10e-8 */

/* sum_c -[y log(p + eps) + (1-y) log(1 - p + eps)] */
float yt_ce_loss_forward(const float *p, const float *y, int B, int C);
void yt_ce_loss_backward(float *dp, const float *p, const float *y, int B, int C);

/* sum_c max(0, 1 - (2y - 1) p) */
float yt_hinge_loss_forward(const float *p, const float *y, int B, int C);
void yt_hinge_loss_backward(float *dp, const float *p, const float *y, int B, int C);

/* -sum_c y~ log(softmax(p)_c), y~ = y / max(sum_c y, 1e-7) */
float yt_softmax_loss_forward(const float *p, const float *y, int B, int C);
void yt_softmax_loss_backward(float *dp, const float *p, const float *y, int B, int C);

/* Dispatch on kind = YT_LOSS_CE | YT_LOSS_HINGE | YT_LOSS_SOFTMAX. */
float yt_loss_forward(int kind, const float *p, const float *y, int B, int C);
void yt_loss_backward(int kind, float *dp, const float *p, const float *y, int B, int C);
/* "CrossEntropyLoss" etc., or NULL for an unknown kind. */
const char *yt_loss_name(int kind);

#endif
