/* test_lstm.c: LstmModel (REFERENCE.md 2.5) and its layers (lstm_cell.h).
 * - The cell step against a double-precision loop, and its backward against
 *   central differences (running and frozen rows; gradients pre-filled with
 *   0.5 to check that backward accumulates); the time-major reordering.
 * - Gradient check of the whole model, 1 and 2 layers, every loss, a batch
 *   with videos of 0, 1, some and all frames: d(label loss + L2)/dparams
 *   against 5-point differences of the loss the test computes itself.
 * - Frames past num_frames (garbage, NaN included) change nothing; a video's
 *   output does not depend on the rest of its batch.
 * - The tensor table and FLOPs of the default configuration; configuration
 *   errors; the JSON configuration and a checkpoint round trip.
 * - Adam lowers the loss on a task that only the order of frames decides
 *   (which of two patterns comes first), where mean pooling stays at chance. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "model_ref.h"
#include "model/adam.h"
#include "model/checkpoint.h"
#include "model/lstm_cell.h"
#include "model/model.h"

#define LAYER_TOL 5e-3 /* as test_layers.c */
#define GRAD_TOL 1e-2  /* as test_models.c */

static uint64_t rng = 4242;
static double urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}
static double nrand(void) {
  return sqrt(-2 * log(1 - urand())) * cos(6.283185307179586 * urand());
}
static float frand(float lo, float hi) {
  return (float)(lo + (hi - lo) * urand());
}
static void fill(float *v, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
}
static float *falloc(size_t n) {
  return calloc(n ? n : 1, sizeof(float));
}
static float *prefilled(size_t n) {
  float *g = falloc(n);
  for (size_t i = 0; i < n; i++) g[i] = 0.5f;
  return g;
}
static void unfill(float *g, size_t n) {
  for (size_t i = 0; i < n; i++) g[i] -= 0.5f;
}
static double sig(double x) {
  return 1 / (1 + exp(-x));
}

/* ---- layers ------------------------------------------------------------------------------- */

static void test_time_major(void) {
  enum { B = 3, F = 4, T = 3, D = 2 };
  float x[B * F * D], out[T * B * D];
  int32_t nf[B] = {2, 0, 4};
  for (int i = 0; i < B * F * D; i++) x[i] = (float)i;
  x[(0 * F + 2) * D] = NAN; /* padding of video 0 */
  fill(out, T * B * D, 5, 6);
  yt_time_major_forward(out, x, nf, B, F, T, D);
  int ok = 1;
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++)
      for (int d = 0; d < D; d++) {
        float want = t < nf[b] ? x[(b * F + t) * D + d] : 0.0f;
        ok &= out[(t * B + b) * D + d] == want;
      }
  CHECK(ok, "time-major rows: x[b,t] for t < num_frames, 0 past it");
}

/* One cell step on B 4 H 3: videos 0 and 2 run at t = 2, 1 and 3 are frozen. */
enum { CB = 4, CH = 3, CG = 4 * CH };
typedef struct {
  float xw[CB * CG], hw[CB * CG], cp[CB * CH], hp[CB * CH];
  float act[CB * CG], c[CB * CH], h[CB * CH], rc[CB * CH], rh[CB * CH];
  int32_t nf[CB];
  int t;
} cell_ctx;

static double cell_fn(cell_ctx *k) { /* sum(rc c + rh h) */
  yt_lstm_cell_forward(k->c, k->h, k->act, k->xw, k->hw, k->cp, k->hp, k->nf, k->t, CB, CH);
  double s = 0;
  for (int i = 0; i < CB * CH; i++) s += (double)k->rc[i] * k->c[i] + (double)k->rh[i] * k->h[i];
  return s;
}

static double cell_grad_err(cell_ctx *k, float *v, const float *analytic, size_t n) {
  double amax = 0, worst = 0, h = 3e-3;
  for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(analytic[i]));
  for (size_t i = 0; i < n; i++) {
    float save = v[i], vp = (float)(save + h), vm = (float)(save - h);
    v[i] = vp;
    double lp = cell_fn(k);
    v[i] = vm;
    double lm = cell_fn(k);
    v[i] = save;
    double num = (lp - lm) / ((double)vp - vm), a = analytic[i];
    double den = fmax(fmax(fabs(a), fabs(num)), 1e-2 * amax);
    if (den > 0 && fabs(a - num) / den > worst) worst = fabs(a - num) / den;
  }
  return worst;
}

static void test_cell(int t) {
  cell_ctx k = {.nf = {3, 2, 5, 0}, .t = t};
  fill(k.xw, CB * CG, -2, 2), fill(k.hw, CB * CG, -1, 1), fill(k.cp, CB * CH, -2, 2),
      fill(k.hp, CB * CH, -1, 1);
  fill(k.rc, CB * CH, -1, 1), fill(k.rh, CB * CH, -1, 1);
  cell_fn(&k);
  /* forward against double */
  double maxd = 0;
  int frozen_ok = 1;
  for (int b = 0; b < CB; b++)
    for (int j = 0; j < CH; j++) {
      int r = b * CH + j;
      if (t >= k.nf[b]) {
        frozen_ok &= k.c[r] == k.cp[r] && k.h[r] == k.hp[r];
        continue;
      }
      const float *x = k.xw + b * CG, *w = k.hw + b * CG;
      double i = sig(x[j] + w[j]), g = tanh(x[CH + j] + w[CH + j]);
      double f = sig(x[2 * CH + j] + w[2 * CH + j] + 1.0), o = sig(x[3 * CH + j] + w[3 * CH + j]);
      double c = k.cp[r] * f + i * g, h = tanh(c) * o;
      maxd = fmax(maxd, fmax(fabs(c - k.c[r]), fabs(h - k.h[r])));
    }
  CHECK(maxd < 1e-6, "cell forward at t %d differs from double by %g", t, maxd);
  CHECK(frozen_ok, "cell forward at t %d: frozen rows must copy c_prev and h_prev", t);
  /* in place (act == xw) gives the same */
  float c2[CB * CH], h2[CB * CH], xw2[CB * CG];
  memcpy(xw2, k.xw, sizeof xw2);
  yt_lstm_cell_forward(c2, h2, xw2, xw2, k.hw, k.cp, k.hp, k.nf, t, CB, CH);
  CHECK(!memcmp(c2, k.c, sizeof c2) && !memcmp(h2, k.h, sizeof h2) && !memcmp(xw2, k.act, sizeof xw2),
        "cell forward in place differs");
  /* backward */
  float *dpre = prefilled(CB * CG), *dcp = prefilled(CB * CH), *dhp = prefilled(CB * CH);
  yt_lstm_cell_backward(dpre, dcp, dhp, k.rc, k.rh, k.act, k.c, k.cp, k.nf, t, CB, CH);
  unfill(dpre, CB * CG), unfill(dcp, CB * CH), unfill(dhp, CB * CH);
  char what[64];
  double e;
  snprintf(what, sizeof what, "cell t %d d xw (dpre)", t);
  e = cell_grad_err(&k, k.xw, dpre, CB * CG);
  printf("  %-28s max rel err %.2e\n", what, e);
  CHECK(e < LAYER_TOL, "%s: %.3e", what, e);
  snprintf(what, sizeof what, "cell t %d d hw (dpre)", t);
  e = cell_grad_err(&k, k.hw, dpre, CB * CG);
  printf("  %-28s max rel err %.2e\n", what, e);
  CHECK(e < LAYER_TOL, "%s: %.3e", what, e);
  snprintf(what, sizeof what, "cell t %d dc_prev", t);
  e = cell_grad_err(&k, k.cp, dcp, CB * CH);
  printf("  %-28s max rel err %.2e\n", what, e);
  CHECK(e < LAYER_TOL, "%s: %.3e", what, e);
  snprintf(what, sizeof what, "cell t %d dh_prev (frozen rows)", t);
  e = cell_grad_err(&k, k.hp, dhp, CB * CH);
  printf("  %-28s max rel err %.2e\n", what, e);
  CHECK(e < LAYER_TOL, "%s: %.3e", what, e);
  /* NULL gradients are skipped */
  float *dpre2 = prefilled(CB * CG);
  yt_lstm_cell_backward(dpre2, NULL, NULL, k.rc, k.rh, k.act, k.c, k.cp, k.nf, t, CB, CH);
  unfill(dpre2, CB * CG);
  CHECK(!memcmp(dpre, dpre2, sizeof(float) * CB * CG),
        "dpre does not depend on which other gradients are asked");
  free(dpre), free(dcp), free(dhp), free(dpre2);
}

/* The cell's tanh (lstm_cell.c computes it from expf) against double: with
 * sigmoid(i) = 1, sigmoid(f + 1) = 0 and c_prev = 0, c = tanh(j). */
static void test_cell_tanh(void) {
  enum { N = 4096 };
  float *xw = falloc((size_t)N * 4), *hw = falloc((size_t)N * 4), *zero = falloc(N), *c = falloc(N),
        *h = falloc(N);
  float *j = falloc(N);
  int32_t *nf = calloc(N, sizeof *nf);
  for (int b = 0; b < N; b++) {
    nf[b] = 1;
    j[b] = b < N / 2 ? (float)(b - N / 4) * (12.0f / N)
                     : (float)ldexp(frand(-1, 1), -(b % 24)); /* wide; small */
    xw[b * 4 + 0] = 100.0f, xw[b * 4 + 1] = j[b], xw[b * 4 + 2] = -200.0f;
  }
  yt_lstm_cell_forward(c, h, xw, xw, hw, zero, zero, nf, 0, N, 1);
  double worst = 0;
  for (int b = 0; b < N; b++) {
    double want = tanh((double)j[b]);
    if (want != 0) worst = fmax(worst, fabs(c[b] - want) / fabs(want));
  }
  printf("  %-28s max rel err %.2e\n", "cell tanh", worst);
  CHECK(worst < 4e-7, "the cell's tanh is off by %.3g relative", worst);
  free(xw), free(hw), free(zero), free(c), free(h), free(j), free(nf);
}

/* ---- the model's gradients ---------------------------------------------------------------- */

/* C 5, D 6, F 5, H 4, M 2; L2 0.05 on the MoE weights so that the L2 term weighs in. */
static yt_model_config small_cfg(int layers, int loss) {
  yt_model_config c = {0};
  snprintf(c.model, sizeof c.model, "LstmModel");
  yt_model_config_defaults(&c);
  c.num_classes = 5, c.feature_dim = 6, c.max_frames = 5, c.label_loss = loss;
  c.lstm_layers = layers, c.lstm_cells = 4, c.moe_num_mixtures = 2;
  c.l2_penalty = c.moe_l2 = 0.05f;
  c.seed = 7;
  return c;
}

typedef struct {
  int B, F, D, C;
  float *x, *y;
  int32_t *nf;
} batch;

/* x zero-padded past num_frames (or garbage with pad_garbage); labels mix hard and soft targets */
static batch make_batch(const yt_model_config *c, int B, const int32_t *nf) {
  batch b = {.B = B, .F = c->max_frames, .D = c->feature_dim, .C = c->num_classes};
  b.x = falloc((size_t)B * b.F * b.D), b.y = falloc((size_t)B * b.C), b.nf = calloc(B, sizeof *b.nf);
  for (int i = 0; i < B; i++) {
    b.nf[i] = nf[i];
    for (int t = 0; t < nf[i]; t++)
      for (int d = 0; d < b.D; d++) b.x[((size_t)i * b.F + t) * b.D + d] = (float)nrand();
    for (int k = 0; k < b.C; k++) {
      double u = urand();
      b.y[(size_t)i * b.C + k] = u < 0.3 ? 1.0f : u < 0.8 ? 0.0f : (float)urand();
    }
  }
  return b;
}
static void free_batch(batch *b) {
  free(b->x), free(b->y), free(b->nf);
}



static double total_loss(yt_model *m, const batch *b, float *probs) {
  yt_err err;
  if (yt_model_forward(m, b->x, b->nf, b->B, 1, probs, &err) < 0) return NAN;
  return ref_loss(m, probs, b->y, b->B) + ref_l2(m);
}

/* 5-point stencil, truncation O(h^4) (as test_models.c); h = 2e-2 keeps the
 * float forward's rounding (~1e-5 on the quotient) under the threshold. */
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

static const char *loss_names[] = {"CE", "Hinge", "Softmax"};

/* Every parameter; the weights are scaled up (x3) so that the gates leave
 * their linear region and the recurrence matters. */
static void grad_check(const char *label, yt_model_config cfg, const int32_t *nf, int B) {
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &cfg, B, &err) < 0) {
    CHECK(0, "%s: %s", label, err.msg);
    return;
  }
  float *w = yt_model_params(m);
  size_t P = yt_model_num_params(m);
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    int bias = strstr(t->name, "bias") != NULL;
    for (size_t k = 0; k < t->numel; k++)
      w[t->offset + k] = bias ? frand(-0.5f, 0.5f) : 3.0f * w[t->offset + k];
  }
  batch b = make_batch(&cfg, B, nf);
  float *probs = falloc((size_t)B * cfg.num_classes), *analytic = falloc(P);
  double want = total_loss(m, &b, probs);
  float label_loss = 0, reg_loss = 0;
  CHECK(yt_model_backward(m, b.y, &label_loss, &reg_loss, &err) == 0, "%s backward: %s", label, err.msg);
  CHECK(fabs(label_loss + reg_loss - want) < 1e-5 * fmax(1, fabs(want)),
        "%s: backward says %.7f + %.7f, test %.7f", label, label_loss, reg_loss, want);
  memcpy(analytic, yt_model_grads(m), P * sizeof *analytic);
  double amax = 0, worst = 0;
  for (size_t k = 0; k < P; k++) amax = fmax(amax, fabs(analytic[k]));
  const char *worst_name = "";
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    double tmax = 0;
    for (size_t k = 0; k < t->numel; k++) tmax = fmax(tmax, fabs(analytic[t->offset + k]));
    CHECK(tmax > 0, "%s: %s gets no gradient", label, t->name);
    for (size_t k = 0; k < t->numel; k++) {
      double n = numeric(m, &b, probs, &w[t->offset + k], 2e-2), a = analytic[t->offset + k];
      double den = fmax(fmax(fabs(a), fabs(n)), 1e-2 * amax);
      if (fabs(a - n) / den > worst) worst = fabs(a - n) / den, worst_name = t->name;
    }
  }
  printf("  %-36s max rel err %.2e (%s), %zu parameters\n", label, worst, worst_name, P);
  CHECK(worst < GRAD_TOL, "%s: max relative gradient error %.3e in %s", label, worst, worst_name);
  free(analytic), free(probs), free_batch(&b);
  yt_model_free(m);
}

static void test_gradients(void) {
  const int32_t nf[4] = {0, 1, 5, 3};       /* none, one, all (F 5) and some frames */
  const int32_t nf_short[4] = {2, 1, 2, 0}; /* the batch runs 2 of 5 steps */
  char label[96];
  for (int layers = 1; layers <= 2; layers++)
    for (int loss = 0; loss < 3; loss++) {
      snprintf(label, sizeof label, "LstmModel %d layer%s %s", layers, layers > 1 ? "s" : "",
               loss_names[loss]);
      grad_check(label, small_cfg(layers, loss), nf, 4);
    }
  grad_check("LstmModel 2 layers CE, 2 steps of 5", small_cfg(2, YT_LOSS_CE), nf_short, 4);
  const int32_t none[4] = {0, 0, 0, 0};
  yt_model_config c = small_cfg(2, YT_LOSS_CE);
  yt_model *m;
  yt_err err;
  /* no video has a frame: only the MoE head (on the zero state) learns */
  CHECK(yt_model_new(&m, &c, 4, &err) == 0, "%s", err.msg);
  batch b = make_batch(&c, 4, none);
  float *p = falloc(4 * 5);
  CHECK(yt_model_forward(m, b.x, b.nf, 4, 1, p, &err) == 0, "%s", err.msg);
  int third = 1;
  for (int i = 0; i < 20; i++) third &= fabsf(p[i] - 1.0f / 3) < 1e-6f; /* softmax 1/3, sigmoid(0) 1/2, M 2 */
  CHECK(third, "0 frames at initialization: every probability 2/3 x 1/2");
  CHECK(yt_model_backward(m, b.y, NULL, NULL, &err) == 0, "%s", err.msg);
  int ki = yt_model_find_tensor(m, "tower/rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel");
  const yt_tensor_info *t = yt_model_tensor(m, ki);
  double gmax = 0;
  for (size_t k = 0; k < t->numel; k++) gmax = fmax(gmax, fabs(yt_model_grads(m)[t->offset + k]));
  CHECK(gmax == 0, "0 frames: the LSTM kernels get no gradient (got %g)", gmax);
  free(p), free_batch(&b);
  yt_model_free(m);
}

/* ---- padding and batch independence -------------------------------------------------------- */

static void test_padding(void) {
  yt_model_config c = small_cfg(2, YT_LOSS_CE);
  yt_model *m;
  yt_err err;
  const int B = 4;
  CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
  const int32_t nf[4] = {2, 0, 4, 1};
  batch b = make_batch(&c, B, nf);
  size_t np = (size_t)B * c.num_classes, P = yt_model_num_params(m),
         nx = (size_t)B * c.max_frames * c.feature_dim;
  float *p1 = falloc(np), *p2 = falloc(np), *g1 = falloc(P), *x2 = falloc(nx);
  CHECK(yt_model_forward(m, b.x, b.nf, B, 1, p1, &err) == 0, "%s", err.msg);
  CHECK(yt_model_backward(m, b.y, NULL, NULL, &err) == 0, "%s", err.msg);
  memcpy(g1, yt_model_grads(m), P * sizeof *g1);
  memcpy(x2, b.x, nx * sizeof *x2);
  for (int i = 0; i < B; i++)
    for (int t = nf[i]; t < c.max_frames; t++)
      for (int d = 0; d < c.feature_dim; d++)
        x2[((size_t)i * c.max_frames + t) * c.feature_dim + d] =
            d == 1 && t == 4 ? NAN : (float)(100 * nrand());
  CHECK(yt_model_forward(m, x2, b.nf, B, 1, p2, &err) == 0, "%s", err.msg);
  CHECK(!memcmp(p1, p2, np * sizeof *p1), "garbage past num_frames changes the probabilities");
  CHECK(yt_model_backward(m, b.y, NULL, NULL, &err) == 0, "%s", err.msg);
  CHECK(!memcmp(g1, yt_model_grads(m), P * sizeof *g1), "garbage past num_frames changes the gradients");
  /* each video alone gives what it gave in the batch (another T, another B) */
  float q[8];
  int alone_ok = 1;
  for (int i = 0; i < B; i++) {
    CHECK(yt_model_forward(m, b.x + (size_t)i * c.max_frames * c.feature_dim, b.nf + i, 1, 0, q, &err) == 0,
          "%s", err.msg);
    for (int k = 0; k < c.num_classes; k++) alone_ok &= fabsf(q[k] - p1[i * c.num_classes + k]) < 1e-6f;
  }
  CHECK(alone_ok, "a video's probabilities depend on the rest of its batch");
  /* scaling a frame changes nothing (per-frame L2 normalization) */
  for (size_t k = 0; k < nx; k++) x2[k] = b.x[k] * (float)(1 + (k / c.feature_dim) % 3);
  CHECK(yt_model_forward(m, x2, b.nf, B, 0, p2, &err) == 0, "%s", err.msg);
  double maxd = 0;
  for (size_t k = 0; k < np; k++) maxd = fmax(maxd, fabs(p1[k] - p2[k]));
  CHECK(maxd < 1e-6, "scaling frames changes the output by %g (no per-frame L2 normalization?)", maxd);
  free(p1), free(p2), free(g1), free(x2), free_batch(&b);
  yt_model_free(m);
}

/* ---- tensor table, FLOPs, configuration ------------------------------------------------------ */

static void test_table(void) {
  yt_model_config c = {0};
  snprintf(c.model, sizeof c.model, "LstmModel");
  yt_model_config_defaults(&c);
  CHECK(c.frame_features == 1 && c.lstm_layers == 2 && c.lstm_cells == 1024 && c.max_frames == 300,
        "LstmModel defaults: frame level, 2 layers of 1024 cells");
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &c, 2, &err) < 0) {
    CHECK(0, "default LstmModel: %s", err.msg);
    return;
  }
  const int C = 3862;
  struct {
    const char *name;
    int ndim, s0, s1;
    float l2;
  } want[] = {{"tower/rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel", 2, 1152 + 1024, 4096, 0},
              {"tower/rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias", 1, 4096, 0, 0},
              {"tower/rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel", 2, 2048, 4096, 0},
              {"tower/rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias", 1, 4096, 0, 0},
              {"tower/gates/weights", 2, 1024, 3 * C, 1e-8f},
              {"tower/experts/weights", 2, 1024, 2 * C, 1e-8f},
              {"tower/experts/biases", 1, 2 * C, 0, 0}};
  int n = (int)(sizeof want / sizeof want[0]);
  CHECK(yt_model_num_tensors(m) == n, "%d tensors, want %d", yt_model_num_tensors(m), n);
  size_t off = 0;
  const float *w = yt_model_params(m);
  for (int i = 0; i < n && i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    CHECK(!strcmp(t->name, want[i].name), "tensor %d is %s, want %s", i, t->name, want[i].name);
    CHECK(t->ndim == want[i].ndim && t->shape[0] == want[i].s0 && (t->ndim == 1 || t->shape[1] == want[i].s1),
          "%s has shape [%d, %d], want [%d, %d]", t->name, t->shape[0], t->ndim > 1 ? t->shape[1] : 0,
          want[i].s0, want[i].s1);
    CHECK(t->trainable && t->l2 == want[i].l2, "%s: trainable %d, L2 %g", t->name, t->trainable, t->l2);
    CHECK(t->offset == off, "%s at offset %zu, want %zu", t->name, t->offset, off);
    off += t->numel;
    double amax = 0, s2 = 0;
    for (size_t k = 0; k < t->numel; k++)
      amax = fmax(amax, fabs(w[t->offset + k])), s2 += (double)w[t->offset + k] * w[t->offset + k];
    if (t->ndim == 1) {
      CHECK(amax == 0, "%s not zeros", t->name);
    } else {
      double a = sqrt(6.0 / (t->shape[0] + t->shape[1])), sd = sqrt(s2 / t->numel);
      CHECK(amax <= a * (1 + 1e-6) && amax > 0.99 * a && fabs(sd - a / sqrt(3)) < 0.01 * a,
            "%s: Glorot U(-%g, %g): max %g sd %g", t->name, a, a, amax, sd);
    }
  }
  CHECK(yt_model_num_params(m) == off, "%zu parameters, the table sums to %zu", yt_model_num_params(m), off);
  double F = 300, H = 1024, G = 4096, D = 1152;
  double head = 2.0 * H * (3.0 * C + 2.0 * C);
  double fwd = 2 * (D + H) * G * F + 2 * (H + H) * G * F + head;
  double train = fwd + 2 * (D + H) * G * F + 2 * H * G * F + 2 * (H + H) * G * F + 2 * H * G * F +
                 2 * H * G * F + 2 * head;
  CHECK(fabs(yt_model_flops(m, 0) - fwd) < 1e-9 * fwd, "forward FLOPs %.6g, want %.6g", yt_model_flops(m, 0),
        fwd);
  CHECK(fabs(yt_model_flops(m, 1) - train) < 1e-9 * train, "training FLOPs %.6g, want %.6g",
        yt_model_flops(m, 1), train);
  printf("  LstmModel default: %d tensors, %zu floats, %.3g GFLOP/example forward, %.3g training\n", n,
         yt_model_num_params(m), fwd / 1e9, train / 1e9);
  yt_model_free(m);
}

static void test_config(void) {
  yt_model *m;
  yt_err err;
  yt_model_config c = small_cfg(1, YT_LOSS_CE);
  c.lstm_layers = 0;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE && !m, "lstm_layers 0");
  CHECK_CONTAINS(err.msg, "lstm_layers must be in 1..");
  c.lstm_layers = 1000; /* past the tensor table's room */
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "lstm_layers 1000");
  CHECK_CONTAINS(err.msg, "(got 1000)");
  c = small_cfg(1, YT_LOSS_CE);
  c.lstm_cells = 0;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "lstm_cells 0");
  CHECK_CONTAINS(err.msg, "lstm_cells must be at least 1 (got 0)");
  c = small_cfg(1, YT_LOSS_CE);
  c.max_frames = 300, c.lstm_cells = 100000;
  CHECK(yt_model_new(&m, &c, 100000, &err) == YT_EUSAGE, "huge LSTM");
  CHECK_CONTAINS(err.msg, "too large");
  c = small_cfg(1, YT_LOSS_CE);
  c.moe_num_mixtures = 0;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "moe_num_mixtures 0");
  c = small_cfg(1, YT_LOSS_CE);
  c.frame_features = 0;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "LstmModel on video-level input");
  CHECK_CONTAINS(err.msg, "frame_features = 1");
  snprintf(c.model, sizeof c.model, "LSTMModel");
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "unknown model");
  CHECK_CONTAINS(err.msg, "did you mean 'LstmModel'");

  /* the configuration survives JSON; a checkpoint restores the same model */
  c = small_cfg(2, YT_LOSS_HINGE);
  c.lstm_cells = 3;
  char *json = yt_model_config_json(&c);
  yt_model_config back;
  CHECK(yt_model_config_parse(json, &back, &err) == 0, "%s", err.msg);
  CHECK(back.lstm_layers == 2 && back.lstm_cells == 3 && back.frame_features == 1, "JSON round trip: %s",
        json);
  free(json);
  char dir[] = "/tmp/test_lstm.XXXXXX", path[4096];
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  yt_model *m2;
  CHECK(yt_model_new(&m, &c, 4, &err) == 0, "%s", err.msg);
  CHECK(yt_ckpt_save(dir, m, NULL, NULL, 3, "rgb", "6", path, sizeof path, &err) == 0, "save: %s", err.msg);
  yt_st_file *f = NULL;
  CHECK(yt_st_open(&f, path, &err) == 0, "open: %s", err.msg);
  if (f) {
    CHECK(yt_ckpt_config(f, &back, &err) == 0, "config: %s", err.msg);
    back.seed = 99; /* other initial weights, which the load replaces */
    CHECK(yt_model_new(&m2, &back, 4, &err) == 0, "%s", err.msg);
    int64_t step = 0;
    CHECK(yt_ckpt_load(f, m2, NULL, &step, &err) == 0 && step == 3, "load: %s", err.msg);
    const int32_t nf[4] = {5, 2, 0, 3};
    batch b = make_batch(&c, 4, nf);
    float p1[20], p2[20];
    yt_model_forward(m, b.x, b.nf, 4, 0, p1, &err);
    yt_model_forward(m2, b.x, b.nf, 4, 0, p2, &err);
    CHECK(!memcmp(p1, p2, sizeof p1), "the restored model predicts otherwise");
    free_batch(&b);
    yt_model_free(m2);
    yt_st_close(f);
  }
  yt_model_free(m);
  unlink(path);
  rmdir(dir);
}

/* ---- learning an order ------------------------------------------------------------------------ */

/* Videos of 3..8 frames of noise (D 6) in which pattern A (along e0) and
 * pattern B (along e1) each fill one frame; class 0: A comes first, class 1:
 * B does. The mean of the frames is the same either way. Adam at lr 0.02 for
 * 300 steps of 32 from 256 videos: the LSTM must halve its training loss,
 * FrameLevelLogisticModel (mean pooling) must not get below 80% of its own. */
static double order_run(const char *model) {
  const int N = 256, B = 32, steps = 300, F = 8, D = 6, C = 2;
  yt_model_config c = {0};
  snprintf(c.model, sizeof c.model, "%s", model);
  yt_model_config_defaults(&c);
  c.num_classes = C, c.feature_dim = D, c.max_frames = F, c.lstm_layers = 1, c.lstm_cells = 8;
  c.seed = 3;
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &c, B, &err) < 0) {
    CHECK(0, "%s: %s", model, err.msg);
    return NAN;
  }
  float *x = falloc((size_t)N * F * D), *y = falloc((size_t)N * C);
  int32_t *nf = calloc(N, sizeof *nf);
  uint64_t keep = rng;
  rng = 99; /* the same data for both models */
  for (int i = 0; i < N; i++) {
    int n = nf[i] = 3 + i % (F - 2);
    for (int t = 0; t < n; t++)
      for (int d = 0; d < D; d++) x[((size_t)i * F + t) * D + d] = (float)(0.3 * nrand());
    int p = (int)(urand() * n), q;
    do q = (int)(urand() * n);
    while (q == p);
    int a_first = urand() < 0.5, first = p < q ? p : q, second = p < q ? q : p;
    x[((size_t)i * F + first) * D + (a_first ? 0 : 1)] += 2.0f;
    x[((size_t)i * F + second) * D + (a_first ? 1 : 0)] += 2.0f;
    y[(size_t)i * C + 0] = a_first ? 1.0f : 0.0f;
    y[(size_t)i * C + 1] = a_first ? 0.0f : 1.0f;
  }
  rng = keep;
  yt_adam a;
  CHECK(yt_adam_init(&a, yt_model_num_params(m), &err) == 0, "adam");
  double first = 0, last = 0;
  for (int s = 0; s < steps; s++) {
    int off = (s * B) % N;
    float loss, reg;
    int rc = yt_model_forward(m, x + (size_t)off * F * D, nf + off, B, 1, NULL, &err);
    rc = rc ? rc : yt_model_backward(m, y + (size_t)off * C, &loss, &reg, &err);
    if (rc) {
      CHECK(0, "%s step %d: %s", model, s, err.msg);
      break;
    }
    if (s < 5) first += loss / 5;
    if (s >= steps - 20) last += loss / 20;
    yt_adam_step(&a, m, 0.02f, 1.0f);
  }
  /* accuracy on the training set in eval mode */
  int right = 0;
  float p[32 * 2];
  for (int off = 0; off < N; off += B) {
    yt_model_forward(m, x + (size_t)off * F * D, nf + off, B, 0, p, &err);
    for (int i = 0; i < B; i++) right += (p[i * C] > p[i * C + 1]) == (y[(size_t)(off + i) * C] > 0.5f);
  }
  printf("  %-24s order task: training loss %.3f -> %.3f, accuracy %.1f%%\n", model, first, last,
         100.0 * right / N);
  free(x), free(y), free(nf);
  yt_adam_free(&a);
  yt_model_free(m);
  return last / first;
}

static void test_order(void) {
  double lstm = order_run("LstmModel"), mean = order_run("FrameLevelLogisticModel");
  CHECK(lstm < 0.5, "LstmModel: training loss only went to %.2f of its start", lstm);
  CHECK(mean > 0.8,
        "FrameLevelLogisticModel learned the order task (loss to %.2f of its start): not order-only", mean);
}

int main(void) {
  printf("layers (threshold %.0e):\n", LAYER_TOL);
  test_time_major();
  test_cell(0);
  test_cell(2);
  test_cell_tanh();
  printf("model gradients (threshold %.0e), C 5 D 6 F 5 H 4 B 4 M 2, L2 0.05:\n", GRAD_TOL);
  test_gradients();
  test_padding();
  printf("default tensor table:\n");
  test_table();
  test_config();
  printf("training:\n");
  test_order();
  return check_report("test_lstm");
}
