// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "tcpack-build.h"
#include "tcpack/log.h"
#include "tcpack/server.h"
#include "tcpack/worker.h"

#define STATUS_EVERY_MS 2000u
#define TRIM_STEP (4u << 20)	/* freed heap growth that makes the RSS worth trimming */

struct thread {
	pthread_t tid;
	unsigned int id;
	bool started;
	struct tcpack_worker w;
	const struct tcpack_engine *engine;
	const struct tcpack_config *cfg;
	struct tcpack_shared *shared;
	char err[TCPACK_ERR_MAX];
};

struct server {
	struct tcpack_shared shared;
	struct thread *threads;
	unsigned int n;
	const struct tcpack_engine *engine;
	struct tcpack_config cur;		/* what new connections get */
	tcpack_reload_fn reload;
	void *reload_userdata;

	int sigfd, tfd;
	uint64_t now_ms, last_status_ms, deadline_ms;
	struct tcpack_stats last_status;
	uint64_t watchdog_usec;
	size_t trimmed_free;		/* free heap bytes at the last trim */
	bool stopping, forced;
};

unsigned int tcpack_server_cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return (unsigned int)CPU_COUNT(&set) ?: 1;
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	void *engine = NULL;
	int r;

	r = tcpack_worker_init(&t->w, t->id, t->shared, &t->shared->ctls[t->id], t->cfg, t->err);
	if (r >= 0)
		r = t->engine->setup(&t->w, &engine, t->err);
	if (r >= 0) {
		t->w.engine = t->engine;
		t->w.engine_data = engine;
		r = t->engine->run(engine);
		if (r < 0)
			snprintf(t->err, sizeof(t->err), "%s engine failed: %s", t->engine->name,
				 strerror(-r));
	}
	if (engine)
		t->engine->free(engine);
	tcpack_worker_publish(&t->w);
	tcpack_worker_deinit(&t->w);
	tcpack_worker_set_state(&t->w, r < 0 ? r : TCPACK_WORKER_DONE);
	return NULL;
}

static void command_all(struct server *s, unsigned int cmd)
{
	uint64_t one = 1;

	for (unsigned int i = 0; i < s->n; i++) {
		atomic_fetch_or(&s->shared.ctls[i].cmd, cmd);
		(void)!write(s->shared.ctls[i].efd, &one, sizeof(one));
	}
}

static void sum_stats(struct server *s, struct tcpack_stats *sum)
{
	uint64_t *v = (uint64_t *)sum;

	memset(sum, 0, sizeof(*sum));
	for (unsigned int i = 0; i < s->n; i++)
		for (unsigned int k = 0; k < 6; k++)
			v[k] += atomic_load_explicit(&s->shared.ctls[i].snap[k], memory_order_relaxed);
}

static void notify_status(struct server *s)
{
	struct tcpack_stats st;

	sum_stats(s, &st);
	s->last_status = st;
	s->last_status_ms = s->now_ms;
	sd_notifyf(0, "STATUS=%s%" PRIu64 " connections (%" PRIu64 " total), %" PRIu64
		   " messages, %" PRIu64 " bytes in, %" PRIu64 " bytes out, %" PRIu64 " errors",
		   s->stopping ? "stopping: " : "", st.conns_now, st.conns_total, st.messages,
		   st.bytes_in, st.bytes_out, st.errors);
}

/* Every worker's loop ran within the last watchdog half-period. */
static bool workers_alive(struct server *s)
{
	uint64_t limit = s->watchdog_usec / 2000;

	for (unsigned int i = 0; i < s->n; i++) {
		uint64_t hb = atomic_load_explicit(&s->shared.ctls[i].heartbeat_ms,
						   memory_order_relaxed);

		if (atomic_load(&s->shared.ctls[i].state) == TCPACK_WORKER_SERVING &&
		    s->now_ms > hb + limit + 1000)
			return false;
	}
	return true;
}

static unsigned int workers_in(struct server *s, enum tcpack_worker_state state)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < s->n; i++)
		n += atomic_load(&s->shared.ctls[i].state) == (int)state;
	return n;
}

static int first_failure(struct server *s, char *err)
{
	for (unsigned int i = 0; i < s->n; i++) {
		int st = atomic_load(&s->shared.ctls[i].state);

		if (st < 0) {
			snprintf(err, TCPACK_ERR_MAX, "worker %u: %s", i, s->threads[i].err);
			return st;
		}
	}
	return 0;
}

static void reload(struct server *s)
{
	struct tcpack_config *next;
	char err[TCPACK_ERR_MAX];
	int r;

	if (!s->reload) {
		tcpack_logf(LOG_NOTICE, "SIGHUP ignored: no way to reload configured");
		return;
	}
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%" PRIu64, s->now_ms * 1000);
	next = malloc(sizeof(*next));
	r = next ? s->reload(next, err, s->reload_userdata) : -ENOMEM;
	if (r == -ENOMEM && !next)
		snprintf(err, sizeof(err), "out of memory");
	if (r < 0) {
		tcpack_logf(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
	} else {
		tcpack_config_keep_fixed(next, &s->cur, s->shared.max_slots);
		s->cur = *next;
		atomic_store(&s->shared.max_conns, s->cur.max_connections);
		tcpack_log_setup(s->cur.log_level, s->cur.log_rate_limit);
		/* Each worker gets its own copy: they count references without atomics. */
		for (unsigned int i = 0; i < s->n; i++) {
			struct tcpack_cfg_ref *ref = malloc(sizeof(*ref));

			if (!ref)
				continue;
			ref->cfg = s->cur;
			ref->refs = 1;
			free(atomic_exchange(&s->shared.ctls[i].next_cfg, ref));
		}
		command_all(s, TCPACK_CTL_RELOAD | TCPACK_CTL_ACCEPT);
		tcpack_logf(LOG_NOTICE, "reloaded configuration%s%s: new connections use %s mode",
			    s->cur.config_path[0] ? " from " : "", s->cur.config_path,
			    tcpack_config_mode_name(s->cur.mode));
	}
	free(next);
	sd_notify(0, "READY=1");
	notify_status(s);
}

static void begin_stop(struct server *s)
{
	/* Exact, unlike the counters' snapshots, which trail by a loop pass. */
	unsigned long conns = atomic_load(&s->shared.conns);

	s->stopping = true;
	s->deadline_ms = s->now_ms + s->cur.shutdown_timeout_ms;
	sd_notify(0, "STOPPING=1");
	tcpack_logf(LOG_NOTICE, "stopping: draining %lu connections (at most %" PRIu64 " ms)",
		    conns, s->cur.shutdown_timeout_ms);
	notify_status(s);
	command_all(s, TCPACK_CTL_DRAIN | (s->cur.shutdown_timeout_ms ? 0 : TCPACK_CTL_FORCE));
}

static void force(struct server *s, const char *why)
{
	if (s->forced)
		return;
	s->forced = true;
	tcpack_logf(LOG_WARNING, "%s: closed %lu connections still owed replies", why,
		    atomic_load(&s->shared.conns));
	command_all(s, TCPACK_CTL_DRAIN | TCPACK_CTL_FORCE);
}

static void handle_signals(struct server *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!s->stopping) {
				begin_stop(s);
			} else if (!s->forced) {
				tcpack_logf(LOG_WARNING, "second %s: closing every connection now",
					    strsignal((int)si.ssi_signo));
				s->forced = true;
				command_all(s, TCPACK_CTL_DRAIN | TCPACK_CTL_FORCE);
			}
			break;
		case SIGHUP:
			if (!s->stopping)
				reload(s);
			break;
		default:
			break;
		}
	}
}

/*
 * Give the kernel back what the load left behind. glibc keeps memory the
 * workers freed in their arenas, so without this the RSS stays at its
 * peak after a burst of clients, and the peak is what a monitor sees. Once
 * a tick: when the free heap grew by TRIM_STEP since the last trim,
 * malloc_trim() releases its unused pages (all arenas, not only the top).
 */
static void trim_memory(struct server *s)
{
	struct mallinfo2 mi = mallinfo2();

	if (mi.fordblks < s->trimmed_free)
		s->trimmed_free = mi.fordblks;	/* reused since: measure from here */
	if (mi.fordblks >= s->trimmed_free + TRIM_STEP) {
		(void)malloc_trim(0);
		s->trimmed_free = mi.fordblks;
	}
}

static void handle_tick(struct server *s)
{
	uint64_t expirations;
	struct tcpack_stats st;

	(void)!read(s->tfd, &expirations, sizeof(expirations));
	if (s->watchdog_usec && workers_alive(s))
		sd_notify(0, "WATCHDOG=1");
	sum_stats(s, &st);
	if (s->now_ms - s->last_status_ms >= STATUS_EVERY_MS &&
	    memcmp(&st, &s->last_status, sizeof(st)) != 0)
		notify_status(s);
	if (s->stopping && s->now_ms >= s->deadline_ms)
		force(s, "shutdown timeout");
	trim_memory(s);
}

/* Supervise until every worker finished; -errno when one failed. */
static int supervise(struct server *s, char *err)
{
	struct pollfd pfd[3] = {
		{ .fd = s->sigfd, .events = POLLIN },
		{ .fd = s->tfd, .events = POLLIN },
		{ .fd = s->shared.done_efd, .events = POLLIN },
	};
	bool ready = false;
	int r;

	for (;;) {
		if (poll(pfd, 3, -1) < 0 && errno != EINTR)
			return -errno;
		s->now_ms = tcpack_worker_now_ms();
		if (pfd[2].revents) {
			uint64_t v;

			(void)!read(s->shared.done_efd, &v, sizeof(v));
		}
		r = first_failure(s, err);
		if (r < 0) {
			force(s, "a worker failed");
			return r;
		}
		if (!ready && workers_in(s, TCPACK_WORKER_SERVING) + workers_in(s, TCPACK_WORKER_DONE) == s->n) {
			ready = true;
			/* The last start-up line: every worker accepts now. */
			tcpack_logf(LOG_INFO, "tcpack %s serving in %s mode", TCPACK_VERSION,
				    tcpack_config_mode_name(s->cur.mode));
			notify_status(s);
			sd_notify(0, "READY=1");
		}
		if (workers_in(s, TCPACK_WORKER_DONE) == s->n)
			return 0;
		if (pfd[0].revents)
			handle_signals(s);
		if (pfd[1].revents)
			handle_tick(s);
	}
}

/* The engine asked for, or with "auto" io_uring, else epoll; each probed first. */
static int pick_engine(struct server *s, char *err)
{
	char why[TCPACK_ERR_MAX];
	int r;

	if (s->cur.engine != TCPACK_ENGINE_CHOICE_EPOLL) {
		r = tcpack_engine_uring.probe(why);
		if (r >= 0) {
			s->engine = &tcpack_engine_uring;
			return 0;
		}
		if (s->cur.engine != TCPACK_ENGINE_CHOICE_AUTO ||
		    (r != -ENOSYS && r != -EPERM && r != -EOPNOTSUPP)) {
			snprintf(err, TCPACK_ERR_MAX, "io_uring is not available: %s", why);
			return r;
		}
		tcpack_logf(LOG_WARNING, "io_uring is not available: %s; serving with the epoll engine", why);
	}
	r = tcpack_engine_epoll.probe(why);
	if (r < 0) {
		snprintf(err, TCPACK_ERR_MAX, "epoll is not available: %s", why);
		return r;
	}
	s->engine = &tcpack_engine_epoll;
	return 0;
}

int tcpack_server_run(const struct tcpack_config *cfg, const struct tcpack_listeners *listeners,
		      tcpack_reload_fn reload_fn, void *userdata, char *err)
{
	struct server s = { .sigfd = -1, .tfd = -1, .shared.done_efd = -1 };
	struct itimerspec its = { 0 };
	uint64_t tick_ms = 1000;
	sigset_t mask;
	int r = 0;

	s.cur = *cfg;
	s.reload = reload_fn;
	s.reload_userdata = userdata;
	s.n = cfg->threads ? cfg->threads : tcpack_server_cpu_count();
	if (s.n > TCPACK_THREADS_MAX)
		s.n = TCPACK_THREADS_MAX;

	r = pick_engine(&s, err);
	if (r < 0)
		return r;
	if (sd_watchdog_enabled(0, &s.watchdog_usec) > 0 && s.watchdog_usec / 2000 < tick_ms)
		tick_ms = s.watchdog_usec / 2000 ?: 1;

	s.shared.listeners = listeners;
	s.shared.max_slots = cfg->max_connections;
	s.shared.tick_ms = tick_ms;
	atomic_store(&s.shared.max_conns, cfg->max_connections);
	s.shared.n_workers = s.n;
	s.shared.ctls = calloc(s.n, sizeof(*s.shared.ctls));
	s.threads = calloc(s.n, sizeof(*s.threads));
	s.shared.done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	s.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	s.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!s.shared.ctls || !s.threads || s.shared.done_efd < 0 || s.sigfd < 0 || s.tfd < 0) {
		r = -errno ?: -ENOMEM;
		snprintf(err, TCPACK_ERR_MAX, "setting up the supervisor: %s", strerror(-r));
		goto out;
	}
	its.it_interval.tv_sec = (time_t)(tick_ms / 1000);
	its.it_interval.tv_nsec = (long)(tick_ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	timerfd_settime(s.tfd, 0, &its, NULL);

	for (unsigned int i = 0; i < s.n; i++)
		s.shared.ctls[i].efd = -1;
	for (unsigned int i = 0; i < s.n; i++) {
		s.shared.ctls[i].efd = eventfd(0, EFD_CLOEXEC);
		if (s.shared.ctls[i].efd < 0) {
			r = -errno;
			snprintf(err, TCPACK_ERR_MAX, "eventfd: %s", strerror(-r));
			goto out;
		}
	}
	tcpack_logf(LOG_INFO, "serving with %u %s worker%s", s.n, s.engine->name, s.n == 1 ? "" : "s");
	for (unsigned int i = 0; i < s.n; i++) {
		struct thread *t = &s.threads[i];

		t->engine = s.engine;
		t->cfg = cfg;
		t->shared = &s.shared;
		t->id = i;
		r = -pthread_create(&t->tid, NULL, thread_main, t);
		if (r < 0) {
			snprintf(err, TCPACK_ERR_MAX, "starting worker %u: %s", i, strerror(-r));
			goto out;
		}
		t->started = true;
	}
	s.now_ms = tcpack_worker_now_ms();
	r = supervise(&s, err);
out:
	if (r < 0 && s.threads)
		command_all(&s, TCPACK_CTL_DRAIN | TCPACK_CTL_FORCE);
	for (unsigned int i = 0; s.threads && i < s.n; i++)
		if (s.threads[i].started)
			pthread_join(s.threads[i].tid, NULL);
	if (r >= 0 && s.shared.ctls) {
		s.now_ms = tcpack_worker_now_ms();
		notify_status(&s);
	}
	for (unsigned int i = 0; s.shared.ctls && i < s.n; i++) {
		if (s.shared.ctls[i].efd >= 0)
			close(s.shared.ctls[i].efd);
		free(atomic_load(&s.shared.ctls[i].next_cfg));
	}
	if (s.shared.done_efd >= 0)
		close(s.shared.done_efd);
	if (s.sigfd >= 0)
		close(s.sigfd);
	if (s.tfd >= 0)
		close(s.tfd);
	free(s.shared.ctls);
	free(s.threads);
	return r;
}
