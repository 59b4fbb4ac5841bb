#include "topk_torch.h"

#include <math.h>
#include <stdbool.h>

/* The routines below are written from the C++ standard library's documented algorithms as
 * libstdc++ implements them (introselect, introsort, heap select), step for step: ties are
 * resolved by the exact sequence of comparisons and swaps, so nothing here may be
 * "simplified" without changing which tied indices come first. */

typedef struct topk_elem E;

/* torch's comparator for largest: a goes before b */
static bool before(const E *a, const E *b)
{
	return (isnan(a->v) && !isnan(b->v)) || a->v > b->v;
}

static void swap(E *a, E *b)
{
	E t = *a;
	*a = *b;
	*b = t;
}

static unsigned lg2(size_t n)
{
	unsigned r = 0;
	while (n >>= 1)
		r++;
	return r;
}

static void push_heap(E *f, ptrdiff_t hole, ptrdiff_t top, E val)
{
	ptrdiff_t parent = (hole - 1) / 2;
	while (hole > top && before(&f[parent], &val)) {
		f[hole] = f[parent];
		hole = parent;
		parent = (hole - 1) / 2;
	}
	f[hole] = val;
}

static void adjust_heap(E *f, ptrdiff_t hole, ptrdiff_t len, E val)
{
	ptrdiff_t top = hole, child = hole;
	while (child < (len - 1) / 2) {
		child = 2 * (child + 1);
		if (before(&f[child], &f[child - 1]))
			child--;
		f[hole] = f[child];
		hole = child;
	}
	if ((len & 1) == 0 && child == (len - 2) / 2) {
		child = 2 * (child + 1);
		f[hole] = f[child - 1];
		hole = child - 1;
	}
	push_heap(f, hole, top, val);
}

static void make_heap(E *f, E *l)
{
	ptrdiff_t len = l - f;
	if (len < 2)
		return;
	for (ptrdiff_t parent = (len - 2) / 2;; parent--) {
		adjust_heap(f, parent, len, f[parent]);
		if (parent == 0)
			return;
	}
}

static void pop_heap(E *f, E *l, E *result)
{
	E val = *result;
	*result = *f;
	adjust_heap(f, 0, l - f, val);
}

static void heap_select(E *f, E *mid, E *l)
{
	make_heap(f, mid);
	for (E *i = mid; i < l; i++)
		if (before(i, f))
			pop_heap(f, mid, i);
}

static void sort_heap(E *f, E *l)
{
	while (l - f > 1) {
		l--;
		pop_heap(f, l, l);
	}
}

static void unguarded_linear_insert(E *l)
{
	E val = *l;
	E *next = l - 1;
	while (before(&val, next)) {
		*l = *next;
		l = next;
		next--;
	}
	*l = val;
}

static void insertion_sort(E *f, E *l)
{
	if (f == l)
		return;
	for (E *i = f + 1; i != l; i++) {
		if (before(i, f)) {
			E val = *i;
			for (E *j = i; j != f; j--)
				j[0] = j[-1];
			*f = val;
		} else {
			unguarded_linear_insert(i);
		}
	}
}

static void move_median_to_first(E *result, E *a, E *b, E *c)
{
	if (before(a, b)) {
		if (before(b, c))
			swap(result, b);
		else if (before(a, c))
			swap(result, c);
		else
			swap(result, a);
	} else if (before(a, c)) {
		swap(result, a);
	} else if (before(b, c)) {
		swap(result, c);
	} else {
		swap(result, b);
	}
}

static E *unguarded_partition(E *f, E *l, E *pivot)
{
	for (;;) {
		while (before(f, pivot))
			f++;
		l--;
		while (before(pivot, l))
			l--;
		if (!(f < l))
			return f;
		swap(f, l);
		f++;
	}
}

static E *partition_pivot(E *f, E *l)
{
	E *mid = f + (l - f) / 2;
	move_median_to_first(f, f + 1, mid, l - 1);
	return unguarded_partition(f + 1, l, f);
}

static void nth_element(E *f, E *nth, E *l)
{
	if (f == l || nth == l)
		return;
	unsigned depth = 2 * lg2((size_t)(l - f));
	while (l - f > 3) {
		if (depth == 0) {
			heap_select(f, nth + 1, l);
			swap(f, nth);
			return;
		}
		depth--;
		E *cut = partition_pivot(f, l);
		if (cut <= nth)
			f = cut;
		else
			l = cut;
	}
	insertion_sort(f, l);
}

enum { THRESHOLD = 16 };

static void introsort_loop(E *f, E *l, unsigned depth)
{
	while (l - f > THRESHOLD) {
		if (depth == 0) {
			heap_select(f, l, l);
			sort_heap(f, l);
			return;
		}
		depth--;
		E *cut = partition_pivot(f, l);
		introsort_loop(cut, l, depth);
		l = cut;
	}
}

static void sort(E *f, E *l)
{
	if (f == l)
		return;
	introsort_loop(f, l, 2 * lg2((size_t)(l - f)));
	if (l - f > THRESHOLD) {
		insertion_sort(f, f + THRESHOLD);
		for (E *i = f + THRESHOLD; i != l; i++)
			unguarded_linear_insert(i);
	} else {
		insertion_sort(f, l);
	}
}

size_t topk_torch(struct topk_elem *q, size_t n, size_t k, int32_t *out)
{
	if (k > n)
		k = n;
	if (k == 0)
		return 0;
	if (k * 64 <= n) {
		heap_select(q, q + k, q + n);
		sort_heap(q, q + k);
	} else {
		nth_element(q, q + k - 1, q + n);
		/* (torch sorts the first k - 1: nth_element left the k-th in place) */
		sort(q, q + k - 1);
	}
	for (size_t j = 0; j < k; j++)
		out[j] = (int32_t)q[j].i;
	return k;
}
