/* Small things done with names everywhere: suffixes, and finding a name in a sorted array.
 * One copy each, so that every table of tensors, shards, files and manifest entries is
 * searched the same way (strcmp order, as qsort with strcmp sorts it). */
#ifndef CKPT_NAMES_H
#define CKPT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

bool ends_with(const char *s, const char *suffix);

/* The index of the element of base[0..n) (each stride bytes, holding a `const char *` at
 * byte name_off, sorted by it in strcmp order) whose name is name, or -1. */
ptrdiff_t name_find(const void *base, size_t n, size_t stride, size_t name_off, const char *name);

/* name_find over an array of structs with a member that is the name:
 *     NAME_FIND(v->t, v->n, name, key)  ->  index or -1 */
#define NAME_FIND(arr, n, member, key) \
	name_find((arr), (n), sizeof *(arr), offsetof(__typeof__(*(arr)), member), (key))

#endif
