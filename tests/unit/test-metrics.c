// SPDX-License-Identifier: MIT
/*
 * The exposition and what feeds it: histogram buckets at their bounds,
 * cumulative in the text, counters summed over workers, check sources
 * bounded, and every family rendered with its HELP and TYPE.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/metrics.h"
#include "tcpack/stats.h"

static char *render(const struct tcpack_stats *sum, unsigned int features)
{
	static const uint64_t conns[2] = { 3, 4 };
	struct tcpack_metrics_view v = {
		.sum = sum, .worker_conns = conns, .n_workers = 2, .version = "9.9",
		.engine = "io_uring", .engine_reason = "auto", .features = features,
		.max_conns = 100, .admin = TCPACK_ADMIN_DRAIN, .agent_checks = 5,
		.log_suppressed = 6, .start_time = 1700000000.25,
	};
	size_t len;
	char *text = tcpack_metrics_render(&v, &len);
	char *z;

	assert_non_null(text);
	z = malloc(len + 1);
	assert_non_null(z);
	memcpy(z, text, len);
	z[len] = '\0';
	free(text);
	return z;
}

static void assert_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p += n;
	}
	fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_histogram_buckets_take_their_upper_bound(void **state)
{
	struct tcpack_stats s = { 0 };

	(void)state;
	tcpack_stats_observe_xchg(&s, 0);
	tcpack_stats_observe_xchg(&s, 50);	/* le 50 us: the first bucket */
	tcpack_stats_observe_xchg(&s, 51);	/* the second */
	tcpack_stats_observe_xchg(&s, 10000000);	/* le 10 s: the last bounded one */
	tcpack_stats_observe_xchg(&s, 10000001);	/* +Inf */
	assert_int_equal(tcpack_stat_get(&s.xchg.bucket[0]), 2);
	assert_int_equal(tcpack_stat_get(&s.xchg.bucket[1]), 1);
	assert_int_equal(tcpack_stat_get(&s.xchg.bucket[TCPACK_XCHG_BUCKETS - 1]), 1);
	assert_int_equal(tcpack_stat_get(&s.xchg.bucket[TCPACK_XCHG_BUCKETS]), 1);
	assert_int_equal(tcpack_stat_get(&s.xchg.sum_us), 20000102);

	tcpack_stats_observe_size(&s, 16);
	tcpack_stats_observe_size(&s, 17);
	tcpack_stats_observe_size(&s, 2000000);
	assert_int_equal(tcpack_stat_get(&s.msg_size.bucket[0]), 1);
	assert_int_equal(tcpack_stat_get(&s.msg_size.bucket[1]), 1);
	assert_int_equal(tcpack_stat_get(&s.msg_size.bucket[TCPACK_SIZE_BUCKETS]), 1);
}

static void test_exposition_sums_and_labels(void **state)
{
	struct tcpack_stats w0 = { 0 }, w1 = { 0 }, sum = { 0 };
	char *text;

	(void)state;
	tcpack_stat_add(&w0.messages[0], 2);
	tcpack_stat_add(&w1.messages[0], 3);
	tcpack_stat_add(&w1.bytes_in[1], 7);
	tcpack_stat_add(&w0.closed[TCPACK_CLOSE_IDLE], 1);
	tcpack_stat_add(&w1.checks[TCPACK_CHECK_SILENT], 4);
	tcpack_stat_add(&w0.errors[TCPACK_ERR_PROXY], 1);
	tcpack_stats_observe_xchg(&w0, 40);
	tcpack_stats_observe_xchg(&w1, 2000);
	tcpack_stats_add_all(&sum, &w0);
	tcpack_stats_add_all(&sum, &w1);
	text = render(&sum, TCPACK_FEATURE_RECV_LIMIT | TCPACK_FEATURE_MULTISHOT_ACCEPT);

	assert_line(text, "tcpack_build_info{version=\"9.9\",engine=\"io_uring\",engine_reason=\"auto\",receive_limit=\"yes\",receive_bundles=\"no\",multishot_accept=\"yes\",unread_report=\"no\"} 1");
	assert_line(text, "tcpack_messages_total{mode=\"oneshot\"} 5");
	assert_line(text, "tcpack_received_bytes_total{mode=\"line\"} 7");
	assert_line(text, "tcpack_connections_closed_total{reason=\"idle_timeout\"} 1");
	assert_line(text, "tcpack_health_checks_total{kind=\"silent\"} 4");
	assert_line(text, "tcpack_health_checks_total{kind=\"agent\"} 5");
	assert_line(text, "tcpack_errors_total{kind=\"proxy_header\"} 1");
	assert_line(text, "tcpack_connections_open 7");
	assert_line(text, "tcpack_worker_connections_open{worker=\"1\"} 4");
	assert_line(text, "tcpack_admin_state{state=\"drain\"} 1");
	assert_line(text, "tcpack_admin_state{state=\"ready\"} 0");
	assert_line(text, "tcpack_log_lines_suppressed_total 6");
	assert_line(text, "tcpack_start_time_seconds 1700000000.250");
	/* Cumulative, in seconds, and +Inf equal to the count. */
	assert_line(text, "tcpack_exchange_duration_seconds_bucket{le=\"0.00005\"} 1");
	assert_line(text, "tcpack_exchange_duration_seconds_bucket{le=\"0.001\"} 1");
	assert_line(text, "tcpack_exchange_duration_seconds_bucket{le=\"0.0025\"} 2");
	assert_line(text, "tcpack_exchange_duration_seconds_bucket{le=\"10\"} 2");
	assert_line(text, "tcpack_exchange_duration_seconds_bucket{le=\"+Inf\"} 2");
	assert_line(text, "tcpack_exchange_duration_seconds_sum 0.00204");
	assert_line(text, "tcpack_exchange_duration_seconds_count 2");
	assert_line(text, "tcpack_message_size_bytes_bucket{le=\"1048576\"} 0");
	free(text);
}

static void test_every_family_has_help_and_type_once(void **state)
{
	struct tcpack_stats sum = { 0 };
	const char *const *names = tcpack_metrics_names();
	char *text = render(&sum, 0);
	char want[160];

	(void)state;
	for (; *names; names++) {
		const char *type;

		snprintf(want, sizeof(want), "# HELP %s ", *names);
		assert_non_null(strstr(text, want));
		assert_null(strstr(strstr(text, want) + 1, want));
		snprintf(want, sizeof(want), "# TYPE %s ", *names);
		type = strstr(text, want);
		assert_non_null(type);
		type += strlen(want);
		if (strncmp(type, "counter", 7) == 0)
			assert_non_null(strstr(*names, "_total"));
	}
	free(text);
}

static void test_check_sources_by_address_bounded(void **state)
{
	struct tcpack_check_sources t = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(1) };

	(void)state;
	a.sin_addr.s_addr = htonl(0xc0000201);
	tcpack_check_sources_add(&t, (struct sockaddr *)&a, TCPACK_CHECK_SILENT, 1);
	a.sin_port = htons(2);	/* another port, the same source */
	tcpack_check_sources_add(&t, (struct sockaddr *)&a, TCPACK_CHECK_RESET, 2);
	tcpack_check_sources_add(&t, NULL, TCPACK_CHECK_AGENT, 1);
	assert_int_equal(t.len, 2);
	assert_int_equal(t.src[0].n[TCPACK_CHECK_SILENT], 1);
	assert_int_equal(t.src[0].n[TCPACK_CHECK_RESET], 2);
	assert_int_equal(((struct sockaddr_in *)&t.src[0].addr)->sin_port, 0);
	assert_int_equal(t.src[1].addr.ss_family, AF_UNSPEC);
	for (uint32_t i = 0; i < 2 * TCPACK_CHECK_SOURCES; i++) {
		a.sin_addr.s_addr = htonl(0x0a000000 + i);
		tcpack_check_sources_add(&t, (struct sockaddr *)&a, TCPACK_CHECK_SILENT, 1);
	}
	assert_int_equal(t.len, TCPACK_CHECK_SOURCES);
	assert_int_equal(t.other, 2 * TCPACK_CHECK_SOURCES - (TCPACK_CHECK_SOURCES - 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_histogram_buckets_take_their_upper_bound),
		cmocka_unit_test(test_exposition_sums_and_labels),
		cmocka_unit_test(test_every_family_has_help_and_type_once),
		cmocka_unit_test(test_check_sources_by_address_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
