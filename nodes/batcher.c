/* batcher.c: node `batcher`: decoded videos -> fixed-size batches padded to a
 * fixed number of rows per video, optionally shuffled through a buffer.
 *
 * Pads: in "videos" (packed or padded, payload.h) -> out "batch": batch_size
 * videos per message (the last one smaller unless drop_remainder), features
 * (batch_size, F, D) with F rows per video: a video's first min(num_frames, F)
 * rows, then 0 rows; num_frames = the rows kept (REFERENCE 1.7: cut at
 * max_frames, zero padding). Same dtype and D as the input.
 *
 * F: level = frame gives F = max_frames; level = video gives F = 1 (every
 * video must have one row); level = auto (default) decides once, on the first
 * input message: F = 1 when each of its videos has exactly one row (what
 * dequantize emits at video level), else max_frames. The decision never
 * changes mid-stream: a later multi-row video is an error naming level = frame.
 *
 * shuffle_buffer = K > 0 keeps copies of K videos (memory: K * F * D * dtype
 * bytes); each arriving video then sends a uniformly drawn buffered one to the
 * batch and takes its place, and at end of stream the buffer drains in random
 * order (as tf.data's shuffle). Every video still goes out exactly once.
 *
 * dtype = float32 with uint8 input dequantizes each kept row into the batch
 * (yt_dequantize: the same float32 values dequantize's dtype = float32 gives)
 * and pads with 0.0: uint8 crosses the edges before it (a quarter of the
 * bytes) and the shuffle buffer holds uint8. Float32 input passes as is.
 *
 * Not here: decoding (dequantize), normalization or sampling (model side).
 *
 *   deq -> batch : batcher { batch_size = 160; shuffle_buffer = 4096; seed = 1 } -> model */
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "core/ntstore.h"
#include "formats/yt8m.h"

enum { LEVEL_AUTO, LEVEL_FRAME, LEVEL_VIDEO };

/* One buffered video (shuffle): its own copies, reused slot by slot. */
typedef struct {
  uint32_t shard;
  uint64_t index;
  int32_t num_frames; /* rows held = min(num_frames, F) */
  char *id;
  size_t id_len, id_cap;
  int32_t *labels;
  size_t n_labels, labels_cap;
  uint8_t *rows; /* [num_frames, D] */
  size_t rows_cap;
  float *teach;  /* [teacher]: a distillation set's teacher predictions */
  size_t teach_cap;
} held_video;

typedef struct {
  size_t batch_size;
  uint32_t max_frames;
  int level;         /* LEVEL_* as asked */
  bool drop_remainder;
  bool shard_aligned; /* a batch never spans two shards */
  size_t shuffle;    /* buffer capacity in videos, 0 = keep order */
  uint64_t rng;
  bool shaped;       /* dim, dtype, F known (first input message) */
  bool to_float;     /* dtype = float32: uint8 input is dequantized into the batch */
  uint32_t dim, in_dtype, dtype, frames; /* in_dtype: the input's (and the shuffle buffer's); dtype: the batch's */
  bool auto_video;   /* F = 1 chosen by level = auto */
  yt_batch_builder out;
  held_video *buf;
  size_t n_buf;
} batcher_state;

static const yt_param_def params[] = {
    {"batch_size", YT_P_INT, "1024", 1, 1000000, NULL, "videos per output batch"},
    {"max_frames", YT_P_INT, "300", 1, 100000, NULL,
     "rows per video for frame-level input: cut to it, zero-padded up to it"},
    {"level", YT_P_ENUM, "auto", YT_NORANGE, "auto|frame|video",
     "frame: max_frames rows per video; video: 1 row; auto: video if every video of the first message has one row"},
    {"shuffle_buffer", YT_P_INT, "0", 0, 10000000, NULL,
     "videos held to shuffle from (memory: that many videos); 0 = keep the input order"},
    {"seed", YT_P_INT, "0", YT_NORANGE, NULL, "shuffle seed (mixed with the replica number)"},
    {"shard_aligned", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "start a new batch where the shard changes: with in-order input (no shuffle, dequantize x1) a batch's "
     "videos then depend on its shard alone, so a resumed graphs/distill.flow writes the same bytes"},
    {"drop_remainder", YT_P_BOOL, "false", YT_NORANGE, NULL,
     "drop a last batch smaller than batch_size (its videos are counted as dropped)"},
    {"dtype", YT_P_ENUM, "same", YT_NORANGE, "same|float32",
     "same: batches in the input's dtype; float32: uint8 input is dequantized (as utils.Dequantize) while it is "
     "batched, so uint8 crosses the processes before (4x fewer bytes) and the shuffle buffer holds uint8"},
};

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static size_t draw(batcher_state *st, size_t n) {
  size_t j = (size_t)((double)(splitmix64(&st->rng) >> 11) * 0x1p-53 * (double)n);
  return j < n ? j : n - 1;
}

static int bat_init(yt_node *n, yt_err *err) {
  batcher_state *st = n->state;
  const yt_params *p = &n->params;
  st->batch_size = (size_t)yt_param_int(p, "batch_size");
  st->max_frames = (uint32_t)yt_param_int(p, "max_frames");
  const char *lv = yt_param_str(p, "level");
  st->level = !strcmp(lv, "frame") ? LEVEL_FRAME : !strcmp(lv, "video") ? LEVEL_VIDEO : LEVEL_AUTO;
  st->shuffle = (size_t)yt_param_int(p, "shuffle_buffer");
  st->drop_remainder = yt_param_bool(p, "drop_remainder");
  st->shard_aligned = yt_param_bool(p, "shard_aligned");
  st->to_float = !strcmp(yt_param_str(p, "dtype"), "float32");
  if (st->shard_aligned && (st->shuffle || st->drop_remainder))
    return yt_fail(err, YT_EUSAGE, "shard_aligned = true keeps the input order and every video: it cannot go with "
                   "shuffle_buffer > 0 or drop_remainder = true");
  st->rng = (uint64_t)yt_param_int(p, "seed") ^ ((uint64_t)n->replica * 0xd1b54a32d192ed03ull);
  if (st->shuffle && !(st->buf = calloc(st->shuffle, sizeof *st->buf)))
    return yt_fail(err, YT_ENOMEM, "out of memory for shuffle_buffer = %zu videos", st->shuffle);
  return YT_OK;
}

/* dim, dtype and F from the first message; the batch size limit is checked
 * here, at the first video, rather than after a GiB has piled up. */
static int set_shape(batcher_state *st, const yt_batch *in, yt_err *err) {
  st->dim = in->dim;
  st->in_dtype = in->dtype;
  st->dtype = st->to_float ? YT_DT_F32 : in->dtype;
  bool one_row = true;
  for (uint32_t i = 0; i < in->n; i++) one_row &= in->num_frames[i] == 1;
  st->auto_video = st->level == LEVEL_AUTO && one_row;
  st->frames = st->level == LEVEL_VIDEO || st->auto_video ? 1 : st->max_frames;
  size_t row_bytes = (size_t)st->dim * yt_dtype_size(st->dtype);
  double bytes = (double)st->batch_size * st->frames * (double)row_bytes;
  if (row_bytes == 0)
    return yt_fail(err, YT_EINVAL, "input videos have dim %u dtype %u: nothing to batch", st->dim, st->dtype);
  if (bytes > (double)YT_MSG_MAX_FRAME_BYTES)
    return yt_fail(err, YT_EINVAL,
                   "a batch of %zu videos x %u rows x %u %s values is %.2f GiB, over the 1 GiB message limit: "
                   "lower batch_size (at most %zu here), or keep uint8 batches (dequantize dtype = uint8, batcher "
                   "dtype = same: the model dequantizes)",
                   st->batch_size, st->frames, st->dim, st->dtype == YT_DT_U8 ? "uint8" : "float32",
                   bytes / (double)(1u << 30), (size_t)(YT_MSG_MAX_FRAME_BYTES / (st->frames * row_bytes)));
  yt_batch_builder_init(&st->out, st->dim, st->dtype, st->frames);
  st->out.teacher = in->teacher; /* teacher predictions travel with their videos */
  st->shaped = true;
  return YT_OK;
}

static int emit_batch(yt_node *n, batcher_state *st, yt_err *err) {
  yt_msg m;
  yt_msg_init(&m, YT_MSG_DATA);
  int rc = yt_batch_to_msg(&st->out, &m, err);
  if (rc == YT_OK) rc = yt_node_emit(n, 0, &m, err);
  yt_msg_clear(&m);
  return rc;
}

/* Appends one video to the batch being built (cut/padded to F rows there) and
 * sends the batch when full. */
static int to_batch(yt_node *n, batcher_state *st, uint32_t shard, uint64_t index, const char *id, size_t id_len,
                    const int32_t *labels, size_t n_labels, const void *rows, int32_t num_frames,
                    const float *teach, yt_err *err) {
  /* rows never NULL: with rows the builder reserves the F zeroed rows even for
   * a 0-frame video (a NULL would mean "already reserved") */
  static const uint8_t none;
  if (st->shard_aligned && st->out.n && st->out.shard[st->out.n - 1] != shard) {
    int rc = emit_batch(n, st, err);
    if (rc < 0) return rc;
  }
  if (st->out.n == 0 && !st->out.features.data) { /* a new batch: its rows go where it is sent from */
    yt_buf store;
    size_t row_bytes = (size_t)st->dim * yt_dtype_size(st->dtype);
    int rc = yt_node_alloc_frame(n, 0, st->batch_size * st->frames * row_bytes, &store, err);
    if (rc < 0) return rc;
    yt_batch_builder_use(&st->out, &store);
  }
  int rc;
  if (st->in_dtype == YT_DT_U8 && st->dtype == YT_DT_F32 && num_frames > 0) {
    /* [F, dim] float32 rows: the first min(num_frames, F) dequantized, the rest 0 */
    float *dst = yt_batch_rows_alloc(&st->out, num_frames, err);
    if (!dst) return err->code < 0 ? err->code : YT_ENOMEM;
    size_t kept = (uint32_t)num_frames < st->frames ? (size_t)num_frames : st->frames;
    size_t vals = kept * st->dim, pad = (st->frames - kept) * st->dim * sizeof(float);
    if (yt_batch_streaming(&st->out)) {
      yt_dequantize_nt(dst, rows, vals);
      yt_zero_nt(dst + vals, pad);
    } else {
      yt_dequantize(dst, rows, vals);
      memset(dst + vals, 0, pad);
    }
    rc = yt_batch_add(&st->out, shard, index, id, id_len, labels, n_labels, NULL, num_frames, err);
  } else {
    rc = yt_batch_add(&st->out, shard, index, id, id_len, labels, n_labels, rows ? rows : &none, num_frames, err);
  }
  if (rc < 0) return rc;
  if (teach) memcpy(yt_batch_teacher_row(&st->out), teach, st->out.teacher * sizeof *teach);
  return st->out.n >= st->batch_size ? emit_batch(n, st, err) : YT_OK;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem, yt_err *err) {
  if (need <= *cap) return YT_OK;
  void *np = realloc(*p, need * elem);
  if (!np) return yt_fail(err, YT_ENOMEM, "out of memory in the shuffle buffer");
  *p = np;
  *cap = need;
  return YT_OK;
}

/* Copies video i of `in` into slot h, keeping at most F rows. */
static int hold(batcher_state *st, held_video *h, const yt_batch *in, uint32_t i, yt_err *err) {
  int32_t nf = in->num_frames[i] < (int32_t)st->frames ? in->num_frames[i] : (int32_t)st->frames;
  size_t id_len = in->id_off[i + 1] - in->id_off[i], n_labels = in->label_off[i + 1] - in->label_off[i];
  size_t row_bytes = (size_t)st->dim * yt_dtype_size(st->in_dtype), bytes = (size_t)nf * row_bytes;
  if (grow((void **)&h->id, &h->id_cap, id_len + 1, 1, err) < 0 ||
      grow((void **)&h->labels, &h->labels_cap, n_labels + 1, sizeof(int32_t), err) < 0 ||
      grow((void **)&h->rows, &h->rows_cap, bytes + 1, 1, err) < 0 ||
      grow((void **)&h->teach, &h->teach_cap, in->teacher + 1, sizeof(float), err) < 0)
    return err->code;
  if (in->teacher) memcpy(h->teach, yt_batch_teacher(in, i), in->teacher * sizeof(float));
  h->shard = in->shard[i];
  h->index = in->index[i];
  h->num_frames = nf;
  h->id_len = id_len;
  memcpy(h->id, in->ids + in->id_off[i], id_len);
  h->n_labels = n_labels;
  memcpy(h->labels, in->labels + in->label_off[i], n_labels * sizeof(int32_t));
  if (bytes) memcpy(h->rows, yt_batch_rows(in, i), bytes);
  return YT_OK;
}

static int send_held(yt_node *n, batcher_state *st, const held_video *h, yt_err *err) {
  return to_batch(n, st, h->shard, h->index, h->id, h->id_len, h->labels, h->n_labels, h->rows, h->num_frames,
                  st->out.teacher ? h->teach : NULL, err);
}

static int take_video(yt_node *n, batcher_state *st, const yt_batch *in, uint32_t i, yt_err *err) {
  if (!st->shuffle) {
    return to_batch(n, st, in->shard[i], in->index[i], in->ids + in->id_off[i], in->id_off[i + 1] - in->id_off[i],
                    in->labels + in->label_off[i], in->label_off[i + 1] - in->label_off[i], yt_batch_rows(in, i),
                    in->num_frames[i], yt_batch_teacher(in, i), err);
  }
  if (st->n_buf < st->shuffle) return hold(st, &st->buf[st->n_buf++], in, i, err);
  held_video *h = &st->buf[draw(st, st->n_buf)];
  int rc = send_held(n, st, h, err);
  return rc < 0 ? rc : hold(st, h, in, i, err);
}

static int bat_process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad;
  batcher_state *st = n->state;
  yt_batch in = {0};
  int rc = yt_batch_decode(&in, m, err);
  if (rc < 0) {
    yt_err_prefix(err, "input message: ");
    return rc;
  }
  if (in.n > 0 && !st->shaped) rc = set_shape(st, &in, err);
  if (rc == YT_OK && in.n > 0 && (in.dim != st->dim || in.dtype != st->in_dtype))
    rc = yt_fail(err, YT_EINVAL,
                 "video (shard %u, index %llu) has %u %s columns, earlier input had %u %s: every input of a "
                 "batcher must carry the same features",
                 in.shard[0], (unsigned long long)in.index[0], in.dim, in.dtype == YT_DT_U8 ? "uint8" : "float32",
                 st->dim, st->in_dtype == YT_DT_U8 ? "uint8" : "float32");
  if (rc == YT_OK && in.n > 0 && in.teacher != st->out.teacher)
    rc = yt_fail(err, YT_EINVAL,
                 "video (shard %u, index %llu) has %u teacher predictions, earlier input had %u: mixing a "
                 "distillation set with other input",
                 in.shard[0], (unsigned long long)in.index[0], in.teacher, st->out.teacher);
  for (uint32_t i = 0; rc == YT_OK && i < in.n; i++) {
    int32_t nf = in.num_frames[i];
    if (nf < 0)
      rc = yt_fail(err, YT_ECORRUPT, "video (shard %u, index %llu) has num_frames %d", in.shard[i],
                   (unsigned long long)in.index[i], nf);
    else if (st->frames == 1 && nf != 1 && (st->auto_video || st->level == LEVEL_VIDEO))
      rc = yt_fail(err, YT_EINVAL,
                   "video (shard %u, index %llu) has %d rows, but %s: set level = frame for frame-level input",
                   in.shard[i], (unsigned long long)in.index[i], nf,
                   st->auto_video ? "the input looked video-level (every video of the first message had one row)"
                                  : "level = video expects one row per video");
    else
      rc = take_video(n, st, &in, i, err);
  }
  yt_batch_free(&in);
  return rc;
}

static int bat_flush(yt_node *n, yt_err *err) {
  batcher_state *st = n->state;
  while (st->n_buf > 0) { /* drain the buffer in random order */
    size_t j = draw(st, st->n_buf);
    int rc = send_held(n, st, &st->buf[j], err);
    if (rc < 0) return rc;
    held_video tmp = st->buf[j]; /* swap, so every slot keeps owning its buffers */
    st->buf[j] = st->buf[--st->n_buf];
    st->buf[st->n_buf] = tmp;
  }
  if (!st->shaped || st->out.n == 0) return YT_OK;
  if (!st->drop_remainder) return emit_batch(n, st, err);
  for (size_t i = 0; i < st->out.n; i++) yt_node_drop(n, st->out.shard[i], st->out.index[i]);
  uint32_t teacher = st->out.teacher;
  yt_batch_builder_free(&st->out);
  yt_batch_builder_init(&st->out, st->dim, st->dtype, st->frames);
  st->out.teacher = teacher;
  return YT_OK;
}

static void bat_fini(yt_node *n) {
  batcher_state *st = n->state;
  if (!st) return;
  if (st->shaped) yt_batch_builder_free(&st->out);
  for (size_t i = 0; st->buf && i < st->shuffle; i++) {
    free(st->buf[i].id);
    free(st->buf[i].labels);
    free(st->buf[i].rows);
    free(st->buf[i].teach);
  }
  free(st->buf);
}

const yt_node_def yt_node_batcher = {
    .name = "batcher",
    .summary = "group videos into fixed-size batches padded to max_frames rows, optionally shuffled",
    .inputs = {{"in", "videos", "decoded videos (packed or padded)"}},
    .n_inputs = 1,
    .outputs = {{"out", "batch", "batch_size videos, each padded or cut to the same number of rows"}},
    .n_outputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(batcher_state),
    .init = bat_init,
    .process = bat_process,
    .flush = bat_flush,
    .fini = bat_fini,
};
