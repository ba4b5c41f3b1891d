/* bench_flops.c: CPU training throughput of the models, in examples/s and in
 * GFLOP/s as a fraction of OpenBLAS sgemm's peak measured in the same run.
 *
 *   bench_flops [--repeat 3] [--steps 5] [--quick] [--only MODEL]
 *   (--quick: no default-size DBoF; --only: the configurations whose model type
 *   is MODEL, e.g. NetVLADModelLF, for a profiler)
 *
 * Peak: the best median sgemm (C = A B, 2 m n k flops) over squares of n =
 * 512 .. 3072 and each model's widest gemm shape, with the threads OpenBLAS
 * would use in a train node. Then,
 * for each model configuration, `steps` training steps (forward, backward,
 * Adam with clipping: what the train node does per batch, without the input
 * pipeline) on random inputs, timed `repeat` times; flops per example from
 * yt_model_flops(m, 1) (multiply-adds x 2 of forward + backward). The shapes
 * the models use are narrower than square gemms (B x D times D x C, with B the
 * batch), so a fraction well under 1 is expected; the figure says how much of
 * the machine the math gets, the remainder being elementwise work (sigmoid,
 * softmax, batch norm, pooling, Adam) and gemm shapes below the peak. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/adam.h"
#include "model/model.h"
#include "bench_util.h"

/* GFLOP/s of C[m,n] = A[m,k] B[k,n]: median of `repeat` timings, each of
 * enough calls to take ~0.1 s. */
static double sgemm_gflops(int m, int n, int k, int repeat) {
  float *a = malloc(sizeof(float) * (size_t)m * (size_t)k), *b = malloc(sizeof(float) * (size_t)k * (size_t)n),
        *c = malloc(sizeof(float) * (size_t)m * (size_t)n);
  for (size_t i = 0; i < (size_t)m * (size_t)k; i++) a[i] = bench_frand() - 0.5f;
  for (size_t i = 0; i < (size_t)k * (size_t)n; i++) b[i] = bench_frand() - 0.5f;
  double flops = 2.0 * m * n * k;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n); /* warm */
  double t0 = bench_now();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
  double one = bench_now() - t0;
  int calls = one > 0 ? (int)(0.1 / one) + 1 : 10;
  double g[32];
  if (repeat > 32) repeat = 32;
  for (int r = 0; r < repeat; r++) {
    t0 = bench_now();
    for (int i = 0; i < calls; i++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    g[r] = flops * calls / (bench_now() - t0) / 1e9;
  }
  free(a), free(b), free(c);
  return bench_median(g, repeat);
}

typedef struct bench_model {
  const char *label;
  const char *model;
  int frame, batch, classes, clusters, hidden, iterations;
} bench_model;

/* Median examples/s of `steps` training steps, `repeat` times. */
static int train_rate(const bench_model *bm, int steps, int repeat, double *rate, double *flops, size_t *params) {
  yt_err err = {0};
  yt_model_config cfg = {0};
  snprintf(cfg.model, sizeof cfg.model, "%s", bm->model);
  yt_model_config_defaults(&cfg);
  cfg.num_classes = bm->classes;
  cfg.feature_dim = 1152;
  cfg.frame_features = bm->frame;
  cfg.max_frames = 300;
  if (!strcmp(bm->model, "NetVLADModelLF")) { /* the small configuration of graphs/train_netvlad_small.flow */
    cfg.netvlad_cluster_size = bm->clusters;
    cfg.netvlad_hidden_size = bm->hidden;
    cfg.moe_l2 = 1e-6f;
  } else if (!strcmp(bm->model, "LstmModel")) { /* clusters = layers, hidden = cells */
    cfg.lstm_layers = bm->clusters;
    cfg.lstm_cells = bm->hidden;
  } else {
    if (bm->clusters) cfg.dbof_cluster_size = bm->clusters;
    if (bm->hidden) cfg.dbof_hidden_size = bm->hidden;
  }
  if (bm->iterations) cfg.iterations = bm->iterations;
  cfg.seed = 1;
  yt_model *m;
  if (yt_model_new(&m, &cfg, bm->batch, &err) < 0) {
    fprintf(stderr, "bench_flops: %s: %s\n", bm->label, err.msg);
    return -1;
  }
  yt_model_init_params(m, 1);
  yt_adam adam;
  if (yt_adam_init(&adam, yt_model_num_params(m), &err) < 0) {
    fprintf(stderr, "bench_flops: %s\n", err.msg);
    yt_model_free(m);
    return -1;
  }
  int B = bm->batch, F = bm->frame ? cfg.max_frames : 1, C = bm->classes;
  size_t nx = (size_t)B * (size_t)F * 1152;
  float *x = malloc(sizeof(float) * nx), *labels = calloc((size_t)B * (size_t)C, sizeof(float)),
        *probs = malloc(sizeof(float) * (size_t)B * (size_t)C);
  int32_t *nf = malloc(sizeof(int32_t) * (size_t)B);
  for (size_t i = 0; i < nx; i++) x[i] = 4.0f * bench_frand() - 2.0f; /* the dequantized range */
  for (int b = 0; b < B; b++) {
    nf[b] = bm->frame ? 60 + (int)(bench_frand() * 241) : 1; /* gen's 60..300 frames */
    for (int j = 0; j < 3; j++) labels[(size_t)b * (size_t)C + (size_t)(bench_frand() * (float)C) % (size_t)C] = 1.0f;
  }
  double r[32];
  if (repeat > 32) repeat = 32;
  int rc = 0;
  for (int k = 0; k <= repeat && !rc; k++) { /* round 0 warms up (first touch of the activations) */
    double t0 = bench_now();
    for (int s = 0; s < steps && !rc; s++) {
      float loss, reg;
      rc = yt_model_forward(m, x, nf, B, 1, probs, &err);
      if (!rc) rc = yt_model_backward(m, labels, &loss, &reg, &err);
      if (!rc) yt_adam_step(&adam, m, 0.01f, 1.0f);
    }
    if (k > 0) r[k - 1] = (double)steps * B / (bench_now() - t0);
  }
  if (rc) fprintf(stderr, "bench_flops: %s: %s\n", bm->label, err.msg);
  else *rate = bench_median(r, repeat);
  *flops = yt_model_flops(m, 1);
  *params = yt_model_num_params(m);
  free(x), free(labels), free(probs), free(nf);
  yt_adam_free(&adam);
  yt_model_free(m);
  return rc;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows as it comes, also into a file */
  int repeat = 3, steps = 5, quick = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: bench_flops [--repeat 3] [--steps 5] [--quick] [--only MODEL]\n");
      return 2;
    }
  }
  if (repeat < 1 || steps < 1) {
    fprintf(stderr, "bench_flops: --repeat and --steps must be >= 1\n");
    return 2;
  }
  bench_model models[] = {
      {"MoeModel (video, C 3862, M 2)", "MoeModel", 0, 128, 3862, 0, 0, 0},
      {"LogisticModel (video, C 3862)", "LogisticModel", 0, 128, 3862, 0, 0, 0},
      {"DbofModel small (K 1024, H 512)", "DbofModel", 1, 128, 3862, 1024, 512, 30},
      {"DbofModel default (K 8192, H 1024)", "DbofModel", 1, 128, 3862, 8192, 1024, 30},
      {"NetVLADModelLF small (K 32, H 256)", "NetVLADModelLF", 1, 128, 3862, 32, 256, 30},
      {"LstmModel small (1 x 128 cells)", "LstmModel", 1, 128, 3862, 1, 128, 0},
  };
  /* --quick: the first three and NetVLAD small; --only: those of one model type */
  int order[] = {0, 1, 2, 4, 3, 5};
  int n_models = quick ? 4 : 6;
  if (only) {
    int n = 0;
    for (int j = 0; j < 6; j++) /* --quick still leaves out the default-size DBoF (index 3) */
      if (!strcmp(models[order[j]].model, only) && !(quick && order[j] == 3)) order[n++] = order[j];
    if (!n) {
      fprintf(stderr, "bench_flops: --only %s: no such model (MoeModel, LogisticModel, DbofModel, NetVLADModelLF, "
                      "LstmModel)\n", only);
      return 2;
    }
    n_models = n;
  }
  printf("== OpenBLAS sgemm (%s, %d threads), C = A B, median of %d ==\n", openblas_get_config(),
         openblas_get_num_threads(), repeat);
  int sizes[] = {512, 1024, 2048, 3072};
  double peak = 0;
  for (int i = 0; i < (quick ? 2 : 4); i++) {
    double g = sgemm_gflops(sizes[i], sizes[i], sizes[i], repeat);
    printf("  n = %4d: %7.1f GFLOP/s\n", sizes[i], g);
    if (g > peak) peak = g;
  }
  /* each model's widest gemm alone, measured first: a shape can beat the
   * squares, and the peak is the best sgemm seen in this run */
  double shape_g[6];
  for (int j = 0; j < n_models; j++) {
    int i = order[j];
    const bench_model *bm = &models[i];
    int C3 = bm->classes * (strcmp(bm->model, "MoeModel") ? 1 : 3); /* MoE: gates (M + 1) and experts M at once */
    int gm = bm->batch, gk = 1152, gn = C3; /* video level: [B x 1152] x [1152 x C(2M+1)] */
    if (!strcmp(bm->model, "DbofModel")) gm = bm->batch * bm->iterations, gn = bm->clusters;
    if (!strcmp(bm->model, "NetVLADModelLF")) /* the hidden layer: [B x VLAD] x [VLAD x H] */
      gk = 1024 * bm->clusters + 128 * (bm->clusters / 2), gn = bm->hidden;
    if (!strcmp(bm->model, "LstmModel")) gm = bm->batch * 300, gn = 4 * bm->hidden; /* x W_x over all frames */
    shape_g[i] = sgemm_gflops(gm, gn, gk, repeat);
    printf("  %s widest gemm [%d x %d] x [%d x %d]: %.1f GFLOP/s\n", bm->label, gm, gk, gk, gn, shape_g[i]);
    if (shape_g[i] > peak) peak = shape_g[i];
  }
  printf("  peak (best sgemm above): %.1f GFLOP/s\n\n", peak);
  printf("== training steps (forward + backward + Adam), batch 128, %d steps x %d, median ==\n", steps, repeat);
  printf("  %-36s %10s %10s %11s %9s %8s %10s\n", "model", "params", "GFLOP/ex", "examples/s", "GFLOP/s", "of peak",
         "its gemm");
  int failed = 0;
  for (int j = 0; j < n_models; j++) {
    int i = order[j];
    double rate = 0, flops = 0;
    size_t params = 0;
    if (train_rate(&models[i], steps, repeat, &rate, &flops, &params) < 0) {
      failed = 1;
      continue;
    }
    printf("  %-36s %10zu %10.4f %11.1f %9.1f %7.1f%% %9.1f%%\n", models[i].label, params, flops / 1e9, rate,
           rate * flops / 1e9, 100.0 * rate * flops / 1e9 / peak, 100.0 * shape_g[i] / peak);
  }
  printf("  (GFLOP/ex: forward + backward per example, yt_model_flops; of peak: achieved / peak; its gemm:\n"
         "   the model's widest sgemm alone / peak, what the shape allows)\n");
  return failed;
}
