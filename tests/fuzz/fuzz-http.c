// SPDX-License-Identifier: MIT
/*
 * HTTP/1.x request heads (tcpack_http_feed) fed whole, one byte at a time,
 * and in the fuzzer's chunks: all three must agree.
 *
 * Input: chunks, each a length byte and that many bytes: the stream, split
 * where the fuzzer chose. Every chunk is fed the way a connection feeds a
 * receive buffer, each in a buffer of exactly its size so that
 * AddressSanitizer sees a read past it.
 *
 * Byte by byte is the reference for where a head is refused: the chunk
 * refused must hold that byte, with the same status and reason. A head that
 * completes must do so at the same stream offset with the same request, and
 * that request must be what the head's bytes say: it ends at its first
 * blank line, within TCPACK_HTTP_HEAD_MAX, every line in CRLF; its request
 * line is the method, the target kept and the version; a persistent 1.0 or
 * closing 1.1 connection was asked for by name. The head alone, fed again,
 * gives the same request, and nothing more is taken after it.
 */
#define _GNU_SOURCE	/* memmem */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz-input.h"
#include "tcpack/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	ssize_t r;		/* -EAGAIN, -EBADMSG, or the stream offset just past the head */
	size_t fail_from, fail_to;	/* -EBADMSG: the stream bytes of the refused call */
	struct tcpack_http h;
};

struct chunk {
	size_t start, end;	/* in the stream */
};

static void feed(const uint8_t *stream, const struct chunk *chunks, size_t n_chunks,
		 struct outcome *o)
{
	tcpack_http_init(&o->h);
	o->r = -EAGAIN;
	for (size_t c = 0; c < n_chunks; c++) {
		size_t n = chunks[c].end - chunks[c].start;
		uint8_t *buf = malloc(n ? n : 1);
		uint32_t seen = o->h.seen;
		ssize_t r;

		FUZZ_ASSERT(buf);
		memcpy(buf, stream + chunks[c].start, n);
		r = tcpack_http_feed(&o->h, buf, n);
		free(buf);
		if (r == -EAGAIN) {
			FUZZ_ASSERT(!o->h.why && o->h.seen == seen + n);
			continue;
		}
		if (r == -EBADMSG) {
			FUZZ_ASSERT(o->h.why);
			o->r = r;
			o->fail_from = chunks[c].start;
			o->fail_to = chunks[c].end;
			return;
		}
		FUZZ_ASSERT(r > 0 && (size_t)r <= n);
		FUZZ_ASSERT(!o->h.why && !o->h.status);
		FUZZ_ASSERT(o->h.seen == seen + (size_t)r);
		o->r = (ssize_t)(chunks[c].start + (size_t)r);
		return;
	}
}

static void assert_same(const struct outcome *want, const struct outcome *got)
{
	FUZZ_ASSERT(got->r == want->r);
	if (got->r == -EBADMSG) {
		FUZZ_ASSERT(got->h.why == want->h.why && got->h.status == want->h.status);
		FUZZ_ASSERT(got->fail_from <= want->fail_from && want->fail_from < got->fail_to);
		return;
	}
	FUZZ_ASSERT(got->h.seen == want->h.seen);
	if (got->r > 0) {
		FUZZ_ASSERT(got->h.method == want->h.method);
		FUZZ_ASSERT(!strcmp(got->h.target, want->h.target));
		FUZZ_ASSERT(got->h.minor == want->h.minor);
		FUZZ_ASSERT(got->h.keep_alive == want->h.keep_alive);
	}
}

/* Whether @word is in h[0..len), ASCII case aside. */
static bool contains(const uint8_t *h, size_t len, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= len; i++)
		if (!strncasecmp((const char *)h + i, word, n))
			return true;
	return false;
}

/* What a complete head of @len bytes must have said, from its own bytes. */
static void check_request(const struct tcpack_http *h, const uint8_t *s, size_t len)
{
	size_t at = 0, target_len = strnlen(h->target, sizeof(h->target));
	const uint8_t *blank;

	/* "A * HTTP/1.0\r\n\r\n" is the shortest. */
	FUZZ_ASSERT(len <= TCPACK_HTTP_HEAD_MAX && len >= 16);
	/* Every line in CRLF: no CR without LF, no LF without CR. */
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r')
			FUZZ_ASSERT(i + 1 < len && s[i + 1] == '\n');
		if (s[i] == '\n')
			FUZZ_ASSERT(i > 0 && s[i - 1] == '\r');
	}
	/* Up to 4 empty lines, then the request line; the head ends at the first blank line. */
	while (at + 1 < len && s[at] == '\r')
		at += 2;
	FUZZ_ASSERT(at <= 8);
	blank = memmem(s + at, len - at, "\r\n\r\n", 4);
	FUZZ_ASSERT(blank && (size_t)(blank - s) + 4 == len);

	/* The method, up to its one SP. */
	if (h->method == TCPACK_HTTP_GET)
		FUZZ_ASSERT(!memcmp(s + at, "GET ", 4));
	else if (h->method == TCPACK_HTTP_HEAD)
		FUZZ_ASSERT(!memcmp(s + at, "HEAD ", 5));
	else
		FUZZ_ASSERT(h->method == TCPACK_HTTP_OTHER && memcmp(s + at, "GET ", 4) &&
			    memcmp(s + at, "HEAD ", 5));
	while (s[at] != ' ')
		at++;
	at++;
	/* The target kept whole, NUL-terminated, and its version. */
	FUZZ_ASSERT(target_len > 0 && target_len <= TCPACK_HTTP_TARGET_MAX);
	FUZZ_ASSERT(h->target[0] == '/' || (h->method == TCPACK_HTTP_OTHER && !strcmp(h->target, "*")));
	FUZZ_ASSERT(at + target_len + 11 <= len && !memcmp(s + at, h->target, target_len));
	at += target_len;
	FUZZ_ASSERT(!memcmp(s + at, " HTTP/1.", 8) && s[at + 8] >= '0' && s[at + 8] <= '9');
	FUZZ_ASSERT(h->minor == (s[at + 8] != '0'));
	FUZZ_ASSERT(!memcmp(s + at + 9, "\r\n", 2));

	/* Away from the default only when asked, by name; 1.1 named a host. */
	if (h->minor && !h->keep_alive)
		FUZZ_ASSERT(contains(s, len, "close"));
	if (!h->minor && h->keep_alive)
		FUZZ_ASSERT(contains(s, len, "keep-alive"));
	if (h->minor)
		FUZZ_ASSERT(contains(s, len, "\nhost:"));
	/* No body announced. */
	FUZZ_ASSERT(!contains(s, len, "\ntransfer-encoding:"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = { 400, 413, 414, 431, 501, 505 };
	struct fuzz_input in = { data, size };
	uint8_t *stream = malloc(size ? size : 1);
	struct chunk *chunks = malloc(sizeof(*chunks) * (size ? size : 1));
	struct chunk *bytes = malloc(sizeof(*bytes) * (size ? size : 1));
	struct outcome bytewise, whole, chunked, again;
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

	feed(stream, bytes, stream_len, &bytewise);
	feed(stream, &all, 1, &whole);
	assert_same(&bytewise, &whole);
	feed(stream, chunks, n_chunks, &chunked);
	assert_same(&bytewise, &chunked);

	if (bytewise.r == -EBADMSG) {
		bool known = false;

		FUZZ_ASSERT(bytewise.fail_to == bytewise.fail_from + 1);
		FUZZ_ASSERT(bytewise.fail_from < TCPACK_HTTP_HEAD_MAX);
		for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
			known |= bytewise.h.status == statuses[i];
		FUZZ_ASSERT(known);
		/* Refused for good. */
		FUZZ_ASSERT(tcpack_http_feed(&whole.h, stream, stream_len) == -EBADMSG);
		FUZZ_ASSERT(whole.h.why == bytewise.h.why && whole.h.status == bytewise.h.status);
	} else if (bytewise.r == -EAGAIN) {
		/* Every byte taken in, still short of the limit. */
		FUZZ_ASSERT(bytewise.h.seen == stream_len && stream_len < TCPACK_HTTP_HEAD_MAX);
	} else {
		size_t len = (size_t)bytewise.r;

		check_request(&bytewise.h, stream, len);
		/* The head alone, again: the same request, exactly its bytes. */
		all.end = len;
		feed(stream, &all, 1, &again);
		FUZZ_ASSERT(again.r == (ssize_t)len);
		assert_same(&bytewise, &again);
		/* A complete head takes no more. */
		FUZZ_ASSERT(tcpack_http_feed(&again.h, stream + len, stream_len - len) == -EBADMSG);
		FUZZ_ASSERT(again.h.status == 500);
	}

	free(stream);
	free(chunks);
	free(bytes);
	return 0;
}
