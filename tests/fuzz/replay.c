/* A main for the fuzz targets without libFuzzer: feeds every file named (or every file in
 * every directory named) to LLVMFuzzerTestOneInput once.  `make` links each
 * tests/fuzz/fuzz_*.c with it into build/tests/replay_fuzz_*, and tests/cli/fuzz-replay.sh
 * runs them over tests/fuzz/corpus/, so that the inputs the fuzzers kept (and the ones that
 * once crashed) are run by `make test` and, under the sanitizers, by `make san`. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int one(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 1 << 16, n = 0, k;
	uint8_t *b = malloc(cap);
	while ((k = fread(b + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	/* an exact-size copy, so that ASan sees a read past the input's end */
	uint8_t *in = malloc(n ? n : 1);
	memcpy(in, b, n);
	free(b);
	LLVMFuzzerTestOneInput(in, n);
	free(in);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	long count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		if (stat(argv[i], &sb) < 0) {
			perror(argv[i]);
			return 2;
		}
		if (!S_ISDIR(sb.st_mode)) {
			if (one(argv[i]))
				return 2;
			count++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char **names = NULL;
		size_t n = 0;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			names = realloc(names, (n + 1) * sizeof *names);
			names[n] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
			sprintf(names[n++], "%s/%s", argv[i], e->d_name);
		}
		if (d)
			closedir(d);
		if (n)
			qsort(names, n, sizeof *names, cmp);
		for (size_t k = 0; k < n; k++) {
			if (one(names[k]))
				return 2;
			count++;
			free(names[k]);
		}
		free(names);
	}
	printf("%ld inputs\n", count);
	return 0;
}
