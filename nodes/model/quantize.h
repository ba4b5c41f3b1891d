/* quantize.h: 8-bit uniform weight quantization of a model's safetensors, as the
 * 2018 winner's quantize.py --transform_type quant_uniform (REFERENCE.md 6.3).
 *
 * Every float32 tensor W with more than min_elements values (17,000: strict) is
 * replaced by two tensors:
 *   W_space  float32 [256]  linspace(min W, max W, 256) computed in double (both
 *                           endpoints exact), then cast to float;
 *   W_quants uint8, W's shape: the index of the nearest codebook entry (distances
 *                           in double; a tie goes to the lower index, as scipy's vq).
 * The loader expands W = W_space[W_quants] (yt_quant_expand, called by
 * yt_ckpt_load when W itself is absent), so a quantized bundle runs as a float one.
 * Max error per weight (max - min)/510, plus the float rounding of the codebook.
 * Not here: the bundle .tgz (cli/quantize.c), other modes (k-means, quantiles, fp16). */
#ifndef YT_QUANTIZE_H
#define YT_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/safetensors.h"

#define YT_QUANT_LEVELS 256
#define YT_QUANT_MIN_ELEMENTS 17000 /* quantize.py's --min_elements: more than this are quantized */

/* space[256] = linspace(lo, hi, 256) in double (i * step + lo, the last = hi,
 * as numpy), cast to float. lo == hi gives 256 equal values. */
void yt_quant_space(float space[YT_QUANT_LEVELS], float lo, float hi);
/* The index of the codebook entry nearest x: |x - space[i]| in double, the
 * lowest index among equal minima. space must be non-decreasing (a linspace). */
uint8_t yt_quant_nearest(const float space[YT_QUANT_LEVELS], float x);
/* Quantizes w[n] (n >= 1): space from w's min and max, q[n] the nearest
 * indices; *max_err (may be NULL) = max |w - space[q]|. Refuses NaN or inf
 * (names nothing: the caller prefixes the tensor). */
int yt_quant_tensor(uint8_t *q, float space[YT_QUANT_LEVELS], const float *w, size_t n, double *max_err,
                    yt_err *err);

/* What yt_quant_file did, for the summary. */
typedef struct yt_quant_item {
  char name[160];
  size_t numel;
  float lo, hi;   /* min and max of the tensor */
  double max_err; /* max |w - space[q]| */
} yt_quant_item;

typedef struct yt_quant_report {
  size_t n_tensors;   /* tensors in the input */
  size_t n_quantized; /* replaced by a _quants/_space pair here */
  size_t n_already;   /* _quants/_space pairs of the input, passed through */
  size_t floats_quantized;
  yt_quant_item *items; /* n_quantized of them, in the input's order */
} yt_quant_report;

/* Writes to out_path a copy of in (tensors and __metadata__) where every F32
 * tensor of more than min_elements values is quantized. A pair already there
 * (NAME_quants U8 + NAME_space F32 [256], an input quantized before) passes
 * through as it is, so quantizing twice, or again with a lower min_elements,
 * only quantizes what is still float. Adds __metadata__ "quantization" =
 * "quant_uniform" and "quant_min_elements". */
int yt_quant_file(const yt_st_file *in, const char *out_path, size_t min_elements, yt_quant_report *rep,
                  yt_err *err);
void yt_quant_report_free(yt_quant_report *rep);

/* Expands tensor name of shape [rank] from name_quants and name_space of f into
 * out (prod(shape) floats): YT_OK; YT_EOF when f has no name_quants (nothing
 * to expand); an error naming the file and tensor when the pair is malformed
 * (a _quants not U8 of that shape, a _space not F32 [256], a _space missing). */
int yt_quant_expand(const yt_st_file *f, const char *name, int rank, const int64_t *shape, float *out,
                    yt_err *err);

#endif
