// SPDX-License-Identifier: MIT
/*
 * The worker: slots, timers, control, and the connection policy both
 * engines share. Engines report what completed (input, sends, the peer's
 * end) to the connection and mark it dirty; after the batch, flush_conn()
 * takes each dirty connection's decision once (tcpack_conn_next()) and
 * has the engine carry it out. Looking after the batch, not inside the
 * completion walk, batches every reply a batch owes a connection into one
 * send, and lets the io_uring engine return the batch's buffers to the
 * kernel before any receive is re-armed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcpack/log.h"
#include "tcpack/worker.h"

uint64_t tcpack_worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tcpack_worker_clock(struct tcpack_worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	w->now_ms = w->now_us / 1000;
}

static uint64_t wheel_tick(uint64_t ms)
{
	return ms / 1000;	/* the wheel turns once a second */
}

static void close_parked(struct tcpack_worker *w);
static void conn_free(struct tcpack_worker *w, struct tcpack_conn *c);

static void cfg_put(const struct tcpack_config *cfg)
{
	struct tcpack_cfg_ref *ref = (struct tcpack_cfg_ref *)cfg;

	if (ref && --ref->refs == 0)
		free(ref);
}

int tcpack_worker_init(struct tcpack_worker *w, unsigned int id, struct tcpack_shared *shared,
		       struct tcpack_worker_ctl *ctl, const struct tcpack_config *cfg, char *err)
{
	struct tcpack_cfg_ref *ref;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->shared = shared;
	w->ctl = ctl;
	w->dirty = TCPACK_NO_SLOT;
	tcpack_worker_clock(w);
	tcpack_timer_wheel_init(&w->wheel, wheel_tick(w->now_ms));

	ref = malloc(sizeof(*ref));
	w->nslots = shared->max_slots;
	w->conns = calloc(w->nslots, sizeof(*w->conns));
	w->free_slots = calloc(w->nslots, sizeof(*w->free_slots));
	w->deferred = calloc(w->nslots, sizeof(*w->deferred));
	if (!ref || !w->conns || !w->free_slots || !w->deferred) {
		free(ref);
		snprintf(err, TCPACK_ERR_MAX, "out of memory for %u connections", w->nslots);
		return -ENOMEM;
	}
	ref->cfg = *cfg;
	ref->refs = 1;
	w->cfg = &ref->cfg;
	for (uint32_t i = 0; i < w->nslots; i++) {
		w->conns[i].slot = i;
		w->free_slots[w->nfree++] = w->nslots - 1 - i;	/* low slots first */
	}
	return 0;
}

void tcpack_worker_deinit(struct tcpack_worker *w)
{
	if (w->conns) {
		for (uint32_t i = 0; i < w->nslots; i++) {
			struct tcpack_conn *c = &w->conns[i];

			if (!c->stats)
				continue;
			if (c->fd >= 0)
				close(c->fd);
			conn_free(w, c);
		}
	}
	close_parked(w);
	free(w->conns);
	free(w->free_slots);
	free(w->deferred);
	w->conns = NULL;
	w->free_slots = NULL;
	w->deferred = NULL;
	cfg_put(w->cfg);
	w->cfg = NULL;
}

static void wake(struct tcpack_worker_ctl *ctl, unsigned int cmd)
{
	uint64_t one = 1;

	atomic_fetch_or(&ctl->cmd, cmd);
	(void)!write(ctl->efd, &one, sizeof(one));
}

/*
 * The configuration a reload published for this worker, if any, for the
 * connections it accepts from now on. Taken at the latest when the
 * command is seen, and before every accepted connection: one that arrives
 * in the same batch as the command, or before it, but after the reload
 * was published (and logged), gets the new configuration too.
 */
static void take_reload(struct tcpack_worker *w)
{
	struct tcpack_cfg_ref *next;

	if (!atomic_load_explicit(&w->ctl->next_cfg, memory_order_relaxed))
		return;
	next = atomic_exchange(&w->ctl->next_cfg, NULL);
	if (next) {
		cfg_put(w->cfg);
		w->cfg = &next->cfg;
	}
}

/*
 * A slot for a freshly accepted @fd, or NULL when over max-connections or
 * forced to stop. Accepted while draining, it is served all the same: the
 * kernel's backlog no longer holds it, and its client may have sent its
 * message already (tcpack_conn_drain()).
 */
static struct tcpack_conn *conn_new(struct tcpack_worker *w, int fd)
{
	struct tcpack_shared *s = w->shared;
	struct tcpack_conn *c;

	if (w->forced || !w->nfree)
		return NULL;
	if (atomic_fetch_add(&s->conns, 1) >= atomic_load(&s->max_conns)) {
		atomic_fetch_sub(&s->conns, 1);
		return NULL;
	}
	atomic_fetch_add_explicit(&w->ctl->conns_now, 1, memory_order_relaxed);
	take_reload(w);
	c = &w->conns[w->free_slots[--w->nfree]];
	((struct tcpack_cfg_ref *)w->cfg)->refs++;
	tcpack_conn_init(c, fd, w->cfg, &w->stats, &w->now_ms);
	c->clock_us = &w->now_us;
	if (w->drained)
		tcpack_conn_drain(c);
	if (tcpack_log_enabled(LOG_INFO))
		tcpack_conn_peer(c);	/* while it is surely still connected */
	tcpack_worker_arm_timer(w, c);
	tcpack_worker_mark_dirty(w, c);
	return c;
}

static void close_parked(struct tcpack_worker *w)
{
	for (; w->nparked; w->nparked--) {
		close(w->parked[w->parked_head].fd);
		w->parked_head = (w->parked_head + 1) % TCPACK_PARKED_MAX;
	}
}

static void park(struct tcpack_worker *w, int fd, unsigned int listener)
{
	if (w->forced) {
		close(fd);
		return;
	}
	if (w->nparked < TCPACK_PARKED_MAX) {
		w->parked[(w->parked_head + w->nparked++) % TCPACK_PARKED_MAX] =
			(struct tcpack_parked){ fd, listener };
		return;
	}
	tcpack_log_event(LOG_WARNING, NULL,
			 "max-connections reached and %u accepted connections already wait: closing one",
			 TCPACK_PARKED_MAX);
	close(fd);
	tcpack_stat_add(&w->stats.errors[TCPACK_ERR_OVERFLOW], 1);
}

/* The longest-waiting parked connection if a slot is free now. */
static bool unpark_one(struct tcpack_worker *w, struct tcpack_parked *ret)
{
	if (!w->nparked || w->forced || !w->nfree ||
	    atomic_load(&w->shared->conns) >= atomic_load(&w->shared->max_conns))
		return false;
	*ret = w->parked[w->parked_head];
	w->parked_head = (w->parked_head + 1) % TCPACK_PARKED_MAX;
	w->nparked--;
	return true;
}

void tcpack_worker_set_state(struct tcpack_worker *w, int state)
{
	uint64_t one = 1;

	atomic_store(&w->ctl->state, state);
	(void)!write(w->shared->done_efd, &one, sizeof(one));
}

void tcpack_worker_accepted(struct tcpack_worker *w, int fd, unsigned int listener)
{
	const struct tcpack_listeners *ls = w->shared->listeners;
	struct tcpack_conn *c = conn_new(w, fd);
	int r = 0;

	if (!c) {
		park(w, fd, listener);
		return;
	}
	if (ls->any_proxy && listener < ls->n && ls->proxy[listener] != TCPACK_PROXY_OFF) {
		r = tcpack_conn_expect_proxy(c, ls->proxy[listener]);
		tcpack_worker_arm_timer(w, c);	/* the header's deadline */
	}
	if (r >= 0 && w->engine->attach)
		r = w->engine->attach(w->engine_data, c);
	if (r < 0)
		tcpack_conn_error(c, r, "watch");	/* closed by the flush after the batch */
}

/* Slots may be free now: serve connections parked at the limit, in order. */
static void unpark(struct tcpack_worker *w)
{
	struct tcpack_parked p;

	while (unpark_one(w, &p))
		tcpack_worker_accepted(w, p.fd, p.listener);
}

static void undefer_slot(struct tcpack_worker *w, uint32_t slot)
{
	for (uint32_t i = 0; i < w->ndeferred; i++) {
		if (w->deferred[i] == slot) {
			w->deferred[i] = w->deferred[--w->ndeferred];
			return;
		}
	}
}

static void conn_free(struct tcpack_worker *w, struct tcpack_conn *c)
{
	struct tcpack_shared *s = w->shared;
	uint32_t slot = c->slot, gen = c->gen;
	const struct tcpack_config *cfg = c->cfg;

	if (c->deferred)
		undefer_slot(w, slot);
	if (c->check_kind) {
		pthread_mutex_lock(&w->ctl->checks_lock);
		tcpack_check_sources_add(&w->ctl->checks, c->peer_known ? (struct sockaddr *)&c->peer : NULL,
					 c->check_kind, 1);
		pthread_mutex_unlock(&w->ctl->checks_lock);
	}

	tcpack_conn_deinit(c);
	cfg_put(cfg);
	memset(c, 0, sizeof(*c));
	c->slot = slot;
	c->gen = (gen + 1) & ((1u << 20) - 1);
	w->free_slots[w->nfree++] = slot;
	atomic_fetch_sub_explicit(&w->ctl->conns_now, 1, memory_order_relaxed);

	/* Leaving max-connections: workers that paused accepting may go on. */
	if (atomic_fetch_sub(&s->conns, 1) == atomic_load(&s->max_conns)) {
		for (unsigned int i = 0; i < s->n_workers; i++)
			if (&s->ctls[i] != w->ctl)
				wake(&s->ctls[i], TCPACK_CTL_ACCEPT);
	}
}

void tcpack_worker_conn_closed(struct tcpack_worker *w, struct tcpack_conn *c)
{
	conn_free(w, c);
	unpark(w);	/* a slot is free: the longest-waiting parked connection takes it */
}

void tcpack_worker_mark_dirty(struct tcpack_worker *w, struct tcpack_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = w->dirty;
	w->dirty = c->slot;
}

static struct tcpack_conn *next_dirty(struct tcpack_worker *w)
{
	struct tcpack_conn *c;

	if (w->dirty == TCPACK_NO_SLOT)
		return NULL;
	c = &w->conns[w->dirty];
	w->dirty = c->next_dirty;
	c->dirty = false;
	return c;
}

void tcpack_worker_defer(struct tcpack_worker *w, struct tcpack_conn *c)
{
	if (c->deferred)
		return;
	c->deferred = true;
	w->deferred[w->ndeferred++] = c->slot;
}

/* After a wait: the deferred connections take their turn in this batch. */
static void undefer_all(struct tcpack_worker *w)
{
	for (uint32_t i = 0; i < w->ndeferred; i++) {
		struct tcpack_conn *c = &w->conns[w->deferred[i]];

		c->deferred = false;
		tcpack_worker_mark_dirty(w, c);
	}
	w->ndeferred = 0;
}

void tcpack_worker_received(struct tcpack_worker *w, struct tcpack_conn *c)
{
	/* A lingering connection's time runs from its shutdown, whatever it sends. */
	if (c->phase != TCPACK_CONN_LINGER)
		tcpack_worker_arm_timer(w, c);
}

void tcpack_worker_arm_timer(struct tcpack_worker *w, struct tcpack_conn *c)
{
	uint64_t at = tcpack_conn_deadline(c);

	/* Rounded up to the wheel's next second: never early, at most 1 s late. */
	if (at)
		tcpack_timer_arm(&w->wheel, &c->timer, wheel_tick(at + 999));
	else
		tcpack_timer_disarm(&c->timer);
}

static void expire(struct tcpack_timer *t, void *arg)
{
	struct tcpack_worker *w = arg;
	struct tcpack_conn *c = (struct tcpack_conn *)((char *)t - offsetof(struct tcpack_conn, timer));

	if (tcpack_conn_timeout(c))
		tcpack_worker_mark_dirty(w, c);
	else
		tcpack_worker_arm_timer(w, c);	/* moved on since it was armed */
}

void tcpack_worker_publish(struct tcpack_worker *w)
{
	atomic_store_explicit(&w->ctl->heartbeat_ms, w->now_ms, memory_order_relaxed);
}

void tcpack_worker_tick(struct tcpack_worker *w)
{
	tcpack_timer_wheel_advance(&w->wheel, wheel_tick(w->now_ms), expire, w);
	tcpack_worker_publish(w);
	if (w->id == 0)
		tcpack_log_flush_suppressed();
}

unsigned long tcpack_worker_shared_room(const struct tcpack_worker *w)
{
	const struct tcpack_shared *s = w->shared;
	unsigned long conns = atomic_load(&s->conns), max = atomic_load(&s->max_conns);

	return conns < max ? max - conns : 0;
}

unsigned int tcpack_worker_room(const struct tcpack_worker *w)
{
	unsigned long room = tcpack_worker_shared_room(w);

	return room < w->nfree ? (unsigned int)room : w->nfree;
}

bool tcpack_worker_may_accept(struct tcpack_worker *w)
{
	struct tcpack_shared *s = w->shared;
	bool full = tcpack_worker_room(w) == 0;

	if (full != w->at_limit) {
		bool was = !full;

		w->at_limit = full;
		/* One line per transition, from whichever worker saw it first. */
		if (atomic_compare_exchange_strong(&s->at_limit, &was, full)) {
			if (full)
				tcpack_stat_add(&w->stats.accept_pauses, 1);
			if (full)
				tcpack_logf(LOG_WARNING, "max-connections (%lu) reached: not accepting until a connection closes",
					    atomic_load(&s->max_conns));
			else
				tcpack_logf(LOG_NOTICE, "below max-connections again: accepting");
		}
	}
	return !w->stopping && !full && w->now_ms >= w->accept_retry_ms;
}

/*
 * The supervisor's commands: reload takes the new configuration, drain
 * marks every connection, force sets w->forced (the caller closes every
 * connection). Return: the TCPACK_CTL_* bits that were set.
 */
static unsigned int control(struct tcpack_worker *w)
{
	unsigned int cmd = atomic_exchange(&w->ctl->cmd, 0);

	if (cmd & TCPACK_CTL_RELOAD)
		take_reload(w);
	if ((cmd & TCPACK_CTL_DRAIN) && !w->drained) {
		w->drained = true;
		w->stopping = true;	/* parked connections are still served */
		for (uint32_t i = 0; i < w->nslots; i++) {
			struct tcpack_conn *c = &w->conns[i];

			if (c->stats && c->phase != TCPACK_CONN_CLOSED) {
				tcpack_conn_drain(c);
				tcpack_worker_arm_timer(w, c);	/* line mode: its drain deadline */
				tcpack_worker_mark_dirty(w, c);
			}
		}
	}
	if (cmd & TCPACK_CTL_FORCE) {
		w->stopping = true;
		w->forced = true;
		close_parked(w);
	}
	return cmd;
}

void tcpack_worker_control_seen(struct tcpack_worker *w)
{
	w->ctl_pending = true;
	if (atomic_load(&w->ctl->cmd) & (TCPACK_CTL_DRAIN | TCPACK_CTL_FORCE))
		w->stopping = true;	/* no more accepts are armed after this batch */
}

/*
 * Carry out the connection's decisions until it waits for I/O.
 * Return: false once it is being closed.
 */
static bool decide(struct tcpack_worker *w, struct tcpack_conn *c)
{
	const struct tcpack_engine *e = w->engine;

	for (;;) {
		switch (tcpack_conn_next(c)) {
		case TCPACK_CONN_NEXT_CLOSE:
			e->close(w->engine_data, c);
			return false;
		case TCPACK_CONN_NEXT_SEND_CLOSE:
			if (e->send_close)
				return e->send_close(w->engine_data, c);
			/* fall through */
		case TCPACK_CONN_NEXT_SEND:
			if (e->send(w->engine_data, c))
				continue;	/* sent already: maybe shut down or close now */
			return true;
		case TCPACK_CONN_NEXT_SHUTDOWN:
			/*
			 * shutdown(2) from here, by both engines: it never
			 * blocks on a TCP socket, while IORING_OP_SHUTDOWN
			 * always goes through an io-wq thread (two context
			 * switches per connection). A peer already gone
			 * (ENOTCONN) changes nothing: the receive sees its end.
			 */
			(void)shutdown(c->fd, SHUT_WR);
			tcpack_conn_shut(c);
			tcpack_worker_arm_timer(w, c);
			continue;	/* lingering: receive what is there */
		case TCPACK_CONN_NEXT_WAIT:
			return true;
		}
	}
}

/*
 * Passes of decide-then-receive per connection and batch. An engine whose
 * receives complete at once (epoll) may take input, answer it and take more
 * in one turn; past this many passes the connection waits for the next
 * batch, after the others.
 */
#define FLUSH_PASSES 4

static void flush_conn(struct tcpack_worker *w, struct tcpack_conn *c)
{
	if (c->phase == TCPACK_CONN_CLOSED)
		return;		/* the engine finishes closing it */
	for (unsigned int pass = 0;; pass++) {
		if (!decide(w, c))
			return;
		if (pass == FLUSH_PASSES) {
			tcpack_worker_defer(w, c);
			return;
		}
		if (!w->engine->receive(w->engine_data, c))
			return;
	}
}

static void flush_dirty(struct tcpack_worker *w)
{
	struct tcpack_conn *c;

	while ((c = next_dirty(w)))
		flush_conn(w, c);
}

/*
 * Forced: every connection closes now. Through the flush that follows, not
 * here: a connection may sit on the dirty list, and freeing its slot now
 * would cut the list.
 */
static void abort_all(struct tcpack_worker *w)
{
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct tcpack_conn *c = &w->conns[i];

		if (c->stats && c->phase != TCPACK_CONN_CLOSED) {
			tcpack_conn_abort(c);
			tcpack_worker_mark_dirty(w, c);
		}
	}
}

/* Stopping workers wait for the others' accepts and handoffs: wake them when those end. */
static void wake_others(struct tcpack_worker *w)
{
	for (unsigned int i = 0; i < w->shared->n_workers; i++)
		if (&w->shared->ctls[i] != w->ctl)
			wake(&w->shared->ctls[i], 0);
}

void tcpack_worker_handoff_done(struct tcpack_worker *w)
{
	if (atomic_fetch_sub(&w->shared->handoffs, 1) == 1 && w->stopping)
		wake_others(w);
}

/* Whether an accept of any worker may still deliver a connection. */
static bool accepts_anywhere(const struct tcpack_shared *s)
{
	for (unsigned int i = 0; i < s->n_workers; i++)
		if (atomic_load(&s->ctls[i].accepts_in_flight))
			return true;
	return false;
}

void tcpack_worker_end_batch(struct tcpack_worker *w)
{
	bool was = atomic_load(&w->ctl->accepts_in_flight), now;

	undefer_all(w);
	flush_dirty(w);
	if (w->ctl_pending) {
		unsigned int cmd = control(w);

		w->ctl_pending = false;
		if (cmd & TCPACK_CTL_FORCE)
			abort_all(w);
		if (cmd & TCPACK_CTL_ACCEPT)
			unpark(w);
		flush_dirty(w);
	}
	now = w->engine->accepting(w->engine_data, tcpack_worker_may_accept(w));
	atomic_store(&w->ctl->accepts_in_flight, now);
	if (was && !now && w->stopping)
		wake_others(w);
	tcpack_worker_publish(w);
	/*
	 * Stopping: done once every connection it has, or may still be given,
	 * is served. Draining, that includes the connections parked at the
	 * limit, and those any worker's accepts in flight may still take and
	 * hand over (an accept completes, then its handoff is counted, then
	 * the accepting worker says it has none left; read in the opposite
	 * order here); forced, only what is open.
	 */
	if (w->stopping && tcpack_stat_get(&w->stats.conns_now) == 0 &&
	    (w->forced || (!w->nparked && !accepts_anywhere(w->shared) &&
			   atomic_load(&w->shared->handoffs) == 0)))
		w->done = true;
}
