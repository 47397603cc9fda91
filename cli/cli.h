/*
 * cli.h - shared pieces of the mdeploy command-line program.
 *
 * The CLI only parses arguments, calls libmdeploy and prints. It uses only
 * the public headers; anything another program would need lives in the
 * library.
 */
#ifndef MDEPLOY_CLI_H
#define MDEPLOY_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdarg.h>
#include <jansson.h>
#include <mdeploy.h>

#include "commands.h"

/* Exit codes, documented in mdeploy(1). */
#define CLI_EXIT_OK      0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

struct cli_globals {
	int json;
	int quiet;
	int verbose;
	int progress;          /* draw progress bars (stderr is a TTY, not -q) */
	const char *state_dir; /* NULL: library default */
	const char *config;    /* NULL: ./mdeploy.yml */
	int64_t started_ms;    /* Unix ms when the command started, for honest timings */
};
extern struct cli_globals cli;

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;   /* SYNOPSIS lines, without "usage: " */
	const char *help;    /* option descriptions */
};

/* Registered commands (cli/main.c). */
extern const struct cli_command cli_commands[];
const struct cli_command *cli_find_command(const char *name);

/*
 * Parse a subcommand's options. `longopts` (may be NULL) and `shortopts`
 * are the command's own; --help, --json, -q, -v, --state-dir and --config
 * are added. `handler` gets each command option (`c`, optarg) and returns
 * 0 to go on or an exit code to stop. Returns -1 when parsing finished
 * (positional arguments start at argv[optind]) or an exit code the command
 * must return right away (0 after --help, 2 after a usage error).
 */
typedef int (*cli_opt_handler)(int c, const char *arg, void *data);
int cli_parse(int argc, char **argv, const char *cmd, const char *shortopts,
              const struct option *longopts, cli_opt_handler handler, void *data);
/* First value for a command's own long-only options. */
#define CLI_OPT_CMD 0x1100

/* Print "usage: ..." and the help of a command to `f`. */
void cli_print_help(const struct cli_command *cmd, FILE *f);

/* "mdeploy: error: ..." on stderr. Return 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error plus "usage:" lines of `cmd`. Return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report the library's last error, prefixed by what we were doing. Return 1. */
int cli_lib_error(const char *what);
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational line on stderr unless -q. */
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Record a decision (approve, reject, stop, rollback) in the audit trail
 * as "user:LOGIN" (cli/util.c); a failure to write it is a warning. */
void cli_audit(mdeploy_ctx *ctx, const char *action, const char *target, int ok, const char *detail);
/* "user:LOGIN" of the effective user, in `buf`. */
const char *cli_who(char *buf, size_t n);

/* A context wired to the CLI's log and progress output. */
int cli_ctx_open(mdeploy_ctx **out);

/* Print one JSON document on stdout and drop the reference. Return 0 or 1. */
int cli_json_print(json_t *doc);
/* Sets o[key] to a file name; one that is not UTF-8 goes as key_hex, its
 * bytes in hex, as in a bundle's manifest. */
int cli_json_set_name(json_t *o, const char *key, const char *name);

/* All of standard input without one final newline (cli/read_stdin.c);
 * NULL when out of memory. The caller frees it. */
/* Standard input as a string (one final newline dropped); NULL after an
 * error already reported (out of memory, a NUL byte in the value). */
char *cli_read_stdin(void);

/* Progress callback drawing a bar on stderr when cli.progress is set. */
/* From here on SIGTERM, SIGINT and SIGHUP ask the library to stop
 * (mdeploy_interrupt()) instead of killing the process, so the operation
 * removes what it was writing; cli_interrupt_end(rc) then ends the process
 * by the signal caught, if one was, else returns rc. For commands whose
 * library calls poll the request (bundle create, extract, verify). */
void cli_interruptible(void);
int cli_interrupt_end(int rc);

int cli_progress(const mdeploy_progress *p, void *payload);
void cli_progress_end(void);

#endif
