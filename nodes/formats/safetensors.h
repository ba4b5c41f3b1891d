/* safetensors.h: the safetensors checkpoint format (REFERENCE.md 5.4), writer and strict reader.
 *
 *   uint64 N (LE) | N bytes of JSON header, space-padded to a multiple of 8 | byte buffer
 *
 * The writer orders tensors by dtype size (largest first) then by name, leaves no holes
 * and writes atomically (PATH.tmp, fsync, rename), so a checkpoint under its final name is
 * always whole. The reader maps the file and rejects anything the reference parser rejects
 * (holes, overlaps, duplicates, shape/size mismatches, oversized headers); its errors name
 * the file, the tensor and the rule. Tensor data is little-endian, row-major; pointers into
 * a file written by someone else may be unaligned (this writer's are aligned to their dtype
 * size). Not a tensor library: no conversion between dtypes. */
#ifndef YT_SAFETENSORS_H
#define YT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef enum yt_st_dtype {
  YT_ST_F64,
  YT_ST_F32,
  YT_ST_F16,
  YT_ST_BF16,
  YT_ST_I64,
  YT_ST_I32,
  YT_ST_I16,
  YT_ST_I8,
  YT_ST_U64,
  YT_ST_U32,
  YT_ST_U16,
  YT_ST_U8,
  YT_ST_BOOL,
  YT_ST_F8_E4M3,
  YT_ST_F8_E5M2,
  YT_ST_NDTYPES
} yt_st_dtype;

#define YT_ST_MAX_RANK 8
#define YT_ST_MAX_HEADER 100000000u /* the reference parser's cap on N */

const char *yt_st_dtype_name(yt_st_dtype t); /* "F32"; "?" when out of range */
size_t yt_st_dtype_size(yt_st_dtype t);      /* bytes per element; 0 when out of range */
int yt_st_dtype_parse(const char *name);     /* the dtype, or -1 when unknown */

typedef struct yt_st_tensor {
  const char *name;
  yt_st_dtype dtype;
  int rank; /* 0 = scalar */
  int64_t shape[YT_ST_MAX_RANK];
  size_t nbytes;    /* product(shape) * dtype size */
  const void *data; /* into the mapped file (reader) */
  size_t offset;    /* data_offsets[0], relative to the buffer start */
} yt_st_tensor;

/* ---- writer ---- */
typedef struct yt_st_writer yt_st_writer;

yt_st_writer *yt_st_writer_new(void); /* NULL when out of memory */
/* Adds a tensor. data[nbytes] is NOT copied: it must stay valid until yt_st_writer_write().
 * Rejects an empty or duplicate name, "__metadata__", rank > YT_ST_MAX_RANK, a negative
 * dimension, data == NULL for a non-empty tensor. */
int yt_st_writer_add(yt_st_writer *w, const char *name, yt_st_dtype dtype, int rank, const int64_t *shape,
                     const void *data, yt_err *err);
/* Sets __metadata__[key] = value (copied; a second call with the same key replaces). */
int yt_st_writer_meta(yt_st_writer *w, const char *key, const char *value, yt_err *err);
/* Writes everything to path atomically. The writer stays usable (write again, free). */
int yt_st_writer_write(yt_st_writer *w, const char *path, yt_err *err);
void yt_st_writer_free(yt_st_writer *w);

/* ---- reader ---- */
typedef struct yt_st_file yt_st_file;

/* Maps and validates path. */
int yt_st_open(yt_st_file **out, const char *path, yt_err *err);
/* The same from memory (copied); name is used in messages. */
int yt_st_open_mem(yt_st_file **out, const void *bytes, size_t len, const char *name, yt_err *err);
void yt_st_close(yt_st_file *f);

size_t yt_st_count(const yt_st_file *f);
const yt_st_tensor *yt_st_at(const yt_st_file *f, size_t i);           /* in buffer order */
const yt_st_tensor *yt_st_find(const yt_st_file *f, const char *name); /* NULL when absent */
/* Finds name and checks its dtype and shape; the error names the file, the tensor, and the
 * expected and found dtype/shape (a checkpoint from another model says so). */
int yt_st_expect(const yt_st_file *f, const char *name, yt_st_dtype dtype, int rank, const int64_t *shape,
                 const void **data, yt_err *err);

size_t yt_st_meta_count(const yt_st_file *f);
const char *yt_st_meta(const yt_st_file *f, const char *key); /* NULL when absent */
void yt_st_meta_at(const yt_st_file *f, size_t i, const char **key, const char **value);
const char *yt_st_path(const yt_st_file *f);

#endif
