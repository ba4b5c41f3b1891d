/* test_transport: the message codec and the sockets (transport/msg.h, sock.h).
 * Header round trip of every type with its exact bytes; payloads with a 0-byte
 * and a 10 MB frame, plain and zstd, over inproc://, ipc:// (in a mkdtemp dir,
 * removed at the end) and tcp://127.0.0.1:* ; every malformed header or zstd
 * frame gives its error text, also off the wire, and the socket stays usable;
 * HWM backpressure; PUSH load balancing; timeouts, EINTR and the self-pipe in
 * yt_poll; PUB/SUB after a bounded settle; CURVE keeps out clients without the
 * run's keys; bind/connect errors; context end.
 * No test can hang: every receive and every wait has a timeout. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "transport/msg.h"
#include "transport/sock.h"

#define WAIT_MS 5000 /* generous bound for anything that should happen "now" */

static char tmpdir[256];

/* Fills an endpoint for transport "inproc", "ipc" or "tcp"; name keeps them apart. */
static const char *endpoint(const char *transport, const char *name) {
  static char buf[8][512];
  static int k;
  char *b = buf[k++ % 8];
  if (!strcmp(transport, "inproc"))
    snprintf(b, sizeof buf[0], "inproc://%s", name);
  else if (!strcmp(transport, "ipc"))
    snprintf(b, sizeof buf[0], "ipc://%s/%s", tmpdir, name);
  else
    snprintf(b, sizeof buf[0], "tcp://127.0.0.1:*");
  return b;
}

/* Waits (bounded) until s can take a message, then sends without blocking. */
static int send_within(yt_sock *s, const yt_msg *m, yt_err *err) {
  yt_pollitem it = {.sock = s, .events = YT_POLLOUT};
  int rc = yt_poll(&it, 1, WAIT_MS, err);
  return rc == YT_OK ? yt_sock_send(s, m, YT_DONTWAIT, err) : rc;
}

/* A bound PULL and a PUSH connected to it. */
static int pipe_pair(const char *transport, const char *name, int hwm, yt_sock **push, yt_sock **pull) {
  yt_err err = {0};
  *push = NULL;
  int rc = yt_sock_open(pull, YT_PULL, endpoint(transport, name), 1, hwm, &err);
  if (rc == YT_OK) rc = yt_sock_open(push, YT_PUSH, yt_sock_endpoint(*pull), 0, hwm, &err);
  CHECK(rc == YT_OK, "%s pair: %s", transport, err.msg);
  return rc;
}

/* ---- the codec, no sockets ---------------------------------------------------- */

static void header_round_trip(void) {
  for (int t = YT_MSG_DATA; t <= YT_MSG_CONTROL; t++) {
    yt_msg m, back = {0};
    yt_msg_init(&m, t);
    m.seq = 0x0102030405060708ull + (uint64_t)t, m.producer = 0xA0B0C0D0u, m.records = 160u * (uint32_t)t;
    m.codec = t % 2 ? YT_CODEC_NONE : YT_CODEC_ZSTD;
    uint8_t h[YT_MSG_HEADER_SIZE];
    yt_msg_header_encode(&m, h);
    CHECK(!memcmp(h, "YTF1", 4), "magic bytes spell YTF1 for type %d", t);
    CHECK(h[4] == 1 && h[5] == 0 && h[6] == t && h[7] == 0, "version/type bytes for type %d", t);
    CHECK(h[8] == 0x08 + t && h[15] == 0x01, "seq is little-endian (%02x .. %02x)", h[8], h[15]);
    CHECK(h[16] == 0xD0 && h[19] == 0xA0, "producer is little-endian");
    CHECK(h[20] == m.codec && h[22] == 0 && h[28] == 0 && h[31] == 0, "codec, nframes, reserved");
    yt_err err = {0};
    int rc = yt_msg_header_decode(&back, h, sizeof h, 0, &err);
    CHECK(rc == YT_OK, "decode type %d: %s", t, err.msg);
    CHECK(back.type == t && back.seq == m.seq && back.producer == m.producer && back.records == m.records &&
              back.codec == m.codec,
          "header fields survive for type %s", yt_msg_type_name(t));
  }
  CHECK(!strcmp(yt_msg_type_name(YT_MSG_EOS), "EOS") && !strcmp(yt_msg_type_name(99), "unknown"), "names");
}

/* Decodes parts and checks the error text contains want. */
static void expect_decode_error(const yt_buf *parts, size_t n, const char *want) {
  yt_msg m = {0};
  yt_err err = {0};
  int rc = yt_msg_decode(&m, parts, n, &err);
  CHECK(rc == YT_ECORRUPT, "decode should fail with '%s' (rc %d)", want, rc);
  CHECK_CONTAINS(err.msg, want);
  yt_msg_clear(&m);
}

static void corrupt_headers(void) {
  yt_msg m;
  yt_msg_init(&m, YT_MSG_DATA);
  yt_err err = {0};
  CHECK(yt_msg_add(&m, "abc", 3, &err) == YT_OK && yt_msg_add(&m, "de", 2, &err) == YT_OK, "%s", err.msg);
  uint8_t hdr[YT_MSG_HEADER_SIZE], bad[YT_MSG_HEADER_SIZE];
  yt_buf parts[YT_MSG_MAX_FRAMES + 1];
  CHECK(yt_msg_encode(&m, hdr, parts, &err) == YT_OK, "%s", err.msg);
  parts[0].data = bad;
  struct {
    int off;
    uint8_t val;
    const char *want;
  } cases[] = {
      {0, 0xA6, "bad magic 0x314654a6, expected 0x31465459 (a peer that is not yt8m-flow"},
      {4, 2, "version 2, expected 1"},
      {6, 9, "unknown type 9"},
      {6, 0, "unknown type 0"},
      {20, 7, "unknown codec 7"},
      {28, 1, "shared-memory frames (mask 0x00000001) outside a socket receive"},
      {22, 5, "nframes mismatch: the header says 5 payload frames but 2 arrived"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(bad, hdr, sizeof bad);
    bad[cases[i].off] = cases[i].val;
    expect_decode_error(parts, 3, cases[i].want);
  }
  memcpy(bad, hdr, sizeof bad);
  expect_decode_error(parts, 2, "the header says 2 payload frames but 1 arrived"); /* a frame lost */
  parts[0].len = 20;
  expect_decode_error(parts, 3, "message header: 20 bytes, expected 32");
  expect_decode_error(parts, 0, "no frames at all");
  parts[0].len = YT_MSG_HEADER_SIZE;
  yt_msg back = {0};
  CHECK(yt_msg_decode(&back, parts, 3, &err) == YT_OK && back.nframes == 2 &&
            !memcmp(back.frames[1].data, "de", 2),
        "the untouched header still decodes: %s", err.msg);
  yt_msg_clear(&back);

  /* encode-side rules */
  m.type = 0;
  CHECK(yt_msg_encode(&m, hdr, parts, &err) == YT_EINVAL, "type 0 is refused");
  CHECK_CONTAINS(err.msg, "not a message type");
  for (int i = 0; i < YT_MSG_MAX_FRAMES - 2; i++) yt_msg_add(&m, "", 0, &err);
  CHECK(yt_msg_add(&m, "x", 1, &err) == YT_EINVAL, "frame %d is one too many", YT_MSG_MAX_FRAMES + 1);
  CHECK_CONTAINS(err.msg, "more than 32 payload frames");
  yt_msg_clear(&m);
}

static void zstd_frames(void) {
  size_t n = 1 << 20;
  uint8_t *data = malloc(n);
  for (size_t i = 0; i < n; i++) data[i] = (uint8_t)("frame-level features "[i % 21] + (i / 4096) % 3);
  yt_msg m;
  yt_msg_init(&m, YT_MSG_DATA);
  m.codec = YT_CODEC_ZSTD;
  yt_err err = {0};
  yt_msg_add(&m, data, n, &err);
  yt_msg_add(&m, NULL, 0, &err);
  uint8_t hdr[YT_MSG_HEADER_SIZE];
  yt_buf parts[YT_MSG_MAX_FRAMES + 1];
  CHECK(yt_msg_encode(&m, hdr, parts, &err) == YT_OK, "%s", err.msg);
  CHECK(parts[1].owned && parts[1].len * 20 < n, "compressible 1 MiB shrinks 20x or more (to %zu bytes)",
        parts[1].len);
  printf("zstd: %zu -> %zu bytes (ratio %.0f)\n", n, parts[1].len, (double)n / (double)parts[1].len);
  yt_msg back = {0};
  CHECK(yt_msg_decode(&back, parts, 3, &err) == YT_OK, "%s", err.msg);
  CHECK(back.nframes == 2 && back.frames[0].len == n && !memcmp(back.frames[0].data, data, n) &&
            back.frames[1].len == 0,
        "zstd round trip");
  yt_msg_clear(&back);

  /* damaged compressed frames: each is refused before any large allocation */
  size_t full = parts[1].len;
  parts[1].len = full - 8;
  expect_decode_error(parts, 3, "message frame 0: corrupt zstd data");
  parts[1].len = full;
  yt_buf junk = {.data = "hello", .len = 5}, keep = parts[1];
  parts[1] = junk;
  expect_decode_error(parts, 3, "message frame 0: not a zstd frame");
  /* a valid zstd frame header claiming 2 GiB: single segment, 8-byte content size */
  uint8_t huge[] = {0x28, 0xB5, 0x2F, 0xFD, 0xE0, 0, 0, 0, 0x80, 0, 0, 0, 0};
  parts[1] = (yt_buf){.data = huge, .len = sizeof huge, .owned = 0};
  expect_decode_error(parts, 3, "content size 2147483648 bytes is above the 1 GiB frame limit");
  uint8_t unknown[] = {0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x00};
  parts[1] = (yt_buf){.data = unknown, .len = sizeof unknown, .owned = 0};
  expect_decode_error(parts, 3, "does not record its content size");
  parts[1] = keep;
  for (int i = 0; i < 3; i++) yt_buf_free(&parts[i]);
  free(data);
}

/* ---- over sockets ------------------------------------------------------------ */

/* Frames of 0 bytes, 5 bytes and 10 MB through one PUSH -> PULL edge. */
static void round_trip(const char *transport, int codec) {
  char name[64];
  snprintf(name, sizeof name, "rt-%d", codec);
  yt_sock *push, *pull;
  if (pipe_pair(transport, name, 4, &push, &pull) < 0) goto done;
  size_t big = 10u << 20;
  uint8_t *data = malloc(big);
  for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
  yt_msg m, back = {0};
  yt_msg_init(&m, YT_MSG_DATA);
  m.codec = (uint16_t)codec, m.seq = 41, m.producer = 3, m.records = 160;
  yt_err err = {0};
  yt_msg_add(&m, "", 0, &err);
  yt_msg_add(&m, "hello", 5, &err);
  yt_msg_add(&m, data, big, &err);
  int rc = send_within(push, &m, &err);
  CHECK(rc == YT_OK, "%s send: %s", transport, err.msg);
  rc = yt_sock_recv(pull, &back, WAIT_MS, &err);
  CHECK(rc == YT_OK, "%s recv (rc %d): %s", transport, rc, err.msg);
  CHECK(back.type == YT_MSG_DATA && back.seq == 41 && back.producer == 3 && back.records == 160 &&
            back.codec == codec && back.nframes == 3,
        "%s codec %d: header", transport, codec);
  if (back.nframes == 3)
    CHECK(back.frames[0].len == 0 && back.frames[1].len == 5 && !memcmp(back.frames[1].data, "hello", 5) &&
              back.frames[2].len == big && !memcmp(back.frames[2].data, data, big),
          "%s codec %d: payload frames intact", transport, codec);
  yt_msg_clear(&back);
  free(data);
done:
  yt_sock_close(push);
  yt_sock_close(pull);
}

/* A broken peer: the receiver reports it, consumes it whole, and goes on. */
static void corrupt_on_the_wire(const char *transport) {
  yt_sock *push, *pull;
  if (pipe_pair(transport, "wire", 8, &push, &pull) < 0) goto done;
  yt_err err = {0};
  uint8_t hdr[YT_MSG_HEADER_SIZE];
  yt_msg m, back = {0};
  yt_msg_init(&m, YT_MSG_EOS);
  yt_msg_header_encode(&m, hdr);
  hdr[0] = 0;
  yt_buf junk[YT_MSG_MAX_FRAMES + 3] = {{.data = hdr, .len = sizeof hdr}, {.data = "x", .len = 1}};
  yt_pollitem it = {.sock = push, .events = YT_POLLOUT};
  CHECK(yt_poll(&it, 1, WAIT_MS, &err) == YT_OK, "%s: connected", transport);
  CHECK(yt_sock_send_parts(push, junk, 2, 0, &err) == YT_OK, "%s", err.msg);
  for (int i = 0; i < YT_MSG_MAX_FRAMES + 3; i++) junk[i] = (yt_buf){.data = "", .len = 0, .owned = 0};
  CHECK(yt_sock_send_parts(push, junk, YT_MSG_MAX_FRAMES + 3, 0, &err) == YT_OK, "%s", err.msg);
  CHECK(send_within(push, &m, &err) == YT_OK, "%s", err.msg);
  CHECK(yt_sock_recv(pull, &back, WAIT_MS, &err) == YT_ECORRUPT, "%s: bad magic refused", transport);
  CHECK_CONTAINS(err.msg, "bad magic 0x31465400");
  CHECK_CONTAINS(err.msg, "recv on PULL socket ");
  CHECK(yt_sock_recv(pull, &back, WAIT_MS, &err) == YT_ECORRUPT, "%s: 35 frames refused", transport);
  CHECK_CONTAINS(err.msg, "message of 35 frames, more than 1 header + 32 payload");
  int rc = yt_sock_recv(pull, &back, WAIT_MS, &err);
  CHECK(rc == YT_OK && back.type == YT_MSG_EOS, "%s: the next good message arrives (rc %d): %s", transport,
        rc, err.msg);
done:
  yt_sock_close(push);
  yt_sock_close(pull);
}

/* HWM = 4 and a receiver that does not read: DONTWAIT sends turn into YT_TIMEOUT
 * within a bounded number, poll says not writable, and nothing is lost. */
static void backpressure(const char *transport) {
  yt_sock *push, *pull;
  if (pipe_pair(transport, "hwm", 4, &push, &pull) < 0) goto done;
  char small[1024] = {0};
  yt_msg m, back = {0};
  yt_msg_init(&m, YT_MSG_DATA);
  yt_err err = {0};
  yt_msg_add(&m, small, sizeof small, &err);
  yt_pollitem it = {.sock = push, .events = YT_POLLOUT};
  CHECK(yt_poll(&it, 1, WAIT_MS, &err) == YT_OK, "%s: connected", transport);
  /* Send until the edge stays full: the I/O thread moves messages from the pipe
   * into the kernel's socket buffers, so a YT_TIMEOUT is final only once the
   * socket has not become writable again for a while (bounded by the count). */
  int rc = YT_OK, stalls = 0;
  uint64_t sent = 0, limit = 200000; /* loopback kernel buffers hold a few MB at most */
  while (sent < limit) {
    rc = yt_sock_send(push, &m, YT_DONTWAIT, &err);
    if (rc == YT_OK) {
      m.seq = ++sent;
      continue;
    }
    if (rc != YT_TIMEOUT) break;
    stalls++;
    if (yt_poll(&it, 1, 200, &err) == YT_TIMEOUT) break; /* full: nothing drains any more */
  }
  CHECK(rc == YT_TIMEOUT, "%s: send returned %d after %llu messages, expected YT_TIMEOUT (%s)", transport, rc,
        (unsigned long long)sent, err.msg);
  if (!strcmp(transport, "inproc"))
    CHECK(sent <= 8, "inproc holds sndhwm + rcvhwm, not %llu", (unsigned long long)sent);
  CHECK(yt_poll(&it, 1, 10, &err) == YT_TIMEOUT, "%s: a full edge is not writable", transport);
  printf("%s: HWM 4 blocked after %llu x 1 KiB messages (%d stalls)\n", transport, (unsigned long long)sent,
         stalls);
  uint64_t got = 0;
  while (got < sent && yt_sock_recv(pull, &back, WAIT_MS, &err) == YT_OK) {
    CHECK(back.seq == got, "in order: got seq %llu, expected %llu", (unsigned long long)back.seq,
          (unsigned long long)got);
    got++;
  }
  CHECK(got == sent, "%s: received %llu of %llu", transport, (unsigned long long)got,
        (unsigned long long)sent);
  CHECK(yt_sock_recv(pull, &back, 50, &err) == YT_TIMEOUT, "%s: nothing doubled", transport);
  CHECK(send_within(push, &m, &err) == YT_OK, "%s: writable again once drained: %s", transport, err.msg);
  yt_msg_clear(&back);
done:
  yt_sock_close(push);
  yt_sock_close(pull);
}

/* One bound PUSH, two connected PULLs: 100 messages, both get some. */
static void load_balance(const char *transport) {
  yt_err err = {0};
  yt_sock *push = NULL, *a = NULL, *b = NULL;
  int rc = yt_sock_open(&push, YT_PUSH, endpoint(transport, "lb"), 1, 100, &err);
  if (rc == YT_OK) rc = yt_sock_open(&a, YT_PULL, yt_sock_endpoint(push), 0, 100, &err);
  if (rc == YT_OK) rc = yt_sock_open(&b, YT_PULL, yt_sock_endpoint(push), 0, 100, &err);
  CHECK(rc == YT_OK, "%s: %s", transport, err.msg);
  if (rc < 0) goto done;
  yt_msg m, back = {0};
  yt_msg_init(&m, YT_MSG_CONTROL);
  yt_pollitem items[2] = {{.sock = a, .events = YT_POLLIN}, {.sock = b, .events = YT_POLLIN}};
  /* settle: probes until both connections carry one (they connect asynchronously) */
  int seen_a = 0, seen_b = 0;
  for (int i = 0; i < 500 && !(seen_a && seen_b); i++) {
    if (send_within(push, &m, &err) != YT_OK) break;
    if (yt_sock_recv(a, &back, 0, &err) == YT_OK) seen_a = 1;
    if (yt_sock_recv(b, &back, 10, &err) == YT_OK) seen_b = 1;
  }
  CHECK(seen_a && seen_b, "%s: both PULLs connected within the settle bound", transport);
  yt_msg_init(&m, YT_MSG_DATA);
  for (int i = 0; i < 100; i++) CHECK(send_within(push, &m, &err) == YT_OK, "%s: %s", transport, err.msg);
  int got[2] = {0, 0};
  while (got[0] + got[1] < 100 && yt_poll(items, 2, WAIT_MS, &err) == YT_OK) {
    for (int k = 0; k < 2; k++)
      if (items[k].revents & YT_POLLIN && yt_sock_recv(items[k].sock, &back, 0, &err) == YT_OK)
        got[k] += back.type == YT_MSG_DATA; /* late probes do not count */
  }
  CHECK(got[0] + got[1] == 100 && got[0] > 0 && got[1] > 0, "%s: split %d + %d of 100", transport, got[0],
        got[1]);
  printf("%s: PUSH split 100 messages %d + %d\n", transport, got[0], got[1]);
  yt_msg_clear(&back);
done:
  yt_sock_close(push);
  yt_sock_close(a);
  yt_sock_close(b);
}

/* CURVE (the tcp links of a run over several hosts): a server PULL takes what
 * a client with the run's keys sends, and nothing from a plain client or one
 * with other keys: they never complete a handshake, so their PUSH (IMMEDIATE:
 * it queues only to connected peers) never gets room to send. */
static void curve(void) {
  yt_err err = {0};
  yt_curve k, other;
  int rc = yt_curve_new(&k, &err);
  CHECK(rc == YT_OK, "curve keys: %s", err.msg);
  if (rc) return;
  CHECK(yt_curve_new(&other, &err) == YT_OK && strlen(k.public_key) == 40 && strlen(k.secret_key) == 40 &&
            strcmp(k.public_key, other.public_key),
        "two fresh key pairs differ, 40 Z85 characters each");
  yt_sock *pull = NULL, *good = NULL, *plain = NULL, *wrong = NULL;
  rc = yt_sock_open_curve(&pull, YT_PULL, "tcp://127.0.0.1:*", 1, 100, &k, &err);
  if (!rc) rc = yt_sock_open(&plain, YT_PUSH, yt_sock_endpoint(pull), 0, 100, &err);
  if (!rc) rc = yt_sock_open_curve(&wrong, YT_PUSH, yt_sock_endpoint(pull), 0, 100, &other, &err);
  if (!rc) rc = yt_sock_open_curve(&good, YT_PUSH, yt_sock_endpoint(pull), 0, 100, &k, &err);
  CHECK(rc == YT_OK, "curve sockets: %s", err.msg);
  if (rc) goto done;
  yt_msg m, back = {0};
  yt_msg_init(&m, YT_MSG_DATA);
  m.seq = 7;
  CHECK(send_within(good, &m, &err) == YT_OK, "curve: a client with the run's keys sends: %s", err.msg);
  CHECK(yt_sock_recv(pull, &back, WAIT_MS, &err) == YT_OK && back.seq == 7, "curve: the server receives it");
  int sent_plain = 0, sent_wrong = 0, extra = 0;
  for (int i = 0; i < 50; i++) { /* 0.5 s: a plain tcp connection would be up in well under that */
    m.seq = 8;
    sent_plain += yt_sock_send(plain, &m, YT_DONTWAIT, &err) == YT_OK;
    sent_wrong += yt_sock_send(wrong, &m, YT_DONTWAIT, &err) == YT_OK;
    extra += yt_sock_recv(pull, &back, 10, &err) == YT_OK;
  }
  CHECK(!sent_plain && !sent_wrong && !extra, "curve: a plain client sent %d, one with other keys %d, the server got %d",
        sent_plain, sent_wrong, extra);
  yt_msg_clear(&back);
done:
  yt_sock_close(good);
  yt_sock_close(plain);
  yt_sock_close(wrong);
  yt_sock_close(pull);
}

static void pub_sub(const char *transport) {
  yt_err err = {0};
  yt_sock *pub = NULL, *sub = NULL;
  int rc = yt_sock_open(&pub, YT_PUB, endpoint(transport, "tap"), 1, 16, &err);
  if (rc == YT_OK) rc = yt_sock_open(&sub, YT_SUB, yt_sock_endpoint(pub), 0, 16, &err);
  CHECK(rc == YT_OK, "%s: %s", transport, err.msg);
  if (rc < 0) goto done;
  yt_msg m, back = {0};
  yt_msg_init(&m, YT_MSG_STATS);
  yt_msg_add(&m, "{\"items_per_s\":1}", 17, &err);
  /* slow joiner: publish until the subscription is through (bounded: 3 s) */
  rc = YT_TIMEOUT;
  for (int i = 0; i < 300 && rc == YT_TIMEOUT; i++) {
    m.seq = (uint64_t)i;
    CHECK(yt_sock_send(pub, &m, 0, &err) == YT_OK, "%s", err.msg);
    rc = yt_sock_recv(sub, &back, 10, &err);
  }
  CHECK(rc == YT_OK, "%s: SUB got a message within the settle bound (rc %d)", transport, rc);
  while (yt_sock_recv(sub, &back, 20, &err) == YT_OK) {
  } /* settle leftovers */
  m.seq = 1000;
  CHECK(yt_sock_send(pub, &m, 0, &err) == YT_OK, "%s", err.msg);
  rc = yt_sock_recv(sub, &back, WAIT_MS, &err);
  CHECK(rc == YT_OK && back.type == YT_MSG_STATS && back.seq == 1000 && back.nframes == 1 &&
            !memcmp(back.frames[0].data, "{\"items_per_s\":1}", 17),
        "%s: PUB -> SUB delivers (rc %d)", transport, rc);
  yt_msg_clear(&back);
done:
  yt_sock_close(pub);
  yt_sock_close(sub);
}

/* A PUB with nobody listening, and one with a SUB that never reads, never block. */
static void pub_never_blocks(void) {
  yt_err err = {0};
  yt_sock *pub = NULL, *sub = NULL;
  CHECK(yt_sock_open(&pub, YT_PUB, "inproc://lonely", 1, 4, &err) == YT_OK, "%s", err.msg);
  CHECK(yt_sock_open(&sub, YT_SUB, "inproc://lonely", 0, 4, &err) == YT_OK, "%s", err.msg);
  yt_msg m;
  yt_msg_init(&m, YT_MSG_STATS);
  int ok = 0;
  for (int i = 0; i < 10000; i++) ok += yt_sock_send(pub, &m, 0, &err) == YT_OK;
  CHECK(ok == 10000, "a blocking PUB send returns even past the HWM (%d ok)", ok);
  yt_sock_close(sub);
  yt_sock_close(pub);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
  (void)sig, alarms++;
}

static void arm_alarm(int ms) {
  struct itimerval t = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &t, NULL);
}

/* Timeouts return, EINTR surfaces as YT_INTERRUPTED, the self-pipe wakes yt_poll. */
static void timeouts_and_signals(void) {
  yt_err err = {0};
  yt_sock *pull = NULL;
  CHECK(yt_sock_open(&pull, YT_PULL, "inproc://quiet", 1, 4, &err) == YT_OK, "%s", err.msg);
  if (!pull) return;
  yt_msg back = {0};
  CHECK(yt_sock_recv(pull, &back, 50, &err) == YT_TIMEOUT, "recv with nothing there times out");
  CHECK(yt_sock_recv(pull, &back, 0, &err) == YT_TIMEOUT, "recv with timeout 0 returns at once");
  int fds[2];
  CHECK(pipe(fds) == 0, "pipe");
  yt_pollitem items[2] = {{.sock = pull, .events = YT_POLLIN},
                          {.sock = NULL, .fd = fds[0], .events = YT_POLLIN}};
  CHECK(yt_poll(items, 2, 50, &err) == YT_TIMEOUT, "poll times out");
  CHECK(write(fds[1], "s", 1) == 1, "write");
  CHECK(yt_poll(items, 2, WAIT_MS, &err) == YT_OK && items[1].revents == YT_POLLIN && items[0].revents == 0,
        "the self-pipe wakes poll, the socket is not ready");

  struct sigaction sa = {0}, old;
  sa.sa_handler = on_alarm; /* no SA_RESTART: blocking calls see EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, &old);
  arm_alarm(50);
  int rc = yt_sock_recv(pull, &back, WAIT_MS, &err);
  CHECK(rc == YT_INTERRUPTED && alarms == 1, "a signal interrupts recv (rc %d)", rc);
  arm_alarm(50);
  items[1].fd = -1, items[1].events = 0;
  rc = yt_poll(items, 1, WAIT_MS, &err);
  CHECK(rc == YT_INTERRUPTED && alarms == 2, "a signal interrupts poll (rc %d)", rc);
  arm_alarm(0);
  sigaction(SIGALRM, &old, NULL);
  close(fds[0]), close(fds[1]);
  yt_sock_close(pull);
}

static void open_errors(void) {
  yt_err err = {0};
  yt_sock *a = NULL, *b = NULL;
  CHECK(yt_sock_open(&a, YT_PULL, "tcp://127.0.0.1:*", 1, 4, &err) == YT_OK, "%s", err.msg);
  const char *ep = a ? yt_sock_endpoint(a) : "";
  CHECK(!strncmp(ep, "tcp://127.0.0.1:", 16) && atoi(ep + 16) > 0, "ephemeral port read back: %s", ep);
  char taken[512];
  snprintf(taken, sizeof taken, "%s", ep);
  CHECK(yt_sock_open(&b, YT_PULL, taken, 1, 4, &err) == YT_EIO && !b, "a taken port is refused");
  CHECK_CONTAINS(err.msg, taken);
  CHECK_CONTAINS(err.msg, "Address already in use (another process holds it");
  CHECK(yt_sock_send(a, &(yt_msg){.type = YT_MSG_DATA}, 0, &err) == YT_EIO, "PULL cannot send");
  CHECK_CONTAINS(err.msg, "send on PULL socket tcp://127.0.0.1:");
  yt_sock_close(a);
  CHECK(yt_sock_open(&a, YT_PUSH, "carrier://pigeon", 0, 4, &err) == YT_EIO, "unknown transport");
  CHECK_CONTAINS(err.msg, "cannot connect to carrier://pigeon: Protocol not supported (use inproc://");
  CHECK(yt_sock_open(&a, YT_PUSH, "tcp://nohostport", 0, 4, &err) == YT_EIO, "malformed tcp");
  CHECK_CONTAINS(err.msg, "tcp://nohostport");
  CHECK(yt_sock_open(&a, YT_PUSH, "inproc://x", 1, 0, &err) == YT_EINVAL, "HWM 0 is refused");
  CHECK_CONTAINS(err.msg, "high-water mark 0, expected >= 1");
  CHECK(yt_sock_open(&a, 42, "inproc://x", 1, 4, &err) == YT_EINVAL, "unknown kind");
}

static void context_end(void) {
  yt_err err = {0};
  yt_sock *s = NULL;
  CHECK(yt_sock_open(&s, YT_PAIR, "inproc://last", 1, 4, &err) == YT_OK, "%s", err.msg);
  CHECK(yt_ctx_term(&err) == YT_EINVAL, "ending with a socket open is refused");
  CHECK_CONTAINS(err.msg, "1 socket(s) still open");
  yt_sock_close(s);
  CHECK(yt_ctx_term(&err) == YT_OK, "ends once all sockets are closed: %s", err.msg);
  CHECK(yt_sock_open(&s, YT_PAIR, "inproc://again", 1, 4, &err) == YT_OK, "a new context on demand: %s",
        err.msg);
  yt_sock_close(s);
  CHECK(yt_ctx_term(&err) == YT_OK, "%s", err.msg);
}

/* Removes the ipc directory and anything left in it. */
static void remove_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  char path[600];
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
      unlink(path);
    }
  if (d) closedir(d);
  CHECK(rmdir(tmpdir) == 0, "remove %s", tmpdir);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/yt_transport_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  header_round_trip();
  corrupt_headers();
  zstd_frames();
  const char *transports[] = {"inproc", "ipc", "tcp"};
  for (int i = 0; i < 3; i++) {
    round_trip(transports[i], YT_CODEC_NONE);
    round_trip(transports[i], YT_CODEC_ZSTD);
    corrupt_on_the_wire(transports[i]);
    backpressure(transports[i]);
    load_balance(transports[i]);
    pub_sub(transports[i]);
  }
  curve();
  pub_never_blocks();
  timeouts_and_signals();
  open_errors();
  context_end();
  remove_tmpdir();
  return check_report("test_transport");
}
