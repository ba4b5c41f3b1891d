/* parallel.h: a small pool of worker threads for the CPU backend's
 * memory-bound loops (the optimizer step, sums of squares, zeroing the
 * gradients): one thread streams about 10 GB/s here, two about 18, and
 * OpenBLAS's own threads sit idle between sgemm calls.
 *
 * Results never depend on the number of threads: the loops handed to it are
 * elementwise or by rows, columns or videos whose sums keep their order, and
 * other sums are taken over fixed blocks (yt_sumsq) combined in block order.
 * The layers (model/layers.c, model/vlad.c) and the sliced sgemm run on it
 * too. Not here: OpenBLAS's own threads (set to one once the pool has two). */
#ifndef YT_BACKEND_CPU_PARALLEL_H
#define YT_BACKEND_CPU_PARALLEL_H

#include <stddef.h>

/* fn(ctx, lo, hi) over [lo, hi) slices of [0, n), each a multiple of `align`
 * long except the last. Slices run at once on the pool's threads (the caller
 * takes the first); small n (below 2 * min_per_thread) runs in the caller
 * alone. Returns when every slice is done. */
typedef void (*yt_range_fn)(void *ctx, size_t lo, size_t hi);
void yt_parallel_for(size_t n, size_t align, size_t min_per_thread, yt_range_fn fn, void *ctx);

/* The pool's size, the caller included: $YT_CPU_THREADS when set (1-64),
 * else the CPUs this process may run on, at most 8. */
int yt_cpu_threads(void);

#endif
