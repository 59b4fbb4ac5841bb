/* The engine's ring of fill buffers under contention: many small fill chunks and more
 * threads than cores.  Chunk k + nslots once could take a slot before chunk k, and the writer
 * (waiting for k) and chunk k then waited for each other forever; an alarm turns such a hang
 * into a failure. */
#include <signal.h>
#include <unistd.h>

#include "convert.h"
#include "err.h"
#include "hash.h"
#include "out.h"
#include "t.h"

static int fill_index(const void *arg, uint64_t off, uint64_t n, uint8_t *dst, void *scratch)
{
	(void)scratch;
	uint64_t salt = (uint64_t)(uintptr_t)arg;
	for (uint64_t i = 0; i < n; i++)
		dst[i] = (uint8_t)((off + i) * 31 + salt);
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "not ok - the engine finished within 60 s (it hung)\n";
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(1);
	_exit(1);
}

static int run_once(const char *dir, unsigned threads, char hex[2][SHA256_HEX])
{
	struct cv_job j = {0};
	char names[400][16];
	for (int f = 0; f < 2; f++) {
		struct cv_file *cf = cv_add_file(&j, f ? "b.safetensors" : "a.safetensors", 0);
		for (int k = 0; k < 400; k++) {
			snprintf(names[k], sizeof names[k], "t%03d", k);
			uint64_t shape[1] = {(uint64_t)(1 + (k * 37) % 300)};
			struct cv_tensor *t = cv_add_tensor(cf, names[k], DT_U8, 1, shape);
			t->fill = (struct cv_fill){fill_index, (const void *)(uintptr_t)(k + f), 0, 0};
		}
	}
	struct cv_opts o = {.outdir = dir, .threads = threads, .force = true};
	int rc = cv_run(&j, &o);
	for (int f = 0; f < 2 && !rc; f++) {
		uint8_t h[SHA256_LEN];
		char *p = path_join(dir, f ? "b.safetensors" : "a.safetensors");
		rc = sha256_file(p, h);
		hex_encode(h, SHA256_LEN, hex[f]);
		free(p);
	}
	cv_job_free(&j);
	return rc;
}

int main(void)
{
	err_init("test_convert_ring");
	signal(SIGALRM, on_alarm);
	alarm(60);
	char ref[2][SHA256_HEX], got[2][SHA256_HEX];
	int rc = run_once("ring", 1, ref);
	CHECK(rc == 0, "one thread writes the files (%s)", rc ? err_last() : "");
	int bad = 0, failed = 0;
	for (int i = 0; i < 60; i++) {
		if (run_once("ring", 2 + (unsigned)i % 7, got)) {
			failed++;
			continue;
		}
		bad += strcmp(got[0], ref[0]) != 0 || strcmp(got[1], ref[1]) != 0;
	}
	CHECK(failed == 0 && bad == 0, "60 runs with 2 to 8 threads finish with the same bytes (%d failed, %d differ)",
	      failed, bad);
	return t_done();
}
