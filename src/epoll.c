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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tcpack/log.h"
#include "tcpack/loop.h"	/* user_data encoding, shared with the ring */
#include "tcpack/worker.h"

#define MAX_EVENTS	256
#define ACCEPT_BATCH	64	/* accepts per wake-up and listener */
#define READ_BUDGET	16	/* reads per connection per pass, for fairness */

struct ep {
	struct tcpack_worker *w;
	const struct tcpack_listeners *listeners;
	int epfd, tfd;
	bool accepting;
	uint8_t *rbuf;
	size_t rbuf_size;
	uint32_t *again;	/* connections with input left after their budget */
	uint32_t nagain;
	bool ctl_pending;	/* commands wait: act after this wake-up's I/O */
};

/* The engine-owned flags of struct tcpack_conn, as this engine uses them. */
#define readable	recv_armed	/* an edge was seen; not read to EAGAIN yet */
#define write_blocked	send_inflight	/* last send hit EAGAIN; wait for EPOLLOUT */


static void add_conn(struct ep *e, int fd)
{
	struct tcpack_conn *c = tcpack_worker_conn_new(e->w, fd);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };

	if (!c) {
		tcpack_worker_park(e->w, fd);
		return;
	}
	/* do_read() asks tcpack_conn_wants_input() before every recv: one at most. */
	c->recv_burst = e->rbuf_size;
	ev.data.u64 = tcpack_loop_ud_encode(TCPACK_OP_RECV, c->slot, c->gen, 0);
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		tcpack_conn_error(c, -errno, "epoll_ctl");
		return;
	}
	c->readable = true;	/* data may have come with the handshake */
}

static void unpark(struct ep *e)
{
	int fd;

	while ((fd = tcpack_worker_unpark(e->w)) >= 0)
		add_conn(e, fd);
}

static void close_conn(struct ep *e, struct tcpack_conn *c)
{
	int fd = c->fd;

	tcpack_conn_closing(c);
	close(fd);
	tcpack_worker_conn_free(e->w, c);
	unpark(e);	/* a slot is free: the longest-waiting parked connection takes it */
}

static void update_accepting(struct ep *e)
{
	bool want = tcpack_worker_may_accept(e->w);

	if (want == e->accepting)
		return;
	for (unsigned int i = 0; i < e->listeners->n; i++) {
		/* Exclusive: one worker is woken per connection, not all of them. */
		struct epoll_event ev = {
			.events = EPOLLIN | EPOLLEXCLUSIVE,
			.data.u64 = tcpack_loop_ud_encode(TCPACK_OP_ACCEPT, i, 0, 0),
		};

		(void)epoll_ctl(e->epfd, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, e->listeners->fds[i],
				&ev);
	}
	e->accepting = want;
}

static void handle_accept(struct ep *e, unsigned int i)
{
	for (int n = 0; n < ACCEPT_BATCH && e->accepting && !e->w->stopping; n++) {
		int fd = accept4(e->listeners->fds[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			add_conn(e, fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
			tcpack_log_event(LOG_ERR, NULL, "accept failed: %s; retrying in 1s",
					 strerror(errno));
			e->w->stats.errors++;
			e->w->accept_retry_ms = e->w->now_ms + 1000;
		} else if (errno == EINTR || errno == ECONNABORTED) {
			continue;
		}
		return;		/* EAGAIN: another worker took it, or the backlog is empty */
	}
}

/* Read until EAGAIN, the budget, or the connection wants no more. */
static void do_read(struct ep *e, struct tcpack_conn *c)
{
	for (int n = 0; n < READ_BUDGET; n++) {
		ssize_t r;

		if (!tcpack_conn_wants_input(c))
			return;
		r = recv(c->fd, e->rbuf, e->rbuf_size, 0);
		if (r > 0) {
			tcpack_conn_input(c, e->rbuf, (size_t)r);
			if (c->phase != TCPACK_CONN_LINGER)
				tcpack_worker_arm_timer(e->w, c);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		c->readable = false;
		if (r == 0)
			tcpack_conn_eof(c);
		else if (errno != EAGAIN)
			tcpack_conn_error(c, -errno, "receive");
		return;
	}
	e->again[e->nagain++] = c->slot;	/* more to read: after the others */
}

static void do_write(struct tcpack_conn *c)
{
	while (!c->write_blocked) {
		const uint8_t *data;
		size_t len = tcpack_conn_output(c, &data);
		ssize_t r;

		if (!len)
			return;
		r = send(c->fd, data, len, tcpack_conn_send_flags(c));
		if (r > 0) {
			tcpack_conn_sent(c, (size_t)r);
		} else if (r < 0 && errno == EAGAIN) {
			c->write_blocked = true;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else {
			tcpack_conn_error(c, r < 0 ? -errno : -EPIPE, "send");
			return;
		}
	}
}

/* The same decisions as the ring's flush_conn(), made with syscalls. */
static void flush_conn(struct ep *e, struct tcpack_conn *c)
{
	bool queued = false;

	for (int pass = 0; pass < 4; pass++) {
		const uint8_t *data;

		if (c->phase == TCPACK_CONN_DONE) {
			close_conn(e, c);
			return;
		}
		if (c->readable && tcpack_conn_wants_input(c) && !queued) {
			uint32_t before = e->nagain;

			do_read(e, c);
			queued = e->nagain != before;
		}
		if (c->phase == TCPACK_CONN_DONE)
			continue;
		do_write(c);
		if (c->phase == TCPACK_CONN_DONE || c->write_blocked ||
		    tcpack_conn_output(c, &data))
			continue;
		if (c->phase == TCPACK_CONN_FINISHING) {
			(void)shutdown(c->fd, SHUT_WR);
			tcpack_conn_shut(c);
			tcpack_worker_arm_timer(e->w, c);
			continue;	/* linger: read what is already there */
		}
		if (c->phase == TCPACK_CONN_PEER_DONE) {
			close_conn(e, c);
			return;
		}
		/* Sending may have let held-back input resume: read again if so. */
		if (!(c->readable && tcpack_conn_wants_input(c)) || queued)
			return;
	}
	if (c->phase == TCPACK_CONN_DONE) {
		close_conn(e, c);
		return;
	}
	/*
	 * Out of passes with input still waiting: no new edge will say so,
	 * so come back after this wake-up's other connections.
	 */
	if (c->readable && tcpack_conn_wants_input(c) && !queued)
		e->again[e->nagain++] = c->slot;
}

static void flush_dirty(struct ep *e)
{
	struct tcpack_conn *c;

	while ((c = tcpack_worker_next_dirty(e->w)))
		flush_conn(e, c);
}

/*
 * Closed by the flush that follows, not here: a connection may sit on the
 * dirty list, and freeing its slot now would cut the list.
 */
static void force_close_all(struct ep *e)
{
	for (uint32_t i = 0; i < e->w->nslots; i++) {
		struct tcpack_conn *c = &e->w->conns[i];

		if (c->stats) {
			c->phase = TCPACK_CONN_DONE;
			tcpack_worker_mark_dirty(e->w, c);
		}
	}
}

static void handle_event(struct ep *e, const struct epoll_event *ev)
{
	struct tcpack_loop_ud ud = tcpack_loop_ud_decode(ev->data.u64);
	struct tcpack_conn *c;
	uint64_t v;

	switch (ud.op) {
	case TCPACK_OP_ACCEPT:
		handle_accept(e, ud.slot);
		break;
	case TCPACK_OP_RECV:
		c = &e->w->conns[ud.slot];
		if (!c->stats || c->gen != ud.gen)
			break;	/* closed earlier in this batch */
		if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->readable = true;
		if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			c->write_blocked = false;
		tcpack_worker_mark_dirty(e->w, c);
		break;
	case TCPACK_OP_CONTROL:
		(void)!read(e->w->ctl->efd, &v, sizeof(v));
		e->ctl_pending = true;
		tcpack_worker_control_seen(e->w);
		break;
	case TCPACK_OP_TICK:
		(void)!read(e->tfd, &v, sizeof(v));
		tcpack_worker_tick(e->w);
		break;
	default:
		break;
	}
}

static int ep_run(void *engine)
{
	struct ep *e = engine;
	struct tcpack_worker *w = e->w;
	struct epoll_event evs[MAX_EVENTS];

	update_accepting(e);
	tcpack_worker_publish(w);
	atomic_store(&w->ctl->state, 1);

	while (!w->done) {
		int n = epoll_wait(e->epfd, evs, MAX_EVENTS, e->nagain ? 0 : -1);

		if (n < 0 && errno != EINTR) {
			tcpack_logf(LOG_ERR, "worker %u: epoll_wait failed: %s", w->id, strerror(errno));
			return -errno;
		}
		w->now_ms = tcpack_worker_now_ms();
		/* Control first: a drain stops accepts in this very wake-up. */
		for (int i = 0; i < n; i++)
			if (tcpack_loop_ud_decode(evs[i].data.u64).op == TCPACK_OP_CONTROL)
				handle_event(e, &evs[i]);
		for (int i = 0; i < n; i++)
			if (tcpack_loop_ud_decode(evs[i].data.u64).op != TCPACK_OP_CONTROL)
				handle_event(e, &evs[i]);
		/* Connections with input left over go after this wake-up's others. */
		for (uint32_t i = 0, k = e->nagain; i < k; i++)
			tcpack_worker_mark_dirty(w, &w->conns[e->again[i]]);
		e->nagain = 0;
		flush_dirty(e);
		/* Input already readable in this wake-up counts as received first. */
		if (e->ctl_pending) {
			unsigned int cmd = tcpack_worker_control(w);

			e->ctl_pending = false;
			if (cmd & TCPACK_CTL_FORCE)
				force_close_all(e);
			if (cmd & TCPACK_CTL_ACCEPT)
				unpark(e);
			flush_dirty(e);
		}
		update_accepting(e);
		tcpack_worker_publish(w);
		if (tcpack_worker_finished(w))
			w->done = true;
	}
	tcpack_worker_publish(w);
	return 0;
}

static void ep_free(void *engine)
{
	struct ep *e = engine;

	if (!e)
		return;
	for (uint32_t i = 0; e->w->conns && i < e->w->nslots; i++) {
		struct tcpack_conn *c = &e->w->conns[i];

		if (c->stats && c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
	}
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->tfd >= 0)
		close(e->tfd);
	free(e->rbuf);
	free(e->again);
	free(e);
}

static int ep_setup(struct tcpack_worker *w, void **ret, char *err)
{
	struct itimerspec its = { 0 };
	struct epoll_event ev = { .events = EPOLLIN };
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
	e->again = calloc(w->nslots, sizeof(*e->again));
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!e->rbuf || !e->again || e->epfd < 0 || e->tfd < 0) {
		r = -errno ?: -ENOMEM;
		snprintf(err, TCPACK_ERR_MAX, "setting up epoll: %s", strerror(-r));
		goto fail;
	}
	/* accept4 must never block when another worker took the connection. */
	for (unsigned int i = 0; i < e->listeners->n; i++) {
		int fl = fcntl(e->listeners->fds[i], F_GETFL);

		if (fl >= 0 && !(fl & O_NONBLOCK))
			(void)fcntl(e->listeners->fds[i], F_SETFL, fl | O_NONBLOCK);
	}
	its.it_interval.tv_sec = (time_t)(w->shared->tick_ms / 1000);
	its.it_interval.tv_nsec = (long)(w->shared->tick_ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	timerfd_settime(e->tfd, 0, &its, NULL);
	ev.data.u64 = tcpack_loop_ud_encode(TCPACK_OP_TICK, 0, 0, 0);
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->tfd, &ev) < 0)
		goto fail_errno;
	ev.data.u64 = tcpack_loop_ud_encode(TCPACK_OP_CONTROL, 0, 0, 0);
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

const struct tcpack_engine tcpack_engine_epoll = {
	.name = "epoll",
	.setup = ep_setup,
	.run = ep_run,
	.free = ep_free,
};
