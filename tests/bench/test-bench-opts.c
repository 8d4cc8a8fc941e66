// SPDX-License-Identifier: MIT
/*
 * The command line: defaults, the target forms, the loopback-only rule, the
 * client engine and the combinations refused before anything runs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "opts.h"

#define PARSE(o, err, ...) parse_args(o, err, (char *[]){ "tcpack-bench", __VA_ARGS__, NULL })

static int parse_args(struct bench_opts *o, char *err, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	memset(o, 0, sizeof(*o));
	return bench_opts_parse(argc, argv, o, err);
}

static void assert_refused(const char *why, char **argv)
{
	struct bench_opts o;
	char err[BENCH_ERR_MAX];

	assert_int_equal(parse_args(&o, err, argv), -EINVAL);
	assert_non_null(strstr(err, why));
	bench_opts_deinit(&o);
}

#define REFUSED(why, ...) assert_refused(why, (char *[]){ "tcpack-bench", __VA_ARGS__, NULL })

static void test_defaults(void **state)
{
	struct bench_opts o;
	char err[BENCH_ERR_MAX];

	assert_int_equal(parse_args(&o, err, (char *[]){ "tcpack-bench", NULL }), 0);
	assert_string_equal(o.target, "127.0.0.1:12345");
	assert_int_equal(o.mode, BENCH_ONESHOT);
	assert_int_equal(o.client, BENCH_CLIENT_URING);
	assert_int_equal(o.connections, 1);
	assert_int_equal(o.pipeline, 1);
	assert_int_equal(o.size, 64);
	assert_true(o.duration == 10.0);
	assert_int_equal(o.expect_len, 24);
	assert_memory_equal(o.expect, "服务器已收到数据", 24);
	bench_opts_deinit(&o);
}

static void test_target_forms(void **state)
{
	struct bench_opts o;
	char err[BENCH_ERR_MAX];

	assert_int_equal(PARSE(&o, err, "[::1]:8080"), 0);
	assert_string_equal(o.target, "[::1]:8080");
	bench_opts_deinit(&o);
	assert_int_equal(PARSE(&o, err, "localhost:9"), 0);
	assert_string_equal(o.target, "127.0.0.1:9");
	bench_opts_deinit(&o);
	assert_int_equal(PARSE(&o, err, "--host", "127.0.0.5", "--port", "77"), 0);
	assert_string_equal(o.target, "127.0.0.5:77");
	bench_opts_deinit(&o);
	assert_int_equal(PARSE(&o, err, "--host", "::1"), 0);
	assert_string_equal(o.target, "[::1]:12345");
	bench_opts_deinit(&o);
	REFUSED("not ADDR:PORT", "[::1]");
	REFUSED("not ADDR:PORT", "::1:80");
	REFUSED("either as ADDR:PORT", "127.0.0.1:1", "--port", "2");
	REFUSED("not a port", "127.0.0.1:0");
	REFUSED("not a port", "127.0.0.1:65536");
}

static void test_loopback_only_unless_allowed(void **state)
{
	struct bench_opts o;
	char err[BENCH_ERR_MAX];

	REFUSED("not a loopback address", "192.0.2.1:80");
	REFUSED("not a loopback address", "[2001:db8::1]:80");
	REFUSED("not a loopback address", "[::ffff:10.0.0.1]:80");
	REFUSED("not a numeric address", "--host", "example.com");
	assert_int_equal(PARSE(&o, err, "--allow-remote", "192.0.2.1:80"), 0);
	bench_opts_deinit(&o);
	assert_int_equal(PARSE(&o, err, "127.255.0.3:80"), 0);
	bench_opts_deinit(&o);
	assert_int_equal(PARSE(&o, err, "[::ffff:127.0.0.1]:80"), 0);
	bench_opts_deinit(&o);
}

static void test_values(void **state)
{
	struct bench_opts o;
	char err[BENCH_ERR_MAX];

	assert_int_equal(PARSE(&o, err, "-m", "line", "-e", "A\\x42\\r\\n", "-s", "4K", "-d", "500ms",
			       "-r", "20k", "-c", "3", "-t", "8", "-P", "16", "-w", "1min"), 0);
	assert_int_equal(o.mode, BENCH_LINE);
	assert_int_equal(o.expect_len, 4);
	assert_memory_equal(o.expect, "AB\r\n", 4);
	assert_int_equal(o.size, 4096);
	assert_true(o.duration == 0.5);
	assert_true(o.rate == 20000.0);
	assert_int_equal(o.threads, 3);		/* no more threads than connections */
	assert_int_equal(o.pipeline, 16);
	assert_true(o.warmup == 60.0);
	bench_opts_deinit(&o);
	/* --requests alone: no time limit. */
	assert_int_equal(PARSE(&o, err, "-n", "1000", "--mode=echo"), 0);
	assert_true(o.duration == 0.0);
	assert_int_equal(o.requests, 1000);
	bench_opts_deinit(&o);
}

static void test_client_engine(void **state)
{
	struct bench_opts o;
	char err[BENCH_ERR_MAX];

	assert_int_equal(PARSE(&o, err, "--client", "epoll", "-m", "line"), 0);
	assert_int_equal(o.client, BENCH_CLIENT_EPOLL);
	assert_string_equal(bench_client_name(o.client), "epoll");
	bench_opts_deinit(&o);
	assert_int_equal(PARSE(&o, err, "--client=uring"), 0);
	assert_int_equal(o.client, BENCH_CLIENT_URING);
	assert_string_equal(bench_client_name(o.client), "uring");
	bench_opts_deinit(&o);
	/* The last one given counts, as for every option. */
	assert_int_equal(PARSE(&o, err, "--client", "uring", "--client", "epoll"), 0);
	assert_int_equal(o.client, BENCH_CLIENT_EPOLL);
	bench_opts_deinit(&o);
	REFUSED("--client: 'kqueue' is not uring or epoll", "--client", "kqueue");
	REFUSED("--client: 'EPOLL' is not uring or epoll", "--client", "EPOLL");
	REFUSED("--client: '' is not uring or epoll", "--client=");
	REFUSED("needs a value", "--client");
}

static void test_refused_combinations(void **state)
{
	REFUSED("line mode needs a non-empty reply", "-m", "line", "-e", "");
	REFUSED("oneshot and line modes only", "-m", "echo", "-e", "x");
	REFUSED("oneshot sends one message", "-P", "2");
	REFUSED("IPv4 loopback target", "--source-addrs", "4", "[::1]:80");
	REFUSED("unknown or truncated escape", "-e", "\\q");
	REFUSED("unknown or truncated escape", "-e", "\\x4");
	REFUSED("needs a value", "-c");
	REFUSED("unknown option", "--frobnicate");
	REFUSED("--size", "-s", "0");
	REFUSED("--size", "-s", "32M");
	REFUSED("--connections", "-c", "x");
	REFUSED("--duration", "-d", "-1");
	REFUSED("--rate", "-r", "0");
	REFUSED("over 4 GiB", "-m", "echo", "-c", "100000", "-P", "64", "-s", "1M");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_target_forms),
		cmocka_unit_test(test_loopback_only_unless_allowed),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_client_engine),
		cmocka_unit_test(test_refused_combinations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
