/* test_tfrecord: the reader on every conformance vector (records, offsets,
 * reasons) through both the mmap and the read() path, writer -> reader round
 * trips (plain and zstd, empty and large records), atomic commit, damage
 * inside a zstd stream, and the copying read (yt_tfr_peek + next_into) against
 * yt_tfr_next on every file, both ways it works (preadv, window), and reading
 * by reference (yt_tfr_skip, then yt_tfr_load) against it too. */
#include <fcntl.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "formats/crc32c.h"
#include "formats/tfrecord.h"

/* Reads all records; returns the final status, count in *n, error in err. */
static int read_all(const char *path, size_t *n, uint64_t *last_off, yt_err *err) {
  yt_tfr_reader *r;
  int rc = yt_tfr_open(&r, path, err);
  if (rc < 0) return rc;
  yt_tfr_record rec;
  *n = 0;
  while ((rc = yt_tfr_next(r, &rec, err)) == YT_OK) { (*n)++; *last_off = rec.offset; }
  yt_tfr_close(r);
  return rc;
}

static void vectors(void) {
  char *js = check_slurp(shared_path("testdata/expected.json"), NULL);
  CHECK(js != NULL, "cannot read expected.json");
  if (!js) return;
  cJSON *root = cJSON_Parse(js);
  cJSON *file;
  cJSON_ArrayForEach(file, root) {
    const char *name = file->string;
    const char *kind = cJSON_GetObjectItem(file, "kind")->valuestring;
    char path[4096];
    snprintf(path, sizeof path, "%s", shared_path("testdata/"));
    strncat(path, name, sizeof path - strlen(path) - 1);
    size_t n = 0;
    uint64_t off = 0;
    yt_err err = {0};
    int rc = read_all(path, &n, &off, &err);
    if (!strcmp(kind, "corrupt")) {
      const char *reason = cJSON_GetObjectItem(file, "error")->valuestring;
      int before = cJSON_GetObjectItem(file, "good_records_before")->valueint;
      int bad = cJSON_GetObjectItem(file, "bad_record_offset")->valueint;
      char want[64];
      snprintf(want, sizeof want, "byte offset %d ", bad);
      if (!strcmp(reason, "malformed protobuf")) {
        /* framing is intact: the damage is for the decoder (test_example) */
        CHECK(rc == YT_EOF && n == (size_t)before + 1, "%s: framing should be fine, rc %d n %zu", name, rc, n);
        continue;
      }
      CHECK(rc == YT_ECORRUPT, "%s: rc %d (%s)", name, rc, err.msg);
      CHECK(n == (size_t)before, "%s: %zu good records, expected %d", name, n, before);
      CHECK_CONTAINS(err.msg, name);
      CHECK_CONTAINS(err.msg, want);
      CHECK_CONTAINS(err.msg, reason);
    } else {
      int want = cJSON_GetArraySize(cJSON_GetObjectItem(file, "records"));
      CHECK(rc == YT_EOF, "%s: %s", name, err.msg);
      CHECK(n == (size_t)want, "%s: %zu records, expected %d", name, n, want);
    }
  }
  cJSON_Delete(root);
  free(js);
}

static void round_trip(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  yt_err err = {0};
  yt_tfr_writer *w;
  CHECK(yt_tfw_open(&w, path, &err) == YT_OK, "%s", err.msg);
  enum { N = 200 };
  static uint8_t data[1 << 21];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
  size_t lens[N];
  for (int i = 0; i < N; i++) {
    lens[i] = i == 0 ? 0 : i == 1 ? sizeof data : (size_t)(i * 7919u) % 70000;
    CHECK(yt_tfw_write(w, data + (i % 13), lens[i] - (i == 1 ? 13 : 0), &err) == YT_OK, "%s", err.msg);
    if (i == 1) lens[1] -= 13;
  }
  /* not visible under its final name before close */
  CHECK(access(path, F_OK) != 0, "%s exists before close", path);
  CHECK(yt_tfw_close(w, &err) == YT_OK, "%s", err.msg);
  CHECK(access(path, F_OK) == 0, "%s missing after close", path);
  yt_tfr_reader *r;
  CHECK(yt_tfr_open(&r, path, &err) == YT_OK, "%s", err.msg);
  yt_tfr_record rec;
  int i = 0, rc;
  uint64_t off = 0;
  while ((rc = yt_tfr_next(r, &rec, &err)) == YT_OK) {
    CHECK(i < N && rec.len == lens[i], "%s record %d: len %zu", name, i, rec.len);
    CHECK(i < N && memcmp(rec.data, data + (i % 13), rec.len) == 0, "%s record %d bytes differ", name, i);
    CHECK(rec.index == (uint64_t)i && rec.offset == off, "%s record %d index/offset", name, i);
    off += rec.len + 16;
    i++;
  }
  CHECK(rc == YT_EOF && i == N, "%s: %d records, rc %d %s", name, i, rc, err.msg);
  yt_tfr_close(r);
}

static void abort_leaves_nothing(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/aborted.tfrecord", dir);
  yt_err err;
  yt_tfr_writer *w;
  CHECK(yt_tfw_open(&w, path, &err) == YT_OK, "%s", err.msg);
  yt_tfw_write(w, "abc", 3, &err);
  yt_tfw_abort(w);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s | grep aborted)\"", dir);
  CHECK(system(cmd) == 0, "abort left a file behind in %s", dir);
  yt_tfr_writer *w2;
  snprintf(path, sizeof path, "%s/no/such/dir/x.tfrecord", dir);
  CHECK(yt_tfw_open(&w2, path, &err) == YT_EIO, "open in a missing dir must fail");
  CHECK_CONTAINS(err.msg, "cannot create");
}

/* A zstd shard cut short and one with a corrupted length field. */
static void zstd_damage(const char *dir) {
  char good[4096], cut[4200], cmd[9000];
  snprintf(good, sizeof good, "%s/rt.tfrecord.zst", dir);
  snprintf(cut, sizeof cut, "%s/cut.tfrecord.zst", dir);
  struct stat st;
  stat(good, &st);
  snprintf(cmd, sizeof cmd, "head -c %lld %s > %s", (long long)st.st_size / 2, good, cut);
  CHECK(system(cmd) == 0, "%s", cmd);
  size_t n;
  uint64_t off;
  yt_err err = {0};
  int rc = read_all(cut, &n, &off, &err);
  CHECK(rc < 0, "a cut zstd shard must fail");
  CHECK(n > 0 && n < 200, "records before the cut: %zu", n);
  CHECK_CONTAINS(err.msg, "cut.tfrecord.zst");
  /* plain file with a huge length whose CRC is right: beyond end of file,
   * read through the streaming path (stdin) as well */
  char huge[4200];
  snprintf(huge, sizeof huge, "%s/huge.tfrecord.zst", dir);
  snprintf(cmd, sizeof cmd, "zstd -q -f -o %s %s 2>/dev/null || false", huge, shared_path("testdata/huge_length.tfrecord"));
  if (system(cmd) == 0) {
    rc = read_all(huge, &n, &off, &err);
    CHECK(rc == YT_ECORRUPT && n == 1, "zst huge length: rc %d n %zu", rc, n);
    CHECK_CONTAINS(err.msg, "record length beyond end of file");
    CHECK_CONTAINS(err.msg, "byte offset 4705");
  } else {
    printf("zstd CLI not installed: skipping the compressed huge-length case\n");
  }
}

static void streaming_stdin(void) {
  /* the pipe path: same vector through standard input */
  int fd = open(shared_path("testdata/truncated.tfrecord"), O_RDONLY);
  int saved = dup(0);
  dup2(fd, 0);
  close(fd);
  size_t n;
  uint64_t off;
  yt_err err = {0};
  int rc = read_all("-", &n, &off, &err);
  dup2(saved, 0);
  close(saved);
  CHECK(rc == YT_ECORRUPT && n == 1, "stdin truncated: rc %d n %zu", rc, n);
  CHECK_CONTAINS(err.msg, "truncated record");
  CHECK_CONTAINS(err.msg, "byte offset 4705");
}

/* Reads record rec (walked by yt_tfr_skip) by reference, as a consumer does. */
static int load_one(yt_tfr_reader *r, const yt_tfr_record *rec, uint8_t *dst, bool verify, yt_err *err) {
  yt_tfr_extent x = {.path = yt_tfr_path(r), .path_len = strlen(yt_tfr_path(r)), .off = rec->offset, .n = 1};
  uint32_t len = (uint32_t)rec->len;
  x.index = &rec->index, x.len = &len;
  yt_tfr_file_id(r, &x.dev, &x.ino);
  return yt_tfr_load(&x, dst, verify, err);
}

/* What a read gives, as text: "index offset len crc" per record, then the
 * final status and message. into = peek + next_into (2: peek + skip, then
 * yt_tfr_load of the record, as by reference), stopping at the first error as
 * yt_tfr_next does. stdin_fd >= 0: read it as "-" (the window). */
static char *trace(const char *path, int into, int stdin_fd) {
  size_t cap = 1 << 16, len = 0;
  char *t = malloc(cap);
  t[0] = 0;
#define ADD(...) (len += (size_t)snprintf(t + len, cap - len, __VA_ARGS__), len = len < cap ? len : cap - 1)
  int saved = -1;
  if (stdin_fd >= 0) saved = dup(0), dup2(stdin_fd, 0);
  yt_tfr_reader *r;
  yt_err err = {0};
  int rc = yt_tfr_open(&r, stdin_fd >= 0 ? "-" : path, &err);
  if (rc == YT_OK) {
    yt_tfr_record rec;
    static uint8_t buf[4 << 20];
    for (;;) {
      if (into) {
        size_t n1, n2;
        if ((rc = yt_tfr_peek(r, &n1, &err)) != YT_OK) break;
        if ((rc = yt_tfr_peek(r, &n2, &err)) != YT_OK || n1 != n2) { ADD("peek moved %zu %zu\n", n1, n2); break; }
        if (n1 > sizeof buf) { ADD("record too big for the test\n"); break; }
        if (into == 2) {
          if ((rc = yt_tfr_skip(r, &rec, &err)) != YT_OK) break;
          if (rec.data || rec.len != n1) ADD("skip gave data or another length\n");
          if ((rc = load_one(r, &rec, buf, true, &err)) != YT_OK) break;
          rec.data = buf;
        } else {
          if ((rc = yt_tfr_next_into(r, buf, &rec, &err)) != YT_OK) break;
          if (rec.data != buf || rec.len != n1) ADD("data not in dst\n");
        }
      } else if ((rc = yt_tfr_next(r, &rec, &err)) != YT_OK) {
        break;
      }
      ADD("%llu %llu %zu %08x\n", (unsigned long long)rec.index, (unsigned long long)rec.offset, rec.len,
          yt_crc32c(0, rec.data, rec.len));
    }
    yt_tfr_close(r);
  }
  if (saved >= 0) dup2(saved, 0), close(saved);
  ADD("rc %d: %s\n", rc, rc == YT_EOF ? "" : err.msg);
#undef ADD
  return t;
}

static void copy_matches_view(const char *dir) {
  const char *vec[] = {"video_edge.tfrecord", "frame_edge.tfrecord", "empty.tfrecord", "bad_protobuf.tfrecord",
                       "corrupt_data_crc.tfrecord", "corrupt_length_crc.tfrecord", "truncated.tfrecord",
                       "huge_length.tfrecord", "garbage.tfrecord"};
  const char *mine[] = {"rt.tfrecord", "rt.tfrecord.zst", "cut.tfrecord.zst", "huge.tfrecord.zst"};
  for (size_t k = 0; k < sizeof vec / sizeof *vec + sizeof mine / sizeof *mine; k++) {
    char path[4200];
    if (k < sizeof vec / sizeof *vec) snprintf(path, sizeof path, "%s", shared_path("testdata/"));
    else snprintf(path, sizeof path, "%s/", dir);
    strncat(path, k < sizeof vec / sizeof *vec ? vec[k] : mine[k - sizeof vec / sizeof *vec], sizeof path - strlen(path) - 1);
    if (access(path, R_OK) != 0) continue; /* huge.tfrecord.zst needs the zstd CLI */
    char *view = trace(path, false, -1), *copy = trace(path, true, -1);
    CHECK(strcmp(view, copy) == 0, "%s: next_into differs from next:\n%s---\n%s", path, view, copy);
    free(copy);
    if (!strstr(path, ".zst")) { /* by reference: plain files only */
      char *ref = trace(path, 2, -1);
      CHECK(strcmp(view, ref) == 0, "%s: skip + load differs from next:\n%s---\n%s", path, view, ref);
      free(ref);
    }
    free(view);
    if (strstr(path, ".zst")) continue; /* already the window; "-" is not decompressed */
    view = trace(path, false, -1);
    int fd = open(path, O_RDONLY);
    char *win = trace(path, true, fd); /* "-": the window, copied out */
    close(fd);
    char *w = strstr(win, "rc "), *v = strstr(view, "rc ");
    /* the window names the file "-" */
    CHECK(w && v && (size_t)(w - win) == (size_t)(v - view) && !memcmp(win, view, (size_t)(v - view)),
          "%s: records through the window differ:\n%s---\n%s", path, view, win);
    CHECK(w && v && !strncmp(w, v, 5), "%s: window status %.40s vs %.40s", path, w ? w : "", v ? v : "");
    free(view), free(win);
  }

  /* after a data CRC mismatch the copying reader is past the record: the next
   * one (index 2) follows, and 10 more to the end */
  yt_tfr_reader *r;
  yt_err err = {0};
  CHECK(yt_tfr_open(&r, shared_path("testdata/corrupt_data_crc.tfrecord"), &err) == YT_OK, "%s", err.msg);
  static uint8_t buf[1 << 20];
  yt_tfr_record rec;
  int rc, good = 0, bad = 0;
  size_t n;
  while ((rc = yt_tfr_peek(r, &n, &err)) == YT_OK) {
    rc = yt_tfr_next_into(r, buf, &rec, &err);
    if (rc == YT_OK) { good++; continue; }
    bad++;
    CHECK(rc == YT_ECORRUPT && rec.index == 1 && rec.offset == 4705, "data crc: rc %d index %llu", rc,
          (unsigned long long)rec.index);
    CHECK_CONTAINS(err.msg, YT_TFR_DATA_CRC);
  }
  CHECK(rc == YT_EOF && good == 11 && bad == 1, "resync: rc %d, %d good, %d bad", rc, good, bad);
  yt_tfr_close(r);
}

/* yt_tfr_load over many records at once (more than one preadv's worth), and
 * what it says when the file is not as the reader walked it. */
static void load_extents(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/many.tfrecord", dir);
  yt_tfr_writer *w;
  yt_err err = {0};
  enum { N = 1000 };
  CHECK(yt_tfw_open(&w, path, &err) == YT_OK, "%s", err.msg);
  uint8_t rec[64];
  size_t total = 0;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < i % 50; j++) rec[j] = (uint8_t)(i * 7 + j);
    yt_tfw_write(w, rec, (size_t)(i % 50), &err);
    total += (size_t)(i % 50);
  }
  CHECK(yt_tfw_close(w, &err) == YT_OK, "%s", err.msg);
  yt_tfr_reader *r;
  CHECK(yt_tfr_open(&r, path, &err) == YT_OK, "%s", err.msg);
  static uint64_t index[N];
  static uint32_t len[N];
  yt_tfr_record rc_rec;
  uint32_t n = 0;
  uint64_t first = 0;
  while (n < N && yt_tfr_skip(r, &rc_rec, &err) == YT_OK) {
    if (n == 0) first = rc_rec.offset;
    CHECK(rc_rec.index == n, "skip: index %llu at %u", (unsigned long long)rc_rec.index, n);
    index[n] = rc_rec.index, len[n] = (uint32_t)rc_rec.len, n++;
  }
  CHECK(n == N && yt_tfr_skip(r, &rc_rec, &err) == YT_EOF, "skip walked %u records", n);
  yt_tfr_extent x = {.path = path, .path_len = strlen(path), .off = first, .n = N, .index = index, .len = len};
  yt_tfr_file_id(r, &x.dev, &x.ino);
  uint8_t *got = malloc(total), *p = got;
  CHECK(yt_tfr_load(&x, got, true, &err) == YT_OK, "load %u records: %s", N, err.msg);
  bool same = true;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < i % 50; j++) same &= *p++ == (uint8_t)(i * 7 + j);
  CHECK(same, "loaded records differ from what was written");
  /* a length the file no longer says: it changed during the run */
  len[500]++;
  CHECK(yt_tfr_load(&x, got, true, &err) == YT_ECORRUPT, "a changed length loaded");
  CHECK_CONTAINS(err.msg, "(record 500)");
  CHECK_CONTAINS(err.msg, "it changed during the run");
  len[500]--;
  /* another file under the name */
  x.ino++;
  CHECK(yt_tfr_load(&x, got, true, &err) == YT_EIO, "another file loaded");
  CHECK_CONTAINS(err.msg, "replaced during the run");
  x.ino--;
  /* cut short after the reader walked it */
  CHECK(truncate(path, 200) == 0, "truncate");
  CHECK(yt_tfr_load(&x, got, true, &err) == YT_ECORRUPT, "a cut file loaded");
  CHECK_CONTAINS(err.msg, YT_TFR_TRUNCATED);
  free(got);
  yt_tfr_close(r);

  /* verify = false reads a record whose data CRC is wrong */
  CHECK(yt_tfr_open(&r, shared_path("testdata/corrupt_data_crc.tfrecord"), &err) == YT_OK, "%s", err.msg);
  static uint8_t buf[1 << 20];
  int rc, bad = 0, good = 0;
  while ((rc = yt_tfr_skip(r, &rc_rec, &err)) == YT_OK) {
    if (load_one(r, &rc_rec, buf, false, &err) != YT_OK) bad++;
    if (load_one(r, &rc_rec, buf, true, &err) == YT_OK) good++;
  }
  CHECK(rc == YT_EOF && bad == 0 && good == 11, "verify off: %d failed; verify on: %d good of 12", bad, good);
  yt_tfr_close(r);
}

int main(void) {
  char dir[] = "/tmp/yt_tfr_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  /* both plain-file paths: memory map and buffered read() */
  setenv("YT_TFRECORD_MMAP", "1", 1);
  vectors();
  round_trip(dir, "rt.tfrecord");
  setenv("YT_TFRECORD_MMAP", "0", 1);
  vectors();
  unsetenv("YT_TFRECORD_MMAP");
  round_trip(dir, "rt.tfrecord.zst");
  abort_leaves_nothing(dir);
  zstd_damage(dir);
  streaming_stdin();
  copy_matches_view(dir);
  load_extents(dir);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_report("test_tfrecord");
}
