/* demo: synthetic model (if needed) -> train -> compare. See demo.h. */
#include "demo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "file.h"
#include "path.h"
#include "scorer.h"
#include "synth.h"
#include "text.h"

/* The ratio the demo trains its policy at. */
static const double demo_train_ratio = 0.3;

static const char sample_text[] =
	"Once upon a time, there was a little dog named Max. Max liked to run in the park with his\n"
	"friend Sam. One day, Sam found a big red ball under a tree. \"Look, Max!\" said Sam. Max\n"
	"barked and wagged his tail. They played with the ball until the sun went down. Then they\n"
	"went home, ate dinner and slept. The next morning, Max woke up early and waited by the\n"
	"door. He wanted to play with the red ball again, and Sam laughed and took him outside.\n";

/* The synthetic model's calibration text: never the evaluation text. */
static const char sample_calib[] =
	"Tom had a small boat. He took it to the lake with his mom. The boat was blue and fast.\n"
	"A duck swam next to it and Tom laughed. When the wind came, the boat went far away, and\n"
	"his mom helped him get it back. They sat on the grass and ate apples until it was dark.\n";

/* The calibration text of the demo when --calib is not given: the one embedded next to the
 * embedded model (demo/tinystories-calib.txt beside demo/stories260k), the built-in one for the
 * synthetic model, else none (Wanda is then skipped: the evaluation text must never calibrate). */
static int default_calib(struct demo_paths *p, const struct demo_opts *o, char *err, size_t errlen)
{
	if (!o->model) {
		if (util_join(p->calib_buf, sizeof p->calib_buf, p->work, "calib.txt"))
			return err_set(err, errlen, DEMO_ERR_WORK, "%s: path too long", p->work);
		if (util_write_file_atomic(p->calib_buf, sample_calib, sizeof sample_calib - 1, err,
					   errlen))
			return err_prefix(err, errlen, DEMO_ERR_WORK, "cannot write the calibration text");
		p->calib = p->calib_buf;
		return DEMO_OK;
	}
	char dir[PATH_MAX];
	struct stat st;
	size_t len = strlen(o->model);
	while (len > 1 && o->model[len - 1] == '/')
		len--;
	const char *slash = NULL;
	for (size_t i = 0; i < len; i++)
		if (o->model[i] == '/')
			slash = o->model + i;
	bool embedded = len >= 11 && !memcmp(o->model + len - 11, "stories260k", 11) &&
			(len == 11 || o->model[len - 12] == '/');
	int n = slash ? snprintf(dir, sizeof dir, "%.*s/tinystories-calib.txt",
				 (int)(slash - o->model), o->model)
		      : snprintf(dir, sizeof dir, "tinystories-calib.txt");
	if (embedded && n > 0 && (size_t)n < sizeof dir && !stat(dir, &st) && S_ISREG(st.st_mode)) {
		snprintf(p->calib_buf, sizeof p->calib_buf, "%s", dir);
		p->calib = p->calib_buf;
	}
	return DEMO_OK;
}

/* What demo_run created, so that a failure removes exactly that. */
struct created {
	bool work;                      /* the work directory itself */
	bool entry[5];                  /* each of entries[] (inside an existing --work) */
};

/* Everything demo writes inside its work directory. */
static const char *const entries[] = {"synthetic-llama", "sample.txt", "policy.safetensors",
				      "report", "calib.txt"};

static int set_paths(struct demo_paths *p, const struct demo_opts *o, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	tmp = tmp && *tmp ? tmp : "/tmp";
	if (o->work ? (size_t)snprintf(p->work, sizeof p->work, "%s", o->work) >= sizeof p->work
		    : (size_t)snprintf(p->work, sizeof p->work, "%s/yopo-demo-XXXXXX", tmp) >= sizeof p->work)
		return err_set(err, errlen, DEMO_ERR_WORK, "work directory path too long");
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
	p->calib = o->calib;
	return DEMO_OK;
}

/* Every ratio of the compare step, and the training ratio, against the model's sizes at both
 * granularities compare runs (plan.h's rule). */
static int check_ratios(const struct config *c, const struct demo_opts *o, double train_ratio,
			char *err, size_t errlen)
{
	for (int i = 0; i <= o->n_ratios; i++) {
		double r = i < o->n_ratios ? o->ratios[i] : train_ratio;
		if (prune_check_ratio(c, r, PRUNE_GRANULARITY_ROWS, false, err, errlen) ||
		    prune_check_ratio(c, r, PRUNE_GRANULARITY_WEIGHTS, false, err, errlen))
			return err_prefix(err, errlen, DEMO_ERR_INPUT, "%s",
					  i < o->n_ratios ? "--ratios" : "training ratio");
	}
	return DEMO_OK;
}

/* The user's inputs, before anything is written: the texts, the model (opened and its sizes
 * checked against the ratios), and what the demo writes under --work against all of them. */
static int check_inputs(const struct demo_paths *p, const struct demo_opts *o,
			double train_ratio, char *err, size_t errlen)
{
	if (o->text && text_check_file(o->text, err, errlen))
		return err_prefix(err, errlen, DEMO_ERR_INPUT, "--text");
	if (o->calib && text_check_file(o->calib, err, errlen))
		return err_prefix(err, errlen, DEMO_ERR_INPUT, "--calib");
	if (o->model) {
		struct model *m = NULL;
		struct tokenizer *tok = NULL;
		int rc = text_open_model(&m, &tok, o->model, err, errlen) ? DEMO_ERR_INPUT
			 : check_ratios(&m->cfg, o, train_ratio, err, errlen);
		tokenizer_free(tok);
		model_close(m);
		if (rc)
			return rc;
	}
	/* the entries, not the directory: --work . may hold the inputs elsewhere in its tree */
	const char *inputs[] = {o->model, o->text, o->calib};
	const char *outputs[] = {p->policy, p->report, o->text ? NULL : p->text,
				 o->model ? NULL : p->model};
	if (path_check_outputs(outputs, 4, inputs, 3, err, errlen))
		return err_prefix(err, errlen, DEMO_ERR_WORK, "--work");
	return DEMO_OK;
}

/* The work directory, the model (synthetic if none) and the text. */
static int make_inputs(struct created *c, struct demo_paths *p, const struct demo_opts *o,
		       double train_ratio, char *err, size_t errlen)
{
	struct stat sb;
	c->work = o->work ? mkdir(p->work, 0777) == 0 : mkdtemp(p->work) != NULL;
	bool existing = !c->work && o->work && errno == EEXIST;
	if (!c->work && !existing)
		return err_set(err, errlen, DEMO_ERR_WORK, "%s: cannot create: %s", p->work,
			       strerror(errno));
	if (existing && (stat(p->work, &sb) || !S_ISDIR(sb.st_mode)))
		return err_set(err, errlen, DEMO_ERR_WORK, "--work %s: not a directory", p->work);
	for (size_t i = 0; !c->work && i < sizeof entries / sizeof entries[0]; i++) {
		char path[PATH_MAX];
		c->entry[i] = !util_join(path, sizeof path, p->work, entries[i]) &&
			      lstat(path, &sb) && errno == ENOENT;
	}
	if (!o->model) {
		struct synth_spec spec;
		synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
		int e = synth_write(p->model, &spec);
		if (e)
			return err_set(err, errlen, DEMO_ERR_WORK, "%s: %s", p->model, synth_strerror(e));
		struct model *m = NULL;
		if (model_open(&m, p->model, err, errlen))
			return DEMO_ERR_WORK;
		int rc = check_ratios(&m->cfg, o, train_ratio, err, errlen);
		model_close(m);
		if (rc)
			return rc;
	}
	if (!o->text && util_write_file_atomic(p->text, sample_text, sizeof sample_text - 1, err, errlen))
		return err_prefix(err, errlen, DEMO_ERR_WORK, "cannot write the sample text");
	return o->calib ? DEMO_OK : default_calib(p, o, err, errlen);
}

/* A failed demo removes what it wrote: the whole work directory when it made it, else only the
 * entries that did not exist before (the rest of an existing --work is the user's). */
static void remove_created(const struct created *c, const struct demo_paths *p)
{
	if (c->work) {
		util_remove_tree(p->work);
		return;
	}
	for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
		char path[PATH_MAX];
		if (c->entry[i] && !util_join(path, sizeof path, p->work, entries[i]))
			util_remove_tree(path);
	}
}

static int train_step(const struct demo_paths *p, const struct demo_opts *o,
		      const struct demo_hooks *h, char *err, size_t errlen)
{
	const char *models[] = {p->model};
	struct trainjob_opts t;
	trainjob_opts_default(&t); /* yopo train's defaults: functional reward, probe features */
	t.models = models;
	t.n_models = 1;
	t.out = p->policy;
	t.force = true; /* demo_run checked its work entries before; nothing of the user's is there */
	t.train.ratios = &demo_train_ratio;
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
	int n_methods = 0;
	for (int i = 0; i < n && n_methods < COMPARE_LIST_MAX; i++)
		if (p->calib || !(all[i]->needs & SCORER_NEEDS_CALIB))
			methods[n_methods++] = all[i]->name;
	struct compare_opts c = {
		.model = p->model, .text = p->text, .out = p->report, .methods = methods,
		.n_methods = n_methods, .ratios = o->ratios,
		.n_ratios = o->n_ratios, .policy = p->policy, .calib = p->calib,
		.max_windows = o->max_windows, .sample_tokens = 24, .force = true, .seeds = 3,
		.command = "yopo demo",
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
	struct created c = {0};
	int rc = set_paths(&p, o, err, errlen);
	if (rc || (rc = check_inputs(&p, o, demo_train_ratio, err, errlen)))
		goto out;
	if ((rc = make_inputs(&c, &p, o, demo_train_ratio, err, errlen)))
		goto out;
	if (h->step)
		h->step(h->ctx, DEMO_STEP_START, &p, o);
	if (h->step)
		h->step(h->ctx, DEMO_STEP_TRAIN, &p, o);
	if ((rc = train_step(&p, o, h, err, errlen))) {
		err_prefix(err, errlen, rc, "training");
		goto out;
	}
	if (h->step)
		h->step(h->ctx, DEMO_STEP_COMPARE, &p, o);
	if ((rc = compare_step(&p, o, h, err, errlen))) {
		err_prefix(err, errlen, rc, "comparing");
		goto out;
	}
	if (h->step)
		h->step(h->ctx, DEMO_STEP_DONE, &p, o);
out:
	if (rc)
		remove_created(&c, &p);
	return rc;
}
