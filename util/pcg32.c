/* pcg32: PCG32 generator and derived floating-point draws (see pcg32.h). */
#include "pcg32.h"

#include <math.h>

#define PCG32_MULT 6364136223846793005ULL

void pcg32_seed(struct pcg32 *r, uint64_t initstate, uint64_t initseq)
{
	r->state = 0u;
	r->inc = (initseq << 1u) | 1u;
	(void)pcg32_next(r);
	r->state += initstate;
	(void)pcg32_next(r);
}

uint32_t pcg32_next(struct pcg32 *r)
{
	uint64_t old = r->state;
	r->state = old * PCG32_MULT + r->inc;
	uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
	uint32_t rot = (uint32_t)(old >> 59u);
	return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint32_t pcg32_bounded(struct pcg32 *r, uint32_t bound)
{
	/* (2^32 - bound) % bound == 2^32 % bound, computed in 32 bits. */
	uint32_t threshold = (uint32_t)(-bound) % bound;
	for (;;) {
		uint32_t x = pcg32_next(r);
		if (x >= threshold)
			return x % bound;
	}
}

double pcg32_uniform(struct pcg32 *r)
{
	uint64_t a = pcg32_next(r) >> 5; /* 27 bits */
	uint64_t b = pcg32_next(r) >> 6; /* 26 bits */
	return (double)((a << 26) | b) * 0x1p-53;
}

double pcg32_uniform_open(struct pcg32 *r)
{
	uint64_t a = pcg32_next(r);
	uint64_t b = pcg32_next(r);
	uint64_t x = ((a << 32) | b) >> 12; /* 52 bits */
	return ((double)x + 0.5) * 0x1p-52;
}

double pcg32_gumbel(struct pcg32 *r)
{
	return -log(-log(pcg32_uniform_open(r)));
}

double pcg32_normal(struct pcg32 *r)
{
	double u1 = pcg32_uniform_open(r);
	double u2 = pcg32_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
