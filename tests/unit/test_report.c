/* The verification report: text and JSON for passed, failed and skipped checks, problems by
 * file and tensor, library messages split into file and tensor, hostile names made
 * printable, quiet mode, details attached by a check. */
#include <string.h>

#include "err.h"
#include "report.h"
#include "t.h"

static void details_text(const void *data, struct buf *out) { buf_printf(out, "  detail %s\n", (const char *)data); }

static void details_json(const void *data, struct jw *w)
{
	jw_key(w, "extra");
	jw_str(w, data);
}

static void test_text_and_json(void)
{
	struct report r;
	report_init(&r, "ck");
	report_set_layout(&r, "hf");
	struct rcheck *a = report_check(&r, "structure");
	report_summary(a, "%d shards", 3);
	struct rcheck *b = report_check(&r, "model");
	report_problem(b, "ck/s1", "x.weight", "shape %s", "[2]");
	report_problem(b, NULL, "y\n", "missing");
	report_warning(b, "ck/s2", NULL, "odd");
	struct rcheck *c = report_check(&r, "scan");
	report_skip(c, "not asked");
	report_details(c, &(struct rdetails){"D", details_text, details_json, NULL});
	struct buf out = {0};
	report_text(&r, &out, false);
	const char *want =
		"checkpoint  ck (layout hf)\n"
		"structure   passed   3 shards\n"
		"model       FAILED\n"
		"  ck/s1: tensor \"x.weight\": shape [2]\n"
		"  tensor \"y\\x0a\": missing\n"
		"  warning: ck/s2: odd\n"
		"scan        skipped  not asked\n"
		"  detail D\n"
		"result: FAILED, 2 problems in 1 check (1 warning)\n";
	CHECK(strcmp(buf_str(&out), want) == 0, "text report%s%s", strcmp(buf_str(&out), want) ? ":\n" : "",
	      strcmp(buf_str(&out), want) ? buf_str(&out) : "");
	buf_clear(&out);
	report_text(&r, &out, true);
	CHECK(strcmp(buf_str(&out), "ck/s1: tensor \"x.weight\": shape [2]\ntensor \"y\\x0a\": missing\n") == 0,
	      "quiet: the problem lines alone");
	buf_clear(&out);
	struct jw w;
	jw_init(&w, &out, 0, false);
	report_json(&r, &w);
	const char *wj =
		"{\"path\":\"ck\",\"layout\":\"hf\",\"passed\":false,\"problems\":2,\"warnings\":1,\"complete\":true,\"checks\":["
		"{\"name\":\"structure\",\"status\":\"passed\",\"summary\":\"3 shards\",\"problems\":[],\"warnings\":[]},"
		"{\"name\":\"model\",\"status\":\"failed\",\"summary\":null,\"problems\":["
		"{\"file\":\"ck/s1\",\"tensor\":\"x.weight\",\"message\":\"shape [2]\"},"
		"{\"file\":null,\"tensor\":\"y\\n\",\"message\":\"missing\"}],"
		"\"warnings\":[{\"file\":\"ck/s2\",\"tensor\":null,\"message\":\"odd\"}]},"
		"{\"name\":\"scan\",\"status\":\"skipped\",\"summary\":\"not asked\",\"problems\":[],\"warnings\":[],\"extra\":\"D\"}]}";
	CHECK(strcmp(buf_str(&out), wj) == 0, "JSON report%s%s", strcmp(buf_str(&out), wj) ? ":\n" : "",
	      strcmp(buf_str(&out), wj) ? buf_str(&out) : "");
	CHECK(report_failed(&r) && report_problems(&r) == 2 && report_warnings(&r) == 1, "counts");
	buf_free(&out);
	report_free(&r);
}

static void test_messages(void)
{
	struct report r;
	report_init(&r, "d");
	struct rcheck *c = report_check(&r, "structure");
	const char *files[] = {"d", "d/a.safetensors", NULL, "d/a.safetensors.bak"};
	report_problem_msg(c, "d/a.safetensors: tensor \"w\\\"1\\x0a\": data [4, 12) overlaps tensor \"v\" [0, 8)", files, 4);
	report_problem_msg(c, "d/a.safetensors.bak: 3 bytes after the last tensor's data belong to no tensor", files, 4);
	report_problem_msg(c, "elsewhere: \"m.w\": scale has shape [2, 2]", files, 4);
	report_problem_msg(c, "d/a.safetensors: tensor \"abc...\": x", files, 4);
	CHECK(strcmp(c->items[0].file, "d/a.safetensors") == 0 && strcmp(c->items[0].tensor, "w\"1\n") == 0 &&
		      strcmp(c->items[0].msg, "tensor \"w\\\"1\\x0a\": data [4, 12) overlaps tensor \"v\" [0, 8)") == 0,
	      "a reader message: file and tensor taken out, the text kept");
	CHECK(strcmp(c->items[1].file, "d/a.safetensors.bak") == 0 && !c->items[1].tensor,
	      "the longest file that starts the message");
	CHECK(!c->items[2].file && !c->items[2].tensor && strcmp(c->items[2].msg, "elsewhere: \"m.w\": scale has shape [2, 2]") == 0,
	      "no known file: the message whole");
	report_problem_msg(c, "d/a.safetensors: \"m.w\": scale has shape [2, 2]", files, 4);
	CHECK(c->items[4].tensor && strcmp(c->items[4].tensor, "m.w") == 0, "a quoted name first is the tensor");
	CHECK(!c->items[3].tensor, "a shortened name is not taken for the tensor");
	struct buf out = {0};
	ritem_line(&c->items[0], &out);
	CHECK(strcmp(buf_str(&out), "d/a.safetensors: tensor \"w\\\"1\\x0a\": data [4, 12) overlaps tensor \"v\" [0, 8)") == 0,
	      "the line of a library message is the message itself");
	buf_free(&out);
	report_free(&r);
}

int main(void)
{
	err_init("test_report");
	test_text_and_json();
	test_messages();
	return t_done();
}
