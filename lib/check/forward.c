#include "forward.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "layout.h"
#include "out.h"
#include "readfile.h"
#include "st.h"

/* ---- tokens ---- */

/* Parse integers separated by commas or blanks from s[0..len) into *ids (appending). */
static int parse_ids(const char *s, size_t len, int64_t **ids, size_t *n, size_t *cap, const char *where)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (s[i] == ',' || isspace((unsigned char)s[i])))
			i++;
		if (i == len)
			break;
		char *end;
		char tmp[32];
		size_t k = 0;
		while (i + k < len && s[i + k] != ',' && !isspace((unsigned char)s[i + k]) && k < sizeof tmp - 1) {
			tmp[k] = s[i + k];
			k++;
		}
		tmp[k] = 0;
		errno = 0;
		long long v = strtoll(tmp, &end, 10);
		if (!k || *end || errno || v < 0 || (i + k < len && s[i + k] != ',' && !isspace((unsigned char)s[i + k])))
			return err_set("%s: \"%s\" is not a token id (a non-negative integer)", where, tmp);
		if (*n == *cap) {
			*cap = *cap ? 2 * *cap : 64;
			*ids = xreallocarray(*ids, *cap, sizeof **ids);
		}
		(*ids)[(*n)++] = v;
		i += k;
	}
	return 0;
}

int fwd_tokens_list(struct fwd_tokens *t, const char *list)
{
	size_t n = 0, cap = 0;
	memset(t, 0, sizeof *t);
	if (parse_ids(list, strlen(list), &t->ids, &n, &cap, "--tokens")) {
		free(t->ids);
		t->ids = NULL;
		return -1;
	}
	if (n == 0)
		return err_set("--tokens: no token ids");
	t->B = 1;
	t->T = n;
	return 0;
}

static int tokens_safetensors(struct fwd_tokens *t, const char *path)
{
	struct st_file *f;
	if (st_open(&f, path))
		return -1;
	const struct st_tensor *x = st_find(f, "input_ids");
	int rc = -1;
	if (!x) {
		err_set("%s: no tensor \"input_ids\"", path);
		goto out;
	}
	if ((x->ndim != 1 && x->ndim != 2) || x->nelem == 0 ||
	    (x->dtype != DT_I64 && x->dtype != DT_I32 && x->dtype != DT_U32 && x->dtype != DT_I16 &&
	     x->dtype != DT_U16 && x->dtype != DT_U8 && x->dtype != DT_U64)) {
		char sh[ST_SHAPE_LEN];
		err_set("%s: input_ids is %s %s, not integers of shape [B, T] or [T]", path, dt_name(x->dtype),
			st_shape_str(x->ndim, x->shape, sh, sizeof sh));
		goto out;
	}
	t->B = x->ndim == 2 ? x->shape[0] : 1;
	t->T = x->shape[x->ndim - 1];
	t->ids = xmalloc(x->nelem * sizeof *t->ids);
	const uint8_t *b = st_bytes(f, x);
	for (uint64_t i = 0; i < x->nelem; i++) {
		int64_t v;
		switch (x->dtype) {
		case DT_I64: memcpy(&v, b + 8 * i, 8); break;
		case DT_U64: { uint64_t u; memcpy(&u, b + 8 * i, 8); v = u > INT64_MAX ? -1 : (int64_t)u; break; }
		case DT_I32: { int32_t u; memcpy(&u, b + 4 * i, 4); v = u; break; }
		case DT_U32: { uint32_t u; memcpy(&u, b + 4 * i, 4); v = u; break; }
		case DT_I16: { int16_t u; memcpy(&u, b + 2 * i, 2); v = u; break; }
		case DT_U16: { uint16_t u; memcpy(&u, b + 2 * i, 2); v = u; break; }
		default: v = b[i]; break;
		}
		if (v < 0) {
			err_set("%s: input_ids holds a negative id", path);
			goto out;
		}
		t->ids[i] = v;
	}
	rc = 0;
out:
	if (rc) {
		free(t->ids);
		memset(t, 0, sizeof *t);
	}
	st_close(f);
	return rc;
}

int fwd_tokens_file(struct fwd_tokens *t, const char *path)
{
	memset(t, 0, sizeof *t);
	size_t len = strlen(path);
	if (len > 12 && strcmp(path + len - 12, ".safetensors") == 0)
		return tokens_safetensors(t, path);
	int fd = file_open(path, 0, NULL);
	FILE *fp = fd < 0 ? NULL : fdopen(fd, "r");
	if (!fp) {
		if (fd >= 0) {
			err_errno(path);
			close(fd);
		}
		return -1;
	}
	char *line = NULL;
	size_t lcap = 0, n = 0, cap = 0, lineno = 0;
	ssize_t got;
	int rc = 0;
	while ((got = getline(&line, &lcap, fp)) >= 0) {
		lineno++;
		char *hash = memchr(line, '#', (size_t)got);
		size_t l = hash ? (size_t)(hash - line) : (size_t)got, before = n;
		char where[4200];
		snprintf(where, sizeof where, "%s: line %zu", path, lineno);
		if (parse_ids(line, l, &t->ids, &n, &cap, where)) {
			rc = -1;
			break;
		}
		if (n == before)
			continue;
		if (t->B && n - before != t->T) {
			rc = err_set("%s: %zu tokens, the first sequence has %zu (sequences must be equally long)", where,
				     n - before, t->T);
			break;
		}
		t->T = n - before;
		t->B++;
	}
	if (rc == 0 && ferror(fp))
		rc = err_errno(path);
	if (rc == 0 && t->B == 0)
		rc = err_set("%s: no token ids", path);
	free(line);
	fclose(fp);
	if (rc) {
		free(t->ids);
		memset(t, 0, sizeof *t);
	}
	return rc;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void fwd_tokens_default(struct fwd_tokens *t, int64_t vocab, size_t T)
{
	uint64_t s = 20250101;
	t->B = 1;
	t->T = T;
	t->ids = xmalloc(T * sizeof *t->ids);
	for (size_t i = 0; i < T; i++)
		t->ids[i] = (int64_t)(splitmix64(&s) % (uint64_t)(vocab > 0 ? vocab : 1));
}

void fwd_tokens_free(struct fwd_tokens *t)
{
	free(t->ids);
	memset(t, 0, sizeof *t);
}

/* ---- a model ---- */

int fwd_open_view(struct fwd_model *f, struct view *v, const char *config_path, struct pool *pool,
		  unsigned infer_flags)
{
	memset(f, 0, sizeof *f);
	f->v = v;
	if (v->cfg) {
		f->cfg = *v->cfg;
	} else if (config_path) {
		if (ds_config_load(&f->cfg, config_path))
			return -1;
	} else {
		return err_set("%s: no config.json to take the model's hyper-parameters from (give one with --config)",
			       v->path);
	}
	/* a checkpoint bigger than half the memory: give each weight's pages back after use
	 * (they would be reclaimed anyway, but the resident set stays honest and bounded) */
	uint64_t bytes = 0;
	for (size_t i = 0; i < v->n; i++)
		bytes += vtensor_stored_bytes(&v->t[i]);
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	if (pages > 0 && psize > 0 && bytes > (uint64_t)pages * (uint64_t)psize / 2)
		infer_flags |= INFER_RELEASE;
	if (infer_open(&f->m, v, &f->cfg, pool, infer_flags))
		return -1;
	f->ready = true;
	return 0;
}

int fwd_open(struct fwd_model *f, const char *path, const char *layout, const char *config_path,
	     struct pool *pool, unsigned infer_flags)
{
	struct view *v;
	memset(f, 0, sizeof *f);
	if (layout_open(&v, path, layout, 0))
		return -1;
	if (fwd_open_view(f, v, config_path, pool, infer_flags)) {
		view_free(v);
		memset(f, 0, sizeof *f);
		return -1;
	}
	f->own_view = true;
	return 0;
}

int fwd_tokens_check(const struct fwd_tokens *t, const struct fwd_model *f)
{
	for (size_t i = 0; i < t->B * t->T; i++)
		if (t->ids[i] >= f->cfg.vocab_size)
			return err_set("token %" PRId64 " is outside the vocabulary (vocab_size %" PRId64 ")", t->ids[i],
				       f->cfg.vocab_size);
	return 0;
}

void fwd_close(struct fwd_model *f)
{
	if (f->ready)
		infer_close(&f->m);
	if (f->own_view)
		view_free(f->v);
	memset(f, 0, sizeof *f);
}

/* ---- one forward pass ---- */

int fwd_forward(struct fwd_model *f, const struct fwd_tokens *t, bool mtp, struct fwd_run *r)
{
	size_t B = t->B, T = t->T, V = (size_t)f->cfg.vocab_size;
	memset(r, 0, sizeof *r);
	r->tok = t;
	r->V = V;
	r->logits = xmalloc(B * T * V * sizeof *r->logits);
	size_t nmtp = mtp ? f->m.nmtp : 0;
	if (nmtp >= T)
		nmtp = T - 1;
	for (size_t d = 1; d <= nmtp; d++) {
		if (!infer_has_mtp(&f->m, d)) {
			nmtp = d - 1;
			r->no_mtp = d == 1;
			break;
		}
	}
	r->no_mtp = r->no_mtp || (mtp && f->m.nmtp == 0);
	float *last = nmtp ? xmalloc(B * T * infer_state_dim(&f->m) * sizeof *last) : NULL;
	uint64_t bytes0 = f->m.lin.bytes, macs0 = f->m.lin.macs;
	f->m.nonfinite[0] = 0;
	double t0 = clock_now();
	int rc = infer_forward(&f->m, t->ids, B, T, r->logits, last, NULL);
	if (rc == 0 && nmtp) {
		r->nmtp = nmtp;
		r->mtp = xcalloc(nmtp, sizeof *r->mtp);
		for (size_t d = 1; d <= nmtp; d++)
			r->mtp[d - 1] = xmalloc(B * (T - d) * V * sizeof **r->mtp);
		rc = infer_mtp(&f->m, t->ids, B, T, last, r->mtp);
	}
	r->seconds = clock_now() - t0;
	memcpy(r->nonfinite, f->m.nonfinite, sizeof r->nonfinite);
	r->weight_bytes = f->m.lin.bytes - bytes0;
	r->macs = f->m.lin.macs - macs0;
	free(last);
	if (rc)
		fwd_run_free(r);
	return rc;
}

void fwd_run_free(struct fwd_run *r)
{
	free(r->logits);
	for (size_t d = 0; d < r->nmtp; d++)
		free(r->mtp[d]);
	free(r->mtp);
	memset(r, 0, sizeof *r);
}

/* The k best of v[0..n): largest first, lower index first among equals, NaN last. */
static void top(const float *v, size_t n, size_t k, size_t *idx)
{
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(v[i]))
			continue;
		size_t j = got < k ? got++ : k;
		if (j == k && !(v[i] > v[idx[k - 1]]))
			continue;
		if (j == k)
			j = k - 1;
		while (j > 0 && v[i] > v[idx[j - 1]]) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	for (; got < k; got++)
		idx[got] = SIZE_MAX;
}

static void top_line(struct buf *out, const float *lg, size_t V)
{
	size_t idx[FWD_TOP];
	top(lg, V, FWD_TOP, idx);
	for (size_t k = 0; k < FWD_TOP && idx[k] != SIZE_MAX; k++)
		buf_printf(out, "  %zu:%.4f", idx[k], lg[idx[k]]);
	if (idx[0] == SIZE_MAX)
		buf_adds(out, "  (every logit is NaN)");
	buf_addc(out, '\n');
}

static void top_json(struct jw *w, const float *lg, size_t V)
{
	size_t idx[FWD_TOP];
	top(lg, V, FWD_TOP, idx);
	jw_arr(w);
	for (size_t k = 0; k < FWD_TOP && idx[k] != SIZE_MAX; k++) {
		jw_obj(w);
		jw_kv_u64(w, "token", idx[k]);
		jw_kv_double(w, "logit", lg[idx[k]]);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

void fwd_run_text(const void *run, struct buf *out)
{
	const struct fwd_run *r = run;
	size_t B = r->tok->B, T = r->tok->T, V = r->V;
	for (size_t b = 0; b < B; b++) {
		buf_printf(out, "  sequence %zu: position i, token i, top %d for token i+1 (token:logit)\n", b, FWD_TOP);
		for (size_t i = 0; i < T; i++) {
			buf_printf(out, "  %6zu %8" PRId64, i, r->tok->ids[b * T + i]);
			top_line(out, r->logits + (b * T + i) * V, V);
		}
	}
	if (r->no_mtp)
		buf_adds(out, "  MTP: the checkpoint has no MTP layer\n");
	for (size_t d = 1; d <= r->nmtp; d++)
		for (size_t b = 0; b < B; b++) {
			buf_printf(out, "  MTP depth %zu, sequence %zu: position i, token i+%zu, top %d for token i+%zu (token:logit)\n",
				   d, b, d, FWD_TOP, d + 1);
			for (size_t i = 0; i + d < T; i++) {
				buf_printf(out, "  %6zu %8" PRId64, i, r->tok->ids[b * T + i + d]);
				top_line(out, r->mtp[d - 1] + (b * (T - d) + i) * V, V);
			}
		}
}

void fwd_run_json(const void *run, struct jw *w)
{
	const struct fwd_run *r = run;
	size_t B = r->tok->B, T = r->tok->T, V = r->V;
	jw_key(w, "sequences");
	jw_arr(w);
	for (size_t b = 0; b < B; b++) {
		jw_obj(w);
		jw_key(w, "tokens");
		jw_arr(w);
		for (size_t i = 0; i < T; i++)
			jw_i64(w, r->tok->ids[b * T + i]);
		jw_arr_end(w);
		jw_key(w, "next");
		jw_arr(w);
		for (size_t i = 0; i < T; i++)
			top_json(w, r->logits + (b * T + i) * V, V);
		jw_arr_end(w);
		jw_key(w, "mtp");
		jw_arr(w);
		for (size_t d = 1; d <= r->nmtp; d++) {
			jw_arr(w);
			for (size_t i = 0; i + d < T; i++)
				top_json(w, r->mtp[d - 1] + (b * (T - d) + i) * V, V);
			jw_arr_end(w);
		}
		jw_arr_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kv_u64(w, "mtp_layers", r->nmtp);
	jw_key(w, "nonfinite");
	if (r->nonfinite[0])
		jw_str(w, r->nonfinite);
	else
		jw_null(w);
	jw_kv_double(w, "seconds", r->seconds);
	jw_kv_u64(w, "weight_bytes", r->weight_bytes);
}

int fwd_write_logits(const struct fwd_run *r, const char *path)
{
	size_t B = r->tok->B, T = r->tok->T, V = r->V, n = 2 + r->nmtp;
	struct st_entry *e = xcalloc(n, sizeof *e);
	uint64_t *shapes = xcalloc(3 * n, sizeof *shapes);
	char **names = xcalloc(n, sizeof *names);
	const void **data = xcalloc(n, sizeof *data);
	names[0] = xstrdup("input_ids");
	shapes[0] = B;
	shapes[1] = T;
	e[0] = (struct st_entry){names[0], DT_I64, 2, shapes};
	data[0] = r->tok->ids;
	names[1] = xstrdup("logits");
	shapes[3] = B;
	shapes[4] = T;
	shapes[5] = V;
	e[1] = (struct st_entry){names[1], DT_F32, 3, shapes + 3};
	data[1] = r->logits;
	for (size_t d = 1; d <= r->nmtp; d++) {
		names[1 + d] = xasprintf("mtp.%zu.logits", d);
		shapes[3 * (1 + d)] = B;
		shapes[3 * (1 + d) + 1] = T - d;
		shapes[3 * (1 + d) + 2] = V;
		e[1 + d] = (struct st_entry){names[1 + d], DT_F32, 3, shapes + 3 * (1 + d)};
		data[1 + d] = r->mtp[d - 1];
	}
	struct st_meta meta = {"format", "pt"};
	struct st_layout L;
	struct out *o = NULL;
	int rc = st_layout(&L, e, n, &meta, 1);
	if (rc == 0) {
		rc = out_open(&o, path);
		if (rc == 0)
			rc = out_write(o, L.header, L.header_size);
		for (size_t k = 0; rc == 0 && k < n; k++)
			rc = out_write(o, data[L.order[k]], L.nbytes[L.order[k]]);
		if (rc == 0)
			rc = out_commit(o);
		else
			out_abort(o);
		st_layout_free(&L);
	}
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
	free(shapes);
	free(e);
	free(data);
	return rc;
}
