/* Tests for pipeline/summary: every --json object and text table built from hand-filled results,
 * compared with the exact text the CLI prints (keys, order, number formats, "-" and null for
 * undefined values, the optional KL, policy and zero-padding parts). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "summary.h"
#include "testutil.h"

/* The compact text of obj; frees obj. */
static char *json_text(struct cJSON *obj)
{
	ck_assert_ptr_nonnull(obj);
	char *s = json_print(obj, false);
	json_free(obj);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void check_json(struct cJSON *obj, const char *want)
{
	char *s = json_text(obj);
	ck_assert_str_eq(s, want);
	free(s);
}

/* A memory stream for a text table; check_text closes it and compares. */
static FILE *text_open(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	ck_assert_ptr_nonnull(f);
	return f;
}

static void check_text(FILE *f, char **buf, const char *want)
{
	fclose(f); /* sets *buf */
	ck_assert_str_eq(*buf, want);
	free(*buf);
}

START_TEST(test_train)
{
	struct trainjob_opts o;
	trainjob_opts_default(&o);
	static const char *const models[] = {"m1", "m2"};
	static const double ratios[] = {0.25, 0.5};
	o.models = models;
	o.n_models = 2;
	o.train.ratios = ratios;
	o.train.n_ratios = 2;
	o.train.episodes = 3;
	o.train.seed = 18446744073709551615ULL; /* every digit kept: a string */
	o.out = "p.safetensors";
	check_json(summary_train_json(&o, 0.5, 0.125, 2),
		   "{\"out\":\"p.safetensors\",\"models\":[\"m1\",\"m2\"],\"ratios\":[0.25,0.5],"
		   "\"arch\":\"mlp\",\"reward\":\"functional\",\"feature_set\":\"probe\","
		   "\"probe_tokens\":2048,\"probe_seed\":\"0\",\"episodes\":3,"
		   "\"seed\":\"18446744073709551615\",\"best_greedy_loss\":0.5,"
		   "\"best_greedy_ks\":0.125,\"seconds\":2}");
	/* prunenet sees weights only, whatever feature_set says; no probes: probe_tokens 0 */
	o.train.arch = TRAIN_ARCH_PRUNENET;
	o.train.reward = TRAIN_REWARD_INVERSE;
	char *s = json_text(summary_train_json(&o, 1, 1, 1));
	ck_assert_ptr_nonnull(strstr(s, "\"arch\":\"prunenet\",\"reward\":\"inverse\","
					"\"feature_set\":\"weights\",\"probe_tokens\":0,"));
	free(s);
}
END_TEST

START_TEST(test_prune)
{
	struct prunejob_opts o = {.model = "in", .out = "out", .ratio = 0.5};
	o.select.method = "magnitude";
	o.select.granularity = PRUNE_GRANULARITY_ROWS;
	struct prune_counts c = {1000, 750, 900, 400, 200, 300, 12};
	check_json(summary_prune_json(&o, &c, 1.5),
		   "{\"out\":\"out\",\"model\":\"in\",\"method\":\"magnitude\",\"granularity\":\"rows\","
		   "\"global\":false,\"ratio\":0.5,\"params_before\":1000,\"params_after\":750,"
		   "\"params_stored\":900,\"ffn_params_before\":400,\"ffn_params_after\":200,"
		   "\"ffn_params_stored\":300,\"ffn_width\":12,\"sparsity\":0.25,\"seconds\":1.5}");
	char *buf;
	size_t len;
	FILE *f = text_open(&buf, &len);
	c.params_before = 1234567;
	summary_prune_text(f, &o, &c);
	check_text(f, &buf, "wrote out: magnitude method, rows, ratio 0.5\n"
			   "params 1,234,567 -> 750 (FFN 400 -> 200)\n"
			   "the file holds 900 parameters (FFN 300): every layer is zero-padded to the "
			   "widest (12 neurons)\n");
	o.select.granularity = PRUNE_GRANULARITY_WEIGHTS;
	f = text_open(&buf, &len);
	summary_prune_text(f, &o, &c);
	check_text(f, &buf, "wrote out: magnitude method, weights, ratio 0.5\n"
			   "params 1,234,567 -> 750 (FFN 400 -> 200) nonzero; zeroed weights save no "
			   "memory or time by themselves\n");
}
END_TEST

static struct measure_text_result eval_result(bool kl)
{
	struct measure_text_result r = {.n_layers = 2, .hidden = 8, .ffn = 32, .seq_len = 16,
					.n_ids = 4097, .peak_rss = 3 << 20};
	snprintf(r.model_type, sizeof r.model_type, "llama");
	r.m.params = 5000;
	r.m.ffn_params = 1536;
	r.m.bytes = 20000;
	r.m.flops = 10000;
	r.m.eval.perplexity = 12.5;
	r.m.eval.nll = 2.5;
	r.m.eval.tokens = 4080;
	r.m.eval.windows = 255;
	r.m.eval.tokens_per_s = 100.25;
	r.m.has_kl = kl;
	r.m.kl.mean = 0.25;
	r.m.kl.median = 0.125;
	r.m.kl.p99 = 1;
	r.m.kl.top1 = 0.75;
	r.m.kl.ppl_ref = 10;
	return r;
}

START_TEST(test_eval)
{
	struct measure_text_result r = eval_result(false);
	const char *base = "{\"perplexity\":12.5,\"nll\":2.5,\"tokens\":4080,\"windows\":255,"
			   "\"params\":5000,\"ffn_params\":1536,\"flops_per_token\":10000,"
			   "\"bytes\":20000,\"tokens_per_s\":100.25,\"peak_rss_bytes\":3145728";
	char want[1024];
	snprintf(want, sizeof want, "%s}", base);
	check_json(summary_eval_json(&r), want);
	r = eval_result(true);
	snprintf(want, sizeof want, "%s,\"kl_mean\":0.25,\"kl_median\":0.125,\"kl_p99\":1,"
		 "\"top1_agreement\":0.75,\"reference_perplexity\":10}", base);
	check_json(summary_eval_json(&r), want);
	char *buf;
	size_t len;
	FILE *f = text_open(&buf, &len);
	summary_eval_text(f, "M", "R", "T", &r);
	check_text(f, &buf,
		   "model          M (llama, 2 layers, hidden 8, FFN 32)\n"
		   "text           T (4,097 tokens incl. BOS)\n"
		   "windows        255 x 16 tokens\n"
		   "perplexity     12.5000\n"
		   "nll            2.500000 nats over 4,080 predicted tokens\n"
		   "params         5,000 (FFN 1,536)\n"
		   "FLOPs/token    10,000\n"
		   "bytes on disk  20,000 (safetensors)\n"
		   "tokens/s       100.2\n"
		   "peak RSS       3.0 MiB\n"
		   "reference      R (perplexity 10.0000)\n"
		   "KL(ref||model) mean 0.250000, median 0.125000, p99 1.000000 nats per predicted "
		   "token\n"
		   "top-1 agree    0.7500\n");
}
END_TEST

START_TEST(test_study)
{
	struct study_opts o;
	study_opts_default(&o);
	double rho[2 * STUDY_N_REWARDS];
	struct study_result r = {.n_layers = 2, .selections = 4, .rho = rho, .dense_ppl = 7.25,
				 .tokens = 100};
	for (int q = 0; q < STUDY_N_REWARDS; q++) {
		rho[q] = 0.5;
		rho[STUDY_N_REWARDS + q] = q == 1 ? NAN : -0.25;
		r.pooled[q] = q == 1 ? NAN : 0.125;
		r.min_layer_positive[q] = 0;
	}
	char *s = json_text(summary_study_json("M", "T", &o, &r));
	ck_assert_ptr_nonnull(strstr(s, "{\"model\":\"M\",\"text\":\"T\",\"ratio\":0.3,"
					"\"selections\":4,\"windows\":8,\"tokens\":100,\"seed\":\"0\","
					"\"probe_tokens\":2048,\"probe_seed\":\"0\",\"dense_ppl\":7.25,"
					"\"rewards\":[{\"reward\":\"functional\",\"pooled_rho\":0.125,"
					"\"every_layer_positive\":false,\"layer_rho\":[0.5,-0.25]},"
					"{\"reward\":\"ks_up\",\"pooled_rho\":null,"
					"\"every_layer_positive\":false,\"layer_rho\":[0.5,null]}"));
	free(s);
	char *buf;
	size_t len;
	FILE *f = text_open(&buf, &len);
	summary_study_text(f, "M", "T", &o, &r);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "dense perplexity 7.250\n"
					  "Spearman rho(distance, KL damage); higher = the reward "
					  "tracks the damage\n"
					  "reward           pooled  all>0  L0     L1   \n"
					  "functional       +0.125     no  +0.50  -0.25\n"
					  "ks_up                 -      -  +0.50      -\n"));
	ck_assert_ptr_nonnull(strstr(buf, "ratio 0.3, 4 random selections per layer (seed 0), KL on "
					  "100 tokens; 2048 probe tokens (seed 0)\n"));
	free(buf);
}
END_TEST

START_TEST(test_spectrum)
{
	struct kseval_opts o = {.model = "M", .ratio = 0.3, .method = "policy"};
	double ks[] = {0.5, 0.25}, sd[] = {0, 0.125};
	struct kseval_result r = {.n_layers = 2, .ffn = 32, .hidden = 8, .draws = 1, .ks = ks,
				  .sd = sd, .mean = 0.375, .probe_tokens = 64};
	snprintf(r.model_type, sizeof r.model_type, "gpt2");
	check_json(summary_spectrum_json(&o, &r),
		   "{\"model\":\"M\",\"method\":\"policy\",\"ratio\":0.3,\"samples\":1,\"mean_ks\":0.375,"
		   "\"layers\":[{\"layer\":0,\"ks\":0.5,\"std\":0},{\"layer\":1,\"ks\":0.25,\"std\":0.125}]}");
	snprintf(r.policy, sizeof r.policy, "p.safetensors");
	snprintf(r.reward, sizeof r.reward, "neg-ks");
	snprintf(r.feature_set, sizeof r.feature_set, "weights");
	char *s = json_text(summary_spectrum_json(&o, &r));
	ck_assert_ptr_nonnull(strstr(s, "\"mean_ks\":0.375,\"policy\":\"p.safetensors\","
					"\"policy_reward\":\"neg-ks\",\"policy_feature_set\":\"weights\","
					"\"probe_tokens\":64,\"layers\":["));
	free(s);
	char *buf;
	size_t len;
	FILE *f = text_open(&buf, &len);
	summary_spectrum_text(f, &o, &r);
	check_text(f, &buf, "model    M (gpt2, 2 layers, ffn 32 x hidden 8)\n"
			   "method   policy (top-k), ratio 0.3, 1 selection(s) per layer\n"
			   "policy   p.safetensors (trained with reward neg-ks, feature set weights)\n"
			   "layer    KS        std\n"
			   "    0    0.5000    0.0000\n"
			   "    1    0.2500    0.1250\n"
			   "mean     0.3750\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("summary");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_train);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_eval);
	tcase_add_test(tc, test_study);
	tcase_add_test(tc, test_spectrum);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
