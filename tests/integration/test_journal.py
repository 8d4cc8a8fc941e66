# SPDX-License-Identifier: MIT
"""
Logging to the journal's native protocol when $JOURNAL_STREAM names stderr.

The host journal is never touched: the module re-runs itself under
``unshare -m``, mounts a tmpfs over /run/systemd/journal (or the nearest
existing parent) inside that private mount namespace, and binds its own
datagram socket at /run/systemd/journal/socket, where tcpack's
sd_journal_sendv() sends. Needs root; skips (77) otherwise.
"""
import array
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import time

import harness
from harness import DEFAULT_REPLY, Server, connect, recv_until_eof

IN_NS = "--in-mount-namespace"
JOURNAL_DIR = "/run/systemd/journal"
JOURNAL_SOCKET = JOURNAL_DIR + "/socket"


def mount_ns():
	return os.readlink("/proc/self/ns/mnt")


def setup_module():
	if IN_NS not in sys.argv:
		harness.skip_module("must run inside its own mount namespace (run the module directly)")
	if mount_ns() == os.environ.get("TCPACK_TEST_OUTER_MNTNS"):
		harness.skip_module("unshare did not give a new mount namespace: not mounting over /run")
	target = next(d for d in (JOURNAL_DIR, "/run/systemd", "/run") if os.path.isdir(d))
	r = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "tcpack-test", target],
			   capture_output=True, timeout=10)
	if r.returncode != 0:
		harness.skip_module("cannot mount a tmpfs on %s: %s" % (target, r.stderr.decode().strip()))
	os.makedirs(JOURNAL_DIR, exist_ok=True)


def parse_native(buf):
	"""
	One datagram of the journal native protocol: KEY=value lines, or KEY
	newline, 64-bit little-endian length, value, newline for values that
	hold a newline. Returns a list of (key, value bytes) in order.
	"""
	fields = []
	i = 0
	while i < len(buf):
		nl = buf.index(b"\n", i)
		eq = buf.find(b"=", i, nl)
		if eq >= 0:
			fields.append((buf[i:eq].decode(), buf[eq + 1:nl]))
			i = nl + 1
		else:
			key = buf[i:nl].decode()
			(size,) = struct.unpack_from("<Q", buf, nl + 1)
			start = nl + 9
			value = buf[start:start + size]
			assert len(value) == size and buf[start + size:start + size + 1] == b"\n", \
				"malformed binary field %s" % key
			fields.append((key, value))
			i = start + size + 1
	return fields


class Journal:
	"""Our stand-in for journald's native socket."""

	def __init__(self):
		if os.path.exists(JOURNAL_SOCKET):
			os.unlink(JOURNAL_SOCKET)
		self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
		self.sock.bind(JOURNAL_SOCKET)
		self.entries = []	# lists of (key, value)

	def _read(self, timeout):
		r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
		if not r:
			return
		fds = array.array("i")
		data, anc, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(4 * fds.itemsize))
		for level, kind, payload in anc:
			if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
				fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
		for fd in fds:	# too big for a datagram: a sealed memfd instead
			with os.fdopen(fd, "rb") as f:
				data = f.read()
		self.entries.append(parse_native(data))

	def wait_for(self, pred, timeout=5.0, what="a journal entry"):
		deadline = time.monotonic() + timeout
		seen = 0
		while True:
			for e in self.entries[seen:]:
				if pred(e):
					return e
			seen = len(self.entries)
			left = deadline - time.monotonic()
			if left <= 0:
				raise AssertionError("no %s within %.1fs; got %r" % (what, timeout, self.entries[-10:]))
			self._read(min(left, 0.2))

	def collect(self, seconds):
		deadline = time.monotonic() + seconds
		while time.monotonic() < deadline:
			self._read(deadline - time.monotonic())

	def close(self):
		self.sock.close()
		os.unlink(JOURNAL_SOCKET)


def field(entry, key):
	values = [v for k, v in entry if k == key]
	assert len(values) == 1, "%s appears %d times in %r" % (key, len(values), entry)
	return values[0].decode()


def message_starts(prefix):
	return lambda e: any(k == "MESSAGE" and v.startswith(prefix.encode()) for k, v in e)


def journaled_server(journal, args=(), listen="127.0.0.1:0"):
	srv = Server(list(args), listen=listen, journal_stream=True, name="journal").start(wait=False)
	e = journal.wait_for(message_starts("listening on "), what="'listening on' entry")
	srv.port = int(field(e, "MESSAGE").split()[2].rsplit(":", 1)[1])
	journal.wait_for(message_starts("tcpack "), what="'serving in' entry")
	return srv


def test_exchange_is_a_journal_entry_with_fields():
	journal = Journal()
	with journaled_server(journal) as srv:
		with connect(srv.port) as s:
			s.sendall(b"hello \xff")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = harness.local_port(s)
		e = journal.wait_for(message_starts("127.0.0.1:%d: received" % port))
		assert field(e, "MESSAGE") == "127.0.0.1:%d: received 7 bytes: hello \\xff" % port
		assert field(e, "PRIORITY") == "6"
		assert field(e, "REMOTE_ADDR") == "127.0.0.1"
		assert field(e, "REMOTE_PORT") == str(port)
		assert field(e, "BYTES") == "7"
		assert field(e, "TCPACK_MODE") == "oneshot"
		assert field(e, "TCPACK_DATA") == "hello \\xff"
		# The journal got it, so stderr did not.
		assert "received" not in srv.log(), srv.log()
	journal.close()


def test_proxied_exchange_names_client_and_balancer_apart():
	journal = Journal()
	hdr = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton("192.0.2.44") +
	       socket.inet_aton("192.0.2.1") + struct.pack("!HH", 4444, 80))
	with journaled_server(journal, listen="127.0.0.1:0 proxy-protocol=v2") as srv:
		with connect(srv.port) as s:
			s.sendall(hdr + b"via")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = harness.local_port(s)
		e = journal.wait_for(message_starts("192.0.2.44:4444 via 127.0.0.1:%d: received" % port))
		assert field(e, "REMOTE_ADDR") == "192.0.2.44"
		assert field(e, "REMOTE_PORT") == "4444"
		assert field(e, "BALANCER_ADDR") == "127.0.0.1"
		assert field(e, "BALANCER_PORT") == str(port)
	journal.close()


def test_client_data_cannot_create_fields():
	journal = Journal()
	with journaled_server(journal) as srv:
		with connect(srv.port) as s:
			s.sendall(b"a\nINJECTED=1\nPRIORITY=0")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = harness.local_port(s)
		e = journal.wait_for(message_starts("127.0.0.1:%d: received" % port))
		assert field(e, "TCPACK_DATA") == "a\\x0aINJECTED=1\\x0aPRIORITY=0"
		assert field(e, "PRIORITY") == "6"
		assert field(e, "BYTES") == "23"
	journal.close()
	keys = {k for entry in journal.entries for k, _ in entry}
	assert "INJECTED" not in keys, keys
	# libsystemd adds SYSLOG_IDENTIFIER; nothing else may appear.
	assert keys <= {"MESSAGE", "PRIORITY", "REMOTE_ADDR", "REMOTE_PORT", "BYTES", "TCPACK_MODE",
			"TCPACK_DATA", "SYSLOG_IDENTIFIER"}, keys
	for entry in journal.entries:
		names = [k for k, _ in entry]
		assert len(names) == len(set(names)), "a field repeats: %r" % entry


def test_large_data_arrives_whole():
	journal = Journal()
	data = b"\x00" * 20000		# escapes to 80000 bytes of TCPACK_DATA
	with journaled_server(journal, ["--max-message", "64K", "--log-data-max", "64K",
					"--buffer-size", "64K"]) as srv:
		with connect(srv.port) as s:
			s.sendall(data)
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = harness.local_port(s)
		e = journal.wait_for(message_starts("127.0.0.1:%d: received" % port))
	journal.close()
	n = int(field(e, "BYTES"))
	assert 0 < n <= len(data)	# the first chunk is the message
	assert field(e, "TCPACK_DATA") == "\\x00" * n


def test_ipv6_remote_addr_is_the_bare_address():
	if not harness.ipv6_available():
		harness.skip("::1 is not available on this machine")
	journal = Journal()
	with journaled_server(journal, listen="[::1]:0") as srv:
		with connect(srv.port, host="::1") as s:
			s.sendall(b"six")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = harness.local_port(s)
		e = journal.wait_for(message_starts("[::1]:%d: received" % port))
		assert field(e, "REMOTE_ADDR") == "::1"
		assert field(e, "REMOTE_PORT") == str(port)
	journal.close()


def test_server_events_carry_priority_and_no_client_fields():
	journal = Journal()
	srv = journaled_server(journal)
	assert srv.stop() == 0
	stopping = journal.wait_for(message_starts("stopping: draining"))
	stopped = journal.wait_for(message_starts("stopped"))
	journal.close()
	assert field(stopping, "PRIORITY") == "5"
	assert field(stopped, "PRIORITY") == "6"
	for e in (stopping, stopped):
		assert not {"REMOTE_ADDR", "REMOTE_PORT", "TCPACK_DATA"} & {k for k, _ in e}, e


def test_journal_stream_of_another_file_means_stderr():
	journal = Journal()
	srv = Server(env={"JOURNAL_STREAM": "1:1"}, name="notjournal").start()
	with connect(srv.port) as s:
		s.sendall(b"plain")
		assert recv_until_eof(s) == DEFAULT_REPLY
		port = harness.local_port(s)
	srv.wait_log("127.0.0.1:%d: received 5 bytes: plain" % port)
	assert srv.stop() == 0
	journal.collect(0.2)
	journal.close()
	assert journal.entries == [], journal.entries


def run_in_mount_namespace():
	"""Re-run this module under unshare -m; exits with its status (77 when it cannot)."""
	if os.geteuid() != 0:
		print("skip: needs root for a private mount namespace (unshare -m)")
		sys.exit(77)
	unshare = shutil.which("unshare")
	if not unshare:
		print("skip: unshare (util-linux) not found")
		sys.exit(77)
	probe = subprocess.run([unshare, "-m", "--propagation", "private", "true"], capture_output=True, timeout=10)
	if probe.returncode != 0:
		print("skip: unshare -m is refused here: %s" % probe.stderr.decode().strip())
		sys.exit(77)
	os.environ["TCPACK_TEST_OUTER_MNTNS"] = mount_ns()
	sys.stdout.flush()
	os.execv(unshare, [unshare, "-m", "--propagation", "private", "--", sys.executable,
			   os.path.abspath(__file__)] + sys.argv[1:] + [IN_NS])


if __name__ == "__main__":
	if IN_NS not in sys.argv and len(sys.argv) >= 2:
		run_in_mount_namespace()
	harness.main(globals())
