/* probe: self-sampled probe tokens and their FFN activations. See probe.h. */
#include "probe.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "forward.h"
#include "layerstream.h"
#include "pcg32.h"
#include "safetensors.h"

const char *probe_strerror(int err)
{
	switch (err) {
	case PROBE_OK: return "success";
	case PROBE_ERR_ARG: return "invalid probe arguments";
	case PROBE_ERR_NOMEM: return "out of memory";
	case PROBE_ERR_FORWARD: return "forward pass failed";
	case PROBE_ERR_NO_BOS: return "the model has no BOS token to sample from";
	}
	return "unknown probe error";
}

/* The caller's progress hook (probe_set_progress). */
static struct {
	probe_progress_fn *fn;
	void *ctx;
} progress;

void probe_set_progress(probe_progress_fn *fn, void *ctx)
{
	progress.fn = fn;
	progress.ctx = ctx;
}

/* Stored models whose files take at most this many bytes keep their pages mapped while sampling
 * (probe_set_keep_pages_max). */
static size_t keep_pages_max = PROBE_KEEP_PAGES_MAX;

void probe_set_keep_pages_max(size_t bytes)
{
	keep_pages_max = bytes;
}

/* Sampling KV caches that would take more than this many bytes in f32 are held in F16
 * (probe_set_kv_f16_min). */
static size_t kv_f16_min = PROBE_KV_F16_MIN;

void probe_set_kv_f16_min(size_t bytes)
{
	kv_f16_min = bytes;
}

void probe_free(struct probe *p)
{
	if (!p)
		return;
	for (int l = 0; p->act && l < p->n_layers; l++)
		free(p->act[l]);
	for (int l = 0; p->sum_sq && l < p->n_layers; l++)
		free(p->sum_sq[l]);
	for (int l = 0; p->sum_abs && l < p->n_layers; l++)
		free(p->sum_abs[l]);
	free(p->act);
	free(p->sum_sq);
	free(p->sum_abs);
	free(p->ffn);
	free(p->ids);
	free(p->starts);
	free(p);
}

int probe_sample_token(const float *logits, int vocab, struct pcg32 *rng)
{
	double mx = logits[0], total = 0;
	for (int i = 1; i < vocab; i++)
		if (logits[i] > mx)
			mx = logits[i];
	for (int i = 0; i < vocab; i++)
		total += exp((double)logits[i] - mx);
	double target = pcg32_uniform(rng) * total, cum = 0;
	for (int i = 0; i < vocab; i++) {
		cum += exp((double)logits[i] - mx);
		if (cum > target)
			return i;
	}
	return vocab - 1; /* rounding: target at the very top */
}

/* Observer context: where the current window's activations go. */
struct collect {
	struct probe *p;
	int start; /* first token of the running window */
};

static void observe(void *ctx, int layer, enum forward_point point, const float *x, int n,
		    int dim)
{
	struct collect *c = ctx;
	if (point != FORWARD_POINT_FFN_HIDDEN || layer < 0 || layer >= c->p->n_layers ||
	    dim != c->p->ffn[layer])
		return;
	memcpy(c->p->act[layer] + (size_t)c->start * (size_t)dim, x, (size_t)n * dim * sizeof *x);
}

/* Lockstep sampling state: sequence s (in order of start) owns PCG32 stream probe_seq_stream(s);
 * a finished (or, at the end, truncated) sequence is parked in pool until all are composed in
 * order of s. */
struct lanes {
	int n, seq_len, bos, eos, budget, total, next_seq;
	int *flush;          /* (n) the lane's previous sequence still has its last token to run */
	int *ftok, *fpos;    /* (n) that token and its position */
	int *buf;            /* (n, seq_len) the running sequence of each lane */
	int *len, *seq, *on; /* (n) its length, its index s, whether the lane runs one */
	struct pcg32 *rng;   /* (n) its generator */
	int *pool, pooled;   /* (budget) parked sequences, back to back in order of finishing */
	int *off, *plen;     /* (budget) where sequence s is parked and its length */
	int *tok, *lane, *pos; /* (2 n) one forward_run_lanes call's rows */
};

uint64_t probe_seq_stream(int s)
{
	return PROBE_STREAM ^ ((uint64_t)(uint32_t)s << 32);
}

/* Lane l starts the next sequence at BOS (one token of the budget). */
static void lanes_start(struct lanes *z, uint64_t seed, int l)
{
	int s = z->next_seq++;
	pcg32_seed(&z->rng[l], seed, probe_seq_stream(s));
	z->seq[l] = s;
	z->buf[(size_t)l * z->seq_len] = z->bos;
	z->len[l] = 1;
	z->on[l] = 1;
	z->total++;
}

/* Parks lane l's sequence in the pool; the lane is free. */
static void lanes_park(struct lanes *z, int l)
{
	int s = z->seq[l];
	z->off[s] = z->pooled;
	z->plen[s] = z->len[l];
	memcpy(z->pool + z->pooled, z->buf + (size_t)l * z->seq_len, (size_t)z->len[l] * sizeof(int));
	z->pooled += z->len[l];
	z->on[l] = 0;
}

/* Row k of the next call: lane l's last token at its position. */
static void lanes_row(struct lanes *z, int k, int l)
{
	z->lane[k] = l;
	z->pos[k] = z->len[l] - 1;
	z->tok[k] = z->buf[(size_t)l * z->seq_len + z->len[l] - 1];
}

/* Appends the pending flush rows (each lane's previous sequence's last token) after row k;
 * returns the row count. */
static int lanes_flush_rows(struct lanes *z, int k)
{
	for (int l = 0; l < z->n; l++)
		if (z->flush[l]) {
			z->lane[k] = l;
			z->pos[k] = z->fpos[l];
			z->tok[k++] = z->ftok[l];
			z->flush[l] = 0;
		}
	return k;
}

/* Parks lane l's sequence, its last token (drawn, never run) left to flush. */
static void lanes_end(struct lanes *z, int l)
{
	z->flush[l] = 1;
	z->ftok[l] = z->buf[(size_t)l * z->seq_len + z->len[l] - 1];
	z->fpos[l] = z->len[l] - 1;
	lanes_park(z, l);
}

/* One step: the first running lanes (as many as the budget has room for) each decode their last
 * token and draw the next; ended sequences are parked and their lanes start the next ones at
 * once. The same call runs each sequence ended in the step before on its last token (drawn,
 * never decoded) for the observer, which so sees every probe token once: in the same lane as
 * the next sequence's BOS at position 0, which the two sequences share (forward_run_lanes). The
 * draws are those of the step alone. Returns forward_run_lanes' status. */
static int lanes_step(struct lanes *z, struct forward *f, float *logits, int vocab, uint64_t seed)
{
	int k = 0;
	for (int l = 0; l < z->n && k < z->budget - z->total; l++)
		if (z->on[l])
			lanes_row(z, k++, l);
	int draws = k;
	k = lanes_flush_rows(z, k);
	int rc = forward_run_lanes(f, logits, z->tok, z->lane, z->pos, k);
	if (rc)
		return rc;
	for (int r = 0; r < draws; r++) {
		int l = z->lane[r];
		int t = probe_sample_token(logits + (size_t)r * vocab, vocab, &z->rng[l]);
		z->buf[(size_t)l * z->seq_len + z->len[l]++] = t;
		z->total++;
		if (t == z->eos || z->len[l] == z->seq_len)
			lanes_end(z, l);
	}
	for (int l = 0; l < z->n && z->total < z->budget; l++)
		if (!z->on[l])
			lanes_start(z, seed, l);
	return FORWARD_OK;
}

/* After the budget: the sequences still running are truncated (parked) and every last token
 * not yet decoded runs once, in one call (a lane's ended sequence and its truncated successor,
 * only BOS then, share it as in lanes_step). */
static int lanes_finish(struct lanes *z, struct forward *f, float *logits)
{
	int k = lanes_flush_rows(z, 0);
	for (int l = 0; l < z->n; l++)
		if (z->on[l]) {
			lanes_row(z, k++, l);
			lanes_park(z, l);
		}
	return k ? forward_run_lanes(f, logits, z->tok, z->lane, z->pos, k) : FORWARD_OK;
}

/* Positions a lane can reach: every step advances each running lane by one token, so the budget
 * is spent after ceil(tokens / lanes) steps and no lane passes that position. The KV caches are
 * sized by it: n_lanes × this × the model's per-token KV ≈ tokens × per-token KV (a 7B model:
 * 2048 tokens × 1 MiB), not n_lanes × seq_len of it. */
static int lane_positions(const struct probe *p, int n_lanes)
{
	int steps = (p->tokens + n_lanes - 1) / n_lanes;
	return steps + 1 < p->seq_len ? steps + 1 : p->seq_len;
}

enum { SAMPLE_RETRY_F32 = 1 }; /* sample_ids: a key or value overflowed the F16 KV cache */

/* Observer of sampling: every row of every call is one probe token's single run. */
struct sums {
	struct probe *p;
	int tokens; /* rows seen (at layer 0) */
};

static void observe_sums(void *ctx, int layer, enum forward_point point, const float *x, int n,
			 int dim)
{
	struct sums *c = ctx;
	struct probe *p = c->p;
	if (point != FORWARD_POINT_FFN_HIDDEN || layer < 0 || layer >= p->n_layers ||
	    dim != p->ffn[layer])
		return;
	double *sq = p->sum_sq[layer], *ab = p->sum_abs[layer];
	for (int t = 0; t < n; t++) {
		const float *a = x + (size_t)t * dim;
		for (int i = 0; i < dim; i++) {
			sq[i] += (double)a[i] * a[i];
			ab[i] += fabs((double)a[i]);
		}
	}
	if (layer == 0)
		c->tokens += n;
}

static void sums_clear(struct probe *p)
{
	for (int l = 0; l < p->n_layers; l++) {
		memset(p->sum_sq[l], 0, (size_t)p->ffn[l] * sizeof(double));
		memset(p->sum_abs[l], 0, (size_t)p->ffn[l] * sizeof(double));
	}
}

/* The KV caches of sampling: F16 when f32 ones would take more than kv_f16_min bytes. */
static enum forward_kv sample_kv(const struct probe *p, const struct model *m, int n_lanes)
{
	const struct config *c = &m->cfg;
	double bytes = (double)n_lanes * lane_positions(p, n_lanes) * c->n_layers * 2.0 *
		       c->n_kv_heads * c->head_dim * sizeof(float);
	return bytes > (double)kv_f16_min ? FORWARD_KV_F16 : FORWARD_KV_F32;
}

/* Samples p->tokens ids into p->ids with n_lanes sequences in lockstep (probe.h), the KV caches
 * held as kv; SAMPLE_RETRY_F32 (no message) when kv is F16 and a value overflowed it. A stored
 * model larger than keep_pages_max has its layers prefetched before and evicted after each run,
 * as forward does by default: the mapping holds one layer, not the file; a smaller one stays
 * mapped (what re-mapping costs per step: probe.h). */
static int sample_ids(struct probe *p, const struct model *m, int n_lanes, int bos,
		      enum forward_kv kv, char *err, size_t errlen)
{
	const struct config *c = &m->cfg;
	size_t B = (size_t)n_lanes, T = (size_t)p->tokens;
	struct lanes z = {.n = n_lanes, .seq_len = p->seq_len, .bos = bos, .eos = c->eos_id,
			  .budget = p->tokens};
	struct sums sums = {p, 0};
	struct forward *f = NULL;
	int rc = PROBE_ERR_NOMEM;
	float *logits = malloc(2 * B * (size_t)c->vocab * sizeof *logits);
	z.buf = malloc(B * (size_t)p->seq_len * sizeof *z.buf);
	z.len = calloc(B, sizeof(int));
	z.seq = calloc(B, sizeof(int));
	z.on = calloc(B, sizeof(int));
	z.flush = calloc(B, sizeof(int));
	z.ftok = calloc(B, sizeof(int));
	z.fpos = calloc(B, sizeof(int));
	z.tok = calloc(2 * B, sizeof(int));
	z.lane = calloc(2 * B, sizeof(int));
	z.pos = calloc(2 * B, sizeof(int));
	z.rng = calloc(B, sizeof *z.rng);
	z.pool = malloc(T * sizeof(int));
	z.off = malloc(T * sizeof(int));
	z.plen = malloc(T * sizeof(int));
	if (!logits || !z.buf || !z.len || !z.seq || !z.on || !z.flush || !z.ftok || !z.fpos ||
	    !z.tok || !z.lane || !z.pos || !z.rng ||
	    !z.pool || !z.off || !z.plen ||
	    forward_new_lanes_kv(&f, m, lane_positions(p, n_lanes), n_lanes, kv)) {
		err_set(err, errlen, rc, "probe: out of memory for %d tokens in %d lanes", p->tokens,
			n_lanes);
		goto out;
	}
	forward_set_keep_pages(f, m->stored && safetensors_file_bytes(m->st) <= keep_pages_max);
	forward_set_observer(f, observe_sums, &sums);
	sums_clear(p);
	for (int l = 0; l < n_lanes && z.total < z.budget; l++)
		lanes_start(&z, p->seed, l);
	while (z.total < z.budget) {
		if ((rc = lanes_step(&z, f, logits, c->vocab, p->seed))) {
			if (rc == FORWARD_ERR_KV_RANGE && kv == FORWARD_KV_F16) {
				rc = SAMPLE_RETRY_F32;
				goto out;
			}
			rc = err_set(err, errlen, PROBE_ERR_FORWARD,
				     "probe: forward pass failed after %d tokens: %s", z.total,
				     forward_strerror(rc));
			goto out;
		}
		if (progress.fn)
			progress.fn(progress.ctx, PROBE_PHASE_SAMPLE, z.total, z.budget);
	}
	if ((rc = lanes_finish(&z, f, logits))) {
		rc = err_set(err, errlen, PROBE_ERR_FORWARD, "probe: forward pass failed on the last "
			     "tokens: %s", forward_strerror(rc));
		goto out;
	}
	assert(sums.tokens == p->tokens); /* every token ran once */
	int n = 0;
	for (p->n_seqs = 0; p->n_seqs < z.next_seq; p->n_seqs++) {
		int s = p->n_seqs;
		p->starts[s] = n;
		memcpy(p->ids + n, z.pool + z.off[s], (size_t)z.plen[s] * sizeof(int));
		n += z.plen[s];
	}
	p->starts[p->n_seqs] = n;
	rc = PROBE_OK;
out:
	forward_free(f);
	free(logits);
	free(z.buf);
	free(z.len);
	free(z.seq);
	free(z.on);
	free(z.flush);
	free(z.ftok);
	free(z.fpos);
	free(z.tok);
	free(z.lane);
	free(z.pos);
	free(z.rng);
	free(z.pool);
	free(z.off);
	free(z.plen);
	return rc;
}

/* Runs every sequence of p->ids as one window, recording activations. */
static int record(struct probe *p, struct forward *f, float *logits, char *err, size_t errlen)
{
	struct collect c = {p, 0};
	forward_set_observer(f, observe, &c);
	int rc = PROBE_OK;
	for (int s = 0; s < p->n_seqs; s++) {
		c.start = p->starts[s];
		if (forward_run(f, logits, p->ids + c.start, p->starts[s + 1] - c.start, 0)) {
			rc = err_set(err, errlen, PROBE_ERR_FORWARD, "probe: forward failed on token %d",
				     c.start);
			break;
		}
	}
	forward_set_observer(f, NULL, NULL);
	return rc;
}

/* A probe of n_tokens over m's layers with no activations yet (ids and starts allocated). */
static int probe_alloc(struct probe **out, const struct model *m, int n_tokens, uint64_t seed,
		       int seq_len)
{
	const struct config *c = &m->cfg;
	struct probe *p = calloc(1, sizeof *p);
	if (!p)
		return PROBE_ERR_NOMEM;
	*p = (struct probe){.n_layers = c->n_layers, .tokens = n_tokens, .seq_len = seq_len,
			    .seed = seed};
	p->ids = malloc((size_t)n_tokens * sizeof *p->ids);
	p->starts = malloc(((size_t)n_tokens + 1) * sizeof *p->starts);
	p->ffn = malloc((size_t)c->n_layers * sizeof *p->ffn);
	p->act = calloc((size_t)c->n_layers, sizeof *p->act);
	p->sum_sq = calloc((size_t)c->n_layers, sizeof *p->sum_sq);
	p->sum_abs = calloc((size_t)c->n_layers, sizeof *p->sum_abs);
	bool ok = p->ids && p->starts && p->ffn && p->act && p->sum_sq && p->sum_abs;
	for (int l = 0; ok && l < c->n_layers; l++) {
		p->ffn[l] = m->layers[l].ffn;
		p->sum_sq[l] = calloc((size_t)p->ffn[l], sizeof(double));
		p->sum_abs[l] = calloc((size_t)p->ffn[l], sizeof(double));
		ok = p->sum_sq[l] && p->sum_abs[l];
	}
	if (!ok) {
		probe_free(p);
		return PROBE_ERR_NOMEM;
	}
	*out = p;
	return PROBE_OK;
}

int probe_sample(struct probe **out, const struct model *m, int n_tokens, uint64_t seed,
		 int seq_len, int lanes, char *err, size_t errlen)
{
	const struct config *c = &m->cfg;
	int cap = c->max_pos < 256 ? c->max_pos : 256;
	if (seq_len == 0)
		seq_len = cap;
	if (n_tokens < 2 || seq_len < 2 || seq_len > c->max_pos || lanes < 0)
		return err_set(err, errlen, PROBE_ERR_ARG,
			       "probe: need ≥ 2 tokens, a sequence length in [2, %d] and lanes ≥ 0 "
			       "(got %d, %d, %d)", c->max_pos, n_tokens, seq_len, lanes);
	int bos = c->bos_id >= 0 ? c->bos_id : c->eos_id;
	if (bos < 0 || bos >= c->vocab)
		return err_set(err, errlen, PROBE_ERR_NO_BOS,
			       "probe: config.json gives no BOS or EOS token to start sampling from");
	if (lanes == 0)
		lanes = PROBE_DEFAULT_LANES;
	if (lanes > n_tokens / 2) /* every lane's first sequence gets ≥ 2 tokens */
		lanes = n_tokens / 2;
	struct probe *p = NULL;
	if (probe_alloc(&p, m, n_tokens, seed, seq_len))
		return err_set(err, errlen, PROBE_ERR_NOMEM, "probe: out of memory for %d tokens",
			       n_tokens);
	enum forward_kv kv = sample_kv(p, m, lanes);
	int rc = sample_ids(p, m, lanes, bos, kv, err, errlen);
	if (rc == SAMPLE_RETRY_F32) /* deterministic: the same overflow happens on every run */
		rc = sample_ids(p, m, lanes, bos, FORWARD_KV_F32, err, errlen);
	if (rc)
		probe_free(p);
	else
		*out = p;
	return rc;
}

int probe_collect(struct probe **out, const struct model *m, int n_tokens, uint64_t seed,
		  int seq_len, int lanes, char *err, size_t errlen)
{
	struct probe *p = NULL;
	int rc = probe_sample(&p, m, n_tokens, seed, seq_len, lanes, err, errlen);
	if (rc)
		return rc;
	struct forward *f = NULL;
	float *logits = malloc((size_t)p->seq_len * (size_t)m->cfg.vocab * sizeof *logits);
	rc = logits && !forward_new(&f, m, p->seq_len) ? PROBE_OK : PROBE_ERR_NOMEM;
	for (int l = 0; !rc && l < p->n_layers; l++)
		if (!(p->act[l] = malloc((size_t)n_tokens * (size_t)p->ffn[l] * sizeof(float))))
			rc = PROBE_ERR_NOMEM;
	if (rc)
		err_set(err, errlen, rc, "probe: out of memory for %d tokens", n_tokens);
	else
		rc = record(p, f, logits, err, errlen);
	forward_free(f);
	free(logits);
	if (rc)
		probe_free(p);
	else
		*out = p;
	return rc;
}

/* ---- layer-streamed activations ---- */

int probe_stream_open(struct layerstream **out, const struct probe *p, struct model *m,
		      char *err, size_t errlen)
{
	if (p->n_layers != m->cfg.n_layers)
		return err_set(err, errlen, PROBE_ERR_ARG, "probe: sampled on a %d-layer model, not %d",
			       p->n_layers, m->cfg.n_layers);
	size_t *starts = malloc(((size_t)p->n_seqs + 1) * sizeof *starts);
	if (!starts)
		return err_set(err, errlen, PROBE_ERR_NOMEM, "probe: out of memory");
	for (int s = 0; s <= p->n_seqs; s++)
		starts[s] = (size_t)p->starts[s];
	int e = layerstream_new(out, m, p->ids, starts, (size_t)p->n_seqs);
	free(starts);
	if (e)
		return err_set(err, errlen, e == LAYERSTREAM_ERR_NOMEM ? PROBE_ERR_NOMEM
									: PROBE_ERR_FORWARD,
			       "probe: cannot embed the probe tokens: %s",
			       e == LAYERSTREAM_ERR_NOMEM ? "out of memory" : "bad token or window");
	return PROBE_OK;
}

/* Observer of a streamed layer: appends each window's FFN intermediate to the layer's rows. */
struct stream_rows {
	float *act;
	int ffn, tokens, done;
};

static void observe_stream(void *ctx, int layer, enum forward_point point, const float *x, int n,
			   int dim)
{
	struct stream_rows *r = ctx;
	(void)layer;
	if (point != FORWARD_POINT_FFN_HIDDEN || dim != r->ffn || n > r->tokens - r->done)
		return;
	memcpy(r->act + (size_t)r->done * (size_t)dim, x, (size_t)n * dim * sizeof *x);
	r->done += n;
}

int probe_stream_layer(struct probe *p, struct layerstream *ls, int layer, char *err,
		       size_t errlen)
{
	if (layer < 0 || layer >= p->n_layers)
		return err_set(err, errlen, PROBE_ERR_ARG, "probe: no layer %d", layer);
	for (int l = 0; l < p->n_layers; l++) {
		free(p->act[l]);
		p->act[l] = NULL;
	}
	struct stream_rows r = {.ffn = p->ffn[layer], .tokens = p->tokens};
	r.act = malloc((size_t)p->tokens * (size_t)r.ffn * sizeof *r.act + 1);
	if (!r.act)
		return err_set(err, errlen, PROBE_ERR_NOMEM, "probe: out of memory for layer %d", layer);
	int e = layerstream_run(ls, layer, observe_stream, &r);
	if (e || r.done != p->tokens) {
		free(r.act);
		if (e == LAYERSTREAM_ERR_ARG)
			return err_set(err, errlen, PROBE_ERR_ARG, "probe: layer %d is not the next one",
				       layer);
		return err_set(err, errlen, e == LAYERSTREAM_ERR_NOMEM ? PROBE_ERR_NOMEM
									: PROBE_ERR_FORWARD,
			       "probe: layer %d failed on the probe tokens", layer);
	}
	p->act[layer] = r.act;
	if (progress.fn)
		progress.fn(progress.ctx, PROBE_PHASE_STREAM, layer + 1, p->n_layers);
	return PROBE_OK;
}

int probe_stream_all(struct probe *p, struct layerstream *ls, const bool *keep, char *err,
		     size_t errlen)
{
	float **kept = calloc((size_t)p->n_layers, sizeof *kept);
	if (!kept)
		return err_set(err, errlen, PROBE_ERR_NOMEM, "probe: out of memory");
	int rc = PROBE_OK;
	for (int l = 0; l < p->n_layers && !rc; l++) {
		rc = probe_stream_layer(p, ls, l, err, errlen);
		if (!keep || keep[l])
			kept[l] = p->act[l]; /* taken out of p so that the next layer does not free it */
		else
			free(p->act[l]);
		p->act[l] = NULL;
	}
	for (int l = 0; l < p->n_layers; l++) {
		free(p->act[l]);
		p->act[l] = kept[l];
	}
	free(kept);
	return rc;
}

bool probe_has_stats(const struct probe *p, int layer)
{
	return p->sum_sq || p->act[layer];
}

void probe_row_stats(double *msq, double *mabs, const struct probe *p, int layer)
{
	int F = p->ffn[layer];
	if (!p->act[layer]) {
		for (int i = 0; i < F; i++) {
			msq[i] = p->sum_sq[layer][i] / p->tokens;
			mabs[i] = p->sum_abs[layer][i] / p->tokens;
		}
		return;
	}
	for (int i = 0; i < F; i++)
		msq[i] = mabs[i] = 0;
	for (int t = 0; t < p->tokens; t++) {
		const float *a = p->act[layer] + (size_t)t * F;
		for (int i = 0; i < F; i++) {
			msq[i] += (double)a[i] * a[i];
			mabs[i] += fabs((double)a[i]);
		}
	}
	for (int i = 0; i < F; i++) {
		msq[i] /= p->tokens;
		mabs[i] /= p->tokens;
	}
}

void probe_importance_rows(float *scores, const struct probe *p, int layer, const float *down,
			   int hidden)
{
	int F = p->ffn[layer];
	for (int i = 0; i < F; i++) {
		double msq = 0, dsq = 0;
		if (!p->act[layer])
			msq = p->sum_sq[layer][i];
		for (int t = 0; p->act[layer] && t < p->tokens; t++) {
			double a = p->act[layer][(size_t)t * F + i];
			msq += a * a;
		}
		for (int j = 0; j < hidden; j++)
			dsq += (double)down[(size_t)j * F + i] * down[(size_t)j * F + i];
		scores[i] = (float)(msq / p->tokens * dsq);
	}
}
