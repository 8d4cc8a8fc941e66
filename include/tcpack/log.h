/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Logging: structured journal entries when stderr is connected to the
 * journal ($JOURNAL_STREAM matches stderr), one line per event on stderr
 * otherwise. Levels are syslog's (LOG_ERR .. LOG_DEBUG).
 *
 * Events caused by clients go through tcpack_log_event(), which is rate
 * limited: past the configured lines per second they are dropped and
 * counted, and one "suppressed N messages" line follows when the second is
 * over. Everything else (start-up, shutdown) is never dropped.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>
#include <sys/socket.h>

/**
 * tcpack_log_setup() - choose the sink and set limits. Safe to call again
 * (on reload).
 */
void tcpack_log_setup(int max_level, unsigned int rate_limit);

/** tcpack_log_enabled() - whether @level would be written. */
bool tcpack_log_enabled(int level);

__attribute__((format(printf, 2, 3)))
void tcpack_logf(int level, const char *fmt, ...);

/*
 * The structured fields of one client event. Unset members are omitted:
 * remote == NULL, via == NULL, bytes < 0, data == NULL.
 */
struct tcpack_log_fields {
	const struct sockaddr *remote;	/* the client */
	const struct sockaddr *via;	/* the balancer it came through (PROXY protocol) */
	long long bytes;
	const char *data;	/* already escaped (tcpack_escape_log) */
	const char *mode;
};

/**
 * tcpack_log_event() - a rate-limited client event with structured fields
 * REMOTE_ADDR, REMOTE_PORT, BALANCER_ADDR, BALANCER_PORT, BYTES, TCPACK_DATA
 * and TCPACK_MODE.
 */
__attribute__((format(printf, 3, 4)))
void tcpack_log_event(int level, const struct tcpack_log_fields *f, const char *fmt, ...);

/** tcpack_log_suppressed_total() - client event lines dropped since start. */
uint64_t tcpack_log_suppressed_total(void);

/**
 * tcpack_log_flush_suppressed() - emit the "suppressed N" line if a rate
 * limit window has closed with drops. Called from the loop's timer.
 */
void tcpack_log_flush_suppressed(void);

/**
 * tcpack_log_parse_level() - "err", "warning", "notice", "info", "debug"
 * (and "error", "warn", or 3..7). Return: the level or -EINVAL.
 */
int tcpack_log_parse_level(const char *s);
const char *tcpack_log_level_name(int level);
