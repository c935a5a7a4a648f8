"""taskq-runner survives its own death: kill -9 while 200 tasks run, restart,
and every task ends SUCCESS or FAILED "runner lost", none lost, none run in
two places at once, none that had succeeded run again."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from runnerctl import Ctl, start_runner, processes_mentioning, runner_stack, children_of, spawner_of, task_children, trace_counts, wait_gone  # noqa: E402

suite = stack.Suite("test_runner_crash")
FAST = ["heartbeat_interval_s=1", "stale_after_s=3", "shutdown_grace_s=1"]


def until(cond, timeout, step, what):
    """Polls cond() every step seconds until it returns true; fails with
    what() (the state it saw) after timeout seconds."""
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise AssertionError(what())
        time.sleep(step)


@suite.test
def kill9_while_200_run_then_restart():
    st = runner_stack(FAST + ["slots=200"])
    try:
        ctl = Ctl(st)
        ids = []
        # Staggered delays: some finish before the kill, most are mid-run.
        for delay in (100, 500, 2500, 3500):
            ids += ctl.submit_echo(40, delay)
        single = ctl.submit_echo(40, 3000, max_attempts=1)
        ids += single
        start_runner(st)
        ctl.wait_counts(lambda c: c["SUCCESS"] >= 40 and c["RUNNING"] > 0, 20)
        time.sleep(0.3)
        before = ctl.statuses()
        old = st.runner_procs[0]
        # Its children, under its spawner too (their command line is the
        # spawner's, which does not name the state directory).
        procs = task_children(old.pid)
        sp = spawner_of(old.pid)
        stack.check(sp is not None, "no spawner")
        stack.check(len(procs) > 50, "only %d children", len(procs))
        st.kill_runner(0, signal.SIGKILL)
        # PDEATHSIG: every child dies with its runner, before any restart.
        wait_gone(processes_mentioning(st.state) + procs + [sp], 2.0)
        survivors = ctl.statuses()
        done_before = {t for t, v in survivors.items() if v["status"] == "SUCCESS"}
        running_at_kill = [t for t, v in survivors.items() if v["status"] == "RUNNING"]
        stack.check(len(running_at_kill) > 50, "only %d running at the kill", len(running_at_kill))
        stack.check(old.returncode == -signal.SIGKILL, "runner rc %r", old.returncode)

        t0 = time.time()
        start_runner(st)
        ctl.wait_all(60)
        took = time.time() - t0
        final = ctl.statuses()
        stack.eq(len(final), len(ids), "tasks stored")
        trace = trace_counts(st.trace)
        lost = 0
        for tid in ids:
            t = final[tid]
            if t["status"] == "FAILED":
                stack.eq(t["error_message"], "runner lost", "error of %s" % tid)
                lost += 1
            else:
                stack.eq(t["status"], "SUCCESS", "status of %s" % tid)
                stack.check(trace.get(tid, 0) >= 1, "%s succeeded without running", tid)
            # Each execution consumed an attempt: a second run only after a kill.
            stack.check(trace.get(tid, 0) <= t["attempt"], "%s ran %d times in %d attempts",
                        tid, trace.get(tid, 0), t["attempt"])
        for tid in done_before:
            stack.eq(trace.get(tid), 1, "runs of %s, which had succeeded before the kill" % tid)
            stack.eq(final[tid]["attempt"], 1, "attempt of %s" % tid)
        # The max_attempts=1 tasks that were running cannot be retried.
        for tid in single:
            if tid in running_at_kill:
                stack.eq(final[tid]["status"], "FAILED", "single-attempt %s" % tid)
        stack.check(lost > 0, "no task ended 'runner lost'")
        # Recovery waits for the dead runner's heartbeat to go stale (3 s).
        stack.check(took < 20, "restart took %.1fs", took)
        print("  %d running at the kill, %d lost, recovered in %.1fs" % (len(running_at_kill), lost, took))
    finally:
        st.cleanup()


@suite.test
def spawner_killed_while_tasks_run():
    """kill -9 of the spawner: its children die with it, the runner requeues
    them (attempt 2), starts a new spawner and carries on."""
    st = runner_stack(FAST + ["slots=8"])
    try:
        ctl = Ctl(st)
        ids = ctl.submit_echo(8, 3000)
        r = start_runner(st)
        ctl.wait_counts(lambda c: c["RUNNING"] == 8, 20)
        # Each has started executing (the trace is its first act).
        until(lambda: len(trace_counts(st.trace)) >= 8, 20, 0.02,
              lambda: "not all started: %r" % trace_counts(st.trace))
        sp = spawner_of(r.pid)
        kids = task_children(r.pid)
        stack.check(sp is not None, "no spawner")
        stack.eq(len(kids), 8, "children")
        stack.check(all(k not in children_of(r.pid) for k in kids), "children not under the spawner")
        os.kill(sp, signal.SIGKILL)
        wait_gone(kids + [sp], 2.0)
        ctl.wait_all(60)
        trace = trace_counts(st.trace)
        for tid in ids:
            t = ctl.get(tid)
            stack.eq(t["status"], "SUCCESS", "status of %s" % tid)
            stack.eq(t["attempt"], 2, "attempt of %s" % tid)
            stack.eq(trace.get(tid, 0), 2, "runs of %s" % tid)
        stack.check(r.poll() is None, "runner exited")
        until(lambda: spawner_of(r.pid) not in (None, sp), 10, 0.05,
              lambda: "no new spawner")
        # The new one runs tasks.
        more = ctl.submit_echo(4, 0)
        ctl.wait_all(30)
        for tid in more:
            stack.eq(ctl.get(tid)["status"], "SUCCESS", "status of %s" % tid)
        log = st.read_log("runner0")
        stack.check("spawner" in log and "requeued" in log, "log:\n%s", log[-2000:])
        stack.check("its running tasks are requeued" in log and
                    "8 task(s) ran under the lost spawner" in log, "log:\n%s", log[-2000:])
    finally:
        st.cleanup()


@suite.test
def stale_runner_tasks_taken_over_by_another():
    st = runner_stack(FAST + ["slots=4"])
    try:
        ctl = Ctl(st)
        ids = ctl.submit_echo(4, 60000)
        a = start_runner(st)
        ctl.wait_counts(lambda c: c["RUNNING"] == 4, 10)
        # Freeze runner a (its children keep running but it stops beating).
        a.send_signal(signal.SIGSTOP)
        try:
            start_runner(st, ["slots=4"])
            # b recovers a's tasks once a's heartbeat is 3 s old and re-runs them.
            deadline = time.time() + 15
            while True:
                owners = {v["claim_owner"] for v in ctl.statuses().values() if v["status"] == "RUNNING"}
                attempts = {v["attempt"] for v in ctl.statuses().values()}
                if attempts == {2} and len(owners) == 1:
                    break
                if time.time() > deadline:
                    raise AssertionError("not taken over: %r %r" % (owners, attempts))
                time.sleep(0.1)
        finally:
            a.send_signal(signal.SIGCONT)
        # a notices its tasks are gone and stops its children, writing nothing.
        time.sleep(2)
        for tid in ids:
            t = ctl.get(tid)
            stack.eq(t["status"], "RUNNING", "status of %s" % tid)
            stack.eq(t["attempt"], 2, "attempt of %s" % tid)
        log = st.read_log("runner0")
        stack.check("taken over" in log, "runner a did not notice:\n%s", log[-2000:])
    finally:
        st.cleanup()


suite.finish()
