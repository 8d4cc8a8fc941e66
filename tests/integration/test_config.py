# SPDX-License-Identifier: MIT
"""Config file and command line: errors name their source, command line wins."""
import re
import subprocess

import harness
from harness import DEFAULT_REPLY, Server, connect, exchange, recv_until_eof

KEYS = ["mode", "reply", "error-reply", "max-message", "listen", "log-level", "log-data-max",
	"log-rate-limit", "max-connections", "idle-timeout", "shutdown-timeout", "max-pending",
	"buffer-count", "buffer-size"]


def tcpack(*args, timeout=5):
	"""Run tcpack to completion; a run that does not end is a failure (it started serving)."""
	argv = [harness.binary()] + list(args)
	try:
		return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
				      env=harness.clean_env())
	except subprocess.TimeoutExpired:
		raise AssertionError("%r did not exit: it accepted the configuration" % argv) from None


def one_line(r):
	err = r.stderr.decode()
	assert err.endswith("\n") and err.count("\n") == 1, "want one line on stderr, got %r" % err
	return err[:-1]


BAD_VALUES = [	# key, value as written in the file, what the message must say
	("max-message", "abc", "invalid number 'abc'"),
	("max-message", "0", "out of range"),
	("mode", "foo", "unknown mode 'foo'"),
	("reply", '"\\q"', "invalid escape"),
	("reply", "\\x4", "invalid escape"),
	("reply", "A" * 5000, "text too long"),
	("frobnicate", "1", "unknown key"),
	("listen", "bad", "invalid address 'bad'"),
	("listen", "127.0.0.1:99999", "invalid address"),
	("listen", "[::1]80", "invalid address"),
	("log-level", "loud", "unknown log level 'loud'"),
	("idle-timeout", "5parsecs", "invalid duration '5parsecs'"),
	("max-pending", "100", "out of range"),
	("buffer-count", "1000", "not a power of two"),
	("max-connections", "0", "out of range"),
]


def test_bad_config_file_values_name_file_line_and_key():
	for key, value, why in BAD_VALUES:
		path = harness.write_file("bad.conf", "# a comment\n\nmode = line\n  %s = %s\n" % (key, value))
		r = tcpack("--config", path, "--listen", "127.0.0.1:0")
		msg = one_line(r)
		assert r.returncode == 2, "%s = %s: exit %d (%s)" % (key, value, r.returncode, msg)
		prefix = "tcpack: %s:4: %s: " % (path, key)
		assert msg.startswith(prefix), "%s = %s: %r does not start with %r" % (key, value, msg, prefix)
		assert why in msg, "%s = %s: %r does not say %r" % (key, value, msg, why)
		assert r.stdout == b""


def test_config_line_without_equals_is_an_error():
	path = harness.write_file("noeq.conf", "mode = echo\njust some words\n")
	r = tcpack("--config", path, "--listen", "127.0.0.1:0")
	assert r.returncode == 2
	assert one_line(r) == "tcpack: %s:2: expected 'key = value'" % path


def test_missing_config_file_is_an_error():
	path = harness.tmp_path("does-not-exist.conf")
	r = tcpack("--config", path)
	assert r.returncode == 2
	assert one_line(r) == "tcpack: %s: cannot open: No such file or directory" % path


BAD_OPTIONS = [	# argv, the message
	(["--max-message", "abc"], "tcpack: --max-message: invalid number 'abc' (e.g. 1024, 64K, 1M)"),
	(["--mode", "foo"], "tcpack: --mode: unknown mode 'foo' (expected oneshot, line, echo or discard)"),
	(["-m", "foo"], "tcpack: --mode: unknown mode 'foo' (expected oneshot, line, echo or discard)"),
	(["--listen", "nowhere"], "tcpack: --listen: invalid address 'nowhere' (expected A.B.C.D:PORT or [IPV6]:PORT)"),
	(["--idle-timeout=1parsec"], "tcpack: --idle-timeout: invalid duration '1parsec' (e.g. 30, 500ms, 10s, 2min)"),
	(["--buffer-count", "3"], "tcpack: --buffer-count: '3' out of range (16 to 32768)"),
	(["--reply", "\\q"], None),
	(["--frobnicate", "1"], "tcpack: unknown option '--frobnicate' (see --help)"),
	(["-x"], "tcpack: unknown option '-x' (see --help)"),
	(["--check-config=yes"], "tcpack: option '--check-config=yes' takes no value (see --help)"),
	(["stray"], "tcpack: unexpected argument 'stray' (see --help)"),
	(["--reply"], "tcpack: option '--reply' needs a value"),
]


def test_bad_command_line_values_name_the_option():
	for argv, want in BAD_OPTIONS:
		r = tcpack("--config", harness.empty_config(), "--listen", "127.0.0.1:0", *argv)
		msg = one_line(r)
		assert r.returncode == 2, "%r: exit %d (%s)" % (argv, r.returncode, msg)
		if want is None:
			assert msg.startswith("tcpack: --%s: " % argv[0].lstrip("-")), (argv, msg)
		else:
			assert msg == want, "%r: got %r, want %r" % (argv, msg, want)


def test_command_line_error_beats_a_good_file():
	path = harness.write_file("good.conf", "mode = line\n")
	r = tcpack("--config", path, "--max-pending", "1")
	assert r.returncode == 2
	assert one_line(r).startswith("tcpack: --max-pending: '1' out of range")


def test_check_config_accepts_a_good_file():
	path = harness.write_file("good.conf",
		"# every key once\n"
		"mode = line\n"
		"reply = \"ACK\\r\\n\"\n"
		"error-reply = TOO LONG\\n\n"
		"max-message = 4K\n"
		"listen = 127.0.0.1:0\n"
		"listen = [::1]:0\n"
		"log-level = debug\n"
		"log-data-max = 64\n"
		"log-rate-limit = 0\n"
		"max-connections = 100\n"
		"idle-timeout = 2min\n"
		"shutdown-timeout = 500ms\n"
		"max-pending = 1M\n"
		"buffer-count = 64\n"
		"buffer-size = 8K\n")
	r = tcpack("--config", path, "--check-config")
	assert r.returncode == 0, r.stderr
	assert r.stdout.decode() == "configuration OK: %s\n" % path
	assert r.stderr == b""


def test_check_config_rejects_a_bad_file():
	path = harness.write_file("bad.conf", "mode = sideways\n")
	r = tcpack("--config", path, "--check-config")
	assert r.returncode == 2
	assert one_line(r).startswith("tcpack: %s:1: mode: unknown mode 'sideways'" % path)


def test_file_settings_apply():
	# CRLF line endings, comments, blank lines and a quoted value with escapes.
	path = harness.write_file("line.conf",
		"# served from the file\r\n\r\n  mode=line  \r\nreply = \"FILE\\n\"\r\n")
	with Server(config=path) as srv, connect(srv.port) as s:
		assert exchange(s, b"1\n2\n") == b"FILE\nFILE\n"
		assert "serving in line mode" in srv.log()


def test_command_line_beats_config_file():
	path = harness.write_file("reply.conf", "reply = X\n")
	with Server(config=path) as srv, connect(srv.port) as s:
		s.sendall(b"?")
		assert recv_until_eof(s) == b"X"
	with Server(["--reply", "Y"], config=path) as srv, connect(srv.port) as s:
		s.sendall(b"?")
		assert recv_until_eof(s) == b"Y"


def test_command_line_listen_replaces_the_file_listen():
	taken = harness.free_port()
	path = harness.write_file("listen.conf", "listen = 127.0.0.1:%d\n" % taken)
	with Server(config=path, listen="127.0.0.1:0") as srv:
		assert len(srv.ports) == 1 and srv.ports[0] != taken, srv.ports
		with connect(srv.port) as s:
			s.sendall(b"?")
			assert recv_until_eof(s) == DEFAULT_REPLY


def test_file_listen_is_used_without_command_line_listen():
	port = harness.free_port()
	path = harness.write_file("listen.conf", "listen = 127.0.0.1:%d\n" % port)
	with Server(config=path, listen=None) as srv:
		assert srv.ports == [port], srv.ports


def test_help_lists_every_key():
	r = tcpack("--help")
	assert r.returncode == 0
	out = r.stdout.decode()
	for key in KEYS + ["config", "check-config", "help", "version"]:
		assert re.search(r"--%s\b" % re.escape(key), out), "--help does not list --%s" % key
	assert r.stderr == b""


def test_version():
	r = tcpack("--version")
	assert r.returncode == 0
	assert re.fullmatch(r"tcpack \d+\.\d+\.\d+\n", r.stdout.decode()), r.stdout
	assert tcpack("-V").stdout == r.stdout


if __name__ == "__main__":
	harness.main(globals())
