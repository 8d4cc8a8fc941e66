// SPDX-License-Identifier: MIT
#include <math.h>

#include "hist.h"

unsigned int bench_hist_index(uint64_t ns)
{
	unsigned int top, shift;

	if (ns >> BENCH_HIST_MAX_BITS)
		ns = (1ull << BENCH_HIST_MAX_BITS) - 1;
	if (ns < 2 * BENCH_HIST_SUB)
		return (unsigned int)ns;
	top = 63u - (unsigned int)__builtin_clzll(ns);	/* >= SUB_BITS + 1 */
	shift = top - BENCH_HIST_SUB_BITS;
	/* ns >> shift is in [SUB, 2 SUB): the sub-bucket, above the shift's rows. */
	return shift * BENCH_HIST_SUB + (unsigned int)(ns >> shift);
}

uint64_t bench_hist_bucket_high(unsigned int index)
{
	unsigned int shift;
	uint64_t m;

	if (index < 2 * BENCH_HIST_SUB)
		return index;
	shift = index / BENCH_HIST_SUB - 1;
	m = index - (uint64_t)shift * BENCH_HIST_SUB;
	return ((m + 1) << shift) - 1;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns)
{
	h->buckets[bench_hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void bench_hist_merge(struct bench_hist *to, const struct bench_hist *from)
{
	for (unsigned int i = 0; i < BENCH_HIST_BUCKETS; i++)
		to->buckets[i] += from->buckets[i];
	to->count += from->count;
	to->sum += from->sum;
	if (from->max > to->max)
		to->max = from->max;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	/* The smallest rank covering p percent: ceil, and at least the first. */
	rank = (uint64_t)ceil((double)h->count * p / 100.0);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned int i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t high = bench_hist_bucket_high(i);

			/* The last bucket also holds everything clamped into it. */
			if (i == BENCH_HIST_BUCKETS - 1)
				return h->max;
			return high < h->max ? high : h->max;
		}
	}
	return h->max;
}
