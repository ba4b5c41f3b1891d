/* bench_hop.c: the cost of one ZeroMQ hop between two processes over ipc.
 *
 * What a graph edge costs: the parent (a producer replica) builds each
 * message as a node does (a malloc'd payload frame), hands it to ZeroMQ
 * without copying (yt_wire_new + yt_sock_send_wire, as runner.c's emit), and
 * the child (a consumer replica) receives it (yt_sock_recv: frames stay in
 * ZeroMQ's buffers) and releases it. The child binds its PULL, the parent
 * connects a PUSH, as the runner does; the same high-water mark as a graph
 * edge by default (8 messages). The fork happens before anything of ZeroMQ
 * exists; each side creates its own context.
 *
 * For each size, a round is: N data messages, then an EOS; the child answers
 * the EOS with an acknowledgement on a second socket carrying the count it
 * received; the round's time runs from the first send to the ack. The
 * baseline is a same-process memcpy of the same sizes (source and destination
 * allocated once, page-aligned, and touched), what a one-process pipeline would pay at most
 * to hand the bytes over (it usually pays nothing: a pointer).
 *
 * Not a test: it prints figures (medians of --repeat rounds).
 *   bench_hop [--repeat 5] [--round-mb 512] [--hwm 8] */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport/sock.h"

static const size_t sizes[] = {64, 4096, 65536, 1 << 20, 16 << 20};
#define N_SIZES (sizeof sizes / sizeof sizes[0])
#define MIN_MSGS 32
#define MAX_MSGS 200000

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static size_t msgs_for(size_t size, size_t round_bytes) {
  size_t n = round_bytes / size;
  return n < MIN_MSGS ? MIN_MSGS : n > MAX_MSGS ? MAX_MSGS : n;
}

/* The consumer: receives until CONTROL (quit); answers each EOS with the
 * count of DATA messages (and payload bytes) since the last EOS. */
static int child(const char *data_ep, const char *ack_ep, int hwm) {
  yt_err err = {0};
  yt_sock *in = NULL, *ack = NULL;
  yt_msg m;
  yt_msg_init(&m, 0);
  int rc = yt_sock_open(&in, YT_PULL, data_ep, 1, hwm, &err);
  if (!rc) rc = yt_sock_open(&ack, YT_PUSH, ack_ep, 0, hwm, &err);
  uint64_t count = 0, bytes = 0;
  while (!rc) {
    rc = yt_sock_recv(in, &m, -1, &err);
    if (rc == YT_INTERRUPTED) { rc = YT_OK; continue; }
    if (rc) break;
    if (m.type == YT_MSG_DATA) {
      count++;
      for (size_t i = 0; i < m.nframes; i++) bytes += m.frames[i].len;
    } else if (m.type == YT_MSG_EOS) {
      yt_msg a;
      yt_msg_init(&a, YT_MSG_EOS);
      a.records = (uint32_t)count;
      a.seq = bytes;
      rc = yt_sock_send(ack, &a, 0, &err);
      count = bytes = 0;
    } else if (m.type == YT_MSG_CONTROL) {
      break;
    }
    yt_msg_clear(&m);
  }
  yt_msg_clear(&m);
  if (rc) fprintf(stderr, "bench_hop (child): %s\n", err.msg);
  yt_sock_close(in);
  yt_sock_close(ack);
  yt_ctx_term(NULL);
  return rc ? 1 : 0;
}

static int send_type(yt_sock *s, int type, yt_err *err) {
  yt_msg m;
  yt_msg_init(&m, type);
  return yt_sock_send(s, &m, 0, err);
}

/* One round: n messages of `size` payload bytes; returns seconds or < 0. */
static double round_trip(yt_sock *out, yt_sock *ack, size_t size, size_t n, yt_err *err) {
  double t0 = now();
  for (size_t i = 0; i < n; i++) {
    yt_msg m;
    yt_msg_init(&m, YT_MSG_DATA);
    m.seq = i;
    m.records = 1;
    void *p = malloc(size);
    if (!p) { yt_fail(err, YT_ENOMEM, "out of memory"); return -1; }
    yt_wire *w = NULL;
    int rc = yt_msg_add_owned(&m, p, size, err);
    if (!rc) rc = yt_wire_new(&w, &m, err); /* takes the frame: no copy */
    while (!rc && (rc = yt_sock_send_wire(out, w, 0, err)) == YT_INTERRUPTED) rc = YT_OK;
    yt_wire_free(w);
    yt_msg_clear(&m);
    if (rc) return -1;
  }
  if (send_type(out, YT_MSG_EOS, err)) return -1;
  yt_msg a;
  yt_msg_init(&a, 0);
  int rc;
  while ((rc = yt_sock_recv(ack, &a, -1, err)) == YT_INTERRUPTED) {}
  double t = now() - t0;
  if (rc) return -1;
  if (a.records != n || a.seq != (uint64_t)n * size) {
    yt_fail(err, YT_EIO, "the child received %u messages (%llu bytes), expected %zu (%llu bytes)", a.records,
            (unsigned long long)a.seq, n, (unsigned long long)n * size);
    yt_msg_clear(&a);
    return -1;
  }
  yt_msg_clear(&a);
  return t;
}

static double memcpy_round(void *dst, const void *src, size_t size, size_t n) {
  double t0 = now();
  for (size_t i = 0; i < n; i++) {
    memcpy(dst, src, size);
    __asm__ __volatile__("" : : "r"(dst) : "memory"); /* keep every copy */
  }
  return now() - t0;
}

static void label(size_t size, char *buf, size_t cap) {
  if (size >= (1u << 20)) snprintf(buf, cap, "%zu MiB", size >> 20);
  else if (size >= 1024) snprintf(buf, cap, "%zu KiB", size >> 10);
  else snprintf(buf, cap, "%zu B", size);
}

int main(int argc, char **argv) {
  int repeat = 5, hwm = 8;
  double round_mb = 512;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--repeat")) repeat = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--round-mb")) round_mb = atof(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--hwm")) hwm = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_hop [--repeat 5] [--round-mb 512] [--hwm 8]\n");
      return 2;
    }
  }
  if (repeat < 1 || hwm < 1 || round_mb <= 0) {
    fprintf(stderr, "bench_hop: --repeat, --hwm and --round-mb must be positive\n");
    return 2;
  }
  size_t round_bytes = (size_t)(round_mb * 1048576.0);
  /* as runner.c: large messages reuse heap pages instead of a fresh mmap each */
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  char data_ep[256], ack_ep[256];
  snprintf(data_ep, sizeof data_ep, "ipc:///tmp/yt8m-bench-hop.%d.data", (int)getpid());
  snprintf(ack_ep, sizeof ack_ep, "ipc:///tmp/yt8m-bench-hop.%d.ack", (int)getpid());
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) { perror("bench_hop: fork"); return 1; }
  if (pid == 0) _exit(child(data_ep, ack_ep, hwm));

  yt_err err = {0};
  yt_sock *out = NULL, *ack = NULL;
  int rc = yt_sock_open(&ack, YT_PULL, ack_ep, 1, hwm, &err);
  if (!rc) rc = yt_sock_open(&out, YT_PUSH, data_ep, 0, hwm, &err);
  /* warm-up round: waits for the connection (slow joiner) */
  if (!rc && round_trip(out, ack, 64, 10, &err) < 0) rc = -1;

  double hop[N_SIZES], cpy[N_SIZES];
  double *t = malloc(sizeof(double) * (size_t)repeat);
  for (size_t s = 0; !rc && s < N_SIZES; s++) {
    size_t n = msgs_for(sizes[s], round_bytes);
    for (int r = 0; r < repeat && !rc; r++)
      if ((t[r] = round_trip(out, ack, sizes[s], n, &err)) < 0) rc = -1;
    if (rc) break;
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    hop[s] = t[repeat / 2];
    /* the memcpy baseline of the same size and count */
    /* page-aligned, both: with two neighbouring malloc blocks (page offsets 16
     * bytes apart) glibc's `rep movsb` path on this AMD host ran at 2.5 GB/s
     * for 4 KiB - 64 KiB instead of 50-80 GB/s, which is not the baseline meant */
    uint8_t *src = aligned_alloc(4096, (sizes[s] + 4095) & ~(size_t)4095);
    uint8_t *dst = aligned_alloc(4096, (sizes[s] + 4095) & ~(size_t)4095);
    if (!src || !dst) { rc = yt_fail(&err, YT_ENOMEM, "out of memory"); free(src); free(dst); break; }
    memset(src, 1, sizes[s]);
    memset(dst, 2, sizes[s]);
    for (int r = 0; r < repeat; r++) t[r] = memcpy_round(dst, src, sizes[s], n);
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    cpy[s] = t[repeat / 2];
    free(src);
    free(dst);
  }
  free(t);
  if (out) {
    yt_err e2;
    send_type(out, YT_MSG_CONTROL, &e2);
  }
  yt_sock_close(out);
  yt_sock_close(ack);
  yt_ctx_term(NULL);
  int status = 0;
  waitpid(pid, &status, 0);
  unlink(data_ep + 6);
  unlink(ack_ep + 6);
  if (rc) { fprintf(stderr, "bench_hop: %s\n", err.msg); return 1; }
  if (!WIFEXITED(status) || WEXITSTATUS(status)) { fprintf(stderr, "bench_hop: the child failed\n"); return 1; }

  printf("one ZeroMQ hop, two processes over ipc (PUSH -> PULL, hwm %d, zero-copy send of malloc'd frames,\n"
         "32-byte header frame + payload frame); median of %d rounds of N messages, ack included\n",
         hwm, repeat);
  printf("  %-8s %7s %12s %10s %9s %14s %9s\n", "size", "N", "messages/s", "us/msg", "GB/s", "memcpy GB/s", "hop/memcpy");
  for (size_t s = 0; s < N_SIZES; s++) {
    size_t n = msgs_for(sizes[s], round_bytes);
    char l[32];
    label(sizes[s], l, sizeof l);
    double gbs = (double)n * (double)sizes[s] / hop[s] / 1e9, cgbs = (double)n * (double)sizes[s] / cpy[s] / 1e9;
    printf("  %-8s %7zu %12.0f %10.2f %9.3f %14.2f %9.3f\n", l, n, n / hop[s], hop[s] / n * 1e6, gbs, cgbs, gbs / cgbs);
  }
  return 0;
}
