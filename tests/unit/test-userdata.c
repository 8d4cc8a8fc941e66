// SPDX-License-Identifier: MIT
/*
 * The user_data encoding in tcpack/loop.h: every completion is routed by it,
 * so a field that bleeds into another would send a CQE to the wrong
 * connection or let a stale one through the generation check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/loop.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void assert_round_trip(enum tcpack_op op, uint32_t slot, uint32_t gen)
{
	struct tcpack_loop_ud ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(op, slot, gen));

	assert_int_equal(ud.op, op);
	assert_int_equal(ud.slot, slot);
	assert_int_equal(ud.gen, gen);
}

static void test_round_trip_every_op(void **state)
{
	static const uint32_t slots[] = { 0, 1, 2, 4095, 65536, TCPACK_UD_SLOT_MAX };
	static const uint32_t gens[] = { 0, 1, 7, 0x5555, 0xaaaaa, TCPACK_UD_GEN_MASK };

	for (int op = TCPACK_OP_NONE; op < TCPACK_OP_MAX; op++)
		for (size_t s = 0; s < ARRAY_SIZE(slots); s++)
			for (size_t g = 0; g < ARRAY_SIZE(gens); g++)
				assert_round_trip((enum tcpack_op)op, slots[s], gens[g]);
}

static void test_fields_at_maximum_do_not_bleed(void **state)
{
	struct tcpack_loop_ud ud;

	assert_round_trip(TCPACK_OP_MAX - 1, TCPACK_UD_SLOT_MAX, TCPACK_UD_GEN_MASK);

	/* Each field at its maximum alone leaves every other field zero. */
	ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(TCPACK_OP_NONE, TCPACK_UD_SLOT_MAX, 0));
	assert_int_equal(ud.op, TCPACK_OP_NONE);
	assert_int_equal(ud.gen, 0);
	assert_int_equal(ud.slot, TCPACK_UD_SLOT_MAX);

	ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(TCPACK_OP_NONE, 0, TCPACK_UD_GEN_MASK));
	assert_int_equal(ud.op, TCPACK_OP_NONE);
	assert_int_equal(ud.slot, 0);
	assert_int_equal(ud.gen, TCPACK_UD_GEN_MASK);

	ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(TCPACK_OP_MAX - 1, 0, 0));
	assert_int_equal(ud.op, TCPACK_OP_MAX - 1);
	assert_int_equal(ud.slot, 0);
	assert_int_equal(ud.gen, 0);
}

static void test_layout_matches_documented_bits(void **state)
{
	assert_int_equal(tcpack_loop_ud_encode(TCPACK_OP_RECV, 0, 0), (uint64_t)TCPACK_OP_RECV << 56);
	/* Bits 55..40 are unused: nothing encodes there. */
	assert_int_equal(tcpack_loop_ud_encode(TCPACK_OP_MAX - 1, TCPACK_UD_SLOT_MAX, TCPACK_UD_GEN_MASK) &
			 (0xffffull << 40), 0);
	assert_int_equal(tcpack_loop_ud_encode(TCPACK_OP_NONE, 0, TCPACK_UD_GEN_MASK),
			 0xfffffull << 20);
	assert_int_equal(tcpack_loop_ud_encode(TCPACK_OP_NONE, TCPACK_UD_SLOT_MAX, 0), 0xfffffull);
}

static void test_zero_user_data_is_no_op(void **state)
{
	struct tcpack_loop_ud ud = tcpack_loop_ud_decode(0);

	assert_int_equal(ud.op, TCPACK_OP_NONE);
	/* Every real op encodes non-zero, even for slot 0, generation 0. */
	for (int op = TCPACK_OP_NONE + 1; op < TCPACK_OP_MAX; op++)
		assert_int_not_equal(tcpack_loop_ud_encode((enum tcpack_op)op, 0, 0), 0);
}

static void test_generation_wraps_within_its_mask(void **state)
{
	const uint32_t wrap = TCPACK_UD_GEN_MASK + 1;
	struct tcpack_loop_ud ud;

	ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(TCPACK_OP_RECV, 3, wrap));
	assert_int_equal(ud.gen, 0);
	assert_int_equal(ud.slot, 3);
	assert_int_equal(ud.op, TCPACK_OP_RECV);

	ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(TCPACK_OP_SEND, 3, wrap + 5));
	assert_int_equal(ud.gen, 5);
	assert_int_equal(ud.slot, 3);
	assert_int_equal(ud.op, TCPACK_OP_SEND);

	/* A generation counter kept as a plain uint32_t compares equal after masking. */
	ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(TCPACK_OP_SEND, 3, UINT32_MAX));
	assert_int_equal(ud.gen, UINT32_MAX & TCPACK_UD_GEN_MASK);
	assert_int_equal(ud.op, TCPACK_OP_SEND);
	assert_int_equal(tcpack_loop_ud_encode(TCPACK_OP_SEND, 3, 17),
			 tcpack_loop_ud_encode(TCPACK_OP_SEND, 3, 17 + wrap));
}

static void test_out_of_range_slot_cannot_reach_generation(void **state)
{
	struct tcpack_loop_ud ud = tcpack_loop_ud_decode(tcpack_loop_ud_encode(TCPACK_OP_RECV,
								TCPACK_UD_SLOT_MAX + 1, 7));

	assert_int_equal(ud.gen, 7);
	assert_int_equal(ud.op, TCPACK_OP_RECV);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void assert_all_distinct(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(v[0]), cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_int_not_equal(v[i - 1], v[i]);
}

static void test_distinct_slot_gen_pairs_never_collide(void **state)
{
	static const uint32_t edges[] = {
		0, 1, 2, 0xff, 0x100, 0xfff, 0x1000, 0x7ffff, 0x80000, 0xffffe, 0xfffff,
	};
	const size_t n_edges = ARRAY_SIZE(edges);
	const size_t n_small = 256 * 256;
	uint64_t *v = malloc((n_small + n_edges * n_edges) * sizeof(*v));
	size_t n = 0;

	assert_non_null(v);
	/* Exhaustive over a small square ... */
	for (uint32_t slot = 0; slot < 256; slot++)
		for (uint32_t gen = 0; gen < 256; gen++)
			v[n++] = tcpack_loop_ud_encode(TCPACK_OP_RECV, slot, gen);
	assert_all_distinct(v, n);

	/* ... and over the bit boundaries of both fields. */
	n = 0;
	for (size_t s = 0; s < n_edges; s++)
		for (size_t g = 0; g < n_edges; g++)
			v[n++] = tcpack_loop_ud_encode(TCPACK_OP_RECV, edges[s], edges[g]);
	assert_all_distinct(v, n);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_op),
		cmocka_unit_test(test_fields_at_maximum_do_not_bleed),
		cmocka_unit_test(test_layout_matches_documented_bits),
		cmocka_unit_test(test_zero_user_data_is_no_op),
		cmocka_unit_test(test_generation_wraps_within_its_mask),
		cmocka_unit_test(test_out_of_range_slot_cannot_reach_generation),
		cmocka_unit_test(test_distinct_slot_gen_pairs_never_collide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
