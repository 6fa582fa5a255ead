/* study: rank correlation of weights-only and functional rewards with measured damage.
 * See study.h. */
#include "study.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "forward.h"
#include "funcreward.h"
#include "kl.h"
#include "ks.h"
#include "linalg.h"
#include "probe.h"
#include "text.h"

const char *study_strerror(int err)
{
	switch (err) {
	case STUDY_OK: return "success";
	case STUDY_ERR_ARG: return "invalid study options";
	case STUDY_ERR_MODEL: return "cannot open the model";
	case STUDY_ERR_NOMEM: return "out of memory";
	case STUDY_ERR_COMPUTE: return "a computation failed";
	case STUDY_ERR_TEXT: return "text too short for one window";
	}
	return "unknown study error";
}

static const char *const reward_names[STUDY_N_REWARDS] = {
	"functional", "ks_up", "ks_gate", "ks_down", "ks_mean",
	"ks_map", "w1_map", "w1_logsv_down", "w1_logsv_map",
};

const char *study_reward_name(enum study_reward r)
{
	return (int)r >= 0 && r < STUDY_N_REWARDS ? reward_names[r] : NULL;
}

void study_opts_default(struct study_opts *o)
{
	*o = (struct study_opts){.ratio = 0.3, .selections = 40, .seed = 0, .probe_tokens = 2048,
				 .probe_seed = 0, .seq_len = 0, .windows = 8};
}

void study_result_free(struct study_result *r)
{
	if (!r)
		return;
	free(r->distance);
	free(r->kl);
	free(r->ppl);
	free(r->rho);
	free(r);
}

/* ---- statistics ---- */

struct keyed {
	double v;
	int i;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* r (n) = 1-based ranks of x, ties averaged; k scratch (n). */
static void ranks(double *r, const double *x, int n, struct keyed *k)
{
	for (int i = 0; i < n; i++)
		k[i] = (struct keyed){x[i], i};
	qsort(k, (size_t)n, sizeof *k, cmp_keyed);
	for (int a = 0; a < n;) {
		int b = a;
		while (b + 1 < n && k[b + 1].v == k[a].v)
			b++;
		for (int j = a; j <= b; j++)
			r[k[j].i] = 0.5 * (a + b) + 1;
		a = b + 1;
	}
}

double study_spearman(const double *x, const double *y, int n)
{
	if (n < 2)
		return NAN;
	double *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
	struct keyed *k = malloc((size_t)n * sizeof *k);
	double rho = NAN;
	if (!rx || !ry || !k)
		goto out;
	ranks(rx, x, n, k);
	ranks(ry, y, n, k);
	double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
	for (int i = 0; i < n; i++) {
		mx += rx[i] / n;
		my += ry[i] / n;
	}
	for (int i = 0; i < n; i++) {
		sxy += (rx[i] - mx) * (ry[i] - my);
		sxx += (rx[i] - mx) * (rx[i] - mx);
		syy += (ry[i] - my) * (ry[i] - my);
	}
	if (sxx > 0 && syy > 0)
		rho = sxy / sqrt(sxx * syy);
out:
	free(k);
	free(ry);
	free(rx);
	return rho;
}

double study_w1(const double *a, int na, const double *b, int nb)
{
	double *sa = malloc((size_t)na * sizeof *sa), *sb = malloc((size_t)nb * sizeof *sb);
	if (!sa || !sb) {
		free(sa);
		free(sb);
		return NAN;
	}
	memcpy(sa, a, (size_t)na * sizeof *sa);
	memcpy(sb, b, (size_t)nb * sizeof *sb);
	qsort(sa, (size_t)na, sizeof *sa, cmp_double);
	qsort(sb, (size_t)nb, sizeof *sb, cmp_double);
	/* walk the merged support: between consecutive points the CDFs are i/na and j/nb */
	int i = 0, j = 0;
	double prev = sa[0] < sb[0] ? sa[0] : sb[0], area = 0;
	while (i < na || j < nb) {
		double x = i < na && (j >= nb || sa[i] <= sb[j]) ? sa[i] : sb[j];
		area += fabs((double)i / na - (double)j / nb) * (x - prev);
		prev = x;
		while (i < na && sa[i] == x)
			i++;
		while (j < nb && sb[j] == x)
			j++;
	}
	free(sa);
	free(sb);
	return area;
}

void study_random_keep(unsigned char *keep, int n, int k, struct pcg32 *rng)
{
	int *perm = malloc((size_t)n * sizeof *perm);
	memset(keep, 0, (size_t)n);
	if (!perm) {
		for (int i = 0; i < k; i++)
			keep[i] = 1; /* cannot happen in practice; stay defined */
		return;
	}
	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = 0; i < k; i++) {
		int j = i + (int)pcg32_bounded(rng, (uint32_t)(n - i)), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
		keep[perm[i]] = 1;
	}
	free(perm);
}

void study_zero_neurons(struct model *m, const struct model *dense, int layer,
			const unsigned char *keep)
{
	int F = m->layers[layer].ffn, H = m->cfg.hidden;
	float *d = m->layers[layer].down;
	memcpy(d, dense->layers[layer].down, (size_t)H * F * sizeof *d);
	if (!keep)
		return;
	for (int h = 0; h < H; h++)
		for (int i = 0; i < F; i++)
			if (!keep[i])
				d[(size_t)h * F + i] = 0;
}

/* ---- distances ---- */

/* One layer's weights, full singular values and functional Gram, plus scratch. */
struct layer_ctx {
	int F, H;
	const float *up, *gate, *down;  /* (F, H), (F, H) or NULL, (H, F) */
	double *sv_up, *sv_gate, *sv_down, *sv_map; /* full matrices' singular values */
	int n_up, n_down;               /* min(F, H) */
	struct funcreward *fr;
	int *kept;                      /* (F) */
	float *buf;                     /* (max(F, H) · H) */
	double *s, *acc;                /* (H), (H · H) */
};

static void ctx_free(struct layer_ctx *c)
{
	free(c->sv_up);
	free(c->sv_gate);
	free(c->sv_down);
	free(c->sv_map);
	funcreward_free(c->fr);
	free(c->kept);
	free(c->buf);
	free(c->s);
	free(c->acc);
	memset(c, 0, sizeof *c);
}

/* s = singular values of w[kept, :] (k, H): min(k, H) values. */
static int sv_rows(double *s, float *buf, const float *w, const int *kept, int k, int H)
{
	for (int r = 0; r < k; r++)
		memcpy(buf + (size_t)r * H, w + (size_t)kept[r] * H, (size_t)H * sizeof *buf);
	return linalg_singular_values(s, buf, k, H);
}

/* s = singular values of down[:, kept] (H, k). */
static int sv_cols(double *s, float *buf, const float *down, const int *kept, int k, int F, int H)
{
	for (int h = 0; h < H; h++)
		for (int r = 0; r < k; r++)
			buf[(size_t)h * k + r] = down[(size_t)h * F + kept[r]];
	return linalg_singular_values(s, buf, H, k);
}

/* s (H) = singular values of the map down[:, kept] · up[kept, :] (H × H). */
static int sv_map(double *s, struct layer_ctx *c, const int *kept, int k)
{
	int H = c->H, F = c->F;
	memset(c->acc, 0, (size_t)H * H * sizeof *c->acc);
	for (int h = 0; h < H; h++)
		for (int r = 0; r < k; r++) {
			double d = c->down[(size_t)h * F + kept[r]];
			const float *u = c->up + (size_t)kept[r] * H;
			double *row = c->acc + (size_t)h * H;
			for (int j = 0; j < H; j++)
				row[j] += d * u[j];
		}
	for (size_t i = 0; i < (size_t)H * H; i++)
		c->buf[i] = (float)c->acc[i];
	return linalg_singular_values(s, c->buf, H, H);
}

static int ctx_open(struct layer_ctx *c, const struct model *m, int layer, const struct probe *p)
{
	const struct model_layer *L = &m->layers[layer];
	int F = L->ffn, H = m->cfg.hidden, mn = F < H ? F : H, big = F > H ? F : H;
	*c = (struct layer_ctx){.F = F, .H = H, .up = L->up, .gate = L->gate, .down = L->down,
				.n_up = mn, .n_down = mn};
	c->sv_up = malloc((size_t)mn * sizeof(double));
	c->sv_gate = malloc((size_t)mn * sizeof(double));
	c->sv_down = malloc((size_t)mn * sizeof(double));
	c->sv_map = malloc((size_t)H * sizeof(double));
	c->kept = malloc((size_t)F * sizeof *c->kept);
	c->buf = malloc((size_t)big * H * sizeof *c->buf);
	c->s = malloc((size_t)H * sizeof *c->s);
	c->acc = malloc((size_t)H * H * sizeof *c->acc);
	if (!c->sv_up || !c->sv_gate || !c->sv_down || !c->sv_map || !c->kept || !c->buf || !c->s ||
	    !c->acc)
		return STUDY_ERR_NOMEM;
	for (int i = 0; i < F; i++)
		c->kept[i] = i;
	if (linalg_singular_values(c->sv_up, c->up, F, H) ||
	    (c->gate && linalg_singular_values(c->sv_gate, c->gate, F, H)) ||
	    linalg_singular_values(c->sv_down, c->down, H, F) || sv_map(c->sv_map, c, c->kept, F))
		return STUDY_ERR_COMPUTE;
	if (funcreward_new(&c->fr, p->act[layer], p->tokens, c->down, H, F))
		return STUDY_ERR_COMPUTE;
	return STUDY_OK;
}

/* W1 of log singular values, floored at 1e-12 of the full matrix's largest. */
static double w1_log(const double *full, int nf, const double *kept, int nk, double *scratch)
{
	double floor = 1e-12 * (full[0] > 0 ? full[0] : 1);
	for (int i = 0; i < nf; i++)
		scratch[i] = log(full[i] > floor ? full[i] : floor);
	for (int i = 0; i < nk; i++)
		scratch[nf + i] = log(kept[i] > floor ? kept[i] : floor);
	return study_w1(scratch, nf, scratch + nf, nk);
}

/* d (STUDY_N_REWARDS) for the selection keep (F). */
static int layer_distances(double *d, struct layer_ctx *c, const unsigned char *keep)
{
	int k = 0, F = c->F, H = c->H, nk;
	for (int i = 0; i < F; i++)
		if (keep[i])
			c->kept[k++] = i;
	nk = k < H ? k : H;
	double *s = malloc((size_t)(2 * (F + H)) * sizeof *s), *logs = s ? s + F + H : NULL;
	if (!s)
		return STUDY_ERR_NOMEM;
	int rc = STUDY_ERR_COMPUTE;
	if (funcreward_error(c->fr, c->kept, k, &d[STUDY_FUNCTIONAL]) ||
	    sv_rows(s, c->buf, c->up, c->kept, k, H))
		goto out;
	d[STUDY_KS_UP] = ks_2samp(c->sv_up, c->n_up, s, nk);
	d[STUDY_KS_GATE] = NAN;
	if (c->gate) {
		if (sv_rows(s, c->buf, c->gate, c->kept, k, H))
			goto out;
		d[STUDY_KS_GATE] = ks_2samp(c->sv_gate, c->n_up, s, nk);
	}
	if (sv_cols(s, c->buf, c->down, c->kept, k, F, H))
		goto out;
	d[STUDY_KS_DOWN] = ks_2samp(c->sv_down, c->n_down, s, nk);
	d[STUDY_W1_LOGSV_DOWN] = w1_log(c->sv_down, c->n_down, s, nk, logs);
	d[STUDY_KS_MEAN] = c->gate ? (d[STUDY_KS_UP] + d[STUDY_KS_GATE] + d[STUDY_KS_DOWN]) / 3
				   : (d[STUDY_KS_UP] + d[STUDY_KS_DOWN]) / 2;
	if (sv_map(s, c, c->kept, k))
		goto out;
	d[STUDY_KS_MAP] = ks_2samp(c->sv_map, H, s, H);
	d[STUDY_W1_MAP] = study_w1(c->sv_map, H, s, H);
	d[STUDY_W1_LOGSV_MAP] = w1_log(c->sv_map, H, s, H, logs);
	rc = STUDY_OK;
out:
	free(s);
	return rc;
}

/* ---- the study ---- */

/* Draws every selection (keeps: (L, M, max_ffn) bytes) and fills r->distance. */
static int all_distances(struct study_result *r, unsigned char *keeps, int max_ffn,
			 const struct model *m, const struct probe *p, const struct study_opts *o)
{
	struct pcg32 rng;
	pcg32_seed(&rng, o->seed, STUDY_STREAM);
	int M = o->selections;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		struct layer_ctx c;
		int rc = ctx_open(&c, m, l, p), F = m->layers[l].ffn;
		int k = F - (int)lround(o->ratio * F);
		if (k < 1)
			k = 1;
		for (int s = 0; !rc && s < M; s++) {
			unsigned char *keep = keeps + ((size_t)l * M + s) * max_ffn;
			study_random_keep(keep, F, k, &rng);
			rc = layer_distances(r->distance + ((size_t)l * M + s) * STUDY_N_REWARDS, &c, keep);
		}
		ctx_free(&c);
		if (rc)
			return rc;
	}
	return STUDY_OK;
}

/* KL and perplexity of every selection: one dense forward per window, then each selection's. */
static int all_damage(struct study_result *r, const unsigned char *keeps, int max_ffn,
		      const struct model *dense, struct model *pruned, const int *ids, int seq_len,
		      int windows)
{
	int L = dense->cfg.n_layers, M = r->selections, V = dense->cfg.vocab, rc;
	size_t cells = (size_t)L * M;
	struct study_damage d;
	if ((rc = study_damage_open(&d, dense, pruned, seq_len, cells)))
		return rc;
	rc = STUDY_ERR_NOMEM;
	for (int w = 0; w < windows; w++) {
		const int *x = ids + (size_t)w * seq_len;
		rc = STUDY_ERR_COMPUTE;
		if (forward_run(d.fd, d.ld, x, seq_len, 0))
			goto out;
		for (size_t i = 0; i < cells; i++) {
			int l = (int)(i / M);
			study_zero_neurons(pruned, dense, l, keeps + i * max_ffn);
			int frc = forward_run(d.fp, d.lp, x, seq_len, 0);
			study_zero_neurons(pruned, dense, l, NULL);
			if (frc || kl_acc_add(d.acc[i], d.ld, d.lp, x + 1, seq_len - 1, V))
				goto out;
		}
	}
	for (size_t i = 0; i < cells; i++) {
		struct kl_result k;
		if (kl_acc_result(d.acc[i], &k))
			goto out;
		r->kl[i] = k.mean;
		r->ppl[i] = k.ppl;
		r->dense_ppl = k.ppl_ref;
		r->tokens = k.tokens;
	}
	rc = STUDY_OK;
out:
	study_damage_close(&d);
	return rc;
}

int study_damage_open(struct study_damage *d, const struct model *dense, struct model *pruned,
		      int seq_len, size_t n_acc)
{
	size_t logits = (size_t)seq_len * dense->cfg.vocab;
	memset(d, 0, sizeof *d);
	d->acc = calloc(n_acc, sizeof *d->acc);
	d->ld = malloc(logits * sizeof *d->ld);
	d->lp = malloc(logits * sizeof *d->lp);
	if (d->acc)
		d->n_acc = n_acc;
	if (!d->acc || !d->ld || !d->lp || forward_new(&d->fd, dense, seq_len) ||
	    forward_new(&d->fp, pruned, seq_len))
		goto fail;
	for (size_t i = 0; i < n_acc; i++)
		if (kl_acc_new(&d->acc[i]))
			goto fail;
	return STUDY_OK;
fail:
	study_damage_close(d);
	return STUDY_ERR_NOMEM;
}

void study_damage_close(struct study_damage *d)
{
	for (size_t i = 0; d->acc && i < d->n_acc; i++)
		kl_acc_free(d->acc[i]);
	free(d->acc);
	free(d->ld);
	free(d->lp);
	forward_free(d->fd);
	forward_free(d->fp);
	memset(d, 0, sizeof *d);
}

/* ρ per layer and reward, pooled means. */
static void correlate(struct study_result *r)
{
	int M = r->selections;
	double *x = malloc((size_t)M * sizeof *x);
	for (int q = 0; q < STUDY_N_REWARDS; q++) {
		double sum = 0;
		int n = 0, all_pos = 1;
		for (int l = 0; l < r->n_layers; l++) {
			double rho = NAN;
			for (int s = 0; x && s < M; s++)
				x[s] = r->distance[((size_t)l * M + s) * STUDY_N_REWARDS + q];
			if (x && !isnan(x[0]))
				rho = study_spearman(x, r->kl + (size_t)l * M, M);
			r->rho[(size_t)l * STUDY_N_REWARDS + q] = rho;
			if (!isnan(rho)) {
				sum += rho;
				n++;
			}
			all_pos = all_pos && rho > 0;
		}
		r->pooled[q] = n ? sum / n : NAN;
		r->min_layer_positive[q] = n > 0 && all_pos;
	}
	free(x);
}

static int check_opts(const struct study_opts *o, char *err, size_t errlen)
{
	if (!(o->ratio > 0 && o->ratio < 1) || o->selections < 2 || o->windows < 1 ||
	    o->probe_tokens < 2 || o->seq_len < 0 || o->probe_lanes < 0)
		return err_set(err, errlen, STUDY_ERR_ARG,
			       "study: need ratio in (0, 1), ≥ 2 selections, ≥ 1 window, ≥ 2 probe tokens"
			       " (got %g, %d, %d, %d)", o->ratio, o->selections, o->windows,
			       o->probe_tokens);
	return STUDY_OK;
}

int study_run(struct study_result **out, const char *model_dir, const int *ids, size_t n_ids,
	      const struct study_opts *o, char *err, size_t errlen)
{
	int rc = check_opts(o, err, errlen);
	if (rc)
		return rc;
	struct model *dense = NULL, *pruned = NULL;
	struct probe *p = NULL;
	struct study_result *r = NULL;
	unsigned char *keeps = NULL;
	if (model_open(&dense, model_dir, err, errlen) || model_open(&pruned, model_dir, err, errlen)) {
		rc = err_prefix(err, errlen, STUDY_ERR_MODEL, "study");
		goto out;
	}
	const struct config *c = &dense->cfg;
	int seq_len = o->seq_len ? o->seq_len : (c->max_pos < 256 ? c->max_pos : 256);
	int windows = (int)(n_ids / (size_t)(seq_len > 0 ? seq_len : 1));
	windows = windows < o->windows ? windows : o->windows;
	if (seq_len < 2 || seq_len > c->max_pos || windows < 1) {
		rc = err_set(err, errlen, STUDY_ERR_TEXT,
			     "study: %zu tokens give no full window of %d (context %d)", n_ids, seq_len,
			     c->max_pos);
		goto out;
	}
	if ((rc = probe_collect(&p, dense, o->probe_tokens, o->probe_seed, 0, o->probe_lanes, err,
				errlen))) {
		rc = err_prefix(err, errlen, STUDY_ERR_COMPUTE, "study");
		goto out;
	}
	int L = c->n_layers, M = o->selections, max_ffn = 0;
	for (int l = 0; l < L; l++)
		max_ffn = dense->layers[l].ffn > max_ffn ? dense->layers[l].ffn : max_ffn;
	rc = STUDY_ERR_NOMEM;
	r = calloc(1, sizeof *r);
	keeps = malloc((size_t)L * M * max_ffn);
	if (!r || !keeps)
		goto nomem;
	*r = (struct study_result){.n_layers = L, .selections = M};
	r->distance = malloc((size_t)L * M * STUDY_N_REWARDS * sizeof *r->distance);
	r->kl = malloc((size_t)L * M * sizeof *r->kl);
	r->ppl = malloc((size_t)L * M * sizeof *r->ppl);
	r->rho = malloc((size_t)L * STUDY_N_REWARDS * sizeof *r->rho);
	if (!r->distance || !r->kl || !r->ppl || !r->rho)
		goto nomem;
	if ((rc = all_distances(r, keeps, max_ffn, dense, p, o)) ||
	    (rc = all_damage(r, keeps, max_ffn, dense, pruned, ids, seq_len, windows))) {
		err_set(err, errlen, rc, "study: %s", study_strerror(rc));
		goto out;
	}
	correlate(r);
	*out = r;
	r = NULL;
	rc = STUDY_OK;
	goto out;
nomem:
	err_set(err, errlen, rc, "study: out of memory");
out:
	study_result_free(r);
	free(keeps);
	probe_free(p);
	model_close(pruned);
	model_close(dense);
	return rc;
}

int study_run_text(struct study_result **out, const char *model_dir, const char *text_path,
		   const struct study_opts *o, char *err, size_t errlen)
{
	int rc = check_opts(o, err, errlen);
	if (rc)
		return rc;
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	int *ids = NULL;
	size_t n = 0;
	if (text_open_model(&m, &tok, model_dir, err, errlen))
		return STUDY_ERR_MODEL;
	int e = text_encode_file(&ids, &n, m, tok, text_path, err, errlen);
	tokenizer_free(tok);
	model_close(m); /* study_run opens its own copies: one dense, one to prune */
	if (e)
		return e == TEXT_ERR_NOMEM ? STUDY_ERR_NOMEM : STUDY_ERR_TEXT;
	rc = study_run(out, model_dir, ids, n, o, err, errlen);
	free(ids);
	return rc;
}
