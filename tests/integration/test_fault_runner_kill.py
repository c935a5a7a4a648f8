#!/usr/bin/env python3
"""kill -9 of taskq-runner at random moments while 1,000 tasks are submitted
and run, five times, each time started again: every task ends SUCCESS, or
FAILED "runner lost" (max_attempts 1, so a task whose runner died is never
run a second time), none is lost, none runs twice (the echo worker's trace,
TASKQ_ECHO_TRACE), and the tasks cancelled meanwhile, some while no runner
was alive, stay CANCELLED.

TASKQ_FAULT_TASKS (1000) and TASKQ_FAULT_KILLS (5) scale it.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from runnerctl import trace_counts  # noqa: E402

N = int(os.environ.get("TASKQ_FAULT_TASKS", "1000"))
KILLS = int(os.environ.get("TASKQ_FAULT_KILLS", "5"))
OPTS = ["slots=4", "heartbeat_interval_s=1", "stale_after_s=2", "shutdown_grace_s=1",
        "kill_grace_s=1", "poll_interval_ms=100"]

suite = stack.Suite("test_fault_runner_kill")


def all_tasks(st):
    """Every task, by id, through the API's paged listing."""
    out, cursor = {}, ""
    while True:
        r = st.get("/api/tasks?limit=500" + ("&cursor=" + cursor if cursor else ""))
        stack.eq(r.status, 200, "list")
        page = r.json()
        for t in page["tasks"]:
            out[t["id"]] = t
        cursor = page["next_cursor"]
        if not cursor:
            return out


@suite.test
def kill9_runner_repeatedly_during_1000_tasks():
    rnd = random.Random(os.environ.get("TASKQ_FAULT_SEED") or time.time())
    st = stack.Stack(runners=0, runner_options=OPTS)
    trace = os.path.join(st.state, "trace")
    os.environ["TASKQ_ECHO_TRACE"] = trace
    os.environ.pop("TASKQ_TEST_HOOKS", None)
    st.start()
    try:
        ids, lock, errors = [], threading.Lock(), []

        def submitter(k):
            try:
                for i in range(k, N, 4):
                    t = st.submit("echo", {"message": "task %d" % i,
                                           "delay_ms": rnd.choice((0, 0, 5, 20, 60))},
                                  max_attempts=1)
                    with lock:
                        ids.append(t["id"])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        st.start_runner()
        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        cancelled = set()
        kills_done = 0
        for k in range(KILLS):
            time.sleep(rnd.uniform(0.3, 1.5))
            st.runner_procs[-1].kill()
            st.runner_procs[-1].wait(30)
            kills_done += 1
            # Cancel a few while no runner is alive: whatever state the
            # dead runner left them in, they must stay CANCELLED.
            with lock:
                victims = rnd.sample(ids, min(3, len(ids)))
            for tid in victims:
                r = st.delete("/api/tasks/" + tid)
                if r.status == 200:
                    cancelled.add(tid)
                else:
                    stack.eq(r.status, 409, "cancel %s" % tid)
            time.sleep(rnd.uniform(0, 0.5))
            st.start_runner()
        for t in threads:
            t.join(300)
        stack.check(not errors, "submit failures: %s", errors[:3])
        stack.eq(len(ids), N, "tasks acknowledged")

        # Drain: the last runner recovers what the dead ones held.
        deadline = time.time() + 300
        while True:
            by = st.get("/api/stats").json()["by_status"]
            if by["PENDING"] == 0 and by["RUNNING"] == 0:
                break
            stack.check(time.time() < deadline, "not drained: %r", by)
            time.sleep(0.2)

        tasks = all_tasks(st)
        stack.eq(len(tasks), N, "tasks stored")
        runs = trace_counts(trace)
        outcome = {"SUCCESS": 0, "FAILED": 0, "CANCELLED": 0}
        for tid in ids:
            t = tasks.get(tid)
            stack.check(t is not None, "task %s lost", tid)
            n = runs.get(tid, 0)
            stack.check(n <= 1, "task %s ran %d times", tid, n)
            outcome[t["status"]] = outcome.get(t["status"], 0) + 1
            if tid in cancelled:
                stack.eq(t["status"], "CANCELLED", "cancelled task %s" % tid)
            elif t["status"] == "SUCCESS":
                stack.eq(n, 1, "runs of successful task %s" % tid)
            elif t["status"] == "FAILED":
                stack.eq(t["error_message"], "runner lost", "error of %s" % tid)
            else:
                raise AssertionError("task %s ended %s" % (tid, t["status"]))
        stack.check(not set(runs) - set(ids), "trace names unknown tasks")
        print("%d tasks, %d kill -9 of the runner: %d SUCCESS, %d FAILED \"runner lost\", "
              "%d CANCELLED (%d cancelled by the test), none lost, none run twice"
              % (N, kills_done, outcome["SUCCESS"], outcome["FAILED"], outcome["CANCELLED"],
                 len(cancelled)))
    finally:
        st.cleanup()


if __name__ == "__main__":
    suite.finish()
