// SPDX-License-Identifier: MIT
/*
 * HTTP/1.x request heads (RFC 9112), as the metrics listener takes them.
 *
 * One byte at a time through a small state machine: no byte is looked at
 * twice, none is kept but the target's, and the call that brings the first
 * byte no valid head can have there is the one that refuses it, however the
 * head was cut. Only four fields are read (Host, Connection, Content-Length,
 * Transfer-Encoding); every other one is checked for syntax and skipped.
 *
 * Where the RFCs leave a choice, this parser takes the strict one:
 * - Bare LF: "a recipient MAY recognize a single LF as a line terminator"
 *   (RFC 9112 2.2); this one does not. Every line ends in CRLF, so a CR is
 *   always followed by LF and an LF always follows a CR: one rule, and no
 *   room for a balancer in front to see lines where tcpack sees none.
 * - Empty lines before the request line: "SHOULD ignore at least one empty
 *   line (CRLF) received prior to the request-line" (2.2); up to 4 are, and
 *   they count towards TCPACK_HTTP_HEAD_MAX.
 * - HTTP/1.2 to 1.9: a recipient "SHOULD process the message as if it were
 *   in the highest minor version within that major version to which the
 *   recipient is conformant" (RFC 9110 2.5): they are 1.1 (minor = 1). 505
 *   is for the major version (RFC 9110 15.6.6), so only HTTP/0.x and 2 to 9
 *   get it, refused at their major digit.
 * - The request target: origin-form ("absolute-path [ "?" query ]", 3.2.1)
 *   for GET and HEAD, with the characters RFC 3986 allows there and "%"
 *   followed by two hex digits. A method this listener does not answer may
 *   also have the asterisk-form "*" (3.2.4, for OPTIONS), so that the
 *   HTTP/2 preface "PRI * HTTP/2.0" reaches its version and gets 505. The
 *   absolute-form, which "a server MUST accept" (3.2.2), is refused 400:
 *   clients send it to proxies, and a metrics endpoint is none.
 * - Lengths: the target is answered 414 at its 257th byte ("A server that
 *   receives a request-target longer than any URI it wishes to parse MUST
 *   respond with a 414", 3); a method is answered 501 at its 33rd byte ("A
 *   server that receives a method longer than any that it implements SHOULD
 *   respond with a 501", 3; no registered method has more than 17). So the
 *   request line cannot reach TCPACK_HTTP_HEAD_MAX, and a head that does is
 *   answered 431 (RFC 6585 5): at its last allowed byte, when that byte does
 *   not end it.
 * - A body: Content-Length other than 0 is 413, refused at its first
 *   non-zero digit (RFC 9110 15.5.14: "the request content is larger than
 *   the server is willing or able to process"; none is); two Content-Length
 *   fields that differ are 400 (RFC 9112 6.3: an invalid Content-Length is
 *   an unrecoverable error, "the server MUST respond with a 400"); a list
 *   ("0, 0") is not 1*DIGIT and is refused too. Transfer-Encoding in 1.1
 *   is 501 ("A server that receives a request message with a transfer
 *   coding it does not understand SHOULD respond with 501", 6.1), in 1.0 it
 *   is 400 (a recipient of one "MUST treat the message as if the framing is
 *   faulty", 6.1). Both are refused at the field's colon.
 * - Host: "A server MUST respond with a 400 (Bad Request) status code to
 *   any HTTP/1.1 request message that lacks a Host header field and to any
 *   request message that contains more than one Host header field line or a
 *   Host header field with an invalid field value" (3.2). Its value must be
 *   uri-host [ ":" port ] (RFC 9110 7.2), empty included; an IP-literal is
 *   checked for its characters, not for the IPv6 grammar.
 * - Connection: a list of tokens, empty elements and OWS allowed (RFC 9110
 *   5.6.1); "close" wins over everything, then 1.1 persists, and 1.0 only
 *   with "keep-alive" (RFC 9112 9.3).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "tcpack/http.h"

/* At most this many CRLFs before the request line (RFC 9112 2.2: "at least one"). */
#define EMPTY_LINES_MAX 4
/* The longest method taken; IANA's longest, UPDATEREDIRECTREF, has 17 bytes. */
#define METHOD_MAX 32

_Static_assert(TCPACK_HTTP_TARGET_MAX == 256 && TCPACK_HTTP_HEAD_MAX == 8192,
	       "the reasons below name these numbers");
_Static_assert(EMPTY_LINES_MAX * 2 + METHOD_MAX + 1 + TCPACK_HTTP_TARGET_MAX +
		       sizeof(" HTTP/1.1\r\n") < TCPACK_HTTP_HEAD_MAX,
	       "a request line too long is always refused before the head is");
_Static_assert(TCPACK_HTTP_HEAD_MAX <= UINT16_MAX, "h->at counts bytes of one head");

struct refusal {
	int status;
	const char *why;
};

#define REFUSAL(name, status, why) static const struct refusal name = { status, why }

REFUSAL(bare_lf, 400, "line ends in LF without CR");
REFUSAL(bare_cr, 400, "CR not followed by LF");
REFUSAL(too_many_empty_lines, 400, "more than 4 empty lines before the request line");
REFUSAL(line_starts_with_space, 400, "request line starts with whitespace");
REFUSAL(method_not_token, 400, "method is not a token");
REFUSAL(method_too_long, 501, "method longer than 32 bytes");
REFUSAL(line_ends_after_method, 400, "request line ends after the method");
REFUSAL(two_spaces, 400, "more than one space after the method");
REFUSAL(not_origin_form, 400, "request target does not start with '/'");
REFUSAL(asterisk_form, 400, "request target '*' with GET or HEAD");
REFUSAL(asterisk_more, 400, "request target starts with '*' but is longer");
REFUSAL(target_char, 400, "request target has a character a URI does not allow there");
REFUSAL(target_pct, 400, "request target has a '%' not followed by two hex digits");
REFUSAL(target_too_long, 414, "request target longer than 256 bytes");
REFUSAL(no_version, 400, "request line has no HTTP version");
REFUSAL(version_malformed, 400, "HTTP version is not HTTP/DIGIT.DIGIT");
REFUSAL(version_not_1, 505, "HTTP major version is not 1");
REFUSAL(version_not_at_end, 400, "HTTP version not followed by CRLF");
REFUSAL(space_after_request_line, 400, "whitespace between the request line and the first field");
REFUSAL(obs_fold, 400, "field line starts with whitespace (obsolete line folding)");
REFUSAL(name_empty, 400, "field line has an empty name");
REFUSAL(name_not_token, 400, "field name is not a token");
REFUSAL(space_before_colon, 400, "whitespace between a field name and its colon");
REFUSAL(no_colon, 400, "field line has no colon");
REFUSAL(value_ctl, 400, "field value has a control character");
REFUSAL(host_twice, 400, "more than one Host field");
REFUSAL(host_invalid, 400, "Host is not a valid host[:port]");
REFUSAL(host_missing, 400, "HTTP/1.1 request without a Host field");
REFUSAL(connection_invalid, 400, "Connection is not a list of tokens");
REFUSAL(length_invalid, 400, "Content-Length is not a decimal number");
REFUSAL(length_differs, 400, "Content-Length fields differ");
REFUSAL(length_body, 413, "request body not accepted (Content-Length above 0)");
REFUSAL(te_1_1, 501, "request body not accepted (Transfer-Encoding)");
REFUSAL(te_1_0, 400, "Transfer-Encoding in an HTTP/1.0 request");
REFUSAL(head_too_large, 431, "request head longer than 8192 bytes");
REFUSAL(already_complete, 500, "request head already complete");

enum {
	S_START = 0,		/* the method's first byte, or an empty line's CR */
	S_START_LF,		/* an empty line's LF */
	S_METHOD,
	S_TARGET_START,		/* the byte after the method's SP */
	S_TARGET,
	S_TARGET_PCT1,		/* the hex digits after a '%' */
	S_TARGET_PCT2,
	S_ASTERISK,		/* after a "*" target: its SP */
	S_VERSION,		/* h->at bytes of "HTTP/1.1" so far; at 8, its CR */
	S_LINE_LF,		/* the LF ending the request line or a field line */
	S_FIELD_START,		/* a field name's first byte, or the final CR */
	S_NAME,
	S_VALUE,
	S_END_LF,		/* the final LF */
	S_DONE,
};

/* The fields read; h->match has bit (1 << field) while a name may still be that field's. */
enum {
	FIELD_OTHER = 0,
	FIELD_HOST,
	FIELD_CONNECTION,
	FIELD_CONTENT_LENGTH,
	FIELD_TRANSFER_ENCODING,
};

static const char *const field_names[] = {
	[FIELD_HOST] = "host",
	[FIELD_CONNECTION] = "connection",
	[FIELD_CONTENT_LENGTH] = "content-length",
	[FIELD_TRANSFER_ENCODING] = "transfer-encoding",
};

/* Methods are case-sensitive (RFC 9110 9.1); field names and these options are not. */
static const char *const method_names[] = {
	[TCPACK_HTTP_GET] = "GET",
	[TCPACK_HTTP_HEAD] = "HEAD",
};

enum {
	OPTION_CLOSE = 1,
	OPTION_KEEP_ALIVE,
};

static const char *const option_names[] = {
	[OPTION_CLOSE] = "close",
	[OPTION_KEEP_ALIVE] = "keep-alive",
};

#define N_NAMES(names) (sizeof(names) / sizeof((names)[0]))
#define ALL_NAMES(names) ((uint8_t)((1u << N_NAMES(names)) - 2))

/* h->flags */
#define SEEN_HOST		0x01
#define SEEN_CONTENT_LENGTH	0x02
#define SEEN_FIELD		0x04
#define OPTION_SEEN_CLOSE	0x08
#define OPTION_SEEN_KEEP_ALIVE	0x10

/* h->sub in a Host value: uri-host [ ":" port ] (RFC 3986 3.2.2, 3.2.3). */
enum {
	HOST_START = 0,		/* OWS, then the host's first byte */
	HOST_REG_NAME,		/* a reg-name or IPv4address */
	HOST_PCT1,
	HOST_PCT2,
	HOST_LITERAL_START,	/* after '[' */
	HOST_LITERAL,
	HOST_LITERAL_END,	/* after ']' */
	HOST_PORT,
	HOST_END,		/* OWS after the value */
};

/* h->sub in a Content-Length value: 1*DIGIT between OWS. */
enum {
	LENGTH_START = 0,
	LENGTH_DIGITS,
	LENGTH_END,
};

/* h->sub in a Connection value: #token (RFC 9110 5.6.1). */
enum {
	LIST_START = 0,		/* OWS and commas before an element */
	LIST_TOKEN,
	LIST_END,		/* OWS after an element */
};

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(uint8_t c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool in_set(uint8_t c, const char *set)
{
	return c && strchr(set, c);
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* CTL (RFC 5234): the bytes no field value may hold, HTAB aside. */
static bool is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* tchar (RFC 9110 5.6.2) */
static bool is_tchar(uint8_t c)
{
	return is_alpha(c) || is_digit(c) || in_set(c, "!#$%&'*+-.^_`|~");
}

/* unreserved / sub-delims (RFC 3986 2.2, 2.3): a reg-name's bytes, pct-encoded aside. */
static bool is_reg_name(uint8_t c)
{
	return is_alpha(c) || is_digit(c) || in_set(c, "-._~!$&'()*+,;=");
}

/* pchar without pct-encoded, and "/" and "?": an origin-form's bytes (RFC 3986 3.3, 3.4). */
static bool is_target(uint8_t c)
{
	return is_reg_name(c) || in_set(c, ":@/?");
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* The names in @match whose byte @at is @c; those ended before it are dropped. */
static uint8_t narrow(uint8_t match, const char *const *names, size_t n, uint16_t at, uint8_t c)
{
	for (size_t i = 1; i < n; i++)
		if ((match & 1u << i) && (uint8_t)names[i][at] != c)
			match &= (uint8_t)~(1u << i);
	return match;
}

/* The name in @match that is exactly @at bytes long, or 0. */
static uint8_t matched(uint8_t match, const char *const *names, size_t n, uint16_t at)
{
	for (size_t i = 1; i < n; i++)
		if ((match & 1u << i) && !names[i][at])
			return (uint8_t)i;
	return 0;
}

static void option_end(struct tcpack_http *h)
{
	switch (matched(h->match, option_names, N_NAMES(option_names), h->at)) {
	case OPTION_CLOSE:
		h->flags |= OPTION_SEEN_CLOSE;
		break;
	case OPTION_KEEP_ALIVE:
		h->flags |= OPTION_SEEN_KEEP_ALIVE;
		break;
	default:
		break;
	}
}

static const struct refusal *connection_byte(struct tcpack_http *h, uint8_t c)
{
	switch (h->sub) {
	case LIST_START:
		if (is_ows(c) || c == ',')
			return NULL;
		if (!is_tchar(c))
			return &connection_invalid;
		h->sub = LIST_TOKEN;
		h->match = ALL_NAMES(option_names);
		h->at = 0;
		break;
	case LIST_TOKEN:
		if (c == ',' || is_ows(c)) {
			option_end(h);
			h->sub = c == ',' ? LIST_START : LIST_END;
			return NULL;
		}
		if (!is_tchar(c))
			return &connection_invalid;
		break;
	default:
		if (c == ',')
			h->sub = LIST_START;
		else if (!is_ows(c))
			return &connection_invalid;
		return NULL;
	}
	h->match = narrow(h->match, option_names, N_NAMES(option_names), h->at, lower(c));
	h->at++;
	return NULL;
}

static const struct refusal *content_length_byte(struct tcpack_http *h, uint8_t c)
{
	if (is_ows(c)) {
		if (h->sub == LENGTH_DIGITS)
			h->sub = LENGTH_END;
		return NULL;
	}
	if (!is_digit(c) || h->sub == LENGTH_END)
		return &length_invalid;
	/* Only 0 is taken, so any other digit is known to be a body, or a second value. */
	if (c != '0')
		return h->flags & SEEN_CONTENT_LENGTH ? &length_differs : &length_body;
	h->sub = LENGTH_DIGITS;
	return NULL;
}

static const struct refusal *host_byte(struct tcpack_http *h, uint8_t c)
{
	uint8_t next;

	switch (h->sub) {
	case HOST_START:
	case HOST_REG_NAME:
		if (is_ows(c))
			next = h->sub == HOST_START ? HOST_START : HOST_END;
		else if (c == '[' && h->sub == HOST_START)
			next = HOST_LITERAL_START;
		else if (c == '%')
			next = HOST_PCT1;
		else if (c == ':')
			next = HOST_PORT;
		else if (is_reg_name(c))
			next = HOST_REG_NAME;
		else
			return &host_invalid;
		break;
	case HOST_PCT1:
	case HOST_PCT2:
		if (!is_hex(c))
			return &host_invalid;
		next = h->sub == HOST_PCT1 ? HOST_PCT2 : HOST_REG_NAME;
		break;
	case HOST_LITERAL_START:
	case HOST_LITERAL:
		/* IPv6address and IPvFuture have no other bytes (RFC 3986 3.2.2). */
		if (c == ']' && h->sub == HOST_LITERAL)
			next = HOST_LITERAL_END;
		else if (is_reg_name(c) || c == ':')
			next = HOST_LITERAL;
		else
			return &host_invalid;
		break;
	case HOST_LITERAL_END:
	case HOST_PORT:
		if (h->sub == HOST_LITERAL_END ? c == ':' : is_digit(c))
			next = HOST_PORT;
		else if (is_ows(c))
			next = HOST_END;
		else
			return &host_invalid;
		break;
	default:
		if (!is_ows(c))
			return &host_invalid;
		next = HOST_END;
		break;
	}
	h->sub = next;
	return NULL;
}

/* The CR after a field value: the value is whole. */
static const struct refusal *value_end(struct tcpack_http *h)
{
	switch (h->field) {
	case FIELD_HOST:
		if (h->sub == HOST_PCT1 || h->sub == HOST_PCT2 || h->sub == HOST_LITERAL_START ||
		    h->sub == HOST_LITERAL)
			return &host_invalid;
		break;
	case FIELD_CONTENT_LENGTH:
		if (h->sub == LENGTH_START)
			return &length_invalid;
		h->flags |= SEEN_CONTENT_LENGTH;
		break;
	case FIELD_CONNECTION:
		if (h->sub == LIST_TOKEN)
			option_end(h);
		break;
	default:
		break;
	}
	return NULL;
}

static const struct refusal *value_byte(struct tcpack_http *h, uint8_t c)
{
	if (c == '\r') {
		h->state = S_LINE_LF;
		return value_end(h);
	}
	/* "Field values containing CR, LF, or NUL characters are invalid and dangerous" (RFC 9110 5.5) */
	if (is_ctl(c) && c != '\t')
		return &value_ctl;
	switch (h->field) {
	case FIELD_HOST:
		return host_byte(h, c);
	case FIELD_CONTENT_LENGTH:
		return content_length_byte(h, c);
	case FIELD_CONNECTION:
		return connection_byte(h, c);
	default:
		/* field-vchar, obs-text, SP, HTAB: anything left. */
		return NULL;
	}
}

/* The colon after a field name: which field it is, and whether it may be there at all. */
static const struct refusal *name_end(struct tcpack_http *h)
{
	h->field = matched(h->match, field_names, N_NAMES(field_names), h->at);
	h->sub = 0;
	h->match = 0;
	h->at = 0;
	h->flags |= SEEN_FIELD;
	h->state = S_VALUE;
	switch (h->field) {
	case FIELD_HOST:
		if (h->flags & SEEN_HOST)
			return &host_twice;
		h->flags |= SEEN_HOST;
		break;
	case FIELD_TRANSFER_ENCODING:
		return h->minor ? &te_1_1 : &te_1_0;
	default:
		break;
	}
	return NULL;
}

/* The final LF: the head is whole. */
static const struct refusal *head_end(struct tcpack_http *h)
{
	if (h->minor && !(h->flags & SEEN_HOST))
		return &host_missing;
	/* RFC 9112 9.3, in its order. */
	if (h->flags & OPTION_SEEN_CLOSE)
		h->keep_alive = false;
	else
		h->keep_alive = h->minor || (h->flags & OPTION_SEEN_KEEP_ALIVE);
	h->state = S_DONE;
	return NULL;
}

static const struct refusal *target_byte(struct tcpack_http *h, uint8_t c)
{
	if (h->at == TCPACK_HTTP_TARGET_MAX)
		return &target_too_long;
	/* Zeroed by tcpack_http_init(): what follows the last byte is already its NUL. */
	h->target[h->at++] = (char)c;
	return NULL;
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3); "HTTP" is case-sensitive. */
static const struct refusal *version_byte(struct tcpack_http *h, uint8_t c)
{
	static const char http[] = "HTTP/";

	if (h->at < sizeof(http) - 1) {
		if (c != (uint8_t)http[h->at])
			return &version_malformed;
	} else if (h->at == 5) {
		if (!is_digit(c))
			return &version_malformed;
		if (c != '1')
			return &version_not_1;
	} else if (h->at == 6) {
		if (c != '.')
			return &version_malformed;
	} else if (h->at == 7) {
		if (!is_digit(c))
			return &version_malformed;
		h->minor = c != '0';
	} else {
		if (c != '\r')
			return &version_not_at_end;
		h->state = S_LINE_LF;
	}
	h->at++;
	return NULL;
}

static const struct refusal *method_byte(struct tcpack_http *h, uint8_t c)
{
	if (c == ' ') {
		h->method = (enum tcpack_http_method)matched(h->match, method_names,
							     N_NAMES(method_names), h->at);
		h->state = S_TARGET_START;
		h->at = 0;
		return NULL;
	}
	if (c == '\r')
		return &line_ends_after_method;
	if (!is_tchar(c))
		return &method_not_token;
	if (h->at == METHOD_MAX)
		return &method_too_long;
	h->match = narrow(h->match, method_names, N_NAMES(method_names), h->at, c);
	h->at++;
	return NULL;
}

static bool wants_lf(uint8_t state)
{
	return state == S_START_LF || state == S_LINE_LF || state == S_END_LF;
}

/* Take one byte of the head: NULL when it may be there, the refusal when it may not. */
static const struct refusal *step(struct tcpack_http *h, uint8_t c)
{
	/* Every line ends in CRLF: a CR is followed by LF, and an LF follows a CR. */
	if (wants_lf(h->state) != (c == '\n'))
		return c == '\n' ? &bare_lf : &bare_cr;

	switch (h->state) {
	case S_START_LF:
		h->empty_lines++;
		h->state = S_START;
		return NULL;
	case S_LINE_LF:
		h->state = S_FIELD_START;
		return NULL;
	case S_END_LF:
		return head_end(h);
	case S_START:
		if (c == '\r') {
			if (h->empty_lines == EMPTY_LINES_MAX)
				return &too_many_empty_lines;
			h->state = S_START_LF;
			return NULL;
		}
		if (is_ows(c))
			return &line_starts_with_space;
		if (!is_tchar(c))
			return &method_not_token;
		h->state = S_METHOD;
		h->match = ALL_NAMES(method_names);
		h->at = 0;
		return method_byte(h, c);
	case S_METHOD:
		return method_byte(h, c);
	case S_TARGET_START:
		if (c == '/') {
			h->state = S_TARGET;
			return target_byte(h, c);
		}
		if (c == '*') {
			if (h->method != TCPACK_HTTP_OTHER)
				return &asterisk_form;
			h->state = S_ASTERISK;
			return target_byte(h, c);
		}
		return c == ' ' ? &two_spaces : c == '\r' ? &no_version : &not_origin_form;
	case S_TARGET:
		if (c == ' ') {
			h->state = S_VERSION;
			h->at = 0;
			return NULL;
		}
		if (c == '\r')
			return &no_version;
		if (c == '%')
			h->state = S_TARGET_PCT1;
		else if (!is_target(c))
			return &target_char;
		return target_byte(h, c);
	case S_TARGET_PCT1:
	case S_TARGET_PCT2:
		if (!is_hex(c))
			return &target_pct;
		h->state = h->state == S_TARGET_PCT1 ? S_TARGET_PCT2 : S_TARGET;
		return target_byte(h, c);
	case S_ASTERISK:
		if (c == '\r')
			return &no_version;
		if (c != ' ')
			return &asterisk_more;
		h->state = S_VERSION;
		h->at = 0;
		return NULL;
	case S_VERSION:
		return version_byte(h, c);
	case S_FIELD_START:
		if (c == '\r') {
			h->state = S_END_LF;
			return NULL;
		}
		/* RFC 9112 2.2 and 5.2: reject, rather than skip or unfold. */
		if (is_ows(c))
			return h->flags & SEEN_FIELD ? &obs_fold : &space_after_request_line;
		if (c == ':')
			return &name_empty;
		if (!is_tchar(c))
			return &name_not_token;
		h->state = S_NAME;
		h->match = ALL_NAMES(field_names);
		h->at = 0;
		/* fall through */
	case S_NAME:
		if (c == ':')
			return name_end(h);
		if (is_ows(c))
			return &space_before_colon;
		if (c == '\r')
			return &no_colon;
		if (!is_tchar(c))
			return &name_not_token;
		h->match = narrow(h->match, field_names, N_NAMES(field_names), h->at, lower(c));
		h->at++;
		return NULL;
	case S_VALUE:
		return value_byte(h, c);
	default:
		return &already_complete;
	}
}

void tcpack_http_init(struct tcpack_http *h)
{
	memset(h, 0, sizeof(*h));
}

static ssize_t fail(struct tcpack_http *h, const struct refusal *r)
{
	h->status = r->status;
	h->why = r->why;
	return -EBADMSG;
}

ssize_t tcpack_http_feed(struct tcpack_http *h, const uint8_t *buf, size_t len)
{
	if (h->why)
		return -EBADMSG;
	if (h->state == S_DONE)
		return fail(h, &already_complete);
	for (size_t i = 0; i < len; i++) {
		const struct refusal *r = step(h, buf[i]);

		if (r)
			return fail(h, r);
		h->seen++;
		if (h->state == S_DONE)
			return (ssize_t)(i + 1);
		if (h->seen == TCPACK_HTTP_HEAD_MAX)
			return fail(h, &head_too_large);
	}
	return -EAGAIN;
}
