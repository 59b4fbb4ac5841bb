#include "v4_model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kern.h"
#include "v4_compress.h"
#include "v4_hc.h"

/* ---- the weights ---- */

/* The tensor playing role (layer l or -1, expert or -1), as the family's inventory shapes it. */
static int want(struct infer_model *m, const struct vtensor **out, bool optional, enum v4_role role, int64_t layer,
		int64_t expert)
{
	char name[256];
	hf_v4_name(name, sizeof name, &m->cfg, role, (int)layer, (int)expert);
	return infer_need(m, out, optional, name);
}

int v4_layer_get(struct infer_model *m, size_t l, struct v4_layer **out)
{
	const struct ds_config *c = &m->cfg;
	struct v4_layer *L = &m->v4->layer[l];
	int64_t i = (int64_t)l;
	*out = L;
	if (L->ready)
		return 0;
	L->mtp = l >= m->nlayers;
	L->ratio = c->compress_ratios[l];
	L->hash = (int64_t)l < c->num_hash_layers;
	static const enum v4_role attn[] = {V4_ATTN_NORM, V4_FFN_NORM, V4_SINK, V4_WQ_A, V4_Q_NORM,
					     V4_WQ_B,      V4_WKV,      V4_KV_NORM, V4_WO_A, V4_WO_B};
	const struct vtensor **attn_t[] = {&L->attn_norm, &L->ffn_norm, &L->sink, &L->wq_a, &L->q_norm,
					   &L->wq_b,      &L->wkv,      &L->kv_norm, &L->wo_a, &L->wo_b};
	for (size_t k = 0; k < sizeof attn / sizeof *attn; k++)
		if (want(m, attn_t[k], false, attn[k], i, -1))
			return -1;
	for (int k = 0; k < 3; k++)
		if (want(m, &L->hc_attn[k], false, (enum v4_role)(V4_HC_ATTN_FN + k), i, -1) ||
		    want(m, &L->hc_ffn[k], false, (enum v4_role)(V4_HC_FFN_FN + k), i, -1))
			return -1;
	for (int k = 0; L->ratio && k < 4; k++)
		if (want(m, &L->cmp[k], false, (enum v4_role)(V4_CMP_APE + k), i, -1))
			return -1;
	if (L->ratio == 4) {
		for (int k = 0; k < 4; k++)
			if (want(m, &L->idx_cmp[k], false, (enum v4_role)(V4_IDX_APE + k), i, -1))
				return -1;
		if (want(m, &L->idx_wq_b, false, V4_IDX_WQ_B, i, -1) ||
		    want(m, &L->idx_weights, false, V4_IDX_WEIGHTS, i, -1))
			return -1;
	}
	if (want(m, &L->router, false, V4_ROUTER, i, -1) ||
	    want(m, L->hash ? &L->tid2eid : &L->bias, false, L->hash ? V4_TID2EID : V4_ROUTER_BIAS, i, -1))
		return -1;
	uint64_t E = (uint64_t)c->n_routed_experts;
	if (!L->expert)
		L->expert = xcalloc(E * 3, sizeof *L->expert);
	static const enum v4_role expert[3] = {V4_EXPERT_W1, V4_EXPERT_W3, V4_EXPERT_W2};
	static const enum v4_role shared[3] = {V4_SHARED_W1, V4_SHARED_W3, V4_SHARED_W2};
	for (uint64_t e = 0; e < E; e++)
		for (int k = 0; k < 3; k++)
			if (want(m, &L->expert[e * 3 + k], false, expert[k], i, (int64_t)e))
				return -1;
	for (int k = 0; c->n_shared_experts > 0 && k < 3; k++)
		if (want(m, &L->shared[k], false, shared[k], i, -1))
			return -1;
	if (L->mtp) {
		if (want(m, &L->e_proj, false, V4_E_PROJ, i, -1) || want(m, &L->h_proj, false, V4_H_PROJ, i, -1) ||
		    want(m, &L->enorm, false, V4_ENORM, i, -1) || want(m, &L->hnorm, false, V4_HNORM, i, -1) ||
		    want(m, &L->norm, false, V4_MTP_NORM, i, -1))
			return -1;
		for (int k = 0; k < 3; k++)
			if (want(m, &L->hc_head[k], false, (enum v4_role)(V4_HC_HEAD_FN + k), i, -1))
				return -1;
	}
	L->ready = true;
	return 0;
}

int v4_open(struct infer_model *m)
{
	const struct ds_config *c = &m->cfg;
	const char *path = m->v->path;
	if (c->hc_mult <= 0 || c->head_dim <= 0 || c->qk_rope_head_dim <= 0)
		return err_set("%s: DeepSeek-V4's forward pass needs hc_mult, head_dim and qk_rope_head_dim", path);
	if (c->qk_rope_head_dim > c->head_dim)
		return err_set("%s: qk_rope_head_dim %" PRId64 " is more than head_dim %" PRId64, path,
			       c->qk_rope_head_dim, c->head_dim);
	if (c->sliding_window < 0)
		return err_set("%s: missing \"sliding_window\" (every DeepSeek-V4 layer attends over a window)", path);
	struct v4_state *s = m->v4 = xcalloc(1, sizeof *m->v4);
	s->hc = (size_t)c->hc_mult;
	s->hd = (size_t)c->head_dim;
	s->rd = (size_t)c->qk_rope_head_dim;
	s->window = (size_t)c->sliding_window;
	s->hc_eps = c->hc_eps;
	s->sinkhorn_iters = (unsigned)c->hc_sinkhorn_iters;
	m->swiglu_limit = c->swiglu_limit;
	/* transformers' "main" rope: rope_theta, no scaling; "compress": compress_rope_theta
	 * with the config's YaRN, its cos/sin not scaled (attention_factor 1) */
	struct ds_config rc = *c;
	rc.qk_nope_head_dim = c->head_dim - c->qk_rope_head_dim;
	rc.rope.yarn = false;
	if (rope_init(&s->main, &rc))
		return err_prefix("%s: ", path);
	rc.rope = c->rope;
	rc.rope.attention_factor = 1.0;
	rc.rope_theta = c->compress_rope_theta;
	if (rope_init(&s->compress, &rc))
		return err_prefix("%s: ", path);
	m->nlayers = (size_t)c->num_hidden_layers;
	m->nmtp = (size_t)c->num_nextn_predict_layers;
	s->layer = xcalloc(m->nlayers + m->nmtp + 1, sizeof *s->layer);
	/* sqrtsoftplus scores, one group, always normalised (transformers' V4 routers) */
	m->route = (struct route_cfg){(unsigned)c->n_routed_experts, 1, 1, (unsigned)c->num_experts_per_tok,
				      c->scoring_func, true, (float)c->routed_scaling_factor};
	if (c->num_experts_per_tok <= 0 || c->num_experts_per_tok > c->n_routed_experts)
		return err_set("%s: num_experts_per_tok %" PRId64 " does not fit n_routed_experts %" PRId64, path,
			       c->num_experts_per_tok, c->n_routed_experts);
	return 0;
}

void v4_close(struct infer_model *m)
{
	struct v4_state *s = m->v4;
	for (size_t l = 0; s->layer && l < m->nlayers + m->nmtp; l++)
		free(s->layer[l].expert);
	free(s->layer);
	rope_free(&s->main);
	rope_free(&s->compress);
	free(s);
	m->v4 = NULL;
}

/* ---- attention ---- */

static struct lin_job job(const struct vtensor *w, const float *x, size_t ldx, size_t n, float *y, size_t ldy)
{
	return (struct lin_job){w, x, ldx, n, y, ldy, 0, 0};
}

struct attn_ctx {
	const struct v4_state *s;
	size_t T, nh;
	const float *q;                      /* [B*T][nh][hd] */
	const float *kv;                     /* [B*T][hd] */
	const float *sink;                   /* [nh] */
	const struct v4_compressed *cmp;     /* or NULL */
	double scale;
	float *out;                          /* [B*T][nh][hd] */
};

/* One sequence and one head: each query over its window (itself and the window - 1
 * positions before) and the compressed entries it picks, with the head's sink in the
 * softmax's denominator (transformers' eager attention with s_aux). */
static void attn_task(void *ctx, size_t i, unsigned worker)
{
	(void)worker;
	struct attn_ctx *a = ctx;
	size_t b = i / a->nh, h = i % a->nh, T = a->T, hd = a->s->hd, W = a->s->window;
	const struct v4_compressed *c = a->cmp;
	size_t nk = W + (c ? c->k : 0);
	double *p = xmalloc((nk ? nk : 1) * sizeof *p), *acc = xmalloc(hd * sizeof *acc);
	const float **v = xmalloc((nk ? nk : 1) * sizeof *v);
	for (size_t t = 0; t < T; t++) {
		size_t n = b * T + t, cnt = 0;
		const float *q = a->q + (n * a->nh + h) * hd;
		size_t first = t + 1 > W ? t + 1 - W : 0;
		for (size_t j = first; j <= t; j++)
			v[cnt++] = a->kv + (b * T + j) * hd;
		for (size_t j = 0; c && j < c->k; j++) {
			int32_t e = c->pick[n * c->k + j];
			if (e >= 0 && (size_t)e < c->n)
				v[cnt++] = c->kv + (b * c->n + (size_t)e) * hd;
		}
		double mx = a->sink[h];
		for (size_t j = 0; j < cnt; j++) {
			p[j] = (double)kern_dot(q, v[j], hd) * a->scale;
			mx = p[j] > mx ? p[j] : mx;
		}
		double sum = exp(a->sink[h] - mx);
		for (size_t j = 0; j < cnt; j++)
			sum += p[j] = exp(p[j] - mx);
		for (size_t d = 0; d < hd; d++)
			acc[d] = 0;
		for (size_t j = 0; j < cnt; j++) {
			double w = p[j] / sum;
			for (size_t d = 0; d < hd; d++)
				acc[d] += w * v[j][d];
		}
		float *o = a->out + (n * a->nh + h) * hd;
		for (size_t d = 0; d < hd; d++)
			o[d] = (float)acc[d];
	}
	free(p);
	free(acc);
	free(v);
}

/* Layer l's attention: x [N][D] (normed) -> out [N][D]. */
static int attention(struct infer_model *m, struct v4_layer *L, size_t l, const float *x, size_t B, size_t T,
		     float *out)
{
	const struct ds_config *c = &m->cfg;
	struct v4_state *s = m->v4;
	size_t N = B * T, D = (size_t)c->hidden_size, nh = (size_t)c->num_attention_heads, hd = s->hd, rd = s->rd;
	size_t ql = (size_t)c->q_lora_rank, G = (size_t)c->o_groups, R = (size_t)c->o_lora_rank;
	size_t gin = nh * hd / G;
	struct rope *rope = L->ratio ? &s->compress : &s->main;
	float *qr = xmalloc(N * ql * sizeof *qr), *q = xmalloc(N * nh * hd * sizeof *q);
	float *kv = xmalloc(N * hd * sizeof *kv), *o = xmalloc(N * nh * hd * sizeof *o);
	float *oa = xmalloc(N * G * R * sizeof *oa), *sink = xmalloc(nh * sizeof *sink);
	struct v4_compressed cmp = {0};
	struct lin_job *j = xmalloc((G > 2 ? G : 2) * sizeof *j);
	int rc = -1;
	j[0] = job(L->wq_a, x, D, N, qr, ql);
	j[1] = job(L->wkv, x, D, N, kv, hd);
	if (lin_run(&m->lin, j, 2) || infer_norm_rows(m, L->q_norm, qr, ql, qr, ql, N, ql) ||
	    infer_norm_rows(m, L->kv_norm, kv, hd, kv, hd, N, hd))
		goto out;
	j[0] = job(L->wq_b, qr, ql, N, q, nh * hd);
	if (lin_run(&m->lin, j, 1) || infer_norm_rows(m, NULL, q, hd, q, hd, N * nh, hd) || infer_read_vec(m, L->sink, sink))
		goto out;
	rope_positions(rope, T);
	for (size_t n = 0; n < N; n++) {
		size_t pos = n % T;
		rope_apply_pairs(rope, kv + n * hd + hd - rd, pos, false);
		for (size_t h = 0; h < nh; h++)
			rope_apply_pairs(rope, q + (n * nh + h) * hd + hd - rd, pos, false);
	}
	infer_note_nonfinite(m, q, N * nh * hd, "layer %zu (queries)", l);
	infer_note_nonfinite(m, kv, N * hd, "layer %zu (keys)", l);
	if (L->ratio && v4_compress(m, L, x, D, qr, ql, B, T, &cmp, NULL)) {
		err_prefix("%s: layer %zu: ", m->v->path, l);
		goto out;
	}
	struct attn_ctx a = {s, T, nh, q, kv, sink, L->ratio ? &cmp : NULL, 1.0 / sqrt((double)hd), o};
	pool_for(m->pool, B * nh, attn_task, &a);
	for (size_t n = 0; n < N; n++)
		for (size_t h = 0; h < nh; h++)
			rope_apply_pairs(rope, o + (n * nh + h) * hd + hd - rd, n % T, true);
	infer_note_nonfinite(m, o, N * nh * hd, "layer %zu (attention)", l);
	/* the grouped output projection: group g's heads through rows [g R, (g + 1) R) of wo_a */
	for (size_t g = 0; g < G; g++)
		j[g] = (struct lin_job){L->wo_a, o + g * gin, nh * hd, N, oa + g * R, G * R, g * R, R};
	if (lin_run(&m->lin, j, G))
		goto out;
	j[0] = job(L->wo_b, oa, G * R, N, out, D);
	rc = lin_run(&m->lin, j, 1);
out:
	v4_compressed_free(&cmp);
	free(qr);
	free(q);
	free(kv);
	free(o);
	free(oa);
	free(sink);
	free(j);
	return rc;
}

/* ---- a block ---- */

/* The experts tid2eid sends each of the N tokens to (hash routing). */
static int hash_experts(struct infer_model *m, const struct v4_layer *L, size_t l, size_t N, unsigned *idx)
{
	const struct v4_state *s = m->v4;
	size_t K = m->route.top_k;
	float *row = xmalloc(K * sizeof *row);
	int rc = 0;
	for (size_t n = 0; n < N && rc == 0; n++) {
		/* outside a pass (--layers on a fixed state) token n is n modulo the vocabulary */
		int64_t id = s->ids ? s->ids[n] : (int64_t)(n % (size_t)m->cfg.vocab_size);
		if (id < 0 || id >= m->cfg.vocab_size) {
			rc = err_set("token %" PRId64 " is outside the vocabulary (vocab_size %" PRId64 ")", id,
				     m->cfg.vocab_size);
			break;
		}
		rc = view_read_rows(L->tid2eid, (uint64_t)id, 1, row, K, 0);
		for (size_t k = 0; rc == 0 && k < K; k++) {
			if (!(row[k] >= 0 && row[k] < (float)m->route.n_experts) || row[k] != floorf(row[k])) {
				char name[256];
				hf_v4_name(name, sizeof name, &m->cfg, V4_TID2EID, (int)l, -1);
				rc = err_set("%s: %s: token %" PRId64 " goes to expert %g, not one of the %u", m->v->path,
					     name, id, (double)row[k], m->route.n_experts);
			}
			idx[n * K + k] = (unsigned)row[k];
		}
	}
	if (m->flags & INFER_RELEASE)
		vtensor_release(L->tid2eid);
	free(row);
	return rc;
}

int v4_layer(struct infer_model *m, size_t l, float *h, size_t B, size_t T)
{
	struct v4_state *s = m->v4;
	struct v4_layer *L;
	if (l >= m->nlayers + m->nmtp)
		return err_set("%s: there is no layer %zu (%zu layers, %zu MTP)", m->v->path, l, m->nlayers, m->nmtp);
	if (v4_layer_get(m, l, &L))
		return -1;
	size_t N = B * T, D = (size_t)m->cfg.hidden_size, hc = s->hc, K = m->route.top_k;
	float *x = xmalloc(N * D * sizeof *x), *y = xmalloc(N * D * sizeof *y);
	struct v4_hc mix;
	unsigned *given = L->hash ? xmalloc(N * K * sizeof *given) : NULL;
	int rc = -1;
	if (v4_hc_open(&mix, m, L->hc_attn, N))
		goto out;
	v4_hc_pre(&mix, h, x);
	if (infer_norm_rows(m, L->attn_norm, x, D, x, D, N, D))
		goto hc_out;
	infer_note_nonfinite(m, x, N * D, "layer %zu (attention input)", l);
	if (attention(m, L, l, x, B, T, y))
		goto hc_out;
	infer_note_nonfinite(m, y, N * D, "layer %zu (attention output)", l);
	v4_hc_post(&mix, y, h);
	infer_note_nonfinite(m, h, N * hc * D, "layer %zu (attention hyper-connection)", l);
	v4_hc_close(&mix);
	if (v4_hc_open(&mix, m, L->hc_ffn, N))
		goto out;
	v4_hc_pre(&mix, h, x);
	if (infer_norm_rows(m, L->ffn_norm, x, D, x, D, N, D))
		goto hc_out;
	if (L->hash && hash_experts(m, L, l, N, given))
		goto hc_out;
	struct infer_experts X = {L->router, L->bias, L->expert, L->shared[0] ? L->shared : NULL};
	if (infer_moe(m, l, &X, given, x, N, y))
		goto hc_out;
	infer_note_nonfinite(m, y, N * D, "layer %zu (MoE output)", l);
	v4_hc_post(&mix, y, h);
	infer_note_nonfinite(m, h, N * hc * D, "layer %zu (output)", l);
	rc = 0;
hc_out:
	v4_hc_close(&mix);
out:
	free(x);
	free(y);
	free(given);
	return rc;
}

/* ---- the model ---- */

/* logits (or NULL) of N states: the hc head {fn, base, scale} merges the streams, then norm
 * and the head; normed (or NULL) gets what the head saw. */
static int v4_head(struct infer_model *m, const struct vtensor *const *hc_head, const struct vtensor *norm,
		   const float *h, size_t N, float *logits, float *normed, size_t mtp)
{
	size_t D = (size_t)m->cfg.hidden_size;
	float *x = xmalloc(N * D * sizeof *x);
	int rc = v4_hc_head(m, hc_head, h, N, x);
	if (rc == 0)
		rc = infer_head_rows(m, norm, m->head, x, N, logits, normed, mtp);
	free(x);
	return rc;
}

/* The model's own embedding, norm, head and hc head. */
static int globals(struct infer_model *m)
{
	struct v4_state *s = m->v4;
	if (!m->embed && want(m, &m->embed, false, V4_EMBED, -1, -1))
		return -1;
	if (!m->norm && want(m, &m->norm, false, V4_NORM, -1, -1))
		return -1;
	if (!m->head && want(m, &m->head, m->cfg.tie_word_embeddings, V4_HEAD, -1, -1))
		return -1;
	if (!m->head)
		m->head = m->embed;
	for (int k = 0; k < 3; k++)
		if (!s->hc_head[k] && want(m, &s->hc_head[k], false, (enum v4_role)(V4_HC_HEAD_FN + k), -1, -1))
			return -1;
	return 0;
}

int v4_forward(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, float *logits, float *last_hidden,
	       const struct infer_hook *hook)
{
	struct v4_state *s = m->v4;
	size_t N = B * T, D = (size_t)m->cfg.hidden_size, hc = s->hc;
	if (globals(m))
		return -1;
	for (size_t l = 0; l < m->nlayers; l++) {
		struct v4_layer *L;
		if (v4_layer_get(m, l, &L))
			return -1;
	}
	float *h = xmalloc((N ? N : 1) * hc * D * sizeof *h), *x = xmalloc((N ? N : 1) * D * sizeof *x);
	int rc = -1;
	if (infer_embed_rows(m, m->embed, tokens, N, x, D, "the embedding"))
		goto out;
	for (size_t n = 0; n < N; n++)
		for (size_t k = 0; k < hc; k++)
			memcpy(h + (n * hc + k) * D, x + n * D, D * sizeof *h);
	if (hook && hook->hidden)
		hook->hidden(hook->ctx, 0, h, N, hc * D);
	s->ids = tokens;
	for (size_t l = 0; l < m->nlayers; l++) {
		if (v4_layer(m, l, h, B, T))
			goto out;
		if (hook && hook->hidden)
			hook->hidden(hook->ctx, l + 1, h, N, hc * D);
	}
	if (last_hidden)
		memcpy(last_hidden, h, N * hc * D * sizeof *h);
	if (v4_head(m, s->hc_head, m->norm, h, N, logits, x, SIZE_MAX))
		goto out;
	if (hook && hook->hidden)
		hook->hidden(hook->ctx, m->nlayers + 1, x, N, D);
	rc = 0;
out:
	s->ids = NULL;
	free(h);
	free(x);
	return rc;
}

/* DeepSeek's model.py MTPBlock (transformers has none): depth d takes, at position i, the
 * streams the previous depth left there and the embedding of token i + d:
 * e_proj(enorm(e)) added to h_proj(hnorm(stream)) of each stream, one block (its own
 * layer), its own hc head and norm, the model's head. */
int v4_mtp(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, const float *last_hidden,
	   float **logits)
{
	struct v4_state *s = m->v4;
	size_t D = (size_t)m->cfg.hidden_size, hc = s->hc, Tp = T;
	const float *prev = last_hidden;
	float *own = NULL;
	int rc = 0;
	if (globals(m))
		return -1;
	for (size_t d = 1; d <= m->nmtp && d < T; d++) {
		size_t l = m->nlayers + d - 1, Tn = T - d, N = B * Tn;
		struct v4_layer *L;
		if (v4_layer_get(m, l, &L))
			return -1;
		float *e = xmalloc(N * D * sizeof *e), *ep = xmalloc(N * D * sizeof *ep);
		float *hn = xmalloc(N * hc * D * sizeof *hn), *hs = xmalloc(N * hc * D * sizeof *hs);
		int64_t *ids = xmalloc(N * sizeof *ids);
		rc = -1;
		for (size_t b = 0; b < B; b++)
			for (size_t i = 0; i < Tn; i++) {
				ids[b * Tn + i] = tokens[b * T + i + d];
				memcpy(hn + (b * Tn + i) * hc * D, prev + (b * Tp + i) * hc * D, hc * D * sizeof *hn);
			}
		struct lin_job j[2] = {job(L->e_proj, e, D, N, ep, D), job(L->h_proj, hn, D, N * hc, hs, D)};
		if (infer_embed_rows(m, m->embed, ids, N, e, D, "the embedding") ||
		    infer_norm_rows(m, L->enorm, e, D, e, D, N, D) || infer_norm_rows(m, L->hnorm, hn, D, hn, D, N * hc, D) ||
		    lin_run(&m->lin, j, 2))
			goto step_out;
		for (size_t n = 0; n < N; n++)
			for (size_t k = 0; k < hc; k++)
				for (size_t i = 0; i < D; i++)
					hs[(n * hc + k) * D + i] += ep[n * D + i];
		infer_note_nonfinite(m, hs, N * hc * D, "layer %zu (MTP input)", l);
		s->ids = ids;
		if (v4_layer(m, l, hs, B, Tn))
			goto step_out;
		if (logits && logits[d - 1] && v4_head(m, L->hc_head, L->norm, hs, N, logits[d - 1], NULL, l))
			goto step_out;
		rc = 0;
step_out:
		s->ids = NULL;
		free(e);
		free(ep);
		free(hn);
		free(ids);
		free(own);
		own = hs;
		prev = hs;
		Tp = Tn;
		if (rc)
			break;
	}
	free(own);
	return rc;
}
