#include "synth.h"

#include <string.h>

#include "err.h"
#include "quantize.h"
#include "rng.h"

/* Streams of one tensor: rows draw from seed mixed with the row; scales (cheap mode) and
 * outlier choices from seeds set apart by these tags. */
#define TAG_SCALE 0x5ca1e5ca1e5ca1e5ull
#define TAG_OUTLIER 0x0b71e40b71e40b71ull

bool synth_quantized(const struct synth *s) { return quantize_weight_dtype(s->dtype); }

int synth_check(const struct synth *s)
{
	if (s->dtype != DT_F32 && s->dtype != DT_BF16 && !synth_quantized(s))
		return err_set("cannot synthesize %s tensors", dt_name(s->dtype));
	if (synth_quantized(s) && (!quantize_scale_dtype(s->sdtype) || s->bm == 0 || s->bn == 0))
		return err_set("cannot synthesize %s scales for blocks of %llux%llu", dt_name(s->sdtype),
			       (unsigned long long)s->bm, (unsigned long long)s->bn);
	return 0;
}

static size_t elsize(enum dt t) { return dt_bits(t) / 8; }

uint64_t synth_piece_rows(const struct synth *s)
{
	if (synth_quantized(s))
		return s->bm;
	uint64_t row = s->cols * elsize(s->dtype);
	uint64_t n = row ? (1u << 20) / row : 1;
	return n ? n : 1;
}

size_t synth_scratch_bytes(const struct synth *s)
{
	if (s->mode == SYNTH_CHEAP)
		return 64;
	if (!synth_quantized(s))
		return (size_t)s->cols * sizeof(float) + 64;  /* one row's values */
	/* the block row's values, then its stored scales */
	return (size_t)(s->bm * s->cols) * sizeof(float) + (size_t)((s->cols + s->bn - 1) / s->bn) * 4 + 64;
}

/* ---- realistic ---- */

static bool outlier_block(const struct synth *s, uint64_t br, uint64_t bc)
{
	return (rng_mix(s->seed ^ TAG_OUTLIER, (br << 32) ^ bc) & 15) == 0;
}

void synth_values(const struct synth *s, uint64_t r0, uint64_t r1, float *out)
{
	uint64_t bm = synth_quantized(s) ? s->bm : 128, bn = synth_quantized(s) ? s->bn : 128;
	float base = s->dist == SYNTH_NEAR_ONE ? 1.0f : 0.0f;
	for (uint64_t r = r0; r < r1; r++) {
		struct rng g;
		rng_seed(&g, rng_mix(s->seed, r));
		float *o = out + (r - r0) * s->cols;
		for (uint64_t c0 = 0; c0 < s->cols; c0 += bn) {
			uint64_t c1 = c0 + bn < s->cols ? c0 + bn : s->cols;
			float k = s->outliers && outlier_block(s, r / bm, c0 / bn) ? 8.0f * s->std : s->std;
			for (uint64_t c = c0; c < c1; c++)
				o[c] = base + k * rng_normalish(&g);
		}
	}
}

/* ---- cheap ---- */

static void cheap_bytes(uint64_t seed, uint8_t *out, size_t n, uint64_t mask)
{
	struct rng g;
	rng_seed(&g, seed);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x = rng_next(&g) & mask;
		memcpy(out + i, &x, 8);
	}
	if (i < n) {
		uint64_t x = rng_next(&g) & mask;
		memcpy(out + i, &x, n - i);
	}
}

/* float32 bits: random sign and mantissa, exponent 2^-9 .. 2^-6 (or [1, 2) near one). */
static uint32_t cheap_f32(const struct synth *s, uint64_t x)
{
	if (s->dist == SYNTH_NEAR_ONE)
		return (127u << 23) | (uint32_t)(x & 0x7fffff);
	return (uint32_t)((x >> 32) & 0x80000000u) | ((118u + (uint32_t)((x >> 23) & 3)) << 23) | (uint32_t)(x & 0x7fffff);
}

static void cheap_plain(const struct synth *s, uint64_t r0, uint64_t r1, void *out)
{
	for (uint64_t r = r0; r < r1; r++) {
		struct rng g;
		rng_seed(&g, rng_mix(s->seed, r));
		if (s->dtype == DT_F32) {
			uint32_t *o = (uint32_t *)out + (r - r0) * s->cols;
			for (uint64_t c = 0; c < s->cols; c++) {
				uint32_t v = cheap_f32(s, rng_next(&g));
				memcpy(o + c, &v, 4);
			}
		} else {
			uint16_t *o = (uint16_t *)out + (r - r0) * s->cols;
			for (uint64_t c = 0; c < s->cols; c += 2) {
				uint64_t x = rng_next(&g);
				uint16_t v[2] = {(uint16_t)(cheap_f32(s, x) >> 16), (uint16_t)(cheap_f32(s, x >> 7 | x << 57) >> 16)};
				memcpy(o + c, v, c + 1 < s->cols ? 4 : 2);
			}
		}
	}
}

static void cheap_scales(const struct synth *s, uint64_t b0, uint64_t b1, void *out)
{
	uint64_t scols = (s->cols + s->bn - 1) / s->bn;
	size_t ssz = elsize(s->sdtype);
	bool pow2 = s->pow2 || s->sdtype == DT_F8_E8M0;
	for (uint64_t b = b0; b < b1; b++) {
		struct rng g;
		rng_seed(&g, rng_mix(s->seed ^ TAG_SCALE, b));
		for (uint64_t c = 0; c < scols; c++) {
			uint64_t x = rng_next(&g);
			uint32_t e = 114 + (uint32_t)(x >> 62);       /* 2^-13 .. 2^-10 */
			uint32_t f = (e << 23) | (pow2 ? 0 : (uint32_t)(x & 0x7fffff));
			uint8_t *o = (uint8_t *)out + ((b - b0) * scols + c) * ssz;
			if (s->sdtype == DT_F8_E8M0) {
				*o = (uint8_t)e;
			} else if (s->sdtype == DT_BF16) {
				uint16_t h = (uint16_t)(f >> 16);
				memcpy(o, &h, 2);
			} else {
				memcpy(o, &f, 4);
			}
		}
	}
}

/* ---- stored bytes ---- */

size_t synth_specials(enum dt t, uint32_t codes[SYNTH_NSPECIAL], uint32_t *last)
{
	static const uint32_t e4m3[] = {0x7f, 0xff, 0x7e, 0xfe, 0x01, 0x81, 0x00, 0x80};
	static const uint32_t e5m2[] = {0x7c, 0xfc, 0x7e, 0xff, 0x7b, 0x01, 0x81, 0x80};
	static const uint32_t bf16[] = {0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x7f7f, 0x0001, 0x8001, 0x8000};
	static const uint32_t f32[] = {0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001,
				       0x7f7fffff, 0x00000001, 0x80000001, 0x80000000};
	const uint32_t *c;
	switch (t) {
	case DT_F8_E4M3: c = e4m3, *last = 0x7f; break;
	case DT_F8_E5M2: c = e5m2, *last = 0x7d; break;
	case DT_BF16: c = bf16, *last = 0x7fc0; break;
	case DT_F32: c = f32, *last = 0x7fc00000; break;
	default: return 0;
	}
	memcpy(codes, c, SYNTH_NSPECIAL * sizeof *codes);
	return SYNTH_NSPECIAL;
}

static void put_code(enum dt t, void *out, uint64_t i, uint32_t code)
{
	size_t n = elsize(t);
	uint8_t b[4] = {(uint8_t)code, (uint8_t)(code >> 8), (uint8_t)(code >> 16), (uint8_t)(code >> 24)};
	memcpy((uint8_t *)out + i * n, b, n);
}

static void apply_specials(const struct synth *s, uint64_t r0, uint64_t r1, void *out)
{
	uint32_t codes[SYNTH_NSPECIAL], last;
	size_t n = synth_specials(s->dtype, codes, &last);
	if (!s->specials || !n || r0 >= r1 || s->cols == 0)
		return;
	if (r0 == 0)
		for (uint64_t c = 0; c < n && c < s->cols; c++)
			put_code(s->dtype, out, c, codes[c]);
	if (r1 == s->rows)
		put_code(s->dtype, out, (r1 - r0) * s->cols - 1, last);
}

static void plain_rows(const struct synth *s, uint64_t r0, uint64_t r1, void *out, float *row)
{
	for (uint64_t r = r0; r < r1; r++) {
		synth_values(s, r, r + 1, row);
		if (s->dtype == DT_F32) {
			memcpy((float *)out + (r - r0) * s->cols, row, s->cols * sizeof(float));
			continue;
		}
		uint16_t *o = (uint16_t *)out + (r - r0) * s->cols;
		for (uint64_t c = 0; c < s->cols; c++)
			o[c] = dt_f32_to_bf16(row[c]);
	}
}

void synth_data(const struct synth *s, uint64_t r0, uint64_t r1, void *out, void *scratch)
{
	if (s->mode == SYNTH_CHEAP) {
		if (synth_quantized(s))
			for (uint64_t r = r0; r < r1; r++)
				cheap_bytes(rng_mix(s->seed, r), (uint8_t *)out + (r - r0) * s->cols, s->cols,
					    0xbfbfbfbfbfbfbfbfull);
		else
			cheap_plain(s, r0, r1, out);
	} else if (synth_quantized(s)) {
		float *v = scratch;
		void *sc = v + s->bm * s->cols;
		for (uint64_t r = r0; r < r1; r += s->bm) {
			uint64_t e = r + s->bm < s->rows ? r + s->bm : s->rows;
			synth_values(s, r, e, v);
			quantize_block_row(v, e - r, s->cols, s->bn, s->dtype, s->sdtype, s->pow2,
					   (uint8_t *)out + (r - r0) * s->cols, sc);
		}
	} else {
		plain_rows(s, r0, r1, out, scratch);
	}
	apply_specials(s, r0, r1, out);
}

void synth_scales(const struct synth *s, uint64_t b0, uint64_t b1, void *out, void *scratch)
{
	if (s->mode == SYNTH_CHEAP) {
		cheap_scales(s, b0, b1, out);
		return;
	}
	uint64_t scols = (s->cols + s->bn - 1) / s->bn;
	float *v = scratch;
	for (uint64_t b = b0; b < b1; b++) {
		uint64_t r = b * s->bm, e = r + s->bm < s->rows ? r + s->bm : s->rows;
		synth_values(s, r, e, v);
		quantize_block_row(v, e - r, s->cols, s->bn, s->dtype, s->sdtype, s->pow2, NULL,
				   (uint8_t *)out + (b - b0) * scols * elsize(s->sdtype));
	}
}
