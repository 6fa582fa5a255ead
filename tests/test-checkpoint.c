/*
 * test-checkpoint: policy checkpoints — the exact metadata text for a known info (written
 * from the format description, not from the saver), round trips of both architectures
 * (parameters bit-identical, info equal, rebuilt networks score identically), byte-identical
 * repeated saves, and one fixture per load error, crafted in a mkdtemp directory with the
 * safetensors writer and hand-edited metadata.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "rowfeat.h"
#include "pcg32.h"
#include "policy.h"
#include "prunenet.h"
#include "safetensors.h"
#include "testutil.h"

enum { MLP_H = 8, PN_HIDDEN = 5, PN_FFN = 7, ERRLEN = 512 };

/* ---- helpers ---- */

/* Every parameter set from rng, so none stays at its zero initialisation. */
static void randomise(float *x, size_t n, uint64_t seed)
{
	struct pcg32 rng;
	pcg32_seed(&rng, seed, 17u);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)pcg32_normal(&rng);
}

static struct policy *make_policy(int d, int h, uint64_t seed)
{
	struct pcg32 rng;
	struct policy *p = NULL;
	pcg32_seed(&rng, seed, 1u);
	ck_assert_int_eq(policy_new(&p, d, h, &rng), POLICY_OK);
	randomise(policy_params(p), policy_param_count(p), seed + 100);
	return p;
}

static struct prunenet *make_prunenet(int hidden, int ffn, uint64_t seed)
{
	struct pcg32 rng;
	struct prunenet *p = NULL;
	pcg32_seed(&rng, seed, 2u);
	ck_assert_int_eq(prunenet_new(&p, hidden, ffn, &rng), PRUNENET_OK);
	randomise(prunenet_params(p), prunenet_param_count(p), seed + 200);
	return p;
}

/* The info matching base_json(CHECKPOINT_ARCH_MLP) below. */
static struct checkpoint_model mlp_models[1] = {
	{ "models/stories260k", "llama", 64, 172, 5 },
};
static double mlp_ratios[2] = { 0.3, 0.5 };

static struct checkpoint_info mlp_info(void)
{
	struct checkpoint_info in;
	memset(&in, 0, sizeof in);
	in.arch = CHECKPOINT_ARCH_MLP;
	in.n_features = ROWFEAT_COUNT;
	in.n_hidden = MLP_H;
	in.trained_on = mlp_models;
	in.n_trained_on = 1;
	in.ratios = mlp_ratios;
	in.n_ratios = 2;
	strcpy(in.reward, "neg-ks");
	in.seed = UINT64_MAX;
	in.episodes = 40;
	in.final_reward = -0.25;
	in.best_reward = -0.125;
	return in;
}

static struct checkpoint_model pn_models[2] = {
	{ "m/a", "llama", PN_HIDDEN, PN_FFN, 3 },
	{ "m/b", "mistral", PN_HIDDEN, PN_FFN, 2 },
};
static double pn_ratios[1] = { 0.25 };

static struct checkpoint_info pn_info(void)
{
	struct checkpoint_info in;
	memset(&in, 0, sizeof in);
	in.arch = CHECKPOINT_ARCH_PRUNENET;
	in.hidden = PN_HIDDEN;
	in.ffn = PN_FFN;
	in.trained_on = pn_models;
	in.n_trained_on = 2;
	in.ratios = pn_ratios;
	in.n_ratios = 1;
	strcpy(in.reward, "inverse");
	in.seed = 42;
	in.episodes = 3;
	in.final_reward = 1.5;
	in.best_reward = 2.0;
	return in;
}

/* The yopo metadata of mlp_info() / pn_info(), written out by hand from the format description
 * (compact JSON, documented key order); the version is given by the caller. */
static void base_json(char *buf, size_t len, enum checkpoint_arch arch, const char *version)
{
	char feats[512] = "";
	if (arch == CHECKPOINT_ARCH_MLP) {
		for (int i = 0; i < ROWFEAT_COUNT; i++) {
			strcat(feats, i ? ",\"" : "\"");
			strcat(feats, rowfeat_name(i));
			strcat(feats, "\"");
		}
		snprintf(buf, len,
			 "{\"format_version\":1,\"arch\":\"mlp\",\"features\":[%s],\"feature_set\":\"weights\",\"n_features\":%d,"
			 "\"n_hidden\":8,\"trained_on\":[{\"model\":\"models/stories260k\","
			 "\"model_type\":\"llama\",\"hidden\":64,\"ffn\":172,\"layers\":5}],"
			 "\"ratios\":[0.3,0.5],\"reward\":\"neg-ks\",\"seed\":\"18446744073709551615\","
			 "\"episodes\":40,\"final_reward\":-0.25,\"best_reward\":-0.125,"
			 "\"yopo_version\":\"%s\"}",
			 feats, ROWFEAT_COUNT, version);
	} else {
		snprintf(buf, len,
			 "{\"format_version\":1,\"arch\":\"prunenet\",\"hidden\":5,\"ffn\":7,"
			 "\"trained_on\":[{\"model\":\"m/a\",\"model_type\":\"llama\",\"hidden\":5,"
			 "\"ffn\":7,\"layers\":3},{\"model\":\"m/b\",\"model_type\":\"mistral\","
			 "\"hidden\":5,\"ffn\":7,\"layers\":2}],\"ratios\":[0.25],\"reward\":\"inverse\","
			 "\"seed\":\"42\",\"episodes\":3,\"final_reward\":1.5,\"best_reward\":2,"
			 "\"yopo_version\":\"%s\"}",
			 version);
	}
}

/* s with the single occurrence of from replaced by to (asserted unique); caller frees. */
static char *replace_once(const char *s, const char *from, const char *to)
{
	const char *hit = strstr(s, from);
	char *out;
	size_t pre;

	ck_assert_msg(hit != NULL, "'%s' not in metadata", from);
	ck_assert_msg(strstr(hit + 1, from) == NULL, "'%s' occurs twice", from);
	pre = (size_t)(hit - s);
	out = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	ck_assert_ptr_nonnull(out);
	memcpy(out, s, pre);
	strcpy(out + pre, to);
	strcat(out, hit + strlen(from));
	return out;
}

static void assert_info_equal(const struct checkpoint_info *a, const struct checkpoint_info *b)
{
	ck_assert_int_eq(a->arch, b->arch);
	if (a->arch == CHECKPOINT_ARCH_MLP) {
		ck_assert_int_eq(a->n_features, b->n_features);
		ck_assert_int_eq(a->n_hidden, b->n_hidden);
	} else {
		ck_assert_int_eq(a->hidden, b->hidden);
		ck_assert_int_eq(a->ffn, b->ffn);
	}
	ck_assert_int_eq(a->n_trained_on, b->n_trained_on);
	for (int i = 0; i < a->n_trained_on; i++) {
		ck_assert_str_eq(a->trained_on[i].model, b->trained_on[i].model);
		ck_assert_str_eq(a->trained_on[i].model_type, b->trained_on[i].model_type);
		ck_assert_int_eq(a->trained_on[i].hidden, b->trained_on[i].hidden);
		ck_assert_int_eq(a->trained_on[i].ffn, b->trained_on[i].ffn);
		ck_assert_int_eq(a->trained_on[i].layers, b->trained_on[i].layers);
	}
	ck_assert_int_eq(a->n_ratios, b->n_ratios);
	for (int i = 0; i < a->n_ratios; i++)
		ck_assert(a->ratios[i] == b->ratios[i]); /* exact: doubles must round-trip */
	ck_assert_str_eq(a->reward, b->reward);
	ck_assert(a->seed == b->seed);
	ck_assert_int_eq(a->episodes, b->episodes);
	ck_assert(a->final_reward == b->final_reward);
	ck_assert(a->best_reward == b->best_reward);
}

/* yopo_version must look like the project's "MAJOR.MINOR.PATCH". */
static void assert_version_like(const char *v)
{
	int a, b, c, n = -1;
	ck_assert_int_eq(sscanf(v, "%d.%d.%d%n", &a, &b, &c, &n), 3);
	ck_assert_uint_eq((size_t)n, strlen(v));
}

/* ---- format ---- */

/* The saver writes exactly the documented text, "format": "pt" beside it, and the documented
 * tensors; the version is the build's. */
START_TEST(test_metadata_text)
{
	char *dir, path[512], want[4096];
	struct safetensors *st = NULL;
	const char *text, *ver;

	for (int a = 0; a < 2; a++) {
		enum checkpoint_arch arch = a ? CHECKPOINT_ARCH_PRUNENET : CHECKPOINT_ARCH_MLP;
		struct checkpoint_info in = a ? pn_info() : mlp_info();
		dir = testutil_tmpdir_new("ckpt");
		snprintf(path, sizeof path, "%s/p.safetensors", dir);
		if (a == 0) {
			struct policy *p = make_policy(ROWFEAT_COUNT, MLP_H, 1);
			ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), CHECKPOINT_OK);
			policy_free(p);
		} else {
			struct prunenet *p = make_prunenet(PN_HIDDEN, PN_FFN, 1);
			ck_assert_int_eq(checkpoint_save_prunenet(path, p, &in), CHECKPOINT_OK);
			prunenet_free(p);
		}
		ck_assert_int_eq(safetensors_open(&st, path), SAFETENSORS_OK);
		ck_assert_str_eq(safetensors_metadata(st, "format"), "pt");
		text = safetensors_metadata(st, "yopo");
		ck_assert_ptr_nonnull(text);
		ver = strstr(text, "\"yopo_version\":\"");
		ck_assert_ptr_nonnull(ver);
		ver += strlen("\"yopo_version\":\"");
		{
			char version[32] = "";
			const char *q = strchr(ver, '"');
			ck_assert_ptr_nonnull(q);
			ck_assert_uint_lt((size_t)(q - ver), sizeof version);
			memcpy(version, ver, (size_t)(q - ver));
			assert_version_like(version);
			base_json(want, sizeof want, arch, version);
		}
		ck_assert_str_eq(text, want);
		if (a == 0) {
			const struct safetensors_tensor *w1 = safetensors_find(st, "policy.w1");
			ck_assert_int_eq(safetensors_count(st), 4);
			ck_assert_ptr_nonnull(w1);
			ck_assert_int_eq(w1->ndim, 2);
			ck_assert_int_eq(w1->shape[0], MLP_H);
			ck_assert_int_eq(w1->shape[1], ROWFEAT_COUNT);
			ck_assert_int_eq(safetensors_find(st, "policy.b2")->shape[0], 1);
		} else {
			const struct safetensors_tensor *A = safetensors_find(st, "prunenet.A");
			ck_assert_int_eq(safetensors_count(st), 3);
			ck_assert_ptr_nonnull(A);
			ck_assert_int_eq(A->shape[0], PN_FFN);
			ck_assert_int_eq(A->shape[1], PN_HIDDEN);
			ck_assert_int_eq(safetensors_find(st, "prunenet.r")->dtype, SAFETENSORS_DTYPE_F32);
		}
		safetensors_close(st);
		testutil_tmpdir_free(dir);
	}
}
END_TEST

/* ---- round trips ---- */

START_TEST(test_roundtrip_mlp)
{
	char *dir, path[512], path2[512], err[ERRLEN] = "";
	struct checkpoint_info in = mlp_info();
	struct policy *p = make_policy(ROWFEAT_COUNT, MLP_H, 7), *q = NULL;
	struct checkpoint *c = NULL;
	const struct checkpoint_info *got;
	struct pcg32 rng;
	enum { ROWS = 50 };
	float x[ROWS * ROWFEAT_COUNT], s1[ROWS], s2[ROWS];
	size_t len1, len2;
	unsigned char *b1, *b2;

	dir = testutil_tmpdir_new("ckpt");
	snprintf(path, sizeof path, "%s/mlp.safetensors", dir);
	snprintf(path2, sizeof path2, "%s/mlp2.safetensors", dir);
	ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), CHECKPOINT_OK);
	ck_assert_int_eq(checkpoint_load(&c, path, err, sizeof err), CHECKPOINT_OK);
	got = checkpoint_get_info(c);
	assert_info_equal(got, &in);
	ck_assert_uint_eq(got->seed, UINT64_MAX);
	assert_version_like(got->yopo_version);
	ck_assert_int_eq(checkpoint_check_model(c, 128, 512, err, sizeof err), CHECKPOINT_OK);
	ck_assert_int_eq(checkpoint_make_prunenet(c, &(struct prunenet *){ NULL }), CHECKPOINT_ERR_ARG);

	ck_assert_int_eq(checkpoint_make_mlp(c, &q), CHECKPOINT_OK);
	ck_assert_int_eq(policy_n_features(q), ROWFEAT_COUNT);
	ck_assert_int_eq(policy_n_hidden(q), MLP_H);
	ck_assert_uint_eq(policy_param_count(q), policy_param_count(p));
	ck_assert_mem_eq(policy_params(q), policy_params(p), policy_param_count(p) * sizeof(float));

	/* the rebuilt policy scores random rows exactly as the original */
	pcg32_seed(&rng, 99, 5);
	for (int i = 0; i < ROWS * ROWFEAT_COUNT; i++)
		x[i] = (float)pcg32_normal(&rng);
	ck_assert_int_eq(policy_forward(p, s1, x, ROWS), POLICY_OK);
	ck_assert_int_eq(policy_forward(q, s2, x, ROWS), POLICY_OK);
	int distinct = 0;
	for (int i = 0; i < ROWS; i++) {
		ck_assert_float_eq(s1[i], s2[i]);
		distinct += s1[i] != s1[0];
	}
	ck_assert_int_gt(distinct, ROWS / 2);

	/* saving the reloaded policy with the reloaded info gives the same bytes */
	ck_assert_int_eq(checkpoint_save_mlp(path2, q, got), CHECKPOINT_OK);
	b1 = (unsigned char *)testutil_file_read(path, &len1);
	b2 = (unsigned char *)testutil_file_read(path2, &len2);
	ck_assert_uint_eq(len1, len2);
	ck_assert_mem_eq(b1, b2, len1);
	free(b1);
	free(b2);

	policy_free(q);
	checkpoint_free(c);
	policy_free(p);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_roundtrip_prunenet)
{
	char *dir, path[512], err[ERRLEN] = "";
	struct checkpoint_info in = pn_info();
	struct prunenet *p = make_prunenet(PN_HIDDEN, PN_FFN, 3), *q = NULL;
	struct checkpoint *c = NULL;
	struct pcg32 rng;
	float w[PN_FFN * PN_HIDDEN], pr1[PN_FFN], pr2[PN_FFN];

	dir = testutil_tmpdir_new("ckpt");
	snprintf(path, sizeof path, "%s/pn.safetensors", dir);
	ck_assert_int_eq(checkpoint_save_prunenet(path, p, &in), CHECKPOINT_OK);
	ck_assert_int_eq(checkpoint_load(&c, path, err, sizeof err), CHECKPOINT_OK);
	assert_info_equal(checkpoint_get_info(c), &in);
	ck_assert_int_eq(checkpoint_make_mlp(c, &(struct policy *){ NULL }), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_make_prunenet(c, &q), CHECKPOINT_OK);
	ck_assert_int_eq(prunenet_hidden(q), PN_HIDDEN);
	ck_assert_int_eq(prunenet_ffn(q), PN_FFN);
	ck_assert_uint_eq(prunenet_param_count(q), prunenet_param_count(p));
	ck_assert_mem_eq(prunenet_params(q), prunenet_params(p),
			 prunenet_param_count(p) * sizeof(float));

	pcg32_seed(&rng, 5, 5);
	for (int i = 0; i < PN_FFN * PN_HIDDEN; i++)
		w[i] = (float)pcg32_normal(&rng);
	ck_assert_int_eq(prunenet_forward(p, pr1, w, NULL), PRUNENET_OK);
	ck_assert_int_eq(prunenet_forward(q, pr2, w, NULL), PRUNENET_OK);
	for (int i = 0; i < PN_FFN; i++)
		ck_assert_float_eq(pr1[i], pr2[i]);
	ck_assert_float_ne(pr1[0], pr1[1]);

	/* the shape it is tied to fits; any other does not, with the documented message */
	ck_assert_int_eq(checkpoint_check_model(c, PN_HIDDEN, PN_FFN, err, sizeof err), CHECKPOINT_OK);
	ck_assert_int_eq(checkpoint_check_model(c, 128, 512, err, sizeof err),
			 CHECKPOINT_ERR_MODEL_SHAPE);
	ck_assert_str_eq(err, "policy tied to hidden 5 / ffn 7 (prunenet); this model has hidden 128 / "
			      "ffn 512");
	ck_assert_int_eq(checkpoint_check_model(c, PN_HIDDEN, PN_FFN + 1, err, sizeof err),
			 CHECKPOINT_ERR_MODEL_SHAPE);
	ck_assert_int_eq(checkpoint_check_model(c, 0, PN_FFN, err, sizeof err), CHECKPOINT_ERR_ARG);

	prunenet_free(q);
	checkpoint_free(c);
	prunenet_free(p);
	testutil_tmpdir_free(dir);
}
END_TEST

/* Two saves of the same parameters and info are byte-identical; a one-ulp change is not. */
START_TEST(test_deterministic_bytes)
{
	char *dir, a[512], b[512], d[512];
	struct checkpoint_info in = mlp_info(), inp = pn_info();
	struct policy *p = make_policy(ROWFEAT_COUNT, MLP_H, 11);
	struct prunenet *n = make_prunenet(PN_HIDDEN, PN_FFN, 12);
	unsigned char *ba, *bb, *bd;
	size_t la, lb, ld;

	dir = testutil_tmpdir_new("ckpt");
	snprintf(a, sizeof a, "%s/a.safetensors", dir);
	snprintf(b, sizeof b, "%s/b.safetensors", dir);
	snprintf(d, sizeof d, "%s/d.safetensors", dir);
	for (int arch = 0; arch < 2; arch++) {
		if (arch == 0) {
			ck_assert_int_eq(checkpoint_save_mlp(a, p, &in), CHECKPOINT_OK);
			ck_assert_int_eq(checkpoint_save_mlp(b, p, &in), CHECKPOINT_OK);
			policy_params(p)[3] = nextafterf(policy_params(p)[3], INFINITY);
			ck_assert_int_eq(checkpoint_save_mlp(d, p, &in), CHECKPOINT_OK);
		} else {
			ck_assert_int_eq(checkpoint_save_prunenet(a, n, &inp), CHECKPOINT_OK);
			ck_assert_int_eq(checkpoint_save_prunenet(b, n, &inp), CHECKPOINT_OK);
			prunenet_params(n)[3] = nextafterf(prunenet_params(n)[3], INFINITY);
			ck_assert_int_eq(checkpoint_save_prunenet(d, n, &inp), CHECKPOINT_OK);
		}
		ba = (unsigned char *)testutil_file_read(a, &la);
		bb = (unsigned char *)testutil_file_read(b, &lb);
		bd = (unsigned char *)testutil_file_read(d, &ld);
		ck_assert_uint_eq(la, lb);
		ck_assert_mem_eq(ba, bb, la);
		ck_assert_uint_eq(la, ld);
		ck_assert_int_ne(memcmp(ba, bd, la), 0);
		free(ba);
		free(bb);
		free(bd);
	}
	policy_free(p);
	prunenet_free(n);
	testutil_tmpdir_free(dir);
}
END_TEST

/* Strings needing JSON escapes, full-precision doubles and empty lists survive. */
START_TEST(test_roundtrip_escapes)
{
	char *dir, path[512], err[ERRLEN] = "";
	struct checkpoint_model m[2] = {
		{ "dir with \"quotes\"\\and\tcontrol/\xc3\xa9t\xc3\xa9", "gpt_neo", 64, 256, 8 },
		{ "/abs/path", "llama", 1, 1, 1 },
	};
	double ratios[3] = { 1.0 / 3.0, 0.1, 1e-300 };
	struct checkpoint_info in = mlp_info();
	struct policy *p = make_policy(ROWFEAT_COUNT, MLP_H, 21);
	struct checkpoint *c = NULL;

	in.trained_on = m;
	in.n_trained_on = 2;
	in.ratios = ratios;
	in.n_ratios = 3;
	in.final_reward = -0.1234567890123456789;
	in.best_reward = 1e-310; /* subnormal */
	in.seed = 0;
	in.episodes = 0;
	dir = testutil_tmpdir_new("ckpt");
	snprintf(path, sizeof path, "%s/e.safetensors", dir);
	ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), CHECKPOINT_OK);
	ck_assert_int_eq(checkpoint_load(&c, path, err, sizeof err), CHECKPOINT_OK);
	assert_info_equal(checkpoint_get_info(c), &in);
	checkpoint_free(c);
	c = NULL;

	in.n_trained_on = 0;
	in.trained_on = NULL;
	in.n_ratios = 0;
	in.ratios = NULL;
	ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), CHECKPOINT_OK);
	ck_assert_int_eq(checkpoint_load(&c, path, err, sizeof err), CHECKPOINT_OK);
	assert_info_equal(checkpoint_get_info(c), &in);
	checkpoint_free(c);
	policy_free(p);
	testutil_tmpdir_free(dir);
}
END_TEST

/* ---- save errors ---- */

START_TEST(test_save_errors)
{
	char *dir, path[512], bad_path[512];
	struct checkpoint_info in = mlp_info(), pin = pn_info();
	struct policy *p = make_policy(ROWFEAT_COUNT, MLP_H, 31);
	struct policy *p5 = make_policy(ROWFEAT_COUNT - 1, MLP_H, 32);
	struct prunenet *n = make_prunenet(PN_HIDDEN, PN_FFN, 33);
	struct checkpoint_model wrong = { "m/c", "llama", PN_HIDDEN + 1, PN_FFN, 2 };
	double bad_ratio = 1.0;

	dir = testutil_tmpdir_new("ckpt");
	snprintf(path, sizeof path, "%s/s.safetensors", dir);
	snprintf(bad_path, sizeof bad_path, "%s/no-such-dir/s.safetensors", dir);

	ck_assert_int_eq(checkpoint_save_mlp(NULL, p, &in), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_save_mlp(path, NULL, &in), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_save_mlp(path, p, NULL), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_save_mlp(path, p, &pin), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_save_prunenet(path, n, &in), CHECKPOINT_ERR_ARG);
	{
		struct checkpoint_info t = in;
		t.n_hidden = MLP_H + 1; /* disagrees with the policy */
		ck_assert_int_eq(checkpoint_save_mlp(path, p, &t), CHECKPOINT_ERR_ARG);
		t = in;
		t.ratios = &bad_ratio;
		t.n_ratios = 1;
		ck_assert_int_eq(checkpoint_save_mlp(path, p, &t), CHECKPOINT_ERR_ARG);
		t = in;
		strcpy(t.reward, "ks");
		ck_assert_int_eq(checkpoint_save_mlp(path, p, &t), CHECKPOINT_ERR_ARG);
		t = in;
		t.final_reward = NAN;
		ck_assert_int_eq(checkpoint_save_mlp(path, p, &t), CHECKPOINT_ERR_ARG);
		t = in;
		t.episodes = -1;
		ck_assert_int_eq(checkpoint_save_mlp(path, p, &t), CHECKPOINT_ERR_ARG);
		t = in;
		t.n_features = ROWFEAT_COUNT - 1;
		ck_assert_int_eq(checkpoint_save_mlp(path, p5, &t), CHECKPOINT_ERR_FEATURES);
		t = pin;
		t.trained_on = &wrong; /* a prunenet is tied to one shape */
		t.n_trained_on = 1;
		ck_assert_int_eq(checkpoint_save_prunenet(path, n, &t), CHECKPOINT_ERR_ARG);
	}
	ck_assert(!testutil_path_exists(path));

	policy_params(p)[MLP_H * ROWFEAT_COUNT + 2] = NAN;
	ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), CHECKPOINT_ERR_NONFINITE);
	prunenet_params(n)[0] = -INFINITY;
	ck_assert_int_eq(checkpoint_save_prunenet(path, n, &pin), CHECKPOINT_ERR_NONFINITE);
	ck_assert(!testutil_path_exists(path));

	policy_params(p)[MLP_H * ROWFEAT_COUNT + 2] = 0.5f;
	ck_assert_int_eq(checkpoint_save_mlp(bad_path, p, &in), CHECKPOINT_ERR_IO);
	ck_assert_int_eq(errno, ENOENT);

	policy_free(p);
	policy_free(p5);
	prunenet_free(n);
	testutil_tmpdir_free(dir);
}
END_TEST

/* A probe-feature policy round-trips with its set; checking it against the other set fails. */
START_TEST(test_probe_feature_set)
{
	char *dir = testutil_tmpdir_new("ckpt");
	char path[1024], err[512] = "";
	snprintf(path, sizeof path, "%s/p.safetensors", dir);
	struct checkpoint_info in = mlp_info();
	in.n_features = ROWFEAT_MAX;
	in.feature_set = ROWFEAT_SET_PROBE;
	strcpy(in.reward, "mix");
	in.mix = 0.25;
	in.probe_tokens = 300;
	in.probe_seed = 18446744073709551615ull;
	struct policy *p = make_policy(ROWFEAT_MAX, MLP_H, 2);
	ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), CHECKPOINT_OK);
	struct checkpoint *c = NULL;
	ck_assert_int_eq(checkpoint_load(&c, path, err, sizeof err), CHECKPOINT_OK);
	const struct checkpoint_info *got = checkpoint_get_info(c);
	ck_assert_int_eq(got->feature_set, ROWFEAT_SET_PROBE);
	ck_assert_int_eq(got->n_features, 8);
	ck_assert_str_eq(got->reward, "mix");
	ck_assert_double_eq(got->mix, 0.25);
	ck_assert_int_eq(got->probe_tokens, 300);
	ck_assert(got->probe_seed == 18446744073709551615ull);
	ck_assert_int_eq(checkpoint_check_features(c, ROWFEAT_SET_PROBE, err, sizeof err), 0);
	ck_assert_int_eq(checkpoint_check_features(c, ROWFEAT_SET_WEIGHTS, err, sizeof err),
			 CHECKPOINT_ERR_FEATURES);
	ck_assert_ptr_nonnull(strstr(err, "\"probe\" feature set"));
	checkpoint_free(c);
	/* a 6-input policy cannot be saved as a probe-set policy */
	struct policy *p6 = make_policy(ROWFEAT_COUNT, MLP_H, 2);
	in.n_features = ROWFEAT_COUNT;
	ck_assert_int_eq(checkpoint_save_mlp(path, p6, &in), CHECKPOINT_ERR_FEATURES);
	policy_free(p6);
	policy_free(p);
	testutil_tmpdir_free(dir);
}
END_TEST

/* ---- load errors: one fixture per error code ---- */

enum fixture_kind {
	FX_MISSING_FILE, /* path does not exist */
	FX_TRUNCATED,    /* a valid checkpoint cut short */
	FX_GARBAGE,      /* random bytes */
	FX_NO_META,      /* valid safetensors, no __metadata__ */
	FX_PT_ONLY,      /* __metadata__ {"format": "pt"} only */
	FX_WRITE,        /* the writer with edited metadata and/or tensors */
};

enum tensor_edit {
	TE_NONE,
	TE_DROP_LAST,  /* leave out the last tensor of the layout */
	TE_EXTRA,      /* add policy.extra / prunenet.extra */
	TE_F16,        /* first tensor stored as F16 */
	TE_TRANSPOSE,  /* first (2-D) tensor with its dims swapped */
	TE_FLATTEN,    /* first tensor stored 1-D with the same element count */
	TE_NAN,        /* one NaN in the second tensor */
	TE_INF,        /* one +inf in the last tensor */
};

struct bad_case {
	const char *what;
	enum checkpoint_arch arch;
	enum fixture_kind kind;
	const char *raw_meta;  /* if set, the yopo metadata text used instead of the base */
	const char *from[2];   /* edits of the base metadata text */
	const char *to[2];
	enum tensor_edit edit;
	int expect;
	const char *msg_has;   /* substring of the error message */
};

#define MLP CHECKPOINT_ARCH_MLP
#define PN CHECKPOINT_ARCH_PRUNENET

static const struct bad_case bad_cases[] = {
	{ "control mlp", MLP, FX_WRITE, NULL, { 0 }, { 0 }, TE_NONE, CHECKPOINT_OK, "" },
	{ "control prunenet", PN, FX_WRITE, NULL, { 0 }, { 0 }, TE_NONE, CHECKPOINT_OK, "" },
	{ "unknown keys are ignored", MLP, FX_WRITE, NULL, { "\"episodes\":40," },
	  { "\"episodes\":40,\"comment\":[1,{}]," }, TE_NONE, CHECKPOINT_OK, "" },
	{ "no feature_set loads as weights", MLP, FX_WRITE, NULL, { "\"feature_set\":\"weights\"," },
	  { "" }, TE_NONE, CHECKPOINT_OK, "" },
	{ "unknown feature_set", MLP, FX_WRITE, NULL, { "\"feature_set\":\"weights\"" },
	  { "\"feature_set\":\"acts\"" }, TE_NONE, CHECKPOINT_ERR_FEATURES, "acts" },
	{ "feature_set not a string", MLP, FX_WRITE, NULL, { "\"feature_set\":\"weights\"" },
	  { "\"feature_set\":3" }, TE_NONE, CHECKPOINT_ERR_METADATA, "feature_set" },
	{ "probe set with 6 features", MLP, FX_WRITE, NULL, { "\"feature_set\":\"weights\"" },
	  { "\"feature_set\":\"probe\"" }, TE_NONE, CHECKPOINT_ERR_FEATURES, "probe has 8" },
	{ "functional reward", MLP, FX_WRITE, NULL, { "\"reward\":\"neg-ks\"" },
	  { "\"reward\":\"functional\"" }, TE_NONE, CHECKPOINT_OK, "" },
	/* probe count and seed (policies trained with probes), mix weight */
	{ "probe tokens and seed", MLP, FX_WRITE, NULL, { "\"reward\":\"neg-ks\"" },
	  { "\"reward\":\"functional\",\"probe_tokens\":2048,\"probe_seed\":\"7\"" }, TE_NONE,
	  CHECKPOINT_OK, "" },
	{ "probe_tokens 1", MLP, FX_WRITE, NULL, { "\"reward\":\"neg-ks\"" },
	  { "\"reward\":\"functional\",\"probe_tokens\":1,\"probe_seed\":\"7\"" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "probe_tokens 1" },
	{ "probe_seed missing", MLP, FX_WRITE, NULL, { "\"reward\":\"neg-ks\"" },
	  { "\"reward\":\"functional\",\"probe_tokens\":64" }, TE_NONE, CHECKPOINT_ERR_METADATA,
	  "probe_seed" },
	{ "probe_seed not decimal", MLP, FX_WRITE, NULL, { "\"reward\":\"neg-ks\"" },
	  { "\"reward\":\"functional\",\"probe_tokens\":64,\"probe_seed\":\"-1\"" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "probe_seed" },
	{ "mix out of range", MLP, FX_WRITE, NULL, { "\"reward\":\"neg-ks\"" },
	  { "\"reward\":\"mix\",\"mix\":1.5" }, TE_NONE, CHECKPOINT_ERR_METADATA, "mix 1.5" },
	{ "missing file", MLP, FX_MISSING_FILE, NULL, { 0 }, { 0 }, TE_NONE, CHECKPOINT_ERR_IO,
	  "No such file" },
	{ "truncated", MLP, FX_TRUNCATED, NULL, { 0 }, { 0 }, TE_NONE, CHECKPOINT_ERR_FORMAT, NULL },
	{ "garbage", MLP, FX_GARBAGE, NULL, { 0 }, { 0 }, TE_NONE, CHECKPOINT_ERR_FORMAT, NULL },
	{ "no metadata", MLP, FX_NO_META, NULL, { 0 }, { 0 }, TE_NONE, CHECKPOINT_ERR_NO_METADATA,
	  "yopo" },
	{ "format pt only", MLP, FX_PT_ONLY, NULL, { 0 }, { 0 }, TE_NONE, CHECKPOINT_ERR_NO_METADATA,
	  "yopo" },
	{ "bad json", MLP, FX_WRITE, "{\"format_version\":1,\"arch\":", { 0 }, { 0 }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "not valid JSON" },
	{ "trailing text", MLP, FX_WRITE, NULL, { "\"}" }, { "\"} x" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "not valid JSON" },
	{ "not an object", MLP, FX_WRITE, "[1,2]", { 0 }, { 0 }, TE_NONE, CHECKPOINT_ERR_METADATA,
	  "not a JSON object" },
	{ "duplicate key", MLP, FX_WRITE, NULL, { "\"episodes\":40," },
	  { "\"episodes\":40,\"episodes\":41," }, TE_NONE, CHECKPOINT_ERR_METADATA, "duplicate" },
	{ "missing episodes", MLP, FX_WRITE, NULL, { "\"episodes\":40," }, { "" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "missing field \"episodes\"" },
	{ "missing format_version", MLP, FX_WRITE, NULL, { "\"format_version\":1," }, { "" },
	  TE_NONE, CHECKPOINT_ERR_METADATA, "format_version" },
	{ "missing trained_on model_type", PN, FX_WRITE, NULL, { "\"model_type\":\"mistral\"," },
	  { "" }, TE_NONE, CHECKPOINT_ERR_METADATA, "trained_on[1]: missing field \"model_type\"" },
	{ "missing prunenet ffn", PN, FX_WRITE, NULL, { "\"hidden\":5,\"ffn\":7,\"trained_on\"" },
	  { "\"hidden\":5,\"trained_on\"" }, TE_NONE, CHECKPOINT_ERR_METADATA,
	  "missing field \"ffn\"" },
	{ "n_hidden a string", MLP, FX_WRITE, NULL, { "\"n_hidden\":8" }, { "\"n_hidden\":\"8\"" },
	  TE_NONE, CHECKPOINT_ERR_METADATA, "not an integer" },
	{ "n_hidden fractional", MLP, FX_WRITE, NULL, { "\"n_hidden\":8" }, { "\"n_hidden\":8.5" },
	  TE_NONE, CHECKPOINT_ERR_METADATA, "not an integer" },
	{ "seed a number", MLP, FX_WRITE, NULL, { "\"seed\":\"18446744073709551615\"" },
	  { "\"seed\":7" }, TE_NONE, CHECKPOINT_ERR_METADATA, "seed" },
	{ "seed overflows", MLP, FX_WRITE, NULL, { "\"seed\":\"18446744073709551615\"" },
	  { "\"seed\":\"18446744073709551616\"" }, TE_NONE, CHECKPOINT_ERR_METADATA, "uint64" },
	{ "seed signed", MLP, FX_WRITE, NULL, { "\"seed\":\"18446744073709551615\"" },
	  { "\"seed\":\"-1\"" }, TE_NONE, CHECKPOINT_ERR_METADATA, "uint64" },
	{ "ratios not an array", MLP, FX_WRITE, NULL, { "[0.3,0.5]" }, { "0.3" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "not an array" },
	{ "ratio a string", MLP, FX_WRITE, NULL, { "[0.3,0.5]" }, { "[0.3,\"0.5\"]" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "ratios[1]" },
	{ "ratio out of range", MLP, FX_WRITE, NULL, { "[0.3,0.5]" }, { "[0.3,1.5]" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "ratios[1]" },
	{ "trained_on entry not an object", MLP, FX_WRITE, NULL, { "\"trained_on\":[" },
	  { "\"trained_on\":[3," }, TE_NONE, CHECKPOINT_ERR_METADATA, "not an object" },
	{ "trained_on layers zero", MLP, FX_WRITE, NULL, { "\"layers\":5" }, { "\"layers\":0" },
	  TE_NONE, CHECKPOINT_ERR_METADATA, "layers" },
	{ "prunenet trained on another shape", PN, FX_WRITE, NULL, { "\"ffn\":7,\"layers\":3" },
	  { "\"ffn\":9,\"layers\":3" }, TE_NONE, CHECKPOINT_ERR_METADATA, "tied to" },
	{ "unknown reward", MLP, FX_WRITE, NULL, { "\"neg-ks\"" }, { "\"ks\"" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "reward" },
	{ "reward too long", MLP, FX_WRITE, NULL, { "\"neg-ks\"" },
	  { "\"neg-ks-neg-ks-neg-ks\"" }, TE_NONE, CHECKPOINT_ERR_METADATA, "reward" },
	{ "negative episodes", MLP, FX_WRITE, NULL, { "\"episodes\":40" }, { "\"episodes\":-1" },
	  TE_NONE, CHECKPOINT_ERR_METADATA, "episodes" },
	{ "final_reward null", MLP, FX_WRITE, NULL, { "\"final_reward\":-0.25" },
	  { "\"final_reward\":null" }, TE_NONE, CHECKPOINT_ERR_METADATA, "final_reward" },
	{ "n_hidden zero", MLP, FX_WRITE, NULL, { "\"n_hidden\":8" }, { "\"n_hidden\":0" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "n_hidden" },
	{ "version 999", MLP, FX_WRITE, NULL, { "\"format_version\":1" },
	  { "\"format_version\":999" }, TE_NONE, CHECKPOINT_ERR_VERSION, "999" },
	{ "version a string", MLP, FX_WRITE, NULL, { "\"format_version\":1" },
	  { "\"format_version\":\"1\"" }, TE_NONE, CHECKPOINT_ERR_METADATA, "format_version" },
	{ "arch transformer", MLP, FX_WRITE, NULL, { "\"arch\":\"mlp\"" },
	  { "\"arch\":\"transformer\"" }, TE_NONE, CHECKPOINT_ERR_ARCH, "transformer" },
	{ "arch a number", MLP, FX_WRITE, NULL, { "\"arch\":\"mlp\"" }, { "\"arch\":1" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "arch" },
	/* $-tokens expand to this build's feature names and count (see expand) */
	{ "feature renamed", MLP, FX_WRITE, NULL, { "\"$1\"" }, { "\"$1_v2\"" }, TE_NONE,
	  CHECKPOINT_ERR_FEATURES, "$1_v2" },
	{ "feature added", MLP, FX_WRITE, NULL, { "\"$L\"]", "\"n_features\":$N" },
	  { "\"$L\",\"curvature\"]", "\"n_features\":$M" }, TE_NONE, CHECKPOINT_ERR_FEATURES,
	  "$M features" },
	{ "features swapped", MLP, FX_WRITE, NULL, { "\"$0\",\"$1\"" }, { "\"$1\",\"$0\"" },
	  TE_NONE, CHECKPOINT_ERR_FEATURES, "feature 0" },
	{ "features disagree with n_features", MLP, FX_WRITE, NULL, { "\"n_features\":$N" },
	  { "\"n_features\":$M" }, TE_NONE, CHECKPOINT_ERR_METADATA, "n_features" },
	{ "feature a number", MLP, FX_WRITE, NULL, { "\"$L\"]" }, { "5]" }, TE_NONE,
	  CHECKPOINT_ERR_METADATA, "features[$K]" },
	{ "missing tensor mlp", MLP, FX_WRITE, NULL, { 0 }, { 0 }, TE_DROP_LAST,
	  CHECKPOINT_ERR_TENSOR, "policy.b2" },
	{ "missing tensor prunenet", PN, FX_WRITE, NULL, { 0 }, { 0 }, TE_DROP_LAST,
	  CHECKPOINT_ERR_TENSOR, "prunenet.r" },
	{ "extra tensor", MLP, FX_WRITE, NULL, { 0 }, { 0 }, TE_EXTRA, CHECKPOINT_ERR_TENSOR,
	  "policy.extra" },
	{ "extra tensor prunenet", PN, FX_WRITE, NULL, { 0 }, { 0 }, TE_EXTRA,
	  CHECKPOINT_ERR_TENSOR, "prunenet.extra" },
	{ "F16 tensor", MLP, FX_WRITE, NULL, { 0 }, { 0 }, TE_F16, CHECKPOINT_ERR_TENSOR, "F16" },
	{ "transposed w1", MLP, FX_WRITE, NULL, { 0 }, { 0 }, TE_TRANSPOSE, CHECKPOINT_ERR_SHAPE,
	  "policy.w1" },
	{ "flattened A", PN, FX_WRITE, NULL, { 0 }, { 0 }, TE_FLATTEN, CHECKPOINT_ERR_SHAPE,
	  "prunenet.A" },
	{ "n_hidden disagrees with tensors", MLP, FX_WRITE, NULL, { "\"n_hidden\":8" },
	  { "\"n_hidden\":9" }, TE_NONE, CHECKPOINT_ERR_SHAPE, "expected (9, $N)" },
	{ "prunenet hidden disagrees with tensors", PN, FX_WRITE,
	  "{\"format_version\":1,\"arch\":\"prunenet\",\"hidden\":6,\"ffn\":7,\"trained_on\":"
	  "[{\"model\":\"m/a\",\"model_type\":\"llama\",\"hidden\":6,\"ffn\":7,\"layers\":3}],"
	  "\"ratios\":[0.25],\"reward\":\"inverse\",\"seed\":\"42\",\"episodes\":3,"
	  "\"final_reward\":1.5,\"best_reward\":2,\"yopo_version\":\"0.1.0\"}",
	  { 0 }, { 0 }, TE_NONE, CHECKPOINT_ERR_SHAPE, "prunenet.A has shape (7, 5), expected (7, 6)" },
	{ "NaN parameter", MLP, FX_WRITE, NULL, { 0 }, { 0 }, TE_NAN, CHECKPOINT_ERR_NONFINITE,
	  "policy.b1" },
	{ "inf parameter", PN, FX_WRITE, NULL, { 0 }, { 0 }, TE_INF, CHECKPOINT_ERR_NONFINITE,
	  "prunenet.r" },
};

/* tmpl with $0 / $1 / $L -> names of the first, second and last feature of this build and
 * $N / $M / $K -> ROWFEAT_COUNT, + 1, - 1; caller frees. */
static char *expand(const char *tmpl)
{
	char *out = malloc(strlen(tmpl) * 16 + 64);
	size_t o = 0;

	ck_assert_ptr_nonnull(out);
	for (const char *t = tmpl; *t; t++) {
		if (*t != '$' || !t[1]) {
			out[o++] = *t;
			continue;
		}
		t++;
		switch (*t) {
		case '0': o += (size_t)sprintf(out + o, "%s", rowfeat_name(0)); break;
		case '1': o += (size_t)sprintf(out + o, "%s", rowfeat_name(1)); break;
		case 'L': o += (size_t)sprintf(out + o, "%s", rowfeat_name(ROWFEAT_COUNT - 1)); break;
		case 'N': o += (size_t)sprintf(out + o, "%d", ROWFEAT_COUNT); break;
		case 'M': o += (size_t)sprintf(out + o, "%d", ROWFEAT_COUNT + 1); break;
		case 'K': o += (size_t)sprintf(out + o, "%d", ROWFEAT_COUNT - 1); break;
		default: ck_abort_msg("bad token $%c", *t);
		}
	}
	out[o] = '\0';
	return out;
}

START_TEST(test_load_errors)
{
	const struct bad_case *bc = &bad_cases[_i];
	char *dir, path[512], err[ERRLEN], base[4096];
	struct safetensors_entry e[5];
	float *params;
	size_t count;
	int n = 0, rc;
	struct checkpoint *c = NULL;
	struct pcg32 rng;
	uint16_t half[MLP_H * ROWFEAT_COUNT];
	float extra[3] = { 1, 2, 3 };

	dir = testutil_tmpdir_new("ckpt");
	snprintf(path, sizeof path, "%s/bad.safetensors", dir);

	/* parameters in the network's layout */
	if (bc->arch == MLP)
		count = (size_t)MLP_H * ROWFEAT_COUNT + 2 * MLP_H + 1;
	else
		count = (size_t)PN_FFN * PN_HIDDEN + 2 * PN_FFN;
	params = malloc(count * sizeof *params);
	ck_assert_ptr_nonnull(params);
	randomise(params, count, 77);
	memset(e, 0, sizeof e);
	if (bc->arch == MLP) {
		size_t hd = (size_t)MLP_H * ROWFEAT_COUNT;
		e[0] = (struct safetensors_entry){ "policy.w1", SAFETENSORS_DTYPE_F32, 2,
						   { MLP_H, ROWFEAT_COUNT }, params };
		e[1] = (struct safetensors_entry){ "policy.b1", SAFETENSORS_DTYPE_F32, 1, { MLP_H },
						   params + hd };
		e[2] = (struct safetensors_entry){ "policy.w2", SAFETENSORS_DTYPE_F32, 1, { MLP_H },
						   params + hd + MLP_H };
		e[3] = (struct safetensors_entry){ "policy.b2", SAFETENSORS_DTYPE_F32, 1, { 1 },
						   params + hd + 2 * MLP_H };
		n = 4;
	} else {
		size_t fh = (size_t)PN_FFN * PN_HIDDEN;
		e[0] = (struct safetensors_entry){ "prunenet.A", SAFETENSORS_DTYPE_F32, 2,
						   { PN_FFN, PN_HIDDEN }, params };
		e[1] = (struct safetensors_entry){ "prunenet.b", SAFETENSORS_DTYPE_F32, 1, { PN_FFN },
						   params + fh };
		e[2] = (struct safetensors_entry){ "prunenet.r", SAFETENSORS_DTYPE_F32, 1, { PN_FFN },
						   params + fh + PN_FFN };
		n = 3;
	}
	switch (bc->edit) {
	case TE_NONE:
		break;
	case TE_DROP_LAST:
		n--;
		break;
	case TE_EXTRA:
		e[n] = (struct safetensors_entry){ bc->arch == MLP ? "policy.extra" : "prunenet.extra",
						   SAFETENSORS_DTYPE_F32, 1, { 3 }, extra };
		n++;
		break;
	case TE_F16:
		safetensors_convert_from_f32(half, SAFETENSORS_DTYPE_F16, params,
					     (size_t)MLP_H * ROWFEAT_COUNT);
		e[0].dtype = SAFETENSORS_DTYPE_F16;
		e[0].data = half;
		break;
	case TE_TRANSPOSE:
		e[0].shape[0] = ROWFEAT_COUNT;
		e[0].shape[1] = MLP_H;
		break;
	case TE_FLATTEN:
		e[0].ndim = 1;
		e[0].shape[0] = PN_FFN * PN_HIDDEN;
		e[0].shape[1] = 0;
		break;
	case TE_NAN: /* third element of the second tensor */
		params[(size_t)e[0].shape[0] * (size_t)e[0].shape[1] + 2] = NAN;
		break;
	case TE_INF: /* last element of the last tensor */
		params[count - 1] = INFINITY;
		break;
	}

	base_json(base, sizeof base, bc->arch, "0.1.0");
	if (bc->kind == FX_WRITE || bc->kind == FX_TRUNCATED) {
		char *meta = strdup(bc->raw_meta ? bc->raw_meta : base);
		ck_assert_ptr_nonnull(meta);
		for (int k = 0; k < 2 && bc->from[k]; k++) {
			char *from = expand(bc->from[k]), *to = expand(bc->to[k]);
			char *t = replace_once(meta, from, to);
			free(meta);
			free(from);
			free(to);
			meta = t;
		}
		const char *kv[4] = { "format", "pt", "yopo", meta };
		ck_assert_int_eq(safetensors_write(path, e, n, kv, 2), SAFETENSORS_OK);
		free(meta);
	} else if (bc->kind == FX_NO_META) {
		ck_assert_int_eq(safetensors_write(path, e, n, NULL, 0), SAFETENSORS_OK);
	} else if (bc->kind == FX_PT_ONLY) {
		const char *kv[2] = { "format", "pt" };
		ck_assert_int_eq(safetensors_write(path, e, n, kv, 1), SAFETENSORS_OK);
	} else if (bc->kind == FX_GARBAGE) {
		unsigned char junk[256];
		pcg32_seed(&rng, 3, 3);
		for (size_t i = 0; i < sizeof junk; i++)
			junk[i] = (unsigned char)pcg32_next(&rng);
		testutil_file_write(path, junk, sizeof junk);
	}
	if (bc->kind == FX_TRUNCATED) {
		size_t len;
		unsigned char *b = (unsigned char *)testutil_file_read(path, &len);
		testutil_file_write(path, b, len - 5);
		free(b);
	}

	/* FORMAT messages carry the reader's own reason */
	char want[256];
	char *has = expand(bc->msg_has ? bc->msg_has : "");
	snprintf(want, sizeof want, "%s", has);
	free(has);
	if (bc->expect == CHECKPOINT_ERR_FORMAT) {
		struct safetensors *st = NULL;
		int src = safetensors_open(&st, path);
		ck_assert_int_lt(src, 0);
		ck_assert_int_ne(src, SAFETENSORS_ERR_IO);
		snprintf(want, sizeof want, "%s", safetensors_strerror(src));
	}

	strcpy(err, "untouched");
	rc = checkpoint_load(&c, path, err, sizeof err);
	ck_assert_msg(rc == bc->expect, "%s: got %d (%s: %s), expected %d", bc->what, rc,
		      checkpoint_strerror(rc), err, bc->expect);
	if (bc->expect == CHECKPOINT_OK) {
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(checkpoint_get_info(c)->arch, bc->arch);
		checkpoint_free(c);
	} else {
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", bc->what, err,
			      want);
		ck_assert_str_ne(err, "untouched");
		ck_assert_str_ne(checkpoint_strerror(rc), "unknown checkpoint error");
	}
	free(params);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_api_args)
{
	struct checkpoint *c = NULL;
	char err[ERRLEN];

	ck_assert_int_eq(checkpoint_load(NULL, "x", err, sizeof err), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_load(&c, NULL, err, sizeof err), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_load(&c, "/nonexistent/yopo.safetensors", NULL, 0),
			 CHECKPOINT_ERR_IO);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(checkpoint_make_mlp(NULL, &(struct policy *){ NULL }), CHECKPOINT_ERR_ARG);
	ck_assert_int_eq(checkpoint_check_model(NULL, 1, 1, NULL, 0), CHECKPOINT_ERR_ARG);
	ck_assert_ptr_null(checkpoint_get_info(NULL));
	checkpoint_free(NULL);
	ck_assert_str_eq(checkpoint_strerror(CHECKPOINT_ERR_MODEL_SHAPE),
			 "policy does not fit this model's shape");
	ck_assert_str_eq(checkpoint_strerror(12345), "unknown checkpoint error");
	for (int e = CHECKPOINT_ERR_ARG; e <= CHECKPOINT_OK; e++)
		ck_assert_str_ne(checkpoint_strerror(e), "unknown checkpoint error");
}
END_TEST

static Suite *checkpoint_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_metadata_text);
	tcase_add_test(tc, test_roundtrip_mlp);
	tcase_add_test(tc, test_roundtrip_prunenet);
	tcase_add_test(tc, test_deterministic_bytes);
	tcase_add_test(tc, test_probe_feature_set);
	tcase_add_test(tc, test_roundtrip_escapes);
	tcase_add_test(tc, test_save_errors);
	tcase_add_loop_test(tc, test_load_errors, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
	tcase_add_test(tc, test_api_args);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(checkpoint_suite(), false);
}
