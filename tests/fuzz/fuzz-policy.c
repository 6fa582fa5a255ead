/* fuzz-policy: the fuzzer's bytes as a policy checkpoint through checkpoint_load, then the
 * policy or PruneNet built from it and the model-shape check. Aborts when a failure has no
 * one-line reason or a loaded checkpoint cannot be turned into its network. */
#include <stdint.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "err.h"
#include "fuzz_util.h"

static void use_checkpoint(const struct checkpoint *c)
{
	const struct checkpoint_info *info = checkpoint_get_info(c);
	char err[ERR_MAX] = "";
	if (info->arch == CHECKPOINT_ARCH_MLP) {
		struct policy *p = NULL;
		if (checkpoint_make_mlp(c, &p) || !p)
			abort();
		policy_free(p);
		if (checkpoint_check_model(c, 64, 172, err, sizeof err))
			abort(); /* an mlp fits every model */
	} else {
		struct prunenet *p = NULL;
		if (checkpoint_make_prunenet(c, &p) || !p)
			abort();
		prunenet_free(p);
		if (checkpoint_check_model(c, info->hidden, info->ffn, err, sizeof err))
			abort();
		int rc = checkpoint_check_model(c, info->hidden + 1, info->ffn, err, sizeof err);
		if (rc != CHECKPOINT_ERR_MODEL_SHAPE)
			abort();
		fuzz_check_reason(rc, err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write("policy.safetensors", data, size);
	struct checkpoint *c = NULL;
	char err[ERR_MAX] = "";
	int rc = checkpoint_load(&c, path, err, sizeof err);
	fuzz_check_reason(rc, err);
	if (rc)
		return 0;
	use_checkpoint(c);
	checkpoint_free(c);
	return 0;
}
