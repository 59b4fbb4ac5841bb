/* libFuzzer target: manifest parsing (manifest_parse) on arbitrary bytes, sha256sum's lines
 * as sha256sum -c reads them and the JSON forms.  Whatever is accepted names only files
 * inside the checkpoint, each once, sorted; written back as sha256sum writes it
 * (manifest_line), it reads again to the same entries. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "manifest.h"
#include "out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m;
	if (manifest_parse(&m, "fuzz/SHA256SUMS", (const char *)data, size)) {
		if (!err_last()[0])
			__builtin_trap();
		return 0;
	}
	struct buf b = {0};
	for (size_t i = 0; i < m.n; i++) {
		if (path_is_contained(m.e[i].name) || (i && strcmp(m.e[i - 1].name, m.e[i].name) >= 0))
			__builtin_trap();
		if (m.e[i].has_sha)
			manifest_line(&b, m.e[i].name, m.e[i].sha);
	}
	struct manifest again;
	if (b.len) {
		if (manifest_parse(&again, "again", b.p, b.len))
			__builtin_trap();
		size_t k = 0;
		for (size_t i = 0; i < m.n; i++) {
			if (!m.e[i].has_sha)
				continue;
			if (k >= again.n || strcmp(m.e[i].name, again.e[k].name) ||
			    memcmp(m.e[i].sha, again.e[k].sha, sizeof m.e[i].sha))
				__builtin_trap();
			k++;
		}
		if (k != again.n)
			__builtin_trap();
		manifest_free(&again);
	}
	buf_free(&b);
	manifest_free(&m);
	return 0;
}
