/* sbuf.h: a growing NUL-terminated string, for writers that format JSON and
 * headers piece by piece. An allocation failure sets oom and turns later
 * appends into no-ops, so a writer checks once at the end. */
#ifndef YT_SBUF_H
#define YT_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct yt_sbuf {
  char *p; /* NULL until the first append; free() it when done */
  size_t len, cap;
  bool oom;
} yt_sbuf;

void yt_sbuf_put(yt_sbuf *b, const char *s, size_t n);
void yt_sbuf_puts(yt_sbuf *b, const char *s);

#endif
