// SPDX-License-Identifier: MIT
/*
 * The io_uring engine. Every I/O of the server goes through one ring:
 * multishot accept per listening socket, multishot recv per connection fed
 * by one provided-buffer ring, one send in flight per connection, shutdown,
 * cancel and close as SQEs, signals through a polled signalfd and time
 * through one periodic timeout.
 *
 * Decisions about a connection are not taken inside the completion walk:
 * handlers update the connection and mark it dirty, and after the batch
 * flush_conn() looks at each dirty connection once. That batches every
 * reply a batch owes a connection into one send, and re-arms receives only
 * after the batch's buffers went back to the kernel.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <systemd/sd-daemon.h>

#include "tcpack/conn.h"
#include "tcpack/log.h"
#include "tcpack/loop.h"

#define BGID		0
#define NO_SLOT		UINT32_MAX
#define STATUS_EVERY_MS	2000u

/*
 * A configuration shared by the connections that started under it: a
 * reload makes a new one for new connections, and the old one goes when
 * its last connection does.
 */
struct cfg_ref {
	struct tcpack_config cfg;	/* first: conn->cfg points here */
	unsigned long refs;
};

struct tcpack_loop {
	struct io_uring ring;
	bool ring_ok;
	const struct tcpack_config *cfg;	/* current: &cur->cfg */
	struct cfg_ref *cur;
	tcpack_reload_fn reload;
	void *reload_userdata;
	const struct tcpack_listeners *listeners;

	/* provided buffers */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	unsigned int buf_mask;
	unsigned int bufs_returned;	/* added since the last advance */

	/* connections: a table of slots and a stack of free ones */
	struct tcpack_conn *conns;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t dirty;			/* head of the dirty list, NO_SLOT = empty */

	/* accepting */
	int parked[TCPACK_PARKED_MAX];	/* accepted over the limit, waiting for a slot */
	unsigned int parked_head, nparked;
	bool accept_armed[TCPACK_LISTEN_FDS_MAX];
	bool accept_cancel_sent[TCPACK_LISTEN_FDS_MAX];
	bool at_limit;			/* max-connections reached */
	uint64_t accept_retry_ms;	/* backing off after EMFILE & co until then */

	/* time */
	struct tcpack_wheel wheel;
	uint64_t start_ms, now_ms;
	uint64_t tick_ms;
	struct __kernel_timespec tick_ts, deadline_ts;
	uint64_t last_status_ms;
	struct tcpack_stats last_status;
	bool watchdog;

	/* signals */
	int sigfd;

	struct tcpack_stats stats;
	bool drain_requested, stopping, forced, done;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wheel_tick(uint64_t ms)
{
	return ms / 1000;	/* the wheel turns once a second */
}

static struct io_uring_sqe *get_sqe(struct tcpack_loop *l)
{
	struct io_uring_sqe *sqe;

	for (int tries = 0; tries < 16; tries++) {
		sqe = io_uring_get_sqe(&l->ring);
		if (sqe)
			return sqe;
		/* SQ full: hand it to the kernel and take a fresh one. */
		(void)io_uring_submit(&l->ring);
	}
	tcpack_logf(LOG_CRIT, "io_uring submission queue stuck full; aborting");
	abort();
}

/* ---- provided buffers ------------------------------------------------ */

static uint8_t *buf_addr(struct tcpack_loop *l, unsigned int bid)
{
	return l->bufs + (size_t)bid * l->cfg->buffer_size;
}

/* Give a buffer the kernel filled back to it; published after the batch. */
static void buf_recycle(struct tcpack_loop *l, unsigned int bid)
{
	io_uring_buf_ring_add(l->br, buf_addr(l, bid), (unsigned int)l->cfg->buffer_size,
			      (unsigned short)bid, l->buf_mask, (int)l->bufs_returned++);
}

static int setup_buffers(struct tcpack_loop *l, char *err)
{
	unsigned int n = l->cfg->buffer_count;
	struct io_uring_buf_reg reg = { 0 };
	int r;

	l->br_bytes = n * sizeof(struct io_uring_buf);
	l->br = mmap(NULL, l->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (l->br == MAP_FAILED) {
		l->br = NULL;
		snprintf(err, TCPACK_ERR_MAX, "cannot map the buffer ring: %s", strerror(errno));
		return -ENOMEM;
	}
	l->bufs_bytes = (size_t)n * l->cfg->buffer_size;
	l->bufs = mmap(NULL, l->bufs_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
		       -1, 0);
	if (l->bufs == MAP_FAILED) {
		l->bufs = NULL;
		snprintf(err, TCPACK_ERR_MAX, "cannot map %zu bytes of receive buffers: %s",
			 l->bufs_bytes, strerror(errno));
		return -ENOMEM;
	}

	/* liburing 2.3 has no io_uring_setup_buf_ring(): the same steps by hand. */
	io_uring_buf_ring_init(l->br);
	reg.ring_addr = (unsigned long)l->br;
	reg.ring_entries = n;
	reg.bgid = BGID;
	r = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (r < 0) {
		snprintf(err, TCPACK_ERR_MAX,
			 "cannot register provided buffers: %s (needs Linux 5.19 or later)",
			 strerror(-r));
		return r;
	}
	l->buf_mask = io_uring_buf_ring_mask(n);
	for (unsigned int i = 0; i < n; i++)
		buf_recycle(l, i);
	io_uring_buf_ring_advance(l->br, (int)l->bufs_returned);
	l->bufs_returned = 0;
	return 0;
}

/* ---- ring ------------------------------------------------------------ */

static int setup_ring(struct tcpack_loop *l, char *err)
{
	/*
	 * Multishot accept and recv post many completions per submission: size
	 * the CQ for a burst from every connection at once.
	 */
	unsigned int sq = 1024, cq = 4096;
	const char *hook = getenv("TCPACK_TEST_RING");	/* test hooks, see tests/ */
	static const unsigned int flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,	/* 6.1 */
		IORING_SETUP_COOP_TASKRUN,					/* 5.19 */
		0,
	};
	unsigned int first = 0;
	int r = -EINVAL;

	while (cq < 2 * l->cfg->max_connections && cq < 65536)
		cq *= 2;
	if (hook && strstr(hook, "nodefer"))
		first = 1;
	if (hook && strstr(hook, "smallcq"))
		sq = 8, cq = 16;

	for (unsigned int i = first; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p = { 0 };

		p.flags = flag_sets[i] | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
		p.cq_entries = cq;
		r = io_uring_queue_init_params(sq, &l->ring, &p);
		if (r == -EINVAL)
			continue;	/* this kernel refuses a flag: ask for less */
		if (r < 0)
			break;
		l->ring_ok = true;
		if (!(p.features & IORING_FEAT_NODROP))
			tcpack_logf(LOG_WARNING, "kernel lacks IORING_FEAT_NODROP: completions may be lost on overflow");
		tcpack_logf(LOG_DEBUG, "io_uring: sq %u, cq %u, %s", p.sq_entries, p.cq_entries,
			    i == 0 ? "single issuer, deferred task run" :
			    i == 1 ? "cooperative task run" : "default task run");
		(void)io_uring_register_ring_fd(&l->ring);
		return 0;
	}
	if (r == -ENOSYS || r == -EPERM)
		snprintf(err, TCPACK_ERR_MAX,
			 "io_uring is not available: %s (disabled by seccomp, a container runtime or the kernel.io_uring_disabled sysctl)",
			 strerror(-r));
	else
		snprintf(err, TCPACK_ERR_MAX, "cannot set up io_uring: %s", strerror(-r));
	return r;
}

/* ---- connections ------------------------------------------------------ */

static struct tcpack_conn *conn_of(struct tcpack_loop *l, struct tcpack_ud ud)
{
	struct tcpack_conn *c;

	if (ud.slot >= l->nslots)
		return NULL;
	c = &l->conns[ud.slot];
	/* Generation mismatch: the completion belongs to an earlier user of the slot. */
	if (!c->stats || c->gen != ud.gen)
		return NULL;
	return c;
}

static uint64_t conn_ud(const struct tcpack_conn *c, enum tcpack_op op)
{
	return tcpack_ud_encode(op, c->slot, c->gen, 0);
}

static void mark_dirty(struct tcpack_loop *l, struct tcpack_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = l->dirty;
	l->dirty = c->slot;
}

static void arm_timer(struct tcpack_loop *l, struct tcpack_conn *c)
{
	uint64_t ms = tcpack_conn_deadline_ms(c);

	if (ms)
		tcpack_timer_arm(&l->wheel, &c->timer, wheel_tick(l->now_ms + ms + 999));
	else
		tcpack_timer_disarm(&c->timer);
}

static struct cfg_ref *cfg_ref_get(const struct tcpack_config *cfg)
{
	struct cfg_ref *ref = (struct cfg_ref *)cfg;

	ref->refs++;
	return ref;
}

static void cfg_ref_put(const struct tcpack_config *cfg)
{
	struct cfg_ref *ref = (struct cfg_ref *)cfg;

	if (ref && --ref->refs == 0)
		free(ref);
}

static void free_slot(struct tcpack_loop *l, struct tcpack_conn *c)
{
	uint32_t slot = c->slot, gen = c->gen;
	const struct tcpack_config *cfg = c->cfg;

	tcpack_conn_deinit(c);
	cfg_ref_put(cfg);
	memset(c, 0, sizeof(*c));
	c->slot = slot;
	c->gen = (gen + 1) & TCPACK_UD_GEN_MASK;
	l->free_slots[l->nfree++] = slot;
}

static void add_conn(struct tcpack_loop *l, int fd);

static void ref_put(struct tcpack_loop *l, struct tcpack_conn *c)
{
	if (--c->refs == 0 && c->closing) {
		free_slot(l, c);
		/* A slot is free: the longest-waiting parked connection takes it. */
		if (l->nparked && !l->stopping) {
			int fd = l->parked[l->parked_head];

			l->parked_head = (l->parked_head + 1) % TCPACK_PARKED_MAX;
			l->nparked--;
			add_conn(l, fd);
		}
	}
}

static void close_parked(struct tcpack_loop *l)
{
	for (; l->nparked; l->nparked--) {
		close(l->parked[l->parked_head]);
		l->parked_head = (l->parked_head + 1) % TCPACK_PARKED_MAX;
	}
}

static void start_close(struct tcpack_loop *l, struct tcpack_conn *c)
{
	struct io_uring_sqe *sqe;

	c->closing = true;
	tcpack_timer_disarm(&c->timer);
	if (c->refs) {
		/*
		 * Operations hold the socket open past close(): cancel them
		 * first. Hard-linked, so close runs even if none was found.
		 */
		sqe = get_sqe(l);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_CANCEL));
		sqe->flags |= IOSQE_IO_HARDLINK;
		c->refs++;
	}
	sqe = get_sqe(l);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_CLOSE));
	c->refs++;
	tcpack_conn_closing(c);
}

static void arm_recv(struct tcpack_loop *l, struct tcpack_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_RECV));
	c->recv_armed = true;
	c->recv_cancelled = false;
	c->refs++;
}

static void cancel_recv(struct tcpack_loop *l, struct tcpack_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	io_uring_prep_cancel64(sqe, conn_ud(c, TCPACK_OP_RECV), 0);
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_CANCEL));
	c->recv_cancelled = true;
	c->refs++;
}

/* Decide what a connection needs next; see the header comment. */
static void flush_conn(struct tcpack_loop *l, struct tcpack_conn *c)
{
	struct io_uring_sqe *sqe;
	bool want;

	if (c->closing)
		return;
	if (c->phase == TCPACK_CONN_DONE) {
		start_close(l, c);
		return;
	}
	if (!c->send_inflight) {
		const uint8_t *data;
		size_t len = tcpack_conn_output(c, &data);

		if (len) {
			sqe = get_sqe(l);
			io_uring_prep_send(sqe, c->fd, data, len, MSG_NOSIGNAL);
			io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_SEND));
			c->send_inflight = true;
			c->refs++;
		} else if (c->phase == TCPACK_CONN_FINISHING) {
			sqe = get_sqe(l);
			io_uring_prep_shutdown(sqe, c->fd, SHUT_WR);
			io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_SHUTDOWN));
			c->refs++;
			tcpack_conn_shut(c);
			arm_timer(l, c);
		} else if (c->phase == TCPACK_CONN_PEER_DONE) {
			start_close(l, c);
			return;
		}
	}
	want = tcpack_conn_wants_input(c);
	if (want && !c->recv_armed)
		arm_recv(l, c);
	else if (!want && c->recv_armed && !c->recv_cancelled)
		cancel_recv(l, c);
}

static void flush_dirty(struct tcpack_loop *l)
{
	while (l->dirty != NO_SLOT) {
		struct tcpack_conn *c = &l->conns[l->dirty];

		l->dirty = c->next_dirty;
		c->dirty = false;
		flush_conn(l, c);
	}
}

/* ---- accepting -------------------------------------------------------- */

static void arm_accepts(struct tcpack_loop *l)
{
	for (unsigned int i = 0; i < l->listeners->n; i++) {
		struct io_uring_sqe *sqe;

		if (l->accept_armed[i])
			continue;
		sqe = get_sqe(l);
		io_uring_prep_multishot_accept(sqe, l->listeners->fds[i], NULL, NULL, SOCK_CLOEXEC);
		io_uring_sqe_set_data64(sqe, tcpack_ud_encode(TCPACK_OP_ACCEPT, i, 0, 0));
		l->accept_armed[i] = true;
		l->accept_cancel_sent[i] = false;
	}
}

static void cancel_accepts(struct tcpack_loop *l)
{
	for (unsigned int i = 0; i < l->listeners->n; i++) {
		struct io_uring_sqe *sqe;

		if (!l->accept_armed[i] || l->accept_cancel_sent[i])
			continue;
		sqe = get_sqe(l);
		io_uring_prep_cancel64(sqe, tcpack_ud_encode(TCPACK_OP_ACCEPT, i, 0, 0), 0);
		io_uring_sqe_set_data64(sqe, tcpack_ud_encode(TCPACK_OP_CANCEL, NO_SLOT, 0, 0));
		l->accept_cancel_sent[i] = true;
	}
}

/* Accept while below the limits and not stopping; log transitions once. */
static void update_accepting(struct tcpack_loop *l)
{
	bool full = l->stats.conns_now >= l->cfg->max_connections;

	if (full != l->at_limit) {
		l->at_limit = full;
		if (full)
			tcpack_logf(LOG_WARNING, "max-connections (%u) reached: not accepting until a connection closes",
				    l->cfg->max_connections);
		else
			tcpack_logf(LOG_NOTICE, "below max-connections again: accepting");
	}
	if (l->stopping || full || l->now_ms < l->accept_retry_ms)
		cancel_accepts(l);
	else
		arm_accepts(l);
}

static void add_conn(struct tcpack_loop *l, int fd)
{
	struct tcpack_conn *c;

	if (l->stopping) {
		close(fd);
		return;
	}
	if (!l->nfree || l->stats.conns_now >= l->cfg->max_connections) {
		/*
		 * Multishot accept takes the whole backlog at once, before the
		 * cancel that the limit asks for can stop it: park the excess,
		 * in order, until slots free up.
		 */
		if (l->nparked < TCPACK_PARKED_MAX) {
			l->parked[(l->parked_head + l->nparked++) % TCPACK_PARKED_MAX] = fd;
			return;
		}
		tcpack_log_event(LOG_WARNING, NULL,
				 "max-connections reached and %u accepted connections already wait: closing one",
				 TCPACK_PARKED_MAX);
		close(fd);
		l->stats.errors++;
		return;
	}
	c = &l->conns[l->free_slots[--l->nfree]];
	tcpack_conn_init(c, fd, &cfg_ref_get(l->cfg)->cfg, &l->stats);
	if (tcpack_log_enabled(LOG_INFO))
		tcpack_conn_peer(c);	/* while it is surely still connected */
	arm_timer(l, c);
	mark_dirty(l, c);
}

/*
 * Multishot accept: each CQE is one connection (res = fd) or one failure.
 * Without IORING_CQE_F_MORE the accept has ended and must be re-armed.
 * res is checked, never trusted: a negative value is no fd.
 */
static void handle_accept(struct tcpack_loop *l, struct io_uring_cqe *cqe, struct tcpack_ud ud)
{
	unsigned int i = ud.slot;

	if (cqe->res >= 0) {
		add_conn(l, cqe->res);
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM ||
		   cqe->res == -ENOBUFS) {
		tcpack_log_event(LOG_ERR, NULL, "accept failed: %s; retrying in 1s",
				 strerror(-cqe->res));
		l->stats.errors++;
		l->accept_retry_ms = l->now_ms + 1000;
	} else if (cqe->res != -ECANCELED) {
		tcpack_log_event(LOG_DEBUG, NULL, "accept failed: %s", strerror(-cqe->res));
	}
	if (!(cqe->flags & IORING_CQE_F_MORE) && i < TCPACK_LISTEN_FDS_MAX)
		l->accept_armed[i] = false;
}

/*
 * Multishot recv: res > 0 bytes in the buffer named by the CQE, 0 for the
 * peer's EOF, -ENOBUFS when the buffer ring ran dry (not an error: the
 * buffers return after this batch and flush_conn() re-arms), -ECANCELED
 * after our cancel. F_BUFFER tells whether the kernel consumed a buffer,
 * and only then is one returned.
 */
static void handle_recv(struct tcpack_loop *l, struct io_uring_cqe *cqe, struct tcpack_ud ud)
{
	struct tcpack_conn *c = conn_of(l, ud);
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int bid = cqe->flags & IORING_CQE_F_BUFFER ? (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) : -1;

	if (c && !c->closing) {
		if (cqe->res > 0 && bid >= 0) {
			tcpack_conn_input(c, buf_addr(l, (unsigned int)bid), (size_t)cqe->res);
			if (c->phase != TCPACK_CONN_LINGER)
				arm_timer(l, c);
		} else if (cqe->res == 0) {
			tcpack_conn_eof(c);
		} else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
			tcpack_conn_error(c, cqe->res, "receive");
		}
		mark_dirty(l, c);
	}
	if (bid >= 0)
		buf_recycle(l, (unsigned int)bid);
	if (c && !more) {
		c->recv_armed = false;
		ref_put(l, c);
	}
}

/*
 * Send: res bytes of the range went into the socket; fewer than asked is a
 * short send, continued by flush_conn() from where it stopped.
 */
static void handle_send(struct tcpack_loop *l, struct io_uring_cqe *cqe, struct tcpack_ud ud)
{
	struct tcpack_conn *c = conn_of(l, ud);

	if (!c)
		return;
	c->send_inflight = false;
	if (!c->closing) {
		if (cqe->res > 0) {
			tcpack_conn_sent(c, (size_t)cqe->res);
			arm_timer(l, c);
		} else {
			tcpack_conn_error(c, cqe->res ? cqe->res : -EPIPE, "send");
		}
		mark_dirty(l, c);
	}
	ref_put(l, c);
}

/* Shutdown, cancel and close: nothing to do but drop the reference. */
static void handle_conn_op(struct tcpack_loop *l, struct tcpack_ud ud)
{
	struct tcpack_conn *c = conn_of(l, ud);

	if (c)
		ref_put(l, c);
}

/* ---- time, signals, service manager ------------------------------------ */

static void arm_tick(struct tcpack_loop *l)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	l->tick_ts.tv_sec = (long long)(l->tick_ms / 1000);
	l->tick_ts.tv_nsec = (long long)(l->tick_ms % 1000) * 1000000;
	io_uring_prep_timeout(sqe, &l->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, tcpack_ud_encode(TCPACK_OP_TICK, 0, 0, 0));
}

static void arm_signal(struct tcpack_loop *l)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	/* Poll, then read(2) here: signalfd must be read by this thread. */
	io_uring_prep_poll_add(sqe, l->sigfd, POLLIN);
	io_uring_sqe_set_data64(sqe, tcpack_ud_encode(TCPACK_OP_SIGNAL, 0, 0, 0));
}

static void notify_status(struct tcpack_loop *l)
{
	const struct tcpack_stats *s = &l->stats;

	l->last_status = *s;
	l->last_status_ms = l->now_ms;
	sd_notifyf(0, "STATUS=%s%" PRIu64 " connections (%" PRIu64 " total), %" PRIu64
		   " messages, %" PRIu64 " bytes in, %" PRIu64 " bytes out, %" PRIu64 " errors",
		   l->stopping ? "stopping: " : "", s->conns_now, s->conns_total, s->messages,
		   s->bytes_in, s->bytes_out, s->errors);
}

static void expire_conn(struct tcpack_timer *t, void *arg)
{
	struct tcpack_loop *l = arg;
	struct tcpack_conn *c = (struct tcpack_conn *)((char *)t - offsetof(struct tcpack_conn, timer));

	tcpack_conn_timeout(c);
	mark_dirty(l, c);
}

static void handle_tick(struct tcpack_loop *l)
{
	tcpack_wheel_advance(&l->wheel, wheel_tick(l->now_ms), expire_conn, l);
	if (l->watchdog)
		sd_notify(0, "WATCHDOG=1");
	if (l->now_ms - l->last_status_ms >= STATUS_EVERY_MS &&
	    memcmp(&l->stats, &l->last_status, sizeof(l->stats)) != 0)
		notify_status(l);
	tcpack_log_flush_suppressed();
	if (!l->done)
		arm_tick(l);
}

static void force_close_all(struct tcpack_loop *l)
{
	unsigned int n = 0;

	l->forced = true;
	for (uint32_t i = 0; i < l->nslots; i++) {
		struct tcpack_conn *c = &l->conns[i];

		if (c->stats && !c->closing) {
			start_close(l, c);
			n++;
		}
	}
	if (n)
		tcpack_logf(LOG_WARNING, "shutdown timeout: closed %u connections still owed replies", n);
}

static void begin_drain(struct tcpack_loop *l)
{
	struct io_uring_sqe *sqe;

	l->stopping = true;
	sd_notify(0, "STOPPING=1");
	tcpack_logf(LOG_NOTICE, "stopping: draining %" PRIu64 " connections (at most %" PRIu64 " ms)",
		    l->stats.conns_now, l->cfg->shutdown_timeout_ms);
	close_parked(l);
	notify_status(l);
	update_accepting(l);
	for (uint32_t i = 0; i < l->nslots; i++) {
		struct tcpack_conn *c = &l->conns[i];

		if (c->stats && !c->closing) {
			tcpack_conn_drain(c);
			mark_dirty(l, c);
		}
	}
	if (!l->cfg->shutdown_timeout_ms) {
		force_close_all(l);
		return;
	}
	l->deadline_ts.tv_sec = (long long)(l->cfg->shutdown_timeout_ms / 1000);
	l->deadline_ts.tv_nsec = (long long)(l->cfg->shutdown_timeout_ms % 1000) * 1000000;
	sqe = get_sqe(l);
	io_uring_prep_timeout(sqe, &l->deadline_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, tcpack_ud_encode(TCPACK_OP_DEADLINE, 0, 0, 0));
}

/*
 * SIGHUP: read the configuration again. New connections get it; open ones
 * keep theirs. A bad configuration changes nothing.
 */
static void reload(struct tcpack_loop *l)
{
	struct cfg_ref *next;
	char err[TCPACK_ERR_MAX];
	int r;

	if (!l->reload) {
		tcpack_logf(LOG_NOTICE, "SIGHUP ignored: no way to reload configured");
		return;
	}
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%" PRIu64, l->now_ms * 1000);
	next = calloc(1, sizeof(*next));
	if (!next) {
		r = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
	} else {
		r = l->reload(&next->cfg, err, l->reload_userdata);
	}
	if (r < 0) {
		tcpack_logf(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
		free(next);
	} else {
		tcpack_config_keep_fixed(&next->cfg, l->cfg, l->nslots);
		next->refs = 1;
		cfg_ref_put(l->cfg);
		l->cur = next;
		l->cfg = &next->cfg;
		tcpack_log_setup(l->cfg->log_level, l->cfg->log_rate_limit);
		tcpack_logf(LOG_NOTICE, "reloaded configuration%s%s: new connections use %s mode",
			    l->cfg->config_path[0] ? " from " : "", l->cfg->config_path,
			    tcpack_mode_name(l->cfg->mode));
	}
	sd_notify(0, "READY=1");
	notify_status(l);
}

void tcpack_loop_set_reload(struct tcpack_loop *l, tcpack_reload_fn fn, void *userdata)
{
	l->reload = fn;
	l->reload_userdata = userdata;
}

static void handle_signal(struct tcpack_loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!l->stopping && !l->drain_requested) {
				l->drain_requested = true;	/* after this batch */
			} else if (!l->forced) {
				tcpack_logf(LOG_WARNING, "second %s: closing every connection now",
					    strsignal((int)si.ssi_signo));
				force_close_all(l);
			}
			break;
		case SIGHUP:
			if (!l->stopping)
				reload(l);
			break;
		default:
			break;
		}
	}
	arm_signal(l);
}

static void handle_cqe(struct tcpack_loop *l, struct io_uring_cqe *cqe)
{
	struct tcpack_ud ud = tcpack_ud_decode(io_uring_cqe_get_data64(cqe));

	switch (ud.op) {
	case TCPACK_OP_ACCEPT:
		handle_accept(l, cqe, ud);
		break;
	case TCPACK_OP_RECV:
		handle_recv(l, cqe, ud);
		break;
	case TCPACK_OP_SEND:
		handle_send(l, cqe, ud);
		break;
	case TCPACK_OP_SHUTDOWN:
	case TCPACK_OP_CLOSE:
		handle_conn_op(l, ud);
		break;
	case TCPACK_OP_CANCEL:
		if (ud.slot != (NO_SLOT & TCPACK_UD_SLOT_MAX))
			handle_conn_op(l, ud);
		break;
	case TCPACK_OP_SIGNAL:
		handle_signal(l);
		break;
	case TCPACK_OP_TICK:
		handle_tick(l);
		break;
	case TCPACK_OP_DEADLINE:
		if (cqe->res == -ETIME && !l->forced)
			force_close_all(l);
		break;
	default:
		break;
	}
}

int tcpack_loop_run(struct tcpack_loop *l)
{
	struct io_uring_cqe *cqe;
	uint64_t usec = 0;
	int r;

	l->now_ms = mono_ms();
	tcpack_wheel_init(&l->wheel, wheel_tick(l->now_ms));
	l->tick_ms = 1000;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		l->watchdog = true;
		if (usec / 2000 < l->tick_ms)
			l->tick_ms = usec / 2000 ? usec / 2000 : 1;
	}
	update_accepting(l);
	arm_signal(l);
	arm_tick(l);
	r = io_uring_submit(&l->ring);
	if (r < 0) {
		tcpack_logf(LOG_ERR, "io_uring submit failed: %s", strerror(-r));
		return r;
	}
	notify_status(l);
	sd_notify(0, "READY=1");

	while (!l->done) {
		unsigned int n = 0;
		unsigned int head;

		r = io_uring_submit_and_wait(&l->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
			tcpack_logf(LOG_ERR, "io_uring wait failed: %s", strerror(-r));
			return r;
		}
		l->now_ms = mono_ms();
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			handle_cqe(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);

		/* Buffers back before any receive is re-armed. */
		if (l->bufs_returned) {
			io_uring_buf_ring_advance(l->br, (int)l->bufs_returned);
			l->bufs_returned = 0;
		}
		if (l->drain_requested && !l->stopping)
			begin_drain(l);
		flush_dirty(l);
		if (!l->stopping)
			update_accepting(l);
		else if (l->stats.conns_now == 0)
			l->done = true;
	}
	notify_status(l);
	return 0;
}

int tcpack_loop_new(const struct tcpack_config *cfg, const struct tcpack_listeners *listeners,
		    struct tcpack_loop **ret, char *err)
{
	struct tcpack_loop *l;
	sigset_t mask;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, TCPACK_ERR_MAX, "out of memory");
		return -ENOMEM;
	}
	l->cur = calloc(1, sizeof(*l->cur));
	if (!l->cur) {
		free(l);
		snprintf(err, TCPACK_ERR_MAX, "out of memory");
		return -ENOMEM;
	}
	l->cur->cfg = *cfg;
	l->cur->refs = 1;
	l->cfg = &l->cur->cfg;
	l->listeners = listeners;
	l->sigfd = -1;
	l->dirty = NO_SLOT;

	r = setup_ring(l, err);
	if (r < 0)
		goto fail;
	r = setup_buffers(l, err);
	if (r < 0)
		goto fail;

	l->nslots = l->cfg->max_connections;
	l->conns = calloc(l->nslots, sizeof(*l->conns));
	l->free_slots = calloc(l->nslots, sizeof(*l->free_slots));
	if (!l->conns || !l->free_slots) {
		snprintf(err, TCPACK_ERR_MAX, "out of memory for %u connections", l->nslots);
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < l->nslots; i++) {
		l->conns[i].slot = i;
		l->free_slots[l->nfree++] = l->nslots - 1 - i;	/* low slots first */
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	l->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sigfd < 0) {
		r = -errno;
		snprintf(err, TCPACK_ERR_MAX, "signalfd: %s", strerror(-r));
		goto fail;
	}
	*ret = l;
	return 0;
fail:
	tcpack_loop_free(l);
	return r;
}

void tcpack_loop_free(struct tcpack_loop *l)
{
	if (!l)
		return;
	/* The ring goes first: until it is gone the kernel may use our buffers. */
	if (l->ring_ok)
		io_uring_queue_exit(&l->ring);
	close_parked(l);
	if (l->conns) {
		for (uint32_t i = 0; i < l->nslots; i++) {
			struct tcpack_conn *c = &l->conns[i];

			if (!c->stats)
				continue;
			if (c->fd >= 0)
				close(c->fd);
			tcpack_conn_deinit(c);
			cfg_ref_put(c->cfg);
		}
	}
	cfg_ref_put(l->cfg);
	if (l->br)
		munmap(l->br, l->br_bytes);
	if (l->bufs)
		munmap(l->bufs, l->bufs_bytes);
	if (l->sigfd >= 0)
		close(l->sigfd);
	free(l->conns);
	free(l->free_slots);
	free(l);
}
