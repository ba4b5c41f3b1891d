/* fs.c: file-system helpers (see fs.h). */
#include "core/fs.h"

#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int yt_mkdirs(const char *dir, yt_err *err) {
  if (!*dir) return YT_OK;
  char *p = strdup(dir);
  if (!p) return yt_fail(err, YT_ENOMEM, "out of memory");
  int rc = YT_OK;
  for (char *q = p + 1;; q++) {
    if (*q != '/' && *q != 0) continue;
    char c = *q;
    *q = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      rc = yt_fail(err, YT_EIO, "%s: cannot create directory: %s", p, strerror(errno));
      break;
    }
    *q = c;
    if (!c) break;
  }
  free(p);
  struct stat st;
  if (rc == YT_OK && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
    rc = yt_fail(err, YT_EIO, "%s: exists and is not a directory", dir);
  return rc;
}

/* ---- globs ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int yt_glob_files(const char *pattern, char ***paths, size_t *n_paths, yt_err *err) {
  struct {
    char **paths;
    size_t n_paths;
  } st = {0}, *s = &st;
  *paths = NULL, *n_paths = 0;
  char *copy = strdup(pattern), *save = NULL;
  size_t cap = 0;
  int rc = YT_OK;
  if (!copy) return yt_fail(err, YT_ENOMEM, "out of memory");
  for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
    while (*part == ' ' || *part == '\t') part++;
    size_t l = strlen(part);
    while (l && (part[l - 1] == ' ' || part[l - 1] == '\t')) part[--l] = 0;
    if (!l) continue;
    glob_t g = {0};
    int grc = glob(part, GLOB_MARK, NULL, &g);
    size_t kept = 0;
    for (size_t i = 0; grc == 0 && i < g.gl_pathc && rc == YT_OK; i++) {
      const char *p = g.gl_pathv[i];
      if (p[strlen(p) - 1] == '/') continue; /* a directory */
      if (s->n_paths == cap) {
        cap = cap ? 2 * cap : 64;
        char **np = realloc(s->paths, cap * sizeof *np);
        if (!np) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); break; }
        s->paths = np;
      }
      if (!(s->paths[s->n_paths] = strdup(p))) { rc = yt_fail(err, YT_ENOMEM, "out of memory"); break; }
      s->n_paths++, kept++;
    }
    globfree(&g);
    if (rc == YT_OK && grc != 0 && grc != GLOB_NOMATCH)
      rc = yt_fail(err, YT_EIO, "pattern '%s': cannot read a directory it names (%s)", part,
                   grc == GLOB_NOSPACE ? "out of memory" : "read error");
    else if (rc == YT_OK && kept == 0 && !strcmp(part, pattern))
      rc = yt_fail(err, YT_EUSAGE, "pattern '%s' matches no files", part);
    else if (rc == YT_OK && kept == 0)
      rc = yt_fail(err, YT_EUSAGE, "pattern '%s' matches no files (one of the globs in '%s')", part, pattern);
    if (rc < 0) break;
  }
  free(copy);
  if (rc == YT_OK && s->n_paths == 0) rc = yt_fail(err, YT_EUSAGE, "pattern '%s' matches no files", pattern);
  if (rc < 0) {
    for (size_t i = 0; i < s->n_paths; i++) free(s->paths[i]);
    free(s->paths);
    return rc;
  }
  qsort(s->paths, s->n_paths, sizeof *s->paths, cmp_str);
  size_t k = 0;
  for (size_t i = 0; i < s->n_paths; i++) {
    if (k && !strcmp(s->paths[k - 1], s->paths[i])) free(s->paths[i]);
    else s->paths[k++] = s->paths[i];
  }
  *paths = s->paths;
  *n_paths = k;
  return YT_OK;
}

const char *yt_base_name(const char *path) {
  const char *sl = strrchr(path, '/');
  return sl ? sl + 1 : path;
}
