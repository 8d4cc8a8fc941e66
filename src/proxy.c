// SPDX-License-Identifier: MIT
/*
 * The PROXY protocol header, as HAProxy's doc/proxy-protocol.txt has it.
 *
 * v1 is one line of at most 107 bytes. It is kept whole, and what has come
 * so far is checked again after every call: a line is refused by the call
 * that brings the first byte no valid line can have there.
 *
 * v2 is a 16-byte head, an address block and TLVs, all counted by the
 * head's length field. The head and the address block are kept; the TLVs
 * (up to 64 KiB) are walked as they stream past and never kept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "tcpack/proxy.h"

static const char *const mode_names[] = {
	[TCPACK_PROXY_OFF] = "off",
	[TCPACK_PROXY_V1] = "v1",
	[TCPACK_PROXY_V2] = "v2",
	[TCPACK_PROXY_ANY] = "any",
};

int tcpack_proxy_mode_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (!strcmp(s, mode_names[i]))
			return (int)i;
	return -EINVAL;
}

const char *tcpack_proxy_mode_name(enum tcpack_proxy_mode mode)
{
	if ((unsigned int)mode >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "?";
	return mode_names[mode];
}

void tcpack_proxy_init(struct tcpack_proxy *p, enum tcpack_proxy_mode mode)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
}

static ssize_t fail(struct tcpack_proxy *p, const char *why)
{
	p->why = why;
	return -EBADMSG;
}

/* Version 1 */

#define V1_FIELD(name) { \
		"v1 line ends before its " name, \
		"v1 " name " is not a valid IPv4 address", \
		"v1 " name " is not a valid IPv6 address", \
		"v1 " name " is not a decimal number", \
		"v1 " name " has a heading zero", \
		"v1 " name " is above 65535", \
	}

/* The fields after "PROXY TCP4 " or "PROXY TCP6 ", in their order. */
static const struct v1_field {
	const char *missing;
	const char *not_ip4, *not_ip6;		/* the addresses */
	const char *not_digits, *zero, *too_big;	/* the ports */
} v1_fields[] = {
	V1_FIELD("source address"),
	V1_FIELD("destination address"),
	V1_FIELD("source port"),
	V1_FIELD("destination port"),
};

static const char v1_bare_lf[] = "v1 line ends in LF without CR";
static const char v1_bare_cr[] = "v1 CR not followed by LF";
static const char v1_spacing[] = "v1 fields not separated by exactly one space";
static const char v1_protocol[] = "v1 protocol is not TCP4, TCP6 or UNKNOWN";

/* The end of the token at s[at..n): its ' ', '\r' or '\n', or n if none came yet. */
static size_t v1_token_end(const uint8_t *s, size_t at, size_t n)
{
	while (at < n && s[at] != ' ' && s[at] != '\r' && s[at] != '\n')
		at++;
	return at;
}

static bool v1_token_is(const uint8_t *s, size_t n, const char *word, bool whole)
{
	size_t len = strlen(word);

	return (whole ? n == len : n <= len) && !memcmp(s, word, n);
}

/*
 * "exactly 4 integers in the range [0..255] inclusive written in decimal
 * representation separated by exactly one dot between each other. Heading
 * zeroes are not permitted" (2.1). @whole: s[0..n) is the whole token, not
 * only what has come of it so far. Checked here rather than by inet_pton(),
 * which leaves heading zeroes to the C library.
 */
static bool v1_ip4(const uint8_t *s, size_t n, bool whole, struct in_addr *ret)
{
	uint8_t quad[4] = { 0 };
	unsigned int part = 0, digits = 0, value = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (!digits || part == 3)
				return false;
			quad[part++] = (uint8_t)value;
			digits = value = 0;
		} else if (s[i] >= '0' && s[i] <= '9') {
			if (digits == 1 && value == 0)
				return false;
			value = value * 10 + (unsigned int)(s[i] - '0');
			if (value > 255)
				return false;
			digits++;
		} else {
			return false;
		}
	}
	if (!whole)
		return true;
	if (part != 3 || !digits)
		return false;
	quad[3] = (uint8_t)value;
	memcpy(ret, quad, sizeof(quad));
	return true;
}

static bool v1_ip6_char(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       c == ':' || c == '.';
}

/*
 * Hexadecimal groups and colons, one "::" at most (2.1), as inet_pton()
 * reads them; a dotted IPv4 tail ("::ffff:192.0.2.1") is taken too, since
 * that is what inet_ntop() gives a sender for a v4-mapped address. Until
 * the token is whole only its characters and its length (45 at most, the
 * longest inet_pton() takes) are checked.
 */
static bool v1_ip6(const uint8_t *s, size_t n, bool whole, struct in6_addr *ret)
{
	char text[INET6_ADDRSTRLEN];

	if (n >= sizeof(text))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!v1_ip6_char(s[i]))
			return false;
	if (!whole)
		return true;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, ret) == 1;
}

/* "a decimal integer in the range [0..65535] inclusive. Heading zeroes are not permitted" (2.1). */
static const char *v1_port(const struct v1_field *f, const uint8_t *s, size_t n, uint16_t *ret)
{
	uint32_t value = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return f->not_digits;
		if (i == 1 && s[0] == '0')
			return f->zero;
		value = value * 10 + (uint32_t)(s[i] - '0');
		if (value > 65535)
			return f->too_big;
	}
	*ret = (uint16_t)value;
	return NULL;
}

/*
 * After "UNKNOWN": "the receiver must ignore anything presented before the
 * CRLF is found" (2.1). Anything but a CR or LF outside that CRLF: "The
 * receiver must not tolerate a single CR or LF character to end the line".
 */
static ssize_t v1_unknown(struct tcpack_proxy *p, size_t at)
{
	const uint8_t *s = p->buf;
	size_t n = p->seen;

	if (s[at] != ' ' && s[at] != '\r')
		return fail(p, v1_bare_lf);
	for (size_t i = at; i < n; i++) {
		if (s[i] == '\n') {
			if (s[i - 1] != '\r')
				return fail(p, v1_bare_lf);
			p->local = true;
			return (ssize_t)(i + 1);
		}
		if (s[i] == '\r' && i + 1 < n && s[i + 1] != '\n')
			return fail(p, v1_bare_cr);
	}
	return 0;
}

static void v1_set(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)ss;

		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		memcpy(&in4->sin_addr, addr, sizeof(in4->sin_addr));
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, addr, sizeof(in6->sin6_addr));
	}
}

/*
 * Check the line so far, buf[0..seen), which holds no '\n' but maybe a last
 * one. Return: its length when it is a whole valid line (the result filled
 * in), 0 while more bytes may still make it one, -EBADMSG when none can.
 */
static ssize_t v1_check(struct tcpack_proxy *p)
{
	static const char proxy[] = "PROXY ";
	const uint8_t *s = p->buf;
	size_t n = p->seen, at, end;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr[2];
	uint16_t port[2] = { 0, 0 };
	int family;

	for (at = 0; at < n && at < sizeof(proxy) - 1; at++)
		if (s[at] != (uint8_t)proxy[at])
			return fail(p, at < 5 ? "not a PROXY v1 header" :
					 "v1 PROXY not followed by one space");
	if (at == n)
		return 0;

	end = v1_token_end(s, at, n);
	if (end == n) {
		if (v1_token_is(s + at, n - at, "TCP4", false) ||
		    v1_token_is(s + at, n - at, "TCP6", false) ||
		    v1_token_is(s + at, n - at, "UNKNOWN", false))
			return 0;
		return fail(p, v1_protocol);
	}
	if (v1_token_is(s + at, end - at, "UNKNOWN", true))
		return v1_unknown(p, end);
	if (v1_token_is(s + at, end - at, "TCP4", true))
		family = AF_INET;
	else if (v1_token_is(s + at, end - at, "TCP6", true))
		family = AF_INET6;
	else
		return fail(p, end == at && s[end] == ' ' ? v1_spacing : v1_protocol);

	/* s[at] ends the token before: ' ' for all but the last. */
	for (size_t i = 0; i < 4; i++) {
		const struct v1_field *f = &v1_fields[i];
		const char *why = NULL;
		bool whole;

		at = end;
		if (s[at] != ' ')
			return fail(p, s[at] == '\n' ? v1_bare_lf : f->missing);
		at++;
		end = v1_token_end(s, at, n);
		whole = end < n;
		if (whole && end == at)
			return fail(p, s[end] == ' ' ? v1_spacing :
				       s[end] == '\n' ? v1_bare_lf : f->missing);
		if (i >= 2)
			why = v1_port(f, s + at, end - at, &port[i - 2]);
		else if (family == AF_INET && !v1_ip4(s + at, end - at, whole, &addr[i].v4))
			why = f->not_ip4;
		else if (family == AF_INET6 && !v1_ip6(s + at, end - at, whole, &addr[i].v6))
			why = f->not_ip6;
		if (why)
			return fail(p, why);
		if (!whole)
			return 0;
	}

	at = end;
	if (s[at] == ' ')
		return fail(p, "v1 destination port not followed by CRLF");
	if (s[at] == '\n')
		return fail(p, v1_bare_lf);
	if (at + 1 == n)
		return 0;
	if (s[at + 1] != '\n')
		return fail(p, v1_bare_cr);
	v1_set(&p->src, family, &addr[0], port[0]);
	v1_set(&p->dst, family, &addr[1], port[1]);
	return (ssize_t)(at + 2);
}

static ssize_t v1_feed(struct tcpack_proxy *p, const uint8_t *buf, size_t len)
{
	size_t room = TCPACK_PROXY_V1_MAX - p->seen;
	const uint8_t *lf = memchr(buf, '\n', len < room ? len : room);
	/* Up to the first LF only: what follows the line is the client's. */
	size_t want = lf ? (size_t)(lf - buf) + 1 : len < room ? len : room, used = 0;

	while (used < want) {
		/*
		 * "If the CRLF sequence is not found in the first 107 characters"
		 * (2.1): known at the 106th byte when that is not the CR. Checked
		 * there, before any byte after it, so that the reason and the byte
		 * refused at are the same however the line was cut.
		 */
		size_t stop = p->seen < TCPACK_PROXY_V1_MAX - 1 ? TCPACK_PROXY_V1_MAX - 1 :
								   TCPACK_PROXY_V1_MAX;
		size_t n = want - used < stop - p->seen ? want - used : stop - p->seen;
		ssize_t r;

		memcpy(p->buf + p->seen, buf + used, n);
		p->seen += (uint32_t)n;
		used += n;
		r = v1_check(p);
		if (r < 0)
			return r;
		if (r > 0)
			return (ssize_t)used;
		if (p->seen == TCPACK_PROXY_V1_MAX ||
		    (p->seen == TCPACK_PROXY_V1_MAX - 1 && p->buf[p->seen - 1] != '\r'))
			return fail(p, "v1 header longer than 107 bytes");
	}
	return -EAGAIN;
}

/* Version 2 */

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1

#define V2_TCP4		0x11
#define V2_UDP4		0x12
#define V2_TCP6		0x21
#define V2_UDP6		0x22
#define V2_UNIX_STREAM	0x31
#define V2_UNIX_DGRAM	0x32

static uint8_t v2_command(const struct tcpack_proxy *p)
{
	return p->buf[12] & 0xf;
}

static uint8_t v2_family(const struct tcpack_proxy *p)
{
	return p->buf[13];
}

/*
 * The address block a PROXY command's family has (2.2), after which TLVs
 * follow; 0 when the addresses are not read and the whole rest is skipped
 * unchecked: LOCAL ("discard the protocol block including the family which
 * is ignored") and UNSPEC ("The receiver should ignore address
 * information": how much of it there is, is not said).
 */
static uint32_t v2_addr_len(const struct tcpack_proxy *p)
{
	if (v2_command(p) != V2_CMD_PROXY)
		return 0;
	switch (v2_family(p)) {
	case V2_TCP4:
	case V2_UDP4:
		return 12;
	case V2_TCP6:
	case V2_UDP6:
		return 36;
	case V2_UNIX_STREAM:
	case V2_UNIX_DGRAM:
		return TCPACK_PROXY_V2_ADDR_MAX;
	default:
		return 0;
	}
}

static const char *v2_too_short(uint8_t family)
{
	switch (family) {
	case V2_TCP4:
		return "v2 address block too short for TCP over IPv4";
	case V2_UDP4:
		return "v2 address block too short for UDP over IPv4";
	case V2_TCP6:
		return "v2 address block too short for TCP over IPv6";
	case V2_UDP6:
		return "v2 address block too short for UDP over IPv6";
	case V2_UNIX_STREAM:
		return "v2 address block too short for UNIX stream";
	default:
		return "v2 address block too short for UNIX datagram";
	}
}

/* After a TLV ending at @next: 1 or 2 bytes left can hold no TLV (3 bytes at least). */
static bool v2_tlv_fits(const struct tcpack_proxy *p, uint32_t next)
{
	return next == p->need || p->need - next >= 3;
}

/* Check the head's byte @i, just stored; at the last one, learn the length. */
static const char *v2_head_byte(struct tcpack_proxy *p, uint32_t i)
{
	uint8_t b = p->buf[i];

	if (i < sizeof(v2_sig))
		return b == v2_sig[i] ? NULL : "not a PROXY v2 signature";
	if (i == 12) {
		/* "it must always be sent as \x2 and the receiver must only accept this value" */
		if (b >> 4 != 2)
			return "v2 version is not 2";
		/* "Receivers must drop connections presenting unexpected values here." */
		if ((b & 0xf) > V2_CMD_PROXY)
			return "v2 command is neither LOCAL nor PROXY";
		return NULL;
	}
	if (i == 13) {
		if (v2_command(p) == V2_CMD_LOCAL)
			return NULL;
		/* "other values are unspecified ... and must be rejected as invalid by receivers" */
		if (b >> 4 > 0x3)
			return "v2 address family is unassigned";
		if ((b & 0xf) > 0x2)
			return "v2 transport protocol is unassigned";
		return NULL;
	}
	if (i == 15) {
		uint32_t len = (uint32_t)p->buf[14] << 8 | p->buf[15];
		uint32_t addr_len = v2_addr_len(p);

		if (len < addr_len)
			return v2_too_short(v2_family(p));
		p->need = TCPACK_PROXY_V2_HEAD + len;
		p->tlv_next = TCPACK_PROXY_V2_HEAD + addr_len;
		if (addr_len && !v2_tlv_fits(p, p->tlv_next))
			return "v2 TLV cut by the end of the header";
	}
	return NULL;
}

static void v2_done(struct tcpack_proxy *p)
{
	const uint8_t *a = p->buf + TCPACK_PROXY_V2_HEAD;

	/*
	 * UDP and UNIX are valid but not what tcpack serves: "A receiver is not
	 * required to implement other ones, provided that it automatically
	 * falls back to the UNSPEC mode", and UNSPEC with PROXY is local.
	 */
	if (v2_command(p) != V2_CMD_PROXY ||
	    (v2_family(p) != V2_TCP4 && v2_family(p) != V2_TCP6)) {
		p->local = true;
		return;
	}
	if (v2_family(p) == V2_TCP4) {
		struct sockaddr_in *src = (struct sockaddr_in *)&p->src;
		struct sockaddr_in *dst = (struct sockaddr_in *)&p->dst;

		src->sin_family = dst->sin_family = AF_INET;
		memcpy(&src->sin_addr, a, 4);
		memcpy(&dst->sin_addr, a + 4, 4);
		memcpy(&src->sin_port, a + 8, 2);
		memcpy(&dst->sin_port, a + 10, 2);
	} else {
		struct sockaddr_in6 *src = (struct sockaddr_in6 *)&p->src;
		struct sockaddr_in6 *dst = (struct sockaddr_in6 *)&p->dst;

		src->sin6_family = dst->sin6_family = AF_INET6;
		memcpy(&src->sin6_addr, a, 16);
		memcpy(&dst->sin6_addr, a + 16, 16);
		memcpy(&src->sin6_port, a + 32, 2);
		memcpy(&dst->sin6_port, a + 34, 2);
	}
}

/* How far the bytes from @seen on may be taken in one go: up to the end of what they are part of. */
static uint32_t v2_run_end(const struct tcpack_proxy *p, uint32_t seen)
{
	uint32_t addr_end = TCPACK_PROXY_V2_HEAD + v2_addr_len(p);

	if (seen < addr_end)
		return addr_end;
	if (addr_end == TCPACK_PROXY_V2_HEAD)
		return p->need;		/* skipped unchecked */
	if (seen < p->tlv_next)
		return p->tlv_next;	/* a TLV's value */
	return 0;			/* a TLV's type and length: byte by byte */
}

static ssize_t v2_feed(struct tcpack_proxy *p, const uint8_t *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t seen = p->seen, end;

		if (seen < TCPACK_PROXY_V2_HEAD) {
			const char *why;

			p->buf[p->seen++] = buf[i++];
			why = v2_head_byte(p, seen);
			if (why)
				return fail(p, why);
		} else if ((end = v2_run_end(p, seen))) {
			if (end - seen > len - i)
				end = seen + (uint32_t)(len - i);
			if (seen < TCPACK_PROXY_V2_HEAD + v2_addr_len(p))	/* kept */
				memcpy(p->buf + seen, buf + i, end - seen);
			i += end - seen;
			p->seen = end;
		} else {
			/* A TLV's type (not looked at), then its length, big endian. */
			uint32_t at = seen - p->tlv_next;

			if (at == 1) {
				p->tlv_hi = buf[i];
			} else if (at == 2) {
				uint32_t next = seen + 1 + ((uint32_t)p->tlv_hi << 8 | buf[i]);

				if (next > p->need)
					return fail(p, "v2 TLV runs past the end of the header");
				if (!v2_tlv_fits(p, next))
					return fail(p, "v2 TLV cut by the end of the header");
				p->tlv_next = next;
			}
			p->seen++;
			i++;
		}
		if (p->seen == p->need) {
			v2_done(p);
			return (ssize_t)i;
		}
	}
	return -EAGAIN;
}

static bool finished(const struct tcpack_proxy *p)
{
	if (p->version == 2)
		return p->seen >= TCPACK_PROXY_V2_HEAD && p->seen == p->need;
	return p->version == 1 && p->seen && p->buf[p->seen - 1] == '\n';
}

ssize_t tcpack_proxy_feed(struct tcpack_proxy *p, const uint8_t *buf, size_t len)
{
	if (p->why)
		return -EBADMSG;
	if (p->mode != TCPACK_PROXY_V1 && p->mode != TCPACK_PROXY_V2 &&
	    p->mode != TCPACK_PROXY_ANY)
		return fail(p, "no PROXY header expected");
	if (finished(p))
		return fail(p, "PROXY header already complete");
	if (!len)
		return -EAGAIN;
	if (!p->version) {
		/* ANY: "PROXY" or the v2 signature, told apart by their first byte. */
		if (p->mode == TCPACK_PROXY_V1 || (p->mode == TCPACK_PROXY_ANY && buf[0] == 'P'))
			p->version = 1;
		else if (p->mode == TCPACK_PROXY_V2 || buf[0] == v2_sig[0])
			p->version = 2;
		else
			return fail(p, "neither a PROXY v1 nor a v2 header");
	}
	return p->version == 1 ? v1_feed(p, buf, len) : v2_feed(p, buf, len);
}
