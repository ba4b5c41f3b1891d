/* test_ntstore.c: copying and zeroing with streaming stores (core/ntstore.h)
 * give memcpy's and memset's bytes for every head alignment and length
 * around the 16- and 64-byte steps, touch nothing outside [dst, dst + n),
 * and a batch big enough to take that path (payload.c, 8 MB and up) holds
 * the same rows and zero padding as a small one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/ntstore.h"
#include "core/payload.h"

static void test_bytes(void) {
  enum { CAP = 4096 + 256 };
  uint8_t *src = malloc(CAP), *a = malloc(CAP), *b = malloc(CAP);
  for (int i = 0; i < CAP; i++) src[i] = (uint8_t)(i * 7 + 3);
  size_t lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1000, 4096};
  int bad = 0;
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
    for (size_t off = 0; off < 32; off++)
      for (size_t soff = 0; soff < 3; soff++) {
        size_t n = lens[k];
        memset(a, 0xA5, CAP), memset(b, 0xA5, CAP);
        memcpy(a + 64 + off, src + soff, n);
        yt_copy_nt(b + 64 + off, src + soff, n);
        bad += memcmp(a, b, CAP) != 0;
        memset(a + 64 + off, 0, n);
        yt_zero_nt(b + 64 + off, n);
        bad += memcmp(a, b, CAP) != 0;
      }
  CHECK(bad == 0, "%d of %zu copies/zeroings differ from memcpy/memset (or touched a byte outside)", bad,
        2 * 32 * 3 * sizeof lens / sizeof *lens);
  free(src), free(a), free(b);
}

/* the same videos into a 0.6 MB batch (plain stores) and a 10 MB one
 * (streaming): the rows and padding of each video alike */
static void test_batch(void) {
  enum { DIM = 1152, F = 40 };
  yt_err err = {0};
  size_t row = DIM * sizeof(float);
  float *rows = malloc(F * row);
  for (int i = 0; i < F * DIM; i++) rows[i] = (float)i * 0.25f - 7.0f;
  yt_batch_builder small, big;
  yt_batch_builder_init(&small, DIM, YT_DT_F32, F);
  yt_batch_builder_init(&big, DIM, YT_DT_F32, F);
  yt_buf s = {.data = malloc(4 * F * row), .len = 4 * F * row, .owned = 1};
  yt_buf g = {.data = malloc((size_t)10 << 20), .len = (size_t)10 << 20, .owned = 1};
  memset(s.data, 0x7f, s.len), memset(g.data, 0x7f, g.len); /* garbage where padding goes */
  yt_batch_builder_use(&small, &s);
  yt_batch_builder_use(&big, &g);
  int32_t nf[4] = {F, 3, 0, 17};
  int32_t label = 1;
  for (int v = 0; v < 4; v++) {
    CHECK(yt_batch_add(&small, 0, (uint64_t)v, "abcd", 4, &label, 1, rows, nf[v], &err) == YT_OK, "%s", err.msg);
    CHECK(yt_batch_add(&big, 0, (uint64_t)v, "abcd", 4, &label, 1, rows, nf[v], &err) == YT_OK, "%s", err.msg);
  }
  CHECK(!memcmp(small.features.data, big.features.data, 4 * F * row),
        "a batch built with streaming stores differs from one built with plain stores");
  const float *first_pad = (const float *)((const uint8_t *)big.features.data + (F + 3) * row);
  CHECK(first_pad[0] == 0.0f && first_pad[DIM - 1] == 0.0f, "padding after a 3-frame video is zero");
  yt_batch_builder_free(&small);
  yt_batch_builder_free(&big);
  free(rows);
}

int main(void) {
  test_bytes();
  test_batch();
  return check_report("test_ntstore");
}
