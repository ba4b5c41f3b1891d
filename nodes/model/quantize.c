/* quantize.c: 8-bit uniform weight quantization and its expansion (see quantize.h). */
#include "model/quantize.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QSUFFIX "_quants"
#define SSUFFIX "_space"

void yt_quant_space(float space[YT_QUANT_LEVELS], float lo, float hi) {
  /* numpy.linspace in double: y = i * step + start, then y[-1] = stop */
  double a = lo, step = ((double)hi - a) / (YT_QUANT_LEVELS - 1);
  for (int i = 0; i < YT_QUANT_LEVELS - 1; i++) space[i] = (float)(i * step + a);
  space[YT_QUANT_LEVELS - 1] = hi;
}

uint8_t yt_quant_nearest(const float space[YT_QUANT_LEVELS], float x) {
  /* lo = the first entry >= x; the nearest is lo or the entry below it. Equal
   * entries (a constant tensor, or float rounding of a narrow range) form runs:
   * lo is the first of its run, and the run below is walked back to its first,
   * so equal distances resolve to the lowest index, as an argmin over all 256 */
  int lo = 0, hi = YT_QUANT_LEVELS;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (space[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  int below = lo - 1;
  while (below > 0 && space[below - 1] == space[below]) below--;
  if (lo == YT_QUANT_LEVELS) return (uint8_t)below;
  double d0 = (double)x - space[below], d1 = (double)space[lo] - x;
  return (uint8_t)(d0 <= d1 ? below : lo);
}

int yt_quant_tensor(uint8_t *q, float space[YT_QUANT_LEVELS], const float *w, size_t n, double *max_err,
                    yt_err *err) {
  if (n == 0) return yt_fail(err, YT_EINVAL, "an empty tensor has no range to quantize");
  float lo = w[0], hi = w[0];
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(w[i]))
      return yt_fail(err, YT_EINVAL,
                     "value %zu is %g: only finite weights can be quantized (a diverged model?)", i,
                     (double)w[i]);
    if (w[i] < lo) lo = w[i];
    if (w[i] > hi) hi = w[i];
  }
  yt_quant_space(space, lo, hi);
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    q[i] = yt_quant_nearest(space, w[i]);
    double e = fabs((double)w[i] - space[q[i]]);
    if (e > worst) worst = e;
  }
  if (max_err) *max_err = worst;
  return YT_OK;
}

static size_t numel_of(const yt_st_tensor *t) {
  size_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
  return n;
}

static int ends_with(const char *s, const char *suffix, size_t *base_len) {
  size_t n = strlen(s), k = strlen(suffix);
  if (n <= k || strcmp(s + n - k, suffix)) return 0;
  *base_len = n - k;
  return 1;
}

/* t is one half of a quantized pair of in (NAME_quants U8 beside NAME_space
 * F32 [256]): it passes through. */
static int pair_member(const yt_st_file *in, const yt_st_tensor *t, int *is_quants) {
  char other[256];
  size_t b;
  *is_quants = 0;
  if (ends_with(t->name, QSUFFIX, &b) && t->dtype == YT_ST_U8) {
    snprintf(other, sizeof other, "%.*s" SSUFFIX, (int)b, t->name);
    const yt_st_tensor *s = yt_st_find(in, other);
    *is_quants = 1;
    return s && s->dtype == YT_ST_F32 && s->rank == 1 && s->shape[0] == YT_QUANT_LEVELS;
  }
  if (ends_with(t->name, SSUFFIX, &b) && t->dtype == YT_ST_F32 && t->rank == 1 &&
      t->shape[0] == YT_QUANT_LEVELS) {
    snprintf(other, sizeof other, "%.*s" QSUFFIX, (int)b, t->name);
    const yt_st_tensor *q = yt_st_find(in, other);
    return q && q->dtype == YT_ST_U8;
  }
  return 0;
}

void yt_quant_report_free(yt_quant_report *rep) {
  free(rep->items);
  memset(rep, 0, sizeof *rep);
}

int yt_quant_file(const yt_st_file *in, const char *out_path, size_t min_elements, yt_quant_report *rep,
                  yt_err *err) {
  memset(rep, 0, sizeof *rep);
  const char *P = yt_st_path(in);
  size_t n = yt_st_count(in);
  rep->n_tensors = n;
  yt_st_writer *w = yt_st_writer_new();
  /* the writer keeps pointers: the quantized tensors live until the write */
  void **bufs = calloc(2 * n + 1, sizeof *bufs);
  rep->items = calloc(n ? n : 1, sizeof *rep->items);
  size_t nbufs = 0;
  int rc = YT_OK;
  if (!w || !bufs || !rep->items) {
    rc = yt_fail(err, YT_ENOMEM, "%s: out of memory", P);
    goto done;
  }
  for (size_t i = 0; i < n && !rc; i++) {
    const yt_st_tensor *t = yt_st_at(in, i);
    size_t numel = numel_of(t);
    int is_q;
    if (pair_member(in, t, &is_q)) {
      rep->n_already += is_q;
      rc = yt_st_writer_add(w, t->name, t->dtype, t->rank, t->shape, t->data, err);
      continue;
    }
    if (t->dtype != YT_ST_F32 || numel <= min_elements) {
      rc = yt_st_writer_add(w, t->name, t->dtype, t->rank, t->shape, t->data, err);
      continue;
    }
    yt_quant_item *it = &rep->items[rep->n_quantized];
    char qn[sizeof it->name + 16], sn[sizeof it->name + 16];
    if (strlen(t->name) >= sizeof it->name) {
      rc = yt_fail(err, YT_EINVAL, "%s: tensor name '%s' is longer than %zu bytes", P, t->name,
                   sizeof it->name - 1);
      break;
    }
    snprintf(qn, sizeof qn, "%s" QSUFFIX, t->name);
    snprintf(sn, sizeof sn, "%s" SSUFFIX, t->name);
    if (yt_st_find(in, qn) || yt_st_find(in, sn)) {
      rc = yt_fail(err, YT_EINVAL,
                   "%s: tensor '%s' is float32, but '%s' or '%s' is already there: a damaged "
                   "quantized file? quantize the float bundle instead",
                   P, t->name, qn, sn);
      break;
    }
    const float *wv = t->data;
    float *copy = NULL;
    if ((uintptr_t)wv % sizeof(float)) { /* a file written elsewhere: data need not be aligned */
      if (!(copy = malloc(numel * sizeof(float)))) {
        rc = yt_fail(err, YT_ENOMEM, "%s: out of memory for tensor '%s'", P, t->name);
        break;
      }
      memcpy(copy, t->data, numel * sizeof(float));
      wv = copy;
    }
    uint8_t *q = malloc(numel);
    float *space = malloc(YT_QUANT_LEVELS * sizeof(float));
    bufs[nbufs++] = q;
    bufs[nbufs++] = space;
    if (!q || !space) {
      free(copy);
      rc = yt_fail(err, YT_ENOMEM, "%s: out of memory for tensor '%s'", P, t->name);
      break;
    }
    rc = yt_quant_tensor(q, space, wv, numel, &it->max_err, err);
    free(copy);
    if (rc < 0) {
      yt_err_prefix(err, "%s: tensor '%s': ", P, t->name);
      break;
    }
    int64_t sshape[1] = {YT_QUANT_LEVELS};
    rc = yt_st_writer_add(w, qn, YT_ST_U8, t->rank, t->shape, q, err);
    if (!rc) rc = yt_st_writer_add(w, sn, YT_ST_F32, 1, sshape, space, err);
    snprintf(it->name, sizeof it->name, "%s", t->name);
    it->numel = numel;
    it->lo = space[0];
    it->hi = space[YT_QUANT_LEVELS - 1];
    rep->n_quantized++;
    rep->floats_quantized += numel;
  }
  for (size_t i = 0; i < yt_st_meta_count(in) && !rc; i++) {
    const char *k, *v;
    yt_st_meta_at(in, i, &k, &v);
    rc = yt_st_writer_meta(w, k, v, err);
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%zu", min_elements);
  if (!rc) rc = yt_st_writer_meta(w, "quantization", "quant_uniform", err);
  if (!rc) rc = yt_st_writer_meta(w, "quant_min_elements", buf, err);
  if (!rc) rc = yt_st_writer_write(w, out_path, err);
done:
  for (size_t i = 0; i < nbufs; i++) free(bufs[i]);
  free(bufs);
  yt_st_writer_free(w);
  return rc;
}

int yt_quant_expand(const yt_st_file *f, const char *name, int rank, const int64_t *shape, float *out,
                    yt_err *err) {
  const char *P = yt_st_path(f);
  char qn[256], sn[256];
  snprintf(qn, sizeof qn, "%s" QSUFFIX, name);
  snprintf(sn, sizeof sn, "%s" SSUFFIX, name);
  const yt_st_tensor *q = yt_st_find(f, qn), *s = yt_st_find(f, sn);
  if (!q) return YT_EOF;
  int same = q->dtype == YT_ST_U8 && q->rank == rank;
  for (int d = 0; same && d < rank; d++) same = q->shape[d] == shape[d];
  if (!same) {
    char want[128] = "[", got[128] = "[";
    for (int d = 0; d < rank; d++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%" PRId64, d ? ", " : "", shape[d]);
    for (int d = 0; d < q->rank; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%" PRId64, d ? ", " : "", q->shape[d]);
    strcat(want, "]");
    strcat(got, "]");
    return yt_fail(
        err, YT_EINVAL,
        "%s: tensor '%s' is %s %s, expected U8 %s: the indices of '%s' have its shape (a bundle of "
        "another model?)",
        P, qn, yt_st_dtype_name(q->dtype), got, want, name);
  }
  if (!s)
    return yt_fail(err, YT_EINVAL,
                   "%s: tensor '%s' has no codebook '%s': a damaged quantized bundle; quantize "
                   "the float bundle again",
                   P, qn, sn);
  if (s->dtype != YT_ST_F32 || s->rank != 1 || s->shape[0] != YT_QUANT_LEVELS)
    return yt_fail(err, YT_EINVAL,
                   "%s: tensor '%s' must be F32 [%d] (the codebook of '%s'), it is %s of rank %d "
                   "with %zu values",
                   P, sn, YT_QUANT_LEVELS, name, yt_st_dtype_name(s->dtype), s->rank, numel_of(s));
  float space[YT_QUANT_LEVELS]; /* a copy: file data need not be aligned */
  memcpy(space, s->data, sizeof space);
  const uint8_t *idx = q->data;
  size_t n = numel_of(q);
  for (size_t i = 0; i < n; i++) out[i] = space[idx[i]];
  return YT_OK;
}
