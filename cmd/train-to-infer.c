/* ckpt-train-to-infer: MindSpore Transformers' DeepSeek-V3 training layout -> its
 * inference layout, as mindformers' deepseek3_train2infer.py (formats/ms_train2infer.c). */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ds_config.h"
#include "clock.h"
#include "convert.h"
#include "cv_report.h"
#include "err.h"
#include "input.h"
#include "mindspore.h"
#include "model_check.h"
#include "out.h"
#include "progress.h"

static const char usage_text[] =
	"Usage: ckpt-train-to-infer [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-train-to-infer --file NAME [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-train-to-infer --finalize [OPTION]... INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-train-to-infer --list-files [OPTION]... INPUT_DIR\n"
	"Convert a MindSpore Transformers DeepSeek-V3 training checkpoint (safetensors and\n"
	"param_name_map.json) to the inference layout, as mindformers' deepseek3_train2infer.py\n"
	"does: general.safetensors, layer_L.safetensors, param_name_map.json.  The four model\n"
	"sizes come from config.json beside the input when it is there (an option given here\n"
	"wins) and are checked against the tensor shapes.  OUTPUT_DIR \"-\" writes the output\n"
	"as a tar stream on standard output.\n"
	"\n"
	"      --first-k-dense-replace N  layers before N have no routed experts (default 3)\n"
	"      --num-heads N              attention heads (default 128)\n"
	"      --qk-nope-head-dim N       (default 128)\n"
	"      --qk-rope-head-dim N       (default 64)\n"
	"      --transpose-experts        move the routed experts' bytes to [E, in, out]; without\n"
	"                                 it their shape is swapped and their bytes kept, as\n"
	"                                 upstream writes them with safetensors 0.8\n"
	"      --strict                   names the training layout does not know are an error\n"
	"      --file NAME                write the one output file NAME (for GNU parallel)\n"
	"      --finalize                 after every file is written: param_name_map.json,\n"
	"                                 config.json\n"
	"      --list-files               print the output files' names, one a line\n"
	"  -j, --jobs N                   threads (default: all cores; --processes N too)\n"
	"  -f, --force                    rewrite complete files; write into a non-empty\n"
	"                                 OUTPUT_DIR that holds no earlier run of this conversion\n"
	"  -q, --quiet                    no progress bar, no warnings, no report\n"
	"  -v, --verbose                  list every file written or kept before the report\n"
	"      --json                     report as one JSON object (what was written, kept,\n"
	"                                 how long)\n"
	"      --progress                 show progress even when standard error is not a terminal\n"
	"  -h, --help                     print this help\n"
	"  -V, --version                  print the version\n"
	"\n"
	CLI_HELP_CONVERTER_END;

/* Up to a few names of a list in a warning: "a, b, c and 7 more". */
static void say_names(const char *what, char **names, size_t n)
{
	char q[ERR_QUOTE], line[ERR_MAX];
	size_t o = 0;
	for (size_t i = 0; i < n && i < 3; i++)
		o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", i ? ", " : "", err_quote(names[i], q));
	if (n > 3)
		snprintf(line + o, sizeof line - o, " and %zu more", n - 3);
	err_warn("%zu %s: %s", n, what, line);
}

int main(int argc, char **argv)
{
	enum { O_FIRSTK = 256, O_HEADS, O_NOPE, O_ROPE, O_TRANSPOSE, O_STRICT, O_FILE, O_FINALIZE, O_LIST };
	static const struct option longopts[] = {
		{"first-k-dense-replace", required_argument, NULL, O_FIRSTK},
		{"num-heads", required_argument, NULL, O_HEADS},
		{"qk-nope-head-dim", required_argument, NULL, O_NOPE},
		{"qk-rope-head-dim", required_argument, NULL, O_ROPE},
		{"transpose-experts", no_argument, NULL, O_TRANSPOSE},
		{"strict", no_argument, NULL, O_STRICT},
		{"file", required_argument, NULL, O_FILE},
		{"finalize", no_argument, NULL, O_FINALIZE},
		{"list-files", no_argument, NULL, O_LIST},
		{"processes", required_argument, NULL, 'j'},
		{"verbose", no_argument, NULL, 'v'},
		CLI_LONGOPTS,
		CLI_LONGOPTS_WRITE,
		{0},
	};
	struct ms_t2i_opts o = {
		.first_k_dense = {3, "default"}, .heads = {128, "default"}, .nope = {128, "default"}, .rope = {64, "default"},
	};
	bool given[4] = {0}, strict = false, list = false, verbose = false;
	struct cv_opts co = {0};
	struct cli_common cc = {0};
	long v;
	int c;
	cli_init(argv[0]);
	out_handle_signals();
	double t0 = clock_now();
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":v" CLI_SHORT CLI_SHORT_WRITE, longopts, NULL)) != -1) {
		int common = cli_common(c, optarg, &cc, usage_text);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		switch (c) {
		case O_FIRSTK:
			if (cli_number("--first-k-dense-replace", optarg, 0, 1000000, &v))
				return EXIT_USAGE;
			o.first_k_dense = (struct ms_opt){v, "--first-k-dense-replace"};
			given[0] = true;
			break;
		case O_HEADS:
			if (cli_number("--num-heads", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			o.heads = (struct ms_opt){v, "--num-heads"};
			given[1] = true;
			break;
		case O_NOPE:
			if (cli_number("--qk-nope-head-dim", optarg, 0, 1000000, &v))
				return EXIT_USAGE;
			o.nope = (struct ms_opt){v, "--qk-nope-head-dim"};
			given[2] = true;
			break;
		case O_ROPE:
			if (cli_number("--qk-rope-head-dim", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			o.rope = (struct ms_opt){v, "--qk-rope-head-dim"};
			given[3] = true;
			break;
		case O_TRANSPOSE: o.transpose_experts = true; break;
		case O_STRICT: strict = true; break;
		case O_FILE: co.only = optarg; break;
		case O_FINALIZE: co.finalize = true; break;
		case O_LIST: list = true; break;
		case 'v': verbose = true; break;
		default: return cli_bad_option(argv, c);
		}
	}
	bool quiet = cc.quiet;
	enum progress_mode pm = quiet ? PROGRESS_OFF : cc.progress ? PROGRESS_ON : PROGRESS_AUTO;
	co.threads = cc.jobs;
	co.force = cc.force;
	if (argc - optind != (list ? 1 : 2))
		return cli_usage("%s", list ? "--list-files takes INPUT_DIR only"
				   : argc - optind < 2 ? "INPUT_DIR and OUTPUT_DIR are needed" : "too many arguments");
	if (co.only && co.finalize)
		return cli_usage("%s", "--file and --finalize are separate steps: write every file, then finalize");
	const char *in = argv[optind], *outdir = list ? NULL : argv[optind + 1];
	bool dash = outdir && strcmp(outdir, "-") == 0;
	if (dash && (co.only || co.finalize))
		return cli_usage("%s", "--file and --finalize write into a directory, not a tar stream");
	if (cc.json && list)
		return cli_usage("%s", "--json reports a conversion, not --list-files");
	int tar = cli_tar_output(outdir, cc.json);
	if (tar < 0)
		return EXIT_USAGE;

	if (input_whole(in, "mindspore-train")) {
		err_print();
		return EXIT_USAGE;
	}
	/* config.json beside the input gives what the command line does not */
	char *cfg_path = path_join(in, "config.json");
	struct ds_config cfg;
	bool have_cfg = false;
	struct stat sb;
	if (stat(cfg_path, &sb) == 0) {
		if (ds_config_load(&cfg, cfg_path)) {
			err_print();
			free(cfg_path);
			return EXIT_USAGE;
		}
		have_cfg = true;
		struct {
			struct ms_opt *o;
			int64_t v;
		} from_cfg[4] = {{&o.first_k_dense, cfg.first_k_dense_replace},
				 {&o.heads, cfg.num_attention_heads},
				 {&o.nope, cfg.qk_nope_head_dim},
				 {&o.rope, cfg.qk_rope_head_dim}};
		for (int i = 0; i < 4; i++)
			if (!given[i] && from_cfg[i].v >= 0)
				*from_cfg[i].o = (struct ms_opt){from_cfg[i].v, "config.json"};
	}

	struct ms_t2i *p;
	if (ms_t2i_plan(&p, in, &o)) {
		err_print();
		free(cfg_path);
		return EXIT_USAGE;
	}
	/* after the plan, which names a problem of the layout itself first */
	if (have_cfg && model_check_dir(in, "mindspore-train", &cfg, cfg_path)) {
		err_print();
		ms_t2i_free(p);
		free(cfg_path);
		return EXIT_USAGE;
	}
	free(cfg_path);
	int rc = EXIT_OK;
	if (list) {
		for (size_t i = 0; i < p->job.nfiles; i++)
			printf("%s\n", p->job.files[i].name);
		ms_t2i_free(p);
		return EXIT_OK;
	}
	/* with --file, the warnings are each file's business only once: at --finalize */
	bool warn = !quiet && !co.only;
	if (p->nunknown && (strict || warn))
		say_names(strict ? "names the MindSpore training layout does not know (--strict)"
				 : "names the MindSpore training layout does not know (optimizer state?), handled as upstream does",
			  p->unknown, p->nunknown);
	if (p->ndropped && warn)
		say_names("names in no output file (no layer's file takes them), left out as upstream does", p->dropped,
			  p->ndropped);
	if (p->nignored && warn)
		say_names("tensors that param_name_map.json does not list, left out as upstream does", p->ignored,
			  p->nignored);
	if (strict && p->nunknown) {
		err_set("%s: %zu names the training layout does not know", in, p->nunknown);
		rc = EXIT_USAGE;
	} else {
		/* what changes the output: a different set is a different conversion */
		char options[256];
		snprintf(options, sizeof options,
			 "--first-k-dense-replace %" PRId64 " --num-heads %" PRId64 " --qk-nope-head-dim %" PRId64
			 " --qk-rope-head-dim %" PRId64 "%s",
			 o.first_k_dense.v, o.heads.v, o.nope.v, o.rope.v, o.transpose_experts ? " --transpose-experts" : "");
		cv_opts_output(&co, outdir, tar, in);
		co.quiet = quiet;
		co.options = options;
		struct progress *pg = progress_new(pm);
		co.progress = progress_update;
		co.progress_arg = pg;
		out_interrupt_note(tar ? CV_TAR_NOTE : CV_RESUME_NOTE);
		if (cv_run(&p->job, &co))
			rc = EXIT_USAGE;
		progress_end(pg);
		out_interrupt_note(NULL);
		if (rc == EXIT_OK) {
			struct cv_say say = {quiet, cc.json, verbose, NULL, NULL, NULL};
			cv_say(&p->job, &co, clock_now() - t0, &say);
		}
	}
	if (rc != EXIT_OK)
		err_print();
	ms_t2i_free(p);
	return rc;
}
