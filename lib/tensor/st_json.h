/* A safetensors file's header written again as JSON (for `ckpt-inspect --header`): the
 * members in the file's order, numbers as spelled there. */
#ifndef CKPT_ST_JSON_H
#define CKPT_ST_JSON_H

#include "jsonw.h"
#include "st.h"

/* f must come from st_open (its header bytes mapped). */
int st_header_write(struct jw *w, const struct st_file *f);

#endif
