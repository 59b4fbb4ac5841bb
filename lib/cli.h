/* The command line, the same in every tool: one way to report a usage error, to read a
 * number or a thread count, and to name an option getopt_long could not take. */
#ifndef CKPT_CLI_H
#define CKPT_CLI_H

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
