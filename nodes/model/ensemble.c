/* ensemble.c: see ensemble.h. */
#include "model/ensemble.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int yt_ensemble_weights(const char *text, int n, const char *what, double *w, yt_err *err) {
  for (int i = 0; i < n; i++) w[i] = 1.0 / n;
  if (!*text) return YT_OK;
  char *copy = strdup(text), *save = NULL;
  if (!copy) return yt_fail(err, YT_ENOMEM, "out of memory");
  int k = 0, rc = YT_OK;
  double sum = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok && rc == YT_OK; tok = strtok_r(NULL, ",", &save), k++) {
    char *end;
    double v = strtod(tok, &end);
    while (*end == ' ') end++;
    if (end == tok || *end || !(v >= 0) || !isfinite(v))
      rc = yt_fail(err, YT_EUSAGE, "weight %d '%s' is not a number >= 0", k + 1, tok);
    else if (k < n)
      w[k] = v;
    sum += v;
  }
  free(copy);
  if (rc < 0) return rc;
  if (k != n) return yt_fail(err, YT_EUSAGE, "%d weights for %d %s: give one for each, in order", k, n, what);
  if (fabs(sum - 1) >= 1e-4)
    return yt_fail(err, YT_EUSAGE, "the weights sum to %g, not 1 (a weighted mean: |sum - 1| < 1e-4)", sum);
  return YT_OK;
}

bool yt_model_same_input(const yt_model_config *a, const yt_model_config *b) {
  return a->frame_features == b->frame_features && a->feature_dim == b->feature_dim &&
         a->num_classes == b->num_classes && (!a->frame_features || a->max_frames == b->max_frames);
}
