/* ckpt: the suite's front command.  `ckpt TOOL ARGS...` runs ckpt-TOOL with ARGS: the
 * ckpt-TOOL installed beside this program first (so that one installation stays
 * consistent whatever PATH says), else the first on PATH.  `ckpt help` lists the tools. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"

/* The suite's tools, in the order `ckpt help` shows them.  Others found beside ckpt are
 * listed after these, without a description. */
static const struct {
	const char *name, *what;
} tools[] = {
	{"inspect", "show what a checkpoint holds: layout, shards, tensors, dtypes, statistics"},
	{"verify", "prove a checkpoint intact and right; compare two checkpoints"},
	{"fp8-to-bf16", "FP8 block-quantized checkpoint to BF16, as DeepSeek's fp8_cast_bf16.py"},
	{"bf16-to-fp8", "BF16 checkpoint to block FP8, as slime's convert_hf_to_fp8.py"},
	{"hf-to-sharded", "HF checkpoint to DeepSeek's model-parallel files, as inference/convert.py"},
	{"train-to-infer", "MindSpore Transformers' training layout to its inference layout"},
	{"to-hf", "any layout ckpt reads (model-parallel, MindSpore) back to an HF checkpoint"},
};
#define NTOOLS (sizeof tools / sizeof *tools)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ckpt TOOL [ARG]...     run ckpt-TOOL with the arguments\n"
		"       ckpt help [TOOL]       list the tools, or show TOOL's help\n"
		"       ckpt -V, --version     print the version\n"
		"       ckpt -h, --help        print this help\n"
		"ckpt converts, inspects and verifies DeepSeek-V3 checkpoints (safetensors).  Each\n"
		"tool is also a program of its own, ckpt-TOOL; see ckpt(1) and ckpt-TOOL(1).  The\n"
		"tools share their options: -j, --jobs N; -q, --quiet; --json; -f, --force and\n"
		"--progress where they write; -h, --help; -V, --version.\n"
		"\n"
		"Exit status: TOOL's; 0 success, 1 a check found problems (ckpt-verify), 2 usage,\n"
		"input or output error.\n");
}

/* The directory this program was run from (NULL when unknown). */
static char *self_dir(const char *argv0)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n > 0) {
		buf[n] = 0;
		return xstrdup(dirname(buf));
	}
	if (strchr(argv0, '/')) {
		char *c = xstrdup(argv0), *d = xstrdup(dirname(c));
		free(c);
		return d;
	}
	return NULL;
}

/* Tool names are words of letters, digits and dashes: nothing that is a path. */
static bool valid_name(const char *s)
{
	if (!*s || *s == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

static bool executable_in(const char *dir, const char *prog)
{
	char *p = xasprintf("%s/%s", dir, prog);
	bool ok = access(p, X_OK) == 0;
	free(p);
	return ok;
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char *copy = xstrdup(path), *save = NULL;
	bool found = false;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save))
		found = executable_in(*d ? d : ".", prog);
	free(copy);
	return found;
}

static bool available(const char *dir, const char *name)
{
	char *prog = xasprintf("ckpt-%s", name);
	bool ok = (dir && executable_in(dir, prog)) || on_path(prog);
	free(prog);
	return ok;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int list(const char *dir)
{
	printf("Usage: ckpt TOOL [ARG]...  (ckpt help TOOL: its options)\n\ntools:\n");
	for (size_t i = 0; i < NTOOLS; i++)
		if (available(dir, tools[i].name))
			printf("  %-16s %s\n", tools[i].name, tools[i].what);
	/* ckpt-* programs beside this one that the table does not know */
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	char **other = NULL;
	size_t n = 0;
	while (d && (e = readdir(d))) {
		const char *name = e->d_name + 5;
		bool known = false;
		if (strncmp(e->d_name, "ckpt-", 5) != 0 || !valid_name(name) || !executable_in(dir, e->d_name))
			continue;
		for (size_t i = 0; i < NTOOLS && !known; i++)
			known = strcmp(tools[i].name, name) == 0;
		if (!known) {
			other = xreallocarray(other, n + 1, sizeof *other);
			other[n++] = xstrdup(name);
		}
	}
	if (d)
		closedir(d);
	if (n > 1)
		qsort(other, n, sizeof *other, cmp_str);
	for (size_t i = 0; i < n; i++) {
		printf("  %s\n", other[i]);
		free(other[i]);
	}
	free(other);
	printf("\nExit status: 0 success, 1 a check found problems, 2 usage, input or output error.\n");
	return EXIT_OK;
}

/* Replace this process by ckpt-NAME with args (args[0] is overwritten). */
static int run_tool(const char *dir, const char *name, char **args)
{
	if (!valid_name(name)) {
		char q[ERR_QUOTE];
		err_say("%s: not a tool name (ckpt help lists the tools)", err_quote(name, q));
		return EXIT_USAGE;
	}
	char *prog = xasprintf("ckpt-%s", name);
	args[0] = prog;
	if (dir) {
		char *p = xasprintf("%s/%s", dir, prog);
		if (access(p, X_OK) == 0) {
			execv(p, args);
			err_say("%s: %s", p, strerror(errno));
			free(p);
			free(prog);
			return EXIT_USAGE;
		}
		free(p);
	}
	execvp(prog, args);
	if (errno == ENOENT)
		err_say("%s: no such tool: no %s beside %s or on PATH (ckpt help lists the tools)", name, prog,
			dir ? dir : "ckpt");
	else
		err_say("%s: %s", prog, strerror(errno));
	free(prog);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	char *dir = self_dir(argv[0]);
	int rc;
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("ckpt %s\n", CKPT_VERSION);
		rc = EXIT_OK;
	} else if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		rc = EXIT_OK;
	} else if (strcmp(cmd, "help") == 0 && argc == 2) {
		rc = list(dir);
	} else if (strcmp(cmd, "help") == 0 && argc == 3) {
		char *args[] = {NULL, "--help", NULL};
		rc = run_tool(dir, argv[2], args);
	} else if (strcmp(cmd, "help") == 0) {
		usage(stderr);
		rc = EXIT_USAGE;
	} else if (cmd[0] == '-') {
		err_say("%s: unknown option (ckpt --help)", cmd);
		rc = EXIT_USAGE;
	} else {
		rc = run_tool(dir, cmd, argv + 1);
	}
	free(dir);
	return rc;
}
