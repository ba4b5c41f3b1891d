/* checkpoint.h: a model's weights (and Adam state) in one .safetensors file.
 *
 * TRAIN_DIR/model.ckpt-<step>.safetensors holds every tensor of the model's
 * table under its TF variable name, the Adam moments as NAME/Adam and
 * NAME/Adam_1 (TF's slot names) for trainable tensors, when training keeps
 * them the EMA shadows as NAME/ExponentialMovingAverage (TF's name, every
 * tensor: model/ema.h), and __metadata__ with
 * the model configuration ("config", JSON), "step", "feature_names",
 * "feature_sizes" and the Adam step and powers. Written atomically, so a
 * checkpoint under its final name is always whole; the latest is the largest
 * step. Not here: model_flags.json (formats/model_flags.h), bundles (cli). */
#ifndef YT_CHECKPOINT_H
#define YT_CHECKPOINT_H

#include <stdint.h>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/adam.h"
#include "model/model.h"

/* Writes TRAIN_DIR/model.ckpt-<step>.safetensors; a (Adam) may be NULL, and
 * ema (the EMA shadows, host memory in the parameters' layout: yt_ema_shadows). */
int yt_ckpt_save(const char *train_dir, yt_model *m, const yt_adam *a, const float *ema, int64_t step,
                 const char *feature_names, const char *feature_sizes, char *path_out, size_t cap, yt_err *err);
/* The checkpoint with the largest step in train_dir: YT_OK with path and
 * step, YT_EOF when there is none (or no directory). */
int yt_ckpt_latest(const char *train_dir, char *path, size_t cap, int64_t *step, yt_err *err);
/* The model configuration a checkpoint was saved with. */
int yt_ckpt_config(const yt_st_file *f, yt_model_config *cfg, yt_err *err);
/* Loads the weights (shapes checked against the model's table) and, when a is
 * not NULL and the file has them, the Adam state. *step gets the saved step.
 * A weight stored quantized (NAME_quants + NAME_space, model/quantize.h) is
 * expanded to float. */
int yt_ckpt_load(const yt_st_file *f, yt_model *m, yt_adam *a, int64_t *step, yt_err *err);
/* The EMA shadows of f (NAME/ExponentialMovingAverage for every tensor of m)
 * into shadow (host memory, m's parameter layout): YT_OK; YT_EOF when f has
 * none (shadow untouched); an error when only some are there or a shape
 * differs. shadow = yt_model_params(m) (then yt_model_params_changed) loads
 * the averaged weights as the model's, as eval.py --use_EMA. */
int yt_ckpt_load_ema(const yt_st_file *f, const yt_model *m, float *shadow, yt_err *err);
/* 1 when f holds any NAME/ExponentialMovingAverage tensor. */
int yt_ckpt_has_ema(const yt_st_file *f);

/* JSON of the configuration (malloc'd) and back: what "config" holds. */
char *yt_model_config_json(const yt_model_config *cfg);
int yt_model_config_parse(const char *json, yt_model_config *cfg, yt_err *err);

#endif
