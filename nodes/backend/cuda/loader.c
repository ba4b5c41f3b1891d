/* loader.c: the CUDA backend as the yt8m-flow binary sees it: yt_cuda_open
 * and the probe (cuda_backend.h, probe.h) load libyt8m-cuda.so, the real
 * backend, on first use and call its versions.
 *
 * Why: linked into the binary, libcudart + libcublas + libcublasLt (~0.7 GB
 * of libraries) cost every process 26k page faults, ~90 ms of CPU and 220 MB
 * of RSS at start (measured: `yt8m-flow version`, 0.107 s against 0.007 s
 * without them), and every node of every graph is a process: a 4-node
 * pipeline paid ~0.36 s of CPU before its first record, and a reader's RSS
 * was mostly cuBLAS. Only a train or infer node with device = "cuda:N" (and
 * `yt8m-flow version`) needs the libraries now.
 *
 * Where: $YT_CUDA_MODULE if set; else libyt8m-cuda.so beside the executable;
 * else the path it was built at (tests run from build/tests/...). */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/probe.h"

#define MODULE "libyt8m-cuda.so"

static void *handle;
static char tried[3][PATH_MAX + 32], why_not[1024];

/* The module's handle, or NULL with why_not filled (once per process). */
static void *module(void) {
  static int done;
  if (done) return handle;
  done = 1;
  const char *env = getenv("YT_CUDA_MODULE");
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = 0;
  char *slash = strrchr(self, '/');
  if (slash) slash[1] = 0;
  int k = 0;
  if (env && *env) snprintf(tried[k++], sizeof tried[0], "%s", env);
  else {
    if (slash) snprintf(tried[k++], sizeof tried[0], "%s%s", self, MODULE);
#ifdef YT_CUDA_MODULE_BUILT
    snprintf(tried[k++], sizeof tried[0], "%s", YT_CUDA_MODULE_BUILT);
#endif
  }
  why_not[0] = 0;
  for (int i = 0; i < k && !handle; i++) {
    handle = dlopen(tried[i], RTLD_NOW | RTLD_LOCAL);
    if (!handle && (!why_not[0] || access(tried[i], F_OK) == 0)) /* the most telling error */
      snprintf(why_not, sizeof why_not, "%s", dlerror());
  }
  if (!handle && !why_not[0]) snprintf(why_not, sizeof why_not, "%s not found", MODULE);
  return handle;
}

static void *sym(const char *name) {
  void *h = module();
  return h ? dlsym(h, name) : NULL;
}

const yt_backend *yt_cuda_open(int device, int allow_tf32, yt_err *err) {
  const yt_backend *(*open)(int, int, yt_err *) = (const yt_backend *(*)(int, int, yt_err *))sym("yt_cuda_open");
  if (!open) {
    yt_fail(err, YT_EUSAGE,
            "cuda:%d: cannot load the CUDA backend (%s): %s; put %s beside the yt8m-flow binary or name it in "
            "YT_CUDA_MODULE, or use device \"cpu\"",
            device, tried[0], why_not, MODULE);
    return NULL;
  }
  return open(device, allow_tf32, err);
}

int yt_cuda_device_count(char *why, size_t cap) {
  int (*count)(char *, size_t) = (int (*)(char *, size_t))sym("yt_cuda_device_count");
  if (!count) {
    snprintf(why, cap, "cannot load the CUDA backend: %s", why_not);
    return 0;
  }
  return count(why, cap);
}

int yt_cuda_selftest(char *why, size_t cap) {
  int (*test)(char *, size_t) = (int (*)(char *, size_t))sym("yt_cuda_selftest");
  if (!test) {
    snprintf(why, cap, "cannot load the CUDA backend: %s", why_not);
    return -1;
  }
  return test(why, cap);
}

const char *yt_cuda_build_info(void) {
  const char *(*info)(void) = (const char *(*)(void))sym("yt_cuda_build_info");
  return info ? info() : "CUDA backend not loadable";
}
