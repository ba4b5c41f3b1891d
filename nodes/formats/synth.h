/* synth.h: the synthetic YouTube-8M generator behind `yt8m-flow gen` (and,
 * later, the synth_source node).
 *
 * It writes records in exactly the real layout (video level Example with id,
 * labels, mean_rgb, mean_audio; frame level SequenceExample with rgb/audio
 * uint8 frames and their means) and plants signal that frame-level
 * aggregation can find better than mean pooling: class frames hidden among
 * "confuser" background frames whose topic mix varies per video. The model is
 * documented in docs/generator.md. Every video is a pure function of (seed,
 * split, index), so replicas can generate disjoint parts in any order. */
#ifndef YT_SYNTH_H
#define YT_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"

#define YT_SYNTH_DIM 1152 /* rgb 1024 + audio 128 */
#define YT_SYNTH_MAX_LABELS 32

typedef struct yt_synth_params {
  int classes;        /* K, default 3862 */
  uint64_t seed;
  int topics;         /* background (confuser) topics, default 256 */
  int min_frames, max_frames; /* frames per video, uniform, default 60..300 */
  double proto_std;   /* per-dimension std of a class prototype, default 0.15 */
  double noise_std;   /* per-dimension frame noise, default 0.8 */
  double signal_lo, signal_hi; /* fraction of class frames per video, default 0.05..0.3 */
  double zipf;        /* class prior exponent: p(c) ~ (c+1)^-zipf, default 0.8 */
  double labels_mean; /* mean labels per video (1 + Poisson(mean-1)), default 3 */
  double confuser;    /* weight of class prototypes in a topic (0..1), default 0.5 */
} yt_synth_params;

void yt_synth_defaults(yt_synth_params *p);

typedef struct yt_synth yt_synth;

typedef struct yt_synth_video {
  char id[16];
  int n_labels;
  int labels[YT_SYNTH_MAX_LABELS]; /* ascending */
  int n_frames;
  uint8_t *frames;            /* [n_frames, 1152] quantized, rgb then audio */
  float mean[YT_SYNTH_DIM];   /* mean of the dequantized frames */
  size_t cap;
} yt_synth_video;

int yt_synth_new(yt_synth **out, const yt_synth_params *p, yt_err *err);
void yt_synth_free(yt_synth *g);
/* Video `index` of `split`: deterministic in (seed, split, index). */
int yt_synth_video_make(yt_synth *g, const char *split, uint64_t index, yt_synth_video *v, yt_err *err);
void yt_synth_video_free(yt_synth_video *v);

/* Serialized Example (video level) or SequenceExample (frame level) through
 * protobuf-c; *buf is malloc'd. labels = false writes none (the test split). */
int yt_synth_encode(const yt_synth_video *v, bool frame_level, bool labels, uint8_t **buf, size_t *len,
                    yt_err *err);

/* Oracle scores for a video: the generator's own prototypes, so not a model a
 * learner could match exactly. frames: score_c = share of frames whose most
 * likely source (class or topic) is c. mean: the mean frame projected on each
 * class prototype's direction (what a linear read-out of the mean knows).
 * scores[K] each. */
int yt_synth_oracle(yt_synth *g, const yt_synth_video *v, float *frame_scores, float *mean_scores,
                    yt_err *err);

/* The expected share of videos carrying class c (for vocabulary.csv). */
double yt_synth_class_rate(const yt_synth *g, int c);
const yt_synth_params *yt_synth_get_params(const yt_synth *g);

#endif
