/* backend_none.c: the CUDA backend of a build without CUDA (see
 * cuda_backend.h): yt_cuda_open says how to get one. */
#include <stdio.h>

#include "backend/cuda/cuda_backend.h"

const yt_backend *yt_cuda_open(int device, int allow_tf32, yt_err *err) {
  (void)allow_tf32;
  if (err) {
    snprintf(
        err->msg, sizeof err->msg,
        "cuda:%d: this yt8m-flow was built without CUDA; rebuild it with -DYT_CUDA=ON on a machine with the "
        "CUDA toolkit (nvcc and cuBLAS), or use device \"cpu\"",
        device);
    err->code = YT_EUSAGE;
  }
  return NULL;
}
