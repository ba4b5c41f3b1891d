/* error.h: the one error convention of yt8m-flow.
 *
 * Functions return an int status: negative = error, 0 = ok, positive = end of
 * stream / try again. On error they fill a caller-owned yt_err with a message a
 * user can act on (file, record, byte offset, what to do). Library code never
 * prints and never calls exit(); the CLI prints err.msg and picks the exit code.
 * Not a logging facility (see log.h). */
#ifndef YT_ERROR_H
#define YT_ERROR_H

#include <stddef.h>

enum {
  YT_OK = 0,
  YT_EOF = 1,        /* end of stream: not an error */
  YT_EIO = -1,       /* open/read/write failed (errno text in the message) */
  YT_ECORRUPT = -2,  /* bad bytes in a file: framing, CRC, protobuf */
  YT_EINVAL = -3,    /* a well-formed input that breaks a rule (size, label range) */
  YT_ENOMEM = -4,
  YT_EUSAGE = -5,    /* bad command line or parameter */
};

typedef struct yt_err {
  int code;
  char msg[1024];
} yt_err;

/* Sets err (may be NULL) and returns code, so callers can `return yt_fail(...)`. */
int yt_fail(yt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "prefix" in front of an existing message: lower layers say what went
 * wrong, upper layers add where ("shard.tfrecord: record 7 at byte 4705: "). */
void yt_err_prefix(yt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
