/* ensemble.c: `yt8m-flow ensemble A.tgz B.tgz ... [--weights w1,w2,...] -o OUT.tgz`:
 * several bundles as one (REFERENCE.md 6.4, graph_ensemble.py): `infer` runs
 * OUT.tgz as a single model whose predictions are sum_i w_i p_i.
 *
 * Layout: model_flags.json (the first member's, as graph_ensemble.py copies
 * the last one's: eval and infer read the features from it), ensemble.json
 * {"weights": [...], "members": ["member0.safetensors", ...]}, and each
 * member's inference_model.safetensors as memberI.safetensors, byte for byte
 * (a quantized member stays quantized: quantize before ensembling). The
 * members must take the same input: level, features and max_frames. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "cli.h"
#include "formats/safetensors.h"
#include "formats/tgz.h"
#include "model/checkpoint.h"
#include "model/ensemble.h"
#include "model/model.h"

#define MAX_MEMBERS 8

static void usage(FILE *f) {
  fprintf(f, "usage: yt8m-flow ensemble A.tgz B.tgz [...] [--weights W1,W2,...] -o OUT.tgz\n"
             "  One bundle from several made by `yt8m-flow bundle` (or quantize): infer runs OUT.tgz\n"
             "  as one model that outputs the weighted mean of the members' probabilities.\n"
             "  --weights  one per member, >= 0, summing to 1 (default: equal)\n");
}

int cmd_ensemble(int argc, char **argv) {
  const char *out = NULL, *weights = NULL;
  static const struct option opts[] = {
      {"output", required_argument, 0, 'o'}, {"weights", required_argument, 0, 'w'}, {"help", no_argument, 0, 'h'}, {0}};
  int c;
  while ((c = getopt_long(argc, argv, "o:w:h", opts, NULL)) != -1) {
    if (c == 'o') out = optarg;
    else if (c == 'w') weights = optarg;
    else if (c == 'h') return usage(stdout), 0;
    else return usage(stderr), 2;
  }
  int n = argc - optind;
  if (n < 2 || !out) {
    cli_error("ensemble", "expected at least two bundles and -o OUT.tgz");
    usage(stderr);
    return 2;
  }
  if (n > MAX_MEMBERS) {
    cli_error("ensemble", "%d members: at most %d", n, MAX_MEMBERS);
    return 2;
  }
  double w[MAX_MEMBERS];
  yt_err err = {0};
  if (yt_ensemble_weights(weights ? weights : "", n, "members", w, &err) < 0) {
    cli_error("ensemble", "%s", err.msg);
    return 2;
  }
  yt_tgz *t[MAX_MEMBERS] = {0};
  yt_model_config cfg0;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    const char *path = argv[optind + i];
    yt_st_file *f = NULL;
    yt_model_config cfg;
    if ((rc = yt_tgz_read(&t[i], path, &err)) < 0) break;
    const yt_tgz_entry *e = yt_tgz_find(t[i], "inference_model.safetensors");
    if (!e) {
      rc = yt_fail(&err, YT_EINVAL, "%s: no inference_model.safetensors (%s)", path,
                   yt_tgz_find(t[i], "ensemble.json") ? "an ensemble itself: list its members instead"
                                                       : "make bundles with yt8m-flow bundle");
      break;
    }
    char name[4200];
    snprintf(name, sizeof name, "%s:inference_model.safetensors", path);
    if ((rc = yt_st_open_mem(&f, e->data, e->len, name, &err)) < 0) break;
    rc = yt_ckpt_config(f, &cfg, &err);
    yt_st_close(f);
    if (rc < 0) break;
    if (i == 0) cfg0 = cfg;
    else if (!yt_model_same_input(&cfg, &cfg0))
      rc = yt_fail(&err, YT_EINVAL,
                   "%s (%s: %s, %d features, %d classes, max_frames %d) does not take the input of %s (%s: %s, "
                   "%d features, %d classes, max_frames %d): members must share level, features, classes and "
                   "max_frames",
                   path, cfg.model, cfg.frame_features ? "frame" : "video", cfg.feature_dim, cfg.num_classes,
                   cfg.max_frames, argv[optind], cfg0.model, cfg0.frame_features ? "frame" : "video",
                   cfg0.feature_dim, cfg0.num_classes, cfg0.max_frames);
  }
  yt_tgz_writer *tw = NULL;
  if (!rc) rc = yt_tgz_writer_open(&tw, out, &err);
  const yt_tgz_entry *flags = rc ? NULL : yt_tgz_find(t[0], "model_flags.json");
  if (!rc && !flags) rc = yt_fail(&err, YT_EINVAL, "%s: no model_flags.json", argv[optind]);
  if (!rc) rc = yt_tgz_writer_add(tw, "model_flags.json", flags->data, flags->len, &err);
  cJSON *j = cJSON_CreateObject(), *jw = cJSON_AddArrayToObject(j, "weights"),
        *jm = cJSON_AddArrayToObject(j, "members");
  for (int i = 0; i < n && !rc; i++) {
    char name[64];
    snprintf(name, sizeof name, "member%d.safetensors", i);
    const yt_tgz_entry *e = yt_tgz_find(t[i], "inference_model.safetensors");
    rc = yt_tgz_writer_add(tw, name, e->data, e->len, &err);
    cJSON_AddItemToArray(jw, cJSON_CreateNumber(w[i]));
    cJSON_AddItemToArray(jm, cJSON_CreateString(name));
  }
  char *text = cJSON_Print(j);
  cJSON_Delete(j);
  if (!rc) rc = text ? yt_tgz_writer_add(tw, "ensemble.json", text, strlen(text), &err)
                     : yt_fail(&err, YT_ENOMEM, "out of memory");
  free(text);
  if (!rc) rc = yt_tgz_writer_close(tw, &err);
  else if (tw) yt_tgz_writer_abort(tw);
  for (int i = 0; i < n; i++) yt_tgz_free(t[i]);
  if (rc < 0) {
    cli_error("ensemble", "%s", err.msg);
    return 1;
  }
  printf("ensemble: %s: %d members (", out, n);
  for (int i = 0; i < n; i++) printf("%s%s %.4g", i ? ", " : "", argv[optind + i], w[i]);
  printf(")\n");
  return 0;
}
