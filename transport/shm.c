/* shm.c: the shared-memory frame pool (see shm.h).
 *
 * Layout of a pool of S bytes (offsets from the mapping's start):
 *   0     pool header: magic, id, size
 *   64    chunks, each: 64-byte chunk header {refs, kind, size} then the data,
 *         size = header + data rounded up to 64, so data stays 64-byte aligned.
 * The producer keeps two private offsets: tail (oldest live chunk) and head
 * (next free byte). Free space is [head, end) + [64, tail) when head >= tail,
 * else [head, tail). head == tail means empty (a put never fills the ring
 * exactly), and an empty ring restarts at 64 so that a consumer keeping up
 * touches only the first pages. When a chunk does not fit before the end, a
 * WRAP chunk (refs 0) pads the rest and the put starts over at 64. */
#include "transport/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define POOL_MAGIC 0x4c4f4f5048535459ull /* "YTSHPOOL" */
#define DESC_MAGIC 0x48535459u            /* "YTSH" */
#define ALIGN 64
#define START 64

enum { CHUNK_DATA = 1, CHUNK_WRAP = 2 };

typedef struct chunk_hdr {
  _Atomic uint32_t refs;
  uint32_t kind;
  uint64_t size; /* whole chunk, header included, a multiple of ALIGN */
  uint8_t pad[ALIGN - 16];
} chunk_hdr;

typedef struct pool_hdr {
  uint64_t magic, id, size;
} pool_hdr;

struct yt_shm_pool {
  int fd;
  uint8_t *base;
  size_t size, head, tail;
  uint64_t id;
  yt_shm_stats stats;
};

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

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
  p->head = p->tail = START;
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
  free(p);
}

void yt_shm_pool_stats(const yt_shm_pool *p, yt_shm_stats *s) {
  if (p)
    *s = p->stats;
  else
    memset(s, 0, sizeof *s);
}

static chunk_hdr *at(yt_shm_pool *p, size_t off) { return (chunk_hdr *)(p->base + off); }

/* Moves tail past every chunk nobody holds any more. */
static void reclaim(yt_shm_pool *p) {
  while (p->tail != p->head) {
    if (p->tail == p->size) {
      p->tail = START;
      continue;
    }
    chunk_hdr *c = at(p, p->tail);
    if (atomic_load_explicit(&c->refs, memory_order_acquire) != 0) break;
    p->tail += c->size;
  }
  if (p->tail == p->head) p->head = p->tail = START; /* empty: start over at the front */
}

/* Offset of a free run of `need` bytes, or 0. */
static size_t alloc(yt_shm_pool *p, size_t need) {
  reclaim(p);
  if (p->head >= p->tail) {
    if (p->size - p->head >= need) return p->head;
    if (p->tail - START > need) { /* wrap: pad the end, start over at the front */
      if (p->head < p->size) {
        chunk_hdr *w = at(p, p->head);
        w->kind = CHUNK_WRAP;
        w->size = p->size - p->head;
        atomic_store_explicit(&w->refs, 0, memory_order_relaxed);
      }
      p->head = START;
      return START;
    }
    return 0;
  }
  return p->tail - p->head > need ? p->head : 0;
}

int yt_shm_put(yt_shm_pool *p, const void *data, size_t len, uint8_t desc[YT_SHM_DESC_SIZE], void **chunk) {
  size_t need = (sizeof(chunk_hdr) + len + ALIGN - 1) / ALIGN * ALIGN;
  size_t off = need <= p->size / 2 ? alloc(p, need) : 0;
  if (!off) {
    p->stats.full++;
    return 0;
  }
  chunk_hdr *c = at(p, off);
  c->kind = CHUNK_DATA;
  c->size = need;
  memcpy(c + 1, data, len);
  atomic_store_explicit(&c->refs, 1, memory_order_release);
  p->head = off + need;
  p->stats.put++;
  p->stats.bytes += len;
  put32(desc, DESC_MAGIC);
  put32(desc + 4, (uint32_t)getpid());
  put32(desc + 8, (uint32_t)p->fd);
  put32(desc + 12, 0);
  put64(desc + 16, p->id);
  put64(desc + 24, p->size);
  put64(desc + 32, off);
  put64(desc + 40, len);
  *chunk = c;
  return 1;
}

void yt_shm_ref(void *chunk) { atomic_fetch_add_explicit(&((chunk_hdr *)chunk)->refs, 1, memory_order_relaxed); }

void yt_shm_unref(void *chunk) {
  /* release: our reads of the data happen before the producer may reuse it */
  atomic_fetch_sub_explicit(&((chunk_hdr *)chunk)->refs, 1, memory_order_release);
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
  if (len != YT_SHM_DESC_SIZE || get32(d) != DESC_MAGIC)
    return yt_fail(err, YT_ECORRUPT, "shared-memory descriptor: %zu bytes or bad magic", len);
  uint64_t id = get64(d + 16), size = get64(d + 24), off = get64(d + 32), n = get64(d + 40);
  if (off < START || off % ALIGN || off + sizeof(chunk_hdr) + n > size)
    return yt_fail(err, YT_ECORRUPT, "shared-memory descriptor: chunk at %llu + %llu bytes outside the pool of %llu",
                   (unsigned long long)off, (unsigned long long)n, (unsigned long long)size);
  uint8_t *base = NULL;
  int rc = map_pool(get32(d + 4), get32(d + 8), id, size, &base, err);
  if (rc < 0) return rc;
  chunk_hdr *c = (chunk_hdr *)(base + off);
  *out = (yt_buf){.data = n ? (void *)(c + 1) : NULL, .len = n, .owned = 1, .release = yt_shm_unref, .handle = c};
  return YT_OK;
}
