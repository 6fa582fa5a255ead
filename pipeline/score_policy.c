/* score_policy: rows scored by a trained policy (yopo train), calibration-free. The MLP scores
 * each row from its features (env_view_features), the prunenet from the scored matrix; both
 * through rowscore_policy, the trainer's own scoring. */
#include <stdlib.h>

#include "env.h"
#include "err.h"
#include "rowscore.h"
#include "scorer.h"

static int policy_rows(float *scores, struct scorer_ctx *c, const struct model_layer_view *v,
		       char *err, size_t errlen)
{
	if (!c->mlp == !c->pn)
		return err_set(err, errlen, SCORER_ERR_ARG, "policy: no policy network given");
	float *x = NULL;
	int rc = SCORER_OK;
	if (c->mlp) {
		/* features (rows, ROWFEAT_COUNT) */
		x = malloc((size_t)v->rows * ROWFEAT_COUNT * sizeof *x);
		if (!x)
			return err_set(err, errlen, SCORER_ERR_NOMEM, "out of memory");
		int e = env_view_features(x, v);
		if (e) {
			rc = err_set(err, errlen, e == ENV_ERR_NOMEM ? SCORER_ERR_NOMEM : SCORER_ERR_VALUE,
				     "layer %d: row features: %s", v->layer, env_strerror(e));
			goto out;
		}
	}
	if (rowscore_policy(scores, c->mlp, c->pn, x, v->scored, v->rows))
		rc = err_set(err, errlen, SCORER_ERR_POLICY, "layer %d: the policy gave no scores",
			     v->layer);
out:
	free(x);
	return rc;
}

const struct scorer score_policy = {
	.name = "policy",
	.summary = "top-k rows of a trained policy (--policy FILE), calibration-free",
	.needs = SCORER_NEEDS_POLICY,
	.natural = PRUNE_GRANULARITY_ROWS,
	.score_rows = policy_rows,
};
