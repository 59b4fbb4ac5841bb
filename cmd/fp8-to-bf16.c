/* ckpt-fp8-to-bf16: an FP8 block-quantized checkpoint as BF16, exactly as DeepSeek's
 * fp8_cast_bf16.py writes it, in a complete, loadable output directory. */
#include <getopt.h>
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
#include "fp8cast.h"
#include "input.h"
#include "layout.h"
#include "out.h"
#include "progress.h"
#include "qscheme.h"

static const char usage_text[] =
	"Usage: ckpt-fp8-to-bf16 [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-fp8-to-bf16 --shard NAME [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-fp8-to-bf16 --finalize [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-fp8-to-bf16 --list-shards INPUT_DIR\n"
	"Convert an FP8 block-quantized checkpoint (DeepSeek-V3/R1) to BF16, bit for bit as\n"
	"DeepSeek's fp8_cast_bf16.py does, into a complete directory: shards, index, config.json\n"
	"without quantization_config, and every other file of INPUT_DIR.  OUTPUT_DIR \"-\" writes\n"
	"the directory as a tar stream on standard output.  FP4 weights (4-bit E2M1 codes two a\n"
	"byte with 1x32 scales, DeepSeek-V4's routed experts) are dequantized to BF16 too.\n"
	"\n"
	"      --drop-mtp     leave out the MTP layers and set num_nextn_predict_layers to 0\n"
	"      --fp4-table T  what FP4 code 8 decodes to: deepseek (the default: +0, as\n"
	"                     DeepSeek's FP4_TABLE and sglang) or transformers (-0, as\n"
	"                     transformers, MaxText and vLLM decode it); no other code differs\n"
	"      --strict       fail where the conversion would warn (a weight without a scale,\n"
	"                     a scale without a weight, a shard the index does not name,\n"
	"                     nothing to dequantize)\n"
	"      --shard NAME   convert the one input shard NAME (for GNU parallel)\n"
	"      --finalize     after every shard is converted: index, config.json, other files\n"
	"      --list-shards  print the input's shard names, one a line\n"
	"  -j, --jobs N       threads (default: all cores; --threads N too); the output does\n"
	"                     not depend on N\n"
	CLI_HELP_CONVERTER_OPTIONS
	"\n"
	CLI_HELP_CONVERTER_END;

static int fail(void)
{
	err_print();
	return EXIT_USAGE;
}

/* The shard NAME names: as the index names it, or a path to it (GNU parallel's {}). */
static const char *shard_named(const struct view *v, const char *name)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	for (size_t i = 0; i < v->nfiles; i++)
		if (strcmp(v->files[i].name, name) == 0)
			return v->files[i].name;
	for (size_t i = 0; i < v->nfiles; i++)
		if (strcmp(v->files[i].name, base) == 0)
			return v->files[i].name;
	return NULL;
}

/* What the report adds to the engine's: what was dequantized. */
static void json_extra(struct jw *w, const void *arg)
{
	const struct fp8cast *p = arg;
	jw_kv_u64(w, "dequantized", p->nconverted);
	jw_kv_u64(w, "dequantized_fp4", p->nfp4);
	jw_kv_u64(w, "copied", p->ncopied);
	jw_kv_u64(w, "left_out", p->ndropped);
}

int main(int argc, char **argv)
{
	enum { O_DROP_MTP = 256, O_STRICT, O_SHARD, O_FINALIZE, O_LIST, O_FP4_TABLE };
	static const struct option longopts[] = {
		{"threads", required_argument, NULL, 'j'}, {"drop-mtp", no_argument, NULL, O_DROP_MTP},
		{"strict", no_argument, NULL, O_STRICT},   {"shard", required_argument, NULL, O_SHARD},
		{"finalize", no_argument, NULL, O_FINALIZE}, {"list-shards", no_argument, NULL, O_LIST},
		{"verbose", no_argument, NULL, 'v'},       {"fp4-table", required_argument, NULL, O_FP4_TABLE},
		CLI_LONGOPTS,
		CLI_LONGOPTS_WRITE,                        {NULL, 0, NULL, 0},
	};
	struct fp8cast_opts fo = {0};
	struct cv_opts co = {0};
	struct cli_common cc = {0};
	bool list = false, verbose = false;
	const char *shard = NULL, *fp4_table = "deepseek";
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
		case O_DROP_MTP: fo.drop_mtp = true; break;
		case O_STRICT: fo.strict = true; break;
		case O_SHARD: shard = optarg; break;
		case O_FINALIZE: co.finalize = true; break;
		case O_LIST: list = true; break;
		case O_FP4_TABLE:
			if (!(fo.codes4 = qscheme_e2m1_named(optarg)))
				return cli_usage("--fp4-table takes %s, not '%s'", QSCHEME_E2M1_NAMES, optarg);
			fp4_table = optarg;
			break;
		case 'v': verbose = true; break;
		default: return cli_bad_option(argv, ch);
		}
	}
	bool quiet = cc.quiet;
	enum progress_mode pm = quiet ? PROGRESS_OFF : cc.progress ? PROGRESS_ON : PROGRESS_AUTO;
	co.threads = cc.jobs;
	co.force = cc.force;
	int nargs = argc - optind;
	if (nargs != (list ? 1 : 2))
		return cli_usage("%s", list ? "--list-shards takes INPUT_DIR only" : "INPUT_DIR and OUTPUT_DIR are needed");
	const char *in = argv[optind], *out = list ? NULL : argv[optind + 1];
	if (shard && co.finalize)
		return cli_usage("%s", "--shard and --finalize are separate steps: convert every shard, then finalize");
	bool dash = out && strcmp(out, "-") == 0;
	if (dash && (shard || co.finalize))
		return cli_usage("%s", "--shard and --finalize write into a directory, not a tar stream");
	if (cc.json && list)
		return cli_usage("%s", "--json reports a conversion, not --list-shards");
	int tar = cli_tar_output(out, cc.json);
	if (tar < 0)
		return EXIT_USAGE;
	if (input_whole(in, "hf"))
		return fail();

	struct view *v;
	if (layout_open(&v, in, "hf", 0))
		return fail();
	if (list) {
		for (size_t i = 0; i < v->nfiles; i++)
			printf("%s\n", v->files[i].name);
		view_free(v);
		return EXIT_OK;
	}
	if (shard && !(co.only = shard_named(v, shard))) {
		err_set("%s: not a shard of %s (see --list-shards)", shard, in);
		view_free(v);
		return fail();
	}
	struct fp8cast p;
	if (fp8cast_plan(&p, v, &fo)) {
		view_free(v);
		return fail();
	}
	/* what upstream does silently, said: a copy where there is nothing to convert (an
	 * error with --strict), blocks assumed (once, as a note of the whole checkpoint) */
	if (fp8cast_nothing(&p, v)) {
		if (fo.strict) {
			err_prefix("--strict: ");
			fp8cast_free(&p);
			view_free(v);
			return fail();
		}
		if (!quiet && !co.only)
			err_warn("%s", err_last());
	}
	if (!v->config_path && !quiet && !co.only)
		err_warn("%s: no config.json: FP8 blocks taken as 128x128, as fp8_cast_bf16.py takes them; "
			 "the output has no config.json either", in);
	for (size_t i = 0; i < p.nnotes && !quiet; i++) {
		const char *s = p.notes[i].shard;
		/* each note once: per shard with --shard, the rest with --finalize */
		if (co.only ? s && strcmp(s, co.only) == 0 : co.finalize ? !s : true)
			err_warn("%s", p.notes[i].text);
	}
	cv_opts_output(&co, out, tar, in);
	co.quiet = quiet;
	/* (what changes the output's bytes: a run with other options is not resumed) */
	char options[64];
	snprintf(options, sizeof options, "%s%s%s", fo.drop_mtp ? "--drop-mtp" : "",
		 fo.drop_mtp && strcmp(fp4_table, "deepseek") ? " " : "",
		 strcmp(fp4_table, "deepseek") ? "--fp4-table transformers" : "");
	co.options = options;
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
		char note[256] = "", fp4[64] = "";
		/* (which model config.json names, or that ckpt knows none: the dequantization
		 * is the same, the model check before it is not) */
		size_t nfp8 = p.nconverted - p.nfp4;
		if (p.nfp4)
			snprintf(fp4, sizeof fp4, " and %zu FP4", p.nfp4);
		if (p.nconverted)
			snprintf(note, sizeof note, "%zu FP8%s weight%s dequantized (%s)", nfp8, fp4,
				 p.nconverted == 1 ? "" : "s",
				 p.model ? p.model : v->cfg ? "a model ckpt does not know: not checked against one"
							    : "no config.json: no model checked");
		struct cv_say say = {quiet, cc.json, verbose, co.finalize || co.only ? NULL : note, json_extra, &p};
		cv_say(&p.job, &co, clock_now() - t0, &say);
	}
	fp8cast_free(&p);
	view_free(v);
	return rc ? EXIT_USAGE : EXIT_OK;
}
