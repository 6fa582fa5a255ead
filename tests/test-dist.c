/* Tests for env/dist without mpirun (one process in every build): the static cost-balanced plan
 * (which rank gets which item, its balance and determinism), the one-process agreement and
 * exchange, and the YOPO_DIST_FAIL_RANK hook. The multi-rank runs are tests/test-mpi.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "err.h"
#include "testutil.h"

struct plan_case {
	const char *what;
	int n, ranks;
	double cost[8];
	int owner[8];
};

static const struct plan_case plan_cases[] = {
	/* decreasing cost order 0,1,2,3: 0 -> r0, 1 -> r1, 2 -> r1 (load 3 < 5), 3 -> r1 (5 = 5: r0) */
	{"lpt", 4, 2, {5, 3, 2, 1}, {0, 1, 1, 0}},
	/* equal costs: index order, round robin by least load then lowest rank */
	{"ties", 5, 3, {1, 1, 1, 1, 1}, {0, 1, 2, 0, 1}},
	/* the big item alone on one rank; the rest balanced on the other */
	{"one big", 4, 2, {1, 10, 1, 1}, {1, 0, 1, 1}},
	{"one rank", 3, 1, {3, 2, 1}, {0, 0, 0}},
	{"more ranks than items", 2, 4, {1, 2}, {1, 0}},
	/* 7B-like: 8 equal layers over 3 ranks -> 3, 3, 2 */
	{"equal layers", 8, 3, {4, 4, 4, 4, 4, 4, 4, 4}, {0, 1, 2, 0, 1, 2, 0, 1}},
};

START_TEST(test_plan)
{
	const struct plan_case *c = &plan_cases[_i];
	int owner[8];
	ck_assert_int_eq(dist_plan(owner, c->cost, c->n, c->ranks), DIST_OK);
	for (int i = 0; i < c->n; i++)
		ck_assert_msg(owner[i] == c->owner[i], "%s: item %d on rank %d, expected %d", c->what,
			      i, owner[i], c->owner[i]);
}
END_TEST

/* Balance on a many-model mix: the largest load is within one item of the mean load. */
START_TEST(test_plan_balance)
{
	enum { N = 112 };
	double cost[N], total = 0, maxc = 0;
	int owner[N], again[N];
	for (int i = 0; i < N; i++) {
		/* 32 layers of a 7B shape and 80 of a 70B shape (rows × cols², in 1e9) */
		cost[i] = i < 32 ? 11008.0 * 4096 * 4096 / 1e9 : 28672.0 * 8192 * 8192 / 1e9;
		total += cost[i];
		maxc = cost[i] > maxc ? cost[i] : maxc;
	}
	for (int ranks = 1; ranks <= 80; ranks *= 3) {
		ck_assert_int_eq(dist_plan(owner, cost, N, ranks), DIST_OK);
		ck_assert_int_eq(dist_plan(again, cost, N, ranks), DIST_OK);
		ck_assert_int_eq(memcmp(owner, again, sizeof owner), 0);
		double max = dist_plan_max_load(owner, cost, N, ranks);
		ck_assert_msg(max <= total / ranks + maxc, "%d ranks: max load %g, mean %g", ranks, max,
			      total / ranks);
		ck_assert_msg(max >= total / ranks - 1e-6, "%d ranks: max load %g below the mean",
			      ranks, max);
	}
	ck_assert_int_eq(dist_plan(owner, cost, N, 1), DIST_OK);
	ck_assert_double_eq_tol(dist_plan_max_load(owner, cost, N, 1), total, 1e-6 * total);
}
END_TEST

START_TEST(test_local_group)
{
	char err[ERR_MAX] = "";
	ck_assert_int_eq(dist_init(err, sizeof err), DIST_OK);
	ck_assert_int_eq(dist_init(err, sizeof err), DIST_OK);
	ck_assert_int_eq(dist_rank(), 0);
	ck_assert_int_eq(dist_size(), 1);
	ck_assert(!strcmp(dist_backend(), "none") || !strcmp(dist_backend(), "openmpi"));
	ck_assert_int_eq(dist_agree(0, err, sizeof err), 0);
	/* one process: the status and reason pass unchanged (no rank prefix) */
	snprintf(err, sizeof err, "bad layer");
	ck_assert_int_eq(dist_agree(-7, err, sizeof err), -7);
	ck_assert_str_eq(err, "bad layer");
	const char send[] = "cells";
	char recv[sizeof send] = "";
	size_t counts[1] = {sizeof send};
	ck_assert_int_eq(dist_allgather(recv, send, counts, err, sizeof err), DIST_OK);
	ck_assert_str_eq(recv, "cells");
	dist_finalize();
	dist_finalize();
}
END_TEST

struct hook_case {
	const char *value; /* NULL: unset */
	int rc;
};

static const struct hook_case hook_cases[] = {
	{NULL, DIST_OK}, {"", DIST_OK}, {"1", DIST_OK}, {"0x", DIST_OK},
	{"0", DIST_ERR_INJECTED},
};

START_TEST(test_injected_failure)
{
	const struct hook_case *c = &hook_cases[_i];
	char err[ERR_MAX] = "";
	if (c->value)
		ck_assert_int_eq(setenv("YOPO_DIST_FAIL_RANK", c->value, 1), 0);
	else
		unsetenv("YOPO_DIST_FAIL_RANK");
	ck_assert_int_eq(dist_injected_failure(err, sizeof err), c->rc);
	if (c->rc)
		ck_assert_str_eq(err, "injected failure (YOPO_DIST_FAIL_RANK=0)");
	else
		ck_assert_str_eq(err, "");
	unsetenv("YOPO_DIST_FAIL_RANK");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dist");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_plan, 0, (int)(sizeof plan_cases / sizeof plan_cases[0]));
	tcase_add_test(tc, test_plan_balance);
	tcase_add_test(tc, test_local_group);
	tcase_add_loop_test(tc, test_injected_failure, 0,
			    (int)(sizeof hook_cases / sizeof hook_cases[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
