/* libFuzzer target: model.safetensors.index.json parsing (idx_parse) on arbitrary bytes.
 * Whatever is accepted names only files inside the checkpoint directory, and renders
 * again as an index that parses to the same map. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "index.h"
#include "out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idx *x;
	if (idx_parse(&x, "fuzz/" INDEX_NAME, (const char *)data, size)) {
		if (!err_last()[0])
			__builtin_trap();
		return 0;
	}
	for (size_t i = 0; i < x->n; i++)
		if (path_is_contained(x->e[i].file))
			__builtin_trap(); /* no "..", ".", empty or absolute names */
	for (size_t i = 1; i < x->nfiles; i++)
		if (strcmp(x->files[i - 1], x->files[i]) >= 0)
			__builtin_trap();
	struct buf b = {0};
	idx_render(&b, x->e, x->n, x->has_total_size ? &x->total_size : NULL);
	struct idx *y;
	if (idx_parse(&y, "again", b.p, b.len))
		__builtin_trap();
	if (y->n != x->n || y->nfiles != x->nfiles)
		__builtin_trap();
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->e[i].name, y->e[i].name) || strcmp(x->e[i].file, y->e[i].file))
			__builtin_trap();
	idx_free(y);
	buf_free(&b);
	idx_free(x);
	return 0;
}
