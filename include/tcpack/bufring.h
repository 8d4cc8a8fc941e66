/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Bookkeeping of the io_uring engine's provided-buffer ring, apart from the
 * ring itself (loop.c sets it up and writes its entries): which buffers a
 * receive completion filled, and when a buffer may go back. Pure, so that
 * tests/unit/test-bufring.c can play the kernel against it.
 *
 * One invariant carries both: ring entry i always holds buffer i. A buffer
 * goes back only into the entry it came from, so buffers go back in ring
 * order, and entry i is refilled only once buffer i has come back from the
 * kernel and been read. Hence:
 *
 *  - The kernel hands entries out in ring order (head, head + 1, ...). A
 *    receive bundle (IORING_RECVSEND_BUNDLE, Linux 6.10) fills several of
 *    them in one completion whose CQE names only the first buffer: the
 *    others are the next buffer ids, modulo the ring size. Each holds up to
 *    its entry's length and all but the last are full; the kernel may have
 *    shortened the first entry's length to what it meant to read, so the
 *    lengths are read from the entries, not assumed.
 *  - An entry is rewritten only after the kernel has moved past it (it
 *    handed out buffer i, or the loop would not have it back) and after the
 *    loop has read what the kernel left in it. A completion that is read
 *    late holds back the refill of the entries after its own, never
 *    corrupts them.
 *
 * The kernel posts completions in the order it consumed buffers, so in
 * practice every buffer goes back in the batch that read it. A completion
 * the kernel drops (CQ overflow without memory) would stall the refill; the
 * kernel reports that as -EBADR from io_uring_enter, which ends the loop.
 */

#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

struct tcpack_bufring {
	uint8_t *done;		/* per buffer: back and read, its entry not yet refilled */
	uint32_t mask;		/* entries - 1: the count is a power of two */
	uint32_t next;		/* the entry, and so the buffer, to refill next */
};

/**
 * tcpack_bufring_put() - buffer @bid came back from the kernel and has been
 * read. @r->done must have mask + 1 zeroed bytes and @r->next must be 0
 * before the first put; putting every buffer once fills the ring.
 *
 * Return: false, changing nothing, if @bid is already back: a buffer must
 * never sit in the ring twice.
 */
static inline bool tcpack_bufring_put(struct tcpack_bufring *r, uint32_t bid)
{
	bid &= r->mask;
	if (r->done[bid])
		return false;
	r->done[bid] = 1;
	return true;
}

/**
 * tcpack_bufring_refill() - the buffer to add at the ring's next entry, or
 * -1 while that entry's buffer is still out. Call until -1 after puts; each
 * buffer returned is added once, in the order returned.
 */
static inline int tcpack_bufring_refill(struct tcpack_bufring *r)
{
	uint32_t bid = r->next;

	if (!r->done[bid])
		return -1;
	r->done[bid] = 0;
	r->next = (bid + 1) & r->mask;
	return (int)bid;
}

/* The buffers of one receive completion, walked with tcpack_bufring_bundle_next(). */
struct tcpack_bufring_bundle {
	uint32_t bid;		/* the buffer to take next */
	uint32_t left;		/* bytes of the completion not yet taken */
	uint32_t taken;		/* buffers taken so far */
};

/**
 * tcpack_bufring_bundle_start() - the buffers of a receive completion that has
 * IORING_CQE_F_BUFFER: @bid is the CQE's buffer id, @res its result. A
 * completion without a bundle, or without data, is one buffer.
 */
static inline struct tcpack_bufring_bundle tcpack_bufring_bundle_start(uint32_t bid, int32_t res)
{
	return (struct tcpack_bufring_bundle){ .bid = bid, .left = res > 0 ? (uint32_t)res : 0 };
}

/**
 * tcpack_bufring_bundle_next() - take the completion's next buffer: its id in
 * *@ret_bid and the bytes the kernel put in it in *@ret_len (0 for a
 * completion without data). @entries and @mask are the ring, whose entry i
 * holds buffer i; read before the buffer is put back, as a refill rewrites
 * the entry.
 *
 * Return: false when every buffer of the completion has been taken.
 */
static inline bool tcpack_bufring_bundle_next(struct tcpack_bufring_bundle *b, const struct io_uring_buf *entries,
				      uint32_t mask, uint32_t *ret_bid, uint32_t *ret_len)
{
	uint32_t bid = b->bid & mask, len;

	/* Never more than the whole ring, whatever the entries say. */
	if ((b->taken && !b->left) || b->taken > mask)
		return false;
	len = entries[bid].len;
	if (len > b->left)
		len = b->left;
	b->left -= len;
	b->bid = (bid + 1) & mask;
	b->taken++;
	*ret_bid = bid;
	*ret_len = len;
	return true;
}

/**
 * tcpack_bufring_bundle_span() - whether the completion's bytes are one range of
 * memory when buffer i lies at i * @buf_size: its buffers do not wrap
 * around the ring's end and every one but the last is full (the kernel may
 * have shortened the first). If so, the range starts at the first buffer,
 * *@ret_bufs buffers hold it and *@ret_len bytes long, never 0.
 */
static inline bool tcpack_bufring_bundle_span(struct tcpack_bufring_bundle b, const struct io_uring_buf *entries,
				      uint32_t mask, uint32_t buf_size, uint32_t *ret_bufs,
				      uint32_t *ret_len)
{
	uint32_t first = b.bid & mask, bid, len, n = 0, total = 0;

	while (tcpack_bufring_bundle_next(&b, entries, mask, &bid, &len)) {
		if (bid != first + n || total != n * buf_size)
			return false;	/* the ring wrapped, or a gap after a short buffer */
		total += len;
		n++;
	}
	*ret_bufs = n;
	*ret_len = total;
	return total > 0;
}
