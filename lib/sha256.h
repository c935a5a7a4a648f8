/*
 * SHA-256 (FIPS 180-4), small and dependency-free, for the checksums of
 * uploaded and produced files.  Incremental: init, update as bytes arrive,
 * final.  A context is plain data owned by the caller; no allocation.
 */
#ifndef TASKQ_SHA256_H
#define TASKQ_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN	32
#define SHA256_HEX_LEN		64	/* lowercase hex, without the NUL */

struct sha256 {
	uint32_t	 h[8];
	uint64_t	 nbytes;	/* total length so far */
	unsigned char	 block[64];	/* pending partial block */
	size_t		 blen;
};

void	sha256_init(struct sha256 *);
void	sha256_update(struct sha256 *, const void *, size_t);
void	sha256_final(struct sha256 *, unsigned char out[SHA256_DIGEST_LEN]);

/* final, as lowercase hex into hex (SHA256_HEX_LEN + 1 bytes). */
void	sha256_final_hex(struct sha256 *, char *hex);

#endif /* TASKQ_SHA256_H */
