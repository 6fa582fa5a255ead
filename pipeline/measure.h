/* measure: what yopo reports about a model and a plan — perplexity on a token sequence (eval.h's
 * protocol), closeness to a dense reference (kl.h: KL(dense ‖ model) per predicted token and
 * top-1 agreement, same windows), parameter counts, FLOPs per token, bytes on disk, tokens/s, a
 * greedy sample from BOS, and the mean KS distance of a plan's kept spectra (env.h). */
#ifndef YOPO_MEASURE_H
#define YOPO_MEASURE_H

#include <stdbool.h>
#include <stddef.h>

#include "env.h"
#include "eval.h"
#include "kl.h"
#include "model.h"
#include "prune.h"
#include "tokenizer.h"

enum measure_error {
	MEASURE_OK = 0,
	MEASURE_ERR_ARG = -1,   /* seq_len outside [2, the model's context] */
	MEASURE_ERR_EVAL = -2,  /* the perplexity evaluation failed */
	MEASURE_ERR_NOMEM = -3,
	MEASURE_ERR_KS = -4,    /* a layer's spectrum could not be computed */
	MEASURE_ERR_INPUT = -5, /* the model or the text file cannot be opened or read */
	MEASURE_ERR_REF = -6,   /* the reference model has another vocabulary or tokenizer */
};

#define MEASURE_SAMPLE_MAX 256

struct measure {
	size_t params, ffn_params, bytes;
	double flops;                  /* per token at seq_len */
	struct eval_result eval;       /* perplexity, nll, tokens, windows, tokens/s */
	bool has_kl;                   /* kl holds the comparison with a reference model */
	struct kl_result kl;           /* KL(reference ‖ model) per predicted token, top-1 agreement */
	char sample[MEASURE_SAMPLE_MAX]; /* greedy sample after BOS, one line of UTF-8 ("" if none) */
};

/* Measures m on ids (n_ids, BOS first) in windows of seq_len (0: the model's context);
 * max_windows 0: all. With ref (the dense model, same vocabulary; may be NULL) every window also
 * runs through ref and out->kl compares the two next-token distributions (has_kl set); the
 * perplexity is m's either way and tokens/s times m's forward passes only. sample_tokens > 0
 * adds a greedy sample of that length (its controls, pipes, quotes and backslashes become
 * spaces, invalid bytes '?', so it fits a table cell). progress may be NULL. */
int measure_model(struct measure *out, const struct model *m, const struct tokenizer *tok,
		  const struct model *ref, const int *ids, size_t n_ids, int seq_len,
		  size_t max_windows, long sample_tokens, eval_progress_fn *progress, void *ctx,
		  char *err, size_t errlen);

/* yopo eval: the model at model_dir measured on the text file at text_path (BOS + whole file,
 * text.h) without a sample; with ref_dir (may be NULL) also against that dense reference, which
 * must have the same vocabulary and encode the text to the same ids (else MEASURE_ERR_REF). */
struct measure_text_result {
	struct measure m;
	char model_type[32];
	int n_layers, hidden, ffn;
	int seq_len;               /* the window used */
	size_t n_ids;              /* tokens incl. BOS */
	size_t peak_rss;           /* bytes, after the evaluation */
};

int measure_text(struct measure_text_result *out, const char *model_dir, const char *ref_dir,
		 const char *text_path, int seq_len, size_t max_windows, eval_progress_fn *progress,
		 void *ctx, char *err, size_t errlen);

/* measure_text with the weights of an F16/BF16 checkpoint kept as `weights` says (model.h):
 * MODEL_WEIGHTS_STORED is `yopo eval`'s default, MODEL_WEIGHTS_STORED_F32 its --compute f32. */
int measure_text_weights(struct measure_text_result *out, const char *model_dir,
			 const char *ref_dir, const char *text_path, int seq_len,
			 size_t max_windows, enum model_weights weights, eval_progress_fn *progress,
			 void *ctx, char *err, size_t errlen);

/* Mean over layers of the KS distance between the scored matrix's singular values before and
 * after plan (kept rows, or the matrix with its masked weights zeroed), through env (opened on
 * the plan's model). */
int measure_plan_ks(double *out, struct env *env, const struct prune_plan *plan, char *err,
		    size_t errlen);

#endif
