/* test_crc32c: CRC-32C check value, TFRecord's mask, and the SSE4.2 3-way
 * path against the portable table path on random buffers, lengths and
 * alignments (including the block sizes where the 3-way split kicks in). */
#include <stdint.h>

#include "check.h"
#include "formats/crc32c.h"

static uint64_t state = 88172645463325252ull;
static uint32_t rnd(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)state; }

int main(void) {
  CHECK(yt_crc32c(0, "123456789", 9) == 0xE3069283u, "portable/dispatch check value: 0x%08x", yt_crc32c(0, "123456789", 9));
  CHECK(yt_crc32c_portable(0, "123456789", 9) == 0xE3069283u, "portable check value");
  CHECK(yt_crc32c_hw(0, "123456789", 9) == 0xE3069283u, "hw check value");
  CHECK(yt_crc32c(0, "", 0) == 0, "empty buffer");
  /* continuing a CRC equals one pass */
  CHECK(yt_crc32c(yt_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u, "incremental");

  /* TFRecord framing vectors (REFERENCE.md 5.5): the 8 length bytes of a
   * 24-byte record mask to a37f4b22 (stored little-endian). */
  const uint8_t len24[8] = {0x18, 0, 0, 0, 0, 0, 0, 0};
  CHECK(yt_crc32c_masked(len24, 8) == 0x224b7fa3u, "masked length crc: 0x%08x", yt_crc32c_masked(len24, 8));
  const uint8_t ev[24] = {0x09, 0, 0, 0, 0x40, 0xfc, 0x54, 0xd9, 0x41, 0x1a, 0x0d, 'b', 'r', 'a', 'i', 'n',
                          '.', 'E', 'v', 'e', 'n', 't', ':', '2'};
  CHECK(yt_crc32c_masked(ev, 24) == 0x9d8fedecu, "masked data crc: 0x%08x", yt_crc32c_masked(ev, 24));

  enum { MAX = 3 * 8192 * 3 + 1000 };
  static uint8_t buf[MAX + 16];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)rnd();
  static const size_t lens[] = {0, 1, 7, 8, 9, 255, 256, 767, 768, 769, 3 * 256 + 8, 8191, 24575, 24576, 24577, 3 * 8192 * 2 + 5, MAX};
  int hw = yt_crc32c_has_hw();
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (size_t off = 0; off < 8; off++) {
      uint32_t a = yt_crc32c_portable(0, buf + off, lens[li]), b = yt_crc32c_hw(0, buf + off, lens[li]);
      CHECK(a == b, "len %zu off %zu: portable 0x%08x hw 0x%08x", lens[li], off, a, b);
    }
  for (int t = 0; t < 2000; t++) {
    size_t off = rnd() % 16, len = rnd() % MAX;
    uint32_t seed = rnd();
    CHECK(yt_crc32c_portable(seed, buf + off, len) == yt_crc32c_hw(seed, buf + off, len), "random len %zu off %zu", len, off);
  }
  printf("crc32c: dispatch uses %s (hardware path %s)\n", yt_crc32c_impl(), hw ? "present" : "absent: compared portable with itself");
  return check_report("test_crc32c");
}
