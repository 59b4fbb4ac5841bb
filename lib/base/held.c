#include "held.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "err.h"
#include "readfile.h"

static _Atomic uint64_t held;

int held_take(const char *path, const char *what, uint64_t n)
{
	uint64_t limit = HELD_DEFAULT, now = atomic_load(&held), total;
	const char *env = getenv(HELD_ENV);
	if (env && *env) {
		char *end;
		limit = strtoull(env, &end, 10);
		if (*end || *env == '-')
			return err_set("%s: %s=%s is not a number of bytes", path, HELD_ENV, env);
	}
	do {
		if (__builtin_add_overflow(now, n, &total) || total > limit) {
			char lim[32];
			return err_set("%s: holding its %s of %llu bytes would bring the headers and JSON files held "
				       "at once to %llu bytes, more than the %s limit (%s=BYTES sets it)", path, what,
				       (unsigned long long)n, (unsigned long long)now + n, limit_text(limit, lim),
				       HELD_ENV);
		}
	} while (!atomic_compare_exchange_weak(&held, &now, total));
	return 0;
}

void held_give(uint64_t n)
{
	atomic_fetch_sub(&held, n);
}
