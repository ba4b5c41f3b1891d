/* test_flow: the .flow parser as two tables.
 *  valid:   graphs that must load with no error, with what they must produce;
 *  invalid: graphs with the exact first error (FILE:LINE:COL: error: MSG),
 *           its note, and the number of errors of the one pass.
 * Files are written to a temporary directory; "inc.flowi" is the include. */
#include <glob.h>
#include <unistd.h>

#include "check.h"
#include "flow.h"
#include "plan.h"

typedef struct {
  const char *what;   /* what the case checks */
  const char *main;   /* g.flow */
  const char *inc;    /* inc.flowi, or NULL */
  const char *sets[4];
  int errors;
  const char *first;  /* exact "g.flow:L:C: error: ..." of the first diagnostic */
  const char *note;   /* exact note of the first diagnostic, or NULL */
} flow_case;

static const flow_case invalid[] = {
    {"no header", "node a : x {}\n", NULL, {0}, 1, "g.flow:1:1: error: missing 'flow NAME v1' header", "a graph file starts with: flow NAME v1"},
    {"version", "flow g v2\n", NULL, {0}, 1, "g.flow:1:8: error: unsupported flow version 'v2' (this yt8m-flow reads v1)", NULL},
    {"undefined variable, near name", "flow g v1\nlet batch_size = 4\nnode a : t { n = ${batch_sise} }\n", NULL, {0}, 1,
     "g.flow:3:18: error: undefined variable 'batch_sise'", "did you mean 'batch_size'?"},
    {"undefined variable in a string", "flow g v1\nnode a : t { dir = \"runs/${run}\" }\n", NULL, {0}, 1,
     "g.flow:2:20: error: undefined variable 'run'", NULL},
    {"duplicate node", "flow g v1\nnode a : t {}\nnode a : u {}\n", NULL, {0}, 1, "g.flow:3:1: error: duplicate node 'a'",
     "'a' was first defined at g.flow:2:1"},
    {"dangling edge", "flow g v1\nnode reader : t {}\nnode sink : u {}\nreader -> snik\n", NULL, {0}, 1,
     "g.flow:4:11: error: dangling edge: no node named 'snik'", "did you mean 'sink'?"},
    {"cycle", "flow g v1\nnode a : t {}\nnode b : t {}\nnode c : t {}\na -> b -> c -> a\n", NULL, {0}, 1,
     "g.flow:5:13: error: cycle in the graph: a -> b -> c -> a", "a flow graph must be acyclic: data streams from sources to sinks"},
    {"include cycle", "flow g v1\ninclude \"inc.flowi\"\n", "include \"g.flow\"\n", {0}, 1,
     "inc.flowi:1:1: error: include cycle: g.flow -> inc.flowi -> g.flow", NULL},
    {"missing include", "flow g v1\ninclude \"nope.flowi\"\n", NULL, {0}, 1,
     "g.flow:2:1: error: cannot read 'nope.flowi': No such file or directory", NULL},
    {"unknown unit", "flow g v1\nnode a : t { every = 10mins }\n", NULL, {0}, 1, "g.flow:2:22: error: unknown unit 'mins' after 10",
     "durations: ms s min h; sizes: B KiB MiB GiB TiB KB MB GB TB"},
    {"unterminated string", "flow g v1\nnode a : t { s = \"abc }\n", NULL, {0}, 1, "g.flow:2:18: error: unterminated string", NULL},
    {"missing =", "flow g v1\nnode a : t { n 3 }\n", NULL, {0}, 1, "g.flow:2:16: error: expected '=' after the parameter name, found a number", NULL},
    {"parameter twice", "flow g v1\nnode a : t { n = 1; n = 2 }\n", NULL, {0}, 1, "g.flow:2:21: error: parameter 'n' is set twice in node 'a'", NULL},
    {"bad replicas", "flow g v1\nnode a : t x0 {}\n", NULL, {0}, 1, "g.flow:2:12: error: replica count x0: must be x1 .. x1024", NULL},
    {"edge attribute", "flow g v1\nnode a : t {}\nnode b : t {}\na -> b [hwm = 0]\n", NULL, {0}, 1,
     "g.flow:4:15: error: hwm must be an int in [1, 1000000] (messages)", NULL},
    {"unknown edge attribute", "flow g v1\nnode a : t {}\nnode b : t {}\na -> b [codex = zstd]\n", NULL, {0}, 1,
     "g.flow:4:9: error: unknown edge attribute 'codex'", "did you mean 'codec'?"},
    {"env without default", "flow g v1\nnode a : t { p = env(\"YT_TEST_SURELY_UNSET\") }\n", NULL, {0}, 1,
     "g.flow:2:22: error: environment variable 'YT_TEST_SURELY_UNSET' is not set and has no default", "give a default: env(\"NAME\", value)"},
    {"bare word statement", "flow g v1\nnode a : t {}\na b\n", NULL, {0}, 1,
     "g.flow:3:3: error: expected '->' after 'a' (a statement is node, let, include, tap or an edge)", NULL},
    {"let twice", "flow g v1\nlet x = 1\nlet x = 2\n", NULL, {0}, 1, "g.flow:3:5: error: variable 'x' is already defined at g.flow:2:1", NULL},
    {"--set of an unknown let", "flow g v1\nlet batch_size = 1\n", NULL, {"batch_sise=4"}, 1,
     "--set: error: --set batch_sise: the graph has no 'let batch_sise'", "did you mean 'batch_size'?"},
    {"--set of an unknown node", "flow g v1\nnode a : t {}\n", NULL, {"b.n=4"}, 1, "--set: error: --set b.n: the graph has no node 'b'", NULL},
    {"list without a comma (the partial list is freed)", "flow g v1\nlet l = [1, 2 3]\n", NULL, {0}, 1,
     "g.flow:2:15: error: expected ',' or ']' in a list, found a number", NULL},
    {"all errors in one pass", "flow g v1\nnode a : t { x = ${u1} }\nnode b : t { y = ${u2} }\na -> c\n", NULL, {0}, 3,
     "g.flow:2:18: error: undefined variable 'u1'", NULL},
};

static char *format_first(const yt_flow *f) {
  static char buf[1024];
  const yt_diag *d = &f->diags[0];
  if (d->loc.line > 0) snprintf(buf, sizeof buf, "%s:%d:%d: error: %s", d->loc.file, d->loc.line, d->loc.col, d->msg);
  else snprintf(buf, sizeof buf, "%s: error: %s", d->loc.file, d->msg);
  return buf;
}

/* Schema checks (cli/plan.c against the node registry): same form. */
#define HEAD "flow g v1\n"
#define READ "node r : tfrecord_reader { pattern = \"x\" }\n"
#define SINK "node s : null_sink {}\n"
static const flow_case schema_invalid[] = {
    /* the node is kept for its edges, with no type: the schema pass skips it (it crashed on the NULL type) */
    {"node with a syntax error before its type, and an edge to it", HEAD "node r : { }\n" SINK "r -> s\n", NULL, {0}, 1,
     "g.flow:2:10: error: expected a node type, found '{'", NULL},
    {"unknown node type, near name", HEAD "node r : tfrecord_raeder { pattern = \"x\" }\n" SINK "r -> s\n", NULL, {0}, 1,
     "g.flow:2:10: error: unknown node type 'tfrecord_raeder'", "did you mean 'tfrecord_reader'?"},
    {"unknown parameter, near name", HEAD "node r : tfrecord_reader { pattern = \"x\"; epoch = 2 }\n" SINK "r -> s\n", NULL,
     {0}, 1, "g.flow:2:43: error: unknown parameter 'epoch' for node 'r' (tfrecord_reader)", "did you mean 'epochs'?"},
    {"wrong type", HEAD "node r : tfrecord_reader { pattern = \"x\"; epochs = \"two\" }\n" SINK "r -> s\n", NULL, {0}, 1,
     "g.flow:2:52: error: parameter 'epochs' needs an int, found string", NULL},
    {"out of range", HEAD "node r : tfrecord_reader { pattern = \"x\"; epochs = 0 }\n" SINK "r -> s\n", NULL, {0}, 1,
     "g.flow:2:52: error: parameter 'epochs' = 0 is out of range [1, 1000000]", "passes over the shards"},
    {"enum choice", HEAD "node r : tfrecord_reader { pattern = \"x\"; on_corrupt = skip }\n" SINK "r -> s\n", NULL, {0}, 1,
     "g.flow:2:56: error: parameter 'on_corrupt' must be one of fail|skip_record|skip_shard, not 'skip'",
     "damaged record: fail, skip it (or the rest of the shard when the framing is lost), or skip the shard"},
    {"a size where an int is given is fine, a float is not", HEAD "node r : tfrecord_reader { pattern = \"x\"; message_bytes = 1.5 }\n"
     SINK "r -> s\n", NULL, {0}, 1, "g.flow:2:59: error: parameter 'message_bytes' needs a size, found float", NULL},
    {"missing required parameter", HEAD "node r : tfrecord_reader {}\n" SINK "r -> s\n", NULL, {0}, 1,
     "g.flow:2:1: error: node 'r' (tfrecord_reader) is missing required parameter 'pattern'",
     "pattern (string): input files: a glob, or several separated by commas (\"a/*.tfrecord, b/x.tfrecord.zst\")"},
    {"unknown port, near name", HEAD READ "node d : dequantize {}\n" SINK "r -> d.inn\nd -> s\n", NULL, {0}, 2,
     "g.flow:5:6: error: unknown input port 'inn' on node 'd' (dequantize)", "did you mean 'in'?"},
    {"port type mismatch", HEAD READ "node b : batcher {}\n" SINK "r -> b -> s\n", NULL, {0}, 1,
     "g.flow:5:6: error: port type mismatch: records -> videos", "'r.out' gives records; 'b.in' takes videos"},
    {"unconnected input", HEAD READ "node d : dequantize {}\n" SINK "r -> s\n", NULL, {0}, 1,
     "g.flow:3:1: error: input port 'in' of node 'd' (dequantize) is not connected", "connect it: `upstream -> NODE.PORT`"},
    {"a source has no input", HEAD READ SINK "node r2 : synth_source {}\ns -> r2\nr -> s\n", NULL, {0}, 2,
     "g.flow:5:1: error: node 's' (null_sink) has no output port: it is a sink", NULL},
    {"--set checked against the schema", HEAD READ SINK "r -> s\n", NULL, {"r.epochs=-1"}, 1,
     "--set: error: parameter 'epochs' = -1 is out of range [1, 1000000]", "passes over the shards"},
    {"a host that is an ssh option", HEAD "node r : tfrecord_reader on \"-oProxyCommand=x\" { pattern = \"x\" }\n" SINK
     "r -> s\n", NULL, {0}, 1, "g.flow:2:1: error: node 'r': '-oProxyCommand=x' is not a host name",
     "a host is a name or an IPv4 address (letters, digits, '.', '-', '_')"},
    {"a host with a space", HEAD "node r : tfrecord_reader on \"gpu 1\" { pattern = \"x\" }\n" SINK "r -> s\n", NULL, {0},
     1, "g.flow:2:1: error: node 'r': 'gpu 1' is not a host name",
     "a host is a name or an IPv4 address (letters, digits, '.', '-', '_')"},
    {"all errors in one pass", HEAD "node r : tfrecord_reader { epochs = 0; x = 1 }\nnode d : dequantize {}\n" SINK "r -> s\n",
     NULL, {0}, 4, "g.flow:2:37: error: parameter 'epochs' = 0 is out of range [1, 1000000]", "passes over the shards"},
};

static void write_file(const char *name, const char *text) {
  FILE *f = fopen(name, "w");
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static int load(const flow_case *c, yt_flow *f) {
  unlink("inc.flowi");
  write_file("g.flow", c->main);
  if (c->inc) write_file("inc.flowi", c->inc);
  size_t n = 0;
  while (n < 4 && c->sets[n]) n++;
  yt_flow_set s = {c->sets, n};
  return yt_flow_load(f, "g.flow", &s);
}

static void invalid_table(void) {
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    const flow_case *c = &invalid[i];
    yt_flow f;
    int n = load(c, &f);
    CHECK(n == c->errors, "[%s] %d errors, expected %d", c->what, n, c->errors);
    if (n > 0) {
      const char *got = format_first(&f);
      CHECK(!strcmp(got, c->first), "[%s]\n  got:      %s\n  expected: %s", c->what, got, c->first);
      const char *note = f.diags[0].note;
      CHECK((!note && !c->note) || (note && c->note && !strcmp(note, c->note)), "[%s] note '%s', expected '%s'", c->what,
            note ? note : "(none)", c->note ? c->note : "(none)");
    }
    if (n > 0 && check_failures) yt_flow_print_diags(&f, stderr);
    yt_flow_free(&f);
  }
}

static void schema_table(void) {
  for (size_t i = 0; i < sizeof schema_invalid / sizeof schema_invalid[0]; i++) {
    const flow_case *c = &schema_invalid[i];
    yt_flow f;
    yt_plan p;
    load(c, &f);
    int n = yt_plan_check(&f, &p);
    CHECK(n == c->errors, "[%s] %d errors, expected %d", c->what, n, c->errors);
    if (n > 0) {
      const char *got = format_first(&f);
      CHECK(!strcmp(got, c->first), "[%s]\n  got:      %s\n  expected: %s", c->what, got, c->first);
      const char *note = f.diags[0].note;
      CHECK((!note && !c->note) || (note && c->note && !strcmp(note, c->note)), "[%s] note '%s', expected '%s'", c->what,
            note ? note : "(none)", c->note ? c->note : "(none)");
    }
    if (n != c->errors || check_failures) yt_flow_print_diags(&f, stderr);
    yt_plan_free(&p);
    yt_flow_free(&f);
  }
}

/* Every graph shipped in graphs/ and examples/ checks clean against the schemas. */
static void shipped_graphs(void) {
  glob_t g;
  int found = glob(YT_GRAPHS_DIR "/*.flow", 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
  CHECK(found >= 2, "graphs/*.flow: found %d files", found);
  if (found) found = glob(YT_GRAPHS_DIR "/../examples/*.flow", GLOB_APPEND, NULL, &g) == 0 ? (int)g.gl_pathc : found;
  for (int i = 0; i < found; i++) {
    yt_flow f;
    yt_plan p;
    int n = yt_flow_load(&f, g.gl_pathv[i], NULL);
    n = yt_plan_check(&f, &p);
    CHECK(n == 0, "%s: %d errors", g.gl_pathv[i], n);
    if (n) yt_flow_print_diags(&f, stderr);
    if (!n && strstr(g.gl_pathv[i], "two_host.flow")) /* batch, train and tb on gpu1; read and deq here */
      CHECK(p.remote && !yt_plan_host(&p, 1, 1) && !strcmp(yt_plan_host(&p, 3, 0), "gpu1"), "two_host placement");
    yt_plan_free(&p);
    yt_flow_free(&f);
  }
  if (found) globfree(&g);
}

static yt_param *param(yt_node_decl *n, const char *name) {
  for (size_t i = 0; i < n->n_params; i++)
    if (!strcmp(n->params[i].name, name)) return &n->params[i];
  return NULL;
}

static void valid_graphs(void) {
  /* the DESIGN.md example, with an include and every value form */
  flow_case c = {"design example",
                 "flow train_netvlad v1\n"
                 "include \"inc.flowi\"          # defines shards and deq\n"
                 "let bs = 160\n"
                 "let dir = \"runs/b${bs}\"\n"
                 "node batch : batcher { batch_size = ${bs}; shuffle_buffer = 4096 }\n"
                 "node model : train x1 on local { model = netvlad; cluster_size = 256; hidden_size = 1024\n"
                 "                                 gating = true; base_lr = 2e-4; train_dir = \"${dir}\"\n"
                 "                                 every = 10min; cache = 64MiB; ids = [1, 2, 3]; lr = -1.5e-3 }\n"
                 "node eval  : metrics x2 on hostA, hostB { top_k = 20 }\n"
                 "shards -> deq -> batch -> model [hwm = 8, codec = zstd]\n"
                 "model.metrics -> eval\n"
                 "tap \"tcp://127.0.0.1:5560\"\n",
                 "node shards : tfrecord_reader { pattern = env(\"YT_TEST_SURELY_UNSET\", \"a/*.tfrecord\") }\n"
                 "node deq : dequantize x2 {}\n",
                 {"bs=256", "model.base_lr=1e-4", "eval.top_k=5"}, 0, NULL, NULL};
  yt_flow f;
  int n = load(&c, &f);
  CHECK(n == 0, "design example: %d errors", n);
  if (n) { yt_flow_print_diags(&f, stderr); yt_flow_free(&f); return; }
  CHECK(!strcmp(f.name, "train_netvlad") && f.n_nodes == 5 && f.n_edges == 4, "nodes %zu edges %zu", f.n_nodes, f.n_edges);
  CHECK(f.tap && !strcmp(f.tap, "tcp://127.0.0.1:5560"), "tap");
  yt_node_decl *batch = &f.nodes[2], *model = &f.nodes[3], *eval = &f.nodes[4];
  CHECK(!strcmp(f.nodes[0].name, "shards") && !strcmp(f.nodes[1].type, "dequantize") && f.nodes[1].replicas == 2, "include order");
  CHECK(param(batch, "batch_size")->value.kind == YT_V_INT && param(batch, "batch_size")->value.i == 256, "--set bs=256 through ${bs}");
  CHECK(!strcmp(param(model, "train_dir")->value.s, "runs/b256"), "interpolation after --set: %s", param(model, "train_dir")->value.s);
  CHECK(param(model, "base_lr")->value.kind == YT_V_FLOAT && param(model, "base_lr")->value.f == 1e-4, "--set model.base_lr");
  CHECK(param(model, "every")->value.kind == YT_V_DURATION && param(model, "every")->value.f == 600, "10min = 600 s");
  CHECK(param(model, "cache")->value.kind == YT_V_SIZE && param(model, "cache")->value.i == 64 << 20, "64MiB");
  CHECK(param(model, "ids")->value.kind == YT_V_LIST && param(model, "ids")->value.n == 3 && param(model, "ids")->value.items[2].i == 3, "list");
  CHECK(param(model, "lr")->value.f == -1.5e-3, "negative float");
  CHECK(param(model, "gating")->value.kind == YT_V_BOOL && param(model, "gating")->value.b, "bool");
  CHECK(!strcmp(param(model, "model")->value.s, "netvlad"), "bare word as string");
  CHECK(!strcmp(param(&f.nodes[0], "pattern")->value.s, "a/*.tfrecord"), "env default");
  CHECK(eval->replicas == 2 && eval->n_hosts == 2 && !strcmp(eval->hosts[1], "hostB"), "replicas and hosts");
  CHECK(param(eval, "top_k")->value.i == 5, "--set eval.top_k");
  CHECK(f.edges[0].hwm == 8 && f.edges[2].codec && !strcmp(f.edges[2].codec, "zstd"), "chain attributes on every edge");
  CHECK(!strcmp(f.edges[3].from.node, "model") && !strcmp(f.edges[3].from.port, "metrics") && !f.edges[3].to.port, "ports");
  yt_flow_free(&f);

  /* --set with a path that is not a value: taken as a string */
  flow_case p = {"set a path", "flow g v1\nlet input_data_pattern = \"x\"\nnode r : t { pattern = ${input_data_pattern} }\n",
                 NULL, {"input_data_pattern=../shared/data/*.tfrecord"}, 0, NULL, NULL};
  n = load(&p, &f);
  CHECK(n == 0 && !strcmp(param(&f.nodes[0], "pattern")->value.s, "../shared/data/*.tfrecord"), "path via --set");
  yt_flow_free(&f);
  /* a host from a variable, overridden on the command line */
  flow_case h = {"host from a variable",
                 "flow g v1\nlet gpu_host = \"g1\"\nnode r : t x3 on \"${gpu_host}\", local { pattern = \"x\" }\n", NULL,
                 {"gpu_host=10.0.0.7"}, 0, NULL, NULL};
  n = load(&h, &f);
  CHECK(n == 0 && f.nodes[0].n_hosts == 2 && !strcmp(f.nodes[0].hosts[0], "10.0.0.7") &&
            !strcmp(f.nodes[0].hosts[1], "local"),
        "on \"${gpu_host}\" with --set gpu_host=10.0.0.7: %s", n ? "errors" : f.nodes[0].hosts[0]);
  yt_flow_free(&f);
  /* environment variables */
  setenv("YT_TEST_PATTERN", "from/env", 1);
  flow_case e = {"env set", "flow g v1\nnode r : t { pattern = env(\"YT_TEST_PATTERN\", \"default\") }\n", NULL, {0}, 0, NULL, NULL};
  n = load(&e, &f);
  CHECK(n == 0 && !strcmp(param(&f.nodes[0], "pattern")->value.s, "from/env"), "env value");
  yt_flow_free(&f);
}

int main(void) {
  char dir[] = "/tmp/yt_flow_XXXXXX";
  if (!mkdtemp(dir) || chdir(dir) != 0) return 1;
  invalid_table();
  valid_graphs();
  schema_table();
  shipped_graphs();
  unlink("g.flow");
  unlink("inc.flowi");
  rmdir(dir);
  return check_report("test_flow");
}
