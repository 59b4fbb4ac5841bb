/* A limit on what a tool holds at once of what its inputs dictate the size of: the parsed
 * headers of every open safetensors file (up to ST_MAX_HEADER, 100 MB, each), and the JSON
 * files an archive keeps.  Each is bounded alone; this bounds them together, so that a
 * checkpoint of many shards with near-limit headers cannot take the machine's memory.
 * What is counted is bytes of input text: what is held for them is a small multiple. */
#ifndef CKPT_HELD_H
#define CKPT_HELD_H

#include <stdint.h>

#define HELD_ENV "CKPT_MAX_HELD"
/* the headers of a 671B model's 163 shards take about 20 MB */
#define HELD_DEFAULT (1ull << 30)

/* Count n more bytes of path's `what` ("header") as held.  -1 with the message "PATH:
 * holding its header of N bytes would bring the headers and JSON files held at once to M
 * bytes, more than the 1 GiB limit (CKPT_MAX_HELD=BYTES sets it)" when over the limit. */
int held_take(const char *path, const char *what, uint64_t n);
/* They are no longer held. */
void held_give(uint64_t n);

#endif
