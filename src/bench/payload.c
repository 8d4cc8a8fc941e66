// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "payload.h"
#include "tcpack/escape.h"

void bench_filler_init(uint8_t *filler, size_t filler_size)
{
	for (size_t i = 0; i < filler_size; i++)
		filler[i] = (uint8_t)('a' + i % 26);
}

void bench_msg_fill(uint8_t *buf, size_t size, uint32_t conn_id, uint64_t seq,
		    const uint8_t *filler)
{
	static const char hex[] = "0123456789abcdef";
	/* Connection in the top 24 bits, sequence in the low 40: unique for a run. */
	uint64_t stamp = (uint64_t)conn_id << 40 ^ seq;
	size_t stamp_len;

	if (size == 0)
		return;
	stamp_len = size - 1 < BENCH_STAMP_LEN ? size - 1 : BENCH_STAMP_LEN;
	for (size_t i = 0; i < stamp_len; i++)
		buf[i] = (uint8_t)hex[(stamp >> (4 * (BENCH_STAMP_LEN - 1 - i))) & 0xf];
	/* Byte i is 'a' + (i + conn_id) % 26: a shifted copy of the filler. */
	memcpy(buf + stamp_len, filler + (stamp_len + conn_id % 26) % 26, size - 1 - stamp_len);
	buf[size - 1] = '\n';
}

ssize_t bench_stream_feed(struct bench_stream *s, const uint8_t *buf, size_t len, uint64_t limit,
			  struct bench_mismatch *ret_bad)
{
	uint64_t done = 0;
	size_t off = 0;

	while (off < len) {
		size_t n, i;

		if (s->len == 0 || done == limit) {
			/* Nothing more may arrive: an extra reply, or data after it. */
			*ret_bad = (struct bench_mismatch){ .done = done, .seq = s->seq, .pos = s->pos,
							   .at = off };
			return -EPROTO;
		}
		if (s->echo && s->pos == 0)
			bench_msg_fill(s->msg, s->len, s->conn_id, s->seq, s->filler);
		n = s->len - s->pos < len - off ? s->len - s->pos : len - off;
		if (memcmp(s->msg + s->pos, buf + off, n)) {
			for (i = 0; s->msg[s->pos + i] == buf[off + i]; i++)
				;
			*ret_bad = (struct bench_mismatch){ .done = done, .seq = s->seq,
							   .pos = s->pos + i, .at = off + i };
			return -EBADMSG;
		}
		s->pos += n;
		off += n;
		if (s->pos == s->len) {
			s->pos = 0;
			s->seq++;
			done++;
		}
	}
	return (ssize_t)done;
}

void bench_escape(const uint8_t *in, size_t len, char *out, size_t out_size)
{
	/* The server's own log escaping, with room kept for "...". */
	if (tcpack_escape_log(in, len, out, out_size - 3) < len)
		strcat(out, "...");	/* NOLINT(clang-analyzer-security.insecureAPI.strcpy): room kept above */
}
