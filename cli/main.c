/* main.c: the yt8m-flow binary: dispatches to one subcommand per file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "cli.h"
#include "flow.h"
#include "backend/cuda/probe.h"
#include "formats/crc32c.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} commands[] = {
    {"dump", cmd_dump, "print the records of TFRecord shards (text or JSON lines)"},
    {"gen", cmd_gen, "write a synthetic YouTube-8M corpus with planted, learnable signal"},
    {"check", cmd_check, "parse and validate a .flow graph; all errors in one pass"},
    {"run", cmd_run, "run a .flow graph: one process per node replica, connected by ZeroMQ"},
    {"inspect", cmd_inspect, "list the node types, or one type's pads and parameters"},
    {"node", cmd_node, "(internal) one node replica, as `run` spawns it"},
    {"tap", cmd_tap, "watch a running graph: live table of node stats (or --jsonl)"},
    {"bundle", cmd_bundle, "pack a train dir's model into one .tgz that infer runs"},
    {"quantize", cmd_quantize, "a bundle with its large weights in 8 bits (uint8 + a 256-value codebook)"},
    {"ensemble", cmd_ensemble, "several bundles as one that infer runs: the weighted mean of their predictions"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: yt8m-flow COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "  %-8s %s\n", "version", "print the version and what this build can use");
  fprintf(f, "\n'yt8m-flow COMMAND --help' describes a command.\n");
}

void cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "yt8m-flow %s: error: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int cli_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi) {
    cli_error(cmd, "%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, s ? s : "");
    return -1;
  }
  *out = v;
  return 0;
}

int cli_u64(const char *cmd, const char *flag, const char *s, unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = s ? strtoull(s, &end, 0) : 0;
  if (!s || !*s || *end || errno || *s == '-') {
    cli_error(cmd, "%s expects a non-negative integer, got '%s'", flag, s ? s : "");
    return -1;
  }
  *out = v;
  return 0;
}

int cli_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : 0;
  if (!s || !*s || *end || errno || !(v >= lo && v <= hi)) { /* !(..) also refuses NaN */
    cli_error(cmd, "%s expects a number in [%g, %g], got '%s'", flag, lo, hi, s ? s : "");
    return -1;
  }
  *out = v;
  return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t k = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
  if (!k || k > n) return 0;
  for (size_t i = 1; i < k; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return k;
}

void cli_json_string(FILE *f, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  fputc('"', f);
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); i++; }
    else if (c == '\n') { fputs("\\n", f); i++; }
    else if (c == '\t') { fputs("\\t", f); i++; }
    else if (c < 0x20 || c == 0x7f) { fprintf(f, "\\u%04x", c); i++; }
    else if (c < 0x80) { fputc(c, f); i++; }
    else {
      size_t k = utf8_len(s + i, n - i);
      if (k) { fwrite(s + i, 1, k, f); i += k; }
      else { fprintf(f, "\\u%04x", c); i++; }
    }
  }
  fputc('"', f);
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    char why[256] = "";
    int n = yt_cuda_device_count(why, sizeof why);
    printf("yt8m-flow %s\n", YT_VERSION);
    printf("crc32c: %s\n", yt_crc32c_impl());
    printf("cuda: %s; %d device(s)%s%s\n", yt_cuda_build_info(), n, n ? "" : ": ", n ? "" : why);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "yt8m-flow: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
