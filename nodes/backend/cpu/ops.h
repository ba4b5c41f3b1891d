/* ops.h: the CPU twins of the backend operations that are not layers or
 * losses (backend.h, "the steps model.c and adam.c share"): sums of squares,
 * axpy, one tensor's Adam update, row gathers, frame dequantization and the
 * weights' moving average (EMA).
 * Plain loops; the CUDA kernels are tested against these.
 * Not here: the layers (model/layers.h), the losses (model/loss.h), the
 * optimizer's schedule and per-model loop (model/adam.h). */
#ifndef YT_BACKEND_CPU_OPS_H
#define YT_BACKEND_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

/* out[0] = sum of x^2 in double, stored as float: 8 lanes within blocks of
 * at least 64k floats (at most 4096 blocks), block sums added in order, so
 * the bits depend on n alone, not on the threads.  x (n) */
void yt_sumsq(float *out, const float *x, size_t n);

/* The L2 term of one tensor in one pass: wsumsq[0] = the sum of w^2, then
 * g += l2 w, then gsumsq[0] = the sum of the new g^2; the same bits as
 * yt_sumsq(wsumsq, w), yt_axpy(g, l2, w), yt_sumsq(gsumsq, g), with three
 * streams over memory instead of five.  g, w (n) */
void yt_l2_grad(float *wsumsq, float *gsumsq, float *g, const float *w, float l2, size_t n);

/* y += a x.  x, y (n) */
void yt_axpy(float *y, float a, const float *x, size_t n);

/* One tensor's Adam step, yt_adam_step's arithmetic for one tensor: when
 * clip > 0, g is scaled by clip / max(sqrt(gsumsq[0]), clip) (gsumsq = the
 * sum of g^2, e.g. from yt_sumsq; may be NULL when clip <= 0), then
 * m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), w -= lr_t m / (sqrt(v) + eps).
 * g is not changed.  w, m, v, g (n) */
void yt_adam_update(float *w, float *m, float *v, const float *g, const float *gsumsq, float clip, size_t n,
                    float lr_t, float b1, float b2, float eps);

/* out[i] = x[idx[i]], rows of D floats.  idx (N)  x (rows, D)  out (N, D) */
void yt_gather_rows(float *out, const float *x, const int32_t *idx, int N, int D);

/* out[b,t] = q[b,t] scale + bias (a float multiply then a float add, REFERENCE.md
 * 1.6) for t < num_frames[b] (clamped to 0..F; NULL = F), 0 after.
 * q, out (B,F,D)  num_frames (B) */
void yt_dequantize_frames(float *out, const uint8_t *q, const int32_t *num_frames, int B, int F, int D,
                          float scale, float bias);

/* shadow = decay shadow + (1 - decay) w (two float multiplies, then an add),
 * the weights' moving average after each optimizer step.  shadow, w (n) */
void yt_ema_update(float *shadow, const float *w, float decay, size_t n);

#endif
