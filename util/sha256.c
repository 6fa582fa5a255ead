/* sha256: thin layer over nettle's SHA-256 (the only file that includes nettle). See sha256.h. */
#include "sha256.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "file.h"

static void to_hex(char hex[SHA256_HEX_BYTES], const unsigned char d[SHA256_DIGEST_BYTES])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < SHA256_DIGEST_BYTES; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = '\0';
}

void util_sha256_hex(char hex[SHA256_HEX_BYTES], const void *data, size_t len)
{
	struct sha256_ctx ctx;
	unsigned char d[SHA256_DIGEST_BYTES];
	sha256_init(&ctx);
	if (len)
		sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_DIGEST_BYTES, d);
	to_hex(hex, d);
}

int util_sha256_file_hex(char hex[SHA256_HEX_BYTES], const char *path, char *err, size_t errlen)
{
	int fd, rc;
	size_t size;
	if ((rc = util_open_regular(&fd, &size, path, err, errlen)))
		return rc;
	struct sha256_ctx ctx;
	unsigned char buf[1 << 16], d[SHA256_DIGEST_BYTES];
	sha256_init(&ctx);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path, strerror(errno));
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
	}
	close(fd);
	sha256_digest(&ctx, SHA256_DIGEST_BYTES, d);
	to_hex(hex, d);
	return UTIL_OK;
}
