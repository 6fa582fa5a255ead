/* Tests of halfconv: known values, and the fast path against the references on every 16-bit
 * word at odd lengths and unaligned starts. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halfconv.h"
#include "testutil.h"

static uint32_t bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static const struct {
	uint16_t h;
	int bf16;
	float want;
} known[] = {
	{0x3c00, 0, 1.0f},
	{0xc000, 0, -2.0f},
	{0x7bff, 0, 65504.0f},
	{0x0001, 0, 5.9604644775390625e-8f}, /* smallest subnormal, 2^-24 */
	{0x03ff, 0, 6.0975551605224609375e-5f}, /* largest subnormal */
	{0x8000, 0, -0.0f},
	{0x7c00, 0, INFINITY},
	{0x3f80, 1, 1.0f},
	{0xc140, 1, -12.0f},
	{0x0001, 1, 9.18354961579912115600575419705e-41f}, /* f32 subnormal */
	{0xff80, 1, -INFINITY},
};

START_TEST(test_known)
{
	/* 9 copies: 8 take the vector loop, the 9th its scalar tail */
	uint16_t in[9];
	float fast[9], ref[9];
	for (int i = 0; i < 9; i++)
		in[i] = known[_i].h;
	if (known[_i].bf16) {
		halfconv_bf16(fast, in, 9);
		halfconv_bf16_ref(ref, in, 9);
	} else {
		halfconv_f16(fast, in, 9);
		halfconv_f16_ref(ref, in, 9);
	}
	for (int i = 0; i < 9; i++) {
		ck_assert_uint_eq(bits(fast[i]), bits(known[_i].want));
		ck_assert_uint_eq(bits(ref[i]), bits(known[_i].want));
	}
}
END_TEST

/* Every word, shifted by `skew` bytes (unaligned loads) and cut to an odd length. */
static void check_all(int bf16, size_t skew)
{
	size_t n = 65536 - 3;
	unsigned char *raw = malloc(2 * 65536 + 8);
	float *fast = malloc(65536 * sizeof *fast), *ref = malloc(65536 * sizeof *ref);
	ck_assert(raw && fast && ref);
	for (size_t i = 0; i < 65536; i++) {
		raw[skew + 2 * i] = (unsigned char)(i & 0xff);
		raw[skew + 2 * i + 1] = (unsigned char)(i >> 8);
	}
	if (bf16) {
		halfconv_bf16(fast, raw + skew, n);
		halfconv_bf16_ref(ref, raw + skew, n);
	} else {
		halfconv_f16(fast, raw + skew, n);
		halfconv_f16_ref(ref, raw + skew, n);
	}
	for (size_t i = 0; i < n; i++) {
		if (!bf16 && isnan(ref[i])) {
			/* F16C quiets NaNs; sign and NaN-ness must survive */
			ck_assert(isnan(fast[i]));
			ck_assert_int_eq(signbit(fast[i]) != 0, signbit(ref[i]) != 0);
			continue;
		}
		ck_assert_msg(bits(fast[i]) == bits(ref[i]), "word 0x%04zx: %08x != %08x", i,
			      (unsigned)bits(fast[i]), (unsigned)bits(ref[i]));
	}
	free(raw);
	free(fast);
	free(ref);
}

START_TEST(test_exhaustive)
{
	check_all(_i & 1, (size_t)(_i >> 1)); /* f16/bf16 x aligned/odd byte offset */
}
END_TEST

/* f32 -> half and back: every finite word survives the round trip; a value between two halves
 * goes to the nearer (ties to the even word), past 65520 to infinity. */
START_TEST(test_from_f32)
{
	int bf16 = _i;
	for (uint32_t w = 0; w < 65536; w++) {
		unsigned char b[2] = {(unsigned char)(w & 0xff), (unsigned char)(w >> 8)};
		float x;
		if (bf16)
			halfconv_bf16_ref(&x, b, 1);
		else
			halfconv_f16_ref(&x, b, 1);
		if (isnan(x))
			continue;
		uint16_t back = bf16 ? halfconv_bf16_of(x) : halfconv_f16_of(x);
		ck_assert_msg(back == w, "word 0x%04x -> %g -> 0x%04x", (unsigned)w, (double)x, back);
	}
	/* 1 + 2^-11 lies halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01) */
	ck_assert_uint_eq(halfconv_f16_of(1.0f + 0x1p-11f), 0x3c00);
	ck_assert_uint_eq(halfconv_f16_of(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
	ck_assert_uint_eq(halfconv_f16_of(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie, to even */
	ck_assert_uint_eq(halfconv_f16_of(65519.0f), 0x7bff);
	ck_assert_uint_eq(halfconv_f16_of(-65520.0f), 0xfc00);
	ck_assert_uint_eq(halfconv_f16_of(0x1p-25f), 0x0000); /* half the smallest subnormal: even */
	ck_assert_uint_eq(halfconv_bf16_of(1.0f + 0x1p-8f), 0x3f80);
	ck_assert_uint_eq(halfconv_bf16_of(1.0f + 3 * 0x1p-8f), 0x3f82);
}
END_TEST

static Suite *halfconv_suite(void)
{
	Suite *s = suite_create("halfconv");
	TCase *tc = tcase_create("convert");
	tcase_add_loop_test(tc, test_known, 0, (int)(sizeof known / sizeof known[0]));
	tcase_add_loop_test(tc, test_exhaustive, 0, 4);
	tcase_add_loop_test(tc, test_from_f32, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(halfconv_suite(), false);
}
