/* emu.cc: a CPU emulator of the CUDA runtime and cuBLAS subset that
 * nodes/backend/cuda uses, so that CI (no GPU, no CUDA toolkit) compiles the
 * real .cu files as C++ (fake/cuda_runtime.h, fake/cublas_v2.h) and runs
 * tests/gpu/test_cuda_ops.c's parity checks on every kernel
 * (test_cuda_ops_emu, label unit).
 *
 * How it runs: work is queued on one stream and runs at the synchronizing
 * calls, as on a device. A grid runs block after block. A block's threads are
 * coroutines (a register switch on x86-64, ucontext elsewhere) and
 * __syncthreads is a barrier: each thread runs until it waits there, then the
 * next phase starts. Within a phase the threads run one at a time in a
 * shuffled (fixed-seed) order. A block whose thread 0 ends without a barrier
 * runs its other threads as plain calls. cuBLAS sgemm is a naive loop that
 * accumulates in float.
 *
 * What it catches: wrong results from a kernel's logic or indexing (the
 * test's comparisons with the CPU twins) at every size the test uses; most
 * missing __syncthreads between shared-memory phases (the thread order
 * changes); a __syncthreads that not every thread of a block reaches; writes
 * past either end of a cudaMalloc block (64-byte guards, checked after each
 * queued operation); kernel arguments that are host pointers; copies,
 * memsets and sgemm operands that do not fit their allocation, copies of the
 * wrong kind; invalid launch configurations and sgemm arguments; reads of
 * memory nothing wrote (fresh device memory is NaN, which the comparisons
 * see); host code that reads a pinned download, or changes a pinned upload's
 * source, before a synchronization.
 *
 * What it cannot catch: races that only other thread orders show (no two
 * threads ever run at once: warps are not in lockstep, blocks never overlap,
 * so two blocks writing one element or a missing atomic go unseen); reads
 * past an allocation's end, except in an AddressSanitizer build
 * (-DYT_SANITIZE=address), where the guards are poisoned and any access to
 * them stops the test with a stack trace; the device's math library (its expf, logf, exp
 * and log are modelled only as glibc's moved by up to 2 / 1 ulp) and fused
 * multiply-adds (the backend is built with --fmad=false); cuBLAS's summation
 * order (modelled, not reproduced) and TF32 beyond its input rounding;
 * performance, memory limits, warp intrinsics (none are implemented), more
 * than one stream. It does not replace tests/gpu/test_cuda_ops on a device. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(__x86_64__) || defined(YT_EMU_UCONTEXT)
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define EMU_ASAN 1 /* the guards are poisoned: AddressSanitizer checks every access */
#else
#define EMU_ASAN 0
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#include <algorithm>
#include <map>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"

#undef expf
#undef logf
#undef exp
#undef log

/* ---- errors ------------------------------------------------------------------------------ */

static cudaError_t last_err; /* cudaGetLastError's, cleared by it */
static cudaError_t exec_err; /* found while running queued work: the next synchronize returns it */
static char err_msg[1024];   /* the latest error's detail, for cudaGetErrorString */
static cudaError_t err_msg_code;
static char blas_msg[512]; /* the latest cuBLAS error's detail */

static void vreport(cudaError_t e, const char *fmt, va_list ap) {
  vsnprintf(err_msg, sizeof err_msg, fmt, ap);
  err_msg_code = e;
  fprintf(stderr, "emu: %s\n", err_msg);
}

/* an error of the call being made */
static cudaError_t fail(cudaError_t e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cudaError_t fail(cudaError_t e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(e, fmt, ap);
  va_end(ap);
  last_err = e;
  return e;
}

/* an error of queued work, reported by the next synchronizing call */
static void exec_fail(cudaError_t e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void exec_fail(cudaError_t e, const char *fmt, ...) {
  if (exec_err) return; /* the first one */
  va_list ap;
  va_start(ap, fmt);
  vreport(e, fmt, ap);
  va_end(ap);
  exec_err = e;
}

const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
  case cudaSuccess: return "cudaSuccess";
  case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
  case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
  case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
  case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
  case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
  case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
  case cudaErrorNoDevice: return "cudaErrorNoDevice";
  case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
  case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
  if (e && e == err_msg_code && err_msg[0]) return err_msg;
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorMemoryAllocation: return "out of memory";
  default: return "emulated error";
  }
}

cudaError_t cudaGetLastError(void) {
  cudaError_t e = last_err;
  last_err = cudaSuccess;
  return e;
}

/* ---- statistics, printed at exit ------------------------------------------------------------------ */

static struct { long kernels, blocks, threads, sync_blocks, phases, gemms, copies; } stats;

static void print_stats(void) {
  printf("emu: %ld kernels, %ld blocks, %ld threads; %ld blocks with __syncthreads (%ld phases); %ld sgemm, "
         "%ld copies/memsets\n",
         stats.kernels, stats.blocks, stats.threads, stats.sync_blocks, stats.phases, stats.gemms,
         stats.copies);
}

/* ---- memory: tracked allocations with guards ---------------------------------------------------------- */

enum { GUARD = 64 };
static const unsigned char GUARD_BYTE = 0xA5;

struct Alloc {
  size_t bytes;
  bool host; /* cudaMallocHost */
};
static std::map<uintptr_t, Alloc> allocs; /* by the pointer handed out */

/* The allocation holding [p, p + bytes) (bytes 0: p may be its end), or NULL. */
static const Alloc *find(const void *p, size_t bytes) {
  uintptr_t a = (uintptr_t)p;
  auto it = allocs.upper_bound(a);
  if (it == allocs.begin()) return nullptr;
  --it;
  if (a < it->first || a - it->first > it->second.bytes || bytes > it->second.bytes - (a - it->first))
    return nullptr;
  return &it->second;
}

static bool is_device(const void *p, size_t bytes) {
  const Alloc *al = find(p, bytes);
  return al && !al->host;
}

/* After each queued operation: a write past either end of a device block. */
static void check_guards(const char *what) {
  if (EMU_ASAN) return; /* AddressSanitizer reported the write when it happened */
  for (auto &kv : allocs) {
    if (kv.second.host) continue;
    unsigned char *lo = (unsigned char *)kv.first - GUARD, *hi = (unsigned char *)kv.first + kv.second.bytes;
    for (int side = 0; side < 2; side++) {
      unsigned char *g = side ? hi : lo;
      int first = -1, last = -1; /* the changed guard bytes */
      for (int i = 0; i < GUARD; i++)
        if (g[i] != GUARD_BYTE) last = i, first = first < 0 ? i : first;
      if (first < 0) continue;
      exec_fail(cudaErrorIllegalAddress, "%s wrote up to %d bytes %s a %zu-byte device allocation", what,
                side ? last + 1 : GUARD - first, side ? "past the end of" : "before the start of",
                kv.second.bytes);
      memset(g, GUARD_BYTE, GUARD);
    }
  }
}

static cudaError_t emu_alloc(void **p, size_t bytes, bool host) {
  *p = nullptr;
  if (bytes > ((size_t)16 << 30))
    return fail(cudaErrorMemoryAllocation, "out of memory: %zu bytes (the emulator's limit is 16 GiB)",
                bytes);
  unsigned char *base = (unsigned char *)malloc(bytes + 2 * GUARD);
  if (!base) return fail(cudaErrorMemoryAllocation, "out of memory: %zu bytes (host malloc failed)", bytes);
  memset(base, GUARD_BYTE, GUARD);
  memset(base + GUARD, 0xFF, bytes); /* NaN floats: what nothing wrote shows in the comparisons */
  memset(base + GUARD + bytes, GUARD_BYTE, GUARD);
  ASAN_POISON_MEMORY_REGION(base, GUARD);
  ASAN_POISON_MEMORY_REGION(base + GUARD + bytes, GUARD);
  *p = base + GUARD;
  allocs[(uintptr_t)*p] = Alloc{bytes, host};
  return cudaSuccess;
}

static void flush(void);

static cudaError_t emu_free(void *p, bool host, const char *fn) {
  flush(); /* freeing waits for the device */
  if (!p) return cudaSuccess;
  auto it = allocs.find((uintptr_t)p);
  if (it == allocs.end() || it->second.host != host)
    return fail(cudaErrorInvalidDevicePointer, "%s(%p): not a pointer that %s returned", fn, p,
                host ? "cudaMallocHost" : "cudaMalloc");
  if (!host) check_guards(fn);
  unsigned char *base = (unsigned char *)p - GUARD;
  ASAN_UNPOISON_MEMORY_REGION(base, it->second.bytes + 2 * GUARD);
  allocs.erase(it);
  free(base);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
  return emu_alloc(p, bytes, false);
}
cudaError_t cudaFree(void *p) {
  return emu_free(p, false, "cudaFree");
}
cudaError_t cudaMallocHost(void **p, size_t bytes) {
  return emu_alloc(p, bytes, true);
}
cudaError_t cudaFreeHost(void *p) {
  return emu_free(p, true, "cudaFreeHost");
}

/* ---- the stream: a queue run at synchronizing calls ---------------------------------------------------- */

struct Op {
  const char *what;
  std::function<void()> run;
};
static std::vector<Op> queue;

static void enqueue(const char *what, std::function<void()> run) {
  queue.push_back(Op{what, std::move(run)});
}

static void flush(void) {
  for (size_t i = 0; i < queue.size(); i++) {
    queue[i].run();
    check_guards(queue[i].what);
  }
  queue.clear();
}

struct emu_stream {
  int x;
};
static emu_stream the_stream;

cudaError_t cudaGetDeviceCount(int *n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue, "cudaSetDevice(%d): one device", device);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
  (void)flags;
  *s = &the_stream;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  (void)s;
  flush();
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  (void)s;
  flush();
  cudaError_t e = exec_err;
  exec_err = cudaSuccess;
  if (e) last_err = e;
  return e;
}

/* Events on the one queue: a record is a marker, a wait orders nothing the
 * queue does not already order, and synchronizing runs the queue (what is
 * queued after the record runs too: sooner than a device would, never later).
 * A use before create, or after destroy, is an error. */
struct emu_event {
  bool live, recorded, timing;
};
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
  *e = new emu_event{true, false, !(flags & cudaEventDisableTiming)};
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start || !start->live || !end || !end->live)
    return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: not a live event");
  if (!start->timing || !end->timing)
    return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: an event made with cudaEventDisableTiming");
  if (!start->recorded || !end->recorded)
    return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: an event was never recorded");
  flush();
  *ms = 0.0f;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  if (!e || !e->live) return fail(cudaErrorInvalidValue, "cudaEventDestroy: not a live event");
  e->live = false; /* kept, so that a later use is caught */
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  (void)s;
  if (!e || !e->live) return fail(cudaErrorInvalidValue, "cudaEventRecord: not a live event");
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e || !e->live) return fail(cudaErrorInvalidValue, "cudaEventSynchronize: not a live event");
  flush();
  cudaError_t err = exec_err;
  exec_err = cudaSuccess;
  if (err) last_err = err;
  return err;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags) {
  (void)s, (void)flags;
  if (!e || !e->live) return fail(cudaErrorInvalidValue, "cudaStreamWaitEvent: not a live event");
  if (!e->recorded) return fail(cudaErrorInvalidValue, "cudaStreamWaitEvent: the event was never recorded");
  return cudaSuccess;
}

/* ---- copies ------------------------------------------------------------------------------------------ */

/* Checks [p, p + bytes) against the kind of memory the copy says it is. */
static cudaError_t check_side(const char *fn, const char *side, const void *p, size_t bytes, bool device) {
  const Alloc *al = find(p, bytes);
  if (device && (!al || al->host))
    return fail(cudaErrorInvalidValue, "%s: %s %p + %zu bytes is not inside one device allocation", fn, side,
                p, bytes);
  if (!device && al && !al->host)
    return fail(cudaErrorInvalidValue, "%s: %s %p is device memory where the copy's kind says host", fn, side,
                p);
  return cudaSuccess;
}

/* pinned host memory is read or written when the copy runs; pageable
 * memory at the call, after the queue ran (the driver stages it so) */
static bool pinned(const void *p) {
  const Alloc *al = find(p, 0);
  return al && al->host;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  (void)s;
  if (!bytes) return cudaSuccess;
  bool dd = kind != cudaMemcpyDeviceToHost, sd = kind != cudaMemcpyHostToDevice;
  if (kind < cudaMemcpyHostToDevice || kind > cudaMemcpyDeviceToDevice)
    return fail(cudaErrorInvalidValue, "cudaMemcpyAsync: kind %d", (int)kind);
  cudaError_t e;
  if ((e = check_side("cudaMemcpyAsync", "dst", dst, bytes, dd)) ||
      (e = check_side("cudaMemcpyAsync", "src", src, bytes, sd)))
    return e;
  stats.copies++;
  const void *host = kind == cudaMemcpyHostToDevice ? src : kind == cudaMemcpyDeviceToHost ? dst : nullptr;
  if (host && !pinned(host)) {
    flush();
    memmove(dst, src, bytes);
    return cudaSuccess;
  }
  enqueue("cudaMemcpyAsync", [=]() { memmove(dst, src, bytes); });
  return cudaSuccess;
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                              size_t height, cudaMemcpyKind kind, cudaStream_t s) {
  (void)s;
  if (!width || !height) return cudaSuccess;
  if (width > dpitch || width > spitch)
    return fail(cudaErrorInvalidPitchValue, "cudaMemcpy2DAsync: width %zu bytes > dpitch %zu or spitch %zu",
                width, dpitch, spitch);
  if (kind != cudaMemcpyDeviceToDevice)
    return fail(cudaErrorInvalidValue, "cudaMemcpy2DAsync: only device to device is emulated");
  cudaError_t e;
  if ((e = check_side("cudaMemcpy2DAsync", "dst", dst, (height - 1) * dpitch + width, true)) ||
      (e = check_side("cudaMemcpy2DAsync", "src", src, (height - 1) * spitch + width, true)))
    return e;
  stats.copies++;
  enqueue("cudaMemcpy2DAsync", [=]() {
    for (size_t r = 0; r < height; r++)
      memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
  });
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
  (void)s;
  if (!bytes) return cudaSuccess;
  cudaError_t e = check_side("cudaMemsetAsync", "pointer", p, bytes, true);
  if (e) return e;
  stats.copies++;
  enqueue("cudaMemsetAsync", [=]() { memset(p, value, bytes); });
  return cudaSuccess;
}

/* ---- coroutines ------------------------------------------------------------------------------------ */

#if defined(__x86_64__) && !defined(YT_EMU_UCONTEXT)
/* emu_switch(&from, to): pushes the callee-saved registers (SysV ABI) on the
 * running stack, stores its stack pointer in *from, and pops the ones saved
 * on the stack at `to`. glibc's swapcontext also saves the signal mask, a
 * system call per switch, which took most of the test's time. */
extern "C" void emu_switch(void **from, void *to);
asm(".text\n"
    ".globl emu_switch\n"
    ".type emu_switch, @function\n"
    "emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size emu_switch, .-emu_switch\n");

struct Ctx {
  void *sp;
};
/* a stack whose first switch "returns" into entry, aligned as a call would */
static void ctx_init(Ctx *c, char *stack, size_t size, void (*entry)(void)) {
  void **sp = (void **)(((uintptr_t)stack + size) & ~(uintptr_t)15);
  *--sp = nullptr;
  *--sp = (void *)entry;
  for (int i = 0; i < 6; i++) *--sp = nullptr;
  c->sp = sp;
}
static void ctx_switch(Ctx *from, Ctx *to) {
  emu_switch(&from->sp, to->sp);
}
#else
struct Ctx {
  ucontext_t uc;
};
static void ctx_init(Ctx *c, char *stack, size_t size, void (*entry)(void)) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr; /* entry never returns */
  makecontext(&c->uc, entry, 0);
}
static void ctx_switch(Ctx *from, Ctx *to) {
  swapcontext(&from->uc, &to->uc);
}
#endif

/* ---- kernels: blocks of coroutines -------------------------------------------------------------------- */

dim3 threadIdx, blockIdx, blockDim, gridDim;

enum { MAXT = 1024, STACK = 64 << 10 };
static Ctx sched_ctx, th_ctx[MAXT];
static char *stacks[MAXT];
static unsigned cur;      /* the running thread, linear in its block */
static bool as_coroutine; /* false: a plain call (its block has no barrier) */
static bool waiting[MAXT], finished[MAXT];
static const std::function<void()> *body;
static const char *kname;
static bool abandon; /* a divergent barrier: the rest of the grid is skipped */
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static unsigned rand_below(unsigned n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (unsigned)(rng % n);
}

static void shuffle(unsigned *v, unsigned n) {
  for (unsigned i = n; i > 1; i--) std::swap(v[i - 1], v[rand_below(i)]);
}

static void set_thread(unsigned t) {
  cur = t;
  threadIdx = dim3(t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y));
}

/* a thread's coroutine: the kernel, then back to the scheduler for good */
static void tramp(void) {
  (*body)();
  finished[cur] = true;
  ctx_switch(&th_ctx[cur], &sched_ctx);
  abort(); /* never resumed */
}

void __syncthreads(void) {
  if (!as_coroutine) {
    exec_fail(cudaErrorLaunchFailure,
              "%s: block (%u,%u,%u): thread (%u,%u,%u) reached __syncthreads, thread 0 ended without one "
              "(a barrier not every thread reaches)",
              kname, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
    abandon = true;
    return;
  }
  waiting[cur] = true;
  ctx_switch(&th_ctx[cur], &sched_ctx);
}

static void start(unsigned t) {
  if (!stacks[t] && !(stacks[t] = (char *)malloc(STACK))) {
    fprintf(stderr, "emu: out of memory for thread stacks\n");
    abort();
  }
  ctx_init(&th_ctx[t], stacks[t], STACK, tramp);
  finished[t] = waiting[t] = false;
}

static void resume(unsigned t) {
  set_thread(t);
  as_coroutine = true;
  waiting[t] = false;
  ctx_switch(&sched_ctx, &th_ctx[t]);
}

static void run_block(unsigned nt) {
  static unsigned order[MAXT];
  start(0);
  resume(0);
  if (finished[0]) { /* no barrier in this block: the others are plain calls */
    for (unsigned t = 1; t < nt; t++) order[t - 1] = t;
    shuffle(order, nt - 1);
    as_coroutine = false;
    for (unsigned i = 0; i + 1 < nt && !abandon; i++) {
      set_thread(order[i]);
      (*body)();
    }
    return;
  }
  stats.sync_blocks++;
  for (unsigned t = 1; t < nt; t++) start(t);
  bool first = true;
  for (;;) {
    stats.phases++;
    unsigned n = 0;
    for (unsigned t = first ? 1 : 0; t < nt; t++)
      if (!finished[t]) order[n++] = t;
    shuffle(order, n);
    for (unsigned i = 0; i < n; i++) resume(order[i]);
    first = false;
    unsigned nfin = 0, nwait = 0;
    for (unsigned t = 0; t < nt; t++) nfin += finished[t], nwait += !finished[t] && waiting[t];
    if (nfin == nt) return;
    if (nfin) {
      exec_fail(
          cudaErrorLaunchFailure,
          "%s: block (%u,%u,%u): %u threads wait at __syncthreads while %u have ended (a barrier not every "
          "thread reaches)",
          kname, blockIdx.x, blockIdx.y, blockIdx.z, nwait, nfin);
      abandon = true;
      return;
    }
  }
}

static void run_grid(const char *name, dim3 grid, dim3 block, const std::function<void()> &f) {
  unsigned nt = block.x * block.y * block.z;
  size_t nb = (size_t)grid.x * grid.y * grid.z;
  blockDim = block, gridDim = grid;
  body = &f;
  kname = name;
  abandon = false;
  stats.kernels++;
  for (size_t b = 0; b < nb && !abandon; b++) {
    blockIdx = dim3((unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y), (unsigned)(b / grid.x / grid.y));
    run_block(nt);
    stats.blocks++;
    stats.threads += nt;
  }
}

static bool bad_arg;

void emu_check_kernel_arg(const char *kernel, int i, const void *p) {
  if (!p || is_device(p, 0)) return;
  fail(cudaErrorIllegalAddress, "%s: argument %d (%p) is %s, not device memory", kernel, i, p,
       find(p, 0) ? "page-locked host memory" : "a host pointer");
  bad_arg = true;
}

void emu_enqueue_kernel(const char *kernel, dim3 grid, dim3 block, std::function<void()> f) {
  static bool registered;
  if (!registered) registered = !atexit(print_stats);
  if (bad_arg) { /* reported by emu_check_kernel_arg */
    bad_arg = false;
    return;
  }
  unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
  if (!nt || nt > MAXT || block.z > 64 || !grid.x || !grid.y || !grid.z || grid.x > 2147483647u ||
      grid.y > 65535 || grid.z > 65535) {
    fail(cudaErrorInvalidConfiguration, "%s<<<(%u,%u,%u), (%u,%u,%u)>>>: not a valid launch configuration",
         kernel, grid.x, grid.y, grid.z, block.x, block.y, block.z);
    return;
  }
  enqueue(kernel, [=]() { run_grid(kernel, grid, block, f); });
}

/* ---- device math: glibc's, moved by a few ulps ------------------------------------------------------ */

static uint32_t mix32(uint64_t x) {
  x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33;
  return (uint32_t)x;
}

static float nudge(float r, uint64_t key, int ulps) {
  uint32_t b;
  memcpy(&b, &r, sizeof b);
  if (!isfinite(r) || (b & 0x7fffffffu) < 16) return r;
  b += (uint32_t)((int)(mix32(key) % (2 * ulps + 1)) - ulps);
  float o;
  memcpy(&o, &b, sizeof o);
  return isfinite(o) ? o : r;
}

static double nudge(double r, uint64_t key, int ulps) {
  uint64_t b;
  memcpy(&b, &r, sizeof b);
  if (!isfinite(r) || (b & 0x7fffffffffffffffull) < 16) return r;
  b += (uint64_t)(int64_t)((int)(mix32(key) % (2 * ulps + 1)) - ulps);
  double o;
  memcpy(&o, &b, sizeof o);
  return isfinite(o) ? o : r;
}

template <typename T> static uint64_t bits(T x) {
  uint64_t b = 0;
  memcpy(&b, &x, sizeof x);
  return b;
}

/* exp(0) and log(1) are exact in every library */
float emu_expf(float x) {
  return x == 0.0f ? 1.0f : nudge(expf(x), bits(x), 2);
}
float emu_logf(float x) {
  return x == 1.0f ? 0.0f : nudge(logf(x), bits(x), 1);
}
double emu_exp(double x) {
  return x == 0.0 ? 1.0 : nudge(exp(x), bits(x), 1);
}
double emu_log(double x) {
  return x == 1.0 ? 0.0 : nudge(log(x), bits(x), 1);
}

/* ---- cuBLAS ---------------------------------------------------------------------------------------- */

struct emu_blas {
  int tf32;
};

cublasStatus_t cublasCreate(cublasHandle_t *h) {
  *h = new emu_blas{0};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  flush();
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  (void)s;
  return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->tf32 = m == CUBLAS_TF32_TENSOR_OP_MATH;
  return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s) {
  if (s == CUBLAS_STATUS_INVALID_VALUE && blas_msg[0]) return blas_msg;
  return s == CUBLAS_STATUS_SUCCESS ? "success" : "emulated cuBLAS error";
}
const char *cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
  case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

static cublasStatus_t blas_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cublasStatus_t blas_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(blas_msg, sizeof blas_msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "emu: %s\n", blas_msg);
  return CUBLAS_STATUS_INVALID_VALUE;
}

/* TF32: the mantissa rounded to 10 bits (to nearest) */
static float tf32(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & ~0x1fffu;
  memcpy(&x, &b, sizeof b);
  return x;
}

/* Does the stored matrix (rows x cols, leading dimension ld), batch times
 * stride apart, lie inside one device allocation? */
static bool fits(const float *p, int rows, int cols, int ld, long long stride, int batch) {
  if (rows <= 0 || cols <= 0 || batch <= 0) return true;
  size_t extent = ((size_t)cols - 1) * ld + rows + (size_t)(batch - 1) * (size_t)stride;
  return is_device(p, extent * sizeof(float));
}

static cublasStatus_t gemm(const char *fn, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                           int m, int n, int k, const float *alpha, const float *A, int lda, long long sA,
                           const float *B, int ldb, long long sB, const float *beta, float *C, int ldc,
                           long long sC, int batch) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  int arows = ta == CUBLAS_OP_N ? m : k, acols = ta == CUBLAS_OP_N ? k : m;
  int brows = tb == CUBLAS_OP_N ? k : n, bcols = tb == CUBLAS_OP_N ? n : k;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, arows) || ldb < std::max(1, brows) ||
      ldc < std::max(1, m) || sA < 0 || sB < 0 || sC < 0)
    return blas_fail("%s: invalid value: m %d n %d k %d lda %d ldb %d ldc %d strides %lld %lld %lld batch %d",
                     fn, m, n, k, lda, ldb, ldc, sA, sB, sC, batch);
  if (!m || !n || !batch) return CUBLAS_STATUS_SUCCESS;
  if (k && !fits(A, arows, acols, lda, sA, batch))
    return blas_fail("%s: A (%d x %d, lda %d, %d batches %lld apart) does not fit one device allocation", fn,
                     arows, acols, lda, batch, sA);
  if (k && !fits(B, brows, bcols, ldb, sB, batch))
    return blas_fail("%s: B (%d x %d, ldb %d, %d batches %lld apart) does not fit one device allocation", fn,
                     brows, bcols, ldb, batch, sB);
  if (!fits(C, m, n, ldc, sC, batch))
    return blas_fail("%s: C (%d x %d, ldc %d, %d batches %lld apart) does not fit one device allocation", fn,
                     m, n, ldc, batch, sC);
  float al = *alpha, be = *beta; /* host scalars, read at the call */
  bool round = h->tf32;
  stats.gemms++;
  enqueue(fn, [=]() {
    std::vector<float> at((size_t)m * k), bt((size_t)n * k); /* op(A) by rows, op(B) by columns */
    for (int b = 0; b < batch; b++) {
      const float *Ab = A + b * sA, *Bb = B + b * sB;
      float *Cb = C + b * sC;
      for (int i = 0; i < m; i++)
        for (int l = 0; l < k; l++) {
          float v = ta == CUBLAS_OP_N ? Ab[i + (size_t)l * lda] : Ab[l + (size_t)i * lda];
          at[(size_t)i * k + l] = round ? tf32(v) : v;
        }
      for (int j = 0; j < n; j++)
        for (int l = 0; l < k; l++) {
          float v = tb == CUBLAS_OP_N ? Bb[l + (size_t)j * ldb] : Bb[j + (size_t)l * ldb];
          bt[(size_t)j * k + l] = round ? tf32(v) : v;
        }
      for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
          const float *ar = &at[(size_t)i * k], *bc = &bt[(size_t)j * k];
          float acc = 0.0f; /* float, k in order, each step a multiply-add rounded once (nearly) */
          for (int l = 0; l < k; l++) acc = (float)((double)ar[l] * bc[l] + acc);
          float *c = &Cb[i + (size_t)j * ldc];
          *c =
              be == 0.0f ? al * acc : (float)((double)al * acc + (double)be * *c); /* beta 0: C is not read */
        }
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb,
                           const float *beta, float *C, int ldc) {
  return gemm("cublasSgemm", h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                         int n, int k, const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb, long long strideB,
                                         const float *beta, float *C, int ldc, long long strideC,
                                         int batchCount) {
  return gemm("cublasSgemmStridedBatched", h, ta, tb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta,
              C, ldc, strideC, batchCount);
}
