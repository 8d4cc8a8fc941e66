// SPDX-License-Identifier: MIT
/*
 * The io_uring client engine (--client uring), the only file of
 * tcpack-bench that touches struct io_uring: connects (oneshot: its send
 * linked behind), one send in flight per connection, a multishot receive
 * into a ring of provided buffers, and everything a pass prepared submitted
 * in the same call that waits for the next completions.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "worker-engine.h"

#define BGID			0
#define NSEC_PER_SEC		1000000000ull

/* What the ring has in flight for one connection slot. */
struct uring_conn {
	uint8_t inflight;		/* requests whose last completion has not arrived */
	bool recv_armed;
	bool cancel_sent;
};

struct uring_worker {
	struct bench_worker w;		/* first: the engine's worker is one */
	struct io_uring ring;
	bool ring_ok;
	struct uring_conn *uc;		/* one per slot of w.conns */

	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	unsigned int buf_count, buf_size, buf_mask;
	int bufs_returned;		/* added since the last advance */
};

static struct uring_worker *uring_of(struct bench_worker *w)
{
	return (struct uring_worker *)w;
}

static struct uring_conn *uc_of(struct uring_worker *u, const struct bench_conn *c)
{
	return &u->uc[bench_conn_slot(&u->w, c)];
}

static uint64_t conn_ud(struct uring_worker *u, enum bench_op op, const struct bench_conn *c)
{
	return bench_ud_encode(op, bench_conn_slot(&u->w, c), c->gen);
}

/* ---- submission -------------------------------------------------------- */

/* An SQE, flushing the queue when it is full. Aborts only if the ring is stuck. */
static struct io_uring_sqe *get_sqe(struct uring_worker *u)
{
	for (int i = 0; i < 4; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

		if (sqe)
			return sqe;
		(void)io_uring_submit(&u->ring);
	}
	fprintf(stderr, "tcpack-bench: io_uring submission queue stuck full; aborting\n");
	abort();
}

static void prep_recv(struct uring_worker *u, struct bench_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, conn_ud(u, BENCH_OP_RECV, c));
	uc_of(u, c)->inflight++;
	uc_of(u, c)->recv_armed = true;
}

static void prep_send(struct uring_worker *u, struct bench_conn *c, struct io_uring_sqe *sqe)
{
	io_uring_prep_send(sqe, c->fd, c->out + c->out_done, c->out_len - c->out_done, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, conn_ud(u, BENCH_OP_SEND, c));
	uc_of(u, c)->inflight++;
	c->sending = true;
}

/* ---- provided buffers -------------------------------------------------- */

static uint8_t *buf_addr(struct uring_worker *u, unsigned int bid)
{
	return u->bufs + (size_t)bid * u->buf_size;
}

/* Give a buffer the kernel filled back to it; published after the batch. */
static void buf_recycle(struct uring_worker *u, unsigned int bid)
{
	io_uring_buf_ring_add(u->br, buf_addr(u, bid), u->buf_size, (unsigned short)bid,
			      (int)u->buf_mask, u->bufs_returned++);
}

/* ---- what the worker asks ------------------------------------------------ */

/* Oneshot links its message behind the connect: one submission carries the request. */
static void uring_connect(struct bench_worker *w, struct bench_conn *c)
{
	struct uring_worker *u = uring_of(w);
	struct io_uring_sqe *sqe;

	if (io_uring_sq_space_left(&u->ring) < 2)
		(void)io_uring_submit(&u->ring);	/* a link must not span two submissions */
	sqe = get_sqe(u);
	io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&w->o->addr, w->o->addr_len);
	io_uring_sqe_set_data64(sqe, conn_ud(u, BENCH_OP_CONNECT, c));
	uc_of(u, c)->inflight++;
	if (w->o->mode == BENCH_ONESHOT) {
		sqe->flags |= IOSQE_IO_LINK;
		prep_send(u, c, get_sqe(u));
	}
}

static void uring_flush(struct bench_worker *w, struct bench_conn *c)
{
	struct uring_worker *u = uring_of(w);

	if (!c->sending && c->out_len > c->out_done)
		prep_send(u, c, get_sqe(u));
	if (!uc_of(u, c)->recv_armed)
		prep_recv(u, c);
}

/* Cancel what is in flight on the fd; the last completion marks the connection again. */
static bool uring_release(struct bench_worker *w, struct bench_conn *c)
{
	struct uring_worker *u = uring_of(w);
	struct uring_conn *uc = uc_of(u, c);
	struct io_uring_sqe *sqe;

	if (!uc->inflight)
		return true;
	if (!uc->cancel_sent) {
		sqe = get_sqe(u);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, conn_ud(u, BENCH_OP_CANCEL, c));
		uc->cancel_sent = true;
	}
	return false;
}

static void uring_close(struct bench_worker *w, struct bench_conn *c)
{
	struct uring_worker *u = uring_of(w);
	struct io_uring_sqe *sqe = get_sqe(u);

	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, conn_ud(u, BENCH_OP_CLOSE, c));
	w->closes_pending++;
	*uc_of(u, c) = (struct uring_conn){ 0 };
}

/* ---- completions -------------------------------------------------------- */

/* The connect ended; when it failed, oneshot's linked send follows with -ECANCELED. */
static void handle_connect(struct uring_worker *u, struct bench_conn *c, int res)
{
	uc_of(u, c)->inflight--;
	bench_worker_mark_dirty(&u->w, c);
	bench_conn_connected(&u->w, c, res);
}

/* The send ended: @res bytes (possibly fewer than asked) went into the socket. */
static void handle_send(struct uring_worker *u, struct bench_conn *c, int res)
{
	uc_of(u, c)->inflight--;
	c->sending = false;
	bench_worker_mark_dirty(&u->w, c);
	bench_conn_sent(&u->w, c, res);
}

/*
 * A multishot recv posts one completion per chunk with IORING_CQE_F_MORE set
 * while it stays armed; the last one (EOF, error, -ENOBUFS, cancel) has it
 * clear. A chunk's buffer is the kernel's pick: returned only when
 * IORING_CQE_F_BUFFER says one was taken.
 */
static void handle_recv(struct uring_worker *u, struct bench_conn *c, const struct io_uring_cqe *cqe)
{
	bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
	unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	int res = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		uc_of(u, c)->recv_armed = false;
		uc_of(u, c)->inflight--;
	}
	bench_worker_mark_dirty(&u->w, c);
	if (c->state == BENCH_CONN_OPEN && res > 0 && !has_buf)
		bench_conn_fail(&u->w, c, BENCH_ERR_IO, "recv completed without a buffer");
	else if (res != -ENOBUFS)	/* out of buffers: re-armed once they are back */
		bench_conn_received(&u->w, c, has_buf ? buf_addr(u, bid) : NULL, res);
	if (has_buf)
		buf_recycle(u, bid);
}

static void handle_cqe(struct uring_worker *u, const struct io_uring_cqe *cqe)
{
	struct bench_ud ud = bench_ud_decode(cqe->user_data);
	struct bench_conn *c;

	switch (ud.op) {
	case BENCH_OP_CONNECT:
	case BENCH_OP_SEND:
	case BENCH_OP_RECV:
		break;
	case BENCH_OP_CLOSE:
		u->w.closes_pending--;
		return;
	case BENCH_OP_CANCEL:	/* how many it found does not matter: the targets report */
	case BENCH_OP_NONE:
	default:
		return;
	}
	c = ud.slot < u->w.n ? &u->w.conns[ud.slot] : NULL;
	if (!c || ud.gen != c->gen) {
		if (cqe->flags & IORING_CQE_F_BUFFER)
			buf_recycle(u, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	switch (ud.op) {
	case BENCH_OP_CONNECT:
		handle_connect(u, c, cqe->res);
		break;
	case BENCH_OP_SEND:
		handle_send(u, c, cqe->res);
		break;
	default:
		handle_recv(u, c, cqe);
		break;
	}
}

static void reap(struct uring_worker *u)
{
	struct io_uring_cqe *cqe;
	unsigned int head, count = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		handle_cqe(u, cqe);
		count++;
	}
	io_uring_cq_advance(&u->ring, count);
	if (u->bufs_returned) {
		io_uring_buf_ring_advance(u->br, u->bufs_returned);
		u->bufs_returned = 0;
	}
}

/* Submit everything this pass prepared and sleep in the same call. */
static int uring_wait(struct bench_worker *w, uint64_t timeout_ns)
{
	struct uring_worker *u = uring_of(w);
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(timeout_ns / NSEC_PER_SEC),
		.tv_nsec = (long long)(timeout_ns % NSEC_PER_SEC),
	};
	struct io_uring_cqe *cqe;
	int r;

	r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
		fprintf(stderr, "tcpack-bench: io_uring_enter: %s\n", strerror(-r));
		return r;
	}
	w->now = bench_now_ns();
	reap(u);
	return 0;
}

/* ---- setup ---------------------------------------------------------------- */

static int setup_ring(struct uring_worker *u, char *err)
{
	static const unsigned int flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,	/* 6.1 */
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,		/* 5.19 */
		0,
	};
	unsigned int cq = 4096;
	int r = -EINVAL;

	/* Room for a completion from every connection at once, several times over. */
	while (cq < 4 * u->w.n && cq < 65536)
		cq *= 2;
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p = { 0 };

		p.flags = flag_sets[i] | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
		p.cq_entries = cq;
		r = io_uring_queue_init_params(1024, &u->ring, &p);
		if (r == -EINVAL)
			continue;	/* this kernel refuses a flag: ask for less */
		if (r < 0)
			break;
		u->ring_ok = true;
		(void)io_uring_register_ring_fd(&u->ring);
		return 0;
	}
	if (r == -ENOSYS || r == -EPERM)
		snprintf(err, BENCH_ERR_MAX,
			 "io_uring is not available: %s (disabled by seccomp, a container runtime "
			 "or the kernel.io_uring_disabled sysctl; --client epoll does without)",
			 strerror(-r));
	else
		snprintf(err, BENCH_ERR_MAX, "cannot set up io_uring: %s", strerror(-r));
	return r;
}

static int setup_buffers(struct uring_worker *u, char *err)
{
	struct io_uring_buf_reg reg = { 0 };
	unsigned int n = 512;
	int r;

	u->buf_size = (unsigned int)bench_worker_recv_size(&u->w);
	while (n < 2 * u->w.n && n < (u->buf_size > 4096 ? 2048u : 8192u))
		n *= 2;
	u->buf_count = n;
	u->br_bytes = n * sizeof(struct io_uring_buf);
	u->br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (u->br == MAP_FAILED) {
		u->br = NULL;
		snprintf(err, BENCH_ERR_MAX, "cannot map the buffer ring: %s", strerror(errno));
		return -ENOMEM;
	}
	u->bufs_bytes = (size_t)n * u->buf_size;
	u->bufs = mmap(NULL, u->bufs_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
		       -1, 0);
	if (u->bufs == MAP_FAILED) {
		u->bufs = NULL;
		snprintf(err, BENCH_ERR_MAX, "cannot map %zu bytes of receive buffers: %s",
			 u->bufs_bytes, strerror(errno));
		return -ENOMEM;
	}

	/* liburing 2.3 has no io_uring_setup_buf_ring(): the same steps by hand. */
	io_uring_buf_ring_init(u->br);
	reg.ring_addr = (unsigned long)u->br;
	reg.ring_entries = n;
	reg.bgid = BGID;
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0) {
		snprintf(err, BENCH_ERR_MAX,
			 "cannot register provided buffers: %s (needs Linux 5.19 or later)",
			 strerror(-r));
		return r;
	}
	u->buf_mask = (unsigned int)io_uring_buf_ring_mask(n);
	for (unsigned int i = 0; i < n; i++)
		buf_recycle(u, i);
	io_uring_buf_ring_advance(u->br, u->bufs_returned);
	u->bufs_returned = 0;
	return 0;
}

static int uring_setup(struct bench_worker *w, char *err)
{
	struct uring_worker *u = uring_of(w);
	int r;

	u->uc = calloc(w->n, sizeof(*u->uc));
	if (!u->uc) {
		snprintf(err, BENCH_ERR_MAX, "out of memory for %u connections", w->n);
		return -ENOMEM;
	}
	r = setup_ring(u, err);
	if (r < 0)
		return r;
	return setup_buffers(u, err);
}

/* Exiting the ring cancels and reaps whatever is still in flight, buffer ring included. */
static void uring_free(struct bench_worker *w)
{
	struct uring_worker *u = uring_of(w);

	if (u->ring_ok)
		io_uring_queue_exit(&u->ring);
	u->ring_ok = false;
	if (u->bufs)
		munmap(u->bufs, u->bufs_bytes);
	u->bufs = NULL;
	if (u->br)
		munmap(u->br, u->br_bytes);
	u->br = NULL;
	free(u->uc);
	u->uc = NULL;
}

const struct bench_engine bench_engine_uring = {
	.name = "uring",
	.size = sizeof(struct uring_worker),
	.sock_flags = 0,
	.turns = false,
	.setup = uring_setup,
	.wait = uring_wait,
	.connect = uring_connect,
	.flush = uring_flush,
	.release = uring_release,
	.close = uring_close,
	.free = uring_free,
};
