/* test_vlad.c: the layers NetVLADModelLF adds (nodes/model/vlad.h). Each
 * backward against central differences of its forward (the scalar
 * sum(r * out) with random r, summed in double; gradients pre-filled with 0.5
 * to check that backward accumulates), each forward against a plain loop or
 * values by hand. The model itself: test_netvlad.c. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "model/vlad.h"

#define LAYER_TOL 5e-3 /* as test_layers.c */

static uint64_t rng = 4242;
static double urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}
static float frand(float lo, float hi) {
  return (float)(lo + (hi - lo) * urand());
}
static void fill(float *v, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
}
static float *falloc(size_t n) {
  return calloc(n ? n : 1, sizeof(float));
}

/* ---- the layer harness (test_layers.c's) ----------------------------------------------- */

typedef double (*scalar_fn)(void *ctx);

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
    double num = (lp - lm) / ((double)vp - (double)vm), a = analytic[i];
    double den = fmax(fmax(fabs(a), fabs(num)), 1e-2 * amax);
    double e = den > 0 ? fabs(a - num) / den : 0;
    if (e > worst) worst = e;
  }
  return worst;
}

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
  printf("  %-36s max rel err %.2e\n", what, err);
  CHECK(err < LAYER_TOL, "%s: max relative gradient error %.3e", what, err);
}

/* ---- vlad.h layers -------------------------------------------------------------------------- */

typedef struct {
  int B, S, D, K;
  float *a, *x, *c, *v, *asum, *r;
} vlad_ctx;
static double vlad_fn(void *p) {
  vlad_ctx *c = p;
  yt_vlad_forward(c->v, c->asum, c->a, c->x, c->c, c->B, c->S, c->D, c->K);
  return dot(c->r, c->v, (size_t)c->B * c->D * c->K);
}

static void test_vlad(int light) {
  vlad_ctx c = {.B = 3, .S = 5, .D = 4, .K = 3};
  size_t na = (size_t)c.B * c.S * c.K, nx = (size_t)c.B * c.S * c.D, nc = (size_t)c.D * c.K,
         nv = (size_t)c.B * c.D * c.K;
  c.a = falloc(na), c.x = falloc(nx), c.c = light ? NULL : falloc(nc), c.v = falloc(nv), c.r = falloc(nv);
  c.asum = falloc((size_t)c.B * c.K);
  fill(c.a, na, 0, 1), fill(c.x, nx, -1, 1), fill(c.r, nv, -1, 1);
  if (!light) fill(c.c, nc, -1, 1);
  vlad_fn(&c);
  double maxd = 0;
  for (int b = 0; b < c.B; b++)
    for (int d = 0; d < c.D; d++)
      for (int k = 0; k < c.K; k++) {
        double s = 0, as = 0;
        for (int t = 0; t < c.S; t++) {
          double a = c.a[((size_t)b * c.S + t) * c.K + k];
          s += a * c.x[((size_t)b * c.S + t) * c.D + d], as += a;
        }
        if (!light) s -= as * c.c[d * c.K + k];
        maxd = fmax(maxd, fabs(s - c.v[((size_t)b * c.D + d) * c.K + k]));
        if (d == 0) maxd = fmax(maxd, fabs(as - c.asum[b * c.K + k]));
      }
  CHECK(maxd < 1e-5, "vlad%s forward differs from the loop by %g", light ? " (light)" : "", maxd);
  float *da = prefilled(na), *dx = prefilled(nx), *dc = light ? NULL : prefilled(nc);
  yt_vlad_backward(da, dx, dc, c.r, c.a, c.x, c.c, c.asum, c.B, c.S, c.D, c.K);
  unfill(da, na), unfill(dx, nx);
  report(light ? "lightvlad da" : "vlad da", grad_err(vlad_fn, &c, c.a, da, na, 1e-2));
  report(light ? "lightvlad dx" : "vlad dx", grad_err(vlad_fn, &c, c.x, dx, nx, 1e-2));
  if (!light) {
    unfill(dc, nc);
    report("vlad dc (centres)", grad_err(vlad_fn, &c, c.c, dc, nc, 1e-2));
  }
  /* NULL gradients are skipped */
  yt_vlad_backward(NULL, NULL, NULL, c.r, c.a, c.x, c.c, c.asum, c.B, c.S, c.D, c.K);
  free(da), free(dx), free(dc), free(c.a), free(c.x), free(c.c), free(c.v), free(c.r), free(c.asum);
}

typedef struct {
  int B, D, K;
  float *x, *out, *r;
} cn_ctx;
static double cn_fn(void *p) {
  cn_ctx *c = p;
  yt_l2norm_cols_forward(c->out, c->x, c->B, c->D, c->K);
  return dot(c->r, c->out, (size_t)c->B * c->D * c->K);
}

static void test_l2norm_cols(void) {
  /* by hand: one video, D 2, K 3; columns (3,4), (0,0), (1e-7, 0) */
  float x[6] = {3, 0, 1e-7f, 4, 0, 0}, o[6];
  yt_l2norm_cols_forward(o, x, 1, 2, 3);
  CHECK(o[0] == 0.6f && o[3] == 0.8f && o[1] == 0 && o[4] == 0 && fabsf(o[2] - 0.1f) < 1e-7f && o[5] == 0,
        "l2norm_cols (3,4),(0,0),(1e-7,0) -> %g %g, %g %g, %g %g", o[0], o[3], o[1], o[4], o[2], o[5]);
  yt_l2norm_cols_forward(x, x, 1, 2, 3); /* in place */
  CHECK(x[0] == 0.6f && x[3] == 0.8f, "l2norm_cols in place");
  cn_ctx c = {.B = 2, .D = 5, .K = 3};
  size_t n = (size_t)c.B * c.D * c.K;
  c.x = falloc(n), c.out = falloc(n), c.r = falloc(n);
  fill(c.x, n, -1, 1), fill(c.r, n, -1, 1);
  cn_fn(&c);
  float *dx = prefilled(n);
  yt_l2norm_cols_backward(dx, c.r, c.x, c.B, c.D, c.K);
  unfill(dx, n);
  report("l2norm_cols dx (intra-norm)", grad_err(cn_fn, &c, c.x, dx, n, 3e-3));
  free(dx), free(c.x), free(c.out), free(c.r);
}

typedef struct {
  size_t n;
  float *x, *g, *out, *r;
} gate_ctx;
static double gate_fn(void *p) {
  gate_ctx *c = p;
  yt_gate_forward(c->out, c->x, c->g, c->n);
  return dot(c->r, c->out, c->n);
}

static void test_gate(void) {
  gate_ctx c = {.n = 17};
  c.x = falloc(c.n), c.g = falloc(c.n), c.out = falloc(c.n), c.r = falloc(c.n);
  fill(c.x, c.n, -2, 2), fill(c.g, c.n, 0, 1), fill(c.r, c.n, -1, 1);
  gate_fn(&c);
  CHECK(c.out[3] == c.x[3] * c.g[3], "gate forward");
  float *dx = prefilled(c.n), *dg = prefilled(c.n);
  yt_gate_backward(dx, dg, c.r, c.x, c.g, c.n);
  unfill(dx, c.n), unfill(dg, c.n);
  report("gate dx", grad_err(gate_fn, &c, c.x, dx, c.n, 1e-2));
  report("gate dg", grad_err(gate_fn, &c, c.g, dg, c.n, 1e-2));
  free(dx), free(dg), free(c.x), free(c.g), free(c.out), free(c.r);
}

typedef struct {
  int N, H;
  float *base, *x, *w, *out, *r;
} rd_ctx;
static double rd_fn(void *p) {
  rd_ctx *c = p;
  memcpy(c->out, c->base, (size_t)c->N * c->H * sizeof(float));
  yt_remove_diag_forward(c->out, c->x, c->w, c->N, c->H);
  return dot(c->r, c->out, (size_t)c->N * c->H);
}

static void test_remove_diag(void) {
  rd_ctx c = {.N = 4, .H = 5};
  size_t n = (size_t)c.N * c.H, nw = (size_t)c.H * c.H;
  c.base = falloc(n), c.x = falloc(n), c.w = falloc(nw), c.out = falloc(n), c.r = falloc(n);
  fill(c.base, n, -1, 1), fill(c.x, n, -1, 1), fill(c.w, nw, -1, 1), fill(c.r, n, -1, 1);
  rd_fn(&c);
  CHECK(fabsf(c.out[2 * c.H + 3] - (c.base[2 * c.H + 3] - c.w[3 * c.H + 3] * c.x[2 * c.H + 3])) < 1e-7f,
        "remove_diag forward");
  float *dx = prefilled(n), *dw = prefilled(nw);
  yt_remove_diag_backward(dx, dw, c.r, c.x, c.w, c.N, c.H);
  unfill(dx, n), unfill(dw, nw);
  int off_diag_zero = 1;
  for (int i = 0; i < c.H; i++)
    for (int j = 0; j < c.H; j++)
      if (i != j) off_diag_zero &= dw[i * c.H + j] == 0;
  CHECK(off_diag_zero, "remove_diag: gradient off the diagonal");
  report("remove_diag dx", grad_err(rd_fn, &c, c.x, dx, n, 1e-2));
  report("remove_diag dw", grad_err(rd_fn, &c, c.w, dw, nw, 1e-2));
  free(dx), free(dw), free(c.base), free(c.x), free(c.w), free(c.out), free(c.r);
}

/* columns 2..4 of rows of 7 into columns 1..3 of rows of 5 */
typedef struct {
  float *x, *out, *r;
} cols_ctx;
static double cols_fn(void *p) {
  cols_ctx *c = p;
  memset(c->out, 0, 3 * 5 * sizeof(float));
  yt_cols_forward(c->out + 1, c->x + 2, 3, 3, 5, 7);
  return dot(c->r, c->out, 15);
}

static void test_cols_gather(void) {
  cols_ctx c = {falloc(21), falloc(15), falloc(15)};
  fill(c.x, 21, -1, 1), fill(c.r, 15, -1, 1);
  cols_fn(&c);
  int ok = 1;
  for (int n = 0; n < 3; n++)
    for (int j = 0; j < 5; j++) ok &= c.out[n * 5 + j] == (j >= 1 && j < 4 ? c.x[n * 7 + 1 + j] : 0.0f);
  CHECK(ok, "cols forward: the block lands at its place, the rest untouched");
  float *dx = prefilled(21);
  yt_cols_backward(dx + 2, c.r + 1, 3, 3, 5, 7);
  unfill(dx, 21);
  report("cols dx", grad_err(cols_fn, &c, c.x, dx, 21, 1e-2));
  free(dx), free(c.x), free(c.out), free(c.r);

  /* gather: x (2,4,3), slots (2,3) */
  float x[24], out[18];
  int32_t idx[6] = {3, 0, 3, 1, 1, 2};
  for (int i = 0; i < 24; i++) x[i] = (float)i;
  yt_gather_frames(out, x, idx, 2, 3, 4, 3);
  ok = 1;
  for (int b = 0; b < 2; b++)
    for (int s = 0; s < 3; s++)
      for (int d = 0; d < 3; d++) ok &= out[(b * 3 + s) * 3 + d] == x[(b * 4 + idx[b * 3 + s]) * 3 + d];
  CHECK(ok, "gather_frames picks x[b, idx[b,s]]");
}

int main(void) {
  printf("layer gradient checks (threshold %.0e):\n", LAYER_TOL);
  test_vlad(0);
  test_vlad(1);
  test_l2norm_cols();
  test_gate();
  test_remove_diag();
  test_cols_gather();
  return check_report("test_vlad");
}
