/* ema.h: the exponential moving average of a model's weights (REFERENCE.md
 * 6.1: TF's ExponentialMovingAverage as the 2018 winner's --ema_halflife).
 *
 * After every optimizer step, shadow = d shadow + (1 - d) w with
 * d = 1 - 1/halflife, no warm-up, over every tensor of the model: the
 * trainable ones and the batch-norm moving statistics (the winner averaged
 * trainable_variables and slim's model_variables). The shadows are one block
 * laid out like the parameters, in the model's optimizer slot YT_EMA_SLOT
 * (yt_model_new_on(..., 3, ...): Adam's two moments, then the shadows), on its
 * backend; the update is the backend's ema_update, one call over the block.
 * Checkpoints save them as NAME/ExponentialMovingAverage (checkpoint.h).
 * Not here: exporting them (infer's use_ema, `yt8m-flow bundle --use-ema`). */
#ifndef YT_EMA_H
#define YT_EMA_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/error.h"
#include "model/model.h"

#define YT_EMA_SLOT 2 /* the optimizer slot after Adam's m and v */

typedef struct yt_ema {
  float decay;   /* d = 1 - 1/halflife */
  size_t n;      /* = yt_model_num_params() */
  float *shadow; /* the model's slot YT_EMA_SLOT, backend memory */
  float *host;   /* host view (= shadow on the CPU) */
  const yt_backend *be;
} yt_ema;

/* 1 - 1/halflife, computed in double and rounded to float (halflife >= 1;
 * 1 gives 0: the shadow follows the weights exactly). */
float yt_ema_decay(int64_t halflife);
/* Shadows in m's optimizer slot YT_EMA_SLOT, started equal to m's weights
 * now. m must have been built with at least 3 optimizer slots. */
int yt_ema_init_for(yt_ema *e, yt_model *m, int64_t halflife, yt_err *err);
/* One update from m's current weights (after the optimizer step). */
void yt_ema_step(yt_ema *e, yt_model *m);
/* Host view of the shadows (on a device, downloaded by this call), and the
 * upload after writing it (a checkpoint's shadows). */
float *yt_ema_shadows(const yt_ema *e);
void yt_ema_shadows_changed(yt_ema *e);
void yt_ema_free(yt_ema *e);

#endif
