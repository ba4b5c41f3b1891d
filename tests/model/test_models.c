/* test_models.c: the four models through the model.h interface.
 * - Gradient check of every model (and DBoF variants) with every loss:
 *   d(label loss + L2)/dparams from yt_model_backward against central
 *   differences of the total loss, which the test computes itself in double
 *   from the probabilities yt_model_forward returns. L2 scales are raised to
 *   0.05 so that the L2 term weighs in.
 * - A short Adam run on a separable synthetic problem must lower the loss.
 * - Tensor tables (TF names, shapes, layout, initializers) for the default
 *   configurations, FLOP counts, input normalization, frame sampling, and
 *   the errors a caller can hit. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "model_ref.h"
#include "model/adam.h"
#include "model/model.h"

/* |a - n| / max(|a|, |n|, 1% of the model's largest |a|); a wrong gradient
 * gives O(1). Looser than test_layers.c's 5e-3: a whole model in float
 * leaves ~1e-7 of rounding in the loss, ~5e-3 after the difference quotient. */
#define GRAD_TOL 1e-2

static uint64_t rng = 777;
static double urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}
static double nrand(void) { return sqrt(-2 * log(1 - urand())) * cos(6.283185307179586 * urand()); }
static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* The small configuration of the gradient checks: C 7, D 12, F 5, K 6, H 4, M 2. */
static yt_model_config small_cfg(const char *model, int loss) {
  yt_model_config c = {0};
  snprintf(c.model, sizeof c.model, "%s", model);
  yt_model_config_defaults(&c);
  c.num_classes = 7, c.feature_dim = 12, c.max_frames = 5, c.label_loss = loss;
  c.l2_penalty = 0.05f, c.moe_l2 = 0.05f;
  c.iterations = 4, c.dbof_cluster_size = 6, c.dbof_hidden_size = 4, c.moe_num_mixtures = 2;
  c.seed = 42;
  return c;
}

/* Inputs: x (B,D) or (B,F,D) zero-padded past num_frames; labels (B,C) mixing
 * hard and soft targets. */
typedef struct {
  int B, F, D, C, frame;
  float *x, *y;
  int32_t *nf;
} batch;

static batch make_batch(const yt_model_config *c, int B) {
  batch b = {.B = B, .F = c->max_frames, .D = c->feature_dim, .C = c->num_classes, .frame = c->frame_features};
  size_t rows = b.frame ? (size_t)B * b.F : (size_t)B;
  b.x = falloc(rows * b.D), b.y = falloc((size_t)B * b.C), b.nf = calloc(B, sizeof *b.nf);
  for (int i = 0; i < B; i++) {
    b.nf[i] = b.frame ? (i == 3 ? 0 : 1 + i % b.F) : 1; /* video 3 has no frame at all */
    int n = b.frame ? b.nf[i] : 1;
    for (int t = 0; t < n; t++)
      for (int d = 0; d < b.D; d++) b.x[((size_t)i * (b.frame ? b.F : 1) + t) * b.D + d] = (float)nrand();
    for (int k = 0; k < b.C; k++) {
      double u = urand();
      b.y[(size_t)i * b.C + k] = u < 0.3 ? 1.0f : u < 0.8 ? 0.0f : (float)urand();
    }
  }
  return b;
}

static void free_batch(batch *b) { free(b->x), free(b->y), free(b->nf); }



/* label loss + L2 of one training forward with the sampling generator at seed 9 */
static double total_loss(yt_model *m, const batch *b, float *probs) {
  yt_err err;
  yt_model_set_sampling_seed(m, 9);
  if (yt_model_forward(m, b->x, b->nf, b->B, 1, probs, &err) < 0) return NAN;
  return ref_loss(m, probs, b->y, b->B) + ref_l2(m);
}

static const char *loss_names[] = {"CE", "Hinge", "Softmax"};

/* d(total loss)/dw at one parameter: the 5-point stencil
 * (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / 12h, truncation O(h^4), so that h
 * can be large enough for the float forward's rounding not to matter. */
static double numeric(yt_model *m, const batch *b, float *probs, float *v, double h) {
  float save = *v;
  double l[4], s[4] = {h, -h, 2 * h, -2 * h};
  for (int i = 0; i < 4; i++) {
    *v = (float)(save + s[i]);
    l[i] = total_loss(m, b, probs);
  }
  *v = save;
  return (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * h);
}

/* relu6 has kinks at 0 and 6: put every pre-activation of a relu6 DBoF well
 * inside (0, 6) or below 0 (columns alternate), so that central differences
 * see a smooth function and both sides of the mask are exercised. */
static void steer_relu6(yt_model *m) {
  float *w = yt_model_params(m);
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    float *v = w + t->offset;
    for (size_t k = 0; k < t->numel; k++) {
      float sign = k % 2 ? -1.0f : 1.0f;
      if (strstr(t->name, "_biases")) v[k] = 2.5f * sign + 0.5f; /* 3 or -2 beside |x W| < 1 */
      if (strstr(t->name, "_bn/beta") && !strstr(t->name, "input_bn")) v[k] = 3.0f * sign; /* 3 +- 2.4 */
      if (strstr(t->name, "_bn/gamma") && !strstr(t->name, "input_bn")) v[k] = 0.4f + 0.05f * (k % 3);
      if (!strcmp(t->name, "tower/hidden1_weights")) v[k] *= 0.2f; /* the pooled inputs reach 3 */
    }
  }
}

/* Every trainable parameter. Max pooling over frames is piecewise smooth:
 * where the estimates at h and h/2 disagree (> 2%), a near tie lies within 2h
 * and the entry is skipped; max-pooling models may skip up to 15% of their
 * entries, the others none. */
static double grad_check(const char *label, yt_model_config cfg, int B) {
  int kinky = !strcmp(cfg.model, "DbofModel") && cfg.dbof_pooling == YT_POOL_MAX;
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &cfg, B, &err) < 0) {
    CHECK(0, "%s: %s", label, err.msg);
    return 1;
  }
  if (!strcmp(cfg.model, "DbofModel") && cfg.dbof_activation == YT_ACT_RELU6) steer_relu6(m);
  batch b = make_batch(&cfg, B);
  float *probs = falloc((size_t)B * cfg.num_classes);
  size_t P = yt_model_num_params(m);
  float *analytic = falloc(P), *w = yt_model_params(m);
  /* analytic gradient; the backward's loss values must match the test's own */
  double want = total_loss(m, &b, probs);
  float label_loss = 0, reg_loss = 0;
  CHECK(yt_model_backward(m, b.y, &label_loss, &reg_loss, &err) == 0, "%s backward: %s", label, err.msg);
  CHECK(fabs(label_loss + reg_loss - want) < 1e-5 * fmax(1, fabs(want)), "%s: backward says loss %.7f + %.7f, test %.7f",
        label, label_loss, reg_loss, want);
  CHECK(reg_loss > 0, "%s: no L2 term", label);
  memcpy(analytic, yt_model_grads(m), P * sizeof *analytic);
  double amax = 0, worst = 0;
  for (size_t k = 0; k < P; k++) amax = fmax(amax, fabs(analytic[k]));
  const char *worst_name = "";
  size_t checked = 0, skipped = 0;
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    if (!t->trainable) continue;
    double tmax = 0;
    for (size_t k = 0; k < t->numel; k++) tmax = fmax(tmax, fabs(analytic[t->offset + k]));
    /* input_bn/beta: a shift of every row that cluster_bn takes out again */
    CHECK(tmax > 0 || strstr(t->name, "input_bn/beta"), "%s: %s gets no gradient", label, t->name);
    for (size_t k = 0; k < t->numel; k++) {
      double n1 = numeric(m, &b, probs, &w[t->offset + k], 1e-2);
      double n2 = numeric(m, &b, probs, &w[t->offset + k], 5e-3), a = analytic[t->offset + k];
      double den = fmax(fmax(fabs(a), fabs(n1)), 1e-2 * amax);
      checked++;
      if (fabs(n1 - n2) > 2e-2 * den) {
        skipped++;
        continue;
      }
      if (fabs(a - n1) / den > worst) worst = fabs(a - n1) / den, worst_name = t->name;
    }
  }
  printf("  %-44s max rel err %.2e (%s), %zu of %zu skipped\n", label, worst, worst_name, skipped, checked);
  CHECK(worst < GRAD_TOL, "%s: max relative gradient error %.3e in %s", label, worst, worst_name);
  CHECK(skipped <= (kinky ? checked * 15 / 100 : 0), "%s: %zu of %zu entries not smooth", label, skipped, checked);
  free(analytic), free(probs), free_batch(&b);
  yt_model_free(m);
  return worst;
}

static void test_gradients(void) {
  const char *models[] = {"LogisticModel", "MoeModel", "FrameLevelLogisticModel", "DbofModel"};
  char label[96];
  for (int i = 0; i < 4; i++)
    for (int loss = 0; loss < 3; loss++) {
      snprintf(label, sizeof label, "%s %s", models[i], loss_names[loss]);
      grad_check(label, small_cfg(models[i], loss), 6);
    }
  yt_model_config c = small_cfg("DbofModel", YT_LOSS_CE);
  c.dbof_add_batch_norm = 0, c.dbof_activation = YT_ACT_RELU6, c.dbof_pooling = YT_POOL_AVERAGE;
  grad_check("DbofModel no BN, relu6, average pooling", c, 6);
  c = small_cfg("DbofModel", YT_LOSS_CE);
  c.dbof_activation = YT_ACT_RELU6, c.sample_random_frames = 0, c.moe_num_mixtures = 3;
  grad_check("DbofModel BN, relu6, max, sequence, M 3", c, 6);
}

/* ---- training on a separable problem -------------------------------------------------- */

/* Labels are the signs of a fixed random projection of a per-video vector v
 * (frame level: frames are v plus noise). Adam at lr 0.02 for 300 steps of
 * 32 from 256 videos must bring the training loss of the last 20 steps under
 * half of the first 5 steps'. */
static void train_run(yt_model_config cfg) {
  const int N = 256, B = 32, steps = 300;
  cfg.l2_penalty = cfg.moe_l2 = 1e-8f;
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &cfg, B, &err) < 0) {
    CHECK(0, "%s: %s", cfg.model, err.msg);
    return;
  }
  int D = cfg.feature_dim, C = cfg.num_classes, F = cfg.frame_features ? cfg.max_frames : 1;
  float *wt = falloc((size_t)D * C), *x = falloc((size_t)N * F * D), *y = falloc((size_t)N * C), *v = falloc(D);
  int32_t *nf = calloc(N, sizeof *nf);
  for (size_t i = 0; i < (size_t)D * C; i++) wt[i] = (float)nrand();
  for (int i = 0; i < N; i++) {
    for (int d = 0; d < D; d++) v[d] = (float)nrand();
    nf[i] = cfg.frame_features ? 2 + i % (F - 1) : 1;
    for (int t = 0; t < nf[i]; t++)
      for (int d = 0; d < D; d++) x[((size_t)i * F + t) * D + d] = v[d] + (cfg.frame_features ? 0.3f * (float)nrand() : 0);
    for (int k = 0; k < C; k++) {
      double s = 0;
      for (int d = 0; d < D; d++) s += v[d] * wt[d * C + k];
      y[(size_t)i * C + k] = s > 0 ? 1.0f : 0.0f;
    }
  }
  yt_adam a;
  CHECK(yt_adam_init(&a, yt_model_num_params(m), &err) == 0, "adam");
  double first = 0, last = 0;
  for (int s = 0; s < steps; s++) {
    int off = (s * B) % N;
    float loss, reg;
    int rc = yt_model_forward(m, x + (size_t)off * F * D, nf + off, B, 1, NULL, &err);
    rc = rc ? rc : yt_model_backward(m, y + (size_t)off * C, &loss, &reg, &err);
    if (rc) {
      CHECK(0, "%s step %d: %s", cfg.model, s, err.msg);
      break;
    }
    if (s < 5) first += loss / 5;
    if (s >= steps - 20) last += loss / 20;
    yt_adam_step(&a, m, 0.02f, 1.0f);
  }
  printf("  %-24s training loss %.3f -> %.3f\n", cfg.model, first, last);
  CHECK(last < 0.5 * first, "%s: training loss %.4f -> %.4f, not halved", cfg.model, first, last);
  /* eval mode runs and gives probabilities */
  float *p = falloc((size_t)B * C);
  CHECK(yt_model_forward(m, x, nf, B, 0, p, &err) == 0, "eval forward");
  int ok = 1;
  for (int i = 0; i < B * C; i++) ok &= p[i] >= 0 && p[i] <= 1;
  CHECK(ok, "%s: eval probabilities outside [0, 1]", cfg.model);
  free(p), free(wt), free(x), free(y), free(v), free(nf);
  yt_adam_free(&a);
  yt_model_free(m);
}

static void test_training(void) {
  const char *models[] = {"LogisticModel", "MoeModel", "FrameLevelLogisticModel", "DbofModel"};
  for (int i = 0; i < 4; i++) {
    yt_model_config c = small_cfg(models[i], YT_LOSS_CE);
    c.feature_dim = 16, c.num_classes = 6, c.dbof_cluster_size = 32, c.dbof_hidden_size = 16;
    train_run(c);
  }
}

/* ---- tensor tables ------------------------------------------------------------------------ */

typedef struct { const char *name; int ndim, s0, s1, trainable; } want_tensor;

static void check_table(const char *model, int add_bn, const want_tensor *want, int n, double fwd_flops) {
  yt_model_config c = {0};
  snprintf(c.model, sizeof c.model, "%s", model);
  yt_model_config_defaults(&c);
  c.dbof_add_batch_norm = add_bn;
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &c, 2, &err) < 0) {
    CHECK(0, "%s: %s", model, err.msg);
    return;
  }
  CHECK(yt_model_num_tensors(m) == n, "%s: %d tensors, want %d", model, yt_model_num_tensors(m), n);
  size_t off = 0;
  for (int i = 0; i < n && i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    CHECK(!strcmp(t->name, want[i].name), "%s tensor %d is %s, want %s", model, i, t->name, want[i].name);
    CHECK(t->ndim == want[i].ndim && t->shape[0] == want[i].s0 && (t->ndim == 1 || t->shape[1] == want[i].s1),
          "%s: %s has shape [%d, %d], want [%d, %d]", model, t->name, t->shape[0], t->ndim > 1 ? t->shape[1] : 0,
          want[i].s0, want[i].s1);
    CHECK(t->trainable == want[i].trainable, "%s: %s trainable %d", model, t->name, t->trainable);
    CHECK(t->offset == off, "%s: %s at offset %zu, want %zu (one contiguous block)", model, t->name, t->offset, off);
    CHECK(yt_model_find_tensor(m, want[i].name) == i, "find %s", want[i].name);
    int weights = strstr(t->name, "gates/weights") || strstr(t->name, "experts/weights") ||
                  strstr(t->name, "fully_connected/weights");
    CHECK(t->l2 == (weights ? 1e-8f : 0.0f), "%s: %s has L2 %g", model, t->name, t->l2);
    off += t->numel;
  }
  CHECK(yt_model_num_params(m) == off, "%s: %zu parameters, tables sum to %zu", model, yt_model_num_params(m), off);
  CHECK(yt_model_find_tensor(m, "tower/nothing") == -1, "find of an unknown name");
  double f = yt_model_flops(m, 0), ft = yt_model_flops(m, 1);
  CHECK(fabs(f - fwd_flops) < 1e-9 * fwd_flops, "%s: forward FLOPs %.6g, want %.6g", model, f, fwd_flops);
  CHECK(ft >= 2 * f && ft <= 3 * f, "%s: training FLOPs %.4g not 2..3x forward %.4g", model, ft, f);
  printf("  %-24s %2d tensors, %zu floats, %.3g GFLOP/example forward, %.3g training\n", model, n,
         yt_model_num_params(m), f / 1e9, ft / 1e9);

  /* initializers: Glorot bound, N(0, 1/sqrt(fan_in)) spread, BN ones and zeros */
  const float *w = yt_model_params(m);
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    double s = 0, s2 = 0, amax = 0;
    for (size_t k = 0; k < t->numel; k++) {
      double v = w[t->offset + k];
      s += v, s2 += v * v, amax = fmax(amax, fabs(v));
    }
    double mean = s / t->numel, sd = sqrt(s2 / t->numel - mean * mean);
    const char *leaf = strrchr(t->name, '/') + 1;
    if (!strcmp(leaf, "gamma") || !strcmp(leaf, "moving_variance"))
      CHECK(s == (double)t->numel && sd == 0, "%s: %s not all ones", model, t->name);
    else if (!strcmp(leaf, "beta") || !strcmp(leaf, "moving_mean") || !strcmp(leaf, "biases"))
      CHECK(amax == 0, "%s: %s not all zeros", model, t->name);
    else if (!strcmp(leaf, "weights")) {
      double a = sqrt(6.0 / (t->shape[0] + t->shape[1]));
      CHECK(amax <= a * (1 + 1e-6) && amax > 0.99 * a && fabs(sd - a / sqrt(3)) < 0.01 * a,
            "%s: %s Glorot U(-%g, %g): max %g sd %g", model, t->name, a, a, amax, sd);
    } else {
      double want_sd = !strcmp(leaf, "cluster_weights") || !strcmp(leaf, "cluster_biases") ? 1 / sqrt(1152.0)
                       : !strcmp(leaf, "hidden1_weights")                                  ? 1 / sqrt(8192.0)
                                                                                           : 0.01;
      double tol = 5 / sqrt(2.0 * t->numel); /* 5 standard errors of a sample deviation */
      CHECK(fabs(sd - want_sd) < tol * want_sd && fabs(mean) < 5 * want_sd / sqrt((double)t->numel),
            "%s: %s N(0, %g): mean %g sd %g", model, t->name, want_sd, mean, sd);
    }
  }
  yt_model_free(m);
}

static void test_tables(void) {
  const int C = 3862;
  want_tensor logistic[] = {{"tower/fully_connected/weights", 2, 1152, C, 1},
                            {"tower/fully_connected/biases", 1, C, 0, 1}};
  check_table("LogisticModel", 1, logistic, 2, 2.0 * 1152 * C);
  check_table("FrameLevelLogisticModel", 1, logistic, 2, 2.0 * 1152 * C);
  want_tensor moe[] = {{"tower/gates/weights", 2, 1152, 11586, 1},
                       {"tower/experts/weights", 2, 1152, 7724, 1},
                       {"tower/experts/biases", 1, 7724, 0, 1}};
  check_table("MoeModel", 1, moe, 3, 2.0 * 1152 * (11586 + 7724));
  double dbof_fwd = 2.0 * 30 * 1152 * 8192 + 2.0 * 8192 * 1024 + 2.0 * 1024 * (11586 + 7724);
  want_tensor dbof[] = {
      {"tower/input_bn/beta", 1, 1152, 0, 1},          {"tower/input_bn/gamma", 1, 1152, 0, 1},
      {"tower/input_bn/moving_mean", 1, 1152, 0, 0},   {"tower/input_bn/moving_variance", 1, 1152, 0, 0},
      {"tower/cluster_weights", 2, 1152, 8192, 1},     {"tower/cluster_bn/beta", 1, 8192, 0, 1},
      {"tower/cluster_bn/gamma", 1, 8192, 0, 1},       {"tower/cluster_bn/moving_mean", 1, 8192, 0, 0},
      {"tower/cluster_bn/moving_variance", 1, 8192, 0, 0}, {"tower/hidden1_weights", 2, 8192, 1024, 1},
      {"tower/hidden1_bn/beta", 1, 1024, 0, 1},        {"tower/hidden1_bn/gamma", 1, 1024, 0, 1},
      {"tower/hidden1_bn/moving_mean", 1, 1024, 0, 0}, {"tower/hidden1_bn/moving_variance", 1, 1024, 0, 0},
      {"tower/gates/weights", 2, 1024, 11586, 1},      {"tower/experts/weights", 2, 1024, 7724, 1},
      {"tower/experts/biases", 1, 7724, 0, 1}};
  check_table("DbofModel", 1, dbof, 17, dbof_fwd);
  want_tensor dbof_nobn[] = {{"tower/cluster_weights", 2, 1152, 8192, 1}, {"tower/cluster_biases", 1, 8192, 0, 1},
                             {"tower/hidden1_weights", 2, 8192, 1024, 1}, {"tower/hidden1_biases", 1, 1024, 0, 1},
                             {"tower/gates/weights", 2, 1024, 11586, 1},  {"tower/experts/weights", 2, 1024, 7724, 1},
                             {"tower/experts/biases", 1, 7724, 0, 1}};
  check_table("DbofModel", 0, dbof_nobn, 7, dbof_fwd);
}

/* ---- behaviour ------------------------------------------------------------------------------- */

static int same(const float *a, const float *b, size_t n, float tol) {
  for (size_t i = 0; i < n; i++)
    if (fabsf(a[i] - b[i]) > tol) return 0;
  return 1;
}

static void test_behaviour(void) {
  yt_err err;
  yt_model *m;
  const int B = 4;
  /* forward L2-normalizes its input: video level scale per video, frame level per frame */
  const char *models[] = {"LogisticModel", "MoeModel", "FrameLevelLogisticModel", "DbofModel"};
  for (int i = 0; i < 4; i++) {
    yt_model_config c = small_cfg(models[i], YT_LOSS_CE);
    CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
    batch b = make_batch(&c, B);
    size_t nx = (size_t)B * (c.frame_features ? c.max_frames : 1) * c.feature_dim, np = (size_t)B * c.num_classes;
    float *p1 = falloc(np), *p2 = falloc(np), *x2 = falloc(nx);
    for (size_t k = 0; k < nx; k++) x2[k] = b.x[k] * (float)(1 + (k / c.feature_dim) % 3); /* rows x1, x2, x3 */
    yt_model_set_sampling_seed(m, 5);
    CHECK(yt_model_forward(m, b.x, b.nf, B, 0, p1, &err) == 0, "%s", err.msg);
    yt_model_set_sampling_seed(m, 5);
    CHECK(yt_model_forward(m, x2, b.nf, B, 0, p2, &err) == 0, "%s", err.msg);
    CHECK(same(p1, p2, np, 1e-6f), "%s: scaling input rows changes the output (no L2 normalization?)", models[i]);
    /* errors a caller can hit */
    CHECK(yt_model_backward(m, b.y, NULL, NULL, &err) == YT_EINVAL, "%s: backward after an eval forward", models[i]);
    CHECK_CONTAINS(err.msg, "training forward");
    CHECK(yt_model_forward(m, b.x, b.nf, B + 1, 1, p1, &err) == YT_EINVAL, "batch over max_batch");
    CHECK_CONTAINS(err.msg, "built for 1..4");
    if (c.frame_features) {
      b.nf[1] = c.max_frames + 1;
      CHECK(yt_model_forward(m, b.x, b.nf, B, 1, p1, &err) == YT_EINVAL, "num_frames past max_frames");
      CHECK_CONTAINS(err.msg, "num_frames 6");
      CHECK(yt_model_forward(m, b.x, NULL, B, 1, p1, &err) == YT_EINVAL, "missing num_frames");
    }
    free(p1), free(p2), free(x2), free_batch(&b);
    yt_model_free(m);
  }

  yt_model_config c = small_cfg("MoEModel", YT_LOSS_CE);
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE && m == NULL, "unknown model");
  CHECK_CONTAINS(err.msg, "did you mean 'MoeModel'");
  c = small_cfg("DbofModel", YT_LOSS_CE);
  c.frame_features = 0;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "DbofModel on video-level input");
  CHECK_CONTAINS(err.msg, "frame_features = 1");

  /* DBoF: batch norm moving averages move in training only; sampling follows
   * the seed; sample_all with iterations = F makes eval deterministic */
  c = small_cfg("DbofModel", YT_LOSS_CE);
  CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
  batch b = make_batch(&c, B);
  size_t np = (size_t)B * c.num_classes;
  float *p1 = falloc(np), *p2 = falloc(np);
  int mm = yt_model_find_tensor(m, "tower/cluster_bn/moving_mean");
  const float *mmv = yt_model_params(m) + yt_model_tensor(m, mm)->offset;
  yt_model_forward(m, b.x, b.nf, B, 0, p1, &err);
  CHECK(mmv[0] == 0, "eval forward moved the moving mean");
  yt_model_forward(m, b.x, b.nf, B, 1, p1, &err);
  CHECK(mmv[0] != 0, "training forward did not move the moving mean");
  for (size_t k = 0; k < (size_t)B * c.max_frames * c.feature_dim; k++) b.x[k] = (float)nrand(); /* full videos */
  for (int i = 0; i < B; i++) b.nf[i] = c.max_frames;
  yt_model_set_sampling_seed(m, 1);
  yt_model_forward(m, b.x, b.nf, B, 0, p1, &err);
  yt_model_set_sampling_seed(m, 2);
  yt_model_forward(m, b.x, b.nf, B, 0, p2, &err);
  CHECK(!same(p1, p2, np, 0), "DBoF eval without sample_all should sample at random");
  yt_model_free(m);
  c.sample_all = 1, c.iterations = c.max_frames;
  CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
  yt_model_set_sampling_seed(m, 1);
  yt_model_forward(m, b.x, b.nf, B, 0, p1, &err);
  yt_model_set_sampling_seed(m, 2);
  yt_model_forward(m, b.x, b.nf, B, 0, p2, &err);
  CHECK(same(p1, p2, np, 0), "DBoF eval with sample_all and full videos should be deterministic");
  yt_model_set_sampling_seed(m, 1);
  yt_model_forward(m, b.x, b.nf, B, 1, p1, &err);
  yt_model_set_sampling_seed(m, 2);
  yt_model_forward(m, b.x, b.nf, B, 1, p2, &err);
  CHECK(!same(p1, p2, np, 0), "DBoF training samples at random even with sample_all");
  free(p1), free(p2), free_batch(&b);
  yt_model_free(m);

  /* yt_model_loss matches the label loss of backward */
  c = small_cfg("MoeModel", YT_LOSS_SOFTMAX);
  CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
  b = make_batch(&c, B);
  p1 = falloc(np);
  float ll, rl;
  yt_model_forward(m, b.x, NULL, B, 1, p1, &err);
  yt_model_backward(m, b.y, &ll, &rl, &err);
  CHECK(yt_model_loss(m, p1, b.y, B) == ll, "yt_model_loss %g vs backward %g", yt_model_loss(m, p1, b.y, B), ll);
  free(p1), free_batch(&b);
  yt_model_free(m);
}

int main(void) {
  printf("gradient checks (threshold %.0e), C 7 D 12 F 5 K 6 H 4 M 2, L2 0.05:\n", GRAD_TOL);
  test_gradients();
  printf("training runs:\n");
  test_training();
  printf("default tensor tables:\n");
  test_tables();
  test_behaviour();
  return check_report("test_models");
}
