/* plan.h: from a parsed graph (flow.h) to something that can run.
 *
 * yt_plan_check validates the graph against the node registry (node.h):
 * unknown node type, unknown parameter, wrong type or out of range, missing
 * required parameter, unknown port, port type mismatch, unconnected input;
 * every error goes into the flow's diagnostics with its location, a did-you-
 * mean where a near name exists. yt_plan_build then resolves parameters
 * (defaults filled in), plans the endpoints (ipc:// under a run directory) and
 * writes the plan every node process reads (JSON).
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
  int fan_out; /* some output pad feeds several edges (records are copied) */
} yt_plan;

/* Checks f against the registry; adds diagnostics to f; returns the number
 * of errors (f's own included). On success fills p (free with yt_plan_free). */
int yt_plan_check(yt_flow *f, yt_plan *p);
void yt_plan_free(yt_plan *p);

/* The endpoint of input pad `pad` of replica `rep` of node `node`. */
void yt_plan_endpoint(const char *run_dir, int node, int rep, int pad, char *out, size_t cap);

/* Writes run_dir/plan.json for the node processes. */
int yt_plan_write(const yt_plan *p, const char *run_dir, const char *coord, yt_err *err);

#endif
