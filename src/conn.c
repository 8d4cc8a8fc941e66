// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "tcpack/addr.h"
#include "tcpack/conn.h"
#include "tcpack/escape.h"
#include "tcpack/log.h"

/*
 * Buffers larger than this are freed once they are empty, so a connection
 * that was slow once does not keep its high-water mark for good. Below it
 * a buffer is kept for reuse: bulk transfers come in bursts of up to 16
 * receive buffers (64 KiB at the defaults) and would otherwise pay a
 * malloc and fresh pages per burst.
 */
#define BUF_KEEP	(64u * 1024)

/*
 * Append @len bytes. Capacity doubles (from 256) but never past @max, the
 * most the buffer can ever have to hold (see out_max()), so a buffer is at
 * most as large as its bound; should @max be exceeded anyway, it doubles
 * on. Consumed bytes at the front are dropped first: never call it on a
 * buffer a send is reading from (tx).
 */
static int buf_append(struct tcpack_buf *b, const void *data, size_t len, size_t max)
{
	if (!len)
		return 0;
	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->off && b->len + len > b->cap) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + len > b->cap) {
		size_t need = b->len + len, cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		if (cap > max && need <= max)
			cap = max;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_free(struct tcpack_buf *b)
{
	free(b->data);
	*b = (struct tcpack_buf){ 0 };
}

static size_t buf_used(const struct tcpack_buf *b)
{
	return b->len - b->off;
}

/* The PROXY header a connection owes first, and the balancer it came through. */
struct tcpack_conn_proxy {
	struct tcpack_proxy parser;
	struct sockaddr_storage via;	/* the socket's own peer */
	bool done;			/* the header was complete */
};

/* Why the connection ends, once: the first reason decided is the one counted. */
static void reason(struct tcpack_conn *c, enum tcpack_close_reason r)
{
	if (!c->close_reason)
		c->close_reason = (uint8_t)(r + 1);
}

/* The connection ends now, for @r. */
static void end(struct tcpack_conn *c, enum tcpack_close_reason r)
{
	reason(c, r);
	c->phase = TCPACK_CONN_DONE;
}

const struct sockaddr *tcpack_conn_peer(struct tcpack_conn *c)
{
	if (!c->peer_known && c->fd >= 0) {
		socklen_t len = sizeof(c->peer);

		if (getpeername(c->fd, (struct sockaddr *)&c->peer, &len) < 0)
			c->peer.ss_family = AF_UNSPEC;
		c->peer_known = true;
	}
	return !c->peer_known || c->peer.ss_family == AF_UNSPEC ? NULL : (const struct sockaddr *)&c->peer;
}

const struct sockaddr *tcpack_conn_via(const struct tcpack_conn *c)
{
	return c->px && c->px->done && !c->px->parser.local && c->px->via.ss_family != AF_UNSPEC ?
	       (const struct sockaddr *)&c->px->via : NULL;
}

/* "CLIENT" or "CLIENT via BALANCER", as log lines name the peer. */
static const char *peer_text(struct tcpack_conn *c, char *buf, size_t size)
{
	char addr[TCPACK_ADDR_STRLEN], via[TCPACK_ADDR_STRLEN];

	tcpack_addr_format(tcpack_conn_peer(c), addr);
	if (tcpack_conn_via(c))
		snprintf(buf, size, "%s via %s", addr, tcpack_addr_format(tcpack_conn_via(c), via));
	else
		snprintf(buf, size, "%s", addr);
	return buf;
}

/*
 * Log a client event quoting up to log-data-max bytes of @data (of a
 * message @total bytes long).
 */
__attribute__((format(printf, 6, 7)))
static void log_data(struct tcpack_conn *c, int level, const uint8_t *data, size_t len,
		     size_t total, const char *fmt, ...)
{
	char peer[2 * TCPACK_ADDR_STRLEN + 8], what[256];
	char *esc = NULL;
	size_t shown = 0, quote = len < c->cfg->log_data_max ? len : c->cfg->log_data_max;
	va_list ap;

	if (!tcpack_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	if (quote) {
		esc = malloc(TCPACK_ESCAPE_SIZE(quote));
		if (esc)
			shown = tcpack_escape_log(data, quote, esc, TCPACK_ESCAPE_SIZE(quote));
	}
	tcpack_log_event(level, &(struct tcpack_log_fields){
				.remote = tcpack_conn_peer(c),
				.via = tcpack_conn_via(c),
				.bytes = (long long)total,
				.data = esc ? esc : "",
				.mode = tcpack_config_mode_name(c->cfg->mode),
			 },
			 "%s: %s%s%s%s", peer_text(c, peer, sizeof(peer)), what,
			 esc ? ": " : "", esc ? esc : "", shown < total && esc ? " [truncated]" : "");
	free(esc);
}

__attribute__((format(printf, 3, 4)))
static void log_conn(struct tcpack_conn *c, int level, const char *fmt, ...)
{
	char peer[2 * TCPACK_ADDR_STRLEN + 8], what[256];
	va_list ap;

	if (!tcpack_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	tcpack_log_event(level, &(struct tcpack_log_fields){
				.remote = tcpack_conn_peer(c),
				.via = tcpack_conn_via(c),
				.bytes = -1,
				.mode = tcpack_config_mode_name(c->cfg->mode),
			 },
			 "%s: %s", peer_text(c, peer, sizeof(peer)), what);
}

void tcpack_conn_init(struct tcpack_conn *c, int fd, const struct tcpack_config *cfg,
		      struct tcpack_stats *stats, const uint64_t *clock)
{
	c->clock = clock;
	c->active_ms = *clock;
	c->cfg = cfg;
	c->stats = stats;
	c->fd = fd;
	c->phase = TCPACK_CONN_OPEN;
	tcpack_stat_add(&stats->conns_now, 1);
	tcpack_stat_add(&stats->conns_total, 1);
}

int tcpack_conn_expect_proxy(struct tcpack_conn *c, enum tcpack_proxy_mode mode)
{
	c->px = calloc(1, sizeof(*c->px));
	if (!c->px)
		return -ENOMEM;
	tcpack_proxy_init(&c->px->parser, mode);
	/* The balancer: the socket's peer, which the header's client replaces. */
	tcpack_conn_peer(c);
	memcpy(&c->px->via, &c->peer, sizeof(c->peer));
	c->msg_start_ms = *c->clock ? *c->clock : 1;	/* the header must come within message-timeout */
	return 0;
}

/*
 * The PROXY header ahead of the client's first bytes. Return: how many
 * bytes of @buf it took: all of them while it is not complete, or when it
 * is invalid (the connection is then DONE).
 */
static size_t proxy_input(struct tcpack_conn *c, const uint8_t *buf, size_t len)
{
	struct tcpack_proxy *p = &c->px->parser;
	ssize_t n = tcpack_proxy_feed(p, buf, len);

	c->active_ms = *c->clock;
	if (n == -EAGAIN)
		return len;
	if (n < 0) {
		tcpack_stat_add(&c->stats->errors[TCPACK_ERR_PROXY], 1);
		log_conn(c, LOG_NOTICE, "invalid PROXY protocol header (%s), closing", p->why);
		end(c, TCPACK_CLOSE_ERROR);
		return len;
	}
	c->px->done = true;
	c->msg_start_ms = 0;
	if (p->local) {
		c->check = true;
		c->check_kind = TCPACK_CHECK_PROXY_LOCAL;
	} else {
		memcpy(&c->peer, &p->src, sizeof(c->peer));
		c->peer_known = true;
	}
	return (size_t)n;
}

static bool awaits_proxy(const struct tcpack_conn *c)
{
	return c->px && !c->px->done;
}

void tcpack_conn_closing(struct tcpack_conn *c)
{
	/*
	 * Replies still owed will never be sent: the peer stopped reading,
	 * or the server gave up on it. A FIN would wait behind what the
	 * kernel already holds for a peer whose window is shut, never reach
	 * it, and leave the socket orphaned while the peer waits on: reset
	 * instead. A graceful close (EOF, linger) owes nothing by then.
	 */
	int unsent = 0;

	if (c->fd >= 0 && (tcpack_conn_pending(c) ||
			   /* the kernel holds replies that a peer stuck at a timeout never took */
			   (c->timed_out && ioctl(c->fd, SIOCOUTQ, &unsent) == 0 && unsent > 0))) {
		static const struct linger reset = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	}
	if (c->cfg->mode != TCPACK_MODE_ONESHOT && tcpack_log_enabled(LOG_DEBUG)) {
		char held[64] = "";

		if (c->held_max)
			snprintf(held, sizeof(held), "; held back up to %lu bytes of input",
				 (unsigned long)c->held_max);
		log_conn(c, LOG_DEBUG, "closed after %llu bytes in, %llu out, %llu messages%s",
			 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
			 (unsigned long long)c->messages, held);
	}
	tcpack_stat_add(&c->stats->closed[c->close_reason ? c->close_reason - 1 : TCPACK_CLOSE_DONE], 1);
	if (c->check_kind)
		tcpack_stat_add(&c->stats->checks[c->check_kind], 1);
	c->fd = -1;
	c->phase = TCPACK_CONN_CLOSED;
}

/* A oneshot exchange answered, and no byte after its message reached us. */
static bool oneshot_answered_alone(const struct tcpack_conn *c)
{
	return c->cfg->mode == TCPACK_MODE_ONESHOT && c->got_message && !c->input_after;
}

/*
 * The oneshot exchange is over and the peer sent nothing more: no byte
 * after the message reached us, and none waits unread in the socket.
 */
static bool nothing_more_sent(const struct tcpack_conn *c)
{
	int unread = -1;

	return oneshot_answered_alone(c) &&
	       c->fd >= 0 && ioctl(c->fd, SIOCINQ, &unread) == 0 && unread == 0;
}

/*
 * The reply can go with the close behind it: the exchange is over, the
 * engine saw nothing unread, and the reply is small and in one range.
 */
static bool send_closes(const struct tcpack_conn *c)
{
	return c->phase == TCPACK_CONN_FINISHING && c->none_unread && oneshot_answered_alone(c) &&
	       !c->lent && !(buf_used(&c->tx) && buf_used(&c->queue)) &&
	       tcpack_conn_pending(c) <= TCPACK_SEND_CLOSE_MAX;
}

enum tcpack_conn_next tcpack_conn_next(const struct tcpack_conn *c)
{
	switch (c->phase) {
	case TCPACK_CONN_DONE:
		return TCPACK_CONN_NEXT_CLOSE;
	case TCPACK_CONN_CLOSED:
		return TCPACK_CONN_NEXT_WAIT;
	default:
		break;
	}
	if (tcpack_conn_pending(c))
		return send_closes(c) ? TCPACK_CONN_NEXT_SEND_CLOSE : TCPACK_CONN_NEXT_SEND;
	if (c->phase == TCPACK_CONN_FINISHING)
		return nothing_more_sent(c) ? TCPACK_CONN_NEXT_CLOSE : TCPACK_CONN_NEXT_SHUTDOWN;
	if (c->phase == TCPACK_CONN_PEER_DONE)
		return TCPACK_CONN_NEXT_CLOSE;
	return TCPACK_CONN_NEXT_WAIT;
}

void tcpack_conn_deinit(struct tcpack_conn *c)
{
	if (!c->stats)
		return;
	tcpack_stat_sub(&c->stats->conns_now, 1);
	c->stats = NULL;
	buf_free(&c->partial);
	buf_free(&c->stash);
	buf_free(&c->tx);
	buf_free(&c->queue);
	free(c->px);
	c->px = NULL;
	tcpack_timer_disarm(&c->timer);
}

/*
 * The most output a connection can owe at once, so the most either output
 * buffer (tx, queue) ever holds. Line and oneshot replies are appended only
 * while less than max-pending is owed: P + L - 1 at most. Echo appends
 * whole receives: less than P is owed when the receive that crosses P
 * starts, and the engine delivers at most recv_burst bytes from there on.
 */
static size_t out_max(const struct tcpack_conn *c)
{
	const struct tcpack_config *cfg = c->cfg;

	if (cfg->mode == TCPACK_MODE_ECHO)
		return c->recv_burst ? cfg->max_pending - 1 + c->recv_burst : SIZE_MAX;
	return cfg->max_pending - 1 +
	       (cfg->reply_len > cfg->error_reply_len ? cfg->reply_len : cfg->error_reply_len);
}

/*
 * Hold back input while the output is over max-pending. The engine arms no
 * receive while any is held back, so all of it arrived from the receive
 * that crossed the limit on: at most recv_burst bytes.
 */
static void hold(struct tcpack_conn *c, const uint8_t *buf, size_t len)
{
	size_t held;

	if (buf_append(&c->stash, buf, len, c->recv_burst ? c->recv_burst : SIZE_MAX) < 0) {
		tcpack_conn_error(c, -ENOMEM, "stash input");
		return;
	}
	held = buf_used(&c->stash);
	if (held > c->held_max)
		c->held_max = held > UINT32_MAX ? UINT32_MAX : (uint32_t)held;
}

static void reply(struct tcpack_conn *c, const uint8_t *data, size_t len)
{
	if (buf_append(&c->queue, data, len, out_max(c)) < 0) {
		tcpack_conn_error(c, -ENOMEM, "queue reply");
		return;
	}
}

/* Server is done with this connection: send what is owed, then end it. */
static void finish(struct tcpack_conn *c)
{
	if (c->phase == TCPACK_CONN_OPEN)
		c->phase = TCPACK_CONN_FINISHING;
	reason(c, TCPACK_CLOSE_DONE);
}

/* A message of @len bytes came: counted, measured, answered. */
static void count_message(struct tcpack_conn *c, size_t len)
{
	c->messages++;
	tcpack_stat_add(&c->stats->messages[c->cfg->mode], 1);
	tcpack_stat_add(&c->stats->replies[c->cfg->mode], 1);
	tcpack_stats_observe_size(c->stats, len);
}

static void oneshot_input(struct tcpack_conn *c, const uint8_t *buf, size_t len)
{
	size_t msg = len < c->cfg->max_message ? len : c->cfg->max_message;

	c->got_message = true;
	count_message(c, msg);
	log_data(c, LOG_INFO, buf, msg, msg, "received %zu bytes%s", msg,
		 msg < len ? " (more discarded)" : "");
	reply(c, c->cfg->reply, c->cfg->reply_len);
	finish(c);
}

/* Keep the head of an unfinished line, for the log line if it never ends. */
static void keep_partial(struct tcpack_conn *c, const uint8_t *buf, size_t len)
{
	size_t room = c->cfg->log_data_max > c->partial.len ? c->cfg->log_data_max - c->partial.len : 0;

	if (len > room)
		len = room;
	if (buf_append(&c->partial, buf, len, c->cfg->log_data_max) < 0)
		tcpack_conn_error(c, -ENOMEM, "keep partial line");
}

static void line_message(struct tcpack_conn *c, const uint8_t *tail, size_t tail_len,
			 size_t msg_len)
{
	count_message(c, msg_len);
	if (tcpack_log_enabled(LOG_DEBUG)) {
		/* The message is partial + tail (minus its ending). */
		if (c->partial.len) {
			/* The kept head may end in the line ending: show message bytes only. */
			keep_partial(c, tail, tail_len);
			log_data(c, LOG_DEBUG, c->partial.data,
				 c->partial.len < msg_len ? c->partial.len : msg_len, msg_len,
				 "message of %zu bytes", msg_len);
		} else {
			log_data(c, LOG_DEBUG, tail, msg_len < tail_len ? msg_len : tail_len, msg_len,
				 "message of %zu bytes", msg_len);
		}
	}
	buf_free(&c->partial);
	c->msg_start_ms = 0;
	reply(c, c->cfg->reply, c->cfg->reply_len);
}

/* Draining a line-mode connection for TCPACK_DRAIN_MAX_MS already: no more lines. */
static bool drain_over(const struct tcpack_conn *c)
{
	return *c->clock >= c->drain_ms + TCPACK_DRAIN_MAX_MS;
}

/*
 * Frame lines out of @buf. Stops early once the output owed reaches
 * max-pending, so a client that sends without reading cannot make the
 * reply queue grow further than one reply past the limit.
 * Return: how many bytes at the end of @buf were left for that reason;
 * the caller holds them back. Other bytes are consumed or discarded.
 *
 * While draining, only what was owed when the drain began is answered:
 * input held back before it (@held), and the one line then under way.
 */
static size_t line_input(struct tcpack_conn *c, const uint8_t *buf, size_t len, bool held)
{
	while (len && c->phase == TCPACK_CONN_OPEN) {
		size_t msg_len;
		ssize_t n;

		if (tcpack_conn_pending(c) >= c->cfg->max_pending)
			return len;
		n = tcpack_line_feed(&c->line, buf, len, c->cfg->max_message, &msg_len);
		if (n == -EAGAIN) {
			keep_partial(c, buf, len);
			if (!c->msg_start_ms)	/* a message under way: message-timeout runs */
				c->msg_start_ms = *c->clock ? *c->clock : 1;
			return 0;
		}
		if (n == -EMSGSIZE) {
			tcpack_stat_add(&c->stats->errors[TCPACK_ERR_TOO_LONG], 1);
			tcpack_stat_add(&c->stats->replies[c->cfg->mode], 1);
			reason(c, TCPACK_CLOSE_LIMIT);
			log_conn(c, LOG_NOTICE, "line too long (over %zu bytes), closing",
				 c->cfg->max_message);
			buf_free(&c->partial);
			c->line = (struct tcpack_line){ 0 };
			reply(c, c->cfg->error_reply, c->cfg->error_reply_len);
			finish(c);
			return 0;
		}
		line_message(c, buf, (size_t)n, msg_len);
		buf += n;
		len -= (size_t)n;
		if (c->draining && !held && drain_over(c)) {
			finish(c);
			return 0;
		}
	}
	return 0;
}

/* Draining past its time, and nothing under way or held back: the connection is done. */
static void line_drained(struct tcpack_conn *c)
{
	if (c->draining && drain_over(c) && !tcpack_line_pending(&c->line) && !buf_used(&c->stash))
		finish(c);
}

static void count_in(struct tcpack_conn *c, size_t len)
{
	c->bytes_in += len;
	tcpack_stat_add(&c->stats->bytes_in[c->cfg->mode], len);
	c->active_ms = *c->clock;
	if (!c->xchg_start_us && c->clock_us)
		c->xchg_start_us = *c->clock_us ?: 1;
}

static void count_out(struct tcpack_conn *c, size_t n)
{
	c->active_ms = *c->clock;
	c->bytes_out += n;
	tcpack_stat_add(&c->stats->bytes_out[c->cfg->mode], n);
}

/* Everything owed is sent: the exchange under way, if any, took this long. */
static void exchange_done(struct tcpack_conn *c)
{
	if (!c->xchg_start_us || !c->clock_us)
		return;
	tcpack_stats_observe_xchg(c->stats, *c->clock_us > c->xchg_start_us ?
						*c->clock_us - c->xchg_start_us : 0);
	c->xchg_start_us = 0;
}

void tcpack_conn_input(struct tcpack_conn *c, const uint8_t *buf, size_t len)
{
	size_t rest;

	c->none_unread = false;
	if (awaits_proxy(c) && c->phase == TCPACK_CONN_OPEN) {
		size_t n = proxy_input(c, buf, len);

		if (n == len)
			return;
		buf += n;
		len -= n;
	}
	count_in(c, len);

	if (c->phase != TCPACK_CONN_OPEN) {
		c->input_after = true;
		return;		/* finishing or lingering: read and discarded */
	}

	switch (c->cfg->mode) {
	case TCPACK_MODE_ONESHOT:
		oneshot_input(c, buf, len);
		break;
	case TCPACK_MODE_LINE:
		if (buf_used(&c->stash)) {	/* keep order behind held-back input */
			hold(c, buf, len);
			break;
		}
		rest = line_input(c, buf, len, false);
		if (rest)
			hold(c, buf + len - rest, rest);
		else
			line_drained(c);
		break;
	case TCPACK_MODE_ECHO:
		reply(c, buf, len);
		if (c->draining)
			finish(c);	/* its first bytes, received after the drain began */
		break;
	case TCPACK_MODE_DISCARD:
		if (c->draining)
			finish(c);
		break;
	}
}

bool tcpack_conn_input_lent(struct tcpack_conn *c, size_t len)
{
	if (c->cfg->mode != TCPACK_MODE_ECHO || c->phase != TCPACK_CONN_OPEN || c->draining ||
	    buf_used(&c->tx) || buf_used(&c->queue) || awaits_proxy(c))
		return false;
	count_in(c, len);
	c->lent += len;
	return true;
}

void tcpack_conn_lent_sent(struct tcpack_conn *c, const uint8_t *data, size_t n)
{
	size_t rest = c->lent - n;

	c->lent = 0;
	count_out(c, n);
	/*
	 * Nothing was in tx while bytes were lent (tcpack_conn_input_lent()
	 * takes none behind output, and the engine sends nothing else
	 * meanwhile): the rest goes first, then what queued behind it.
	 */
	if (rest && buf_append(&c->tx, data + n, rest, out_max(c)) < 0)
		tcpack_conn_error(c, -ENOMEM, "keep echo output");
	else if (!tcpack_conn_pending(c))
		exchange_done(c);
}

void tcpack_conn_eof(struct tcpack_conn *c)
{
	switch (c->phase) {
	case TCPACK_CONN_OPEN:
		reason(c, TCPACK_CLOSE_PEER);
		if (awaits_proxy(c) && c->px->parser.seen) {
			log_conn(c, LOG_NOTICE, "closed in the middle of its PROXY protocol header");
		} else if (!c->bytes_in) {
			/* A balancer's check, most likely: counted, not logged at info. */
			if (!c->check_kind)
				c->check_kind = TCPACK_CHECK_SILENT;
			tcpack_conn_peer(c);	/* the summary line names where checks come from */
			log_conn(c, LOG_DEBUG, "%s without sending data",
				 c->check ? "health check closed" : "closed");
		}
		/* Input held back still gets its replies; an unfinished line does not. */
		if (buf_used(&c->stash)) {
			c->phase = TCPACK_CONN_PEER_DONE;
			return;
		}
		if (tcpack_line_pending(&c->line))
			log_data(c, LOG_INFO, c->partial.data, c->partial.len,
				 tcpack_line_pending(&c->line), "incomplete message at close (%zu bytes)",
				 tcpack_line_pending(&c->line));
		c->phase = TCPACK_CONN_PEER_DONE;
		break;
	case TCPACK_CONN_FINISHING:
		c->phase = TCPACK_CONN_PEER_DONE;	/* nothing left to read before closing */
		break;
	case TCPACK_CONN_LINGER:
		c->phase = TCPACK_CONN_DONE;
		break;
	case TCPACK_CONN_PEER_DONE:
	case TCPACK_CONN_DONE:
	case TCPACK_CONN_CLOSED:
		break;
	}
}

void tcpack_conn_error(struct tcpack_conn *c, int err, const char *op)
{
	if (c->phase == TCPACK_CONN_DONE || c->phase == TCPACK_CONN_CLOSED)
		return;
	bool reset = err == -ECONNRESET || err == -EPIPE;

	if (reset && !c->bytes_in && c->phase == TCPACK_CONN_OPEN && !(awaits_proxy(c) && c->px->parser.seen)) {
		/* How balancers end their checks (no data, then a reset): no error of anyone's. */
		if (!c->check_kind)
			c->check_kind = TCPACK_CHECK_RESET;
		tcpack_conn_peer(c);
		log_conn(c, LOG_DEBUG, "%s without sending data: %s failed: %s",
			 c->check ? "health check ended" : "reset", op, strerror(-err));
	} else if (c->phase != TCPACK_CONN_LINGER) {
		/* A reset while lingering is the peer closing its way. */
		tcpack_stat_add(&c->stats->errors[err == -ENOMEM ? TCPACK_ERR_MEMORY : reset ? TCPACK_ERR_RESET :
						  strcmp(op, "send") == 0 ? TCPACK_ERR_SEND : TCPACK_ERR_RECEIVE], 1);
		log_conn(c, reset ? LOG_INFO : LOG_NOTICE, "%s failed: %s", op, strerror(-err));
	}
	end(c, reset ? TCPACK_CLOSE_RESET : TCPACK_CLOSE_ERROR);
}

static uint64_t msg_deadline(const struct tcpack_conn *c)
{
	return c->msg_start_ms && c->cfg->message_timeout_ms ?
	       c->msg_start_ms + c->cfg->message_timeout_ms : 0;
}

static uint64_t idle_deadline(const struct tcpack_conn *c)
{
	return c->cfg->idle_timeout_ms ? c->active_ms + c->cfg->idle_timeout_ms : 0;
}

/*
 * Draining in line mode, with nothing under way or held back: when it
 * finishes if nothing arrives meanwhile (quiet, or the drain's time over).
 */
static uint64_t drain_deadline(const struct tcpack_conn *c)
{
	uint64_t quiet = c->active_ms + TCPACK_DRAIN_QUIET_MS, over = c->drain_ms + TCPACK_DRAIN_MAX_MS;

	if (!c->draining || c->phase != TCPACK_CONN_OPEN || c->cfg->mode != TCPACK_MODE_LINE ||
	    !c->bytes_in || tcpack_line_pending(&c->line) || buf_used(&c->stash))
		return 0;
	return quiet < over ? quiet : over;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a || (b && b < a) ? b : a;
}

uint64_t tcpack_conn_deadline(const struct tcpack_conn *c)
{
	if (c->phase == TCPACK_CONN_LINGER)
		return c->linger_start_ms + TCPACK_LINGER_MS;
	return earliest(earliest(idle_deadline(c), msg_deadline(c)), drain_deadline(c));
}

bool tcpack_conn_timeout(struct tcpack_conn *c)
{
	uint64_t now = *c->clock, msg = msg_deadline(c), idle = idle_deadline(c), drain = drain_deadline(c);

	if (drain && now >= drain) {
		finish(c);	/* the client paused, or the drain's time is over */
		return true;
	}
	if (c->phase == TCPACK_CONN_LINGER) {
		if (now < c->linger_start_ms + TCPACK_LINGER_MS)
			return false;
		c->phase = TCPACK_CONN_DONE;
		c->timed_out = true;
		return true;
	}
	if (msg && now >= msg && awaits_proxy(c)) {
		tcpack_stat_add(&c->stats->errors[TCPACK_ERR_PROXY], 1);
		reason(c, TCPACK_CLOSE_MESSAGE);
		log_conn(c, LOG_NOTICE, "no complete PROXY protocol header within %llu ms, closing",
			 (unsigned long long)c->cfg->message_timeout_ms);
	} else if (msg && now >= msg) {
		tcpack_stat_add(&c->stats->errors[TCPACK_ERR_TIMEOUT], 1);
		reason(c, TCPACK_CLOSE_MESSAGE);
		log_data(c, LOG_NOTICE, c->partial.data, c->partial.len, tcpack_line_pending(&c->line),
			 "message not complete %llu ms after its first byte (%zu bytes so far), closing",
			 (unsigned long long)c->cfg->message_timeout_ms,
			 tcpack_line_pending(&c->line));
	} else if (idle && now >= idle) {
		tcpack_stat_add(&c->stats->errors[TCPACK_ERR_TIMEOUT], 1);
		reason(c, TCPACK_CLOSE_IDLE);
		log_conn(c, LOG_INFO, "idle for %llu ms, closing",
			 (unsigned long long)c->cfg->idle_timeout_ms);
	} else {
		return false;
	}
	c->phase = TCPACK_CONN_DONE;
	c->timed_out = true;
	return true;
}

void tcpack_conn_drain(struct tcpack_conn *c)
{
	if (c->draining)
		return;
	c->draining = true;
	c->drain_ms = *c->clock;
	if (c->phase != TCPACK_CONN_OPEN)
		return;
	/*
	 * Nothing received yet: its first message may be on its way (the
	 * client connected, so it was accepted, and sent at once). It is
	 * answered, then the connection finishes (tcpack_conn_input()).
	 */
	if (!c->bytes_in)
		return;
	/* Line mode goes on until the client pauses: drain_deadline(). */
	if (c->cfg->mode == TCPACK_MODE_LINE)
		return;
	finish(c);
}

void tcpack_conn_abort(struct tcpack_conn *c)
{
	if (c->phase != TCPACK_CONN_CLOSED)
		end(c, TCPACK_CLOSE_DRAIN);
}

size_t tcpack_conn_pending(const struct tcpack_conn *c)
{
	return c->lent + buf_used(&c->tx) + buf_used(&c->queue);
}

size_t tcpack_conn_output(struct tcpack_conn *c, const uint8_t **ret)
{
	if (!buf_used(&c->tx) && buf_used(&c->queue)) {
		struct tcpack_buf t = c->tx;

		c->tx = c->queue;
		c->queue = t;
		c->queue.len = c->queue.off = 0;
	}
	*ret = c->tx.data ? c->tx.data + c->tx.off : NULL;	/* NULL + 0 is undefined in C */
	return buf_used(&c->tx);
}

void tcpack_conn_sent(struct tcpack_conn *c, size_t n)
{
	c->none_unread = false;		/* time passed: ask again before a close */
	count_out(c, n);
	c->tx.off += n;
	if (buf_used(&c->tx))
		return;
	c->tx.off = c->tx.len = 0;
	if (c->tx.cap > BUF_KEEP)
		buf_free(&c->tx);	/* give back what a burst needed */
	if (!tcpack_conn_pending(c))
		exchange_done(c);

	/* Drained below the limit: go on with what was held back, in place. */
	if (buf_used(&c->stash) && tcpack_conn_pending(c) < c->cfg->max_pending &&
	    (c->phase == TCPACK_CONN_OPEN || c->phase == TCPACK_CONN_PEER_DONE)) {
		enum tcpack_conn_phase was = c->phase;
		size_t held = buf_used(&c->stash), rest;

		c->phase = TCPACK_CONN_OPEN;
		rest = line_input(c, c->stash.data + c->stash.off, held, true);
		if (rest)
			c->stash.off += held - rest;
		else
			buf_free(&c->stash);
		line_drained(c);
		if (was == TCPACK_CONN_PEER_DONE && c->phase == TCPACK_CONN_OPEN) {
			if (buf_used(&c->stash))
				c->phase = TCPACK_CONN_PEER_DONE;
			else
				tcpack_conn_eof(c);
		}
	}
}

void tcpack_conn_none_unread(struct tcpack_conn *c)
{
	c->none_unread = true;
}

void tcpack_conn_unread_unknown(struct tcpack_conn *c)
{
	c->none_unread = false;
}

void tcpack_conn_send_closing(struct tcpack_conn *c, size_t n)
{
	count_out(c, n);
	c->tx.off += n;		/* sent, and kept in place for the send to read */
	exchange_done(c);
	tcpack_conn_closing(c);
}

void tcpack_conn_send_close_failed(struct tcpack_conn *c, int err)
{
	tcpack_stat_add(&c->stats->errors[TCPACK_ERR_SEND], 1);
	log_conn(c, err == -ECONNRESET || err == -EPIPE ? LOG_INFO : LOG_NOTICE,
		 "send failed: %s", strerror(-err));
}

bool tcpack_conn_wants_input(const struct tcpack_conn *c)
{
	switch (c->phase) {
	case TCPACK_CONN_OPEN:
		return !buf_used(&c->stash) && tcpack_conn_pending(c) < c->cfg->max_pending;
	case TCPACK_CONN_FINISHING:
		/*
		 * Read and discard, so closing never resets; but a oneshot
		 * exchange that may close at once (tcpack_conn_next()) reads
		 * nothing more: unread bytes make it linger instead.
		 */
		return !oneshot_answered_alone(c);
	case TCPACK_CONN_LINGER:
		return true;	/* read and discard, so closing never resets */
	default:
		return false;
	}
}

void tcpack_conn_shut(struct tcpack_conn *c)
{
	if (c->phase == TCPACK_CONN_FINISHING) {
		c->phase = TCPACK_CONN_LINGER;
		c->linger_start_ms = *c->clock;
	}
}
