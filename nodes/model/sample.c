/* sample.c: frame sampling of the frame-level models that see a fixed number
 * of frames per video (DbofModel, NetVLADModelLF; REFERENCE.md 2.6). Host-side
 * index work only: the gather of the sampled rows is a layer
 * (yt_gather_frames, vlad.h), so that a GPU twin can do it on the device. */
#include "model/model_impl.h"

/* SampleRandomFrames (idx = int(U n)), or SampleRandomSequence
 * (start = int(U (max(n - S, 0) + 1)), idx = min(start + t, n - 1)); with
 * sample_all in eval (random-frames path), slot t < n takes frame t. A video
 * with 0 frames reads its (zero) frame 0. */
void yt_model_sample_frames(yt_model *m, int32_t *idx, const int32_t *num_frames, int B, int S,
                            int training) {
  for (int b = 0; b < B; b++) {
    int n = num_frames[b];
    int32_t *ix = idx + (size_t)b * S;
    if (m->cfg.sample_random_frames) {
      for (int t = 0; t < S; t++) {
        int k = (int)(yt_model_uniform(m) * (float)n);
        ix[t] = k >= n ? (n > 0 ? n - 1 : 0) : k;
      }
      if (m->cfg.sample_all && !training)
        for (int t = 0; t < S && t < n; t++) ix[t] = t;
    } else {
      int span = (n - S > 0 ? n - S : 0) + 1;
      int start = (int)(yt_model_uniform(m) * (float)span);
      if (start >= span) start = span - 1;
      for (int t = 0; t < S; t++) {
        int k = start + t < n - 1 ? start + t : n - 1;
        ix[t] = k < 0 ? 0 : k;
      }
    }
  }
}
