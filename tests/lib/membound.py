# SPDX-License-Identifier: MIT
"""
tcpack's worst-case memory, in one place: the formula README.md and
docs/RELIABILITY.md state (tests/check-memory-formula.py evaluates their
text against this), which the abuse test asserts the RSS against and the
integration tests take the held-back bound from.

    RSS <= RSS0 + W*(C*S + R) + C*max(2*(P + L) + H + D, 2*(P + H))

W workers, C max-connections (every worker has a slot for every
connection), S bytes per slot, R the receive buffers of a worker, P
max-pending, L the longer of reply and error-reply, D log-data-max, H
the most input one connection takes in past max-pending (see
held_input()). Per connection: line mode owes at most P + L - 1 bytes,
held in two buffers (one being sent, one appended to) that never grow past
that, plus H held back and D of an unfinished line kept for the log; echo
owes at most P - 1 + H, in the same two buffers.
"""

# Per worker and slot: struct tcpack_conn (424 bytes on x86-64), its
# free-slot index (4) and deferred-list entry (4), and the engine's own
# state of the slot: struct loop_conn (16) or struct ep_conn (2).
SLOT_BYTES = {"uring": 448, "epoll": 434}
BUF_RING_ENTRY = 16		# struct io_uring_buf
RECV_ARM_BUFFERS = 16		# src/loop.c: a multishot receive ends after this many buffers

DEFAULTS = {
	"workers": 2,			# threads = 0: one per CPU, two on the reference machine
	"max_connections": 10000,
	"max_pending": 256 * 1024,
	"reply_len": len("服务器已收到数据".encode()),
	"error_reply_len": len(b"ERR line too long\r\n"),
	"log_data_max": 256,
	"buffer_count": 1024,
	"buffer_size": 4096,
	"base": 9 * 1024 * 1024,	# RSS0, the idle server
}


def held_input(engine, *, max_pending, buffer_count, buffer_size):
	"""
	H: the most bytes an engine hands one connection from the receive
	that takes it to max-pending until receiving stops.

	epoll asks before every recv: one buffer. io_uring: one arm of a
	receive, which ends after K = min(P, 16*Bs) bytes but may finish its
	last buffer (< K + Bs): a multishot receive with the kernel's limit
	(Linux 6.15+), a single-shot one of at most K bytes on older kernels.
	"""
	if engine == "epoll":
		return buffer_size
	return min(max_pending, RECV_ARM_BUFFERS * buffer_size) + buffer_size


def per_connection(engine, *, max_pending, reply_len, error_reply_len, log_data_max,
		   buffer_count, buffer_size):
	"""The most heap one connection holds, in bytes."""
	p = max_pending
	l = max(reply_len, error_reply_len)
	h = held_input(engine, max_pending=p, buffer_count=buffer_count, buffer_size=buffer_size)
	return max(2 * (p + l) + h + log_data_max, 2 * (p + h))


def memory_bound(engine, *, workers, max_connections, max_pending, reply_len, error_reply_len,
		 log_data_max, buffer_count, buffer_size, base):
	"""The worst-case RSS in bytes; @base is RSS0, @engine "uring" or "epoll"."""
	c = max_connections
	if engine == "epoll":
		per_worker = c * SLOT_BYTES["epoll"] + buffer_size
	else:
		per_worker = c * SLOT_BYTES["uring"] + buffer_count * (buffer_size + BUF_RING_ENTRY)
	return base + workers * per_worker + c * per_connection(
		engine, max_pending=max_pending, reply_len=reply_len, error_reply_len=error_reply_len,
		log_data_max=log_data_max, buffer_count=buffer_count, buffer_size=buffer_size)
