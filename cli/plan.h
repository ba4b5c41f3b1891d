/* plan.h: from a parsed graph (flow.h) to something that can run.
 *
 * yt_plan_check validates the graph against the node registry (node.h):
 * unknown node type, unknown parameter, wrong type or out of range, missing
 * required parameter, unknown port, port type mismatch, unconnected input,
 * a host name that cannot be one; every error goes into the flow's diagnostics
 * with its location, a did-you-mean where a near name exists, and resolves the
 * parameters (defaults filled in). yt_plan_write plans the endpoints and
 * writes the plan every node process reads (JSON).
 *
 * Placement: `node n : T xN on A, B` puts replica i on host i % 2 (A, B, A,
 * ...); no `on`, `on local` or `on localhost` is this machine. An input pad
 * whose replica and producers are all on this machine binds ipc:// under the
 * run directory, as a graph without hosts does everywhere; an input pad that
 * crosses machines binds tcp://\*:PORT, ports counted up from port_base, and
 * its producers connect to tcp://HOST:PORT (HOST = the advertised address for
 * this machine). Replicas on other hosts report to the coordinator over
 * tcp://ADVERTISE:port_base.
 *
 * Not here: spawning and supervision (run.c), the node process (core/runner.c). */
#ifndef YT_PLAN_H
#define YT_PLAN_H

#include "core/error.h"
#include "core/node.h"
#include "flow.h"

#define YT_DEFAULT_HWM 8 /* messages per edge when the graph does not say */

typedef struct yt_plan_edge {
  int from, from_pad, to, to_pad; /* node indices and pad indices */
  int hwm;
  int codec; /* YT_CODEC_NONE / YT_CODEC_ZSTD */
} yt_plan_edge;

typedef struct yt_plan_node {
  const yt_node_decl *decl;
  const yt_node_def *def;
  yt_params params; /* resolved */
} yt_plan_node;

typedef struct yt_plan {
  yt_plan_node *nodes;
  size_t n_nodes;
  yt_plan_edge *edges;
  size_t n_edges;
  int processes;
  int fan_out;     /* some output pad feeds several edges (records are copied) */
  int remote;      /* some replica runs on another host */
  /* set by the launcher before yt_plan_write when remote */
  const char *advertise; /* the address other hosts reach this one at */
  int port_base;         /* the coordinator's tcp port; input pads count up from it */
  const char *curve_public, *curve_secret; /* the run's CURVE keys (Z85) for its tcp links */
} yt_plan;

#define YT_DEFAULT_PORT_BASE 27600 /* below Linux's ephemeral range (32768-60999) */

/* Checks f against the registry; adds diagnostics to f; returns the number
 * of errors (f's own included). On success fills p (free with yt_plan_free). */
int yt_plan_check(yt_flow *f, yt_plan *p);
void yt_plan_free(yt_plan *p);

/* The host replica `rep` of `node` runs on, or NULL for this machine. */
const char *yt_plan_host(const yt_plan *p, int node, int rep);

/* Writes run_dir/plan.json for the node processes. coord is the
 * coordinator's ipc endpoint, coord_tcp its tcp one (NULL unless p->remote).
 * Returns the plan's text too (*text, malloc'd) when text is not NULL: the
 * launcher hands it to replicas on other hosts on their stdin. */
int yt_plan_write(const yt_plan *p, const char *run_dir, const char *coord, const char *coord_tcp, char **text,
                  yt_err *err);

#endif
