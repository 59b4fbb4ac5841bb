#include "dequant.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "err.h"

bool quant_weight_dtype(enum dt t)
{
	return t == DT_F8_E4M3 || t == DT_F8_E5M2 || t == DT_F8_E4M3FNUZ || t == DT_F8_E5M2FNUZ;
}

bool quant_int_weight_dtype(enum dt t)
{
	return t == DT_I8 || t == DT_U8;
}

bool quant_scale_dtype(enum dt t)
{
	return t == DT_F32 || t == DT_BF16 || t == DT_F16 || t == DT_F8_E8M0;
}

int quant_init(struct quant *q, const char *name, const struct st_tensor *w, const uint8_t *wdata,
	       const struct st_tensor *s, const uint8_t *sdata, uint64_t bm, uint64_t bn)
{
	char nq[ERR_QUOTE], sh[ST_SHAPE_LEN];
	memset(q, 0, sizeof *q);
	err_quote(name, nq);
	if (!quant_weight_dtype(w->dtype) && !quant_int_weight_dtype(w->dtype))
		return err_set("%s: %s is not an FP8 type that block scales apply to", nq, dt_name(w->dtype));
	if (!quant_scale_dtype(s->dtype))
		return err_set("%s: scale dtype %s is not F32, BF16, F16 or F8_E8M0", nq, dt_name(s->dtype));
	if (w->ndim != 2)
		return err_set("%s: a block-quantized weight must be 2-D, not %s", nq,
			       st_shape_str(w->ndim, w->shape, sh, sizeof sh));
	if (bm == 0 || bn == 0)
		return err_set("%s: block size must be positive", nq);
	q->wdt = w->dtype;
	q->sdt = s->dtype;
	q->w = wdata;
	q->s = sdata;
	q->rows = w->shape[0];
	q->cols = w->shape[1];
	q->bm = bm;
	q->bn = bn;
	q->srows = (q->rows + bm - 1) / bm;
	q->scols = (q->cols + bn - 1) / bn;
	bool ok = (s->ndim == 2 && s->shape[0] == q->srows && s->shape[1] == q->scols) ||
		  (q->srows * q->scols == 1 && s->nelem == 1); /* a single per-tensor scale */
	if (!ok)
		return err_set("%s: scale has shape %s, expected [%" PRIu64 ", %" PRIu64 "] for blocks of %"
			       PRIu64 "x%" PRIu64, nq, st_shape_str(s->ndim, s->shape, sh, sizeof sh),
			       q->srows, q->scols, bm, bn);
	return 0;
}

float quant_scale(const struct quant *q, uint64_t br, uint64_t bc)
{
	float f;
	dt_to_f32(q->sdt, q->s, br * q->scols + bc, 1, &f);
	return f;
}

size_t quant_scratch_bytes(const struct quant *q)
{
	return (size_t)q->scols * 256 * sizeof(float);
}

/* The one place that decides how a dequantized value becomes bfloat16: what upstream's
 * Triton kernel stores on the GPU (measured, fixtures/ref/README.md): round to nearest
 * even, subnormals kept, and every NaN - from the weight, the scale or 0 x inf, whatever
 * its sign and payload - as the canonical 0x7FFF (torch on the CPU would write 0xFFFF). */
static inline uint16_t product_bf16(float f)
{
	if (isnan(f))
		return 0x7fff;
	return dt_f32_to_bf16(f);
}

/* A block row at a time: for each column block, the 256 possible products of a code and
 * that block's scale are tabulated once (exactly the per-element arithmetic), and each
 * element is then one table read. */
static void tables_f32(const struct quant *q, uint64_t br, float *t)
{
	float lut[256];
	for (unsigned c = 0; c < 256; c++)
		dt_to_f32(q->wdt, &(uint8_t){(uint8_t)c}, 0, 1, &lut[c]);
	for (uint64_t bc = 0; bc < q->scols; bc++) {
		float s = quant_scale(q, br, bc);
		for (unsigned c = 0; c < 256; c++)
			t[bc * 256 + c] = lut[c] * s;
	}
}

void quant_rows_f32(const struct quant *q, uint64_t r0, uint64_t r1, float *out, void *scratch)
{
	float *t = scratch;
	uint64_t cur = UINT64_MAX;
	for (uint64_t r = r0; r < r1; r++) {
		if (r / q->bm != cur) {
			cur = r / q->bm;
			tables_f32(q, cur, t);
		}
		const uint8_t *w = q->w + r * q->cols;
		float *o = out + (r - r0) * q->cols;
		for (uint64_t bc = 0; bc < q->scols; bc++) {
			const float *tb = t + bc * 256;
			uint64_t j1 = (bc + 1) * q->bn < q->cols ? (bc + 1) * q->bn : q->cols;
			for (uint64_t j = bc * q->bn; j < j1; j++)
				o[j] = tb[w[j]];
		}
	}
}

void quant_rows_bf16(const struct quant *q, uint64_t r0, uint64_t r1, uint16_t *out, void *scratch)
{
	uint16_t *t = scratch;
	uint64_t cur = UINT64_MAX;
	for (uint64_t r = r0; r < r1; r++) {
		if (r / q->bm != cur) {
			cur = r / q->bm;
			/* the float tables, then narrowed in place (the uint16 entries trail behind) */
			float *f = scratch;
			tables_f32(q, cur, f);
			for (size_t i = 0; i < q->scols * 256; i++)
				t[i] = product_bf16(f[i]);
		}
		const uint8_t *w = q->w + r * q->cols;
		uint16_t *o = out + (r - r0) * q->cols;
		for (uint64_t bc = 0; bc < q->scols; bc++) {
			const uint16_t *tb = t + bc * 256;
			uint64_t j1 = (bc + 1) * q->bn < q->cols ? (bc + 1) * q->bn : q->cols;
			for (uint64_t j = bc * q->bn; j < j1; j++)
				o[j] = tb[w[j]];
		}
	}
}
