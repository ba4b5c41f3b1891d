/* test_parallel.c: the CPU backend's worker pool (backend/cpu/parallel.c) and
 * the operations that run on it.
 *
 * Each thread count runs in a forked child with $YT_CPU_THREADS set (the pool
 * starts once per process, and a child must start its own: that is checked
 * too). The children write their results to a pipe; the parent checks that
 *   - yt_parallel_for covers [0, n) exactly once, slices on `align`, for
 *     sizes around the thresholds;
 *   - sumsq, the cross-entropy loss, Adam, axpy, EMA, softmax, sigmoid, the
 *     MoE combine, batch norm (forward with moving averages, backward; wide
 *     and 32-column), l2norm, softmax backward and the VLAD layers (gather,
 *     column copies, per-cluster l2norm, the cluster-centre gradient), mean /
 *     max pooling over frames and the LSTM cell (forward, backward) and its
 *     time-major reorder give the same bits on 1, 2 and 3 threads (the sums as the
 *     floats they return: a different order of their double partial sums
 *     would mostly round to the same float, so the fixed blocks are what
 *     ops.c and loss.c promise, and this checks the elementwise slicing);
 *   - the sliced sgemm of yt_matmul_forward / _backward matches one
 *     single-threaded cblas_sgemm call (column slices, row slices, transposes);
 *   - a slice that itself calls a parallel operation (nested) runs it inline
 *     instead of deadlocking. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/cpu/ops.h"
#include "backend/cpu/parallel.h"
#include "check.h"
#include "model/layers.h"
#include "model/loss.h"
#include "model/lstm_cell.h"
#include "model/vlad.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* xorshift64: [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static void fill(float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (frand() + 1.0f) / 2;
}

/* ---- coverage ---- */

typedef struct {
  unsigned char *hits;
  size_t align, bad;
} cover_job;

static void cover(void *ctx, size_t lo, size_t hi) {
  cover_job *j = ctx;
  if (lo % j->align) __atomic_add_fetch(&j->bad, 1, __ATOMIC_RELAXED);
  for (size_t i = lo; i < hi; i++) j->hits[i]++;
}

static void nested(void *ctx, size_t lo, size_t hi) {
  float *x = ctx; /* each slice runs a parallel op on its own part */
  float s;
  yt_sumsq(&s, x + lo, hi - lo);
  x[lo] = s;
}

/* ---- what a child computes: a fixed vector of results ---- */

enum { N = 300001, B = 96, C = 4000, M = 2, GD = 300, GK = 700 };

static size_t child_results(float *out) {
  size_t k = 0;
  rng = 88172645463325252ull; /* same inputs in every child */
  float *x = malloc(sizeof(float) * N), *w = malloc(sizeof(float) * N), *m = malloc(sizeof(float) * N),
        *v = malloc(sizeof(float) * N), *g = malloc(sizeof(float) * N);
  fill(x, N, -2, 2);
  fill(g, N, -0.01f, 0.01f);
  fill(w, N, -1, 1);
  fill(m, N, -0.001f, 0.001f);
  fill(v, N, 0, 1e-5f);
  float s;
  yt_sumsq(&s, x, N);
  out[k++] = s;
  yt_sumsq(&s, g, N);
  yt_adam_update(w, m, v, g, &s, 0.001f, N, 0.01f, 0.9f, 0.999f, 1e-8f); /* clipped: g scaled */
  yt_adam_update(w, m, v, g, &s, 1e3f, N, 0.01f, 0.9f, 0.999f, 1e-8f);    /* under the clip: g as it is */
  yt_axpy(g, 1e-3f, w, N);
  yt_ema_update(m, w, 0.99f, N);
  float *p = malloc(sizeof(float) * B * C), *y = calloc((size_t)B * C, sizeof(float));
  fill(p, (size_t)B * C, 0.0001f, 0.9999f);
  for (int b = 0; b < B; b++) y[(size_t)b * C + (b * 37) % C] = 1, y[(size_t)b * C + (b * 11) % C] = 0.5f;
  out[k++] = yt_ce_loss_forward(p, y, B, C);
  float *dp = calloc((size_t)B * C, sizeof(float));
  yt_ce_loss_backward(dp, p, y, B, C);
  float *gl = malloc(sizeof(float) * B * C * (M + 1)), *el = malloc(sizeof(float) * B * C * M);
  float *gp = malloc(sizeof(float) * B * C * (M + 1)), *ep = malloc(sizeof(float) * B * C * M);
  float *dg = calloc((size_t)B * C * (M + 1), sizeof(float)), *de = calloc((size_t)B * C * M, sizeof(float));
  fill(gl, (size_t)B * C * (M + 1), -3, 3);
  fill(el, (size_t)B * C * M, -3, 3);
  yt_moe_combine_forward(p, gp, ep, gl, el, B, C, M);
  yt_moe_combine_backward(dg, de, dp, gp, ep, B, C, M);
  /* batch norm, wide (300 columns) and narrow (32: 16-column slices); its
   * outputs, statistics, moving averages and gradients land in one buffer */
  enum { BN = 3000, BC = 300, BC2 = 32, BNR = 3840 };
  size_t bn_len = (size_t)BN * BC * 3 + (size_t)BC * 7 + (size_t)BNR * BC2 * 3 + (size_t)BC2 * 7;
  float *bn = calloc(bn_len, sizeof(float)), *bnx = malloc(sizeof(float) * (size_t)BNR * BC);
  fill(bnx, (size_t)BNR * BC, -3, 5);
  for (int pass = 0; pass < 2; pass++) {
    int Nn = pass ? BNR : BN, Cc = pass ? BC2 : BC;
    float *o = bn + (pass ? (size_t)BN * BC * 3 + (size_t)BC * 7 : 0);
    float *out = o, *dout = o + (size_t)Nn * Cc, *dx = dout + (size_t)Nn * Cc, *st = dx + (size_t)Nn * Cc;
    float *mean = st, *rstd = st + Cc, *mm = st + 2 * Cc, *mv = st + 3 * Cc, *gam = st + 4 * Cc,
          *dgam = st + 5 * Cc, *dbet = st + 6 * Cc;
    for (int c = 0; c < Cc; c++) mv[c] = 1, gam[c] = 0.5f + 0.01f * (float)c;
    yt_batchnorm_forward(out, mean, rstd, mm, mv, bnx, gam, dgam /* beta: zeros */, Nn, Cc, 1, 0.99f);
    fill(dout, (size_t)Nn * Cc, -1, 1);
    yt_batchnorm_backward(dx, dgam, dbet, dout, bnx, mean, rstd, gam, Nn, Cc);
  }
  /* l2norm and softmax backward over rows; the VLAD layers over videos */
  enum { LN = 500, LD = 1152, VB = 8, VS = 30, VD = 300, VK = 40, VF = 50 };
  size_t l2_len = (size_t)LN * LD * 2 + (size_t)LN * VK;
  float *l2 = calloc(l2_len, sizeof(float)), *l2d = malloc(sizeof(float) * (size_t)LN * LD);
  fill(l2d, (size_t)LN * LD, -1, 1);
  yt_l2norm_forward(l2, bnx, LN, LD);
  yt_l2norm_backward(l2 + (size_t)LN * LD, l2d, bnx, LN, LD);
  yt_softmax_backward(l2 + (size_t)LN * LD * 2, l2d, bnx, LN, VK);
  size_t v_len = (size_t)VB * VS * VD + (size_t)VB * VS * 2 * VD + (size_t)VB * VD * VK * 2 + (size_t)VD * VK;
  float *vl = calloc(v_len, sizeof(float)), *frames = malloc(sizeof(float) * (size_t)VB * VF * VD);
  int32_t idx[VB * VS];
  fill(frames, (size_t)VB * VF * VD, -2, 2);
  for (int i = 0; i < VB * VS; i++) idx[i] = (i * 7) % VF;
  float *gx = vl, *wide = gx + (size_t)VB * VS * VD, *vn = wide + (size_t)VB * VS * 2 * VD,
        *vdx = vn + (size_t)VB * VD * VK, *dc = vdx + (size_t)VB * VD * VK;
  yt_gather_frames(gx, frames, idx, VB, VS, VF, VD);
  yt_cols_forward(wide + VD, gx, VB * VS, VD, 2 * VD, VD); /* into the right half of (N, 2D) rows */
  yt_cols_backward(wide, gx, VB * VS, VD, VD, 2 * VD);    /* added into the left half */
  yt_l2norm_cols_forward(vn, bnx, VB, VD, VK);
  yt_l2norm_cols_backward(vdx, l2d, bnx, VB, VD, VK);
  yt_vlad_backward(NULL, NULL, dc, l2d, NULL, NULL, bnx /* centres: any (D,K) */, l2d /* asum */, VB, VS, VD, VK);
  /* mean and max pooling over frames (num_frames 0..VF; max with ties) */
  size_t p_len = (size_t)VB * VD * 2 + (size_t)VB * VF * VD * 2;
  float *pl = calloc(p_len, sizeof(float)), *tied = malloc(sizeof(float) * (size_t)VB * VF * VD);
  int32_t nfr[VB];
  for (int b = 0; b < VB; b++) nfr[b] = (b * 13) % (VF + 1);
  for (size_t i = 0; i < (size_t)VB * VF * VD; i++) tied[i] = roundf(frames[i] * 2) / 2;
  float *mean_o = pl, *max_o = mean_o + (size_t)VB * VD, *mean_dx = max_o + (size_t)VB * VD,
        *max_dx = mean_dx + (size_t)VB * VF * VD;
  yt_meanpool_forward(mean_o, frames, nfr, VB, VF, VD);
  yt_meanpool_backward(mean_dx, l2d, nfr, VB, VF, VD);
  yt_maxpool_forward(max_o, tied, nfr, VB, VF, VD);
  yt_maxpool_backward(max_dx, l2d, tied, max_o, nfr, VB, VF, VD);
  /* an LSTM step forward and backward (some videos past their frames), and the time-major reorder */
  enum { LB = 100, LH = 64, LG = 4 * LH, LT = 7, LF = 9, LDX = 300 };
  size_t c_len = (size_t)LB * LG * 2 + (size_t)LB * LH * 4 + (size_t)LT * LB * LDX;
  float *cl = calloc(c_len, sizeof(float));
  float *act = cl, *dpre = act + (size_t)LB * LG, *cc = dpre + (size_t)LB * LG, *hh = cc + (size_t)LB * LH,
        *dcp = hh + (size_t)LB * LH, *dhp = dcp + (size_t)LB * LH, *tm = dhp + (size_t)LB * LH;
  int32_t lnf[LB];
  for (int b = 0; b < LB; b++) lnf[b] = b % 11;
  yt_lstm_cell_forward(cc, hh, act, l2d, l2d + (size_t)LB * LG, bnx, bnx + (size_t)LB * LH, lnf, 4, LB, LH);
  yt_lstm_cell_backward(dpre, dcp, dhp, l2d, l2d + (size_t)LB * LH, act, cc, bnx, lnf, 4, LB, LH);
  yt_time_major_forward(tm, bnx, lnf, LB, LF, LT, LDX);
  /* every value of these, folded into a few checksums that change with any bit */
  const float *arrays[] = {w, m, v, g, p, dp, dg, de, bn, l2, vl, pl, cl};
  size_t lens[] = {N, N, N, N, (size_t)B * C, (size_t)B * C, (size_t)B * C * (M + 1), (size_t)B * C * M,
                   bn_len, l2_len, v_len, p_len, c_len};
  for (int a = 0; a < 13; a++) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < lens[a]; i++) {
      uint32_t bits;
      memcpy(&bits, &arrays[a][i], 4);
      h = (h ^ bits) * 1099511628211ull;
    }
    memcpy(&out[k], &h, sizeof h); /* two floats' room */
    k += 2;
  }
  /* nested: a slice calling a parallel op must not wait on the pool it runs on */
  yt_parallel_for(N, 1, 1000, nested, x);
  out[k++] = 1.0f; /* got here */
  free(x), free(w), free(m), free(v), free(g), free(p), free(y), free(dp), free(gl), free(el), free(gp), free(ep),
      free(dg), free(de), free(bn), free(bnx), free(l2), free(l2d), free(vl), free(frames), free(pl),
      free(tied), free(cl);
  return k;
}

static size_t run_child(int threads, float *out, size_t cap) {
  int fd[2];
  if (pipe(fd)) return 0;
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    char t[16];
    snprintf(t, sizeof t, "%d", threads);
    setenv("YT_CPU_THREADS", t, 1);
    float res[64];
    size_t n = child_results(res);
    res[n++] = (float)yt_cpu_threads();
    ssize_t wr = write(fd[1], res, n * sizeof(float));
    _exit(wr == (ssize_t)(n * sizeof(float)) ? 0 : 1);
  }
  close(fd[1]);
  size_t got = 0;
  ssize_t r;
  while (got < cap * sizeof(float) && (r = read(fd[0], (char *)out + got, cap * sizeof(float) - got)) > 0)
    got += (size_t)r;
  close(fd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child with %d threads failed (status %d)", threads, st);
  return got / sizeof(float);
}

/* ---- sgemm slices against one call ---- */

static double max_rel(const float *a, const float *b, size_t n) {
  double worst = 0, scale = 1e-6;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]) / scale);
  return worst;
}

static void check_matmul(int Nr, int D, int K) {
  float *x = malloc(sizeof(float) * Nr * D), *w = malloc(sizeof(float) * D * K), *bias = malloc(sizeof(float) * K);
  float *out = malloc(sizeof(float) * Nr * K), *ref = malloc(sizeof(float) * Nr * K);
  fill(x, (size_t)Nr * D, -1, 1);
  fill(w, (size_t)D * K, -1, 1);
  fill(bias, K, -1, 1);
  yt_matmul_forward(out, x, w, bias, Nr, D, K);
  for (int n = 0; n < Nr; n++) memcpy(ref + (size_t)n * K, bias, sizeof(float) * K);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Nr, K, D, 1, x, D, w, K, 1, ref, K);
  CHECK(max_rel(out, ref, (size_t)Nr * K) < 1e-5, "matmul_forward %dx%dx%d differs from one sgemm by %g", Nr, D, K,
        max_rel(out, ref, (size_t)Nr * K));
  float *dout = malloc(sizeof(float) * Nr * K), *dx = calloc((size_t)Nr * D, 4), *dxr = calloc((size_t)Nr * D, 4);
  float *dw = calloc((size_t)D * K, 4), *dwr = calloc((size_t)D * K, 4);
  fill(dout, (size_t)Nr * K, -1, 1);
  yt_matmul_backward(dx, dw, NULL, dout, x, w, Nr, D, K);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Nr, D, K, 1, dout, K, w, K, 1, dxr, D);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, K, Nr, 1, x, D, dout, K, 1, dwr, K);
  CHECK(max_rel(dx, dxr, (size_t)Nr * D) < 1e-5, "matmul_backward dx %dx%dx%d: %g", Nr, D, K,
        max_rel(dx, dxr, (size_t)Nr * D));
  CHECK(max_rel(dw, dwr, (size_t)D * K) < 1e-5, "matmul_backward dw %dx%dx%d: %g", Nr, D, K,
        max_rel(dw, dwr, (size_t)D * K));
  free(x), free(w), free(bias), free(out), free(ref), free(dout), free(dx), free(dxr), free(dw), free(dwr);
}

int main(void) {
  /* coverage, in this process (its pool: the machine's CPUs, at least 2 asked) */
  setenv("YT_CPU_THREADS", "3", 1);
  CHECK(yt_cpu_threads() == 3, "the pool has %d threads, 3 asked", yt_cpu_threads());
  size_t sizes[] = {0, 1, 15, 16, 17, 1000, 65535, 65536, 131072, 131073, 1000003};
  size_t aligns[] = {1, 16, 64};
  for (size_t a = 0; a < 3; a++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      size_t n = sizes[s];
      cover_job j = {calloc(n + 1, 1), aligns[a], 0};
      yt_parallel_for(n, aligns[a], 1000, cover, &j);
      size_t wrong = 0;
      for (size_t i = 0; i < n; i++) wrong += j.hits[i] != 1;
      CHECK(wrong == 0 && j.bad == 0, "n %zu align %zu: %zu elements not covered once, %zu unaligned slices", n,
            aligns[a], wrong, j.bad);
      free(j.hits);
    }
  /* sgemm slices: columns (K wide), rows (K narrow, N tall), and a small one in one call */
  check_matmul(128, GD, GK);
  check_matmul(1000, 200, 40);
  check_matmul(7, 5, 3);

  /* the same bits on 1, 2 and 3 threads, each in a fresh child */
  float r1[64], r2[64], r3[64];
  size_t n1 = run_child(1, r1, 64), n2 = run_child(2, r2, 64), n3 = run_child(3, r3, 64);
  CHECK(n1 > 2 && n1 == n2 && n2 == n3, "children returned %zu, %zu, %zu values", n1, n2, n3);
  if (n1 > 2 && n1 == n2 && n2 == n3) {
    CHECK(r1[n1 - 1] == 1 && r2[n2 - 1] == 2 && r3[n3 - 1] == 3, "pool sizes %g %g %g, asked 1 2 3", r1[n1 - 1],
          r2[n2 - 1], r3[n3 - 1]);
    CHECK(!memcmp(r1, r2, (n1 - 1) * sizeof(float)), "results on 2 threads differ from 1 thread's");
    CHECK(!memcmp(r1, r3, (n1 - 1) * sizeof(float)), "results on 3 threads differ from 1 thread's");
    CHECK(r1[n1 - 2] == 1.0f, "the nested parallel call did not return");
    double ref = 0; /* sumsq against a plain double sum */
    rng = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
      float v = frand() * 2.0f;
      ref += (double)v * v;
    }
    CHECK(fabs(r1[0] - ref) / ref < 1e-5, "sumsq %g, a plain sum %g", r1[0], ref);
  }
  return check_report("test_parallel");
}
