/* gen.c: `yt8m-flow gen`: write a synthetic YouTube-8M corpus to disk.
 *
 * Shards <split>NNNN.tfrecord (or .tfrecord.zst), vocabulary.csv with the
 * official columns, and generator.json with the parameters and the oracle
 * GAP per split (merged with what earlier runs wrote for other splits). The
 * generative model is nodes/formats/synth.c, documented in docs/generator.md. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "formats/csv.h"
#include "formats/synth.h"
#include "formats/tfrecord.h"
#include "model/gap.h"

typedef struct {
  const char *out, *split;
  int frame_level, compress;
  long videos, shards, oracle_videos;
  yt_synth_params p;
} gen_opts;

static void help(FILE *f) {
  fprintf(f,
          "usage: yt8m-flow gen --out DIR --level video|frame --videos N [--shards S]\n"
          "                     [--split NAME] [--classes K] [--seed X] [options]\n"
          "  Writes DIR/<split>NNNN.tfrecord, DIR/vocabulary.csv and DIR/generator.json.\n"
          "  --level          video (Example: id, labels, mean_rgb, mean_audio) or frame\n"
          "                   (SequenceExample: rgb/audio uint8 frames, plus their means)\n"
          "  --videos N       videos to write (required)\n"
          "  --shards S       files to spread them over (default 1)\n"
          "  --split NAME     file prefix (default train); the 'test' split has no labels\n"
          "  --classes K      vocabulary size (default 3862)\n"
          "  --seed X         everything is a function of the seed (default 1); use the same\n"
          "                   seed for train/validate/test so they share one concept\n"
          "  --min-frames N / --max-frames N   frames per video, uniform (default 60 / 300)\n"
          "  --oracle-videos N  videos scored by the oracle for generator.json (default 200)\n"
          "  --zst            write zstd-compressed shards (.tfrecord.zst)\n"
          "  --signal LO,HI   share of class frames per video, uniform (default 0.05,0.3)\n"
          "  --confuser W     weight of class prototypes inside background topics (default 0.5)\n"
          "  --noise SD       per-dimension std of the Gaussian noise on every frame (default 0.8)\n"
          "  The model is documented in docs/generator.md.\n");
}

static int write_vocab(const gen_opts *o, yt_synth *g, long videos) {
  static const char *verticals[] = {"Arts & Entertainment", "Games", "Autos & Vehicles", "Sports",
                                    "Food & Drink", "Science", "Music, Film & TV"};
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/vocabulary.csv", o->out);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) { cli_error("gen", "%s: cannot create: %s", tmp, strerror(errno)); return -1; }
  fputs(YT_VOCAB_HEADER "\n", f);
  for (int c = 0; c < o->p.classes; c++) {
    char buf[512];
    snprintf(buf, sizeof buf, "%d", c); yt_csv_put(f, buf, false);
    snprintf(buf, sizeof buf, "%ld", (long)(yt_synth_class_rate(g, c) * (double)videos + 0.5)); yt_csv_put(f, buf, false);
    snprintf(buf, sizeof buf, "/m/syn%05d", c); yt_csv_put(f, buf, false);
    snprintf(buf, sizeof buf, "Synthetic class %d", c); yt_csv_put(f, buf, false);
    snprintf(buf, sizeof buf, "https://example.org/yt8m-flow/class/%d", c); yt_csv_put(f, buf, false);
    yt_csv_put(f, verticals[c % 7], false);
    yt_csv_put(f, c % 3 ? "" : verticals[(c / 3) % 7], false);
    yt_csv_put(f, "", false);
    snprintf(buf, sizeof buf, "Planted class %d of yt8m-flow gen, \"synthetic\": its frames sit near one prototype.", c);
    yt_csv_put(f, buf, true);
  }
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    cli_error("gen", "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* generator.json: {"generator": {...params, model}, "splits": {NAME: {...}}} */
static int write_json(const gen_opts *o, long records, unsigned long long bytes, int oracle_n,
                      double gap_frames, double gap_mean) {
  char path[4096];
  snprintf(path, sizeof path, "%s/generator.json", o->out);
  cJSON *root = NULL;
  FILE *f = fopen(path, "r");
  if (f) { /* keep other splits' entries */
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) == (size_t)n) { s[n] = 0; root = cJSON_Parse(s); }
    free(s);
    fclose(f);
  }
  if (!root) root = cJSON_CreateObject();
  cJSON *gen = cJSON_CreateObject();
  cJSON_AddStringToObject(gen, "model", "class frames hidden among confuser-topic frames; see docs/generator.md");
  cJSON_AddNumberToObject(gen, "seed", (double)o->p.seed);
  cJSON_AddNumberToObject(gen, "classes", o->p.classes);
  cJSON_AddNumberToObject(gen, "topics", o->p.topics);
  cJSON_AddNumberToObject(gen, "feature_dim", YT_SYNTH_DIM);
  cJSON_AddStringToObject(gen, "feature_names", o->frame_level ? "rgb,audio" : "mean_rgb,mean_audio");
  cJSON_AddStringToObject(gen, "feature_sizes", "1024,128");
  cJSON_AddNumberToObject(gen, "min_frames", o->p.min_frames);
  cJSON_AddNumberToObject(gen, "max_frames", o->p.max_frames);
  cJSON_AddNumberToObject(gen, "proto_std", o->p.proto_std);
  cJSON_AddNumberToObject(gen, "noise_std", o->p.noise_std);
  cJSON_AddNumberToObject(gen, "signal_fraction_lo", o->p.signal_lo);
  cJSON_AddNumberToObject(gen, "signal_fraction_hi", o->p.signal_hi);
  cJSON_AddNumberToObject(gen, "class_prior_zipf", o->p.zipf);
  cJSON_AddNumberToObject(gen, "labels_per_video_mean", o->p.labels_mean);
  cJSON_AddNumberToObject(gen, "confuser", o->p.confuser);
  cJSON_ReplaceItemInObject(root, "generator", gen);
  if (!cJSON_GetObjectItem(root, "generator")) cJSON_AddItemToObject(root, "generator", gen);
  cJSON *splits = cJSON_GetObjectItem(root, "splits");
  if (!splits) splits = cJSON_AddObjectToObject(root, "splits");
  cJSON *sp = cJSON_CreateObject();
  cJSON_AddStringToObject(sp, "level", o->frame_level ? "frame" : "video");
  cJSON_AddNumberToObject(sp, "videos", (double)records);
  cJSON_AddNumberToObject(sp, "shards", (double)o->shards);
  cJSON_AddNumberToObject(sp, "bytes", (double)bytes);
  cJSON_AddBoolToObject(sp, "labels", strcmp(o->split, "test") != 0);
  if (oracle_n > 0) {
    cJSON *orc = cJSON_AddObjectToObject(sp, "oracle");
    cJSON_AddNumberToObject(orc, "videos_scored", oracle_n);
    cJSON_AddNumberToObject(orc, "gap_frames", gap_frames);
    cJSON_AddNumberToObject(orc, "gap_mean_pooling", gap_mean);
    cJSON_AddStringToObject(orc, "about",
                            "GAP@20 of scorers that know the generator's prototypes: gap_frames labels each "
                            "frame by its most likely source and scores a class by its share of frames (a "
                            "practical ceiling for frame-level models); gap_mean_pooling scores classes by "
                            "the likelihood of the mean frame (what mean pooling keeps)");
  }
  cJSON_ReplaceItemInObject(splits, o->split, sp);
  if (!cJSON_GetObjectItem(splits, o->split)) cJSON_AddItemToObject(splits, o->split, sp);
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  f = text ? fopen(path, "w") : NULL;
  int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  if (f && fclose(f) != 0) ok = 0;
  free(text);
  if (!ok) { cli_error("gen", "%s: cannot write: %s", path, strerror(errno)); return -1; }
  return 0;
}

/* mkdir -p */
static int mkdir_p(const char *dir) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cmd_gen(int argc, char **argv) {
  gen_opts o = {.split = "train", .videos = -1, .shards = 1, .oracle_videos = 200, .frame_level = -1};
  yt_synth_defaults(&o.p);
  static const struct option opts[] = {
      {"out", required_argument, 0, 'o'},        {"level", required_argument, 0, 'l'},
      {"videos", required_argument, 0, 'n'},     {"shards", required_argument, 0, 's'},
      {"split", required_argument, 0, 'p'},      {"classes", required_argument, 0, 'k'},
      {"seed", required_argument, 0, 'x'},       {"min-frames", required_argument, 0, 'a'},
      {"max-frames", required_argument, 0, 'b'}, {"oracle-videos", required_argument, 0, 'r'},
      {"zst", no_argument, 0, 'z'},              {"confuser", required_argument, 0, 'c'},
      {"signal", required_argument, 0, 'g'},    {"noise", required_argument, 0, 'e'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  long v;
  unsigned long long seed;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:l:n:s:p:k:x:a:b:r:zc:g:e:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o': o.out = optarg; break;
    case 'l':
      if (!strcmp(optarg, "video")) o.frame_level = 0;
      else if (!strcmp(optarg, "frame")) o.frame_level = 1;
      else { cli_error("gen", "--level must be video or frame, got '%s'", optarg); return 2; }
      break;
    case 'n': if (cli_long("gen", "--videos", optarg, 0, 1L << 40, &o.videos)) return 2; break;
    case 's': if (cli_long("gen", "--shards", optarg, 1, 100000, &o.shards)) return 2; break;
    case 'p':
      if (!*optarg || strchr(optarg, '/')) { cli_error("gen", "--split must be a plain name, got '%s'", optarg); return 2; }
      o.split = optarg;
      break;
    case 'k': if (cli_long("gen", "--classes", optarg, 1, 1000000, &v)) return 2; o.p.classes = (int)v; break;
    case 'x': if (cli_u64("gen", "--seed", optarg, &seed)) return 2; o.p.seed = seed; break;
    case 'a': if (cli_long("gen", "--min-frames", optarg, 1, 100000, &v)) return 2; o.p.min_frames = (int)v; break;
    case 'b': if (cli_long("gen", "--max-frames", optarg, 1, 100000, &v)) return 2; o.p.max_frames = (int)v; break;
    case 'r': if (cli_long("gen", "--oracle-videos", optarg, 0, 1000000, &o.oracle_videos)) return 2; break;
    case 'z': o.compress = 1; break;
    case 'c': if (cli_double("gen", "--confuser", optarg, 0, 1, &o.p.confuser)) return 2; break;
    case 'e': if (cli_double("gen", "--noise", optarg, 0, 100, &o.p.noise_std)) return 2; break;
    case 'g':
      if (sscanf(optarg, "%lf,%lf", &o.p.signal_lo, &o.p.signal_hi) != 2) {
        cli_error("gen", "--signal expects LO,HI (fractions of class frames), got '%s'", optarg);
        return 2;
      }
      break;
    case 'h': help(stdout); return 0;
    default: help(stderr); return 2;
    }
  }
  if (optind < argc) { cli_error("gen", "unexpected argument '%s'", argv[optind]); return 2; }
  if (!o.out) { cli_error("gen", "--out DIR is required"); return 2; }
  if (o.frame_level < 0) { cli_error("gen", "--level video|frame is required"); return 2; }
  if (o.videos < 0) { cli_error("gen", "--videos N is required"); return 2; }
  if (o.p.min_frames > o.p.max_frames) {
    cli_error("gen", "--min-frames (%d) is larger than --max-frames (%d)", o.p.min_frames, o.p.max_frames);
    return 2;
  }
  if (mkdir_p(o.out) != 0) {
    cli_error("gen", "%s: cannot create directory: %s", o.out, strerror(errno));
    return 1;
  }

  yt_err err = {0};
  yt_synth *g = NULL;
  if (yt_synth_new(&g, &o.p, &err) < 0) { cli_error("gen", "%s", err.msg); return 2; }
  int labels = strcmp(o.split, "test") != 0;
  long oracle_n = labels ? (o.oracle_videos < o.videos ? o.oracle_videos : o.videos) : 0;
  float *fs = malloc(sizeof(float) * (size_t)o.p.classes * 2), *ms = fs + o.p.classes;
  yt_gap gap_f, gap_m;
  yt_gap_init(&gap_f, 20);
  yt_gap_init(&gap_m, 20);
  yt_synth_video vid = {0};
  unsigned long long bytes = 0;
  int status = 0, tty = isatty(2);
  double t0 = now(), last = t0;
  for (long s = 0; s < o.shards && !status; s++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%04ld.tfrecord%s", o.out, o.split, s, o.compress ? ".zst" : "");
    yt_tfr_writer *w;
    if (yt_tfw_open(&w, path, &err) < 0) { cli_error("gen", "%s", err.msg); status = 1; break; }
    long lo = o.videos * s / o.shards, hi = o.videos * (s + 1) / o.shards;
    for (long i = lo; i < hi; i++) {
      uint8_t *buf;
      size_t len;
      if (yt_synth_video_make(g, o.split, (uint64_t)i, &vid, &err) < 0 ||
          yt_synth_encode(&vid, o.frame_level, labels, &buf, &len, &err) < 0) {
        status = 1;
        break;
      }
      int rc = yt_tfw_write(w, buf, len, &err);
      free(buf);
      if (rc < 0) { status = 1; break; }
      bytes += len + 16;
      if (i < oracle_n) {
        yt_synth_oracle(g, &vid, fs, ms, &err);
        yt_gap_add(&gap_f, fs, o.p.classes, vid.labels, vid.n_labels, &err);
        yt_gap_add(&gap_m, ms, o.p.classes, vid.labels, vid.n_labels, &err);
      }
      double t = now();
      if (t - last > (tty ? 0.2 : 10.0)) {
        last = t;
        fprintf(stderr, "%sgen: %ld/%ld videos, %.1f MB, %.0f videos/s%s", tty ? "\r" : "", i + 1, o.videos,
                bytes / 1e6, (i + 1) / (t - t0), tty ? "" : "\n");
      }
    }
    if (status) { cli_error("gen", "%s", err.msg); yt_tfw_abort(w); break; }
    if (yt_tfw_close(w, &err) < 0) { cli_error("gen", "%s", err.msg); status = 1; }
  }
  if (tty) fputc('\r', stderr);
  double gf = yt_gap_value(&gap_f), gm = yt_gap_value(&gap_m);
  if (!status && (write_vocab(&o, g, o.videos) < 0 || write_json(&o, o.videos, bytes, (int)oracle_n, gf, gm) < 0))
    status = 1;
  if (!status) {
    fprintf(stderr, "gen: wrote %ld %s-level videos (%.1f MB) in %ld shard(s) to %s in %.1f s\n", o.videos,
            o.frame_level ? "frame" : "video", bytes / 1e6, o.shards, o.out, now() - t0);
    if (oracle_n) fprintf(stderr, "gen: oracle GAP on %ld videos: %.4f (frames), %.4f (mean pooling)\n", oracle_n, gf, gm);
  }
  yt_gap_free(&gap_f);
  yt_gap_free(&gap_m);
  yt_synth_video_free(&vid);
  free(fs);
  yt_synth_free(g);
  return status;
}
