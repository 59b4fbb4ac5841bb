/* A small deterministic PRNG for synthetic data: splitmix64 to derive seeds, xoshiro256**
 * for streams.  Same seed, same numbers, on every machine and whatever the thread count:
 * callers derive one stream per independent piece of work (a tensor row, a block) from a
 * seed and the piece's coordinates with rng_mix, instead of sharing one stream. */
#ifndef CKPT_RNG_H
#define CKPT_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

/* splitmix64: advances *x and returns the next output (Steele, Lea, Flood 2014). */
static inline uint64_t rng_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A seed for the piece `k` of whatever `seed` stands for. */
static inline uint64_t rng_mix(uint64_t seed, uint64_t k)
{
	uint64_t x = seed ^ (k * 0xd1b54a32d192ed03ull);
	rng_splitmix64(&x);
	return rng_splitmix64(&x);
}

/* FNV-1a of a string: turns a tensor name into seed material. */
static inline uint64_t rng_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static inline void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = rng_splitmix64(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** (Blackman, Vigna 2018). */
static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1), 24 bits: exact in float. */
static inline float rng_unit(struct rng *r) { return (float)(rng_next(r) >> 40) * 0x1p-24f; }

/* Normal-ish, mean 0 and variance 1: the sum of four 16-bit uniforms, centred and scaled
 * (Irwin-Hall), so bounded by +-2*sqrt(3).  One draw, no transcendental functions: cheap
 * enough to fill gigabytes, and close enough to a Gaussian for weights. */
static inline float rng_normalish(struct rng *r)
{
	uint64_t x = rng_next(r);
	uint32_t s = (uint32_t)(x & 0xffff) + (uint32_t)((x >> 16) & 0xffff) + (uint32_t)((x >> 32) & 0xffff) +
		     (uint32_t)(x >> 48);
	/* (s + 2) / 65536 is the sum of four uniforms on (0, 1]; centre at 2, scale by sqrt(3) */
	return ((float)s - 131070.0f) * (1.7320508f / 65536.0f);
}

#endif
