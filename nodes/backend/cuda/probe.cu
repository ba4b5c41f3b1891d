/* probe.cu: the CUDA device probe and a one-kernel self test (see probe.h). */
#include <stdio.h>

#include <cuda_runtime.h>

extern "C" {
#include "probe.h"
}

extern "C" int yt_cuda_device_count(char *why, size_t cap) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    snprintf(why, cap, "no CUDA device: cudaGetDeviceCount: %s", cudaGetErrorString(e));
    return 0;
  }
  if (n == 0) snprintf(why, cap, "no CUDA device found");
  return n;
}

__global__ static void twice(int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = 2 * i;
}

#define CHECK(stmt)                                                                     \
  do {                                                                                  \
    cudaError_t e_ = (stmt);                                                            \
    if (e_ != cudaSuccess) {                                                            \
      snprintf(why, cap, "%s failed: %s", #stmt, cudaGetErrorString(e_));               \
      goto fail;                                                                        \
    }                                                                                   \
  } while (0)

extern "C" int yt_cuda_selftest(char *why, size_t cap) {
  enum { N = 1000 };
  int host[N], *dev = NULL, rc = -1;
  CHECK(cudaMalloc(&dev, N * sizeof(int)));
  twice<<<(N + 255) / 256, 256>>>(dev, N);
  CHECK(cudaGetLastError());
  CHECK(cudaMemcpy(host, dev, sizeof host, cudaMemcpyDeviceToHost));
  for (int i = 0; i < N; i++)
    if (host[i] != 2 * i) {
      snprintf(why, cap, "kernel result wrong at %d: %d", i, host[i]);
      goto fail;
    }
  rc = 0;
fail:
  if (dev) cudaFree(dev);
  return rc;
}

extern "C" const char *yt_cuda_build_info(void) {
  static char buf[64];
  snprintf(buf, sizeof buf, "CUDA %d.%d", CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
  return buf;
}
