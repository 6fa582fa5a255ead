/* sha256: SHA-256 (FIPS 180-4), used to record which policy file produced a pruned checkpoint.
 *
 * Incremental: sha256_init, any number of sha256_update calls, sha256_final. The context body is
 * public so callers can keep it on the stack; its fields are private to sha256.c. */
#ifndef YOPO_SHA256_H
#define YOPO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 hex digits + NUL */

enum sha256_error {
	SHA256_OK = 0,
	SHA256_ERR_IO = -1, /* the file cannot be opened or read (errno kept) */
};

/* Static one-line description of a sha256_error. */
const char *sha256_strerror(int err);

struct sha256_ctx {
	uint32_t h[8];       /* chaining state */
	uint64_t n_bytes;    /* message length so far */
	unsigned char buf[64]; /* pending partial block */
	size_t n_buf;
};

void sha256_init(struct sha256_ctx *ctx);

/* Appends data (len bytes; data may be NULL when len is 0). */
void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len);

/* Pads, writes the digest into out (32 bytes) and leaves ctx unusable until sha256_init. */
void sha256_final(struct sha256_ctx *ctx, unsigned char out[SHA256_DIGEST_BYTES]);

/* One-shot digest of data (len bytes) as 64 lowercase hex digits + NUL into hex. */
void sha256_hex(char hex[SHA256_HEX_BYTES], const void *data, size_t len);

/* Digest of a whole file as lowercase hex into hex. Returns 0 or SHA256_ERR_IO; hex is written
 * only on success. */
int sha256_file_hex(char hex[SHA256_HEX_BYTES], const char *path);

#endif
