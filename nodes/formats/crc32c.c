/* crc32c.c: CRC-32C, portable (slicing-by-8) and SSE4.2 (3-way interleaved).
 *
 * The hardware path splits a long buffer into three equal blocks, runs a crc32
 * chain on each at once (the instruction has a latency of 3 cycles but a
 * throughput of 1), then joins them by "shifting" a CRC over a block of zero
 * bytes, a linear map precomputed as four 256-entry tables (the zlib
 * crc32_combine construction). Registers hold the raw, non-inverted state. */
#include "crc32c.h"

#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t table8[8][256];    /* slicing-by-8 */
static uint32_t shift_long[4][256]; /* operator: append LONG zero bytes */
static uint32_t shift_short[4][256];
enum { LONG = 8192, SHORT = 256 };

/* ---- GF(2) operators on 32-bit CRC states (zlib's crc32_combine idea) ---- */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
  uint32_t sum = 0;
  for (; vec; vec >>= 1, mat++)
    if (vec & 1) sum ^= *mat;
  return sum;
}
static void gf2_square(uint32_t *sq, const uint32_t *mat) {
  for (int n = 0; n < 32; n++) sq[n] = gf2_times(mat, mat[n]);
}
/* Builds in op[32] the map "feed len zero bytes" for the raw register. */
static void zeros_op(uint32_t *op, size_t len) {
  uint32_t odd[32], even[32];
  odd[0] = POLY; /* one zero bit */
  for (int n = 1; n < 32; n++) odd[n] = 1u << (n - 1);
  gf2_square(even, odd); /* two bits */
  gf2_square(odd, even); /* four bits */
  /* odd now = 4 bits; square on to 1 byte and on, multiplying in set bits. */
  int first = 1;
  uint32_t *cur = odd, *nxt = even;
  gf2_square(nxt, cur); /* 8 bits = 1 byte */
  { uint32_t *t = cur; cur = nxt; nxt = t; }
  for (;;) {
    if (len & 1) {
      if (first) { memcpy(op, cur, sizeof odd); first = 0; }
      else {
        uint32_t tmp[32];
        for (int n = 0; n < 32; n++) tmp[n] = gf2_times(cur, op[n]);
        memcpy(op, tmp, sizeof tmp);
      }
    }
    len >>= 1;
    if (!len) break;
    gf2_square(nxt, cur);
    uint32_t *t = cur; cur = nxt; nxt = t;
  }
}
static void zeros_table(uint32_t tab[4][256], size_t len) {
  uint32_t op[32];
  zeros_op(op, len);
  for (uint32_t n = 0; n < 256; n++) {
    tab[0][n] = gf2_times(op, n);
    tab[1][n] = gf2_times(op, n << 8);
    tab[2][n] = gf2_times(op, n << 16);
    tab[3][n] = gf2_times(op, n << 24);
  }
}
static inline uint32_t shift(uint32_t tab[4][256], uint32_t crc) {
  return tab[0][crc & 0xff] ^ tab[1][(crc >> 8) & 0xff] ^ tab[2][(crc >> 16) & 0xff] ^
         tab[3][crc >> 24];
}

static void init_tables(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
    table8[0][n] = c;
  }
  for (uint32_t n = 0; n < 256; n++)
    for (int k = 1; k < 8; k++) table8[k][n] = (table8[k - 1][n] >> 8) ^ table8[0][table8[k - 1][n] & 0xff];
  zeros_table(shift_long, LONG);
  zeros_table(shift_short, SHORT);
}
static pthread_once_t once = PTHREAD_ONCE_INIT;

uint32_t yt_crc32c_portable(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&once, init_tables);
  const unsigned char *p = buf;
  uint32_t c = ~crc;
  while (len && ((uintptr_t)p & 7)) { c = (c >> 8) ^ table8[0][(c ^ *p++) & 0xff]; len--; }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8); /* little-endian hosts only (x86-64, aarch64) */
    w ^= c;
    c = table8[7][w & 0xff] ^ table8[6][(w >> 8) & 0xff] ^ table8[5][(w >> 16) & 0xff] ^
        table8[4][(w >> 24) & 0xff] ^ table8[3][(w >> 32) & 0xff] ^ table8[2][(w >> 40) & 0xff] ^
        table8[1][(w >> 48) & 0xff] ^ table8[0][w >> 56];
    p += 8; len -= 8;
  }
  while (len--) c = (c >> 8) ^ table8[0][(c ^ *p++) & 0xff];
  return ~c;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/* Three chains over blocks of `blk` bytes each; returns the joined raw state. */
__attribute__((target("sse4.2"))) static inline uint64_t hw_3way(
    uint64_t c0, const unsigned char **pp, size_t blk, uint32_t tab[4][256]) {
  const unsigned char *p = *pp;
  uint64_t c1 = 0, c2 = 0;
  const unsigned char *end = p + blk;
  do {
    uint64_t a, b, d;
    memcpy(&a, p, 8); memcpy(&b, p + blk, 8); memcpy(&d, p + 2 * blk, 8);
    c0 = _mm_crc32_u64(c0, a);
    c1 = _mm_crc32_u64(c1, b);
    c2 = _mm_crc32_u64(c2, d);
    p += 8;
  } while (p < end);
  c0 = shift(tab, (uint32_t)c0) ^ c1;
  c0 = shift(tab, (uint32_t)c0) ^ c2;
  *pp = p + 2 * blk;
  return c0;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
                                                                 size_t len) {
  pthread_once(&once, init_tables);
  const unsigned char *p = buf;
  uint64_t c = (uint32_t)~crc;
  while (len && ((uintptr_t)p & 7)) { c = _mm_crc32_u8((uint32_t)c, *p++); len--; }
  while (len >= 3 * LONG) { c = hw_3way(c, &p, LONG, shift_long); len -= 3 * LONG; }
  while (len >= 3 * SHORT) { c = hw_3way(c, &p, SHORT, shift_short); len -= 3 * SHORT; }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8; len -= 8;
  }
  while (len--) c = _mm_crc32_u8((uint32_t)c, *p++);
  return ~(uint32_t)c;
}
#endif

static uint32_t (*resolve(void))(uint32_t, const void *, size_t) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) return crc32c_sse42;
#endif
  return NULL;
}

static uint32_t (*impl)(uint32_t, const void *, size_t);
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;
static uint32_t (*hw_fn)(uint32_t, const void *, size_t);
static void pick(void) {
  hw_fn = resolve();
  const char *force = getenv("YT_CRC32C");
  impl = (hw_fn && !(force && strcmp(force, "portable") == 0)) ? hw_fn : yt_crc32c_portable;
}

uint32_t yt_crc32c(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&impl_once, pick);
  return impl(crc, buf, len);
}

const char *yt_crc32c_impl(void) {
  pthread_once(&impl_once, pick);
  return impl == yt_crc32c_portable ? "portable" : "sse4.2-3way";
}

uint32_t yt_crc32c_hw(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&impl_once, pick);
  return hw_fn ? hw_fn(crc, buf, len) : yt_crc32c_portable(crc, buf, len);
}

int yt_crc32c_has_hw(void) {
  pthread_once(&impl_once, pick);
  return hw_fn != NULL;
}
