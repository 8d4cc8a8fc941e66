/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HAProxy's agent check (configuration.txt, "agent-check"): the balancer
 * connects to the agent port, reads one line of words and applies them to
 * the server. tcpack says its operational state ("up", or "down" with a
 * reason after '#'), its administrative one ("ready", "drain", "maint") and,
 * when ready, a weight in percent of the configured one that falls as the
 * connections fill up to max-connections. Pure: the caller does the I/O.
 */

#include <stdbool.h>
#include <stddef.h>

#include "tcpack/config.h"

/* What the answer is made of. */
struct tcpack_agent_state {
	enum tcpack_admin_state admin;	/* the operator's admin-state */
	bool stopping;			/* SIGTERM: drain-grace, then the stop */
	unsigned long conns;		/* connections served now, all workers */
	unsigned long max_conns;	/* max-connections in force */
	int stuck_worker;		/* a worker whose loop stopped running, or -1 */
};

/* The longest answer tcpack_agent_reply() writes, its NUL included. */
#define TCPACK_AGENT_REPLY_MAX 64

/**
 * tcpack_agent_weight() - the weight in percent: the share of
 * max-connections still free, rounded down, at least 1 (a full host stays
 * in rotation: its kernel queues what the balancer sends).
 */
unsigned int tcpack_agent_weight(unsigned long conns, unsigned long max_conns);

/**
 * tcpack_agent_reply() - the line to send, '\n' included, into @buf
 * (TCPACK_AGENT_REPLY_MAX bytes): "down#worker N not responding", else
 * "up maint", else "up drain" (admin drain, or stopping), else
 * "up ready N%".
 * Return: its length.
 */
size_t tcpack_agent_reply(const struct tcpack_agent_state *st, char *buf);

/** tcpack_agent_drains() - whether the answer to @st tells the balancer to drain. */
bool tcpack_agent_drains(const struct tcpack_agent_state *st);
