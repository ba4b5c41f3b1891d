/* tfrecord.h: TFRecord framing, reader and writer.
 *
 *   uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
 *
 * The reader memory-maps large plain files (zero copy: a record is a view into
 * the map) or reads each record where its caller wants it, and streams
 * `.tfrecord.zst` files and pipes through a buffer that only grows as real
 * bytes arrive, so a bogus length is never allocated. Every error
 * names the file, the byte offset of the bad record and the reason. Records are
 * bytes here; Example parsing is example.h. */
#ifndef YT_TFRECORD_H
#define YT_TFRECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef struct yt_tfr_reader yt_tfr_reader;

typedef struct yt_tfr_record {
  const uint8_t *data; /* valid until the next yt_tfr_next() or close */
  size_t len;
  uint64_t offset; /* byte offset of the record's header in the (decompressed) stream */
  uint64_t index;  /* 0-based record number in the file */
} yt_tfr_record;

/* The reason strings the reader uses, stable for tests and tools. */
#define YT_TFR_LENGTH_CRC "length crc mismatch"
#define YT_TFR_DATA_CRC "data crc mismatch"
#define YT_TFR_TRUNCATED "truncated record"
#define YT_TFR_BEYOND_EOF "record length beyond end of file"

/* path "-" reads standard input. A name ending in ".zst" is zstd-decompressed. */
int yt_tfr_open(yt_tfr_reader **out, const char *path, yt_err *err);
/* YT_OK and *rec filled; YT_EOF at a clean end; < 0 on error. verify_crc = false
 * skips the data CRC (the length CRC is always checked: it guards allocation). */
int yt_tfr_next(yt_tfr_reader *r, yt_tfr_record *rec, yt_err *err);
/* The copying read, for a caller that keeps the bytes (tfrecord_reader builds
 * its messages in shared memory). yt_tfr_peek gives the next record's length
 * (YT_EOF at a clean end) after checking its framing; yt_tfr_next_into then
 * copies its data into dst[len] and checks the data CRC on that warm copy. On
 * a plain file that is one preadv per record and no mapping: measured 30% less
 * time than mapping, CRC and copy (a mapped page's first touch is a fault).
 * After a data CRC mismatch (YT_ECORRUPT, rec filled) the reader is past the
 * record, so the caller may skip it. A reader takes yt_tfr_next or these, not
 * both. */
int yt_tfr_peek(yt_tfr_reader *r, size_t *len, yt_err *err);
int yt_tfr_next_into(yt_tfr_reader *r, void *dst, yt_tfr_record *rec, yt_err *err);
/* Reading by reference (tfrecord_reader's by_reference): after yt_tfr_peek,
 * yt_tfr_skip moves past the record without reading its data (rec->data =
 * NULL; offset and index filled), so the reader touches 12 bytes per record
 * and whoever gets the record's place reads it (yt_tfr_load). Plain regular
 * files only (yt_tfr_is_plain), like yt_tfr_next_into, which it may mix with. */
int yt_tfr_skip(yt_tfr_reader *r, yt_tfr_record *rec, yt_err *err);
bool yt_tfr_is_plain(const yt_tfr_reader *r);
/* The open file's identity (st_dev, st_ino), so a later reader can tell it is the same file. */
void yt_tfr_file_id(const yt_tfr_reader *r, uint64_t *dev, uint64_t *ino);

/* Where n consecutive records of a shard lie: the file (path, and the identity
 * it had when the reader walked it), the byte offset of the first header, and
 * each record's index in the file and data length. */
typedef struct yt_tfr_extent {
  const char *path;
  size_t path_len; /* path need not be NUL-terminated */
  uint64_t dev, ino, off;
  uint32_t n;
  const uint64_t *index;
  const uint32_t *len;
} yt_tfr_extent;
/* Reads the records x names, their data back to back into dst (sum of len
 * bytes), in preadv calls of up to 340 records. Checks that the file is the
 * one the reader walked, that every header still holds its length and length
 * CRC, and, when verify, every data CRC: errors name the file, the byte offset
 * and record number, with the reasons above (YT_ECORRUPT), or YT_EIO. */
int yt_tfr_load(const yt_tfr_extent *x, uint8_t *dst, bool verify, yt_err *err);
void yt_tfr_set_verify(yt_tfr_reader *r, bool verify_crc);
const char *yt_tfr_path(const yt_tfr_reader *r);
uint64_t yt_tfr_bytes_read(const yt_tfr_reader *r); /* stream bytes consumed so far */
void yt_tfr_close(yt_tfr_reader *r);

typedef struct yt_tfr_writer yt_tfr_writer;

/* Writes to a hidden temporary beside path; yt_tfw_close() renames it into
 * place, so a reader never sees a partial shard under its final name.
 * A name ending in ".zst" is zstd-compressed (level 3). */
int yt_tfw_open(yt_tfr_writer **out, const char *path, yt_err *err);
int yt_tfw_write(yt_tfr_writer *w, const void *data, size_t len, yt_err *err);
/* Flushes, fsyncs and renames; frees w whatever happens. */
int yt_tfw_close(yt_tfr_writer *w, yt_err *err);
/* Drops the temporary file; frees w. */
void yt_tfw_abort(yt_tfr_writer *w);

/* Frames one record into out[len + 16]. */
void yt_tfr_frame_header(uint8_t hdr[12], size_t len);

#endif
