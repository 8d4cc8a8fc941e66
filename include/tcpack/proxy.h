/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The PROXY protocol header (HAProxy's doc/proxy-protocol.txt), versions 1
 * and 2, as a receiver that expects it: strict, never guessing. Pure: no
 * fds, clocks or logging. The state is resumable at any byte boundary and
 * never reads past the header: the bytes after it are the client's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* What a listener expects; "off" never reaches the parser. */
enum tcpack_proxy_mode {
	TCPACK_PROXY_OFF = 0,
	TCPACK_PROXY_V1,
	TCPACK_PROXY_V2,
	TCPACK_PROXY_ANY,	/* either, told apart by the first byte */
};

/* The longest v1 header, "\r\n" included (proxy-protocol.txt 2.1). */
#define TCPACK_PROXY_V1_MAX 107u
/* A v2 header's fixed part: signature, version and command, family, length. */
#define TCPACK_PROXY_V2_HEAD 16u
/* The v2 address block kept: the AF_UNIX one, the largest (2 * 108). */
#define TCPACK_PROXY_V2_ADDR_MAX 216u

struct tcpack_proxy {
	/* What the header said, once tcpack_proxy_feed() returned it complete. */
	bool local;			/* v1 UNKNOWN, v2 LOCAL or UNSPEC: use the connection's own endpoints */
	uint8_t version;		/* 1 or 2 */
	struct sockaddr_storage src;	/* the client (AF_INET or AF_INET6), unless local */
	struct sockaddr_storage dst;	/* the address the client connected to */
	const char *why;		/* after -EBADMSG: a static one-line reason */

	/* Parser state: zeroed by tcpack_proxy_init(). */
	enum tcpack_proxy_mode mode;
	uint32_t seen;			/* bytes of the header consumed so far */
	uint32_t need;			/* v2: header length once known (16 + len) */
	uint32_t tlv_next;		/* v2: where the next TLV starts (its value is skipped up to there) */
	uint8_t tlv_hi;			/* v2: the high byte of the length of the TLV under way */
	uint8_t buf[TCPACK_PROXY_V2_HEAD + TCPACK_PROXY_V2_ADDR_MAX];	/* v1 line, or v2 head + addresses */
};

/**
 * tcpack_proxy_init() - start parsing a header of @mode (V1, V2 or ANY).
 */
void tcpack_proxy_init(struct tcpack_proxy *p, enum tcpack_proxy_mode mode);

/**
 * tcpack_proxy_feed() - consume header bytes from @buf.
 *
 * Return: n > 0 when buf[0..n) completes the header (the result is in
 * p->local, p->src, p->dst, p->version; buf[n..len) is the client's data);
 * -EAGAIN when all of @buf was consumed and the header is not complete;
 * -EBADMSG as soon as the input cannot be a valid header of the expected
 * version(s), with p->why set (the state must be re-initialised before
 * reuse; until then, and after a complete header, every call fails).
 * v2 TLVs after a TCP, UDP or UNIX address block are skipped, checked only
 * to lie within the header's length; a LOCAL or UNSPEC block is skipped
 * whole. v1 UNKNOWN, v2 LOCAL, and a v2 PROXY command with an UNSPEC family
 * or protocol, UDP or UNIX (these fall back to UNSPEC: tcpack serves TCP
 * only) count as local.
 */
ssize_t tcpack_proxy_feed(struct tcpack_proxy *p, const uint8_t *buf, size_t len);

/**
 * tcpack_proxy_mode_parse() - "off", "v1", "v2" or "any".
 * Return: the mode or -EINVAL.
 */
int tcpack_proxy_mode_parse(const char *s);

/** tcpack_proxy_mode_name() - the inverse of tcpack_proxy_mode_parse(). */
const char *tcpack_proxy_mode_name(enum tcpack_proxy_mode mode);
