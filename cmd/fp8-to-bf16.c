/* ckpt-fp8-to-bf16: an FP8 block-quantized checkpoint as BF16, exactly as DeepSeek's
 * fp8_cast_bf16.py writes it, in a complete, loadable output directory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ckpt.h"
#include "convert.h"
#include "err.h"
#include "fp8cast.h"
#include "input.h"
#include "out.h"
#include "progress.h"

static const char usage_text[] =
	"usage: ckpt-fp8-to-bf16 [options] INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-fp8-to-bf16 --shard NAME [options] INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-fp8-to-bf16 --finalize [options] INPUT_DIR OUTPUT_DIR\n"
	"       ckpt-fp8-to-bf16 --list-shards INPUT_DIR\n"
	"Convert an FP8 block-quantized checkpoint (DeepSeek-V3/R1) to BF16, bit for bit as\n"
	"DeepSeek's fp8_cast_bf16.py does, into a complete directory: shards, index, config.json\n"
	"without quantization_config, and every other file of INPUT_DIR.  OUTPUT_DIR \"-\" writes\n"
	"the directory as a tar stream on standard output.\n"
	"\n"
	"  -j, --threads N    threads (default: all cores); the output does not depend on N\n"
	"      --drop-mtp     leave out the MTP layers and set num_nextn_predict_layers to 0\n"
	"      --strict       fail where the conversion would warn (a weight without a scale,\n"
	"                     a scale without a weight, a shard the index does not name)\n"
	"  -f, --force        rewrite shards that are complete; write into a non-empty\n"
	"                     OUTPUT_DIR that holds no earlier run of this conversion\n"
	"      --shard NAME   convert the one input shard NAME (for GNU parallel)\n"
	"      --finalize     after every shard is converted: index, config.json, other files\n"
	"      --list-shards  print the input's shard names, one a line\n"
	"  -q, --quiet        no progress bar, no warnings\n"
	"      --progress     show progress even when standard error is not a terminal\n"
	"  -h, --help         this text\n"
	"  -V, --version      the version\n";

static int fail(void)
{
	err_print();
	return EXIT_USAGE;
}

/* The shard NAME names: as the index names it, or a path to it (GNU parallel's {}). */
static const char *shard_named(const struct ckpt *c, const char *name)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	for (size_t i = 0; i < c->nshards; i++)
		if (strcmp(c->shards[i].name, name) == 0)
			return c->shards[i].name;
	for (size_t i = 0; i < c->nshards; i++)
		if (strcmp(c->shards[i].name, base) == 0)
			return c->shards[i].name;
	return NULL;
}

int main(int argc, char **argv)
{
	enum { O_DROP_MTP = 256, O_STRICT, O_SHARD, O_FINALIZE, O_LIST, O_PROGRESS };
	static const struct option longopts[] = {
		{"threads", required_argument, NULL, 'j'}, {"drop-mtp", no_argument, NULL, O_DROP_MTP},
		{"strict", no_argument, NULL, O_STRICT},   {"force", no_argument, NULL, 'f'},
		{"shard", required_argument, NULL, O_SHARD}, {"finalize", no_argument, NULL, O_FINALIZE},
		{"list-shards", no_argument, NULL, O_LIST}, {"quiet", no_argument, NULL, 'q'},
		{"progress", no_argument, NULL, O_PROGRESS}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	struct fp8cast_opts fo = {0};
	struct cv_opts co = {0};
	enum progress_mode pm = PROGRESS_AUTO;
	bool quiet = false, list = false;
	const char *shard = NULL;
	int ch;
	cli_init(argv[0]);
	out_handle_signals();
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":j:fqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			if (cli_jobs(optarg, &co.threads))
				return EXIT_USAGE;
			break;
		case O_DROP_MTP: fo.drop_mtp = true; break;
		case O_STRICT: fo.strict = true; break;
		case 'f': co.force = true; break;
		case O_SHARD: shard = optarg; break;
		case O_FINALIZE: co.finalize = true; break;
		case O_LIST: list = true; break;
		case 'q': quiet = true; pm = PROGRESS_OFF; break;
		case O_PROGRESS: pm = PROGRESS_ON; break;
		case 'h': fputs(usage_text, stdout); return EXIT_OK;
		case 'V': printf("ckpt-fp8-to-bf16 %s\n", CKPT_VERSION); return EXIT_OK;
		default: return cli_bad_option(argv, ch);
		}
	}
	if (quiet)
		pm = PROGRESS_OFF;
	int nargs = argc - optind;
	if (nargs != (list ? 1 : 2))
		return cli_usage("%s", list ? "--list-shards takes INPUT_DIR only" : "INPUT_DIR and OUTPUT_DIR are needed");
	const char *in = argv[optind], *out = list ? NULL : argv[optind + 1];
	if (shard && co.finalize)
		return cli_usage("%s", "--shard and --finalize are separate steps: convert every shard, then finalize");
	bool tar = out && strcmp(out, "-") == 0;
	if (tar && (shard || co.finalize))
		return cli_usage("%s", "--shard and --finalize write into a directory, not a tar stream");
	if (tar && isatty(STDOUT_FILENO)) {
		err_say("standard output is a terminal: not writing a tar stream there (redirect it)");
		return EXIT_USAGE;
	}
	if (input_whole(in, "hf"))
		return fail();

	struct ckpt *c;
	if (ckpt_open(&c, in, 0))
		return fail();
	if (list) {
		for (size_t i = 0; i < c->nshards; i++)
			printf("%s\n", c->shards[i].name);
		ckpt_close(c);
		return EXIT_OK;
	}
	if (shard && !(co.only = shard_named(c, shard))) {
		err_set("%s: not a shard of %s (see --list-shards)", shard, in);
		ckpt_close(c);
		return fail();
	}
	struct fp8cast p;
	if (fp8cast_plan(&p, c, &fo)) {
		ckpt_close(c);
		return fail();
	}
	/* what upstream does silently, said: a copy where there is nothing to convert (an
	 * error with --strict), blocks assumed (once, as a note of the whole checkpoint) */
	if (fp8cast_nothing(&p, c)) {
		if (fo.strict) {
			err_prefix("--strict: ");
			fp8cast_free(&p);
			ckpt_close(c);
			return fail();
		}
		if (!quiet && !co.only)
			err_warn("%s", err_last());
	}
	if (!c->config_path && !quiet && !co.only)
		err_warn("%s: no config.json: FP8 blocks taken as 128x128, as fp8_cast_bf16.py takes them; "
			 "the output has no config.json either", in);
	for (size_t i = 0; i < p.nnotes && !quiet; i++) {
		const char *s = p.notes[i].shard;
		/* each note once: per shard with --shard, the rest with --finalize */
		if (co.only ? s && strcmp(s, co.only) == 0 : co.finalize ? !s : true)
			err_warn("%s", p.notes[i].text);
	}
	co.outdir = out;
	co.tar = tar;
	co.tar_fd = STDOUT_FILENO;
	co.tar_what = "standard output";
	co.input = tar ? NULL : in;
	co.options = fo.drop_mtp ? "--drop-mtp" : "";
	struct progress *pg = progress_new(pm);
	co.progress = progress_update;
	co.progress_arg = pg;
	int rc = cv_run(&p.job, &co);
	progress_end(pg);
	if (rc)
		err_print();
	fp8cast_free(&p);
	ckpt_close(c);
	return rc ? EXIT_USAGE : EXIT_OK;
}
