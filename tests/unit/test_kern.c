/* The forward pass's kernels (lib/infer/kern.h): a dot product is the same bits whatever
 * the blocking (rows and tokens taken 1 to 4 at a time, any count) and whether the weights
 * come as float32 or as the BF16 patterns of the same values; it is accurate to float32
 * rounding; RMSNorm and SiLU against double-precision formulas. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "infer/kern.h"
#include "t.h"

static uint64_t seed = 42;
static float rnd(void)
{
	seed = seed * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((double)(seed >> 11) * 0x1p-53 * 2 - 1);
}

static void dots(size_t R, size_t C, size_t K)
{
	float *w = malloc(R * K * sizeof *w), *x = malloc(C * K * sizeof *x), *y = malloc(R * C * sizeof *y);
	uint16_t *w16 = malloc(R * K * sizeof *w16);
	float *y16 = malloc(R * C * sizeof *y16);
	for (size_t i = 0; i < R * K; i++) {
		w16[i] = dt_f32_to_bf16(rnd());
		w[i] = dt_bf16_to_f32(w16[i]);
	}
	for (size_t i = 0; i < C * K; i++)
		x[i] = rnd();
	kern_dot_block(w, K, R, x, K, C, K, y, R);
	kern_dot_block_bf16(w16, K, R, x, K, C, K, y16, R);
	size_t differ = 0, bf_differ = 0;
	double err = 0;
	for (size_t r = 0; r < R; r++)
		for (size_t c = 0; c < C; c++) {
			float one = kern_dot(w + r * K, x + c * K, K);
			differ += dt_f32_bits(one) != dt_f32_bits(y[c * R + r]);
			bf_differ += dt_f32_bits(y16[c * R + r]) != dt_f32_bits(y[c * R + r]);
			double exact = 0, mag = 0;
			for (size_t k = 0; k < K; k++) {
				exact += (double)w[r * K + k] * x[c * K + k];
				mag += fabs((double)w[r * K + k] * x[c * K + k]);
			}
			double e = fabs(y[c * R + r] - exact) / (mag ? mag : 1);
			err = e > err ? e : err;
		}
	CHECK(differ == 0 && bf_differ == 0 && err < 1e-6,
	      "%zu rows x %zu tokens x %zu: blocked = one at a time = BF16 rows, bit for bit; error %.2g of the sum of |terms|",
	      R, C, K, err);
	free(w);
	free(x);
	free(y);
	free(w16);
	free(y16);
}

int main(void)
{
	dots(11, 9, 37);
	dots(4, 4, 16);
	dots(5, 1, 2053);
	dots(1, 7, 7168);
	float x[300], w[300], o[300], g[300], u[300];
	for (int i = 0; i < 300; i++) {
		x[i] = rnd() * 10;
		w[i] = 1 + rnd() / 4;
		g[i] = rnd() * 8;
		u[i] = rnd();
	}
	kern_rmsnorm(o, x, w, 300, 1e-6);
	double ss = 0, worst = 0;
	for (int i = 0; i < 300; i++)
		ss += (double)x[i] * x[i];
	for (int i = 0; i < 300; i++) {
		double want = x[i] / sqrt(ss / 300 + 1e-6) * w[i];
		worst = fabs(o[i] - want) / fabs(want) > worst ? fabs(o[i] - want) / fabs(want) : worst;
	}
	CHECK(worst < 1.2e-7, "rmsnorm within float32 rounding (%.2g relative)", worst);
	memcpy(o, g, sizeof o);
	kern_silu_mul(o, u, 300);
	worst = 0;
	for (int i = 0; i < 300; i++) {
		double want = g[i] / (1 + exp(-(double)g[i])) * u[i];
		worst = fabs(o[i] - want) > worst ? fabs(o[i] - want) : worst;
	}
	CHECK(worst < 1e-6, "silu(g) * u within float32 rounding (%.2g)", worst);
	return t_done();
}
