/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A log-linear latency histogram in nanoseconds, HDR style: values below 128
 * are counted exactly, above that every power of two is split into 64
 * sub-buckets, so a reported value is within 1/64 (1.6 %) of the truth.
 * Values of 2^40 ns (18 minutes) and more land in the last bucket; the
 * exact maximum is kept aside. A zeroed struct is an empty histogram.
 */

#include <stdint.h>

#define BENCH_HIST_SUB_BITS	6
#define BENCH_HIST_SUB		(1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_MAX_BITS	40
#define BENCH_HIST_BUCKETS	((BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t sum;		/* ns, for the mean */
	uint64_t max;		/* exact */
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_record(struct bench_hist *h, uint64_t ns);

/* Adds @from's counts to @to. */
void bench_hist_merge(struct bench_hist *to, const struct bench_hist *from);

/**
 * bench_hist_percentile() - the value at or below which @p percent of the
 * recorded values lie: the upper end of the bucket holding that rank (never
 * above the exact maximum). 0 when the histogram is empty.
 */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);

/* Bucket arithmetic, exposed for the unit test. */
unsigned int bench_hist_index(uint64_t ns);
uint64_t bench_hist_bucket_high(unsigned int index);
