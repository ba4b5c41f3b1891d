/* module.c: libyt8m-cuda.so, the CUDA backend as a module that the binary
 * loads when a node asks for device "cuda:N" (loader.c). It is libyt_cuda
 * whole: the entry points the loader looks up are yt_cuda_open,
 * yt_cuda_device_count, yt_cuda_selftest and yt_cuda_build_info
 * (cuda_backend.h, probe.h). It must need nothing from the binary, which
 * exports no symbols: test_cuda_module checks that it loads on its own. */
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/probe.h"

/* keeps the entry points' declarations checked against their definitions */
const void *const yt_cuda_module_entries[] = {(const void *)yt_cuda_open, (const void *)yt_cuda_device_count,
                                              (const void *)yt_cuda_selftest, (const void *)yt_cuda_build_info};
