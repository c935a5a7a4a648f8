"""GET /api/metrics through nginx: the Prometheus text format (every sample
after its HELP and TYPE, labels escaped), exact task counts by type and
status, finished-task counters and the duration histogram by type and
outcome, paused types, the oldest pending task's age and the runners'
heartbeats."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, Suite, check, eq  # noqa: E402

suite = Suite("test_metrics")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? '
                    r'(-?[0-9.e+]+|\+Inf|NaN)$')


def parse(text):
    """{(name, frozenset(labels)): value}, checking the format line by line."""
    declared = {}
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            check(kind in ("counter", "gauge", "histogram"), line)
            declared[name] = kind
            continue
        m = SAMPLE.match(line)
        check(m is not None, "not a sample line: %r", line)
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in declared or (base in declared and declared[base] == "histogram"),
              "sample before its TYPE: %r", line)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples[(name, labels)] = float(m.group(4).replace("+Inf", "inf"))
    return samples


def get(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in samples, "no sample %s %s", name, labels)
    return samples[key]


@suite.test
def test_metrics_format_and_values():
    with Stack(runners=1, runner_options=["poll_interval_ms=50"]) as s:
        ok = [s.submit("echo", {"message": "m", "delay_ms": 300}) for _ in range(3)]
        bad = [s.submit("echo", {"message": "m", "fail": True}) for _ in range(2)]
        for t in ok + bad:
            s.wait_for(t["id"])
        eq(s.post("/api/task-types/email/pause").status, 200, "pause")
        s.submit("email", {"to": "a@example.org", "subject": "s", "body": "b"})

        r = s.get("/api/metrics")
        eq(r.status, 200, "status")
        eq(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8", "content type")
        m = parse(r.body.decode("utf-8"))

        eq(get(m, "taskq_tasks", task_type="echo", status="SUCCESS"), 3, "SUCCESS")
        eq(get(m, "taskq_tasks", task_type="echo", status="FAILED"), 2, "FAILED")
        eq(get(m, "taskq_tasks", task_type="email", status="PENDING"), 1, "PENDING")
        eq(get(m, "taskq_tasks_finished_total", task_type="echo", outcome="SUCCESS"), 3, "finished ok")
        eq(get(m, "taskq_tasks_finished_total", task_type="echo", outcome="FAILED"), 2, "finished failed")
        eq(get(m, "taskq_tasks_finished_recent", task_type="echo", window="1h"), 5, "finished 1h")
        eq(get(m, "taskq_tasks_failed_recent", task_type="echo", window="24h"), 2, "failed 24h")
        eq(get(m, "taskq_task_type_paused", task_type="email"), 1, "paused")
        eq(get(m, "taskq_task_type_paused", task_type="echo"), 0, "not paused")
        eq(get(m, "taskq_tasks", task_type="image_processing", status="PENDING"), 0, "zeros")

        # The 300 ms successes are above 0.25 s and within 0.5 s.
        h = dict(task_type="echo", outcome="SUCCESS")
        eq(get(m, "taskq_task_duration_seconds_bucket", le="0.250", **h), 0, "le 0.25")
        eq(get(m, "taskq_task_duration_seconds_bucket", le="0.500", **h), 3, "le 0.5")
        eq(get(m, "taskq_task_duration_seconds_bucket", le="+Inf", **h), 3, "+Inf")
        eq(get(m, "taskq_task_duration_seconds_count", **h), 3, "count")
        total = get(m, "taskq_task_duration_seconds_sum", **h)
        check(0.9 <= total < 1.5, "sum %s", total)
        buckets = sorted((float(dict(k[1])["le"].replace("+Inf", "inf")), v) for k, v in m.items()
                         if k[0] == "taskq_task_duration_seconds_bucket" and
                         dict(k[1]).get("outcome") == "FAILED")
        check(len(buckets) == 13, "13 buckets: %r", buckets)
        check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "cumulative: %r", buckets)

        age = get(m, "taskq_oldest_pending_age_seconds")
        check(0 <= age < 60, "oldest pending age %s", age)
        eq(get(m, "taskq_runners"), 1, "runners")
        beats = [v for k, v in m.items() if k[0] == "taskq_runner_heartbeat_age_seconds"]
        eq(len(beats), 1, "one heartbeat")
        check(0 <= beats[0] < 30, "heartbeat age %s", beats[0])

        r = s.post("/api/metrics", {})
        eq(r.status, 405, "POST")
        check("GET" in r.headers.get("allow", ""), r.headers)


@suite.test
def test_metrics_without_tasks():
    with Stack(runners=0) as s:
        r = s.get("/api/metrics")
        eq(r.status, 200, "status")
        m = parse(r.body.decode("utf-8"))
        eq(get(m, "taskq_runners"), 0, "no runners")
        eq(get(m, "taskq_oldest_pending_age_seconds"), 0, "nothing pending")


suite.finish()
