/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A connection as an engine holds one, without an engine or an fd: its
 * configuration, its worker's counters, the engine's clock (ms) and the
 * connection itself, for the tests and fuzz targets that drive the
 * connection state machine by hand (tests/unit/test-conn.c,
 * tests/unit/test-regressions.c, tests/fuzz/fuzz-conn.c).
 *
 *	struct conn_fixture f;
 *
 *	conn_fixture_config(&f, TCPACK_MODE_LINE);	defaults, the clock at 1000 ms
 *	f.cfg.max_message = 16;				any changes to the configuration
 *	conn_fixture_open(&f);				the connection, accepted now
 *	...
 *	conn_fixture_close(&f);				what an engine does when it closes
 *
 * Logging is the caller's (tcpack_log_setup()).
 */

#include <string.h>

#include "tcpack/config.h"
#include "tcpack/conn.h"

struct conn_fixture {
	uint64_t now;
	struct tcpack_config cfg;
	struct tcpack_stats stats;
	struct tcpack_conn conn;
};

/* The sum of a counter array of struct tcpack_stats (over modes, kinds, reasons). */
#define STAT_SUM(arr) tcpack_stat_sum((arr), sizeof(arr) / sizeof((arr)[0]))

static inline void conn_fixture_config(struct conn_fixture *f, enum tcpack_mode mode)
{
	memset(f, 0, sizeof(*f));
	tcpack_config_init(&f->cfg);
	f->cfg.mode = mode;
	f->now = 1000;
}

static inline void conn_fixture_open(struct conn_fixture *f)
{
	tcpack_conn_init(&f->conn, -1, &f->cfg, &f->stats, &f->now);
}

/* The engine's close: the summary, then the connection's memory. */
static inline void conn_fixture_close(struct conn_fixture *f)
{
	tcpack_conn_closing(&f->conn);
	tcpack_conn_deinit(&f->conn);
}
