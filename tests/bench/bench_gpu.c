/* bench_gpu.c: training throughput of the models on a CUDA device, in
 * examples/s and as model FLOP utilization (MFU) against cuBLAS sgemm's peak
 * measured in the same run (issue 5: NetVLADModelLF at the winner's defaults,
 * goal >= 50%). The GPU twin of bench_flops.c.
 *
 *   bench_gpu [--device cuda:0] [--repeat 3] [--steps 10] [--tf32] [--all] [--smoke] [--profile]
 *
 * Peak: the best median cublasSgemm (through the backend's matmul_forward,
 * C = A B, 2 m n k flops) over squares n = 2048 .. 8192 and NetVLAD's hidden
 * layer shape [B x VLAD] x [VLAD x H]; with --tf32 the backend is opened with
 * TF32 allowed and the peak is TF32's (then say so when quoting the ratio).
 * Then `steps` training steps per timing (forward on uint8 frames, which the
 * device dequantizes, as the train node does; backward; Adam with clipping),
 * `repeat` timings after one warm-up round, median; flops per example from
 * yt_model_flops(m, 1). --all adds the other default configurations (DBoF,
 * LSTM, MoE); --smoke shrinks every size (for the CPU emulator in CI, where
 * the figures mean nothing and only the path is checked). --profile skips the
 * sgemm peak and sets YT_CUDA_PROFILE=1 (nodes/backend/cuda/profile.cu): the
 * training steps (warm-up included) are timed kernel by kernel and the device
 * time per kernel and per cuBLAS call shape is printed on stderr at exit.
 *
 * Exits 77 when the device cannot be opened (no GPU, or a build without
 * CUDA), 1 when a step fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "model/adam.h"
#include "model/model.h"
#include "bench_util.h"

/* A device buffer of n floats uniform in [-0.5, 0.5), or NULL. */
static float *dev_random(const yt_backend *be, size_t n) {
  float *h = malloc(n * sizeof *h), *d = be->alloc(n * sizeof *d);
  if (h && d) {
    for (size_t i = 0; i < n; i++) h[i] = bench_frand() - 0.5f;
    be->upload(d, h, n * sizeof *h);
  }
  free(h);
  return d;
}

/* GFLOP/s of C[m,n] = A[m,k] B[k,n] on the device: median of `repeat`
 * timings, each of enough calls to take ~0.2 s, synchronized by check().
 * 0 on failure (err set). */
static double sgemm_gflops(const yt_backend *be, int m, int n, int k, int repeat, yt_err *err) {
  float *a = dev_random(be, (size_t)m * k), *b = dev_random(be, (size_t)k * n), *c = be->alloc((size_t)m * n * 4);
  double result = 0;
  if (a && b && c) {
    double flops = 2.0 * m * n * k, g[32];
    be->matmul_forward(c, a, b, NULL, m, k, n); /* warm: cuBLAS picks its kernel */
    if (be->check(err) == YT_OK) {
      double t0 = bench_now();
      be->matmul_forward(c, a, b, NULL, m, k, n);
      be->check(err);
      double one = bench_now() - t0;
      int calls = one > 0 ? (int)(0.2 / one) + 1 : 10;
      if (repeat > 32) repeat = 32;
      int r = 0;
      for (; r < repeat && !err->code; r++) {
        t0 = bench_now();
        for (int i = 0; i < calls; i++) be->matmul_forward(c, a, b, NULL, m, k, n);
        if (be->check(err) == YT_OK) g[r] = flops * calls / (bench_now() - t0) / 1e9;
      }
      if (!err->code) result = bench_median(g, r);
    }
  } else {
    yt_fail(err, YT_ENOMEM, "out of device memory for a [%d x %d] x [%d x %d] sgemm", m, k, k, n);
  }
  if (a) be->free(a);
  if (b) be->free(b);
  if (c) be->free(c);
  return result;
}

typedef struct bench_model {
  const char *label;
  const char *model;
  int frame, batch, classes, clusters, hidden, iterations, max_frames;
} bench_model;

static void configure(const bench_model *bm, yt_model_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->model, sizeof cfg->model, "%s", bm->model);
  yt_model_config_defaults(cfg);
  cfg->num_classes = bm->classes;
  cfg->feature_dim = 1152;
  cfg->frame_features = bm->frame;
  cfg->max_frames = bm->max_frames;
  if (!strcmp(bm->model, "NetVLADModelLF")) { /* graphs/train_netvlad.flow */
    cfg->netvlad_cluster_size = bm->clusters;
    cfg->netvlad_hidden_size = bm->hidden;
    cfg->netvlad_relu = 0, cfg->gating = 1, cfg->moe_prob_gating = 1, cfg->lightvlad = 0;
    cfg->moe_l2 = 1e-6f;
  } else if (!strcmp(bm->model, "LstmModel")) { /* clusters = layers, hidden = cells */
    cfg->lstm_layers = bm->clusters;
    cfg->lstm_cells = bm->hidden;
  } else if (bm->clusters) {
    cfg->dbof_cluster_size = bm->clusters;
    cfg->dbof_hidden_size = bm->hidden;
  }
  if (bm->iterations) cfg->iterations = bm->iterations;
  cfg->seed = 1;
}

/* Median examples/s of `steps` training steps, `repeat` times, on be. */
static int train_rate(const yt_backend *be, const bench_model *bm, int steps, int repeat, double *rate,
                      double *flops, size_t *params, yt_err *err) {
  yt_model_config cfg;
  configure(bm, &cfg);
  yt_model *m = NULL;
  if (yt_model_new_on(&m, &cfg, bm->batch, be, 2, err) < 0) return err->code;
  yt_model_init_params(m, 1);
  yt_model_params_changed(m);
  yt_adam adam;
  if (yt_adam_init_for(&adam, m, err) < 0) {
    yt_model_free(m);
    return err->code;
  }
  int B = bm->batch, F = bm->frame ? cfg.max_frames : 1, C = bm->classes;
  size_t nx = (size_t)B * (size_t)F * 1152;
  /* frame level: uint8 frames, as the train node gets them; video level: floats */
  uint8_t *q = bm->frame ? malloc(nx) : NULL;
  float *x = bm->frame ? NULL : malloc(sizeof(float) * nx),
        *labels = calloc((size_t)B * (size_t)C, sizeof(float)), *probs = malloc(sizeof(float) * (size_t)B * (size_t)C);
  int32_t *nf = malloc(sizeof(int32_t) * (size_t)B);
  int rc = (q || x) && labels && probs && nf ? YT_OK : yt_fail(err, YT_ENOMEM, "out of memory for the inputs");
  for (size_t i = 0; !rc && i < nx; i++) {
    if (q) q[i] = (uint8_t)(bench_frand() * 256);
    else x[i] = 4.0f * bench_frand() - 2.0f; /* the dequantized range */
  }
  for (int b = 0; !rc && b < B; b++) {
    int lo = F / 5 > 0 ? F / 5 : 1; /* gen's 60..300 frames at F = 300 */
    nf[b] = bm->frame ? lo + (int)(bench_frand() * (float)(F - lo + 1)) % (F - lo + 1) : 1;
    for (int j = 0; j < 3; j++) labels[(size_t)b * (size_t)C + (size_t)(bench_frand() * (float)C) % (size_t)C] = 1.0f;
  }
  double r[32];
  if (repeat > 32) repeat = 32;
  for (int k = 0; k <= repeat && !rc; k++) { /* round 0 warms up (allocations, cuBLAS heuristics) */
    double t0 = bench_now();
    for (int s = 0; s < steps && !rc; s++) {
      float loss, reg;
      rc = bm->frame ? yt_model_forward_u8(m, q, nf, B, 1, probs, err) : yt_model_forward(m, x, NULL, B, 1, probs, err);
      if (!rc) rc = yt_model_backward(m, labels, &loss, &reg, err); /* the loss comes back: a sync per step */
      if (!rc) yt_adam_step(&adam, m, 1e-4f, 1.0f);
    }
    if (!rc) rc = yt_model_check(m, err); /* the last Adam step done */
    if (!rc && k > 0) r[k - 1] = (double)steps * B / (bench_now() - t0);
  }
  if (!rc) *rate = bench_median(r, repeat);
  *flops = yt_model_flops(m, 1);
  *params = yt_model_num_params(m);
  free(q), free(x), free(labels), free(probs), free(nf);
  yt_adam_free(&adam);
  yt_model_free(m);
  return rc;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *device = "cuda:0";
  int repeat = 3, steps = 10, tf32 = 0, all = 0, smoke = 0, profile = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
    else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--tf32")) tf32 = 1;
    else if (!strcmp(argv[i], "--all")) all = 1;
    else if (!strcmp(argv[i], "--smoke")) smoke = 1;
    else if (!strcmp(argv[i], "--profile")) profile = 1;
    else {
      fprintf(stderr, "usage: bench_gpu [--device cuda:0] [--repeat 3] [--steps 10] [--tf32] [--all] [--smoke] "
                      "[--profile]\n");
      return 2;
    }
  }
  if (repeat < 1 || steps < 1) {
    fprintf(stderr, "bench_gpu: --repeat and --steps must be >= 1\n");
    return 2;
  }
  if (profile) setenv("YT_CUDA_PROFILE", "1", 1); /* read when the backend opens */
  const yt_backend *be;
  yt_err err = {0};
  if (yt_backend_open(device, tf32, &be, &err) < 0) {
    printf("bench_gpu: skipped: %s\n", err.msg);
    return 77;
  }
  /* the winner's NetVLAD first: the figure issue 5 asks for */
  bench_model full[] = {
      {"NetVLADModelLF (K 256, H 1024, 300 frames)", "NetVLADModelLF", 1, 160, 3862, 256, 1024, 300, 300},
      {"DbofModel default (K 8192, H 1024)", "DbofModel", 1, 160, 3862, 8192, 1024, 30, 300},
      {"LstmModel default (2 x 1024 cells)", "LstmModel", 1, 160, 3862, 2, 1024, 0, 300},
      {"MoeModel (video, C 3862, M 2)", "MoeModel", 0, 1024, 3862, 0, 0, 0, 1},
  };
  bench_model tiny[] = {
      {"NetVLADModelLF (smoke: K 4, H 16, 8 frames)", "NetVLADModelLF", 1, 4, 50, 4, 16, 8, 8},
      {"DbofModel (smoke: K 16, H 8)", "DbofModel", 1, 4, 50, 16, 8, 4, 8},
      {"LstmModel (smoke: 1 x 8 cells)", "LstmModel", 1, 4, 50, 1, 8, 0, 8},
      {"MoeModel (smoke: video, C 50)", "MoeModel", 0, 4, 50, 0, 0, 0, 1},
  };
  bench_model *models = smoke ? tiny : full;
  int n_models = all || smoke ? 4 : 1;

  double peak = 0;
  if (profile) {
    printf("== --profile: no sgemm peak; device time per kernel on stderr at exit ==\n\n");
  } else {
    printf("== cuBLAS sgemm on %s%s, C = A B, median of %d ==\n", be->name, tf32 ? " (TF32 allowed)" : " (FP32)",
           repeat);
    int sizes_full[] = {2048, 4096, 8192}, sizes_tiny[] = {32, 64, 0};
    int *sizes = smoke ? sizes_tiny : sizes_full;
    for (int i = 0; i < 3 && sizes[i]; i++) {
      double g = sgemm_gflops(be, sizes[i], sizes[i], sizes[i], repeat, &err);
      if (err.code) break;
      printf("  n = %4d: %9.1f GFLOP/s\n", sizes[i], g);
      if (g > peak) peak = g;
    }
    /* NetVLAD's widest gemm: the hidden layer, [B x (1024 K + 128 K/2)] x [... x H] */
    const bench_model *nv = &models[0];
    int vlad = 1024 * nv->clusters + 128 * (nv->clusters / 2);
    double nv_gemm = err.code ? 0 : sgemm_gflops(be, nv->batch, nv->hidden, vlad, repeat, &err);
    if (err.code) {
      fprintf(stderr, "bench_gpu: sgemm: %s\n", err.msg);
      return 1;
    }
    printf("  NetVLAD hidden layer [%d x %d] x [%d x %d]: %.1f GFLOP/s\n", nv->batch, vlad, vlad, nv->hidden,
           nv_gemm);
    if (nv_gemm > peak) peak = nv_gemm;
    printf("  peak (best sgemm above): %.1f GFLOP/s\n\n", peak);
  }

  printf("== training steps (uint8 frames in, forward + backward + Adam), %d steps x %d, median ==\n", steps,
         repeat);
  printf("  %-44s %6s %10s %10s %11s %10s %8s\n", "model", "batch", "params", "GFLOP/ex", "examples/s", "GFLOP/s",
         "MFU");
  int failed = 0;
  for (int i = 0; i < n_models; i++) {
    double rate = 0, flops = 0;
    size_t params = 0;
    memset(&err, 0, sizeof err);
    if (train_rate(be, &models[i], steps, repeat, &rate, &flops, &params, &err) != YT_OK) {
      fprintf(stderr, "bench_gpu: %s: %s\n", models[i].label, err.msg);
      failed = 1;
      continue;
    }
    char mfu[16] = "-";
    if (peak > 0) snprintf(mfu, sizeof mfu, "%.1f%%", 100.0 * rate * flops / 1e9 / peak);
    printf("  %-44s %6d %10zu %10.4f %11.1f %10.1f %8s\n", models[i].label, models[i].batch, params, flops / 1e9,
           rate, rate * flops / 1e9, mfu);
  }
  printf("  (GFLOP/ex: forward + backward per example, yt_model_flops; MFU: achieved GFLOP/s / the peak above)\n");
  return failed;
}
