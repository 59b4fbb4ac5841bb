/* Packed 4-bit codes (FP4 E2M1, two a byte, low nibble the even column) with block scales:
 * the conversion engine's dequantization (quant_init_packed4, quant_rows_*) and the view's
 * piece reader (vpiece.codes4) against a plain per-value computation, value(i, j) =
 * codes4[nibble(i, j)] * float32(scale[i / bm][j / bn]), and the BF16 rounding every
 * dequantized product gets; stored as I8 [R, C/2] (DeepSeek-V4's experts) and as F4 [R, C]
 * (safetensors' float4_e2m1fn_x2), with both code tables (code 8 +0 or -0), E8M0 scales
 * with the NaN byte and the smallest one, partial groups, and the tensor cut into pieces
 * as a model-parallel layout cuts it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dequant.h"
#include "err.h"
#include "qscheme.h"
#include "st.h"
#include "t.h"
#include "view.h"

enum { R = 6, C = 80, BM = 2, BN = 32, SR = (R + BM - 1) / BM, SC = (C + BN - 1) / BN };

static uint8_t wbytes[R * C / 2], sbytes[SR * SC];

static float want_f32(const float *codes4, unsigned i, unsigned j)
{
	unsigned b = wbytes[i * (C / 2) + j / 2], code = j % 2 ? b >> 4 : b & 15;
	return codes4[code] * dt_e8m0_to_f32(sbytes[(i / BM) * SC + j / BN]);
}

/* bf16 of a product as every dequantization here stores it: NaN as 0x7FFF */
static uint16_t want_bf16(float f) { return isnan(f) ? 0x7fff : dt_f32_to_bf16(f); }

static bool same_f32(float a, float b) { return isnan(a) ? isnan(b) : dt_f32_bits(a) == dt_f32_bits(b); }

static void fill(void)
{
	uint32_t x = 12345;
	for (size_t k = 0; k < sizeof wbytes; k++) {
		x = x * 1103515245u + 12345u;
		wbytes[k] = (uint8_t)(x >> 16);
	}
	wbytes[0] = 0x88; /* code 8 twice: the zero whose sign the tables disagree on */
	for (size_t k = 0; k < sizeof sbytes; k++)
		sbytes[k] = (uint8_t)(120 + k % 14);
	sbytes[1] = 0xff; /* NaN */
	sbytes[2] = 0;    /* 2^-127 */
	sbytes[SC + 1] = 254;
}

static void test_quant(const char *tab_name, const float *codes4)
{
	uint64_t wshape_i8[2] = {R, C / 2}, wshape_f4[2] = {R, C}, sshape[2] = {SR, SC};
	struct st_tensor w_i8 = {"w", DT_I8, 2, wshape_i8, R * C / 2, 0, 0};
	struct st_tensor w_f4 = {"w", DT_F4, 2, wshape_f4, R * C, 0, 0};
	struct st_tensor s = {"s", DT_F8_E8M0, 2, sshape, SR * SC, 0, 0};
	const struct st_tensor *ws[2] = {&w_i8, &w_f4};
	for (int k = 0; k < 2; k++) {
		struct quant q;
		int rc = quant_init_packed4(&q, "w", ws[k], wbytes, &s, sbytes, BM, BN, codes4);
		CHECK(rc == 0 && q.cols == C && q.stride == C / 2, "%s, %s: a [%d, %d] weight of codes (%s)", tab_name,
		      dt_name(ws[k]->dtype), R, C, rc ? err_last() : "");
		if (rc)
			continue;
		void *scratch = malloc(quant_scratch_bytes(&q));
		float f[R * C];
		uint16_t h[R * C];
		/* in two calls, the second starting inside a block row */
		quant_rows_f32(&q, 0, 3, f, scratch);
		quant_rows_f32(&q, 3, R, f + 3 * C, scratch);
		quant_rows_bf16(&q, 0, R, h, scratch);
		size_t bad = 0, badh = 0, nan = 0;
		for (unsigned i = 0; i < R; i++)
			for (unsigned j = 0; j < C; j++) {
				float want = want_f32(codes4, i, j);
				bad += !same_f32(f[i * C + j], want);
				badh += h[i * C + j] != want_bf16(want);
				nan += isnan(want);
			}
		CHECK(bad == 0 && badh == 0 && nan == 2 * BN,
		      "%s, %s: every value and its BF16 as computed one by one (%zu, %zu differ; %zu NaN)", tab_name,
		      dt_name(ws[k]->dtype), bad, badh, nan);
		CHECK(h[0] == (codes4[8] == 0 && signbit(codes4[8]) ? 0x8000 : 0x0000),
		      "%s, %s: code 8 is BF16 %04x", tab_name, dt_name(ws[k]->dtype), h[0]);
		free(scratch);
	}
	uint64_t odd[2] = {R, 3};
	struct st_tensor w_odd = {"w", DT_F4, 2, odd, R * 3, 0, 0};
	struct quant q;
	CHECK(quant_init_packed4(&q, "w", &w_odd, wbytes, &s, sbytes, BM, BN, codes4) == -1 &&
	      strstr(err_last(), "do not fill whole bytes"), "%s: F4 rows of an odd number of codes are refused (%s)",
	      tab_name, err_last());
	struct st_tensor w_bf = {"w", DT_BF16, 2, wshape_i8, R * C / 2, 0, 0};
	CHECK(quant_init_packed4(&q, "w", &w_bf, wbytes, &s, sbytes, BM, BN, codes4) == -1 &&
	      strstr(err_last(), "BF16 cannot hold 4-bit codes"), "%s: a BF16 weight is not packed codes (%s)", tab_name,
	      err_last());
}

/* A safetensors file holding the weight as I8 and as F4 and the scale. */
static struct st_file *write_file(const char *path)
{
	char hdr[512];
	size_t nw = sizeof wbytes, ns = sizeof sbytes;
	int n = snprintf(hdr, sizeof hdr,
			 "{\"w_i8\":{\"dtype\":\"I8\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]},"
			 "\"w_f4\":{\"dtype\":\"F4\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]},"
			 "\"s\":{\"dtype\":\"F8_E8M0\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}}",
			 R, C / 2, nw, R, C, nw, 2 * nw, SR, SC, 2 * nw, 2 * nw + ns);
	while (n % 8)
		hdr[n++] = ' ';
	FILE *f = fopen(path, "wb");
	uint64_t len = (uint64_t)n;
	fwrite(&len, 8, 1, f);
	fwrite(hdr, 1, (size_t)n, f);
	fwrite(wbytes, 1, nw, f);
	fwrite(wbytes, 1, nw, f);
	fwrite(sbytes, 1, ns, f);
	fclose(f);
	struct st_file *st;
	if (st_open(&st, path)) {
		CHECK(0, "the test file opens (%s)", err_last());
		return NULL;
	}
	return st;
}

static const struct st_tensor *tensor(const struct st_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}

/* The weight as a view tensor: whole, or cut in four pieces (two column halves of whole
 * groups, each in two row ranges of whole blocks), as a model-parallel layout places them. */
static void test_view(const struct st_file *st, const char *wname, const char *tab_name, const float *codes4)
{
	const struct st_tensor *w = tensor(st, wname), *s = tensor(st, "s");
	for (int cut = 0; cut < 2; cut++) {
		struct view *v = view_new(LAYOUT_HF, "hf", "test");
		uint64_t shape[2] = {R, C};
		struct vtensor *t = view_add(v, "w", 2, shape);
		for (int pr = 0; pr < (cut ? 2 : 1); pr++)
			for (int pc = 0; pc < (cut ? 2 : 1); pc++) {
				struct vpiece *p = vtensor_add_piece(t);
				uint64_t r0 = cut ? pr * 4 : 0, c0 = cut ? pc * 64 : 0;
				*p = (struct vpiece){.f = st, .t = w, .sf = st, .s = s, .bm = BM, .bn = BN, .sr = r0,
						     .sc = c0, .dr = r0, .dc = c0, .nr = cut ? (pr ? R - 4 : 4) : R,
						     .nc = cut ? (pc ? C - 64 : 64) : C, .codes4 = codes4};
			}
		int rc = view_finish(v);
		CHECK(rc == 0, "%s, %s, %s: the view takes the pieces (%s)", tab_name, wname, cut ? "cut in 4" : "whole",
		      rc ? err_last() : "");
		if (rc) {
			view_free(v);
			continue;
		}
		t = &v->t[0];
		float f[R * C], fr[R * (C + 3)];
		int e = view_read_f32(t, 0, 3, f) | view_read_f32(t, 3, R - 3, f + 3 * C) |
			view_read_rows(t, 0, R, fr, C + 3, VIEW_ROUND_BF16);
		size_t bad = 0, badr = 0;
		for (unsigned i = 0; i < R; i++)
			for (unsigned j = 0; j < C; j++) {
				float want = want_f32(codes4, i, j);
				bad += !same_f32(f[i * C + j], want);
				float got = fr[i * (C + 3) + j];
				/* a NaN's payload is the reader's; any NaN stands for NaN */
				badr += isnan(want) ? !isnan(got) : dt_f32_bits(got) != (uint32_t)want_bf16(want) << 16;
			}
		CHECK(e == 0 && bad == 0 && badr == 0,
		      "%s, %s, %s: view_read_f32 and view_read_rows (rounded) give every value (%zu, %zu differ)", tab_name,
		      wname, cut ? "cut in 4" : "whole", bad, badr);
		CHECK(t->dtype == DT_BF16 && t->rows == R && t->cols == C && !vtensor_bf16_readable(t) && !vtensor_bytes(t),
		      "%s, %s: a dequantized tensor of the codes' shape, read through float32", tab_name, wname);
		uint8_t b[8];
		CHECK(view_read_elems(t, 0, 8, b) == -1 && strstr(err_last(), "smaller than a byte"),
		      "%s, %s: its elements are not offered as bytes (%s)", tab_name, wname, err_last());
		uint64_t bytes = 0;
		for (size_t k = 0; k < t->npieces; k++)
			bytes += vpiece_nbytes(&t->p[k]);
		CHECK(bytes == R * C / 2, "%s, %s: its pieces read %llu bytes, half a byte a code", tab_name, wname,
		      (unsigned long long)bytes);
		vtensor_release(t);
		view_free(v);
	}
}

static void test_view_refusals(const struct st_file *st)
{
	const struct st_tensor *w = tensor(st, "w_i8"), *s = tensor(st, "s");
	struct view *v = view_new(LAYOUT_HF, "hf", "test");
	uint64_t shape[2] = {R, C};
	struct vtensor *t = view_add(v, "w", 2, shape);
	*vtensor_add_piece(t) = (struct vpiece){.f = st, .t = w, .sf = st, .s = s, .bm = BM, .bn = BN, .nr = R,
						.nc = 64, .codes4 = qscheme_e2m1_deepseek};
	*vtensor_add_piece(t) = (struct vpiece){.f = st, .t = w, .sf = st, .s = s, .bm = BM, .bn = BN, .sc = 64, .dc = 64,
						.nr = R, .nc = C - 64};
	CHECK(view_finish(v) == -1 && strstr(err_last(), "some pieces are packed 4-bit codes and some are not"),
	      "pieces decoded two ways are refused (%s)", err_last());
	view_free(v);
	v = view_new(LAYOUT_HF, "hf", "test");
	t = view_add(v, "w", 2, shape);
	*vtensor_add_piece(t) = (struct vpiece){.f = st, .t = w, .sf = st, .s = s, .bm = BM, .bn = BN, .nr = R,
						.nc = C + 2, .codes4 = qscheme_e2m1_deepseek};
	CHECK(view_finish(v) == -1 && strstr(err_last(), "outside"), "a piece wider than its codes is refused (%s)",
	      err_last());
	view_free(v);
}

int main(void)
{
	err_init("test_fp4");
	fill();
	test_quant("DeepSeek's table", qscheme_e2m1_deepseek);
	test_quant("the IEEE table", qscheme_e2m1_ieee);
	char dir[] = "/tmp/ckpt-fp4.XXXXXX", path[64];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/w.safetensors", dir);
	struct st_file *st = write_file(path);
	if (st) {
		test_view(st, "w_i8", "DeepSeek's table", qscheme_e2m1_deepseek);
		test_view(st, "w_f4", "DeepSeek's table", qscheme_e2m1_deepseek);
		test_view(st, "w_i8", "the IEEE table", qscheme_e2m1_ieee);
		test_view_refusals(st);
		st_close(st);
	}
	unlink(path);
	rmdir(dir);
	return t_done();
}
