/* model_impl.h: what the model files share behind model.h: the yt_model
 * struct, the table of model types, tensor declaration, buffers that live as
 * long as the model, and the two heads (logistic, MoE) several models end
 * with. Internal to nodes/model/: callers use model.h. */
#ifndef YT_MODEL_IMPL_H
#define YT_MODEL_IMPL_H

#include "backend/backend.h"
#include "model/layers.h"
#include "model/loss.h"
#include "model/model.h"

enum { YT_INIT_ZEROS, YT_INIT_ONES, YT_INIT_GLOROT, YT_INIT_NORMAL };
enum { YT_MODEL_MAX_TENSORS = 48, YT_MODEL_MAX_BUFS = 96 }; /* NetVLADModelLF: up to 34 and 63 */

/* One model type. forward reads x and writes m->probs (B,C); backward
 * accumulates d(label loss)/dparams into the zeroed gradient block from
 * dprobs (B,C), after a training forward of the same B. */
typedef struct yt_model_type {
  const char *name;
  int frame_level; /* input [B,F,D] with num_frames */
  int (*build)(yt_model *m, yt_err *err);
  void (*forward)(yt_model *m, const float *x, const int32_t *num_frames, int B, int training);
  void (*backward)(yt_model *m, const float *dprobs, int B);
  double (*flops)(const yt_model *m, int training);
} yt_model_type;

struct yt_model {
  yt_model_config cfg;
  const yt_model_type *type;
  int max_batch;
  int ntensors;
  yt_tensor_info tensor[YT_MODEL_MAX_TENSORS];
  int init_kind[YT_MODEL_MAX_TENSORS];
  float init_std[YT_MODEL_MAX_TENSORS]; /* YT_INIT_NORMAL's sigma */
  size_t nparams;
  /* The backend every operation runs on, and its memory: one block of
   * (2 + opt_slots) x nparams floats holding the parameters, the gradients
   * and the optimizer's slots (Adam's m and v), in that order. */
  const yt_backend *be;
  int on_host;          /* be is the CPU: backend memory is host memory */
  int opt_slots;
  float *block;
  float *params, *grads; /* into block */
  float *host_params, *host_grads; /* host views: = params, grads on the CPU; mirrors on a device */
  float *probs, *dprobs; /* (max_batch, C): the last forward's output and the loss gradient */
  float *x_dev;          /* a device's copy of the input, (max_batch, F or 1, D); NULL on the CPU */
  int32_t *nf_dev;       /* num_frames in backend memory (max_batch): frame-level models, or a device */
  uint8_t *q_dev;        /* a device's copy of uint8 frames (max_batch, F, D), at the first uint8 forward */
  float *x_host_buf;     /* the CPU's dequantized uint8 frames (max_batch, F, D), likewise; malloc */
  float *labels_dev;     /* a device's copy of the labels (max_batch, C); NULL on the CPU */
  float *scalars;        /* backend floats: [0] the label loss, [1 + i] tensor i's sum of squares */
  float *gsumsq;         /* backend floats [ntensors]: tensor i's sum of squared gradients (l2 > 0 only) */
  int gsumsq_ready;      /* gsumsq holds the last backward's sums, and nothing wrote the gradients since */
  const int32_t *nf;     /* this forward's num_frames in backend memory (frame-level models' ops) */
  int fwd_batch, fwd_training;
  uint64_t sample_rng; /* frame sampling (DbofModel, NetVLADModelLF) */
  int dry_run;         /* yt_model_count_params: tensor table only, no parameter block */
  int nbufs;
  void *buf[YT_MODEL_MAX_BUFS];
  unsigned char buf_host[YT_MODEL_MAX_BUFS]; /* 1: host memory (free), 0: the backend's */
  void *state; /* the model type's own struct */
};

/* Declares a tensor (shape up to 4 dims, 0-terminated list not needed: ndim
 * given) and returns its index; the parameter block is laid out in
 * declaration order. Fails only past YT_MODEL_MAX_TENSORS. */
int yt_model_add_tensor(yt_model *m, const char *name, int ndim, const int *shape, int trainable, float l2,
                        int init_kind, float init_std, yt_err *err);
/* Declares tower/<scope>/{beta,gamma,moving_mean,moving_variance} [C]; *first
 * gets beta's index (gamma, moving_mean, moving_variance follow it). */
int yt_model_add_batchnorm(yt_model *m, const char *scope, int C, int *first, yt_err *err);
static inline float *yt_model_p(yt_model *m, int i) { return m->params + m->tensor[i].offset; }
static inline float *yt_model_g(yt_model *m, int i) { return m->grads + m->tensor[i].offset; }
/* n zeroed bytes of the backend's memory owned by the model (freed with
 * it), for activations; NULL on failure with err set. */
void *yt_model_alloc(yt_model *m, size_t n, yt_err *err);
/* The same in host memory, for the model's own struct and host-side work
 * (frame indices before they are uploaded). */
void *yt_model_alloc_host(yt_model *m, size_t n, yt_err *err);
/* A uniform draw in [0, 1) with 24 bits, as tf.random_uniform float32. */
float yt_model_uniform(yt_model *m);
/* REFERENCE.md 2.6 (sample.c): the frame of each of the S slots of each video,
 * idx (B,S), from cfg.sample_random_frames / sample_all and the sampling
 * generator; training = 0 takes sample_all into account. */
void yt_model_sample_frames(yt_model *m, int32_t *idx, const int32_t *num_frames, int B, int S, int training);

/* Logistic head: probs = sigmoid(x W + b), W tower/fully_connected/weights [D,C]. */
typedef struct yt_logistic_head {
  int D, C, w, b;
  float *dz; /* (max_batch, C) */
} yt_logistic_head;
int yt_logistic_head_build(yt_logistic_head *h, yt_model *m, int D, float l2, yt_err *err);
// x (B,D)  probs (B,C)
void yt_logistic_head_forward(yt_logistic_head *h, yt_model *m, float *probs, const float *x, int B);
// dprobs, probs (B,C)  x, dx (B,D): dx += (NULL: not wanted); grads +=
void yt_logistic_head_backward(yt_logistic_head *h, yt_model *m, float *dx, const float *dprobs,
                               const float *probs, const float *x, int B);
double yt_logistic_head_flops(const yt_logistic_head *h, int training, int need_dx);

/* MoE head (REFERENCE.md 2.2): tower/gates/weights [D, C(M+1)] (no bias),
 * tower/experts/{weights [D, CM], biases [CM]}, L2 on the weights. */
typedef struct yt_moe_head {
  int D, C, M, gates_w, experts_w, experts_b;
  float *gate_p, *expert_p; /* (max_batch, C(M+1)), (max_batch, CM): logits, then probabilities */
  float *dgate, *dexpert;
} yt_moe_head;
int yt_moe_head_build(yt_moe_head *h, yt_model *m, int D, yt_err *err);
// x (B,D)  probs (B,C)
void yt_moe_head_forward(yt_moe_head *h, yt_model *m, float *probs, const float *x, int B);
// dprobs (B,C)  x, dx (B,D): dx += (NULL: not wanted); grads +=
void yt_moe_head_backward(yt_moe_head *h, yt_model *m, float *dx, const float *dprobs, const float *x, int B);
double yt_moe_head_flops(const yt_moe_head *h, int training, int need_dx);

extern const yt_model_type yt_model_logistic, yt_model_moe, yt_model_frame_logistic, yt_model_dbof;
extern const yt_model_type yt_model_lstm;
extern const yt_model_type yt_model_netvlad;

#endif
