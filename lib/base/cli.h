/* The command line, the same in every tool: one way to report a usage error, to read a
 * number or a thread count, and to name an option getopt_long could not take. */
#ifndef CKPT_CLI_H
#define CKPT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

/* First thing in every tool's main: err_init(argv0), and standard output checked at exit
 * as coreutils' close_stdout does (flushed, its error flag read, closed).  Output that
 * could not be written (a full disk, /dev/full, an I/O error) ends the tool with
 * "PROG: write error on standard output: REASON" and exit status 2, whatever it was about
 * to return; a closed pipe (EPIPE) ends it as SIGPIPE does, silently, as it ends a tool
 * that leaves SIGPIPE alone (`ckpt-inspect --json | head`). */
void cli_init(const char *argv0);
/* For a tool that stops at the first write to standard output that fails (errno set by
 * it): the message above, recorded (err_set) for the tool to print, and not printed again
 * at exit; -1.  EPIPE ends the process as SIGPIPE does. */
int cli_stdout_error(void);

/* OUTPUT_DIR "-", every converter's tar stream on standard output: 1 when out is "-", 0 for a
 * directory, -1 after a usage error, printed (--json wants standard output too; a terminal
 * is no place for a tar stream): the tool exits 2. */
int cli_tar_output(const char *out, bool json);

/* "PROG: MESSAGE (see PROG --help)" on standard error; returns EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A decimal integer from lo to hi, else "OPT wants a number from LO to HI, not 'ARG'". */
int cli_number(const char *opt, const char *arg, long lo, long hi, long *out);

/* -j N: 1 to 4096 threads. */
int cli_jobs(const char *arg, unsigned *out);

/* What getopt_long returned for an option it could not take (':' with an optstring that
 * starts with ':', for a missing argument; '?' otherwise), as a usage error. */
int cli_bad_option(char **argv, int ch);

/* The options every tool takes, with the same letters and meanings (ckpt(1), CONVENTIONS):
 *   -j, --jobs N     threads, 1 to 4096 (default: all cores)
 *   -q, --quiet      no progress, no warnings, no text report; --json still prints its
 *                    document, so -q and --json go together
 *       --json       the report as one JSON document on standard output
 *   -h, --help       the tool's help on standard output, exit 0
 *   -V, --version    "TOOL VERSION", exit 0
 * and in the tools that write files:
 *   -f, --force      rewrite complete files; write into a directory another run claimed
 *       --progress   progress also when standard error is not a terminal
 * A tool puts CLI_LONGOPTS (and CLI_LONGOPTS_WRITE) in its option table, CLI_SHORT (and
 * CLI_SHORT_WRITE) in its optstring, and gives what getopt_long returns to cli_common
 * before its own cases. */
struct cli_common {
	unsigned jobs;          /* 0: all cores */
	bool quiet, json, force, progress;
};

enum { CLI_OPT_JSON = 0x1000, CLI_OPT_PROGRESS };

#define CLI_SHORT "j:qhV"
#define CLI_SHORT_WRITE "f"
#define CLI_LONGOPTS                                                                                                 \
	{"jobs", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},                                  \
	{"json", no_argument, NULL, CLI_OPT_JSON}, {"help", no_argument, NULL, 'h'},                                 \
	{"version", no_argument, NULL, 'V'}
#define CLI_LONGOPTS_WRITE {"force", no_argument, NULL, 'f'}, {"progress", no_argument, NULL, CLI_OPT_PROGRESS}

/* The end of the help of a converter that can write to standard output (OUTPUT_DIR -). */
/* The option lines every converter's help has (options common to them, at column 21). */
#define CLI_HELP_CONVERTER_OPTIONS \
	"  -f, --force        rewrite shards that are complete; write into a non-empty\n" \
	"                     OUTPUT_DIR that holds no earlier run of this conversion\n" \
	"  -q, --quiet        no progress bar, no warnings, no report\n" \
	"  -v, --verbose      list every file written or kept before the report\n" \
	"      --json         report as one JSON object (what was written, kept, how long)\n" \
	"      --progress     show progress even when standard error is not a terminal\n" \
	"  -h, --help         print this help\n" \
	"  -V, --version      print the version\n"

#define CLI_HELP_CONVERTER_END                                                                  \
	"On success one line says what was written, where, and how long it took (on standard\n" \
	"error when OUTPUT_DIR is -); a run with nothing left to do says so.  Interrupted, the\n" \
	"same command run again resumes.\n"                                                     \
	"\n"                                                                                    \
	"Exit status: 0 success, 2 usage, input or output error (nothing partial is left under\n" \
	"a final name).\n"

/* ch, as getopt_long returned it with optarg arg: 1 when it is one of the options above
 * (taken into c; -h prints help and -V the version, and the process ends with status 0),
 * 0 when it is the tool's own, -1 after a usage error (printed; the tool exits 2). */
int cli_common(int ch, const char *arg, struct cli_common *c, const char *help);

#endif
