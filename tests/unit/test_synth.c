/* test_synth: the generator as a library: determinism by (seed, split,
 * index), the records it encodes decode back (through the same reader the
 * training path uses) with means consistent with the frames, labels in range
 * and long-tailed, the test split without labels, the oracle; and GAP on a
 * hand-computed case. */
#include <math.h>

#include "check.h"
#include "formats/synth.h"
#include "formats/yt8m.h"
#include "model/gap.h"

static void gap_by_hand(void) {
  /* A: scores (0.9, 0.1, 0.5), label 0; B: (0.2, 0.8, 0.3), label 2; top 2.
   * Pooled: 0.9+ 0.8- 0.5- 0.3+  ->  AP = (1/1 + 2/4) / 2 = 0.75 */
  yt_gap g;
  yt_err err;
  yt_gap_init(&g, 2);
  const float a[] = {0.9f, 0.1f, 0.5f}, b[] = {0.2f, 0.8f, 0.3f};
  int la[] = {0}, lb[] = {2};
  yt_gap_add(&g, a, 3, la, 1, &err);
  yt_gap_add(&g, b, 3, lb, 1, &err);
  CHECK(fabs(yt_gap_value(&g) - 0.75) < 1e-12, "GAP %.6f", yt_gap_value(&g));
  /* a positive outside the top k still counts in the denominator */
  int lc[] = {1, 2};
  yt_gap_add(&g, a, 3, lc, 2, &err); /* top2 of a: 0 (neg), 2 (pos) */
  /* pooled: 0.9+ 0.9- 0.8- 0.5- 0.5+ 0.3+ ; positives 4 */
  double got = yt_gap_value(&g);
  CHECK(got > 0.4 && got < 0.75, "GAP with missed positives %.6f", got);
  yt_gap_free(&g);
}

int main(void) {
  yt_synth_params p;
  yt_synth_defaults(&p);
  p.classes = 200;
  p.seed = 42;
  p.min_frames = 10;
  p.max_frames = 320;
  yt_err err = {0};
  yt_synth *g1, *g2, *g3;
  CHECK(yt_synth_new(&g1, &p, &err) == YT_OK, "%s", err.msg);
  CHECK(yt_synth_new(&g2, &p, &err) == YT_OK, "%s", err.msg);
  p.seed = 43;
  CHECK(yt_synth_new(&g3, &p, &err) == YT_OK, "%s", err.msg);
  yt_synth_video a = {0}, b = {0};
  yt_schema fs, vs;
  yt_schema_init(&fs, YT_LEVEL_FRAME, NULL, NULL, &err);
  yt_schema_init(&vs, YT_LEVEL_VIDEO, NULL, NULL, &err);
  fs.num_classes = vs.num_classes = 200;
  yt_record r = {0};
  float *deq = malloc(sizeof(float) * 300 * 1152);
  long labels = 0, frequent = 0;
  int ids_ok = 1;
  for (int i = 0; i < 60; i++) {
    /* generate out of order: index 59 - i with the second generator */
    yt_synth_video_make(g1, "train", (uint64_t)i, &a, &err);
    yt_synth_video_make(g2, "train", (uint64_t)i, &b, &err);
    CHECK(a.n_frames == b.n_frames && !memcmp(a.frames, b.frames, (size_t)a.n_frames * 1152) &&
              a.n_labels == b.n_labels && !strcmp(a.id, b.id), "video %d not deterministic", i);
    yt_synth_video_make(g3, "train", (uint64_t)i, &b, &err);
    CHECK(b.n_frames != a.n_frames || memcmp(a.frames, b.frames, 1152), "seed 43 gave the same video %d", i);
    yt_synth_video_make(g1, "validate", (uint64_t)i, &b, &err);
    ids_ok &= strcmp(a.id, b.id) != 0 && strlen(a.id) == 4;
    CHECK(a.n_frames >= 10 && a.n_frames <= 320, "frames %d", a.n_frames);
    for (int k = 0; k < a.n_labels; k++) {
      CHECK(a.labels[k] >= 0 && a.labels[k] < 200 && (k == 0 || a.labels[k] > a.labels[k - 1]), "labels sorted, unique, in range");
      frequent += a.labels[k] < 20;
    }
    labels += a.n_labels;
    /* encode, decode with the reader, compare */
    uint8_t *buf;
    size_t len;
    CHECK(yt_synth_encode(&a, true, true, &buf, &len, &err) == YT_OK, "%s", err.msg);
    int rc = yt_record_decode(&r, &fs, buf, len, &err);
    CHECK(rc == YT_OK, "decode: %s", err.msg);
    if (rc == YT_OK) {
      CHECK(r.total_frames == a.n_frames && r.num_frames == (a.n_frames < 300 ? a.n_frames : 300), "frame counts");
      CHECK(r.n_labels == (size_t)a.n_labels, "label count");
      yt_record_dequantize(&r, &fs, deq);
      CHECK(r.num_frames == 0 || !memcmp(r.rows[0], a.frames, 1024), "first frame bytes");
      if (a.n_frames <= 300) { /* the stored mean is the mean of the dequantized frames */
        double worst = 0;
        for (int d = 0; d < 1152; d += 7) {
          double s = 0;
          for (int t = 0; t < r.num_frames; t++) s += deq[(size_t)t * 1152 + d];
          worst = fmax(worst, fabs(s / r.num_frames - a.mean[d]));
        }
        CHECK(worst < 1e-5, "mean vs frames: %g", worst);
      }
    }
    free(buf);
    CHECK(yt_synth_encode(&a, false, false, &buf, &len, &err) == YT_OK, "%s", err.msg);
    rc = yt_record_decode(&r, &vs, buf, len, &err);
    CHECK(rc == YT_OK && r.n_labels == 0 && !memcmp(r.video, a.mean, sizeof a.mean), "video level, no labels: %s", err.msg);
    free(buf);
  }
  CHECK(ids_ok, "ids: 4 characters, different across splits");
  double per = labels / 60.0;
  CHECK(per > 2.0 && per < 4.5, "labels per video %.2f", per);
  CHECK(frequent > labels / 4, "long tail: %ld of %ld labels in the top 10%% classes", frequent, labels);
  /* oracle: frame matching finds the planted classes */
  float *fsc = malloc(sizeof(float) * 400);
  yt_gap gf, gm;
  yt_gap_init(&gf, 20);
  yt_gap_init(&gm, 20);
  for (int i = 0; i < 40; i++) {
    yt_synth_video_make(g1, "train", (uint64_t)i, &a, &err);
    yt_synth_oracle(g1, &a, fsc, fsc + 200, &err);
    yt_gap_add(&gf, fsc, 200, a.labels, a.n_labels, &err);
    yt_gap_add(&gm, fsc + 200, 200, a.labels, a.n_labels, &err);
  }
  double of = yt_gap_value(&gf), om = yt_gap_value(&gm);
  printf("oracle GAP on 40 videos: frames %.4f, mean pooling %.4f\n", of, om);
  CHECK(of > 0.9, "frame oracle GAP %.4f", of);
  CHECK(om < of, "mean pooling oracle %.4f should trail the frame oracle %.4f", om, of);
  yt_synth_free(g3);
  p.classes = 0;
  CHECK(yt_synth_new(&g3, &p, &err) == YT_EUSAGE && g3 == NULL, "classes 0 accepted");
  yt_gap_free(&gf);
  yt_gap_free(&gm);
  free(fsc);
  free(deq);
  yt_record_free(&r);
  yt_synth_video_free(&a);
  yt_synth_video_free(&b);
  yt_synth_free(g1);
  yt_synth_free(g2);
  gap_by_hand();
  return check_report("test_synth");
}
