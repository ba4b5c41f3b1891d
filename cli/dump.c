/* dump.c: `yt8m-flow dump [--format text|jsonl] [--max-frames N] FILE...`
 *
 * One line per record, for people (text) and for tools (jsonl). Works on any
 * Example or SequenceExample: every float feature of the context is listed
 * with its size and sum; every feature list with its per-frame size and the
 * sum of its dequantized kept frames; id, labels and the v3 segment keys as
 * values. A damaged file stops with a message naming the file, the byte
 * offset and the reason, after the good records before it; the exit code is
 * then 1. This is a viewer, not the training reader (that is the schema-driven
 * yt_record_decode in nodes/formats/yt8m.c). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/example.h"
#include "formats/tfrecord.h"
#include "formats/yt8m.h"

typedef struct {
  int jsonl;
  long max_frames;
  long classes;
  float *rowbuf;
  size_t rowcap;
} dump_opts;

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static int is_segment_key(yt_bytes k) {
  return k.n > 8 && memcmp(k.p, "segment_", 8) == 0;
}

/* Sum of a float feature's values, in double. */
static int float_sum(const yt_feature *f, double *sum, size_t *n, yt_err *err) {
  int rc = yt_feature_floats(f, NULL, 0, n, err);
  if (rc < 0) return rc;
  float *v = malloc((*n ? *n : 1) * sizeof *v);
  if (!v) return yt_fail(err, YT_ENOMEM, "out of memory");
  size_t m;
  yt_feature_floats(f, v, *n, &m, err);
  double s = 0;
  for (size_t i = 0; i < m; i++) s += v[i];
  free(v);
  *sum = s;
  return YT_OK;
}

static void print_key(FILE *o, yt_bytes k) { cli_json_string(o, (const char *)k.p, k.n); }

static void print_i64s(FILE *o, const yt_feature *f) {
  size_t n;
  yt_err e;
  yt_feature_int64s(f, NULL, 0, &n, &e);
  int64_t *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return;
  yt_feature_int64s(f, v, n, &n, &e);
  fputc('[', o);
  for (size_t i = 0; i < n; i++) fprintf(o, "%s%lld", i ? "," : "", (long long)v[i]);
  fputc(']', o);
  free(v);
}

static void print_floats(FILE *o, const yt_feature *f) {
  size_t n;
  yt_err e;
  yt_feature_floats(f, NULL, 0, &n, &e);
  float *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return;
  yt_feature_floats(f, v, n, &n, &e);
  fputc('[', o);
  for (size_t i = 0; i < n; i++) fprintf(o, "%s%.9g", i ? "," : "", (double)v[i]);
  fputc(']', o);
  free(v);
}

/* Frame list: per-frame size (all frames must agree) and dequantized sum of the kept frames. */
static int list_stats(dump_opts *o, const yt_example *ex, const yt_feature_list *l, long *size,
                      double *sum, yt_err *err) {
  *size = -1;
  *sum = 0;
  for (size_t t = 0; t < l->count; t++) {
    yt_bytes v = {NULL, 0};
    size_t nv;
    int rc = yt_feature_bytes(&ex->frames[l->first + t], 0, &v, &nv, err);
    if (rc < 0) { yt_err_prefix(err, "feature list '%.*s' frame %zu ", (int)l->key.n, l->key.p, t); return rc; }
    if (nv != 1)
      return yt_fail(err, YT_EINVAL, "feature list '%.*s' frame %zu has %zu byte strings, expected 1",
                     (int)l->key.n, l->key.p, t, nv);
    if (*size >= 0 && (long)v.n != *size)
      return yt_fail(err, YT_EINVAL, "feature list '%.*s' frame %zu has %zu bytes, frame 0 has %ld",
                     (int)l->key.n, l->key.p, t, v.n, *size);
    *size = (long)v.n;
    if ((long)t >= o->max_frames) continue;
    if (v.n > o->rowcap) {
      free(o->rowbuf);
      o->rowbuf = malloc(v.n * sizeof(float));
      o->rowcap = o->rowbuf ? v.n : 0;
      if (!o->rowbuf) return yt_fail(err, YT_ENOMEM, "out of memory");
    }
    yt_dequantize(o->rowbuf, v.p, v.n);
    double s = 0;
    for (size_t i = 0; i < v.n; i++) s += o->rowbuf[i];
    *sum += s;
  }
  if (*size < 0) *size = 0;
  return YT_OK;
}

static int dump_record(dump_opts *o, const char *file, const yt_tfr_record *rec, yt_example *ex,
                       yt_err *err) {
  int rc = yt_example_parse(ex, rec->data, rec->len, err);
  if (rc < 0) return rc;
  /* id and labels are validated as the training reader does */
  const yt_feature *idf = yt_example_find(ex, "id");
  if (!idf) idf = yt_example_find(ex, "video_id");
  yt_bytes id = {(const uint8_t *)"", 0};
  size_t nid = 0;
  if (idf && (rc = yt_feature_bytes(idf, 0, &id, &nid, err)) < 0) return rc;
  if (!idf || nid != 1) {
    char keys[256];
    yt_example_keys(ex, 0, keys, sizeof keys);
    return yt_fail(err, YT_EINVAL, "no usable 'id' feature (a bytes_list of 1 value); keys present: %s", keys);
  }
  const yt_feature *lab = yt_example_find(ex, "labels");
  if (lab) {
    size_t n;
    if ((rc = yt_feature_int64s(lab, NULL, 0, &n, err)) < 0) { yt_err_prefix(err, "feature 'labels' "); return rc; }
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return yt_fail(err, YT_ENOMEM, "out of memory");
    yt_feature_int64s(lab, v, n, &n, err);
    for (size_t i = 0; i < n; i++)
      if (o->classes > 0 && (v[i] < 0 || v[i] >= o->classes)) {
        long long bad = (long long)v[i];
        free(v);
        return yt_fail(err, YT_EINVAL, "feature 'labels' value %lld is outside [0, %ld) (use --classes N for another vocabulary)", bad, o->classes);
      }
    free(v);
  }
  /* frame count: the 'rgb' list, else the first list, as the readers count it */
  const yt_feature_list *first = yt_example_find_list(ex, "rgb");
  if (!first && ex->n_lists) first = &ex->lists[0];
  long num_frames = first ? (long)first->count : 1;

  FILE *out = stdout;
  if (o->jsonl) {
    fputs("{\"file\":", out);
    cli_json_string(out, file, strlen(file));
    fprintf(out, ",\"index\":%llu,\"offset\":%llu,\"id\":", (unsigned long long)rec->index,
            (unsigned long long)rec->offset);
    cli_json_string(out, (const char *)id.p, id.n);
    fputs(",\"labels\":", out);
    if (lab) print_i64s(out, lab); else fputs("[]", out);
    fprintf(out, ",\"num_frames\":%ld,\"features\":{", num_frames);
  } else {
    fprintf(out, "%s #%llu @%llu id=%.*s labels=", base_name(file), (unsigned long long)rec->index,
            (unsigned long long)rec->offset, (int)id.n, (const char *)id.p);
    if (lab) print_i64s(out, lab); else fputs("[]", out);
    fprintf(out, " frames=%ld", num_frames);
  }
  int nf = 0;
  for (size_t i = 0; i < ex->n_ctx; i++) {
    const yt_feature *f = &ex->ctx[i];
    if (f->kind != YT_KIND_FLOAT || is_segment_key(f->key)) continue;
    if (f->key.n == 0) continue; /* an unnamed feature has no name to report it under */
    /* a key repeated in the map: only its last value counts */
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)f->key.n, f->key.p);
    if (yt_example_find(ex, key) != f) continue;
    double sum = 0;
    size_t n = 0;
    if ((rc = float_sum(f, &sum, &n, err)) < 0) { yt_err_prefix(err, "feature '%s' ", key); return rc; }
    if (o->jsonl) {
      fputs(nf++ ? "," : "", out);
      print_key(out, f->key);
      fprintf(out, ":{\"size\":%zu,\"sum\":%.17g}", n, sum);
    } else {
      fprintf(out, " %s[%zu] sum=%.6f", key, n, sum);
    }
  }
  for (size_t i = 0; i < ex->n_lists; i++) {
    const yt_feature_list *l = &ex->lists[i];
    long size;
    double sum;
    if ((rc = list_stats(o, ex, l, &size, &sum, err)) < 0) return rc;
    long kept = (long)l->count < o->max_frames ? (long)l->count : o->max_frames;
    if (o->jsonl) {
      fputs(nf++ ? "," : "", out);
      print_key(out, l->key);
      fprintf(out, ":{\"size\":%ld,\"sum\":%.17g,\"frames\":%zu,\"kept\":%ld}", size, sum, l->count, kept);
    } else {
      fprintf(out, " %.*s[%zux%ld] kept=%ld sum=%.6f", (int)l->key.n, l->key.p, l->count, size, kept, sum);
    }
  }
  if (o->jsonl) fputc('}', out);
  static const char *seg_keys[] = {"segment_labels", "segment_start_times", "segment_end_times", "segment_scores"};
  for (int k = 0; k < 4; k++) {
    const yt_feature *f = yt_example_find(ex, seg_keys[k]);
    if (!f) continue;
    fprintf(out, o->jsonl ? ",\"%s\":" : " %s=", seg_keys[k]);
    if (f->kind == YT_KIND_FLOAT) print_floats(out, f);
    else if (f->kind == YT_KIND_INT64) print_i64s(out, f);
    else fputs("[]", out);
  }
  fputs(o->jsonl ? "}\n" : "\n", out);
  return YT_OK;
}

static int dump_file(dump_opts *o, const char *path) {
  yt_err err = {0};
  yt_tfr_reader *r;
  int rc = yt_tfr_open(&r, path, &err);
  if (rc < 0) { cli_error("dump", "%s", err.msg); return 1; }
  yt_example ex = {0};
  yt_tfr_record rec;
  while ((rc = yt_tfr_next(r, &rec, &err)) == YT_OK) {
    if ((rc = dump_record(o, path, &rec, &ex, &err)) < 0) {
      yt_err_prefix(&err, "%s: byte offset %llu (record %llu): ", path, (unsigned long long)rec.offset,
                    (unsigned long long)rec.index);
      break;
    }
  }
  fflush(stdout);
  if (rc < 0) cli_error("dump", "%s", err.msg);
  yt_example_free(&ex);
  yt_tfr_close(r);
  return rc < 0 ? 1 : 0;
}

static void help(FILE *f) {
  fprintf(f,
          "usage: yt8m-flow dump [--format text|jsonl] [--max-frames N] [--classes K] FILE...\n"
          "  Prints one line per record of each TFRecord file ('-' = standard input;\n"
          "  names ending in .zst are zstd-decompressed).\n"
          "  --format      text (default) or jsonl: {file, index, offset, id, labels,\n"
          "                num_frames, features: {NAME: {size, sum}}, segment_*}\n"
          "  --max-frames  frames kept per feature list for the sums (default 300)\n"
          "  --classes     labels must lie in [0, K) (default 3862; 0 = no check)\n"
          "  Exit status 1 when a file is damaged, after the records before the damage.\n");
}

int cmd_dump(int argc, char **argv) {
  dump_opts o = {.jsonl = 0, .max_frames = YT_MAX_FRAMES, .classes = YT_NUM_CLASSES};
  static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                       {"max-frames", required_argument, 0, 'm'},
                                       {"classes", required_argument, 0, 'c'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "f:m:c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'f':
      if (!strcmp(optarg, "jsonl")) o.jsonl = 1;
      else if (!strcmp(optarg, "text")) o.jsonl = 0;
      else { cli_error("dump", "--format must be text or jsonl, got '%s'", optarg); return 2; }
      break;
    case 'm': if (cli_long("dump", "--max-frames", optarg, 0, 1L << 30, &o.max_frames)) return 2; break;
    case 'c': if (cli_long("dump", "--classes", optarg, 0, 1L << 30, &o.classes)) return 2; break;
    case 'h': help(stdout); return 0;
    default: help(stderr); return 2;
    }
  }
  if (optind >= argc) { cli_error("dump", "no input files"); help(stderr); return 2; }
  int status = 0;
  for (int i = optind; i < argc; i++) status |= dump_file(&o, argv[i]);
  free(o.rowbuf);
  return status;
}
