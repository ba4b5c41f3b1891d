/* bench_util.h: what the C benchmarks share: a monotonic clock, the median
 * of a run's timings, and a fixed-seed uniform generator for their inputs. */
#ifndef YT_BENCH_UTIL_H
#define YT_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts v. */
static inline double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Uniform in [0, 1), xorshift64 from a fixed seed: the same inputs every run. */
static inline float bench_frand(void) {
  static uint64_t rng = 0x9e3779b97f4a7c15ull;
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)(rng >> 40) / (float)(1u << 24);
}

#endif
