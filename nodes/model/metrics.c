/* metrics.c: Hit@1, PERR, GAP, mAP and the log lines (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double yt_hit_at_one(const float *probs, const float *labels, int B, int C) {
  if (B <= 0 || C <= 0) return NAN;
  double sum = 0;
  for (int b = 0; b < B; b++) {
    const float *p = probs + (size_t)b * C;
    int best = 0;
    float bv = p[0];
    for (int c = 1; c < C; c++)
      if (p[c] > bv) bv = p[c], best = c;
    sum += labels[(size_t)b * C + best];
  }
  return sum / B;
}

/* Ascending-order key of a float; NaN lowest, -0.0 = 0.0 (as yt_topk ranks). */
static inline uint32_t asc_key(float f) {
  if (isnan(f)) return 0;
  if (f == 0) f = 0;
  uint32_t u;
  memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* sum(labels[i] : i in top k of p, p[i] > 0), for any k, without memory:
 * binary search for the k-th largest key, then the ties at it in index order. */
static double topk_label_sum_large(const float *p, const float *l, int C, int k) {
  uint64_t lo = 0, hi = UINT32_MAX;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    int ge = 0;
    for (int c = 0; c < C; c++) ge += asc_key(p[c]) >= mid;
    if (ge >= k)
      lo = mid;
    else
      hi = mid - 1;
  }
  uint32_t t = (uint32_t)lo;
  int gt = 0;
  for (int c = 0; c < C; c++) gt += asc_key(p[c]) > t;
  int ties = k - gt;
  double s = 0;
  for (int c = 0; c < C; c++) {
    uint32_t kc = asc_key(p[c]);
    int take = kc > t || (kc == t && ties-- > 0);
    if (take && p[c] > 0) s += l[c];
  }
  return s;
}

/* sum(labels[row]); labels are mostly 0 (skipping them changes nothing) */
static double row_sum(const float *l, int C) {
  double s = 0;
  for (int c = 0; c < C; c++)
    if (l[c] != 0) s += l[c];
  return s;
}

/* One row's precision at equal recall, given nl = sum(labels[row]);
 * top[0..ntop) (may be NULL) is the row's yt_topk list, whose prefixes serve
 * any k <= ntop. */
static double perr_row(const float *p, const float *l, int C, double nl, const int *top, int ntop) {
  double item = 0;
  int k = nl >= C ? C : (int)nl;
  if (k <= 0) { /* argpartition(p, -0)[-0:] is the whole row */
    for (int c = 0; c < C; c++)
      if (p[c] > 0) item += l[c];
    return item / C;
  }
  if (k > ntop && k <= 64) {
    int mine[64];
    ntop = yt_topk(mine, p, C, k);
    for (int i = 0; i < ntop; i++)
      if (p[mine[i]] > 0) item += l[mine[i]];
    return item / k;
  }
  if (k > ntop) return topk_label_sum_large(p, l, C, k) / k;
  for (int i = 0; i < k; i++)
    if (p[top[i]] > 0) item += l[top[i]];
  return item / k;
}

double yt_perr(const float *probs, const float *labels, int B, int C) {
  if (B <= 0 || C <= 0) return NAN;
  double agg = 0;
  for (int b = 0; b < B; b++) {
    const float *p = probs + (size_t)b * C, *l = labels + (size_t)b * C;
    agg += perr_row(p, l, C, row_sum(l, C), NULL, 0);
  }
  return agg / B;
}

/* Scratch of one batch of n = B * k items: their scores, classes, class-major
 * order and positives, and the classes' bucket ends. */
static size_t scratch_bytes(int B, int C, int k) {
  size_t n = (size_t)B * (size_t)k;
  return n * (sizeof(float) + 2 * sizeof(int) + 1) + sizeof(int) * ((size_t)C + 1);
}

/* top_k_by_class + the accumulate calls of one batch: each video's top k
 * (ties: lower class first), then class-major (per class in video order) into
 * `global` and, if given, per_class[c]. hit_perr (may be NULL) gets the
 * batch's Hit@1 and PERR from the same ranking. colsum: C doubles. */
static int push_batch(yt_aplist *global, yt_aplist *per_class, void *scratch, double *colsum,
                      const float *probs, const float *labels, int B, int C, int k, double *hit_perr,
                      yt_err *err) {
  size_t n = (size_t)B * (size_t)k;
  float *score = scratch;
  int *top = (int *)(score + n), *order = top + n, *start = order + n;
  uint8_t *pos = (uint8_t *)(start + C + 1);
  double hit = 0, perr = 0;
  for (int c = 0; c < C; c++) colsum[c] = 0;
  for (int b = 0; b < B; b++) {
    const float *p = probs + (size_t)b * C, *l = labels + (size_t)b * C;
    int *t = top + (size_t)b * k;
    int m = yt_topk(t, p, C, k);
    if (m != k) return yt_fail(err, YT_EINVAL, "top %d of %d classes: got %d", k, C, m);
    for (int i = 0; i < k; i++) {
      score[(size_t)b * k + i] = p[t[i]];
      pos[(size_t)b * k + i] = l[t[i]] > 0;
    }
    double nl = 0; /* the row's labels, and num_positives per class */
    for (int c = 0; c < C; c++)
      if (l[c] != 0) nl += l[c], colsum[c] += l[c];
    /* the same ranking gives Hit@1 (argmax: first index wins) and PERR */
    hit += l[isnan(p[0]) ? 0 : t[0]]; /* as yt_hit_at_one, also with NaN */
    perr += perr_row(p, l, C, nl, t, k);
  }
  if (hit_perr) hit_perr[0] = hit / B, hit_perr[1] = perr / B;
  memset(start, 0, sizeof(int) * (size_t)(C + 1));
  for (size_t i = 0; i < n; i++) start[top[i] + 1]++;
  for (int c = 0; c < C; c++) start[c + 1] += start[c];
  for (size_t i = 0; i < n; i++) order[start[top[i]]++] = (int)i; /* start[c] now ends class c */
  int rc = yt_aplist_reserve(global, n, err);
  for (int c = 0; rc == YT_OK && per_class && c < C; c++) {
    int cnt = start[c] - (c ? start[c - 1] : 0);
    if (cnt) rc = yt_aplist_reserve(&per_class[c], (size_t)cnt, err);
  }
  if (rc < 0) return rc;
  double total = 0; /* sum(num_positives), in class order */
  for (int c = 0; c < C; c++) total += colsum[c];
  global->positives += total;
  for (size_t i = 0; i < n; i++) {
    int item = order[i];
    yt_aplist_push(global, score[item], pos[item]);
    if (per_class) yt_aplist_push(&per_class[top[item]], score[item], pos[item]);
  }
  if (per_class)
    for (int c = 0; c < C; c++) per_class[c].positives += colsum[c];
  return YT_OK;
}

static int check_dims(int B, int C, int top_k, yt_err *err) {
  if (B <= 0 || C <= 0 || top_k <= 0)
    return yt_fail(err, YT_EINVAL, "metrics of a %d x %d batch with top_k %d: all must be positive", B, C,
                   top_k);
  return YT_OK;
}

int yt_batch_gap(double *gap, const float *probs, const float *labels, int B, int C, int top_k, yt_err *err) {
  *gap = 0;
  int rc = check_dims(B, C, top_k, err);
  if (rc < 0) return rc;
  int k = top_k < C ? top_k : C;
  yt_aplist list;
  yt_aplist_init(&list);
  void *scratch = malloc(scratch_bytes(B, C, k));
  double *colsum = malloc(sizeof(double) * (size_t)C);
  if (!scratch || !colsum) rc = yt_fail(err, YT_ENOMEM, "out of memory for a batch GAP");
  if (rc == YT_OK) rc = push_batch(&list, NULL, scratch, colsum, probs, labels, B, C, k, NULL, err);
  if (rc == YT_OK) rc = yt_aplist_ap(&list, gap, err);
  free(scratch);
  free(colsum);
  yt_aplist_free(&list);
  return rc;
}

int yt_batch_metrics_train(yt_batch_metrics *out, const float *probs, const float *labels, int B, int C,
                           int top_k, double loss, yt_err *err) {
  out->hit_at_one = out->perr = out->gap = NAN;
  out->loss = loss;
  int rc = yt_batch_gap(&out->gap, probs, labels, B, C, top_k, err);
  if (rc < 0) return rc;
  out->hit_at_one = yt_hit_at_one(probs, labels, B, C);
  out->perr = yt_perr(probs, labels, B, C);
  return YT_OK;
}

/* ---- EvaluationMetrics ---------------------------------------------------- */

int yt_metrics_init(yt_metrics *m, int num_classes, int top_k, yt_err *err) {
  memset(m, 0, sizeof *m);
  if (num_classes <= 0 || top_k <= 0)
    return yt_fail(err, YT_EINVAL, "metrics over %d classes with top_k %d: both must be positive",
                   num_classes, top_k);
  m->num_classes = num_classes;
  m->top_k = top_k;
  yt_aplist_init(&m->global);
  m->per_class = calloc((size_t)num_classes, sizeof *m->per_class);
  m->colsum = calloc((size_t)num_classes, sizeof *m->colsum);
  if (!m->per_class || !m->colsum) {
    yt_metrics_free(m);
    return yt_fail(err, YT_ENOMEM, "out of memory for metrics over %d classes", num_classes);
  }
  return YT_OK;
}

void yt_metrics_free(yt_metrics *m) {
  yt_aplist_free(&m->global);
  for (int c = 0; m->per_class && c < m->num_classes; c++) yt_aplist_free(&m->per_class[c]);
  free(m->per_class);
  free(m->scratch);
  free(m->colsum);
  memset(m, 0, sizeof *m);
}

void yt_metrics_clear(yt_metrics *m) {
  m->examples = 0;
  m->sum_hit_at_one = m->sum_perr = m->sum_loss = 0;
  yt_aplist_clear(&m->global);
  for (int c = 0; c < m->num_classes; c++) yt_aplist_clear(&m->per_class[c]);
}

int yt_metrics_add(yt_metrics *m, const float *probs, const float *labels, int B, double mean_loss,
                   yt_batch_metrics *batch, yt_err *err) {
  int C = m->num_classes, rc = check_dims(B, C, m->top_k, err);
  if (rc < 0) return rc;
  int k = m->top_k < C ? m->top_k : C;
  size_t need = scratch_bytes(B, C, k);
  if (need > m->scratch_cap) {
    void *s = realloc(m->scratch, need);
    if (!s) return yt_fail(err, YT_ENOMEM, "out of memory for a batch of %d in the metrics", B);
    m->scratch = s;
    m->scratch_cap = need;
  }
  double hp[2];
  rc = push_batch(&m->global, m->per_class, m->scratch, m->colsum, probs, labels, B, C, k, hp, err);
  if (rc < 0) return rc;
  double hit = hp[0], perr = hp[1];
  m->examples += B;
  m->sum_hit_at_one += hit * B;
  m->sum_perr += perr * B;
  m->sum_loss += mean_loss * B;
  if (batch) {
    batch->hit_at_one = hit;
    batch->perr = perr;
    batch->loss = mean_loss;
    batch->gap = NAN;
  }
  return YT_OK;
}

int yt_metrics_get(const yt_metrics *m, yt_eval_result *r, yt_err *err) {
  memset(r, 0, sizeof *r);
  if (m->examples <= 0) return yt_fail(err, YT_EINVAL, "no examples were evaluated: no metrics");
  r->examples = m->examples;
  r->avg_hit_at_one = m->sum_hit_at_one / m->examples;
  r->avg_perr = m->sum_perr / m->examples;
  r->avg_loss = m->sum_loss / m->examples;
  double sum = 0;
  int kept = 0;
  for (int c = 0; c < m->num_classes; c++) {
    if (!(m->per_class[c].positives > 0)) continue; /* filter_empty_classes */
    double ap;
    int rc = yt_aplist_ap(&m->per_class[c], &ap, err);
    if (rc < 0) return rc;
    sum += ap;
    kept++;
  }
  r->num_classes = kept;
  r->map = kept ? sum / kept : NAN;
  return yt_aplist_ap(&m->global, &r->gap, err);
}

/* ---- log lines ------------------------------------------------------------ */

static int fmt_done(int n, size_t cap, const char *what, yt_err *err) {
  if (n < 0 || (size_t)n >= cap)
    return yt_fail(err, YT_EINVAL, "%s line: buffer of %zu bytes too small (need %d)", what, cap, n + 1);
  return n;
}

int yt_fmt_train_line(char *buf, size_t cap, long long step, double loss, double examples_per_sec,
                      const yt_batch_metrics *m) {
  int n;
  if (m && step % 10 == 0)
    n = snprintf(buf, cap,
                 "training step %lld | Loss: %.2f Examples/sec: %.2f | Hit@1: %.2f PERR: %.2f GAP: %.2f",
                 step, loss, examples_per_sec, m->hit_at_one, m->perr, m->gap);
  else
    n = snprintf(buf, cap, "training step %lld | Loss: %.2f Examples/sec: %.2f", step, loss,
                 examples_per_sec);
  return fmt_done(n, cap, "train", NULL);
}

int yt_fmt_eval_batch_line(char *buf, size_t cap, long long examples_processed, const char *global_step,
                           const yt_batch_metrics *m, double examples_per_sec) {
  int n = snprintf(buf, cap,
                   "examples_processed: %lld | global_step %s | Batch Hit@1: %.3f | Batch PERR: %.3f "
                   "| Batch Loss: %.3f | Examples_per_sec: %.3f",
                   examples_processed, global_step, m->hit_at_one, m->perr, m->loss, examples_per_sec);
  return fmt_done(n, cap, "eval batch", NULL);
}

int yt_fmt_eval_epoch_line(char *buf, size_t cap, const char *epoch, const yt_eval_result *r) {
  int n = snprintf(buf, cap,
                   "epoch/eval number %s | Avg_Hit@1: %.3f | Avg_PERR: %.3f | MAP: %.3f | GAP: %.3f "
                   "| Avg_Loss: %3f | num_classes: %d",
                   epoch, r->avg_hit_at_one, r->avg_perr, r->map, r->gap, r->avg_loss, r->num_classes);
  return fmt_done(n, cap, "eval epoch", NULL);
}

int yt_fmt_eval_total_line(char *buf, size_t cap, long long examples) {
  int n = snprintf(buf, cap, "Total: examples_processed: %lld", examples);
  return fmt_done(n, cap, "eval total", NULL);
}

const char *yt_global_step_of(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dash = strrchr(base, '-');
  return dash ? dash + 1 : base;
}
