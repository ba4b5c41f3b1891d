/* test_layers.c: the CPU layers, losses and Adam (nodes/model/layers.h,
 * loss.h, adam.h). Every backward is checked against central differences of
 * its forward (the scalar sum(r * out) with random r, summed in double) on
 * small random sizes; gradients are pre-filled with 0.5 to check that
 * backward accumulates. Batch-norm statistics and moving averages, Adam's
 * first two steps and the learning-rate schedule are checked against hand
 * computations. Not here: the models (test_models.c). */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "model/adam.h"
#include "model/layers.h"
#include "model/loss.h"
#include "model/model.h"

/* Threshold on the largest relative error |a - n| / max(|a|, |n|, 1% of the
 * largest |a|); a wrong gradient gives O(1). */
#define GRAD_TOL 5e-3

static uint64_t rng = 12345;
static double urand(void) { /* [0, 1) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}
static float frand(float lo, float hi) { return (float)(lo + (hi - lo) * urand()); }
static void fill(float *v, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
}
static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ---- the finite-difference harness ------------------------------------------------ */

typedef double (*scalar_fn)(void *ctx); /* runs a forward, returns sum(r * out) */

/* Largest relative error between analytic[0..n) (already minus the 0.5
 * pre-fill) and central differences of fn with respect to v[0..n). */
static double grad_err(scalar_fn fn, void *ctx, float *v, const float *analytic, size_t n, double h) {
  double amax = 0, worst = 0;
  for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(analytic[i]));
  for (size_t i = 0; i < n; i++) {
    float save = v[i];
    float vp = (float)(save + h), vm = (float)(save - h);
    v[i] = vp;
    double lp = fn(ctx);
    v[i] = vm;
    double lm = fn(ctx);
    v[i] = save;
    double num = (lp - lm) / ((double)vp - (double)vm);
    double a = analytic[i];
    double den = fmax(fmax(fabs(a), fabs(num)), 1e-2 * amax);
    double e = den > 0 ? fabs(a - num) / den : 0;
    if (e > worst) worst = e;
  }
  return worst;
}

/* backward output minus the 0.5 pre-fill, in place */
static void unfill(float *g, size_t n) {
  for (size_t i = 0; i < n; i++) g[i] -= 0.5f;
}
static float *prefilled(size_t n) {
  float *g = falloc(n);
  for (size_t i = 0; i < n; i++) g[i] = 0.5f;
  return g;
}

static double dot(const float *r, const float *out, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)r[i] * out[i];
  return s;
}

static void report(const char *what, double err) {
  printf("  %-28s max rel err %.2e\n", what, err);
  CHECK(err < GRAD_TOL, "%s: max relative gradient error %.3e", what, err);
}

/* ---- matmul -------------------------------------------------------------------------- */

typedef struct { float *out, *x, *w, *b, *r; int N, D, K; } mm_ctx;
static double mm_fn(void *p) {
  mm_ctx *c = p;
  yt_matmul_forward(c->out, c->x, c->w, c->b, c->N, c->D, c->K);
  return dot(c->r, c->out, (size_t)c->N * c->K);
}

static void test_matmul(void) {
  mm_ctx c = {.N = 5, .D = 7, .K = 6};
  size_t nx = (size_t)c.N * c.D, nw = (size_t)c.D * c.K, no = (size_t)c.N * c.K;
  c.x = falloc(nx), c.w = falloc(nw), c.b = falloc(c.K), c.out = falloc(no), c.r = falloc(no);
  fill(c.x, nx, -1, 1), fill(c.w, nw, -1, 1), fill(c.b, c.K, -1, 1), fill(c.r, no, -1, 1);
  /* forward against a plain loop */
  mm_fn(&c);
  double maxd = 0;
  for (int n = 0; n < c.N; n++)
    for (int k = 0; k < c.K; k++) {
      double s = c.b[k];
      for (int d = 0; d < c.D; d++) s += (double)c.x[n * c.D + d] * c.w[d * c.K + k];
      maxd = fmax(maxd, fabs(s - c.out[n * c.K + k]));
    }
  CHECK(maxd < 1e-5, "matmul forward differs from the loop by %g", maxd);
  float *dx = prefilled(nx), *dw = prefilled(nw), *db = prefilled(c.K);
  yt_matmul_backward(dx, dw, db, c.r, c.x, c.w, c.N, c.D, c.K);
  unfill(dx, nx), unfill(dw, nw), unfill(db, c.K);
  report("matmul dx", grad_err(mm_fn, &c, c.x, dx, nx, 1e-2));
  report("matmul dw", grad_err(mm_fn, &c, c.w, dw, nw, 1e-2));
  report("matmul dbias", grad_err(mm_fn, &c, c.b, db, c.K, 1e-2));
  free(dx), free(dw), free(db);
  free(c.x), free(c.w), free(c.b), free(c.out), free(c.r);
}

/* ---- elementwise and row layers --------------------------------------------------------- */

enum { L_SIGMOID, L_RELU6, L_SOFTMAX, L_L2NORM };
typedef struct { int kind, N, K; float *x, *out, *r; } ew_ctx;
static double ew_fn(void *p) {
  ew_ctx *c = p;
  size_t n = (size_t)c->N * c->K;
  switch (c->kind) {
  case L_SIGMOID: yt_sigmoid_forward(c->out, c->x, n); break;
  case L_RELU6: yt_relu6_forward(c->out, c->x, n); break;
  case L_SOFTMAX: yt_softmax_forward(c->out, c->x, c->N, c->K); break;
  case L_L2NORM: yt_l2norm_forward(c->out, c->x, c->N, c->K); break;
  }
  return dot(c->r, c->out, n);
}

static void test_elementwise(int kind, const char *name) {
  ew_ctx c = {.kind = kind, .N = 4, .K = 6};
  size_t n = (size_t)c.N * c.K;
  c.x = falloc(n), c.out = falloc(n), c.r = falloc(n);
  fill(c.r, n, -1, 1);
  for (size_t i = 0; i < n; i++) {
    if (kind == L_RELU6) { /* away from the kinks at 0 and 6 */
      float v;
      do v = frand(-2, 8);
      while (fabsf(v) < 0.1f || fabsf(v - 6) < 0.1f);
      c.x[i] = v;
    } else {
      c.x[i] = frand(-3, 3);
    }
  }
  ew_fn(&c);
  float *dx = prefilled(n);
  switch (kind) {
  case L_SIGMOID: yt_sigmoid_backward(dx, c.r, c.out, n); break;
  case L_RELU6: yt_relu6_backward(dx, c.r, c.out, n); break;
  case L_SOFTMAX: yt_softmax_backward(dx, c.r, c.out, c.N, c.K); break;
  case L_L2NORM: yt_l2norm_backward(dx, c.r, c.x, c.N, c.K); break;
  }
  unfill(dx, n);
  report(name, grad_err(ew_fn, &c, c.x, dx, n, 3e-3));
  free(dx), free(c.x), free(c.out), free(c.r);
}

static void test_forward_values(void) {
  float x[6] = {-1, 0, 3, 5.5f, 6, 9}, o[6];
  yt_relu6_forward(o, x, 6);
  CHECK(o[0] == 0 && o[1] == 0 && o[2] == 3 && o[3] == 5.5f && o[4] == 6 && o[5] == 6, "relu6 values");
  yt_sigmoid_forward(o, x, 1);
  CHECK(fabsf(o[0] - 0.26894142f) < 1e-7f, "sigmoid(-1) = %.8f", o[0]);
  float s[3] = {1, 2, 3};
  yt_softmax_forward(s, s, 1, 3); /* in place */
  CHECK(fabsf(s[0] - 0.09003057f) < 1e-7f && fabsf(s[2] - 0.66524096f) < 1e-7f, "softmax [1,2,3] = %g %g %g",
        s[0], s[1], s[2]);
  float v[4] = {3, 4, 0, 0}, z[4] = {0, 0, 0, 0};
  yt_l2norm_forward(v, v, 2, 2); /* rows (3,4) and (0,0) */
  CHECK(v[0] == 0.6f && v[1] == 0.8f && v[2] == 0 && v[3] == 0, "l2norm (3,4),(0,0) -> %g %g %g %g", v[0], v[1],
        v[2], v[3]);
  float tiny[2] = {1e-7f, 0};
  yt_l2norm_forward(z, tiny, 1, 2); /* under the 1e-12 floor: x * 1e6 */
  CHECK(fabsf(z[0] - 0.1f) < 1e-7f, "l2norm under the floor: %g (want 0.1)", z[0]);
}

/* ---- batch norm -------------------------------------------------------------------------- */

typedef struct { float *x, *out, *r, *gamma, *beta, *mean, *rstd; int N, C; } bn_ctx;
static double bn_fn(void *p) {
  bn_ctx *c = p;
  yt_batchnorm_forward(c->out, c->mean, c->rstd, NULL, NULL, c->x, c->gamma, c->beta, c->N, c->C, 1, YT_BN_DECAY);
  return dot(c->r, c->out, (size_t)c->N * c->C);
}

static void test_batchnorm_grad(void) {
  bn_ctx c = {.N = 9, .C = 5};
  size_t n = (size_t)c.N * c.C;
  c.x = falloc(n), c.out = falloc(n), c.r = falloc(n), c.gamma = falloc(c.C), c.beta = falloc(c.C);
  c.mean = falloc(c.C), c.rstd = falloc(c.C);
  fill(c.x, n, -2, 2), fill(c.r, n, -1, 1), fill(c.gamma, c.C, 0.5f, 1.5f), fill(c.beta, c.C, -1, 1);
  bn_fn(&c);
  float *dx = prefilled(n), *dg = prefilled(c.C), *db = prefilled(c.C);
  yt_batchnorm_backward(dx, dg, db, c.r, c.x, c.mean, c.rstd, c.gamma, c.N, c.C);
  unfill(dx, n), unfill(dg, c.C), unfill(db, c.C);
  report("batchnorm dx (training)", grad_err(bn_fn, &c, c.x, dx, n, 3e-3));
  report("batchnorm dgamma", grad_err(bn_fn, &c, c.gamma, dg, c.C, 3e-3));
  report("batchnorm dbeta", grad_err(bn_fn, &c, c.beta, db, c.C, 3e-3));
  free(dx), free(dg), free(db);
  free(c.x), free(c.out), free(c.r), free(c.gamma), free(c.beta), free(c.mean), free(c.rstd);
}

/* Statistics, output and moving averages by hand: column 0 = 1,2,3,6
 * (mean 3, biased var 3.5, unbiased 14/3), column 1 = 0,0,0,4 (mean 1,
 * biased var 3, unbiased 4). */
static void test_batchnorm_values(void) {
  float x[8] = {1, 0, 2, 0, 3, 0, 6, 4}, out[8], mean[2], rstd[2];
  float gamma[2] = {2, 0.5f}, beta[2] = {1, -1}, mm[2] = {0.3f, -0.2f}, mv[2] = {1.2f, 0.9f};
  yt_batchnorm_forward(out, mean, rstd, mm, mv, x, gamma, beta, 4, 2, 1, YT_BN_DECAY);
  CHECK(mean[0] == 3 && mean[1] == 1, "batch means %g %g", mean[0], mean[1]);
  CHECK(fabs(rstd[0] - 1 / sqrt(3.5 + 0.001)) < 1e-7 && fabs(rstd[1] - 1 / sqrt(3 + 0.001)) < 1e-7,
        "rstd %g %g", rstd[0], rstd[1]);
  double want_out0 = 2 * (6 - 3) / sqrt(3.5 + 0.001) + 1; /* row 3, column 0 */
  double want_out1 = 0.5 * (0 - 1) / sqrt(3.0 + 0.001) - 1; /* row 0, column 1 */
  CHECK(fabs(out[6] - want_out0) < 1e-6 && fabs(out[1] - want_out1) < 1e-6, "bn out %g %g (want %g %g)",
        out[6], out[1], want_out0, want_out1);
  double m0 = 0.3 - 0.001 * (0.3 - 3), m1 = -0.2 - 0.001 * (-0.2 - 1);
  double v0 = 1.2 - 0.001 * (1.2 - 14.0 / 3), v1 = 0.9 - 0.001 * (0.9 - 4.0);
  CHECK(fabs(mm[0] - m0) < 1e-7 && fabs(mm[1] - m1) < 1e-7, /* 2 ulp */ "moving_mean %.8f %.8f (want %.8f %.8f)", mm[0],
        mm[1], m0, m1);
  CHECK(fabs(mv[0] - v0) < 2.5e-7 && fabs(mv[1] - v1) < 2.5e-7, /* 2 ulp */
        "moving_variance %.8f %.8f (want %.8f %.8f, unbiased batch variance)", mv[0], mv[1], v0, v1);
  /* inference uses the moving statistics */
  float y[2], in[2] = {0.5f, 2};
  yt_batchnorm_forward(y, NULL, NULL, mm, mv, in, gamma, beta, 1, 2, 0, YT_BN_DECAY);
  double y0 = 2 * (0.5 - mm[0]) / sqrt(mv[0] + 0.001) + 1, y1 = 0.5 * (2 - mm[1]) / sqrt(mv[1] + 0.001) - 1;
  CHECK(fabs(y[0] - y0) < 1e-6 && fabs(y[1] - y1) < 1e-6, "bn inference %g %g (want %g %g)", y[0], y[1], y0, y1);
  /* 1000 steps on a constant batch approach its statistics: 1 - 0.999^1000 = 63% of the way */
  float m2[2] = {0, 0}, v2[2] = {1, 1};
  for (int i = 0; i < 1000; i++) yt_batchnorm_forward(out, mean, rstd, m2, v2, x, gamma, beta, 4, 2, 1, YT_BN_DECAY);
  double f = 1 - pow(0.999, 1000);
  CHECK(fabs(m2[0] - 3 * f) < 1e-3 && fabs(v2[0] - (1 + (14.0 / 3 - 1) * f)) < 1e-3,
        "1000 moving updates: mean %g (want %g), var %g (want %g)", m2[0], 3 * f, v2[0], 1 + (14.0 / 3 - 1) * f);
}

/* ---- pooling --------------------------------------------------------------------------------- */

typedef struct { int max, B, F, D; float *x, *out, *r; int32_t *nf; } pool_ctx;
static double pool_fn(void *p) {
  pool_ctx *c = p;
  if (c->max)
    yt_maxpool_forward(c->out, c->x, c->nf, c->B, c->F, c->D);
  else
    yt_meanpool_forward(c->out, c->x, c->nf, c->B, c->F, c->D);
  return dot(c->r, c->out, (size_t)c->B * c->D);
}

static void test_pool(int max) {
  int32_t nf[3] = {5, 2, 0};
  pool_ctx c = {.max = max, .B = 3, .F = 5, .D = 4, .nf = nf};
  size_t n = (size_t)c.B * c.F * c.D, no = (size_t)c.B * c.D;
  c.x = falloc(n), c.out = falloc(no), c.r = falloc(no);
  fill(c.r, no, -1, 1);
  /* distinct values at least 0.1 apart within each (video, column): no near ties */
  for (int b = 0; b < c.B; b++)
    for (int d = 0; d < c.D; d++) {
      int perm[5] = {0, 1, 2, 3, 4};
      for (int i = 4; i > 0; i--) {
        int j = (int)(urand() * (i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
      }
      for (int t = 0; t < c.F; t++) c.x[((size_t)b * c.F + t) * c.D + d] = 0.3f * perm[t] + frand(0, 0.1f);
    }
  pool_fn(&c);
  for (int d = 0; d < c.D; d++) CHECK(c.out[2 * c.D + d] == 0, "0-frame video pools to 0");
  float *dx = prefilled(n);
  if (max)
    yt_maxpool_backward(dx, c.r, c.x, c.out, nf, c.B, c.F, c.D);
  else
    yt_meanpool_backward(dx, c.r, nf, c.B, c.F, c.D);
  unfill(dx, n);
  int masked_zero = 1;
  for (int t = 2; t < c.F; t++)
    for (int d = 0; d < c.D; d++) masked_zero &= dx[((size_t)1 * c.F + t) * c.D + d] == 0;
  CHECK(masked_zero, "%s pool: frames past num_frames get no gradient", max ? "max" : "mean");
  report(max ? "maxpool dx (num_frames mask)" : "meanpool dx (num_frames mask)",
         grad_err(pool_fn, &c, c.x, dx, n, 3e-3));
  free(dx), free(c.x), free(c.out), free(c.r);
}

/* tf.reduce_max's gradient splits evenly between tied maxima */
static void test_maxpool_ties(void) {
  float x[6] = {1, 5, 3, 4, 3, 2}; /* (1,3,2): column 0 ties at 3 twice, column 1 has one max */
  float out[2], dout[2] = {1, 4}, dx[6] = {0};
  yt_maxpool_forward(out, x, NULL, 1, 3, 2);
  yt_maxpool_backward(dx, dout, x, out, NULL, 1, 3, 2);
  CHECK(out[0] == 3 && out[1] == 5, "maxpool %g %g", out[0], out[1]);
  CHECK(dx[0] == 0 && dx[2] == 0.5f && dx[4] == 0.5f && dx[1] == 4 && dx[3] == 0 && dx[5] == 0,
        "maxpool ties: %g %g %g / %g %g %g", dx[0], dx[2], dx[4], dx[1], dx[3], dx[5]);
}

/* ---- MoE combine --------------------------------------------------------------------------------- */

typedef struct { int B, C, M; float *gl, *el, *gp, *ep, *p, *r; } moe_ctx;
static double moe_fn(void *v) {
  moe_ctx *c = v;
  yt_moe_combine_forward(c->p, c->gp, c->ep, c->gl, c->el, c->B, c->C, c->M);
  return dot(c->r, c->p, (size_t)c->B * c->C);
}

static void test_moe(void) {
  moe_ctx c = {.B = 3, .C = 4, .M = 2};
  size_t ng = (size_t)c.B * c.C * (c.M + 1), ne = (size_t)c.B * c.C * c.M, np = (size_t)c.B * c.C;
  c.gl = falloc(ng), c.gp = falloc(ng), c.el = falloc(ne), c.ep = falloc(ne), c.p = falloc(np), c.r = falloc(np);
  fill(c.gl, ng, -2, 2), fill(c.el, ne, -2, 2), fill(c.r, np, -1, 1);
  moe_fn(&c);
  /* by hand for (b 0, c 0) */
  double g[3], s = 0;
  for (int m = 0; m < 3; m++) s += g[m] = exp(c.gl[m]);
  double want = g[0] / s / (1 + exp(-c.el[0])) + g[1] / s / (1 + exp(-c.el[1]));
  CHECK(fabs(c.p[0] - want) < 1e-6, "moe p[0] %g, by hand %g", c.p[0], want);
  float *dg = prefilled(ng), *de = prefilled(ne);
  yt_moe_combine_backward(dg, de, c.r, c.gp, c.ep, c.B, c.C, c.M);
  unfill(dg, ng), unfill(de, ne);
  report("moe combine d gate logits", grad_err(moe_fn, &c, c.gl, dg, ng, 3e-3));
  report("moe combine d expert logits", grad_err(moe_fn, &c, c.el, de, ne, 3e-3));
  free(dg), free(de), free(c.gl), free(c.gp), free(c.el), free(c.ep), free(c.p), free(c.r);
}

/* ---- losses ---------------------------------------------------------------------------------------- */

typedef struct { int kind, B, C; float *p, *y; } loss_ctx;
static double loss_fn(void *v) {
  loss_ctx *c = v;
  return yt_loss_forward(c->kind, c->p, c->y, c->B, c->C);
}

static void test_loss(int kind) {
  loss_ctx c = {.kind = kind, .B = 4, .C = 6};
  size_t n = (size_t)c.B * c.C;
  c.p = falloc(n), c.y = falloc(n);
  for (size_t i = 0; i < n; i++) {
    c.y[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? 0.0f : frand(0, 1); /* hard and soft labels */
    float v;
    do v = frand(0.05f, 0.95f); /* away from the hinge's kink at (2y-1)p = 1 */
    while (fabsf(1 - (2 * c.y[i] - 1) * v) < 0.02f);
    c.p[i] = v;
  }
  c.y[1 * c.C + 0] = 0; /* row 1 keeps a soft label only; row 3 has no positive at all */
  for (int k = 0; k < c.C; k++) c.y[3 * c.C + k] = 0;
  float *dp = prefilled(n);
  yt_loss_backward(kind, dp, c.p, c.y, c.B, c.C);
  unfill(dp, n);
  char what[64];
  snprintf(what, sizeof what, "%s dp", yt_loss_name(kind));
  report(what, grad_err(loss_fn, &c, c.p, dp, n, 3e-3));
  free(dp), free(c.p), free(c.y);
}

static void test_loss_values(void) {
  float p[4] = {0.9f, 0.2f, 0.5f, 0.5f}, y[4] = {1, 0, 0.5f, 1};
  double ce = -(log(0.9 + 1e-5) + log(1 - 0.2 + 1e-5)) - (0.5 * log(0.5 + 1e-5) + 0.5 * log(0.5 + 1e-5) +
                                                           log(0.5 + 1e-5));
  CHECK(fabs(yt_ce_loss_forward(p, y, 2, 2) - ce / 2) < 1e-6, "CE %g want %g", yt_ce_loss_forward(p, y, 2, 2),
        ce / 2);
  double hinge = (1 - 0.9) + (1 - 0.2 * -1) + (1 - 0 * 0.5) + (1 - 0.5);
  CHECK(fabs(yt_hinge_loss_forward(p, y, 2, 2) - hinge / 2) < 1e-6, "hinge %g want %g",
        yt_hinge_loss_forward(p, y, 2, 2), hinge / 2);
  /* softmax: row 0 label (1,0); row 1 labels (0.5,1) normalized to (1/3, 2/3) */
  double l0 = -(0.9 - log(exp(0.9) + exp(0.2)));
  double l1 = -(1.0 / 3 * (0.5 - log(2 * exp(0.5))) + 2.0 / 3 * (0.5 - log(2 * exp(0.5))));
  CHECK(fabs(yt_softmax_loss_forward(p, y, 2, 2) - (l0 + l1) / 2) < 1e-6, "softmax loss %g want %g",
        yt_softmax_loss_forward(p, y, 2, 2), (l0 + l1) / 2);
}

/* ---- Adam and the schedule ------------------------------------------------------------------------------ */

static void test_adam(void) {
  /* LogisticModel D 3, C 3: weights [3,3] (9 floats: 8 in SIMD lanes, 1 in the
   * scalar tail) then biases [3]; two steps; step 1 clips the weights' gradient
   * (norm > 1) but not the biases', step 2 the reverse. */
  yt_model_config cfg = {.model = "LogisticModel"};
  yt_model_config_defaults(&cfg);
  cfg.feature_dim = 3, cfg.num_classes = 3;
  yt_model *m;
  yt_err err;
  CHECK(yt_model_new(&m, &cfg, 1, &err) == 0, "new: %s", err.msg);
  enum { P = 12 };
  CHECK(yt_model_num_params(m) == P, "12 parameters");
  float *w = yt_model_params(m), *g = yt_model_grads(m), gs[2][P];
  double mm[P] = {0}, vv[P] = {0}, ww[P];
  for (int i = 0; i < P; i++) {
    w[i] = ww[i] = frand(-1, 1);
    gs[0][i] = i < 9 ? frand(-1, 1) : frand(-0.3f, 0.3f);
    gs[1][i] = i < 9 ? frand(-0.1f, 0.1f) : frand(-2, 2);
  }
  yt_adam a;
  CHECK(yt_adam_init(&a, yt_model_num_params(m), &err) == 0, "adam init");
  double b1 = 0.9f, b2 = 0.999f; /* TF's float constants: 1 - 0.999f = 0.00099998713 */
  float lr = 0.1f;
  for (int step = 1; step <= 2; step++) {
    const float *gg = gs[step - 1];
    memcpy(g, gg, sizeof gs[0]);
    yt_adam_step(&a, m, lr, 1.0f);
    double nw = 0, nb = 0;
    for (int i = 0; i < P; i++) *(i < 9 ? &nw : &nb) += (double)gg[i] * gg[i];
    nw = sqrt(nw), nb = sqrt(nb);
    CHECK(step == 1 ? nw > 1 && nb < 1 : nw < 1 && nb > 1, "the clipping cases");
    double lr_t = lr * sqrt(1 - pow(b2, step)) / (1 - pow(b1, step));
    double worst = 0;
    for (int i = 0; i < P; i++) {
      double gc = gg[i] / fmax(i < 9 ? nw : nb, 1.0);
      mm[i] = b1 * mm[i] + (1 - b1) * gc;
      vv[i] = b2 * vv[i] + (1 - b2) * gc * gc;
      ww[i] -= lr_t * mm[i] / (sqrt(vv[i]) + 1e-8);
      worst = fmax(worst, fabs(w[i] - ww[i]));
      CHECK(fabs(a.m[i] - mm[i]) < 1e-7 && fabs(a.v[i] - vv[i]) < 1e-9 * fmax(1, vv[i] * 1e3),
            "adam step %d param %d: m %.8f v %.10f, by hand %.8f %.10f", step, i, a.m[i], a.v[i], mm[i], vv[i]);
    }
    CHECK(worst < 1e-6, "adam step %d: parameters differ from the hand computation by %g", step, worst);
    CHECK(!memcmp(g, gg, sizeof gs[0]), "adam leaves the gradient block as it was");
  }
  CHECK(a.t == 2 && fabsf(a.beta1_power - 0.729f) < 1e-7f && fabsf(a.beta2_power - 0.997003f) < 1e-7f,
        "adam t %lld powers %g %g", (long long)a.t, a.beta1_power, a.beta2_power);
  yt_adam_free(&a);
  yt_model_free(m);

  /* batch-norm moving statistics are not trainable: Adam leaves them alone */
  yt_model_config d = {.model = "DbofModel"};
  yt_model_config_defaults(&d);
  d.feature_dim = 4, d.num_classes = 3, d.max_frames = 3, d.iterations = 2, d.dbof_cluster_size = 3,
  d.dbof_hidden_size = 2;
  CHECK(yt_model_new(&m, &d, 2, &err) == 0, "new dbof: %s", err.msg);
  CHECK(yt_adam_init(&a, yt_model_num_params(m), &err) == 0, "adam init");
  float *gr = yt_model_grads(m);
  for (size_t i = 0; i < yt_model_num_params(m); i++) gr[i] = 1;
  int mv = yt_model_find_tensor(m, "tower/cluster_bn/moving_variance");
  int cw = yt_model_find_tensor(m, "tower/cluster_weights");
  float before_mv = yt_model_params(m)[yt_model_tensor(m, mv)->offset];
  float before_cw = yt_model_params(m)[yt_model_tensor(m, cw)->offset];
  yt_adam_step(&a, m, 0.01f, 1.0f);
  CHECK(yt_model_params(m)[yt_model_tensor(m, mv)->offset] == before_mv, "moving_variance changed by Adam");
  CHECK(yt_model_params(m)[yt_model_tensor(m, cw)->offset] != before_cw, "cluster_weights not updated");
  CHECK(a.m[yt_model_tensor(m, mv)->offset] == 0, "moving stats keep zero moments");
  yt_adam_free(&a);
  yt_model_free(m);
}

static void test_schedule(void) {
  struct { float base, decay; int64_t step; int batch; double want; } t[] = {
      {0.01f, 0.95f, 0, 1024, 0.01},        {0.01f, 0.95f, 3906, 1024, 0.01},
      {0.01f, 0.95f, 3907, 1024, 0.0095},    {0.01f, 0.95f, 39063, 1024, 0.01 * pow(0.95, 10)},
      {2e-4f, 0.8f, 24999, 160, 2e-4},       {2e-4f, 0.8f, 25000, 160, 1.6e-4},
      {2e-4f, 0.8f, 50000, 160, 1.28e-4},    {2e-4f, 0.8f, 300000, 160, 2e-4 * pow(0.8, 12)},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    float lr = yt_learning_rate(t[i].base, t[i].decay, 4e6, t[i].step, t[i].batch);
    CHECK(fabs(lr - t[i].want) < 1e-6 * t[i].want, "lr(%g, %g, step %lld, batch %d) = %.9g, want %.9g", t[i].base,
          t[i].decay, (long long)t[i].step, t[i].batch, lr, t[i].want);
  }
}

int main(void) {
  printf("gradient checks (threshold %.0e):\n", GRAD_TOL);
  test_matmul();
  test_elementwise(L_SIGMOID, "sigmoid dx");
  test_elementwise(L_RELU6, "relu6 dx");
  test_elementwise(L_SOFTMAX, "softmax dx");
  test_elementwise(L_L2NORM, "l2norm dx");
  test_batchnorm_grad();
  test_pool(0);
  test_pool(1);
  test_moe();
  test_loss(YT_LOSS_CE);
  test_loss(YT_LOSS_HINGE);
  test_loss(YT_LOSS_SOFTMAX);
  test_forward_values();
  test_batchnorm_values();
  test_maxpool_ties();
  test_loss_values();
  test_adam();
  test_schedule();
  return check_report("test_layers");
}
