/* ckpt-hf-to-sharded: an HF DeepSeek-V3 checkpoint -> DeepSeek's model-parallel rank files,
 * byte for byte what inference/convert.py writes, streamed in bounded memory. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "buf.h"
#include "ds_config.h"
#include "clock.h"
#include "convert.h"
#include "cv_report.h"
#include "dsmp.h"
#include "err.h"
#include "input.h"
#include "jsonw.h"
#include "layout.h"
#include "mindspore.h"
#include "model_check.h"
#include "out.h"
#include "progress.h"

static const char usage_text[] =
	"Usage: ckpt-hf-to-sharded [OPTION]... --model-parallel M [--n-experts N] INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-hf-to-sharded [OPTION]... --layout mindspore-train [--dtype T] INPUT_DIR OUTPUT_DIR\n"
	"Cut an HF DeepSeek-V3 checkpoint into DeepSeek's model-parallel files\n"
	"OUTPUT_DIR/model{i}-mp{M}.safetensors, byte for byte what inference/convert.py writes,\n"
	"and copy the tokenizer files and config.json beside them with a record of the sharding\n"
	"(" DSMP_RECORD ").  MTP layers (from config.json's num_hidden_layers on) are left out.\n"
	"Or write MindSpore Transformers' training layout, as its convert_weight.py does: FP8\n"
	"dequantized and rounded to bf16, one file per layer, param_name_map.json.  OUTPUT_DIR\n"
	"\"-\" writes the files as a tar stream on standard output.\n"
	"\n"
	"      --layout L          dsmp (default) or mindspore-train\n"
	"      --dtype T           mindspore-train: bf16 (default), fp16 or fp32 (norms,\n"
	"                          router and its bias are fp32 whatever T)\n"
	"      --model-parallel M  number of ranks (required)\n"
	"      --n-experts N       routed experts (default: config.json's n_routed_experts,\n"
	"                          which it must equal); must divide by M\n"
	"      --expert-dtype D    how the routed experts are written where the model's\n"
	"                          convert.py offers a choice (DeepSeek-V4: fp4, the default,\n"
	"                          or fp8, re-encoded with 128x128 scales)\n"
	"      --rank I            write rank I only (rank 0 also writes the side files),\n"
	"                          e.g. one job per rank under GNU parallel; default: every\n"
	"                          rank in one pass\n"
	"      --config FILE       config.json to use (default: INPUT_DIR/config.json)\n"
	"  -j, --jobs N            threads (default: all cores); the bytes never depend on it\n"
	"  -f, --force             rewrite rank files that are already complete\n"
	"  -q, --quiet             no progress bar, no warnings, no report\n"
	"  -v, --verbose           list every file written or kept before the report\n"
	"      --json              report as one JSON object (what was written, kept, how long)\n"
	"      --progress          show progress even when standard error is not a terminal\n"
	"  -h, --help              print this help\n"
	"  -V, --version           print the version\n"
	"\n"
	"On success one line says what was written, where, and how long it took; a run with\n"
	"nothing left to do says so.  Interrupted, the same command run again resumes.\n"
	"\n"
	"Exit status: 0 success, 2 usage, input or output error (nothing partial is left under\n"
	"a final name).\n";

struct opts {
	bool mindspore;
	enum dt dtype;
	bool have_dtype;
	unsigned mp;
	uint64_t n_experts;
	bool have_experts;
	int rank;
	const char *config;
	const char *expert_dtype;
	struct cli_common cc;
	bool verbose;
	double t0;
	const char *in, *out;
	bool tar; /* OUTPUT_DIR -: a tar stream on standard output */
};

static int tar_output(struct opts *o)
{
	int tar = cli_tar_output(o->out, o->cc.json);
	o->tar = tar > 0;
	return tar < 0 ? EXIT_USAGE : 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	enum { O_MP = 256, O_EXPERTS, O_RANK, O_CONFIG, O_LAYOUT, O_DTYPE, O_EXPERT_DTYPE };
	static const struct option lo[] = {
		{"layout", required_argument, NULL, O_LAYOUT},
		{"dtype", required_argument, NULL, O_DTYPE},
		{"model-parallel", required_argument, NULL, O_MP},
		{"n-experts", required_argument, NULL, O_EXPERTS},
		{"expert-dtype", required_argument, NULL, O_EXPERT_DTYPE},
		{"rank", required_argument, NULL, O_RANK},
		{"config", required_argument, NULL, O_CONFIG},
		{"verbose", no_argument, NULL, 'v'},
		CLI_LONGOPTS,
		CLI_LONGOPTS_WRITE,
		{NULL, 0, NULL, 0},
	};
	long v;
	int c;
	*o = (struct opts){.rank = -1, .dtype = DT_BF16, .t0 = clock_now()};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":v" CLI_SHORT CLI_SHORT_WRITE, lo, NULL)) != -1) {
		int common = cli_common(c, optarg, &o->cc, usage_text);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		switch (c) {
		case O_MP:
			if (cli_number("--model-parallel", optarg, 1, 65536, &v))
				return EXIT_USAGE;
			o->mp = (unsigned)v;
			break;
		case O_EXPERTS:
			if (cli_number("--n-experts", optarg, 1, UINT32_MAX, &v))
				return EXIT_USAGE;
			o->n_experts = v;
			o->have_experts = true;
			break;
		case O_RANK:
			if (cli_number("--rank", optarg, 0, 65535, &v))
				return EXIT_USAGE;
			o->rank = (int)v;
			break;
		case O_CONFIG:
			o->config = optarg;
			break;
		case O_EXPERT_DTYPE:
			o->expert_dtype = optarg;
			break;
		case O_LAYOUT:
			if (strcmp(optarg, "mindspore-train") != 0 && strcmp(optarg, "dsmp") != 0)
				return cli_usage("--layout: \"%s\" is not dsmp or mindspore-train", optarg);
			o->mindspore = strcmp(optarg, "mindspore-train") == 0;
			break;
		case O_DTYPE:
			if (strcmp(optarg, "bf16") != 0 && strcmp(optarg, "fp16") != 0 && strcmp(optarg, "fp32") != 0)
				return cli_usage("--dtype: \"%s\" is not bf16, fp16 or fp32", optarg);
			o->dtype = optarg[0] == 'b' ? DT_BF16 : optarg[2] == '1' ? DT_F16 : DT_F32;
			o->have_dtype = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		default:
			return cli_bad_option(argv, c);
		}
	}
	if (argc - optind != 2)
		return cli_usage("%s", "expected INPUT_DIR and OUTPUT_DIR");
	if (o->mindspore && (o->mp || o->have_experts || o->rank >= 0))
		return cli_usage("%s", "--model-parallel, --n-experts and --rank are for --layout dsmp");
	if (o->mindspore && o->expert_dtype)
		return cli_usage("%s", "--expert-dtype is for --layout dsmp");
	if (!o->mindspore && o->have_dtype)
		return cli_usage("%s", "--dtype is for --layout mindspore-train");
	if (o->mindspore) {
		o->in = argv[optind];
		o->out = argv[optind + 1];
		return tar_output(o);
	}
	if (!o->mp)
		return cli_usage("%s", "--model-parallel M is required");
	if (o->rank >= 0 && (unsigned)o->rank >= o->mp)
		return cli_usage("%s", "--rank must be below --model-parallel");
	o->in = argv[optind];
	o->out = argv[optind + 1];
	return tar_output(o);
}

/* What the report adds to the engine's: the layout written, and for the model-parallel
 * one the ranks, experts and the MTP layers left out. */
static void json_extra(struct jw *w, const void *arg)
{
	const struct dsmp_plan *p = arg;
	if (!p) {
		jw_kv_str(w, "layout", "mindspore-train");
		return;
	}
	jw_kv_str(w, "layout", "dsmp");
	jw_kv_u64(w, "model_parallel", p->rec.mp);
	jw_kv_u64(w, "n_experts", p->rec.n_experts);
	jw_key(w, "layers_left_out");
	jw_arr(w);
	for (size_t i = 0; i < p->rec.nlayers_left_out; i++)
		jw_u64(w, p->rec.layers_left_out[i]);
	jw_arr_end(w);
	jw_kv_u64(w, "tensors_left_out", p->rec.tensors_left_out);
	dsmp_plan_json(p, w);
}

/* The report (lib/engine/cv_report.h), with the MTP layers convert.py leaves out. */
static void report(const struct opts *o, const struct cv_job *j, const struct cv_opts *co, struct dsmp_plan *p)
{
	struct buf note = {0};
	if (p && p->rec.nlayers_left_out) {
		buf_printf(&note, "MTP layer%s", p->rec.nlayers_left_out > 1 ? "s" : "");
		for (size_t i = 0; i < p->rec.nlayers_left_out; i++)
			buf_printf(&note, "%s%" PRIu64, i ? ", " : " ", p->rec.layers_left_out[i]);
		buf_printf(&note, " left out (%" PRIu64 " tensors), as convert.py does", p->rec.tensors_left_out);
	}
	if (p)
		dsmp_plan_note(p, j, &note);
	struct cv_say say = {o->cc.quiet, o->cc.json, o->verbose, note.p, json_extra, p};
	cv_say(j, co, clock_now() - o->t0, &say);
	buf_free(&note);
}

static int run(const struct opts *o)
{
	struct view *v = NULL;
	struct ds_config cfg;
	struct dsmp_plan plan;
	char *source = NULL, *tool = NULL, *options = NULL;
	int rc = EXIT_USAGE;
	bool planned = false;
	if (input_whole(o->in, "hf") || layout_open_config(&v, o->in, "hf", o->config, 0))
		goto out;
	const char *cfg_path = v->config_path;
	if (!cfg_path) {
		err_set("%s: no config.json: its num_hidden_layers says which layers are MTP layers to leave "
			"out (give one with --config FILE)", o->in);
		goto out;
	}
	if (ds_config_load(&cfg, cfg_path))
		goto out;
	struct dsmp_opts dopts = {.mp = o->mp, .rank = o->rank, .config_path = cfg_path,
				  .expert_dtype = o->expert_dtype};
	if (dsmp_opts_config(&dopts, &cfg, cfg_path, o->have_experts ? o->n_experts : 0) ||
	    model_check(v, &cfg, cfg_path))
		goto out;
	source = realpath(o->in, NULL);
	tool = xasprintf("ckpt-hf-to-sharded %s", CKPT_VERSION);
	dopts.tool = tool;
	dopts.source = source;
	if (dsmp_plan(&plan, v, &dopts))
		goto out;
	planned = true;
	if (plan.config_unquantized && !o->cc.quiet)
		err_warn("%s declares FP8 weights (quantization_config) but those of %s are BF16: config.json "
			 "written without quantization_config", cfg_path, o->in);
	/* the options that change the output: a run with others is a different conversion */
	options = xasprintf("--model-parallel %u --n-experts %" PRIu64 "%s%s", o->mp, dopts.n_experts,
			    plan.rec.expert_dtype ? " --expert-dtype " : "", plan.rec.expert_dtype ? plan.rec.expert_dtype : "");
	struct progress *pg = progress_new(o->cc.quiet ? PROGRESS_OFF : o->cc.progress ? PROGRESS_ON : PROGRESS_AUTO);
	struct cv_opts copts = {.threads = o->cc.jobs, .force = o->cc.force, .no_side = o->rank > 0,
				.options = options, .progress = progress_update, .progress_arg = pg};
	cv_opts_output(&copts, o->out, o->tar, o->in);
	out_interrupt_note(o->tar ? CV_TAR_NOTE : CV_RESUME_NOTE);
	int failed = cv_run(&plan.job, &copts);
	progress_end(pg);
	out_interrupt_note(NULL);
	if (failed)
		goto out;
	report(o, &plan.job, &copts, &plan);
	rc = EXIT_OK;
out:
	if (rc)
		err_print();
	if (planned)
		dsmp_plan_free(&plan);
	free(source);
	free(tool);
	free(options);
	view_free(v);
	return rc;
}

/* --layout mindspore-train: the training layout from the input seen through its view. */
static int run_mindspore(const struct opts *o)
{
	struct view *v = NULL;
	struct cv_job job = {0};
	struct ms_train_out *mo = NULL;
	char *cfg_path = NULL;
	int rc = EXIT_USAGE;
	if (input_whole(o->in, NULL) || layout_open_config(&v, o->in, NULL, o->config, 0))
		goto out;
	cfg_path = o->config ? xstrdup(o->config) : path_join(o->in, "config.json");
	if (v->cfg && model_check(v, v->cfg, cfg_path))
		goto out;
	/* the output directory is claimed with a record of this conversion */
	const char *options = o->dtype == DT_BF16 ? "--layout mindspore-train --dtype bf16"
			      : o->dtype == DT_F16 ? "--layout mindspore-train --dtype fp16"
						   : "--layout mindspore-train --dtype fp32";
	struct progress *pg = progress_new(o->cc.quiet ? PROGRESS_OFF : o->cc.progress ? PROGRESS_ON : PROGRESS_AUTO);
	struct cv_opts copts = {.threads = o->cc.jobs, .force = o->cc.force, .options = options,
				.progress = progress_update, .progress_arg = pg};
	cv_opts_output(&copts, o->out, o->tar, o->in);
	out_interrupt_note(o->tar ? CV_TAR_NOTE : CV_RESUME_NOTE);
	int bad = ms_train_plan(&mo, &job, v, o->dtype) || cv_run(&job, &copts);
	progress_end(pg);
	out_interrupt_note(NULL);
	if (bad)
		goto out;
	report(o, &job, &copts, NULL);
	rc = EXIT_OK;
out:
	if (rc)
		err_print();
	ms_train_out_free(mo);
	cv_job_free(&job);
	view_free(v);
	free(cfg_path);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	cli_init(argv[0]);
	out_handle_signals();
	int rc = parse_args(&o, argc, argv);
	if (rc)
		return rc;
	return o.mindspore ? run_mindspore(&o) : run(&o);
}
