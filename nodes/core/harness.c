/* harness.c: one node in process, for tests (harness.h). */
#include "core/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/records_ref.h"

/* *c = a deep copy of m (frames owned). */
static int copy_msg(yt_msg *c, const yt_msg *m, yt_err *err) {
  yt_msg_init(c, m->type);
  c->records = m->records;
  c->producer = m->producer;
  for (size_t i = 0; i < m->nframes; i++) {
    void *p = malloc(m->frames[i].len ? m->frames[i].len : 1);
    if (!p) { yt_msg_clear(c); return yt_fail(err, YT_ENOMEM, "out of memory"); }
    if (m->frames[i].len) memcpy(p, m->frames[i].data, m->frames[i].len);
    if (yt_msg_add_owned(c, p, m->frames[i].len, err)) { yt_msg_clear(c); return YT_ENOMEM; }
  }
  return YT_OK;
}

/* Captures a deep copy: the node's frames may be borrowed. */
static int capture(yt_node *n, int pad, yt_msg *m, yt_err *err) {
  yt_harness *h = n->host;
  if (h->n_out[pad] == h->cap_out[pad]) {
    size_t c = h->cap_out[pad] ? h->cap_out[pad] * 2 : 16;
    yt_msg *o = realloc(h->out[pad], c * sizeof *o);
    if (!o) return yt_fail(err, YT_ENOMEM, "out of memory");
    h->out[pad] = o;
    h->cap_out[pad] = c;
  }
  int rc = copy_msg(&h->out[pad][h->n_out[pad]], m, err);
  if (rc == YT_OK) h->n_out[pad]++;
  return rc;
}

static int send_refs(yt_node *n, int pad) {
  (void)pad;
  return ((yt_harness *)n->host)->send_refs;
}

int yt_harness_open_replica(yt_harness *h, const char *type, const char *const *params, int replica,
                            int replicas, yt_err *err) {
  memset(h, 0, sizeof *h);
  const yt_node_def *def = yt_node_find(type);
  if (!def) return yt_fail(err, YT_EUSAGE, "unknown node type '%s'", type);
  int rc = yt_node_setup(&h->node, def, type, replica, replicas, err);
  if (rc) return rc;
  h->node.host = h;
  h->node.emit_fn = capture;
  h->node.refs_fn = send_refs;
  for (size_t i = 0; params && params[i]; i++) {
    const char *eq = strchr(params[i], '=');
    if (!eq) { rc = yt_fail(err, YT_EUSAGE, "harness parameter '%s' is not name=value", params[i]); break; }
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(eq - params[i]), params[i]);
    if ((rc = yt_params_set(&h->node.params, name, eq + 1, err))) break;
  }
  if (!rc) rc = yt_params_complete(&h->node.params, err);
  h->node.inputs_connected = (1u << def->n_inputs) - 1; /* the harness feeds every pad */
  if (!rc && def->init) rc = def->init(&h->node, err);
  if (rc) {
    yt_harness_close(h);
    return rc;
  }
  h->initialized = 1;
  return YT_OK;
}

int yt_harness_open(yt_harness *h, const char *type, const char *const *params, yt_err *err) {
  return yt_harness_open_replica(h, type, params, 0, 1, err);
}

int yt_harness_run(yt_harness *h, size_t max_calls, yt_err *err) {
  const yt_node_def *d = h->node.def;
  if (!d->run) return yt_fail(err, YT_EINVAL, "node type %s is not a source (no run callback)", d->name);
  int rc = YT_OK;
  for (size_t calls = 0; !max_calls || calls < max_calls; calls++)
    if ((rc = d->run(&h->node, err)) != YT_OK) break;
  if (rc < 0) return rc;
  return yt_harness_flush(h, err);
}

int yt_harness_feed(yt_harness *h, int pad, const yt_msg *m, yt_err *err) {
  const yt_node_def *d = h->node.def;
  if (pad < 0 || pad >= d->n_inputs) return yt_fail(err, YT_EINVAL, "node type %s has no input pad %d", d->name, pad);
  yt_msg read;
  yt_msg_init(&read, 0);
  int rc = YT_OK;
  if (yt_records_is_ref(m)) { /* m is the caller's: read a copy */
    if ((rc = copy_msg(&read, m, err)) == YT_OK && (rc = yt_records_resolve(&read, err)) >= 0) m = &read;
  }
  if (rc >= 0) rc = yt_node_account_in(&h->node, pad, m, err);
  if (!rc) rc = d->process(&h->node, pad, m, err);
  yt_msg_clear(&read);
  return rc;
}

int yt_harness_flush(yt_harness *h, yt_err *err) {
  return h->node.def->flush ? h->node.def->flush(&h->node, err) : YT_OK;
}

void yt_harness_clear_out(yt_harness *h) {
  for (int p = 0; p < YT_MAX_PADS; p++) {
    for (size_t i = 0; i < h->n_out[p]; i++) yt_msg_clear(&h->out[p][i]);
    h->n_out[p] = 0;
  }
}

void yt_harness_close(yt_harness *h) {
  /* fini also runs after a failed init: nodes release what init got to */
  if (h->node.def && h->node.def->fini) h->node.def->fini(&h->node);
  yt_harness_clear_out(h);
  for (int p = 0; p < YT_MAX_PADS; p++) free(h->out[p]);
  if (h->node.def) yt_node_teardown(&h->node);
  memset(h, 0, sizeof *h);
}
