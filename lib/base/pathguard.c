#include "pathguard.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "hubcache.h"
#include "out.h"

int pathguard_init(struct pathguard *c, const char *dir)
{
	c->blobs = NULL;
	if (!(c->root = path_resolve(dir)))
		return -1;
	/* .../models--ORG--NAME/snapshots/REV: the files link to .../models--ORG--NAME/blobs/X */
	char *repo = hub_repo_of_snapshot(c->root);
	if (repo)
		c->blobs = path_join(repo, "blobs");
	free(repo);
	return 0;
}

int pathguard_check(const struct pathguard *c, const char *path)
{
	const char *trust = getenv(PATHGUARD_ENV);
	if (trust && strcmp(trust, "1") == 0)
		return 0;
	char *res = path_resolve(path);
	if (!res)
		return -1;
	bool inside = path_within(res, c->root) || (c->blobs && path_within(res, c->blobs));
	free(res);
	if (inside)
		return 0;
	struct stat sb;
	char target[4096], q[ERR_QUOTE];
	ssize_t n;
	if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode) && (n = readlink(path, target, sizeof target - 1)) >= 0) {
		target[n] = 0;
		return err_set("%s: symbolic link to %s leads outside the checkpoint directory (%s=1 follows it)",
			       path, err_quote(target, q), PATHGUARD_ENV);
	}
	return err_set("%s: leads outside the checkpoint directory through a symbolic link (%s=1 follows it)",
		       path, PATHGUARD_ENV);
}

void pathguard_free(struct pathguard *c)
{
	free(c->root);
	free(c->blobs);
	c->root = c->blobs = NULL;
}
