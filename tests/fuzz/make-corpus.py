#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the hand-made seed corpora into corpus/<target>/ (run from anywhere).

Each seed follows its target's input layout (see the comment at the top of
fuzz-<target>.c). libFuzzer adds what it finds to a scratch copy
(scripts/fuzz), never here: this directory stays small and reviewable.
"""
import hashlib
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent


def chunks(*parts):
    """Length-prefixed chunks: fuzz-line's stream and fuzz-conn's receives."""
    out = b''
    for p in parts:
        assert len(p) < 256
        out += bytes([len(p)]) + p
    return out


def line_seeds():
    yield bytes([16]) + chunks(b'hello\n', b'wor', b'ld\r\n\n')
    yield bytes([4]) + chunks(b'1234\nabcde\nnever\n')
    yield bytes([3]) + chunks(b'abc\r', b'\n', b'abc\r', b'x\n')    # '\r' at the limit
    yield bytes([8]) + chunks(b'\r\r\n', b'\r', b'\n', b'\n\n\n')
    yield bytes([32]) + chunks(bytes(range(256))[:200], b'\xff\xfe\x00\n')
    yield bytes([10]) + chunks(b'x' * 30, b'y' * 30 + b'\n', b'ok\n')  # too long over chunks
    yield bytes([255]) + chunks(*([b'a' * 250] * 3), b'\n')
    yield bytes([0]) + chunks(b'\n', b'\r\n', b'a\n')
    yield bytes([16]) + chunks(b'', b'one\n', b'', b'two')


# fuzz-conn: max_message - 1, reply selector, error-reply length (bit 7: echo
# mode), max-pending selector, log-data-max, idle and message timeout
# (x100 ms); then ops.
def conn(max_message=16, reply=3, error=19, pending=0, log=64, idle=0, message=0, ops=b''):
    return bytes([max_message - 1, reply, error, pending, log, idle, message]) + ops


def recv(data):
    return bytes([0, len(data) - 1]) + data


def recv_lent(data):
    """Echo: a receive the engine offers to send from its own buffer."""
    return bytes([3, len(data) - 1]) + data


ECHO = 0x80


SEND, COMPLETE, EOF, DRAIN, FLUSH, TICK = 6, 8, 11, 12, 13, 15


def sent(n):
    return bytes([COMPLETE]) + struct.pack('<H', n - 1)


def conn_seeds():
    yield conn(ops=recv(b'one\ntwo\r\nthree\n') + bytes([SEND]) + sent(4096) + bytes([EOF]))
    yield conn(ops=recv(b'hel') + recv(b'lo\r') + recv(b'\n') + bytes([SEND]) + sent(2) +
               bytes([SEND]) + sent(100) + bytes([FLUSH, EOF, FLUSH]))
    yield conn(max_message=4, ops=recv(b'1234\nabcde\nnever\n') + bytes([SEND]) + sent(3) +
               bytes([FLUSH, SEND]) + sent(100) + bytes([FLUSH, EOF]))
    # A client that does not read: 4 KiB replies against the 4 KiB max-pending.
    yield conn(reply=255, ops=recv(b'a\nb\nc\nd\n') + recv(b'e\n') + bytes([SEND]) + sent(1000) +
               recv(b'f\n') + bytes([EOF, SEND]) + sent(4096) + bytes([SEND]) + sent(4096))
    yield conn(ops=recv(b'x\n' * 100) + bytes([SEND]) + recv(b'half') + bytes([DRAIN]) +
               sent(10) + recv(b' done\nafter\n') + bytes([FLUSH]))
    yield conn(ops=bytes([DRAIN]) + recv(b'late\n') + bytes([FLUSH]))
    yield conn(idle=10, message=5, ops=recv(b'slow') + bytes([TICK, 200]) + recv(b'ly\n'))
    yield conn(ops=recv(bytes(range(1, 200))) + recv(b'\x00\xff\n') + bytes([EOF]))
    yield conn(max_message=1, error=0, ops=recv(b'ab\n') + bytes([FLUSH, SEND]) + sent(50))
    # Echo: lent bytes sent short, copied input queued behind them, a refused send.
    yield conn(error=ECHO, ops=recv_lent(b'abcdef') + recv_lent(b'gh') + bytes([SEND]) +
               recv(b'after') + sent(3) + bytes([SEND]) + sent(100) + recv_lent(b'xyz') +
               bytes([SEND]) + sent(0x10000) + bytes([EOF, FLUSH]))
    yield conn(error=ECHO, pending=0, ops=recv_lent(b'z' * 255) + recv(b'y' * 255) +
               bytes([DRAIN, SEND]) + sent(10) + recv(b'late') + bytes([FLUSH]))


def escape(text, unescape_max=0xffff, log_size=0xffff):
    return struct.pack('<HH', unescape_max, log_size) + text


def escape_seeds():
    yield escape('服务器已收到数据'.encode())
    yield escape(b'OK\\r\\n')
    yield escape(b'ERR line too long\\r\\n', unescape_max=5, log_size=3)
    yield escape(b'\\x41\\x4a\\x00\\t\\"quoted\\"\\\\')
    yield escape(b'bad \\q and \\x4', log_size=7)
    yield escape(b'trailing \\')
    yield escape(b'\x00\x01\x1f\x7f\x80\x9f\xc2\x80\xc2\xa0\xe2\x80\xa8\xed\xa0\x80\xf4\x90\x80\x80',
                 log_size=20)
    yield escape(b'\xc0\xaf\xe0\x80\xaf\xf0\x9f\x98\x80\xef\xbb\xbf', log_size=9)


def config_seeds():
    sample = (REPO / 'etc' / 'tcpack.conf').read_bytes()
    yield b'\x00' + sample
    yield b'\x00' + b''.join(line[1:] if line.startswith(b'#') and b' = ' in line else line
                             for line in sample.splitlines(keepends=True))
    yield (b'\x00# /etc/tcpack/tcpack.conf\nmode = line\nreply = "ACK\\r\\n"\nmax-message = 4K\n'
           b'listen = 127.0.0.1:12345\nlisten = [::1]:12345\n')
    yield b'\x00mode=echo\r\n  idle-timeout =500ms\t\nmessage-timeout = 2min\nlog-level = 7\n'
    yield b'\x00error-reply = ""\nbuffer-count = 4096\nbuffer-size = 64KiB\nthreads = 2\nengine = epoll\n'
    yield b'\x00max-message = lots\n'
    yield b'\x00reply = "  spaced  "\nnot a key value line\n'
    yield b'\x00reply = ' + b'x' * 5000 + b'\n'
    # tcpack_config_set: key number (or a string past the 17 keys), value, NUL-separated.
    yield b'\x01\x00line\x00\x01OK\\r\\n\x00\x03' + b'64K\x00\x04[::1]:8080\x00\x0ddisk\x00'
    yield b'\x01\x0d1000\x00\x0e100\x00\x09999999999999999999999h\x00\x10io_uring\x00'
    yield b'\x01\xffno-such-key\x00value\x00\x05warn\x00\x0b\x00'


# fuzz-proxy: the mode (0 v1, 1 v2, 2 any), then the stream in chunks.
PROXY_V1, PROXY_V2, PROXY_ANY = 0, 1, 2
V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'


def v2(ver_cmd, fam, block):
    return V2_SIG + bytes([ver_cmd, fam]) + struct.pack('>H', len(block)) + block


def tlv(kind, value):
    return bytes([kind]) + struct.pack('>H', len(value)) + value


def split(data, size):
    """Chunks of @size bytes (the last one shorter)."""
    return chunks(*[data[i:i + size] for i in range(0, len(data), size)])


def proxy_seeds():
    tcp4 = b'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'
    yield bytes([PROXY_V1]) + chunks(tcp4 + b'GET / HTTP/1.1\r\n')
    yield bytes([PROXY_ANY]) + split(tcp4, 7)
    yield bytes([PROXY_V1]) + chunks(b'PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 65535 0\r\n', b'data')
    yield bytes([PROXY_ANY]) + chunks(b'PROXY UNKNOWN\r\n', b'hello\n')
    yield bytes([PROXY_V1]) + chunks(b'PROXY UNKNOWN ' + b'x' * 91 + b'\r\n')   # 107 bytes
    yield bytes([PROXY_V1]) + chunks(b'PROXY TCP4 01.2.3.4 5.6.7.8 080 65536\r\n')
    yield bytes([PROXY_V1]) + chunks(b'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')
    addr4 = bytes([192, 0, 2, 10, 198, 51, 100, 7]) + struct.pack('>HH', 50123, 443)
    addr6 = bytes(range(32)) + struct.pack('>HH', 1, 8080)
    yield bytes([PROXY_V2]) + chunks(v2(0x21, 0x11, addr4), b'client')
    yield bytes([PROXY_ANY]) + split(v2(0x21, 0x21, addr6 + tlv(1, b'h2') + tlv(4, b'') +
                                        tlv(2, b'example.com')), 5)
    yield bytes([PROXY_V2]) + chunks(v2(0x20, 0x00, b''), b'after')
    yield bytes([PROXY_V2]) + chunks(v2(0x20, 0x11, addr4))
    yield bytes([PROXY_ANY]) + split(v2(0x21, 0x31, bytes(216) + tlv(0xe0, b'z' * 40)), 100)
    yield bytes([PROXY_V2]) + chunks(v2(0x21, 0x12, addr4), v2(0x21, 0x00, b'junk'))
    yield bytes([PROXY_V2]) + split(v2(0x21, 0x11, addr4 + tlv(0x20, bytes(600))), 255)
    yield bytes([PROXY_V2]) + chunks(v2(0x21, 0x11, addr4 + b'\x01\x00\x05ab'))  # TLV past the end
    yield bytes([PROXY_V2]) + chunks(v2(0x22, 0x21, addr6))    # no such command
    yield bytes([PROXY_ANY]) + chunks(v2(0x21, 0x21, addr6[:20]))  # too short for IPv6


# fuzz-http: the stream in chunks, nothing else.
PROMETHEUS = (b'GET /metrics HTTP/1.1\r\nHost: 10.0.0.7:9100\r\nUser-Agent: Prometheus/2.45.0\r\n'
              b'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,'
              b'*/*;q=0.1\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n')


def http_seeds():
    yield split(PROMETHEUS, 255)
    yield split(PROMETHEUS, 7)
    yield chunks(b'GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\nUser-Agent: curl/7.88.1\r\n'
                 b'Accept: */*\r\n\r\n', b'GET /next HTTP/1.1\r\n')
    yield chunks(b'\r\n\r\nGET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')
    yield chunks(b'HEAD /metrics?x=%2F&y=a/b HTTP/1.1\r\nHost: [::1]:9100\r\n',
                 b'Connection: keep-alive, close\r\nContent-Length: 0\r\n\r\n')
    yield chunks(b'OPTIONS * HTTP/1.1\r\nhost:\r\n\r\n')
    yield chunks(b'POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello')
    yield chunks(b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    yield chunks(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    yield chunks(b'GET / HTTP/1.1\nHost: h\n\n')
    yield chunks(b'GET / HTTP/1.1\r\nHost : h\r\nX: a\r\n b\r\n\r\n')
    yield chunks(b'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')
    yield chunks(b'GET / HTTP/1.2\r\n\r\n')
    yield split(b'GET /' + b'a' * 300 + b' HTTP/1.1\r\n\r\n', 200)
    # At the head limit (8192 bytes), and one byte past it.
    start = b'GET / HTTP/1.1\r\nHost: h\r\nX-Fill: '
    yield split(start + b'f' * (8192 - len(start) - 4) + b'\r\n\r\n', 255)
    yield split(start + b'f' * (8193 - len(start) - 4) + b'\r\n\r\n', 255)


def main():
    for target, seeds in (('line', line_seeds), ('conn', conn_seeds),
                          ('escape', escape_seeds), ('config', config_seeds),
                          ('proxy', proxy_seeds), ('http', http_seeds)):
        d = HERE / 'corpus' / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for seed in seeds():
            (d / ('seed-' + hashlib.sha1(seed).hexdigest()[:12])).write_bytes(seed)


if __name__ == '__main__':
    main()
