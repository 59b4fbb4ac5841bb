#include "nameset.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "err.h"
#include "rng.h"

static uint64_t process_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void draw_key(void)
{
	uint64_t k;
	if (getrandom(&k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
		/* no entropy yet (early boot): still nothing a file could be prepared against */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&k;
	}
	process_key = k;
}

static uint64_t hash(uint64_t key, const char *p, size_t n)
{
	uint64_t h = key ^ n, w;
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h ^= w;
		h = rng_splitmix64(&h);
	}
	w = 0;
	memcpy(&w, p, n);
	h ^= w;
	return rng_splitmix64(&h);
}

void nameset_init(struct nameset *s, size_t n, nameset_name_fn *name, const void *items)
{
	pthread_once(&key_once, draw_key);
	size_t slots = 16;
	while (slots < 2 * n)
		slots *= 2;
	s->slot = xcalloc(slots, sizeof *s->slot);
	s->mask = slots - 1;
	s->key = process_key;
	s->name = name;
	s->items = items;
}

long nameset_add(struct nameset *s, size_t i)
{
	size_t len, k;
	const char *nm = s->name(s->items, i, &len);
	for (size_t j = hash(s->key, nm, len) & s->mask;; j = (j + 1) & s->mask) {
		if (!s->slot[j]) {
			s->slot[j] = (uint32_t)i + 1;
			return -1;
		}
		const char *o = s->name(s->items, s->slot[j] - 1, &k);
		if (k == len && memcmp(o, nm, len) == 0)
			return (long)s->slot[j] - 1;
	}
}

long nameset_find(const struct nameset *s, const char *name, size_t len)
{
	size_t k;
	if (!s->slot)
		return -1;
	for (size_t j = hash(s->key, name, len) & s->mask; s->slot[j]; j = (j + 1) & s->mask) {
		const char *o = s->name(s->items, s->slot[j] - 1, &k);
		if (k == len && memcmp(o, name, len) == 0)
			return (long)s->slot[j] - 1;
	}
	return -1;
}

void nameset_clear(struct nameset *s)
{
	memset(s->slot, 0, (s->mask + 1) * sizeof *s->slot);
}

void nameset_free(struct nameset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}
