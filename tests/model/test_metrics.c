/* test_metrics: Hit@1, PERR (k = 0 quirk, ties), GAP and mAP on hand-computed
 * cases, the CPython MT19937 / random.sample / heapq tie order against values
 * taken from Debian's python3, the log lines and the Kaggle CSV lines.
 *
 * Also the C side of test_metrics_numpy.sh (no checks, prints for Python):
 *   test_metrics --dump PREDS.bin LABELS.bin B C [BATCH [TOP_K]]  -> JSON
 *   test_metrics --mt N                     -> N x getrandbits(32) after seed(0)
 *   test_metrics --sample N K SEED          -> random.sample(range(N), K) */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "model/gap.h"
#include "model/kaggle.h"
#include "model/metrics.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

static void test_pyrandom(void) {
  /* python3 -c 'import random; random.seed(0); print([random.getrandbits(32) for _ in range(5)])' */
  static const uint32_t seed0[5] = {3626764237u, 1654615998u, 3255389356u, 3823568514u, 1806341205u};
  yt_pyrandom r;
  yt_pyrandom_seed(&r, 0);
  for (int i = 0; i < 5; i++) {
    uint32_t v = yt_pyrandom_u32(&r);
    CHECK(v == seed0[i], "seed 0 output %d: %u, python %u", i, v, seed0[i]);
  }
  /* seed(0); getrandbits(40), getrandbits(64), getrandbits(7) */
  yt_pyrandom_seed(&r, 0);
  uint64_t a = yt_pyrandom_getrandbits(&r, 40), b = yt_pyrandom_getrandbits(&r, 64),
           c = yt_pyrandom_getrandbits(&r, 7);
  CHECK(a == 424533559245ull && b == 16422101724900707500ull && c == 53,
        "getrandbits 40/64/7: %llu %llu %llu", (unsigned long long)a, (unsigned long long)b,
        (unsigned long long)c);
  /* a seed of two 32-bit words: seed(2**40 + 5) */
  yt_pyrandom_seed(&r, (1ull << 40) + 5);
  uint32_t w0 = yt_pyrandom_u32(&r), w1 = yt_pyrandom_u32(&r);
  CHECK(w0 == 2166296868u && w1 == 2220160828u, "seed 2^40+5: %u %u", w0, w1);
  /* seed(0); sample(range(10), 10) and sample(range(30), 30)[:10]: pool algorithm */
  static const uint32_t s10[10] = {6, 9, 0, 2, 4, 3, 5, 1, 8, 7};
  static const uint32_t s30[10] = {27, 12, 24, 13, 1, 8, 16, 15, 28, 9};
  uint32_t out[30];
  yt_err err = {0};
  yt_pyrandom_seed(&r, 0);
  CHECK(yt_pyrandom_sample(&r, 10, 10, out, &err) == 0, "%s", err.msg);
  CHECK(memcmp(out, s10, sizeof s10) == 0, "sample(range(10), 10) starts %u %u %u", out[0], out[1], out[2]);
  yt_pyrandom_seed(&r, 0);
  CHECK(yt_pyrandom_sample(&r, 30, 30, out, &err) == 0, "%s", err.msg);
  CHECK(memcmp(out, s30, sizeof s30) == 0, "sample(range(30), 30) starts %u %u %u", out[0], out[1], out[2]);
  /* seed(12345); sample(range(1000), 5): 1000 > setsize 21, the set algorithm */
  static const uint32_t s1000[5] = {426, 750, 10, 839, 845};
  yt_pyrandom_seed(&r, 12345);
  CHECK(yt_pyrandom_sample(&r, 1000, 5, out, &err) == 0, "%s", err.msg);
  CHECK(memcmp(out, s1000, sizeof s1000) == 0, "sample(range(1000), 5): %u %u %u %u %u", out[0], out[1],
        out[2], out[3], out[4]);
  CHECK(yt_pyrandom_sample(&r, 3, 4, out, &err) == YT_EINVAL, "k > n accepted");
}

static void test_tie_order(void) {
  /* heapq pushes (0.5,1) (0.5,0) (0.5,0) (0.7,0) (0.5,1) give the heap
   * [(0.5,0), (0.5,1), (0.5,0), (0.7,0), (0.5,1)]; seed(0) sample(range(5), 5)
   * = [3, 4, 0, 1, 2]; stable descending sort: 0.7- 0.5+ 0.5- 0.5+ 0.5-.
   * With P = 3: AP = (1/2 + 2/4) / 3 = 1/3 (python3 gives 0.3333333333333333).
   * Other orders give other values: push order shuffled 0.3889, heap order
   * unshuffled 0.2444. */
  yt_aplist a;
  yt_err err = {0};
  yt_aplist_init(&a);
  CHECK(yt_aplist_reserve(&a, 5, &err) == 0, "%s", err.msg);
  const float s[5] = {0.5f, 0.5f, 0.5f, 0.7f, 0.5f};
  const int l[5] = {1, 0, 0, 0, 1};
  for (int i = 0; i < 5; i++) yt_aplist_push(&a, s[i], l[i]);
  static const uint8_t heap_lab[5] = {0, 1, 0, 0, 1};
  CHECK(memcmp(a.label, heap_lab, 5) == 0 && a.score[3] == 0.7f, "heap array order");
  a.positives = 3;
  double ap = -1;
  CHECK(yt_aplist_ap(&a, &ap, &err) == 0, "%s", err.msg);
  CHECK(ap == 1.0 / 3, "tie AP %.17g, python 1/3", ap);
  a.positives = 0;
  CHECK(yt_aplist_ap(&a, &ap, &err) == 0 && ap == 0, "P = 0 gives %g", ap);
  yt_aplist_clear(&a);
  a.positives = 2;
  CHECK(yt_aplist_ap(&a, &ap, &err) == 0 && ap == 0, "empty list gives %g", ap);
  yt_aplist_free(&a);
}

static void test_topk(void) {
  const float x[8] = {0.1f, 0.9f, 0.5f, 0.9f, 0.5f, 0.5f, NAN, 0.2f};
  int idx[8];
  int m = yt_topk(idx, x, 8, 4);
  CHECK(m == 4 && idx[0] == 1 && idx[1] == 3 && idx[2] == 2 && idx[3] == 4,
        "top4 %d %d %d %d (ties: lower index first)", idx[0], idx[1], idx[2], idx[3]);
  m = yt_topk(idx, x, 8, 20);
  CHECK(m == 8 && idx[6] == 0 && idx[7] == 6, "top of all: NaN last (%d %d)", idx[6], idx[7]);
}

static void test_hit_perr(void) {
  /* Hit@1: row 0 argmax tie between 1 and 2 -> 1 (label 0); row 1 tie 0/1 -> 0 (label 1) */
  const float p1[6] = {0.5f, 0.9f, 0.9f, 0.9f, 0.9f, 0.1f};
  const float l1[6] = {0, 0, 1, 1, 0, 0};
  CHECK(NEAR(yt_hit_at_one(p1, l1, 2, 3), 0.5), "hit@1 %g", yt_hit_at_one(p1, l1, 2, 3));
  /* PERR, C = 4:
   * row 0: k = 2, top {0, 2}, labels 1 + 0 -> 1/2
   * row 1: no labels: k = 0 selects the whole row, adds 0, still counts
   * row 2: k = 2, top {2, 0} (0 wins the tie at 0.0 over 1, 3) but p[0] = 0
   *        is not > 0, so only label[2] counts -> 1/2
   * PERR = (1/2 + 0 + 1/2) / 3 = 1/3 */
  const float p[12] = {0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.3f, 0.3f, 0.1f, 0, 0, 0.7f, 0};
  const float l[12] = {1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0};
  CHECK(NEAR(yt_perr(p, l, 3, 4), 1.0 / 3), "PERR %.17g, want 1/3", yt_perr(p, l, 3, 4));
  /* k = 0 with a fractional label (segment ratings): [-0:] is the whole row,
   * so the row adds sum(labels where p > 0) / C = 0.5 / 4 */
  const float pf[4] = {0.4f, 0.3f, 0.2f, 0.1f}, lf[4] = {0.5f, 0, 0, 0};
  CHECK(NEAR(yt_perr(pf, lf, 1, 4), 0.125), "PERR k=0 quirk %g", yt_perr(pf, lf, 1, 4));
  /* k > 64 takes the allocation-free threshold path: compare with top-k */
  enum { C = 300 };
  float pp[C], ll[C];
  int idx[C];
  for (int c = 0; c < C; c++) {
    pp[c] = (float)((c * 37) % 11) / 10 - 0.1f; /* many ties, some <= 0 */
    ll[c] = (c % 3 == 0);
  }
  int k = 0;
  for (int c = 0; c < C; c++) k += ll[c] > 0;
  int m = yt_topk(idx, pp, C, k);
  double want = 0;
  for (int i = 0; i < m; i++)
    if (pp[idx[i]] > 0) want += ll[idx[i]];
  want /= k;
  CHECK(k == 100 && NEAR(yt_perr(pp, ll, 1, C), want), "PERR k=%d: %g vs %g", k, yt_perr(pp, ll, 1, C), want);
}

static void test_aggregate(void) {
  /* C = 4, top_k = 2.
   *   v0: p (0.9 0.1 0.5 0.0)  labels {0, 3}  top2 {0, 2}
   *   v1: p (0.2 0.8 0.3 0.1)  labels {0, 2}  top2 {1, 2}
   * GAP: pooled 0.9+ 0.8- 0.5- 0.3+, P = 4 (v1's class 0 and v0's class 3
   *   are outside the top 2 but count): (1/1 + 2/4) / 4 = 0.375
   * mAP: class 0 [0.9+] P 2 -> 0.5; class 1 [0.8-] P 0 -> dropped;
   *   class 2 [0.5- 0.3+] P 1 -> 0.5; class 3 no top-2 item, P 1 -> 0;
   *   mAP = 1/3 over num_classes 3.
   * Hit@1: v0 -> 1, v1 -> 0: 0.5. PERR: 1/2 each: 0.5. Loss 2 and 4: 3. */
  const float p[8] = {0.9f, 0.1f, 0.5f, 0.0f, 0.2f, 0.8f, 0.3f, 0.1f};
  const float l[8] = {1, 0, 0, 1, 1, 0, 1, 0};
  yt_err err = {0};
  for (int split = 0; split < 2; split++) {
    yt_metrics m;
    CHECK(yt_metrics_init(&m, 4, 2, &err) == 0, "%s", err.msg);
    yt_batch_metrics bm;
    if (split) {
      CHECK(yt_metrics_add(&m, p, l, 1, 2.0, &bm, &err) == 0, "%s", err.msg);
      CHECK(bm.hit_at_one == 1 && bm.perr == 0.5 && bm.loss == 2 && isnan(bm.gap), "batch 0");
      CHECK(yt_metrics_add(&m, p + 4, l + 4, 1, 4.0, &bm, &err) == 0, "%s", err.msg);
    } else {
      CHECK(yt_metrics_add(&m, p, l, 2, 3.0, &bm, &err) == 0, "%s", err.msg);
    }
    yt_eval_result r;
    CHECK(yt_metrics_get(&m, &r, &err) == 0, "%s", err.msg);
    CHECK(NEAR(r.gap, 0.375), "GAP %.17g, want 0.375 (split %d)", r.gap, split);
    CHECK(NEAR(r.map, 1.0 / 3) && r.num_classes == 3, "mAP %.17g over %d, want 1/3 over 3", r.map,
          r.num_classes);
    CHECK(NEAR(r.avg_hit_at_one, 0.5) && NEAR(r.avg_perr, 0.5) && NEAR(r.avg_loss, 3),
          "avg hit %g perr %g loss %g", r.avg_hit_at_one, r.avg_perr, r.avg_loss);
    CHECK(r.examples == 2, "examples %lld", r.examples);
    /* get() is a peek: the same again, and clear() empties */
    yt_eval_result r2;
    CHECK(yt_metrics_get(&m, &r2, &err) == 0 && r2.gap == r.gap && r2.map == r.map, "peek");
    yt_metrics_clear(&m);
    CHECK(yt_metrics_get(&m, &r2, &err) == YT_EINVAL, "get after clear must fail");
    yt_metrics_free(&m);
  }
  /* the same batch alone, as train.py's calculate_gap */
  double gap = -1;
  CHECK(yt_batch_gap(&gap, p, l, 2, 4, 2, &err) == 0 && NEAR(gap, 0.375), "batch GAP %g", gap);
  yt_batch_metrics tm;
  CHECK(yt_batch_metrics_train(&tm, p, l, 2, 4, 2, 1.5, &err) == 0, "%s", err.msg);
  CHECK(NEAR(tm.gap, 0.375) && NEAR(tm.hit_at_one, 0.5) && NEAR(tm.perr, 0.5) && tm.loss == 1.5,
        "train metrics");
  /* no positives at all: GAP 0, mAP NaN (numpy.mean([])), num_classes 0 */
  const float z[8] = {0};
  yt_metrics m;
  yt_eval_result r;
  CHECK(yt_metrics_init(&m, 4, 20, &err) == 0, "%s", err.msg);
  CHECK(yt_metrics_add(&m, p, z, 2, 0, NULL, &err) == 0, "%s", err.msg);
  CHECK(yt_metrics_get(&m, &r, &err) == 0 && r.gap == 0 && isnan(r.map) && r.num_classes == 0,
        "no positives: gap %g map %g n %d", r.gap, r.map, r.num_classes);
  yt_metrics_free(&m);
  CHECK(yt_metrics_init(&m, 0, 20, &err) == YT_EINVAL, "0 classes accepted");
  /* the legacy one-video API agrees with the dense one */
  yt_gap g;
  yt_gap_init(&g, 2);
  const int la[2] = {0, 3}, lb[2] = {0, 2};
  CHECK(yt_gap_add(&g, p, 4, la, 2, &err) == 0 && yt_gap_add(&g, p + 4, 4, lb, 2, &err) == 0, "add");
  CHECK(NEAR(yt_gap_value(&g), 0.375), "yt_gap %g", yt_gap_value(&g));
  yt_gap_free(&g);
  /* a perfect ranking of 10 positives: the reference's term-by-term sum of
   * (i/i) * (1/10) gives 0.9999999999999999; the legacy API gives exactly 1 */
  float one[10];
  float lab[10];
  for (int i = 0; i < 10; i++) one[i] = lab[i] = 1;
  CHECK(yt_metrics_init(&m, 1, 20, &err) == 0 && yt_metrics_add(&m, one, lab, 10, 0, NULL, &err) == 0 &&
            yt_metrics_get(&m, &r, &err) == 0,
        "%s", err.msg);
  CHECK(r.gap == 0.9999999999999999 && r.map == r.gap, "perfect GAP %.17g", r.gap);
  yt_metrics_free(&m);
  yt_gap_init(&g, 20);
  const int l0[1] = {0};
  for (int i = 0; i < 10; i++) yt_gap_add(&g, one, 1, l0, 1, &err);
  CHECK(yt_gap_value(&g) == 1, "legacy perfect GAP %.17g", yt_gap_value(&g));
  yt_gap_free(&g);
}

static void test_log_lines(void) {
  char b[512];
  yt_batch_metrics m = {.hit_at_one = 0.71, .perr = 0.58, .gap = 0.63, .loss = 7.8214};
  CHECK(yt_fmt_train_line(b, sizeof b, 1230, 9.87, 1234.56, &m) > 0, "train line");
  CHECK(!strcmp(b, "training step 1230 | Loss: 9.87 Examples/sec: 1234.56 | Hit@1: 0.71 PERR: 0.58 "
                   "GAP: 0.63"),
        "'%s'", b);
  yt_fmt_train_line(b, sizeof b, 1231, 9.87, 1234.56, &m);
  CHECK(!strcmp(b, "training step 1231 | Loss: 9.87 Examples/sec: 1234.56"), "'%s'", b);
  m = (yt_batch_metrics){.hit_at_one = 0.782, .perr = 0.637, .loss = 7.821};
  yt_fmt_eval_batch_line(b, sizeof b, 1024, yt_global_step_of("/tmp/run/model.ckpt-447044"), &m, 834.658);
  CHECK(!strcmp(b, "examples_processed: 1024 | global_step 447044 | Batch Hit@1: 0.782 | Batch "
                   "PERR: 0.637 | Batch Loss: 7.821 | Examples_per_sec: 834.658"),
        "'%s'", b);
  yt_eval_result r = {.examples = 4096,
                      .avg_hit_at_one = 0.8765,
                      .avg_perr = 0.7123,
                      .map = 0.4567,
                      .gap = 0.8321,
                      .avg_loss = 7.821234,
                      .num_classes = 3817};
  yt_fmt_eval_epoch_line(b, sizeof b, "447044", &r);
  CHECK(!strcmp(b, "epoch/eval number 447044 | Avg_Hit@1: 0.876 | Avg_PERR: 0.712 | MAP: 0.457 | "
                   "GAP: 0.832 | Avg_Loss: 7.821234 | num_classes: 3817"),
        "'%s'", b);
  yt_fmt_eval_total_line(b, sizeof b, 4096);
  CHECK(!strcmp(b, "Total: examples_processed: 4096"), "'%s'", b);
  CHECK(
      !strcmp(YT_EVAL_DONE_LINE, "Done with batched inference. Now calculating global performance metrics."),
      "done line");
  CHECK(yt_fmt_eval_total_line(b, 10, 4096) == YT_EINVAL, "short buffer accepted");
  CHECK(!strcmp(yt_global_step_of("model.ckpt"), "model.ckpt"), "no dash");
}

static void test_kaggle(void) {
  enum { C = 25 };
  float s[C];
  for (int c = 0; c < C; c++) s[c] = 0.001f * (float)c; /* 0 .. 0.024 */
  s[7] = 0.987654f;
  s[3] = 1.0f;
  s[11] = 0.000123457f;
  s[0] = 1.23e-05f;
  s[20] = 0.5f, s[21] = 0.5f; /* a tie: ascending class order */
  char b[YT_KAGGLE_LINE_MAX(4, 20)];
  yt_err err = {0};
  int n = yt_kaggle_line(b, sizeof b, "Ab3d", 4, s, C, 20, &err);
  const char *want =
      "Ab3d,3 1 7 0.987654 20 0.5 21 0.5 24 0.024 23 0.023 22 0.022 19 0.019 18 0.018 17 0.017 "
      "16 0.016 15 0.015 14 0.014 13 0.013 12 0.012 10 0.01 9 0.009 8 0.008 6 0.006 5 0.005\n";
  CHECK(n == (int)strlen(want) && !strcmp(b, want), "line (%d) '%s'", n, b);
  /* %g of the smaller ones: top 25 includes them */
  char big[YT_KAGGLE_LINE_MAX(1, 25)];
  n = yt_kaggle_line(big, sizeof big, "x", 1, s, C, 25, &err);
  CHECK_CONTAINS(big, " 11 0.000123457 ");
  CHECK(n > 0 && big[n - 1] == '\n' && big[n - 2] != ' ', "no trailing space");
  CHECK(strstr(big, " 4 0.004 2 0.002 1 0.001 11 0.000123457 0 1.23e-05\n") != NULL, "tail order '%s'", big);
  CHECK(yt_kaggle_line(b, 20, "Ab3d", 4, s, C, 20, &err) == YT_EINVAL, "short buffer accepted");
  CHECK_CONTAINS(err.msg, "too small");
  CHECK(!strcmp(YT_KAGGLE_HEADER, "VideoId,LabelConfidencePairs"), "header");
  /* names for humans */
  char *names[C];
  char nb[C][16];
  for (int c = 0; c < C; c++) snprintf(nb[c], sizeof nb[c], "n%d", c), names[c] = nb[c];
  names[3] = "Video game";
  yt_vocab v = {.n = C, .name = names};
  n = yt_kaggle_line_names(big, sizeof big, "id", 2, s, C, 3, &v, &err);
  CHECK(n > 0 && !strcmp(big, "id,Video game 1 n7 0.987654 n20 0.5\n"), "names '%s'", big);
  v.n = 5;
  CHECK(yt_kaggle_line_names(big, sizeof big, "id", 2, s, C, 3, &v, &err) == YT_EINVAL,
        "missing name accepted");
  /* FILE output matches the buffer */
  FILE *f = tmpfile();
  CHECK(f && yt_kaggle_write_header(f, &err) == 0 && yt_kaggle_write(f, "Ab3d", 4, s, C, 20, &err) == 0,
        "write");
  if (f) {
    char fb[1024] = {0};
    rewind(f);
    size_t got = fread(fb, 1, sizeof fb - 1, f);
    fclose(f);
    CHECK(got == strlen(YT_KAGGLE_HEADER) + 1 + strlen(want) &&
              !strncmp(fb, YT_KAGGLE_HEADER "\n", strlen(YT_KAGGLE_HEADER) + 1) &&
              !strcmp(fb + strlen(YT_KAGGLE_HEADER) + 1, want),
          "file '%s'", fb);
  }
}

/* ---- driver modes for test_metrics_numpy.sh ------------------------------ */

static float *load_f32(const char *path, size_t n) {
  size_t len = 0;
  char *b = check_slurp(path, &len);
  if (!b || len != n * sizeof(float)) {
    fprintf(stderr, "%s: expected %zu float32 values\n", path, n);
    free(b);
    return NULL;
  }
  return (float *)b; /* malloc'd: aligned */
}

static int dump(int argc, char **argv) {
  if (argc < 6) return fprintf(stderr, "usage: --dump PREDS LABELS B C [BATCH [TOP_K]]\n"), 2;
  int B = atoi(argv[4]), C = atoi(argv[5]);
  int batch = argc > 6 ? atoi(argv[6]) : B, top_k = argc > 7 ? atoi(argv[7]) : 20;
  float *p = load_f32(argv[2], (size_t)B * C), *l = load_f32(argv[3], (size_t)B * C);
  if (!p || !l || batch <= 0) return 2;
  yt_metrics m;
  yt_err err = {0};
  yt_eval_result r;
  yt_batch_metrics b0 = {0};
  double loss0 = 0;
  if (yt_metrics_init(&m, C, top_k, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
  for (int i = 0; i < B; i += batch) {
    int nb = B - i < batch ? B - i : batch;
    /* a made-up batch loss: the batch index + 0.25, to check the weighting */
    double loss = i / batch + 0.25;
    if (yt_metrics_add(&m, p + (size_t)i * C, l + (size_t)i * C, nb, loss, NULL, &err) < 0)
      return fprintf(stderr, "%s\n", err.msg), 1;
    if (i == 0 && yt_batch_metrics_train(&b0, p, l, nb, C, top_k, loss, &err) < 0)
      return fprintf(stderr, "%s\n", err.msg), 1;
    if (i == 0) loss0 = loss;
  }
  if (yt_metrics_get(&m, &r, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
  printf("{\"examples\": %lld, \"hit_at_one\": %.17g, \"perr\": %.17g, \"loss\": %.17g, "
         "\"gap\": %.17g, \"map\": %.17g, \"num_classes\": %d, "
         "\"batch0\": {\"hit_at_one\": %.17g, \"perr\": %.17g, \"gap\": %.17g, \"loss\": %.17g}}\n",
         r.examples, r.avg_hit_at_one, r.avg_perr, r.avg_loss, r.gap, r.map, r.num_classes, b0.hit_at_one,
         b0.perr, b0.gap, loss0);
  yt_metrics_free(&m);
  free(p);
  free(l);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--dump")) return dump(argc, argv);
  if (argc > 2 && !strcmp(argv[1], "--mt")) {
    yt_pyrandom r;
    yt_pyrandom_seed(&r, 0);
    for (int i = 0, n = atoi(argv[2]); i < n; i++) printf("%u\n", yt_pyrandom_u32(&r));
    return 0;
  }
  if (argc > 4 && !strcmp(argv[1], "--sample")) {
    uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10), k = (uint32_t)strtoul(argv[3], NULL, 10);
    uint32_t *out = malloc((k ? k : 1) * sizeof *out);
    yt_pyrandom r;
    yt_err err = {0};
    yt_pyrandom_seed(&r, strtoull(argv[4], NULL, 10));
    if (!out || yt_pyrandom_sample(&r, n, k, out, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
    for (uint32_t i = 0; i < k; i++) printf("%u\n", out[i]);
    free(out);
    return 0;
  }
  test_pyrandom();
  test_tie_order();
  test_topk();
  test_hit_perr();
  test_aggregate();
  test_log_lines();
  test_kaggle();
  return check_report("test_metrics");
}
