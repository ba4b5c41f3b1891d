/* test_model_parity: every model trained for a few steps on the CPU backend
 * and on cuda:0 from the same initial weights, on the same batches: the
 * probabilities, the loss, every gradient tensor and the weights after Adam
 * must agree. Exits 77 (skipped) where cuda:0 cannot be opened (no device, or
 * a build without CUDA).
 *
 * Each step starts both models from the CPU's weights (moving statistics
 * included), so that one step's rounding differences do not compound: a
 * gradient that is zero in exact arithmetic (input_bn/beta: a batch norm's
 * dx sums to zero over the rows) holds rounding noise on both sides, and
 * Adam, which normalizes by its own history, turns noise into lr-sized
 * steps. The Adam step is then compared on its own: the device gets the
 * CPU's gradients, and both updates must agree.
 *
 * Tolerance: |gpu - cpu| <= TOL * max(|cpu|, 1% of the largest |cpu| of the
 * tensor, or of the model's largest gradient for a gradient). sgemm sums in
 * another order on the device (cuBLAS; TF32 off). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "check.h"
#include "model/adam.h"
#include "formats/yt8m.h"
#include "model/model.h"

#define TOL 2e-3
#define STEPS 3

static uint64_t rng = 4242;
static double urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}

/* worst relative error of a against the reference r, relative to at least
 * abs_floor (moving means whose exact value is 0: the batch mean of x W
 * after a batch norm with beta 0 is rounding noise on both sides) */
static double rel_err_floor(const float *a, const float *r, size_t n, double abs_floor) {
  double big = 0, worst = 0;
  for (size_t i = 0; i < n; i++) big = fmax(big, fabs(r[i]));
  double floor = fmax(fmax(big * 0.01, abs_floor), 1e-30);
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - r[i]) / fmax(fabs(r[i]), floor);
    if (!(e <= worst)) worst = e; /* NaN counts as worst */
  }
  return worst;
}
static double rel_err(const float *a, const float *r, size_t n) { return rel_err_floor(a, r, n, 0); }

static void run_model(const char *model, int variant, const yt_backend *gpu) {
  yt_model_config c = {0};
  snprintf(c.model, sizeof c.model, "%s", model);
  yt_model_config_defaults(&c);
  c.num_classes = 37, c.feature_dim = 40, c.max_frames = 12;
  c.iterations = 6, c.dbof_cluster_size = 24, c.dbof_hidden_size = 16;
  c.netvlad_cluster_size = 8, c.netvlad_hidden_size = 16, c.netvlad_video_dim = 32;
  c.lstm_layers = 2, c.lstm_cells = 8;
  c.seed = 7;
  if (variant) { /* NetVLAD's other paths: LightVLAD, no batch norm (biases), linear hidden layer, removed
                   diagonal, no intra-normalization */
    c.lightvlad = 1, c.netvlad_add_batch_norm = 0, c.netvlad_relu = 0, c.gating_remove_diag = 1;
    c.sample_random_frames = 0, c.netvlad_intra_norm = 0;
  }
  int B = 9, C = c.num_classes, F = c.frame_features ? c.max_frames : 1, D = c.feature_dim;
  yt_err err = {0};
  yt_model *cpu = NULL, *dev = NULL;
  if (yt_model_new_on(&cpu, &c, B, yt_backend_cpu(), 2, &err) < 0) {
    CHECK(0, "%s on the CPU: %s", model, err.msg);
    return;
  }
  if (yt_model_new_on(&dev, &c, B, gpu, 2, &err) < 0) {
    CHECK(0, "%s on %s: %s", model, gpu->name, err.msg);
    yt_model_free(cpu);
    return;
  }
  yt_adam ac, ad;
  CHECK(yt_adam_init_for(&ac, cpu, &err) == 0 && yt_adam_init_for(&ad, dev, &err) == 0, "adam: %s", err.msg);
  size_t np = yt_model_num_params(cpu);
  CHECK(np == yt_model_num_params(dev), "%s: parameter counts %zu, %zu", model, np, yt_model_num_params(dev));
  uint8_t *q = calloc((size_t)B * F * D, 1);
  float *x = calloc((size_t)B * F * D, sizeof *x), *y = calloc((size_t)B * C, sizeof *y);
  float *pc = calloc((size_t)B * C, sizeof *pc), *pd = calloc((size_t)B * C, sizeof *pd);
  int32_t nf[9] = {12, 0, 1, 5, 12, 7, 3, 12, 2};
  float *gc = malloc(np * sizeof *gc), *wc = malloc(np * sizeof *wc);
  for (int step = 0; step < STEPS; step++) {
    for (int b = 0; b < B; b++) {
      int n = c.frame_features ? nf[b] : 1;
      for (int t = 0; t < n; t++)
        for (int d = 0; d < D; d++) {
          size_t i = ((size_t)b * F + t) * D + d;
          q[i] = (uint8_t)(urand() * 256); /* frame level: x is q dequantized, so the device can take q */
          x[i] = c.frame_features ? yt_dequantize_table()[q[i]] : (float)(urand() * 2 - 1);
        }
      for (int k = 0; k < C; k++) y[(size_t)b * C + k] = urand() < 0.2 ? 1.0f : 0.0f;
    }
    memcpy(yt_model_params(dev), yt_model_params(cpu), np * sizeof(float)); /* the CPU's weights, bit for bit */
    yt_model_params_changed(dev);
    yt_model_set_sampling_seed(cpu, 100 + step); /* the same sampled frames on both */
    yt_model_set_sampling_seed(dev, 100 + step);
    float lc, ld, rc_, rd;
    int ok = yt_model_forward(cpu, x, c.frame_features ? nf : NULL, B, 1, pc, &err) == 0 &&
             yt_model_backward(cpu, y, &lc, &rc_, &err) == 0;
    CHECK(ok, "%s cpu step %d: %s", model, step, err.msg);
    /* odd steps: the device gets the uint8 frames and dequantizes them itself */
    int u8 = c.frame_features && step % 2;
    ok = ok &&
         (u8 ? yt_model_forward_u8(dev, q, nf, B, 1, pd, &err) : yt_model_forward(dev, x, c.frame_features ? nf : NULL, B, 1, pd, &err)) == 0 &&
         yt_model_backward(dev, y, &ld, &rd, &err) == 0;
    CHECK(ok, "%s %s step %d%s: %s", model, gpu->name, step, u8 ? " (uint8 input)" : "", err.msg);
    if (!ok) break;
    double e = rel_err(pd, pc, (size_t)B * C);
    CHECK(e <= TOL, "%s step %d: probabilities differ by %.3g", model, step, e);
    CHECK(fabs(ld - lc) <= TOL * fabs(lc) && fabs(rd - rc_) <= TOL * fabs(rc_) + 1e-12,
          "%s step %d: loss %.7g vs %.7g, L2 %.7g vs %.7g", model, step, ld, lc, rd, rc_);
    memcpy(gc, yt_model_grads(cpu), np * sizeof *gc);
    const float *gd = yt_model_grads(dev);
    double gmax = 0;
    for (size_t k = 0; k < np; k++) gmax = fmax(gmax, fabs(gc[k]));
    for (int i = 0; i < yt_model_num_tensors(cpu); i++) {
      const yt_tensor_info *t = yt_model_tensor(cpu, i);
      if (!t->trainable) continue;
      double worst = 0;
      for (size_t k = t->offset; k < t->offset + t->numel; k++) {
        double e = fabs((double)gd[k] - gc[k]) / fmax(fabs(gc[k]), fmax(0.01 * gmax, 1e-30));
        if (!(e <= worst)) worst = e;
      }
      CHECK(worst <= TOL, "%s step %d: gradient of %s differs by %.3g", model, step, t->name, worst);
    }
    /* the moving statistics this training forward updated */
    memcpy(wc, yt_model_params(cpu), np * sizeof *wc);
    const float *wd = yt_model_params(dev);
    for (int i = 0; i < yt_model_num_tensors(cpu); i++) {
      const yt_tensor_info *t = yt_model_tensor(cpu, i);
      if (t->trainable) continue;
      double ew = rel_err_floor(wd + t->offset, wc + t->offset, t->numel, 1e-4);
      CHECK(ew <= TOL, "%s step %d: %s differs by %.3g", model, step, t->name, ew);
    }
    /* Adam on the same gradients */
    gpu->upload(yt_model_grads_dev(dev), gc, np * sizeof *gc);
    yt_adam_step(&ac, cpu, 1e-3f, 1.0f);
    yt_adam_step(&ad, dev, 1e-3f, 1.0f);
    CHECK(yt_model_check(dev, &err) == 0, "%s: %s", model, err.msg);
    memcpy(wc, yt_model_params(cpu), np * sizeof *wc);
    wd = yt_model_params(dev);
    for (int i = 0; i < yt_model_num_tensors(cpu); i++) {
      const yt_tensor_info *t = yt_model_tensor(cpu, i);
      if (!t->trainable) continue; /* Adam leaves the moving statistics alone (checked above) */
      double ew = rel_err(wd + t->offset, wc + t->offset, t->numel);
      CHECK(ew <= 1e-5, "%s step %d: %s after Adam on the same gradients differs by %.3g", model, step, t->name,
            ew);
    }
  }
  printf("  %-32s %zu parameters, %d steps: probabilities, loss, gradients, statistics, Adam agree\n", variant ? "NetVLADModelLF (light)" : model, np,
         STEPS);
  free(q), free(x), free(y), free(pc), free(pd), free(gc), free(wc);
  yt_adam_free(&ac), yt_adam_free(&ad);
  yt_model_free(cpu), yt_model_free(dev);
}

int main(void) {
  const yt_backend *gpu;
  yt_err err = {0};
  if (yt_backend_open("cuda:0", 0, &gpu, &err) < 0) {
    printf("test_model_parity: skipped: %s\n", err.msg);
    return 77;
  }
  static const char *const models[] = {"LogisticModel", "MoeModel",  "FrameLevelLogisticModel",
                                       "DbofModel",     "LstmModel", "NetVLADModelLF"};
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) run_model(models[i], 0, gpu);
  run_model("NetVLADModelLF", 1, gpu);
  return check_report("test_model_parity");
}
