/* ckpt-verify --forward: the forward-pass checks of lib/check/forward.h as one check ("forward")
 * of a verification report (lib/check/report.h). */
#ifndef CKPT_VERIFY_FORWARD_H
#define CKPT_VERIFY_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "forward.h"
#include "pool.h"
#include "report.h"
#include "verify.h"

struct vforward_opts {
	const char *tokens;          /* --tokens LIST */
	const char *tokens_file;     /* --tokens-file FILE */
	size_t positions;            /* default tokens, and --layers' hidden state (16) */
	bool mtp;
	const char *logits_out;      /* plain run: write the logits there */
	const char *against;         /* another checkpoint on the same tokens */
	const char *layers;          /* a layer list: layer by layer (with or without against) */
	const char *reference;       /* a reference file of logits and hidden states */
	const char *config;          /* config.json for checkpoints without one */
	struct fwd_limits lim;
	double ref_max_abs;          /* the limit against a reference file */
};

/* Adds the check "forward" to r: what the options ask for, on t (and OTHER).  -1 with a
 * message on an input error (tokens, files, OTHER that is not a checkpoint, writing the
 * logits); problems of the checkpoint itself (a tensor missing or of the wrong shape, a
 * comparison beyond its limits) are problems of the check. */
int verify_forward(const struct vtarget *t, const struct vforward_opts *o, struct pool *p, struct report *r);

#endif
