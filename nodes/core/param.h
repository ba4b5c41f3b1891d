/* param.h: node parameters: the schema a node declares and the typed values a
 * node reads.
 *
 * A node type declares its parameters as a table of yt_param_def (name, type,
 * default, range, help). The graph checker (cli/plan.c) validates a .flow
 * node against that table; the launcher hands every replica the resolved
 * values (defaults filled in) as JSON; the node reads them with yt_param_*().
 * Defaults are written as text in .flow syntax ("64MiB", "10min", "true",
 * "[rgb, audio]") and parsed by yt_pval_parse, so `inspect` prints them as a
 * user would type them.
 *
 * Not here: the .flow grammar (cli/flow.c), the node runtime (node.h). */
#ifndef YT_PARAM_H
#define YT_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum {
  YT_P_INT,      /* int64 */
  YT_P_FLOAT,    /* double; an int literal is accepted */
  YT_P_BOOL,
  YT_P_STRING,
  YT_P_ENUM,     /* a string from choices ("float32|uint8") */
  YT_P_SIZE,     /* bytes; "64MiB", "512KiB", or an int */
  YT_P_DURATION, /* seconds; "500ms", "10min", or a number */
  YT_P_LIST,     /* list of strings (or numbers, kept as text): [rgb, audio] */
} yt_ptype;

typedef struct yt_param_def {
  const char *name;
  yt_ptype type;
  const char *def;     /* default in .flow syntax; NULL = required */
  double min, max;     /* numeric range, inclusive; min > max = unbounded */
  const char *choices; /* YT_P_ENUM: "a|b|c" */
  const char *help;    /* one line */
} yt_param_def;

/* Unbounded range for YT_P_INT/FLOAT/SIZE/DURATION rows. */
#define YT_NORANGE 1, 0

typedef struct yt_pval {
  yt_ptype type;
  int64_t i;     /* INT, SIZE */
  double f;      /* FLOAT, DURATION */
  bool b;
  char *s;       /* STRING, ENUM (owned) */
  char **items;  /* LIST (owned) */
  size_t n;
  bool set;      /* has a value (a default or a given one) */
} yt_pval;

/* A node's resolved parameters, in the order of its schema. */
typedef struct yt_params {
  const yt_param_def *defs;
  size_t n;
  yt_pval *vals; /* [n] */
} yt_params;

/* Parses text in .flow value syntax as type `type` ("true", "64MiB", "1e-4",
 * "[a, b]", a bare or quoted string) and checks range and choices. The error
 * names the parameter and says what is expected. */
int yt_pval_parse(yt_pval *v, const yt_param_def *d, const char *text, yt_err *err);
/* Checks range/choices of an already typed value (the checker builds values
 * from the parsed graph). */
int yt_pval_check(const yt_pval *v, const yt_param_def *d, yt_err *err);
void yt_pval_free(yt_pval *v);
/* The value in .flow syntax, into buf. */
const char *yt_pval_format(const yt_pval *v, char *buf, size_t cap);

/* Fills every parameter with its default; a required one (def NULL) is left
 * unset until yt_params_set, and yt_params_complete() reports it. */
int yt_params_init(yt_params *p, const yt_param_def *defs, size_t n, yt_err *err);
/* Sets one parameter from text; unknown names are an error with a did-you-mean. */
int yt_params_set(yt_params *p, const char *name, const char *text, yt_err *err);
/* YT_EUSAGE naming the first required parameter never set. */
int yt_params_complete(const yt_params *p, yt_err *err);
void yt_params_free(yt_params *p);
/* Index of name in defs, or -1. */
int yt_param_index(const yt_param_def *defs, size_t n, const char *name);

/* Accessors for a node's code. The name must be in the schema (a typo is a
 * programming error: it aborts with the name, so tests catch it at once). */
int64_t yt_param_int(const yt_params *p, const char *name);   /* INT, SIZE */
double yt_param_float(const yt_params *p, const char *name);  /* FLOAT, DURATION, INT */
bool yt_param_bool(const yt_params *p, const char *name);
const char *yt_param_str(const yt_params *p, const char *name); /* STRING, ENUM */
const yt_pval *yt_param_get(const yt_params *p, const char *name); /* any, LIST */

const char *yt_ptype_name(yt_ptype t);

#endif
