// SPDX-License-Identifier: MIT
/*
 * Every crash the fuzzers (tests/fuzz) found, as the smallest program that
 * showed it. Each test names what it proves and where it came from; they
 * matter most under clang's sanitizers (scripts/fuzz runs this suite in
 * build-fuzz), whose UBSan checks more than GCC's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcpack/config.h"
#include "tcpack/conn.h"
#include "tcpack/log.h"

/*
 * fuzz-conn, first input: asking a fresh connection what to send computed
 * NULL + 0 (its transmit buffer has no storage yet), undefined in C and
 * reported by clang's -fsanitize=pointer-overflow. Engines ask every
 * connection they flush, so any connection closed before its first reply
 * did it.
 */
static void conn_output_with_nothing_ever_queued(void **state)
{
	struct tcpack_config cfg;
	struct tcpack_stats stats = { 0 };
	struct tcpack_conn c = { 0 };
	uint64_t now = 1000;
	const uint8_t *p = (const uint8_t *)"x";

	tcpack_config_init(&cfg);
	cfg.mode = TCPACK_MODE_LINE;
	tcpack_log_setup(LOG_ERR, 0);
	tcpack_conn_init(&c, -1, &cfg, &stats, &now);
	assert_int_equal(tcpack_conn_output(&c, &p), 0);
	tcpack_conn_input(&c, (const uint8_t *)"partial", 7);
	assert_int_equal(tcpack_conn_output(&c, &p), 0);
	tcpack_conn_eof(&c);
	assert_int_equal(tcpack_conn_output(&c, &p), 0);
	assert_int_equal(c.phase, TCPACK_CONN_PEER_DONE);
	tcpack_conn_deinit(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conn_output_with_nothing_ever_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
