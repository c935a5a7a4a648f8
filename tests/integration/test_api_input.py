#!/usr/bin/env python3
"""taskq-api input handling through nginx: Content-Type (415), the JSON
body limit (413), invalid UTF-8 and lone surrogate escapes (400, nothing
stored), malformed JSON, trailing data, non-objects, nesting depth,
Idempotency-Key, query-string decoding, and nginx's own errors as JSON.
"""

import http.client
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Suite, check, eq  # noqa: E402,F401
from test_api import error, run  # noqa: E402

STACK_OPTIONS = dict(runners=0)
SUBMIT = "/api/tasks/submit"


def make_tests(s):

    def total():
        return sum(s.get("/api/stats").json()["by_status"].values())

    def raw_submit(data, ctype="application/json", headers=None):
        h = {"Content-Type": ctype}
        h.update(headers or {})
        return s.post(SUBMIT, raw=data, headers=h)

    def content_type_checked():
        body = json.dumps({"task_type": "echo", "parameters": {"message": "ct"}}).encode()
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                   "application/json; charset=latin1", "multipart/form-data; boundary=x"):
            error(raw_submit(body, ct), 415, None, ct)
        r = s.post(SUBMIT, raw=body)  # no Content-Type at all
        error(r, 415, None, "no content type")
        for ct in ("application/json", "Application/JSON", "application/json; charset=utf-8",
                   "application/json;charset=UTF-8", 'application/json; charset="utf-8"'):
            eq(raw_submit(body, ct).status, 201, ct)
        # Bulk routes are JSON too.
        error(s.post("/api/tasks/cancel", raw=b"{}", headers={"Content-Type": "text/plain"}), 415)

    def json_body_over_2mib_is_413_and_not_stored():
        before = total()
        big = json.dumps({"task_type": "echo", "parameters": {"message": "x" * (2 * 1024 * 1024)}})
        error(raw_submit(big.encode()), 413, None, "2 MiB + body")
        # Exactly the limit is read (and then refused for its content, not size).
        eq(total(), before, "nothing stored")

    def json_body_over_limit_without_length_is_413():
        # Chunked: no Content-Length, so the responder must count as it reads.
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        try:
            def chunks():
                yield b'{"task_type": "echo", "parameters": {"message": "'
                for _ in range(40):
                    yield b"y" * 65536
                yield b'"}}'
            conn.request("POST", SUBMIT, body=chunks(),
                         headers={"Content-Type": "application/json"}, encode_chunked=True)
            r = conn.getresponse()
            eq(r.status, 413, "chunked over limit")
            check(json.loads(r.read())["detail"], "detail")
        finally:
            conn.close()

    def invalid_utf8_is_400_and_not_stored():
        before = total()
        for bad in (b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf",
                    b"\xf4\x90\x80\x80"):
            data = b'{"task_type": "echo", "parameters": {"message": "a' + bad + b'b"}}'
            error(raw_submit(data), 400, None, repr(bad))
        eq(total(), before, "nothing stored")

    def lone_surrogates_are_400_and_not_stored():
        before = total()
        for esc in ("\\ud800", "\\udc00", "\\uDBFF x", "\\ud800\\u0041", "\\ud800\\ud800",
                    "x\\udfff"):
            data = ('{"task_type": "echo", "parameters": {"message": "%s"}}' % esc).encode()
            error(raw_submit(data), 400, None, esc)
        eq(total(), before, "nothing stored")
        # An escaped backslash before "ud800" is not an escape.
        r = raw_submit(b'{"task_type": "echo", "parameters": {"message": "\\\\ud800"}}')
        eq(r.status, 201, "escaped backslash")
        eq(r.json()["parameters"]["message"], "\\ud800", "literal text kept")
        # A valid pair is a character.
        r = raw_submit(b'{"task_type": "echo", "parameters": {"message": "\\ud83d\\ude00"}}')
        eq(r.status, 201, "surrogate pair")
        eq(r.json()["parameters"]["message"], "\U0001F600", "pair decoded")
        r = raw_submit('{"task_type": "echo", "parameters": {"message": "h\u00e9 \u4e16"}}'.encode())
        eq(r.json()["parameters"]["message"], "h\u00e9 \u4e16", "UTF-8 kept")

    def malformed_json_is_400():
        before = total()
        for data in (b"", b"{", b'{"task_type": }', b'{"task_type": "echo",}',
                     b"{'task_type': 'echo'}", b'{"task_type": "echo"} x',
                     b'{"task_type": "echo"}{}', b'{"a": 1} // c', b"/* c */ {}",
                     b'{"task_type": "echo", "parameters": {"message": "a\x01b"}}',
                     b'{"task_type": "echo", "parameters": {"message": "a\x00b"}}',
                     b'{"task_type": NaN}', b'{"a": 01}'):
            error(raw_submit(data), 400, None, repr(data))
        for data in (b"[]", b'"echo"', b"5", b"null", b"true"):
            error(raw_submit(data), 400, None, "not an object: %r" % data)
        eq(total(), before, "nothing stored")
        # Whitespace around the object is fine.
        eq(raw_submit(b' \n{"task_type": "echo", "parameters": {"message": "ws"}}\r\n\t ').status,
           201, "whitespace")

    def nesting_depth_is_bounded():
        deep = "[" * 40 + "]" * 40
        data = ('{"task_type": "echo", "parameters": {"message": "x", "deep": %s}}' % deep).encode()
        error(raw_submit(data), 400, None, "40 levels")
        data = ('{"task_type": "echo", "parameters": {"message": "x", "deep": %s}}'
                % ("[" * 5 + "]" * 5)).encode()
        error(raw_submit(data), 422, "parameters.deep", "shallow but unknown parameter")

    def idempotency_key_returns_first_task():
        body = {"task_type": "echo", "parameters": {"message": "once"}}
        r1 = s.post(SUBMIT, body, headers={"Idempotency-Key": "key-1 abc"})
        eq(r1.status, 201, "first")
        r2 = s.post(SUBMIT, body, headers={"Idempotency-Key": "key-1 abc"})
        eq(r2.status, 200, "repeat")
        eq(r2.json()["id"], r1.json()["id"], "same task")
        eq(r2.headers.get("location"), "/api/tasks/" + r1.json()["id"], "Location on repeat")
        # Even with another body, the key wins: the first task comes back.
        r3 = s.post(SUBMIT, {"task_type": "echo", "parameters": {"message": "other"}},
                    headers={"Idempotency-Key": "key-1 abc"})
        eq(r3.json()["id"], r1.json()["id"], "same task for another body")
        r4 = s.post(SUBMIT, body, headers={"Idempotency-Key": "key-2"})
        eq(r4.status, 201, "another key")
        check(r4.json()["id"] != r1.json()["id"], "new task")
        eq(s.post(SUBMIT, body, headers={"Idempotency-Key": "k" * 128}).status, 201, "128 chars")
        error(s.post(SUBMIT, body, headers={"Idempotency-Key": "k" * 129}), 422, "Idempotency-Key")
        error(s.post(SUBMIT, body, headers={"Idempotency-Key": "caf\u00e9".encode("utf-8")}),
              422, "Idempotency-Key")
        error(s.post(SUBMIT, body, headers={"Idempotency-Key": ""}), 422, "Idempotency-Key")

    def query_strings_are_validated():
        error(s.get("/api/tasks?status=%zz"), 422, "status")
        error(s.get("/api/tasks?status=PEND%"), 422, "status")
        error(s.get("/api/tasks?limit=1&limit=2"), 422, "limit")
        error(s.get("/api/tasks?colour=red"), 422, "colour")
        error(s.get("/api/tasks?q=a%00b"), 422, "q")
        error(s.get("/api/tasks?q=%ff"), 422, "q")
        for bad in ("0", "501", "abc", "-1", "1.5", "", "+5", "99999999999999999999"):
            error(s.get("/api/tasks?limit=" + bad), 422, "limit", "limit=%r" % bad)
        eq(s.get("/api/tasks?limit=500").status, 200, "limit 500")
        # A parameter without "=" is one with an empty value (this crashed
        # the responder once: the empty value was decoded in place).
        error(s.get("/api/tasks?limit"), 422, "limit", "limit without =")
        error(s.get("/api/tasks?status"), 422, "status", "status without =")
        eq(s.get("/api/tasks?q").status, 200, "q without = is no search")
        eq(s.get("/api/tasks?q&limit=1").status, 200, "then another parameter")
        error(s.get("/api/stats?x"), 422, "x")
        eq(s.get("/api/health").status, 200, "still up")
        eq(s.get("/api/tasks?status=PENDING%2CFAILED&task_type=echo").status, 200, "%2C")
        error(s.get("/api/tasks?q=" + "x" * 257), 422, "q")
        eq(s.get("/api/tasks?q=" + "x" * 256).status, 200, "q of 256")

    def nginx_errors_are_json():
        r = s.get("/api/tasks?" + "x" * 20000)
        error(r, 414, None, "long URI")
        # A request line nginx cannot parse.
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 400"), "400 status line: %r", head[:100])
        check(b"application/json" in head, "json content type: %r", head)
        check(json.loads(body)["detail"], "detail")

    return [content_type_checked, json_body_over_2mib_is_413_and_not_stored,
            json_body_over_limit_without_length_is_413, invalid_utf8_is_400_and_not_stored,
            lone_surrogates_are_400_and_not_stored, malformed_json_is_400,
            nesting_depth_is_bounded, idempotency_key_returns_first_task,
            query_strings_are_validated, nginx_errors_are_json]


if __name__ == "__main__":
    run("test_api_input", make_tests, STACK_OPTIONS).finish()
