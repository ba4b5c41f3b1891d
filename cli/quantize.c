/* quantize.c: `yt8m-flow quantize BUNDLE -o OUT.tgz`: the bundle with its large
 * weights in 8 bits, as the 2018 winner's quantize.py --transform_type
 * quant_uniform (REFERENCE.md 6.3): every float32 tensor of more than
 * --min-elements values (17000, strict) becomes NAME_quants (uint8, NAME's
 * shape) + NAME_space (float32 [256], linspace(min, max)); the rest, biases and
 * batch-norm statistics among them, stays float32 (model/quantize.h). OUT has
 * the layout of a bundle: infer (input_model_tgz) expands the weights at load.
 * A bundle quantized before is accepted: its pairs pass through and only what
 * is still float and large enough is quantized. Not here: the math
 * (nodes/model/quantize.c), making the float bundle (cli/bundle.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "formats/safetensors.h"
#include "formats/tgz.h"
#include "model/quantize.h"

#define WEIGHTS "inference_model.safetensors"

static void usage(FILE *f) {
  fprintf(f,
          "usage: yt8m-flow quantize BUNDLE -o OUT.tgz [--min-elements N]\n"
          "  Writes OUT.tgz, BUNDLE (made by `yt8m-flow bundle`) with every float32 tensor of more than N\n"
          "  values (default %d) stored as 8-bit indices into a 256-entry codebook linspace(min, max):\n"
          "  NAME_quants (uint8) + NAME_space (float32 [256]). Smaller tensors stay float32. `infer` runs\n"
          "  OUT.tgz as any bundle (input_model_tgz = OUT.tgz); the error per weight is at most\n"
          "  (max - min) / 510. A quantized BUNDLE is accepted: what is quantized already passes through.\n",
          YT_QUANT_MIN_ELEMENTS);
}

static void shape_str(char *s, size_t cap, const yt_st_tensor *t) {
  size_t k = (size_t)snprintf(s, cap, "[");
  for (int d = 0; d < t->rank && k < cap; d++)
    k += (size_t)snprintf(s + k, cap - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
  if (k < cap) snprintf(s + k, cap - k, "]");
}

/* The bundle's weights, opened from the archive in memory; errors say what a bundle is. */
static int open_bundle(const char *path, yt_tgz **t, yt_st_file **f) {
  struct stat st;
  if (stat(path, &st) != 0) {
    cli_error("quantize", "%s: no such file", path);
    return 1;
  }
  if (S_ISDIR(st.st_mode)) {
    cli_error("quantize",
              "%s is a directory, not a bundle: make one with `yt8m-flow bundle %s -o model.tgz` and "
              "quantize model.tgz",
              path, path);
    return 1;
  }
  yt_err err = {0};
  if (yt_tgz_read(t, path, &err) < 0) {
    cli_error("quantize", "%s is not a bundle (a .tgz made by `yt8m-flow bundle TRAIN_DIR -o OUT.tgz`): %s",
              path, err.msg);
    return 1;
  }
  const yt_tgz_entry *e = yt_tgz_find(*t, WEIGHTS);
  if (!e || !yt_tgz_find(*t, "model_flags.json")) {
    cli_error("quantize",
              "%s: no %s inside: not a model bundle; make one with `yt8m-flow bundle TRAIN_DIR -o "
              "OUT.tgz`",
              path, e ? "model_flags.json" : WEIGHTS);
    return 1;
  }
  char name[4200];
  snprintf(name, sizeof name, "%s:" WEIGHTS, path);
  if (yt_st_open_mem(f, e->data, e->len, name, &err) < 0) {
    cli_error("quantize", "%s", err.msg);
    return 1;
  }
  return 0;
}

int cmd_quantize(int argc, char **argv) {
  const char *out = NULL;
  long min_elements = YT_QUANT_MIN_ELEMENTS;
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                       {"min-elements", required_argument, 0, 'm'},
                                       {"help", no_argument, 0, 'h'},
                                       {0}};
  int c;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    if (c == 'o')
      out = optarg;
    else if (c == 'm') {
      if (cli_long("quantize", "--min-elements", optarg, 0, 2147483647L, &min_elements) < 0) return 2;
    } else if (c == 'h')
      return usage(stdout), 0;
    else
      return usage(stderr), 2;
  }
  if (optind != argc - 1 || !out) {
    cli_error("quantize", "expected BUNDLE and -o OUT.tgz");
    usage(stderr);
    return 2;
  }
  const char *in = argv[optind];
  yt_tgz *t = NULL;
  yt_st_file *f = NULL;
  if (open_bundle(in, &t, &f)) {
    yt_tgz_free(t);
    return 1;
  }
  /* the quantized weights go to a scratch file beside OUT, then into the archive in the input's entry order
   */
  char scratch[4200];
  snprintf(scratch, sizeof scratch, "%s.q%ld.safetensors", out, (long)getpid());
  yt_err err = {0};
  yt_quant_report rep;
  int rc = yt_quant_file(f, scratch, (size_t)min_elements, &rep, &err);
  yt_tgz_writer *w = NULL;
  if (!rc) rc = yt_tgz_writer_open(&w, out, &err);
  for (size_t i = 0; !rc && i < t->n; i++) {
    const yt_tgz_entry *e = &t->entry[i];
    rc = strcmp(e->name, WEIGHTS) ? yt_tgz_writer_add(w, e->name, e->data, e->len, &err)
                                  : yt_tgz_writer_add_file(w, WEIGHTS, scratch, &err);
  }
  if (!rc)
    rc = yt_tgz_writer_close(w, &err);
  else if (w)
    yt_tgz_writer_abort(w);
  struct stat sw = {0}, so = {0}, si = {0};
  stat(scratch, &sw);
  remove(scratch);
  if (rc < 0) {
    cli_error("quantize", "%s", err.msg);
    yt_quant_report_free(&rep);
    yt_st_close(f);
    yt_tgz_free(t);
    return 1;
  }
  /* the summary: one line per quantized tensor, then the totals */
  const yt_quant_item *worst = NULL;
  for (size_t i = 0; i < rep.n_quantized; i++) {
    const yt_quant_item *it = &rep.items[i];
    const yt_st_tensor *st = yt_st_find(f, it->name);
    char s[128];
    shape_str(s, sizeof s, st);
    printf("quantize: %s %s: %zu floats -> uint8 over [%.6g, %.6g], max error %.3g (bound (max-min)/510 = "
           "%.3g)\n",
           it->name, s, it->numel, (double)it->lo, (double)it->hi, it->max_err,
           ((double)it->hi - it->lo) / 510.0);
    if (!worst || it->max_err > worst->max_err) worst = it;
  }
  const yt_tgz_entry *e = yt_tgz_find(t, WEIGHTS);
  stat(in, &si);
  stat(out, &so);
  printf(
      "quantize: %zu of %zu tensors quantized (%zu floats), %zu already quantized passed through, the rest "
      "float32 (--min-elements %ld)\n",
      rep.n_quantized, rep.n_tensors, rep.floats_quantized, rep.n_already, min_elements);
  printf("quantize: " WEIGHTS " %zu -> %lld bytes\n", e->len, (long long)sw.st_size);
  if (worst)
    printf("quantize: worst max error %.3g (%s)\n", worst->max_err, worst->name);
  else
    printf("quantize: nothing to quantize: no float32 tensor has more than %ld values\n", min_elements);
  printf("quantize: %s %lld -> %s %lld bytes, ratio %.4f (%.1f%% of the float bundle)\n", in,
         (long long)si.st_size, out, (long long)so.st_size,
         si.st_size ? (double)so.st_size / si.st_size : 0.0,
         si.st_size ? 100.0 * so.st_size / si.st_size : 0.0);
  yt_quant_report_free(&rep);
  yt_st_close(f);
  yt_tgz_free(t);
  return 0;
}
