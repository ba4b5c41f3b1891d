/* layers.h: the models' layers on the CPU, as forward/backward pairs: plain
 * loops, OpenBLAS sgemm for the products. This is the reference the CUDA
 * kernels are tested against, so it favours clarity over tricks.
 * Not here: losses (loss.h), the optimizer (adam.h), the models (model.h).
 *
 * Conventions (llm.c): outputs first, then inputs and weights, then
 * dimensions; shapes in a comment with the project's letters (N rows = B, or
 * B*F for per-frame layers). Row major. A backward ACCUMULATES (+=) into every
 * gradient it is given; a NULL gradient is not computed. A forward marked
 * "in place" may be given out == x. Backward needs the matching forward's
 * buffers (named in each comment) unchanged. */
#ifndef YT_LAYERS_H
#define YT_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* slim.batch_norm as the starter builds it (REFERENCE.md 2.0). */
#define YT_BN_DECAY 0.999f /* the default of yt_model_config.batch_norm_decay */
#define YT_BN_EPS 0.001f
/* tf.nn.l2_normalize's floor on the sum of squares (REFERENCE.md 1.8). */
#define YT_L2NORM_EPS 1e-12

/* out = x w + bias (bias may be NULL).
 * x (N,D)  w (D,K)  bias (K)  out (N,K) */
void yt_matmul_forward(float *out, const float *x, const float *w, const float *bias, int N, int D, int K);
/* dx += dout wT, dw += xT dout, dbias += column sums of dout.
 * dout (N,K)  x (N,D)  w (D,K)  dx (N,D)  dw (D,K)  dbias (K) */
void yt_matmul_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x, const float *w,
                        int N, int D, int K);

/* out = 1/(1+exp(-x)), in place.  x, out (n) */
void yt_sigmoid_forward(float *out, const float *x, size_t n);
/* dx += dout out (1-out).  out: the forward's output */
void yt_sigmoid_backward(float *dx, const float *dout, const float *out, size_t n);

/* out = min(max(x,0),6), in place.  x, out (n) */
void yt_relu6_forward(float *out, const float *x, size_t n);
/* dx += dout where 0 < out < 6 (the same set as 0 < x < 6, tf's Relu6Grad). */
void yt_relu6_backward(float *dx, const float *dout, const float *out, size_t n);

/* Softmax of each row, in place.  x, out (N,K) */
void yt_softmax_forward(float *out, const float *x, int N, int K);
/* dx += out (dout - sum_k dout out).  out: the forward's output (N,K) */
void yt_softmax_backward(float *dx, const float *dout, const float *out, int N, int K);

/* Batch norm over the rows, per column (center and scale).
 * training: mean and biased variance of the batch; out = gamma (x-mean) rstd
 * + beta with rstd = 1/sqrt(var+eps); mean and rstd are saved for backward;
 * moving_mean -= (1-decay) (moving_mean - mean) and moving_var likewise with
 * the unbiased variance var N/(N-1) (TF's fused path; N = 1 keeps var), when
 * the moving pointers are not NULL.
 * inference: out = gamma (x - moving_mean) / sqrt(moving_var + eps) + beta;
 * mean and rstd are not touched (may be NULL).
 * x, out (N,C)  gamma, beta, mean, rstd, moving_mean, moving_var (C) */
void yt_batchnorm_forward(float *out, float *mean, float *rstd, float *moving_mean, float *moving_var,
                          const float *x, const float *gamma, const float *beta, int N, int C, int training,
                          float decay);
/* After a training forward: dx += d/dx (batch statistics included),
 * dgamma += sum dout xhat, dbeta += sum dout, with xhat = (x-mean) rstd.
 * dout, x, dx (N,C)  mean, rstd, gamma, dgamma, dbeta (C) */
void yt_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *gamma, int N, int C);

/* Each row times rsqrt(max(sum x^2, 1e-12)), in place.  x, out (N,D) */
void yt_l2norm_forward(float *out, const float *x, int N, int D);
/* dx += r (dout - x r^2 sum(dout x)) with r the row's factor (r dout where
 * the floor holds).  dout, x, dx (N,D) */
void yt_l2norm_backward(float *dx, const float *dout, const float *x, int N, int D);

/* Mean over the first n_b frames of each video, n_b = num_frames[b], or F
 * when num_frames is NULL; a video with 0 frames gives 0 (the starter divides
 * 0 by 0).  x (B,F,D)  num_frames (B)  out (B,D) */
void yt_meanpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D);
/* dx[b,t] += dout[b] / n_b for t < n_b.  dout (B,D)  dx (B,F,D) */
void yt_meanpool_backward(float *dx, const float *dout, const int32_t *num_frames, int B, int F, int D);

/* Max over the first n_b frames (as meanpool; 0 frames gives 0).
 * x (B,F,D)  num_frames (B)  out (B,D) */
void yt_maxpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D);
/* dx += dout at the maxima; ties share dout evenly (tf.reduce_max's gradient).
 * x, out: the forward's input and output.  dout (B,D)  dx (B,F,D) */
void yt_maxpool_backward(float *dx, const float *dout, const float *x, const float *out,
                         const int32_t *num_frames, int B, int F, int D);

/* Mixture of experts (REFERENCE.md 2.2): gate_p = softmax over each group of
 * M+1 gate logits (flat column c(M+1)+m; slot M is the dummy expert that
 * predicts 0), expert_p = sigmoid(expert logits) (column cM+m), and
 * p[b,c] = sum_{m<M} gate_p expert_p. gate_p and expert_p may be the logits'
 * buffers (in place).
 * gate_logits, gate_p (B, C(M+1))  expert_logits, expert_p (B, CM)  p (B,C) */
void yt_moe_combine_forward(float *p, float *gate_p, float *expert_p, const float *gate_logits,
                            const float *expert_logits, int B, int C, int M);
/* dgate_logits += d/dlogits through the softmax (the dummy slot included),
 * dexpert_logits += dp gate_p expert_p (1-expert_p).
 * dp (B,C)  gate_p, dgate_logits (B, C(M+1))  expert_p, dexpert_logits (B, CM) */
void yt_moe_combine_backward(float *dgate_logits, float *dexpert_logits, const float *dp, const float *gate_p,
                             const float *expert_p, int B, int C, int M);

#endif
