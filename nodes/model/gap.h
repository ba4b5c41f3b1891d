/* gap.h: the starter's AveragePrecisionCalculator (top_n = None) in C, with
 * the reference's exact tie order, and the pooled GAP@k built on it.
 *
 * average_precision_calculator.py keeps (score, label) pairs in a Python heapq
 * min-heap (pushes only); peek_ap_at_n() takes the heap array, permutes it with
 * `random.seed(0); random.sample(range(n), n)` and sorts it with a stable
 * `sorted(..., reverse=True)` on the score. All of that is deterministic and is
 * reproduced here: a CPython-compatible MT19937 (yt_pyrandom: init_by_array
 * seeding, getrandbits, _randbelow rejection, random.sample with its
 * set-vs-pool choice), the heap's array order after each push, the permutation
 * and a stable sort. AP = sum over the positives in rank order of
 * (pos_i / i) * (1 / P), in double, term by term (REFERENCE.md 4.2).
 *
 * Not here: Hit@1, PERR, mAP and the eval aggregator (metrics.h). */
#ifndef YT_GAP_H
#define YT_GAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* ---- CPython's random module (Mersenne Twister), bit for bit ------------- */

typedef struct yt_pyrandom {
  uint32_t mt[624];
  int index;
} yt_pyrandom;

/* random.seed(seed) for a non-negative int seed (init_by_array of its 32-bit
 * words, least significant first; 0 seeds with the key [0]). */
void yt_pyrandom_seed(yt_pyrandom *r, uint64_t seed);
/* One genrand_uint32 (= random.getrandbits(32)). */
uint32_t yt_pyrandom_u32(yt_pyrandom *r);
/* random.getrandbits(k), 0 <= k <= 64 (k = 0 returns 0 and draws nothing). */
uint64_t yt_pyrandom_getrandbits(yt_pyrandom *r, int k);
/* Random._randbelow(n) = _randbelow_with_getrandbits, n > 0. */
uint64_t yt_pyrandom_randbelow(yt_pyrandom *r, uint64_t n);
/* random.sample(range(n), k) into out[k], with CPython 3's choice between the
 * pool algorithm and the rejection-set algorithm (a bitmap here). */
int yt_pyrandom_sample(yt_pyrandom *r, uint32_t n, uint32_t k, uint32_t *out, yt_err *err);

/* ---- top k of one row ----------------------------------------------------- */

/* idx[0..m) = the m = min(k, n) largest x, by descending value; equal values
 * keep ascending index order (the first index wins, as numpy.argmax does; at
 * the k boundary numpy's argpartition is implementation-defined). Returns m.
 * NaN scores are not supported (their rank is unspecified). */
int yt_topk(int *idx, const float *x, int n, int k);

/* ---- AveragePrecisionCalculator(top_n=None) ------------------------------- */

/* The heap array of the reference, compactly: score[i], label[i] (1 when the
 * reference's actual > 0). Items are only ever pushed; the array order is that
 * of Python's heapq after the same pushes, which decides the order of ties. */
typedef struct yt_aplist {
  float *score;
  uint8_t *label;
  size_t n, cap;
  double positives; /* P: the num_positives passed with each accumulate */
} yt_aplist;

void yt_aplist_init(yt_aplist *a);
void yt_aplist_free(yt_aplist *a);
/* Empties the list and P, keeping the memory. */
void yt_aplist_clear(yt_aplist *a);
/* Room for `extra` more pushes without allocating. */
int yt_aplist_reserve(yt_aplist *a, size_t extra, yt_err *err);
/* heapq.heappush(heap, (score, label)); the caller reserved the room. */
void yt_aplist_push(yt_aplist *a, float score, int positive);
/* peek_ap_at_n(): 0 for an empty list or P = 0. Temporary memory: 16 bytes
 * per item (sort keys and the radix buffer; the permutation pool before). */
int yt_aplist_ap(const yt_aplist *a, double *ap, yt_err *err);

/* ---- pooled GAP@k, one video at a time ------------------------------------ */

/* GAP over videos added one by one (each add is a batch of one video, so its
 * top_k items enter in ascending class order as eval_util's class-major
 * flatten does); every positive label counts in P, also those outside the
 * top_k. For dense batches and the other metrics use metrics.h. */
typedef struct yt_gap {
  int top_k;
  yt_aplist list;
} yt_gap;

void yt_gap_init(yt_gap *g, int top_k);
/* scores[K] of one video; labels[n_labels] its positive classes. */
int yt_gap_add(yt_gap *g, const float *scores, int K, const int *labels, int n_labels, yt_err *err);
/* The GAP, or -1 when out of memory. Same ranking as yt_aplist_ap, but
 * summed as sum(pos_i / i) / P: a perfect ranking gives exactly 1, where the
 * reference's term-by-term sum can give 1.000000000000002 (a few ulps apart). */
double yt_gap_value(yt_gap *g);
void yt_gap_free(yt_gap *g);

#endif
