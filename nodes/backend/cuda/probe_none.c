/* probe_none.c: the CUDA probe of a build without CUDA (see probe.h). */
#include <stdio.h>

#include "probe.h"

int yt_cuda_device_count(char *why, size_t cap) {
  snprintf(why, cap, "this yt8m-flow was built without CUDA (configure with -DYT_CUDA=ON)");
  return 0;
}

int yt_cuda_selftest(char *why, size_t cap) {
  snprintf(why, cap, "built without CUDA");
  return -1;
}

const char *yt_cuda_build_info(void) { return "built without CUDA"; }
