/* csv.c: RFC 4180 reader/writer and vocabulary.csv (see csv.h). */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int yt_csv_open(yt_csv *c, const char *path, yt_err *err) {
  memset(c, 0, sizeof *c);
  c->f = fopen(path, "rb");
  if (!c->f) return yt_fail(err, YT_EIO, "%s: cannot open: %s", path, strerror(errno));
  c->path = strdup(path);
  c->line = 1;
  return YT_OK;
}

void yt_csv_close(yt_csv *c) {
  if (c->f) fclose(c->f);
  free(c->path);
  free(c->buf);
  free(c->offs);
  memset(c, 0, sizeof *c);
}

static int push_char(yt_csv *c, char ch, yt_err *err) {
  if (c->len == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 1024;
    char *nb = realloc(c->buf, nc);
    if (!nb) return yt_fail(err, YT_ENOMEM, "out of memory reading %s", c->path);
    c->buf = nb;
    c->cap = nc;
  }
  c->buf[c->len++] = ch;
  return YT_OK;
}

static int start_field(yt_csv *c, yt_err *err) {
  if (c->n == c->cap_offs) {
    size_t nc = c->cap_offs ? c->cap_offs * 2 : 16;
    size_t *no = realloc(c->offs, nc * sizeof *no);
    if (!no) return yt_fail(err, YT_ENOMEM, "out of memory reading %s", c->path);
    c->offs = no;
    c->cap_offs = nc;
  }
  c->offs[c->n++] = c->len;
  return YT_OK;
}

/* A small state machine over characters: field start, unquoted, quoted,
 * quote-in-quoted (either a doubled quote or the closing one). */
int yt_csv_next(yt_csv *c, yt_err *err) {
  enum { START, PLAIN, QUOTED, QUOTE_SEEN } st = START;
  c->len = c->n = 0;
  c->quoted = c->escaped = false;
  long row_line = c->line;
  int ch, rc;
  ch = getc(c->f);
  if (ch == EOF) return YT_EOF;
  if ((rc = start_field(c, err)) < 0) return rc;
  for (;; ch = getc(c->f)) {
    if (ch == EOF) {
      if (st == QUOTED)
        return yt_fail(err, YT_ECORRUPT, "%s:%ld: unterminated quoted field (the file ends inside quotes)", c->path, row_line);
      break;
    }
    if (ch == '\n') c->line++;
    if (st == QUOTED) {
      if (ch == '"') st = QUOTE_SEEN;
      else if ((rc = push_char(c, (char)ch, err)) < 0) return rc;
      continue;
    }
    if (st == QUOTE_SEEN) {
      if (ch == '"') { st = QUOTED; c->escaped = true; if ((rc = push_char(c, '"', err)) < 0) return rc; continue; }
      st = PLAIN; /* closing quote; fall through to plain handling */
      if (ch != ',' && ch != '\n' && ch != '\r')
        return yt_fail(err, YT_ECORRUPT, "%s:%ld: text after a closing quote in field %zu", c->path, row_line, c->n);
    }
    if (ch == ',') {
      if ((rc = push_char(c, 0, err)) < 0 || (rc = start_field(c, err)) < 0) return rc;
      st = START;
    } else if (ch == '\n') {
      break;
    } else if (ch == '\r') {
      continue; /* CRLF */
    } else if (ch == '"' && st == START) {
      st = QUOTED;
      c->quoted = true;
    } else {
      st = PLAIN;
      if ((rc = push_char(c, (char)ch, err)) < 0) return rc;
    }
  }
  if ((rc = push_char(c, 0, err)) < 0) return rc;
  c->row_line = row_line;
  return YT_OK;
}

void yt_csv_put(FILE *f, const char *s, bool last) {
  if (strpbrk(s, ",\"\n\r")) {
    fputc('"', f);
    for (; *s; s++) {
      if (*s == '"') fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  } else {
    fputs(s, f);
  }
  fputc(last ? '\n' : ',', f);
}

int yt_vocab_load(yt_vocab *v, const char *path, yt_err *err) {
  memset(v, 0, sizeof *v);
  yt_csv c;
  int rc = yt_csv_open(&c, path, err);
  if (rc < 0) return rc;
  size_t cap = 0;
  rc = yt_csv_next(&c, err);
  if (rc == YT_EOF) rc = yt_fail(err, YT_EINVAL, "%s: empty file, expected the header " YT_VOCAB_HEADER, path);
  if (rc < 0) goto done;
  {
    char header[1024] = "";
    for (size_t i = 0; i < c.n; i++) {
      strncat(header, i ? "," : "", sizeof header - strlen(header) - 1);
      strncat(header, yt_csv_field(&c, i), sizeof header - strlen(header) - 1);
    }
    if (strcmp(header, YT_VOCAB_HEADER) != 0) {
      rc = yt_fail(err, YT_EINVAL, "%s:1: header is '%s', expected '" YT_VOCAB_HEADER "'", path, header);
      goto done;
    }
  }
  while ((rc = yt_csv_next(&c, err)) == YT_OK) {
    if (c.n == 1 && !yt_csv_field(&c, 0)[0]) continue; /* blank line */
    if (c.n != 9) {
      rc = yt_fail(err, YT_EINVAL, "%s:%ld: %zu columns, expected 9", path, c.row_line, c.n);
      goto done;
    }
    char *end;
    long idx = strtol(yt_csv_field(&c, 0), &end, 10);
    if (*end || idx != v->n) {
      rc = yt_fail(err, YT_EINVAL, "%s:%ld: Index '%s', expected %d (indices must be 0..n-1 in order)", path,
                   c.row_line, yt_csv_field(&c, 0), v->n);
      goto done;
    }
    if ((size_t)v->n == cap) {
      cap = cap ? cap * 2 : 4096;
      char **nn = realloc(v->name, cap * sizeof *nn);
      if (nn) v->name = nn;
      long *nt = realloc(v->train_count, cap * sizeof *nt);
      if (nt) v->train_count = nt;
      if (!nn || !nt) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); goto done; }
    }
    v->name[v->n] = strdup(yt_csv_field(&c, 3));
    v->train_count[v->n] = strtol(yt_csv_field(&c, 1), NULL, 10);
    v->quoted_rows += c.quoted;
    v->escaped_rows += c.escaped;
    v->n++;
  }
  if (rc == YT_EOF) rc = YT_OK;
done:
  yt_csv_close(&c);
  if (rc < 0) yt_vocab_free(v);
  return rc;
}

void yt_vocab_free(yt_vocab *v) {
  for (int i = 0; i < v->n; i++) free(v->name[i]);
  free(v->name);
  free(v->train_count);
  memset(v, 0, sizeof *v);
}
