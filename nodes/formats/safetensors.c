/* safetensors.c: safetensors writer (atomic) and strict reader (see safetensors.h). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sbuf.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes host-order tensor data: little-endian hosts only"
#endif

static const struct {
  const char *name;
  size_t size;
} DT[YT_ST_NDTYPES] = {
    [YT_ST_F64] = {"F64", 8},   [YT_ST_F32] = {"F32", 4},         [YT_ST_F16] = {"F16", 2},
    [YT_ST_BF16] = {"BF16", 2}, [YT_ST_I64] = {"I64", 8},         [YT_ST_I32] = {"I32", 4},
    [YT_ST_I16] = {"I16", 2},   [YT_ST_I8] = {"I8", 1},           [YT_ST_U64] = {"U64", 8},
    [YT_ST_U32] = {"U32", 4},   [YT_ST_U16] = {"U16", 2},         [YT_ST_U8] = {"U8", 1},
    [YT_ST_BOOL] = {"BOOL", 1}, [YT_ST_F8_E4M3] = {"F8_E4M3", 1}, [YT_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *yt_st_dtype_name(yt_st_dtype t) {
  return (unsigned)t < YT_ST_NDTYPES ? DT[t].name : "?";
}
size_t yt_st_dtype_size(yt_st_dtype t) {
  return (unsigned)t < YT_ST_NDTYPES ? DT[t].size : 0;
}
int yt_st_dtype_parse(const char *name) {
  for (int i = 0; i < YT_ST_NDTYPES; i++)
    if (strcmp(DT[i].name, name) == 0) return i;
  return -1;
}

/* product(shape) * size, or false on overflow. */
static bool nbytes_of(yt_st_dtype t, int rank, const int64_t *shape, size_t *out) {
  size_t n = yt_st_dtype_size(t);
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX) return false;
    if (__builtin_mul_overflow(n, (size_t)shape[i], &n)) return false;
  }
  *out = n;
  return true;
}

static void shape_str(char *buf, size_t cap, int rank, const int64_t *shape) {
  size_t k = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < rank && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
}

static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3;
      cp = c & 0x07;
    } else
      return false;
    if (n - i <= k) return false; /* the sequence runs past the end */
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += k + 1;
  }
  return true;
}

/* ------------------------------------------------------------------ writer */

typedef struct st_item {
  char *name;
  yt_st_dtype dtype;
  int rank;
  int64_t shape[YT_ST_MAX_RANK];
  const void *data;
  size_t nbytes;
} st_item;

struct yt_st_writer {
  st_item *t;
  size_t n, cap;
  char **mk, **mv;
  size_t nm, mcap;
};

yt_st_writer *yt_st_writer_new(void) {
  return calloc(1, sizeof(yt_st_writer));
}

void yt_st_writer_free(yt_st_writer *w) {
  if (!w) return;
  for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
  for (size_t i = 0; i < w->nm; i++) {
    free(w->mk[i]);
    free(w->mv[i]);
  }
  free(w->t);
  free(w->mk);
  free(w->mv);
  free(w);
}

int yt_st_writer_add(yt_st_writer *w, const char *name, yt_st_dtype dtype, int rank, const int64_t *shape,
                     const void *data, yt_err *err) {
  if (!name || !*name) return yt_fail(err, YT_EINVAL, "safetensors: a tensor needs a non-empty name");
  if (strcmp(name, "__metadata__") == 0)
    return yt_fail(err, YT_EINVAL, "safetensors: '__metadata__' is reserved and cannot name a tensor");
  if (!utf8_valid((const unsigned char *)name, strlen(name)))
    return yt_fail(err, YT_EINVAL, "safetensors: tensor name '%s' is not valid UTF-8", name);
  if ((unsigned)dtype >= YT_ST_NDTYPES)
    return yt_fail(err, YT_EINVAL, "safetensors: tensor '%s': unknown dtype %d", name, (int)dtype);
  if (rank < 0 || rank > YT_ST_MAX_RANK)
    return yt_fail(err, YT_EINVAL, "safetensors: tensor '%s': rank %d outside 0..%d", name, rank,
                   YT_ST_MAX_RANK);
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->t[i].name, name) == 0)
      return yt_fail(err, YT_EINVAL, "safetensors: tensor '%s' added twice", name);
  size_t nb;
  if (!nbytes_of(dtype, rank, shape, &nb)) {
    char s[256];
    shape_str(s, sizeof s, rank, shape);
    return yt_fail(err, YT_EINVAL, "safetensors: tensor '%s': invalid shape %s (negative or too large)", name,
                   s);
  }
  if (nb > 0 && !data) return yt_fail(err, YT_EINVAL, "safetensors: tensor '%s': no data", name);
  if (w->n == w->cap) {
    size_t c = w->cap ? 2 * w->cap : 16;
    st_item *t = realloc(w->t, c * sizeof *t);
    if (!t) return yt_fail(err, YT_ENOMEM, "safetensors: out of memory");
    w->t = t;
    w->cap = c;
  }
  st_item *it = &w->t[w->n];
  memset(it, 0, sizeof *it);
  if (!(it->name = strdup(name))) return yt_fail(err, YT_ENOMEM, "safetensors: out of memory");
  it->dtype = dtype;
  it->rank = rank;
  for (int i = 0; i < rank; i++) it->shape[i] = shape[i];
  it->data = data;
  it->nbytes = nb;
  w->n++;
  return YT_OK;
}

int yt_st_writer_meta(yt_st_writer *w, const char *key, const char *value, yt_err *err) {
  if (!key || !value) return yt_fail(err, YT_EINVAL, "safetensors: metadata key and value must be set");
  if (!utf8_valid((const unsigned char *)key, strlen(key)) ||
      !utf8_valid((const unsigned char *)value, strlen(value)))
    return yt_fail(err, YT_EINVAL, "safetensors: metadata '%s' is not valid UTF-8", key);
  char *v = strdup(value);
  if (!v) return yt_fail(err, YT_ENOMEM, "safetensors: out of memory");
  for (size_t i = 0; i < w->nm; i++)
    if (strcmp(w->mk[i], key) == 0) {
      free(w->mv[i]);
      w->mv[i] = v;
      return YT_OK;
    }
  if (w->nm == w->mcap) {
    size_t c = w->mcap ? 2 * w->mcap : 8;
    char **k = realloc(w->mk, c * sizeof *k);
    if (k) w->mk = k;
    char **vv = k ? realloc(w->mv, c * sizeof *vv) : NULL;
    if (!vv) {
      free(v);
      return yt_fail(err, YT_ENOMEM, "safetensors: out of memory");
    }
    w->mv = vv;
    w->mcap = c;
  }
  if (!(w->mk[w->nm] = strdup(key))) {
    free(v);
    return yt_fail(err, YT_ENOMEM, "safetensors: out of memory");
  }
  w->mv[w->nm++] = v;
  return YT_OK;
}

static void sb_fmt(yt_sbuf *b, const char *fmt, long long v) {
  char t[32];
  int n = snprintf(t, sizeof t, fmt, v);
  yt_sbuf_put(b, t, (size_t)n);
}
/* A JSON string: quotes, backslash and control characters escaped, UTF-8 passed through. */
static void sb_json(yt_sbuf *b, const char *s) {
  yt_sbuf_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char e[8];
    if (*p == '"')
      yt_sbuf_put(b, "\\\"", 2);
    else if (*p == '\\')
      yt_sbuf_put(b, "\\\\", 2);
    else if (*p < 0x20) {
      snprintf(e, sizeof e, "\\u%04x", *p);
      yt_sbuf_put(b, e, 6);
    } else
      yt_sbuf_put(b, (const char *)p, 1);
  }
  yt_sbuf_put(b, "\"", 1);
}

static int cmp_item(const void *a, const void *b) {
  const st_item *x = *(st_item *const *)a, *y = *(st_item *const *)b;
  size_t sx = yt_st_dtype_size(x->dtype), sy = yt_st_dtype_size(y->dtype);
  if (sx != sy) return sx > sy ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int fwrite_all(FILE *f, const void *p, size_t n, const char *tmp, yt_err *err) {
  if (n && fwrite(p, 1, n, f) != n) return yt_fail(err, YT_EIO, "%s: write failed: %s", tmp, strerror(errno));
  return YT_OK;
}

/* fflush, fsync, close, rename tmp -> path, fsync the directory. Closes f whatever happens;
 * unlinks tmp on failure. */
static int commit(FILE *f, const char *tmp, const char *path, int rc, yt_err *err) {
  if (rc == YT_OK && fflush(f) != 0) rc = yt_fail(err, YT_EIO, "%s: write failed: %s", tmp, strerror(errno));
  if (rc == YT_OK && fsync(fileno(f)) != 0)
    rc = yt_fail(err, YT_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
  if (fclose(f) != 0 && rc == YT_OK) rc = yt_fail(err, YT_EIO, "%s: close failed: %s", tmp, strerror(errno));
  if (rc == YT_OK && rename(tmp, path) != 0)
    rc = yt_fail(err, YT_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
  if (rc != YT_OK) {
    unlink(tmp);
    return rc;
  }
  char dir[4096];
  const char *slash = strrchr(path, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  } /* best effort: the data itself is synced */
  return YT_OK;
}

int yt_st_writer_write(yt_st_writer *w, const char *path, yt_err *err) {
  int rc = YT_OK;
  yt_sbuf h = {0};
  st_item **order = malloc((w->n ? w->n : 1) * sizeof *order);
  char *tmp = malloc(strlen(path) + 5);
  FILE *f = NULL;
  if (!order || !tmp) {
    rc = yt_fail(err, YT_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  sprintf(tmp, "%s.tmp", path);
  for (size_t i = 0; i < w->n; i++) order[i] = &w->t[i];
  qsort(order, w->n, sizeof *order, cmp_item);
  /* The header, compact like the upstream writer: __metadata__ first, then tensors in buffer order. */
  yt_sbuf_puts(&h, "{");
  bool first = true;
  if (w->nm) {
    yt_sbuf_puts(&h, "\"__metadata__\":{");
    for (size_t i = 0; i < w->nm; i++) {
      if (i) yt_sbuf_puts(&h, ",");
      sb_json(&h, w->mk[i]);
      yt_sbuf_puts(&h, ":");
      sb_json(&h, w->mv[i]);
    }
    yt_sbuf_puts(&h, "}");
    first = false;
  }
  size_t off = 0;
  for (size_t i = 0; i < w->n; i++) {
    const st_item *t = order[i];
    if (!first) yt_sbuf_puts(&h, ",");
    first = false;
    sb_json(&h, t->name);
    yt_sbuf_puts(&h, ":{\"dtype\":\"");
    yt_sbuf_puts(&h, yt_st_dtype_name(t->dtype));
    yt_sbuf_puts(&h, "\",\"shape\":[");
    for (int d = 0; d < t->rank; d++) sb_fmt(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    sb_fmt(&h, "],\"data_offsets\":[%lld,", (long long)off);
    off += t->nbytes;
    sb_fmt(&h, "%lld]}", (long long)off);
  }
  yt_sbuf_puts(&h, "}");
  while (!h.oom && h.len % 8) yt_sbuf_puts(&h, " ");
  if (h.oom) {
    rc = yt_fail(err, YT_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  if (h.len > YT_ST_MAX_HEADER) {
    rc = yt_fail(err, YT_EINVAL, "%s: header of %zu bytes exceeds the %u-byte limit", path, h.len,
                 YT_ST_MAX_HEADER);
    goto fail;
  }
  f = fopen(tmp, "wb");
  if (!f) {
    rc = yt_fail(err, YT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    goto fail;
  }
  uint8_t n8[8];
  for (int i = 0; i < 8; i++) n8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
  rc = fwrite_all(f, n8, 8, tmp, err);
  if (rc == YT_OK) rc = fwrite_all(f, h.p, h.len, tmp, err);
  for (size_t i = 0; i < w->n && rc == YT_OK; i++)
    rc = fwrite_all(f, order[i]->data, order[i]->nbytes, tmp, err);
  rc = commit(f, tmp, path, rc, err);
fail:
  free(h.p);
  free(order);
  free(tmp);
  return rc;
}

/* ------------------------------------------------------------------ reader */

struct yt_st_file {
  char *path;
  uint8_t *own; /* malloc'd copy (open_mem or a file that cannot be mapped) */
  void *map;
  size_t map_len;
  const uint8_t *base; /* the whole file */
  size_t n;
  yt_st_tensor *t;              /* buffer order */
  const yt_st_tensor **by_name; /* into t, sorted by name */
  size_t nm;
  char **mk, **mv;
};

void yt_st_close(yt_st_file *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) free((char *)f->t[i].name);
  for (size_t i = 0; i < f->nm; i++) {
    free(f->mk[i]);
    free(f->mv[i]);
  }
  free(f->t);
  free(f->by_name);
  free(f->mk);
  free(f->mv);
  if (f->map) munmap(f->map, f->map_len);
  free(f->own);
  free(f->path);
  free(f);
}

size_t yt_st_count(const yt_st_file *f) {
  return f->n;
}
const yt_st_tensor *yt_st_at(const yt_st_file *f, size_t i) {
  return i < f->n ? &f->t[i] : NULL;
}
size_t yt_st_meta_count(const yt_st_file *f) {
  return f->nm;
}
const char *yt_st_path(const yt_st_file *f) {
  return f->path;
}
void yt_st_meta_at(const yt_st_file *f, size_t i, const char **key, const char **value) {
  *key = i < f->nm ? f->mk[i] : NULL;
  *value = i < f->nm ? f->mv[i] : NULL;
}
const char *yt_st_meta(const yt_st_file *f, const char *key) {
  for (size_t i = 0; i < f->nm; i++)
    if (strcmp(f->mk[i], key) == 0) return f->mv[i];
  return NULL;
}

const yt_st_tensor *yt_st_find(const yt_st_file *f, const char *name) {
  size_t lo = 0, hi = f->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(f->by_name[mid]->name, name);
    if (c == 0) return f->by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

int yt_st_expect(const yt_st_file *f, const char *name, yt_st_dtype dtype, int rank, const int64_t *shape,
                 const void **data, yt_err *err) {
  const yt_st_tensor *t = yt_st_find(f, name);
  if (!t)
    return yt_fail(err, YT_EINVAL, "%s: no tensor '%s' (a checkpoint of another model?)", f->path, name);
  bool same = t->dtype == dtype && t->rank == rank;
  for (int i = 0; same && i < rank; i++) same = t->shape[i] == shape[i];
  if (!same) {
    char want[256], got[256];
    shape_str(want, sizeof want, rank, shape);
    shape_str(got, sizeof got, t->rank, t->shape);
    return yt_fail(err, YT_EINVAL,
                   "%s: tensor '%s' is %s %s, expected %s %s (a checkpoint of another model?)", f->path, name,
                   yt_st_dtype_name(t->dtype), got, yt_st_dtype_name(dtype), want);
  }
  if (data) *data = t->data;
  return YT_OK;
}

/* A non-negative integer JSON number (exact in a double: < 2^53). */
static bool json_uint(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return false;
  double v = j->valuedouble;
  if (!(v >= 0 && v <= 9007199254740992.0) || v != (double)(uint64_t)v) return false;
  *out = (uint64_t)v;
  return true;
}

static const char *json_kind(const cJSON *j) {
  if (!j) return "missing";
  if (cJSON_IsString(j)) return "a string";
  if (cJSON_IsNumber(j)) return "a number";
  if (cJSON_IsArray(j)) return "an array";
  if (cJSON_IsObject(j)) return "an object";
  if (cJSON_IsBool(j)) return "a boolean";
  return "null";
}

static int cmp_name(const void *a, const void *b) {
  return strcmp((*(const yt_st_tensor *const *)a)->name, (*(const yt_st_tensor *const *)b)->name);
}
static int cmp_off(const void *a, const void *b) {
  const yt_st_tensor *x = a, *y = b;
  if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Parses one tensor entry into t (name already set). */
static int parse_tensor(yt_st_file *f, const cJSON *e, yt_st_tensor *t, uint64_t *end, yt_err *err) {
  const char *P = f->path, *N = t->name;
  if (!cJSON_IsObject(e))
    return yt_fail(err, YT_ECORRUPT, "%s: tensor '%s': entry is %s, not an object", P, N, json_kind(e));
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsString(dt))
    return yt_fail(err, YT_ECORRUPT, "%s: tensor '%s': \"dtype\" is %s, not a string", P, N, json_kind(dt));
  int d = yt_st_dtype_parse(dt->valuestring);
  if (d < 0) return yt_fail(err, YT_ECORRUPT, "%s: tensor '%s': unknown dtype \"%s\"", P, N, dt->valuestring);
  t->dtype = (yt_st_dtype)d;
  if (!cJSON_IsArray(sh))
    return yt_fail(err, YT_ECORRUPT, "%s: tensor '%s': \"shape\" is %s, not an array", P, N, json_kind(sh));
  int rank = cJSON_GetArraySize(sh);
  if (rank > YT_ST_MAX_RANK)
    return yt_fail(err, YT_EINVAL, "%s: tensor '%s': rank %d exceeds the supported %d", P, N, rank,
                   YT_ST_MAX_RANK);
  t->rank = rank;
  int i = 0;
  for (const cJSON *x = sh->child; x; x = x->next, i++) {
    uint64_t v;
    if (!json_uint(x, &v))
      return yt_fail(err, YT_ECORRUPT, "%s: tensor '%s': shape[%d] is not a non-negative integer", P, N, i);
    t->shape[i] = (int64_t)v;
  }
  uint64_t b, en;
  if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !json_uint(of->child, &b) ||
      !json_uint(of->child->next, &en))
    return yt_fail(err, YT_ECORRUPT,
                   "%s: tensor '%s': \"data_offsets\" must be [BEGIN, END], two non-negative integers", P, N);
  if (en < b)
    return yt_fail(err, YT_ECORRUPT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", P, N,
                   (unsigned long long)b, (unsigned long long)en);
  size_t nb;
  char s[256];
  shape_str(s, sizeof s, t->rank, t->shape);
  if (!nbytes_of(t->dtype, t->rank, t->shape, &nb))
    return yt_fail(err, YT_ECORRUPT, "%s: tensor '%s': shape %s overflows", P, N, s);
  if (nb != en - b)
    return yt_fail(err, YT_ECORRUPT,
                   "%s: tensor '%s': shape %s of %s needs %zu bytes but data_offsets [%llu, %llu] span %llu",
                   P, N, s, yt_st_dtype_name(t->dtype), nb, (unsigned long long)b, (unsigned long long)en,
                   (unsigned long long)(en - b));
  t->offset = (size_t)b;
  t->nbytes = nb;
  *end = en;
  return YT_OK;
}

static int validate(yt_st_file *f, yt_err *err) {
  const char *P = f->path;
  size_t len = f->map_len;
  const uint8_t *p = f->base;
  if (len < 8) return yt_fail(err, YT_ECORRUPT, "%s: %zu bytes: too short for a safetensors file", P, len);
  uint64_t N = 0;
  for (int i = 0; i < 8; i++) N |= (uint64_t)p[i] << (8 * i);
  if (N > YT_ST_MAX_HEADER)
    return yt_fail(err, YT_ECORRUPT,
                   "%s: header size %llu exceeds the %u-byte limit (not a safetensors file?)", P,
                   (unsigned long long)N, YT_ST_MAX_HEADER);
  if (N > len - 8)
    return yt_fail(err, YT_ECORRUPT,
                   "%s: header size %llu runs past the end of the file (%zu bytes): truncated?", P,
                   (unsigned long long)N, len);
  const char *h = (const char *)p + 8;
  if (N == 0 || h[0] != '{') return yt_fail(err, YT_ECORRUPT, "%s: the header does not start with '{'", P);
  if (!utf8_valid((const unsigned char *)h, (size_t)N))
    return yt_fail(err, YT_ECORRUPT, "%s: the header is not valid UTF-8", P);
  const char *endp = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)N, &endp, 0);
  if (!root) {
    const char *ep = cJSON_GetErrorPtr();
    long at = ep && ep >= h && ep <= h + N ? (long)(ep - h) + 8 : -1;
    return yt_fail(err, YT_ECORRUPT, "%s: the header is not valid JSON (near byte %ld)", P, at);
  }
  int rc = YT_OK;
  for (const char *q = endp; q < h + N; q++)
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
      rc = yt_fail(err, YT_ECORRUPT, "%s: trailing bytes after the header's JSON at byte %ld", P,
                   (long)(q - h) + 8);
      goto out;
    }
  if (!cJSON_IsObject(root)) {
    rc = yt_fail(err, YT_ECORRUPT, "%s: the header is %s, not a JSON object", P, json_kind(root));
    goto out;
  }
  size_t cnt = 0, nmeta_obj = 0;
  for (const cJSON *e = root->child; e; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0)
      nmeta_obj++;
    else
      cnt++;
  }
  if (nmeta_obj > 1) {
    rc = yt_fail(err, YT_ECORRUPT, "%s: \"__metadata__\" appears twice", P);
    goto out;
  }
  f->t = calloc(cnt ? cnt : 1, sizeof *f->t);
  f->by_name = calloc(cnt ? cnt : 1, sizeof *f->by_name);
  if (!f->t || !f->by_name) {
    rc = yt_fail(err, YT_ENOMEM, "%s: out of memory", P);
    goto out;
  }
  size_t buflen = len - 8 - (size_t)N;
  for (const cJSON *e = root->child; e; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0) {
      if (!cJSON_IsObject(e)) {
        rc = yt_fail(err, YT_ECORRUPT, "%s: \"__metadata__\" is %s, not an object", P, json_kind(e));
        goto out;
      }
      size_t m = (size_t)cJSON_GetArraySize(e);
      f->mk = calloc(m ? m : 1, sizeof *f->mk);
      f->mv = calloc(m ? m : 1, sizeof *f->mv);
      if (!f->mk || !f->mv) {
        rc = yt_fail(err, YT_ENOMEM, "%s: out of memory", P);
        goto out;
      }
      for (const cJSON *x = e->child; x; x = x->next) {
        if (!cJSON_IsString(x)) {
          rc = yt_fail(err, YT_ECORRUPT, "%s: __metadata__ \"%s\" is %s; metadata values must be strings", P,
                       x->string, json_kind(x));
          goto out;
        }
        for (size_t i = 0; i < f->nm; i++)
          if (strcmp(f->mk[i], x->string) == 0) {
            rc = yt_fail(err, YT_ECORRUPT, "%s: __metadata__ key \"%s\" appears twice", P, x->string);
            goto out;
          }
        f->mk[f->nm] = strdup(x->string);
        f->mv[f->nm] = strdup(x->valuestring);
        f->nm++;
        if (!f->mk[f->nm - 1] || !f->mv[f->nm - 1]) {
          rc = yt_fail(err, YT_ENOMEM, "%s: out of memory", P);
          goto out;
        }
      }
      continue;
    }
    yt_st_tensor *t = &f->t[f->n];
    if (!(t->name = strdup(e->string))) {
      rc = yt_fail(err, YT_ENOMEM, "%s: out of memory", P);
      goto out;
    }
    f->n++;
    uint64_t end;
    if ((rc = parse_tensor(f, e, t, &end, err)) < 0) goto out;
    if (end > buflen) {
      rc = yt_fail(err, YT_ECORRUPT,
                   "%s: tensor '%s': data_offsets end at %llu, past the %zu-byte buffer (truncated?)", P,
                   t->name, (unsigned long long)end, buflen);
      goto out;
    }
  }
  /* Buffer order; then coverage: every byte of the buffer belongs to exactly one tensor. */
  qsort(f->t, f->n, sizeof *f->t, cmp_off);
  for (size_t i = 0; i < f->n; i++) f->by_name[i] = &f->t[i];
  qsort(f->by_name, f->n, sizeof *f->by_name, cmp_name);
  for (size_t i = 1; i < f->n; i++)
    if (strcmp(f->by_name[i]->name, f->by_name[i - 1]->name) == 0) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: tensor '%s' appears twice in the header", P, f->by_name[i]->name);
      goto out;
    }
  size_t at = 0;
  for (size_t i = 0; i < f->n; i++) {
    yt_st_tensor *t = &f->t[i];
    if (t->offset > at) {
      rc = yt_fail(err, YT_ECORRUPT,
                   "%s: tensor '%s': hole in the buffer: bytes [%zu, %zu) belong to no tensor", P, t->name,
                   at, t->offset);
      goto out;
    }
    if (t->offset < at) {
      rc = yt_fail(err, YT_ECORRUPT,
                   "%s: tensor '%s': data_offsets [%zu, %zu] overlap '%s' (which ends at %zu)", P, t->name,
                   t->offset, t->offset + t->nbytes, f->t[i - 1].name, at);
      goto out;
    }
    at += t->nbytes;
    t->data = f->base + 8 + N + t->offset;
  }
  if (at != buflen) {
    rc = yt_fail(
        err, YT_ECORRUPT,
        "%s: the tensors cover %zu bytes of a %zu-byte buffer: %zu trailing bytes belong to no tensor", P, at,
        buflen, buflen - at);
    goto out;
  }
out:
  cJSON_Delete(root);
  return rc;
}

int yt_st_open_mem(yt_st_file **out, const void *bytes, size_t len, const char *name, yt_err *err) {
  *out = NULL;
  yt_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(name)) || !(f->own = malloc(len ? len : 1))) {
    yt_st_close(f);
    return yt_fail(err, YT_ENOMEM, "%s: out of memory", name);
  }
  if (len) memcpy(f->own, bytes, len);
  f->base = f->own;
  f->map_len = len;
  int rc = validate(f, err);
  if (rc < 0) {
    yt_st_close(f);
    return rc;
  }
  *out = f;
  return YT_OK;
}

int yt_st_open(yt_st_file **out, const char *path, yt_err *err) {
  *out = NULL;
  yt_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    return yt_fail(err, YT_ENOMEM, "%s: out of memory", path);
  }
  int rc = YT_OK;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0) {
    rc = yt_fail(err, YT_EIO, "%s: cannot open: %s", path, strerror(errno));
    goto fail;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = yt_fail(err, YT_EIO, "%s: not a regular file", path);
    goto fail;
  }
  f->map_len = (size_t)st.st_size;
  if (f->map_len > 0) {
    void *m = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      rc = yt_fail(err, YT_EIO, "%s: cannot map: %s", path, strerror(errno));
      goto fail;
    }
    f->map = m;
    f->base = m;
  } else {
    f->base = (const uint8_t *)"";
  }
  close(fd);
  fd = -1;
  if ((rc = validate(f, err)) < 0) goto fail;
  *out = f;
  return YT_OK;
fail:
  if (fd >= 0) close(fd);
  yt_st_close(f);
  return rc;
}
