/* summary: what the commands print about a finished run, as library calls — the --json objects
 * (cJSON, util/json.h) and the plain-text tables of yopo train, prune, eval, study and spectrum.
 * The keys, their order and the number formats are part of the CLI's interface: tests/test-cli.c
 * and scripts read them. Every builder returns NULL only when out of memory; the caller frees the
 * object with json_free. */
#ifndef YOPO_SUMMARY_H
#define YOPO_SUMMARY_H

#include <stdio.h>

#include "kseval.h"
#include "measure.h"
#include "prunejob.h"
#include "study.h"
#include "trainjob.h"

struct cJSON;

/* yopo train --json: the settings (seeds as decimal strings), the best greedy loss and KS and
 * the seconds the training took. */
struct cJSON *summary_train_json(const struct trainjob_opts *o, double best_loss, double best_ks,
				 double seconds);

/* yopo prune --json: the settings, the parameter counts of c, the sparsity and the seconds. */
struct cJSON *summary_prune_json(const struct prunejob_opts *o, const struct prune_counts *c,
				 double seconds);

/* yopo prune's lines on out: what was written and the parameter counts. */
void summary_prune_text(FILE *out, const struct prunejob_opts *o, const struct prune_counts *c);

/* yopo eval --json: the measures of r (the KL ones when r has them). */
struct cJSON *summary_eval_json(const struct measure_text_result *r);

/* yopo eval's table on out; reference may be NULL when r has no KL measures. */
void summary_eval_text(FILE *out, const char *model, const char *reference, const char *text,
		       const struct measure_text_result *r);

/* yopo study --json: the settings, dense_ppl and per reward its pooled and per-layer rho. */
struct cJSON *summary_study_json(const char *model, const char *text, const struct study_opts *o,
				 const struct study_result *r);

/* yopo study's table on out: one row per reward, "-" where rho is undefined. */
void summary_study_text(FILE *out, const char *model, const char *text, const struct study_opts *o,
			const struct study_result *r);

/* yopo spectrum --json: the settings, mean_ks, the policy's training settings (method policy)
 * and per layer its KS and standard deviation. */
struct cJSON *summary_spectrum_json(const struct kseval_opts *o, const struct kseval_result *r);

/* yopo spectrum's table on out. */
void summary_spectrum_text(FILE *out, const struct kseval_opts *o, const struct kseval_result *r);

#endif
