/* closest.c: "did you mean" (closest.h). */
#include "core/closest.h"

#include <string.h>

static size_t edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 64 || m > 64) return 99;
  size_t row[65];
  for (size_t j = 0; j <= m; j++) row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t cur = row[j];
      size_t sub = prev + (a[i - 1] != b[j - 1]);
      size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
      row[j] = sub < best ? sub : best;
      prev = cur;
    }
  }
  return row[m];
}

const char *yt_closest(const char *word, const char *const *cand, size_t n) {
  const char *best = NULL;
  size_t bd = 99, limit = strlen(word) / 3 > 2 ? strlen(word) / 3 : 2;
  for (size_t i = 0; i < n; i++) {
    size_t d = edit_distance(word, cand[i]);
    if (d < bd) { bd = d; best = cand[i]; }
  }
  return bd <= limit && bd > 0 ? best : NULL;
}
