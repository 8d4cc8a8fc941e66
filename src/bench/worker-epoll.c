// SPDX-License-Identifier: MIT
/*
 * The epoll client engine (--client epoll): a readiness-driven load
 * generator as wrk, memtier_benchmark and redis-benchmark are, so a server
 * is measured against the kind of client most of its users run, not only
 * against a batching io_uring one.
 *
 * Non-blocking sockets in one level-triggered epoll instance per thread:
 * level-triggered as those tools' event loops (ae, libevent) are, so one
 * read per readiness event leaves the rest for the next wait, and nothing
 * is lost without the read-until-EAGAIN that edge triggering needs.
 *   connect   non-blocking; EPOLLOUT, then SO_ERROR, says how it ended
 *   send      one send() per turn: the up to --pipeline messages the
 *             worker filled in; on a short send, the rest when EPOLLOUT
 *             says there is room (only then is EPOLLOUT watched)
 *   receive   one recv() per readiness event into the worker's one buffer
 *   close     close() at once: the fd leaves the epoll set with it
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker-engine.h"

#define NSEC_PER_SEC	1000000000ull
#define NSEC_PER_MSEC	1000000ull
#define MAX_EVENTS	256

struct epoll_worker {
	struct bench_worker w;		/* first: the engine's worker is one */
	int epfd;
	bool no_pwait2;			/* epoll_pwait2 refused: millisecond waits */
	uint32_t *watched;		/* per slot: the events asked for; 0 not in the set */
	uint8_t *rbuf;
	size_t rbuf_size;
	struct epoll_event evs[MAX_EVENTS];
};

static struct epoll_worker *epoll_of(struct bench_worker *w)
{
	return (struct epoll_worker *)w;
}

/* Asks epoll for @events on @c's fd: an epoll_ctl only when that changes. */
static void watch(struct epoll_worker *e, struct bench_conn *c, uint32_t events)
{
	uint32_t slot = bench_conn_slot(&e->w, c);
	struct epoll_event ev = {
		.events = events,
		.data.u64 = bench_ud_encode(BENCH_OP_POLL, slot, c->gen),
	};

	if (e->watched[slot] == events)
		return;
	if (epoll_ctl(e->epfd, e->watched[slot] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		bench_conn_fail(&e->w, c, BENCH_ERR_IO, "epoll_ctl: %s", strerror(errno));
		return;
	}
	e->watched[slot] = events;
}

/* ---- what the worker asks ------------------------------------------------ */

static void epoll_connect(struct bench_worker *w, struct bench_conn *c)
{
	struct epoll_worker *e = epoll_of(w);

	if (connect(c->fd, (const struct sockaddr *)&w->o->addr, w->o->addr_len) == 0) {
		bench_conn_connected(w, c, 0);	/* loopback may finish at once */
		return;
	}
	if (errno != EINPROGRESS) {
		bench_conn_connected(w, c, -errno);
		return;
	}
	watch(e, c, EPOLLOUT);
}

static void epoll_flush(struct bench_worker *w, struct bench_conn *c)
{
	struct epoll_worker *e = epoll_of(w);

	if (!c->sending && c->out_len > c->out_done) {
		ssize_t n = send(c->fd, c->out + c->out_done, c->out_len - c->out_done, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->sending = true;
		} else {
			bench_conn_sent(w, c, n < 0 ? -errno : n);
			c->sending = c->out_done < c->out_len;
		}
	}
	if (c->state == BENCH_CONN_OPEN)
		watch(e, c, EPOLLIN | (c->sending ? EPOLLOUT : 0));
}

static bool epoll_release(struct bench_worker *w, struct bench_conn *c)
{
	(void)w;
	(void)c;
	return true;	/* nothing is in flight: readiness is only ever looked at */
}

static void epoll_close(struct bench_worker *w, struct bench_conn *c)
{
	struct epoll_worker *e = epoll_of(w);

	close(c->fd);
	e->watched[bench_conn_slot(w, c)] = 0;
}

/* ---- readiness ------------------------------------------------------------ */

static void handle_connected(struct epoll_worker *e, struct bench_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	bench_conn_connected(&e->w, c, -err);
}

/* One recv() per readiness event: level triggering reports what is left. */
static void handle_readable(struct epoll_worker *e, struct bench_conn *c)
{
	ssize_t n = recv(c->fd, e->rbuf, e->rbuf_size, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	bench_conn_received(&e->w, c, e->rbuf, n < 0 ? -errno : n);
}

/*
 * EPOLLHUP and EPOLLERR come whatever was asked: for a connect, SO_ERROR
 * says why; when open, the recv() returns the error or the EOF.
 */
static void handle_event(struct epoll_worker *e, const struct epoll_event *ev)
{
	struct bench_ud ud = bench_ud_decode(ev->data.u64);
	struct bench_conn *c = ud.slot < e->w.n ? &e->w.conns[ud.slot] : NULL;

	if (ud.op != BENCH_OP_POLL || !c || ud.gen != c->gen)
		return;
	bench_worker_mark_dirty(&e->w, c);
	if (c->state == BENCH_CONN_CONNECTING) {
		handle_connected(e, c);
		return;
	}
	if (c->state != BENCH_CONN_OPEN)
		return;
	if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		c->sending = false;	/* room again: the next step sends the rest */
	if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		handle_readable(e, c);
}

static int epoll_wait_ns(struct epoll_worker *e, uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / NSEC_PER_SEC),
		.tv_nsec = (long)(timeout_ns % NSEC_PER_SEC),
	};
	int n;

	if (!e->no_pwait2) {
		n = epoll_pwait2(e->epfd, e->evs, MAX_EVENTS, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		e->no_pwait2 = true;	/* before Linux 5.11 */
	}
	return epoll_wait(e->epfd, e->evs, MAX_EVENTS,
			  (int)((timeout_ns + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC));
}

static int epoll_wait_events(struct bench_worker *w, uint64_t timeout_ns)
{
	struct epoll_worker *e = epoll_of(w);
	int n = epoll_wait_ns(e, timeout_ns);

	if (n < 0 && errno != EINTR) {
		fprintf(stderr, "tcpack-bench: epoll_wait: %s\n", strerror(errno));
		return -errno;
	}
	w->now = bench_now_ns();
	for (int i = 0; i < n; i++)
		handle_event(e, &e->evs[i]);
	return 0;
}

/* ---- setup ---------------------------------------------------------------- */

static int epoll_setup(struct bench_worker *w, char *err)
{
	struct epoll_worker *e = epoll_of(w);

	/*
	 * --rate wakes for each message due: without this, epoll_pwait2 sleeps
	 * up to 50 µs (the default timer slack) past it, and that counts as
	 * latency. io_uring's wait timeout has no slack.
	 */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	e->rbuf_size = bench_worker_recv_size(w);
	e->rbuf = malloc(e->rbuf_size);
	e->watched = calloc(w->n, sizeof(*e->watched));
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		int r = -errno;

		snprintf(err, BENCH_ERR_MAX, "epoll_create1: %s", strerror(-r));
		return r;
	}
	if (!e->rbuf || !e->watched) {
		snprintf(err, BENCH_ERR_MAX, "out of memory for %u connections", w->n);
		return -ENOMEM;
	}
	return 0;
}

/* Called once setup() was: epfd is a descriptor or -1 by then. */
static void epoll_free(struct bench_worker *w)
{
	struct epoll_worker *e = epoll_of(w);

	if (e->epfd >= 0)
		close(e->epfd);
	e->epfd = -1;
	free(e->rbuf);
	e->rbuf = NULL;
	free(e->watched);
	e->watched = NULL;
}

const struct bench_engine bench_engine_epoll = {
	.name = "epoll",
	.size = sizeof(struct epoll_worker),
	.sock_flags = SOCK_NONBLOCK,
	.turns = true,
	.setup = epoll_setup,
	.wait = epoll_wait_events,
	.connect = epoll_connect,
	.flush = epoll_flush,
	.release = epoll_release,
	.close = epoll_close,
	.free = epoll_free,
};
