/* runner.c: the node process (runner.h). */
#include "core/runner.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/node.h"
#include "formats/records_ref.h"
#include "transport/shm.h"
#include "transport/sock.h"

#define STATS_PERIOD 1.0 /* seconds between STATS messages */

typedef struct out_edge {
  yt_sock **socks; /* one per downstream replica */
  int n, next;
  int codec, id;
  uint64_t sent;
} out_edge;

typedef struct runner {
  yt_node node;
  char *name;
  yt_sock *in[YT_MAX_PADS];
  int eos_expect[YT_MAX_PADS], eos_seen[YT_MAX_PADS];
  out_edge *out[YT_MAX_PADS];
  int n_out[YT_MAX_PADS];
  yt_sock *coord;
  yt_shm_pool *pool; /* big frames to peers on this host (transport/shm.h) */
  size_t pool_max_frame; /* largest frame built in the pool (alloc_frame) */
  int pool_tried, remote_out;
  yt_curve curve; /* the run's keys when it spans hosts: every tcp link is CURVE */
  int has_curve;
  int started, ctl_closed, may_exit;
  uint64_t seq;
  double t0, busy, blocked, last_stats;
} runner;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads what the coordinator wrote on the control pipe (non-blocking). */
static void read_control(runner *r) {
  char buf[64];
  ssize_t k;
  while ((k = read(0, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < k; i++) {
      if (buf[i] == YT_CTL_START) r->started = 1;
      if (buf[i] == YT_CTL_DRAIN) r->node.stopping = 1;
      if (buf[i] == YT_CTL_EXIT) r->may_exit = 1;
    }
  if (k == 0) r->ctl_closed = 1; /* the coordinator is gone */
}

/* A message that must arrive (READY, EOS, the final STATS, ERROR): waits for
 * room as a blocking send would, but watches the control pipe meanwhile. A
 * peer that is gone for good (a coordinator killed before this replica
 * connected, as when the launcher of a run over ssh dies) never takes it, and
 * a plain blocking send then waited for ever, ssh and all. */
static int send_watching(runner *r, yt_sock *s, const yt_msg *m, yt_err *err) {
  for (;;) {
    int rc = yt_sock_send(s, m, YT_DONTWAIT, err);
    if (rc != YT_TIMEOUT && rc != YT_INTERRUPTED) return rc;
    yt_pollitem items[2] = {{s, -1, YT_POLLOUT, 0}, {NULL, 0, YT_POLLIN, 0}};
    rc = yt_poll(items, 2, 1000, err);
    if (rc < 0 && rc != YT_INTERRUPTED) return rc;
    read_control(r);
    if (r->ctl_closed) return yt_fail(err, YT_EIO, "the coordinator went away");
  }
}

static char *hex64(uint64_t v, char *buf) {
  snprintf(buf, 17, "%016" PRIx64, v);
  return buf;
}

/* STATS (JSON) to the coordinator; never blocks the data path. */
static int send_stats(runner *r, int final, yt_err *err) {
  yt_node *n = &r->node;
  const yt_node_counts *c = &n->counts;
  cJSON *o = cJSON_CreateObject();
  char h[17];
  cJSON_AddStringToObject(o, "name", r->name);
  cJSON_AddNumberToObject(o, "replica", n->replica);
  cJSON_AddBoolToObject(o, "final", final);
  cJSON_AddNumberToObject(o, "in", (double)c->in_records);
  cJSON_AddNumberToObject(o, "out", (double)c->out_records);
  cJSON_AddNumberToObject(o, "in_bytes", (double)c->in_bytes);
  cJSON_AddNumberToObject(o, "out_bytes", (double)c->out_bytes);
  cJSON_AddNumberToObject(o, "in_msgs", (double)c->in_msgs);
  cJSON_AddNumberToObject(o, "out_msgs", (double)c->out_msgs);
  cJSON_AddNumberToObject(o, "emitted", (double)c->emitted);
  cJSON_AddStringToObject(o, "emitted_hash", hex64(c->emitted_hash, h));
  cJSON_AddNumberToObject(o, "consumed", (double)c->consumed);
  cJSON_AddStringToObject(o, "consumed_hash", hex64(c->consumed_hash, h));
  cJSON_AddNumberToObject(o, "dropped", (double)c->dropped);
  cJSON_AddStringToObject(o, "dropped_hash", hex64(c->dropped_hash, h));
  double t = now();
  cJSON_AddNumberToObject(o, "elapsed", t - r->t0);
  cJSON_AddNumberToObject(o, "busy", r->busy);
  cJSON_AddNumberToObject(o, "blocked", r->blocked);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  cJSON_AddNumberToObject(o, "peak_rss_kb", (double)ru.ru_maxrss);
  if (n->progress_total || n->progress_done) {
    cJSON *p = cJSON_AddObjectToObject(o, "progress");
    cJSON_AddNumberToObject(p, "done", (double)n->progress_done);
    cJSON_AddNumberToObject(p, "total", (double)n->progress_total);
    cJSON_AddStringToObject(p, "unit", n->progress_unit ? n->progress_unit : "records");
  }
  cJSON *x = cJSON_AddObjectToObject(o, "extra");
  for (int i = 0; i < n->n_extra; i++) cJSON_AddNumberToObject(x, n->extra_name[i], (double)n->extra[i]);
  if (r->pool) { /* frames sent through shared memory, and big ones that found no room (sent inline) */
    yt_shm_stats ss;
    yt_shm_pool_stats(r->pool, &ss);
    cJSON_AddNumberToObject(x, "shm_frames", (double)ss.put);
    cJSON_AddNumberToObject(x, "shm_full", (double)ss.full);
  }
  cJSON *edges = cJSON_AddArrayToObject(o, "edges"); /* [edge id, messages sent] for queue depths */
  for (int p = 0; p < n->def->n_outputs; p++)
    for (int e = 0; e < r->n_out[p]; e++) {
      cJSON *pair = cJSON_CreateArray();
      cJSON_AddItemToArray(pair, cJSON_CreateNumber(r->out[p][e].id));
      cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)r->out[p][e].sent));
      cJSON_AddItemToArray(edges, pair);
    }
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  yt_msg m;
  yt_msg_init(&m, YT_MSG_STATS);
  m.producer = (uint32_t)n->replica;
  int rc = yt_msg_add(&m, text, strlen(text), err);
  /* periodic stats may be dropped when the coordinator is slow; the final one must arrive */
  if (!rc) rc = final ? send_watching(r, r->coord, &m, err) : yt_sock_send(r->coord, &m, YT_DONTWAIT, err);
  if (rc == YT_TIMEOUT) rc = YT_OK;
  yt_msg_clear(&m);
  free(text);
  r->last_stats = t;
  return rc;
}

/* A node's metrics ({"step", "scalars"}) or a drain request, to the
 * coordinator as a STATS message with "metrics" / "drain" instead of counters.
 * Metrics may be dropped when the coordinator lags (never block training);
 * a drain request may not. */
static int send_note(runner *r, const char *key, cJSON *value, int must, yt_err *err) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", r->name);
  cJSON_AddNumberToObject(o, "replica", r->node.replica);
  cJSON_AddItemToObject(o, key, value);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  yt_msg m;
  yt_msg_init(&m, YT_MSG_STATS);
  m.producer = (uint32_t)r->node.replica;
  int rc = yt_msg_add(&m, text, strlen(text), err);
  if (!rc) rc = yt_sock_send(r->coord, &m, must ? 0 : YT_DONTWAIT, err);
  if (rc == YT_TIMEOUT) rc = YT_OK;
  yt_msg_clear(&m);
  free(text);
  return rc;
}

static int node_metrics(yt_node *n, const char *json, yt_err *err) {
  cJSON *v = cJSON_Parse(json);
  if (!v) return yt_fail(err, YT_EINVAL, "metrics: not valid JSON: %.80s", json);
  return send_note(n->host, "metrics", v, 0, err);
}

static int node_drain(yt_node *n) {
  yt_err ignore;
  return send_note(n->host, "drain", cJSON_CreateTrue(), 1, &ignore);
}

static int stats_tick(runner *r, yt_err *err) {
  return now() - r->last_stats >= STATS_PERIOD ? send_stats(r, 0, err) : YT_OK;
}

/* One message on one edge: to the first downstream replica with room. */
static int send_balanced(runner *r, out_edge *e, yt_wire *w, yt_err *err) {
  for (;;) {
    for (int k = 0; k < e->n; k++) {
      int i = (e->next + k) % e->n;
      int rc = yt_sock_send_wire(e->socks[i], w, YT_DONTWAIT, err);
      if (rc == YT_OK) {
        e->next = (i + 1) % e->n;
        e->sent++;
        return YT_OK;
      }
      if (rc < 0) return rc;
    }
    /* every replica downstream is at its high-water mark: wait for room */
    yt_pollitem items[YT_POLL_MAX];
    int n = 0;
    for (int i = 0; i < e->n && n < YT_POLL_MAX - 1; i++) items[n++] = (yt_pollitem){e->socks[i], -1, YT_POLLOUT, 0};
    items[n++] = (yt_pollitem){NULL, 0, YT_POLLIN, 0};
    double t = now();
    int rc = yt_poll(items, (size_t)n, 1000, err);
    r->blocked += now() - t;
    if (rc < 0) return rc;
    if (items[n - 1].revents) read_control(r);
    if (r->ctl_closed) return yt_fail(err, YT_EIO, "the coordinator went away");
    if ((rc = stats_tick(r, err))) return rc;
  }
}

/* The shared-memory pool for frames sent on pad, or NULL when they must travel
 * inline (compressed edges, peers on other hosts, no memfd, YT_SHM_POOL_MB=0).
 * Created on the first use. */
static yt_shm_pool *pool_for(runner *r, int pad) {
  if (pad < 0 || pad >= r->node.def->n_outputs || !r->n_out[pad]) return NULL;
  for (int k = 0; k < r->n_out[pad]; k++)
    if (r->out[pad][k].codec != YT_CODEC_NONE) return NULL;
  if (!r->pool_tried) {
    r->pool_tried = 1;
    size_t size = yt_shm_pool_size_from_env();
    yt_err ignore;
    if (size && !r->remote_out && yt_shm_pool_new(&r->pool, size, &ignore) < 0) r->pool = NULL;
  }
  return r->pool;
}

/* A frame built in the pool. The pool doubles as a byte limit on what is in
 * flight: past the largest frame so far times (1 + the downstream replicas),
 * i.e. one frame per consumer and the one being built, the node waits for its
 * consumers to release chunks (as the high-water mark makes it wait for
 * messages). Without that, 16 queued messages of 44 MB touched the whole pool,
 * and fresh shared pages cost a fault and a clear each: with the limit a
 * read_frames run took 0.51 s instead of 0.58 s (4 frames) and 0.65 s (none).
 * A wait longer than POOL_WAIT_S gives up and builds in malloc'd memory (sent
 * inline), so a consumer that holds chunks cannot stall the graph. */
#define POOL_WAIT_S 1.0
static int alloc_frame(yt_node *n, int pad, size_t len, yt_buf *out) {
  runner *r = n->host;
  yt_shm_pool *pool = pool_for(r, pad);
  if (!pool) return 0;
  if (len > r->pool_max_frame) r->pool_max_frame = len;
  int consumers = 1;
  for (int k = 0; k < r->n_out[pad]; k++)
    if (r->out[pad][k].n > consumers) consumers = r->out[pad][k].n;
  double t0 = 0;
  for (;;) {
    uint32_t seen = yt_shm_release_seq(pool); /* before the check: a release after it wakes the wait */
    if (yt_shm_room(pool, len, r->pool_max_frame, 1 + consumers)) break;
    double t = now();
    if (t0 == 0) t0 = t;
    else if (t - t0 > POOL_WAIT_S) break;
    /* asleep until a consumer drops a chunk (a futex): a node waiting here
     * behind a slow train node costs no CPU (polling every 50 us cost the
     * dequantize and batcher nodes 15% of a core each) */
    yt_shm_wait_release(pool, seen, POOL_WAIT_S - (t - t0));
  }
  if (t0 != 0) r->blocked += now() - t0;
  return yt_shm_alloc(pool, len, out);
}

/* References to shard bytes go where shared-memory frames go: consumers on
 * this host, plain edges (the pool is not made otherwise). */
static int ref_readers(yt_node *n, int pad) {
  runner *r = n->host;
  if (!pool_for(r, pad)) return 0;
  return r->n_out[pad] == 1 ? r->out[pad][0].n : 1;
}

static int emit(yt_node *n, int pad, yt_msg *m, yt_err *err) {
  runner *r = n->host;
  m->producer = (uint32_t)n->replica;
  m->seq = r->seq++;
  /* encoded once, without copying the payload, then shared by every edge */
  int codec = r->n_out[pad] ? r->out[pad][0].codec : YT_CODEC_NONE;
  for (int k = 1; k < r->n_out[pad]; k++)
    if (r->out[pad][k].codec != codec) codec = -1;
  if (codec >= 0) {
    m->codec = (uint16_t)codec;
    yt_wire *w;
    int rc = yt_wire_new_shm(&w, m, pool_for(r, pad), err);
    for (int k = 0; !rc && k < r->n_out[pad]; k++) rc = send_balanced(r, &r->out[pad][k], w, err);
    yt_wire_free(w);
    return rc;
  }
  /* edges with different codecs: one encoding per edge */
  for (int k = 0; k < r->n_out[pad]; k++) {
    yt_msg c;
    yt_msg_init(&c, m->type);
    c.producer = m->producer, c.seq = m->seq, c.records = m->records;
    c.codec = (uint16_t)r->out[pad][k].codec;
    int rc = YT_OK;
    for (size_t i = 0; !rc && i < m->nframes; i++) rc = yt_msg_add(&c, m->frames[i].data, m->frames[i].len, err);
    yt_wire *w = NULL;
    if (!rc) rc = yt_wire_new(&w, &c, err);
    if (!rc) rc = send_balanced(r, &r->out[pad][k], w, err);
    yt_wire_free(w);
    if (rc) return rc;
  }
  return YT_OK;
}

/* READY or ERROR to the coordinator. */
static int send_simple(runner *r, int type, int producer, const char *text, yt_err *err) {
  yt_msg m;
  yt_msg_init(&m, type);
  m.producer = (uint32_t)producer;
  int rc = text ? yt_msg_add(&m, text, strlen(text), err) : YT_OK;
  if (!rc) rc = send_watching(r, r->coord, &m, err);
  yt_msg_clear(&m);
  return rc;
}

static int send_eos(runner *r, yt_err *err) {
  for (int p = 0; p < r->node.def->n_outputs; p++)
    for (int k = 0; k < r->n_out[p]; k++)
      for (int i = 0; i < r->out[p][k].n; i++) {
        yt_msg m;
        yt_msg_init(&m, YT_MSG_EOS);
        m.producer = (uint32_t)r->node.replica;
        m.seq = r->seq++;
        int rc = send_watching(r, r->out[p][k].socks[i], &m, err);
        if (rc) return rc;
      }
  return YT_OK;
}

static char *slurp(const char *path, yt_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) { yt_fail(err, YT_EIO, "cannot open plan %s: %s", path, strerror(errno)); return NULL; }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)len + 1);
  if (s && fread(s, 1, (size_t)len, f) != (size_t)len) { free(s); s = NULL; }
  fclose(f);
  if (!s) { yt_fail(err, YT_EIO, "cannot read plan %s", path); return NULL; }
  s[len] = 0;
  return s;
}

/* `node - NAME REP` (a replica on another host, started over ssh): the plan
 * comes first on stdin as "YTPLAN <bytes>\n" and the JSON; control bytes
 * follow on the same stream. */
static char *read_plan_stdin(yt_err *err) {
  char head[64];
  size_t n = 0;
  while (n < sizeof head - 1) { /* byte by byte: nothing past the header may be consumed */
    ssize_t k = read(0, head + n, 1);
    if (k <= 0) break;
    if (head[n++] == '\n') break;
  }
  head[n] = 0;
  unsigned long len = 0;
  if (sscanf(head, "YTPLAN %lu\n", &len) != 1 || len == 0 || len > (64u << 20)) {
    yt_fail(err, YT_ECORRUPT, "no plan on stdin (`yt8m-flow node -` is started by `yt8m-flow run`)");
    return NULL;
  }
  char *s = malloc(len + 1);
  size_t got = 0;
  while (s && got < len) {
    ssize_t k = read(0, s + got, len - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  if (!s || got < len) {
    free(s);
    yt_fail(err, YT_EIO, "the plan on stdin ended after %zu of %lu bytes", got, len);
    return NULL;
  }
  s[len] = 0;
  return s;
}

/* Fields of the plan `run` wrote. A missing or mistyped one means a damaged
 * plan, or `run` and this node from different yt8m-flow builds (a replica on
 * another host runs that host's binary): an error naming the field, not a
 * crash. */
#define PLAN_HINT " (a damaged plan, or `run` and the node from different yt8m-flow builds?)"
static const char *plan_str(const cJSON *o, const char *key, const char *where, yt_err *err) {
  const cJSON *v = cJSON_GetObjectItem(o, key);
  if (cJSON_IsString(v)) return v->valuestring;
  yt_fail(err, YT_ECORRUPT, "plan: %s: \"%s\" is missing or not a string" PLAN_HINT, where, key);
  return NULL;
}

static int plan_int(const cJSON *o, const char *key, const char *where, int lo, int hi, int *out, yt_err *err) {
  const cJSON *v = cJSON_GetObjectItem(o, key);
  if (cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi && v->valuedouble == (double)v->valueint) {
    *out = v->valueint;
    return YT_OK;
  }
  return yt_fail(err, YT_ECORRUPT, "plan: %s: \"%s\" is missing or not an integer in [%d, %d]" PLAN_HINT, where, key,
                 lo, hi);
}

/* The host this replica was placed on ("local" = the coordinator's). */
static const char *my_host(cJSON *plan, const char *name, int replica) {
  cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(plan, "nodes")) {
    const cJSON *nm = cJSON_GetObjectItem(it, "name");
    if (!cJSON_IsString(nm) || strcmp(nm->valuestring, name)) continue;
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(it, "hosts"), replica);
    return cJSON_IsString(h) ? h->valuestring : "local";
  }
  return "local";
}

/* A socket of the data or control path: tcp:// ones are CURVE when the run has keys. */
static int open_sock(runner *r, yt_sock **s, int kind, const char *ep, int bind, int hwm, yt_err *err) {
  const yt_curve *k = r->has_curve && !strncmp(ep, "tcp://", 6) ? &r->curve : NULL;
  return yt_sock_open_curve(s, kind, ep, bind, hwm, k, err);
}

static void read_curve(runner *r, cJSON *plan) {
  const cJSON *pk = cJSON_GetObjectItem(plan, "curve_public"), *sk = cJSON_GetObjectItem(plan, "curve_secret");
  if (!cJSON_IsString(pk) || !cJSON_IsString(sk) || strlen(pk->valuestring) != 40 || strlen(sk->valuestring) != 40)
    return;
  memcpy(r->curve.public_key, pk->valuestring, 41);
  memcpy(r->curve.secret_key, sk->valuestring, 41);
  r->has_curve = 1;
}

/* Sockets and parameters from the plan. */
static int setup(runner *r, cJSON *plan, const char *name, int replica, yt_err *err) {
  cJSON *nodes = cJSON_GetObjectItem(plan, "nodes"), *me = NULL;
  cJSON *it;
  cJSON_ArrayForEach(it, nodes) {
    cJSON *nm = cJSON_GetObjectItem(it, "name");
    if (cJSON_IsString(nm) && !strcmp(nm->valuestring, name)) { me = it; break; }
  }
  if (!me) return yt_fail(err, YT_EUSAGE, "node '%s' is not in the plan", name);
  const char *type = plan_str(me, "type", name, err);
  if (!type) return err->code;
  const yt_node_def *def = yt_node_find(type);
  if (!def) return yt_fail(err, YT_EUSAGE, "unknown node type '%s'", type);
  int replicas, rc;
  if ((rc = plan_int(me, "replicas", name, 1, 1024, &replicas, err))) return rc;
  if (replica < 0 || replica >= replicas)
    return yt_fail(err, YT_EUSAGE, "replica %d of node '%s', which has %d", replica, name, replicas);
  r->name = strdup(name);
  rc = yt_node_setup(&r->node, def, r->name, replica, replicas, err);
  if (rc) return rc;
  r->node.host = r;
  r->node.emit_fn = emit;
  r->node.metrics_fn = node_metrics;
  r->node.drain_fn = node_drain;
  r->node.alloc_fn = alloc_frame;
  r->node.refs_fn = ref_readers;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(me, "params")) {
    if (!it->string || !cJSON_IsString(it))
      return yt_fail(err, YT_ECORRUPT, "plan: %s: a parameter is not \"name\": \"value\"" PLAN_HINT, name);
    if ((rc = yt_params_set(&r->node.params, it->string, it->valuestring, err))) return rc;
  }
  if ((rc = yt_params_complete(&r->node.params, err))) return rc;
  int p = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(me, "inputs")) {
    if (p >= YT_MAX_PADS) return yt_fail(err, YT_ECORRUPT, "plan: %s: more than %d inputs" PLAN_HINT, name, YT_MAX_PADS);
    const cJSON *ep = cJSON_GetArrayItem(cJSON_GetObjectItem(it, "bind"), replica);
    if (!cJSON_IsString(ep)) return yt_fail(err, YT_ECORRUPT, "the plan has no endpoint for input %d", p);
    int hwm;
    if ((rc = plan_int(it, "eos", name, 0, 1 << 20, &r->eos_expect[p], err)) ||
        (rc = plan_int(it, "hwm", name, 1, 1000000, &hwm, err)))
      return rc;
    if (r->eos_expect[p] > 0) r->node.inputs_connected |= 1u << p;
    if ((rc = open_sock(r, &r->in[p], YT_PULL, ep->valuestring, 1, hwm, err))) {
      if (!strncmp(ep->valuestring, "tcp://", 6))
        snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), "%s",
                 " (another program or run may hold the port: pick others with `run --port-base N`)");
      return rc;
    }
    p++;
  }
  p = 0;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(me, "outputs")) {
    if (p >= YT_MAX_PADS) return yt_fail(err, YT_ECORRUPT, "plan: %s: more than %d outputs" PLAN_HINT, name, YT_MAX_PADS);
    int ne = cJSON_GetArraySize(it), k = 0;
    r->out[p] = calloc((size_t)ne + 1, sizeof(out_edge));
    r->n_out[p] = ne;
    if (!ne) r->node.outputs_unconnected |= 1u << p;
    cJSON *je;
    cJSON_ArrayForEach(je, it) {
      out_edge *e = &r->out[p][k++];
      cJSON *eps = cJSON_GetObjectItem(je, "endpoints");
      int hwm;
      if ((rc = plan_int(je, "edge", name, 0, 1 << 20, &e->id, err)) ||
          (rc = plan_int(je, "codec", name, YT_CODEC_NONE, YT_CODEC_ZSTD, &e->codec, err)) ||
          (rc = plan_int(je, "hwm", name, 1, 1000000, &hwm, err)))
        return rc;
      e->n = cJSON_GetArraySize(eps);
      e->socks = calloc((size_t)e->n + 1, sizeof *e->socks);
      /* start each producer replica at a different consumer, so small streams spread */
      e->next = e->n ? replica % e->n : 0;
      for (int i = 0; i < e->n; i++) {
        const cJSON *epi = cJSON_GetArrayItem(eps, i);
        if (!cJSON_IsString(epi))
          return yt_fail(err, YT_ECORRUPT, "plan: %s: output %d: an endpoint is not a string" PLAN_HINT, name, p);
        const char *ep = epi->valuestring;
        if (strncmp(ep, "ipc://", 6)) r->remote_out = 1;
        if ((rc = open_sock(r, &e->socks[i], YT_PUSH, ep, 0, hwm, err))) return rc;
      }
    }
    p++;
  }
  return YT_OK;
}

/* ok: the node finished cleanly, so every queued message must reach its peer
 * (a bounded LINGER would silently drop data and EOS behind a slow consumer);
 * otherwise the graph is being torn down and nothing needs to arrive. */
static void teardown(runner *r, int ok) {
  for (int p = 0; p < YT_MAX_PADS; p++)
    for (int k = 0; k < r->n_out[p]; k++)
      for (int i = 0; i < r->out[p][k].n; i++) yt_sock_set_linger(r->out[p][k].socks[i], ok ? -1 : 0, NULL);
  if (r->coord && r->ctl_closed) yt_sock_set_linger(r->coord, 0, NULL); /* nobody listens */
  else if (r->coord && ok) yt_sock_set_linger(r->coord, -1, NULL);
  for (int p = 0; p < YT_MAX_PADS; p++) {
    yt_sock_close(r->in[p]);
    for (int k = 0; k < r->n_out[p]; k++) {
      for (int i = 0; i < r->out[p][k].n; i++) yt_sock_close(r->out[p][k].socks[i]);
      free(r->out[p][k].socks);
    }
    free(r->out[p]);
  }
  yt_sock_close(r->coord);
  yt_shm_pool_free(r->pool); /* consumers keep their own mapping of what they still hold */
  r->pool = NULL;
  yt_ctx_term(NULL);
}

/* A source: wait for the start, then run() until it says YT_EOF. */
static int run_source(runner *r, yt_err *err) {
  const yt_node_def *d = r->node.def;
  while (!r->started && !r->node.stopping) {
    yt_pollitem it = {NULL, 0, YT_POLLIN, 0};
    int rc = yt_poll(&it, 1, 1000, err);
    if (rc < 0 && rc != YT_INTERRUPTED) return rc;
    read_control(r);
    if (r->ctl_closed) return yt_fail(err, YT_EIO, "the coordinator went away");
  }
  for (;;) {
    read_control(r);
    if (r->ctl_closed) return yt_fail(err, YT_EIO, "the coordinator went away");
    double t = now(), b = r->blocked;
    int rc = d->run(&r->node, err);
    r->busy += now() - t - (r->blocked - b); /* waiting for room downstream is not work */
    if (rc == YT_EOF) return YT_OK;
    if (rc < 0) return rc;
    if ((rc = stats_tick(r, err))) return rc;
  }
}

/* A filter or sink: receive until every producer upstream said EOS. */
static int run_consumer(runner *r, yt_err *err) {
  const yt_node_def *d = r->node.def;
  yt_msg m;
  yt_msg_init(&m, 0);
  int rc = YT_OK;
  for (;;) {
    yt_pollitem items[YT_MAX_PADS + 1];
    int pads[YT_MAX_PADS], n = 0, first = -1;
    for (int p = 0; p < d->n_inputs && first < 0; p++) /* node.h: yt_pad_def.first */
      if (d->inputs[p].first && r->eos_seen[p] < r->eos_expect[p]) first = p;
    for (int p = 0; p < d->n_inputs; p++)
      if (r->eos_seen[p] < r->eos_expect[p] && (first < 0 || p == first)) {
        pads[n] = p;
        items[n++] = (yt_pollitem){r->in[p], -1, YT_POLLIN, 0};
      }
    if (n == 0) break; /* every input ended */
    items[n] = (yt_pollitem){NULL, 0, YT_POLLIN, 0};
    rc = yt_poll(items, (size_t)n + 1, 1000, err);
    if (rc < 0) break;
    if (items[n].revents || rc == YT_TIMEOUT) read_control(r);
    rc = YT_OK;
    if (r->ctl_closed) { rc = yt_fail(err, YT_EIO, "the coordinator went away"); break; }
    for (int k = 0; k < n && rc >= 0; k++) {
      if (!items[k].revents) continue;
      int p = pads[k];
      rc = yt_sock_recv(r->in[p], &m, 0, err);
      if (rc == YT_TIMEOUT || rc == YT_INTERRUPTED) { rc = YT_OK; continue; }
      if (rc < 0) break;
      if (m.type == YT_MSG_EOS) {
        r->eos_seen[p]++;
      } else if (m.type == YT_MSG_DATA) {
        double t = now(), b = r->blocked;
        rc = yt_records_resolve(&m, err); /* records sent by reference are read here */
        if (rc > 0) rc = YT_OK;
        if (!rc) rc = yt_node_account_in(&r->node, p, &m, err);
        if (!rc) rc = d->process(&r->node, p, &m, err);
        r->busy += now() - t - (r->blocked - b);
      } else {
        rc = yt_fail(err, YT_ECORRUPT, "unexpected %s message on input '%s'", yt_msg_type_name(m.type),
                     d->inputs[p].name);
      }
      yt_msg_clear(&m);
    }
    if (rc < 0) break;
    if ((rc = stats_tick(r, err))) break;
  }
  yt_msg_clear(&m);
  return rc < 0 ? rc : YT_OK;
}

int yt_runner_main(const char *plan_path, const char *name, int replica) {
  runner r;
  memset(&r, 0, sizeof r);
  yt_err err = {0};
  signal(SIGINT, SIG_IGN); /* Ctrl-C is the coordinator's: it drains the graph */
  /* Messages are large (a padded float batch is tens of MB) and come and go
   * every few milliseconds. Above glibc's mmap threshold each one would be a
   * fresh mmap: page faults and zeroing for every byte, then munmap. Keeping
   * them on the heap reuses the same pages; peak memory stays what the high-
   * water marks allow. */
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  r.t0 = r.last_stats = now();
  char *text = strcmp(plan_path, "-") ? slurp(plan_path, &err) : read_plan_stdin(&err);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK); /* from here on stdin carries control bytes */
  cJSON *plan = text ? cJSON_Parse(text) : NULL;
  free(text);
  int rc = plan ? YT_OK : (err.msg[0] ? err.code : yt_fail(&err, YT_ECORRUPT, "plan %s is not JSON", plan_path));
  if (!rc) {
    /* a replica on another host reports over tcp; one here over ipc */
    const char *coord = plan_str(plan, "coord", "the run", &err);
    const cJSON *ct = cJSON_GetObjectItem(plan, "coord_tcp");
    if (coord && cJSON_IsString(ct) && strcmp(my_host(plan, name, replica), "local")) coord = ct->valuestring;
    read_curve(&r, plan);
    rc = coord ? open_sock(&r, &r.coord, YT_PUSH, coord, 0, 1000, &err) : err.code;
  }
  if (!rc) rc = setup(&r, plan, name, replica, &err);
  cJSON_Delete(plan);
  if (!rc && r.node.def->init) rc = r.node.def->init(&r.node, &err);
  if (!rc) rc = send_simple(&r, YT_MSG_READY, replica, name, &err);
  if (!rc) rc = r.node.def->n_inputs == 0 ? run_source(&r, &err) : run_consumer(&r, &err);
  if (!rc && r.node.def->flush) {
    double t = now();
    rc = r.node.def->flush(&r.node, &err);
    r.busy += now() - t;
  }
  if (!rc) rc = send_eos(&r, &err);
  if (!rc) rc = send_stats(&r, 1, &err);
  /* keep the connections up until the consumers have everything (runner.h) */
  while (!rc && r.node.def->n_outputs > 0 && !r.may_exit && !r.ctl_closed) {
    yt_pollitem it = {NULL, 0, YT_POLLIN, 0};
    if (yt_poll(&it, 1, 1000, &err) < 0) break;
    read_control(&r);
  }
  int reported = 0;
  if (rc && r.coord && !r.ctl_closed) {
    yt_err e2;
    char text[sizeof err.msg + 256];
    snprintf(text, sizeof text, "%s\t%s", name, err.msg); /* the coordinator relays it with the node's type */
    reported = send_simple(&r, YT_MSG_ERROR, replica, text, &e2) == YT_OK;
  }
  if (rc && !reported) fprintf(stderr, "ERROR: node %s[%d]: %s\n", name, replica, err.msg); /* no coordinator */
  if (r.node.def && r.node.def->fini) r.node.def->fini(&r.node); /* also after a failed init */
  if (r.node.def) yt_node_teardown(&r.node);
  teardown(&r, rc == YT_OK);
  free(r.name);
  return rc ? 1 : 0;
}
