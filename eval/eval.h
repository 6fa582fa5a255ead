/* eval: perplexity with the standard protocol, and the size/speed measures reported beside it.
 *
 * Protocol: the caller tokenizes the whole text once with BOS at the start; the ids are cut into
 * non-overlapping windows of seq_len tokens (a final partial window is kept if it holds at least
 * two tokens); each window is run from position 0 and every position but the first predicts the
 * next token; the NLL is the mean over all predicted positions of all windows. */
#ifndef YOPO_EVAL_H
#define YOPO_EVAL_H

#include <stddef.h>

#include "forward.h"
#include "model.h"

enum eval_error {
	EVAL_OK = 0,
	/* -1 was the text file's read error: files are read by util_read_file (file.h) now */
	EVAL_ERR_EMPTY = -2,   /* too few tokens for one window */
	EVAL_ERR_NOMEM = -3,
	EVAL_ERR_FORWARD = -4, /* the forward pass failed */
	EVAL_ERR_ARG = -5,
};

const char *eval_strerror(int err);

struct eval_result {
	double nll;           /* mean negative log-likelihood, nats */
	double perplexity;    /* exp(nll) */
	size_t tokens;        /* predicted positions */
	size_t windows;
	double seconds;       /* wall time of the forward passes */
	double tokens_per_s;  /* window tokens run per second */
};

/* Called after each window with (done, total). */
typedef void eval_progress_fn(void *ctx, size_t done, size_t total);

/* Runs the protocol above on ids (n_ids, BOS included) with windows of seq_len ≤ the forward's
 * max_seq; max_windows 0 means all. f must belong to m. out written only on success. */
int eval_perplexity(struct eval_result *out, struct forward *f, const struct model *m,
		    const int *ids, size_t n_ids, int seq_len, size_t max_windows,
		    eval_progress_fn *progress, void *ctx);

/* Mean over rows of -log softmax(logits)[target]: logits (n, vocab), targets (n). Double math.
 * Returns the sum (not the mean) of the n NLLs. */
double eval_nll_sum(const float *logits, const int *targets, int n, int vocab);

/* Multiply-add FLOPs (2 per MAC) of one token's forward at sequence length seq_len:
 * every linear layer incl. the LM head, plus attention scores and weighted sum averaged over
 * positions 1..seq_len (a causal window sees (seq_len+1)/2 keys on average; local layers cap it).
 * Embedding lookups, norms and activations are not counted. */
double eval_flops_per_token(const struct model *m, int seq_len);

/* Peak resident set size of this process so far, bytes (getrusage). */
size_t eval_peak_rss_bytes(void);

#endif
