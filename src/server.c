// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "tcpack-build.h"
#include "tcpack/addr.h"
#include "tcpack/agent.h"
#include "tcpack/log.h"
#include "tcpack/metrics.h"
#include "tcpack/scrape.h"
#include "tcpack/server.h"
#include "tcpack/worker.h"

#define STATUS_EVERY_MS 2000u
#define TRIM_STEP (4u << 20)	/* freed heap growth that makes the RSS worth trimming */

/*
 * Agent checks answered and waiting for the balancer to close: their reply
 * is sent and writing shut down, and what the balancer sends (agent-send)
 * is read and dropped until it closes, so that the close never meets unread
 * bytes and resets the reply away. At most AGENT_OPEN_MAX at once, each for
 * at most AGENT_LINGER_MS.
 */
#define AGENT_OPEN_MAX 32u
#define AGENT_LINGER_MS 2000u
#define AGENT_ACCEPT_BATCH 16
/*
 * Stopping with an agent listener: once the agent has answered "drain",
 * this long for connections the balancer had begun to open before it
 * read the answer, then the stop proper.
 */
#define DRAIN_SETTLE_MS 250u
/* A serving worker whose loop has not run for this long is stuck. */
#define STUCK_MS 3000u

struct agent_conn {
	int fd;
	uint64_t until_ms;
};

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
	const int *agent_fds;			/* the agent listeners */
	unsigned int n_agent_fds;
	uint64_t agent_checks;			/* answered */
	struct tcpack_check_sources agent_sources;	/* since the last summary */
	uint64_t checks_logged_ms;		/* the last summary line */
	struct tcpack_scrape *scrape;		/* the metrics listener, or NULL */
	const char *engine_reason;
	double start_time;
	struct agent_conn agents[AGENT_OPEN_MAX];
	unsigned int n_agents;
	enum tcpack_admin_state admin_said;	/* as last logged */
	bool grace;				/* stopping: the agent says drain, serving goes on */
	uint64_t grace_end_ms, drain_told_ms;	/* drain_told_ms: 0 until the agent said drain */
	uint64_t now_ms, last_status_ms, deadline_ms;
	struct status {
		uint64_t conns_now, conns_total, messages, bytes_in, bytes_out, errors;
	} last_status;
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

/* Every worker's counters, summed: read live, without a lock. */
static void sum_stats(struct server *s, struct tcpack_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned int i = 0; i < s->n; i++)
		tcpack_stats_add_all(sum, &s->threads[i].w.stats);
}

static void get_status(struct server *s, struct status *ret)
{
	struct tcpack_stats st;

	sum_stats(s, &st);
	*ret = (struct status){
		.conns_now = tcpack_stat_get(&st.conns_now),
		.conns_total = tcpack_stat_get(&st.conns_total),
		.messages = tcpack_stat_sum(st.messages, TCPACK_MODES),
		.bytes_in = tcpack_stat_sum(st.bytes_in, TCPACK_MODES),
		.bytes_out = tcpack_stat_sum(st.bytes_out, TCPACK_MODES),
		.errors = tcpack_stat_sum(st.errors, TCPACK_ERR_KIND_MAX),
	};
}

static void notify_status(struct server *s)
{
	struct status st;

	get_status(s, &st);
	s->last_status = st;
	s->last_status_ms = s->now_ms;
	sd_notifyf(0, "STATUS=%s%" PRIu64 " connections (%" PRIu64 " total), %" PRIu64
		   " messages, %" PRIu64 " bytes in, %" PRIu64 " bytes out, %" PRIu64 " errors",
		   s->stopping ? "stopping: " : "", st.conns_now, st.conns_total, st.messages,
		   st.bytes_in, st.bytes_out, st.errors);
}

/* The first serving worker whose loop has not run for more than @ms, or -1. */
static int stalled_worker(struct server *s, uint64_t ms)
{
	for (unsigned int i = 0; i < s->n; i++) {
		uint64_t hb = atomic_load_explicit(&s->shared.ctls[i].heartbeat_ms,
						   memory_order_relaxed);

		if (atomic_load(&s->shared.ctls[i].state) == TCPACK_WORKER_SERVING &&
		    s->now_ms > hb + ms)
			return (int)i;
	}
	return -1;
}

/* Every worker's loop ran within the last watchdog half-period. */
static bool workers_alive(struct server *s)
{
	return stalled_worker(s, s->watchdog_usec / 2000 + 1000) < 0;
}

/* A serving worker whose loop stopped running, or -1. */
static int stuck_worker(struct server *s)
{
	return stalled_worker(s, STUCK_MS + s->shared.tick_ms);
}

static void agent_close(struct server *s, unsigned int i)
{
	close(s->agents[i].fd);
	s->agents[i] = s->agents[--s->n_agents];
}

/* Answer every agent check waiting in the listener's queue. */
static void agent_accept(struct server *s, int agent_fd)
{
	struct tcpack_agent_state st = {
		.admin = s->cur.admin_state,
		.stopping = s->stopping || s->grace,
		.conns = atomic_load(&s->shared.conns),
		.max_conns = atomic_load(&s->shared.max_conns),
		.stuck_worker = stuck_worker(s),
	};
	char reply[TCPACK_AGENT_REPLY_MAX];
	size_t len = tcpack_agent_reply(&st, reply);

	for (int k = 0; k < AGENT_ACCEPT_BATCH; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char addr[TCPACK_ADDR_STRLEN];
		int fd = accept4(agent_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		/* A fresh socket's send buffer takes a line at once. */
		if (send(fd, reply, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) {
			close(fd);
			continue;
		}
		if (!tcpack_agent_drains(&st))
			s->drain_told_ms = 0;	/* the balancer heard otherwise since */
		else if (!s->drain_told_ms)
			s->drain_told_ms = s->now_ms ?: 1;
		s->agent_checks++;
		tcpack_check_sources_add(&s->agent_sources, (struct sockaddr *)&ss, TCPACK_CHECK_AGENT, 1);
		if (tcpack_log_enabled(LOG_DEBUG))
			tcpack_logf(LOG_DEBUG, "agent check from %s: %.*s",
				    tcpack_addr_format((struct sockaddr *)&ss, addr), (int)len - 1, reply);
		/* The balancer reads the line and may reset at once: then there is nothing to wait for. */
		if (shutdown(fd, SHUT_WR) < 0) {
			close(fd);
			continue;
		}
		if (s->n_agents == AGENT_OPEN_MAX)
			agent_close(s, 0);	/* the oldest: it had its answer */
		s->agents[s->n_agents++] = (struct agent_conn){ fd, s->now_ms + AGENT_LINGER_MS };
	}
}

/* Drop what an answered agent connection sends; close it at its end or time. */
static void agent_read(struct server *s, unsigned int i)
{
	char scratch[512];
	ssize_t n;

	while ((n = recv(s->agents[i].fd, scratch, sizeof(scratch), MSG_DONTWAIT)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || s->now_ms >= s->agents[i].until_ms)
		agent_close(s, i);
}

static const char *engine_name(struct server *s)
{
	return s->engine == &tcpack_engine_uring ? "io_uring" : "epoll";
}

/* A scrape: every worker's counters read live and summed, no lock taken. */
static char *render_metrics(void *userdata, size_t *ret_len)
{
	struct server *s = userdata;
	struct tcpack_stats sum;
	uint64_t conns[TCPACK_THREADS_MAX];
	struct tcpack_metrics_view v = {
		.sum = &sum,
		.worker_conns = conns,
		.n_workers = s->n,
		.version = TCPACK_VERSION,
		.engine = engine_name(s),
		.engine_reason = s->engine_reason,
		.features = atomic_load(&s->shared.features),
		.max_conns = atomic_load(&s->shared.max_conns),
		.admin = s->cur.admin_state,
		.stopping = s->stopping || s->grace,
		.agent_checks = s->agent_checks,
		.log_suppressed = tcpack_log_suppressed_total(),
		.start_time = s->start_time,
	};

	sum_stats(s, &sum);
	for (unsigned int i = 0; i < s->n; i++)
		conns[i] = tcpack_stat_get(&s->threads[i].w.stats.conns_now);
	return tcpack_metrics_render(&v, ret_len);
}

static const char *const check_kind_name[TCPACK_CHECK_KIND_MAX] = {
	[TCPACK_CHECK_SILENT] = "silent", [TCPACK_CHECK_RESET] = "reset",
	[TCPACK_CHECK_PROXY_LOCAL] = "proxy_local", [TCPACK_CHECK_AGENT] = "agent",
};

/* Append to @buf (@size bytes, @len used); what does not fit is cut. */
__attribute__((format(printf, 4, 5)))
static void appendf(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= size - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = *len + (size_t)n < size - 1 ? *len + (size_t)n : size - 1;
}

/*
 * One line for the health checks of the last check-log-interval, by
 * source: they are counted (metrics), and each is logged at debug level
 * only, so a balancer checking every second is not most of the log.
 */
static void log_checks(struct server *s)
{
	struct tcpack_check_sources all = { 0 };
	char line[1536] = "";
	size_t len = 0;
	uint64_t total = 0;

	for (unsigned int i = 0; i < s->n; i++) {
		struct tcpack_worker_ctl *ctl = &s->shared.ctls[i];

		pthread_mutex_lock(&ctl->checks_lock);
		for (unsigned int k = 0; k < ctl->checks.len; k++)
			for (unsigned int kind = 0; kind < TCPACK_CHECK_KIND_MAX; kind++)
				tcpack_check_sources_add(&all, (struct sockaddr *)&ctl->checks.src[k].addr, kind,
							 ctl->checks.src[k].n[kind]);
		all.other += ctl->checks.other;
		memset(&ctl->checks, 0, sizeof(ctl->checks));
		pthread_mutex_unlock(&ctl->checks_lock);
	}
	for (unsigned int k = 0; k < s->agent_sources.len; k++)
		tcpack_check_sources_add(&all, (struct sockaddr *)&s->agent_sources.src[k].addr,
					 TCPACK_CHECK_AGENT, s->agent_sources.src[k].n[TCPACK_CHECK_AGENT]);
	all.other += s->agent_sources.other;
	memset(&s->agent_sources, 0, sizeof(s->agent_sources));

	for (unsigned int k = 0; k < all.len; k++) {
		char addr[TCPACK_ADDR_STRLEN], *colon;
		const char *sep = " (";
		uint64_t n = 0;

		for (unsigned int kind = 0; kind < TCPACK_CHECK_KIND_MAX; kind++)
			n += all.src[k].n[kind];
		total += n;
		tcpack_addr_format((struct sockaddr *)&all.src[k].addr, addr);
		colon = strrchr(addr, ':');	/* the port, zeroed: not shown */
		if (colon && all.src[k].addr.ss_family != AF_UNSPEC)
			*colon = '\0';
		appendf(line, sizeof(line), &len, "%s%s %" PRIu64, k ? "; " : "", addr, n);
		for (unsigned int kind = 0; kind < TCPACK_CHECK_KIND_MAX; kind++) {
			if (!all.src[k].n[kind])
				continue;
			appendf(line, sizeof(line), &len, "%s%s %" PRIu64, sep, check_kind_name[kind], all.src[k].n[kind]);
			sep = ", ";
		}
		appendf(line, sizeof(line), &len, ")");
	}
	if (all.other) {
		total += all.other;
		appendf(line, sizeof(line), &len, "%s%" PRIu64 " from other sources", all.len ? "; " : "", all.other);
	}
	if (total)
		tcpack_logf(LOG_INFO, "health checks in the last %" PRIu64 " s: %" PRIu64 ": %s",
			    (s->now_ms - s->checks_logged_ms + 500) / 1000, total, line);
	s->checks_logged_ms = s->now_ms;
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

/* The operator's admin-state, once per change, as the agent will say it. */
static void log_admin_state(struct server *s)
{
	if (s->cur.admin_state == s->admin_said)
		return;
	s->admin_said = s->cur.admin_state;
	tcpack_logf(LOG_NOTICE, "admin state %s%s", tcpack_config_admin_state_name(s->admin_said),
		    !s->n_agent_fds ? " (no agent listener: no balancer is told)" :
		    s->admin_said == TCPACK_ADMIN_DRAIN ? ": the agent check answers drain; connections are still served" :
		    s->admin_said == TCPACK_ADMIN_MAINT ? ": the agent check answers maint; connections are still served" :
		    ": the agent check answers ready");
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
		log_admin_state(s);
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

/*
 * SIGTERM with an agent listener: first tell the balancer (the agent
 * answers drain) while serving on as before, so it sends its new
 * connections elsewhere before the listeners stop being served. Over once
 * the agent has said drain and DRAIN_SETTLE_MS passed, or at drain-grace.
 */
static void begin_grace(struct server *s)
{
	s->grace = true;
	s->grace_end_ms = s->now_ms + s->cur.drain_grace_ms;
	sd_notify(0, "STOPPING=1");
	tcpack_logf(LOG_NOTICE, "stopping: the agent check answers drain, serving on for at most %" PRIu64
		    " ms until the balancer has heard it", s->cur.drain_grace_ms);
	notify_status(s);
}

static void grace_check(struct server *s)
{
	if (!s->grace)
		return;
	if (s->drain_told_ms && s->now_ms >= s->drain_told_ms + DRAIN_SETTLE_MS) {
		tcpack_logf(LOG_INFO, "the agent check said drain %" PRIu64 " ms ago: stopping",
			    s->now_ms - s->drain_told_ms);
	} else if (s->now_ms >= s->grace_end_ms) {
		tcpack_logf(LOG_NOTICE, "drain-grace over and no agent check heard drain: stopping");
	} else {
		return;
	}
	s->grace = false;
	begin_stop(s);
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
			if (!s->stopping && !s->grace && s->n_agent_fds && s->cur.drain_grace_ms) {
				begin_grace(s);
			} else if (!s->stopping) {
				s->grace = false;
				begin_stop(s);
			} else if (!s->forced) {
				tcpack_logf(LOG_WARNING, "second %s: closing every connection now",
					    strsignal((int)si.ssi_signo));
				s->forced = true;
				command_all(s, TCPACK_CTL_DRAIN | TCPACK_CTL_FORCE);
			}
			break;
		case SIGHUP:
			if (!s->stopping && !s->grace)
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
	struct status st;

	(void)!read(s->tfd, &expirations, sizeof(expirations));
	if (s->watchdog_usec && workers_alive(s))
		sd_notify(0, "WATCHDOG=1");
	get_status(s, &st);
	if (s->now_ms - s->last_status_ms >= STATUS_EVERY_MS &&
	    memcmp(&st, &s->last_status, sizeof(st)) != 0)
		notify_status(s);
	if (s->stopping && s->now_ms >= s->deadline_ms)
		force(s, "shutdown timeout");
	if (s->cur.check_log_interval_ms && s->now_ms >= s->checks_logged_ms + s->cur.check_log_interval_ms)
		log_checks(s);
	trim_memory(s);
}

/* Supervise until every worker finished; -errno when one failed. */
static int supervise(struct server *s, char *err)
{
	struct pollfd pfd[3 + TCPACK_ROLE_FDS_MAX + AGENT_OPEN_MAX + TCPACK_ROLE_FDS_MAX +
			  TCPACK_SCRAPE_CONNS];
	const unsigned int A = 3;	/* the agent listeners' first entry */
	bool ready = false;
	int r;

	for (;;) {
		unsigned int n_agents = s->n_agents, n_scrape = 0, C = A + s->n_agent_fds, S = C + n_agents;
		int timeout = -1;

		pfd[0] = (struct pollfd){ .fd = s->sigfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = s->tfd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = s->shared.done_efd, .events = POLLIN };
		/* Agent checks and scrapes are answered once every worker serves. */
		for (unsigned int i = 0; i < s->n_agent_fds; i++)
			pfd[A + i] = (struct pollfd){ .fd = ready ? s->agent_fds[i] : -1, .events = POLLIN };
		for (unsigned int i = 0; i < n_agents; i++)
			pfd[C + i] = (struct pollfd){ .fd = s->agents[i].fd, .events = POLLIN };
		if (s->scrape && ready)
			n_scrape = tcpack_scrape_pollfds(s->scrape, pfd + S);
		if (s->grace)
			timeout = 50;	/* grace_check() needs no tick's precision, but more than 1 s */
		if (poll(pfd, S + n_scrape, timeout) < 0 && errno != EINTR)
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
			log_admin_state(s);
			notify_status(s);
			sd_notify(0, "READY=1");
		}
		if (workers_in(s, TCPACK_WORKER_DONE) == s->n)
			return 0;
		/* From the last first: agent_close() moves the last one into the gap. */
		for (unsigned int i = n_agents; i-- > 0;)
			if (pfd[C + i].revents || s->now_ms >= s->agents[i].until_ms)
				agent_read(s, i);
		for (unsigned int i = 0; i < s->n_agent_fds; i++)
			if (pfd[A + i].revents)
				agent_accept(s, s->agent_fds[i]);
		if (n_scrape)
			tcpack_scrape_handle(s->scrape, pfd + S, n_scrape, s->now_ms);
		if (pfd[0].revents)
			handle_signals(s);
		if (pfd[1].revents)
			handle_tick(s);
		grace_check(s);
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
			s->engine_reason = s->cur.engine == TCPACK_ENGINE_CHOICE_AUTO ? "auto" : "configured";
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
	s->engine_reason = s->cur.engine == TCPACK_ENGINE_CHOICE_AUTO ? "io_uring_refused" : "configured";
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
	s.agent_fds = listeners->agent_fds;
	s.n_agent_fds = listeners->n_agent;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s.start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	for (unsigned int i = 0; i < s.n_agent_fds; i++)
		(void)fcntl(s.agent_fds[i], F_SETFL, fcntl(s.agent_fds[i], F_GETFL) | O_NONBLOCK);
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

	for (unsigned int i = 0; i < s.n; i++) {
		s.shared.ctls[i].efd = -1;
		pthread_mutex_init(&s.shared.ctls[i].checks_lock, NULL);
	}
	if (listeners->n_metrics) {
		s.scrape = tcpack_scrape_new(listeners->metrics_fds, listeners->n_metrics, render_metrics, &s);
		if (!s.scrape) {
			r = -ENOMEM;
			snprintf(err, TCPACK_ERR_MAX, "setting up the metrics listener: out of memory");
			goto out;
		}
	}
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
	s.checks_logged_ms = s.now_ms;
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
		if (s.cur.check_log_interval_ms)
			log_checks(&s);	/* the last, partial interval's */
	}
	for (unsigned int i = 0; s.shared.ctls && i < s.n; i++) {
		if (s.shared.ctls[i].efd >= 0)
			close(s.shared.ctls[i].efd);
		free(atomic_load(&s.shared.ctls[i].next_cfg));
	}
	if (s.shared.done_efd >= 0)
		close(s.shared.done_efd);
	while (s.n_agents)
		agent_close(&s, 0);
	tcpack_scrape_free(s.scrape);
	if (s.sigfd >= 0)
		close(s.sigfd);
	if (s.tfd >= 0)
		close(s.tfd);
	free(s.shared.ctls);
	free(s.threads);
	return r;
}
