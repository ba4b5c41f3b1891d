/* inspect.c: `yt8m-flow inspect [TYPE] [--markdown]`: the node catalogue,
 * printed from the node definitions themselves (nodes/core/node.h), so the
 * docs cannot drift: the README's node reference is `inspect --markdown`, and a
 * test compares the two. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/node.h"
#include "flow.h"

static void help(FILE *f) {
  fprintf(f, "usage: yt8m-flow inspect [--markdown] [TYPE [--set NAME=VALUE]...]\n"
             "  Without TYPE: every node type with a one-line summary.\n"
             "  With TYPE: its pads and parameters (type, default, range, help), and what\n"
             "  the parameter values imply where the type says (train: the model's size);\n"
             "  --set NAME=VALUE changes a value first (inspect train --set model=MoeModel).\n"
             "  --markdown: the same as Markdown (the README's node reference).\n");
}

static const char *role(const yt_node_def *d) {
  return d->n_inputs == 0 ? "source" : d->n_outputs == 0 ? "sink" : "filter";
}

static void range_text(const yt_param_def *p, char *buf, size_t cap) {
  buf[0] = 0;
  if (p->type == YT_P_ENUM) snprintf(buf, cap, "%s", p->choices);
  else if (p->min <= p->max && (p->type == YT_P_FLOAT || p->type == YT_P_DURATION))
    snprintf(buf, cap, "%g .. %g", p->min, p->max);
  else if (p->min <= p->max) snprintf(buf, cap, "%.0f .. %.0f", p->min, p->max);
}

static void print_text(const yt_node_def *d) {
  printf("%s (%s): %s\n", d->name, role(d), d->summary);
  printf("\npads:\n");
  for (int i = 0; i < d->n_inputs; i++)
    printf("  in   %-10s %-8s %s\n", d->inputs[i].name, d->inputs[i].type, d->inputs[i].help ? d->inputs[i].help : "");
  for (int i = 0; i < d->n_outputs; i++)
    printf("  out  %-10s %-8s %s\n", d->outputs[i].name, d->outputs[i].type,
           d->outputs[i].help ? d->outputs[i].help : "");
  printf("\nparameters:\n");
  for (int i = 0; i < d->n_params; i++) {
    const yt_param_def *p = &d->params[i];
    char r[256];
    range_text(p, r, sizeof r);
    printf("  %-16s %-8s %-14s %s%s%s%s\n", p->name, yt_ptype_name(p->type), p->def ? p->def : "(required)", p->help,
           r[0] ? " [" : "", r, r[0] ? "]" : "");
  }
}

static void print_markdown(const yt_node_def *d) {
  printf("### `%s` (%s)\n\n%s\n\n", d->name, role(d), d->summary);
  printf("| pad | direction | type | |\n|---|---|---|---|\n");
  for (int i = 0; i < d->n_inputs; i++)
    printf("| `%s` | in | %s | %s |\n", d->inputs[i].name, d->inputs[i].type, d->inputs[i].help ? d->inputs[i].help : "");
  for (int i = 0; i < d->n_outputs; i++)
    printf("| `%s` | out | %s | %s |\n", d->outputs[i].name, d->outputs[i].type,
           d->outputs[i].help ? d->outputs[i].help : "");
  printf("\n| parameter | type | default | range | |\n|---|---|---|---|---|\n");
  for (int i = 0; i < d->n_params; i++) {
    const yt_param_def *p = &d->params[i];
    char r[256];
    range_text(p, r, sizeof r);
    printf("| `%s` | %s | %s%s%s | %s | %s |\n", p->name, yt_ptype_name(p->type), p->def ? "`" : "",
           p->def ? p->def : "required", p->def ? "`" : "", r, p->help);
  }
  printf("\n");
}

/* The type's describe hook on its defaults with the --set values applied. */
static int describe(const yt_node_def *d, char **sets, int nsets) {
  yt_err err = {0};
  yt_params p;
  char buf[2048] = "";
  int rc = yt_params_init(&p, d->params, (size_t)d->n_params, &err);
  for (int i = 0; rc >= 0 && i < nsets; i++) {
    char name[128];
    const char *eq = strchr(sets[i], '=');
    size_t len = eq ? (size_t)(eq - sets[i]) : 0;
    if (!eq || !len || len >= sizeof name) {
      cli_error("inspect", "--set takes NAME=VALUE (got '%s')", sets[i]);
      yt_params_free(&p);
      return 2;
    }
    memcpy(name, sets[i], len);
    name[len] = 0;
    rc = yt_params_set(&p, name, eq + 1, &err);
  }
  if (rc >= 0 && d->describe) rc = d->describe(&p, buf, sizeof buf, &err);
  yt_params_free(&p);
  if (rc < 0) {
    cli_error("inspect", "%s: %s", d->name, err.msg);
    return 1;
  }
  if (buf[0]) printf("\n%s", buf);
  return 0;
}

int cmd_inspect(int argc, char **argv) {
  int md = 0, nsets = 0;
  const char *type = NULL;
  char *sets[64];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
    if (!strcmp(argv[i], "--set") || !strncmp(argv[i], "--set=", 6)) {
      char *v = argv[i][5] == '=' ? argv[i] + 6 : i + 1 < argc ? argv[++i] : NULL;
      if (!v) { cli_error("inspect", "--set needs NAME=VALUE"); return 2; }
      if (nsets == 64) { cli_error("inspect", "more than 64 --set"); return 2; }
      sets[nsets++] = v;
    } else if (!strcmp(argv[i], "--markdown")) md = 1;
    else if (argv[i][0] == '-') { cli_error("inspect", "unknown option '%s'", argv[i]); help(stderr); return 2; }
    else if (type) { cli_error("inspect", "one node type at a time"); return 2; }
    else type = argv[i];
  }
  size_t n;
  const yt_node_def *const *all = yt_node_all(&n);
  if (type) {
    const yt_node_def *d = yt_node_find(type);
    if (!d) {
      const char *names[128];
      for (size_t i = 0; i < n && i < 128; i++) names[i] = all[i]->name;
      const char *near = yt_closest(type, names, n < 128 ? n : 128);
      cli_error("inspect", "unknown node type '%s'%s%s%s", type, near ? " (did you mean '" : "", near ? near : "",
                near ? "'?)" : "; `yt8m-flow inspect` lists them");
      return 2;
    }
    if (md) {
      print_markdown(d);
      return 0;
    }
    print_text(d);
    return describe(d, sets, nsets);
  }
  if (nsets) { cli_error("inspect", "--set needs a node type (inspect TYPE --set NAME=VALUE)"); return 2; }
  if (md) {
    printf("<!-- node reference: generated by `yt8m-flow inspect --markdown`; a test fails when it drifts -->\n\n");
    for (size_t i = 0; i < n; i++) print_markdown(all[i]);
    return 0;
  }
  for (size_t i = 0; i < n; i++) printf("  %-16s %-7s %s\n", all[i]->name, role(all[i]), all[i]->summary);
  printf("\n'yt8m-flow inspect TYPE' shows a type's pads and parameters.\n");
  return 0;
}
