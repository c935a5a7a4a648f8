"""A task's child is bounded: its timeout, memory limit, a crash, an exit
without a result and a temporary failure each end the task with a clear
outcome while the runner carries on; its stderr is kept, bounded."""

import atexit
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from runnerctl import Ctl, start_runner, task_children, runner_stack, wait_gone  # noqa: E402

suite = stack.Suite("test_runner_limits")
OPTS = ["slots=4", "shutdown_grace_s=1", "kill_grace_s=1", "child_max_memory=256M",
        "retry_base_ms=50", "retry_max_ms=200"]

st = runner_stack(OPTS, hooks=True)
atexit.register(st.cleanup)
ctl = Ctl(st)
runner = start_runner(st)


def hook(name, **kw):
    return ctl.submit("echo", {"message": "__taskq_test_%s__" % name}, **kw)


def runner_still_works():
    stack.check(runner.poll() is None, "runner exited with %r", runner.returncode)
    t = ctl.wait(ctl.submit_echo(1, 0, "after")[0])
    stack.eq(t["status"], "SUCCESS", "a plain task afterwards")


@suite.test
def timeout_kills_and_fails():
    tid = ctl.submit_echo(1, 30000, timeout_s=1)[0]
    t0 = time.time()
    t = ctl.wait(tid, 10)
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["error_message"], "timed out after 1 s", "error")
    stack.check(time.time() - t0 < 3, "took %.1fs", time.time() - t0)
    runner_still_works()


@suite.test
def timeout_of_a_child_ignoring_sigterm():
    tid = hook("hang", timeout_s=1)
    t = ctl.wait(tid, 10)
    stack.eq(t["error_message"], "timed out after 1 s", "error")
    wait_gone(task_children(runner.pid), 2.0)


@suite.test
def memory_limit_stops_a_runaway_child():
    if os.environ.get("TASKQ_SANITIZERS") == "1":
        # RLIMIT_AS and ASan's shadow memory do not mix (runner/child.c).
        print("skipped memory_limit_stops_a_runaway_child: child_max_memory is "
              "not applied under AddressSanitizer (TASKQ_SANITIZERS=1)")
        return
    t = ctl.wait(hook("alloc"), 30)
    stack.eq(t["status"], "FAILED", "status")
    stack.check("out of memory" in t["error_message"] and "child_max_memory" in t["error_message"],
                "error %r", t["error_message"])
    runner_still_works()


@suite.test
def crash_is_reported_with_its_signal():
    t = ctl.wait(hook("crash"))
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["error_message"], "worker crashed (signal 11)", "error")
    runner_still_works()


@suite.test
def exit_without_result():
    t = ctl.wait(hook("exit"))
    stack.eq(t["error_message"], "worker exited with status 3 without a result", "error")


@suite.test
def requested_failure():
    tid = ctl.submit("echo", {"message": "x", "fail": True})
    t = ctl.wait(tid)
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["error_message"], "requested failure", "error")
    stack.eq(t["attempt"], 1, "a permanent failure is not retried")


@suite.test
def temporary_failure_retried_with_backoff_until_exhausted():
    t0 = time.time()
    t = ctl.wait(hook("tempfail", max_attempts=3), 20)
    # Retries are due within retry_max_ms: the runner wakes for them.
    # (Under AddressSanitizer each of the three forks is much slower.)
    limit = 3.0 if os.environ.get("TASKQ_SANITIZERS") == "1" else 1.0
    stack.check(time.time() - t0 < limit, "took %.2fs", time.time() - t0)
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["attempt"], 3, "attempts used")
    stack.check("temporary" in t["error_message"], "error %r", t["error_message"])


@suite.test
def stderr_tail_is_kept_bounded():
    t = ctl.wait(hook("stderr"))
    stack.eq(t["status"], "SUCCESS", "status")
    out = t["worker_output"]
    stack.eq(len(out), 65536, "bytes kept")
    stack.check(out.endswith("__taskq_test_stderr__ done\n"), "tail %r", out[-60:])


@suite.test
def echo_result_and_other_types():
    t = ctl.wait(ctl.submit("echo", {"message": "hi", "delay_ms": 120}))
    stack.eq(t["status"], "SUCCESS", "status")
    stack.eq(t["result_data"]["message"], "hi", "message")
    stack.check(t["result_data"]["elapsed_ms"] >= 120, "elapsed %r", t["result_data"])
    stack.eq(t["progress"], 100, "progress")
    # The other types run too (tests/integration/test_workers_*.py in depth).
    t = ctl.wait(ctl.submit("email", {"to": "a@example.com", "subject": "s", "body": "b"}))
    stack.eq(t["status"], "SUCCESS", "email status")
    stack.eq(t["result_data"]["transport"], "maildir", "email transport")


@suite.test
def sigterm_exits_zero_and_removes_its_row():
    stack.eq(len(ctl.runners()), 1, "runner rows")
    stack.eq(st._terminate(runner), 0, "exit status")
    stack.eq(ctl.runners(), [], "runner rows after exit")


suite.finish()
