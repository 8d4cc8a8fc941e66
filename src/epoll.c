// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* accept4 */
/*
 * The epoll engine: the same workers, connections and protocol code as the
 * io_uring engine, driven by readiness instead of completions. It serves
 * where io_uring is refused and is the baseline every benchmark compares
 * against, so it is written to be good, not a strawman: edge-triggered, one
 * epoll_ctl per connection, non-blocking accept4 in batches, EPOLLEXCLUSIVE
 * on shared listening sockets, replies batched per connection per wake-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tcpack/log.h"
#include "tcpack/metrics.h"
#include "tcpack/worker.h"

#define MAX_EVENTS	256
#define ACCEPT_BATCH	64	/* accepts per wake-up and listener */
#define READ_BUDGET	16	/* reads per connection per turn, for fairness */

/*
 * epoll_event.data of every registered fd: what it is, and for a
 * connection its slot and generation (an event for a slot closed and
 * reused earlier in the same wake-up is stale).
 */
enum ep_kind { EP_CONN, EP_LISTENER, EP_CONTROL, EP_TICK };

static uint64_t ep_data(enum ep_kind kind, uint32_t index, uint32_t gen)
{
	return (uint64_t)kind << 56 | (uint64_t)(gen & 0xffffff) << 32 | index;
}

static enum ep_kind ep_kind(uint64_t data)
{
	return (enum ep_kind)(data >> 56);
}

/* Readiness seen for one connection slot. */
struct ep_conn {
	bool readable;		/* an edge was seen; not read to EAGAIN yet */
	bool write_blocked;	/* the last send hit EAGAIN; wait for EPOLLOUT */
};

struct ep {
	struct tcpack_worker *w;
	const struct tcpack_listeners *listeners;
	struct ep_conn *ec;	/* one per slot of w->conns */
	int epfd, tfd;
	bool accepting;
	uint8_t *rbuf;
	size_t rbuf_size;
	bool inq;		/* the listening sockets' TCP_INQ: receives say what is left */
};

static int ep_attach(void *engine, struct tcpack_conn *c)
{
	struct ep *e = engine;
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = ep_data(EP_CONN, c->slot, c->gen),
	};

	/* ep_receive() asks tcpack_conn_wants_input() before every recv: one at most. */
	c->recv_burst = e->rbuf_size;
	/* Data may have come with the handshake; the socket is writable. */
	e->ec[c->slot] = (struct ep_conn){ .readable = true };
	return epoll_ctl(e->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno : 0;
}

/* Closing the fd takes it out of the epoll set: nothing else refers to it. */
static void ep_close(void *engine, struct tcpack_conn *c)
{
	struct ep *e = engine;
	int fd = c->fd;

	tcpack_conn_closing(c);
	close(fd);
	tcpack_worker_conn_closed(e->w, c);
}

/* accept4() happens in the batch: nothing is ever in flight after it. */
static bool ep_accepting(void *engine, bool want)
{
	struct ep *e = engine;

	if (want == e->accepting)
		return false;
	for (unsigned int i = 0; i < e->listeners->n; i++) {
		/* Exclusive: one worker is woken per connection, not all of them. */
		struct epoll_event ev = {
			.events = EPOLLIN | EPOLLEXCLUSIVE,
			.data.u64 = ep_data(EP_LISTENER, i, 0),
		};

		(void)epoll_ctl(e->epfd, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, e->listeners->fds[i],
				&ev);
	}
	e->accepting = want;
	return false;
}

static void handle_accept(struct ep *e, unsigned int i)
{
	for (int n = 0; n < ACCEPT_BATCH && e->accepting && !e->w->stopping; n++) {
		int fd = accept4(e->listeners->fds[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			tcpack_worker_accepted(e->w, fd, i);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
			tcpack_log_event(LOG_ERR, NULL, "accept failed: %s; retrying in 1s",
					 strerror(errno));
			tcpack_stat_add(&e->w->stats.errors[TCPACK_ERR_ACCEPT], 1);
			e->w->accept_retry_ms = e->w->now_ms + 1000;
		} else if (errno == EINTR || errno == ECONNABORTED) {
			continue;
		}
		return;		/* EAGAIN: another worker took it, or the backlog is empty */
	}
}

/*
 * Read while the connection wants input, until EAGAIN or the budget; past
 * the budget it waits for the next wake-up, after the others.
 */
/*
 * recv() into the worker's buffer; with TCP_INQ, @left is what the socket
 * still holds after it (-1: not known).
 */
static ssize_t ep_recv(struct ep *e, int fd, int *left)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = e->rbuf, .iov_len = e->rbuf_size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t r;

	*left = -1;
	if (!e->inq)
		return recv(fd, e->rbuf, e->rbuf_size, 0);
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	r = recvmsg(fd, &msg, 0);
	for (cm = r > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == IPPROTO_TCP && cm->cmsg_type == TCP_CM_INQ &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(left, CMSG_DATA(cm), sizeof(int));
	return r;
}

static bool ep_receive(void *engine, struct tcpack_conn *c)
{
	struct ep *e = engine;
	struct ep_conn *ec = &e->ec[c->slot];
	int n, left;

	if (!ec->readable || c->deferred)
		return false;
	for (n = 0; n < READ_BUDGET; n++) {
		ssize_t r;

		if (!tcpack_conn_wants_input(c))
			return n > 0;
		r = ep_recv(e, c->fd, &left);
		if (r > 0) {
			tcpack_conn_input(c, e->rbuf, (size_t)r);
			if (left == 0)
				tcpack_conn_none_unread(c);
			tcpack_worker_received(e->w, c);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		ec->readable = false;
		if (r == 0)
			tcpack_conn_eof(c);
		else if (errno != EAGAIN)
			tcpack_conn_error(c, -errno, "receive");
		else
			return n > 0;
		return true;
	}
	tcpack_worker_defer(e->w, c);
	return true;
}

/*
 * Write until all is sent, the socket is full or a send fails. Return:
 * true when finished (all of it sent, or failed: the connection is DONE);
 * @sent: whether any byte went.
 */
static bool ep_write(struct ep *e, struct tcpack_conn *c, bool *sent)
{
	struct ep_conn *ec = &e->ec[c->slot];

	while (!ec->write_blocked) {
		const uint8_t *data;
		size_t len = tcpack_conn_output(c, &data);
		ssize_t r;

		if (!len)
			return true;
		r = send(c->fd, data, len, tcpack_conn_send_flags(c));
		if (r > 0) {
			tcpack_conn_sent(c, (size_t)r);
			*sent = true;
		} else if (r < 0 && errno == EAGAIN) {
			ec->write_blocked = true;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else {
			tcpack_conn_error(c, r < 0 ? -errno : -EPIPE, "send");
			return true;
		}
	}
	return false;
}

static bool ep_send(void *engine, struct tcpack_conn *c)
{
	struct ep *e = engine;
	bool sent = false, finished = ep_write(e, c, &sent);

	if (sent)
		tcpack_worker_arm_timer(e->w, c);	/* progress: idle and drain deadlines move */
	return finished;
}

/*
 * The reply, then the close, at once, when the socket took all of it (it
 * always does: see TCPACK_SEND_CLOSE_MAX): what the receive said (nothing
 * left unread) still holds. A failed send closes too. The rest of a reply
 * the socket did not take waits for EPOLLOUT as after a plain send, and
 * the close after it asks the socket again.
 */
static bool ep_send_close(void *engine, struct tcpack_conn *c)
{
	struct ep *e = engine;
	bool sent = false;

	if (ep_write(e, c, &sent)) {
		ep_close(e, c);
		return false;
	}
	tcpack_conn_unread_unknown(c);
	if (sent)
		tcpack_worker_arm_timer(e->w, c);
	return true;
}

static void handle_event(struct ep *e, const struct epoll_event *ev)
{
	uint64_t data = ev->data.u64, v;
	uint32_t index = (uint32_t)data;
	struct tcpack_conn *c;

	switch (ep_kind(data)) {
	case EP_LISTENER:
		handle_accept(e, index);
		break;
	case EP_CONN:
		c = &e->w->conns[index];
		if (!c->stats || ep_data(EP_CONN, index, c->gen) != data)
			break;	/* closed earlier in this batch */
		if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			e->ec[index].readable = true;
		if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			e->ec[index].write_blocked = false;
		tcpack_worker_mark_dirty(e->w, c);
		break;
	case EP_CONTROL:
		(void)!read(e->w->ctl->efd, &v, sizeof(v));
		tcpack_worker_control_seen(e->w);
		break;
	case EP_TICK:
		(void)!read(e->tfd, &v, sizeof(v));
		tcpack_worker_tick(e->w);
		break;
	}
}

static void ep_free(void *engine)
{
	struct ep *e = engine;

	if (!e)
		return;
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->tfd >= 0)
		close(e->tfd);
	free(e->rbuf);
	free(e->ec);
	free(e);
}

static int ep_run(void *engine)
{
	struct ep *e = engine;
	struct tcpack_worker *w = e->w;
	struct epoll_event evs[MAX_EVENTS];

	ep_accepting(e, tcpack_worker_may_accept(w));
	tcpack_worker_publish(w);
	tcpack_worker_set_state(w, TCPACK_WORKER_SERVING);

	while (!w->done) {
		int n = epoll_wait(e->epfd, evs, MAX_EVENTS, tcpack_worker_has_deferred(w) ? 0 : -1);

		if (n < 0 && errno != EINTR) {
			tcpack_logf(LOG_ERR, "worker %u: epoll_wait failed: %s", w->id, strerror(errno));
			return -errno;
		}
		tcpack_worker_clock(w);
		tcpack_stat_add(&w->stats.waits, 1);
		tcpack_stat_add(&w->stats.completions, n > 0 ? (uint64_t)n : 0);
		/* Control first: a drain stops accepts in this very wake-up. */
		for (int i = 0; i < n; i++)
			if (ep_kind(evs[i].data.u64) == EP_CONTROL)
				handle_event(e, &evs[i]);
		for (int i = 0; i < n; i++)
			if (ep_kind(evs[i].data.u64) != EP_CONTROL)
				handle_event(e, &evs[i]);
		tcpack_worker_end_batch(w);
	}
	return 0;
}

static int ep_setup(struct tcpack_worker *w, void **ret, char *err)
{
	struct itimerspec its = { 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	const char *hook;
	struct ep *e;
	int r;

	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, TCPACK_ERR_MAX, "out of memory");
		return -ENOMEM;
	}
	e->w = w;
	e->listeners = w->shared->listeners;
	e->tfd = -1;
	e->rbuf_size = w->cfg->buffer_size;
	e->rbuf = malloc(e->rbuf_size);
	e->ec = calloc(w->nslots, sizeof(*e->ec));
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!e->rbuf || !e->ec || e->epfd < 0 || e->tfd < 0) {
		r = -errno ?: -ENOMEM;
		snprintf(err, TCPACK_ERR_MAX, "setting up epoll: %s", strerror(-r));
		goto fail;
	}
	/*
	 * accept4 must never block when another worker took the connection.
	 * TCP_INQ (Linux 4.18), which accepted sockets inherit: each receive
	 * says how many bytes are left unread, so a oneshot reply can be sent
	 * and closed at once without asking the socket (SIOCINQ) after it.
	 */
	hook = getenv("TCPACK_TEST_RING");	/* nounread: as without TCP_INQ, for the tests */
	e->inq = !hook || !strstr(hook, "nounread");
	for (unsigned int i = 0; i < e->listeners->n; i++) {
		int fl = fcntl(e->listeners->fds[i], F_GETFL), one = 1;

		if (fl >= 0 && !(fl & O_NONBLOCK))
			(void)fcntl(e->listeners->fds[i], F_SETFL, fl | O_NONBLOCK);
		if (e->inq && setsockopt(e->listeners->fds[i], IPPROTO_TCP, TCP_INQ, &one, sizeof(one)) < 0)
			e->inq = false;
	}
	if (e->inq)
		atomic_fetch_or(&w->shared->features, TCPACK_FEATURE_UNREAD);
	tcpack_logf(LOG_DEBUG, "epoll: receives %s whether bytes are left unread: a oneshot reply %s (worker %u)",
		    e->inq ? "report (TCP_INQ)" : "do not report",
		    e->inq ? "is sent and closed at once" : "is sent, then the socket asked (SIOCINQ) before the close",
		    w->id);
	its.it_interval.tv_sec = (time_t)(w->shared->tick_ms / 1000);
	its.it_interval.tv_nsec = (long)(w->shared->tick_ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	timerfd_settime(e->tfd, 0, &its, NULL);
	ev.data.u64 = ep_data(EP_TICK, 0, 0);
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->tfd, &ev) < 0)
		goto fail_errno;
	ev.data.u64 = ep_data(EP_CONTROL, 0, 0);
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, w->ctl->efd, &ev) < 0)
		goto fail_errno;
	*ret = e;
	return 0;
fail_errno:
	r = -errno;
	snprintf(err, TCPACK_ERR_MAX, "epoll_ctl: %s", strerror(-r));
fail:
	ep_free(e);
	return r;
}

/* epoll is as old as Linux 2.6; seccomp could still refuse it. */
static int ep_probe(char *err)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0) {
		snprintf(err, TCPACK_ERR_MAX, "epoll_create1: %s", strerror(errno));
		return -errno;
	}
	close(fd);
	return 0;
}

const struct tcpack_engine tcpack_engine_epoll = {
	.name = "epoll",
	.probe = ep_probe,
	.setup = ep_setup,
	.run = ep_run,
	.free = ep_free,
	.attach = ep_attach,
	.send = ep_send,
	.receive = ep_receive,
	.close = ep_close,
	.send_close = ep_send_close,
	.accepting = ep_accepting,
};
