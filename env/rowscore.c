/* rowscore: policy scores of a layer's rows. See rowscore.h. */
#include "rowscore.h"

#include <stddef.h>

int rowscore_policy(float *scores, struct policy *mlp, struct prunenet *pn,
		    const float *features, const float *w, int rows)
{
	if ((mlp == NULL) == (pn == NULL))
		return -1;
	if (mlp)
		return features && policy_forward(mlp, scores, features, rows) == 0 ? 0 : -1;
	return w && prunenet_ffn(pn) == rows && prunenet_forward(pn, scores, w, NULL) == 0 ? 0 : -1;
}
