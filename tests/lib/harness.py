# SPDX-License-Identifier: MIT
"""
The test harness: runs the real tcpack binary on loopback.

One ``Server`` for every suite that starts tcpack (integration, abuse,
fault, bench-smoke) and for bench/run. Each test module ends with
``harness.main(globals())``; meson runs it as ``python3 test_NAME.py
PATH/TO/tcpack`` with PYTHONPATH naming tests/lib (by hand:
``PYTHONPATH=tests/lib python3 tests/integration/test_line.py
build/tcpack``). The runner calls every ``test_*``
function in definition order, each under a wall-clock budget (SIGALRM
raises TestTimeout in the test, so a stuck recv() fails the test instead of
hanging the suite), prints ``ok NAME`` / ``FAIL NAME`` with the traceback,
then ``N passed, N failed`` and exits 0, 1, or 77 when everything skipped.

Everything here talks to 127.0.0.1 or ::1 only, and every wait has a
deadline.
"""
import atexit
import itertools
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

DEFAULT_REPLY = "服务器已收到数据".encode()
DEFAULT_ERROR_REPLY = b"ERR line too long\r\n"

# Environment a service manager could have left to us: never inherited.
_SCRUBBED_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                 "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM")

_binary = None
_tmpdir = None		# main()'s, or made on first use without the runner (_scratch())
_servers = []		# started in the current test, killed after it
_server_ids = itertools.count()


class TestTimeout(Exception):
	"""The test overran its wall-clock budget."""


class Terminated(BaseException):
	"""The runner itself got SIGTERM (meson's timeout): clean up and stop."""


class Skip(Exception):
	"""Raised by a test that cannot run here; the message says why."""


class UringRefused(Skip):
	"""tcpack says io_uring is refused here: nothing else in the module can run."""


class SkipModule(Exception):
	"""Raised by setup_module(): nothing in the module can run here."""


def skip(reason):
	raise Skip(reason)


def skip_module(reason):
	raise SkipModule(reason)


# TCPACK_TEST_ENGINE=epoll runs a module against the epoll engine (meson
# registers each module once per engine); default: whatever auto picks.
ENGINE = os.environ.get("TCPACK_TEST_ENGINE", "")
# TCPACK_TEST_RING=nobundle runs a module with the io_uring engine's receive
# bundles off (meson registers the receive-heavy modules once more so).


def uring_only(fn):
	"""The test is about the io_uring engine itself (ring sizes, task-run
	modes): it belongs to the io_uring runs, not the epoll ones."""
	fn.uring_only = True
	return fn


def budget(seconds):
	"""Decorator: this test's wall-clock budget (default 30 s)."""
	def mark(fn):
		fn.budget = seconds
		return fn
	return mark


def binary():
	return _binary


def _scratch():
	"""
	The scratch directory. A program that uses Server without the runner
	(bench/run) gets one on first use; it goes, with every server still
	running, when the program exits.
	"""
	global _tmpdir
	if _tmpdir is None:
		_tmpdir = tempfile.mkdtemp(prefix="tcpack-")
		atexit.register(shutil.rmtree, _tmpdir, True)
		atexit.register(_kill_all)	# atexit runs last in first: before the rmtree
	return _tmpdir


def tmpdir():
	return _scratch()


def tmp_path(name):
	return os.path.join(_scratch(), name)


def write_file(name, text):
	"""Write @text into the scratch directory; returns the path."""
	path = tmp_path(name)
	with open(path, "w", encoding="utf-8") as f:
		f.write(text)
	return path


def empty_config():
	"""An empty config file: the machine's /etc/tcpack/tcpack.conf never applies."""
	path = tmp_path("empty.conf")
	if not os.path.exists(path):
		write_file("empty.conf", "")
	return path


def wait_until(pred, timeout, what, interval=0.02):
	"""Poll @pred until it returns something truthy; AssertionError after @timeout s."""
	deadline = time.monotonic() + timeout
	while True:
		r = pred()
		if r:
			return r
		if time.monotonic() >= deadline:
			raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
		time.sleep(interval)


def clean_env(extra=None):
	env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
	if extra:
		for k, v in extra.items():
			if v is None:
				env.pop(k, None)
			elif k == "TCPACK_TEST_RING" and env.get(k):
				# Ring hooks add up: a test's own hook keeps the one
				# the whole module runs under (meson's nobundle runs).
				env[k] = "%s,%s" % (env[k], v)
			else:
				env[k] = str(v)
	return env


def ipv6_available():
	try:
		with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
			s.bind(("::1", 0))
		return True
	except OSError:
		return False


def free_port(family=socket.AF_INET):
	"""A port that was free a moment ago (bind port 0, close)."""
	host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
	with socket.socket(family, socket.SOCK_STREAM) as s:
		s.bind((host, 0))
		return s.getsockname()[1]


# How tcpack (and tcpack-bench) say io_uring, or its provided buffer rings,
# is refused here.
URING_REFUSED = re.compile(r"io_uring is not available|cannot set up io_uring|cannot register provided buffers")

_LISTENING = re.compile(r"^listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)", re.M)


class Server:
	"""
	One tcpack process. ``Server(args)`` builds the command line
	``tcpack --config EMPTY --listen 127.0.0.1:0 [--engine E] ARGS``
	(``listen=None`` leaves --listen out, ``config=PATH`` replaces the
	empty file); ``prefix`` goes before the binary (a wrapper such as
	systemd-socket-activate). ``binary`` defaults to the runner's,
	``engine`` to $TCPACK_TEST_ENGINE. stderr goes to a file in the
	scratch directory. ``start()`` waits for the ``serving in`` line
	unless ``wait=False``.
	"""

	def __init__(self, args=(), *, listen="127.0.0.1:0", config=None, env=None, prefix=(),
		     journal_stream=False, name=None, pass_fds=(), binary=None, engine=None):
		self.binary = binary or _binary
		self.engine = ENGINE if engine is None else engine
		self.args = list(args)
		self.listen = listen
		self.config = config if config is not None else empty_config()
		self.extra_env = dict(env or {})
		self.prefix = list(prefix)
		self.journal_stream = journal_stream
		self.pass_fds = tuple(pass_fds)
		self.proc = None
		self.port = None
		self.ports = []
		self.returncode = None
		self.stderr_path = tmp_path("%s-%d.stderr" % (name or "server", next(_server_ids)))
		with open(self.stderr_path, "wb"):
			pass

	def argv(self):
		argv = self.prefix + [self.binary, "--config", self.config]
		if self.listen is not None:
			listens = [self.listen] if isinstance(self.listen, str) else list(self.listen)
			for l in listens:
				argv += ["--listen", l]
		if self.engine:
			argv += ["--engine", self.engine]
		return argv + self.args

	def start(self, wait=True, timeout=10.0):
		env = dict(self.extra_env)
		if self.journal_stream:
			st = os.stat(self.stderr_path)
			env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
		self._stderr = open(self.stderr_path, "ab", buffering=0)
		self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
					     stdout=subprocess.DEVNULL, stderr=self._stderr,
					     env=clean_env(env), pass_fds=self.pass_fds)
		_servers.append(self)
		if wait:
			self.wait_serving(timeout)
		return self

	def wait_serving(self, timeout=10.0):
		"""Wait for ``serving in`` (all listening lines come before it); parse the ports."""
		def ready():
			if self.proc.poll() is not None:
				refused = [l for l in self.log_lines() if URING_REFUSED.search(l)]
				if self.proc.returncode == 1 and refused:
					raise UringRefused(refused[0])	# the one legitimate skip: no io_uring here
				raise AssertionError("tcpack exited with %d before serving:\n%s"
						     % (self.proc.returncode, self.log()))
			return "serving in" in self.log()
		try:
			wait_until(ready, timeout, "tcpack to start serving")
		except AssertionError as e:
			if not str(e).startswith("timed out"):
				raise
			raise AssertionError("%s; log so far:\n%s" % (e, self.log())) from None
		self.ports = [int(m.group(2)) for m in _LISTENING.finditer(self.log())]
		assert self.ports, "no 'listening on' line:\n" + self.log()
		self.port = self.ports[0]
		return self

	def __enter__(self):
		if self.proc is None:
			self.start()
		return self

	def __exit__(self, et, ev, tb):
		if et is None:
			rc = self.stop()
			assert rc == 0, "tcpack exited with %d on SIGTERM; log:\n%s" % (rc, self.log_tail())
		else:
			self.kill()
		return False

	@property
	def pid(self):
		return self.proc.pid

	def log_bytes(self):
		with open(self.stderr_path, "rb") as f:
			return f.read()

	def log(self):
		return self.log_bytes().decode("utf-8", "replace")

	def log_lines(self):
		"""Lines as the file has them: split at '\\n' only, never at other separators."""
		text = self.log()
		return (text[:-1] if text.endswith("\n") else text).split("\n") if text else []

	def log_tail(self, n=40):
		return "\n".join(self.log_lines()[-n:])

	def wait_log(self, pattern, timeout=5.0):
		"""Wait for a log line containing @pattern (str) or matching it (compiled regex)."""
		def find():
			for line in self.log_lines():
				if isinstance(pattern, str):
					if pattern in line:
						return line
				elif pattern.search(line):
					return line
			return None
		try:
			return wait_until(find, timeout, "log line %r" % (pattern,))
		except AssertionError as e:
			raise AssertionError("%s; log tail:\n%s" % (e, self.log_tail())) from None

	def alive(self):
		return self.proc is not None and self.proc.poll() is None

	def send_signal(self, sig):
		self.proc.send_signal(sig)

	def wait_exit(self, timeout=10.0):
		"""Exit status, or AssertionError (and SIGKILL) if it does not exit in time."""
		try:
			self.returncode = self.proc.wait(timeout)
		except subprocess.TimeoutExpired:
			self.kill()
			raise AssertionError("tcpack did not exit within %.1fs; log tail:\n%s"
					     % (timeout, self.log_tail())) from None
		finally:
			if self.proc.poll() is not None:
				self._stderr.close()
		return self.returncode

	def stop(self, sig=signal.SIGTERM, timeout=10.0):
		"""Send @sig and return the exit status."""
		if self.proc.poll() is None:
			self.proc.send_signal(sig)
		return self.wait_exit(timeout)

	def kill(self):
		if self.proc is not None and self.proc.poll() is None:
			self.proc.kill()
			try:
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				pass
		if self.proc is not None and self.proc.poll() is not None:
			self._stderr.close()

	def rss_kib(self):
		"""VmRSS of the server, in KiB."""
		with open("/proc/%d/status" % self.pid) as f:
			for line in f:
				if line.startswith("VmRSS:"):
					return int(line.split()[1])
		raise AssertionError("no VmRSS for pid %d" % self.pid)


# ---- clients --------------------------------------------------------------

def connect(port, host="127.0.0.1", timeout=5.0, nodelay=False):
	family = socket.AF_INET6 if ":" in host else socket.AF_INET
	s = socket.socket(family, socket.SOCK_STREAM)
	s.settimeout(timeout)
	try:
		s.connect((host, port))
	except BaseException:
		s.close()
		raise
	if nodelay:
		s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	return s


def local_port(sock):
	return sock.getsockname()[1]


def recv_exact(sock, n, timeout=5.0):
	"""Exactly @n bytes; AssertionError on EOF or timeout before that."""
	deadline = time.monotonic() + timeout
	buf = bytearray()
	while len(buf) < n:
		left = deadline - time.monotonic()
		if left <= 0:
			raise AssertionError("got %d of %d bytes within %.1fs: %r"
					     % (len(buf), n, timeout, bytes(buf[:200])))
		sock.settimeout(left)
		try:
			chunk = sock.recv(n - len(buf))
		except socket.timeout:
			continue
		if not chunk:
			raise AssertionError("EOF after %d of %d bytes: %r" % (len(buf), n, bytes(buf[:200])))
		buf += chunk
	return bytes(buf)


def recv_until_eof(sock, timeout=5.0, limit=64 << 20):
	"""Everything until the peer's EOF; AssertionError on timeout or more than @limit bytes."""
	deadline = time.monotonic() + timeout
	buf = bytearray()
	while True:
		left = deadline - time.monotonic()
		if left <= 0:
			raise AssertionError("no EOF within %.1fs (got %d bytes: %r...)"
					     % (timeout, len(buf), bytes(buf[:100])))
		sock.settimeout(left)
		try:
			chunk = sock.recv(1 << 16)
		except socket.timeout:
			continue
		if not chunk:
			return bytes(buf)
		buf += chunk
		if len(buf) > limit:
			raise AssertionError("more than %d bytes before EOF" % limit)


def expect_silence(sock, seconds):
	"""Assert nothing arrives (and the connection stays open) for @seconds."""
	sock.settimeout(seconds)
	try:
		data = sock.recv(4096)
	except socket.timeout:
		return
	raise AssertionError("expected silence, got %r" % (data[:200],))


def exchange(sock, data, *, shut=True, timeout=10.0, limit=64 << 20):
	"""
	Send @data while reading, so neither side can block the other. With
	@shut, half-close after the last byte and read until EOF; return
	everything received.
	"""
	deadline = time.monotonic() + timeout
	view = memoryview(data)
	sent = 0
	got = bytearray()
	shut_done = False
	sock.setblocking(False)
	p = select.poll()
	try:
		while True:
			if sent == len(view) and shut and not shut_done:
				sock.shutdown(socket.SHUT_WR)
				shut_done = True
			if sent == len(view) and not shut:
				return bytes(got)
			left = deadline - time.monotonic()
			if left <= 0:
				raise AssertionError("exchange not done within %.1fs: sent %d of %d, received %d"
						     % (timeout, sent, len(view), len(got)))
			p.register(sock, select.POLLIN | (select.POLLOUT if sent < len(view) else 0))
			events = p.poll(left * 1000)
			if not events:
				continue
			ev = events[0][1]
			if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
				try:
					chunk = sock.recv(1 << 16)
				except BlockingIOError:
					chunk = None
				if chunk == b"":
					if sent < len(view):
						raise AssertionError("EOF after sending %d of %d bytes (received %d)"
								     % (sent, len(view), len(got)))
					return bytes(got)
				if chunk:
					got += chunk
					if len(got) > limit:
						raise AssertionError("more than %d bytes received" % limit)
			if ev & select.POLLOUT and sent < len(view):
				try:
					sent += sock.send(view[sent:sent + (1 << 18)])
				except BlockingIOError:
					pass
	finally:
		sock.setblocking(True)


def send_without_reading(sock, total, *, chunk=1 << 20, timeout=5.0, stall=1.0, data=None):
	"""
	Push up to @total bytes (or @data) without ever reading, through a
	non-blocking socket. Stops when done, after @timeout s, or when the
	socket accepted nothing for @stall s. Returns bytes sent.
	"""
	payload = memoryview(data if data is not None else b"z" * chunk)
	total = len(payload) if data is not None else total
	sent = 0
	deadline = time.monotonic() + timeout
	last_progress = time.monotonic()
	sock.setblocking(False)
	try:
		while sent < total:
			now = time.monotonic()
			if now >= deadline or now - last_progress >= stall:
				break
			_, w, _ = select.select([], [sock], [], min(0.1, deadline - now))
			if not w:
				continue
			if data is not None:
				piece = payload[sent:sent + chunk]
			else:
				piece = payload[:min(chunk, total - sent)]
			try:
				n = sock.send(piece)
			except BlockingIOError:
				continue
			sent += n
			if n:
				last_progress = time.monotonic()
	finally:
		sock.setblocking(True)
	return sent


def run_concurrently(fn, count, timeout=30.0):
	"""
	Run fn(i, barrier) in @count threads at once; @barrier (for @count
	parties) lets every client connect before any sends. Returns the
	results in order; re-raises the first failure with its index.
	"""
	barrier = threading.Barrier(count)
	results = [None] * count
	errors = []

	def worker(i):
		try:
			results[i] = fn(i, barrier)
		except BaseException as e:	# noqa: B902 (reported below)
			errors.append((i, e, traceback.format_exc()))
			barrier.abort()

	threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
	for t in threads:
		t.start()
	deadline = time.monotonic() + timeout
	for t in threads:
		t.join(max(0.0, deadline - time.monotonic()))
	stuck = sum(t.is_alive() for t in threads)
	if errors:
		errors.sort(key=lambda e: isinstance(e[1], threading.BrokenBarrierError))
		i, e, tb = errors[0]
		raise AssertionError("client %d of %d failed (%d failures): %s\n%s"
				     % (i, count, len(errors), e, tb))
	if stuck:
		raise AssertionError("%d of %d clients still running after %.1fs" % (stuck, count, timeout))
	return results


# ---- service manager side ---------------------------------------------------

class NotifySocket:
	"""An AF_UNIX datagram socket to hand a server as $NOTIFY_SOCKET."""

	def __init__(self, name="notify"):
		self.path = tmp_path("%s-%d.sock" % (name, os.getpid()))
		if os.path.exists(self.path):
			os.unlink(self.path)
		self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
		self.sock.bind(self.path)
		self.messages = []	# every assignment received, in order, as "KEY=value"

	def env(self):
		return {"NOTIFY_SOCKET": self.path}

	def _read(self, timeout):
		r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
		if not r:
			return False
		data = self.sock.recv(65536)
		self.messages.extend(l for l in data.decode("utf-8", "replace").split("\n") if l)
		return True

	def collect(self, seconds):
		"""Read everything that arrives within @seconds."""
		deadline = time.monotonic() + seconds
		while time.monotonic() < deadline:
			self._read(deadline - time.monotonic())
		return self.messages

	def wait_for(self, pred, timeout=5.0, what=None):
		"""First message (new or already seen) satisfying @pred (a str means equality)."""
		test = (lambda m: m == pred) if isinstance(pred, str) else pred
		deadline = time.monotonic() + timeout
		seen = 0
		while True:
			for m in self.messages[seen:]:
				if test(m):
					return m
			seen = len(self.messages)
			left = deadline - time.monotonic()
			if left <= 0:
				raise AssertionError("no notify message %s within %.1fs; got %r"
						     % (what or repr(pred), timeout, self.messages[-20:]))
			self._read(min(left, 0.2))

	def close(self):
		self.sock.close()
		if os.path.exists(self.path):
			os.unlink(self.path)


def _proc_net_tcp():
	"""The fields of every line of /proc/net/tcp and /proc/net/tcp6."""
	for path in ("/proc/net/tcp", "/proc/net/tcp6"):
		try:
			with open(path) as f:
				lines = f.readlines()[1:]
		except OSError:
			continue
		for line in lines:
			yield line.split()


def tcp_sockets(port):
	"""
	Every TCP socket of this machine with local or remote port @port, from
	/proc/net/tcp{,6}: dicts with local_port, remote_port, state (hex),
	tx_queue and rx_queue (bytes).
	"""
	out = []
	for fields in _proc_net_tcp():
		lport = int(fields[1].rsplit(":", 1)[1], 16)
		rport = int(fields[2].rsplit(":", 1)[1], 16)
		if port not in (lport, rport):
			continue
		txq, rxq = (int(x, 16) for x in fields[4].split(":"))
		out.append({"local_port": lport, "remote_port": rport, "state": fields[3],
			    "tx_queue": txq, "rx_queue": rxq})
	return out


TCP_ESTABLISHED = "01"
TCP_LISTEN = "0A"


def listening_ports(pid):
	"""
	The TCP ports process @pid listens on, from the kernel rather than its
	log: the sockets among its fds that /proc/net/tcp{,6} lists in LISTEN.
	For a server that logs too little to say (tcpack below info level,
	iperf3). Empty while it has not listened yet.
	"""
	inodes = set()
	try:
		fds = os.listdir("/proc/%d/fd" % pid)
	except OSError:
		return []
	for fd in fds:
		try:
			link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
		except OSError:
			continue
		if link.startswith("socket:["):
			inodes.add(link[8:-1])
	return [int(fields[1].rsplit(":", 1)[1], 16) for fields in _proc_net_tcp()
		if fields[3] == TCP_LISTEN and fields[9] in inodes]


# ---- runner ---------------------------------------------------------------

def _on_alarm(signum, frame):
	raise TestTimeout("test exceeded its wall-clock budget")


def _on_term(signum, frame):
	raise Terminated()


def _kill_all():
	for s in _servers:
		s.kill()


def _cleanup_servers(failed):
	for s in _servers:
		if failed and s.proc is not None:
			print("  --- stderr of %s (pid %d, tail) ---" % (" ".join(s.argv()[:1] + s.args), s.pid))
			for line in s.log_lines()[-25:]:
				print("  | " + line)
		s.kill()
	del _servers[:]


def main(ns):
	"""Run every test_* function of the module namespace @ns; exit with the verdict."""
	global _binary, _tmpdir

	if len(sys.argv) < 2:
		print("usage: %s PATH/TO/tcpack" % sys.argv[0], file=sys.stderr)
		sys.exit(2)
	_binary = os.path.abspath(sys.argv[1])
	if not os.access(_binary, os.X_OK):
		print("not an executable: %s" % _binary, file=sys.stderr)
		sys.exit(2)
	sys.stdout.reconfigure(line_buffering=True)
	_tmpdir = tempfile.mkdtemp(prefix="tcpack-it-")
	signal.signal(signal.SIGALRM, _on_alarm)
	signal.signal(signal.SIGTERM, _on_term)
	atexit.register(_kill_all)

	tests = [(n, f) for n, f in ns.items() if n.startswith("test_") and callable(f)]
	only = os.environ.get("TCPACK_TEST_ONLY")	# e.g. TCPACK_TEST_ONLY=half_close
	if only:
		tests = [(n, f) for n, f in tests if only in n]
	if ENGINE == "epoll":
		tests = [(n, f) for n, f in tests if not getattr(f, "uring_only", False)]
	passed = failed = skipped = 0
	refused = None
	started = time.monotonic()
	try:
		if "setup_module" in ns:
			ns["setup_module"]()
	except SkipModule as e:
		print("skip: %s" % e)
		shutil.rmtree(_tmpdir, ignore_errors=True)
		sys.exit(77)

	for name, fn in tests:
		t0 = time.monotonic()
		ok = False
		signal.setitimer(signal.ITIMER_REAL, getattr(fn, "budget", 30))
		try:
			fn()
			ok = True
		except Skip as e:
			signal.setitimer(signal.ITIMER_REAL, 0)
			print("skip %s: %s" % (name, e))
			skipped += 1
			_cleanup_servers(False)
			if isinstance(e, UringRefused):
				refused = str(e)
				print("skip: the rest of the module (io_uring is refused here)")
				break
			continue
		except Terminated:
			signal.setitimer(signal.ITIMER_REAL, 0)
			print("FAIL %s: the runner was terminated" % name)
			_cleanup_servers(True)
			sys.exit(1)
		except BaseException:	# noqa: B902 (KeyboardInterrupt too: report, go on)
			signal.setitimer(signal.ITIMER_REAL, 0)
			print("FAIL %s (%.2fs)" % (name, time.monotonic() - t0))
			traceback.print_exc(file=sys.stdout)
		finally:
			signal.setitimer(signal.ITIMER_REAL, 0)
		_cleanup_servers(not ok)
		if ok:
			passed += 1
			print("ok %s (%.2fs)" % (name, time.monotonic() - t0))
		else:
			failed += 1

	if "teardown_module" in ns:
		ns["teardown_module"]()
	if failed:
		print("scratch files kept in %s" % _tmpdir)
	else:
		shutil.rmtree(_tmpdir, ignore_errors=True)
	summary = "%d passed, %d failed" % (passed, failed)
	if skipped:
		summary += ", %d skipped" % skipped
	print("%s (%.1fs)" % (summary, time.monotonic() - started))
	if failed:
		sys.exit(1)
	sys.exit(77 if refused or (skipped and not passed) else 0)
