/* libFuzzer target: the converters' plans built from hostile headers and configs, as the
 * tools build them, up to the layout of every output file (cv_plan), without writing.
 *
 * Input: one selector byte, then sections separated by a line "#--":
 *     config.json text (an empty section: no config.json)
 *     safetensors headers as JSON text, one section per shard (framed here: the length
 *     field and a data section as long as the header's largest data_offsets end)
 * The selector's low two bits pick the plan: 0 fp8cast (ckpt-fp8-to-bf16), 1 dsmp
 * (ckpt-hf-to-sharded --model-parallel), 2 the MindSpore training layout
 * (--layout mindspore-train), 3 MindSpore training -> inference (ckpt-train-to-infer,
 * where the first shard section is param_name_map.json instead).  The other bits vary the
 * options (model-parallel size, strict, dtype).
 *
 * The shards are read from memory (ckpt_open_files, as an archive is read), with zero
 * data: the plans place tensors, they do not read values. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "buf.h"
#include "ckpt.h"
#include "ds_config.h"
#include "convert.h"
#include "dsmp.h"
#include "err.h"
#include "fp8cast.h"
#include "json.h"
#include "layout.h"
#include "mindspore.h"
#include "out.h"
#include "st.h"
#include "view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SECTIONS 8

struct section {
	const char *p;
	size_t len;
};

static size_t split(const char *p, size_t len, struct section *s)
{
	static const char sep[] = "\n#--\n";
	size_t n = 0;
	while (n < MAX_SECTIONS) {
		const char *e = memmem(p, len, sep, sizeof sep - 1);
		size_t l = e ? (size_t)(e - p) : len;
		s[n++] = (struct section){p, l};
		if (!e)
			break;
		p += l + sizeof sep - 1;
		len -= l + sizeof sep - 1;
	}
	return n;
}

/* The data section a header asks for: the largest second number after a "data_offsets"
 * (a scan, not a parse: a header it misreads is one st_parse refuses or finds truncated). */
static uint64_t data_len(const char *h, size_t n)
{
	static const char key[] = "\"data_offsets\"";
	uint64_t max = 0;
	const char *end = h + n;
	for (const char *p = h; (p = memmem(p, (size_t)(end - p), key, sizeof key - 1)); ) {
		p += sizeof key - 1;
		while (p < end && *p != ',' && *p != ']')
			p++;
		if (p >= end || *p != ',')
			continue;
		for (p++; p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'); p++)
			;
		uint64_t v = 0;
		for (; p < end && *p >= '0' && *p <= '9' && v < (1ull << 56); p++)
			v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			max = v;
	}
	return max;
}

/* The whole shard in memory: the length field, the header and a zero data section as long
 * as the header's largest data_offsets end asks (the plans take the tensors' addresses):
 * allocated up to MAX_DATA, mapped beyond (costing no memory until read), NULL past
 * MAX_MAP. */
#define MAX_DATA (1u << 20)
#define MAX_MAP (1ull << 40)
static uint8_t *frame(const struct section *s, uint64_t *file_size)
{
	uint8_t *b;
	*file_size = 8 + s->len + data_len(s->p, s->len);
	if (*file_size <= MAX_DATA) {
		b = calloc(1, *file_size);
	} else {
		if (*file_size > MAX_MAP)
			return NULL;
		b = mmap(NULL, *file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (b == MAP_FAILED)
			return NULL;
	}
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)s->len >> (8 * i));
	memcpy(b + 8, s->p, s->len);
	return b;
}

static void unframe(uint8_t *b, uint64_t file_size)
{
	if (file_size <= MAX_DATA)
		free(b);
	else if (b)
		munmap(b, file_size);
}

/* The k-th of n training shards, named as the map names them: ckpt-hf-to-sharded's
 * "ms-model-..." or upstream's "model-...". */
static void shard_name(char *out, size_t size, const struct section *map, size_t k, size_t n)
{
	bool ms = map && memmem(map->p, map->len, "\"ms-model-", 10) != NULL;
	snprintf(out, size, "%smodel-%05u-of-%05u.safetensors", ms ? "ms-" : "", (unsigned)k, (unsigned)n);
}

static void plan(unsigned sel, const struct section *s, size_t ns)
{
	/* train-to-infer: the second section is param_name_map.json */
	const struct section *map = (sel & 3) == 3 && ns > 1 ? &s[1] : NULL;
	size_t first = map ? 2 : 1;
	struct ckpt_file files[MAX_SECTIONS];
	char names[MAX_SECTIONS][96];
	uint8_t *maps[MAX_SECTIONS] = {0};
	uint64_t sizes[MAX_SECTIONS] = {0};
	size_t n = 0;
	if (s[0].len)
		files[n++] = (struct ckpt_file){.name = "config.json", .text = s[0].p, .len = s[0].len};
	for (size_t i = first; i < ns; i++)
		if (!(maps[i] = frame(&s[i], &sizes[i])))
			goto out;
	for (size_t i = first; i < ns; i++) {
		shard_name(names[i], sizeof names[i], map, i + 1 - first, ns - first);
		struct st_file *st = NULL;
		const char *why = NULL;
		if (st_parse(&st, names[i], maps[i], 8 + s[i].len, sizes[i]))
			why = "unreadable";
		else
			st->data = maps[i] + 8 + st->header_len;
		files[n++] = (struct ckpt_file){.name = names[i], .st = st, .error = why};
	}
	struct ckpt *c;
	int rc = ckpt_open_files(&c, "fuzz", files, n, 0);
	for (size_t i = 0; i < n; i++)
		if (files[i].st)
			st_close(files[i].st);
	if (rc)
		goto out;
	struct view *v = NULL;
	/* the HF plans read the view (which takes c over) */
	if ((sel & 3) != 3) {
		rc = layout_hf_of(&v, c, "fuzz", 0);
		c = NULL;
		if (rc)
			goto out;
	}
	switch (sel & 3) {
	case 0: {
		struct fp8cast_opts o = {.drop_mtp = sel & 4, .strict = sel & 8};
		struct fp8cast p;
		if (fp8cast_plan(&p, v, &o) == 0) {
			cv_plan(&p.job);
			fp8cast_free(&p);
		}
		break;
	}
	case 1: {
		if (!v->cfg)
			break;
		struct dsmp_opts o = {.mp = 1u << ((sel >> 2) & 3), .rank = (sel & 16) ? 0 : -1,
				      .config_path = "config.json", .tool = "fuzz", .source = "fuzz"};
		if (dsmp_opts_config(&o, v->cfg, "config.json", 0))
			break;
		struct dsmp_plan p;
		if (dsmp_plan(&p, v, &o) == 0) {
			cv_plan(&p.job);
			dsmp_plan_free(&p);
		}
		break;
	}
	case 3: {
		struct json_doc *m = NULL;
		if (map && map->len && json_parse(&m, map->p, map->len, 0))
			break;
		struct ms_t2i_opts o = {
			.first_k_dense = {(sel >> 2) & 3, "fuzz"},
			.heads = {1 + ((sel >> 4) & 3), "fuzz"},
			.nope = {(sel >> 6) & 1 ? 0 : 4, "fuzz"},
			.rope = {2 << ((sel >> 7) & 1), "fuzz"},
			.transpose_experts = sel & 4,
		};
		struct ms_t2i *p;
		/* (the plan takes c over) */
		if (ms_t2i_plan_ckpt(&p, c, m, &o) == 0) {
			cv_plan(&p->job);
			ms_t2i_free(p);
		}
		c = NULL;
		break;
	}
	case 2: {
		static const enum dt dtypes[] = {DT_BF16, DT_F16, DT_F32, DT_BF16};
		struct cv_job job = {0};
		struct ms_train_out *mo = NULL;
		if (ms_train_plan(&mo, &job, v, dtypes[(sel >> 2) & 3]) == 0)
			cv_plan(&job);
		ms_train_out_free(mo);
		cv_job_free(&job);
		break;
	}
	}
	view_free(v);
	if (c)
		ckpt_close(c);
out:
	for (size_t i = first; i < ns; i++)
		unframe(maps[i], sizes[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct section s[MAX_SECTIONS];
	size_t ns = split((const char *)data + 1, size - 1, s);
	plan(data[0], s, ns);
	err_clear();
	return 0;
}
