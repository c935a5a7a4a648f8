"""taskq on PostgreSQL, scaled out: nginx load-balancing over two taskq-api
processes, runners on the same database, a throwaway PostgreSQL server
(pgserver.py).

- the API works through either process, and nginx moves on to the other
  when one stops;
- an idle runner is woken by NOTIFY (LISTEN on its store connection), not
  its poll, also after the server restarted;
- four runners run 10,000 tasks, each task's side effect (the echo
  worker's TASKQ_ECHO_TRACE line) exactly once;
- PostgreSQL restarted (pg_ctl restart -m fast) in the middle of a run:
  while it is down the API answers 503 with Retry-After, and afterwards
  every acknowledged task is there and finishes, each run exactly once.

Skipped (exit 77) without the PostgreSQL server binaries.  TASKQ_PG_CLUSTER_N
changes the 10,000."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
import stack  # noqa: E402
from runnerctl import Ctl, trace_counts  # noqa: E402

why = pgserver.available()
if why:
    print("SKIP: %s" % why)
    sys.exit(77)

# Under AddressSanitizer (TASKQ_SANITIZERS=1) every fork is slow: 2,000.
N = int(os.environ.get("TASKQ_PG_CLUSTER_N",
                       "2000" if os.environ.get("TASKQ_SANITIZERS") == "1" else "10000"))
suite = stack.Suite("test_pg_cluster")


class PgStack(stack.Stack):
    """A Stack on a PostgreSQL database with several taskq-api processes,
    each on its own socket, behind one nginx upstream."""

    def __init__(self, url, apis=2, **kw):
        super().__init__(**kw)
        self.db = url
        self.apis_wanted = apis
        self.api_procs = []
        self.socks = []
        self.trace = os.path.join(self.state, "trace")

    def start_api(self):
        for i in range(self.apis_wanted):
            self.sock = os.path.join(self.state, "api%d.sock" % i)
            super().start_api()
            self.api_procs.append(self.api)
            self.socks.append(self.sock)

    def start_nginx(self):
        # The dev template's upstream has one "server unix:@API_SOCKET@;".
        self.sock = ";\n        server unix:".join(self.socks)
        try:
            super().start_nginx()
        finally:
            self.sock = self.socks[0]

    def stop(self):
        # self.api is the last one started; stop every one of them.
        for p in self.api_procs[:-1]:
            self._terminate(p)
        return super().stop()


def pg_stack(pg, runners, apis=2):
    os.environ["TASKQ_ECHO_TRACE"] = ""
    # Each API thread holds a server connection: 8 each keeps two APIs,
    # runners and the test's own well under max_connections.
    st = PgStack(pg.url, apis=apis, runners=runners, api_options=["api_threads=8"],
                 runner_options=["slots=4", "poll_interval_ms=200", "shutdown_grace_s=1"])
    os.environ["TASKQ_ECHO_TRACE"] = st.trace
    os.environ.pop("TASKQ_TEST_HOOKS", None)
    return st


def reset(pg):
    pg.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


with pgserver.PgServer() as pg:

    @suite.test
    def two_apis_behind_nginx_three_runners():
        reset(pg)
        st = pg_stack(pg, runners=3)
        with st:
            ids = [st.submit("echo", {"message": "cluster %d" % i})["id"] for i in range(60)]
            for tid in ids:
                t = st.wait_for(tid, timeout=60)
                stack.eq(t["status"], "SUCCESS", "status of %s" % tid)
            r = st.get("/api/tasks?q=cluster&limit=100")
            stack.eq(r.status, 200, "search")
            stack.eq(len(r.json()["tasks"]), 60, "tasks found by a word")
            stats = st.get("/api/stats").json()
            print("  stats: %s" % {k: v for k, v in stats.items() if k != "types"})
            # The run-time histogram, kept by the PostgreSQL schema too.
            r = st.get("/api/metrics")
            stack.eq(r.status, 200, "metrics")
            lines = r.body.decode("utf-8").splitlines()
            hist = 'task_type="echo",outcome="SUCCESS"'
            for want in ('taskq_task_duration_seconds_bucket{%s,le="+Inf"} 60' % hist,
                         'taskq_task_duration_seconds_count{%s} 60' % hist,
                         'taskq_tasks_finished_total{%s} 60' % hist):
                stack.check(want in lines, "no %r in /api/metrics:\n%s", want,
                            "\n".join(l for l in lines if "duration" in l))
            # One API process gone: nginx passes everything to the other.
            st._terminate(st.api_procs[0])
            for i in range(20):
                r = st.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "after"}})
                stack.eq(r.status, 201, "submit with one API left")
            stack.eq(st.get("/api/health").status, 200, "health")
            stack.check(len(trace_counts(st.trace)) >= 60, "trace lines")

    @suite.test
    def notify_wakes_an_idle_runner_long_before_its_poll():
        reset(pg)
        st = PgStack(pg.url, apis=1, runners=0, api_options=["api_threads=8"],
                     runner_options=["poll_interval_ms=30s", "shutdown_grace_s=1"])
        with st:
            ctl = Ctl(st)
            ctl.counts()
            st.start_runner()
            time.sleep(0.5)
            lat = json.loads(ctl.run("latency", 20))
            print("  dispatch with a 30 s poll: p50 %.0f ms, p90 %.0f ms, max %.0f ms"
                  % (lat["dispatch_ms_p50"], lat["dispatch_ms_p90"], lat["dispatch_ms_max"]))
            stack.check(lat["dispatch_ms_max"] < 5000, "a task waited for the poll: %r", lat)
            # After a server restart the runner listens again, and looks
            # once for what it missed while away (at its next heartbeat).
            pg.restart()
            lat = json.loads(ctl.run("latency", 3))
            print("  right after a restart: max %.0f ms" % lat["dispatch_ms_max"])
            stack.check(lat["dispatch_ms_max"] < 15000, "waited for the poll: %r", lat)
            lat = json.loads(ctl.run("latency", 10))
            stack.check(lat["dispatch_ms_p90"] < 1000,
                        "no wake-up after the restart: %r", lat)

    @suite.test
    def four_runners_run_10000_tasks_exactly_once():
        reset(pg)
        st = pg_stack(pg, runners=0, apis=1)
        with st:
            ctl = Ctl(st)
            ids = ctl.submit_echo(N, 0)
            stack.eq(len(ids), N, "submitted")
            t0 = time.time()
            for _ in range(4):
                st.start_runner()
            ctl.wait_all(300)
            took = time.time() - t0
            final = ctl.statuses()
            bad = [t for t in ids if final[t]["status"] != "SUCCESS"]
            stack.check(not bad, "%d not SUCCESS, e.g. %r", len(bad), final[bad[0]] if bad else None)
            trace = trace_counts(st.trace)
            twice = [t for t in ids if trace.get(t) != 1]
            stack.check(not twice, "%d tasks ran != 1 times, e.g. %r", len(twice),
                        [(t, trace.get(t)) for t in twice[:5]])
            owners = {v["claim_owner"] for v in final.values()} - {None}
            print("  %d tasks in %.1fs (%.0f/s) over %d runners" % (N, took, N / took, len(owners)))
            stack.eq(len(ctl.runners()), 4, "runner rows")
            counts = ctl.counts()
            print("  counts: %r" % counts)

    @suite.test
    def postgres_restart_loses_no_acknowledged_task():
        reset(pg)
        st = pg_stack(pg, runners=3)
        acked, unavailable, other = [], [], []
        stop = threading.Event()

        def submitter(k):
            i = 0
            while not stop.is_set():
                try:
                    r = st.post("/api/tasks/submit",
                                {"task_type": "echo", "parameters": {"message": "r%d-%d" % (k, i)}},
                                timeout=30)
                except OSError as e:
                    other.append(repr(e))
                    continue
                i += 1
                if r.status == 201:
                    acked.append(r.json()["id"])
                elif r.status == 503:
                    unavailable.append(r.headers.get("retry-after"))
                    time.sleep(0.05)
                else:
                    other.append((r.status, r.body[:200]))

        with st:
            threads = [threading.Thread(target=submitter, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            time.sleep(2)
            before = len(acked)
            pg.restart()
            time.sleep(3)
            stop.set()
            for t in threads:
                t.join(60)
            print("  %d acknowledged (%d before the restart), %d answered 503, %d other"
                  % (len(acked), before, len(unavailable), len(other)))
            stack.check(not other, "unexpected answers: %r", other[:5])
            stack.check(all(ra for ra in unavailable), "a 503 without Retry-After")
            stack.check(len(acked) > before, "no submit succeeded after the restart")
            ctl = Ctl(st)
            deadline = time.time() + 90
            while True:
                final = ctl.statuses()
                missing = [t for t in acked if t not in final]
                stack.check(not missing, "%d acknowledged tasks lost, e.g. %s", len(missing),
                            missing[:3])
                left = [t for t in acked if final[t]["status"] != "SUCCESS"]
                if not left:
                    break
                if time.time() > deadline:
                    raise AssertionError("%d tasks not SUCCESS, e.g. %r" % (len(left), final[left[0]]))
                time.sleep(0.5)
            trace = trace_counts(st.trace)
            twice = [t for t in acked if trace.get(t) != 1]
            stack.check(not twice, "%d tasks ran != 1 times, e.g. %r", len(twice),
                        [(t, trace.get(t)) for t in twice[:5]])
            for i in range(3):
                stack.check(st.get("/api/health").status == 200, "health after restart")

suite.finish()
