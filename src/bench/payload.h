/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What tcpack-bench sends and what it expects back. Pure: no fds, no ring,
 * no clock. Every message is @size bytes: a stamp (16 hex digits naming the
 * connection and the message's sequence number, cut to fit), filler letters,
 * and a final '\n', so a line server sees exactly one line per message and an
 * echo server's answer can be checked byte for byte, order included.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_STAMP_LEN 16

/* Letters for the filler: the alphabet over and over, so a message is a memcpy. */
#define BENCH_FILLER_SIZE(size) ((size_t)(size) + 26)
void bench_filler_init(uint8_t *filler, size_t filler_size);

/*
 * Writes message @seq of connection @conn_id into @buf (@size bytes);
 * @filler holds BENCH_FILLER_SIZE(@size) bytes from bench_filler_init().
 */
void bench_msg_fill(uint8_t *buf, size_t size, uint32_t conn_id, uint64_t seq,
		    const uint8_t *filler);

/*
 * A byte stream expected back: a sequence of messages, each @len bytes long.
 * Fixed text (line, oneshot): @msg is the text and never changes. Echo: @msg
 * is a private buffer rewritten with bench_msg_fill() for every new message.
 */
struct bench_stream {
	uint8_t *msg;
	size_t len;
	size_t pos;		/* bytes of the current message matched */
	uint64_t seq;		/* messages matched completely */
	uint32_t conn_id;	/* echo: whose messages */
	bool echo;
	const uint8_t *filler;	/* echo: see bench_msg_fill() */
};

/* Where the stream went wrong; filled when bench_stream_feed() fails. */
struct bench_mismatch {
	uint64_t done;		/* messages completed in this call before it */
	uint64_t seq;		/* the message */
	size_t pos;		/* byte of the message */
	size_t at;		/* byte of the fed buffer */
};

/**
 * bench_stream_feed() - match received bytes against the expected stream.
 * @limit: messages that may complete in this call (those sent and not yet
 *         answered); a byte that would start a message past it is an error.
 *
 * Return: messages completed (0..@limit), -EBADMSG when a byte differs or
 * -EPROTO for bytes beyond @limit messages, with @ret_bad filled in either
 * case. Bytes before the failure have been consumed.
 */
ssize_t bench_stream_feed(struct bench_stream *s, const uint8_t *buf, size_t len, uint64_t limit,
			  struct bench_mismatch *ret_bad);

/**
 * bench_escape() - quote bytes for one error line as the server's log does
 * (tcpack_escape_log: printable ASCII and well-formed UTF-8 kept, a
 * backslash doubled, everything else as \\xNN). Stops at a whole character
 * or escape when @out (at least 8 bytes) is full, adding "..." when cut.
 */
void bench_escape(const uint8_t *in, size_t len, char *out, size_t out_size);
