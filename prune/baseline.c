/* baseline: whole-model plans from the scorers. See baseline.h. */
#include "baseline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scorers.h"

static const char *const names[] = {"random", "magnitude", "wanda", "ken"};

const char *baseline_method_name(enum baseline_method m)
{
	return (unsigned)m < sizeof names / sizeof names[0] ? names[m] : NULL;
}

int baseline_method_parse(enum baseline_method *out, const char *name)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(name, names[i])) {
			*out = (enum baseline_method)i;
			return 0;
		}
	return -1;
}

bool baseline_supports(enum baseline_method m, enum prune_granularity g)
{
	return m != BASELINE_METHOD_KEN || g == PRUNE_GRANULARITY_WEIGHTS;
}

static bool norms_fit(const struct calib_norms *n, const struct model *m)
{
	if (!n || n->n_layers != m->cfg.n_layers || n->hidden != m->cfg.hidden)
		return false;
	for (int l = 0; l < n->n_layers; l++)
		if (n->ffn[l] != m->layers[l].ffn)
			return false;
	return true;
}

void baseline_scores_free(float **scores, int n_layers)
{
	if (!scores)
		return;
	for (int l = 0; l < n_layers; l++)
		free(scores[l]);
	free(scores);
}

int baseline_scores_new(float ***out, const struct model *m, const struct baseline_spec *s)
{
	int L = m->cfg.n_layers, H = m->cfg.hidden;
	if (s->method == BASELINE_METHOD_KEN ||
	    (s->method == BASELINE_METHOD_WANDA && !norms_fit(s->norms, m)) ||
	    (s->method == BASELINE_METHOD_MAGNITUDE && s->norm_p != 1 && s->norm_p != 2))
		return PRUNE_ERR_ARG;
	float **sc = calloc((size_t)L, sizeof *sc);
	if (!sc)
		return PRUNE_ERR_NOMEM;
	struct pcg32 rng = scorers_rng(s->seed);
	for (int l = 0; l < L; l++) {
		const struct model_layer *ly = &m->layers[l];
		sc[l] = malloc((size_t)ly->ffn * sizeof **sc);
		if (!sc[l]) {
			baseline_scores_free(sc, L);
			return PRUNE_ERR_NOMEM;
		}
		switch (s->method) {
		case BASELINE_METHOD_RANDOM: scorers_random_rows(sc[l], ly->ffn, &rng); break;
		case BASELINE_METHOD_MAGNITUDE:
			scorers_magnitude_rows(sc[l], ly->up, ly->gate, ly->ffn, H, s->norm_p);
			break;
		case BASELINE_METHOD_WANDA:
			scorers_wanda_rows(sc[l], ly->up, ly->gate, s->norms->input[l], ly->ffn, H);
			break;
		case BASELINE_METHOD_KEN: break;
		}
	}
	*out = sc;
	return PRUNE_OK;
}

static int from_scorers(int rc)
{
	switch (rc) {
	case SCORERS_OK: return PRUNE_OK;
	case SCORERS_ERR_RATIO: return PRUNE_ERR_RATIO;
	case SCORERS_ERR_NOMEM: return PRUNE_ERR_NOMEM;
	case SCORERS_ERR_VALUE: return PRUNE_ERR_SCORES;
	}
	return PRUNE_ERR_ARG;
}

/* Fills every mask of a WEIGHTS plan. */
static int weights_plan(struct prune_plan *p, const struct model *m, const struct baseline_spec *s,
			double ratio)
{
	static const enum config_tensor mats[] = {CONFIG_TENSOR_UP, CONFIG_TENSOR_GATE,
						  CONFIG_TENSOR_DOWN};
	int H = m->cfg.hidden;
	struct pcg32 rng = scorers_rng(s->seed);
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		for (int t = 0; t < 3; t++) {
			unsigned char *mk = prune_plan_mask(p, l, mats[t]);
			if (!mk)
				continue;
			bool down = mats[t] == CONFIG_TENSOR_DOWN;
			const float *w = mats[t] == CONFIG_TENSOR_UP ? ly->up : down ? ly->down : ly->gate;
			int rows = down ? H : ly->ffn, cols = down ? ly->ffn : H;
			int rc = SCORERS_OK;
			switch (s->method) {
			case BASELINE_METHOD_RANDOM:
				rc = scorers_random_weights(mk, rows, cols, ratio, &rng);
				break;
			case BASELINE_METHOD_MAGNITUDE:
				rc = scorers_magnitude_weights(mk, w, rows, cols, ratio);
				break;
			case BASELINE_METHOD_WANDA:
				rc = scorers_wanda_weights(mk, w, down ? s->norms->inter[l] : s->norms->input[l],
							   rows, cols, ratio);
				break;
			case BASELINE_METHOD_KEN:
				rc = scorers_ken_weights(mk, w, rows, cols, ratio);
				break;
			}
			if (rc)
				return from_scorers(rc);
		}
	}
	return PRUNE_OK;
}

int baseline_plan(struct prune_plan **out, const struct model *m, const struct baseline_spec *s,
		  double ratio, enum prune_granularity g, bool global, char *err, size_t errlen)
{
	const char *name = baseline_method_name(s->method);
	int rc;
	if (!name) {
		rc = PRUNE_ERR_ARG;
		goto fail;
	}
	if (!baseline_supports(s->method, g) || (global && g == PRUNE_GRANULARITY_WEIGHTS)) {
		if (err)
			snprintf(err, errlen, "%s pruning is not defined for %s granularity%s", name,
				 prune_granularity_name(g), global ? " with a global budget" : "");
		return PRUNE_ERR_ARG;
	}
	if (s->method == BASELINE_METHOD_WANDA && !norms_fit(s->norms, m)) {
		if (err)
			snprintf(err, errlen, "wanda needs calibration norms collected on this model");
		return PRUNE_ERR_ARG;
	}
	if (g == PRUNE_GRANULARITY_ROWS) {
		float **sc = NULL;
		rc = baseline_scores_new(&sc, m, s);
		if (rc)
			goto fail;
		rc = prune_plan_from_scores(out, m, (const float *const *)sc, ratio, global);
		baseline_scores_free(sc, m->cfg.n_layers);
		if (rc)
			goto fail;
		return PRUNE_OK;
	}
	struct prune_plan *p = NULL;
	rc = prune_plan_new_weights(&p, m);
	if (!rc)
		rc = weights_plan(p, m, s, ratio);
	if (rc) {
		prune_plan_free(p);
		goto fail;
	}
	*out = p;
	return PRUNE_OK;
fail:
	if (err)
		snprintf(err, errlen, "%s: %s", name ? name : "?", prune_strerror(rc));
	return rc;
}
