/* csv.h: RFC 4180 CSV: reader (quoted fields, doubled quotes, commas and
 * newlines inside quotes, CRLF) and a field writer; and the YouTube-8M
 * vocabulary.csv on top of it. Errors name the file and line. */
#ifndef YT_CSV_H
#define YT_CSV_H

#include <stdbool.h>
#include <stdio.h>

#include "../core/error.h"

typedef struct yt_csv {
  FILE *f;
  char *path;
  long line;            /* the next line to read (1-based) */
  long row_line;        /* line where the current row started */
  char *buf;            /* the row's field text, NUL separated */
  size_t len, cap;
  size_t *offs;         /* field starts in buf */
  size_t n, cap_offs;
  bool quoted;          /* the row had at least one quoted field */
  bool escaped;         /* ... holding a doubled quote ("") */
} yt_csv;

int yt_csv_open(yt_csv *c, const char *path, yt_err *err);
/* YT_OK with c->n fields (yt_csv_field(c, i)), YT_EOF, or < 0. */
int yt_csv_next(yt_csv *c, yt_err *err);
static inline const char *yt_csv_field(const yt_csv *c, size_t i) { return c->buf + c->offs[i]; }
void yt_csv_close(yt_csv *c);

/* Writes one field, quoting it when it holds a comma, quote or newline. */
void yt_csv_put(FILE *f, const char *s, bool last);

/* The official header of vocabulary.csv. */
#define YT_VOCAB_HEADER \
  "Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,Vertical3,WikiDescription"

typedef struct yt_vocab {
  int n;            /* classes: indices 0..n-1, contiguous */
  char **name;      /* [n] */
  long *train_count;
  int quoted_rows;  /* rows with at least one quoted field */
  int escaped_rows; /* rows with a doubled quote inside a quoted field */
} yt_vocab;

/* Loads a vocabulary.csv; checks the header, that Index is 0..n-1 in order,
 * and the column count of every row. */
int yt_vocab_load(yt_vocab *v, const char *path, yt_err *err);
void yt_vocab_free(yt_vocab *v);

#endif
