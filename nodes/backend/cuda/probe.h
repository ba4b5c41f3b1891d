/* probe.h: is there a usable CUDA device? Built from probe.cu with CUDA, from
 * probe_none.c without. Any CUDA error counts as "no device" (without a GPU
 * cudaGetDeviceCount fails with "driver version is insufficient"). */
#ifndef YT_CUDA_PROBE_H
#define YT_CUDA_PROBE_H

#include <stddef.h>

/* Number of devices (>= 0); when 0, why[] says why. */
int yt_cuda_device_count(char *why, size_t cap);
/* Runs a tiny kernel on device 0 (out[i] = 2*i) to prove the toolchain and
 * the driver agree; 0 on success, -1 with why[] on failure. */
int yt_cuda_selftest(char *why, size_t cap);
/* "CUDA 13.0" or "built without CUDA". */
const char *yt_cuda_build_info(void);

#endif
