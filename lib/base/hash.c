#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
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

int sha256_file(const char *path, uint8_t out[SHA256_LEN])
{
	enum { BLOCK = 4 << 20 };
	int fd = file_open(path, 0, NULL);
	if (fd < 0)
		return -1;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	char *b = xmalloc(BLOCK);
	struct sha256 h;
	sha256_init(&h);
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
		sha256_update(&h, b, (size_t)r);
	}
	sha256_final(&h, out);
	free(b);
	close(fd);
	return rc;
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
