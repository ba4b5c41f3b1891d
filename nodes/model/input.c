/* input.c: batch message -> model input (see input.h). */
#include "model/input.h"

#include <stdlib.h>
#include <string.h>

#include "formats/yt8m.h"

static int grow(void **p, size_t *cap, size_t need, yt_err *err) {
  if (need <= *cap) return YT_OK;
  void *q = realloc(*p, need);
  if (!q) return yt_fail(err, YT_ENOMEM, "out of memory (%zu bytes for a model input)", need);
  *p = q;
  *cap = need;
  return YT_OK;
}

static void video_id(const yt_batch *bt, uint32_t i, char *out, size_t cap) {
  size_t len = bt->id_off[i + 1] - bt->id_off[i];
  if (len >= cap) len = cap - 1;
  memcpy(out, bt->ids + bt->id_off[i], len);
  out[len] = 0;
}

int yt_batch_labels_dense(const yt_batch *bt, int C, float *labels, yt_err *err) {
  memset(labels, 0, (size_t)bt->n * C * sizeof(float));
  for (uint32_t i = 0; i < bt->n; i++)
    for (uint32_t k = bt->label_off[i]; k < bt->label_off[i + 1]; k++) {
      int32_t l = bt->labels[k];
      if (l < 0 || l >= C) {
        char id[64];
        video_id(bt, i, id, sizeof id);
        return yt_fail(err, YT_EINVAL,
                       "video '%s' (shard %u, record %llu) has label %d outside [0, %d): set num_classes to the "
                       "vocabulary's size",
                       id, bt->shard[i], (unsigned long long)bt->index[i], l, C);
      }
      labels[(size_t)i * C + l] = 1.0f;
    }
  return YT_OK;
}

int yt_model_input_set(yt_model_input *in, const yt_batch *bt, const yt_model_config *cfg, yt_err *err) {
  int B = (int)bt->n, C = cfg->num_classes, D = cfg->feature_dim;
  in->B = B;
  if ((int)bt->dim != D)
    return yt_fail(err, YT_EINVAL,
                   "the batch has %u features per row, the model %d: feature_names/feature_sizes of dequantize "
                   "and of the model must agree",
                   bt->dim, D);
  if (bt->dtype != YT_DT_F32 && bt->dtype != YT_DT_U8)
    return yt_fail(err, YT_EINVAL, "batch dtype %u: expected float32 or uint8", bt->dtype);
  if (bt->dtype == YT_DT_U8 && !cfg->frame_features)
    return yt_fail(err, YT_EINVAL, "uint8 rows for a video-level model: dequantize video level gives float32");
  int rc;
  /* labels, dense */
  if ((rc = grow((void **)&in->labels, &in->labels_cap, (size_t)B * C * sizeof(float), err))) return rc;
  if ((rc = yt_batch_labels_dense(bt, C, in->labels, err)) < 0) return rc;
  if (!cfg->frame_features) {
    /* one row per video: packed rows with num_frames 1, or padded to 1 frame */
    for (int i = 0; i < B; i++)
      if (bt->num_frames[i] != 1) {
        char id[64];
        video_id(bt, (uint32_t)i, id, sizeof id);
        return yt_fail(err, YT_EINVAL,
                       "video '%s' has %d rows: a video-level model takes one row per video (dequantize level "
                       "= video; or use a frame-level model)",
                       id, bt->num_frames[i]);
      }
    if (bt->frames > 1)
      return yt_fail(err, YT_EINVAL, "video-level batch padded to %u rows per video; expected 1", bt->frames);
    in->x = bt->features;
    in->q = NULL;
    if ((rc = grow((void **)&in->nf, &in->nf_cap, (size_t)(B ? B : 1) * sizeof(int32_t), err))) return rc;
    for (int i = 0; i < B; i++) in->nf[i] = 1;
    in->num_frames = in->nf;
    return YT_OK;
  }
  int F = cfg->max_frames;
  if ((int)bt->frames != F)
    return yt_fail(err, YT_EINVAL,
                   "the batch is %s%u frames per video, the model expects %d: give batcher and model the "
                   "same max_frames",
                   bt->frames ? "padded to " : "packed, not padded to ", bt->frames, F);
  in->num_frames = bt->num_frames;
  in->q = NULL;
  if (bt->dtype == YT_DT_F32) {
    in->x = bt->features;
    return YT_OK;
  }
  if (in->keep_u8) { /* the model dequantizes, on its device (yt_model_forward_u8) */
    in->x = NULL;
    in->q = bt->features;
    return YT_OK;
  }
  size_t rows = (size_t)B * F;
  if ((rc = grow((void **)&in->buf, &in->buf_cap, rows * D * sizeof(float), err))) return rc;
  const uint8_t *q = bt->features;
  for (int i = 0; i < B; i++) {
    size_t r0 = (size_t)i * F;
    int nf = bt->num_frames[i];
    yt_dequantize(in->buf + r0 * D, q + r0 * D, (size_t)nf * D);
    memset(in->buf + (r0 + nf) * D, 0, (size_t)(F - nf) * D * sizeof(float)); /* padding stays 0.0 */
  }
  in->x = in->buf;
  in->q = NULL;
  return YT_OK;
}

void yt_model_input_free(yt_model_input *in) {
  free(in->labels);
  free(in->buf);
  free(in->nf);
  memset(in, 0, sizeof *in);
}
