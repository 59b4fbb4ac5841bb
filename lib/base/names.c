#include "names.h"

#include <string.h>

bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

ptrdiff_t name_find(const void *base, size_t n, size_t stride, size_t name_off, const char *name)
{
	const char *b = base;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *at;
		memcpy(&at, b + mid * stride + name_off, sizeof at);
		int r = strcmp(at, name);
		if (r == 0)
			return (ptrdiff_t)mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}
