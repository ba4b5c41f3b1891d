/* flow.h: the .flow graph language v1: parsed form and diagnostics.
 *
 *   flow NAME v1
 *   include "common/frames.flowi"            # relative to the including file
 *   let bs = 160
 *   node batch : batcher x2 on local { batch_size = ${bs}; shuffle_buffer = 4096 }
 *   shards -> deq -> batch.in -> model [hwm = 8, codec = zstd]
 *   tap "tcp://127.0.0.1:5560"
 *
 * Values: int, float, bool, "string" with ${var} interpolation, [lists],
 * durations (500ms 30s 10min 2h), sizes (512KiB 64MiB 1GiB, or B KB MB GB),
 * env("VAR", default), and ${var} alone for a variable's typed value.
 * `--set NAME=VALUE` overrides a `let`, `--set node.param=VALUE` a parameter.
 * This file parses and checks what needs no node schema (syntax, variables,
 * includes, duplicate nodes, dangling edges, cycles); node types, parameters
 * and ports are checked against the registry by the caller. All errors of a
 * pass are collected, each with file, line and column (GNU format). */
#ifndef YT_FLOW_H
#define YT_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/closest.h"

typedef struct yt_loc {
  const char *file; /* owned by the flow's file table */
  int line, col;    /* 1-based */
} yt_loc;

typedef enum { YT_V_INT, YT_V_FLOAT, YT_V_BOOL, YT_V_STRING, YT_V_LIST, YT_V_DURATION, YT_V_SIZE } yt_vkind;

typedef struct yt_value {
  yt_vkind kind;
  int64_t i;       /* INT, SIZE (bytes) */
  double f;        /* FLOAT, DURATION (seconds) */
  bool b;
  char *s;         /* STRING (interpolated) */
  struct yt_value *items; /* LIST */
  size_t n;
  yt_loc loc;
} yt_value;

typedef struct yt_param {
  char *name;
  yt_value value;
  yt_loc loc;
} yt_param;

typedef struct yt_node_decl {
  char *name, *type;
  int replicas;
  char **hosts;
  size_t n_hosts;
  yt_param *params;
  size_t n_params;
  yt_loc loc, type_loc;
} yt_node_decl;

typedef struct yt_port_ref {
  char *node, *port; /* port NULL = the node's default port */
  yt_loc loc;
} yt_port_ref;

typedef struct yt_edge {
  yt_port_ref from, to;
  int hwm;           /* 0 = default */
  char *codec;       /* NULL = none */
  yt_loc loc;
} yt_edge;

typedef struct yt_let {
  char *name;
  yt_value value;
  yt_loc loc;
  bool used;
} yt_let;

typedef struct yt_diag {
  yt_loc loc;
  char *msg, *note; /* note may be NULL */
} yt_diag;

typedef struct yt_flow_file {
  char *path, *text;
} yt_flow_file;

typedef struct yt_flow {
  char *name;
  yt_node_decl *nodes;
  size_t n_nodes;
  yt_edge *edges;
  size_t n_edges;
  yt_let *lets;
  size_t n_lets;
  char *tap;
  yt_loc tap_loc;
  /* sources of every file read, for diagnostics */
  yt_flow_file *files;
  size_t n_files;
  yt_diag *diags;
  size_t n_diags;
} yt_flow;

/* `--set` overrides: "name=value" or "node.param=value". */
typedef struct yt_flow_set {
  const char *const *items;
  size_t n;
} yt_flow_set;

/* Parses path and its includes, applies sets, and checks what needs no
 * schema. Returns the number of errors (0 = fine); f is always filled and
 * must be freed. */
int yt_flow_load(yt_flow *f, const char *path, const yt_flow_set *sets);
/* Records an error (used by the schema checks too); note may be NULL. */
void yt_flow_error(yt_flow *f, yt_loc loc, const char *note, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints every diagnostic: FILE:LINE:COL: error: MSG, the source line, a
 * caret, and "note: ..." where there is one. */
void yt_flow_print_diags(const yt_flow *f, FILE *out);
void yt_flow_free(yt_flow *f);


const char *yt_value_kind_name(yt_vkind k);

#endif
