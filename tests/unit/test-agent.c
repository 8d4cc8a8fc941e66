// SPDX-License-Identifier: MIT
/*
 * The agent check's answer: HAProxy's words for each state, and a weight
 * that falls as connections fill up to max-connections.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/agent.h"

static const char *reply(const struct tcpack_agent_state *st, char *buf)
{
	size_t n = tcpack_agent_reply(st, buf);

	assert_int_equal(n, strlen(buf));
	assert_true(n > 0 && buf[n - 1] == '\n');
	return buf;
}

static void test_weight_is_the_free_share_rounded_down_at_least_one(void **state)
{
	(void)state;
	assert_int_equal(tcpack_agent_weight(0, 10000), 100);
	assert_int_equal(tcpack_agent_weight(1, 10000), 99);
	assert_int_equal(tcpack_agent_weight(15, 20), 25);
	assert_int_equal(tcpack_agent_weight(5, 20), 75);
	assert_int_equal(tcpack_agent_weight(19, 20), 5);
	assert_int_equal(tcpack_agent_weight(9999, 10000), 1);
	assert_int_equal(tcpack_agent_weight(20, 20), 1);
	assert_int_equal(tcpack_agent_weight(30, 20), 1);	/* parked past the limit */
	assert_int_equal(tcpack_agent_weight(0, 0), 100);
}

static void test_ready_host_says_up_ready_and_its_weight(void **state)
{
	struct tcpack_agent_state st = { .admin = TCPACK_ADMIN_READY, .conns = 15, .max_conns = 20,
					 .stuck_worker = -1 };
	char buf[TCPACK_AGENT_REPLY_MAX];

	(void)state;
	assert_string_equal(reply(&st, buf), "up ready 25%\n");
	assert_false(tcpack_agent_drains(&st));
	st.conns = 0;
	assert_string_equal(reply(&st, buf), "up ready 100%\n");
}

static void test_drain_by_operator_or_by_stopping(void **state)
{
	struct tcpack_agent_state st = { .admin = TCPACK_ADMIN_DRAIN, .max_conns = 20,
					 .stuck_worker = -1 };
	char buf[TCPACK_AGENT_REPLY_MAX];

	(void)state;
	assert_string_equal(reply(&st, buf), "up drain\n");
	assert_true(tcpack_agent_drains(&st));
	st.admin = TCPACK_ADMIN_READY;
	st.stopping = true;
	assert_string_equal(reply(&st, buf), "up drain\n");
	assert_true(tcpack_agent_drains(&st));
}

static void test_maint_wins_over_drain_and_down_over_all(void **state)
{
	struct tcpack_agent_state st = { .admin = TCPACK_ADMIN_MAINT, .stopping = true,
					 .max_conns = 20, .stuck_worker = -1 };
	char buf[TCPACK_AGENT_REPLY_MAX];

	(void)state;
	assert_string_equal(reply(&st, buf), "up maint\n");
	assert_false(tcpack_agent_drains(&st));
	st.stuck_worker = 3;
	assert_string_equal(reply(&st, buf), "down#worker 3 not responding\n");
	assert_false(tcpack_agent_drains(&st));
	st.admin = TCPACK_ADMIN_READY;
	st.stopping = false;
	assert_string_equal(reply(&st, buf), "down#worker 3 not responding\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weight_is_the_free_share_rounded_down_at_least_one),
		cmocka_unit_test(test_ready_host_says_up_ready_and_its_weight),
		cmocka_unit_test(test_drain_by_operator_or_by_stopping),
		cmocka_unit_test(test_maint_wins_over_drain_and_down_over_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
