/* demo: synthetic model (if needed) -> train -> compare. See demo.h. */
#include "demo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "file.h"
#include "scorer.h"
#include "synth.h"

static const char sample_text[] =
	"Once upon a time, there was a little dog named Max. Max liked to run in the park with his\n"
	"friend Sam. One day, Sam found a big red ball under a tree. \"Look, Max!\" said Sam. Max\n"
	"barked and wagged his tail. They played with the ball until the sun went down. Then they\n"
	"went home, ate dinner and slept. The next morning, Max woke up early and waited by the\n"
	"door. He wanted to play with the red ball again, and Sam laughed and took him outside.\n";

/* The work directory, the model (synthetic if none) and the text. */
static int make_inputs(struct demo_paths *p, const struct demo_opts *o, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	tmp = tmp && *tmp ? tmp : "/tmp";
	if (o->work ? (size_t)snprintf(p->work, sizeof p->work, "%s", o->work) >= sizeof p->work
		    : (size_t)snprintf(p->work, sizeof p->work, "%s/yopo-demo-XXXXXX", tmp) >= sizeof p->work)
		return err_set(err, errlen, DEMO_ERR_WORK, "work directory path too long");
	if (o->work ? mkdir(p->work, 0777) && errno != EEXIST : !mkdtemp(p->work))
		return err_set(err, errlen, DEMO_ERR_WORK, "%s: cannot create: %s", p->work,
			       strerror(errno));
	if (util_join(p->policy, sizeof p->policy, p->work, "policy.safetensors") ||
	    util_join(p->report, sizeof p->report, p->work, "report") ||
	    util_join(p->text, sizeof p->text, p->work, "sample.txt") ||
	    util_join(p->model, sizeof p->model, p->work, "synthetic-llama"))
		return err_set(err, errlen, DEMO_ERR_WORK, "%s: path too long", p->work);
	p->synthetic = !o->model;
	if (o->model)
		snprintf(p->model, sizeof p->model, "%s", o->model);
	if (o->text)
		snprintf(p->text, sizeof p->text, "%s", o->text);
	p->calib = o->calib ? o->calib : p->text;
	if (!o->model) {
		struct synth_spec spec;
		synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
		int e = synth_write(p->model, &spec);
		if (e)
			return err_set(err, errlen, DEMO_ERR_WORK, "%s: %s", p->model, synth_strerror(e));
	}
	if (!o->text && util_write_file_atomic(p->text, sample_text, sizeof sample_text - 1, err, errlen))
		return err_prefix(err, errlen, DEMO_ERR_WORK, "cannot write the sample text");
	return DEMO_OK;
}

static int train_step(const struct demo_paths *p, const struct demo_opts *o,
		      const struct demo_hooks *h, char *err, size_t errlen)
{
	static const double ratio = 0.3;
	const char *models[] = {p->model};
	struct trainjob_opts t;
	trainjob_opts_default(&t); /* yopo train's defaults: functional reward, probe features */
	t.models = models;
	t.n_models = 1;
	t.out = p->policy;
	t.force = true; /* the work directory may hold an earlier demo's policy */
	t.train.ratios = &ratio;
	t.train.n_ratios = 1;
	t.train.episodes = (int)o->episodes;
	double best;
	return trainjob_run(&best, &t, h->train, h->ctx, err, errlen) ? DEMO_ERR_TRAIN : DEMO_OK;
}

static int compare_step(const struct demo_paths *p, const struct demo_opts *o,
			const struct demo_hooks *h, char *err, size_t errlen)
{
	int n = 0;
	const struct scorer *const *all = scorer_all(&n);
	const char *methods[COMPARE_LIST_MAX];
	for (int i = 0; i < n && i < COMPARE_LIST_MAX; i++)
		methods[i] = all[i]->name;
	struct compare_opts c = {
		.model = p->model, .text = p->text, .out = p->report, .methods = methods,
		.n_methods = n < COMPARE_LIST_MAX ? n : COMPARE_LIST_MAX, .ratios = o->ratios,
		.n_ratios = o->n_ratios, .policy = p->policy, .calib = p->calib,
		.max_windows = o->max_windows, .sample_tokens = 24, .force = true,
	};
	struct compare_result res;
	if (compare_run(&res, &c, h->compare, h->ctx, err, errlen))
		return DEMO_ERR_COMPARE;
	compare_result_free(&res);
	return DEMO_OK;
}

int demo_run(const struct demo_opts *o, const struct demo_hooks *h, char *err, size_t errlen)
{
	struct demo_paths p = {0};
	int rc = make_inputs(&p, o, err, errlen);
	if (rc)
		return rc;
	if (h->step)
		h->step(h->ctx, DEMO_STEP_START, &p, o);
	if (h->step)
		h->step(h->ctx, DEMO_STEP_TRAIN, &p, o);
	if ((rc = train_step(&p, o, h, err, errlen)))
		return rc;
	if (h->step)
		h->step(h->ctx, DEMO_STEP_COMPARE, &p, o);
	if ((rc = compare_step(&p, o, h, err, errlen)))
		return rc;
	if (h->step)
		h->step(h->ctx, DEMO_STEP_DONE, &p, o);
	return DEMO_OK;
}
