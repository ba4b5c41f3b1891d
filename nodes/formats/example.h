/* example.h: zero-copy decoder for tf.train.Example / SequenceExample.
 *
 * The hot path of every reader. It walks the protobuf wire format once and
 * records views (pointers into the record) of each context feature and each
 * per-frame Feature of each feature list; values are decoded on demand. It
 * handles both messages with one walk: Example.features and
 * SequenceExample.context are both field 1 of type Features; field 2 is
 * SequenceExample.feature_lists (real video-level shards carry an empty one).
 * Unknown fields are skipped; duplicate map keys resolve to the last one, as
 * protobuf maps do. Not a general protobuf library: see example.proto and
 * protobuf-c for writing. */
#ifndef YT_EXAMPLE_H
#define YT_EXAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef struct yt_bytes {
  const uint8_t *p;
  size_t n;
} yt_bytes;

typedef enum {
  YT_KIND_NONE = 0, /* a Feature with no list set */
  YT_KIND_BYTES = 1,
  YT_KIND_FLOAT = 2,
  YT_KIND_INT64 = 3,
} yt_kind;

typedef struct yt_feature {
  yt_bytes key;  /* empty for the Features of a feature list */
  yt_kind kind;
  yt_bytes body; /* the BytesList / FloatList / Int64List message */
} yt_feature;

typedef struct yt_feature_list {
  yt_bytes key;
  size_t first, count; /* its Features are frames[first .. first+count) */
} yt_feature_list;

typedef struct yt_example {
  yt_feature *ctx;
  size_t n_ctx, cap_ctx;
  yt_feature_list *lists;
  size_t n_lists, cap_lists;
  yt_feature *frames;
  size_t n_frames, cap_frames;
} yt_example;

/* The reason string for wire-format errors, stable for tests. */
#define YT_EX_MALFORMED "malformed protobuf"

/* Parses buf[len]; views stay valid while buf does. Scratch arrays are reused
 * across calls; yt_example_free releases them. Errors say YT_EX_MALFORMED and
 * the byte position inside the record. */
int yt_example_parse(yt_example *ex, const uint8_t *buf, size_t len, yt_err *err);
void yt_example_free(yt_example *ex);

const yt_feature *yt_example_find(const yt_example *ex, const char *key);
const yt_feature_list *yt_example_find_list(const yt_example *ex, const char *key);
/* "id, labels, mean_rgb" for error messages that list what a record holds. */
void yt_example_keys(const yt_example *ex, int lists, char *out, size_t cap);

/* Value access. *n receives the number of values (all of them, even past cap);
 * at most cap are written to out (which may be NULL to count). */
int yt_feature_floats(const yt_feature *f, float *out, size_t cap, size_t *n, yt_err *err);
int yt_feature_int64s(const yt_feature *f, int64_t *out, size_t cap, size_t *n, yt_err *err);
/* The i-th bytes value in *v and the count in *n (v untouched if i >= *n). */
int yt_feature_bytes(const yt_feature *f, size_t i, yt_bytes *v, size_t *n, yt_err *err);

/* example_edit.c: rec[len] (Example or SequenceExample) with a float-list
 * feature key = v[n] added to its features / context, every other field kept
 * byte for byte; *out is malloc'd. YT_ECORRUPT on malformed wire bytes. */
int yt_example_add_floats(const uint8_t *rec, size_t len, const char *key, const float *v, size_t n,
                          uint8_t **out, size_t *out_len, yt_err *err);

#endif
