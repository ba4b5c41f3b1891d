/* backend.cu: the CUDA backend's process-wide state (device, the compute
 * stream and a copy stream for the inputs, one cuBLAS handle, a scratch
 * buffer), its sticky first error, yt_cuda_open and the memory entries. The
 * operations are in matmul.cu, layers.cu, loss.cu and steps.cu; the table in
 * table.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/common.cuh"

/* One process drives one device from one thread (backend.h), so plain statics. */
static struct {
  int open;
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
  void *scratch;
  size_t scratch_bytes;
  int err_code; /* the first failure since the last check, 0 when none */
  char err[sizeof(((yt_err *)0)->msg)];
} st = {0, -1, nullptr, nullptr, nullptr, 0, 0, ""};

/* upload_input: the copy stream, page-locked staging per slot, and events:
 * consumed (compute stream: the inputs' last readers ran), copied (copy
 * stream: the uploads so far ran), done[slot] (the slot's last transfer) */
static struct {
  cudaStream_t copy;
  cudaEvent_t consumed, copied, done[YT_INPUT_SLOTS];
  int consumed_set, pending[YT_INPUT_SLOTS];
  void *stage[YT_INPUT_SLOTS];
  size_t stage_bytes[YT_INPUT_SLOTS];
} inputs;

cudaStream_t yt_cuda_stream(void) {
  return st.stream;
}
cublasHandle_t yt_cuda_blas(void) {
  return st.blas;
}

/* ---- the sticky error ----------------------------------------------------------------- */

static void record(int code, const char *where, const char *stmt, const char *what, const char *detail) {
  if (st.err_code) return; /* the first failure is the one to fix */
  const char *w = strstr(where, "nodes/backend/");
  if (w) where = w + strlen("nodes/");
  snprintf(st.err, sizeof st.err, "cuda:%d: %s: %s: %s%s%s%s", st.device, where, stmt, what,
           detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
  st.err_code = code;
}

bool yt_cuda_ok(cudaError_t e, const char *where, const char *stmt, const char *detail) {
  if (e == cudaSuccess) return true;
  (void)cudaGetLastError(); /* or the next launch's check reports this failure again */
  char what[256];
  snprintf(what, sizeof what, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
  record(e == cudaErrorMemoryAllocation ? YT_ENOMEM : YT_EIO, where, stmt, what, detail);
  return false;
}

bool yt_cuda_ok(cublasStatus_t s, const char *where, const char *stmt, const char *detail) {
  if (s == CUBLAS_STATUS_SUCCESS) return true;
  char what[256];
  snprintf(what, sizeof what, "%s (%s)", cublasGetStatusString(s), cublasGetStatusName(s));
  record(s == CUBLAS_STATUS_ALLOC_FAILED ? YT_ENOMEM : YT_EIO, where, stmt, what, detail);
  return false;
}

/* Moves the sticky error into err and clears it; YT_OK when there is none. */
static int take_error(yt_err *err) {
  int code = st.err_code;
  if (!code) return YT_OK;
  if (err) {
    err->code = code;
    memcpy(err->msg, st.err, sizeof err->msg);
  }
  st.err_code = 0;
  st.err[0] = 0;
  return code;
}

extern "C" int yt_cuda_check(yt_err *err) {
  if (st.open) {
    CU_DETAIL(cudaStreamSynchronize(st.stream),
              "work queued since the last check failed; CUDA_LAUNCH_BLOCKING=1 makes the failing call report "
              "itself");
    /* an input copy queued after the last inputs_ready is not behind the
     * compute stream: its failure is reported here, not one step later */
    if (inputs.copy) CU_DETAIL(cudaStreamSynchronize(inputs.copy), "an input copy queued since the last check failed");
    yt_cuda_prof_drain(); /* YT_CUDA_PROFILE: the stream is idle, reading the events waits for nothing */
  }
  return take_error(err);
}

static const yt_backend *fail(yt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const yt_backend *fail(yt_err *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
  }
  return nullptr;
}

/* ---- opening ------------------------------------------------------------------------------ */

static bool set_math(int allow_tf32) {
  return CU(cublasSetMathMode(st.blas, allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

extern "C" const yt_backend *yt_cuda_open(int device, int allow_tf32, yt_err *err) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (e == cudaErrorNoDevice)
      return fail(err, YT_EIO, "cuda:%d: no such device (0 devices present)", device);
    return fail(err, YT_EIO,
                "cuda:%d: the CUDA driver cannot be used: cudaGetDeviceCount: %s (%s); check that the NVIDIA "
                "driver is installed and loaded (nvidia-smi lists the GPUs), or use device \"cpu\"",
                device, cudaGetErrorString(e), cudaGetErrorName(e));
  }
  if (device < 0 || device >= n)
    return fail(err, YT_EINVAL, "cuda:%d: no such device (%d device%s present)", device, n,
                n == 1 ? "" : "s");
  if (st.open) {
    if (device != st.device)
      return fail(
          err, YT_EUSAGE,
          "cuda:%d: this process already drives cuda:%d (one device per process: run another node for "
          "another GPU)",
          device, st.device);
    if (!set_math(allow_tf32)) {
      take_error(err);
      return nullptr;
    }
    return &yt_cuda_table;
  }
  st.device = device;
  st.err_code = 0;
  if (!CU(cudaSetDevice(device))) goto fail;
  if (!CU(cudaStreamCreateWithFlags(&st.stream, cudaStreamNonBlocking))) goto fail;
  if (!CU(cublasCreate(&st.blas))) goto fail;
  if (!CU(cublasSetStream(st.blas, st.stream))) goto fail;
  if (!CU(cudaStreamCreateWithFlags(&inputs.copy, cudaStreamNonBlocking))) goto fail;
  if (!CU(cudaEventCreateWithFlags(&inputs.consumed, cudaEventDisableTiming)) ||
      !CU(cudaEventCreateWithFlags(&inputs.copied, cudaEventDisableTiming)))
    goto fail;
  for (int i = 0; i < YT_INPUT_SLOTS; i++)
    if (!CU(cudaEventCreateWithFlags(&inputs.done[i], cudaEventDisableTiming))) goto fail;
  if (!set_math(allow_tf32)) goto fail;
  st.open = 1;
  yt_cuda_table.device = device;
  yt_cuda_prof_init();
  return &yt_cuda_table;
fail:
  if (st.blas) cublasDestroy(st.blas);
  if (st.stream) cudaStreamDestroy(st.stream);
  if (inputs.copy) cudaStreamDestroy(inputs.copy);
  st.blas = nullptr;
  st.stream = inputs.copy = nullptr; /* the events are small: left to the process's end */
  take_error(err);
  st.device = -1;
  return nullptr;
}

/* ---- memory ---------------------------------------------------------------------------------- */

extern "C" void *yt_cuda_alloc(size_t bytes) {
  void *p = nullptr;
  char detail[96];
  snprintf(detail, sizeof detail, "%zu bytes, %.1f MiB", bytes, bytes / 1048576.0);
  if (!CU_DETAIL(cudaMalloc(&p, bytes ? bytes : 1), detail)) return nullptr;
  if (!CU(cudaMemsetAsync(p, 0, bytes, st.stream)) || !CU(cudaStreamSynchronize(st.stream))) {
    CU(cudaFree(p));
    return nullptr;
  }
  return p;
}

extern "C" void yt_cuda_free(void *p) {
  if (p) CU(cudaFree(p));
}

extern "C" void *yt_cuda_alloc_host(size_t bytes) {
  void *p = nullptr;
  char detail[96];
  snprintf(detail, sizeof detail, "%zu bytes of page-locked host memory, %.1f MiB", bytes, bytes / 1048576.0);
  if (!CU_DETAIL(cudaMallocHost(&p, bytes ? bytes : 1), detail)) return nullptr;
  memset(p, 0, bytes);
  return p;
}

extern "C" void yt_cuda_free_host(void *p) {
  if (p) CU(cudaFreeHost(p));
}

extern "C" void yt_cuda_upload(void *dst, const void *src, size_t bytes) {
  if (bytes) CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st.stream));
}

/* A step's input: staged in page-locked memory (so the transfer runs at the
 * bus's speed and the caller's src is free at once), sent on the copy stream
 * after the previous inputs' last readers, so that it overlaps what the
 * compute stream still has queued (the previous step's Adam). */
extern "C" void yt_cuda_upload_input(void *dst, const void *src, size_t bytes, int slot) {
  if (!bytes) return;
  if (slot < 0 || slot >= YT_INPUT_SLOTS) {
    char detail[64];
    snprintf(detail, sizeof detail, "slot %d of %d", slot, (int)YT_INPUT_SLOTS);
    CU_DETAIL(cudaErrorInvalidValue, detail);
    return;
  }
  /* the staging buffer is free once its last transfer ran */
  if (inputs.pending[slot] && !CU(cudaEventSynchronize(inputs.done[slot]))) return;
  inputs.pending[slot] = 0;
  if (bytes > inputs.stage_bytes[slot]) {
    if (inputs.stage[slot] && !CU(cudaFreeHost(inputs.stage[slot]))) return;
    inputs.stage[slot] = nullptr;
    inputs.stage_bytes[slot] = 0;
    char detail[96];
    snprintf(detail, sizeof detail, "input staging, %zu bytes of page-locked host memory", bytes);
    if (!CU_DETAIL(cudaMallocHost(&inputs.stage[slot], bytes), detail)) return;
    inputs.stage_bytes[slot] = bytes;
  }
  memcpy(inputs.stage[slot], src, bytes);
  /* dst may still be read by work queued before the last inputs_done */
  if (inputs.consumed_set && !CU(cudaStreamWaitEvent(inputs.copy, inputs.consumed, 0))) return;
  if (!CU(cudaMemcpyAsync(dst, inputs.stage[slot], bytes, cudaMemcpyHostToDevice, inputs.copy))) return;
  /* the copy is queued: until an event says it ran, the staging buffer is
   * not ours; if the event cannot be recorded, wait for the copy here */
  if (CU(cudaEventRecord(inputs.done[slot], inputs.copy))) inputs.pending[slot] = 1;
  else (void)cudaStreamSynchronize(inputs.copy);
}

extern "C" void yt_cuda_inputs_ready(void) {
  if (CU(cudaEventRecord(inputs.copied, inputs.copy))) CU(cudaStreamWaitEvent(st.stream, inputs.copied, 0));
}

extern "C" void yt_cuda_inputs_done(void) {
  if (CU(cudaEventRecord(inputs.consumed, st.stream))) inputs.consumed_set = 1;
}

extern "C" void yt_cuda_download(void *dst, const void *src, size_t bytes) {
  if (bytes) CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, st.stream));
  CU(cudaStreamSynchronize(st.stream));
}

extern "C" void yt_cuda_zero(void *p, size_t bytes) {
  if (bytes) CU(cudaMemsetAsync(p, 0, bytes, st.stream));
}

extern "C" void yt_cuda_copy(void *dst, const void *src, size_t bytes) {
  if (bytes) CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, st.stream));
}

void *yt_cuda_scratch(size_t bytes) {
  if (bytes <= st.scratch_bytes) return st.scratch;
  size_t want = bytes < 65536 ? 65536 : bytes;
  /* the old scratch may be in use by queued kernels */
  if (!CU(cudaStreamSynchronize(st.stream))) return nullptr;
  if (st.scratch && !CU(cudaFree(st.scratch))) return nullptr;
  st.scratch = nullptr;
  st.scratch_bytes = 0;
  char detail[96];
  snprintf(detail, sizeof detail, "scratch of %zu bytes", want);
  if (!CU_DETAIL(cudaMalloc(&st.scratch, want), detail)) {
    st.scratch = nullptr;
    return nullptr;
  }
  st.scratch_bytes = want;
  return st.scratch;
}
