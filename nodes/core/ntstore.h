/* ntstore.h: copying and zeroing with streaming (non-temporal) stores, for
 * frames far bigger than the caches that another process reads later: the
 * batcher's frame-level batches (tens of MB). A plain store first reads the
 * line it writes (read for ownership); a streaming store does not, so filling
 * such a frame moves about half the memory traffic. Not for data read back
 * soon from cache. Both end with a store fence: the bytes are visible before
 * the frame is sent. */
#ifndef YT_CORE_NTSTORE_H
#define YT_CORE_NTSTORE_H

#include <stddef.h>

void yt_copy_nt(void *dst, const void *src, size_t n);
void yt_zero_nt(void *dst, size_t n);

#endif
