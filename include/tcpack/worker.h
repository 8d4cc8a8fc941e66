/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What every engine's worker shares, whatever drives its I/O: the table of
 * connection slots, the configuration its new connections get, counters,
 * the timer wheel, the control channel from the supervisor (drain, force,
 * reload), and the connection policy: after each batch of I/O,
 * tcpack_worker_end_batch() asks every connection that changed what it
 * needs next (tcpack_conn_next()) and has the engine do it through the
 * operations of struct tcpack_engine. So the io_uring and epoll engines
 * differ only in how they move bytes.
 *
 * Threading: a worker and everything in it belongs to one thread. The
 * supervisor talks to it only through struct tcpack_worker_ctl.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tcpack/config.h"
#include "tcpack/conn.h"
#include "tcpack/listen.h"
#include "tcpack/timer.h"

#define TCPACK_NO_SLOT UINT32_MAX

/*
 * Connections accepted past max-connections wait here for a slot, in order;
 * beyond this many per worker they are closed. Only a few ever do: near the
 * limit the io_uring engine arms single-shot accepts only while a slot is
 * free (workers racing for the last slots can overshoot by 8 per listening
 * socket each, plus connections handed over and not yet arrived), the
 * epoll engine stops at the limit within one batch of accepts.
 */
#define TCPACK_PARKED_MAX 256u

/*
 * A worker's own copy of a configuration, shared by the connections that
 * started under it; freed when the last of them and the worker let go.
 * Counted without atomics: only its worker touches it.
 */
struct tcpack_cfg_ref {
	struct tcpack_config cfg;	/* first: conn->cfg points here */
	unsigned long refs;
};

enum {
	TCPACK_CTL_DRAIN = 1u << 0,	/* stop accepting, finish, exit */
	TCPACK_CTL_FORCE = 1u << 1,	/* close everything now */
	TCPACK_CTL_RELOAD = 1u << 2,	/* take ctl->next_cfg */
	TCPACK_CTL_ACCEPT = 1u << 3,	/* below max-connections again: accept */
};

/* A worker's life, as the supervisor sees it in ctl->state. */
enum tcpack_worker_state {
	TCPACK_WORKER_STARTING = 0,
	TCPACK_WORKER_SERVING = 1,	/* accepts armed */
	TCPACK_WORKER_DONE = 2,		/* drained and returned */
	/* a negative errno: failed */
};

/* Written by one side, read by the other; see each member. */
struct tcpack_worker_ctl {
	int efd;				/* eventfd: supervisor → worker wake-up */
	_Atomic unsigned int cmd;		/* TCPACK_CTL_* bits, set by supervisor */
	struct tcpack_cfg_ref *_Atomic next_cfg;	/* handed over with RELOAD */

	/* worker → supervisor and the other workers */
	_Atomic unsigned long conns_now;	/* connections this worker serves */
	_Atomic uint64_t heartbeat_ms;		/* the worker's loop ran then */
	_Atomic int state;			/* enum tcpack_worker_state, or -errno */
	_Atomic bool accepts_in_flight;		/* as accepting() said: one may still deliver */
	/* the worker adds, the supervisor takes them for its summary line */
	pthread_mutex_t checks_lock;
	struct tcpack_check_sources checks;
};

/* What all workers share: read-only after start, but for the counter. */
struct tcpack_shared {
	const struct tcpack_listeners *listeners;
	unsigned int max_slots;			/* per worker */
	uint64_t tick_ms;			/* period of every worker's tick */
	_Atomic unsigned long conns;		/* all workers' connections */
	_Atomic unsigned long max_conns;	/* max-connections now in force */
	_Atomic bool at_limit;			/* as last logged */
	_Atomic unsigned long handoffs;		/* connections on their way between workers */
	_Atomic unsigned int features;		/* TCPACK_FEATURE_* the engine found (metrics.h) */
	struct tcpack_worker_ctl *ctls;		/* every worker's, to wake them */
	unsigned int n_workers;
	int done_efd;				/* eventfd: a worker's state changed */
};

struct tcpack_engine;

struct tcpack_worker {
	unsigned int id;
	struct tcpack_shared *shared;
	struct tcpack_worker_ctl *ctl;
	const struct tcpack_config *cfg;	/* for new connections */
	const struct tcpack_engine *engine;	/* set before it runs */
	void *engine_data;

	struct tcpack_conn *conns;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t dirty;				/* head of the dirty list */
	uint32_t *deferred;			/* slots to look at after the next wait */
	uint32_t ndeferred;

	struct tcpack_timer_wheel wheel;
	uint64_t now_ms, now_us;		/* tcpack_worker_clock(), once per batch */
	struct tcpack_stats stats;		/* read by the supervisor at any time */

	struct tcpack_parked {
		int fd;
		unsigned int listener;
	} parked[TCPACK_PARKED_MAX];
	unsigned int parked_head, nparked;

	bool at_limit;
	uint64_t accept_retry_ms;		/* backing off after EMFILE & co */
	bool ctl_pending;			/* commands wait: act after this batch */
	bool stopping, drained, forced, done;
};

/* Engines: run one worker until it finished draining. */
struct tcpack_engine {
	const char *name;
	/*
	 * Can this process serve with the engine at all? Asked once, before
	 * any worker starts, of what the kernel does (never of its version).
	 * Return: 0, or -ENOSYS/-EPERM (refused) or -EOPNOTSUPP (too old) with
	 * the reason in @err; other -errno for other failures.
	 */
	int (*probe)(char *err);
	/* Set up; -ENOSYS/-EPERM when the kernel refuses the engine. */
	int (*setup)(struct tcpack_worker *w, void **ret, char *err);
	/*
	 * Serve: arm accepts, tcpack_worker_set_state(SERVING), wait
	 * for I/O and hand it to the worker and its connections, call
	 * tcpack_worker_end_batch() after each batch, until w->done.
	 * Return: 0 or -errno.
	 */
	int (*run)(void *engine);
	void (*free)(void *engine);

	/* What the worker's policy asks of the engine, for one connection. */
	/*
	 * A new connection took a slot: start watching it (NULL: nothing to
	 * do). Return: 0 or -errno.
	 */
	int (*attach)(void *engine, struct tcpack_conn *c);
	/*
	 * Send what it owes (tcpack_conn_output(), or its lent bytes);
	 * nothing while a send of it is in flight. Return: true when the send
	 * finished already (all of it went, or it failed), so the worker may
	 * decide again at once; false when it completes later.
	 */
	bool (*send)(void *engine, struct tcpack_conn *c);
	/*
	 * Receive as tcpack_conn_wants_input() says (arm, cancel, or read).
	 * Return: true when input (or the peer's end, or an error) reached
	 * the connection now, so the worker decides again; false when
	 * receiving completes later.
	 */
	bool (*receive)(void *engine, struct tcpack_conn *c);
	/*
	 * Close it: tcpack_conn_closing(), then, once no operation of the
	 * engine refers to it any more, tcpack_worker_conn_closed().
	 */
	void (*close)(void *engine, struct tcpack_conn *c);
	/*
	 * Send all of tcpack_conn_output() and close right behind it, as one
	 * step the engine cannot reorder: then tcpack_conn_send_closing(),
	 * and tcpack_worker_conn_closed() as for close(). Return: false once
	 * it did; true when it cannot now (an operation of the connection in
	 * flight) and started a plain send that completes later instead.
	 * NULL: the worker sends as for SEND (an engine that never reports
	 * tcpack_conn_none_unread() is never asked).
	 */
	bool (*send_close)(void *engine, struct tcpack_conn *c);
	/*
	 * Accept new connections, or stop accepting, as @want says. Return:
	 * whether an accept submitted earlier may still deliver a connection
	 * (stopping, the worker waits for it: its client is served).
	 */
	bool (*accepting)(void *engine, bool want);
};

extern const struct tcpack_engine tcpack_engine_uring;
extern const struct tcpack_engine tcpack_engine_epoll;

uint64_t tcpack_worker_now_ms(void);

/** tcpack_worker_clock() - read the clock into w->now_ms and w->now_us. */
void tcpack_worker_clock(struct tcpack_worker *w);

/**
 * tcpack_worker_init() - slots for up to @shared->max_slots connections and
 * a private copy of @cfg. Return: 0 or -ENOMEM (with @err).
 */
int tcpack_worker_init(struct tcpack_worker *w, unsigned int id, struct tcpack_shared *shared,
		       struct tcpack_worker_ctl *ctl, const struct tcpack_config *cfg, char *err);

/**
 * tcpack_worker_deinit() - after the engine is freed: close the fds of
 * connections still open (no goodbye: the engine is gone), free every slot,
 * the parked connections and the configuration. Safe on a zeroed or
 * half-initialised worker.
 */
void tcpack_worker_deinit(struct tcpack_worker *w);

/**
 * tcpack_worker_handoff_done() - a connection handed over between workers
 * (shared->handoffs, counted by the sender) arrived, or went back to its
 * sender: one fewer on its way. Stopping workers wait for none to be left.
 */
void tcpack_worker_handoff_done(struct tcpack_worker *w);

/**
 * tcpack_worker_set_state() - the worker's state becomes @state (enum
 * tcpack_worker_state, or -errno) and the supervisor is woken to see it:
 * TCPACK_WORKER_SERVING once the engine armed its accepts (READY=1 goes to
 * systemd when every worker serves), TCPACK_WORKER_DONE or the failure
 * when its thread ends.
 */
void tcpack_worker_set_state(struct tcpack_worker *w, int state);

/**
 * tcpack_worker_accepted() - the engine accepted @fd on listening socket
 * number @listener (its index in shared->listeners): it takes a slot (and
 * the engine's attach()), or, over max-connections, waits parked in order
 * until a slot frees; closed when stopping or when TCPACK_PARKED_MAX
 * already wait.
 */
void tcpack_worker_accepted(struct tcpack_worker *w, int fd, unsigned int listener);

/**
 * tcpack_worker_conn_closed() - the engine closed @c and nothing refers to
 * it any more: its slot is free, and goes to the longest-parked connection.
 */
void tcpack_worker_conn_closed(struct tcpack_worker *w, struct tcpack_conn *c);

/** tcpack_worker_mark_dirty() - look at @c after this batch. */
void tcpack_worker_mark_dirty(struct tcpack_worker *w, struct tcpack_conn *c);

/**
 * tcpack_worker_defer() - look at @c again after the next wait, not in this
 * batch: it has more input than one turn may take (fairness).
 */
void tcpack_worker_defer(struct tcpack_worker *w, struct tcpack_conn *c);

/** tcpack_worker_has_deferred() - the engine must not block in its next wait. */
static inline bool tcpack_worker_has_deferred(const struct tcpack_worker *w)
{
	return w->ndeferred != 0;
}

/** tcpack_worker_received() - input reached @c: its idle timer starts over. */
void tcpack_worker_received(struct tcpack_worker *w, struct tcpack_conn *c);

/** tcpack_worker_arm_timer() - (re)arm @c's idle or linger timer from now. */
void tcpack_worker_arm_timer(struct tcpack_worker *w, struct tcpack_conn *c);

/**
 * tcpack_worker_end_batch() - after each batch of I/O: every connection that
 * changed is looked at once (tcpack_conn_next(), the engine's send,
 * receive and close), then the supervisor's commands are acted on, accepts
 * armed or paused, counters published; w->done once drained.
 */
void tcpack_worker_end_batch(struct tcpack_worker *w);

/**
 * tcpack_worker_tick() - expire timers (connections marked dirty), publish
 * counters and the heartbeat.
 */
void tcpack_worker_tick(struct tcpack_worker *w);

/**
 * tcpack_worker_room() - connections this worker may still take: free
 * slots, and no more than max-connections leaves room for across workers.
 */
unsigned int tcpack_worker_room(const struct tcpack_worker *w);

/**
 * tcpack_worker_shared_room() - connections all workers together may still
 * take before max-connections.
 */
unsigned long tcpack_worker_shared_room(const struct tcpack_worker *w);

/**
 * tcpack_worker_may_accept() - whether accepts should be armed now; logs
 * reaching and leaving max-connections once per transition.
 */
bool tcpack_worker_may_accept(struct tcpack_worker *w);

/**
 * tcpack_worker_control_seen() - the control eventfd fired: stop accepting
 * at once if a drain is asked for. The commands themselves (reload, drain,
 * force, accept) are acted on by tcpack_worker_end_batch(), after the
 * batch's I/O, so input that completed in the same batch counts as
 * received before a drain.
 */
void tcpack_worker_control_seen(struct tcpack_worker *w);

/** tcpack_worker_publish() - the heartbeat: the worker's loop ran now. */
void tcpack_worker_publish(struct tcpack_worker *w);
