/* model_flags.c: model_flags.json in Python's json.dumps format, and its lenient reader. */
#include "model_flags.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sbuf.h"

static const char *const STARTER[5] = {"model", "feature_sizes", "feature_names", "frame_features",
                                       "label_loss"};

/* ------------------------------------------------------------------ formatting */

/* Next code point of UTF-8 s (advancing *i), or -1 when malformed. */
static long utf8_next(const unsigned char *s, size_t n, size_t *i) {
  unsigned c = s[*i];
  size_t k;
  long cp;
  if (c < 0x80) {
    (*i)++;
    return c;
  }
  if ((c & 0xE0) == 0xC0) {
    k = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    k = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    k = 3;
    cp = c & 0x07;
  } else
    return -1;
  if (n - *i <= k) return -1;
  for (size_t j = 1; j <= k; j++) {
    if ((s[*i + j] & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (s[*i + j] & 0x3F);
  }
  if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return -1;
  *i += k + 1;
  return cp;
}

/* A JSON string as Python's json.dumps (ensure_ascii=True) writes it. */
static bool put_str(yt_sbuf *b, const char *s) {
  size_t n = strlen(s), i = 0;
  char e[32];
  yt_sbuf_put(b, "\"", 1);
  while (i < n) {
    long cp = utf8_next((const unsigned char *)s, n, &i);
    if (cp < 0) return false;
    if (cp == '"')
      yt_sbuf_puts(b, "\\\"");
    else if (cp == '\\')
      yt_sbuf_puts(b, "\\\\");
    else if (cp == '\n')
      yt_sbuf_puts(b, "\\n");
    else if (cp == '\r')
      yt_sbuf_puts(b, "\\r");
    else if (cp == '\t')
      yt_sbuf_puts(b, "\\t");
    else if (cp == '\b')
      yt_sbuf_puts(b, "\\b");
    else if (cp == '\f')
      yt_sbuf_puts(b, "\\f");
    else if (cp >= 0x20 && cp <= 0x7E) {
      e[0] = (char)cp;
      yt_sbuf_put(b, e, 1);
    } else if (cp < 0x10000) {
      snprintf(e, sizeof e, "\\u%04lx", cp);
      yt_sbuf_puts(b, e);
    } else {
      long v = cp - 0x10000;
      snprintf(e, sizeof e, "\\u%04lx\\u%04lx", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      yt_sbuf_puts(b, e);
    }
  }
  yt_sbuf_put(b, "\"", 1);
  return true;
}

/* Python's repr(float): the shortest digits that read back, exponent form when the decimal
 * exponent is < -4 or >= 16, else fixed with at least one decimal ("1.0", "0.001", "1e-05"). */
static void put_float(yt_sbuf *b, double v) {
  char t[40], out[64];
  int p = 1;
  for (; p <= 17; p++) {
    snprintf(t, sizeof t, "%.*e", p - 1, v);
    if (strtod(t, NULL) == v) break;
  }
  /* t = [-]d[.ddd]e[+-]XX */
  char digits[24];
  size_t nd = 0, k = 0;
  const char *q = t;
  if (*q == '-') {
    out[k++] = '-';
    q++;
  }
  for (; *q != 'e'; q++)
    if (*q != '.') digits[nd++] = *q;
  int exp = atoi(q + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  if (exp < -4 || exp >= 16) {
    out[k++] = digits[0];
    if (nd > 1) {
      out[k++] = '.';
      for (size_t i = 1; i < nd; i++) out[k++] = digits[i];
    }
    k += (size_t)snprintf(out + k, sizeof out - k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  } else if (exp < 0) {
    out[k++] = '0';
    out[k++] = '.';
    for (int i = 0; i < -exp - 1; i++) out[k++] = '0';
    for (size_t i = 0; i < nd; i++) out[k++] = digits[i];
  } else {
    for (int i = 0; i <= exp; i++) out[k++] = (size_t)i < nd ? digits[i] : '0';
    out[k++] = '.';
    if ((size_t)exp + 1 < nd)
      for (size_t i = (size_t)exp + 1; i < nd; i++) out[k++] = digits[i];
    else
      out[k++] = '0';
  }
  yt_sbuf_put(b, out, k);
}

int yt_model_flags_format(const yt_model_flags *mf, const yt_mf_value *extra, size_t n_extra, char **out,
                          yt_err *err) {
  *out = NULL;
  const char *sv[5] = {mf->model, mf->feature_sizes, mf->feature_names, NULL, mf->label_loss};
  for (int i = 0; i < 5; i++)
    if (i != 3 && !sv[i]) return yt_fail(err, YT_EINVAL, "model_flags: \"%s\" is not set", STARTER[i]);
  for (size_t i = 0; i < n_extra; i++) {
    const yt_mf_value *x = &extra[i];
    if (!x->key) return yt_fail(err, YT_EINVAL, "model_flags: extra value %zu has no key", i);
    for (int j = 0; j < 5; j++)
      if (strcmp(x->key, STARTER[j]) == 0)
        return yt_fail(err, YT_EINVAL, "model_flags: extra key \"%s\" repeats a starter key", x->key);
    for (size_t j = 0; j < i; j++)
      if (strcmp(x->key, extra[j].key) == 0)
        return yt_fail(err, YT_EINVAL, "model_flags: extra key \"%s\" given twice", x->key);
    if (x->type == YT_MF_STRING && !x->s)
      return yt_fail(err, YT_EINVAL, "model_flags: \"%s\" has no string", x->key);
    if (x->type == YT_MF_FLOAT && !isfinite(x->f))
      return yt_fail(err, YT_EINVAL, "model_flags: \"%s\" = %g is not finite (not valid JSON)", x->key, x->f);
    if (x->type != YT_MF_STRING && x->type != YT_MF_INT && x->type != YT_MF_FLOAT && x->type != YT_MF_BOOL)
      return yt_fail(err, YT_EINVAL,
                     "model_flags: \"%s\": only string, int, float and bool values are written", x->key);
  }
  yt_sbuf b = {0};
  bool ok = true;
  yt_sbuf_put(&b, "{", 1);
  for (int i = 0; i < 5; i++) {
    if (i) yt_sbuf_puts(&b, ", ");
    put_str(&b, STARTER[i]);
    yt_sbuf_puts(&b, ": ");
    if (i == 3)
      yt_sbuf_puts(&b, mf->frame_features ? "true" : "false");
    else if (!put_str(&b, sv[i])) {
      ok = false;
      break;
    }
  }
  for (size_t i = 0; ok && i < n_extra; i++) {
    const yt_mf_value *x = &extra[i];
    char t[32];
    yt_sbuf_puts(&b, ", ");
    if (!put_str(&b, x->key)) {
      ok = false;
      break;
    }
    yt_sbuf_puts(&b, ": ");
    switch (x->type) {
    case YT_MF_STRING: ok = put_str(&b, x->s); break;
    case YT_MF_INT:
      snprintf(t, sizeof t, "%lld", (long long)x->i);
      yt_sbuf_puts(&b, t);
      break;
    case YT_MF_FLOAT: put_float(&b, x->f); break;
    default: yt_sbuf_puts(&b, x->b ? "true" : "false"); break;
    }
  }
  yt_sbuf_put(&b, "}", 1);
  if (!ok) {
    free(b.p);
    return yt_fail(err, YT_EINVAL, "model_flags: a key or value is not valid UTF-8");
  }
  if (b.oom) {
    free(b.p);
    return yt_fail(err, YT_ENOMEM, "model_flags: out of memory");
  }
  *out = b.p;
  return YT_OK;
}

int yt_model_flags_write(const char *path, const yt_model_flags *mf, const yt_mf_value *extra, size_t n_extra,
                         yt_err *err) {
  char *text;
  int rc = yt_model_flags_format(mf, extra, n_extra, &text, err);
  if (rc < 0) return rc;
  size_t n = strlen(text), pl = strlen(path) + 5;
  char *tmp = malloc(pl);
  if (!tmp) {
    free(text);
    return yt_fail(err, YT_ENOMEM, "out of memory");
  }
  snprintf(tmp, pl, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) rc = yt_fail(err, YT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
  if (f && (fwrite(text, 1, n, f) != n || fflush(f) != 0))
    rc = yt_fail(err, YT_EIO, "%s: write failed: %s", tmp, strerror(errno));
  if (f && rc == YT_OK && fsync(fileno(f)) != 0)
    rc = yt_fail(err, YT_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
  if (f && fclose(f) != 0 && rc == YT_OK)
    rc = yt_fail(err, YT_EIO, "%s: close failed: %s", tmp, strerror(errno));
  if (rc == YT_OK && rename(tmp, path) != 0)
    rc = yt_fail(err, YT_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
  if (rc != YT_OK && f) unlink(tmp);
  free(tmp);
  free(text);
  return rc;
}

/* ------------------------------------------------------------------ reading */

void yt_model_flags_free(yt_model_flags_file *f) {
  if (!f) return;
  for (int i = 0; i < f->num_features; i++) free(f->feature_name[i]);
  free(f->feature_name);
  free(f->feature_size);
  for (size_t i = 0; i < f->n; i++)
    if (f->kv[i].type == YT_MF_JSON) free((char *)f->kv[i].s);
  free(f->kv);
  cJSON_Delete(f->priv);
  free(f);
}

const yt_mf_value *yt_model_flags_get(const yt_model_flags_file *f, const char *key) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->kv[i].key, key) == 0) return &f->kv[i];
  return NULL;
}

static char *strip(const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')) {
    s++;
    n--;
  }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
               s[n - 1] == '\f' || s[n - 1] == '\v'))
    n--;
  return strndup(s, n);
}

static int count_fields(const char *s) {
  int n = 1;
  for (; *s; s++) n += *s == ',';
  return n;
}

static int split_features(yt_model_flags_file *f, const char *name, yt_err *err) {
  const char *names = f->flags.feature_names, *sizes = f->flags.feature_sizes;
  int nn = count_fields(names), ns = count_fields(sizes);
  if (nn != ns)
    return yt_fail(err, YT_EINVAL,
                   "%s: length of feature_names (=%d, \"%s\") != length of feature_sizes (=%d, \"%s\")", name,
                   nn, names, ns, sizes);
  f->feature_name = calloc((size_t)nn, sizeof *f->feature_name);
  f->feature_size = calloc((size_t)nn, sizeof *f->feature_size);
  if (!f->feature_name || !f->feature_size) return yt_fail(err, YT_ENOMEM, "out of memory");
  const char *a = names, *c = sizes;
  for (int i = 0; i < nn; i++) {
    const char *ae = strchr(a, ','), *ce = strchr(c, ',');
    size_t al = ae ? (size_t)(ae - a) : strlen(a), cl = ce ? (size_t)(ce - c) : strlen(c);
    char *nm = strip(a, al), *sz = strip(c, cl);
    if (!nm || !sz) {
      free(nm);
      free(sz);
      return yt_fail(err, YT_ENOMEM, "out of memory");
    }
    f->feature_name[i] = nm;
    f->num_features = i + 1;
    char *end;
    errno = 0;
    long long v = strtoll(sz, &end, 10);
    bool bad = !*sz || *end || errno || v <= 0;
    free(sz);
    if (!nm[0])
      return yt_fail(err, YT_EINVAL, "%s: feature_names \"%s\": name %d is empty", name, names, i + 1);
    if (bad)
      return yt_fail(err, YT_EINVAL, "%s: feature_sizes \"%s\": size %d (\"%.*s\") is not a positive integer",
                     name, sizes, i + 1, (int)cl, c);
    f->feature_size[i] = v;
    a = ae ? ae + 1 : a + al;
    c = ce ? ce + 1 : c + cl;
  }
  return YT_OK;
}

int yt_model_flags_parse(yt_model_flags_file **out, const char *text, size_t len, const char *name,
                         yt_err *err) {
  *out = NULL;
  yt_model_flags_file *f = calloc(1, sizeof *f);
  if (!f) return yt_fail(err, YT_ENOMEM, "out of memory");
  int rc = YT_OK;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  f->priv = root;
  while (root && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
  if (root && end < text + len) {
    rc = yt_fail(err, YT_ECORRUPT, "%s: extra data after the JSON object at byte %ld", name,
                 (long)(end - text));
    goto fail;
  }
  if (!root) {
    const char *ep = cJSON_GetErrorPtr();
    long at = ep && ep >= text && ep <= text + len ? (long)(ep - text) : -1;
    rc = yt_fail(err, YT_ECORRUPT, "%s: not valid JSON (near byte %ld)", name, at);
    goto fail;
  }
  if (!cJSON_IsObject(root)) {
    rc = yt_fail(err, YT_ECORRUPT, "%s: not a JSON object", name);
    goto fail;
  }
  size_t cap = (size_t)cJSON_GetArraySize(root);
  f->kv = calloc(cap ? cap : 1, sizeof *f->kv);
  if (!f->kv) {
    rc = yt_fail(err, YT_ENOMEM, "out of memory");
    goto fail;
  }
  for (cJSON *e = root->child; e; e = e->next) {
    yt_mf_value v = {.key = e->string};
    if (cJSON_IsString(e)) {
      v.type = YT_MF_STRING;
      v.s = e->valuestring;
    } else if (cJSON_IsBool(e)) {
      v.type = YT_MF_BOOL;
      v.b = cJSON_IsTrue(e);
    } else if (cJSON_IsNumber(e)) {
      v.f = e->valuedouble;
      bool integral = v.f == floor(v.f) && fabs(v.f) < 9.2e18;
      v.type = integral ? YT_MF_INT : YT_MF_FLOAT;
      v.i = integral ? (int64_t)v.f : 0;
    } else {
      v.type = YT_MF_JSON;
      if (!(v.s = cJSON_PrintUnformatted(e))) {
        rc = yt_fail(err, YT_ENOMEM, "out of memory");
        goto fail;
      }
    }
    yt_mf_value *old = (yt_mf_value *)yt_model_flags_get(f, e->string);
    if (old) { /* a repeated key: the last one wins, as in Python */
      if (old->type == YT_MF_JSON) free((char *)old->s);
      *old = v;
    } else {
      f->kv[f->n++] = v;
    }
  }
  const char **sv[5] = {&f->flags.model, &f->flags.feature_sizes, &f->flags.feature_names, NULL,
                        &f->flags.label_loss};
  for (int i = 0; i < 5; i++) {
    const yt_mf_value *v = yt_model_flags_get(f, STARTER[i]);
    if (!v) {
      rc = yt_fail(err, YT_EINVAL,
                   "%s: missing key \"%s\" (model_flags.json needs model, feature_sizes, "
                   "feature_names, frame_features and label_loss)",
                   name, STARTER[i]);
      goto fail;
    }
    if (i == 3 ? v->type != YT_MF_BOOL : v->type != YT_MF_STRING) {
      rc = yt_fail(err, YT_EINVAL, "%s: key \"%s\" must be %s", name, STARTER[i],
                   i == 3 ? "true or false" : "a string");
      goto fail;
    }
    if (i == 3)
      f->flags.frame_features = v->b;
    else
      *sv[i] = v->s;
  }
  if ((rc = split_features(f, name, err)) < 0) goto fail;
  *out = f;
  return YT_OK;
fail:
  yt_model_flags_free(f);
  return rc;
}

int yt_model_flags_read(yt_model_flags_file **out, const char *path, yt_err *err) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) return yt_fail(err, YT_EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, fp);
    if (n < cap) break;
    if (cap >= (64u << 20)) {
      free(buf);
      fclose(fp);
      return yt_fail(err, YT_EINVAL, "%s: larger than 64 MiB", path);
    }
    char *nb = realloc(buf, cap *= 2);
    if (!nb) {
      free(buf);
      buf = NULL;
    } else
      buf = nb;
  }
  int bad = ferror(fp);
  fclose(fp);
  if (!buf) return yt_fail(err, YT_ENOMEM, "out of memory");
  if (bad) {
    free(buf);
    return yt_fail(err, YT_EIO, "%s: read failed", path);
  }
  int rc = yt_model_flags_parse(out, buf, n, path, err);
  free(buf);
  return rc;
}

int yt_model_flags_compare(const yt_model_flags *existing, const yt_model_flags *want, const char *name,
                           yt_err *err) {
  const char *a[5] = {existing->model, existing->feature_sizes, existing->feature_names,
                      existing->frame_features ? "true" : "false", existing->label_loss};
  const char *b[5] = {want->model, want->feature_sizes, want->feature_names,
                      want->frame_features ? "true" : "false", want->label_loss};
  for (int i = 0; i < 5; i++) {
    const char *x = a[i] ? a[i] : "", *y = b[i] ? b[i] : "";
    if (strcmp(x, y) != 0)
      return yt_fail(
          err, YT_EINVAL,
          "%s: model flags do not match this run: %s is %s%s%s in the file but %s%s%s now. Delete the "
          "file, change --train_dir, or pass --start_new_model",
          name, STARTER[i], i == 3 ? "" : "\"", x, i == 3 ? "" : "\"", i == 3 ? "" : "\"", y,
          i == 3 ? "" : "\"");
  }
  return YT_OK;
}

int yt_model_flags_ensure(const char *path, const yt_model_flags *mf, const yt_mf_value *extra,
                          size_t n_extra, bool *written, yt_err *err) {
  if (written) *written = false;
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno != ENOENT) return yt_fail(err, YT_EIO, "%s: %s", path, strerror(errno));
    int rc = yt_model_flags_write(path, mf, extra, n_extra, err);
    if (rc == YT_OK && written) *written = true;
    return rc;
  }
  yt_model_flags_file *f;
  int rc = yt_model_flags_read(&f, path, err);
  if (rc < 0) return rc;
  rc = yt_model_flags_compare(&f->flags, mf, path, err);
  yt_model_flags_free(f);
  return rc;
}
