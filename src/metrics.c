// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpack/metrics.h"

struct text {
	char *data;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	if (!t->data) {
		t->data = malloc(16384);	/* the exposition at a few workers fits */
		if (!t->data) {
			t->failed = true;
			return;
		}
		t->cap = 16384;
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n + 1;
		char *p = realloc(t->data, cap);

		if (!p) {
			t->failed = true;
			return;
		}
		t->data = p;
		t->cap = cap;
	}
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const mode_label[TCPACK_MODES] = { "oneshot", "line", "echo", "discard" };
static const char *const close_label[TCPACK_CLOSE_MAX] = {
	[TCPACK_CLOSE_DONE] = "done", [TCPACK_CLOSE_PEER] = "peer", [TCPACK_CLOSE_IDLE] = "idle_timeout",
	[TCPACK_CLOSE_MESSAGE] = "message_timeout", [TCPACK_CLOSE_LIMIT] = "limit",
	[TCPACK_CLOSE_ERROR] = "error", [TCPACK_CLOSE_DRAIN] = "drain", [TCPACK_CLOSE_RESET] = "reset",
};
static const char *const error_label[TCPACK_ERR_KIND_MAX] = {
	[TCPACK_ERR_ACCEPT] = "accept", [TCPACK_ERR_RECEIVE] = "receive", [TCPACK_ERR_SEND] = "send",
	[TCPACK_ERR_RESET] = "reset", [TCPACK_ERR_TOO_LONG] = "too_long", [TCPACK_ERR_TIMEOUT] = "timeout",
	[TCPACK_ERR_PROXY] = "proxy_header", [TCPACK_ERR_OVERFLOW] = "overflow",
	[TCPACK_ERR_MEMORY] = "memory",
};
static const char *const check_label[TCPACK_CHECK_KIND_MAX] = {
	[TCPACK_CHECK_SILENT] = "silent", [TCPACK_CHECK_RESET] = "reset",
	[TCPACK_CHECK_PROXY_LOCAL] = "proxy_local",
};
static const char *const admin_label[] = { "ready", "drain", "maint" };

/* A counter per label value of @labels (NULL entries skipped). */
static void by_label(struct text *t, const char *name, const char *label, const char *const *labels,
		     const _Atomic uint64_t *v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (labels[i])
			put(t, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, labels[i], tcpack_stat_get(&v[i]));
}

/* @v / @scale with no more digits than it needs: 0.00005, 2.5, 10. */
static void put_scaled(struct text *t, uint64_t v, uint64_t scale)
{
	char buf[48];
	size_t n;

	if (scale == 1 || v % scale == 0) {
		put(t, "%" PRIu64, v / scale);
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64 ".%06" PRIu64, v / scale, (v % scale) * (1000000 / scale));
	n = strlen(buf);
	while (n && buf[n - 1] == '0')
		buf[--n] = '\0';
	put(t, "%s", buf);
}

/* A histogram of non-cumulative @bucket counts with upper @bounds, in units of 1/@scale. */
static void histogram(struct text *t, const char *name, const uint64_t *bounds, unsigned int n,
		      const _Atomic uint64_t *bucket, uint64_t sum, uint64_t scale)
{
	uint64_t cum = 0;

	for (unsigned int i = 0; i < n; i++) {
		cum += tcpack_stat_get(&bucket[i]);
		put(t, "%s_bucket{le=\"", name);
		put_scaled(t, bounds[i], scale);
		put(t, "\"} %" PRIu64 "\n", cum);
	}
	cum += tcpack_stat_get(&bucket[n]);
	put(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum ", name, cum, name);
	put_scaled(t, sum, scale);
	put(t, "\n%s_count %" PRIu64 "\n", name, cum);
}

static const char *const names[] = {
	"tcpack_build_info",
	"tcpack_start_time_seconds",
	"tcpack_admin_state",
	"tcpack_stopping",
	"tcpack_connections_max",
	"tcpack_connections_accepted_total",
	"tcpack_connections_open",
	"tcpack_worker_connections_open",
	"tcpack_connections_closed_total",
	"tcpack_messages_total",
	"tcpack_replies_total",
	"tcpack_received_bytes_total",
	"tcpack_sent_bytes_total",
	"tcpack_errors_total",
	"tcpack_health_checks_total",
	"tcpack_accept_pauses_total",
	"tcpack_log_lines_suppressed_total",
	"tcpack_loop_waits_total",
	"tcpack_loop_completions_total",
	"tcpack_uring_enobufs_total",
	"tcpack_uring_receives_armed_total",
	"tcpack_uring_cq_overflows_total",
	"tcpack_exchange_duration_seconds",
	"tcpack_message_size_bytes",
	NULL,
};

const char *const *tcpack_metrics_names(void)
{
	return names;
}

char *tcpack_metrics_render(const struct tcpack_metrics_view *v, size_t *ret_len)
{
	static const uint64_t xchg_bounds[TCPACK_XCHG_BUCKETS] = TCPACK_XCHG_BOUNDS_US;
	static const uint64_t size_bounds[TCPACK_SIZE_BUCKETS] = TCPACK_SIZE_BOUNDS;
	const struct tcpack_stats *s = v->sum;
	struct text t = { 0 };
	uint64_t open = 0;

	family(&t, names[0], "gauge", "Always 1: the version, the engine, why it was chosen and the kernel features it uses.");
	put(&t, "%s{version=\"%s\",engine=\"%s\",engine_reason=\"%s\",receive_limit=\"%s\",receive_bundles=\"%s\",multishot_accept=\"%s\",unread_report=\"%s\"} 1\n",
	    names[0], v->version, v->engine, v->engine_reason,
	    v->features & TCPACK_FEATURE_RECV_LIMIT ? "yes" : "no",
	    v->features & TCPACK_FEATURE_BUNDLE ? "yes" : "no",
	    v->features & TCPACK_FEATURE_MULTISHOT_ACCEPT ? "yes" : "no",
	    v->features & TCPACK_FEATURE_UNREAD ? "yes" : "no");
	family(&t, names[1], "gauge", "When tcpack started, in seconds since the epoch.");
	put(&t, "%s %.3f\n", names[1], v->start_time);
	family(&t, names[2], "gauge", "The admin-state the agent check reports: 1 for the one in force.");
	for (unsigned int i = 0; i < 3; i++)
		put(&t, "%s{state=\"%s\"} %d\n", names[2], admin_label[i], (unsigned int)v->admin == i);
	family(&t, names[3], "gauge", "1 once SIGTERM began the stop (drain-grace or drain).");
	put(&t, "%s %d\n", names[3], v->stopping);
	family(&t, names[4], "gauge", "max-connections in force.");
	put(&t, "%s %" PRIu64 "\n", names[4], v->max_conns);
	family(&t, names[5], "counter", "Connections accepted and served.");
	put(&t, "%s %" PRIu64 "\n", names[5], tcpack_stat_get(&s->conns_total));
	for (unsigned int i = 0; i < v->n_workers; i++)
		open += v->worker_conns[i];
	family(&t, names[6], "gauge", "Connections open now.");
	put(&t, "%s %" PRIu64 "\n", names[6], open);
	family(&t, names[7], "gauge", "Connections open now, per worker thread.");
	for (unsigned int i = 0; i < v->n_workers; i++)
		put(&t, "%s{worker=\"%u\"} %" PRIu64 "\n", names[7], i, v->worker_conns[i]);
	family(&t, names[8], "counter", "Connections closed, by why.");
	by_label(&t, names[8], "reason", close_label, s->closed, TCPACK_CLOSE_MAX);
	family(&t, names[9], "counter", "Messages received (oneshot: one per connection; line: one per line).");
	by_label(&t, names[9], "mode", mode_label, s->messages, TCPACK_MODES);
	family(&t, names[10], "counter", "Replies queued, error replies included.");
	by_label(&t, names[10], "mode", mode_label, s->replies, TCPACK_MODES);
	family(&t, names[11], "counter", "Bytes received from clients (PROXY headers not included).");
	by_label(&t, names[11], "mode", mode_label, s->bytes_in, TCPACK_MODES);
	family(&t, names[12], "counter", "Bytes sent to clients.");
	by_label(&t, names[12], "mode", mode_label, s->bytes_out, TCPACK_MODES);
	family(&t, names[13], "counter", "Errors, by kind.");
	by_label(&t, names[13], "kind", error_label, s->errors, TCPACK_ERR_KIND_MAX);
	family(&t, names[14], "counter", "Connections that came and went without data (a balancer's checks), and agent checks answered.");
	by_label(&t, names[14], "kind", check_label, s->checks, TCPACK_CHECK_KIND_MAX);
	put(&t, "%s{kind=\"agent\"} %" PRIu64 "\n", names[14], v->agent_checks);
	family(&t, names[15], "counter", "Times accepting paused at max-connections.");
	put(&t, "%s %" PRIu64 "\n", names[15], tcpack_stat_get(&s->accept_pauses));
	family(&t, names[16], "counter", "Log lines about clients dropped by log-rate-limit.");
	put(&t, "%s %" PRIu64 "\n", names[16], v->log_suppressed);
	family(&t, names[17], "counter", "Waits of the workers' loops for I/O (io_uring_enter, epoll_wait).");
	put(&t, "%s %" PRIu64 "\n", names[17], tcpack_stat_get(&s->waits));
	family(&t, names[18], "counter", "Completions (io_uring) or events (epoll) handled; divided by the waits, the batch size.");
	put(&t, "%s %" PRIu64 "\n", names[18], tcpack_stat_get(&s->completions));
	family(&t, names[19], "counter", "io_uring receives that found no provided buffer (ENOBUFS); re-armed once buffers return.");
	put(&t, "%s %" PRIu64 "\n", names[19], tcpack_stat_get(&s->enobufs));
	family(&t, names[20], "counter", "io_uring receives armed (a multishot one after it ended, or a single-shot one).");
	put(&t, "%s %" PRIu64 "\n", names[20], tcpack_stat_get(&s->rearms));
	family(&t, names[21], "counter", "io_uring completions that overflowed the completion queue.");
	put(&t, "%s %" PRIu64 "\n", names[21], tcpack_stat_get(&s->cq_overflows));
	family(&t, names[22], "histogram", "First byte received to last reply byte sent, on the worker's clock (read once per batch of I/O).");
	histogram(&t, names[22], xchg_bounds, TCPACK_XCHG_BUCKETS, s->xchg.bucket,
		  tcpack_stat_get(&s->xchg.sum_us), 1000000);
	family(&t, names[23], "histogram", "Size of the messages received (oneshot: up to max-message; line: without its ending).");
	histogram(&t, names[23], size_bounds, TCPACK_SIZE_BUCKETS, s->msg_size.bucket,
		  tcpack_stat_get(&s->msg_size.sum), 1);
	if (t.failed) {
		free(t.data);
		return NULL;
	}
	*ret_len = t.len;
	return t.data;
}
