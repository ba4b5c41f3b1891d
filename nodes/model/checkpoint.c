/* checkpoint.c: model + Adam state <-> .safetensors (see checkpoint.h). */
#include "model/checkpoint.h"

#include "core/fs.h"
#include "model/quantize.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PREFIX "model.ckpt-"
#define YT_CKPT_EMA "ExponentialMovingAverage"
#define SUFFIX ".safetensors"

/* ---- configuration as JSON ------------------------------------------------------ */

char *yt_model_config_json(const yt_model_config *c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", c->model);
  cJSON_AddNumberToObject(o, "num_classes", c->num_classes);
  cJSON_AddNumberToObject(o, "feature_dim", c->feature_dim);
  cJSON_AddBoolToObject(o, "frame_features", c->frame_features);
  cJSON_AddNumberToObject(o, "max_frames", c->max_frames);
  cJSON_AddNumberToObject(o, "label_loss", c->label_loss);
  cJSON_AddNumberToObject(o, "l2_penalty", c->l2_penalty);
  cJSON_AddNumberToObject(o, "moe_num_mixtures", c->moe_num_mixtures);
  cJSON_AddNumberToObject(o, "moe_l2", c->moe_l2);
  cJSON_AddNumberToObject(o, "iterations", c->iterations);
  cJSON_AddBoolToObject(o, "sample_random_frames", c->sample_random_frames);
  cJSON_AddBoolToObject(o, "sample_all", c->sample_all);
  cJSON_AddNumberToObject(o, "dbof_cluster_size", c->dbof_cluster_size);
  cJSON_AddNumberToObject(o, "dbof_hidden_size", c->dbof_hidden_size);
  cJSON_AddBoolToObject(o, "dbof_add_batch_norm", c->dbof_add_batch_norm);
  cJSON_AddStringToObject(o, "dbof_pooling_method", c->dbof_pooling == YT_POOL_MAX ? "max" : "average");
  cJSON_AddStringToObject(o, "dbof_activation", c->dbof_activation == YT_ACT_RELU6 ? "relu6" : "sigmoid");
  cJSON_AddNumberToObject(o, "lstm_layers", c->lstm_layers);
  cJSON_AddNumberToObject(o, "lstm_cells", c->lstm_cells);
  cJSON_AddNumberToObject(o, "netvlad_cluster_size", c->netvlad_cluster_size);
  cJSON_AddNumberToObject(o, "netvlad_hidden_size", c->netvlad_hidden_size);
  cJSON_AddNumberToObject(o, "netvlad_video_dim", c->netvlad_video_dim);
  cJSON_AddBoolToObject(o, "netvlad_add_batch_norm", c->netvlad_add_batch_norm);
  cJSON_AddBoolToObject(o, "netvlad_relu", c->netvlad_relu);
  cJSON_AddBoolToObject(o, "gating", c->gating);
  cJSON_AddBoolToObject(o, "moe_prob_gating", c->moe_prob_gating);
  cJSON_AddBoolToObject(o, "lightvlad", c->lightvlad);
  cJSON_AddBoolToObject(o, "netvlad_intra_norm", c->netvlad_intra_norm);
  cJSON_AddBoolToObject(o, "gating_remove_diag", c->gating_remove_diag);
  cJSON_AddNumberToObject(o, "batch_norm_decay", c->batch_norm_decay);
  char seed[32];
  snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
  cJSON_AddStringToObject(o, "seed", seed);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

static int num(const cJSON *o, const char *k, double *v) {
  const cJSON *x = cJSON_GetObjectItem(o, k);
  if (cJSON_IsNumber(x)) *v = x->valuedouble;
  else if (cJSON_IsBool(x)) *v = cJSON_IsTrue(x);
  else return 0;
  return 1;
}

int yt_model_config_parse(const char *json, yt_model_config *c, yt_err *err) {
  cJSON *o = cJSON_Parse(json);
  const cJSON *model = o ? cJSON_GetObjectItem(o, "model") : NULL;
  if (!cJSON_IsString(model)) {
    cJSON_Delete(o);
    return yt_fail(err, YT_ECORRUPT, "model configuration: not JSON with a \"model\" name");
  }
  memset(c, 0, sizeof *c);
  snprintf(c->model, sizeof c->model, "%s", model->valuestring);
  yt_model_config_defaults(c);
  double v;
#define GET(key, field, cast) \
  if (num(o, key, &v)) c->field = (cast)v;
  GET("num_classes", num_classes, int)
  GET("feature_dim", feature_dim, int)
  GET("frame_features", frame_features, int)
  GET("max_frames", max_frames, int)
  GET("label_loss", label_loss, int)
  GET("l2_penalty", l2_penalty, float)
  GET("moe_num_mixtures", moe_num_mixtures, int)
  GET("moe_l2", moe_l2, float)
  GET("iterations", iterations, int)
  GET("sample_random_frames", sample_random_frames, int)
  GET("sample_all", sample_all, int)
  GET("dbof_cluster_size", dbof_cluster_size, int)
  GET("dbof_hidden_size", dbof_hidden_size, int)
  GET("dbof_add_batch_norm", dbof_add_batch_norm, int)
  GET("lstm_layers", lstm_layers, int)
  GET("lstm_cells", lstm_cells, int)
  GET("netvlad_cluster_size", netvlad_cluster_size, int)
  GET("netvlad_hidden_size", netvlad_hidden_size, int)
  GET("netvlad_video_dim", netvlad_video_dim, int)
  GET("netvlad_add_batch_norm", netvlad_add_batch_norm, int)
  GET("netvlad_relu", netvlad_relu, int)
  GET("gating", gating, int)
  GET("moe_prob_gating", moe_prob_gating, int)
  GET("lightvlad", lightvlad, int)
  GET("netvlad_intra_norm", netvlad_intra_norm, int) /* absent in older bundles: the default, 1 */
  GET("gating_remove_diag", gating_remove_diag, int)
  GET("batch_norm_decay", batch_norm_decay, float)
#undef GET
  const cJSON *p = cJSON_GetObjectItem(o, "dbof_pooling_method");
  if (cJSON_IsString(p)) c->dbof_pooling = strcmp(p->valuestring, "max") ? YT_POOL_AVERAGE : YT_POOL_MAX;
  const cJSON *a = cJSON_GetObjectItem(o, "dbof_activation");
  if (cJSON_IsString(a)) c->dbof_activation = strcmp(a->valuestring, "relu6") ? YT_ACT_SIGMOID : YT_ACT_RELU6;
  const cJSON *s = cJSON_GetObjectItem(o, "seed");
  if (cJSON_IsString(s)) c->seed = strtoull(s->valuestring, NULL, 10);
  cJSON_Delete(o);
  return YT_OK;
}

/* ---- save ---------------------------------------------------------------------------- */

int yt_ckpt_save(const char *train_dir, yt_model *m, const yt_adam *a, const float *ema, int64_t step,
                 const char *feature_names, const char *feature_sizes, char *path, size_t cap, yt_err *err) {
  int rc = yt_mkdirs(train_dir, err);
  if (rc < 0) return rc;
  snprintf(path, cap, "%s/" PREFIX "%" PRId64 SUFFIX, train_dir, step);
  yt_st_writer *w = yt_st_writer_new();
  if (!w) return yt_fail(err, YT_ENOMEM, "out of memory");
  const float *params = yt_model_params(m); /* host views (downloaded from a device) */
  float *am = NULL, *av = NULL;
  if (a) yt_adam_moments(a, &am, &av);
  char name[160];
  for (int i = 0; !rc && i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    int64_t shape[4];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
    rc = yt_st_writer_add(w, t->name, YT_ST_F32, t->ndim, shape, params + t->offset, err);
    if (!rc && a && t->trainable) {
      snprintf(name, sizeof name, "%s/Adam", t->name);
      rc = yt_st_writer_add(w, name, YT_ST_F32, t->ndim, shape, am + t->offset, err);
      snprintf(name, sizeof name, "%s/Adam_1", t->name);
      if (!rc) rc = yt_st_writer_add(w, name, YT_ST_F32, t->ndim, shape, av + t->offset, err);
    }
    if (!rc && ema) { /* every tensor, batch-norm moving statistics included */
      snprintf(name, sizeof name, "%s/" YT_CKPT_EMA, t->name);
      rc = yt_st_writer_add(w, name, YT_ST_F32, t->ndim, shape, ema + t->offset, err);
    }
  }
  char *cfg = yt_model_config_json(yt_model_cfg(m));
  char buf[64];
  if (!rc) rc = yt_st_writer_meta(w, "config", cfg, err);
  if (!rc) rc = yt_st_writer_meta(w, "model", yt_model_cfg(m)->model, err);
  snprintf(buf, sizeof buf, "%" PRId64, step);
  if (!rc) rc = yt_st_writer_meta(w, "step", buf, err);
  snprintf(buf, sizeof buf, "%d", yt_model_cfg(m)->num_classes);
  if (!rc) rc = yt_st_writer_meta(w, "num_classes", buf, err);
  snprintf(buf, sizeof buf, "%d", yt_model_cfg(m)->max_frames);
  if (!rc) rc = yt_st_writer_meta(w, "max_frames", buf, err);
  if (!rc && feature_names) rc = yt_st_writer_meta(w, "feature_names", feature_names, err);
  if (!rc && feature_sizes) rc = yt_st_writer_meta(w, "feature_sizes", feature_sizes, err);
  if (!rc && a) {
    snprintf(buf, sizeof buf, "%" PRId64, a->t);
    rc = yt_st_writer_meta(w, "adam_t", buf, err);
    snprintf(buf, sizeof buf, "%.9g", a->beta1_power);
    if (!rc) rc = yt_st_writer_meta(w, "adam_beta1_power", buf, err);
    snprintf(buf, sizeof buf, "%.9g", a->beta2_power);
    if (!rc) rc = yt_st_writer_meta(w, "adam_beta2_power", buf, err);
  }
  free(cfg);
  if (!rc) rc = yt_st_writer_write(w, path, err);
  yt_st_writer_free(w);
  return rc;
}

/* ---- find and load ---------------------------------------------------------------------- */

int yt_ckpt_latest(const char *train_dir, char *path, size_t cap, int64_t *step, yt_err *err) {
  (void)err;
  DIR *d = opendir(train_dir);
  if (!d) return YT_EOF;
  int64_t best = -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name), lp = strlen(PREFIX), ls = strlen(SUFFIX);
    if (n <= lp + ls || strncmp(e->d_name, PREFIX, lp) || strcmp(e->d_name + n - ls, SUFFIX)) continue;
    char *end;
    long long s = strtoll(e->d_name + lp, &end, 10);
    if (end != e->d_name + n - ls || s < 0) continue;
    if (s > best) best = s;
  }
  closedir(d);
  if (best < 0) return YT_EOF;
  snprintf(path, cap, "%s/" PREFIX "%" PRId64 SUFFIX, train_dir, best);
  *step = best;
  return YT_OK;
}

int yt_ckpt_config(const yt_st_file *f, yt_model_config *cfg, yt_err *err) {
  const char *json = yt_st_meta(f, "config");
  if (!json)
    return yt_fail(err, YT_ECORRUPT, "%s: no \"config\" in __metadata__ (not a yt8m-flow checkpoint?)",
                   yt_st_path(f));
  int rc = yt_model_config_parse(json, cfg, err);
  if (rc < 0) yt_err_prefix(err, "%s: ", yt_st_path(f));
  return rc;
}

int yt_ckpt_load(const yt_st_file *f, yt_model *m, yt_adam *a, int64_t *step, yt_err *err) {
  float *params = yt_model_params(m); /* host views; uploaded at the end */
  float *am = NULL, *av = NULL;
  if (a) yt_adam_moments(a, &am, &av);
  char name[160];
  int have_adam = a != NULL;
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    int64_t shape[4];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
    const void *data;
    int rc = YT_EOF;
    /* a quantized bundle (yt8m-flow quantize) holds NAME_quants + NAME_space instead of NAME */
    if (!yt_st_find(f, t->name) && (rc = yt_quant_expand(f, t->name, t->ndim, shape, params + t->offset, err)) < 0)
      return rc;
    if (rc == YT_EOF) {
      if ((rc = yt_st_expect(f, t->name, YT_ST_F32, t->ndim, shape, &data, err)) < 0) return rc;
      memcpy(params + t->offset, data, t->numel * sizeof(float));
    }
    if (have_adam && t->trainable) {
      snprintf(name, sizeof name, "%s/Adam", t->name);
      if (!yt_st_find(f, name)) {
        have_adam = 0; /* weights only (a bundle): Adam starts fresh */
        continue;
      }
      if ((rc = yt_st_expect(f, name, YT_ST_F32, t->ndim, shape, &data, err)) < 0) return rc;
      memcpy(am + t->offset, data, t->numel * sizeof(float));
      snprintf(name, sizeof name, "%s/Adam_1", t->name);
      if ((rc = yt_st_expect(f, name, YT_ST_F32, t->ndim, shape, &data, err)) < 0) return rc;
      memcpy(av + t->offset, data, t->numel * sizeof(float));
    }
  }
  if (have_adam) {
    const char *s = yt_st_meta(f, "adam_t"), *b1 = yt_st_meta(f, "adam_beta1_power"),
               *b2 = yt_st_meta(f, "adam_beta2_power");
    if (s && b1 && b2) {
      a->t = strtoll(s, NULL, 10);
      a->beta1_power = strtof(b1, NULL);
      a->beta2_power = strtof(b2, NULL);
    }
  }
  yt_model_params_changed(m);
  if (a) yt_adam_moments_changed(a);
  const char *s = yt_st_meta(f, "step");
  *step = s ? strtoll(s, NULL, 10) : 0;
  return yt_model_check(m, err);
}

int yt_ckpt_has_ema(const yt_st_file *f) {
  size_t k = strlen("/" YT_CKPT_EMA);
  for (size_t i = 0; i < yt_st_count(f); i++) {
    const char *n = yt_st_at(f, i)->name;
    size_t len = strlen(n);
    if (len > k && !strcmp(n + len - k, "/" YT_CKPT_EMA)) return 1;
  }
  return 0;
}

int yt_ckpt_load_ema(const yt_st_file *f, const yt_model *m, float *shadow, yt_err *err) {
  if (!yt_ckpt_has_ema(f)) return YT_EOF;
  char name[160];
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    int64_t shape[4];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
    snprintf(name, sizeof name, "%s/" YT_CKPT_EMA, t->name);
    if (!yt_st_find(f, name))
      return yt_fail(err, YT_ECORRUPT, "%s: has EMA shadows but none for '%s' (no '%s'): a damaged checkpoint?",
                     yt_st_path(f), t->name, name);
    const void *data;
    int rc = yt_st_expect(f, name, YT_ST_F32, t->ndim, shape, &data, err);
    if (rc < 0) return rc;
    memcpy(shadow + t->offset, data, t->numel * sizeof(float));
  }
  return YT_OK;
}
