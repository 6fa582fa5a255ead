/* rowscore: a trained policy's scores of one layer's rows, written once for the trainer's greedy
 * step, yopo spectrum and the policy row scorer (pipeline/score_policy.c).
 *
 * The size-agnostic MLP scores rows from their features (rowfeat.h); the published prunenet
 * scores them from the scored matrix itself (its keep probabilities without noise). Exactly one
 * of mlp and pn is non-NULL. */
#ifndef YOPO_ROWSCORE_H
#define YOPO_ROWSCORE_H

#include "policy.h"
#include "prunenet.h"

/* scores (rows) out; features (rows, ROWFEAT_COUNT) for mlp; w (rows, cols) the scored matrix
 * for pn (rows, cols must be its ffn, hidden). Returns 0, or -1 when the network fails (bad
 * shape, non-finite scores). The MLP's forward cache then holds this layer (for backward). */
int rowscore_policy(float *scores, struct policy *mlp, struct prunenet *pn,
		    const float *features, const float *w, int rows);

#endif
