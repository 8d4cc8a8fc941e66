#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One tcpack server session under valgrind, driven from 127.0.0.1 only.

usage: valgrind-session.py MODE LOG -- VALGRIND... TCPACK [ARGS...]

Starts the command (valgrind wrapping tcpack on 127.0.0.1:0), reads the port
from its "listening on" line, runs a bounded set of client exchanges for MODE
(oneshot or line), checks every reply, sends SIGTERM and waits for a clean
exit. valgrind's own output goes to LOG (--log-file), tcpack's to stderr.
Exit 0 when every reply was right and tcpack exited 0; valgrind's verdict
reaches the exit status through --error-exitcode.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

TIMEOUT = 20.0			# one exchange, under valgrind's slowdown
DEFAULT_REPLY = '服务器已收到数据'.encode()


def recv_until_eof(s):
    data = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def recv_exactly(s, n):
    data = b''
    while len(data) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def connect(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def oneshot(port):
    """300 exchanges: text, binary, empty, over max-message, a reset."""
    n = 0
    for i in range(300):
        with connect(port) as s:
            if i % 50 == 7:		# closes without sending: logged, no reply
                s.shutdown(socket.SHUT_WR)
                assert recv_until_eof(s) == b'', 'reply to an empty connection'
                continue
            if i % 50 == 9:		# a reset mid-exchange
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
                s.sendall(b'gone')
                continue
            msg = [f'hello {i}'.encode(), bytes(range(256)), b'x' * 3000,
                   '你好，服务器'.encode()][i % 4]
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            got = recv_until_eof(s)
            assert got == DEFAULT_REPLY, f'exchange {i}: {got!r}'
            n += 1
    return n


def line(port):
    """20 keep-alive clients x 15 pipelined lines, then the odd cases."""
    n = 0
    for c in range(20):
        with connect(port) as s:
            lines = [f'client {c} line {k}'.encode() + (b'\r\n' if k % 2 else b'\n')
                     for k in range(15)]
            blob = b''.join(lines)
            for k in range(0, len(blob), 7):	# a line split over many segments
                s.sendall(blob[k:k + 7])
            got = recv_exactly(s, 3 * len(lines))
            assert got == b'OK\n' * len(lines), f'client {c}: {got!r}'
            n += len(lines)
            if c % 5 == 0:			# an unfinished line at close: logged, no reply
                s.sendall(b'unfinished')
            s.shutdown(socket.SHUT_WR)
            assert recv_until_eof(s) == b'', f'client {c}: reply after the last line'
    with connect(port) as s:		# too long: earlier replies, then error-reply, close
        s.sendall(b'fine\n' + b'y' * 2000 + b'\nnever\n')
        got = recv_until_eof(s)
        assert got == b'OK\nERR\n', f'too long line: {got!r}'
        n += 2
    with connect(port) as s:		# binary junk with line endings in it
        junk = bytes((i * 37 + 11) % 256 for i in range(4000))
        want = b''
        for seg in junk.split(b'\n')[:-1]:	# complete lines, as the README frames them
            if len(seg[:-1] if seg.endswith(b'\r') else seg) > 1024:
                break
            want += b'OK\n'
        else:
            tail = junk.rsplit(b'\n', 1)[-1]
            if len(tail) <= 1024 + tail.endswith(b'\r'):
                want += b'-'			# marks "no error-reply"
        want = want[:-1] if want.endswith(b'-') else want + b'ERR\n'
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        got = recv_until_eof(s)
        assert got == want, f'junk: {got[:40]!r}, wanted {want[:40]!r}'
        n += want.count(b'\n')
    return n


def main():
    mode, log = sys.argv[1], sys.argv[2]
    cmd = sys.argv[sys.argv.index('--') + 1:]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors='replace')
    port = None
    lines = []
    found = threading.Event()

    def read_stderr():
        nonlocal port
        for text in proc.stderr:
            lines.append(text)
            m = re.match(r'listening on 127\.0\.0\.1:(\d+)', text)
            if m and port is None:
                port = int(m.group(1))
                found.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    ok = False
    try:
        if not found.wait(60):
            print(f'valgrind {mode}: tcpack did not start listening', file=sys.stderr)
            return 1
        started = time.monotonic()
        n = oneshot(port) if mode == 'oneshot' else line(port)
        print(f'valgrind {mode}: {n} exchanges answered right in '
              f'{time.monotonic() - started:.1f}s', flush=True)
        ok = True
    except (AssertionError, OSError) as e:
        print(f'valgrind {mode}: client failed: {e}', file=sys.stderr)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()		# our own child, by its pid
            rc = proc.wait()
            print(f'valgrind {mode}: tcpack did not stop within 60 s of SIGTERM', file=sys.stderr)
            ok = False
        reader.join(5)
    if rc != 0:
        print(f'valgrind {mode}: exit status {rc}; valgrind report in {log}; tcpack said:',
              file=sys.stderr)
        sys.stderr.writelines(lines[-20:])
        return 1
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
