/* test_io_nodes: the I/O nodes through the harness: tfrecord_reader over the real
 * shards (records, (shard, index), names, SHARD_END, replicas, epochs, shard
 * shuffle, message limits, progress) and the corrupt vectors (fail / skip_record /
 * skip_shard), records by reference (read back identical; damage found where read); tfrecord_writer (byte-identical shard copies, interleaved shards,
 * incomplete shards never committed, rotation, zstd); null_sink (expect_records,
 * checksum); csv_sink (lines, quoting, atomic commit). */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/harness.h"
#include "formats/records_ref.h"
#include "formats/tfrecord.h"

#define N_SHARDS 7
#define N_RECORDS 2069

static uint64_t extra(const yt_node *n, const char *name) {
  for (int i = 0; i < n->n_extra; i++)
    if (!strcmp(n->extra_name[i], name)) return n->extra[i];
  return 0;
}

static const char *data_pattern(void) {
  static char b[4200];
  snprintf(b, sizeof b, "pattern=\"%s\"", shared_path("data/validate000*.tfrecord"));
  return b;
}

/* When set, readers run as if their consumers were on this host (the harness's
 * send_refs): plain shards then go by reference. */
static int g_send_refs;

/* Opens a reader with params (NULL-terminated) and runs it to the end. */
static int run_reader(yt_harness *h, const char *const *params, int replica, int replicas, yt_err *err) {
  int rc = yt_harness_open_replica(h, "tfrecord_reader", params, replica, replicas, err);
  h->send_refs = g_send_refs;
  return rc < 0 ? rc : yt_harness_run(h, 0, err);
}

/* What came out of a reader, checked for structure on the way:
 * one shard per message, indices consecutive from 0 per shard (per visit),
 * a shard's messages contiguous, SHARD_END last with the right count. */
typedef struct summary {
  size_t records, msgs, max_n;
  size_t per_shard[N_SHARDS], ends[N_SHARDS];
  uint32_t end_order[64];
  size_t n_end;
} summary;

static void summarize_gaps(const yt_harness *h, summary *s, const char *name_fmt, bool gaps) {
  memset(s, 0, sizeof *s);
  long open = -1;
  uint64_t count = 0, next_index = 0; /* with gaps (skipped records): indices only increase */
  for (size_t k = 0; k < h->n_out[0]; k++) {
    yt_records r;
    yt_err err = {0};
    int rc = yt_records_decode(&r, &h->out[0][k], &err);
    CHECK(rc == YT_OK, "message %zu: %s", k, err.msg);
    if (rc) continue;
    s->msgs++;
    if (r.n > s->max_n) s->max_n = r.n;
    CHECK(r.shard < N_SHARDS, "shard %u", r.shard);
    if (r.shard >= N_SHARDS) continue;
    char want[64];
    snprintf(want, sizeof want, name_fmt, r.shard);
    CHECK(r.shard_name_len == strlen(want) && !memcmp(r.shard_name, want, r.shard_name_len),
          "shard %u named '%.*s', expected '%s'", r.shard, (int)r.shard_name_len, r.shard_name, want);
    CHECK(open == -1 || open == (long)r.shard, "message %zu of shard %u while shard %ld is unfinished", k, r.shard,
          open);
    if (open == -1) next_index = count = 0;
    open = r.shard;
    for (uint32_t i = 0; i < r.n; i++, count++) {
      CHECK(gaps ? r.index[i] >= next_index : r.index[i] == next_index, "shard %u: index %llu, expected %llu",
            r.shard, (unsigned long long)r.index[i], (unsigned long long)next_index);
      next_index = r.index[i] + 1;
    }
    s->records += r.n;
    s->per_shard[r.shard] += r.n;
    if (r.flags & YT_REC_SHARD_END) {
      CHECK(r.shard_records == count, "shard %u: SHARD_END says %llu records, %llu were sent", r.shard,
            (unsigned long long)r.shard_records, (unsigned long long)count);
      s->ends[r.shard]++;
      if (s->n_end < 64) s->end_order[s->n_end++] = r.shard;
      open = -1;
    }
  }
  CHECK(open == -1, "shard %ld never got its SHARD_END", open);
}

static void summarize(const yt_harness *h, summary *s, const char *name_fmt) { summarize_gaps(h, s, name_fmt, false); }

/* Records per real shard, counted by the library reader. */
static void reference_counts(size_t counts[N_SHARDS]) {
  for (int i = 0; i < N_SHARDS; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "data/validate%04d.tfrecord", i);
    yt_tfr_reader *r;
    yt_err err = {0};
    counts[i] = 0;
    if (yt_tfr_open(&r, shared_path(rel), &err)) { CHECK(0, "%s", err.msg); continue; }
    yt_tfr_record rec;
    while (yt_tfr_next(r, &rec, &err) == YT_OK) counts[i]++;
    yt_tfr_close(r);
  }
}

static void test_reader_basic(void) {
  size_t ref[N_SHARDS], total = 0;
  reference_counts(ref);
  for (int i = 0; i < N_SHARDS; i++) total += ref[i];
  CHECK(total == N_RECORDS, "reference reader found %zu records", total);

  yt_harness h;
  yt_err err = {0};
  const char *p[] = {data_pattern(), NULL};
  int rc = run_reader(&h, p, 0, 1, &err);
  CHECK(rc == YT_OK, "run: %s", err.msg);
  summary s;
  summarize(&h, &s, "validate%04u.tfrecord");
  CHECK(s.records == N_RECORDS, "%zu records", s.records);
  CHECK(s.max_n <= 64, "a message holds %zu records (message_records = 64)", s.max_n);
  CHECK(s.n_end == N_SHARDS, "%zu SHARD_END messages", s.n_end);
  for (uint32_t i = 0; i < N_SHARDS; i++) {
    CHECK(s.per_shard[i] == ref[i], "shard %u: %zu records, file holds %zu", i, s.per_shard[i], ref[i]);
    CHECK(s.ends[i] == 1, "shard %u: %zu SHARD_END", i, s.ends[i]);
    CHECK(s.end_order[i] == i, "shard %u came at position %u without shuffling", s.end_order[i], i);
  }
  CHECK(h.node.counts.emitted == N_RECORDS, "accounting saw %llu emitted", (unsigned long long)h.node.counts.emitted);
  uint64_t bytes = 0;
  struct stat st;
  for (int i = 0; i < N_SHARDS; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "data/validate%04d.tfrecord", i);
    if (stat(shared_path(rel), &st) == 0) bytes += (uint64_t)st.st_size;
  }
  CHECK(h.node.progress_unit && !strcmp(h.node.progress_unit, "bytes"), "progress unit");
  CHECK(h.node.progress_total == bytes && h.node.progress_done == bytes, "progress %llu / %llu, files %llu",
        (unsigned long long)h.node.progress_done, (unsigned long long)h.node.progress_total,
        (unsigned long long)bytes);
  yt_harness_close(&h);
}

static void test_reader_replicas(void) {
  for (int R = 2; R <= 3; R++) {
    size_t seen[N_SHARDS] = {0}, total = 0;
    for (int r = 0; r < R; r++) {
      yt_harness h;
      yt_err err = {0};
      const char *p[] = {data_pattern(), NULL};
      int rc = run_reader(&h, p, r, R, &err);
      CHECK(rc == YT_OK, "replica %d/%d: %s", r, R, err.msg);
      summary s;
      summarize(&h, &s, "validate%04u.tfrecord");
      total += s.records;
      for (int i = 0; i < N_SHARDS; i++) {
        if (s.ends[i]) seen[i]++;
        CHECK(!!s.ends[i] == (i % R == r), "replica %d/%d: shard %d read %zu times", r, R, i, s.ends[i]);
      }
      yt_harness_close(&h);
    }
    CHECK(total == N_RECORDS, "x%d: %zu records in all", R, total);
    for (int i = 0; i < N_SHARDS; i++) CHECK(seen[i] == 1, "x%d: shard %d read by %zu replicas", R, i, seen[i]);
  }
}

static void test_reader_epochs_shuffle(void) {
  yt_harness h;
  yt_err err = {0};
  const char *p2[] = {data_pattern(), "epochs=2", NULL};
  CHECK(run_reader(&h, p2, 0, 1, &err) == YT_OK, "%s", err.msg);
  summary s;
  summarize(&h, &s, "validate%04u.tfrecord");
  CHECK(s.records == 2 * N_RECORDS, "epochs = 2: %zu records", s.records);
  for (int i = 0; i < N_SHARDS; i++) CHECK(s.ends[i] == 2, "epochs = 2: shard %d read %zu times", i, s.ends[i]);
  CHECK(h.node.progress_total == h.node.progress_done && h.node.progress_total > 0, "progress");
  yt_harness_close(&h);

  /* shuffled: each epoch is a permutation, not the sorted order, same for a seed */
  uint32_t first[64];
  for (int run = 0; run < 2; run++) {
    const char *ps[] = {data_pattern(), "epochs=3", "shuffle_shards=true", "seed=7", NULL};
    CHECK(run_reader(&h, ps, 0, 1, &err) == YT_OK, "%s", err.msg);
    summarize(&h, &s, "validate%04u.tfrecord");
    CHECK(s.records == 3 * N_RECORDS && s.n_end == 3 * N_SHARDS, "shuffled: %zu records %zu ends", s.records,
          s.n_end);
    int sorted_epochs = 0;
    for (int e = 0; e < 3; e++) {
      int seen[N_SHARDS] = {0}, sorted = 1;
      for (int i = 0; i < N_SHARDS; i++) {
        uint32_t sh = s.end_order[e * N_SHARDS + i];
        if (sh < N_SHARDS) seen[sh]++;
        if (sh != (uint32_t)i) sorted = 0;
      }
      for (int i = 0; i < N_SHARDS; i++) CHECK(seen[i] == 1, "epoch %d: shard %d read %d times", e, i, seen[i]);
      sorted_epochs += sorted;
    }
    CHECK(sorted_epochs == 0, "%d shuffled epochs kept the sorted order", sorted_epochs);
    if (run == 0) memcpy(first, s.end_order, sizeof first);
    else CHECK(!memcmp(first, s.end_order, 3 * N_SHARDS * sizeof *first), "same seed, different order");
    CHECK(memcmp(s.end_order, s.end_order + N_SHARDS, N_SHARDS * sizeof *first), "epochs 0 and 1 share an order");
    yt_harness_close(&h);
  }
  /* shuffled with 2 replicas: per epoch, disjoint and complete */
  size_t seen[N_SHARDS] = {0};
  for (int r = 0; r < 2; r++) {
    const char *ps[] = {data_pattern(), "epochs=3", "shuffle_shards=true", "seed=7", NULL};
    CHECK(run_reader(&h, ps, r, 2, &err) == YT_OK, "%s", err.msg);
    summarize(&h, &s, "validate%04u.tfrecord");
    for (int i = 0; i < N_SHARDS; i++) seen[i] += s.ends[i];
    yt_harness_close(&h);
  }
  for (int i = 0; i < N_SHARDS; i++) CHECK(seen[i] == 3, "shuffled x2: shard %d read %zu times in 3 epochs", i, seen[i]);
  /* another seed, another order */
  const char *ps[] = {data_pattern(), "epochs=3", "shuffle_shards=true", "seed=8", NULL};
  CHECK(run_reader(&h, ps, 0, 1, &err) == YT_OK, "%s", err.msg);
  summarize(&h, &s, "validate%04u.tfrecord");
  CHECK(memcmp(first, s.end_order, 3 * N_SHARDS * sizeof *first), "seeds 7 and 8 gave the same order");
  yt_harness_close(&h);
}

static void test_reader_message_limits(void) {
  yt_harness h;
  yt_err err = {0};
  const char *p[] = {data_pattern(), "message_records=10", NULL};
  CHECK(run_reader(&h, p, 0, 1, &err) == YT_OK, "%s", err.msg);
  summary s;
  summarize(&h, &s, "validate%04u.tfrecord");
  CHECK(s.records == N_RECORDS, "%zu records", s.records);
  for (size_t k = 0; k < h.n_out[0]; k++) {
    yt_records r;
    if (yt_records_decode(&r, &h.out[0][k], &err)) continue;
    if (r.flags & YT_REC_SHARD_END) CHECK(r.n >= 1 && r.n <= 10, "last message of a shard: %u records", r.n);
    else CHECK(r.n == 10, "message %zu: %u records, expected 10", k, r.n);
  }
  yt_harness_close(&h);

  /* bytes: a message goes out once its payloads reach 10000 bytes (~2-3 records) */
  const char *pb[] = {data_pattern(), "message_bytes=10000", NULL};
  CHECK(run_reader(&h, pb, 0, 1, &err) == YT_OK, "%s", err.msg);
  summarize(&h, &s, "validate%04u.tfrecord");
  CHECK(s.records == N_RECORDS && s.msgs > N_RECORDS / 4, "%zu records in %zu messages", s.records, s.msgs);
  for (size_t k = 0; k < h.n_out[0]; k++) {
    yt_records r;
    if (yt_records_decode(&r, &h.out[0][k], &err) || r.n == 0) continue;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < r.n; i++) bytes += r.len[i];
    CHECK(bytes - r.len[r.n - 1] < 10000, "message %zu was full before its last record", k);
    if (!(r.flags & YT_REC_SHARD_END)) CHECK(bytes >= 10000, "message %zu sent at %llu bytes", k, (unsigned long long)bytes);
  }
  yt_harness_close(&h);

  /* drain: stopping after a few messages ends cleanly with what was built */
  const char *pd[] = {data_pattern(), NULL};
  CHECK(yt_harness_open(&h, "tfrecord_reader", pd, &err) == YT_OK, "%s", err.msg);
  int rc = YT_OK;
  for (int i = 0; i < 3 && rc == YT_OK; i++) rc = h.node.def->run(&h.node, &err);
  h.node.stopping = 1;
  rc = h.node.def->run(&h.node, &err);
  CHECK(rc == YT_EOF, "run while stopping returned %d", rc);
  CHECK(h.n_out[0] == 4 && h.node.counts.emitted == 3 * 64 + 1, "drain: %zu messages, %llu records", h.n_out[0],
        (unsigned long long)h.node.counts.emitted);
  yt_harness_close(&h);
}

/* Runs the reader over testdata files; returns rc, summary in *s. */
static int run_vectors(yt_harness *h, const char *files, const char *opt, yt_err *err) {
  static char pat[8192];
  char list[8192] = "";
  char copy[1024];
  snprintf(copy, sizeof copy, "%s", files);
  char *save = NULL;
  for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
    char rel[256];
    snprintf(rel, sizeof rel, "testdata/%s", f);
    if (*list) strcat(list, ",");
    strncat(list, shared_path(rel), sizeof list - strlen(list) - 1);
  }
  snprintf(pat, sizeof pat, "pattern=\"%s\"", list);
  const char *p[] = {pat, opt, NULL};
  return run_reader(h, p, 0, 1, err);
}

static void test_reader_corrupt(void) {
  static const struct {
    const char *file, *reason;
    int offset;
    size_t before;
  } v[] = {
      {"corrupt_data_crc.tfrecord", YT_TFR_DATA_CRC, 4705, 1},
      {"corrupt_length_crc.tfrecord", YT_TFR_LENGTH_CRC, 4705, 1},
      {"truncated.tfrecord", YT_TFR_TRUNCATED, 4705, 1},
      {"huge_length.tfrecord", YT_TFR_BEYOND_EOF, 4705, 1},
      {"garbage.tfrecord", YT_TFR_LENGTH_CRC, 0, 0},
  };
  yt_harness h;
  yt_err err;
  summary s;
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
    err = (yt_err){0};
    int rc = run_vectors(&h, v[k].file, "on_corrupt=fail", &err);
    CHECK(rc == YT_ECORRUPT, "%s: fail mode returned %d", v[k].file, rc);
    char off[64];
    snprintf(off, sizeof off, "byte offset %d", v[k].offset);
    CHECK_CONTAINS(err.msg, v[k].file);
    CHECK_CONTAINS(err.msg, off);
    CHECK_CONTAINS(err.msg, v[k].reason);
    CHECK_CONTAINS(err.msg, "on_corrupt = skip_record");
    yt_harness_close(&h);

    /* skip_shard: the good records before the damage, then SHARD_END */
    rc = run_vectors(&h, v[k].file, "on_corrupt=skip_shard", &err);
    CHECK(rc == YT_OK, "%s: skip_shard: %s", v[k].file, err.msg);
    summarize(&h, &s, v[k].file);
    CHECK(s.records == v[k].before && s.ends[0] == 1, "%s: skip_shard: %zu records, %zu ends", v[k].file, s.records,
          s.ends[0]);
    CHECK(extra(&h.node, "skipped_shards") == 1, "%s: skipped_shards %llu", v[k].file,
          (unsigned long long)extra(&h.node, "skipped_shards"));
    yt_harness_close(&h);

    /* skip_record: only a data CRC mismatch leaves the framing intact */
    rc = run_vectors(&h, v[k].file, "on_corrupt=skip_record", &err);
    CHECK(rc == YT_OK, "%s: skip_record: %s", v[k].file, err.msg);
    summarize_gaps(&h, &s, v[k].file, true);
    bool resync = !strcmp(v[k].reason, YT_TFR_DATA_CRC);
    CHECK(s.records == (resync ? 11 : v[k].before), "%s: skip_record: %zu records", v[k].file, s.records);
    CHECK(extra(&h.node, "skipped_records") == (resync ? 1u : 0u), "%s: skipped_records %llu", v[k].file,
          (unsigned long long)extra(&h.node, "skipped_records"));
    CHECK(extra(&h.node, "skipped_shards") == (resync ? 0u : 1u), "%s: skipped_shards %llu", v[k].file,
          (unsigned long long)extra(&h.node, "skipped_shards"));
    if (resync && h.n_out[0] == 1) { /* the skipped record's index is missing: 0, 2, 3 ... */
      yt_records r;
      if (yt_records_decode(&r, &h.out[0][0], &err) == YT_OK && r.n == 11)
        CHECK(r.index[0] == 0 && r.index[1] == 2 && r.index[10] == 11 && r.shard_records == 11,
              "indices %llu %llu %llu", (unsigned long long)r.index[0], (unsigned long long)r.index[1],
              (unsigned long long)r.index[10]);
    }
    yt_harness_close(&h);
  }

  /* skip_shard goes on with the next shard (sorted: corrupt_* < video_edge) */
  int rc = run_vectors(&h, "video_edge.tfrecord,corrupt_length_crc.tfrecord", "on_corrupt=skip_shard", &err);
  CHECK(rc == YT_OK, "%s", err.msg);
  CHECK(h.node.counts.emitted == 1 + 12, "skip_shard then a good shard: %llu records",
        (unsigned long long)h.node.counts.emitted);
  yt_harness_close(&h);

  /* verify_crc = false reads past a data CRC mismatch; framing is still checked */
  rc = run_vectors(&h, "corrupt_data_crc.tfrecord", "verify_crc=false", &err);
  CHECK(rc == YT_OK && h.node.counts.emitted == 12, "verify_crc = false: rc %d, %llu records", rc,
        (unsigned long long)h.node.counts.emitted);
  yt_harness_close(&h);

  /* bad protobuf is fine framing: the reader passes both records on */
  rc = run_vectors(&h, "bad_protobuf.tfrecord", NULL, &err);
  CHECK(rc == YT_OK && h.node.counts.emitted == 2, "bad_protobuf: rc %d", rc);
  yt_harness_close(&h);

  /* an empty shard still gets its (empty) SHARD_END message */
  rc = run_vectors(&h, "empty.tfrecord", NULL, &err);
  CHECK(rc == YT_OK && h.n_out[0] == 1, "empty: rc %d, %zu messages", rc, h.n_out[0]);
  summarize(&h, &s, "empty.tfrecord");
  CHECK(s.records == 0 && s.ends[0] == 1, "empty: %zu records %zu ends", s.records, s.ends[0]);
  yt_harness_close(&h);

  /* no match */
  const char *p[] = {"pattern=\"/nonexistent/dir/x*.tfrecord\"", NULL};
  rc = yt_harness_open(&h, "tfrecord_reader", p, &err);
  CHECK(rc == YT_EUSAGE, "no match: rc %d", rc);
  CHECK_CONTAINS(err.msg, "pattern '/nonexistent/dir/x*.tfrecord' matches no files");
  if (rc == YT_OK) yt_harness_close(&h);
}

/* by_reference: with consumers on the host, plain shards go as where their
 * records lie; read (yt_records_resolve) they are the copying reader's
 * messages byte for byte, and damage shows where they are read. */
static void test_reader_by_reference(void) {
  yt_harness copy, ref;
  yt_err err = {0};
  const char *p[] = {data_pattern(), NULL};
  int rc = run_reader(&copy, p, 0, 1, &err);
  CHECK(rc == YT_OK, "copying run: %s", err.msg);
  g_send_refs = 2; /* a consumer with two replicas */
  rc = run_reader(&ref, p, 0, 1, &err);
  CHECK(rc == YT_OK, "by reference: %s", err.msg);
  CHECK(ref.n_out[0] == copy.n_out[0], "%zu messages by reference, %zu copying", ref.n_out[0], copy.n_out[0]);
  CHECK(ref.node.counts.emitted == N_RECORDS && ref.node.counts.out_bytes < 200000,
        "by reference: %llu records in %llu bytes", (unsigned long long)ref.node.counts.emitted,
        (unsigned long long)ref.node.counts.out_bytes);
  size_t refs = 0, same = 0;
  for (size_t k = 0; k < ref.n_out[0] && k < copy.n_out[0]; k++) {
    yt_msg *m = &ref.out[0][k], *c = &copy.out[0][k];
    refs += yt_records_is_ref(m) == 1;
    if ((rc = yt_records_resolve(m, &err)) != 1) {
      CHECK(0, "message %zu: resolve gave %d: %s", k, rc, err.msg);
      continue;
    }
    bool eq = m->nframes == c->nframes && m->records == c->records;
    for (size_t f = 0; eq && f < m->nframes; f++)
      eq = m->frames[f].len == c->frames[f].len && !memcmp(m->frames[f].data, c->frames[f].data, c->frames[f].len);
    same += eq;
    CHECK(yt_records_resolve(m, &err) == 0, "message %zu read twice", k);
  }
  CHECK(refs == copy.n_out[0] && same == copy.n_out[0], "%zu of %zu messages by reference, %zu read identical", refs,
        copy.n_out[0], same);
  uint64_t copied_bytes = copy.node.counts.out_bytes;
  yt_harness_close(&copy);
  yt_harness_close(&ref);

  /* the harness reads them before a consumer sees them, as the runner does */
  rc = run_reader(&ref, p, 0, 1, &err);
  yt_harness sink;
  const char *sp[] = {"expect_records=2069", NULL};
  CHECK(yt_harness_open(&sink, "null_sink", sp, &err) == YT_OK, "%s", err.msg);
  for (size_t k = 0; rc == YT_OK && k < ref.n_out[0]; k++) rc = yt_harness_feed(&sink, 0, &ref.out[0][k], &err);
  if (rc == YT_OK) rc = yt_harness_flush(&sink, &err);
  CHECK(rc == YT_OK && sink.node.counts.consumed == N_RECORDS, "null_sink after a reader by reference: %s",
        err.msg);
  CHECK(sink.node.counts.in_bytes == copied_bytes, "null_sink counted %llu bytes in, the copying reader sent %llu",
        (unsigned long long)sink.node.counts.in_bytes, (unsigned long long)copied_bytes);
  yt_harness_close(&sink);
  yt_harness_close(&ref);

  /* a data CRC mismatch: the reader walks past it, reading the message finds it */
  rc = run_vectors(&ref, "corrupt_data_crc.tfrecord", NULL, &err);
  CHECK(rc == YT_OK && ref.node.counts.emitted == 12 && ref.n_out[0] == 1 && yt_records_is_ref(&ref.out[0][0]),
        "corrupt_data_crc by reference: rc %d, %llu records", rc, (unsigned long long)ref.node.counts.emitted);
  if (ref.n_out[0] == 1) {
    rc = yt_records_resolve(&ref.out[0][0], &err);
    CHECK(rc == YT_ECORRUPT, "a damaged record read: %d", rc);
    CHECK_CONTAINS(err.msg, "corrupt_data_crc.tfrecord: byte offset 4705 (record 1): " YT_TFR_DATA_CRC);
    CHECK_CONTAINS(err.msg, "on_corrupt = skip_record");
    CHECK(yt_records_is_ref(&ref.out[0][0]), "a failed read changed the message");
  }
  yt_harness_close(&ref);
  rc = run_vectors(&ref, "corrupt_data_crc.tfrecord", "verify_crc=false", &err);
  CHECK(rc == YT_OK && ref.n_out[0] == 1 && yt_records_resolve(&ref.out[0][0], &err) == 1,
        "verify_crc = false by reference: %s", err.msg);
  yt_harness_close(&ref);
  /* framing damage is still the reader's to report */
  rc = run_vectors(&ref, "corrupt_length_crc.tfrecord", NULL, &err);
  CHECK(rc == YT_ECORRUPT, "length CRC by reference: rc %d", rc);
  CHECK_CONTAINS(err.msg, "byte offset 4705");
  yt_harness_close(&ref);

  /* skipping needs the reader to see the data; by_reference = false copies */
  const char *opts[] = {"on_corrupt=skip_record", "on_corrupt=skip_shard", "by_reference=never"};
  for (size_t i = 0; i < 3; i++) {
    rc = run_vectors(&ref, "video_edge.tfrecord", opts[i], &err);
    CHECK(rc == YT_OK && ref.n_out[0] >= 1 && !yt_records_is_ref(&ref.out[0][0]), "%s: sent by reference",
          opts[i]);
    yt_harness_close(&ref);
  }
  /* auto: one consumer process copies beside the reader; always sends refs */
  g_send_refs = 1;
  rc = run_vectors(&ref, "video_edge.tfrecord", NULL, &err);
  CHECK(rc == YT_OK && ref.n_out[0] >= 1 && !yt_records_is_ref(&ref.out[0][0]), "auto, one consumer: by reference");
  yt_harness_close(&ref);
  rc = run_vectors(&ref, "video_edge.tfrecord", "by_reference=always", &err);
  CHECK(rc == YT_OK && ref.n_out[0] >= 1 && yt_records_is_ref(&ref.out[0][0]), "always, one consumer: copied");
  yt_harness_close(&ref);
  g_send_refs = 0;
}

/* ---- sinks ------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}
static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Entries of dir (hidden ones too), or -1 if it cannot be read. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static bool same_file(const char *a, const char *b) {
  size_t na = 0, nb = 0;
  char *x = check_slurp(a, &na), *y = check_slurp(b, &nb);
  bool same = x && y && na == nb && !memcmp(x, y, na);
  free(x), free(y);
  return same;
}

/* Feeds every captured message of src (its pad 0) into sink h. */
static int feed_all(yt_harness *h, const yt_harness *src, yt_err *err) {
  for (size_t k = 0; k < src->n_out[0]; k++) {
    int rc = yt_harness_feed(h, 0, &src->out[0][k], err);
    if (rc < 0) return rc;
  }
  return YT_OK;
}

static int open_sink(yt_harness *h, const char *type, const char *a, const char *b, const char *c, int replicas,
                     yt_err *err) {
  const char *p[] = {a, b, c, NULL};
  return yt_harness_open_replica(h, type, p, 0, replicas, err);
}

static void test_writer_preserve(const char *tmp) {
  yt_harness rd, w;
  yt_err err = {0};
  const char *p[] = {data_pattern(), "message_records=50", NULL};
  CHECK(run_reader(&rd, p, 0, 1, &err) == YT_OK, "%s", err.msg);
  char dir[512], arg[600];
  snprintf(dir, sizeof dir, "%s/copy/nested", tmp); /* parents are created */
  snprintf(arg, sizeof arg, "output_dir=\"%s\"", dir);
  int rc = open_sink(&w, "tfrecord_writer", arg, "preserve_shards=true", NULL, 1, &err);
  CHECK(rc == YT_OK, "writer: %s", err.msg);
  if (rc == YT_OK) {
    CHECK(feed_all(&w, &rd, &err) == YT_OK, "feed: %s", err.msg);
    CHECK(yt_harness_flush(&w, &err) == YT_OK, "flush: %s", err.msg);
    CHECK(extra(&w.node, "shards_written") == N_SHARDS, "shards_written %llu",
          (unsigned long long)extra(&w.node, "shards_written"));
    CHECK(w.node.counts.consumed == N_RECORDS, "consumed %llu", (unsigned long long)w.node.counts.consumed);
    yt_harness_close(&w);
  }
  CHECK(count_entries(dir) == N_SHARDS, "%d files in the copy", count_entries(dir));
  for (int i = 0; i < N_SHARDS; i++) {
    char rel[64], out[700];
    snprintf(rel, sizeof rel, "data/validate%04d.tfrecord", i);
    snprintf(out, sizeof out, "%s/validate%04d.tfrecord", dir, i);
    CHECK(same_file(shared_path(rel), out), "%s differs from its input", out);
  }
  rm_tree(dir);

  /* two reader replicas interleaved into one writer: still exact copies */
  yt_harness r2[2];
  for (int r = 0; r < 2; r++) {
    const char *pr[] = {data_pattern(), "message_records=16", NULL};
    CHECK(run_reader(&r2[r], pr, r, 2, &err) == YT_OK, "%s", err.msg);
  }
  rc = open_sink(&w, "tfrecord_writer", arg, "preserve_shards=true", NULL, 1, &err);
  for (size_t k = 0; rc == YT_OK && (k < r2[0].n_out[0] || k < r2[1].n_out[0]); k++)
    for (int r = 0; r < 2 && rc == YT_OK; r++)
      if (k < r2[r].n_out[0]) rc = yt_harness_feed(&w, 0, &r2[r].out[0][k], &err);
  CHECK(rc == YT_OK, "interleaved feed: %s", err.msg);
  CHECK(yt_harness_flush(&w, &err) == YT_OK, "interleaved flush: %s", err.msg);
  yt_harness_close(&w);
  for (int i = 0; i < N_SHARDS; i++) {
    char rel[64], out[700];
    snprintf(rel, sizeof rel, "data/validate%04d.tfrecord", i);
    snprintf(out, sizeof out, "%s/validate%04d.tfrecord", dir, i);
    CHECK(same_file(shared_path(rel), out), "interleaved: %s differs from its input", out);
  }
  yt_harness_close(&r2[0]);
  yt_harness_close(&r2[1]);
  rm_tree(dir);

  /* a shard cut short (no SHARD_END): flush fails, nothing visible, no temporary left */
  rc = open_sink(&w, "tfrecord_writer", arg, "preserve_shards=true", NULL, 1, &err);
  size_t k = 0;
  for (; rc == YT_OK && k < rd.n_out[0]; k++) {
    yt_records r;
    if (yt_records_decode(&r, &rd.out[0][k], &err) || (r.flags & YT_REC_SHARD_END)) break;
    rc = yt_harness_feed(&w, 0, &rd.out[0][k], &err);
  }
  CHECK(rc == YT_OK && k > 0, "partial feed: %s", err.msg);
  rc = yt_harness_flush(&w, &err);
  CHECK(rc < 0, "flush with an open shard succeeded");
  CHECK_CONTAINS(err.msg, "validate0000.tfrecord");
  char cnt[64];
  snprintf(cnt, sizeof cnt, "after %zu records", k * 50);
  CHECK_CONTAINS(err.msg, cnt);
  CHECK(count_entries(dir) == 0, "%d files left after a failed flush", count_entries(dir));
  yt_harness_close(&w);

  /* fini without flush aborts too */
  rc = open_sink(&w, "tfrecord_writer", arg, "preserve_shards=true", NULL, 1, &err);
  if (rc == YT_OK) rc = yt_harness_feed(&w, 0, &rd.out[0][0], &err);
  CHECK(rc == YT_OK && count_entries(dir) == 1, "an open shard has one (hidden) temporary: %d",
        count_entries(dir));
  yt_harness_close(&w);
  CHECK(count_entries(dir) == 0, "%d files left after fini", count_entries(dir));

  /* SHARD_END with a count that does not match what arrived */
  yt_records_builder b;
  yt_records_builder_init(&b, 3, "lying.tfrecord");
  for (int i = 0; i < 3; i++) yt_records_add(&b, (uint64_t)i, "abc", 3, &err);
  b.flags = YT_REC_SHARD_END;
  b.shard_records = 5;
  yt_msg m;
  yt_msg_init(&m, YT_MSG_DATA);
  CHECK(yt_records_to_msg(&b, &m, &err) == YT_OK, "%s", err.msg);
  yt_records_builder_free(&b);
  rc = open_sink(&w, "tfrecord_writer", arg, "preserve_shards=true", NULL, 1, &err);
  if (rc == YT_OK) rc = yt_harness_feed(&w, 0, &m, &err);
  CHECK(rc < 0, "a shard with a wrong count was committed");
  CHECK_CONTAINS(err.msg, "lying.tfrecord");
  yt_harness_close(&w);
  yt_msg_clear(&m);
  CHECK(count_entries(dir) == 0, "%d files left after a count mismatch", count_entries(dir));
  yt_harness_close(&rd);

  /* epochs = 2 sends every shard twice: refused rather than overwritten */
  const char *pe[] = {data_pattern(), "epochs=2", NULL};
  CHECK(run_reader(&rd, pe, 0, 1, &err) == YT_OK, "%s", err.msg);
  rc = open_sink(&w, "tfrecord_writer", arg, "preserve_shards=true", NULL, 1, &err);
  if (rc == YT_OK) rc = feed_all(&w, &rd, &err);
  CHECK(rc < 0, "a shard written twice");
  CHECK_CONTAINS(err.msg, "second time");
  yt_harness_close(&w);
  yt_harness_close(&rd);
  rm_tree(dir);

  /* preserve_shards needs x1 */
  rc = open_sink(&w, "tfrecord_writer", arg, "preserve_shards=true", NULL, 2, &err);
  CHECK(rc == YT_EUSAGE, "preserve_shards x2 accepted");
  CHECK_CONTAINS(err.msg, "x1");
}

/* Reads every record of the files in dir with names[], comparing them in order
 * with the records of src's messages. Returns the count. */
static size_t compare_records(const yt_harness *src, const char *dir, const char *fmt, int files) {
  size_t k = 0, i = 0, total = 0;
  yt_records r = {0};
  for (int f = 0; f < files; f++) {
    char name[64], path[700];
    snprintf(name, sizeof name, fmt, f);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    yt_tfr_reader *rd;
    yt_err err = {0};
    if (yt_tfr_open(&rd, path, &err)) { CHECK(0, "%s", err.msg); continue; }
    yt_tfr_record rec;
    int rc;
    while ((rc = yt_tfr_next(rd, &rec, &err)) == YT_OK) {
      while (i >= r.n && k < src->n_out[0]) {
        yt_records_decode(&r, &src->out[0][k++], &err);
        i = 0;
      }
      if (i >= r.n) { CHECK(0, "%s holds more records than were sent", path); break; }
      size_t off = 0;
      for (uint32_t j = 0; j < i; j++) off += r.len[j];
      CHECK(rec.len == r.len[i] && !memcmp(rec.data, r.data + off, rec.len), "%s: record %llu differs", path,
            (unsigned long long)rec.index);
      i++, total++;
    }
    CHECK(rc == YT_EOF, "%s: %s", path, err.msg);
    yt_tfr_close(rd);
  }
  return total;
}

static void test_writer_rotate(const char *tmp) {
  yt_harness rd, w;
  yt_err err = {0};
  const char *p[] = {data_pattern(), NULL};
  CHECK(run_reader(&rd, p, 0, 1, &err) == YT_OK, "%s", err.msg);
  char dir[512], arg[600];
  snprintf(dir, sizeof dir, "%s/rot", tmp);
  snprintf(arg, sizeof arg, "output_dir=\"%s\"", dir);
  int rc = open_sink(&w, "tfrecord_writer", arg, "shard_records=500", NULL, 1, &err);
  if (rc == YT_OK) rc = feed_all(&w, &rd, &err);
  if (rc == YT_OK) rc = yt_harness_flush(&w, &err);
  CHECK(rc == YT_OK, "rotate: %s", err.msg);
  CHECK(extra(&w.node, "shards_written") == 5, "rotate: %llu files", (unsigned long long)extra(&w.node, "shards_written"));
  yt_harness_close(&w);
  CHECK(count_entries(dir) == 5, "rotate: %d files for 2069 records at 500 per file", count_entries(dir));
  CHECK(compare_records(&rd, dir, "part-r0-%05d.tfrecord", 5) == N_RECORDS, "rotate: records read back");
  rm_tree(dir);

  /* zstd, another prefix, replica 1 of 2 */
  const char *pz[] = {arg, "shard_records=1000", "compress=zstd", "prefix=x", NULL};
  rc = yt_harness_open_replica(&w, "tfrecord_writer", pz, 1, 2, &err);
  if (rc == YT_OK) rc = feed_all(&w, &rd, &err);
  if (rc == YT_OK) rc = yt_harness_flush(&w, &err);
  CHECK(rc == YT_OK, "zstd: %s", err.msg);
  yt_harness_close(&w);
  CHECK(count_entries(dir) == 3, "zstd: %d files", count_entries(dir));
  char path[700];
  snprintf(path, sizeof path, "%s/x-r1-00002.tfrecord.zst", dir);
  size_t n = 0;
  char *z = check_slurp(path, &n);
  CHECK(z && n > 4 && !memcmp(z, "\x28\xb5\x2f\xfd", 4), "%s is not zstd", path);
  free(z);
  CHECK(compare_records(&rd, dir, "x-r1-%05d.tfrecord.zst", 3) == N_RECORDS, "zstd: records read back");
  /* ... and through tfrecord_reader: .zst shards decompress on the way */
  char pat[800];
  snprintf(pat, sizeof pat, "pattern=\"%s/*.zst\"", dir);
  const char *pr[] = {pat, NULL};
  yt_harness zr;
  CHECK(run_reader(&zr, pr, 0, 1, &err) == YT_OK, "reading .zst: %s", err.msg);
  summary s;
  summarize(&zr, &s, "x-r1-%05u.tfrecord.zst");
  CHECK(s.records == N_RECORDS && s.n_end == 3, "reading .zst: %zu records, %zu shards", s.records, s.n_end);
  CHECK(zr.node.progress_done == zr.node.progress_total, "reading .zst: progress %llu / %llu",
        (unsigned long long)zr.node.progress_done, (unsigned long long)zr.node.progress_total);
  yt_harness_close(&zr);
  rm_tree(dir);
  yt_harness_close(&rd);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
  return h;
}

static void test_null_sink(void) {
  yt_harness rd, h;
  yt_err err = {0};
  const char *p[] = {data_pattern(), NULL};
  CHECK(run_reader(&rd, p, 0, 1, &err) == YT_OK, "%s", err.msg);
  uint64_t sums[3] = {0};
  for (int run = 0; run < 3; run++) {
    int rc = open_sink(&h, "null_sink", "expect_records=2069", "checksum=true", NULL, 1, &err);
    for (size_t k = run == 2; rc == YT_OK && k < rd.n_out[0]; k++) rc = yt_harness_feed(&h, 0, &rd.out[0][k], &err);
    if (rc == YT_OK) rc = yt_harness_flush(&h, &err);
    sums[run] = extra(&h.node, "checksum");
    if (run < 2) CHECK(rc == YT_OK, "expect_records = 2069: %s", err.msg);
    else {
      CHECK(rc < 0, "a missing message went unnoticed");
      CHECK_CONTAINS(err.msg, "null_sink: expected 2069 records, got 2005");
    }
    yt_harness_close(&h);
  }
  CHECK(sums[0] != 0 && sums[0] == sums[1], "checksums of two identical runs: %llx %llx",
        (unsigned long long)sums[0], (unsigned long long)sums[1]);
  CHECK(sums[2] != sums[0], "checksum did not change without the first message");
  int rc = open_sink(&h, "null_sink", NULL, NULL, NULL, 1, &err);
  if (rc == YT_OK) rc = feed_all(&h, &rd, &err);
  if (rc == YT_OK) rc = yt_harness_flush(&h, &err);
  CHECK(rc == YT_OK && extra(&h.node, "checksum") == 0, "no check, no checksum: %s", err.msg);
  yt_harness_close(&h);
  /* the exact FNV-1a 64 of the frames: a reference here, itself checked on a
   * published vector, over one real records message */
  CHECK(fnv1a(0xcbf29ce484222325ull, "foobar", 6) == 0x85944171f73967e8ull, "reference FNV-1a");
  const yt_msg *m = &rd.out[0][0];
  uint64_t want = 0xcbf29ce484222325ull;
  for (size_t f = 0; f < m->nframes; f++) want = fnv1a(want, m->frames[f].data, m->frames[f].len);
  rc = open_sink(&h, "null_sink", "checksum=true", NULL, NULL, 1, &err);
  if (rc == YT_OK) rc = yt_harness_feed(&h, 0, m, &err);
  if (rc == YT_OK) rc = yt_harness_flush(&h, &err);
  CHECK(rc == YT_OK && extra(&h.node, "checksum") == want, "checksum %llx, FNV-1a of the frames %llx (%s)",
        (unsigned long long)extra(&h.node, "checksum"), (unsigned long long)want, err.msg);
  yt_harness_close(&h);
  rc = open_sink(&h, "null_sink", "expect_records=5", NULL, NULL, 2, &err);
  CHECK(rc == YT_EUSAGE, "expect_records with x2 accepted");
  yt_harness_close(&rd);
}

static void test_csv_sink(const char *tmp) {
  yt_batch_builder b;
  yt_err err = {0};
  yt_batch_builder_init(&b, 2, YT_DT_F32, 0);
  const float rows[2] = {0.5f, -1.0f};
  const int32_t l1[] = {1, 2, 3861}, l3[] = {7};
  yt_batch_add(&b, 0, 0, "Ab3d", 4, l1, 3, rows, 1, &err);
  yt_batch_add(&b, 0, 1, "x,y", 3, NULL, 0, rows, 1, &err);
  yt_batch_add(&b, 0, 2, "q\"z", 3, l3, 1, rows, 1, &err);
  yt_msg m;
  yt_msg_init(&m, YT_MSG_DATA);
  CHECK(yt_batch_to_msg(&b, &m, &err) == YT_OK, "%s", err.msg);
  yt_batch_builder_free(&b);

  char path[700], arg[800], dir[600];
  snprintf(dir, sizeof dir, "%s/csv", tmp);
  snprintf(path, sizeof path, "%s/out.csv", dir);
  snprintf(arg, sizeof arg, "output_file=\"%s\"", path);
  static const char want[] = "VideoId,Labels\nAb3d,\"1 2 3861\"\n\"x,y\",\"\"\n\"q\"\"z\",\"7\"\n";
  for (int header = 1; header >= 0; header--) {
    yt_harness h;
    int rc = open_sink(&h, "csv_sink", arg, header ? "header=true" : "header=false", "format=labels", 1, &err);
    if (rc == YT_OK) rc = yt_harness_feed(&h, 0, &m, &err);
    if (rc == YT_OK) rc = yt_harness_feed(&h, 0, &m, &err); /* twice: rows append */
    CHECK(rc == YT_OK, "csv: %s", err.msg);
    CHECK(access(path, F_OK) != 0 && count_entries(dir) == 1, "csv visible before flush (%d entries)",
          count_entries(dir));
    rc = yt_harness_flush(&h, &err);
    CHECK(rc == YT_OK, "csv flush: %s", err.msg);
    yt_harness_close(&h);
    char *got = check_slurp(path, NULL);
    const char *body = want + strlen("VideoId,Labels\n");
    char expect[512];
    snprintf(expect, sizeof expect, "%s%s%s", header ? "VideoId,Labels\n" : "", body, body);
    CHECK(got && !strcmp(got, expect), "csv (header=%d):\n%s\nexpected:\n%s", header, got ? got : "(none)", expect);
    free(got);
    CHECK(count_entries(dir) == 1, "csv: %d entries beside the output", count_entries(dir));
    unlink(path);
  }
  /* closed without flush (a failed run): no output, no temporary */
  yt_harness h;
  int rc = open_sink(&h, "csv_sink", arg, "format=labels", NULL, 1, &err);
  if (rc == YT_OK) rc = yt_harness_feed(&h, 0, &m, &err);
  CHECK(rc == YT_OK, "%s", err.msg);
  yt_harness_close(&h);
  CHECK(count_entries(dir) == 0, "csv: %d entries left after fini without flush", count_entries(dir));
  rc = open_sink(&h, "csv_sink", arg, NULL, NULL, 2, &err);
  CHECK(rc == YT_EUSAGE, "csv_sink x2 accepted");
  yt_msg_clear(&m);
}

static void test_sinks(void) {
  char tmp[] = "/tmp/yt_io_nodes_XXXXXX";
  if (!mkdtemp(tmp)) { CHECK(0, "mkdtemp failed"); return; }
  test_writer_preserve(tmp);
  test_writer_rotate(tmp);
  test_null_sink();
  test_csv_sink(tmp);
  rm_tree(tmp);
  CHECK(access(tmp, F_OK) != 0, "%s not removed", tmp);
}

int main(void) {
  test_reader_basic();
  test_reader_replicas();
  test_reader_epochs_shuffle();
  test_reader_message_limits();
  test_reader_corrupt();
  test_reader_by_reference();
  test_sinks();
  return check_report("test_io_nodes");
}
