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

#include "conn-fixture.h"
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
	struct conn_fixture f;
	struct tcpack_conn *c = &f.conn;
	const uint8_t *p = (const uint8_t *)"x";

	conn_fixture_config(&f, TCPACK_MODE_LINE);
	tcpack_log_setup(LOG_ERR, 0);
	conn_fixture_open(&f);
	assert_int_equal(tcpack_conn_output(c, &p), 0);
	tcpack_conn_input(c, (const uint8_t *)"partial", 7);
	assert_int_equal(tcpack_conn_output(c, &p), 0);
	tcpack_conn_eof(c);
	assert_int_equal(tcpack_conn_output(c, &p), 0);
	assert_int_equal(c->phase, TCPACK_CONN_PEER_DONE);
	conn_fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conn_output_with_nothing_ever_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
