/* test_real_data: the real YouTube-8M 2018 validation shards and vocabulary
 * in ../shared/data: record counts per shard, no CRC errors, the first record
 * decoded by hand in SOURCES.md, every record valid for the video schema; and
 * vocabulary.csv through the RFC 4180 parser (plus the parser's edge cases). */
#include <math.h>
#include <unistd.h>

#include "check.h"
#include "formats/csv.h"
#include "formats/tfrecord.h"
#include "formats/yt8m.h"

static void shards(void) {
  static const int counts[7] = {284, 305, 313, 300, 284, 301, 282};
  yt_schema s;
  yt_err err = {0};
  yt_schema_init(&s, YT_LEVEL_VIDEO, NULL, NULL, &err);
  yt_record r = {0};
  long total = 0, labels = 0;
  int64_t max_label = -1;
  for (int k = 0; k < 7; k++) {
    char rel[64];
    snprintf(rel, sizeof rel, "data/validate%04d.tfrecord", k);
    yt_tfr_reader *rd;
    if (yt_tfr_open(&rd, shared_path(rel), &err) < 0) { CHECK(0, "%s", err.msg); continue; }
    yt_tfr_record tr;
    int n = 0, rc;
    while ((rc = yt_tfr_next(rd, &tr, &err)) == YT_OK) {
      int d = yt_record_decode(&r, &s, tr.data, tr.len, &err);
      CHECK(d == YT_OK, "%s record %d: %s", rel, n, err.msg);
      CHECK(r.id.n == 4, "%s record %d: id of %zu bytes", rel, n, r.id.n);
      labels += (long)r.n_labels;
      for (size_t i = 0; i < r.n_labels; i++) if (r.labels[i] > max_label) max_label = r.labels[i];
      if (k == 0 && n == 0) {
        CHECK(r.id.n == 4 && !memcmp(r.id.p, "02aa", 4), "first id");
        CHECK(r.n_labels == 4 && r.labels[0] == 3 && r.labels[1] == 4 && r.labels[2] == 9 && r.labels[3] == 34, "first labels");
        CHECK(fabsf(r.video[0] - -0.7816f) < 1e-4 && fabsf(r.video[1] - 0.105f) < 1e-3 && fabsf(r.video[2] - 1.5639f) < 1e-4,
              "first mean_rgb values %g %g %g", r.video[0], r.video[1], r.video[2]);
        CHECK(fabsf(r.video[1024] - 0.9267f) < 1e-4 && fabsf(r.video[1025] - 0.4857f) < 1e-4, "first mean_audio values");
      }
      n++;
    }
    CHECK(rc == YT_EOF, "%s: %s", rel, err.msg);
    CHECK(n == counts[k], "%s: %d records, expected %d", rel, n, counts[k]);
    total += n;
    yt_tfr_close(rd);
  }
  CHECK(total == 2069, "%ld records in all", total);
  CHECK(max_label == 3860, "max label %lld", (long long)max_label);
  double per = (double)labels / (double)total;
  CHECK(per > 2.9 && per < 3.2, "labels per video %.3f (SOURCES.md: 3.04)", per);
  printf("real shards: %ld records, %.3f labels/video, max label %lld, 0 CRC errors\n", total, per, (long long)max_label);
  yt_record_free(&r);
}

static void vocabulary(void) {
  yt_vocab v;
  yt_err err = {0};
  int rc = yt_vocab_load(&v, shared_path("data/vocabulary.csv"), &err);
  CHECK(rc == YT_OK, "%s", err.msg);
  if (rc) return;
  CHECK(v.n == 3862, "%d classes", v.n);
  /* 3,730 rows quote a field (3,726 for commas); 1,122 of them hold doubled
   * quotes: the rows a split(',') reader gets wrong in the worst way. */
  CHECK(v.quoted_rows == 3730, "%d quoted rows", v.quoted_rows);
  CHECK(v.escaped_rows == 1122, "%d rows with doubled quotes", v.escaped_rows);
  CHECK(!strcmp(v.name[0], "Game") && v.train_count[0] == 788288, "row 0: %s %ld", v.name[0], v.train_count[0]);
  CHECK(!strcmp(v.name[3861], "Gamblerz") && v.train_count[3861] == 140, "row 3861: %s", v.name[3861]);
  yt_vocab_free(&v);
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

static void csv_edges(void) {
  char path[] = "/tmp/yt_csv_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return;
  close(fd);
  yt_err err = {0};
  yt_csv c;
  write_file(path, "a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",,x\nlast");
  CHECK(yt_csv_open(&c, path, &err) == YT_OK, "%s", err.msg);
  CHECK(yt_csv_next(&c, &err) == YT_OK && c.n == 3, "row 1: %zu fields", c.n);
  CHECK(!strcmp(yt_csv_field(&c, 1), "b,c") && !strcmp(yt_csv_field(&c, 2), "say \"hi\"") && c.quoted && c.escaped, "row 1 fields");
  CHECK(yt_csv_next(&c, &err) == YT_OK && c.n == 3 && c.row_line == 2, "row 2");
  CHECK(!strcmp(yt_csv_field(&c, 0), "multi\nline") && !strcmp(yt_csv_field(&c, 1), ""), "row 2 fields");
  CHECK(yt_csv_next(&c, &err) == YT_OK && c.n == 1 && !strcmp(yt_csv_field(&c, 0), "last") && c.row_line == 4, "row 3 (no newline)");
  CHECK(yt_csv_next(&c, &err) == YT_EOF, "end");
  yt_csv_close(&c);
  write_file(path, "ok\n\"open,\n");
  yt_csv_open(&c, path, &err);
  yt_csv_next(&c, &err);
  CHECK(yt_csv_next(&c, &err) == YT_ECORRUPT, "unterminated quote");
  CHECK_CONTAINS(err.msg, ":2: unterminated quoted field");
  yt_csv_close(&c);
  /* the writer's quoting reads back */
  FILE *f = fopen(path, "w");
  yt_csv_put(f, "plain", false);
  yt_csv_put(f, "with, comma and \"quotes\"", true);
  fclose(f);
  yt_csv_open(&c, path, &err);
  CHECK(yt_csv_next(&c, &err) == YT_OK && c.n == 2 && !strcmp(yt_csv_field(&c, 1), "with, comma and \"quotes\""), "writer round trip");
  yt_csv_close(&c);
  /* vocabulary checks */
  yt_vocab v;
  write_file(path, "Index,Name\n0,x\n");
  CHECK(yt_vocab_load(&v, path, &err) == YT_EINVAL, "wrong header accepted");
  CHECK_CONTAINS(err.msg, "header");
  write_file(path, YT_VOCAB_HEADER "\n0,1,/m/a,A,u,v,,,d\n2,1,/m/b,B,u,v,,,d\n");
  CHECK(yt_vocab_load(&v, path, &err) == YT_EINVAL, "gap in indices accepted");
  CHECK_CONTAINS(err.msg, ":3: Index '2', expected 1");
  write_file(path, YT_VOCAB_HEADER "\n0,1,/m/a,A,u,v\n");
  CHECK(yt_vocab_load(&v, path, &err) == YT_EINVAL, "short row accepted");
  CHECK_CONTAINS(err.msg, ":2: 6 columns, expected 9");
  unlink(path);
}

int main(void) {
  shards();
  vocabulary();
  csv_edges();
  return check_report("test_real_data");
}
