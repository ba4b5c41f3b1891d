/* test_shm.c: the shared-memory frame pool (transport/shm.h): first-fit
 * allocation, room reused out of order, "no room" instead of blocking, frames
 * built in place (alloc + claim, unused room given back), and a
 * real producer -> consumer over ipc in two processes where big frames travel
 * as descriptors and arrive intact, and every chunk comes back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "transport/shm.h"
#include "transport/sock.h"

#define KB ((size_t)1 << 10)

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 9));
}
static int same(const uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)(i * 131 + seed * 7 + (i >> 9))) return 0;
  return 1;
}

/* Ring logic in one process: the descriptor resolves through /proc/self. */
static void test_ring(void) {
  yt_err err = {0};
  yt_shm_pool *p;
  CHECK(yt_shm_pool_new(&p, 1024 * KB, &err) == YT_OK, "%s", err.msg);
  uint8_t *data = malloc(300 * KB);
  uint8_t desc[8][YT_SHM_DESC_SIZE];
  void *ch[8];
  int put = 0;
  /* 300 KiB chunks into 1 MiB: three fit, the fourth gets "no room" */
  for (int i = 0; i < 4; i++) {
    fill(data, 300 * KB, (unsigned)i);
    put += yt_shm_put(p, data, 300 * KB, desc[i], &ch[i]);
  }
  CHECK(put == 3, "put %d chunks of 300 KiB into 1 MiB, want 3", put);
  yt_shm_stats st;
  yt_shm_pool_stats(p, &st);
  CHECK(st.put == 3 && st.full == 1 && st.bytes == 900 * KB, "stats %llu/%llu/%llu", (unsigned long long)st.put,
        (unsigned long long)st.full, (unsigned long long)st.bytes);
  /* the consumer's view: same bytes, through its own mapping */
  yt_buf b[3];
  for (int i = 0; i < 3; i++) {
    CHECK(yt_shm_open_desc(desc[i], YT_SHM_DESC_SIZE, &b[i], &err) == YT_OK, "%s", err.msg);
    CHECK(b[i].len == 300 * KB && same(b[i].data, b[i].len, (unsigned)i), "chunk %d content", i);
    CHECK((uintptr_t)b[i].data % 64 == 0, "chunk %d data 64-byte aligned", i);
    yt_shm_ref(ch[i]); /* what a send does */
    yt_shm_unref(ch[i]); /* the producer's hold, as yt_wire_free */
  }
  /* release the middle one first: its room is reused, first fit from the
   * front, while the others are still held */
  const uint8_t *front = b[0].data, *room1 = b[1].data;
  yt_buf_free(&b[1]);
  void *c4;
  fill(data, 300 * KB, 9);
  CHECK(yt_shm_put(p, data, 300 * KB, desc[4], &c4) == 1, "put into the room of a released chunk");
  yt_buf b4;
  CHECK(yt_shm_open_desc(desc[4], YT_SHM_DESC_SIZE, &b4, &err) == YT_OK, "%s", err.msg);
  CHECK(same(b4.data, b4.len, 9), "reused chunk content");
  CHECK(b4.data == room1, "the put took chunk 1's room");
  CHECK(same(b[0].data, b[0].len, 0) && same(b[2].data, b[2].len, 2), "held chunks untouched");
  void *c5;
  CHECK(yt_shm_put(p, data, 300 * KB, desc[5], &c5) == 0, "no room while three chunks are held");
  yt_buf_free(&b[0]);
  yt_shm_unref(c4);
  yt_buf_free(&b4);
  yt_buf_free(&b[2]);
  /* all back: first fit starts at the front again */
  CHECK(yt_shm_put(p, data, 300 * KB, desc[5], &c5) == 1, "empty pool takes a chunk again");
  yt_buf b5;
  CHECK(yt_shm_open_desc(desc[5], YT_SHM_DESC_SIZE, &b5, &err) == YT_OK, "%s", err.msg);
  CHECK(b5.data == front, "an empty pool hands out its front");
  yt_buf_free(&b5);
  yt_shm_unref(c5);
  /* built in place: alloc, fill part of it, claim: the descriptor names the
   * used bytes, and the unused room is free again at once */
  yt_buf a;
  CHECK(yt_shm_alloc(p, 400 * KB, &a) == 1 && a.owned && a.len == 400 * KB, "alloc 400 KiB");
  fill(a.data, 100 * KB, 5);
  a.len = 100 * KB;
  void *ca;
  uint8_t da[YT_SHM_DESC_SIZE];
  CHECK(yt_shm_claim(p, &a, da, &ca) == 1 && !a.owned, "claim moves the hold");
  void *cb;
  CHECK(yt_shm_put(p, data, 300 * KB, desc[6], &cb) == 1, "the trimmed room is free");
  yt_buf ba;
  CHECK(yt_shm_open_desc(da, YT_SHM_DESC_SIZE, &ba, &err) == YT_OK && ba.len == 100 * KB && same(ba.data, ba.len, 5),
        "claimed chunk: 100 KiB as written");
  yt_buf_free(&ba);
  yt_shm_unref(ca);
  yt_shm_unref(cb);
  /* a malloc'd buffer, or a chunk of another pool, is not claimed */
  yt_buf m = {.data = malloc(64), .len = 64, .owned = 1};
  CHECK(yt_shm_claim(p, &m, da, &ca) == 0 && m.owned, "malloc'd frame not claimed");
  yt_buf_free(&m);
  yt_shm_pool *q;
  CHECK(yt_shm_pool_new(&q, 1024 * KB, &err) == YT_OK, "%s", err.msg);
  CHECK(yt_shm_alloc(q, 1000, &a) == 1, "alloc in a second pool");
  CHECK(yt_shm_claim(p, &a, da, &ca) == 0 && a.owned, "another pool's chunk not claimed");
  yt_buf_free(&a);
  yt_shm_pool_free(q);
  /* too big for the pool (more than half): always inline */
  uint8_t *big = calloc(1, 600 * KB);
  void *c6;
  CHECK(yt_shm_put(p, big, 600 * KB, desc[7], &c6) == 0, "a frame over half the pool travels inline");
  free(big);
  /* bad descriptors are errors, not crashes */
  uint8_t bad[YT_SHM_DESC_SIZE];
  memcpy(bad, desc[6], sizeof bad);
  bad[32] = 1; /* offset not aligned */
  yt_buf x;
  CHECK(yt_shm_open_desc(bad, sizeof bad, &x, &err) == YT_ECORRUPT, "misaligned chunk offset rejected");
  CHECK(yt_shm_open_desc(bad, 12, &x, &err) == YT_ECORRUPT, "short descriptor rejected");
  free(data);
  yt_shm_pool_free(p);
}

/* Two processes: the child receives, checks and releases; the parent sends
 * frames of mixed sizes (small ones inline, big ones through the pool), then
 * waits until every chunk came back by putting into a full-size pool. */
/* The producer's in-flight limit (runner.c alloc_frame: one frame per
 * consumer plus the one being built): with a batch held by its consumer, the
 * next batch of the same size fits in two frames' worth; a third does not.
 * Counted in data bytes against chunks with headers, the second never fit,
 * and producer and consumer took turns instead of overlapping. */
static void test_room(void) {
  yt_err err = {0};
  yt_shm_pool *p;
  CHECK(yt_shm_pool_new(&p, 8 * 1024 * KB, &err) == YT_OK, "%s", err.msg);
  size_t len = 128 * 1152 * 4; /* a video-level batch of 128, float32 */
  CHECK(yt_shm_room(p, len, len, 2), "an empty pool has room for a frame");
  yt_buf held, next, third;
  CHECK(yt_shm_alloc(p, len, &held) == 1, "alloc");
  CHECK(yt_shm_in_use(p) > len, "in use counts the chunk header (%zu for %zu data bytes)", yt_shm_in_use(p), len);
  CHECK(yt_shm_room(p, len, len, 2), "one frame held by the consumer: room for the next one (2 in flight)");
  CHECK(yt_shm_alloc(p, len, &next) == 1, "alloc");
  CHECK(!yt_shm_room(p, len, len, 2), "two held: no room for a third at 2 in flight");
  CHECK(yt_shm_room(p, len, len, 3), "two held: room for a third at 3 in flight");
  CHECK(yt_shm_room(p, len / 2, len, 2) == 0, "a smaller frame past the limit waits too");
  yt_buf_free(&held);
  CHECK(yt_shm_room(p, len, len, 2), "the consumer let go: room again");
  CHECK(yt_shm_alloc(p, len, &third) == 1, "alloc");
  yt_buf_free(&next);
  yt_buf_free(&third);
  yt_shm_pool_free(p);
}

static void test_processes(void) {
  char dir[] = "/tmp/yt-test-shm-XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  char ep[128];
  snprintf(ep, sizeof ep, "ipc://%s/edge", dir);
  const int N = 40;
  pid_t pid = fork();
  if (pid == 0) {
    yt_err err = {0};
    yt_sock *in;
    int bad = 0;
    if (yt_sock_open(&in, YT_PULL, ep, 1, 4, &err)) _exit(10);
    for (int i = 0; i < N; i++) {
      yt_msg m;
      yt_msg_init(&m, 0);
      if (yt_sock_recv(in, &m, 10000, &err) != YT_OK) {
        fprintf(stderr, "child: %s\n", err.msg);
        _exit(11);
      }
      size_t big = (size_t)(100 + 37 * i) * KB;
      if (m.nframes != 2 || m.frames[0].len != 100 || m.frames[1].len != big || m.shm != 0 ||
          !same(m.frames[0].data, 100, (unsigned)i) || !same(m.frames[1].data, big, (unsigned)i + 1000))
        bad++;
      yt_msg_clear(&m); /* releases the chunk */
    }
    yt_sock_close(in);
    yt_ctx_term(NULL);
    _exit(bad ? 12 : 0);
  }
  yt_err err = {0};
  yt_shm_pool *pool;
  CHECK(yt_shm_pool_new(&pool, 4096 * KB, &err) == YT_OK, "%s", err.msg);
  yt_sock *out;
  CHECK(yt_sock_open(&out, YT_PUSH, ep, 0, 4, &err) == YT_OK, "%s", err.msg);
  for (int i = 0; i < N; i++) {
    size_t big = (size_t)(100 + 37 * i) * KB;
    uint8_t *a = malloc(100), *b = malloc(big);
    fill(a, 100, (unsigned)i);
    fill(b, big, (unsigned)i + 1000);
    yt_msg m;
    yt_msg_init(&m, YT_MSG_DATA);
    yt_msg_add_owned(&m, a, 100, &err);
    yt_msg_add_owned(&m, b, big, &err);
    yt_wire *w;
    CHECK(yt_wire_new_shm(&w, &m, pool, &err) == YT_OK, "%s", err.msg);
    CHECK(yt_sock_send_wire(out, w, 0, &err) == YT_OK, "%s", err.msg);
    yt_wire_free(w);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit %d (12: a frame arrived wrong)",
        WEXITSTATUS(status));
  yt_shm_stats st;
  yt_shm_pool_stats(pool, &st);
  printf("processes: %d messages, %llu frames through the pool, %llu inline for want of room\n", N,
         (unsigned long long)st.put, (unsigned long long)st.full);
  CHECK(st.put > 0, "some frames went through the pool");
  /* every chunk came back: a chunk of almost half the pool fits */
  uint8_t *half = calloc(1, 2000 * KB);
  uint8_t d[YT_SHM_DESC_SIZE];
  void *c;
  CHECK(yt_shm_put(pool, half, 2000 * KB, d, &c) == 1, "the consumer released every chunk");
  yt_shm_unref(c);
  free(half);
  yt_sock_close(out);
  yt_shm_pool_free(pool);
  yt_ctx_term(NULL);
  char path[160];
  snprintf(path, sizeof path, "%s/edge", dir);
  unlink(path);
  rmdir(dir);
}

/* The last release of a chunk must not read the chunk after its decrement:
 * from then on the producer may hand the bytes out again, and a new chunk
 * placed over this one writes data where its header was. The seam scribbles
 * there, as a producer on another core can; reading the header then (the old
 * order) followed a garbage offset and crashed. */
static void scribble(void *chunk) { memset(chunk, 0xab, 64); }

static void test_release_race(void) {
  yt_err err = {0};
  yt_shm_pool *p;
  CHECK(yt_shm_pool_new(&p, 1024 * KB, &err) == YT_OK, "%s", err.msg);
  yt_buf a, b;
  CHECK(yt_shm_alloc(p, 1000, &a) == 1 && yt_shm_alloc(p, 1000, &b) == 1, "alloc");
  uint32_t seq = yt_shm_release_seq(p);
  yt_shm_after_last_unref = scribble;
  yt_buf_free(&b); /* the last hold of b: scribbled, then the release is counted */
  yt_shm_after_last_unref = NULL;
  CHECK(yt_shm_release_seq(p) == seq + 1, "the release was counted in the pool (%u -> %u)", seq,
        yt_shm_release_seq(p));
  yt_buf_free(&a);
  CHECK(yt_shm_release_seq(p) == seq + 2, "and the next one (%u)", yt_shm_release_seq(p));
  yt_shm_pool_free(p);
}

int main(void) {
  test_ring();
  test_room();
  test_release_race();
  test_processes();
  return check_report("test_shm");
}
