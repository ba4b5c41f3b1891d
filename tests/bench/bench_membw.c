/* bench_membw.c: does a memory-bound stage go faster as two processes?
 *
 * Why: graphs/read_frames.flow with float32 rows moves about 11 bytes per
 * byte of shard through memory (dequantize writes 4 bytes of float per byte,
 * the batcher reads them and writes 6.4 per byte once zero-padded to
 * max_frames). Splitting that over two processes only helps where two cores
 * together move more bytes per second than one. This measures exactly that
 * on the machine at hand, with the kernels those stages run:
 *   dequantize  yt_dequantize, uint8 in -> float32 out (the dequantize node)
 *   copy_nt     yt_copy_nt, streaming stores (the batcher filling a batch)
 *   memcpy      libc memcpy
 * each over a working set that stays in the last-level cache (--small-mb of
 * output per process) and one that does not (--large-mb), first one process
 * alone, then two processes at once (forked, started together through a
 * pipe, each timing its own passes). Throughput is bytes written per second;
 * "2 at once / 1 alone" is the two processes' total over the one alone: 2.0
 * means the cores scale, 1.0 means the memory system is the bound and a
 * second replica of that work cannot speed it up.
 *
 * Not a test: it prints figures (medians of --repeat rounds).
 *   bench_membw [--repeat 5] [--small-mb 8] [--large-mb 256] [--pass-mb 2048] */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/ntstore.h"
#include "formats/yt8m.h"

enum { K_DEQUANTIZE, K_COPY_NT, K_MEMCPY, N_KERNELS };
static const char *kernel_name[N_KERNELS] = {"dequantize", "copy_nt", "memcpy"};

/* One pass of kernel k writing n output bytes from src into dst. */
static void run_kernel(int k, void *dst, const void *src, size_t n) {
  switch (k) {
  case K_DEQUANTIZE: yt_dequantize(dst, src, n / sizeof(float)); break;
  case K_COPY_NT: yt_copy_nt(dst, src, n); break;
  default: memcpy(dst, src, n); break;
  }
}

/* Seconds to write pass_bytes with kernel k over a working set of ws output
 * bytes, cut in 1 MiB pieces as a node's messages are (after one warm-up
 * sweep, so pages are mapped and, when they fit, cached). */
static double time_kernel(int k, size_t ws, size_t pass_bytes) {
  const size_t piece = (size_t)1 << 20;
  size_t in_bytes = k == K_DEQUANTIZE ? ws / sizeof(float) : ws;
  uint8_t *src = aligned_alloc(64, in_bytes), *dst = aligned_alloc(64, ws);
  if (!src || !dst) {
    fprintf(stderr, "bench_membw: out of memory for a %zu-byte working set\n", ws);
    exit(1);
  }
  for (size_t i = 0; i < in_bytes; i++) src[i] = (uint8_t)(i * 131u >> 3);
  memset(dst, 0, ws);
  size_t pieces = ws / piece, in_piece = k == K_DEQUANTIZE ? piece / sizeof(float) : piece;
  for (size_t p = 0; p < pieces; p++) run_kernel(k, dst + p * piece, src + p * in_piece, piece);
  size_t passes = pass_bytes / piece;
  double t0 = bench_now();
  for (size_t i = 0; i < passes; i++) {
    size_t p = i % pieces;
    run_kernel(k, dst + p * piece, src + p * in_piece, piece);
  }
  double t = bench_now() - t0;
  volatile uint8_t sink = dst[ws - 1]; /* the stores are observed */
  (void)sink;
  free(src);
  free(dst);
  return t;
}

/* Two processes at once: each times its own passes; returns the slower one's
 * seconds (both wrote pass_bytes by then). */
static double time_two(int k, size_t ws, size_t pass_bytes) {
  int go[2], back[2];
  if (pipe(go) < 0 || pipe(back) < 0) {
    fprintf(stderr, "bench_membw: pipe: %s\n", strerror(errno));
    exit(1);
  }
  pid_t pid[2];
  for (int c = 0; c < 2; c++) {
    fflush(NULL);
    pid[c] = fork();
    if (pid[c] < 0) {
      fprintf(stderr, "bench_membw: fork: %s\n", strerror(errno));
      exit(1);
    }
    if (pid[c] == 0) {
      char b;
      close(go[1]);
      /* wait for the start signal (EOF: the parent closed its end) */
      while (read(go[0], &b, 1) > 0) {}
      double t = time_kernel(k, ws, pass_bytes);
      if (write(back[1], &t, sizeof t) != sizeof t) _exit(1);
      _exit(0);
    }
  }
  close(go[0]);
  close(go[1]); /* both start */
  double worst = 0;
  for (int c = 0; c < 2; c++) {
    double t;
    if (read(back[0], &t, sizeof t) != sizeof t) {
      fprintf(stderr, "bench_membw: a worker died\n");
      exit(1);
    }
    if (t > worst) worst = t;
  }
  for (int c = 0; c < 2; c++) waitpid(pid[c], NULL, 0);
  close(back[0]);
  close(back[1]);
  return worst;
}

static int parse_mb(const char *flag, const char *v, size_t *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || x < 1 || x > 65536) {
    fprintf(stderr, "bench_membw: %s wants a whole number of MiB in 1..65536, got '%s'\n", flag, v);
    return -1;
  }
  *out = (size_t)x << 20;
  return 0;
}

int main(int argc, char **argv) {
  int repeat = 5;
  size_t small = (size_t)8 << 20, large = (size_t)256 << 20, pass = (size_t)2048 << 20;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--repeat") && v) {
      repeat = atoi(v), i++;
      if (repeat < 1 || repeat > 100) {
        fprintf(stderr, "bench_membw: --repeat wants 1..100, got '%s'\n", v);
        return 2;
      }
    } else if (!strcmp(argv[i], "--small-mb") && v) {
      if (parse_mb("--small-mb", v, &small)) return 2;
      i++;
    } else if (!strcmp(argv[i], "--large-mb") && v) {
      if (parse_mb("--large-mb", v, &large)) return 2;
      i++;
    } else if (!strcmp(argv[i], "--pass-mb") && v) {
      if (parse_mb("--pass-mb", v, &pass)) return 2;
      i++;
    } else {
      fprintf(stderr, "usage: bench_membw [--repeat 5] [--small-mb 8] [--large-mb 256] [--pass-mb 2048]\n");
      return 2;
    }
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  printf("memory bandwidth, one process alone vs two at once (%ld cores online); GB/s of output written,\n"
         "median of %d rounds of %zu MiB per process, in 1 MiB pieces\n",
         cores, repeat, pass >> 20);
  printf("  %-11s %-16s %10s %14s %18s\n", "kernel", "working set", "1 alone", "2 at once", "2 at once/1 alone");
  size_t sets[2] = {small, large};
  for (int k = 0; k < N_KERNELS; k++) {
    for (int s = 0; s < 2; s++) {
      double one[100], two[100];
      for (int r = 0; r < repeat; r++) { /* interleaved: drift hits both */
        one[r] = time_kernel(k, sets[s], pass);
        two[r] = time_two(k, sets[s], pass);
      }
      double g1 = (double)pass / bench_median(one, repeat) / 1e9;
      double g2 = 2.0 * (double)pass / bench_median(two, repeat) / 1e9;
      char ws[32];
      snprintf(ws, sizeof ws, "%zu MiB/process", sets[s] >> 20);
      printf("  %-11s %-16s %10.1f %14.1f %18.2f\n", kernel_name[k], ws, g1, g2, g2 / g1);
    }
  }
  return 0;
}
