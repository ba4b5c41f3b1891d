/* cli.h: the subcommands of the yt8m-flow binary and their shared helpers.
 * Each subcommand is one file (cli/<name>.c) with one entry point. Exit codes:
 * 0 ok, 1 the work failed (bad data, failed job), 2 bad usage. */
#ifndef YT_CLI_H
#define YT_CLI_H

#include <stdio.h>

#include "core/error.h"

int cmd_dump(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tap(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_ensemble(int argc, char **argv);

/* "yt8m-flow dump: error: <msg>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict number parsing for flags; on failure prints a usage error. */
int cli_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cli_u64(const char *cmd, const char *flag, const char *s, unsigned long long *out);
int cli_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);
/* Writes s[n] as a JSON string (quotes included); bytes >= 0x80 that are not
 * valid UTF-8 come out as \u00XX. */
void cli_json_string(FILE *f, const char *s, size_t n);

#endif
