/* ckpt-to-hf: a checkpoint of any layout ckpt reads (DeepSeek model-parallel ranks,
 * MindSpore training or inference shards, HF) as an HF checkpoint directory: HF names, HF
 * shards and index, config.json and the tokenizer files; with --like, the shard split and
 * file names of an existing HF checkpoint, byte for byte. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "convert.h"
#include "cv_report.h"
#include "err.h"
#include "input.h"
#include "layout.h"
#include "model_check.h"
#include "out.h"
#include "progress.h"
#include "tohf.h"

static const char usage_text[] =
	"Usage: ckpt-to-hf [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"Write a checkpoint of any layout ckpt reads (DeepSeek model-parallel model{i}-mp{N}\n"
	"files, MindSpore training or inference shards, HF) as an HF checkpoint: HF names, the\n"
	"model's tensor order, shards model-0000K-of-0000N.safetensors, the index, config.json\n"
	"and the tokenizer and other files of INPUT_DIR.  Weights are written as stored (FP8\n"
	"with their scales, BF16 as BF16): rank slices joined along their split dimension,\n"
	"copies every rank holds checked equal and written once.  OUTPUT_DIR \"-\" writes the\n"
	"directory as a tar stream on standard output.\n"
	"\n"
	"      --like HF      the shard split and file names of the HF checkpoint HF (its\n"
	"                     directory or its index): each tensor in the file its index says,\n"
	"                     each file with its __metadata__; HF -> convert.py -> ckpt-to-hf\n"
	"                     --like HF gives back HF's shards byte for byte\n"
	"      --fill-from-like  take what the input lacks (the MTP layers convert.py leaves\n"
	"                     out) from --like's files\n"
	"      --drop-mtp     leave the MTP layers out: config.json says\n"
	"                     num_nextn_predict_layers 0\n"
	"      --shard-size SIZE  the most bytes of a shard (default 5GB, as HF; K, M, G, T\n"
	"                     decimal, KiB, MiB, GiB, TiB binary)\n"
	"      --config FILE  the model's config.json (convert.py does not copy it beside the\n"
	"                     ranks; default: INPUT_DIR's, else --like's)\n"
	"      --layout NAME  read INPUT_DIR in this layout (default: detected)\n"
	"  -j, --jobs N       threads (default: all cores); the output does not depend on N\n"
	"  -f, --force        rewrite shards that are complete; write into a non-empty\n"
	"                     OUTPUT_DIR that holds no earlier run of this conversion\n"
	"  -q, --quiet        no progress bar, no warnings, no report\n"
	"  -v, --verbose      list every file written or kept before the report\n"
	"      --json         report as one JSON object (what was written, what is missing)\n"
	"      --progress     show progress even when standard error is not a terminal\n"
	"  -h, --help         print this help\n"
	"  -V, --version      print the version\n"
	"\n"
	"On success one line says what was written, where, and how long it took (on standard\n"
	"error when OUTPUT_DIR is -), and what the output lacks; a run with nothing left to do\n"
	"says so.  Interrupted, the same command run again resumes.\n"
	"\n"
	"Exit status: 0 success, 1 written, but tensors of the model are missing (named in the\n"
	"report; the index and config.json say what is there), 2 usage, input or output error\n"
	"(nothing partial is left under a final name).\n";

static int fail(void)
{
	err_print();
	return EXIT_USAGE;
}

/* "5GB", "500MB", "4GiB", "1000000": bytes, at least 1. */
static int parse_size(const char *arg, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mul;
	} units[] = {
		{"", 1},          {"B", 1},           {"K", 1000},        {"KB", 1000},       {"M", 1000000},
		{"MB", 1000000},  {"G", 1000000000},  {"GB", 1000000000}, {"T", 1000000000000}, {"TB", 1000000000000},
		{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
	};
	char *end;
	errno = 0;
	if (*arg < '0' || *arg > '9')
		goto bad;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno)
		goto bad;
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (strcmp(end, units[i].suffix) == 0) {
			if (v == 0 || v > UINT64_MAX / units[i].mul)
				goto bad;
			*out = v * units[i].mul;
			return 0;
		}
bad:
	return cli_usage("--shard-size wants a size in bytes (5GB, 500MB, 4GiB, 1000000), not '%s'", arg);
}

/* What the output lacks, for the line and --json. */
static void say_missing(struct buf *b, const struct tohf *p)
{
	if (!p->nmissing)
		return;
	buf_printf(b, "; %zu tensor%s missing: ", p->nmissing, p->nmissing == 1 ? "" : "s");
	size_t shown = 0;
	if (p->nmtp) {
		buf_printf(b, "the MTP layer%s ", p->nmtp == 1 ? "" : "s");
		for (size_t i = 0; i < p->nmtp; i++)
			buf_printf(b, "%s%" PRIu64, i ? ", " : "", p->mtp_left_out[i]);
		buf_adds(b, " (");
		for (size_t i = 0; i < p->nmtp; i++)
			buf_printf(b, "%smodel.layers.%" PRIu64 ".*", i ? ", " : "", p->mtp_left_out[i]);
		buf_adds(b, "), which the input does not hold whole");
		shown = 1;
	}
	size_t listed = 0;
	for (size_t i = 0; i < p->nmissing; i++) {
		const char *m = p->missing[i];
		bool mtp = false;
		for (size_t k = 0; k < p->nmtp && !mtp; k++) {
			char pre[48];
			snprintf(pre, sizeof pre, "model.layers.%" PRIu64 ".", p->mtp_left_out[k]);
			mtp = strncmp(m, pre, strlen(pre)) == 0;
		}
		if (mtp)
			continue;
		if (listed < 3)
			buf_printf(b, "%s%s", shown++ ? ", " : "", m);
		listed++;
	}
	if (listed > 3)
		buf_printf(b, " and %zu more", listed - 3);
	buf_adds(b, p->nmtp ? " (--fill-from-like takes them from --like's files, --drop-mtp leaves the MTP layers out)"
			    : " (--fill-from-like takes them from --like's files)");
}

struct extra {
	const struct tohf *p;
	const char *like;
};

static void json_extra(struct jw *w, const void *arg)
{
	const struct extra *x = arg;
	const struct tohf *p = x->p;
	jw_kv_u64(w, "tensors", p->ntensors);
	jw_kv_u64(w, "filled_from_like", p->nfilled);
	jw_key(w, "mtp_layers_left_out");
	jw_arr(w);
	for (size_t i = 0; i < p->nmtp; i++)
		jw_u64(w, p->mtp_left_out[i]);
	jw_arr_end(w);
	jw_key(w, "missing");
	jw_arr(w);
	for (size_t i = 0; i < p->nmissing; i++)
		jw_str(w, p->missing[i]);
	jw_arr_end(w);
	jw_kv_bool(w, "complete", p->nmissing == 0);
}

static bool exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* The config.json written: --config, else the input's, else --like's; NULL (none) is an
 * error the caller reports. */
static char *config_for(const char *given, const char *in, const char *like)
{
	if (given)
		return xstrdup(given);
	char *c = path_join(in, "config.json");
	if (exists(c) || !like)
		return exists(c) ? c : (free(c), NULL);
	free(c);
	struct stat sb;
	char *dir = stat(like, &sb) == 0 && S_ISDIR(sb.st_mode) ? xstrdup(like) : NULL;
	if (!dir) {
		const char *slash = strrchr(like, '/');
		dir = slash ? xstrndup(like, (size_t)(slash - like) + (slash == like)) : xstrdup(".");
	}
	c = path_join(dir, "config.json");
	free(dir);
	return exists(c) ? c : (free(c), NULL);
}

int main(int argc, char **argv)
{
	enum { O_LIKE = 256, O_FILL, O_DROP_MTP, O_SHARD_SIZE, O_CONFIG, O_LAYOUT };
	static const struct option longopts[] = {
		{"like", required_argument, NULL, O_LIKE},         {"fill-from-like", no_argument, NULL, O_FILL},
		{"drop-mtp", no_argument, NULL, O_DROP_MTP},        {"shard-size", required_argument, NULL, O_SHARD_SIZE},
		{"config", required_argument, NULL, O_CONFIG},      {"layout", required_argument, NULL, O_LAYOUT},
		{"verbose", no_argument, NULL, 'v'},                CLI_LONGOPTS,
		CLI_LONGOPTS_WRITE,                                 {NULL, 0, NULL, 0},
	};
	struct tohf_opts to = {0};
	struct cv_opts co = {0};
	struct cli_common cc = {0};
	const char *config = NULL, *layout = NULL;
	bool verbose = false, sized = false;
	int ch;
	cli_init(argv[0]);
	out_handle_signals();
	double t0 = clock_now();
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":v" CLI_SHORT CLI_SHORT_WRITE, longopts, NULL)) != -1) {
		int common = cli_common(ch, optarg, &cc, usage_text);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		switch (ch) {
		case O_LIKE: to.like = optarg; break;
		case O_FILL: to.fill_from_like = true; break;
		case O_DROP_MTP: to.drop_mtp = true; break;
		case O_SHARD_SIZE:
			if (parse_size(optarg, &to.shard_size))
				return EXIT_USAGE;
			sized = true;
			break;
		case O_CONFIG: config = optarg; break;
		case O_LAYOUT: layout = optarg; break;
		case 'v': verbose = true; break;
		default: return cli_bad_option(argv, ch);
		}
	}
	bool quiet = cc.quiet;
	enum progress_mode pm = quiet ? PROGRESS_OFF : cc.progress ? PROGRESS_ON : PROGRESS_AUTO;
	if (argc - optind != 2)
		return cli_usage("%s", "INPUT_DIR and OUTPUT_DIR are needed");
	const char *in = argv[optind], *out = argv[optind + 1];
	if (to.fill_from_like && !to.like)
		return cli_usage("%s", "--fill-from-like takes tensors from the checkpoint --like names: give --like");
	if (sized && to.like)
		return cli_usage("%s", "--like takes the shard split of its checkpoint: --shard-size has no say");
	int tar = cli_tar_output(out, cc.json);
	if (tar < 0)
		return EXIT_USAGE;
	if (input_whole(in, layout))
		return fail();
	char *cfg = config_for(config, in, to.like);
	if (!cfg) {
		err_set("%s: no config.json (convert.py does not copy it beside the ranks): give the model's with "
			"--config FILE, or --like an HF checkpoint that has one", in);
		return fail();
	}
	struct view *v;
	char *own = path_join(in, "config.json");
	bool given = config || strcmp(cfg, own) != 0;
	free(own);
	if (layout_open_config(&v, in, layout, given ? cfg : NULL, 0)) {
		free(cfg);
		return fail();
	}
	to.config_path = cfg;
	const struct ds_config *c = v->cfg;
	if (!c || (!to.like && model_check_family(c, cfg)) || (c->family && model_check(v, c, cfg)) ||
	    tohf_replicas_agree(v)) {
		if (!c)
			err_set("%s: not a config.json ckpt can read", cfg);
		view_free(v);
		free(cfg);
		return fail();
	}
	struct tohf p;
	if (tohf_plan(&p, v, &to)) {
		view_free(v);
		free(cfg);
		return fail();
	}
	if (p.like_order_differs && !quiet)
		err_warn("%s: %zu of its files lay their tensors out otherwise than the safetensors writer (dtype, "
			 "then name): the output's files of those names hold the same tensors in the writer's order, "
			 "not the same bytes", to.like, p.like_order_differs);
	cv_opts_output(&co, out, tar, in);
	co.threads = cc.jobs;
	co.force = cc.force;
	co.quiet = quiet;
	char opts[64];
	snprintf(opts, sizeof opts, "%s%s%s%" PRIu64, to.fill_from_like ? "--fill-from-like " : "",
		 to.drop_mtp ? "--drop-mtp " : "", to.like ? "--like " : "--shard-size ",
		 to.like ? (uint64_t)0 : to.shard_size ? to.shard_size : (uint64_t)TOHF_SHARD_SIZE);
	co.options = opts;
	struct progress *pg = progress_new(pm);
	co.progress = progress_update;
	co.progress_arg = pg;
	out_interrupt_note(tar ? CV_TAR_NOTE : CV_RESUME_NOTE);
	int rc = cv_run(&p.job, &co);
	progress_end(pg);
	out_interrupt_note(NULL);
	if (rc) {
		err_print();
	} else {
		struct buf note = {0};
		buf_printf(&note, "%zu tensors of %s", p.ntensors, input_layout_what(v->layout_name));
		if (p.nfilled)
			buf_printf(&note, ", %zu of them from %s", p.nfilled, to.like);
		if (to.drop_mtp && p.nmtp)
			buf_printf(&note, "; MTP layer%s left out (--drop-mtp)", p.nmtp == 1 ? "" : "s");
		say_missing(&note, &p);
		struct extra x = {&p, to.like};
		struct cv_say say = {quiet, cc.json, verbose, buf_str(&note), json_extra, &x};
		cv_say(&p.job, &co, clock_now() - t0, &say);
		buf_free(&note);
	}
	int status = rc ? EXIT_USAGE : p.nmissing ? EXIT_CHECK : EXIT_OK;
	tohf_free(&p);
	view_free(v);
	free(cfg);
	return status;
}
