/* A set of names the caller holds in an array of its own (tensors, metadata keys, JSON
 * members, files), each looked up or added in expected constant time whatever the names:
 * duplicate checks on hostile input stay linear.
 *
 * An open-addressing table of indexes into the caller's array.  Names are hashed with a
 * key drawn once per process, so that names chosen to collide in the table cannot be
 * prepared in advance, and compared with their lengths: a name holding a NUL is its own. */
#ifndef CKPT_NAMESET_H
#define CKPT_NAMESET_H

#include <stddef.h>
#include <stdint.h>

/* The name of item i of the caller's array, and its length. */
typedef const char *nameset_name_fn(const void *items, size_t i, size_t *len);

struct nameset {
	uint32_t *slot;          /* index + 1, 0 when free */
	size_t mask;
	uint64_t key;
	nameset_name_fn *name;
	const void *items;
};

/* Room for up to n items (n < UINT32_MAX) of items, named by name(). */
void nameset_init(struct nameset *s, size_t n, nameset_name_fn *name, const void *items);
/* Add item i, unless an earlier item has its name: then that item's index, else -1. */
long nameset_add(struct nameset *s, size_t i);
/* The index of the item named name[0..len), or -1. */
long nameset_find(const struct nameset *s, const char *name, size_t len);
/* Empty the set (e.g. before adding the items again once the caller sorted them). */
void nameset_clear(struct nameset *s);
void nameset_free(struct nameset *s);

#endif
