// SPDX-License-Identifier: MIT
/*
 * The whole connection state machine in line mode, driven without an engine
 * the way tests/unit/test-conn.c drives it, by a program the fuzzer writes:
 * receive chunks, start a send of what tcpack_conn_output() offers, finish it
 * short, the peer's EOF, the server's drain, the worker's decision after a
 * batch (tcpack_conn_next(), as both engines take it: shut down writing,
 * close), and the clock moving on. Then the engine's ending: send
 * everything, deliver EOF, until tcpack_conn_next() says close.
 *
 * Checked on the way: a range handed out for sending stays unchanged until
 * it is sent, even while more input arrives; the output owed stays within
 * max-pending plus one reply, and so does each output buffer's capacity. Checked at the end, against a reference framer
 * over every byte received before EOF: the client got exactly one reply per
 * complete line, in order, up to the first too long line, then error-reply
 * once, and nothing else. After a drain, at least every line owed when it
 * began (complete ones, and the one under way if it completed). Only a
 * timeout may lose replies, and even then what was sent is a prefix of that.
 *
 * Echo mode instead (bit 7 of the error-reply length byte): receives come
 * as the engine's flow control allows (while the connection wants input,
 * and up to recv_burst bytes from the receive that turned that off), some
 * of them lent (tcpack_conn_input_lent(): sent from the engine's buffer,
 * maybe short, maybe not at all). Checked: the output is exactly what was
 * received, in order; after a drain at least what was received before it;
 * after a timeout a prefix.
 *
 * reply is lowercase and error-reply uppercase, so the output parses one way.
 * Logging is on at debug level, with a rate limit of one line a second so
 * that every log path runs without flooding the fuzzer's output.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conn-fixture.h"
#include "fuzz-input.h"
#include "tcpack/config.h"
#include "tcpack/conn.h"
#include "tcpack/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* TCPACK_FUZZ_TRACE=1 prints the program an input stands for, to turn a crash into a unit test. */
static int trace = -1;
#define TRACE(...) do { if (trace) fprintf(stderr, "trace: " __VA_ARGS__); } while (0)

struct growing {
	uint8_t *data;
	size_t len, cap;
};

static void append(struct growing *g, const uint8_t *p, size_t n)
{
	if (!n)
		return;		/* a refused send: nothing, and maybe no buffer yet */
	if (g->len + n > g->cap) {
		g->cap = (g->len + n) * 2 + 64;
		g->data = realloc(g->data, g->cap);
		FUZZ_ASSERT(g->data);
	}
	memcpy(g->data + g->len, p, n);
	g->len += n;
}

/* SEND_CLOSE as an engine carries it out: all of the output, then closed. */
static void send_close(struct tcpack_conn *c, struct growing *out)
{
	const uint8_t *p;
	size_t n = tcpack_conn_output(c, &p);

	FUZZ_ASSERT(n && n == tcpack_conn_pending(c) && n <= TCPACK_SEND_CLOSE_MAX && !c->lent);
	tcpack_conn_send_closing(c, n);
	FUZZ_ASSERT(c->phase == TCPACK_CONN_CLOSED && tcpack_conn_pending(c) == 0);
	append(out, p, n);	/* the bytes are still there for the send */
	TRACE("sent %zu and closed\n", n);
}

struct reference {
	size_t complete;	/* lines ending in '\n' */
	size_t too_long;	/* index of the first too long line; SIZE_MAX: none */
};

/* Frame @n bytes of @s the simple way: split at '\n', measure each line. */
static struct reference frame(const uint8_t *s, size_t n, size_t max)
{
	struct reference r = { 0, SIZE_MAX };
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		size_t m;

		if (s[i] != '\n')
			continue;
		m = i - start;
		if (m && s[i - 1] == '\r')
			m--;
		if (m > max && r.too_long == SIZE_MAX)
			r.too_long = r.complete;
		r.complete++;
		start = i + 1;
	}
	/* An unfinished line is too long once it is known to be: a last '\r' may still be its ending. */
	if (r.too_long == SIZE_MAX && n - start > max + (n > start && s[n - 1] == '\r'))
		r.too_long = r.complete;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	static struct conn_fixture f;
	struct tcpack_config *cfg = &f.cfg;
	struct tcpack_stats *stats = &f.stats;
	struct tcpack_conn *c = &f.conn;
	struct growing stream = { 0 }, out = { 0 }, lent = { 0 };
	const uint8_t *tx = NULL;
	uint8_t *tx_copy = NULL;
	size_t tx_len = 0, max_extra, pos, k;
	bool sending = false, eof_seen = false, closed = false, timed_out = false;
	bool drained = false, under_way_at_drain = false, echo, sending_lent = false;
	size_t burst = 0, stream_at_drain = 0;
	size_t first_after_drain = 0;	/* a connection fresh at the drain: its first input */
	bool first_seen = false;
	struct reference ref, at_drain = { 0 };
	uint8_t b;

	conn_fixture_config(&f, TCPACK_MODE_LINE);
	cfg->max_message = 1 + fuzz_u8(&in);
	b = fuzz_u8(&in);
	cfg->reply_len = b < 240 ? 1 + b % 16 : (size_t)(b - 239) * 256;	/* up to 4096 */
	for (size_t i = 0; i < cfg->reply_len; i++)
		cfg->reply[i] = (uint8_t)('a' + i % 26);
	b = fuzz_u8(&in);
	cfg->error_reply_len = b % 32;	/* may be empty */
	echo = b & 0x80;
	cfg->mode = echo ? TCPACK_MODE_ECHO : TCPACK_MODE_LINE;
	for (size_t i = 0; i < cfg->error_reply_len; i++)
		cfg->error_reply[i] = (uint8_t)('A' + i % 26);
	cfg->max_pending = 4096 + (size_t)fuzz_u8(&in) * 16;	/* the smallest allowed, and up */
	cfg->log_data_max = fuzz_u8(&in);
	cfg->idle_timeout_ms = (uint64_t)fuzz_u8(&in) * 100;
	cfg->message_timeout_ms = (uint64_t)fuzz_u8(&in) * 100;
	max_extra = cfg->reply_len > cfg->error_reply_len ? cfg->reply_len : cfg->error_reply_len;
	if (echo)
		max_extra = 1000;	/* recv_burst, below */

	if (trace < 0)
		trace = getenv("TCPACK_FUZZ_TRACE") != NULL;
	TRACE("%s: max_message %zu reply_len %zu error_reply_len %zu max_pending %zu log_data_max %zu idle %llu message %llu\n",
	      echo ? "echo" : "line", cfg->max_message, cfg->reply_len, cfg->error_reply_len,
	      cfg->max_pending, cfg->log_data_max,
	      (unsigned long long)cfg->idle_timeout_ms, (unsigned long long)cfg->message_timeout_ms);
	tcpack_log_setup(LOG_DEBUG, 1);
	conn_fixture_open(&f);
	/*
	 * The engine's promise on input past max-pending; receives here come
	 * whenever the fuzzer says, so held-back input may outgrow it too.
	 */
	c->recv_burst = 1000;

	while (fuzz_left(&in) && !closed) {
		uint8_t op = fuzz_u8(&in) % 16;

		if (op <= 5) {			/* a receive completes */
			size_t n;
			uint8_t *p = fuzz_bytes(&in, 1 + (size_t)fuzz_u8(&in), &n);

			bool want = tcpack_conn_wants_input(c);

			/* Echo: the engine's flow control decides whether it arrives. */
			if (echo && n && !eof_seen && !want && burst + n > c->recv_burst)
				n = 0;
			if (echo && n && !eof_seen)
				burst = want ? n : burst + n;
			if (n && !eof_seen && echo && op >= 3 && !sending &&
			    tcpack_conn_input_lent(c, n)) {
				append(&stream, p, n);
				append(&lent, p, n);
				TRACE("input %zu bytes, lent (%zu lent)\n", n, lent.len);
			} else if (n && !eof_seen) {
				TRACE("input %zu bytes: \"", n);
				for (size_t i = 0; trace && i < n; i++)
					fprintf(stderr, p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\' ? "%c" : "\\x%02x", p[i]);
				if (trace)
					fprintf(stderr, "\" (phase %d)\n", c->phase);
				append(&stream, p, n);
				if (drained && !stream_at_drain && !first_seen) {
					first_after_drain = n;
					first_seen = true;
				}
				tcpack_conn_input(c, p, n);
				if (op == 5)	/* the engine saw nothing left unread */
					tcpack_conn_none_unread(c);
			}
			free(p);
		} else if (op <= 7) {		/* the engine starts a send */
			if (!sending && c->lent) {
				tx = lent.data;
				tx_len = lent.len;
				free(tx_copy);
				tx_copy = malloc(tx_len);
				FUZZ_ASSERT(tx_copy);
				memcpy(tx_copy, tx, tx_len);
				sending = sending_lent = true;
				TRACE("send of lent bytes starts: %zu bytes\n", tx_len);
			} else if (!sending && (tx_len = tcpack_conn_output(c, &tx))) {
				free(tx_copy);
				tx_copy = malloc(tx_len);
				FUZZ_ASSERT(tx_copy);
				memcpy(tx_copy, tx, tx_len);
				sending = true;
				TRACE("send starts: %zu bytes\n", tx_len);
			}
		} else if (op <= 10) {		/* ... and it completes, maybe short */
			if (sending && sending_lent) {
				size_t n = fuzz_u16(&in) % (tx_len + 1);	/* 0: EAGAIN */

				FUZZ_ASSERT(memcmp(tx, tx_copy, tx_len) == 0);
				append(&out, tx, n);
				tcpack_conn_lent_sent(c, tx, n);
				lent.len = 0;
				sending = sending_lent = false;
				TRACE("lent sent %zu (phase %d)\n", n, c->phase);
			} else if (sending) {
				size_t n = 1 + fuzz_u16(&in) % tx_len;

				FUZZ_ASSERT(memcmp(tx, tx_copy, tx_len) == 0);
				append(&out, tx, n);
				tcpack_conn_sent(c, n);
				sending = false;
				TRACE("sent %zu (phase %d)\n", n, c->phase);
			}
		} else if (op == 11) {		/* the peer's EOF (again, for a lingering recv) */
			if (!eof_seen || c->phase == TCPACK_CONN_LINGER) {
				eof_seen = true;
				tcpack_conn_eof(c);
				TRACE("eof (phase %d)\n", c->phase);
			}
		} else if (op == 12) {		/* the server drains */
			if (!drained) {
				drained = true;
				stream_at_drain = stream.len;
				at_drain = frame(stream.data, stream.len, cfg->max_message);
				under_way_at_drain = stream.len && stream.data[stream.len - 1] != '\n';
			}
			tcpack_conn_drain(c);
			TRACE("drain (phase %d)\n", c->phase);
		} else if (op <= 14) {		/* the worker's decision after a batch */
			switch (tcpack_conn_next(c)) {
			case TCPACK_CONN_NEXT_SHUTDOWN:
				FUZZ_ASSERT(!sending);	/* nothing owed, so nothing in flight */
				tcpack_conn_shut(c);
				break;
			case TCPACK_CONN_NEXT_CLOSE:
				closed = true;
				break;
			case TCPACK_CONN_NEXT_SEND_CLOSE:
				if (sending)
					break;	/* the engine waits for its send */
				send_close(c, &out);
				closed = true;
				break;
			case TCPACK_CONN_NEXT_SEND:		/* the ops above start sends */
			case TCPACK_CONN_NEXT_WAIT:
				break;
			}
			TRACE("flush (phase %d)\n", c->phase);
		} else {			/* time passes; the worker's timer fires */
			uint64_t at;

			f.now += (uint64_t)fuzz_u8(&in) * 50;
			at = tcpack_conn_deadline(c);
			if (at && f.now >= at) {
				bool fired = tcpack_conn_timeout(c);

				FUZZ_ASSERT(fired);
				timed_out = c->phase == TCPACK_CONN_DONE;
			}
			TRACE("clock %llu (phase %d)\n", (unsigned long long)f.now, c->phase);
		}
		if (c->phase == TCPACK_CONN_DONE)
			closed = true;
		FUZZ_ASSERT(tcpack_conn_pending(c) < cfg->max_pending + max_extra);
		/* No buffer is ever larger than what it can have to hold. */
		FUZZ_ASSERT(c->tx.cap < cfg->max_pending + max_extra && c->queue.cap < cfg->max_pending + max_extra);
		FUZZ_ASSERT(c->partial.cap <= cfg->log_data_max);
		FUZZ_ASSERT(c->lent == lent.len);
		if (c->phase == TCPACK_CONN_OPEN && tcpack_conn_pending(c) >= cfg->max_pending)
			FUZZ_ASSERT(!tcpack_conn_wants_input(c));
	}

	/* The engine's ending: send all that is owed, deliver EOF, until it would close. */
	for (unsigned int guard = 0; !closed; guard++) {
		const uint8_t *p;
		size_t n;

		FUZZ_ASSERT(guard < 1000000);
		if (c->lent && !sending) {
			tx = lent.data;
			tx_len = lent.len;
			sending = sending_lent = true;
			continue;
		}
		if (sending && sending_lent) {
			append(&out, tx, tx_len);
			tcpack_conn_lent_sent(c, tx, tx_len);
			lent.len = 0;
			sending = sending_lent = false;
			continue;
		}
		if (sending) {
			FUZZ_ASSERT(memcmp(tx, tx_copy, tx_len) == 0);
			append(&out, tx, tx_len);
			tcpack_conn_sent(c, tx_len);
			sending = false;
			continue;
		}
		switch (tcpack_conn_next(c)) {
		case TCPACK_CONN_NEXT_SEND:
			n = tcpack_conn_output(c, &p);
			FUZZ_ASSERT(n);		/* owed, nothing lent: it is all in the output */
			append(&out, p, n);
			tcpack_conn_sent(c, n);
			break;
		case TCPACK_CONN_NEXT_SHUTDOWN:
			tcpack_conn_shut(c);
			break;
		case TCPACK_CONN_NEXT_CLOSE:
			closed = true;
			break;
		case TCPACK_CONN_NEXT_SEND_CLOSE:
			send_close(c, &out);
			closed = true;
			break;
		case TCPACK_CONN_NEXT_WAIT:
			/* Open or lingering: the peer closes. EOF moves an open connection on. */
			FUZZ_ASSERT(c->phase == TCPACK_CONN_OPEN || c->phase == TCPACK_CONN_LINGER);
			if (c->phase == TCPACK_CONN_OPEN)
				FUZZ_ASSERT(!eof_seen);
			eof_seen = true;
			tcpack_conn_eof(c);
			break;
		}
	}
	TRACE("closed: %zu bytes out, %llu messages, timed out %d\n", out.len,
	      (unsigned long long)STAT_SUM(stats->messages), timed_out);
	/* Closed normally: nothing owed, nothing held back. */
	if (!timed_out) {
		FUZZ_ASSERT(tcpack_conn_pending(c) == 0);
		FUZZ_ASSERT(c->stash.len == c->stash.off);
	}

	if (echo) {
		/* Every byte back, in order; after a drain, what came before it. */
		FUZZ_ASSERT(out.len <= stream.len &&
			    (!out.len || memcmp(out.data, stream.data, out.len) == 0));	/* NULL + 0 */
		if (!timed_out)
			FUZZ_ASSERT(out.len == (!drained ? stream.len :
						stream_at_drain ? stream_at_drain : first_after_drain));
		FUZZ_ASSERT(STAT_SUM(stats->bytes_in) == stream.len);
		FUZZ_ASSERT(STAT_SUM(stats->bytes_out) == out.len);
		goto done;
	}

	/* The output: k replies, then error-reply or nothing. */
	for (pos = 0, k = 0; pos + cfg->reply_len <= out.len &&
	     memcmp(out.data + pos, cfg->reply, cfg->reply_len) == 0; pos += cfg->reply_len)
		k++;
	/* A timeout may cut the last reply short. */
	FUZZ_ASSERT(pos == out.len ||
		    (out.len - pos <= cfg->error_reply_len &&
		     memcmp(out.data + pos, cfg->error_reply, out.len - pos) == 0) ||
		    (timed_out && memcmp(out.data + pos, cfg->reply, out.len - pos) == 0));
	bool error_sent = cfg->error_reply_len && out.len - pos == cfg->error_reply_len &&
			  memcmp(out.data + pos, cfg->error_reply, cfg->error_reply_len) == 0;

	ref = frame(stream.data, stream.len, cfg->max_message);
	size_t answerable = ref.too_long < ref.complete ? ref.too_long : ref.complete;

	FUZZ_ASSERT(k <= answerable);
	FUZZ_ASSERT(!error_sent || k == ref.too_long);
	if (!timed_out) {
		/*
		 * Lines owed: all of them; after a drain, those complete when it
		 * began and the one then under way (a connection that had sent
		 * nothing yet: its first). One of them too long ends the answers
		 * there with error-reply.
		 */
		size_t owed = drained ? at_drain.complete + (under_way_at_drain || !stream_at_drain) : SIZE_MAX;

		FUZZ_ASSERT(pos == out.len || error_sent);	/* no cut reply */
		FUZZ_ASSERT(STAT_SUM(stats->messages) == k);
		if (ref.too_long < owed) {
			FUZZ_ASSERT(k == ref.too_long);
			FUZZ_ASSERT(error_sent || !cfg->error_reply_len);
		} else {
			FUZZ_ASSERT(k >= (owed < ref.complete ? owed : ref.complete));
		}
		if (!drained)
			FUZZ_ASSERT(k == answerable);
	}
	FUZZ_ASSERT(STAT_SUM(stats->bytes_in) == stream.len);
	FUZZ_ASSERT(STAT_SUM(stats->bytes_out) == out.len);
done:
	conn_fixture_close(&f);
	FUZZ_ASSERT(tcpack_stat_get(&stats->conns_now) == 0);
	free(tx_copy);
	free(stream.data);
	free(out.data);
	free(lent.data);
	return 0;
}
