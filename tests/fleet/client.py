# SPDX-License-Identifier: MIT
"""
The fleet test's clients, run inside the client's network namespace.

run-fleet-test starts each with ``ip netns exec CLIENT-NS``, so every
address it can reach is one of the test's own 198.18.0.0/15 addresses on the
test's bridge. Each subcommand writes JSON lines to stdout:

  load    a steady rate of oneshot exchanges through HAProxy's frontend:
          connect, send a message, read until EOF, compare the reply byte for
          byte. Prints {"ready": ...} once its threads run, and when stdin
          reaches EOF (or --seconds pass) the whole record: every exchange's
          start and end (CLOCK_MONOTONIC, which the test's own clock shares)
          and what became of it.
  hold    opens --count connections straight to one host, each with a PROXY
          v2 header naming this client (what a balancer would send) and
          nothing after it: idle connections the host must keep open. Prints
          {"opened": ...}, holds them until stdin reaches EOF, then prints how
          many the host still kept open and closes them.
  once    one exchange straight to a host, after a PROXY v2 header.
  agent   one agent-check connection: everything the agent says until EOF.

Every socket operation and every wait has a deadline; every loop is bounded.
"""
import argparse
import codecs
import ipaddress
import json
import socket
import struct
import sys
import threading
import time

FAIL_KINDS = ("refused", "reset", "timeout", "wrong", "other")

# proxy-protocol.txt 2.2: the v2 signature, then version 2 and PROXY (0x21),
# TCP over IPv4 (0x11), and the 12 bytes of addresses and ports.
PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2_header(src, dst):
	"""A PROXY v2 header for a TCP/IPv4 connection from @src to @dst ((addr, port) each)."""
	addrs = (ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed
		 + struct.pack("!HH", src[1], dst[1]))
	return PROXY_V2_SIG + bytes((0x21, 0x11)) + struct.pack("!H", len(addrs)) + addrs


def text_arg(s):
	"""A command-line text with C escapes (\\n, \\xNN) as bytes; UTF-8 kept."""
	return codecs.escape_decode(s.encode())[0]


def emit(obj):
	sys.stdout.write(json.dumps(obj) + "\n")
	sys.stdout.flush()


def recv_until_eof(s, deadline, limit):
	"""Everything until the peer's EOF; TimeoutError past @deadline, ValueError past @limit bytes."""
	data = bytearray()
	while True:
		left = deadline - time.monotonic()
		if left <= 0:
			raise TimeoutError("no EOF within the deadline after %d bytes" % len(data))
		s.settimeout(left)
		chunk = s.recv(65536)
		if not chunk:
			return bytes(data)
		data += chunk
		if len(data) > limit:
			raise ValueError("%d bytes, more than the %d owed, before EOF" % (len(data), limit))


def exchange(host, port, message, expect, timeout, proxy=False):
	"""One oneshot exchange: (None or its failure kind, detail)."""
	deadline = time.monotonic() + timeout
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	try:
		s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		s.settimeout(timeout)
		s.connect((host, port))
		if proxy:
			message = proxy_v2_header(s.getsockname(), (host, port)) + message
		s.sendall(message)
		got = recv_until_eof(s, deadline, len(expect))
		if got == expect:
			return None, ""
		return "wrong", "got %d of %d bytes, then EOF: %r" % (len(got), len(expect), got[:48])
	except ConnectionRefusedError as e:
		return "refused", str(e)
	except (ConnectionResetError, BrokenPipeError) as e:
		return "reset", "%s: %s" % (e.__class__.__name__, e)
	except (TimeoutError, socket.timeout) as e:
		return "timeout", str(e)
	except ValueError as e:
		return "wrong", str(e)
	except OSError as e:
		return "other", "%s: %s" % (e.__class__.__name__, e)
	finally:
		s.close()


def stdin_eof(stop, seconds):
	"""Set @stop when stdin reaches EOF (the test closed it, or died)."""
	def watch():
		try:
			while sys.stdin.buffer.read1(4096):
				pass
		except OSError:
			pass
		stop.set()
	threading.Thread(target=watch, daemon=True).start()
	return stop.wait(seconds)


# ---- load -------------------------------------------------------------------

def cmd_load(a):
	stop = threading.Event()
	lock = threading.Lock()
	records = []		# [start, end, kind], kind "ok" or one of FAIL_KINDS
	failures = []		# the failures' details
	skipped = [0]
	t0 = time.monotonic()
	end = t0 + a.seconds

	def worker(k):
		period = a.threads / a.rate	# this thread's share of the total rate
		j = 0
		while not stop.is_set() and len(records) < a.max_exchanges:
			now = time.monotonic()
			if now >= end:
				break
			slot = t0 + (k + j * a.threads) / a.rate
			if slot > now:
				stop.wait(slot - now)
				continue
			if now - slot > period:
				# Behind (an exchange stalled): go on from now, no burst.
				nj = int(((now - t0) * a.rate - k) / a.threads) + 1
				with lock:
					skipped[0] += nj - j
				j = nj
				continue
			n = k + j * a.threads
			start = time.monotonic()
			what, detail = exchange(a.host, a.port, b"fleet exchange %d" % n, a.expect, a.timeout)
			finish = time.monotonic()
			with lock:
				records.append((round(start, 6), round(finish, 6), what or "ok"))
				if what:
					failures.append({"kind": what, "n": n, "start": start, "end": finish,
							 "detail": detail})
			j += 1

	threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(a.threads)]
	for t in threads:
		t.start()
	emit({"ready": t0})
	stdin_eof(stop, a.seconds)
	stop.set()
	deadline = time.monotonic() + a.timeout + 2
	for t in threads:
		t.join(max(0.0, deadline - time.monotonic()))
	with lock:
		recs = sorted(records)
		emit({"t0": t0, "t1": time.monotonic(), "rate": a.rate, "threads": a.threads,
		      "skipped_slots": skipped[0], "threads_stuck": sum(t.is_alive() for t in threads),
		      "exchanges": recs, "failures": sorted(failures, key=lambda f: f["start"])[:500]})
	return 0


# ---- hold, once, agent ------------------------------------------------------

def cmd_hold(a):
	socks, errors = [], []
	for _ in range(a.count):
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		try:
			s.settimeout(5)
			s.connect((a.host, a.port))
			s.sendall(proxy_v2_header(s.getsockname(), (a.host, a.port)))
			socks.append(s)
		except OSError as e:
			errors.append("%s: %s" % (e.__class__.__name__, e))
			s.close()
	emit({"opened": len(socks), "errors": errors[:5]})
	stdin_eof(threading.Event(), a.seconds)
	still_open, closed = 0, []
	for s in socks:
		s.setblocking(False)
		try:
			data = s.recv(4096)
			closed.append("EOF" if not data else "data %r" % data[:40])
		except BlockingIOError:
			still_open += 1
		except OSError as e:
			closed.append(str(e))
		s.close()
	emit({"still_open": still_open, "closed": closed[:5]})
	return 0


def cmd_once(a):
	t = time.monotonic()
	what, detail = exchange(a.host, a.port, b"fleet direct exchange", a.expect, 5.0, proxy=True)
	emit({"result": what or "ok", "detail": detail, "ms": round((time.monotonic() - t) * 1000, 1)})
	return 0


def cmd_agent(a):
	with socket.create_connection((a.host, a.port), timeout=5) as s:
		got = recv_until_eof(s, time.monotonic() + 5, 4096)
	emit({"said": got.decode("ascii", "replace")})
	return 0


def main():
	p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	p.add_argument("--host", required=True)
	p.add_argument("--port", type=int, required=True)
	sub = p.add_subparsers(dest="cmd", required=True)

	s = sub.add_parser("load")
	s.add_argument("--rate", type=int, default=300, help="exchanges a second, all threads together")
	s.add_argument("--threads", type=int, default=6)
	s.add_argument("--seconds", type=float, default=60, help="the longest run")
	s.add_argument("--max-exchanges", type=int, default=100000)
	s.add_argument("--timeout", type=float, default=8.0, help="deadline of one exchange")
	s.add_argument("--expect", type=text_arg, required=True, help="the reply to one message")
	s.set_defaults(fn=cmd_load)

	s = sub.add_parser("hold")
	s.add_argument("--count", type=int, default=15)
	s.add_argument("--seconds", type=float, default=60, help="the longest hold")
	s.set_defaults(fn=cmd_hold)

	s = sub.add_parser("once")
	s.add_argument("--expect", type=text_arg, required=True)
	s.set_defaults(fn=cmd_once)

	s = sub.add_parser("agent")
	s.set_defaults(fn=cmd_agent)

	a = p.parse_args()
	try:
		return a.fn(a)
	except Exception as e:	# one JSON line, not a traceback, for the test to show
		emit({"error": "%s: %s" % (e.__class__.__name__, e)})
		return 1


if __name__ == "__main__":
	sys.exit(main())
