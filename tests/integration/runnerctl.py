"""Helpers shared by the runner's integration tests (test_runner_*.py): drive
the store through taskq-testctl (so that they do not need taskq-api), read
the echo worker's trace file and find a runner's child processes."""

import json
import os
import subprocess
import time

import stack

ENV_HOOKS = {"TASKQ_TEST_HOOKS": "1"}


class Ctl:
    def __init__(self, st):
        self.st = st
        self.bin = stack.binary("tests/integration/taskq-testctl")

    def run(self, *args, timeout=120):
        for _ in range(50):
            p = subprocess.run([self.bin, self.st.db] + [str(a) for a in args],
                               capture_output=True, text=True, timeout=timeout)
            # Opening races with a process switching the file to WAL mode.
            if p.returncode == 0 or "journal_mode: database is locked" not in p.stderr:
                break
            time.sleep(0.05)
        if p.returncode != 0:
            raise AssertionError("taskq-testctl %s: %s" % (" ".join(map(str, args)), p.stderr))
        return p.stdout

    def submit_echo(self, n, delay_ms=0, message="hello", timeout_s=300, max_attempts=3):
        return self.run("submit-echo", n, delay_ms, message, timeout_s, max_attempts).split()

    def submit(self, task_type, params, timeout_s=300, max_attempts=3):
        return self.run("submit", task_type, json.dumps(params), timeout_s, max_attempts).split()[0]

    def get(self, tid):
        return json.loads(self.run("get", tid))

    def cancel(self, tid):
        return json.loads(self.run("cancel", tid))

    def wait(self, tid, timeout=30):
        return json.loads(self.run("wait", tid, timeout, timeout=timeout + 10))

    def wait_all(self, timeout=60):
        self.run("wait-all", timeout, timeout=timeout + 10)

    def statuses(self):
        return json.loads(self.run("statuses"))

    def counts(self):
        return json.loads(self.run("counts"))

    def runners(self):
        return json.loads(self.run("runners"))

    def wait_counts(self, pred, timeout=30):
        deadline = time.time() + timeout
        while True:
            c = self.counts()
            if pred(c):
                return c
            if time.time() > deadline:
                raise AssertionError("counts still %r after %ss" % (c, timeout))
            time.sleep(0.05)


def trace_counts(path):
    """How many times each task id appears in the echo trace."""
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                tid = line.strip()
                if tid:
                    counts[tid] = counts.get(tid, 0) + 1
    except FileNotFoundError:
        pass
    return counts


def children_of(pid):
    """Pids of the processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def _exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def task_children(runner_pid):
    """Pids of a runner's task children: those it forked itself, and those
    its fork server (taskq-spawner, a child of the runner) forked for it."""
    out = []
    for pid in children_of(runner_pid):
        if os.path.basename(_exe(pid)) == "taskq-spawner":
            out.extend(children_of(pid))
        else:
            out.append(pid)
    return out


def spawner_of(runner_pid):
    """The pid of a runner's taskq-spawner, or None."""
    for pid in children_of(runner_pid):
        if os.path.basename(_exe(pid)) == "taskq-spawner":
            return pid
    return None


def processes_mentioning(text):
    """Pids whose command line contains text (a test's unique state dir)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and int(d) != os.getpid():
            out.append(int(d))
    return out


def alive(pid):
    """Whether pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_gone(pids, timeout):
    """Waits until none of pids is alive; returns the seconds it took."""
    start = time.time()
    while any(alive(p) for p in pids):
        if time.time() - start > timeout:
            raise AssertionError("processes %r still alive after %ss" %
                                 ([p for p in pids if alive(p)], timeout))
        time.sleep(0.01)
    return time.time() - start


def start_runner(st, extra_options=(), timeout=10):
    """Starts one more runner and waits until it has registered its row."""
    ctl = Ctl(st)
    before = {r["id"] for r in ctl.runners()} if os.path.exists(st.db) else set()
    p = st.start_runner(extra_options)
    deadline = time.time() + timeout
    while True:
        if p.poll() is not None:
            raise AssertionError("taskq-runner exited with %s:\n%s" % (
                p.returncode, st.read_log("runner%d" % (len(st.runner_procs) - 1))))
        if os.path.exists(st.db) and {r["id"] for r in ctl.runners()} - before:
            return p
        if time.time() > deadline:
            raise AssertionError("taskq-runner did not register")
        time.sleep(0.02)


def runner_stack(runner_options=(), hooks=False, trace=True):
    """A Stack with no API or nginx: the tests start runners themselves."""
    st = stack.Stack(runners=0, runner_options=list(runner_options))
    if hooks:
        os.environ.update(ENV_HOOKS)
    else:
        os.environ.pop("TASKQ_TEST_HOOKS", None)
    st.trace = os.path.join(st.state, "trace")
    if trace:
        os.environ["TASKQ_ECHO_TRACE"] = st.trace
    else:
        os.environ.pop("TASKQ_ECHO_TRACE", None)
    return st
