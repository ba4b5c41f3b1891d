/* common.cuh: what the CUDA backend's .cu files share: the process-wide
 * stream and cuBLAS handle, the one checking macro, launch sizes and the
 * block reductions. Internal to nodes/backend/cuda. */
#ifndef YT_CUDA_COMMON_CUH
#define YT_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"

extern "C" yt_backend yt_cuda_table; /* table.c */

/* ---- state (backend.cu) ---- */
cudaStream_t yt_cuda_stream(void);
cublasHandle_t yt_cuda_blas(void);
/* Device scratch of at least `bytes`, reused by every operation (they run in
 * order on the one stream); NULL after a failure (recorded). */
void *yt_cuda_scratch(size_t bytes);

/* ---- errors ----
 * Every runtime and cuBLAS call and every launch goes through CU / LAUNCH:
 * on failure the FIRST one is kept as "cuda:N: FILE:LINE: <statement>:
 * <error>" until check() reports and clears it. CU(...) is true on success. */
bool yt_cuda_ok(cudaError_t e, const char *where, const char *stmt, const char *detail);
bool yt_cuda_ok(cublasStatus_t s, const char *where, const char *stmt, const char *detail);

#define YT_STR2(x) #x
#define YT_STR(x) YT_STR2(x)
#define YT_WHERE __FILE__ ":" YT_STR(__LINE__)
#define CU_DETAIL(stmt, detail) yt_cuda_ok((stmt), YT_WHERE, #stmt, (detail))
#define CU(stmt) CU_DETAIL(stmt, nullptr)
/* kernel<<<grid, block, 0, stream>>>(args) then cudaGetLastError(): a bad
 * configuration or an earlier asynchronous failure shows up here */
#ifdef YT_CUDA_EMU /* tests/gpu/emu: the kernel runs on the CPU emulator */
#define YT_KERNEL_CALL(kernel, grid, block, ...)                                                             \
  emu_launch(#kernel, kernel, dim3(grid), dim3(block), __VA_ARGS__)
#else
#define YT_KERNEL_CALL(kernel, grid, block, ...) kernel<<<(grid), (block), 0, yt_cuda_stream()>>>(__VA_ARGS__)
#endif
#define LAUNCH(kernel, grid, block, ...)                                                                     \
  do {                                                                                                       \
    int prof_ = yt_cuda_profiling ? yt_cuda_prof_begin() : -1;                                               \
    YT_KERNEL_CALL(kernel, grid, block, __VA_ARGS__);                                                        \
    yt_cuda_ok(cudaGetLastError(), YT_WHERE, #kernel "<<<" #grid ", " #block ">>>(" #__VA_ARGS__ ")",        \
               nullptr);                                                                                     \
    if (prof_ >= 0) yt_cuda_prof_end(prof_, "%s", #kernel);                                                  \
  } while (0)
/* A cuBLAS call through CU, timed under YT_CUDA_PROFILE as "what m x n x k" */
#define BLAS(what, m, n, k, stmt)                                                                            \
  do {                                                                                                       \
    int prof_ = yt_cuda_profiling ? yt_cuda_prof_begin() : -1;                                               \
    CU(stmt);                                                                                                \
    if (prof_ >= 0) yt_cuda_prof_end(prof_, "%s %d x %d x %d", (what), (int)(m), (int)(n), (int)(k));        \
  } while (0)

/* ---- YT_CUDA_PROFILE (profile.cu): device time per kernel and cuBLAS call,
 * printed on stderr at exit. LAUNCH and BLAS test yt_cuda_profiling first, so
 * that an unprofiled launch makes no extra call; begin returns -1 when it
 * cannot record (then no end); drain reads the finished pairs (check() calls it). */
extern int yt_cuda_profiling;
void yt_cuda_prof_init(void);
int yt_cuda_prof_begin(void);
void yt_cuda_prof_end(int slot, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void yt_cuda_prof_drain(void);

/* ---- launch sizes ---- */
enum {
  THREADS = 256, /* threads per block; a power of two for the tree reductions */
  COLS = 32,     /* column kernels: a block is COLS columns x ROWS row lanes */
  ROWS = 16,
};

/* Blocks for a grid-stride loop over n elements (n > 0). */
static inline unsigned blocks_for(size_t n) {
  size_t b = (n + THREADS - 1) / THREADS;
  return (unsigned)(b < 65536 ? b : 65536);
}

#define FOR_EACH(i, n)                                                                                       \
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)(n);                            \
       i += (size_t)blockDim.x * gridDim.x)

/* ---- block reductions (blockDim.x == THREADS, 1-D blocks; every thread of
 * the block must call them, with the same sequence of calls) ---- */
template <typename T> __device__ T block_sum(T v) {
  __shared__ T sh[THREADS];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  T r = sh[0];
  __syncthreads(); /* sh may be reused by the next call */
  return r;
}

__device__ inline float block_max(float v) {
  __shared__ float sh[THREADS];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s && sh[threadIdx.x + s] > sh[threadIdx.x]) sh[threadIdx.x] = sh[threadIdx.x + s];
    __syncthreads();
  }
  float r = sh[0];
  __syncthreads();
  return r;
}

/* Column blocks (blockDim = COLS x ROWS): the sum over threadIdx.y of v, for
 * column threadIdx.x, returned to every thread. */
__device__ inline double col_sum(double v) {
  __shared__ double sh[ROWS][COLS];
  sh[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  for (int s = ROWS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.y < s) sh[threadIdx.y][threadIdx.x] += sh[threadIdx.y + s][threadIdx.x];
    __syncthreads();
  }
  double r = sh[0][threadIdx.x];
  __syncthreads();
  return r;
}

/* num_frames[b] clamped to 0..F, or F without num_frames (layers.c's frames_of) */
__device__ inline int frames_of(const int32_t *num_frames, int b, int F) {
  if (!num_frames) return F;
  int n = num_frames[b];
  return n < 0 ? 0 : n > F ? F : n;
}

#endif
