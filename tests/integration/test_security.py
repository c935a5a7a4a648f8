#!/usr/bin/env python3
"""Who gets in and what a hostile page or client can make taskq do, through
nginx and taskq-api:
  - a page on another site cannot submit, cancel, retry, pause or upload
    through the user's browser (Sec-Fetch-Site, Origin, and the
    X-Requested-With header a form cannot send);
  - with auth_tokens set, no token is a 401 with WWW-Authenticate: Bearer,
    a viewer's (:ro) token reads but cannot change anything;
  - files are only ever read and written under STATE_DIR/files by id:
    malformed ids and path tricks are refused, a client's file name is
    never a path, a symbolic link planted in place of a file is not
    followed, and uploads are served with nosniff, as attachments unless a
    safe image;
  - every API response, errors included, carries the security headers,
    through the development nginx and the shipped nginx and Apache site
    configurations (which also hand a bearer token on to taskq-api).
Requests here are made with exact headers (no defaults added)."""

import hashlib
import http.client
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import check, eq  # noqa: E402

suite = stack.Suite("test_security")

OPERATOR = "op-" + uuid.uuid4().hex
VIEWER = "view-" + uuid.uuid4().hex
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fe0dc7d2a40000000049454e44ae426082")
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy",
                    "content-security-policy")


def raw(st, method, path, body=None, headers=None):
    """One request with exactly these headers (Host added by http.client)."""
    conn = http.client.HTTPConnection("127.0.0.1", st.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return stack.Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def host(st):
    return "127.0.0.1:%d" % st.port


def submit_body():
    return json.dumps({"task_type": "echo", "parameters": {"message": "x"}}).encode()


def is_error(r, status, what):
    eq(r.status, status, what)
    check(r.headers.get("content-type", "").startswith("application/json"),
          "%s: not JSON: %r", what, r.headers)
    check(isinstance(r.json().get("detail"), str), "%s: no detail: %r", what, r.body)


def multipart(name, data, ctype="application/octet-stream"):
    b = "----taskq" + uuid.uuid4().hex
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
            "Content-Type: %s\r\n\r\n" % (b, name, ctype)).encode() + data + \
        ("\r\n--%s--\r\n" % b).encode()
    return body, "multipart/form-data; boundary=" + b


# ---- cross-site requests ---------------------------------------------------

def cross_site_tests(st):
    task = st.submit("echo", {"message": "victim", "delay_ms": 60000})

    @suite.test
    def cross_site_fetch_metadata_is_refused():
        for method, path, body in (("POST", "/api/tasks/submit", submit_body()),
                                   ("DELETE", "/api/tasks/" + task["id"], None),
                                   ("POST", "/api/tasks/cancel", b"{}"),
                                   ("POST", "/api/task-types/echo/pause", None)):
            for site in ("cross-site", "same-site"):
                r = raw(st, method, path, body, {"Content-Type": "application/json",
                                                 "Sec-Fetch-Site": site,
                                                 "X-Requested-With": "taskq"})
                is_error(r, 403, "%s %s from %s" % (method, path, site))
        eq(st.get("/api/tasks/" + task["id"]).json()["status"], "PENDING", "victim untouched")
        eq(st.get("/api/task-types").json()[0]["paused"], False, "echo not paused")

    @suite.test
    def foreign_origin_is_refused():
        for origin in ("https://evil.example", "null", "http://%s.evil.example" % host(st)):
            r = raw(st, "POST", "/api/tasks/submit", submit_body(),
                    {"Content-Type": "application/json", "Origin": origin})
            is_error(r, 403, "submit from Origin %s" % origin)
            r = raw(st, "DELETE", "/api/tasks/" + task["id"], None, {"Origin": origin})
            is_error(r, 403, "cancel from Origin %s" % origin)
        eq(st.get("/api/tasks/" + task["id"]).json()["status"], "PENDING", "victim untouched")

    @suite.test
    def same_origin_browser_requests_pass():
        r = raw(st, "POST", "/api/tasks/submit", submit_body(),
                {"Content-Type": "application/json", "Origin": "http://" + host(st),
                 "Sec-Fetch-Site": "same-origin"})
        eq(r.status, 201, "same-origin submit")
        r = raw(st, "GET", "/api/tasks/" + task["id"], None,
                {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        eq(r.status, 200, "a cross-site read is not refused (no CORS: the page cannot read it)")
        check("access-control-allow-origin" not in r.headers, "no CORS grant")

    @suite.test
    def what_a_form_can_send_is_refused():
        # An HTML form can POST urlencoded, multipart or text/plain, with no
        # custom header; the JSON routes refuse such bodies (415), the others
        # need X-Requested-With.
        r = raw(st, "POST", "/api/tasks/submit", submit_body(), {"Content-Type": "text/plain"})
        is_error(r, 415, "submit as text/plain")
        failed = st.submit("echo", {"message": "f", "fail": True})
        st.start_runner()
        st.wait_for(failed["id"])
        for ctype in (None, "application/x-www-form-urlencoded", "text/plain"):
            hdrs = {"Content-Type": ctype} if ctype else {}
            r = raw(st, "POST", "/api/tasks/%s/retry" % failed["id"], b"" if ctype else None, hdrs)
            is_error(r, 403, "retry as a form (%s)" % ctype)
            r = raw(st, "POST", "/api/task-types/echo/pause", b"" if ctype else None, hdrs)
            is_error(r, 403, "pause as a form (%s)" % ctype)
        body, ctype = multipart("a.txt", b"hello")
        is_error(raw(st, "POST", "/api/files", body, {"Content-Type": ctype}), 403,
                 "multipart upload without X-Requested-With")
        r = raw(st, "POST", "/api/files", body, {"Content-Type": ctype, "X-Requested-With": "taskq"})
        eq(r.status, 201, "multipart upload as the UI sends it")
        r = raw(st, "POST", "/api/tasks/%s/retry" % failed["id"], None, {"X-Requested-With": "taskq"})
        eq(r.status, 201, "retry as the UI sends it")
        r = raw(st, "POST", "/api/task-types/echo/pause", None, {"Content-Type": "application/json"})
        eq(r.status, 200, "pause with a JSON content type")
        r = raw(st, "POST", "/api/task-types/echo/resume", None, {"X-Requested-With": "taskq"})
        eq(r.status, 200, "resume")

    @suite.test
    def the_ui_sends_x_requested_with():
        with open(os.path.join(stack.SRCDIR, "www", "js", "api.js")) as f:
            text = f.read()
        check("'X-Requested-With'" in text and "'taskq'" in text,
              "www/js/api.js does not send X-Requested-With: taskq")


# ---- authentication ----------------------------------------------------------

def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def auth_tests():
    opts = ["auth_tokens=%s,%s:ro" % (digest(OPERATOR), digest(VIEWER))]
    with stack.Stack(runners=0, api_options=opts) as st:
        op = {"Authorization": "Bearer " + OPERATOR}
        view = {"Authorization": "Bearer " + VIEWER}

        @suite.test
        def no_token_is_401_with_a_challenge():
            for method, path in (("GET", "/api/tasks"), ("GET", "/api/health"),
                                 ("GET", "/api/files/" + str(uuid.uuid4())),
                                 ("POST", "/api/tasks/submit")):
                r = raw(st, method, path, submit_body() if method == "POST" else None,
                        {"Content-Type": "application/json"})
                is_error(r, 401, "%s %s without a token" % (method, path))
                check(r.headers.get("www-authenticate", "").startswith("Bearer"),
                      "WWW-Authenticate: %r", r.headers.get("www-authenticate"))

        @suite.test
        def wrong_token_or_scheme_is_401():
            for value in ("Bearer " + OPERATOR + "x", "Bearer " + digest(OPERATOR),
                          "Basic b3A6c2VjcmV0", OPERATOR):
                r = raw(st, "GET", "/api/stats", None, {"Authorization": value})
                is_error(r, 401, "Authorization: %s" % value[:20])

        @suite.test
        def operator_token_does_everything():
            r = raw(st, "POST", "/api/tasks/submit", submit_body(),
                    dict(op, **{"Content-Type": "application/json"}))
            eq(r.status, 201, "submit")
            tid = r.json()["id"]
            eq(raw(st, "DELETE", "/api/tasks/" + tid, None, op).status, 200, "cancel")
            eq(raw(st, "GET", "/api/tasks/" + tid, None, op).json()["status"], "CANCELLED", "get")

        @suite.test
        def viewer_token_only_reads():
            r = raw(st, "POST", "/api/tasks/submit", submit_body(),
                    dict(op, **{"Content-Type": "application/json"}))
            tid = r.json()["id"]
            for path in ("/api/tasks", "/api/tasks/" + tid, "/api/stats", "/api/task-types",
                         "/api/health"):
                eq(raw(st, "GET", path, None, view).status, 200, "viewer GET " + path)
            for method, path, body in (("POST", "/api/tasks/submit", submit_body()),
                                       ("DELETE", "/api/tasks/" + tid, None),
                                       ("POST", "/api/tasks/cancel", b"{}"),
                                       ("POST", "/api/task-types/echo/pause", None)):
                r = raw(st, method, path, body,
                        dict(view, **{"Content-Type": "application/json"}))
                is_error(r, 403, "viewer %s %s" % (method, path))
            eq(raw(st, "GET", "/api/tasks/" + tid, None, view).json()["status"], "PENDING",
               "the viewer changed nothing")


# ---- files -------------------------------------------------------------------

def file_tests(st):
    files = os.path.join(st.state, "files")

    @suite.test
    def malformed_ids_and_paths_are_refused():
        for path in ("/api/files/..%2f..%2fetc%2fpasswd", "/api/files/not-a-uuid",
                     "/api/files/" + "a" * 300, "/api/files/%00",
                     "/api/files/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b%2f..%2f..%2ftaskq.db"):
            r = raw(st, "GET", path)
            check(r.status in (400, 404, 422), "GET %s -> %r", path, r)
            check(b"root:" not in r.body and b"SQLite" not in r.body, "GET %s leaked", path)
        r = raw(st, "GET", "/api/files/../../../etc/passwd")
        check(b"root:" not in r.body, "dot segments leaked")

    @suite.test
    def a_client_file_name_is_never_a_path():
        before = set(os.listdir(files))
        for name in ("../../evil.txt", "/etc/cron.d/evil", "a/b/c.txt", "..", "x\\..\\y"):
            r = raw(st, "POST", "/api/files", b"data",
                    {"X-Filename": name, "Content-Type": "application/octet-stream"})
            if r.status == 201:
                fid = r.json()["id"]
                eq(fid, str(uuid.UUID(fid)), "id")
                check(os.path.isfile(os.path.join(files, fid)), "stored under its id")
            else:
                is_error(r, 422, "X-Filename %r" % name)
        new = set(os.listdir(files)) - before
        check(all(str(uuid.UUID(n)) == n for n in new), "names under files/: %r", new)
        check(not os.path.exists(os.path.join(st.state, "evil.txt")), "wrote outside files/")
        check(not os.path.exists("/etc/cron.d/evil"), "wrote to /etc/cron.d")

    @suite.test
    def task_parameters_cannot_name_a_path():
        for params in ({"file_id": "../../etc/passwd"}, {"file_id": "/etc/passwd"},
                       {"file_id": "0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b/../x"}):
            r = st.post("/api/tasks/submit", {"task_type": "data_processing", "parameters": params})
            is_error(r, 422, "file_id %r" % params["file_id"])
            eq(r.json().get("field"), "parameters.file_id", "field")

    @suite.test
    def a_planted_symlink_is_not_followed():
        r = raw(st, "POST", "/api/files", b"innocent",
                {"X-Filename": "i.txt", "Content-Type": "application/octet-stream"})
        eq(r.status, 201, "upload")
        fid = r.json()["id"]
        path = os.path.join(files, fid)
        os.unlink(path)
        os.symlink("/etc/passwd", path)
        r = raw(st, "GET", "/api/files/" + fid)
        check(r.status in (404, 500) and b"root:" not in r.body,
              "symlink followed: %r", r)
        os.unlink(path)

    @suite.test
    def served_uploads_cannot_run_in_the_page():
        html = b"<html><script>alert(document.cookie)</script></html>"
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        for name, data in (("x.html", html), ("x.svg", svg), ("x.js", b"alert(1)")):
            r = raw(st, "POST", "/api/files", data,
                    {"X-Filename": name, "Content-Type": "text/html"})
            eq(r.status, 201, "upload " + name)
            g = raw(st, "GET", "/api/files/" + r.json()["id"])
            eq(g.status, 200, "get " + name)
            eq(g.headers.get("x-content-type-options"), "nosniff", name + " nosniff")
            check(g.headers.get("content-disposition", "").startswith("attachment"),
                  "%s served %r", name, g.headers.get("content-disposition"))
            check("html" not in g.headers.get("content-type", "") and
                  "svg" not in g.headers.get("content-type", ""),
                  "%s served as %r", name, g.headers.get("content-type"))
        r = raw(st, "POST", "/api/files", PNG, {"X-Filename": "p.png",
                                               "Content-Type": "application/octet-stream"})
        g = raw(st, "GET", "/api/files/" + r.json()["id"])
        eq(g.headers.get("content-type"), "image/png", "png type")
        eq(g.headers.get("content-disposition"), "inline", "a safe image is inline")
        eq(g.headers.get("x-content-type-options"), "nosniff", "png nosniff")


# ---- headers -----------------------------------------------------------------

def header_tests(st):
    @suite.test
    def every_api_response_carries_the_security_headers():
        cases = (("GET", "/api/health", None, {}),
                 ("GET", "/api/tasks?status=NOPE", None, {}),
                 ("GET", "/api/tasks/" + str(uuid.uuid4()), None, {}),
                 ("POST", "/api/tasks/submit", b"{", {"Content-Type": "application/json"}),
                 ("POST", "/api/tasks/submit", submit_body(), {"Content-Type": "application/json",
                                                               "Origin": "https://evil.example"}),
                 ("PUT", "/api/files", None, {}),
                 ("GET", "/", None, {}))
        for method, path, body, hdrs in cases:
            r = raw(st, method, path, body, hdrs)
            for h in SECURITY_HEADERS:
                check(h in r.headers, "%s %s (%d): no %s header", method, path, r.status, h)
            eq(r.headers.get("x-content-type-options"), "nosniff", "%s %s nosniff" % (method, path))
            check("server" not in r.headers or "/" not in r.headers["server"],
                  "Server header gives a version: %r", r.headers.get("server"))


# ---- the shipped site configurations -------------------------------------------

def site_tests():
    opts = ["auth_tokens=%s" % digest(OPERATOR)]
    for frontend in ("nginx-site", "apache"):
        def test():
            with stack.Stack(runners=0, frontend=frontend, api_options=opts) as st:
                op = {"Authorization": "Bearer " + OPERATOR}
                r = raw(st, "GET", "/api/stats", None, op)
                eq(r.status, 200, "the bearer token reaches taskq-api")
                is_error(raw(st, "GET", "/api/stats"), 401, "no token")
                r = raw(st, "POST", "/api/tasks/submit", submit_body(),
                        dict(op, **{"Content-Type": "application/json",
                                    "Origin": "https://evil.example"}))
                is_error(r, 403, "cross-site submit")
                for resp in (r, raw(st, "GET", "/api/stats", None, op)):
                    for h in SECURITY_HEADERS:
                        check(h in resp.headers, "%d: no %s header", resp.status, h)
        test.__name__ = "site_config_%s_passes_tokens_and_sets_headers" % frontend.replace("-", "_")
        if frontend == "apache" and not os.access(os.environ.get("APACHE", "/usr/sbin/apache2"),
                                                  os.X_OK):
            print("skipped %s: apache2 is not installed" % test.__name__)
            continue
        suite.test(test)


def main():
    os.environ.pop("TASKQ_TEST_HOOKS", None)
    with stack.Stack(runners=0, runner_options=["shutdown_grace_s=1"]) as st:
        cross_site_tests(st)
        file_tests(st)
        header_tests(st)
    auth_tests()
    site_tests()
    suite.finish()


if __name__ == "__main__":
    main()
