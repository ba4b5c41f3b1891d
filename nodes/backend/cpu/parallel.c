/* parallel.c: the CPU backend's worker pool (see parallel.h).
 *
 * A training step is a chain of short operations (an sgemm, a softmax, an
 * Adam pass over one tensor), so a worker that has just finished one spins
 * briefly for the next before it sleeps: waking a sleeping thread costs an
 * inter-processor interrupt, which a virtual machine pays dearly. After
 * SPIN_NS idle it sleeps on a condition variable, so an idle pool leaves the
 * cores to the graph's other processes. The caller waits the same way.
 * One job at a time: a second caller while a job runs (another thread, or a
 * slice that calls a parallel layer) does its loop alone.
 * A child after fork() has no workers, so the pool remembers the pid that
 * started it and starts again in a new process. */
#include "backend/cpu/parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { MAX_THREADS = 64, DEFAULT_MAX = 8 };
static const long SPIN_NS = 200 * 1000; /* how long an idle thread polls before it sleeps */

static struct {
  pthread_mutex_t mu;   /* guards sleepers, waiter and the sleeps */
  pthread_cond_t go;    /* gen changed */
  pthread_cond_t done;  /* pending reached 0 */
  pthread_mutex_t job;  /* held by the one caller whose job runs */
  pid_t pid;            /* the process that started the workers; 0 = not started */
  int nthreads;         /* the caller + workers */
  unsigned long gen;    /* job number (atomic) */
  int pending;          /* workers that have not finished job `gen` (atomic) */
  int sleepers;         /* workers asleep on `go` */
  int waiter;           /* the caller is asleep on `done` */
  /* the current job, written before gen is bumped */
  int parts;
  yt_range_fn fn;
  void *ctx;
  size_t n, align;
} pool; /* mutexes and conditions initialized by pool_threads(), per process */

static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;

static long elapsed_ns(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* slice i of parts: [bound(i), bound(i + 1)), bounds on multiples of align */
static size_t bound(size_t n, size_t align, int i, int parts) {
  if (i >= parts) return n;
  size_t b = (size_t)((double)n * i / parts);
  return b - b % align;
}

/* until gen != seen: poll for SPIN_NS, then sleep */
static unsigned long wait_job(unsigned long seen) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 1;; i++) {
    unsigned long g = __atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE);
    if (g != seen) return g;
    CPU_RELAX();
    if (i % 64 == 0 && elapsed_ns(&t0) > SPIN_NS) break;
  }
  pthread_mutex_lock(&pool.mu);
  pool.sleepers++;
  while (__atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE) == seen) pthread_cond_wait(&pool.go, &pool.mu);
  pool.sleepers--;
  pthread_mutex_unlock(&pool.mu);
  return __atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE);
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned long seen = 0; /* not pool.gen: a job posted before this thread first ran must still be seen */
  for (;;) {
    seen = wait_job(seen);
    if (id < pool.parts) {
      size_t lo = bound(pool.n, pool.align, id, pool.parts), hi = bound(pool.n, pool.align, id + 1, pool.parts);
      if (lo < hi) pool.fn(pool.ctx, lo, hi);
    }
    if (__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_ACQ_REL) == 0) {
      pthread_mutex_lock(&pool.mu);
      if (pool.waiter) pthread_cond_signal(&pool.done);
      pthread_mutex_unlock(&pool.mu);
    }
  }
  return NULL;
}

static int wanted_threads(void) {
  const char *e = getenv("YT_CPU_THREADS");
  if (e && *e) {
    char *end;
    long v = strtol(e, &end, 10);
    if (!*end && v >= 1 && v <= MAX_THREADS) return (int)v;
  }
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n > DEFAULT_MAX ? DEFAULT_MAX : n;
}

/* Starts the workers once per process; on any failure the pool is the caller alone. */
static int pool_threads(void) {
  pid_t me = getpid();
  if (__atomic_load_n(&pool.pid, __ATOMIC_ACQUIRE) == me) return pool.nthreads;
  pthread_mutex_lock(&start_mu);
  if (pool.pid != me) {
    /* a forked child inherits the parent's pool state but none of its threads */
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.go, NULL);
    pthread_cond_init(&pool.done, NULL);
    pthread_mutex_init(&pool.job, NULL);
    pool.gen = 0;
    pool.pending = pool.sleepers = pool.waiter = 0;
    int want = wanted_threads(), have = 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (; have < want; have++) {
      pthread_t t;
      if (pthread_create(&t, &attr, worker, (void *)(intptr_t)have) != 0) break;
    }
    pthread_attr_destroy(&attr);
    pool.nthreads = have;
    /* sgemm runs in slices on this pool (layers.c), each slice on one OpenBLAS
     * thread: two thread pools on the same cores would wait on each other */
    if (have > 1) openblas_set_num_threads(1);
    __atomic_store_n(&pool.pid, me, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&start_mu);
  return pool.nthreads;
}

int yt_cpu_threads(void) { return pool_threads(); }

void yt_parallel_for(size_t n, size_t align, size_t min_per_thread, yt_range_fn fn, void *ctx) {
  if (!n) return;
  if (align < 1) align = 1;
  if (min_per_thread < 1) min_per_thread = 1;
  int threads = n >= 2 * min_per_thread ? pool_threads() : 1;
  size_t most = n / min_per_thread;
  int parts = (size_t)threads < most ? threads : (int)most;
  if (parts <= 1 || pthread_mutex_trylock(&pool.job) != 0) {
    fn(ctx, 0, n);
    return;
  }
  pool.fn = fn;
  pool.ctx = ctx;
  pool.n = n;
  pool.align = align;
  pool.parts = parts;
  __atomic_store_n(&pool.pending, pool.nthreads - 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&pool.mu);
  __atomic_add_fetch(&pool.gen, 1, __ATOMIC_RELEASE);
  if (pool.sleepers) pthread_cond_broadcast(&pool.go);
  pthread_mutex_unlock(&pool.mu);

  size_t hi = bound(n, align, 1, parts);
  if (hi > 0) fn(ctx, 0, hi);

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 1; __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) > 0; i++) {
    CPU_RELAX();
    if (i % 64 == 0 && elapsed_ns(&t0) > SPIN_NS) {
      pthread_mutex_lock(&pool.mu);
      pool.waiter = 1;
      while (__atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) > 0) pthread_cond_wait(&pool.done, &pool.mu);
      pool.waiter = 0;
      pthread_mutex_unlock(&pool.mu);
      break;
    }
  }
  pthread_mutex_unlock(&pool.job);
}
