/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside a worker (worker.h): the engine-neutral part, worker.c, and the
 * seam to the two client engines that move its bytes, chosen with --client:
 *   worker-uring.c  io_uring: connects, sends and multishot receives into
 *                   provided buffers, a pass's requests submitted together;
 *   worker-epoll.c  readiness, as wrk, memtier or redis-benchmark do it:
 *                   non-blocking sockets, level-triggered epoll, one read
 *                   per readiness event, one write per turn.
 *
 * worker.c decides everything that does not depend on how bytes move: the
 * loop and the run's phases, the --rate schedule, when a connection opens
 * and closes, what it sends next, reply checking, the counters, errors and
 * --timeout. An engine starts connects, sends what a connection's out
 * buffer holds, receives, feeds each result back through bench_conn_*()
 * and marks the connection dirty. Every dirty connection is stepped once
 * per pass of the loop, before the engine waits again.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "payload.h"
#include "worker.h"

/*
 * user_data of every SQE of the io_uring engine, and data of every
 * epoll_event of the epoll engine, encoded here and nowhere else:
 *   bits 63..56  op
 *   bits 55..32  generation of the connection slot (24 bits)
 *   bits 31..0   connection slot
 * An event whose generation differs from its slot's is stale: the slot was
 * closed and reused since the operation was submitted or the fd registered.
 */
enum bench_op {
	BENCH_OP_NONE = 0,	/* never submitted: a zero user_data is not ours */
	BENCH_OP_CONNECT,
	BENCH_OP_SEND,
	BENCH_OP_RECV,
	BENCH_OP_CANCEL,	/* cancels every request on a closing connection's fd */
	BENCH_OP_CLOSE,
	BENCH_OP_POLL,		/* epoll: readiness of a connection's fd */
};

#define BENCH_UD_GEN_MASK	0xffffffu

struct bench_ud {
	enum bench_op op;
	uint32_t gen;
	uint32_t slot;
};

static inline uint64_t bench_ud_encode(enum bench_op op, uint32_t slot, uint32_t gen)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & BENCH_UD_GEN_MASK) << 32 | slot;
}

static inline struct bench_ud bench_ud_decode(uint64_t ud)
{
	return (struct bench_ud){
		.op = (enum bench_op)(ud >> 56),
		.gen = (uint32_t)(ud >> 32) & BENCH_UD_GEN_MASK,
		.slot = (uint32_t)ud,
	};
}

enum bench_conn_state {
	BENCH_CONN_IDLE,	/* no socket */
	BENCH_CONN_CONNECTING,	/* connect started (oneshot: the message is in out) */
	BENCH_CONN_OPEN,	/* connected */
	BENCH_CONN_CLOSING,	/* the engine lets go of the fd, then it is closed */
};

/* One connection slot; what an engine keeps per slot lives in the engine. */
struct bench_conn {
	int fd;
	uint32_t gen;
	uint32_t id;			/* connection number across workers, in the stamps */
	uint8_t state;			/* enum bench_conn_state */
	bool dirty;			/* on the dirty list */
	bool failed;			/* an error was counted: the rest is its consequence */
	bool sending;			/* a send of out is under way: uring in flight,
					   epoll waiting for EPOLLOUT; one at a time */
	uint64_t progress_ns;		/* last sign of life, for --timeout */
	uint64_t retry_ns;		/* IDLE: not before this */
	uint64_t start_ns;		/* oneshot: intended start of the exchange */
	/* Messages issued and not answered yet: intended send times, a ring of --pipeline. */
	uint64_t *q;
	uint32_t q_head, q_count;
	/* Bytes for the kernel: [out_done, out_len) of out. */
	uint8_t *out;
	uint32_t out_len, out_done;
	uint64_t sent_partial;		/* discard: bytes sent of messages not yet counted */
	uint64_t tx_seq;		/* messages generated on this connection */
	uint64_t exchanges;		/* oneshot: connections this slot started, for the stamp */
	struct bench_stream rx;
	/* --rate: messages due here, and the schedule index of the oldest. */
	uint64_t due;
	uint64_t due_j;
};

struct bench_engine;

/* The engine-neutral worker; an engine's own worker begins with it. */
struct bench_worker {
	const struct bench_engine *engine;	/* set once its setup() is called */
	struct bench_run *run;
	const struct bench_opts *o;
	struct bench_progress *progress;
	struct bench_result *res;

	struct bench_conn *conns;
	uint32_t n;
	uint32_t *dirty;		/* room for 2 n: see run_dirty() */
	uint32_t n_dirty;
	uint64_t *q_store;
	uint8_t *out_store;
	size_t out_cap;			/* per connection: pipeline x size */
	uint8_t *rx_store;		/* echo: the message expected now, per connection */
	uint8_t *filler;

	uint64_t now;			/* CLOCK_MONOTONIC, read once per wake-up */
	uint64_t window_end;		/* completions after this are not measured */
	uint64_t timeout_ns;
	uint64_t next_tick;
	bool running;			/* new messages and exchanges may start */
	bool draining;
	uint64_t drain_deadline;
	uint32_t busy;			/* connections not IDLE */
	uint32_t closes_pending;	/* closes the engine started and has not seen end */
	uint64_t quota;			/* measured messages to issue; UINT64_MAX: no limit */
	uint64_t issued;		/* measured messages issued (and failed connects) */
	uint32_t src_next;		/* --source-addrs: the next one */
	/* --rate: arrival j is due at start + j * interval_ns, for connection j % n. */
	double interval_ns;
	uint64_t next_j;
	uint64_t assigned;		/* measured arrivals handed out */

	uint64_t done, bytes, errors;	/* for the progress counters */
};

/*
 * What an engine does for the worker. Each operation is called on the
 * worker's thread; @c is always one of w->conns.
 */
struct bench_engine {
	const char *name;		/* as --client names it */
	size_t size;			/* of the engine's worker */
	int sock_flags;			/* added to socket()'s type */
	/*
	 * A connection sends its next turn (up to --pipeline messages, in one
	 * send) only once every message of the last one is answered, as wrk
	 * and redis-benchmark do. Without it, it tops up the pipeline as each
	 * answer arrives.
	 */
	bool turns;
	/* Set up the engine's part. Return: 0, or -errno with @err set. */
	int (*setup)(struct bench_worker *w, char *err);
	/*
	 * Start what the pass prepared, sleep until I/O is ready or
	 * @timeout_ns passed, set w->now, and feed what happened to the
	 * connections. Return: 0, or -errno when the engine itself failed.
	 */
	int (*wait)(struct bench_worker *w, uint64_t timeout_ns);
	/*
	 * CONNECTING: connect the fresh socket c->fd. It may end at once,
	 * through bench_conn_connected().
	 */
	void (*connect)(struct bench_worker *w, struct bench_conn *c);
	/*
	 * OPEN: send [out_done, out_len) of c->out unless c->sending, and
	 * keep receiving. A send may end at once, through bench_conn_sent().
	 */
	void (*flush)(struct bench_worker *w, struct bench_conn *c);
	/*
	 * CLOSING: true when nothing of the engine refers to c->fd any more;
	 * otherwise arrange that (cancel) and return false: the connection is
	 * marked dirty again when it ended.
	 */
	bool (*release)(struct bench_worker *w, struct bench_conn *c);
	/* Close c->fd (the slot's generation changes right after). */
	void (*close)(struct bench_worker *w, struct bench_conn *c);
	/* Release the engine's part; safe on a half-built one. */
	void (*free)(struct bench_worker *w);
};

extern const struct bench_engine bench_engine_uring;
extern const struct bench_engine bench_engine_epoll;

uint64_t bench_now_ns(void);

static inline uint32_t bench_conn_slot(const struct bench_worker *w, const struct bench_conn *c)
{
	return (uint32_t)(c - w->conns);
}

/* Look at @c in the next pass (engines: after each event fed to it). */
void bench_worker_mark_dirty(struct bench_worker *w, struct bench_conn *c);

/* Bytes one receive takes at most: replies are small, echo of big messages is not. */
size_t bench_worker_recv_size(const struct bench_worker *w);

/* The connect of @c ended: 0, or a negative errno. */
void bench_conn_connected(struct bench_worker *w, struct bench_conn *c, int res);

/* A send of @c ended: @res bytes of out went into the socket, or a negative errno. */
void bench_conn_sent(struct bench_worker *w, struct bench_conn *c, ssize_t res);

/* A receive of @c ended: @res bytes at @data, 0 for EOF, or a negative errno. */
void bench_conn_received(struct bench_worker *w, struct bench_conn *c, const uint8_t *data,
			 ssize_t res);

/* An error that ends @c: counted once and described (the first few), then it closes. */
__attribute__((format(printf, 4, 5)))
void bench_conn_fail(struct bench_worker *w, struct bench_conn *c, enum bench_err kind,
		     const char *fmt, ...);
