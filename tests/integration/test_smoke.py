"""The smoke suite, run through each web server configuration taskq ships:
the development nginx (conf/nginx/taskq-dev.conf.in), the installed-system
nginx site (conf/nginx/taskq.conf) and a real Apache with mod_proxy_fcgi
(conf/apache/taskq.conf).  Submit, get, list, cancel, retry, task types,
stats, health, a 404 and a 405, an upload and its download, the static
index page with its security headers; and the nginx site's submit rate
limit.  TASKQ_FRONTENDS=nginx,apache picks some."""

import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, Suite, check, eq  # noqa: E402

FRONTENDS = os.environ.get("TASKQ_FRONTENDS", "nginx,nginx-site,apache").split(",")

suite = Suite("test_smoke")


def smoke(s):
    # submit, get (until it ran), list
    r = s.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "smoke"}})
    eq(r.status, 201, "submit")
    t = r.json()
    eq(r.headers.get("location"), "/api/tasks/" + t["id"], "Location")
    eq(r.headers.get("content-type", "").split(";")[0], "application/json", "content type")
    r = s.get("/api/tasks/" + t["id"])
    eq(r.status, 200, "get")
    eq(r.json()["id"], t["id"], "get id")
    done = s.wait_for(t["id"])
    eq(done["status"], "SUCCESS", "ran")
    eq(done["result_data"]["message"], "smoke", "result")
    r = s.get("/api/tasks/?task_type=echo&limit=5")
    eq(r.status, 200, "list")
    check(t["id"] in [x["id"] for x in r.json()["tasks"]], "listed")

    # cancel, and the conflict of cancelling twice; retry of the cancelled
    slow = s.submit("echo", {"message": "slow", "delay_ms": 60000})
    r = s.delete("/api/tasks/" + slow["id"])
    eq(r.status, 200, "cancel")
    eq(r.json()["status"], "CANCELLED", "cancelled")
    eq(s.delete("/api/tasks/" + slow["id"]).status, 409, "cancel twice")
    r = s.post("/api/tasks/%s/retry" % slow["id"])
    eq(r.status, 201, "retry")
    eq(r.json()["retry_of"], slow["id"], "retry_of")
    s.delete("/api/tasks/" + r.json()["id"])

    # task types, stats, health
    r = s.get("/api/task-types")
    eq(r.status, 200, "task-types")
    check("echo" in [x["name"] for x in r.json()], r.body[:200])
    r = s.get("/api/stats")
    eq(r.status, 200, "stats")
    eq(sorted(r.json()["by_status"]), sorted(["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]), "stats keys")
    r = s.get("/api/health")
    eq(r.status, 200, "health")
    eq(r.json()["status"], "ok", "health status")

    # 404 and 405, JSON with a detail
    r = s.get("/api/tasks/" + str(uuid.uuid4()))
    eq(r.status, 404, "unknown task")
    check(isinstance(r.json().get("detail"), str), r)
    r = s.request("PUT", "/api/stats")
    eq(r.status, 405, "wrong method")
    check("GET" in r.headers.get("allow", ""), r.headers)
    check(isinstance(r.json().get("detail"), str), r)

    # upload and download, byte for byte
    data = b"name,value\nalpha,1\nbeta,2\n" + bytes(range(256))
    r = s.post("/api/files", raw=data, headers={"X-Filename": "smoke.csv",
                                                "Content-Type": "application/octet-stream"})
    eq(r.status, 201, "upload")
    f = r.json()
    eq(f["size"], len(data), "size")
    r = s.get("/api/files/" + f["id"])
    eq(r.status, 200, "download")
    eq(r.body, data, "bytes")

    # the static UI and its security headers
    r = s.get("/")
    eq(r.status, 200, "index")
    check(r.headers.get("content-type", "").startswith("text/html"), r.headers)
    check(b"<html" in r.body.lower(), r.body[:100])
    csp = r.headers.get("content-security-policy", "")
    check("default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp)
    eq(r.headers.get("x-content-type-options"), "nosniff", "nosniff")
    eq(r.headers.get("referrer-policy"), "no-referrer", "referrer policy")
    eq(s.get("/no-such-page.html").status, 404, "static 404")


def make_test(frontend):
    def test():
        with Stack(runners=1, frontend=frontend, runner_options=["poll_interval_ms=50"]) as s:
            smoke(s)
    test.__name__ = "test_smoke_" + frontend.replace("-", "_")
    return test


for fe in FRONTENDS:
    suite.test(make_test(fe))


def make_down_test(frontend):
    def test():
        """The web server's own errors under /api/ are JSON: with taskq-api
        stopped, a GET and an upload (its body not yet read) get 502 or 503
        JSON with Retry-After."""
        with Stack(runners=0, frontend=frontend) as s:
            r = s.get("/api/tasks/" + str(uuid.uuid4()))
            eq(r.status, 404, "API up")
            eq(r.headers.get("content-type", "").split(";")[0], "application/json", "404 type")
            s._terminate(s.api)
            uploads = [b"x" * (3 << 20)] if frontend != "nginx" else []
            for body in [None] + uploads:
                if body is None:
                    r = s.get("/api/health")
                else:
                    r = s.post("/api/files", raw=body, headers={"X-Filename": "big.bin"})
                check(r.status in (502, 503), "status %d" % r.status)
                eq(r.headers.get("content-type", "").split(";")[0], "application/json", "error type")
                check(isinstance(r.json().get("detail"), str), r)
                check(r.headers.get("retry-after"), "no Retry-After: %s" % r.headers)
    test.__name__ = "test_api_down_" + frontend.replace("-", "_")
    return test


for fe in FRONTENDS:
    suite.test(make_down_test(fe))


if "nginx-site" in FRONTENDS:
    @suite.test
    def test_nginx_site_limits_submit_rate():
        with Stack(runners=0, frontend="nginx-site") as s:
            statuses = []
            for i in range(80):
                r = s.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "%d" % i}})
                statuses.append(r.status)
                if r.status == 429:
                    check(isinstance(r.json().get("detail"), str), r)
                    eq(r.headers.get("retry-after"), "1", "Retry-After")
            check(statuses.count(201) >= 50, "burst of 50 allowed: %s" % statuses)
            check(429 in statuses, "no 429 after 80 quick submits: %s" % statuses)
            eq(s.get("/api/stats").status, 200, "other endpoints not limited")

suite.finish()
