/* score_policy: rows scored by a trained policy (yopo train), calibration-free. The MLP scores
 * each row from the features of its checkpoint's set (env_view_features_set: weights only, or
 * with the statistics of the model's own probe tokens), the prunenet from the scored matrix; both
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
		/* features (rows, n) of the policy's set */
		int n = rowfeat_set_count(c->feature_set);
		if (n != policy_n_features(c->mlp))
			return err_set(err, errlen, SCORER_ERR_ARG,
				       "policy: takes %d features, the %s set has %d",
				       policy_n_features(c->mlp), rowfeat_set_name(c->feature_set), n);
		x = malloc((size_t)v->rows * (size_t)n * sizeof *x);
		if (!x)
			return err_set(err, errlen, SCORER_ERR_NOMEM, "out of memory");
		int e = env_view_features_set(x, v, c->feature_set, c->probe);
		if (e) {
			rc = err_set(err, errlen,
				     e == ENV_ERR_NOMEM ? SCORER_ERR_NOMEM
				     : e == ENV_ERR_PROBES ? SCORER_ERR_ARG : SCORER_ERR_VALUE,
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
	.summary = "top-k rows of a trained policy (--policy FILE, default: the shipped one), no user data",
	.needs = SCORER_NEEDS_POLICY,
	.natural = PRUNE_GRANULARITY_ROWS,
	.score_rows = policy_rows,
};
