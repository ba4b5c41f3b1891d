/* example.c: the zero-copy Example/SequenceExample walker (see example.h).
 *
 * Message nesting it understands (field numbers as TensorFlow's):
 *   Example / SequenceExample   1: Features (features / context)   2: FeatureLists
 *   Features      1: entry { 1: key   2: Feature }
 *   FeatureLists  1: entry { 1: key   2: FeatureList { 1: Feature ... } }
 *   Feature       1: BytesList   2: FloatList   3: Int64List (oneof; last wins) */
#include "example.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cursor over one message body. */
typedef struct {
  const uint8_t *p, *end, *base; /* base: the record start, for error offsets */
} cur;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static int malformed(const cur *c, yt_err *err, const char *what) {
  if (!c->base) return yt_fail(err, YT_ECORRUPT, YT_EX_MALFORMED " inside a feature value: %s", what);
  return yt_fail(err, YT_ECORRUPT, YT_EX_MALFORMED " at byte %td of the record: %s",
                 c->p - c->base, what);
}

static inline int varint(cur *c, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (c->p >= c->end) return -1;
    uint8_t b = *c->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) { *v = x; return 0; }
  }
  return -1;
}

/* Reads a tag; for WT_LEN also the payload view. 1 = end of message. */
static inline int next_field(cur *c, uint32_t *field, int *wt, yt_bytes *payload, yt_err *err) {
  if (c->p >= c->end) return 1;
  uint64_t tag;
  if (varint(c, &tag)) return malformed(c, err, "truncated tag");
  *field = (uint32_t)(tag >> 3);
  *wt = (int)(tag & 7);
  if (*field == 0) return malformed(c, err, "field number 0");
  switch (*wt) {
  case WT_VARINT: {
    uint64_t v;
    if (varint(c, &v)) return malformed(c, err, "truncated varint");
    payload->p = NULL;
    payload->n = v;
    return 0;
  }
  case WT_I64:
    if (c->end - c->p < 8) return malformed(c, err, "truncated fixed64");
    payload->p = c->p; payload->n = 8; c->p += 8;
    return 0;
  case WT_I32:
    if (c->end - c->p < 4) return malformed(c, err, "truncated fixed32");
    payload->p = c->p; payload->n = 4; c->p += 4;
    return 0;
  case WT_LEN: {
    uint64_t n;
    if (varint(c, &n)) return malformed(c, err, "truncated length");
    if (n > (uint64_t)(c->end - c->p)) return malformed(c, err, "length runs past the end of its message");
    payload->p = c->p; payload->n = (size_t)n; c->p += n;
    return 0;
  }
  default:
    return malformed(c, err, "unsupported wire type (groups or garbage)");
  }
}

static cur sub(const cur *parent, yt_bytes b) { return (cur){b.p, b.p + b.n, parent->base}; }

#define GROW(arr, n, cap)                                                   \
  do {                                                                      \
    if ((n) == (cap)) {                                                     \
      size_t nc = (cap) ? (cap) * 2 : 16;                                   \
      void *np = realloc((arr), nc * sizeof *(arr));                        \
      if (!np) return yt_fail(err, YT_ENOMEM, "out of memory parsing a record"); \
      (arr) = np;                                                           \
      (cap) = nc;                                                           \
    }                                                                       \
  } while (0)

/* Feature { oneof 1 bytes, 2 float, 3 int64 } */
static int parse_feature(cur c, yt_feature *f, yt_err *err) {
  f->kind = YT_KIND_NONE;
  f->body = (yt_bytes){NULL, 0};
  uint32_t field; int wt; yt_bytes v; int rc;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if (field >= 1 && field <= 3) {
      if (wt != WT_LEN) return malformed(&c, err, "Feature list with a wrong wire type");
      f->kind = (yt_kind)field;
      f->body = v;
    }
  }
  return rc < 0 ? rc : 0;
}

/* entry { 1: key  2: value } of both maps; value view only. */
static int parse_entry(cur c, yt_bytes *key, yt_bytes *val, yt_err *err) {
  *key = (yt_bytes){(const uint8_t *)"", 0};
  *val = (yt_bytes){c.p, 0}; /* absent value = empty message */
  uint32_t field; int wt; yt_bytes v; int rc;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if ((field == 1 || field == 2) && wt != WT_LEN) return malformed(&c, err, "map entry with a wrong wire type");
    if (field == 1) *key = v;
    else if (field == 2) *val = v;
  }
  return rc < 0 ? rc : 0;
}

static int parse_features(yt_example *ex, cur c, yt_err *err) {
  uint32_t field; int wt; yt_bytes v; int rc;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if (field != 1) continue;
    if (wt != WT_LEN) return malformed(&c, err, "Features entry with a wrong wire type");
    yt_bytes key, val;
    if ((rc = parse_entry(sub(&c, v), &key, &val, err)) < 0) return rc;
    GROW(ex->ctx, ex->n_ctx, ex->cap_ctx);
    yt_feature *f = &ex->ctx[ex->n_ctx++];
    if ((rc = parse_feature(sub(&c, val), f, err)) < 0) return rc;
    f->key = key;
  }
  return rc < 0 ? rc : 0;
}

static int parse_feature_lists(yt_example *ex, cur c, yt_err *err) {
  uint32_t field; int wt; yt_bytes v; int rc;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if (field != 1) continue;
    if (wt != WT_LEN) return malformed(&c, err, "FeatureLists entry with a wrong wire type");
    yt_bytes key, val;
    if ((rc = parse_entry(sub(&c, v), &key, &val, err)) < 0) return rc;
    GROW(ex->lists, ex->n_lists, ex->cap_lists);
    yt_feature_list *l = &ex->lists[ex->n_lists++];
    l->key = key;
    l->first = ex->n_frames;
    cur lc = sub(&c, val);
    uint32_t f2; int wt2; yt_bytes fv;
    while ((rc = next_field(&lc, &f2, &wt2, &fv, err)) == 0) {
      if (f2 != 1) continue;
      if (wt2 != WT_LEN) return malformed(&lc, err, "FeatureList entry with a wrong wire type");
      GROW(ex->frames, ex->n_frames, ex->cap_frames);
      yt_feature *f = &ex->frames[ex->n_frames++];
      if ((rc = parse_feature(sub(&lc, fv), f, err)) < 0) return rc;
      f->key = (yt_bytes){NULL, 0};
    }
    if (rc < 0) return rc;
    l->count = ex->n_frames - l->first;
  }
  return rc < 0 ? rc : 0;
}

int yt_example_parse(yt_example *ex, const uint8_t *buf, size_t len, yt_err *err) {
  ex->n_ctx = ex->n_lists = ex->n_frames = 0;
  cur c = {buf, buf + len, buf};
  uint32_t field; int wt; yt_bytes v; int rc;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if (field != 1 && field != 2) continue;
    if (wt != WT_LEN) return malformed(&c, err, "top-level field with a wrong wire type");
    rc = field == 1 ? parse_features(ex, sub(&c, v), err) : parse_feature_lists(ex, sub(&c, v), err);
    if (rc < 0) return rc;
  }
  return rc < 0 ? rc : 0;
}

void yt_example_free(yt_example *ex) {
  free(ex->ctx);
  free(ex->lists);
  free(ex->frames);
  memset(ex, 0, sizeof *ex);
}

static int key_is(yt_bytes k, const char *s) {
  size_t n = strlen(s);
  return k.n == n && memcmp(k.p, s, n) == 0;
}

const yt_feature *yt_example_find(const yt_example *ex, const char *key) {
  for (size_t i = ex->n_ctx; i-- > 0;)
    if (key_is(ex->ctx[i].key, key)) return &ex->ctx[i];
  return NULL;
}

const yt_feature_list *yt_example_find_list(const yt_example *ex, const char *key) {
  for (size_t i = ex->n_lists; i-- > 0;)
    if (key_is(ex->lists[i].key, key)) return &ex->lists[i];
  return NULL;
}

void yt_example_keys(const yt_example *ex, int lists, char *out, size_t cap) {
  size_t n = lists ? ex->n_lists : ex->n_ctx, used = 0;
  if (cap) out[0] = 0;
  for (size_t i = 0; i < n && used + 1 < cap; i++) {
    yt_bytes k = lists ? ex->lists[i].key : ex->ctx[i].key;
    int w = snprintf(out + used, cap - used, "%s'%.*s'", i ? ", " : "", (int)(k.n > 64 ? 64 : k.n), (const char *)k.p);
    if (w < 0) break;
    used += (size_t)w;
  }
  if (n == 0 && cap) snprintf(out, cap, "none");
}

/* ---- value access ---- */

static int wrong_kind(const yt_feature *f, yt_kind want, yt_err *err) {
  static const char *names[] = {"no list", "bytes_list", "float_list", "int64_list"};
  return yt_fail(err, YT_EINVAL, "holds a %s, expected a %s", names[f->kind], names[want]);
}

int yt_feature_floats(const yt_feature *f, float *out, size_t cap, size_t *n, yt_err *err) {
  *n = 0;
  if (f->kind == YT_KIND_NONE) return YT_OK; /* an unset list is an empty list */
  if (f->kind != YT_KIND_FLOAT) return wrong_kind(f, YT_KIND_FLOAT, err);
  cur c = {f->body.p, f->body.p + f->body.n, NULL};
  uint32_t field; int wt; yt_bytes v; int rc;
  size_t k = 0;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if (field != 1) continue;
    if (wt == WT_LEN) { /* packed */
      if (v.n % 4) return malformed(&c, err, "packed float list not a multiple of 4 bytes");
      size_t m = v.n / 4;
      if (out && k < cap) memcpy(out + k, v.p, 4 * (m < cap - k ? m : cap - k));
      k += m;
    } else if (wt == WT_I32) {
      if (out && k < cap) memcpy(out + k, v.p, 4);
      k++;
    } else {
      return malformed(&c, err, "float list with a wrong wire type");
    }
  }
  *n = k;
  return rc < 0 ? rc : YT_OK;
}

int yt_feature_int64s(const yt_feature *f, int64_t *out, size_t cap, size_t *n, yt_err *err) {
  *n = 0;
  if (f->kind == YT_KIND_NONE) return YT_OK;
  if (f->kind != YT_KIND_INT64) return wrong_kind(f, YT_KIND_INT64, err);
  cur c = {f->body.p, f->body.p + f->body.n, NULL};
  uint32_t field; int wt; yt_bytes v; int rc;
  size_t k = 0;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if (field != 1) continue;
    if (wt == WT_VARINT) {
      if (out && k < cap) out[k] = (int64_t)v.n;
      k++;
    } else if (wt == WT_LEN) { /* packed varints */
      cur pc = sub(&c, v);
      while (pc.p < pc.end) {
        uint64_t x;
        if (varint(&pc, &x)) return malformed(&pc, err, "truncated packed varint");
        if (out && k < cap) out[k] = (int64_t)x;
        k++;
      }
    } else {
      return malformed(&c, err, "int64 list with a wrong wire type");
    }
  }
  *n = k;
  return rc < 0 ? rc : YT_OK;
}

int yt_feature_bytes(const yt_feature *f, size_t i, yt_bytes *out, size_t *n, yt_err *err) {
  *n = 0;
  if (f->kind == YT_KIND_NONE) return YT_OK;
  if (f->kind != YT_KIND_BYTES) return wrong_kind(f, YT_KIND_BYTES, err);
  cur c = {f->body.p, f->body.p + f->body.n, NULL};
  /* Fast path, one frame of a feature list: exactly one value, 0x0a LEN BYTES. */
  if (f->body.n >= 2 && f->body.p[0] == 0x0a) {
    cur d = {f->body.p + 1, c.end, NULL};
    uint64_t l;
    if (!varint(&d, &l) && l == (uint64_t)(d.end - d.p)) {
      if (i == 0) *out = (yt_bytes){d.p, (size_t)l};
      *n = 1;
      return YT_OK;
    }
  }
  uint32_t field; int wt; yt_bytes v; int rc;
  size_t k = 0;
  while ((rc = next_field(&c, &field, &wt, &v, err)) == 0) {
    if (field != 1) continue;
    if (wt != WT_LEN) return malformed(&c, err, "bytes list with a wrong wire type");
    if (k == i) *out = v;
    k++;
  }
  *n = k;
  return rc < 0 ? rc : YT_OK;
}
