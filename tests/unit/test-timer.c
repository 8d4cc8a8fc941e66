// SPDX-License-Identifier: MIT
/*
 * The timer wheel. Idle timeouts are moved later on every read, so the lazy
 * re-file is the common path; a timer that fires late leaks a connection and
 * one that fires early drops a live client.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/timer.h"

#define N_ITEMS 64

struct item {
	struct tcpack_timer timer;
	unsigned int fired;
	uint64_t fired_at;
	uint64_t rearm_every;		/* > 0: re-arm itself this many ticks on */
	struct item *disarm_other;	/* disarm this one when firing */
	struct item *move_other;	/* re-arm this one to move_to when firing */
	uint64_t move_to;
};

struct harness {
	struct tcpack_timer_wheel wheel;
	struct item items[N_ITEMS];
	unsigned int total_fired;
};

static struct item *item_of(struct tcpack_timer *t)
{
	return (struct item *)((char *)t - offsetof(struct item, timer));
}

static void on_expire(struct tcpack_timer *t, void *arg)
{
	struct harness *h = arg;
	struct item *it = item_of(t);

	/* Disarmed before the callback, and never before its deadline. */
	assert_false(tcpack_timer_armed(t));
	assert_true(t->deadline <= h->wheel.now);
	it->fired++;
	it->fired_at = h->wheel.now;
	h->total_fired++;
	if (it->rearm_every)
		tcpack_timer_arm(&h->wheel, t, h->wheel.now + it->rearm_every);
	if (it->disarm_other)
		tcpack_timer_disarm(&it->disarm_other->timer);
	if (it->move_other)
		tcpack_timer_arm(&h->wheel, &it->move_other->timer, it->move_to);
}

static int setup(void **state)
{
	struct harness *h = test_calloc(1, sizeof(*h));

	if (!h)
		return -1;
	tcpack_timer_wheel_init(&h->wheel, 0);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	test_free(*state);
	return 0;
}

static unsigned int advance(struct harness *h, uint64_t now)
{
	return tcpack_timer_wheel_advance(&h->wheel, now, on_expire, h);
}

/* Advance one tick at a time from the wheel's now to @to, asserting nothing fires. */
static void advance_quietly(struct harness *h, uint64_t to)
{
	for (uint64_t now = h->wheel.now + 1; now <= to; now++)
		assert_int_equal(advance(h, now), 0);
}

static void test_fires_at_deadline_not_before(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0];

	tcpack_timer_arm(&h->wheel, &a->timer, 5);
	assert_true(tcpack_timer_armed(&a->timer));
	advance_quietly(h, 4);
	assert_true(tcpack_timer_armed(&a->timer));
	assert_int_equal(advance(h, 5), 1);
	assert_int_equal(a->fired, 1);
	assert_int_equal(a->fired_at, 5);
	assert_false(tcpack_timer_armed(&a->timer));
	advance_quietly(h, 200);
	assert_int_equal(a->fired, 1);
}

static void test_deadline_in_past_clamps_to_next_tick(void **state)
{
	struct harness *h = *state;

	tcpack_timer_wheel_init(&h->wheel, 10);
	tcpack_timer_arm(&h->wheel, &h->items[0].timer, 3);
	tcpack_timer_arm(&h->wheel, &h->items[1].timer, 10);
	tcpack_timer_arm(&h->wheel, &h->items[2].timer, 0);
	assert_int_equal(advance(h, 11), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(h->items[i].fired_at, 11);
}

static void test_moving_later_delays_expiry(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0], *b = &h->items[1];

	tcpack_timer_arm(&h->wheel, &a->timer, 5);
	tcpack_timer_arm(&h->wheel, &b->timer, 5);
	advance_quietly(h, 2);
	tcpack_timer_arm(&h->wheel, &a->timer, 20);
	/* Several revolutions on, into a slot that has nothing to do with 5. */
	tcpack_timer_arm(&h->wheel, &b->timer, 5 + 2 * TCPACK_WHEEL_SLOTS + 3);

	advance_quietly(h, 19);
	assert_true(tcpack_timer_armed(&a->timer));
	assert_int_equal(advance(h, 20), 1);
	assert_int_equal(a->fired_at, 20);

	advance_quietly(h, 5 + 2 * TCPACK_WHEEL_SLOTS + 2);
	assert_int_equal(advance(h, 5 + 2 * TCPACK_WHEEL_SLOTS + 3), 1);
	assert_int_equal(b->fired_at, 5 + 2 * TCPACK_WHEEL_SLOTS + 3);
	assert_int_equal(a->fired + b->fired, 2);
}

static void test_moving_later_repeatedly_like_an_idle_timeout(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0];

	/* Activity every tick keeps pushing a 10-tick timeout away. */
	for (uint64_t now = 1; now <= 300; now++) {
		tcpack_timer_arm(&h->wheel, &a->timer, now + 10);
		assert_int_equal(advance(h, now), 0);
	}
	advance_quietly(h, 309);
	assert_int_equal(advance(h, 310), 1);
	assert_int_equal(a->fired_at, 310);
}

static void test_moving_earlier_fires_early(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0], *b = &h->items[1];

	tcpack_timer_arm(&h->wheel, &a->timer, 50);
	tcpack_timer_arm(&h->wheel, &a->timer, 10);
	/* Later (lazily, left in slot 5), then earlier again. */
	tcpack_timer_arm(&h->wheel, &b->timer, 5);
	tcpack_timer_arm(&h->wheel, &b->timer, 70);
	tcpack_timer_arm(&h->wheel, &b->timer, 8);

	advance_quietly(h, 7);
	assert_int_equal(advance(h, 8), 1);
	assert_int_equal(b->fired_at, 8);
	advance_quietly(h, 9);
	assert_int_equal(advance(h, 10), 1);
	assert_int_equal(a->fired_at, 10);
	advance_quietly(h, 200);
	assert_int_equal(a->fired, 1);
	assert_int_equal(b->fired, 1);
}

static void test_disarm(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0], *b = &h->items[1];

	/* Safe on a zeroed timer that was never armed. */
	tcpack_timer_disarm(&b->timer);
	assert_false(tcpack_timer_armed(&b->timer));

	tcpack_timer_arm(&h->wheel, &a->timer, 5);
	tcpack_timer_arm(&h->wheel, &b->timer, 5);
	tcpack_timer_disarm(&a->timer);
	assert_false(tcpack_timer_armed(&a->timer));
	tcpack_timer_disarm(&a->timer);
	assert_int_equal(advance(h, 100), 1);
	assert_int_equal(a->fired, 0);
	assert_int_equal(b->fired, 1);

	/* Disarming a lazily moved timer takes it off its old slot. */
	tcpack_timer_arm(&h->wheel, &a->timer, 105);
	tcpack_timer_arm(&h->wheel, &a->timer, 300);
	tcpack_timer_disarm(&a->timer);
	assert_int_equal(advance(h, 1000), 0);
	assert_int_equal(a->fired, 0);
}

static void test_deadlines_beyond_one_revolution(void **state)
{
	static const uint64_t deadlines[] = {
		TCPACK_WHEEL_SLOTS - 1, TCPACK_WHEEL_SLOTS, TCPACK_WHEEL_SLOTS + 1, 100,
		2 * TCPACK_WHEEL_SLOTS, 2 * TCPACK_WHEEL_SLOTS + 1, 1000, 1001,
	};
	const size_t n = sizeof(deadlines) / sizeof(deadlines[0]);
	struct harness *h = *state;

	for (size_t i = 0; i < n; i++)
		tcpack_timer_arm(&h->wheel, &h->items[i].timer, deadlines[i]);
	for (uint64_t now = 1; now <= 1100; now++)
		advance(h, now);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(h->items[i].fired, 1);
		assert_int_equal(h->items[i].fired_at, deadlines[i]);
	}
	assert_int_equal(h->total_fired, n);
}

static void test_large_jump_expires_everything_due(void **state)
{
	static const uint64_t deadlines[] = {
		1, 2, 63, 64, 65, 128, 200, 499, 500, 501, 564, 1000,
	};
	const size_t n = sizeof(deadlines) / sizeof(deadlines[0]);
	struct harness *h = *state;

	for (size_t i = 0; i < n; i++)
		tcpack_timer_arm(&h->wheel, &h->items[i].timer, deadlines[i]);
	assert_int_equal(advance(h, 500), 9);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(h->items[i].fired, deadlines[i] <= 500);
	assert_int_equal(advance(h, 501), 1);
	assert_int_equal(advance(h, 563), 0);
	assert_int_equal(advance(h, 10000), 2);
	assert_int_equal(h->total_fired, n);
}

static void test_jump_of_exactly_one_revolution(void **state)
{
	struct harness *h = *state;
	const uint64_t base = 1000;

	/* One timer on every tick of the next two revolutions and a bit. */
	tcpack_timer_wheel_init(&h->wheel, base);
	for (unsigned int i = 0; i < N_ITEMS; i++)
		tcpack_timer_arm(&h->wheel, &h->items[i].timer, base + 1 + 2 * i);
	assert_int_equal(advance(h, base + TCPACK_WHEEL_SLOTS), TCPACK_WHEEL_SLOTS / 2);
	assert_int_equal(advance(h, base + 2 * TCPACK_WHEEL_SLOTS + 1), TCPACK_WHEEL_SLOTS / 2);
	for (unsigned int i = 0; i < N_ITEMS; i++)
		assert_int_equal(h->items[i].fired, 1);
}

static void test_advance_to_past_or_same_tick_does_nothing(void **state)
{
	struct harness *h = *state;

	tcpack_timer_arm(&h->wheel, &h->items[0].timer, 12);
	assert_int_equal(advance(h, 10), 0);
	assert_int_equal(advance(h, 10), 0);
	assert_int_equal(advance(h, 3), 0);
	assert_true(tcpack_timer_armed(&h->items[0].timer));
	assert_int_equal(advance(h, 12), 1);
}

static void test_callback_rearms_expiring_timer(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0];

	a->rearm_every = 3;
	tcpack_timer_arm(&h->wheel, &a->timer, 3);
	for (uint64_t now = 1; now <= 30; now++) {
		assert_int_equal(advance(h, now), now % 3 == 0);
		if (now % 3 == 0)
			assert_int_equal(a->fired_at, now);
	}
	assert_int_equal(a->fired, 10);
	assert_true(tcpack_timer_armed(&a->timer));

	/* Across a big jump it fires once: its new deadline lies ahead. */
	assert_int_equal(advance(h, 1000), 1);
	assert_true(tcpack_timer_armed(&a->timer));
	assert_int_equal(a->timer.deadline, 1003);

	/* Re-armed a whole revolution on, i.e. into the slot being run. */
	a->rearm_every = TCPACK_WHEEL_SLOTS;
	advance_quietly(h, 1002);
	assert_int_equal(advance(h, 1003), 1);
	advance_quietly(h, 1003 + TCPACK_WHEEL_SLOTS - 1);
	assert_int_equal(advance(h, 1003 + TCPACK_WHEEL_SLOTS), 1);
}

static void test_callback_disarms_other_pending_timer(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0], *b = &h->items[1];
	struct item *c = &h->items[2], *d = &h->items[3];

	/* Same tick, same slot: whichever runs first cancels the other. */
	a->disarm_other = b;
	b->disarm_other = a;
	tcpack_timer_arm(&h->wheel, &a->timer, 5);
	tcpack_timer_arm(&h->wheel, &b->timer, 5);
	assert_int_equal(advance(h, 5), 1);
	assert_int_equal(a->fired + b->fired, 1);
	assert_false(tcpack_timer_armed(&a->timer));
	assert_false(tcpack_timer_armed(&b->timer));

	/* Different slots, both due within one jump. */
	c->disarm_other = d;
	tcpack_timer_arm(&h->wheel, &c->timer, 8);
	tcpack_timer_arm(&h->wheel, &d->timer, 12);
	assert_int_equal(advance(h, 20), 1);
	assert_int_equal(c->fired, 1);
	assert_int_equal(d->fired, 0);
	assert_int_equal(advance(h, 2000), 0);
}

static void test_callback_moves_other_pending_timer(void **state)
{
	struct harness *h = *state;
	struct item *a = &h->items[0], *b = &h->items[1];

	/* Whichever of two same-tick timers runs first pushes the other on. */
	a->move_other = b;
	a->move_to = 40;
	b->move_other = a;
	b->move_to = 40;
	tcpack_timer_arm(&h->wheel, &a->timer, 5);
	tcpack_timer_arm(&h->wheel, &b->timer, 5);
	assert_int_equal(advance(h, 5), 1);
	advance_quietly(h, 39);
	a->move_other = b->move_other = NULL;
	assert_int_equal(advance(h, 40), 1);
	assert_int_equal(a->fired, 1);
	assert_int_equal(b->fired, 1);
	assert_int_equal(a->fired_at + b->fired_at, 45);
}

static void test_counts_every_expired_timer(void **state)
{
	struct harness *h = *state;

	for (unsigned int i = 0; i < 10; i++)
		tcpack_timer_arm(&h->wheel, &h->items[i].timer, 7);
	for (unsigned int i = 10; i < 15; i++)
		tcpack_timer_arm(&h->wheel, &h->items[i].timer, 7 + TCPACK_WHEEL_SLOTS);
	assert_int_equal(advance(h, 7), 10);
	assert_int_equal(advance(h, 7 + TCPACK_WHEEL_SLOTS), 5);
	assert_int_equal(h->total_fired, 15);
}

/*
 * Random arms, moves, disarms and advances (small steps and big jumps)
 * against a model that only remembers each deadline: every timer fires in
 * exactly the advance that carries now across its deadline.
 */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_random_operations_match_model(void **state)
{
	struct harness *h = *state;
	uint64_t model[N_ITEMS] = { 0 };	/* 0: not armed */
	unsigned int fired_before[N_ITEMS] = { 0 };

	for (int round = 0; round < 20000; round++) {
		unsigned int i = (unsigned int)(rng() % N_ITEMS);
		uint64_t now = h->wheel.now;

		switch (rng() % 4) {
		case 0:
		case 1: {
			uint64_t deadline = now + rng() % (3 * TCPACK_WHEEL_SLOTS) + 1;

			tcpack_timer_arm(&h->wheel, &h->items[i].timer, deadline);
			model[i] = deadline;
			break;
		}
		case 2:
			tcpack_timer_disarm(&h->items[i].timer);
			model[i] = 0;
			break;
		default: {
			/* Mostly a few ticks, sometimes several revolutions. */
			uint64_t step = rng() % 8 ? rng() % 4 : rng() % (4 * TCPACK_WHEEL_SLOTS);
			unsigned int want = 0, got;

			for (unsigned int j = 0; j < N_ITEMS; j++)
				if (model[j] && model[j] <= now + step)
					want++;
			got = advance(h, now + step);
			assert_int_equal(got, want);
			for (unsigned int j = 0; j < N_ITEMS; j++) {
				bool due = model[j] && model[j] <= now + step;

				assert_int_equal(h->items[j].fired, fired_before[j] + due);
				bool armed = tcpack_timer_armed(&h->items[j].timer);

				assert_int_equal(armed, model[j] && !due);
				if (due) {
					model[j] = 0;
					fired_before[j]++;
				}
			}
			break;
		}
		}
	}
	/* The model must have seen plenty of expiries to mean anything. */
	assert_true(h->total_fired > 1000);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fires_at_deadline_not_before),
		T(test_deadline_in_past_clamps_to_next_tick),
		T(test_moving_later_delays_expiry),
		T(test_moving_later_repeatedly_like_an_idle_timeout),
		T(test_moving_earlier_fires_early),
		T(test_disarm),
		T(test_deadlines_beyond_one_revolution),
		T(test_large_jump_expires_everything_due),
		T(test_jump_of_exactly_one_revolution),
		T(test_advance_to_past_or_same_tick_does_nothing),
		T(test_callback_rearms_expiring_timer),
		T(test_callback_disarms_other_pending_timer),
		T(test_callback_moves_other_pending_timer),
		T(test_counts_every_expired_timer),
		T(test_random_operations_match_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
