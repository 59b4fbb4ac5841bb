#include "progress.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"

struct progress {
	bool tty;
	pthread_mutex_t mu;
	double start, last;          /* seconds, monotonic */
	uint64_t done, total;
	char what[256];
	bool drawn;
};

const char *progress_bytes(uint64_t n, char *out)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(out, 16, u == 0 ? "%.0f %s" : v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return out;
}

struct progress *progress_new(enum progress_mode mode)
{
	bool tty = isatty(STDERR_FILENO);
	if (mode == PROGRESS_OFF || (mode == PROGRESS_AUTO && !tty))
		return NULL;
	struct progress *p = xcalloc(1, sizeof *p);
	p->tty = tty;
	pthread_mutex_init(&p->mu, NULL);
	p->start = clock_now();
	p->last = -1;
	return p;
}

static void clock_str(double s, char *out, size_t n)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(struct progress *p, bool final)
{
	double el = clock_now() - p->start;
	double rate = el > 0 ? (double)p->done / el : 0;
	char d[16], t[16], r[16], eta[32], line[512];
	int pct = p->total ? (int)((double)p->done * 100 / (double)p->total) : 100;
	if (final)
		snprintf(eta, sizeof eta, "in ");
	else
		snprintf(eta, sizeof eta, "ETA ");
	if (final)
		clock_str(el, eta + 3, sizeof eta - 3);
	else if (rate > 0 && p->done > 0)
		clock_str((double)(p->total - p->done) / rate, eta + 4, sizeof eta - 4);
	else
		snprintf(eta + 4, sizeof eta - 4, "--:--");
	int n = snprintf(line, sizeof line, "%3d%% %s / %s  %s/s  %s", pct, progress_bytes(p->done, d),
			 progress_bytes(p->total, t), progress_bytes((uint64_t)rate, r), eta);
	if (!p->tty) {
		fprintf(stderr, "%s: %s%s%s\n", err_prog(), line, p->what[0] && !final ? "  " : "",
			final ? "" : p->what);
		return;
	}
	int cols = 80;
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		cols = ws.ws_col;
	/* the bar takes what the numbers leave, up to 40 columns */
	int bar = cols - n - 4;
	if (bar > 40)
		bar = 40;
	char b[48] = "";
	if (bar >= 10) {
		int fill = (int)((double)bar * pct / 100);
		b[0] = '[';
		for (int i = 0; i < bar; i++)
			b[1 + i] = i < fill ? '#' : '.';
		b[bar + 1] = ']';
		b[bar + 2] = ' ';
		b[bar + 3] = 0;
	}
	int room = cols - 1 - (int)strlen(b) - n - 2;
	char w[300] = "";
	if (!final && room > 8) {
		size_t wl = strlen(p->what);
		if ((int)wl > room)
			snprintf(w, sizeof w, "  ...%s", p->what + wl - (size_t)(room - 3));
		else
			snprintf(w, sizeof w, "  %s", p->what);
	}
	fprintf(stderr, "\r%s%s%s\033[K%s", b, line, w, final ? "\n" : "");
	fflush(stderr);
	p->drawn = true;
}

void progress_update(void *arg, uint64_t done, uint64_t total, const char *what)
{
	struct progress *p = arg;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->done = done;
	p->total = total;
	snprintf(p->what, sizeof p->what, "%s", what ? what : "");
	double t = clock_now();
	if (p->last < 0 || t - p->last >= (p->tty ? 0.1 : 5.0)) {
		p->last = t;
		draw(p, false);
	}
	pthread_mutex_unlock(&p->mu);
}

void progress_end(struct progress *p)
{
	if (!p)
		return;
	if (p->drawn || !p->tty || p->total)
		draw(p, true);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
