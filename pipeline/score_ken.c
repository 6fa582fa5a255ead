/* score_ken: KEN, kernel-density selection of each output row's weights (prune/ken.h); it has
 * no rows form. */
#include "ken.h"
#include "scorer.h"

static int ken_mask_weights(unsigned char *mask, struct scorer_ctx *c,
			    const struct scorer_matrix *x, double ratio, char *err, size_t errlen)
{
	(void)c;
	return scorer_from_kernel(ken_weights(mask, x->w, x->rows, x->cols, ratio), "ken",
				  err, errlen);
}

const struct scorer score_ken = {
	.name = "ken",
	.summary = "kernel-density selection of each row's weights (weights only)",
	.needs = SCORER_TAKES_BASE,
	.natural = PRUNE_GRANULARITY_WEIGHTS,
	.mask_weights = ken_mask_weights,
};
