#include "model.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kern.h"
#include "v4_model.h"

/* ---- the weights, as the model's family names and shapes them ---- */

/* The tensor that plays role (in layer, for expert; -1 where none) into *out, of the shape
 * the family's inventory gives it.  Optional: absence is no error (*out NULL). */
static int need(const struct infer_model *m, const struct vtensor **out, bool optional, enum hf_role role,
		int64_t layer, int64_t expert)
{
	char name[256];
	struct hf_name n = {role, (int)layer, (int)expert, false};
	m->family->name_of(name, sizeof name, &n);
	return infer_need(m, out, optional, name);
}

int infer_need(const struct infer_model *m, const struct vtensor **out, bool optional, const char *name)
{
	char q[ERR_QUOTE];
	const struct hf_entry *e = hf_find(m->L, name);
	const struct vtensor *t = e ? view_find(m->v, name) : NULL;
	*out = t;
	if (!t)
		return optional ? 0 : err_set("%s: tensor %s is missing", m->v->path, err_quote(name, q));
	bool ok = t->ndim == e->ndim;
	for (unsigned d = 0; ok && d < e->ndim; d++)
		ok = t->shape[d] == e->shape[d];
	if (!ok) {
		char got[ST_SHAPE_LEN], want[ST_SHAPE_LEN];
		st_shape_str(t->ndim, t->shape, got, sizeof got);
		st_shape_str(e->ndim, e->shape, want, sizeof want);
		return err_set("%s: tensor %s has shape %s, the config says %s", m->v->path, err_quote(name, q), got,
			       want);
	}
	if (!dt_has_value(t->stored))
		return err_set("%s: tensor %s: %s values cannot be read as numbers", m->v->path, err_quote(name, q),
			       dt_name(t->stored));
	return 0;
}

static int layer_get(struct infer_model *m, size_t l, struct infer_layer **out)
{
	const struct ds_config *c = &m->cfg;
	struct infer_layer *L = &m->layer[l];
	int64_t i = (int64_t)l;
	*out = L;
	if (L->ready)
		return 0;
	L->mtp = l >= m->nlayers;
	L->moe = m->family->layer_is_moe(c, i);
	if (need(m, &L->attn_norm, false, HF_INPUT_NORM, i, -1) || need(m, &L->ffn_norm, false, HF_POST_NORM, i, -1) ||
	    need(m, &L->wkv_a, false, HF_KV_A_PROJ, i, -1) || need(m, &L->kv_norm, false, HF_KV_A_NORM, i, -1) ||
	    need(m, &L->wkv_b, false, HF_KV_B_PROJ, i, -1) || need(m, &L->wo, false, HF_O_PROJ, i, -1))
		return -1;
	if (c->q_lora_rank) {
		if (need(m, &L->wq_a, false, HF_Q_A_PROJ, i, -1) || need(m, &L->q_norm, false, HF_Q_A_NORM, i, -1) ||
		    need(m, &L->wq_b, false, HF_Q_B_PROJ, i, -1))
			return -1;
	} else if (need(m, &L->wq, false, HF_Q_PROJ, i, -1)) {
		return -1;
	}
	if (c->index_n_heads > 0) {
		struct indexer_weights *x = &L->indexer;
		if (need(m, &x->wq_b, false, HF_IDX_WQ_B, i, -1) || need(m, &x->wk, false, HF_IDX_WK, i, -1) ||
		    need(m, &x->k_norm, false, HF_IDX_K_NORM, i, -1) ||
		    need(m, &x->k_bias, false, HF_IDX_K_NORM_BIAS, i, -1) ||
		    need(m, &x->weights_proj, false, HF_IDX_WEIGHTS_PROJ, i, -1))
			return -1;
		L->has_indexer = true;
	}
	if (!L->moe) {
		static const enum hf_role mlp[3] = {HF_MLP_GATE, HF_MLP_UP, HF_MLP_DOWN};
		for (int k = 0; k < 3; k++)
			if (need(m, &L->mlp[k], false, mlp[k], i, -1))
				return -1;
	} else {
		static const enum hf_role expert[3] = {HF_EXPERT_GATE, HF_EXPERT_UP, HF_EXPERT_DOWN};
		static const enum hf_role shared[3] = {HF_SHARED_GATE, HF_SHARED_UP, HF_SHARED_DOWN};
		uint64_t E = (uint64_t)c->n_routed_experts;
		if (need(m, &L->router, false, HF_ROUTER, i, -1) || need(m, &L->bias, true, HF_ROUTER_BIAS, i, -1))
			return -1;
		if (!L->expert)
			L->expert = xcalloc(E * 3, sizeof *L->expert);
		for (uint64_t e = 0; e < E; e++)
			for (int k = 0; k < 3; k++)
				if (need(m, &L->expert[e * 3 + k], false, expert[k], i, (int64_t)e))
					return -1;
		for (int k = 0; c->n_shared_experts > 0 && k < 3; k++)
			if (need(m, &L->shared[k], false, shared[k], i, -1))
				return -1;
	}
	if (L->mtp) {
		/* (a layout may leave out an MTP layer's copies of the embedding and the head:
		 * the model's own serve then) */
		if (need(m, &L->embed, true, HF_MTP_EMBED, i, -1) || need(m, &L->enorm, false, HF_MTP_ENORM, i, -1) ||
		    need(m, &L->hnorm, false, HF_MTP_HNORM, i, -1) || need(m, &L->eh_proj, false, HF_MTP_EH_PROJ, i, -1) ||
		    need(m, &L->head_norm, false, HF_MTP_HEAD_NORM, i, -1) || need(m, &L->head, true, HF_MTP_HEAD, i, -1))
			return -1;
		if (!L->embed && need(m, &m->embed, false, HF_EMBED, -1, -1))
			return -1;
		if (!L->head && !m->head && need(m, &m->head, false, HF_LM_HEAD, -1, -1))
			return -1;
	}
	L->ready = true;
	return 0;
}

int infer_open(struct infer_model *m, const struct view *v, const struct ds_config *cfg, struct pool *pool,
	       unsigned flags)
{
	memset(m, 0, sizeof *m);
	m->v = v;
	m->cfg = *cfg;
	m->pool = pool;
	m->flags = flags;
	const struct ds_config *c = &m->cfg;
	/* (the values' ranges were checked as config.json was read) */
	if (!c->family) {
		struct buf why = {0};
		err_set("%s: %s", v->path, family_unknown_why(c->model_type, c->architecture, &why));
		buf_free(&why);
		return -1;
	}
	m->family = c->family;
	if (m->family->no_forward)
		return err_set("%s: %s", v->path, m->family->no_forward);
	if (ds_config_require(c, v->path) || m->family->expected(&m->L, c, v->path))
		return -1;
	if (m->family->forward == FAMILY_FORWARD_HC) {
		lin_init(&m->lin, pool, VIEW_ROUND_BF16);
		m->lin.release = (flags & INFER_RELEASE) != 0;
		if (v4_open(m)) {
			infer_close(m);
			return -1;
		}
		return 0;
	}
	if (rope_init(&m->rope, c)) {
		hf_free(m->L);
		return err_prefix("%s: ", v->path);
	}
	if (c->first_k_dense_replace < c->num_hidden_layers + c->num_nextn_predict_layers &&
	    route_cfg_init(&m->route, c)) {
		hf_free(m->L);
		rope_free(&m->rope);
		return err_prefix("%s: ", v->path);
	}
	m->nlayers = (size_t)c->num_hidden_layers;
	m->nmtp = (size_t)c->num_nextn_predict_layers;
	m->layer = xcalloc(m->nlayers + m->nmtp + 1, sizeof *m->layer);
	lin_init(&m->lin, pool, VIEW_ROUND_BF16);
	m->lin.release = (flags & INFER_RELEASE) != 0;
	return 0;
}

void infer_close(struct infer_model *m)
{
	if (m->v4)
		v4_close(m);
	for (size_t l = 0; m->layer && l < m->nlayers + m->nmtp; l++)
		free(m->layer[l].expert);
	free(m->layer);
	hf_free(m->L);
	rope_free(&m->rope);
	lin_fini(&m->lin);
	memset(m, 0, sizeof *m);
}

/* ---- pieces of a layer ---- */

/* Note where NaN or infinity first shows among n values of x: only the first place is
 * kept, later ones mostly follow from it.  One pass over values the step just wrote:
 * cheap beside the products that made them. */
void infer_note_nonfinite(struct infer_model *m, const float *x, size_t n, const char *fmt, ...)
{
	if (m->nonfinite[0] || kern_first_nonfinite(x, n) == n)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->nonfinite, sizeof m->nonfinite, fmt, ap);
	va_end(ap);
}

int infer_read_vec(const struct infer_model *m, const struct vtensor *t, float *out)
{
	int rc = view_read_rows(t, 0, 1, out, (size_t)t->cols, VIEW_ROUND_BF16);
	if (m->flags & INFER_RELEASE)
		vtensor_release(t);
	return rc;
}

int infer_norm_rows(const struct infer_model *m, const struct vtensor *w, const float *x, size_t ldx, float *out,
		    size_t ldo, size_t n, size_t d)
{
	float *wv = xmalloc(d * sizeof *wv);
	int rc = 0;
	if (w)
		rc = infer_read_vec(m, w, wv);
	else
		for (size_t i = 0; i < d; i++)
			wv[i] = 1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		kern_rmsnorm(out + i * ldo, x + i * ldx, wv, d, m->cfg.rms_norm_eps);
	free(wv);
	return rc;
}

static struct lin_job job(const struct vtensor *w, const float *x, size_t ldx, size_t n, float *y, size_t ldy)
{
	return (struct lin_job){.w = w, .x = x, .ldx = ldx, .ntok = n, .y = y, .ldy = ldy};
}

struct attn_ctx {
	const struct infer_model *m;
	size_t B, T, nh, dq, dv;
	const float *Q, *K, *V;      /* [N][nh][dq], [N][nh][dq], V rows ldv apart, head h at h*vstride */
	size_t ldv, vstride;
	const int32_t *pick;         /* NULL (every earlier position), or kpick a query (indexer.h) */
	size_t kpick;
	float *out;                  /* [N][nh * dv] */
};

/* One sequence and one head: causal softmax attention over its T positions, or over
 * those the indexer kept (the others' weights are exactly 0 in the reference's masked
 * softmax, so leaving them out changes no sum). */
static void attn_task(void *ctx, size_t i, unsigned worker)
{
	(void)worker;
	struct attn_ctx *a = ctx;
	size_t b = i / a->nh, h = i % a->nh, T = a->T, dq = a->dq, dv = a->dv;
	size_t most = a->pick ? a->kpick : T;
	double *p = xmalloc(most * sizeof *p), *acc = xmalloc(dv * sizeof *acc);
	size_t *at = xmalloc(most * sizeof *at);
	double scale = a->m->rope.softmax_scale;
	for (size_t s = 0; s < T; s++) {
		const float *q = a->Q + ((b * T + s) * a->nh + h) * dq;
		size_t n = 0;
		if (a->pick) {
			const int32_t *pk = a->pick + (b * T + s) * a->kpick;
			for (; n < a->kpick && pk[n] >= 0; n++)
				at[n] = (size_t)pk[n];
		} else {
			for (; n <= s; n++)
				at[n] = n;
		}
		double mx = -INFINITY, sum = 0;
		for (size_t u = 0; u < n; u++) {
			p[u] = (double)kern_dot(q, a->K + ((b * T + at[u]) * a->nh + h) * dq, dq) * scale;
			mx = p[u] > mx ? p[u] : mx;
		}
		for (size_t u = 0; u < n; u++)
			sum += p[u] = exp(p[u] - mx);
		for (size_t j = 0; j < dv; j++)
			acc[j] = 0;
		for (size_t u = 0; u < n; u++) {
			/* the reference rounds the probabilities to float32 */
			double w = (float)(p[u] / sum);
			const float *v = a->V + (b * T + at[u]) * a->ldv + h * a->vstride;
			for (size_t j = 0; j < dv; j++)
				acc[j] += w * v[j];
		}
		float *o = a->out + (b * T + s) * a->nh * dv + h * dv;
		for (size_t j = 0; j < dv; j++)
			o[j] = (float)acc[j];
	}
	free(p);
	free(acc);
	free(at);
}

/* The positions layer L's indexer keeps for each query (indexer.h): k a query. */
static int pick_positions(struct infer_model *m, struct infer_layer *L, const float *x, const float *qr, size_t B,
			  size_t T, size_t k, int32_t *pick)
{
	const struct ds_config *c = &m->cfg;
	size_t l = (size_t)(L - m->layer);
	struct indexer_shape sh = {(size_t)c->index_n_heads, (size_t)c->index_head_dim, k, (size_t)c->hidden_size,
				   (size_t)c->q_lora_rank};
	int bad = 0;
	if (indexer_pick(&m->lin, m->pool, &m->rope, &L->indexer, &sh, x, qr, B, T, pick, &bad))
		return err_prefix("%s: layer %zu: ", m->v->path, l);
	if (bad && !m->nonfinite[0])
		snprintf(m->nonfinite, sizeof m->nonfinite, "layer %zu (indexer scores)", l);
	if (m->picked)
		m->picked(m->picked_ctx, l, pick, B, T, k);
	return 0;
}

/* MLA: x [N][H] (normed) -> out [N][H]. */
static int attention(struct infer_model *m, struct infer_layer *L, const float *x, size_t B, size_t T, float *out)
{
	/* (dense up to the family's bound, where its sparse attention keeps every position;
	 * past it, the layer's indexer says which) */
	int64_t most = m->family->max_dense_positions ? m->family->max_dense_positions(&m->cfg) : -1;
	bool sparse = most >= 0 && (int64_t)T > most;
	if (sparse && !L->has_indexer)
		return err_set("%s: %zu positions: %s's attention is sparse past %" PRId64
			       " positions, which this forward pass does not compute", m->v->path, T,
			       m->family->title, most);
	const struct ds_config *c = &m->cfg;
	size_t N = B * T, H = (size_t)c->hidden_size, nh = (size_t)c->num_attention_heads;
	size_t dn = (size_t)c->qk_nope_head_dim, dr = (size_t)c->qk_rope_head_dim, dv = (size_t)c->v_head_dim;
	size_t C = (size_t)c->kv_lora_rank, ql = (size_t)c->q_lora_rank, dq = dn + dr;
	float *q = xmalloc(N * nh * dq * sizeof *q), *kv = xmalloc(N * (C + dr) * sizeof *kv);
	float *qa = ql ? xmalloc(N * ql * sizeof *qa) : NULL, *cn = xmalloc(N * C * sizeof *cn);
	float *kvb = xmalloc(N * nh * (dn + dv) * sizeof *kvb), *k = xmalloc(N * nh * dq * sizeof *k);
	float *ao = xmalloc(N * nh * dv * sizeof *ao);
	int32_t *pick = sparse ? xmalloc(N * (size_t)most * sizeof *pick) : NULL;
	int rc = -1;
	struct lin_job j[2];
	if (ql) {
		j[0] = job(L->wq_a, x, H, N, qa, ql);
		j[1] = job(L->wkv_a, x, H, N, kv, C + dr);
		if (lin_run(&m->lin, j, 2) || infer_norm_rows(m, L->q_norm, qa, ql, qa, ql, N, ql))
			goto out;
		j[0] = job(L->wq_b, qa, ql, N, q, nh * dq);
		if (lin_run(&m->lin, j, 1))
			goto out;
	} else {
		j[0] = job(L->wq, x, H, N, q, nh * dq);
		j[1] = job(L->wkv_a, x, H, N, kv, C + dr);
		if (lin_run(&m->lin, j, 2))
			goto out;
	}
	if (infer_norm_rows(m, L->kv_norm, kv, C + dr, cn, C, N, C))
		goto out;
	j[0] = job(L->wkv_b, cn, C, N, kvb, nh * (dn + dv));
	if (lin_run(&m->lin, j, 1))
		goto out;
	rope_positions(&m->rope, T);
	if (sparse && pick_positions(m, L, x, qa, B, T, (size_t)most, pick))
		goto out;
	for (size_t n = 0; n < N; n++) {
		size_t pos = n % T;
		float *kpe = kv + n * (C + dr) + C;
		rope_apply(&m->rope, kpe, pos);
		for (size_t h = 0; h < nh; h++) {
			rope_apply(&m->rope, q + (n * nh + h) * dq + dn, pos);
			float *kh = k + (n * nh + h) * dq;
			memcpy(kh, kvb + n * nh * (dn + dv) + h * (dn + dv), dn * sizeof *kh);
			memcpy(kh + dn, kpe, dr * sizeof *kh);
		}
	}
	struct attn_ctx a = {m, B, T, nh, dq, dv, q, k, kvb + dn, nh * (dn + dv), dn + dv, pick, (size_t)most, ao};
	pool_for(m->pool, B * nh, attn_task, &a);
	j[0] = job(L->wo, ao, nh * dv, N, out, H);
	rc = lin_run(&m->lin, j, 1);
out:
	free(q);
	free(kv);
	free(qa);
	free(cn);
	free(kvb);
	free(k);
	free(ao);
	free(pick);
	return rc;
}

int infer_mlps(struct infer_model *m, const struct vtensor *const *w, const float *const *x, const size_t *n,
		float *const *y, size_t count)
{
	size_t H = (size_t)m->cfg.hidden_size, tot = 0;
	for (size_t i = 0; i < count; i++)
		tot += n[i] * (size_t)w[3 * i]->rows;
	float *g = xmalloc((tot ? tot : 1) * sizeof *g), *u = xmalloc((tot ? tot : 1) * sizeof *u);
	struct lin_job *j = xmalloc(2 * (count ? count : 1) * sizeof *j);
	size_t off = 0;
	for (size_t i = 0; i < count; i++) {
		size_t I = (size_t)w[3 * i]->rows;
		j[2 * i] = job(w[3 * i], x[i], H, n[i], g + off, I);
		j[2 * i + 1] = job(w[3 * i + 1], x[i], H, n[i], u + off, I);
		off += n[i] * I;
	}
	int rc = lin_run(&m->lin, j, 2 * count);
	if (rc == 0) {
		if (m->swiglu_limit > 0) {
			/* DeepSeek-V4 clamps the gate from above and the up projection both ways */
			float lim = (float)m->swiglu_limit;
			for (size_t i = 0; i < tot; i++) {
				g[i] = g[i] > lim ? lim : g[i];
				u[i] = u[i] > lim ? lim : u[i] < -lim ? -lim : u[i];
			}
		}
		kern_silu_mul(g, u, tot);
		off = 0;
		for (size_t i = 0; i < count; i++) {
			size_t I = (size_t)w[3 * i]->rows;
			j[i] = job(w[3 * i + 2], g + off, I, n[i], y[i], H);
			off += n[i] * I;
		}
		rc = lin_run(&m->lin, j, count);
	}
	free(g);
	free(u);
	free(j);
	return rc;
}

int infer_moe(struct infer_model *m, size_t l, const struct infer_experts *X, const unsigned *given, const float *x,
	      size_t N, float *out)
{
	const struct route_cfg *rt = &m->route;
	size_t H = (size_t)m->cfg.hidden_size, E = rt->n_experts, K = rt->top_k;
	float *logits = xmalloc(N * E * sizeof *logits), *bias = NULL;
	unsigned *idx = xmalloc(N * K * sizeof *idx);
	float *wt = xmalloc(N * K * sizeof *wt);
	size_t *cnt = xcalloc(E + 1, sizeof *cnt), *start = xcalloc(E + 1, sizeof *start);
	size_t *tok = xmalloc(N * K * sizeof *tok);
	float *tw = xmalloc(N * K * sizeof *tw), *xin = xmalloc(N * K * H * sizeof *xin);
	float *yout = xmalloc(N * K * H * sizeof *yout), *acc = xcalloc(N * H, sizeof *acc);
	const struct vtensor **w = xmalloc(3 * E * sizeof *w);
	const float **xs = xmalloc(E * sizeof *xs);
	float **ys = xmalloc(E * sizeof *ys);
	size_t *ns = xmalloc(E * sizeof *ns);
	int rc = -1;
	struct lin_job j = job(X->router, x, H, N, logits, E);
	if (lin_run(&m->lin, &j, 1))
		goto out;
	/* a NaN score ranks last: its expert would silently never be chosen */
	infer_note_nonfinite(m, logits, N * E, "layer %zu (router)", l);
	if (X->bias) {
		bias = xmalloc(E * sizeof *bias);
		if (infer_read_vec(m, X->bias, bias))
			goto out;
		infer_note_nonfinite(m, bias, E, "layer %zu (router bias)", l);
	}
	for (size_t n = 0; n < N; n++) {
		if (given) {
			memcpy(idx + n * K, given + n * K, K * sizeof *idx);
			route_given(rt, logits + n * E, idx + n * K, wt + n * K);
		} else {
			route_token(rt, logits + n * E, bias, idx + n * K, wt + n * K);
		}
		for (size_t k = 0; k < K; k++)
			cnt[idx[n * K + k]]++;
	}
	for (size_t e = 0; e < E; e++)
		start[e + 1] = start[e] + cnt[e];
	memset(cnt, 0, E * sizeof *cnt);
	/* the tokens of each expert, in token order, with their inputs gathered */
	for (size_t n = 0; n < N; n++)
		for (size_t k = 0; k < K; k++) {
			size_t e = idx[n * K + k], at = start[e] + cnt[e]++;
			tok[at] = n;
			tw[at] = wt[n * K + k];
			memcpy(xin + at * H, x + n * H, H * sizeof *xin);
		}
	/* all active experts in one pass, or one at a time when pages are given back after
	 * use (then only one expert's weights are resident at once) */
	size_t batch = (m->flags & INFER_RELEASE) ? 1 : E, nb = 0;
	for (size_t e = 0; e < E; e++) {
		if (cnt[e]) {
			memcpy(w + 3 * nb, X->expert + 3 * e, 3 * sizeof *w);
			xs[nb] = xin + start[e] * H;
			ys[nb] = yout + start[e] * H;
			ns[nb] = cnt[e];
			nb++;
			m->experts_run++;
		}
		if (nb && (nb == batch || e + 1 == E)) {
			if (infer_mlps(m, w, xs, ns, ys, nb))
				goto out;
			nb = 0;
		}
	}
	for (size_t e = 0; e < E; e++)
		infer_note_nonfinite(m, yout + start[e] * H, cnt[e] * H, "layer %zu (routed expert %zu output)", l, e);
	/* weighted sum in expert order, as transformers adds them (into float32) */
	for (size_t e = 0; e < E; e++)
		for (size_t at = start[e]; at < start[e + 1]; at++) {
			float *a = acc + tok[at] * H;
			const float *y = yout + at * H;
			for (size_t i = 0; i < H; i++)
				a[i] = (float)((double)a[i] + (double)tw[at] * y[i]);
		}
	if (X->shared[0]) {
		const float *xv[1] = {x};
		float *yv[1] = {out};
		if (infer_mlps(m, X->shared, xv, &N, yv, 1))
			goto out;
		infer_note_nonfinite(m, out, N * H, "layer %zu (shared experts output)", l);
		for (size_t i = 0; i < N * H; i++)
			out[i] = (float)((double)acc[i] + out[i]);
	} else {
		memcpy(out, acc, N * H * sizeof *out);
	}
	rc = 0;
out:
	free(logits);
	free(bias);
	free(idx);
	free(wt);
	free(cnt);
	free(start);
	free(tok);
	free(tw);
	free(xin);
	free(yout);
	free(acc);
	free(w);
	free(xs);
	free(ys);
	free(ns);
	return rc;
}

size_t infer_state_dim(const struct infer_model *m)
{
	return (size_t)m->cfg.hidden_size * (m->v4 ? m->v4->hc : 1);
}

bool infer_has_mtp(const struct infer_model *m, size_t d)
{
	if (d < 1 || d > m->nmtp)
		return false;
	char name[256];
	if (m->v4) {
		hf_v4_name(name, sizeof name, &m->cfg, V4_E_PROJ, (int)(m->nlayers + d - 1), -1);
	} else {
		struct hf_name n = {HF_MTP_EH_PROJ, (int)(m->nlayers + d - 1), -1, false};
		m->family->name_of(name, sizeof name, &n);
	}
	return view_find(m->v, name) != NULL;
}

int infer_layer(struct infer_model *m, size_t l, float *h, size_t B, size_t T)
{
	if (m->v4)
		return v4_layer(m, l, h, B, T);
	struct infer_layer *L;
	if (l >= m->nlayers + m->nmtp)
		return err_set("%s: there is no layer %zu (%zu layers, %zu MTP)", m->v->path, l, m->nlayers, m->nmtp);
	if (layer_get(m, l, &L))
		return -1;
	size_t N = B * T, H = (size_t)m->cfg.hidden_size;
	float *x = xmalloc(N * H * sizeof *x), *y = xmalloc(N * H * sizeof *y);
	int rc = -1;
	if (infer_norm_rows(m, L->attn_norm, h, H, x, H, N, H))
		goto out;
	infer_note_nonfinite(m, x, N * H, "layer %zu (input norm)", l);
	if (attention(m, L, x, B, T, y))
		goto out;
	infer_note_nonfinite(m, y, N * H, "layer %zu (attention output)", l);
	for (size_t i = 0; i < N * H; i++)
		h[i] += y[i];
	infer_note_nonfinite(m, h, N * H, "layer %zu (attention residual)", l);
	if (infer_norm_rows(m, L->ffn_norm, h, H, x, H, N, H))
		goto out;
	infer_note_nonfinite(m, x, N * H, "layer %zu (post-attention norm)", l);
	if (L->moe) {
		struct infer_experts X = {L->router, L->bias, L->expert, L->shared};
		if (infer_moe(m, l, &X, NULL, x, N, y))
			goto out;
	} else {
		const float *xv[1] = {x};
		float *yv[1] = {y};
		if (infer_mlps(m, L->mlp, xv, &N, yv, 1))
			goto out;
	}
	infer_note_nonfinite(m, y, N * H, "layer %zu (%s output)", l, L->moe ? "MoE" : "MLP");
	for (size_t i = 0; i < N * H; i++)
		h[i] += y[i];
	infer_note_nonfinite(m, h, N * H, "layer %zu (output)", l);
	rc = 0;
out:
	free(x);
	free(y);
	return rc;
}

int infer_embed_rows(struct infer_model *m, const struct vtensor *emb, const int64_t *tokens, size_t N, float *h,
		      size_t ldh, const char *what)
{
	for (size_t n = 0; n < N; n++) {
		if (tokens[n] < 0 || tokens[n] >= m->cfg.vocab_size)
			return err_set("token %" PRId64 " is outside the vocabulary (vocab_size %" PRId64 ")", tokens[n],
				       m->cfg.vocab_size);
		if (view_read_rows(emb, (uint64_t)tokens[n], 1, h + n * ldh, ldh, VIEW_ROUND_BF16))
			return -1;
		infer_note_nonfinite(m, h + n * ldh, (size_t)emb->cols, "%s of token %" PRId64, what, tokens[n]);
	}
	if (m->flags & INFER_RELEASE)
		vtensor_release(emb);
	return 0;
}

int infer_head_rows(struct infer_model *m, const struct vtensor *norm, const struct vtensor *head, const float *h,
		     size_t N, float *logits, float *normed_out, size_t mtp)
{
	size_t H = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
	float *x = normed_out ? normed_out : xmalloc(N * H * sizeof *x);
	struct lin_job j = job(head, x, H, N, logits, V);
	int rc = infer_norm_rows(m, norm, h, H, x, H, N, H);
	if (rc == 0 && mtp == SIZE_MAX)
		infer_note_nonfinite(m, x, N * H, "the final norm");
	else if (rc == 0)
		infer_note_nonfinite(m, x, N * H, "layer %zu (MTP head norm)", mtp);
	if (rc == 0 && logits) {
		rc = lin_run(&m->lin, &j, 1);
		if (rc == 0 && mtp == SIZE_MAX)
			infer_note_nonfinite(m, logits, N * V, "the logits");
		else if (rc == 0)
			infer_note_nonfinite(m, logits, N * V, "layer %zu (MTP logits)", mtp);
	}
	if (!normed_out)
		free(x);
	return rc;
}

int infer_forward(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, float *logits,
		  float *last_hidden, const struct infer_hook *hook)
{
	if (m->v4)
		return v4_forward(m, tokens, B, T, logits, last_hidden, hook);
	const struct ds_config *c = &m->cfg;
	size_t N = B * T, H = (size_t)c->hidden_size;
	if (!m->embed && need(m, &m->embed, false, HF_EMBED, -1, -1))
		return -1;
	if (!m->norm && need(m, &m->norm, false, HF_NORM, -1, -1))
		return -1;
	if (!m->head && need(m, &m->head, c->tie_word_embeddings, HF_LM_HEAD, -1, -1))
		return -1;
	if (!m->head)
		m->head = m->embed;
	for (size_t l = 0; l < m->nlayers; l++) {
		struct infer_layer *L;
		if (layer_get(m, l, &L))
			return -1;
	}
	float *h = xmalloc((N ? N : 1) * H * sizeof *h), *x = xmalloc((N ? N : 1) * H * sizeof *x);
	int rc = -1;
	if (infer_embed_rows(m, m->embed, tokens, N, h, H, "the embedding"))
		goto out;
	if (hook && hook->hidden)
		hook->hidden(hook->ctx, 0, h, N, H);
	for (size_t l = 0; l < m->nlayers; l++) {
		if (infer_layer(m, l, h, B, T))
			goto out;
		if (hook && hook->hidden)
			hook->hidden(hook->ctx, l + 1, h, N, H);
	}
	if (last_hidden)
		memcpy(last_hidden, h, N * H * sizeof *h);
	if (infer_head_rows(m, m->norm, m->head, h, N, logits, x, SIZE_MAX))
		goto out;
	if (hook && hook->hidden)
		hook->hidden(hook->ctx, m->nlayers + 1, x, N, H);
	rc = 0;
out:
	free(h);
	free(x);
	return rc;
}

int infer_mtp(struct infer_model *m, const int64_t *tokens, size_t B, size_t T, const float *last_hidden,
	      float **logits)
{
	if (m->v4)
		return v4_mtp(m, tokens, B, T, last_hidden, logits);
	size_t H = (size_t)m->cfg.hidden_size, Tp = T;
	const float *prev = last_hidden;
	float *own = NULL;
	int rc = 0;
	for (size_t d = 1; d <= m->nmtp && d < T; d++) {
		size_t l = m->nlayers + d - 1, Tn = T - d, N = B * Tn;
		struct infer_layer *L;
		if (layer_get(m, l, &L))
			return -1;
		float *cat = xmalloc(N * 2 * H * sizeof *cat), *e = xmalloc(H * sizeof *e);
		float *hn = xmalloc(N * H * sizeof *hn);
		char what[64];
		if (L->embed)
			snprintf(what, sizeof what, "layer %zu (MTP embedding)", l);
		else
			snprintf(what, sizeof what, "the embedding");
		rc = -1;
		for (size_t b = 0; b < B; b++)
			for (size_t i = 0; i < Tn; i++) {
				size_t n = b * Tn + i;
				if (infer_embed_rows(m, L->embed ? L->embed : m->embed, tokens + b * T + i + d, 1, e, H, what) ||
				    infer_norm_rows(m, L->enorm, e, H, cat + n * 2 * H, 2 * H, 1, H) ||
				    infer_norm_rows(m, L->hnorm, prev + (b * Tp + i) * H, H, cat + n * 2 * H + H, 2 * H, 1, H))
					goto step_out;
			}
		infer_note_nonfinite(m, cat, N * 2 * H, "layer %zu (MTP enorm and hnorm)", l);
		struct lin_job j = job(L->eh_proj, cat, 2 * H, N, hn, H);
		if (lin_run(&m->lin, &j, 1))
			goto step_out;
		infer_note_nonfinite(m, hn, N * H, "layer %zu (MTP eh_proj)", l);
		if (infer_layer(m, l, hn, B, Tn))
			goto step_out;
		if (logits && logits[d - 1] &&
		    infer_head_rows(m, L->head_norm, L->head ? L->head : m->head, hn, N, logits[d - 1], NULL, l))
			goto step_out;
		rc = 0;
step_out:
		free(cat);
		free(e);
		free(own);
		own = hn;
		prev = hn;
		Tp = Tn;
		if (rc)
			break;
	}
	free(own);
	return rc;
}
