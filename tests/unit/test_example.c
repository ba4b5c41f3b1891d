/* test_example: the zero-copy decoder and the YouTube-8M view.
 *  - every record of the conformance vectors against expected.json (ids,
 *    labels, sums and sha256 of the float32 bytes, frame counts, segments);
 *  - the zero-copy walker against protobuf-c on every record of every vector
 *    and of a real shard (keys, values, frames);
 *  - rule errors (size, label range, id, missing list) name the key;
 *  - dequantization vectors and the SIMD path against the table. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "example.pb-c.h"
#include "formats/tfrecord.h"
#include "formats/yt8m.h"
#include "sha256.h"

static void sha_floats(const float *v, size_t n, char *hex) {
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, v, n * sizeof(float)); /* little-endian host */
  sha256_hex(&c, hex);
}

static int labels_equal(const yt_record *r, const cJSON *want) {
  if ((size_t)cJSON_GetArraySize(want) != r->n_labels) return 0;
  for (size_t i = 0; i < r->n_labels; i++)
    if (r->labels[i] != (int64_t)cJSON_GetArrayItem(want, (int)i)->valuedouble) return 0;
  return 1;
}

static void video_vectors(const cJSON *spec) {
  yt_schema s;
  yt_err err = {0};
  yt_schema_init(&s, YT_LEVEL_VIDEO, NULL, NULL, &err);
  yt_tfr_reader *rd;
  CHECK(yt_tfr_open(&rd, shared_path("testdata/video_edge.tfrecord"), &err) == YT_OK, "%s", err.msg);
  yt_record r = {0};
  yt_tfr_record tr;
  int i = 0;
  const cJSON *recs = cJSON_GetObjectItem(spec, "records");
  while (yt_tfr_next(rd, &tr, &err) == YT_OK) {
    const cJSON *w = cJSON_GetArrayItem(recs, i);
    int rc = yt_record_decode(&r, &s, tr.data, tr.len, &err);
    CHECK(rc == YT_OK, "video record %d: %s", i, err.msg);
    if (rc != YT_OK || !w) { i++; continue; }
    const char *id = cJSON_GetObjectItem(w, "id")->valuestring;
    CHECK(r.id.n == strlen(id) && !memcmp(r.id.p, id, r.id.n), "record %d id", i);
    CHECK(labels_equal(&r, cJSON_GetObjectItem(w, "labels")), "record %d labels", i);
    double rgb = 0, aud = 0;
    for (int d = 0; d < 1024; d++) rgb += r.video[d];
    for (int d = 1024; d < 1152; d++) aud += r.video[d];
    CHECK(fabs(rgb - cJSON_GetObjectItem(w, "mean_rgb_sum")->valuedouble) < 1e-4, "record %d rgb sum %.9g", i, rgb);
    CHECK(fabs(aud - cJSON_GetObjectItem(w, "mean_audio_sum")->valuedouble) < 1e-4, "record %d audio sum %.9g", i, aud);
    char hex[65];
    sha_floats(r.video, 1024, hex);
    CHECK(!strcmp(hex, cJSON_GetObjectItem(w, "mean_rgb_sha256")->valuestring), "record %d mean_rgb sha256 %s", i, hex);
    CHECK(r.num_frames == 1, "video level num_frames");
    i++;
  }
  CHECK(i == cJSON_GetArraySize(recs), "video_edge: %d records", i);
  yt_record_free(&r);
  yt_tfr_close(rd);
}

static void frame_vectors(const cJSON *spec) {
  yt_schema s;
  yt_err err = {0};
  yt_schema_init(&s, YT_LEVEL_FRAME, NULL, NULL, &err);
  yt_tfr_reader *rd;
  CHECK(yt_tfr_open(&rd, shared_path("testdata/frame_edge.tfrecord"), &err) == YT_OK, "%s", err.msg);
  yt_record r = {0};
  yt_tfr_record tr;
  float *out = malloc(sizeof(float) * 300 * 1152), *rgb = malloc(sizeof(float) * 300 * 1024);
  int i = 0;
  const cJSON *recs = cJSON_GetObjectItem(spec, "records");
  while (yt_tfr_next(rd, &tr, &err) == YT_OK) {
    const cJSON *w = cJSON_GetArrayItem(recs, i);
    int rc = yt_record_decode(&r, &s, tr.data, tr.len, &err);
    CHECK(rc == YT_OK, "frame record %d: %s", i, err.msg);
    if (rc != YT_OK || !w) { i++; continue; }
    const char *id = cJSON_GetObjectItem(w, "id")->valuestring;
    CHECK(r.id.n == strlen(id) && !memcmp(r.id.p, id, r.id.n), "record %d id", i);
    CHECK(labels_equal(&r, cJSON_GetObjectItem(w, "labels")), "record %d labels", i);
    CHECK(r.total_frames == cJSON_GetObjectItem(w, "num_frames")->valueint, "record %d frames %d", i, r.total_frames);
    CHECK(r.num_frames == cJSON_GetObjectItem(w, "num_frames_kept_300")->valueint, "record %d kept %d", i, r.num_frames);
    yt_record_dequantize(&r, &s, out);
    double srgb = 0, saud = 0;
    for (int t = 0; t < r.num_frames; t++) {
      memcpy(rgb + (size_t)t * 1024, out + (size_t)t * 1152, 1024 * sizeof(float));
      for (int d = 0; d < 1024; d++) srgb += out[(size_t)t * 1152 + d];
      for (int d = 1024; d < 1152; d++) saud += out[(size_t)t * 1152 + d];
    }
    CHECK(fabs(srgb - cJSON_GetObjectItem(w, "rgb_dequantized_sum_first300")->valuedouble) < 1e-3, "record %d rgb sum %.9g", i, srgb);
    CHECK(fabs(saud - cJSON_GetObjectItem(w, "audio_dequantized_sum_first300")->valuedouble) < 1e-3, "record %d audio sum %.9g", i, saud);
    char hex[65];
    sha_floats(rgb, (size_t)r.num_frames * 1024, hex);
    CHECK(!strcmp(hex, cJSON_GetObjectItem(w, "rgb_dequantized_sha256_first300")->valuestring), "record %d rgb sha256 %s", i, hex);
    const cJSON *q4 = cJSON_GetObjectItem(w, "rgb_first_frame_first4_quantized");
    for (int k = 0; k < cJSON_GetArraySize(q4) && r.num_frames > 0; k++)
      CHECK(r.rows[0][k] == cJSON_GetArrayItem(q4, k)->valueint, "record %d first frame byte %d", i, k);
    const cJSON *sl = cJSON_GetObjectItem(w, "segment_labels");
    CHECK(r.has_segments == (sl != NULL), "record %d has_segments", i);
    if (sl) {
      const cJSON *st = cJSON_GetObjectItem(w, "segment_start_times"), *sc = cJSON_GetObjectItem(w, "segment_scores");
      CHECK(r.n_seg_labels == (size_t)cJSON_GetArraySize(sl) && r.n_seg_start == (size_t)cJSON_GetArraySize(st) &&
                r.n_seg_scores == (size_t)cJSON_GetArraySize(sc), "record %d segment counts", i);
      for (size_t k = 0; k < r.n_seg_labels && k < (size_t)cJSON_GetArraySize(sl); k++) {
        CHECK(r.seg_labels[k] == cJSON_GetArrayItem(sl, (int)k)->valueint, "segment label %zu", k);
        CHECK(r.seg_start[k] == cJSON_GetArrayItem(st, (int)k)->valueint, "segment start %zu", k);
        CHECK(r.seg_scores[k] == (float)cJSON_GetArrayItem(sc, (int)k)->valuedouble, "segment score %zu", k);
      }
    }
    i++;
  }
  CHECK(i == cJSON_GetArraySize(recs), "frame_edge: %d records", i);
  /* max_frames other than 300 */
  s.max_frames = 5;
  yt_tfr_close(rd);
  yt_tfr_open(&rd, shared_path("testdata/frame_edge.tfrecord"), &err);
  while (yt_tfr_next(rd, &tr, &err) == YT_OK) {
    yt_record_decode(&r, &s, tr.data, tr.len, &err);
    CHECK(r.num_frames == (r.total_frames < 5 ? r.total_frames : 5), "max_frames 5: kept %d of %d", r.num_frames, r.total_frames);
  }
  yt_tfr_close(rd);
  free(out);
  free(rgb);
  yt_record_free(&r);
}

/* ---- the zero-copy walker against protobuf-c ---- */

static int same_feature(const yt_feature *f, const Tensorflow__Feature *p, yt_err *err) {
  size_t n;
  switch (p ? p->kind_case : TENSORFLOW__FEATURE__KIND__NOT_SET) {
  case TENSORFLOW__FEATURE__KIND_FLOAT_LIST: {
    if (f->kind != YT_KIND_FLOAT) return 0;
    float *v = malloc(sizeof(float) * (p->float_list->n_value + 1));
    yt_feature_floats(f, v, p->float_list->n_value, &n, err);
    int ok = n == p->float_list->n_value && (n == 0 || !memcmp(v, p->float_list->value, n * sizeof(float)));
    free(v);
    return ok;
  }
  case TENSORFLOW__FEATURE__KIND_INT64_LIST: {
    if (f->kind != YT_KIND_INT64) return 0;
    int64_t *v = malloc(sizeof(int64_t) * (p->int64_list->n_value + 1));
    yt_feature_int64s(f, v, p->int64_list->n_value, &n, err);
    int ok = n == p->int64_list->n_value && (n == 0 || !memcmp(v, p->int64_list->value, n * sizeof(int64_t)));
    free(v);
    return ok;
  }
  case TENSORFLOW__FEATURE__KIND_BYTES_LIST: {
    if (f->kind != YT_KIND_BYTES) return 0;
    for (size_t i = 0; i < p->bytes_list->n_value; i++) {
      yt_bytes b;
      if (yt_feature_bytes(f, i, &b, &n, err) < 0 || n != p->bytes_list->n_value) return 0;
      if (b.n != p->bytes_list->value[i].len || memcmp(b.p, p->bytes_list->value[i].data, b.n)) return 0;
    }
    yt_feature_bytes(f, 0, &(yt_bytes){0}, &n, err);
    return n == p->bytes_list->n_value;
  }
  default:
    return f->kind == YT_KIND_NONE;
  }
}

static int key_eq(yt_bytes k, const char *s) { return k.n == strlen(s) && !memcmp(k.p, s, k.n); }

static void against_protobuf_c(const char *path, int expect_records) {
  yt_err err = {0};
  yt_tfr_reader *rd;
  if (yt_tfr_open(&rd, path, &err) < 0) { CHECK(0, "%s", err.msg); return; }
  yt_example ex = {0};
  yt_tfr_record tr;
  int n = 0;
  while (yt_tfr_next(rd, &tr, &err) == YT_OK) {
    Tensorflow__SequenceExample *se = tensorflow__sequence_example__unpack(NULL, tr.len, tr.data);
    int rc = yt_example_parse(&ex, tr.data, tr.len, &err);
    if (!se) { /* protobuf-c rejects it: so must we */
      CHECK(rc == YT_ECORRUPT, "%s record %d: protobuf-c rejects it, walker says %d", path, n, rc);
      n++;
      continue;
    }
    CHECK(rc == YT_OK, "%s record %d: %s", path, n, err.msg);
    size_t nctx = se->context ? se->context->n_feature : 0;
    CHECK(ex.n_ctx == nctx, "%s record %d: %zu context features vs %zu", path, n, ex.n_ctx, nctx);
    for (size_t i = 0; i < nctx && i < ex.n_ctx; i++) {
      const Tensorflow__FeatureEntry *e = se->context->feature[i];
      CHECK(key_eq(ex.ctx[i].key, e->key), "%s record %d key %zu", path, n, i);
      CHECK(same_feature(&ex.ctx[i], e->value, &err), "%s record %d feature '%s' differs", path, n, e->key);
    }
    size_t nl = se->feature_lists ? se->feature_lists->n_feature_list : 0;
    CHECK(ex.n_lists == nl, "%s record %d: %zu lists vs %zu", path, n, ex.n_lists, nl);
    for (size_t i = 0; i < nl && i < ex.n_lists; i++) {
      const Tensorflow__FeatureListEntry *e = se->feature_lists->feature_list[i];
      size_t nf = e->value ? e->value->n_feature : 0;
      CHECK(key_eq(ex.lists[i].key, e->key) && ex.lists[i].count == nf, "%s record %d list '%s'", path, n, e->key);
      for (size_t t = 0; t < nf && t < ex.lists[i].count; t++)
        CHECK(same_feature(&ex.frames[ex.lists[i].first + t], e->value->feature[t], &err), "%s record %d list '%s' frame %zu", path, n, e->key, t);
    }
    tensorflow__sequence_example__free_unpacked(se, NULL);
    n++;
  }
  CHECK(n == expect_records, "%s: %d records compared, expected %d", path, n, expect_records);
  yt_example_free(&ex);
  yt_tfr_close(rd);
}

/* ---- rule errors ---- */

static size_t pack_video(uint8_t *buf, const char *id, int64_t *labels, size_t nl, size_t rgb_n, int with_audio) {
  static float zeros[2048];
  Tensorflow__BytesList bl = TENSORFLOW__BYTES_LIST__INIT;
  ProtobufCBinaryData idv = {id ? strlen(id) : 0, (uint8_t *)id};
  bl.n_value = 1; bl.value = &idv;
  Tensorflow__Int64List il = TENSORFLOW__INT64_LIST__INIT;
  il.n_value = nl; il.value = labels;
  Tensorflow__FloatList rl = TENSORFLOW__FLOAT_LIST__INIT, al = TENSORFLOW__FLOAT_LIST__INIT;
  rl.n_value = rgb_n; rl.value = zeros;
  al.n_value = 128; al.value = zeros;
  Tensorflow__Feature f[4] = {TENSORFLOW__FEATURE__INIT, TENSORFLOW__FEATURE__INIT, TENSORFLOW__FEATURE__INIT, TENSORFLOW__FEATURE__INIT};
  f[0].kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST; f[0].bytes_list = &bl;
  f[1].kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST; f[1].int64_list = &il;
  f[2].kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST; f[2].float_list = &rl;
  f[3].kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST; f[3].float_list = &al;
  const char *keys[4] = {"id", "labels", "mean_rgb", "mean_audio"};
  Tensorflow__FeatureEntry e[4], *ep[4];
  size_t ne = 0;
  for (int i = 0; i < 4; i++) {
    if ((i == 0 && !id) || (i == 3 && !with_audio)) continue;
    e[ne] = (Tensorflow__FeatureEntry)TENSORFLOW__FEATURE_ENTRY__INIT;
    e[ne].key = (char *)keys[i];
    e[ne].value = &f[i];
    ep[ne] = &e[ne];
    ne++;
  }
  Tensorflow__Features fs = TENSORFLOW__FEATURES__INIT;
  fs.n_feature = ne; fs.feature = ep;
  Tensorflow__Example ex = TENSORFLOW__EXAMPLE__INIT;
  ex.features = &fs;
  return tensorflow__example__pack(&ex, buf);
}

static void rule_errors(void) {
  static uint8_t buf[16384];
  yt_schema s;
  yt_err err = {0};
  yt_schema_init(&s, YT_LEVEL_VIDEO, NULL, NULL, &err);
  yt_record r = {0};
  int64_t ok_labels[] = {0, 3861}, bad_labels[] = {5, 3862}, neg[] = {-1};
  size_t n = pack_video(buf, "abcd", ok_labels, 2, 1024, 1);
  CHECK(yt_record_decode(&r, &s, buf, n, &err) == YT_OK, "valid record: %s", err.msg);
  n = pack_video(buf, "abcd", ok_labels, 2, 1000, 1);
  CHECK(yt_record_decode(&r, &s, buf, n, &err) == YT_EINVAL, "wrong size accepted");
  CHECK_CONTAINS(err.msg, "'mean_rgb' has 1000 values, expected 1024");
  n = pack_video(buf, "abcd", bad_labels, 2, 1024, 1);
  CHECK(yt_record_decode(&r, &s, buf, n, &err) == YT_EINVAL, "label 3862 accepted");
  CHECK_CONTAINS(err.msg, "'labels' value 3862 is outside [0, 3862)");
  n = pack_video(buf, "abcd", neg, 1, 1024, 1);
  CHECK(yt_record_decode(&r, &s, buf, n, &err) == YT_EINVAL, "label -1 accepted");
  n = pack_video(buf, NULL, ok_labels, 2, 1024, 1);
  CHECK(yt_record_decode(&r, &s, buf, n, &err) == YT_EINVAL, "missing id accepted");
  CHECK_CONTAINS(err.msg, "no 'id'");
  CHECK_CONTAINS(err.msg, "'mean_rgb'"); /* lists the keys present */
  n = pack_video(buf, "abcd", ok_labels, 2, 1024, 0);
  CHECK(yt_record_decode(&r, &s, buf, n, &err) == YT_EINVAL, "missing mean_audio accepted");
  CHECK_CONTAINS(err.msg, "'mean_audio' is required");
  /* a video-level record read as frame level: the lists are missing */
  yt_schema fs;
  yt_schema_init(&fs, YT_LEVEL_FRAME, NULL, NULL, &err);
  n = pack_video(buf, "abcd", ok_labels, 2, 1024, 1);
  CHECK(yt_record_decode(&r, &fs, buf, n, &err) == YT_EINVAL, "frame schema on a video record");
  CHECK_CONTAINS(err.msg, "feature list 'rgb' is required");
  /* frame bytes of the wrong size: frame_edge read with rgb declared as 1000 */
  yt_schema_init(&fs, YT_LEVEL_FRAME, "rgb,audio", "1000,128", &err);
  yt_tfr_reader *rd;
  yt_tfr_open(&rd, shared_path("testdata/frame_edge.tfrecord"), &err);
  yt_tfr_record tr;
  yt_tfr_next(rd, &tr, &err);
  CHECK(yt_record_decode(&r, &fs, tr.data, tr.len, &err) == YT_EINVAL, "wrong frame size accepted");
  CHECK_CONTAINS(err.msg, "'rgb' frame 0 has 1024 bytes, expected 1000");
  yt_tfr_close(rd);
  /* schema flags */
  CHECK(yt_schema_init(&fs, YT_LEVEL_FRAME, "rgb,audio", "1024", &err) == YT_EUSAGE, "names/sizes mismatch");
  CHECK_CONTAINS(err.msg, "pair up");
  CHECK(yt_schema_init(&fs, YT_LEVEL_FRAME, "rgb", "abc", &err) == YT_EUSAGE, "bad size");
  /* bad_protobuf.tfrecord: record 1 is malformed, record 0 fine */
  yt_tfr_open(&rd, shared_path("testdata/bad_protobuf.tfrecord"), &err);
  yt_tfr_next(rd, &tr, &err);
  CHECK(yt_record_decode(&r, &s, tr.data, tr.len, &err) == YT_OK, "bad_protobuf record 0: %s", err.msg);
  yt_tfr_next(rd, &tr, &err);
  CHECK(yt_record_decode(&r, &s, tr.data, tr.len, &err) == YT_ECORRUPT, "bad_protobuf record 1 accepted");
  CHECK_CONTAINS(err.msg, "malformed protobuf");
  yt_tfr_close(rd);
  /* every truncation of a valid record fails cleanly or parses, never crashes */
  n = pack_video(buf, "abcd", ok_labels, 2, 1024, 1);
  for (size_t cut = 0; cut < n; cut += 7) yt_record_decode(&r, &s, buf, cut, &err);
  yt_record_free(&r);
}

static void dequantize(void) {
  const float *t = yt_dequantize_table();
  static const struct { int q; uint32_t bits; } v[] = {
      {0, 0xbfff0000u}, {1, 0xbffcfdfeu}, {127, 0xb8000000u}, {128, 0x3c804080u}, {255, 0x40008000u}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint32_t b;
    memcpy(&b, &t[v[i].q], 4);
    CHECK(b == v[i].bits, "table[%d] = 0x%08x, expected 0x%08x", v[i].q, b, v[i].bits);
  }
  uint8_t q[256 + 64];
  float a[256 + 64], b[256 + 64];
  for (int i = 0; i < 256 + 64; i++) q[i] = (uint8_t)(i * 37);
  for (size_t off = 0; off < 33; off++)
    for (size_t n = 0; n <= 256; n += (n < 70 ? 1 : 31)) {
      yt_dequantize(a, q + off, n);
      yt_dequantize_portable(b, q + off, n);
      int same = !memcmp(a, b, n * sizeof(float));
      for (size_t i = 0; i < n; i++) same &= !memcmp(&a[i], &t[q[off + i]], 4);
      CHECK(same, "SIMD/scalar/table differ at off %zu n %zu", off, n);
    }
  /* the streaming-store variant: every output alignment (float and byte
   * offsets into c, 32-byte aligned), every input offset, the same values */
  static float c[256 + 64] __attribute__((aligned(64)));
  for (size_t oo = 0; oo < 9; oo++)
    for (size_t off = 0; off < 33; off += 3)
      for (size_t n = 0; n <= 256; n += (n < 70 ? 1 : 31)) {
        float *dst = c + oo;
        memset(c, 0xAB, sizeof c);
        yt_dequantize_nt(dst, q + off, n);
        int same = 1;
        for (size_t i = 0; i < n; i++) same &= !memcmp(&dst[i], &t[q[off + i]], 4);
        for (size_t i = oo + n; i < sizeof c / sizeof *c; i++) same &= ((const uint8_t *)&c[i])[0] == 0xAB;
        CHECK(same, "streaming dequantize differs from the table (or writes past n) at out +%zu, off %zu n %zu", oo,
              off, n);
      }
}


/* ---- yt_example_add_floats: the distillation set's record edit ---- */

/* rec plus teacher_predictions: protobuf-c reads it; every original feature
 * and list is still there, byte for byte, in order; the new key is last. */
static void add_floats_case(const uint8_t *rec, size_t len, const char *what, int n) {
  yt_err err = {0};
  float v[7] = {0.5f, 1e-7f, 1.0f, 0.0f, 0.25f, 3.0f, -2.5f};
  uint8_t *out;
  size_t out_len;
  int rc = yt_example_add_floats(rec, len, "teacher_predictions", v, 7, &out, &out_len, &err);
  CHECK(rc == YT_OK, "%s %d: %s", what, n, err.msg);
  if (rc) return;
  yt_example a = {0}, b = {0};
  CHECK(yt_example_parse(&a, rec, len, &err) == YT_OK && yt_example_parse(&b, out, out_len, &err) == YT_OK,
        "%s %d: parse: %s", what, n, err.msg);
  CHECK(b.n_ctx == a.n_ctx + 1 && b.n_lists == a.n_lists && b.n_frames == a.n_frames, "%s %d: %zu/%zu features",
        what, n, b.n_ctx, a.n_ctx);
  for (size_t i = 0; i < a.n_ctx && i < b.n_ctx; i++)
    CHECK(a.ctx[i].key.n == b.ctx[i].key.n && !memcmp(a.ctx[i].key.p, b.ctx[i].key.p, a.ctx[i].key.n) &&
              a.ctx[i].body.n == b.ctx[i].body.n && !memcmp(a.ctx[i].body.p, b.ctx[i].body.p, a.ctx[i].body.n),
          "%s %d: context feature %zu changed", what, n, i);
  for (size_t i = 0; i < a.n_frames && i < b.n_frames; i++)
    CHECK(a.frames[i].body.n == b.frames[i].body.n && !memcmp(a.frames[i].body.p, b.frames[i].body.p, a.frames[i].body.n),
          "%s %d: frame feature %zu changed", what, n, i);
  const yt_feature *t = yt_example_find(&b, "teacher_predictions");
  float got[8];
  size_t m = 0;
  CHECK(t && yt_feature_floats(t, got, 8, &m, &err) == YT_OK && m == 7 && !memcmp(got, v, sizeof v),
        "%s %d: teacher_predictions read back (%zu values)", what, n, m);
  Tensorflow__SequenceExample *se = tensorflow__sequence_example__unpack(NULL, out_len, out);
  CHECK(se && se->context && se->context->n_feature == a.n_ctx + 1, "%s %d: protobuf-c reads the edited record",
        what, n);
  if (se && se->context && se->context->n_feature) {
    const Tensorflow__FeatureEntry *e = se->context->feature[se->context->n_feature - 1];
    CHECK(!strcmp(e->key, "teacher_predictions") && e->value->float_list && e->value->float_list->n_value == 7 &&
              e->value->float_list->value[5] == 3.0f,
          "%s %d: protobuf-c sees teacher_predictions last", what, n);
  }
  if (se) tensorflow__sequence_example__free_unpacked(se, NULL);
  yt_example_free(&a), yt_example_free(&b);
  free(out);
}

static void add_floats(void) {
  const char *files[] = {"testdata/video_edge.tfrecord", "testdata/frame_edge.tfrecord", "data/validate0000.tfrecord"};
  yt_err err = {0};
  for (int f = 0; f < 3; f++) {
    yt_tfr_reader *rd;
    if (yt_tfr_open(&rd, shared_path(files[f]), &err) < 0) { CHECK(0, "%s", err.msg); continue; }
    yt_tfr_record tr;
    for (int n = 0; yt_tfr_next(rd, &tr, &err) == YT_OK && n < 40; n++) add_floats_case(tr.data, tr.len, files[f], n);
    yt_tfr_close(rd);
  }
  /* no Features at all (only feature_lists: field 2, empty); and an empty record */
  const uint8_t lists_only[] = {0x12, 0x00};
  add_floats_case(lists_only, sizeof lists_only, "lists only", 0);
  add_floats_case(lists_only, 0, "empty record", 0);
  /* two Features fields (protobuf merges them): merged into one, both entries kept */
  const uint8_t two[] = {0x0a, 0x0b, 0x0a, 0x09, 0x0a, 0x01, 'a', 0x12, 0x04, 0x1a, 0x02, 0x08, 0x05,
                         0x0a, 0x0b, 0x0a, 0x09, 0x0a, 0x01, 'b', 0x12, 0x04, 0x1a, 0x02, 0x08, 0x06};
  add_floats_case(two, sizeof two, "two Features fields", 0);
  /* malformed: a length past the end */
  const uint8_t bad[] = {0x0a, 0x7f, 0x00};
  uint8_t *out = NULL;
  size_t out_len;
  float v = 1;
  int rc = yt_example_add_floats(bad, sizeof bad, "k", &v, 1, &out, &out_len, &err);
  CHECK(rc == YT_ECORRUPT && strstr(err.msg, YT_EX_MALFORMED) && !out, "malformed record: %d %s", rc, err.msg);
}

int main(void) {
  char *js = check_slurp(shared_path("testdata/expected.json"), NULL);
  cJSON *spec = js ? cJSON_Parse(js) : NULL;
  CHECK(spec != NULL, "expected.json");
  if (spec) {
    video_vectors(cJSON_GetObjectItem(spec, "video_edge.tfrecord"));
    frame_vectors(cJSON_GetObjectItem(spec, "frame_edge.tfrecord"));
  }
  against_protobuf_c(shared_path("testdata/video_edge.tfrecord"), 12);
  against_protobuf_c(shared_path("testdata/frame_edge.tfrecord"), 8);
  against_protobuf_c(shared_path("testdata/bad_protobuf.tfrecord"), 2);
  against_protobuf_c(shared_path("data/validate0000.tfrecord"), 284);
  rule_errors();
  dequantize();
  add_floats();
  cJSON_Delete(spec);
  free(js);
  return check_report("test_example");
}
