#!/usr/bin/env python3
"""taskq-api as a program: the command line (-h, -n, -f, -o and the errors
that name the key), the three ways to listen (UNIX socket path, host:port,
an inherited socket on standard input) spoken to in FastCGI directly, and
the drain on SIGTERM: a request in flight is answered, then exit 0.
"""

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, Suite, binary, check, eq, free_port  # noqa: E402


def api(*args, **kw):
    return subprocess.run([binary("taskq-api")] + list(args), capture_output=True, text=True,
                          timeout=30, **kw)


def unix_connect(path):
    """A client socket connected to the UNIX socket path (closed if the
    connection fails)."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    try:
        c.connect(path)
    except OSError:
        c.close()
        raise
    return c


def fcgi_record(rtype, content, rid=1):
    return struct.pack("!BBHHBx", 1, rtype, rid, len(content), 0) + content


def fcgi_params(method, path, ctype="", length="", query=""):
    """The PARAMS records of a request, their end included."""
    def nv(name, value):
        name, value = name.encode(), value.encode()
        return bytes([len(name)]) + (bytes([len(value)]) if len(value) < 128
                                     else struct.pack("!I", len(value) | 0x80000000)) + name + value
    params = b"".join(nv(k, v) for k, v in (
        ("REQUEST_METHOD", method), ("PATH_INFO", path), ("QUERY_STRING", query),
        ("CONTENT_TYPE", ctype), ("CONTENT_LENGTH", length)))
    return fcgi_record(4, params) + fcgi_record(4, b"")


def fcgi_begin(keep):
    """BEGIN_REQUEST, responder, FCGI_KEEP_CONN if keep."""
    return fcgi_record(1, struct.pack("!HB5x", 1, 1 if keep else 0))


def fcgi_request(sock, method, path, body=b"", ctype="", keep=False, body_delay=0, query=""):
    """One FastCGI request on a connected socket (FCGI_KEEP_CONN if keep;
    the body sent body_delay seconds after the head); returns the raw CGI
    response (head and body), with " <EOF>" appended if the connection
    closed before the request ended."""
    msg = fcgi_begin(keep) + fcgi_params(method, path, ctype, str(len(body)) if body else "",
                                         query)
    if body_delay:
        sock.sendall(msg)
        time.sleep(body_delay)
        msg = b""
    if body:
        msg += fcgi_record(5, body)
    msg += fcgi_record(5, b"")                            # STDIN
    sock.sendall(msg)
    return fcgi_response(sock)


def fcgi_response(sock):
    """The raw CGI response of the request on sock, read up to its
    END_REQUEST, with " <EOF>" appended if the connection closed first."""
    out, buf = b"", b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out + b" <EOF>"
        buf += chunk
        while len(buf) >= 8:
            _, rtype, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
            if rtype == 6:
                out += content
            elif rtype == 3:
                return out


def submit_head(sock, body, keep=False):
    """Sends a submit with only the first 20 bytes of its body."""
    sock.sendall(fcgi_begin(keep) +
                 fcgi_params("POST", "/api/tasks/submit", "application/json", str(len(body))) +
                 fcgi_record(5, body[:20]))


def submit_rest(sock, body):
    """Sends the rest of the body of submit_head's request."""
    sock.sendall(fcgi_record(5, body[20:]) + fcgi_record(5, b""))


def main():
    suite = Suite("test_api_cli")
    tmp = tempfile.mkdtemp(prefix="taskq-cli-")
    db = os.path.join(tmp, "taskq.db")

    @contextlib.contextmanager
    def serving(path, threads, database=db):
        """taskq-api with threads workers, once it listens on the UNIX socket
        path, and a list for the test's client sockets.  On leaving, those
        are closed and taskq-api, sent SIGTERM if still running, must exit 0."""
        p = subprocess.Popen([binary("taskq-api"), "-d", database, "-s", tmp, "-l", path,
                              "-t", str(threads)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        socks = []
        try:
            deadline = time.time() + 15
            while not os.path.exists(path):
                check(p.poll() is None and time.time() < deadline,
                      "taskq-api not listening on %s (exit %r)", path, p.returncode)
                time.sleep(0.02)
            yield p, socks
        finally:
            for c in socks:
                c.close()
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            eq(rc, 0, "exit status")

    def help_exits_0():
        r = api("-h")
        eq(r.returncode, 0, "-h status")
        check("usage: taskq-api" in r.stdout, "usage printed: %r", r.stdout)
        r = api("-x")
        eq(r.returncode, 1, "unknown flag")
        check("usage" in r.stderr, "usage on error")

    def check_config_with_n():
        r = api("-n", "-d", db, "-s", tmp, "-o", "api_threads=4")
        eq(r.returncode, 0, "-n status (%s)" % r.stderr)
        r = api("-n", "-o", "nosuchkey=1")
        eq(r.returncode, 1, "unknown key")
        check("nosuchkey" in r.stderr, "error names the key: %r", r.stderr)
        r = api("-n", "-o", "api_threads=0")
        eq(r.returncode, 1, "bad value")
        check("api_threads" in r.stderr, "error names the key: %r", r.stderr)
        r = api("-n", "-o", "novalue")
        eq(r.returncode, 1, "-o without =")
        r = api("-n", "-f", os.path.join(tmp, "missing.conf"))
        eq(r.returncode, 1, "missing -f file")
        check("missing.conf" in r.stderr, "names the file: %r", r.stderr)
        conf = os.path.join(tmp, "taskq.conf")
        with open(conf, "w") as f:
            f.write("database = %s\nstate_dir = %s\napi_threads = 2\n" % (db, tmp))
        eq(api("-n", "-f", conf).returncode, 0, "good file")
        with open(conf, "a") as f:
            f.write("bogus_key = 1\n")
        r = api("-n", "-f", conf)
        eq(r.returncode, 1, "bad file")
        check("bogus_key" in r.stderr, "names the key: %r", r.stderr)

    def refuses_a_non_socket_path():
        path = os.path.join(tmp, "regular")
        open(path, "w").close()
        r = api("-d", db, "-s", tmp, "-l", path)
        eq(r.returncode, 1, "status")
        check("not a socket" in r.stderr, "reason: %r", r.stderr)
        check(os.path.exists(path), "file left alone")
        r = subprocess.run([binary("taskq-api"), "-d", db, "-s", tmp], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 1, "stdin not a socket")

    def serve_and_stop(cmd, connect, **popen):
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.time() + 15
            while True:
                try:
                    c = connect()
                    break
                except OSError:
                    if p.poll() is not None:
                        raise AssertionError("taskq-api exited: %r" % p.stdout.read()[-2000:])
                    check(time.time() < deadline, "taskq-api not listening")
                    time.sleep(0.05)
            with c:
                out = fcgi_request(c, "GET", "/api/health")
            check(out.startswith(b"Status: 200"), "health over FastCGI: %r", out[:200])
            check(b'"status": "ok"' in out, "health body: %r", out[-200:])
            with connect() as c:
                out = fcgi_request(c, "POST", "/api/tasks/submit",
                                   b'{"task_type": "echo", "parameters": {"message": "fcgi"}}',
                                   "application/json")
            check(out.startswith(b"Status: 201"), "submit over FastCGI: %r", out[:300])
            check(b"\r\nLocation: /api/tasks/" in out, "Location header")
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(30)
        eq(rc, 0, "exit status on SIGTERM")

    def listens_on_tcp():
        port = free_port()
        serve_and_stop([binary("taskq-api"), "-d", db, "-s", tmp, "-l", "127.0.0.1:%d" % port,
                        "-t", "2"],
                       lambda: socket.create_connection(("127.0.0.1", port), timeout=10))

    def listens_on_unix_path_and_removes_it():
        path = os.path.join(tmp, "api.sock")

        serve_and_stop([binary("taskq-api"), "-d", db, "-s", tmp, "-l", path],
                       lambda: unix_connect(path))
        check(not os.path.exists(path), "socket removed on exit")

    def refuses_a_live_socket_and_replaces_a_stale_one():
        path = os.path.join(tmp, "live.sock")
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        live.bind(path)
        live.listen(1)
        r = api("-d", db, "-s", tmp, "-l", path)
        eq(r.returncode, 1, "live socket refused")
        check("another process" in r.stderr, "reason: %r", r.stderr)
        live.close()          # the file stays: now a stale socket

        serve_and_stop([binary("taskq-api"), "-d", db, "-s", tmp, "-l", path],
                       lambda: unix_connect(path))

    def accepts_on_inherited_stdin_socket():
        path = os.path.join(tmp, "inherited.sock")
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        ls.listen(16)
        try:
            serve_and_stop([binary("taskq-api"), "-d", db, "-s", tmp, "-o", "api_listen="],
                           lambda: unix_connect(path), stdin=ls.fileno())
        finally:
            ls.close()
        check(os.path.exists(path), "an inherited socket is not taskq-api's to remove")

    def keep_alive_survives_an_unread_body():
        path = os.path.join(tmp, "keep.sock")
        with serving(path, 1), unix_connect(path) as c:
            # Answered before its body arrives: 405, 415, 422.
            for method, where, ctype in (("POST", "/api/stats", "application/json"),
                                         ("POST", "/api/tasks/submit", "text/plain"),
                                         ("POST", "/api/files", "application/octet-stream")):
                out = fcgi_request(c, method, where, b"x" * 3000, ctype, keep=True,
                                   body_delay=0.2)
                check(out.startswith(b"Status: 4"), "%s %s: %r", method, where, out[:60])
                check(not out.endswith(b"<EOF>"), "connection kept")
            out = fcgi_request(c, "GET", "/api/health", keep=True)
            check(out.startswith(b"Status: 200"), "next request on the same connection: %r",
                  out[:80])

    def idle_kept_connections_hold_no_thread():
        # Two threads, twenty kept-alive connections used in turns: with a
        # thread tied to each connection, the third would never be served.
        path = os.path.join(tmp, "idle.sock")
        with serving(path, 2) as (_, conns):
            for _ in range(20):
                conns.append(unix_connect(path))
            for rnd in range(3):
                for i in (range(20) if rnd != 1 else reversed(range(20))):
                    out = fcgi_request(conns[i], "GET", "/api/health", keep=True)
                    check(out.startswith(b"Status: 200"), "round %d, connection %d: %r",
                          rnd, i, out[:80])
                    check(not out.endswith(b"<EOF>"), "connection %d kept", i)
            # Connections closed by the client are let go; the rest still work.
            for c in conns[:10]:
                c.close()
            for c in conns[10:]:
                out = fcgi_request(c, "GET", "/api/health", keep=True)
                check(out.startswith(b"Status: 200"), "after closes: %r", out[:80])
            with unix_connect(path) as c:
                out = fcgi_request(c, "GET", "/api/health")
                check(out.startswith(b"Status: 200"), "a new connection: %r", out[:80])

    def slow_bodies_do_not_stall_others():
        # More clients than taskq-api has serving places (two per CPU) send
        # the head of a submit and only part of its body; while they dawdle,
        # others are served at once (a worker waiting for a body gives its
        # place up), and then the slow ones are too.
        path = os.path.join(tmp, "slow.sock")
        body = b'{"task_type": "echo", "parameters": {"message": "slow"}}'
        nslow = 2 * os.sysconf("SC_NPROCESSORS_ONLN") + 2
        with serving(path, nslow + 4) as (_, slow):
            for _ in range(nslow):
                c = unix_connect(path)
                c.settimeout(20)
                slow.append(c)
                submit_head(c, body)
            time.sleep(0.5)
            t0 = time.time()
            for _ in range(5):
                with unix_connect(path) as c:
                    out = fcgi_request(c, "GET", "/api/health")
                    check(out.startswith(b"Status: 200"), "health while bodies dawdle: %r",
                          out[:80])
            check(time.time() - t0 < 5, "health answered at once: %.1f s", time.time() - t0)
            for c in slow:
                submit_rest(c, body)
            for c in slow:
                out = fcgi_response(c)
                check(out.startswith(b"Status: 201"), "slow submit answered: %r", out[:120])

    def sigterm_answers_a_kept_connection_then_closes_it():
        # Two submits whose bodies are still coming when SIGTERM arrives,
        # on kept connections.  The first, once answered, has its connection
        # closed while the second still holds the drain open: kept, it
        # could carry request after request and hold the drain open too.
        path = os.path.join(tmp, "drain.sock")
        body = b'{"task_type": "echo", "parameters": {"message": "drain"}}'

        def rest_and_answer(c):
            submit_rest(c, body)
            out = fcgi_response(c)
            check(out.startswith(b"Status: 201"), "in-flight submit answered: %r", out[:120])
            check(not out.endswith(b" <EOF>"), "the request ended before the connection closed")
        with serving(path, 2) as (p, conns):
            for _ in range(2):
                c = unix_connect(path)
                conns.append(c)
                out = fcgi_request(c, "GET", "/api/health", keep=True)
                check(out.startswith(b"Status: 200"), "before SIGTERM: %r", out[:80])
                submit_head(c, body, keep=True)
            time.sleep(0.3)
            p.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            check(p.poll() is None, "taskq-api waits for the requests in flight")
            rest_and_answer(conns[0])
            eq(conns[0].recv(1), b"", "first connection closed after its answer")
            check(p.poll() is None, "taskq-api still waits for the second request")
            rest_and_answer(conns[1])
            eq(p.wait(30), 0, "exit status after draining")

    def large_responses_arrive_whole():
        # Pages of 50 and of 120 tasks of 10,000-character messages: about
        # 0.5 and 1.2 MB, so 8 and 19 FastCGI records of at most 64 KiB
        # each, the second more than resp_write builds on its stack.
        path = os.path.join(tmp, "large.sock")
        body = b'{"task_type": "echo", "parameters": {"message": "%s"}}' % (b"m" * 10000)
        with serving(path, 2, os.path.join(tmp, "large.db")), unix_connect(path) as c:
            for i in range(120):
                out = fcgi_request(c, "POST", "/api/tasks/submit", body, "application/json",
                                   keep=True)
                check(out.startswith(b"Status: 201"), "submit %d: %r", i, out[:80])
            for limit in (50, 120):
                out = fcgi_request(c, "GET", "/api/tasks", keep=True, query="limit=%d" % limit)
                check(not out.endswith(b"<EOF>"), "limit=%d: connection kept", limit)
                head, _, rest = out.partition(b"\r\n\r\n")
                check(head.startswith(b"Status: 200"), "limit=%d: %r", limit, head[:80])
                check(b"\r\nContent-Length: %d\r\n" % len(rest) in head,
                      "limit=%d: Content-Length of the %d bytes that came: %r",
                      limit, len(rest), head)
                tasks = json.loads(rest)["tasks"]
                eq(len(tasks), limit, "limit=%d: tasks" % limit)
                check(all(t["parameters"]["message"] == "m" * 10000 for t in tasks),
                      "limit=%d: every message whole", limit)

    def stray_signals_do_not_stop_it():
        with Stack(runners=0) as s:
            for sig in (signal.SIGUSR1, signal.SIGHUP, signal.SIGPIPE):
                s.api.send_signal(sig)
            time.sleep(0.3)
            for _ in range(20):
                eq(s.get("/api/health").status, 200, "health after stray signals")
            check(s.api.poll() is None, "still running")
            eq(s.stop(), 0, "exit status on SIGTERM")

    def sigterm_finishes_request_in_flight():
        with Stack(runners=0) as s:
            data = b"q" * 300000
            head = ("POST /api/files HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                    "X-Filename: slow.bin\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                    % len(data)).encode()
            with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
                c.sendall(head + data[:100000])
                time.sleep(0.5)           # the responder is now reading the body
                s.api.send_signal(signal.SIGTERM)
                time.sleep(0.5)
                check(s.api.poll() is None, "taskq-api waits for the request in flight")
                c.sendall(data[100000:])
                resp = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    resp += chunk
            check(resp.startswith(b"HTTP/1.1 201"), "upload answered: %r", resp[:300])
            eq(s.api.wait(30), 0, "exit status after draining")
            check("draining" in s.read_log("api"), "drain logged")

    for fn in (help_exits_0, check_config_with_n, refuses_a_non_socket_path, listens_on_tcp,
               listens_on_unix_path_and_removes_it,
               refuses_a_live_socket_and_replaces_a_stale_one, accepts_on_inherited_stdin_socket,
               keep_alive_survives_an_unread_body, idle_kept_connections_hold_no_thread,
               slow_bodies_do_not_stall_others,
               sigterm_answers_a_kept_connection_then_closes_it, large_responses_arrive_whole,
               stray_signals_do_not_stop_it,
               sigterm_finishes_request_in_flight):
        suite.test(fn)
    subprocess.run(["rm", "-rf", tmp])
    suite.finish()


if __name__ == "__main__":
    main()
