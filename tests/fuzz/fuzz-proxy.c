// SPDX-License-Identifier: MIT
/*
 * The PROXY protocol header (tcpack_proxy_feed) fed whole, one byte at a
 * time, and in the fuzzer's chunks: all three must agree.
 *
 * Input: one byte of mode (v1, v2 or any), then chunks, each a length byte
 * and that many bytes: the stream, split where the fuzzer chose. Every
 * chunk is fed the way conn.c feeds a receive buffer, each in a buffer of
 * exactly its size so that AddressSanitizer sees a read past it.
 *
 * Byte by byte is the reference for where a header is refused: the chunk
 * refused must hold that byte, with the same reason. A header that
 * completes must do so at the same stream offset with the same result, and
 * that result must be what the header's bytes say: a v1 TCP4 line is
 * exactly what its addresses print back to, a v2 header is 16 bytes plus
 * its length field and its addresses are its bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "tcpack/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	ssize_t r;		/* -EAGAIN, -EBADMSG, or the stream offset just past the header */
	size_t fail_from, fail_to;	/* -EBADMSG: the stream bytes of the refused call */
	struct tcpack_proxy p;
};

struct chunk {
	size_t start, end;	/* in the stream */
};

static void feed(enum tcpack_proxy_mode mode, const uint8_t *stream, const struct chunk *chunks,
		 size_t n_chunks, struct outcome *o)
{
	tcpack_proxy_init(&o->p, mode);
	o->r = -EAGAIN;
	for (size_t c = 0; c < n_chunks; c++) {
		size_t n = chunks[c].end - chunks[c].start;
		uint8_t *buf = malloc(n ? n : 1);
		ssize_t r;

		FUZZ_ASSERT(buf);
		memcpy(buf, stream + chunks[c].start, n);
		r = tcpack_proxy_feed(&o->p, buf, n);
		free(buf);
		if (r == -EAGAIN) {
			FUZZ_ASSERT(!o->p.why);
			continue;
		}
		if (r == -EBADMSG) {
			FUZZ_ASSERT(o->p.why);
			o->r = r;
			o->fail_from = chunks[c].start;
			o->fail_to = chunks[c].end;
			return;
		}
		FUZZ_ASSERT(r > 0 && (size_t)r <= n);
		FUZZ_ASSERT(!o->p.why);
		o->r = (ssize_t)(chunks[c].start + (size_t)r);
		return;
	}
}

static void assert_same(const struct outcome *want, const struct outcome *got)
{
	FUZZ_ASSERT(got->r == want->r);
	if (got->r == -EBADMSG) {
		FUZZ_ASSERT(got->p.why == want->p.why);
		FUZZ_ASSERT(got->fail_from <= want->fail_from && want->fail_from < got->fail_to);
	} else if (got->r > 0) {
		FUZZ_ASSERT(got->p.version == want->p.version);
		FUZZ_ASSERT(got->p.local == want->p.local);
		FUZZ_ASSERT(!memcmp(&got->p.src, &want->p.src, sizeof(want->p.src)));
		FUZZ_ASSERT(!memcmp(&got->p.dst, &want->p.dst, sizeof(want->p.dst)));
	}
}

/* What a complete header must have said, from its own bytes. */
static void check_result(const struct tcpack_proxy *p, const uint8_t *h, size_t len)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&p->src;
	const struct sockaddr_in *d4 = (const struct sockaddr_in *)&p->dst;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&p->src;
	const struct sockaddr_in6 *d6 = (const struct sockaddr_in6 *)&p->dst;

	FUZZ_ASSERT(p->version == 1 || p->version == 2);
	if (p->local) {
		FUZZ_ASSERT(p->src.ss_family == AF_UNSPEC && p->dst.ss_family == AF_UNSPEC);
	} else {
		FUZZ_ASSERT(p->src.ss_family == AF_INET || p->src.ss_family == AF_INET6);
		FUZZ_ASSERT(p->dst.ss_family == p->src.ss_family);
	}

	if (p->version == 1) {
		char line[TCPACK_PROXY_V1_MAX + 1], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		int n;

		FUZZ_ASSERT(len <= TCPACK_PROXY_V1_MAX && len >= 8);
		FUZZ_ASSERT(!memcmp(h, "PROXY ", 6) && !memcmp(h + len - 2, "\r\n", 2));
		FUZZ_ASSERT(memchr(h, '\n', len) == h + len - 1);
		if (p->local) {
			FUZZ_ASSERT(!memcmp(h + 6, "UNKNOWN", 7));
			return;
		}
		if (p->src.ss_family == AF_INET) {
			/* A canonical dotted quad prints back to itself. */
			inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
			inet_ntop(AF_INET, &d4->sin_addr, b, sizeof(b));
			n = snprintf(line, sizeof(line), "PROXY TCP4 %s %s %u %u\r\n", a, b,
				     ntohs(s4->sin_port), ntohs(d4->sin_port));
			FUZZ_ASSERT((size_t)n == len && !memcmp(line, h, len));
		} else {
			/* IPv6 has many spellings; the ports have one. */
			FUZZ_ASSERT(!memcmp(h + 6, "TCP6 ", 5));
			n = snprintf(line, sizeof(line), " %u %u\r\n", ntohs(s6->sin6_port),
				     ntohs(d6->sin6_port));
			FUZZ_ASSERT((size_t)n < len && !memcmp(line, h + len - (size_t)n, (size_t)n));
		}
		return;
	}

	FUZZ_ASSERT(len == TCPACK_PROXY_V2_HEAD + ((size_t)h[14] << 8 | h[15]));
	FUZZ_ASSERT(h[12] >> 4 == 2 && (h[12] & 0xf) <= 1);
	if (p->local) {
		FUZZ_ASSERT((h[12] & 0xf) == 0 || (h[13] != 0x11 && h[13] != 0x21));
	} else if (p->src.ss_family == AF_INET) {
		FUZZ_ASSERT(h[12] == 0x21 && h[13] == 0x11 && len >= 16 + 12);
		FUZZ_ASSERT(!memcmp(&s4->sin_addr, h + 16, 4) && !memcmp(&d4->sin_addr, h + 20, 4));
		FUZZ_ASSERT(!memcmp(&s4->sin_port, h + 24, 2) && !memcmp(&d4->sin_port, h + 26, 2));
	} else {
		FUZZ_ASSERT(h[12] == 0x21 && h[13] == 0x21 && len >= 16 + 36);
		FUZZ_ASSERT(!memcmp(&s6->sin6_addr, h + 16, 16) && !memcmp(&d6->sin6_addr, h + 32, 16));
		FUZZ_ASSERT(!memcmp(&s6->sin6_port, h + 48, 2) && !memcmp(&d6->sin6_port, h + 50, 2));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum tcpack_proxy_mode modes[] = {
		TCPACK_PROXY_V1, TCPACK_PROXY_V2, TCPACK_PROXY_ANY,
	};
	struct fuzz_input in = { data, size };
	enum tcpack_proxy_mode mode = modes[fuzz_u8(&in) % 3];
	uint8_t *stream = malloc(size ? size : 1);
	struct chunk *chunks = malloc(sizeof(*chunks) * (size ? size : 1));
	struct chunk *bytes = malloc(sizeof(*bytes) * (size ? size : 1));
	struct outcome bytewise, whole, chunked, any;
	size_t n_chunks = 0, stream_len = 0;
	struct chunk all;

	FUZZ_ASSERT(stream && chunks && bytes);
	while (fuzz_left(&in)) {
		size_t want = fuzz_u8(&in), n;
		uint8_t *p = fuzz_bytes(&in, want, &n);

		memcpy(stream + stream_len, p, n);
		chunks[n_chunks++] = (struct chunk){ stream_len, stream_len + n };
		stream_len += n;
		free(p);
	}
	for (size_t i = 0; i < stream_len; i++)
		bytes[i] = (struct chunk){ i, i + 1 };
	all = (struct chunk){ 0, stream_len };

	feed(mode, stream, bytes, stream_len, &bytewise);
	if (bytewise.r == -EBADMSG)
		FUZZ_ASSERT(bytewise.fail_to == bytewise.fail_from + 1);
	feed(mode, stream, &all, 1, &whole);
	assert_same(&bytewise, &whole);
	feed(mode, stream, chunks, n_chunks, &chunked);
	assert_same(&bytewise, &chunked);

	if (bytewise.r > 0)
		check_result(&bytewise.p, stream, (size_t)bytewise.r);
	if (bytewise.r == -EAGAIN) {
		/*
		 * Every byte taken in, and none of them past the header's end: a
		 * v1 line has no LF yet, a v2 header is longer than the stream.
		 */
		FUZZ_ASSERT(bytewise.p.seen == stream_len);
		if (bytewise.p.version == 1) {
			FUZZ_ASSERT(stream_len < TCPACK_PROXY_V1_MAX);
			FUZZ_ASSERT(!memchr(stream, '\n', stream_len));
		} else if (stream_len >= TCPACK_PROXY_V2_HEAD) {
			FUZZ_ASSERT(stream_len <
				    TCPACK_PROXY_V2_HEAD + ((size_t)stream[14] << 8 | stream[15]));
		}
	}

	/* "any" is the mode the first byte names, once it named one. */
	if (mode != TCPACK_PROXY_ANY && stream_len &&
	    stream[0] == (mode == TCPACK_PROXY_V1 ? 'P' : '\r')) {
		feed(TCPACK_PROXY_ANY, stream, &all, 1, &any);
		assert_same(&whole, &any);
	}

	free(stream);
	free(chunks);
	free(bytes);
	return 0;
}
