/* distill_set.c: see distill_set.h. */
#include "formats/distill_set.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "formats/example.h"
#include "formats/tfrecord.h"

enum { UNTOUCHED, OPEN, DONE, EXISTED };

typedef struct pending {
  uint64_t index;
  float *pred; /* [C] */
  char *id;    /* the video id the prediction is for */
} pending;

typedef struct shard {
  int state;
  yt_tfr_reader *in;
  yt_tfr_writer *out;
  yt_tfr_record rec; /* the next record to write, when has_rec */
  bool has_rec;
  uint64_t written;
  pending *wait; /* predictions that ran ahead of the record cursor */
  size_t n_wait, cap_wait;
} shard;

struct yt_distill_set {
  char **paths;
  size_t n;
  char *dir;
  shard *s;
  size_t C; /* predictions per record, from the first */
  yt_example ex; /* scratch: a record's id */
  uint64_t shards_written, shards_existing, records;
};

static char *out_path(const yt_distill_set *d, size_t i) {
  const char *name = yt_base_name(d->paths[i]);
  size_t cap = strlen(d->dir) + strlen(name) + 2;
  char *p = malloc(cap);
  if (p) snprintf(p, cap, "%s/%s", d->dir, name);
  return p;
}

int yt_distill_open(yt_distill_set **out, const char *pattern, const char *out_dir, yt_err *err) {
  *out = NULL;
  yt_distill_set *d = calloc(1, sizeof *d);
  if (!d) return yt_fail(err, YT_ENOMEM, "out of memory");
  int rc = yt_glob_files(pattern, &d->paths, &d->n, err);
  if (rc == YT_OK) rc = yt_mkdirs(out_dir, err);
  if (rc == YT_OK && (!(d->dir = strdup(out_dir)) || !(d->s = calloc(d->n ? d->n : 1, sizeof *d->s))))
    rc = yt_fail(err, YT_ENOMEM, "out of memory");
  for (size_t i = 0; rc == YT_OK && i < d->n; i++) {
    for (size_t j = 0; j < i; j++)
      if (!strcmp(yt_base_name(d->paths[i]), yt_base_name(d->paths[j])))
        rc = yt_fail(err, YT_EUSAGE, "%s and %s have the same base name: one output shard per input shard needs "
                     "distinct names", d->paths[j], d->paths[i]);
    char *p = out_path(d, i), tmp[4200];
    if (!p) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); break; }
    struct stat st;
    if (stat(p, &st) == 0) {
      d->s[i].state = EXISTED;
      d->shards_existing++;
    } else { /* a killed run's temporary (.NAME.tmp.PID): never visible as NAME, removed now */
      glob_t g = {0};
      snprintf(tmp, sizeof tmp, "%s/.%s.tmp.*", d->dir, yt_base_name(d->paths[i]));
      if (glob(tmp, 0, NULL, &g) == 0)
        for (size_t k = 0; k < g.gl_pathc; k++) unlink(g.gl_pathv[k]);
      globfree(&g);
    }
    free(p);
  }
  if (rc < 0) {
    yt_distill_free(d);
    return rc;
  }
  *out = d;
  return YT_OK;
}

/* Reads shard i's next record into s->rec (has_rec false at its end). */
static int next_record(yt_distill_set *d, size_t i, yt_err *err) {
  shard *s = &d->s[i];
  int rc = yt_tfr_next(s->in, &s->rec, err);
  if (rc < 0) {
    yt_err_prefix(err, "distillation set: reading the input again: ");
    return rc;
  }
  s->has_rec = rc == YT_OK;
  return YT_OK;
}

static int open_shard(yt_distill_set *d, size_t i, yt_err *err) {
  shard *s = &d->s[i];
  char *p = out_path(d, i);
  if (!p) return yt_fail(err, YT_ENOMEM, "out of memory");
  int rc = yt_tfr_open(&s->in, d->paths[i], err);
  if (rc == YT_OK) rc = yt_tfw_open(&s->out, p, err);
  free(p);
  if (rc < 0) return rc;
  s->state = OPEN;
  return next_record(d, i, err);
}

/* The end of shard i's input: commit its output. */
static int commit(yt_distill_set *d, size_t i, yt_err *err) {
  shard *s = &d->s[i];
  yt_tfr_close(s->in);
  s->in = NULL;
  if (s->n_wait) {
    uint64_t k = s->wait[0].index;
    yt_tfw_abort(s->out);
    s->out = NULL;
    return yt_fail(err, YT_EINVAL,
                   "%s has %llu records, but a prediction came for record %llu: set records_pattern to the "
                   "reader's pattern (the same files in the same order)",
                   d->paths[i], (unsigned long long)s->written, (unsigned long long)k);
  }
  int rc = yt_tfw_close(s->out, err);
  s->out = NULL;
  if (rc < 0) return rc;
  s->state = DONE;
  d->shards_written++;
  free(s->wait);
  s->wait = NULL, s->cap_wait = 0;
  return YT_OK;
}

/* Writes shard i's records while their predictions are in. */
static int advance(yt_distill_set *d, size_t i, yt_err *err) {
  shard *s = &d->s[i];
  while (s->has_rec) {
    size_t w = 0;
    while (w < s->n_wait && s->wait[w].index != s->rec.index) w++;
    if (w == s->n_wait) return YT_OK; /* its prediction has not come yet */
    /* the same video: a records_pattern other than the reader's would pair a record with another's prediction */
    const yt_feature *f = NULL;
    yt_bytes id = {0};
    size_t nid = 0;
    int rc = yt_example_parse(&d->ex, s->rec.data, s->rec.len, err);
    if (rc == YT_OK && !(f = yt_example_find(&d->ex, "id"))) f = yt_example_find(&d->ex, "video_id");
    if (rc == YT_OK && f) rc = yt_feature_bytes(f, 0, &id, &nid, err);
    if (rc == YT_OK && (!nid || id.n != strlen(s->wait[w].id) || memcmp(id.p, s->wait[w].id, id.n)))
      rc = yt_fail(err, YT_EINVAL, "it is video '%.*s', but the prediction for it is for video '%s': set "
                   "records_pattern to the reader's pattern (the same files)",
                   (int)(nid ? id.n : 0), nid ? (const char *)id.p : "", s->wait[w].id);
    if (rc < 0) {
      yt_err_prefix(err, "%s: record %llu: ", d->paths[i], (unsigned long long)s->rec.index);
      return rc;
    }
    uint8_t *rec;
    size_t len;
    rc = yt_example_add_floats(s->rec.data, s->rec.len, "teacher_predictions", s->wait[w].pred, d->C, &rec, &len,
                                   err);
    if (rc < 0) {
      yt_err_prefix(err, "%s: record %llu (byte offset %llu): ", d->paths[i], (unsigned long long)s->rec.index,
                    (unsigned long long)s->rec.offset);
      return rc;
    }
    rc = yt_tfw_write(s->out, rec, len, err);
    free(rec);
    if (rc < 0) return rc;
    free(s->wait[w].pred), free(s->wait[w].id);
    s->wait[w] = s->wait[--s->n_wait];
    s->written++;
    d->records++;
    if ((rc = next_record(d, i, err)) < 0) return rc;
  }
  return commit(d, i, err);
}

int yt_distill_add(yt_distill_set *d, uint32_t shard_no, uint64_t index, const char *id, size_t id_len,
                   const float *pred, size_t C, bool *ignored, yt_err *err) {
  *ignored = false;
  if (shard_no >= d->n)
    return yt_fail(err, YT_EINVAL,
                   "a prediction for shard %u, but records_pattern matches %zu files: set it to the reader's "
                   "pattern", shard_no, d->n);
  if (!d->C) d->C = C;
  if (C != d->C) return yt_fail(err, YT_EINVAL, "predictions of %zu classes after %zu", C, d->C);
  shard *s = &d->s[shard_no];
  if (s->state == EXISTED) return *ignored = true, YT_OK;
  if (s->state == DONE)
    return yt_fail(err, YT_EINVAL, "%s: a second prediction for record %llu, after the shard was complete",
                   d->paths[shard_no], (unsigned long long)index);
  int rc;
  if (s->state == UNTOUCHED && (rc = open_shard(d, shard_no, err)) < 0) return rc;
  bool dup = index < s->written; /* written records have indices below the cursor's */
  for (size_t w = 0; w < s->n_wait && !dup; w++) dup = s->wait[w].index == index;
  if (dup)
    return yt_fail(err, YT_EINVAL, "%s: a second prediction for record %llu (a record went through the teacher "
                   "twice: is the reader's epochs 1?)", d->paths[shard_no], (unsigned long long)index);
  if (s->n_wait == s->cap_wait) {
    size_t c = s->cap_wait ? 2 * s->cap_wait : 64;
    pending *p = realloc(s->wait, c * sizeof *p);
    if (!p) return yt_fail(err, YT_ENOMEM, "out of memory");
    s->wait = p, s->cap_wait = c;
  }
  float *copy = malloc(C * sizeof *copy);
  char *idc = strndup(id, id_len);
  if (!copy || !idc) {
    free(copy), free(idc);
    return yt_fail(err, YT_ENOMEM, "out of memory");
  }
  memcpy(copy, pred, C * sizeof *copy);
  s->wait[s->n_wait++] = (pending){index, copy, idc};
  return advance(d, shard_no, err);
}

int yt_distill_finish(yt_distill_set *d, yt_err *err) {
  for (size_t i = 0; i < d->n; i++) {
    shard *s = &d->s[i];
    int rc;
    if (s->state == OPEN)
      return yt_fail(err, YT_EINVAL,
                     "%s: the predictions ended at record %llu of the shard (%zu later ones held): records were "
                     "lost upstream, or the run was stopped; the shard is not written (rerun to finish it)",
                     d->paths[i], (unsigned long long)s->written, s->n_wait);
    if (s->state == UNTOUCHED) { /* no prediction came: complete only if it has no records */
      if ((rc = open_shard(d, i, err)) < 0) return rc;
      if (s->has_rec) {
        yt_tfw_abort(s->out), yt_tfr_close(s->in);
        s->out = NULL, s->in = NULL, s->state = UNTOUCHED;
        return yt_fail(err, YT_EINVAL,
                       "%s: no prediction came for any of its records: was it read? (a reader pattern that differs "
                       "from records_pattern, or a stopped run; the shard is not written)", d->paths[i]);
      }
      if ((rc = commit(d, i, err)) < 0) return rc;
    }
  }
  return YT_OK;
}

void yt_distill_counts(const yt_distill_set *d, uint64_t *written, uint64_t *existing, uint64_t *records) {
  *written = d->shards_written, *existing = d->shards_existing, *records = d->records;
}

void yt_distill_free(yt_distill_set *d) {
  if (!d) return;
  for (size_t i = 0; d->s && i < d->n; i++) {
    shard *s = &d->s[i];
    yt_tfr_close(s->in);
    yt_tfw_abort(s->out); /* an unfinished shard leaves no file */
    for (size_t w = 0; w < s->n_wait; w++) free(s->wait[w].pred), free(s->wait[w].id);
    free(s->wait);
  }
  for (size_t i = 0; i < d->n; i++) free(d->paths[i]);
  free(d->paths);
  free(d->s);
  free(d->dir);
  yt_example_free(&d->ex);
  free(d);
}
