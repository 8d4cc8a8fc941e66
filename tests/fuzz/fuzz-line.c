// SPDX-License-Identifier: MIT
/*
 * Line framing (tcpack_line_feed) against a reference that looks at the
 * whole stream at once.
 *
 * Input: one byte of max-message, then chunks, each a length byte and that
 * many bytes: the stream, split where the fuzzer chose. Every chunk is fed
 * the way conn.c feeds a receive buffer (again and again until consumed).
 *
 * The reference knows, for the line under way, where its '\n' is in the
 * stream and at which byte it is first known to be too long: its
 * (max + 2)-th byte, or its (max + 1)-th when that is not a '\r' (which could
 * still belong to the ending). -EMSGSIZE must come from exactly the call
 * that scans that byte; a complete line must come back with its message
 * length; anything else is -EAGAIN with every byte of the line counted.
 * After -EMSGSIZE the state is zeroed and the rest of the chunk dropped, and
 * both sides start a new line at the next chunk.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "tcpack/line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct chunk {
	size_t start, end;	/* in the stream */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	size_t max = fuzz_u8(&in);
	uint8_t *stream = malloc(size ? size : 1);
	struct chunk *chunks = malloc(sizeof(*chunks) * (size ? size : 1));
	size_t n_chunks = 0, stream_len = 0, line_start = 0;
	struct tcpack_line l = { 0 };

	FUZZ_ASSERT(stream && chunks);
	while (fuzz_left(&in)) {
		size_t want = fuzz_u8(&in), n;
		uint8_t *p = fuzz_bytes(&in, want, &n);

		memcpy(stream + stream_len, p, n);
		chunks[n_chunks++] = (struct chunk){ stream_len, stream_len + n };
		stream_len += n;
		free(p);
	}

	for (size_t ci = 0; ci < n_chunks; ci++) {
		size_t off = chunks[ci].start, end = chunks[ci].end;

		/* conn.c never feeds an empty buffer, but an empty one must be harmless. */
		do {
			size_t rem = end - off, nl, known = SIZE_MAX, scan_end, msg_len = 12345;
			uint8_t *buf = malloc(rem ? rem : 1);
			ssize_t r;

			FUZZ_ASSERT(buf);
			memcpy(buf, stream + off, rem);
			r = tcpack_line_feed(&l, buf, rem, max, &msg_len);
			free(buf);

			/* The reference, from the start of the line under way to this chunk's end. */
			for (nl = line_start; nl < end && stream[nl] != '\n'; nl++) {
				size_t seen = nl - line_start + 1;

				if (known == SIZE_MAX &&
				    (seen >= max + 2 || (seen == max + 1 && stream[nl] != '\r')))
					known = nl;
			}
			scan_end = nl < end ? nl + 1 : end;	/* what this call may look at */

			if (known < scan_end) {
				FUZZ_ASSERT(r == -EMSGSIZE);
				FUZZ_ASSERT(known >= off);	/* not known in an earlier call */
				FUZZ_ASSERT(msg_len == 12345);
				l = (struct tcpack_line){ 0 };
				off = line_start = end;
			} else if (nl < end) {
				size_t want = nl - line_start;

				if (want && stream[nl - 1] == '\r')
					want--;
				FUZZ_ASSERT(r > 0);
				FUZZ_ASSERT((size_t)r == nl + 1 - off);
				FUZZ_ASSERT((size_t)r <= rem);
				FUZZ_ASSERT(msg_len == want);
				FUZZ_ASSERT(msg_len <= max);
				FUZZ_ASSERT(tcpack_line_pending(&l) == 0);
				off = line_start = nl + 1;
			} else {
				FUZZ_ASSERT(r == -EAGAIN);
				FUZZ_ASSERT(msg_len == 12345);
				FUZZ_ASSERT(tcpack_line_pending(&l) == end - line_start);
				off = end;
			}
		} while (off < end);
	}
	free(stream);
	free(chunks);
	return 0;
}
