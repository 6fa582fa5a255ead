/* score_wanda: Wanda, |W_ij| ||X_j|| with activation norms from calibration text: neurons by the
 * sum over up and gate, weights per output row (||X|| of the FFN input for up/gate, of the FFN
 * intermediate for down). */
#include "err.h"
#include "scorer.h"
#include "scorers.h"

/* Whether the norms were collected on a model of m's shape. */
static bool norms_fit(const struct calib_norms *n, const struct model *m)
{
	if (!n || n->n_layers != m->cfg.n_layers || n->hidden != m->cfg.hidden)
		return false;
	for (int l = 0; l < n->n_layers; l++)
		if (n->ffn[l] != m->layers[l].ffn)
			return false;
	return true;
}

static int wanda_rows(float *scores, struct scorer_ctx *c, const struct model_layer_view *v,
		      char *err, size_t errlen)
{
	if (!norms_fit(c->norms, c->m))
		return err_set(err, errlen, SCORER_ERR_ARG,
			       "wanda needs calibration norms collected on this model");
	const float *up = v->pair ? v->pair : v->scored, *gate = v->pair ? v->scored : NULL;
	scorers_wanda_rows(scores, up, gate, c->norms->input[v->layer], v->rows, v->cols);
	return SCORER_OK;
}

static int wanda_weights(unsigned char *mask, struct scorer_ctx *c, const struct scorer_matrix *x,
			 double ratio, char *err, size_t errlen)
{
	if (!norms_fit(c->norms, c->m))
		return err_set(err, errlen, SCORER_ERR_ARG,
			       "wanda needs calibration norms collected on this model");
	const float *xnorm = x->which == CONFIG_TENSOR_DOWN ? c->norms->inter[x->layer]
							    : c->norms->input[x->layer];
	return scorer_from_kernel(scorers_wanda_weights(mask, x->w, xnorm, x->rows, x->cols, ratio),
				  "wanda", err, errlen);
}

static int wanda_nm(unsigned char *mask, struct scorer_ctx *c, const struct scorer_matrix *x, int n,
		    int m, char *err, size_t errlen)
{
	if (!norms_fit(c->norms, c->m))
		return err_set(err, errlen, SCORER_ERR_ARG,
			       "wanda needs calibration norms collected on this model");
	const float *xnorm = x->which == CONFIG_TENSOR_DOWN ? c->norms->inter[x->layer]
							    : c->norms->input[x->layer];
	return scorer_from_kernel(scorers_nm_weights(mask, x->w, xnorm, x->rows, x->cols, n, m),
				  "wanda", err, errlen);
}

const struct scorer score_wanda = {
	.name = "wanda",
	.summary = "|W|*||X|| with activation norms from --calib FILE",
	.needs = SCORER_NEEDS_CALIB,
	.natural = PRUNE_GRANULARITY_ROWS,
	.score_rows = wanda_rows,
	.mask_weights = wanda_weights,
	.mask_nm = wanda_nm,
};
