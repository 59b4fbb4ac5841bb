/* Which names are archives (reading them is tested by tests/cli/verify.sh, on archives made
 * by tar). */
#include <string.h>

#include "archive_in.h"
#include "err.h"
#include "t.h"

int main(void)
{
	err_init("test_archive_in");
	const char *yes[] = {"a.tar", "d/a.tar.gz", "a.tar.zst", "a.tgz", "a.tbz2", "a.txz", "a.tzst", "v3.tar.xz"};
	const char *no[] = {"a.safetensors", "tar", ".tar.gz", "a.tar.gz.part", "a.tar/x.json", "dir.tar/model.safetensors", "a.gz"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		CHECK(arc_is_archive_name(yes[i]), "archive name: %s", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		CHECK(!arc_is_archive_name(no[i]), "not an archive name: %s", no[i]);
	struct arc a;
	CHECK(arc_read(&a, "/nonexistent.tar", false) == -1 && strstr(err_last(), "/nonexistent.tar: ") == err_last(),
	      "a missing archive: an error naming it (%s)", err_last());
	return t_done();
}
