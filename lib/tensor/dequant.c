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

bool quant_packed4_dtype(enum dt t)
{
	return quant_int_weight_dtype(t) || t == DT_F4;
}

bool quant_scale_dtype(enum dt t)
{
	return t == DT_F32 || t == DT_BF16 || t == DT_F16 || t == DT_F8_E8M0;
}

/* The scale's dtype and shape against the logical [rows, cols] in blocks of bm x bn. */
static int init_scale(struct quant *q, const char *nq, const struct st_tensor *s, const uint8_t *sdata,
		      uint64_t rows, uint64_t cols, uint64_t bm, uint64_t bn)
{
	char sh[ST_SHAPE_LEN];
	if (!quant_scale_dtype(s->dtype))
		return err_set("%s: scale dtype %s is not F32, BF16, F16 or F8_E8M0", nq, dt_name(s->dtype));
	if (bm == 0 || bn == 0)
		return err_set("%s: block size must be positive", nq);
	q->sdt = s->dtype;
	q->s = sdata;
	q->rows = rows;
	q->cols = cols;
	q->bm = bm;
	q->bn = bn;
	q->srows = (rows + bm - 1) / bm;
	q->scols = (cols + bn - 1) / bn;
	bool ok = (s->ndim == 2 && s->shape[0] == q->srows && s->shape[1] == q->scols) ||
		  (q->srows * q->scols == 1 && s->nelem == 1); /* a single per-tensor scale */
	if (!ok)
		return err_set("%s: scale has shape %s, expected [%" PRIu64 ", %" PRIu64 "] for blocks of %"
			       PRIu64 "x%" PRIu64, nq, st_shape_str(s->ndim, s->shape, sh, sizeof sh),
			       q->srows, q->scols, bm, bn);
	return 0;
}

int quant_init(struct quant *q, const char *name, const struct st_tensor *w, const uint8_t *wdata,
	       const struct st_tensor *s, const uint8_t *sdata, uint64_t bm, uint64_t bn)
{
	char nq[ERR_QUOTE], sh[ST_SHAPE_LEN];
	memset(q, 0, sizeof *q);
	err_quote(name, nq);
	if (!quant_weight_dtype(w->dtype) && !quant_int_weight_dtype(w->dtype))
		return err_set("%s: %s is not an FP8 type that block scales apply to", nq, dt_name(w->dtype));
	if (w->ndim != 2)
		return err_set("%s: a block-quantized weight must be 2-D, not %s", nq,
			       st_shape_str(w->ndim, w->shape, sh, sizeof sh));
	q->wdt = w->dtype;
	q->w = wdata;
	q->stride = w->shape[1];
	return init_scale(q, nq, s, sdata, w->shape[0], w->shape[1], bm, bn);
}

int quant_init_packed4(struct quant *q, const char *name, const struct st_tensor *w, const uint8_t *wdata,
		       const struct st_tensor *s, const uint8_t *sdata, uint64_t bm, uint64_t bn,
		       const float *codes4)
{
	char nq[ERR_QUOTE], sh[ST_SHAPE_LEN];
	memset(q, 0, sizeof *q);
	err_quote(name, nq);
	if (!quant_packed4_dtype(w->dtype))
		return err_set("%s: %s cannot hold 4-bit codes two a byte (I8, U8 or F4 can)", nq, dt_name(w->dtype));
	if (w->ndim != 2)
		return err_set("%s: a block-quantized weight must be 2-D, not %s", nq,
			       st_shape_str(w->ndim, w->shape, sh, sizeof sh));
	uint64_t cols = quant_packed4_codes(w->dtype, w->shape[1]);
	if (cols % 2)
		return err_set("%s: F4 rows of %" PRIu64 " codes do not fill whole bytes", nq, cols);
	q->wdt = w->dtype;
	q->w = wdata;
	q->codes4 = codes4;
	q->stride = cols / 2;
	return init_scale(q, nq, s, sdata, w->shape[0], cols, bm, bn);
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
/* The codes a table holds: 16 for 4-bit codes, else 256 (a table still takes 256). */
static unsigned ncodes_of(const struct quant *q) { return q->codes4 ? 16 : 256; }

static void tables_f32(const struct quant *q, uint64_t br, float *t)
{
	float lut[256];
	unsigned ncodes = ncodes_of(q);
	for (unsigned c = 0; c < ncodes; c++)
		if (q->codes4)
			lut[c] = q->codes4[c];
		else
			dt_to_f32(q->wdt, &(uint8_t){(uint8_t)c}, 0, 1, &lut[c]);
	for (uint64_t bc = 0; bc < q->scols; bc++) {
		float s = quant_scale(q, br, bc);
		for (unsigned c = 0; c < ncodes; c++)
			t[bc * 256 + c] = lut[c] * s;
	}
}

/* One row of codes w through the tables t (256 entries a column block, float or uint16_t)
 * into o: a macro, so that each element type gets its own tight loop. */
#define TABLE_ROW(q, w, t, o)                                                                     \
	do {                                                                                      \
		for (uint64_t bc = 0; bc < (q)->scols; bc++) {                                    \
			const __typeof__(*(t)) *tb = (t) + bc * 256;                              \
			uint64_t j1 = (bc + 1) * (q)->bn < (q)->cols ? (bc + 1) * (q)->bn : (q)->cols; \
			if ((q)->codes4 && !(((q)->bn | j1) & 1))                                 \
				for (uint64_t j = bc * (q)->bn; j < j1; j += 2) {                 \
					uint8_t b_ = (w)[j >> 1];                                 \
					(o)[j] = tb[b_ & 15u];                                    \
					(o)[j + 1] = tb[b_ >> 4];                                 \
				}                                                                 \
			else if ((q)->codes4)                                                     \
				for (uint64_t j = bc * (q)->bn; j < j1; j++)                      \
					(o)[j] = tb[((w)[j >> 1] >> ((j & 1) << 2)) & 15u];       \
			else                                                                      \
				for (uint64_t j = bc * (q)->bn; j < j1; j++)                      \
					(o)[j] = tb[(w)[j]];                                      \
		}                                                                                 \
	} while (0)

void quant_rows_f32(const struct quant *q, uint64_t r0, uint64_t r1, float *out, void *scratch)
{
	float *t = scratch;
	uint64_t cur = UINT64_MAX;
	for (uint64_t r = r0; r < r1; r++) {
		if (r / q->bm != cur) {
			cur = r / q->bm;
			tables_f32(q, cur, t);
		}
		TABLE_ROW(q, q->w + r * q->stride, t, out + (r - r0) * q->cols);
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
			for (size_t bc = 0; bc < q->scols; bc++)
				for (size_t c = 0; c < ncodes_of(q); c++)
					t[bc * 256 + c] = product_bf16(f[bc * 256 + c]);
		}
		TABLE_ROW(q, q->w + r * q->stride, t, out + (r - r0) * q->cols);
	}
}
