/* payload.c: build and decode the payload frames of DATA messages (payload.h). */
#include "core/payload.h"

#include <stdlib.h>
#include <string.h>

#include "core/ntstore.h"

/* A batch frame at least this big is filled with streaming stores (ntstore.h):
 * frame-level batches, tens of MB; a video-level batch (128 x 1152 floats,
 * 0.6 MB) stays in the caches for its reader. */
#define YT_BATCH_NT_MIN ((size_t)8 << 20)

/* Grows *p to hold need elements of size sz (doubling). */
static int grow(void **p, size_t *cap, size_t need, size_t sz, yt_err *err) {
  if (need <= *cap) return YT_OK;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * sz);
  if (!q) return yt_fail(err, YT_ENOMEM, "out of memory growing a message to %zu bytes", c * sz);
  *p = q;
  *cap = c;
  return YT_OK;
}

/* Grows a frame's storage to need bytes keeping the first used. Malloc'd
 * storage is realloc'd; storage from elsewhere (yt_node_alloc_frame's pool)
 * moves to malloc'd memory: a guess that was too small costs one copy. */
static int grow_buf(yt_buf *b, size_t used, size_t need, yt_err *err) {
  if (need <= b->len && (b->data || !need)) return YT_OK;
  size_t c = b->len ? b->len : 64;
  while (c < need) c *= 2;
  void *q;
  if (!b->owned || b->release) {
    q = malloc(c);
    if (q && used) memcpy(q, b->data, used);
    if (q) yt_buf_free(b);
  } else {
    q = realloc(b->data, c);
  }
  if (!q) return yt_fail(err, YT_ENOMEM, "out of memory growing a message to %zu bytes", c);
  *b = (yt_buf){.data = q, .len = c, .owned = 1};
  return YT_OK;
}

/* Moves storage b, of which used bytes are filled, into m as its next frame. */
static int add_storage(yt_msg *m, yt_buf *b, size_t used, yt_err *err) {
  b->len = used;
  return yt_msg_add_buf(m, b, err);
}

size_t yt_dtype_size(uint32_t dtype) { return dtype == YT_DT_F32 ? 4 : dtype == YT_DT_U8 ? 1 : 0; }

/* ---- records ------------------------------------------------------------ */

void yt_records_builder_init(yt_records_builder *b, uint32_t shard, const char *shard_name) {
  memset(b, 0, sizeof *b);
  b->shard = shard;
  b->shard_name = strdup(shard_name ? shard_name : "");
}

int yt_records_reserve(yt_records_builder *b, size_t len, uint8_t **dst, yt_err *err) {
  if (len > UINT32_MAX) return yt_fail(err, YT_EINVAL, "a record of %zu bytes is over 4 GiB", len);
  size_t cap = b->cap;
  if (grow((void **)&b->index, &cap, b->n + 1, sizeof *b->index, err)) return YT_ENOMEM;
  cap = b->cap;
  if (grow((void **)&b->len, &cap, b->n + 1, sizeof *b->len, err)) return YT_ENOMEM;
  b->cap = cap;
  if (grow_buf(&b->data, b->bytes, b->bytes + len, err)) return YT_ENOMEM;
  *dst = (uint8_t *)b->data.data + b->bytes;
  return YT_OK;
}

void yt_records_commit(yt_records_builder *b, uint64_t index, size_t len) {
  b->index[b->n] = index;
  b->len[b->n] = (uint32_t)len;
  b->bytes += len;
  b->n++;
}

int yt_records_add(yt_records_builder *b, uint64_t index, const void *data, size_t len, yt_err *err) {
  uint8_t *dst;
  int rc = yt_records_reserve(b, len, &dst, err);
  if (rc < 0) return rc;
  if (len) memcpy(dst, data, len);
  yt_records_commit(b, index, len);
  return YT_OK;
}

int yt_records_builder_by_ref(yt_records_builder *b, const char *path, uint64_t dev, uint64_t ino, bool verify,
                              yt_err *err) {
  if (b->n) return yt_fail(err, YT_EINVAL, "yt_records_builder_by_ref on a builder that holds records");
  char *p = strdup(path);
  if (!p) return yt_fail(err, YT_ENOMEM, "out of memory");
  free(b->ref_path);
  b->ref_path = p;
  b->ref_dev = dev, b->ref_ino = ino, b->ref_verify = verify;
  return YT_OK;
}

int yt_records_add_ref(yt_records_builder *b, uint64_t index, uint64_t off, size_t len, yt_err *err) {
  if (!b->ref_path) return yt_fail(err, YT_EINVAL, "yt_records_add_ref on a builder that is not by reference");
  if (len > UINT32_MAX) return yt_fail(err, YT_EINVAL, "a record of %zu bytes is over 4 GiB", len);
  if (b->n && off != b->ref_next)
    return yt_fail(err, YT_EINVAL, "%s: record at byte %llu does not follow the message's last one (ends at %llu)",
                   b->ref_path, (unsigned long long)off, (unsigned long long)b->ref_next);
  size_t cap = b->cap;
  if (grow((void **)&b->index, &cap, b->n + 1, sizeof *b->index, err)) return YT_ENOMEM;
  cap = b->cap;
  if (grow((void **)&b->len, &cap, b->n + 1, sizeof *b->len, err)) return YT_ENOMEM;
  b->cap = cap;
  if (!b->n) b->ref_off = off;
  b->ref_next = off + len + 16;
  b->index[b->n] = index;
  b->len[b->n] = (uint32_t)len;
  b->bytes += len; /* what the message stands for, for message_bytes */
  b->n++;
  return YT_OK;
}

/* Frame 2 of a message by reference (payload.h). */
static int ref_frame(const yt_records_builder *b, yt_msg *m, yt_err *err) {
  size_t pl = strlen(b->ref_path);
  uint8_t *f = malloc(YT_REC_REF_HEAD + pl);
  if (!f) return yt_fail(err, YT_ENOMEM, "out of memory");
  uint64_t head[3] = {b->n ? b->ref_off : 0, b->ref_dev, b->ref_ino};
  memcpy(f, head, sizeof head);
  memcpy(f + YT_REC_REF_HEAD, b->ref_path, pl);
  return yt_msg_add_owned(m, f, YT_REC_REF_HEAD + pl, err);
}

void yt_records_builder_use(yt_records_builder *b, yt_buf *store) {
  yt_buf_free(&b->data);
  b->data = *store;
  b->bytes = 0;
  *store = (yt_buf){0};
}

int yt_records_to_msg(yt_records_builder *b, yt_msg *m, yt_err *err) {
  size_t meta_len = sizeof(yt_rec_meta) + b->n * (sizeof(uint64_t) + sizeof(uint32_t));
  uint8_t *meta = malloc(meta_len);
  char *name = strdup(b->shard_name ? b->shard_name : "");
  if (!meta || !name) {
    free(meta), free(name);
    return yt_fail(err, YT_ENOMEM, "out of memory");
  }
  uint32_t flags = b->flags | (b->ref_path ? YT_REC_BY_REF | (b->ref_verify ? 0 : YT_REC_NO_VERIFY) : 0);
  yt_rec_meta h = {YT_PAYLOAD_RECORDS, (uint32_t)b->n, b->shard, flags, b->shard_records};
  memcpy(meta, &h, sizeof h);
  if (b->n) {
    memcpy(meta + sizeof h, b->index, b->n * sizeof(uint64_t));
    memcpy(meta + sizeof h + b->n * sizeof(uint64_t), b->len, b->n * sizeof(uint32_t));
  }
  yt_msg_init(m, YT_MSG_DATA);
  m->records = (uint32_t)b->n;
  int rc = yt_msg_add_owned(m, meta, meta_len, err);
  if (!rc) rc = yt_msg_add_owned(m, name, strlen(name), err);
  else free(name);
  /* the payload bytes move into the message; the builder starts a new buffer */
  if (!rc) rc = b->ref_path ? ref_frame(b, m, err) : add_storage(m, &b->data, b->bytes, err);
  else yt_buf_free(&b->data);
  b->bytes = 0;
  b->n = 0;
  b->flags = 0;
  b->shard_records = 0;
  if (rc) yt_msg_clear(m);
  return rc;
}

void yt_records_builder_free(yt_records_builder *b) {
  free(b->shard_name);
  free(b->index);
  free(b->len);
  free(b->ref_path);
  yt_buf_free(&b->data);
  memset(b, 0, sizeof *b);
}

int yt_records_decode(yt_records *r, const yt_msg *m, yt_err *err) {
  memset(r, 0, sizeof *r);
  if (m->nframes != 3 || m->frames[0].len < sizeof(yt_rec_meta))
    return yt_fail(err, YT_ECORRUPT, "records message: expected 3 frames with a meta header, got %zu", m->nframes);
  yt_rec_meta h;
  memcpy(&h, m->frames[0].data, sizeof h);
  if (h.kind != YT_PAYLOAD_RECORDS)
    return yt_fail(err, YT_ECORRUPT, "records message: payload kind %u is not records (wrong edge type?)", h.kind);
  if (m->frames[0].len != sizeof h + (size_t)h.n * 12)
    return yt_fail(err, YT_ECORRUPT, "records message: meta frame is %zu bytes for %u records", m->frames[0].len, h.n);
  if (h.flags & YT_REC_BY_REF)
    return yt_fail(err, YT_ECORRUPT,
                   "records message: it names where its %u records lie instead of carrying them, and nothing read "
                   "them (yt_records_resolve)", h.n);
  const uint8_t *meta = m->frames[0].data;
  r->n = h.n;
  r->shard = h.shard;
  r->flags = h.flags;
  r->shard_records = h.shard_records;
  r->index = (const uint64_t *)(meta + sizeof h);
  r->len = (const uint32_t *)(meta + sizeof h + (size_t)h.n * 8);
  r->shard_name = m->frames[1].data ? m->frames[1].data : "";
  r->shard_name_len = m->frames[1].len;
  r->data = m->frames[2].data;
  size_t total = 0;
  for (uint32_t i = 0; i < h.n; i++) total += r->len[i];
  if (total != m->frames[2].len)
    return yt_fail(err, YT_ECORRUPT, "records message: lengths add up to %zu bytes, data frame has %zu", total,
                   m->frames[2].len);
  return YT_OK;
}

/* ---- batches ------------------------------------------------------------ */

void yt_batch_builder_init(yt_batch_builder *b, uint32_t dim, uint32_t dtype, uint32_t frames) {
  memset(b, 0, sizeof *b);
  b->dim = dim;
  b->dtype = dtype;
  b->frames = frames;
}

/* Room for one more video in the per-video arrays (offsets hold one extra). */
static int reserve_video(yt_batch_builder *b, yt_err *err) {
  if (b->n + 1 <= b->cap) return YT_OK;
  size_t c = b->cap ? b->cap * 2 : 16;
  uint32_t *shard = realloc(b->shard, c * sizeof *shard);
  if (shard) b->shard = shard;
  uint64_t *index = realloc(b->index, c * sizeof *index);
  if (index) b->index = index;
  int32_t *nf = realloc(b->num_frames, c * sizeof *nf);
  if (nf) b->num_frames = nf;
  uint32_t *io = realloc(b->id_off, (c + 1) * sizeof *io);
  if (io) b->id_off = io;
  uint32_t *lo = realloc(b->label_off, (c + 1) * sizeof *lo);
  if (lo) b->label_off = lo;
  if (!shard || !index || !nf || !io || !lo) return yt_fail(err, YT_ENOMEM, "out of memory");
  b->cap = c;
  return YT_OK;
}

/* Rows the next video takes: frames when padding, else its own. */
static size_t video_rows(const yt_batch_builder *b, int32_t num_frames) {
  return b->frames ? b->frames : (size_t)(num_frames > 0 ? num_frames : 0);
}

/* Room for the next video's rows, not zeroed. */
static uint8_t *next_rows(yt_batch_builder *b, int32_t num_frames, yt_err *err) {
  size_t rows = video_rows(b, num_frames), row_bytes = (size_t)b->dim * yt_dtype_size(b->dtype);
  /* at least one byte of room, so a 0-row video still gets a valid pointer */
  size_t need = (b->rows + rows) * row_bytes;
  if (grow_buf(&b->features, b->rows * row_bytes, need ? need : 1, err)) return NULL;
  b->reserved = 1;
  return (uint8_t *)b->features.data + b->rows * row_bytes;
}

void *yt_batch_rows_reserve(yt_batch_builder *b, int32_t num_frames, yt_err *err) {
  uint8_t *p = next_rows(b, num_frames, err);
  if (p) memset(p, 0, video_rows(b, num_frames) * b->dim * yt_dtype_size(b->dtype));
  return p;
}

void *yt_batch_rows_alloc(yt_batch_builder *b, int32_t num_frames, yt_err *err) {
  return next_rows(b, num_frames, err);
}

int yt_batch_streaming(const yt_batch_builder *b) { return b->features.len >= YT_BATCH_NT_MIN; }

void yt_batch_builder_use(yt_batch_builder *b, yt_buf *store) {
  yt_buf_free(&b->features);
  b->features = *store;
  b->rows = 0;
  *store = (yt_buf){0};
}

int yt_batch_add(yt_batch_builder *b, uint32_t shard, uint64_t index, const char *id, size_t id_len,
                 const int32_t *labels, size_t n_labels, const void *rows, int32_t num_frames, yt_err *err) {
  if (num_frames < 0) return yt_fail(err, YT_EINVAL, "negative num_frames %d", num_frames);
  int32_t kept = b->frames && (uint32_t)num_frames > b->frames ? (int32_t)b->frames : num_frames;
  size_t row_bytes = (size_t)b->dim * yt_dtype_size(b->dtype);
  if (reserve_video(b, err)) return YT_ENOMEM;
  if (grow((void **)&b->ids, &b->ids_cap, b->ids_len + id_len, 1, err)) return YT_ENOMEM;
  if (grow((void **)&b->labels, &b->labels_cap, b->labels_len + n_labels, sizeof *b->labels, err)) return YT_ENOMEM;
  if (rows || !b->reserved) { /* rows NULL without a reservation: zero rows (num_frames 0, or padding) */
    uint8_t *dst = next_rows(b, num_frames, err);
    if (!dst) return YT_ENOMEM;
    size_t n_rows = video_rows(b, kept), copied = rows ? (size_t)kept : 0;
    if (yt_batch_streaming(b)) { /* a frame far past the caches, read by another process */
      if (copied) yt_copy_nt(dst, rows, copied * row_bytes);
      yt_zero_nt(dst + copied * row_bytes, (n_rows - copied) * row_bytes); /* only the padding */
    } else {
      if (copied) memcpy(dst, rows, copied * row_bytes);
      memset(dst + copied * row_bytes, 0, (n_rows - copied) * row_bytes); /* only the padding */
    }
  }
  b->reserved = 0;
  if (b->teacher) {
    if (grow((void **)&b->teach, &b->teach_cap, (b->n + 1) * b->teacher, sizeof *b->teach, err)) return YT_ENOMEM;
    memset(b->teach + b->n * b->teacher, 0, b->teacher * sizeof *b->teach);
  }
  if (b->n == 0) b->id_off[0] = b->label_off[0] = 0;
  if (id_len) memcpy(b->ids + b->ids_len, id, id_len);
  b->ids_len += id_len;
  if (n_labels) memcpy(b->labels + b->labels_len, labels, n_labels * sizeof *labels);
  b->labels_len += n_labels;
  b->shard[b->n] = shard;
  b->index[b->n] = index;
  b->num_frames[b->n] = kept;
  b->id_off[b->n + 1] = (uint32_t)b->ids_len;
  b->label_off[b->n + 1] = (uint32_t)b->labels_len;
  b->rows += b->frames ? b->frames : (size_t)kept;
  b->n++;
  return YT_OK;
}

float *yt_batch_teacher_row(yt_batch_builder *b) {
  return b->teacher && b->n ? b->teach + (b->n - 1) * b->teacher : NULL;
}

int yt_batch_to_msg(yt_batch_builder *b, yt_msg *m, yt_err *err) {
  size_t n = b->n;
  size_t meta_len = sizeof(yt_batch_meta) + n * (4 + 8 + 4) + 2 * (n + 1) * 4;
  uint8_t *meta = malloc(meta_len);
  if (!meta) return yt_fail(err, YT_ENOMEM, "out of memory");
  yt_batch_meta h = {YT_PAYLOAD_BATCH, (uint32_t)n, b->dim, b->dtype, b->frames, b->step, b->teacher, 0};
  uint8_t *p = meta;
  memcpy(p, &h, sizeof h), p += sizeof h;
  uint32_t zero = 0;
  if (n) {
    memcpy(p, b->index, n * 8), p += n * 8;
    memcpy(p, b->shard, n * 4), p += n * 4;
    memcpy(p, b->num_frames, n * 4), p += n * 4;
    memcpy(p, b->id_off, (n + 1) * 4), p += (n + 1) * 4;
    memcpy(p, b->label_off, (n + 1) * 4);
  } else {
    memcpy(p, &zero, 4), memcpy(p + 4, &zero, 4);
  }
  yt_msg_init(m, YT_MSG_DATA);
  m->records = (uint32_t)n;
  size_t feat_len = b->rows * b->dim * yt_dtype_size(b->dtype);
  int rc = yt_msg_add_owned(m, meta, meta_len, err);
  /* the id, label and feature buffers move into the message */
  if (!rc) rc = yt_msg_add_owned(m, b->ids, b->ids_len, err);
  else free(b->ids);
  if (!rc) rc = yt_msg_add_owned(m, b->labels, b->labels_len * 4, err);
  else free(b->labels);
  if (!rc) rc = add_storage(m, &b->features, feat_len, err);
  else yt_buf_free(&b->features);
  if (b->teacher) { /* moves into the message, like the ids */
    float *t = b->teach ? b->teach : malloc(1);
    if (!rc) rc = t ? yt_msg_add_owned(m, t, n * b->teacher * sizeof *t, err) : yt_fail(err, YT_ENOMEM, "out of memory");
    else free(t);
    b->teach = NULL, b->teach_cap = 0;
  }
  b->ids = NULL, b->labels = NULL;
  b->ids_len = b->ids_cap = b->labels_len = b->labels_cap = b->rows = 0;
  b->n = 0;
  if (rc) yt_msg_clear(m);
  return rc;
}

void yt_batch_builder_free(yt_batch_builder *b) {
  free(b->shard), free(b->index), free(b->num_frames), free(b->id_off), free(b->label_off);
  free(b->ids), free(b->labels), free(b->teach);
  yt_buf_free(&b->features);
  memset(b, 0, sizeof *b);
}

int yt_batch_decode(yt_batch *bt, const yt_msg *m, yt_err *err) {
  memset(bt, 0, sizeof *bt);
  if (m->nframes < 4 || m->nframes > 5 || m->frames[0].len < sizeof(yt_batch_meta))
    return yt_fail(err, YT_ECORRUPT, "batch message: expected 4 or 5 frames with a meta header, got %zu",
                   m->nframes);
  yt_batch_meta h;
  memcpy(&h, m->frames[0].data, sizeof h);
  if ((h.teacher > 0) != (m->nframes == 5) ||
      (h.teacher && m->frames[4].len != (size_t)h.n * h.teacher * sizeof(float)))
    return yt_fail(err, YT_ECORRUPT, "batch message: teacher predictions (%u per video) disagree with its frames",
                   h.teacher);
  if (h.kind != YT_PAYLOAD_BATCH)
    return yt_fail(err, YT_ECORRUPT, "batch message: payload kind %u is not a batch (wrong edge type?)", h.kind);
  size_t n = h.n, esz = yt_dtype_size(h.dtype);
  if (!esz) return yt_fail(err, YT_ECORRUPT, "batch message: unknown dtype %u", h.dtype);
  if (m->frames[0].len != sizeof h + n * 16 + 2 * (n + 1) * 4)
    return yt_fail(err, YT_ECORRUPT, "batch message: meta frame is %zu bytes for %zu videos", m->frames[0].len, n);
  const uint8_t *p = (const uint8_t *)m->frames[0].data + sizeof h;
  bt->n = h.n, bt->dim = h.dim, bt->dtype = h.dtype, bt->frames = h.frames, bt->step = h.step;
  bt->index = (const uint64_t *)p, p += n * 8;
  bt->shard = (const uint32_t *)p, p += n * 4;
  bt->num_frames = (const int32_t *)p, p += n * 4;
  bt->id_off = (const uint32_t *)p, p += (n + 1) * 4;
  bt->label_off = (const uint32_t *)p;
  bt->ids = m->frames[1].data;
  bt->labels = m->frames[2].data;
  bt->features = m->frames[3].data;
  bt->teacher = h.teacher;
  bt->teach = h.teacher ? (const float *)m->frames[4].data : NULL;
  if (bt->id_off[n] != m->frames[1].len || bt->label_off[n] * 4 != m->frames[2].len)
    return yt_fail(err, YT_ECORRUPT, "batch message: id or label offsets disagree with their frames");
  for (size_t i = 0; i < n; i++)
    if (bt->id_off[i] > bt->id_off[i + 1] || bt->label_off[i] > bt->label_off[i + 1] || bt->num_frames[i] < 0 ||
        (h.frames && (uint32_t)bt->num_frames[i] > h.frames))
      return yt_fail(err, YT_ECORRUPT, "batch message: bad offsets or num_frames at video %zu", i);
  bt->row0 = malloc((n ? n : 1) * sizeof *bt->row0);
  if (!bt->row0) return yt_fail(err, YT_ENOMEM, "out of memory");
  size_t rows = 0;
  for (size_t i = 0; i < n; i++) {
    bt->row0[i] = rows;
    rows += h.frames ? h.frames : (size_t)bt->num_frames[i];
  }
  bt->rows = rows;
  if (rows * h.dim * esz != m->frames[3].len) {
    yt_batch_free(bt);
    return yt_fail(err, YT_ECORRUPT, "batch message: %zu rows of %u x %zu bytes, but the feature frame has %zu",
                   rows, h.dim, esz, m->frames[3].len);
  }
  return YT_OK;
}

void yt_batch_free(yt_batch *bt) {
  free(bt->row0);
  bt->row0 = NULL;
}

int yt_payload_ids(const yt_msg *m, uint32_t *n, const uint32_t **shard_arr, uint32_t *shard_one,
                   const uint64_t **index, yt_err *err) {
  *n = 0, *shard_arr = NULL, *shard_one = 0, *index = NULL;
  if (m->nframes < 1 || m->frames[0].len < 8)
    return yt_fail(err, YT_ECORRUPT, "DATA message without a payload meta frame");
  uint32_t kind, cnt;
  memcpy(&kind, m->frames[0].data, 4);
  memcpy(&cnt, (const uint8_t *)m->frames[0].data + 4, 4);
  const uint8_t *meta = m->frames[0].data;
  if (kind == YT_PAYLOAD_RECORDS) {
    if (m->frames[0].len < sizeof(yt_rec_meta) + (size_t)cnt * 12)
      return yt_fail(err, YT_ECORRUPT, "records message: meta frame too short");
    yt_rec_meta h;
    memcpy(&h, meta, sizeof h);
    *shard_one = h.shard;
    *index = (const uint64_t *)(meta + sizeof h);
  } else if (kind == YT_PAYLOAD_BATCH) {
    if (m->frames[0].len < sizeof(yt_batch_meta) + (size_t)cnt * 12)
      return yt_fail(err, YT_ECORRUPT, "batch message: meta frame too short");
    *index = (const uint64_t *)(meta + sizeof(yt_batch_meta));
    *shard_arr = (const uint32_t *)(meta + sizeof(yt_batch_meta) + (size_t)cnt * 8);
  } else if (kind == YT_PAYLOAD_METRICS) {
    cnt = 0; /* no records */
  } else {
    return yt_fail(err, YT_ECORRUPT, "DATA message with unknown payload kind %u", kind);
  }
  *n = cnt;
  return YT_OK;
}

int yt_metrics_msg(yt_msg *m, const char *json, yt_err *err) {
  yt_msg_init(m, YT_MSG_DATA);
  uint32_t *meta = malloc(8);
  size_t len = strlen(json);
  char *text = malloc(len ? len : 1);
  if (!meta || !text) {
    free(meta), free(text);
    return yt_fail(err, YT_ENOMEM, "out of memory");
  }
  meta[0] = YT_PAYLOAD_METRICS, meta[1] = 0;
  memcpy(text, json, len);
  int rc = yt_msg_add_owned(m, meta, 8, err);
  if (!rc) rc = yt_msg_add_owned(m, text, len, err);
  else free(text);
  return rc;
}

int yt_metrics_decode(const yt_msg *m, const char **json, size_t *len, yt_err *err) {
  uint32_t kind = 0;
  if (m->nframes == 2 && m->frames[0].len == 8) memcpy(&kind, m->frames[0].data, 4);
  if (kind != YT_PAYLOAD_METRICS)
    return yt_fail(err, YT_ECORRUPT, "metrics message: expected 2 frames with kind %d (wrong edge type?)",
                   YT_PAYLOAD_METRICS);
  *json = m->frames[1].data;
  *len = m->frames[1].len;
  return YT_OK;
}
