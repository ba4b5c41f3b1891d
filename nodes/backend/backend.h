/* backend.h: the table of operations a model runs on (STYLE.md, from ggml).
 *
 * A model calls every operation on its activations and parameters through
 * one of these tables, so the same model code runs on the CPU (the
 * reference: nodes/model/layers.c and friends, plain loops and OpenBLAS) and
 * on a CUDA device (nodes/backend/cuda: kernels and cuBLAS). Each entry has
 * the signature of its CPU twin (layers.h, loss.h, vlad.h, lstm_cell.h,
 * backend/cpu/ops.h) so that the CPU table is
 * those functions themselves; pointers given to an entry are the backend's
 * own memory (device memory for CUDA) unless the comment says host.
 *
 * One process drives one backend: a node is one process, and the CUDA
 * backend keeps its device, stream and cuBLAS handle in process-wide state
 * (yt_backend_open sets them up). Operations are queued in order on that
 * stream; download() and check() wait for them.
 *
 * Errors: an operation cannot fail on the CPU; on a device it can (a launch
 * error, an illegal address, cuBLAS). The first failure is kept, with the
 * failing statement and file:line, and check() reports it and clears it. A
 * caller checks once per step, not per call. An operation a backend lacks is
 * NULL in its table, and yt_backend_require names it (never a silent fallback).
 * Adding an entry: list its name in YT_BACKEND_OPS (backend/cpu/cpu.c; a static
 * assert there notices a missing one), set it in both tables, and give it a
 * case in tests/gpu/test_cuda_ops.c (which CI runs on the kernel emulator as
 * test_cuda_ops_emu, tests/gpu/emu).
 *
 * Not here: which models exist (nodes/model/model.h), the optimizer's
 * schedule (adam.h), host-side formats. */
#ifndef YT_BACKEND_H
#define YT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* upload_input's staging slots: one per input a step uploads */
enum { YT_INPUT_FEATURES, YT_INPUT_NUM_FRAMES, YT_INPUT_LABELS, YT_INPUT_SLOTS };

typedef struct yt_backend {
  const char *name; /* "cpu" or "cuda" */
  int device;       /* the CUDA ordinal; -1 on the CPU */

  /* ---- memory ---- */
  void *(*alloc)(size_t bytes); /* zeroed; NULL when out of memory (check() says why) */
  void (*free)(void *p);
  /* page-locked host memory (plain heap memory on the CPU), zeroed, for
   * buffers that are uploaded every step: the copy then runs beside the compute */
  void *(*alloc_host)(size_t bytes);
  void (*free_host)(void *p);
  /* host -> backend; may return before the copy is done: src must stay
   * unchanged until the next download() or check() */
  void (*upload)(void *dst, const void *src, size_t bytes);
  /* backend -> host; waits for everything queued before it */
  void (*download)(void *dst, const void *src, size_t bytes);
  void (*zero)(void *p, size_t bytes);
  void (*copy)(void *dst, const void *src, size_t bytes); /* within the backend; no overlap */
  /* The batch's way in (model.c), a step's inputs: src (any host memory,
   * free to change once the call returns) is copied into the slot's
   * page-locked staging buffer (YT_INPUT_*; the slot's previous copy waits
   * for its transfer), then to dst on the device's copy stream, after the
   * inputs' last readers (inputs_done) and beside whatever the compute stream
   * still runs (the previous step's Adam). inputs_ready: what is queued
   * after it sees every upload_input before it. inputs_done: the inputs'
   * device buffers are free to be overwritten once the work queued before it
   * ran. On the CPU: memcpy, and the other two do nothing. */
  void (*upload_input)(void *dst, const void *src, size_t bytes, int slot);
  void (*inputs_ready)(void);
  void (*inputs_done)(void);
  /* Waits for queued work; the first failure since the last check, or YT_OK:
   * YT_ENOMEM for an allocation (the byte count in the message), YT_EIO for
   * anything else ("cuda:0: backend/cuda/x.cu:LINE: <statement>: <error>"). */
  int (*check)(yt_err *err);

  /* ---- layers.h (same signatures, same accumulate-into-gradients rule) ---- */
  void (*matmul_forward)(float *out, const float *x, const float *w, const float *bias, int N, int D, int K);
  void (*matmul_backward)(float *dx, float *dw, float *dbias, const float *dout, const float *x, const float *w,
                          int N, int D, int K);
  void (*sigmoid_forward)(float *out, const float *x, size_t n);
  void (*sigmoid_backward)(float *dx, const float *dout, const float *out, size_t n);
  void (*relu6_forward)(float *out, const float *x, size_t n);
  void (*relu6_backward)(float *dx, const float *dout, const float *out, size_t n);
  void (*softmax_forward)(float *out, const float *x, int N, int K);
  void (*softmax_backward)(float *dx, const float *dout, const float *out, int N, int K);
  void (*batchnorm_forward)(float *out, float *mean, float *rstd, float *moving_mean, float *moving_var,
                            const float *x, const float *gamma, const float *beta, int N, int C, int training,
                            float decay);
  void (*batchnorm_backward)(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                             const float *mean, const float *rstd, const float *gamma, int N, int C);
  void (*l2norm_forward)(float *out, const float *x, int N, int D);
  void (*l2norm_backward)(float *dx, const float *dout, const float *x, int N, int D);
  /* num_frames is the backend's memory here */
  void (*meanpool_forward)(float *out, const float *x, const int32_t *num_frames, int B, int F, int D);
  void (*meanpool_backward)(float *dx, const float *dout, const int32_t *num_frames, int B, int F, int D);
  void (*maxpool_forward)(float *out, const float *x, const int32_t *num_frames, int B, int F, int D);
  void (*maxpool_backward)(float *dx, const float *dout, const float *x, const float *out,
                           const int32_t *num_frames, int B, int F, int D);
  void (*moe_combine_forward)(float *p, float *gate_p, float *expert_p, const float *gate_logits,
                              const float *expert_logits, int B, int C, int M);
  void (*moe_combine_backward)(float *dgate_logits, float *dexpert_logits, const float *dp, const float *gate_p,
                               const float *expert_p, int B, int C, int M);

  /* ---- vlad.h (NetVLADModelLF; gather_frames also DbofModel): idx is the
   * backend's memory ---- */
  void (*gather_frames)(float *out, const float *x, const int32_t *idx, int B, int S, int F, int D);
  void (*cols_forward)(float *out, const float *x, int N, int W, int ldo, int ldx);
  void (*cols_backward)(float *dx, const float *dout, int N, int W, int ldo, int ldx);
  void (*vlad_forward)(float *v, float *asum, const float *a, const float *x, const float *c, int B, int S,
                       int D, int K);
  void (*vlad_backward)(float *da, float *dx, float *dc, const float *dv, const float *a, const float *x,
                        const float *c, const float *asum, int B, int S, int D, int K);
  void (*l2norm_cols_forward)(float *out, const float *x, int B, int D, int K);
  void (*l2norm_cols_backward)(float *dx, const float *dout, const float *x, int B, int D, int K);
  void (*gate_forward)(float *out, const float *x, const float *g, size_t n);
  void (*gate_backward)(float *dx, float *dg, const float *dout, const float *x, const float *g, size_t n);
  void (*remove_diag_forward)(float *out, const float *x, const float *w, int N, int H);
  void (*remove_diag_backward)(float *dx, float *dw, const float *dout, const float *x, const float *w, int N,
                               int H);

  /* ---- lstm_cell.h (LstmModel): num_frames is the backend's memory ---- */
  void (*time_major_forward)(float *out, const float *x, const int32_t *num_frames, int B, int F, int T,
                             int D);
  void (*lstm_cell_forward)(float *c, float *h, float *act, const float *xw, const float *hw,
                            const float *c_prev, const float *h_prev, const int32_t *num_frames, int t, int B,
                            int H);
  void (*lstm_cell_backward)(float *dpre, float *dc_prev, float *dh_prev, const float *dc, const float *dh,
                             const float *act, const float *c, const float *c_prev, const int32_t *num_frames,
                             int t, int B, int H);

  /* ---- losses (loss.h): kind = YT_LOSS_*; the batch loss (mean over the
   * batch of the sum over classes) goes to loss[0], one backend float ---- */
  void (*loss_forward)(float *loss, int kind, const float *p, const float *y, int B, int C);
  void (*loss_backward)(int kind, float *dp, const float *p, const float *y, int B, int C);

  /* ---- the steps model.c and adam.c share ---- */
  /* out[0] = sum of x^2 (accumulated in double on the CPU) */
  void (*sumsq)(float *out, const float *x, size_t n);
  /* y += a x */
  void (*axpy)(float *y, float a, const float *x, size_t n);
  /* One tensor's L2 term (model.c's backward): wsumsq[0] = sum of w^2, then
   * g += l2 w, then gsumsq[0] = sum of the new g^2 (what the clip needs), each
   * sum with sumsq's bits, g with axpy's. One pass on the CPU, where sumsq,
   * axpy, sumsq took three.  g, w (n)  wsumsq, gsumsq (1) */
  void (*l2_grad)(float *wsumsq, float *gsumsq, float *g, const float *w, float l2, size_t n);
  /* One tensor's Adam update (adam.h's yt_adam_step, per tensor): the
   * gradient is scaled by clip / max(sqrt(gsumsq[0]), clip) when clip > 0
   * (gsumsq: sumsq of g, the backend's float; may be NULL when clip <= 0;
   * its float rounding can move the clip factor by an ulp from adam.c's,
   * which takes the square root of the double sum), then
   * m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), w -= lr_t m / (sqrt(v) + eps).
   * w, m, v, g (n) */
  void (*adam_update)(float *w, float *m, float *v, const float *g, const float *gsumsq, float clip, size_t n,
                      float lr_t, float b1, float b2, float eps);
  /* out[n] = x[idx[n]], rows of D floats (frame sampling).
   * idx (N), the backend's memory  x (rows, D)  out (N, D) */
  void (*gather_rows)(float *out, const float *x, const int32_t *idx, int N, int D);
  /* REFERENCE.md 1.6 on a uint8 frame batch: out = q scale + bias (a float
   * multiply, then a float add) for t < num_frames[b] (clamped to 0..F; NULL =
   * F), 0 after (the padding stays zero).
   * q, out (B, F, D)  num_frames (B), the backend's memory */
  void (*dequantize_frames)(float *out, const uint8_t *q, const int32_t *num_frames, int B, int F, int D,
                            float scale, float bias);
  /* The exponential moving average of the weights after an optimizer step
   * (REFERENCE.md 6.1): shadow = decay shadow + (1 - decay) w, two float
   * multiplies then an add (decay 0: shadow = w exactly; 1: unchanged).
   * shadow, w (n) */
  void (*ema_update)(float *shadow, const float *w, float decay, size_t n);
} yt_backend;

/* The CPU backend: always built. */
const yt_backend *yt_backend_cpu(void);

/* device: "cpu" or "cuda:N". allow_tf32 lets cuBLAS use TF32 tensor cores
 * for sgemm (off: full fp32, as the CPU). Errors name the device and say what
 * to do: a build without CUDA, no such device, a driver problem. The CUDA
 * backend is opened once per process; opening it again with the same device
 * returns the same table. */
int yt_backend_open(const char *device, int allow_tf32, const yt_backend **out, yt_err *err);

/* YT_OK when every operation named in ops (NULL-terminated, by the field
 * names above: "matmul_forward", ...) is present in be; otherwise an error
 * naming the first missing one and the backend. */
int yt_backend_require(const yt_backend *be, const char *const *ops, yt_err *err);

/* Every field name of yt_backend, in order, NULL-terminated (for
 * yt_backend_require and for tests that must cover every operation). */
const char *const *yt_backend_op_names(void);

#endif
