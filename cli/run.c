/* run.c: `yt8m-flow run GRAPH`: the launcher and coordinator.
 *
 * Checks the graph, plans ipc:// endpoints under a private run directory,
 * spawns every replica as its own process (`yt8m-flow node ...`, stdin = a
 * control pipe), waits for all of them to report READY, then starts the
 * sources. While the graph runs it collects STATS, publishes snapshots on the
 * tap, shows progress, and supervises: a node that reports an ERROR, exits
 * non-zero or dies on a signal fails the run ("ERROR: from node NAME[i]
 * (TYPE): ..."), and every other process is terminated. First Ctrl-C drains
 * (sources stop, in-flight records reach the sinks), a second aborts. At the
 * end the exactly-once accounting compares what sources emitted with what
 * sinks consumed plus what nodes dropped on purpose; --summary writes JSON.
 * Nothing is left behind: processes are reaped, the run directory removed.
 *
 * Not here: the graph language (flow.c), checks and plan (plan.c), the node
 * process (nodes/core/runner.c), the tap client (tap.c). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/runner.h"
#include "flow.h"
#include "plan.h"
#include "transport/sock.h"

#define GRACE_MS 2000 /* how long teardown waits after SIGTERM before SIGKILL */

typedef struct replica {
  int node, index;
  pid_t pid;
  int ctl;          /* write end of the control pipe, -1 once closed */
  int ready, final, exited, status, reported, released;
  double t_exit;    /* when it exited; its final STATS may still be in flight */
  cJSON *stats;     /* latest STATS */
  cJSON *metrics;   /* latest metrics the node published ({"step", "scalars"}) */
} replica;

typedef struct coord {
  yt_flow flow;
  yt_plan plan;
  replica *reps;
  int n_reps, alive, ready, started, draining, failed, aborted;
  char run_dir[256], error[1400];
  const char *ssh, *remote_bin; /* how replicas on other hosts start (YT_FLOW_SSH, YT_FLOW_REMOTE_BIN) */
  char *plan_text;              /* what they read on stdin */
  yt_sock *pull, *tap;
  double t0, t_start, last_pub, last_log;
  int tty, quiet;
} coord;

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  char c = (char)sig;
  if (write(sig_pipe[1], &c, 1) < 0) { /* full pipe: a signal is already pending */
  }
  errno = saved;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *node_name(const coord *c, int node) { return c->plan.nodes[node].decl->name; }
static const char *node_type(const coord *c, int node) { return c->plan.nodes[node].def->name; }
static int is_source(const coord *c, int node) { return c->plan.nodes[node].def->n_inputs == 0; }

static double jnum(const cJSON *o, const char *k) {
  const cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static uint64_t jhex(const cJSON *o, const char *k) {
  const cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;
  return cJSON_IsString(v) ? strtoull(v->valuestring, NULL, 16) : 0;
}

/* The first failure wins; later ones are consequences (peers gone). */
static void fail(coord *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(coord *c, const char *fmt, ...) {
  if (c->failed) return;
  c->failed = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s%s\n", c->tty ? "\r\033[K" : "", c->error);
}

static replica *find_rep(coord *c, const char *name, int index) {
  for (int i = 0; i < c->n_reps; i++)
    if (c->reps[i].index == index && !strcmp(node_name(c, c->reps[i].node), name)) return &c->reps[i];
  return NULL;
}

static void control_all_sources(coord *c, char byte) {
  for (int i = 0; i < c->n_reps; i++)
    if (is_source(c, c->reps[i].node) && c->reps[i].ctl >= 0 && write(c->reps[i].ctl, &byte, 1) < 0) {
      /* the node already exited: its exit status tells the story */
    }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k, n -= (size_t)k;
  }
  return 0;
}

/* 'text' for a POSIX shell: the remote command goes through the remote shell. */
static void shell_quote(char *out, size_t cap, const char *text) {
  size_t n = 0;
  if (n + 1 < cap) out[n++] = '\'';
  for (const char *p = text; *p && n + 5 < cap; p++) {
    if (*p == '\'') memcpy(out + n, "'\\''", 4), n += 4;
    else out[n++] = *p;
  }
  if (n + 1 < cap) out[n++] = '\'';
  out[n] = 0;
}

/* In the child: exec `SSH... HOST 'cd CWD && exec env ... BIN node - NAME REP'`.
 * The replica reads its plan from stdin (runner.c: read_plan_stdin); ssh
 * carries stdin, so the control pipe reaches it, and its end closing (the
 * coordinator or ssh gone) stops it as it stops a local replica. */
static void exec_remote(coord *c, const replica *r, const char *host, int blas1) {
  char cwd[2048], qcwd[4200], qbin[4200], qname[300], cmd[9000];
  if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "/");
  shell_quote(qcwd, sizeof qcwd, cwd);
  shell_quote(qbin, sizeof qbin, c->remote_bin);
  shell_quote(qname, sizeof qname, node_name(c, r->node));
  const char *timeout = getenv("OPENBLAS_THREAD_TIMEOUT"); /* as spawn() sets it locally */
  char blas[64];
  snprintf(blas, sizeof blas, " OPENBLAS_THREAD_TIMEOUT=%d", timeout ? atoi(timeout) : 4);
  snprintf(cmd, sizeof cmd, "cd %s && exec env%s %s node - %s %d", qcwd, blas1 ? " OPENBLAS_NUM_THREADS=1" : blas,
           qbin, qname, r->index);
  char words[1024], *argv[64];
  snprintf(words, sizeof words, "%s", c->ssh);
  int n = 0;
  for (char *w = strtok(words, " \t"); w && n < 60; w = strtok(NULL, " \t")) argv[n++] = w;
  argv[n++] = (char *)host;
  argv[n++] = cmd;
  argv[n] = NULL;
  execvp(argv[0], argv);
  fprintf(stderr, "yt8m-flow: cannot run %s (YT_FLOW_SSH): %s\n", argv[0], strerror(errno));
  _exit(127);
}

static int spawn(coord *c, const char *self) {
  char plan[512];
  snprintf(plan, sizeof plan, "%s/plan.json", c->run_dir);
  for (int i = 0; i < c->n_reps; i++) {
    replica *r = &c->reps[i];
    const char *host = yt_plan_host(&c->plan, r->node, r->index);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) { fail(c, "ERROR: cannot create a pipe: %s", strerror(errno)); return -1; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { fail(c, "ERROR: fork failed: %s", strerror(errno)); return -1; }
    if (pid == 0) {
      /* own process group: the terminal's Ctrl-C reaches only the coordinator */
      setpgid(0, 0);
      dup2(fds[0], 0); /* dup2 clears close-on-exec on fd 0 */
      const yt_node_def *def = yt_node_find(node_type(c, r->node));
      int blas1 = def && !def->blas_threads; /* node.h: blas_threads */
      if (host) exec_remote(c, r, host, blas1);
      if (blas1) setenv("OPENBLAS_NUM_THREADS", "1", 1);
      /* OpenBLAS's idle threads spin in sched_yield for 2^28 cycles (about
       * 0.1 s) after every sgemm, taking the core from the backend's worker
       * pool (backend/cpu/parallel.h) and the graph's other processes; 4, the
       * least it takes, sends them to sleep at once (a user's value wins) */
      else setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
      char rep[16];
      snprintf(rep, sizeof rep, "%d", r->index);
      execl(self, "yt8m-flow", "node", plan, node_name(c, r->node), rep, (char *)NULL);
      fprintf(stderr, "yt8m-flow: cannot exec %s: %s\n", self, strerror(errno));
      _exit(127);
    }
    close(fds[0]);
    r->pid = pid;
    r->ctl = fds[1];
    c->alive++;
    if (host) { /* the plan first; a pipe holds 64 KiB, ssh drains it as it connects */
      char head[64];
      int hl = snprintf(head, sizeof head, "YTPLAN %zu\n", strlen(c->plan_text));
      if (write_all(r->ctl, head, (size_t)hl) || write_all(r->ctl, c->plan_text, strlen(c->plan_text))) {
        /* ssh is gone already: its exit status tells why (final_pending) */
      }
    }
  }
  return 0;
}

/* Reaps exited children; a non-zero exit that did not report an ERROR is one. */
static void reap(coord *c) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < c->n_reps; i++) {
      replica *r = &c->reps[i];
      if (r->pid != pid) continue;
      r->exited = 1;
      r->status = status;
      c->alive--;
      if (r->ctl >= 0) close(r->ctl), r->ctl = -1;
      if (r->reported || c->aborted) break;
      if (WIFSIGNALED(status))
        fail(c, "ERROR: from node %s[%d] (%s): killed by signal %d (%s)", node_name(c, r->node), r->index,
             node_type(c, r->node), WTERMSIG(status), strsignal(WTERMSIG(status)));
      /* exit 0: its final STATS may still be on the way; non-zero: its ERROR may be (final_pending) */
      r->t_exit = now();
      break;
    }
  }
}

#define FINAL_GRACE_S 5.0 /* how long a clean exit's final STATS may take to arrive */
#define ERROR_GRACE_S 2.0 /* how long a failed exit's ERROR may take (the exit can be seen first) */

/* Replicas that exited and whose last word has not arrived yet: the final
 * counts of an exit 0 (overdue past FINAL_GRACE_S fails the run: its counts
 * would be missing from the accounting), or the ERROR of a non-zero exit
 * (past ERROR_GRACE_S the exit status is reported instead). */
static int final_pending(coord *c) {
  int n = 0;
  for (int i = 0; i < c->n_reps; i++) {
    replica *r = &c->reps[i];
    if (!r->exited || r->final || r->reported || c->failed || !WIFEXITED(r->status)) continue;
    if (WEXITSTATUS(r->status) != 0) {
      const char *host = yt_plan_host(&c->plan, r->node, r->index);
      if (now() - r->t_exit <= ERROR_GRACE_S)
        n++;
      else if (host && !r->ready) /* ssh could not log in, or the remote end could not start it */
        fail(c, "ERROR: from node %s[%d] (%s): could not start on host '%s': %s exited with status %d (its message "
             "is above; the host must take `ssh %s` without a password and have %s at the same path)",
             node_name(c, r->node), r->index, node_type(c, r->node), host, c->ssh, WEXITSTATUS(r->status), host,
             c->remote_bin);
      else
        fail(c, "ERROR: from node %s[%d] (%s): exited with status %d%s%s", node_name(c, r->node), r->index,
             node_type(c, r->node), WEXITSTATUS(r->status), host ? " on host " : "", host ? host : "");
      continue;
    }
    if (now() - r->t_exit > FINAL_GRACE_S)
      fail(c, "ERROR: from node %s[%d] (%s): exited without reporting its final counts", node_name(c, r->node),
           r->index, node_type(c, r->node));
    else
      n++;
  }
  return n;
}

/* A node may close its sockets once every replica of every node it feeds has
 * reported its final counts (so has received everything; see runner.h). */
static void release_producers(coord *c) {
  for (int i = 0; i < c->n_reps; i++) {
    replica *r = &c->reps[i];
    if (!r->final || r->released || r->ctl < 0) continue;
    int done = 1;
    for (size_t e = 0; e < c->plan.n_edges && done; e++) {
      if (c->plan.edges[e].from != r->node) continue;
      for (int k = 0; k < c->n_reps; k++)
        if (c->reps[k].node == c->plan.edges[e].to && !c->reps[k].final) done = 0;
    }
    if (!done) continue;
    char x = YT_CTL_EXIT;
    if (write(r->ctl, &x, 1) < 0) { /* already gone: reap() tells */
    }
    r->released = 1;
  }
}

static void publish_metrics(coord *c, const replica *r, const cJSON *metrics);

static void handle_msg(coord *c, yt_msg *m) {
  const char *text = m->nframes ? m->frames[0].data : "";
  size_t len = m->nframes ? m->frames[0].len : 0;
  char *s = strndup(text ? text : "", len);
  if (m->type == YT_MSG_READY) {
    replica *r = find_rep(c, s, (int)m->producer);
    if (r && !r->ready) r->ready = 1, c->ready++;
  } else if (m->type == YT_MSG_STATS) {
    cJSON *o = cJSON_Parse(s);
    const cJSON *nm = o ? cJSON_GetObjectItem(o, "name") : NULL;
    replica *r = cJSON_IsString(nm) ? find_rep(c, nm->valuestring, (int)jnum(o, "replica")) : NULL;
    cJSON *metrics = o ? cJSON_GetObjectItem(o, "metrics") : NULL;
    if (r && metrics) {
      /* a node's metrics: straight to the tap, and kept for the snapshot */
      cJSON_DetachItemViaPointer(o, metrics);
      cJSON_Delete(r->metrics);
      r->metrics = metrics;
      publish_metrics(c, r, metrics);
      cJSON_Delete(o);
    } else if (r && cJSON_IsTrue(cJSON_GetObjectItem(o, "drain"))) {
      if (!c->draining) {
        c->draining = 1;
        fprintf(stderr, "%srun: node %s[%d] asked to drain: sources stop, records in flight finish\n",
                c->tty ? "\r\033[K" : "", node_name(c, r->node), r->index);
        control_all_sources(c, YT_CTL_DRAIN);
      }
      cJSON_Delete(o);
    } else if (r) {
      cJSON_Delete(r->stats);
      r->stats = o;
      if (cJSON_IsTrue(cJSON_GetObjectItem(o, "final"))) {
        r->final = 1;
        release_producers(c);
      }
    } else {
      cJSON_Delete(o);
    }
  } else if (m->type == YT_MSG_ERROR) {
    /* the runner sends "NAME\tmessage"; the producer id is the replica index */
    char *tab = strchr(s, '\t');
    replica *r = tab ? (*tab = 0, find_rep(c, s, (int)m->producer)) : NULL;
    if (r) {
      r->reported = 1;
      fail(c, "ERROR: from node %s[%d] (%s): %s", node_name(c, r->node), r->index, node_type(c, r->node), tab + 1);
    } else {
      fail(c, "ERROR: from a node: %s", s);
    }
  }
  free(s);
}

/* Per node: the sum over replicas of a STATS field. */
static double node_sum(const coord *c, int node, const char *k) {
  double v = 0;
  for (int i = 0; i < c->n_reps; i++)
    if (c->reps[i].node == node) v += jnum(c->reps[i].stats, k);
  return v;
}

static cJSON *node_extra(const coord *c, int node) {
  cJSON *x = cJSON_CreateObject();
  for (int i = 0; i < c->n_reps; i++) {
    if (c->reps[i].node != node || !c->reps[i].stats) continue;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(c->reps[i].stats, "extra")) {
      if (!it->string || !cJSON_IsNumber(it)) continue; /* a node of another build: skip what we cannot read */
      cJSON *have = cJSON_GetObjectItem(x, it->string);
      if (have) cJSON_SetNumberValue(have, have->valuedouble + it->valuedouble);
      else cJSON_AddNumberToObject(x, it->string, it->valuedouble);
    }
  }
  return x;
}

/* Messages sent into `node` and not yet taken: its input queue depth. */
static double queue_depth(const coord *c, int node) {
  double sent = 0;
  for (int i = 0; i < c->n_reps; i++) {
    const cJSON *pair, *edges = c->reps[i].stats ? cJSON_GetObjectItem(c->reps[i].stats, "edges") : NULL;
    cJSON_ArrayForEach(pair, edges) { /* [edge id, messages sent] */
      const cJSON *id = cJSON_GetArrayItem(pair, 0), *n = cJSON_GetArrayItem(pair, 1);
      if (!cJSON_IsNumber(id) || !cJSON_IsNumber(n)) continue;
      int e = id->valueint;
      if (e >= 0 && (size_t)e < c->plan.n_edges && c->plan.edges[e].to == node) sent += n->valuedouble;
    }
  }
  double q = sent - node_sum(c, node, "in_msgs");
  return q > 0 ? q : 0;
}

static void progress_of(const coord *c, double *done, double *total, const char **unit) {
  *done = *total = 0;
  *unit = "records";
  for (int i = 0; i < c->n_reps; i++) {
    const cJSON *p = c->reps[i].stats ? cJSON_GetObjectItem(c->reps[i].stats, "progress") : NULL;
    if (!p) continue;
    *done += jnum(p, "done");
    *total += jnum(p, "total");
    const cJSON *u = cJSON_GetObjectItem(p, "unit");
    if (cJSON_IsString(u)) *unit = u->valuestring;
  }
}

static const char *state_name(const coord *c, int finished) {
  if (c->failed) return c->aborted ? "aborted" : "failed";
  if (finished) return "done";
  if (c->draining) return "draining";
  return c->started ? "running" : "starting";
}

/* The whole state as one JSON object: what the tap publishes and --summary extends. */
static cJSON *snapshot(coord *c, int finished) {
  cJSON *o = cJSON_CreateObject();
  double t = now();
  cJSON_AddStringToObject(o, "type", "snapshot");
  cJSON_AddStringToObject(o, "graph", c->flow.name ? c->flow.name : "");
  cJSON_AddStringToObject(o, "state", state_name(c, finished));
  cJSON_AddNumberToObject(o, "elapsed", t - c->t0);
  if (c->failed) cJSON_AddStringToObject(o, "error", c->error);
  double done, total;
  const char *unit;
  progress_of(c, &done, &total, &unit);
  cJSON *p = cJSON_AddObjectToObject(o, "progress");
  cJSON_AddNumberToObject(p, "done", done);
  cJSON_AddNumberToObject(p, "total", total);
  cJSON_AddStringToObject(p, "unit", unit);
  cJSON *nodes = cJSON_AddObjectToObject(o, "nodes");
  for (size_t k = 0; k < c->plan.n_nodes; k++) {
    int n = (int)k;
    cJSON *j = cJSON_AddObjectToObject(nodes, node_name(c, n));
    double el = 0, busy = 0, peak = 0;
    for (int i = 0; i < c->n_reps; i++)
      if (c->reps[i].node == n) {
        el += jnum(c->reps[i].stats, "elapsed");
        busy += jnum(c->reps[i].stats, "busy");
        double rss = jnum(c->reps[i].stats, "peak_rss_kb");
        if (rss > peak) peak = rss;
      }
    cJSON_AddStringToObject(j, "type", node_type(c, n));
    cJSON_AddNumberToObject(j, "replicas", c->plan.nodes[n].decl->replicas);
    static const char *const keys[] = {"in", "out", "in_bytes", "out_bytes", "emitted", "consumed", "dropped"};
    for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++) cJSON_AddNumberToObject(j, keys[q], node_sum(c, n, keys[q]));
    double secs = t - (c->t_start ? c->t_start : c->t0);
    double recs = node_sum(c, n, is_source(c, n) ? "out" : "in");
    double bytes = node_sum(c, n, is_source(c, n) ? "out_bytes" : "in_bytes");
    cJSON_AddNumberToObject(j, "records_per_s", secs > 0 ? recs / secs : 0);
    cJSON_AddNumberToObject(j, "bytes_per_s", secs > 0 ? bytes / secs : 0);
    cJSON_AddNumberToObject(j, "busy_pct", el > 0 ? 100.0 * busy / el : 0);
    cJSON_AddNumberToObject(j, "queue", queue_depth(c, n));
    cJSON_AddNumberToObject(j, "peak_rss_kb", peak);
    cJSON *x = node_extra(c, n);
    cJSON *it;
    cJSON_ArrayForEach(it, x) cJSON_AddNumberToObject(j, it->string, it->valuedouble);
    cJSON_Delete(x);
    for (int i = 0; i < c->n_reps; i++) /* replica 0's latest metrics stand for the node */
      if (c->reps[i].node == n && c->reps[i].metrics && c->reps[i].index == 0)
        cJSON_AddItemToObject(j, "metrics", cJSON_Duplicate(c->reps[i].metrics, 1));
  }
  return o;
}

static void publish(coord *c, int finished) {
  c->last_pub = now();
  if (!c->tap) return;
  cJSON *o = snapshot(c, finished);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  yt_msg m;
  yt_msg_init(&m, YT_MSG_STATS);
  yt_err err;
  if (!yt_msg_add(&m, text, strlen(text), &err)) yt_sock_send(c->tap, &m, YT_DONTWAIT, &err); /* PUB never blocks */
  yt_msg_clear(&m);
  free(text);
}

/* One tap message per metrics object a node sends: {"type": "metrics", "node",
 * "replica", "step", "scalars"}; the latest per node is also in snapshots. */
static void publish_metrics(coord *c, const replica *r, const cJSON *metrics) {
  if (!c->tap) return;
  cJSON *o = cJSON_Duplicate(metrics, 1);
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return;
  }
  cJSON_AddStringToObject(o, "type", "metrics");
  cJSON_AddStringToObject(o, "node", node_name(c, r->node));
  cJSON_AddNumberToObject(o, "replica", r->index);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  yt_msg m;
  yt_msg_init(&m, YT_MSG_STATS);
  yt_err err;
  if (!yt_msg_add(&m, text, strlen(text), &err)) yt_sock_send(c->tap, &m, YT_DONTWAIT, &err);
  yt_msg_clear(&m);
  free(text);
}

static void human(double v, char *buf, size_t cap) {
  if (v >= 1e9) snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e4) snprintf(buf, cap, "%.1fk", v / 1e3);
  else snprintf(buf, cap, "%.0f", v);
}

/* One progress line on a terminal; a plain log line every 10 s otherwise. */
static void show_progress(coord *c, int final) {
  if (c->quiet) return;
  double t = now();
  if (!final && !c->tty && t - c->last_log < 10) return;
  c->last_log = t;
  double recs = 0, bytes = 0;
  for (size_t n = 0; n < c->plan.n_nodes; n++)
    if (is_source(c, (int)n)) recs += node_sum(c, (int)n, "out"), bytes += node_sum(c, (int)n, "out_bytes");
  double secs = t - (c->t_start ? c->t_start : c->t0);
  double done, total;
  const char *unit;
  progress_of(c, &done, &total, &unit);
  char r[32], rr[32], br[32], line[256];
  human(recs, r, sizeof r);
  human(secs > 0 ? recs / secs : 0, rr, sizeof rr);
  human(secs > 0 ? bytes / secs : 0, br, sizeof br);
  int k = snprintf(line, sizeof line, "[%6.1fs] %s records, %s rec/s, %sB/s", secs, r, rr, br);
  if (total > 0 && done > 0 && k > 0 && (size_t)k < sizeof line) {
    double frac = done / total > 1 ? 1 : done / total;
    double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
    snprintf(line + k, sizeof line - (size_t)k, "  %5.1f%% of %s, ETA %.0fs", 100 * frac, unit, eta);
  }
  if (c->draining && !final) strncat(line, "  (draining)", sizeof line - strlen(line) - 1);
  if (c->tty) fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
  else fprintf(stderr, "run: %s\n", line);
}

/* Terminates every live replica: SIGTERM, then SIGKILL after the grace time. */
static void terminate_all(coord *c) {
  for (int i = 0; i < c->n_reps; i++)
    if (c->reps[i].pid > 0 && !c->reps[i].exited) kill(c->reps[i].pid, SIGTERM);
  double until = now() + GRACE_MS / 1000.0;
  while (c->alive > 0 && now() < until) {
    reap(c);
    if (c->alive > 0) usleep(10000);
  }
  for (int i = 0; i < c->n_reps; i++)
    if (c->reps[i].pid > 0 && !c->reps[i].exited) kill(c->reps[i].pid, SIGKILL);
  while (c->alive > 0) {
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) break;
    for (int i = 0; i < c->n_reps; i++)
      if (c->reps[i].pid == pid && !c->reps[i].exited) c->reps[i].exited = 1, c->alive--;
  }
}

/* The run directory holds only ipc sockets and plan.json, all ours. */
static void remove_run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char path[600];
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
      }
    closedir(d);
  }
  rmdir(dir);
}

/* Exactly-once: sources' emitted == sinks' consumed + everyone's dropped, in
 * count and in the sum of record hashes (so a loss and a duplicate cannot
 * cancel). Returns 1 when it balances; fills a verdict for the user. */
static int accounting(coord *c, cJSON *summary) {
  uint64_t em = 0, emh = 0, co = 0, coh = 0, dr = 0, drh = 0;
  for (int i = 0; i < c->n_reps; i++) {
    const cJSON *s = c->reps[i].stats;
    em += (uint64_t)jnum(s, "emitted"), emh += jhex(s, "emitted_hash");
    co += (uint64_t)jnum(s, "consumed"), coh += jhex(s, "consumed_hash");
    dr += (uint64_t)jnum(s, "dropped"), drh += jhex(s, "dropped_hash");
  }
  cJSON *a = cJSON_AddObjectToObject(summary, "accounting");
  cJSON_AddNumberToObject(a, "emitted", (double)em);
  cJSON_AddNumberToObject(a, "consumed", (double)co);
  cJSON_AddNumberToObject(a, "dropped", (double)dr);
  char verdict[256];
  int ok = 1;
  if (c->plan.fan_out) {
    snprintf(verdict, sizeof verdict, "not checked: an output feeds several edges, so records are copied");
  } else if (em == co + dr && emh == coh + drh) {
    snprintf(verdict, sizeof verdict, "exact: %" PRIu64 " emitted = %" PRIu64 " consumed + %" PRIu64 " dropped", em,
             co, dr);
  } else {
    ok = 0;
    if (em > co + dr)
      snprintf(verdict, sizeof verdict, "LOST %" PRIu64 " records: %" PRIu64 " emitted, %" PRIu64 " consumed, %" PRIu64 " dropped",
               em - co - dr, em, co, dr);
    else if (em < co + dr)
      snprintf(verdict, sizeof verdict, "DUPLICATED %" PRIu64 " records: %" PRIu64 " emitted, %" PRIu64 " consumed, %" PRIu64
               " dropped", co + dr - em, em, co, dr);
    else
      snprintf(verdict, sizeof verdict, "records differ: counts match (%" PRIu64 ") but some were lost and others doubled", em);
  }
  cJSON_AddBoolToObject(a, "ok", ok);
  cJSON_AddStringToObject(a, "verdict", verdict);
  if (!c->quiet || !ok) fprintf(stderr, "run: accounting %s\n", verdict);
  return ok;
}

static int write_summary(const char *path, cJSON *o) {
  char *text = cJSON_Print(o);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  if (f && fclose(f)) ok = 0;
  if (ok && rename(tmp, path)) ok = 0;
  free(text);
  if (!ok) {
    unlink(tmp);
    cli_error("run", "cannot write the summary %s: %s", path, strerror(errno));
  }
  return ok ? 0 : -1;
}

static void help(FILE *f) {
  fprintf(f,
          "usage: yt8m-flow run [--set NAME=VALUE | --set NODE.PARAM=VALUE]... [--tap ENDPOINT]\n"
          "                     [--summary FILE.json] [--quiet] [--advertise ADDR] [--port-base N] GRAPH.flow\n"
          "  Runs every node replica of GRAPH as its own process, connected by ZeroMQ.\n"
          "  --tap ENDPOINT     publish live stats there (overrides the graph's `tap`);\n"
          "                     watch with `yt8m-flow tap ENDPOINT`\n"
          "  --summary FILE     write {\"ok\", \"nodes\": {NAME: {type, replicas, in, out, ...}}, ...}\n"
          "  --quiet            no progress output\n"
          "  --advertise ADDR   the address other hosts reach this machine at (default: its host name)\n"
          "  --port-base N      tcp ports for graphs with `on HOST` nodes: the coordinator takes N,\n"
          "                     input pads that cross machines N+1, N+2, ... (default %d)\n"
          "  Nodes placed `on HOST` start with `$YT_FLOW_SSH HOST ...` (default \"ssh -o BatchMode=yes\")\n"
          "  running $YT_FLOW_REMOTE_BIN (default: this binary's path) in this directory's path there.\n"
          "  Ctrl-C once drains (sources stop, records in flight reach the sinks); twice aborts.\n"
          "  Exit status: 0 ok, 1 the graph failed or records were lost, 2 bad usage, 130 aborted.\n",
          YT_DEFAULT_PORT_BASE);
}

int cmd_run(int argc, char **argv) {
  const char *sets[256], *file = NULL, *tap = NULL, *summary_path = NULL, *advertise = NULL;
  int port_base = YT_DEFAULT_PORT_BASE;
  size_t nsets = 0;
  coord c;
  memset(&c, 0, sizeof c);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
    if (!strcmp(a, "--set") || !strcmp(a, "--tap") || !strcmp(a, "--summary") || !strcmp(a, "--advertise") ||
        !strcmp(a, "--port-base")) {
      if (i + 1 >= argc) { cli_error("run", "%s needs a value", a); return 2; }
      const char *v = argv[++i];
      if (!strcmp(a, "--tap")) tap = v;
      else if (!strcmp(a, "--advertise")) advertise = v;
      else if (!strcmp(a, "--port-base")) {
        long pb;
        if (cli_long("run", "--port-base", v, 1024, 65000, &pb)) return 2;
        port_base = (int)pb;
      }
      else if (!strcmp(a, "--summary")) summary_path = v;
      else if (nsets == 256) { cli_error("run", "too many --set"); return 2; }
      else sets[nsets++] = v;
    } else if (!strncmp(a, "--set=", 6)) {
      if (nsets == 256) { cli_error("run", "too many --set"); return 2; }
      sets[nsets++] = a + 6;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      c.quiet = 1;
    } else if (a[0] == '-' && a[1]) {
      cli_error("run", "unknown option '%s'", a);
      help(stderr);
      return 2;
    } else if (file) {
      cli_error("run", "one graph at a time ('%s' and '%s')", file, a);
      return 2;
    } else {
      file = a;
    }
  }
  if (!file) { cli_error("run", "no graph file"); help(stderr); return 2; }

  yt_flow_set s = {sets, nsets};
  int errors = yt_flow_load(&c.flow, file, &s);
  errors = yt_plan_check(&c.flow, &c.plan);
  if (errors) {
    yt_flow_print_diags(&c.flow, stderr);
    fprintf(stderr, "%d error%s; nothing was started\n", errors, errors == 1 ? "" : "s");
    yt_plan_free(&c.plan);
    yt_flow_free(&c.flow);
    return 1;
  }
  c.tty = isatty(2);
  c.t0 = c.last_pub = c.last_log = now();
  if (!tap) tap = c.flow.tap;

  /* the self-pipe: signals become bytes polled beside the sockets */
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) { cli_error("run", "pipe: %s", strerror(errno)); return 1; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a control pipe whose node died: write() fails, reap() tells */

  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  self[sl > 0 ? sl : 0] = 0;
  const char *tmp = getenv("TMPDIR");
  snprintf(c.run_dir, sizeof c.run_dir, "%s/yt8m-flow.XXXXXX", tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp");
  if (!mkdtemp(c.run_dir)) { cli_error("run", "cannot create a run directory %s: %s", c.run_dir, strerror(errno)); return 1; }
  yt_err err = {0};
  char coord_ep[400];
  snprintf(coord_ep, sizeof coord_ep, "ipc://%s/coord", c.run_dir);
  int rc = yt_sock_open(&c.pull, YT_PULL, coord_ep, 1, 100000, &err);
  /* replicas on other hosts: they report over tcp, start over ssh, read the plan on stdin */
  char host_name[256], coord_tcp[320];
  yt_curve curve;
  if (c.plan.remote) {
    if (!advertise) {
      if (gethostname(host_name, sizeof host_name)) snprintf(host_name, sizeof host_name, "localhost");
      host_name[sizeof host_name - 1] = 0;
      advertise = host_name;
    }
    c.plan.advertise = advertise;
    c.plan.port_base = port_base;
    const char *ssh = getenv("YT_FLOW_SSH"), *bin = getenv("YT_FLOW_REMOTE_BIN");
    c.ssh = ssh && *ssh ? ssh : "ssh -o BatchMode=yes";
    c.remote_bin = bin && *bin ? bin : self;
    snprintf(coord_tcp, sizeof coord_tcp, "tcp://*:%d", port_base);
    if (!rc) rc = yt_curve_new(&curve, &err); /* one key pair per run: transport/sock.h */
    c.plan.curve_public = curve.public_key;
    c.plan.curve_secret = curve.secret_key;
    if (!rc) {
      rc = yt_sock_bind_curve(c.pull, coord_tcp, &curve, &err); /* a second endpoint on the same PULL */
      if (rc) yt_err_prefix(&err, "pick other ports with --port-base N: ");
    }
    snprintf(coord_tcp, sizeof coord_tcp, "tcp://%s:%d", advertise, port_base);
  }  if (!rc && tap) {
    rc = yt_sock_open(&c.tap, YT_PUB, tap, 1, 100, &err);
    if (rc) yt_err_prefix(&err, "tap: ");
  }
  if (!rc) rc = yt_plan_write(&c.plan, c.run_dir, coord_ep, c.plan.remote ? coord_tcp : NULL, &c.plan_text, &err);
  if (rc) {
    cli_error("run", "%s", err.msg);
    yt_sock_close(c.pull);
    yt_sock_close(c.tap);
    yt_ctx_term(NULL);
    remove_run_dir(c.run_dir);
    return 1;
  }
  for (size_t n = 0; n < c.plan.n_nodes; n++) c.n_reps += c.plan.nodes[n].decl->replicas;
  c.reps = calloc((size_t)c.n_reps, sizeof *c.reps);
  for (size_t n = 0, k = 0; n < c.plan.n_nodes; n++)
    for (int r = 0; r < c.plan.nodes[n].decl->replicas; r++, k++)
      c.reps[k] = (replica){.node = (int)n, .index = r, .ctl = -1};
  if (!c.quiet)
    fprintf(stderr, "run: %s: %zu nodes, %d processes%s%s\n", file, c.plan.n_nodes, c.n_reps, tap ? ", tap " : "",
            tap ? tap : "");

  spawn(&c, self);

  int sigints = 0;
  yt_msg m;
  yt_msg_init(&m, 0);
  for (;;) {
    /* every turn, not only once all have exited: a replica that exits non-zero
     * without its ERROR (ssh could not log in, exec failed) fails the run
     * while its peers still wait for it */
    int pending = final_pending(&c);
    if (c.failed || (c.alive <= 0 && pending == 0)) break;
    yt_pollitem items[2] = {{c.pull, -1, YT_POLLIN, 0}, {NULL, sig_pipe[0], YT_POLLIN, 0}};
    rc = yt_poll(items, 2, 200, &err);
    if (rc < 0 && rc != YT_INTERRUPTED) { fail(&c, "ERROR: coordinator: %s", err.msg); break; }
    if (items[1].revents) {
      char sig[16];
      ssize_t k = read(sig_pipe[0], sig, sizeof sig);
      for (ssize_t i = 0; i < k; i++) {
        if (sig[i] == SIGCHLD) continue;
        if (++sigints == 1) { /* before the start too: sources then stop at once */
          c.draining = 1;
          fprintf(stderr, "%srun: draining: sources stop, records in flight finish (Ctrl-C again to abort)\n",
                  c.tty ? "\r\033[K" : "");
          control_all_sources(&c, YT_CTL_DRAIN);
        } else {
          c.aborted = 1;
          fail(&c, "run: aborted by %s", sig[i] == SIGTERM ? "SIGTERM" : "Ctrl-C");
        }
      }
    }
    /* take every waiting message before looking at exits: a node's ERROR comes before its death */
    while (yt_sock_recv(c.pull, &m, 0, &err) == YT_OK) handle_msg(&c, &m);
    reap(&c);
    if (!c.started && c.ready == c.n_reps && !c.failed) {
      c.started = 1;
      c.t_start = now();
      control_all_sources(&c, YT_CTL_START);
    }
    if (now() - c.last_pub >= 0.5) {
      publish(&c, 0);
      show_progress(&c, 0);
    }
  }
  while (yt_sock_recv(c.pull, &m, 0, &err) == YT_OK) handle_msg(&c, &m);
  yt_msg_clear(&m);
  if (c.alive > 0) terminate_all(&c);
  reap(&c);
  for (int i = 0; i < c.n_reps; i++)
    if (c.reps[i].ctl >= 0) close(c.reps[i].ctl);

  cJSON *summary = snapshot(&c, !c.failed);
  cJSON_DeleteItemFromObject(summary, "type");
  show_progress(&c, 1);
  int ok = !c.failed;
  if (ok) ok = accounting(&c, summary);
  cJSON_AddBoolToObject(summary, "ok", ok);
  publish(&c, 1);
  if (summary_path && write_summary(summary_path, summary)) ok = 0;
  cJSON_Delete(summary);
  if (!c.quiet || !ok)
    fprintf(stderr, "run: %s %s in %.1fs\n", c.flow.name ? c.flow.name : file,
            ok ? "finished" : c.aborted ? "aborted" : "FAILED", now() - c.t0);

  for (int i = 0; i < c.n_reps; i++) cJSON_Delete(c.reps[i].stats), cJSON_Delete(c.reps[i].metrics);
  free(c.reps);
  yt_sock_close(c.pull);
  yt_sock_close(c.tap);
  yt_ctx_term(NULL);
  remove_run_dir(c.run_dir);
  free(c.plan_text);
  yt_plan_free(&c.plan);
  yt_flow_free(&c.flow);
  close(sig_pipe[0]), close(sig_pipe[1]);
  return c.aborted ? 130 : ok ? 0 : 1;
}
