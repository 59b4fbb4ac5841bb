/* The command line, the same in every tool: one way to report a usage error, to read a
 * number or a thread count, and to name an option getopt_long could not take. */
#ifndef CKPT_CLI_H
#define CKPT_CLI_H

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

/* "PROG: MESSAGE (see PROG --help)" on standard error; returns EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A decimal integer from lo to hi, else "OPT wants a number from LO to HI, not 'ARG'". */
int cli_number(const char *opt, const char *arg, long lo, long hi, long *out);

/* -j N: 1 to 4096 threads. */
int cli_jobs(const char *arg, unsigned *out);

/* What getopt_long returned for an option it could not take (':' with an optstring that
 * starts with ':', for a missing argument; '?' otherwise), as a usage error. */
int cli_bad_option(char **argv, int ch);

#endif
