/* yt8m.h: the YouTube-8M view of a record, and dequantization.
 *
 * Video level (tf.train.Example): id, labels, float features by name and size
 * (default mean_rgb:1024, mean_audio:128), concatenated in schema order.
 * Frame level (tf.train.SequenceExample): context id and labels; one feature
 * list per feature name, one uint8 bytes value per frame (default rgb:1024,
 * audio:128); the first max_frames (300) frames are kept; num_frames comes
 * from the first feature, as in the starter code. The v3 segment keys are
 * read when present. `video_id` is accepted where `id` is missing.
 *
 * Decoding validates (feature sizes, label range, id present) and reports the
 * key at fault; the caller adds file, record index and offset. Frames stay
 * uint8 views into the record until yt_record_dequantize(). */
#ifndef YT_YT8M_H
#define YT_YT8M_H

#include <stdbool.h>

#include "example.h"

#define YT_MAX_FEATURES 8
#define YT_NUM_CLASSES 3862 /* 2018 vocabulary */
#define YT_MAX_FRAMES 300

/* Dequantization, utils.Dequantize: x = q * (4/255) + (4/512 - 2), a float32
 * multiply then a float32 add (two roundings; the build disables FMA
 * contraction so every backend gets the same bits). */
#define YT_DQ_SCALE (4.0f / 255.0f)
#define YT_DQ_BIAS (4.0f / 512.0f - 2.0f)

typedef enum { YT_LEVEL_VIDEO = 0, YT_LEVEL_FRAME = 1 } yt_level;

typedef struct yt_schema {
  yt_level level;
  int n;                            /* number of features */
  char names[YT_MAX_FEATURES][64];
  int sizes[YT_MAX_FEATURES];
  int offsets[YT_MAX_FEATURES];     /* column of each feature in the row */
  int dim;                          /* sum of sizes */
  int num_classes;                  /* labels must be in [0, num_classes); 0 = unchecked */
  int max_frames;                   /* frame level: frames kept */
} yt_schema;

/* names/sizes as the starter's flags ("rgb,audio" and "1024,128"); NULL for the
 * level's defaults. */
int yt_schema_init(yt_schema *s, yt_level level, const char *names, const char *sizes, yt_err *err);

typedef struct yt_record {
  yt_bytes id;           /* view into the record */
  int64_t *labels;
  size_t n_labels;
  int num_frames;        /* frames kept (<= max_frames), from the first feature; 1 for video level */
  int total_frames;      /* frames in the record, first feature; 1 for video level */
  int feat_frames[YT_MAX_FEATURES]; /* frame level: frames of each feature's list */
  float *video;          /* video level: [dim], features concatenated in schema order */
  const uint8_t **rows;  /* frame level: [num_frames][n] uint8 rows; NULL past a feature's end */
  /* v3 segment keys; has_segments when any is present */
  bool has_segments;
  int64_t *seg_labels, *seg_start, *seg_end;
  float *seg_scores;
  size_t n_seg_labels, n_seg_start, n_seg_end, n_seg_scores;
  /* scratch */
  yt_example ex;
  size_t cap_labels, cap_video, cap_rows, cap_seg[4];
} yt_record;

/* Decodes one record. Errors name the key at fault; YT_ECORRUPT for bad wire
 * bytes, YT_EINVAL for rule breaks. */
int yt_record_decode(yt_record *r, const yt_schema *s, const uint8_t *buf, size_t len, yt_err *err);
void yt_record_free(yt_record *r);

/* out[num_frames * dim]: dequantized frames, features side by side
 * (rgb 0..1023, audio 1024..1151); a feature shorter than num_frames gets 0.0
 * rows, as the starter pads after dequantizing. */
void yt_record_dequantize(const yt_record *r, const yt_schema *s, float *out);

/* out[n] = dequantized q[n]; AVX2 where the CPU has it, bit-identical to the table. */
void yt_dequantize(float *out, const uint8_t *q, size_t n);
void yt_dequantize_portable(float *out, const uint8_t *q, size_t n); /* the scalar twin */
/* yt_dequantize with streaming stores, for output far bigger than the caches
 * that another process reads later (the batcher's float32 batches); the same
 * values. */
void yt_dequantize_nt(float *out, const uint8_t *q, size_t n);
/* The 256-entry reference table (two float32 roundings). */
const float *yt_dequantize_table(void);

#endif
