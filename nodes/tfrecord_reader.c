/* tfrecord_reader.c: source node: reads the TFRecord shards a glob matches
 * (plain or .tfrecord.zst) and emits their records as bytes, shard by shard.
 *
 * Not a decoder (records leave serialized; parsing Example/SequenceExample is
 * a downstream node's job) and not a record shuffler: only the order of the
 * shards can be shuffled, per epoch.
 *
 * Pads: no inputs; out "records" (payload.h): a message holds records of one
 * shard; the last message of a shard carries YT_REC_SHARD_END. A shard's number
 * is its position in the sorted file list, the same on every replica; replica
 * r of R reads the positions p with p % R == r of each epoch's shard order.
 *
 *   node shards : tfrecord_reader x2 { pattern = "data/train*.tfrecord"; epochs = 3 }
 *
 * By reference: when every consumer is on this host (the runner says so:
 * yt_node_ref_readers), a plain shard's messages may carry where their records
 * lie instead of their bytes, and the consumers' runners read them
 * (formats/records_ref.h). The reader then reads 12 bytes a record; the copy
 * and the data CRC move to the consumers. That pays when they are replicas
 * that share it (by_reference = auto, the default: one consumer node, x2 or
 * more), and costs when one consumer would do it alone, since the copying
 * reader runs beside it (read_frames, 1 GB, medians of 7: dequantize x2 uint8
 * 0.25 s by reference vs 0.29 s copying; x1 uint8 0.34 vs 0.29 s). A data CRC
 * mismatch then fails the run in the consumer (naming file, offset and
 * record); on_corrupt = skip_* needs the reader to see the data, so it copies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "core/node.h"
#include "formats/tfrecord.h"

enum { ON_FAIL, ON_SKIP_RECORD, ON_SKIP_SHARD };
enum { REF_AUTO, REF_ALWAYS, REF_NEVER };

typedef struct reader_state {
  char **paths; /* sorted, deduplicated: shard number = index */
  uint64_t *sizes;
  size_t n_paths;
  uint32_t *order; /* this epoch's shard order */
  int64_t epochs, epoch;
  size_t pos; /* position in `order` of the open (or next) shard */
  bool shuffle, verify;
  int by_ref;  /* REF_AUTO, REF_ALWAYS, REF_NEVER */
  bool ref;    /* the open shard goes by reference */
  const char *skip_dir; /* skip_existing_in, or NULL */
  uint64_t seed;
  uint64_t max_records, max_bytes;
  int on_corrupt;
  yt_tfr_reader *tfr; /* the open shard, or NULL */
  uint32_t shard;
  uint64_t emitted;    /* records of the open shard added to messages */
  uint64_t done_bytes; /* sizes of the shards finished */
  yt_records_builder b;
} reader_state;

static const yt_param_def params[] = {
    {"pattern", YT_P_STRING, NULL, YT_NORANGE, NULL,
     "input files: a glob, or several separated by commas (\"a/*.tfrecord, b/x.tfrecord.zst\")"},
    {"epochs", YT_P_INT, "1", 1, 1000000, NULL, "passes over the shards"},
    {"shuffle_shards", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "visit the shards in a new order every epoch (from seed and epoch; same on every replica)"},
    {"seed", YT_P_INT, "0", YT_NORANGE, NULL, "seed of the shard order when shuffle_shards = true"},
    {"message_records", YT_P_INT, "64", 1, 1000000, NULL, "send a message when it holds this many records"},
    /* 1 MiB: a message a consumer reads still sits in its 2 MiB L2 while it
     * checks and decodes it (read_frames x2, 1 GB: float32 0.69 s vs 0.77 s
     * with 4 MiB, uint8 0.27 vs 0.31, medians of 7) */
    {"message_bytes", YT_P_SIZE, "1MiB", 1, 256.0 * 1024 * 1024, NULL,
     "... or when its payloads reach this many bytes"},
    {"on_corrupt", YT_P_ENUM, "fail", YT_NORANGE, "fail|skip_record|skip_shard",
     "damaged record: fail, skip it (or the rest of the shard when the framing is lost), or skip the shard"},
    {"skip_existing_in", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "skip a shard whose base name exists in this directory (a resumed graphs/distill.flow: shards already "
     "written); \"\" = read all"},
    {"verify_crc", YT_P_BOOL, "true", YT_NORANGE, NULL, "check each record's data CRC32C"},
    {"by_reference", YT_P_ENUM, "auto", YT_NORANGE, "auto|always|never",
     "to consumers on this host, send where records lie in a plain shard instead of their bytes: they read "
     "and CRC-check them, the reader reads 12 bytes a record (only with on_corrupt = fail); auto: when one "
     "replicated node takes the records, so its replicas share the reading"},
};

/* Expands pattern into s->paths (yt_glob_files) and stats their sizes. */
static int expand(reader_state *s, const char *pattern, yt_err *err) {
  int rc = yt_glob_files(pattern, &s->paths, &s->n_paths, err);
  if (rc < 0) return rc;
  if (s->n_paths > UINT32_MAX) return yt_fail(err, YT_EUSAGE, "pattern '%s' matches too many files", pattern);
  size_t k = s->n_paths;
  s->sizes = calloc(k, sizeof *s->sizes);
  s->order = calloc(k, sizeof *s->order);
  if (!s->sizes || !s->order) return yt_fail(err, YT_ENOMEM, "out of memory");
  for (size_t i = 0; i < k; i++) {
    struct stat st;
    if (stat(s->paths[i], &st) != 0)
      return yt_fail(err, YT_EIO, "%s: cannot stat: %s", s->paths[i], strerror(errno));
    s->sizes[i] = (uint64_t)st.st_size;
  }
  return YT_OK;
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The shard order of `epoch`: identity, or a Fisher-Yates permutation that
 * depends only on (seed, epoch), so every replica computes the same one. */
static void make_order(uint32_t *order, size_t n, bool shuffle, uint64_t seed, uint64_t epoch) {
  for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
  if (!shuffle) return;
  uint64_t x = seed ^ (epoch + 1) * 0xd1b54a32d192ed03ull;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(splitmix64(&x) % i);
    uint32_t t = order[i - 1];
    order[i - 1] = order[j], order[j] = t;
  }
}

/* Bytes this replica will read over all epochs (the file sizes). */
static uint64_t progress_total(const yt_node *n, const reader_state *s) {
  uint64_t per_epoch = 0, sum = 0;
  size_t mine = 0;
  for (size_t p = (size_t)n->replica; p < s->n_paths; p += (size_t)n->replicas) per_epoch += s->sizes[p], mine++;
  if (!s->shuffle) return per_epoch * (uint64_t)s->epochs;
  if ((uint64_t)s->epochs * s->n_paths > (1u << 24)) { /* estimate: a fair share of the bytes */
    for (size_t i = 0; i < s->n_paths; i++) sum += s->sizes[i];
    return (uint64_t)((double)sum * (double)mine / (double)s->n_paths * (double)s->epochs);
  }
  for (int64_t e = 0; e < s->epochs; e++) {
    make_order(s->order, s->n_paths, true, s->seed, (uint64_t)e);
    for (size_t p = (size_t)n->replica; p < s->n_paths; p += (size_t)n->replicas) sum += s->sizes[s->order[p]];
  }
  make_order(s->order, s->n_paths, true, s->seed, 0);
  return sum;
}

static int init(yt_node *n, yt_err *err) {
  reader_state *s = n->state;
  const yt_params *p = &n->params;
  const char *oc = yt_param_str(p, "on_corrupt");
  s->on_corrupt = !strcmp(oc, "skip_record") ? ON_SKIP_RECORD : !strcmp(oc, "skip_shard") ? ON_SKIP_SHARD : ON_FAIL;
  s->epochs = yt_param_int(p, "epochs");
  s->shuffle = yt_param_bool(p, "shuffle_shards");
  s->seed = (uint64_t)yt_param_int(p, "seed");
  s->verify = yt_param_bool(p, "verify_crc");
  const char *br = yt_param_str(p, "by_reference");
  s->by_ref = !strcmp(br, "always") ? REF_ALWAYS : !strcmp(br, "never") ? REF_NEVER : REF_AUTO;
  s->max_records = (uint64_t)yt_param_int(p, "message_records");
  s->max_bytes = (uint64_t)yt_param_int(p, "message_bytes");
  s->skip_dir = *yt_param_str(p, "skip_existing_in") ? yt_param_str(p, "skip_existing_in") : NULL;
  int rc = expand(s, yt_param_str(p, "pattern"), err);
  if (rc < 0) return rc;
  make_order(s->order, s->n_paths, s->shuffle, s->seed, 0);
  s->pos = (size_t)n->replica;
  n->progress_unit = "bytes";
  n->progress_total = progress_total(n, s);
  return YT_OK;
}

static void update_progress(yt_node *n, const reader_state *s) {
  uint64_t cur = 0;
  if (s->tfr) {
    cur = yt_tfr_bytes_read(s->tfr);
    if (cur > s->sizes[s->shard]) cur = s->sizes[s->shard]; /* .zst: decompressed bytes */
  }
  n->progress_done = s->done_bytes + cur;
}

/* Sends what the builder holds (possibly nothing, with SHARD_END). */
static int send(yt_node *n, reader_state *s, bool shard_end, yt_err *err) {
  if (shard_end) {
    s->b.flags = YT_REC_SHARD_END;
    s->b.shard_records = s->emitted;
  }
  yt_msg m;
  yt_msg_init(&m, YT_MSG_DATA);
  int rc = yt_records_to_msg(&s->b, &m, err);
  if (rc == YT_OK) rc = yt_node_emit(n, 0, &m, err);
  yt_msg_clear(&m);
  return rc;
}

static void close_shard(yt_node *n, reader_state *s) {
  yt_tfr_close(s->tfr);
  s->tfr = NULL;
  yt_records_builder_free(&s->b);
  memset(&s->b, 0, sizeof s->b);
  s->done_bytes += s->sizes[s->shard];
  s->pos += (size_t)n->replicas;
  update_progress(n, s);
}

static bool exists_in(const char *dir, const char *name) {
  char path[4096];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Opens this replica's next shard; YT_EOF after the last epoch. */
static int open_next(yt_node *n, reader_state *s, yt_err *err) {
  if ((size_t)n->replica >= s->n_paths) return YT_EOF; /* fewer shards than replicas */
  while (s->pos >= s->n_paths) {
    if (++s->epoch >= s->epochs) return YT_EOF;
    make_order(s->order, s->n_paths, s->shuffle, s->seed, (uint64_t)s->epoch);
    s->pos = (size_t)n->replica;
  }
  s->shard = s->order[s->pos];
  const char *path = s->paths[s->shard];
  if (s->skip_dir && exists_in(s->skip_dir, yt_base_name(path))) { /* written by an earlier run */
    yt_node_count(n, "shards_skipped_existing", 1);
    s->done_bytes += s->sizes[s->shard];
    s->pos += (size_t)n->replicas;
    update_progress(n, s);
    return open_next(n, s, err);
  }
  int rc = yt_tfr_open(&s->tfr, path, err);
  if (rc < 0) return rc;
  yt_tfr_set_verify(s->tfr, s->verify);
  yt_records_builder_init(&s->b, s->shard, yt_base_name(path));
  s->emitted = 0;
  /* by reference: consumers check the data CRCs, so a damaged record fails
   * the run there; skipping one needs the reader to see it */
  int readers = yt_node_ref_readers(n, 0);
  s->ref = s->on_corrupt == ON_FAIL && yt_tfr_is_plain(s->tfr) && readers > 0 &&
           (s->by_ref == REF_ALWAYS || (s->by_ref == REF_AUTO && readers >= 2));
  if (s->ref) {
    char *abs = realpath(path, NULL); /* consumers may resolve a relative path elsewhere */
    uint64_t dev, ino;
    yt_tfr_file_id(s->tfr, &dev, &ino);
    rc = abs ? yt_records_builder_by_ref(&s->b, abs, dev, ino, s->verify, err)
             : yt_fail(err, YT_EIO, "%s: cannot resolve its path: %s", path, strerror(errno));
    free(abs);
  }
  return rc;
}

/* A damaged record (e is the reader's error; rec the record, when its data
 * CRC failed). Returns 0 when the record was skipped and reading goes on, 1
 * when the rest of the shard is skipped, < 0 to fail. A data CRC mismatch
 * leaves the framing intact and the reader past the record. */
static int on_damage(yt_node *n, reader_state *s, const yt_err *e, const yt_tfr_record *rec, yt_err *err) {
  if (s->on_corrupt == ON_FAIL || e->code != YT_ECORRUPT) {
    *err = *e;
    if (e->code == YT_ECORRUPT) {
      size_t l = strlen(err->msg);
      snprintf(err->msg + l, sizeof err->msg - l, " (set on_corrupt = skip_record or skip_shard to go on)");
    }
    return err->code;
  }
  if (s->on_corrupt == ON_SKIP_RECORD && rec) {
    fprintf(stderr, "warning: %s; skipped record %llu (on_corrupt = skip_record)\n", e->msg,
            (unsigned long long)rec->index);
    yt_node_count(n, "skipped_records", 1);
    return 0;
  }
  fprintf(stderr, "warning: %s; skipped the rest of the shard (%llu record%s sent before it; on_corrupt = %s)\n",
          e->msg, (unsigned long long)s->emitted, s->emitted == 1 ? "" : "s",
          s->on_corrupt == ON_SKIP_SHARD ? "skip_shard" : "skip_record");
  yt_node_count(n, "skipped_shards", 1);
  return 1;
}

/* Emits one message of the open shard: records until message_records or
 * message_bytes is reached; the shard's last message carries SHARD_END. Each
 * record is read straight into the message (yt_tfr_next_into), which is
 * built where it is sent from: one copy, checked while it is in cache. */
static int run(yt_node *n, yt_err *err) {
  reader_state *s = n->state;
  int rc;
  if (yt_node_stopping(n)) { /* drain: send what is built, no SHARD_END */
    rc = s->tfr && s->b.n ? send(n, s, false, err) : YT_OK;
    if (s->tfr) close_shard(n, s);
    return rc < 0 ? rc : YT_EOF;
  }
  if (!s->tfr && (rc = open_next(n, s, err)) != YT_OK) return rc;
  for (;;) {
    yt_tfr_record rec;
    yt_err e = {0};
    size_t len;
    bool damaged = false;
    rc = yt_tfr_peek(s->tfr, &len, &e);
    if (rc == YT_OK) {
      bool full = s->b.n >= s->max_records || s->b.bytes >= s->max_bytes;
      if (full && (rc = send(n, s, false, err)) < 0) return rc;
      if (s->ref) { /* 12 bytes read: where the record lies goes out instead */
        rc = yt_tfr_skip(s->tfr, &rec, &e);
        if (rc == YT_OK && (rc = yt_records_add_ref(&s->b, rec.index, rec.offset, len, err)) < 0) return rc;
      } else {
        if (s->b.n == 0 && !s->b.data.data) { /* a new message: built where it is sent from */
          /* it closes at >= max_bytes, so it holds less than max_bytes + its last
           * record; room for a last record as big as max(this one, max_bytes) */
          size_t room = s->max_bytes + (len > s->max_bytes ? len : s->max_bytes);
          yt_buf store;
          if ((rc = yt_node_alloc_frame(n, 0, room, &store, err)) < 0) return rc;
          yt_records_builder_use(&s->b, &store);
        }
        uint8_t *dst;
        if ((rc = yt_records_reserve(&s->b, len, &dst, err)) < 0) {
          yt_err_prefix(err, "%s: byte offset %llu: ", yt_tfr_path(s->tfr),
                        (unsigned long long)yt_tfr_bytes_read(s->tfr));
          return rc;
        }
        rc = yt_tfr_next_into(s->tfr, dst, &rec, &e);
        if (rc == YT_OK) yt_records_commit(&s->b, rec.index, len);
      }
      if (rc == YT_OK) {
        s->emitted++;
        if (full) break; /* the record just read starts the next message */
        continue;
      }
      damaged = rc == YT_ECORRUPT && strstr(e.msg, YT_TFR_DATA_CRC);
    }
    if (rc < 0 && (rc = on_damage(n, s, &e, damaged ? &rec : NULL, err)) == 0) continue;
    if (rc < 0) return rc;
    /* end of the shard, or the rest of it skipped */
    rc = send(n, s, true, err);
    close_shard(n, s);
    return rc < 0 ? rc : YT_OK;
  }
  update_progress(n, s);
  return YT_OK;
}

static int flush(yt_node *n, yt_err *err) {
  (void)n, (void)err;
  return YT_OK;
}

static void fini(yt_node *n) {
  reader_state *s = n->state;
  if (!s) return;
  yt_tfr_close(s->tfr);
  s->tfr = NULL;
  yt_records_builder_free(&s->b);
  for (size_t i = 0; i < s->n_paths; i++) free(s->paths[i]);
  free(s->paths);
  free(s->sizes);
  free(s->order);
  memset(s, 0, sizeof *s);
}

const yt_node_def yt_node_tfrecord_reader = {
    .name = "tfrecord_reader",
    .summary = "reads TFRecord shards (plain or .zst) matching a glob and emits their records",
    .outputs = {{"out", "records", "serialized records, one shard per message, SHARD_END on a shard's last"}},
    .n_outputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(reader_state),
    .init = init,
    .run = run,
    .flush = flush,
    .fini = fini,
};
