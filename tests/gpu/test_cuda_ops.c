/* test_cuda_ops: every entry of the CUDA backend table against the CPU table
 * (nodes/backend), on the same random inputs, awkward sizes included (1, odd,
 * more than 1024 columns, num_frames 0, full, out of range and NULL). Every
 * output and every accumulated gradient is compared; the largest error of
 * each operation is printed. Also: cuBLAS with TF32, an impossible allocation reported by
 * check() with its statement and the backend working after it, and device
 * numbers that do not exist. Exits 77 (skipped) without a device or in a
 * build without CUDA.
 *
 * The same source is test_cuda_ops_emu (tests/gpu/emu, label unit): built with
 * YT_CUDA_EMU against the backend's .cu files compiled for the CPU emulator,
 * where it never skips. The emulator's expf/logf/exp/log are glibc's moved by
 * up to 2/1 ulp (the CUDA library's error bounds), so the tolerances below
 * meet differences of a GPU's size there too.
 *
 * Error measure: |gpu - cpu| / max(|cpu|, 1% of the largest |cpu| of that
 * output), the worst over the output. Each backward runs twice: into zeroed
 * gradients (the gradient itself is compared, however small) and into random
 * ones (it must add). Tolerances, by what the two sides do:
 *   EXACT  0     the same float operations in the same order (the CUDA library
 *                is built with --fmad=false, IEEE division and sqrt): the same
 *                bits are expected
 *   ULPS   2e-6  expf/logf of the CUDA math library (1-2 ulp) against glibc's,
 *                or a double sum in another order rounded to float
 *   LOSS   1e-5  a batch loss: sums of a few thousand such terms
 *   CANCEL 1e-4  a difference of nearly equal terms that come from such sums
 *                (softmax, batch norm and l2norm backward)
 *   GEMM   3e-4  float sgemm: cuBLAS and OpenBLAS add the products in
 *                different orders (measured against the output's scale)
 *   TF32   5e-2  sgemm on TF32 tensor cores (10-bit mantissa inputs; the
 *                emulator's TF32 model, inputs rounded or truncated to 10 bits,
 *                reaches 2.6e-2 on these sizes) */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/probe.h"
#include "check.h"
#include "formats/yt8m.h"
#include "model/adam.h"
#include "model/layers.h"
#include "model/lstm_cell.h"
#include "model/model.h"

#define EXACT 0.0
#define ULPS 2e-6
#define LOSS 1e-5
#define CANCEL 1e-4
#define GEMM 3e-4
#define TF32 5e-2

#ifdef YT_CUDA_EMU
#define TEST_NAME "test_cuda_ops_emu"
#else
#define TEST_NAME "test_cuda_ops"
#endif

static const yt_backend *cpu, *gpu;

/* ---- random data ------------------------------------------------------------------------- */

static uint64_t rng = 4242;
static double urand(void) { /* [0, 1) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}
static float frand(float lo, float hi) {
  return (float)(lo + (hi - lo) * urand());
}

/* host and device buffers of one case, freed together by done() */
static void *hosts[256], *devs[256];
static int nhosts, ndevs;

static float *rnd(size_t n, float lo, float hi) {
  float *v = calloc(n ? n : 1, sizeof *v);
  if (!v || nhosts == 256) {
    fprintf(stderr, TEST_NAME ": out of host memory or buffers\n");
    exit(1);
  }
  hosts[nhosts++] = v;
  for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
  return v;
}
/* A gradient buffer before a backward: pass 0 zeros (the gradient itself is
 * compared, however small), pass 1 random values (backward must add to them). */
static float *grad(size_t n, int pass) {
  return rnd(n, pass ? -1 : 0, pass ? 1 : 0);
}

/* a device copy of bytes of h (h NULL: zeroed) */
static void *up(const void *h, size_t bytes) {
  void *d = gpu->alloc(bytes);
  if (!d || ndevs == 256) {
    yt_err err = {0};
    gpu->check(&err);
    fprintf(stderr, TEST_NAME ": device allocation of %zu bytes failed: %s\n", bytes, err.msg);
    exit(1);
  }
  devs[ndevs++] = d;
  if (h && bytes) gpu->upload(d, h, bytes);
  return d;
}
static float *upf(const float *h, size_t n) {
  return up(h, n * sizeof(float));
}

/* ---- comparing and reporting ------------------------------------------------------------------ */

static double rel_err(const float *got, const float *want, size_t n) {
  double amax = 0, worst = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(want[i]) > amax) amax = fabs(want[i]);
  for (size_t i = 0; i < n; i++) {
    if (got[i] == want[i]) continue;
    if (isnan(got[i]) || isnan(want[i])) {
      if (isnan(got[i]) && isnan(want[i])) continue;
      return INFINITY;
    }
    double den = fmax(fmax(fabs(want[i]), 1e-2 * amax), 1e-30);
    double e = fabs((double)got[i] - want[i]) / den;
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/* the device buffer d (n floats) against the CPU's ref */
static double diff(const float *d, const float *ref, size_t n) {
  float *h = rnd(n, 0, 0);
  gpu->download(h, d, n * sizeof *h);
  return rel_err(h, ref, n);
}

typedef struct {
  const char *op;
  double worst, tol;
  int cases;
} op_stat;
static op_stat stats[96];
static int nstats;

static void note(const char *op, const char *what, double err, double tol) {
  op_stat *s = NULL;
  for (int i = 0; i < nstats; i++) /* one row per operation and tolerance */
    if (!strcmp(stats[i].op, op) && stats[i].tol == tol) s = &stats[i];
  if (!s && nstats < 96) {
    s = &stats[nstats++];
    *s = (op_stat){op, 0, tol, 0};
  }
  if (s) {
    s->cases++;
    if (!(err <= s->worst)) s->worst = err;
  }
  CHECK(err <= tol, "%s %s: max relative error %.3e, tolerance %.0e", op, what, err, tol);
}

/* end of a case: the device reports nothing, every buffer is freed */
static void done(const char *what) {
  yt_err err = {0};
  int rc = gpu->check(&err);
  CHECK(rc == YT_OK, "%s: the device reported: %s", what, err.msg);
  for (int i = 0; i < ndevs; i++) gpu->free(devs[i]);
  for (int i = 0; i < nhosts; i++) free(hosts[i]);
  ndevs = nhosts = 0;
  rc = gpu->check(&err);
  CHECK(rc == YT_OK, "%s: freeing: %s", what, err.msg);
}

/* ---- memory ------------------------------------------------------------------------------------ */

static void t_memory(void) {
  enum { N = 100003 };
  float *h = rnd(N, -1, 1), *back = rnd(N, 0, 0), *zeros = rnd(N, 0, 0);
  float *d = upf(NULL, N), *e = upf(NULL, N);
  note("alloc", "zeroed", diff(d, zeros, N), EXACT);
  gpu->upload(d, h, N * sizeof *h);
  note("upload", "", diff(d, h, N), EXACT);
  gpu->copy(e, d, N * sizeof *h);
  note("copy", "", diff(e, h, N), EXACT);
  gpu->zero(d + 1, (N - 2) * sizeof *h);
  memcpy(back, h, N * sizeof *h);
  memset(back + 1, 0, (N - 2) * sizeof *h);
  note("zero", "all but the ends", diff(d, back, N), EXACT);
  float *pinned = gpu->alloc_host(N * sizeof *h);
  CHECK(pinned != NULL, "alloc_host");
  if (pinned) {
    note("alloc_host", "zeroed", rel_err(pinned, zeros, N), EXACT);
    memcpy(pinned, h, N * sizeof *h);
    gpu->upload(e, pinned, N * sizeof *h);
    gpu->download(back, e, N * sizeof *h); /* waits for the upload: pinned may change after */
    note("download", "from pinned", rel_err(back, h, N), EXACT);
    gpu->free_host(pinned);
    note("free_host", "", 0, EXACT);
  }
  note("free", "", 0, EXACT);
  done("memory");
}

/* upload_input: the caller's buffer is free when the call returns (changed
 * at once here), a slot's staging is reused only after its last transfer
 * (two uploads back to back from one slot to two buffers), a bigger upload
 * grows the staging, and what is queued after inputs_ready sees the data;
 * inputs_done then a kernel that reads the buffer, then a new upload into
 * it: the kernel reads the old contents (on a device, the copy waits for it) */
static void t_inputs(void) {
  enum { N = 50001 };
  float *a = rnd(N, -1, 1), *b = rnd(N, -1, 1), *keep_a = rnd(N, 0, 0), *keep_b = rnd(N, 0, 0);
  memcpy(keep_a, a, N * sizeof *a);
  memcpy(keep_b, b, N * sizeof *b);
  float *da = upf(NULL, N), *db = upf(NULL, N), *dc = upf(NULL, 2 * N), *sum = upf(NULL, 1);
  gpu->upload_input(da, a, N * sizeof *a, YT_INPUT_FEATURES);
  memset(a, 0, N * sizeof *a); /* free once the call returned */
  gpu->upload_input(db, b, N * sizeof *b, YT_INPUT_FEATURES);
  memset(b, 0, N * sizeof *b);
  gpu->inputs_ready();
  note("upload_input", "first of two from one slot", diff(da, keep_a, N), EXACT);
  note("upload_input", "second", diff(db, keep_b, N), EXACT);
  float *big = rnd(2 * N, -3, 3);
  gpu->upload_input(dc, big, 2 * N * sizeof *big, YT_INPUT_LABELS);
  gpu->upload_input(dc, big, N * sizeof *big, YT_INPUT_LABELS); /* smaller again: the same staging */
  gpu->inputs_ready();
  note("upload_input", "grown staging", diff(dc, big, 2 * N), EXACT);
  note("inputs_ready", "", 0, EXACT);
  /* a reader queued before inputs_done sees the old contents; the next upload lands after it */
  float s_old = -1, s_new = -1, want_old, want_new;
  cpu->sumsq(&want_old, keep_a, N);
  gpu->sumsq(sum, da, N);
  gpu->inputs_done();
  gpu->upload_input(da, keep_b, N * sizeof *keep_b, YT_INPUT_FEATURES);
  gpu->inputs_ready();
  gpu->download(&s_old, sum, sizeof s_old);
  cpu->sumsq(&want_new, keep_b, N);
  gpu->sumsq(sum, da, N);
  gpu->download(&s_new, sum, sizeof s_new);
  note("inputs_done", "the reader before it", fabs(s_old - want_old) / want_old, ULPS);
  note("inputs_done", "the upload after it", fabs(s_new - want_new) / want_new, ULPS);
  done("inputs");
}

/* ---- matmul ------------------------------------------------------------------------------------- */

static void t_matmul(int N, int D, int K, int bias, int nodx, double tol, const char *fwd, const char *bwd) {
  char what[96];
  snprintf(what, sizeof what, "N %d D %d K %d%s%s", N, D, K, bias ? " bias" : "", nodx ? " no dx" : "");
  size_t nx = (size_t)N * D, nw = (size_t)D * K, no = (size_t)N * K;
  float *x = rnd(nx, -1, 1), *w = rnd(nw, -1, 1), *b = rnd(K, -1, 1), *out = rnd(no, 7, 8);
  float *x_ = upf(x, nx), *w_ = upf(w, nw), *b_ = upf(b, K), *out_ = upf(out, no);
  cpu->matmul_forward(out, x, w, bias ? b : NULL, N, D, K);
  gpu->matmul_forward(out_, x_, w_, bias ? b_ : NULL, N, D, K);
  note(fwd, what, diff(out_, out, no), tol);

  float *g = rnd(no, -1, 1), *g_ = upf(g, no);
  for (int pass = 0; pass < 2; pass++) {
    float *gx = grad(nx, pass), *gw = grad(nw, pass), *gb = grad(K, pass);
    float *gx_ = upf(gx, nx), *gw_ = upf(gw, nw), *gb_ = upf(gb, K);
    cpu->matmul_backward(nodx ? NULL : gx, gw, bias ? gb : NULL, g, x, w, N, D, K);
    gpu->matmul_backward(nodx ? NULL : gx_, gw_, bias ? gb_ : NULL, g_, x_, w_, N, D, K);
    note(bwd, what, diff(gx_, gx, nx), tol); /* unchanged when nodx */
    note(bwd, what, diff(gw_, gw, nw), tol);
    note(bwd, what, diff(gb_, gb, K), bias ? ULPS : EXACT); /* column sums in double */
  }
  done(what);
}

/* ---- activations ----------------------------------------------------------------------------------- */

static void t_activation(int relu6, size_t n) {
  char what[64];
  snprintf(what, sizeof what, "%s n %zu", relu6 ? "relu6" : "sigmoid", n);
  float *x = rnd(n, relu6 ? -2 : -8, 8), *out = rnd(n, 0, 0);
  if (relu6 && n > 2) x[0] = 0.0f, x[1] = 6.0f; /* the edges of the open interval */
  float *x_ = upf(x, n), *out_ = upf(NULL, n), *in_place = upf(x, n);
  (relu6 ? cpu->relu6_forward : cpu->sigmoid_forward)(out, x, n);
  (relu6 ? gpu->relu6_forward : gpu->sigmoid_forward)(out_, x_, n);
  (relu6 ? gpu->relu6_forward : gpu->sigmoid_forward)(in_place, in_place, n);
  const char *fwd = relu6 ? "relu6_forward" : "sigmoid_forward";
  note(fwd, what, diff(out_, out, n), relu6 ? EXACT : ULPS);
  note(fwd, what, diff(in_place, out, n), relu6 ? EXACT : ULPS);

  float *g = rnd(n, -1, 1), *g_ = upf(g, n), *o_ = upf(out, n); /* both from the CPU's output */
  for (int pass = 0; pass < 2; pass++) {
    float *dx = grad(n, pass), *dx_ = upf(dx, n);
    (relu6 ? cpu->relu6_backward : cpu->sigmoid_backward)(dx, g, out, n);
    (relu6 ? gpu->relu6_backward : gpu->sigmoid_backward)(dx_, g_, o_, n);
    note(relu6 ? "relu6_backward" : "sigmoid_backward", what, diff(dx_, dx, n), EXACT);
  }
  done(what);
}

/* ---- softmax ------------------------------------------------------------------------------------- */

static void t_softmax(int N, int K) {
  char what[64];
  snprintf(what, sizeof what, "N %d K %d", N, K);
  size_t n = (size_t)N * K;
  float *x = rnd(n, -6, 6), *out = rnd(n, 0, 0);
  float *x_ = upf(x, n), *out_ = upf(NULL, n);
  cpu->softmax_forward(out, x, N, K);
  gpu->softmax_forward(out_, x_, N, K);
  note("softmax_forward", what, diff(out_, out, n), ULPS);
  gpu->softmax_forward(x_, x_, N, K); /* in place */
  note("softmax_forward", what, diff(x_, out, n), ULPS);

  float *g = rnd(n, -1, 1), *g_ = upf(g, n), *o_ = upf(out, n);
  for (int pass = 0; pass < 2; pass++) {
    float *dx = grad(n, pass), *dx_ = upf(dx, n);
    cpu->softmax_backward(dx, g, out, N, K);
    gpu->softmax_backward(dx_, g_, o_, N, K);
    note("softmax_backward", what, diff(dx_, dx, n), CANCEL);
  }
  done(what);
}

/* ---- batch norm ------------------------------------------------------------------------------------ */

static void t_batchnorm(int N, int C, int training, float decay, int nodx) {
  char what[96];
  snprintf(what, sizeof what, "N %d C %d %s decay %g%s", N, C, training ? "training" : "inference", decay,
           nodx ? " no dx" : "");
  size_t n = (size_t)N * C;
  float *x = rnd(n, 2, 4), *gamma = rnd(C, 0.5f, 1.5f), *beta = rnd(C, -1, 1), *out = rnd(n, 0, 0);
  float *mean = rnd(C, 9, 9), *rstd = rnd(C, 9, 9), *mm = rnd(C, 2, 4), *mv = rnd(C, 0.1f, 2);
  float *x_ = upf(x, n), *gamma_ = upf(gamma, C), *beta_ = upf(beta, C), *out_ = upf(NULL, n);
  float *mean_ = upf(mean, C), *rstd_ = upf(rstd, C), *mm_ = upf(mm, C), *mv_ = upf(mv, C);
  cpu->batchnorm_forward(out, training ? mean : NULL, training ? rstd : NULL, mm, mv, x, gamma, beta, N, C,
                         training, decay);
  gpu->batchnorm_forward(out_, training ? mean_ : NULL, training ? rstd_ : NULL, mm_, mv_, x_, gamma_, beta_,
                         N, C, training, decay);
  note("batchnorm_forward", what, diff(out_, out, n), CANCEL);
  note("batchnorm_forward", what, diff(mean_, mean, C), ULPS);
  note("batchnorm_forward", what, diff(rstd_, rstd, C), ULPS);
  note("batchnorm_forward", what, diff(mm_, mm, C), ULPS);
  note("batchnorm_forward", what, diff(mv_, mv, C), ULPS);
  if (training) {
    /* backward from the CPU's statistics on both sides */
    float *g = rnd(n, -1, 1), *g_ = upf(g, n);
    gpu->upload(mean_, mean, C * sizeof(float));
    gpu->upload(rstd_, rstd, C * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
      float *dx = grad(n, pass), *dgamma = grad(C, pass), *dbeta = grad(C, pass);
      float *dx_ = upf(dx, n), *dgamma_ = upf(dgamma, C), *dbeta_ = upf(dbeta, C);
      cpu->batchnorm_backward(nodx ? NULL : dx, dgamma, dbeta, g, x, mean, rstd, gamma, N, C);
      gpu->batchnorm_backward(nodx ? NULL : dx_, dgamma_, dbeta_, g_, x_, mean_, rstd_, gamma_, N, C);
      note("batchnorm_backward", what, diff(dx_, dx, n), CANCEL);
      note("batchnorm_backward", what, diff(dgamma_, dgamma, C), ULPS);
      note("batchnorm_backward", what, diff(dbeta_, dbeta, C), ULPS);
    }
  }
  done(what);
}

/* ---- l2 normalization ---------------------------------------------------------------------------- */

static void t_l2norm(int N, int D) {
  char what[64];
  snprintf(what, sizeof what, "N %d D %d", N, D);
  size_t n = (size_t)N * D;
  float *x = rnd(n, -1, 1), *out = rnd(n, 0, 0);
  if (N > 1) memset(x, 0, D * sizeof *x); /* a zero row: under the floor */
  float *x_ = upf(x, n), *out_ = upf(NULL, n), *in_place = upf(x, n);
  cpu->l2norm_forward(out, x, N, D);
  gpu->l2norm_forward(out_, x_, N, D);
  gpu->l2norm_forward(in_place, in_place, N, D);
  note("l2norm_forward", what, diff(out_, out, n), ULPS);
  note("l2norm_forward", what, diff(in_place, out, n), ULPS);
  float *g = rnd(n, -1, 1), *g_ = upf(g, n);
  for (int pass = 0; pass < 2; pass++) {
    float *dx = grad(n, pass), *dx_ = upf(dx, n);
    cpu->l2norm_backward(dx, g, x, N, D);
    gpu->l2norm_backward(dx_, g_, x_, N, D);
    /* the zero row's gradient is dout / 1e-6: compared on its own */
    size_t z = N > 1 ? (size_t)D : 0;
    note("l2norm_backward", what, diff(dx_ + z, dx + z, n - z), CANCEL);
    if (z) note("l2norm_backward", what, diff(dx_, dx, z), ULPS);
  }
  done(what);
}

/* ---- pooling over frames --------------------------------------------------------------------------- */

static void t_pool(int B, int F, int D, const int32_t *nf) {
  char what[64];
  snprintf(what, sizeof what, "B %d F %d D %d%s", B, F, D, nf ? "" : " all frames");
  size_t nx = (size_t)B * F * D, no = (size_t)B * D;
  float *x = rnd(nx, -1, 1), *xq = rnd(nx, 0, 0);
  for (size_t i = 0; i < nx; i++) xq[i] = roundf(x[i] * 2) / 2; /* 5 values: ties for the max */
  float *x_ = upf(x, nx), *xq_ = upf(xq, nx);
  int32_t *nf_ = nf ? up(nf, B * sizeof *nf) : NULL;
  float *mean = rnd(no, 5, 6), *max = rnd(no, 5, 6), *mean_ = upf(mean, no), *max_ = upf(max, no);
  cpu->meanpool_forward(mean, x, nf, B, F, D);
  gpu->meanpool_forward(mean_, x_, nf_, B, F, D);
  note("meanpool_forward", what, diff(mean_, mean, no), EXACT);
  cpu->maxpool_forward(max, xq, nf, B, F, D);
  gpu->maxpool_forward(max_, xq_, nf_, B, F, D);
  note("maxpool_forward", what, diff(max_, max, no), EXACT);

  float *g = rnd(no, -1, 1), *g_ = upf(g, no);
  gpu->upload(max_, max, no * sizeof *max); /* the CPU's forward output on both sides */
  for (int pass = 0; pass < 2; pass++) {
    float *dxm = grad(nx, pass), *dxx = grad(nx, pass), *dxm_ = upf(dxm, nx), *dxx_ = upf(dxx, nx);
    cpu->meanpool_backward(dxm, g, nf, B, F, D);
    gpu->meanpool_backward(dxm_, g_, nf_, B, F, D);
    note("meanpool_backward", what, diff(dxm_, dxm, nx), EXACT);
    cpu->maxpool_backward(dxx, g, xq, max, nf, B, F, D);
    gpu->maxpool_backward(dxx_, g_, xq_, max_, nf_, B, F, D);
    note("maxpool_backward", what, diff(dxx_, dxx, nx), EXACT);
  }
  done(what);
}

/* ---- mixture of experts ----------------------------------------------------------------------------- */

static void t_moe(int B, int C, int M) {
  char what[64];
  snprintf(what, sizeof what, "B %d C %d M %d", B, C, M);
  size_t rows = (size_t)B * C, ng = rows * (M + 1), ne = rows * M;
  float *gl = rnd(ng, -4, 4), *el = rnd(ne, -4, 4), *p = rnd(rows, 0, 0), *gp = rnd(ng, 0, 0),
        *ep = rnd(ne, 0, 0);
  float *gl_ = upf(gl, ng), *el_ = upf(el, ne), *p_ = upf(NULL, rows), *gp_ = upf(NULL, ng),
        *ep_ = upf(NULL, ne);
  cpu->moe_combine_forward(p, gp, ep, gl, el, B, C, M);
  gpu->moe_combine_forward(p_, gp_, ep_, gl_, el_, B, C, M);
  note("moe_combine_forward", what, diff(p_, p, rows), ULPS);
  note("moe_combine_forward", what, diff(gp_, gp, ng), ULPS);
  note("moe_combine_forward", what, diff(ep_, ep, ne), ULPS);
  gpu->moe_combine_forward(p_, gl_, el_, gl_, el_, B, C, M); /* in place */
  note("moe_combine_forward", what, diff(p_, p, rows), ULPS);
  note("moe_combine_forward", what, diff(gl_, gp, ng), ULPS);
  note("moe_combine_forward", what, diff(el_, ep, ne), ULPS);

  float *dp = rnd(rows, -1, 1), *dp_ = upf(dp, rows);
  gpu->upload(gp_, gp, ng * sizeof *gp); /* the CPU's probabilities on both sides */
  gpu->upload(ep_, ep, ne * sizeof *ep);
  for (int pass = 0; pass < 2; pass++) {
    float *dg = grad(ng, pass), *de = grad(ne, pass), *dg_ = upf(dg, ng), *de_ = upf(de, ne);
    cpu->moe_combine_backward(dg, de, dp, gp, ep, B, C, M);
    gpu->moe_combine_backward(dg_, de_, dp_, gp_, ep_, B, C, M);
    note("moe_combine_backward", what, diff(dg_, dg, ng), EXACT);
    note("moe_combine_backward", what, diff(de_, de, ne), EXACT);
    cpu->moe_combine_backward(NULL, de, dp, gp, ep, B, C, M); /* one gradient only */
    gpu->moe_combine_backward(NULL, de_, dp_, gp_, ep_, B, C, M);
    note("moe_combine_backward", what, diff(de_, de, ne), EXACT);
  }
  done(what);
}

/* ---- vlad.h: frames and columns ------------------------------------------------------------------- */

static void t_gather_frames(int B, int S, int F, int D) {
  char what[64];
  snprintf(what, sizeof what, "B %d S %d F %d D %d", B, S, F, D);
  size_t nx = (size_t)B * F * D, no = (size_t)B * S * D;
  float *x = rnd(nx, -1, 1), *out = rnd(no, 0, 0);
  int32_t *idx = (int32_t *)rnd((size_t)B * S, 0, 0);
  for (int i = 0; i < B * S; i++) idx[i] = i == 0 ? F - 1 : i == 1 ? 0 : (int32_t)(urand() * F);
  float *x_ = upf(x, nx), *out_ = upf(rnd(no, 5, 6), no); /* every element must be written */
  int32_t *idx_ = up(idx, (size_t)B * S * sizeof *idx);
  cpu->gather_frames(out, x, idx, B, S, F, D);
  gpu->gather_frames(out_, x_, idx_, B, S, F, D);
  note("gather_frames", what, diff(out_, out, no), EXACT);
  done(what);
}

/* W columns between matrices of row strides ldo and ldx, at column offsets
 * oo and ox (a frame row's split, a VLAD concatenation); the columns outside
 * must stay as they were */
static void t_cols(int N, int W, int ldo, int ldx, int oo, int ox) {
  char what[96];
  snprintf(what, sizeof what, "N %d W %d ldo %d ldx %d at %d, %d", N, W, ldo, ldx, oo, ox);
  size_t nx = (size_t)N * ldx, no = (size_t)N * ldo;
  float *x = rnd(nx, -1, 1), *out = rnd(no, 5, 6), *x_ = upf(x, nx), *out_ = upf(out, no);
  cpu->cols_forward(out + oo, x + ox, N, W, ldo, ldx);
  gpu->cols_forward(out_ + oo, x_ + ox, N, W, ldo, ldx);
  note("cols_forward", what, diff(out_, out, no), EXACT);
  float *g = rnd(no, -1, 1), *g_ = upf(g, no);
  for (int pass = 0; pass < 2; pass++) {
    float *dx = grad(nx, pass), *dx_ = upf(dx, nx);
    cpu->cols_backward(dx + ox, g + oo, N, W, ldo, ldx);
    gpu->cols_backward(dx_ + ox, g_ + oo, N, W, ldo, ldx);
    note("cols_backward", what, diff(dx_, dx, nx), EXACT);
  }
  done(what);
}

/* ---- vlad.h: VLAD aggregation ---------------------------------------------------------------------- */

/* light: LightVLAD (no centres); grads: bit 0 da, bit 1 dx, bit 2 dc */
static void t_vlad(int B, int S, int D, int K, int light, int grads) {
  char what[96];
  snprintf(what, sizeof what, "B %d S %d D %d K %d%s grads %d", B, S, D, K, light ? " light" : "", grads);
  size_t na = (size_t)B * S * K, nx = (size_t)B * S * D, nc = (size_t)D * K, nv = (size_t)B * D * K,
         ns = (size_t)B * K;
  float *a = rnd(na, 0, 1), *x = rnd(nx, -1, 1), *c = rnd(nc, -1, 1), *v = rnd(nv, 0, 0),
        *asum = rnd(ns, 0, 0);
  float *a_ = upf(a, na), *x_ = upf(x, nx), *c_ = upf(c, nc), *v_ = upf(rnd(nv, 5, 6), nv),
        *asum_ = upf(rnd(ns, 5, 6), ns); /* every element must be written */
  cpu->vlad_forward(v, asum, a, x, light ? NULL : c, B, S, D, K);
  gpu->vlad_forward(v_, asum_, a_, x_, light ? NULL : c_, B, S, D, K);
  note("vlad_forward", what, diff(asum_, asum, ns), EXACT); /* double sums in the same order */
  note("vlad_forward", what, diff(v_, v, nv), GEMM);

  float *dv = rnd(nv, -1, 1), *dv_ = upf(dv, nv);
  gpu->upload(asum_, asum, ns * sizeof *asum); /* the CPU's asum on both sides */
  int wa = grads & 1, wx = grads & 2, wc = (grads & 4) && !light;
  for (int pass = 0; pass < 2; pass++) {
    float *da = grad(na, pass), *dx = grad(nx, pass), *dc = grad(nc, pass);
    float *da_ = upf(da, na), *dx_ = upf(dx, nx), *dc_ = upf(dc, nc);
    cpu->vlad_backward(wa ? da : NULL, wx ? dx : NULL, wc ? dc : NULL, dv, a, x, light ? NULL : c, asum, B, S,
                       D, K);
    gpu->vlad_backward(wa ? da_ : NULL, wx ? dx_ : NULL, wc ? dc_ : NULL, dv_, a_, x_, light ? NULL : c_,
                       asum_, B, S, D, K);
    note("vlad_backward", what, diff(da_, da, na), wa ? GEMM : EXACT); /* unchanged when not asked for */
    note("vlad_backward", what, diff(dx_, dx, nx), wx ? GEMM : EXACT);
    note("vlad_backward", what, diff(dc_, dc, nc), EXACT); /* asum dv, summed over b in order */
  }
  done(what);
}

/* ---- vlad.h: intra-normalization, gating, remove_diag ----------------------------------------------- */

static void t_l2norm_cols(int B, int D, int K) {
  char what[64];
  snprintf(what, sizeof what, "B %d D %d K %d", B, D, K);
  size_t n = (size_t)B * D * K;
  float *x = rnd(n, -1, 1), *out = rnd(n, 0, 0);
  if (K > 1)
    for (int d = 0; d < D; d++) x[(size_t)d * K + 1] = 0.0f; /* a zero column: under the floor */
  float *x_ = upf(x, n), *out_ = upf(NULL, n), *in_place = upf(x, n);
  cpu->l2norm_cols_forward(out, x, B, D, K);
  gpu->l2norm_cols_forward(out_, x_, B, D, K);
  gpu->l2norm_cols_forward(in_place, in_place, B, D, K);
  note("l2norm_cols_forward", what, diff(out_, out, n), EXACT); /* double sums in the same order */
  note("l2norm_cols_forward", what, diff(in_place, out, n), EXACT);
  float *g = rnd(n, -1, 1), *g_ = upf(g, n);
  for (int pass = 0; pass < 2; pass++) {
    float *dx = grad(n, pass), *dx_ = upf(dx, n);
    cpu->l2norm_cols_backward(dx, g, x, B, D, K);
    gpu->l2norm_cols_backward(dx_, g_, x_, B, D, K);
    note("l2norm_cols_backward", what, diff(dx_, dx, n), EXACT);
  }
  done(what);
}

static void t_gate(size_t n) {
  char what[64];
  snprintf(what, sizeof what, "n %zu", n);
  float *x = rnd(n, -2, 2), *g = rnd(n, 0, 1), *out = rnd(n, 0, 0);
  float *x_ = upf(x, n), *g_ = upf(g, n), *out_ = upf(NULL, n), *in_place = upf(x, n);
  cpu->gate_forward(out, x, g, n);
  gpu->gate_forward(out_, x_, g_, n);
  gpu->gate_forward(in_place, in_place, g_, n);
  note("gate_forward", what, diff(out_, out, n), EXACT);
  note("gate_forward", what, diff(in_place, out, n), EXACT);
  float *d = rnd(n, -1, 1), *d_ = upf(d, n);
  for (int pass = 0; pass < 2; pass++) {
    float *dx = grad(n, pass), *dg = grad(n, pass), *dx_ = upf(dx, n), *dg_ = upf(dg, n);
    cpu->gate_backward(dx, dg, d, x, g, n);
    gpu->gate_backward(dx_, dg_, d_, x_, g_, n);
    cpu->gate_backward(NULL, dg, d, x, g, n); /* one gradient only */
    gpu->gate_backward(NULL, dg_, d_, x_, g_, n);
    note("gate_backward", what, diff(dx_, dx, n), EXACT);
    note("gate_backward", what, diff(dg_, dg, n), EXACT);
  }
  done(what);
}

static void t_remove_diag(int N, int H) {
  char what[64];
  snprintf(what, sizeof what, "N %d H %d", N, H);
  size_t n = (size_t)N * H, nw = (size_t)H * H;
  float *x = rnd(n, -1, 1), *w = rnd(nw, -1, 1), *out = rnd(n, -1, 1);
  float *x_ = upf(x, n), *w_ = upf(w, nw), *out_ = upf(out, n);
  cpu->remove_diag_forward(out, x, w, N, H);
  gpu->remove_diag_forward(out_, x_, w_, N, H);
  note("remove_diag_forward", what, diff(out_, out, n), EXACT);
  float *g = rnd(n, -1, 1), *g_ = upf(g, n);
  for (int pass = 0; pass < 2; pass++) {
    float *dx = grad(n, pass), *dw = grad(nw, pass), *dx_ = upf(dx, n), *dw_ = upf(dw, nw);
    cpu->remove_diag_backward(dx, dw, g, x, w, N, H);
    gpu->remove_diag_backward(dx_, dw_, g_, x_, w_, N, H);
    note("remove_diag_backward", what, diff(dx_, dx, n), EXACT);
    note("remove_diag_backward", what, diff(dw_, dw, nw), EXACT); /* a double sum per diagonal entry */
    cpu->remove_diag_backward(NULL, dw, g, x, w, N, H);           /* one gradient only */
    gpu->remove_diag_backward(NULL, dw_, g_, x_, w_, N, H);
    note("remove_diag_backward", what, diff(dw_, dw, nw), EXACT);
  }
  done(what);
}

/* ---- lstm_cell.h ------------------------------------------------------------------------------------- */

static void t_time_major(int B, int F, int T, int D, const int32_t *nf) {
  char what[64];
  snprintf(what, sizeof what, "B %d F %d T %d D %d", B, F, T, D);
  size_t nx = (size_t)B * F * D, no = (size_t)T * B * D;
  float *x = rnd(nx, -1, 1), *out = rnd(no, 0, 0);
  float *x_ = upf(x, nx), *out_ = upf(rnd(no, 5, 6), no); /* the padding must be written too */
  int32_t *nf_ = up(nf, (size_t)B * sizeof *nf);
  cpu->time_major_forward(out, x, nf, B, F, T, D);
  gpu->time_major_forward(out_, x_, nf_, B, F, T, D);
  note("time_major_forward", what, diff(out_, out, no), EXACT);
  done(what);
}

/* step t of a batch whose num_frames nf freeze some videos; in_place: act == xw */
static void t_lstm_cell(int B, int H, int t, const int32_t *nf, int in_place) {
  char what[96];
  snprintf(what, sizeof what, "B %d H %d t %d%s", B, H, t, in_place ? " in place" : "");
  size_t nh = (size_t)B * H, ng = 4 * nh;
  float *xw = rnd(ng, -3, 3), *hw = rnd(ng, -3, 3), *cp = rnd(nh, -2, 2), *hp = rnd(nh, -1, 1);
  float *act = rnd(ng, 0, 0), *c = rnd(nh, 0, 0), *h = rnd(nh, 0, 0);
  float *xw_ = upf(xw, ng), *hw_ = upf(hw, ng), *cp_ = upf(cp, nh), *hp_ = upf(hp, nh);
  float *act_ = in_place ? xw_ : upf(rnd(ng, 5, 6), ng), *c_ = upf(rnd(nh, 5, 6), nh), *h_ = upf(NULL, nh);
  int32_t *nf_ = up(nf, (size_t)B * sizeof *nf);
  cpu->lstm_cell_forward(c, h, act, xw, hw, cp, hp, nf, t, B, H);
  gpu->lstm_cell_forward(c_, h_, act_, xw_, hw_, cp_, hp_, nf_, t, B, H);
  note("lstm_cell_forward", what, diff(act_, act, ng), ULPS); /* sigmoid, tanh: expf */
  note("lstm_cell_forward", what, diff(c_, c, nh), CANCEL);   /* c_prev sf + si tj may cancel */
  note("lstm_cell_forward", what, diff(h_, h, nh), CANCEL);

  /* backward from the CPU's act and c on both sides */
  float *dc = rnd(nh, -1, 1), *dh = rnd(nh, -1, 1), *dc_ = upf(dc, nh), *dh_ = upf(dh, nh);
  float *actc_ = upf(act, ng), *cc_ = upf(c, nh);
  for (int pass = 0; pass < 2; pass++) {
    float *dpre = grad(ng, pass), *dcp = grad(nh, pass), *dhp = grad(nh, pass);
    float *dpre_ = upf(dpre, ng), *dcp_ = upf(dcp, nh), *dhp_ = upf(dhp, nh);
    cpu->lstm_cell_backward(dpre, dcp, dhp, dc, dh, act, c, cp, nf, t, B, H);
    gpu->lstm_cell_backward(dpre_, dcp_, dhp_, dc_, dh_, actc_, cc_, cp_, nf_, t, B, H);
    note("lstm_cell_backward", what, diff(dpre_, dpre, ng), CANCEL); /* tanh(c); dc + dh so (1 - tc^2) */
    note("lstm_cell_backward", what, diff(dcp_, dcp, nh), CANCEL);
    note("lstm_cell_backward", what, diff(dhp_, dhp, nh), EXACT); /* frozen rows: dh passes through */
    cpu->lstm_cell_backward(dpre, NULL, NULL, dc, dh, act, c, cp, nf, t, B, H); /* step 0: no earlier state */
    gpu->lstm_cell_backward(dpre_, NULL, NULL, dc_, dh_, actc_, cc_, cp_, nf_, t, B, H);
    note("lstm_cell_backward", what, diff(dpre_, dpre, ng), CANCEL);
  }
  done(what);
}

/* ---- losses ----------------------------------------------------------------------------------------- */

static void t_loss(int kind, int B, int C) {
  char what[64];
  snprintf(what, sizeof what, "kind %d B %d C %d", kind, B, C);
  size_t n = (size_t)B * C;
  float *p = rnd(n, 0.001f, 0.999f), *y = rnd(n, 0, 1), loss = -1;
  for (size_t i = 0; i < n; i++) y[i] = y[i] < 0.05f ? 1.0f : 0.0f;
  if (B > 1)
    for (int c = 0; c < C; c++) y[c] = 0, y[C + c] = c % 3 ? 0.0f : 0.5f; /* no label; soft labels */
  float *p_ = upf(p, n), *y_ = upf(y, n), *loss_ = upf(NULL, 1);
  cpu->loss_forward(&loss, kind, p, y, B, C);
  gpu->loss_forward(loss_, kind, p_, y_, B, C);
  note("loss_forward", what, diff(loss_, &loss, 1), LOSS);
  for (int pass = 0; pass < 2; pass++) {
    float *dp = grad(n, pass), *dp_ = upf(dp, n);
    cpu->loss_backward(kind, dp, p, y, B, C);
    gpu->loss_backward(kind, dp_, p_, y_, B, C);
    note("loss_backward", what, diff(dp_, dp, n), kind == YT_LOSS_SOFTMAX ? CANCEL : EXACT);
  }
  done(what);
}

/* ---- the optimizer's steps ----------------------------------------------------------------------------- */

static void t_sumsq_axpy(size_t n) {
  char what[64];
  snprintf(what, sizeof what, "n %zu", n);
  float *x = rnd(n, -1, 1), *y = rnd(n, -1, 1), s = -1;
  float *x_ = upf(x, n), *y_ = upf(y, n), *s_ = upf(NULL, 1);
  cpu->sumsq(&s, x, n);
  gpu->sumsq(s_, x_, n);
  note("sumsq", what, diff(s_, &s, 1), ULPS);
  cpu->axpy(y, 0.3f, x, n);
  gpu->axpy(y_, 0.3f, x_, n);
  note("axpy", what, diff(y_, y, n), EXACT);
  float ws = -1, gs = -1, *sums_ = upf(NULL, 2);
  cpu->l2_grad(&ws, &gs, y, x, 1e-3f, n);
  gpu->l2_grad(sums_, sums_ + 1, y_, x_, 1e-3f, n);
  float sums[2] = {ws, gs};
  note("l2_grad", what, diff(sums_, sums, 2), ULPS);
  note("l2_grad", what, diff(y_, y, n), EXACT);
  done(what);
}

static void t_adam(size_t n, float clip) {
  char what[64];
  snprintf(what, sizeof what, "n %zu clip %g", n, clip);
  float *w = rnd(n, -1, 1), *m = rnd(n, 0, 0), *v = rnd(n, 0, 0), gs = 0;
  float *w_ = upf(w, n), *m_ = upf(NULL, n), *v_ = upf(NULL, n), *gs_ = upf(NULL, 1);
  float b1p = YT_ADAM_BETA1, b2p = YT_ADAM_BETA2;
  for (int step = 0; step < 3; step++) {
    float *g = rnd(n, -0.2f, 0.2f), *g_ = upf(g, n);
    cpu->sumsq(&gs, g, n);
    gpu->upload(gs_, &gs, sizeof gs); /* the same norm on both sides */
    float lr_t = 0.01f * sqrtf(1.0f - b2p) / (1.0f - b1p);
    cpu->adam_update(w, m, v, g, clip > 0 ? &gs : NULL, clip, n, lr_t, YT_ADAM_BETA1, YT_ADAM_BETA2,
                     YT_ADAM_EPS);
    gpu->adam_update(w_, m_, v_, g_, clip > 0 ? gs_ : NULL, clip, n, lr_t, YT_ADAM_BETA1, YT_ADAM_BETA2,
                     YT_ADAM_EPS);
    b1p *= YT_ADAM_BETA1, b2p *= YT_ADAM_BETA2;
  }
  note("adam_update", what, diff(w_, w, n), EXACT);
  note("adam_update", what, diff(m_, m, n), EXACT);
  note("adam_update", what, diff(v_, v, n), EXACT);
  done(what);
}

/* a few steps of the weights' moving average, the weights moving between them */
static void t_ema(size_t n, float decay) {
  char what[64];
  snprintf(what, sizeof what, "n %zu decay %.9g", n, decay);
  float *s = rnd(n, -1, 1), *s_ = upf(s, n);
  for (int step = 0; step < 3; step++) {
    float *w = rnd(n, -2, 2), *w_ = upf(w, n);
    cpu->ema_update(s, w, decay, n);
    gpu->ema_update(s_, w_, decay, n);
  }
  note("ema_update", what, diff(s_, s, n), EXACT);
  done(what);
}

static void t_gather(int rows, int N, int D) {
  char what[64];
  snprintf(what, sizeof what, "rows %d N %d D %d", rows, N, D);
  float *x = rnd((size_t)rows * D, -1, 1), *out = rnd((size_t)N * D, 0, 0);
  int32_t *idx = (int32_t *)rnd(N, 0, 0);
  for (int i = 0; i < N; i++) idx[i] = i == 0 ? rows - 1 : (int32_t)(urand() * rows);
  float *x_ = upf(x, (size_t)rows * D), *out_ = upf(NULL, (size_t)N * D);
  int32_t *idx_ = up(idx, N * sizeof *idx);
  cpu->gather_rows(out, x, idx, N, D);
  gpu->gather_rows(out_, x_, idx_, N, D);
  note("gather_rows", what, diff(out_, out, (size_t)N * D), EXACT);
  done(what);
}

static void t_dequantize(int B, int F, int D, const int32_t *nf, float scale, float bias) {
  char what[96];
  snprintf(what, sizeof what, "B %d F %d D %d%s scale %g bias %g", B, F, D, nf ? "" : " all frames", scale,
           bias);
  size_t n = (size_t)B * F * D;
  uint8_t *q = (uint8_t *)rnd(n / 4 + 1, 0, 0);
  for (size_t i = 0; i < n; i++) q[i] = (uint8_t)(urand() * 256);
  q[0] = 0, q[n - 1] = 255;
  float *out = rnd(n, 0, 0), *out_ = upf(NULL, n);
  uint8_t *q_ = up(q, n);
  int32_t *nf_ = nf ? up(nf, B * sizeof *nf) : NULL;
  cpu->dequantize_frames(out, q, nf, B, F, D, scale, bias);
  gpu->upload(out_, rnd(n, 3, 4), n * sizeof(float)); /* padding must be written, not left */
  gpu->dequantize_frames(out_, q_, nf_, B, F, D, scale, bias);
  note("dequantize_frames", what, diff(out_, out, n), EXACT);
  done(what);
}

/* ---- errors ------------------------------------------------------------------------------------------ */

static void t_errors(void) {
  yt_err err = {0};
  CHECK(gpu->check(&err) == YT_OK, "clean before: %s", err.msg);
  void *huge = gpu->alloc((size_t)1 << 50), *huger = gpu->alloc((size_t)1 << 51);
  CHECK(huge == NULL && huger == NULL, "2^50 bytes allocated?");
  int rc = gpu->check(&err);
  printf("  alloc 2^50 -> check: %s\n", err.msg);
  CHECK(rc == YT_ENOMEM, "check after an impossible alloc: %d", rc);
  CHECK_CONTAINS(err.msg, "cuda:0: ");
  CHECK_CONTAINS(err.msg, "cudaMalloc(");
  CHECK_CONTAINS(err.msg, "backend/cuda/backend.cu:");
  CHECK_CONTAINS(err.msg, "1125899906842624 bytes"); /* the first failure, not the second */
  CHECK(!strstr(err.msg, "2251799813685248"), "the first failure is kept: %s", err.msg);
  CHECK(gpu->check(&err) == YT_OK, "check clears: %s", err.msg);
  /* and the backend keeps working */
  t_sumsq_axpy(1001);

  const yt_backend *be = NULL;
  char why[256], dev[32];
  int count = yt_cuda_device_count(why, sizeof why);
  snprintf(dev, sizeof dev, "cuda:%d", count);
  rc = yt_backend_open(dev, 0, &be, &err);
  printf("  %s -> %s\n", dev, err.msg);
  CHECK(rc < 0 && be == NULL, "%s opened", dev);
  CHECK_CONTAINS(err.msg, "no such device");
  rc = yt_backend_open("cuda:0", 0, &be, &err);
  CHECK(rc == YT_OK && be == gpu, "opening cuda:0 again gives the same table: %s", err.msg);
}

/* ---- main ------------------------------------------------------------------------------------------------
 */


int main(void) {
  char why[512] = "";
  int n = yt_cuda_device_count(why, sizeof why);
  if (n <= 0) {
    printf(TEST_NAME ": skipped: %s\n", why);
    return 77;
  }
  yt_err err = {0};
  cpu = yt_backend_cpu();
  if (yt_backend_open("cuda:0", 0, &gpu, &err) != YT_OK) {
    fprintf(stderr, TEST_NAME ": FAILED: %d device(s) present but cuda:0 does not open: %s\n", n, err.msg);
    return 1;
  }
  CHECK(yt_backend_require(gpu, yt_backend_op_names(), &err) == YT_OK, "%s", err.msg);
  CHECK(!strcmp(gpu->name, "cuda") && gpu->device == 0, "table name %s device %d", gpu->name, gpu->device);

  t_memory();
  t_inputs();

  /* N D K bias no-dx */
  int mm[][5] = {{1, 1, 1, 1, 0},       {37, 19, 53, 1, 0}, {5, 1500, 7, 0, 0}, {64, 33, 1100, 1, 0},
                 {2, 1152, 3862, 1, 0}, {9, 7, 5, 0, 1},    {3, 0, 5, 1, 0},    {3, 0, 5, 0, 0}};
  for (size_t i = 0; i < sizeof mm / sizeof *mm; i++)
    t_matmul(mm[i][0], mm[i][1], mm[i][2], mm[i][3], mm[i][4], GEMM, "matmul_forward", "matmul_backward");
  /* TF32 tensor cores: opening again applies allow_tf32 */
  const yt_backend *tf = NULL;
  CHECK(yt_backend_open("cuda:0", 1, &tf, &err) == YT_OK && tf == gpu, "tf32: %s", err.msg);
  t_matmul(64, 1500, 1100, 1, 0, TF32, "matmul_forward tf32", "matmul_backward tf32");
  CHECK(yt_backend_open("cuda:0", 0, &tf, &err) == YT_OK && tf == gpu, "tf32 off: %s", err.msg);

  size_t sizes[] = {1, 1001, 100003};
  for (size_t i = 0; i < 3; i++) t_activation(0, sizes[i]), t_activation(1, sizes[i]);

  int sm[][2] = {{1, 1}, {5, 37}, {3, 1500}, {300, 4}, {2, 3862}};
  for (size_t i = 0; i < sizeof sm / sizeof *sm; i++) t_softmax(sm[i][0], sm[i][1]);

  /* N C training nodx; decay */
  /* 2,100 x 70: three chunks of rows in the statistics kernels (1,024 each,
   * the last one short), three column blocks (the last one short) */
  int bn[][4] = {{1, 5, 1, 0},   {37, 19, 1, 0}, {1000, 1100, 1, 0}, {2100, 70, 1, 0},
                 {2, 300, 1, 1}, {37, 19, 0, 0}, {64, 1100, 0, 0},   {2100, 70, 1, 1}};
  for (size_t i = 0; i < sizeof bn / sizeof *bn; i++)
    t_batchnorm(bn[i][0], bn[i][1], bn[i][2], i % 2 ? 0.9f : YT_BN_DECAY, bn[i][3]);

  /* 3 x 20,000: the chunked path for long rows (8,192 per block, the last chunk short) */
  int l2[][2] = {{1, 1}, {7, 1152}, {3, 1500}, {300, 33}, {3, 20000}, {1, 8193}};
  for (size_t i = 0; i < sizeof l2 / sizeof *l2; i++) t_l2norm(l2[i][0], l2[i][1]);

  int32_t nf[6] = {0, 13, 5, 1, -2, 20}; /* none, full, some, one, negative, past F */
  t_pool(6, 13, 1100, nf);
  t_pool(6, 13, 7, NULL);
  t_pool(3, 1, 1, nf + 1);
  t_pool(2, 300, 33, (int32_t[]){300, 17});

  int moe[][3] = {{1, 1, 1}, {3, 37, 2}, {2, 1100, 4}, {4, 3, 0}, {1, 5, 16}};
  for (size_t i = 0; i < sizeof moe / sizeof *moe; i++) t_moe(moe[i][0], moe[i][1], moe[i][2]);

  /* B S F D: one frame; more than 1024 columns */
  t_gather_frames(1, 1, 1, 1);
  t_gather_frames(3, 7, 13, 33);
  t_gather_frames(2, 5, 300, 1152);

  /* N W ldo ldx at oo, ox: a frame row's split and a VLAD concatenation */
  t_cols(1, 1, 1, 1, 0, 0);
  t_cols(37, 19, 19, 40, 0, 21);
  t_cols(37, 21, 40, 21, 19, 0);
  t_cols(3, 1100, 2300, 1100, 1200, 0);

  /* B S D K light grads: S 0 (no frame), one of everything, K past the CPU's
   * 256-column blocks, D past 1024, each gradient alone */
  t_vlad(1, 1, 1, 1, 0, 7);
  t_vlad(3, 5, 7, 4, 0, 7);
  t_vlad(3, 5, 7, 4, 1, 7);
  t_vlad(2, 0, 7, 4, 0, 7);
  t_vlad(2, 3, 5, 257, 0, 7);
  t_vlad(4, 13, 1100, 17, 0, 7);
  t_vlad(3, 6, 9, 8, 0, 1);
  t_vlad(3, 6, 9, 8, 0, 2);
  t_vlad(3, 6, 9, 8, 0, 4);

  int l2c[][3] = {{1, 1, 1}, {3, 7, 5}, {2, 5, 257}, {2, 1100, 3}};
  for (size_t i = 0; i < sizeof l2c / sizeof *l2c; i++) t_l2norm_cols(l2c[i][0], l2c[i][1], l2c[i][2]);

  size_t gn[] = {1, 1001, 100003};
  for (size_t i = 0; i < 3; i++) t_gate(gn[i]);

  int rd[][2] = {{1, 1}, {37, 19}, {5, 300}, {300, 33}};
  for (size_t i = 0; i < sizeof rd / sizeof *rd; i++) t_remove_diag(rd[i][0], rd[i][1]);

  /* num_frames: none, full, some, one, negative, past F */
  int32_t tm[6] = {0, 9, 4, 1, -3, 12};
  t_time_major(6, 9, 9, 33, tm);
  t_time_major(6, 9, 5, 1100, tm);
  t_time_major(1, 1, 1, 1, tm + 3);

  /* at step 2: frozen (num_frames 0, 2, -1) and running (3, 9) videos */
  int32_t lf[5] = {0, 2, 3, 9, -1};
  t_lstm_cell(5, 7, 2, lf, 0);
  t_lstm_cell(5, 7, 2, lf, 1);
  t_lstm_cell(1, 1, 0, lf + 3, 0);
  t_lstm_cell(5, 300, 2, lf, 0);
  t_lstm_cell(5, 300, 0, lf, 1);

  int kinds[] = {YT_LOSS_CE, YT_LOSS_HINGE, YT_LOSS_SOFTMAX};
  int ls[][2] = {{1, 1}, {4, 37}, {3, 3862}, {64, 5}};
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < sizeof ls / sizeof *ls; i++) t_loss(kinds[k], ls[i][0], ls[i][1]);

  size_t sq[] = {0, 1, 7, 1001, 1000003};
  for (size_t i = 0; i < sizeof sq / sizeof *sq; i++) t_sumsq_axpy(sq[i]);

  size_t an[] = {1, 5, 10007};
  float clips[] = {0.0f, 0.5f, 1000.0f};
  for (size_t i = 0; i < 3; i++)
    for (size_t c = 0; c < 3; c++) t_adam(an[i], clips[c]);
  /* decay 0 (halflife 1), 1 (a huge halflife), TF's usual 0.9995 and an odd one */
  float decays[] = {0.0f, 1.0f, 0.9995f, (float)(1 - 1.0 / 3)};
  for (size_t i = 0; i < 3; i++)
    for (size_t d = 0; d < 4; d++) t_ema(an[i], decays[d]);

  t_gather(50, 37, 1100);
  t_gather(1, 1, 1);
  t_gather(300, 30, 1152);

  int32_t dq[5] = {0, 7, 3, -1, 9};
  t_dequantize(5, 7, 1152, dq, YT_DQ_SCALE, YT_DQ_BIAS);
  t_dequantize(5, 7, 1152, NULL, YT_DQ_SCALE, YT_DQ_BIAS);
  t_dequantize(5, 7, 33, dq, 0.25f, -1.0f / 3);
  t_dequantize(1, 1, 1, dq + 1, YT_DQ_SCALE, YT_DQ_BIAS);

  t_errors();

  printf("  %-22s %5s  %-12s %s\n", "operation", "cases", "max rel err", "tolerance");
  for (int i = 0; i < nstats; i++)
    printf("  %-22s %5d  %-12.3e %.0e\n", stats[i].op, stats[i].cases, stats[i].worst, stats[i].tol);
  const char *const *ops = yt_backend_op_names();
  for (int i = 0; ops[i]; i++) {
    int seen = 0;
    for (int j = 0; j < nstats; j++) seen |= !strncmp(stats[j].op, ops[i], strlen(ops[i]));
    CHECK(seen || !strcmp(ops[i], "check"), "operation %s has no parity case", ops[i]);
  }
  return check_report(TEST_NAME);
}
