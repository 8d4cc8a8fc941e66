/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What every engine's worker shares, whatever drives its I/O: the table of
 * connection slots, the configuration its new connections get, counters,
 * the timer wheel, and the control channel from the supervisor (drain,
 * force, reload) — so the io_uring and epoll engines differ only in how
 * they move bytes.
 *
 * Threading: a worker and everything in it belongs to one thread. The
 * supervisor talks to it only through struct tcpack_worker_ctl.
 */

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
 * beyond this many per worker they are closed. Only a few ever do: the
 * io_uring engine arms an accept only while a slot is free (workers racing
 * for the last slots can overshoot by 8 per listening socket each), the
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

/* Written by one side, read by the other; see each member. */
struct tcpack_worker_ctl {
	int efd;				/* eventfd: supervisor → worker wake-up */
	_Atomic unsigned int cmd;		/* TCPACK_CTL_* bits, set by supervisor */
	struct tcpack_cfg_ref *_Atomic next_cfg;	/* handed over with RELOAD */

	/* worker → supervisor */
	_Atomic uint64_t heartbeat_ms;		/* the worker's loop ran then */
	_Atomic uint64_t snap[6];		/* struct tcpack_stats, published each tick */
	_Atomic int state;			/* 0 starting, 1 serving, -errno failed, 2 done */
};

/* What all workers share: read-only after start, but for the counter. */
struct tcpack_shared {
	const struct tcpack_listeners *listeners;
	unsigned int max_slots;			/* per worker */
	uint64_t tick_ms;			/* period of every worker's tick */
	_Atomic unsigned long conns;		/* all workers' connections */
	_Atomic unsigned long max_conns;	/* max-connections now in force */
	_Atomic bool at_limit;			/* as last logged */
	struct tcpack_worker_ctl *ctls;		/* every worker's, to wake them */
	unsigned int n_workers;
	int done_efd;				/* eventfd: worker → supervisor */
};

struct tcpack_worker {
	unsigned int id;
	struct tcpack_shared *shared;
	struct tcpack_worker_ctl *ctl;
	const struct tcpack_config *cfg;	/* for new connections */

	struct tcpack_conn *conns;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t dirty;				/* head of the dirty list */

	struct tcpack_timer_wheel wheel;
	uint64_t now_ms;
	struct tcpack_stats stats;
	_Static_assert(sizeof(struct tcpack_stats) == 6 * sizeof(uint64_t), "snap[] mirrors stats");

	int parked[TCPACK_PARKED_MAX];
	unsigned int parked_head, nparked;

	bool at_limit;
	uint64_t accept_retry_ms;		/* backing off after EMFILE & co */
	bool stopping, drained, forced, done;
};

uint64_t tcpack_worker_now_ms(void);

/**
 * tcpack_worker_init() - slots for up to @shared->max_slots connections and
 * a private copy of @cfg. Return: 0 or -ENOMEM (with @err).
 */
int tcpack_worker_init(struct tcpack_worker *w, unsigned int id, struct tcpack_shared *shared,
		       struct tcpack_worker_ctl *ctl, const struct tcpack_config *cfg, char *err);

/**
 * tcpack_worker_deinit() - free every slot (connections still open are
 * deinitialised, not closed: the engine closes fds) and the configuration.
 * Safe on a zeroed or half-initialised worker.
 */
void tcpack_worker_deinit(struct tcpack_worker *w);

/**
 * tcpack_worker_conn_new() - a slot for a freshly accepted @fd, or NULL when
 * over max-connections or stopping (the caller closes @fd then).
 */
struct tcpack_conn *tcpack_worker_conn_new(struct tcpack_worker *w, int fd);

/**
 * tcpack_worker_park() - keep @fd, accepted while over max-connections,
 * until tcpack_worker_unpark() hands it out; closes it when stopping or
 * when TCPACK_PARKED_MAX already wait.
 */
void tcpack_worker_park(struct tcpack_worker *w, int fd);

/** tcpack_worker_unpark() - the longest-waiting parked fd if a slot is free now, else -1. */
int tcpack_worker_unpark(struct tcpack_worker *w);

/** tcpack_worker_conn_free() - release a slot once nothing refers to it. */
void tcpack_worker_conn_free(struct tcpack_worker *w, struct tcpack_conn *c);

void tcpack_worker_mark_dirty(struct tcpack_worker *w, struct tcpack_conn *c);

/** tcpack_worker_next_dirty() - pop one dirty connection, NULL when none. */
struct tcpack_conn *tcpack_worker_next_dirty(struct tcpack_worker *w);

/** tcpack_worker_arm_timer() - (re)arm @c's idle or linger timer from now. */
void tcpack_worker_arm_timer(struct tcpack_worker *w, struct tcpack_conn *c);

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
 * tcpack_worker_may_accept() - whether accepts should be armed now; logs
 * reaching and leaving max-connections once per transition.
 */
bool tcpack_worker_may_accept(struct tcpack_worker *w);

/**
 * tcpack_worker_control() - act on the supervisor's commands: reload takes
 * the new configuration, drain marks every connection, force returns true
 * so the engine closes every connection. Sets w->stopping.
 *
 * Return: TCPACK_CTL_* bits that the engine must act on (FORCE, DRAIN).
 */
unsigned int tcpack_worker_control(struct tcpack_worker *w);

/**
 * tcpack_worker_control_seen() - the control eventfd fired: stop accepting
 * at once if a drain is asked for. The rest waits for
 * tcpack_worker_control() after the batch's I/O.
 */
void tcpack_worker_control_seen(struct tcpack_worker *w);

/** tcpack_worker_finished() - stopping and no connection left: the engine may return. */
bool tcpack_worker_finished(struct tcpack_worker *w);

/** tcpack_worker_publish() - copy counters to ctl for the supervisor. */
void tcpack_worker_publish(struct tcpack_worker *w);

/* Engines: run one worker until it finished draining. */
struct tcpack_engine {
	const char *name;
	/* Set up; -ENOSYS/-EPERM when the kernel refuses the engine. */
	int (*setup)(struct tcpack_worker *w, void **ret, char *err);
	/* Serve: arm accepts, set ctl->state to 1, loop. Return: 0 or -errno. */
	int (*run)(void *engine);
	void (*free)(void *engine);
};

extern const struct tcpack_engine tcpack_engine_uring;
extern const struct tcpack_engine tcpack_engine_epoll;
