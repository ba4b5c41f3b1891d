/* runner.h: the node process: one replica of one node, driven by the plan.
 *
 * `yt8m-flow node PLAN NAME REPLICA` (spawned by `yt8m-flow run`, never by
 * hand) sets the node up from run_dir/plan.json (PLAN "-": from stdin, as
 * "YTPLAN <bytes>\n" + JSON, for a replica started on another host over ssh),
 * binds one PULL per input pad at the plan's endpoint (ipc://, or tcp:// when
 * the pad crosses machines),
 * connects one PUSH per downstream replica of every outgoing edge, reports
 * READY to the coordinator, and then calls the node's callbacks:
 *   - a source waits for the start byte on its control pipe (stdin), then calls
 *     run() until YT_EOF; a drain byte sets yt_node_stopping();
 *   - other nodes receive until every input pad has seen one EOS per upstream
 *     producer replica;
 *   - then flush(), EOS to every downstream replica, a final STATS, fini();
 *     a node with outputs then waits for the exit byte, which the coordinator
 *     sends once every consumer downstream has finished: closing earlier could
 *     lose messages still in flight (ZeroMQ may drop what a receiver at its
 *     high-water mark has not taken when the sender disconnects).
 * Messages are load-balanced over downstream replicas by trying each PUSH
 * without blocking and, when all are at their high-water mark, polling them for
 * room: a slow consumer slows its producers, memory stays bounded. Every second
 * a STATS message (JSON) goes to the coordinator. A failure is sent as an
 * ERROR message and the process exits 1; if the coordinator goes away (its end
 * of the control pipe closes), the node exits at once.
 *
 * Not here: planning (cli/plan.c), supervision (cli/run.c). */
#ifndef YT_RUNNER_H
#define YT_RUNNER_H

#include "core/error.h"

/* Control bytes from the coordinator on the node's stdin. */
#define YT_CTL_START 'S'
#define YT_CTL_DRAIN 'D'
#define YT_CTL_EXIT 'X' /* every consumer downstream has finished: sockets may close */

/* Runs the replica to the end; returns the process exit status. */
int yt_runner_main(const char *plan_path, const char *name, int replica);

#endif
