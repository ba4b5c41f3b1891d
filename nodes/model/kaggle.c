/* kaggle.c: Kaggle 2018 CSV lines (see kaggle.h). */
#include "kaggle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "model/gap.h"

/* Output to a caller's buffer or to a FILE. */
typedef struct emit {
  char *buf;
  size_t cap, len;
  FILE *f;
  int overflow, ioerr;
} emit;

static void put(emit *e, const char *s, size_t n) {
  if (e->f) {
    if (n && fwrite(s, 1, n, e->f) != n) e->ioerr = errno ? errno : EIO;
  } else if (e->len + n < e->cap) {
    memcpy(e->buf + e->len, s, n);
    e->buf[e->len + n] = 0;
  } else {
    e->overflow = 1;
  }
  e->len += n;
}

static void putf(emit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(emit *e, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  put(e, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static int line(emit *e, const char *id, size_t id_len, const float *scores, int C, int top_k,
                const yt_vocab *vocab, yt_err *err) {
  if (C <= 0 || top_k <= 0)
    return yt_fail(err, YT_EINVAL, "Kaggle line of %d classes with top_k %d: both must be positive", C,
                   top_k);
  int k = top_k < C ? top_k : C, stack[64];
  int *top = k <= 64 ? stack : malloc(sizeof(int) * (size_t)k);
  if (!top) return yt_fail(err, YT_ENOMEM, "out of memory for a top %d", k);
  int m = yt_topk(top, scores, C, k), rc = YT_OK;
  if (e->buf && e->cap) e->buf[0] = 0;
  put(e, id, id_len);
  put(e, ",", 1);
  for (int i = 0; i < m; i++) {
    if (i) put(e, " ", 1);
    if (vocab) {
      if (top[i] >= vocab->n) {
        rc = yt_fail(err, YT_EINVAL, "class %d has no name: the vocabulary has %d classes", top[i], vocab->n);
        break;
      }
      put(e, vocab->name[top[i]], strlen(vocab->name[top[i]]));
      putf(e, " %g", (double)scores[top[i]]);
    } else {
      putf(e, "%d %g", top[i], (double)scores[top[i]]);
    }
  }
  put(e, "\n", 1);
  if (top != stack) free(top);
  if (rc < 0) return rc;
  if (e->ioerr) return yt_fail(err, YT_EIO, "writing a Kaggle CSV line: %s", strerror(e->ioerr));
  if (e->overflow)
    return yt_fail(err, YT_EINVAL, "Kaggle CSV line: buffer of %zu bytes too small (need %zu)", e->cap,
                   e->len + 1);
  return e->len > (size_t)INT32_MAX ? yt_fail(err, YT_EINVAL, "Kaggle CSV line too long") : (int)e->len;
}

int yt_kaggle_line(char *buf, size_t cap, const char *id, size_t id_len, const float *scores, int C,
                   int top_k, yt_err *err) {
  emit e = {.buf = buf, .cap = cap};
  return line(&e, id, id_len, scores, C, top_k, NULL, err);
}

int yt_kaggle_write(FILE *f, const char *id, size_t id_len, const float *scores, int C, int top_k,
                    yt_err *err) {
  emit e = {.f = f};
  int rc = line(&e, id, id_len, scores, C, top_k, NULL, err);
  return rc < 0 ? rc : YT_OK;
}

int yt_kaggle_write_header(FILE *f, yt_err *err) {
  if (fputs(YT_KAGGLE_HEADER "\n", f) == EOF)
    return yt_fail(err, YT_EIO, "writing the Kaggle CSV header: %s", strerror(errno));
  return YT_OK;
}

int yt_kaggle_line_names(char *buf, size_t cap, const char *id, size_t id_len, const float *scores, int C,
                         int top_k, const yt_vocab *vocab, yt_err *err) {
  if (!vocab) return yt_fail(err, YT_EINVAL, "Kaggle line with names: no vocabulary");
  emit e = {.buf = buf, .cap = cap};
  return line(&e, id, id_len, scores, C, top_k, vocab, err);
}

int yt_kaggle_write_names(FILE *f, const char *id, size_t id_len, const float *scores, int C, int top_k,
                          const yt_vocab *vocab, yt_err *err) {
  if (!vocab) return yt_fail(err, YT_EINVAL, "Kaggle line with names: no vocabulary");
  emit e = {.f = f};
  int rc = line(&e, id, id_len, scores, C, top_k, vocab, err);
  return rc < 0 ? rc : YT_OK;
}
