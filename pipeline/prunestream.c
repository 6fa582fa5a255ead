/* prunestream: weightless model, layer-at-a-time scoring and per-matrix masks. See
 * prunestream.h. */
#include "prunestream.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "file.h"

/* ---- the weightless model ---- */

/* m's parameter counts as model_open makes them: every needed tensor (tied ones once). */
static void count_params(struct model *m)
{
	const struct config *c = &m->cfg;
	for (int layer = -1; layer < c->n_layers; layer++)
		for (int w = 0; w < CONFIG_TENSOR_COUNT; w++) {
			enum config_tensor which = (enum config_tensor)w;
			if ((which >= CONFIG_TENSOR_ATTN_NORM) != (layer >= 0) ||
			    !config_tensor_needed(c, which))
				continue;
			size_t n = model_find_tensor(m->st, c, which, layer)->nelem;
			m->n_params += n;
			if (which >= CONFIG_TENSOR_UP && which <= CONFIG_TENSOR_DOWN_BIAS)
				m->n_ffn_params += n;
		}
}

int prunestream_open(struct model **out, const char *dir, char *err, size_t errlen)
{
	struct model *m = calloc(1, sizeof *m);
	if (!m)
		return err_set(err, errlen, PRUNESTREAM_ERR_NOMEM, "%s: out of memory", dir);
	if (model_inspect(&m->cfg, &m->st, dir, err, errlen)) {
		free(m);
		return PRUNESTREAM_ERR_MODEL;
	}
	m->dir = strdup(dir);
	m->layers = calloc((size_t)m->cfg.n_layers, sizeof *m->layers);
	if (!m->dir || !m->layers) {
		model_close(m);
		return err_set(err, errlen, PRUNESTREAM_ERR_NOMEM, "%s: out of memory", dir);
	}
	for (int l = 0; l < m->cfg.n_layers; l++)
		m->layers[l].ffn = m->cfg.layer_ffn[l];
	m->file_bytes = safetensors_file_bytes(m->st);
	m->dtype = model_find_tensor(m->st, &m->cfg, CONFIG_TENSOR_EMBED, 0)->dtype;
	count_params(m);
	*out = m;
	return PRUNESTREAM_OK;
}

int prunestream_probe_sample(struct probe **p, const char *dir, int tokens, uint64_t seed,
			     int lanes, char *err, size_t errlen)
{
	struct model *m = NULL;
	if (model_open_weights(&m, dir, MODEL_WEIGHTS_MAPPED_F32, err, errlen))
		return PRUNESTREAM_ERR_MODEL;
	int e = probe_sample(p, m, tokens, seed, 0, lanes, err, errlen);
	model_close(m);
	return e ? err_prefix(err, errlen, PRUNESTREAM_ERR_SCORE, "%s: probe tokens", dir)
		 : PRUNESTREAM_OK;
}

int prunestream_open_text(struct model **m, struct tokenizer **tok, const char *dir, char *err,
			  size_t errlen)
{
	struct stat sb;
	char path[PATH_MAX];
	if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
		return err_set(err, errlen, PRUNESTREAM_ERR_MODEL, "%s: not a model directory", dir);
	if (util_join(path, sizeof path, dir, "tokenizer.json"))
		return err_set(err, errlen, PRUNESTREAM_ERR_MODEL, "%s: path too long", dir);
	struct model *mm = NULL;
	struct tokenizer *tt = NULL;
	int rc = prunestream_open(&mm, dir, err, errlen);
	if (rc)
		return rc;
	int e = tokenizer_open(&tt, path);
	if (e)
		rc = err_set(err, errlen, PRUNESTREAM_ERR_MODEL, "%s: %s", path, tokenizer_strerror(e));
	else if (tokenizer_vocab_size(tt) > mm->cfg.vocab)
		rc = err_set(err, errlen, PRUNESTREAM_ERR_MODEL,
			     "%s: tokenizer has %d tokens but the model's vocabulary is %d", path,
			     tokenizer_vocab_size(tt), mm->cfg.vocab);
	if (rc) {
		tokenizer_free(tt);
		model_close(mm);
		return rc;
	}
	*m = mm;
	*tok = tt;
	return PRUNESTREAM_OK;
}

/* ---- one matrix at a time ---- */

/* *out = matrix `which` of layer in canonical (out, in) f32: a new buffer, or with pool the
 * pool's buffer for `which` (up, gate or down; grown as needed, owned by the pool). With evict the mapped pages are
 * evicted once converted, else they stay for the writer, which slices or masks the same mapped
 * bytes next and evicts them itself (the layer is read from disk once). */
static int read_matrix(float **out, const struct model *m, enum config_tensor which, int layer,
		       bool evict, struct prunestream_pool *pool, char *err, size_t errlen)
{
	const struct safetensors_tensor *t = model_find_tensor(m->st, &m->cfg, which, layer);
	if (!t)
		return err_set(err, errlen, PRUNESTREAM_ERR_MODEL, "%s: layer %d: a tensor is missing",
			       m->dir, layer);
	float *w = NULL;
	int slot = which == CONFIG_TENSOR_UP ? 0 : which == CONFIG_TENSOR_GATE ? 1 : 2;
	if (!pool) {
		w = malloc(t->nelem * sizeof *w + 1);
	} else if (pool->cap[slot] >= t->nelem) {
		w = pool->buf[slot];
	} else {
		free(pool->buf[slot]);
		pool->cap[slot] = 0;
		if ((w = pool->buf[slot] = malloc(t->nelem * sizeof *w + 1)))
			pool->cap[slot] = t->nelem;
	}
	float *scratch = m->cfg.conv1d ? malloc(t->nelem * sizeof *scratch + 1) : NULL;
	int rc = PRUNESTREAM_OK;
	if (!w || (m->cfg.conv1d && !scratch))
		rc = err_set(err, errlen, PRUNESTREAM_ERR_NOMEM, "%s: layer %d: out of memory", m->dir,
			     layer);
	else if (model_read_matrix(w, t, &m->cfg, which, scratch))
		rc = err_set(err, errlen, PRUNESTREAM_ERR_MODEL, "%s: cannot convert %s", m->dir,
			     t->name);
	if (evict)
		safetensors_evict(t);
	free(scratch);
	if (rc && !pool)
		free(w);
	else if (!rc)
		*out = w;
	return rc;
}

void prunestream_pool_free(struct prunestream_pool *pool)
{
	for (int i = 0; pool && i < PRUNESTREAM_POOL_SLOTS; i++) {
		free(pool->buf[i]);
		pool->buf[i] = NULL;
		pool->cap[i] = 0;
	}
}

/* Which FFN matrices a rows scorer reads from its layer view: random none, magnitude and Wanda
 * the scored matrix and its pair, the policy also down (its row features), probe down only. An
 * unknown scorer gets everything. */
static void rows_reads(const struct scorer *s, bool *pair_and_scored, bool *down)
{
	bool random = !strcmp(s->name, "random"), policy = !strcmp(s->name, "policy");
	bool probe = !strcmp(s->name, "probe");
	bool known = random || policy || probe || !strcmp(s->name, "magnitude") ||
		     !strcmp(s->name, "wanda");
	*pair_and_scored = !random && !probe;
	*down = policy || probe || !known;
}

/* Detaches the layer's matrices, freeing them unless they are pool's. */
static void layer_drop(struct model_layer *L, const struct prunestream_pool *pool)
{
	if (!pool) {
		free(L->up);
		free(L->gate);
		free(L->down);
	}
	L->up = L->gate = L->down = NULL;
}

/* Loads the FFN matrices of layer that s reads into m->layers[layer] (evict, pool: as
 * read_matrix). */
static int layer_load(struct model *m, int layer, const struct scorer *s, bool evict,
		      struct prunestream_pool *pool, char *err, size_t errlen)
{
	struct model_layer *L = &m->layers[layer];
	bool mats, down;
	rows_reads(s, &mats, &down);
	int rc = PRUNESTREAM_OK;
	if (mats)
		rc = read_matrix(&L->up, m, CONFIG_TENSOR_UP, layer, evict, pool, err, errlen);
	if (!rc && mats && m->cfg.gated)
		rc = read_matrix(&L->gate, m, CONFIG_TENSOR_GATE, layer, evict, pool, err, errlen);
	if (!rc && down)
		rc = read_matrix(&L->down, m, CONFIG_TENSOR_DOWN, layer, evict, pool, err, errlen);
	if (rc)
		layer_drop(L, pool);
	return rc;
}

int prunestream_scores(float ***out, struct model *m, const struct scorer *s,
		       struct scorer_ctx *ctx, char *err, size_t errlen)
{
	int n = m->cfg.n_layers, rc = PRUNESTREAM_OK;
	float **sc = calloc((size_t)n, sizeof *sc);
	struct prunestream_pool pool = {0};
	if (!sc)
		return err_set(err, errlen, PRUNESTREAM_ERR_NOMEM, "out of memory");
	for (int l = 0; l < n && !rc; l++) {
		struct model_layer_view v;
		if (!(sc[l] = malloc((size_t)m->layers[l].ffn * sizeof **sc + 1)))
			rc = err_set(err, errlen, PRUNESTREAM_ERR_NOMEM, "out of memory");
		else if (!(rc = layer_load(m, l, s, true, &pool, err, errlen))) {
			model_layer_view(&v, m, l);
			if (s->score_rows(sc[l], ctx, &v, err, errlen))
				rc = PRUNESTREAM_ERR_SCORE;
			layer_drop(&m->layers[l], &pool);
		}
	}
	prunestream_pool_free(&pool);
	if (rc) {
		for (int l = 0; l < n; l++)
			free(sc[l]);
		free(sc);
		return rc;
	}
	*out = sc;
	return PRUNESTREAM_OK;
}

/* ---- weights masks ---- */

/* r advanced by delta draws of pcg32_next (PCG's jump-ahead: the LCG step composed with itself
 * by squaring, Brown 1994), in O(log delta). */
static void rng_advance(struct pcg32 *r, uint64_t delta)
{
	uint64_t mult = 6364136223846793005ULL, plus = r->inc, acc_mult = 1, acc_plus = 0;
	while (delta) {
		if (delta & 1) {
			acc_mult *= mult;
			acc_plus = acc_plus * mult + plus;
		}
		plus = (mult + 1) * plus;
		mult *= mult;
		delta >>= 1;
	}
	r->state = acc_mult * r->state + acc_plus;
}

/* pcg32_next draws the whole-model route (select.c's weights_plan: layers in order, up, gate,
 * down; the random scorer two draws per weight) makes before matrix `which` of layer. */
static uint64_t draws_before(const struct model *m, int layer, enum config_tensor which)
{
	static const enum config_tensor order[] = {CONFIG_TENSOR_UP, CONFIG_TENSOR_GATE,
						   CONFIG_TENSOR_DOWN};
	uint64_t d = 0, H = (uint64_t)m->cfg.hidden;
	for (int l = 0; l <= layer; l++)
		for (int t = 0; t < 3; t++) {
			if (l == layer && order[t] == which)
				return d;
			if (order[t] == CONFIG_TENSOR_GATE && !m->cfg.gated)
				continue;
			d += 2 * (uint64_t)m->layers[l].ffn * H;
		}
	return d;
}

static int mask_fill(void *vctx, int layer, enum config_tensor which, unsigned char *mask,
		     int rows, int cols, char *err, size_t errlen)
{
	struct prunestream_masks *st = vctx;
	float *w = NULL;
	int rc = read_matrix(&w, st->m, which, layer, false, NULL, err, errlen);
	if (rc)
		return PRUNE_ERR_INPUT;
	st->ctx->rng = st->rng0;
	rng_advance(&st->ctx->rng, draws_before(st->m, layer, which));
	struct scorer_matrix x = {.layer = layer, .which = which, .w = w, .rows = rows, .cols = cols};
	int n, mm;
	if (prune_granularity_nm(st->g, &n, &mm) ? st->s->mask_nm(mask, st->ctx, &x, n, mm, err, errlen)
						 : st->s->mask_weights(mask, st->ctx, &x, st->ratio, err,
									errlen))
		rc = PRUNE_ERR_PLAN;
	free(w);
	return rc;
}

void prunestream_masks(struct prune_masks *out, struct prunestream_masks *st, struct model *m,
		       const struct scorer *s, struct scorer_ctx *ctx, enum prune_granularity g,
		       double ratio)
{
	*st = (struct prunestream_masks){.m = m, .s = s, .ctx = ctx, .rng0 = ctx->rng, .g = g,
					 .ratio = ratio};
	*out = (struct prune_masks){.fill = mask_fill, .ctx = st};
}

/* ---- rows kept when the writer reaches a layer ---- */

/* prune_rows.fill: scores layer l (the writer is at it) into st->scores and sets its kept
 * neurons in st->plan; its pages stay mapped for the writer. The random scorer's stream is put
 * where the numeric-order route has it before l: one draw per neuron of every earlier layer
 * (scorers_random_rows); no other scorer draws. */
static int rows_fill(void *vctx, int l, char *err, size_t errlen)
{
	struct prunestream_rows *st = vctx;
	struct model *m = st->m;
	uint64_t before = 0;
	for (int j = 0; j < l; j++)
		before += (uint64_t)m->layers[j].ffn;
	st->ctx->rng = st->rng0;
	rng_advance(&st->ctx->rng, before);
	if (layer_load(m, l, st->s, false, &st->pool, err, errlen))
		return PRUNE_ERR_INPUT;
	struct model_layer_view v;
	model_layer_view(&v, m, l);
	int rc = PRUNE_OK;
	if (st->s->score_rows(st->scores, st->ctx, &v, err, errlen))
		rc = PRUNE_ERR_PLAN;
	layer_drop(&m->layers[l], &st->pool);
	int e = rc ? PRUNE_OK : prune_plan_set_layer_scores(st->plan, l, st->scores);
	if (e)
		rc = err_set(err, errlen, e, "%s: %s", st->s->name, prune_strerror(e));
	return rc;
}

int prunestream_rows(struct prune_rows *out, struct prunestream_rows *st, struct model *m,
		     const struct scorer *s, struct scorer_ctx *ctx, struct prune_plan *plan,
		     char *err, size_t errlen)
{
	int w = 0;
	for (int l = 0; l < m->cfg.n_layers; l++)
		if (m->layers[l].ffn > w)
			w = m->layers[l].ffn;
	*st = (struct prunestream_rows){.m = m, .s = s, .ctx = ctx, .rng0 = ctx->rng, .plan = plan,
					.scores = malloc((size_t)w * sizeof *st->scores + 1)};
	if (!st->scores)
		return err_set(err, errlen, PRUNESTREAM_ERR_NOMEM, "out of memory");
	*out = (struct prune_rows){.fill = rows_fill, .ctx = st};
	return PRUNESTREAM_OK;
}

void prunestream_rows_free(struct prunestream_rows *st)
{
	free(st->scores);
	st->scores = NULL;
	prunestream_pool_free(&st->pool);
}
