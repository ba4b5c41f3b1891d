/* tgz.h: gzip'd tar bundles (the model .tgz of REFERENCE.md 5.3), writer and reader.
 *
 * Writer: ustar entries with flat names (no directories), inside a gzip container whose
 * deflate stream is STORED blocks only (no compression: model weights barely compress),
 * with CRC-32 and ISIZE; written atomically (PATH.tmp, fsync, rename).
 * Reader: any gzip (multi-member, all header flags) with a full inflate (stored, fixed and
 * dynamic Huffman blocks), so bundles repacked with `tar czf` load; ustar, GNU and pax tar
 * (long names through 'L' and pax path=). It rejects absolute names and `..` components, and
 * reports a truncated or corrupt archive with the byte offset (in the .tgz file for gzip and
 * deflate errors, in the tar stream for tar errors). The whole archive is decompressed into
 * memory (a bundle is at most about 1 GB). Not a general tar: links and devices are refused. */
#ifndef YT_TGZ_H
#define YT_TGZ_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

/* CRC-32 of gzip and zlib (reflected 0xEDB88320); continue from crc (0 to start).
 * yt_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t yt_crc32(uint32_t crc, const void *buf, size_t len);

/* ---- writer ---- */
typedef struct yt_tgz_writer yt_tgz_writer;

int yt_tgz_writer_open(yt_tgz_writer **out, const char *path, yt_err *err);
/* Entry mtime (seconds since the epoch); default: the time of open. */
void yt_tgz_writer_set_mtime(yt_tgz_writer *w, int64_t mtime);
/* Adds a regular file. name is flat: 1..100 bytes, no '/', not "." or "..", not a duplicate. */
int yt_tgz_writer_add(yt_tgz_writer *w, const char *name, const void *data, size_t len, yt_err *err);
/* Adds the file at src under name (streamed, not loaded whole). */
int yt_tgz_writer_add_file(yt_tgz_writer *w, const char *name, const char *src, yt_err *err);
/* Ends the tar and the gzip member, fsyncs and renames into place; frees w whatever happens. */
int yt_tgz_writer_close(yt_tgz_writer *w, yt_err *err);
/* Drops the temporary file; frees w. */
void yt_tgz_writer_abort(yt_tgz_writer *w);

/* ---- reader ---- */
typedef struct yt_tgz_entry {
  const char *name;    /* normalised: no leading "./", may hold '/' for nested entries */
  const uint8_t *data; /* into the archive's decompressed buffer */
  size_t len;
  int64_t mtime;
} yt_tgz_entry;

typedef struct yt_tgz {
  size_t n; /* regular files, in archive order (a later duplicate replaces) */
  yt_tgz_entry *entry;
  uint8_t *tar; /* the decompressed tar stream; entries point into it */
  size_t tar_len;
} yt_tgz;

int yt_tgz_read(yt_tgz **out, const char *path, yt_err *err);
/* The same from a .tgz in memory (not copied: only during the call); name is for messages. */
int yt_tgz_read_mem(yt_tgz **out, const uint8_t *gz, size_t len, const char *name, yt_err *err);
const yt_tgz_entry *yt_tgz_find(const yt_tgz *t, const char *name); /* NULL when absent */
void yt_tgz_free(yt_tgz *t);
/* Reads path and writes its files under dir (created, mkdir -p), replacing existing files;
 * *n_files (may be NULL) gets the count. */
int yt_tgz_extract(const char *path, const char *dir, size_t *n_files, yt_err *err);

/* gzip container (all members) -> *out (malloc'd, *out_len bytes). */
int yt_gunzip(const uint8_t *gz, size_t len, const char *name, uint8_t **out, size_t *out_len, yt_err *err);

#endif
