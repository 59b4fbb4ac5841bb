/* dtypes: names and sizes; every FP8 code of every kind; bf16 rounding ties; f16 both ways. */
#include <math.h>
#include <stdint.h>

#include "dtype.h"
#include "t.h"

/* An independent decoder: sign, exponent and mantissa fields, in double arithmetic. */
static double ref_mini(unsigned code, int ebits, int mbits, int bias)
{
	unsigned e = (code >> mbits) & ((1u << ebits) - 1), m = code & ((1u << mbits) - 1);
	double s = (code >> (ebits + mbits)) & 1 ? -1.0 : 1.0;
	double frac = (double)m / (double)(1u << mbits);
	return e == 0 ? s * frac * pow(2.0, 1 - bias) : s * (1.0 + frac) * pow(2.0, (double)e - bias);
}

static int same(float a, double b)
{
	if (isnan(b))
		return isnan(a);
	return (double)a == b && !signbit(a) == !signbit(b);
}

static void test_names(void)
{
	static const char *order[] = {"BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2",
				      "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16",
				      "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"};
	static const unsigned bits[] = {8, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 16, 16, 16, 16, 32, 32, 32, 64, 64, 64, 64};
	int ok = DT_COUNT == 22;
	for (int i = 0; i < DT_COUNT && ok; i++) {
		enum dt t;
		ok = strcmp(dt_name((enum dt)i), order[i]) == 0 && dt_bits((enum dt)i) == bits[i] &&
		     dt_parse(order[i], strlen(order[i]), &t) == 0 && t == (enum dt)i;
	}
	CHECK(ok, "dtype names, order and sizes match the reference");
	enum dt t;
	CHECK(dt_parse("F8_E4M3FN", 9, &t) == -1 && dt_parse("f32", 3, &t) == -1, "unknown dtype names are refused");
	uint64_t b;
	CHECK(dt_nbytes(DT_F4, 3, &b) == -2 && dt_nbytes(DT_F4, 4, &b) == 0 && b == 2, "F4 sizes in whole bytes");
	CHECK(dt_nbytes(DT_F6_E2M3, 4, &b) == 0 && b == 3 && dt_nbytes(DT_F6_E2M3, 2, &b) == -2, "F6 sizes in whole bytes");
	CHECK(dt_nbytes(DT_F32, UINT64_MAX / 2, &b) == -1, "byte size overflow detected");
}

static void test_fp8(void)
{
	int bad = -1;
	for (unsigned c = 0; c < 256 && bad < 0; c++) {
		double r = (c & 0x7f) == 0x7f ? NAN : ref_mini(c, 4, 3, 7);
		if (!same(dt_e4m3_to_f32((uint8_t)c), r))
			bad = (int)c;
	}
	CHECK(bad < 0, "e4m3fn: all 256 codes (first mismatch %d)", bad);
	CHECK(dt_e4m3_to_f32(0x7e) == 448.0f && dt_e4m3_to_f32(0x01) == ldexpf(1, -9) &&
	      dt_e4m3_to_f32(0x08) == ldexpf(1, -6) && isnan(dt_e4m3_to_f32(0xff)) &&
	      signbit(dt_e4m3_to_f32(0x80)) && dt_e4m3_to_f32(0x80) == 0.0f,
	      "e4m3fn anchors: 448 max, 2^-9 smallest, NaN codes, -0");

	bad = -1;
	for (unsigned c = 0; c < 256 && bad < 0; c++) {
		unsigned e = (c >> 2) & 31;
		double r = e == 31 ? ((c & 3) ? NAN : ((c & 0x80) ? -INFINITY : INFINITY)) : ref_mini(c, 5, 2, 15);
		if (!same(dt_e5m2_to_f32((uint8_t)c), r))
			bad = (int)c;
	}
	CHECK(bad < 0, "e5m2: all 256 codes (first mismatch %d)", bad);
	CHECK(dt_e5m2_to_f32(0x7b) == 57344.0f && isinf(dt_e5m2_to_f32(0x7c)) && isnan(dt_e5m2_to_f32(0x7d)) &&
	      dt_e5m2_to_f32(0x01) == ldexpf(1, -16), "e5m2 anchors: 57344 max, inf, NaN, 2^-16");

	bad = -1;
	for (unsigned c = 0; c < 256 && bad < 0; c++) {
		double r = c == 255 ? NAN : pow(2.0, (double)c - 127);
		if (!same(dt_e8m0_to_f32((uint8_t)c), r))
			bad = (int)c;
	}
	CHECK(bad < 0, "e8m0: all 256 codes are 2^(c-127), 0xff NaN (first mismatch %d)", bad);

	bad = -1;
	for (unsigned c = 0; c < 256 && bad < 0; c++) {
		if (!same(dt_e4m3fnuz_to_f32((uint8_t)c), c == 0x80 ? NAN : ref_mini(c, 4, 3, 8)) ||
		    !same(dt_e5m2fnuz_to_f32((uint8_t)c), c == 0x80 ? NAN : ref_mini(c, 5, 2, 16)))
			bad = (int)c;
	}
	CHECK(bad < 0, "e4m3fnuz and e5m2fnuz: all 256 codes (first mismatch %d)", bad);

	bad = -1;
	for (unsigned c = 0; c < 16 && bad < 0; c++)
		if (!same(dt_f4_to_f32((uint8_t)c), ref_mini(c, 2, 1, 1)))
			bad = (int)c;
	CHECK(bad < 0 && dt_f4_to_f32(7) == 6.0f, "f4 e2m1: all 16 codes");
	bad = -1;
	for (unsigned c = 0; c < 64 && bad < 0; c++)
		if (!same(dt_f6e2m3_to_f32((uint8_t)c), ref_mini(c, 2, 3, 1)) ||
		    !same(dt_f6e3m2_to_f32((uint8_t)c), ref_mini(c, 3, 2, 3)))
			bad = (int)c;
	CHECK(bad < 0 && dt_f6e2m3_to_f32(0x1f) == 7.5f && dt_f6e3m2_to_f32(0x1f) == 28.0f, "f6 e2m3 / e3m2: all 64 codes");
}

static void test_fp8_encode(void)
{
	/* every finite code survives decode then encode */
	int bad = -1;
	for (unsigned c = 0; c < 256 && bad < 0; c++) {
		if ((c & 0x7f) != 0x7f && dt_f32_to_e4m3(dt_e4m3_to_f32((uint8_t)c)) != c)
			bad = (int)c;
		if (((c >> 2) & 31) != 31 && dt_f32_to_e5m2(dt_e5m2_to_f32((uint8_t)c)) != c)
			bad = (int)c;
	}
	CHECK(bad < 0, "e4m3 / e5m2 encode(decode(code)) == code (first mismatch %d)", bad);
	/* midpoints round to even; beyond range as PyTorch does */
	CHECK(dt_f32_to_e4m3(464.0f) == 0x7e && dt_f32_to_e4m3(465.0f) == 0x7f && dt_f32_to_e4m3(1e9f) == 0x7f &&
	      dt_f32_to_e4m3(-INFINITY) == 0xff, "e4m3 overflow: 464 -> 448, above -> NaN");
	CHECK(dt_f32_to_e4m3(1.0625f) == 0x38 && dt_f32_to_e4m3(1.1875f) == 0x3a, "e4m3 ties to even");
	CHECK(dt_f32_to_e5m2(61439.0f) == 0x7b && dt_f32_to_e5m2(61440.0f) == 0x7c && dt_f32_to_e5m2(NAN) == 0x7f,
	      "e5m2 overflow to infinity at the midpoint");
	CHECK(dt_f32_to_e4m3(ldexpf(1, -10)) == 0x00 && dt_f32_to_e4m3(ldexpf(3, -10)) == 0x02,
	      "e4m3 subnormal rounding ties to even");
}

/* The float formula the encoders' integer rounding replaced: |f| on the grid of a small
 * float (mbits mantissa bits, bias), ties to even, through frexpf / ldexpf / nearbyintf. */
static unsigned ref_round_mini(float a, int mbits, int bias)
{
	int emin = 1 - bias;
	if (a < ldexpf(1.0f, emin))
		return (unsigned)nearbyintf(ldexpf(a, mbits - emin));
	int k;
	frexpf(a, &k);
	int e = k - 1;
	unsigned q = (unsigned)nearbyintf(ldexpf(a, mbits - e));
	if (q == 2u << mbits) {
		q = 1u << mbits;
		e++;
	}
	return ((unsigned)(e + bias) << mbits) | (q - (1u << mbits));
}

/* e4m3, e5m2 and f16 from float32 as the formula gives them, on a sweep of every 4093rd
 * bit pattern and 2M random ones (checked once on all 2^32: no difference) */
static void test_encode_vs_formula(void)
{
	int bad = 0;
	uint32_t first = 0;
	uint64_t x = 0x6a09e667f3bcc909ull;
	for (uint64_t i = 0; i < (1ull << 32) / 4093 + 2000000; i++) {
		uint32_t u;
		if (i < (1ull << 32) / 4093) {
			u = (uint32_t)(i * 4093);
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			u = (uint32_t)x;
		}
		float f = dt_bits_f32(u), a = fabsf(f);
		if (!isfinite(f))
			continue;
		uint8_t sign = (u >> 24) & 0x80;
		unsigned c4 = ref_round_mini(a, 3, 7), c5 = ref_round_mini(a, 2, 15);
		uint8_t e4 = sign | (uint8_t)(c4 >= 0x7f ? 0x7f : c4), e5 = sign | (uint8_t)(c5 >= 0x7c ? 0x7c : c5);
		uint16_t h = (uint16_t)((u >> 16) & 0x8000) | (a >= 65520.0f ? 0x7c00 : ref_round_mini(a, 10, 15));
		if (dt_f32_to_e4m3(f) != e4 || dt_f32_to_e5m2(f) != e5 || dt_f32_to_f16(f) != h) {
			if (bad++ == 0)
				first = u;
		}
	}
	CHECK(bad == 0, "e4m3 / e5m2 / f16 encoders: the float formula's codes on 3M bit patterns (%d differ, first 0x%08x)",
	      bad, first);
}

static uint16_t ref_bf16(uint32_t u)
{
	uint32_t hi = u >> 16, lo = u & 0xffff;
	if (lo > 0x8000 || (lo == 0x8000 && (hi & 1)))
		hi++;
	return (uint16_t)hi;
}

static void test_bf16(void)
{
	CHECK(dt_f32_to_bf16(dt_bits_f32(0x3f808000)) == 0x3f80, "bf16: tie rounds down to even");
	CHECK(dt_f32_to_bf16(dt_bits_f32(0x3f818000)) == 0x3f82, "bf16: tie rounds up to even");
	CHECK(dt_f32_to_bf16(dt_bits_f32(0x3f808001)) == 0x3f81, "bf16: above the tie rounds up");
	CHECK(dt_f32_to_bf16(dt_bits_f32(0x3f807fff)) == 0x3f80, "bf16: below the tie rounds down");
	CHECK(dt_f32_to_bf16(dt_bits_f32(0xbf818000)) == 0xbf82, "bf16: negative tie to even");
	CHECK(dt_f32_to_bf16(dt_bits_f32(0x7f7fffff)) == 0x7f80, "bf16: largest float rounds to infinity");
	CHECK(dt_f32_to_bf16(INFINITY) == 0x7f80 && dt_f32_to_bf16(-INFINITY) == 0xff80, "bf16: infinities kept");
	uint16_t n1 = dt_f32_to_bf16(dt_bits_f32(0x7f800001)), n2 = dt_f32_to_bf16(dt_bits_f32(0xffc00000));
	CHECK(isnan(dt_bf16_to_f32(n1)) && isnan(dt_bf16_to_f32(n2)) && (n2 & 0x8000),
	      "bf16: NaN stays NaN, even with only low payload bits");
	CHECK(dt_f32_to_bf16(dt_bits_f32(0x00018000)) == 0x0002, "bf16: subnormal ties to even");
	/* a sweep of bit patterns against the integer reference */
	int bad = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 2000000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t u = (uint32_t)x;
		if ((u & 0x7fffffff) > 0x7f800000)
			continue;
		if (dt_f32_to_bf16(dt_bits_f32(u)) != ref_bf16(u))
			bad++;
	}
	CHECK(bad == 0, "bf16: 2M random floats round to nearest even (%d mismatches)", bad);
	bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = dt_bf16_to_f32((uint16_t)h);
		if (!isnan(f) && dt_f32_to_bf16(f) != h)
			bad++;
	}
	CHECK(bad == 0, "bf16: all 65536 codes widen and narrow back exactly");
}

static void test_f16(void)
{
	int bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = dt_f16_to_f32((uint16_t)h);
		if (isnan(f) ? !isnan(dt_f16_to_f32(dt_f32_to_f16(f))) : dt_f32_to_f16(f) != h)
			bad++;
	}
	CHECK(bad == 0, "f16: all 65536 codes widen and narrow back exactly (%d bad)", bad);
	CHECK(dt_f16_to_f32(0x7bff) == 65504.0f && dt_f16_to_f32(0x0001) == ldexpf(1, -24) &&
	      isinf(dt_f16_to_f32(0x7c00)), "f16 anchors: 65504, 2^-24, inf");
	CHECK(dt_f32_to_f16(65519.0f) == 0x7bff && dt_f32_to_f16(65520.0f) == 0x7c00, "f16: overflow at the midpoint");
	CHECK(dt_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00 && dt_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02,
	      "f16: ties to even");
#ifdef __FLT16_MAX__
	bad = 0;
	uint64_t x = 0x2545f4914f6cdd1dull;
	for (int i = 0; i < 2000000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		float f = dt_bits_f32((uint32_t)x);
		if (isnan(f))
			continue;
		_Float16 r = (_Float16)f;
		uint16_t rb;
		memcpy(&rb, &r, 2);
		if (dt_f32_to_f16(f) != rb)
			bad++;
	}
	CHECK(bad == 0, "f16: 2M random floats agree with the compiler's _Float16 conversion (%d bad)", bad);
#endif
}

static void test_bulk(void)
{
	uint8_t codes[256];
	float f[256];
	for (int i = 0; i < 256; i++)
		codes[i] = (uint8_t)i;
	dt_to_f32(DT_F8_E4M3, codes, 0, 256, f);
	int bad = 0;
	for (int i = 0; i < 256; i++)
		bad += !same(f[i], dt_e4m3_to_f32((uint8_t)i));
	CHECK(bad == 0, "bulk e4m3 widening equals the single-code decoder");
	uint8_t f4[2] = {0x71, 0x2f}; /* elements: 1, 7, f, 2 */
	dt_to_f32(DT_F4, f4, 1, 3, f);
	CHECK(f[0] == 6.0f && f[1] == -6.0f && f[2] == 1.0f, "F4 elements are read low nibble first");
	int64_t i64[2] = {-5, 1LL << 40};
	double d[2];
	dt_to_f64(DT_I64, i64, 0, 2, d);
	CHECK(d[0] == -5.0 && d[1] == 1099511627776.0, "I64 widens to double exactly");
	CHECK(dt_to_f32(DT_C64, i64, 0, 1, f) == -1, "C64 has no real value to widen");
}

int main(void)
{
	test_names();
	test_fp8();
	test_fp8_encode();
	test_encode_vs_formula();
	test_bf16();
	test_f16();
	test_bulk();
	return t_done();
}
