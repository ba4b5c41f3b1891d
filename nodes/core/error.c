/* error.c: yt_err helpers (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int yt_fail(yt_err *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
  }
  return code;
}

void yt_err_prefix(yt_err *err, const char *fmt, ...) {
  if (!err) return;
  char head[512], old[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  size_t h = strlen(head), o = strlen(old), cap = sizeof err->msg - 1;
  if (h > cap) h = cap;
  if (o > cap - h) o = cap - h;
  memcpy(err->msg, head, h);
  memcpy(err->msg + h, old, o);
  err->msg[h + o] = 0;
}
