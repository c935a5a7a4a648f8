#!/usr/bin/env python3
"""Sustained load: 4 runners and 64 concurrent API clients through nginx for
TASKQ_LOAD_SECONDS (20 in the check; docs/SECURITY.md has a 60 s run).
Each client submits echo tasks, reads them back, lists, reads the stats
and cancels some of its own, over one kept-alive connection; a 503 (the
database busy) is a busy retry, honoured after its Retry-After (capped at
0.5 s) and counted.  Afterwards: no response was another 5xx, no task is
lost (every 201 is stored), none ran twice (the echo trace) and every one
ended SUCCESS, or CANCELLED when this test cancelled it.  Prints requests,
throughput, p50/p99 latency per kind of request and the busy retries.
"""

import http.client
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from runnerctl import trace_counts  # noqa: E402

SECONDS = float(os.environ.get("TASKQ_LOAD_SECONDS", "20"))
CLIENTS = int(os.environ.get("TASKQ_LOAD_CLIENTS", "64"))
RUNNERS = 4
OPTS = ["slots=4", "shutdown_grace_s=5"]

suite = stack.Suite("test_fault_load")


class Client(threading.Thread):
    def __init__(self, st, k, until):
        super().__init__()
        self.st, self.k, self.until = st, k, until
        self.rnd = random.Random(k)
        self.lat = {}          # kind -> [seconds]
        self.busy = 0
        self.bad = []          # unexpected responses
        self.ids = []          # acknowledged submits
        self.cancelled = set()
        self.conn = None

    def call(self, kind, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        while True:
            t0 = time.monotonic()
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.st.port, timeout=30)
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                payload = r.read()
            except (OSError, http.client.HTTPException) as e:
                self.bad.append("%s %s: %r" % (method, path, e))
                self.conn = None
                return None, None
            self.lat.setdefault(kind, []).append(time.monotonic() - t0)
            if r.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            if r.status == 503:
                self.busy += 1
                time.sleep(min(float(r.getheader("Retry-After") or 1), 0.5))
                continue
            return r.status, payload

    def run(self):
        while time.monotonic() < self.until:
            x = self.rnd.random()
            if x < 0.5 or not self.ids:
                st, body = self.call("submit", "POST", "/api/tasks/submit", {
                    "task_type": "echo", "max_attempts": 1,
                    "parameters": {"message": "c%d" % self.k,
                                   "delay_ms": self.rnd.choice((0, 0, 10, 50, 200))}})
                if st == 201:
                    self.ids.append(json.loads(body)["id"])
                elif st is not None:
                    self.bad.append("submit -> %d %s" % (st, body[:200]))
            elif x < 0.75:
                st, body = self.call("get", "GET", "/api/tasks/" + self.rnd.choice(self.ids))
                if st != 200 and st is not None:
                    self.bad.append("get -> %d %s" % (st, body[:200]))
            elif x < 0.87:
                st, body = self.call("list", "GET", "/api/tasks?limit=50&status=PENDING,RUNNING")
                if st != 200 and st is not None:
                    self.bad.append("list -> %d %s" % (st, body[:200]))
            elif x < 0.95:
                st, body = self.call("stats", "GET", "/api/stats")
                if st != 200 and st is not None:
                    self.bad.append("stats -> %d %s" % (st, body[:200]))
            else:
                tid = self.rnd.choice(self.ids)
                st, body = self.call("cancel", "DELETE", "/api/tasks/" + tid)
                if st == 200:
                    self.cancelled.add(tid)
                elif st != 409 and st is not None:
                    self.bad.append("cancel -> %d %s" % (st, body[:200]))
        if self.conn is not None:
            self.conn.close()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


@suite.test
def sustained_load_4_runners_64_clients():
    st = stack.Stack(runners=0, runner_options=OPTS)
    trace = os.path.join(st.state, "trace")
    os.environ["TASKQ_ECHO_TRACE"] = trace
    os.environ.pop("TASKQ_TEST_HOOKS", None)
    st.start()
    try:
        for _ in range(RUNNERS):
            st.start_runner()
        until = time.monotonic() + SECONDS
        clients = [Client(st, k, until) for k in range(CLIENTS)]
        t0 = time.monotonic()
        for c in clients:
            c.start()
        for c in clients:
            c.join(SECONDS + 120)
        elapsed = time.monotonic() - t0

        bad = [b for c in clients for b in c.bad]
        stack.check(not bad, "%d unexpected responses, e.g. %s", len(bad), bad[:5])
        for i, p in enumerate(st.runner_procs):
            stack.check(p.poll() is None, "runner %d exited with %r", i, p.returncode)
        stack.check(st.api.poll() is None, "taskq-api exited")

        deadline = time.time() + 300
        while True:
            by = st.get("/api/stats").json()["by_status"]
            if by["PENDING"] == 0 and by["RUNNING"] == 0:
                break
            stack.check(time.time() < deadline, "not drained: %r", by)
            time.sleep(0.2)

        ids = [t for c in clients for t in c.ids]
        cancelled = set().union(*(c.cancelled for c in clients))
        runs = trace_counts(trace)
        by = st.get("/api/stats").json()["by_status"]
        stack.eq(sum(by.values()), len(ids), "tasks stored")
        for tid in ids:
            r = st.get("/api/tasks/" + tid)
            stack.eq(r.status, 200, "task %s" % tid)
            t = r.json()
            n = runs.get(tid, 0)
            stack.check(n <= 1, "task %s ran %d times", tid, n)
            if tid in cancelled:
                stack.eq(t["status"], "CANCELLED", "cancelled %s" % tid)
            else:
                stack.eq((t["status"], n), ("SUCCESS", 1), "task %s" % tid)

        lat = {}
        for c in clients:
            for kind, v in c.lat.items():
                lat.setdefault(kind, []).extend(v)
        total = sum(len(v) for v in lat.values())
        busy = sum(c.busy for c in clients)
        print("load: %d clients, %d runners, %.0f s: %d requests (%.0f/s), %d tasks "
              "(%d cancelled), %d busy retries (503), no other 5xx, none lost, none run twice"
              % (CLIENTS, RUNNERS, elapsed, total, total / elapsed, len(ids), len(cancelled), busy))
        for kind in sorted(lat):
            v = lat[kind]
            print("  %-7s %6d requests  p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
                  % (kind, len(v), pct(v, 0.5) * 1000, pct(v, 0.99) * 1000, max(v) * 1000))
        allv = [x for v in lat.values() for x in v]
        print("  all     %6d requests  p50 %6.1f ms  p99 %6.1f ms"
              % (len(allv), pct(allv, 0.5) * 1000, pct(allv, 0.99) * 1000))
    finally:
        st.cleanup()


if __name__ == "__main__":
    suite.finish()
