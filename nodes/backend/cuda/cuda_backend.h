/* cuda_backend.h: the CUDA backend (backend.h's table on one device).
 *
 * Built from backend.cu (state, errors, memory), matmul.cu (cuBLAS),
 * layers.cu, lstm.cu, loss.cu and steps.cu (kernels), vlad.cu (kernels and
 * batched cuBLAS) and table.c (the table), with CUDA; from backend_none.c
 * without, where yt_cuda_open says how to build with CUDA. tests/gpu/emu
 * builds the same .cu files as C++ on a CPU emulator of the runtime. Callers
 * use the table that yt_backend_open returns; the yt_cuda_<op> entries are
 * declared here for the table and for tests.
 * Not here: the CPU twins (model/layers.h, model/vlad.h, model/lstm_cell.h,
 * model/loss.h, backend/cpu/ops.h), which the comments of backend.h and those
 * headers describe. */
#ifndef YT_CUDA_BACKEND_H
#define YT_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets up device `device` (its stream, cuBLAS handle with TF32 tensor cores
 * only when allow_tf32) once per process and returns the table; again with
 * the same device: the same table (allow_tf32 is applied anew). NULL with
 * err filled: "cuda:N: no such device (K devices present)", a driver
 * problem, another device already open, or a build without CUDA. */
const yt_backend *yt_cuda_open(int device, int allow_tf32, yt_err *err);

/* memory and errors (backend.cu) */
void *yt_cuda_alloc(size_t bytes);
void yt_cuda_free(void *p);
void *yt_cuda_alloc_host(size_t bytes);
void yt_cuda_free_host(void *p);
void yt_cuda_upload(void *dst, const void *src, size_t bytes);
void yt_cuda_upload_input(void *dst, const void *src, size_t bytes, int slot);
void yt_cuda_inputs_ready(void);
void yt_cuda_inputs_done(void);
void yt_cuda_download(void *dst, const void *src, size_t bytes);
void yt_cuda_zero(void *p, size_t bytes);
void yt_cuda_copy(void *dst, const void *src, size_t bytes);
int yt_cuda_check(yt_err *err);

/* matmul.cu */
void yt_cuda_matmul_forward(float *out, const float *x, const float *w, const float *bias, int N, int D,
                            int K);
void yt_cuda_matmul_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x,
                             const float *w, int N, int D, int K);

/* layers.cu */
void yt_cuda_sigmoid_forward(float *out, const float *x, size_t n);
void yt_cuda_sigmoid_backward(float *dx, const float *dout, const float *out, size_t n);
void yt_cuda_relu6_forward(float *out, const float *x, size_t n);
void yt_cuda_relu6_backward(float *dx, const float *dout, const float *out, size_t n);
void yt_cuda_softmax_forward(float *out, const float *x, int N, int K);
void yt_cuda_softmax_backward(float *dx, const float *dout, const float *out, int N, int K);
void yt_cuda_batchnorm_forward(float *out, float *mean, float *rstd, float *moving_mean, float *moving_var,
                               const float *x, const float *gamma, const float *beta, int N, int C,
                               int training, float decay);
void yt_cuda_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                                const float *mean, const float *rstd, const float *gamma, int N, int C);
void yt_cuda_l2norm_forward(float *out, const float *x, int N, int D);
void yt_cuda_l2norm_backward(float *dx, const float *dout, const float *x, int N, int D);
void yt_cuda_meanpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D);
void yt_cuda_meanpool_backward(float *dx, const float *dout, const int32_t *num_frames, int B, int F, int D);
void yt_cuda_maxpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D);
void yt_cuda_maxpool_backward(float *dx, const float *dout, const float *x, const float *out,
                              const int32_t *num_frames, int B, int F, int D);
void yt_cuda_moe_combine_forward(float *p, float *gate_p, float *expert_p, const float *gate_logits,
                                 const float *expert_logits, int B, int C, int M);
void yt_cuda_moe_combine_backward(float *dgate_logits, float *dexpert_logits, const float *dp,
                                  const float *gate_p, const float *expert_p, int B, int C, int M);

/* vlad.cu */
void yt_cuda_gather_frames(float *out, const float *x, const int32_t *idx, int B, int S, int F, int D);
void yt_cuda_cols_forward(float *out, const float *x, int N, int W, int ldo, int ldx);
void yt_cuda_cols_backward(float *dx, const float *dout, int N, int W, int ldo, int ldx);
void yt_cuda_vlad_forward(float *v, float *asum, const float *a, const float *x, const float *c, int B, int S,
                          int D, int K);
void yt_cuda_vlad_backward(float *da, float *dx, float *dc, const float *dv, const float *a, const float *x,
                           const float *c, const float *asum, int B, int S, int D, int K);
void yt_cuda_l2norm_cols_forward(float *out, const float *x, int B, int D, int K);
void yt_cuda_l2norm_cols_backward(float *dx, const float *dout, const float *x, int B, int D, int K);
void yt_cuda_gate_forward(float *out, const float *x, const float *g, size_t n);
void yt_cuda_gate_backward(float *dx, float *dg, const float *dout, const float *x, const float *g, size_t n);
void yt_cuda_remove_diag_forward(float *out, const float *x, const float *w, int N, int H);
void yt_cuda_remove_diag_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                                  int N, int H);

/* lstm.cu */
void yt_cuda_time_major_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int T,
                                int D);
void yt_cuda_lstm_cell_forward(float *c, float *h, float *act, const float *xw, const float *hw,
                               const float *c_prev, const float *h_prev, const int32_t *num_frames, int t,
                               int B, int H);
void yt_cuda_lstm_cell_backward(float *dpre, float *dc_prev, float *dh_prev, const float *dc, const float *dh,
                                const float *act, const float *c, const float *c_prev,
                                const int32_t *num_frames, int t, int B, int H);

/* loss.cu */
void yt_cuda_loss_forward(float *loss, int kind, const float *p, const float *y, int B, int C);
void yt_cuda_loss_backward(int kind, float *dp, const float *p, const float *y, int B, int C);

/* steps.cu */
void yt_cuda_sumsq(float *out, const float *x, size_t n);
void yt_cuda_axpy(float *y, float a, const float *x, size_t n);
void yt_cuda_l2_grad(float *wsumsq, float *gsumsq, float *g, const float *w, float l2, size_t n);
void yt_cuda_adam_update(float *w, float *m, float *v, const float *g, const float *gsumsq, float clip,
                         size_t n, float lr_t, float b1, float b2, float eps);
void yt_cuda_gather_rows(float *out, const float *x, const int32_t *idx, int N, int D);
void yt_cuda_dequantize_frames(float *out, const uint8_t *q, const int32_t *num_frames, int B, int F, int D,
                               float scale, float bias);
void yt_cuda_ema_update(float *shadow, const float *w, float decay, size_t n);

#ifdef __cplusplus
}
#endif

#endif
