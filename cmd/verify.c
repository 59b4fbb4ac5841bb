/* ckpt-verify: prove a checkpoint is intact and right.  Structure and model checks always;
 * manifests, a full scan of the values, a comparison with another checkpoint and a
 * forward pass of the model on request.  The checks live in lib/verify_*.c; this file
 * parses options and dispatches. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "buf.h"
#include "compare.h"
#include "err.h"
#include "jsonw.h"
#include "pool.h"
#include "report.h"
#include "verify.h"
#include "verify_forward.h"

/* The JSON document's schema version (man/ckpt-verify.1 describes it). */
#define SCHEMA_VERSION 1

static const char usage_text[] =
	"Usage: ckpt-verify [OPTION]... PATH\n"
	"Check that a checkpoint is intact and right.  PATH is a checkpoint directory (any\n"
	"layout: HF, DeepSeek model-parallel ...), an index file, one .safetensors file, or a\n"
	"tar archive (optionally compressed) holding a checkpoint (an archive of another layout\n"
	"than HF: each file and the manifest are checked, the rest needs it extracted).\n"
	"\n"
	"By default: the structure (every shard against the safetensors rules; the index\n"
	"against the shards) and the model (the exact tensors, shapes and dtypes config.json\n"
	"implies); with --write-manifest, only the hashing.  A snapshot of the Hugging Face hub\n"
	"cache (models--ORG--NAME/snapshots/REV, or models--ORG--NAME itself) is first checked\n"
	"against its blobs' names, offline (hub).\n"
	"\n"
	"  --checks LIST          which of those run: structure, model, hub (comma-separated), all\n"
	"                         or none (model, --scan, --against and --forward bring\n"
	"                         structure with them: they read what it checks)\n"
	"  --manifest FILE        check every file's SHA-256 against FILE (sha256sum format,\n"
	"                         or a JSON map of file -> sha256 as model hubs publish;\n"
	"                         a pipe, or - for standard input)\n"
	"  --manifest-root DIR    FILE's names are relative to DIR (default: PATH's directory)\n"
	"  --write-manifest FILE  write the SHA-256 of every file to FILE (sha256sum format)\n"
	"  --scan                 read every value: NaN and infinities per tensor (FP8\n"
	"                         dequantized), all-zero tensors, replicated copies\n"
	"  --against OTHER        compare every tensor with checkpoint OTHER (any layout)\n"
	"  --exact                with --against: demand bit identity (after rounding both to\n"
	"                         the coarser dtype)\n"
	"  --atol X, --rtol X     with --against: tolerances, |a-b| <= atol + rtol*max(|a|,|b|)\n"
	"                         (default 1e-6 and 1e-2)\n"
	"  --layout NAME          read PATH in this layout instead of the detected one\n"
	"  --revision REV         PATH is a hub cache repository (models--ORG--NAME): check its\n"
	"                         snapshot of REV, a branch, tag or commit hash (default: main)\n"
	"\n"
	"  --forward              run the model (float32): print the 5 likeliest\n"
	"                         next tokens at every position; with --against OTHER, run\n"
	"                         both on the same tokens and compare their logits\n"
	"  --tokens LIST          token ids, comma-separated (one sequence)\n"
	"  --tokens-file FILE     token ids: text (a sequence per line) or .safetensors with\n"
	"                         input_ids; default: 16 fixed pseudo-random ids\n"
	"  --positions N          how many default tokens, and --layers' positions (16)\n"
	"  --mtp                  also run the MTP layers where the checkpoint has them\n"
	"  --logits-out FILE      write input_ids and the logits to FILE (.safetensors)\n"
	"  --layers LIST          each listed layer (0,3,5-7) on a fixed hidden state instead\n"
	"                         of the whole model, in bounded memory (with --against: both)\n"
	"  --reference FILE       compare logits and hidden states with a reference file\n"
	"  --max-abs X            limit on the largest difference (1e-3; 1e-4 with --reference)\n"
	"  --min-cos X            lowest cosine similarity of the logits (0.99999)\n"
	"  --min-top1 X           lowest share of positions with the same top token (1)\n"
	"  --config FILE          config.json for a checkpoint without one (model-parallel)\n"
	"  --json                 print the report as one JSON document (schema: man ckpt-verify)\n"
	"  -v, --verbose          list every tensor compared\n"
	"  -q, --quiet            print only the problems (with --json, the whole document)\n"
	"  -j, --jobs N           threads for hashing, scanning and comparing (default: all cores)\n"
	"  -h, --help             print this help\n"
	"  -V, --version          print the version\n"
	"\n"
	"Exit status: 0 every check passed, 1 a check failed, 2 usage or input error.\n";

struct opts {
	const char *manifest, *manifest_root, *write_manifest, *against, *layout, *revision;
	bool scan, json, quiet, atol_set, rtol_set;
	bool structure, model, hub, checks_set;
	struct cmp_opts cmp;
	unsigned jobs;
	bool forward, forward_opt, max_abs_set;
	struct vforward_opts fw;
};

static int parse_tol(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || isinf(v))
		return -1;
	*out = v;
	return 0;
}

/* --checks: "all", "none", or names of the checks that run by default. */
static int parse_checks(const char *s, struct opts *o)
{
	o->checks_set = true;
	o->structure = o->model = o->hub = strcmp(s, "all") == 0;
	if (strcmp(s, "all") == 0 || strcmp(s, "none") == 0)
		return 0;
	for (const char *p = s;;) {
		size_t n = strcspn(p, ",");
		if (n == 9 && strncmp(p, "structure", n) == 0)
			o->structure = true;
		else if (n == 5 && strncmp(p, "model", n) == 0)
			o->model = true;
		else if (n == 3 && strncmp(p, "hub", n) == 0)
			o->hub = true;
		else
			return -1;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

static int emit(struct buf *b)
{
	if (b->len && fwrite(b->p, 1, b->len, stdout) != b->len)
		return cli_stdout_error();
	buf_clear(b);
	return 0;
}

/* Every check asked for, in order; -1 on an input error (exit 2). */
static int run_checks(const struct opts *o, struct vtarget *t, struct pool *pool, struct report *r)
{
	if (o->hub && t->hub_repo)
		verify_hub(t, pool, r);
	if (o->structure)
		verify_structure(t, r);
	if (o->model)
		verify_model(t, r);
	if (o->write_manifest && verify_write_manifest(t, o->write_manifest, pool, r))
		return -1;
	if (o->manifest && verify_manifest(t, o->manifest, o->manifest_root, pool, r))
		return -1;
	if (o->scan)
		verify_scan(t, pool, r);
	if (o->forward)
		return verify_forward(t, &o->fw, pool, r);
	if (o->against) {
		struct vtarget other;
		if (vtarget_open(&other, o->against, NULL, false, NULL))
			return -1;
		if (other.archive) {
			vtarget_close(&other);
			return err_set("%s: --against reads tensor values, which is not done inside an archive "
				       "(extract it first)",
				       o->against);
		}
		verify_against(t, &other, &o->cmp, pool, r);
		vtarget_close(&other);
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_MANIFEST = 256, OPT_MANIFEST_ROOT, OPT_WRITE_MANIFEST, OPT_SCAN, OPT_AGAINST, OPT_EXACT,
		OPT_ATOL, OPT_RTOL, OPT_LAYOUT, OPT_FORWARD, OPT_TOKENS, OPT_TOKENS_FILE,
		OPT_POSITIONS, OPT_MTP, OPT_LOGITS_OUT, OPT_LAYERS, OPT_REFERENCE, OPT_MAX_ABS, OPT_MIN_COS, OPT_MIN_TOP1,
		OPT_CONFIG, OPT_CHECKS, OPT_REVISION
	};
	static const struct option longopts[] = {
		{"manifest", required_argument, NULL, OPT_MANIFEST},
		{"manifest-root", required_argument, NULL, OPT_MANIFEST_ROOT},
		{"write-manifest", required_argument, NULL, OPT_WRITE_MANIFEST},
		{"scan", no_argument, NULL, OPT_SCAN},
		{"against", required_argument, NULL, OPT_AGAINST},
		{"exact", no_argument, NULL, OPT_EXACT},
		{"atol", required_argument, NULL, OPT_ATOL},
		{"rtol", required_argument, NULL, OPT_RTOL},
		{"layout", required_argument, NULL, OPT_LAYOUT},
		{"forward", no_argument, NULL, OPT_FORWARD},
		{"tokens", required_argument, NULL, OPT_TOKENS},
		{"tokens-file", required_argument, NULL, OPT_TOKENS_FILE},
		{"positions", required_argument, NULL, OPT_POSITIONS},
		{"mtp", no_argument, NULL, OPT_MTP},
		{"logits-out", required_argument, NULL, OPT_LOGITS_OUT},
		{"layers", required_argument, NULL, OPT_LAYERS},
		{"reference", required_argument, NULL, OPT_REFERENCE},
		{"max-abs", required_argument, NULL, OPT_MAX_ABS},
		{"min-cos", required_argument, NULL, OPT_MIN_COS},
		{"min-top1", required_argument, NULL, OPT_MIN_TOP1},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"checks", required_argument, NULL, OPT_CHECKS},
		{"revision", required_argument, NULL, OPT_REVISION},
		{"verbose", no_argument, NULL, 'v'},
		CLI_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct opts o = {.cmp = {.atol = CMP_ATOL, .rtol = CMP_RTOL},
			 .fw = {.positions = 16, .lim = fwd_default_limits, .ref_max_abs = 1e-4}};
	struct cli_common cc = {0};
	int ch;
	cli_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":v" CLI_SHORT, longopts, NULL)) != -1) {
		int common = cli_common(ch, optarg, &cc, usage_text);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		switch (ch) {
		case OPT_MANIFEST: o.manifest = optarg; break;
		case OPT_MANIFEST_ROOT: o.manifest_root = optarg; break;
		case OPT_WRITE_MANIFEST: o.write_manifest = optarg; break;
		case OPT_SCAN: o.scan = true; break;
		case OPT_CHECKS:
			if (parse_checks(optarg, &o))
				return cli_usage("--checks wants structure, model, hub (comma-separated), all or none, not '%s'",
						 optarg);
			break;
		case OPT_AGAINST: o.against = optarg; break;
		case OPT_EXACT: o.cmp.exact = true; break;
		case OPT_ATOL:
			if (parse_tol(optarg, &o.cmp.atol))
				return cli_usage("--atol wants a non-negative number, not '%s'", optarg);
			o.atol_set = true;
			break;
		case OPT_RTOL:
			if (parse_tol(optarg, &o.cmp.rtol))
				return cli_usage("--rtol wants a non-negative number, not '%s'", optarg);
			o.rtol_set = true;
			break;
		case OPT_LAYOUT: o.layout = optarg; break;
		case OPT_REVISION: o.revision = optarg; break;
		case OPT_FORWARD: o.forward = true; break;
		case OPT_TOKENS: o.fw.tokens = optarg; o.forward_opt = true; break;
		case OPT_TOKENS_FILE: o.fw.tokens_file = optarg; o.forward_opt = true; break;
		case OPT_POSITIONS: {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 1000000)
				return cli_usage("--positions wants a number from 1 to 1000000, not '%s'", optarg);
			o.fw.positions = (size_t)v;
			o.forward_opt = true;
			break;
		}
		case OPT_MTP: o.fw.mtp = true; o.forward_opt = true; break;
		case OPT_LOGITS_OUT: o.fw.logits_out = optarg; o.forward_opt = true; break;
		case OPT_LAYERS: o.fw.layers = optarg; o.forward_opt = true; break;
		case OPT_REFERENCE: o.fw.reference = optarg; o.forward_opt = true; break;
		case OPT_CONFIG: o.fw.config = optarg; o.forward_opt = true; break;
		case OPT_MAX_ABS:
			if (parse_tol(optarg, &o.fw.lim.max_abs))
				return cli_usage("--max-abs wants a non-negative number, not '%s'", optarg);
			o.fw.ref_max_abs = o.fw.lim.max_abs;
			o.forward_opt = o.max_abs_set = true;
			break;
		case OPT_MIN_COS:
			if (parse_tol(optarg, &o.fw.lim.min_cos) || o.fw.lim.min_cos > 1)
				return cli_usage("--min-cos wants a number from 0 to 1, not '%s'", optarg);
			o.forward_opt = true;
			break;
		case OPT_MIN_TOP1:
			if (parse_tol(optarg, &o.fw.lim.min_top1) || o.fw.lim.min_top1 > 1)
				return cli_usage("--min-top1 wants a number from 0 to 1, not '%s'", optarg);
			o.forward_opt = true;
			break;
		case 'v': o.cmp.verbose = true; break;
		default: return cli_bad_option(argv, ch);
		}
	}
	o.json = cc.json;
	o.quiet = cc.quiet;
	o.jobs = cc.jobs;
	if (optind == argc)
		return cli_usage("%s", "no PATH given");
	if (argc - optind > 1)
		return cli_usage("one PATH only, not also '%s'", argv[optind + 1]);
	if (o.manifest && o.write_manifest)
		return cli_usage("%s", "--manifest and --write-manifest do not go together");
	if (o.manifest_root && !o.manifest)
		return cli_usage("%s only applies with --manifest", "--manifest-root");
	if (o.forward_opt && !o.forward)
		return cli_usage("%s only apply with --forward",
				   "--tokens, --tokens-file, --positions, --mtp, --logits-out, --layers, --reference, "
				   "--max-abs, --min-cos, --min-top1 and --config");
	if (o.forward) {
		if (o.fw.tokens && o.fw.tokens_file)
			return cli_usage("%s", "--tokens and --tokens-file do not go together");
		if (o.fw.reference && (o.against || o.fw.layers || o.fw.tokens || o.fw.tokens_file || o.fw.mtp))
			return cli_usage("%s", "--reference brings its own tokens and goes alone (no --against, "
					   "--layers, --tokens, --tokens-file or --mtp)");
		if (o.fw.layers && (o.fw.tokens || o.fw.tokens_file || o.fw.mtp))
			return cli_usage("%s", "--layers runs a fixed hidden state: no --tokens, --tokens-file or --mtp");
		if (o.fw.logits_out && (o.against || o.fw.layers || o.fw.reference))
			return cli_usage("%s", "--logits-out writes the logits of a plain --forward run");
		if (o.cmp.exact || o.atol_set || o.rtol_set)
			return cli_usage("%s compare tensors, not with --forward (use --max-abs, --min-cos, --min-top1)",
					   "--exact, --atol and --rtol");
		o.fw.against = o.against;
	}
	if ((o.cmp.exact || o.atol_set || o.rtol_set) && !o.against)
		return cli_usage("%s only apply with --against", "--exact, --atol and --rtol");
	if (o.cmp.exact && (o.atol_set || o.rtol_set))
		return cli_usage("%s", "--exact and --atol/--rtol do not go together");
	if (!o.checks_set)
		o.structure = o.model = o.hub = !o.write_manifest;
	/* what reads the tensors relies on the structure check: a checkpoint it cannot read
	 * must fail, not pass with the reading check skipped */
	if (o.model || o.scan || o.against || o.forward)
		o.structure = true;
	if (!o.structure && !o.hub && !o.manifest && !o.write_manifest)
		return cli_usage("%s", "--checks none leaves nothing to do (add --manifest or --write-manifest)");

	const char *path = argv[optind];
	struct vtarget t;
	if (vtarget_open(&t, path, o.layout, o.manifest || o.write_manifest, o.revision)) {
		err_print();
		return EXIT_USAGE;
	}
	if (t.archive && (o.scan || o.against || o.forward)) {
		err_say("%s: %s reads tensor values, which is not done inside an archive (extract it first)", path,
			o.scan ? "--scan" : o.forward ? "--forward" : "--against");
		vtarget_close(&t);
		return EXIT_USAGE;
	}
	struct pool *pool = pool_new(o.jobs);
	struct report r;
	struct buf out = {0};
	int rc = EXIT_OK;
	report_init(&r, path);
	report_set_layout(&r, t.layout);
	if (run_checks(&o, &t, pool, &r)) {
		rc = EXIT_USAGE;
		goto done;
	}
	if (o.json) {
		struct jw w;
		jw_init(&w, &out, 2, true);
		jw_obj(&w);
		jw_kv_u64(&w, "version", SCHEMA_VERSION);
		jw_key(&w, "report");
		report_json(&r, &w);
		jw_obj_end(&w);
		buf_addc(&out, '\n');
	} else {
		report_text(&r, &out, o.quiet);
	}
	if (emit(&out)) {
		rc = EXIT_USAGE;
		goto done;
	}
	rc = report_failed(&r) ? EXIT_CHECK : EXIT_OK;
done:
	if (rc == EXIT_USAGE)
		err_print();
	buf_free(&out);
	report_free(&r);
	pool_free(pool);
	vtarget_close(&t);
	return rc;
}
