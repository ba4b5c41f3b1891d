/* bench_read.c: read + CRC + parse + dequantize throughput of the hot path.
 *
 * For each file: TFRecord reader (mmap, CRC32C of length and data), the
 * zero-copy decoder with YouTube-8M validation (yt_record_decode), then
 * video level: the [1152] float features; frame level: dequantized frames
 * [num_frames, 1152] float32. A checksum keeps the work observable. Prints one
 * line per repeat and a final line with the median. Not a test: no limits.
 *   bench_read --level video|frame [--repeat N] FILE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "formats/crc32c.h"
#include "formats/tfrecord.h"
#include "formats/yt8m.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int level = -1, repeat = 5, first = 1;
  for (; first < argc && argv[first][0] == '-'; first++) {
    if (!strcmp(argv[first], "--level") && first + 1 < argc) {
      first++;
      level = !strcmp(argv[first], "frame") ? YT_LEVEL_FRAME : !strcmp(argv[first], "video") ? YT_LEVEL_VIDEO : -1;
    } else if (!strcmp(argv[first], "--repeat") && first + 1 < argc) {
      repeat = atoi(argv[++first]);
    } else break;
  }
  if (level < 0 || first >= argc || repeat < 1) {
    fprintf(stderr, "usage: bench_read --level video|frame [--repeat N] FILE...\n");
    return 2;
  }
  yt_err err = {0};
  yt_schema s;
  yt_schema_init(&s, (yt_level)level, NULL, NULL, &err);
  unsigned long long bytes = 0;
  for (int i = first; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0) bytes += (unsigned long long)st.st_size;
  }
  float *out = malloc(sizeof(float) * (size_t)YT_MAX_FRAMES * (size_t)s.dim);
  yt_record rec = {0};
  double *secs = malloc(sizeof(double) * (size_t)repeat);
  unsigned long long records = 0;
  double checksum = 0;
  for (int r = 0; r < repeat; r++) {
    records = 0;
    checksum = 0;
    double t0 = now();
    for (int i = first; i < argc; i++) {
      yt_tfr_reader *rd;
      if (yt_tfr_open(&rd, argv[i], &err) < 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
      yt_tfr_record tr;
      int rc;
      while ((rc = yt_tfr_next(rd, &tr, &err)) == YT_OK) {
        if (yt_record_decode(&rec, &s, tr.data, tr.len, &err) < 0) {
          fprintf(stderr, "%s: record %llu: %s\n", argv[i], (unsigned long long)tr.index, err.msg);
          return 1;
        }
        const float *v = rec.video;
        size_t n = (size_t)s.dim;
        if (level == YT_LEVEL_FRAME) {
          yt_record_dequantize(&rec, &s, out);
          v = out;
          n = (size_t)rec.num_frames * (size_t)s.dim;
        }
        /* touch the output: first, middle and last value (a full sum would
         * measure the checksum, not the reader) */
        if (n) checksum += (double)v[0] + (double)v[n / 2] + (double)v[n - 1];
        records++;
      }
      if (rc < 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
      yt_tfr_close(rd);
    }
    secs[r] = now() - t0;
    printf("repeat %d: %.4f s  %.1f MB/s  %.0f records/s\n", r, secs[r], bytes / 1e6 / secs[r], records / secs[r]);
  }
  qsort(secs, (size_t)repeat, sizeof *secs, cmp_double);
  double med = secs[repeat / 2];
  printf("bench_read: level=%s files=%d bytes=%llu records=%llu median_s=%.4f MB/s=%.1f records/s=%.0f crc32c=%s checksum=%.6g\n",
         level == YT_LEVEL_FRAME ? "frame" : "video", argc - first, bytes, records, med, bytes / 1e6 / med,
         records / med, yt_crc32c_impl(), checksum);
  yt_record_free(&rec);
  free(out);
  free(secs);
  return 0;
}
