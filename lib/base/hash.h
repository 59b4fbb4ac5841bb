/* SHA-256 (OpenSSL EVP) and hex; a file's git blob SHA-1 (the Hugging Face hub cache names
 * the blobs of small files by it). */
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

/* What a file is hashed as: its SHA-256, or git's blob id, the SHA-1 of "blob SIZE\0"
 * followed by the bytes (SIZE in decimal). */
enum hash_algo { HASH_SHA256, HASH_GIT_SHA1 };
#define SHA1_LEN 20
size_t hash_len(enum hash_algo a);     /* 32 or 20 bytes */
const char *hash_name(enum hash_algo a); /* "SHA-256", "git blob SHA-1" */
/* out: hash_len(a) bytes.  -1 with a message naming the path when it cannot be read (or
 * changed size while it was read, for a git blob id). */
int hash_file(const char *path, enum hash_algo a, uint8_t *out);

void hex_encode(const uint8_t *p, size_t n, char *out); /* out: 2n + 1 bytes */
int hex_decode(const char *s, uint8_t *out, size_t n);   /* exactly 2n hex digits */

#endif
