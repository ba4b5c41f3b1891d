/* sock.c: ZeroMQ sockets, the process context and polling (see sock.h). The
 * only file in the tree that includes zmq.h; the message layout is msg.c's. */
#include "sock.h"
#include "shm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct yt_sock {
  void *zs;
  int kind;
  int rcvtimeo; /* the ZMQ_RCVTIMEO last set, so recv only sets it on change */
  char endpoint[512];
};

/* ---- the process-wide context --------------------------------------------- */

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void *ctx;
static int open_socks; /* guards yt_ctx_term against waiting for ever */

int yt_ctx_get(void **out, yt_err *err) {
  pthread_mutex_lock(&ctx_lock);
  if (!ctx) ctx = zmq_ctx_new();
  void *c = ctx;
  pthread_mutex_unlock(&ctx_lock);
  if (!c) return yt_fail(err, YT_EIO, "cannot create the ZeroMQ context: %s", zmq_strerror(zmq_errno()));
  *out = c;
  return YT_OK;
}

int yt_ctx_term(yt_err *err) {
  pthread_mutex_lock(&ctx_lock);
  int rc = YT_OK;
  if (open_socks > 0) {
    rc = yt_fail(err, YT_EINVAL,
                 "cannot end the transport: %d socket(s) still open (close every socket first; "
                 "zmq_ctx_term would wait for them for ever)",
                 open_socks);
  } else if (ctx) {
    while (zmq_ctx_term(ctx) != 0 && zmq_errno() == EINTR) {
    }
    ctx = NULL;
  }
  pthread_mutex_unlock(&ctx_lock);
  return rc;
}

/* ---- opening: every option in this one place ---------------------------------- */

static const char *kind_name(int kind) {
  static const char *names[] = {"?", "PUSH", "PULL", "PUB", "SUB", "PAIR"};
  return kind >= YT_PUSH && kind <= YT_PAIR ? names[kind] : names[0];
}

/* What a user can do about the usual bind/connect failures. */
static const char *hint(int e) {
  switch (e) {
  case EADDRINUSE:
    return " (another process holds it: a job still running? pick another endpoint or stop it)";
  case EADDRNOTAVAIL: return " (that address is not on this host)";
  case EPROTONOSUPPORT: return " (use inproc://, ipc:// or tcp://)";
  case ENOENT: return " (does the ipc:// directory exist?)";
  case EACCES: return " (no permission for that path or port)";
  case EINVAL: return " (malformed endpoint: expected inproc://NAME, ipc:///PATH or tcp://HOST:PORT)";
  default: return "";
  }
}

static int setopt(yt_sock *s, int opt, const char *name, const void *v, size_t n, yt_err *err) {
  if (zmq_setsockopt(s->zs, opt, v, n) == 0) return YT_OK;
  return yt_fail(err, YT_EIO, "%s socket %s: setting %s: %s", kind_name(s->kind), s->endpoint, name,
                 zmq_strerror(zmq_errno()));
}

int yt_sock_set_linger(yt_sock *s, int ms, yt_err *err) {
  if (!s) return YT_OK; /* as yt_sock_close: a teardown after a setup that stopped half-way */
  int v = ms < 0 ? -1 : ms;
  return setopt(s, ZMQ_LINGER, "ZMQ_LINGER", &v, sizeof v, err);
}

static int set_options(yt_sock *s, int hwm, int bind, yt_err *err) {
  int linger = s->kind == YT_PUB ? 0 : YT_LINGER_MS, one = 1;
  int rc = setopt(s, ZMQ_LINGER, "ZMQ_LINGER", &linger, sizeof linger, err);
  if (rc == YT_OK) rc = setopt(s, ZMQ_SNDHWM, "ZMQ_SNDHWM", &hwm, sizeof hwm, err);
  if (rc == YT_OK) rc = setopt(s, ZMQ_RCVHWM, "ZMQ_RCVHWM", &hwm, sizeof hwm, err);
  if (rc == YT_OK && s->kind == YT_PUSH && !bind)
    rc = setopt(s, ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", &one, sizeof one, err);
  if (rc == YT_OK && s->kind == YT_SUB) rc = setopt(s, ZMQ_SUBSCRIBE, "ZMQ_SUBSCRIBE", "", 0, err);
  /* a node often connects before its peer has bound: retry after 10 ms, not
   * ZeroMQ's 100 (each miss added 0.1 s to the start of a run), backing off
   * to 1 s for a peer that stays away */
  int ivl = 10, ivl_max = 1000;
  if (rc == YT_OK && !bind) rc = setopt(s, ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", &ivl, sizeof ivl, err);
  if (rc == YT_OK && !bind)
    rc = setopt(s, ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", &ivl_max, sizeof ivl_max, err);
  return rc;
}

int yt_curve_new(yt_curve *k, yt_err *err) {
  memset(k, 0, sizeof *k);
  if (!zmq_has("curve"))
    return yt_fail(err, YT_EUSAGE, "this libzmq was built without CURVE: tcp links between hosts cannot be encrypted");
  if (zmq_curve_keypair(k->public_key, k->secret_key) != 0)
    return yt_fail(err, YT_EIO, "cannot make a CURVE key pair: %s", zmq_strerror(zmq_errno()));
  return YT_OK;
}

/* Server (bind) or client (connect) keys, before the bind or connect they apply to. */
static int set_curve(yt_sock *s, const yt_curve *k, int bind, yt_err *err) {
  int one = 1;
  if (bind) {
    int rc = setopt(s, ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", &one, sizeof one, err);
    return rc ? rc : setopt(s, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", k->secret_key, 40, err);
  }
  int rc = setopt(s, ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", k->public_key, 40, err);
  if (!rc) rc = setopt(s, ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", k->public_key, 40, err);
  return rc ? rc : setopt(s, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", k->secret_key, 40, err);
}

int yt_sock_open(yt_sock **out, int kind, const char *endpoint, int bind, int hwm, yt_err *err) {
  return yt_sock_open_curve(out, kind, endpoint, bind, hwm, NULL, err);
}

int yt_sock_open_curve(yt_sock **out, int kind, const char *endpoint, int bind, int hwm, const yt_curve *k,
                       yt_err *err) {
  static const int ztype[] = {0, ZMQ_PUSH, ZMQ_PULL, ZMQ_PUB, ZMQ_SUB, ZMQ_PAIR};
  *out = NULL;
  if (kind < YT_PUSH || kind > YT_PAIR)
    return yt_fail(err, YT_EINVAL, "socket for %s: unknown kind %d", endpoint, kind);
  if (hwm < 1)
    return yt_fail(err, YT_EINVAL,
                   "%s socket %s: high-water mark %d, expected >= 1 message (0 would mean unbounded "
                   "queues)",
                   kind_name(kind), endpoint, hwm);
  if (strlen(endpoint) >= sizeof((yt_sock *)0)->endpoint)
    return yt_fail(err, YT_EINVAL, "%s socket: endpoint longer than %zu bytes: %.80s...", kind_name(kind),
                   sizeof((yt_sock *)0)->endpoint - 1, endpoint);
  void *c = NULL;
  int rc = yt_ctx_get(&c, err);
  if (rc < 0) return rc;
  yt_sock *s = calloc(1, sizeof *s);
  if (!s) return yt_fail(err, YT_ENOMEM, "%s socket %s: out of memory", kind_name(kind), endpoint);
  s->kind = kind, s->rcvtimeo = -1;
  strcpy(s->endpoint, endpoint);
  if (!(s->zs = zmq_socket(c, ztype[kind]))) {
    rc = yt_fail(err, YT_EIO, "%s socket %s: %s", kind_name(kind), endpoint, zmq_strerror(zmq_errno()));
    free(s);
    return rc;
  }
  pthread_mutex_lock(&ctx_lock);
  open_socks++;
  pthread_mutex_unlock(&ctx_lock);
  if ((rc = set_options(s, hwm, bind, err)) < 0) goto fail;
  if (k && (rc = set_curve(s, k, bind, err)) < 0) goto fail;
  if (!bind) {
    rc = yt_sock_connect(s, endpoint, err);
    if (rc < 0) goto fail;
  } else if (zmq_bind(s->zs, endpoint) != 0) {
    int e = zmq_errno();
    rc = yt_fail(err, YT_EIO, "%s socket: cannot bind %s: %s%s", kind_name(kind), endpoint, zmq_strerror(e),
                 hint(e));
    goto fail;
  } else {
    size_t n = sizeof s->endpoint; /* the real address, e.g. the port chosen for tcp://...:* */
    if (zmq_getsockopt(s->zs, ZMQ_LAST_ENDPOINT, s->endpoint, &n) != 0) strcpy(s->endpoint, endpoint);
  }
  *out = s;
  return YT_OK;
fail:
  yt_sock_close(s);
  return rc;
}

int yt_sock_connect(yt_sock *s, const char *endpoint, yt_err *err) {
  if (zmq_connect(s->zs, endpoint) == 0) return YT_OK;
  int e = zmq_errno();
  return yt_fail(err, YT_EIO, "%s socket: cannot connect to %s: %s%s", kind_name(s->kind), endpoint,
                 zmq_strerror(e), hint(e));
}

int yt_sock_bind(yt_sock *s, const char *endpoint, yt_err *err) {
  if (zmq_bind(s->zs, endpoint) == 0) return YT_OK;
  int e = zmq_errno();
  return yt_fail(err, YT_EIO, "%s socket: cannot bind %s: %s%s", kind_name(s->kind), endpoint, zmq_strerror(e),
                 hint(e));
}

int yt_sock_bind_curve(yt_sock *s, const char *endpoint, const yt_curve *k, yt_err *err) {
  int rc = k ? set_curve(s, k, 1, err) : YT_OK; /* a listener takes the options as they are at its bind */
  return rc ? rc : yt_sock_bind(s, endpoint, err);
}

const char *yt_sock_endpoint(const yt_sock *s) {
  return s->endpoint;
}

void yt_sock_close(yt_sock *s) {
  if (!s) return;
  zmq_close(s->zs); /* fails only for a non-socket */
  pthread_mutex_lock(&ctx_lock);
  open_socks--;
  pthread_mutex_unlock(&ctx_lock);
  free(s);
}

/* ---- sending ------------------------------------------------------------- */

int yt_sock_send_parts(yt_sock *s, const yt_buf *parts, size_t n, int flags, yt_err *err) {
  if (n == 0)
    return yt_fail(err, YT_EINVAL, "send on %s socket %s: no frames", kind_name(s->kind), s->endpoint);
  int zf = flags & YT_DONTWAIT ? ZMQ_DONTWAIT : 0;
  for (size_t i = 0; i < n; i++) {
    const void *data = parts[i].data ? parts[i].data : ""; /* zmq_send memcpy()s: never from NULL */
    int more = i + 1 < n ? ZMQ_SNDMORE : 0;
    while (zmq_send(s->zs, data, parts[i].len, zf | more) < 0) {
      int e = zmq_errno();
      if (i == 0 && e == EAGAIN) return YT_TIMEOUT;
      if (i == 0 && e == EINTR) return YT_INTERRUPTED;
      /* Once the first frame is accepted ZeroMQ takes the rest of the message (the
       * high-water mark counts whole messages); finish it rather than leave half. */
      if (i > 0 && (e == EAGAIN || e == EINTR)) {
        zf = 0;
        continue;
      }
      return yt_fail(err, YT_EIO, "send on %s socket %s: frame %zu of %zu: %s", kind_name(s->kind),
                     s->endpoint, i, n, zmq_strerror(e));
    }
  }
  return YT_OK;
}

int yt_sock_send(yt_sock *s, const yt_msg *m, int flags, yt_err *err) {
  uint8_t hdr[YT_MSG_HEADER_SIZE];
  yt_buf parts[YT_MSG_MAX_FRAMES + 1];
  int rc = yt_msg_encode(m, hdr, parts, err);
  if (rc < 0) {
    yt_err_prefix(err, "send on %s socket %s: ", kind_name(s->kind), s->endpoint);
    return rc;
  }
  rc = yt_sock_send_parts(s, parts, m->nframes + 1, flags, err);
  for (size_t i = 0; i <= m->nframes; i++) yt_buf_free(&parts[i]);
  return rc;
}

/* ---- zero-copy sending ------------------------------------------------------ */

struct yt_wire {
  size_t n;
  zmq_msg_t parts[YT_MSG_MAX_FRAMES + 1];
  size_t n_chunks;
  void *chunks[YT_MSG_MAX_FRAMES]; /* shared-memory frames: our hold on each */
};

static void free_fn(void *data, void *hint) {
  (void)hint;
  free(data);
}

int yt_wire_new(yt_wire **out, yt_msg *m, yt_err *err) { return yt_wire_new_shm(out, m, NULL, err); }

int yt_wire_new_shm(yt_wire **out, yt_msg *m, yt_shm_pool *pool, yt_err *err) {
  *out = NULL;
  uint8_t hdr[YT_MSG_HEADER_SIZE];
  yt_buf parts[YT_MSG_MAX_FRAMES + 1];
  m->shm = 0;
  int rc = yt_msg_encode(m, hdr, parts, err);
  if (rc < 0) return rc;
  yt_wire *w = calloc(1, sizeof *w);
  if (!w) rc = yt_fail(err, YT_ENOMEM, "out of memory");
  /* big plain frames go through the pool when it has room: the header then
   * says which payload frames are descriptors */
  uint8_t desc[YT_MSG_MAX_FRAMES][YT_SHM_DESC_SIZE];
  for (size_t i = 0; w && pool && m->codec == YT_CODEC_NONE && i < m->nframes; i++)
    if (yt_shm_claim(pool, &m->frames[i], desc[i], &w->chunks[w->n_chunks]) || /* built in the pool: no copy */
        (m->frames[i].len >= YT_SHM_MIN_FRAME &&
         yt_shm_put(pool, m->frames[i].data, m->frames[i].len, desc[i], &w->chunks[w->n_chunks]))) {
      w->n_chunks++;
      m->shm |= 1u << i;
    }
  if (m->shm) yt_msg_header_encode(m, hdr); /* parts[0] borrows hdr */
  for (size_t i = 0; w && i <= m->nframes; i++) {
    yt_buf *p = &parts[i];
    yt_buf *f = i > 0 && m->codec == YT_CODEC_NONE ? &m->frames[i - 1] : NULL;
    int z;
    if (i > 0 && (m->shm >> (i - 1) & 1)) { /* the descriptor travels, the bytes are in the pool */
      z = zmq_msg_init_size(&w->parts[i], YT_SHM_DESC_SIZE);
      if (!z) memcpy(zmq_msg_data(&w->parts[i]), desc[i - 1], YT_SHM_DESC_SIZE);
    } else if (p->owned && !p->release) { /* compressed output: ours to give */
      z = zmq_msg_init_data(&w->parts[i], p->data, p->len, free_fn, NULL);
      if (!z) p->owned = 0;
    } else if (f && f->owned && !f->release && f->data) { /* the message's own malloc'd frame */
      z = zmq_msg_init_data(&w->parts[i], f->data, f->len, free_fn, NULL);
      if (!z) f->owned = 0; /* ZeroMQ frees it when the last send is done */
    } else { /* borrowed (or held by another layer): copy */
      z = zmq_msg_init_size(&w->parts[i], p->len);
      if (!z && p->len) memcpy(zmq_msg_data(&w->parts[i]), p->data, p->len);
    }
    if (z) {
      rc = yt_fail(err, YT_ENOMEM, "message frame %zu: %s", i, zmq_strerror(zmq_errno()));
      w->n = i;
      yt_wire_free(w);
      w = NULL;
      break;
    }
    w->n = i + 1;
  }
  for (size_t i = 0; i <= m->nframes; i++) yt_buf_free(&parts[i]);
  yt_msg_clear(m);
  m->shm = 0;
  *out = w;
  return rc;
}

void yt_wire_free(yt_wire *w) {
  if (!w) return;
  for (size_t i = 0; i < w->n; i++) zmq_msg_close(&w->parts[i]);
  for (size_t i = 0; i < w->n_chunks; i++) yt_shm_unref(w->chunks[i]);
  free(w);
}

int yt_sock_send_wire(yt_sock *s, yt_wire *w, int flags, yt_err *err) {
  int zf = flags & YT_DONTWAIT ? ZMQ_DONTWAIT : 0;
  for (size_t i = 0; i < w->n_chunks; i++) yt_shm_ref(w->chunks[i]); /* the receiver's, dropped by its release */
  for (size_t i = 0; i < w->n; i++) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    zmq_msg_copy(&part, &w->parts[i]); /* shares the bytes (reference count) */
    int more = i + 1 < w->n ? ZMQ_SNDMORE : 0;
    while (zmq_msg_send(&part, s->zs, zf | more) < 0) {
      int e = zmq_errno();
      if (i == 0 && (e == EAGAIN || e == EINTR)) {
        zmq_msg_close(&part);
        for (size_t k = 0; k < w->n_chunks; k++) yt_shm_unref(w->chunks[k]); /* nothing left */
        return e == EAGAIN ? YT_TIMEOUT : YT_INTERRUPTED;
      }
      if (i > 0 && (e == EAGAIN || e == EINTR)) { /* as in send_parts: finish the message */
        zf = 0;
        continue;
      }
      zmq_msg_close(&part);
      return yt_fail(err, YT_EIO, "send on %s socket %s: frame %zu of %zu: %s", kind_name(s->kind), s->endpoint,
                     i, w->n, zmq_strerror(e));
    }
  }
  return YT_OK;
}

/* ---- receiving --------------------------------------------------------------- */

static void release_zmsg(void *handle) {
  zmq_msg_close(handle);
  free(handle);
}

/* An uncompressed message keeps its payload in ZeroMQ's buffers: each frame
 * moves into a heap zmq_msg_t that yt_buf_free releases; a frame that is not
 * 8-byte aligned (small ones, packed in ZeroMQ's shared receive buffer) is
 * copied instead. Returns 0 (and does nothing) for compressed messages, which
 * take the decoding path; else 1 with *rc set. */
static int zero_copy(yt_msg *m, zmq_msg_t *parts, size_t n, int *rc, yt_err *err) {
  yt_msg probe;
  yt_msg_init(&probe, 0);
  if (zmq_msg_size(&parts[0]) != YT_MSG_HEADER_SIZE) return 0; /* let the decoder say what is wrong */
  if (yt_msg_header_decode(&probe, zmq_msg_data(&parts[0]), YT_MSG_HEADER_SIZE, n - 1, err) < 0) return 0;
  if (probe.codec != YT_CODEC_NONE) return 0;
  *m = probe;
  m->shm = 0; /* resolved below: the caller sees plain frames */
  for (size_t i = 1; i < n; i++) {
    size_t len = zmq_msg_size(&parts[i]);
    if (probe.shm >> (i - 1) & 1) {
      *rc = yt_shm_open_desc(zmq_msg_data(&parts[i]), len, &m->frames[i - 1], err);
      if (*rc < 0) {
        yt_err_prefix(err, "payload frame %zu: ", i - 1);
        yt_msg_clear(m);
        return 1;
      }
      m->nframes = i;
      continue;
    }
    if ((uintptr_t)zmq_msg_data(&parts[i]) % 8) {
      /* small frames share ZeroMQ's receive buffer at any offset: copy just this one */
      void *c = malloc(len ? len : 1);
      if (!c) {
        yt_msg_clear(m);
        *rc = yt_fail(err, YT_ENOMEM, "out of memory");
        return 1;
      }
      if (len) memcpy(c, zmq_msg_data(&parts[i]), len);
      m->frames[i - 1] = (yt_buf){.data = c, .len = len, .owned = 1};
      m->nframes = i;
      continue;
    }
    zmq_msg_t *h = malloc(sizeof *h);
    if (!h) {
      yt_msg_clear(m);
      *rc = yt_fail(err, YT_ENOMEM, "out of memory");
      return 1;
    }
    zmq_msg_init(h);
    zmq_msg_move(h, &parts[i]);
    m->frames[i - 1] = (yt_buf){.data = zmq_msg_size(h) ? zmq_msg_data(h) : NULL, .len = zmq_msg_size(h), .owned = 1,
                                .release = release_zmsg, .handle = h};
    m->nframes = i;
  }
  *rc = YT_OK;
  return 1;
}

int yt_sock_recv(yt_sock *s, yt_msg *m, int timeout_ms, yt_err *err) {
  yt_msg_clear(m);
  if (timeout_ms < 0) timeout_ms = -1;
  if (timeout_ms != s->rcvtimeo) {
    int rc = setopt(s, ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", &timeout_ms, sizeof timeout_ms, err);
    if (rc < 0) return rc;
    s->rcvtimeo = timeout_ms;
  }
  zmq_msg_t parts[YT_MSG_MAX_FRAMES + 1], extra;
  size_t n = 0, total = 0; /* frames kept, frames received (extra ones are dropped) */
  int rc = YT_OK, more = 1;
  while (more) {
    zmq_msg_t *part = n < YT_MSG_MAX_FRAMES + 1 ? &parts[n] : &extra;
    zmq_msg_init(part);
    if (zmq_msg_recv(part, s->zs, 0) < 0) {
      int e = zmq_errno();
      zmq_msg_close(part);
      if (total == 0 && e == EAGAIN) {
        rc = YT_TIMEOUT;
        break;
      }
      if (total == 0 && e == EINTR) {
        rc = YT_INTERRUPTED;
        break;
      }
      if (total > 0 && e == EINTR) continue; /* the rest of the message is already here */
      rc = yt_fail(err, YT_EIO, "recv on %s socket %s: %s%s", kind_name(s->kind), s->endpoint,
                   zmq_strerror(e), total ? " (in the middle of a message)" : "");
      break;
    }
    total++;
    more = zmq_msg_more(part);
    if (part == &extra)
      zmq_msg_close(part);
    else
      n++;
  }
  if (rc == YT_OK && total > n) {
    rc = yt_fail(err, YT_ECORRUPT,
                 "recv on %s socket %s: message of %zu frames, more than 1 header + %d payload",
                 kind_name(s->kind), s->endpoint, total, YT_MSG_MAX_FRAMES);
  } else if (rc == YT_OK && n > 0 && zero_copy(m, parts, n, &rc, err)) {
    if (rc < 0) yt_err_prefix(err, "recv on %s socket %s: ", kind_name(s->kind), s->endpoint);
  } else if (rc == YT_OK) {
    yt_buf views[YT_MSG_MAX_FRAMES + 1];
    for (size_t i = 0; i < n; i++) views[i] = (yt_buf){.data = zmq_msg_data(&parts[i]), .len = zmq_msg_size(&parts[i]), .owned = 0};
    rc = yt_msg_decode(m, views, n, err);
    if (rc < 0) yt_err_prefix(err, "recv on %s socket %s: ", kind_name(s->kind), s->endpoint);
  }
  for (size_t i = 0; i < n; i++) zmq_msg_close(&parts[i]);
  return rc;
}

/* ---- polling -------------------------------------------------------------- */

int yt_poll(yt_pollitem *items, size_t n, int timeout_ms, yt_err *err) {
  if (n > YT_POLL_MAX) return yt_fail(err, YT_EINVAL, "poll: %zu items, at most %d", n, YT_POLL_MAX);
  zmq_pollitem_t z[YT_POLL_MAX];
  for (size_t i = 0; i < n; i++) {
    short ev = (short)((items[i].events & YT_POLLIN ? ZMQ_POLLIN : 0) |
                       (items[i].events & YT_POLLOUT ? ZMQ_POLLOUT : 0));
    z[i] = (zmq_pollitem_t){items[i].sock ? items[i].sock->zs : NULL, items[i].sock ? 0 : items[i].fd, ev, 0};
    items[i].revents = 0;
  }
  int k = zmq_poll(z, (int)n, timeout_ms < 0 ? -1 : timeout_ms);
  if (k < 0) {
    int e = zmq_errno();
    if (e == EINTR) return YT_INTERRUPTED;
    return yt_fail(err, YT_EIO, "poll over %zu sockets: %s", n, zmq_strerror(e));
  }
  if (k == 0) return YT_TIMEOUT;
  for (size_t i = 0; i < n; i++)
    items[i].revents =
        (short)((z[i].revents & ZMQ_POLLIN ? YT_POLLIN : 0) | (z[i].revents & ZMQ_POLLOUT ? YT_POLLOUT : 0));
  /* a pipe whose writer closed reports only POLLHUP (ZMQ_POLLERR): call it
   * readable, so the caller's read() sees the end of file */
  for (size_t i = 0; i < n; i++)
    if (!items[i].sock && (z[i].revents & ZMQ_POLLERR) && (items[i].events & YT_POLLIN)) items[i].revents |= YT_POLLIN;
  return YT_OK;
}
