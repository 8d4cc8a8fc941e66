// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "tcpack/line.h"

ssize_t tcpack_line_feed(struct tcpack_line *l, const uint8_t *buf, size_t len, size_t max,
			 size_t *ret_msg_len)
{
	const uint8_t *nl = memchr(buf, '\n', len);
	size_t n = nl ? (size_t)(nl - buf) : len;

	if (n) {
		l->cr = buf[n - 1] == '\r';
		l->len += n;
	}
	/*
	 * A trailing '\r' may yet turn out to be part of the line ending, so a
	 * line of max + 1 bytes is only too long once its last byte is not '\r'.
	 */
	if (l->len > max + (l->cr ? 1 : 0))
		return -EMSGSIZE;
	if (!nl)
		return -EAGAIN;

	*ret_msg_len = l->len - (l->cr ? 1 : 0);
	l->len = 0;
	l->cr = false;
	return (ssize_t)n + 1;
}
