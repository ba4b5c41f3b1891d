/* msg.c: the message codec (see msg.h): header encode/decode byte by byte, and
 * the per-frame zstd codec. No sockets and no zmq.h here. */
#include "msg.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/le.h"

#define ZSTD_LEVEL 1 /* transport favours speed; shards use 3 */

void yt_buf_free(yt_buf *b) {
  if (b->owned && b->release) b->release(b->handle);
  else if (b->owned) free(b->data);
  *b = (yt_buf){0};
}

void yt_msg_init(yt_msg *m, int type) {
  memset(m, 0, sizeof *m);
  m->type = (uint16_t)type;
}

void yt_msg_clear(yt_msg *m) {
  for (size_t i = 0; i < m->nframes && i < YT_MSG_MAX_FRAMES; i++) yt_buf_free(&m->frames[i]);
  m->nframes = 0;
}

static int add(yt_msg *m, void *data, size_t len, int owned, yt_err *err) {
  if (m->nframes >= YT_MSG_MAX_FRAMES) {
    if (owned) free(data);
    return yt_fail(err, YT_EINVAL, "message: more than %d payload frames (pack them into fewer frames)",
                   YT_MSG_MAX_FRAMES);
  }
  m->frames[m->nframes++] = (yt_buf){.data = data, .len = len, .owned = owned};
  return YT_OK;
}

int yt_msg_add(yt_msg *m, const void *data, size_t len, yt_err *err) {
  return add(m, (void *)data, len, 0, err); /* borrowed: never written through (msg.h) */
}

int yt_msg_add_owned(yt_msg *m, void *data, size_t len, yt_err *err) {
  return add(m, data, len, 1, err);
}

int yt_msg_add_buf(yt_msg *m, yt_buf *b, yt_err *err) {
  if (m->nframes >= YT_MSG_MAX_FRAMES) {
    yt_buf_free(b);
    return yt_fail(err, YT_EINVAL, "message: more than %d payload frames (pack them into fewer frames)",
                   YT_MSG_MAX_FRAMES);
  }
  m->frames[m->nframes++] = *b;
  *b = (yt_buf){0};
  return YT_OK;
}

const char *yt_msg_type_name(int type) {
  static const char *names[] = {"unknown", "DATA", "EOS", "ERROR", "STATS", "READY", "CONTROL"};
  return type >= YT_MSG_DATA && type <= YT_MSG_CONTROL ? names[type] : names[0];
}


void yt_msg_header_encode(const yt_msg *m, uint8_t out[YT_MSG_HEADER_SIZE]) {
  yt_put32(out + 0, YT_MSG_MAGIC);
  yt_put16(out + 4, YT_MSG_VERSION);
  yt_put16(out + 6, m->type);
  yt_put64(out + 8, m->seq);
  yt_put32(out + 16, m->producer);
  yt_put16(out + 20, m->codec);
  yt_put16(out + 22, (uint16_t)m->nframes);
  yt_put32(out + 24, m->records);
  yt_put32(out + 28, m->shm);
}

int yt_msg_header_decode(yt_msg *m, const void *hdr, size_t len, size_t payload_frames, yt_err *err) {
  const uint8_t *p = hdr;
  if (len != YT_MSG_HEADER_SIZE)
    return yt_fail(err, YT_ECORRUPT,
                   "message header: %zu bytes, expected %d (a truncated message, or a peer that is not "
                   "yt8m-flow)",
                   len, YT_MSG_HEADER_SIZE);
  uint32_t magic = yt_get32(p), shm = yt_get32(p + 28);
  uint16_t version = yt_get16(p + 4), type = yt_get16(p + 6), codec = yt_get16(p + 20), nframes = yt_get16(p + 22);
  if (magic != YT_MSG_MAGIC)
    return yt_fail(err, YT_ECORRUPT,
                   "message header: bad magic 0x%08x, expected 0x%08x (a peer that is not yt8m-flow, or a "
                   "version mismatch)",
                   magic, YT_MSG_MAGIC);
  if (version != YT_MSG_VERSION)
    return yt_fail(err, YT_ECORRUPT,
                   "message header: version %u, expected %d (the peers come from different yt8m-flow "
                   "builds; run one build everywhere)",
                   version, YT_MSG_VERSION);
  if (type < YT_MSG_DATA || type > YT_MSG_CONTROL)
    return yt_fail(err, YT_ECORRUPT,
                   "message header: unknown type %u, expected 1..6 (DATA, EOS, ERROR, STATS, READY, "
                   "CONTROL)",
                   type);
  if (codec != YT_CODEC_NONE && codec != YT_CODEC_ZSTD)
    return yt_fail(err, YT_ECORRUPT, "message header: unknown codec %u, expected 0 (none) or 1 (zstd)",
                   codec);
  if (nframes != payload_frames)
    return yt_fail(err, YT_ECORRUPT,
                   "message header: nframes mismatch: the header says %u payload frames but %zu arrived "
                   "(a truncated or mangled multipart message)",
                   nframes, payload_frames);
  if (nframes > YT_MSG_MAX_FRAMES)
    return yt_fail(err, YT_ECORRUPT, "message header: %u payload frames, more than the limit of %d", nframes,
                   YT_MSG_MAX_FRAMES);
  if (shm && (codec != YT_CODEC_NONE || (nframes < 32 && shm >> nframes)))
    return yt_fail(err, YT_ECORRUPT,
                   "message header: shared-memory frame mask 0x%08x does not fit %u %s payload frames (a "
                   "corrupted header)",
                   shm, nframes, codec == YT_CODEC_NONE ? "plain" : "compressed");
  m->type = type, m->codec = codec, m->shm = shm, m->seq = yt_get64(p + 8), m->producer = yt_get32(p + 16);
  m->records = yt_get32(p + 24);
  return YT_OK;
}

/* ---- one payload frame through the codec ------------------------------------ */

static int compress_frame(const yt_buf *in, yt_buf *out, size_t i, yt_err *err) {
  size_t cap = ZSTD_compressBound(in->len);
  void *dst = malloc(cap);
  if (!dst) return yt_fail(err, YT_ENOMEM, "message frame %zu: out of memory for %zu zstd bytes", i, cap);
  size_t n = ZSTD_compress(dst, cap, in->data ? in->data : "", in->len, ZSTD_LEVEL);
  if (ZSTD_isError(n)) {
    free(dst);
    return yt_fail(err, YT_EIO, "message frame %zu: zstd compression failed: %s", i, ZSTD_getErrorName(n));
  }
  *out = (yt_buf){.data = dst, .len = n, .owned = 1};
  return YT_OK;
}

static int decompress_frame(const yt_buf *in, yt_buf *out, size_t i, yt_err *err) {
  unsigned long long size = ZSTD_getFrameContentSize(in->data ? in->data : "", in->len);
  if (size == ZSTD_CONTENTSIZE_ERROR)
    return yt_fail(err, YT_ECORRUPT, "message frame %zu: not a zstd frame (%zu bytes; the header says zstd)",
                   i, in->len);
  if (size == ZSTD_CONTENTSIZE_UNKNOWN)
    return yt_fail(err, YT_ECORRUPT,
                   "message frame %zu: the zstd frame does not record its content size (a peer that "
                   "compresses with streaming; yt8m-flow sends one-shot frames)",
                   i);
  if (size > YT_MSG_MAX_FRAME_BYTES)
    return yt_fail(err, YT_ECORRUPT,
                   "message frame %zu: zstd content size %llu bytes is above the 1 GiB frame limit "
                   "(corrupt, or a sender without the limit)",
                   i, size);
  if (size == 0) { /* nothing to allocate; still a valid frame if it decodes to nothing */
    *out = (yt_buf){0};
    return YT_OK;
  }
  void *dst = malloc((size_t)size);
  if (!dst) return yt_fail(err, YT_ENOMEM, "message frame %zu: out of memory for %llu bytes", i, size);
  size_t n = ZSTD_decompress(dst, (size_t)size, in->data, in->len);
  if (ZSTD_isError(n) || n != size) {
    free(dst);
    return yt_fail(err, YT_ECORRUPT, "message frame %zu: corrupt zstd data: %s", i,
                   ZSTD_isError(n) ? ZSTD_getErrorName(n)
                                   : "decoded size differs from the frame's content size");
  }
  *out = (yt_buf){.data = dst, .len = n, .owned = 1};
  return YT_OK;
}

/* ---- whole messages --------------------------------------------------------------- */

int yt_msg_encode(const yt_msg *m, uint8_t hdr[YT_MSG_HEADER_SIZE], yt_buf parts[YT_MSG_MAX_FRAMES + 1],
                  yt_err *err) {
  if (m->type < YT_MSG_DATA || m->type > YT_MSG_CONTROL)
    return yt_fail(err, YT_EINVAL, "message: type %u is not a message type (set it with yt_msg_init)",
                   m->type);
  if (m->codec != YT_CODEC_NONE && m->codec != YT_CODEC_ZSTD)
    return yt_fail(err, YT_EINVAL, "message: unknown codec %u, expected 0 (none) or 1 (zstd)", m->codec);
  if (m->nframes > YT_MSG_MAX_FRAMES)
    return yt_fail(err, YT_EINVAL, "message: %zu payload frames, more than the limit of %d", m->nframes,
                   YT_MSG_MAX_FRAMES);
  yt_msg_header_encode(m, hdr);
  parts[0] = (yt_buf){.data = hdr, .len = YT_MSG_HEADER_SIZE, .owned = 0};
  for (size_t i = 0; i < m->nframes; i++) {
    const yt_buf *f = &m->frames[i];
    int rc = YT_OK;
    if (f->len > YT_MSG_MAX_FRAME_BYTES)
      rc = yt_fail(err, YT_EINVAL,
                   "message frame %zu: %zu bytes, above the 1 GiB frame limit (split it over several "
                   "messages)",
                   i, f->len);
    else if (m->codec == YT_CODEC_ZSTD)
      rc = compress_frame(f, &parts[i + 1], i, err);
    else
      parts[i + 1] = (yt_buf){.data = f->data, .len = f->len, .owned = 0};
    if (rc < 0) {
      for (size_t j = 1; j <= i; j++) yt_buf_free(&parts[j]);
      return rc;
    }
  }
  return YT_OK;
}

int yt_msg_decode(yt_msg *m, const yt_buf *parts, size_t nparts, yt_err *err) {
  yt_msg_clear(m);
  if (nparts == 0) return yt_fail(err, YT_ECORRUPT, "message: no frames at all (an empty multipart message)");
  int rc = yt_msg_header_decode(m, parts[0].data, parts[0].len, nparts - 1, err);
  if (rc < 0) return rc;
  if (m->shm) /* descriptors are resolved by the socket layer (sock.c), not here */
    return yt_fail(err, YT_ECORRUPT, "message: shared-memory frames (mask 0x%08x) outside a socket receive",
                   m->shm);
  for (size_t i = 0; i + 1 < nparts; i++) {
    const yt_buf *in = &parts[i + 1];
    yt_buf *out = &m->frames[i];
    if (m->codec == YT_CODEC_ZSTD) {
      rc = decompress_frame(in, out, i, err);
    } else if (in->len == 0) {
      *out = (yt_buf){0};
    } else if (!(out->data = malloc(in->len))) {
      rc = yt_fail(err, YT_ENOMEM, "message frame %zu: out of memory for %zu bytes", i, in->len);
    } else {
      memcpy(out->data, in->data, in->len);
      out->len = in->len, out->owned = 1;
    }
    if (rc < 0) {
      m->nframes = i; /* frees the frames decoded so far */
      yt_msg_clear(m);
      return rc;
    }
  }
  m->nframes = nparts - 1;
  return YT_OK;
}
