/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A coarse timer wheel. One ring timeout ticks it; entries carry an absolute
 * deadline that may be moved forward at no cost (the wheel re-files a moved
 * entry lazily when its old slot comes round). Pure: the caller passes "now".
 */

#include <stdbool.h>
#include <stdint.h>

#define TCPACK_WHEEL_SLOTS 64u

struct tcpack_timer {
	struct tcpack_timer *next, *prev;	/* both NULL: not on the wheel */
	uint64_t deadline;			/* tick number */
};

struct tcpack_timer_wheel {
	struct tcpack_timer slots[TCPACK_WHEEL_SLOTS];	/* list heads */
	uint64_t now;					/* last tick processed */
};

void tcpack_timer_wheel_init(struct tcpack_timer_wheel *w, uint64_t now);

/**
 * tcpack_timer_arm() - (re)arm @t to expire at tick @deadline (clamped to
 * now + 1). Moving a pending timer later is O(1) and touches no list.
 */
void tcpack_timer_arm(struct tcpack_timer_wheel *w, struct tcpack_timer *t, uint64_t deadline);

/** tcpack_timer_disarm() - remove @t; safe when not armed. */
void tcpack_timer_disarm(struct tcpack_timer *t);

static inline bool tcpack_timer_armed(const struct tcpack_timer *t)
{
	return t->next != NULL;
}

/**
 * tcpack_timer_wheel_advance() - advance to tick @now, calling @expire for each
 * timer whose deadline has passed. A timer is disarmed before @expire runs;
 * @expire may re-arm or disarm any timer.
 *
 * Return: the number of timers expired.
 */
unsigned int tcpack_timer_wheel_advance(struct tcpack_timer_wheel *w, uint64_t now,
				  void (*expire)(struct tcpack_timer *t, void *arg), void *arg);
