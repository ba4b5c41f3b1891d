/* tfrecord.c: TFRecord reader (mmap or streaming, plain or zstd) and atomic writer. */
#include "tfrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#include "core/le.h"
#include "crc32c.h"

static bool ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && strcmp(s + n - m, suf) == 0;
}

/* ------------------------------------------------------------------ reader */

/* A reader works in one of two ways, chosen by its first read call:
 *   window (yt_tfr_next): records are views into buf[start, end), the stream
 *     from byte `base` on: the whole map of a large plain file, or a buffer
 *     refilled by read() (small files, pipes, zstd);
 *   copy (yt_tfr_peek + yt_tfr_next_into on a plain regular file): one
 *     preadv per record puts its data where the caller wants it, and its
 *     footer and the next header in `tail`. start is then the file offset. */
struct yt_tfr_reader {
  char *path;
  int fd;
  bool verify;
  uint64_t index;
  const uint8_t *buf;
  size_t start, end;
  uint64_t base;
  bool eof;     /* no more bytes will come */
  enum { MODE_UNSET, MODE_WINDOW, MODE_COPY } mode; /* chosen by the first read call */
  bool plain;   /* a regular, uncompressed file of `size` bytes */
  uint64_t size, dev, ino;
  uint8_t tail[16];  /* copy mode: [footer of the last record][next header] */
  bool have_header;  /* tail + 4 holds the header of the record at start */
  /* streaming only */
  uint8_t *own;
  size_t cap;
  ZSTD_DCtx *z;
  uint8_t *zin;
  ZSTD_inBuffer zib;
  uint64_t zin_total;
  size_t map_len;
};

enum { STREAM_CHUNK = 4 << 20, ZIN_CHUNK = 1 << 20 };
#define MMAP_MIN (16ll << 20)

const char *yt_tfr_path(const yt_tfr_reader *r) { return r->path; }
void yt_tfr_set_verify(yt_tfr_reader *r, bool v) { r->verify = v; }
uint64_t yt_tfr_bytes_read(const yt_tfr_reader *r) { return r->base + r->start; }

int yt_tfr_open(yt_tfr_reader **out, const char *path, yt_err *err) {
  *out = NULL;
  yt_tfr_reader *r = calloc(1, sizeof *r);
  if (!r) return yt_fail(err, YT_ENOMEM, "%s: out of memory", path);
  r->verify = true;
  r->path = strdup(path);
  r->fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    yt_fail(err, YT_EIO, "%s: cannot open: %s", path, strerror(errno));
    yt_tfr_close(r);
    return err ? err->code : YT_EIO;
  }
  struct stat st;
  if (strcmp(path, "-") != 0 && !ends_with(path, ".zst") && fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode)) {
    r->plain = true;
    r->size = (uint64_t)st.st_size;
    r->dev = (uint64_t)st.st_dev;
    r->ino = (uint64_t)st.st_ino;
  }
  *out = r;
  return YT_OK;
}

/* The window, at the first yt_tfr_next. Large plain files are mapped (no
 * copy: a record is a view into the page cache); small ones are read, since
 * mapping costs a page-table update per page, which measured slower than
 * read()'s copy below a few tens of MB (tests/bench: video-level 8 MB shards
 * +15% with read, 26 MB frame shards +20% with mmap). YT_TFRECORD_MMAP=0|1
 * forces either. */
static int setup_window(yt_tfr_reader *r, yt_err *err) {
  if (r->mode == MODE_COPY)
    return yt_fail(err, YT_EINVAL, "%s: yt_tfr_next after yt_tfr_next_into on the same reader", r->path);
  r->mode = MODE_WINDOW;
  const char *mm = getenv("YT_TFRECORD_MMAP");
  if (r->plain && (mm ? strcmp(mm, "0") != 0 : r->size >= (uint64_t)MMAP_MIN)) {
    r->map_len = (size_t)r->size;
    if (r->map_len > 0) {
      void *m = mmap(NULL, r->map_len, PROT_READ, MAP_PRIVATE, r->fd, 0);
      if (m == MAP_FAILED) return yt_fail(err, YT_EIO, "%s: cannot map: %s", r->path, strerror(errno));
      madvise(m, r->map_len, MADV_SEQUENTIAL | MADV_WILLNEED);
      r->buf = m;
    }
    r->end = r->map_len;
    r->eof = true;
    return YT_OK;
  }
  r->cap = STREAM_CHUNK;
  r->own = malloc(r->cap);
  r->buf = r->own;
  if (!r->own) return yt_fail(err, YT_ENOMEM, "%s: out of memory", r->path);
  if (!r->plain && ends_with(r->path, ".zst")) {
    r->z = ZSTD_createDCtx();
    r->zin = malloc(ZIN_CHUNK);
    if (!r->z || !r->zin) return yt_fail(err, YT_ENOMEM, "%s: out of memory", r->path);
    r->zib = (ZSTD_inBuffer){r->zin, 0, 0};
  }
  return YT_OK;
}

void yt_tfr_close(yt_tfr_reader *r) {
  if (!r) return;
  if (r->map_len && !r->own && r->buf) munmap((void *)r->buf, r->map_len);
  free(r->own);
  free(r->zin);
  ZSTD_freeDCtx(r->z);
  if (r->fd >= 0) close(r->fd);
  free(r->path);
  free(r);
}

/* Reads more stream bytes into buf[end..cap). Returns bytes added (0 at EOF). */
static int refill(yt_tfr_reader *r, size_t *added, yt_err *err) {
  *added = 0;
  if (!r->z) {
    ssize_t n;
    do n = read(r->fd, r->own + r->end, r->cap - r->end); while (n < 0 && errno == EINTR);
    if (n < 0) return yt_fail(err, YT_EIO, "%s: read error at byte %llu: %s", r->path,
                              (unsigned long long)(r->base + r->end), strerror(errno));
    if (n == 0) r->eof = true;
    *added = (size_t)n;
    r->end += (size_t)n;
    return YT_OK;
  }
  while (*added == 0) {
    if (r->zib.pos == r->zib.size) {
      ssize_t n;
      do n = read(r->fd, r->zin, ZIN_CHUNK); while (n < 0 && errno == EINTR);
      if (n < 0) return yt_fail(err, YT_EIO, "%s: read error: %s", r->path, strerror(errno));
      if (n == 0) { r->eof = true; return YT_OK; }
      r->zin_total += (uint64_t)n;
      r->zib = (ZSTD_inBuffer){r->zin, (size_t)n, 0};
    }
    ZSTD_outBuffer ob = {r->own + r->end, r->cap - r->end, 0};
    size_t rc = ZSTD_decompressStream(r->z, &ob, &r->zib);
    if (ZSTD_isError(rc))
      return yt_fail(err, YT_ECORRUPT,
                     "%s: zstd stream is corrupt near compressed byte %llu: %s", r->path,
                     (unsigned long long)(r->zin_total - (r->zib.size - r->zib.pos)),
                     ZSTD_getErrorName(rc));
    r->end += ob.pos;
    *added = ob.pos;
  }
  return YT_OK;
}

/* Makes at least `need` bytes available from start, or as many as the stream
 * has. The buffer grows only when it is full of real data, so a lying length
 * field costs at most the bytes that really exist. */
static int ensure(yt_tfr_reader *r, size_t need, yt_err *err) {
  while (r->end - r->start < need && !r->eof) {
    if (r->start > 0 && (r->cap - r->end < STREAM_CHUNK || r->end == r->start)) {
      memmove(r->own, r->own + r->start, r->end - r->start);
      r->base += r->start;
      r->end -= r->start;
      r->start = 0;
    }
    if (r->end == r->cap) {
      size_t ncap = r->cap * 2;
      uint8_t *n = realloc(r->own, ncap);
      if (!n) return yt_fail(err, YT_ENOMEM, "%s: out of memory growing a %zu-byte buffer", r->path, ncap);
      r->own = n;
      r->buf = n;
      r->cap = ncap;
    }
    size_t added;
    int rc = refill(r, &added, err);
    if (rc < 0) return rc;
  }
  return YT_OK;
}

/* ---- the errors both ways share (off = the record's header offset) ---- */

static int header_cut(const yt_tfr_reader *r, uint64_t off, size_t avail, yt_err *err) {
  return yt_fail(err, YT_ECORRUPT,
                 "%s: byte offset %llu (record %llu): " YT_TFR_TRUNCATED
                 ": the file ends %zu bytes into the 12-byte header; the shard was cut short "
                 "(re-copy it)",
                 r->path, (unsigned long long)off, (unsigned long long)r->index, avail);
}

/* The record's length from its header h[12], if the length CRC holds. */
static int header_len(const yt_tfr_reader *r, const uint8_t *h, uint64_t off, uint64_t *len, yt_err *err) {
  uint32_t want = yt_get32(h + 8), got = yt_crc32c_masked(h, 8);
  if (want != got)
    return yt_fail(err, YT_ECORRUPT,
                   "%s: byte offset %llu (record %llu): " YT_TFR_LENGTH_CRC
                   " (stored 0x%08x, computed 0x%08x): not a TFRecord file, or corrupt here",
                   r->path, (unsigned long long)off, (unsigned long long)r->index, want, got);
  *len = yt_get64(h);
  return YT_OK;
}

/* The stream ends inside the record: avail bytes follow its header offset. A
 * length larger than the whole file cannot be a cut-short record: the length
 * field itself is bogus. */
static int short_file(const yt_tfr_reader *r, uint64_t off, uint64_t len, uint64_t avail, yt_err *err) {
  if (len > off + avail)
    return yt_fail(err, YT_ECORRUPT,
                   "%s: byte offset %llu (record %llu): " YT_TFR_BEYOND_EOF
                   " (length %llu, only %llu bytes follow)",
                   r->path, (unsigned long long)off, (unsigned long long)r->index,
                   (unsigned long long)len, (unsigned long long)avail);
  return yt_fail(err, YT_ECORRUPT,
                 "%s: byte offset %llu (record %llu): " YT_TFR_TRUNCATED
                 " (needs %llu bytes, the file ends after %llu): the shard was cut short "
                 "(re-copy it)",
                 r->path, (unsigned long long)off, (unsigned long long)r->index,
                 (unsigned long long)(len + 16), (unsigned long long)avail);
}

static int data_crc(const yt_tfr_reader *r, uint64_t off, uint64_t index, const uint8_t *data, uint64_t len,
                    uint32_t want, yt_err *err) {
  uint32_t got = yt_crc32c_masked(data, (size_t)len);
  if (want == got) return YT_OK;
  return yt_fail(err, YT_ECORRUPT,
                 "%s: byte offset %llu (record %llu): " YT_TFR_DATA_CRC
                 " (stored 0x%08x, computed 0x%08x, %llu data bytes): the record is corrupt",
                 r->path, (unsigned long long)off, (unsigned long long)index, want, got,
                 (unsigned long long)len);
}

/* Never ask for more than could exist: cap before adding to avoid overflow. */
static uint64_t framed(uint64_t len) { return len > (UINT64_MAX >> 2) ? UINT64_MAX >> 2 : len + 16; }

/* The window holds the whole record at start (header, data, footer), whose
 * data length goes to *len; YT_EOF at a clean end. Consumes nothing. */
static int window_frame(yt_tfr_reader *r, uint64_t *len, yt_err *err) {
  int rc;
  if (r->mode != MODE_WINDOW && (rc = setup_window(r, err)) < 0) return rc;
  uint64_t off = r->base + r->start;
  if ((rc = ensure(r, 12, err)) < 0) return rc;
  size_t avail = r->end - r->start;
  if (avail == 0) return YT_EOF;
  if (avail < 12) return header_cut(r, off, avail, err);
  if ((rc = header_len(r, r->buf + r->start, off, len, err)) < 0) return rc;
  uint64_t need = framed(*len);
  if ((rc = ensure(r, need > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)need, err)) < 0) return rc;
  if (need > r->end - r->start) return short_file(r, off, *len, r->end - r->start, err);
  return YT_OK;
}

int yt_tfr_next(yt_tfr_reader *r, yt_tfr_record *rec, yt_err *err) {
  uint64_t len, off = r->base + r->start;
  int rc = window_frame(r, &len, err);
  if (rc != YT_OK) return rc;
  const uint8_t *data = r->buf + r->start + 12;
  if (r->verify && (rc = data_crc(r, off, r->index, data, len, yt_get32(data + len), err)) < 0) return rc;
  rec->data = data;
  rec->len = (size_t)len;
  rec->offset = off;
  rec->index = r->index++;
  r->start += (size_t)len + 16;
  return YT_OK;
}

/* preadv of exactly the bytes iov asks for; fewer only at the end of the file. */
static int preadv_all(yt_tfr_reader *r, struct iovec *iov, int n, uint64_t off, size_t *got, yt_err *err) {
  *got = 0;
  while (n > 0) {
    ssize_t k;
    do k = preadv(r->fd, iov, n, (off_t)off); while (k < 0 && errno == EINTR);
    if (k < 0)
      return yt_fail(err, YT_EIO, "%s: read error at byte %llu: %s", r->path, (unsigned long long)off,
                     strerror(errno));
    if (k == 0) return YT_OK;
    size_t left = (size_t)k;
    *got += left, off += left;
    while (n > 0 && left >= iov->iov_len) left -= iov->iov_len, iov++, n--;
    if (n > 0) iov->iov_base = (uint8_t *)iov->iov_base + left, iov->iov_len -= left;
  }
  return YT_OK;
}

/* Copy mode needs a plain regular file; anything else copies out of the window. */
static bool copy_mode(yt_tfr_reader *r) {
  if (r->mode == MODE_UNSET && r->plain) r->mode = MODE_COPY;
  return r->mode == MODE_COPY;
}

int yt_tfr_peek(yt_tfr_reader *r, size_t *len_out, yt_err *err) {
  int rc;
  uint64_t len;
  if (!copy_mode(r)) { /* the window: check the framing, consume nothing */
    if ((rc = window_frame(r, &len, err)) != YT_OK) return rc;
  } else {
    uint64_t off = r->start, avail = r->size > off ? r->size - off : 0;
    if (!r->have_header) {
      if (avail == 0) return YT_EOF;
      struct iovec v = {r->tail + 4, avail < 12 ? (size_t)avail : 12};
      size_t got;
      if ((rc = preadv_all(r, &v, 1, off, &got, err)) < 0) return rc;
      if (got < 12) return header_cut(r, off, got, err);
      r->have_header = true;
    }
    if ((rc = header_len(r, r->tail + 4, off, &len, err)) < 0) return rc;
    if (framed(len) > avail) return short_file(r, off, len, avail, err);
  }
  *len_out = (size_t)len;
  return YT_OK;
}

int yt_tfr_next_into(yt_tfr_reader *r, void *dst, yt_tfr_record *rec, yt_err *err) {
  size_t len;
  int rc = yt_tfr_peek(r, &len, err);
  if (rc != YT_OK) return rc;
  uint64_t off = r->base + r->start;
  uint32_t want;
  if (r->mode != MODE_COPY) {
    const uint8_t *data = r->buf + r->start + 12;
    memcpy(dst, data, len);
    want = yt_get32(data + len);
    r->start += len + 16;
  } else {
    /* data to dst; footer and the next header (when the file has one) to tail */
    uint64_t after = off + 16 + len, rest = r->size - after;
    struct iovec v[2] = {{dst, len}, {r->tail, rest >= 12 ? 16 : 4}};
    size_t got;
    if ((rc = preadv_all(r, v, 2, off + 12, &got, err)) < 0) return rc;
    if (got < len + 4) return short_file(r, off, len, 12 + got, err); /* the file shrank */
    want = yt_get32(r->tail);
    r->have_header = got == len + 16;
    r->start = (size_t)after;
  }
  rec->data = dst;
  rec->len = len;
  rec->offset = off;
  rec->index = r->index++;
  /* past the record either way, so a caller may skip a damaged one */
  return r->verify ? data_crc(r, off, rec->index, dst, len, want, err) : YT_OK;
}

int yt_tfr_skip(yt_tfr_reader *r, yt_tfr_record *rec, yt_err *err) {
  size_t len;
  int rc = yt_tfr_peek(r, &len, err);
  if (rc != YT_OK) return rc;
  rec->data = NULL;
  rec->len = len;
  rec->offset = r->base + r->start;
  rec->index = r->index++;
  r->start += len + 16; /* peek checked that the whole record is in the file */
  if (r->mode == MODE_COPY) r->have_header = false;
  return YT_OK;
}

bool yt_tfr_is_plain(const yt_tfr_reader *r) { return r->plain; }

void yt_tfr_file_id(const yt_tfr_reader *r, uint64_t *dev, uint64_t *ino) {
  *dev = r->dev;
  *ino = r->ino;
}

/* Records per preadv in yt_tfr_load: three pieces each (header, data, footer)
 * within the usual IOV_MAX of 1024. */
enum { LOAD_BATCH = 340 };

int yt_tfr_load(const yt_tfr_extent *x, uint8_t *dst, bool verify, yt_err *err) {
  /* a reader struct only to share the error messages (path, index) */
  yt_tfr_reader r = {.fd = -1};
  char *path = strndup(x->path, x->path_len);
  if (!path) return yt_fail(err, YT_ENOMEM, "out of memory");
  r.path = path;
  int rc = YT_OK;
  r.fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (r.fd < 0) {
    rc = yt_fail(err, YT_EIO, "%s: cannot open: %s", path, strerror(errno));
    goto out;
  }
  if (fstat(r.fd, &st) != 0 || (uint64_t)st.st_dev != x->dev || (uint64_t)st.st_ino != x->ino) {
    rc = yt_fail(err, YT_EIO, "%s: not the file the reader walked (it was replaced during the run)", path);
    goto out;
  }
  uint8_t hdr[LOAD_BATCH][12], foot[LOAD_BATCH][4];
  struct iovec v[3 * LOAD_BATCH];
  uint64_t off = x->off;
  for (uint32_t i0 = 0; i0 < x->n; i0 += LOAD_BATCH) {
    uint32_t k = x->n - i0 < LOAD_BATCH ? x->n - i0 : LOAD_BATCH;
    uint8_t *d = dst;
    for (uint32_t j = 0; j < k; j++) {
      size_t len = x->len[i0 + j];
      v[3 * j] = (struct iovec){hdr[j], 12};
      v[3 * j + 1] = (struct iovec){d, len};
      v[3 * j + 2] = (struct iovec){foot[j], 4};
      d += len;
    }
    size_t got;
    if ((rc = preadv_all(&r, v, (int)(3 * k), off, &got, err)) < 0) goto out;
    for (uint32_t j = 0; j < k; j++) {
      size_t len = x->len[i0 + j];
      uint64_t l;
      r.index = x->index[i0 + j];
      if (got < 12 + len + 4) { /* the file shrank since the reader walked it */
        rc = got < 12 ? header_cut(&r, off, got, err) : short_file(&r, off, len, got, err);
        goto out;
      }
      if ((rc = header_len(&r, hdr[j], off, &l, err)) < 0) goto out;
      if (l != len) {
        rc = yt_fail(err, YT_ECORRUPT,
                     "%s: byte offset %llu (record %llu): the header says %llu data bytes, %zu when the reader walked "
                     "the file (it changed during the run)",
                     path, (unsigned long long)off, (unsigned long long)r.index, (unsigned long long)l, len);
        goto out;
      }
      if (verify && (rc = data_crc(&r, off, r.index, dst, len, yt_get32(foot[j]), err)) < 0) goto out;
      dst += len, off += len + 16, got -= len + 16;
    }
  }
out:
  if (r.fd >= 0) close(r.fd);
  free(path);
  return rc;
}

/* ------------------------------------------------------------------ writer */

struct yt_tfr_writer {
  char *path, *tmp;
  int fd;
  ZSTD_CCtx *z;
  uint8_t *buf; /* pending plain bytes (or compressed bytes when z) */
  size_t len, cap;
  uint8_t *zout;
};

enum { WBUF = 1 << 20 };

void yt_tfr_frame_header(uint8_t hdr[12], size_t len) {
  uint64_t l = len;
  memcpy(hdr, &l, 8);
  uint32_t c = yt_crc32c_masked(hdr, 8);
  memcpy(hdr + 8, &c, 4);
}

static int write_all(yt_tfr_writer *w, const uint8_t *p, size_t n, yt_err *err) {
  while (n) {
    ssize_t k = write(w->fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return yt_fail(err, YT_EIO, "%s: write failed: %s", w->path, strerror(errno));
    p += k;
    n -= (size_t)k;
  }
  return YT_OK;
}

/* Pushes plain bytes p[n] to the file (through zstd when asked). */
static int push(yt_tfr_writer *w, const uint8_t *p, size_t n, ZSTD_EndDirective mode, yt_err *err) {
  if (!w->z) return write_all(w, p, n, err);
  ZSTD_inBuffer in = {p, n, 0};
  for (;;) {
    ZSTD_outBuffer out = {w->zout, ZSTD_CStreamOutSize(), 0};
    size_t left = ZSTD_compressStream2(w->z, &out, &in, mode);
    if (ZSTD_isError(left))
      return yt_fail(err, YT_EIO, "%s: zstd: %s", w->path, ZSTD_getErrorName(left));
    int rc = write_all(w, w->zout, out.pos, err);
    if (rc < 0) return rc;
    if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return YT_OK;
  }
}

/* Pushes the buffered bytes. */
static int drain(yt_tfr_writer *w, ZSTD_EndDirective mode, yt_err *err) {
  int rc = push(w, w->buf, w->len, mode, err);
  w->len = 0;
  return rc;
}

int yt_tfw_open(yt_tfr_writer **out, const char *path, yt_err *err) {
  *out = NULL;
  yt_tfr_writer *w = calloc(1, sizeof *w);
  if (!w) return yt_fail(err, YT_ENOMEM, "out of memory");
  w->fd = -1;
  w->path = strdup(path);
  /* ".name.tmp.PID" in the same directory: rename() is then atomic. */
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
  size_t n = strlen(path) + 32;
  w->tmp = malloc(n);
  w->cap = WBUF;
  w->buf = malloc(w->cap);
  if (!w->path || !w->tmp || !w->buf) { yt_tfw_abort(w); return yt_fail(err, YT_ENOMEM, "out of memory"); }
  snprintf(w->tmp, n, "%.*s.%s.tmp.%ld", (int)dirlen, path, path + dirlen, (long)getpid());
  if (ends_with(path, ".zst")) {
    w->z = ZSTD_createCCtx();
    w->zout = malloc(ZSTD_CStreamOutSize());
    if (!w->z || !w->zout) { yt_tfw_abort(w); return yt_fail(err, YT_ENOMEM, "out of memory"); }
    ZSTD_CCtx_setParameter(w->z, ZSTD_c_compressionLevel, 3);
  }
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    int rc = yt_fail(err, YT_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
    free(w->tmp);
    w->tmp = NULL; /* nothing to unlink */
    yt_tfw_abort(w);
    return rc;
  }
  *out = w;
  return YT_OK;
}

static int put(yt_tfr_writer *w, const void *p, size_t n, yt_err *err) {
  if (w->len + n > w->cap) {
    int rc = drain(w, ZSTD_e_continue, err);
    if (rc < 0) return rc;
    if (n > w->cap) return push(w, p, n, ZSTD_e_continue, err); /* large payload: straight through */
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
  return YT_OK;
}

int yt_tfw_write(yt_tfr_writer *w, const void *data, size_t len, yt_err *err) {
  uint8_t hdr[12];
  yt_tfr_frame_header(hdr, len);
  uint32_t c = yt_crc32c_masked(data, len);
  int rc;
  if ((rc = put(w, hdr, 12, err)) < 0) return rc;
  if ((rc = put(w, data, len, err)) < 0) return rc;
  return put(w, &c, 4, err);
}

int yt_tfw_close(yt_tfr_writer *w, yt_err *err) {
  int rc = drain(w, ZSTD_e_end, err);
  if (rc == YT_OK && fsync(w->fd) != 0)
    rc = yt_fail(err, YT_EIO, "%s: fsync failed: %s", w->tmp, strerror(errno));
  if (close(w->fd) != 0 && rc == YT_OK)
    rc = yt_fail(err, YT_EIO, "%s: close failed: %s", w->tmp, strerror(errno));
  w->fd = -1;
  if (rc == YT_OK && rename(w->tmp, w->path) != 0)
    rc = yt_fail(err, YT_EIO, "%s: cannot rename into place: %s", w->path, strerror(errno));
  if (rc == YT_OK) { free(w->tmp); w->tmp = NULL; }
  yt_tfw_abort(w);
  return rc;
}

void yt_tfw_abort(yt_tfr_writer *w) {
  if (!w) return;
  if (w->fd >= 0) close(w->fd);
  if (w->tmp) unlink(w->tmp);
  ZSTD_freeCCtx(w->z);
  free(w->zout);
  free(w->buf);
  free(w->tmp);
  free(w->path);
  free(w);
}
