// SPDX-License-Identifier: MIT
/*
 * The latency histogram: every value lands in a bucket that contains it,
 * buckets are at most 1/64 wide relative to their values, and percentiles
 * read back what was recorded within that error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "hist.h"

static uint64_t bucket_low(unsigned int i)
{
	return i == 0 ? 0 : bench_hist_bucket_high(i - 1) + 1;
}

static void test_small_values_are_exact(void **state)
{
	for (uint64_t v = 0; v < 2 * BENCH_HIST_SUB; v++) {
		assert_int_equal(bench_hist_index(v), v);
		assert_int_equal(bench_hist_bucket_high((unsigned int)v), v);
	}
}

static void test_every_value_lands_in_its_bucket(void **state)
{
	/* Powers of two and their neighbours, and a walk in between. */
	for (unsigned int bit = 0; bit < BENCH_HIST_MAX_BITS; bit++) {
		uint64_t p = 1ull << bit;
		uint64_t vals[] = { p - 1, p, p + 1, p + p / 3, 2 * p - 1 };

		for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
			unsigned int i = bench_hist_index(vals[k]);

			assert_true(i < BENCH_HIST_BUCKETS);
			assert_true(bucket_low(i) <= vals[k]);
			assert_true(bench_hist_bucket_high(i) >= vals[k]);
		}
	}
}

static void test_buckets_are_contiguous_and_narrow(void **state)
{
	for (unsigned int i = 1; i < BENCH_HIST_BUCKETS; i++) {
		uint64_t low = bucket_low(i), high = bench_hist_bucket_high(i);

		assert_true(high >= low);
		assert_int_equal(bench_hist_index(low), i);
		assert_int_equal(bench_hist_index(high), i);
		/* Width at most 1/64 of the values it holds. */
		assert_true((high - low + 1) * BENCH_HIST_SUB <= low || low < 2 * BENCH_HIST_SUB);
	}
}

static void test_huge_values_clamp_but_max_is_exact(void **state)
{
	struct bench_hist *h = calloc(1, sizeof(*h));

	bench_hist_record(h, UINT64_MAX / 2);
	assert_int_equal(bench_hist_index(UINT64_MAX / 2), BENCH_HIST_BUCKETS - 1);
	assert_int_equal(h->max, UINT64_MAX / 2);
	assert_int_equal(bench_hist_percentile(h, 100.0), UINT64_MAX / 2);
	free(h);
}

static void test_percentiles_of_a_uniform_run(void **state)
{
	struct bench_hist *h = calloc(1, sizeof(*h));
	struct { double p; uint64_t want; } cases[] = {
		{ 50.0, 500000 }, { 90.0, 900000 }, { 99.0, 990000 }, { 99.9, 999000 },
	};

	assert_int_equal(bench_hist_percentile(h, 50.0), 0);	/* empty */
	for (uint64_t v = 1000; v <= 1000000; v += 1000)
		bench_hist_record(h, v);
	assert_int_equal(h->count, 1000);
	assert_int_equal(h->max, 1000000);
	assert_int_equal(h->sum / h->count, 500500);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint64_t got = bench_hist_percentile(h, cases[k].p);

		/* The upper end of the right bucket: never below, at most 1/64 above. */
		assert_true(got >= cases[k].want);
		assert_true(got <= cases[k].want + cases[k].want / BENCH_HIST_SUB);
	}
	assert_int_equal(bench_hist_percentile(h, 100.0), 1000000);
	free(h);
}

static void test_merge_adds_up(void **state)
{
	struct bench_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	bench_hist_record(a, 10);
	bench_hist_record(b, 20);
	bench_hist_record(b, 5000);
	bench_hist_merge(a, b);
	assert_int_equal(a->count, 3);
	assert_int_equal(a->sum, 5030);
	assert_int_equal(a->max, 5000);
	assert_int_equal(bench_hist_percentile(a, 50.0), 20);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_values_are_exact),
		cmocka_unit_test(test_every_value_lands_in_its_bucket),
		cmocka_unit_test(test_buckets_are_contiguous_and_narrow),
		cmocka_unit_test(test_huge_values_clamp_but_max_is_exact),
		cmocka_unit_test(test_percentiles_of_a_uniform_run),
		cmocka_unit_test(test_merge_adds_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
