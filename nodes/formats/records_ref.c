/* records_ref.c: reading the records a message names by reference (records_ref.h). */
#include "formats/records_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/payload.h"
#include "formats/tfrecord.h"

int yt_records_is_ref(const yt_msg *m) {
  yt_rec_meta h;
  if (m->type != YT_MSG_DATA || m->nframes != 3 || m->frames[0].len < sizeof h) return 0;
  memcpy(&h, m->frames[0].data, sizeof h);
  return h.kind == YT_PAYLOAD_RECORDS && (h.flags & YT_REC_BY_REF);
}

int yt_records_resolve(yt_msg *m, yt_err *err) {
  yt_rec_meta h;
  if (!yt_records_is_ref(m)) return 0;
  memcpy(&h, m->frames[0].data, sizeof h);
  if (m->frames[0].len != sizeof h + (size_t)h.n * 12 || m->frames[2].len < YT_REC_REF_HEAD)
    return yt_fail(err, YT_ECORRUPT, "records message by reference: %zu-byte meta for %u records, %zu-byte extent",
                   m->frames[0].len, h.n, m->frames[2].len);
  const uint8_t *meta = m->frames[0].data, *f = m->frames[2].data;
  uint64_t head[3];
  memcpy(head, f, sizeof head);
  yt_tfr_extent x = {.path = (const char *)f + YT_REC_REF_HEAD, .path_len = m->frames[2].len - YT_REC_REF_HEAD,
                     .off = head[0], .dev = head[1], .ino = head[2], .n = h.n};
  /* the arrays are 8- and 4-byte aligned in the meta frame (payload.h) */
  x.index = (const uint64_t *)(meta + sizeof h);
  x.len = (const uint32_t *)(meta + sizeof h + (size_t)h.n * 8);
  size_t total = 0;
  for (uint32_t i = 0; i < h.n; i++) total += x.len[i];
  uint8_t *data = malloc(total ? total : 1);
  if (!data) return yt_fail(err, YT_ENOMEM, "out of memory reading %zu bytes of records", total);
  int rc = yt_tfr_load(&x, data, !(h.flags & YT_REC_NO_VERIFY), err);
  if (rc < 0) {
    free(data);
    if (rc == YT_ECORRUPT) {
      size_t l = strlen(err->msg);
      snprintf(err->msg + l, sizeof err->msg - l,
               " (read here by reference from the tfrecord_reader: its on_corrupt = skip_record or skip_shard "
               "skips damaged records)");
    }
    return rc;
  }
  h.flags &= ~(uint32_t)(YT_REC_BY_REF | YT_REC_NO_VERIFY);
  memcpy(m->frames[0].data, &h, sizeof h);
  yt_buf_free(&m->frames[2]);
  m->frames[2] = (yt_buf){.data = data, .len = total, .owned = 1};
  return 1;
}
