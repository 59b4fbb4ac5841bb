/* ckpt-bf16-to-fp8: a BF16 checkpoint as block FP8, exactly as slime's convert_hf_to_fp8.py
 * --strategy block writes it, in a complete, loadable output directory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "convert.h"
#include "cv_report.h"
#include "err.h"
#include "fp8quant.h"
#include "input.h"
#include "layout.h"
#include "out.h"
#include "progress.h"

static const char usage_text[] =
	"Usage: ckpt-bf16-to-fp8 [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"Quantize a BF16 checkpoint (DeepSeek-V3 and the like) to block FP8 (E4M3 codes, one F32\n"
	"scale a 128x128 block, NAME_scale_inv), byte for byte as slime's convert_hf_to_fp8.py\n"
	"--strategy block --block-size 128 128 does, into a complete directory: shards of the\n"
	"input's names, index, config.json with quantization_config, and every other file of\n"
	"INPUT_DIR.  OUTPUT_DIR \"-\" writes the directory as a tar stream on standard output.\n"
	"\n"
	"      --scale-fmt ue8m0  round each block's scale up to a power of two,\n"
	"                     2^ceil(log2(amax / 448)), as DeepSeek-V3.1 and later store them;\n"
	"                     config.json says scale_fmt \"ue8m0\"\n"
	"      --select WHICH  the weights quantized: names (default), slime's rule (a name with\n"
	"                     \"weight\" and no norm, embed, lm_head, mlp.gate., eh_proj, ...);\n"
	"                     model, those the model's own FP8 release quantizes\n"
	"      --block-size BMxBN  block rows and columns (default 128x128; N alone: NxN)\n"
	"  -j, --jobs N       threads (default: all cores); the output does not depend on N\n"
	CLI_HELP_CONVERTER_OPTIONS
	"\n"
	CLI_HELP_CONVERTER_END;

static int fail(void)
{
	err_print();
	return EXIT_USAGE;
}

static void json_extra(struct jw *w, const void *arg)
{
	const struct fp8quant *p = arg;
	jw_kv_u64(w, "quantized", p->nquantized);
	jw_kv_u64(w, "copied", p->ncopied);
}

/* --block-size: "BMxBN" or "N" */
static int block_size(const char *arg, uint64_t *b)
{
	char *x = strchr(arg, 'x'), first[24];
	long v;
	if (x && (size_t)(x - arg) >= sizeof first)
		return cli_usage("--block-size wants BMxBN or N, not '%s'", arg);
	snprintf(first, sizeof first, "%.*s", x ? (int)(x - arg) : (int)strlen(arg), arg);
	if (cli_number("--block-size", first, 1, 1 << 16, &v))
		return -1;
	b[0] = b[1] = (uint64_t)v;
	if (x) {
		if (cli_number("--block-size", x + 1, 1, 1 << 16, &v))
			return -1;
		b[1] = (uint64_t)v;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_SCALE_FMT = 256, O_SELECT, O_BLOCK };
	static const struct option longopts[] = {
		{"scale-fmt", required_argument, NULL, O_SCALE_FMT}, {"select", required_argument, NULL, O_SELECT},
		{"block-size", required_argument, NULL, O_BLOCK},    {"verbose", no_argument, NULL, 'v'},
		CLI_LONGOPTS,                                         CLI_LONGOPTS_WRITE,
		{NULL, 0, NULL, 0},
	};
	struct fp8quant_opts fo = {FP8Q_SELECT_NAMES, false, {128, 128}};
	struct cv_opts co = {0};
	struct cli_common cc = {0};
	bool verbose = false;
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
		case O_SCALE_FMT:
			if (strcmp(optarg, "ue8m0") != 0)
				return cli_usage("--scale-fmt knows ue8m0 only, not '%s'", optarg);
			fo.pow2 = true;
			break;
		case O_SELECT:
			if (strcmp(optarg, "names") && strcmp(optarg, "model"))
				return cli_usage("--select wants names or model, not '%s'", optarg);
			fo.select = strcmp(optarg, "model") == 0 ? FP8Q_SELECT_MODEL : FP8Q_SELECT_NAMES;
			break;
		case O_BLOCK:
			if (block_size(optarg, fo.block))
				return EXIT_USAGE;
			break;
		case 'v': verbose = true; break;
		default: return cli_bad_option(argv, ch);
		}
	}
	bool quiet = cc.quiet;
	enum progress_mode pm = quiet ? PROGRESS_OFF : cc.progress ? PROGRESS_ON : PROGRESS_AUTO;
	co.threads = cc.jobs;
	co.force = cc.force;
	if (argc - optind != 2)
		return cli_usage("%s", "INPUT_DIR and OUTPUT_DIR are needed");
	const char *in = argv[optind], *out = argv[optind + 1];
	int tar = cli_tar_output(out, cc.json);
	if (tar < 0)
		return EXIT_USAGE;
	if (input_whole(in, "hf"))
		return fail();
	struct view *v;
	if (layout_open(&v, in, "hf", 0))
		return fail();
	struct fp8quant p;
	if (fp8quant_plan(&p, v, &fo)) {
		view_free(v);
		return fail();
	}
	if (!p.nquantized && !quiet)
		err_warn("%s: no weight %s: every tensor copied unchanged", in,
			 fo.select == FP8Q_SELECT_MODEL ? "that the model quantizes" : "that slime's name rule quantizes");
	for (size_t i = 0; i < p.nnotes && !quiet; i++)
		err_warn("%s", p.notes[i]);
	char options[96];
	snprintf(options, sizeof options, "--select %s --block-size %llux%llu%s",
		 fo.select == FP8Q_SELECT_MODEL ? "model" : "names", (unsigned long long)fo.block[0],
		 (unsigned long long)fo.block[1], fo.pow2 ? " --scale-fmt ue8m0" : "");
	cv_opts_output(&co, out, tar, in);
	co.quiet = quiet;
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
		char note[200];
		snprintf(note, sizeof note, "%zu weight%s quantized to FP8 in %llux%llu blocks%s (%s)", p.nquantized,
			 p.nquantized == 1 ? "" : "s", (unsigned long long)fo.block[0], (unsigned long long)fo.block[1],
			 fo.pow2 ? ", power-of-two scales" : "",
			 p.model ? p.model : v->cfg ? "a model ckpt does not know: not checked against one"
						    : "no config.json: no model checked");
		struct cv_say say = {quiet, cc.json, verbose, note, json_extra, &p};
		cv_say(&p.job, &co, clock_now() - t0, &say);
	}
	fp8quant_free(&p);
	view_free(v);
	return rc ? EXIT_USAGE : EXIT_OK;
}
