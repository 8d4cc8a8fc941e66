/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * tcpack-bench's command line: what to load, how hard and for how long.
 * Parsing is all-or-nothing: a bad value is reported with one message and
 * the run never starts (exit status 2).
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum bench_mode {
	BENCH_ONESHOT,	/* connect, send one message, read the reply and EOF, close */
	BENCH_LINE,	/* keep-alive: one reply (the expected text) per '\n'-terminated message */
	BENCH_ECHO,	/* keep-alive: every byte comes back */
	BENCH_DISCARD,	/* keep-alive: nothing comes back */
};

/* How the client moves its bytes (worker-engine.h). */
enum bench_client {
	BENCH_CLIENT_URING,	/* io_uring: batched submissions, multishot receives */
	BENCH_CLIENT_EPOLL,	/* readiness: non-blocking sockets, one read per event */
};

#define BENCH_ERR_MAX		256
#define BENCH_TARGET_MAX	(INET6_ADDRSTRLEN + 8)

/* The limits a value must stay within; also quoted in --help. */
#define BENCH_CONNECTIONS_MAX	1000000u
#define BENCH_THREADS_MAX	256u
#define BENCH_PIPELINE_MAX	4096u
#define BENCH_SIZE_MAX		(16u << 20)
#define BENCH_EXPECT_MAX	65536u
#define BENCH_SOURCE_ADDRS_MAX	254u
/* Send buffers of all connections (connections x pipeline x size) together. */
#define BENCH_OUT_BYTES_MAX	(4ull << 30)

struct bench_opts {
	struct sockaddr_storage addr;	/* the target, port included */
	socklen_t addr_len;
	char target[BENCH_TARGET_MAX];	/* "127.0.0.1:12345" or "[::1]:12345", for reports */

	enum bench_mode mode;
	enum bench_client client;
	uint32_t connections;
	uint32_t threads;
	uint32_t pipeline;		/* messages in flight per connection */
	uint32_t size;			/* bytes per message */
	double duration;		/* seconds measured; 0: until --requests are done */
	uint64_t requests;		/* measured messages (oneshot: connections); 0: no limit */
	double rate;			/* open loop: messages (oneshot: connections) a second;
					   0: closed loop */
	double warmup;			/* seconds before measuring starts */
	double timeout;			/* seconds without progress before a connection fails */
	uint8_t *expect;		/* expected reply (line: per message; oneshot: before EOF) */
	size_t expect_len;
	uint32_t source_addrs;		/* > 1: bind to 127.0.0.1 .. 127.0.0.N in turn */
	bool linger0;			/* close with SO_LINGER 0: a reset, no TIME_WAIT */
	bool json;
	bool quiet;			/* no progress lines */
	bool allow_remote;
};

/* What bench_opts_parse() returns when it printed --help or --version. */
#define BENCH_OPTS_DONE 1

/**
 * bench_opts_parse() - fill @ret from the command line.
 * @err: receives a one-line message on failure (BENCH_ERR_MAX bytes).
 *
 * Return: 0, BENCH_OPTS_DONE after printing --help or --version to stdout,
 * or -EINVAL with @err set. On success @ret->expect is heap memory: release
 * it with bench_opts_deinit(), which is also safe on a zeroed or failed @ret.
 */
int bench_opts_parse(int argc, char **argv, struct bench_opts *ret, char *err);

void bench_opts_deinit(struct bench_opts *o);

const char *bench_mode_name(enum bench_mode mode);
const char *bench_client_name(enum bench_client client);


/**
 * bench_addr_is_loopback() - true for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
 */
bool bench_addr_is_loopback(const struct sockaddr *sa);
