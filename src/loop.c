// SPDX-License-Identifier: MIT
/*
 * The io_uring engine. Every I/O of the server goes through one ring:
 * accepts on each listening socket, a multishot recv per connection fed
 * by one provided-buffer ring, one send in flight per connection, cancel
 * and close as SQEs, the supervisor's wake-ups through a read of its
 * eventfd and time through one periodic timeout. One loop per worker
 * thread; struct tcpack_worker holds what does not depend on the ring.
 *
 * Decisions about a connection are not taken inside the completion walk:
 * handlers update the connection and mark it dirty, and after the batch
 * the worker (tcpack_worker_end_batch()) looks at each dirty connection
 * once and calls this engine's send, receive and close. Buffers the batch
 * consumed go back to the kernel before that, so a receive is re-armed
 * only once they are there.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "tcpack/bufring.h"
#include "tcpack/conn.h"
#include "tcpack/log.h"
#include "tcpack/metrics.h"
#include "tcpack/loop.h"
#include "tcpack/worker.h"

#define BGID		0

/* Linux 6.10: wait for readiness before trying, not after. */
#ifndef IORING_ACCEPT_POLL_FIRST
#define IORING_ACCEPT_POLL_FIRST	(1U << 2)
#endif
/* Linux 6.10: receive bundles (liburing 2.3 has neither name). */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE	(1U << 4)	/* sqe->ioprio */
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE	(1U << 14)
#endif
/*
 * Accepts in flight per listening socket per worker, while slots are free:
 * enough to take a backlog quickly (one per loop pass would leave clients
 * waiting in it behind a busy worker), few enough that workers racing for
 * the last slots overshoot max-connections by little (parked, in order).
 */
#define ACCEPT_DEPTH		8
#define NO_SLOT		TCPACK_NO_SLOT
/*
 * A multishot receive ends after this many provided buffers' worth of
 * bytes (or max-pending, if less) where the kernel can limit it, and
 * loop_receive() re-arms it. That caps what one connection can take in past
 * max-pending (held-back input, echo output) at one arm instead of the
 * whole buffer ring, and costs one re-arm per 16 full buffers of a bulk
 * transfer. Never above P: input held back then stays below what the
 * connection may owe. Never above the ring (buffer-count >= 16).
 */
#define RECV_ARM_BUFFERS	16

/* What the ring has in flight for one connection slot. */
struct loop_conn {
	uint16_t refs;		/* operations in flight: the slot is freed at 0 */
	bool recv_armed, recv_cancelled, send_inflight;
	bool recv_bundle;	/* the armed receive asked for bundles */
	uint32_t lent_bufs;	/* provided buffers holding the lent bytes */
	uint32_t lent_bid;	/* ... the first of them */
};

struct tcpack_loop {
	struct io_uring ring;
	bool ring_ok;
	unsigned int overflowed;	/* completions the kernel could not post, as last counted */
	struct tcpack_worker *w;
	const struct tcpack_listeners *listeners;
	struct loop_conn *lc;		/* one per slot of w->conns */

	/* provided buffers */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	size_t buf_size;
	unsigned int buf_mask;
	unsigned int bufs_returned;	/* added since the last advance */
	struct tcpack_bufring bufring;	/* entry i holds buffer i: see bufring.h */
	bool bundle;			/* receives fill several buffers per completion */

	/* accepting: see "accepting" below */
	unsigned int accepts[TCPACK_LISTEN_FDS_MAX];	/* single-shot, in flight per listener */
	bool accept_cancel_sent[TCPACK_LISTEN_FDS_MAX];
	bool multi_armed[TCPACK_LISTEN_FDS_MAX];	/* a multishot accept is armed */
	bool multi_cancel_sent[TCPACK_LISTEN_FDS_MAX];
	bool multishot;			/* accepting with multishot accepts now */
	bool mode_said;			/* ... and the debug log said so */
	unsigned long drain_max;	/* most one multishot wake-up can accept */
	unsigned int handed[TCPACK_THREADS_MAX];	/* handed to each worker this batch */
	unsigned int next_target;	/* round robin among the least loaded */
	bool accept_poll_first;		/* until the kernel refuses it */

	struct __kernel_timespec tick_ts;
	uint64_t tick_ms;
	uint64_t ctl_buf;		/* eventfd counter, read through the ring */
	bool ring_registered;		/* liburing enters through the registered ring fd */
	bool recv_limit;		/* the kernel ends a multishot recv after N bytes */
	bool says_unread;		/* receives report IORING_CQE_F_SOCK_NONEMPTY */
	bool lend;			/* echo sends straight from the provided buffers */
};

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
	return l->bufs + (size_t)bid * l->buf_size;
}

/*
 * Give a buffer the kernel filled back to it, in ring order: its entry, and
 * any after it that wait for their turn, are refilled now and published
 * after the batch.
 */
static void buf_recycle(struct tcpack_loop *l, unsigned int bid)
{
	int ready;

	if (!tcpack_bufring_put(&l->bufring, bid))
		return;
	while ((ready = tcpack_bufring_refill(&l->bufring)) >= 0)
		io_uring_buf_ring_add(l->br, buf_addr(l, (unsigned int)ready),
				      (unsigned int)l->buf_size, (unsigned short)ready,
				      (int)l->buf_mask, (int)l->bufs_returned++);
}

static int setup_buffers(struct tcpack_loop *l, char *err)
{
	unsigned int n = l->w->cfg->buffer_count;
	struct io_uring_buf_reg reg = { 0 };
	int r;

	l->br_bytes = n * sizeof(struct io_uring_buf);
	l->br = mmap(NULL, l->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (l->br == MAP_FAILED) {
		l->br = NULL;
		snprintf(err, TCPACK_ERR_MAX, "cannot map the buffer ring: %s", strerror(errno));
		return -ENOMEM;
	}
	l->buf_size = l->w->cfg->buffer_size;
	l->bufs_bytes = (size_t)n * l->buf_size;
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
	l->bufring.mask = l->buf_mask;
	l->bufring.done = calloc(n, 1);
	if (!l->bufring.done) {
		snprintf(err, TCPACK_ERR_MAX, "out of memory");
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++)
		buf_recycle(l, i);
	io_uring_buf_ring_advance(l->br, (int)l->bufs_returned);
	l->bufs_returned = 0;
	return 0;
}

/*
 * A multishot receive into provided buffers; with @limit (0: none) it ends
 * once that many bytes arrived: Linux 6.15 reads the limit from optlen,
 * which liburing 2.3's struct io_uring_sqe names file_index (same place).
 * A receive that starts below the limit still fills up to a whole buffer:
 * one arm delivers at most limit + buffer-size - 1 bytes. With @single, a
 * plain receive instead: one completion, into the buffer(s) the kernel
 * picks (a oneshot exchange wants one message, and nothing armed after it).
 */
static void prep_recv(struct io_uring_sqe *sqe, int fd, unsigned int limit, bool single)
{
	if (single)
		io_uring_prep_recv(sqe, fd, NULL, 0, 0);
	else
		io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->file_index = single ? 0 : limit;
}

/*
 * Can this kernel limit a multishot receive (Linux 6.15)? Older kernels
 * refuse the limit with -EINVAL. Asked once per ring, never inferred from
 * the version: one byte and an EOF through a socketpair, and a receive
 * limited to one byte. It must end after that byte, without F_MORE; a
 * kernel that ignored the limit would go on to the EOF.
 */
static bool probe_recv_limit(struct tcpack_loop *l)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int sv[2] = { -1, -1 };
	bool ok = false, more = true;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    write(sv[1], "x", 1) != 1 || shutdown(sv[1], SHUT_WR) < 0)
		goto out;
	sqe = io_uring_get_sqe(&l->ring);	/* the ring is new: there is room */
	prep_recv(sqe, sv[0], 1, false);
	io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_RECV, NO_SLOT, 0));
	if (io_uring_submit(&l->ring) != 1)
		goto out;
	for (bool first = true; more; first = false) {
		if (io_uring_wait_cqe_timeout(&l->ring, &cqe, &ts) < 0)
			goto out;	/* a late completion is dropped as stale */
		more = cqe->flags & IORING_CQE_F_MORE;
		if (first)
			ok = cqe->res == 1 && !more;
		if (cqe->flags & IORING_CQE_F_BUFFER)
			buf_recycle(l, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		io_uring_cqe_seen(&l->ring, cqe);
	}
out:
	io_uring_buf_ring_advance(l->br, (int)l->bufs_returned);
	l->bufs_returned = 0;
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return ok;
}

/*
 * Does a receive's completion say whether bytes are left unread
 * (IORING_CQE_F_SOCK_NONEMPTY, from the protocol's inq hint)? Without it,
 * a missing flag would read as "nothing unread": asked once per ring,
 * never inferred from the version, on a TCP connection over loopback (a
 * socketpair's protocol gives no hint). Two bytes arrive; a receive of one
 * must carry the flag, the next receive must not. Anything failing here
 * (no loopback, say) leaves it off, and the close asks the socket instead.
 */
static bool probe_says_unread(struct tcpack_loop *l)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd, cfd = -1, afd = -1;
	unsigned int seen = 0;
	bool ok = true;

	/* Non-blocking, every wait bounded: a firewall dropping loopback must not stall start-up. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (cfd < 0 || (connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) ||
	    poll(&(struct pollfd){ .fd = lfd, .events = POLLIN }, 1, 1000) != 1)
		goto fail;
	afd = accept(lfd, NULL, NULL);
	if (afd < 0 || poll(&(struct pollfd){ .fd = cfd, .events = POLLOUT }, 1, 1000) != 1 ||
	    write(cfd, "xy", 2) != 2 || poll(&(struct pollfd){ .fd = afd, .events = POLLIN }, 1, 1000) != 1)
		goto fail;
	for (unsigned int i = 0; i < 2 && ok; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);	/* the ring is new: room */
		struct io_uring_cqe *cqe;
		bool nonempty;

		prep_recv(sqe, afd, 0, true);
		sqe->len = 1;
		if (l->bundle)		/* as the oneshot message's receive is armed */
			sqe->ioprio |= IORING_RECVSEND_BUNDLE;
		io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_RECV, NO_SLOT, 0));
		if (io_uring_submit(&l->ring) != 1 || io_uring_wait_cqe_timeout(&l->ring, &cqe, &ts) < 0)
			goto fail;	/* a late completion is dropped as stale */
		nonempty = cqe->flags & IORING_CQE_F_SOCK_NONEMPTY;
		ok = cqe->res == 1 && nonempty == (i == 0);
		if (cqe->flags & IORING_CQE_F_BUFFER)
			buf_recycle(l, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		io_uring_cqe_seen(&l->ring, cqe);
		seen++;
	}
	if (seen == 2)
		goto out;
fail:
	ok = false;
out:
	io_uring_buf_ring_advance(l->br, (int)l->bufs_returned);
	l->bufs_returned = 0;
	if (afd >= 0)
		close(afd);
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
	return ok;
}

/*
 * Test hooks: TCPACK_TEST_RING names ring variants for the tests and the
 * benchmarks (nodefer, smallcq, nobundle, nolimit, nounread, nolend; see
 * tests/). Read at setup only.
 */
static bool ring_hook(const char *name)
{
	const char *hook = getenv("TCPACK_TEST_RING");

	return hook && strstr(hook, name);
}

static void setup_says_unread(struct tcpack_loop *l)
{
	l->says_unread = !ring_hook("nounread") && probe_says_unread(l);
	tcpack_logf(LOG_DEBUG, "io_uring: receives %s whether bytes are left unread: a oneshot reply %s (worker %u)",
		    l->says_unread ? "report" : "do not report",
		    l->says_unread ? "goes linked to its close" : "is sent, then the socket asked (SIOCINQ) before the close",
		    l->w->id);
}

static void setup_recv_limit(struct tcpack_loop *l)
{
	l->recv_limit = !ring_hook("nolimit") && probe_recv_limit(l);
	if (l->recv_limit)
		tcpack_logf(LOG_DEBUG, "io_uring: a multishot receive ends after min(max-pending, %u x buffer-size) bytes (worker %u)",
			    RECV_ARM_BUFFERS, l->w->id);
	else
		tcpack_logf(LOG_DEBUG, "io_uring: multishot receives cannot be limited (needs Linux 6.15): single-shot receives of one buffer instead (worker %u)",
			    l->w->id);
}

/* ---- ring ------------------------------------------------------------ */

static int setup_ring(struct tcpack_loop *l, char *err)
{
	/*
	 * Multishot recv posts many completions per submission: size
	 * the CQ for a burst from every connection at once.
	 */
	unsigned int sq = 1024, cq = 4096;
	static const unsigned int flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,	/* 6.1 */
		IORING_SETUP_COOP_TASKRUN,					/* 5.19 */
		0,
	};
	unsigned int first = 0;
	int r = -EINVAL;

	while (cq < 2 * l->w->nslots && cq < 65536)
		cq *= 2;
	if (ring_hook("nodefer"))
		first = 1;
	if (ring_hook("smallcq"))
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
		/*
		 * Receive bundles: one completion, and one sock_recvmsg()
		 * with one window update, for all the buffers a receive
		 * fills, which pays on bulk input and costs nothing on small
		 * messages (bench/notes.md). Probed from the ring's
		 * features, never the kernel version; the hook turns them
		 * off for the tests' second run.
		 */
		l->bundle = (p.features & IORING_FEAT_RECVSEND_BUNDLE) &&
			    !ring_hook("nobundle");
		tcpack_logf(LOG_DEBUG, "io_uring: sq %u, cq %u, %s, receive bundles %s (worker %u)",
			    p.sq_entries, p.cq_entries,
			    i == 0 ? "single issuer, deferred task run" :
			    i == 1 ? "cooperative task run" : "default task run",
			    l->bundle ? "on" : "off", l->w->id);
		l->ring_registered = io_uring_register_ring_fd(&l->ring) == 1;
		/*
		 * Echo from the receive buffers (see lend()), which saves the
		 * copy that large echoed messages spend most on
		 * (bench/notes.md). The hook turns it off for measuring.
		 */
		l->lend = !ring_hook("nolend");
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

/*
 * Echo without a copy: the bytes of a receive completion are sent back from
 * the provided buffers they arrived in, which go back to the ring when the
 * send completes instead of after this batch. Only where the bytes are one
 * range of memory: the buffers after the CQE's first are the next ones in
 * the ring (bufring.h), which lie next to each other in l->bufs unless the
 * ring wraps, and every buffer but the last must be full. Bytes lent
 * earlier in the batch are extended the same way, so one send covers all
 * of a connection's input in a batch. The send goes with MSG_DONTWAIT:
 * a client that does not read would otherwise hold the buffers, and every
 * buffer after them in ring order, until it did; what the socket does not
 * take at once is copied into the connection's output
 * (tcpack_conn_lent_sent()), so the buffers are back one loop pass later.
 */
static bool lend(struct tcpack_loop *l, struct tcpack_conn *c, struct tcpack_bufring_bundle b)
{
	struct loop_conn *lc = &l->lc[c->slot];
	uint32_t first = b.bid & l->buf_mask, n, total;

	if (!l->lend || lc->send_inflight || c->cfg->mode != TCPACK_MODE_ECHO)
		return false;
	if (lc->lent_bufs && (first != lc->lent_bid + lc->lent_bufs ||
			      c->lent != (size_t)lc->lent_bufs * l->buf_size))
		return false;	/* not right after what is lent already */
	if (!tcpack_bufring_bundle_span(b, l->br->bufs, l->buf_mask, (uint32_t)l->buf_size, &n, &total) ||
	    !tcpack_conn_input_lent(c, total))
		return false;
	if (!lc->lent_bufs)
		lc->lent_bid = first;
	lc->lent_bufs += n;
	return true;
}

/* The lent bytes are sent, or will never be: their buffers go back. */
static void lend_end(struct tcpack_loop *l, struct loop_conn *lc)
{
	for (uint32_t i = 0; i < lc->lent_bufs; i++)
		buf_recycle(l, lc->lent_bid + i);
	lc->lent_bufs = 0;
}

/* ---- connections ------------------------------------------------------ */

static struct tcpack_conn *conn_of(struct tcpack_loop *l, struct tcpack_loop_ud ud)
{
	struct tcpack_conn *c;

	if (ud.slot >= l->w->nslots)
		return NULL;
	c = &l->w->conns[ud.slot];
	/* Generation mismatch: the completion belongs to an earlier user of the slot. */
	if (!c->stats || c->gen != ud.gen)
		return NULL;
	return c;
}

static uint64_t conn_ud(const struct tcpack_conn *c, enum tcpack_op op)
{
	return tcpack_loop_ud_encode(op, c->slot, c->gen);
}

/* The last operation on a closed connection completed: its slot is free. */
static void ref_put(struct tcpack_loop *l, struct tcpack_conn *c)
{
	struct loop_conn *lc = &l->lc[c->slot];

	if (--lc->refs == 0 && c->phase == TCPACK_CONN_CLOSED) {
		*lc = (struct loop_conn){ 0 };
		tcpack_worker_conn_closed(l->w, c);
	}
}

static void loop_close(void *engine, struct tcpack_conn *c)
{
	struct tcpack_loop *l = engine;
	struct loop_conn *lc = &l->lc[c->slot];
	struct io_uring_sqe *sqe;

	tcpack_timer_disarm(&c->timer);
	if (lc->lent_bufs && !lc->send_inflight)
		lend_end(l, lc);	/* never sent: owed, so the close resets */
	/*
	 * The hard link below binds only SQEs submitted together: with one
	 * slot left, get_sqe() would submit the cancel alone, the close could
	 * run first, and the cancel by fd would then find no fd, leaving a
	 * multishot receive holding the socket open.
	 */
	if (lc->refs && io_uring_sq_space_left(&l->ring) < 2)
		(void)io_uring_submit(&l->ring);
	if (lc->refs) {
		/*
		 * Operations hold the socket open past close(): cancel them
		 * first. Hard-linked, so close runs even if none was found.
		 */
		sqe = get_sqe(l);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_CANCEL));
		sqe->flags |= IOSQE_IO_HARDLINK;
		lc->refs++;
	}
	sqe = get_sqe(l);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_CLOSE));
	lc->refs++;
	tcpack_conn_closing(c);		/* CLOSED: the slot is freed by ref_put() */
}

static void arm_recv(struct tcpack_loop *l, struct tcpack_conn *c)
{
	struct loop_conn *lc = &l->lc[c->slot];
	struct io_uring_sqe *sqe = get_sqe(l);
	size_t limit = RECV_ARM_BUFFERS * l->buf_size;
	bool message = c->cfg->mode == TCPACK_MODE_ONESHOT && c->phase == TCPACK_CONN_OPEN;
	bool bundle = l->bundle && (l->recv_limit || message);

	tcpack_stat_add(&l->w->stats.rearms, 1);
	if (limit > c->cfg->max_pending)
		limit = c->cfg->max_pending;
	/*
	 * At most limit + buffer-size - 1 bytes per arm, and flush_conn()
	 * arms again only while the connection wants input. A kernel that
	 * cannot end a multishot receive after limit bytes (before 6.15)
	 * would go on delivering until the cancel sent after the batch, as
	 * much as the whole buffer ring more than once: there each arm is a
	 * single-shot receive of at most limit bytes instead, one completion
	 * and one more SQE per receive, and one buffer: a bundle receive
	 * (6.10-6.14 have bundles without the limit) goes on filling buffers
	 * while bytes are pending, past its length.
	 */
	c->recv_burst = limit + l->buf_size - 1;
	prep_recv(sqe, c->fd, (unsigned int)limit, message || !l->recv_limit);
	if (!message && !l->recv_limit)
		sqe->len = (unsigned int)limit;
	if (bundle)
		sqe->ioprio |= IORING_RECVSEND_BUNDLE;
	lc->recv_bundle = bundle;
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_RECV));
	lc->recv_armed = true;
	lc->recv_cancelled = false;
	lc->refs++;
}

static void cancel_recv(struct tcpack_loop *l, struct tcpack_conn *c)
{
	struct loop_conn *lc = &l->lc[c->slot];
	struct io_uring_sqe *sqe = get_sqe(l);

	io_uring_prep_cancel64(sqe, conn_ud(c, TCPACK_OP_RECV), 0);
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_CANCEL));
	lc->recv_cancelled = true;
	lc->refs++;
}

/* Keep a multishot receive armed exactly while the connection wants input. */
static bool loop_receive(void *engine, struct tcpack_conn *c)
{
	struct tcpack_loop *l = engine;
	struct loop_conn *lc = &l->lc[c->slot];
	bool want = tcpack_conn_wants_input(c);

	if (want && !lc->recv_armed)
		arm_recv(l, c);
	else if (!want && lc->recv_armed && !lc->recv_cancelled)
		cancel_recv(l, c);
	return false;	/* what arrives completes later */
}

/* One send in flight per connection keeps its bytes in order. */
static bool loop_send(void *engine, struct tcpack_conn *c)
{
	struct tcpack_loop *l = engine;
	struct loop_conn *lc = &l->lc[c->slot];
	int flags = tcpack_conn_send_flags(c);
	struct io_uring_sqe *sqe;
	const uint8_t *data;
	size_t len;

	if (lc->send_inflight)
		return false;
	if (c->lent) {		/* straight from the ring: see lend() */
		data = buf_addr(l, lc->lent_bid);
		len = c->lent;
		flags |= MSG_DONTWAIT;
	} else {
		len = tcpack_conn_output(c, &data);
	}
	sqe = get_sqe(l);
	io_uring_prep_send(sqe, c->fd, data, len, flags);
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_SEND));
	lc->send_inflight = true;
	lc->refs++;
	return false;
}

/*
 * The reply and the close in one submission, as the floor server does: the
 * send must go whole (MSG_WAITALL; it is small, see TCPACK_SEND_CLOSE_MAX)
 * and is hard-linked to the close, which runs even if the send fails; the
 * send completes only on failure. MSG_MORE keeps the reply for the FIN.
 */
static bool loop_send_close(void *engine, struct tcpack_conn *c)
{
	struct tcpack_loop *l = engine;
	struct loop_conn *lc = &l->lc[c->slot];
	struct io_uring_sqe *sqe;
	const uint8_t *data;
	size_t len;

	if (lc->refs || lc->send_inflight) {
		(void)loop_send(engine, c);
		return true;
	}
	len = tcpack_conn_output(c, &data);
	if (io_uring_sq_space_left(&l->ring) < 2)
		(void)io_uring_submit(&l->ring);	/* a link binds only SQEs submitted together */
	tcpack_timer_disarm(&c->timer);
	sqe = get_sqe(l);
	io_uring_prep_send(sqe, c->fd, data, len, tcpack_conn_send_flags(c) | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_SEND_CLOSE));
	sqe->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
	sqe = get_sqe(l);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, conn_ud(c, TCPACK_OP_CLOSE));
	lc->refs++;		/* the close's: the slot waits for it, the send ran before */
	tcpack_conn_send_closing(c, len);
	return false;
}

/* ---- accepting -------------------------------------------------------- */

/*
 * Every worker's ring fd, for handing connections over with MSG_RING: the
 * workers are threads of one process, so an fd number is valid in all of
 * them. Stored plus one (0: the worker has no ring yet, or no more).
 */
static _Atomic int ring_fds[TCPACK_THREADS_MAX];

/*
 * How connections reach the workers. The kernel wakes one exclusive waiter
 * per new connection on a listening socket, and a multishot accept keeps
 * its place at the head of that wait queue and, once woken, takes the
 * whole backlog. So one multishot accept per listening socket, on worker
 * 0's ring, takes every connection; worker 0 keeps it or hands it to the
 * least loaded worker with IORING_OP_MSG_RING (the fd's number in the
 * message's res). One accept serves all connections until it ends, instead
 * of one submission per connection.
 *
 * Taking the whole backlog at once must not take more than max-connections
 * allows, so multishot accepts are armed only while the room left is at
 * least what the listening sockets' backlogs can hold (drain_max, from
 * TCP_INFO; twice that to start again). Closer to the limit every worker
 * arms single-shot accepts, at most as many as there is room for: each
 * leaves the wait queue when it fires and re-arms at its tail, so
 * connections go round the workers that wait, and the backlog holds the
 * rest. IORING_ACCEPT_POLL_FIRST (6.10) skips the attempt at submission,
 * which would only find the queue empty while taking the listening
 * socket's lock the other workers accept under.
 */
static void arm_single(struct tcpack_loop *l)
{
	unsigned int room = tcpack_worker_room(l->w), armed = 0;

	for (unsigned int i = 0; i < l->listeners->n; i++)
		armed += l->accepts[i];
	for (unsigned int i = 0; i < l->listeners->n; i++) {
		if (l->accept_cancel_sent[i])
			continue;	/* wait for the cancel to land */
		while (l->accepts[i] < ACCEPT_DEPTH && armed < room) {
			struct io_uring_sqe *sqe = get_sqe(l);

			io_uring_prep_accept(sqe, l->listeners->fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (l->accept_poll_first)
				sqe->ioprio |= IORING_ACCEPT_POLL_FIRST;
			io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_ACCEPT, i, 0));
			l->accepts[i]++;
			armed++;
		}
	}
}

static void cancel_single(struct tcpack_loop *l)
{
	for (unsigned int i = 0; i < l->listeners->n; i++) {
		struct io_uring_sqe *sqe;

		if (!l->accepts[i] || l->accept_cancel_sent[i])
			continue;
		sqe = get_sqe(l);
		io_uring_prep_cancel64(sqe, tcpack_loop_ud_encode(TCPACK_OP_ACCEPT, i, 0),
				       IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_CANCEL, NO_SLOT, 0));
		l->accept_cancel_sent[i] = true;
	}
}

static void arm_multi(struct tcpack_loop *l)
{
	for (unsigned int i = 0; i < l->listeners->n; i++) {
		struct io_uring_sqe *sqe;

		if (l->multi_armed[i])
			continue;
		sqe = get_sqe(l);
		io_uring_prep_multishot_accept(sqe, l->listeners->fds[i], NULL, NULL, SOCK_CLOEXEC);
		if (l->accept_poll_first)
			sqe->ioprio |= IORING_ACCEPT_POLL_FIRST;
		io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_ACCEPT, i, 1));
		l->multi_armed[i] = true;
		l->multi_cancel_sent[i] = false;
	}
}

static void cancel_multi(struct tcpack_loop *l)
{
	for (unsigned int i = 0; i < l->listeners->n; i++) {
		struct io_uring_sqe *sqe;

		if (!l->multi_armed[i] || l->multi_cancel_sent[i])
			continue;
		sqe = get_sqe(l);
		io_uring_prep_cancel64(sqe, tcpack_loop_ud_encode(TCPACK_OP_ACCEPT, i, 1), 0);
		io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_CANCEL, NO_SLOT, 0));
		l->multi_cancel_sent[i] = true;
	}
}

static bool loop_accepting(void *engine, bool want)
{
	struct tcpack_loop *l = engine;
	unsigned long room = tcpack_worker_shared_room(l->w);
	bool multishot = l->multishot ? room >= l->drain_max : room >= 2 * l->drain_max;

	if (multishot != l->multishot || !l->mode_said) {
		tcpack_logf(LOG_DEBUG, "io_uring: worker %u accepts with %s accepts (room for %lu connections, backlogs hold %lu)",
			    l->w->id, multishot ? "multishot" : "single-shot", room, l->drain_max);
		l->multishot = multishot;
		l->mode_said = true;
	}
	memset(l->handed, 0, sizeof(l->handed[0]) * l->w->shared->n_workers);
	if (want && multishot) {
		cancel_single(l);
		if (l->w->id == 0)
			arm_multi(l);
	} else if (want) {
		cancel_multi(l);
		arm_single(l);
	} else {
		cancel_multi(l);
		cancel_single(l);
	}
	for (unsigned int i = 0; i < l->listeners->n && i < TCPACK_LISTEN_FDS_MAX; i++)
		if (l->multi_armed[i] || l->accepts[i])
			return true;
	return false;
}

/*
 * The least loaded worker, counting what this batch handed to each already;
 * among equals, the next after the last one chosen.
 */
static unsigned int pick_worker(struct tcpack_loop *l)
{
	const struct tcpack_shared *s = l->w->shared;
	unsigned int best = l->w->id;
	unsigned long best_load = ULONG_MAX;

	for (unsigned int k = 0; k < s->n_workers; k++) {
		unsigned int i = (l->next_target + k) % s->n_workers;
		unsigned long load;

		if (i != l->w->id && !atomic_load_explicit(&ring_fds[i], memory_order_acquire))
			continue;	/* not serving (yet, or any more) */
		load = atomic_load_explicit(&s->ctls[i].conns_now, memory_order_relaxed) + l->handed[i];
		if (load < best_load) {
			best = i;
			best_load = load;
		}
	}
	l->next_target = (best + 1) % s->n_workers;
	return best;
}

/*
 * A connection for another worker: MSG_RING posts a completion with its fd
 * as res into that worker's ring. If the post fails (the ring is gone, or
 * its completion queue overflowed), handle_handoff_sent() keeps the fd here.
 */
static void hand_over(struct tcpack_loop *l, int fd, unsigned int listener)
{
	unsigned int to = l->w->shared->n_workers > 1 ? pick_worker(l) : l->w->id;
	int ring_fd = to == l->w->id ? 0 : atomic_load_explicit(&ring_fds[to], memory_order_acquire);
	struct io_uring_sqe *sqe;

	if (!ring_fd) {
		tcpack_worker_accepted(l->w, fd, listener);
		return;
	}
	l->handed[to]++;
	atomic_fetch_add(&l->w->shared->handoffs, 1);	/* until the target takes it */
	sqe = get_sqe(l);
	io_uring_prep_msg_ring(sqe, ring_fd - 1, (unsigned int)fd,
			       tcpack_loop_ud_encode(TCPACK_OP_HANDOFF, listener, 0), 0);
	io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_HANDOFF_SENT,
							   (uint32_t)fd & TCPACK_UD_SLOT_MAX,
							   (uint32_t)fd >> TCPACK_UD_SLOT_BITS |
							   listener << TCPACK_UD_HANDOFF_FD_BITS));
}

static void handle_handoff_sent(struct tcpack_loop *l, struct io_uring_cqe *cqe, struct tcpack_loop_ud ud)
{
	uint32_t high = ud.gen & ((1u << TCPACK_UD_HANDOFF_FD_BITS) - 1);
	int fd = (int)(high << TCPACK_UD_SLOT_BITS | ud.slot);

	if (cqe->res < 0) {
		tcpack_logf(LOG_DEBUG, "worker %u: handing a connection over failed (%s): serving it here",
			    l->w->id, strerror(-cqe->res));
		tcpack_worker_accepted(l->w, fd, ud.gen >> TCPACK_UD_HANDOFF_FD_BITS);
		tcpack_worker_handoff_done(l->w);
	}
}

/*
 * Accept: res is the new connection's fd, or a failure. res is checked,
 * never trusted: a negative value is no fd. Without IORING_CQE_F_MORE (a
 * single-shot accept never has it; a multishot one ends on an error or its
 * cancel) the accept is over; loop_accepting() arms the next after the
 * batch if accepting is still wanted.
 */
static void handle_accept(struct tcpack_loop *l, struct io_uring_cqe *cqe, struct tcpack_loop_ud ud)
{
	unsigned int i = ud.slot;
	bool multi = ud.gen == 1;

	if (cqe->res >= 0) {
		if (multi)
			hand_over(l, cqe->res, i);
		else
			tcpack_worker_accepted(l->w, cqe->res, i);
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM ||
		   cqe->res == -ENOBUFS) {
		/* The other accepts in flight fail alike: one line per back-off. */
		if (l->w->now_ms >= l->w->accept_retry_ms)
			tcpack_log_event(LOG_ERR, NULL, "accept failed: %s; retrying in 1s",
					 strerror(-cqe->res));
		tcpack_stat_add(&l->w->stats.errors[TCPACK_ERR_ACCEPT], 1);
		l->w->accept_retry_ms = l->w->now_ms + 1000;
	} else if (cqe->res == -EINVAL && l->accept_poll_first) {
		l->accept_poll_first = false;	/* before 6.10: retried without */
	} else if (cqe->res != -ECANCELED) {
		tcpack_log_event(LOG_DEBUG, NULL, "accept failed: %s", strerror(-cqe->res));
	}
	if (cqe->flags & IORING_CQE_F_MORE || i >= TCPACK_LISTEN_FDS_MAX)
		return;
	if (multi)
		l->multi_armed[i] = false;
	else if (l->accepts[i] && --l->accepts[i] == 0)
		l->accept_cancel_sent[i] = false;
}

/*
 * The most connections one wake-up of a multishot accept can take: every
 * listening socket's full accept queue (TCP_INFO reports its limit in
 * tcpi_sacked for a listening socket), or SOMAXCONN where it cannot say.
 */
static unsigned long backlogs(const struct tcpack_listeners *ls)
{
	unsigned long sum = 0;

	for (unsigned int i = 0; i < ls->n; i++) {
		struct tcp_info ti = { 0 };
		socklen_t len = sizeof(ti);

		if (getsockopt(ls->fds[i], IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_sacked)
			sum += ti.tcpi_sacked + 1UL;
		else
			sum += SOMAXCONN + 1UL;
	}
	return sum;
}

/*
 * Multishot recv: res > 0 bytes in the buffer named by the CQE or, with
 * bundles, in that buffer and the ones after it in ring order (bufring.h),
 * 0 for the peer's EOF, -ENOBUFS when the buffer ring ran dry (not an
 * error: the buffers return after this batch and loop_receive() re-arms),
 * -ECANCELED after our cancel. F_BUFFER tells whether the kernel consumed
 * buffers, and only then do any go back: each exactly once, stale
 * completion or not. A kernel that refuses the bundle flag (-EINVAL) gets
 * receives without it; the connection stays.
 */
static void handle_recv(struct tcpack_loop *l, struct io_uring_cqe *cqe, struct tcpack_loop_ud ud)
{
	struct tcpack_conn *c = conn_of(l, ud);
	bool more = cqe->flags & IORING_CQE_F_MORE;
	bool live = c && c->phase != TCPACK_CONN_CLOSED;
	bool got = cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER);

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		struct tcpack_bufring_bundle b = tcpack_bufring_bundle_start(cqe->flags >> IORING_CQE_BUFFER_SHIFT,
							     cqe->res);
		bool lent = live && got && lend(l, c, b);	/* kept until sent */
		uint32_t bid, len;

		while (!lent && tcpack_bufring_bundle_next(&b, l->br->bufs, l->buf_mask, &bid, &len)) {
			if (live && len)
				tcpack_conn_input(c, buf_addr(l, bid), len);
			buf_recycle(l, bid);
		}
	}
	if (live) {
		if (got) {
			if (l->says_unread && !(cqe->flags & IORING_CQE_F_SOCK_NONEMPTY))
				tcpack_conn_none_unread(c);
			tcpack_worker_received(l->w, c);
		} else if (cqe->res == 0) {
			tcpack_conn_eof(c);
		} else if (cqe->res == -EINVAL && l->lc[c->slot].recv_bundle) {
			if (l->bundle)
				tcpack_logf(LOG_WARNING, "worker %u: receive bundles refused; receiving one buffer per completion",
					    l->w->id);
			l->bundle = false;
		} else if (cqe->res == -ENOBUFS) {
			tcpack_stat_add(&l->w->stats.enobufs, 1);
		} else if (cqe->res < 0 && cqe->res != -ECANCELED) {
			tcpack_conn_error(c, cqe->res, "receive");
		}
		tcpack_worker_mark_dirty(l->w, c);
	}
	if (c && !more) {
		l->lc[c->slot].recv_armed = false;
		ref_put(l, c);
	}
}

/*
 * Send: res bytes of the range went into the socket; fewer than asked is a
 * short send, continued by loop_send() from where it stopped.
 */
static void handle_send(struct tcpack_loop *l, struct io_uring_cqe *cqe, struct tcpack_loop_ud ud)
{
	struct tcpack_conn *c = conn_of(l, ud);
	struct loop_conn *lc;

	if (!c)
		return;
	lc = &l->lc[c->slot];
	lc->send_inflight = false;
	if (c->phase != TCPACK_CONN_CLOSED) {
		/* Lent bytes went with MSG_DONTWAIT: what the socket refused is copied. */
		if (lc->lent_bufs && (cqe->res >= 0 || cqe->res == -EAGAIN)) {
			tcpack_conn_lent_sent(c, buf_addr(l, lc->lent_bid),
					      cqe->res > 0 ? (size_t)cqe->res : 0);
			tcpack_worker_arm_timer(l->w, c);
		} else if (!lc->lent_bufs && cqe->res > 0) {
			tcpack_conn_sent(c, (size_t)cqe->res);
			tcpack_worker_arm_timer(l->w, c);
		} else {
			tcpack_conn_error(c, cqe->res ? cqe->res : -EPIPE, "send");
		}
		tcpack_worker_mark_dirty(l->w, c);
	}
	lend_end(l, lc);	/* the lent buffers, if any, go back */
	ref_put(l, c);
}

/* Cancel and close: nothing to do but drop the reference. */
static void handle_conn_op(struct tcpack_loop *l, struct tcpack_loop_ud ud)
{
	struct tcpack_conn *c = conn_of(l, ud);

	if (c)
		ref_put(l, c);
}

/* ---- waiting -------------------------------------------------------- */

/*
 * Submit, and wait for one completion unless connections wait their turn.
 * Waiting for more than one (min_wait_usec, Linux 6.12) was measured and
 * dropped: with closed-loop clients of either kind it cost CPU per request
 * and latency (bench/notes.md).
 */
static int submit_and_wait(struct tcpack_loop *l)
{
	if (tcpack_worker_has_deferred(l->w))
		return io_uring_submit(&l->ring);	/* no sleep */
	return io_uring_submit_and_wait(&l->ring, 1);
}

/* ---- time and control ------------------------------------------------ */

static void arm_tick(struct tcpack_loop *l)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	l->tick_ts.tv_sec = (long long)(l->tick_ms / 1000);
	l->tick_ts.tv_nsec = (long long)(l->tick_ms % 1000) * 1000000;
	io_uring_prep_timeout(sqe, &l->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_TICK, 0, 0));
}

static void arm_ctl(struct tcpack_loop *l)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	io_uring_prep_read(sqe, l->w->ctl->efd, &l->ctl_buf, sizeof(l->ctl_buf), 0);
	io_uring_sqe_set_data64(sqe, tcpack_loop_ud_encode(TCPACK_OP_CONTROL, 0, 0));
}

/*
 * The supervisor wrote the eventfd: commands are waiting in ctl. They are
 * acted on after the batch, so that input which completed in the same batch
 * (received before a drain, say) is taken as received.
 */
static void handle_ctl(struct tcpack_loop *l, struct io_uring_cqe *cqe)
{
	tcpack_worker_control_seen(l->w);
	if (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -EINTR)
		tcpack_logf(LOG_ERR, "worker %u: reading its control eventfd: %s", l->w->id,
			    strerror(-cqe->res));
	arm_ctl(l);
}

static void handle_cqe(struct tcpack_loop *l, struct io_uring_cqe *cqe)
{
	struct tcpack_loop_ud ud = tcpack_loop_ud_decode(io_uring_cqe_get_data64(cqe));

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
	case TCPACK_OP_CLOSE:
		handle_conn_op(l, ud);
		break;
	case TCPACK_OP_SEND_CLOSE: {	/* failed: the close that follows frees the slot */
		struct tcpack_conn *c = conn_of(l, ud);

		if (c)
			tcpack_conn_send_close_failed(c, cqe->res < 0 ? cqe->res : -EPIPE);
		break;
	}
	case TCPACK_OP_CANCEL:
		if (ud.slot != (NO_SLOT & TCPACK_UD_SLOT_MAX))
			handle_conn_op(l, ud);
		break;
	case TCPACK_OP_CONTROL:
		handle_ctl(l, cqe);
		break;
	case TCPACK_OP_TICK:
		tcpack_worker_tick(l->w);
		arm_tick(l);
		break;
	case TCPACK_OP_HANDOFF:
		if (cqe->res >= 0)
			tcpack_worker_accepted(l->w, cqe->res, ud.slot);
		tcpack_worker_handoff_done(l->w);
		break;
	case TCPACK_OP_HANDOFF_SENT:
		handle_handoff_sent(l, cqe, ud);
		break;
	default:
		break;
	}
}

static int loop_run(void *engine)
{
	struct tcpack_loop *l = engine;
	struct tcpack_worker *w = l->w;
	struct io_uring_cqe *cqe;
	int r;

	loop_accepting(l, tcpack_worker_may_accept(w));
	arm_ctl(l);
	arm_tick(l);
	r = io_uring_submit(&l->ring);
	if (r < 0) {
		tcpack_logf(LOG_ERR, "worker %u: io_uring submit failed: %s", w->id, strerror(-r));
		return r;
	}
	tcpack_worker_publish(w);
	tcpack_worker_set_state(w, TCPACK_WORKER_SERVING);

	while (!w->done) {
		unsigned int n = 0, overflowed;
		unsigned int head;

		r = submit_and_wait(l);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
			tcpack_logf(LOG_ERR, "worker %u: io_uring wait failed: %s", w->id, strerror(-r));
			return r;
		}
		tcpack_worker_clock(w);
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			handle_cqe(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
		tcpack_stat_add(&w->stats.waits, 1);
		tcpack_stat_add(&w->stats.completions, n);
		overflowed = IO_URING_READ_ONCE(*l->ring.cq.koverflow);
		if (overflowed != l->overflowed) {
			tcpack_stat_add(&w->stats.cq_overflows, overflowed - l->overflowed);
			l->overflowed = overflowed;
		}

		/* Buffers back before any receive is re-armed. */
		if (l->bufs_returned) {
			io_uring_buf_ring_advance(l->br, (int)l->bufs_returned);
			l->bufs_returned = 0;
		}
		tcpack_worker_end_batch(w);
	}
	return 0;
}

static void loop_free(void *engine)
{
	struct tcpack_loop *l = engine;

	if (!l)
		return;
	if (l->ring_ok)
		atomic_store_explicit(&ring_fds[l->w->id], 0, memory_order_release);
	/* The ring goes first: until it is gone the kernel may use our buffers. */
	if (l->ring_ok)
		io_uring_queue_exit(&l->ring);
	if (l->br)
		munmap(l->br, l->br_bytes);
	if (l->bufs)
		munmap(l->bufs, l->bufs_bytes);
	free(l->bufring.done);
	free(l->lc);
	free(l);
}

static int loop_setup(struct tcpack_worker *w, void **ret, char *err)
{
	struct tcpack_loop *l;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, TCPACK_ERR_MAX, "out of memory");
		return -ENOMEM;
	}
	l->w = w;
	l->listeners = w->shared->listeners;
	l->tick_ms = w->shared->tick_ms;
	l->accept_poll_first = true;
	l->lc = calloc(w->nslots, sizeof(*l->lc));
	if (!l->lc) {
		snprintf(err, TCPACK_ERR_MAX, "out of memory for %u connections", w->nslots);
		r = -ENOMEM;
		goto fail;
	}

	r = setup_ring(l, err);
	if (r < 0)
		goto fail;
	r = setup_buffers(l, err);
	if (r < 0)
		goto fail;
	setup_recv_limit(l);
	setup_says_unread(l);
	atomic_fetch_or(&w->shared->features, TCPACK_FEATURE_MULTISHOT_ACCEPT |
			(l->recv_limit ? TCPACK_FEATURE_RECV_LIMIT : 0u) |
			(l->bundle ? TCPACK_FEATURE_BUNDLE : 0u) |
			(l->says_unread ? TCPACK_FEATURE_UNREAD : 0u));
	l->drain_max = backlogs(l->listeners);
	atomic_store_explicit(&ring_fds[w->id], l->ring.ring_fd + 1, memory_order_release);
	*ret = l;
	return 0;
fail:
	loop_free(l);
	return r;
}

/*
 * Can this process serve with io_uring as the engine uses it? io_uring_setup
 * tells whether the kernel allows io_uring at all; multishot receive into a
 * provided buffer ring (Linux 6.0), which no opcode probe reports, is tried
 * for real: one byte through a socketpair, received by a multishot receive
 * from a one-buffer ring. An older kernel refuses the flag (-EINVAL), or
 * the buffer ring (5.19).
 */
static int loop_probe(char *err)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_buf_reg reg = { .ring_entries = 1, .bgid = BGID };
	struct io_uring_buf_ring *br = MAP_FAILED;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int sv[2] = { -1, -1 };
	uint8_t buf[16];
	size_t br_bytes = sizeof(struct io_uring_buf);
	int r;

	r = io_uring_queue_init(4, &ring, 0);
	if (r < 0) {
		snprintf(err, TCPACK_ERR_MAX, "%s%s", strerror(-r),
			 r == -ENOSYS || r == -EPERM ?
			 " (blocked by seccomp, a container runtime or the kernel.io_uring_disabled sysctl)" : "");
		return r;
	}
	br = mmap(NULL, br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED) {
		r = -errno;
		snprintf(err, TCPACK_ERR_MAX, "cannot map a buffer ring: %s", strerror(-r));
		goto out;
	}
	io_uring_buf_ring_init(br);
	reg.ring_addr = (unsigned long)br;
	r = io_uring_register_buf_ring(&ring, &reg, 0);
	if (r < 0) {
		snprintf(err, TCPACK_ERR_MAX, "provided buffer rings refused: %s (needs Linux 5.19)",
			 strerror(-r));
		r = r == -EINVAL ? -EOPNOTSUPP : r;
		goto out;
	}
	io_uring_buf_ring_add(br, buf, sizeof(buf), 0, io_uring_buf_ring_mask(1), 0);
	io_uring_buf_ring_advance(br, 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || write(sv[1], "x", 1) != 1) {
		r = -errno;
		snprintf(err, TCPACK_ERR_MAX, "probing io_uring: socketpair: %s", strerror(-r));
		goto out;
	}
	sqe = io_uring_get_sqe(&ring);
	prep_recv(sqe, sv[0], 0, false);
	if (io_uring_submit(&ring) != 1 || io_uring_wait_cqe_timeout(&ring, &cqe, &ts) < 0) {
		r = -EIO;
		snprintf(err, TCPACK_ERR_MAX, "probing io_uring: a receive did not complete");
		goto out;
	}
	r = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (r == 1) {
		r = 0;
	} else {
		snprintf(err, TCPACK_ERR_MAX, "multishot receive refused: %s (needs Linux 6.0)",
			 r < 0 ? strerror(-r) : "no byte received");
		r = -EOPNOTSUPP;
	}
out:
	io_uring_queue_exit(&ring);	/* before the buffers it may use go */
	if (br != MAP_FAILED)
		munmap(br, br_bytes);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return r;
}

const struct tcpack_engine tcpack_engine_uring = {
	.name = "io_uring",
	.probe = loop_probe,
	.setup = loop_setup,
	.run = loop_run,
	.free = loop_free,
	.attach = NULL,		/* nothing to do before the first receive is armed */
	.send = loop_send,
	.receive = loop_receive,
	.close = loop_close,
	.send_close = loop_send_close,
	.accepting = loop_accepting,
};
