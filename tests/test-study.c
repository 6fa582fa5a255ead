/* Tests for pipeline/study: Spearman's ρ and W1 on hand fixtures, random selections, and a
 * whole study on a tiny fixture model whose ρ, functional distances and KLs are recomputed here
 * from the selections replayed with the same generator. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "funcreward.h"
#include "kl.h"
#include "model.h"
#include "pcg32.h"
#include "probe.h"
#include "study.h"
#include "testutil.h"

static const struct {
	double x[5], y[5];
	int n;
	double rho;
} rho_cases[] = {
	/* y ranks 1, 2, 3.5, 5, 3.5: ρ = 8 / sqrt(10 · 9.5) */
	{{1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}, 5, 0.8207826816681233},
	{{1, 2, 3, 4, 5}, {50, 40, 30, 20, 10}, 5, -1},
	{{3, 1, 2, 0, 0}, {9, 1, 4, 0, 0}, 5, 1},             /* monotone, with a tie on both */
	{{1, 2, 3, 0, 0}, {2, 2, 2, 0, 0}, 3, NAN},           /* constant y */
	{{1, 0, 0, 0, 0}, {1, 0, 0, 0, 0}, 1, NAN},           /* one point */
};

START_TEST(test_spearman)
{
	double rho = study_spearman(rho_cases[_i].x, rho_cases[_i].y, rho_cases[_i].n);
	if (isnan(rho_cases[_i].rho))
		ck_assert(isnan(rho));
	else
		ck_assert_double_eq_tol(rho, rho_cases[_i].rho, 1e-12);
}
END_TEST

START_TEST(test_w1)
{
	const double a[2] = {1, 0}, b[1] = {0.5}, c[3] = {4, 0, 2}, d[2] = {3, 1};
	ck_assert_double_eq_tol(study_w1(a, 2, b, 1), 0.5, 1e-12);
	ck_assert_double_eq_tol(study_w1(c, 3, d, 2), 1.0, 1e-12);
	ck_assert_double_eq_tol(study_w1(c, 3, c, 3), 0.0, 1e-12);
	const double e[2] = {0, 0}, f[2] = {3, 3};
	ck_assert_double_eq_tol(study_w1(e, 2, f, 2), 3.0, 1e-12); /* a shift by 3 */
}
END_TEST

START_TEST(test_random_keep)
{
	struct pcg32 r1, r2;
	pcg32_seed(&r1, 1, 2);
	r2 = r1;
	unsigned char a[50], b[50];
	study_random_keep(a, 50, 17, &r1);
	study_random_keep(b, 50, 17, &r2);
	int n = 0;
	for (int i = 0; i < 50; i++)
		n += a[i];
	ck_assert_int_eq(n, 17);
	ck_assert_mem_eq(a, b, 50);
	study_random_keep(b, 50, 17, &r2);
	ck_assert(memcmp(a, b, 50) != 0);
}
END_TEST

START_TEST(test_study_fixture)
{
	char dir[1024], err[512] = "";
	snprintf(dir, sizeof dir, "%s/families/llama_gqa", testutil_fixtures());
	int ids[40];
	uint64_t s = 5;
	for (int i = 0; i < 40; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = (int)((s >> 33) % 40);
	}
	struct study_opts o;
	study_opts_default(&o);
	o.selections = 6;
	o.windows = 2;
	o.seq_len = 16;
	o.probe_tokens = 64;
	o.ratio = 0.5;
	struct study_result *r = NULL;
	ck_assert_msg(study_run(&r, dir, ids, 40, &o, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r->n_layers, 2);
	ck_assert_uint_eq(r->tokens, 30);
	/* replay: the same probes and selections */
	struct model *m = NULL, *pm = NULL;
	ck_assert_int_eq(model_open(&m, dir, err, sizeof err), 0);
	ck_assert_int_eq(model_open(&pm, dir, err, sizeof err), 0);
	struct probe *p = NULL;
	ck_assert_int_eq(probe_collect(&p, m, 64, 0, 0, 0, err, sizeof err), 0);
	struct pcg32 rng;
	pcg32_seed(&rng, 0, STUDY_STREAM);
	struct forward *fd = NULL, *fp = NULL;
	ck_assert_int_eq(forward_new(&fd, m, 16), 0);
	ck_assert_int_eq(forward_new(&fp, pm, 16), 0);
	for (int l = 0; l < 2; l++) {
		int F = m->layers[l].ffn;
		struct funcreward *fr = NULL;
		ck_assert_int_eq(funcreward_new(&fr, p->act[l], 64, m->layers[l].down, 16, F), 0);
		double func[6], kl[6];
		for (int q = 0; q < 6; q++) {
			unsigned char keep[64];
			int kept[64], k = 0;
			study_random_keep(keep, F, F / 2, &rng);
			for (int i = 0; i < F; i++)
				if (keep[i])
					kept[k++] = i;
			ck_assert_int_eq(funcreward_error(fr, kept, k, &func[q]), 0);
			ck_assert_double_eq_tol(r->distance[((size_t)l * 6 + q) * STUDY_N_REWARDS +
							    STUDY_FUNCTIONAL], func[q], 1e-12);
			study_zero_neurons(pm, m, l, keep);
			struct kl_result kr;
			ck_assert_int_eq(kl_eval(&kr, fd, m, fp, pm, ids, 40, 16, 2, err, sizeof err), 0);
			study_zero_neurons(pm, m, l, NULL);
			kl[q] = kr.mean;
			ck_assert_double_eq_tol(r->kl[l * 6 + q], kr.mean, 1e-9);
			ck_assert(kr.mean > 0);
			for (int d = 0; d < STUDY_N_REWARDS; d++)
				ck_assert(isfinite(r->distance[((size_t)l * 6 + q) * STUDY_N_REWARDS + d]));
		}
		ck_assert_double_eq_tol(r->rho[l * STUDY_N_REWARDS + STUDY_FUNCTIONAL],
					study_spearman(func, kl, 6), 1e-12);
		funcreward_free(fr);
	}
	double mean = (r->rho[STUDY_KS_UP] + r->rho[STUDY_N_REWARDS + STUDY_KS_UP]) / 2;
	ck_assert_double_eq_tol(r->pooled[STUDY_KS_UP], mean, 1e-12);
	forward_free(fd);
	forward_free(fp);
	probe_free(p);
	model_close(m);
	model_close(pm);
	study_result_free(r);
	/* errors */
	o.ratio = 1.0;
	ck_assert_int_eq(study_run(&r, dir, ids, 40, &o, err, sizeof err), STUDY_ERR_ARG);
	o.ratio = 0.5;
	ck_assert_int_eq(study_run(&r, dir, ids, 10, &o, err, sizeof err), STUDY_ERR_TEXT);
	ck_assert_int_eq(study_run(&r, "/nonexistent", ids, 40, &o, err, sizeof err), STUDY_ERR_MODEL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("study");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_spearman, 0, (int)(sizeof rho_cases / sizeof rho_cases[0]));
	tcase_add_test(tc, test_w1);
	tcase_add_test(tc, test_random_keep);
	tcase_add_test(tc, test_study_fixture);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
