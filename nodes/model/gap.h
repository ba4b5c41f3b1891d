/* gap.h: Global Average Precision as the starter code's eval_util computes it.
 *
 * Per video the top_k (20) scores enter one pooled list; every positive label
 * counts in the denominator, also those outside the top_k. AP over the pooled
 * list sorted by score: sum of precision@i at each positive / all positives.
 * The full metrics node (Hit@1, PERR, mAP) builds on this in nodes/model. */
#ifndef YT_GAP_H
#define YT_GAP_H

#include <stddef.h>

#include "core/error.h"

typedef struct yt_gap {
  int top_k;
  float *score;
  unsigned char *positive;
  size_t n, cap;
  double positives;
} yt_gap;

void yt_gap_init(yt_gap *g, int top_k);
/* scores[K] of one video; labels[n_labels] its positive classes. */
int yt_gap_add(yt_gap *g, const float *scores, int K, const int *labels, int n_labels, yt_err *err);
double yt_gap_value(yt_gap *g);
void yt_gap_free(yt_gap *g);

#endif
