/* MindSpore training layout -> inference layout, as deepseek3_train2infer.py does it
 * (shared/spec/mindspore-upstream.md), planned as a conversion job:
 *  - general.safetensors: every name without "layers.N", in param_name_map.json's order;
 *  - layer_L.safetensors: l2q_proj (each head's l2q_nope_proj rows, then its l2q_pe_proj
 *    rows: a gather), kv2l (kv2l_latent_kv, then kv2l_k_pe), for MoE layers the stacked
 *    experts with their last two dimensions swapped, then every other name containing
 *    "layers.L." in the map's order, copied;
 *  - param_name_map.json (indent 4): general names, then layer by layer in that order.
 * The experts: upstream swaps the shape with a numpy transpose that safetensors 0.8 writes
 * from the array's memory as it lies, so their bytes stay in training order (the golden
 * output shows it); o->transpose_experts moves the bytes as the script means to, and marks
 * the file so views read it right (mindspore.c).
 * Unlike upstream, every option is checked against the shapes before anything is written. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert_src.h"
#include "ds_config.h"
#include "err.h"
#include "jsonw.h"
#include "mindspore.h"
#include "nameset.h"
#include "out.h"

struct entry {
	const char *name;
	const char *file;        /* where the map says it is */
	long layer;              /* ms_layer_of */
};

struct t2i_priv {
	size_t n;
	struct entry *e;         /* the input's tensors, in the map's order */
	struct json_doc *map;
	size_t nnames;
	char **names;            /* names made here (l2q_proj, kv2l) */
	size_t ngather, ntrans;
	struct cv_gather *gather;
	struct cv_transpose *trans;
	size_t nout;             /* the new map: name -> file, in order */
	const char **out_name;
	const char **out_file;
};

static const char *keep_name(struct t2i_priv *q, char *s)
{
	q->names = xgrow(q->names, q->nnames, sizeof *q->names);
	q->names[q->nnames++] = s;
	return s;
}

static void map_put(struct t2i_priv *q, const char *name, const char *file)
{
	/* a name with two "layers.N." goes to both files, and the map keeps the last (a dict
	 * update); only such names are looked for */
	if (strstr(strstr(name, "layers.") ? strstr(name, "layers.") + 1 : name, "layers."))
		for (size_t i = 0; i < q->nout; i++)
			if (strcmp(q->out_name[i], name) == 0) {
				q->out_file[i] = file;
				return;
			}
	q->out_name = xgrow(q->out_name, q->nout, sizeof *q->out_name);
	q->out_file = xgrow(q->out_file, q->nout, sizeof *q->out_file);
	q->out_name[q->nout] = name;
	q->out_file[q->nout++] = file;
}

static const char *out_name(const void *items, size_t i, size_t *len)
{
	const char *s = ((const struct cv_tensor *)items)[i].name;
	*len = strlen(s);
	return s;
}

static void add_list(char ***list, size_t *n, const char *s)
{
	*list = xgrow(*list, *n, sizeof **list);
	(*list)[(*n)++] = xstrdup(s);
}

/* The input's tensors in param_name_map.json's order (all tensors in name order when the
 * directory has no map), each checked to be where the map says. */
static int read_map(struct ms_t2i *p, const char *dir)
{
	struct t2i_priv *q = p->priv;
	struct ckpt *c = p->c;
	char *mp = path_join(dir, MS_MAP_NAME), qn[ERR_QUOTE];
	bool *named = NULL;
	int rc = -1;
	if (!q->map) {
		q->e = xcalloc(c->n + 1, sizeof *q->e);
		for (size_t i = 0; i < c->n; i++)
			q->e[q->n++] = (struct entry){c->t[i].name, c->t[i].shard->name, ms_layer_of(c->t[i].name)};
		rc = 0;
		goto out;
	}
	const struct json *root = json_root(q->map);
	if (root->type != JSON_OBJECT) {
		err_set("%s: not a JSON object of tensor names and file names", mp);
		goto out;
	}
	q->e = xcalloc(root->n + 1, sizeof *q->e);
	/* which tensors the map names: a lookup in the map per tensor would be quadratic */
	named = xcalloc(c->n + 1, sizeof *named);
	for (const struct json *m = json_kid(root); m; m = json_next(m)) {
		const struct ckpt_tensor *t = ckpt_find(c, json_key(m));
		if (m->type != JSON_STRING) {
			err_set("%s: the file of tensor %s is not a string", mp, err_quote(json_key(m), qn));
			goto out;
		}
		if (!t || strcmp(t->shard->name, json_str(m)) != 0) {
			err_set("%s: tensor %s is mapped to %s, which does not hold it", mp, err_quote(json_key(m), qn), json_str(m));
			goto out;
		}
		named[t - c->t] = true;
		q->e[q->n++] = (struct entry){t->name, t->shard->name, ms_layer_of(t->name)};
	}
	for (size_t i = 0; i < c->n; i++)
		if (!named[i])
			add_list(&p->ignored, &p->nignored, c->t[i].name);
	rc = 0;
out:
	free(named);
	free(mp);
	return rc;
}

static const struct ckpt_tensor *find_layer(const struct ms_t2i *p, long L, const char *suffix, char *name, size_t size)
{
	snprintf(name, size, "model.layers.%ld.%s", L, suffix);
	return ckpt_find(p->c, name);
}

static uint64_t rows_of(const struct st_tensor *t)
{
	uint64_t r = 1;
	for (unsigned i = 0; i + 1 < t->ndim; i++)
		r *= t->shape[i];
	return r;
}

static uint64_t cols_of(const struct st_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

static const char *shape_of(const struct st_tensor *t, char *buf, size_t size)
{
	return st_shape_str(t->ndim, t->shape, buf, size);
}

/* "R rows, not A x B = P" unless R == A * B (B may be absent): the mismatch of options with
 * a shape; fit names the value that would fit. */
static int check_rows(const struct ckpt_tensor *t, const char *na, const struct ms_opt *a, const char *nb,
		      const struct ms_opt *b, const char *fit_name, uint64_t fit)
{
	char q[ERR_QUOTE], s[ST_SHAPE_LEN], more[96] = "";
	uint64_t R = rows_of(t->t), want = (uint64_t)a->v * (uint64_t)(b ? b->v : 1);
	if (R == want)
		return 0;
	if (fit)
		snprintf(more, sizeof more, "; the shapes fit %s %" PRIu64, fit_name, fit);
	if (!b)
		return err_set("%s: tensor %s %s: %" PRIu64 " rows, not %s %" PRId64 " (%s%s)", t->shard->path,
			       err_quote(t->name, q), shape_of(t->t, s, sizeof s), R, na, a->v, a->from, more);
	return err_set("%s: tensor %s %s: %" PRIu64 " rows, not %s %" PRId64 " x %s %" PRId64 " = %" PRIu64
		       " (%s from %s, %s from %s%s)",
		       t->shard->path, err_quote(t->name, q), shape_of(t->t, s, sizeof s), R, na, a->v, nb, b->v, want, na,
		       a->from, nb, b->from, more);
}

static int same_dtype(const struct ckpt_tensor *a, const struct ckpt_tensor *b)
{
	char q1[ERR_QUOTE], q2[ERR_QUOTE];
	if (a->t->dtype == b->t->dtype)
		return 0;
	return err_set("%s: tensors %s (%s) and %s (%s) are joined but have different dtypes", a->shard->path,
		       err_quote(a->name, q1), dt_name(a->t->dtype), err_quote(b->name, q2), dt_name(b->t->dtype));
}

static int width_match(const struct ckpt_tensor *a, const struct ckpt_tensor *b)
{
	char q1[ERR_QUOTE], q2[ERR_QUOTE], s1[ST_SHAPE_LEN], s2[ST_SHAPE_LEN];
	if (cols_of(a->t) == cols_of(b->t))
		return 0;
	return err_set("%s: tensors %s %s and %s %s are joined row-wise but have different widths", a->shard->path,
		       err_quote(a->name, q1), shape_of(a->t, s1, sizeof s1), err_quote(b->name, q2),
		       shape_of(b->t, s2, sizeof s2));
}

static struct cv_tensor *add_copy(struct cv_file *f, const struct ckpt_tensor *t)
{
	struct cv_tensor *o = cv_add_tensor(f, t->name, t->t->dtype, t->t->ndim, t->t->shape);
	o->copy = ckpt_bytes(t);
	o->in = o->copy;
	o->in_len = st_nbytes(t->t);
	return o;
}

static int missing(const char *dir, long L, const char *name, const char *why)
{
	char q[ERR_QUOTE];
	return err_set("%s: layer %ld has no tensor %s%s", dir, L, err_quote(name, q), why);
}

/* Layer L's attention: l2q_proj and kv2l. */
static int plan_attention(struct ms_t2i *p, const char *dir, long L, const struct ms_t2i_opts *o, struct cv_file *f,
			  bool *used)
{
	struct t2i_priv *q = p->priv;
	char n1[160], n2[160], n3[160], n4[160];
	const struct ckpt_tensor *nope = find_layer(p, L, "attention.l2q_nope_proj.weight", n1, sizeof n1);
	const struct ckpt_tensor *pe = find_layer(p, L, "attention.l2q_pe_proj.weight", n2, sizeof n2);
	const struct ckpt_tensor *kpe = find_layer(p, L, "attention.kv2l_k_pe.weight", n3, sizeof n3);
	const struct ckpt_tensor *lat = find_layer(p, L, "attention.kv2l_latent_kv.weight", n4, sizeof n4);
	const char *need[4] = {n1, n2, n4, n3};
	const struct ckpt_tensor *have[4] = {nope, pe, lat, kpe};
	for (int i = 0; i < 4; i++) {
		/* only what the map lists is read, as upstream */
		size_t k = 0;
		while (have[i] && k < q->n && strcmp(q->e[k].name, need[i]) != 0)
			k++;
		if (!have[i] || k == q->n)
			return missing(dir, L, need[i], "");
		used[k] = true;
	}
	for (int i = 0; i < 4; i++)
		if (dt_bits(have[i]->t->dtype) * cols_of(have[i]->t) % 8) {
			char q[ERR_QUOTE];
			return err_set("%s: tensor %s: its %s rows are not whole bytes and cannot be joined",
				       have[i]->shard->path, err_quote(have[i]->name, q), dt_name(have[i]->t->dtype));
		}
	/* kv2l_k_pe's rows are the rope dimension, l2q_pe_proj's rows heads x rope, l2q_nope_proj's
	 * rows heads x nope: every option is pinned by a shape */
	uint64_t rope = rows_of(kpe->t);
	uint64_t fit_heads = rows_of(pe->t) % (uint64_t)o->rope.v == 0 ? rows_of(pe->t) / (uint64_t)o->rope.v : 0;
	uint64_t fit_nope = rows_of(nope->t) % (uint64_t)o->heads.v == 0 ? rows_of(nope->t) / (uint64_t)o->heads.v : 0;
	if (check_rows(kpe, "qk_rope_head_dim", &o->rope, NULL, NULL, "qk_rope_head_dim", rope) ||
	    check_rows(pe, "num_heads", &o->heads, "qk_rope_head_dim", &o->rope, "num_heads", fit_heads) ||
	    check_rows(nope, "num_heads", &o->heads, "qk_nope_head_dim", &o->nope, "qk_nope_head_dim", fit_nope) ||
	    width_match(nope, pe) || width_match(lat, kpe) || same_dtype(nope, pe) || same_dtype(lat, kpe))
		return -1;
	uint64_t H = (uint64_t)o->heads.v, es_n = st_nbytes(nope->t) / (rows_of(nope->t) ? rows_of(nope->t) : 1),
		 es_p = st_nbytes(pe->t) / (rows_of(pe->t) ? rows_of(pe->t) : 1);
	/* each head: its nope rows, then its rope rows */
	struct cv_gather *g = &q->gather[q->ngather++];
	uint64_t hn = rows_of(nope->t) / H, hr = rows_of(pe->t) / H;
	for (uint64_t h = 0; h < H; h++) {
		cv_gather_add(g, ckpt_bytes(nope) + h * hn * es_n, hn * es_n);
		cv_gather_add(g, ckpt_bytes(pe) + h * hr * es_p, hr * es_p);
	}
	const char *name = keep_name(q, xasprintf("model.layers.%ld.attention.l2q_proj.weight", L));
	uint64_t shape[2] = {rows_of(nope->t) + rows_of(pe->t), cols_of(nope->t)};
	cv_tensor_gather(cv_add_tensor(f, name, nope->t->dtype, 2, shape), g);
	map_put(q, name, f->name);
	g = &q->gather[q->ngather++];
	cv_gather_add(g, ckpt_bytes(lat), st_nbytes(lat->t));
	cv_gather_add(g, ckpt_bytes(kpe), st_nbytes(kpe->t));
	name = keep_name(q, xasprintf("model.layers.%ld.attention.kv2l.weight", L));
	uint64_t kshape[2] = {rows_of(lat->t) + rows_of(kpe->t), cols_of(lat->t)};
	cv_tensor_gather(cv_add_tensor(f, name, lat->t->dtype, 2, kshape), g);
	map_put(q, name, f->name);
	return 0;
}

static const char *const expert_suffix[3] = {
	"feed_forward.routed_experts.ffn.w1.weight",
	"feed_forward.routed_experts.ffn.w2.weight",
	"feed_forward.routed_experts.ffn.w3.weight",
};

/* Layer L's routed experts: [E, a, b] stored as [E, b, a]. */
static int plan_experts(struct ms_t2i *p, const char *dir, long L, const struct ms_t2i_opts *o, struct cv_file *f,
			bool *used)
{
	struct t2i_priv *q = p->priv;
	char name[160], qn[ERR_QUOTE], s[ST_SHAPE_LEN];
	bool moe = L >= o->first_k_dense.v;
	for (int i = 0; i < 3; i++) {
		const struct ckpt_tensor *t = find_layer(p, L, expert_suffix[i], name, sizeof name);
		size_t k = 0;
		while (t && k < q->n && strcmp(q->e[k].name, name) != 0)
			k++;
		if (t && k == q->n)
			t = NULL;
		if (!moe) {
			if (t)
				return err_set("%s: tensor %s: layer %ld has routed experts, but first_k_dense_replace is "
					       "%" PRId64 " (%s), which makes it a dense layer",
					       t->shard->path, err_quote(name, qn), L, o->first_k_dense.v, o->first_k_dense.from);
			continue;
		}
		if (!t) {
			char why[160];
			snprintf(why, sizeof why, ", but first_k_dense_replace %" PRId64 " (%s) makes it a MoE layer",
				 o->first_k_dense.v, o->first_k_dense.from);
			return missing(dir, L, name, why);
		}
		if (t->t->ndim != 3)
			return err_set("%s: tensor %s %s: stacked experts need 3 dimensions", t->shard->path,
				       err_quote(name, qn), shape_of(t->t, s, sizeof s));
		used[k] = true;
		uint64_t shape[3] = {t->t->shape[0], t->t->shape[2], t->t->shape[1]};
		struct cv_tensor *ct = cv_add_tensor(f, t->name, t->t->dtype, 3, shape);
		if (o->transpose_experts) {
			unsigned bits = dt_bits(t->t->dtype);
			if (bits % 8)
				return err_set("%s: tensor %s: %s elements are not whole bytes and cannot be transposed",
					       t->shard->path, err_quote(name, qn), dt_name(t->t->dtype));
			struct cv_transpose *x = &q->trans[q->ntrans++];
			*x = (struct cv_transpose){ckpt_bytes(t), t->t->shape[0], t->t->shape[1], t->t->shape[2], bits / 8};
			cv_tensor_transpose(ct, x);
			if (!f->has_meta)
				cv_set_meta(f, MS_EXPERTS_META, MS_EXPERTS_TRANSPOSED);
		} else {
			ct->copy = ckpt_bytes(t);
			ct->in = ct->copy;
			ct->in_len = st_nbytes(t->t);
		}
		map_put(q, t->name, f->name);
	}
	return 0;
}

/* What upstream's worker for layer L has consumed (set to None in its copy of the map):
 * the attention halves it joined.  The experts are in the file already. */
static bool is_consumed(long L, const char *name)
{
	static const char *const halves[] = {"attention.l2q_nope_proj.weight", "attention.l2q_pe_proj.weight",
					     "attention.kv2l_k_pe.weight", "attention.kv2l_latent_kv.weight"};
	char n[160];
	for (size_t i = 0; i < sizeof halves / sizeof *halves; i++) {
		snprintf(n, sizeof n, "model.layers.%ld.%s", L, halves[i]);
		if (strcmp(n, name) == 0)
			return true;
	}
	return false;
}

static void render_map(struct ms_t2i *p)
{
	struct t2i_priv *q = p->priv;
	struct jw w;
	jw_init(&w, &p->map, 4, true);
	jw_obj(&w);
	for (size_t i = 0; i < q->nout; i++) {
		jw_kv_str(&w, q->out_name[i], q->out_file[i]);
	}
	jw_obj_end(&w);
}

int ms_t2i_plan(struct ms_t2i **out, const char *dir, const struct ms_t2i_opts *o)
{
	struct ckpt *c;
	struct json_doc *map = NULL;
	char *mp = path_join(dir, MS_MAP_NAME);
	*out = NULL;
	int bad = ckpt_open(&c, dir, 0);
	if (!bad && access(mp, F_OK) == 0 && json_load(&map, mp, 0)) {
		ckpt_close(c);
		bad = -1;
	}
	free(mp);
	return bad ? -1 : ms_t2i_plan_ckpt(out, c, map, o);
}

int ms_t2i_plan_ckpt(struct ms_t2i **out, struct ckpt *c, struct json_doc *map, const struct ms_t2i_opts *o)
{
	struct ms_t2i *p = xcalloc(1, sizeof *p);
	struct t2i_priv *q = p->priv = xcalloc(1, sizeof *q);
	const char *dir = c->dir;
	char lname[64], *mp = path_join(dir, MS_MAP_NAME);
	bool *used = NULL;
	*out = NULL;
	p->c = c;
	q->map = map;
	if (read_map(p, dir))
		goto fail;
	const struct ms_opt *bad = o->heads.v <= 0 ? &o->heads : o->nope.v < 0 ? &o->nope : o->rope.v <= 0 ? &o->rope : NULL;
	if (bad || o->first_k_dense.v < 0) {
		err_set("%s: option values must be positive (%s)", dir, bad ? bad->from : o->first_k_dense.from);
		goto fail;
	}
	long maxlayer = -1;
	for (size_t i = 0; i < q->n; i++) {
		struct ms_name n;
		maxlayer = q->e[i].layer > maxlayer ? q->e[i].layer : maxlayer;
		if (ms_parse(q->e[i].name, MS_TRAIN, &n))
			add_list(&p->unknown, &p->nunknown, q->e[i].name);
	}
	/* the layer count comes from the names: a hostile one must not size the tables */
	if (maxlayer >= CFG_MAX_LAYERS) {
		for (size_t i = 0; i < q->n; i++)
			if (q->e[i].layer == maxlayer) {
				char qn[ERR_QUOTE];
				err_set("%s: tensor %s: its layer number is over the limit of %d layers", dir,
					err_quote(q->e[i].name, qn), CFG_MAX_LAYERS);
				break;
			}
		goto fail;
	}
	p->nlayers = (size_t)(maxlayer + 1);
	q->gather = xcalloc(2 * p->nlayers + 1, sizeof *q->gather);
	q->trans = xcalloc(3 * p->nlayers + 1, sizeof *q->trans);
	used = xcalloc(q->n + 1, sizeof *used);
	/* general names first, as upstream writes the map */
	struct cv_file *gen = cv_add_file(&p->job, "general.safetensors", 0);
	for (size_t i = 0; i < q->n; i++)
		if (q->e[i].layer < 0) {
			add_copy(gen, ckpt_find(p->c, q->e[i].name));
			map_put(q, q->e[i].name, gen->name);
			used[i] = true;
			p->ngeneral++;
		}
	for (long L = 0; L < (long)p->nlayers; L++) {
		snprintf(lname, sizeof lname, "layer_%ld.safetensors", L);
		struct cv_file *f = cv_add_file(&p->job, lname, (int)L + 1);
		if (plan_attention(p, mp, L, o, f, used) || plan_experts(p, mp, L, o, f, used))
			goto fail;
		char key[64];
		snprintf(key, sizeof key, "layers.%ld.", L);
		/* what the attention and experts took, by name (a pass over them per tensor would
		 * be quadratic in a layer of many tensors; the names below are distinct) */
		struct nameset taken;
		nameset_init(&taken, f->n, out_name, f->t);
		for (size_t k = 0; k < f->n; k++)
			nameset_add(&taken, k);
		for (size_t i = 0; i < q->n; i++) {
			if (nameset_find(&taken, q->e[i].name, strlen(q->e[i].name)) >= 0 || !strstr(q->e[i].name, key) ||
			    is_consumed(L, q->e[i].name))
				continue;
			add_copy(f, ckpt_find(p->c, q->e[i].name));
			map_put(q, q->e[i].name, f->name);
			used[i] = true;
		}
		nameset_free(&taken);
	}
	for (size_t i = 0; i < q->n; i++)
		if (!used[i])
			add_list(&p->dropped, &p->ndropped, q->e[i].name);
	render_map(p);
	cv_add_side_bytes(&p->job, MS_MAP_NAME, p->map.p, p->map.len);
	/* beside weights that are not FP8, a config that does not declare them so */
	struct buf cfg = {0};
	if (p->c->config_path && config_text_unquantized(&cfg, p->c->config_path)) {
		buf_free(&cfg);
		goto fail;
	}
	if (p->c->config_path)
		cv_add_side_bytes(&p->job, "config.json", cfg.p, cfg.len);
	buf_free(&cfg);
	free(used);
	free(mp);
	*out = p;
	return 0;
fail:
	free(used);
	free(mp);
	ms_t2i_free(p);
	return -1;
}

void ms_t2i_free(struct ms_t2i *p)
{
	if (!p)
		return;
	struct t2i_priv *q = p->priv;
	cv_job_free(&p->job);
	for (size_t i = 0; q && i < q->ngather; i++)
		cv_gather_free(&q->gather[i]);
	if (q) {
		for (size_t i = 0; i < q->nnames; i++)
			free(q->names[i]);
		free(q->names);
		free(q->gather);
		free(q->trans);
		free(q->e);
		free(q->out_name);
		free(q->out_file);
		json_free(q->map);
		free(q);
	}
	for (size_t i = 0; i < p->nunknown; i++)
		free(p->unknown[i]);
	for (size_t i = 0; i < p->nignored; i++)
		free(p->ignored[i]);
	for (size_t i = 0; i < p->ndropped; i++)
		free(p->dropped[i]);
	free(p->unknown);
	free(p->ignored);
	free(p->dropped);
	buf_free(&p->map);
	ckpt_close(p->c);
	free(p);
}
