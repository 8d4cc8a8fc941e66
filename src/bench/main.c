// SPDX-License-Identifier: MIT
/*
 * tcpack-bench: wiring. Parses the command line, starts one worker thread per
 * --threads, prints a progress line a second, and the summary at the end.
 * Exit status: 0 when every reply matched, 1 on any error, 2 on bad arguments.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "opts.h"
#include "report.h"
#include "worker.h"

#define NSEC_PER_SEC	1000000000ull
#define FDS_SPARE	64	/* beyond one per connection: stdio, rings or epolls, eventfd */

struct thread_slot {
	pthread_t tid;
	bool started;
	struct bench_run *run;
	uint32_t first_conn, n_conns;
	uint64_t quota;
	struct start_gate *gate;
	int done_fd;
	int setup_r, run_r;
	char err[BENCH_ERR_MAX];
	struct bench_progress progress;
	struct bench_result result;
};

/* Workers set up, then wait until main has fixed the start time. */
struct start_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int ready;	/* workers done with setup */
	bool open;
};

struct cpu_mark {
	uint64_t total_ns;	/* CLOCK_PROCESS_CPUTIME_ID: every thread, exact */
	double user_s, sys_s;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static struct cpu_mark cpu_now(void)
{
	struct cpu_mark m = { 0 };
	struct timespec ts;
	struct rusage ru;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0)
		m.total_ns = (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		m.user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		m.sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	}
	return m;
}

/* Each connection is a descriptor: raise the soft limit as far as allowed. */
static int ensure_fds(uint32_t connections, char *err)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)connections + FDS_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		snprintf(err, BENCH_ERR_MAX,
			 "%u connections need %llu file descriptors, the limit is %llu (ulimit -n)",
			 connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(err, BENCH_ERR_MAX, "cannot raise the file descriptor limit to %llu: %s",
			 (unsigned long long)need, strerror(errno));
		return -errno;
	}
	return 0;
}

static void *thread_main(void *arg)
{
	struct thread_slot *t = arg;
	struct bench_worker *w = NULL;
	uint64_t one = 1;

	/* An io_uring is single-issuer: set up on the thread that drives it. */
	t->setup_r = bench_worker_new(t->run, t->first_conn, t->n_conns, t->quota, &t->progress,
				      &t->result, &w, t->err);
	pthread_mutex_lock(&t->gate->lock);
	t->gate->ready++;
	pthread_cond_broadcast(&t->gate->cond);
	while (!t->gate->open)
		pthread_cond_wait(&t->gate->cond, &t->gate->lock);
	pthread_mutex_unlock(&t->gate->lock);
	if (!t->setup_r && atomic_load(&t->run->stop) < 2)
		t->run_r = bench_worker_run(w);
	bench_worker_free(w);
	if (write(t->done_fd, &one, sizeof(one)) < 0)
		t->run_r = t->run_r ? t->run_r : -errno;
	return NULL;
}

struct progress_mark {
	uint64_t ns, done, bytes;
};

static void print_progress(const struct bench_run *run, struct thread_slot *slots,
			   unsigned int n, uint64_t now, struct progress_mark *last)
{
	const struct bench_opts *o = run->opts;
	uint64_t done = 0, bytes = 0, errors = 0;
	double dt = (double)(now - last->ns) / 1e9;

	for (unsigned int i = 0; i < n; i++) {
		done += atomic_load_explicit(&slots[i].progress.done, memory_order_relaxed);
		bytes += atomic_load_explicit(&slots[i].progress.bytes, memory_order_relaxed);
		errors += atomic_load_explicit(&slots[i].progress.errors, memory_order_relaxed);
	}
	fprintf(stderr, "%7.1f s  %10.0f %s/s  %10.2f MiB/s  errors %llu%s\n",
		(double)(now - run->start_ns) / 1e9,
		dt > 0 ? (double)(done - last->done) / dt : 0.0,
		o->mode == BENCH_ONESHOT ? "conn" : o->mode == BENCH_DISCARD ? "msg" : "req",
		dt > 0 ? (double)(bytes - last->bytes) / (1024.0 * 1024.0) / dt : 0.0,
		(unsigned long long)errors, now < run->measure_ns ? "  (warmup)" : "");
	*last = (struct progress_mark){ .ns = now, .done = done, .bytes = bytes };
}

/*
 * Waits for the workers, printing progress every second and turning SIGINT
 * or SIGTERM into a stop request (a second one aborts). Takes the CPU marks
 * where the measuring window starts and ends.
 */
static void supervise(struct bench_run *run, struct thread_slot *slots, unsigned int n,
		      int sig_fd, int done_fd, struct cpu_mark *cpu0, struct cpu_mark *cpu1,
		      bool *interrupted)
{
	struct progress_mark last = { .ns = run->start_ns };
	uint64_t next_line = run->start_ns + NSEC_PER_SEC;
	bool measuring = false, ended = false;
	unsigned int finished = 0;

	if (run->measure_ns <= run->start_ns) {
		*cpu0 = cpu_now();
		measuring = true;
	}
	while (finished < n) {
		struct pollfd p[2] = {
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = done_fd, .events = POLLIN },
		};
		uint64_t now = now_ns(), wake = next_line;
		int timeout_ms;

		if (!measuring && run->measure_ns < wake)
			wake = run->measure_ns;
		if (!ended && run->end_ns < wake)
			wake = run->end_ns;
		timeout_ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
		if (poll(p, 2, timeout_ms) < 0 && errno != EINTR) {
			/* Cannot watch them: end the workers, whose loops check within a tick. */
			atomic_store(&run->stop, 2);
			break;
		}
		now = now_ns();
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				if (atomic_load(&run->stop) == 0) {
					atomic_store(&run->stop_ns, now);
					atomic_store(&run->stop, 1);
					*interrupted = true;
					if (!ended) {
						*cpu1 = cpu_now();
						ended = true;
					}
					fprintf(stderr, "tcpack-bench: stopping, finishing what is in "
						"flight (again to abort)\n");
				} else {
					atomic_store(&run->stop, 2);
				}
			}
		}
		if (p[1].revents & POLLIN) {
			uint64_t k;

			if (read(done_fd, &k, sizeof(k)) == sizeof(k))
				finished += (unsigned int)k;
		}
		if (!measuring && now >= run->measure_ns) {
			*cpu0 = cpu_now();
			measuring = true;
		}
		if (!ended && now >= run->end_ns) {
			*cpu1 = cpu_now();
			ended = true;
		}
		if (now >= next_line) {
			if (!run->opts->quiet)
				print_progress(run, slots, n, now, &last);
			while (next_line <= now)
				next_line += NSEC_PER_SEC;
		}
	}
	if (!measuring)
		*cpu0 = cpu_now();
	if (!ended)
		*cpu1 = cpu_now();
}

static void summarize(const struct bench_run *run, struct thread_slot *slots, unsigned int n,
		      const struct cpu_mark *cpu0, const struct cpu_mark *cpu1, bool interrupted,
		      struct bench_summary *s)
{
	uint64_t window_end = run->end_ns, last = run->measure_ns, stop_ns = atomic_load(&run->stop_ns);
	unsigned int printed = atomic_load(&run->errors_printed);
	bool all_quota = true;

	s->opts = run->opts;
	s->interrupted = interrupted;
	for (unsigned int i = 0; i < n; i++) {
		const struct bench_result *r = &slots[i].result;

		bench_hist_merge(&s->hist, &r->hist);
		s->requests += r->measured;
		s->bytes += r->measured_bytes;
		for (int k = 0; k < BENCH_ERR_KINDS; k++) {
			s->errors[k] += r->errors[k];
			s->errors_total += r->errors[k];
		}
		s->unsent += r->unsent;
		s->connects += r->connects;
		if (r->last_ns > last)
			last = r->last_ns;
		all_quota = all_quota && r->quota_done;
	}
	/* With --requests done early, the window ends at the last answer. */
	if (run->opts->requests && all_quota && last < window_end)
		window_end = last;
	if (stop_ns < window_end)
		window_end = stop_ns;
	s->seconds = window_end > run->measure_ns ? (double)(window_end - run->measure_ns) / 1e9 : 0.0;
	s->errors_not_shown = printed > BENCH_ERRORS_PRINTED_MAX ? printed - BENCH_ERRORS_PRINTED_MAX : 0;
	s->cpu_s = (double)(cpu1->total_ns - cpu0->total_ns) / 1e9;
	s->cpu_user_s = cpu1->user_s - cpu0->user_s;
	s->cpu_sys_s = cpu1->sys_s - cpu0->sys_s;
}

static int run_bench(const struct bench_opts *o)
{
	struct bench_run run = { .opts = o };
	struct bench_summary summary = { 0 };
	struct cpu_mark cpu0 = { 0 }, cpu1 = { 0 };
	struct start_gate gate = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	struct thread_slot *slots = NULL;
	unsigned int n = o->threads, created = 0;
	bool interrupted = false, failed = false;
	int sig_fd = -1, done_fd = -1, ret = 1;
	uint32_t first = 0;
	sigset_t mask;

	atomic_init(&run.stop, 0);
	atomic_init(&run.stop_ns, UINT64_MAX);
	atomic_init(&run.errors_printed, 0);
	run.end_ns = UINT64_MAX;

	/* Signals go to the signalfd, never to a worker. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	done_fd = eventfd(0, EFD_CLOEXEC);
	slots = calloc(n, sizeof(*slots));
	if (sig_fd < 0 || done_fd < 0 || !slots) {
		fprintf(stderr, "tcpack-bench: cannot set up: %s\n", strerror(errno ? errno : ENOMEM));
		goto out;
	}

	for (unsigned int i = 0; i < n; i++) {
		struct thread_slot *t = &slots[i];

		t->run = &run;
		t->gate = &gate;
		t->done_fd = done_fd;
		t->first_conn = first;
		t->n_conns = o->connections / n + (i < o->connections % n);
		first += t->n_conns;
		if (o->requests)
			t->quota = o->requests / n + (i < o->requests % n);
		atomic_init(&t->progress.done, 0);
		atomic_init(&t->progress.bytes, 0);
		atomic_init(&t->progress.errors, 0);
		if (pthread_create(&t->tid, NULL, thread_main, t)) {
			fprintf(stderr, "tcpack-bench: cannot start thread %u\n", i);
			failed = true;
			break;
		}
		t->started = true;
		created++;
	}

	pthread_mutex_lock(&gate.lock);
	while (gate.ready < created)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
	for (unsigned int i = 0; i < created; i++) {
		if (slots[i].setup_r < 0) {
			if (!failed)
				fprintf(stderr, "tcpack-bench: %s\n", slots[i].err);
			failed = true;
		}
	}
	if (failed)
		atomic_store(&run.stop, 2);
	run.start_ns = now_ns();
	run.measure_ns = run.start_ns + (uint64_t)(o->warmup * 1e9);
	if (o->duration > 0)
		run.end_ns = run.measure_ns + (uint64_t)(o->duration * 1e9);
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	if (!failed)
		supervise(&run, slots, created, sig_fd, done_fd, &cpu0, &cpu1, &interrupted);

	for (unsigned int i = 0; i < n; i++) {
		if (slots[i].started)
			pthread_join(slots[i].tid, NULL);
		if (slots[i].run_r < 0)
			failed = true;
	}
	if (failed)
		goto out;

	summarize(&run, slots, n, &cpu0, &cpu1, interrupted, &summary);
	if (o->json)
		bench_report_json(stdout, &summary);
	else
		bench_report_text(stdout, &summary);
	fflush(stdout);
	ret = summary.errors_total ? 1 : 0;
out:
	free(slots);
	if (done_fd >= 0)
		close(done_fd);
	if (sig_fd >= 0)
		close(sig_fd);
	return ret;
}

int main(int argc, char **argv)
{
	struct bench_opts opts = { 0 };
	char err[BENCH_ERR_MAX];
	int r, ret;

	r = bench_opts_parse(argc, argv, &opts, err);
	if (r == BENCH_OPTS_DONE)
		return 0;
	if (r < 0) {
		fprintf(stderr, "tcpack-bench: %s\n", err);
		return 2;
	}
	if (ensure_fds(opts.connections, err) < 0) {
		fprintf(stderr, "tcpack-bench: %s\n", err);
		bench_opts_deinit(&opts);
		return 2;
	}
	ret = run_bench(&opts);
	bench_opts_deinit(&opts);
	return ret;
}
