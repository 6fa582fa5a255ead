/* sha256: FIPS 180-4 section 6.2, written from the standard. See sha256.h. */
#include "sha256.h"

#include <stdio.h>
#include <string.h>

const char *sha256_strerror(int err)
{
	switch (err) {
	case SHA256_OK: return "success";
	case SHA256_ERR_IO: return "cannot read the file";
	}
	return "unknown sha256 error";
}

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64
 * primes. */
static const uint32_t k256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

/* One 64-byte block (big-endian words) into the chaining state h. */
static void compress(uint32_t h[8], const unsigned char *block)
{
	uint32_t w[64];
	for (int t = 0; t < 16; t++)
		w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
		       (uint32_t)block[4 * t + 2] << 8 | (uint32_t)block[4 * t + 3];
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
		w[t] = s1 + w[t - 7] + s0 + w[t - 16];
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int t = 0; t < 64; t++) {
		uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + big_s1 + ch + k256[t] + w[t];
		uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = big_s0 + maj;
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

void sha256_init(struct sha256_ctx *ctx)
{
	/* FIPS 180-4 5.3.3: fractional parts of the square roots of the first 8 primes. */
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(ctx->h, h0, sizeof h0);
	ctx->n_bytes = 0;
	ctx->n_buf = 0;
}

void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len)
{
	const unsigned char *p = data;
	ctx->n_bytes += len;
	if (ctx->n_buf) {
		size_t take = 64 - ctx->n_buf < len ? 64 - ctx->n_buf : len;
		memcpy(ctx->buf + ctx->n_buf, p, take);
		ctx->n_buf += take;
		p += take;
		len -= take;
		if (ctx->n_buf < 64)
			return;
		compress(ctx->h, ctx->buf);
		ctx->n_buf = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		compress(ctx->h, p);
	if (len) {
		memcpy(ctx->buf, p, len);
		ctx->n_buf = len;
	}
}

void sha256_final(struct sha256_ctx *ctx, unsigned char out[SHA256_DIGEST_BYTES])
{
	/* 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the bit length big-endian. */
	uint64_t bits = ctx->n_bytes * 8;
	unsigned char pad[72] = {0x80};
	size_t npad = (ctx->n_buf < 56 ? 56 : 120) - ctx->n_buf;
	for (int i = 0; i < 8; i++)
		pad[npad + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(ctx, pad, npad + 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(ctx->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(ctx->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(ctx->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)ctx->h[i];
	}
}

static void to_hex(char hex[SHA256_HEX_BYTES], const unsigned char d[SHA256_DIGEST_BYTES])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < SHA256_DIGEST_BYTES; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = '\0';
}

void sha256_hex(char hex[SHA256_HEX_BYTES], const void *data, size_t len)
{
	struct sha256_ctx ctx;
	unsigned char d[SHA256_DIGEST_BYTES];
	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, d);
	to_hex(hex, d);
}

int sha256_file_hex(char hex[SHA256_HEX_BYTES], const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return SHA256_ERR_IO;
	struct sha256_ctx ctx;
	unsigned char buf[1 << 16], d[SHA256_DIGEST_BYTES];
	sha256_init(&ctx);
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sha256_update(&ctx, buf, n);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return SHA256_ERR_IO;
	sha256_final(&ctx, d);
	to_hex(hex, d);
	return SHA256_OK;
}
