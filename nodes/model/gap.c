/* gap.c: pooled GAP@k (see gap.h). */
#include "gap.h"

#include <stdlib.h>
#include <string.h>

void yt_gap_init(yt_gap *g, int top_k) {
  memset(g, 0, sizeof *g);
  g->top_k = top_k;
}

void yt_gap_free(yt_gap *g) {
  free(g->score);
  free(g->positive);
  memset(g, 0, sizeof *g);
}

int yt_gap_add(yt_gap *g, const float *scores, int K, const int *labels, int n_labels, yt_err *err) {
  int k = g->top_k < K ? g->top_k : K;
  if (g->n + (size_t)k > g->cap) {
    size_t nc = g->cap ? g->cap * 2 : 4096;
    while (nc < g->n + (size_t)k) nc *= 2;
    float *s = realloc(g->score, nc * sizeof *s);
    if (s) g->score = s;
    unsigned char *p = realloc(g->positive, nc);
    if (p) g->positive = p;
    if (!s || !p) return yt_fail(err, YT_ENOMEM, "out of memory in GAP");
    g->cap = nc;
  }
  /* top k by a partial selection sort: k = 20 is tiny beside K */
  int top[64];
  int kk = k < 64 ? k : 64;
  for (int i = 0; i < kk; i++) top[i] = -1;
  for (int c = 0; c < K; c++) {
    int pos = kk;
    while (pos > 0 && (top[pos - 1] < 0 || scores[c] > scores[top[pos - 1]])) pos--;
    if (pos == kk) continue;
    memmove(top + pos + 1, top + pos, sizeof(int) * (size_t)(kk - pos - 1));
    top[pos] = c;
  }
  for (int i = 0; i < kk; i++) {
    int c = top[i], hit = 0;
    for (int j = 0; j < n_labels; j++) hit |= labels[j] == c;
    g->score[g->n] = scores[c];
    g->positive[g->n++] = (unsigned char)hit;
  }
  g->positives += n_labels;
  return YT_OK;
}

static const float *sort_keys;
static int by_score_desc(const void *a, const void *b) {
  float x = sort_keys[*(const size_t *)a], y = sort_keys[*(const size_t *)b];
  return x < y ? 1 : x > y ? -1 : 0;
}

double yt_gap_value(yt_gap *g) {
  if (g->positives <= 0 || g->n == 0) return 0;
  size_t *idx = malloc(g->n * sizeof *idx);
  if (!idx) return -1;
  for (size_t i = 0; i < g->n; i++) idx[i] = i;
  sort_keys = g->score;
  qsort(idx, g->n, sizeof *idx, by_score_desc);
  double ap = 0, hits = 0;
  for (size_t i = 0; i < g->n; i++)
    if (g->positive[idx[i]]) {
      hits += 1;
      ap += hits / (double)(i + 1);
    }
  free(idx);
  return ap / g->positives;
}
