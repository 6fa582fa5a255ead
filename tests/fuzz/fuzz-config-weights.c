/* fuzz-config-weights: a fuzzed config.json against real weights. The first input byte picks one
 * of the committed family fixtures (tests/fixtures/families), the rest is written as its
 * config.json beside a copy of its model.safetensors, and model_open checks every tensor
 * against the config and loads it. Aborts when a failure has no one-line reason or a loaded
 * model lacks a tensor the config says it needs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "err.h"
#include "fuzz_util.h"
#include "model.h"

static const char *const families[] = {
	"gpt2", "gpt2_prefixed", "gpt_neo", "gpt_neox", "gpt_neox_seq",
	"llama_gqa", "mistral", "opt", "phi", "qwen2",
};
#define N_FAMILIES (sizeof families / sizeof *families)

static void setup(void)
{
	char rel[256], name[256];
	for (size_t i = 0; i < N_FAMILIES; i++) {
		snprintf(name, sizeof name, "%s", families[i]);
		if (mkdir(fuzz_path(name), 0700))
			abort();
		snprintf(rel, sizeof rel, "families/%s/model.safetensors", families[i]);
		snprintf(name, sizeof name, "%s/model.safetensors", families[i]);
		fuzz_copy_fixture(rel, name);
	}
}

static void check_model(const struct model *m)
{
	if (!m->embed || !m->final_norm || !m->lm_head || !m->layers || m->n_params == 0)
		abort();
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const struct model_layer *L = &m->layers[l];
		if (!L->wq || !L->wk || !L->wv || !L->wo || !L->up || !L->down || !L->attn_norm ||
		    (m->cfg.gated && !L->gate))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	char name[256], dir[4096];
	const char *family = families[data[0] % N_FAMILIES];
	snprintf(name, sizeof name, "%s/config.json", family);
	fuzz_write(name, data + 1, size - 1);
	snprintf(dir, sizeof dir, "%s", fuzz_path(family));
	struct model *m = NULL;
	char err[ERR_MAX] = "";
	int rc = model_open(&m, dir, err, sizeof err);
	fuzz_check_reason(rc, err);
	if (!rc) {
		check_model(m);
		model_close(m);
	}
	return 0;
}
