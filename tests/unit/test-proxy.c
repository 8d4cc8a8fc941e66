// SPDX-License-Identifier: MIT
/*
 * The PROXY protocol header (doc/proxy-protocol.txt). TCP delivers the
 * header in arbitrary pieces, so every header is also fed one byte at a
 * time and cut at every point (into two and three pieces): the outcome, the
 * reason for a refusal and the byte it is refused at must not change, and
 * the client's bytes after the header are never taken.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/proxy.h"

/* What a client sends after the header: it must stay unread. */
static const char client_data[] = "GET / HTTP/1.1\r\n\r\nPROXY TCP4 6.6.6.6 6.6.6.6 6 6\r\n";

struct header {
	uint8_t b[70000];
	size_t len;
};

static void put(struct header *h, const void *p, size_t n)
{
	assert_true(h->len + n <= sizeof(h->b));
	memcpy(h->b + h->len, p, n);
	h->len += n;
}

static void put_u8(struct header *h, uint8_t v)
{
	put(h, &v, 1);
}

static void put_u16(struct header *h, uint16_t v)
{
	put_u8(h, (uint8_t)(v >> 8));
	put_u8(h, (uint8_t)v);
}

static void put_str(struct header *h, const char *s)
{
	put(h, s, strlen(s));
}

static void put_ip4(struct header *h, const char *text)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	put(h, &a, sizeof(a));
}

static void put_ip6(struct header *h, const char *text)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, text, &a), 1);
	put(h, &a, sizeof(a));
}

static void put_tlv(struct header *h, uint8_t type, uint16_t len, uint8_t fill)
{
	put_u8(h, type);
	put_u16(h, len);
	for (size_t i = 0; i < len; i++)
		put_u8(h, fill);
}

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* A v2 head: signature, version and command, family, length. */
static void v2_head(struct header *h, uint8_t ver_cmd, uint8_t fam, uint16_t len)
{
	h->len = 0;
	put(h, v2_sig, sizeof(v2_sig));
	put_u8(h, ver_cmd);
	put_u8(h, fam);
	put_u16(h, len);
}

static void v1_line(struct header *h, const char *line)
{
	h->len = 0;
	put_str(h, line);
}

#define LOCAL	0x20
#define PROXY	0x21

/* What a valid header must give. */
struct want {
	uint8_t version;
	bool local;
	int family;			/* AF_INET or AF_INET6 unless local */
	const char *src, *dst;
	uint16_t sport, dport;
};

static void assert_endpoint(const struct sockaddr_storage *ss, int family, const char *addr,
			    uint16_t port)
{
	assert_int_equal(ss->ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
		struct in_addr a;

		assert_int_equal(inet_pton(AF_INET, addr, &a), 1);
		assert_int_equal(ntohs(in4->sin_port), port);
		assert_int_equal(in4->sin_addr.s_addr, a.s_addr);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		struct in6_addr a;

		assert_int_equal(inet_pton(AF_INET6, addr, &a), 1);
		assert_int_equal(ntohs(in6->sin6_port), port);
		assert_memory_equal(&in6->sin6_addr, &a, sizeof(a));
		assert_int_equal(in6->sin6_flowinfo, 0);
		assert_int_equal(in6->sin6_scope_id, 0);
	}
}

static void assert_result(const struct tcpack_proxy *p, const struct want *w)
{
	assert_null(p->why);
	assert_int_equal(p->version, w->version);
	assert_int_equal(p->local, w->local);
	if (w->local) {
		/* The connection's own endpoints are used: none are made up. */
		assert_int_equal(p->src.ss_family, AF_UNSPEC);
		assert_int_equal(p->dst.ss_family, AF_UNSPEC);
		return;
	}
	assert_endpoint(&p->src, w->family, w->src, w->sport);
	assert_endpoint(&p->dst, w->family, w->dst, w->dport);
}

/* The outcome of feeding a stream in pieces, the way conn.c feeds receives. */
struct outcome {
	ssize_t r;		/* -EAGAIN, -EBADMSG, or the stream offset just past the header */
	size_t fail_from, fail_to;	/* -EBADMSG: the piece that was refused */
	struct tcpack_proxy p;
};

/*
 * Feed @in in pieces ending at @cuts (ascending, the last one == len), each
 * copied to a buffer of exactly its size, so that AddressSanitizer sees any
 * read past it.
 */
static void feed_in_pieces(enum tcpack_proxy_mode mode, const uint8_t *in, size_t len,
			   const size_t *cuts, size_t n_cuts, struct outcome *o)
{
	size_t off = 0;

	tcpack_proxy_init(&o->p, mode);
	o->r = -EAGAIN;
	for (size_t c = 0; c < n_cuts; c++) {
		size_t n = cuts[c] - off;
		uint8_t *piece = malloc(n ? n : 1);
		ssize_t r;

		assert_non_null(piece);
		if (n)
			memcpy(piece, in + off, n);
		r = tcpack_proxy_feed(&o->p, piece, n);
		free(piece);
		if (r == -EAGAIN) {
			assert_null(o->p.why);
			off = cuts[c];
			continue;
		}
		if (r == -EBADMSG) {
			assert_non_null(o->p.why);
			o->r = r;
			o->fail_from = off;
			o->fail_to = cuts[c];
			return;
		}
		assert_true(r > 0);
		assert_true((size_t)r <= n);
		o->r = (ssize_t)(off + (size_t)r);
		return;
	}
}

static void feed_whole(enum tcpack_proxy_mode mode, const uint8_t *in, size_t len,
		       struct outcome *o)
{
	feed_in_pieces(mode, in, len, &len, 1, o);
}

static void assert_same_outcome(const struct outcome *want, const struct outcome *got)
{
	assert_int_equal(got->r, want->r);
	if (got->r == -EBADMSG) {
		assert_ptr_equal(got->p.why, want->p.why);
		/* Refused by the piece holding the byte that proved it. */
		assert_true(got->fail_from <= want->fail_from);
		assert_true(want->fail_from < got->fail_to);
		return;
	}
	assert_int_equal(got->p.local, want->p.local);
	assert_int_equal(got->p.version, want->p.version);
	assert_memory_equal(&got->p.src, &want->p.src, sizeof(want->p.src));
	assert_memory_equal(&got->p.dst, &want->p.dst, sizeof(want->p.dst));
}

/*
 * The same outcome one byte at a time (the reference: its refused piece is
 * the one byte that proved the header invalid), whole, and cut into two and
 * three pieces at every point. Returns the byte-at-a-time outcome.
 */
static void check_every_split(enum tcpack_proxy_mode mode, const uint8_t *in, size_t len,
			      struct outcome *ret)
{
	struct outcome *bytewise = malloc(sizeof(*bytewise)), *got = malloc(sizeof(*got));
	size_t *cuts = malloc(sizeof(*cuts) * (len + 1));

	assert_true(bytewise && got && cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	feed_in_pieces(mode, in, len, cuts, len, bytewise);
	if (bytewise->r == -EBADMSG)
		assert_int_equal(bytewise->fail_to, bytewise->fail_from + 1);

	feed_whole(mode, in, len, got);
	assert_same_outcome(bytewise, got);
	for (size_t a = 0; a <= len; a++) {
		size_t two[] = { a, len };

		feed_in_pieces(mode, in, len, two, 2, got);
		assert_same_outcome(bytewise, got);
	}
	/* Three pieces: every pair of cuts for short headers, a sample for long ones. */
	for (size_t a = 0; a <= len; a += len > 300 ? 7 : 1) {
		for (size_t b = a; b <= len; b += len > 300 ? 5 : 1) {
			size_t three[] = { a, b, len };

			feed_in_pieces(mode, in, len, three, 3, got);
			assert_same_outcome(bytewise, got);
		}
	}
	*ret = *bytewise;
	free(bytewise);
	free(got);
	free(cuts);
}

/*
 * A valid header, with client data after it: accepted in its version's mode
 * and in ANY, with the same result however it is cut, and exactly its
 * bytes taken; refused in the other version's mode at its first byte.
 */
static void check_valid(const struct header *h, const struct want *w)
{
	enum tcpack_proxy_mode own = w->version == 1 ? TCPACK_PROXY_V1 : TCPACK_PROXY_V2;
	enum tcpack_proxy_mode other = w->version == 1 ? TCPACK_PROXY_V2 : TCPACK_PROXY_V1;
	struct header *stream = malloc(sizeof(*stream));
	struct outcome *o = malloc(sizeof(*o));

	assert_true(stream && o);
	for (size_t with_data = 0; with_data < 2; with_data++) {
		*stream = *h;
		if (with_data)
			put(stream, client_data, sizeof(client_data) - 1);

		check_every_split(own, stream->b, stream->len, o);
		assert_int_equal(o->r, h->len);
		assert_result(&o->p, w);
		check_every_split(TCPACK_PROXY_ANY, stream->b, stream->len, o);
		assert_int_equal(o->r, h->len);
		assert_result(&o->p, w);

		feed_whole(other, stream->b, stream->len, o);
		assert_int_equal(o->r, -EBADMSG);
		assert_string_equal(o->p.why, w->version == 1 ? "not a PROXY v2 signature" :
								 "not a PROXY v1 header");
	}
	free(stream);
	free(o);
}

/*
 * An invalid header: refused in @mode (and in ANY) with @why at the byte
 * @at (0-based) whatever the cuts, even with more bytes after it.
 */
static void check_invalid_mode(enum tcpack_proxy_mode mode, const struct header *h,
			       const char *why, size_t at)
{
	struct header *stream = malloc(sizeof(*stream));
	struct outcome *o = malloc(sizeof(*o));

	assert_true(stream && o);
	print_message("refused with \"%s\" at byte %zu\n", why, at);
	for (size_t with_data = 0; with_data < 2; with_data++) {
		*stream = *h;
		if (with_data)
			put(stream, client_data, sizeof(client_data) - 1);
		check_every_split(mode, stream->b, stream->len, o);
		assert_int_equal(o->r, -EBADMSG);
		assert_string_equal(o->p.why, why);
		assert_int_equal(o->fail_from, at);
	}
	free(stream);
	free(o);
}

/* The same in ANY, once the first byte has told the version. */
static void check_invalid(enum tcpack_proxy_mode mode, const struct header *h, const char *why,
			  size_t at)
{
	check_invalid_mode(mode, h, why, at);
	if (at > 0)
		check_invalid_mode(TCPACK_PROXY_ANY, h, why, at);
}

static void check_v1_valid(const char *line, const struct want *w)
{
	struct header *h = malloc(sizeof(*h));

	assert_non_null(h);
	print_message("%s", line);
	v1_line(h, line);
	check_valid(h, w);
	free(h);
}

static void check_v1_invalid_at(const char *line, size_t at, const char *why)
{
	struct header *h = malloc(sizeof(*h));

	assert_non_null(h);
	v1_line(h, line);
	check_invalid(TCPACK_PROXY_V1, h, why, at);
	free(h);
}

/* @bad: the part of @line up to and including the byte it is refused at. */
static void check_v1_invalid(const char *line, const char *bad, const char *why)
{
	assert_memory_equal(line, bad, strlen(bad));
	check_v1_invalid_at(line, strlen(bad) - 1, why);
}

static void test_proxy_mode_names(void **state)
{
	static const char *const names[] = { "off", "v1", "v2", "any" };

	assert_int_equal(tcpack_proxy_mode_parse("off"), TCPACK_PROXY_OFF);
	assert_int_equal(tcpack_proxy_mode_parse("v1"), TCPACK_PROXY_V1);
	assert_int_equal(tcpack_proxy_mode_parse("v2"), TCPACK_PROXY_V2);
	assert_int_equal(tcpack_proxy_mode_parse("any"), TCPACK_PROXY_ANY);
	for (int m = TCPACK_PROXY_OFF; m <= TCPACK_PROXY_ANY; m++) {
		assert_string_equal(tcpack_proxy_mode_name(m), names[m]);
		assert_int_equal(tcpack_proxy_mode_parse(tcpack_proxy_mode_name(m)), m);
	}
	assert_int_equal(tcpack_proxy_mode_parse(""), -EINVAL);
	assert_int_equal(tcpack_proxy_mode_parse("V1"), -EINVAL);
	assert_int_equal(tcpack_proxy_mode_parse("on"), -EINVAL);
	assert_int_equal(tcpack_proxy_mode_parse("v1 "), -EINVAL);
	assert_string_equal(tcpack_proxy_mode_name((enum tcpack_proxy_mode)42), "?");
}

static void test_proxy_v1_tcp4(void **state)
{
	check_v1_valid("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
		       &(struct want){ 1, false, AF_INET, "192.168.0.1", "192.168.0.11", 56324, 443 });
	/* The longest TCP4 line (2.1: 56 bytes). */
	check_v1_valid("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
		       &(struct want){ 1, false, AF_INET, "255.255.255.255", "255.255.255.255",
				       65535, 65535 });
	/* A lone 0 is no heading zero. */
	check_v1_valid("PROXY TCP4 0.0.0.0 10.0.100.1 0 0\r\n",
		       &(struct want){ 1, false, AF_INET, "0.0.0.0", "10.0.100.1", 0, 0 });
	check_v1_valid("PROXY TCP4 1.2.3.4 5.6.7.8 10 9\r\n",
		       &(struct want){ 1, false, AF_INET, "1.2.3.4", "5.6.7.8", 10, 9 });
}

static void test_proxy_v1_tcp6(void **state)
{
	check_v1_valid("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n",
		       &(struct want){ 1, false, AF_INET6, "2001:db8::1", "2001:db8::2", 1234, 80 });
	/* The longest TCP6 line (2.1: 104 bytes). */
	check_v1_valid("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		       &(struct want){ 1, false, AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
				       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535 });
	/* Upper case hex, the full form, and a v4-mapped address as inet_ntop() writes it. */
	check_v1_valid("PROXY TCP6 FE80::A:B 0:0:0:0:0:0:0:1 1 65535\r\n",
		       &(struct want){ 1, false, AF_INET6, "fe80::a:b", "::1", 1, 65535 });
	check_v1_valid("PROXY TCP6 ::ffff:192.0.2.1 :: 443 8080\r\n",
		       &(struct want){ 1, false, AF_INET6, "::ffff:192.0.2.1", "::", 443, 8080 });
}

static void test_proxy_v1_unknown_is_local(void **state)
{
	const struct want local = { 1, true, 0, NULL, NULL, 0, 0 };

	check_v1_valid("PROXY UNKNOWN\r\n", &local);
	check_v1_valid("PROXY UNKNOWN \r\n", &local);
	/* "the receiver must ignore anything presented before the CRLF" */
	check_v1_valid("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", &local);
	check_v1_valid("PROXY UNKNOWN  not even \x01\xff fields\r\n", &local);
	/* The worst case of 2.1: 107 bytes. */
	check_v1_valid("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", &local);
}

static void test_proxy_v1_max_length_accepted_one_more_refused(void **state)
{
	char line[200];

	/* "PROXY UNKNOWN " is 14 bytes, "\r\n" 2: 91 more make 107. */
	snprintf(line, sizeof(line), "PROXY UNKNOWN %.*s\r\n", 91,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(strlen(line), TCPACK_PROXY_V1_MAX);
	check_v1_valid(line, &(struct want){ 1, true, 0, NULL, NULL, 0, 0 });

	/* 108: known at the 106th byte, which is not the CR. */
	snprintf(line, sizeof(line), "PROXY UNKNOWN %.*s\r\n", 92,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(strlen(line), TCPACK_PROXY_V1_MAX + 1);
	check_v1_invalid_at(line, 105, "v1 header longer than 107 bytes");

	/* A CR at the 106th byte may still end the line: only the 107th tells. */
	line[105] = '\r';
	line[106] = 'x';
	check_v1_invalid_at(line, 106, "v1 CR not followed by LF");

	/* No LF at all, the line going on and on. */
	memset(line + 14, 'x', sizeof(line) - 15);
	line[sizeof(line) - 1] = '\0';
	check_v1_invalid_at(line, 105, "v1 header longer than 107 bytes");
}

static void test_proxy_v1_refused(void **state)
{
	static const struct {
		const char *line, *bad, *why;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n", "G", "not a PROXY v1 header" },
		{ "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "p", "not a PROXY v1 header" },
		{ "PROXX TCP4", "PROXX", "not a PROXY v1 header" },
		{ "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXYT", "v1 PROXY not followed by one space" },
		{ "PROXY\r\n", "PROXY\r", "v1 PROXY not followed by one space" },
		{ "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY  ",
		  "v1 fields not separated by exactly one space" },
		{ "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP5", "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY UD", "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY t", "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP44", "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP\r\n", "PROXY TCP\r", "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UNKNOWNX\r\n", "PROXY UNKNOWNX", "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY \r\n", "PROXY \r", "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP4\r\n", "PROXY TCP4\r", "v1 line ends before its source address" },
		{ "PROXY TCP4 \r\n", "PROXY TCP4 \r", "v1 line ends before its source address" },
		{ "PROXY TCP4 1.2.3.4\r\n", "PROXY TCP4 1.2.3.4\r",
		  "v1 line ends before its destination address" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8\r",
		  "v1 line ends before its source port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r",
		  "v1 line ends before its destination port" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 \r",
		  "v1 line ends before its destination port" },
		{ "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4  ",
		  "v1 fields not separated by exactly one space" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1  ",
		  "v1 fields not separated by exactly one space" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\t2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1\t",
		  "v1 source port is not a decimal number" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
		  "v1 destination port not followed by CRLF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
		  "v1 destination port not followed by CRLF" },
		/* "The receiver must not tolerate a single CR or LF character to end the line" */
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		  "v1 line ends in LF without CR" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rG",
		  "v1 CR not followed by LF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r",
		  "v1 CR not followed by LF" },
		{ "PROXY TCP4 1.2.3.4\n", "PROXY TCP4 1.2.3.4\n", "v1 line ends in LF without CR" },
		{ "PROXY TCP4\n", "PROXY TCP4\n", "v1 line ends in LF without CR" },
		{ "PROXY UNKNOWN\n", "PROXY UNKNOWN\n", "v1 line ends in LF without CR" },
		{ "PROXY UNKNOWN 1.2.3.4\n", "PROXY UNKNOWN 1.2.3.4\n", "v1 line ends in LF without CR" },
		{ "PROXY UNKNOWN a\rb\r\n", "PROXY UNKNOWN a\rb", "v1 CR not followed by LF" },
		{ "PROXY UNKNOWN\r\r\n", "PROXY UNKNOWN\r\r", "v1 CR not followed by LF" },
		/* Ports: decimal in [0..65535], no heading zeroes. */
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 65536",
		  "v1 source port is above 65535" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999",
		  "v1 destination port is above 65535" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 655350\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 655350",
		  "v1 destination port is above 65535" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 08",
		  "v1 source port has a heading zero" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 00",
		  "v1 destination port has a heading zero" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 8a 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 8a",
		  "v1 source port is not a decimal number" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 -",
		  "v1 source port is not a decimal number" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 +",
		  "v1 source port is not a decimal number" },
		/* IPv4: four decimal numbers in [0..255], single dots, no heading zeroes. */
		{ "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 01",
		  "v1 source address is not a valid IPv4 address" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.08",
		  "v1 destination address is not a valid IPv4 address" },
		{ "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 256",
		  "v1 source address is not a valid IPv4 address" },
		{ "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3 ",
		  "v1 source address is not a valid IPv4 address" },
		{ "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4.",
		  "v1 source address is not a valid IPv4 address" },
		{ "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 1..",
		  "v1 source address is not a valid IPv4 address" },
		{ "PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3. ",
		  "v1 source address is not a valid IPv4 address" },
		{ "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "PROXY TCP4 :",
		  "v1 source address is not a valid IPv4 address" },
		{ "PROXY TCP4 1.2.3.4 localhost 1 2\r\n", "PROXY TCP4 1.2.3.4 l",
		  "v1 destination address is not a valid IPv4 address" },
		/* IPv6: as inet_pton() reads it, the family the line says. */
		{ "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "PROXY TCP6 1.2.3.4 ",
		  "v1 source address is not a valid IPv6 address" },
		{ "PROXY TCP6 ::1 2001:db8:::1 1 2\r\n", "PROXY TCP6 ::1 2001:db8:::1 ",
		  "v1 destination address is not a valid IPv6 address" },
		{ "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "PROXY TCP6 1:2:3:4:5:6:7:8:9 ",
		  "v1 source address is not a valid IPv6 address" },
		{ "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "PROXY TCP6 fe80::1%",
		  "v1 source address is not a valid IPv6 address" },
		{ "PROXY TCP6 [::1] ::1 1 2\r\n", "PROXY TCP6 [",
		  "v1 source address is not a valid IPv6 address" },
		{ "PROXY TCP6 ::1 ::1 01 2\r\n", "PROXY TCP6 ::1 ::1 01",
		  "v1 source port has a heading zero" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s", cases[i].line);
		check_v1_invalid(cases[i].line, cases[i].bad, cases[i].why);
	}
}

static void test_proxy_v1_nul_byte_refused(void **state)
{
	static const char line[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";
	struct header h = { .len = 0 };

	put(&h, line, sizeof(line) - 1);
	check_invalid(TCPACK_PROXY_V1, &h, "v1 source address is not a valid IPv4 address", 18);
}

static void test_proxy_v2_tcp4(void **state)
{
	struct header h;

	v2_head(&h, PROXY, 0x11, 12);
	put_ip4(&h, "192.0.2.10");
	put_ip4(&h, "198.51.100.7");
	put_u16(&h, 50123);
	put_u16(&h, 443);
	check_valid(&h, &(struct want){ 2, false, AF_INET, "192.0.2.10", "198.51.100.7", 50123, 443 });

	v2_head(&h, PROXY, 0x11, 12);
	put_ip4(&h, "0.0.0.0");
	put_ip4(&h, "255.255.255.255");
	put_u16(&h, 0);
	put_u16(&h, 65535);
	check_valid(&h, &(struct want){ 2, false, AF_INET, "0.0.0.0", "255.255.255.255", 0, 65535 });
}

static void test_proxy_v2_tcp6(void **state)
{
	struct header h;

	v2_head(&h, PROXY, 0x21, 36);
	put_ip6(&h, "2001:db8::1");
	put_ip6(&h, "2001:db8:ffff::2");
	put_u16(&h, 1);
	put_u16(&h, 8080);
	check_valid(&h, &(struct want){ 2, false, AF_INET6, "2001:db8::1", "2001:db8:ffff::2", 1, 8080 });

	v2_head(&h, PROXY, 0x21, 36);
	put_ip6(&h, "::ffff:192.0.2.1");
	put_ip6(&h, "::1");
	put_u16(&h, 65535);
	put_u16(&h, 0);
	check_valid(&h, &(struct want){ 2, false, AF_INET6, "::ffff:192.0.2.1", "::1", 65535, 0 });
}

static void test_proxy_v2_local(void **state)
{
	const struct want local = { 2, true, 0, NULL, NULL, 0, 0 };
	struct header h;

	/* What senders send for a health check. */
	v2_head(&h, LOCAL, 0x00, 0);
	check_valid(&h, &local);

	/* "must not assume zero is presented for LOCAL connections" */
	v2_head(&h, LOCAL, 0x11, 12);
	put_ip4(&h, "192.0.2.10");
	put_ip4(&h, "198.51.100.7");
	put_u16(&h, 50123);
	put_u16(&h, 443);
	check_valid(&h, &local);

	/* "discard the protocol block including the family which is ignored" */
	v2_head(&h, LOCAL, 0xff, 5);
	put_str(&h, "\xff\xff\xff\xff\xff");
	check_valid(&h, &local);
	/* Too short for its family, and a TLV running past the end: ignored too. */
	v2_head(&h, LOCAL, 0x21, 4);
	put_tlv(&h, 0x01, 100, 'x');
	h.len = 16 + 4;
	check_valid(&h, &local);
}

static void test_proxy_v2_unspec_is_local(void **state)
{
	const struct want local = { 2, true, 0, NULL, NULL, 0, 0 };
	struct header h;

	v2_head(&h, PROXY, 0x00, 0);
	check_valid(&h, &local);
	/* "The receiver should ignore address information." */
	v2_head(&h, PROXY, 0x00, 7);
	put_str(&h, "ignored");
	check_valid(&h, &local);
	/* An unspecified family or protocol nibble alone is UNSPEC too. */
	v2_head(&h, PROXY, 0x10, 12);
	put_tlv(&h, 0x04, 100, 0);
	h.len = 16 + 12;
	check_valid(&h, &local);
	v2_head(&h, PROXY, 0x01, 3);
	put_str(&h, "abc");
	check_valid(&h, &local);
	v2_head(&h, PROXY, 0x30, 0);
	check_valid(&h, &local);
}

/*
 * "A receiver is not required to implement other ones, provided that it
 * automatically falls back to the UNSPEC mode for the valid combinations
 * above that it does not support." tcpack serves TCP streams only.
 */
static void test_proxy_v2_udp_and_unix_fall_back_to_local(void **state)
{
	const struct want local = { 2, true, 0, NULL, NULL, 0, 0 };
	static const struct {
		uint8_t fam;
		uint16_t addr_len;
	} families[] = { { 0x12, 12 }, { 0x22, 36 }, { 0x31, 216 }, { 0x32, 216 } };
	struct header h;

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		uint16_t n = families[i].addr_len;

		print_message("family 0x%02x\n", families[i].fam);
		v2_head(&h, PROXY, families[i].fam, n);
		for (size_t j = 0; j < n; j++)
			put_u8(&h, (uint8_t)j);
		check_valid(&h, &local);

		/* Their TLVs are walked all the same. */
		v2_head(&h, PROXY, families[i].fam, (uint16_t)(n + 3 + 5 + 3));
		for (size_t j = 0; j < n; j++)
			put_u8(&h, (uint8_t)j);
		put_tlv(&h, 0x02, 5, 'a');
		put_tlv(&h, 0x04, 0, 0);
		check_valid(&h, &local);
		v2_head(&h, PROXY, families[i].fam, (uint16_t)(n + 3 + 5));
		for (size_t j = 0; j < n; j++)
			put_u8(&h, (uint8_t)j);
		put_tlv(&h, 0x02, 6, 'a');
		check_invalid(TCPACK_PROXY_V2, &h, "v2 TLV runs past the end of the header",
			      16 + n + 2);
	}
}

static void test_proxy_v2_tlvs_are_skipped(void **state)
{
	struct header h;

	/* ALPN, AUTHORITY, an empty NOOP, a custom one, all within the length. */
	v2_head(&h, PROXY, 0x11, 12 + (3 + 2) + (3 + 11) + 3 + (3 + 300));
	put_ip4(&h, "203.0.113.5");
	put_ip4(&h, "10.1.2.3");
	put_u16(&h, 40000);
	put_u16(&h, 7);
	put_u8(&h, 0x01);
	put_u16(&h, 2);
	put_str(&h, "h2");
	put_u8(&h, 0x02);
	put_u16(&h, 11);
	put_str(&h, "example.com");
	put_tlv(&h, 0x04, 0, 0);
	put_tlv(&h, 0xe0, 300, 0xee);
	check_valid(&h, &(struct want){ 2, false, AF_INET, "203.0.113.5", "10.1.2.3", 40000, 7 });

	/* The TLV area ending with an empty one, right at the end. */
	v2_head(&h, PROXY, 0x21, 36 + 3 + 1 + 3);
	put_ip6(&h, "2001:db8::5");
	put_ip6(&h, "2001:db8::6");
	put_u16(&h, 5);
	put_u16(&h, 6);
	put_tlv(&h, 0x05, 1, 0x42);
	put_tlv(&h, 0x04, 0, 0);
	check_valid(&h, &(struct want){ 2, false, AF_INET6, "2001:db8::5", "2001:db8::6", 5, 6 });

	/* A TLV with a length whose high byte is set (0x0100). */
	v2_head(&h, PROXY, 0x11, 12 + 3 + 256);
	put_ip4(&h, "1.1.1.1");
	put_ip4(&h, "2.2.2.2");
	put_u16(&h, 1);
	put_u16(&h, 2);
	put_tlv(&h, 0x20, 256, 0x0a);
	check_valid(&h, &(struct want){ 2, false, AF_INET, "1.1.1.1", "2.2.2.2", 1, 2 });
}

static void test_proxy_v2_tlv_past_the_end_refused(void **state)
{
	struct header h;

	/* A TLV one byte longer than what is left: refused at its length's low byte. */
	v2_head(&h, PROXY, 0x11, 12 + 3 + 4);
	put_ip4(&h, "1.1.1.1");
	put_ip4(&h, "2.2.2.2");
	put_u16(&h, 1);
	put_u16(&h, 2);
	put_tlv(&h, 0x01, 5, 'x');
	check_invalid(TCPACK_PROXY_V2, &h, "v2 TLV runs past the end of the header", 16 + 12 + 2);

	/* The second TLV runs past the end. */
	v2_head(&h, PROXY, 0x21, 36 + 3 + 2 + 3 + 1);
	put_ip6(&h, "::1");
	put_ip6(&h, "::2");
	put_u16(&h, 1);
	put_u16(&h, 2);
	put_tlv(&h, 0x01, 2, 'x');
	put_tlv(&h, 0x02, 0xffff, 'y');
	h.len = 16 + 36 + 3 + 2 + 3 + 1;
	check_invalid(TCPACK_PROXY_V2, &h, "v2 TLV runs past the end of the header", 16 + 36 + 5 + 2);

	/* One or two bytes after the addresses: no TLV fits, known from the length field. */
	for (uint16_t extra = 1; extra <= 2; extra++) {
		v2_head(&h, PROXY, 0x11, (uint16_t)(12 + extra));
		put_ip4(&h, "1.1.1.1");
		put_ip4(&h, "2.2.2.2");
		put_u16(&h, 1);
		put_u16(&h, 2);
		put_u8(&h, 0x04);
		if (extra == 2)
			put_u8(&h, 0);
		check_invalid(TCPACK_PROXY_V2, &h, "v2 TLV cut by the end of the header", 15);
	}

	/* Two bytes left after a TLV: known at that TLV's length. */
	v2_head(&h, PROXY, 0x11, 12 + 3 + 1 + 2);
	put_ip4(&h, "1.1.1.1");
	put_ip4(&h, "2.2.2.2");
	put_u16(&h, 1);
	put_u16(&h, 2);
	put_tlv(&h, 0x01, 1, 'x');
	put_u8(&h, 0x04);
	put_u8(&h, 0x00);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 TLV cut by the end of the header", 16 + 12 + 2);
}

static void test_proxy_v2_refused(void **state)
{
	struct header h;

	/* Every signature byte, wrong. */
	for (size_t i = 0; i < sizeof(v2_sig); i++) {
		v2_head(&h, PROXY, 0x11, 12);
		put_ip4(&h, "1.1.1.1");
		put_ip4(&h, "2.2.2.2");
		put_u16(&h, 1);
		put_u16(&h, 2);
		h.b[i] ^= 0x20;
		check_invalid_mode(TCPACK_PROXY_V2, &h, "not a PROXY v2 signature", i);
		if (i)
			check_invalid_mode(TCPACK_PROXY_ANY, &h, "not a PROXY v2 signature", i);
	}

	/* "it must always be sent as \x2 and the receiver must only accept this value" */
	for (unsigned int ver = 0; ver < 16; ver++) {
		if (ver == 2)
			continue;
		v2_head(&h, (uint8_t)(ver << 4 | 0x1), 0x11, 12);
		check_invalid(TCPACK_PROXY_V2, &h, "v2 version is not 2", 12);
	}
	/* "Receivers must drop connections presenting unexpected values here." */
	for (unsigned int cmd = 2; cmd < 16; cmd++) {
		v2_head(&h, (uint8_t)(0x20 | cmd), 0x00, 0);
		check_invalid(TCPACK_PROXY_V2, &h, "v2 command is neither LOCAL nor PROXY", 12);
	}
	/* "other values are unspecified ... must be rejected as invalid by receivers" */
	for (unsigned int fam = 4; fam < 16; fam++) {
		v2_head(&h, PROXY, (uint8_t)(fam << 4 | 0x1), 12);
		check_invalid(TCPACK_PROXY_V2, &h, "v2 address family is unassigned", 13);
	}
	for (unsigned int proto = 3; proto < 16; proto++) {
		v2_head(&h, PROXY, (uint8_t)(0x10 | proto), 12);
		check_invalid(TCPACK_PROXY_V2, &h, "v2 transport protocol is unassigned", 13);
	}

	/* Address blocks shorter than their family's: known from the length field. */
	v2_head(&h, PROXY, 0x11, 11);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for TCP over IPv4", 15);
	v2_head(&h, PROXY, 0x11, 0);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for TCP over IPv4", 15);
	v2_head(&h, PROXY, 0x21, 35);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for TCP over IPv6", 15);
	v2_head(&h, PROXY, 0x21, 12);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for TCP over IPv6", 15);
	v2_head(&h, PROXY, 0x12, 11);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for UDP over IPv4", 15);
	v2_head(&h, PROXY, 0x22, 35);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for UDP over IPv6", 15);
	v2_head(&h, PROXY, 0x31, 215);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for UNIX stream", 15);
	v2_head(&h, PROXY, 0x32, 36);
	check_invalid(TCPACK_PROXY_V2, &h, "v2 address block too short for UNIX datagram", 15);
}

/* A v2 header cut short is not refused, only unfinished: the caller's timeout decides. */
static void test_proxy_v2_partial_header_waits(void **state)
{
	struct tcpack_proxy p;
	struct header h;

	v2_head(&h, PROXY, 0x11, 12 + 3 + 10);
	put_ip4(&h, "1.1.1.1");
	put_ip4(&h, "2.2.2.2");
	put_u16(&h, 1);
	put_u16(&h, 2);
	put_tlv(&h, 0x01, 10, 'x');
	for (size_t n = 0; n < h.len; n++) {
		tcpack_proxy_init(&p, TCPACK_PROXY_V2);
		assert_int_equal(tcpack_proxy_feed(&p, h.b, n), -EAGAIN);
		assert_int_equal(p.seen, n);
		assert_null(p.why);
		assert_int_equal(tcpack_proxy_feed(&p, h.b + n, h.len - n), (ssize_t)(h.len - n));
		assert_endpoint(&p.src, AF_INET, "1.1.1.1", 1);
	}
}

/*
 * The largest TLV area a v2 header can have (64 KiB less the addresses),
 * streamed in small pieces of several sizes: skipped without being kept,
 * the header's last byte found exactly, the client's first byte left alone.
 */
static void test_proxy_v2_large_tlv_area_streamed(void **state)
{
	static const size_t piece_sizes[] = { 1, 3, 7, 512, 1500, 4096, 65536 };
	struct header *h = malloc(sizeof(*h));
	uint16_t area = 0xffff - 36;

	assert_non_null(h);
	v2_head(h, PROXY, 0x21, 0xffff);
	put_ip6(h, "2001:db8::77");
	put_ip6(h, "2001:db8::88");
	put_u16(h, 7777);
	put_u16(h, 8888);
	/* A 60 KiB TLV, then TLVs filling the rest exactly. */
	put_tlv(h, 0xe1, 61440, 0x5a);
	area -= 3 + 61440;
	while (area > 3 + 255) {
		put_tlv(h, 0x04, 255, 0);
		area -= 3 + 255;
	}
	put_tlv(h, 0x04, (uint16_t)(area - 3), 0xa5);
	assert_int_equal(h->len, 16 + 0xffff);
	put(h, client_data, sizeof(client_data) - 1);

	for (size_t s = 0; s < sizeof(piece_sizes) / sizeof(piece_sizes[0]); s++) {
		struct tcpack_proxy p;
		size_t off = 0;
		ssize_t r = -EAGAIN;

		print_message("pieces of %zu bytes\n", piece_sizes[s]);
		tcpack_proxy_init(&p, TCPACK_PROXY_ANY);
		while (r == -EAGAIN) {
			size_t n = h->len - off < piece_sizes[s] ? h->len - off : piece_sizes[s];
			uint8_t *piece = malloc(n);

			assert_true(n > 0);
			assert_non_null(piece);
			memcpy(piece, h->b + off, n);
			r = tcpack_proxy_feed(&p, piece, n);
			free(piece);
			if (r == -EAGAIN)
				off += n;
		}
		assert_true(r > 0);
		assert_int_equal(off + (size_t)r, 16 + 0xffff);
		assert_result(&p, &(struct want){ 2, false, AF_INET6, "2001:db8::77", "2001:db8::88",
						  7777, 8888 });
	}

	/* The one over 60 KiB crossing the end by a byte. */
	v2_head(h, PROXY, 0x11, 12 + 3 + 61440);
	put_ip4(h, "1.1.1.1");
	put_ip4(h, "2.2.2.2");
	put_u16(h, 1);
	put_u16(h, 2);
	put_tlv(h, 0xe1, 61441, 0x5a);
	{
		struct tcpack_proxy p;

		tcpack_proxy_init(&p, TCPACK_PROXY_V2);
		assert_int_equal(tcpack_proxy_feed(&p, h->b, 16 + 12 + 2), -EAGAIN);
		assert_int_equal(tcpack_proxy_feed(&p, h->b + 30, 1), -EBADMSG);
		assert_string_equal(p.why, "v2 TLV runs past the end of the header");
	}
	free(h);
}

static void test_proxy_mode_mismatch_refused(void **state)
{
	static const char v1[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
	struct tcpack_proxy p;
	struct header h;

	/* A v1 header on a v2 listener, and the other way round: refused at once. */
	tcpack_proxy_init(&p, TCPACK_PROXY_V2);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)v1, 1), -EBADMSG);
	assert_string_equal(p.why, "not a PROXY v2 signature");

	v2_head(&h, PROXY, 0x11, 12);
	tcpack_proxy_init(&p, TCPACK_PROXY_V1);
	assert_int_equal(tcpack_proxy_feed(&p, h.b, 1), -EBADMSG);
	assert_string_equal(p.why, "not a PROXY v1 header");

	/* Neither, on an "any" listener: the first byte decides. */
	tcpack_proxy_init(&p, TCPACK_PROXY_ANY);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"GET / HTTP/1.0\r\n", 16), -EBADMSG);
	assert_string_equal(p.why, "neither a PROXY v1 nor a v2 header");
	tcpack_proxy_init(&p, TCPACK_PROXY_ANY);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"\x16\x03\x01", 3), -EBADMSG);
	assert_string_equal(p.why, "neither a PROXY v1 nor a v2 header");
	/* A CR that is not a v2 signature, a P that is not "PROXY". */
	tcpack_proxy_init(&p, TCPACK_PROXY_ANY);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"\r\nGET", 5), -EBADMSG);
	assert_string_equal(p.why, "not a PROXY v2 signature");
	tcpack_proxy_init(&p, TCPACK_PROXY_ANY);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"POST /", 6), -EBADMSG);
	assert_string_equal(p.why, "not a PROXY v1 header");
}

static void test_proxy_off_mode_expects_nothing(void **state)
{
	struct tcpack_proxy p;

	tcpack_proxy_init(&p, TCPACK_PROXY_OFF);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"PROXY UNKNOWN\r\n", 15), -EBADMSG);
	assert_string_equal(p.why, "no PROXY header expected");
	/* Zeroed is "off" too. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"P", 1), -EBADMSG);
	assert_string_equal(p.why, "no PROXY header expected");
}

static void test_proxy_state_after_the_end(void **state)
{
	static const char v1[] = "PROXY UNKNOWN\r\nhello";
	struct tcpack_proxy p;

	/* Nothing to feed is harmless, before and in the middle. */
	tcpack_proxy_init(&p, TCPACK_PROXY_ANY);
	assert_int_equal(tcpack_proxy_feed(&p, NULL, 0), -EAGAIN);
	assert_int_equal(p.version, 0);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)v1, 3), -EAGAIN);
	assert_int_equal(tcpack_proxy_feed(&p, NULL, 0), -EAGAIN);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)v1 + 3, sizeof(v1) - 4), 12);
	assert_true(p.local);
	assert_int_equal(p.version, 1);
	/* A finished header takes no more bytes. */
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"hello", 5), -EBADMSG);
	assert_string_equal(p.why, "PROXY header already complete");

	/* Once refused, always refused, until initialised again. */
	tcpack_proxy_init(&p, TCPACK_PROXY_V1);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"PROXY  ", 7), -EBADMSG);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)"TCP4", 4), -EBADMSG);
	assert_string_equal(p.why, "v1 fields not separated by exactly one space");
	tcpack_proxy_init(&p, TCPACK_PROXY_V1);
	assert_int_equal(tcpack_proxy_feed(&p, (const uint8_t *)v1, sizeof(v1) - 1), 15);
	assert_null(p.why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_mode_names),
		cmocka_unit_test(test_proxy_v1_tcp4),
		cmocka_unit_test(test_proxy_v1_tcp6),
		cmocka_unit_test(test_proxy_v1_unknown_is_local),
		cmocka_unit_test(test_proxy_v1_max_length_accepted_one_more_refused),
		cmocka_unit_test(test_proxy_v1_refused),
		cmocka_unit_test(test_proxy_v1_nul_byte_refused),
		cmocka_unit_test(test_proxy_v2_tcp4),
		cmocka_unit_test(test_proxy_v2_tcp6),
		cmocka_unit_test(test_proxy_v2_local),
		cmocka_unit_test(test_proxy_v2_unspec_is_local),
		cmocka_unit_test(test_proxy_v2_udp_and_unix_fall_back_to_local),
		cmocka_unit_test(test_proxy_v2_tlvs_are_skipped),
		cmocka_unit_test(test_proxy_v2_tlv_past_the_end_refused),
		cmocka_unit_test(test_proxy_v2_refused),
		cmocka_unit_test(test_proxy_v2_partial_header_waits),
		cmocka_unit_test(test_proxy_v2_large_tlv_area_streamed),
		cmocka_unit_test(test_proxy_mode_mismatch_refused),
		cmocka_unit_test(test_proxy_off_mode_expects_nothing),
		cmocka_unit_test(test_proxy_state_after_the_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
