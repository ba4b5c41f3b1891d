/* shm.c: the shared-memory frame pool (see shm.h).
 *
 * Layout of a pool of S bytes (offsets from the mapping's start):
 *   0     pool header: magic, id, size
 *   64    chunks, each: 64-byte chunk header {refs} then the data, rounded
 *         up to 64 bytes, so data stays 64-byte aligned.
 * The producer alone allocates, first fit over its private list of live
 * chunks sorted by offset; a chunk leaves the list when its count is back to
 * zero (checked on the next allocation). First fit from the front keeps the
 * touched part of the pool near what is in flight: fresh shared pages cost a
 * fault and a clear each, which dominated a run when a ring allocator marched
 * through all 256 MiB; and a chunk held long only takes its own room. */
#include "transport/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/le.h"

#define POOL_MAGIC 0x4c4f4f5048535459ull /* "YTSHPOOL" */
#define DESC_MAGIC 0x48535459u            /* "YTSH" */
#define ALIGN 64
#define START 64

/* What producer and consumers share of a chunk; its place and size are the
 * producer's (live_chunk). */
typedef struct chunk_hdr {
  _Atomic uint32_t refs;
  uint32_t pad0;
  uint64_t off; /* from the pool's start: the last unref finds the pool header */
  uint8_t pad[ALIGN - 16];
} chunk_hdr;

/* Bytes of a chunk for len data bytes: header + data rounded up to ALIGN. */
static size_t chunk_bytes(size_t len) { return (sizeof(chunk_hdr) + len + ALIGN - 1) / ALIGN * ALIGN; }

/* released counts chunks whose last hold was dropped; a producer waiting for
 * room sleeps on it (a futex on the shared mapping) with waiting set. */
typedef struct pool_hdr {
  uint64_t magic, id, size;
  _Atomic uint32_t released, waiting;
} pool_hdr;
_Static_assert(sizeof(pool_hdr) <= START, "the pool header must fit before the first chunk");

typedef struct live_chunk {
  size_t off, size;
} live_chunk;

struct yt_shm_pool {
  int fd;
  uint8_t *base;
  size_t size;
  live_chunk *live; /* chunks handed out and not yet seen back, by offset */
  size_t n_live, cap_live;
  uint64_t id;
  yt_shm_stats stats;
};


size_t yt_shm_pool_size_from_env(void) {
  const char *s = getenv("YT_SHM_POOL_MB");
  if (!s || !*s) return (size_t)256 << 20;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 0) return (size_t)256 << 20;
  return (size_t)v << 20;
}

int yt_shm_pool_new(yt_shm_pool **out, size_t size, yt_err *err) {
  *out = NULL;
  size = (size + ALIGN - 1) / ALIGN * ALIGN;
  if (size < 4 * ALIGN) return yt_fail(err, YT_EINVAL, "shared-memory pool of %zu bytes is too small", size);
  yt_shm_pool *p = calloc(1, sizeof *p);
  if (!p) return yt_fail(err, YT_ENOMEM, "out of memory");
  p->fd = memfd_create("yt8m-flow-pool", MFD_CLOEXEC);
  if (p->fd < 0) {
    int e = errno;
    free(p);
    return yt_fail(err, YT_EIO, "memfd_create for the shared-memory pool: %s", strerror(e));
  }
  if (ftruncate(p->fd, (off_t)size) < 0) {
    int e = errno;
    close(p->fd);
    free(p);
    return yt_fail(err, YT_EIO, "sizing the shared-memory pool to %zu bytes: %s", size, strerror(e));
  }
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    close(p->fd);
    free(p);
    return yt_fail(err, YT_EIO, "mapping the shared-memory pool (%zu bytes): %s", size, strerror(e));
  }
  p->base = m;
  p->size = size;
  /* an id tells a reused (pid, fd) pair from the pool a descriptor meant */
  p->id = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)p ^ (uint64_t)size;
  pool_hdr *h = (pool_hdr *)p->base;
  h->magic = POOL_MAGIC, h->id = p->id, h->size = size;
  *out = p;
  return YT_OK;
}

void yt_shm_pool_free(yt_shm_pool *p) {
  if (!p) return;
  munmap(p->base, p->size);
  close(p->fd);
  free(p->live);
  free(p);
}

void yt_shm_pool_stats(const yt_shm_pool *p, yt_shm_stats *s) {
  if (p)
    *s = p->stats;
  else
    memset(s, 0, sizeof *s);
}

static chunk_hdr *at(yt_shm_pool *p, size_t off) { return (chunk_hdr *)(p->base + off); }

/* Forgets the chunks nobody holds any more. */
static void reclaim(yt_shm_pool *p) {
  size_t k = 0;
  for (size_t i = 0; i < p->n_live; i++)
    if (atomic_load_explicit(&at(p, p->live[i].off)->refs, memory_order_acquire) != 0) p->live[k++] = p->live[i];
  p->n_live = k;
}

/* Offset of a free run of `need` bytes (first fit), recorded as live, or 0. */
static size_t alloc(yt_shm_pool *p, size_t need) {
  reclaim(p);
  if (p->n_live == p->cap_live) {
    size_t c = p->cap_live ? 2 * p->cap_live : 16;
    live_chunk *l = realloc(p->live, c * sizeof *l);
    if (!l) return 0;
    p->live = l, p->cap_live = c;
  }
  size_t off = START, i = 0;
  for (; i < p->n_live && p->live[i].off - off < need; i++) off = p->live[i].off + p->live[i].size;
  if (i == p->n_live && p->size - off < need) return 0;
  memmove(p->live + i + 1, p->live + i, (p->n_live - i) * sizeof *p->live);
  p->live[i] = (live_chunk){off, need};
  p->n_live++;
  return off;
}

/* Hands out a chunk with room for len bytes (refs 1: the caller's hold). */
static chunk_hdr *take(yt_shm_pool *p, size_t len) {
  size_t need = chunk_bytes(len);
  size_t off = need <= p->size / 2 ? alloc(p, need) : 0;
  if (!off) {
    p->stats.full++;
    return NULL;
  }
  chunk_hdr *c = at(p, off);
  c->off = off;
  atomic_store_explicit(&c->refs, 1, memory_order_release);
  p->stats.put++;
  return c;
}

static void describe(const yt_shm_pool *p, const chunk_hdr *c, size_t len, uint8_t desc[YT_SHM_DESC_SIZE]) {
  yt_put32(desc, DESC_MAGIC);
  yt_put32(desc + 4, (uint32_t)getpid());
  yt_put32(desc + 8, (uint32_t)p->fd);
  yt_put32(desc + 12, 0);
  yt_put64(desc + 16, p->id);
  yt_put64(desc + 24, p->size);
  yt_put64(desc + 32, (uint64_t)((const uint8_t *)c - p->base));
  yt_put64(desc + 40, len);
}

int yt_shm_put(yt_shm_pool *p, const void *data, size_t len, uint8_t desc[YT_SHM_DESC_SIZE], void **chunk) {
  chunk_hdr *c = take(p, len);
  if (!c) return 0;
  memcpy(c + 1, data, len);
  p->stats.bytes += len;
  describe(p, c, len, desc);
  *chunk = c;
  return 1;
}

int yt_shm_room(yt_shm_pool *p, size_t len, size_t largest, int frames) {
  return yt_shm_in_use(p) + chunk_bytes(len) <= (size_t)frames * chunk_bytes(largest);
}

size_t yt_shm_in_use(yt_shm_pool *p) {
  reclaim(p);
  size_t n = 0;
  for (size_t i = 0; i < p->n_live; i++) n += p->live[i].size;
  return n;
}

int yt_shm_alloc(yt_shm_pool *p, size_t len, yt_buf *out) {
  chunk_hdr *c = p ? take(p, len) : NULL;
  if (!c) return 0;
  *out = (yt_buf){.data = c + 1, .len = len, .owned = 1, .release = yt_shm_unref, .handle = c};
  return 1;
}

int yt_shm_claim(yt_shm_pool *p, yt_buf *b, uint8_t desc[YT_SHM_DESC_SIZE], void **chunk) {
  if (!p || !b->owned || b->release != yt_shm_unref) return 0;
  chunk_hdr *c = b->handle;
  if ((const void *)(c + 1) != b->data) return 0;
  size_t off = (uintptr_t)c - (uintptr_t)p->base; /* ours iff a live chunk of p starts there */
  live_chunk *l = NULL;
  for (size_t i = 0; i < p->n_live && !l; i++)
    if (p->live[i].off == off) l = &p->live[i];
  if (!l || chunk_bytes(b->len) > l->size) return 0;
  l->size = chunk_bytes(b->len); /* give back the room that was not used */
  p->stats.bytes += b->len;
  describe(p, c, b->len, desc);
  *chunk = c;
  b->owned = 0; /* the hold moves to the caller */
  return 1;
}

void yt_shm_ref(void *chunk) { atomic_fetch_add_explicit(&((chunk_hdr *)chunk)->refs, 1, memory_order_relaxed); }

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout) {
  return syscall(SYS_futex, (uint32_t *)word, op, val, timeout, NULL, 0); /* shared: no FUTEX_PRIVATE_FLAG */
}

void (*yt_shm_after_last_unref)(void *chunk);

void yt_shm_unref(void *chunk) {
  chunk_hdr *c = chunk;
  /* The pool header is found while we still hold the chunk: once the count
   * is 0 the producer may hand these bytes out again at once, and a new chunk
   * placed over this header overwrites `off` (a consumer that read it after
   * its decrement crashed about once in 200 read_frames runs) */
  pool_hdr *h = (pool_hdr *)((uint8_t *)c - c->off);
  /* release: our reads of the data happen before the producer may reuse it */
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
  if (yt_shm_after_last_unref) yt_shm_after_last_unref(c);
  atomic_fetch_add(&h->released, 1); /* seq_cst, as the load of waiting: see yt_shm_wait_release */
  if (atomic_load(&h->waiting)) futex(&h->released, FUTEX_WAKE, INT32_MAX, NULL);
}

uint32_t yt_shm_release_seq(yt_shm_pool *p) {
  return atomic_load(&((pool_hdr *)p->base)->released);
}

/* The producer sets waiting, then sleeps while released still equals seen: a
 * consumer bumps released before it reads waiting, so either the producer's
 * futex sees the new count (and does not sleep) or the consumer sees waiting
 * (and wakes it). */
void yt_shm_wait_release(yt_shm_pool *p, uint32_t seen, double timeout_s) {
  pool_hdr *h = (pool_hdr *)p->base;
  if (timeout_s <= 0) return;
  struct timespec ts = {(time_t)timeout_s, (long)((timeout_s - (double)(time_t)timeout_s) * 1e9)};
  atomic_store(&h->waiting, 1);
  if (atomic_load(&h->released) == seen) futex(&h->released, FUTEX_WAIT, seen, &ts);
  atomic_store(&h->waiting, 0);
}

/* ---- consumer side: pools mapped by (pid, fd, id), kept until exit ---------- */

#define MAX_MAPS 64
static struct {
  uint32_t pid, fd;
  uint64_t id, size;
  uint8_t *base;
} maps[MAX_MAPS];
static int n_maps;

static int map_pool(uint32_t pid, uint32_t fd, uint64_t id, uint64_t size, uint8_t **base, yt_err *err) {
  for (int i = 0; i < n_maps; i++)
    if (maps[i].pid == pid && maps[i].fd == fd && maps[i].id == id) {
      *base = maps[i].base;
      return YT_OK;
    }
  if (n_maps == MAX_MAPS)
    return yt_fail(err, YT_EINVAL, "shared-memory frames from more than %d producers", MAX_MAPS);
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/fd/%u", pid, fd);
  int f = open(path, O_RDWR | O_CLOEXEC);
  if (f < 0)
    return yt_fail(err, YT_EIO,
                   "opening the producer's shared-memory pool %s: %s (is the producer on another host or "
                   "gone? set YT_SHM_POOL_MB=0 to send frames inline)",
                   path, strerror(errno));
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  int e = errno;
  close(f);
  if (m == MAP_FAILED) return yt_fail(err, YT_EIO, "mapping the shared-memory pool %s: %s", path, strerror(e));
  const pool_hdr *h = m;
  if (h->magic != POOL_MAGIC || h->id != id || h->size != size) {
    munmap(m, size);
    return yt_fail(err, YT_ECORRUPT, "shared-memory pool %s is not the one the descriptor names", path);
  }
  maps[n_maps].pid = pid, maps[n_maps].fd = fd, maps[n_maps].id = id, maps[n_maps].size = size;
  maps[n_maps++].base = m;
  *base = m;
  return YT_OK;
}

int yt_shm_open_desc(const void *desc, size_t len, yt_buf *out, yt_err *err) {
  const uint8_t *d = desc;
  if (len != YT_SHM_DESC_SIZE || yt_get32(d) != DESC_MAGIC)
    return yt_fail(err, YT_ECORRUPT, "shared-memory descriptor: %zu bytes or bad magic", len);
  uint64_t id = yt_get64(d + 16), size = yt_get64(d + 24), off = yt_get64(d + 32), n = yt_get64(d + 40);
  if (off < START || off % ALIGN || off + sizeof(chunk_hdr) + n > size)
    return yt_fail(err, YT_ECORRUPT, "shared-memory descriptor: chunk at %llu + %llu bytes outside the pool of %llu",
                   (unsigned long long)off, (unsigned long long)n, (unsigned long long)size);
  uint8_t *base = NULL;
  int rc = map_pool(yt_get32(d + 4), yt_get32(d + 8), id, size, &base, err);
  if (rc < 0) return rc;
  chunk_hdr *c = (chunk_hdr *)(base + off);
  *out = (yt_buf){.data = n ? (void *)(c + 1) : NULL, .len = n, .owned = 1, .release = yt_shm_unref, .handle = c};
  return YT_OK;
}
