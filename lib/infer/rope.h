/* Rotary position embedding of DeepSeek-V3's MLA, with YaRN scaling, as transformers'
 * DeepseekV3 computes it (the reference): inverse frequencies, the cos/sin amplitude
 * ("attention factor") and the softmax scale that goes with them. */
#ifndef CKPT_INFER_ROPE_H
#define CKPT_INFER_ROPE_H

#include <stdbool.h>
#include <stddef.h>

#include "ds_config.h"

struct rope {
	unsigned dim;            /* qk_rope_head_dim (even) */
	bool interleave;         /* pairs (2i, 2i+1) as DeepSeek's complex multiply; else (i, i+dim/2) */
	float *inv_freq;         /* dim/2 frequencies, float32 as transformers keeps them */
	float amplitude;         /* cos and sin are multiplied by this */
	double softmax_scale;    /* (qk_nope + qk_rope)^-0.5 times mscale^2 */
	size_t npos;             /* positions tabulated */
	float *cos, *sin;        /* [npos][dim/2] */
};

/* YaRN's mscale: 0.1 * m * ln(factor) + 1, or 1 when factor <= 1. */
double rope_yarn_mscale(double factor, double m);

int rope_init(struct rope *r, const struct ds_config *c);
/* Tabulate cos/sin for positions [0, npos). */
void rope_positions(struct rope *r, size_t npos);
/* Rotate one head's dim values in place for position pos (< npos).  The result is in the
 * order transformers leaves it (real parts then imaginary parts when interleaved); query
 * and key are treated alike, so their dot products are those of DeepSeek's layout. */
void rope_apply(const struct rope *r, float *x, size_t pos);
/* The same in halves (pairs (i, i + dim/2)) whatever r->interleave says: DeepSeek-V3.2's
 * indexer rotates its q and k so while MLA interleaves. */
void rope_apply_halves(const struct rope *r, float *x, size_t pos);
/* DeepSeek-V4's rotation, as transformers' V4 apply_rotary_pos_emb: the dim values at x are
 * pairs (2i, 2i+1) rotated in place by the angle of position pos (< npos), left in their
 * order; inverse: by minus that angle (the attention output's de-rotation). */
void rope_apply_pairs(const struct rope *r, float *x, size_t pos, bool inverse);
void rope_free(struct rope *r);

#endif
