/* check.c: `yt8m-flow check [--set NAME=VALUE]... FILE`: parse and validate a
 * graph without running it. Every error of the pass is printed in GNU format
 * (FILE:LINE:COL: error: ...), with the source line, a caret and a note where
 * one helps; exit 1 when there is any. */
#include <string.h>

#include "cli.h"
#include "flow.h"
#include "plan.h"

static void help(FILE *f) {
  fprintf(f, "usage: yt8m-flow check [--set NAME=VALUE | --set NODE.PARAM=VALUE]... FILE.flow\n"
             "  Parses FILE and its includes and reports every error found, then exits 1;\n"
             "  prints a one-line summary and exits 0 when the graph is valid.\n");
}

int cmd_check(int argc, char **argv) {
  const char *sets[256], *file = NULL;
  size_t n = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
    if (!strcmp(argv[i], "--set") || !strncmp(argv[i], "--set=", 6)) {
      const char *v = argv[i][5] == '=' ? argv[i] + 6 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) { cli_error("check", "--set needs NAME=VALUE"); return 2; }
      if (n == sizeof sets / sizeof sets[0]) { cli_error("check", "too many --set"); return 2; }
      sets[n++] = v;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      cli_error("check", "unknown option '%s'", argv[i]);
      help(stderr);
      return 2;
    } else if (file) {
      cli_error("check", "one graph file at a time ('%s' and '%s')", file, argv[i]);
      return 2;
    } else {
      file = argv[i];
    }
  }
  if (!file) { cli_error("check", "no graph file"); help(stderr); return 2; }
  yt_flow f;
  yt_flow_set s = {sets, n};
  int errors = yt_flow_load(&f, file, &s);
  yt_plan plan = {0};
  errors = yt_plan_check(&f, &plan); /* schema checks too, even after syntax errors: one pass */
  if (errors) {
    yt_flow_print_diags(&f, stderr);
    fprintf(stderr, "%d error%s\n", errors, errors == 1 ? "" : "s");
  } else {
    int procs = 0;
    for (size_t i = 0; i < f.n_nodes; i++) procs += f.nodes[i].replicas;
    printf("%s: flow %s: %zu nodes (%d processes), %zu edges%s%s\n", file, f.name, f.n_nodes, procs, f.n_edges,
           f.tap ? ", tap " : "", f.tap ? f.tap : "");
  }
  yt_plan_free(&plan);
  yt_flow_free(&f);
  return errors ? 1 : 0;
}
