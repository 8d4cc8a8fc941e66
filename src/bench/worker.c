// SPDX-License-Identifier: MIT
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "payload.h"
#include "worker.h"

#define BGID			0
#define NSEC_PER_SEC		1000000000ull
#define NSEC_PER_MSEC		1000000ull
/* Timeouts and retries are checked this often. */
#define TICK_NS			(10 * NSEC_PER_MSEC)
/* A connection that failed waits this long before it is opened again. */
#define RETRY_NS		(10 * NSEC_PER_MSEC)
/* After the end, replies are awaited for --timeout and this much more. */
#define DRAIN_GRACE_NS		(100 * NSEC_PER_MSEC)
#define SNIPPET_MAX		48			/* bytes quoted from a bad reply */

enum conn_state {
	CONN_IDLE,		/* no socket */
	CONN_CONNECTING,	/* connect submitted (oneshot: its send linked behind it) */
	CONN_OPEN,		/* connected */
	CONN_CLOSING,		/* waiting for its requests to end, then close */
};

struct conn {
	int fd;
	uint32_t gen;
	uint32_t id;			/* connection number across workers, in the stamps */
	uint8_t state;			/* enum conn_state */
	uint8_t inflight;		/* requests whose last completion has not arrived */
	bool dirty;			/* on the dirty list, or being stepped */
	bool failed;			/* an error was counted: the rest is its consequence */
	bool recv_armed;
	bool send_inflight;		/* one send at a time keeps the bytes in order */
	bool cancel_sent;
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

struct bench_worker {
	struct io_uring ring;
	bool ring_ok;
	struct bench_run *run;
	const struct bench_opts *o;
	struct bench_progress *progress;
	struct bench_result *res;

	struct conn *conns;
	uint32_t n;
	uint32_t *dirty;
	uint32_t n_dirty;
	uint64_t *q_store;
	uint8_t *out_store;
	size_t out_cap;			/* per connection: pipeline x size */
	uint8_t *rx_store;		/* echo: the message expected now, per connection */
	uint8_t *filler;

	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	unsigned int buf_count, buf_size, buf_mask;
	int bufs_returned;		/* added since the last advance */

	uint64_t now;			/* CLOCK_MONOTONIC, read once per wake-up */
	uint64_t window_end;		/* completions after this are not measured */
	uint64_t timeout_ns;
	uint64_t next_tick;
	bool running;			/* new messages and exchanges may start */
	bool draining;
	uint64_t drain_deadline;
	uint32_t busy;			/* connections not IDLE */
	uint32_t closes_pending;
	uint64_t quota;			/* measured messages to issue; UINT64_MAX: no limit */
	uint64_t issued;		/* measured messages issued (and failed connects) */
	uint32_t src_next;		/* --source-addrs: the next one */
	/* --rate: arrival j is due at start + j * interval_ns, for connection j % n. */
	double interval_ns;
	uint64_t next_j;
	uint64_t assigned;		/* measured arrivals handed out */

	uint64_t done, bytes, errors;	/* for the progress counters */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint32_t slot_of(const struct bench_worker *w, const struct conn *c)
{
	return (uint32_t)(c - w->conns);
}

static void mark_dirty(struct bench_worker *w, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	w->dirty[w->n_dirty++] = slot_of(w, c);
}

/* ---- submission -------------------------------------------------------- */

/* An SQE, flushing the queue when it is full. Aborts only if the ring is stuck. */
static struct io_uring_sqe *get_sqe(struct bench_worker *w)
{
	for (int i = 0; i < 4; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

		if (sqe)
			return sqe;
		(void)io_uring_submit(&w->ring);
	}
	fprintf(stderr, "tcpack-bench: io_uring submission queue stuck full; aborting\n");
	abort();
}

static void prep_recv(struct bench_worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, bench_ud_encode(BENCH_OP_RECV, slot_of(w, c), c->gen));
	c->inflight++;
	c->recv_armed = true;
}

static void prep_send(struct bench_worker *w, struct conn *c, struct io_uring_sqe *sqe)
{
	io_uring_prep_send(sqe, c->fd, c->out + c->out_done, c->out_len - c->out_done, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, bench_ud_encode(BENCH_OP_SEND, slot_of(w, c), c->gen));
	c->inflight++;
	c->send_inflight = true;
}

/* ---- provided buffers -------------------------------------------------- */

static uint8_t *buf_addr(struct bench_worker *w, unsigned int bid)
{
	return w->bufs + (size_t)bid * w->buf_size;
}

/* Give a buffer the kernel filled back to it; published after the batch. */
static void buf_recycle(struct bench_worker *w, unsigned int bid)
{
	io_uring_buf_ring_add(w->br, buf_addr(w, bid), w->buf_size, (unsigned short)bid,
			      (int)w->buf_mask, w->bufs_returned++);
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

static uint64_t q_pop(struct conn *c, uint32_t pipeline)
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

static bool may_issue(const struct bench_worker *w, const struct conn *c)
{
	return w->running && w->issued < w->quota && (w->o->rate <= 0 || c->due > 0);
}

/* Takes the next message off the schedule: its intended send time. */
static uint64_t issue_one(struct bench_worker *w, struct conn *c)
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
static void conn_verror(struct bench_worker *w, struct conn *c, enum bench_err kind,
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
static void conn_error(struct bench_worker *w, struct conn *c, enum bench_err kind,
		       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verror(w, c, kind, fmt, ap);
	va_end(ap);
}

/*
 * Start closing: cancel what is in flight on the fd; the close itself follows
 * once the last completion arrived (conn_step). Messages still owed are lost.
 */
static void conn_close(struct bench_worker *w, struct conn *c)
{
	if (c->state == CONN_IDLE || c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->q_count = 0;
	if (c->inflight && !c->cancel_sent) {
		struct io_uring_sqe *sqe = get_sqe(w);

		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, bench_ud_encode(BENCH_OP_CANCEL, slot_of(w, c), c->gen));
		c->cancel_sent = true;
	}
	mark_dirty(w, c);
}

/* An error that ends the connection: count it, then close. */
__attribute__((format(printf, 4, 5)))
static void conn_fail(struct bench_worker *w, struct conn *c, enum bench_err kind,
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

/* ---- connection life cycle --------------------------------------------- */

/* The last request on the fd ended: close it and free the slot for reuse. */
static void conn_finish_close(struct bench_worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, bench_ud_encode(BENCH_OP_CLOSE, slot_of(w, c), c->gen));
	w->closes_pending++;
	w->busy--;
	c->fd = -1;
	c->gen = (c->gen + 1) & BENCH_UD_GEN_MASK;
	c->state = CONN_IDLE;
	c->retry_ns = c->failed ? w->now + RETRY_NS : w->now;
	c->failed = false;
	c->cancel_sent = false;
	c->recv_armed = false;
	c->send_inflight = false;
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

	fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

/*
 * IDLE -> CONNECTING. Oneshot links its message behind the connect, so one
 * submission carries the whole request.
 */
static void conn_start(struct bench_worker *w, struct conn *c)
{
	const struct bench_opts *o = w->o;
	bool oneshot = o->mode == BENCH_ONESHOT;
	struct io_uring_sqe *sqe;
	int fd;

	if (oneshot)
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
	c->state = CONN_CONNECTING;
	c->progress_ns = w->now;
	w->busy++;
	if (io_uring_sq_space_left(&w->ring) < 2)
		(void)io_uring_submit(&w->ring);	/* a link must not span two submissions */
	sqe = get_sqe(w);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&o->addr, o->addr_len);
	io_uring_sqe_set_data64(sqe, bench_ud_encode(BENCH_OP_CONNECT, slot_of(w, c), c->gen));
	c->inflight++;
	if (oneshot) {
		sqe->flags |= IOSQE_IO_LINK;
		bench_msg_fill(c->out, o->size, c->id, c->exchanges++, w->filler);
		c->out_len = o->size;
		c->out_done = 0;
		prep_send(w, c, get_sqe(w));
	}
}

static bool conn_may_start(const struct bench_worker *w, const struct conn *c)
{
	if (!w->running || w->now < c->retry_ns)
		return false;
	return w->o->mode != BENCH_ONESHOT || may_issue(w, c);
}

/* OPEN: issue what the pipeline allows, send it, keep a receive armed. */
static void conn_step_open(struct bench_worker *w, struct conn *c)
{
	const struct bench_opts *o = w->o;

	if (o->mode != BENCH_ONESHOT) {
		if (w->draining && !c->q_count && !c->send_inflight) {
			conn_close(w, c);
			return;
		}
		if (!c->send_inflight && c->out_done) {
			memmove(c->out, c->out + c->out_done, c->out_len - c->out_done);
			c->out_len -= c->out_done;
			c->out_done = 0;
		}
		while (c->q_count < o->pipeline && c->out_len + o->size <= w->out_cap &&
		       may_issue(w, c)) {
			uint64_t t = issue_one(w, c);

			if (!c->q_count && !c->send_inflight)
				c->progress_ns = w->now;	/* the wait for an answer starts */
			c->q[(c->q_head + c->q_count) % o->pipeline] = t;
			c->q_count++;
			bench_msg_fill(c->out + c->out_len, o->size, c->id, c->tx_seq++, w->filler);
			c->out_len += o->size;
		}
	}
	if (!c->send_inflight && c->out_len > c->out_done)
		prep_send(w, c, get_sqe(w));
	if (!c->recv_armed)
		prep_recv(w, c);
}

/* Moves a connection as far as it can go now; runs once per dirty pass. */
static void conn_step(struct bench_worker *w, struct conn *c)
{
	for (;;) {
		switch (c->state) {
		case CONN_IDLE:
			if (conn_may_start(w, c))
				conn_start(w, c);
			return;
		case CONN_CONNECTING:
			if (w->draining && w->o->mode != BENCH_ONESHOT) {
				conn_close(w, c);
				continue;
			}
			return;
		case CONN_OPEN:
			conn_step_open(w, c);
			if (c->state == CONN_CLOSING)
				continue;
			return;
		case CONN_CLOSING:
			if (c->inflight)
				return;
			conn_finish_close(w, c);
			continue;
		}
		return;
	}
}

static void run_dirty(struct bench_worker *w)
{
	/* A connection stays marked while stepped: it cannot re-enter the list. */
	for (uint32_t i = 0; i < w->n_dirty; i++) {
		struct conn *c = &w->conns[w->dirty[i]];

		conn_step(w, c);
		c->dirty = false;
	}
	w->n_dirty = 0;
}

/* ---- completions -------------------------------------------------------- */

/* The connect ended; when it failed, oneshot's linked send follows with -ECANCELED. */
static void handle_connect(struct bench_worker *w, struct conn *c, int res)
{
	c->inflight--;
	mark_dirty(w, c);
	if (c->state != CONN_CONNECTING)
		return;
	if (res < 0) {
		charge_failed_connect(w);
		conn_fail(w, c, BENCH_ERR_CONNECT, "connect: %s", strerror(-res));
		return;
	}
	c->state = CONN_OPEN;
	c->progress_ns = w->now;
	w->res->connects++;
}

/*
 * The send ended: @res bytes (possibly fewer than asked) went into the
 * socket. For discard that is all a message gets.
 */
static void handle_send(struct bench_worker *w, struct conn *c, int res)
{
	const struct bench_opts *o = w->o;

	c->inflight--;
	c->send_inflight = false;
	mark_dirty(w, c);
	if (c->state != CONN_OPEN && c->state != CONN_CONNECTING)
		return;
	if (res < 0) {
		conn_fail(w, c, res == -EPIPE || res == -ECONNRESET ? BENCH_ERR_CLOSED : BENCH_ERR_IO,
			  "send: %s", strerror(-res));
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

static void report_mismatch(struct bench_worker *w, struct conn *c, const uint8_t *data,
			    size_t len, ssize_t r, const struct bench_mismatch *bad)
{
	char want[SNIPPET_MAX * 4 + 4], got[SNIPPET_MAX * 4 + 4];
	size_t got_len = len - bad->at < SNIPPET_MAX ? len - bad->at : SNIPPET_MAX;

	bench_escape(data + bad->at, got_len, got, sizeof(got));
	if (r == -EPROTO) {
		conn_fail(w, c, BENCH_ERR_MISMATCH, "%s: \"%s\"",
			  w->o->mode == BENCH_ONESHOT ? "data after the reply" :
			  "reply bytes with no message outstanding", got);
		return;
	}
	bench_escape(c->rx.msg + bad->pos, c->rx.len - bad->pos, want, sizeof(want));
	conn_fail(w, c, BENCH_ERR_MISMATCH,
		  "reply %llu differs at byte %zu: expected \"%s\", got \"%s\"",
		  (unsigned long long)bad->seq, bad->pos, want, got);
}

static void on_data(struct bench_worker *w, struct conn *c, const uint8_t *data, size_t len)
{
	const struct bench_opts *o = w->o;
	struct bench_mismatch bad;
	uint64_t limit;
	ssize_t r;

	c->progress_ns = w->now;
	if (o->mode == BENCH_DISCARD) {
		char got[SNIPPET_MAX * 4 + 4];

		bench_escape(data, len < SNIPPET_MAX ? len : SNIPPET_MAX, got, sizeof(got));
		conn_fail(w, c, BENCH_ERR_MISMATCH, "%zu bytes from a discard server: \"%s\"",
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

static void on_eof(struct bench_worker *w, struct conn *c)
{
	const struct bench_opts *o = w->o;

	if (o->mode != BENCH_ONESHOT) {
		conn_fail(w, c, BENCH_ERR_CLOSED,
			  "server closed the connection (%u messages unanswered)", c->q_count);
		return;
	}
	if (c->rx.seq == 1 || o->expect_len == 0) {
		complete(w, c->start_ns, true);
		conn_close(w, c);
		return;
	}
	conn_fail(w, c, BENCH_ERR_CLOSED, "EOF after %zu of %zu reply bytes", c->rx.pos, o->expect_len);
}

/*
 * A multishot recv posts one completion per chunk with IORING_CQE_F_MORE set
 * while it stays armed; the last one (EOF, error, -ENOBUFS, cancel) has it
 * clear. A chunk's buffer is the kernel's pick: returned only when
 * IORING_CQE_F_BUFFER says one was taken.
 */
static void handle_recv(struct bench_worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
	unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	int res = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_armed = false;
		c->inflight--;
	}
	mark_dirty(w, c);
	if (c->state == CONN_OPEN) {
		if (res > 0 && has_buf)
			on_data(w, c, buf_addr(w, bid), (size_t)res);
		else if (res > 0)
			conn_fail(w, c, BENCH_ERR_IO, "recv completed without a buffer");
		else if (res == 0)
			on_eof(w, c);
		else if (res != -ENOBUFS)	/* out of buffers: re-armed once they are back */
			conn_fail(w, c, res == -ECONNRESET ? BENCH_ERR_CLOSED : BENCH_ERR_IO,
				  "recv: %s", strerror(-res));
	}
	if (has_buf)
		buf_recycle(w, bid);
}

static void handle_cqe(struct bench_worker *w, const struct io_uring_cqe *cqe)
{
	struct bench_ud ud = bench_ud_decode(cqe->user_data);
	struct conn *c;

	switch (ud.op) {
	case BENCH_OP_CONNECT:
	case BENCH_OP_SEND:
	case BENCH_OP_RECV:
		break;
	case BENCH_OP_CLOSE:
		w->closes_pending--;
		return;
	case BENCH_OP_CANCEL:	/* how many it found does not matter: the targets report */
	case BENCH_OP_NONE:
	default:
		return;
	}
	c = ud.slot < w->n ? &w->conns[ud.slot] : NULL;
	if (!c || ud.gen != c->gen) {
		if (cqe->flags & IORING_CQE_F_BUFFER)
			buf_recycle(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	switch (ud.op) {
	case BENCH_OP_CONNECT:
		handle_connect(w, c, cqe->res);
		break;
	case BENCH_OP_SEND:
		handle_send(w, c, cqe->res);
		break;
	default:
		handle_recv(w, c, cqe);
		break;
	}
}

static void reap(struct bench_worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned int head, count = 0;

	io_uring_for_each_cqe(&w->ring, head, cqe) {
		handle_cqe(w, cqe);
		count++;
	}
	io_uring_cq_advance(&w->ring, count);
	if (w->bufs_returned) {
		io_uring_buf_ring_advance(w->br, w->bufs_returned);
		w->bufs_returned = 0;
	}
}

/* ---- the loop ------------------------------------------------------------ */

/* Hands out the arrivals of --rate that came due, round robin. */
static void assign_arrivals(struct bench_worker *w)
{
	while (w->running) {
		uint64_t t = sched_time(w, w->next_j);
		bool measured = t >= w->run->measure_ns;
		/* n >= 1: opts caps --threads at --connections. */
		struct conn *c = &w->conns[w->next_j % w->n];	/* NOLINT(clang-analyzer-core.DivideZero) */

		if (t > w->now || (measured && w->assigned >= w->quota))
			break;
		if (c->due++ == 0)
			c->due_j = w->next_j;
		if (measured)
			w->assigned++;
		w->next_j++;
		mark_dirty(w, c);
	}
}

/* Every TICK_NS: connections without progress for --timeout fail; retries come due. */
static void tick(struct bench_worker *w)
{
	bool oneshot = w->o->mode == BENCH_ONESHOT;

	for (uint32_t i = 0; i < w->n; i++) {
		struct conn *c = &w->conns[i];
		bool waiting;

		switch (c->state) {
		case CONN_IDLE:
			/* Oneshot under --rate starts only what came due. */
			if (w->running && c->retry_ns <= w->now &&
			    (!oneshot || w->o->rate <= 0 || c->due))
				mark_dirty(w, c);
			break;
		case CONN_CONNECTING:
		case CONN_OPEN:
			waiting = c->state == CONN_CONNECTING || oneshot || c->send_inflight ||
				  c->q_count;
			if (waiting && w->now - c->progress_ns > w->timeout_ns)
				conn_fail(w, c, BENCH_ERR_TIMEOUT,
					  "no progress for %.3g s (%s, %u messages unanswered)",
					  (double)w->timeout_ns / 1e9,
					  c->state == CONN_CONNECTING ? "connecting" : "connected",
					  oneshot ? 1 : c->q_count);
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
			if (w->conns[i].state != CONN_IDLE)
				mark_dirty(w, &w->conns[i]);
		}
	}
	return false;
}

static uint64_t next_wake(const struct bench_worker *w)
{
	uint64_t t = w->next_tick;

	if (w->running) {
		if (w->run->end_ns < t)
			t = w->run->end_ns;
		if (w->o->rate > 0 && sched_time(w, w->next_j) < t)
			t = sched_time(w, w->next_j);
	}
	if (w->draining && w->drain_deadline < t)
		t = w->drain_deadline;
	return t;
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

	w->now = now_ns();
	w->next_tick = w->now + TICK_NS;
	for (uint32_t i = 0; i < w->n; i++)
		mark_dirty(w, &w->conns[i]);
	for (;;) {
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		uint64_t wake;

		w->now = now_ns();
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

		/* Submit everything this pass prepared and sleep in the same call. */
		wake = next_wake(w);
		wake = wake > w->now ? wake - w->now : 0;
		ts.tv_sec = (long long)(wake / NSEC_PER_SEC);
		ts.tv_nsec = (long long)(wake % NSEC_PER_SEC);
		r = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			fprintf(stderr, "tcpack-bench: io_uring_enter: %s\n", strerror(-r));
			break;
		}
		r = 0;
		w->now = now_ns();
		reap(w);
	}
	w->res->quota_done = w->quota != UINT64_MAX && w->issued >= w->quota;
	publish(w);
	return r;
}

/* ---- setup ---------------------------------------------------------------- */

static int setup_ring(struct bench_worker *w, char *err)
{
	static const unsigned int flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,	/* 6.1 */
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,		/* 5.19 */
		0,
	};
	unsigned int cq = 4096;
	int r = -EINVAL;

	/* Room for a completion from every connection at once, several times over. */
	while (cq < 4 * w->n && cq < 65536)
		cq *= 2;
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p = { 0 };

		p.flags = flag_sets[i] | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
		p.cq_entries = cq;
		r = io_uring_queue_init_params(1024, &w->ring, &p);
		if (r == -EINVAL)
			continue;	/* this kernel refuses a flag: ask for less */
		if (r < 0)
			break;
		w->ring_ok = true;
		(void)io_uring_register_ring_fd(&w->ring);
		return 0;
	}
	if (r == -ENOSYS || r == -EPERM)
		snprintf(err, BENCH_ERR_MAX,
			 "io_uring is not available: %s (disabled by seccomp, a container runtime "
			 "or the kernel.io_uring_disabled sysctl)", strerror(-r));
	else
		snprintf(err, BENCH_ERR_MAX, "cannot set up io_uring: %s", strerror(-r));
	return r;
}

static int setup_buffers(struct bench_worker *w, char *err)
{
	struct io_uring_buf_reg reg = { 0 };
	unsigned int n = 512;
	int r;

	/* Echo of big messages: fewer, larger chunks. Otherwise replies are small. */
	w->buf_size = w->o->mode == BENCH_ECHO && w->o->size > 4096 ? 32768 : 4096;
	while (n < 2 * w->n && n < (w->buf_size > 4096 ? 2048u : 8192u))
		n *= 2;
	w->buf_count = n;
	w->br_bytes = n * sizeof(struct io_uring_buf);
	w->br = mmap(NULL, w->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (w->br == MAP_FAILED) {
		w->br = NULL;
		snprintf(err, BENCH_ERR_MAX, "cannot map the buffer ring: %s", strerror(errno));
		return -ENOMEM;
	}
	w->bufs_bytes = (size_t)n * w->buf_size;
	w->bufs = mmap(NULL, w->bufs_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
		       -1, 0);
	if (w->bufs == MAP_FAILED) {
		w->bufs = NULL;
		snprintf(err, BENCH_ERR_MAX, "cannot map %zu bytes of receive buffers: %s",
			 w->bufs_bytes, strerror(errno));
		return -ENOMEM;
	}

	/* liburing 2.3 has no io_uring_setup_buf_ring(): the same steps by hand. */
	io_uring_buf_ring_init(w->br);
	reg.ring_addr = (unsigned long)w->br;
	reg.ring_entries = n;
	reg.bgid = BGID;
	r = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (r < 0) {
		snprintf(err, BENCH_ERR_MAX,
			 "cannot register provided buffers: %s (needs Linux 5.19 or later)",
			 strerror(-r));
		return r;
	}
	w->buf_mask = (unsigned int)io_uring_buf_ring_mask(n);
	for (unsigned int i = 0; i < n; i++)
		buf_recycle(w, i);
	io_uring_buf_ring_advance(w->br, w->bufs_returned);
	w->bufs_returned = 0;
	return 0;
}

static int setup_conns(struct bench_worker *w, uint32_t first_conn, char *err)
{
	const struct bench_opts *o = w->o;
	bool echo = o->mode == BENCH_ECHO;

	w->out_cap = (size_t)o->pipeline * o->size;
	w->conns = calloc(w->n, sizeof(*w->conns));
	w->dirty = calloc(w->n, sizeof(*w->dirty));
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
		struct conn *c = &w->conns[i];

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
	struct bench_worker *w;
	int r;

	w = calloc(1, sizeof(*w));
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
	r = setup_ring(w, err);
	if (r < 0)
		goto fail;
	r = setup_buffers(w, err);
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
	/* Cancels and reaps whatever is still in flight, buffer ring included. */
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring);
	w->ring_ok = false;
	for (uint32_t i = 0; w->conns && i < w->n; i++) {
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
		w->conns[i].fd = -1;
	}
	if (w->bufs)
		munmap(w->bufs, w->bufs_bytes);
	if (w->br)
		munmap(w->br, w->br_bytes);
	free(w->rx_store);
	free(w->filler);
	free(w->out_store);
	free(w->q_store);
	free(w->dirty);
	free(w->conns);
	free(w);
}
