/* writer: the atomic writer of a pruned checkpoint — the safetensors sliced (ROWS, padded to one
 * width for a global budget) or masked (WEIGHTS) by a plan (plan.h), config.json with the new FFN
 * width, the tokenizer files copied, and yopo_pruning.json recording what was done. */
#ifndef YOPO_PRUNE_WRITER_H
#define YOPO_PRUNE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "plan.h"

/* What yopo_pruning.json records; strings are borrowed, NULL ones are written as null (method
 * must be set). calib_file NULL means no calibration. */
struct prune_info {
	const char *method;
	double ratio;
	enum prune_granularity granularity;
	bool global;
	uint64_t seed;
	const char *policy_sha256;
	const char *calib_file;
	size_t calib_tokens;
	const char *base_dir;
	const char *source_model; /* input directory as given (NULL: not recorded) */
};

/* The checks prune_write makes on its destination, for callers that want to refuse a bad
 * --out before any work: out_dir must not be in_dir, lie inside it or contain it; its parent must
 * exist; an existing out_dir must be a directory, empty unless force. Writes nothing.
 * Errors (reason in err): PRUNE_ERR_OUT_IS_INPUT, PRUNE_ERR_OUT_INSIDE_INPUT,
 * PRUNE_ERR_OUT_CONTAINS_INPUT, PRUNE_ERR_OUT_NOT_EMPTY, PRUNE_ERR_ARG (empty or "."/".."
 * name, path too long), PRUNE_ERR_IO (in_dir or the parent cannot be resolved). */
int prune_check_out(const char *in_dir, const char *out_dir, bool force, char *err, size_t errlen);

/* Writes the checkpoint of m (opened from in_dir) pruned by plan into out_dir.
 *
 * Atomic: everything is built in a sibling temp dir (out_dir + ".tmp-XXXXXX"), each file fsynced,
 * the dir fsynced, then renamed into place (and the parent dir fsynced). On any failure the temp
 * dir is removed and out_dir is untouched. An existing empty out_dir is replaced; a non-empty one
 * only with force, and only after the new one is complete (the old one is moved aside, the new
 * one renamed in, then the old one deleted).
 *
 * Streaming: one output tensor is built at a time and handed to safetensors_write_views in
 * chunks; its input pages are evicted afterwards, so memory holds one tensor, not the model.
 * Tensors keep the input dtype and bytes: slicing copies raw 2- or 4-byte elements from the
 * mapped checkpoint, never through f32; tensors yopo does not know (e.g. gpt2's attn.bias
 * buffers) are copied unchanged; for WEIGHTS the masked entries become 0, or base's value (KEN
 * --base; converted to the input dtype if base's differs, raw bytes otherwise). A sharded input
 * (model.safetensors.index.json, no model.safetensors) produces the same shard file names, each
 * tensor in the shard it came from, and an index {"metadata": {"total_size"}, "weight_map"}. config.json is the input's JSON with the
 * family's FFN-size key (c->ffn_key) set to the new width (any "yopo_ffn_sizes" is dropped since
 * every layer is stored at that width), every other key preserved; for WEIGHTS it is copied
 * byte for byte. tokenizer.json, tokenizer_config.json, generation_config.json,
 * special_tokens_map.json, vocab.json, merges.txt and tokenizer.model are copied if present.
 * yopo_pruning.json: {yopo_version, method, ratio, granularity, global, seed, policy_sha256,
 * calibration {file, tokens} | null, base | null, params_before, params_after, params_stored,
 * ffn_params_before, ffn_params_after, ffn_params_stored, ffn_width, kept_per_layer [..],
 * kept_indices [[..] per layer] (ROWS only), note}.
 *
 * Errors (a one-line reason goes to err when err != NULL): PRUNE_ERR_OUT_IS_INPUT,
 * PRUNE_ERR_OUT_INSIDE_INPUT, PRUNE_ERR_OUT_CONTAINS_INPUT, PRUNE_ERR_OUT_NOT_EMPTY (also for a
 * path that exists and is not a directory, or is a symlink), PRUNE_ERR_PLAN,
 * PRUNE_ERR_BASE_SHAPE, PRUNE_ERR_ARG (base with ROWS, no method), PRUNE_ERR_INPUT (a stored FFN
 * tensor's shape disagrees with the model, unreadable config.json), PRUNE_ERR_IO, PRUNE_ERR_NOMEM. */
int prune_write(const struct model *m, const char *in_dir, const struct prune_plan *plan,
		const struct model *base, const struct prune_info *info, const char *out_dir,
		bool force, char *err, size_t errlen);

/* Keep masks on demand for prune_write_stream's WEIGHTS route: fill writes mask (rows, cols),
 * canonical (out, in) keep flags of matrix `which` (CONFIG_TENSOR_UP, _GATE, _DOWN) of `layer`.
 * Called in file (tensor name) order, once per matrix; returns 0 or a negative code with a
 * reason in err (the write then fails with that code). */
struct prune_masks {
	int (*fill)(void *ctx, int layer, enum config_tensor which, unsigned char *mask, int rows,
		    int cols, char *err, size_t errlen);
	void *ctx;
};

/* Kept neurons on demand for prune_write_stream's ROWS route (one read of each layer): fill
 * sets the kept neurons of `layer` in the plan given to prune_write_stream (the caller holds it;
 * e.g. prune_plan_set_layer_scores), keeping the plan's count for that layer, which fixed the
 * output's shapes before any scoring. Called once per layer, the first time the writer reaches
 * one of its FFN tensors: in file (tensor name) order, so layers may come out of numeric order
 * (layers.0, layers.1, layers.10, ...); every layer is filled before yopo_pruning.json is written.
 * Returns 0 or a negative code with a reason in err (the write then fails with that code). */
struct prune_rows {
	int (*fill)(void *ctx, int layer, char *err, size_t errlen);
	void *ctx;
};

/* Progress of the tensor writes of prune_write / prune_write_stream: after each tensor, the
 * input tensor bytes finished and in all (done == total after the last). */
typedef void prune_write_progress_fn(void *ctx, size_t done, size_t total);

/* Sets the hook every later write of this process reports to (NULL: none). One per process, as
 * probe_set_progress: a 7B prune writes (and scores) for minutes. Not thread-safe. */
void prune_set_write_progress(prune_write_progress_fn *fn, void *ctx);

/* prune_write for a model whose weights need not be loaded: only m->cfg, m->st, m->dir,
 * m->layers[].ffn and the parameter counts are read (base likewise). plan is a ROWS plan, or
 * NULL for WEIGHTS, whose masks then come from masks one matrix at a time (no plan holding every
 * mask). With rows (may be NULL; ROWS only) the plan's kept neurons are filled in layer by layer
 * as the writer reaches them; its counts must be final. On success *counts (may be NULL) holds
 * the written checkpoint's counts. Output bytes are those prune_write writes for the same plan
 * (as finally filled) / masks. Errors as prune_write; a fill that changes a layer's count is
 * PRUNE_ERR_PLAN. */
int prune_write_stream(struct prune_counts *counts, const struct model *m,
		       const struct prune_plan *plan, const struct prune_masks *masks,
		       const struct prune_rows *rows, const struct model *base,
		       const struct prune_info *info, const char *out_dir, bool force, char *err,
		       size_t errlen);

#endif
