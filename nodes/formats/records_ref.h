/* records_ref.h: reading the records a message names by reference.
 *
 * Between processes on one host, tfrecord_reader may send where a message's
 * records lie in their shard file instead of their bytes (payload.h,
 * YT_REC_BY_REF): the reader then touches 12 bytes per record, and the
 * copying and CRC checking move to the consumers, where replicas share them.
 * The consumer's runner (and the test harness) call yt_records_resolve on
 * every DATA message before the node sees it, so no node knows about it. */
#ifndef YT_RECORDS_REF_H
#define YT_RECORDS_REF_H

#include "core/error.h"
#include "transport/msg.h"

/* 1 when m is a records message by reference. */
int yt_records_is_ref(const yt_msg *m);
/* If m is a records message by reference: reads its records from the shard
 * (yt_tfr_load: framing, and data CRCs unless the message says not to) into
 * an owned frame 2 and clears the flag, so m is an ordinary records message;
 * returns 1. 0 for any other message (left alone); < 0 on error, naming the
 * file, byte offset and record, m unchanged. */
int yt_records_resolve(yt_msg *m, yt_err *err);

#endif
