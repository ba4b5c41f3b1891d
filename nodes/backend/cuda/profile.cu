/* profile.cu: YT_CUDA_PROFILE=1 times every kernel launch and cuBLAS call of
 * the CUDA backend on the device (a pair of CUDA events around each) and,
 * when the process exits, prints on stderr the device time per kernel and per
 * cuBLAS call shape, largest first: where a step's time goes, without a
 * profiler on the machine (bench_gpu --profile, or any node run with the
 * variable set).
 *
 * The pairs are read back at every check() (which has just waited for the
 * stream, so reading them costs no extra wait) or when PROF_PAIRS are
 * pending; exit only prints the sums, with no CUDA call. Each pair adds two
 * event records to the stream (about a microsecond each on the host), so
 * throughput measured with the variable set reads a little low.
 *
 * Not here: the errors (backend.cu), the kernels themselves. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/common.cuh"

#ifdef YT_CUDA_EMU /* the emulator's tests fill the table many times a step: the drain path runs */
enum { PROF_PAIRS = 64, PROF_KEYS = 512, PROF_KEY = 80 };
#else
enum { PROF_PAIRS = 4096, PROF_KEYS = 512, PROF_KEY = 80 };
#endif

int yt_cuda_profiling = 0;

typedef struct {
  char key[PROF_KEY];
  long calls;
  double ms;
} prof_sum;

static struct {
  cudaEvent_t ev[PROF_PAIRS][2];
  char key[PROF_PAIRS][PROF_KEY]; /* what each pending pair timed */
  int pending;
  prof_sum sum[PROF_KEYS];
  int keys;
  long dropped; /* pairs whose time could not be read (a failed call, a full table) */
} prof;

static void add(const char *key, double ms) {
  for (int i = 0; i < prof.keys; i++)
    if (!strcmp(prof.sum[i].key, key)) {
      prof.sum[i].calls++;
      prof.sum[i].ms += ms;
      return;
    }
  if (prof.keys == PROF_KEYS) {
    prof.dropped++;
    return;
  }
  snprintf(prof.sum[prof.keys].key, PROF_KEY, "%s", key);
  prof.sum[prof.keys].calls = 1;
  prof.sum[prof.keys].ms = ms;
  prof.keys++;
}

void yt_cuda_prof_drain(void) {
  if (!yt_cuda_profiling || !prof.pending) return;
  if (cudaEventSynchronize(prof.ev[prof.pending - 1][1]) != cudaSuccess) {
    (void)cudaGetLastError(); /* the failure itself is the stream's to report */
    prof.dropped += prof.pending;
    prof.pending = 0;
    return;
  }
  for (int i = 0; i < prof.pending; i++) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, prof.ev[i][0], prof.ev[i][1]) == cudaSuccess) add(prof.key[i], ms);
    else (void)cudaGetLastError(), prof.dropped++;
  }
  prof.pending = 0;
}

static int cmp_ms(const void *a, const void *b) {
  double x = ((const prof_sum *)a)->ms, y = ((const prof_sum *)b)->ms;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void report(void) {
  double total = 0;
  long calls = 0;
  for (int i = 0; i < prof.keys; i++) total += prof.sum[i].ms, calls += prof.sum[i].calls;
  qsort(prof.sum, (size_t)prof.keys, sizeof prof.sum[0], cmp_ms);
  fprintf(stderr, "cuda profile (YT_CUDA_PROFILE): %ld timed calls, %.3f ms of device time in them%s\n", calls,
          total, prof.pending ? " (the calls after the last check are not in it)" : "");
  fprintf(stderr, "  %7s %12s %9s %11s  %s\n", "share", "ms", "calls", "us/call",
          "kernel, or cuBLAS call and its m x n x k");
  for (int i = 0; i < prof.keys; i++)
    fprintf(stderr, "  %6.2f%% %12.3f %9ld %11.1f  %s\n", total > 0 ? 100 * prof.sum[i].ms / total : 0.0,
            prof.sum[i].ms, prof.sum[i].calls, 1000 * prof.sum[i].ms / (double)prof.sum[i].calls, prof.sum[i].key);
  if (prof.dropped)
    fprintf(stderr, "  (%ld calls not counted: a failed call or more than %d kinds)\n", prof.dropped, PROF_KEYS);
}

void yt_cuda_prof_init(void) {
  const char *v = getenv("YT_CUDA_PROFILE");
  if (!v || !*v || !strcmp(v, "0") || yt_cuda_profiling) return;
  for (int i = 0; i < PROF_PAIRS; i++)
    for (int j = 0; j < 2; j++)
      if (cudaEventCreateWithFlags(&prof.ev[i][j], cudaEventDefault) != cudaSuccess) {
        (void)cudaGetLastError();
        fprintf(stderr, "cuda profile (YT_CUDA_PROFILE): cannot create its events; not profiling\n");
        return;
      }
  yt_cuda_profiling = 1;
  atexit(report);
}

int yt_cuda_prof_begin(void) {
  if (!yt_cuda_profiling) return -1;
  if (prof.pending == PROF_PAIRS) yt_cuda_prof_drain();
  int slot = prof.pending;
  if (cudaEventRecord(prof.ev[slot][0], yt_cuda_stream()) != cudaSuccess) {
    (void)cudaGetLastError();
    prof.dropped++;
    return -1;
  }
  return slot;
}

void yt_cuda_prof_end(int slot, const char *fmt, ...) {
  if (slot < 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prof.key[slot], PROF_KEY, fmt, ap);
  va_end(ap);
  if (cudaEventRecord(prof.ev[slot][1], yt_cuda_stream()) != cudaSuccess) {
    (void)cudaGetLastError();
    prof.dropped++;
    return;
  }
  prof.pending = slot + 1;
}
