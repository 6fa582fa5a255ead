/* score_probe: the probe-importance baseline, data-free: each neuron's E[a_i²]·‖d_i‖² over
 * probe tokens sampled from the model itself (env/probe.h; --probe-tokens, seeded by --seed),
 * the output energy it adds; the lowest ones are removed. */
#include "err.h"
#include "probe.h"
#include "scorer.h"

static int probe_rows(float *scores, struct scorer_ctx *c, const struct model_layer_view *v,
		      char *err, size_t errlen)
{
	const struct probe *p = c->probe;
	if (!p || v->layer >= p->n_layers || p->ffn[v->layer] != v->rows ||
	    !probe_has_stats(p, v->layer))
		return err_set(err, errlen, SCORER_ERR_ARG,
			       "probe needs probe activations collected on this model");
	if (!v->down)
		return err_set(err, errlen, SCORER_ERR_ARG, "probe: layer %d has no down projection at hand",
			       v->layer);
	probe_importance_rows(scores, p, v->layer, v->down, v->cols);
	return SCORER_OK;
}

const struct scorer score_probe = {
	.name = "probe",
	.summary = "lowest E[a^2]*||d||^2 on self-sampled probe tokens (--probe-tokens), no user data",
	.needs = SCORER_NEEDS_PROBE,
	.natural = PRUNE_GRANULARITY_ROWS,
	.score_rows = probe_rows,
};
