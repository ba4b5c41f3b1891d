/* tfrecord_writer.c: sink node: writes the records it receives into TFRecord
 * shards under output_dir, each committed atomically (hidden temporary, fsync,
 * rename), so a reader never sees a partial shard under its final name.
 *
 * Not an encoder: records are written exactly as received (a reader ->
 * writer copy with preserve_shards is byte-identical); building Examples is
 * a node upstream.
 *
 * Two layouts:
 *   preserve_shards = false: PREFIX-rREPLICA-NNNNN.tfrecord[.zst], a new file
 *     every shard_records records (any number of replicas);
 *   preserve_shards = true: one output per input shard, same base name, same
 *     record order, committed when the shard's SHARD_END message arrives
 *     (x1 only: a shard's messages must all reach the same writer); compress =
 *     zstd adds ".zst", and a name that ends in ".zst" is always compressed.
 *
 * Distillation sets (records_pattern set; graphs/distill.flow): the input is
 * a teacher's predictions, not records; each input shard of records_pattern
 * (the reader's pattern) is written again under output_dir, same name, every
 * record with a float list teacher_predictions added (distill_set.h): input
 * order kept, committed atomically, shards already in output_dir skipped.
 *
 * Pads: in "records" (or "predictions" with records_pattern); no outputs.
 *
 *   node out : tfrecord_writer x1 { output_dir = "copy"; preserve_shards = true }
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "core/node.h"
#include "formats/distill_set.h"
#include "formats/tfrecord.h"

typedef struct open_shard {
  uint32_t shard;
  char *name;
  yt_tfr_writer *w;
  uint64_t count;
} open_shard;

typedef struct writer_state {
  const char *dir, *prefix;
  bool preserve, zstd;
  uint64_t per_file;
  /* preserve_shards: the shards being written, and the names committed */
  open_shard *open;
  size_t n_open, cap_open;
  char **done;
  size_t n_done, cap_done;
  /* rotation */
  yt_tfr_writer *cur;
  uint64_t cur_count, file_no;
  /* records_pattern: a distillation set */
  yt_distill_set *distill;
} writer_state;

static const yt_param_def params[] = {
    {"output_dir", YT_P_STRING, NULL, YT_NORANGE, NULL, "directory for the shards (created with its parents)"},
    {"preserve_shards", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "one output shard per input shard, same base name (needs x1)"},
    {"prefix", YT_P_STRING, "\"part\"", YT_NORANGE, NULL, "file name prefix without preserve_shards"},
    {"shard_records", YT_P_INT, "10000", 1, 4294967295.0, NULL,
     "records per output file without preserve_shards"},
    {"compress", YT_P_ENUM, "none", YT_NORANGE, "none|zstd", "zstd writes .tfrecord.zst files"},
    {"records_pattern", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "distillation set: the input is predictions, and each shard of this pattern (the reader's) is written "
     "with teacher_predictions added to its records (needs x1)"},
};

static int init(yt_node *n, yt_err *err) {
  writer_state *s = n->state;
  s->dir = yt_param_str(&n->params, "output_dir");
  s->prefix = yt_param_str(&n->params, "prefix");
  s->preserve = yt_param_bool(&n->params, "preserve_shards");
  s->zstd = !strcmp(yt_param_str(&n->params, "compress"), "zstd");
  s->per_file = (uint64_t)yt_param_int(&n->params, "shard_records");
  if (s->preserve && n->replicas != 1)
    return yt_fail(err, YT_EUSAGE,
                   "tfrecord_writer: preserve_shards = true needs one replica (every message of a shard must reach "
                   "the same writer), got x%d: declare the node with x1",
                   n->replicas);
  if (!*s->dir) return yt_fail(err, YT_EUSAGE, "tfrecord_writer: output_dir is empty");
  const char *rp = yt_param_str(&n->params, "records_pattern");
  if (*rp) {
    if (n->replicas != 1)
      return yt_fail(err, YT_EUSAGE, "tfrecord_writer: records_pattern needs one replica (a shard's predictions "
                     "must all reach the same writer), got x%d: declare the node with x1", n->replicas);
    if (s->preserve || s->zstd)
      return yt_fail(err, YT_EUSAGE, "tfrecord_writer: records_pattern writes one shard per input shard under "
                     "its own name already; drop preserve_shards and compress");
    return yt_distill_open(&s->distill, rp, s->dir, err);
  }
  if (strchr(s->prefix, '/'))
    return yt_fail(err, YT_EUSAGE, "tfrecord_writer: prefix '%s' holds a '/' (put directories in output_dir)",
                   s->prefix);
  return yt_mkdirs(s->dir, err);
}

/* output_dir/name, malloc'd */
static char *out_path(const writer_state *s, const char *name, size_t name_len, bool add_zst) {
  size_t cap = strlen(s->dir) + name_len + 8;
  char *p = malloc(cap);
  if (p) snprintf(p, cap, "%s/%.*s%s", s->dir, (int)name_len, name, add_zst ? ".zst" : "");
  return p;
}

static bool ends_with(const char *s, size_t n, const char *suf) {
  size_t m = strlen(suf);
  return n >= m && !memcmp(s + n - m, suf, m);
}

/* ---- preserve_shards ------------------------------------------------------ */

static bool name_done(const writer_state *s, const char *name, size_t len) {
  for (size_t i = 0; i < s->n_done; i++)
    if (strlen(s->done[i]) == len && !memcmp(s->done[i], name, len)) return true;
  return false;
}

/* The writer of r's shard, opened on its first message. */
static int find_open(writer_state *s, const yt_records *r, open_shard **out, yt_err *err) {
  const char *nm = r->shard_name;
  size_t len = r->shard_name_len;
  for (size_t i = 0; i < s->n_open; i++)
    if (s->open[i].shard == r->shard) {
      if (strlen(s->open[i].name) != len || memcmp(s->open[i].name, nm, len))
        return yt_fail(err, YT_EINVAL, "tfrecord_writer: shard %u is named '%s' and then '%.*s'", r->shard,
                       s->open[i].name, (int)len, nm);
      *out = &s->open[i];
      return YT_OK;
    }
  if (len == 0 || memchr(nm, '/', len) || memchr(nm, 0, len) || (len <= 2 && !memcmp(nm, "..", len)))
    return yt_fail(err, YT_EINVAL, "tfrecord_writer: shard %u has the name '%.*s', which is not a file name",
                   r->shard, (int)len, nm);
  if (name_done(s, nm, len))
    return yt_fail(err, YT_EINVAL,
                   "tfrecord_writer: shard '%.*s' arrived a second time (a reader with epochs > 1, or two inputs "
                   "with the same base name); preserve_shards writes each shard once",
                   (int)len, nm);
  if (s->n_open == s->cap_open) {
    size_t c = s->cap_open ? 2 * s->cap_open : 8;
    open_shard *o = realloc(s->open, c * sizeof *o);
    if (!o) return yt_fail(err, YT_ENOMEM, "out of memory");
    s->open = o, s->cap_open = c;
  }
  open_shard *o = &s->open[s->n_open];
  *o = (open_shard){.shard = r->shard, .name = strndup(nm, len)};
  char *path = out_path(s, nm, len, s->zstd && !ends_with(nm, len, ".zst"));
  int rc = !o->name || !path ? yt_fail(err, YT_ENOMEM, "out of memory") : yt_tfw_open(&o->w, path, err);
  free(path);
  if (rc < 0) {
    free(o->name);
    return rc;
  }
  s->n_open++;
  *out = o;
  return YT_OK;
}

/* Commits shard o (its SHARD_END arrived) and forgets it. */
static int commit(yt_node *n, writer_state *s, open_shard *o, uint64_t expect, yt_err *err) {
  int rc;
  if (o->count != expect) {
    yt_tfw_abort(o->w);
    rc = yt_fail(err, YT_EINVAL,
                 "tfrecord_writer: shard '%s' ended after %llu records but its reader sent %llu: records were "
                 "lost or doubled on the way; the shard is not written",
                 o->name, (unsigned long long)o->count, (unsigned long long)expect);
  } else {
    rc = yt_tfw_close(o->w, err);
    if (rc == YT_OK) yt_node_count(n, "shards_written", 1);
  }
  o->w = NULL;
  if (rc == YT_OK && s->n_done == s->cap_done) {
    size_t c = s->cap_done ? 2 * s->cap_done : 16;
    char **d = realloc(s->done, c * sizeof *d);
    if (!d) rc = yt_fail(err, YT_ENOMEM, "out of memory");
    else s->done = d, s->cap_done = c;
  }
  if (rc == YT_OK) s->done[s->n_done++] = o->name;
  else free(o->name);
  *o = s->open[--s->n_open];
  return rc;
}

static int process_preserve(yt_node *n, writer_state *s, const yt_records *r, yt_err *err) {
  open_shard *o = NULL;
  int rc = find_open(s, r, &o, err);
  if (rc < 0) return rc;
  const uint8_t *p = r->data;
  for (uint32_t i = 0; i < r->n; p += r->len[i], i++)
    if ((rc = yt_tfw_write(o->w, p, r->len[i], err)) < 0) return rc;
  o->count += r->n;
  return r->flags & YT_REC_SHARD_END ? commit(n, s, o, r->shard_records, err) : YT_OK;
}

/* ---- rotation ------------------------------------------------------------- */

static int process_rotate(yt_node *n, writer_state *s, const yt_records *r, yt_err *err) {
  const uint8_t *p = r->data;
  int rc;
  for (uint32_t i = 0; i < r->n; p += r->len[i], i++) {
    if (!s->cur) {
      char name[512];
      int len = snprintf(name, sizeof name, "%s-r%d-%05llu.tfrecord%s", s->prefix, n->replica,
                         (unsigned long long)s->file_no, s->zstd ? ".zst" : "");
      char *path = out_path(s, name, (size_t)len, false);
      rc = path ? yt_tfw_open(&s->cur, path, err) : yt_fail(err, YT_ENOMEM, "out of memory");
      free(path);
      if (rc < 0) return rc;
      s->file_no++, s->cur_count = 0;
    }
    if ((rc = yt_tfw_write(s->cur, p, r->len[i], err)) < 0) return rc;
    if (++s->cur_count == s->per_file) {
      rc = yt_tfw_close(s->cur, err);
      s->cur = NULL;
      if (rc < 0) return rc;
      yt_node_count(n, "shards_written", 1);
    }
  }
  return YT_OK;
}

/* ---- distillation set ------------------------------------------------------ */

static int process_distill(yt_node *n, writer_state *s, const yt_msg *m, yt_err *err) {
  yt_batch bt;
  int rc = yt_batch_decode(&bt, m, err);
  if (rc < 0) {
    yt_err_prefix(err, "tfrecord_writer with records_pattern takes predictions (an infer or ensemble node): ");
    return rc;
  }
  if (bt.n && (bt.dtype != YT_DT_F32 || bt.frames > 1))
    rc = yt_fail(err, YT_EINVAL, "tfrecord_writer: records_pattern takes predictions (one float32 row per video), "
                 "got %s rows%s", bt.dtype == YT_DT_F32 ? "float32" : "uint8", bt.frames > 1 ? ", padded" : "");
  for (uint32_t i = 0; rc == YT_OK && i < bt.n; i++) {
    if (bt.num_frames[i] != 1) {
      rc = yt_fail(err, YT_EINVAL, "tfrecord_writer: video %u of the message has %d rows, predictions have 1", i,
                   bt.num_frames[i]);
      break;
    }
    bool ignored;
    rc = yt_distill_add(s->distill, bt.shard[i], bt.index[i], bt.ids + bt.id_off[i], bt.id_off[i + 1] - bt.id_off[i],
                        yt_batch_rows(&bt, i), bt.dim, &ignored, err);
    if (rc == YT_OK && ignored) yt_node_count(n, "records_in_existing_shards", 1);
  }
  yt_batch_free(&bt);
  return rc;
}

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad;
  writer_state *s = n->state;
  if (s->distill) return process_distill(n, s, m, err);
  yt_records r;
  int rc = yt_records_decode(&r, m, err);
  if (rc < 0) return rc;
  return s->preserve ? process_preserve(n, s, &r, err) : process_rotate(n, s, &r, err);
}

static int flush(yt_node *n, yt_err *err) {
  writer_state *s = n->state;
  if (s->distill) {
    int rc = yt_distill_finish(s->distill, err);
    uint64_t written, existing, records;
    yt_distill_counts(s->distill, &written, &existing, &records);
    yt_node_count(n, "shards_written", written);
    yt_node_count(n, "shards_existing", existing);
    fprintf(stderr, "tfrecord_writer: distillation set in %s: %llu shards written (%llu records), %llu were "
            "complete already\n", s->dir, (unsigned long long)written, (unsigned long long)records,
            (unsigned long long)existing);
    return rc;
  }
  if (s->cur) {
    int rc = yt_tfw_close(s->cur, err);
    s->cur = NULL;
    if (rc < 0) return rc;
    yt_node_count(n, "shards_written", 1);
  }
  if (s->n_open == 0) return YT_OK;
  open_shard *o = &s->open[0];
  int rc = yt_fail(err, YT_EINVAL,
                   "tfrecord_writer: the stream ended inside shard '%s' (number %u) after %llu records, without "
                   "its end-of-shard mark%s; the shard is not written (did the reader stop early or fail?)",
                   o->name, o->shard, (unsigned long long)o->count, s->n_open > 1 ? " (and other shards)" : "");
  for (size_t i = 0; i < s->n_open; i++) {
    yt_tfw_abort(s->open[i].w);
    free(s->open[i].name);
  }
  s->n_open = 0;
  return rc;
}

static void fini(yt_node *n) {
  writer_state *s = n->state;
  if (!s) return;
  yt_tfw_abort(s->cur);
  for (size_t i = 0; i < s->n_open; i++) {
    yt_tfw_abort(s->open[i].w);
    free(s->open[i].name);
  }
  for (size_t i = 0; i < s->n_done; i++) free(s->done[i]);
  yt_distill_free(s->distill);
  free(s->open);
  free(s->done);
  memset(s, 0, sizeof *s);
}

const yt_node_def yt_node_tfrecord_writer = {
    .name = "tfrecord_writer",
    .summary = "writes records into TFRecord shards (rotating, or one per input shard), committed atomically",
    .inputs = {{"in", "any", "serialized records; or predictions, with records_pattern"}},
    .n_inputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(writer_state),
    .init = init,
    .process = process,
    .flush = flush,
    .fini = fini,
};
