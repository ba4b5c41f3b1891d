/* bench_pipeline.c: graphs/read_frames.flow in ONE process, as a baseline.
 *
 * The same stages and parameters as the graph (tfrecord_reader -> dequantize
 * -> batcher -> null_sink), each opened in the in-process harness (harness.h)
 * and chained by hand: the reader's run() is called one step at a time, each
 * captured output message is fed to the next node with yt_harness_feed, and
 * captured messages are cleared as soon as they have been passed on, so
 * memory stays bounded (a few messages per stage). At the end every node is
 * flushed in order. No sockets, no processes: what `yt8m-flow run` costs on
 * top of this is the price of the dataflow runtime.
 *
 * The harness captures a deep copy of every emitted message (one malloc +
 * memcpy per message, per stage). --direct instead replaces each node's emit
 * callback with a call straight into the next node's process(), no copy: the
 * cheapest possible one-process chain.
 *
 * Not a test: it prints figures and fails only when records go missing (the
 * sink must consume exactly the records the reader emitted, by count and by
 * the (shard, index) hash sum of the runtime's accounting).
 *
 * --dtype is dequantize's, --batcher-dtype the batcher's (float32: uint8
 * input is dequantized in the batcher, as graphs/read_frames.flow does).
 *
 *   bench_pipeline --pattern GLOB [--batch-size 64] [--max-frames 300]
 *                  [--dtype float32|uint8] [--batcher-dtype same|float32]
 *                  [--direct] [--repeat 3] */
#include <glob.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/harness.h"

enum { RD, DQ, BT, SK, N_STAGES };
static const char *const stage_name[N_STAGES] = {"read", "deq", "batch", "sink"};

static yt_harness H[N_STAGES];
static double stage_s[N_STAGES]; /* harness mode: time in each node (its emit's copy included) */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sum of the sizes of the files the pattern names (comma-separated globs,
 * as tfrecord_reader takes them). */
static unsigned long long pattern_bytes(const char *pattern, size_t *files) {
  unsigned long long bytes = 0;
  char *copy = strdup(pattern), *save = NULL;
  *files = 0;
  for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    while (*p == ' ') p++;
    glob_t g;
    if (glob(p, 0, NULL, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0) bytes += (unsigned long long)st.st_size, (*files)++;
      }
      globfree(&g);
    }
  }
  free(copy);
  return bytes;
}

/* --direct: emit goes straight into the next node's process(). */
static int forward(yt_node *n, int pad, yt_msg *m, yt_err *err) {
  (void)pad;
  for (int k = 0; k + 1 < N_STAGES; k++)
    if (n == &H[k].node) return yt_harness_feed(&H[k + 1], 0, m, err);
  return yt_fail(err, YT_EINVAL, "bench_pipeline: emit from an unknown node");
}

/* Harness mode: passes stage k's captured messages down the chain, then
 * clears them. */
static int pump(int k, yt_err *err) {
  if (k + 1 >= N_STAGES) return YT_OK;
  int rc = YT_OK;
  for (size_t i = 0; !rc && i < H[k].n_out[0]; i++) {
    double t = now();
    rc = yt_harness_feed(&H[k + 1], 0, &H[k].out[0][i], err);
    stage_s[k + 1] += now() - t;
    if (!rc) rc = pump(k + 1, err);
  }
  yt_harness_clear_out(&H[k]);
  return rc;
}

static void close_all(void) {
  for (int k = 0; k < N_STAGES; k++) yt_harness_close(&H[k]);
}

/* One pass over the corpus; fills the reader's and the sink's counters. */
static int one_pass(const char *const *params[N_STAGES], int direct, yt_node_counts *rd, yt_node_counts *sk,
                    yt_err *err) {
  static const char *const type[N_STAGES] = {"tfrecord_reader", "dequantize", "batcher", "null_sink"};
  int rc = YT_OK;
  memset(H, 0, sizeof H);
  for (int k = 0; k < N_STAGES && !rc; k++) {
    rc = yt_harness_open(&H[k], type[k], params[k], err);
    if (rc) yt_err_prefix(err, "%s (%s): ", stage_name[k], type[k]);
  }
  if (rc) { close_all(); return rc; }
  if (direct)
    for (int k = 0; k + 1 < N_STAGES; k++) H[k].node.emit_fn = forward;

  const yt_node_def *rdef = H[RD].node.def;
  for (;;) {
    double t = now();
    rc = rdef->run(&H[RD].node, err);
    stage_s[RD] += now() - t;
    if (rc < 0) break;
    int more = rc == YT_OK;
    if ((rc = pump(RD, err))) break;
    if (!more) break;
  }
  for (int k = 0; k < N_STAGES && rc >= 0; k++) {
    double t = now();
    rc = yt_harness_flush(&H[k], err);
    stage_s[k] += now() - t;
    if (!rc) rc = pump(k, err);
  }
  *rd = H[RD].node.counts;
  *sk = H[SK].node.counts;
  uint64_t dropped = 0, dropped_hash = 0;
  for (int k = 0; k < N_STAGES; k++) dropped += H[k].node.counts.dropped, dropped_hash += H[k].node.counts.dropped_hash;
  sk->dropped = dropped, sk->dropped_hash = dropped_hash;
  close_all();
  return rc < 0 ? rc : YT_OK;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_pipeline --pattern GLOB [--batch-size 64] [--max-frames 300]\n"
                  "                      [--dtype float32|uint8] [--batcher-dtype same|float32]\n"
                  "                      [--direct] [--repeat 3]\n");
}

int main(int argc, char **argv) {
  const char *pattern = NULL, *dtype = "float32", *bdtype = "same";
  int batch_size = 64, max_frames = 300, repeat = 3, direct = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--direct")) { direct = 1; continue; }
    if (i + 1 >= argc) { usage(); return 2; }
    if (!strcmp(a, "--pattern")) pattern = argv[++i];
    else if (!strcmp(a, "--batch-size")) batch_size = atoi(argv[++i]);
    else if (!strcmp(a, "--max-frames")) max_frames = atoi(argv[++i]);
    else if (!strcmp(a, "--repeat")) repeat = atoi(argv[++i]);
    else if (!strcmp(a, "--dtype")) dtype = argv[++i];
    else if (!strcmp(a, "--batcher-dtype")) bdtype = argv[++i];
    else { usage(); return 2; }
  }
  if (!pattern || batch_size < 1 || max_frames < 1 || repeat < 1 ||
      (strcmp(dtype, "float32") && strcmp(dtype, "uint8")) || (strcmp(bdtype, "same") && strcmp(bdtype, "float32"))) {
    usage();
    return 2;
  }
  /* as the runner does (runner.c): large messages stay on the heap instead of
   * being a fresh mmap (page faults, zeroing) each time; same allocator
   * behaviour on both sides of the comparison */
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  size_t files = 0;
  unsigned long long shard_bytes = pattern_bytes(pattern, &files);
  if (!files) { fprintf(stderr, "bench_pipeline: no file matches '%s'\n", pattern); return 1; }

  /* the parameters of graphs/read_frames.flow */
  char p_pattern[4096], p_bs[64], p_mf_deq[64], p_mf_bat[64], p_dtype[64], p_bdtype[64];
  snprintf(p_pattern, sizeof p_pattern, "pattern=%s", pattern);
  snprintf(p_bs, sizeof p_bs, "batch_size=%d", batch_size);
  snprintf(p_mf_deq, sizeof p_mf_deq, "max_frames=%d", max_frames);
  snprintf(p_mf_bat, sizeof p_mf_bat, "max_frames=%d", max_frames);
  snprintf(p_dtype, sizeof p_dtype, "dtype=%s", dtype);
  snprintf(p_bdtype, sizeof p_bdtype, "dtype=%s", bdtype);
  const char *rd_params[] = {p_pattern, NULL};
  const char *dq_params[] = {"level=frame", "feature_names=rgb,audio", "feature_sizes=1024,128", p_mf_deq, p_dtype, NULL};
  const char *bt_params[] = {p_bs, p_mf_bat, p_bdtype, NULL};
  const char *const *params[N_STAGES] = {rd_params, dq_params, bt_params, NULL};

  double *secs = malloc(sizeof(double) * (size_t)repeat);
  yt_node_counts rd = {0}, sk = {0};
  yt_err err = {0};
  printf("bench_pipeline: %zu files, %llu bytes, batch_size=%d max_frames=%d dtype=%s batcher_dtype=%s mode=%s\n",
         files, shard_bytes, batch_size, max_frames, dtype, bdtype, direct ? "direct" : "harness");
  for (int r = 0; r < repeat; r++) {
    memset(stage_s, 0, sizeof stage_s);
    double t0 = now();
    int rc = one_pass(params, direct, &rd, &sk, &err);
    secs[r] = now() - t0;
    if (rc) { fprintf(stderr, "bench_pipeline: %s\n", err.msg); free(secs); return 1; }
    if (sk.consumed + sk.dropped != rd.emitted || sk.consumed_hash + sk.dropped_hash != rd.emitted_hash ||
        rd.emitted == 0) {
      fprintf(stderr,
              "bench_pipeline: RECORDS LOST: the reader emitted %llu records, the sink consumed %llu (%llu dropped)%s\n",
              (unsigned long long)rd.emitted, (unsigned long long)sk.consumed, (unsigned long long)sk.dropped,
              sk.consumed + sk.dropped == rd.emitted ? " (counts match, record hashes differ)" : "");
      free(secs);
      return 1;
    }
    printf("repeat %d: %.4f s  %.1f MB/s  %.0f records/s", r, secs[r], shard_bytes / 1e6 / secs[r],
           rd.emitted / secs[r]);
    if (!direct)
      for (int k = 0; k < N_STAGES; k++) printf("  %s=%.3fs", stage_name[k], stage_s[k]);
    printf("\n");
  }
  qsort(secs, (size_t)repeat, sizeof *secs, cmp_double);
  double med = secs[repeat / 2];
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("bench_pipeline: mode=%s dtype=%s records=%llu consumed=%llu bytes_read=%llu sink_bytes=%llu "
         "shard_bytes=%llu median_s=%.4f records/s=%.1f MB/s=%.1f peak_rss_kb=%ld\n",
         direct ? "direct" : "harness", dtype, (unsigned long long)rd.emitted, (unsigned long long)sk.consumed,
         (unsigned long long)rd.out_bytes, (unsigned long long)sk.in_bytes, shard_bytes, med, rd.emitted / med,
         shard_bytes / 1e6 / med, ru.ru_maxrss);
  free(secs);
  return 0;
}
