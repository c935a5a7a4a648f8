#!/usr/bin/env python3
"""Task objects as a runner moves them, read through the API: SUCCESS has
a result_data object, progress 100 and completion times; FAILED has its
error_message; retry of a failed task; stats and health see the runner.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import check, eq  # noqa: E402
from test_api import TIME_RE, check_task, error, run  # noqa: E402

STACK_OPTIONS = dict(runners=1, runner_options=["poll_interval_ms=50"])


def make_tests(s):

    def success_has_result_object():
        t = s.submit("echo", {"message": "done \u00e9"})
        d = s.wait_for(t["id"])
        check_task(d)
        eq(d["status"], "SUCCESS", "status")
        eq(d["progress"], 100, "progress")
        check(isinstance(d["result_data"], dict), "result_data object: %r", d["result_data"])
        eq(d["result_data"]["message"], "done \u00e9", "result message")
        eq(d["error_message"], None, "no error")
        check(TIME_RE.match(d["started_at"]) and TIME_RE.match(d["completed_at"]), "times")
        check(d["completed_at"] >= d["started_at"] >= d["created_at"], "ordered times")
        error(s.delete("/api/tasks/" + t["id"]), 409, None, "cancel a finished task")
        error(s.post("/api/tasks/%s/retry" % t["id"]), 409, None, "retry a SUCCESS")

    def failure_has_error_message_and_retries():
        t = s.submit("echo", {"message": "x", "fail": True})
        d = s.wait_for(t["id"])
        eq(d["status"], "FAILED", "status")
        eq(d["error_message"], "requested failure", "error_message")
        eq(d["result_data"], None, "no result")
        r = s.post("/api/tasks/%s/retry" % t["id"])
        eq(r.status, 201, "retry")
        n = s.wait_for(r.json()["id"])
        eq(n["retry_of"], t["id"], "retry_of")
        eq(n["status"], "FAILED", "the retry fails the same way")

    def runner_visible_in_health_and_stats():
        h = s.get("/api/health").json()
        eq(len(h["runners"]), 1, "one runner")
        rn = h["runners"][0]
        for k in ("id", "host", "pid", "version", "slots", "running", "started_at",
                  "last_heartbeat", "heartbeat_age_s"):
            check(k in rn, "runner lacks %s", k)
        eq(rn["pid"], s.runner_procs[0].pid, "pid")
        st = s.get("/api/stats").json()
        eq(len(st["runners"]), 1, "stats runner")
        echo = st["by_type"]["echo"]
        check(echo["throughput_1h"] >= 3, "throughput_1h %r", echo["throughput_1h"])
        check(0 < echo["failure_rate_1h"] < 1, "failure_rate_1h %r", echo["failure_rate_1h"])

    return [success_has_result_object, failure_has_error_message_and_retries,
            runner_visible_in_health_and_stats]


if __name__ == "__main__":
    run("test_api_lifecycle", make_tests, STACK_OPTIONS).finish()
