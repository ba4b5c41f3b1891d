/* param.c: parsing, checking and reading node parameters (see param.h). */
#include "core/param.h"

#include "core/closest.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *yt_ptype_name(yt_ptype t) {
  switch (t) {
  case YT_P_INT: return "int";
  case YT_P_FLOAT: return "float";
  case YT_P_BOOL: return "bool";
  case YT_P_STRING: return "string";
  case YT_P_ENUM: return "enum";
  case YT_P_SIZE: return "size";
  case YT_P_DURATION: return "duration";
  case YT_P_LIST: return "list";
  }
  return "?";
}

void yt_pval_free(yt_pval *v) {
  free(v->s);
  for (size_t i = 0; i < v->n; i++) free(v->items[i]);
  free(v->items);
  memset(v, 0, sizeof *v);
}

static char *trimmed(const char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) s++, n--;
  while (n && isspace((unsigned char)s[n - 1])) n--;
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
  return strndup(s, n);
}

/* A number with an optional unit suffix from table[], scaled. */
static int number_unit(const char *text, const char *const *units, const double *scale, double *out) {
  char *end;
  errno = 0;
  double x = strtod(text, &end);
  if (end == text || errno) return -1;
  while (isspace((unsigned char)*end)) end++;
  if (!*end) { *out = x; return 0; }
  for (int i = 0; units[i]; i++)
    if (!strcmp(end, units[i])) { *out = x * scale[i]; return 0; }
  return -1;
}

int yt_pval_check(const yt_pval *v, const yt_param_def *d, yt_err *err) {
  double x;
  switch (d->type) {
  case YT_P_INT: case YT_P_SIZE: x = (double)v->i; break;
  case YT_P_FLOAT: case YT_P_DURATION: x = v->f; break;
  case YT_P_ENUM: {
    size_t n = strlen(v->s);
    for (const char *c = d->choices; c && *c;) {
      const char *bar = strchr(c, '|');
      size_t len = bar ? (size_t)(bar - c) : strlen(c);
      if (len == n && !strncmp(c, v->s, n)) return YT_OK;
      c = bar ? bar + 1 : c + len;
    }
    return yt_fail(err, YT_EUSAGE, "parameter '%s' must be one of %s, not '%s'", d->name, d->choices, v->s);
  }
  default: return YT_OK;
  }
  if (d->min <= d->max && (x < d->min || x > d->max)) {
    if (d->type == YT_P_FLOAT || d->type == YT_P_DURATION)
      return yt_fail(err, YT_EUSAGE, "parameter '%s' = %g is out of range [%g, %g]", d->name, x, d->min, d->max);
    return yt_fail(err, YT_EUSAGE, "parameter '%s' = %.0f is out of range [%.0f, %.0f]", d->name, x, d->min, d->max);
  }
  return YT_OK;
}

int yt_pval_parse(yt_pval *v, const yt_param_def *d, const char *text, yt_err *err) {
  static const char *const size_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB", NULL};
  static const double size_scale[] = {1, 1024.0, 1048576.0, 1073741824.0, 1099511627776.0, 1e3, 1e6, 1e9, 1e12};
  static const char *const dur_units[] = {"ms", "s", "min", "h", NULL};
  static const double dur_scale[] = {1e-3, 1, 60, 3600};
  memset(v, 0, sizeof *v);
  v->type = d->type;
  char *t = trimmed(text, strlen(text));
  if (!t) return yt_fail(err, YT_ENOMEM, "out of memory");
  int rc = YT_OK;
  char *end;
  double x;
  switch (d->type) {
  case YT_P_INT:
    errno = 0;
    v->i = strtoll(t, &end, 10);
    if (end == t || *end || errno) rc = yt_fail(err, YT_EUSAGE, "parameter '%s' needs an int, not '%s'", d->name, t);
    break;
  case YT_P_FLOAT:
    errno = 0;
    v->f = strtod(t, &end);
    if (end == t || *end || errno || !isfinite(v->f))
      rc = yt_fail(err, YT_EUSAGE, "parameter '%s' needs a number, not '%s'", d->name, t);
    break;
  case YT_P_BOOL:
    if (!strcmp(t, "true")) v->b = true;
    else if (!strcmp(t, "false")) v->b = false;
    else rc = yt_fail(err, YT_EUSAGE, "parameter '%s' needs true or false, not '%s'", d->name, t);
    break;
  case YT_P_STRING:
  case YT_P_ENUM:
    v->s = t;
    t = NULL;
    break;
  case YT_P_SIZE:
    if (number_unit(t, size_units, size_scale, &x) || x < 0 || x != floor(x) || x > 9.2e18)
      rc = yt_fail(err, YT_EUSAGE, "parameter '%s' needs a size like 4096, 512KiB or 64MiB, not '%s'", d->name, t);
    else v->i = (int64_t)x;
    break;
  case YT_P_DURATION:
    if (number_unit(t, dur_units, dur_scale, &x) || x < 0)
      rc = yt_fail(err, YT_EUSAGE, "parameter '%s' needs a duration like 500ms, 30s or 10min, not '%s'", d->name, t);
    else v->f = x;
    break;
  case YT_P_LIST: {
    const char *p = t;
    size_t n = strlen(p);
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']') p++, n -= 2;
    /* comma-separated items; an empty list is "[]" or "" */
    while (n) {
      const char *comma = memchr(p, ',', n);
      size_t len = comma ? (size_t)(comma - p) : n;
      char **items = realloc(v->items, (v->n + 1) * sizeof *items);
      if (!items) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); break; }
      v->items = items;
      if (!(v->items[v->n] = trimmed(p, len))) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); break; }
      v->n++;
      if (!comma) break;
      n -= len + 1;
      p = comma + 1;
    }
    break;
  }
  }
  free(t);
  if (rc == YT_OK) rc = yt_pval_check(v, d, err);
  if (rc) yt_pval_free(v);
  return rc;
}

const char *yt_pval_format(const yt_pval *v, char *buf, size_t cap) {
  size_t k = 0;
  switch (v->type) {
  case YT_P_INT: snprintf(buf, cap, "%lld", (long long)v->i); break;
  case YT_P_FLOAT: snprintf(buf, cap, "%.9g", v->f); break;
  case YT_P_BOOL: snprintf(buf, cap, "%s", v->b ? "true" : "false"); break;
  case YT_P_STRING: snprintf(buf, cap, "\"%s\"", v->s ? v->s : ""); break;
  case YT_P_ENUM: snprintf(buf, cap, "%s", v->s ? v->s : ""); break;
  case YT_P_SIZE: {
    static const char *const u[] = {"GiB", "MiB", "KiB"};
    int64_t s[] = {1 << 30, 1 << 20, 1 << 10};
    int i = 0;
    while (i < 3 && (v->i < s[i] || v->i % s[i])) i++;
    if (i < 3) snprintf(buf, cap, "%lld%s", (long long)(v->i / s[i]), u[i]);
    else snprintf(buf, cap, "%lld", (long long)v->i);
    break;
  }
  case YT_P_DURATION:
    if (v->f >= 60 && fmod(v->f, 60) == 0) snprintf(buf, cap, "%.0fmin", v->f / 60);
    else if (v->f < 1 && v->f > 0) snprintf(buf, cap, "%.0fms", v->f * 1000);
    else snprintf(buf, cap, "%gs", v->f);
    break;
  case YT_P_LIST:
    k = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < v->n && k < cap; i++)
      k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", v->items[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    break;
  }
  return buf;
}

int yt_param_index(const yt_param_def *defs, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(defs[i].name, name)) return (int)i;
  return -1;
}

int yt_params_init(yt_params *p, const yt_param_def *defs, size_t n, yt_err *err) {
  p->defs = defs;
  p->n = n;
  p->vals = calloc(n ? n : 1, sizeof *p->vals);
  if (!p->vals) return yt_fail(err, YT_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    p->vals[i].type = defs[i].type;
    if (!defs[i].def) continue;
    int rc = yt_pval_parse(&p->vals[i], &defs[i], defs[i].def, err);
    if (rc) {
      yt_err_prefix(err, "bad default in the schema: ");
      yt_params_free(p);
      return rc;
    }
    p->vals[i].set = true;
  }
  return YT_OK;
}

int yt_params_set(yt_params *p, const char *name, const char *text, yt_err *err) {
  int i = yt_param_index(p->defs, p->n, name);
  if (i < 0) {
    const char *names[128];
    size_t n = p->n < 128 ? p->n : 128;
    for (size_t k = 0; k < n; k++) names[k] = p->defs[k].name;
    const char *best = yt_closest(name, names, n);
    if (best) return yt_fail(err, YT_EUSAGE, "unknown parameter '%s' (did you mean '%s'?)", name, best);
    return yt_fail(err, YT_EUSAGE, "unknown parameter '%s'", name);
  }
  yt_pval v;
  int rc = yt_pval_parse(&v, &p->defs[i], text, err);
  if (rc) return rc;
  yt_pval_free(&p->vals[i]);
  p->vals[i] = v;
  p->vals[i].set = true;
  return YT_OK;
}

int yt_params_complete(const yt_params *p, yt_err *err) {
  for (size_t i = 0; i < p->n; i++)
    if (!p->vals[i].set)
      return yt_fail(err, YT_EUSAGE, "missing required parameter '%s' (%s: %s)", p->defs[i].name,
                     yt_ptype_name(p->defs[i].type), p->defs[i].help);
  return YT_OK;
}

void yt_params_free(yt_params *p) {
  for (size_t i = 0; p->vals && i < p->n; i++) yt_pval_free(&p->vals[i]);
  free(p->vals);
  memset(p, 0, sizeof *p);
}

const yt_pval *yt_param_get(const yt_params *p, const char *name) {
  int i = yt_param_index(p->defs, p->n, name);
  if (i < 0) {
    /* a typo in a node's own code: fail loudly so its tests catch it */
    fprintf(stderr, "yt8m-flow: internal error: parameter '%s' is not in the schema\n", name);
    abort();
  }
  return &p->vals[i];
}

int64_t yt_param_int(const yt_params *p, const char *name) { return yt_param_get(p, name)->i; }
double yt_param_float(const yt_params *p, const char *name) {
  const yt_pval *v = yt_param_get(p, name);
  return v->type == YT_P_INT ? (double)v->i : v->f;
}
bool yt_param_bool(const yt_params *p, const char *name) { return yt_param_get(p, name)->b; }
const char *yt_param_str(const yt_params *p, const char *name) {
  const char *s = yt_param_get(p, name)->s;
  return s ? s : "";
}
