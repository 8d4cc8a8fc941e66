/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One load thread: its own engine (--client: an io_uring, or an epoll
 * instance), its share of the connections. Workers share nothing on the hot
 * path: main reads their progress counters once a second and their results
 * after they finished. worker-engine.h is the inside of a worker.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "opts.h"

/* Timing and stop requests shared by main and every worker. */
struct bench_run {
	const struct bench_opts *opts;
	uint64_t start_ns;		/* CLOCK_MONOTONIC: load starts, warmup included */
	uint64_t measure_ns;		/* measuring starts: start + warmup */
	uint64_t end_ns;		/* measuring ends; UINT64_MAX: when --requests are done */
	_Atomic uint64_t stop_ns;	/* set by main on SIGINT: measuring ends there */
	_Atomic int stop;		/* 0 run; 1 stop sending and drain; 2 abort now */
	_Atomic unsigned int errors_printed;	/* errors seen so far, for the cap on lines */
};

/* Errors described on stderr per run; the rest are only counted. */
#define BENCH_ERRORS_PRINTED_MAX 10

/* Every error counts once, on the connection that had it, by kind. */
enum bench_err {
	BENCH_ERR_CONNECT,	/* socket(), bind() or connect() failed */
	BENCH_ERR_MISMATCH,	/* a reply byte differs, or bytes nobody asked for */
	BENCH_ERR_CLOSED,	/* EOF or reset before the replies owed */
	BENCH_ERR_TIMEOUT,	/* no progress for --timeout */
	BENCH_ERR_IO,		/* send or recv failed otherwise */
	BENCH_ERR_KINDS,
};

/* Counters for the progress lines: warmup included; relaxed, best effort. */
struct bench_progress {
	_Atomic uint64_t done;		/* messages (oneshot: exchanges) completed */
	_Atomic uint64_t bytes;		/* their payload bytes */
	_Atomic uint64_t errors;
};

/* A worker's figures, complete once it returned from bench_worker_run(). */
struct bench_result {
	struct bench_hist hist;		/* latency of measured completions (not discard) */
	uint64_t measured;		/* completions in the measuring window */
	uint64_t measured_bytes;	/* their payload bytes */
	uint64_t last_ns;		/* time of the last measured completion */
	bool quota_done;		/* its share of --requests was issued and answered */
	uint64_t errors[BENCH_ERR_KINDS];
	uint64_t unsent;		/* --rate: messages that came due but were never sent */
	uint64_t connects;		/* connections established */
};

struct bench_worker;

/**
 * bench_worker_new() - set up the engine --client names (io_uring: a ring and
 * a buffer ring; epoll: an epoll instance) and @n_conns connection slots
 * (numbered from @first_conn across workers). Call it on the thread that
 * will run the worker: the ring is single-issuer.
 * @quota: measured messages this worker issues at most (0: no limit).
 * @progress, @result: where the worker reports; zeroed by the caller.
 *
 * Return: 0 and *@ret, or a negative errno (-ENOSYS/-EPERM when io_uring or
 * epoll is refused) with @err saying what failed.
 */
int bench_worker_new(struct bench_run *run, uint32_t first_conn, uint32_t n_conns, uint64_t quota,
		     struct bench_progress *progress, struct bench_result *result,
		     struct bench_worker **ret, char *err);

/**
 * bench_worker_run() - load until the duration ends, the quota is answered or
 * main asks to stop, then drain what is in flight (for at most --timeout)
 * and close every connection.
 *
 * Return: 0, or a negative errno when the engine itself failed.
 */
int bench_worker_run(struct bench_worker *w);

/* Safe on NULL and on a half-built worker. */
void bench_worker_free(struct bench_worker *w);
