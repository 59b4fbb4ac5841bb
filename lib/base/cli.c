#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

static bool stdout_said;

int cli_stdout_error(void)
{
	int e = errno;
	if (e == EPIPE) {
		/* the reader is gone: end as a tool that leaves SIGPIPE alone ends */
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
	stdout_said = true;
	if (!e)
		return err_set("write error on standard output");
	return err_set("write error on standard output: %s", strerror(e));
}

static void close_stdout(void)
{
	bool failed = ferror(stdout) != 0, pending = __fpending(stdout) != 0;
	errno = 0;
	if (fflush(stdout) != 0)
		failed = true;
	int e = errno;
	/* EBADF with nothing written: standard output was closed and nothing was lost */
	if (fclose(stdout) != 0 && (pending || errno != EBADF) && !failed) {
		failed = true;
		e = errno;
	}
	if (!failed || stdout_said)
		return;
	errno = e;
	cli_stdout_error();
	err_print();
	_exit(EXIT_USAGE);
}

void cli_init(const char *argv0)
{
	err_init(argv0);
	atexit(close_stdout);
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", err_prog());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", err_prog());
	return EXIT_USAGE;
}

int cli_number(const char *opt, const char *arg, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		return cli_usage("%s wants a number from %ld to %ld, not '%s'", opt, lo, hi, arg);
	*out = v;
	return 0;
}

int cli_jobs(const char *arg, unsigned *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 4096)
		return cli_usage("-j wants a number of threads from 1 to 4096, not '%s'", arg);
	*out = (unsigned)v;
	return 0;
}

int cli_bad_option(char **argv, int ch)
{
	if (ch == ':')
		return cli_usage("option '%s' needs an argument", argv[optind - 1]);
	if (optopt)
		return cli_usage("unknown option '-%c'", optopt);
	return cli_usage("unknown option '%s'", argv[optind - 1]);
}

int cli_common(int ch, const char *arg, struct cli_common *c, const char *help)
{
	switch (ch) {
	case 'j':
		return cli_jobs(arg, &c->jobs) ? -1 : 1;
	case 'q': c->quiet = true; return 1;
	case CLI_OPT_JSON: c->json = true; return 1;
	case 'f': c->force = true; return 1;
	case CLI_OPT_PROGRESS: c->progress = true; return 1;
	case 'h':
		fputs(help, stdout);
		exit(EXIT_OK);
	case 'V':
		printf("%s %s\n", err_prog(), CKPT_VERSION);
		exit(EXIT_OK);
	default: return 0;
	}
}

int cli_tar_output(const char *out, bool json)
{
	if (!out || strcmp(out, "-") != 0)
		return 0;
	if (json) {
		cli_usage("%s", "--json reports on standard output, which OUTPUT_DIR - takes for the tar stream");
		return -1;
	}
	if (isatty(STDOUT_FILENO)) {
		err_say("standard output is a terminal: not writing a tar stream there (redirect it)");
		return -1;
	}
	return 1;
}
