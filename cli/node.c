/* node.c: `yt8m-flow node PLAN NAME REPLICA`: one replica of one node, as the
 * launcher spawns it (see nodes/core/runner.h); PLAN "-" reads the plan from
 * stdin (a replica on another host, started over ssh). Not meant to be typed. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/runner.h"

int cmd_node(int argc, char **argv) {
  long rep;
  if (argc != 4) {
    cli_error("node", "usage: yt8m-flow node PLAN.json NAME REPLICA (spawned by `yt8m-flow run`)");
    return 2;
  }
  if (cli_long("node", "REPLICA", argv[3], 0, 1000000, &rep)) return 2;
  return yt_runner_main(argv[1], argv[2], (int)rep);
}
