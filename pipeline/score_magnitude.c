/* score_magnitude: neurons by ||up_i||_p + ||gate_i||_p (p = --norm), weights by |w| per output
 * row. */
#include "err.h"
#include "scorer.h"
#include "scorers.h"

static int magnitude_rows(float *scores, struct scorer_ctx *c, const struct model_layer_view *v,
			  char *err, size_t errlen)
{
	if (c->norm_p != 1 && c->norm_p != 2)
		return err_set(err, errlen, SCORER_ERR_ARG, "magnitude: norm %d is not 1 or 2",
			       c->norm_p);
	/* the view's scored matrix is gate when gated: up is then its pair */
	const float *up = v->pair ? v->pair : v->scored, *gate = v->pair ? v->scored : NULL;
	scorers_magnitude_rows(scores, up, gate, v->rows, v->cols, c->norm_p);
	return SCORER_OK;
}

static int magnitude_weights(unsigned char *mask, struct scorer_ctx *c,
			     const struct scorer_matrix *x, double ratio, char *err, size_t errlen)
{
	(void)c;
	return scorer_from_kernel(scorers_magnitude_weights(mask, x->w, x->rows, x->cols, ratio),
				  "magnitude", err, errlen);
}

static int magnitude_nm(unsigned char *mask, struct scorer_ctx *c, const struct scorer_matrix *x,
			int n, int m, char *err, size_t errlen)
{
	(void)c;
	return scorer_from_kernel(scorers_nm_weights(mask, x->w, NULL, x->rows, x->cols, n, m),
				  "magnitude", err, errlen);
}

const struct scorer score_magnitude = {
	.name = "magnitude",
	.summary = "L1 (--norm 2: L2) of the up and gate rows; |w| per output row",
	.natural = PRUNE_GRANULARITY_ROWS,
	.score_rows = magnitude_rows,
	.mask_weights = magnitude_weights,
	.mask_nm = magnitude_nm,
};
