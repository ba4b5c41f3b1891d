/* gen.c: placeholder until the generator lands. */
#include "cli.h"
int cmd_gen(int argc, char **argv) { (void)argc; (void)argv; cli_error("gen", "not yet"); return 2; }
