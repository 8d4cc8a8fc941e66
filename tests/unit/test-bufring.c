// SPDX-License-Identifier: MIT
/*
 * The provided-buffer ring's bookkeeping (tcpack/bufring.h) against a model
 * of the kernel's side of a real struct io_uring_buf_ring in memory. A
 * buffer read under the wrong id hands one client another's bytes; a buffer
 * in the ring twice lets two receives write into it; an entry rewritten
 * before the kernel moved past it, or before the loop read it, loses data.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/bufring.h"

#define NBUF	16u
#define MASK	(NBUF - 1)
#define BSIZE	64u
#define NCONN	3u
#define MAX_CQ	256u

enum buf_state {
	B_WRITTEN,	/* entry written by the loop, not yet published */
	B_IN_RING,	/* published: the kernel may hand it out */
	B_UNREAD,	/* filled by the kernel, its completion not read yet */
	B_READ,		/* read: may go back */
};

struct sim_cqe {
	unsigned int conn;
	int32_t res;
	bool buffer;		/* IORING_CQE_F_BUFFER */
	uint32_t bid;
	unsigned int nbufs;	/* what the kernel used, for checking */
};

struct sim {
	struct io_uring_buf_ring *br;
	uint8_t *mem;
	struct tcpack_bufring r;
	uint8_t done[NBUF];
	unsigned int pending;		/* entries written since the last publish */

	/* the kernel's side */
	uint16_t head;
	enum buf_state state[NBUF];
	struct sim_cqe cq[NCONN][MAX_CQ];	/* per connection, in order */
	unsigned int cq_head[NCONN], cq_tail[NCONN];
	unsigned int enobufs;

	/* the byte streams */
	uint64_t sent[NCONN], got[NCONN];
	uint64_t rng;
};

static uint8_t stream_byte(unsigned int conn, uint64_t off)
{
	return (uint8_t)(conn * 131u + off * 7u + (off >> 8) * 13u);
}

static uint32_t rnd(struct sim *s, uint32_t n)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return (uint32_t)(s->rng % n);
}

/* loop.c's buf_recycle(), with the model checking every entry it writes. */
static void loop_recycle(struct sim *s, uint32_t bid)
{
	int ready;

	assert_true(tcpack_bufring_put(&s->r, bid));
	while ((ready = tcpack_bufring_refill(&s->r)) >= 0) {
		uint16_t pos = (uint16_t)(s->br->tail + s->pending);

		/* Entry i holds buffer i, and is rewritten only once read. */
		assert_int_equal(pos & MASK, ready);
		assert_int_equal(s->state[ready], B_READ);
		s->state[ready] = B_WRITTEN;
		io_uring_buf_ring_add(s->br, s->mem + (size_t)ready * BSIZE, BSIZE,
				      (unsigned short)ready, MASK, (int)s->pending++);
	}
}

static void loop_publish(struct sim *s)
{
	for (unsigned int i = 0; i < s->pending; i++) {
		unsigned int slot = (uint16_t)(s->br->tail + i) & MASK;

		assert_int_equal(s->state[slot], B_WRITTEN);
		s->state[slot] = B_IN_RING;
	}
	io_uring_buf_ring_advance(s->br, (int)s->pending);
	s->pending = 0;
}

static void sim_init(struct sim *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->br = aligned_alloc(4096, 4096);
	s->mem = malloc(NBUF * BSIZE);
	assert_non_null(s->br);
	assert_non_null(s->mem);
	memset(s->br, 0xa5, 4096);	/* garbage the loop must not rely on */
	io_uring_buf_ring_init(s->br);
	s->r.done = s->done;
	s->r.mask = MASK;
	s->rng = seed | 1;
	for (unsigned int i = 0; i < NBUF; i++) {
		s->state[i] = B_READ;
		loop_recycle(s, i);
	}
	loop_publish(s);
	assert_int_equal(s->br->tail, NBUF);
}

static void sim_free(struct sim *s)
{
	free(s->br);
	free(s->mem);
}

static void post(struct sim *s, struct sim_cqe cqe)
{
	unsigned int c = cqe.conn;

	assert_true(s->cq_tail[c] - s->cq_head[c] < MAX_CQ);
	s->cq[c][s->cq_tail[c]++ % MAX_CQ] = cqe;
}

/*
 * The kernel's receive of up to @want bytes on @conn: entries from head on,
 * never past the published tail, each filled to its length except the
 * last; one buffer without @bundle. @shorten > 0 plays the kernels that
 * shortened the first entry to what they meant to read, wrote that length
 * back into the entry, and then went on into the next ones.
 */
static void kernel_recv(struct sim *s, unsigned int conn, uint32_t want, bool bundle,
			uint32_t shorten)
{
	uint16_t tail = io_uring_smp_load_acquire(&s->br->tail);
	struct sim_cqe cqe = { .conn = conn };

	if (tail == s->head) {
		cqe.res = -ENOBUFS;
		s->enobufs++;
		post(s, cqe);
		return;
	}
	cqe.buffer = true;
	cqe.bid = s->br->bufs[s->head & MASK].bid;
	while (want && s->head != tail) {
		struct io_uring_buf *e = &s->br->bufs[s->head & MASK];
		uint32_t len = e->len, take;
		uint8_t *p = (uint8_t *)(uintptr_t)e->addr;

		assert_true(e->bid < NBUF);
		assert_int_equal(s->state[e->bid], B_IN_RING);
		assert_ptr_equal(p, s->mem + (size_t)e->bid * BSIZE);
		if (cqe.nbufs == 0 && shorten && shorten < len) {
			e->len = shorten;
			len = shorten;
		}
		take = want < len ? want : len;
		for (uint32_t i = 0; i < take; i++)
			p[i] = stream_byte(conn, s->sent[conn] + i);
		s->sent[conn] += take;
		s->state[e->bid] = B_UNREAD;
		s->head++;
		cqe.nbufs++;
		cqe.res += (int32_t)take;
		want -= take;
		if (!bundle || take < len)
			break;
	}
	post(s, cqe);
}

/* loop.c's handle_recv(): walk the buffers, read them, give them back. */
static void loop_complete(struct sim *s, const struct sim_cqe *cqe)
{
	struct tcpack_bufring_bundle b;
	uint32_t bid, len, total = 0;
	unsigned int n = 0;

	if (!cqe->buffer)
		return;
	b = tcpack_bufring_bundle_start(cqe->bid, cqe->res);
	while (tcpack_bufring_bundle_next(&b, s->br->bufs, MASK, &bid, &len)) {
		const uint8_t *p = s->mem + (size_t)bid * BSIZE;

		assert_int_equal(bid, (cqe->bid + n) & MASK);
		assert_int_equal(s->state[bid], B_UNREAD);
		for (uint32_t i = 0; i < len; i++)
			assert_int_equal(p[i], stream_byte(cqe->conn, s->got[cqe->conn] + i));
		s->got[cqe->conn] += len;
		s->state[bid] = B_READ;
		total += len;
		n++;
		loop_recycle(s, bid);
	}
	assert_int_equal(total, cqe->res > 0 ? (uint32_t)cqe->res : 0);
	assert_int_equal(n, cqe->nbufs);
}

static bool take_cqe(struct sim *s, unsigned int conn, struct sim_cqe *ret)
{
	if (s->cq_head[conn] == s->cq_tail[conn])
		return false;
	*ret = s->cq[conn][s->cq_head[conn]++ % MAX_CQ];
	return true;
}

static void drain(struct sim *s)
{
	struct sim_cqe cqe;

	for (unsigned int c = 0; c < NCONN; c++)
		while (take_cqe(s, c, &cqe))
			loop_complete(s, &cqe);
	loop_publish(s);
}

/* Every buffer back in the ring once: nothing lost, nothing doubled. */
static void assert_all_back(struct sim *s)
{
	assert_int_equal((uint16_t)(s->br->tail - s->head), NBUF);
	for (unsigned int i = 0; i < NBUF; i++)
		assert_int_equal(s->state[i], B_IN_RING);
	for (unsigned int c = 0; c < NCONN; c++)
		assert_int_equal(s->got[c], s->sent[c]);
}

/* ---- the pieces ---------------------------------------------------------- */

static void test_buffers_go_back_in_ring_order(void **state)
{
	uint8_t done[8] = { 0 };
	struct tcpack_bufring r = { .done = done, .mask = 7 };

	for (uint32_t i = 0; i < 8; i++) {
		assert_true(tcpack_bufring_put(&r, i));
		assert_int_equal(tcpack_bufring_refill(&r), (int)i);
		assert_int_equal(tcpack_bufring_refill(&r), -1);
	}
	/* Back out of order: each waits for the buffers before it. */
	assert_true(tcpack_bufring_put(&r, 2));
	assert_int_equal(tcpack_bufring_refill(&r), -1);
	assert_true(tcpack_bufring_put(&r, 0));
	assert_int_equal(tcpack_bufring_refill(&r), 0);
	assert_int_equal(tcpack_bufring_refill(&r), -1);
	assert_true(tcpack_bufring_put(&r, 1));
	assert_int_equal(tcpack_bufring_refill(&r), 1);
	assert_int_equal(tcpack_bufring_refill(&r), 2);
	assert_int_equal(tcpack_bufring_refill(&r), -1);
	/* Across the end of the ring. */
	for (uint32_t i = 3; i < 10; i++)
		assert_true(tcpack_bufring_put(&r, i & 7));
	for (uint32_t i = 3; i < 10; i++)
		assert_int_equal(tcpack_bufring_refill(&r), (int)(i & 7));
	assert_int_equal(tcpack_bufring_refill(&r), -1);
	assert_int_equal(r.next, 2);
}

static void test_a_buffer_cannot_go_back_twice(void **state)
{
	uint8_t done[8] = { 0 };
	struct tcpack_bufring r = { .done = done, .mask = 7, .next = 0 };

	assert_true(tcpack_bufring_put(&r, 3));
	assert_false(tcpack_bufring_put(&r, 3));
	assert_false(tcpack_bufring_put(&r, 3 + 8));	/* the same buffer */
	for (uint32_t i = 0; i < 3; i++)
		assert_true(tcpack_bufring_put(&r, i));
	for (int i = 0; i < 4; i++)
		assert_int_equal(tcpack_bufring_refill(&r), i);
	assert_int_equal(tcpack_bufring_refill(&r), -1);
	/* Once back in the ring, the next completion may return it again. */
	assert_true(tcpack_bufring_put(&r, 3));
}

static void fill_entries(struct io_uring_buf *e, unsigned int n, uint32_t len)
{
	for (unsigned int i = 0; i < n; i++)
		e[i] = (struct io_uring_buf){ .len = len, .bid = (uint16_t)i };
}

static void expect(struct tcpack_bufring_bundle *b, const struct io_uring_buf *e, uint32_t mask,
		   uint32_t bid, uint32_t len)
{
	uint32_t got_bid = 99, got_len = 99;

	assert_true(tcpack_bufring_bundle_next(b, e, mask, &got_bid, &got_len));
	assert_int_equal(got_bid, bid);
	assert_int_equal(got_len, len);
}

static void expect_end(struct tcpack_bufring_bundle *b, const struct io_uring_buf *e, uint32_t mask)
{
	uint32_t bid = 99, len = 99;

	assert_false(tcpack_bufring_bundle_next(b, e, mask, &bid, &len));
	assert_int_equal(bid, 99);
	assert_int_equal(len, 99);
}

static void test_one_buffer_without_a_bundle(void **state)
{
	struct io_uring_buf e[8];
	struct tcpack_bufring_bundle b;

	fill_entries(e, 8, 4096);
	b = tcpack_bufring_bundle_start(5, 100);
	expect(&b, e, 7, 5, 100);
	expect_end(&b, e, 7);

	b = tcpack_bufring_bundle_start(7, 4096);
	expect(&b, e, 7, 7, 4096);
	expect_end(&b, e, 7);
}

static void test_completion_without_data_is_one_buffer(void **state)
{
	struct io_uring_buf e[8];
	struct tcpack_bufring_bundle b;

	fill_entries(e, 8, 4096);
	b = tcpack_bufring_bundle_start(4, 0);
	expect(&b, e, 7, 4, 0);
	expect_end(&b, e, 7);

	b = tcpack_bufring_bundle_start(6, -ECONNRESET);
	expect(&b, e, 7, 6, 0);
	expect_end(&b, e, 7);
}

static void test_bundle_continues_past_the_last_entry(void **state)
{
	struct io_uring_buf e[8];
	struct tcpack_bufring_bundle b;

	fill_entries(e, 8, 4096);
	b = tcpack_bufring_bundle_start(6, 2 * 4096 + 10);
	expect(&b, e, 7, 6, 4096);
	expect(&b, e, 7, 7, 4096);
	expect(&b, e, 7, 0, 10);
	expect_end(&b, e, 7);

	/* Ending exactly on a buffer boundary takes no empty buffer after it. */
	b = tcpack_bufring_bundle_start(1, 3 * 4096);
	expect(&b, e, 7, 1, 4096);
	expect(&b, e, 7, 2, 4096);
	expect(&b, e, 7, 3, 4096);
	expect_end(&b, e, 7);
}

static void test_bundle_reads_a_shortened_first_entry(void **state)
{
	struct io_uring_buf e[8];
	struct tcpack_bufring_bundle b;

	fill_entries(e, 8, 4096);
	e[3].len = 100;		/* the kernel cut it to what it meant to read */
	b = tcpack_bufring_bundle_start(3, 100 + 4096 + 5);
	expect(&b, e, 7, 3, 100);
	expect(&b, e, 7, 4, 4096);
	expect(&b, e, 7, 5, 5);
	expect_end(&b, e, 7);
}

/* Echo sends a completion straight from the buffers only when it is one range. */
static void test_bundle_span_is_one_range_or_none(void **state)
{
	struct io_uring_buf e[8];
	uint32_t n = 99, len = 99;

	fill_entries(e, 8, 4096);
	assert_true(tcpack_bufring_bundle_span(tcpack_bufring_bundle_start(2, 2 * 4096 + 7), e, 7, 4096, &n, &len));
	assert_int_equal(n, 3);
	assert_int_equal(len, 2 * 4096 + 7);
	assert_true(tcpack_bufring_bundle_span(tcpack_bufring_bundle_start(7, 4096), e, 7, 4096, &n, &len));
	assert_int_equal(n, 1);
	assert_int_equal(len, 4096);
	assert_true(tcpack_bufring_bundle_span(tcpack_bufring_bundle_start(5, 1), e, 7, 4096, &n, &len));
	assert_int_equal(n, 1);
	assert_int_equal(len, 1);

	n = len = 99;
	/* Wraps: buffer 0 lies before buffer 7 in memory. */
	assert_false(tcpack_bufring_bundle_span(tcpack_bufring_bundle_start(7, 4096 + 1), e, 7, 4096, &n, &len));
	/* A shortened first entry leaves a gap before the next buffer. */
	e[3].len = 100;
	assert_false(tcpack_bufring_bundle_span(tcpack_bufring_bundle_start(3, 100 + 5), e, 7, 4096, &n, &len));
	assert_true(tcpack_bufring_bundle_span(tcpack_bufring_bundle_start(3, 100), e, 7, 4096, &n, &len));
	assert_int_equal(n, 1);
	assert_int_equal(len, 100);
	/* No data: nothing to send. */
	assert_false(tcpack_bufring_bundle_span(tcpack_bufring_bundle_start(4, 0), e, 7, 4096, &n, &len));
}

static void test_bundle_never_takes_more_than_the_ring(void **state)
{
	struct io_uring_buf e[8];
	struct tcpack_bufring_bundle b;
	uint32_t bid, len;
	unsigned int n = 0;

	fill_entries(e, 8, 4096);
	b = tcpack_bufring_bundle_start(2, INT32_MAX);
	while (tcpack_bufring_bundle_next(&b, e, 7, &bid, &len)) {
		assert_int_equal(bid, (2 + n) & 7);
		n++;
	}
	assert_int_equal(n, 8);

	/* Zero-length entries (never ours) cannot spin the walk either. */
	fill_entries(e, 8, 0);
	b = tcpack_bufring_bundle_start(0, 10);
	n = 0;
	while (tcpack_bufring_bundle_next(&b, e, 7, &bid, &len))
		n++;
	assert_int_equal(n, 8);
}

/* ---- against the kernel model --------------------------------------------- */

static void test_late_completion_holds_back_the_entries_after_it(void **state)
{
	struct sim s;
	struct sim_cqe a, c;

	sim_init(&s, 1);
	/* conn 0 gets buffers 0..2 (the first shortened), conn 1 buffers 3..4 */
	kernel_recv(&s, 0, 20 + 2 * BSIZE, true, 20);
	kernel_recv(&s, 1, BSIZE + 1, true, 0);
	assert_true(take_cqe(&s, 0, &a));
	assert_true(take_cqe(&s, 1, &c));
	assert_int_equal(a.nbufs, 3);
	assert_int_equal(c.nbufs, 2);

	/* The later completion is read first: nothing may go back yet. */
	loop_complete(&s, &c);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.br->bufs[0].len, 20);	/* still what the kernel left */

	loop_complete(&s, &a);
	assert_int_equal(s.pending, 5);
	loop_publish(&s);
	assert_all_back(&s);
	sim_free(&s);
}

static void test_ring_runs_dry_and_recovers(void **state)
{
	struct sim s;
	struct sim_cqe cqe;

	sim_init(&s, 2);
	kernel_recv(&s, 0, NBUF * BSIZE, true, 0);	/* every buffer at once */
	kernel_recv(&s, 1, 10, true, 0);
	assert_int_equal(s.enobufs, 1);
	assert_true(take_cqe(&s, 0, &cqe));
	assert_int_equal(cqe.nbufs, NBUF);
	loop_complete(&s, &cqe);
	assert_true(take_cqe(&s, 1, &cqe));
	assert_int_equal(cqe.res, -ENOBUFS);
	loop_complete(&s, &cqe);
	loop_publish(&s);
	assert_all_back(&s);

	kernel_recv(&s, 1, 10, true, 0);
	drain(&s);
	assert_all_back(&s);
	sim_free(&s);
}

/*
 * Many receives on three connections sharing the ring, bundled or not, some
 * with a shortened first entry, read in batches and across connections out
 * of the order the kernel completed them. Every byte must arrive in order
 * under the right connection, and every buffer must end up in the ring once.
 */
static void run_random(uint64_t seed, bool bundle)
{
	struct sim s;

	sim_init(&s, seed);
	for (unsigned int round = 0; round < 20000; round++) {
		unsigned int conn = rnd(&s, NCONN);
		uint32_t want = 1 + rnd(&s, bundle ? 5 * BSIZE : BSIZE);
		uint32_t shorten = bundle && rnd(&s, 8) == 0 ? 1 + rnd(&s, BSIZE - 1) : 0;

		kernel_recv(&s, conn, want, bundle, shorten);
		if (rnd(&s, 2) == 0) {
			/* a batch: read some completions, connection by connection */
			unsigned int n = rnd(&s, 8);
			struct sim_cqe cqe;

			for (unsigned int i = 0; i < n; i++)
				if (take_cqe(&s, rnd(&s, NCONN), &cqe))
					loop_complete(&s, &cqe);
			loop_publish(&s);
		}
	}
	drain(&s);
	assert_all_back(&s);
	assert_true(s.sent[0] > 0 && s.sent[1] > 0 && s.sent[2] > 0);
	sim_free(&s);
}

static void test_random_bundles_byte_exact(void **state)
{
	for (uint64_t seed = 1; seed <= 8; seed++)
		run_random(seed * 0x9e3779b97f4a7c15ull, true);
}

static void test_random_single_buffers_byte_exact(void **state)
{
	for (uint64_t seed = 1; seed <= 4; seed++)
		run_random(seed * 0xc2b2ae3d27d4eb4full, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffers_go_back_in_ring_order),
		cmocka_unit_test(test_a_buffer_cannot_go_back_twice),
		cmocka_unit_test(test_one_buffer_without_a_bundle),
		cmocka_unit_test(test_completion_without_data_is_one_buffer),
		cmocka_unit_test(test_bundle_continues_past_the_last_entry),
		cmocka_unit_test(test_bundle_reads_a_shortened_first_entry),
		cmocka_unit_test(test_bundle_span_is_one_range_or_none),
		cmocka_unit_test(test_bundle_never_takes_more_than_the_ring),
		cmocka_unit_test(test_late_completion_holds_back_the_entries_after_it),
		cmocka_unit_test(test_ring_runs_dry_and_recovers),
		cmocka_unit_test(test_random_bundles_byte_exact),
		cmocka_unit_test(test_random_single_buffers_byte_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
