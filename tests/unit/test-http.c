// SPDX-License-Identifier: MIT
/*
 * HTTP/1.x request heads (RFC 9112) for the metrics listener. TCP delivers
 * a head in arbitrary pieces, so every head here is fed one byte at a time,
 * whole, and cut at every point into two pieces and into three: the
 * request, or the status and reason of a refusal and the byte it is refused
 * at, must not change. Every valid head is also fed with the next request
 * right behind it (pipelining): exactly the head's bytes are taken, and the
 * next request parses from where the first stopped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/http.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* What a client may send after a head: never taken with it. */
static const char next_request[] = "GET /next HTTP/1.1\r\nHost: next\r\n\r\n";

struct head {
	uint8_t b[2 * TCPACK_HTTP_HEAD_MAX];
	size_t len;
};

static void put(struct head *h, const void *p, size_t n)
{
	assert_true(h->len + n <= sizeof(h->b));
	memcpy(h->b + h->len, p, n);
	h->len += n;
}

static void put_str(struct head *h, const char *s)
{
	put(h, s, strlen(s));
}

static void put_fill(struct head *h, uint8_t c, size_t n)
{
	assert_true(h->len + n <= sizeof(h->b));
	memset(h->b + h->len, c, n);
	h->len += n;
}

/* @b on one line, CR, LF and other bytes that are not printable escaped. */
static void print_head(const uint8_t *b, size_t len)
{
	char line[200];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 8 < sizeof(line); i++) {
		if (b[i] == '\r')
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\\r");
		else if (b[i] == '\n')
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\\n");
		else if (b[i] < 0x20 || b[i] >= 0x7f || b[i] == '\\')
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\\x%02x", b[i]);
		else
			line[n++] = (char)b[i];
	}
	line[n] = '\0';
	print_message("%s%s\n", line, n + 8 >= sizeof(line) ? "..." : "");
}

/* What a complete head must give. */
struct want {
	enum tcpack_http_method method;
	const char *target;
	uint8_t minor;
	bool keep_alive;
};

#define GET	TCPACK_HTTP_GET
#define HEAD	TCPACK_HTTP_HEAD
#define OTHER	TCPACK_HTTP_OTHER

static void assert_request(const struct tcpack_http *h, const struct want *w)
{
	assert_null(h->why);
	assert_int_equal(h->status, 0);
	assert_int_equal(h->method, w->method);
	assert_string_equal(h->target, w->target);
	assert_int_equal(h->minor, w->minor);
	assert_int_equal(h->keep_alive, w->keep_alive);
}

/* The outcome of feeding a stream in pieces, the way a connection feeds its receives. */
struct outcome {
	ssize_t r;		/* -EAGAIN, -EBADMSG, or the stream offset just past the head */
	size_t fail_from, fail_to;	/* -EBADMSG: the piece that was refused */
	struct tcpack_http h;
};

/*
 * Feed @in in pieces ending at @cuts (ascending, the last one == len), each
 * copied to a buffer of exactly its size, so that AddressSanitizer sees any
 * read past it.
 */
static void feed_in_pieces(const uint8_t *in, const size_t *cuts, size_t n_cuts,
			   struct outcome *o)
{
	size_t off = 0;

	tcpack_http_init(&o->h);
	o->r = -EAGAIN;
	for (size_t c = 0; c < n_cuts; c++) {
		size_t n = cuts[c] - off;
		uint8_t *piece = malloc(n ? n : 1);
		uint32_t seen = o->h.seen;
		ssize_t r;

		assert_non_null(piece);
		if (n)
			memcpy(piece, in + off, n);
		r = tcpack_http_feed(&o->h, piece, n);
		free(piece);
		if (r == -EAGAIN) {
			assert_null(o->h.why);
			assert_int_equal(o->h.seen, seen + n);
			off = cuts[c];
			continue;
		}
		if (r == -EBADMSG) {
			assert_non_null(o->h.why);
			assert_int_not_equal(o->h.status, 0);
			o->r = r;
			o->fail_from = off;
			o->fail_to = cuts[c];
			return;
		}
		assert_true(r > 0);
		assert_true((size_t)r <= n);
		assert_int_equal(o->h.seen, seen + (size_t)r);
		o->r = (ssize_t)(off + (size_t)r);
		return;
	}
}

static void feed_whole(const uint8_t *in, size_t len, struct outcome *o)
{
	feed_in_pieces(in, &len, 1, o);
}

static void assert_same_outcome(const struct outcome *want, const struct outcome *got)
{
	assert_int_equal(got->r, want->r);
	if (got->r == -EBADMSG) {
		assert_ptr_equal(got->h.why, want->h.why);
		assert_int_equal(got->h.status, want->h.status);
		/* Refused by the piece holding the byte that proved it. */
		assert_true(got->fail_from <= want->fail_from);
		assert_true(want->fail_from < got->fail_to);
		return;
	}
	assert_int_equal(got->h.seen, want->h.seen);
	if (got->r < 0)
		return;
	assert_int_equal(got->h.method, want->h.method);
	assert_string_equal(got->h.target, want->h.target);
	assert_int_equal(got->h.minor, want->h.minor);
	assert_int_equal(got->h.keep_alive, want->h.keep_alive);
}

/*
 * The same outcome one byte at a time (the reference: its refused piece is
 * the one byte that proved the head invalid), whole, and cut into two and
 * three pieces at every point (three: every pair of cuts for short streams,
 * some 1000 pairs for long ones). Returns the byte-at-a-time outcome.
 */
static void check_every_split(const uint8_t *in, size_t len, struct outcome *ret)
{
	struct outcome *bytewise = malloc(sizeof(*bytewise)), *got = malloc(sizeof(*got));
	size_t *cuts = malloc(sizeof(*cuts) * (len + 1));
	size_t step_a = len > 128 ? len / 32 + 1 : 1, step_b = len > 128 ? len / 24 + 1 : 1, step_two = 1;

	/*
	 * Under valgrind (scripts/valgrind says so) some 64 cuts in two and 64
	 * pairs of cuts per stream: it looks for memory errors, which the
	 * byte-at-a-time feed already walks the same code for; the native and
	 * sanitizer runs take every cut.
	 */
	if (getenv("TCPACK_TEST_VALGRIND")) {
		step_a = len / 8 + 1;
		step_b = len / 8 + 1;
		step_two = len / 64 + 1;
	}
	assert_true(bytewise && got && cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	feed_in_pieces(in, cuts, len, bytewise);
	if (bytewise->r == -EBADMSG)
		assert_int_equal(bytewise->fail_to, bytewise->fail_from + 1);

	feed_whole(in, len, got);
	assert_same_outcome(bytewise, got);
	for (size_t a = 0; a <= len; a += step_two) {
		size_t two[] = { a, len };

		feed_in_pieces(in, two, 2, got);
		assert_same_outcome(bytewise, got);
	}
	for (size_t a = 0; a <= len; a += step_a) {
		for (size_t b = a; b <= len; b += step_b) {
			size_t three[] = { a, b, len };

			feed_in_pieces(in, three, 3, got);
			assert_same_outcome(bytewise, got);
		}
	}
	*ret = *bytewise;
	free(bytewise);
	free(got);
	free(cuts);
}

/*
 * A valid head: the same request however it is cut, exactly its bytes
 * taken, alone and with the next request behind it, which then parses from
 * where this one stopped.
 */
static void check_valid_bytes(const uint8_t *b, size_t len, const struct want *w)
{
	struct head *stream = malloc(sizeof(*stream));
	struct outcome *o = malloc(sizeof(*o));

	assert_true(stream && o);
	print_head(b, len);
	for (size_t with_next = 0; with_next < 2; with_next++) {
		stream->len = 0;
		put(stream, b, len);
		if (with_next)
			put_str(stream, next_request);

		check_every_split(stream->b, stream->len, o);
		assert_int_equal(o->r, len);
		assert_int_equal(o->h.seen, len);
		assert_request(&o->h, w);
		/* A complete head takes no more bytes. */
		assert_int_equal(tcpack_http_feed(&o->h, stream->b + len, stream->len - len), -EBADMSG);
		assert_int_equal(o->h.status, 500);

		if (with_next) {
			feed_whole(stream->b + len, stream->len - len, o);
			assert_int_equal(o->r, sizeof(next_request) - 1);
			assert_request(&o->h, &(struct want){ GET, "/next", 1, true });
		}
	}
	free(stream);
	free(o);
}

static void check_valid(const char *text, const struct want *w)
{
	check_valid_bytes((const uint8_t *)text, strlen(text), w);
}

/*
 * An invalid head: refused with @status and @why at byte @at (0-based)
 * however it is cut, with or without more bytes after it; and refused again,
 * the same, when fed more.
 */
static void check_invalid_bytes(const uint8_t *b, size_t len, int status, const char *why,
				size_t at)
{
	struct head *stream = malloc(sizeof(*stream));
	struct outcome *o = malloc(sizeof(*o));

	assert_true(stream && o);
	print_head(b, len);
	print_message("  refused %d \"%s\" at byte %zu\n", status, why, at);
	for (size_t with_next = 0; with_next < 2; with_next++) {
		stream->len = 0;
		put(stream, b, len);
		if (with_next)
			put_str(stream, next_request);
		check_every_split(stream->b, stream->len, o);
		assert_int_equal(o->r, -EBADMSG);
		assert_int_equal(o->h.status, status);
		assert_string_equal(o->h.why, why);
		assert_int_equal(o->fail_from, at);
		assert_int_equal(tcpack_http_feed(&o->h, (const uint8_t *)"\r\n", 2), -EBADMSG);
		assert_int_equal(o->h.status, status);
		assert_string_equal(o->h.why, why);
	}
	free(stream);
	free(o);
}

/* @bad: the part of @text up to and including the byte it is refused at. */
static void check_invalid(const char *text, const char *bad, int status, const char *why)
{
	size_t n = strlen(bad);

	assert_true(n > 0 && n <= strlen(text));
	assert_memory_equal(text, bad, n);
	check_invalid_bytes((const uint8_t *)text, strlen(text), status, why, n - 1);
}

static void test_http_get_metrics(void **state)
{
	const struct want get = { GET, "/metrics", 1, true };

	check_valid("GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\n\r\n", &get);
	/* What Prometheus sends. */
	check_valid("GET /metrics HTTP/1.1\r\n"
		    "Host: 10.0.0.7:9100\r\n"
		    "User-Agent: Prometheus/2.45.0\r\n"
		    "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
		    "Accept-Encoding: gzip\r\n"
		    "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"
		    "\r\n", &get);
	/* What curl sends. */
	check_valid("GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\nUser-Agent: curl/7.88.1\r\n"
		    "Accept: */*\r\n\r\n", &get);
	/* HTTP/1.0 needs no Host, and closes by default. */
	check_valid("GET /metrics HTTP/1.0\r\n\r\n", &(struct want){ GET, "/metrics", 0, false });
	check_valid("GET / HTTP/1.0\r\nHost: a\r\n\r\n", &(struct want){ GET, "/", 0, false });
}

static void test_http_head(void **state)
{
	check_valid("HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		    &(struct want){ HEAD, "/metrics", 1, true });
	check_valid("HEAD / HTTP/1.0\r\n\r\n", &(struct want){ HEAD, "/", 0, false });
}

/* Any other token is a method: returned as OTHER, for the caller to answer 405. */
static void test_http_other_methods(void **state)
{
	static const char *const heads[] = {
		"POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"PUT /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		/* "The method token is case-sensitive" (RFC 9110 9.1). */
		"get /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		"Head /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		/* Neither a prefix nor an extension of GET or HEAD is one. */
		"GE /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		"GETS /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		"HEA /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		"HEADER /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
		/* The longest method taken: 32 bytes, every kind of tchar. */
		"!#$%&'*+-.^_`|~0123456789abcdefg /metrics HTTP/1.1\r\nHost: h\r\n\r\n",
	};

	for (size_t i = 0; i < N_ELEMS(heads); i++)
		check_valid(heads[i], &(struct want){ OTHER, "/metrics", 1, true });
	/* The asterisk-form, for a method not answered: OPTIONS' (RFC 9112 3.2.4). */
	check_valid("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &(struct want){ OTHER, "*", 1, true });
	check_valid("M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n", &(struct want){ OTHER, "*", 1, true });
}

static void test_http_origin_form_targets(void **state)
{
	/* Every byte RFC 3986 allows in a path and a query, and pct-encoded ones. */
	check_valid("GET /azAZ09-._~!$&'()*+,;=:@/?/?%00%ff%Af%9a HTTP/1.1\r\nHost: h\r\n\r\n",
		    &(struct want){ GET, "/azAZ09-._~!$&'()*+,;=:@/?/?%00%ff%Af%9a", 1, true });
	check_valid("GET /federate?match%5B%5D=up&x=a/b?c HTTP/1.1\r\nHost: h\r\n\r\n",
		    &(struct want){ GET, "/federate?match%5B%5D=up&x=a/b?c", 1, true });
	check_valid("GET //metrics/ HTTP/1.1\r\nHost: h\r\n\r\n",
		    &(struct want){ GET, "//metrics/", 1, true });
	check_valid("GET /? HTTP/1.1\r\nHost: h\r\n\r\n", &(struct want){ GET, "/?", 1, true });
}

static void test_http_target_refused(void **state)
{
	static const struct {
		const char *text, *bad, *why;
	} cases[] = {
		/* Not origin-form: absolute-form and authority-form are for proxies. */
		{ "GET http://h/metrics HTTP/1.1\r\n", "GET h", "request target does not start with '/'" },
		{ "GET metrics HTTP/1.1\r\n", "GET m", "request target does not start with '/'" },
		{ "CONNECT h:443 HTTP/1.1\r\n", "CONNECT h", "request target does not start with '/'" },
		{ "GET ?x HTTP/1.1\r\n", "GET ?", "request target does not start with '/'" },
		{ "GET * HTTP/1.1\r\n", "GET *", "request target '*' with GET or HEAD" },
		{ "HEAD * HTTP/1.1\r\n", "HEAD *", "request target '*' with GET or HEAD" },
		{ "OPTIONS *x HTTP/1.1\r\n", "OPTIONS *x", "request target starts with '*' but is longer" },
		{ "OPTIONS */ HTTP/1.1\r\n", "OPTIONS */", "request target starts with '*' but is longer" },
		{ "GET  / HTTP/1.1\r\n", "GET  ", "more than one space after the method" },
		/* Bytes RFC 3986 does not allow in a path or query; a fragment is never sent. */
		{ "GET /a#b HTTP/1.1\r\n", "GET /a#", "request target has a character a URI does not allow there" },
		{ "GET /a\"b HTTP/1.1\r\n", "GET /a\"", "request target has a character a URI does not allow there" },
		{ "GET /a<b HTTP/1.1\r\n", "GET /a<", "request target has a character a URI does not allow there" },
		{ "GET /a>b HTTP/1.1\r\n", "GET /a>", "request target has a character a URI does not allow there" },
		{ "GET /a\\b HTTP/1.1\r\n", "GET /a\\", "request target has a character a URI does not allow there" },
		{ "GET /a^b HTTP/1.1\r\n", "GET /a^", "request target has a character a URI does not allow there" },
		{ "GET /a`b HTTP/1.1\r\n", "GET /a`", "request target has a character a URI does not allow there" },
		{ "GET /a{b HTTP/1.1\r\n", "GET /a{", "request target has a character a URI does not allow there" },
		{ "GET /a|b HTTP/1.1\r\n", "GET /a|", "request target has a character a URI does not allow there" },
		{ "GET /a}b HTTP/1.1\r\n", "GET /a}", "request target has a character a URI does not allow there" },
		{ "GET /?a[]=b HTTP/1.1\r\n", "GET /?a[", "request target has a character a URI does not allow there" },
		{ "GET /a]b HTTP/1.1\r\n", "GET /a]", "request target has a character a URI does not allow there" },
		{ "GET /a\tb HTTP/1.1\r\n", "GET /a\t", "request target has a character a URI does not allow there" },
		{ "GET /a\x7f HTTP/1.1\r\n", "GET /a\x7f", "request target has a character a URI does not allow there" },
		{ "GET /\xc3\xa9 HTTP/1.1\r\n", "GET /\xc3", "request target has a character a URI does not allow there" },
		{ "GET /%zz HTTP/1.1\r\n", "GET /%z", "request target has a '%' not followed by two hex digits" },
		{ "GET /%4g HTTP/1.1\r\n", "GET /%4g", "request target has a '%' not followed by two hex digits" },
		{ "GET /%4 HTTP/1.1\r\n", "GET /%4 ", "request target has a '%' not followed by two hex digits" },
		{ "GET /% HTTP/1.1\r\n", "GET /% ", "request target has a '%' not followed by two hex digits" },
		{ "GET /%\r\n", "GET /%\r", "request target has a '%' not followed by two hex digits" },
		/* A space inside the target ends it: what follows is no version. */
		{ "GET /a b HTTP/1.1\r\n", "GET /a b", "HTTP version is not HTTP/DIGIT.DIGIT" },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++)
		check_invalid(cases[i].text, cases[i].bad, 400, cases[i].why);

	/* A NUL in the target. */
	check_invalid_bytes((const uint8_t *)"GET /a\0b HTTP/1.1\r\n", 19, 400,
			    "request target has a character a URI does not allow there", 6);
}

/* "A server that receives a request-target longer than any URI it wishes to parse MUST respond with a 414" */
static void test_http_target_max_accepted_one_more_refused(void **state)
{
	struct head *h = malloc(sizeof(*h));
	char want[TCPACK_HTTP_TARGET_MAX + 1];

	assert_non_null(h);
	memset(want, 'a', sizeof(want));
	want[0] = '/';
	want[TCPACK_HTTP_TARGET_MAX] = '\0';

	h->len = 0;
	put_str(h, "GET ");
	put_str(h, want);
	put_str(h, " HTTP/1.1\r\nHost: h\r\n\r\n");
	check_valid_bytes(h->b, h->len, &(struct want){ GET, want, 1, true });

	/* 257 bytes: refused at the 257th, before the rest of the line. */
	h->len = 0;
	put_str(h, "GET ");
	put_str(h, want);
	put_str(h, "b HTTP/1.1\r\nHost: h\r\n\r\n");
	check_invalid_bytes(h->b, h->len, 414, "request target longer than 256 bytes",
			    4 + TCPACK_HTTP_TARGET_MAX);

	/* The same when the 257th byte is inside a pct-encoded one; and never ending. */
	h->len = 0;
	put_str(h, "GET ");
	put(h, want, TCPACK_HTTP_TARGET_MAX - 2);
	put_str(h, "%41 HTTP/1.1\r\n");
	check_invalid_bytes(h->b, h->len, 414, "request target longer than 256 bytes",
			    4 + TCPACK_HTTP_TARGET_MAX);
	h->len = 0;
	put_str(h, "GET /");
	put_fill(h, 'x', 1000);
	check_invalid_bytes(h->b, h->len, 414, "request target longer than 256 bytes",
			    4 + TCPACK_HTTP_TARGET_MAX);

	/* All 256 bytes but the first pct-encoded: the longest "%XX" run that fits. */
	for (size_t i = 1; i + 3 <= TCPACK_HTTP_TARGET_MAX; i += 3)
		memcpy(want + i, "%2F", 3);
	assert_int_equal(strlen(want), TCPACK_HTTP_TARGET_MAX);
	h->len = 0;
	put_str(h, "GET ");
	put_str(h, want);
	put_str(h, " HTTP/1.0\r\n\r\n");
	check_valid_bytes(h->b, h->len, &(struct want){ GET, want, 0, false });
	free(h);
}

/* The method ends at 32 bytes: "longer than any that it implements SHOULD respond with a 501". */
static void test_http_method_too_long_is_501(void **state)
{
	check_invalid("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1\r\n",
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG", 501, "method longer than 32 bytes");
	check_invalid("GETGETGETGETGETGETGETGETGETGETGET", "GETGETGETGETGETGETGETGETGETGETGET", 501,
		      "method longer than 32 bytes");
}

static void test_http_request_line_refused(void **state)
{
	static const struct {
		const char *text, *bad, *why;
	} cases[] = {
		{ " GET / HTTP/1.1\r\n", " ", "request line starts with whitespace" },
		{ "\tGET / HTTP/1.1\r\n", "\t", "request line starts with whitespace" },
		{ "(GET) / HTTP/1.1\r\n", "(", "method is not a token" },
		{ "GE(T / HTTP/1.1\r\n", "GE(", "method is not a token" },
		{ "GET\t/ HTTP/1.1\r\n", "GET\t", "method is not a token" },
		{ "G\xc3\x89T / HTTP/1.1\r\n", "G\xc3", "method is not a token" },
		{ "\x16\x03\x01\x02\x00", "\x16", "method is not a token" },
		{ "GET\r\n", "GET\r", "request line ends after the method" },
		{ "GET \r\n", "GET \r", "request line has no HTTP version" },
		/* HTTP/0.9's simple request: no version, no fields. */
		{ "GET /\r\n", "GET /\r", "request line has no HTTP version" },
		{ "GET /metrics\r\n\r\n", "GET /metrics\r", "request line has no HTTP version" },
		{ "OPTIONS *\r\n", "OPTIONS *\r", "request line has no HTTP version" },
		{ "GET / \r\n", "GET / \r", "HTTP version is not HTTP/DIGIT.DIGIT" },
		/* "HTTP-name = %s"HTTP"": case-sensitive. */
		{ "GET / http/1.1\r\n", "GET / h", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTPS/1.1\r\n", "GET / HTTPS", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / RTSP/1.0\r\n", "GET / R", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTP/x.1\r\n", "GET / HTTP/x", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTP/1,1\r\n", "GET / HTTP/1,", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTP/1.x\r\n", "GET / HTTP/1.x", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTP/1\r\n", "GET / HTTP/1\r", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTP/1.\r\n", "GET / HTTP/1.\r", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTP/\r\n", "GET / HTTP/\r", "HTTP version is not HTTP/DIGIT.DIGIT" },
		{ "GET / HTTP/1.1 \r\n", "GET / HTTP/1.1 ", "HTTP version not followed by CRLF" },
		{ "GET / HTTP/1.10\r\n", "GET / HTTP/1.10", "HTTP version not followed by CRLF" },
		{ "GET / HTTP/1.1x\r\n", "GET / HTTP/1.1x", "HTTP version not followed by CRLF" },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++)
		check_invalid(cases[i].text, cases[i].bad, 400, cases[i].why);
	check_invalid_bytes((const uint8_t *)"\0GET / HTTP/1.1\r\n", 17, 400, "method is not a token", 0);
}

/* "HTTP/1.0 or HTTP/1.1"; a later 1.x is 1.1 (RFC 9110 2.5); another major is 505. */
static void test_http_versions(void **state)
{
	check_valid("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &(struct want){ GET, "/", 1, true });
	check_valid("GET / HTTP/1.0\r\n\r\n", &(struct want){ GET, "/", 0, false });
	/* "SHOULD process the message as if it were in the highest minor version ... conformant" */
	check_valid("GET / HTTP/1.2\r\nHost: h\r\n\r\n", &(struct want){ GET, "/", 1, true });
	check_valid("GET / HTTP/1.9\r\nHost: h\r\nConnection: close\r\n\r\n",
		    &(struct want){ GET, "/", 1, false });
	/* ... and as 1.1, it needs a Host. */
	check_invalid("GET / HTTP/1.9\r\n\r\n", "GET / HTTP/1.9\r\n\r\n", 400,
		      "HTTP/1.1 request without a Host field");

	check_invalid("GET / HTTP/2.0\r\n\r\n", "GET / HTTP/2", 505, "HTTP major version is not 1");
	check_invalid("GET / HTTP/0.9\r\n\r\n", "GET / HTTP/0", 505, "HTTP major version is not 1");
	check_invalid("GET / HTTP/3.0\r\n\r\n", "GET / HTTP/3", 505, "HTTP major version is not 1");
	check_invalid("GET / HTTP/9.9\r\n\r\n", "GET / HTTP/9", 505, "HTTP major version is not 1");
	/* The HTTP/2 connection preface (RFC 9113 3.4), prior knowledge without asking. */
	check_invalid("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "PRI * HTTP/2", 505,
		      "HTTP major version is not 1");
}

/* RFC 9112 2.2: "SHOULD ignore at least one empty line (CRLF) received prior to the request-line" */
static void test_http_empty_lines_before_the_request_line(void **state)
{
	const struct want get = { GET, "/metrics", 0, false };

	check_valid("\r\nGET /metrics HTTP/1.0\r\n\r\n", &get);
	check_valid("\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", &get);
	check_valid("\r\n\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", &get);
	check_valid("\r\n\r\n\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", &get);
	check_invalid("\r\n\r\n\r\n\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", "\r\n\r\n\r\n\r\n\r", 400,
		      "more than 4 empty lines before the request line");
	check_invalid("\r\n\nGET", "\r\n\n", 400, "line ends in LF without CR");
	check_invalid("\nGET", "\n", 400, "line ends in LF without CR");
	check_invalid("\rGET", "\rG", 400, "CR not followed by LF");
	check_invalid("\r\n GET", "\r\n ", 400, "request line starts with whitespace");
}

/* Every line ends in CRLF; a bare LF ("MAY recognize") is not taken, a bare CR never is. */
static void test_http_bare_lf_and_cr_refused(void **state)
{
	static const struct {
		const char *text, *bad, *why;
	} cases[] = {
		{ "GET / HTTP/1.0\n\n", "GET / HTTP/1.0\n", "line ends in LF without CR" },
		{ "GET / HTTP/1.0\r\n\n", "GET / HTTP/1.0\r\n\n", "line ends in LF without CR" },
		{ "GET / HTTP/1.1\r\nHost: h\n\r\n", "GET / HTTP/1.1\r\nHost: h\n", "line ends in LF without CR" },
		{ "GET / HTTP/1.1\r\nHost: h\r\n\n", "GET / HTTP/1.1\r\nHost: h\r\n\n",
		  "line ends in LF without CR" },
		{ "GET /\n HTTP/1.0\r\n", "GET /\n", "line ends in LF without CR" },
		{ "GET\n", "GET\n", "line ends in LF without CR" },
		{ "GET / HTTP/1.0\rX", "GET / HTTP/1.0\rX", "CR not followed by LF" },
		{ "GET / HTTP/1.0\r\r\n", "GET / HTTP/1.0\r\r", "CR not followed by LF" },
		{ "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\rb", "CR not followed by LF" },
		{ "GET / HTTP/1.1\r\nX: a\r \r\n", "GET / HTTP/1.1\r\nX: a\r ", "CR not followed by LF" },
		{ "GET / HTTP/1.1\r\nHost: h\r\n\rGET", "GET / HTTP/1.1\r\nHost: h\r\n\rG",
		  "CR not followed by LF" },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++)
		check_invalid(cases[i].text, cases[i].bad, 400, cases[i].why);
}

static void test_http_fields_skipped_but_checked(void **state)
{
	const struct want get = { GET, "/", 1, true };

	/* Any token as a name, any VCHAR, obs-text, SP and HTAB in a value; OWS around it. */
	check_valid("GET / HTTP/1.1\r\nHost: h\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", &get);
	check_valid("GET / HTTP/1.1\r\nHost: h\r\nX: \x80\xff caf\xc3\xa9\r\n\r\n", &get);
	check_valid("GET / HTTP/1.1\r\nHost: h\r\nX:\ta \t b\t\r\nY:\r\nZ: \r\n\r\n", &get);
	check_valid("GET / HTTP/1.1\r\nHost: h\r\nX: :::\r\nY: a: b\r\n\r\n", &get);
	/* Names that only begin like, or end like, the ones read are other fields. */
	check_valid("GET / HTTP/1.1\r\nHost: h\r\nHost-Name: a b\r\nX-Host: a b\r\n"
		    "Content-Lengthy: 5\r\nContent-Lengt: 5\r\nTransfer-Encodings: chunked\r\n"
		    "Transfer-Encodin: chunked\r\nX-Connection: close\r\nProxy-Connection: close\r\n"
		    "Connections: close\r\nKeep-Alive: timeout=5\r\n\r\n", &get);
	/* Nor are bodies announced by other fields. */
	check_valid("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nUpgrade: h2c\r\n\r\n", &get);
}

static void test_http_field_syntax_refused(void **state)
{
	static const struct {
		const char *text, *bad, *why;
	} cases[] = {
		/* RFC 9112 5.1: "MUST reject ... whitespace between a header field name and colon" */
		{ "GET / HTTP/1.1\r\nHost : h\r\n\r\n", "GET / HTTP/1.1\r\nHost ",
		  "whitespace between a field name and its colon" },
		{ "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", "GET / HTTP/1.1\r\nHost\t",
		  "whitespace between a field name and its colon" },
		{ "GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
		  "GET / HTTP/1.1\r\nTransfer-Encoding ", "whitespace between a field name and its colon" },
		{ "GET / HTTP/1.1\r\nX a\r\n\r\n", "GET / HTTP/1.1\r\nX ",
		  "whitespace between a field name and its colon" },
		/* RFC 9112 5.2: obs-fold, and 2.2: whitespace before the first field. */
		{ "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n ",
		  "field line starts with whitespace (obsolete line folding)" },
		{ "GET / HTTP/1.1\r\nHost: h\r\n\tX: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\n\t",
		  "field line starts with whitespace (obsolete line folding)" },
		{ "GET / HTTP/1.1\r\n Host: h\r\n\r\n", "GET / HTTP/1.1\r\n ",
		  "whitespace between the request line and the first field" },
		{ "GET / HTTP/1.1\r\n: h\r\n\r\n", "GET / HTTP/1.1\r\n:", "field line has an empty name" },
		{ "GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", "GET / HTTP/1.1\r\nHo(", "field name is not a token" },
		{ "GET / HTTP/1.1\r\n(: h\r\n\r\n", "GET / HTTP/1.1\r\n(", "field name is not a token" },
		{ "GET / HTTP/1.1\r\n\xc3\xa9: h\r\n\r\n", "GET / HTTP/1.1\r\n\xc3", "field name is not a token" },
		{ "GET / HTTP/1.1\r\nHost\r\n\r\n", "GET / HTTP/1.1\r\nHost\r", "field line has no colon" },
		/* "Field values containing CR, LF, or NUL characters are invalid and dangerous" */
		{ "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", "GET / HTTP/1.1\r\nX: a\x01", "field value has a control character" },
		{ "GET / HTTP/1.1\r\nX: \x1f\r\n\r\n", "GET / HTTP/1.1\r\nX: \x1f", "field value has a control character" },
		{ "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", "GET / HTTP/1.1\r\nX: a\x7f", "field value has a control character" },
		{ "GET / HTTP/1.1\r\nHost: \x0b\r\n\r\n", "GET / HTTP/1.1\r\nHost: \x0b", "field value has a control character" },
		{ "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n", "GET / HTTP/1.1\r\nX: a\n", "line ends in LF without CR" },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++)
		check_invalid(cases[i].text, cases[i].bad, 400, cases[i].why);
	check_invalid_bytes((const uint8_t *)"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26, 400,
			    "field value has a control character", 20);
}

/* RFC 9112 3.2: a Host is required in 1.1, once at most, and valid. */
static void test_http_host(void **state)
{
	static const char *const valid[] = {
		"Host:", "Host: ", "Host: localhost", "Host: localhost:", "Host: localhost:9100",
		"Host: 127.0.0.1:9100", "Host: [::1]", "Host: [::1]:9100", "Host: [2001:db8::a:b]:1",
		"Host: [v1.fe80::a+en1]", "Host: xn--bcher-kva.example", "Host: a%20b.example",
		"HOST:\tx \t", "host:x", "Host: a,b;c=d!$&'()*+~_-.", "Host: :80",
	};
	char text[200];

	for (size_t i = 0; i < N_ELEMS(valid); i++) {
		snprintf(text, sizeof(text), "GET / HTTP/1.1\r\n%s\r\n\r\n", valid[i]);
		check_valid(text, &(struct want){ GET, "/", 1, true });
		snprintf(text, sizeof(text), "GET / HTTP/1.0\r\n%s\r\n\r\n", valid[i]);
		check_valid(text, &(struct want){ GET, "/", 0, false });
	}

	static const struct {
		const char *text, *bad;
	} invalid[] = {
		{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "GET / HTTP/1.1\r\nHost: a b" },
		{ "GET / HTTP/1.1\r\nHost: user@h\r\n\r\n", "GET / HTTP/1.1\r\nHost: user@" },
		{ "GET / HTTP/1.1\r\nHost: h/metrics\r\n\r\n", "GET / HTTP/1.1\r\nHost: h/" },
		{ "GET / HTTP/1.1\r\nHost: h:p\r\n\r\n", "GET / HTTP/1.1\r\nHost: h:p" },
		{ "GET / HTTP/1.1\r\nHost: h:80x\r\n\r\n", "GET / HTTP/1.1\r\nHost: h:80x" },
		{ "GET / HTTP/1.1\r\nHost: h:80:81\r\n\r\n", "GET / HTTP/1.1\r\nHost: h:80:" },
		{ "GET / HTTP/1.1\r\nHost: localhost:8080, other\r\n\r\n",
		  "GET / HTTP/1.1\r\nHost: localhost:8080," },
		{ "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", "GET / HTTP/1.1\r\nHost: a%z" },
		{ "GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", "GET / HTTP/1.1\r\nHost: a%2\r" },
		{ "GET / HTTP/1.1\r\nHost: a%\r\n\r\n", "GET / HTTP/1.1\r\nHost: a%\r" },
		{ "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", "GET / HTTP/1.1\r\nHost: [::1\r" },
		{ "GET / HTTP/1.1\r\nHost: [\r\n\r\n", "GET / HTTP/1.1\r\nHost: [\r" },
		{ "GET / HTTP/1.1\r\nHost: []\r\n\r\n", "GET / HTTP/1.1\r\nHost: []" },
		{ "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", "GET / HTTP/1.1\r\nHost: [::1]x" },
		{ "GET / HTTP/1.1\r\nHost: [::1]]\r\n\r\n", "GET / HTTP/1.1\r\nHost: [::1]]" },
		{ "GET / HTTP/1.1\r\nHost: [::1%eth0]\r\n\r\n", "GET / HTTP/1.1\r\nHost: [::1%" },
		{ "GET / HTTP/1.1\r\nHost: a[::1]\r\n\r\n", "GET / HTTP/1.1\r\nHost: a[" },
		{ "GET / HTTP/1.1\r\nHost: h:80 x\r\n\r\n", "GET / HTTP/1.1\r\nHost: h:80 x" },
		{ "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", "GET / HTTP/1.1\r\nHost: caf\xc3" },
		{ "GET / HTTP/1.0\r\nHost: \"h\"\r\n\r\n", "GET / HTTP/1.0\r\nHost: \"" },
	};

	for (size_t i = 0; i < N_ELEMS(invalid); i++)
		check_invalid(invalid[i].text, invalid[i].bad, 400, "Host is not a valid host[:port]");

	/* Missing in 1.1: known at the final LF. */
	check_invalid("GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", 400,
		      "HTTP/1.1 request without a Host field");
	check_invalid("GET / HTTP/1.1\r\nHostx: h\r\nX-Host: h\r\n\r\n",
		      "GET / HTTP/1.1\r\nHostx: h\r\nX-Host: h\r\n\r\n", 400,
		      "HTTP/1.1 request without a Host field");
	/* Twice, even the same, in 1.1 or 1.0: known at the second one's colon. */
	check_invalid("GET / HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nhost:",
		      400, "more than one Host field");
	check_invalid("GET / HTTP/1.0\r\nHost: a\r\nX: y\r\nHOST: b\r\n\r\n",
		      "GET / HTTP/1.0\r\nHost: a\r\nX: y\r\nHOST:", 400, "more than one Host field");
	check_invalid("GET / HTTP/1.1\r\nHost:\r\nHost:\r\n\r\n", "GET / HTTP/1.1\r\nHost:\r\nHost:", 400,
		      "more than one Host field");
}

/* RFC 9112 9.3: close wins; else 1.1 persists; else 1.0 persists with keep-alive. */
static void test_http_keep_alive_per_version(void **state)
{
	static const struct {
		const char *fields;
		bool keep_alive_1_1, keep_alive_1_0;
	} cases[] = {
		{ "", true, false },
		{ "Connection: close\r\n", false, false },
		{ "Connection: CLOSE\r\n", false, false },
		{ "connection:close\r\n", false, false },
		{ "Connection: keep-alive\r\n", true, true },
		{ "Connection: Keep-Alive\r\n", true, true },
		{ "CONNECTION:\tKEEP-ALIVE\t\r\n", true, true },
		{ "Connection: keep-alive, close\r\n", false, false },
		{ "Connection: close, keep-alive\r\n", false, false },
		{ "Connection: Upgrade, close\r\n", false, false },
		{ "Connection: TE,keep-alive\r\n", true, true },
		{ "Connection: ,, close ,\t,\r\n", false, false },
		{ "Connection: ,keep-alive,\r\n", true, true },
		{ "Connection: keep-alive\r\nConnection: close\r\n", false, false },
		{ "Connection: close\r\nConnection: keep-alive\r\n", false, false },
		{ "Connection: keep-alive\r\nConnection: Upgrade\r\n", true, true },
		/* Only whole tokens count. */
		{ "Connection: closed\r\n", true, false },
		{ "Connection: clos\r\n", true, false },
		{ "Connection: close-x\r\n", true, false },
		{ "Connection: keep-alive2\r\n", true, false },
		{ "Connection: keep\r\n", true, false },
		{ "Connection: alive\r\n", true, false },
		{ "Connection:\r\n", true, false },
		{ "Connection:  \r\n", true, false },
		{ "Connection: ,\r\n", true, false },
		/* Other fields do not count. */
		{ "Keep-Alive: timeout=5, max=100\r\n", true, false },
		{ "Proxy-Connection: keep-alive\r\n", true, false },
		{ "X-Connection: close\r\n", true, false },
	};
	char text[300];

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		snprintf(text, sizeof(text), "GET /metrics HTTP/1.1\r\nHost: h\r\n%s\r\n", cases[i].fields);
		check_valid(text, &(struct want){ GET, "/metrics", 1, cases[i].keep_alive_1_1 });
		snprintf(text, sizeof(text), "GET /metrics HTTP/1.0\r\n%s\r\n", cases[i].fields);
		check_valid(text, &(struct want){ GET, "/metrics", 0, cases[i].keep_alive_1_0 });
	}
}

static void test_http_connection_syntax_refused(void **state)
{
	static const struct {
		const char *text, *bad;
	} cases[] = {
		{ "GET / HTTP/1.0\r\nConnection: close;x\r\n\r\n", "GET / HTTP/1.0\r\nConnection: close;" },
		{ "GET / HTTP/1.0\r\nConnection: close x\r\n\r\n", "GET / HTTP/1.0\r\nConnection: close x" },
		{ "GET / HTTP/1.0\r\nConnection: \"close\"\r\n\r\n", "GET / HTTP/1.0\r\nConnection: \"" },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive/1\r\n\r\n", "GET / HTTP/1.0\r\nConnection: keep-alive/" },
		{ "GET / HTTP/1.0\r\nConnection: clo\xc3\xa9\r\n\r\n", "GET / HTTP/1.0\r\nConnection: clo\xc3" },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++)
		check_invalid(cases[i].text, cases[i].bad, 400, "Connection is not a list of tokens");
}

/* No body: "Content-Length: 0" only, the same in every such field. */
static void test_http_content_length(void **state)
{
	static const char *const valid[] = {
		"Content-Length: 0\r\n", "content-length:0\r\n", "Content-Length: 000\r\n",
		"Content-Length: \t0 \t\r\n", "Content-Length: 0\r\nCONTENT-LENGTH: 00\r\n",
	};
	char text[200];

	for (size_t i = 0; i < N_ELEMS(valid); i++) {
		snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", valid[i]);
		check_valid(text, &(struct want){ GET, "/", 1, true });
		snprintf(text, sizeof(text), "GET / HTTP/1.0\r\n%s\r\n", valid[i]);
		check_valid(text, &(struct want){ GET, "/", 0, false });
	}

	/* A body: refused at its first non-zero digit, before the rest of the value. */
	check_invalid("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5", 413,
		      "request body not accepted (Content-Length above 0)");
	check_invalid("GET / HTTP/1.0\r\nContent-Length: 0001\r\n\r\n",
		      "GET / HTTP/1.0\r\nContent-Length: 0001", 413,
		      "request body not accepted (Content-Length above 0)");
	check_invalid("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		      "GET / HTTP/1.1\r\nContent-Length: 9", 413,
		      "request body not accepted (Content-Length above 0)");
	/* A second one differing: an invalid Content-Length (RFC 9112 6.3). */
	check_invalid("GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n",
		      "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 1", 400,
		      "Content-Length fields differ");

	static const struct {
		const char *text, *bad;
	} invalid[] = {
		{ "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length:\r" },
		{ "GET / HTTP/1.1\r\nContent-Length:  \r\n\r\n", "GET / HTTP/1.1\r\nContent-Length:  \r" },
		{ "GET / HTTP/1.1\r\nContent-Length: -0\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: -" },
		{ "GET / HTTP/1.1\r\nContent-Length: +0\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: +" },
		{ "GET / HTTP/1.1\r\nContent-Length: 0 0\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: 0 0" },
		{ "GET / HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: 0," },
		{ "GET / HTTP/1.1\r\nContent-Length: 0x0\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: 0x" },
		{ "GET / HTTP/1.1\r\nContent-Length: zero\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: z" },
	};

	for (size_t i = 0; i < N_ELEMS(invalid); i++)
		check_invalid(invalid[i].text, invalid[i].bad, 400, "Content-Length is not a decimal number");
}

/* Any Transfer-Encoding: 501 in 1.1, faulty framing (400) in 1.0; known at its colon. */
static void test_http_transfer_encoding(void **state)
{
	check_invalid("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:", 501,
		      "request body not accepted (Transfer-Encoding)");
	check_invalid("GET / HTTP/1.1\r\ntransfer-encoding:\r\n\r\n", "GET / HTTP/1.1\r\ntransfer-encoding:",
		      501, "request body not accepted (Transfer-Encoding)");
	check_invalid("GET / HTTP/1.2\r\nContent-Length: 0\r\nTRANSFER-ENCODING: identity\r\n\r\n",
		      "GET / HTTP/1.2\r\nContent-Length: 0\r\nTRANSFER-ENCODING:", 501,
		      "request body not accepted (Transfer-Encoding)");
	check_invalid("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		      "GET / HTTP/1.0\r\nTransfer-Encoding:", 400, "Transfer-Encoding in an HTTP/1.0 request");
}

/*
 * A head of @len bytes: "GET / HTTP/1.1", a Host, then one field, filled up
 * so that the final CRLF makes it exactly @len, after @empty empty lines.
 */
static void make_head(struct head *h, size_t len, size_t empty)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Fill: ";

	h->len = 0;
	for (size_t i = 0; i < empty; i++)
		put_str(h, "\r\n");
	put_str(h, start);
	assert_true(len >= h->len + 4);
	put_fill(h, 'f', len - h->len - 4);
	put_str(h, "\r\n\r\n");
	assert_int_equal(h->len, len);
}

/* A head of @len bytes: "GET /metrics HTTP/1.0", then fields of 6 bytes (the last one longer). */
static void make_many_fields(struct head *h, size_t len)
{
	h->len = 0;
	put_str(h, "GET /metrics HTTP/1.0\r\n");
	while (len - 2 - h->len >= 12)
		put_str(h, "A: b\r\n");
	put_str(h, "A: ");
	put_fill(h, 'b', len - 2 - h->len - 2);
	put_str(h, "\r\n\r\n");
	assert_int_equal(h->len, len);
}

static void test_http_head_max_accepted_one_more_refused(void **state)
{
	struct head *h = malloc(sizeof(*h));
	const struct want get = { GET, "/", 1, true };

	assert_non_null(h);
	make_head(h, TCPACK_HTTP_HEAD_MAX, 0);
	check_valid_bytes(h->b, h->len, &get);
	/* The empty lines before count. */
	make_head(h, TCPACK_HTTP_HEAD_MAX, 4);
	check_valid_bytes(h->b, h->len, &get);

	/* One more byte: refused at the 8192nd, the final CR, which cannot end it. */
	make_head(h, TCPACK_HTTP_HEAD_MAX + 1, 0);
	check_invalid_bytes(h->b, h->len, 431, "request head longer than 8192 bytes",
			    TCPACK_HTTP_HEAD_MAX - 1);
	make_head(h, TCPACK_HTTP_HEAD_MAX + 1, 4);
	check_invalid_bytes(h->b, h->len, 431, "request head longer than 8192 bytes",
			    TCPACK_HTTP_HEAD_MAX - 1);

	/* Many small fields, exactly filling it; and one byte more. */
	make_many_fields(h, TCPACK_HTTP_HEAD_MAX);
	check_valid_bytes(h->b, h->len, &(struct want){ GET, "/metrics", 0, false });
	make_many_fields(h, TCPACK_HTTP_HEAD_MAX + 1);
	check_invalid_bytes(h->b, h->len, 431, "request head longer than 8192 bytes",
			    TCPACK_HTTP_HEAD_MAX - 1);

	/* A head that never ends. */
	h->len = 0;
	put_str(h, "GET /metrics HTTP/1.1\r\nHost: h\r\n");
	put_fill(h, 'x', TCPACK_HTTP_HEAD_MAX);
	check_invalid_bytes(h->b, h->len, 431, "request head longer than 8192 bytes",
			    TCPACK_HTTP_HEAD_MAX - 1);
	free(h);
}

/* Requests back to back in one receive: each head parsed from where the last one stopped. */
static void test_http_pipelined_requests(void **state)
{
	static const char stream[] =
		"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"
		"HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\n"
		"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
		"\r\nPOST /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
		"GET /partial HTTP/1.1\r\nHo";
	static const struct {
		size_t len;
		struct want w;
	} want[] = {
		{ 34, { GET, "/metrics", 1, true } },
		{ 35, { HEAD, "/metrics", 1, true } },
		{ 43, { GET, "/a", 0, true } },
		{ 50, { OTHER, "/b", 1, false } },
	};
	struct tcpack_http h;
	size_t off = 0;

	for (size_t i = 0; i < N_ELEMS(want); i++) {
		tcpack_http_init(&h);
		assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)stream + off, sizeof(stream) - 1 - off),
				 want[i].len);
		assert_request(&h, &want[i].w);
		off += want[i].len;
	}
	tcpack_http_init(&h);
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)stream + off, sizeof(stream) - 1 - off),
			 -EAGAIN);
	assert_int_equal(h.seen, sizeof(stream) - 1 - off);
	assert_string_equal(h.target, "/partial");
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)"st: h\r\n\r\nGET", 12), 9);
	assert_request(&h, &(struct want){ GET, "/partial", 1, true });
}

/* A head cut short is not refused, only unfinished: the caller's timeout decides. */
static void test_http_partial_head_waits(void **state)
{
	static const char text[] = "\r\nGET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
				   "Content-Length: 0\r\n\r\n";
	const size_t len = sizeof(text) - 1;
	struct tcpack_http h;

	for (size_t n = 0; n < len; n++) {
		tcpack_http_init(&h);
		assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)text, n), -EAGAIN);
		assert_int_equal(h.seen, n);
		assert_null(h.why);
		assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)text + n, len - n),
				 (ssize_t)(len - n));
		assert_int_equal(h.seen, len);
		assert_request(&h, &(struct want){ GET, "/metrics", 1, false });
	}
}

static void test_http_state_after_the_end(void **state)
{
	static const char text[] = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\nGET";
	struct tcpack_http h;

	/* Zeroed is ready; nothing to feed is harmless, before and in the middle. */
	memset(&h, 0, sizeof(h));
	assert_int_equal(tcpack_http_feed(&h, NULL, 0), -EAGAIN);
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)text, 10), -EAGAIN);
	assert_int_equal(tcpack_http_feed(&h, NULL, 0), -EAGAIN);
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)text + 10, sizeof(text) - 11), 24);
	assert_request(&h, &(struct want){ GET, "/metrics", 1, true });
	/* A complete head takes no more, not even nothing: the caller's mistake. */
	assert_int_equal(tcpack_http_feed(&h, NULL, 0), -EBADMSG);
	assert_int_equal(h.status, 500);
	assert_string_equal(h.why, "request head already complete");
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)"GET", 3), -EBADMSG);

	/* Once refused, always refused, until initialised again, which forgets everything. */
	tcpack_http_init(&h);
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)"GET /x  ", 8), -EBADMSG);
	assert_int_equal(h.status, 400);
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)"HTTP/1.1\r\n", 10), -EBADMSG);
	assert_string_equal(h.why, "HTTP version is not HTTP/DIGIT.DIGIT");
	assert_int_equal(h.status, 400);
	tcpack_http_init(&h);
	assert_int_equal(h.seen, 0);
	assert_null(h.why);
	assert_int_equal(h.status, 0);
	assert_string_equal(h.target, "");
	assert_int_equal(tcpack_http_feed(&h, (const uint8_t *)"HEAD / HTTP/1.0\r\n\r\n", 19), 19);
	assert_request(&h, &(struct want){ HEAD, "/", 0, false });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_get_metrics),
		cmocka_unit_test(test_http_head),
		cmocka_unit_test(test_http_other_methods),
		cmocka_unit_test(test_http_origin_form_targets),
		cmocka_unit_test(test_http_target_refused),
		cmocka_unit_test(test_http_target_max_accepted_one_more_refused),
		cmocka_unit_test(test_http_method_too_long_is_501),
		cmocka_unit_test(test_http_request_line_refused),
		cmocka_unit_test(test_http_versions),
		cmocka_unit_test(test_http_empty_lines_before_the_request_line),
		cmocka_unit_test(test_http_bare_lf_and_cr_refused),
		cmocka_unit_test(test_http_fields_skipped_but_checked),
		cmocka_unit_test(test_http_field_syntax_refused),
		cmocka_unit_test(test_http_host),
		cmocka_unit_test(test_http_keep_alive_per_version),
		cmocka_unit_test(test_http_connection_syntax_refused),
		cmocka_unit_test(test_http_content_length),
		cmocka_unit_test(test_http_transfer_encoding),
		cmocka_unit_test(test_http_head_max_accepted_one_more_refused),
		cmocka_unit_test(test_http_pipelined_requests),
		cmocka_unit_test(test_http_partial_head_waits),
		cmocka_unit_test(test_http_state_after_the_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
