/* Text tables aligned for a terminal: each column as wide as its widest cell, numbers
 * right-aligned, text left-aligned, the last column unpadded.  Cells are made printable
 * (control characters shown as \xNN), so a hostile tensor name cannot drive the terminal. */
#ifndef CKPT_TABLE_H
#define CKPT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct table {
	size_t ncols;
	char *align;             /* one of 'l' or 'r' per column */
	size_t ncells;
	char **cells;            /* row-major */
	size_t cap;
};

/* align: "lrr..." one letter per column. */
void table_init(struct table *t, const char *align);
/* The next cell, filling rows left to right. */
void table_add(struct table *t, const char *cell);
void table_addf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t table_rows(const struct table *t);
/* Every row, each line starting with indent, two spaces between columns. */
void table_render(const struct table *t, struct buf *out, const char *indent);
void table_free(struct table *t);
/* Each line of a rendered sub-table as a value cell of the two-column table t, the key on
 * the first line (a table inside a "key  value" summary). */
void table_add_lines(struct table *t, const char *key, struct table *sub);

/* Sizes for people: "812 B", "7.96 MiB" (binary units, three significant digits). */
const char *human_bytes(unsigned long long n, char out[32]);
/* Counts for people: "151", "8.35 M", "671 B" (decimal units). */
const char *human_count(unsigned long long n, char out[32]);

/* A sorted list of numbers as ranges: "0-2, 5, 7-9". */
void layer_ranges(const uint64_t *v, size_t n, struct buf *out);

#endif
