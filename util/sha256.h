/* sha256: SHA-256 digests (nettle's implementation), used to record which policy file produced a
 * pruned checkpoint and to check shipped artefacts. */
#ifndef YOPO_SHA256_H
#define YOPO_SHA256_H

#include <stddef.h>

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 hex digits + NUL */

/* Digest of data (len bytes; data may be NULL when len is 0) as lowercase hex + NUL. */
void util_sha256_hex(char hex[SHA256_HEX_BYTES], const void *data, size_t len);

/* Digest of a whole regular file as lowercase hex. Returns 0, or a negative util_error (file.h)
 * with the reason in err; hex is written only on success. */
int util_sha256_file_hex(char hex[SHA256_HEX_BYTES], const char *path, char *err, size_t errlen);

#endif
