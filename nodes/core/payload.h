/* payload.h: what travels on an edge: the payload frames of a DATA message.
 *
 * Two layouts, named by the pad types of node.h:
 *
 * "records": serialized TFRecord payloads of ONE shard, in shard order.
 *   frame 0  meta:  yt_rec_meta, then u64 index[n], then u32 len[n]
 *   frame 1  shard name (the input file's base name, no NUL)
 *   frame 2  the n payloads, back to back
 *   A reader sets YT_REC_SHARD_END on the last message of a shard, so a writer
 *   with preserve_shards knows when to commit (an empty message may carry it).
 *   By reference (flag YT_REC_BY_REF, between processes on one host): frame 2
 *   is instead where the records lie, consecutive in the shard file:
 *     u64 file offset of the first record's header, u64 st_dev, u64 st_ino,
 *     then the file's path (no NUL)
 *   and the consumer's runner reads them (formats/records_ref.h) into an
 *   ordinary records message before the node sees it; YT_REC_NO_VERIFY says
 *   the data CRCs are not to be checked (tfrecord_reader verify_crc = false).
 *
 * "videos" / "batch": decoded videos (ids, labels, features).
 *   frame 0  meta:  yt_batch_meta, then u64 index[n], u32 shard[n],
 *                   i32 num_frames[n], u32 id_off[n+1], u32 label_off[n+1]
 *   frame 1  ids, back to back (id i = ids[id_off[i] .. id_off[i+1]))
 *   frame 2  labels, i32 (labels of i = labels[label_off[i] .. label_off[i+1]))
 *   frame 3  features, dtype f32 or u8, rows of `dim` columns:
 *            packed (frames == 0): sum(num_frames) rows, video i's rows follow video i-1's;
 *            padded (frames  > 0): n * frames rows, video i at row i*frames, rows past
 *            num_frames[i] are 0.0 (f32) as the starter pads after dequantizing.
 *   frame 4  (only when meta.teacher > 0) teacher predictions, f32 [n, teacher]:
 *            a distillation set's per-video teacher probabilities (graphs/distill.flow)
 *   Video-level records are one row per video (num_frames = 1, dim = sum of sizes).
 *
 * "predictions": the batch layout with dim = C, dtype f32, packed, one row of
 *   scores per video (num_frames 1); ids and labels are the input's; meta.step
 *   is the model's global step (eval log lines name it).
 *
 * "metrics": frame 0 = u32 kind (YT_PAYLOAD_METRICS), u32 0; frame 1 = JSON
 *   {"step": S, "scalars": {"TAG": value, ...}}. No records.
 *
 * Every record carries (shard, index): the shard's number in the sorted input list
 * (shard 0 for generated data) and the record's index in it. The
 * runner reads these to do exactly-once accounting; nodes just fill them in.
 * Integers are little-endian (the build is little-endian only; checked below).
 *
 * Decoding borrows: the views point into the message's frames, which must outlive
 * them. Every decode checks sizes against the frame lengths and fails with
 * YT_ECORRUPT instead of reading past a frame. */
#ifndef YT_PAYLOAD_H
#define YT_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "transport/msg.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "yt8m-flow payloads are little-endian; big-endian hosts are not supported"
#endif

enum { YT_PAYLOAD_RECORDS = 1, YT_PAYLOAD_BATCH = 2, YT_PAYLOAD_METRICS = 3 };
enum { YT_REC_SHARD_END = 1, YT_REC_BY_REF = 2, YT_REC_NO_VERIFY = 4 }; /* yt_rec_meta.flags */
#define YT_REC_REF_HEAD 24 /* by reference: the fixed part of frame 2, before the path */
enum { YT_DT_F32 = 1, YT_DT_U8 = 2 };

typedef struct yt_rec_meta {
  uint32_t kind;  /* YT_PAYLOAD_RECORDS */
  uint32_t n;     /* records in this message */
  uint32_t shard; /* shard number */
  uint32_t flags; /* YT_REC_SHARD_END */
  uint64_t shard_records; /* with SHARD_END: records sent for this shard in this pass (skipped ones excluded), else 0 */
} yt_rec_meta;

/* A decoded (borrowed) records message. */
typedef struct yt_records {
  uint32_t n, shard, flags;
  uint64_t shard_records;
  const uint64_t *index;
  const uint32_t *len;
  const char *shard_name;
  size_t shard_name_len;
  const uint8_t *data;  /* payloads back to back */
} yt_records;

/* Builder: append records of one shard, then yt_records_to_msg. */
typedef struct yt_records_builder {
  uint32_t shard, flags;
  uint64_t shard_records;
  char *shard_name;
  uint64_t *index;
  uint32_t *len;
  yt_buf data; /* payloads back to back: bytes used of data.len */
  size_t n, cap, bytes;
  /* by reference (yt_records_builder_by_ref): data stays empty; the records
   * are ref_path's bytes from ref_off to ref_next */
  char *ref_path;
  uint64_t ref_dev, ref_ino, ref_off, ref_next;
  bool ref_verify;
} yt_records_builder;

void yt_records_builder_init(yt_records_builder *b, uint32_t shard, const char *shard_name);
int yt_records_add(yt_records_builder *b, uint64_t index, const void *data, size_t len, yt_err *err);
/* yt_records_add in two steps, for a caller that reads a record straight into
 * the message: *dst gets room for len bytes at the end of the payloads, and
 * commit appends the record (uncommitted room is reused by the next reserve). */
int yt_records_reserve(yt_records_builder *b, size_t len, uint8_t **dst, yt_err *err);
void yt_records_commit(yt_records_builder *b, uint64_t index, size_t len);
/* From now on this builder's messages carry where the records lie instead of
 * their bytes (payload.h, YT_REC_BY_REF): the shard file's path (copied),
 * identity and whether its data CRCs are to be checked. Call while empty. */
int yt_records_builder_by_ref(yt_records_builder *b, const char *path, uint64_t dev, uint64_t ino, bool verify,
                              yt_err *err);
/* Appends a record by its place: header at byte off of the file, len data
 * bytes. Records of one message must follow each other in the file (YT_EINVAL
 * otherwise: send the message first). */
int yt_records_add_ref(yt_records_builder *b, uint64_t index, uint64_t off, size_t len, yt_err *err);
/* The next message's payload bytes go into *store (moved in; its len is the
 * room). For a node that allocates its output where it is sent from
 * (yt_node_alloc_frame); outgrowing it moves the bytes to malloc'd memory. */
void yt_records_builder_use(yt_records_builder *b, yt_buf *store);
/* Moves the built frames into m (a DATA message with records = n) and resets b
 * to empty for the same shard (flags cleared). */
int yt_records_to_msg(yt_records_builder *b, yt_msg *m, yt_err *err);
void yt_records_builder_free(yt_records_builder *b);
int yt_records_decode(yt_records *r, const yt_msg *m, yt_err *err);

typedef struct yt_batch_meta {
  uint32_t kind;   /* YT_PAYLOAD_BATCH */
  uint32_t n;      /* videos */
  uint32_t dim;    /* columns per row */
  uint32_t dtype;  /* YT_DT_F32 / YT_DT_U8 */
  uint32_t frames; /* 0 = packed; > 0 = padded to this many rows per video */
  uint32_t step;   /* "predictions": the global step of the model that made them */
  uint32_t teacher; /* teacher predictions per video (frame 4); 0 = none */
  uint32_t reserved; /* 0; keeps the u64 index array after the meta 8-byte aligned */
} yt_batch_meta;

/* A decoded (borrowed) batch, or one being built (then the arrays are owned by
 * the builder). */
typedef struct yt_batch {
  uint32_t n, dim, dtype, frames, step;
  const uint32_t *shard;
  const uint64_t *index;
  const int32_t *num_frames;
  const uint32_t *id_off, *label_off;
  const char *ids;
  const int32_t *labels;
  const void *features;
  uint32_t teacher;      /* teacher predictions per video, 0 = none */
  const float *teach;    /* [n, teacher] */
  size_t rows;  /* rows in features */
  size_t *row0; /* [n] first row of each video (owned) */
} yt_batch;

size_t yt_dtype_size(uint32_t dtype);

/* Builder: append videos one by one, then yt_batch_to_msg. `frames` = 0 packs
 * rows; > 0 pads every video to `frames` rows (a video with more rows is cut). */
typedef struct yt_batch_builder {
  uint32_t dim, dtype, frames, step;
  size_t n, cap;
  uint32_t *shard;
  uint64_t *index;
  int32_t *num_frames;
  uint32_t *id_off, *label_off;
  char *ids;
  size_t ids_len, ids_cap;
  int32_t *labels;
  size_t labels_len, labels_cap;
  yt_buf features; /* rows used of features.len bytes */
  size_t rows;
  int reserved; /* the next video's rows were reserved (yt_batch_rows_reserve) */
  uint32_t teacher; /* set after init: teacher predictions per video (0 = none) */
  float *teach;     /* [n, teacher]; yt_batch_add zeroes a video's row, yt_batch_teacher_row fills it */
  size_t teach_cap; /* floats */
} yt_batch_builder;

void yt_batch_builder_init(yt_batch_builder *b, uint32_t dim, uint32_t dtype, uint32_t frames);
/* Appends one video; rows[num_frames * dim] of b->dtype (NULL after
 * yt_batch_rows_reserve, or with num_frames 0).
 * With frames > 0, keeps min(num_frames, frames) rows, pads the rest with zeros,
 * and records num_frames = the rows kept. */
int yt_batch_add(yt_batch_builder *b, uint32_t shard, uint64_t index, const char *id, size_t id_len,
                 const int32_t *labels, size_t n_labels, const void *rows, int32_t num_frames, yt_err *err);
/* With b->teacher > 0: the last added video's teacher row (teacher floats, zeroed by yt_batch_add). */
float *yt_batch_teacher_row(yt_batch_builder *b);
/* Zero-copy variant: returns where the next video's rows go, zeroed
 * ((frames > 0 ? frames : num_frames) * dim elements of dtype), or NULL with err
 * set. Write the rows, then call yt_batch_add with rows = NULL and the same
 * num_frames. */
void *yt_batch_rows_reserve(yt_batch_builder *b, int32_t num_frames, yt_err *err);
/* The same without zeroing, for a caller that writes every row. */
void *yt_batch_rows_alloc(yt_batch_builder *b, int32_t num_frames, yt_err *err);
/* 1 when b's rows are filled with streaming stores (ntstore.h): its frame is
 * past the caches (frame-level batches); a caller that writes the rows itself
 * (yt_batch_rows_alloc) should do the same. */
int yt_batch_streaming(const yt_batch_builder *b);
/* The next message's rows go into *store (moved in; its len is the room), as
 * yt_records_builder_use. Call with no rows added yet. */
void yt_batch_builder_use(yt_batch_builder *b, yt_buf *store);
/* Moves the frames into m (DATA, records = n); b is reset, same dim/dtype/frames. */
int yt_batch_to_msg(yt_batch_builder *b, yt_msg *m, yt_err *err);
void yt_batch_builder_free(yt_batch_builder *b);
/* Fills bt with views into m's frames, plus bt->row0 (owned: video i's first
 * row); yt_batch_free releases row0 only. */
int yt_batch_decode(yt_batch *bt, const yt_msg *m, yt_err *err);
void yt_batch_free(yt_batch *bt);
/* Video i's first row. */
static inline const void *yt_batch_rows(const yt_batch *bt, uint32_t i) {
  return (const uint8_t *)bt->features + bt->row0[i] * bt->dim * (bt->dtype == YT_DT_F32 ? 4 : 1);
}
/* Video i's teacher predictions (bt->teacher floats), or NULL without them. */
static inline const float *yt_batch_teacher(const yt_batch *bt, uint32_t i) {
  return bt->teacher ? bt->teach + (size_t)i * bt->teacher : NULL;
}

/* A metrics message from JSON text (copied). */
int yt_metrics_msg(yt_msg *m, const char *json, yt_err *err);
/* The JSON text of a metrics message (borrowed, not NUL-terminated), or an error. */
int yt_metrics_decode(const yt_msg *m, const char **json, size_t *len, yt_err *err);

/* Any DATA payload: kind from frame 0, record count, and (shard, index) of
 * record i -- what the runner's accounting needs, without knowing the layout. */
int yt_payload_ids(const yt_msg *m, uint32_t *n, const uint32_t **shard_arr, uint32_t *shard_one,
                   const uint64_t **index, yt_err *err);

#endif
