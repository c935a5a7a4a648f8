"""Several runners on one database run each task exactly once; SIGTERM
drains (running tasks finish or are re-queued, exit status 0); SIGHUP
reloads the slot count."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from runnerctl import Ctl, task_children, runner_stack, start_runner, trace_counts  # noqa: E402

suite = stack.Suite("test_runner_many")
N = int(os.environ.get("TASKQ_RUNNER_MANY", "10000"))
# Under AddressSanitizer (TASKQ_SANITIZERS=1) a fork and a child's start
# take several times longer: stretch the drain test's times with it.
SLOW = 4 if os.environ.get("TASKQ_SANITIZERS") == "1" else 1


@suite.test
def four_runners_run_each_task_exactly_once():
    st = runner_stack(["slots=2", "shutdown_grace_s=1"])
    try:
        ctl = Ctl(st)
        ids = ctl.submit_echo(N, 0)
        t0 = time.time()
        for _ in range(4):
            start_runner(st)
        ctl.wait_all(400)  # 10 to 110 s seen; generous for a loaded machine
        took = time.time() - t0
        final = ctl.statuses()
        trace = trace_counts(st.trace)
        bad = [t for t in ids if final[t]["status"] != "SUCCESS"]
        stack.check(not bad, "%d not SUCCESS, e.g. %r", len(bad), final[bad[0]] if bad else None)
        twice = [t for t in ids if trace.get(t) != 1]
        stack.check(not twice, "%d tasks ran != 1 times, e.g. %r", len(twice),
                    [(t, trace.get(t)) for t in twice[:5]])
        stack.eq(len(trace), N, "distinct tasks traced")
        owners = {v["claim_owner"] for v in final.values()} - {None}
        runners = {r["id"] for r in ctl.runners()}
        print("  %d tasks in %.1fs (%.0f/s) over %d runners" % (N, took, N / took, len(runners)))
        stack.eq(len(runners), 4, "runner rows")
        for p in st.runner_procs:
            stack.eq(st._terminate(p), 0, "exit status")
        stack.eq(ctl.runners(), [], "runner rows after exit")
        del owners
    finally:
        st.cleanup()


@suite.test
def sigterm_drains_then_requeues_the_rest():
    st = runner_stack(["slots=4", "shutdown_grace_s=%d" % SLOW, "kill_grace_s=1"])
    try:
        ctl = Ctl(st)
        short = ctl.submit_echo(2, 400 * SLOW)
        long_ = ctl.submit_echo(2, 30000)
        r = start_runner(st)
        ctl.wait_counts(lambda c: c["RUNNING"] == 4, 10 * SLOW)
        kids = task_children(r.pid)
        stack.eq(len(kids), 4, "children")
        pending = ctl.submit_echo(3, 0)  # not claimed once draining... or run before
        t0 = time.time()
        r.send_signal(signal.SIGTERM)
        rc = r.wait(10)
        took = time.time() - t0
        stack.eq(rc, 0, "exit status")
        stack.check(took < 3.5 * SLOW, "drain took %.1fs", took)
        for tid in short:
            stack.eq(ctl.get(tid)["status"], "SUCCESS", "short task")
        for tid in long_:
            t = ctl.get(tid)
            stack.eq(t["status"], "PENDING", "long task requeued")
            stack.eq(t["attempt"], 2, "its attempt")
        for pid in kids:
            stack.check(not os.path.exists("/proc/%d" % pid) or
                        open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] == "Z",
                        "child %d survived", pid)
        stack.eq(ctl.runners(), [], "runner rows after exit")
        # A new runner picks the requeued tasks up.
        start_runner(st, ["shutdown_grace_s=0"])
        for tid in pending:
            stack.eq(ctl.wait(tid)["status"], "SUCCESS", "pending task")
    finally:
        st.cleanup()


@suite.test
def sighup_reloads_slots():
    st = runner_stack(["heartbeat_interval_s=1", "stale_after_s=3", "shutdown_grace_s=0"])
    conf = os.path.join(st.state, "taskq.conf")
    try:
        with open(conf, "w") as f:
            f.write("slots = 1\n")
        ctl = Ctl(st)
        st.runner_options = []
        p = st.start_runner(["slots=1"])
        # -f is not in the harness's command line: restart with it.
        st._terminate(p)
        st.runner_procs = []
        import subprocess
        cmd = [stack.binary("taskq-runner"), "-f", conf, "-d", st.db, "-s", st.state]
        p = subprocess.Popen(cmd, stdout=st._log("runner-hup"), stderr=subprocess.STDOUT)
        st.runner_procs.append(p)
        ctl.submit_echo(3, 3000)
        ctl.wait_counts(lambda c: c["RUNNING"] == 1, 10)
        time.sleep(0.5)
        stack.eq(ctl.counts()["RUNNING"], 1, "running with 1 slot")
        with open(conf, "w") as f:
            f.write("slots = 3\n")
        p.send_signal(signal.SIGHUP)
        ctl.wait_counts(lambda c: c["RUNNING"] == 3, 5)
        stack.check("reloaded: 3 slots" in st.read_log("runner-hup"), "log")
        # A bad file is refused and the old configuration kept.
        with open(conf, "w") as f:
            f.write("slots = lots\n")
        p.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        stack.check(p.poll() is None, "runner died on a bad reload")
        stack.check("reload failed" in st.read_log("runner-hup"), "log")
    finally:
        st.cleanup()


suite.finish()
