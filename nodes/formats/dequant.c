/* dequant.c: uint8 -> float32 dequantization, exactly as utils.Dequantize.
 *
 * x = q * (4/255) + (4/512 - 2) as a float32 multiply then a float32 add. The
 * loop is plain C; target_clones builds an AVX2 copy and a baseline copy and
 * the loader picks one by cpuid. The whole build uses -ffp-contract=off, so
 * neither copy fuses the multiply-add (an FMA would change 157 of the 256
 * values); tests compare both against the table for every byte. */
#include <string.h>

#include "yt8m.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define YT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define YT_CLONES
#endif

YT_CLONES void yt_dequantize(float *restrict out, const uint8_t *restrict q, size_t n) {
  const float scale = YT_DQ_SCALE, bias = YT_DQ_BIAS;
  for (size_t i = 0; i < n; i++) out[i] = (float)q[i] * scale + bias;
}

static float table[256];
static int table_ready;

const float *yt_dequantize_table(void) {
  if (!table_ready) {
    for (int q = 0; q < 256; q++) {
      volatile float prod = (float)q * YT_DQ_SCALE; /* first rounding */
      table[q] = prod + YT_DQ_BIAS;                 /* second rounding */
    }
    table_ready = 1;
  }
  return table;
}

void yt_record_dequantize(const yt_record *r, const yt_schema *s, float *out) {
  for (int t = 0; t < r->num_frames; t++) {
    float *row = out + (size_t)t * (size_t)s->dim;
    for (int i = 0; i < s->n; i++) {
      const uint8_t *q = r->rows[(size_t)t * (size_t)s->n + (size_t)i];
      if (q) yt_dequantize(row + s->offsets[i], q, (size_t)s->sizes[i]);
      else memset(row + s->offsets[i], 0, sizeof(float) * (size_t)s->sizes[i]);
    }
  }
}
