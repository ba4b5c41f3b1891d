/* tfevents.h: TensorBoard event files, scalars only (REFERENCE.md 4.6, 5.5).
 *
 * One file per run, DIR/events.out.tfevents.<10-digit unix secs>.<hostname>, in TFRecord
 * framing (tfrecord.h); the first record is Event{wall_time, file_version "brain.Event:2"},
 * then Event{wall_time, step, summary{value{tag, simple_value}...}} per write. The protobuf is
 * encoded by hand (Event: wall_time 1, step 2, file_version 3, summary 5; Summary.value 1;
 * Value: tag 1, simple_value 2). The file is live, not atomic: TensorBoard reads it while it
 * grows, so every write call ends with fflush. Not a reader, not images or histograms. */
#ifndef YT_TFEVENTS_H
#define YT_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

#define YT_TFEVENTS_VERSION "brain.Event:2"

/* One Event. Encoded as proto3: step 0 and wall_time 0 are omitted; each value carries
 * its simple_value even when 0 (a oneof member). */
typedef struct yt_tfevent {
  double wall_time; /* seconds since the epoch */
  int64_t step;
  const char *file_version; /* NULL: none */
  size_t n;                 /* scalar values in the summary; 0: no summary */
  const char *const *tags;
  const float *values;
} yt_tfevent;

/* Encodes ev as one framed TFRecord (length, masked CRC, Event bytes, masked CRC) into
 * out[cap]. Returns the record's size; writes nothing when that exceeds cap (so
 * yt_tfevents_encode(ev, NULL, 0) measures). */
size_t yt_tfevents_encode(const yt_tfevent *ev, uint8_t *out, size_t cap);

typedef struct yt_tfevents yt_tfevents;

/* Creates dir (mkdir -p) and the event file in it, and writes the file_version record.
 * wall_time <= 0 means now; its integer seconds name the file. If that name exists already
 * (two runs started in the same second), ".1", ".2", ... is appended. */
int yt_tfevents_open(yt_tfevents **out, const char *dir, double wall_time, yt_err *err);
const char *yt_tfevents_path(const yt_tfevents *w);
/* One scalar as one Event (wall_time <= 0: now), then fflush. */
int yt_tfevents_scalar(yt_tfevents *w, int64_t step, const char *tag, float value, double wall_time,
                       yt_err *err);
/* n scalars of one step as one Event with n values (as a TF merged summary does), then fflush. */
int yt_tfevents_scalars(yt_tfevents *w, int64_t step, size_t n, const char *const *tags, const float *values,
                        double wall_time, yt_err *err);
/* Any event (ev->wall_time <= 0: now), then fflush. */
int yt_tfevents_write(yt_tfevents *w, const yt_tfevent *ev, yt_err *err);
/* Flushes, fsyncs, closes; frees w whatever happens. */
int yt_tfevents_close(yt_tfevents *w, yt_err *err);

#endif
