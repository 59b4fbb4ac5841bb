/* FP8 -> BF16 against the reference data made with the upstream tools on a GPU
 * (fixtures/ref/fp8cases, see fixtures/ref/README.md):
 *  - where DeepSeek's fp8_cast_bf16.py is right, our shards hold the same tensors at the
 *    same offsets with the same data section, byte for byte (only __metadata__ differs),
 *    and our index is upstream's minus what we document (orphan scales);
 *  - where it is wrong or fails (block sizes other than 128, E8M0 scales, no index), every
 *    tensor equals what upstream's kernel writes when given the right block size (Triton
 *    called directly, or torch on the GPU for what Triton cannot do), NaN bits included;
 *  - the torch CPU formula agrees everywhere except NaN bits (0xFFFF there, 0x7FFF on GPU). */
#include <sys/stat.h>

#include "ckpt.h"
#include "err.h"
#include "fp8cast.h"
#include "index.h"
#include "layout.h"
#include "out.h"
#include "t.h"

static const char *refdir(const char *c, const char *rest)
{
	static char b[4][512];
	static int k;
	char *p = b[k++ % 4];
	snprintf(p, sizeof b[0], "%s/fixtures/ref/fp8cases/%s%s%s", getenv("CKPT_ROOT") ? getenv("CKPT_ROOT") : ".", c,
		 rest ? "/" : "", rest ? rest : "");
	return p;
}

static int convert(const char *c, const char *out)
{
	struct view *k = NULL;
	struct fp8cast p;
	struct fp8cast_opts fo = {0};
	int rc = layout_open(&k, refdir(c, "input"), "hf", 0);
	if (!rc && !(rc = fp8cast_plan(&p, k, &fo))) {
		struct cv_opts o = {.outdir = out, .threads = 2};
		rc = cv_run(&p.job, &o);
		fp8cast_free(&p);
	}
	view_free(k);
	return rc;
}

/* Every tensor of the reference file equals ours; with nan_any, a NaN (any encoding) in
 * the reference only needs a NaN here.  Returns the number of tensors compared, -1 on a
 * difference. */
static int same_as_file(const struct ckpt *ours, const char *ref, bool nan_any, size_t *nans)
{
	struct st_file *f;
	if (st_open(&f, ref)) {
		printf("# %s\n", err_last());
		return -1;
	}
	int n = 0;
	for (size_t i = 0; i < f->n && n >= 0; i++) {
		const struct st_tensor *r = &f->t[i];
		const struct ckpt_tensor *t = ckpt_find(ours, r->name);
		if (!t || t->t->dtype != r->dtype || st_nbytes(t->t) != st_nbytes(r)) {
			printf("# %s: %s missing or of another type or size\n", ref, r->name);
			n = -1;
			break;
		}
		const uint16_t *a = (const uint16_t *)ckpt_bytes(t), *b = (const uint16_t *)st_bytes(f, r);
		for (uint64_t k = 0; k < st_nbytes(r) / 2; k++) {
			bool bnan = (b[k] & 0x7f80) == 0x7f80 && (b[k] & 0x7f);
			*nans += bnan;
			if (a[k] == b[k] || (nan_any && bnan && a[k] == 0x7fff))
				continue;
			printf("# %s: %s[%llu]: ours %04x, reference %04x\n", ref, r->name, (unsigned long long)k, a[k], b[k]);
			n = -1;
			break;
		}
		n += n >= 0;
	}
	st_close(f);
	return n;
}

/* Our shards against upstream's: same tensors, offsets and data bytes; ours carry
 * __metadata__ {"format":"pt"}, upstream's none. */
static bool same_shards(const char *c, const char *out, size_t *nshards)
{
	struct ckpt *up;
	bool ok = true;
	*nshards = 0;
	/* lenient: upstream's index may name an orphan scale that no shard holds */
	if (ckpt_open(&up, refdir(c, "fp8_cast_bf16"), CKPT_LENIENT)) {
		printf("# %s\n", err_last());
		return false;
	}
	for (size_t i = 0; i < up->nshards && ok; i++) {
		const struct st_file *u = up->shards[i].st;
		char *path = path_join(out, up->shards[i].name);
		struct st_file *o;
		ok = st_open(&o, path) == 0;
		free(path);
		if (!ok)
			break;
		ok = !u->has_meta && o->has_meta && o->nmeta == 1 && strcmp(o->meta[0].key, "format") == 0 &&
		     strcmp(o->meta[0].value, "pt") == 0 && o->n == u->n &&
		     o->size - 8 - o->header_len == u->size - 8 - u->header_len &&
		     memcmp(o->data, u->data, u->size - 8 - u->header_len) == 0;
		for (size_t k = 0; k < u->n && ok; k++)
			ok = strcmp(o->t[k].name, u->t[k].name) == 0 && o->t[k].dtype == u->t[k].dtype &&
			     o->t[k].begin == u->t[k].begin && o->t[k].end == u->t[k].end;
		st_close(o);
		*nshards += ok;
	}
	ckpt_close(up);
	return ok;
}

/* Our index against upstream's: the same weight map in the same order, except entries
 * that upstream keeps but that name no tensor of its shards (orphan scales). */
static bool same_index(const char *c, const char *out, size_t *dropped)
{
	struct idx *a, *b;
	char *p = path_join(out, INDEX_NAME);
	int ra = idx_load(&a, p), rb = idx_load(&b, refdir(c, "fp8_cast_bf16/" INDEX_NAME));
	free(p);
	bool ok = ra == 0 && rb == 0 && a->has_total_size && !b->has_total_size;
	size_t i = 0;
	*dropped = 0;
	for (size_t k = 0; ok && k < b->n; k++) {
		if (i < a->n && strcmp(a->e[i].name, b->e[k].name) == 0 && strcmp(a->e[i].file, b->e[k].file) == 0) {
			i++;
			continue;
		}
		size_t n = strlen(b->e[k].name);
		ok = n > 10 && strcmp(b->e[k].name + n - 10, "_scale_inv") == 0;
		*dropped += ok;
	}
	ok = ok && i == a->n;
	if (ra == 0)
		idx_free(a);
	if (rb == 0)
		idx_free(b);
	return ok;
}

int main(void)
{
	err_init("test_fp8ref");
	struct stat sb;
	if (stat(refdir("", NULL), &sb) < 0) {
		printf("ok - FP8 reference cases # SKIP no fixtures/ref/fp8cases\n");
		return 0;
	}
	/* upstream right: its output is the reference, byte for byte */
	static const struct {
		const char *c;
		const char *gpu;        /* Triton or torch on the GPU, the right block size */
		size_t shards, dropped;
	} right[] = {
		{"partial-blocks", "triton_direct.safetensors", 3, 0},
		{"scale-bf16", "triton_direct.safetensors", 2, 0},
		{"e5m2", "triton_direct.safetensors", 1, 0},
		{"e4m3-special", "triton_direct.safetensors", 1, 0},
		{"noscale", "triton_direct.safetensors", 2, 1},
	};
	for (size_t i = 0; i < sizeof right / sizeof *right; i++) {
		const char *c = right[i].c;
		char out[64];
		snprintf(out, sizeof out, "out-%s", c);
		int rc = convert(c, out);
		CHECK(rc == 0, "%s: converts (%s)", c, rc ? err_last() : "");
		if (rc)
			continue;
		size_t ns = 0, dropped = 0, nans = 0, cpu_nans = 0;
		bool shards = same_shards(c, out, &ns);
		CHECK(shards && ns == right[i].shards,
		      "%s: every shard equals fp8_cast_bf16.py's: tensors, offsets, data bytes; only __metadata__ differs (%zu shards)",
		      c, ns);
		bool idx = same_index(c, out, &dropped);
		CHECK(idx && dropped == right[i].dropped,
		      "%s: index equals upstream's weight map (%zu orphan scale entries left out), with total_size", c, dropped);
		struct ckpt *o;
		if (ckpt_open(&o, out, 0) == 0) {
			int n = same_as_file(o, refdir(c, right[i].gpu), false, &nans);
			int m = same_as_file(o, refdir(c, "torch_cpu.safetensors"), true, &cpu_nans);
			CHECK(n > 0 && m == n, "%s: %d tensors equal Triton's bit for bit (%zu NaN as 0x7FFF), and torch CPU's but for NaN bits",
			      c, n, nans);
			ckpt_close(o);
		}
	}
	/* upstream wrong or failing: its kernel with the right block size is the reference */
	static const struct {
		const char *c, *gpu, *why;
	} fixed[] = {
		{"block64", "triton_direct.safetensors", "blocks of 64x64 (upstream assumes 128: wrong values)"},
		{"block128x64", "torch_cuda.safetensors", "blocks of 128x64 (upstream: wrong values; Triton: square only)"},
		{"scale-ue8m0", "torch_cuda.safetensors", "F8_E8M0 scales (upstream: KeyError, weights left FP8, scales lost)"},
		{"no-index", "triton_direct.safetensors", "no index (upstream: FileNotFoundError)"},
	};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
		const char *c = fixed[i].c;
		char out[64];
		snprintf(out, sizeof out, "out-%s", c);
		int rc = convert(c, out);
		struct ckpt *o;
		size_t nans = 0, cpu_nans = 0;
		if (rc == 0 && ckpt_open(&o, out, 0) == 0) {
			int n = same_as_file(o, refdir(c, fixed[i].gpu), false, &nans);
			int m = same_as_file(o, refdir(c, "torch_cpu.safetensors"), true, &cpu_nans);
			CHECK(n > 0 && m == n, "%s: %s: %d tensors equal upstream's kernel on the GPU bit for bit (%zu NaN), torch CPU's but for NaN bits",
			      c, fixed[i].why, n, nans);
			ckpt_close(o);
		} else {
			CHECK(0, "%s: converts (%s)", c, err_last());
		}
	}
	struct stat st;
	CHECK(stat("out-no-index/" INDEX_NAME, &st) < 0 && stat("out-no-index/model.safetensors", &st) == 0,
	      "no-index: the output has no index either, its shard keeps its name");
	int rc = convert("fp8-1d", "out-fp8-1d");
	CHECK(rc == -1 && strstr(err_last(), "\"blk.vec.weight\": a block-quantized weight must be 2-D, not [") &&
	      stat("out-fp8-1d", &st) < 0,
	      "fp8-1d: a 1-D FP8 tensor with a scale is refused, as upstream fails (%s)", err_last());
	return t_done();
}
