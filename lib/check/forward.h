/* What ckpt-verify --forward does with the inference core (lib/infer/model.h): run a
 * checkpoint on tokens and report the next tokens it predicts, write its logits, compare
 * two checkpoints on the same tokens (whole model, or layer by layer for checkpoints too
 * big to run whole), and check it against a reference file of logits and hidden states.
 *
 * Results are plain structs; each has a text and a JSON writer with the signatures of a
 * report's details (lib/check/report.h), so a tool can print them alone or inside a report. */
#ifndef CKPT_FORWARD_H
#define CKPT_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ds_config.h"
#include "buf.h"
#include "infer/model.h"
#include "jsonw.h"
#include "pool.h"
#include "view.h"

/* ---- tokens ---- */

/* B sequences of T tokens, row-major. */
struct fwd_tokens {
	size_t B, T;
	int64_t *ids;
};

/* "1,2,3": one sequence. */
int fwd_tokens_list(struct fwd_tokens *t, const char *list);
/* A .safetensors file with "input_ids" ([B, T] or [T], integer dtype), or text: one
 * sequence per non-empty line, tokens separated by commas or blanks, all lines equally
 * long ("#" starts a comment). */
int fwd_tokens_file(struct fwd_tokens *t, const char *path);
/* The tokens used when none are given: T pseudo-random ids below vocab, always the same. */
void fwd_tokens_default(struct fwd_tokens *t, int64_t vocab, size_t T);
void fwd_tokens_free(struct fwd_tokens *t);

/* ---- a model ---- */

struct fwd_model {
	struct view *v;
	bool own_view;               /* opened here (fwd_open), not borrowed (fwd_open_view) */
	struct ds_config cfg;
	struct infer_model m;
	bool ready;
};

/* Open path (layout: NULL to detect) with its config.json; config_path (or NULL) is used
 * when it has none (model-parallel shards have none).  A checkpoint bigger than half the
 * physical memory runs with INFER_RELEASE whatever infer_flags say. */
int fwd_open(struct fwd_model *f, const char *path, const char *layout, const char *config_path,
	     struct pool *pool, unsigned infer_flags);
/* The same over a view opened elsewhere (it must outlive f). */
int fwd_open_view(struct fwd_model *f, struct view *v, const char *config_path, struct pool *pool,
		  unsigned infer_flags);
void fwd_close(struct fwd_model *f);
/* Every token below the model's vocab_size (an input error otherwise). */
int fwd_tokens_check(const struct fwd_tokens *t, const struct fwd_model *f);

/* ---- one forward pass ---- */

#define FWD_TOP 5

struct fwd_run {
	const struct fwd_tokens *tok;
	size_t V;
	float *logits;               /* B*T*V */
	size_t nmtp;                 /* MTP depths run (0 without --mtp) */
	bool no_mtp;                 /* MTP asked for, but the checkpoint has no MTP layer */
	float **mtp;                 /* depth d: B*(T-d)*V logits, predicting token i + d + 1 */
	double seconds;
	uint64_t weight_bytes;       /* stored bytes of the weights it read */
	uint64_t macs;               /* multiply-adds of its matrix products */
	char nonfinite[INFER_WHERE]; /* where NaN or infinity first appeared ("" if nowhere) */
};

/* mtp: also the MTP layers, where the config names some and the checkpoint holds them
 * (convert.py drops them from model-parallel shards). */
int fwd_forward(struct fwd_model *f, const struct fwd_tokens *t, bool mtp, struct fwd_run *r);
void fwd_run_free(struct fwd_run *r);

/* Top FWD_TOP next tokens per position, per sequence (and per MTP depth). */
void fwd_run_text(const void *run, struct buf *out);
void fwd_run_json(const void *run, struct jw *w);
/* input_ids I64 [B, T], logits F32 [B, T, V], and mtp.D.logits F32 [B, T - D, V]. */
int fwd_write_logits(const struct fwd_run *r, const char *path);

/* ---- comparisons ---- */

/* Pass when max abs difference <= max_abs, cosine similarity >= min_cos and the share of
 * positions whose top-1 tokens agree >= min_top1 (a disagreement where both sides' two
 * best logits are within 2 * max abs difference of each other is a tie, not counted).
 * A NaN or infinity on either side fails, whatever the rest. */
struct fwd_limits {
	double max_abs, min_cos, min_top1;
};
extern const struct fwd_limits fwd_default_limits;

struct fwd_cmp {
	const char *what;            /* "logits", "layer 3", "hidden.2" ... */
	size_t rows;                 /* positions (vectors) compared */
	double max_abs;              /* largest |a - b| */
	size_t max_row;              /* where it is */
	double cos;                  /* cosine similarity of the whole arrays */
	size_t top1_same, ties;      /* rows with the same argmax; disagreements that are ties */
	double rms_a, rms_b;
	bool use_top1;
	/* NaN or infinite values on each side, and the first row holding one: then nothing
	 * is compared (max_abs is infinite, cos 0) and the comparison fails */
	size_t nonfinite[2], nonfinite_row;
	bool pass;
};

void fwd_compare(const float *a, const float *b, size_t rows, size_t cols, bool top1, const struct fwd_limits *lim,
		 struct fwd_cmp *c);
/* One line: "logits: max abs 1.2e-06 (position 3), cosine 1.000000, top-1 48/48", or
 * "logits: non-finite values, 4608 and 0 (first in row 0): FAIL". */
void fwd_cmp_line(const struct fwd_cmp *c, struct buf *out);
void fwd_cmp_json(const struct fwd_cmp *c, struct jw *w);

/* The same tokens through a and b: logits compared (and MTP logits when mtp). */
struct fwd_against {
	struct fwd_run a, b;
	size_t n;
	struct fwd_cmp cmp[1 + 8];   /* logits, then each MTP depth */
	struct fwd_limits lim;
};
int fwd_against(struct fwd_model *a, struct fwd_model *b, const struct fwd_tokens *t, bool mtp,
		const struct fwd_limits *lim, struct fwd_against *r);
void fwd_against_free(struct fwd_against *r);
bool fwd_against_pass(const struct fwd_against *r);
void fwd_against_text(const void *r, struct buf *out);
void fwd_against_json(const void *r, struct jw *w);

/* "0,3,5-7" into layer indices (each < limit). */
int fwd_parse_layers(const char *list, size_t limit, size_t **out, size_t *n);

/* Each listed layer on the same fixed pseudo-random hidden state of T positions (one
 * sequence), in a and in b (or a alone, b NULL): outputs compared.  With INFER_RELEASE
 * models memory stays bounded by one layer's attention weights or one expert. */
struct fwd_layers {
	size_t n;
	size_t *layer;
	struct fwd_cmp *cmp;         /* with b */
	double *rms;                 /* output rms of a */
	double *seconds;             /* a's (and b's) time per layer */
	uint64_t *experts;           /* routed expert evaluations per layer (a's) */
	char (*nonfinite)[INFER_WHERE]; /* per layer, a's then b's: where NaN or infinity
					   first appeared ("" if nowhere) */
	bool compared;
	struct fwd_limits lim;
};
int fwd_layers(struct fwd_model *a, struct fwd_model *b, const size_t *layers, size_t n, size_t T,
	       const struct fwd_limits *lim, struct fwd_layers *r);
void fwd_layers_free(struct fwd_layers *r);
bool fwd_layers_pass(const struct fwd_layers *r);
void fwd_layers_text(const void *r, struct buf *out);
void fwd_layers_json(const void *r, struct jw *w);

/* Against a reference file (as shared/tools/refgen.py writes: input_ids [B, T], logits
 * [B, T, V], hidden.0 .. hidden.L where hidden.L is after the final norm): the file's
 * tokens through f, logits and every hidden state compared, max_abs as the limit. */
struct fwd_reference {
	size_t n;
	struct fwd_cmp *cmp;         /* logits, then hidden.0 ... */
	double max_abs;
	char nonfinite[INFER_WHERE]; /* where the run's NaN or infinity first appeared */
};
int fwd_reference(struct fwd_model *f, const char *ref_path, double max_abs, struct fwd_reference *r);
void fwd_reference_free(struct fwd_reference *r);
bool fwd_reference_pass(const struct fwd_reference *r);
void fwd_reference_text(const void *r, struct buf *out);
void fwd_reference_json(const void *r, struct jw *w);

#endif
