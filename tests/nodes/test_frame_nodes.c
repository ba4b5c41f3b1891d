/* test_frame_nodes: the nodes between records and batches, through the harness.
 *  - dequantize: the conformance vectors (frame_edge, video_edge) against
 *    expected.json (ids, labels, frame counts, sums, sha256 of the float32
 *    bytes); dtype = uint8 passes the raw bytes; max_frames; the sampling
 *    modes of REFERENCE 2.6 (sample_all deterministic for long videos, random
 *    reproducible per (seed, shard, index) whatever message carries a record,
 *    in range, zero rows for a 0-frame video, random_sequence consecutive);
 *    on_invalid fail vs skip (message, dropped accounting); init errors.
 *  - batcher: exact batch sizes, drop_remainder accounting, zero padding and
 *    cut at max_frames, level auto/frame/video, shuffle (same multiset,
 *    reproducible, seed-dependent), dim mismatch and the 1 GiB limit, and
 *    dequantize -> batcher on the frame vectors.
 *  - synth_source: exact video count and order, replicas disjoint and
 *    complete, records decodable with the right frame range and byte-equal to
 *    yt_synth_video_make + yt_synth_encode, unbounded + drain, flat memory. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <sys/resource.h>

#include "check.h"
#include "core/harness.h"
#include "formats/synth.h"
#include "formats/tfrecord.h"
#include "formats/yt8m.h"
#include "sha256.h"

/* ---- helpers -------------------------------------------------------------- */

/* Records [lo, hi) of testdata/NAME (hi < 0: to the end) as one records message of shard `shard`. */
static void shard_msg(yt_msg *m, const char *name, uint32_t shard, long lo, long hi) {
  char rel[256];
  snprintf(rel, sizeof rel, "testdata/%s", name);
  yt_err err = {0};
  yt_tfr_reader *rd;
  yt_msg_init(m, YT_MSG_DATA);
  if (yt_tfr_open(&rd, shared_path(rel), &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
  yt_records_builder b;
  yt_records_builder_init(&b, shard, name);
  yt_tfr_record tr;
  while (yt_tfr_next(rd, &tr, &err) == YT_OK)
    if ((long)tr.index >= lo && (hi < 0 || (long)tr.index < hi)) yt_records_add(&b, tr.index, tr.data, tr.len, &err);
  yt_tfr_close(rd);
  CHECK(yt_records_to_msg(&b, m, &err) == YT_OK, "%s", err.msg);
  yt_records_builder_free(&b);
}

static int open_node(yt_harness *h, const char *type, const char *const *params) {
  yt_err err = {0};
  int rc = yt_harness_open(h, type, params, &err);
  CHECK(rc == YT_OK, "open %s: %s", type, err.msg);
  return rc;
}

/* Runs `dequantize` with params on testdata/name (shard `shard`), decodes its single output into *bt. */
static int run_deq(yt_harness *h, const char *const *params, const char *name, uint32_t shard, yt_batch *bt) {
  yt_err err = {0};
  memset(bt, 0, sizeof *bt);
  if (open_node(h, "dequantize", params)) return -1;
  yt_msg in;
  shard_msg(&in, name, shard, 0, -1);
  int rc = yt_harness_feed(h, 0, &in, &err);
  yt_msg_clear(&in);
  CHECK(rc == YT_OK, "dequantize %s: %s", name, err.msg);
  CHECK(h->n_out[0] == 1, "one output message per input message, got %zu", h->n_out[0]);
  if (rc || h->n_out[0] != 1) return -1;
  rc = yt_batch_decode(bt, &h->out[0][0], &err);
  CHECK(rc == YT_OK, "decode output: %s", err.msg);
  return rc;
}

static void sha_cols(const float *rows, int nrows, int dim, int c0, int c1, char hex[65]) {
  sha256_ctx c;
  sha256_init(&c);
  for (int t = 0; t < nrows; t++) sha256_update(&c, rows + (size_t)t * dim + c0, sizeof(float) * (size_t)(c1 - c0));
  sha256_hex(&c, hex);
}

static double sum_cols(const float *rows, int nrows, int dim, int c0, int c1) {
  double s = 0;
  for (int t = 0; t < nrows; t++)
    for (int c = c0; c < c1; c++) s += rows[(size_t)t * dim + c];
  return s;
}

static int id_is(const yt_batch *bt, uint32_t i, const char *id) {
  return bt->id_off[i + 1] - bt->id_off[i] == strlen(id) && !memcmp(bt->ids + bt->id_off[i], id, strlen(id));
}

static int labels_are(const yt_batch *bt, uint32_t i, const cJSON *want) {
  if ((int)(bt->label_off[i + 1] - bt->label_off[i]) != cJSON_GetArraySize(want)) return 0;
  for (int k = 0; k < cJSON_GetArraySize(want); k++)
    if (bt->labels[bt->label_off[i] + (uint32_t)k] != cJSON_GetArrayItem(want, k)->valueint) return 0;
  return 1;
}

static const cJSON *vec_records(const cJSON *exp, const char *file) {
  return cJSON_GetObjectItem(cJSON_GetObjectItem(exp, file), "records");
}

/* ---- dequantize ----------------------------------------------------------- */

static void test_deq_frame_vectors(const cJSON *exp) {
  const cJSON *recs = vec_records(exp, "frame_edge.tfrecord");
  yt_harness h;
  yt_batch bt;
  if (run_deq(&h, NULL, "frame_edge.tfrecord", 5, &bt) == 0) {
    CHECK(bt.n == 8 && bt.dim == 1152 && bt.dtype == YT_DT_F32 && bt.frames == 0, "n %u dim %u dtype %u frames %u",
          bt.n, bt.dim, bt.dtype, bt.frames);
    for (uint32_t i = 0; i < bt.n && i < (uint32_t)cJSON_GetArraySize(recs); i++) {
      const cJSON *w = cJSON_GetArrayItem(recs, (int)i);
      const float *rows = yt_batch_rows(&bt, i);
      int nf = bt.num_frames[i];
      CHECK(bt.shard[i] == 5 && bt.index[i] == i, "video %u: (shard, index) = (%u, %llu)", i, bt.shard[i],
            (unsigned long long)bt.index[i]);
      CHECK(id_is(&bt, i, cJSON_GetObjectItem(w, "id")->valuestring), "video %u id", i);
      CHECK(labels_are(&bt, i, cJSON_GetObjectItem(w, "labels")), "video %u labels", i);
      CHECK(nf == cJSON_GetObjectItem(w, "num_frames_kept_300")->valueint, "video %u num_frames %d", i, nf);
      double rgb = sum_cols(rows, nf, 1152, 0, 1024), aud = sum_cols(rows, nf, 1152, 1024, 1152);
      CHECK(fabs(rgb - cJSON_GetObjectItem(w, "rgb_dequantized_sum_first300")->valuedouble) < 1e-3, "video %u rgb sum %.9g", i, rgb);
      CHECK(fabs(aud - cJSON_GetObjectItem(w, "audio_dequantized_sum_first300")->valuedouble) < 1e-3, "video %u audio sum %.9g", i, aud);
      char hex[65];
      sha_cols(rows, nf, 1152, 0, 1024, hex);
      CHECK(!strcmp(hex, cJSON_GetObjectItem(w, "rgb_dequantized_sha256_first300")->valuestring), "video %u rgb sha256 %s", i, hex);
    }
    yt_batch_free(&bt);
  }
  CHECK(h.node.counts.dropped == 0, "nothing dropped");
  yt_harness_close(&h);

  /* max_frames = 5: the first 5 frames, the same bytes as the default's first 5 */
  const char *p5[] = {"max_frames=5", NULL};
  yt_harness h5;
  yt_batch b5;
  if (run_deq(&h5, p5, "frame_edge.tfrecord", 5, &b5) == 0) {
    yt_harness hr;
    yt_batch ref;
    if (run_deq(&hr, NULL, "frame_edge.tfrecord", 5, &ref) == 0) {
      for (uint32_t i = 0; i < b5.n; i++) {
        int want = ref.num_frames[i] < 5 ? ref.num_frames[i] : 5;
        CHECK(b5.num_frames[i] == want, "max_frames 5: video %u kept %d", i, b5.num_frames[i]);
        CHECK(!memcmp(yt_batch_rows(&b5, i), yt_batch_rows(&ref, i), (size_t)want * 1152 * 4), "video %u rows", i);
      }
      yt_batch_free(&ref);
    }
    yt_harness_close(&hr);
    yt_batch_free(&b5);
  }
  yt_harness_close(&h5);
}

static void test_deq_video_vectors(const cJSON *exp) {
  const cJSON *recs = vec_records(exp, "video_edge.tfrecord");
  const char *params[] = {"level=video", NULL};
  yt_harness h;
  yt_batch bt;
  if (run_deq(&h, params, "video_edge.tfrecord", 2, &bt) == 0) {
    CHECK(bt.n == 12 && bt.dim == 1152 && bt.rows == 12, "n %u dim %u rows %zu", bt.n, bt.dim, bt.rows);
    for (uint32_t i = 0; i < bt.n; i++) {
      const cJSON *w = cJSON_GetArrayItem(recs, (int)i);
      const float *row = yt_batch_rows(&bt, i);
      CHECK(bt.num_frames[i] == 1, "video %u num_frames %d", i, bt.num_frames[i]);
      CHECK(id_is(&bt, i, cJSON_GetObjectItem(w, "id")->valuestring), "video %u id", i);
      CHECK(labels_are(&bt, i, cJSON_GetObjectItem(w, "labels")), "video %u labels", i);
      double rgb = sum_cols(row, 1, 1152, 0, 1024), aud = sum_cols(row, 1, 1152, 1024, 1152);
      CHECK(fabs(rgb - cJSON_GetObjectItem(w, "mean_rgb_sum")->valuedouble) < 1e-4, "video %u rgb sum %.9g", i, rgb);
      CHECK(fabs(aud - cJSON_GetObjectItem(w, "mean_audio_sum")->valuedouble) < 1e-4, "video %u audio sum %.9g", i, aud);
      char hex[65];
      sha_cols(row, 1, 1152, 0, 1024, hex);
      CHECK(!strcmp(hex, cJSON_GetObjectItem(w, "mean_rgb_sha256")->valuestring), "video %u sha256 %s", i, hex);
    }
    yt_batch_free(&bt);
  }
  yt_harness_close(&h);
}

/* dtype = uint8: the record's own bytes; dequantizing them gives the expected digests. */
static void test_deq_uint8(const cJSON *exp) {
  const cJSON *recs = vec_records(exp, "frame_edge.tfrecord");
  const char *params[] = {"dtype=uint8", NULL};
  yt_harness h;
  yt_batch bt;
  if (run_deq(&h, params, "frame_edge.tfrecord", 0, &bt) == 0) {
    CHECK(bt.dtype == YT_DT_U8 && bt.dim == 1152, "dtype %u dim %u", bt.dtype, bt.dim);
    yt_schema s;
    yt_err err = {0};
    yt_schema_init(&s, YT_LEVEL_FRAME, NULL, NULL, &err);
    yt_record r = {0};
    yt_tfr_reader *rd;
    yt_tfr_record tr;
    yt_tfr_open(&rd, shared_path("testdata/frame_edge.tfrecord"), &err);
    float *f = malloc(sizeof(float) * 300 * 1152);
    for (uint32_t i = 0; i < bt.n && yt_tfr_next(rd, &tr, &err) == YT_OK; i++) {
      yt_record_decode(&r, &s, tr.data, tr.len, &err);
      const uint8_t *rows = yt_batch_rows(&bt, i);
      int same = bt.num_frames[i] == r.num_frames;
      for (int t = 0; same && t < r.num_frames; t++)
        same = !memcmp(rows + (size_t)t * 1152, r.rows[2 * t], 1024) && !memcmp(rows + (size_t)t * 1152 + 1024, r.rows[2 * t + 1], 128);
      CHECK(same, "video %u: uint8 rows are not the record's bytes", i);
      const cJSON *w = cJSON_GetArrayItem(recs, (int)i), *q4 = cJSON_GetObjectItem(w, "rgb_first_frame_first4_quantized");
      for (int k = 0; k < cJSON_GetArraySize(q4) && bt.num_frames[i] > 0; k++)
        CHECK(rows[k] == cJSON_GetArrayItem(q4, k)->valueint, "video %u byte %d", i, k);
      yt_dequantize(f, rows, (size_t)bt.num_frames[i] * 1152);
      char hex[65];
      sha_cols(f, bt.num_frames[i], 1152, 0, 1024, hex);
      CHECK(!strcmp(hex, cJSON_GetObjectItem(w, "rgb_dequantized_sha256_first300")->valuestring), "video %u sha256 of dequantized uint8", i);
    }
    free(f);
    yt_record_free(&r);
    yt_tfr_close(rd);
    yt_batch_free(&bt);
  }
  yt_harness_close(&h);
}

/* Frame j of ref video i equal to row? Returns j, -1 for a zero row, -2 for neither. */
static int which_frame(const yt_batch *ref, uint32_t i, const float *row) {
  const float *f = yt_batch_rows(ref, i);
  for (int j = 0; j < ref->num_frames[i]; j++)
    if (!memcmp(f + (size_t)j * 1152, row, 1152 * 4)) return j;
  for (int c = 0; c < 1152; c++)
    if (row[c] != 0.0f) return -2;
  return -1;
}

static void test_deq_sampling(void) {
  yt_harness hr = {0}, ha = {0}, hb = {0}, hc = {0}, hd = {0}, he = {0}, hf = {0}, hg = {0}, hu = {0};
  yt_batch ref = {0}, all = {0}, all2 = {0}, r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, seq = {0}, u8 = {0};
  if (run_deq(&hr, NULL, "frame_edge.tfrecord", 0, &ref)) { yt_harness_close(&hr); return; }

  /* sample_all, 300 slots: slot t = frame t where the video has it; the rest drawn from its frames */
  const char *pa[] = {"sampling=sample_all", "sample_frames=300", "seed=1", NULL};
  const char *pa2[] = {"sampling=sample_all", "sample_frames=300", "seed=2", NULL};
  if (!run_deq(&ha, pa, "frame_edge.tfrecord", 0, &all) && !run_deq(&hb, pa2, "frame_edge.tfrecord", 0, &all2)) {
    for (uint32_t i = 0; i < all.n; i++) {
      int nf = ref.num_frames[i], ok = all.num_frames[i] == 300;
      const float *rows = yt_batch_rows(&all, i);
      for (int t = 0; ok && t < 300; t++) {
        int j = which_frame(&ref, i, rows + (size_t)t * 1152);
        ok = t < nf ? j == t : nf == 0 ? j == -1 : j >= 0;
      }
      CHECK(ok, "sample_all video %u (%d frames): a slot is not the expected frame", i, nf);
      int same = !memcmp(rows, yt_batch_rows(&all2, i), 300 * 1152 * 4);
      CHECK(nf >= 300 || nf <= 1 ? same : !same, "sample_all video %u (%d frames): seed dependence %d", i, nf, same);
    }
  }

  /* random, 10 slots: reproducible, in range, seed- and shard-dependent, independent of the message */
  const char *pr[] = {"sampling=random", "sample_frames=10", "seed=7", NULL};
  const char *pr8[] = {"sampling=random", "sample_frames=10", "seed=8", NULL};
  if (!run_deq(&hc, pr, "frame_edge.tfrecord", 0, &r1) && !run_deq(&hd, pr, "frame_edge.tfrecord", 0, &r2) &&
      !run_deq(&he, pr8, "frame_edge.tfrecord", 0, &r3) && !run_deq(&hf, pr, "frame_edge.tfrecord", 1, &r4)) {
    CHECK(r1.rows == 80 && !memcmp(r1.features, r2.features, 80 * 1152 * 4), "random: same seed, same rows");
    for (uint32_t i = 0; i < r1.n; i++) {
      int nf = ref.num_frames[i], ok = r1.num_frames[i] == 10, distinct = 0, seen[300] = {0};
      for (int t = 0; ok && t < 10; t++) {
        int j = which_frame(&ref, i, (const float *)yt_batch_rows(&r1, i) + (size_t)t * 1152);
        ok = nf == 0 ? j == -1 : j >= 0 && j < nf;
        if (j >= 0 && !seen[j]++) distinct++;
      }
      CHECK(ok, "random video %u (%d frames): a row is not one of its frames", i, nf);
      if (nf >= 120) {
        CHECK(distinct >= 5, "random video %u: only %d distinct frames in 10 draws from %d", i, distinct, nf);
        CHECK(memcmp(yt_batch_rows(&r1, i), yt_batch_rows(&r3, i), 10 * 1152 * 4), "random video %u: seed 8 = seed 7", i);
        CHECK(memcmp(yt_batch_rows(&r1, i), yt_batch_rows(&r4, i), 10 * 1152 * 4), "random video %u: shard 1 = shard 0", i);
      }
    }
    /* record 4 alone in a message: the same rows as inside the full message */
    yt_harness h1;
    yt_err err = {0};
    if (!open_node(&h1, "dequantize", pr)) {
      yt_msg one;
      shard_msg(&one, "frame_edge.tfrecord", 0, 4, 5);
      CHECK(yt_harness_feed(&h1, 0, &one, &err) == YT_OK, "%s", err.msg);
      yt_msg_clear(&one);
      yt_batch b1;
      if (h1.n_out[0] == 1 && !yt_batch_decode(&b1, &h1.out[0][0], &err)) {
        CHECK(b1.n == 1 && b1.index[0] == 4 && !memcmp(b1.features, yt_batch_rows(&r1, 4), 10 * 1152 * 4),
              "random: record 4 alone differs from record 4 in the full message");
        yt_batch_free(&b1);
      }
    }
    yt_harness_close(&h1);
  }

  /* random_sequence: consecutive frames from a start in range, the last frame repeated when short */
  const char *ps[] = {"sampling=random_sequence", "sample_frames=10", "seed=3", NULL};
  if (!run_deq(&hg, ps, "frame_edge.tfrecord", 0, &seq)) {
    for (uint32_t i = 0; i < seq.n; i++) {
      int nf = ref.num_frames[i], start = -3, ok = seq.num_frames[i] == 10;
      for (int t = 0; ok && t < 10; t++) {
        int j = which_frame(&ref, i, (const float *)yt_batch_rows(&seq, i) + (size_t)t * 1152);
        if (t == 0) start = j;
        int want = nf == 0 ? -1 : start + t < nf - 1 ? start + t : nf - 1;
        ok = j == want && (nf == 0 || start <= (nf > 10 ? nf - 10 : 0));
      }
      CHECK(ok, "random_sequence video %u (%d frames, start %d)", i, nf, start);
    }
  }

  /* uint8 draws the same frames as float32 (same seed): dequantized, the same bits */
  const char *pu[] = {"sampling=random", "sample_frames=10", "seed=7", "dtype=uint8", NULL};
  if (r1.n && !run_deq(&hu, pu, "frame_edge.tfrecord", 0, &u8)) {
    float *f = malloc(80 * 1152 * 4);
    yt_dequantize(f, u8.features, 80 * 1152);
    for (uint32_t i = 0; i < u8.n; i++) /* a 0-frame video's uint8 zero rows are byte 0, not 0.0 */
      if (ref.num_frames[i] > 0)
        CHECK(!memcmp(f + (size_t)i * 10 * 1152, yt_batch_rows(&r1, i), 10 * 1152 * 4), "uint8 sampling video %u", i);
    free(f);
  }
  yt_batch *all_b[] = {&ref, &all, &all2, &r1, &r2, &r3, &r4, &seq, &u8};
  for (size_t k = 0; k < sizeof all_b / sizeof *all_b; k++) yt_batch_free(all_b[k]);
  yt_harness *all_h[] = {&hr, &ha, &hb, &hc, &hd, &he, &hf, &hg, &hu};
  for (size_t k = 0; k < sizeof all_h / sizeof *all_h; k++)
    if (all_h[k]->node.def) yt_harness_close(all_h[k]);
}

/* Feeds frame_edge (shard 5) to dequantize with params; returns the feed status, err filled. */
static int feed_frames(yt_harness *h, const char *const *params, yt_err *err) {
  if (open_node(h, "dequantize", params)) return -100;
  yt_msg in;
  shard_msg(&in, "frame_edge.tfrecord", 5, 0, -1);
  int rc = yt_harness_feed(h, 0, &in, err);
  yt_msg_clear(&in);
  return rc;
}

static uint64_t extra(const yt_node *n, const char *name) {
  for (int i = 0; i < n->n_extra; i++)
    if (!strcmp(n->extra_name[i], name)) return n->extra[i];
  return 0;
}

static void test_deq_invalid(void) {
  yt_harness h;
  yt_err err = {0};
  /* labels 3069 (record 3) and 3490 (record 6) are outside [0, 3000) */
  const char *fail[] = {"num_classes=3000", NULL};
  CHECK(feed_frames(&h, fail, &err) < 0, "a bad label must fail with on_invalid = fail");
  CHECK_CONTAINS(err.msg, "frame_edge.tfrecord: record 3: ");
  CHECK_CONTAINS(err.msg, "3069");
  CHECK_CONTAINS(err.msg, "on_invalid = skip");
  yt_harness_close(&h);

  const char *skip[] = {"num_classes=3000", "on_invalid=skip", NULL};
  CHECK(feed_frames(&h, skip, &err) == YT_OK, "skip: %s", err.msg);
  yt_batch bt;
  if (h.n_out[0] == 1 && !yt_batch_decode(&bt, &h.out[0][0], &err)) {
    CHECK(bt.n == 6, "skip: %u videos, expected 6", bt.n);
    for (uint32_t i = 0; i < bt.n; i++) CHECK(bt.index[i] != 3 && bt.index[i] != 6, "skip: record %llu kept", (unsigned long long)bt.index[i]);
    yt_batch_free(&bt);
  }
  CHECK(h.node.counts.dropped == 2 && h.node.counts.dropped_hash == yt_record_hash(5, 3) + yt_record_hash(5, 6),
        "skip: dropped %llu", (unsigned long long)h.node.counts.dropped);
  CHECK(extra(&h.node, "skipped_records") == 2, "skipped_records counter");
  yt_harness_close(&h);

  /* a wrong feature size: every record with frames fails; the 0-frame one passes */
  const char *size_fail[] = {"feature_sizes=1024,64", NULL};
  CHECK(feed_frames(&h, size_fail, &err) < 0, "a wrong size must fail");
  CHECK_CONTAINS(err.msg, "record 0: ");
  CHECK_CONTAINS(err.msg, "feature list 'audio'");
  yt_harness_close(&h);
  const char *size_skip[] = {"feature_sizes=1024,64", "on_invalid=skip", NULL};
  CHECK(feed_frames(&h, size_skip, &err) == YT_OK, "skip: %s", err.msg);
  CHECK(h.node.counts.dropped == 7 && h.n_out[0] == 1, "size skip: dropped %llu", (unsigned long long)h.node.counts.dropped);
  if (h.n_out[0] == 1 && !yt_batch_decode(&bt, &h.out[0][0], &err)) {
    CHECK(bt.n == 1 && bt.index[0] == 7 && bt.num_frames[0] == 0, "size skip: the 0-frame record is kept");
    yt_batch_free(&bt);
  }
  yt_harness_close(&h);

  /* bytes that are no protobuf, then all skipped: no output message */
  const char *p[] = {"on_invalid=fail", NULL};
  yt_records_builder b;
  yt_records_builder_init(&b, 9, "junk.tfrecord");
  yt_records_add(&b, 41, "\x0a\x05zz", 4, &err);
  yt_msg m;
  yt_records_to_msg(&b, &m, &err);
  if (!open_node(&h, "dequantize", p)) {
    CHECK(yt_harness_feed(&h, 0, &m, &err) < 0, "garbage must fail");
    CHECK_CONTAINS(err.msg, "junk.tfrecord: record 41: ");
    CHECK_CONTAINS(err.msg, YT_EX_MALFORMED);
  }
  yt_harness_close(&h);
  const char *ps[] = {"on_invalid=skip", NULL};
  if (!open_node(&h, "dequantize", ps)) {
    CHECK(yt_harness_feed(&h, 0, &m, &err) == YT_OK, "%s", err.msg);
    CHECK(h.n_out[0] == 0 && h.node.counts.dropped == 1, "all skipped: %zu messages", h.n_out[0]);
  }
  yt_harness_close(&h);
  yt_msg_clear(&m);
  yt_records_builder_free(&b);

  /* init errors */
  const char *bad1[] = {"level=video", "dtype=uint8", NULL}, *bad2[] = {"sampling=random", NULL},
             *bad3[] = {"sample_frames=10", NULL};
  CHECK(yt_harness_open(&h, "dequantize", bad1, &err) < 0, "video + uint8 must fail");
  CHECK_CONTAINS(err.msg, "uint8");
  CHECK(yt_harness_open(&h, "dequantize", bad2, &err) < 0, "random without sample_frames must fail");
  CHECK_CONTAINS(err.msg, "sample_frames");
  CHECK(yt_harness_open(&h, "dequantize", bad3, &err) < 0, "sample_frames with sampling = first must fail");
  CHECK_CONTAINS(err.msg, "sampling");
}

/* ---- batcher -------------------------------------------------------------- */

static float val(uint64_t index, int t, int c) { return (float)(index * 1000 + (uint64_t)t * 10 + (uint64_t)c) + 0.5f; }

/* Videos first..first+n-1 of shard 3, video k with nf(k) rows of dim columns, packed. */
static void videos_msg(yt_msg *m, uint64_t first, int n, int (*nf)(uint64_t), uint32_t dim) {
  yt_err err = {0};
  yt_batch_builder b;
  yt_batch_builder_init(&b, dim, YT_DT_F32, 0);
  float rows[64 * 8];
  for (uint64_t k = first; k < first + (uint64_t)n; k++) {
    int f = nf(k);
    for (int t = 0; t < f; t++)
      for (uint32_t c = 0; c < dim; c++) rows[(size_t)t * dim + c] = val(k, t, (int)c);
    char id[16];
    int len = snprintf(id, sizeof id, "v%llu", (unsigned long long)k);
    int32_t labels[2] = {(int32_t)(k % 7), (int32_t)(100 + k)};
    yt_batch_add(&b, 3, k, id, (size_t)len, labels, 2, f ? rows : NULL, f, &err);
  }
  yt_msg_init(m, YT_MSG_DATA);
  CHECK(yt_batch_to_msg(&b, m, &err) == YT_OK, "%s", err.msg);
  yt_batch_builder_free(&b);
}

static int nf_mod6(uint64_t k) { return (int)(k % 6); }
static int nf_one(uint64_t k) { (void)k; return 1; }

/* Feeds videos [0, total) in messages of `chunk` and flushes; returns the status. */
static int feed_videos(yt_harness *h, int total, int chunk, int (*nf)(uint64_t), yt_err *err) {
  int rc = YT_OK;
  for (int k = 0; rc == YT_OK && k < total; k += chunk) {
    yt_msg m;
    videos_msg(&m, (uint64_t)k, k + chunk <= total ? chunk : total - k, nf, 3);
    rc = yt_harness_feed(h, 0, &m, err);
    yt_msg_clear(&m);
  }
  return rc ? rc : yt_harness_flush(h, err);
}

/* Every output video holds its own rows (cut at F), zero rows after, its id and labels.
 * Fills order[] with the indices in output order; returns the video count. */
static int check_batches(yt_harness *h, uint32_t F, int (*nf)(uint64_t), uint64_t *order, const char *what) {
  int count = 0;
  yt_err err = {0};
  for (size_t k = 0; k < h->n_out[0]; k++) {
    yt_batch bt;
    if (yt_batch_decode(&bt, &h->out[0][k], &err)) { CHECK(0, "%s: %s", what, err.msg); continue; }
    CHECK(bt.frames == F && bt.dim == 3, "%s: frames %u dim %u", what, bt.frames, bt.dim);
    for (uint32_t i = 0; i < bt.n; i++) {
      uint64_t x = bt.index[i];
      int want = nf(x) < (int)F ? nf(x) : (int)F, ok = bt.num_frames[i] == want && bt.shard[i] == 3;
      const float *r = yt_batch_rows(&bt, i);
      for (uint32_t t = 0; ok && t < F; t++)
        for (int c = 0; c < 3; c++) ok &= r[t * 3 + (uint32_t)c] == ((int)t < want ? val(x, (int)t, c) : 0.0f);
      char id[16];
      snprintf(id, sizeof id, "v%llu", (unsigned long long)x);
      ok &= id_is(&bt, i, id) && bt.label_off[i + 1] - bt.label_off[i] == 2 &&
            bt.labels[bt.label_off[i]] == (int32_t)(x % 7) && bt.labels[bt.label_off[i] + 1] == (int32_t)(100 + x);
      CHECK(ok, "%s: video %llu (num_frames %d) rows, padding or id/labels wrong", what, (unsigned long long)x, bt.num_frames[i]);
      order[count++] = x;
    }
    yt_batch_free(&bt);
  }
  return count;
}

static void batch_sizes(yt_harness *h, char *out, size_t cap) {
  out[0] = 0;
  for (size_t k = 0; k < h->n_out[0]; k++) {
    uint32_t n;
    memcpy(&n, (const uint8_t *)h->out[0][k].frames[0].data + 4, 4);
    snprintf(out + strlen(out), cap - strlen(out), "%s%u", k ? "," : "", n);
  }
}

static void test_batcher_exact(void) {
  yt_harness h;
  yt_err err = {0};
  char sizes[128];
  uint64_t order[64];
  const char *p[] = {"batch_size=4", "max_frames=4", NULL};
  if (!open_node(&h, "batcher", p)) {
    CHECK(feed_videos(&h, 10, 6, nf_mod6, &err) == YT_OK, "%s", err.msg);
    batch_sizes(&h, sizes, sizeof sizes);
    CHECK(!strcmp(sizes, "4,4,2"), "batch sizes %s, expected 4,4,2", sizes);
    int n = check_batches(&h, 4, nf_mod6, order, "exact");
    int in_order = n == 10;
    for (int i = 0; in_order && i < n; i++) in_order = order[i] == (uint64_t)i;
    CHECK(in_order, "without shuffle the input order is kept");
    CHECK(h.node.counts.dropped == 0, "nothing dropped");
  }
  yt_harness_close(&h);

  const char *pd[] = {"batch_size=4", "max_frames=4", "drop_remainder=true", NULL};
  if (!open_node(&h, "batcher", pd)) {
    CHECK(feed_videos(&h, 10, 3, nf_mod6, &err) == YT_OK, "%s", err.msg);
    batch_sizes(&h, sizes, sizeof sizes);
    CHECK(!strcmp(sizes, "4,4"), "drop_remainder: batch sizes %s, expected 4,4", sizes);
    CHECK(h.node.counts.dropped == 2 && h.node.counts.dropped_hash == yt_record_hash(3, 8) + yt_record_hash(3, 9),
          "drop_remainder: dropped %llu", (unsigned long long)h.node.counts.dropped);
  }
  yt_harness_close(&h);
}

static void test_batcher_level(void) {
  yt_harness h;
  yt_err err = {0};
  uint64_t order[64];
  const char *pa[] = {"batch_size=8", "max_frames=4", NULL};
  if (!open_node(&h, "batcher", pa)) { /* auto: one row each -> F = 1 */
    CHECK(feed_videos(&h, 10, 5, nf_one, &err) == YT_OK, "%s", err.msg);
    CHECK(check_batches(&h, 1, nf_one, order, "auto video") == 10, "auto video: 10 videos");
    yt_msg m;
    videos_msg(&m, 20, 2, nf_mod6, 3); /* 2 and 3 rows */
    CHECK(yt_harness_feed(&h, 0, &m, &err) < 0, "a multi-row video after video-level input must fail");
    CHECK_CONTAINS(err.msg, "level = frame");
    yt_msg_clear(&m);
  }
  yt_harness_close(&h);
  const char *pf[] = {"batch_size=8", "max_frames=4", "level=frame", NULL};
  if (!open_node(&h, "batcher", pf)) {
    CHECK(feed_videos(&h, 10, 5, nf_one, &err) == YT_OK, "%s", err.msg);
    CHECK(check_batches(&h, 4, nf_one, order, "level frame") == 10, "level frame: 10 videos");
  }
  yt_harness_close(&h);
  const char *pv[] = {"batch_size=8", "level=video", NULL};
  if (!open_node(&h, "batcher", pv)) {
    CHECK(feed_videos(&h, 10, 5, nf_mod6, &err) < 0, "level = video with multi-row videos must fail");
    CHECK_CONTAINS(err.msg, "level = video");
  }
  yt_harness_close(&h);
}

static int shuffled(const char *seed, uint64_t *order) {
  yt_harness h;
  yt_err err = {0};
  int n = 0;
  const char *p[] = {"batch_size=4", "max_frames=3", "shuffle_buffer=5", seed, NULL};
  if (!open_node(&h, "batcher", p)) {
    CHECK(feed_videos(&h, 23, 7, nf_mod6, &err) == YT_OK, "%s", err.msg);
    char sizes[128];
    batch_sizes(&h, sizes, sizeof sizes);
    CHECK(!strcmp(sizes, "4,4,4,4,4,3"), "shuffle: batch sizes %s", sizes);
    n = check_batches(&h, 3, nf_mod6, order, "shuffle");
  }
  yt_harness_close(&h);
  return n;
}

static void test_batcher_shuffle(void) {
  uint64_t a[64], b[64], c[64];
  int na = shuffled("seed=3", a), nb = shuffled("seed=3", b), nc = shuffled("seed=4", c);
  int seen[23] = {0}, ok = na == 23, moved = 0;
  for (int i = 0; i < na; i++) {
    ok &= a[i] < 23 && !seen[a[i]]++;
    moved += a[i] != (uint64_t)i;
  }
  CHECK(ok, "shuffle: every video exactly once");
  CHECK(moved > 10, "shuffle: only %d of 23 videos moved", moved);
  CHECK(nb == na && !memcmp(a, b, sizeof(uint64_t) * (size_t)na), "shuffle: same seed, same order");
  CHECK(nc == na && memcmp(a, c, sizeof(uint64_t) * (size_t)na), "shuffle: another seed, another order");
}

static void test_batcher_errors(void) {
  yt_harness h;
  yt_err err = {0};
  const char *p[] = {"batch_size=4", NULL};
  if (!open_node(&h, "batcher", p)) {
    yt_msg m;
    videos_msg(&m, 0, 2, nf_mod6, 3);
    CHECK(yt_harness_feed(&h, 0, &m, &err) == YT_OK, "%s", err.msg);
    yt_msg_clear(&m);
    videos_msg(&m, 2, 2, nf_mod6, 4);
    CHECK(yt_harness_feed(&h, 0, &m, &err) < 0, "a different dim must fail");
    CHECK_CONTAINS(err.msg, "same features");
    yt_msg_clear(&m);
  }
  yt_harness_close(&h);
  /* 1,000,000 x 300 x 1152 float32 cannot be one message */
  const char *big[] = {"batch_size=1000000", NULL};
  if (!open_node(&h, "batcher", big)) {
    yt_msg m;
    yt_batch_builder b;
    yt_batch_builder_init(&b, 1152, YT_DT_F32, 0);
    yt_batch_rows_reserve(&b, 2, &err);
    yt_batch_add(&b, 0, 0, "x", 1, NULL, 0, NULL, 2, &err);
    yt_batch_to_msg(&b, &m, &err);
    yt_batch_builder_free(&b);
    CHECK(yt_harness_feed(&h, 0, &m, &err) < 0, "an over-1-GiB batch must fail at the first video");
    CHECK_CONTAINS(err.msg, "lower batch_size");
    CHECK_CONTAINS(err.msg, "uint8");
    yt_msg_clear(&m);
  }
  yt_harness_close(&h);
}

/* dequantize -> batcher on the frame vectors: 3,3,2; rows equal, padding zero, num_frames kept. */
static void test_deq_to_batcher(void) {
  yt_harness hd, hb;
  yt_batch ref;
  yt_err err = {0};
  const char *p[] = {"batch_size=3", NULL};
  if (run_deq(&hd, NULL, "frame_edge.tfrecord", 0, &ref) == 0 && !open_node(&hb, "batcher", p)) {
    CHECK(yt_harness_feed(&hb, 0, &hd.out[0][0], &err) == YT_OK && yt_harness_flush(&hb, &err) == YT_OK, "%s", err.msg);
    char sizes[64];
    batch_sizes(&hb, sizes, sizeof sizes);
    CHECK(!strcmp(sizes, "3,3,2"), "deq -> batcher sizes %s", sizes);
    uint32_t v = 0;
    for (size_t k = 0; k < hb.n_out[0]; k++) {
      yt_batch bt;
      if (yt_batch_decode(&bt, &hb.out[0][k], &err)) continue;
      CHECK(bt.frames == 300 && bt.dim == 1152, "frames %u", bt.frames);
      for (uint32_t i = 0; i < bt.n; i++, v++) {
        int nf = ref.num_frames[v];
        const float *r = yt_batch_rows(&bt, i);
        int ok = bt.index[i] == v && bt.num_frames[i] == nf && !memcmp(r, yt_batch_rows(&ref, v), (size_t)nf * 1152 * 4);
        for (size_t j = (size_t)nf * 1152; ok && j < 300 * 1152; j++) ok = r[j] == 0.0f;
        CHECK(ok, "deq -> batcher: video %u", v);
      }
      yt_batch_free(&bt);
    }
    CHECK(v == 8, "deq -> batcher: %u videos", v);
    yt_batch_free(&ref);
    yt_harness_close(&hb);
  }
  yt_harness_close(&hd);
}

/* dequantize dtype = uint8 -> batcher dtype = float32 gives the float32 batches
 * of dequantize dtype = float32 -> batcher, bit for bit: batch 3 (4 MB, plain
 * stores), batch 8 (11 MB, streaming stores from an unaligned start), and
 * through a shuffle buffer (which holds uint8); float32 input passes as is. */
static void test_batcher_dequantizes(void) {
  yt_harness hr, hq;
  yt_batch ref, q8;
  yt_err err = {0};
  const char *u8[] = {"dtype=uint8", NULL};
  if (run_deq(&hr, NULL, "frame_edge.tfrecord", 0, &ref) || run_deq(&hq, u8, "frame_edge.tfrecord", 0, &q8)) {
    yt_harness_close(&hr);
    yt_harness_close(&hq);
    return;
  }
  CHECK(ref.dtype == YT_DT_F32 && q8.dtype == YT_DT_U8, "dtypes %u %u", ref.dtype, q8.dtype);
  static const char *const cases[][5] = {
      {"batch_size=3", "dtype=float32", NULL},
      {"batch_size=8", "dtype=float32", NULL},
      {"batch_size=3", "dtype=float32", "shuffle_buffer=4", "seed=5", NULL},
  };
  for (int c = 0; c < 4; c++) {
    /* case 3: float32 input with dtype = float32 */
    const char *const *p = c < 3 ? cases[c] : cases[0];
    const yt_msg *in = c < 3 ? &hq.out[0][0] : &hr.out[0][0];
    yt_harness hb;
    if (open_node(&hb, "batcher", p)) continue;
    CHECK(yt_harness_feed(&hb, 0, in, &err) == YT_OK && yt_harness_flush(&hb, &err) == YT_OK, "case %d: %s", c,
          err.msg);
    int seen[8] = {0}, n = 0;
    for (size_t k = 0; k < hb.n_out[0]; k++) {
      yt_batch bt;
      if (yt_batch_decode(&bt, &hb.out[0][k], &err)) { CHECK(0, "case %d: %s", c, err.msg); continue; }
      CHECK(bt.dtype == YT_DT_F32 && bt.frames == 300 && bt.dim == 1152, "case %d: dtype %u frames %u dim %u", c,
            bt.dtype, bt.frames, bt.dim);
      for (uint32_t i = 0; i < bt.n; i++, n++) {
        uint64_t v = bt.index[i];
        if (v >= 8) { CHECK(0, "case %d: index %llu", c, (unsigned long long)v); continue; }
        seen[v]++;
        int nf = ref.num_frames[v];
        const float *r = yt_batch_rows(&bt, i);
        int ok = bt.num_frames[i] == nf && !memcmp(r, yt_batch_rows(&ref, (uint32_t)v), (size_t)nf * 1152 * 4);
        for (size_t j = (size_t)nf * 1152; ok && j < 300 * 1152; j++) ok = r[j] == 0.0f;
        CHECK(ok, "case %d: video %llu: rows differ from dequantize's float32 or padding not 0", c,
              (unsigned long long)v);
      }
      yt_batch_free(&bt);
    }
    int once = n == 8;
    for (int v = 0; v < 8; v++) once &= seen[v] == 1;
    CHECK(once, "case %d: %d videos out, each exactly once expected", c, n);
    yt_harness_close(&hb);
  }
  yt_batch_free(&ref);
  yt_batch_free(&q8);
  yt_harness_close(&hr);
  yt_harness_close(&hq);
}

/* ---- synth_source --------------------------------------------------------- */

/* Checks every record of h's output against the generator with parameters sp
 * (NULL: the defaults with classes 100, seed 9, 5..12 frames); marks seen[index]. */
static int check_synth_with(yt_harness *h, const yt_synth_params *sp_in, bool frame_level, bool labels, int *seen,
                            size_t n_seen) {
  yt_synth_params sp;
  yt_synth_defaults(&sp);
  sp.classes = 100, sp.seed = 9, sp.min_frames = 5, sp.max_frames = 12;
  if (sp_in) sp = *sp_in;
  yt_synth *g;
  yt_err err = {0};
  if (yt_synth_new(&g, &sp, &err)) { CHECK(0, "%s", err.msg); return 0; }
  yt_synth_video v = {0};
  yt_schema s;
  yt_schema_init(&s, frame_level ? YT_LEVEL_FRAME : YT_LEVEL_VIDEO, NULL, NULL, &err);
  s.num_classes = 100;
  yt_record r = {0};
  int total = 0;
  for (size_t k = 0; k < h->n_out[0]; k++) {
    yt_records in;
    if (yt_records_decode(&in, &h->out[0][k], &err)) { CHECK(0, "%s", err.msg); continue; }
    CHECK(in.shard == 0 && in.shard_name_len == 11 && !memcmp(in.shard_name, "synth-train", 11), "shard name");
    const uint8_t *p = in.data;
    for (uint32_t i = 0; i < in.n; p += in.len[i], i++, total++) {
      uint64_t x = in.index[i];
      if (x < n_seen) seen[x]++;
      int rc = yt_record_decode(&r, &s, p, in.len[i], &err);
      CHECK(rc == YT_OK, "video %llu: %s", (unsigned long long)x, err.msg);
      if (frame_level) CHECK(r.total_frames >= 5 && r.total_frames <= 12, "video %llu: %d frames", (unsigned long long)x, r.total_frames);
      else CHECK(r.num_frames == 1, "video level num_frames");
      CHECK(labels ? r.n_labels >= 1 : r.n_labels == 0, "video %llu: %zu labels", (unsigned long long)x, r.n_labels);
      uint8_t *buf = NULL;
      size_t len = 0;
      yt_synth_video_make(g, "train", x, &v, &err);
      yt_synth_encode(&v, frame_level, labels, &buf, &len, &err);
      CHECK(len == in.len[i] && !memcmp(buf, p, len), "video %llu: bytes differ from yt_synth_encode", (unsigned long long)x);
      free(buf);
    }
  }
  yt_record_free(&r);
  yt_synth_video_free(&v);
  yt_synth_free(g);
  return total;
}

static int check_synth(yt_harness *h, bool frame_level, bool labels, int *seen, size_t n_seen) {
  return check_synth_with(h, NULL, frame_level, labels, seen, n_seen);
}

static void test_synth(void) {
  yt_harness h;
  yt_err err = {0};
  int seen[64];
  const char *p[] = {"videos=25", "message_records=4", "classes=100", "seed=9", "min_frames=5", "max_frames=12", NULL};
  if (!open_node(&h, "synth_source", p)) {
    CHECK(yt_harness_run(&h, 0, &err) == YT_OK, "%s", err.msg);
    CHECK(h.n_out[0] == 7, "25 videos by 4: %zu messages", h.n_out[0]);
    memset(seen, 0, sizeof seen);
    CHECK(check_synth(&h, true, true, seen, 64) == 25, "25 records");
    int ok = 1;
    uint64_t hash = 0;
    for (int i = 0; i < 64; i++) ok &= seen[i] == (i < 25);
    for (int i = 0; i < 25; i++) hash += yt_record_hash(0, (uint64_t)i);
    CHECK(ok, "every index 0..24 exactly once");
    CHECK(h.node.progress_total == 25 && h.node.progress_done == 25 && !strcmp(h.node.progress_unit, "records"),
          "progress %llu/%llu", (unsigned long long)h.node.progress_done, (unsigned long long)h.node.progress_total);
    CHECK(h.node.counts.emitted == 25 && h.node.counts.emitted_hash == hash, "emitted %llu", (unsigned long long)h.node.counts.emitted);
  }
  yt_harness_close(&h);

  /* replicas: disjoint and complete */
  memset(seen, 0, sizeof seen);
  int per[3] = {0};
  for (int r = 0; r < 2; r++) {
    if (yt_harness_open_replica(&h, "synth_source", p, r, 2, &err)) { CHECK(0, "%s", err.msg); continue; }
    CHECK(yt_harness_run(&h, 0, &err) == YT_OK, "%s", err.msg);
    CHECK(h.node.progress_total == (r == 0 ? 13u : 12u), "replica %d total %llu", r, (unsigned long long)h.node.progress_total);
    per[r] = check_synth(&h, true, true, seen, 64);
    yt_harness_close(&h);
  }
  int ok = per[0] == 13 && per[1] == 12;
  for (int i = 0; i < 64; i++) ok &= seen[i] == (i < 25);
  CHECK(ok, "2 replicas: %d + %d records, every index once", per[0], per[1]);
  const char *p2[] = {"videos=2", NULL};
  if (!yt_harness_open_replica(&h, "synth_source", p2, 2, 3, &err)) {
    CHECK(yt_harness_run(&h, 0, &err) == YT_OK && h.n_out[0] == 0, "replica 2 of 3 with 2 videos makes nothing");
  }
  yt_harness_close(&h);

  /* video level, no labels */
  const char *pv[] = {"videos=6", "level=video", "labels=false", "classes=100", "seed=9", "min_frames=5", "max_frames=12", NULL};
  if (!open_node(&h, "synth_source", pv)) {
    CHECK(yt_harness_run(&h, 0, &err) == YT_OK, "%s", err.msg);
    memset(seen, 0, sizeof seen);
    CHECK(check_synth(&h, false, false, seen, 64) == 6, "video level: 6 records");
  }
  yt_harness_close(&h);

  /* unbounded until drained */
  const char *pu[] = {"videos=0", "message_records=3", "classes=100", "seed=9", "min_frames=5", "max_frames=12", NULL};
  if (!open_node(&h, "synth_source", pu)) {
    CHECK(yt_harness_run(&h, 5, &err) == YT_OK && h.n_out[0] == 5, "unbounded: 5 calls, %zu messages", h.n_out[0]);
    CHECK(h.node.progress_total == 0 && h.node.progress_done == 15, "unbounded progress %llu", (unsigned long long)h.node.progress_done);
    h.node.stopping = 1;
    CHECK(yt_harness_run(&h, 0, &err) == YT_OK && h.n_out[0] == 5, "drain: stops at once");
    memset(seen, 0, sizeof seen);
    CHECK(check_synth(&h, true, true, seen, 64) == 15 && seen[14] == 1, "unbounded: indices 0..14");
  }
  yt_harness_close(&h);

  /* gen's difficulty knobs: the same bytes as the generator with those parameters,
   * and not the defaults' bytes */
  const char *pk[] = {"videos=5", "classes=100", "seed=9", "min_frames=5", "max_frames=12", "signal_lo=0.5",
                      "signal_hi=0.6", "confuser=0.2", "noise=0.3", NULL};
  if (!open_node(&h, "synth_source", pk)) {
    CHECK(yt_harness_run(&h, 0, &err) == YT_OK, "%s", err.msg);
    yt_synth_params sp;
    yt_synth_defaults(&sp);
    sp.classes = 100, sp.seed = 9, sp.min_frames = 5, sp.max_frames = 12;
    sp.signal_lo = 0.5, sp.signal_hi = 0.6, sp.confuser = 0.2, sp.noise_std = 0.3;
    memset(seen, 0, sizeof seen);
    CHECK(check_synth_with(&h, &sp, true, true, seen, 64) == 5, "signal/confuser/noise: 5 records as the generator's");
    yt_records in;
    if (h.n_out[0] && !yt_records_decode(&in, &h.out[0][0], &err)) {
      yt_synth *g = NULL;
      yt_synth_video v = {0};
      uint8_t *buf = NULL;
      size_t len = 0;
      yt_synth_defaults(&sp);
      sp.classes = 100, sp.seed = 9, sp.min_frames = 5, sp.max_frames = 12;
      if (!yt_synth_new(&g, &sp, &err) && !yt_synth_video_make(g, "train", in.index[0], &v, &err) &&
          !yt_synth_encode(&v, true, true, &buf, &len, &err))
        CHECK(len != in.len[0] || memcmp(buf, in.data, len), "noise = 0.3 must change the bytes");
      free(buf);
      yt_synth_video_free(&v);
      yt_synth_free(g);
    }
  }
  yt_harness_close(&h);

  const char *bad[] = {"min_frames=50", "max_frames=10", NULL};
  CHECK(yt_harness_open(&h, "synth_source", bad, &err) < 0, "min_frames > max_frames must fail");
  CHECK_CONTAINS(err.msg, "min_frames");
  const char *bad2[] = {"signal_lo=0.4", "signal_hi=0.2", NULL};
  CHECK(yt_harness_open(&h, "synth_source", bad2, &err) < 0, "signal_lo > signal_hi must fail");
  CHECK_CONTAINS(err.msg, "signal");
  const char *bad3[] = {"noise=-1", NULL};
  CHECK(yt_harness_open(&h, "synth_source", bad3, &err) < 0, "noise = -1 must fail");
  CHECK_CONTAINS(err.msg, "noise");
}

static long max_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Streams ~300 MB of frame-level records one message at a time: peak RSS must not grow with it. */
static void test_synth_memory(void) {
  yt_harness h;
  yt_err err = {0};
  const char *p[] = {"videos=0", "min_frames=250", "max_frames=300", NULL};
  if (open_node(&h, "synth_source", p)) return;
  size_t bytes = 0;
  long before = 0;
  for (int call = 0; call < 100; call++) {
    CHECK(yt_harness_run(&h, 1, &err) == YT_OK, "%s", err.msg);
    for (size_t k = 0; k < h.n_out[0]; k++) bytes += h.out[0][k].frames[2].len;
    yt_harness_clear_out(&h);
    if (call == 10) before = max_rss_kb();
  }
  long after = max_rss_kb();
  CHECK(bytes > 300u << 20, "streamed only %zu bytes", bytes);
  CHECK(after - before < 16 * 1024, "peak RSS grew by %ld KiB while streaming %zu MB", after - before, bytes >> 20);
  yt_harness_close(&h);
}

int main(void) {
  char *text = check_slurp(shared_path("testdata/expected.json"), NULL);
  cJSON *exp = text ? cJSON_Parse(text) : NULL;
  CHECK(exp != NULL, "cannot read testdata/expected.json");
  if (exp) {
    test_deq_frame_vectors(exp);
    test_deq_video_vectors(exp);
    test_deq_uint8(exp);
  }
  test_deq_sampling();
  test_deq_invalid();
  test_batcher_exact();
  test_batcher_level();
  test_batcher_shuffle();
  test_batcher_errors();
  test_deq_to_batcher();
  test_batcher_dequantizes();
  test_synth();
  test_synth_memory();
  cJSON_Delete(exp);
  free(text);
  return check_report("test_frame_nodes");
}
