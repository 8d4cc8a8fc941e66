// SPDX-License-Identifier: MIT
/*
 * Configuration: every key with good and bad values, the config file
 * format, and the command line's precedence over the file. Invalid input
 * must always be an error that says where it came from, never a silent
 * fallback, and a failed set must leave the configuration as it was.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack-build.h"
#include "tcpack/config.h"
#include "tcpack/log.h"

#define DEFAULT_REPLY "服务器已收到数据"

/* A config with a copy to check "unchanged after failure" against. */
struct fixture {
	struct tcpack_config c;
	struct tcpack_config saved;
	char err[TCPACK_ERR_MAX];
	char path[64];		/* temp file, "" when none */
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	if (!f)
		return -1;
	tcpack_config_init(&f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->path[0])
		unlink(f->path);
	test_free(f);
	return 0;
}

static void save(struct fixture *f)
{
	memcpy(&f->saved, &f->c, sizeof(f->c));
}

static void assert_unchanged(const struct fixture *f)
{
	assert_memory_equal(&f->c, &f->saved, sizeof(f->c));
}

static void assert_set_ok(struct fixture *f, const char *key, const char *value)
{
	f->err[0] = '\0';
	print_message("%s = %s\n", key, value);
	assert_int_equal(tcpack_config_set(&f->c, key, value, f->err), 0);
}

/* The set fails with @want, leaves the config alone and says why. */
static void assert_set_fails(struct fixture *f, const char *key, const char *value, int want)
{
	print_message("%s = %s\n", key, value);
	save(f);
	f->err[0] = '\0';
	assert_int_equal(tcpack_config_set(&f->c, key, value, f->err), want);
	assert_unchanged(f);
	assert_true(strlen(f->err) > 0);
}

/*
 * Member by member: struct copies need not carry padding, so a memcmp of two
 * configs built by different paths could differ where nothing differs.
 */
static void assert_config_equal(const struct tcpack_config *a, const struct tcpack_config *b)
{
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->reply_len, b->reply_len);
	assert_memory_equal(a->reply, b->reply, a->reply_len);
	assert_int_equal(a->error_reply_len, b->error_reply_len);
	assert_memory_equal(a->error_reply, b->error_reply, a->error_reply_len);
	assert_int_equal(a->max_message, b->max_message);
	assert_int_equal(a->n_listen, b->n_listen);
	for (unsigned int i = 0; i < a->n_listen; i++) {
		assert_int_equal(a->listen[i].len, b->listen[i].len);
		assert_memory_equal(&a->listen[i].addr, &b->listen[i].addr, a->listen[i].len);
	}
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->log_data_max, b->log_data_max);
	assert_int_equal(a->log_rate_limit, b->log_rate_limit);
	assert_int_equal(a->max_connections, b->max_connections);
	assert_int_equal(a->idle_timeout_ms, b->idle_timeout_ms);
	assert_int_equal(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
	assert_int_equal(a->max_pending, b->max_pending);
	assert_int_equal(a->buffer_count, b->buffer_count);
	assert_int_equal(a->buffer_size, b->buffer_size);
	assert_string_equal(a->config_path, b->config_path);
	assert_int_equal(a->listen_set_by_args, b->listen_set_by_args);
}

static const char *addr_str(const struct tcpack_addr *a, char *buf)
{
	return tcpack_addr_format((const struct sockaddr *)&a->addr, buf);
}

/* Write @text to a new temp file; the fixture removes it. */
static const char *write_file(struct fixture *f, const char *text)
{
	int fd;

	assert_int_equal(f->path[0], '\0');
	strcpy(f->path, "/tmp/tcpack-test-config-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	return f->path;
}

/* The expected "PATH:LINE: " prefix of a load error. */
static void assert_err_prefix(const struct fixture *f, unsigned int line, const char *rest)
{
	char want[TCPACK_ERR_MAX];

	snprintf(want, sizeof(want), "%s:%u: %s", f->path, line, rest);
	if (strncmp(f->err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", f->err, want);
}

/* ---- defaults ---- */

static void test_init_sets_documented_defaults(void **state)
{
	struct fixture *f = *state;
	char buf[TCPACK_ADDR_STRLEN];

	assert_int_equal(f->c.mode, TCPACK_MODE_ONESHOT);
	assert_int_equal(f->c.reply_len, 24);
	assert_memory_equal(f->c.reply, DEFAULT_REPLY, 24);
	assert_int_equal(f->c.error_reply_len, strlen("ERR line too long\r\n"));
	assert_memory_equal(f->c.error_reply, "ERR line too long\r\n", f->c.error_reply_len);
	assert_int_equal(f->c.max_message, 1024);
	assert_int_equal(f->c.n_listen, 1);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "127.0.0.1:12345");
	assert_int_equal(f->c.listen[0].len, sizeof(struct sockaddr_in));
	assert_int_equal(f->c.log_level, LOG_INFO);
	assert_int_equal(f->c.log_data_max, 256);
	assert_int_equal(f->c.log_rate_limit, 1000);
	assert_int_equal(f->c.max_connections, 10000);
	assert_int_equal(f->c.idle_timeout_ms, 60000);
	assert_int_equal(f->c.shutdown_timeout_ms, 5000);
	assert_int_equal(f->c.max_pending, 256 * 1024);
	assert_int_equal(f->c.buffer_count, 1024);
	assert_int_equal(f->c.buffer_size, 4096);
	assert_string_equal(f->c.config_path, "");
}

/* ---- tcpack_config_set: good values ---- */

static void test_set_mode_accepts_every_mode(void **state)
{
	static const struct {
		const char *name;
		enum tcpack_mode mode;
	} modes[] = {
		{ "line", TCPACK_MODE_LINE },
		{ "echo", TCPACK_MODE_ECHO },
		{ "discard", TCPACK_MODE_DISCARD },
		{ "oneshot", TCPACK_MODE_ONESHOT },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_set_ok(f, "mode", modes[i].name);
		assert_int_equal(f->c.mode, modes[i].mode);
		assert_string_equal(tcpack_config_mode_name(modes[i].mode), modes[i].name);
	}
}

static void test_set_reply_decodes_escapes(void **state)
{
	struct fixture *f = *state;

	assert_set_ok(f, "reply", "OK\\r\\n");
	assert_int_equal(f->c.reply_len, 4);
	assert_memory_equal(f->c.reply, "OK\r\n", 4);

	assert_set_ok(f, "reply", "\\x41\\0\\t\\\"\\\\");
	assert_int_equal(f->c.reply_len, 5);
	assert_memory_equal(f->c.reply, "A\0\t\"\\", 5);

	assert_set_ok(f, "reply", DEFAULT_REPLY "\\n");
	assert_int_equal(f->c.reply_len, 25);
	assert_memory_equal(f->c.reply, DEFAULT_REPLY "\n", 25);

	assert_set_ok(f, "reply", "");
	assert_int_equal(f->c.reply_len, 0);

	assert_set_ok(f, "error-reply", "TOO LONG\\n");
	assert_int_equal(f->c.error_reply_len, 9);
	assert_memory_equal(f->c.error_reply, "TOO LONG\n", 9);
	/* Setting one text leaves the other alone. */
	assert_int_equal(f->c.reply_len, 0);
}

static void test_set_reply_accepts_exactly_max_bytes(void **state)
{
	struct fixture *f = *state;
	char *plain = malloc(TCPACK_REPLY_MAX + 1);
	char *escaped = malloc(TCPACK_REPLY_MAX * 4 + 1);

	assert_non_null(plain);
	assert_non_null(escaped);
	memset(plain, 'a', TCPACK_REPLY_MAX);
	plain[TCPACK_REPLY_MAX] = '\0';
	assert_set_ok(f, "reply", plain);
	assert_int_equal(f->c.reply_len, TCPACK_REPLY_MAX);

	for (unsigned int i = 0; i < TCPACK_REPLY_MAX; i++)
		memcpy(escaped + 4 * i, "\\x42", 4);
	escaped[TCPACK_REPLY_MAX * 4] = '\0';
	assert_set_ok(f, "error-reply", escaped);
	assert_int_equal(f->c.error_reply_len, TCPACK_REPLY_MAX);
	assert_int_equal(f->c.error_reply[TCPACK_REPLY_MAX - 1], 'B');
	free(plain);
	free(escaped);
}

static void test_set_sizes_accept_suffixes(void **state)
{
	static const struct {
		const char *key, *value;
		size_t want;
	} cases[] = {
		{ "max-message", "1", 1 },
		{ "max-message", "1000", 1000 },
		{ "max-message", "100B", 100 },
		{ "max-message", "64K", 64 * 1024 },
		{ "max-message", "2KiB", 2048 },
		{ "max-message", "1M", TCPACK_MESSAGE_MAX },
		{ "max-message", "1MiB", TCPACK_MESSAGE_MAX },
		{ "log-data-max", "0", 0 },
		{ "log-data-max", "64K", 65536 },
		{ "max-pending", "4096", 4096 },
		{ "max-pending", "256K", 256 * 1024 },
		{ "max-pending", "1024M", 1u << 30 },
		{ "buffer-size", "512", 512 },
		{ "buffer-size", "16K", 16384 },
		{ "buffer-size", "1M", 1u << 20 },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got;

		assert_set_ok(f, cases[i].key, cases[i].value);
		if (strcmp(cases[i].key, "max-message") == 0)
			got = f->c.max_message;
		else if (strcmp(cases[i].key, "log-data-max") == 0)
			got = f->c.log_data_max;
		else if (strcmp(cases[i].key, "max-pending") == 0)
			got = f->c.max_pending;
		else
			got = f->c.buffer_size;
		assert_int_equal(got, cases[i].want);
	}
}

static void test_set_plain_numbers(void **state)
{
	struct fixture *f = *state;

	assert_set_ok(f, "log-rate-limit", "0");
	assert_int_equal(f->c.log_rate_limit, 0);
	assert_set_ok(f, "log-rate-limit", "1000000");
	assert_int_equal(f->c.log_rate_limit, 1000000);
	assert_set_ok(f, "max-connections", "1");
	assert_int_equal(f->c.max_connections, 1);
	assert_set_ok(f, "max-connections", "1000000");
	assert_int_equal(f->c.max_connections, 1000000);
	assert_set_ok(f, "buffer-count", "16");
	assert_int_equal(f->c.buffer_count, 16);
	assert_set_ok(f, "buffer-count", "32768");
	assert_int_equal(f->c.buffer_count, 32768);
	assert_set_ok(f, "buffer-count", "256");
	assert_int_equal(f->c.buffer_count, 256);
}

static void test_set_durations_with_units(void **state)
{
	static const struct {
		const char *value;
		uint64_t want_ms;
	} cases[] = {
		{ "0", 0 },
		{ "30", 30000 },		/* bare number: seconds */
		{ "500ms", 500 },
		{ "0ms", 0 },
		{ "10s", 10000 },
		{ "10sec", 10000 },
		{ "2m", 120000 },
		{ "2min", 120000 },
		{ "1h", 3600000 },
		{ "24h", 86400000 },		/* the maximum */
		{ "86400000ms", 86400000 },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_set_ok(f, "idle-timeout", cases[i].value);
		assert_int_equal(f->c.idle_timeout_ms, cases[i].want_ms);
	}
	assert_set_ok(f, "shutdown-timeout", "1h");
	assert_int_equal(f->c.shutdown_timeout_ms, 3600000);
	assert_set_ok(f, "shutdown-timeout", "250ms");
	assert_int_equal(f->c.shutdown_timeout_ms, 250);
	assert_set_ok(f, "shutdown-timeout", "0");
	assert_int_equal(f->c.shutdown_timeout_ms, 0);
}

static void test_set_log_level_names_and_numbers(void **state)
{
	static const struct {
		const char *value;
		int want;
	} cases[] = {
		{ "err", LOG_ERR }, { "error", LOG_ERR },
		{ "warning", LOG_WARNING }, { "warn", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
		{ "3", LOG_ERR }, { "4", LOG_WARNING }, { "5", LOG_NOTICE },
		{ "6", LOG_INFO }, { "7", LOG_DEBUG },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_set_ok(f, "log-level", cases[i].value);
		assert_int_equal(f->c.log_level, cases[i].want);
	}
	for (int level = LOG_ERR; level <= LOG_DEBUG; level++)
		assert_int_equal(tcpack_log_parse_level(tcpack_log_level_name(level)), level);
}

static void test_set_listen_appends_ipv4_and_ipv6(void **state)
{
	struct fixture *f = *state;
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;
	char buf[TCPACK_ADDR_STRLEN];

	assert_set_ok(f, "listen", "0.0.0.0:80");
	assert_int_equal(f->c.n_listen, 2);
	in4 = (const struct sockaddr_in *)&f->c.listen[1].addr;
	assert_int_equal(in4->sin_family, AF_INET);
	assert_int_equal(ntohs(in4->sin_port), 80);
	assert_int_equal(in4->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(f->c.listen[1].len, sizeof(struct sockaddr_in));

	assert_set_ok(f, "listen", "[::1]:8080");
	assert_int_equal(f->c.n_listen, 3);
	in6 = (const struct sockaddr_in6 *)&f->c.listen[2].addr;
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 8080);
	assert_memory_equal(&in6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));
	assert_int_equal(f->c.listen[2].len, sizeof(struct sockaddr_in6));

	/* Port 0 asks the kernel for one; 65535 is the last. */
	assert_set_ok(f, "listen", "127.0.0.1:0");
	assert_set_ok(f, "listen", "[2001:db8::7]:65535");
	assert_int_equal(f->c.n_listen, 5);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "127.0.0.1:12345");
	assert_string_equal(addr_str(&f->c.listen[3], buf), "127.0.0.1:0");
	assert_string_equal(addr_str(&f->c.listen[4], buf), "[2001:db8::7]:65535");
}

static void test_set_listen_repeatable_up_to_max(void **state)
{
	struct fixture *f = *state;
	char value[32], buf[TCPACK_ADDR_STRLEN];

	while (f->c.n_listen < TCPACK_LISTEN_MAX) {
		snprintf(value, sizeof(value), "10.0.0.%u:%u", f->c.n_listen, 1000 + f->c.n_listen);
		assert_set_ok(f, "listen", value);
	}
	assert_int_equal(f->c.n_listen, TCPACK_LISTEN_MAX);
	assert_string_equal(addr_str(&f->c.listen[TCPACK_LISTEN_MAX - 1], buf), "10.0.0.15:1015");

	assert_set_fails(f, "listen", "10.0.0.99:99", -E2BIG);
	assert_int_equal(f->c.n_listen, TCPACK_LISTEN_MAX);
	/* A bad address is still reported as bad, not as one too many. */
	assert_set_fails(f, "listen", "nope", -EINVAL);
}

static void test_set_listen_with_proxy_protocol(void **state)
{
	struct fixture *f = *state;
	char buf[TCPACK_ADDR_STRLEN];

	assert_int_equal(f->c.listen_proxy[0], TCPACK_PROXY_OFF);
	assert_set_ok(f, "listen", "0.0.0.0:80 proxy-protocol=v2");
	assert_set_ok(f, "listen", "[::1]:81 proxy-protocol=v1");
	assert_set_ok(f, "listen", "127.0.0.1:82 proxy-protocol=any");
	assert_set_ok(f, "listen", "127.0.0.1:83 proxy-protocol=off");
	assert_int_equal(f->c.n_listen, 5);
	assert_int_equal(f->c.listen_proxy[1], TCPACK_PROXY_V2);
	assert_int_equal(f->c.listen_proxy[2], TCPACK_PROXY_V1);
	assert_int_equal(f->c.listen_proxy[3], TCPACK_PROXY_ANY);
	assert_int_equal(f->c.listen_proxy[4], TCPACK_PROXY_OFF);
	assert_string_equal(addr_str(&f->c.listen[1], buf), "0.0.0.0:80");
	assert_string_equal(addr_str(&f->c.listen[2], buf), "[::1]:81");

	/* Anything else after the address is an error naming it. */
	assert_set_fails(f, "listen", "0.0.0.0:80 proxy-protocol=v3", -EINVAL);
	assert_non_null(strstr(f->err, "'v3'"));
	assert_set_fails(f, "listen", "0.0.0.0:80 proxy=v2", -EINVAL);
	assert_non_null(strstr(f->err, "unknown listen option"));
	assert_set_fails(f, "listen", "0.0.0.0:80  proxy-protocol=v2", -EINVAL);
	assert_set_fails(f, "listen", "0.0.0.0:80 proxy-protocol=", -EINVAL);
	assert_set_fails(f, "listen", "nope proxy-protocol=v2", -EINVAL);
	assert_non_null(strstr(f->err, "'nope'"));
	assert_int_equal(f->c.n_listen, 5);
}

static void test_set_agent_listen_and_admin_state(void **state)
{
	struct fixture *f = *state;
	char buf[TCPACK_ADDR_STRLEN];

	assert_int_equal(f->c.agent_listen.len, 0);
	assert_int_equal(f->c.admin_state, TCPACK_ADMIN_READY);
	assert_int_equal(f->c.drain_grace_ms, 5000);

	assert_set_ok(f, "agent-listen", "127.0.0.1:12346");
	assert_string_equal(addr_str(&f->c.agent_listen, buf), "127.0.0.1:12346");
	assert_set_ok(f, "agent-listen", "off");
	assert_int_equal(f->c.agent_listen.len, 0);
	assert_set_fails(f, "agent-listen", "localhost:1", -EINVAL);

	assert_set_ok(f, "admin-state", "drain");
	assert_int_equal(f->c.admin_state, TCPACK_ADMIN_DRAIN);
	assert_set_ok(f, "admin-state", "maint");
	assert_int_equal(f->c.admin_state, TCPACK_ADMIN_MAINT);
	assert_set_ok(f, "admin-state", "ready");
	assert_int_equal(f->c.admin_state, TCPACK_ADMIN_READY);
	assert_set_fails(f, "admin-state", "down", -EINVAL);
	assert_non_null(strstr(f->err, "ready, drain or maint"));

	assert_set_ok(f, "drain-grace", "0");
	assert_int_equal(f->c.drain_grace_ms, 0);
	assert_set_ok(f, "drain-grace", "1500ms");
	assert_int_equal(f->c.drain_grace_ms, 1500);
	assert_set_fails(f, "drain-grace", "2h", -E2BIG);
}

/* ---- tcpack_config_set: errors ---- */

static void test_set_unknown_key(void **state)
{
	static const char *const keys[] = {
		"bogus", "", "Mode", "mode ", "config", "help", "max_message", "listen-addr",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_set_fails(f, keys[i], "1", -ENOENT);
	assert_string_equal(f->err, "unknown key");
}

static void test_set_mode_rejects_unknown_mode(void **state)
{
	struct fixture *f = *state;

	assert_set_fails(f, "mode", "fast", -EINVAL);
	assert_non_null(strstr(f->err, "fast"));
	assert_set_fails(f, "mode", "", -EINVAL);
	assert_set_fails(f, "mode", "LINE", -EINVAL);
	assert_set_fails(f, "mode", "line ", -EINVAL);
}

static void test_set_rejects_bad_numbers(void **state)
{
	static const char *const keys[] = {
		"max-message", "log-data-max", "log-rate-limit", "max-connections",
		"idle-timeout", "shutdown-timeout", "max-pending", "buffer-count", "buffer-size",
	};
	static const char *const bad[] = {
		"", "abc", "-1", "+5", " 5", "5 ", "1.5", "0x10", "1e3", "5 K", "K", "5k", "5KB",
		"5 s", "5S", "5d", "5us",
	};
	struct fixture *f = *state;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
			assert_set_fails(f, keys[k], bad[b], -EINVAL);

	/* Units belong to their kind of value only. */
	assert_set_fails(f, "max-connections", "1K", -EINVAL);
	assert_set_fails(f, "buffer-count", "1K", -EINVAL);
	assert_set_fails(f, "log-rate-limit", "10s", -EINVAL);
	assert_set_fails(f, "max-message", "10s", -EINVAL);
	assert_set_fails(f, "idle-timeout", "10K", -EINVAL);
}

static void test_set_rejects_out_of_range(void **state)
{
	static const struct {
		const char *key, *value;
	} cases[] = {
		{ "max-message", "0" },
		{ "max-message", "1048577" },
		{ "max-message", "1025K" },
		{ "max-message", "2M" },
		{ "log-data-max", "65537" },
		{ "log-rate-limit", "1000001" },
		{ "max-connections", "0" },
		{ "max-connections", "1000001" },
		{ "idle-timeout", "86400001ms" },
		{ "idle-timeout", "25h" },
		{ "idle-timeout", "1441min" },
		{ "shutdown-timeout", "3601s" },
		{ "shutdown-timeout", "2h" },
		{ "max-pending", "4095" },
		{ "max-pending", "1025M" },
		{ "buffer-count", "8" },
		{ "buffer-count", "65536" },
		{ "buffer-size", "511" },
		{ "buffer-size", "1048577" },
		/* Too big for any integer, with and without a unit. */
		{ "max-message", "99999999999999999999999" },
		{ "idle-timeout", "18446744073709551615h" },
		{ "buffer-count", "18446744073709551616" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_set_fails(f, cases[i].key, cases[i].value, -E2BIG);
}

static void test_set_buffer_count_rejects_non_power_of_two(void **state)
{
	static const char *const bad[] = { "24", "1000", "1025", "32767", "17" };
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_set_fails(f, "buffer-count", bad[i], -EINVAL);
	assert_non_null(strstr(f->err, "power of two"));
}

static void test_set_rejects_bad_escape(void **state)
{
	static const char *const bad[] = { "\\q", "OK\\", "\\x4", "\\xZZ", "a\\x" };
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_set_fails(f, "reply", bad[i], -EINVAL);
		assert_set_fails(f, "error-reply", bad[i], -EINVAL);
	}
}

static void test_set_rejects_reply_over_max(void **state)
{
	struct fixture *f = *state;
	char *plain = malloc(TCPACK_REPLY_MAX + 2);
	char *escaped = malloc(TCPACK_REPLY_MAX * 4 + 8);

	assert_non_null(plain);
	assert_non_null(escaped);
	memset(plain, 'a', TCPACK_REPLY_MAX + 1);
	plain[TCPACK_REPLY_MAX + 1] = '\0';
	assert_set_fails(f, "reply", plain, -E2BIG);
	assert_set_fails(f, "error-reply", plain, -E2BIG);

	/* 4096 decoded bytes from escapes, then one more. */
	for (unsigned int i = 0; i < TCPACK_REPLY_MAX; i++)
		memcpy(escaped + 4 * i, "\\x42", 4);
	strcpy(escaped + TCPACK_REPLY_MAX * 4, "\\n");
	assert_set_fails(f, "reply", escaped, -E2BIG);
	free(plain);
	free(escaped);
}

static void test_set_rejects_bad_log_level(void **state)
{
	static const char *const bad[] = {
		"", "INFO", "emerg", "alert", "crit", "2", "8", "37", "0", "infos", " info",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_set_fails(f, "log-level", bad[i], -EINVAL);
}

static void test_set_rejects_bad_addresses(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1",		/* no port */
		"127.0.0.1:65536",
		"127.0.0.1:99999999999999999999999",
		"127.0.0.1:-1",
		"127.0.0.1:80x",
		"127.0.0.1: 80",
		"[::1]12",
		"[::1]",
		"[::1]:",
		"[::1:80",
		"[]:80",
		"[1.2.3.4]:80",
		"[::g]:80",
		"1.2.3.4:",
		":80",
		"host:80",
		"localhost:80",
		"256.1.1.1:80",
		"1.2.3:80",
		"::1:80",		/* IPv6 needs brackets */
		"",
	};
	struct fixture *f = *state;
	struct tcpack_addr a, untouched;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_set_fails(f, "listen", bad[i], -EINVAL);

		memset(&a, 0xa5, sizeof(a));
		memcpy(&untouched, &a, sizeof(a));
		assert_int_equal(tcpack_addr_parse(bad[i], &a), -EINVAL);
		assert_memory_equal(&a, &untouched, sizeof(a));
	}
}

/* ---- tcpack_addr_format ---- */

static void test_format_addr_ipv4_and_ipv6(void **state)
{
	static const char *const addrs[] = {
		"127.0.0.1:12345", "0.0.0.0:0", "255.255.255.255:65535",
		"[::1]:8080", "[::]:1", "[2001:db8::1]:443", "[::ffff:192.0.2.1]:7",
	};
	struct tcpack_addr a;
	struct sockaddr_in in4 = {
		.sin_family = AF_INET,
		.sin_port = htons(443),
		.sin_addr.s_addr = htonl(0xc0000201),	/* 192.0.2.1 */
	};
	struct sockaddr_in6 in6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(80),
		.sin6_addr = IN6ADDR_LOOPBACK_INIT,
	};
	char buf[TCPACK_ADDR_STRLEN];

	assert_ptr_equal(tcpack_addr_format((struct sockaddr *)&in4, buf), buf);
	assert_string_equal(buf, "192.0.2.1:443");
	assert_ptr_equal(tcpack_addr_format((struct sockaddr *)&in6, buf), buf);
	assert_string_equal(buf, "[::1]:80");

	/* parse and format are inverses for canonical text. */
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		assert_int_equal(tcpack_addr_parse(addrs[i], &a), 0);
		assert_string_equal(addr_str(&a, buf), addrs[i]);
	}

	/* The longest IPv6 text still fits. */
	assert_int_equal(tcpack_addr_parse(
		"[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", &a), 0);
	assert_string_equal(addr_str(&a, buf), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

/* ---- tcpack_config_load_file ---- */

static void test_load_file_reads_keys_comments_and_blanks(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f,
		"# tcpack test config\n"
		"   # an indented comment\n"
		"\n"
		"   \t\n"
		"mode = line\n"
		"max-message=2048\n"
		"\tidle-timeout\t=\t10s\t\n"
		"reply = \"  hi  \"\n"
		"error-reply = \"say \\\"no\\\"\\n\"\n"
		"log-level =    debug   \n"
		"mode = echo\n");

	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), 0);
	/* A later line wins. */
	assert_int_equal(f->c.mode, TCPACK_MODE_ECHO);
	assert_int_equal(f->c.max_message, 2048);
	assert_int_equal(f->c.idle_timeout_ms, 10000);
	/* Quotes keep the blanks inside them. */
	assert_int_equal(f->c.reply_len, 6);
	assert_memory_equal(f->c.reply, "  hi  ", 6);
	assert_int_equal(f->c.error_reply_len, 9);
	assert_memory_equal(f->c.error_reply, "say \"no\"\n", 9);
	assert_int_equal(f->c.log_level, LOG_DEBUG);
	/* Keys the file does not name keep their defaults. */
	assert_int_equal(f->c.buffer_count, 1024);
	assert_int_equal(f->c.n_listen, 1);
	assert_string_equal(f->c.config_path, path);
}

static void test_load_file_accepts_crlf(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f,
		"# windows editor\r\n"
		"\r\n"
		"mode = discard\r\n"
		"reply = \" ok \"\r\n"
		"max-message = 10\r\n"
		"listen = [::1]:9000\r\n");
	char buf[TCPACK_ADDR_STRLEN];

	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), 0);
	assert_int_equal(f->c.mode, TCPACK_MODE_DISCARD);
	assert_int_equal(f->c.reply_len, 4);
	assert_memory_equal(f->c.reply, " ok ", 4);
	assert_int_equal(f->c.max_message, 10);
	assert_int_equal(f->c.n_listen, 1);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "[::1]:9000");
}

static void test_load_file_last_line_without_newline(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f, "mode = line\nmax-message = 77");

	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), 0);
	assert_int_equal(f->c.mode, TCPACK_MODE_LINE);
	assert_int_equal(f->c.max_message, 77);
}

static void test_load_file_reply_of_max_bytes_as_escapes(void **state)
{
	struct fixture *f = *state;
	char *text = malloc(TCPACK_REPLY_MAX * 4 + 32);
	char *p = text;

	assert_non_null(text);
	p += sprintf(p, "reply = \"");
	for (unsigned int i = 0; i < TCPACK_REPLY_MAX; i++)
		p += sprintf(p, "\\x%02x", i & 0xff);
	strcpy(p, "\"\n");
	write_file(f, text);
	free(text);

	assert_int_equal(tcpack_config_load_file(&f->c, f->path, true, f->err), 0);
	assert_int_equal(f->c.reply_len, TCPACK_REPLY_MAX);
	for (unsigned int i = 0; i < TCPACK_REPLY_MAX; i++)
		assert_int_equal(f->c.reply[i], i & 0xff);
}

static void test_load_file_listen_replaces_default(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f,
		"listen = 10.0.0.1:1\n"
		"mode = line\n"
		"listen = [::]:2\n");
	char buf[TCPACK_ADDR_STRLEN];

	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), 0);
	assert_int_equal(f->c.n_listen, 2);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "10.0.0.1:1");
	assert_string_equal(addr_str(&f->c.listen[1], buf), "[::]:2");
}

static void test_load_file_listen_max_and_one_more(void **state)
{
	struct fixture *f = *state;
	char text[32 * (TCPACK_LISTEN_MAX + 1)];
	size_t n = 0;

	/* The default does not count against the file's sixteen. */
	for (unsigned int i = 0; i < TCPACK_LISTEN_MAX; i++)
		n += (size_t)sprintf(text + n, "listen = 127.0.0.1:%u\n", 2000 + i);
	write_file(f, text);
	assert_int_equal(tcpack_config_load_file(&f->c, f->path, true, f->err), 0);
	assert_int_equal(f->c.n_listen, TCPACK_LISTEN_MAX);

	unlink(f->path);
	f->path[0] = '\0';
	sprintf(text + n, "listen = 127.0.0.1:3000\n");
	write_file(f, text);
	tcpack_config_init(&f->c);
	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, f->path, true, f->err), -E2BIG);
	assert_err_prefix(f, TCPACK_LISTEN_MAX + 1, "listen: ");
	assert_unchanged(f);
}

static void test_load_file_error_names_path_line_and_key(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f,
		"# comment\n"
		"mode = line\n"
		"\n"
		"max-message = 0\n"
		"buffer-count = 64\n");

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), -E2BIG);
	assert_err_prefix(f, 4, "max-message: ");
	assert_non_null(strstr(f->err, "out of range"));
	/* Nothing from the lines before the error is kept. */
	assert_unchanged(f);
}

static void test_load_file_error_line_counts_crlf_and_comments(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f,
		"# a\r\n"
		"\r\n"
		"mode = line\r\n"
		"   # b\r\n"
		"mode = fast\r\n");

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), -EINVAL);
	assert_err_prefix(f, 5, "mode: ");
	assert_non_null(strstr(f->err, "'fast'"));
	assert_unchanged(f);
}

static void test_load_file_unknown_key(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f, "mode = line\nbogus = 1\n");

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), -ENOENT);
	assert_err_prefix(f, 2, "bogus: unknown key");
	assert_unchanged(f);
}

static void test_load_file_line_without_equals(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f, "mode = line\n\nmode line\n");

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), -EINVAL);
	assert_err_prefix(f, 3, "");
	assert_non_null(strstr(f->err, "key = value"));
	assert_unchanged(f);
}

static void test_load_file_empty_key(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f, " = 5\n");

	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), -ENOENT);
	assert_err_prefix(f, 1, "(empty key): ");
}

static void test_load_file_bad_values_each_kind(void **state)
{
	static const struct {
		const char *line;
		int want;
		const char *prefix;
	} cases[] = {
		{ "reply = \"\\q\"\n", -EINVAL, "reply: " },
		{ "buffer-count = 100\n", -EINVAL, "buffer-count: " },
		{ "idle-timeout = 10 s\n", -EINVAL, "idle-timeout: " },
		{ "log-level = loud\n", -EINVAL, "log-level: " },
		{ "listen = ::1:80\n", -EINVAL, "listen: " },
		{ "max-pending = 1G\n", -EINVAL, "max-pending: " },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s", cases[i].line);
		if (f->path[0])
			unlink(f->path);
		f->path[0] = '\0';
		write_file(f, cases[i].line);
		save(f);
		assert_int_equal(tcpack_config_load_file(&f->c, f->path, true, f->err),
				 cases[i].want);
		assert_err_prefix(f, 1, cases[i].prefix);
		assert_unchanged(f);
	}
}

static void test_load_file_line_too_long(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "mode = line\nreply = ";
	const size_t len = 20000;
	char *text = malloc(sizeof(head) + len + 1);

	assert_non_null(text);
	strcpy(text, head);
	memset(text + sizeof(head) - 1, 'a', len);
	strcpy(text + sizeof(head) - 1 + len, "\n");
	write_file(f, text);
	free(text);

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, f->path, true, f->err), -E2BIG);
	assert_err_prefix(f, 2, "line too long");
	assert_unchanged(f);
}

static void test_load_file_nul_byte(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "mode = line\nreply = a\0b\nthreads = 2\n";
	int fd;

	write_file(f, "");
	fd = open(f->path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	assert_int_equal(close(fd), 0);

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, f->path, true, f->err), -EINVAL);
	assert_err_prefix(f, 2, "NUL byte in line");
	assert_unchanged(f);
}

static void test_load_file_missing(void **state)
{
	struct fixture *f = *state;
	char path[64];

	/* A name that surely does not exist: a temp file we remove. */
	write_file(f, "");
	strcpy(path, f->path);
	unlink(f->path);
	f->path[0] = '\0';

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, path, false, f->err), 0);
	assert_unchanged(f);
	assert_string_equal(f->c.config_path, "");

	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), -ENOENT);
	assert_unchanged(f);
	assert_int_equal(strncmp(f->err, path, strlen(path)), 0);
}

static void test_load_file_empty_file(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f, "");

	save(f);
	assert_int_equal(tcpack_config_load_file(&f->c, path, true, f->err), 0);
	assert_string_equal(f->c.config_path, path);
	/* Nothing but the recorded path changed. */
	strcpy(f->saved.config_path, path);
	assert_config_equal(&f->c, &f->saved);
}

/* ---- tcpack_config_from_args ---- */

#define MAX_ARGS 48

/* Run tcpack_config_from_args() on "tcpack" followed by the NULL-terminated @args. */
static int from_args(struct fixture *f, enum tcpack_cli_action *action, const char *const *args)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;

	argv[argc++] = (char *)"tcpack";
	for (; args[argc - 1]; argc++) {
		assert_true(argc <= MAX_ARGS);
		argv[argc] = (char *)args[argc - 1];
	}
	argv[argc] = NULL;
	f->err[0] = '\0';
	return tcpack_config_from_args(&f->c, argc, argv, action, f->err);
}

#define FROM_ARGS(f, action, ...) from_args(f, action, (const char *const[]){ __VA_ARGS__, NULL })

static void assert_err_starts_with(const struct fixture *f, const char *want)
{
	if (strncmp(f->err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", f->err, want);
}

static void assert_err_contains(const struct fixture *f, const char *want)
{
	if (!strstr(f->err, want))
		fail_msg("error '%s' does not contain '%s'", f->err, want);
}

static void test_args_precedence_command_line_file_defaults(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action = TCPACK_CLI_HELP;
	const char *path = write_file(f,
		"max-message = 2048\n"
		"mode = line\n"
		"log-level = debug\n");

	assert_int_equal(FROM_ARGS(f, &action, "--config", path, "--max-message", "4096"), 0);
	assert_int_equal(action, TCPACK_CLI_RUN);
	assert_int_equal(f->c.max_message, 4096);			/* command line */
	assert_int_equal(f->c.mode, TCPACK_MODE_LINE);			/* file */
	assert_int_equal(f->c.log_level, LOG_DEBUG);			/* file */
	assert_int_equal(f->c.idle_timeout_ms, 60000);			/* default */
	assert_int_equal(f->c.n_listen, 1);				/* default */
	assert_string_equal(f->c.config_path, path);
	assert_false(f->c.listen_set_by_args);

	/* Where --config stands does not matter: the file is read first. */
	assert_int_equal(FROM_ARGS(f, &action, "--max-message=4096", "-c", path), 0);
	assert_int_equal(f->c.max_message, 4096);
	assert_int_equal(f->c.mode, TCPACK_MODE_LINE);

	/* Without the option, the file's value stands. */
	assert_int_equal(FROM_ARGS(f, &action, "--config=/dev/null", "--mode", "echo"), 0);
	assert_int_equal(f->c.max_message, 1024);
	assert_int_equal(f->c.mode, TCPACK_MODE_ECHO);
	assert_int_equal(FROM_ARGS(f, &action, "-c", path), 0);
	assert_int_equal(f->c.max_message, 2048);
}

static void test_args_start_from_defaults_every_time(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;

	f->c.max_message = 5;
	f->c.mode = TCPACK_MODE_DISCARD;
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null"), 0);
	assert_int_equal(f->c.max_message, 1024);
	assert_int_equal(f->c.mode, TCPACK_MODE_ONESHOT);
}

static void test_args_without_any_option(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action = TCPACK_CLI_HELP;
	const char *const none[] = { NULL };
	struct tcpack_config defaults;

	if (access(TCPACK_CONFIG_PATH, F_OK) == 0)
		skip();	/* a real config is installed here: results would depend on it */
	assert_int_equal(from_args(f, &action, none), 0);
	assert_int_equal(action, TCPACK_CLI_RUN);
	tcpack_config_init(&defaults);
	assert_config_equal(&f->c, &defaults);
}

static void test_args_every_key_is_an_option(void **state)
{
	static const struct {
		const char *key, *value;
	} cases[] = {
		{ "mode", "line" }, { "reply", "hi\\n" }, { "error-reply", "no\\n" },
		{ "max-message", "1K" }, { "listen", "[::1]:1" }, { "log-level", "warn" },
		{ "log-data-max", "64" }, { "log-rate-limit", "5" }, { "max-connections", "9" },
		{ "idle-timeout", "1min" }, { "shutdown-timeout", "2s" }, { "max-pending", "8K" },
		{ "buffer-count", "64" }, { "buffer-size", "2K" },
	};
	struct fixture *f = *state;
	enum tcpack_cli_action action;
	struct tcpack_config want;
	char err[TCPACK_ERR_MAX];

	/* "--key value" and "--key=value" both land like tcpack_config_set(). */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char opt[64], joined[128];

		tcpack_config_init(&want);
		if (strcmp(cases[i].key, "listen") == 0)
			want.n_listen = 0;
		assert_int_equal(tcpack_config_set(&want, cases[i].key, cases[i].value, err), 0);
		want.listen_set_by_args = strcmp(cases[i].key, "listen") == 0;

		snprintf(opt, sizeof(opt), "--%s", cases[i].key);
		assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", opt, cases[i].value), 0);
		strcpy(want.config_path, "/dev/null");
		assert_config_equal(&f->c, &want);

		snprintf(joined, sizeof(joined), "--%s=%s", cases[i].key, cases[i].value);
		assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", joined), 0);
		assert_config_equal(&f->c, &want);
	}
}

static void test_args_help_version_check_actions(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;
	const char *path = write_file(f, "mode = line\n");

	assert_int_equal(FROM_ARGS(f, &action, "--help"), 0);
	assert_int_equal(action, TCPACK_CLI_HELP);
	assert_int_equal(FROM_ARGS(f, &action, "-h"), 0);
	assert_int_equal(action, TCPACK_CLI_HELP);
	assert_int_equal(FROM_ARGS(f, &action, "--version"), 0);
	assert_int_equal(action, TCPACK_CLI_VERSION);
	assert_int_equal(FROM_ARGS(f, &action, "-V"), 0);
	assert_int_equal(action, TCPACK_CLI_VERSION);

	/* --help does not read the file, so a missing or broken one does not matter. */
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/nonexistent/tcpack.conf", "--help"), 0);
	assert_int_equal(action, TCPACK_CLI_HELP);
	/* Help wins over --check-config wherever it stands. */
	assert_int_equal(FROM_ARGS(f, &action, "--check-config", "--help"), 0);
	assert_int_equal(action, TCPACK_CLI_HELP);
	assert_int_equal(FROM_ARGS(f, &action, "--help", "--check-config"), 0);
	assert_int_equal(action, TCPACK_CLI_HELP);

	/* --check-config reads and validates everything. */
	assert_int_equal(FROM_ARGS(f, &action, "--check-config", "-c", path, "-l", "10.0.0.9:1"),
			 0);
	assert_int_equal(action, TCPACK_CLI_CHECK);
	assert_int_equal(f->c.mode, TCPACK_MODE_LINE);
	assert_int_equal(f->c.n_listen, 1);
	assert_int_equal(FROM_ARGS(f, &action, "-c", path, "--check-config", "--max-message", "0"),
			 -E2BIG);
	assert_err_starts_with(f, "--max-message: ");

	assert_non_null(strstr(tcpack_config_usage(), "--max-message"));
	assert_non_null(strstr(tcpack_config_usage(), "--check-config"));
}

static void test_args_unknown_option(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;

	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "--bogus"), -EINVAL);
	assert_err_contains(f, "'--bogus'");
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "--bogus=1"), -EINVAL);
	assert_err_contains(f, "--bogus");
	assert_int_equal(FROM_ARGS(f, &action, "-x"), -EINVAL);
	assert_err_contains(f, "'-x'");
	/* After a short option with a value, optopt must not leak into the message. */
	assert_int_equal(FROM_ARGS(f, &action, "-m", "line", "--frobnicate"), -EINVAL);
	assert_err_contains(f, "'--frobnicate'");
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "stray"), -EINVAL);
	assert_err_contains(f, "'stray'");
}

static void test_args_option_without_value_taking_one(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;

	/* A flag given a value names itself, not some other option. */
	assert_int_equal(FROM_ARGS(f, &action, "--check-config=yes"), -EINVAL);
	assert_err_contains(f, "check-config");
	assert_int_equal(FROM_ARGS(f, &action, "--version=2"), -EINVAL);
	assert_err_contains(f, "version");
}

static void test_args_missing_value(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;

	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "--max-message"), -EINVAL);
	assert_err_contains(f, "'--max-message'");
	assert_err_contains(f, "needs a value");
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "-l"), -EINVAL);
	assert_err_contains(f, "'-l'");
	assert_int_equal(FROM_ARGS(f, &action, "--config"), -EINVAL);
	assert_err_contains(f, "'--config'");
}

static void test_args_bad_value_names_the_option(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;

	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "--max-message", "0"), -E2BIG);
	assert_err_starts_with(f, "--max-message: ");
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "--max-message=abc"), -EINVAL);
	assert_err_starts_with(f, "--max-message: ");
	assert_err_contains(f, "'abc'");
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "-m", "fast"), -EINVAL);
	assert_err_starts_with(f, "--mode: ");
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "-l", "::1:80"), -EINVAL);
	assert_err_starts_with(f, "--listen: ");
	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "--reply", "\\q"), -EINVAL);
	assert_err_starts_with(f, "--reply: ");
}

static void test_args_file_error_is_reported(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;
	const char *path = write_file(f, "mode = line\nmax-message = huge\n");
	char want[TCPACK_ERR_MAX];

	/* Even when the command line would override the bad value. */
	assert_int_equal(FROM_ARGS(f, &action, "-c", path, "--max-message", "10"), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: max-message: ", path);
	assert_err_starts_with(f, want);

	assert_int_equal(FROM_ARGS(f, &action, "-c", "/nonexistent/tcpack.conf"), -ENOENT);
	assert_err_starts_with(f, "/nonexistent/tcpack.conf: ");
}

static void test_args_short_forms(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;
	char buf[TCPACK_ADDR_STRLEN];

	assert_int_equal(FROM_ARGS(f, &action, "-c", "/dev/null", "-m", "line", "-l", "[::1]:7000"),
			 0);
	assert_int_equal(f->c.mode, TCPACK_MODE_LINE);
	assert_int_equal(f->c.n_listen, 1);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "[::1]:7000");
	assert_true(f->c.listen_set_by_args);

	assert_int_equal(FROM_ARGS(f, &action, "-c/dev/null", "-mecho", "-l127.0.0.1:1"), 0);
	assert_int_equal(f->c.mode, TCPACK_MODE_ECHO);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "127.0.0.1:1");
}

static void test_args_listen_replaces_file_listens(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;
	const char *path = write_file(f,
		"listen = 10.0.0.1:1\n"
		"listen = 10.0.0.2:2\n");
	char buf[TCPACK_ADDR_STRLEN];

	assert_int_equal(FROM_ARGS(f, &action, "-c", path), 0);
	assert_int_equal(f->c.n_listen, 2);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "10.0.0.1:1");
	assert_string_equal(addr_str(&f->c.listen[1], buf), "10.0.0.2:2");
	assert_false(f->c.listen_set_by_args);

	assert_int_equal(FROM_ARGS(f, &action, "-l", "127.0.0.2:3", "-c", path,
				   "--listen", "[::1]:4"), 0);
	assert_int_equal(f->c.n_listen, 2);
	assert_string_equal(addr_str(&f->c.listen[0], buf), "127.0.0.2:3");
	assert_string_equal(addr_str(&f->c.listen[1], buf), "[::1]:4");
	assert_true(f->c.listen_set_by_args);
}

static void test_args_listen_up_to_max(void **state)
{
	struct fixture *f = *state;
	enum tcpack_cli_action action;
	const char *args[2 + 2 * (TCPACK_LISTEN_MAX + 1) + 1];
	char addrs[TCPACK_LISTEN_MAX + 1][32];
	size_t n = 0;

	args[n++] = "-c";
	args[n++] = "/dev/null";
	for (unsigned int i = 0; i < TCPACK_LISTEN_MAX; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%u", 100 + i);
		args[n++] = "-l";
		args[n++] = addrs[i];
	}
	args[n] = NULL;
	assert_int_equal(from_args(f, &action, args), 0);
	assert_int_equal(f->c.n_listen, TCPACK_LISTEN_MAX);

	snprintf(addrs[TCPACK_LISTEN_MAX], sizeof(addrs[0]), "127.0.0.1:999");
	args[n++] = "-l";
	args[n++] = addrs[TCPACK_LISTEN_MAX];
	args[n] = NULL;
	assert_int_equal(from_args(f, &action, args), -E2BIG);
	assert_err_starts_with(f, "--listen: ");
}

/* ---- tcpack_config_keep_fixed ---- */

static void test_keep_fixed_nothing_to_keep(void **state)
{
	struct fixture *f = *state;
	struct tcpack_config *next = &f->saved;

	tcpack_log_setup(LOG_WARNING, 0);	/* the notices are expected */
	tcpack_config_init(next);
	assert_int_equal(tcpack_config_set(next, "mode", "line", f->err), 0);
	assert_int_equal(tcpack_config_set(next, "reply", "new\\n", f->err), 0);
	assert_int_equal(tcpack_config_set(next, "idle-timeout", "5s", f->err), 0);
	assert_int_equal(tcpack_config_set(next, "max-connections", "500", f->err), 0);
	f->c.max_connections = 100;

	/* What a reload may change passes through untouched. */
	assert_int_equal(tcpack_config_keep_fixed(next, &f->c, 1000), 0);
	assert_int_equal(next->mode, TCPACK_MODE_LINE);
	assert_int_equal(next->idle_timeout_ms, 5000);
	assert_int_equal(next->max_connections, 500);
	assert_int_equal(next->reply_len, 4);
}

static void test_keep_fixed_listen_and_buffers(void **state)
{
	struct fixture *f = *state;
	struct tcpack_config *next = &f->saved;
	char buf[TCPACK_ADDR_STRLEN];

	tcpack_log_setup(LOG_WARNING, 0);
	assert_int_equal(tcpack_config_set(&f->c, "listen", "[::1]:5", f->err), 0);

	tcpack_config_init(next);
	next->n_listen = 0;
	assert_int_equal(tcpack_config_set(next, "listen", "10.1.1.1:1", f->err), 0);
	assert_int_equal(tcpack_config_set(next, "buffer-count", "64", f->err), 0);
	assert_int_equal(tcpack_config_set(next, "max-message", "9", f->err), 0);
	assert_int_equal(tcpack_config_keep_fixed(next, &f->c, 1u << 20), 2);
	assert_int_equal(next->n_listen, 2);
	assert_string_equal(addr_str(&next->listen[0], buf), "127.0.0.1:12345");
	assert_string_equal(addr_str(&next->listen[1], buf), "[::1]:5");
	assert_int_equal(next->buffer_count, f->c.buffer_count);
	assert_int_equal(next->buffer_size, f->c.buffer_size);
	assert_int_equal(next->max_message, 9);

	/* Only the buffer size differs. */
	tcpack_config_init(next);
	next->n_listen = 0;
	assert_int_equal(tcpack_config_set(next, "listen", "127.0.0.1:12345", f->err), 0);
	assert_int_equal(tcpack_config_set(next, "listen", "[::1]:5", f->err), 0);
	assert_int_equal(tcpack_config_set(next, "buffer-size", "8K", f->err), 0);
	assert_int_equal(tcpack_config_keep_fixed(next, &f->c, 1u << 20), 1);
	assert_int_equal(next->buffer_size, 4096);
	assert_int_equal(next->n_listen, 2);
}

static void test_keep_fixed_caps_max_connections_at_slots(void **state)
{
	struct fixture *f = *state;
	struct tcpack_config *next = &f->saved;

	tcpack_log_setup(LOG_WARNING, 0);
	f->c.max_connections = 100;
	tcpack_config_init(next);
	next->max_connections = 200;
	assert_int_equal(tcpack_config_keep_fixed(next, &f->c, 100), 1);
	assert_int_equal(next->max_connections, 100);

	/* Lowering, or raising up to the slots already there, is fine. */
	next->max_connections = 50;
	assert_int_equal(tcpack_config_keep_fixed(next, &f->c, 100), 0);
	assert_int_equal(next->max_connections, 50);
	next->max_connections = 100;
	assert_int_equal(tcpack_config_keep_fixed(next, &f->c, 100), 0);
	assert_int_equal(next->max_connections, 100);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_sets_documented_defaults),
		T(test_set_mode_accepts_every_mode),
		T(test_set_reply_decodes_escapes),
		T(test_set_reply_accepts_exactly_max_bytes),
		T(test_set_sizes_accept_suffixes),
		T(test_set_plain_numbers),
		T(test_set_durations_with_units),
		T(test_set_log_level_names_and_numbers),
		T(test_set_listen_appends_ipv4_and_ipv6),
		T(test_set_listen_repeatable_up_to_max),
		T(test_set_listen_with_proxy_protocol),
		T(test_set_agent_listen_and_admin_state),
		T(test_set_unknown_key),
		T(test_set_mode_rejects_unknown_mode),
		T(test_set_rejects_bad_numbers),
		T(test_set_rejects_out_of_range),
		T(test_set_buffer_count_rejects_non_power_of_two),
		T(test_set_rejects_bad_escape),
		T(test_set_rejects_reply_over_max),
		T(test_set_rejects_bad_log_level),
		T(test_set_rejects_bad_addresses),
		T(test_format_addr_ipv4_and_ipv6),
		T(test_load_file_reads_keys_comments_and_blanks),
		T(test_load_file_accepts_crlf),
		T(test_load_file_last_line_without_newline),
		T(test_load_file_reply_of_max_bytes_as_escapes),
		T(test_load_file_listen_replaces_default),
		T(test_load_file_listen_max_and_one_more),
		T(test_load_file_error_names_path_line_and_key),
		T(test_load_file_error_line_counts_crlf_and_comments),
		T(test_load_file_unknown_key),
		T(test_load_file_line_without_equals),
		T(test_load_file_empty_key),
		T(test_load_file_bad_values_each_kind),
		T(test_load_file_line_too_long),
		T(test_load_file_nul_byte),
		T(test_load_file_missing),
		T(test_load_file_empty_file),
		T(test_args_precedence_command_line_file_defaults),
		T(test_args_start_from_defaults_every_time),
		T(test_args_without_any_option),
		T(test_args_every_key_is_an_option),
		T(test_args_help_version_check_actions),
		T(test_args_unknown_option),
		T(test_args_option_without_value_taking_one),
		T(test_args_missing_value),
		T(test_args_bad_value_names_the_option),
		T(test_args_file_error_is_reported),
		T(test_args_short_forms),
		T(test_args_listen_replaces_file_listens),
		T(test_args_listen_up_to_max),
		T(test_keep_fixed_nothing_to_keep),
		T(test_keep_fixed_listen_and_buffers),
		T(test_keep_fixed_caps_max_connections_at_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
