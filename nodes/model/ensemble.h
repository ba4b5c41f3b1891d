/* ensemble.h: what the two forms of an ensemble share (REFERENCE.md 6.4):
 * the `ensemble` node (nodes/ensemble.c) and `yt8m-flow ensemble` bundles
 * (cli/ensemble.c, run by infer). */
#ifndef YT_MODEL_ENSEMBLE_H
#define YT_MODEL_ENSEMBLE_H

#include <stdbool.h>

#include "model/model.h"

/* w[n] from text: n comma-separated numbers >= 0 summing to 1 within 1e-4
 * (graph_ensemble.py's check), or equal weights for "". what names the n
 * things weighed in messages ("members", "connected inputs"). YT_EUSAGE. */
int yt_ensemble_weights(const char *text, int n, const char *what, double *w, yt_err *err);
/* Whether two models take the same input batches: level, features, classes,
 * and max_frames at frame level. */
bool yt_model_same_input(const yt_model_config *a, const yt_model_config *b);

#endif
