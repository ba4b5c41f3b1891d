/* ntstore.c: see ntstore.h. The aligned middle in 64-byte steps of four
 * 16-byte streaming stores; the unaligned head and tail with memcpy/memset. */
#include "core/ntstore.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* bytes before dst reaches a 16-byte boundary, at most n */
static size_t head_of(const void *dst, size_t n) {
  size_t h = (16 - ((uintptr_t)dst & 15)) & 15;
  return h < n ? h : n;
}

void yt_copy_nt(void *dst, const void *src, size_t n) {
#ifdef __SSE2__
  uint8_t *d = dst;
  const uint8_t *s = src;
  size_t h = head_of(d, n);
  memcpy(d, s, h);
  d += h, s += h, n -= h;
  for (; n >= 64; d += 64, s += 64, n -= 64) {
    __m128i a = _mm_loadu_si128((const __m128i *)s), b = _mm_loadu_si128((const __m128i *)(s + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(s + 32)), e = _mm_loadu_si128((const __m128i *)(s + 48));
    _mm_stream_si128((__m128i *)d, a);
    _mm_stream_si128((__m128i *)(d + 16), b);
    _mm_stream_si128((__m128i *)(d + 32), c);
    _mm_stream_si128((__m128i *)(d + 48), e);
  }
  memcpy(d, s, n);
  _mm_sfence();
#else
  memcpy(dst, src, n);
#endif
}

void yt_zero_nt(void *dst, size_t n) {
#ifdef __SSE2__
  uint8_t *d = dst;
  size_t h = head_of(d, n);
  memset(d, 0, h);
  d += h, n -= h;
  __m128i z = _mm_setzero_si128();
  for (; n >= 64; d += 64, n -= 64) {
    _mm_stream_si128((__m128i *)d, z);
    _mm_stream_si128((__m128i *)(d + 16), z);
    _mm_stream_si128((__m128i *)(d + 32), z);
    _mm_stream_si128((__m128i *)(d + 48), z);
  }
  memset(d, 0, n);
  _mm_sfence();
#else
  memset(dst, 0, n);
#endif
}
