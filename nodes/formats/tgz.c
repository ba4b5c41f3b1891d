/* tgz.c: gzip + ustar bundles: CRC-32, inflate, tar reader, stored-block writer (see tgz.h). */
#include "tgz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/le.h"

/* ------------------------------------------------------------------ CRC-32 (slicing by 8) */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    crc_tab[0][i] = c;
  }
  for (int t = 1; t < 8; t++)
    for (int i = 0; i < 256; i++)
      crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xFF];
}

uint32_t yt_crc32(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&crc_once, crc_init);
  const uint8_t *p = buf;
  uint32_t c = ~crc;
  while (len >= 8) {
    uint32_t a = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    c = crc_tab[7][a & 0xFF] ^ crc_tab[6][(a >> 8) & 0xFF] ^ crc_tab[5][(a >> 16) & 0xFF] ^
        crc_tab[4][a >> 24] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
    p += 8;
    len -= 8;
  }
  while (len--) c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xFF];
  return ~c;
}


/* ------------------------------------------------------------------ inflate (RFC 1951) */

enum { MAXBITS = 15, MAX_OUT_GB = 16 };

/* A one-level lookup table over the next `bits` input bits: entry = symbol << 4 | code length,
 * 0 for a bit pattern no code starts with. */
typedef struct huff {
  uint16_t lut[1 << MAXBITS];
  int bits;
} huff;

typedef struct inf {
  const uint8_t *in;
  size_t n, pos;
  uint64_t bb; /* bit buffer: bc valid bits, LSB first; bits above bc are zero */
  int bc;
  uint8_t *out;
  size_t len, cap, mstart; /* mstart: where this gzip member's output begins */
  const char *name;
  size_t base; /* file offset of in[0], for messages */
  yt_err *err;
  huff lit, dist, cl;
} inf;

static int inf_fail(inf *s, const char *what) {
  return yt_fail(s->err, YT_ECORRUPT, "%s: corrupt deflate data at byte %zu: %s", s->name,
                 s->base + (s->pos * 8 - (size_t)s->bc) / 8, what);
}
static int inf_trunc(inf *s) {
  return yt_fail(s->err, YT_ECORRUPT,
                 "%s: truncated: the deflate stream stops at byte %zu before its final block", s->name,
                 s->base + s->n);
}

static inline void refill(inf *s) {
  while (s->bc <= 56 && s->pos < s->n) {
    s->bb |= (uint64_t)s->in[s->pos++] << s->bc;
    s->bc += 8;
  }
}

static inline int getbits(inf *s, int k, uint32_t *v) {
  *v = 0;
  if (s->bc < k) {
    refill(s);
    if (s->bc < k) return inf_trunc(s);
  }
  *v = (uint32_t)(s->bb & ((1ull << k) - 1));
  s->bb >>= k;
  s->bc -= k;
  return 0;
}

static inline int decode(inf *s, const huff *h, int *sym) {
  *sym = 0;
  if (s->bc < h->bits) refill(s);
  uint16_t e = h->lut[s->bb & ((1u << h->bits) - 1)];
  int l = e & 15;
  if (l == 0) return s->bc < h->bits ? inf_trunc(s) : inf_fail(s, "invalid Huffman code");
  if (l > s->bc) return inf_trunc(s);
  s->bb >>= l;
  s->bc -= l;
  *sym = e >> 4;
  return 0;
}

enum { CODES, LENS, DISTS };

/* Canonical Huffman code from code lengths (RFC 1951 3.2.2). Like zlib: an over-subscribed
 * code is an error; an incomplete one only for lengths/distances with a single 1-bit code. */
static int build(inf *s, huff *h, const uint8_t *len, int n, int kind) {
  int count[MAXBITS + 1] = {0}, maxl = 0;
  for (int i = 0; i < n; i++) {
    count[len[i]]++;
    if (len[i] > maxl) maxl = len[i];
  }
  count[0] = 0;
  h->bits = maxl ? maxl : 1;
  memset(h->lut, 0, sizeof(uint16_t) << h->bits);
  if (maxl == 0) return 0; /* no codes: any use is an error */
  int left = 1;
  for (int l = 1; l <= MAXBITS; l++) {
    left = (left << 1) - count[l];
    if (left < 0) return inf_fail(s, "over-subscribed Huffman code");
  }
  if (left > 0 && (kind == CODES || maxl != 1)) return inf_fail(s, "incomplete Huffman code");
  int next[MAXBITS + 1], code = 0;
  for (int l = 1; l <= MAXBITS; l++) {
    code = (code + count[l - 1]) << 1;
    next[l] = code;
  }
  for (int sym = 0; sym < n; sym++) {
    int l = len[sym];
    if (!l) continue;
    unsigned c = (unsigned)next[l]++, r = 0;
    for (int i = 0; i < l; i++) r |= ((c >> i) & 1u) << (l - 1 - i);
    for (unsigned i = r; i < (1u << h->bits); i += 1u << l) h->lut[i] = (uint16_t)(sym << 4 | l);
  }
  return 0;
}

static int grow(inf *s, size_t need) {
  if (s->cap - s->len >= need) return 0;
  size_t c = s->cap ? s->cap : 1 << 16;
  while (c - s->len < need) c *= 2;
  if (c > ((size_t)MAX_OUT_GB << 30)) {
    if (s->len + need > ((size_t)MAX_OUT_GB << 30))
      return yt_fail(s->err, YT_EINVAL, "%s: decompresses to more than %d GiB: refusing", s->name,
                     MAX_OUT_GB);
    c = (size_t)MAX_OUT_GB << 30;
  }
  uint8_t *o = realloc(s->out, c);
  if (!o) return yt_fail(s->err, YT_ENOMEM, "%s: out of memory decompressing (%zu bytes)", s->name, c);
  s->out = o;
  s->cap = c;
  return 0;
}

static const uint16_t LBASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LEXT[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t DBASE[30] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                   33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                   1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t DEXT[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Literals and matches until end-of-block, with s->lit and s->dist. */
static int codes(inf *s) {
  for (;;) {
    int sym, rc;
    if ((rc = grow(s, 258)) < 0) return rc;
    if ((rc = decode(s, &s->lit, &sym)) < 0) return rc;
    if (sym < 256) {
      s->out[s->len++] = (uint8_t)sym;
      continue;
    }
    if (sym == 256) return 0;
    sym -= 257;
    if (sym >= 29) return inf_fail(s, "invalid length symbol");
    uint32_t x, len, dist;
    if ((rc = getbits(s, LEXT[sym], &x)) < 0) return rc;
    len = LBASE[sym] + x;
    if ((rc = decode(s, &s->dist, &sym)) < 0) return rc;
    if (sym >= 30) return inf_fail(s, "invalid distance symbol");
    if ((rc = getbits(s, DEXT[sym], &x)) < 0) return rc;
    dist = DBASE[sym] + x;
    if (dist > s->len - s->mstart) return inf_fail(s, "distance too far back");
    uint8_t *d = s->out + s->len;
    const uint8_t *from = d - dist;
    if (dist >= len)
      memcpy(d, from, len);
    else
      for (uint32_t i = 0; i < len; i++) d[i] = from[i];
    s->len += len;
  }
}

static int stored(inf *s) {
  s->bb >>= s->bc & 7; /* to the byte boundary, then give back whole buffered bytes */
  s->bc -= s->bc & 7;
  s->pos -= (size_t)s->bc / 8;
  s->bb = 0;
  s->bc = 0;
  if (s->n - s->pos < 4) return inf_trunc(s);
  unsigned len = s->in[s->pos] | s->in[s->pos + 1] << 8, nlen = s->in[s->pos + 2] | s->in[s->pos + 3] << 8;
  if (len != (~nlen & 0xFFFFu)) return inf_fail(s, "stored block length does not match its complement");
  s->pos += 4;
  if (s->n - s->pos < len) return inf_trunc(s);
  int rc = grow(s, len);
  if (rc < 0) return rc;
  memcpy(s->out + s->len, s->in + s->pos, len);
  s->len += len;
  s->pos += len;
  return 0;
}

static int fixed(inf *s) {
  uint8_t l[288];
  memset(l, 8, 144);
  memset(l + 144, 9, 112);
  memset(l + 256, 7, 24);
  memset(l + 280, 8, 8);
  int rc = build(s, &s->lit, l, 288, LENS);
  memset(l, 5, 32);
  if (rc == 0) rc = build(s, &s->dist, l, 32, DISTS);
  return rc < 0 ? rc : codes(s);
}

static int dynamic(inf *s) {
  static const uint8_t ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  uint32_t hlit, hdist, hclen, v;
  int rc;
  if ((rc = getbits(s, 5, &hlit)) < 0 || (rc = getbits(s, 5, &hdist)) < 0 || (rc = getbits(s, 4, &hclen)) < 0)
    return rc;
  hlit += 257;
  hdist += 1;
  hclen += 4;
  if (hlit > 286 || hdist > 30) return inf_fail(s, "too many length or distance codes");
  uint8_t cl[19] = {0}, lens[286 + 30] = {0};
  for (uint32_t i = 0; i < hclen; i++) {
    if ((rc = getbits(s, 3, &v)) < 0) return rc;
    cl[ORDER[i]] = (uint8_t)v;
  }
  if ((rc = build(s, &s->cl, cl, 19, CODES)) < 0) return rc;
  for (uint32_t i = 0; i < hlit + hdist;) {
    int sym;
    if ((rc = decode(s, &s->cl, &sym)) < 0) return rc;
    if (sym < 16) {
      lens[i++] = (uint8_t)sym;
      continue;
    }
    uint8_t val = 0;
    uint32_t rep;
    if (sym == 16) {
      if (i == 0) return inf_fail(s, "repeat code with no previous length");
      val = lens[i - 1];
      if ((rc = getbits(s, 2, &rep)) < 0) return rc;
      rep += 3;
    } else if (sym == 17) {
      if ((rc = getbits(s, 3, &rep)) < 0) return rc;
      rep += 3;
    } else {
      if ((rc = getbits(s, 7, &rep)) < 0) return rc;
      rep += 11;
    }
    if (i + rep > hlit + hdist) return inf_fail(s, "code lengths overrun the table");
    while (rep--) lens[i++] = val;
  }
  if (lens[256] == 0) return inf_fail(s, "no end-of-block code");
  if ((rc = build(s, &s->lit, lens, (int)hlit, LENS)) < 0) return rc;
  if ((rc = build(s, &s->dist, lens + hlit, (int)hdist, DISTS)) < 0) return rc;
  return codes(s);
}

/* One deflate stream from s->in; on success s->pos is the first byte after it. */
static int inflate_stream(inf *s) {
  s->pos = 0;
  s->bb = 0;
  s->bc = 0;
  uint32_t last = 0, type;
  while (!last) {
    int rc;
    if ((rc = getbits(s, 1, &last)) < 0 || (rc = getbits(s, 2, &type)) < 0) return rc;
    if (type == 0)
      rc = stored(s);
    else if (type == 1)
      rc = fixed(s);
    else if (type == 2)
      rc = dynamic(s);
    else
      rc = inf_fail(s, "invalid block type 3");
    if (rc < 0) return rc;
  }
  s->bb >>= s->bc & 7;
  s->bc -= s->bc & 7;
  s->pos -= (size_t)s->bc / 8;
  s->bc = 0;
  return 0;
}

/* ------------------------------------------------------------------ gzip (RFC 1952) */

int yt_gunzip(const uint8_t *gz, size_t len, const char *name, uint8_t **out, size_t *out_len, yt_err *err) {
  *out = NULL;
  *out_len = 0;
  inf *s = calloc(1, sizeof *s);
  if (!s) return yt_fail(err, YT_ENOMEM, "%s: out of memory", name);
  s->name = name;
  s->err = err;
  int rc = YT_OK;
  if (len >= 18) { /* size hint: the last member's ISIZE, within deflate's 1032:1 bound */
    size_t hint = yt_get32(gz + len - 4);
    if (hint / 1032 <= len && (rc = grow(s, hint + 1)) < 0) goto fail;
  }
  size_t p = 0, members = 0;
  while (p < len || members == 0) {
    if (members) {
      size_t z = p;
      while (z < len && gz[z] == 0) z++;
      if (z == len) break; /* zero padding after the last member (tape blocking): ignored, as gzip does */
      if (len - p < 2 || gz[p] != 0x1f || gz[p + 1] != 0x8b) {
        rc = yt_fail(err, YT_ECORRUPT, "%s: trailing garbage after the gzip data at byte %zu", name, p);
        goto fail;
      }
    }
    if (len - p < 10) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: truncated: %zu bytes at byte %zu, a gzip header needs 10", name,
                   len - p, p);
      goto fail;
    }
    const uint8_t *h = gz + p;
    if (h[0] != 0x1f || h[1] != 0x8b) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: not gzip data (bytes %02x %02x at byte %zu)", name, h[0], h[1], p);
      goto fail;
    }
    if (h[2] != 8 || (h[3] & 0xE0)) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: unsupported gzip header at byte %zu (method %u, flags 0x%02x)",
                   name, p, h[2], h[3]);
      goto fail;
    }
    size_t q = p + 10;
    if (h[3] & 4) { /* FEXTRA */
      size_t x = q + 2 <= len ? (size_t)(gz[q] | gz[q + 1] << 8) : 0;
      q = q + 2 <= len ? q + 2 + x : len + 1;
    }
    for (int f = 8; f <= 16; f *= 2) /* FNAME, FCOMMENT: NUL-terminated */
      if (h[3] & f) {
        while (q < len && gz[q]) q++;
        q++;
      }
    if (h[3] & 2) { /* FHCRC */
      if (q + 2 <= len && (yt_crc32(0, h, q - p) & 0xFFFF) != (uint32_t)(gz[q] | gz[q + 1] << 8)) {
        rc = yt_fail(err, YT_ECORRUPT, "%s: gzip header CRC mismatch at byte %zu", name, q);
        goto fail;
      }
      q += 2;
    }
    if (q > len) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: truncated: the gzip header at byte %zu runs past the end", name, p);
      goto fail;
    }
    s->in = gz + q;
    s->n = len - q;
    s->base = q;
    s->mstart = s->len;
    if ((rc = inflate_stream(s)) < 0) goto fail;
    q += s->pos;
    if (len - q < 8) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: truncated: the gzip trailer at byte %zu needs 8 bytes, %zu left",
                   name, q, len - q);
      goto fail;
    }
    uint32_t crc = yt_crc32(0, s->out + s->mstart, s->len - s->mstart), want = yt_get32(gz + q);
    if (crc != want) {
      rc = yt_fail(err, YT_ECORRUPT,
                   "%s: CRC mismatch in the gzip trailer at byte %zu: stored %08x, data %08x", name, q, want,
                   crc);
      goto fail;
    }
    if (yt_get32(gz + q + 4) != (uint32_t)(s->len - s->mstart)) {
      rc = yt_fail(err, YT_ECORRUPT,
                   "%s: length mismatch in the gzip trailer at byte %zu: stored %u, data %zu", name, q + 4,
                   yt_get32(gz + q + 4), s->len - s->mstart);
      goto fail;
    }
    p = q + 8;
    members++;
  }
  *out = s->out ? s->out : malloc(1);
  *out_len = s->len;
  free(s);
  return *out ? YT_OK : yt_fail(err, YT_ENOMEM, "%s: out of memory", name);
fail:
  free(s->out);
  free(s);
  return rc;
}

/* ------------------------------------------------------------------ tar reader */

/* An octal field (leading spaces, digits, then NUL/space), or GNU base-256 (high bit set). */
static bool tar_num(const uint8_t *f, size_t n, uint64_t *v) {
  *v = 0;
  if (f[0] & 0x80) {
    if (f[0] != 0x80) return false; /* negative or too large */
    for (size_t i = 1; i < n; i++) {
      if (*v >> 55) return false;
      *v = *v << 8 | f[i];
    }
    return true;
  }
  size_t i = 0;
  while (i < n && f[i] == ' ') i++;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
    if (*v >> 60) return false;
    *v = *v << 3 | (uint64_t)(f[i] - '0');
  }
  for (; i < n; i++)
    if (f[i] != ' ' && f[i] != 0) return false;
  return true;
}

/* Normalises a member name in place: drops leading "./" and trailing '/'. Rejects absolute
 * names and ".." components. *empty when nothing is left (the archive's "./" entry). */
static int tar_name(char *nm, const char *arch, size_t off, yt_err *err) {
  if (nm[0] == '/')
    return yt_fail(err, YT_EINVAL, "%s: entry at tar byte %zu has an absolute name '%s': refusing", arch, off,
                   nm);
  char *p = nm;
  while (p[0] == '.' && (p[1] == '/' || p[1] == 0)) {
    p += p[1] ? 2 : 1;
    while (*p == '/') p++;
  }
  memmove(nm, p, strlen(p) + 1);
  size_t n = strlen(nm);
  while (n && nm[n - 1] == '/') nm[--n] = 0;
  for (const char *c = nm; *c;) {
    const char *e = strchr(c, '/');
    size_t k = e ? (size_t)(e - c) : strlen(c);
    if (k == 2 && c[0] == '.' && c[1] == '.')
      return yt_fail(err, YT_EINVAL, "%s: entry at tar byte %zu has a '..' in its name '%s': refusing", arch,
                     off, nm);
    c += k + (e ? 1 : 0);
  }
  return YT_OK;
}

void yt_tgz_free(yt_tgz *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n; i++) free((char *)t->entry[i].name);
  free(t->entry);
  free(t->tar);
  free(t);
}

const yt_tgz_entry *yt_tgz_find(const yt_tgz *t, const char *name) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->entry[i].name, name) == 0) return &t->entry[i];
  return NULL;
}

/* "LEN key=value\n" records; takes path= into *path (malloc'd) and size= into *size. */
static int pax(const uint8_t *d, size_t n, char **path, uint64_t *size, bool *has_size, const char *arch,
               size_t off, yt_err *err) {
  size_t i = 0;
  while (i < n && d[i]) {
    size_t len = 0, j = i;
    while (j < n && d[j] >= '0' && d[j] <= '9' && len < n) len = len * 10 + (size_t)(d[j++] - '0');
    if (j >= n || d[j] != ' ' || len == 0 || len > n - i || d[i + len - 1] != '\n')
      return yt_fail(err, YT_ECORRUPT, "%s: malformed pax header at tar byte %zu", arch, off);
    const char *kv = (const char *)d + j + 1;
    size_t kvn = i + len - 1 - (j + 1);
    const char *eq = memchr(kv, '=', kvn);
    if (eq && (size_t)(eq - kv) == 4 && memcmp(kv, "path", 4) == 0) {
      free(*path);
      if (!(*path = strndup(eq + 1, kvn - 5))) return yt_fail(err, YT_ENOMEM, "out of memory");
    } else if (eq && (size_t)(eq - kv) == 4 && memcmp(kv, "size", 4) == 0) {
      char b[32];
      size_t k = kvn - 5 < sizeof b - 1 ? kvn - 5 : sizeof b - 1;
      memcpy(b, eq + 1, k);
      b[k] = 0;
      char *e;
      *size = strtoull(b, &e, 10);
      if (*e || !k) return yt_fail(err, YT_ECORRUPT, "%s: bad pax size at tar byte %zu", arch, off);
      *has_size = true;
    }
    i += len;
  }
  return YT_OK;
}

static int tar_parse(yt_tgz *t, const char *arch, yt_err *err) {
  const uint8_t *b = t->tar;
  size_t n = t->tar_len, off = 0, cap = 0;
  char *longname = NULL;
  uint64_t pax_size = 0;
  bool has_pax_size = false, ended = false;
  int rc = YT_OK;
  while (n - off >= 512) {
    const uint8_t *h = b + off;
    size_t z = 0;
    while (z < 512 && h[z] == 0) z++;
    if (z == 512) {
      ended = true;
      break;
    }
    uint64_t sum = 0, stored, size;
    int64_t ssum = 0;
    for (int i = 0; i < 512; i++) {
      uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
      sum += c;
      ssum += (int8_t)c;
    }
    if (!tar_num(h + 148, 8, &stored) || (stored != sum && (int64_t)stored != ssum)) {
      rc = yt_fail(err, YT_ECORRUPT,
                   "%s: bad tar header checksum at tar byte %zu (corrupt, or not a tar archive)", arch, off);
      goto out;
    }
    if (!tar_num(h + 124, 12, &size)) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: bad size field in the tar header at tar byte %zu", arch, off);
      goto out;
    }
    if (has_pax_size) size = pax_size;
    has_pax_size = false;
    char type = (char)h[156];
    size_t data = off + 512;
    if (size > n - data) {
      rc = yt_fail(err, YT_ECORRUPT,
                   "%s: truncated: the tar entry at tar byte %zu needs %llu bytes, %zu are left", arch, off,
                   (unsigned long long)size, n - data);
      goto out;
    }
    size_t next = data + (size_t)((size + 511) / 512 * 512);
    if (next > n) next = n;
    if (type == 'L' || type == 'x') {
      char *p = NULL;
      if (type == 'L') {
        p = strndup((const char *)b + data, (size_t)size);
        if (!p) {
          rc = yt_fail(err, YT_ENOMEM, "out of memory");
          goto out;
        }
      } else if ((rc = pax(b + data, (size_t)size, &p, &pax_size, &has_pax_size, arch, off, err)) < 0) {
        goto out;
      }
      if (p) {
        free(longname);
        longname = p;
      }
      off = next;
      continue;
    }
    if (type == 'g') {
      off = next;
      continue;
    }
    char *name;
    if (longname) {
      name = longname;
      longname = NULL;
    } else {
      char tmp[256 + 1];
      const char *nm = (const char *)h, *prefix = (const char *)h + 345;
      bool ustar = memcmp(h + 257, "ustar\0", 6) == 0;
      if (ustar && prefix[0])
        snprintf(tmp, sizeof tmp, "%.155s/%.100s", prefix, nm);
      else
        snprintf(tmp, sizeof tmp, "%.100s", nm);
      if (!(name = strdup(tmp))) {
        rc = yt_fail(err, YT_ENOMEM, "out of memory");
        goto out;
      }
    }
    if ((rc = tar_name(name, arch, off, err)) < 0) {
      free(name);
      goto out;
    }
    if (type == '5') {
      free(name);
      off = next;
      continue;
    }
    if (type != '0' && type != 0 && type != '7') {
      const char *what = type == '1' ? "a hard link" : type == '2' ? "a symbolic link" : "a special file";
      rc = yt_fail(err, YT_EINVAL,
                   "%s: entry '%s' at tar byte %zu is %s (type '%c'): only regular files are supported", arch,
                   name, off, what, type ? type : '0');
      free(name);
      goto out;
    }
    if (!name[0]) {
      rc = yt_fail(err, YT_ECORRUPT, "%s: a file entry at tar byte %zu has an empty name", arch, off);
      free(name);
      goto out;
    }
    uint64_t mt = 0;
    tar_num(h + 136, 12, &mt);
    yt_tgz_entry e = {name, b + data, (size_t)size, (int64_t)mt};
    yt_tgz_entry *old = (yt_tgz_entry *)yt_tgz_find(t, name);
    if (old) { /* a later copy replaces an earlier one, as tar does */
      free((char *)old->name);
      *old = e;
    } else {
      if (t->n == cap) {
        cap = cap ? 2 * cap : 8;
        yt_tgz_entry *ne = realloc(t->entry, cap * sizeof *ne);
        if (!ne) {
          free(name);
          rc = yt_fail(err, YT_ENOMEM, "out of memory");
          goto out;
        }
        t->entry = ne;
      }
      t->entry[t->n++] = e;
    }
    off = next;
  }
  if (!ended)
    rc = yt_fail(err, YT_ECORRUPT,
                 "%s: truncated: the tar stream ends at tar byte %zu without its end-of-archive block", arch,
                 n);
out:
  free(longname);
  return rc;
}

int yt_tgz_read_mem(yt_tgz **out, const uint8_t *gz, size_t len, const char *name, yt_err *err) {
  *out = NULL;
  yt_tgz *t = calloc(1, sizeof *t);
  if (!t) return yt_fail(err, YT_ENOMEM, "out of memory");
  int rc = yt_gunzip(gz, len, name, &t->tar, &t->tar_len, err);
  if (rc == YT_OK) rc = tar_parse(t, name, err);
  if (rc < 0) {
    yt_tgz_free(t);
    return rc;
  }
  *out = t;
  return YT_OK;
}

int yt_tgz_read(yt_tgz **out, const char *path, yt_err *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return yt_fail(err, YT_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return yt_fail(err, YT_EIO, "%s: not a regular file", path);
  }
  size_t len = (size_t)st.st_size;
  void *m = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
  close(fd);
  if (m == MAP_FAILED) return yt_fail(err, YT_EIO, "%s: cannot map: %s", path, strerror(errno));
  int rc = yt_tgz_read_mem(out, m ? m : (const void *)"", len, path, err);
  if (m) munmap(m, len);
  return rc;
}

static int mkdir_p(char *p, yt_err *err) {
  size_t n = strlen(p);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    char c = p[i];
    p[i] = 0;
    int ok = mkdir(p, 0755) == 0 || errno == EEXIST;
    if (!ok) {
      int rc = yt_fail(err, YT_EIO, "%s: cannot create directory: %s", p, strerror(errno));
      p[i] = c;
      return rc;
    }
    p[i] = c;
  }
  return YT_OK;
}

int yt_tgz_extract(const char *path, const char *dir, size_t *n_files, yt_err *err) {
  if (n_files) *n_files = 0;
  yt_tgz *t;
  int rc = yt_tgz_read(&t, path, err);
  if (rc < 0) return rc;
  char full[8192];
  snprintf(full, sizeof full, "%s", dir);
  if ((rc = mkdir_p(full, err)) < 0) goto out;
  for (size_t i = 0; i < t->n; i++) {
    const yt_tgz_entry *e = &t->entry[i];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, e->name) >= sizeof full) {
      rc = yt_fail(err, YT_EINVAL, "%s: entry '%s': path too long under %s", path, e->name, dir);
      goto out;
    }
    char *slash = strrchr(full, '/');
    *slash = 0;
    rc = mkdir_p(full, err);
    *slash = '/';
    if (rc < 0) goto out;
    int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      rc = yt_fail(err, YT_EIO, "%s: cannot create: %s", full, strerror(errno));
      goto out;
    }
    size_t done = 0;
    while (done < e->len) {
      ssize_t k = write(fd, e->data + done, e->len - done);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        rc = yt_fail(err, YT_EIO, "%s: write failed: %s", full, strerror(errno));
        close(fd);
        goto out;
      }
      done += (size_t)k;
    }
    if (close(fd) != 0) {
      rc = yt_fail(err, YT_EIO, "%s: close failed: %s", full, strerror(errno));
      goto out;
    }
    if (n_files) (*n_files)++;
  }
out:
  yt_tgz_free(t);
  return rc;
}

/* ------------------------------------------------------------------ writer */

enum { STORED_MAX = 65535, TAR_RECORD = 10240 };

struct yt_tgz_writer {
  char *path, *tmp;
  FILE *f;
  uint8_t blk[STORED_MAX];
  size_t blen;
  uint32_t crc;
  uint64_t total; /* uncompressed (tar) bytes */
  int64_t mtime;
  char **names;
  size_t nn, ncap;
  bool broken; /* an entry was half written */
};

static int emit_block(yt_tgz_writer *w, int last, yt_err *err) {
  uint8_t h[5] = {(uint8_t)last, (uint8_t)w->blen, (uint8_t)(w->blen >> 8), (uint8_t)~w->blen,
                  (uint8_t)(~w->blen >> 8)};
  if (fwrite(h, 1, 5, w->f) != 5 || (w->blen && fwrite(w->blk, 1, w->blen, w->f) != w->blen))
    return yt_fail(err, YT_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
  w->blen = 0;
  return YT_OK;
}

static int gz_put(yt_tgz_writer *w, const void *p, size_t n, yt_err *err) {
  const uint8_t *b = p;
  w->crc = yt_crc32(w->crc, b, n);
  w->total += n;
  while (n) {
    size_t k = STORED_MAX - w->blen < n ? STORED_MAX - w->blen : n;
    memcpy(w->blk + w->blen, b, k);
    w->blen += k;
    b += k;
    n -= k;
    if (w->blen == STORED_MAX) {
      int rc = emit_block(w, 0, err);
      if (rc < 0) return rc;
    }
  }
  return YT_OK;
}

static int gz_zeros(yt_tgz_writer *w, size_t n, yt_err *err) {
  static const uint8_t z[512];
  while (n) {
    size_t k = n < 512 ? n : 512;
    int rc = gz_put(w, z, k, err);
    if (rc < 0) return rc;
    n -= k;
  }
  return YT_OK;
}

int yt_tgz_writer_open(yt_tgz_writer **out, const char *path, yt_err *err) {
  *out = NULL;
  yt_tgz_writer *w = calloc(1, sizeof *w);
  if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(strlen(path) + 5))) {
    if (w) free(w->path);
    free(w);
    return yt_fail(err, YT_ENOMEM, "out of memory");
  }
  sprintf(w->tmp, "%s.tmp", path);
  w->mtime = (int64_t)time(NULL);
  if (!(w->f = fopen(w->tmp, "wb"))) {
    int rc = yt_fail(err, YT_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
    free(w->tmp);
    free(w->path);
    free(w);
    return rc;
  }
  uint32_t mt = (uint32_t)w->mtime;
  uint8_t h[10] = {
      0x1f, 0x8b, 8, 0, (uint8_t)mt, (uint8_t)(mt >> 8), (uint8_t)(mt >> 16), (uint8_t)(mt >> 24), 0, 3};
  if (fwrite(h, 1, 10, w->f) != 10) {
    int rc = yt_fail(err, YT_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
    yt_tgz_writer_abort(w);
    return rc;
  }
  *out = w;
  return YT_OK;
}

void yt_tgz_writer_set_mtime(yt_tgz_writer *w, int64_t mtime) {
  w->mtime = mtime;
}

void yt_tgz_writer_abort(yt_tgz_writer *w) {
  if (!w) return;
  if (w->f) fclose(w->f);
  if (w->tmp) unlink(w->tmp);
  for (size_t i = 0; i < w->nn; i++) free(w->names[i]);
  free(w->names);
  free(w->tmp);
  free(w->path);
  free(w);
}

static int begin_entry(yt_tgz_writer *w, const char *name, uint64_t size, yt_err *err) {
  size_t nl = name ? strlen(name) : 0;
  if (w->broken) return yt_fail(err, YT_EINVAL, "%s: an earlier entry failed half written", w->path);
  if (nl == 0 || nl > 100 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return yt_fail(err, YT_EINVAL, "%s: entry name '%s' must be a flat file name of 1..100 bytes", w->path,
                   name ? name : "");
  for (size_t i = 0; i < w->nn; i++)
    if (strcmp(w->names[i], name) == 0)
      return yt_fail(err, YT_EINVAL, "%s: entry '%s' added twice", w->path, name);
  if (w->nn == w->ncap) {
    size_t c = w->ncap ? 2 * w->ncap : 8;
    char **nn = realloc(w->names, c * sizeof *nn);
    if (!nn) return yt_fail(err, YT_ENOMEM, "out of memory");
    w->names = nn;
    w->ncap = c;
  }
  if (!(w->names[w->nn] = strdup(name))) return yt_fail(err, YT_ENOMEM, "out of memory");
  w->nn++;
  char h[512];
  memset(h, 0, sizeof h);
  memcpy(h, name, nl);
  snprintf(h + 100, 8, "%07o", 0644);
  snprintf(h + 108, 8, "%07o", 0);
  snprintf(h + 116, 8, "%07o", 0);
  if (size <= 077777777777ull) {
    snprintf(h + 124, 12, "%011llo", (unsigned long long)size);
  } else { /* GNU base-256, read by GNU tar, bsdtar and Python */
    h[124] = (char)0x80;
    for (int i = 0; i < 8; i++) h[135 - i] = (char)(size >> (8 * i));
  }
  snprintf(h + 136, 12, "%011llo", (unsigned long long)(w->mtime > 0 ? w->mtime : 0) & 077777777777ull);
  memset(h + 148, ' ', 8);
  h[156] = '0';
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += (uint8_t)h[i];
  snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  w->broken = true; /* until the entry's data and padding are in */
  return gz_put(w, h, 512, err);
}

static int end_entry(yt_tgz_writer *w, uint64_t size, yt_err *err) {
  int rc = gz_zeros(w, (size_t)((512 - size % 512) % 512), err);
  if (rc == YT_OK) w->broken = false;
  return rc;
}

int yt_tgz_writer_add(yt_tgz_writer *w, const char *name, const void *data, size_t len, yt_err *err) {
  int rc = begin_entry(w, name, len, err);
  if (rc == YT_OK) rc = gz_put(w, data, len, err);
  if (rc == YT_OK) rc = end_entry(w, len, err);
  return rc;
}

int yt_tgz_writer_add_file(yt_tgz_writer *w, const char *name, const char *src, yt_err *err) {
  FILE *f = fopen(src, "rb");
  if (!f) return yt_fail(err, YT_EIO, "%s: cannot open: %s", src, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return yt_fail(err, YT_EIO, "%s: not a regular file", src);
  }
  uint64_t size = (uint64_t)st.st_size, done = 0;
  int rc = begin_entry(w, name, size, err);
  uint8_t *buf = rc == YT_OK ? malloc(1 << 20) : NULL;
  if (rc == YT_OK && !buf) rc = yt_fail(err, YT_ENOMEM, "out of memory");
  while (rc == YT_OK && done < size) {
    size_t want = size - done < (1u << 20) ? (size_t)(size - done) : (1u << 20);
    size_t k = fread(buf, 1, want, f);
    if (k == 0) {
      rc = ferror(f) ? yt_fail(err, YT_EIO, "%s: read failed: %s", src, strerror(errno))
                     : yt_fail(err, YT_EIO, "%s: shrank while being added (%llu of %llu bytes)", src,
                               (unsigned long long)done, (unsigned long long)size);
      break;
    }
    rc = gz_put(w, buf, k, err);
    done += k;
  }
  if (rc == YT_OK) rc = end_entry(w, size, err);
  free(buf);
  fclose(f);
  return rc;
}

int yt_tgz_writer_close(yt_tgz_writer *w, yt_err *err) {
  int rc =
      w->broken ? yt_fail(err, YT_EINVAL, "%s: an entry failed half written; not finishing", w->path) : YT_OK;
  /* End of archive: two zero blocks, then zeros to a whole 10240-byte record as tar does. */
  if (rc == YT_OK) rc = gz_zeros(w, 1024, err);
  if (rc == YT_OK) rc = gz_zeros(w, (size_t)((TAR_RECORD - w->total % TAR_RECORD) % TAR_RECORD), err);
  if (rc == YT_OK) rc = emit_block(w, 1, err);
  uint8_t t[8];
  for (int i = 0; i < 4; i++) {
    t[i] = (uint8_t)(w->crc >> (8 * i));
    t[4 + i] = (uint8_t)(w->total >> (8 * i));
  }
  if (rc == YT_OK && fwrite(t, 1, 8, w->f) != 8)
    rc = yt_fail(err, YT_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
  if (rc == YT_OK && fflush(w->f) != 0)
    rc = yt_fail(err, YT_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
  if (rc == YT_OK && fsync(fileno(w->f)) != 0)
    rc = yt_fail(err, YT_EIO, "%s: fsync failed: %s", w->tmp, strerror(errno));
  if (fclose(w->f) != 0 && rc == YT_OK)
    rc = yt_fail(err, YT_EIO, "%s: close failed: %s", w->tmp, strerror(errno));
  w->f = NULL;
  if (rc == YT_OK && rename(w->tmp, w->path) != 0)
    rc = yt_fail(err, YT_EIO, "%s: cannot rename %s into place: %s", w->path, w->tmp, strerror(errno));
  if (rc == YT_OK) {
    char dir[4096];
    const char *slash = strrchr(w->path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - w->path) + 1 : 1, slash ? w->path : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    free(w->tmp);
    w->tmp = NULL; /* nothing to unlink */
  }
  yt_tgz_writer_abort(w);
  return rc;
}
