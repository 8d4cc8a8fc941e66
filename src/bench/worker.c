// SPDX-License-Identifier: MIT
/*
 * A worker, whatever its engine: the loop and the run's phases, the --rate
 * schedule, the connection life cycle and pipeline, reply checking,
 * accounting, errors and timeouts. The engines (worker-engine.h) only move
 * bytes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "worker-engine.h"

#define NSEC_PER_SEC		1000000000ull
#define NSEC_PER_MSEC		1000000ull
/* Timeouts and retries are checked this often. */
#define TICK_NS			(10 * NSEC_PER_MSEC)
/* A connection that failed waits this long before it is opened again. */
#define RETRY_NS		(10 * NSEC_PER_MSEC)
/* After the end, replies are awaited for --timeout and this much more. */
#define DRAIN_GRACE_NS		(100 * NSEC_PER_MSEC)
#define SNIPPET_MAX		48			/* bytes quoted from a bad reply */

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void bench_worker_mark_dirty(struct bench_worker *w, struct bench_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	w->dirty[w->n_dirty++] = bench_conn_slot(w, c);
}

size_t bench_worker_recv_size(const struct bench_worker *w)
{
	return w->o->mode == BENCH_ECHO && w->o->size > 4096 ? 32768 : 4096;
}

/* ---- accounting -------------------------------------------------------- */

/* One message (oneshot: exchange) answered; measured when it lies in the window. */
static void complete(struct bench_worker *w, uint64_t intended, bool timed)
{
	uint32_t size = w->o->size;

	w->done++;
	w->bytes += size;
	if (intended < w->run->measure_ns || w->now > w->window_end)
		return;
	w->res->measured++;
	w->res->measured_bytes += size;
	w->res->last_ns = w->now;
	if (timed)
		bench_hist_record(&w->res->hist, w->now > intended ? w->now - intended : 0);
}

static uint64_t q_pop(struct bench_conn *c, uint32_t pipeline)
{
	uint64_t t = c->q[c->q_head];

	c->q_head = (c->q_head + 1) % pipeline;
	c->q_count--;
	return t;
}

static uint64_t sched_time(const struct bench_worker *w, uint64_t j)
{
	return w->run->start_ns + (uint64_t)((double)j * w->interval_ns);
}

static bool may_issue(const struct bench_worker *w, const struct bench_conn *c)
{
	return w->running && w->issued < w->quota && (w->o->rate <= 0 || c->due > 0);
}

/* Takes the next message off the schedule: its intended send time. */
static uint64_t issue_one(struct bench_worker *w, struct bench_conn *c)
{
	uint64_t t = w->now;

	if (w->o->rate > 0) {
		t = sched_time(w, c->due_j);
		c->due_j += w->n;
		c->due--;
	}
	if (t >= w->run->measure_ns)
		w->issued++;
	return t;
}

/* Counts an error on @c, once, and describes the first few on stderr. */
__attribute__((format(printf, 4, 0)))
static void conn_verror(struct bench_worker *w, struct bench_conn *c, enum bench_err kind,
			const char *fmt, va_list ap)
{
	char msg[512];

	if (c->failed)
		return;		/* a consequence of the error already counted */
	c->failed = true;
	w->res->errors[kind]++;
	w->errors++;
	if (atomic_fetch_add_explicit(&w->run->errors_printed, 1, memory_order_relaxed) >=
	    BENCH_ERRORS_PRINTED_MAX)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "tcpack-bench: %s conn %u: %s\n", w->o->target, c->id, msg);
}

__attribute__((format(printf, 4, 5)))
static void conn_error(struct bench_worker *w, struct bench_conn *c, enum bench_err kind,
		       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verror(w, c, kind, fmt, ap);
	va_end(ap);
}

/*
 * Start closing; the engine lets go of the fd and it is closed when the
 * connection is stepped (conn_step). Messages still owed are lost.
 */
static void conn_close(struct bench_worker *w, struct bench_conn *c)
{
	if (c->state == BENCH_CONN_IDLE || c->state == BENCH_CONN_CLOSING)
		return;
	c->state = BENCH_CONN_CLOSING;
	c->q_count = 0;
	bench_worker_mark_dirty(w, c);
}

void bench_conn_fail(struct bench_worker *w, struct bench_conn *c, enum bench_err kind,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verror(w, c, kind, fmt, ap);
	va_end(ap);
	conn_close(w, c);
}

/* A connect that failed stands for one request, so --requests always ends. */
static void charge_failed_connect(struct bench_worker *w)
{
	if (w->o->mode != BENCH_ONESHOT && w->now >= w->run->measure_ns && w->issued < w->quota)
		w->issued++;
}

/* ---- what the engines report -------------------------------------------- */

void bench_conn_connected(struct bench_worker *w, struct bench_conn *c, int res)
{
	if (c->state != BENCH_CONN_CONNECTING)
		return;
	if (res < 0) {
		charge_failed_connect(w);
		bench_conn_fail(w, c, BENCH_ERR_CONNECT, "connect: %s", strerror(-res));
		return;
	}
	c->state = BENCH_CONN_OPEN;
	c->progress_ns = w->now;
	w->res->connects++;
}

/* For discard, the kernel taking a message is all it gets. */
void bench_conn_sent(struct bench_worker *w, struct bench_conn *c, ssize_t res)
{
	const struct bench_opts *o = w->o;

	if (c->state != BENCH_CONN_OPEN && c->state != BENCH_CONN_CONNECTING)
		return;
	if (res < 0) {
		bench_conn_fail(w, c, res == -EPIPE || res == -ECONNRESET ? BENCH_ERR_CLOSED :
				BENCH_ERR_IO, "send: %s", strerror((int)-res));
		return;
	}
	c->out_done += (uint32_t)res;
	c->progress_ns = w->now;
	if (o->mode == BENCH_DISCARD) {
		c->sent_partial += (uint64_t)res;
		while (c->sent_partial >= o->size && c->q_count) {
			c->sent_partial -= o->size;
			complete(w, q_pop(c, o->pipeline), false);
		}
	}
}

static void report_mismatch(struct bench_worker *w, struct bench_conn *c, const uint8_t *data,
			    size_t len, ssize_t r, const struct bench_mismatch *bad)
{
	char want[SNIPPET_MAX * 4 + 4], got[SNIPPET_MAX * 4 + 4];
	size_t got_len = len - bad->at < SNIPPET_MAX ? len - bad->at : SNIPPET_MAX;

	bench_escape(data + bad->at, got_len, got, sizeof(got));
	if (r == -EPROTO) {
		bench_conn_fail(w, c, BENCH_ERR_MISMATCH, "%s: \"%s\"",
				w->o->mode == BENCH_ONESHOT ? "data after the reply" :
				"reply bytes with no message outstanding", got);
		return;
	}
	bench_escape(c->rx.msg + bad->pos, c->rx.len - bad->pos, want, sizeof(want));
	bench_conn_fail(w, c, BENCH_ERR_MISMATCH,
			"reply %llu differs at byte %zu: expected \"%s\", got \"%s\"",
			(unsigned long long)bad->seq, bad->pos, want, got);
}

static void on_data(struct bench_worker *w, struct bench_conn *c, const uint8_t *data, size_t len)
{
	const struct bench_opts *o = w->o;
	struct bench_mismatch bad;
	uint64_t limit;
	ssize_t r;

	c->progress_ns = w->now;
	if (o->mode == BENCH_DISCARD) {
		char got[SNIPPET_MAX * 4 + 4];

		bench_escape(data, len < SNIPPET_MAX ? len : SNIPPET_MAX, got, sizeof(got));
		bench_conn_fail(w, c, BENCH_ERR_MISMATCH, "%zu bytes from a discard server: \"%s\"",
				len, got);
		return;
	}
	limit = o->mode == BENCH_ONESHOT ? 1 - c->rx.seq : c->q_count;
	r = bench_stream_feed(&c->rx, data, len, limit, &bad);
	if (o->mode != BENCH_ONESHOT) {
		uint64_t n = r < 0 ? bad.done : (uint64_t)r;

		for (uint64_t i = 0; i < n; i++)
			complete(w, q_pop(c, o->pipeline), true);
	}
	if (r < 0)
		report_mismatch(w, c, data, len, r, &bad);
}

static void on_eof(struct bench_worker *w, struct bench_conn *c)
{
	const struct bench_opts *o = w->o;

	if (o->mode != BENCH_ONESHOT) {
		bench_conn_fail(w, c, BENCH_ERR_CLOSED,
				"server closed the connection (%u messages unanswered)", c->q_count);
		return;
	}
	if (c->rx.seq == 1 || o->expect_len == 0) {
		complete(w, c->start_ns, true);
		conn_close(w, c);
		return;
	}
	bench_conn_fail(w, c, BENCH_ERR_CLOSED, "EOF after %zu of %zu reply bytes", c->rx.pos,
			o->expect_len);
}

void bench_conn_received(struct bench_worker *w, struct bench_conn *c, const uint8_t *data,
			 ssize_t res)
{
	if (c->state != BENCH_CONN_OPEN)
		return;
	if (res > 0)
		on_data(w, c, data, (size_t)res);
	else if (res == 0)
		on_eof(w, c);
	else
		bench_conn_fail(w, c, res == -ECONNRESET ? BENCH_ERR_CLOSED : BENCH_ERR_IO,
				"recv: %s", strerror((int)-res));
}

/* ---- connection life cycle --------------------------------------------- */

/* Nothing of the engine refers to the fd any more: close it, free the slot. */
static void conn_finish_close(struct bench_worker *w, struct bench_conn *c)
{
	w->engine->close(w, c);
	w->busy--;
	c->fd = -1;
	c->gen = (c->gen + 1) & BENCH_UD_GEN_MASK;
	c->state = BENCH_CONN_IDLE;
	c->retry_ns = c->failed ? w->now + RETRY_NS : w->now;
	c->failed = false;
	c->sending = false;
	c->q_head = c->q_count = 0;
	c->out_len = c->out_done = 0;
	c->sent_partial = 0;
	c->tx_seq = 0;
	c->rx.pos = 0;
	c->rx.seq = 0;
}

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* A socket with the options the run asks for, bound to the next source address. */
static int open_socket(struct bench_worker *w)
{
	const struct bench_opts *o = w->o;
	int fd, r = 0;

	fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | w->engine->sock_flags, 0);
	if (fd < 0)
		return -errno;
	if (o->mode != BENCH_ONESHOT)
		r = set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (!r && o->linger0) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0)
			r = -errno;
	}
	if (!r && o->source_addrs > 1) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		uint32_t k = w->src_next++ % o->source_addrs;

		src.sin_addr.s_addr = htonl(0x7f000001u + k);
		/* Pick the port at connect(): per 4-tuple, not per address. */
		r = set_int_opt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
		if (!r && bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			r = -errno;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* IDLE -> CONNECTING. Oneshot's message is ready in out before the connect starts. */
static void conn_start(struct bench_worker *w, struct bench_conn *c)
{
	const struct bench_opts *o = w->o;
	int fd;

	if (o->mode == BENCH_ONESHOT)
		c->start_ns = issue_one(w, c);
	fd = open_socket(w);
	if (fd < 0) {
		charge_failed_connect(w);
		conn_error(w, c, BENCH_ERR_CONNECT, "socket: %s", strerror(-fd));
		c->failed = false;
		c->retry_ns = w->now + RETRY_NS;
		return;
	}
	c->fd = fd;
	c->state = BENCH_CONN_CONNECTING;
	c->progress_ns = w->now;
	w->busy++;
	if (o->mode == BENCH_ONESHOT) {
		bench_msg_fill(c->out, o->size, c->id, c->exchanges++, w->filler);
		c->out_len = o->size;
		c->out_done = 0;
	}
	w->engine->connect(w, c);
}

static bool conn_may_start(const struct bench_worker *w, const struct bench_conn *c)
{
	if (!w->running || w->now < c->retry_ns)
		return false;
	return w->o->mode != BENCH_ONESHOT || may_issue(w, c);
}

/* Keep-alive: issue what the pipeline (and the engine's turns) allow into out. */
static void fill_pipeline(struct bench_worker *w, struct bench_conn *c)
{
	const struct bench_opts *o = w->o;

	if (w->engine->turns && (c->q_count || c->sending))
		return;		/* the last turn is not answered yet */
	if (!c->sending && c->out_done) {
		memmove(c->out, c->out + c->out_done, c->out_len - c->out_done);
		c->out_len -= c->out_done;
		c->out_done = 0;
	}
	while (c->q_count < o->pipeline && c->out_len + o->size <= w->out_cap && may_issue(w, c)) {
		uint64_t t = issue_one(w, c);

		if (!c->q_count && !c->sending)
			c->progress_ns = w->now;	/* the wait for an answer starts */
		c->q[(c->q_head + c->q_count) % o->pipeline] = t;
		c->q_count++;
		bench_msg_fill(c->out + c->out_len, o->size, c->id, c->tx_seq++, w->filler);
		c->out_len += o->size;
	}
}

/* OPEN: fill the pipeline, have the engine send it and keep receiving. */
static void conn_step_open(struct bench_worker *w, struct bench_conn *c)
{
	if (w->o->mode == BENCH_ONESHOT) {
		w->engine->flush(w, c);
		return;
	}
	if (w->draining && !c->q_count && !c->sending) {
		conn_close(w, c);
		return;
	}
	fill_pipeline(w, c);
	w->engine->flush(w, c);
	/* The send ended at once and nothing is owed (discard): the next turn, next pass. */
	if (c->state == BENCH_CONN_OPEN && !c->sending && !c->q_count && may_issue(w, c))
		bench_worker_mark_dirty(w, c);
}

/* Moves a connection as far as it can go now. */
static void conn_step(struct bench_worker *w, struct bench_conn *c)
{
	for (;;) {
		switch (c->state) {
		case BENCH_CONN_IDLE:
			if (!conn_may_start(w, c))
				return;
			conn_start(w, c);
			if (c->state == BENCH_CONN_IDLE || c->state == BENCH_CONN_CONNECTING)
				return;
			continue;	/* the connect ended at once */
		case BENCH_CONN_CONNECTING:
			if (w->draining && w->o->mode != BENCH_ONESHOT) {
				conn_close(w, c);
				continue;
			}
			return;
		case BENCH_CONN_OPEN:
			conn_step_open(w, c);
			if (c->state == BENCH_CONN_CLOSING)
				continue;
			return;
		case BENCH_CONN_CLOSING:
			if (!w->engine->release(w, c))
				return;
			conn_finish_close(w, c);
			continue;
		}
		return;
	}
}

/*
 * Steps every connection marked before the pass began, once. One marked
 * while it is stepped goes on the list again for the next pass, so the list
 * holds each connection at most twice: room for 2 n.
 */
static void run_dirty(struct bench_worker *w)
{
	uint32_t n = w->n_dirty;

	for (uint32_t i = 0; i < n; i++) {
		struct bench_conn *c = &w->conns[w->dirty[i]];

		c->dirty = false;
		conn_step(w, c);
	}
	w->n_dirty -= n;
	memmove(w->dirty, w->dirty + n, w->n_dirty * sizeof(*w->dirty));
}

/* ---- the loop ------------------------------------------------------------ */

/* Hands out the arrivals of --rate that came due, round robin. */
static void assign_arrivals(struct bench_worker *w)
{
	while (w->running) {
		uint64_t t = sched_time(w, w->next_j);
		bool measured = t >= w->run->measure_ns;
		/* n >= 1: opts caps --threads at --connections. */
		struct bench_conn *c = &w->conns[w->next_j % w->n];	/* NOLINT(clang-analyzer-core.DivideZero) */

		if (t > w->now || (measured && w->assigned >= w->quota))
			break;
		if (c->due++ == 0)
			c->due_j = w->next_j;
		if (measured)
			w->assigned++;
		w->next_j++;
		bench_worker_mark_dirty(w, c);
	}
}

/* Every TICK_NS: connections without progress for --timeout fail; retries come due. */
static void tick(struct bench_worker *w)
{
	bool oneshot = w->o->mode == BENCH_ONESHOT;

	for (uint32_t i = 0; i < w->n; i++) {
		struct bench_conn *c = &w->conns[i];
		bool waiting;

		switch (c->state) {
		case BENCH_CONN_IDLE:
			/* Oneshot under --rate starts only what came due. */
			if (w->running && c->retry_ns <= w->now &&
			    (!oneshot || w->o->rate <= 0 || c->due))
				bench_worker_mark_dirty(w, c);
			break;
		case BENCH_CONN_CONNECTING:
		case BENCH_CONN_OPEN:
			waiting = c->state == BENCH_CONN_CONNECTING || oneshot || c->sending ||
				  c->q_count;
			if (waiting && w->now - c->progress_ns > w->timeout_ns)
				bench_conn_fail(w, c, BENCH_ERR_TIMEOUT,
						"no progress for %.3g s (%s, %u messages unanswered)",
						(double)w->timeout_ns / 1e9,
						c->state == BENCH_CONN_CONNECTING ? "connecting" :
						"connected", oneshot ? 1 : c->q_count);
			break;
		default:
			break;
		}
	}
	w->next_tick = w->now + TICK_NS;
}

/* Reads main's stop requests; returns true when the run must end at once. */
static bool update_phase(struct bench_worker *w)
{
	int stop = atomic_load_explicit(&w->run->stop, memory_order_relaxed);
	uint64_t stop_ns = atomic_load_explicit(&w->run->stop_ns, memory_order_relaxed);

	if (stop >= 2)
		return true;
	w->window_end = stop_ns < w->run->end_ns ? stop_ns : w->run->end_ns;
	w->running = !stop && w->now < w->run->end_ns && w->issued < w->quota;
	if (!w->running && !w->draining) {
		w->draining = true;
		w->drain_deadline = w->now + w->timeout_ns + DRAIN_GRACE_NS;
		for (uint32_t i = 0; i < w->n; i++) {
			w->res->unsent += w->conns[i].due;
			if (w->conns[i].state != BENCH_CONN_IDLE)
				bench_worker_mark_dirty(w, &w->conns[i]);
		}
	}
	return false;
}

/* How long the engine may sleep: 0 when connections wait for the next pass. */
static uint64_t wait_ns(const struct bench_worker *w)
{
	uint64_t t = w->next_tick;

	if (w->n_dirty)
		return 0;
	if (w->running) {
		if (w->run->end_ns < t)
			t = w->run->end_ns;
		if (w->o->rate > 0 && sched_time(w, w->next_j) < t)
			t = sched_time(w, w->next_j);
	}
	if (w->draining && w->drain_deadline < t)
		t = w->drain_deadline;
	return t > w->now ? t - w->now : 0;
}

static void publish(struct bench_worker *w)
{
	atomic_store_explicit(&w->progress->done, w->done, memory_order_relaxed);
	atomic_store_explicit(&w->progress->bytes, w->bytes, memory_order_relaxed);
	atomic_store_explicit(&w->progress->errors, w->errors, memory_order_relaxed);
}

int bench_worker_run(struct bench_worker *w)
{
	int r = 0;

	w->now = bench_now_ns();
	w->next_tick = w->now + TICK_NS;
	for (uint32_t i = 0; i < w->n; i++)
		bench_worker_mark_dirty(w, &w->conns[i]);
	for (;;) {
		w->now = bench_now_ns();
		if (update_phase(w))
			break;
		if (w->o->rate > 0)
			assign_arrivals(w);
		if (w->now >= w->next_tick)
			tick(w);
		run_dirty(w);
		publish(w);
		if (w->draining && ((!w->busy && !w->closes_pending) || w->now >= w->drain_deadline))
			break;
		r = w->engine->wait(w, wait_ns(w));
		if (r < 0)
			break;
	}
	w->res->quota_done = w->quota != UINT64_MAX && w->issued >= w->quota;
	publish(w);
	return r;
}

/* ---- setup ---------------------------------------------------------------- */

static int setup_conns(struct bench_worker *w, uint32_t first_conn, char *err)
{
	const struct bench_opts *o = w->o;
	bool echo = o->mode == BENCH_ECHO;

	w->out_cap = (size_t)o->pipeline * o->size;
	w->conns = calloc(w->n, sizeof(*w->conns));
	w->dirty = calloc(2 * (size_t)w->n, sizeof(*w->dirty));
	w->q_store = calloc((size_t)w->n * o->pipeline, sizeof(*w->q_store));
	w->out_store = malloc(w->n * w->out_cap);
	w->filler = malloc(BENCH_FILLER_SIZE(o->size));
	if (echo)
		w->rx_store = malloc((size_t)w->n * o->size);
	if (!w->conns || !w->dirty || !w->q_store || !w->out_store || !w->filler ||
	    (echo && !w->rx_store)) {
		snprintf(err, BENCH_ERR_MAX, "out of memory for %u connections", w->n);
		return -ENOMEM;
	}
	bench_filler_init(w->filler, BENCH_FILLER_SIZE(o->size));
	for (uint32_t i = 0; i < w->n; i++) {
		struct bench_conn *c = &w->conns[i];

		c->fd = -1;
		c->id = first_conn + i;
		c->q = w->q_store + (size_t)i * o->pipeline;
		c->out = w->out_store + (size_t)i * w->out_cap;
		c->rx.conn_id = c->id;
		if (echo) {
			c->rx.msg = w->rx_store + (size_t)i * o->size;
			c->rx.len = o->size;
			c->rx.echo = true;
			c->rx.filler = w->filler;
		} else {
			c->rx.msg = o->expect;
			c->rx.len = o->expect_len;
		}
	}
	return 0;
}

int bench_worker_new(struct bench_run *run, uint32_t first_conn, uint32_t n_conns, uint64_t quota,
		     struct bench_progress *progress, struct bench_result *result,
		     struct bench_worker **ret, char *err)
{
	const struct bench_engine *engine = run->opts->client == BENCH_CLIENT_EPOLL ?
					    &bench_engine_epoll : &bench_engine_uring;
	struct bench_worker *w;
	int r;

	w = calloc(1, engine->size);
	if (!w) {
		snprintf(err, BENCH_ERR_MAX, "out of memory");
		return -ENOMEM;
	}
	w->run = run;
	w->o = run->opts;
	w->progress = progress;
	w->res = result;
	w->n = n_conns;
	w->quota = quota ? quota : UINT64_MAX;
	w->timeout_ns = (uint64_t)(w->o->timeout * 1e9);
	w->window_end = run->end_ns;
	w->src_next = first_conn;
	if (w->o->rate > 0)
		w->interval_ns = 1e9 / (w->o->rate * n_conns / w->o->connections);
	r = setup_conns(w, first_conn, err);
	if (r < 0)
		goto fail;
	w->engine = engine;
	r = engine->setup(w, err);
	if (r < 0)
		goto fail;
	*ret = w;
	return 0;
fail:
	bench_worker_free(w);
	return r;
}

void bench_worker_free(struct bench_worker *w)
{
	if (!w)
		return;
	/* The engine first: io_uring cancels and reaps what is still in flight. */
	if (w->engine)
		w->engine->free(w);
	w->engine = NULL;
	for (uint32_t i = 0; w->conns && i < w->n; i++) {
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
		w->conns[i].fd = -1;
	}
	free(w->rx_store);
	free(w->filler);
	free(w->out_store);
	free(w->q_store);
	free(w->dirty);
	free(w->conns);
	free(w);
}
