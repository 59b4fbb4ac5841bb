#include "json_edit.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "readfile.h"

/* ---- text edits ---- */

struct span {
	size_t from, to;
	size_t seq;             /* insertions at one place keep the order of the edits */
	const char *with;       /* replacement text, "" to delete */
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	if (x->from != y->from)
		return (x->from > y->from) - (x->from < y->from);
	return (x->seq > y->seq) - (x->seq < y->seq);
}

int json_edit_text(struct buf *out, const char *text, size_t len, const struct json_edit *e,
		   size_t n, const char *path)
{
	struct json_doc *d;
	if (json_parse(&d, text, len, 0))
		return err_prefix("%s: invalid JSON: ", path);
	const struct json *root = json_root(d);
	if (root->type != JSON_OBJECT) {
		json_free(d);
		return err_set("%s: not a JSON object", path);
	}
	size_t nm = root->n, ns = 0, i = 0;
	const struct json **m = xcalloc(nm + 1, sizeof *m);
	const char **value = xcalloc(nm + 1, sizeof *value); /* new value, "" to remove, NULL to keep */
	for (const struct json *k = json_kid(root); k; k = json_next(k))
		m[i++] = k;
	struct span *sp = xcalloc(nm + n + 1, sizeof *sp);
	char **owned = xcalloc(n + 1, sizeof *owned);
	size_t *added = xcalloc(n + 1, sizeof *added);
	size_t nadd = 0;
	for (size_t j = 0; j < n; j++) {
		size_t k = 0;
		while (k < nm && strcmp(json_key(m[k]), e[j].key) != 0)
			k++;
		if (k < nm) {
			if (!value[k]) /* two edits of one member: the first wins */
				value[k] = e[j].value ? e[j].value : "";
		} else if (e[j].value) {
			size_t a = 0;
			while (a < nadd && strcmp(e[added[a]].key, e[j].key) != 0)
				a++;
			if (a == nadd)
				added[nadd++] = j;
		}
	}
	/* removals: a leading run of removed members goes with the whitespace up to the first
	 * kept key; any other removed member goes with the comma that joined it to the one before */
	size_t lead = 0;
	while (lead < nm && value[lead] && !value[lead][0])
		lead++;
	if (lead)
		sp[ns++] = (struct span){m[0]->key_begin, lead < nm ? m[lead]->key_begin : m[nm - 1]->end, 0, ""};
	for (i = lead; i < nm; i++) {
		if (!value[i])
			continue;
		if (!value[i][0])
			sp[ns++] = (struct span){m[i - 1]->end, m[i]->end, 0, ""};
		else
			sp[ns++] = (struct span){m[i]->begin, m[i]->end, 0, value[i]};
	}
	/* additions: new last members, indented like the current last one */
	bool kept = lead < nm;
	size_t at_end = nm ? m[nm - 1]->end : root->begin + 1, ws = at_end;
	if (nm) {
		ws = m[nm - 1]->key_begin;
		while (ws > 0 && (text[ws - 1] == ' ' || text[ws - 1] == '\t' || text[ws - 1] == '\n' ||
				  text[ws - 1] == '\r'))
			ws--;
	}
	for (size_t a = 0; a < nadd; a++) {
		const struct json_edit *x = &e[added[a]];
		struct buf b = {0};
		if (kept) {
			buf_addc(&b, ',');
			buf_add(&b, text + ws, nm ? m[nm - 1]->key_begin - ws : 0);
		}
		buf_addc(&b, '"');
		buf_adds(&b, x->key);
		buf_adds(&b, "\": ");
		buf_adds(&b, x->value);
		owned[a] = b.p;
		sp[ns++] = (struct span){at_end, at_end, 1 + a, b.p};
		kept = true;
	}
	qsort(sp, ns, sizeof *sp, span_cmp);
	size_t at = 0;
	for (i = 0; i < ns; i++) {
		if (sp[i].from < at)
			continue; /* cannot happen: the spans are disjoint */
		buf_add(out, text + at, sp[i].from - at);
		buf_adds(out, sp[i].with);
		at = sp[i].to;
	}
	buf_add(out, text + at, len - at);
	for (i = 0; i < nadd; i++)
		free(owned[i]);
	free(owned);
	free(added);
	free(sp);
	free(value);
	free(m);
	json_free(d);
	return 0;
}

int json_edit_file(struct buf *out, const char *path, const struct json_edit *e, size_t n)
{
	struct buf text = {0};
	int rc = file_read(path, JSON_MAX_FILE, "a JSON file", &text);
	if (!rc)
		rc = json_edit_text(out, text.p ? text.p : "", text.len, e, n, path);
	buf_free(&text);
	return rc;
}
