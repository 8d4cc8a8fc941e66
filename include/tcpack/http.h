/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The HTTP/1.x requests the metrics listener answers (RFC 9112): a request
 * line and header fields, no body. Pure: no fds, clocks or logging. The
 * state is resumable at any byte boundary and never reads past the end of
 * the header section: what follows is the next request (pipelining).
 * Strict: anything RFC 9112 does not allow is an error with the status to
 * answer it with; nothing is guessed. src/http.c lists each choice the RFCs
 * leave open (bare LF, empty lines, HTTP/1.2, asterisk-form) and why.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest request head (empty lines before it, request line, fields, final CRLF) accepted. */
#define TCPACK_HTTP_HEAD_MAX 8192u
/* The longest request target kept; a longer one is answered 414. */
#define TCPACK_HTTP_TARGET_MAX 256u

enum tcpack_http_method {
	TCPACK_HTTP_OTHER = 0,	/* a valid token, but not one answered: 405 */
	TCPACK_HTTP_GET,
	TCPACK_HTTP_HEAD,
};

struct tcpack_http {
	/* The request, once tcpack_http_feed() returned it complete. */
	enum tcpack_http_method method;
	char target[TCPACK_HTTP_TARGET_MAX + 1];	/* NUL-terminated, as sent: origin-form,
							 * or "*" with an OTHER method */
	uint8_t minor;			/* HTTP/1.<minor>: 0, or 1 for 1.1 and any later 1.x */
	bool keep_alive;		/* 1.1 without "Connection: close", or 1.0 with keep-alive (and no close) */
	int status;			/* after -EBADMSG: 400, 413 (Content-Length above 0),
					 * 414 (target), 431 (head), 501 (Transfer-Encoding in 1.1,
					 * or a method longer than any registered), 505 (not HTTP/1.x),
					 * 500 (fed again after a complete head: the caller's mistake) */
	const char *why;		/* after -EBADMSG: a static one-line reason */

	/* Parser state: zeroed by tcpack_http_init(). */
	uint32_t seen;			/* bytes of this head consumed so far */
	uint16_t at;			/* length of the token under way (method, target, version, name, option) */
	uint8_t state;			/* which part of the head the next byte belongs to */
	uint8_t sub;			/* where in the value of a field read (Host, Content-Length, Connection) */
	uint8_t field;			/* the field whose value is under way, or 0 for one skipped */
	uint8_t match;			/* the names the token so far may still be: one bit each */
	uint8_t flags;			/* fields seen (Host, Content-Length) and Connection options */
	uint8_t empty_lines;		/* CRLFs before the request line */
};

/** tcpack_http_init() - ready for the next request head. */
void tcpack_http_init(struct tcpack_http *h);

/**
 * tcpack_http_feed() - consume request head bytes from @buf.
 *
 * Return: n > 0 when buf[0..n) completes the head (the blank line that ends
 * it is buf[n - 1]); -EAGAIN when all of @buf was consumed and the head is
 * not complete; -EBADMSG as soon as the input cannot be a valid request
 * this listener answers, with h->status and h->why set. A request with a
 * body (Content-Length other than 0, or any Transfer-Encoding) is an error:
 * the metrics listener takes none. After -EBADMSG the stream cannot be
 * resynchronised: answer h->status and close. Until tcpack_http_init(),
 * every later call fails again, and a call after a complete head fails
 * with 500.
 */
ssize_t tcpack_http_feed(struct tcpack_http *h, const uint8_t *buf, size_t len);
