/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The io_uring engine: the only code that touches struct io_uring. One loop
 * serves a set of listening sockets from one thread.
 */

#include <stdbool.h>
#include <stdint.h>

#include "tcpack/config.h"
#include "tcpack/conn.h"
#include "tcpack/listen.h"

/*
 * user_data of every SQE, encoded here and nowhere else:
 *   bits 63..56  op
 *   bits 55..40  provided buffer id (reserved for sends out of a buffer)
 *   bits 39..20  generation of the connection slot
 *   bits 19..0   connection slot (or listener index, for accepts)
 * A completion whose generation differs from its slot's is stale: the slot
 * was closed and reused since the operation was submitted.
 */
enum tcpack_op {
	TCPACK_OP_NONE = 0,	/* never submitted: a zero user_data is not ours */
	TCPACK_OP_ACCEPT,
	TCPACK_OP_RECV,
	TCPACK_OP_SEND,
	TCPACK_OP_SHUTDOWN,
	TCPACK_OP_CANCEL,
	TCPACK_OP_CLOSE,
	TCPACK_OP_SIGNAL,
	TCPACK_OP_TICK,
	TCPACK_OP_DEADLINE,	/* the shutdown timeout */
	TCPACK_OP_TICK_REMOVE,	/* updating the tick timeout */
	TCPACK_OP_MAX,
};

#define TCPACK_UD_SLOT_BITS	20
#define TCPACK_UD_GEN_BITS	20
#define TCPACK_UD_SLOT_MAX	((1u << TCPACK_UD_SLOT_BITS) - 1)
#define TCPACK_UD_GEN_MASK	((1u << TCPACK_UD_GEN_BITS) - 1)

struct tcpack_ud {
	enum tcpack_op op;
	uint16_t bid;
	uint32_t gen;
	uint32_t slot;
};

static inline uint64_t tcpack_ud_encode(enum tcpack_op op, uint32_t slot, uint32_t gen, uint16_t bid)
{
	return (uint64_t)op << 56 | (uint64_t)bid << 40 |
	       (uint64_t)(gen & TCPACK_UD_GEN_MASK) << TCPACK_UD_SLOT_BITS |
	       (slot & TCPACK_UD_SLOT_MAX);
}

static inline struct tcpack_ud tcpack_ud_decode(uint64_t ud)
{
	return (struct tcpack_ud){
		.op = (enum tcpack_op)(ud >> 56),
		.bid = (uint16_t)(ud >> 40),
		.gen = (uint32_t)(ud >> TCPACK_UD_SLOT_BITS) & TCPACK_UD_GEN_MASK,
		.slot = (uint32_t)ud & TCPACK_UD_SLOT_MAX,
	};
}

/*
 * Connections accepted past max-connections (a multishot accept drains the
 * whole backlog before its cancel lands) wait here for a slot, in order;
 * beyond this many they are closed.
 */
#define TCPACK_PARKED_MAX 256u

struct tcpack_loop;

/**
 * tcpack_loop_new() - set up a ring, its provided buffers and connection
 * table for @cfg, serving @listeners.
 *
 * Return: 0 and *@ret, or a negative errno (-ENOSYS/-EPERM when io_uring is
 * refused) with @err saying what failed.
 */
int tcpack_loop_new(const struct tcpack_config *cfg, const struct tcpack_listeners *listeners,
		    struct tcpack_loop **ret, char *err);

/*
 * Reads the configuration anew for SIGHUP: fills @ret (as
 * tcpack_config_from_args() does) or returns a negative errno with @err set.
 */
typedef int (*tcpack_reload_fn)(struct tcpack_config *ret, char *err, void *userdata);

/**
 * tcpack_loop_set_reload() - on SIGHUP, call @fn and serve new connections
 * with what it returns; connections already open keep the configuration
 * they started with. Without it SIGHUP is logged and ignored.
 */
void tcpack_loop_set_reload(struct tcpack_loop *l, tcpack_reload_fn fn, void *userdata);

/** tcpack_loop_free() - safe on NULL. Closes every connection still open. */
void tcpack_loop_free(struct tcpack_loop *l);

/**
 * tcpack_loop_run() - serve until SIGTERM/SIGINT (which must be blocked in
 * the calling thread) and a graceful drain.
 *
 * Return: 0 after a clean stop, a negative errno when the ring failed.
 */
int tcpack_loop_run(struct tcpack_loop *l);
