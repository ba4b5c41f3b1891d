/* msg.h: the message codec of the flow runtime.
 *
 * A message is one ZeroMQ multipart message: frame 0 is a fixed 32-byte
 * little-endian header, then `nframes` opaque payload frames, each one
 * zstd-compressed when the header says codec = zstd.
 *
 *   offset  field     type  value
 *        0  magic     u32   0x31465459 (the bytes "YTF1")
 *        4  version   u16   1
 *        6  type      u16   YT_MSG_DATA .. YT_MSG_CONTROL
 *        8  seq       u64   per producer, from 0
 *       16  producer  u32   replica id of the sender
 *       20  codec     u16   0 none, 1 zstd
 *       22  nframes   u16   payload frames that follow
 *       24  records   u32   records carried (exactly-once accounting)
 *       28  shm       u32   bit i set: payload frame i is a shared-memory
 *                             descriptor (shm.h), only with codec none
 *
 * Fields are written and read byte by byte, so the layout does not depend on the
 * host's endianness or struct padding.
 *
 * Ownership: a yt_buf either owns its bytes (owned = 1: malloc'd, released by
 * yt_buf_free / yt_msg_clear) or borrows them (owned = 0: whoever filled it keeps
 * the bytes alive, and nothing here writes through or frees them). A message
 * being sent usually borrows (yt_msg_add); a received message always owns its
 * frames, and the receiver calls yt_msg_clear when done with them.
 *
 * This file is the pure codec: no zmq.h, no I/O (sockets are sock.h), and no
 * meaning for the payload frames (tensors, ids and labels belong to the runner). */
#ifndef YT_MSG_H
#define YT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum {
  YT_MSG_DATA = 1,    /* records */
  YT_MSG_EOS = 2,     /* end of stream from one producer (counted per producer) */
  YT_MSG_ERROR = 3,   /* a node failed; payload frame 0 is the message text */
  YT_MSG_STATS = 4,   /* items/s, queue depth, busy time; metrics */
  YT_MSG_READY = 5,   /* a node finished init and is ready to run */
  YT_MSG_CONTROL = 6, /* coordinator -> node: start, stop */
};

enum { YT_CODEC_NONE = 0, YT_CODEC_ZSTD = 1 };

#define YT_MSG_MAGIC 0x31465459u
#define YT_MSG_VERSION 1
#define YT_MSG_HEADER_SIZE 32
#define YT_MSG_MAX_FRAMES 32                     /* payload frames per message */
#define YT_MSG_MAX_FRAME_BYTES ((size_t)1 << 30) /* 1 GiB, plain or decompressed */

typedef struct yt_buf {
  void *data; /* may be NULL when len == 0 */
  size_t len;
  int owned; /* 1: released by yt_buf_free (free(data), or release(handle)); 0: borrowed */
  void (*release)(void *handle); /* NULL: data is malloc'd (a received frame may sit in */
  void *handle;                  /* the socket layer's own buffer, released through this) */
} yt_buf;

typedef struct yt_msg {
  uint16_t type, codec;
  uint64_t seq;
  uint32_t producer, records;
  uint32_t shm; /* shared-memory frame mask (transport only: the receiver resolves them) */
  size_t nframes;
  yt_buf frames[YT_MSG_MAX_FRAMES];
} yt_msg;

/* Frees the bytes if owned; leaves *b empty either way. */
void yt_buf_free(yt_buf *b);

/* Zeroes *m and sets its type (codec none, seq 0, no frames). A zeroed yt_msg
 * (`yt_msg m = {0};`) is also valid, with type 0 to fill in before sending. */
void yt_msg_init(yt_msg *m, int type);
/* Frees owned frames and sets nframes = 0; the header fields are kept. */
void yt_msg_clear(yt_msg *m);

/* Appends a borrowed frame: data must stay valid until the message is sent. */
int yt_msg_add(yt_msg *m, const void *data, size_t len, yt_err *err);
/* Appends a malloc'd frame that the message now owns (freed on error too). */
int yt_msg_add_owned(yt_msg *m, void *data, size_t len, yt_err *err);
/* Moves *b (owned or borrowed, any release) into m; *b is zeroed (freed on error). */
int yt_msg_add_buf(yt_msg *m, yt_buf *b, yt_err *err);

/* "DATA", "EOS", ..., or "unknown". */
const char *yt_msg_type_name(int type);

/* Writes m's header fields (with nframes = m->nframes) into out. */
void yt_msg_header_encode(const yt_msg *m, uint8_t out[YT_MSG_HEADER_SIZE]);
/* Reads a header frame of len bytes into m's header fields, checking magic,
 * version, type, codec, the shm mask, and nframes == payload_frames (the frames that
 * actually arrived). YT_ECORRUPT with the reason on any mismatch. */
int yt_msg_header_decode(yt_msg *m, const void *hdr, size_t len, size_t payload_frames, yt_err *err);

/* The wire form of m: parts[0] = the header (borrowing hdr), parts[1..nframes]
 * = the payload frames, borrowed from m (codec none) or owned zstd output.
 * The caller yt_buf_free()s all m->nframes + 1 parts after sending. Checks
 * type, codec and the frame size limit. */
int yt_msg_encode(const yt_msg *m, uint8_t hdr[YT_MSG_HEADER_SIZE], yt_buf parts[YT_MSG_MAX_FRAMES + 1],
                  yt_err *err);
/* The inverse: fills m (cleared first, so it must be initialised) from nparts
 * received frames, header included. Payload frames are copied or decompressed
 * into owned buffers, so m does not depend on parts afterwards. A compressed
 * frame must hold one zstd frame that records its content size, at most
 * YT_MSG_MAX_FRAME_BYTES; nothing is allocated before that check. */
int yt_msg_decode(yt_msg *m, const yt_buf *parts, size_t nparts, yt_err *err);

#endif
