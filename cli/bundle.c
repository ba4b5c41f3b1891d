/* bundle.c: `yt8m-flow bundle TRAIN_DIR -o model.tgz`: the model a train dir
 * holds as one file to hand around or upload (the starter code's
 * --output_model_tgz): a gzip tar with flat entries model_flags.json and
 * inference_model.safetensors (the latest checkpoint's weights and moving
 * statistics, without the Adam state or EMA shadows). With --use-ema the
 * weights are the checkpoint's EMA shadows (NAME/ExponentialMovingAverage,
 * train's ema_halflife), as eval.py --use_EMA exports them (REFERENCE.md
 * 6.1). `infer` loads it with input_model_tgz. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "formats/safetensors.h"
#include "formats/tgz.h"
#include "model/checkpoint.h"
#include "model/model.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: yt8m-flow bundle TRAIN_DIR -o OUT.tgz [--use-ema]\n"
          "  Packs TRAIN_DIR's model_flags.json and its latest checkpoint's weights (no optimizer\n"
          "  state) into OUT.tgz, which `infer` runs with input_model_tgz = OUT.tgz.\n"
          "  --use-ema  the weights are the checkpoint's EMA shadows (train with ema_halflife > 0)\n");
}

int cmd_bundle(int argc, char **argv) {
  const char *out = NULL;
  int use_ema = 0;
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                       {"use-ema", no_argument, 0, 'e'},
                                       {"help", no_argument, 0, 'h'},
                                       {0}};
  int c;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    if (c == 'o') out = optarg;
    else if (c == 'e') use_ema = 1;
    else if (c == 'h') return usage(stdout), 0;
    else return usage(stderr), 2;
  }
  if (optind != argc - 1 || !out) {
    cli_error("bundle", "expected TRAIN_DIR and -o OUT.tgz");
    usage(stderr);
    return 2;
  }
  const char *dir = argv[optind];
  yt_err err = {0};
  char ckpt[4096], flags[4096];
  int64_t step;
  int rc = yt_ckpt_latest(dir, ckpt, sizeof ckpt, &step, &err);
  if (rc == YT_EOF) {
    cli_error("bundle", "%s: no checkpoint (model.ckpt-N.safetensors): train first", dir);
    return 1;
  }
  snprintf(flags, sizeof flags, "%s/model_flags.json", dir);
  struct stat st;
  if (stat(flags, &st) != 0) {
    cli_error("bundle", "%s: missing (every train dir has one)", flags);
    return 1;
  }
  /* weights only: the model's own tensors, Adam slots left out */
  yt_st_file *f = NULL;
  yt_model *m = NULL;
  yt_model_config cfg;
  rc = yt_st_open(&f, ckpt, &err);
  if (!rc) rc = yt_ckpt_config(f, &cfg, &err);
  if (!rc) rc = yt_model_new(&m, &cfg, 1, &err);
  int64_t s2;
  if (!rc) rc = yt_ckpt_load(f, m, NULL, &s2, &err);
  if (!rc && use_ema) { /* each shadow into the weight it shadows */
    rc = yt_ckpt_load_ema(f, m, yt_model_params(m), &err);
    if (rc == YT_EOF)
      rc = yt_fail(&err, YT_EINVAL, "%s holds no EMA shadows (NAME/ExponentialMovingAverage): train with "
                   "ema_halflife > 0, or bundle without --use-ema", ckpt);
    yt_model_params_changed(m);
  }
  char path[4096];
  if (!rc) {
    /* yt_ckpt_save names the file itself: write into a scratch dir beside OUT */
    char scratch[4200];
    snprintf(scratch, sizeof scratch, "%s.d%ld", out, (long)getpid());
    const char *names = yt_st_meta(f, "feature_names"), *sizes = yt_st_meta(f, "feature_sizes");
    rc = yt_ckpt_save(scratch, m, NULL, NULL, step, names, sizes, path, sizeof path, &err);
    yt_tgz_writer *w = NULL;
    if (!rc) rc = yt_tgz_writer_open(&w, out, &err);
    if (!rc) rc = yt_tgz_writer_add_file(w, "model_flags.json", flags, &err);
    if (!rc) rc = yt_tgz_writer_add_file(w, "inference_model.safetensors", path, &err);
    if (!rc) rc = yt_tgz_writer_close(w, &err);
    else if (w) yt_tgz_writer_abort(w);
    remove(path);
    rmdir(scratch);
  }
  yt_model_free(m);
  yt_st_close(f);
  if (rc < 0) {
    cli_error("bundle", "%s", err.msg);
    return 1;
  }
  stat(out, &st);
  printf("bundle: %s (%s, global step %" PRId64 ", %.1f MB) from %s%s\n", out, cfg.model, step, st.st_size / 1e6,
         ckpt, use_ema ? " (EMA shadows as the weights)" : "");
  return 0;
}
