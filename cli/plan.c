/* plan.c: schema checks of a graph and the plan the node processes read. */
#include "plan.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of a .flow parameter as the schema's type, or an error message. */
static int to_pval(const yt_value *v, const yt_param_def *d, yt_pval *out, char *why, size_t cap) {
  memset(out, 0, sizeof *out);
  out->type = d->type;
  out->set = true;
  yt_vkind k = v->kind;
  switch (d->type) {
  case YT_P_INT:
    if (k != YT_V_INT) break;
    out->i = v->i;
    return 0;
  case YT_P_FLOAT:
    if (k != YT_V_INT && k != YT_V_FLOAT) break;
    out->f = k == YT_V_INT ? (double)v->i : v->f;
    return 0;
  case YT_P_BOOL:
    if (k != YT_V_BOOL) break;
    out->b = v->b;
    return 0;
  case YT_P_STRING:
  case YT_P_ENUM:
    if (k != YT_V_STRING) break;
    out->s = strdup(v->s);
    return 0;
  case YT_P_SIZE:
    if (k != YT_V_SIZE && k != YT_V_INT) break;
    if (v->i < 0) { snprintf(why, cap, "a size cannot be negative"); return -1; }
    out->i = v->i;
    return 0;
  case YT_P_DURATION:
    if (k != YT_V_DURATION && k != YT_V_INT && k != YT_V_FLOAT) break;
    out->f = k == YT_V_INT ? (double)v->i : v->f;
    return 0;
  case YT_P_LIST: {
    const yt_value *items = k == YT_V_LIST ? v->items : v;
    size_t n = k == YT_V_LIST ? v->n : 1;
    out->items = calloc(n ? n : 1, sizeof *out->items);
    for (size_t i = 0; i < n; i++) {
      char buf[512];
      const yt_value *it = &items[i];
      if (it->kind == YT_V_STRING) snprintf(buf, sizeof buf, "%s", it->s);
      else if (it->kind == YT_V_INT || it->kind == YT_V_SIZE) snprintf(buf, sizeof buf, "%lld", (long long)it->i);
      else if (it->kind == YT_V_FLOAT) snprintf(buf, sizeof buf, "%.9g", it->f);
      else { snprintf(why, cap, "list items must be strings or numbers"); yt_pval_free(out); return -1; }
      out->items[out->n++] = strdup(buf);
    }
    return 0;
  }
  }
  snprintf(why, cap, "parameter '%s' needs %s %s, found %s", d->name, d->type == YT_P_INT ? "an" : "a",
           yt_ptype_name(d->type), yt_value_kind_name(k));
  return -1;
}

/* "did you mean" over a node type's parameter names */
static const char *closest_param(const yt_node_def *d, const char *name) {
  const char *names[128];
  size_t n = 0;
  for (int i = 0; i < d->n_params && n < 128; i++) names[n++] = d->params[i].name;
  return yt_closest(name, names, n);
}

static const char *closest_pad(const yt_pad_def *pads, int n, const char *name) {
  const char *names[YT_MAX_PADS];
  for (int i = 0; i < n; i++) names[i] = pads[i].name;
  return yt_closest(name, names, (size_t)n);
}

#define HOST_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

static int is_local(const char *host) { return !strcmp(host, "local") || !strcmp(host, "localhost"); }

static int find_node(const yt_flow *f, const char *name) {
  for (size_t i = 0; i < f->n_nodes; i++)
    if (!strcmp(f->nodes[i].name, name)) return (int)i;
  return -1;
}

/* Resolves one end of an edge to a pad index; -1 with a diagnostic. */
static int resolve_pad(yt_flow *f, const yt_port_ref *r, const yt_node_def *d, int output) {
  const yt_pad_def *pads = output ? d->outputs : d->inputs;
  int n = output ? d->n_outputs : d->n_inputs;
  const char *dir = output ? "output" : "input";
  if (!r->port) {
    if (n == 0) {
      yt_flow_error(f, r->loc, NULL, "node '%s' (%s) has no %s port: it is a %s", r->node, d->name, dir,
                    output ? "sink" : "source");
      return -1;
    }
    return 0; /* the default port is the first */
  }
  int k = yt_node_pad(pads, n, r->port);
  if (k < 0) {
    const char *near = closest_pad(pads, n, r->port);
    char note[128];
    if (near) snprintf(note, sizeof note, "did you mean '%s'?", near);
    yt_flow_error(f, r->loc, near ? note : NULL, "unknown %s port '%s' on node '%s' (%s)", dir, r->port, r->node,
                  d->name);
  }
  return k;
}

static int types_fit(const char *out, const char *in) {
  return !strcmp(in, "any") || !strcmp(out, in) || (!strcmp(out, "batch") && !strcmp(in, "videos"));
}

int yt_plan_check(yt_flow *f, yt_plan *p) {
  memset(p, 0, sizeof *p);
  p->nodes = calloc(f->n_nodes ? f->n_nodes : 1, sizeof *p->nodes);
  p->n_nodes = f->n_nodes;
  size_t nt;
  const yt_node_def *const *all = yt_node_all(&nt);
  for (size_t i = 0; i < f->n_nodes; i++) {
    yt_node_decl *nd = &f->nodes[i];
    yt_plan_node *pn = &p->nodes[i];
    pn->decl = nd;
    pn->def = nd->type ? yt_node_find(nd->type) : NULL;
    p->processes += nd->replicas;
    if (!nd->type) continue; /* a syntax error before the type, already reported */
    if (!pn->def) {
      const char *names[128];
      for (size_t k = 0; k < nt && k < 128; k++) names[k] = all[k]->name;
      const char *near = yt_closest(nd->type, names, nt < 128 ? nt : 128);
      char note[160];
      if (near) snprintf(note, sizeof note, "did you mean '%s'?", near);
      else snprintf(note, sizeof note, "`yt8m-flow inspect` lists the node types");
      yt_flow_error(f, nd->type_loc, note, "unknown node type '%s'", nd->type);
      continue;
    }
    for (size_t h = 0; h < nd->n_hosts; h++) {
      const char *host = nd->hosts[h];
      /* it goes to ssh and into tcp:// addresses: a name or an address, never an option */
      if (!host[0] || host[0] == '-' || host[0] == '.' || strspn(host, HOST_CHARS) != strlen(host))
        yt_flow_error(f, nd->loc, "a host is a name or an IPv4 address (letters, digits, '.', '-', '_')",
                      "node '%s': '%s' is not a host name", nd->name, host);
      else if (!is_local(host))
        p->remote = 1;
    }
    yt_err err = {0};
    if (yt_params_init(&pn->params, pn->def->params, (size_t)pn->def->n_params, &err)) {
      yt_flow_error(f, nd->loc, NULL, "node type '%s': %s", pn->def->name, err.msg);
      continue;
    }
    for (size_t k = 0; k < nd->n_params; k++) {
      yt_param *pr = &nd->params[k];
      int idx = yt_param_index(pn->def->params, (size_t)pn->def->n_params, pr->name);
      if (idx < 0) {
        const char *near = closest_param(pn->def, pr->name);
        char note[160];
        if (near) snprintf(note, sizeof note, "did you mean '%s'?", near);
        else snprintf(note, sizeof note, "`yt8m-flow inspect %s` lists its parameters", pn->def->name);
        yt_flow_error(f, pr->loc, note, "unknown parameter '%s' for node '%s' (%s)", pr->name, nd->name,
                      pn->def->name);
        continue;
      }
      const yt_param_def *d = &pn->def->params[idx];
      char why[256];
      yt_pval v;
      if (to_pval(&pr->value, d, &v, why, sizeof why)) {
        yt_flow_error(f, pr->value.loc.line ? pr->value.loc : pr->loc, NULL, "%s", why);
        continue;
      }
      if (yt_pval_check(&v, d, &err)) {
        yt_flow_error(f, pr->value.loc.line ? pr->value.loc : pr->loc, d->help, "%s", err.msg);
        yt_pval_free(&v);
        continue;
      }
      yt_pval_free(&pn->params.vals[idx]);
      pn->params.vals[idx] = v;
    }
    for (int k = 0; k < pn->def->n_params; k++)
      if (!pn->params.vals[k].set) {
        char note[300];
        snprintf(note, sizeof note, "%s (%s): %s", pn->def->params[k].name, yt_ptype_name(pn->def->params[k].type),
                 pn->def->params[k].help);
        yt_flow_error(f, nd->loc, note, "node '%s' (%s) is missing required parameter '%s'", nd->name,
                      pn->def->name, pn->def->params[k].name);
      }
  }
  /* edges: ports, types; then every input must be fed */
  p->edges = calloc(f->n_edges ? f->n_edges : 1, sizeof *p->edges);
  int *fed = calloc(f->n_nodes * YT_MAX_PADS + 1, sizeof *fed);
  int *feeds = calloc(f->n_nodes * YT_MAX_PADS + 1, sizeof *feeds);
  for (size_t i = 0; i < f->n_edges; i++) {
    yt_edge *e = &f->edges[i];
    int a = find_node(f, e->from.node), b = find_node(f, e->to.node);
    const yt_node_def *da = a >= 0 ? p->nodes[a].def : NULL, *db = b >= 0 ? p->nodes[b].def : NULL;
    int pa = da ? resolve_pad(f, &e->from, da, 1) : -1, pb = db ? resolve_pad(f, &e->to, db, 0) : -1;
    /* an input with an edge is connected, even when the edge has an error of its own (said once) */
    if (pb >= 0) fed[b * YT_MAX_PADS + pb]++;
    if (pa < 0 || pb < 0) continue; /* an unknown node, type or port: reported already */
    const char *ta = da->outputs[pa].type, *tb = db->inputs[pb].type;
    if (!types_fit(ta, tb)) {
      char note[200];
      snprintf(note, sizeof note, "'%s.%s' gives %s; '%s.%s' takes %s", e->from.node, da->outputs[pa].name, ta,
               e->to.node, db->inputs[pb].name, tb);
      yt_flow_error(f, e->to.loc, note, "port type mismatch: %s -> %s", ta, tb);
      continue;
    }
    if (e->codec && strcmp(e->codec, "zstd") && strcmp(e->codec, "none"))
      yt_flow_error(f, e->loc, "codecs: none, zstd", "unknown codec '%s'", e->codec);
    yt_plan_edge *pe = &p->edges[p->n_edges++];
    *pe = (yt_plan_edge){a, pa, b, pb, e->hwm > 0 ? e->hwm : YT_DEFAULT_HWM,
                         e->codec && !strcmp(e->codec, "zstd") ? YT_CODEC_ZSTD : YT_CODEC_NONE};
    if (++feeds[a * YT_MAX_PADS + pa] > 1) p->fan_out = 1;
  }
  for (size_t i = 0; i < f->n_nodes; i++) {
    const yt_node_def *d = p->nodes[i].def;
    if (!d) continue;
    for (int k = 0; k < d->n_inputs; k++)
      if (!fed[i * YT_MAX_PADS + k] && !d->inputs[k].optional)
        yt_flow_error(f, f->nodes[i].loc, "connect it: `upstream -> NODE.PORT`",
                      "input port '%s' of node '%s' (%s) is not connected", d->inputs[k].name, f->nodes[i].name,
                      d->name);
  }
  free(fed);
  free(feeds);
  return (int)f->n_diags;
}

void yt_plan_free(yt_plan *p) {
  for (size_t i = 0; i < p->n_nodes; i++)
    if (p->nodes[i].params.vals) yt_params_free(&p->nodes[i].params);
  free(p->nodes);
  free(p->edges);
  memset(p, 0, sizeof *p);
}

const char *yt_plan_host(const yt_plan *p, int node, int rep) {
  const yt_node_decl *d = p->nodes[node].decl;
  if (!d->n_hosts) return NULL;
  const char *h = d->hosts[(size_t)rep % d->n_hosts];
  return is_local(h) ? NULL : h;
}

static int same_host(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* Does input pad `pad` of replica `rep` of `node` cross machines: the replica
 * or some replica of a producer feeding the pad is elsewhere? */
static int crosses(const yt_plan *p, int node, int rep, int pad) {
  const char *here = yt_plan_host(p, node, rep);
  for (size_t e = 0; e < p->n_edges; e++) {
    const yt_plan_edge *pe = &p->edges[e];
    if (pe->to != node || pe->to_pad != pad) continue;
    for (int r = 0; r < p->nodes[pe->from].decl->replicas; r++)
      if (!same_host(yt_plan_host(p, pe->from, r), here)) return 1;
  }
  return 0;
}

/* Endpoints of every input pad of every replica: bind[] for the replica,
 * connect[] for its producers; slot first[node] + rep * YT_MAX_PADS + pad. */
typedef struct endpoints {
  size_t *first; /* per node: the slot of (node, 0, 0) */
  char (*bind)[300], (*connect)[300];
} endpoints;

static int plan_endpoints(const yt_plan *p, const char *run_dir, endpoints *ep, yt_err *err) {
  size_t n = 0;
  ep->first = calloc(p->n_nodes + 1, sizeof *ep->first);
  for (size_t i = 0; i < p->n_nodes; i++) {
    ep->first[i] = n;
    n += (size_t)p->nodes[i].decl->replicas * YT_MAX_PADS;
  }
  ep->bind = calloc(n + 1, sizeof *ep->bind);
  ep->connect = calloc(n + 1, sizeof *ep->connect);
  int port = p->port_base; /* port_base itself is the coordinator's */
  for (size_t i = 0; i < p->n_nodes; i++)
    for (int r = 0; r < p->nodes[i].decl->replicas; r++)
      for (int k = 0; k < p->nodes[i].def->n_inputs; k++) {
        size_t s = ep->first[i] + (size_t)r * YT_MAX_PADS + (size_t)k;
        if (!p->remote || !crosses(p, (int)i, r, k)) {
          snprintf(ep->bind[s], sizeof ep->bind[s], "ipc://%s/n%zu.%d.%d", run_dir, i, r, k);
          snprintf(ep->connect[s], sizeof ep->connect[s], "%s", ep->bind[s]);
          continue;
        }
        if (++port > 65535)
          return yt_fail(err, YT_EUSAGE, "the graph needs tcp ports past 65535: choose a lower --port-base");
        const char *host = yt_plan_host(p, (int)i, r);
        snprintf(ep->bind[s], sizeof ep->bind[s], "tcp://*:%d", port);
        snprintf(ep->connect[s], sizeof ep->connect[s], "tcp://%s:%d", host ? host : p->advertise, port);
      }
  return YT_OK;
}

static void endpoints_free(endpoints *ep) {
  free(ep->first);
  free(ep->bind);
  free(ep->connect);
}

int yt_plan_write(const yt_plan *p, const char *run_dir, const char *coord, const char *coord_tcp, char **text_out,
                  yt_err *err) {
  endpoints ep = {0};
  int rc = plan_endpoints(p, run_dir, &ep, err);
  if (rc) { endpoints_free(&ep); return rc; }
  cJSON *root = cJSON_CreateObject(), *nodes = cJSON_AddArrayToObject(root, "nodes");
  cJSON_AddStringToObject(root, "run_dir", run_dir);
  cJSON_AddStringToObject(root, "coord", coord);
  if (coord_tcp) cJSON_AddStringToObject(root, "coord_tcp", coord_tcp);
  if (p->curve_public) { /* plan.json sits in a 0700 run directory; other hosts get it over ssh */
    cJSON_AddStringToObject(root, "curve_public", p->curve_public);
    cJSON_AddStringToObject(root, "curve_secret", p->curve_secret);
  }
  for (size_t i = 0; i < p->n_nodes; i++) {
    const yt_plan_node *pn = &p->nodes[i];
    cJSON *n = cJSON_CreateObject();
    cJSON_AddItemToArray(nodes, n);
    cJSON_AddStringToObject(n, "name", pn->decl->name);
    cJSON_AddStringToObject(n, "type", pn->def->name);
    cJSON_AddNumberToObject(n, "replicas", pn->decl->replicas);
    cJSON *hosts = cJSON_AddArrayToObject(n, "hosts"); /* per replica; "local" = the coordinator's machine */
    for (int r = 0; r < pn->decl->replicas; r++) {
      const char *h = yt_plan_host(p, (int)i, r);
      cJSON_AddItemToArray(hosts, cJSON_CreateString(h ? h : "local"));
    }
    cJSON *params = cJSON_AddObjectToObject(n, "params");
    for (size_t k = 0; k < pn->params.n; k++) {
      char buf[4096];
      cJSON_AddStringToObject(params, pn->params.defs[k].name, yt_pval_format(&pn->params.vals[k], buf, sizeof buf));
    }
    /* inputs: how many EOS to expect per pad = replicas of every producer */
    cJSON *inputs = cJSON_AddArrayToObject(n, "inputs");
    for (int k = 0; k < pn->def->n_inputs; k++) {
      int eos = 0, hwm = 0;
      for (size_t e = 0; e < p->n_edges; e++)
        if (p->edges[e].to == (int)i && p->edges[e].to_pad == k) {
          eos += p->nodes[p->edges[e].from].decl->replicas;
          if (p->edges[e].hwm > hwm) hwm = p->edges[e].hwm;
        }
      cJSON *in = cJSON_CreateObject();
      cJSON_AddNumberToObject(in, "eos", eos);
      cJSON_AddNumberToObject(in, "hwm", hwm ? hwm : YT_DEFAULT_HWM);
      cJSON *bind = cJSON_AddArrayToObject(in, "bind"); /* per replica */
      for (int r = 0; r < pn->decl->replicas; r++)
        cJSON_AddItemToArray(bind, cJSON_CreateString(ep.bind[ep.first[i] + (size_t)r * YT_MAX_PADS + (size_t)k]));
      cJSON_AddItemToArray(inputs, in);
    }
    /* outputs: per pad, its edges; per edge, the endpoints of every replica downstream */
    cJSON *outputs = cJSON_AddArrayToObject(n, "outputs");
    for (int k = 0; k < pn->def->n_outputs; k++) {
      cJSON *edges = cJSON_CreateArray();
      cJSON_AddItemToArray(outputs, edges);
      for (size_t e = 0; e < p->n_edges; e++) {
        const yt_plan_edge *pe = &p->edges[e];
        if (pe->from != (int)i || pe->from_pad != k) continue;
        cJSON *je = cJSON_CreateObject(), *eps = cJSON_AddArrayToObject(je, "endpoints");
        cJSON_AddNumberToObject(je, "edge", (double)e);
        cJSON_AddNumberToObject(je, "hwm", pe->hwm);
        cJSON_AddNumberToObject(je, "codec", pe->codec);
        for (int r = 0; r < p->nodes[pe->to].decl->replicas; r++)
          cJSON_AddItemToArray(
              eps, cJSON_CreateString(ep.connect[ep.first[pe->to] + (size_t)r * YT_MAX_PADS + (size_t)pe->to_pad]));
        cJSON_AddItemToArray(edges, je);
      }
    }
  }
  endpoints_free(&ep);
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  char path[4096];
  snprintf(path, sizeof path, "%s/plan.json", run_dir);
  FILE *fp = fopen(path, "w");
  if (!fp || fputs(text, fp) < 0 || fclose(fp)) rc = yt_fail(err, YT_EIO, "cannot write %s", path);
  if (text_out && !rc) *text_out = text;
  else free(text);
  return rc;
}
