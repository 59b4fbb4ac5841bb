#include "v4_compress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kern.h"

/* (malloc sizes: no entries still get a buffer, never NULL) */
static size_t nz(size_t n)
{
	return n ? n : 1;
}

void v4c_pool(const float *kv, const float *gate, const float *ape, size_t n, unsigned r, size_t hd, bool overlap,
	      float *out)
{
	size_t cw = overlap ? 2 * hd : hd, off = overlap ? hd : 0;
	double *lg = xmalloc(2 * (size_t)r * sizeof *lg), *vv = xmalloc(2 * (size_t)r * sizeof *vv);
	for (size_t w = 0; w < n; w++) {
		const float *K = kv + w * r * cw, *G = gate + w * r * cw;
		for (size_t d = 0; d < hd; d++) {
			size_t m = 0;
			/* the previous window's first series: entry 0 has none (transformers' -inf
			 * gates, weight 0) */
			for (unsigned j = 0; overlap && w > 0 && j < r; j++) {
				vv[m] = K[(j - (ptrdiff_t)r) * (ptrdiff_t)cw + (ptrdiff_t)d];
				lg[m++] = G[(j - (ptrdiff_t)r) * (ptrdiff_t)cw + (ptrdiff_t)d] + ape[j * cw + d];
			}
			for (unsigned j = 0; j < r; j++) {
				vv[m] = K[j * cw + off + d];
				lg[m++] = G[j * cw + off + d] + ape[j * cw + off + d];
			}
			/* transformers: softmax over the slots in float32, the weights back in the
			 * model's dtype for the weighted sum */
			double mx = -HUGE_VAL, s = 0, acc = 0;
			for (size_t i = 0; i < m; i++)
				mx = lg[i] > mx ? lg[i] : mx;
			for (size_t i = 0; i < m; i++)
				s += lg[i] = exp(lg[i] - mx);
			for (size_t i = 0; i < m; i++)
				acc += vv[i] * (double)(float)(lg[i] / s);
			out[w * hd + d] = (float)acc;
		}
	}
	free(vv);
	free(lg);
}

size_t v4c_visible(size_t t, unsigned r, size_t n)
{
	size_t vis = (t + 1) / r;
	return vis < n ? vis : n;
}

void v4c_pick(const float *score, size_t n, size_t vis, size_t k, int32_t *pick, struct topk_elem *q)
{
	for (size_t j = 0; j < n; j++)
		q[j] = (struct topk_elem){j < vis ? (double)score[j] : -HUGE_VAL, (int64_t)j};
	size_t got = topk_torch(q, n, k, pick);
	for (size_t j = 0; j < k; j++)
		if (j >= got || pick[j] >= (int32_t)vis)
			pick[j] = -1;
}

static int read_vec(struct infer_model *m, const struct vtensor *t, float *out, unsigned flags)
{
	int rc = view_read_rows(t, 0, t->rows, out, (size_t)t->cols, flags);
	if (m->flags & INFER_RELEASE)
		vtensor_release(t);
	return rc;
}

/* One compressor's entries, out [B][n][hd]: cmp = {ape, wkv, wgate, norm} (v4_layer). */
static int entries(struct infer_model *m, const struct vtensor *const cmp[4], unsigned r, size_t hd, bool overlap,
		   const float *x, size_t ldx, size_t B, size_t T, float *out)
{
	size_t cw = overlap ? 2 * hd : hd, n = T / r, used = n * r, rd = m->v4->compress.dim;
	if (n == 0)
		return 0;
	float *kv = xmalloc(B * used * cw * sizeof *kv), *gate = xmalloc(B * used * cw * sizeof *gate);
	float *ape = xmalloc(r * cw * sizeof *ape), *nw = xmalloc(hd * sizeof *nw);
	struct lin_job *jobs = xcalloc(2 * B, sizeof *jobs);
	for (size_t b = 0; b < B; b++) {
		/* the tokens past the last full window make no entry: not projected */
		jobs[2 * b] = (struct lin_job){cmp[1], x + b * T * ldx, ldx, used, kv + b * used * cw, cw, 0, 0};
		jobs[2 * b + 1] = (struct lin_job){cmp[2], x + b * T * ldx, ldx, used, gate + b * used * cw, cw, 0, 0};
	}
	int rc = lin_run(&m->lin, jobs, 2 * B) || read_vec(m, cmp[0], ape, 0) || read_vec(m, cmp[3], nw, VIEW_ROUND_BF16);
	for (size_t b = 0; rc == 0 && b < B; b++) {
		float *e = out + b * n * hd;
		v4c_pool(kv + b * used * cw, gate + b * used * cw, ape, n, r, hd, overlap, e);
		for (size_t w = 0; w < n; w++) {
			kern_rmsnorm(e + w * hd, e + w * hd, nw, hd, m->cfg.rms_norm_eps);
			rope_apply_pairs(&m->v4->compress, e + w * hd + hd - rd, w * r, false);
		}
	}
	free(jobs);
	free(nw);
	free(ape);
	free(gate);
	free(kv);
	return rc;
}

struct score_ctx {
	const struct rope *rope;
	size_t T, n, k, nh, id;
	unsigned r;
	float *q;                   /* [N][nh][id], rotated here */
	const float *ik, *hw;       /* [B][n][id], [N][nh] */
	float *score;               /* [N][n], or NULL: one row a worker in row */
	float *row;
	struct topk_elem *scratch;  /* n a worker */
	int32_t *pick;
};

/* One query: its scores against every entry of its sequence (transformers' scorer, float32:
 * relu(q.k) * id^-0.5 times the head's weight * nh^-0.5, summed over the heads), its picks. */
static void score_row(void *ctx, size_t i, unsigned worker)
{
	struct score_ctx *c = ctx;
	size_t b = i / c->T, t = i % c->T, nh = c->nh, id = c->id, rd = c->rope->dim;
	float *q = c->q + i * nh * id, *sc = c->score ? c->score + i * c->n : c->row + worker * c->n;
	float qscale = (float)(1.0 / sqrt((double)id)), wscale = (float)(1.0 / sqrt((double)nh));
	for (size_t h = 0; h < nh; h++)
		rope_apply_pairs(c->rope, q + h * id + id - rd, t, false);
	for (size_t j = 0; j < c->n; j++) {
		const float *k = c->ik + (b * c->n + j) * id;
		float s = 0;
		for (size_t h = 0; h < nh; h++) {
			float dot = kern_dot(q + h * id, k, id);
			s += (dot > 0 ? dot : 0) * qscale * (c->hw[i * nh + h] * wscale);
		}
		sc[j] = s;
	}
	v4c_pick(sc, c->n, v4c_visible(t, c->r, c->n), c->k, c->pick + i * c->k, c->scratch + worker * c->n);
}

static int indexer(struct infer_model *m, const struct v4_layer *L, const float *x, size_t ldx, const float *qr,
		   size_t ldq, size_t B, size_t T, struct v4_compressed *out, float **score)
{
	const struct ds_config *cf = &m->cfg;
	size_t N = B * T, n = out->n;
	struct score_ctx c = {.rope = &m->v4->compress, .T = T, .n = n, .nh = (size_t)cf->index_n_heads,
			      .id = (size_t)cf->index_head_dim, .r = L->ratio};
	if (cf->index_n_heads <= 0 || cf->index_head_dim < c.rope->dim || cf->index_topk <= 0)
		return err_set("index_n_heads, index_head_dim (at least qk_rope_head_dim) and index_topk must be "
			       "given for a layer of compress ratio 4");
	c.k = n < (size_t)cf->index_topk ? n : (size_t)cf->index_topk;
	float *ik = xmalloc(nz(B * n) * c.id * sizeof *ik);
	int rc = entries(m, L->idx_cmp, L->ratio, c.id, true, x, ldx, B, T, ik);
	c.ik = ik;
	c.q = xmalloc(N * c.nh * c.id * sizeof *c.q);
	float *hw = xmalloc(N * c.nh * sizeof *hw);
	c.hw = hw;
	struct lin_job jobs[2] = {{L->idx_wq_b, qr, ldq, N, c.q, c.nh * c.id, 0, 0}, {L->idx_weights, x, ldx, N, hw, c.nh, 0, 0}};
	if (rc == 0)
		rc = lin_run(&m->lin, jobs, 2);
	unsigned nw = pool_threads(m->pool);
	c.score = score ? xmalloc(nz(N * n) * sizeof *c.score) : NULL;
	c.row = score ? NULL : xmalloc(nz(nw * n) * sizeof *c.row);
	c.scratch = xmalloc(nz(nw * n) * sizeof *c.scratch);
	out->k = c.k;
	out->pick = c.pick = xmalloc(nz(N * c.k) * sizeof *out->pick);
	if (rc == 0)
		pool_for(m->pool, N, score_row, &c);
	if (score && rc == 0)
		*score = c.score;
	else
		free(c.score);
	free(c.scratch);
	free(c.row);
	free(hw);
	free(c.q);
	free(ik);
	return rc;
}

int v4_compress(struct infer_model *m, const struct v4_layer *L, const float *x, size_t ldx, const float *qr,
		size_t ldq, size_t B, size_t T, struct v4_compressed *out, float **score)
{
	memset(out, 0, sizeof *out);
	if (score)
		*score = NULL;
	size_t hd = (size_t)m->cfg.head_dim, r = L->ratio;
	if (r == 0 || m->cfg.head_dim < m->v4->compress.dim)
		return err_set("layer of compress ratio %zu: no compressor, or head_dim below qk_rope_head_dim", r);
	if (m->v4->compress.npos < T)
		return err_set("the compress rope is tabulated for %zu positions, not %zu", m->v4->compress.npos, T);
	out->n = T / r;
	out->kv = xmalloc(nz(B * out->n) * hd * sizeof *out->kv);
	int rc = entries(m, L->cmp, L->ratio, hd, r == 4, x, ldx, B, T, out->kv);
	if (rc == 0 && r == 4) {
		rc = indexer(m, L, x, ldx, qr, ldq, B, T, out, score);
	} else if (rc == 0) {
		/* every complete window, in order */
		out->k = out->n;
		out->pick = xmalloc(nz(B * T * out->k) * sizeof *out->pick);
		for (size_t i = 0; i < B * T; i++)
			for (size_t j = 0; j < out->k; j++)
				out->pick[i * out->k + j] = j < v4c_visible(i % T, L->ratio, out->n) ? (int32_t)j : -1;
	}
	if (rc)
		v4_compressed_free(out);
	return rc;
}

void v4_compressed_free(struct v4_compressed *c)
{
	free(c->kv);
	free(c->pick);
	memset(c, 0, sizeof *c);
}
