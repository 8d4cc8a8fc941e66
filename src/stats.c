// SPDX-License-Identifier: MIT
#include <netinet/in.h>
#include <string.h>

#include "tcpack/stats.h"

static const uint64_t xchg_bounds[TCPACK_XCHG_BUCKETS] = TCPACK_XCHG_BOUNDS_US;
static const uint64_t size_bounds[TCPACK_SIZE_BUCKETS] = TCPACK_SIZE_BOUNDS;

static unsigned int bucket_of(const uint64_t *bounds, unsigned int n, uint64_t v)
{
	unsigned int i = 0;

	while (i < n && v > bounds[i])
		i++;
	return i;
}

void tcpack_stats_observe_xchg(struct tcpack_stats *s, uint64_t us)
{
	tcpack_stat_add(&s->xchg.bucket[bucket_of(xchg_bounds, TCPACK_XCHG_BUCKETS, us)], 1);
	tcpack_stat_add(&s->xchg.sum_us, us);
}

void tcpack_stats_observe_size(struct tcpack_stats *s, uint64_t bytes)
{
	tcpack_stat_add(&s->msg_size.bucket[bucket_of(size_bounds, TCPACK_SIZE_BUCKETS, bytes)], 1);
	tcpack_stat_add(&s->msg_size.sum, bytes);
}

void tcpack_stats_add_all(struct tcpack_stats *to, const struct tcpack_stats *from)
{
	const _Atomic uint64_t *f = (const _Atomic uint64_t *)from;
	_Atomic uint64_t *t = (_Atomic uint64_t *)to;

	_Static_assert(sizeof(*from) % sizeof(uint64_t) == 0, "only counters");
	for (unsigned int i = 0; i < sizeof(*from) / sizeof(uint64_t); i++)
		tcpack_stat_add(&t[i], tcpack_stat_get(&f[i]));
}

/* The address alone: the port of a check's connection says nothing. */
static void source_key(struct sockaddr_storage *key, const struct sockaddr *sa)
{
	memset(key, 0, sizeof(*key));
	if (sa && sa->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)key;

		in->sin_family = AF_INET;
		in->sin_addr = ((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa && sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)key;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	}
}

void tcpack_check_sources_add(struct tcpack_check_sources *t, const struct sockaddr *sa,
			      unsigned int kind, uint64_t n)
{
	struct sockaddr_storage key;
	unsigned int i;

	if (kind >= TCPACK_CHECK_KIND_MAX || !n)
		return;
	source_key(&key, sa);
	for (i = 0; i < t->len; i++)
		if (memcmp(&t->src[i].addr, &key, sizeof(key)) == 0)
			break;
	if (i == t->len) {
		if (t->len == TCPACK_CHECK_SOURCES) {
			t->other += n;
			return;
		}
		memset(&t->src[i], 0, sizeof(t->src[i]));
		t->src[i].addr = key;
		t->len++;
	}
	t->src[i].n[kind] += n;
}
