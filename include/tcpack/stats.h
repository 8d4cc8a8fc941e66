/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One worker's counters and histograms. Its own thread alone writes them
 * (tcpack_stat_add(): a relaxed load and store, as cheap as a plain
 * increment, no read-modify-write on the hot path); anyone may read them
 * at any time (tcpack_stat_get()), the supervisor for STATUS= and every
 * metrics scrape, summing the workers' without a lock.
 */

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

/* Why a connection was closed; each closed connection counts once. */
enum tcpack_close_reason {
	TCPACK_CLOSE_DONE = 0,		/* the server finished the exchange */
	TCPACK_CLOSE_PEER,		/* the peer closed first */
	TCPACK_CLOSE_IDLE,		/* idle-timeout */
	TCPACK_CLOSE_MESSAGE,		/* message-timeout (or no PROXY header in time) */
	TCPACK_CLOSE_LIMIT,		/* a message over max-message */
	TCPACK_CLOSE_ERROR,		/* a failed receive or send, no memory, an invalid PROXY header */
	TCPACK_CLOSE_DRAIN,		/* a forced stop closed it */
	TCPACK_CLOSE_RESET,		/* the peer reset it */
	TCPACK_CLOSE_MAX,
};

enum tcpack_error_kind {
	TCPACK_ERR_ACCEPT = 0,		/* accept failed (EMFILE & co) */
	TCPACK_ERR_RECEIVE,
	TCPACK_ERR_SEND,
	TCPACK_ERR_RESET,		/* the peer reset a connection that had sent something */
	TCPACK_ERR_TOO_LONG,		/* a message over max-message */
	TCPACK_ERR_TIMEOUT,		/* idle or message timeout */
	TCPACK_ERR_PROXY,		/* invalid or missing PROXY header */
	TCPACK_ERR_OVERFLOW,		/* closed unserved: too many parked at max-connections */
	TCPACK_ERR_MEMORY,
	TCPACK_ERR_KIND_MAX,
};

/* Connections that came and went without a byte of data: a balancer's checks. */
enum tcpack_check_kind {
	TCPACK_CHECK_NONE = 0,
	TCPACK_CHECK_SILENT,		/* closed without sending a byte */
	TCPACK_CHECK_RESET,		/* reset without sending a byte */
	TCPACK_CHECK_PROXY_LOCAL,	/* a PROXY v2 LOCAL header (v1 UNKNOWN) */
	TCPACK_CHECK_AGENT,		/* an agent check answered */
	TCPACK_CHECK_KIND_MAX,
};

/*
 * Where checks came from, for the summary line: per source address (the
 * port left out), per kind. Bounded: past TCPACK_CHECK_SOURCES addresses,
 * checks are only counted (other).
 */
#define TCPACK_CHECK_SOURCES 16u

struct tcpack_check_sources {
	struct tcpack_check_source {
		struct sockaddr_storage addr;	/* port zeroed; AF_UNSPEC: unknown */
		uint64_t n[TCPACK_CHECK_KIND_MAX];
	} src[TCPACK_CHECK_SOURCES];
	unsigned int len;
	uint64_t other;
};

/** tcpack_check_sources_add() - @n checks of @kind from @sa (NULL: unknown). */
void tcpack_check_sources_add(struct tcpack_check_sources *t, const struct sockaddr *sa,
			      unsigned int kind, uint64_t n);

#define TCPACK_MODES 4			/* enum tcpack_mode */

/* Upper bounds of the histograms' buckets; one more bucket above the last. */
#define TCPACK_XCHG_BUCKETS 17		/* exchange time, microseconds */
#define TCPACK_XCHG_BOUNDS_US { 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, \
				100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 }
#define TCPACK_SIZE_BUCKETS 9		/* message size, bytes */
#define TCPACK_SIZE_BOUNDS { 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576 }

struct tcpack_histogram_xchg {
	_Atomic uint64_t bucket[TCPACK_XCHG_BUCKETS + 1];	/* not cumulative */
	_Atomic uint64_t sum_us;
};

struct tcpack_histogram_size {
	_Atomic uint64_t bucket[TCPACK_SIZE_BUCKETS + 1];
	_Atomic uint64_t sum;
};

struct tcpack_stats {
	_Atomic uint64_t conns_now;
	_Atomic uint64_t conns_total;			/* accepted and served */
	_Atomic uint64_t closed[TCPACK_CLOSE_MAX];
	_Atomic uint64_t messages[TCPACK_MODES];
	_Atomic uint64_t replies[TCPACK_MODES];		/* replies and error replies queued */
	_Atomic uint64_t bytes_in[TCPACK_MODES];
	_Atomic uint64_t bytes_out[TCPACK_MODES];
	_Atomic uint64_t errors[TCPACK_ERR_KIND_MAX];
	_Atomic uint64_t checks[TCPACK_CHECK_KIND_MAX];
	_Atomic uint64_t accept_pauses;			/* max-connections reached */
	/* io_uring only */
	_Atomic uint64_t enobufs;			/* receives out of provided buffers */
	_Atomic uint64_t rearms;			/* multishot receives armed again */
	_Atomic uint64_t cq_overflows;
	_Atomic uint64_t waits, completions;		/* completions per wait: their ratio */
	struct tcpack_histogram_xchg xchg;		/* first byte in to last reply byte out */
	struct tcpack_histogram_size msg_size;
};

static inline void tcpack_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void tcpack_stat_sub(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

static inline uint64_t tcpack_stat_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/** tcpack_stat_sum() - the sum of @n counters from @c. */
static inline uint64_t tcpack_stat_sum(const _Atomic uint64_t *c, unsigned int n)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < n; i++)
		sum += tcpack_stat_get(&c[i]);
	return sum;
}

/** tcpack_stats_observe_xchg() - one exchange took @us microseconds. */
void tcpack_stats_observe_xchg(struct tcpack_stats *s, uint64_t us);

/** tcpack_stats_observe_size() - one message of @bytes. */
void tcpack_stats_observe_size(struct tcpack_stats *s, uint64_t bytes);

/**
 * tcpack_stats_add_all() - add every counter of @from to @to (plain
 * counters, read once each): what a scrape sums over the workers.
 */
void tcpack_stats_add_all(struct tcpack_stats *to, const struct tcpack_stats *from);
