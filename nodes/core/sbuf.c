/* sbuf.c: see sbuf.h. */
#include "core/sbuf.h"

#include <stdlib.h>
#include <string.h>

void yt_sbuf_put(yt_sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->len + n + 1) c *= 2;
    char *p = realloc(b->p, c);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = c;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void yt_sbuf_puts(yt_sbuf *b, const char *s) { yt_sbuf_put(b, s, strlen(s)); }
