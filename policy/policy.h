/*
 * policy: the per-row scoring network. A one-hidden-layer MLP maps each row's
 * feature vector x (d) to a scalar score: s = w2 . tanh(W1 x + b1) + b2. Rows are
 * independent; a batch of n rows is scored at once. Training is by hand-written
 * backward plus Adam/AdamW; all parameters, gradients and Adam moments live in a
 * single float allocation.
 *
 * Parameter layout (what policy_params() exposes, and what checkpoints store):
 *   W1 (h, d) row-major | b1 (h) | w2 (h) | b2 (1)   -- count = h*d + 2*h + 1.
 */
#ifndef YOPO_POLICY_H
#define YOPO_POLICY_H

#include <stddef.h>

#include "pcg32.h"

enum policy_status {
	POLICY_OK = 0,
	POLICY_ERR_ARG = -1,        /* NULL pointer, non-positive size, n < 0 */
	POLICY_ERR_NOMEM = -2,      /* allocation failed */
	POLICY_ERR_OVERFLOW = -3,   /* a size computation would overflow */
	POLICY_ERR_NO_FORWARD = -4, /* backward before any forward */
	POLICY_ERR_ROWS = -5,       /* backward row count differs from the last forward */
	POLICY_ERR_DIMS = -6,       /* copy between policies of different shapes */
};

/* Adam hyper-parameters. weight_decay > 0 selects decoupled weight decay (AdamW:
 * theta -= lr * weight_decay * theta, applied to every parameter, as
 * torch.optim.AdamW does); 0 is plain Adam. */
struct policy_adam {
	float lr;
	float beta1;
	float beta2;
	float eps;
	float weight_decay;
};

struct policy;

/* Static message for a policy_status value; never NULL. */
const char *policy_strerror(int status);

/*
 * Create a policy for d = n_features inputs and h = n_hidden tanh units.
 * Initialisation (consumes rng in this order): W1 ~ N(0, 1/d) (std 1/sqrt(d), so
 * pre-activations are O(1) for unit-scale features), b1 = 0, w2 ~ N(0, 0.01/h)
 * (std 0.1/sqrt(h): initial scores are small, so the first Plackett–Luce samples
 * are close to uniform), b2 = 0. Gradients, moments and the step count start at 0.
 * On success *out owns the policy (free with policy_free).
 * Errors: POLICY_ERR_ARG, POLICY_ERR_OVERFLOW, POLICY_ERR_NOMEM.
 */
int policy_new(struct policy **out, int n_features, int n_hidden, struct pcg32 *rng);

/* Release a policy; NULL is a no-op. */
void policy_free(struct policy *p);

/*
 * Score n rows: scores[r] = w2 . tanh(W1 x[r] + b1) + b2.
 * scores (n) out; x (n, d) row-major. Copies x and the hidden activations into
 * the policy (buffers grow as needed) for the next policy_backward. n == 0 is
 * allowed and scores nothing. Errors: POLICY_ERR_ARG, POLICY_ERR_OVERFLOW,
 * POLICY_ERR_NOMEM; on any error the previous
 * forward's cache is invalidated.
 */
int policy_forward(struct policy *p, float *scores, const float *x, int n);

/*
 * Accumulate (+=) dL/dtheta into the gradient, given dscores (n) = dL/dscores for
 * the rows of the last policy_forward. n must equal that forward's n. Calling it
 * twice accumulates twice. Errors: POLICY_ERR_ARG, POLICY_ERR_NO_FORWARD,
 * POLICY_ERR_ROWS.
 */
int policy_backward(struct policy *p, const float *dscores, int n);

/* Set every gradient to 0. */
void policy_zero_grad(struct policy *p);

/* Replace the gradient by g (policy_param_count values), e.g. per-layer contributions summed
 * by the caller in a fixed order (the distributed trainer). */
void policy_set_grads(struct policy *p, const float *g);

/* One Adam/AdamW step from the current gradient (bias-corrected moments; the step
 * counter lives in the policy). Does not clear the gradient. */
void policy_adam_step(struct policy *p, const struct policy_adam *cfg);

/*
 * Adam kernel shared with prunenet: one bias-corrected step number `step` (>= 1)
 * over count parameters. params (count) in/out; m, v (count) in/out first and
 * second moments; grads (count).
 */
void policy_adam_update(float *params, float *m, float *v, const float *grads,
			const struct policy_adam *cfg, long step, size_t count);

/* Number of parameters (= number of gradients), h*d + 2*h + 1. */
size_t policy_param_count(const struct policy *p);

/* Parameters in the layout described at the top; borrowed, valid until
 * policy_free. Writing through it changes the policy (e.g. loading a checkpoint). */
float *policy_params(struct policy *p);

/* Gradients, same layout and lifetime as policy_params. */
const float *policy_grads(const struct policy *p);

int policy_n_features(const struct policy *p);
int policy_n_hidden(const struct policy *p);

/* Adam steps taken so far. */
long policy_adam_steps(const struct policy *p);

/* Copy src's parameters (not gradients, moments or step count) into dst, e.g. to
 * keep the best policy seen. Errors: POLICY_ERR_DIMS when shapes differ. */
int policy_copy_params(struct policy *dst, const struct policy *src);

#endif
