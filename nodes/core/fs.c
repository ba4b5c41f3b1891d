/* fs.c: file-system helpers (see fs.h). */
#include "core/fs.h"

#include <errno.h>
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
