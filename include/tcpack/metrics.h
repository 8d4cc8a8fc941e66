/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Prometheus text exposition format (version 0.0.4) of tcpack's
 * counters: every metric with its HELP and TYPE lines, names by Prometheus's
 * conventions (tcpack_ prefix, _total counters, seconds and bytes). Pure:
 * renders what it is given; the supervisor gathers it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpack/config.h"
#include "tcpack/stats.h"

#define TCPACK_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What one scrape shows. */
struct tcpack_metrics_view {
	const struct tcpack_stats *sum;		/* every worker's, summed */
	const uint64_t *worker_conns;		/* connections open, per worker */
	unsigned int n_workers;
	const char *version;
	const char *engine;			/* "io_uring" or "epoll" */
	const char *engine_reason;		/* "configured", "auto", "io_uring_refused" */
	unsigned int features;			/* TCPACK_FEATURE_* the engine found */
	uint64_t max_conns;
	enum tcpack_admin_state admin;
	bool stopping;
	uint64_t agent_checks;			/* agent checks answered */
	uint64_t log_suppressed;		/* log lines the rate limit dropped */
	double start_time;			/* seconds since the epoch */
};

/* Kernel features the engine uses, found by probing at start-up. */
enum {
	TCPACK_FEATURE_RECV_LIMIT = 1u << 0,	/* a multishot receive ends after N bytes */
	TCPACK_FEATURE_BUNDLE = 1u << 1,	/* receive bundles */
	TCPACK_FEATURE_MULTISHOT_ACCEPT = 1u << 2,
	TCPACK_FEATURE_UNREAD = 1u << 3,	/* a receive says whether bytes were left unread */
};

/**
 * tcpack_metrics_render() - the exposition of @v.
 * Return: a malloc'd text of *@ret_len bytes (not NUL-terminated), or NULL
 * when out of memory.
 */
char *tcpack_metrics_render(const struct tcpack_metrics_view *v, size_t *ret_len);

/**
 * tcpack_metrics_names() - every metric family's name, in the order
 * rendered, NULL-terminated: what the documentation must list.
 */
const char *const *tcpack_metrics_names(void);
