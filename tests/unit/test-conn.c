// SPDX-License-Identifier: MIT
/*
 * The connection state machine, driven the way an engine drives it but
 * without one: bytes in, owed bytes out, phases.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn-fixture.h"
#include "tcpack/config.h"
#include "tcpack/conn.h"
#include "tcpack/log.h"

static struct conn_fixture *setup_mode(enum tcpack_mode mode)
{
	struct conn_fixture *f = malloc(sizeof(*f));

	assert_non_null(f);
	conn_fixture_config(f, mode);
	memcpy(f->cfg.reply, "ACK\n", 4);
	f->cfg.reply_len = 4;
	tcpack_log_setup(LOG_ERR, 0);	/* quiet */
	conn_fixture_open(f);
	return f;
}

static void teardown_fixture(struct conn_fixture *f)
{
	conn_fixture_close(f);
	assert_int_equal(tcpack_stat_get(&f->stats.conns_now), 0);
	free(f);
}

static void feed(struct tcpack_conn *c, const char *s)
{
	tcpack_conn_input(c, (const uint8_t *)s, strlen(s));
}

/* Everything owed, as an engine would send it in any number of pieces. */
static size_t drain_all(struct tcpack_conn *c, char *out, size_t cap, size_t piece)
{
	size_t total = 0;

	for (;;) {
		const uint8_t *p;
		size_t n = tcpack_conn_output(c, &p);

		if (!n)
			return total;
		if (n > piece)
			n = piece;
		assert_true(total + n <= cap);
		memcpy(out + total, p, n);
		total += n;
		tcpack_conn_sent(c, n);
	}
}

/* A PROXY v2 header for TCP over IPv4 from 192.0.2.7:4242 to 192.0.2.1:80. */
static const uint8_t proxy_v2[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 7, 192, 0, 2, 1, 0x10, 0x92, 0x00, 0x50,
};

static void proxy_header_then_message_in_any_pieces(void **state)
{
	uint8_t in[sizeof(proxy_v2) + 5];

	memcpy(in, proxy_v2, sizeof(proxy_v2));
	memcpy(in + sizeof(proxy_v2), "hello", 5);
	for (size_t split = 0; split <= sizeof(in); split++) {
		struct conn_fixture *f = setup_mode(TCPACK_MODE_ONESHOT);
		const struct sockaddr_in *peer;
		char out[16];

		assert_int_equal(tcpack_conn_expect_proxy(&f->conn, TCPACK_PROXY_V2), 0);
		/* The header's own deadline: message-timeout from the accept. */
		assert_int_equal(tcpack_conn_deadline(&f->conn), f->now + f->cfg.message_timeout_ms);
		assert_false(tcpack_conn_input_lent(&f->conn, 1));
		tcpack_conn_input(&f->conn, in, split);
		tcpack_conn_input(&f->conn, in + split, sizeof(in) - split);
		assert_int_equal(f->conn.phase, TCPACK_CONN_FINISHING);
		assert_int_equal(drain_all(&f->conn, out, sizeof(out), 16), 4);
		/* The header is no client data; the client is the header's. */
		assert_int_equal(STAT_SUM(f->stats.bytes_in), 5);
		assert_int_equal(STAT_SUM(f->stats.messages), 1);
		assert_false(f->conn.check);
		peer = (const struct sockaddr_in *)tcpack_conn_peer(&f->conn);
		assert_non_null(peer);
		assert_int_equal(peer->sin_family, AF_INET);
		assert_int_equal(ntohl(peer->sin_addr.s_addr), 0xc0000207);
		assert_int_equal(ntohs(peer->sin_port), 4242);
		teardown_fixture(f);
	}
}

static void proxy_header_invalid_or_late_closes_unanswered(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ONESHOT);
	const uint8_t *p;

	assert_int_equal(tcpack_conn_expect_proxy(&f->conn, TCPACK_PROXY_V2), 0);
	feed(&f->conn, "GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(f->conn.phase, TCPACK_CONN_DONE);
	assert_int_equal(tcpack_conn_output(&f->conn, &p), 0);
	assert_int_equal(STAT_SUM(f->stats.errors), 1);
	assert_int_equal(STAT_SUM(f->stats.messages), 0);
	teardown_fixture(f);

	f = setup_mode(TCPACK_MODE_LINE);
	assert_int_equal(tcpack_conn_expect_proxy(&f->conn, TCPACK_PROXY_V2), 0);
	tcpack_conn_input(&f->conn, proxy_v2, 10);
	f->now += f->cfg.message_timeout_ms;
	assert_true(tcpack_conn_timeout(&f->conn));
	assert_int_equal(f->conn.phase, TCPACK_CONN_DONE);
	assert_int_equal(tcpack_conn_output(&f->conn, &p), 0);
	teardown_fixture(f);
}

static void proxy_v2_local_is_a_check_that_keeps_its_own_peer(void **state)
{
	static const uint8_t local[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x20, 0x00, 0x00, 0x00,
	};
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ONESHOT);

	assert_int_equal(tcpack_conn_expect_proxy(&f->conn, TCPACK_PROXY_ANY), 0);
	tcpack_conn_input(&f->conn, local, sizeof(local));
	assert_true(f->conn.check);
	assert_int_equal(f->conn.phase, TCPACK_CONN_OPEN);
	assert_null(tcpack_conn_via(&f->conn));
	/* The check's deadline is the idle one again, no longer the header's. */
	assert_int_equal(tcpack_conn_deadline(&f->conn), f->now + f->cfg.idle_timeout_ms);
	/* Checks end with a reset: no error of anyone's. */
	tcpack_conn_error(&f->conn, -ECONNRESET, "receive");
	assert_int_equal(STAT_SUM(f->stats.errors), 0);
	assert_int_equal(f->conn.phase, TCPACK_CONN_DONE);
	teardown_fixture(f);
}

static void oneshot_replies_once_then_finishes(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ONESHOT);
	char out[64];

	feed(&f->conn, "hello");
	assert_int_equal(f->conn.phase, TCPACK_CONN_FINISHING);
	feed(&f->conn, "more");	/* discarded */
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 64), 4);
	assert_memory_equal(out, "ACK\n", 4);
	assert_true(tcpack_conn_wants_input(&f->conn));	/* keeps reading to linger */
	tcpack_conn_shut(&f->conn);
	assert_int_equal(f->conn.phase, TCPACK_CONN_LINGER);
	assert_int_equal(tcpack_conn_deadline(&f->conn), f->now + TCPACK_LINGER_MS);
	f->now += TCPACK_LINGER_MS - 1;
	assert_false(tcpack_conn_timeout(&f->conn));
	assert_int_equal(f->conn.phase, TCPACK_CONN_LINGER);
	tcpack_conn_eof(&f->conn);
	assert_int_equal(f->conn.phase, TCPACK_CONN_DONE);
	assert_int_equal(STAT_SUM(f->stats.messages), 1);
	assert_int_equal(STAT_SUM(f->stats.bytes_in), 9);
	assert_int_equal(STAT_SUM(f->stats.bytes_out), 4);
	teardown_fixture(f);
}

static void oneshot_eof_without_data_sends_nothing(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ONESHOT);
	const uint8_t *p;

	tcpack_conn_eof(&f->conn);
	assert_int_equal(f->conn.phase, TCPACK_CONN_PEER_DONE);
	assert_int_equal(tcpack_conn_output(&f->conn, &p), 0);
	assert_false(tcpack_conn_wants_input(&f->conn));
	teardown_fixture(f);
}

/*
 * Nothing left unread after the message: the reply goes with the close
 * behind it (SEND_CLOSE), and the bytes stay in place for the send.
 */
static void oneshot_sends_and_closes_in_one_step_when_nothing_is_unread(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ONESHOT);
	const uint8_t *p;

	feed(&f->conn, "hello");
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND);	/* not known yet */
	tcpack_conn_none_unread(&f->conn);
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND_CLOSE);
	assert_false(tcpack_conn_wants_input(&f->conn));
	assert_int_equal(tcpack_conn_output(&f->conn, &p), 4);
	tcpack_conn_send_closing(&f->conn, 4);
	assert_int_equal(f->conn.phase, TCPACK_CONN_CLOSED);
	assert_int_equal(tcpack_conn_pending(&f->conn), 0);
	assert_memory_equal(p, "ACK\n", 4);	/* still there for the send */
	assert_int_equal(STAT_SUM(f->stats.bytes_out), 4);
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_WAIT);
	tcpack_conn_send_close_failed(&f->conn, -ECONNRESET);
	assert_int_equal(STAT_SUM(f->stats.errors), 1);
	tcpack_conn_deinit(&f->conn);
	free(f);
}

/* Anything after the message, a large reply or another mode: no SEND_CLOSE. */
static void send_close_only_for_a_small_reply_with_nothing_after(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ONESHOT);

	feed(&f->conn, "hello");
	tcpack_conn_none_unread(&f->conn);
	feed(&f->conn, "late");		/* arrived in the same batch: forgets it */
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND);
	tcpack_conn_none_unread(&f->conn);
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND);	/* input came after */
	teardown_fixture(f);

	/* A reply that could not go at once: what the receive said is stale. */
	f = setup_mode(TCPACK_MODE_ONESHOT);
	feed(&f->conn, "hello");
	tcpack_conn_none_unread(&f->conn);
	tcpack_conn_unread_unknown(&f->conn);
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND);
	tcpack_conn_none_unread(&f->conn);
	tcpack_conn_sent(&f->conn, 1);		/* a short send */
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND);
	teardown_fixture(f);

	f = malloc(sizeof(*f));
	assert_non_null(f);
	conn_fixture_config(f, TCPACK_MODE_ONESHOT);
	memset(f->cfg.reply, 'r', TCPACK_SEND_CLOSE_MAX + 1);
	f->cfg.reply_len = TCPACK_SEND_CLOSE_MAX + 1;
	conn_fixture_open(f);
	feed(&f->conn, "hello");
	tcpack_conn_none_unread(&f->conn);
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND);
	teardown_fixture(f);

	f = setup_mode(TCPACK_MODE_LINE);
	feed(&f->conn, "a\n");
	tcpack_conn_none_unread(&f->conn);
	assert_int_equal(tcpack_conn_next(&f->conn), TCPACK_CONN_NEXT_SEND);
	teardown_fixture(f);
}

static void line_pipelined_replies_in_one_output(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	const uint8_t *p;

	feed(&f->conn, "a\nb\r\n\nc");
	assert_int_equal(tcpack_conn_output(&f->conn, &p), 12);
	assert_memory_equal(p, "ACK\nACK\nACK\n", 12);
	assert_int_equal(STAT_SUM(f->stats.messages), 3);
	assert_int_equal(tcpack_line_pending(&f->conn.line), 1);
	teardown_fixture(f);
}

static void line_split_one_byte_at_a_time(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	const char *in = "hello\r\nworld\n\n";
	char out[64];

	for (const char *s = in; *s; s++)
		tcpack_conn_input(&f->conn, (const uint8_t *)s, 1);
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 1), 12);
	assert_int_equal(STAT_SUM(f->stats.messages), 3);
	teardown_fixture(f);
}

static void line_too_long_keeps_earlier_replies(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	char out[64];

	f->cfg.max_message = 4;
	feed(&f->conn, "1234\nabcde\nnever\n");
	assert_int_equal(f->conn.phase, TCPACK_CONN_FINISHING);
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 3), 4 + 19);
	assert_memory_equal(out, "ACK\nERR line too long\r\n", 23);
	assert_int_equal(STAT_SUM(f->stats.messages), 1);
	assert_int_equal(STAT_SUM(f->stats.errors), 1);
	teardown_fixture(f);
}

static void line_half_close_still_gets_replies(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	char out[64];

	feed(&f->conn, "x\ny\npartial");
	tcpack_conn_eof(&f->conn);
	assert_int_equal(f->conn.phase, TCPACK_CONN_PEER_DONE);
	assert_false(tcpack_conn_wants_input(&f->conn));
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 64), 8);
	teardown_fixture(f);
}

/*
 * A client that sends without reading: past max-pending the connection
 * stops asking for input and holds back what already arrived, then
 * answers all of it, in order, as the output drains.
 */
static void line_backpressure_holds_input_and_loses_nothing(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	enum { LINES = 5000 };
	static char in[LINES * 2], out[LINES * 4];

	f->cfg.max_pending = 4096;
	for (int i = 0; i < LINES; i++)
		memcpy(in + 2 * i, "z\n", 2);
	tcpack_conn_input(&f->conn, (const uint8_t *)in, sizeof(in));
	assert_false(tcpack_conn_wants_input(&f->conn));
	assert_true(tcpack_conn_pending(&f->conn) <= f->cfg.max_pending + f->cfg.reply_len);
	assert_true(STAT_SUM(f->stats.messages) < LINES);

	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 1000), LINES * 4);
	assert_int_equal(STAT_SUM(f->stats.messages), LINES);
	assert_true(tcpack_conn_wants_input(&f->conn));
	for (int i = 0; i < LINES; i++)
		assert_memory_equal(out + 4 * i, "ACK\n", 4);
	teardown_fixture(f);
}

static void line_input_after_stash_keeps_order(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	static char in[3000 * 2], out[4 * 3001 + 64];
	size_t n;

	f->cfg.max_pending = 4096;
	for (int i = 0; i < 3000; i++)
		memcpy(in + 2 * i, "q\n", 2);
	tcpack_conn_input(&f->conn, (const uint8_t *)in, sizeof(in));
	/* Already in flight when the engine paused reading: must queue behind. */
	feed(&f->conn, "last");
	feed(&f->conn, "\n");
	tcpack_conn_eof(&f->conn);
	n = drain_all(&f->conn, out, sizeof(out), 4096);
	assert_int_equal(n, 3001 * 4);
	assert_int_equal(STAT_SUM(f->stats.messages), 3001);
	assert_int_equal(f->conn.phase, TCPACK_CONN_PEER_DONE);
	teardown_fixture(f);
}

static void echo_returns_every_byte_and_pauses(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ECHO);
	static uint8_t in[10000], out[10000];

	f->cfg.max_pending = 4096;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	tcpack_conn_input(&f->conn, in, 3000);
	assert_true(tcpack_conn_wants_input(&f->conn));
	tcpack_conn_input(&f->conn, in + 3000, 7000);
	assert_false(tcpack_conn_wants_input(&f->conn));
	assert_int_equal(drain_all(&f->conn, (char *)out, sizeof(out), 777), sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	assert_true(tcpack_conn_wants_input(&f->conn));
	teardown_fixture(f);
}

/*
 * Echo without a copy: bytes the engine lends count as received and owed,
 * and whatever of them the socket did not take goes out before anything
 * received after them.
 */
static void echo_lent_bytes_go_first_and_count_as_owed(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ECHO);
	static const char lent[] = "0123456789abcdef";
	char out[64];

	f->cfg.max_pending = 24;
	assert_true(tcpack_conn_input_lent(&f->conn, 10));
	assert_true(tcpack_conn_input_lent(&f->conn, 6));	/* right after the first */
	assert_int_equal(tcpack_conn_pending(&f->conn), 16);
	assert_int_equal(f->conn.bytes_in, 16);
	assert_true(tcpack_conn_wants_input(&f->conn));
	feed(&f->conn, "XYZ");			/* copied, queued behind the lent bytes */
	assert_false(tcpack_conn_input_lent(&f->conn, 4));	/* never ahead of a copy */
	feed(&f->conn, "UVWXY");
	assert_int_equal(tcpack_conn_pending(&f->conn), 24);
	assert_false(tcpack_conn_wants_input(&f->conn));	/* lent bytes count to max-pending */

	tcpack_conn_lent_sent(&f->conn, (const uint8_t *)lent, 7);	/* a short send */
	assert_int_equal(f->conn.lent, 0);
	assert_int_equal(f->conn.bytes_out, 7);
	assert_int_equal(tcpack_conn_pending(&f->conn), 17);
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 5), 17);
	assert_memory_equal(out, "789abcdefXYZUVWXY", 17);
	assert_int_equal(f->conn.bytes_out, 24);
	assert_true(tcpack_conn_wants_input(&f->conn));

	/* Nothing owed again: lending resumes; a send the socket refused keeps all. */
	assert_true(tcpack_conn_input_lent(&f->conn, 4));
	tcpack_conn_lent_sent(&f->conn, (const uint8_t *)"wxyz", 0);
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 64), 4);
	assert_memory_equal(out, "wxyz", 4);
	teardown_fixture(f);
}

/* Lending is for echo while the connection is open; nothing changes otherwise. */
static void lending_refused_outside_open_echo(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);

	assert_false(tcpack_conn_input_lent(&f->conn, 5));
	assert_int_equal(f->conn.bytes_in, 0);
	teardown_fixture(f);
	f = setup_mode(TCPACK_MODE_ECHO);
	feed(&f->conn, "abc");
	assert_false(tcpack_conn_input_lent(&f->conn, 5));	/* output owed already */
	assert_int_equal(f->conn.bytes_in, 3);
	teardown_fixture(f);
	f = setup_mode(TCPACK_MODE_ECHO);
	tcpack_conn_eof(&f->conn);
	assert_false(tcpack_conn_input_lent(&f->conn, 5));
	teardown_fixture(f);
}

/*
 * Feed @c receives of @piece bytes from @in, the way an engine does: while
 * it wants input, then up to recv_burst bytes more counting from the
 * receive that turned it off. Returns the bytes fed.
 */
static size_t feed_burst(struct tcpack_conn *c, const uint8_t *in, size_t len, size_t piece)
{
	size_t off = 0, burst = 0;
	bool over = false;

	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;

		if (!over && !tcpack_conn_wants_input(c))
			return off;
		if (over && burst + n > c->recv_burst)
			return off;
		tcpack_conn_input(c, in + off, n);
		off += n;
		if (!over && !tcpack_conn_wants_input(c))
			over = true;
		if (over)
			burst += n;
	}
	return off;
}

/*
 * Held-back input and owed output never take more memory than the bounds
 * of the worst-case formula: each output buffer at most P + L - 1, the
 * held-back input at most the engine's burst, the kept head of a line at
 * most log-data-max; and input resumed in place keeps its order.
 */
static void line_buffers_never_grow_past_their_bounds(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	enum { LINES = 20000 };
	static char in[LINES * 2], out[LINES * 4];
	size_t fed = 0, got = 0, out_max;

	f->cfg.max_pending = 4096;
	f->cfg.log_data_max = 100;
	f->conn.recv_burst = 8191;	/* io_uring: min(P, 16 Bs) + Bs - 1 at Bs = 4096 */
	out_max = f->cfg.max_pending + f->cfg.error_reply_len - 1;	/* error-reply is the longer */
	for (int i = 0; i < LINES; i++)
		memcpy(in + 2 * i, i % 2 ? "a\n" : "b\n", 2);
	while (fed < sizeof(in)) {
		const uint8_t *p;
		size_t n;

		fed += feed_burst(&f->conn, (const uint8_t *)in + fed, sizeof(in) - fed, 1500);
		assert_true(f->conn.stash.cap <= f->conn.recv_burst);
		assert_true(f->conn.tx.cap <= out_max && f->conn.queue.cap <= out_max);
		/* Drain a little at a time: held-back input resumes in place. */
		for (int k = 0; k < 3 && (n = tcpack_conn_output(&f->conn, &p)); k++) {
			n = n > 1000 ? 1000 : n;
			memcpy(out + got, p, n);
			got += n;
			tcpack_conn_sent(&f->conn, n);
		}
		assert_true(f->conn.stash.cap <= f->conn.recv_burst);
	}
	assert_true(f->conn.held_max > 0 && f->conn.held_max <= f->conn.recv_burst);
	got += drain_all(&f->conn, out + got, sizeof(out) - got, 1000);
	assert_int_equal(got, LINES * 4);
	assert_int_equal(STAT_SUM(f->stats.messages), LINES);

	feed(&f->conn, "an unfinished line longer than log-data-max: ");
	feed(&f->conn, "0123456789012345678901234567890123456789012345678901234567890123456789");
	assert_true(f->conn.partial.cap <= f->cfg.log_data_max);
	teardown_fixture(f);
}

static void echo_output_never_grows_past_its_bound(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ECHO);
	static uint8_t in[1 << 20], out[1 << 20];
	size_t fed = 0, got = 0, out_max;

	f->cfg.max_pending = 4096;
	f->conn.recv_burst = 8191;
	out_max = f->cfg.max_pending - 1 + f->conn.recv_burst;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 13 + 5);
	while (fed < sizeof(in)) {
		fed += feed_burst(&f->conn, in + fed, sizeof(in) - fed, 3000);
		assert_true(tcpack_conn_pending(&f->conn) <= out_max);
		assert_true(f->conn.tx.cap <= out_max && f->conn.queue.cap <= out_max);
		got += drain_all(&f->conn, (char *)out + got, sizeof(out) - got, 3000);
	}
	assert_int_equal(got, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	teardown_fixture(f);
}

/* A connection that once owed a lot gives the memory back once it is sent. */
static void large_output_buffer_is_freed_once_drained(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ECHO);
	static uint8_t in[256 * 1024], out[256 * 1024];

	tcpack_conn_input(&f->conn, in, sizeof(in));
	assert_int_equal(drain_all(&f->conn, (char *)out, sizeof(out), 100000), sizeof(in));
	assert_int_equal(f->conn.tx.cap + f->conn.queue.cap, 0);

	tcpack_conn_input(&f->conn, in, 1000);	/* small ones are kept for reuse */
	assert_int_equal(drain_all(&f->conn, (char *)out, sizeof(out), 100000), 1000);
	assert_true(f->conn.tx.cap + f->conn.queue.cap > 0);
	teardown_fixture(f);
}

static void discard_sends_nothing(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_DISCARD);
	const uint8_t *p;

	feed(&f->conn, "anything\n at all");
	assert_int_equal(tcpack_conn_output(&f->conn, &p), 0);
	assert_int_equal(STAT_SUM(f->stats.bytes_in), 16);
	assert_true(tcpack_conn_wants_input(&f->conn));
	teardown_fixture(f);
}

static void output_range_is_stable_while_more_is_queued(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_ECHO);
	const uint8_t *p, *p2;
	size_t n;

	feed(&f->conn, "first");
	n = tcpack_conn_output(&f->conn, &p);
	assert_int_equal(n, 5);
	feed(&f->conn, "second, much longer, to force the queue to grow past its first size");
	assert_memory_equal(p, "first", 5);	/* unchanged while "in flight" */
	tcpack_conn_sent(&f->conn, 2);
	assert_int_equal(tcpack_conn_output(&f->conn, &p2), 3);
	assert_memory_equal(p2, "rst", 3);
	teardown_fixture(f);
}

static void drain_finishes_idle_and_waits_for_a_line_under_way(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	struct conn_fixture *g = setup_mode(TCPACK_MODE_LINE);
	char out[16];

	feed(&f->conn, "one\n");	/* answered: idle between messages */
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 16), 4);
	tcpack_conn_drain(&f->conn);
	/* Answered on until it pauses: lines sent back to back are all owed. */
	assert_int_equal(f->conn.phase, TCPACK_CONN_OPEN);
	assert_int_equal(tcpack_conn_deadline(&f->conn), f->now + TCPACK_DRAIN_QUIET_MS);
	f->now += TCPACK_DRAIN_QUIET_MS - 1;
	feed(&f->conn, "two\n");
	assert_int_equal(f->conn.phase, TCPACK_CONN_OPEN);
	assert_int_equal(drain_all(&f->conn, out, sizeof(out), 16), 4);
	assert_false(tcpack_conn_timeout(&f->conn));	/* not quiet yet */
	f->now += TCPACK_DRAIN_QUIET_MS;
	assert_true(tcpack_conn_timeout(&f->conn));
	assert_int_equal(f->conn.phase, TCPACK_CONN_FINISHING);
	assert_int_equal(STAT_SUM(f->stats.errors), 0);

	/* A line under way has no drain deadline; once it ends, the quiet one runs. */
	feed(&g->conn, "half");
	tcpack_conn_drain(&g->conn);
	assert_int_equal(g->conn.phase, TCPACK_CONN_OPEN);
	assert_int_equal(tcpack_conn_deadline(&g->conn), g->now + g->cfg.message_timeout_ms);
	feed(&g->conn, " done\n");
	assert_int_equal(drain_all(&g->conn, out, sizeof(out), 16), 4);
	assert_int_equal(tcpack_conn_deadline(&g->conn), g->now + TCPACK_DRAIN_QUIET_MS);
	teardown_fixture(f);
	teardown_fixture(g);
}

/* A client that never pauses is answered for TCPACK_DRAIN_MAX_MS, then up to the line under way. */
static void drain_ends_a_client_that_never_pauses(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);
	char out[64];

	feed(&f->conn, "a\n");
	tcpack_conn_drain(&f->conn);
	for (unsigned int i = 0; i < 1000; i++) {
		f->now += 10;
		feed(&f->conn, "b\nc");	/* one line ends, the next starts */
		drain_all(&f->conn, out, sizeof(out), 64);
		if (f->now >= f->conn.drain_ms + TCPACK_DRAIN_MAX_MS)
			break;
		assert_int_equal(f->conn.phase, TCPACK_CONN_OPEN);
	}
	/* The first line that ended past the drain's time was the last answered. */
	assert_int_equal(f->conn.phase, TCPACK_CONN_FINISHING);
	assert_int_equal(STAT_SUM(f->stats.messages), 1 + TCPACK_DRAIN_MAX_MS / 10);
	teardown_fixture(f);
}

/*
 * Nothing received yet when the drain begins: the first message may be on
 * its way, and is answered before the connection finishes, in every mode.
 */
static void drain_answers_the_first_message_of_a_fresh_connection(void **state)
{
	static const enum tcpack_mode modes[] = {
		TCPACK_MODE_ONESHOT, TCPACK_MODE_LINE, TCPACK_MODE_ECHO, TCPACK_MODE_DISCARD,
	};
	static const size_t want[] = { 4, 4, 4, 0 };	/* ACK\n, ACK\n, "hi!\n", nothing */

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct conn_fixture *f = setup_mode(modes[i]);
		char out[16];

		tcpack_conn_drain(&f->conn);
		assert_int_equal(f->conn.phase, TCPACK_CONN_OPEN);
		assert_true(tcpack_conn_wants_input(&f->conn));
		feed(&f->conn, "hi!\n");
		if (modes[i] == TCPACK_MODE_LINE) {	/* until the client pauses */
			assert_int_equal(f->conn.phase, TCPACK_CONN_OPEN);
			f->now += TCPACK_DRAIN_QUIET_MS;
			assert_true(tcpack_conn_timeout(&f->conn));
		}
		assert_int_equal(f->conn.phase, TCPACK_CONN_FINISHING);
		assert_int_equal(drain_all(&f->conn, out, sizeof(out), 16), want[i]);
		feed(&f->conn, "more\n");	/* after it: read and dropped */
		assert_int_equal(tcpack_conn_pending(&f->conn), 0);
		teardown_fixture(f);
	}
}

static void timeout_and_error_end_the_connection(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);

	assert_int_equal(tcpack_conn_deadline(&f->conn), f->now + f->cfg.idle_timeout_ms);
	f->now += f->cfg.idle_timeout_ms - 1;
	assert_false(tcpack_conn_timeout(&f->conn));
	f->now += 1;
	assert_true(tcpack_conn_timeout(&f->conn));
	assert_int_equal(f->conn.phase, TCPACK_CONN_DONE);
	assert_int_equal(STAT_SUM(f->stats.errors), 1);
	teardown_fixture(f);

	f = setup_mode(TCPACK_MODE_ECHO);
	tcpack_conn_error(&f->conn, -104, "receive");
	assert_int_equal(f->conn.phase, TCPACK_CONN_DONE);
	assert_false(tcpack_conn_wants_input(&f->conn));
	teardown_fixture(f);
}

/*
 * Slowloris: a line trickled a byte at a time keeps the connection active,
 * so only message-timeout, counted from the message's first byte, ends it.
 */
static void message_timeout_ends_a_trickled_line(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);

	f->cfg.idle_timeout_ms = 10000;
	f->cfg.message_timeout_ms = 3000;
	feed(&f->conn, "done\n");
	assert_int_equal(tcpack_conn_deadline(&f->conn), f->now + 10000);	/* idle only */
	uint64_t start = f->now;
	for (int i = 0; i < 5; i++) {
		feed(&f->conn, "x");	/* one byte a second */
		assert_int_equal(tcpack_conn_deadline(&f->conn), start + 3000);
		if (i < 2)
			assert_false(tcpack_conn_timeout(&f->conn));
		f->now += 1000;
	}
	assert_true(tcpack_conn_timeout(&f->conn));
	assert_int_equal(f->conn.phase, TCPACK_CONN_DONE);
	assert_int_equal(STAT_SUM(f->stats.errors), 1);
	teardown_fixture(f);
}

static void message_timeout_restarts_with_each_message(void **state)
{
	struct conn_fixture *f = setup_mode(TCPACK_MODE_LINE);

	f->cfg.message_timeout_ms = 3000;
	feed(&f->conn, "ab");
	f->now += 2500;
	feed(&f->conn, "c\nde");	/* completes one, starts the next now */
	assert_int_equal(tcpack_conn_deadline(&f->conn), f->now + 3000);
	f->now += 2999;
	assert_false(tcpack_conn_timeout(&f->conn));
	f->cfg.message_timeout_ms = 0;	/* off: only idle remains */
	assert_int_equal(tcpack_conn_deadline(&f->conn), f->conn.active_ms + f->cfg.idle_timeout_ms);
	teardown_fixture(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(oneshot_replies_once_then_finishes),
		cmocka_unit_test(proxy_header_then_message_in_any_pieces),
		cmocka_unit_test(proxy_header_invalid_or_late_closes_unanswered),
		cmocka_unit_test(proxy_v2_local_is_a_check_that_keeps_its_own_peer),
		cmocka_unit_test(oneshot_eof_without_data_sends_nothing),
		cmocka_unit_test(oneshot_sends_and_closes_in_one_step_when_nothing_is_unread),
		cmocka_unit_test(send_close_only_for_a_small_reply_with_nothing_after),
		cmocka_unit_test(line_pipelined_replies_in_one_output),
		cmocka_unit_test(line_split_one_byte_at_a_time),
		cmocka_unit_test(line_too_long_keeps_earlier_replies),
		cmocka_unit_test(line_half_close_still_gets_replies),
		cmocka_unit_test(line_backpressure_holds_input_and_loses_nothing),
		cmocka_unit_test(line_input_after_stash_keeps_order),
		cmocka_unit_test(echo_returns_every_byte_and_pauses),
		cmocka_unit_test(echo_lent_bytes_go_first_and_count_as_owed),
		cmocka_unit_test(lending_refused_outside_open_echo),
		cmocka_unit_test(line_buffers_never_grow_past_their_bounds),
		cmocka_unit_test(echo_output_never_grows_past_its_bound),
		cmocka_unit_test(large_output_buffer_is_freed_once_drained),
		cmocka_unit_test(discard_sends_nothing),
		cmocka_unit_test(output_range_is_stable_while_more_is_queued),
		cmocka_unit_test(drain_finishes_idle_and_waits_for_a_line_under_way),
		cmocka_unit_test(drain_answers_the_first_message_of_a_fresh_connection),
		cmocka_unit_test(drain_ends_a_client_that_never_pauses),
		cmocka_unit_test(timeout_and_error_end_the_connection),
		cmocka_unit_test(message_timeout_ends_a_trickled_line),
		cmocka_unit_test(message_timeout_restarts_with_each_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
