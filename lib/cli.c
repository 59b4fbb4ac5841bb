#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"

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
