/* tap.c: `yt8m-flow tap [--jsonl] [--once] [--timeout SECONDS] ENDPOINT`:
 * watch a running graph.
 *
 * `yt8m-flow run GRAPH --tap ENDPOINT` binds a PUB socket there and publishes a
 * full JSON snapshot of the run every 0.5 s and once more at the end (see
 * snapshot() in run.c): one YT_MSG_STATS message, one payload frame. This
 * command only subscribes, so it can never slow the job: a PUB drops messages
 * for a subscriber that does not keep up. Every message is the whole state, so
 * the first one received is already complete.
 *
 * Output: on a terminal, a table redrawn in place (header, progress bar with
 * rate and ETA, one row per node); elsewhere one compact block per snapshot, at
 * most every 2 s (the first and the last always); with --jsonl every snapshot
 * as it came, one JSON object per line.
 *
 * Exit: 0 on a snapshot with state "done" (or after the first with --once, or
 * on Ctrl-C), 1 on "failed"/"aborted" or --timeout, 2 bad usage. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "transport/sock.h"

#define TICK_MS 200       /* how often the receive loop looks at signals */
#define PLAIN_EVERY_S 2.0 /* non-tty: at most one block this often */
#define RATE_WINDOW_S 5.0 /* progress rate: over about this much of the run */
#define RATE_SAMPLES 32   /* ring of (elapsed, done) samples for it */
#define SUB_HWM 64        /* snapshots queued here before the PUB drops for us */

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig) { stop_sig = sig; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double jnum(const cJSON *o, const char *k) {
  const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *jstr(const cJSON *o, const char *k, const char *dflt) {
  const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
  return cJSON_IsString(v) && v->valuestring ? v->valuestring : dflt;
}

/* 1234 -> "1234", 12345 -> "12.3k", 1.5e6 -> "1.50M". */
static void human(double v, char *buf, size_t cap) {
  if (v >= 1e12) snprintf(buf, cap, "%.2fT", v / 1e12);
  else if (v >= 1e9) snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e4) snprintf(buf, cap, "%.1fk", v / 1e3);
  else snprintf(buf, cap, "%.0f", v);
}

/* Seconds as "42.3s", "12:05" or "3:02:07". */
static void duration(double s, char *buf, size_t cap) {
  if (!(s >= 0) || s > 1e8) { snprintf(buf, cap, "--"); return; }
  if (s < 60) { snprintf(buf, cap, "%.1fs", s); return; }
  long t = (long)(s + 0.5);
  if (t < 3600) snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
  else snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* ---- the progress rate, from successive snapshots ------------------------- */

typedef struct rate_win {
  double t[RATE_SAMPLES], done[RATE_SAMPLES]; /* the run's elapsed, progress done */
  int n, head;                                /* samples held; next slot */
} rate_win;

static void rate_add(rate_win *w, double t, double done) {
  if (w->n) {
    int last = (w->head + RATE_SAMPLES - 1) % RATE_SAMPLES;
    if (t < w->t[last] || done < w->done[last]) w->n = 0; /* a new run on the same endpoint */
    else if (t == w->t[last]) return;
  }
  w->t[w->head] = t, w->done[w->head] = done;
  w->head = (w->head + 1) % RATE_SAMPLES;
  if (w->n < RATE_SAMPLES) w->n++;
}

/* done per second over the last RATE_WINDOW_S of the run; < 0 when unknown. */
static double rate_get(const rate_win *w) {
  if (w->n < 2) return -1;
  int last = (w->head + RATE_SAMPLES - 1) % RATE_SAMPLES, first = last;
  for (int k = 1; k < w->n; k++) {
    int i = (last + RATE_SAMPLES - k) % RATE_SAMPLES;
    first = i;
    if (w->t[last] - w->t[i] >= RATE_WINDOW_S) break;
  }
  double dt = w->t[last] - w->t[first];
  return dt > 0 ? (w->done[last] - w->done[first]) / dt : -1;
}

/* ---- rendering -------------------------------------------------------------- */

/* Lines of one rendering, each at most `width` bytes (a line longer than the
 * terminal would wrap and break the redraw in place). */
typedef struct screen {
  char **line;
  size_t n, cap;
  int width;
} screen;

static void put(screen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(screen *s, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (s->width > 0 && strlen(buf) > (size_t)s->width) buf[s->width] = 0;
  for (size_t k = strlen(buf); k > 0 && buf[k - 1] == ' ';) buf[--k] = 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 32;
    char **l = realloc(s->line, cap * sizeof *l);
    if (!l) return;
    s->line = l, s->cap = cap;
  }
  s->line[s->n] = strdup(buf);
  if (s->line[s->n]) s->n++;
}

static void screen_free(screen *s) {
  for (size_t i = 0; i < s->n; i++) free(s->line[i]);
  free(s->line);
  memset(s, 0, sizeof *s);
}

static int is_standard_key(const char *k) {
  static const char *const std[] = {"type",     "replicas",  "in",      "out",           "in_bytes",
                                    "out_bytes", "emitted",  "consumed", "records_per_s", "bytes_per_s",
                                    "busy_pct", "queue",     "peak_rss_kb"};
  for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
    if (!strcmp(k, std[i])) return 1;
  return 0;
}

/* The whole picture of one snapshot. max_nodes < 0: every node. */
static void render(screen *s, const cJSON *snap, const char *endpoint, const rate_win *w, int max_nodes) {
  const char *graph = jstr(snap, "graph", "?"), *state = jstr(snap, "state", "?");
  double elapsed = jnum(snap, "elapsed");
  char el[32];
  duration(elapsed, el, sizeof el);
  put(s, "graph %s   state %s   elapsed %s   (tap %s)", *graph ? graph : "?", state, el, endpoint);
  const char *error = jstr(snap, "error", NULL);
  if (error) put(s, "error: %s", error);

  const cJSON *p = cJSON_GetObjectItemCaseSensitive(snap, "progress");
  double done = jnum(p, "done"), total = jnum(p, "total");
  if (total > 0) {
    int bytes = !strcmp(jstr(p, "unit", "records"), "bytes");
    double frac = done / total;
    if (frac > 1) frac = 1;
    if (frac < 0) frac = 0;
    char bar[41];
    int bw = 30, fill = (int)(frac * bw + 0.5);
    for (int i = 0; i < bw; i++) bar[i] = i < fill ? '#' : '-';
    bar[bw] = 0;
    double r = rate_get(w);
    if (r < 0 && elapsed > 0 && w->n < 2) r = done / elapsed; /* one snapshot: the run's average */
    char d[32], t[32], rs[32], eta[32];
    if (bytes) {
      snprintf(d, sizeof d, "%.1f", done / 1e6);
      snprintf(t, sizeof t, "%.1f MB", total / 1e6);
      if (r >= 0) snprintf(rs, sizeof rs, "%.1f MB/s", r / 1e6);
      else snprintf(rs, sizeof rs, "-- MB/s");
    } else {
      human(done, d, sizeof d);
      human(total, t, sizeof t);
      strcat(t, " records");
      if (r >= 0) {
        human(r, rs, sizeof rs);
        strcat(rs, " rec/s");
      } else {
        snprintf(rs, sizeof rs, "-- rec/s");
      }
    }
    if (done >= total) snprintf(eta, sizeof eta, "0s");
    else if (r > 0) duration((total - done) / r, eta, sizeof eta);
    else snprintf(eta, sizeof eta, "--");
    put(s, "[%s] %5.1f%%  %s/%s  %s  ETA %s", bar, 100 * frac, d, t, rs, eta);
  }

  const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(snap, "nodes"), *n;
  int wn = 4, wt = 4, count = 0;
  cJSON_ArrayForEach(n, nodes) {
    int a = n->string ? (int)strlen(n->string) : 1, b = (int)strlen(jstr(n, "type", "?"));
    if (a > wn) wn = a;
    if (b > wt) wt = b;
    count++;
  }
  if (wn > 24) wn = 24;
  if (wt > 24) wt = 24;
  int any_other = 0;
  cJSON_ArrayForEach(n, nodes) {
    const cJSON *x;
    cJSON_ArrayForEach(x, n) any_other |= x->string && cJSON_IsNumber(x) && !is_standard_key(x->string) &&
                                          x->valuedouble != 0;
  }
  put(s, "%-*s %-*s %4s %9s %9s %9s %8s %6s %6s %8s  %s", wn, "node", wt, "type", "x", "in", "out", "rec/s",
      "MB/s", "busy%", "queue", "rss MB", any_other ? "other" : "");
  int shown = 0;
  cJSON_ArrayForEach(n, nodes) {
    if (max_nodes >= 0 && shown >= max_nodes && count - shown > 1) {
      put(s, "... %d more node%s (a taller terminal, or --jsonl, shows them)", count - shown,
          count - shown == 1 ? "" : "s");
      break;
    }
    char in[32], out[32], rps[32], other[512] = "";
    human(jnum(n, "in"), in, sizeof in);
    human(jnum(n, "out"), out, sizeof out);
    human(jnum(n, "records_per_s"), rps, sizeof rps);
    size_t len = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, n) { /* dropped and the node's own counters, when not zero */
      if (!x->string || !cJSON_IsNumber(x) || is_standard_key(x->string) || x->valuedouble == 0) continue;
      char v[32];
      human(x->valuedouble, v, sizeof v);
      int k = snprintf(other + len, sizeof other - len, "%s%s=%s", len ? " " : "", x->string, v);
      if (k < 0 || (size_t)k >= sizeof other - len) break;
      len += (size_t)k;
    }
    char reps[16];
    snprintf(reps, sizeof reps, "x%d", (int)jnum(n, "replicas"));
    put(s, "%-*.*s %-*.*s %4s %9s %9s %9s %8.1f %6.1f %6.0f %8.1f  %s", wn, wn, n->string ? n->string : "?", wt, wt,
        jstr(n, "type", "?"), reps, in, out, rps, jnum(n, "bytes_per_s") / 1e6, jnum(n, "busy_pct"), jnum(n, "queue"),
        jnum(n, "peak_rss_kb") / 1024, other);
    shown++;
  }
}

/* ---- the terminal -------------------------------------------------------------- */

static int term_rows(int *cols) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
    *cols = ws.ws_col;
    return ws.ws_row;
  }
  *cols = 0;
  return 0;
}

/* The table on a terminal, redrawn over the previous one. */
static void draw_tty(const cJSON *snap, const char *endpoint, const rate_win *w, int first) {
  int cols, rows = term_rows(&cols);
  screen s = {.width = cols > 0 ? cols - 1 : 0};
  /* header, column header, "... more" and the cursor's line below the table: no scrolling */
  int fixed = 4 + (jnum(cJSON_GetObjectItemCaseSensitive(snap, "progress"), "total") > 0) +
              (jstr(snap, "error", NULL) != NULL);
  render(&s, snap, endpoint, w, rows > 0 ? (rows - fixed > 1 ? rows - fixed : 1) : -1);
  fputs(first ? "\033[H\033[2J" : "\033[H", stdout);
  for (size_t i = 0; i < s.n; i++) printf("%s\033[K\n", s.line[i]);
  fputs("\033[J", stdout);
  fflush(stdout);
  screen_free(&s);
}

/* One compact block, for a log or a pipe. */
static void draw_plain(const cJSON *snap, const char *endpoint, const rate_win *w) {
  screen s = {0};
  render(&s, snap, endpoint, w, -1);
  for (size_t i = 0; i < s.n; i++) puts(s.line[i]);
  putchar('\n');
  fflush(stdout);
  screen_free(&s);
}

/* ---- the command ---------------------------------------------------------------- */

static void help(FILE *f) {
  fprintf(f,
          "usage: yt8m-flow tap [--jsonl] [--once] [--timeout SECONDS] ENDPOINT\n"
          "  Watches a graph started with `yt8m-flow run GRAPH --tap ENDPOINT` (or a `tap` line\n"
          "  in the graph): subscribes to its snapshots, published every 0.5 s, and shows\n"
          "  them. It only listens, so it never slows the job down.\n"
          "  On a terminal: a table redrawn in place (state, progress with rate and ETA, and\n"
          "  per node: replicas, records in/out, records/s, MB/s, busy %%, queue, peak RSS).\n"
          "  Otherwise: one block per snapshot, at most every 2 s.\n"
          "  --jsonl            every snapshot as received, one JSON object per line\n"
          "  --once             print the first snapshot and exit 0\n"
          "  --timeout SECONDS  give up (exit 1) when no snapshot arrives for that long\n"
          "                     (default: wait for ever)\n"
          "  ENDPOINT           ipc:///path or tcp://HOST:PORT, as given to `run --tap`\n"
          "  Exit status: 0 the graph finished (state done), --once, or Ctrl-C; 1 it failed or\n"
          "  was aborted, or --timeout passed; 2 bad usage or a bad endpoint.\n");
}

int cmd_tap(int argc, char **argv) {
  const char *endpoint = NULL, *timeout_arg = NULL;
  int jsonl = 0, once = 0;
  double timeout = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
    if (!strcmp(a, "--jsonl")) jsonl = 1;
    else if (!strcmp(a, "--once")) once = 1;
    else if (!strcmp(a, "--timeout") || !strncmp(a, "--timeout=", 10)) {
      const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) { cli_error("tap", "--timeout needs a number of seconds"); return 2; }
      char *end;
      errno = 0;
      timeout = strtod(v, &end);
      if (!*v || *end || errno || !(timeout > 0) || timeout > 1e7) {
        cli_error("tap", "--timeout expects a number of seconds > 0, got '%s'", v);
        return 2;
      }
      timeout_arg = v;
    } else if (a[0] == '-' && a[1]) {
      cli_error("tap", "unknown option '%s'", a);
      help(stderr);
      return 2;
    } else if (endpoint) {
      cli_error("tap", "one endpoint at a time ('%s' and '%s')", endpoint, a);
      return 2;
    } else {
      endpoint = a;
    }
  }
  if (!endpoint) { cli_error("tap", "no endpoint (the ENDPOINT given to `run --tap`)"); help(stderr); return 2; }
  if (!strncmp(endpoint, "inproc://", 9)) {
    cli_error("tap", "%s: an inproc:// endpoint lives inside one process; use ipc:///PATH or tcp://HOST:PORT",
              endpoint);
    return 2;
  }
  if (strncmp(endpoint, "ipc://", 6) && strncmp(endpoint, "tcp://", 6)) {
    cli_error("tap", "%s: not an endpoint; expected ipc:///PATH or tcp://HOST:PORT, as given to `run --tap`",
              endpoint);
    return 2;
  }

  yt_err err = {0};
  yt_sock *sub = NULL;
  if (yt_sock_open(&sub, YT_SUB, endpoint, 0, SUB_HWM, &err)) {
    cli_error("tap", "%s", err.msg);
    yt_ctx_term(NULL);
    return 2;
  }

  struct sigaction sa, old_int, old_term, old_hup;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked receive returns at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);

  int tty = !jsonl && !once && isatty(STDOUT_FILENO);
  if (tty) {
    fputs("\033[?25l", stdout); /* hide the cursor while redrawing */
    fflush(stdout);
  }
  rate_win w = {0};
  yt_msg m;
  yt_msg_init(&m, 0);
  double last_msg = now(), last_plain = -1e9;
  int rc = -1, drawn = 0, warned = 0;
  while (rc < 0) {
    if (stop_sig) { rc = 0; break; }
    int wait_ms = TICK_MS;
    if (timeout > 0) {
      double left = timeout - (now() - last_msg);
      if (left <= 0) {
        if (tty && drawn) fputs("\n", stdout);
        fflush(stdout);
        cli_error("tap", "no snapshot from %s in %s s: is a graph running with --tap %s?", endpoint, timeout_arg,
                  endpoint);
        rc = 1;
        break;
      }
      if (left * 1000 < wait_ms) wait_ms = (int)ceil(left * 1000);
    }
    int r = yt_sock_recv(sub, &m, wait_ms, &err);
    if (r == YT_TIMEOUT || r == YT_INTERRUPTED) continue;
    if (r == YT_ECORRUPT) { /* not ours: consumed whole, the socket goes on */
      if (!warned++) cli_error("tap", "skipping a malformed message: %s", err.msg);
      continue;
    }
    if (r < 0) { cli_error("tap", "%s", err.msg); rc = 1; break; }
    if (m.type != YT_MSG_STATS || m.nframes != 1) continue;
    const char *text = m.frames[0].data ? m.frames[0].data : "";
    size_t len = m.frames[0].len;
    cJSON *snap = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(snap) || strcmp(jstr(snap, "type", ""), "snapshot")) {
      if (!warned++) cli_error("tap", "skipping a STATS message that is not a JSON snapshot");
      cJSON_Delete(snap);
      continue;
    }
    last_msg = now();
    const char *state = jstr(snap, "state", "");
    int end = !strcmp(state, "done") ? 0 : !strcmp(state, "failed") || !strcmp(state, "aborted") ? 1 : -1;
    rate_add(&w, jnum(snap, "elapsed"), jnum(cJSON_GetObjectItemCaseSensitive(snap, "progress"), "done"));
    if (jsonl) {
      if (memchr(text, '\n', len)) { /* keep it one line */
        char *one = cJSON_PrintUnformatted(snap);
        if (one) puts(one);
        free(one);
      } else {
        fwrite(text, 1, len, stdout);
        putchar('\n');
      }
      fflush(stdout);
    } else if (tty) {
      draw_tty(snap, endpoint, &w, !drawn);
    } else if (once || end >= 0 || last_msg - last_plain >= PLAIN_EVERY_S) {
      draw_plain(snap, endpoint, &w);
      last_plain = last_msg;
    }
    drawn = 1;
    cJSON_Delete(snap);
    if (once) rc = 0;
    else if (end >= 0) rc = end;
  }
  yt_msg_clear(&m);
  if (tty) {
    fputs("\033[?25h", stdout); /* the cursor back, below the table */
    fflush(stdout);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  yt_sock_close(sub);
  yt_ctx_term(NULL);
  return rc;
}
