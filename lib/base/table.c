#include "table.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void table_init(struct table *t, const char *align)
{
	memset(t, 0, sizeof *t);
	t->ncols = strlen(align);
	t->align = xstrdup(align);
}

/* A cell as printed, in memory of its own size: a table holds a few cells a tensor, and
 * a buffer's first 256 bytes each were 118 MB of ckpt-inspect's 250 for the 671B model. */
static char *printable(const char *s)
{
	const unsigned char *q = (const unsigned char *)s;
	while (*q && *q >= 0x20 && *q != 0x7f)
		q++;
	if (!*q)
		return xstrdup(s);
	struct buf b = {0};
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			buf_printf(&b, "\\x%02x", *p);
		else
			buf_addc(&b, (char)*p);
	}
	char *r = xstrdup(b.p);
	free(b.p);
	return r;
}

void table_add(struct table *t, const char *cell)
{
	if (t->ncells == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = xreallocarray(t->cells, t->cap, sizeof *t->cells);
	}
	t->cells[t->ncells++] = printable(cell);
}

void table_addf(struct table *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	table_add(t, s);
	free(s);
}

size_t table_rows(const struct table *t)
{
	return t->ncols ? (t->ncells + t->ncols - 1) / t->ncols : 0;
}

/* Width on screen: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void pad(struct buf *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_addc(out, ' ');
}

void table_render(const struct table *t, struct buf *out, const char *indent)
{
	size_t *w = xcalloc(t->ncols, sizeof *w);
	for (size_t i = 0; i < t->ncells; i++) {
		size_t k = width(t->cells[i]);
		if (k > w[i % t->ncols])
			w[i % t->ncols] = k;
	}
	for (size_t r = 0; r < table_rows(t); r++) {
		buf_adds(out, indent);
		for (size_t c = 0; c < t->ncols; c++) {
			size_t i = r * t->ncols + c;
			const char *s = i < t->ncells ? t->cells[i] : "";
			size_t gap = w[c] - width(s);
			bool last = c + 1 == t->ncols;
			if (c)
				buf_adds(out, "  ");
			if (t->align[c] == 'r')
				pad(out, gap);
			buf_adds(out, s);
			if (t->align[c] != 'r' && !last)
				pad(out, gap);
		}
		while (out->len && out->p[out->len - 1] == ' ')
			out->len--;
		buf_addc(out, '\n');
	}
	free(w);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->align);
	memset(t, 0, sizeof *t);
}

/* Three significant digits of n / base^k with the unit that keeps it below base. */
static const char *human(unsigned long long n, char out[32], double base, const char *const *units,
			 size_t nunits)
{
	double v = (double)n;
	size_t u = 0;
	while (v >= base && u + 1 < nunits) {
		v /= base;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%llu%s", n, units[0]);
	else
		snprintf(out, 32, "%.*f%s", v >= 100 ? 0 : v >= 10 ? 1 : 2, v, units[u]);
	return out;
}

const char *human_bytes(unsigned long long n, char out[32])
{
	static const char *const units[] = {" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"};
	return human(n, out, 1024, units, sizeof units / sizeof *units);
}

const char *human_count(unsigned long long n, char out[32])
{
	static const char *const units[] = {"", " K", " M", " B", " T", " P", " E"};
	return human(n, out, 1000, units, sizeof units / sizeof *units);
}

void table_add_lines(struct table *t, const char *key, struct table *sub)
{
	struct buf b = {0};
	table_render(sub, &b, "");
	const char *p = b.p;
	for (bool first = true; p && *p; first = false) {
		const char *nl = strchr(p, '\n');
		char *line = xstrndup(p, (size_t)(nl - p));
		table_add(t, first ? key : "");
		table_add(t, line);
		free(line);
		p = nl + 1;
	}
	buf_free(&b);
}

void layer_ranges(const uint64_t *v, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		buf_printf(out, "%s%" PRIu64, i ? ", " : "", v[i]);
		if (j > i)
			buf_printf(out, "%s%" PRIu64, j == i + 1 ? ", " : "-", v[j]);
		i = j + 1;
	}
}
