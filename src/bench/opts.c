// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "tcpack/escape.h"

/* tcpack's default reply, "服务器已收到数据" in UTF-8. */
static const char default_expect[] =
	"\xe6\x9c\x8d\xe5\x8a\xa1\xe5\x99\xa8\xe5\xb7\xb2"
	"\xe6\x94\xb6\xe5\x88\xb0\xe6\x95\xb0\xe6\x8d\xae";

#define DEFAULT_HOST		"127.0.0.1"
#define DEFAULT_PORT		12345
#define DEFAULT_DURATION	10.0
#define DEFAULT_TIMEOUT		5.0
#define DEFAULT_SIZE		64

enum {
	OPT_HOST = 0x100,
	OPT_PORT,
	OPT_TIMEOUT,
	OPT_SOURCE_ADDRS,
	OPT_LINGER0,
	OPT_ALLOW_REMOTE,
	OPT_CLIENT,
};

static const struct option long_options[] = {
	{ "host",		required_argument,	NULL, OPT_HOST },
	{ "port",		required_argument,	NULL, OPT_PORT },
	{ "mode",		required_argument,	NULL, 'm' },
	{ "client",		required_argument,	NULL, OPT_CLIENT },
	{ "connections",	required_argument,	NULL, 'c' },
	{ "threads",		required_argument,	NULL, 't' },
	{ "duration",		required_argument,	NULL, 'd' },
	{ "requests",		required_argument,	NULL, 'n' },
	{ "pipeline",		required_argument,	NULL, 'P' },
	{ "size",		required_argument,	NULL, 's' },
	{ "rate",		required_argument,	NULL, 'r' },
	{ "expect",		required_argument,	NULL, 'e' },
	{ "warmup",		required_argument,	NULL, 'w' },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "source-addrs",	required_argument,	NULL, OPT_SOURCE_ADDRS },
	{ "linger0",		no_argument,		NULL, OPT_LINGER0 },
	{ "allow-remote",	no_argument,		NULL, OPT_ALLOW_REMOTE },
	{ "json",		no_argument,		NULL, 'j' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void print_help(void)
{
	printf("Usage: tcpack-bench [OPTIONS] [ADDR:PORT]\n"
	       "\n"
	       "Load a tcpack server (or any TCP server answering the same way) and check\n"
	       "every reply byte for byte. ADDR:PORT is A.B.C.D:PORT or [IPV6]:PORT.\n"
	       "\n"
	       "      --host ADDR          target address (default " DEFAULT_HOST ")\n"
	       "      --port PORT          target port (default %d)\n"
	       "  -m, --mode MODE          oneshot | line | echo | discard (default oneshot)\n"
	       "      --client ENGINE      uring | epoll: how the client does its I/O (default\n"
	       "                           uring); epoll sends one turn of messages per write\n"
	       "  -c, --connections N      connections kept busy at once (default 1)\n"
	       "  -t, --threads T          client threads, one io_uring or epoll each (default 1)\n"
	       "  -d, --duration TIME      measure this long: 10, 2.5s, 500ms, 1min (default 10s,\n"
	       "                           none when only --requests is given)\n"
	       "  -n, --requests N         stop after N messages (oneshot: connections) in total\n"
	       "  -P, --pipeline K         messages in flight per connection (default 1)\n"
	       "  -s, --size BYTES         message size, K and M suffixes (default %d); line\n"
	       "                           messages are padded to it and end in '\\n'\n"
	       "  -r, --rate R             open loop: R messages (oneshot: connections) per second\n"
	       "                           in total, latency counted from the intended send time\n"
	       "  -e, --expect TEXT        the reply, C escapes \\r \\n \\t \\\\ \\xNN decoded\n"
	       "                           (default 服务器已收到数据); line: one per message\n"
	       "  -w, --warmup TIME        run this long before measuring (default 0)\n"
	       "      --timeout TIME       a connection without progress this long fails (default 5s)\n"
	       "      --source-addrs N     connect from 127.0.0.1 .. 127.0.0.N in turn (default 1)\n"
	       "      --linger0            close with SO_LINGER 0 (a reset, no TIME_WAIT)\n"
	       "      --allow-remote       allow a target outside 127.0.0.0/8 and ::1\n"
	       "  -j, --json               print the summary as one JSON object\n"
	       "  -q, --quiet              no progress lines\n"
	       "  -h, --help               show this help and exit\n"
	       "  -V, --version            show the version and exit\n"
	       "\n"
	       "Exit status: 0 when every reply matched, 1 on any error, 2 on bad arguments.\n",
	       DEFAULT_PORT, DEFAULT_SIZE);
}

#define N_NAMES(names) (sizeof(names) / sizeof((names)[0]))

static const char *const mode_names[] = {
	[BENCH_ONESHOT] = "oneshot",
	[BENCH_LINE] = "line",
	[BENCH_ECHO] = "echo",
	[BENCH_DISCARD] = "discard",
};
static const char *const client_names[] = {
	[BENCH_CLIENT_URING] = "uring",
	[BENCH_CLIENT_EPOLL] = "epoll",
};

const char *bench_mode_name(enum bench_mode mode)
{
	return (size_t)mode < N_NAMES(mode_names) ? mode_names[mode] : "?";
}

const char *bench_client_name(enum bench_client client)
{
	return (size_t)client < N_NAMES(client_names) ? client_names[client] : "?";
}

bool bench_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

/* ---- values ------------------------------------------------------------ */

static int parse_u64(const char *s, uint64_t max, bool binary_suffix, uint64_t *ret)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (binary_suffix && *end) {
		if (!strcmp(end, "K") || !strcmp(end, "k"))
			mult = 1024;
		else if (!strcmp(end, "M"))
			mult = 1024 * 1024;
		else
			return -EINVAL;
		end = "";
	}
	if (*end)
		return -EINVAL;
	if (v > max / mult)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}

/* Suffixes a number may carry, and what each multiplies it by. */
struct scale {
	const char *suffix;
	double mult;
};

static const struct scale time_units[] = {	/* to seconds */
	{ "", 1.0 }, { "s", 1.0 }, { "ms", 1e-3 }, { "min", 60.0 }, { NULL, 0 },
};
static const struct scale rate_units[] = {
	{ "", 1.0 }, { "k", 1e3 }, { "K", 1e3 }, { "M", 1e6 }, { NULL, 0 },
};

/*
 * A decimal number with one of @units' suffixes: -EINVAL if it is not one,
 * -ERANGE if it is over @max once scaled (a duration over eleven days is a
 * typo, and would overflow the clock).
 */
static int parse_scaled(const char *s, const struct scale *units, double max, double *ret)
{
	double v;
	char *end;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v))
		return -EINVAL;
	for (; units->suffix; units++) {
		if (strcmp(end, units->suffix))
			continue;
		v *= units->mult;
		if (v > max)
			return -ERANGE;
		*ret = v;
		return 0;
	}
	return -EINVAL;
}

static int parse_seconds(const char *s, double *ret)
{
	return parse_scaled(s, time_units, 1e6, ret);
}

static int parse_rate(const char *s, double *ret)
{
	return parse_scaled(s, rate_units, 1e9, ret);
}

/* The index of @s in @names (an enum's values, from 0), or -EINVAL. */
static int parse_name(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(s, names[i]))
			return (int)i;
	}
	return -EINVAL;
}

/*
 * A numeric address, or "localhost". Other names need --allow-remote: a
 * name lookup is the first step towards a target this tool must not load.
 */
static int resolve_host(const char *host, bool allow_remote, struct sockaddr_storage *ss,
			socklen_t *len, char *err)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN];
	size_t n = strlen(host);

	memset(ss, 0, sizeof(*ss));
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		*len = sizeof(*in6);
		return 0;
	}
	if (allow_remote) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
		int r = getaddrinfo(host, NULL, &hints, &ai);

		if (r == 0 && ai->ai_addrlen <= sizeof(*ss)) {
			memcpy(ss, ai->ai_addr, ai->ai_addrlen);
			*len = ai->ai_addrlen;
			freeaddrinfo(ai);
			return 0;
		}
		snprintf(err, BENCH_ERR_MAX, "cannot resolve '%s': %s", host,
			 r ? gai_strerror(r) : "address too long");
		if (ai)
			freeaddrinfo(ai);
		return -EINVAL;
	}
	snprintf(err, BENCH_ERR_MAX,
		 "'%s' is not a numeric address (A.B.C.D, [IPV6] or localhost)", host);
	return -EINVAL;
}

/* "A.B.C.D:PORT", "[IPV6]:PORT" or "localhost:PORT" into host and port. */
static int split_target(const char *s, char *host, size_t host_size, const char **ret_port)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;	/* an IPv6 address needs brackets */
	}
	n = (size_t)(colon - s);
	if (n == 0 || n >= host_size)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	*ret_port = colon + 1;
	return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static void format_target(const struct sockaddr_storage *ss, uint16_t port, char *out)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
		snprintf(out, BENCH_TARGET_MAX, "%s:%u", a, port);
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(a));
		snprintf(out, BENCH_TARGET_MAX, "[%s]:%u", a, port);
	}
}

void bench_opts_deinit(struct bench_opts *o)
{
	if (!o)
		return;
	free(o->expect);
	o->expect = NULL;
	o->expect_len = 0;
}

#define FAIL(...) do { snprintf(err, BENCH_ERR_MAX, __VA_ARGS__); r = -EINVAL; goto out; } while (0)

int bench_opts_parse(int argc, char **argv, struct bench_opts *ret, char *err)
{
	struct bench_opts o = {
		.mode = BENCH_ONESHOT,
		.connections = 1,
		.threads = 1,
		.pipeline = 1,
		.size = DEFAULT_SIZE,
		.timeout = DEFAULT_TIMEOUT,
		.source_addrs = 1,
	};
	const char *host = NULL, *port_text = NULL, *expect_text = NULL;
	char target_host[256];
	bool duration_set = false, pipeline_set = false;
	uint64_t v, port = DEFAULT_PORT;
	long n;
	int c, r = 0;

	err[0] = '\0';
	opterr = 0;
	optind = 0;	/* glibc: also resets the scan, for repeated calls */
	while ((c = getopt_long(argc, argv, ":m:c:t:d:n:P:s:r:e:w:jqhV", long_options, NULL)) != -1) {
		const char *name = optind > 1 && optind - 1 < argc ? argv[optind - 1] : "?";

		switch (c) {
		case OPT_HOST:
			host = optarg;
			break;
		case OPT_PORT:
			port_text = optarg;
			break;
		case 'm':
			r = parse_name(optarg, mode_names, N_NAMES(mode_names));
			if (r < 0)
				FAIL("--mode: '%s' is not oneshot, line, echo or discard", optarg);
			o.mode = (enum bench_mode)r;
			break;
		case OPT_CLIENT:
			r = parse_name(optarg, client_names, N_NAMES(client_names));
			if (r < 0)
				FAIL("--client: '%s' is not uring or epoll", optarg);
			o.client = (enum bench_client)r;
			break;
		case 'c':
			if (parse_u64(optarg, BENCH_CONNECTIONS_MAX, false, &v) < 0 || v == 0)
				FAIL("--connections: '%s' is not a number from 1 to %u", optarg,
				     BENCH_CONNECTIONS_MAX);
			o.connections = (uint32_t)v;
			break;
		case 't':
			if (parse_u64(optarg, BENCH_THREADS_MAX, false, &v) < 0 || v == 0)
				FAIL("--threads: '%s' is not a number from 1 to %u", optarg,
				     BENCH_THREADS_MAX);
			o.threads = (uint32_t)v;
			break;
		case 'd':
			if (parse_seconds(optarg, &o.duration) < 0 || o.duration <= 0)
				FAIL("--duration: '%s' is not a positive time (e.g. 10, 2.5s, 500ms, 1min)",
				     optarg);
			duration_set = true;
			break;
		case 'n':
			if (parse_u64(optarg, UINT64_MAX / 2, false, &v) < 0 || v == 0)
				FAIL("--requests: '%s' is not a positive number", optarg);
			o.requests = v;
			break;
		case 'P':
			if (parse_u64(optarg, BENCH_PIPELINE_MAX, false, &v) < 0 || v == 0)
				FAIL("--pipeline: '%s' is not a number from 1 to %u", optarg,
				     BENCH_PIPELINE_MAX);
			o.pipeline = (uint32_t)v;
			pipeline_set = true;
			break;
		case 's':
			if (parse_u64(optarg, BENCH_SIZE_MAX, true, &v) < 0 || v == 0)
				FAIL("--size: '%s' is not a size from 1 to 16M (e.g. 128, 4K)", optarg);
			o.size = (uint32_t)v;
			break;
		case 'r':
			if (parse_rate(optarg, &o.rate) < 0 || o.rate <= 0)
				FAIL("--rate: '%s' is not a positive rate (e.g. 5000, 20k)", optarg);
			break;
		case 'e':
			expect_text = optarg;
			break;
		case 'w':
			if (parse_seconds(optarg, &o.warmup) < 0)
				FAIL("--warmup: '%s' is not a time (e.g. 1, 500ms)", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &o.timeout) < 0 || o.timeout < 0.001)
				FAIL("--timeout: '%s' is not a time of at least 1ms", optarg);
			break;
		case OPT_SOURCE_ADDRS:
			if (parse_u64(optarg, BENCH_SOURCE_ADDRS_MAX, false, &v) < 0 || v == 0)
				FAIL("--source-addrs: '%s' is not a number from 1 to %u", optarg,
				     BENCH_SOURCE_ADDRS_MAX);
			o.source_addrs = (uint32_t)v;
			break;
		case OPT_LINGER0:
			o.linger0 = true;
			break;
		case OPT_ALLOW_REMOTE:
			o.allow_remote = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			print_help();
			r = BENCH_OPTS_DONE;
			goto out;
		case 'V':
			printf("tcpack-bench %s\n", TCPACK_BENCH_VERSION);
			r = BENCH_OPTS_DONE;
			goto out;
		case ':':
			FAIL("%s needs a value", name);
		default:
			FAIL("unknown option '%s' (see --help)", name);
		}
	}

	/* The target. */
	if (optind < argc) {
		if (optind + 1 < argc)
			FAIL("unexpected argument '%s'", argv[optind + 1]);
		if (host || port_text)
			FAIL("give the target either as ADDR:PORT or with --host/--port");
		if (split_target(argv[optind], target_host, sizeof(target_host), &port_text) < 0)
			FAIL("'%s' is not ADDR:PORT (A.B.C.D:PORT or [IPV6]:PORT)", argv[optind]);
		host = target_host;
	}
	if (port_text && (parse_u64(port_text, 65535, false, &port) < 0 || port == 0))
		FAIL("'%s' is not a port from 1 to 65535", port_text);
	r = resolve_host(host ? host : DEFAULT_HOST, o.allow_remote, &o.addr, &o.addr_len, err);
	if (r < 0)
		goto out;
	set_port(&o.addr, (uint16_t)port);
	format_target(&o.addr, (uint16_t)port, o.target);
	if (!o.allow_remote && !bench_addr_is_loopback((struct sockaddr *)&o.addr))
		FAIL("refusing to load %s: not a loopback address (127.0.0.0/8, ::1); "
		     "--allow-remote overrides", o.target);

	/* The expected reply. */
	if (expect_text && (o.mode == BENCH_ECHO || o.mode == BENCH_DISCARD))
		FAIL("--expect applies to the oneshot and line modes only");
	if (!expect_text)
		expect_text = default_expect;
	o.expect = malloc(strlen(expect_text) + 1);
	if (!o.expect)
		FAIL("out of memory");
	n = tcpack_escape_decode(expect_text, o.expect, strlen(expect_text));
	if (n < 0)
		FAIL("--expect: %s", n == -EINVAL ?
		     "unknown or truncated escape (use \\r \\n \\t \\0 \\\\ \\\" \\xNN)" :
		     "text too long");
	if ((size_t)n > BENCH_EXPECT_MAX)
		FAIL("--expect: longer than %u bytes", BENCH_EXPECT_MAX);
	o.expect_len = (size_t)n;
	if (o.mode == BENCH_LINE && o.expect_len == 0)
		FAIL("--expect: line mode needs a non-empty reply to count replies");

	/* How long, and how the options combine. */
	if (!duration_set && !o.requests)
		o.duration = DEFAULT_DURATION;
	if (o.mode == BENCH_ONESHOT && pipeline_set && o.pipeline > 1)
		FAIL("--pipeline: oneshot sends one message per connection");
	if (o.mode == BENCH_ONESHOT)
		o.pipeline = 1;
	if (o.source_addrs > 1 && (o.addr.ss_family != AF_INET ||
				   !bench_addr_is_loopback((struct sockaddr *)&o.addr)))
		FAIL("--source-addrs: needs an IPv4 loopback target (127.0.0.0/8)");
	if (o.threads > o.connections)
		o.threads = o.connections;
	if ((uint64_t)o.connections * o.pipeline * o.size > BENCH_OUT_BYTES_MAX)
		FAIL("connections x pipeline x size is over 4 GiB of send buffers");
	r = 0;
out:
	if (r == 0) {
		*ret = o;
	} else {
		bench_opts_deinit(&o);
		if (r < 0 && !err[0])
			snprintf(err, BENCH_ERR_MAX, "invalid arguments");
	}
	return r;
}
