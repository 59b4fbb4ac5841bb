/* MindSpore names and their meaning in HF terms (the rules table), the rope row order,
 * and the two layouts seen as views. */
#include "mindspore.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "layout.h"
#include "out.h"
#include "qscheme.h"

#define T (1u << MS_TRAIN)
#define I (1u << MS_INFER)

#define LAYER_PREFIX "model.layers."
#define FUSER_PREFIX "model.mtp_hidden_fusers."
#define MTP_NORM_PREFIX "model.mtp_norms."

/* Per-layer names ("model.layers.L." + suffix), in the order convert_weight.py writes a
 * layer (the training writer follows it). */
const struct ms_rule ms_rules[] = {
	{"attention.l2q_nope_proj.weight", HF_Q_B_PROJ, MS_NOPE, T},
	{"attention.l2q_pe_proj.weight", HF_Q_B_PROJ, MS_ROPE, T},
	{"attention.l2q_proj.weight", HF_Q_B_PROJ, MS_ROPE_INPLACE, I},
	{"attention.kv2l_latent_kv.weight", HF_KV_A_PROJ, MS_LATENT, T},
	{"attention.kv2l_k_pe.weight", HF_KV_A_PROJ, MS_ROPE, T},
	{"attention.kv2l.weight", HF_KV_A_PROJ, MS_ROPE_INPLACE, I},
	{"attention.lkv2kv_k_nope.weight", HF_KV_B_PROJ, MS_NOPE, T | I},
	{"attention.lkv2kv_v.weight", HF_KV_B_PROJ, MS_V, T | I},
	{"attention.q_proj.weight", HF_Q_PROJ, MS_WHOLE, T | I},
	{"attention.q2l_proj.weight", HF_Q_A_PROJ, MS_WHOLE, T | I},
	{"attention.wo.weight", HF_O_PROJ, MS_WHOLE, T | I},
	{"attention.lq_norm.weight", HF_Q_A_NORM, MS_WHOLE, T | I},
	{"attention.lkv_norm.weight", HF_KV_A_NORM, MS_WHOLE, T | I},
	{"attention_norm.weight", HF_INPUT_NORM, MS_WHOLE, T | I},
	{"ffn_norm.weight", HF_POST_NORM, MS_WHOLE, T | I},
	{"feed_forward.w1.weight", HF_MLP_GATE, MS_WHOLE, T | I},
	{"feed_forward.w3.weight", HF_MLP_UP, MS_WHOLE, T | I},
	{"feed_forward.w2.weight", HF_MLP_DOWN, MS_WHOLE, T | I},
	{"feed_forward.routed_experts.router.dense.weight", HF_ROUTER, MS_WHOLE, T | I},
	{"feed_forward.routed_experts.router.router.topk_bias", HF_ROUTER_BIAS, MS_WHOLE, T | I},
	{"feed_forward.routed_experts.router.e_score_correction_bias", HF_ROUTER_BIAS, MS_WHOLE, I},
	{"feed_forward.shared_experts.w1.weight", HF_SHARED_GATE, MS_WHOLE, T | I},
	{"feed_forward.shared_experts.w3.weight", HF_SHARED_UP, MS_WHOLE, T | I},
	{"feed_forward.shared_experts.w2.weight", HF_SHARED_DOWN, MS_WHOLE, T | I},
	{"feed_forward.routed_experts.ffn.w1.weight", HF_EXPERT_GATE, MS_STACKED, T | I},
	{"feed_forward.routed_experts.ffn.w3.weight", HF_EXPERT_UP, MS_STACKED, T | I},
	{"feed_forward.routed_experts.ffn.w2.weight", HF_EXPERT_DOWN, MS_STACKED, T | I},
	/* convert_weight.py --infer keeps an MTP layer's own tensors under the layer */
	{"tok_embeddings.weight", HF_MTP_EMBED, MS_WHOLE, I},
	{"enorm.weight", HF_MTP_ENORM, MS_WHOLE, I},
	{"hnorm.weight", HF_MTP_HNORM, MS_WHOLE, I},
	{"eh_proj.weight", HF_MTP_EH_PROJ, MS_WHOLE, I},
	{"shared_head.norm.weight", HF_MTP_HEAD_NORM, MS_WHOLE, I},
	{"shared_head.head.weight", HF_MTP_HEAD, MS_WHOLE, I},
};

static const struct global {
	const char *name;
	enum hf_role role;
} globals[] = {
	{"model.tok_embeddings.embedding_weight", HF_EMBED},
	{"model.norm_out.weight", HF_NORM},
	{"lm_head.weight", HF_LM_HEAD},
};

/* model.mtp_hidden_fusers.K. + suffix */
static const struct global fusers[] = {
	{"norm_emb.weight", HF_MTP_ENORM},
	{"norm.weight", HF_MTP_HNORM},
	{"dense.weight", HF_MTP_EH_PROJ},
};

const size_t ms_nrules = sizeof ms_rules / sizeof *ms_rules;

/* A decimal without leading zeros (as the writers spell them), then `end`. */
static int parse_index(const char **p, char end, int *out)
{
	const char *s = *p;
	long v = 0;
	if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (*s - '0');
		if (v > 1000000)
			return -1;
	}
	if (*s != end)
		return -1;
	*out = (int)v;
	*p = s + (end ? 1 : 0);
	return 0;
}

int ms_parse(const char *name, enum ms_layout l, struct ms_name *out)
{
	struct ms_name n = {.layer = -1, .mtp = -1, .part = MS_WHOLE};
	for (size_t i = 0; i < sizeof globals / sizeof *globals; i++)
		if (strcmp(name, globals[i].name) == 0) {
			n.role = globals[i].role;
			*out = n;
			return 0;
		}
	const char *p = name;
	if (strncmp(p, FUSER_PREFIX, strlen(FUSER_PREFIX)) == 0) {
		p += strlen(FUSER_PREFIX);
		if (parse_index(&p, '.', &n.mtp))
			return -1;
		for (size_t i = 0; i < sizeof fusers / sizeof *fusers; i++)
			if (strcmp(p, fusers[i].name) == 0) {
				n.role = fusers[i].role;
				*out = n;
				return 0;
			}
		return -1;
	}
	if (strncmp(p, MTP_NORM_PREFIX, strlen(MTP_NORM_PREFIX)) == 0) {
		p += strlen(MTP_NORM_PREFIX);
		if (parse_index(&p, '.', &n.mtp) || strcmp(p, "weight") != 0)
			return -1;
		n.role = HF_MTP_HEAD_NORM;
		*out = n;
		return 0;
	}
	if (strncmp(p, LAYER_PREFIX, strlen(LAYER_PREFIX)) != 0)
		return -1;
	p += strlen(LAYER_PREFIX);
	if (parse_index(&p, '.', &n.layer))
		return -1;
	for (size_t i = 0; i < ms_nrules; i++)
		if ((ms_rules[i].in & (1u << l)) && strcmp(p, ms_rules[i].suffix) == 0) {
			n.role = ms_rules[i].role;
			n.part = ms_rules[i].part;
			*out = n;
			return 0;
		}
	return -1;
}

long ms_layer_of(const char *name)
{
	for (const char *p = strstr(name, "layers."); p; p = strstr(p + 1, "layers.")) {
		const char *d = p + strlen("layers.");
		if (!isdigit((unsigned char)*d))
			continue;
		long v = 0;
		for (; isdigit((unsigned char)*d); d++)
			v = v < 100000000 ? v * 10 + (*d - '0') : v;
		return v;
	}
	return -1;
}

/* ---- rope rows ---- */

uint64_t ms_rope_row(uint64_t j, uint64_t rope)
{
	return j < rope / 2 ? 2 * j : 2 * (j - rope / 2) + 1;
}

#define PERM_MAX (1u << 20)

static pthread_mutex_t perm_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t rope;
	uint32_t *perm, *order;
} perms[16];

/* The tables for rope, made once (NULL when rope is odd, 0 or too large, or too many
 * different sizes were asked for). */
static const uint32_t *table(uint64_t rope, bool order)
{
	const uint32_t *r = NULL;
	if (rope == 0 || rope % 2 || rope > PERM_MAX)
		return NULL;
	pthread_mutex_lock(&perm_mu);
	size_t k = 0;
	while (k < sizeof perms / sizeof *perms && perms[k].perm && perms[k].rope != rope)
		k++;
	if (k < sizeof perms / sizeof *perms) {
		if (!perms[k].perm) {
			uint32_t *p = xmalloc(rope * sizeof *p), *o = xmalloc(rope * sizeof *o);
			for (uint64_t j = 0; j < rope; j++) {
				o[j] = (uint32_t)ms_rope_row(j, rope);
				p[o[j]] = (uint32_t)j;
			}
			perms[k].rope = rope;
			perms[k].perm = p;
			perms[k].order = o;
		}
		r = order ? perms[k].order : perms[k].perm;
	}
	pthread_mutex_unlock(&perm_mu);
	return r;
}

const uint32_t *ms_rope_perm(uint64_t rope) { return table(rope, false); }
const uint32_t *ms_rope_order(uint64_t rope) { return table(rope, true); }

/* ---- views ---- */

static char *map_path(const char *path)
{
	return path_join(path, MS_MAP_NAME);
}

static bool is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* Which MindSpore layout the names of param_name_map.json (or the shard names) say:
 * MS_TRAIN, MS_INFER, or -1. */
static int detect_kind(const char *path)
{
	if (!is_dir(path))
		return -1;
	char *mp = map_path(path);
	struct json_doc *d = NULL;
	int kind = -1;
	if (exists(mp) && json_load(&d, mp, 0) < 0) {
		kind = MS_TRAIN; /* a map that cannot be read (a FIFO, bad JSON): opening it says why */
	} else if (d && json_root(d)->type == JSON_OBJECT) {
		for (const struct json *m = json_kid(json_root(d)); m && kind < 0; m = json_next(m)) {
			struct ms_name n;
			if (ms_parse(json_key(m), MS_TRAIN, &n) == 0 && (n.part == MS_NOPE || n.part == MS_ROPE) &&
			    n.role != HF_KV_B_PROJ)
				kind = MS_TRAIN;
			else if (ms_parse(json_key(m), MS_INFER, &n) == 0 && n.part == MS_ROPE_INPLACE)
				kind = MS_INFER;
		}
		if (kind < 0)
			kind = MS_TRAIN; /* a map without attention tensors: names alike in both */
	} else {
		char *g = path_join(path, "general.safetensors"), *l0 = path_join(path, "layer_0.safetensors");
		char *m0 = path_join(path, "model_layer_0.safetensors");
		if (exists(g) || exists(l0) || exists(m0))
			kind = MS_INFER;
		free(g);
		free(l0);
		free(m0);
	}
	json_free(d);
	err_clear();
	free(mp);
	return kind;
}

static bool detect_train(const char *path) { return detect_kind(path) == MS_TRAIN; }
static bool detect_infer(const char *path) { return detect_kind(path) == MS_INFER; }

struct parts {
	const struct ckpt_tensor *q_nope, *q_rope, *q_whole;
	const struct ckpt_tensor *kv_latent, *kv_rope, *kv_whole;
	const struct ckpt_tensor *kvb_nope, *kvb_v;
};

/* A stored tensor seen with another shape than its header's (same bytes). */
struct fake {
	struct st_tensor t;
	uint64_t shape[3];
};

struct msview {
	struct view *v;
	struct ckpt *c;
	enum ms_layout kind;
	bool force_transposed;
	int flags;
	size_t nfake;
	struct fake *fake;
	size_t nlayers;
	struct parts *lp;
};

static void fold(const struct st_tensor *t, uint64_t *rows, uint64_t *cols)
{
	*rows = 1;
	*cols = t->ndim ? t->shape[t->ndim - 1] : 1;
	for (unsigned i = 0; i + 1 < t->ndim; i++)
		*rows *= t->shape[i];
}

static uint64_t rows_of(const struct ckpt_tensor *t)
{
	uint64_t r, c;
	fold(t->t, &r, &c);
	return r;
}

static uint64_t cols_of(const struct ckpt_tensor *t)
{
	uint64_t r, c;
	fold(t->t, &r, &c);
	return c;
}

/* A problem with the checkpoint: recorded when lenient, else the error (returns -1). */
static int problem(struct msview *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int problem(struct msview *m, const char *fmt, ...)
{
	char msg[ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!(m->flags & VIEW_LENIENT))
		return err_set("%s", msg);
	view_problem(m->v, "%s", msg);
	return 0;
}

static void add_piece(struct vtensor *vt, const struct ckpt_tensor *t, uint64_t sr, uint64_t dr, uint64_t nr,
		      const uint32_t *perm)
{
	struct vpiece *p = vtensor_add_piece(vt);
	*p = (struct vpiece){.f = t->shard->st, .t = t->t, .sr = sr, .dr = dr, .nr = nr, .nc = vt->cols, .perm = perm};
}

static const char *hf_name_of(enum hf_role role, int layer, int expert, char *buf, size_t size)
{
	struct hf_name n = {.role = role, .layer = layer, .expert = expert};
	int len = hf_format(buf, size, &n);
	if (len < 0 || (size_t)len >= size)
		snprintf(buf, size, "?");
	return buf;
}

/* The attention sizes of layer L: from config.json when there is one, else from the
 * shapes; either way every stored part must fit them. */
static int layer_dims(struct msview *m, int L, struct ms_dims *d, bool *ok)
{
	const struct parts *p = &m->lp[L];
	const struct view *v = m->v;
	char q[ERR_QUOTE];
	*ok = false;
	memset(d, 0, sizeof *d);
	const struct ckpt_tensor *kvb = p->kvb_nope ? p->kvb_nope : p->kvb_v;
	if (v->cfg) {
		d->heads = (uint64_t)v->cfg->num_attention_heads;
		d->nope = (uint64_t)v->cfg->qk_nope_head_dim;
		d->rope = (uint64_t)v->cfg->qk_rope_head_dim;
		d->v = (uint64_t)v->cfg->v_head_dim;
		d->kv_rank = (uint64_t)v->cfg->kv_lora_rank;
	} else {
		d->kv_rank = p->kv_latent ? rows_of(p->kv_latent) : kvb ? cols_of(kvb) : 0;
		if (p->kv_rope)
			d->rope = rows_of(p->kv_rope);
		else if (p->kv_whole && rows_of(p->kv_whole) > d->kv_rank && d->kv_rank)
			d->rope = rows_of(p->kv_whole) - d->kv_rank;
		if (d->rope) {
			if (p->q_rope)
				d->heads = rows_of(p->q_rope) / d->rope;
			else if (p->q_whole && p->kvb_nope && rows_of(p->q_whole) > rows_of(p->kvb_nope))
				d->heads = (rows_of(p->q_whole) - rows_of(p->kvb_nope)) / d->rope;
		}
		if (d->heads) {
			d->nope = p->kvb_nope ? rows_of(p->kvb_nope) / d->heads : p->q_nope ? rows_of(p->q_nope) / d->heads : 0;
			d->v = p->kvb_v ? rows_of(p->kvb_v) / d->heads : 0;
		}
	}
	struct {
		const struct ckpt_tensor *t;
		uint64_t rows;
		const char *what;
	} need[] = {
		{p->q_nope, d->heads * d->nope, "num_attention_heads x qk_nope_head_dim"},
		{p->q_rope, d->heads * d->rope, "num_attention_heads x qk_rope_head_dim"},
		{p->q_whole, d->heads * (d->nope + d->rope), "num_attention_heads x (qk_nope_head_dim + qk_rope_head_dim)"},
		{p->kv_latent, d->kv_rank, "kv_lora_rank"},
		{p->kv_rope, d->rope, "qk_rope_head_dim"},
		{p->kv_whole, d->kv_rank + d->rope, "kv_lora_rank + qk_rope_head_dim"},
		{p->kvb_nope, d->heads * d->nope, "num_attention_heads x qk_nope_head_dim"},
		{p->kvb_v, d->heads * d->v, "num_attention_heads x v_head_dim"},
	};
	bool fits = d->rope && d->rope % 2 == 0 && d->rope <= PERM_MAX;
	for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
		if (!need[i].t || (fits && rows_of(need[i].t) == need[i].rows))
			continue;
		char shape[ST_SHAPE_LEN];
		st_shape_str(need[i].t->t->ndim, need[i].t->t->shape, shape, sizeof shape);
		if (!fits)
			return problem(m, "%s: tensor %s %s: cannot tell the attention head sizes of layer %d%s",
				       need[i].t->shard->path, err_quote(need[i].t->name, q), shape, L,
				       v->cfg ? " from config.json" : " from the shapes");
		return problem(m, "%s: tensor %s %s: %" PRIu64 " rows, but %s is %" PRIu64 " (%s)", need[i].t->shard->path,
			       err_quote(need[i].t->name, q), shape, rows_of(need[i].t), need[i].what, need[i].rows,
			       v->cfg ? "config.json" : "from the other tensors' shapes");
	}
	*ok = fits;
	return 0;
}

/* Two stored halves of one tensor must be as wide as each other: -1 (a problem recorded
 * when lenient) otherwise. */
static int widths(struct msview *m, const struct ckpt_tensor *a, const struct ckpt_tensor *b)
{
	char q1[ERR_QUOTE], q2[ERR_QUOTE], s1[ST_SHAPE_LEN], s2[ST_SHAPE_LEN];
	if (cols_of(a) == cols_of(b))
		return 0;
	problem(m, "%s: tensors %s %s and %s %s are parts of one tensor but have different widths", a->shard->path,
		err_quote(a->name, q1), st_shape_str(a->t->ndim, a->t->shape, s1, sizeof s1), err_quote(b->name, q2),
		st_shape_str(b->t->ndim, b->t->shape, s2, sizeof s2));
	return -1;
}

static int build_attention(struct msview *m, int L)
{
	const struct parts *p = &m->lp[L];
	struct ms_dims d;
	bool ok;
	char name[256];
	if (!p->q_nope && !p->q_rope && !p->q_whole && !p->kv_latent && !p->kv_rope && !p->kv_whole && !p->kvb_nope &&
	    !p->kvb_v)
		return 0;
	/* halves first: a lone half says more than the sizes it leaves unknown */
	const struct {
		const struct ckpt_tensor *a, *b;
		const char *name_a, *name_b;
	} pairs[] = {{p->q_nope, p->q_rope, "l2q_nope_proj", "l2q_pe_proj"},
		     {p->kv_latent, p->kv_rope, "kv2l_latent_kv", "kv2l_k_pe"},
		     {p->kvb_nope, p->kvb_v, "lkv2kv_k_nope", "lkv2kv_v"}};
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
		if (!pairs[i].a != !pairs[i].b) {
			const struct ckpt_tensor *have = pairs[i].a ? pairs[i].a : pairs[i].b;
			char q[ERR_QUOTE];
			if (problem(m, "%s: tensor %s has no %s beside it", have->shard->path, err_quote(have->name, q),
				    pairs[i].a ? pairs[i].name_b : pairs[i].name_a))
				return -1;
			return 0;
		}
	if (layer_dims(m, L, &d, &ok))
		return -1;
	if (!ok)
		return 0;
	const uint32_t *perm = ms_rope_perm(d.rope);
	uint64_t qh = d.nope + d.rope, kvh = d.nope + d.v;
	bool train = m->kind == MS_TRAIN;
	/* q_b_proj: per head its nope rows, then its rope rows (MindSpore order) */
	const struct ckpt_tensor *a = train ? p->q_nope : p->q_whole, *b = train ? p->q_rope : p->q_whole;
	if (a && widths(m, a, b) == 0) {
		uint64_t shape[2] = {d.heads * qh, cols_of(a)};
		struct vtensor *vt = view_add(m->v, hf_name_of(HF_Q_B_PROJ, L, -1, name, sizeof name), 2, shape);
		for (uint64_t h = 0; h < d.heads; h++) {
			add_piece(vt, a, train ? h * d.nope : h * qh, h * qh, d.nope, NULL);
			add_piece(vt, b, train ? h * d.rope : h * qh + d.nope, h * qh + d.nope, d.rope, perm);
		}
	} else if (a && !(m->flags & VIEW_LENIENT)) {
		return -1;
	}
	/* kv_a_proj_with_mqa: the latent rows, then the rope rows (MindSpore order) */
	a = train ? p->kv_latent : p->kv_whole, b = train ? p->kv_rope : p->kv_whole;
	if (a && widths(m, a, b) == 0) {
		uint64_t shape[2] = {d.kv_rank + d.rope, cols_of(a)};
		struct vtensor *vt = view_add(m->v, hf_name_of(HF_KV_A_PROJ, L, -1, name, sizeof name), 2, shape);
		add_piece(vt, a, 0, 0, d.kv_rank, NULL);
		add_piece(vt, b, train ? 0 : d.kv_rank, d.kv_rank, d.rope, perm);
	} else if (a && !(m->flags & VIEW_LENIENT)) {
		return -1;
	}
	/* kv_b_proj: per head its nope rows, then its v rows */
	a = p->kvb_nope, b = p->kvb_v;
	if (a && widths(m, a, b) == 0) {
		uint64_t shape[2] = {d.heads * kvh, cols_of(a)};
		struct vtensor *vt = view_add(m->v, hf_name_of(HF_KV_B_PROJ, L, -1, name, sizeof name), 2, shape);
		for (uint64_t h = 0; h < d.heads; h++) {
			add_piece(vt, a, h * d.nope, h * kvh, d.nope, NULL);
			add_piece(vt, b, h * d.v, h * kvh + d.nope, d.v, NULL);
		}
	} else if (a && !(m->flags & VIEW_LENIENT)) {
		return -1;
	}
	return 0;
}

/* Whether an inference checkpoint's stacked experts hold [E, in, out] in their bytes.
 * train2infer swaps the shape with a numpy transpose that, since safetensors 0.8 writes an
 * array's memory as it lies, leaves the bytes in training order [E, out, in]: so the
 * train2infer spelling is read in training order unless the file says otherwise (our
 * --transpose-experts) or the layout is named mindspore-infer-transposed.  convert_weight.py
 * --infer goes through MindSpore's writer and really transposes. */
static bool experts_transposed(const struct msview *m, const struct ckpt_tensor *t)
{
	const char *base = strrchr(t->shard->name, '/');
	base = base ? base + 1 : t->shard->name;
	const char *mark = st_meta_get(t->shard->st, MS_EXPERTS_META);
	return m->force_transposed || strncmp(base, "model_layer_", strlen("model_layer_")) == 0 ||
	       (mark && strcmp(mark, MS_EXPERTS_TRANSPOSED) == 0);
}

/* Routed experts [E, out, in] (training) or [E, in, out] (inference): one canonical
 * tensor per expert. */
static int build_experts(struct msview *m, const struct ckpt_tensor *t, const struct ms_name *n)
{
	char name[256], q[ERR_QUOTE], shape[ST_SHAPE_LEN];
	const struct st_tensor *s = t->t;
	if (s->ndim != 3)
		return problem(m, "%s: tensor %s %s: stacked experts need 3 dimensions", t->shard->path,
			       err_quote(t->name, q), st_shape_str(s->ndim, s->shape, shape, sizeof shape));
	bool transposed = m->kind == MS_INFER && experts_transposed(m, t);
	if (m->kind == MS_INFER && !transposed) {
		/* the bytes are [E, out, in]: read them through a stand-in with that shape (the
		 * stand-ins were allocated for every stacked tensor: they do not move) */
		struct fake *f = &m->fake[m->nfake++];
		f->t = *s;
		f->shape[0] = s->shape[0];
		f->shape[1] = s->shape[2];
		f->shape[2] = s->shape[1];
		f->t.shape = f->shape;
		s = &f->t;
	}
	uint64_t E = s->shape[0], a = s->shape[1], b = s->shape[2];
	for (uint64_t e = 0; e < E; e++) {
		uint64_t cshape[2] = {transposed ? b : a, transposed ? a : b};
		struct vtensor *vt = view_add(m->v, hf_name_of(n->role, n->layer, (int)e, name, sizeof name), 2, cshape);
		struct vpiece *p = vtensor_add_piece(vt);
		*p = (struct vpiece){.f = t->shard->st, .t = s, .sr = e * a, .nr = cshape[0], .nc = cshape[1],
				     .transposed = transposed};
	}
	return 0;
}

/* param_name_map.json, when there is one, must say where every tensor is. */
static int check_map(struct msview *m, const char *path)
{
	char *mp = map_path(path);
	struct json_doc *d = NULL;
	bool *named = NULL;
	char q[ERR_QUOTE];
	int rc = 0;
	if (!is_dir(path) || !exists(mp))
		goto out;
	if (json_load(&d, mp, 0)) {
		rc = problem(m, "%s", err_last());
		goto out;
	}
	const struct json *root = json_root(d);
	if (root->type != JSON_OBJECT) {
		rc = problem(m, "%s: not a JSON object of tensor names and file names", mp);
		goto out;
	}
	/* which tensors the map names: a lookup in the map per tensor would be quadratic */
	named = xcalloc(m->c->n + 1, sizeof *named);
	for (const struct json *e = json_kid(root); e && !rc; e = json_next(e)) {
		const struct ckpt_tensor *t = ckpt_find(m->c, json_key(e));
		if (t)
			named[t - m->c->t] = true;
		if (e->type != JSON_STRING)
			rc = problem(m, "%s: the file of tensor %s is not a string", mp, err_quote(json_key(e), q));
		else if (!t)
			rc = problem(m, "%s: tensor %s is mapped to %s, which does not hold it", mp, err_quote(json_key(e), q), json_str(e));
		else if (strcmp(t->shard->name, json_str(e)) != 0)
			rc = problem(m, "%s: tensor %s is mapped to %s, but it is in %s", mp, err_quote(json_key(e), q), json_str(e),
				     t->shard->name);
	}
	for (size_t i = 0; i < m->c->n && !rc; i++)
		if (!named[i])
			rc = problem(m, "%s: tensor %s is not in %s", m->c->t[i].shard->path,
				     err_quote(m->c->t[i].name, q), MS_MAP_NAME);
out:
	free(named);
	json_free(d);
	free(mp);
	return rc;
}

/* What a MindSpore checkpoint never stores: the MTP layers' embed_tokens and shared_head
 * (the training layout drops them; they are the main model's). */
static bool ms_omits(const struct view *v, const char *name)
{
	struct hf_name n;
	if (v->layout != LAYOUT_MS_TRAIN && v->layout != LAYOUT_MS_INFER)
		return false;
	if (hf_parse(name, &n) || n.scale)
		return false;
	return n.role == HF_MTP_EMBED || n.role == HF_MTP_HEAD || n.role == HF_MTP_HEAD_NORM;
}

static void msview_free(void *p)
{
	struct msview *m = p;
	ckpt_close(m->c);
	free(m->lp);
	free(m->fake);
	free(m);
}

static int ms_open(struct view **out, const char *path, int flags, enum ms_layout kind, bool force_transposed)
{
	struct ckpt *c;
	char q[ERR_QUOTE], name[256];
	*out = NULL;
	if (ckpt_open(&c, path, flags & VIEW_LENIENT ? CKPT_LENIENT : 0))
		return -1;
	struct msview *m = xcalloc(1, sizeof *m);
	m->c = c;
	m->kind = kind;
	m->force_transposed = force_transposed;
	m->flags = flags;
	struct view *v = view_new(kind == MS_TRAIN ? LAYOUT_MS_TRAIN : LAYOUT_MS_INFER,
				  kind == MS_TRAIN ? "mindspore-train" : "mindspore-infer", path);
	m->v = v;
	v->scale_name = qscheme_hf_scale_name;
	v->owner = m;
	v->free_owner = msview_free;
	v->omits = ms_omits;
	ckpt_describe(c, v);
	if (c->config) {
		if ((v->cfg = ds_config_new(json_root(c->config), c->config_path)))
			;
		else if (problem(m, "%s", err_last()))
			goto fail;
	}
	if (check_map(m, path))
		goto fail;
	/* layers first: the MTP fusers are numbered after them */
	long maxlayer = -1, maxmtp = -1;
	size_t nstacked = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct ms_name n;
		if (ms_parse(c->t[i].name, kind, &n) == 0) {
			maxlayer = n.layer > maxlayer ? n.layer : maxlayer;
			maxmtp = n.mtp > maxmtp ? n.mtp : maxmtp;
			nstacked += n.part == MS_STACKED;
		}
	}
	m->fake = xcalloc(nstacked + 1, sizeof *m->fake);
	m->nlayers = (size_t)(maxlayer + 1);
	m->lp = xcalloc(m->nlayers + 1, sizeof *m->lp);
	long nhidden = v->cfg && v->cfg->num_hidden_layers >= 0 ? v->cfg->num_hidden_layers : maxlayer - maxmtp;
	for (size_t i = 0; i < c->n; i++) {
		const struct ckpt_tensor *t = &c->t[i];
		struct ms_name n;
		if (ms_parse(t->name, kind, &n)) {
			view_add_whole(v, t->name, t->shard->st, t->t, NULL, NULL, 0, 0);
			continue;
		}
		struct parts *p = n.layer >= 0 ? &m->lp[n.layer] : NULL;
		switch (n.part) {
		case MS_WHOLE: {
			int layer = n.mtp >= 0 ? (int)(nhidden + n.mtp) : n.layer;
			if (n.mtp >= 0 && nhidden < 0) {
				if (problem(m, "%s: tensor %s: cannot tell which layer it belongs to", t->shard->path,
					    err_quote(t->name, q)))
					goto fail;
				continue;
			}
			view_add_whole(v, hf_name_of(n.role, layer, -1, name, sizeof name), t->shard->st, t->t, NULL,
				       NULL, 0, 0);
			break;
		}
		case MS_STACKED:
			if (build_experts(m, t, &n))
				goto fail;
			break;
		case MS_NOPE:
			*(n.role == HF_Q_B_PROJ ? &p->q_nope : &p->kvb_nope) = t;
			break;
		case MS_ROPE:
			*(n.role == HF_Q_B_PROJ ? &p->q_rope : &p->kv_rope) = t;
			break;
		case MS_V:
			p->kvb_v = t;
			break;
		case MS_LATENT:
			p->kv_latent = t;
			break;
		case MS_ROPE_INPLACE:
			*(n.role == HF_Q_B_PROJ ? &p->q_whole : &p->kv_whole) = t;
			break;
		}
	}
	for (size_t L = 0; L < m->nlayers; L++)
		if (build_attention(m, (int)L))
			goto fail;
	if (view_finish(v))
		goto fail;
	*out = v;
	return 0;
fail:
	view_free(v);
	return -1;
}

static bool detect_never(const char *path)
{
	(void)path;
	return false;
}

static int open_train(struct view **v, const char *path, int flags) { return ms_open(v, path, flags, MS_TRAIN, false); }
static int open_infer(struct view **v, const char *path, int flags) { return ms_open(v, path, flags, MS_INFER, false); }
static int open_infer_t(struct view **v, const char *path, int flags)
{
	return ms_open(v, path, flags, MS_INFER, true);
}

const struct layout_ops layout_mstrain = {"mindspore-train", detect_train, open_train};
const struct layout_ops layout_msinfer = {"mindspore-infer", detect_infer, open_infer};
const struct layout_ops layout_msinfer_t = {"mindspore-infer-transposed", detect_never, open_infer_t};
