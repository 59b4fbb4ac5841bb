#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "readfile.h"

void sha256_init(struct sha256 *h)
{
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL)) {
		err_say("OpenSSL could not start a SHA-256 digest");
		abort();
	}
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN])
{
	unsigned len = SHA256_LEN;
	EVP_DigestFinal_ex(h->ctx, out, &len);
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void sha256_buf(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, p, n);
	sha256_final(&h, out);
}

size_t hash_len(enum hash_algo a) { return a == HASH_GIT_SHA1 ? SHA1_LEN : SHA256_LEN; }

const char *hash_name(enum hash_algo a) { return a == HASH_GIT_SHA1 ? "git blob SHA-1" : "SHA-256"; }

int hash_file(const char *path, enum hash_algo a, uint8_t *out)
{
	enum { BLOCK = 4 << 20 };
	struct stat sb;
	int fd = file_open(path, 0, &sb);
	if (fd < 0)
		return -1;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	char *b = xmalloc(BLOCK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, a == HASH_GIT_SHA1 ? EVP_sha1() : EVP_sha256(), NULL)) {
		err_say("OpenSSL could not start a %s digest", hash_name(a));
		abort();
	}
	uint64_t size = (uint64_t)sb.st_size, seen = 0;
	if (a == HASH_GIT_SHA1) {
		char head[32];
		int n = snprintf(head, sizeof head, "blob %llu", (unsigned long long)size);
		EVP_DigestUpdate(ctx, head, (size_t)n + 1); /* with its NUL */
	}
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, b, BLOCK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_errno(path);
			break;
		}
		if (r == 0)
			break;
		EVP_DigestUpdate(ctx, b, (size_t)r);
		seen += (uint64_t)r;
	}
	/* the size went into the header before the bytes were read */
	if (rc == 0 && a == HASH_GIT_SHA1 && seen != size)
		rc = err_set("%s: changed size while it was read (%llu bytes, then %llu)", path,
			     (unsigned long long)size, (unsigned long long)seen);
	unsigned len = (unsigned)hash_len(a);
	EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
	free(b);
	close(fd);
	return rc;
}

int sha256_file(const char *path, uint8_t out[SHA256_LEN])
{
	return hash_file(path, HASH_SHA256, out);
}

void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]), lo = hi < 0 ? -1 : nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * n] ? -1 : 0;
}
