// SPDX-License-Identifier: MIT
#include <stddef.h>

#include "tcpack/timer.h"

static void list_init(struct tcpack_timer *head)
{
	head->next = head->prev = head;
}

static void link_slot(struct tcpack_timer_wheel *w, struct tcpack_timer *t)
{
	struct tcpack_timer *head = &w->slots[t->deadline % TCPACK_WHEEL_SLOTS];

	t->next = head;
	t->prev = head->prev;
	head->prev->next = t;
	head->prev = t;
}

void tcpack_timer_disarm(struct tcpack_timer *t)
{
	if (!t->next)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = t->prev = NULL;
}

void tcpack_timer_wheel_init(struct tcpack_timer_wheel *w, uint64_t now)
{
	for (unsigned int i = 0; i < TCPACK_WHEEL_SLOTS; i++)
		list_init(&w->slots[i]);
	w->now = now;
}

void tcpack_timer_arm(struct tcpack_timer_wheel *w, struct tcpack_timer *t, uint64_t deadline)
{
	if (deadline <= w->now)
		deadline = w->now + 1;
	if (tcpack_timer_armed(t)) {
		/* Later: the slot visit re-files it. Earlier: its slot may come too late. */
		if (deadline >= t->deadline) {
			t->deadline = deadline;
			return;
		}
		tcpack_timer_disarm(t);
	}
	t->deadline = deadline;
	link_slot(w, t);
}

unsigned int tcpack_timer_wheel_advance(struct tcpack_timer_wheel *w, uint64_t now,
				  void (*expire)(struct tcpack_timer *t, void *arg), void *arg)
{
	unsigned int expired = 0;
	uint64_t tick = w->now;
	uint64_t last = now;

	if (now <= w->now)
		return 0;
	/* A jump of a whole revolution or more visits every slot once. */
	if (now - w->now > TCPACK_WHEEL_SLOTS)
		tick = now - TCPACK_WHEEL_SLOTS;
	w->now = now;

	while (tick++ < last) {
		struct tcpack_timer *head = &w->slots[tick % TCPACK_WHEEL_SLOTS];
		struct tcpack_timer pending;

		if (head->next == head)
			continue;
		/* Detach the slot so callbacks may arm timers into it. */
		pending.next = head->next;
		pending.prev = head->prev;
		pending.next->prev = &pending;
		pending.prev->next = &pending;
		list_init(head);

		while (pending.next != &pending) {
			struct tcpack_timer *t = pending.next;

			tcpack_timer_disarm(t);
			if (t->deadline <= now) {
				expired++;
				expire(t, arg);
			} else {
				link_slot(w, t);
			}
		}
	}
	return expired;
}
