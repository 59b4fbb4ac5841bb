/* DeepSeek-V4's re-encode of FP4 experts as FP8 (formats/fp4fp8.h, convert.py's
 * cast_e2m1fn_to_e4m3fn) against an independent value-by-value computation: each value
 * code * 2^(b - M + 6) in double, rounded to e4m3 by searching the 256 codes for the nearest
 * (ties to the even code, the sign of an underflow kept), the block scale byte M - 6; a
 * value lost bits when that code times the block scale is not code * 2^(b - 127).  Cases:
 * realistic bytes (lossless), the extreme bytes 0, 1 and 252 ref-v4.json puts in the first
 * rows, subnormal ties, a block whose largest byte is below 6, a NaN byte; and a few bytes
 * written out by hand from the spec (b.3). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "fp4fp8.h"
#include "qscheme.h"
#include "t.h"

enum { B = FP4FP8_BLOCK, COLS = 2 * B, G = COLS / FP4FP8_GROUP };

static uint8_t codes[B * COLS / 2], scales[B * G], out[B * COLS], oscale[COLS / B];

/* The e4m3 code nearest to v (finite, |v| <= 448): ties to the even code. */
static uint8_t nearest_e4m3(double v)
{
	uint8_t best = 0;
	double bd = INFINITY;
	for (unsigned c = 0; c < 0x7f; c++) {
		double d = fabs(fabs(v) - (double)dt_e4m3_to_f32((uint8_t)c));
		if (d < bd || (d == bd && c % 2 == 0)) {
			bd = d;
			best = (uint8_t)c;
		}
	}
	return (uint8_t)(best | (signbit(v) ? 0x80 : 0));
}

/* The expected codes, scales and lost count of block row 0. */
static uint64_t expect(uint8_t *want, uint8_t *wscale)
{
	uint64_t lost = 0;
	for (unsigned bc = 0; bc < COLS / B; bc++) {
		unsigned m = 0;
		bool nan = false;
		for (unsigned r = 0; r < B; r++)
			for (unsigned g = bc * 4; g < bc * 4 + 4; g++) {
				m = scales[r * G + g] > m ? scales[r * G + g] : m;
				nan |= scales[r * G + g] == 0xff;
			}
		wscale[bc] = nan ? 0xff : m >= 6 ? (uint8_t)(m - 6) : 0;
		for (unsigned r = 0; r < B; r++)
			for (unsigned j = bc * B; j < bc * B + B; j++) {
				unsigned byte = codes[r * (COLS / 2) + j / 2], code = j % 2 ? byte >> 4 : byte & 15;
				unsigned b = scales[r * G + j / FP4FP8_GROUP];
				double v = qscheme_e2m1_deepseek[code];
				if (nan) {
					want[r * COLS + j] = 0x7f;
					lost += b != 0xff;
					continue;
				}
				/* in double the offset never underflows; float32's does only where the
				 * value rounds to a signed zero either way */
				uint8_t q = nearest_e4m3(ldexp(v, (int)b - (int)m + 6));
				want[r * COLS + j] = q;
				lost += ldexp((double)dt_e4m3_to_f32(q), (int)wscale[bc] - 127) != ldexp(v, (int)b - 127);
			}
	}
	return lost;
}

static void random_codes(uint32_t seed)
{
	for (size_t k = 0; k < sizeof codes; k++) {
		seed = seed * 1103515245u + 12345u;
		codes[k] = (uint8_t)(seed >> 16);
	}
}

static void random_scales(uint32_t seed, unsigned lo, unsigned span)
{
	for (size_t k = 0; k < sizeof scales; k++) {
		seed = seed * 1103515245u + 12345u;
		scales[k] = (uint8_t)(lo + (seed >> 16) % span);
	}
}

/* Every value and scale against expect(); returns the count the function gave. */
static uint64_t check_case(const char *what, uint64_t *want_lost)
{
	static uint8_t want[B * COLS];
	uint8_t wscale[COLS / B];
	*want_lost = expect(want, wscale);
	memset(out, 0xaa, sizeof out);
	memset(oscale, 0xaa, sizeof oscale);
	uint64_t lost = fp4fp8_block_row(codes, COLS / 2, scales, G, COLS, qscheme_e2m1_deepseek, out, oscale);
	size_t bad = 0, first = 0;
	for (size_t k = 0; k < sizeof out; k++)
		if (out[k] != want[k] && !bad++)
			first = k;
	CHECK(bad == 0, "%s: every code as computed value by value (%zu differ, first at %zu: %02x, want %02x)", what,
	      bad, first, out[first], want[first]);
	CHECK(memcmp(oscale, wscale, sizeof wscale) == 0, "%s: block scale bytes %u %u (want %u %u)", what, oscale[0],
	      oscale[1], wscale[0], wscale[1]);
	CHECK(lost == *want_lost, "%s: %llu values lost bits (want %llu)", what, (unsigned long long)lost,
	      (unsigned long long)*want_lost);
	uint8_t only[COLS / B];
	CHECK(fp4fp8_block_row(codes, COLS / 2, scales, G, COLS, qscheme_e2m1_deepseek, NULL, only) == 0 &&
		      memcmp(only, wscale, sizeof only) == 0,
	      "%s: the scales alone are the same", what);
	return lost;
}

/* Code of value v (of the E2M1 table) in column j of row r. */
static void put(unsigned r, unsigned j, unsigned code)
{
	uint8_t *p = &codes[r * (COLS / 2) + j / 2];
	*p = j % 2 ? (uint8_t)((*p & 0x0f) | code << 4) : (uint8_t)((*p & 0xf0) | code);
}

int main(void)
{
	uint64_t want;

	random_codes(1);
	random_scales(2, 116, 6); /* ckpt-synth's bytes: within 5 binades, lossless */
	check_case("realistic scales", &want);
	CHECK(want == 0, "realistic scales lose nothing");

	random_scales(3, 100, 40); /* groups up to 39 binades apart: some lose bits */
	check_case("scales 100..139", &want);
	CHECK(want > 0, "scales 100..139 lose some bits (%llu)", (unsigned long long)want);

	/* ref-v4.json's experts: bytes 116..121, the first group of rows 0, 1, 2 at 0, 1, 252 */
	random_scales(4, 116, 6);
	scales[0 * G] = 0;
	scales[1 * G] = 1;
	scales[2 * G] = 252;
	check_case("extreme bytes 0, 1, 252", &want);
	CHECK(oscale[0] == 246 && oscale[1] != 246, "the block holding 252 gets byte 246, the other its own");

	/* subnormal ties, M = 130 in every block: b = M-15 puts 0.5 at 2^-10 (tie -> 0) and
	 * 1.5 at 1.5*2^-9 (tie -> 2^-8); b = M-16 puts 3 at 1.5*2^-9 (tie -> 2^-8) and 1.5 at
	 * 0.75*2^-9 (-> 2^-9) */
	random_codes(5);
	memset(scales, 120, sizeof scales);
	scales[0] = 130;
	scales[4] = 130;
	scales[1 * G + 0] = 115;
	scales[2 * G + 0] = 114;
	put(1, 0, 1);   /* 0.5 */
	put(1, 1, 3);   /* 1.5 */
	put(1, 2, 9);   /* -0.5 */
	put(1, 3, 11);  /* -1.5 */
	put(2, 0, 5);   /* 3 */
	put(2, 1, 3);   /* 1.5 */
	put(2, 2, 2);   /* 1 */
	put(2, 3, 8);   /* +0 (code 8, DeepSeek's table) */
	check_case("subnormal ties", &want);
	CHECK(out[1 * COLS + 0] == 0x00 && out[1 * COLS + 1] == 0x02 && out[1 * COLS + 2] == 0x80 &&
		      out[1 * COLS + 3] == 0x82,
	      "0.5*2^-9 -> +0, 1.5*2^-9 -> 2^-8, negative: -0 (0x80) and -2^-8 (%02x %02x %02x %02x)", out[COLS],
	      out[COLS + 1], out[COLS + 2], out[COLS + 3]);
	CHECK(out[2 * COLS + 0] == 0x02 && out[2 * COLS + 1] == 0x01 && out[2 * COLS + 2] == 0x00 &&
		      out[2 * COLS + 3] == 0x00,
	      "3*2^-10 -> 2^-8, 1.5*2^-10 -> 2^-9, 2^-10 -> +0, code 8 -> +0 (%02x %02x %02x %02x)", out[2 * COLS],
	      out[2 * COLS + 1], out[2 * COLS + 2], out[2 * COLS + 3]);
	CHECK(oscale[0] == 124, "block scale byte M - 6 = 124 (%u)", oscale[0]);

	/* a block whose largest byte is below 6: the scale saturates at byte 0 (2^-127) */
	for (unsigned m = 0; m <= 7; m++) {
		char what[64];
		random_codes(6 + m);
		random_scales(7, 0, m + 1);
		snprintf(what, sizeof what, "largest byte %u", m);
		check_case(what, &want);
		CHECK(oscale[0] == (m >= 6 ? m - 6 : 0), "largest byte %u: scale byte %u", m, oscale[0]);
	}

	/* a NaN group scale: its block NaN (0x7F), scale 0xFF; the other block as usual */
	random_codes(9);
	random_scales(10, 116, 6);
	scales[5 * G + 1] = 0xff;
	check_case("NaN scale byte", &want);
	size_t nan_codes = 0;
	for (unsigned r = 0; r < B; r++)
		for (unsigned j = 0; j < B; j++)
			nan_codes += out[r * COLS + j] == 0x7f;
	CHECK(oscale[0] == 0xff && nan_codes == (size_t)B * B && oscale[1] != 0xff,
	      "a NaN scale makes its block NaN (codes 0x7F, scale 0xFF), not the next");
	CHECK(fp4fp8_scale_byte(252) == 246 && fp4fp8_scale_byte(6) == 0 && fp4fp8_scale_byte(3) == 0 &&
		      fp4fp8_scale_byte(255) == 255,
	      "scale bytes: 252 -> 246, 6 -> 0, 3 -> 0, NaN stays NaN");
	return t_done();
}
