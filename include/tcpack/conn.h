/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One client connection: what it has received, what it is owed, and where it
 * is in its life. Engine-neutral: the engine (io_uring loop, or epoll)
 * feeds it bytes and events, and tcpack_conn_next() says what the engine
 * does next; the connection never does I/O itself, except getpeername()
 * for logging, and SO_LINGER (and SIOCOUTQ) when it is closed with replies
 * its peer will never take.
 *
 * Life:  OPEN ──(server is done: oneshot replied, line too long, drain)──▶
 *        FINISHING ──(output sent; engine shuts down writing)──▶ LINGER
 *        ──(peer's EOF, error or linger timeout)──▶ DONE.
 *        OPEN ──(peer's EOF)──▶ PEER_DONE ──(output sent)──▶ DONE.
 *        any ──(error, timeout, forced stop)──▶ DONE
 *        ──(the engine closes the fd: tcpack_conn_closing())──▶ CLOSED.
 * LINGER reads and discards until the peer closes, so closing never meets
 * unread data, which would make the kernel reset the connection and throw
 * away replies still in the send queue. A oneshot exchange skips it when
 * nothing came after the message and nothing waits unread: FINISHING
 * ──(reply sent)──▶ DONE, a close whose FIN follows the reply.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tcpack/config.h"
#include "tcpack/line.h"
#include "tcpack/proxy.h"
#include "tcpack/stats.h"
#include "tcpack/timer.h"

struct tcpack_conn_proxy;

enum tcpack_conn_phase {
	TCPACK_CONN_OPEN,
	TCPACK_CONN_FINISHING,
	TCPACK_CONN_LINGER,
	TCPACK_CONN_PEER_DONE,
	TCPACK_CONN_DONE,	/* close now */
	TCPACK_CONN_CLOSED,	/* the engine is closing it; its slot waits for the engine */
};

/* What the engine does next for a connection: see tcpack_conn_next(). */
enum tcpack_conn_next {
	TCPACK_CONN_NEXT_WAIT,		/* nothing until more I/O completes */
	TCPACK_CONN_NEXT_SEND,		/* send tcpack_conn_output() (or what is lent) */
	TCPACK_CONN_NEXT_SHUTDOWN,	/* shut down writing, then tcpack_conn_shut() */
	TCPACK_CONN_NEXT_CLOSE,		/* close the fd: tcpack_conn_closing() */
	TCPACK_CONN_NEXT_SEND_CLOSE,	/* send tcpack_conn_output() with the close right behind it */
};

struct tcpack_buf {
	uint8_t *data;
	size_t len;
	size_t off;	/* bytes already consumed from the front */
	size_t cap;
};

struct tcpack_conn {
	const struct tcpack_config *cfg;
	struct tcpack_stats *stats;
	int fd;
	enum tcpack_conn_phase phase;

	bool draining;		/* server is stopping: finish after owed replies */
	bool got_message;	/* oneshot: the one message has arrived */
	bool input_after;	/* oneshot: bytes arrived after the message */
	bool none_unread;	/* the engine saw nothing unread after the last input */
	bool timed_out;		/* closed by a timeout, not by the exchange */
	bool check;		/* a balancer's health check (PROXY v2 LOCAL) */
	uint8_t close_reason;	/* enum tcpack_close_reason, once it is decided */
	uint8_t check_kind;	/* enum tcpack_check_kind: came and went without data */
	bool peer_known;
	struct sockaddr_storage peer;	/* the client: the PROXY header's, if one came */
	struct tcpack_conn_proxy *px;	/* the PROXY header expected, and the balancer */

	struct tcpack_line line;
	struct tcpack_buf partial;	/* line: head of an unfinished message, for the log */
	struct tcpack_buf stash;	/* line: input held back while output is over max-pending */
	struct tcpack_buf tx;		/* being sent; stable while a send is in flight */
	struct tcpack_buf queue;	/* appended to while tx is in flight */
	size_t lent;			/* echo: owed bytes the engine sends from its own buffers */

	uint64_t bytes_in, bytes_out, messages;
	struct tcpack_timer timer;
	const uint64_t *clock;		/* the engine's "now", in ms */
	const uint64_t *clock_us;	/* the same in microseconds; NULL: exchanges not timed */
	uint64_t xchg_start_us;		/* first byte in of the exchange under way, 0 = none */
	uint64_t active_ms;		/* last byte received or sent */
	uint64_t msg_start_ms;		/* first byte of the unfinished message, 0 = none */
	uint64_t linger_start_ms;
	uint64_t drain_ms;		/* when the drain began (draining) */

	/* Owned by the worker (worker.h): its slot, and its place in the lists. */
	uint32_t slot, gen;
	bool dirty, deferred;
	uint32_t next_dirty;

	uint32_t held_max;	/* most input held back at once (saturating), for the log */
	/*
	 * Set by the engine before it receives: the most bytes it may hand to
	 * tcpack_conn_input() counting from the receive during which
	 * tcpack_conn_wants_input() turned false until it stops receiving.
	 * Held-back input and echo output are allocated no larger than this
	 * allows. 0: unknown, buffers grow by doubling without a cap.
	 */
	size_t recv_burst;
};

/**
 * tcpack_conn_init() - a freshly accepted connection; @c must be zeroed.
 * @cfg, @stats and @clock (the engine's time in ms, updated as it runs)
 * must outlive the connection.
 */
void tcpack_conn_init(struct tcpack_conn *c, int fd, const struct tcpack_config *cfg,
		      struct tcpack_stats *stats, const uint64_t *clock);

/**
 * tcpack_conn_expect_proxy() - @c came through a listener that expects a
 * PROXY protocol header (@mode V1, V2 or ANY): its first bytes must be
 * one, complete within message-timeout of now, or it is closed without a
 * reply, logged; nothing is guessed. A header that names the client makes
 * it the connection's peer, the balancer logged beside it; v2 LOCAL (and
 * v1 UNKNOWN) keeps the socket's own peer and marks a health check.
 * Return: 0 or -ENOMEM.
 */
int tcpack_conn_expect_proxy(struct tcpack_conn *c, enum tcpack_proxy_mode mode);

/** tcpack_conn_via() - the balancer a PROXY header came through; NULL if none. */
const struct sockaddr *tcpack_conn_via(const struct tcpack_conn *c);

/**
 * tcpack_conn_next() - the connection's decision, the one place where it is
 * taken for every engine: CLOSE once it is DONE (or the peer is done and
 * nothing is owed), SEND while anything is owed (the engine does nothing
 * while its own send is still in flight: the bytes stay owed until
 * tcpack_conn_sent()), SHUTDOWN when the server is finishing and all is
 * sent, WAIT otherwise (and once CLOSED). A oneshot exchange whose reply
 * is sent closes at once instead of shutting down and lingering when no
 * byte came after the message and the socket holds none unread (SIOCINQ):
 * its close sends the FIN after the reply, and there is nothing a reset
 * could be provoked by. When the engine already knows that nothing was
 * left unread (tcpack_conn_none_unread()), the reply and the close go
 * together instead: SEND_CLOSE, for a reply of at most
 * TCPACK_SEND_CLOSE_MAX bytes, all in one range of tcpack_conn_output().
 * Whether to receive is tcpack_conn_wants_input().
 */
enum tcpack_conn_next tcpack_conn_next(const struct tcpack_conn *c);

/*
 * The largest reply sent with its close behind it. A socket's send buffer
 * is never below 4 KiB (SOCK_MIN_SNDBUF), and a connection that has sent
 * nothing yet takes this much at once: the send never waits for the peer.
 */
#define TCPACK_SEND_CLOSE_MAX	2048

/**
 * tcpack_conn_none_unread() - the receive that brought the last input left
 * nothing unread in the socket (io_uring says so with its completion).
 * Forgotten with the next input.
 */
void tcpack_conn_none_unread(struct tcpack_conn *c);

/**
 * tcpack_conn_unread_unknown() - what the last receive said is stale (the
 * engine could not send at once; more may have arrived since): the close
 * after the reply asks the socket again. Also done by tcpack_conn_sent().
 */
void tcpack_conn_unread_unknown(struct tcpack_conn *c);

/**
 * tcpack_conn_send_closing() - SEND_CLOSE: the engine sends all @n bytes of
 * tcpack_conn_output() and closes the fd right behind them, in that order
 * (a send that must go whole, linked to the close). Counts them sent and
 * closes as tcpack_conn_closing() does. The bytes stay where they are until
 * tcpack_conn_deinit(), for the send to read them.
 */
void tcpack_conn_send_closing(struct tcpack_conn *c, size_t n);

/**
 * tcpack_conn_send_close_failed() - the send of SEND_CLOSE failed with
 * -@err (the close went ahead): counted and logged as a failed send is.
 */
void tcpack_conn_send_close_failed(struct tcpack_conn *c, int err);

/**
 * tcpack_conn_closing() - the engine is closing the fd now: log the
 * connection's summary (debug level) while its peer can still be named. A
 * connection that still owes output, or that a timeout closes while the
 * kernel still holds replies for it, is set to reset (SO_LINGER 0) rather
 * than send a FIN its peer, not reading, would never see. The phase
 * becomes CLOSED and the fd is forgotten (set to -1).
 */
void tcpack_conn_closing(struct tcpack_conn *c);

/**
 * tcpack_conn_deinit() - free what the connection holds. Does not close
 * the fd. Safe on a zeroed or already deinitialised conn.
 */
void tcpack_conn_deinit(struct tcpack_conn *c);

/**
 * tcpack_conn_input() - bytes received. Consumes all of @buf (copies what it
 * keeps), appends owed replies to the output, may move the phase on.
 */
void tcpack_conn_input(struct tcpack_conn *c, const uint8_t *buf, size_t len);

/**
 * tcpack_conn_input_lent() - @len bytes received, which the engine offers to
 * send back from its own buffer instead of handing them over: an echo
 * without a copy. Taken only in echo mode while nothing else is owed
 * (no output, or only bytes already lent): the bytes then count as received
 * and as owed (tcpack_conn_pending()), and the engine sends them,
 * straight after the bytes it lent before, and reports with
 * tcpack_conn_lent_sent(). The engine must not lend while a send of lent
 * bytes is in flight.
 * Return: false, changing nothing, when the engine must call
 * tcpack_conn_input() with the bytes instead.
 */
bool tcpack_conn_input_lent(struct tcpack_conn *c, size_t len);

/**
 * tcpack_conn_lent_sent() - the engine sent @n of the lent bytes (@data,
 * c->lent bytes long): the rest is copied into the output, ahead of
 * anything owed after it, and the engine may reuse its buffer.
 */
void tcpack_conn_lent_sent(struct tcpack_conn *c, const uint8_t *data, size_t n);

/** tcpack_conn_eof() - the peer will send nothing more. */
void tcpack_conn_eof(struct tcpack_conn *c);

/**
 * tcpack_conn_error() - a receive or send failed with @err (negative errno);
 * the connection is DONE.
 */
void tcpack_conn_error(struct tcpack_conn *c, int err, const char *op);

/**
 * tcpack_conn_timeout() - its timer fired: if the linger, message or idle
 * deadline has passed, log it and make the connection DONE.
 * Return: true if it did; false when the deadline moved on meanwhile.
 */
bool tcpack_conn_timeout(struct tcpack_conn *c);

/**
 * tcpack_conn_drain() - the server is stopping: finish once owed replies
 * are out. A connection that has received nothing yet is owed its first
 * message (which may be in flight): it finishes after answering that, an
 * echo one after echoing its first receive. A line-mode connection is
 * answered on until it pauses (TCPACK_DRAIN_QUIET_MS, TCPACK_DRAIN_MAX_MS;
 * tcpack_conn_timeout() finishes it), a line under way always. The
 * server's shutdown-timeout bounds the wait.
 */
void tcpack_conn_drain(struct tcpack_conn *c);

/**
 * tcpack_conn_abort() - the server closes the connection now, whatever it
 * owes (a forced stop): DONE, unless already CLOSED.
 */
void tcpack_conn_abort(struct tcpack_conn *c);

/**
 * tcpack_conn_output() - the bytes to send next; 0 when nothing is owed.
 * The returned range stays valid and unchanged until tcpack_conn_sent().
 */
size_t tcpack_conn_output(struct tcpack_conn *c, const uint8_t **ret);

/**
 * tcpack_conn_send_flags() - flags for sending tcpack_conn_output(): the
 * last bytes before a shutdown go with MSG_MORE, so they wait in the socket
 * for the shutdown and leave with the FIN in one segment (one packet and
 * one ACK fewer per oneshot exchange). The engine shuts down as soon as the
 * send completed, which pushes them out.
 */
static inline int tcpack_conn_send_flags(const struct tcpack_conn *c)
{
	return MSG_NOSIGNAL | (c->phase == TCPACK_CONN_FINISHING ? MSG_MORE : 0);
}

/**
 * tcpack_conn_sent() - @n bytes of the range from tcpack_conn_output() were
 * sent. Resumes held-back input once the output is drained.
 */
void tcpack_conn_sent(struct tcpack_conn *c, size_t n);

/** tcpack_conn_pending() - bytes owed and not yet sent. */
size_t tcpack_conn_pending(const struct tcpack_conn *c);

/**
 * tcpack_conn_wants_input() - whether the engine should keep a receive armed:
 * false once the peer closed, and while the output is over max-pending.
 */
bool tcpack_conn_wants_input(const struct tcpack_conn *c);

/**
 * tcpack_conn_shut() - the engine shut down writing (FINISHING with nothing
 * left to send): the connection now lingers.
 */
void tcpack_conn_shut(struct tcpack_conn *c);

/**
 * tcpack_conn_deadline() - when, on the clock, the connection's timer should
 * fire: the earliest of its linger, message, idle and (draining, line mode)
 * drain deadlines; 0 = never.
 */
uint64_t tcpack_conn_deadline(const struct tcpack_conn *c);

/**
 * tcpack_conn_peer() - the client's address: the PROXY header's, or else
 * the socket's peer (getpeername, once). NULL if unknown.
 */
const struct sockaddr *tcpack_conn_peer(struct tcpack_conn *c);

#define TCPACK_LINGER_MS 2000u
/*
 * Draining, a line-mode connection goes on being answered until it has
 * received nothing for TCPACK_DRAIN_QUIET_MS (its client sent what it had
 * to send: lines sent back to back are all answered), or, for a client
 * that never pauses, until TCPACK_DRAIN_MAX_MS after the drain began;
 * then it finishes (after the line under way, if any). Timers fire on
 * the worker's tick, so these are lower bounds.
 */
#define TCPACK_DRAIN_QUIET_MS 100u
#define TCPACK_DRAIN_MAX_MS 1000u
