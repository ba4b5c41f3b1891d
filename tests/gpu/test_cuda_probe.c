/* test_cuda_probe: the CUDA toolchain and a device agree (one kernel, checked
 * on the host). Exits 77 (skipped) where no device is present, or in a build
 * without CUDA. */
#include <stdio.h>

#include "backend/cuda/probe.h"

int main(void) {
  char why[512] = "";
  int n = yt_cuda_device_count(why, sizeof why);
  if (n <= 0) {
    printf("test_cuda_probe: skipped: %s\n", why);
    return 77;
  }
  if (yt_cuda_selftest(why, sizeof why) != 0) {
    fprintf(stderr, "test_cuda_probe: FAILED on %d device(s): %s\n", n, why);
    return 1;
  }
  printf("test_cuda_probe: %d device(s), %s, kernel ok\n", n, yt_cuda_build_info());
  return 0;
}
