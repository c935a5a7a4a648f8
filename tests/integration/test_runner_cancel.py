"""Cancelling a RUNNING task stops its child within 2 seconds (even one that
ignores SIGTERM) and the task stays CANCELLED; a cancelled PENDING task never
runs."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from runnerctl import Ctl, start_runner, alive, task_children, runner_stack, trace_counts, wait_gone  # noqa: E402

suite = stack.Suite("test_runner_cancel")
OPTS = ["slots=2", "shutdown_grace_s=1", "kill_grace_s=5"]


def running_child(ctl, runner, tid, timeout=10):
    """Waits until tid is RUNNING and the runner has one child; returns its pid."""
    deadline = time.time() + timeout
    while True:
        kids = task_children(runner.pid)
        if ctl.get(tid)["status"] == "RUNNING" and len(kids) == 1:
            return kids[0]
        if time.time() > deadline:
            raise AssertionError("task %s not running (children %r)" % (tid, kids))
        time.sleep(0.02)


def cancel_and_check(st, ctl, runner, tid):
    pid = running_child(ctl, runner, tid)
    # Let it make some progress first.
    time.sleep(0.3)
    t = ctl.cancel(tid)
    stack.eq(t["status"], "CANCELLED", "status after cancel")
    took = wait_gone([pid], 2.0)
    # It stays CANCELLED: the runner writes no outcome over it.
    time.sleep(0.6)
    t = ctl.get(tid)
    stack.eq(t["status"], "CANCELLED", "status later")
    stack.eq(t["result_data"], None, "result")
    stack.eq(t["error_message"], None, "error")
    stack.check(runner.poll() is None, "runner exited")
    return took


@suite.test
def cancel_running_echo_stops_child_fast():
    st = runner_stack(OPTS)
    try:
        ctl = Ctl(st)
        r = start_runner(st)
        tid = ctl.submit_echo(1, 60000)[0]
        took = cancel_and_check(st, ctl, r, tid)
        print("  child gone %.2fs after the cancel" % took)
        stack.eq(trace_counts(st.trace).get(tid), 1, "runs")
        # The slot is free again: the next task runs.
        t = ctl.wait(ctl.submit_echo(1, 0)[0])
        stack.eq(t["status"], "SUCCESS", "next task")
    finally:
        st.cleanup()


@suite.test
def cancel_through_the_api():
    """The same through nginx and taskq-api: DELETE, then the child is gone
    within 2 s and GET keeps answering CANCELLED."""
    st = runner_stack(OPTS)
    try:
        st.start()  # taskq-api and nginx; no runner yet
        ctl = Ctl(st)
        r = start_runner(st)
        t = st.submit("echo", {"message": "via the API", "delay_ms": 60000})
        pid = running_child(ctl, r, t["id"])
        time.sleep(0.3)
        resp = st.delete("/api/tasks/" + t["id"])
        stack.eq(resp.status, 200, "DELETE status")
        stack.eq(resp.json()["status"], "CANCELLED", "status after DELETE")
        took = wait_gone([pid], 2.0)
        time.sleep(0.6)
        got = st.get("/api/tasks/" + t["id"]).json()
        stack.eq(got["status"], "CANCELLED", "status later")
        stack.eq(got["result_data"], None, "result")
        print("  child gone %.2fs after DELETE" % took)
    finally:
        st.cleanup()


@suite.test
def cancel_child_ignoring_sigterm():
    st = runner_stack(OPTS, hooks=True)
    try:
        ctl = Ctl(st)
        r = start_runner(st)
        tid = ctl.submit("echo", {"message": "__taskq_test_hang__"})
        took = cancel_and_check(st, ctl, r, tid)
        print("  SIGTERM-proof child gone %.2fs after the cancel" % took)
    finally:
        st.cleanup()


@suite.test
def cancelled_pending_task_never_runs():
    st = runner_stack(OPTS)
    try:
        ctl = Ctl(st)
        tid = ctl.submit_echo(1, 0)[0]
        ctl.cancel(tid)
        other = ctl.submit_echo(1, 0)[0]
        start_runner(st)
        stack.eq(ctl.wait(other)["status"], "SUCCESS", "other")
        time.sleep(0.3)
        stack.eq(ctl.get(tid)["status"], "CANCELLED", "cancelled task")
        stack.eq(trace_counts(st.trace).get(tid), None, "runs of the cancelled task")
    finally:
        st.cleanup()


@suite.test
def progress_is_written_while_running():
    st = runner_stack(OPTS)
    try:
        ctl = Ctl(st)
        start_runner(st)
        tid = ctl.submit_echo(1, 2000)[0]
        seen = set()
        deadline = time.time() + 10
        while time.time() < deadline:
            t = ctl.get(tid)
            if t["status"] == "SUCCESS":
                break
            if t["status"] == "RUNNING":
                seen.add(t["progress"])
            time.sleep(0.1)
        stack.eq(ctl.get(tid)["progress"], 100, "final progress")
        mid = [p for p in seen if 0 < p < 100]
        stack.check(len(mid) >= 3, "progress seen while running: %r", sorted(seen))
    finally:
        st.cleanup()


suite.finish()
