/* The DeepSeek model-parallel layout's rules as data: the renaming table, split dimensions,
 * expert ownership, file names, and the record of a sharding. */
#include "dsmp.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "jsonw.h"

/* The substring replacements applied to every name before the table, in order. */
static const char *const renames[][2] = {
	{"self_attn", "attn"},
	{"mlp", "ffn"},
	{"weight_scale_inv", "scale"},
	{"e_score_correction_bias", "bias"},
};

/* Every non-overlapping occurrence, left to right (Python's str.replace); from non-empty. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	struct buf b = {0};
	size_t n = strlen(from);
	for (const char *p; (p = strstr(s, from));) {
		buf_add(&b, s, (size_t)(p - s));
		buf_adds(&b, to);
		s = p + n;
	}
	buf_adds(&b, s);
	return b.p;
}

static void replace_in_place(char **s, const char *from, const char *to)
{
	char *r = replace_all(*s, from, to);
	free(*s);
	*s = r;
}

/* Part k counted from the end (1: the last) of a dotted name, as [*begin, *begin + *len);
 * false when there are fewer parts. */
static bool part_from_end(const char *s, unsigned k, const char **begin, size_t *len)
{
	const char *end = s + strlen(s);
	for (unsigned i = 1;; i++) {
		const char *b = end;
		while (b > s && b[-1] != '.')
			b--;
		if (i == k) {
			*begin = b;
			*len = (size_t)(end - b);
			return true;
		}
		if (b == s)
			return false;
		end = b - 1;
	}
}

static const struct mp_rule *rule_for_key(const struct mp_cut *cut, const char *key, size_t n)
{
	for (size_t i = 0; i < cut->n; i++)
		if (strlen(cut->rules[i].key) == n && memcmp(cut->rules[i].key, key, n) == 0)
			return &cut->rules[i];
	return NULL;
}

/* convert.py's renaming by one cut: 0, 1 (no message) when the cut has no entry for the
 * name's key, -1 with a message when a routed expert's number is not a number. */
static int place_by(struct dsmp_place *p, const struct mp_cut *cut, const char *hf_name, bool strict)
{
	char q[ERR_QUOTE];
	memset(p, 0, sizeof *p);
	p->dim = -1;
	char *s = xstrdup(strncmp(hf_name, "model.", 6) == 0 ? hf_name + 6 : hf_name);
	for (size_t i = 0; i < sizeof renames / sizeof *renames; i++)
		replace_in_place(&s, renames[i][0], renames[i][1]);
	const char *kb;
	size_t kn;
	const struct mp_rule *r = NULL;
	unsigned k = 2;
	for (const char *const *l = cut->key_last_if; l && *l && k == 2; l++)
		if (strstr(s, *l))
			k = 1;
	bool has_key = part_from_end(s, k, &kb, &kn);
	if (has_key)
		r = rule_for_key(cut, kb, kn);
	if (!r && !(has_key && cut->others_whole && !strict)) {
		free(s);
		return 1;
	}
	if (r && kn) {
		char *key = xstrndup(kb, kn);
		replace_in_place(&s, key, r->new_key);
		free(key);
	}
	if (strstr(s, "experts") && !strstr(s, "shared_experts")) {
		const char *ib;
		size_t in;
		uint64_t id = 0;
		bool ok = part_from_end(s, 3, &ib, &in) && in > 0 && in <= 19;
		for (size_t i = 0; ok && i < in; i++) {
			ok = isdigit((unsigned char)ib[i]);
			id = id * 10 + (uint64_t)(ib[i] - '0');
		}
		if (!ok) {
			free(s);
			return err_set("tensor %s: a routed expert, but its expert number is not a number",
				       err_quote(hf_name, q));
		}
		p->expert = true;
		p->expert_id = id;
	} else {
		p->dim = r ? r->dim : -1;
	}
	p->name = s;
	return 0;
}

/* The second-to-last part of a (pre-renamed) name, for messages. */
static char *key_of(const char *hf_name)
{
	const char *kb;
	size_t kn;
	return part_from_end(hf_name, 2, &kb, &kn) ? xstrndup(kb, kn) : xstrdup(hf_name);
}

int dsmp_place(struct dsmp_place *p, const struct family *f, const char *hf_name)
{
	char q[ERR_QUOTE], q2[ERR_QUOTE];
	int rc = 1;
	if (f && !f->mp_cut) {
		memset(p, 0, sizeof *p);
		return err_set("%s: ckpt knows no model-parallel layout of it", f->title);
	}
	for (size_t i = 0; rc > 0 && (f ? i == 0 : family_nth(i) != NULL); i++) {
		const struct family *g = f ? f : family_nth(i);
		/* without the family, a name must be one some cut lists: a cut that copies
		 * whatever it does not list (V4's) would take any name */
		if (g->mp_cut)
			rc = place_by(p, g->mp_cut, hf_name, f == NULL);
	}
	if (rc <= 0)
		return rc;
	char *key = key_of(hf_name);
	err_quote(key, q2);
	free(key);
	if (f)
		return err_set("tensor %s: the model-parallel layout has no place for it (%s has no entry for %s)",
			       err_quote(hf_name, q), f->mp_cut->what, q2);
	return err_set("tensor %s: the model-parallel layout has no place for it (no convert.py ckpt knows has an "
		       "entry for %s)", err_quote(hf_name, q), q2);
}

void dsmp_place_free(struct dsmp_place *p)
{
	free(p->name);
	p->name = NULL;
}

/* The name rule r's inverse gives: undo the entry on the second-to-last part and the
 * renames of whole parts (a last part "bias" kept as it is when keep_bias: the indexer's
 * k_norm.bias, which no rename touched). */
static char *unrename(const struct mp_rule *r, const char *mp_name, bool keep_bias)
{
	struct buf b = {0};
	size_t nparts = 1;
	for (const char *c = mp_name; *c; c++)
		nparts += *c == '.';
	if (strcmp(r->key, "lm_head") != 0)
		buf_adds(&b, "model.");
	size_t i = 0;
	for (const char *p = mp_name;; i++) {
		const char *e = strchr(p, '.');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (i)
			buf_addc(&b, '.');
		if (i + 2 == nparts)
			buf_adds(&b, r->key);
		else if (n == 4 && memcmp(p, "attn", 4) == 0)
			buf_adds(&b, "self_attn");
		else if (n == 3 && memcmp(p, "ffn", 3) == 0)
			buf_adds(&b, "mlp");
		else if (i + 1 == nparts && n == 5 && memcmp(p, "scale", 5) == 0)
			buf_adds(&b, "weight_scale_inv");
		else if (i + 1 == nparts && n == 4 && memcmp(p, "bias", 4) == 0 && !keep_bias)
			buf_adds(&b, "e_score_correction_bias");
		else
			buf_add(&b, p, n);
		if (!e)
			break;
		p = e + 1;
	}
	char *hf = xstrdup(buf_str(&b));
	buf_free(&b);
	return hf;
}

/* The inverse is structural (unrename) and then checked by renaming forward again, so only
 * names that convert.py can write are accepted.  Where two HF names give the same new name
 * (V3.2's "wq_b": the MLA query's q_b_proj and the indexer's wq_b; "bias": the router's
 * e_score_correction_bias and k_norm's bias), the one the family knows wins. */
static char *hf_name_by(const struct family *f, const char *mp_name, bool *known)
{
	const char *kb;
	size_t kn;
	*known = false;
	if (f->mp_cut->others_whole) {
		/* a cut that renames nothing it does not list (DeepSeek-V4's: every entry
		 * that matters to its names is the same name): the name may be its own */
		struct dsmp_place pl;
		bool ok = place_by(&pl, f->mp_cut, mp_name, false) == 0 && strcmp(pl.name, mp_name) == 0;
		if (pl.name)
			dsmp_place_free(&pl);
		struct hf_name hn;
		if (ok && f->parse && f->parse(NULL, mp_name, &hn) == 0) {
			*known = true;
			err_clear();
			return xstrdup(mp_name);
		}
	}
	if (!part_from_end(mp_name, 2, &kb, &kn))
		return NULL;
	char *best = NULL;
	for (size_t i = 0; i < 2 * f->mp_cut->n && !*known; i++) {
		const struct mp_rule *r = &f->mp_cut->rules[i / 2];
		if (strlen(r->new_key) != kn || memcmp(r->new_key, kb, kn) != 0)
			continue;
		char *hf = unrename(r, mp_name, i % 2);
		struct dsmp_place pl;
		bool ok = place_by(&pl, f->mp_cut, hf, false) == 0 && strcmp(pl.name, mp_name) == 0;
		if (pl.name)
			dsmp_place_free(&pl);
		struct hf_name hn;
		if (ok && (f->parse ? f->parse(NULL, hf, &hn) : hf_parse(hf, &hn)) == 0)
			*known = true;
		if (ok && (*known || !best)) {
			free(best);
			best = hf;
		} else {
			free(hf);
		}
	}
	err_clear();
	return best;
}

char *dsmp_hf_name(const struct family *f, const char *mp_name)
{
	if (f)
		return f->mp_cut ? hf_name_by(f, mp_name, &(bool){false}) : NULL;
	char *best = NULL;
	bool known = false;
	for (size_t i = 0; !known && family_nth(i); i++) {
		if (!family_nth(i)->mp_cut)
			continue;
		char *hf = hf_name_by(family_nth(i), mp_name, &known);
		if (hf && (known || !best)) {
			free(best);
			best = hf;
		} else {
			free(hf);
		}
	}
	return best;
}

const struct family *dsmp_family_by_names(const char *const *names, size_t n)
{
	const struct family *best = NULL;
	size_t first = 0, most = 0;
	bool seen = false;
	for (size_t i = 0; family_nth(i); i++) {
		const struct family *f = family_nth(i);
		if (!f->mp_cut)
			continue;
		size_t k = 0;
		for (size_t j = 0; j < n; j++) {
			bool known;
			free(hf_name_by(f, names[j], &known));
			k += known;
		}
		if (!seen)
			first = k, seen = true;
		else if (k > first && k > most)
			best = f, most = k;
	}
	return best;
}

bool dsmp_is_mtp(const char *hf_name, int64_t num_layers, uint64_t *layer)
{
	static const char prefix[] = "model.layers.";
	if (num_layers < 0 || strncmp(hf_name, prefix, sizeof prefix - 1) != 0)
		return false;
	const char *p = hf_name + sizeof prefix - 1;
	uint64_t l = 0;
	size_t n = 0;
	for (; isdigit((unsigned char)p[n]) && n < 19; n++)
		l = l * 10 + (uint64_t)(p[n] - '0');
	if (n == 0 || (p[n] != '.' && p[n] != 0))
		return false;
	*layer = l;
	return l >= (uint64_t)num_layers;
}

char *dsmp_file_name(unsigned rank, unsigned mp)
{
	return xasprintf("model%u-mp%u.safetensors", rank, mp);
}

/* Decimal without sign or leading zeros (other spellings are not what convert.py writes). */
static bool read_uint(const char **s, unsigned *out)
{
	const char *p = *s;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 1000000)
			return false;
	}
	*out = (unsigned)v;
	*s = p;
	return true;
}

bool dsmp_parse_file_name(const char *name, unsigned *rank, unsigned *mp)
{
	const char *p = name;
	if (strncmp(p, "model", 5) != 0)
		return false;
	p += 5;
	if (!read_uint(&p, rank) || strncmp(p, "-mp", 3) != 0)
		return false;
	p += 3;
	return read_uint(&p, mp) && strcmp(p, ".safetensors") == 0 && *mp > 0 && *rank < *mp;
}

bool dsmp_is_side_file(const char *name)
{
	return name[0] != '.' && strstr(name, "token") != NULL;
}

/* ---- the record ---- */

void dsmp_record_render(struct buf *out, const struct dsmp_record *r)
{
	struct jw w;
	jw_init(&w, out, 2, true);
	jw_obj(&w);
	jw_kv_str(&w, "layout", DSMP_LAYOUT_NAME);
	jw_kv_str(&w, "tool", r->tool ? r->tool : "");
	jw_kv_u64(&w, "model_parallel", r->mp);
	jw_kv_u64(&w, "n_experts", r->n_experts);
	jw_kv_u64(&w, "experts_per_rank", r->mp ? r->n_experts / r->mp : 0);
	jw_key(&w, "files");
	jw_arr(&w);
	for (unsigned i = 0; i < r->mp; i++) {
		char *f = dsmp_file_name(i, r->mp);
		jw_str(&w, f);
		free(f);
	}
	jw_arr_end(&w);
	jw_key(&w, "num_hidden_layers");
	if (r->num_hidden_layers >= 0)
		jw_i64(&w, r->num_hidden_layers);
	else
		jw_null(&w);
	jw_key(&w, "weight_block_size");
	jw_arr(&w);
	jw_u64(&w, r->block[0]);
	jw_u64(&w, r->block[1]);
	jw_arr_end(&w);
	jw_key(&w, "layers_left_out");
	jw_arr(&w);
	for (size_t i = 0; i < r->nlayers_left_out; i++)
		jw_u64(&w, r->layers_left_out[i]);
	jw_arr_end(&w);
	jw_kv_u64(&w, "tensors_left_out", r->tensors_left_out);
	if (r->expert_dtype)
		jw_kv_str(&w, "expert_dtype", r->expert_dtype);
	jw_key(&w, "source");
	jw_obj(&w);
	jw_kv_str(&w, "path", r->source ? r->source : "");
	jw_kv_u64(&w, "tensors", r->source_tensors);
	jw_kv_u64(&w, "bytes", r->source_bytes);
	jw_obj_end(&w);
	jw_obj_end(&w);
	buf_addc(out, '\n');
}

static int get_u64(const struct json *root, const char *key, uint64_t *v, const char *path)
{
	const struct json *j = json_get(root, key);
	if (!j || json_u64(j, v))
		return err_set("%s: \"%s\" is missing or not a non-negative integer", path, key);
	return 0;
}

int dsmp_record_load(struct dsmp_record *r, const char *path)
{
	struct json_doc *d;
	memset(r, 0, sizeof *r);
	r->num_hidden_layers = -1;
	if (json_load(&d, path, 0))
		return -1;
	const struct json *root = json_root(d), *j;
	uint64_t mp;
	int rc = -1;
	if (root->type != JSON_OBJECT) {
		err_set("%s: not a JSON object", path);
		goto out;
	}
	j = json_get(root, "layout");
	if (!j || j->type != JSON_STRING || strcmp(json_str(j), DSMP_LAYOUT_NAME) != 0) {
		err_set("%s: \"layout\" is not \"%s\"", path, DSMP_LAYOUT_NAME);
		goto out;
	}
	if (get_u64(root, "model_parallel", &mp, path) || get_u64(root, "n_experts", &r->n_experts, path))
		goto out;
	if (mp == 0 || mp > 1000000 || r->n_experts % mp) {
		err_set("%s: n_experts %" PRIu64 " does not divide into model_parallel %" PRIu64 " ranks", path,
			r->n_experts, mp);
		goto out;
	}
	r->mp = (unsigned)mp;
	j = json_get(root, "num_hidden_layers");
	if (j && j->type != JSON_NULL && json_i64(j, &r->num_hidden_layers)) {
		err_set("%s: \"num_hidden_layers\" is not an integer", path);
		goto out;
	}
	r->block[0] = r->block[1] = 128;
	j = json_get(root, "weight_block_size");
	if (j && (j->type != JSON_ARRAY || j->n != 2 || json_u64(json_kid(j), &r->block[0]) ||
		  json_u64(json_next(json_kid(j)), &r->block[1]) || !r->block[0] || !r->block[1])) {
		err_set("%s: \"weight_block_size\" is not two positive integers", path);
		goto out;
	}
	j = json_get(root, "layers_left_out");
	if (j && j->type == JSON_ARRAY) {
		r->layers_left_out = xcalloc(j->n + 1, sizeof *r->layers_left_out);
		for (const struct json *k = json_kid(j); k; k = json_next(k))
			if (json_u64(k, &r->layers_left_out[r->nlayers_left_out++])) {
				err_set("%s: \"layers_left_out\" holds a value that is not a layer number", path);
				goto out;
			}
	}
	j = json_get(root, "tensors_left_out");
	if (j && json_u64(j, &r->tensors_left_out)) {
		err_set("%s: \"tensors_left_out\" is not a non-negative integer", path);
		goto out;
	}
	j = json_get(root, "expert_dtype");
	if (j && (j->type != JSON_STRING || (strcmp(json_str(j), "fp4") != 0 && strcmp(json_str(j), "fp8") != 0))) {
		err_set("%s: \"expert_dtype\" is not \"fp4\" or \"fp8\"", path);
		goto out;
	}
	if (j)
		r->expert_dtype = xstrdup(json_str(j));
	j = json_get(root, "tool");
	r->tool = xstrdup(j && j->type == JSON_STRING ? json_str(j) : "");
	const struct json *src = json_get(root, "source");
	j = src ? json_get(src, "path") : NULL;
	r->source = xstrdup(j && j->type == JSON_STRING ? json_str(j) : "");
	rc = 0;
out:
	json_free(d);
	if (rc)
		dsmp_record_free(r);
	return rc;
}

void dsmp_record_free(struct dsmp_record *r)
{
	free(r->layers_left_out);
	free(r->source);
	free(r->tool);
	free(r->expert_dtype);
	memset(r, 0, sizeof *r);
}
