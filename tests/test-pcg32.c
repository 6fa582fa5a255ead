/*
 * test-pcg32: the generator against the published reference output of
 * pcg32-demo (pcg-c-basic; same text as pcg-c test-high/expected/check-pcg32.out)
 * for pcg32_srandom_r(&rng, 42u, 54u), and the moments of the derived draws.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pcg32.h"
#include "testutil.h"

struct demo_round {
	uint32_t words[6];
	const char *coins;  /* 65 x boundedrand(2): H for 1 */
	const char *rolls;  /* 33 x boundedrand(6)+1 */
	const char *cards;  /* Fisher–Yates deal of 52 cards */
};

/* Copied from pcg-c test-high/expected/check-pcg32.out (rounds 1-5). */
static const struct demo_round demo[] = {
	{
		{0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e},
		"HHTTTHTHHHTHTTTHHHHHTTTHHHTHTHTHTTHTTTHHHHHHTTTTHHTTTTTHTTTTTTTHT",
		"341122324324335231315141564662633",
		"Qd Ks 6d 3s 3d 4c 3h Td Kc 5c Jh Kd Jd As 4s 4h Ad Th Ac Jc 7s Qs 2s 7h Kh 2d "
		"6c Ah 4d Qh 9h 6s 5s 2c 9c Ts 8d 9s 3c 8c Js 5d 2h 6h 7d 8s 9d 5h 8h Qc 7c Tc",
	},
	{
		{0x74ab93ad, 0x1c1da000, 0x494ff896, 0x34462f2f, 0xd308a3e5, 0x0fa83bab},
		"HHHHHHHHHHTHHHTHTHTHTHTTTTHHTTTHHTHHTHTTHHTTTHHHHHHTHTTHTHTTTTTTT",
		"511332453226432424323632342411544",
		"7d 2s 7h Td 8s 3c 3d Js 2d Tc 4h Qs 5c 9c Th 2c Jc Qd 9d Qc 7s 3s 5s 6h 4d Jh "
		"4c Ac 4s 5h 5d Kc 8h 8d Jd 9s Ad 6s 6c Kd 2h 3h Kh Ts Qh 9h 6d As 7c Ks Ah 8c",
	},
	{
		{0x39af5f9f, 0x04196b18, 0xc3c3eb28, 0xc076c60c, 0xc693e135, 0xf8f63932},
		"HTTHHTTTTTHTTHHHTHTTHHTTHTHHTHTHTTTTHHTTTHHTHHTTHTTHHHTHHHTHTTTHT",
		"515322453313463234223152466424336",
		"Kd Jh Kc Qh 4d Qc 4h 9d 3c Kh Qs 8h 5c Jd 7d 8d 3h 7c 8s 3s 2h Ks 9c 9h 2c 8c "
		"Ad 7s 4s 2s 5h 6s 4c Ah 7h 5s Ac 3d 5d Qd As Tc 6h 9s 2d 6c 6d Td Jc Ts Th Js",
	},
	{
		{0x55ce6851, 0x97a7726d, 0x17e10815, 0x58007d43, 0x962fb148, 0xb9bb55bd},
		"HHTHHTTTTHTHHHHHTTHHHTTTHHTHTHTHTHHTTHTHHHHHHTHHTHHTHHTTTTHHTHHTT",
		"663234264263235534466265446161365",
		"Qd 8h 5d 8s 8d Ts 7h Th Qs Js 7s Kc 6h 5s 4d Ac Jd 7d 7c Td 2c 6s 5h 6d 3s Kd "
		"9s Jh Kh As Ah 9h 3c Qh 9c 2d Tc 9d 2s 3d Ks 4h Qc Ad Jc 8c 2h 3h 4s 4c 5c 6c",
	},
	{
		{0xfcef7cd6, 0x1b488b5a, 0xd0daf7ea, 0x1d9a70f7, 0x241a37cf, 0x9a3857b7},
		"HHHHTHHTTHTTHHHTTTHHTHTHTTTTHTTHTHTTTHHHTHTHTTHTTHTHHTHTHHHTHTHTT",
		"541261315636214452156564445264356",
		"4d 9s Qc 9h As Qs 7s 4c Kd 6h 6s 2c 8c 5d 7h 5h Jc 3s 7c Jh Js Ks Tc Jd Kc Th "
		"3h Ts Qh Ad Td 3c Ah 2d 3d 5c Ac 8s 5s 9c 2h 6c 6d Kh Qd 8d 7d 2s 8h 4h 9d 4s",
	},
};

/* Replays one round of pcg32-demo.c with our generator into the four strings. */
static void play_round(struct pcg32 *rng, uint32_t words[6], char coins[66], char rolls[34],
		       char cards[52 * 3])
{
	static const char number[] = "A23456789TJQK";
	static const char suit[] = "hcds";
	char deck[52];

	for (int i = 0; i < 6; i++)
		words[i] = pcg32_next(rng);
	for (int i = 0; i < 65; i++)
		coins[i] = pcg32_bounded(rng, 2) ? 'H' : 'T';
	coins[65] = '\0';
	for (int i = 0; i < 33; i++)
		rolls[i] = (char)('1' + pcg32_bounded(rng, 6));
	rolls[33] = '\0';
	for (int i = 0; i < 52; i++)
		deck[i] = (char)i;
	for (int i = 52; i > 1; i--) {
		int chosen = (int)pcg32_bounded(rng, (uint32_t)i);
		char c = deck[chosen];
		deck[chosen] = deck[i - 1];
		deck[i - 1] = c;
	}
	for (int i = 0; i < 52; i++) {
		cards[3 * i] = number[deck[i] / 4];
		cards[3 * i + 1] = suit[deck[i] % 4];
		cards[3 * i + 2] = i == 51 ? '\0' : ' ';
	}
}

START_TEST(test_demo_rounds)
{
	struct pcg32 rng;
	pcg32_seed(&rng, 42u, 54u);
	for (size_t r = 0; r < sizeof(demo) / sizeof(demo[0]); r++) {
		uint32_t words[6];
		char coins[66], rolls[34], cards[52 * 3];
		play_round(&rng, words, coins, rolls, cards);
		for (int i = 0; i < 6; i++)
			ck_assert_msg(words[i] == demo[r].words[i], "round %zu word %d: %08x != %08x",
				      r + 1, i, words[i], demo[r].words[i]);
		ck_assert_str_eq(coins, demo[r].coins);
		ck_assert_str_eq(rolls, demo[r].rolls);
		ck_assert_str_eq(cards, demo[r].cards);
	}
}
END_TEST

/* pcg-c prints the seeded generator as "6364136223846793005 109 1753877967969059832"
 * (multiplier, increment, state) before round 1. */
START_TEST(test_seed_state)
{
	struct pcg32 rng;
	pcg32_seed(&rng, 42u, 54u);
	ck_assert_uint_eq(rng.inc, 109u);
	ck_assert_uint_eq(rng.state, 1753877967969059832ull);
}
END_TEST

START_TEST(test_determinism_and_streams)
{
	struct pcg32 a, b, c;
	pcg32_seed(&a, 7u, 3u);
	pcg32_seed(&b, 7u, 3u);
	pcg32_seed(&c, 7u, 4u);
	int same_c = 0;
	for (int i = 0; i < 1000; i++) {
		uint32_t x = pcg32_next(&a);
		ck_assert_uint_eq(x, pcg32_next(&b));
		same_c += x == pcg32_next(&c);
	}
	ck_assert_int_lt(same_c, 3);
	/* a copy of the struct replays the stream */
	struct pcg32 d = a;
	ck_assert_double_eq(pcg32_normal(&a), pcg32_normal(&d));
	ck_assert_double_eq(pcg32_gumbel(&a), pcg32_gumbel(&d));
}
END_TEST

/* The 53-bit uniform is built from the top 27 and 26 bits of two outputs; check
 * it on the reference stream's first two words. */
START_TEST(test_uniform_bits)
{
	struct pcg32 rng;
	pcg32_seed(&rng, 42u, 54u);
	double u = pcg32_uniform(&rng);
	uint64_t a = 0xa15c02b7u >> 5, b = 0x7b47f409u >> 6;
	ck_assert_double_eq(u, (double)((a << 26) | b) / 9007199254740992.0);

	pcg32_seed(&rng, 42u, 54u);
	double uo = pcg32_uniform_open(&rng);
	uint64_t x = ((uint64_t)0xa15c02b7u << 32 | 0x7b47f409u) >> 12;
	ck_assert_double_eq(uo, ((double)x + 0.5) / 4503599627370496.0);
}
END_TEST

START_TEST(test_uniform_moments)
{
	struct pcg32 rng;
	pcg32_seed(&rng, 1u, 2u);
	const int n = 200000;
	double s = 0, s2 = 0, so = 0;
	for (int i = 0; i < n; i++) {
		double u = pcg32_uniform(&rng);
		double uo = pcg32_uniform_open(&rng);
		ck_assert(u >= 0.0 && u < 1.0);
		ck_assert(uo > 0.0 && uo < 1.0);
		s += u;
		s2 += u * u;
		so += uo;
	}
	/* mean 1/2 (sd 0.00065 at n = 2e5), variance 1/12 */
	ck_assert_double_eq_tol(s / n, 0.5, 0.004);
	ck_assert_double_eq_tol(so / n, 0.5, 0.004);
	ck_assert_double_eq_tol(s2 / n - (s / n) * (s / n), 1.0 / 12.0, 0.002);
}
END_TEST

START_TEST(test_gumbel_normal_moments)
{
	struct pcg32 rng;
	pcg32_seed(&rng, 99u, 1u);
	const int n = 200000;
	double gs = 0, gs2 = 0, ns = 0, ns2 = 0, ns4 = 0;
	for (int i = 0; i < n; i++) {
		double g = pcg32_gumbel(&rng);
		double z = pcg32_normal(&rng);
		ck_assert(isfinite(g) && isfinite(z));
		gs += g;
		gs2 += g * g;
		ns += z;
		ns2 += z * z;
		ns4 += z * z * z * z;
	}
	double gm = gs / n, gv = gs2 / n - gm * gm;
	/* Gumbel(0,1): mean = Euler–Mascheroni gamma, variance pi^2/6 (sd of mean 0.003) */
	ck_assert_double_eq_tol(gm, 0.5772156649, 0.015);
	ck_assert_double_eq_tol(gv, M_PI * M_PI / 6.0, 0.04);
	/* N(0,1): mean 0, variance 1, fourth moment 3 */
	ck_assert_double_eq_tol(ns / n, 0.0, 0.012);
	ck_assert_double_eq_tol(ns2 / n, 1.0, 0.02);
	ck_assert_double_eq_tol(ns4 / n, 3.0, 0.1);
}
END_TEST

START_TEST(test_bounded_uniform)
{
	struct pcg32 rng;
	pcg32_seed(&rng, 5u, 6u);
	enum { BINS = 7, DRAWS = 70000 };
	int count[BINS] = {0};
	for (int i = 0; i < DRAWS; i++) {
		uint32_t x = pcg32_bounded(&rng, BINS);
		ck_assert_uint_lt(x, BINS);
		count[x]++;
	}
	double chi2 = 0, e = (double)DRAWS / BINS;
	for (int i = 0; i < BINS; i++)
		chi2 += (count[i] - e) * (count[i] - e) / e;
	/* 6 degrees of freedom: P(chi2 > 22.5) ~ 0.001 */
	ck_assert_double_lt(chi2, 22.5);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(pcg32_bounded(&rng, 1), 0);
	/* a bound just above 2^31 rejects almost half the range and must still
	 * return values below it */
	for (int i = 0; i < 100; i++)
		ck_assert_uint_lt(pcg32_bounded(&rng, 2147483649u), 2147483649u);
}
END_TEST

static Suite *pcg32_suite(void)
{
	Suite *s = suite_create("pcg32");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_demo_rounds);
	tcase_add_test(tc, test_seed_state);
	tcase_add_test(tc, test_determinism_and_streams);
	tcase_add_test(tc, test_uniform_bits);
	tcase_add_test(tc, test_uniform_moments);
	tcase_add_test(tc, test_gumbel_normal_moments);
	tcase_add_test(tc, test_bounded_uniform);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(pcg32_suite(), false);
}
