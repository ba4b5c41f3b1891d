/* example_edit.c: add a float-list feature to a serialized Example or
 * SequenceExample without decoding the rest (a distillation set's
 * `teacher_predictions`, REFERENCE.md 6.2).
 *
 * Example.features and SequenceExample.context are both field 1 (Features,
 * a map<string, Feature> = repeated entries of field 1). The output keeps
 * every other top-level field byte for byte and in place; the Features
 * message (all field-1 occurrences merged, as protobuf merges them) gains
 * one map entry at its end, where a reader's "last key wins" makes it the
 * value even if the key was there already. One Features field, not a second
 * one appended, because not every parser merges repeated message fields. */
#include <stdlib.h>
#include <string.h>

#include "formats/example.h"

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) *p++ = (uint8_t)(v | 0x80), v >>= 7;
  *p++ = (uint8_t)v;
  return p;
}

/* A varint at buf[*pos..len), advancing *pos; -1 when it runs off the end or past 10 bytes. */
static int get_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 70 && *pos < len; shift += 7) {
    uint8_t b = buf[(*pos)++];
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return *v = x, 0;
  }
  return -1;
}

/* Skips one field's value of wire type wt at *pos; -1 when it runs off the end. */
static int skip_value(const uint8_t *buf, size_t len, size_t *pos, int wt) {
  uint64_t v;
  switch (wt) {
  case 0: return get_varint(buf, len, pos, &v);
  case 1: return *pos + 8 <= len ? (*pos += 8, 0) : -1;
  case 5: return *pos + 4 <= len ? (*pos += 4, 0) : -1;
  case 2:
    if (get_varint(buf, len, pos, &v) || v > len - *pos) return -1;
    *pos += (size_t)v;
    return 0;
  default: return -1;
  }
}

int yt_example_add_floats(const uint8_t *rec, size_t len, const char *key, const float *v, size_t n,
                          uint8_t **out, size_t *out_len, yt_err *err) {
  *out = NULL, *out_len = 0;
  /* pass 1: the Features bodies' total size, and where the first one is */
  size_t pos = 0, feats = 0, first = len; /* first: offset of the first field-1 tag (len: none) */
  while (pos < len) {
    size_t tag_at = pos;
    uint64_t tag, l;
    if (get_varint(rec, len, &pos, &tag)) goto bad;
    if (tag == ((1 << 3) | 2)) {
      if (get_varint(rec, len, &pos, &l) || l > len - pos) goto bad;
      if (first == len) first = tag_at;
      feats += (size_t)l;
      pos += (size_t)l;
    } else if ((tag >> 3) == 0 || skip_value(rec, len, &pos, (int)(tag & 7))) {
      goto bad;
    }
  }
  /* the new map entry: key (1) + value (2) = Feature { float_list (2) = FloatList { value (1), packed } } */
  size_t klen = strlen(key), vals = n * 4;
  size_t flist = 1 + varint_len(vals) + vals;           /* FloatList */
  size_t feature = 1 + varint_len(flist) + flist;       /* Feature */
  size_t entry = 1 + varint_len(klen) + klen + 1 + varint_len(feature) + feature;
  size_t item = 1 + varint_len(entry) + entry;          /* one element of Features.feature */
  size_t body = feats + item, total = len + item + 1 + varint_len(body) + 10; /* old tags/lengths drop out */
  uint8_t *o = malloc(total), *p = o;
  if (!o) return yt_fail(err, YT_ENOMEM, "out of memory (%zu bytes for a record)", total);
  /* pass 2: copy, merging the Features into one field at the first one's place */
  pos = 0;
  int written = 0;
  while (pos < len || !written) {
    if (!written && (pos == first || pos >= len)) {
      p = put_varint(p, (1 << 3) | 2), p = put_varint(p, body);
      for (size_t q = 0; q < len;) { /* every Features body, in order */
        uint64_t tag = 0, l = 0; /* pass 1 validated the walk */
        get_varint(rec, len, &q, &tag);
        if (tag == ((1 << 3) | 2)) {
          get_varint(rec, len, &q, &l);
          memcpy(p, rec + q, (size_t)l), p += l, q += (size_t)l;
        } else {
          skip_value(rec, len, &q, (int)(tag & 7));
        }
      }
      p = put_varint(p, (1 << 3) | 2), p = put_varint(p, entry);
      p = put_varint(p, (1 << 3) | 2), p = put_varint(p, klen), memcpy(p, key, klen), p += klen;
      p = put_varint(p, (2 << 3) | 2), p = put_varint(p, feature);
      p = put_varint(p, (2 << 3) | 2), p = put_varint(p, flist);
      p = put_varint(p, (1 << 3) | 2), p = put_varint(p, vals);
      memcpy(p, v, vals), p += vals; /* little-endian float32, as the wire format */
      written = 1;
      if (pos >= len) break;
    }
    size_t at = pos;
    uint64_t tag = 0, l = 0;
    get_varint(rec, len, &pos, &tag);
    if (tag == ((1 << 3) | 2)) { /* merged above */
      get_varint(rec, len, &pos, &l);
      pos += (size_t)l;
    } else {
      skip_value(rec, len, &pos, (int)(tag & 7));
      memcpy(p, rec + at, pos - at), p += pos - at;
    }
  }
  *out = o;
  *out_len = (size_t)(p - o);
  return YT_OK;
bad:
  return yt_fail(err, YT_ECORRUPT, YT_EX_MALFORMED " at byte %zu of %zu: cannot add '%s'", pos, len, key);
}
