/* crc32c.h: CRC-32C (Castagnoli) and TFRecord's masked form.
 *
 * Two implementations with one contract: a portable slicing-by-8 table version
 * and an x86 SSE4.2 version that runs three streams interleaved to hide the
 * crc32 instruction's latency. yt_crc32c() picks the fast one at run time
 * (cpuid); YT_CRC32C=portable in the environment forces the table version. */
#ifndef YT_CRC32C_H
#define YT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 for a fresh start) over buf[len]; returns the finished CRC. */
uint32_t yt_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t yt_crc32c_portable(uint32_t crc, const void *buf, size_t len);
/* The SSE4.2 version where the CPU has it (whatever YT_CRC32C says), else
 * the portable one; yt_crc32c_has_hw() tells which. For tests and benchmarks. */
uint32_t yt_crc32c_hw(uint32_t crc, const void *buf, size_t len);
int yt_crc32c_has_hw(void);
const char *yt_crc32c_impl(void); /* "sse4.2-3way" or "portable" */

/* TensorFlow's mask: rotate right by 15, add 0xa282ead8. */
static inline uint32_t yt_crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
static inline uint32_t yt_crc32c_masked(const void *buf, size_t len) {
  return yt_crc32c_mask(yt_crc32c(0, buf, len));
}

#endif
