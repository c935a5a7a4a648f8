#!/usr/bin/env python3
"""taskq-api through nginx: routing, submit and its validation, get,
cancel, retry, task types with pause/resume, stats and health.

Every error is checked for its status, a JSON body with a `detail` string
and, where the contract says so, the `field` it names.  Input handling
(limits, encodings, query strings) is in test_api_input.py, listing and
bulk operations in test_api_list.py, files in test_api_files.py.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, Suite, check, eq  # noqa: E402

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STATUSES = ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED")
TASK_FIELDS = ("id", "task_type", "status", "progress", "parameters", "result_data",
               "error_message", "created_at", "started_at", "completed_at", "retry_of",
               "attempt", "max_attempts", "priority", "timeout_s", "run_at", "updated_at",
               "worker_output")

STACK_OPTIONS = dict(runners=0)


def error(r, status, field=None, what=""):
    """Asserts r is a JSON error with this status (and field); returns its body."""
    eq(r.status, status, "%s status (body %r)" % (what, r.body[:300]))
    check(r.headers.get("content-type", "").startswith("application/json"),
          "%s: content-type %r", what, r.headers.get("content-type"))
    body = r.json()
    check(isinstance(body.get("detail"), str) and body["detail"], "%s: no detail in %r", what, body)
    if field is not None:
        eq(body.get("field"), field, "%s field (detail %r)" % (what, body.get("detail")))
    return body


def check_task(t):
    for f in TASK_FIELDS:
        check(f in t, "task lacks %s: %r", f, t)
    check(UUID_RE.match(t["id"]), "id %r not a lowercase v4 uuid", t["id"])
    check(t["status"] in STATUSES, "status %r", t["status"])
    check(TIME_RE.match(t["created_at"]), "created_at %r", t["created_at"])
    for f in ("started_at", "completed_at"):
        check(t[f] is None or TIME_RE.match(t[f]), "%s %r", f, t[f])
    check(isinstance(t["parameters"], dict), "parameters %r", t["parameters"])
    check(isinstance(t["progress"], int) and 0 <= t["progress"] <= 100, "progress")


def make_tests(s):
    """The tests, bound to a running stack s (runners=0)."""

    def submit_returns_201_location_and_task():
        r = s.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "hi"}})
        eq(r.status, 201, "status")
        t = r.json()
        check_task(t)
        eq(r.headers.get("location"), "/api/tasks/" + t["id"], "Location")
        eq(t["status"], "PENDING", "status")
        eq(t["task_type"], "echo", "task_type")
        eq(t["progress"], 0, "progress")
        eq(t["result_data"], None, "result_data")
        eq(t["error_message"], None, "error_message")
        eq(t["retry_of"], None, "retry_of")
        eq(t["started_at"], None, "started_at")
        eq(t["priority"], 0, "default priority")
        # Stored normalized: the defaults of the type are filled in.
        eq(t["parameters"], {"message": "hi", "delay_ms": 0, "fail": False}, "parameters")

    def submit_without_parameters_uses_empty_object():
        # echo requires message, so {} is validated: the 422 names it.
        r = s.post("/api/tasks/submit", {"task_type": "echo"})
        error(r, 422, "parameters.message")

    def submit_options_are_stored():
        r = s.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "x"},
                                          "priority": -100, "run_at": "2030-01-02T03:04:05.678+01:00",
                                          "max_attempts": 25, "timeout_s": 86400})
        eq(r.status, 201, "status")
        t = r.json()
        eq(t["priority"], -100, "priority")
        eq(t["run_at"], "2030-01-02T02:04:05.678Z", "run_at in UTC")
        eq(t["max_attempts"], 25, "max_attempts")
        eq(t["timeout_s"], 86400, "timeout_s")
        r = s.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "x"},
                                          "priority": 100, "max_attempts": 1, "timeout_s": 1})
        eq(r.status, 201, "bounds accepted")

    def submit_rejects_bad_options():
        base = {"task_type": "echo", "parameters": {"message": "x"}}
        cases = [
            ("priority", 101), ("priority", -101), ("priority", "5"), ("priority", 5.0),
            ("priority", True), ("priority", [1]),
            ("max_attempts", 0), ("max_attempts", 26), ("max_attempts", "3"),
            ("timeout_s", 0), ("timeout_s", 86401), ("timeout_s", 1.5),
            ("run_at", "tomorrow"), ("run_at", 12345), ("run_at", "2026-02-30T00:00:00Z"),
        ]
        for name, value in cases:
            body = dict(base)
            body[name] = value
            error(s.post("/api/tasks/submit", body), 422, name, "%s=%r" % (name, value))

    def submit_rejects_unknown_field_and_type():
        error(s.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "x"},
                                           "colour": "red"}), 422, "colour")
        error(s.post("/api/tasks/submit", {"task_type": "nope"}), 422, "task_type")
        error(s.post("/api/tasks/submit", {"parameters": {"message": "x"}}), 422, "task_type")
        error(s.post("/api/tasks/submit", {"task_type": 5}), 422, "task_type")
        error(s.post("/api/tasks/submit", {"task_type": "echo", "parameters": [1]}), 422, "parameters")
        error(s.post("/api/tasks/submit", {"task_type": "echo", "parameters": "x"}), 422, "parameters")

    def submit_validates_parameters():
        cases = [
            ({"message": 5}, "parameters.message"),
            ({"message": "x", "delay_ms": "5"}, "parameters.delay_ms"),
            ({"message": "x", "delay_ms": -1}, "parameters.delay_ms"),
            ({"message": "x", "fail": "yes"}, "parameters.fail"),
            ({"message": "x", "bogus": 1}, "parameters.bogus"),
            ({"message": "x" * 10001}, "parameters.message"),
        ]
        for params, field in cases:
            error(s.post("/api/tasks/submit", {"task_type": "echo", "parameters": params}),
                  422, field, repr(params)[:60])
        error(s.post("/api/tasks/submit", {"task_type": "email", "parameters": {
            "to": "not an address", "subject": "s", "body": "b"}}), 422, "parameters.to")
        error(s.post("/api/tasks/submit", {"task_type": "email", "parameters": {
            "to": "a@example.com", "subject": "a\r\nBcc: x@example.com", "body": "b"}}),
              422, "parameters.subject")

    def get_task_by_id_any_case():
        t = s.submit("echo", {"message": "get me"})
        r = s.get("/api/tasks/" + t["id"])
        eq(r.status, 200, "status")
        eq(r.json(), t, "same task as submitted")
        r = s.get("/api/tasks/" + t["id"].upper())
        eq(r.status, 200, "upper-case id")
        eq(r.json()["id"], t["id"], "id lowercased")

    def get_unknown_and_malformed_ids():
        error(s.get("/api/tasks/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b"), 404, "id")
        error(s.get("/api/tasks/not-a-uuid"), 422, "id")
        error(s.get("/api/tasks/0b6f4a7e3c2d4f5e9a1b2c3d4e5f6a7b"), 422, "id")
        error(s.delete("/api/tasks/zzz"), 422, "id")
        error(s.post("/api/tasks/zzz/retry"), 422, "id")
        error(s.delete("/api/tasks/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b"), 404, "id")
        error(s.post("/api/tasks/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b/retry"), 404, "id")

    def cancel_then_conflict_then_retry():
        t = s.submit("echo", {"message": "cancel me"})
        error(s.post("/api/tasks/%s/retry" % t["id"]), 409, None, "retry PENDING")
        r = s.delete("/api/tasks/" + t["id"])
        eq(r.status, 200, "cancel status")
        c = r.json()
        eq(c["status"], "CANCELLED", "cancelled")
        check(c["completed_at"] is not None, "completed_at set on cancel")
        body = error(s.delete("/api/tasks/" + t["id"]), 409, None, "second cancel")
        check("CANCELLED" in body["detail"], "409 names the state: %r", body["detail"])
        r = s.post("/api/tasks/%s/retry" % t["id"])
        eq(r.status, 201, "retry status")
        n = r.json()
        check_task(n)
        eq(r.headers.get("location"), "/api/tasks/" + n["id"], "Location")
        eq(n["retry_of"], t["id"], "retry_of")
        eq(n["status"], "PENDING", "new task pending")
        eq(n["parameters"], t["parameters"], "same parameters")
        check(n["id"] != t["id"], "a new id")

    def routing_405_with_allow():
        cases = [
            ("GET", "/api/tasks/submit", "POST"),
            ("PUT", "/api/tasks", "GET, HEAD"),
            ("DELETE", "/api/tasks/", "GET, HEAD"),
            ("GET", "/api/tasks/cancel", "POST"),
            ("PATCH", "/api/tasks/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b", "GET, HEAD, DELETE"),
            ("GET", "/api/tasks/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b/retry", "POST"),
            ("POST", "/api/task-types", "GET, HEAD"),
            ("GET", "/api/task-types/echo/pause", "POST"),
            ("POST", "/api/stats", "GET, HEAD"),
            ("DELETE", "/api/health", "GET, HEAD"),
            ("PUT", "/api/files", "POST"),
            ("DELETE", "/api/files/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b", "GET, HEAD"),
        ]
        for method, path, allow in cases:
            r = s.request(method, path)
            error(r, 405, None, "%s %s" % (method, path))
            eq(r.headers.get("allow"), allow, "Allow for %s %s" % (method, path))

    def head_is_get_without_body():
        r = s.request("HEAD", "/api/health")
        eq(r.status, 200, "HEAD status")
        eq(r.body, b"", "no body")
        check(r.headers["content-type"].startswith("application/json"), "content type")
        eq(s.request("HEAD", "/api/tasks/not-a-uuid").status, 422, "HEAD errors like GET")

    def routing_404_is_json():
        for path in ("/api/nope", "/api/tasks/x/y/z", "/api/", "/api/task-types/echo",
                     "/api/task-types/echo/explode", "/api/files"):
            r = s.get(path)
            if path == "/api/files":
                error(r, 405, None, path)
            else:
                error(r, 404, None, path)

    def list_with_and_without_trailing_slash():
        for path in ("/api/tasks", "/api/tasks/"):
            r = s.get(path + "?limit=1")
            eq(r.status, 200, path)
            body = r.json()
            check(isinstance(body["tasks"], list) and len(body["tasks"]) == 1, "%s tasks", path)
            check("next_cursor" in body, "next_cursor")
            check_task(body["tasks"][0])

    def task_types_lists_schemas_and_paused():
        r = s.get("/api/task-types")
        eq(r.status, 200, "status")
        types = r.json()
        names = [t["name"] for t in types]
        for n in ("echo", "data_processing", "email", "image_processing"):
            check(n in names, "%s listed", n)
        for t in types:
            check(isinstance(t["description"], str), "description")
            check(isinstance(t["parameters"], dict), "parameters schema")
            eq(t["paused"], False, "%s paused" % t["name"])
        check("message" in types[names.index("echo")]["parameters"], "echo schema has message")

    def pause_and_resume():
        r = s.post("/api/task-types/data_processing/pause")
        eq(r.status, 200, "pause status")
        eq(r.json()["name"], "data_processing", "name")
        eq(r.json()["paused"], True, "paused")
        types = {t["name"]: t for t in s.get("/api/task-types").json()}
        eq(types["data_processing"]["paused"], True, "listed paused")
        eq(types["echo"]["paused"], False, "others unaffected")
        stats = s.get("/api/stats").json()
        eq(stats["by_type"]["data_processing"]["paused"], True, "stats paused")
        r = s.post("/api/task-types/data_processing/resume")
        eq(r.status, 200, "resume status")
        eq(r.json()["paused"], False, "resumed")
        error(s.post("/api/task-types/nope/pause"), 404, "name")
        error(s.post("/api/task-types/nope/resume"), 404, "name")

    def stats_counts_every_type():
        before = s.get("/api/stats").json()
        t = s.submit("echo", {"message": "count me"})
        r = s.get("/api/stats")
        eq(r.status, 200, "status")
        st = r.json()
        eq(set(st["by_status"]), set(STATUSES), "by_status keys")
        eq(st["by_status"]["PENDING"], before["by_status"]["PENDING"] + 1, "PENDING +1")
        for name in ("echo", "data_processing", "email", "image_processing"):
            bt = st["by_type"][name]
            for k in STATUSES + ("throughput_1h", "failure_rate_1h", "throughput_24h",
                                 "failure_rate_24h", "paused"):
                check(k in bt, "by_type.%s lacks %s", name, k)
        eq(st["by_type"]["echo"]["PENDING"], before["by_type"]["echo"]["PENDING"] + 1, "echo +1")
        eq(st["by_type"]["email"]["SUCCESS"], 0, "zero counts present")
        check(isinstance(st["runners"], list), "runners")
        check(isinstance(st["oldest_pending_age_s"], int), "oldest pending age %r",
              st["oldest_pending_age_s"])
        s.delete("/api/tasks/" + t["id"])
        after = s.get("/api/stats").json()
        eq(after["by_status"]["CANCELLED"], st["by_status"]["CANCELLED"] + 1, "CANCELLED +1")
        eq(after["by_status"]["PENDING"], st["by_status"]["PENDING"] - 1, "PENDING -1")

    def health_ok():
        r = s.get("/api/health")
        eq(r.status, 200, "status")
        h = r.json()
        eq(h["status"], "ok", "status")
        eq(h["database"], "ok", "database")
        check(isinstance(h["runners"], list), "runners")
        check("oldest_pending_age_s" in h, "oldest_pending_age_s")

    def query_parameters_only_where_accepted():
        t = s.submit("echo", {"message": "query"})
        error(s.get("/api/tasks/%s?verbose=1" % t["id"]), 422, "verbose")
        error(s.get("/api/stats?x=1"), 422, "x")
        error(s.post("/api/tasks/submit?priority=5", {"task_type": "echo",
                                                      "parameters": {"message": "q"}}), 422, "priority")
        eq(s.get("/api/health?").status, 200, "an empty query is no parameter")

    def responses_are_json_and_not_cached():
        r = s.get("/api/stats")
        check(r.headers["content-type"].startswith("application/json"), "content-type")
        eq(r.headers.get("cache-control"), "no-store", "cache-control")

    return [submit_returns_201_location_and_task, submit_without_parameters_uses_empty_object,
            submit_options_are_stored, submit_rejects_bad_options,
            submit_rejects_unknown_field_and_type, submit_validates_parameters,
            get_task_by_id_any_case, get_unknown_and_malformed_ids,
            cancel_then_conflict_then_retry, routing_405_with_allow, head_is_get_without_body,
            routing_404_is_json,
            list_with_and_without_trailing_slash, task_types_lists_schemas_and_paused,
            pause_and_resume, stats_counts_every_type, health_ok,
            query_parameters_only_where_accepted, responses_are_json_and_not_cached]


def run(name, make, options, valgrind=False, suite=None):
    """Runs make(stack)'s tests on a fresh stack, then checks that taskq-api
    leaves with status 0 on SIGTERM and, under valgrind, that valgrind
    reported nothing.  Returns the Suite (a new one unless given)."""
    suite = suite or Suite(name)
    opts = dict(options)
    opts["valgrind"] = valgrind or opts.get("valgrind", False)
    s = Stack(**opts)
    s.start()
    try:
        for fn in make(s):
            suite.test(fn)
    finally:
        rc = s.stop()
        logs = sorted(f for f in os.listdir(s.state) if f.startswith("valgrind-api"))
        reports = ""
        for f in logs:
            with open(os.path.join(s.state, f), errors="replace") as fp:
                reports += fp.read()
        api_log = s.read_log("api")
        s.cleanup()

    def api_exits_0_on_sigterm():
        eq(rc, 0, "%s: taskq-api exit status (log: %s)" % (name, api_log[-3000:]))
    suite.test(api_exits_0_on_sigterm)
    if s.valgrind:
        def valgrind_reports_nothing():
            check(logs, "%s: no valgrind log written" % name)
            eq(reports, "", "%s: valgrind report" % name)
        suite.test(valgrind_reports_nothing)
    return suite


if __name__ == "__main__":
    run("test_api", make_tests, STACK_OPTIONS).finish()
