/* scorer: the registry of pruning methods. See scorer.h. */
#include "scorer.h"

#include <string.h>

#include "err.h"
#include "scorers.h"

extern const struct scorer score_policy, score_random, score_magnitude, score_wanda, score_ken,
	score_probe;

/* The registry: one line per method, in the order help texts and compare list them. */
static const struct scorer *const registry[] = {
	&score_policy,
	&score_random,
	&score_magnitude,
	&score_wanda,
	&score_ken,
	&score_probe,
};

enum { N_SCORERS = sizeof registry / sizeof registry[0] };

const struct scorer *scorer_find(const char *name)
{
	for (int i = 0; name && i < N_SCORERS; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

const struct scorer *const *scorer_all(int *n)
{
	*n = N_SCORERS;
	return registry;
}

const char *scorer_names(void)
{
	static char names[256];
	if (!names[0])
		for (int i = 0; i < N_SCORERS; i++) {
			if (i)
				strcat(names, ",");
			strcat(names, registry[i]->name);
		}
	return names;
}

bool scorer_supports(const struct scorer *s, enum prune_granularity g)
{
	if (prune_granularity_nm(g, NULL, NULL))
		return s->mask_nm != NULL;
	return g == PRUNE_GRANULARITY_ROWS ? s->score_rows != NULL : s->mask_weights != NULL;
}

int scorer_from_kernel(int status, const char *name, char *err, size_t errlen)
{
	switch (status) {
	case SCORERS_OK: return SCORER_OK;
	case SCORERS_ERR_RATIO:
		return err_set(err, errlen, SCORER_ERR_RATIO, "%s: %s", name, scorers_strerror(status));
	case SCORERS_ERR_NOMEM: return err_set(err, errlen, SCORER_ERR_NOMEM, "out of memory");
	case SCORERS_ERR_VALUE:
		return err_set(err, errlen, SCORER_ERR_VALUE, "%s: %s", name, scorers_strerror(status));
	}
	return err_set(err, errlen, SCORER_ERR_ARG, "%s: %s", name, scorers_strerror(status));
}
