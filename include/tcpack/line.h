/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Message framing. Pure: no fds, rings or clocks. State is valid when zeroed
 * and resumable at any byte boundary.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Line framing: a message ends with '\n'; a '\r' right before it belongs to
 * the line ending. A message's length excludes its ending.
 */
struct tcpack_line {
	size_t len;	/* bytes of the current line seen so far, ending excluded */
	bool cr;	/* the last byte seen was '\r' (counted in len for now) */
};

/**
 * tcpack_line_feed() - scan @buf for the end of the current line.
 * @max: the longest message allowed.
 * @ret_msg_len: on a complete line, the whole message's length (it may have
 *               started in earlier calls).
 *
 * Return: n > 0 when buf[0..n) completes a line (the '\n' is buf[n - 1]; the
 * state is reset for the next line), -EAGAIN when all of @buf belongs to a
 * line that is not finished yet, -EMSGSIZE as soon as the line is known to be
 * longer than @max. After -EMSGSIZE the state must be zeroed before reuse.
 */
ssize_t tcpack_line_feed(struct tcpack_line *l, const uint8_t *buf, size_t len, size_t max,
			 size_t *ret_msg_len);

/**
 * tcpack_line_pending() - bytes of an unfinished line held in the state.
 */
static inline size_t tcpack_line_pending(const struct tcpack_line *l)
{
	return l->len;
}
