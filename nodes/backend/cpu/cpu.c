/* cpu.c: the CPU backend table (backend.h), yt_backend_open and
 * yt_backend_require.
 *
 * The table's entries are the CPU functions themselves (model/layers.h,
 * model/vlad.h, model/lstm_cell.h, model/loss.h, backend/cpu/ops.h); only the memory entries and
 * loss_forward (which returns its value) are wrapped. Memory is ordinary heap
 * memory, so upload, download and copy are memcpy. Not here: the CUDA table
 * (backend/cuda), the models that call these. */
#include "backend/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/ops.h"
#include "backend/cpu/parallel.h"
#include "backend/cuda/cuda_backend.h"
#include "model/layers.h"
#include "model/loss.h"
#include "model/lstm_cell.h"
#include "model/vlad.h"

/* Every operation of yt_backend by field name, in the struct's order: what
 * yt_backend_require looks names up in. Adding a field to yt_backend means
 * adding it here too; the static assert below notices a missing one. */
// clang-format off
#define YT_BACKEND_OPS(X)                                                                                    \
  X(alloc) X(free) X(alloc_host) X(free_host) X(upload) X(download) X(zero) X(copy)                         \
  X(upload_input) X(inputs_ready) X(inputs_done) X(check)                                                    \
  X(matmul_forward) X(matmul_backward) X(sigmoid_forward) X(sigmoid_backward) X(relu6_forward)              \
  X(relu6_backward) X(softmax_forward) X(softmax_backward) X(batchnorm_forward) X(batchnorm_backward)       \
  X(l2norm_forward) X(l2norm_backward) X(meanpool_forward) X(meanpool_backward) X(maxpool_forward)          \
  X(maxpool_backward) X(moe_combine_forward) X(moe_combine_backward)                                        \
  X(gather_frames) X(cols_forward) X(cols_backward) X(vlad_forward) X(vlad_backward)                        \
  X(l2norm_cols_forward) X(l2norm_cols_backward) X(gate_forward) X(gate_backward)                           \
  X(remove_diag_forward) X(remove_diag_backward)                                                             \
  X(time_major_forward) X(lstm_cell_forward) X(lstm_cell_backward)                                          \
  X(loss_forward) X(loss_backward)                                                                           \
  X(sumsq) X(axpy) X(l2_grad) X(adam_update) X(gather_rows) X(dequantize_frames) X(ema_update)
// clang-format on

#define YT_COUNT_OP(op) +1
_Static_assert(offsetof(yt_backend, alloc) + (0 YT_BACKEND_OPS(YT_COUNT_OP)) * sizeof(void (*)(void)) ==
                   sizeof(yt_backend),
               "yt_backend has an operation that YT_BACKEND_OPS in cpu.c does not list");

/* ---- memory: the heap ------------------------------------------------------------------ */

/* The CPU cannot fail an operation, but it can run out of memory: alloc keeps
 * the first failure for check(), as the device backends do. */
static char oom_msg[256];

static void *cpu_alloc(size_t bytes) {
  void *p = calloc(bytes ? bytes : 1, 1);
  if (!p && !oom_msg[0])
    snprintf(oom_msg, sizeof oom_msg, "cpu: out of memory for %zu bytes (%.1f MiB)", bytes,
             bytes / 1048576.0);
  return p;
}
static void cpu_free(void *p) {
  free(p);
}
static void cpu_upload(void *dst, const void *src, size_t bytes) {
  memcpy(dst, src, bytes);
}
static void cpu_download(void *dst, const void *src, size_t bytes) {
  memcpy(dst, src, bytes);
}
static void cpu_upload_input(void *dst, const void *src, size_t bytes, int slot) {
  (void)slot; /* nothing to stage: the model reads host memory */
  memcpy(dst, src, bytes);
}
static void cpu_inputs_nop(void) {}
static void cpu_copy(void *dst, const void *src, size_t bytes) {
  memmove(dst, src, bytes);
}
static void zero_range(void *p, size_t lo, size_t hi) { memset((char *)p + lo, 0, hi - lo); }
static void cpu_zero(void *p, size_t bytes) {
  /* the gradients every step (zero_grad): tens of MB, the pool's threads share it */
  yt_parallel_for(bytes, 64, (size_t)1 << 18, zero_range, p);
}
static int cpu_check(yt_err *err) {
  if (!oom_msg[0]) return YT_OK;
  int rc = yt_fail(err, YT_ENOMEM, "%s", oom_msg);
  oom_msg[0] = 0;
  return rc;
}

/* ---- the one entry whose CPU twin returns its result ---------------------------------- */

// p, y (B,C)  loss (1)
static void cpu_loss_forward(float *loss, int kind, const float *p, const float *y, int B, int C) {
  loss[0] = yt_loss_forward(kind, p, y, B, C);
}

static const yt_backend cpu_backend = {
    .name = "cpu",
    .device = -1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .alloc_host = cpu_alloc,
    .free_host = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .upload_input = cpu_upload_input,
    .inputs_ready = cpu_inputs_nop,
    .inputs_done = cpu_inputs_nop,
    .check = cpu_check,
    .matmul_forward = yt_matmul_forward,
    .matmul_backward = yt_matmul_backward,
    .sigmoid_forward = yt_sigmoid_forward,
    .sigmoid_backward = yt_sigmoid_backward,
    .relu6_forward = yt_relu6_forward,
    .relu6_backward = yt_relu6_backward,
    .softmax_forward = yt_softmax_forward,
    .softmax_backward = yt_softmax_backward,
    .batchnorm_forward = yt_batchnorm_forward,
    .batchnorm_backward = yt_batchnorm_backward,
    .l2norm_forward = yt_l2norm_forward,
    .l2norm_backward = yt_l2norm_backward,
    .meanpool_forward = yt_meanpool_forward,
    .meanpool_backward = yt_meanpool_backward,
    .maxpool_forward = yt_maxpool_forward,
    .maxpool_backward = yt_maxpool_backward,
    .moe_combine_forward = yt_moe_combine_forward,
    .moe_combine_backward = yt_moe_combine_backward,
    .gather_frames = yt_gather_frames,
    .cols_forward = yt_cols_forward,
    .cols_backward = yt_cols_backward,
    .vlad_forward = yt_vlad_forward,
    .vlad_backward = yt_vlad_backward,
    .l2norm_cols_forward = yt_l2norm_cols_forward,
    .l2norm_cols_backward = yt_l2norm_cols_backward,
    .gate_forward = yt_gate_forward,
    .gate_backward = yt_gate_backward,
    .remove_diag_forward = yt_remove_diag_forward,
    .remove_diag_backward = yt_remove_diag_backward,
    .time_major_forward = yt_time_major_forward,
    .lstm_cell_forward = yt_lstm_cell_forward,
    .lstm_cell_backward = yt_lstm_cell_backward,
    .loss_forward = cpu_loss_forward,
    .loss_backward = yt_loss_backward,
    .sumsq = yt_sumsq,
    .axpy = yt_axpy,
    .l2_grad = yt_l2_grad,
    .adam_update = yt_adam_update,
    .gather_rows = yt_gather_rows,
    .dequantize_frames = yt_dequantize_frames,
    .ema_update = yt_ema_update,
};

const yt_backend *yt_backend_cpu(void) {
  return &cpu_backend;
}

/* ---- opening by name -------------------------------------------------------------------- */

#define DEVICE_FORMS                                                                                         \
  "the accepted forms are \"cpu\" and \"cuda:N\" (N = the CUDA device number, 0 for the first GPU)"

int yt_backend_open(const char *device, int allow_tf32, const yt_backend **out, yt_err *err) {
  *out = NULL;
  if (!device) return yt_fail(err, YT_EUSAGE, "no device given: " DEVICE_FORMS);
  if (!strcmp(device, "cpu")) {
    *out = &cpu_backend;
    return YT_OK;
  }
  if (!strncmp(device, "cuda:", 5)) {
    const char *num = device + 5;
    char *end = NULL;
    errno = 0;
    long n = num[0] >= '0' && num[0] <= '9' ? strtol(num, &end, 10) : -1;
    if (n < 0 || *end || errno || n > 1000000)
      return yt_fail(err, YT_EUSAGE, "device \"%s\": \"%s\" is not a device number; " DEVICE_FORMS, device,
                     num);
    const yt_backend *be = yt_cuda_open((int)n, allow_tf32, err);
    if (!be) return err ? err->code : YT_EIO;
    *out = be;
    return YT_OK;
  }
  return yt_fail(err, YT_EUSAGE, "unknown device \"%s\": " DEVICE_FORMS, device);
}

/* ---- naming a missing operation ------------------------------------------------------------ */

const char *const *yt_backend_op_names(void) {
#define YT_NAME_OP(f) #f,
  static const char *const names[] = {YT_BACKEND_OPS(YT_NAME_OP) NULL};
#undef YT_NAME_OP
  return names;
}

/* 1 when be has op, 0 when the entry is NULL, -1 for a name that is no operation */
static int has_op(const yt_backend *be, const char *op) {
#define YT_HAS_OP(f)                                                                                         \
  if (!strcmp(op, #f)) return be->f != NULL;
  YT_BACKEND_OPS(YT_HAS_OP)
#undef YT_HAS_OP
  return -1;
}

int yt_backend_require(const yt_backend *be, const char *const *ops, yt_err *err) {
  for (size_t i = 0; ops && ops[i]; i++) {
    int has = has_op(be, ops[i]);
    if (has < 0)
      return yt_fail(err, YT_EINVAL,
                     "backend %s: '%s' is not a backend operation (see nodes/backend/backend.h)", be->name,
                     ops[i]);
    if (!has && !strcmp(be->name, "cpu"))
      return yt_fail(err, YT_EINVAL, "backend cpu lacks operation '%s' (its table has no entry for it)",
                     ops[i]);
    if (!has)
      return yt_fail(err, YT_EINVAL,
                     "backend %s lacks operation '%s': run on device \"cpu\", or implement it in "
                     "nodes/backend/%s",
                     be->name, ops[i], be->name);
  }
  return YT_OK;
}
