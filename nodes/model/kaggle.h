/* kaggle.h: lines of the Kaggle 2018 video-level submission CSV, as
 * inference.py writes them (REFERENCE.md 5.1):
 *
 *   VideoId,LabelConfidencePairs
 *   <id>,<c1> <s1> <c2> <s2> ... <c20> <s20>
 *
 * Pairs are "%d %g" (class index, float32 score widened to double), the top_k
 * (20) classes by descending score, single spaces, no trailing space, '\n'.
 * Ties: the reference takes numpy.argpartition's top k, then a stable sort by
 * descending score, so tied scores keep argpartition's (introselect,
 * implementation-defined) order; here tied scores keep ascending class order,
 * and at the k boundary the lower class wins. Only lines whose top k has
 * ties can differ, and then only in the order of the tied pairs (or in which
 * of several tied classes is the 20th). top_k > C is clamped to C (numpy
 * would raise).
 *
 * Not here: the 2019 segment CSV, the file handling of the inference node. */
#ifndef YT_KAGGLE_H
#define YT_KAGGLE_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"
#include "formats/csv.h"

#define YT_KAGGLE_HEADER "VideoId,LabelConfidencePairs"
#define YT_KAGGLE_TOP_K 20

/* Bytes that always hold a numeric line of top_k pairs (with '\n' and NUL). */
#define YT_KAGGLE_LINE_MAX(id_len, top_k) ((size_t)(id_len) + 3 + (size_t)(top_k)*28)

/* One line into buf, "\n" included, NUL-terminated. id is raw bytes (the
 * record's `id`, written as is). Returns the length written (without the
 * NUL), or YT_EINVAL when cap is too small or the shape is bad. */
int yt_kaggle_line(char *buf, size_t cap, const char *id, size_t id_len, const float *scores, int C,
                   int top_k, yt_err *err);
/* The same line to f; YT_EIO on a write error. */
int yt_kaggle_write(FILE *f, const char *id, size_t id_len, const float *scores, int C, int top_k,
                    yt_err *err);
/* YT_KAGGLE_HEADER "\n" to f. */
int yt_kaggle_write_header(FILE *f, yt_err *err);

/* For humans, not for Kaggle: the same top_k, written as "<name> <score>"
 * pairs with the names of vocab (vocabulary.csv), e.g.
 * "abcd,Game 0.98 Video game 0.91\n". Names may hold spaces and commas, so the
 * line is not machine-parseable. A class without a name (>= vocab->n) is an
 * error. */
int yt_kaggle_line_names(char *buf, size_t cap, const char *id, size_t id_len, const float *scores, int C,
                         int top_k, const yt_vocab *vocab, yt_err *err);
int yt_kaggle_write_names(FILE *f, const char *id, size_t id_len, const float *scores, int C, int top_k,
                          const yt_vocab *vocab, yt_err *err);

#endif
