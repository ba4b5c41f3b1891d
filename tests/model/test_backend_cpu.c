/* test_backend_cpu: the CPU backend table (nodes/backend): every entry is
 * there; the new CPU twins (sumsq, axpy, adam_update against yt_adam_step,
 * gather_rows, dequantize_frames against the REFERENCE.md 1.6 table,
 * ema_update against its formula and its two ends, decay 0 and 1) and the
 * loss_forward wrapper; the memory entries; yt_backend_open's errors ("cuda:x",
 * "tpu", a build without CUDA) and yt_backend_require naming a missing
 * operation. Not here: the layers themselves (test_layers.c), CPU-vs-CUDA
 * parity (tests/gpu/test_cuda_ops.c). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/ops.h"
#include "backend/cuda/probe.h"
#include "check.h"
#include "formats/yt8m.h"
#include "model/adam.h"
#include "model/loss.h"
#include "model/lstm_cell.h"
#include "model/model.h"
#include "model/vlad.h"

static uint64_t rng = 777;
static double urand(void) { /* [0, 1) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}
static float frand(float lo, float hi) {
  return (float)(lo + (hi - lo) * urand());
}
static float *rnd(size_t n, float lo, float hi) {
  float *v = calloc(n ? n : 1, sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
  return v;
}


static void test_table(const yt_backend *be) {
  yt_err err = {0};
  CHECK(!strcmp(be->name, "cpu") && be->device == -1, "name %s device %d", be->name, be->device);
  CHECK(yt_backend_require(be, yt_backend_op_names(), &err) == YT_OK, "cpu table lacks an op: %s", err.msg);
  CHECK(yt_backend_require(be, NULL, &err) == YT_OK, "an empty list");
  CHECK(be->matmul_forward && be->loss_backward && be->check, "entries set");
  /* the layer entries are the CPU functions themselves */
  CHECK(be->vlad_forward == yt_vlad_forward && be->vlad_backward == yt_vlad_backward &&
            be->gather_frames == yt_gather_frames && be->lstm_cell_forward == yt_lstm_cell_forward &&
            be->lstm_cell_backward == yt_lstm_cell_backward &&
            be->time_major_forward == yt_time_major_forward,
        "vlad.h / lstm_cell.h entries are the CPU twins");
}

static void test_memory(const yt_backend *be) {
  yt_err err = {0};
  enum { N = 1000 };
  float *d = be->alloc(N * sizeof(float)), *e = be->alloc(N * sizeof(float)), h[N], back[N];
  CHECK(d && e, "alloc");
  int zeroed = 1;
  for (int i = 0; i < N; i++) zeroed &= d[i] == 0.0f;
  CHECK(zeroed, "alloc gives zeroed memory");
  for (int i = 0; i < N; i++) h[i] = (float)i * 0.5f;
  be->upload(d, h, sizeof h);
  be->copy(e, d, sizeof h);
  be->zero(d, N / 2 * sizeof(float));
  be->download(back, e, sizeof back);
  CHECK(!memcmp(back, h, sizeof h), "upload, copy, download round trip");
  be->download(back, d, sizeof back);
  CHECK(back[N / 2 - 1] == 0.0f && back[N / 2] == h[N / 2], "zero the first half");
  float *ph = be->alloc_host(16);
  CHECK(ph != NULL, "alloc_host");
  be->free_host(ph);
  /* a step's inputs: a plain copy on the CPU, ready at once */
  float in[N];
  for (int i = 0; i < N; i++) in[i] = (float)i - 3.5f;
  be->upload_input(d, in, sizeof in, YT_INPUT_LABELS);
  be->inputs_ready();
  be->inputs_done();
  CHECK(!memcmp(d, in, sizeof in), "upload_input copies on the CPU");
  be->free(d);
  be->free(e);
  CHECK(be->check(&err) == YT_OK, "check: %s", err.msg);
}

static void test_sumsq_axpy(const yt_backend *be) {
  size_t sizes[] = {0, 1, 7, 8, 9, 1000, 100003};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    size_t n = sizes[k];
    float *x = rnd(n, -2, 2), out = -1;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    be->sumsq(&out, x, n);
    CHECK(fabs(out - s) <= 1e-6 * s, "sumsq n %zu: %.9g, by hand %.9g", n, out, s);
    float *y = rnd(n, -1, 1), *y0 = malloc((n ? n : 1) * sizeof *y);
    memcpy(y0, y, n * sizeof *y);
    be->axpy(y, -0.37f, x, n);
    int same = 1;
    for (size_t i = 0; i < n; i++) same &= y[i] == y0[i] + -0.37f * x[i];
    CHECK(same, "axpy n %zu", n);
    free(x), free(y), free(y0);
  }
}

/* ops.h's sum of squares by hand, scalar: blocks of 64k floats (n here stays
 * below 4096 blocks), 8 double lanes each, lanes then blocks added in order */
static float sumsq_by_hand(const float *x, size_t n) {
  double total = 0;
  for (size_t at = 0; at < n; at += 65536) {
    size_t len = n - at < 65536 ? n - at : 65536;
    double a[8] = {0};
    size_t k = 0;
    for (; k + 8 <= len; k += 8)
      for (int j = 0; j < 8; j++) a[j] += (double)x[at + k + j] * x[at + k + j];
    for (; k < len; k++) a[0] += (double)x[at + k] * x[at + k];
    total += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  }
  return (float)total;
}

/* sumsq to the bit against the scalar lanes (the SSE2 path must keep them);
 * l2_grad to the bit against sumsq(w), axpy(g, l2, w), sumsq(g), the three
 * calls it replaces in the backward, over sizes with tails and several blocks */
static void test_l2_grad(const yt_backend *be) {
  size_t sizes[] = {0, 1, 7, 8, 9, 15, 1000, 65536, 65537, 3 * 65536 + 13, 1152 * 3862};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    size_t n = sizes[k];
    float *w = rnd(n, -0.5f, 0.5f), *g = rnd(n, -0.01f, 0.01f), *g2 = malloc((n ? n : 1) * sizeof *g);
    memcpy(g2, g, n * sizeof *g);
    float s = -1, ws = -1, gs = -1, ws2 = -2, gs2 = -2;
    be->sumsq(&s, w, n);
    CHECK(s == sumsq_by_hand(w, n), "sumsq n %zu: %.9g, the scalar lanes %.9g", n, s, sumsq_by_hand(w, n));
    be->sumsq(&ws, w, n);
    be->axpy(g, 1e-3f, w, n);
    be->sumsq(&gs, g, n);
    be->l2_grad(&ws2, &gs2, g2, w, 1e-3f, n);
    CHECK(ws2 == ws && gs2 == gs, "l2_grad n %zu: sums %.9g %.9g, the three calls %.9g %.9g", n, ws2, gs2, ws, gs);
    CHECK(!memcmp(g2, g, n * sizeof *g), "l2_grad n %zu: the gradient differs from axpy's", n);
    free(w), free(g), free(g2);
  }
}

/* The clip's sums that the backward's L2 pass leaves (yt_model_grad_sumsq):
 * two MoeModels from one seed, a few steps with a clip that cuts; one lets
 * yt_adam_step use the backward's sums, the other asks for a writable view of
 * the gradients first (which drops them: Adam sums again). Same bits; and the
 * sums are there only after a backward, for tensors with an L2 term. */
static void test_grad_sumsq_cache(void) {
  yt_model_config cfg = {.model = "MoeModel"};
  yt_model_config_defaults(&cfg);
  cfg.feature_dim = 64, cfg.num_classes = 50, cfg.moe_l2 = 1e-3f, cfg.seed = 5;
  yt_model *m[2];
  yt_adam a[2];
  yt_err err = {0};
  enum { B = 16 };
  for (int k = 0; k < 2; k++) {
    CHECK(yt_model_new(&m[k], &cfg, B, &err) == 0, "new: %s", err.msg);
    CHECK(yt_adam_init_for(&a[k], m[k], &err) == 0, "adam: %s", err.msg);
  }
  float *x = rnd((size_t)B * 64, -1, 1), *y = calloc((size_t)B * 50, sizeof *y);
  for (int b = 0; b < B; b++) y[b * 50 + (b * 7) % 50] = 1;
  int l2_tensor = -1;
  for (int i = 0; i < yt_model_num_tensors(m[0]); i++)
    if (yt_model_tensor(m[0], i)->l2 > 0) l2_tensor = i;
  CHECK(l2_tensor >= 0 && !yt_model_grad_sumsq(m[0], l2_tensor), "no sums before a backward");
  for (int step = 0; step < 3; step++)
    for (int k = 0; k < 2; k++) {
      float loss, reg;
      CHECK(yt_model_forward(m[k], x, NULL, B, 1, NULL, &err) == 0, "forward: %s", err.msg);
      CHECK(yt_model_backward(m[k], y, &loss, &reg, &err) == 0, "backward: %s", err.msg);
      if (k == 0) CHECK(yt_model_grad_sumsq(m[0], l2_tensor) != NULL, "the backward's sums are there");
      if (k == 1) {
        (void)yt_model_grads_dev(m[1]);
        CHECK(!yt_model_grad_sumsq(m[1], l2_tensor), "a writable view of the gradients drops the sums");
      }
      yt_adam_step(&a[k], m[k], 0.05f, 1e-3f); /* a clip that cuts every tensor */
    }
  size_t P = yt_model_num_params(m[0]);
  CHECK(!memcmp(yt_model_params(m[0]), yt_model_params(m[1]), P * sizeof(float)),
        "Adam with the backward's sums differs from Adam summing again");
  for (int k = 0; k < 2; k++) yt_adam_free(&a[k]), yt_model_free(m[k]);
  free(x), free(y);
}

/* ema_update: shadow = d shadow + (1 - d) w by hand, bit for bit; decay 0
 * copies the weights exactly (halflife 1), decay 1 keeps the shadow; a constant
 * w is approached as 1 - d^k (the moving average of REFERENCE.md 6.1) */
static void test_ema(const yt_backend *be) {
  size_t n = 1001;
  float *s = rnd(n, -1, 1), *w = rnd(n, -3, 3), *s0 = malloc(n * sizeof *s);
  memcpy(s0, s, n * sizeof *s);
  float d = (float)(1 - 1.0 / 2000);
  be->ema_update(s, w, d, n);
  int same = 1;
  for (size_t i = 0; i < n; i++) {
    float a = d * s0[i], b = (1.0f - d) * w[i];
    same &= s[i] == a + b;
  }
  CHECK(same, "ema_update: d s + (1 - d) w, two products then the sum");
  memcpy(s0, s, n * sizeof *s);
  be->ema_update(s, w, 1.0f, n);
  CHECK(!memcmp(s, s0, n * sizeof *s), "decay 1 keeps the shadow");
  be->ema_update(s, w, 0.0f, n);
  CHECK(!memcmp(s, w, n * sizeof *s), "decay 0 copies the weights");
  /* from 0 towards a constant 1: after k steps 1 - d^k */
  float z[4] = {0}, one[4] = {1, 1, 1, 1};
  double want = 0;
  for (int k = 0; k < 100; k++) {
    be->ema_update(z, one, 0.9f, 4);
    want = 0.9 * want + 0.1;
  }
  CHECK(fabs(z[0] - want) < 1e-6 && fabs(want - (1 - pow(0.9, 100))) < 1e-12, "100 steps at 0.9: %.9g, %.9g",
        z[0], want);
  free(s), free(w), free(s0);
}

/* adam_update per tensor, with sumsq of each gradient, against yt_adam_step
 * on a LogisticModel (weights 40x3, biases 3): clip 0 (none), a clip that
 * cuts the weights' gradient, and one that cuts nothing. Without a cut the
 * arithmetic is adam.c's, bit for bit; with one the clip factor comes from
 * the float sumsq instead of the double sum (1 ulp at most). */
static void test_adam(const yt_backend *be) {
  yt_model_config cfg = {.model = "LogisticModel"};
  yt_model_config_defaults(&cfg);
  cfg.feature_dim = 40, cfg.num_classes = 3;
  yt_model *m;
  yt_err err = {0};
  CHECK(yt_model_new(&m, &cfg, 1, &err) == 0, "new: %s", err.msg);
  size_t P = yt_model_num_params(m);
  CHECK(yt_model_num_tensors(m) == 2 && P == 123, "LogisticModel 40x3: 2 tensors, %zu params", P);
  yt_adam a;
  CHECK(yt_adam_init(&a, P, &err) == 0, "adam init");
  float *w = yt_model_params(m), *g = yt_model_grads(m);
  for (size_t i = 0; i < P; i++) w[i] = frand(-1, 1);
  float *w2 = malloc(P * sizeof *w2), *m2 = calloc(P, sizeof *m2), *v2 = calloc(P, sizeof *v2);
  memcpy(w2, w, P * sizeof *w2);
  float clips[] = {0.0f, 1.0f, 100.0f, 1.0f, 0.0f};
  for (int step = 0; step < 5; step++) {
    float clip = clips[step], lr = 0.01f;
    for (size_t i = 0; i < P; i++) g[i] = frand(-0.5f, 0.5f);
    float alpha = lr * sqrtf(1.0f - a.beta2_power) / (1.0f - a.beta1_power); /* adam.c's lr_t */
    yt_adam_step(&a, m, lr, clip);
    for (int t = 0; t < yt_model_num_tensors(m); t++) {
      const yt_tensor_info *ti = yt_model_tensor(m, t);
      float gs;
      be->sumsq(&gs, g + ti->offset, ti->numel);
      be->adam_update(w2 + ti->offset, m2 + ti->offset, v2 + ti->offset, g + ti->offset,
                      clip > 0 ? &gs : NULL, clip, ti->numel, alpha, YT_ADAM_BETA1, YT_ADAM_BETA2,
                      YT_ADAM_EPS);
    }
    double worst = 0;
    for (size_t i = 0; i < P; i++) {
      worst = fmax(worst, fabs(w2[i] - w[i]) / fmax(fabs(w[i]), 1e-3));
      worst = fmax(worst, fabs(m2[i] - a.m[i]) / fmax(fabs(a.m[i]), 1e-6));
      worst = fmax(worst, fabs(v2[i] - a.v[i]) / fmax(fabs(a.v[i]), 1e-9));
    }
    int cut = clip > 0 && clip < 5; /* the weights' gradient norm is ~1.8 */
    if (!cut)
      CHECK(!memcmp(w2, w, P * sizeof *w) && !memcmp(m2, a.m, P * sizeof *m2) &&
                !memcmp(v2, a.v, P * sizeof *v2),
            "adam_update step %d (clip %g) differs from yt_adam_step (max rel %.3g)", step, clip, worst);
    else
      CHECK(worst < 1e-6, "adam_update step %d (clip %g): max rel difference %.3g", step, clip, worst);
  }
  free(w2), free(m2), free(v2);
  yt_adam_free(&a);
  yt_model_free(m);
}

static void test_gather(const yt_backend *be) {
  enum { ROWS = 50, D = 1100, N = 37 };
  float *x = rnd((size_t)ROWS * D, -1, 1), *out = rnd((size_t)N * D, 5, 6);
  int32_t idx[N];
  for (int i = 0; i < N; i++) idx[i] = (int32_t)(urand() * ROWS);
  idx[0] = idx[1] = ROWS - 1; /* repeats and the last row */
  be->gather_rows(out, x, idx, N, D);
  int same = 1;
  for (int i = 0; i < N; i++) same &= !memcmp(out + (size_t)i * D, x + (size_t)idx[i] * D, D * sizeof *x);
  CHECK(same, "gather_rows");
  free(x), free(out);
}

static void test_dequantize(const yt_backend *be) {
  enum { B = 6, F = 7, D = 1152 };
  const float *table = yt_dequantize_table();
  uint8_t *q = malloc((size_t)B * F * D);
  for (size_t i = 0; i < (size_t)B * F * D; i++) q[i] = (uint8_t)(i * 131 + (i >> 7));
  int32_t nf[B] = {0, F, 3, -1, F + 2, 1};
  float *out = rnd((size_t)B * F * D, 9, 10);
  for (int pass = 0; pass < 3; pass++) {
    /* 0: the standard constants with num_frames; 1: NULL num_frames (all F); 2: other constants */
    float scale = pass == 2 ? 0.25f : YT_DQ_SCALE, bias = pass == 2 ? -1.0f / 3 : YT_DQ_BIAS;
    be->dequantize_frames(out, q, pass == 1 ? NULL : nf, B, F, D, scale, bias);
    int bad = 0;
    for (int b = 0; b < B; b++) {
      int n = pass == 1 ? F : nf[b] < 0 ? 0 : nf[b] > F ? F : nf[b];
      for (int t = 0; t < F; t++)
        for (int d = 0; d < D; d++) {
          size_t i = ((size_t)b * F + t) * D + d;
          volatile float prod = (float)q[i] * scale; /* two roundings */
          float want = t >= n ? 0.0f : pass == 2 ? prod + bias : table[q[i]];
          if (memcmp(&out[i], &want, sizeof want)) bad++;
        }
    }
    CHECK(bad == 0, "dequantize_frames pass %d: %d values differ from the reference", pass, bad);
  }
  free(q), free(out);
}

static void test_loss(const yt_backend *be) {
  enum { B = 4, C = 37 };
  float *p = rnd(B * C, 0.01f, 0.99f), *y = rnd(B * C, 0, 1);
  for (int i = 0; i < B * C; i++) y[i] = y[i] < 0.2f ? 1.0f : 0.0f;
  int kinds[] = {YT_LOSS_CE, YT_LOSS_HINGE, YT_LOSS_SOFTMAX};
  for (int k = 0; k < 3; k++) {
    float l = -1;
    be->loss_forward(&l, kinds[k], p, y, B, C);
    float want = yt_loss_forward(kinds[k], p, y, B, C);
    CHECK(l == want && l > 0, "loss_forward %s: %g, yt_loss_forward %g", yt_loss_name(kinds[k]), l, want);
  }
  free(p), free(y);
}

static void test_open(void) {
  const yt_backend *be = NULL;
  yt_err err = {0};
  CHECK(yt_backend_open("cpu", 0, &be, &err) == YT_OK && be == yt_backend_cpu(), "open cpu");

  /* parse errors list the accepted forms */
  const char *bad[] = {"cuda:x", "tpu", "gpu", "cuda:", "cuda:-1", "cuda:0x", "CPU", " cpu", "cuda", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    memset(&err, 0, sizeof err);
    be = yt_backend_cpu();
    CHECK(yt_backend_open(bad[i], 0, &be, &err) == YT_EUSAGE && be == NULL, "\"%s\" accepted", bad[i]);
    CHECK_CONTAINS(err.msg, "\"cpu\" and \"cuda:N\"");
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
    CHECK_CONTAINS(err.msg, quoted);
  }
  printf("  cuda:x  -> %s\n", (yt_backend_open("cuda:x", 0, &be, &err), err.msg));
  printf("  tpu     -> %s\n", (yt_backend_open("tpu", 0, &be, &err), err.msg));

  /* cuda:0 here: a build without CUDA says how to build with it; with CUDA
   * and no device it names the device; with a device it opens */
  memset(&err, 0, sizeof err);
  int rc = yt_backend_open("cuda:0", 0, &be, &err);
  if (!strcmp(yt_cuda_build_info(), "built without CUDA")) {
    CHECK(rc == YT_EUSAGE && be == NULL, "cuda:0 in a build without CUDA: %d", rc);
    CHECK_CONTAINS(err.msg, "built without CUDA");
    CHECK_CONTAINS(err.msg, "-DYT_CUDA=ON");
    CHECK_CONTAINS(err.msg, "CUDA toolkit");
  } else if (rc != YT_OK) {
    CHECK(be == NULL && !strncmp(err.msg, "cuda:0: ", 8), "cuda:0 failure names the device: %s", err.msg);
  } else {
    CHECK(be && !strcmp(be->name, "cuda") && be->device == 0, "cuda:0 opened");
  }
  printf("  cuda:0  -> %s\n", rc ? err.msg : "opened");
  memset(&err, 0, sizeof err);
  rc = yt_backend_open("cuda:1000", 0, &be, &err);
  CHECK(rc < 0 && be == NULL && !strncmp(err.msg, "cuda:1000: ", 11), "cuda:1000: %s", err.msg);
}

static void test_require(void) {
  yt_backend t = *yt_backend_cpu();
  yt_err err = {0};
  t.softmax_forward = NULL;
  t.sumsq = NULL;
  const char *ops[] = {"matmul_forward", "softmax_forward", "sumsq", NULL};
  CHECK(yt_backend_require(&t, ops, &err) == YT_EINVAL, "a NULL entry is an error");
  CHECK_CONTAINS(err.msg, "backend cpu lacks operation 'softmax_forward'");
  printf("  require -> %s\n", err.msg);
  const char *ok[] = {"matmul_forward", "loss_forward", NULL};
  CHECK(yt_backend_require(&t, ok, &err) == YT_OK, "present ops");
  const char *unknown[] = {"matmul_forward", "netvlad_forward", NULL};
  CHECK(yt_backend_require(yt_backend_cpu(), unknown, &err) == YT_EINVAL, "an unknown name is an error");
  CHECK_CONTAINS(err.msg, "'netvlad_forward' is not a backend operation");
  t.name = "cuda"; /* how a device backend's gap reads */
  CHECK(yt_backend_require(&t, ops, &err) == YT_EINVAL, "a NULL entry is an error");
  CHECK_CONTAINS(err.msg, "backend cuda lacks operation 'softmax_forward'");
  CHECK_CONTAINS(err.msg, "nodes/backend/cuda");
  printf("  require -> %s\n", err.msg);
  t = *yt_backend_cpu();
  t.ema_update = NULL; /* the last field: the name table reaches it */
  CHECK(yt_backend_require(&t, yt_backend_op_names(), &err) == YT_EINVAL, "last op missing");
  CHECK_CONTAINS(err.msg, "'ema_update'");
}

int main(void) {
  const yt_backend *be = yt_backend_cpu();
  test_table(be);
  test_memory(be);
  test_sumsq_axpy(be);
  test_l2_grad(be);
  test_grad_sumsq_cache();
  test_adam(be);
  test_ema(be);
  test_gather(be);
  test_dequantize(be);
  test_loss(be);
  test_open();
  test_require();
  return check_report("test_backend_cpu");
}
