/* fuzz-config: the fuzzer's bytes as config.json text through config_parse (config.json ->
 * family and shapes). Aborts when a failure has no one-line reason, or when a parsed config
 * breaks what the loader relies on: layer count in range, positive sizes, heads dividing the
 * width, a name for every tensor the family needs. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "err.h"
#include "fuzz_util.h"

static void check_config(const struct config *c)
{
	if (c->n_layers < 1 || c->n_layers > CONFIG_MAX_LAYERS || c->hidden < 1 || c->vocab < 1 ||
	    c->n_heads < 1 || c->n_kv_heads < 1 || c->head_dim < 1 || c->n_heads % c->n_kv_heads)
		abort();
	for (int l = 0; l < c->n_layers; l++)
		if (c->layer_ffn[l] < 1)
			abort();
	(void)config_family_name(c->family);
	char name[256];
	for (int w = 0; w < CONFIG_TENSOR_COUNT; w++)
		if (config_tensor_needed(c, (enum config_tensor)w) &&
		    config_tensor_name(name, sizeof name, c, (enum config_tensor)w, c->n_layers - 1))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[ERR_MAX] = "";
	int rc = config_parse(&c, (const char *)data, size, err, sizeof err);
	fuzz_check_reason(rc, err);
	if (!rc)
		check_config(&c);
	return 0;
}
