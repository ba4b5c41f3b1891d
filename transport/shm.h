/* shm.h: shared-memory payload frames for edges between processes on one host.
 *
 * Why: over ipc:// a big frame costs two kernel copies (sender -> socket
 * buffer -> receiver) and a few hundred syscalls per MiB; a pipeline of four
 * processes moving float32 frames spent about a third of its time there. With
 * a pool, the producer copies a big frame once into shared memory and sends a
 * 48-byte descriptor through ZeroMQ instead; the consumer reads the bytes in
 * place and drops its reference when done.
 *
 * The pool is one memfd per producer process, mapped by consumers through
 * /proc/PID/fd/FD on first sight of a descriptor (same user, same host: the
 * runner only uses it for ipc:// edges). Chunks are handed out first fit by
 * the producer alone (a node can also build its output in a chunk, then it
 * leaves with no copy at all: yt_shm_alloc / yt_shm_claim); each carries an
 * atomic reference count (the producer's hold + one per send) that consumers
 * decrement, and its room is reused once the count is back to zero. When no
 * run is free, yt_shm_put answers "no room" and the caller sends the frame
 * inline as before. Nothing blocks on the pool, so it cannot
 * deadlock, and a consumer that dies only leaks its chunks until the run ends
 * (the memfd goes away with the last process that maps it: no files to clean).
 *
 * Not here: ZeroMQ (sock.c decides which frames go through the pool). */
#ifndef YT_SHM_H
#define YT_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "transport/msg.h"

#define YT_SHM_DESC_SIZE 48
#define YT_SHM_MIN_FRAME ((size_t)64 << 10) /* smaller frames travel inline */

typedef struct yt_shm_pool yt_shm_pool;

/* A pool of `size` bytes (virtual: pages are touched as the ring reaches them). */
int yt_shm_pool_new(yt_shm_pool **p, size_t size, yt_err *err);
/* Unmaps the producer's view; consumers keep theirs (chunks stay valid). */
void yt_shm_pool_free(yt_shm_pool *p);

/* Copies len bytes into the pool. Returns 1 with desc filled and *chunk set
 * (its count is 1: the caller's hold, dropped by yt_shm_unref), or 0 when the
 * pool has no room for it now (send inline). */
int yt_shm_put(yt_shm_pool *p, const void *data, size_t len, uint8_t desc[YT_SHM_DESC_SIZE], void **chunk);
/* Zero-copy producer side: a chunk of len bytes handed out as an owned
 * yt_buf (release = yt_shm_unref drops the hold) for the caller to fill, or 0
 * when the pool has no room now (then malloc instead). */
int yt_shm_alloc(yt_shm_pool *p, size_t len, yt_buf *out);
/* Bytes in chunks still held (by the producer or any consumer), each chunk
 * counted whole (header and alignment included). */
size_t yt_shm_in_use(yt_shm_pool *p);
/* The limit a producer keeps on what it has in flight (nodes/core/runner.c):
 * 1 when a chunk of len data bytes fits beside the chunks still held within
 * frames chunks of largest data bytes, every chunk counted as the pool counts
 * it (header and alignment included: in data bytes alone, two chunks never
 * fit in two frames' worth). */
int yt_shm_room(yt_shm_pool *p, size_t len, size_t largest, int frames);
/* If b is a buffer from p's yt_shm_alloc: fills desc for its first b->len
 * bytes, moves the hold into *chunk (b no longer owns it) and returns 1; the
 * newest chunk gives back the room it did not use. Else 0 (copy it). */
int yt_shm_claim(yt_shm_pool *p, yt_buf *b, uint8_t desc[YT_SHM_DESC_SIZE], void **chunk);
void yt_shm_ref(void *chunk);
void yt_shm_unref(void *chunk);
/* Test seam (NULL in the product): called inside yt_shm_unref just after the
 * last hold is dropped, the moment the producer may already be writing a new
 * chunk over this one; tests/unit/test_shm.c scribbles over it there. */
extern void (*yt_shm_after_last_unref)(void *chunk);

/* Waiting for consumers to give chunks back, without polling: read the
 * release count, check the condition (yt_shm_in_use), and if it does not hold
 * yet, yt_shm_wait_release sleeps until some chunk's last hold is dropped
 * after that read, or timeout_s passes (spurious wake-ups are possible:
 * check again). */
uint32_t yt_shm_release_seq(yt_shm_pool *p);
void yt_shm_wait_release(yt_shm_pool *p, uint32_t seen, double timeout_s);

/* Consumer side: the frame a descriptor names, as an owned yt_buf whose
 * release drops the reference. Maps the producer's pool on first use. */
int yt_shm_open_desc(const void *desc, size_t len, yt_buf *out, yt_err *err);

/* Pool size for the runner: YT_SHM_POOL_MB (default 256), 0 = no pool. */
size_t yt_shm_pool_size_from_env(void);

/* Counters for tests and stats: chunks put, "no room" answers, bytes put. */
typedef struct yt_shm_stats {
  uint64_t put, full, bytes;
} yt_shm_stats;
void yt_shm_pool_stats(const yt_shm_pool *p, yt_shm_stats *s);

#endif
