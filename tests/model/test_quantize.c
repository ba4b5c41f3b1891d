/* test_quantize: 8-bit uniform quantization (model/quantize.h, REFERENCE.md 6.3):
 * the codebook (numpy linspace in double, exact endpoints), the nearest-index
 * rule (ties and runs of equal entries go to the lowest index, as an argmin
 * over all 256), the strict > 17000 threshold, the error bound
 * (max - min)/510 + float rounding, a constant tensor, a NaN refused, the
 * pass-through of an already quantized file, and a round trip: a MoeModel
 * saved, quantized and loaded again holds space[q] for each quantized weight
 * and its other tensors bit for bit; malformed pairs are clear errors. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/safetensors.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "model/quantize.h"

static char dir[] = "/tmp/test_quantize.XXXXXX";

static const char *tmp(const char *name) {
  static char buf[8][512];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", dir, name);
  return b;
}

static uint64_t rng = 88172645463325252ull;
static double unif(void) { /* [0, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) * 0x1p-53;
}

/* the index an argmin over all 256 entries gives (first minimum), distances in double */
static int brute_nearest(const float *space, float x) {
  int best = 0;
  double bd = fabs((double)x - space[0]);
  for (int i = 1; i < YT_QUANT_LEVELS; i++) {
    double d = fabs((double)x - space[i]);
    if (d < bd) bd = d, best = i;
  }
  return best;
}

static void test_codebook(void) {
  float space[YT_QUANT_LEVELS];
  float lo = -1.3f, hi = 2.7f;
  yt_quant_space(space, lo, hi);
  CHECK(space[0] == lo && space[255] == hi, "endpoints %.9g %.9g", space[0], space[255]);
  double step = ((double)hi - lo) / 255;
  int same = 1, mono = 1;
  for (int i = 0; i < 255; i++) same &= space[i] == (float)(i * step + (double)lo);
  for (int i = 1; i < 256; i++) mono &= space[i] >= space[i - 1];
  CHECK(same, "linspace in double, cast to float");
  CHECK(mono, "non-decreasing");
  /* an integer grid: every entry exact; a tie goes to the lower index */
  yt_quant_space(space, 0.0f, 255.0f);
  CHECK(space[17] == 17.0f && space[128] == 128.0f, "0..255 grid");
  CHECK(yt_quant_nearest(space, 2.5f) == 2, "tie 2.5 -> 2, got %d", yt_quant_nearest(space, 2.5f));
  CHECK(yt_quant_nearest(space, 254.5f) == 254, "tie 254.5 -> 254");
  CHECK(yt_quant_nearest(space, nextafterf(2.5f, 3.0f)) == 3, "just above the tie -> 3");
  CHECK(yt_quant_nearest(space, nextafterf(2.5f, 2.0f)) == 2, "just below the tie -> 2");
  CHECK(yt_quant_nearest(space, -7.0f) == 0 && yt_quant_nearest(space, 1e9f) == 255, "outside the range");
  CHECK(yt_quant_nearest(space, 0.0f) == 0 && yt_quant_nearest(space, 255.0f) == 255, "the endpoints");
  /* runs of equal entries (float rounding of a narrow range far from zero): the first of a run */
  float runs[YT_QUANT_LEVELS];
  for (int i = 0; i < YT_QUANT_LEVELS; i++) runs[i] = (float)(i / 4);
  CHECK(yt_quant_nearest(runs, 1.0f) == 4, "exact hit of a run -> its first, got %d",
        yt_quant_nearest(runs, 1.0f));
  CHECK(yt_quant_nearest(runs, 1.5f) == 4, "tie between runs -> the lower run's first");
  CHECK(yt_quant_nearest(runs, 1.6f) == 8, "nearer the upper run -> its first");
  CHECK(yt_quant_nearest(runs, 99.0f) == 252, "above all -> the last run's first");
  /* against the brute-force argmin: wide, narrow and far-from-zero ranges */
  int bad = 0;
  for (int trial = 0; trial < 200; trial++) {
    double c = trial % 3 == 0 ? 0 : (unif() - 0.5) * (trial % 3 == 1 ? 10 : 2e4);
    double r = trial % 4 == 0 ? 1e-6 : unif() * 3;
    float a = (float)(c - r * unif()), b = (float)(c + r * unif());
    yt_quant_space(space, a, b);
    for (int k = 0; k < 500; k++) {
      float x = k < 256 ? space[k] : (float)(a + (b - a) * (unif() * 1.2 - 0.1));
      if (k >= 256 && k < 300) x = (space[k % 255] + space[k % 255 + 1]) / 2; /* near the midpoints */
      if (yt_quant_nearest(space, x) != brute_nearest(space, x) && bad++ < 5)
        fprintf(stderr, "range [%.9g, %.9g] x %.9g: %d, argmin %d\n", a, b, x, yt_quant_nearest(space, x),
                brute_nearest(space, x));
    }
  }
  CHECK(bad == 0, "%d disagreements with the brute-force argmin", bad);
}

static void test_tensor(void) {
  yt_err err = {0};
  size_t n = 100000;
  float *w = malloc(n * sizeof *w), space[YT_QUANT_LEVELS];
  uint8_t *q = malloc(n);
  int bound_ok = 1, exact = 1;
  for (int trial = 0; trial < 6; trial++) {
    double scale = trial < 3 ? 0.05 : 30, off = trial % 3 == 2 ? 100 : 0;
    for (size_t i = 0; i < n; i++) w[i] = (float)(off + scale * (unif() + unif() + unif() - 1.5));
    double me = -1;
    CHECK(yt_quant_tensor(q, space, w, n, &me, &err) == 0, "%s", err.msg);
    float lo = w[0], hi = w[0];
    for (size_t i = 0; i < n; i++) lo = w[i] < lo ? w[i] : lo, hi = w[i] > hi ? w[i] : hi;
    exact &= space[0] == lo && space[255] == hi;
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)w[i] - space[q[i]]));
    double bound = ((double)hi - lo) / 510 + FLT_EPSILON * fmax(fabs(lo), fabs(hi));
    bound_ok &= worst == me && me <= bound;
    if (!(me <= bound)) fprintf(stderr, "trial %d: max error %.9g > bound %.9g\n", trial, me, bound);
  }
  CHECK(exact, "space[0] = min W, space[255] = max W");
  CHECK(bound_ok, "max error <= (max - min)/510 + float eps, and reported exactly");
  /* a constant tensor: 256 equal values, index 0, no error */
  for (size_t i = 0; i < 1000; i++) w[i] = 0.25f;
  double me = -1;
  memset(q, 7, 1000);
  CHECK(yt_quant_tensor(q, space, w, 1000, &me, &err) == 0, "%s", err.msg);
  int zeros = 1, equal = 1;
  for (size_t i = 0; i < 1000; i++) zeros &= q[i] == 0;
  for (int i = 0; i < 256; i++) equal &= space[i] == 0.25f;
  CHECK(zeros && equal && me == 0, "constant tensor: codebook of equal values, index 0, error 0");
  w[500] = NAN;
  CHECK(yt_quant_tensor(q, space, w, 1000, &me, &err) == YT_EINVAL, "a NaN is refused");
  CHECK_CONTAINS(err.msg, "value 500 is nan");
  free(w);
  free(q);
}

/* the threshold is strict: 17000 values stay float32, 17001 are quantized; non-float tensors stay */
static void test_threshold(void) {
  yt_err err = {0};
  size_t na = 17000, nb = 17001;
  float *a = malloc(na * 4), *b = malloc(nb * 4);
  int32_t *c = calloc(20000, 4);
  for (size_t i = 0; i < nb; i++) {
    if (i < na) a[i] = (float)sin((double)i);
    b[i] = (float)cos((double)i);
  }
  yt_st_writer *w = yt_st_writer_new();
  int64_t sa[2] = {100, 170}, sb[1] = {17001}, sc[1] = {20000};
  CHECK(yt_st_writer_add(w, "a", YT_ST_F32, 2, sa, a, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_add(w, "b", YT_ST_F32, 1, sb, b, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_add(w, "c", YT_ST_I32, 1, sc, c, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_meta(w, "config", "{\"model\":\"x\"}", &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_write(w, tmp("t.safetensors"), &err) == 0, "%s", err.msg);
  yt_st_writer_free(w);
  yt_st_file *in = NULL, *out = NULL;
  yt_quant_report rep;
  CHECK(yt_st_open(&in, tmp("t.safetensors"), &err) == 0, "%s", err.msg);
  CHECK(yt_quant_file(in, tmp("tq.safetensors"), YT_QUANT_MIN_ELEMENTS, &rep, &err) == 0, "%s", err.msg);
  CHECK(rep.n_tensors == 3 && rep.n_quantized == 1 && rep.floats_quantized == nb && rep.n_already == 0,
        "report: %zu of %zu, %zu floats", rep.n_quantized, rep.n_tensors, rep.floats_quantized);
  CHECK(rep.n_quantized == 1 && !strcmp(rep.items[0].name, "b"), "the quantized one is b");
  yt_quant_report_free(&rep);
  CHECK(yt_st_open(&out, tmp("tq.safetensors"), &err) == 0, "%s", err.msg);
  if (out) {
    const yt_st_tensor *ta = yt_st_find(out, "a"), *tq = yt_st_find(out, "b_quants"),
                       *ts = yt_st_find(out, "b_space");
    const yt_st_tensor *tc = yt_st_find(out, "c");
    CHECK(ta && ta->dtype == YT_ST_F32 && !memcmp(ta->data, a, na * 4),
          "17000 values stay float32, unchanged");
    CHECK(!yt_st_find(out, "a_quants") && !yt_st_find(out, "b"), "no a_quants, no b");
    CHECK(tq && tq->dtype == YT_ST_U8 && tq->rank == 1 && tq->shape[0] == 17001, "b_quants U8 [17001]");
    CHECK(ts && ts->dtype == YT_ST_F32 && ts->rank == 1 && ts->shape[0] == 256, "b_space F32 [256]");
    CHECK(tc && tc->dtype == YT_ST_I32 && !memcmp(tc->data, c, 20000 * 4), "an int32 tensor passes through");
    CHECK(yt_st_count(out) == 4, "4 tensors, got %zu", yt_st_count(out));
    const char *m = yt_st_meta(out, "config"), *qz = yt_st_meta(out, "quantization");
    CHECK(m && !strcmp(m, "{\"model\":\"x\"}"), "metadata copied");
    CHECK(qz && !strcmp(qz, "quant_uniform"), "quantization metadata");
    /* expansion: b = space[q] */
    float *bx = malloc(nb * 4);
    int64_t shape[1] = {17001};
    CHECK(yt_quant_expand(out, "b", 1, shape, bx, &err) == 0, "%s", err.msg);
    int ok = 1;
    const float *sp = ts->data;
    const uint8_t *qi = tq->data;
    for (size_t i = 0; i < nb; i++) ok &= bx[i] == sp[qi[i]] && fabsf(bx[i] - b[i]) <= 2.0f / 510 + 1e-6f;
    CHECK(ok, "expanded b = space[q], within the bound of b");
    CHECK(yt_quant_expand(out, "a", 2, sa, bx, &err) == YT_EOF, "a is not quantized: YT_EOF");
    free(bx);
    /* min_elements 0: a too; the pair of b passes through (its 256-value codebook is not quantized again) */
    yt_st_file *again = NULL;
    CHECK(yt_quant_file(out, tmp("tqq.safetensors"), 0, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.n_quantized == 1 && rep.n_already == 1 && !strcmp(rep.items[0].name, "a"),
          "again with 0: a quantized, b passed through (%zu, %zu)", rep.n_quantized, rep.n_already);
    yt_quant_report_free(&rep);
    CHECK(yt_st_open(&again, tmp("tqq.safetensors"), &err) == 0, "%s", err.msg);
    if (again) {
      const yt_st_tensor *q2 = yt_st_find(again, "b_quants"), *s2 = yt_st_find(again, "b_space");
      CHECK(q2 && s2 && !memcmp(q2->data, tq->data, nb) && !memcmp(s2->data, ts->data, 1024),
            "b's pair unchanged");
      CHECK(yt_st_find(again, "a_quants") && !yt_st_find(again, "b_space_quants") && yt_st_count(again) == 5,
            "a_quants added, no b_space_quants");
      yt_st_close(again);
    }
    yt_st_close(out);
  }
  yt_st_close(in);
  free(a);
  free(b);
  free(c);
}

static yt_model_config moe_cfg(uint64_t seed) {
  yt_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.model, sizeof c.model, "MoeModel");
  yt_model_config_defaults(&c);
  c.num_classes = 20; /* gates [1152, 60] and experts [1152, 40] exceed 17000; the biases [40] do not */
  c.seed = seed;
  return c;
}

static void test_round_trip(void) {
  yt_err err = {0};
  yt_model_config c = moe_cfg(5);
  yt_model *m = NULL, *m2 = NULL;
  char path[4096];
  CHECK(yt_model_new(&m, &c, 8, &err) == 0, "%s", err.msg);
  if (!m) return;
  /* non-zero biases, so that a float tensor's copy is checked too */
  float *p = yt_model_params(m);
  int bi = yt_model_find_tensor(m, "tower/experts/biases");
  CHECK(bi >= 0, "MoeModel has tower/experts/biases");
  if (bi >= 0)
    for (size_t i = 0; i < yt_model_tensor(m, bi)->numel; i++)
      p[yt_model_tensor(m, bi)->offset + i] = (float)unif();
  yt_model_params_changed(m);
  CHECK(yt_ckpt_save(tmp("run"), m, NULL, NULL, 7, "mean_rgb,mean_audio", "1024,128", path, sizeof path,
                     &err) == 0,
        "save: %s", err.msg);
  yt_st_file *f = NULL, *fq = NULL;
  yt_quant_report rep;
  CHECK(yt_st_open(&f, path, &err) == 0, "%s", err.msg);
  CHECK(f && yt_quant_file(f, tmp("moe_q.safetensors"), YT_QUANT_MIN_ELEMENTS, &rep, &err) == 0, "%s",
        err.msg);
  CHECK(rep.n_quantized == 2 && rep.floats_quantized == 1152 * 100, "MoeModel: 2 tensors quantized, got %zu",
        rep.n_quantized);
  yt_quant_report_free(&rep);
  CHECK(yt_st_open(&fq, tmp("moe_q.safetensors"), &err) == 0, "%s", err.msg);
  yt_model_config back;
  CHECK(fq && yt_ckpt_config(fq, &back, &err) == 0, "config of the quantized file: %s", err.msg);
  back.seed = 99; /* other initial weights: the load must replace all of them */
  CHECK(yt_model_new(&m2, &back, 8, &err) == 0, "%s", err.msg);
  int64_t step = 0;
  CHECK(m2 && yt_ckpt_load(fq, m2, NULL, &step, &err) == 0 && step == 7, "load the quantized file: %s",
        err.msg);
  if (m2 && fq) {
    const float *a = yt_model_params(m), *b = yt_model_params(m2);
    for (int i = 0; i < yt_model_num_tensors(m); i++) {
      const yt_tensor_info *t = yt_model_tensor(m, i);
      char qn[128];
      snprintf(qn, sizeof qn, "%s_quants", t->name);
      const yt_st_tensor *tq = yt_st_find(fq, qn);
      if (t->numel > YT_QUANT_MIN_ELEMENTS) {
        snprintf(qn, sizeof qn, "%s_space", t->name);
        const yt_st_tensor *ts = yt_st_find(fq, qn);
        CHECK(tq && ts && !yt_st_find(fq, t->name), "%s stored as _quants + _space only", t->name);
        if (!tq || !ts) continue;
        const uint8_t *q = tq->data;
        const float *sp = ts->data;
        int same = 1, close = 1;
        float lo = sp[0], hi = sp[255];
        for (size_t k = 0; k < t->numel; k++) {
          same &= b[t->offset + k] == sp[q[k]];
          close &= fabs((double)b[t->offset + k] - a[t->offset + k]) <= ((double)hi - lo) / 510 + 1e-7;
        }
        CHECK(same, "%s: the loaded weights are space[q]", t->name);
        CHECK(close, "%s: within (max-min)/510 of the float weights", t->name);
      } else {
        CHECK(!tq, "%s stays float32", t->name);
        CHECK(!memcmp(a + t->offset, b + t->offset, t->numel * 4), "%s loaded bit for bit", t->name);
      }
    }
    /* the predictions barely move */
    float x[8 * 1152], p1[8 * 20], p2[8 * 20];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)(unif() - 0.5);
    CHECK(yt_model_forward(m, x, NULL, 8, 0, p1, &err) == 0 &&
              yt_model_forward(m2, x, NULL, 8, 0, p2, &err) == 0,
          "%s", err.msg);
    double dmax = 0;
    for (int i = 0; i < 8 * 20; i++) dmax = fmax(dmax, fabs((double)p1[i] - p2[i]));
    CHECK(dmax < 0.01, "predictions of the quantized model within 0.01 (max diff %g)", dmax);
  }
  yt_model_free(m2);
  yt_st_close(fq);
  yt_st_close(f);
  yt_model_free(m);
}

/* a malformed pair: the load names the file, the tensor and what it expected */
static void bad_pair(const char *what, int64_t qdim, yt_st_dtype qdt, int64_t sdim, int with_space,
                     const char *expect) {
  yt_err err = {0};
  yt_model_config c = moe_cfg(3);
  yt_model *m = NULL;
  CHECK(yt_model_new(&m, &c, 2, &err) == 0, "%s", err.msg);
  if (!m) return;
  const float *p = yt_model_params(m);
  yt_st_writer *w = yt_st_writer_new();
  static uint8_t q[1152 * 60 * 4];
  static float sp[300];
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    int64_t shape[4];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
    if (!strcmp(t->name, "tower/gates/weights")) {
      int64_t qs[2] = {1152, qdim}, ss[1] = {sdim};
      yt_st_writer_add(w, "tower/gates/weights_quants", qdt, 2, qs, q, &err);
      if (with_space) yt_st_writer_add(w, "tower/gates/weights_space", YT_ST_F32, 1, ss, sp, &err);
    } else {
      yt_st_writer_add(w, t->name, YT_ST_F32, t->ndim, shape, p + t->offset, &err);
    }
  }
  char *json = yt_model_config_json(&c);
  yt_st_writer_meta(w, "config", json, &err);
  free(json);
  CHECK(yt_st_writer_write(w, tmp("bad.safetensors"), &err) == 0, "%s: %s", what, err.msg);
  yt_st_writer_free(w);
  yt_st_file *f = NULL;
  int64_t step;
  CHECK(yt_st_open(&f, tmp("bad.safetensors"), &err) == 0, "%s", err.msg);
  if (f) {
    int rc = yt_ckpt_load(f, m, NULL, &step, &err);
    CHECK(rc == YT_EINVAL, "%s: refused (rc %d)", what, rc);
    CHECK_CONTAINS(err.msg, tmp("bad.safetensors"));
    CHECK_CONTAINS(err.msg, expect);
    yt_st_close(f);
  }
  yt_model_free(m);
}

int main(void) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_codebook();
  test_tensor();
  test_threshold();
  test_round_trip();
  bad_pair("_quants of another shape", 50, YT_ST_U8, 256, 1,
           "tensor 'tower/gates/weights_quants' is U8 [1152, 50], expected U8 [1152, 60]");
  bad_pair("_quants not uint8", 60, YT_ST_F32, 256, 1, "tensor 'tower/gates/weights_quants' is F32");
  bad_pair("_space of 255 floats", 60, YT_ST_U8, 255, 1,
           "tensor 'tower/gates/weights_space' must be F32 [256] (the codebook of 'tower/gates/weights')");
  bad_pair("_space missing", 60, YT_ST_U8, 256, 0, "no codebook 'tower/gates/weights_space'");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_report("test_quantize");
}
