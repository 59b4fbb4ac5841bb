/* The checkpoint summary and the text tables: tiny-v3's counts, layer ranges, sizes for
 * people, alignment. */
#include <stdint.h>

#include "err.h"
#include "layout.h"
#include "summary.h"
#include "t.h"
#include "table.h"

static void test_tiny(void)
{
	struct view *c;
	struct summary s;
	if (layout_open(&c, t_path("CKPT_ROOT", "fixtures/tiny-v3"), NULL, 0) || summary_build(&s, c, "tiny")) {
		CHECK(0, "tiny-v3 summary: %s", err_last());
		return;
	}
	CHECK(s.n == 239 && s.params == 7678676 && s.bytes == 8345936, "tiny-v3: 239 tensors, 7678676 parameters, 8345936 bytes");
	CHECK(c->index->has_total_size && c->index->total_size == s.bytes, "tiny-v3: total_size equals the tensor bytes");
	CHECK(s.file_bytes == 2835272 + 2900600 + 2637192, "tiny-v3: shard file sizes");
	CHECK(s.shard_tensors[0] == 81 && s.shard_tensors[1] == 84 && s.shard_tensors[2] == 74, "tiny-v3: tensors per shard");
	CHECK(s.ndtypes == 3 && s.dtypes[0].dtype == DT_F8_E4M3 && s.dtypes[0].tensors == 104 &&
	      s.dtypes[0].bytes == 7012352 && s.dtypes[1].dtype == DT_BF16 && s.dtypes[1].tensors == 28 &&
	      s.dtypes[1].params == 665856 && s.dtypes[1].bytes == 1331712 && s.dtypes[2].dtype == DT_F32 &&
	      s.dtypes[2].tensors == 107 && s.dtypes[2].bytes == 1872, "tiny-v3: per dtype");
	CHECK(s.fp8_scaled == 104 && s.fp8_unscaled == 0, "tiny-v3: every FP8 weight has a scale");
	CHECK(s.nlayers == 3 && s.nmtp == 1 && s.layers[0] == 0 && s.layers[2] == 2 && s.layers[3] == 3,
	      "tiny-v3: layers 0-2 and MTP layer 3");
	CHECK(s.cfg.quant.block[0] == 128 && s.cfg.quant.block[1] == 128, "tiny-v3: block size from config");
	struct buf b = {0};
	summary_text(&s, &b);
	CHECK(strstr(b.p, "\ntotal_size    8345936, equal to the tensor bytes\n") &&
	      strstr(b.p, "\nMTP layers    1: 3\n") &&
	      strstr(b.p, "\n              F8_E4M3      104     7012352  7012352  6.69 MiB\n"),
	      "tiny-v3: summary text lines");
	summary_free(&s);
	view_free(c);
	buf_free(&b);
}

static void test_ranges(void)
{
	uint64_t v[] = {0, 1, 2, 5, 7, 8, 10, 11, 12, 13};
	struct buf b = {0};
	layer_ranges(v, 10, &b);
	CHECK(strcmp(b.p, "0-2, 5, 7, 8, 10-13") == 0, "layer ranges: %s", b.p);
	buf_free(&b);
}

static void test_human(void)
{
	char h[32];
	CHECK(strcmp(human_bytes(0, h), "0 B") == 0, "human_bytes 0");
	CHECK(strcmp(human_bytes(1023, h), "1023 B") == 0, "human_bytes 1023");
	CHECK(strcmp(human_bytes(1536, h), "1.50 KiB") == 0, "human_bytes 1536");
	CHECK(strcmp(human_bytes(688586505216ull, h), "641 GiB") == 0, "human_bytes 641 GiB: %s", h);
	CHECK(strcmp(human_count(671026419200ull, h), "671 B") == 0, "human_count 671 B: %s", h);
	CHECK(strcmp(human_count(7678676, h), "7.68 M") == 0, "human_count 7.68 M");
}

static void test_table(void)
{
	struct table t;
	struct buf b = {0};
	table_init(&t, "lrl");
	table_add(&t, "A");
	table_add(&t, "N");
	table_add(&t, "");
	table_add(&t, "long\nname");
	table_addf(&t, "%d", 12345);
	table_add(&t, "x");
	table_render(&t, &b, "> ");
	CHECK(strcmp(b.p, "> A                 N\n> long\\x0aname  12345  x\n") == 0,
	      "table: aligned, control characters escaped, no trailing blanks");
	table_free(&t);
	buf_free(&b);
}

int main(void)
{
	test_tiny();
	test_ranges();
	test_human();
	test_table();
	return t_done();
}
