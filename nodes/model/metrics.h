/* metrics.h: the starter's evaluation metrics (eval_util.py,
 * mean_average_precision_calculator.py) and its train/eval log lines.
 *
 * Per batch: Hit@1, PERR (with the k = 0 quirk). Over an eval epoch
 * (yt_metrics): example-weighted Hit@1, PERR and loss; each video's top_k
 * (score, label) pairs go, class-major per batch, into one pooled list for GAP
 * and into per-class lists for mAP, with exactly the reference's tie order
 * (gap.h). Inputs are dense: probs [B,C] and labels [B,C] (0/1, or a rating
 * in segment mode) as float, row-major. REFERENCE.md 4.1-4.5.
 *
 * Not here: the loss itself (the caller passes each batch's mean loss), the
 * Kaggle CSV (kaggle.h), the segment-level MAP@100000. */
#ifndef YT_METRICS_H
#define YT_METRICS_H

#include <stddef.h>

#include "core/error.h"
#include "model/gap.h"

#define YT_METRICS_TOP_K 20

/* Mean over rows of labels[row, argmax probs[row]]; the first index wins ties. */
double yt_hit_at_one(const float *probs, const float *labels, int B, int C);

/* Precision at equal recall rate. Per row k = (int)sum(labels[row]) (clamped
 * to C); the k largest probs (ties: lower class first) add labels[i] where
 * probs[i] > 0, over k. k = 0 selects the whole row (numpy's [-0:]), so such
 * a row adds sum(labels[i] : probs[i] > 0) / C (0 for 0/1 labels) and still
 * counts in the mean over all B rows. */
double yt_perr(const float *probs, const float *labels, int B, int C);

/* What one batch shows: eval's per-batch line (hit_at_one, perr, loss) or the
 * train line every 10 steps (hit_at_one, perr, gap). Unset fields are NaN. */
typedef struct yt_batch_metrics {
  double hit_at_one, perr, loss, gap;
} yt_batch_metrics;

/* eval_util.calculate_gap: GAP@top_k over this batch alone. */
int yt_batch_gap(double *gap, const float *probs, const float *labels, int B, int C, int top_k, yt_err *err);
/* Hit@1, PERR and GAP@top_k of one training batch; loss is copied through. */
int yt_batch_metrics_train(yt_batch_metrics *out, const float *probs, const float *labels, int B, int C,
                           int top_k, double loss, yt_err *err);

/* ---- EvaluationMetrics ---------------------------------------------------- */

typedef struct yt_metrics {
  int num_classes, top_k;
  long long examples;
  double sum_hit_at_one, sum_perr, sum_loss;
  yt_aplist global;     /* the GAP list: N * top_k items */
  yt_aplist *per_class; /* [num_classes], for mAP */
  void *scratch;        /* one batch's top-k items and their class-major order */
  size_t scratch_cap;   /* bytes */
  double *colsum;       /* [num_classes]: one batch's positives per class */
} yt_metrics;

/* Final figures of get(). map is NaN when no class has a positive
 * (numpy.mean([])); num_classes counts the classes with >= 1 positive. */
typedef struct yt_eval_result {
  long long examples;
  double avg_hit_at_one, avg_perr, avg_loss, map, gap;
  int num_classes;
} yt_eval_result;

int yt_metrics_init(yt_metrics *m, int num_classes, int top_k, yt_err *err);
void yt_metrics_free(yt_metrics *m);
/* EvaluationMetrics.clear(): back to zero examples, memory kept. */
void yt_metrics_clear(yt_metrics *m);
/* accumulate(): one batch of B videos; mean_loss is the batch's mean loss.
 * batch (may be NULL) gets the batch's Hit@1, PERR and loss (gap NaN). */
int yt_metrics_add(yt_metrics *m, const float *probs, const float *labels, int B, double mean_loss,
                   yt_batch_metrics *batch, yt_err *err);
/* get(): does not change m (more batches may follow). YT_EINVAL with no
 * examples, as the reference raises. Resident memory: 10 bytes per item
 * (N * top_k items twice: the GAP list and the per-class lists), plus up to
 * 50% growth slack; temporary: 16 bytes per item of the GAP list. */
int yt_metrics_get(const yt_metrics *m, yt_eval_result *r, yt_err *err);

/* ---- log lines (message text only, no logger prefix, no newline) ----------
 * Each writes a NUL-terminated line into buf and returns its length, or
 * YT_EINVAL when cap is too small. 256 bytes hold any of them unless
 * global_step is long. */

/* "training step %d | Loss: %.2f Examples/sec: %.2f", plus
 * " | Hit@1: %.2f PERR: %.2f GAP: %.2f" when step % 10 == 0 and m != NULL. */
int yt_fmt_train_line(char *buf, size_t cap, long long step, double loss, double examples_per_sec,
                      const yt_batch_metrics *m);
/* "examples_processed: %d | global_step %s | Batch Hit@1: %.3f | Batch PERR:
 * %.3f | Batch Loss: %.3f | Examples_per_sec: %.3f"; examples_processed is
 * cumulative, the rate is batch size / the batch's wall time. */
int yt_fmt_eval_batch_line(char *buf, size_t cap, long long examples_processed, const char *global_step,
                           const yt_batch_metrics *m, double examples_per_sec);
#define YT_EVAL_DONE_LINE "Done with batched inference. Now calculating global performance metrics."
/* "epoch/eval number %s | Avg_Hit@1: %.3f | Avg_PERR: %.3f | MAP: %.3f | GAP:
 * %.3f | Avg_Loss: %3f | num_classes: %d" (Avg_Loss with 6 decimals: the
 * reference's "{:3f}"). */
int yt_fmt_eval_epoch_line(char *buf, size_t cap, const char *epoch, const yt_eval_result *r);
/* "Total: examples_processed: %d" */
int yt_fmt_eval_total_line(char *buf, size_t cap, long long examples);
/* The global step eval prints: the text after the last '-' of the
 * checkpoint's base name ("model.ckpt-447044" -> "447044"); a pointer into
 * path. */
const char *yt_global_step_of(const char *checkpoint_path);

#endif
