/* dequantize.c: node `dequantize`: serialized YouTube-8M records -> decoded
 * videos (ids, labels, feature rows), as the starter's readers decode them.
 *
 * Pads: in "records" (TFRecord payloads, payload.h) -> out "videos" (packed
 * rows: video i's num_frames rows follow video i-1's). One output message per
 * input message (split in two only where it would pass the 1 GiB frame limit).
 *
 * Frame level: rows are frames, dim = sum(feature_sizes) = 1152 by default
 * (rgb 0..1023, audio 1024..1151); the first max_frames frames are kept and
 * num_frames = min(frames of the FIRST feature, max_frames) (REFERENCE 1.7).
 * float32 rows are dequantized q*(4/255) + (4/512-2), bit-exact (REFERENCE
 * 1.6); a feature whose list is shorter than num_frames gets 0.0 rows (the
 * starter pads after dequantizing). dtype = uint8 passes the raw bytes on
 * (4x smaller edges): a short feature's missing rows are then 0 bytes, which
 * are NOT the padding value (byte 0 dequantizes to -1.99), so a consumer must
 * honour num_frames per feature or dequantize before padding matters.
 * Video level: one row of dim float32 per video (mean_rgb, mean_audio), num_frames 1.
 *
 * Sampling (frame level, sample_frames = S > 0; REFERENCE 2.6) replaces the
 * kept frames by S rows drawn from them; num_frames is then S: the model sees
 * S rows that are all "real" (zero rows only where the video has no frame to
 * draw), as the starter's models see them after SampleRandomFrames.
 *
 * Not here: reading shards (a source node), padding to max_frames rows per
 * video and batching (batcher), l2 normalization (the model's input step).
 *
 *   shards -> deq : dequantize { level = frame; sampling = random; sample_frames = 300 } -> batch */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "formats/yt8m.h"

enum { SAMPLE_FIRST, SAMPLE_RANDOM, SAMPLE_SEQUENCE, SAMPLE_ALL };

typedef struct {
  yt_schema schema;
  uint32_t dtype;  /* YT_DT_F32 / YT_DT_U8 */
  int sampling;    /* SAMPLE_* */
  int sample;      /* S rows per video when sampling, else 0 */
  uint64_t seed;
  int skip;        /* on_invalid = skip */
  int teacher;     /* teacher_predictions: num_classes floats per video, else 0 */
  yt_record rec;
  yt_batch_builder out;
  int32_t *labels; /* labels of the current record as int32 */
  size_t labels_cap;
  int *idx;        /* [S] sampled frame of each slot */
} deq_state;

static const yt_param_def params[] = {
    {"level", YT_P_ENUM, "frame", YT_NORANGE, "frame|video",
     "frame: SequenceExample with uint8 frames; video: Example with float means"},
    {"feature_names", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "comma-separated features in row order; \"\" = rgb,audio (frame) or mean_rgb,mean_audio (video)"},
    {"feature_sizes", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "comma-separated sizes paired with feature_names; \"\" = 1024,128"},
    {"num_classes", YT_P_INT, "3862", 0, 1e9, NULL, "labels must lie in [0, num_classes); 0 = unchecked"},
    {"max_frames", YT_P_INT, "300", 1, 100000, NULL, "frame level: frames kept per video (the first ones)"},
    {"dtype", YT_P_ENUM, "float32", YT_NORANGE, "float32|uint8",
     "float32: dequantized rows; uint8: the raw quantized bytes (frame level only)"},
    {"sampling", YT_P_ENUM, "first", YT_NORANGE, "first|random|random_sequence|sample_all",
     "first: keep the first max_frames frames; else draw sample_frames rows per video (REFERENCE 2.6)"},
    {"sample_frames", YT_P_INT, "0", 0, 100000, NULL, "rows drawn per video by sampling; 0 with sampling = first"},
    {"seed", YT_P_INT, "0", YT_NORANGE, NULL, "sampling seed, mixed with each record's (shard, index)"},
    {"teacher_predictions", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "read each record's float list teacher_predictions (num_classes values, a distillation set from "
     "graphs/distill.flow) and pass it on with the video, for train's loss_lambda"},
    {"on_invalid", YT_P_ENUM, "fail", YT_NORANGE, "fail|skip",
     "a record that does not decode: fail the run, or skip it with a warning (counted as dropped)"},
};

/* splitmix64: a small generator with good mixing, enough to turn (seed,
 * shard, index) into independent uniform draws per record. */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double unif(uint64_t *x) { return (double)(splitmix64(x) >> 11) * 0x1p-53; } /* [0, 1) */

static int deq_init(yt_node *n, yt_err *err) {
  deq_state *st = n->state;
  const yt_params *p = &n->params;
  yt_level level = strcmp(yt_param_str(p, "level"), "video") == 0 ? YT_LEVEL_VIDEO : YT_LEVEL_FRAME;
  const char *names = yt_param_str(p, "feature_names"), *sizes = yt_param_str(p, "feature_sizes");
  int rc = yt_schema_init(&st->schema, level, *names ? names : NULL, *sizes ? sizes : NULL, err);
  if (rc < 0) return rc;
  st->schema.num_classes = (int)yt_param_int(p, "num_classes");
  st->schema.max_frames = level == YT_LEVEL_FRAME ? (int)yt_param_int(p, "max_frames") : 1;

  st->dtype = strcmp(yt_param_str(p, "dtype"), "uint8") == 0 ? YT_DT_U8 : YT_DT_F32;
  if (st->dtype == YT_DT_U8 && level == YT_LEVEL_VIDEO)
    return yt_fail(err, YT_EUSAGE,
                   "dtype = uint8 needs level = frame: video-level features are float means, there are no "
                   "quantized bytes to pass on (use dtype = float32)");

  const char *mode = yt_param_str(p, "sampling");
  st->sampling = !strcmp(mode, "random")            ? SAMPLE_RANDOM
                 : !strcmp(mode, "random_sequence") ? SAMPLE_SEQUENCE
                 : !strcmp(mode, "sample_all")      ? SAMPLE_ALL
                                                    : SAMPLE_FIRST;
  st->sample = (int)yt_param_int(p, "sample_frames");
  if (st->sampling == SAMPLE_FIRST && st->sample > 0)
    return yt_fail(err, YT_EUSAGE,
                   "sample_frames = %d needs sampling = random|random_sequence|sample_all (sampling = first "
                   "keeps the first max_frames frames: set max_frames instead)", st->sample);
  if (st->sampling != SAMPLE_FIRST && st->sample == 0)
    return yt_fail(err, YT_EUSAGE, "sampling = %s needs sample_frames > 0 (the rows drawn per video)", mode);
  if (st->sample > 0 && level == YT_LEVEL_VIDEO)
    return yt_fail(err, YT_EUSAGE, "sampling needs level = frame: a video-level record has one row, nothing to sample");
  if (st->sample > 0 && !(st->idx = malloc(sizeof(int) * (size_t)st->sample)))
    return yt_fail(err, YT_ENOMEM, "out of memory");
  st->seed = (uint64_t)yt_param_int(p, "seed");
  st->skip = strcmp(yt_param_str(p, "on_invalid"), "skip") == 0;
  yt_batch_builder_init(&st->out, (uint32_t)st->schema.dim, st->dtype, 0);
  if (yt_param_bool(p, "teacher_predictions")) {
    if (st->schema.num_classes <= 0)
      return yt_fail(err, YT_EUSAGE, "teacher_predictions = true needs num_classes > 0 (the list's length)");
    st->teacher = st->schema.num_classes;
    st->out.teacher = (uint32_t)st->teacher;
  }
  return YT_OK;
}

/* The record's teacher_predictions into the last added video's row. */
static int add_teacher(deq_state *st, yt_err *err) {
  const yt_feature *f = yt_example_find(&st->rec.ex, "teacher_predictions");
  if (!f)
    return yt_fail(err, YT_EINVAL,
                   "no feature 'teacher_predictions' (teacher_predictions = true reads a distillation set: make one "
                   "with graphs/distill.flow)");
  size_t n = 0;
  int rc = yt_feature_floats(f, yt_batch_teacher_row(&st->out), (size_t)st->teacher, &n, err);
  if (rc < 0) return rc;
  if (n != (size_t)st->teacher)
    return yt_fail(err, YT_EINVAL, "feature 'teacher_predictions' has %zu values, num_classes is %d", n,
                   st->teacher);
  return YT_OK;
}

/* Frame idx of r into row (dim elements of dtype, not zeroed: every byte is
 * written): features side by side; a feature with no frame idx is 0 (0.0 or
 * byte 0). This is yt_record_dequantize one row at a time, so sampled rows are
 * bit-identical. */
static void put_frame(const deq_state *st, void *row, int idx) {
  const yt_schema *s = &st->schema;
  size_t esz = yt_dtype_size(st->dtype);
  if (idx < 0 || idx >= st->rec.num_frames) { /* no frame to draw: zero row */
    memset(row, 0, (size_t)s->dim * esz);
    return;
  }
  for (int i = 0; i < s->n; i++) {
    const uint8_t *q = st->rec.rows[(size_t)idx * (size_t)s->n + (size_t)i];
    if (!q) memset((uint8_t *)row + (size_t)s->offsets[i] * esz, 0, (size_t)s->sizes[i] * esz);
    else if (st->dtype == YT_DT_F32) yt_dequantize((float *)row + s->offsets[i], q, (size_t)s->sizes[i]);
    else memcpy((uint8_t *)row + s->offsets[i], q, (size_t)s->sizes[i]);
  }
}

/* The S frame indices of REFERENCE 2.6 over the kept frames [0, nf). The
 * stream depends on (seed, shard, index) only, so a record gets the same rows
 * whichever replica or message carries it. */
static void sample_indices(deq_state *st, uint32_t shard, uint64_t index, int nf) {
  uint64_t x = st->seed ^ 0x243f6a8885a308d3ull;
  x = splitmix64(&x) ^ shard;
  x = splitmix64(&x) ^ index;
  int S = st->sample;
  if (st->sampling == SAMPLE_SEQUENCE) {
    int span = (nf - S > 0 ? nf - S : 0) + 1;
    int start = (int)(unif(&x) * span);
    for (int t = 0; t < S; t++) st->idx[t] = start + t < nf - 1 ? start + t : nf - 1; /* nf = 0: -1, a zero row */
    return;
  }
  /* random (with replacement, unsorted); nf = 0 gives index 0 = a zero row */
  for (int t = 0; t < S; t++) {
    int i = (int)(unif(&x) * nf);
    st->idx[t] = i < nf ? i : nf - 1;
    if (nf == 0) st->idx[t] = 0;
  }
  if (st->sampling == SAMPLE_ALL) /* slot t = frame t where the video has it */
    for (int t = 0; t < S && t < nf; t++) st->idx[t] = t;
}

static int emit_out(yt_node *n, deq_state *st, yt_err *err) {
  if (st->out.n == 0) return YT_OK;
  yt_msg m;
  yt_msg_init(&m, YT_MSG_DATA);
  int rc = yt_batch_to_msg(&st->out, &m, err);
  if (rc == YT_OK) rc = yt_node_emit(n, 0, &m, err);
  yt_msg_clear(&m);
  return rc;
}

/* Allocates the output rows of n videos where they will be sent from (the
 * runner's shared-memory pool: no copy on emit), sized for the most rows they
 * can have; what is not used is given back when the message leaves. */
static int reserve_out(yt_node *n, deq_state *st, uint32_t videos, yt_err *err) {
  const yt_schema *s = &st->schema;
  size_t per_video = s->level == YT_LEVEL_VIDEO ? 1 : st->sample > 0 ? (size_t)st->sample : (size_t)s->max_frames;
  size_t bytes = (size_t)videos * per_video * (size_t)s->dim * yt_dtype_size(st->dtype);
  if (st->out.n || bytes > YT_MSG_MAX_FRAME_BYTES) return YT_OK; /* the builder grows its own */
  yt_buf store;
  int rc = yt_node_alloc_frame(n, 0, bytes, &store, err);
  if (rc < 0) return rc;
  yt_batch_builder_use(&st->out, &store);
  return YT_OK;
}

/* Appends the decoded st->rec as one video. */
static int add_video(yt_node *n, deq_state *st, uint32_t shard, uint64_t index, yt_err *err) {
  const yt_record *r = &st->rec;
  const yt_schema *s = &st->schema;
  for (size_t i = 0; i < r->n_labels; i++)
    if (r->labels[i] < INT32_MIN || r->labels[i] > INT32_MAX)
      return yt_fail(err, YT_EINVAL, "feature 'labels' value %lld does not fit int32", (long long)r->labels[i]);
  if (r->n_labels > st->labels_cap) {
    int32_t *l = realloc(st->labels, r->n_labels * sizeof *l);
    if (!l) return yt_fail(err, YT_ENOMEM, "out of memory");
    st->labels = l;
    st->labels_cap = r->n_labels;
  }
  for (size_t i = 0; i < r->n_labels; i++) st->labels[i] = (int32_t)r->labels[i];

  if (s->level == YT_LEVEL_VIDEO) {
    int rc = yt_batch_add(&st->out, shard, index, (const char *)r->id.p, r->id.n, st->labels, r->n_labels, r->video,
                          1, err);
    return rc < 0 || !st->teacher ? rc : add_teacher(st, err);
  }

  int rows = st->sample > 0 ? st->sample : r->num_frames;
  size_t row_bytes = (size_t)s->dim * yt_dtype_size(st->dtype);
  /* keep each message under the frame limit: emit early rather than fail */
  if (st->out.n > 0 && (st->out.rows + (size_t)rows) * row_bytes > YT_MSG_MAX_FRAME_BYTES) {
    int rc = emit_out(n, st, err);
    if (rc < 0) return rc;
  }
  if (rows > 0) {
    uint8_t *dst = yt_batch_rows_alloc(&st->out, rows, err); /* [rows, dim], every row written below */
    if (!dst) return err->code < 0 ? err->code : YT_ENOMEM;
    if (st->sample > 0) sample_indices(st, shard, index, r->num_frames);
    for (int t = 0; t < rows; t++) put_frame(st, dst + (size_t)t * row_bytes, st->sample > 0 ? st->idx[t] : t);
  }
  int rc = yt_batch_add(&st->out, shard, index, (const char *)r->id.p, r->id.n, st->labels, r->n_labels, NULL, rows,
                        err);
  return rc < 0 || !st->teacher ? rc : add_teacher(st, err);
}

static int deq_process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad;
  deq_state *st = n->state;
  yt_records in;
  int rc = yt_records_decode(&in, m, err);
  if (rc < 0) {
    yt_err_prefix(err, "input message: ");
    return rc;
  }
  if (in.n && (rc = reserve_out(n, st, in.n, err)) < 0) return rc;
  const uint8_t *p = in.data;
  for (uint32_t i = 0; i < in.n; p += in.len[i], i++) {
    rc = yt_record_decode(&st->rec, &st->schema, p, in.len[i], err);
    if (rc == YT_EINVAL || rc == YT_ECORRUPT) {
      if (!st->skip) {
        yt_err_prefix(err, "%.*s: record %llu: ", (int)in.shard_name_len, in.shard_name,
                      (unsigned long long)in.index[i]);
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (on_invalid = skip skips such records)");
        return rc;
      }
      fprintf(stderr, "warning: %s: %.*s: record %llu: %s (record skipped: on_invalid = skip)\n",
              n->name ? n->name : n->def->name, (int)in.shard_name_len, in.shard_name,
              (unsigned long long)in.index[i], err->msg);
      yt_node_drop(n, in.shard, in.index[i]);
      yt_node_count(n, "skipped_records", 1);
      continue;
    }
    if (rc == YT_OK) rc = add_video(n, st, in.shard, in.index[i], err);
    if (rc < 0) {
      yt_err_prefix(err, "%.*s: record %llu: ", (int)in.shard_name_len, in.shard_name, (unsigned long long)in.index[i]);
      return rc;
    }
  }
  return emit_out(n, st, err);
}

static void deq_fini(yt_node *n) {
  deq_state *st = n->state;
  if (!st) return;
  yt_record_free(&st->rec);
  yt_batch_builder_free(&st->out);
  free(st->labels);
  free(st->idx);
}

const yt_node_def yt_node_dequantize = {
    .name = "dequantize",
    .summary = "decode YouTube-8M records into id, labels and float32 (or raw uint8) feature rows",
    .inputs = {{"in", "records", "serialized Example (video level) or SequenceExample (frame level) records"}},
    .n_inputs = 1,
    .outputs = {{"out", "videos", "one packed videos message per input message"}},
    .n_outputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(deq_state),
    .init = deq_init,
    .process = deq_process,
    .fini = deq_fini,
};
