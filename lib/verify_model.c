/* The model check (placeholder until formats/hf lands). */
#include "verify.h"

void verify_model(const struct vtarget *t, struct report *r)
{
	(void)t;
	report_skip(report_check(r, "model"), "not available yet");
}
