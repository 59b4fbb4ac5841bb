/* SHA-256 (OpenSSL EVP) and hex. */
#ifndef CKPT_HASH_H
#define CKPT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX (2 * SHA256_LEN + 1)

struct sha256 {
	void *ctx;
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
void sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN]);
void sha256_buf(const void *p, size_t n, uint8_t out[SHA256_LEN]);
/* Hash a whole file by reading it in large blocks. */
int sha256_file(const char *path, uint8_t out[SHA256_LEN]);

void hex_encode(const uint8_t *p, size_t n, char *out); /* out: 2n + 1 bytes */
int hex_decode(const char *s, uint8_t *out, size_t n);   /* exactly 2n hex digits */

#endif
