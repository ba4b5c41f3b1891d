/* cuda_runtime.h of the CPU emulator (tests/gpu/emu; see emu.cc for what it
 * can and cannot catch): the subset of the CUDA runtime and of the device
 * language that nodes/backend/cuda uses, for compiling those .cu files as
 * C++ with g++. Kernels are plain functions; a launch (common.cuh's LAUNCH,
 * emu_launch here) checks its pointer arguments and queues the grid on the
 * one emulated stream. Device memory is host memory the emulator tracks. */
#ifndef YT_EMU_CUDA_RUNTIME_H
#define YT_EMU_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <type_traits>

#define CUDART_VERSION 13000

/* ---- the device language ---- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
/* blocks run one after another, so one static per declaration is the block's
 * shared memory (left as the previous block wrote it, as uninitialized) */
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
/* the running emulated thread's indices */
extern dim3 threadIdx, blockIdx, blockDim, gridDim;
void __syncthreads(void);

/* IEEE float operations that CUDA never fuses: the same as C++'s under
 * -ffp-contract=off */
static inline float __fadd_rn(float a, float b) {
  return a + b;
}
static inline float __fmul_rn(float a, float b) {
  return a * b;
}

/* Blocks run one after another and threads one at a time: atomics are plain. */
static inline float atomicAdd(float *p, float v) {
  float o = *p;
  *p = o + v;
  return o;
}
static inline double atomicAdd(double *p, double v) {
  double o = *p;
  *p = o + v;
  return o;
}

/* The device math library differs from glibc by a few ulps (CUDA's expf: 2,
 * logf, exp, log: 1); the emulated ones are glibc's moved by as much, a
 * deterministic function of the argument, so that the parity test's
 * tolerances meet differences of a GPU's size. Function-like macros: only
 * calls are renamed. */
float emu_expf(float x);
float emu_logf(float x);
double emu_exp(double x);
double emu_log(double x);
#define expf(x) emu_expf(x)
#define logf(x) emu_logf(x)
#define exp(x) emu_exp(x)
#define log(x) emu_log(x)

/* ---- errors ---- */
typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidPitchValue = 12,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
} cudaError_t;
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError(void);

/* ---- device, stream ---- */
typedef struct emu_stream *cudaStream_t;
#define cudaStreamNonBlocking 1
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
/* events: every stream is the one in-order queue here, so recording and
 * waiting order nothing more; synchronizing on one runs the queue */
typedef struct emu_event *cudaEvent_t;
#define cudaEventDefault 0
#define cudaEventDisableTiming 2
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags);
/* no device time here: 0 ms between two recorded timing events */
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

/* ---- memory ---- */
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                              size_t height, cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s);
template <typename T> cudaError_t cudaMalloc(T **p, size_t bytes) {
  return cudaMalloc((void **)p, bytes);
}
template <typename T> cudaError_t cudaMallocHost(T **p, size_t bytes) {
  return cudaMallocHost((void **)p, bytes);
}

/* ---- launches (common.cuh's LAUNCH under YT_CUDA_EMU) ---- */
/* A pointer argument must be NULL or device memory from cudaMalloc. */
void emu_check_kernel_arg(const char *kernel, int i, const void *p);
void emu_enqueue_kernel(const char *kernel, dim3 grid, dim3 block, std::function<void()> body);

template <typename T> inline void emu_kernel_arg(const char *kernel, int i, const T &v) {
  (void)kernel, (void)i, (void)v;
  if constexpr (std::is_pointer<T>::value) emu_check_kernel_arg(kernel, i, (const void *)v);
}

template <typename K, typename... A>
void emu_launch(const char *name, K kernel, dim3 grid, dim3 block, A... args) {
  int i = 0;
  (emu_kernel_arg(name, ++i, args), ...);
  emu_enqueue_kernel(name, grid, block, [=]() { kernel(args...); });
}

#endif
