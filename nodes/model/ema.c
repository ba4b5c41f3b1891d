/* ema.c: the weights' exponential moving average (see ema.h). */
#include "model/ema.h"

#include <stdlib.h>
#include <string.h>

float yt_ema_decay(int64_t halflife) {
  return (float)(1.0 - 1.0 / (double)halflife);
}

int yt_ema_init_for(yt_ema *e, yt_model *m, int64_t halflife, yt_err *err) {
  memset(e, 0, sizeof *e);
  if (halflife < 1)
    return yt_fail(err, YT_EINVAL, "ema_halflife must be at least 1 (got %lld)", (long long)halflife);
  float *slot = yt_model_opt_slot(m, YT_EMA_SLOT);
  if (!slot)
    return yt_fail(err, YT_EINVAL,
                   "%s: no optimizer slot %d for the EMA shadows (build the model with 3 slots)",
                   yt_model_cfg(m)->model, YT_EMA_SLOT);
  static const char *const ops[] = {"ema_update", NULL};
  int rc = yt_backend_require(yt_model_backend(m), ops, err);
  if (rc < 0) return rc;
  e->be = yt_model_backend(m);
  e->n = yt_model_num_params(m);
  e->decay = yt_ema_decay(halflife);
  e->shadow = slot;
  e->host = e->be == yt_backend_cpu() ? slot : calloc(e->n ? e->n : 1, sizeof(float));
  if (!e->host) {
    yt_ema_free(e);
    return yt_fail(err, YT_ENOMEM, "out of memory for the host view of %zu EMA shadows",
                   yt_model_num_params(m));
  }
  e->be->copy(e->shadow, yt_model_params_dev(m), e->n * sizeof(float)); /* no warm-up: start at the weights */
  return YT_OK;
}

void yt_ema_step(yt_ema *e, yt_model *m) {
  e->be->ema_update(e->shadow, yt_model_params_dev(m), e->decay, e->n);
}

float *yt_ema_shadows(const yt_ema *e) {
  if (e->host != e->shadow) e->be->download(e->host, e->shadow, e->n * sizeof(float));
  return e->host;
}

void yt_ema_shadows_changed(yt_ema *e) {
  if (e->host != e->shadow) e->be->upload(e->shadow, e->host, e->n * sizeof(float));
}

void yt_ema_free(yt_ema *e) {
  if (e->be && e->host != e->shadow) free(e->host);
  memset(e, 0, sizeof *e);
}
