/*
 * prunenet: reproduction of the PruneNet policy ("You Only Prune Once",
 * Sengupta, Chaudhary, Chakraborty, ICLR 2025), for comparison with yopo's own
 * policy. Reproduced from the authors' code (github.com/LCS2-IIITD/PruneNet,
 * experiments/SparsityPredictor.py and experiments/prunenet.py):
 *
 *   input   W (ffn, hidden): the layer's FFN input weight, one row per FFN
 *           neuron (OPT/Phi fc1, Llama gate_proj, Falcon dense_h_to_4h; for
 *           GPT-Neo c_fc). Not activations: the method is calibration-free.
 *   proj    = W A^T + b            A (ffn, hidden), b (ffn): nn.Linear(hidden, ffn)
 *   alpha   = sigmoid(proj @ r)    r (ffn): "row_sparsities"
 *   p_i     = sigmoid(log eps_i - log(1 - eps_i) + logit(alpha_i)), eps_i ~ U(0,1)
 *             (relaxed Bernoulli / logistic noise, temperature 1)
 *   kept    = multinomial(p, k, replacement=False), sorted ascending
 *   loss    = -reward_l * sum_{i in kept} log p_i, with reward_l = gamma^l * reward
 *             (gamma = 0.99, l = layer index) applied by the caller; p comes from
 *             a fresh forward (new noise) at loss time, as in the authors' loop.
 *   optim   AdamW, lr 1e-3, torch defaults (betas 0.9/0.999, eps 1e-8,
 *           weight decay 0.01), one optimiser step per layer loss.
 *   optional KLD term sum_i [-(1-alpha) log alpha - alpha log(1-alpha) + log 0.5]
 *           (the authors' --use_kld flag, off by default).
 *
 * Deliberate differences, none changing the mathematics: proj @ r is evaluated as
 * W (A^T r) + b.r (O(ffn*hidden) instead of O(ffn^2*hidden); the literal form is
 * kept as prunenet_alpha_reference and tested against it); logit(alpha) is used
 * directly as z = proj @ r rather than log(alpha) - log(1 - alpha), which
 * saturates; eps is drawn from the open interval (0,1) so log p is finite; no
 * float16 autocast / GradScaler; the authors' clip_grad_norm_ call comes after
 * zero_grad and so has no effect, and is not reproduced. Multinomial sampling
 * without replacement is done as a Plackett–Luce (Gumbel-top-k) draw on log p,
 * which has the same distribution.
 *
 * Parameter layout (prunenet_params; count = ffn*hidden + 2*ffn):
 *   A (ffn, hidden) row-major | b (ffn) | r (ffn)
 * Initialisation as torch: A, b ~ U(-1/sqrt(hidden), 1/sqrt(hidden)), r ~ U(0,1).
 */
#ifndef YOPO_PRUNENET_H
#define YOPO_PRUNENET_H

#include <stddef.h>

#include "pcg32.h"
#include "policy.h"

enum prunenet_status {
	PRUNENET_OK = 0,
	PRUNENET_ERR_ARG = -1,        /* NULL pointer, non-positive size, k out of [0, ffn] */
	PRUNENET_ERR_NOMEM = -2,      /* allocation failed */
	PRUNENET_ERR_OVERFLOW = -3,   /* a size computation would overflow */
	PRUNENET_ERR_NO_FORWARD = -4, /* sample/backward/loss/kld before a successful forward */
	PRUNENET_ERR_INDEX = -5,      /* kept index outside [0, ffn) */
	PRUNENET_ERR_NONFINITE = -6,  /* the input weights produced a non-finite logit */
	PRUNENET_ERR_DIMS = -7,       /* copy between nets of different shapes */
};

struct prunenet;

/* Static message for a prunenet_status value; never NULL. */
const char *prunenet_strerror(int status);

/*
 * Create a net for one (hidden, ffn) shape, initialised from rng (A, then b,
 * then r, each in index order). On success *out owns it (prunenet_free).
 * Errors: PRUNENET_ERR_ARG, PRUNENET_ERR_OVERFLOW, PRUNENET_ERR_NOMEM.
 */
int prunenet_new(struct prunenet **out, int hidden, int ffn, struct pcg32 *rng);

/* Release; NULL is a no-op. */
void prunenet_free(struct prunenet *p);

/*
 * Keep probabilities for one layer. weight (ffn, hidden) row-major: the layer's
 * FFN input weight. probs (ffn) out, may be NULL. With rng, draws ffn logistic
 * noises (one pcg32_uniform_open each, in row order) as the paper does; with
 * rng == NULL no noise is added and probs = alpha. weight is borrowed until the
 * next prunenet_forward (backward reads it) and must not change in between.
 * Errors: PRUNENET_ERR_ARG, PRUNENET_ERR_NONFINITE (the forward is then invalid).
 */
int prunenet_forward(struct prunenet *p, float *probs, const float *weight, struct pcg32 *rng);

/*
 * Draw k distinct rows without replacement, each successive pick proportional
 * to the last forward's p among the rows left (torch.multinomial semantics);
 * kept (k) out, sorted ascending like the authors' code. Uses ffn Gumbel draws.
 * Errors: PRUNENET_ERR_ARG, PRUNENET_ERR_NO_FORWARD, PRUNENET_ERR_NOMEM.
 */
int prunenet_sample(struct prunenet *p, int *kept, int k, struct pcg32 *rng);

/*
 * *out = -weight * sum_{i in kept} log p_i for the last forward (a repeated
 * index counts twice, like torch.gather). kept (k).
 * Errors: PRUNENET_ERR_ARG, PRUNENET_ERR_NO_FORWARD, PRUNENET_ERR_INDEX.
 */
int prunenet_loss(double *out, const struct prunenet *p, const int *kept, int k, float weight);

/*
 * Accumulate (+=) the gradient of prunenet_loss(kept, k, weight) with respect to
 * the parameters, the noise of the last forward held fixed (reparameterised).
 * weight is reward x discount. Errors as prunenet_loss.
 */
int prunenet_backward(struct prunenet *p, const int *kept, int k, float weight);

/* *out = the authors' KLD term for the last forward's alpha (see top).
 * Errors: PRUNENET_ERR_ARG, PRUNENET_ERR_NO_FORWARD. */
int prunenet_kld(double *out, const struct prunenet *p);

/* Accumulate the gradient of weight x prunenet_kld. Errors as prunenet_kld. */
int prunenet_backward_kld(struct prunenet *p, float weight);

/* Set every gradient to 0. */
void prunenet_zero_grad(struct prunenet *p);

/* The authors' optimiser settings: lr 1e-3, betas 0.9/0.999, eps 1e-8, weight
 * decay 0.01 (torch.optim.AdamW defaults besides lr). */
struct policy_adam prunenet_adamw_defaults(void);

/* One AdamW step (policy_adam_update) from the current gradient; the step
 * counter lives in the net. Does not clear the gradient. */
void prunenet_adamw_step(struct prunenet *p, const struct policy_adam *cfg);

/*
 * Naive reference of the authors' literal formula: alpha (ffn) out =
 * sigmoid((W A^T + b) @ r) with the (ffn, ffn) product formed row by row in
 * double. O(ffn^2 * hidden); for testing the factorised forward.
 * weight (ffn, hidden). Errors: PRUNENET_ERR_ARG.
 */
int prunenet_alpha_reference(float *alpha, const struct prunenet *p, const float *weight);

size_t prunenet_param_count(const struct prunenet *p);

/* Parameters in the layout at the top; borrowed, valid until prunenet_free. */
float *prunenet_params(struct prunenet *p);

/* Gradients, same layout and lifetime as prunenet_params. */
const float *prunenet_grads(const struct prunenet *p);

int prunenet_hidden(const struct prunenet *p);
int prunenet_ffn(const struct prunenet *p);
long prunenet_adam_steps(const struct prunenet *p);

/* Copy src's parameters (not gradients, moments, step count or forward cache)
 * into dst. Errors: PRUNENET_ERR_ARG, PRUNENET_ERR_DIMS. */
int prunenet_copy_params(struct prunenet *dst, const struct prunenet *src);

#endif
