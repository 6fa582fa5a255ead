/* model: a Hugging Face checkpoint directory loaded into one canonical f32 layout.
 *
 * Whatever the family stores (Conv1D (in, out) matrices, fused QKV, F16/BF16), the loader
 * checks every tensor the family needs for presence and shape against config.json before any
 * compute, then materialises f32 copies in nn.Linear (out, in) orientation. The struct body is
 * public: the forward pass, evaluation and pruning read the weights directly.
 *
 * Stored weights (model_open_weights, MODEL_WEIGHTS_STORED*): for an F16/BF16 checkpoint only
 * the vectors (norms, biases) and learned positions are materialised; the layer matrices, the
 * embedding and the LM head stay in the mapping (their pointers are NULL) and the forward pass
 * converts one layer at a time into a buffer of layer_floats floats (model_layer_convert) or
 * multiplies the stored BF16 directly. A 7B F16 model then needs the mapping plus one layer in
 * f32 (~0.8 GB) instead of a 27 GB f32 copy. F32 checkpoints are materialised except under
 * MODEL_WEIGHTS_MAPPED_F32, where their matrices are the mapping itself: file pages the kernel
 * may drop and reread, not anonymous memory. */
#ifndef YOPO_MODEL_H
#define YOPO_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "safetensors.h"


enum model_error {
	MODEL_OK = 0,
	MODEL_ERR_CONFIG = -1,         /* config.json missing, malformed or unsupported */
	MODEL_ERR_WEIGHTS = -2,        /* safetensors file(s) missing or malformed */
	MODEL_ERR_MISSING_TENSOR = -3, /* a tensor the family needs is absent */
	MODEL_ERR_SHAPE = -4,          /* a tensor's shape disagrees with config.json */
	MODEL_ERR_NOMEM = -5,
	MODEL_ERR_EXTRA_TENSOR = -6,   /* a layer tensor beyond config.json's layer count */
};

const char *model_strerror(int err);

/* One decoder layer; NULL for tensors the family does not have. */
struct model_layer {
	int ffn;                          /* FFN width of this layer */
	float *attn_norm, *attn_norm_b;   /* (hidden) */
	float *ffn_norm, *ffn_norm_b;     /* (hidden); NULL when the norm is shared (phi) */
	float *wq;                        /* (n_heads*head_dim, hidden) */
	float *wk, *wv;                   /* (n_kv_heads*head_dim, hidden) */
	float *wo;                        /* (hidden, n_heads*head_dim) */
	float *bq, *bk, *bv, *bo;
	float *up;                        /* (ffn, hidden) */
	float *gate;                      /* (ffn, hidden) gated families only */
	float *down;                      /* (hidden, ffn) */
	float *b_up, *b_gate, *b_down;    /* (ffn), (ffn), (hidden) */
};

/* How model_open_weights keeps the weights of an F16/BF16 checkpoint (F32 ones: always as F32). */
enum model_weights {
	MODEL_WEIGHTS_F32,        /* whole model materialised as f32 (model_open) */
	MODEL_WEIGHTS_STORED,     /* stored dtype; compute in BF16 where the CPU has it (eval) */
	MODEL_WEIGHTS_STORED_F32, /* stored dtype; every product in f32 on converted layers */
	MODEL_WEIGHTS_MAPPED_F32, /* as STORED_F32, and an F32 checkpoint's matrices are used where
				   * they are mapped (read only; those Conv1D or fused ones that need
				   * reordering are converted per layer): the same f32 values as
				   * MODEL_WEIGHTS_F32 without an f32 copy (probe sampling) */
};

struct model_slot; /* a tensor's source and destination, private to model.c */

struct model {
	struct config cfg;
	struct safetensors *st;        /* the checkpoint, still mapped (pruning reads it) */
	enum safetensors_dtype dtype;  /* dtype of the embedding: the checkpoint's dtype */
	float *embed;                  /* (vocab, hidden) */
	float *pos_embed;              /* (pos_offset + max_pos, hidden) learned positions only */
	float *final_norm, *final_norm_b; /* (hidden) */
	float *lm_head;                /* (vocab, hidden); == embed when tied */
	float *lm_head_b;              /* (vocab) phi only */
	struct model_layer *layers;    /* (n_layers) */
	size_t n_params;               /* parameters used, tied ones counted once */
	size_t n_ffn_params;           /* up/gate/down weights and biases */
	size_t file_bytes;             /* bytes of the safetensors file(s) */
	float *arena;                  /* every f32 tensor above lives here */
	char *dir;                     /* the directory it was opened from (pruning rereads it) */
	bool stored;                   /* matrices and embeddings stay in the mapping (NULL above) */
	bool f32_compute;              /* stored: no BF16 products (MODEL_WEIGHTS_STORED_F32) */
	size_t layer_floats;           /* stored: floats of one converted layer or the LM head */
	size_t scratch_floats;         /* stored: conversion scratch (Conv1D, fused QKV), or 0 */
	struct model_slot *slots;      /* every needed tensor */
	size_t n_slots;
};

/* The FFN of one layer as the pruning code sees it, whether the weights sit in a loaded model
 * (model_layer_view) or were streamed by env (env.h): the scored matrix is gate_proj in gated
 * families (its rows are the neurons' gates) and the up-projection otherwise. */
struct model_layer_view {
	int layer, n_layers;
	int rows, cols;        /* ffn of this layer, hidden */
	const float *scored;   /* (rows, cols) */
	const float *pair;     /* (rows, cols) up-projection when gated, else NULL */
	const float *down;     /* (cols, rows) or NULL when not at hand */
};

/* Fills *v for layer (borrowing m's arrays). Returns 0, or MODEL_ERR_SHAPE for a bad layer. */
int model_layer_view(struct model_layer_view *v, const struct model *m, int layer);

/* Opens dir (config.json + model.safetensors or its sharded index). On success *out is owned by
 * the caller (model_close). On failure returns a negative model_error and writes a one-line
 * reason naming the file or tensor to err. */
int model_open(struct model **out, const char *dir, char *err, size_t errlen);

/* When dir is not a model directory: "; it holds the model directories dir/a, dir/b" for a
 * parent of model directories, "; it is a file: did you mean --model D (its directory)?" for a
 * file in one; else "". Appended to the error of model_inspect (and so model_open). */
void model_dir_hint(char *hint, size_t cap, const char *dir);

void model_close(struct model *m);

/* model_open with a choice of how an F16/BF16 checkpoint's weights are kept (see the top). */
int model_open_weights(struct model **out, const char *dir, enum model_weights weights, char *err,
		       size_t errlen);

/* Stored model: *L = layer `layer` with its matrices converted to f32 into buf (m->layer_floats
 * floats; scratch m->scratch_floats floats, NULL when that is 0). Same values as model_open. */
void model_layer_convert(struct model_layer *L, const struct model *m, int layer, float *buf,
			 float *scratch);

/* Drops the resident pages of a stored layer's matrices (safetensors_evict). */
void model_layer_evict(const struct model *m, int layer);

/* Maps a stored layer's matrices in one call per tensor (safetensors_prefetch): what a layer
 * evicted after its last run costs to read again, without a page fault per 64 KiB. */
void model_layer_prefetch(const struct model *m, int layer);

/* The stored tensor of the LM head (the embedding when tied). */
const struct safetensors_tensor *model_head_tensor(const struct model *m);

/* The LM head in f32: m->lm_head, or (stored) converted into buf (m->layer_floats floats). */
const float *model_head_convert(const struct model *m, float *buf);

/* out (hidden) = the embedding row of token (a valid id), from the f32 copy or the mapping. */
void model_embed_row(float *out, const struct model *m, int token);

/* Without loading any weight: reads dir's config.json, opens its safetensors, probes the tensor
 * name prefix and checks presence and shape of every tensor the family needs. For callers that
 * stream one layer at a time from the mapping (training on models too large to materialise).
 * On success *cfg is filled and *st is owned by the caller (safetensors_close). Errors as
 * model_open. */
int model_inspect(struct config *cfg, struct safetensors **st, const char *dir, char *err,
		  size_t errlen);

/* For callers that stream a model opened without weights (a struct model whose layer pointers
 * are NULL, e.g. built on model_inspect): converts every tensor of `layer` to f32 into a new
 * buffer (*arena, caller frees through model_layer_unload) exactly as model_open would, points
 * m->layers[layer] at it, and evicts the mapped pages it read. Errors: MODEL_ERR_SHAPE (layer out
 * of range), MODEL_ERR_MISSING_TENSOR, MODEL_ERR_NOMEM. */
int model_layer_load(struct model *m, int layer, float **arena);

/* Frees arena and resets m->layers[layer]'s pointers to NULL (its ffn stays). */
void model_layer_unload(struct model *m, int layer, float *arena);

/* The stored tensor `which` of `layer` (layer ignored for model-level ones); NULL if absent. */
const struct safetensors_tensor *model_find_tensor(const struct safetensors *st,
						   const struct config *c, enum config_tensor which,
						   int layer);

/* Converts matrix tensor t (tensor `which` of a model with config c) to f32 in nn.Linear
 * (out, in) orientation: out has t->nelem floats. Conv1D matrices (gpt2) are transposed through
 * scratch (t->nelem floats), which may be NULL otherwise. */
int model_read_matrix(float *out, const struct safetensors_tensor *t, const struct config *c,
		      enum config_tensor which, float *scratch);

/* Expected stored shape of `which` (as in the checkpoint, before any transposition) for this
 * config; returns the number of dimensions (1 or 2). */
int model_expected_shape(const struct config *c, enum config_tensor which, int layer,
			 long long shape[2]);

#endif
