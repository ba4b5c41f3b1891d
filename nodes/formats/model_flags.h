/* model_flags.h: the train dir's model_flags.json (REFERENCE.md 3.5).
 *
 * Written once per train dir exactly as the starter's Python json.dumps does: keys model,
 * feature_sizes, feature_names, frame_features, label_loss in that order, separators ", "
 * and ": ", ASCII-only (\uXXXX escapes), no trailing newline; keys of ours follow those five.
 * Read leniently (any key order, extra keys kept and exposed), with feature_names and
 * feature_sizes split on ',' and stripped. Training refuses a train dir whose file differs
 * in one of the five starter keys (yt_model_flags_ensure). Not a general JSON library. */
#ifndef YT_MODEL_FLAGS_H
#define YT_MODEL_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

/* The five starter keys, as raw flag strings ("rgb, audio" stays as typed). */
typedef struct yt_model_flags {
  const char *model;         /* "LogisticModel" */
  const char *feature_sizes; /* "1024,128" */
  const char *feature_names; /* "rgb,audio" */
  bool frame_features;
  const char *label_loss; /* "CrossEntropyLoss" */
} yt_model_flags;

typedef enum yt_mf_type {
  YT_MF_STRING,
  YT_MF_INT,
  YT_MF_FLOAT,
  YT_MF_BOOL,
  YT_MF_JSON /* read only: null, an array or an object; s holds its compact JSON */
} yt_mf_type;

/* One key/value. Writing: the field that matches type. Reading: a number comes back as
 * YT_MF_INT when integral (JSON keeps no int/float distinction: 1.0 reads as INT 1) and
 * YT_MF_FLOAT otherwise, with both i and f filled. */
typedef struct yt_mf_value {
  const char *key;
  yt_mf_type type;
  const char *s;
  int64_t i;
  double f;
  bool b;
} yt_mf_value;

/* The file's text (malloc'd into *out), in Python's format. Extra keys must not repeat a
 * starter key or each other; floats must be finite (Python would write NaN/Infinity, which
 * is not JSON); strings must be UTF-8. */
int yt_model_flags_format(const yt_model_flags *mf, const yt_mf_value *extra, size_t n_extra, char **out,
                          yt_err *err);
/* Writes path atomically (PATH.tmp, fsync, rename). */
int yt_model_flags_write(const char *path, const yt_model_flags *mf, const yt_mf_value *extra, size_t n_extra,
                         yt_err *err);

typedef struct yt_model_flags_file {
  yt_model_flags flags; /* strings owned by the file */
  int num_features;
  char **feature_name;   /* split on ',' and stripped */
  int64_t *feature_size; /* split on ',', int() of each */
  size_t n;              /* every key of the file, in file order */
  yt_mf_value *kv;
  void *priv;
} yt_model_flags_file;

/* Parses; requires the five starter keys with their types (strings, and a bool for
 * frame_features), as many sizes as names, names non-empty, sizes positive integers.
 * Errors name the file and the key. */
int yt_model_flags_read(yt_model_flags_file **out, const char *path, yt_err *err);
int yt_model_flags_parse(yt_model_flags_file **out, const char *text, size_t len, const char *name,
                         yt_err *err);
void yt_model_flags_free(yt_model_flags_file *f);
const yt_mf_value *yt_model_flags_get(const yt_model_flags_file *f, const char *key); /* NULL if absent */

/* Compares the five starter keys (raw strings, exactly as the starter's dict comparison).
 * YT_OK when equal, else YT_EINVAL with a message naming the first key that differs, both
 * values and what to do. name: the file, for the message. */
int yt_model_flags_compare(const yt_model_flags *existing, const yt_model_flags *want, const char *name,
                           yt_err *err);
/* What training does: if path exists, read it and compare (error when it differs); else
 * write it. *written (may be NULL) tells which. */
int yt_model_flags_ensure(const char *path, const yt_model_flags *mf, const yt_mf_value *extra,
                          size_t n_extra, bool *written, yt_err *err);

#endif
