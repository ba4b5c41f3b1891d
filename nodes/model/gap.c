/* gap.c: CPython-compatible MT19937 and random.sample, top-k of a row, the
 * reference's AveragePrecisionCalculator and pooled GAP@k (see gap.h). */
#include "gap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- MT19937 as in CPython's Modules/_randommodule.c ---------------------- */

#define MT_N 624
#define MT_M 397

static void init_genrand(yt_pyrandom *r, uint32_t s) {
  uint32_t *mt = r->mt;
  mt[0] = s;
  for (int i = 1; i < MT_N; i++) mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + (uint32_t)i;
  r->index = MT_N;
}

static void init_by_array(yt_pyrandom *r, const uint32_t *key, size_t len) {
  uint32_t *mt = r->mt;
  init_genrand(r, 19650218u);
  size_t i = 1, j = 0;
  for (size_t k = MT_N > len ? MT_N : len; k; k--) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
    i++, j++;
    if (i >= MT_N) mt[0] = mt[MT_N - 1], i = 1;
    if (j >= len) j = 0;
  }
  for (size_t k = MT_N - 1; k; k--) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
    i++;
    if (i >= MT_N) mt[0] = mt[MT_N - 1], i = 1;
  }
  mt[0] = 0x80000000u;
}

void yt_pyrandom_seed(yt_pyrandom *r, uint64_t seed) {
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  init_by_array(r, key, key[1] ? 2 : 1);
}

uint32_t yt_pyrandom_u32(yt_pyrandom *r) {
  static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
  uint32_t *mt = r->mt, y;
  if (r->index >= MT_N) {
    int kk;
    for (kk = 0; kk < MT_N - MT_M; kk++) {
      y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
      mt[kk] = mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
    }
    for (; kk < MT_N - 1; kk++) {
      y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
      mt[kk] = mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
    }
    y = (mt[MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
    mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
    r->index = 0;
  }
  y = mt[r->index++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t yt_pyrandom_getrandbits(yt_pyrandom *r, int k) {
  if (k <= 0) return 0;
  if (k <= 32) return yt_pyrandom_u32(r) >> (32 - k);
  /* 32-bit words from least to most significant; the last one keeps its top bits */
  uint64_t lo = yt_pyrandom_u32(r);
  uint64_t hi = yt_pyrandom_u32(r) >> (64 - (k > 64 ? 64 : k));
  return lo | hi << 32;
}

uint64_t yt_pyrandom_randbelow(yt_pyrandom *r, uint64_t n) {
  int k = 0;
  for (uint64_t v = n; v; v >>= 1) k++; /* n.bit_length() */
  uint64_t x = yt_pyrandom_getrandbits(r, k);
  while (x >= n) x = yt_pyrandom_getrandbits(r, k);
  return x;
}

/* random.sample's choice: the pool algorithm when n <= setsize, where
 * setsize = 21 + (k > 5 ? 4 ** ceil(log(3k, 4)) : 0). For k = n it is always
 * the pool. */
static int sample_uses_pool(uint32_t n, uint32_t k) {
  double setsize = 21;
  if (k > 5) setsize += pow(4.0, ceil(log((double)k * 3) / log(4.0)));
  return (double)n <= setsize;
}

int yt_pyrandom_sample(yt_pyrandom *r, uint32_t n, uint32_t k, uint32_t *out, yt_err *err) {
  if (k > n) return yt_fail(err, YT_EINVAL, "sample of %u from %u items: larger than the population", k, n);
  if (sample_uses_pool(n, k)) {
    uint32_t *pool = malloc((n ? n : 1) * sizeof *pool);
    if (!pool) return yt_fail(err, YT_ENOMEM, "out of memory for a sample of %u items", n);
    for (uint32_t i = 0; i < n; i++) pool[i] = i;
    for (uint32_t i = 0; i < k; i++) {
      uint32_t j = (uint32_t)yt_pyrandom_randbelow(r, n - i);
      out[i] = pool[j];
      pool[j] = pool[n - i - 1];
    }
    free(pool);
  } else {
    uint64_t *sel = calloc(((size_t)n + 63) / 64, sizeof *sel);
    if (!sel) return yt_fail(err, YT_ENOMEM, "out of memory for a sample of %u items", n);
    for (uint32_t i = 0; i < k; i++) {
      uint32_t j = (uint32_t)yt_pyrandom_randbelow(r, n);
      while (sel[j >> 6] >> (j & 63) & 1) j = (uint32_t)yt_pyrandom_randbelow(r, n);
      sel[j >> 6] |= (uint64_t)1 << (j & 63);
      out[i] = j;
    }
    free(sel);
  }
  return YT_OK;
}

/* ---- top k ---------------------------------------------------------------- */

/* Inserts x[c] for c in [from, to) into the sorted idx[0..*m) (k slots),
 * ascending c: the list stays the top k of what it has seen, by (value desc,
 * index asc). NaN is skipped. */
static void topk_scan(int *idx, const float *x, int from, int to, int k, int *m, float *th) {
  for (int c = from; c < to; c++) {
    float v = x[c];
    if (*m == k ? !(v > *th) : isnan(v)) continue;
    int pos = *m < k ? *m : k - 1; /* shift smaller ones down; equal ones stay ahead */
    while (pos > 0 && x[idx[pos - 1]] < v) {
      idx[pos] = idx[pos - 1];
      pos--;
    }
    idx[pos] = c;
    if (*m < k) ++*m;
    if (*m == k) *th = x[idx[k - 1]];
  }
}

enum { TOPK_BLOCK = 16, TOPK_MAX_BLOCKS = 1024 };

int yt_topk(int *idx, const float *x, int n, int k) {
  if (k > n) k = n;
  if (k <= 0) return 0;
  int m = 0, nb = (n + TOPK_BLOCK - 1) / TOPK_BLOCK;
  float th = 0;
  if (nb >= 4 * k && nb <= TOPK_MAX_BLOCKS) {
    /* The k-th largest block maximum t0 is <= the k-th largest value (k
     * distinct elements reach it), so only elements >= t0 can rank: scan just
     * those, in index order, which gives the same list as a full scan. */
    float bmax[TOPK_MAX_BLOCKS];
    int bidx[TOPK_MAX_BLOCKS];
    for (int b = 0; b < nb; b++) {
      const float *xb = x + b * TOPK_BLOCK;
      if ((b + 1) * TOPK_BLOCK <= n) { /* four independent lanes */
        float l[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        for (int c = 0; c < TOPK_BLOCK; c += 4)
          for (int j = 0; j < 4; j++) l[j] = xb[c + j] > l[j] ? xb[c + j] : l[j];
        float a = l[0] > l[1] ? l[0] : l[1], d = l[2] > l[3] ? l[2] : l[3];
        bmax[b] = a > d ? a : d;
      } else {
        float mx = -INFINITY;
        for (int c = 0; c < n - b * TOPK_BLOCK; c++) mx = xb[c] > mx ? xb[c] : mx;
        bmax[b] = mx;
      }
    }
    int mb = 0;
    float bth = 0;
    topk_scan(bidx, bmax, 0, nb, k, &mb, &bth);
    float t0 = mb == k ? bmax[bidx[k - 1]] : -INFINITY;
    if (t0 > -INFINITY) {
      for (int b = 0; b < nb; b++) {
        if (!(bmax[b] >= t0)) continue;
        int end = (b + 1) * TOPK_BLOCK < n ? (b + 1) * TOPK_BLOCK : n;
        for (int c = b * TOPK_BLOCK; c < end; c++)
          if (x[c] >= t0) topk_scan(idx, x, c, c + 1, k, &m, &th);
      }
      if (m == k) return m;
    }
    m = 0, th = 0; /* -inf or NaN everywhere: the plain scan */
  }
  topk_scan(idx, x, 0, n, k, &m, &th);
  for (int c = 0; m < k && c < n; c++) /* fewer than k numbers: NaN ranks last */
    if (isnan(x[c])) idx[m++] = c;
  return m;
}

/* ---- the reference's heap ------------------------------------------------- */

void yt_aplist_init(yt_aplist *a) {
  memset(a, 0, sizeof *a);
}

void yt_aplist_free(yt_aplist *a) {
  free(a->score);
  free(a->label);
  memset(a, 0, sizeof *a);
}

void yt_aplist_clear(yt_aplist *a) {
  a->n = 0;
  a->positives = 0;
}

int yt_aplist_reserve(yt_aplist *a, size_t extra, yt_err *err) {
  if (a->n + extra <= a->cap) return YT_OK;
  size_t nc = a->cap ? a->cap + a->cap / 2 : 256;
  if (nc < a->n + extra) nc = a->n + extra;
  float *s = realloc(a->score, nc * sizeof *s);
  if (s) a->score = s;
  uint8_t *l = s ? realloc(a->label, nc) : NULL;
  if (l) a->label = l;
  if (!s || !l) return yt_fail(err, YT_ENOMEM, "out of memory for %zu ranked items", nc);
  a->cap = nc;
  return YT_OK;
}

/* (s1, l1) < (s2, l2) as Python compares the tuples */
static inline int pair_lt(float s1, uint8_t l1, float s2, uint8_t l2) {
  return s1 < s2 || (s1 == s2 && l1 < l2);
}

void yt_aplist_push(yt_aplist *a, float score, int positive) {
  uint8_t lab = positive ? 1 : 0;
  size_t pos = a->n++;
  while (pos > 0) { /* heapq._siftdown(heap, 0, len(heap) - 1) */
    size_t parent = (pos - 1) >> 1;
    if (!pair_lt(score, lab, a->score[parent], a->label[parent])) break;
    a->score[pos] = a->score[parent];
    a->label[pos] = a->label[parent];
    pos = parent;
  }
  a->score[pos] = score;
  a->label[pos] = lab;
}

/* 32-bit key whose ascending order is the descending order of the float
 * (Python's == holds for -0.0 and 0.0, so they share a key). */
static inline uint32_t desc_key(float f) {
  uint32_t u;
  if (f == 0) f = 0;
  memcpy(&u, &f, 4);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~u;
}

/* Stable LSD radix sort of key[n] on bits 32..63 (the low half rides along). */
static int sort_high32(uint64_t *key, size_t n, yt_err *err) {
  uint64_t *tmp = malloc(n * sizeof *tmp);
  if (!tmp) return yt_fail(err, YT_ENOMEM, "out of memory sorting %zu ranked items", n);
  uint64_t *src = key, *dst = tmp;
  for (int shift = 32; shift < 64; shift += 8) {
    size_t cnt[257] = {0};
    for (size_t i = 0; i < n; i++) cnt[(src[i] >> shift & 0xff) + 1]++;
    int one_bucket = 0;
    for (int b = 1; b <= 256; b++) one_bucket |= cnt[b] == n;
    if (one_bucket) continue;
    for (int b = 0; b < 256; b++) cnt[b + 1] += cnt[b];
    for (size_t i = 0; i < n; i++) dst[cnt[src[i] >> shift & 0xff]++] = src[i];
    uint64_t *t = src;
    src = dst, dst = t;
  }
  if (src != key) memcpy(key, src, n * sizeof *key);
  free(tmp);
  return YT_OK;
}

/* per_term: the reference's sum of (pos_i / i) * (1 / P); else sum(pos_i / i) / P */
static int aplist_ap(const yt_aplist *a, int per_term, double *ap, yt_err *err) {
  *ap = 0;
  size_t n = a->n;
  if (n == 0 || a->positives == 0) return YT_OK;
  if (n > UINT32_MAX) return yt_fail(err, YT_EINVAL, "AP over %zu items: more than 2^32", n);
  /* _shuffle: random.seed(0); suffidx = random.sample(range(n), n); item i of
   * the shuffled list is heap[suffidx[i]]. Keys hold (rank key, label) in
   * shuffled order; a stable sort on the rank key gives sorted(reverse=True). */
  uint64_t *key = malloc(n * sizeof *key);
  if (!key) return yt_fail(err, YT_ENOMEM, "out of memory for AP over %zu items", n);
  yt_pyrandom r;
  yt_pyrandom_seed(&r, 0);
  uint32_t nn = (uint32_t)n;
  if (sample_uses_pool(nn, nn)) { /* always, for k = n; streamed without `result` */
    uint32_t *pool = malloc(n * sizeof *pool);
    if (!pool) {
      free(key);
      return yt_fail(err, YT_ENOMEM, "out of memory for AP over %zu items", n);
    }
    for (uint32_t i = 0; i < nn; i++) pool[i] = i;
    for (uint32_t i = 0; i < nn; i++) {
      uint32_t j = (uint32_t)yt_pyrandom_randbelow(&r, nn - i);
      uint32_t item = pool[j];
      pool[j] = pool[nn - i - 1];
      key[i] = (uint64_t)desc_key(a->score[item]) << 32 | a->label[item];
    }
    free(pool);
  } else {
    uint32_t *perm = malloc(n * sizeof *perm);
    int rc = perm ? yt_pyrandom_sample(&r, nn, nn, perm, err)
                  : yt_fail(err, YT_ENOMEM, "out of memory for AP over %zu items", n);
    if (rc < 0) {
      free(perm);
      free(key);
      return rc;
    }
    for (uint32_t i = 0; i < nn; i++)
      key[i] = (uint64_t)desc_key(a->score[perm[i]]) << 32 | a->label[perm[i]];
    free(perm);
  }
  int rc = sort_high32(key, n, err);
  if (rc < 0) {
    free(key);
    return rc;
  }
  /* ap += poscount / (i + 1) * delta_recall, delta_recall = 1.0 / numpos */
  double delta = per_term ? 1.0 / a->positives : 1, pos = 0, sum = 0;
  for (size_t i = 0; i < n; i++)
    if (key[i] & 1) {
      pos += 1;
      sum += pos / (double)(i + 1) * delta;
    }
  free(key);
  *ap = per_term ? sum : sum / a->positives;
  return YT_OK;
}

int yt_aplist_ap(const yt_aplist *a, double *ap, yt_err *err) {
  return aplist_ap(a, 1, ap, err);
}

/* ---- pooled GAP, one video per add --------------------------------------- */

void yt_gap_init(yt_gap *g, int top_k) {
  memset(g, 0, sizeof *g);
  g->top_k = top_k;
  yt_aplist_init(&g->list);
}

void yt_gap_free(yt_gap *g) {
  yt_aplist_free(&g->list);
  memset(g, 0, sizeof *g);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int yt_gap_add(yt_gap *g, const float *scores, int K, const int *labels, int n_labels, yt_err *err) {
  if (g->top_k <= 0) return yt_fail(err, YT_EINVAL, "GAP top_k %d: must be positive", g->top_k);
  int k = g->top_k < K ? g->top_k : K, stack[64];
  int *top = k <= 64 ? stack : malloc(sizeof(int) * (size_t)k);
  if (!top) return yt_fail(err, YT_ENOMEM, "out of memory in GAP");
  int rc = yt_aplist_reserve(&g->list, (size_t)k, err);
  if (rc == YT_OK) {
    int m = yt_topk(top, scores, K, k);
    qsort(top, (size_t)m, sizeof *top, cmp_int); /* class-major, as eval_util's flatten */
    for (int i = 0; i < m; i++) {
      int hit = 0;
      for (int j = 0; j < n_labels; j++) hit |= labels[j] == top[i];
      yt_aplist_push(&g->list, scores[top[i]], hit);
    }
    g->list.positives += n_labels;
  }
  if (top != stack) free(top);
  return rc;
}

double yt_gap_value(yt_gap *g) {
  double ap;
  return aplist_ap(&g->list, 0, &ap, NULL) < 0 ? -1 : ap;
}
