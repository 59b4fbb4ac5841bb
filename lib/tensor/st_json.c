#include "st_json.h"

#include "err.h"
#include "json.h"

int st_header_write(struct jw *w, const struct st_file *f)
{
	struct json_doc *d;
	if (!f->map)
		return err_set("%s: header bytes are not mapped", f->path);
	/* st_open has validated this text; duplicates were refused there */
	if (json_parse(&d, (const char *)f->map + 8, (size_t)f->header_len, 0))
		return err_prefix("%s: header is not valid JSON: ", f->path);
	jw_value(w, json_root(d));
	json_free(d);
	return 0;
}
