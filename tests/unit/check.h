/* check.h: the tests' assertion macros. A failed CHECK prints where and why and
 * counts; main returns check_report(), non-zero when anything failed. */
#ifndef YT_CHECK_H
#define YT_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond, ...)                                                  \
  do {                                                                    \
    check_count++;                                                        \
    if (!(cond)) {                                                        \
      check_failures++;                                                   \
      fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);  \
      fprintf(stderr, __VA_ARGS__);                                       \
      fputc('\n', stderr);                                                \
    }                                                                     \
  } while (0)

#define CHECK_CONTAINS(haystack, needle) \
  CHECK(strstr((haystack), (needle)) != NULL, "'%s' does not contain '%s'", (haystack), (needle))

static inline int check_report(const char *name) {
  printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
  return check_failures ? 1 : 0;
}

/* $YT_SHARED/<rel>, or exits 1 with a clear message when shared/ is missing. */
static inline const char *shared_path(const char *rel) {
  static char buf[8][4096];
  static int k;
  const char *root = getenv("YT_SHARED");
  if (!root) { fprintf(stderr, "YT_SHARED is not set (run the tests through ctest)\n"); exit(1); }
  char *b = buf[k++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", root, rel);
  return b;
}

/* The whole file, NUL-terminated (malloc'd), its length in *n; NULL if unreadable. */
static inline char *check_slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  char *b = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
  if (b) b[len] = 0;
  fclose(f);
  if (n && b) *n = (size_t)len;
  return b;
}

#endif
