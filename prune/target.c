/* target: total-size target -> FFN ratio. See target.h. */
#include "target.h"

#include <math.h>
#include <stdlib.h>

#include "err.h"
#include "topk.h"

/* Counts of m with `removed` neurons gone from every layer (kept: the first ones). */
static int count_removed(struct prune_counts *c, const struct model *m, int removed)
{
	int n = m->cfg.n_layers, ffn_max = 0, rc = PRUNE_TARGET_ERR_NOMEM;
	int *ffn = malloc((size_t)n * sizeof *ffn), *kept = NULL;
	struct prune_plan *p = NULL;
	for (int l = 0; ffn && l < n; l++)
		if ((ffn[l] = m->layers[l].ffn) > ffn_max)
			ffn_max = ffn[l];
	if (!ffn || !(kept = malloc((size_t)ffn_max * sizeof *kept)) ||
	    prune_plan_new_rows(&p, n, ffn))
		goto out;
	for (int i = 0; i < ffn_max; i++)
		kept[i] = i;
	rc = PRUNE_TARGET_ERR_ARG;
	for (int l = 0; l < n; l++) {
		int k = util_keep_count(ffn[l], (double)removed / m->cfg.ffn);
		if (k < 1 || prune_plan_set_layer_rows(p, l, kept, k))
			goto out;
	}
	rc = prune_plan_count(c, p, m) ? PRUNE_TARGET_ERR_ARG : PRUNE_TARGET_OK;
out:
	prune_plan_free(p);
	free(kept);
	free(ffn);
	return rc;
}

int prune_target_ratio(double *ratio, struct prune_counts *counts, const struct model *m,
		       size_t target_params, double sparsity, char *err, size_t errlen)
{
	if (!ratio || !m || (target_params > 0) == (sparsity > 0) ||
	    (!target_params && !(sparsity > 0 && sparsity < 1)))
		return err_set(err, errlen, PRUNE_TARGET_ERR_ARG,
			       "give one size target: a parameter count or a sparsity in (0, 1)");
	int ffn = m->cfg.ffn, rc;
	struct prune_counts c0, c1, cj;
	if ((rc = count_removed(&c0, m, 0)) || (ffn > 1 && (rc = count_removed(&c1, m, 1))))
		return err_set(err, errlen, rc, "cannot count the parameters of the model");
	size_t total = c0.params_before;
	size_t target = target_params ? target_params : (size_t)floor((double)total * (1 - sparsity));
	if (target >= total)
		return err_set(err, errlen, PRUNE_TARGET_ERR_NOTHING,
			       "the model has %zu parameters: a target of %zu removes no FFN neuron",
			       total, target);
	size_t step = ffn > 1 ? c0.params_after - c1.params_after : 0;
	size_t need = total - target;
	long j = step ? (long)((need + step - 1) / step) : ffn;
	if (j > ffn - 1 || (rc = count_removed(&cj, m, (int)j)) || cj.params_after > target) {
		struct prune_counts min = c0;
		if (ffn > 1)
			count_removed(&min, m, ffn - 1);
		return err_set(err, errlen, PRUNE_TARGET_ERR_IMPOSSIBLE,
			       "a target of %zu parameters is impossible: with one FFN neuron left per "
			       "layer the model still has %zu (of %zu)", target, min.params_after, total);
	}
	*ratio = (double)j / ffn;
	if (counts)
		*counts = cj;
	return PRUNE_TARGET_OK;
}
