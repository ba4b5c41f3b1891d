/* tfevents.c: TensorBoard scalar event writer (see tfevents.h). */
#include "tfevents.h"

#include "../core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "tfrecord.h"

/* ------------------------------------------------------------------ encoder */

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* A cursor that counts always and writes only while it has room. */
typedef struct cur {
  uint8_t *p;
  size_t len, cap;
} cur;

static void put(cur *c, const void *b, size_t n) {
  if (c->len + n <= c->cap) memcpy(c->p + c->len, b, n);
  c->len += n;
}
static void put_byte(cur *c, uint8_t b) {
  put(c, &b, 1);
}
static void put_varint(cur *c, uint64_t v) {
  while (v >= 0x80) {
    put_byte(c, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  put_byte(c, (uint8_t)v);
}
static void put_le(cur *c, uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; i++) put_byte(c, (uint8_t)(v >> (8 * i)));
}

static size_t value_len(const char *tag) {
  size_t t = strlen(tag);
  return 1 + varint_len(t) + t + 5; /* tag (0x0a), simple_value (0x15) */
}

static size_t summary_len(const yt_tfevent *ev) {
  size_t n = 0;
  for (size_t i = 0; i < ev->n; i++) {
    size_t v = value_len(ev->tags[i]);
    n += 1 + varint_len(v) + v;
  }
  return n;
}

static void encode_event(cur *c, const yt_tfevent *ev) {
  uint64_t wt;
  memcpy(&wt, &ev->wall_time, 8);
  if (wt) {
    put_byte(c, 0x09);
    put_le(c, wt, 8);
  }
  if (ev->step) {
    put_byte(c, 0x10);
    put_varint(c, (uint64_t)ev->step);
  }
  if (ev->file_version) {
    size_t n = strlen(ev->file_version);
    put_byte(c, 0x1a);
    put_varint(c, n);
    put(c, ev->file_version, n);
  }
  if (ev->n) {
    put_byte(c, 0x2a);
    put_varint(c, summary_len(ev));
    for (size_t i = 0; i < ev->n; i++) {
      size_t t = strlen(ev->tags[i]);
      uint32_t fv;
      memcpy(&fv, &ev->values[i], 4);
      put_byte(c, 0x0a);
      put_varint(c, value_len(ev->tags[i]));
      put_byte(c, 0x0a);
      put_varint(c, t);
      put(c, ev->tags[i], t);
      put_byte(c, 0x15);
      put_le(c, fv, 4);
    }
  }
}

size_t yt_tfevents_encode(const yt_tfevent *ev, uint8_t *out, size_t cap) {
  cur m = {NULL, 0, 0};
  encode_event(&m, ev);
  size_t total = m.len + 16;
  if (!out || total > cap) return total;
  cur c = {out + 12, 0, m.len};
  encode_event(&c, ev);
  yt_tfr_frame_header(out, m.len);
  uint32_t crc = yt_crc32c_masked(out + 12, m.len);
  for (int i = 0; i < 4; i++) out[12 + m.len + i] = (uint8_t)(crc >> (8 * i));
  return total;
}

/* ------------------------------------------------------------------ writer */

struct yt_tfevents {
  FILE *f;
  char *path;
  uint8_t *buf;
  size_t cap;
};

const char *yt_tfevents_path(const yt_tfevents *w) {
  return w->path;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int yt_tfevents_open(yt_tfevents **out, const char *dir, double wall_time, yt_err *err) {
  *out = NULL;
  if (wall_time <= 0) wall_time = now();
  int rc = yt_mkdirs(dir, err);
  if (rc < 0) return rc;
  char host[256] = "localhost";
  if (gethostname(host, sizeof host) != 0 || !host[0]) strcpy(host, "localhost");
  host[sizeof host - 1] = 0;
  for (char *h = host; *h; h++)
    if (*h == '/') *h = '_';
  yt_tfevents *w = calloc(1, sizeof *w);
  size_t plen = strlen(dir) + strlen(host) + 64;
  if (!w || !(w->path = malloc(plen))) {
    free(w);
    return yt_fail(err, YT_ENOMEM, "out of memory");
  }
  int fd = -1;
  for (int k = 0; k < 1000 && fd < 0; k++) {
    int n = snprintf(w->path, plen, "%s/events.out.tfevents.%010lld.%s", dir, (long long)wall_time, host);
    if (k) snprintf(w->path + n, plen - (size_t)n, ".%d", k);
    fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
    rc = yt_fail(err, YT_EIO, "%s: cannot create: %s", w->path, strerror(errno));
    if (fd >= 0) close(fd);
    free(w->path);
    free(w);
    return rc;
  }
  yt_tfevent ev = {.wall_time = wall_time, .file_version = YT_TFEVENTS_VERSION};
  if ((rc = yt_tfevents_write(w, &ev, err)) < 0) {
    yt_tfevents_close(w, NULL);
    return rc;
  }
  *out = w;
  return YT_OK;
}

int yt_tfevents_write(yt_tfevents *w, const yt_tfevent *ev, yt_err *err) {
  yt_tfevent e = *ev;
  if (e.wall_time <= 0) e.wall_time = now();
  for (size_t i = 0; i < e.n; i++)
    if (!e.tags[i]) return yt_fail(err, YT_EINVAL, "%s: scalar %zu has no tag", w->path, i);
  size_t need = yt_tfevents_encode(&e, NULL, 0);
  if (need > w->cap) {
    uint8_t *b = realloc(w->buf, need);
    if (!b) return yt_fail(err, YT_ENOMEM, "%s: out of memory", w->path);
    w->buf = b;
    w->cap = need;
  }
  yt_tfevents_encode(&e, w->buf, w->cap);
  if (fwrite(w->buf, 1, need, w->f) != need || fflush(w->f) != 0)
    return yt_fail(err, YT_EIO, "%s: write failed: %s", w->path, strerror(errno));
  return YT_OK;
}

int yt_tfevents_scalars(yt_tfevents *w, int64_t step, size_t n, const char *const *tags, const float *values,
                        double wall_time, yt_err *err) {
  yt_tfevent ev = {.wall_time = wall_time, .step = step, .n = n, .tags = tags, .values = values};
  return yt_tfevents_write(w, &ev, err);
}

int yt_tfevents_scalar(yt_tfevents *w, int64_t step, const char *tag, float value, double wall_time,
                       yt_err *err) {
  return yt_tfevents_scalars(w, step, 1, &tag, &value, wall_time, err);
}

int yt_tfevents_close(yt_tfevents *w, yt_err *err) {
  if (!w) return YT_OK;
  int rc = YT_OK;
  if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
    rc = yt_fail(err, YT_EIO, "%s: flush failed: %s", w->path, strerror(errno));
  if (fclose(w->f) != 0 && rc == YT_OK)
    rc = yt_fail(err, YT_EIO, "%s: close failed: %s", w->path, strerror(errno));
  free(w->buf);
  free(w->path);
  free(w);
  return rc;
}
