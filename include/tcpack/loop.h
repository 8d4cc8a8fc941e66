/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The io_uring engine (tcpack_engine_uring, see worker.h): the only code
 * that touches struct io_uring. One loop per worker thread.
 */

#include <stdint.h>

/*
 * user_data of every SQE, encoded here and nowhere else:
 *   bits 63..56  op
 *   bits 55..40  zero
 *   bits 39..20  generation of the connection slot
 *   bits 19..0   connection slot (or listener index, for accepts)
 * Accepts carry generation 1 when multishot, 0 when single-shot; a
 * handoff carries its listener index in slot, and the handoff's own
 * completion the fd it handed over in slot (its low 20 bits) and
 * generation (its next 16 bits, the listener index above them).
 * A completion whose generation differs from its slot's is stale: the slot
 * was closed and reused since the operation was submitted.
 */
enum tcpack_op {
	TCPACK_OP_NONE = 0,	/* never submitted: a zero user_data is not ours */
	TCPACK_OP_ACCEPT,
	TCPACK_OP_RECV,
	TCPACK_OP_SEND,
	TCPACK_OP_CANCEL,
	TCPACK_OP_CLOSE,
	TCPACK_OP_CONTROL,	/* the supervisor's eventfd */
	TCPACK_OP_TICK,
	TCPACK_OP_HANDOFF,	/* a connection another worker accepted: res is its fd */
	TCPACK_OP_HANDOFF_SENT,	/* our MSG_RING of one: slot and gen carry the fd */
	TCPACK_OP_SEND_CLOSE,	/* a send linked to its close: completes only when it fails */
	TCPACK_OP_MAX,
};

#define TCPACK_UD_SLOT_BITS	20
#define TCPACK_UD_GEN_BITS	20
#define TCPACK_UD_SLOT_MAX	((1u << TCPACK_UD_SLOT_BITS) - 1)
#define TCPACK_UD_HANDOFF_FD_BITS	16	/* of an fd's bits in a handoff's generation */
#define TCPACK_UD_GEN_MASK	((1u << TCPACK_UD_GEN_BITS) - 1)

struct tcpack_loop_ud {
	enum tcpack_op op;
	uint32_t gen;
	uint32_t slot;
};

static inline uint64_t tcpack_loop_ud_encode(enum tcpack_op op, uint32_t slot, uint32_t gen)
{
	return (uint64_t)op << 56 |
	       (uint64_t)(gen & TCPACK_UD_GEN_MASK) << TCPACK_UD_SLOT_BITS |
	       (slot & TCPACK_UD_SLOT_MAX);
}

static inline struct tcpack_loop_ud tcpack_loop_ud_decode(uint64_t ud)
{
	return (struct tcpack_loop_ud){
		.op = (enum tcpack_op)(ud >> 56),
		.gen = (uint32_t)(ud >> TCPACK_UD_SLOT_BITS) & TCPACK_UD_GEN_MASK,
		.slot = (uint32_t)ud & TCPACK_UD_SLOT_MAX,
	};
}
