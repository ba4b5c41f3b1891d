/* test_vmath.c: the CPU backend's exp and log of four floats at a time
 * (backend/cpu/vmath.h) where they are used: the sigmoid against glibc's
 * 1 / (1 + expf(-x)), the cross-entropy loss against logf; and the loss
 * gradient's four-at-a-time path against its scalar formula, to the bit.
 *
 * The sigmoid: every float step of a grid over [-100, 100] (the fast path's
 * range and past it on both sides), within 5 ulp of libm's (4.0 measured); NaN and inf as
 * libm's; in place (the logistic head's probabilities) the same.
 *
 * Each check is a batch of one row of four classes, so that one SIMD group
 * sees exactly the chosen p: with y = 1 the loss is -sum_k logf(p_k + eps),
 * with y = 0 it is -sum_k logf(1 - p_k + eps). The reference takes logf of
 * the same float argument in double and sums in double; the loss may differ
 * by the log's error (2 ulp of each term) plus the float rounding of the
 * sum. Also: soft labels, a long row (the lanes and the tail), and inputs the
 * fast path must hand to logf (p outside [0, 1], NaN), which must give logf's
 * answer, NaN included. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/layers.h"
#include "model/loss.h"

/* ulps between two floats of the same sign (0 when equal) */
static double ulps(float a, float b) {
  if (a == b) return 0;
  float u = nextafterf(fabsf(b), INFINITY) - fabsf(b);
  return fabs((double)a - b) / u;
}

static void test_sigmoid(void) {
  enum { N = 400001 };
  float *x = malloc(N * sizeof *x), *out = malloc(N * sizeof *out);
  for (int i = 0; i < N; i++) x[i] = -100.0f + 200.0f * (float)i / (N - 1);
  x[1] = NAN, x[2] = INFINITY, x[3] = -INFINITY, x[5] = 0.0f, x[6] = -0.0f;
  yt_sigmoid_forward(out, x, N);
  double worst = 0;
  int bad = 0;
  for (int i = 0; i < N; i++) {
    float want = 1.0f / (1.0f + expf(-x[i]));
    if (isnan(want) || isnan(out[i])) {
      bad += isnan(want) != isnan(out[i]);
      continue;
    }
    double e = ulps(out[i], want);
    if (e > worst) worst = e;
    if (e > 5 && bad++ < 5) CHECK(0, "sigmoid(%.9g) = %.9g, libm's %.9g (%.1f ulp)", x[i], out[i], want, e);
  }
  CHECK(bad == 0, "%d of %d sigmoids beyond 5 ulp of libm's (or NaN where it is not)", bad, N);
  printf("  sigmoid: %d values over [-100, 100], worst %.2f ulp of libm's\n", N, worst);
  /* in place, as the logistic head calls it */
  memcpy(out + 10, x, 1000 * sizeof *x);
  yt_sigmoid_forward(out + 10, out + 10, 1000);
  float ref[1000];
  yt_sigmoid_forward(ref, x, 1000);
  CHECK(!memcmp(out + 10, ref, sizeof ref), "in place and out of place differ");
  free(x), free(out);
}

/* -sum of TF's terms in double, from logf of the float arguments */
static double reference(const float *p, const float *y, size_t n) {
  double total = 0;
  for (size_t i = 0; i < n; i++) {
    double pos = y[i] != 0.0f ? (double)y[i] * logf(p[i] + YT_CE_EPS) : 0.0;
    double neg = y[i] != 1.0f ? (double)(1.0f - y[i]) * logf(1.0f - p[i] + YT_CE_EPS) : 0.0;
    total -= pos + neg;
  }
  return total;
}

/* |got - want| within k ulp of the terms' magnitudes summed (each term's own
 * error bound), plus one float rounding of the result */
static int close_to(float got, double want, double mag, double k) {
  return fabs(got - want) <= k * mag * (double)FLT_EPSILON + fabs(want) * FLT_EPSILON;
}

static double mag_of(const float *p, const float *y, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    if (y[i] != 0.0f) m += fabs(y[i] * logf(p[i] + YT_CE_EPS));
    if (y[i] != 1.0f) m += fabs((1.0f - y[i]) * logf(1.0f - p[i] + YT_CE_EPS));
  }
  return m;
}

/* every p on a fine grid of [0, 1] and near its ends, four at a time, as
 * positives and as negatives */
static void test_sweep(void) {
  int bad = 0, n = 0;
  double worst = 0;
  for (int side = 0; side < 2; side++) {
    for (int i = 0; i <= 40000; i++) {
      float p[4], y[4];
      for (int k = 0; k < 4; k++) {
        int j = 4 * i + k;
        /* a linear grid, then a log-spaced one towards 0 (and, through 1 - p, towards 1) */
        p[k] = j < 80000 ? (float)j / 80000.0f : powf(10.0f, -9.0f * (float)(j - 80000) / 80004.0f);
        y[k] = side ? 1.0f : 0.0f;
      }
      float got = yt_ce_loss_forward(p, y, 1, 4);
      double want = reference(p, y, 4), mag = mag_of(p, y, 4);
      double err = mag > 0 ? fabs(got - want) / (mag * FLT_EPSILON) : 0;
      if (err > worst) worst = err;
      n++;
      if (!close_to(got, want, mag, 2.0) && bad++ < 5)
        CHECK(0, "p %.9g %.9g %.9g %.9g y %g: loss %.9g, logf's %.9g", p[0], p[1], p[2], p[3], y[0], got, want);
    }
  }
  CHECK(bad == 0, "%d of %d groups beyond 2 ulp of logf (worst %.2f ulp of the terms)", bad, n, worst);
  printf("  sweep: %d groups of 4, worst %.2f ulp of the terms' magnitude\n", n, worst);
}

/* soft labels (a distillation target) and a row whose length is not a
 * multiple of 4 (the tail goes through logf itself) */
static void test_rows(void) {
  srand(7);
  for (int C = 1; C <= 4003; C += 1001) {
    size_t n = (size_t)3 * C;
    float *p = malloc(n * sizeof *p), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
      p[i] = rand() / (float)RAND_MAX;
      y[i] = i % 3 == 0 ? rand() / (float)RAND_MAX : (float)(rand() % 2);
    }
    float got = yt_ce_loss_forward(p, y, 3, C);
    double want = reference(p, y, n) / 3, mag = mag_of(p, y, n) / 3;
    CHECK(close_to(got, want, mag, 2.0), "B 3 C %d: loss %.9g, logf's %.9g", C, got, want);
    free(p), free(y);
  }
}

/* p outside [0, 1] and NaN: the fast path must not be taken */
static void test_outside(void) {
  float p[4] = {1.5f, 0.5f, 0.25f, 0.75f}, y[4] = {0, 1, 0, 1};
  float got = yt_ce_loss_forward(p, y, 1, 4);
  CHECK(isnan(got) == isnan(reference(p, y, 4)), "p 1.5 with y 0: loss %g, logf's %g", got, reference(p, y, 4));
  float p2[4] = {-0.5f, 0.5f, 0.25f, 0.75f}, y2[4] = {0, 1, 0, 1};
  got = yt_ce_loss_forward(p2, y2, 1, 4);
  CHECK(close_to(got, reference(p2, y2, 4), mag_of(p2, y2, 4), 2.0), "p -0.5 with y 0: loss %.9g, logf's %.9g", got,
        reference(p2, y2, 4));
  float p3[4] = {NAN, 0.5f, 0.25f, 0.75f}, y3[4] = {1, 1, 0, 1};
  CHECK(isnan(yt_ce_loss_forward(p3, y3, 1, 4)), "a NaN probability gives a NaN loss (train's 'the loss is nan')");
  float p4[4] = {0.5f, 0.5f, 0.25f, 0.75f}, y4[4] = {1, 1, 0, 1};
  p4[2] = INFINITY;
  CHECK(!isfinite(yt_ce_loss_forward(p4, y4, 1, 4)), "an infinite probability gives a non-finite loss");
}

/* the loss gradient four at a time (loss.c: one divide with 0/1 labels)
 * against the scalar formula, bit for bit, on 0/1 and soft labels, p at 0
 * and 1, and lengths with a tail */
static void test_ce_backward(void) {
  srand(11);
  for (int C = 1; C <= 4003; C += 667) {
    int B = 3;
    size_t n = (size_t)B * C;
    float *p = malloc(n * sizeof *p), *y = malloc(n * sizeof *y), *dp = malloc(n * sizeof *dp),
          *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++) {
      p[i] = i % 97 == 0 ? 0.0f : i % 89 == 0 ? 1.0f : rand() / (float)RAND_MAX;
      y[i] = C > 2000 && i % 5 == 0 ? rand() / (float)RAND_MAX : (float)(rand() % 2); /* soft labels in some rows */
      dp[i] = ref[i] = (float)(i % 7) * 0.125f;                                     /* it adds to dp */
    }
    float inv = 1.0f / (float)B;
    for (size_t i = 0; i < n; i++)
      ref[i] += inv * ((1.0f - y[i]) / (1.0f - p[i] + YT_CE_EPS) - y[i] / (p[i] + YT_CE_EPS));
    yt_ce_loss_backward(dp, p, y, B, C);
    CHECK(!memcmp(dp, ref, n * sizeof *dp), "CE backward B %d C %d: differs from the scalar formula", B, C);
    free(p), free(y), free(dp), free(ref);
  }
}

int main(void) {
  test_ce_backward();
  test_sigmoid();
  test_sweep();
  test_rows();
  test_outside();
  return check_report("test_vmath");
}
