/* input.h: a batch message as a model wants it: float features [B, D] or
 * [B, F, D] (uint8 frames dequantized here, padding rows 0.0) and dense
 * labels [B, C]. Shared by train, infer and the benchmarks. Not the model's
 * L2 normalization (the model does it, REFERENCE.md 1.8). */
#ifndef YT_MODEL_INPUT_H
#define YT_MODEL_INPUT_H

#include "core/payload.h"
#include "model/model.h"

typedef struct yt_model_input {
  int B;
  int keep_u8;          /* set by the caller: uint8 frames stay uint8 (q), for yt_model_forward_u8 */
  const float *x;       /* [B, D] or [B, F, D]: into the message or into buf; NULL when q */
  const uint8_t *q;     /* [B, F, D] uint8 frames into the message (keep_u8), else NULL */
  const int32_t *num_frames;
  float *labels;        /* [B, C], owned */
  float *buf;           /* dequantized / repacked features, owned */
  int32_t *nf;          /* num_frames for video level (all 1), owned */
  size_t labels_cap, buf_cap, nf_cap;
} yt_model_input;

/* labels [bt->n, C]: 1.0 at each video's labels, else 0; a label outside
 * [0, C) is an error naming the video and num_classes. */
int yt_batch_labels_dense(const yt_batch *bt, int C, float *labels, yt_err *err);

/* Fills in from bt for a model with configuration cfg; checks dim, frames and
 * label range, naming the video and what to change in the graph. */
int yt_model_input_set(yt_model_input *in, const yt_batch *bt, const yt_model_config *cfg, yt_err *err);
void yt_model_input_free(yt_model_input *in);

#endif
