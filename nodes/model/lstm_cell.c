/* lstm_cell.c: the LSTM layers on the CPU (see lstm_cell.h): plain loops in
 * float; the reference the CUDA kernels mirror. Rows (videos, or time steps
 * of the reorder) are independent and run on the CPU backend's pool
 * (backend/cpu/parallel.h): the bits do not depend on the number of threads. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif
#include "model/lstm_cell.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "backend/cpu/parallel.h"

/* A cell step is a few exp per value: worth a thread from ~8k values. */
enum { PAR_CELL = 1 << 13, PAR_COPY = 1 << 15 };

typedef struct {
  float *c, *h, *act, *dpre, *dc_prev, *dh_prev, *out;
  const float *xw, *hw, *c_prev, *h_prev, *dc, *dh, *cact, *cc, *x;
  const int32_t *num_frames;
  int t, B, H, F, D;
} cell_job;

static float sigmoidf(float x) {
  return 1.0f / (1.0f + expf(-x));
}

/* tanh within 3 ulp of the exact value (glibc's tanhf: 1 to 2), about 4x
 * faster: glibc's tanhf goes through its slow expm1f, which took a fifth of a
 * training step. |x| < 0.25: Taylor series to x^9 (the x^11 term is below
 * 1e-8 relative); else (1 - e)/(1 + e) with e = exp(-2|x|) <= 0.61, so the
 * difference loses no precision. */
static float tanh_f(float x) {
  float a = fabsf(x);
  if (a < 0.25f) {
    float z = x * x;
    return x + x * z * (-1.0f / 3 + z * (2.0f / 15 + z * (-17.0f / 315 + z * (62.0f / 2835))));
  }
  float e = expf(-2.0f * a);
  return copysignf((1.0f - e) / (1.0f + e), x);
}

static int running(const int32_t *num_frames, int b, int t) {
  return t < num_frames[b];
}

static void time_major_range(void *ctx, size_t lo, size_t hi) { /* rows (t, b) lo..hi-1 of out */
  const cell_job *j = ctx;
  for (size_t i = lo; i < hi; i++) {
    int t = (int)(i / (size_t)j->B), b = (int)(i % (size_t)j->B);
    float *o = j->out + i * j->D;
    if (running(j->num_frames, b, t))
      memcpy(o, j->x + ((size_t)b * j->F + t) * j->D, (size_t)j->D * sizeof *o);
    else
      memset(o, 0, (size_t)j->D * sizeof *o);
  }
}

// x (B,F,D)  num_frames (B)  out (T,B,D)
void yt_time_major_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int T,
                           int D) {
  if (T <= 0 || B <= 0 || D <= 0) return;
  cell_job j = {.out = out, .x = x, .num_frames = num_frames, .B = B, .F = F, .D = D};
  yt_parallel_for((size_t)T * B, 1, PAR_COPY / (size_t)D + 1, time_major_range, &j);
}

static void cell_forward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const cell_job *j = ctx;
  int H = j->H, t = j->t;
  size_t G = (size_t)4 * H;
  for (size_t b = lo; b < hi; b++) {
    float *a = j->act + b * G, *cr = j->c + b * H, *hr = j->h + b * H;
    const float *cp = j->c_prev + b * H;
    if (!running(j->num_frames, (int)b, t)) {
      memcpy(cr, cp, (size_t)H * sizeof *cr);
      memcpy(hr, j->h_prev + b * H, (size_t)H * sizeof *hr);
      memset(a, 0, G * sizeof *a);
      continue;
    }
    const float *xr = j->xw + b * G, *wr = j->hw + b * G;
    for (size_t k = 0; k < G; k++) a[k] = xr[k] + wr[k]; /* in place when act == xw: same index */
    float *si = a, *tj = a + H, *sf = a + 2 * H, *so = a + 3 * H;
    for (int k = 0; k < H; k++) {
      si[k] = sigmoidf(si[k]);
      tj[k] = tanh_f(tj[k]);
      sf[k] = sigmoidf(sf[k] + YT_LSTM_FORGET_BIAS);
      so[k] = sigmoidf(so[k]);
      cr[k] = cp[k] * sf[k] + si[k] * tj[k];
      hr[k] = tanh_f(cr[k]) * so[k];
    }
  }
}

// xw, hw, act (B,4H)  c_prev, h_prev, c, h (B,H)  num_frames (B)
void yt_lstm_cell_forward(float *c, float *h, float *act, const float *xw, const float *hw,
                          const float *c_prev, const float *h_prev, const int32_t *num_frames, int t, int B,
                          int H) {
  if (B <= 0 || H <= 0) return;
  cell_job j = {.c = c, .h = h, .act = act, .xw = xw, .hw = hw, .c_prev = c_prev, .h_prev = h_prev,
                .num_frames = num_frames, .t = t, .B = B, .H = H};
  yt_parallel_for((size_t)B, 1, PAR_CELL / ((size_t)4 * H) + 1, cell_forward_range, &j);
}

static void cell_backward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const cell_job *j = ctx;
  int H = j->H, t = j->t;
  size_t G = (size_t)4 * H;
  float *dc_prev = j->dc_prev, *dh_prev = j->dh_prev;
  const float *dc = j->dc, *dh = j->dh, *c = j->cc, *c_prev = j->c_prev;
  for (size_t b = lo; b < hi; b++) {
    size_t r = b * H;
    if (!running(j->num_frames, (int)b, t)) { /* c = c_prev, h = h_prev: the gradients pass through */
      if (dc_prev)
        for (int k = 0; k < H; k++) dc_prev[r + k] += dc[r + k];
      if (dh_prev)
        for (int k = 0; k < H; k++) dh_prev[r + k] += dh[r + k];
      continue;
    }
    const float *si = j->cact + b * G, *tj = si + H, *sf = si + 2 * H, *so = si + 3 * H;
    float *di = j->dpre + b * G, *dj = di + H, *df = di + 2 * H, *dout = di + 3 * H;
    for (int k = 0; k < H; k++) {
      float tc = tanh_f(c[r + k]), g = dh[r + k];
      float dct = dc[r + k] + g * so[k] * (1.0f - tc * tc);
      di[k] += dct * tj[k] * si[k] * (1.0f - si[k]);
      dj[k] += dct * si[k] * (1.0f - tj[k] * tj[k]);
      df[k] += dct * c_prev[r + k] * sf[k] * (1.0f - sf[k]);
      dout[k] += g * tc * so[k] * (1.0f - so[k]);
      if (dc_prev) dc_prev[r + k] += dct * sf[k];
    }
  }
}

// dpre, act (B,4H)  dc, dh, c, c_prev, dc_prev, dh_prev (B,H)  num_frames (B)
void yt_lstm_cell_backward(float *dpre, float *dc_prev, float *dh_prev, const float *dc, const float *dh,
                           const float *act, const float *c, const float *c_prev, const int32_t *num_frames,
                           int t, int B, int H) {
  if (B <= 0 || H <= 0) return;
  cell_job j = {.dpre = dpre, .dc_prev = dc_prev, .dh_prev = dh_prev, .dc = dc, .dh = dh, .cact = act, .cc = c,
                .c_prev = c_prev, .num_frames = num_frames, .t = t, .B = B, .H = H};
  yt_parallel_for((size_t)B, 1, PAR_CELL / ((size_t)4 * H) + 1, cell_backward_range, &j);
}
