/* probe_emu.c: backend/cuda/probe.h for the CPU emulator (tests/gpu/emu):
 * one device, always there. */
#include <stdio.h>

#include "backend/cuda/probe.h"

int yt_cuda_device_count(char *why, size_t cap) {
  snprintf(why, cap, "the CPU emulator's one device");
  return 1;
}

int yt_cuda_selftest(char *why, size_t cap) {
  snprintf(why, cap, "the CPU emulator runs no self test");
  return 0;
}

const char *yt_cuda_build_info(void) {
  return "CUDA emulated on the CPU (tests/gpu/emu)";
}
