/* vlad.h: the layers NetVLADModelLF adds to layers.h (REFERENCE.md 2.7), and
 * the frame gather it shares with DbofModel: VLAD aggregation, the
 * per-cluster (column) L2 normalization, the elementwise gating product, the
 * removal of a gating matrix's diagonal, and a strided column-block copy for
 * splitting rows into features and concatenating them again. Plain loops,
 * OpenBLAS sgemm for the per-video products; the CUDA backend mirrors each
 * function one-for-one. Not here: the model (netvlad.c).
 *
 * Conventions as layers.h: outputs first, then inputs and weights, then
 * dimensions; shapes in comments (B videos, S sampled frames per video, N =
 * B*S rows, D feature columns, K clusters, H hidden). Row major. A backward
 * ACCUMULATES (+=) into every gradient it is given; a NULL gradient is not
 * computed. Backward needs the matching forward's buffers unchanged. */
#ifndef YT_VLAD_H
#define YT_VLAD_H

#include <stddef.h>
#include <stdint.h>

/* out[b,s] = x[b, idx[b,s]]: the sampled frames of each video, as rows.
 * No backward (the input carries no gradient).
 * x (B,F,D)  idx (B,S) in 0..F-1  out (B*S,D) */
void yt_gather_frames(float *out, const float *x, const int32_t *idx, int B, int S, int F, int D);

/* Column block copy between row-strided matrices: out[n, 0:W] = x[n, 0:W],
 * with rows ldo floats apart in out and ldx in x. Splits a row into features
 * (x = all columns + offset) or concatenates them (out = all columns + offset).
 * x (N, ldx)  out (N, ldo) */
void yt_cols_forward(float *out, const float *x, int N, int W, int ldo, int ldx);
/* dx[n, 0:W] += dout[n, 0:W].  dout (N, ldo)  dx (N, ldx) */
void yt_cols_backward(float *dx, const float *dout, int N, int W, int ldo, int ldx);

/* VLAD of each video (REFERENCE.md 2.7): asum[b,k] = sum_s a[b,s,k] and
 * v[b,d,k] = sum_s a[b,s,k] x[b,s,d] - asum[b,k] c[d,k] (flat index d*K + k).
 * c NULL is LightVLAD (NetRVLAD): v = aT x, no centres. asum is saved for
 * backward (written also for LightVLAD).
 * a (B,S,K)  x (B,S,D)  c (D,K)  v (B,D,K)  asum (B,K) */
void yt_vlad_forward(float *v, float *asum, const float *a, const float *x, const float *c, int B, int S,
                     int D, int K);
/* da[b,s,k] += sum_d dv[b,d,k] (x[b,s,d] - c[d,k]), dx[b,s,d] += sum_k a[b,s,k] dv[b,d,k],
 * dc[d,k] -= sum_b asum[b,k] dv[b,d,k] (c and dc NULL for LightVLAD).
 * dv (B,D,K)  a, da (B,S,K)  x, dx (B,S,D)  c, dc (D,K)  asum (B,K) */
void yt_vlad_backward(float *da, float *dx, float *dc, const float *dv, const float *a, const float *x,
                      const float *c, const float *asum, int B, int S, int D, int K);

/* Intra-normalization: each column k of each video's (D,K) block times
 * rsqrt(max(sum_d x[b,d,k]^2, 1e-12)) (tf.nn.l2_normalize over d), in place.
 * x, out (B,D,K) */
void yt_l2norm_cols_forward(float *out, const float *x, int B, int D, int K);
/* dx += r (dout - x r^2 sum_d(dout x)) per column (r dout under the floor).
 * dout, x, dx (B,D,K) */
void yt_l2norm_cols_backward(float *dx, const float *dout, const float *x, int B, int D, int K);

/* Gating product out = x * g elementwise, in place (out == x allowed).
 * x, g, out (n) */
void yt_gate_forward(float *out, const float *x, const float *g, size_t n);
/* dx += dout g, dg += dout x.  dout, x, g, dx, dg (n) */
void yt_gate_backward(float *dx, float *dg, const float *dout, const float *x, const float *g, size_t n);

/* gating_remove_diag: out[n,i] -= w[i,i] x[n,i], in place on out (the output
 * of x w), so that a gate does not see its own input through the diagonal.
 * x, out (N,H)  w (H,H) */
void yt_remove_diag_forward(float *out, const float *x, const float *w, int N, int H);
/* dx[n,i] -= dout[n,i] w[i,i], dw[i,i] -= sum_n dout[n,i] x[n,i].
 * dout, x, dx (N,H)  w, dw (H,H) */
void yt_remove_diag_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, int N,
                             int H);

#endif
