/* csv_sink.c: sink node: writes one CSV line per video. Two formats:
 *
 * format = kaggle (predictions in): the Kaggle 2018 submission, as the
 * starter code's inference.py (REFERENCE.md 5.1), top_k "%d %g" pairs by score:
 *
 *   VideoId,LabelConfidencePairs
 *   Ab3d,4 0.987654 17 0.5 301 1.23e-05 ...
 *
 * with vocabulary set, the same top_k as "<name> <score>" pairs for humans.
 *
 * format = labels (decoded videos in): the labels space separated inside quotes:
 *
 *   VideoId,Labels
 *   Ab3d,"4 17 301"
 *
 * The file is committed atomically: written to a hidden temporary beside
 * output_file, fsync'd and renamed at the end of the stream; a run that fails
 * leaves no file (and no temporary) behind.
 *
 * Pads: in "any" (predictions for kaggle, videos or batches for labels); no
 * outputs. Needs x1.
 *
 *   node csv    : csv_sink { output_file = "${output_file}" }
 *   node labels : csv_sink { output_file = "out/labels.csv"; format = labels }
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/node.h"
#include "formats/csv.h"
#include "model/kaggle.h"

typedef struct csv_state {
  const char *path;
  char *tmp;
  FILE *f;
  char *id; /* the current id, NUL-terminated for yt_csv_put */
  size_t id_cap;
  uint64_t rows;
  int kaggle, top_k;
  yt_vocab vocab;
  int have_vocab;
} csv_state;

static const yt_param_def params[] = {
    {"output_file", YT_P_STRING, NULL, YT_NORANGE, NULL, "the CSV file to write (parent directories are created)"},
    {"format", YT_P_ENUM, "kaggle", YT_NORANGE, "kaggle|labels",
     "kaggle: VideoId,LabelConfidencePairs from predictions; labels: VideoId,Labels from decoded videos"},
    {"top_k", YT_P_INT, "20", 1, 100000, NULL, "kaggle: pairs per video"},
    {"vocabulary", YT_P_STRING, "\"\"", YT_NORANGE, NULL,
     "kaggle: a vocabulary.csv; pairs then read \"<name> <score>\" (for humans, not for Kaggle)"},
    {"header", YT_P_BOOL, "true", YT_NORANGE, NULL, "write the header line first"},
};

/* mkdir -p of path's parent directory */
static int make_parent(const char *path, yt_err *err) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path) return YT_OK;
  char *dir = strndup(path, (size_t)(slash - path));
  if (!dir) return yt_fail(err, YT_ENOMEM, "out of memory");
  int rc = yt_mkdirs(dir, err);
  free(dir);
  return rc;
}

static int init(yt_node *n, yt_err *err) {
  csv_state *s = n->state;
  s->path = yt_param_str(&n->params, "output_file");
  if (n->replicas != 1)
    return yt_fail(err, YT_EUSAGE, "csv_sink: writes one file, so it runs as one replica, got x%d: declare it x1",
                   n->replicas);
  size_t len = strlen(s->path);
  if (len == 0 || s->path[len - 1] == '/')
    return yt_fail(err, YT_EUSAGE, "csv_sink: output_file '%s' is not a file name", s->path);
  int rc = make_parent(s->path, err);
  if (rc < 0) return rc;
  /* ".NAME.tmp.PID" in the same directory, so rename() is atomic */
  const char *slash = strrchr(s->path, '/');
  size_t dir = slash ? (size_t)(slash - s->path + 1) : 0;
  size_t cap = len + 32;
  if (!(s->tmp = malloc(cap))) return yt_fail(err, YT_ENOMEM, "out of memory");
  snprintf(s->tmp, cap, "%.*s.%s.tmp.%ld", (int)dir, s->path, s->path + dir, (long)getpid());
  if (!(s->f = fopen(s->tmp, "w"))) {
    rc = yt_fail(err, YT_EIO, "%s: cannot create: %s", s->tmp, strerror(errno));
    free(s->tmp);
    s->tmp = NULL;
    return rc;
  }
  s->kaggle = !strcmp(yt_param_str(&n->params, "format"), "kaggle");
  s->top_k = (int)yt_param_int(&n->params, "top_k");
  const char *voc = yt_param_str(&n->params, "vocabulary");
  if (*voc) {
    if (!s->kaggle) return yt_fail(err, YT_EUSAGE, "csv_sink: vocabulary goes with format = kaggle");
    if ((rc = yt_vocab_load(&s->vocab, voc, err)) < 0) return rc;
    s->have_vocab = 1;
  }
  if (yt_param_bool(&n->params, "header"))
    fputs(s->kaggle ? YT_KAGGLE_HEADER "\n" : "VideoId,Labels\n", s->f);
  return YT_OK;
}

/* id,"l1 l2 l3" */
static void put_labels_row(FILE *f, const char *id, const int32_t *labels, size_t n) {
  yt_csv_put(f, id, false);
  fputc('"', f);
  for (size_t j = 0; j < n; j++) fprintf(f, j ? " %d" : "%d", (int)labels[j]);
  fputs("\"\n", f);
}

static int process(yt_node *n, int pad, const yt_msg *m, yt_err *err) {
  (void)pad;
  csv_state *s = n->state;
  yt_batch bt;
  int rc = yt_batch_decode(&bt, m, err);
  if (rc < 0) return rc;
  if (s->kaggle) {
    if (bt.dtype != YT_DT_F32 || bt.frames != 0) {
      yt_batch_free(&bt);
      return yt_fail(err, YT_EINVAL,
                     "csv_sink: format = kaggle takes predictions (from infer or ensemble); for decoded videos "
                     "set format = labels");
    }
    for (uint32_t i = 0; i < bt.n && !rc; i++) {
      const char *id = bt.ids + bt.id_off[i];
      size_t len = bt.id_off[i + 1] - bt.id_off[i];
      const float *scores = yt_batch_rows(&bt, i);
      rc = s->have_vocab ? yt_kaggle_write_names(s->f, id, len, scores, (int)bt.dim, s->top_k, &s->vocab, err)
                         : yt_kaggle_write(s->f, id, len, scores, (int)bt.dim, s->top_k, err);
      s->rows++;
    }
    yt_batch_free(&bt);
    return rc;
  }
  for (uint32_t i = 0; i < bt.n; i++) {
    size_t len = bt.id_off[i + 1] - bt.id_off[i];
    if (len + 1 > s->id_cap) {
      char *p = realloc(s->id, len + 64);
      if (!p) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); break; }
      s->id = p, s->id_cap = len + 64;
    }
    memcpy(s->id, bt.ids + bt.id_off[i], len);
    s->id[len] = 0;
    put_labels_row(s->f, s->id, bt.labels + bt.label_off[i], bt.label_off[i + 1] - bt.label_off[i]);
    s->rows++;
  }
  yt_batch_free(&bt);
  if (rc == YT_OK && ferror(s->f)) rc = yt_fail(err, YT_EIO, "%s: write failed: %s", s->tmp, strerror(errno));
  return rc;
}

/* Flushes, fsyncs and renames the temporary into place. */
static int flush(yt_node *n, yt_err *err) {
  csv_state *s = n->state;
  int rc = YT_OK;
  if (!s->f) return YT_OK; /* already committed */
  if (fflush(s->f) != 0 || ferror(s->f)) rc = yt_fail(err, YT_EIO, "%s: write failed: %s", s->tmp, strerror(errno));
  if (rc == YT_OK && fsync(fileno(s->f)) != 0)
    rc = yt_fail(err, YT_EIO, "%s: fsync failed: %s", s->tmp, strerror(errno));
  if (fclose(s->f) != 0 && rc == YT_OK) rc = yt_fail(err, YT_EIO, "%s: close failed: %s", s->tmp, strerror(errno));
  s->f = NULL;
  if (rc == YT_OK && rename(s->tmp, s->path) != 0)
    rc = yt_fail(err, YT_EIO, "%s: cannot rename into place: %s", s->path, strerror(errno));
  if (rc == YT_OK) {
    free(s->tmp);
    s->tmp = NULL; /* committed: nothing for fini to remove */
    if (s->kaggle) /* inference.py's last line */
      fprintf(stderr, "Done with inference. The output file was written to %s\n", s->path);
  }
  return rc;
}

static void fini(yt_node *n) {
  csv_state *s = n->state;
  if (!s) return;
  if (s->f) fclose(s->f);
  if (s->tmp) unlink(s->tmp);
  free(s->tmp);
  free(s->id);
  if (s->have_vocab) yt_vocab_free(&s->vocab);
  memset(s, 0, sizeof *s);
}

const yt_node_def yt_node_csv_sink = {
    .name = "csv_sink",
    .summary = "writes a Kaggle submission CSV (or VideoId,Labels lines), committed atomically",
    .inputs = {{"in", "any", "predictions (format = kaggle) or decoded videos (format = labels)"}},
    .n_inputs = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .state_size = sizeof(csv_state),
    .init = init,
    .process = process,
    .flush = flush,
    .fini = fini,
};
