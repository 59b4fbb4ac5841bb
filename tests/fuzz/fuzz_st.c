/* libFuzzer target: the safetensors header parser (st_parse) on arbitrary bytes.
 *
 * Input: 8 bytes (little-endian) saying how many data bytes follow the part given, then the
 * file's first bytes (length field, header, maybe some data).  So a seed of a few hundred
 * bytes can stand for a shard of gigabytes and the parser's success paths are reached. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "st.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const struct st_file *f)
{
	char sh[ST_SHAPE_LEN];
	for (size_t i = 0; i < f->n; i++) {
		const struct st_tensor *t = &f->t[i];
		if (st_find(f, t->name) != t)
			__builtin_trap(); /* every tensor must be found under its own name */
		st_shape_str(t->ndim, t->shape, sh, sizeof sh);
		if (t->end < t->begin || t->end > f->size - 8 - f->header_len)
			__builtin_trap(); /* a parsed file's tensors lie inside its data section */
	}
	for (size_t i = 0; i < f->nmeta; i++)
		if (st_meta_get(f, f->meta[i].key) == NULL)
			__builtin_trap();
	st_find(f, "model.embed_tokens.weight");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	uint64_t extra = 0;
	for (int i = 7; i >= 0; i--)
		extra = (extra << 8) | data[i];
	data += 8;
	size -= 8;
	uint64_t file_size = size + extra < size ? UINT64_MAX : size + extra;
	struct st_file *f;
	if (st_parse(&f, "fuzz.safetensors", data, size, file_size) == 0) {
		exercise(f);
		st_close(f);
	} else if (!err_last()[0]) {
		__builtin_trap(); /* a refusal always says why */
	}
	/* the same bytes as a whole file */
	if (st_parse(&f, "fuzz.safetensors", data, size, size) == 0) {
		exercise(f);
		st_close(f);
	}
	return 0;
}
