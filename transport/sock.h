/* sock.h: ZeroMQ sockets for the flow runtime, the only door to zmq.h.
 *
 * Every socket is opened through yt_sock_open, which sets its options in one
 * place: LINGER (0 for PUB, whose tap messages may be dropped; YT_LINGER_MS
 * otherwise, so a close flushes for a bounded time and never hangs), SNDHWM and
 * RCVHWM in messages (backpressure: a full edge blocks the sender, memory stays
 * flat), IMMEDIATE on a connecting PUSH (messages queue only to peers that are
 * really there), and SUBSCRIBE "" on SUB.
 *
 * Topology, as the ZeroMQ guide has it: stable parts bind, dynamic parts
 * connect. The coordinator, the tap and a node's well-known inputs bind;
 * replicas, which come and go, connect. Bind to "tcp://HOST:*" for an ephemeral
 * port and read it back with yt_sock_endpoint.
 *
 * Status codes follow core/error.h: YT_OK, negative errors naming the socket
 * kind, the endpoint and zmq_strerror, and two positive ones of its own below.
 * A socket belongs to one thread. Signals are meant to be handled through a
 * self-pipe: a blocking call returns YT_INTERRUPTED on EINTR, and yt_poll waits
 * on the pipe's fd beside the sockets.
 *
 * Not here: message layout (msg.h), endpoint planning (the launcher). */
#ifndef YT_SOCK_H
#define YT_SOCK_H

#include <stddef.h>

#include "core/error.h"
#include "transport/msg.h"

enum {
  YT_TIMEOUT = 2,     /* nothing arrived in time, or a YT_DONTWAIT send would block */
  YT_INTERRUPTED = 3, /* a signal arrived (EINTR): check the self-pipe, then retry */
};

enum { YT_PUSH = 1, YT_PULL, YT_PUB, YT_SUB, YT_PAIR }; /* socket kinds */

enum { YT_DONTWAIT = 1 }; /* yt_sock_send flag: YT_TIMEOUT instead of blocking */

enum { YT_POLLIN = 1, YT_POLLOUT = 2 }; /* yt_pollitem events */

#define YT_LINGER_MS 2000 /* how long a close may flush pending messages (not PUB) */
#define YT_POLL_MAX 16    /* items per yt_poll call */

typedef struct yt_sock yt_sock;

/* The process-wide ZeroMQ context, created on first use (yt_sock_open calls
 * it). Create it after fork(), not before. */
int yt_ctx_get(void **ctx, yt_err *err);
/* Ends the context. Every socket must be closed first: with one still open this
 * fails (YT_EINVAL) instead of waiting forever as zmq_ctx_term would. */
int yt_ctx_term(yt_err *err);

/* Opens a socket of kind YT_PUSH .. YT_PAIR and binds (bind = 1) or connects
 * (bind = 0) it to endpoint ("inproc://x", "ipc:///path", "tcp://host:port").
 * hwm >= 1 is the high-water mark in messages, for sending and receiving. */
int yt_sock_open(yt_sock **s, int kind, const char *endpoint, int bind, int hwm, yt_err *err);

/* CURVE for the tcp links of a run on several hosts. The launcher makes one
 * key pair per run and hands it out in the plan (over ssh to other hosts);
 * a binding socket is a CURVE server with its secret key, a connecting one a
 * client that must know the server's public key. So the bytes on the wire are
 * encrypted, and a process outside the run, not knowing the key, cannot
 * complete a handshake to push or pull data. Keys are Z85 text. */
typedef struct yt_curve {
  char public_key[41], secret_key[41];
} yt_curve;
/* A fresh key pair; YT_EUSAGE when this libzmq was built without CURVE. */
int yt_curve_new(yt_curve *k, yt_err *err);
/* yt_sock_open with CURVE when k is not NULL. */
int yt_sock_open_curve(yt_sock **s, int kind, const char *endpoint, int bind, int hwm, const yt_curve *k,
                       yt_err *err);
/* Connects an open socket to one more endpoint (a PUSH fanning out to several
 * bound PULLs, a SUB listening to several PUBs). */
int yt_sock_connect(yt_sock *s, const char *endpoint, yt_err *err);
/* Binds an open socket to one more endpoint (the coordinator's PULL takes
 * local replicas on ipc:// and remote ones on tcp://). */
int yt_sock_bind(yt_sock *s, const char *endpoint, yt_err *err);
/* The same as a CURVE server (k not NULL): only this endpoint takes CURVE. */
int yt_sock_bind_curve(yt_sock *s, const char *endpoint, const yt_curve *k, yt_err *err);
/* The endpoint as bound (the real port after "tcp://...:*") or as connected. */
const char *yt_sock_endpoint(const yt_sock *s);
/* Overrides the LINGER set at open: -1 = a close waits until every queued
 * message is delivered (a node's data edges at a clean end: nothing may be
 * lost; the supervisor kills a node whose peer is gone), 0 = drop them. */
int yt_sock_set_linger(yt_sock *s, int ms, yt_err *err);
/* Closes s (NULL is fine); pending messages get at most its LINGER to leave. */
void yt_sock_close(yt_sock *s);

/* Sends m (header + payload, compressed when m->codec says so). flags 0 blocks
 * while the edge is at its high-water mark; YT_DONTWAIT returns YT_TIMEOUT then.
 * A PUB never blocks: it drops for slow subscribers. The message leaves whole
 * or not at all. YT_INTERRUPTED on a signal; nothing was sent then. */
int yt_sock_send(yt_sock *s, const yt_msg *m, int flags, yt_err *err);
/* A message encoded once for sending, maybe several times (one edge per
 * downstream node) and maybe after several YT_DONTWAIT attempts. Zero copy:
 * the message's malloc'd frames are handed to ZeroMQ as they are (m is cleared,
 * so the caller no longer owns them); borrowed frames are copied. Each send
 * shares the bytes by reference count. */
typedef struct yt_wire yt_wire;
int yt_wire_new(yt_wire **w, yt_msg *m, yt_err *err);
/* The same, and frames of YT_SHM_MIN_FRAME bytes or more are copied into pool
 * (when it has room) and travel as descriptors: only for peers on this host. */
typedef struct yt_shm_pool yt_shm_pool;
int yt_wire_new_shm(yt_wire **w, yt_msg *m, yt_shm_pool *pool, yt_err *err);
/* Sends w as yt_sock_send does; w stays valid for another send. */
int yt_sock_send_wire(yt_sock *s, yt_wire *w, int flags, yt_err *err);
void yt_wire_free(yt_wire *w);

/* Sends n frames as one multipart message, as they are, without a header.
 * yt_sock_send is built on it; tests use it to play a broken peer. */
int yt_sock_send_parts(yt_sock *s, const yt_buf *parts, size_t n, int flags, yt_err *err);
/* Receives one message into m (initialised; cleared first; frames owned, see
 * msg.h: uncompressed frames stay in ZeroMQ's buffers, no copy, released by
 * yt_msg_clear; every frame's data is 8-byte aligned). timeout_ms < 0 waits for ever, 0 only takes what is there. Returns
 * YT_OK, YT_TIMEOUT, YT_INTERRUPTED, or < 0 (a malformed message is consumed
 * whole and reported as YT_ECORRUPT; the socket stays usable). */
int yt_sock_recv(yt_sock *s, yt_msg *m, int timeout_ms, yt_err *err);

typedef struct yt_pollitem {
  yt_sock *sock; /* or NULL, and then fd is polled (the signal self-pipe) */
  int fd;
  short events;  /* YT_POLLIN | YT_POLLOUT */
  short revents; /* set by yt_poll */
} yt_pollitem;

/* Waits until one item is ready (YT_OK: look at revents), timeout_ms passes
 * (YT_TIMEOUT; < 0 waits for ever), or a signal arrives (YT_INTERRUPTED). */
int yt_poll(yt_pollitem *items, size_t n, int timeout_ms, yt_err *err);

#endif
