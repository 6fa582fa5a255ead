/* score_random: uniform random neuron scores, or k_row random weights per output row; one
 * PCG32 stream seeded per plan (--seed) and consumed layer by layer (up, gate, down). */
#include "scorer.h"
#include "scorers.h"

static int random_rows(float *scores, struct scorer_ctx *c, const struct model_layer_view *v,
		       char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	scorers_random_rows(scores, v->rows, &c->rng);
	return SCORER_OK;
}

static int random_weights(unsigned char *mask, struct scorer_ctx *c, const struct scorer_matrix *x,
			  double ratio, char *err, size_t errlen)
{
	return scorer_from_kernel(scorers_random_weights(mask, x->rows, x->cols, ratio, &c->rng),
				  "random", err, errlen);
}

const struct scorer score_random = {
	.name = "random",
	.summary = "uniform random neurons or weights (--seed)",
	.seeded = true,
	.natural = PRUNE_GRANULARITY_ROWS,
	.score_rows = random_rows,
	.mask_weights = random_weights,
};
