/* model.h: the models of the starter code on the CPU backend, behind one
 * interface the train and infer nodes use.
 *
 * A model owns one contiguous parameter block described by a table of named
 * tensors (TF variable names, REFERENCE.md 2.0), a gradient block and the
 * activations it needs for one batch of at most max_batch videos. Forward
 * L2-normalizes its input (REFERENCE.md 1.8), so callers pass dequantized
 * features as they come from the batcher. Not here: the optimizer (adam.h),
 * checkpoints (checkpoint.h), metrics (metrics.h).
 *
 * Letters: B batch, F frames (max_frames), D feature dim, C classes,
 * M mixtures, K clusters, H hidden. */
#ifndef YT_MODEL_H
#define YT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum { YT_LOSS_CE, YT_LOSS_HINGE, YT_LOSS_SOFTMAX };
enum { YT_POOL_MAX, YT_POOL_AVERAGE };
enum { YT_ACT_SIGMOID, YT_ACT_RELU6 };

typedef struct yt_model_config {
  char model[48];        /* LogisticModel | MoeModel | FrameLevelLogisticModel | DbofModel | LstmModel |
                            NetVLADModelLF */
  int num_classes;       /* C, 3862 */
  int feature_dim;       /* D = sum of feature sizes (1152 frame level, 1024+128 video level) */
  int frame_features;    /* 0: input [B, D]; 1: input [B, F, D] with num_frames */
  int max_frames;        /* F, 300 */
  int label_loss;        /* YT_LOSS_*, CrossEntropyLoss */
  float l2_penalty;      /* Logistic / FrameLevelLogistic FC, 1e-8 */
  int moe_num_mixtures;  /* M, 2 (not counting the dummy expert) */
  float moe_l2;          /* 1e-8 */
  /* DbofModel */
  int iterations;        /* sampled frames, 30 */
  int sample_random_frames; /* 1: SampleRandomFrames, 0: SampleRandomSequence */
  int sample_all;        /* Skalic's sample_all (REFERENCE.md 2.6) */
  int dbof_cluster_size; /* K, 8192 */
  int dbof_hidden_size;  /* H, 1024 */
  int dbof_add_batch_norm; /* 1 */
  int dbof_pooling;      /* YT_POOL_*, max */
  int dbof_activation;   /* YT_ACT_*, sigmoid */
  /* LstmModel */
  int lstm_layers;       /* stacked BasicLSTMCells, 2 */
  int lstm_cells;        /* H of every layer, 1024 */
  /* NetVLADModelLF (REFERENCE.md 2.7; also iterations, sample_*, moe_*). Defaults
   * here are the starter flags'; yt_model_config_defaults gives a
   * NetVLADModelLF the 2018 winner's where they differ (marked "winner"). */
  int netvlad_cluster_size; /* K of the first feature's VLAD (the second gets K/2), 64; winner 256 */
  int netvlad_hidden_size;  /* H, 1024 */
  int netvlad_video_dim;    /* the first feature's columns (rgb, 1024); the rest form the audio VLAD;
                               = feature_dim: one VLAD over all columns */
  int netvlad_add_batch_norm; /* input_bn, cluster_bn, gating_bn (else biases), 1 */
  int netvlad_relu;         /* relu6 after the hidden layer (hidden1_bn with add_batch_norm), 1; winner 0 */
  int gating;               /* context gating after the hidden layer, 0; winner 1 */
  int moe_prob_gating;      /* label gating of the MoE's probabilities, 0; winner 1 */
  int lightvlad;            /* LightVLAD (NetRVLAD): no centres, 0 */
  int gating_remove_diag;   /* both gatings leave out their matrix's diagonal, 0 */
  int netvlad_intra_norm;   /* L2 of each cluster's residual before the global L2, 1 (WILLOW's) */
  float batch_norm_decay; /* moving-average decay of every batch norm, 0.999 (slim's) */
  uint64_t seed;         /* initialization and frame sampling */
} yt_model_config;

/* The starter code's defaults for cfg->model (which must be set first). */
void yt_model_config_defaults(yt_model_config *cfg);

typedef struct yt_tensor_info {
  char name[96];      /* "tower/experts/weights" */
  int ndim;
  int shape[4];
  size_t offset;      /* in floats, into the parameter block */
  size_t numel;
  int trainable;      /* 0: batch-norm moving statistics (no gradient, no Adam) */
  float l2;           /* L2 scale s: the loss adds s * sum(w^2) / 2; 0 = none */
} yt_tensor_info;

typedef struct yt_model yt_model;

typedef struct yt_backend yt_backend; /* backend/backend.h */

/* A model on the CPU backend. */
int yt_model_new(yt_model **out, const yt_model_config *cfg, int max_batch, yt_err *err);
/* A model on backend be (yt_backend_open). Parameters, gradients and
 * opt_slots more parameter-sized slots (Adam: 2) are one block of the
 * backend's memory. Refuses a backend that lacks an operation the model
 * uses, naming it. Inputs and outputs of yt_model_forward/backward stay host
 * memory: the model copies them. */
int yt_model_new_on(yt_model **out, const yt_model_config *cfg, int max_batch, const yt_backend *be,
                    int opt_slots, yt_err *err);
const yt_backend *yt_model_backend(const yt_model *m);
/* The floats a model of cfg would hold, without allocating its parameter
 * block: *trainable (what Adam updates) and *total (batch-norm moving
 * statistics included). Either pointer may be NULL. Checks cfg as
 * yt_model_new does. */
int yt_model_count_params(const yt_model_config *cfg, size_t *trainable, size_t *total, yt_err *err);
void yt_model_free(yt_model *m);
const yt_model_config *yt_model_cfg(const yt_model *m);

int yt_model_num_tensors(const yt_model *m);
const yt_tensor_info *yt_model_tensor(const yt_model *m, int i);
/* Index of the tensor called name, or -1. */
int yt_model_find_tensor(const yt_model *m, const char *name);
size_t yt_model_num_params(const yt_model *m); /* floats in the block, moving stats included */
/* Host views of the parameter and gradient blocks. On the CPU they are the
 * blocks themselves; on a device each call downloads a fresh copy. After
 * writing parameters through the view, call yt_model_params_changed. */
float *yt_model_params(yt_model *m);
float *yt_model_grads(yt_model *m);            /* same layout as the parameters */
void yt_model_params_changed(yt_model *m);     /* uploads the host view (no-op on the CPU) */
/* The blocks themselves, in the backend's memory (the optimizer's view). */
float *yt_model_params_dev(yt_model *m);
float *yt_model_grads_dev(yt_model *m);
/* The gradient block for reading (the optimizer); yt_model_grads and
 * yt_model_grads_dev are for callers that may write it. */
const float *yt_model_grads_dev_ro(const yt_model *m);
/* Tensor i's sum of squared gradients in backend memory, as the backend's
 * sumsq would give it, when the last backward computed it (tensors with an
 * L2 term, in the same pass) and nothing has asked for a writable view of
 * the gradients since; otherwise NULL (the caller sums them itself). */
const float *yt_model_grad_sumsq(const yt_model *m, int i);
/* Optimizer slot k (0 <= k < opt_slots), nparams floats of backend memory
 * laid out like the parameters, zeroed at build; NULL without one. */
float *yt_model_opt_slot(yt_model *m, int k);
/* The backend's first error since the last check (a device's asynchronous
 * failure), or YT_OK. yt_model_forward and yt_model_backward check already. */
int yt_model_check(yt_model *m, yt_err *err);

/* Glorot-uniform / normal initializers as the starter code (REFERENCE.md 2.0). */
void yt_model_init_params(yt_model *m, uint64_t seed);

/* Restarts the frame-sampling generator (DbofModel; yt_model_new starts it
 * from cfg->seed), so that two forwards can see the same frames. */
void yt_model_set_sampling_seed(yt_model *m, uint64_t seed);

/* x: [B, D] (video level) or [B, F, D] zero-padded with num_frames[B] (frame
 * level), float32, not normalized. training = 1 uses batch statistics and
 * updates the moving averages, and random frame sampling; 0 uses the moving
 * averages (and sample_all when set). probs: [B, C], written. */
int yt_model_forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training,
                     float *probs, yt_err *err);
/* The same with frame-level uint8 frames q [B, F, D] as the dataset stores
 * them (REFERENCE.md 1.6): on a device they travel as uint8 and are
 * dequantized there (dequantize_frames); the CPU dequantizes them here. */
int yt_model_forward_u8(yt_model *m, const uint8_t *q, const int32_t *num_frames, int B, int training,
                        float *probs, yt_err *err);

/* After a training forward: labels [B, C] in 0..1 (soft targets allowed).
 * Zeroes the gradient block, writes d(label_loss + L2)/dparams into it and
 * returns the label loss (mean over the batch of the sum over classes) and
 * the L2 term. */
int yt_model_backward(yt_model *m, const float *labels, float *label_loss, float *reg_loss, yt_err *err);

/* Label loss alone for given probabilities (eval's Batch Loss). */
float yt_model_loss(const yt_model *m, const float *probs, const float *labels, int B);

/* Multiply-adds x 2 of one forward (fwd) and one forward + backward (train)
 * per example, for GFLOP/s figures. */
double yt_model_flops(const yt_model *m, int training);

#endif
