/* The DeepSeek model-parallel layout: convert.py's renaming and placement rules, their
 * inverse, and the view of upstream's --model-parallel 2 output, which must show the HF
 * checkpoint it came from (less the MTP layer) tensor for tensor, bit for bit. */
#include <sys/stat.h>
#include <unistd.h>

#include "dsmp.h"
#include "err.h"
#include "family.h"
#include "layout.h"
#include "out.h"
#include "t.h"

static void test_rules(void)
{
	const struct family *v3 = family_find("deepseek_v3", NULL);
	static const struct {
		const char *hf, *mp;
		int dim;
		long expert;
	} cases[] = {
		{"model.embed_tokens.weight", "embed.weight", 0, -1},
		{"model.norm.weight", "norm.weight", -1, -1},
		{"lm_head.weight", "head.weight", 0, -1},
		{"model.layers.0.input_layernorm.weight", "layers.0.attn_norm.weight", -1, -1},
		{"model.layers.0.post_attention_layernorm.weight", "layers.0.ffn_norm.weight", -1, -1},
		{"model.layers.0.self_attn.q_proj.weight", "layers.0.attn.wq.weight", 0, -1},
		{"model.layers.0.self_attn.q_a_proj.weight", "layers.0.attn.wq_a.weight", -1, -1},
		{"model.layers.0.self_attn.q_a_proj.weight_scale_inv", "layers.0.attn.wq_a.scale", -1, -1},
		{"model.layers.0.self_attn.q_a_layernorm.weight", "layers.0.attn.q_norm.weight", -1, -1},
		{"model.layers.0.self_attn.q_b_proj.weight", "layers.0.attn.wq_b.weight", 0, -1},
		{"model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "layers.0.attn.wkv_a.weight", -1, -1},
		{"model.layers.0.self_attn.kv_a_layernorm.weight", "layers.0.attn.kv_norm.weight", -1, -1},
		{"model.layers.0.self_attn.kv_b_proj.weight_scale_inv", "layers.0.attn.wkv_b.scale", 0, -1},
		{"model.layers.0.self_attn.o_proj.weight", "layers.0.attn.wo.weight", 1, -1},
		{"model.layers.0.mlp.gate_proj.weight", "layers.0.ffn.w1.weight", 0, -1},
		{"model.layers.0.mlp.down_proj.weight_scale_inv", "layers.0.ffn.w2.scale", 1, -1},
		{"model.layers.0.mlp.up_proj.weight", "layers.0.ffn.w3.weight", 0, -1},
		{"model.layers.5.mlp.gate.weight", "layers.5.ffn.gate.weight", -1, -1},
		{"model.layers.5.mlp.gate.e_score_correction_bias", "layers.5.ffn.gate.bias", -1, -1},
		{"model.layers.5.mlp.experts.17.gate_proj.weight", "layers.5.ffn.experts.17.w1.weight", -1, 17},
		{"model.layers.5.mlp.experts.255.down_proj.weight_scale_inv", "layers.5.ffn.experts.255.w2.scale", -1, 255},
		{"model.layers.5.mlp.shared_experts.down_proj.weight", "layers.5.ffn.shared_experts.w2.weight", 1, -1},
		/* convert.py's plain substring replacements reach every part of the name */
		{"model.mlp_x.self_attn.mlp.norm.weight", "ffn_x.attn.ffn.norm.weight", -1, -1},
		{"model.up_proj.up_proj.weight", "w3.w3.weight", 0, -1},
	};
	size_t good = 0, inverse = 0;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct dsmp_place p;
		if (dsmp_place(&p, v3, cases[i].hf)) {
			printf("# %s: %s\n", cases[i].hf, err_last());
			continue;
		}
		bool ok = strcmp(p.name, cases[i].mp) == 0 && p.dim == cases[i].dim &&
			  p.expert == (cases[i].expert >= 0) && (!p.expert || p.expert_id == (uint64_t)cases[i].expert);
		if (!ok)
			printf("# %s -> %s dim %d expert %d\n", cases[i].hf, p.name, p.dim, p.expert);
		good += ok;
		char *back = dsmp_hf_name(v3, p.name);
		if (i < 22)
			inverse += back && strcmp(back, cases[i].hf) == 0;
		free(back);
		dsmp_place_free(&p);
	}
	CHECK(good == sizeof cases / sizeof *cases, "convert.py's names, split dims and experts (%zu of %zu)", good,
	      sizeof cases / sizeof *cases);
	CHECK(inverse == 22, "the inverse gives back the HF names of DeepSeek's tensors (%zu of 22)", inverse);

	struct dsmp_place p;
	int rc = dsmp_place(&p, v3, "model.layers.3.eh_proj.weight");
	CHECK(rc == -1 && strcmp(err_last(), "tensor \"model.layers.3.eh_proj.weight\": the model-parallel layout has "
			 "no place for it (DeepSeek-V3's inference/convert.py has no entry for \"eh_proj\")") == 0,
	      "an unknown name is refused: %s", err_last());
	rc = dsmp_place(&p, NULL, "model.layers.3.eh_proj.weight");
	CHECK(rc == -1 && strcmp(err_last(), "tensor \"model.layers.3.eh_proj.weight\": the model-parallel layout has "
			 "no place for it (no convert.py ckpt knows has an entry for \"eh_proj\")") == 0,
	      "... by every family's cut: %s", err_last());
	rc = dsmp_place(&p, v3, "weight");
	CHECK(rc == -1, "a name of one part is refused");
	rc = dsmp_place(&p, v3, "model.layers.1.mlp.experts.x1.gate_proj.weight");
	CHECK(rc == -1 && strstr(err_last(), "expert number is not a number"), "an expert id that is not a number: %s",
	      err_last());
	char *hf = dsmp_hf_name(v3, "layers.0.attn.wx.weight");
	CHECK(hf == NULL, "the inverse refuses names convert.py does not write");
	free(hf);
	hf = dsmp_hf_name(v3, "layers.0.self_attn.wq.weight");
	CHECK(hf == NULL, "the inverse refuses names that do not rename forward to themselves");
	free(hf);

	uint64_t l = 0;
	CHECK(dsmp_is_mtp("model.layers.3.eh_proj.weight", 3, &l) && l == 3, "layer 3 of 3 is MTP");
	CHECK(dsmp_is_mtp("model.layers.61.enorm.weight", 61, &l) && l == 61, "layer 61 of 61 is MTP");
	CHECK(!dsmp_is_mtp("model.layers.610.enorm.weight", 611, &l) && l == 610,
	      "layer 610 of 611 is not (convert.py's substring test would skip it)");
	CHECK(!dsmp_is_mtp("model.layers.2.mlp.gate.weight", 3, &l), "layer 2 of 3 is not MTP");
	CHECK(!dsmp_is_mtp("model.layers.3x.mlp.gate.weight", 3, &l) && !dsmp_is_mtp("lm_head.weight", 3, &l),
	      "only model.layers.N. names are layers");

	unsigned r, m;
	char *fn = dsmp_file_name(3, 8);
	CHECK(strcmp(fn, "model3-mp8.safetensors") == 0 && dsmp_parse_file_name(fn, &r, &m) && r == 3 && m == 8,
	      "rank file names");
	free(fn);
	CHECK(!dsmp_parse_file_name("model8-mp8.safetensors", &r, &m) &&
		      !dsmp_parse_file_name("model01-mp2.safetensors", &r, &m) &&
		      !dsmp_parse_file_name("model0-mp2.safetensors.tmp", &r, &m),
	      "names that are not rank files");
	CHECK(dsmp_expert_owner(0, 256, 8) == 0 && dsmp_expert_owner(31, 256, 8) == 0 &&
		      dsmp_expert_owner(32, 256, 8) == 1 && dsmp_expert_owner(255, 256, 8) == 7,
	      "experts belong to ranks in consecutive runs");
}

/* DeepSeek-V3.2's cut: V3.2-Exp convert.py's four entries on top of V3's.  The indexer is
 * copied whole to every rank; the MLA query (q_b_proj) is still cut, though both become
 * "wq_b"; V3's cut has no place for the indexer. */
static void test_rules_v32(void)
{
	const struct family *v3 = family_find("deepseek_v3", NULL), *v32 = family_find("deepseek_v32", NULL);
	static const struct {
		const char *hf, *mp;
		int dim;
	} cases[] = {
		{"model.layers.0.self_attn.indexer.wq_b.weight", "layers.0.attn.indexer.wq_b.weight", -1},
		{"model.layers.0.self_attn.indexer.wq_b.weight_scale_inv", "layers.0.attn.indexer.wq_b.scale", -1},
		{"model.layers.7.self_attn.indexer.wk.weight", "layers.7.attn.indexer.wk.weight", -1},
		{"model.layers.7.self_attn.indexer.wk.weight_scale_inv", "layers.7.attn.indexer.wk.scale", -1},
		{"model.layers.60.self_attn.indexer.k_norm.weight", "layers.60.attn.indexer.k_norm.weight", -1},
		{"model.layers.60.self_attn.indexer.k_norm.bias", "layers.60.attn.indexer.k_norm.bias", -1},
		{"model.layers.2.self_attn.indexer.weights_proj.weight", "layers.2.attn.indexer.weights_proj.weight", -1},
		{"model.layers.2.self_attn.q_b_proj.weight", "layers.2.attn.wq_b.weight", 0},
		{"model.layers.2.self_attn.q_b_proj.weight_scale_inv", "layers.2.attn.wq_b.scale", 0},
		{"model.layers.2.self_attn.o_proj.weight", "layers.2.attn.wo.weight", 1},
		{"model.layers.5.mlp.experts.3.up_proj.weight", "layers.5.ffn.experts.3.w3.weight", -1},
	};
	size_t n = sizeof cases / sizeof *cases, good = 0, inverse = 0, any = 0;
	for (size_t i = 0; i < n; i++) {
		struct dsmp_place p;
		if (dsmp_place(&p, v32, cases[i].hf)) {
			printf("# %s: %s\n", cases[i].hf, err_last());
			continue;
		}
		good += strcmp(p.name, cases[i].mp) == 0 && p.dim == cases[i].dim;
		char *back = dsmp_hf_name(v32, p.name), *back_any = dsmp_hf_name(NULL, p.name);
		inverse += back && strcmp(back, cases[i].hf) == 0;
		any += back_any && strcmp(back_any, cases[i].hf) == 0;
		if (!back || strcmp(back, cases[i].hf))
			printf("# %s -> %s -> %s\n", cases[i].hf, p.name, back ? back : "(none)");
		free(back);
		free(back_any);
		dsmp_place_free(&p);
	}
	CHECK(good == n, "V3.2: V3.2-Exp convert.py's names and cuts, the indexer whole on every rank (%zu of %zu)",
	      good, n);
	CHECK(inverse == n, "V3.2: the inverse tells the indexer's wq_b from the MLA query's (%zu of %zu)", inverse, n);
	CHECK(any == n, "V3.2: so does the inverse without a family (a directory without config.json) (%zu of %zu)",
	      any, n);
	struct dsmp_place p;
	int rc = dsmp_place(&p, v3, "model.layers.0.self_attn.indexer.wk.weight");
	CHECK(rc == -1 && strcmp(err_last(), "tensor \"model.layers.0.self_attn.indexer.wk.weight\": the model-parallel "
			 "layout has no place for it (DeepSeek-V3's inference/convert.py has no entry for \"wk\")") == 0,
	      "V3's cut has no place for the indexer: %s", err_last());
	char *hf = dsmp_hf_name(v3, "layers.0.attn.indexer.wk.weight");
	CHECK(hf == NULL, "nor does V3's inverse");
	free(hf);
	hf = dsmp_hf_name(v3, "layers.0.attn.indexer.wq_b.weight");
	CHECK(hf && strcmp(hf, "model.layers.0.self_attn.indexer.q_b_proj.weight") == 0,
	      "V3's inverse of an indexer wq_b is the only name V3's convert.py renames to it: %s", hf ? hf : "(none)");
	free(hf);
	CHECK(family_find("kimi_k2", NULL)->mp_cut == v3->mp_cut, "Kimi-K2 is cut as DeepSeek-V3");
}

static void test_record(void)
{
	uint64_t left[2] = {61, 62};
	struct dsmp_record r = {.mp = 8, .n_experts = 256, .num_hidden_layers = 61, .block = {128, 128},
				.nlayers_left_out = 2, .layers_left_out = left, .tensors_left_out = 1234,
				.source = "/data/DeepSeek-V3", .source_tensors = 91991, .source_bytes = 688586727753ull,
				.tool = "ckpt-hf-to-sharded 0.1.0"};
	struct buf b = {0};
	dsmp_record_render(&b, &r);
	CHECK(strstr(b.p, "\"model_parallel\": 8,\n  \"n_experts\": 256,\n  \"experts_per_rank\": 32,") != NULL &&
		      strstr(b.p, "\"model7-mp8.safetensors\"\n  ],") != NULL,
	      "the record is indented JSON naming every rank file");
	out_write_file(DSMP_RECORD, b.p, b.len);
	buf_free(&b);
	struct dsmp_record back;
	int rc = dsmp_record_load(&back, DSMP_RECORD);
	CHECK(rc == 0 && back.mp == 8 && back.n_experts == 256 && back.num_hidden_layers == 61 &&
		      back.nlayers_left_out == 2 && back.layers_left_out[1] == 62 && strcmp(back.source, r.source) == 0,
	      "the record reads back (%s)", rc ? err_last() : "");
	if (!rc)
		dsmp_record_free(&back);
	const char *bad = "{\"layout\": \"deepseek-model-parallel\", \"model_parallel\": 3, \"n_experts\": 8}";
	out_write_file(DSMP_RECORD, bad, strlen(bad));
	rc = dsmp_record_load(&back, DSMP_RECORD);
	CHECK(rc == -1 && strstr(err_last(), "n_experts 8 does not divide into model_parallel 3 ranks"),
	      "a record whose experts do not divide is refused: %s", err_last());
	unlink(DSMP_RECORD);
}

/* Every tensor of a equals b's by value (float32 bits) and, where a is unscaled, by bytes. */
static void compare_views(const struct view *a, const struct view *b, size_t *same, size_t *bytes_same,
			  size_t *unscaled)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct vtensor *x = &a->t[i], *y = view_find(b, x->name);
		if (!y || x->rows != y->rows || x->cols != y->cols || x->dtype != y->dtype || x->ndim != y->ndim ||
		    memcmp(x->shape, y->shape, x->ndim * sizeof *x->shape)) {
			printf("# %s differs in shape or dtype\n", x->name);
			continue;
		}
		uint64_t n = x->rows * x->cols;
		float *fx = malloc(n * sizeof *fx + 1), *fy = malloc(n * sizeof *fy + 1);
		int rc = view_read_f32(x, 0, x->rows, fx) | view_read_f32(y, 0, y->rows, fy);
		*same += rc == 0 && memcmp(fx, fy, n * sizeof *fx) == 0;
		free(fx);
		free(fy);
		if (x->p[0].s)
			continue;
		(*unscaled)++;
		uint64_t nb = n * (dt_bits(x->stored) / 8);
		uint8_t *bx = malloc(nb + 1), *by = malloc(nb + 1);
		rc = view_read_bytes(x, 0, x->rows, bx) | view_read_bytes(y, 0, y->rows, by);
		*bytes_same += rc == 0 && memcmp(bx, by, nb) == 0;
		free(bx);
		free(by);
	}
}

static void test_view_of_upstream_mp2(void)
{
	struct view *mp, *hf;
	int rm = layout_open(&mp, t_path("CKPT_GOLDEN", "tiny-v3.convert-mp2"), NULL, 0);
	CHECK(rm == 0 && mp->layout == LAYOUT_DSMP, "upstream's mp2 output is detected and opened as dsmp (%s)",
	      rm ? err_last() : "");
	int rh = layout_open(&hf, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0);
	CHECK(rh == 0 && hf->layout == LAYOUT_HF, "the tiny HF checkpoint opens as hf");
	if (rm || rh)
		return;
	size_t expected = 0;
	for (size_t i = 0; i < hf->n; i++)
		expected += strncmp(hf->t[i].name, "model.layers.3.", 15) != 0;
	CHECK(mp->n == expected && expected == 91, "the same canonical tensors, less the MTP layer (%zu, %zu)", mp->n,
	      expected);
	size_t same = 0, bytes_same = 0, unscaled = 0;
	compare_views(mp, hf, &same, &bytes_same, &unscaled);
	CHECK(same == mp->n, "every tensor equal bit for bit as float32 (%zu of %zu)", same, mp->n);
	CHECK(bytes_same == unscaled && unscaled == 19, "every unscaled tensor equal byte for byte (%zu of %zu)",
	      bytes_same, unscaled);
	const struct vtensor *wo = view_find(mp, "model.layers.0.self_attn.o_proj.weight");
	const struct vtensor *emb = view_find(mp, "model.embed_tokens.weight");
	const struct vtensor *e5 = view_find(mp, "model.layers.2.mlp.experts.5.up_proj.weight");
	const struct vtensor *norm = view_find(mp, "model.norm.weight");
	CHECK(wo && wo->npieces == 2 && wo->p[1].dc == 128 && wo->p[1].s && wo->nreplicas == 0,
	      "a dim-1 cut joins as two column pieces, each with its own rank's scales");
	CHECK(emb && emb->npieces == 2 && emb->p[1].dr == 256, "a dim-0 cut joins as two row pieces");
	CHECK(e5 && emb && e5->npieces == 1 && e5->nreplicas == 0 && e5->p[0].f == emb->p[1].f,
	      "routed expert 5 comes whole from rank 1, which owns experts 4-7");
	CHECK(norm && norm->npieces == 1 && norm->nreplicas == 1, "a copied tensor has rank 1's copy as a replica");
	size_t rb = 0;
	if (norm && norm->nreplicas == 1) {
		uint8_t a[512], b[512];
		rb = view_read_bytes(norm, 0, 1, a) == 0 && vpiece_read_bytes(&norm->replica[0], 0, 1, b) == 0 &&
		     memcmp(a, b, 512) == 0;
	}
	CHECK(rb, "the replica's bytes read and equal the tensor's");
	view_free(mp);
	view_free(hf);
}

/* A directory that lacks rank 1: strict opening fails naming the file; lenient records it. */
static void test_view_problems(void)
{
	mkdir("half", 0777);
	t_link_or_copy(t_path("CKPT_GOLDEN", "tiny-v3.convert-mp2/model0-mp2.safetensors"), "half/model0-mp2.safetensors");
	struct view *v;
	int rc = layout_open(&v, "half", NULL, 0);
	CHECK(rc == -1 && strstr(err_last(), "half: rank 1 of 2 is missing (model1-mp2.safetensors)"),
	      "a missing rank is an error: %s", err_last());
	rc = layout_open(&v, "half", "dsmp", VIEW_LENIENT);
	CHECK(rc == 0 && v->nproblems > 0 && v->n > 0, "leniently, the problems are recorded (%zu)", rc ? 0 : v->nproblems);
	if (!rc)
		view_free(v);
	t_link_or_copy(t_path("CKPT_GOLDEN", "tiny-v3.convert-mp2/model0-mp2.safetensors"), "half/model1-mp2.safetensors");
	rc = layout_open(&v, "half", NULL, 0);
	CHECK(rc == -1 && strstr(err_last(), "is on rank 1, but belongs to rank 0"),
	      "rank 0's file as rank 1: its experts are on the wrong rank: %s", err_last());
	unlink("half/model0-mp2.safetensors");
	unlink("half/model1-mp2.safetensors");
	rmdir("half");
}

/* Our own converter's output read back through the view shows the HF checkpoint, less its
 * MTP layer, tensor for tensor: FP8 at mp 2 (scales cut with their weights) and BF16 at mp 4
 * (every cut 4-way, dim-1 cuts gathered). */
static void roundtrip(const char *in, const char *config, unsigned mp, const char *dir, unsigned wo_pieces)
{
	struct view *c;
	struct ds_config cfg;
	struct dsmp_plan p;
	int rc = layout_open(&c, in, "hf", 0);
	rc = rc || ds_config_load(&cfg, config);
	struct dsmp_opts o = {.mp = mp, .n_experts = rc ? 0 : (uint64_t)cfg.n_routed_experts,
			      .num_layers = rc ? 0 : cfg.num_hidden_layers, .block = {128, 128}, .rank = -1,
			      .config_path = config, .tool = "test"};
	rc = rc || dsmp_plan(&p, c, &o);
	struct cv_opts co = {.outdir = dir, .threads = 3};
	rc = rc || cv_run(&p.job, &co);
	CHECK(rc == 0 && p.job.nfiles == mp, "%s: written at mp %u (%s)", dir, mp, rc ? err_last() : "");
	if (rc)
		return;
	dsmp_plan_free(&p);
	view_free(c);
	struct view *v, *hf;
	rc = layout_open(&v, dir, NULL, 0);
	int rh = layout_open(&hf, in, NULL, 0);
	CHECK(rc == 0 && rh == 0 && v->layout == LAYOUT_DSMP, "%s: both views open (%s)", dir, err_last());
	if (rc || rh)
		return;
	size_t want = 0, unscaled_want = 0;
	for (size_t i = 0; i < hf->n; i++) {
		uint64_t layer;
		if (dsmp_is_mtp(hf->t[i].name, cfg.num_hidden_layers, &layer))
			continue;
		want++;
		unscaled_want += hf->t[i].p[0].s == NULL;
	}
	size_t same = 0, bytes_same = 0, unscaled = 0;
	compare_views(v, hf, &same, &bytes_same, &unscaled);
	CHECK(v->n == want && same == want && bytes_same == unscaled && unscaled == unscaled_want,
	      "%s: the HF tensors less the MTP layer, each equal, unscaled ones byte for byte (%zu, %zu of %zu; %zu of %zu)",
	      dir, same, v->n, want, bytes_same, unscaled);
	const struct vtensor *wo = view_find(v, "model.layers.0.self_attn.o_proj.weight");
	CHECK(wo && wo->npieces == wo_pieces && wo->p[wo_pieces - 1].dc == wo->cols - wo->cols / wo_pieces,
	      "%s: o_proj joins from %u column pieces", dir, wo_pieces);
	view_free(v);
	view_free(hf);
}

/* A safetensors file of zeros with these tensors. */
static void write_zeros(const char *path, const struct st_entry *e, size_t n)
{
	struct st_layout L;
	if (st_layout(&L, e, n, NULL, 0))
		return;
	uint8_t *b = calloc(1, L.file_size);
	memcpy(b, L.header, L.header_size);
	out_write_file(path, b, L.file_size);
	free(b);
	st_layout_free(&L);
}

/* Rank files as convert.py writes them when a cut falls inside the FP8 blocks: the view
 * refuses to pair the slices with scales that are not theirs. */
static void test_view_misaligned(void)
{
	uint64_t w[2] = {100, 128}, sc[2] = {1, 1};
	struct st_entry e[2] = {{"layers.0.attn.wkv_b.weight", DT_F8_E4M3, 2, w}, {"layers.0.attn.wkv_b.scale", DT_F32, 2, sc}};
	mkdir("misaligned", 0777);
	write_zeros("misaligned/model0-mp2.safetensors", e, 2);
	write_zeros("misaligned/model1-mp2.safetensors", e, 2);
	struct view *v;
	int rc = layout_open(&v, "misaligned", NULL, 0);
	CHECK(rc == -1 && strcmp(err_last(), "misaligned: tensor \"model.layers.0.self_attn.kv_b_proj.weight\": its rank slices "
				   "(100 along dim 0) do not fall on the FP8 scale blocks, so their scales do not belong to "
				   "them (convert.py does not check)") == 0,
	      "slices cut inside the FP8 blocks are refused: %s", err_last());
	if (!rc)
		view_free(v);
	w[0] = 128;
	write_zeros("misaligned/model0-mp2.safetensors", e, 2);
	write_zeros("misaligned/model1-mp2.safetensors", e, 2);
	rc = layout_open(&v, "misaligned", NULL, 0);
	CHECK(rc == 0 && v->n == 1 && v->t[0].rows == 256 && v->t[0].npieces == 2 && v->t[0].p[1].s,
	      "slices on the blocks join with their scales (%s)", rc ? err_last() : "");
	if (!rc)
		view_free(v);
}

/* The plan refuses what convert.py would get wrong or fail on, with one clear message. */
static void plan_one(const char *what, const struct st_entry *e, size_t n, unsigned mp, const char *want)
{
	struct view *c;
	struct dsmp_plan p;
	mkdir("refuse", 0777);
	unlink("refuse/model.safetensors");
	write_zeros("refuse/model.safetensors", e, n);
	struct dsmp_opts o = {.mp = mp, .n_experts = 8, .num_layers = 61, .block = {128, 128}, .rank = -1};
	int rc = layout_open(&c, "refuse", "hf", 0);
	CHECK(rc == 0, "%s: the input opens (%s)", what, rc ? err_last() : "");
	if (rc)
		return;
	rc = dsmp_plan(&p, c, &o);
	CHECK(rc == -1 && strcmp(err_last(), want) == 0, "%s: %s", what, err_last());
	if (!rc)
		dsmp_plan_free(&p);
	view_free(c);
}

static void test_plan_refusals(void)
{
	uint64_t s42[2] = {4, 2}, s4[1] = {4}, s32[2] = {3, 2};
	struct st_entry twice[2] = {{"model.embed_tokens.weight", DT_BF16, 2, s42}, {"embed_tokens.weight", DT_BF16, 2, s42}};
	plan_one("two names that become one", twice, 2, 2,
		 "refuse: tensors \"embed_tokens.weight\" and \"model.embed_tokens.weight\" would both be \"embed.weight\" "
		 "in the model-parallel layout");
	struct st_entry expert[1] = {{"model.layers.0.mlp.experts.8.up_proj.weight", DT_BF16, 2, s42}};
	plan_one("an expert beyond --n-experts", expert, 1, 2,
		 "refuse/model.safetensors: tensor \"model.layers.0.mlp.experts.8.up_proj.weight\": expert 8, but there "
		 "are 8 experts (--n-experts)");
	struct st_entry flat[1] = {{"model.layers.0.self_attn.o_proj.weight", DT_BF16, 1, s4}};
	plan_one("a 1-D tensor to cut along dim 1", flat, 1, 2,
		 "refuse/model.safetensors: tensor \"model.layers.0.self_attn.o_proj.weight\": has 1 dimension, so it "
		 "cannot be cut along dim 1");
	struct st_entry odd[1] = {{"lm_head.weight", DT_BF16, 2, s32}};
	plan_one("a dim that does not divide", odd, 1, 2,
		 "refuse/model.safetensors: tensor \"lm_head.weight\": dim 0 (3) does not divide into 2 ranks");
	unlink("refuse/model.safetensors");
	rmdir("refuse");
}

int main(void)
{
	err_init("test_dsmp");
	test_rules();
	test_rules_v32();
	test_record();
	test_view_misaligned();
	test_plan_refusals();
	char tiny_cfg[4096];
	snprintf(tiny_cfg, sizeof tiny_cfg, "%s", t_path("CKPT_ROOT", "fixtures/tiny-v3/config.json"));
	roundtrip(t_path("CKPT_ROOT", "fixtures/tiny-v3"), tiny_cfg, 2, "rt2", 2);
	roundtrip(t_path("CKPT_ROOT", "fixtures/ref/partial/fp8_cast_bf16"),
		  t_path("CKPT_ROOT", "fixtures/ref/partial/input/config.json"), 2, "rt-partial", 2);
	if (t_golden("views of upstream's model-parallel output")) {
		test_view_of_upstream_mp2();
		test_view_problems();
		roundtrip(t_path("CKPT_GOLDEN", "tiny-v3.fp8_cast_bf16"), tiny_cfg, 4, "rt4", 4);
	}
	return t_done();
}
