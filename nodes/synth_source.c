/* synth_source.c: node `synth_source`: the `yt8m-flow gen` generator
 * (formats/synth.h) as a source: synthetic YouTube-8M records made in memory,
 * never written to disk.
 *
 * Pads: no inputs; out "records": serialized Example (level = video) or
 * SequenceExample (level = frame) payloads, exactly the bytes `gen` writes for
 * the same (seed, split, classes, frames, signal, confuser, noise) and video index, message_records per
 * message. Every record is (shard 0, index = video index) in a shard named
 * "synth-SPLIT"; replica r of R makes the indices r, r+R, r+2R, ... < videos,
 * so replicas are disjoint and together complete whatever R is. No message
 * carries YT_REC_SHARD_END: with R > 1 no replica sees the whole "shard".
 *
 * Memory stays flat however many videos stream through: one video and one
 * message are alive at a time (each encoded record is copied into the message
 * and freed at once).
 *
 * Not here: the generative model (formats/synth.c, docs/generator.md),
 * writing shards (`yt8m-flow gen`).
 *
 *   node src : synth_source x2 { videos = 100000; level = frame; seed = 7 }   src -> deq -> batch */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "formats/synth.h"

typedef struct {
  yt_synth *gen;
  yt_synth_video video;
  char split[64];
  char shard_name[80];
  bool frame_level, labels;
  bool bounded;       /* videos > 0 */
  uint64_t count;     /* videos of this replica (may be 0 when bounded) */
  uint64_t next;      /* this replica's videos made so far */
  size_t per_message;
} synth_state;

static const yt_param_def params[] = {
    {"videos", YT_P_INT, "1000", 0, 1e15, NULL, "videos over all replicas; 0 = unbounded (until drained)"},
    {"level", YT_P_ENUM, "frame", YT_NORANGE, "frame|video",
     "frame: SequenceExample with uint8 rgb/audio frames; video: Example with mean_rgb/mean_audio"},
    {"split", YT_P_STRING, "train", YT_NORANGE, NULL, "split name: part of every video's seed and id"},
    {"classes", YT_P_INT, "3862", 1, 3862, NULL, "label vocabulary size K"},
    {"seed", YT_P_INT, "1", YT_NORANGE, NULL, "generator seed: same seed, same videos"},
    {"min_frames", YT_P_INT, "60", 1, 100000, NULL, "fewest frames per video"},
    {"max_frames", YT_P_INT, "300", 1, 100000, NULL, "most frames per video"},
    {"signal_lo", YT_P_FLOAT, "0.05", 0, 1, NULL, "fewest class frames, as a share of a video's frames (gen --signal LO,HI)"},
    {"signal_hi", YT_P_FLOAT, "0.3", 0, 1, NULL, "most class frames, as a share of a video's frames"},
    {"confuser", YT_P_FLOAT, "0.5", 0, 1, NULL, "weight of class prototypes inside background topics (gen --confuser)"},
    {"noise", YT_P_FLOAT, "0.8", 0, 100, NULL, "per-dimension std of the noise on every frame (gen --noise)"},
    {"labels", YT_P_BOOL, "true", YT_NORANGE, NULL, "write labels (false: none, as a test split)"},
    {"message_records", YT_P_INT, "16", 1, 100000, NULL, "records per output message"},
};

static int synth_init(yt_node *n, yt_err *err) {
  synth_state *st = n->state;
  const yt_params *p = &n->params;
  const char *split = yt_param_str(p, "split");
  if (!*split || strlen(split) >= sizeof st->split || strchr(split, '/'))
    return yt_fail(err, YT_EUSAGE, "split must be a plain name of 1 to %zu characters without '/', got '%s'",
                   sizeof st->split - 1, split);
  snprintf(st->split, sizeof st->split, "%s", split);
  snprintf(st->shard_name, sizeof st->shard_name, "synth-%s", split);
  st->frame_level = strcmp(yt_param_str(p, "level"), "frame") == 0;
  st->labels = yt_param_bool(p, "labels");
  st->per_message = (size_t)yt_param_int(p, "message_records");

  yt_synth_params sp;
  yt_synth_defaults(&sp);
  sp.classes = (int)yt_param_int(p, "classes");
  sp.seed = (uint64_t)yt_param_int(p, "seed");
  sp.min_frames = (int)yt_param_int(p, "min_frames");
  sp.max_frames = (int)yt_param_int(p, "max_frames");
  sp.signal_lo = yt_param_float(p, "signal_lo");
  sp.signal_hi = yt_param_float(p, "signal_hi");
  sp.confuser = yt_param_float(p, "confuser");
  sp.noise_std = yt_param_float(p, "noise");
  if (sp.signal_lo > sp.signal_hi)
    return yt_fail(err, YT_EUSAGE, "signal_lo (%g) is larger than signal_hi (%g)", sp.signal_lo, sp.signal_hi);
  if (sp.min_frames > sp.max_frames)
    return yt_fail(err, YT_EUSAGE, "min_frames (%d) is larger than max_frames (%d)", sp.min_frames, sp.max_frames);
  int rc = yt_synth_new(&st->gen, &sp, err);
  if (rc < 0) return rc;

  /* this replica's share of indices r, r+R, ... < videos */
  uint64_t videos = (uint64_t)yt_param_int(p, "videos"), r = (uint64_t)n->replica, R = (uint64_t)n->replicas;
  if (R == 0) R = 1;
  st->bounded = videos > 0;
  st->count = videos > r ? (videos - r + R - 1) / R : 0;
  n->progress_unit = "records";
  n->progress_total = st->count;
  n->progress_done = 0;
  return YT_OK;
}

static int synth_run(yt_node *n, yt_err *err) {
  synth_state *st = n->state;
  if (yt_node_stopping(n) || (st->bounded && st->next >= st->count)) return YT_EOF;

  yt_records_builder b;
  yt_records_builder_init(&b, 0, st->shard_name);
  int rc = YT_OK;
  for (size_t j = 0; j < st->per_message && !(st->bounded && st->next >= st->count); j++) {
    uint64_t index = (uint64_t)n->replica + (uint64_t)(n->replicas > 0 ? n->replicas : 1) * st->next;
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = yt_synth_video_make(st->gen, st->split, index, &st->video, err);
    if (rc == YT_OK) rc = yt_synth_encode(&st->video, st->frame_level, st->labels, &buf, &len, err);
    if (rc == YT_OK) rc = yt_records_add(&b, index, buf, len, err);
    free(buf);
    if (rc < 0) {
      yt_err_prefix(err, "%s: video %llu: ", st->shard_name, (unsigned long long)index);
      break;
    }
    st->next++;
  }
  if (rc == YT_OK) {
    yt_msg m;
    yt_msg_init(&m, YT_MSG_DATA);
    rc = yt_records_to_msg(&b, &m, err);
    if (rc == YT_OK) rc = yt_node_emit(n, 0, &m, err);
    yt_msg_clear(&m);
  }
  yt_records_builder_free(&b);
  if (rc < 0) return rc;
  n->progress_done = st->next;
  return st->bounded && st->next >= st->count ? YT_EOF : YT_OK;
}

static void synth_fini(yt_node *n) {
  synth_state *st = n->state;
  if (!st) return;
  yt_synth_video_free(&st->video);
  yt_synth_free(st->gen);
  st->gen = NULL;
}

const yt_node_def yt_node_synth_source = {
    .name = "synth_source",
    .summary = "synthetic YouTube-8M records (the gen generator) made in memory, no disk",
    .n_inputs = 0,
    .outputs = {{"out", "records", "serialized Example / SequenceExample records, shard \"synth-SPLIT\""}},
    .n_outputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(synth_state),
    .init = synth_init,
    .run = synth_run,
    .fini = synth_fini,
};
