/* FP8 -> BF16 on checkpoints built here for the cases the golden one barely reaches:
 * partial edge blocks, scales in another shard, F32 / BF16 / F8_E8M0 scales, blocks of
 * 64x64 and 128x64, E5M2 weights, NaN and infinity codes, extreme scales, a weight over
 * several engine chunks; missing and orphan scales, stray shards, --strict; refusals.
 * (fixtures/ref/fp8cases, made with the upstream tools on a GPU, is checked by
 * tests/unit/test_fp8ref.c.)
 * Expected values come from an independent formula: codes decoded with ldexp, one float
 * multiply, and bf16 rounding by comparing the two neighbours in double. */
#include <math.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "err.h"
#include "fp8cast.h"
#include "layout.h"
#include "index.h"
#include "out.h"
#include "t.h"

/* ---- building checkpoints ---- */

struct tspec {
	const char *name;
	enum dt dt;
	unsigned ndim;
	uint64_t shape[3];
	uint8_t *data;
};

static uint64_t rng = 88172645463325252ull;
static uint8_t rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 24);
}

static uint64_t nelem(const struct tspec *t)
{
	uint64_t n = 1;
	for (unsigned d = 0; d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}

static uint64_t nbytes(const struct tspec *t)
{
	return nelem(t) * dt_bits(t->dt) / 8;
}

/* random codes (every code, NaN included, appears in large tensors) */
static uint8_t *codes(uint64_t n)
{
	uint8_t *p = malloc(n + 1);
	for (uint64_t i = 0; i < n; i++)
		p[i] = rnd8();
	return p;
}

/* scales: mostly ordinary, with some extreme ones (products that overflow, underflow to
 * subnormals or to zero) */
static uint8_t *scales(enum dt dt, uint64_t n)
{
	uint8_t *p = malloc(4 * n + 1);
	for (uint64_t i = 0; i < n; i++) {
		int e = -12 + rnd8() % 10;
		if (i % 7 == 3)
			e = (i % 2) ? 118 : -128; /* x 448 overflows; tiny: subnormal products */
		float f = ldexpf(1.0f + (float)rnd8() / 256.0f, e);
		if (dt == DT_F32) {
			memcpy(p + 4 * i, &f, 4);
		} else if (dt == DT_BF16) {
			uint16_t h = (uint16_t)(dt_f32_bits(f) >> 16);
			memcpy(p + 2 * i, &h, 2);
		} else { /* F8_E8M0: a power of two, 2^(c - 127) */
			p[i] = (uint8_t)(e + 127 < 0 ? 0 : e + 127);
		}
	}
	return p;
}

static void write_shard(const char *path, struct tspec *t, size_t n)
{
	struct st_entry e[16];
	for (size_t i = 0; i < n; i++)
		e[i] = (struct st_entry){t[i].name, t[i].dt, t[i].ndim, t[i].shape};
	struct st_layout L;
	if (st_layout(&L, e, n, NULL, 0)) {
		printf("# %s\n", err_last());
		exit(1);
	}
	uint8_t *b = calloc(1, L.file_size);
	memcpy(b, L.header, L.header_size);
	for (size_t i = 0; i < n; i++)
		memcpy(b + L.header_size + L.begin[i], t[i].data, L.nbytes[i]);
	out_write_file(path, b, L.file_size);
	free(b);
	st_layout_free(&L);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *p = path_join(dir, name);
	out_write_file(p, text, strlen(text));
	free(p);
}

static void write_config(const char *dir, int bm, int bn)
{
	char text[512];
	snprintf(text, sizeof text,
		 "{\n  \"num_hidden_layers\": 2,\n  \"quantization_config\": {\"quant_method\": \"fp8\", "
		 "\"weight_block_size\": [%d, %d]},\n  \"torch_dtype\": \"bfloat16\"\n}", bm, bn);
	write_text(dir, "config.json", text);
}

/* ---- the independent reference ---- */

static double decode(enum dt dt, uint8_t c)
{
	int s = c >> 7;
	double v;
	if (dt == DT_F8_E4M3) {
		int e = (c >> 3) & 15, m = c & 7;
		if (e == 15 && m == 7)
			return NAN;
		v = e ? ldexp(1.0 + m / 8.0, e - 7) : ldexp(m / 8.0, -6);
	} else { /* F8_E5M2 */
		int e = (c >> 2) & 31, m = c & 3;
		if (e == 31)
			return m ? NAN : (s ? -INFINITY : INFINITY);
		v = e ? ldexp(1.0 + m / 4.0, e - 15) : ldexp(m / 4.0, -14);
	}
	return s ? -v : v;
}

static double scale_at(enum dt dt, const uint8_t *p, uint64_t i)
{
	if (dt == DT_F32) {
		float f;
		memcpy(&f, p + 4 * i, 4);
		return f;
	}
	if (dt == DT_BF16) {
		uint16_t h;
		memcpy(&h, p + 2 * i, 2);
		return dt_bits_f32((uint32_t)h << 16);
	}
	return p[i] == 0xff ? NAN : ldexp(1.0, p[i] - 127);
}

/* bf16 nearest to a float, ties to the even one: the two candidates compared in double */
static uint16_t ref_bf16(float f)
{
	uint32_t u = dt_f32_bits(f);
	if (isnan(f))
		return 0x7fff; /* what upstream's GPU kernel writes for every NaN */
	uint16_t lo = (uint16_t)(u >> 16);
	if ((u & 0xffff) == 0 || isinf(f))
		return lo;
	uint16_t hi = (uint16_t)(lo + 1);
	double dl = fabs((double)f - (double)dt_bits_f32((uint32_t)lo << 16));
	double dh = fabs((double)dt_bits_f32((uint32_t)hi << 16) - (double)f);
	if ((hi & 0x7f80) == 0x7f80) /* rounding up reaches infinity: the distance to 2^128 */
		dh = fabs(ldexp(1.0, 128) - fabs((double)f));
	if (dl < dh)
		return lo;
	if (dh < dl)
		return hi;
	return (lo & 1) ? hi : lo;
}

/* Compare the output tensor `name` with bf16(w * s); counts what was checked. */
static bool check_weight(const struct ckpt *out, const char *name, const struct tspec *w,
			 const struct tspec *s, uint64_t bm, uint64_t bn, size_t *nan_seen, size_t *sub_seen)
{
	const struct ckpt_tensor *t = ckpt_find(out, name);
	if (!t || t->t->dtype != DT_BF16 || t->t->ndim != 2 || t->t->shape[0] != w->shape[0] ||
	    t->t->shape[1] != w->shape[1])
		return false;
	const uint8_t *o = ckpt_bytes(t);
	uint64_t rows = w->shape[0], cols = w->shape[1], scols = (cols + bn - 1) / bn;
	for (uint64_t i = 0; i < rows; i++)
		for (uint64_t j = 0; j < cols; j++) {
			float x = (float)decode(w->dt, w->data[i * cols + j]);
			float sc = (float)scale_at(s->dt, s->data, (i / bm) * scols + j / bn);
			float prod = x * sc;
			uint16_t got;
			memcpy(&got, o + 2 * (i * cols + j), 2);
			if (got != ref_bf16(prod)) {
				printf("# %s[%llu][%llu]: code %02x scale %g: got %04x want %04x\n", name,
				       (unsigned long long)i, (unsigned long long)j, w->data[i * cols + j], sc, got,
				       ref_bf16(prod));
				return false;
			}
			*nan_seen += isnan(prod);
			*sub_seen += prod != 0 && fabsf(prod) < 0x1p-126f;
		}
	return true;
}

static int convert(const char *in, const char *out, const struct fp8cast_opts *fo, struct fp8cast *p,
		   struct view **c)
{
	if (layout_open(c, in, "hf", 0))
		return -1;
	if (fp8cast_plan(p, *c, fo))
		return -1;
	struct cv_opts o = {.outdir = out, .threads = 3, .input = in};
	return cv_run(&p->job, &o);
}

static void done(struct fp8cast *p, struct view *c)
{
	fp8cast_free(p);
	view_free(c);
}

/* ---- the cases ---- */

/* partial blocks, a scale in another shard, E5M2, a weight over several chunks, block
 * sizes from config.json; scale dtypes */
static void test_values(const char *dir, int bm, int bn, enum dt sdt)
{
	char a[256], b[256], outdir[256];
	snprintf(a, sizeof a, "%s/model-00001-of-00002.safetensors", dir);
	snprintf(b, sizeof b, "%s/model-00002-of-00002.safetensors", dir);
	snprintf(outdir, sizeof outdir, "%s.out", dir);
	mkdir_p(dir);
#define S(r, c) {((r) + bm - 1) / bm, ((c) + bn - 1) / bn}
	struct tspec w1 = {"model.layers.0.mlp.down_proj.weight", DT_F8_E4M3, 2, {300, 200}, NULL};
	struct tspec s1 = {"model.layers.0.mlp.down_proj.weight_scale_inv", sdt, 2, S(300, 200), NULL};
	struct tspec w2 = {"model.layers.0.mlp.up_proj.weight", DT_F8_E5M2, 2, {130, 129}, NULL};
	struct tspec s2 = {"model.layers.0.mlp.up_proj.weight_scale_inv", sdt, 2, S(130, 129), NULL};
	struct tspec w3 = {"model.layers.1.mlp.gate_proj.weight", DT_F8_E4M3, 2, {3000, 1500}, NULL};
	struct tspec s3 = {"model.layers.1.mlp.gate_proj.weight_scale_inv", sdt, 2, S(3000, 1500), NULL};
	struct tspec nrm = {"model.norm.weight", DT_BF16, 1, {200}, NULL};
	struct tspec *all[] = {&w1, &s1, &w2, &s2, &w3, &s3, &nrm};
	for (size_t i = 0; i < 7; i++)
		all[i]->data = all[i] == &s1 || all[i] == &s2 || all[i] == &s3 ? scales(sdt, nelem(all[i]))
										: codes(nbytes(all[i]));
	/* w2's scale lives in the first shard, w2 in the second */
	struct tspec sh1[] = {w1, s1, s2, nrm}, sh2[] = {w2, w3, s3};
	write_shard(a, sh1, 4);
	write_shard(b, sh2, 3);
	struct idx_entry ie[7];
	for (size_t i = 0; i < 7; i++)
		ie[i] = (struct idx_entry){all[i]->name,
					   all[i] == &w2 || all[i] == &w3 || all[i] == &s3 ? "model-00002-of-00002.safetensors"
											   : "model-00001-of-00002.safetensors"};
	struct buf ix = {0};
	idx_render(&ix, ie, 7, NULL);
	write_text(dir, INDEX_NAME, buf_str(&ix));
	buf_free(&ix);
	write_config(dir, bm, bn);

	struct fp8cast p;
	struct view *c = NULL;
	struct ckpt *o = NULL;
	struct fp8cast_opts fo = {0};
	int rc = convert(dir, outdir, &fo, &p, &c);
	CHECK(rc == 0 && p.nconverted == 3 && p.ncopied == 1 && p.nnotes == 0,
	      "%s: converts (%s)", dir, rc ? err_last() : "");
	if (rc == 0 && ckpt_open(&o, outdir, 0) == 0) {
		size_t nan = 0, sub = 0;
		bool ok = check_weight(o, w1.name, &w1, &s1, (uint64_t)bm, (uint64_t)bn, &nan, &sub) &&
			  check_weight(o, w2.name, &w2, &s2, (uint64_t)bm, (uint64_t)bn, &nan, &sub) &&
			  check_weight(o, w3.name, &w3, &s3, (uint64_t)bm, (uint64_t)bn, &nan, &sub);
		CHECK(ok && nan > 0 && (sdt == DT_F8_E8M0 || sub > 0),
		      "%s: blocks %dx%d, %s scales, partial edge blocks, E5M2, scale in the other shard, "
		      "a weight over several chunks: every value is bf16(w * s) (%zu NaN, %zu subnormal products)",
		      dir, bm, bn, dt_name(sdt), nan, sub);
		const struct ckpt_tensor *n = ckpt_find(o, nrm.name);
		CHECK(n && n->t->dtype == DT_BF16 && memcmp(ckpt_bytes(n), nrm.data, 400) == 0 &&
		      !ckpt_find(o, s1.name) && !ckpt_find(o, s2.name) && o->n == 4,
		      "%s: other tensors copied, scales gone from shards and index", dir);
		ckpt_close(o);
	}
	done(&p, c);
	for (size_t i = 0; i < 7; i++)
		free(all[i]->data);
#undef S
}

/* missing scale, orphan scales, a stray shard; --strict */
static void test_notes(void)
{
	const char *dir = "notes";
	mkdir_p(dir);
	struct tspec w = {"a.weight", DT_F8_E4M3, 2, {4, 4}, codes(16)};
	struct tspec ghost = {"ghost.weight_scale_inv", DT_F32, 2, {1, 1}, scales(DT_F32, 1)};
	struct tspec bw = {"b.weight", DT_BF16, 2, {2, 2}, codes(8)};
	struct tspec bs = {"b.weight_scale_inv", DT_F32, 2, {1, 1}, scales(DT_F32, 1)};
	struct tspec sh[] = {w, ghost, bw, bs};
	write_shard("notes/model-00001-of-00001.safetensors", sh, 4);
	write_shard("notes/extra.safetensors", sh, 1);
	struct idx_entry ie[4] = {{w.name, "model-00001-of-00001.safetensors"},
				  {ghost.name, "model-00001-of-00001.safetensors"},
				  {bw.name, "model-00001-of-00001.safetensors"},
				  {bs.name, "model-00001-of-00001.safetensors"}};
	struct buf ix = {0};
	idx_render(&ix, ie, 4, NULL);
	write_text(dir, INDEX_NAME, buf_str(&ix));
	buf_free(&ix);

	struct fp8cast p;
	struct view *c = NULL;
	struct ckpt *o = NULL;
	struct fp8cast_opts fo = {0};
	int rc = convert(dir, "notes.out", &fo, &p, &c);
	CHECK(rc == 0 && p.nnotes == 4, "warnings, not errors: %zu notes (%s)", p.nnotes, rc ? err_last() : "");
	if (rc == 0 && p.nnotes == 4) {
		CHECK(strcmp(p.notes[0].text, "notes/extra.safetensors: not named by the index; left out") == 0 &&
		      !p.notes[0].shard, "a stray shard: %s", p.notes[0].text);
		CHECK(strcmp(p.notes[1].text, "notes/model-00001-of-00001.safetensors: \"a.weight\" has no scale "
					      "a.weight_scale_inv; copied unchanged") == 0,
		      "a weight without a scale: %s", p.notes[1].text);
		CHECK(strcmp(p.notes[2].text, "notes/model-00001-of-00001.safetensors: scale \"b.weight_scale_inv\" "
					      "belongs to no FP8 weight (b.weight is BF16); left out") == 0 &&
		      strcmp(p.notes[3].text, "notes/model-00001-of-00001.safetensors: scale \"ghost.weight_scale_inv\" "
					      "belongs to no FP8 weight (ghost.weight is missing); left out") == 0,
		      "orphan scales: %s / %s", p.notes[2].text, p.notes[3].text);
	}
	if (rc == 0 && ckpt_open(&o, "notes.out", 0) == 0) {
		const struct ckpt_tensor *t = ckpt_find(o, "a.weight");
		CHECK(t && t->t->dtype == DT_F8_E4M3 && memcmp(ckpt_bytes(t), w.data, 16) == 0 && o->n == 2 &&
		      !ckpt_find(o, ghost.name) && !ckpt_find(o, bs.name) && o->nstray == 0,
		      "the weight without a scale copied unchanged; orphan scales out of shard and index; stray shard not written");
		ckpt_close(o);
	}
	done(&p, c);
	fo.strict = true;
	c = NULL;
	rc = convert(dir, "notes.strict", &fo, &p, &c);
	struct stat sb;
	CHECK(rc == -1 && strcmp(err_last(), "--strict: notes/extra.safetensors: not named by the index; left out") == 0 &&
	      stat("notes.strict", &sb) < 0, "--strict: the first note is the error, nothing written (%s)", err_last());
	view_free(c);
	free(w.data), free(ghost.data), free(bw.data), free(bs.data);
}

/* inputs that are refused */
static void test_refusals(void)
{
	static const struct {
		const char *dir;
		struct tspec w, s;
		const char *msg;
	} cases[] = {
		{"ref-bool", {"x.weight", DT_BOOL, 2, {4, 4}, NULL}, {"x.weight_scale_inv", DT_F32, 2, {1, 1}, NULL},
		 "ref-bool/model.safetensors: \"x.weight\" is BOOL and has a scale, but only FP8 and 1-byte integer weights can be dequantized"},
		{"ref-3d", {"x.weight", DT_F8_E4M3, 3, {2, 4, 4}, NULL}, {"x.weight_scale_inv", DT_F32, 2, {1, 1}, NULL},
		 "ref-3d/model.safetensors: \"x.weight\": a block-quantized weight must be 2-D, not [2, 4, 4]"},
		{"ref-shape", {"x.weight", DT_F8_E4M3, 2, {300, 4}, NULL}, {"x.weight_scale_inv", DT_F32, 2, {2, 1}, NULL},
		 "ref-shape/model.safetensors: \"x.weight\": scale has shape [2, 1], expected [3, 1] for blocks of 128x128"},
		{"ref-sdt", {"x.weight", DT_F8_E4M3, 2, {4, 4}, NULL}, {"x.weight_scale_inv", DT_I32, 2, {1, 1}, NULL},
		 "ref-sdt/model.safetensors: \"x.weight\": scale dtype I32 is not F32, BF16, F16 or F8_E8M0"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct tspec t[2] = {cases[i].w, cases[i].s};
		t[0].data = codes(nbytes(&t[0]));
		t[1].data = scales(DT_F32, nelem(&t[1]));
		mkdir_p(cases[i].dir);
		char path[128];
		snprintf(path, sizeof path, "%s/model.safetensors", cases[i].dir);
		write_shard(path, t, 2);
		struct view *c = NULL;
		struct fp8cast p;
		struct fp8cast_opts fo = {0};
		int rc = layout_open(&c, cases[i].dir, "hf", 0) || fp8cast_plan(&p, c, &fo);
		CHECK(rc && strcmp(err_last(), cases[i].msg) == 0, "refused: %s", err_last());
		view_free(c);
		free(t[0].data);
		free(t[1].data);
	}
}

static void test_mtp_names(void)
{
	CHECK(fp8cast_is_mtp("model.layers.61.eh_proj.weight", 61) && fp8cast_is_mtp("model.layers.62.x", 61) &&
	      !fp8cast_is_mtp("model.layers.60.x", 61) && !fp8cast_is_mtp("model.layers.61", 61) &&
	      !fp8cast_is_mtp("model.layers.x.y", 61) && !fp8cast_is_mtp("lm_head.weight", 61) &&
	      !fp8cast_is_mtp("x.model.layers.61.y", 61),
	      "MTP layers: model.layers.N. with N >= num_hidden_layers");
}

int main(void)
{
	err_init("test_fp8cast");
	test_values("b128-f32", 128, 128, DT_F32);
	test_values("b128-bf16", 128, 128, DT_BF16);
	test_values("b128-e8m0", 128, 128, DT_F8_E8M0);
	test_values("b64-f32", 64, 64, DT_F32);
	test_values("b128x64-f32", 128, 64, DT_F32);
	test_notes();
	test_refusals();
	test_mtp_names();
	return t_done();
}
