/* ckpt-inspect: what a checkpoint holds (summary and tensor table), optionally with
 * per-tensor statistics; or one safetensors file's header. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "buf.h"
#include "err.h"
#include "jsonw.h"
#include "layout.h"
#include "pool.h"
#include "st_json.h"
#include "stats.h"
#include "summary.h"
#include "tensortab.h"

/* The JSON documents' schema version (man/ckpt-inspect.1 describes it). */
#define SCHEMA_VERSION 1

static const char usage_text[] =
	"Usage: ckpt-inspect [OPTION]... PATH...\n"
	"       ckpt-inspect [--json] --header FILE\n"
	"Summarise checkpoints and list their tensors.  PATH is a checkpoint directory (with or\n"
	"without model.safetensors.index.json), an index file, or one .safetensors file; a\n"
	"directory of DeepSeek model-parallel files (model{i}-mp{M}.safetensors) or a MindSpore\n"
	"one is shown with its tensors put together under their HF names.\n"
	"\n"
	"  --json          print one JSON document (schema: man ckpt-inspect)\n"
	"  --match GLOB    list only the tensors whose names match GLOB (repeatable)\n"
	"  --stats         add min, max, mean, std, absmax, NaN and Inf counts per tensor;\n"
	"                  FP8 weights with a <name>_scale_inv are dequantized first\n"
	"  --raw           with --stats: statistics of the stored FP8 values\n"
	"  --header FILE   print the header of one .safetensors file\n"
	"  -j, --jobs N    threads for --stats (default: all cores)\n"
	"  -q, --quiet     print nothing: the exit status says whether every PATH was read\n"
	"                  (with --json, the document is printed still)\n"
	"  -h, --help      print this help\n"
	"  -V, --version   print the version\n"
	"\n"
	"Exit status: 0 success, 2 usage or input error.\n";

struct opts {
	bool json, stats, raw;
	const char **match;
	size_t nmatch;
	const char *header;
	unsigned jobs;
};

/* Everything printed goes through one buffer per checkpoint; a failed write ends the run.
 * Quiet, it goes nowhere. */
static bool silent;

static int emit(struct buf *b)
{
	if (b->len && !silent && fwrite(b->p, 1, b->len, stdout) != b->len)
		return cli_stdout_error();
	buf_clear(b);
	return 0;
}

static bool selected(const struct opts *o, const char *name)
{
	if (!o->nmatch)
		return true;
	for (size_t i = 0; i < o->nmatch; i++)
		if (fnmatch(o->match[i], name, 0) == 0)
			return true;
	return false;
}

static int header(const struct opts *o, struct buf *out)
{
	struct st_file *f;
	struct jw w;
	if (st_open(&f, o->header))
		return -1;
	jw_init(&w, out, 2, true);
	if (o->json) {
		jw_obj(&w);
		jw_kv_u64(&w, "version", SCHEMA_VERSION);
		jw_kv_str(&w, "file", o->header);
		jw_kv_u64(&w, "header_length", f->header_len);
		jw_key(&w, "header");
	} else {
		buf_printf(out, "header length: %llu\n", (unsigned long long)f->header_len);
	}
	int rc = st_header_write(&w, f);
	if (o->json)
		jw_obj_end(&w);
	buf_addc(out, '\n');
	st_close(f);
	return rc;
}

static void match_json(const struct opts *o, struct jw *w)
{
	jw_key(w, "match");
	jw_arr(w);
	for (size_t i = 0; i < o->nmatch; i++)
		jw_str(w, o->match[i]);
	jw_arr_end(w);
}

/* Any layout, through its view: the summary, then the tensors under their HF names. */
static int inspect(const struct opts *o, const char *path, struct pool *pool, struct jw *w,
		   struct buf *out)
{
	struct view *v;
	struct summary s;
	const struct vtensor **ts = NULL;
	struct tstats *st = NULL;
	size_t n = 0;
	int rc = -1;
	/* a block scale that does not fit is shown as a problem, unless its values are asked for */
	if (layout_open(&v, path, NULL, o->stats ? 0 : VIEW_SCALE_PROBLEMS))
		return -1;
	if (summary_build(&s, v, path))
		goto out_v;
	ts = xcalloc(s.n ? s.n : 1, sizeof *ts);
	for (size_t i = 0; i < s.n; i++)
		if (selected(o, s.t[i]->name))
			ts[n++] = s.t[i];
	if (o->stats) {
		st = xcalloc(n ? n : 1, sizeof *st);
		stats_views(ts, n, o->raw, pool, st);
	}
	if (o->json) {
		jw_obj(w);
		summary_json(&s, w);
		match_json(o, w);
		jw_key(w, "tensors");
		tensortab_json(v, ts, n, st, w);
		jw_obj_end(w);
	} else {
		summary_text(&s, out);
		buf_addc(out, '\n');
		if (o->nmatch)
			buf_printf(out, "%zu of %zu tensors match\n", n, s.n);
		if (n)
			tensortab_text(v, ts, n, st, out);
	}
	rc = 0;
	free(st);
	free(ts);
	summary_free(&s);
out_v:
	view_free(v);
	return rc;
}

int main(int argc, char **argv)
{
	enum { OPT_MATCH = 256, OPT_STATS, OPT_RAW, OPT_HEADER };
	static const struct option longopts[] = {
		{"match", required_argument, NULL, OPT_MATCH},
		{"stats", no_argument, NULL, OPT_STATS},
		{"raw", no_argument, NULL, OPT_RAW},
		{"header", required_argument, NULL, OPT_HEADER},
		CLI_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct opts o = {0};
	struct cli_common cc = {0};
	int ch;
	cli_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":" CLI_SHORT, longopts, NULL)) != -1) {
		int common = cli_common(ch, optarg, &cc, usage_text);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		switch (ch) {
		case OPT_STATS: o.stats = true; break;
		case OPT_RAW: o.raw = true; break;
		case OPT_HEADER: o.header = optarg; break;
		case OPT_MATCH:
			o.match = xreallocarray(o.match, o.nmatch + 1, sizeof *o.match);
			o.match[o.nmatch++] = optarg;
			break;
		default: return cli_bad_option(argv, ch);
		}
	}
	o.json = cc.json;
	o.jobs = cc.jobs;
	silent = cc.quiet && !o.json;
	if (o.raw && !o.stats)
		return cli_usage("%s only applies with --stats", "--raw");
	if (o.header && (optind < argc || o.stats || o.nmatch))
		return cli_usage("%s takes one FILE and no PATH, --match or --stats", "--header");
	if (!o.header && optind == argc)
		return cli_usage("%s", "no PATH given");

	struct buf out = {0};
	int rc = EXIT_OK;
	if (o.header) {
		if (header(&o, &out) || emit(&out))
			rc = EXIT_USAGE;
		goto done;
	}
	struct pool *pool = o.stats ? pool_new(o.jobs) : NULL;
	struct jw w;
	jw_init(&w, &out, 2, true);
	if (o.json) {
		jw_obj(&w);
		jw_kv_u64(&w, "version", SCHEMA_VERSION);
		jw_key(&w, "checkpoints");
		jw_arr(&w);
	}
	for (int i = optind; i < argc; i++) {
		if (!o.json && i > optind)
			buf_addc(&out, '\n');
		/* text goes out checkpoint by checkpoint; the JSON document only when complete */
		if (inspect(&o, argv[i], pool, &w, &out) || (!o.json && emit(&out))) {
			rc = EXIT_USAGE;
			break;
		}
	}
	if (o.json && rc == EXIT_OK) {
		jw_arr_end(&w);
		jw_obj_end(&w);
		buf_addc(&out, '\n');
		if (emit(&out))
			rc = EXIT_USAGE;
	}
	pool_free(pool);
done:
	if (rc != EXIT_OK)
		err_print();
	buf_free(&out);
	free(o.match);
	return rc;
}
