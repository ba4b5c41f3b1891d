/* test_formats: checkpoint, bundle and TensorBoard file formats (nodes/formats):
 * safetensors (round trip, exact header, every rejection rule), tfevents (REFERENCE 5.5 test
 * vectors byte for byte, the live writer), tgz (round trip, system tar/gzip both ways, inflate
 * of real `tar czf` files, corruption, truncation, path traversal) and model_flags.json
 * (Python's exact text, lenient reading, the mismatch check).
 *
 * `test_formats --write-events DIR` only writes a known event file into DIR and prints its
 * path (test_tfevents_py.sh reads it back with Python's protobuf). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "formats/model_flags.h"
#include "formats/safetensors.h"
#include "formats/tfevents.h"
#include "formats/tfrecord.h"
#include "formats/tgz.h"

static char tmpdir[256];

static const char *tmp(const char *name) {
  static char buf[64][512]; /* a ring: enough for the calls a test keeps at once */
  static int k;
  char *b = buf[k++ % 64];
  snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
  return b;
}

static bool exists(const char *p) {
  return access(p, F_OK) == 0;
}

static int write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t k = fwrite(data, 1, n, f);
  fclose(f);
  return k == n ? 0 : -1;
}

static size_t unhex(const char *hex, uint8_t *out) {
  size_t n = 0;
  for (const char *p = hex; *p;) {
    if (*p == ' ') {
      p++;
      continue;
    }
    unsigned v;
    sscanf(p, "%2x", &v);
    out[n++] = (uint8_t)v;
    p += 2;
  }
  return n;
}

static bool have(const char *prog) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
  return system(cmd) == 0;
}

/* ================================================================== safetensors */

/* A safetensors file from a header text (padded to 8 with spaces) and buflen zero bytes. */
static uint8_t *st_bytes(const char *header, size_t buflen, size_t *len) {
  size_t h = strlen(header), hp = (h + 7) / 8 * 8;
  *len = 8 + hp + buflen;
  uint8_t *b = calloc(1, *len);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hp >> (8 * i));
  memcpy(b + 8, header, h);
  memset(b + 8 + h, ' ', hp - h);
  return b;
}

static void test_safetensors_roundtrip(void) {
  float b[6] = {1, 2, 3, 4, 5, 6}, c = 42.5f;
  int64_t a[2] = {-7, 1LL << 40};
  uint8_t z[5] = {1, 2, 3, 4, 255};
  uint16_t h[3] = {0x3c00, 0x4000, 0xc000};
  int64_t sb[2] = {2, 3}, sa[1] = {2}, sz[1] = {5}, se[2] = {0, 4}, sh[1] = {3};
  yt_err err = {0};
  yt_st_writer *w = yt_st_writer_new();
  CHECK(yt_st_writer_add(w, "b", YT_ST_F32, 2, sb, b, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_add(w, "z", YT_ST_U8, 1, sz, z, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_add(w, "a", YT_ST_I64, 1, sa, a, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_add(w, "c", YT_ST_F32, 0, NULL, &c, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_add(w, "empty", YT_ST_F32, 2, se, NULL, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_add(w, "h", YT_ST_F16, 1, sh, h, &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_meta(w, "model", "LogisticModel", &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_meta(w, "step", "1", &err) == 0, "%s", err.msg);
  CHECK(yt_st_writer_meta(w, "step", "100", &err) == 0, "replacing a metadata value: %s", err.msg);
  /* rejected additions */
  CHECK(yt_st_writer_add(w, "b", YT_ST_F32, 2, sb, b, &err) == YT_EINVAL, "duplicate accepted");
  CHECK_CONTAINS(err.msg, "'b' added twice");
  CHECK(yt_st_writer_add(w, "__metadata__", YT_ST_F32, 0, NULL, &c, &err) == YT_EINVAL,
        "reserved name accepted");
  int64_t neg[1] = {-1};
  CHECK(yt_st_writer_add(w, "neg", YT_ST_F32, 1, neg, b, &err) == YT_EINVAL, "negative dim accepted");
  CHECK_CONTAINS(err.msg, "'neg'");
  int64_t big[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK(yt_st_writer_add(w, "r9", YT_ST_F32, 9, big, b, &err) == YT_EINVAL, "rank 9 accepted");
  CHECK(yt_st_writer_add(w, "", YT_ST_F32, 0, NULL, &c, &err) == YT_EINVAL, "empty name accepted");

  const char *path = tmp("model.safetensors");
  CHECK(yt_st_writer_write(w, path, &err) == 0, "%s", err.msg);
  CHECK(!exists(tmp("model.safetensors.tmp")), "the temporary file is left behind");
  CHECK(yt_st_writer_write(w, "/nonexistent-dir/x.safetensors", &err) == YT_EIO, "write into a missing dir");
  CHECK_CONTAINS(err.msg, "/nonexistent-dir/x.safetensors.tmp");
  yt_st_writer_free(w);

  size_t len;
  char *raw = check_slurp(path, &len);
  CHECK(raw != NULL, "cannot read %s back", path);
  if (!raw) return;
  uint64_t N;
  memcpy(&N, raw, 8);
  CHECK(N % 8 == 0 && raw[8] == '{', "header size %llu not a multiple of 8 or no '{'", (unsigned long long)N);
  CHECK(len == 8 + N + 16 + 24 + 4 + 0 + 6 + 5, "file size %zu", len);
  CHECK(raw[8 + N - 1] == ' ' || raw[8 + N - 1] == '}', "header padding");
  free(raw);

  yt_st_file *f;
  CHECK(yt_st_open(&f, path, &err) == 0, "%s", err.msg);
  if (!f) return;
  CHECK(yt_st_count(f) == 6, "%zu tensors", yt_st_count(f));
  /* buffer order: dtype size (largest first), then name */
  const char *order[6] = {"a", "b", "c", "empty", "h", "z"};
  size_t off[6] = {0, 16, 40, 44, 44, 50};
  for (size_t i = 0; i < 6 && i < yt_st_count(f); i++) {
    const yt_st_tensor *t = yt_st_at(f, i);
    CHECK(strcmp(t->name, order[i]) == 0, "tensor %zu is '%s', expected '%s'", i, t->name, order[i]);
    CHECK(t->offset == off[i], "'%s' at %zu, expected %zu", t->name, t->offset, off[i]);
    CHECK((uintptr_t)t->data % yt_st_dtype_size(t->dtype) == 0, "'%s' is misaligned", t->name);
  }
  const yt_st_tensor *t = yt_st_find(f, "b");
  CHECK(t && t->dtype == YT_ST_F32 && t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
            t->nbytes == 24 && memcmp(t->data, b, 24) == 0,
        "tensor b");
  t = yt_st_find(f, "a");
  CHECK(t && t->dtype == YT_ST_I64 && memcmp(t->data, a, 16) == 0, "tensor a");
  t = yt_st_find(f, "c");
  CHECK(t && t->rank == 0 && t->nbytes == 4 && *(const float *)t->data == 42.5f, "rank-0 tensor c");
  t = yt_st_find(f, "empty");
  CHECK(t && t->rank == 2 && t->shape[0] == 0 && t->nbytes == 0, "empty tensor");
  t = yt_st_find(f, "z");
  CHECK(t && t->dtype == YT_ST_U8 && memcmp(t->data, z, 5) == 0, "tensor z");
  CHECK(yt_st_find(f, "nope") == NULL, "found a missing tensor");
  CHECK(yt_st_meta_count(f) == 2, "metadata count %zu", yt_st_meta_count(f));
  CHECK(yt_st_meta(f, "model") && strcmp(yt_st_meta(f, "model"), "LogisticModel") == 0, "metadata model");
  CHECK(yt_st_meta(f, "step") && strcmp(yt_st_meta(f, "step"), "100") == 0, "metadata step");
  CHECK(yt_st_meta(f, "nope") == NULL, "missing metadata found");
  const void *d;
  CHECK(yt_st_expect(f, "b", YT_ST_F32, 2, sb, &d, &err) == 0 && d == yt_st_find(f, "b")->data, "%s",
        err.msg);
  int64_t wrong[2] = {3, 2};
  CHECK(yt_st_expect(f, "b", YT_ST_F32, 2, wrong, &d, &err) == YT_EINVAL, "shape mismatch accepted");
  CHECK_CONTAINS(err.msg, "tensor 'b' is F32 [2, 3], expected F32 [3, 2]");
  CHECK(yt_st_expect(f, "zz", YT_ST_F32, 0, NULL, &d, &err) == YT_EINVAL, "missing tensor accepted");
  CHECK_CONTAINS(err.msg, "no tensor 'zz'");
  yt_st_close(f);

  /* truncated file: cut in the middle of the buffer */
  CHECK(truncate(path, (off_t)(len - 10)) == 0, "truncate");
  CHECK(yt_st_open(&f, path, &err) == YT_ECORRUPT, "a truncated file was accepted");
  CHECK_CONTAINS(err.msg, path);
  CHECK_CONTAINS(err.msg, "truncated");
  CHECK(yt_st_open(&f, tmp("missing.safetensors"), &err) == YT_EIO, "a missing file");
  CHECK_CONTAINS(err.msg, "missing.safetensors: cannot open");
}

static void test_safetensors_exact_header(void) {
  float v[2] = {1, 2};
  int64_t s[1] = {2};
  yt_err err = {0};
  yt_st_writer *w = yt_st_writer_new();
  yt_st_writer_add(w, "w\"q", YT_ST_F32, 1, s, v, &err);
  yt_st_writer_meta(w, "k", "v", &err);
  const char *path = tmp("exact.safetensors");
  CHECK(yt_st_writer_write(w, path, &err) == 0, "%s", err.msg);
  yt_st_writer_free(w);
  const char *want = "{\"__metadata__\":{\"k\":\"v\"},\"w\\\"q\":{\"dtype\":\"F32\",\"shape\":[2],"
                     "\"data_offsets\":[0,8]}}";
  size_t len, wl = strlen(want), padded = (wl + 7) / 8 * 8;
  char *raw = check_slurp(path, &len);
  CHECK(raw && len == 8 + padded + 8, "length %zu", len);
  if (raw && len == 8 + padded + 8) {
    CHECK(memcmp(raw + 8, want, wl) == 0, "header '%.*s'", (int)wl, raw + 8);
    for (size_t i = wl; i < padded; i++) CHECK(raw[8 + i] == ' ', "padding byte %zu", i);
    CHECK(memcmp(raw + 8 + padded, v, 8) == 0, "data");
  }
  free(raw);
}

/* Invalid files: each must be rejected with a message holding these strings. */
static void test_safetensors_invalid(void) {
  static const struct {
    const char *what, *header;
    size_t buflen;
    const char *msg1, *msg2;
  } bad[] = {
      {"a hole between tensors",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
       12, "'b': hole in the buffer: bytes [4, 8)", NULL},
      {"a hole at the start", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4,
       "'a': hole", NULL},
      {"overlapping tensors",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       8, "overlap", "'a'"},
      {"a duplicate name",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       8, "tensor 'a' appears twice", NULL},
      {"a duplicate name at the same offsets",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       4, "tensor 'a' appears twice", NULL},
      {"bytes no tensor covers", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
       "4 trailing bytes belong to no tensor", NULL},
      {"offsets past the buffer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
       "'a': data_offsets end at 8, past the 4-byte buffer", NULL},
      {"shape vs byte length", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
       "'a': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8", NULL},
      {"an unknown dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
       "'a': unknown dtype \"F33\"", NULL},
      {"a negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
       "'a': shape[0] is not a non-negative integer", NULL},
      {"a fractional dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
       "shape[0]", NULL},
      {"end before begin", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
       "end before they begin", NULL},
      {"three offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,4]}}", 4,
       "\"data_offsets\" must be [BEGIN, END]", NULL},
      {"no dtype", "{\"a\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "'a': \"dtype\" is missing", NULL},
      {"an entry that is not an object", "{\"a\":[1,2]}", 0, "'a': entry is an array", NULL},
      {"non-string metadata", "{\"__metadata__\":{\"step\":100}}", 0, "__metadata__ \"step\" is a number",
       NULL},
      {"metadata not an object", "{\"__metadata__\":\"x\"}", 0, "\"__metadata__\" is a string", NULL},
      {"a header not starting with '{'", "[{\"a\":1}]", 0, "does not start with '{'", NULL},
      {"invalid JSON", "{\"a\":{\"dtype\":", 0, "not valid JSON", NULL},
      {"trailing bytes after the JSON", "{} x", 0, "trailing bytes after the header's JSON", NULL},
  };
  yt_err err;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t len;
    uint8_t *b = st_bytes(bad[i].header, bad[i].buflen, &len);
    yt_st_file *f = NULL;
    memset(&err, 0, sizeof err);
    int rc = yt_st_open_mem(&f, b, len, "bad.safetensors", &err);
    CHECK(rc < 0 && f == NULL, "%s: accepted", bad[i].what);
    CHECK_CONTAINS(err.msg, "bad.safetensors: ");
    CHECK_CONTAINS(err.msg, bad[i].msg1);
    if (bad[i].msg2) CHECK_CONTAINS(err.msg, bad[i].msg2);
    yt_st_close(f);
    free(b);
  }
  /* valid edge cases */
  static const struct {
    const char *header;
    size_t buflen, n;
  } good[] = {
      {"{}", 0, 0},
      {"{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, 1},
      {"{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
       "\"x\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]},\"__metadata__\":{}}",
       2, 2},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    size_t len;
    uint8_t *b = st_bytes(good[i].header, good[i].buflen, &len);
    yt_st_file *f = NULL;
    CHECK(yt_st_open_mem(&f, b, len, "good.safetensors", &err) == 0, "good[%zu]: %s", i, err.msg);
    if (f) CHECK(yt_st_count(f) == good[i].n, "good[%zu]: %zu tensors", i, yt_st_count(f));
    yt_st_close(f);
    free(b);
  }
  /* raw framing errors */
  uint8_t raw[32] = {0};
  yt_st_file *f = NULL;
  CHECK(yt_st_open_mem(&f, raw, 5, "short.st", &err) == YT_ECORRUPT, "5 bytes accepted");
  CHECK_CONTAINS(err.msg, "too short");
  uint64_t huge = 200000000;
  memcpy(raw, &huge, 8);
  CHECK(yt_st_open_mem(&f, raw, 32, "huge.st", &err) == YT_ECORRUPT, "a 200 MB header accepted");
  CHECK_CONTAINS(err.msg, "exceeds the 100000000-byte limit");
  uint64_t past = 100;
  memcpy(raw, &past, 8);
  raw[8] = '{';
  CHECK(yt_st_open_mem(&f, raw, 32, "past.st", &err) == YT_ECORRUPT, "a header past the end accepted");
  CHECK_CONTAINS(err.msg, "runs past the end of the file");
  uint64_t zero = 0;
  memcpy(raw, &zero, 8);
  CHECK(yt_st_open_mem(&f, raw, 8, "empty.st", &err) == YT_ECORRUPT, "an empty header accepted");
  size_t l2;
  uint8_t *b2 = st_bytes("{\"\xff\":{}}", 0, &l2);
  CHECK(yt_st_open_mem(&f, b2, l2, "utf8.st", &err) == YT_ECORRUPT, "invalid UTF-8 accepted");
  CHECK_CONTAINS(err.msg, "UTF-8");
  free(b2);
}

/* ================================================================== tfevents */

static const char *VEC1 =
    "1800000000000000 a37f4b22 0900000040fc54d941 1a0d627261696e2e4576656e743a32 eced8f9d";
static const char *VEC2 =
    "2000000000000000 29eda950 0900004040fc54d941 1064 2a13 0a11 0a0a747261696e2f6c6f7373 "
    "150000003f 7e6098ef";

static void test_tfevents_vectors(void) {
  uint8_t want[128], got[128];
  size_t n1 = unhex(VEC1, want);
  yt_tfevent e1 = {.wall_time = 1700000000.0, .file_version = "brain.Event:2"};
  size_t k = yt_tfevents_encode(&e1, got, sizeof got);
  CHECK(n1 == 40 && k == 40 && memcmp(got, want, 40) == 0, "vector 1: %zu bytes", k);
  CHECK(yt_tfevents_encode(&e1, NULL, 0) == 40, "measuring");
  CHECK(yt_tfevents_encode(&e1, got, 39) == 40, "too small a buffer");
  size_t n2 = unhex(VEC2, want);
  const char *tag = "train/loss";
  float v = 0.5f;
  yt_tfevent e2 = {.wall_time = 1700000001.0, .step = 100, .n = 1, .tags = &tag, .values = &v};
  k = yt_tfevents_encode(&e2, got, sizeof got);
  CHECK(n2 == 48 && k == 48 && memcmp(got, want, 48) == 0, "vector 2: %zu bytes", k);
  /* proto3: step 0 omitted; a value of 0 still carries simple_value (oneof); negative steps
   * are 10-byte varints */
  float zero = 0;
  yt_tfevent e3 = {.wall_time = 1.0, .n = 1, .tags = &tag, .values = &zero};
  k = yt_tfevents_encode(&e3, got, sizeof got);
  CHECK(k == 16 + 9 + 2 + 2 + 12 + 5, "step 0 / value 0: %zu bytes", k);
  CHECK(got[12 + 9] == 0x2a, "no step field expected, got 0x%02x", got[12 + 9]);
  CHECK(got[k - 4 - 5] == 0x15, "simple_value written for 0");
  yt_tfevent e4 = {.wall_time = 1.0, .step = -1};
  CHECK(yt_tfevents_encode(&e4, got, sizeof got) == 16 + 9 + 11, "negative step");
  CHECK(got[12 + 9] == 0x10 && got[12 + 19] == 0x01, "negative step varint");
}

static const char *EV_TAGS3[3] = {"model/Training_Hit@1", "model/Training_GAP", "learning_rate"};
static const float EV_VALS3[3] = {0.25f, 0.125f, 0.01f};

/* The file test_tfevents_py.sh checks (keep the two in step). */
static int write_events(const char *dir, char *path_out, size_t cap) {
  yt_err err = {0};
  yt_tfevents *w;
  int rc = yt_tfevents_open(&w, dir, 1700000000.0, &err);
  if (rc == 0) rc = yt_tfevents_scalar(w, 100, "train/loss", 0.5f, 1700000001.0, &err);
  if (rc == 0) rc = yt_tfevents_scalars(w, 200, 3, EV_TAGS3, EV_VALS3, 1700000002.5, &err);
  if (rc == 0) rc = yt_tfevents_scalar(w, 0, "zero/value", 0.0f, 1700000003.0, &err);
  if (rc == 0) rc = yt_tfevents_scalar(w, 1099511627776LL, "big/step", -3.5f, 1700000004.25, &err);
  if (rc == 0) rc = yt_tfevents_scalar(w, 2, "unicode/\xc3\xa9", 1e-3f, 1700000005.0, &err);
  if (rc == 0) snprintf(path_out, cap, "%s", yt_tfevents_path(w));
  if (rc == 0) rc = yt_tfevents_close(w, &err);
  if (rc) fprintf(stderr, "write_events: %s\n", err.msg);
  return rc;
}

static void test_tfevents_writer(void) {
  char dir[512], path[1024], host[256] = "";
  snprintf(dir, sizeof dir, "%s/run/train", tmpdir);
  CHECK(write_events(dir, path, sizeof path) == 0, "writing events");
  gethostname(host, sizeof host);
  char want[1024];
  snprintf(want, sizeof want, "%s/events.out.tfevents.1700000000.%s", dir, host);
  CHECK(strcmp(path, want) == 0, "file name '%s', expected '%s'", path, want);
  /* read back through the TFRecord reader: CRCs verified; the first two records are the vectors */
  yt_err err = {0};
  yt_tfr_reader *r;
  CHECK(yt_tfr_open(&r, path, &err) == 0, "%s", err.msg);
  if (!r) return;
  yt_tfr_record rec;
  uint8_t v[128];
  int n = 0;
  while (yt_tfr_next(r, &rec, &err) == 0) {
    if (n == 0) {
      size_t k = unhex(VEC1, v);
      CHECK(rec.len == k - 16 && memcmp(rec.data, v + 12, rec.len) == 0, "record 0 differs from vector 1");
    }
    if (n == 1) {
      size_t k = unhex(VEC2, v);
      CHECK(rec.len == k - 16 && memcmp(rec.data, v + 12, rec.len) == 0, "record 1 differs from vector 2");
    }
    n++;
  }
  CHECK(err.code == 0, "reading back: %s", err.msg);
  CHECK(n == 6, "%d records", n);
  yt_tfr_close(r);
  /* a second writer in the same second gets its own file */
  yt_tfevents *w2;
  CHECK(yt_tfevents_open(&w2, dir, 1700000000.0, &err) == 0, "%s", err.msg);
  if (w2) {
    snprintf(want, sizeof want, "%s/events.out.tfevents.1700000000.%s.1", dir, host);
    CHECK(strcmp(yt_tfevents_path(w2), want) == 0, "second file '%s'", yt_tfevents_path(w2));
    /* live: the version record is on disk before close */
    struct stat st;
    CHECK(stat(yt_tfevents_path(w2), &st) == 0 && st.st_size == 40, "not flushed after open");
    CHECK(yt_tfevents_scalar(w2, 5, "x", 1, 0, &err) == 0, "%s", err.msg);
    CHECK(stat(yt_tfevents_path(w2), &st) == 0 && st.st_size > 40, "not flushed after a scalar");
    yt_tfevents_close(w2, &err);
  }
  /* a file where the directory should be */
  write_file(tmp("notadir"), "x", 1);
  CHECK(yt_tfevents_open(&w2, tmp("notadir/sub"), 0, &err) == YT_EIO, "opened under a file");
  CHECK_CONTAINS(err.msg, "notadir");
}

/* ================================================================== tgz */

static void tar_hdr(uint8_t h[512], const char *name, char type, size_t size) {
  memset(h, 0, 512);
  snprintf((char *)h, 100, "%s", name);
  snprintf((char *)h + 100, 8, "%07o", 0644);
  snprintf((char *)h + 108, 8, "%07o", 0);
  snprintf((char *)h + 116, 8, "%07o", 0);
  snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
  snprintf((char *)h + 136, 12, "%011o", 0);
  memset(h + 148, ' ', 8);
  h[156] = (uint8_t)type;
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
}

/* gzip around d[n] as one stored block (n < 65536). */
static uint8_t *gz_stored(const uint8_t *d, size_t n, size_t *len) {
  *len = 10 + 5 + n + 8;
  uint8_t *g = calloc(1, *len);
  memcpy(g, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  g[10] = 1;
  g[11] = (uint8_t)n;
  g[12] = (uint8_t)(n >> 8);
  g[13] = (uint8_t)~n;
  g[14] = (uint8_t)(~n >> 8);
  memcpy(g + 15, d, n);
  uint32_t c = yt_crc32(0, d, n);
  for (int i = 0; i < 4; i++) {
    g[15 + n + i] = (uint8_t)(c >> (8 * i));
    g[19 + n + i] = (uint8_t)(n >> (8 * i));
  }
  return g;
}

/* A one-entry tar (name, type, "hello") with its end blocks, gzip'd. */
static uint8_t *one_entry_tgz(const char *name, char type, size_t *len) {
  uint8_t tar[512 * 4] = {0};
  tar_hdr(tar, name, type, type == '0' ? 5 : 0);
  memcpy(tar + 512, "hello", 5);
  return gz_stored(tar, sizeof tar, len);
}

static void fill_random(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (uint8_t)(seed >> 24);
  }
}

static void test_tgz_roundtrip(void) {
  CHECK(yt_crc32(0, "123456789", 9) == 0xCBF43926u, "crc32 check value");
  CHECK(yt_crc32(yt_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u, "crc32 continued");
  size_t big_n = 200000;
  uint8_t *big = malloc(big_n);
  fill_random(big, big_n, 7);
  const char *flags = "{\"model\": \"LogisticModel\"}";
  write_file(tmp("weights.bin"), big, 70001);
  yt_err err = {0};
  yt_tgz_writer *w;
  const char *path = tmp("bundle.tgz");
  CHECK(yt_tgz_writer_open(&w, path, &err) == 0, "%s", err.msg);
  if (!w) return;
  yt_tgz_writer_set_mtime(w, 1700000000);
  CHECK(yt_tgz_writer_add(w, "model_flags.json", flags, strlen(flags), &err) == 0, "%s", err.msg);
  CHECK(yt_tgz_writer_add(w, "inference_model.data-00000-of-00001", big, big_n, &err) == 0, "%s", err.msg);
  CHECK(yt_tgz_writer_add(w, "empty", "", 0, &err) == 0, "%s", err.msg);
  CHECK(yt_tgz_writer_add_file(w, "weights.bin", tmp("weights.bin"), &err) == 0, "%s", err.msg);
  CHECK(yt_tgz_writer_add(w, "dir/x", "a", 1, &err) == YT_EINVAL, "a nested name accepted");
  CHECK(yt_tgz_writer_add(w, "..", "a", 1, &err) == YT_EINVAL, "'..' accepted");
  CHECK(yt_tgz_writer_add(w, "empty", "a", 1, &err) == YT_EINVAL, "a duplicate accepted");
  CHECK_CONTAINS(err.msg, "'empty' added twice");
  char longname[128];
  memset(longname, 'n', 101);
  longname[101] = 0;
  CHECK(yt_tgz_writer_add(w, longname, "a", 1, &err) == YT_EINVAL, "a 101-byte name accepted");
  CHECK(yt_tgz_writer_add_file(w, "missing", tmp("no-such-file"), &err) == YT_EIO, "a missing source");
  CHECK(exists(tmp("bundle.tgz.tmp")) && !exists(path), "not atomic: final name visible before close");
  CHECK(yt_tgz_writer_close(w, &err) == 0, "%s", err.msg);
  CHECK(!exists(tmp("bundle.tgz.tmp")), "temporary left behind");

  yt_tgz *t;
  CHECK(yt_tgz_read(&t, path, &err) == 0, "%s", err.msg);
  if (t) {
    CHECK(t->n == 4, "%zu entries", t->n);
    const yt_tgz_entry *e = yt_tgz_find(t, "model_flags.json");
    CHECK(e && e->len == strlen(flags) && memcmp(e->data, flags, e->len) == 0, "model_flags.json");
    CHECK(e && e->mtime == 1700000000, "mtime");
    e = yt_tgz_find(t, "inference_model.data-00000-of-00001");
    CHECK(e && e->len == big_n && memcmp(e->data, big, big_n) == 0, "the 200 kB entry");
    e = yt_tgz_find(t, "empty");
    CHECK(e && e->len == 0, "empty entry");
    e = yt_tgz_find(t, "weights.bin");
    CHECK(e && e->len == 70001 && memcmp(e->data, big, 70001) == 0, "add_file entry");
    CHECK(t->tar_len % 10240 == 0, "tar length %zu not a whole record", t->tar_len);
    yt_tgz_free(t);
  }
  size_t n_files;
  CHECK(yt_tgz_extract(path, tmp("out/a/b"), &n_files, &err) == 0 && n_files == 4, "extract: %s", err.msg);
  size_t l;
  char *back = check_slurp(tmp("out/a/b/inference_model.data-00000-of-00001"), &l);
  CHECK(back && l == big_n && memcmp(back, big, big_n) == 0, "extracted file differs");
  free(back);

  /* the system tools accept our output */
  char cmd[2048];
  if (have("gzip")) {
    snprintf(cmd, sizeof cmd, "gzip -t '%s'", path);
    CHECK(system(cmd) == 0, "gzip -t rejects %s", path);
  } else {
    printf("gzip missing: skipping gzip -t\n");
  }
  if (have("tar") && have("gzip")) {
    mkdir(tmp("systar"), 0755);
    snprintf(cmd, sizeof cmd, "tar xzf '%s' -C '%s'", path, tmp("systar"));
    CHECK(system(cmd) == 0, "tar xzf failed");
    back = check_slurp(tmp("systar/inference_model.data-00000-of-00001"), &l);
    CHECK(back && l == big_n && memcmp(back, big, big_n) == 0, "system tar extracts a different file");
    free(back);
    back = check_slurp(tmp("systar/model_flags.json"), &l);
    CHECK(back && strcmp(back, flags) == 0, "system tar: model_flags.json");
    free(back);
  }

  /* corruption: a CRC byte, a data byte, truncation */
  size_t glen;
  uint8_t *g = (uint8_t *)check_slurp(path, &glen);
  if (g) {
    g[glen - 6] ^= 1;
    CHECK(yt_tgz_read_mem(&t, g, glen, "crc.tgz", &err) == YT_ECORRUPT, "bad CRC accepted");
    CHECK_CONTAINS(err.msg, "crc.tgz: CRC mismatch in the gzip trailer at byte");
    g[glen - 6] ^= 1;
    g[2000] ^= 0x40;
    CHECK(yt_tgz_read_mem(&t, g, glen, "data.tgz", &err) == YT_ECORRUPT, "a flipped data byte accepted");
    CHECK_CONTAINS(err.msg, "CRC mismatch");
    g[2000] ^= 0x40;
    g[glen - 2] ^= 1;
    CHECK(yt_tgz_read_mem(&t, g, glen, "isize.tgz", &err) == YT_ECORRUPT, "a bad ISIZE accepted");
    CHECK_CONTAINS(err.msg, "length mismatch");
    g[glen - 2] ^= 1;
    CHECK(yt_tgz_read_mem(&t, g, glen / 2, "half.tgz", &err) == YT_ECORRUPT, "a truncated file accepted");
    CHECK_CONTAINS(err.msg, "half.tgz: truncated");
    char at[64];
    snprintf(at, sizeof at, "byte %zu", glen / 2);
    CHECK_CONTAINS(err.msg, at);
    CHECK(yt_tgz_read_mem(&t, g, glen - 3, "trailer.tgz", &err) == YT_ECORRUPT, "a cut trailer accepted");
    CHECK_CONTAINS(err.msg, "trailer");
    CHECK(yt_tgz_read_mem(&t, g, 7, "tiny.tgz", &err) == YT_ECORRUPT, "7 bytes accepted");
    CHECK(yt_tgz_read_mem(&t, (const uint8_t *)"PK\x03\x04zipzipzipzipzip", 20, "zip.tgz", &err) ==
              YT_ECORRUPT,
          "a zip accepted");
    CHECK_CONTAINS(err.msg, "not gzip data");
    /* zero padding after the member is ignored (as gzip does); other trailing bytes are not */
    uint8_t *g2 = calloc(1, glen + 600);
    memcpy(g2, g, glen);
    CHECK(yt_tgz_read_mem(&t, g2, glen + 600, "padded.tgz", &err) == 0, "zero padding: %s", err.msg);
    yt_tgz_free(t);
    g2[glen + 10] = 'x';
    CHECK(yt_tgz_read_mem(&t, g2, glen + 600, "garbage.tgz", &err) == YT_ECORRUPT,
          "trailing garbage accepted");
    CHECK_CONTAINS(err.msg, "trailing garbage");
    free(g2);
    free(g);
  }
  free(big);
}

static void test_tgz_rejects(void) {
  static const struct {
    const char *name;
    char type;
    const char *msg;
  } bad[] = {
      {"../evil", '0', "'..' in its name '../evil'"},
      {"a/../../evil", '0', "'..'"},
      {"./sub/..", '0', "'..'"},
      {"/etc/passwd", '0', "absolute name '/etc/passwd'"},
      {"link", '2', "'link' at tar byte 0 is a symbolic link"},
      {"hard", '1', "hard link"},
      {"fifo", '6', "special file"},
  };
  yt_err err;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t len;
    uint8_t *g = one_entry_tgz(bad[i].name, bad[i].type, &len);
    yt_tgz *t = NULL;
    memset(&err, 0, sizeof err);
    CHECK(yt_tgz_read_mem(&t, g, len, "evil.tgz", &err) < 0 && !t, "'%s' accepted", bad[i].name);
    CHECK_CONTAINS(err.msg, "evil.tgz: ");
    CHECK_CONTAINS(err.msg, bad[i].msg);
    free(g);
  }
  /* accepted: "./" prefixes are dropped, a directory entry is skipped */
  size_t len;
  uint8_t *g = one_entry_tgz("./././ok.txt", '0', &len);
  yt_tgz *t = NULL;
  CHECK(yt_tgz_read_mem(&t, g, len, "ok.tgz", &err) == 0 && t && t->n == 1 &&
            strcmp(t->entry[0].name, "ok.txt") == 0 && t->entry[0].len == 5 &&
            memcmp(t->entry[0].data, "hello", 5) == 0,
        "./ prefix: %s", err.msg);
  yt_tgz_free(t);
  free(g);
  /* a bad header checksum */
  uint8_t tar[512 * 4] = {0};
  tar_hdr(tar, "x", '0', 5);
  tar[0] = 'y';
  g = gz_stored(tar, sizeof tar, &len);
  CHECK(yt_tgz_read_mem(&t, g, len, "sum.tgz", &err) == YT_ECORRUPT, "bad tar checksum accepted");
  CHECK_CONTAINS(err.msg, "bad tar header checksum at tar byte 0");
  free(g);
  /* an entry longer than the tar, and a tar without its end blocks */
  tar_hdr(tar, "x", '0', 5000);
  g = gz_stored(tar, 1024, &len);
  CHECK(yt_tgz_read_mem(&t, g, len, "short.tgz", &err) == YT_ECORRUPT, "a truncated tar accepted");
  CHECK_CONTAINS(err.msg, "truncated: the tar entry at tar byte 0 needs 5000 bytes, 512 are left");
  free(g);
  tar_hdr(tar, "x", '0', 5);
  g = gz_stored(tar, 1024, &len);
  CHECK(yt_tgz_read_mem(&t, g, len, "noend.tgz", &err) == YT_ECORRUPT, "a tar without end accepted");
  CHECK_CONTAINS(err.msg, "without its end-of-archive block");
  free(g);
  /* deflate errors: block type 3, a stored block whose NLEN is wrong */
  uint8_t bt3[20] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0};
  CHECK(yt_tgz_read_mem(&t, bt3, sizeof bt3, "bt3.tgz", &err) == YT_ECORRUPT, "block type 3 accepted");
  CHECK_CONTAINS(err.msg, "bt3.tgz: corrupt deflate data at byte 10: invalid block type 3");
  g = gz_stored((const uint8_t *)"abc", 3, &len);
  g[13] ^= 1;
  uint8_t *out;
  size_t on;
  CHECK(yt_gunzip(g, len, "nlen.gz", &out, &on, &err) == YT_ECORRUPT, "bad NLEN accepted");
  CHECK_CONTAINS(err.msg, "complement");
  free(g);
  /* gzip header flags: FNAME, FCOMMENT, FEXTRA, FHCRC */
  uint8_t hx[64] = {0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3, 2, 0, 'x', 'y', 'n', 0, 'c', 0};
  size_t hl = 18;
  uint32_t hc = yt_crc32(0, hx, hl);
  hx[hl++] = (uint8_t)hc;
  hx[hl++] = (uint8_t)(hc >> 8);
  memcpy(hx + hl,
         "\x01\x03\x00\xfc\xff"
         "abc",
         8);
  hl += 8;
  uint32_t c = yt_crc32(0, "abc", 3);
  for (int i = 0; i < 4; i++) hx[hl++] = (uint8_t)(c >> (8 * i));
  memcpy(hx + hl, "\x03\0\0\0", 4);
  hl += 4;
  CHECK(yt_gunzip(hx, hl, "flags.gz", &out, &on, &err) == 0 && on == 3 && memcmp(out, "abc", 3) == 0,
        "header flags: %s", err.msg);
  free(out);
  hx[18] ^= 1;
  CHECK(yt_gunzip(hx, hl, "hcrc.gz", &out, &on, &err) == YT_ECORRUPT, "a bad header CRC accepted");
  CHECK_CONTAINS(err.msg, "header CRC");
}

/* Files made by the system tar + gzip: dynamic and fixed Huffman blocks, GNU long names,
 * pax headers, subdirectories, multi-member gzip. */
static void test_tgz_system(void) {
  if (!have("tar") || !have("gzip")) {
    printf("tar or gzip missing: skipping the system tgz checks\n");
    return;
  }
  const char *src = tmp("src");
  char cmd[4096], p[1024];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/sub/deeper'", src);
  CHECK(system(cmd) == 0, "mkdir");
  /* compressible text (dynamic blocks), random bytes (stored by gzip), a tiny file (fixed) */
  size_t tn = 300000;
  char *text = malloc(tn);
  for (size_t i = 0, k = 0; i < tn; k++) {
    int n = snprintf(text + i, tn - i, "line %zu: the quick brown fox %zu jumps\n", k, k * k % 977);
    i += (size_t)n < tn - i ? (size_t)n : tn - i;
  }
  size_t rn = 100000;
  uint8_t *rnd = malloc(rn);
  fill_random(rnd, rn, 99);
  snprintf(p, sizeof p, "%s/text.txt", src);
  write_file(p, text, tn);
  snprintf(p, sizeof p, "%s/sub/random.bin", src);
  write_file(p, rnd, rn);
  snprintf(p, sizeof p, "%s/sub/deeper/tiny", src);
  write_file(p, "tiny\n", 5);
  char longn[200];
  memset(longn, 'L', 150);
  longn[150] = 0;
  snprintf(p, sizeof p, "%s/%s", src, longn);
  write_file(p, "long", 4);
  static const char *variants[] = {
      "tar czf '%s' -C '%s' .",               /* GNU format, ./ prefixes, 'L' long name */
      "tar --format=pax -czf '%s' -C '%s' .", /* pax path= records */
      "tar --format=ustar -cf - -C '%s' text.txt sub | gzip -1 > '%s'", /* ustar, fastest level */
      "tar cf - -C '%s' . | gzip -9 > '%s'",
  };
  for (int v = 0; v < 4; v++) {
    const char *out = tmp("sys.tgz");
    if (v < 2)
      snprintf(cmd, sizeof cmd, variants[v], out, src);
    else
      snprintf(cmd, sizeof cmd, variants[v], src, out);
    if (system(cmd) != 0) {
      printf("'%s' failed: skipping that variant\n", cmd);
      continue;
    }
    yt_err err = {0};
    yt_tgz *t = NULL;
    CHECK(yt_tgz_read(&t, out, &err) == 0, "variant %d: %s", v, err.msg);
    if (!t) continue;
    const yt_tgz_entry *e = yt_tgz_find(t, "text.txt");
    CHECK(e && e->len == tn && memcmp(e->data, text, tn) == 0, "variant %d: text.txt", v);
    e = yt_tgz_find(t, "sub/random.bin");
    CHECK(e && e->len == rn && memcmp(e->data, rnd, rn) == 0, "variant %d: sub/random.bin", v);
    e = yt_tgz_find(t, "sub/deeper/tiny");
    CHECK(e && e->len == 5 && memcmp(e->data, "tiny\n", 5) == 0, "variant %d: tiny", v);
    if (v != 2) {
      e = yt_tgz_find(t, longn);
      CHECK(e && e->len == 4 && memcmp(e->data, "long", 4) == 0, "variant %d: the 150-byte name", v);
      CHECK(t->n == 4, "variant %d: %zu entries", v, t->n);
    }
    yt_tgz_free(t);
    if (v == 0) { /* extract to a directory and compare */
      size_t nf, l;
      CHECK(yt_tgz_extract(out, tmp("sysout"), &nf, &err) == 0 && nf == 4, "extract: %s", err.msg);
      snprintf(p, sizeof p, "%s/sub/random.bin", tmp("sysout"));
      char *b = check_slurp(p, &l);
      CHECK(b && l == rn && memcmp(b, rnd, rn) == 0, "extracted sub/random.bin");
      free(b);
      /* truncated in the middle of compressed data */
      size_t gl;
      uint8_t *g = (uint8_t *)check_slurp(out, &gl);
      CHECK(g && yt_tgz_read_mem(&t, g, gl * 2 / 3, "cut.tgz", &err) == YT_ECORRUPT, "a cut tgz accepted");
      CHECK_CONTAINS(err.msg, "cut.tgz: truncated");
      /* a flipped bit in compressed data: a deflate error or a CRC mismatch, never success */
      for (size_t k = 1; g && k < 8; k++) {
        g[gl * k / 9] ^= 0x10;
        CHECK(yt_tgz_read_mem(&t, g, gl, "flip.tgz", &err) < 0, "a flipped bit at %zu accepted", gl * k / 9);
        g[gl * k / 9] ^= 0x10;
      }
      free(g);
    }
  }
  /* multi-member gzip */
  snprintf(cmd, sizeof cmd, "(printf abc | gzip; printf def | gzip -9) > '%s'", tmp("multi.gz"));
  if (system(cmd) == 0) {
    size_t gl, on;
    uint8_t *g = (uint8_t *)check_slurp(tmp("multi.gz"), &gl), *o = NULL;
    yt_err err = {0};
    CHECK(g && yt_gunzip(g, gl, "multi.gz", &o, &on, &err) == 0 && on == 6 && memcmp(o, "abcdef", 6) == 0,
          "multi-member: %s", err.msg);
    free(o);
    free(g);
  }
  free(text);
  free(rnd);
}

/* ================================================================== model_flags */

static void test_model_flags(void) {
  yt_err err = {0};
  yt_model_flags mf = {"NetVLADModelLF", "1024,128", "rgb,audio", true, "CrossEntropyLoss"};
  char *s;
  CHECK(yt_model_flags_format(&mf, NULL, 0, &s, &err) == 0, "%s", err.msg);
  const char *want = "{\"model\": \"NetVLADModelLF\", \"feature_sizes\": \"1024,128\", \"feature_names\": "
                     "\"rgb,audio\", \"frame_features\": true, \"label_loss\": \"CrossEntropyLoss\"}";
  CHECK(s && strcmp(s, want) == 0, "got %s", s);
  free(s);
  /* extras, compared with Python 3's json.dumps of the same dict */
  yt_mf_value ex[] = {
      {.key = "note", .type = YT_MF_STRING, .s = "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" a\nb\x01\x7f/"},
      {.key = "f0", .type = YT_MF_FLOAT, .f = 0.001},
      {.key = "f1", .type = YT_MF_FLOAT, .f = 1.0},
      {.key = "f2", .type = YT_MF_FLOAT, .f = 1e-5},
      {.key = "f3", .type = YT_MF_FLOAT, .f = 1e16},
      {.key = "f4", .type = YT_MF_FLOAT, .f = 123.456},
      {.key = "f5", .type = YT_MF_FLOAT, .f = 0.1},
      {.key = "f6", .type = YT_MF_FLOAT, .f = -2.5},
      {.key = "f7", .type = YT_MF_FLOAT, .f = 1e22},
      {.key = "f8", .type = YT_MF_FLOAT, .f = 5e-324},
      {.key = "f9", .type = YT_MF_FLOAT, .f = 1.7976931348623157e308},
      {.key = "f10", .type = YT_MF_FLOAT, .f = 1234567890123456.0},
      {.key = "f11", .type = YT_MF_FLOAT, .f = 0.0},
      {.key = "f12", .type = YT_MF_FLOAT, .f = -0.0},
      {.key = "f13", .type = YT_MF_FLOAT, .f = 100.0},
      {.key = "f14", .type = YT_MF_FLOAT, .f = 1e-4},
      {.key = "f15", .type = YT_MF_FLOAT, .f = 2.5e-7},
      {.key = "f16", .type = YT_MF_INT, .i = 3862},
      {.key = "b", .type = YT_MF_BOOL, .b = false},
  };
  size_t nex = sizeof ex / sizeof ex[0];
  CHECK(yt_model_flags_format(&mf, ex, nex, &s, &err) == 0, "%s", err.msg);
  const char *want2 =
      "{\"model\": \"NetVLADModelLF\", \"feature_sizes\": \"1024,128\", \"feature_names\": \"rgb,audio\", "
      "\"frame_features\": true, \"label_loss\": \"CrossEntropyLoss\", \"note\": \"caf\\u00e9 \\ud83d\\ude00 "
      "\\\"q\\\" a\\nb\\u0001\\u007f/\", \"f0\": 0.001, \"f1\": 1.0, \"f2\": 1e-05, \"f3\": 1e+16, \"f4\": "
      "123.456, "
      "\"f5\": 0.1, \"f6\": -2.5, \"f7\": 1e+22, \"f8\": 5e-324, \"f9\": 1.7976931348623157e+308, \"f10\": "
      "1234567890123456.0, \"f11\": 0.0, \"f12\": -0.0, \"f13\": 100.0, \"f14\": 0.0001, \"f15\": 2.5e-07, "
      "\"f16\": 3862, \"b\": false}";
  CHECK(s && strcmp(s, want2) == 0, "got\n%s\nwant\n%s", s, want2);
  free(s);
  /* writer rejections */
  yt_mf_value dup[2] = {{.key = "x", .type = YT_MF_INT}, {.key = "x", .type = YT_MF_INT}};
  CHECK(yt_model_flags_format(&mf, dup, 2, &s, &err) == YT_EINVAL, "duplicate extra accepted");
  yt_mf_value clash = {.key = "model", .type = YT_MF_STRING, .s = "x"};
  CHECK(yt_model_flags_format(&mf, &clash, 1, &s, &err) == YT_EINVAL, "starter key as extra accepted");
  yt_mf_value nan_ = {.key = "x", .type = YT_MF_FLOAT, .f = NAN};
  CHECK(yt_model_flags_format(&mf, &nan_, 1, &s, &err) == YT_EINVAL, "NaN accepted");
  yt_model_flags badu = mf;
  badu.model = "\xff";
  CHECK(yt_model_flags_format(&badu, NULL, 0, &s, &err) == YT_EINVAL, "invalid UTF-8 accepted");

  /* write: exact bytes, no trailing newline, atomic */
  const char *path = tmp("train/model_flags.json");
  mkdir(tmp("train"), 0755);
  CHECK(yt_model_flags_write(path, &mf, ex + 17, 2, &err) == 0, "%s", err.msg);
  size_t len;
  char *raw = check_slurp(path, &len);
  CHECK(raw && len > 0 && raw[len - 1] == '}', "trailing bytes after '}'");
  CHECK(raw && strstr(raw, "\"label_loss\": \"CrossEntropyLoss\", \"f16\": 3862, \"b\": false}"), "%s", raw);
  free(raw);
  CHECK(!exists(tmp("train/model_flags.json.tmp")), "temporary left behind");

  /* read back */
  yt_model_flags_file *f;
  CHECK(yt_model_flags_read(&f, path, &err) == 0, "%s", err.msg);
  if (f) {
    CHECK(strcmp(f->flags.model, "NetVLADModelLF") == 0 && f->flags.frame_features, "flags");
    CHECK(f->num_features == 2 && strcmp(f->feature_name[1], "audio") == 0 && f->feature_size[0] == 1024 &&
              f->feature_size[1] == 128,
          "features");
    CHECK(f->n == 7, "%zu keys", f->n);
    const yt_mf_value *v = yt_model_flags_get(f, "f16");
    CHECK(v && v->type == YT_MF_INT && v->i == 3862, "extra int");
    v = yt_model_flags_get(f, "b");
    CHECK(v && v->type == YT_MF_BOOL && !v->b, "extra bool");
    CHECK(yt_model_flags_compare(&f->flags, &mf, path, &err) == 0, "%s", err.msg);
    yt_model_flags_free(f);
  }

  /* a Python 2 file: hash order, spaces, extra keys of every JSON kind */
  const char *py2 = "{\"label_loss\": \"CrossEntropyLoss\", \"frame_features\": false, \"extra\": [1, 2], "
                    "\"feature_names\": \" rgb ,\taudio\", \"lr\": 0.5, \"model\": \"MoeModel\", "
                    "\"feature_sizes\": \"1024, 128 \", \"n\": null}\n";
  CHECK(yt_model_flags_parse(&f, py2, strlen(py2), "py2.json", &err) == 0, "%s", err.msg);
  if (f) {
    CHECK(strcmp(f->flags.model, "MoeModel") == 0 && !f->flags.frame_features, "py2 flags");
    CHECK(strcmp(f->flags.feature_names, " rgb ,\taudio") == 0, "raw names kept");
    CHECK(f->num_features == 2 && strcmp(f->feature_name[0], "rgb") == 0 &&
              strcmp(f->feature_name[1], "audio") == 0 && f->feature_size[0] == 1024 &&
              f->feature_size[1] == 128,
          "py2 features");
    const yt_mf_value *v = yt_model_flags_get(f, "extra");
    CHECK(v && v->type == YT_MF_JSON && strcmp(v->s, "[1,2]") == 0, "array extra");
    v = yt_model_flags_get(f, "lr");
    CHECK(v && v->type == YT_MF_FLOAT && v->f == 0.5, "float extra");
    v = yt_model_flags_get(f, "n");
    CHECK(v && v->type == YT_MF_JSON && strcmp(v->s, "null") == 0, "null extra");
    CHECK(f->n == 8 && strcmp(f->kv[0].key, "label_loss") == 0, "all keys in file order");
    /* the comparison is on raw strings, like the starter's dict comparison */
    yt_model_flags w2 = {"MoeModel", "1024,128", " rgb ,\taudio", false, "CrossEntropyLoss"};
    CHECK(yt_model_flags_compare(&f->flags, &w2, "py2.json", &err) == YT_EINVAL,
          "'1024, 128 ' == '1024,128'");
    CHECK_CONTAINS(err.msg,
                   "py2.json: model flags do not match this run: feature_sizes is \"1024, 128 \" in the "
                   "file but \"1024,128\" now");
    w2.feature_sizes = "1024, 128 ";
    w2.frame_features = true;
    CHECK(yt_model_flags_compare(&f->flags, &w2, "py2.json", &err) == YT_EINVAL, "frame_features differs");
    CHECK_CONTAINS(err.msg, "frame_features is false in the file but true now");
    yt_model_flags_free(f);
  }

  /* invalid files */
  static const struct {
    const char *text, *msg;
  } bad[] = {
      {"{\"model\": \"M\", \"feature_sizes\": \"1\", \"feature_names\": \"a\", \"frame_features\": true}",
       "missing key \"label_loss\""},
      {"{\"model\": \"M\", \"feature_sizes\": \"1\", \"feature_names\": \"a\", \"frame_features\": \"True\", "
       "\"label_loss\": \"L\"}",
       "key \"frame_features\" must be true or false"},
      {"{\"model\": 3, \"feature_sizes\": \"1\", \"feature_names\": \"a\", \"frame_features\": true, "
       "\"label_loss\": \"L\"}",
       "key \"model\" must be a string"},
      {"{\"model\": \"M\", \"feature_sizes\": \"1024,128\", \"feature_names\": \"rgb\", \"frame_features\": "
       "true, "
       "\"label_loss\": \"L\"}",
       "length of feature_names (=1, \"rgb\") != length of feature_sizes (=2, \"1024,128\")"},
      {"{\"model\": \"M\", \"feature_sizes\": \"1,2\", \"feature_names\": \"a, \", \"frame_features\": true, "
       "\"label_loss\": \"L\"}",
       "name 2 is empty"},
      {"{\"model\": \"M\", \"feature_sizes\": \"1,x2\", \"feature_names\": \"a,b\", \"frame_features\": "
       "true, "
       "\"label_loss\": \"L\"}",
       "size 2 (\"x2\") is not a positive integer"},
      {"{\"model\": \"M\", \"feature_sizes\": \"0\", \"feature_names\": \"a\", \"frame_features\": true, "
       "\"label_loss\": \"L\"}",
       "size 1 (\"0\") is not a positive integer"},
      {"{\"model\": \"M\"", "not valid JSON"},
      {"{\"model\": \"M\"} {}", "extra data after the JSON object at byte 15"},
      {"[1]", "not a JSON object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    f = NULL;
    memset(&err, 0, sizeof err);
    CHECK(yt_model_flags_parse(&f, bad[i].text, strlen(bad[i].text), "bad.json", &err) < 0 && !f,
          "bad[%zu] accepted", i);
    CHECK_CONTAINS(err.msg, "bad.json: ");
    CHECK_CONTAINS(err.msg, bad[i].msg);
  }
  CHECK(yt_model_flags_read(&f, tmp("nope.json"), &err) == YT_EIO, "a missing file");

  /* ensure: write once, accept the same flags, refuse different ones */
  const char *p2 = tmp("train/ensure.json");
  bool written = false;
  CHECK(yt_model_flags_ensure(p2, &mf, NULL, 0, &written, &err) == 0 && written, "first ensure: %s", err.msg);
  yt_mf_value more = {.key = "ours", .type = YT_MF_INT, .i = 1};
  CHECK(yt_model_flags_ensure(p2, &mf, &more, 1, &written, &err) == 0 && !written, "same flags: %s", err.msg);
  yt_model_flags other = mf;
  other.model = "LstmModel";
  CHECK(yt_model_flags_ensure(p2, &other, NULL, 0, &written, &err) == YT_EINVAL, "different model accepted");
  CHECK_CONTAINS(err.msg, "model is \"NetVLADModelLF\" in the file but \"LstmModel\" now");
  CHECK_CONTAINS(err.msg, "ensure.json");
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--write-events") == 0) {
    char path[1024];
    if (write_events(argv[2], path, sizeof path) != 0) return 1;
    printf("%s\n", path);
    return 0;
  }
  snprintf(tmpdir, sizeof tmpdir, "/tmp/yt_test_formats_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_safetensors_roundtrip();
  test_safetensors_exact_header();
  test_safetensors_invalid();
  test_tfevents_vectors();
  test_tfevents_writer();
  test_tgz_roundtrip();
  test_tgz_rejects();
  test_tgz_system();
  test_model_flags();
  int rc = check_report("test_formats");
  if (rc == 0) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  } else {
    fprintf(stderr, "files kept in %s\n", tmpdir);
  }
  return rc;
}
