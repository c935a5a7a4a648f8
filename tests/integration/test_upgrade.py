"""Upgrades: a database written by schema version 1 (built from
tests/unit/fixtures/schema_v1.sql) is migrated by `taskq migrate`, and also
by taskq-api and taskq-runner when they open it; its tasks, counts, pauses
and files survive and full-text search covers the old rows."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Suite, check, eq  # noqa: E402

FIXTURE = os.path.join(stack.SRCDIR, "tests", "unit", "fixtures", "schema_v1.sql")
TMP = tempfile.mkdtemp(prefix="taskq-upgrade-")
SUCCESS_ID = "11111111-1111-4111-8111-111111111111"
FAILED_ID = "22222222-2222-4222-8222-222222222222"
PENDING_ID = "33333333-3333-4333-8333-333333333333"
ALL_IDS = {SUCCESS_ID, FAILED_ID, PENDING_ID, "44444444-4444-4444-8444-444444444444"}

suite = Suite("test_upgrade")


def make_v1(path):
    with open(FIXTURE) as f:
        sql = f.read()
    con = sqlite3.connect(path)
    try:
        con.executescript(sql)
        con.commit()
        eq(con.execute("PRAGMA user_version").fetchone()[0], 1, "fixture version")
    finally:
        con.close()


def taskq(db, *args, want=0):
    p = subprocess.run([stack.binary("taskq"), "-d", db] + list(args), capture_output=True, timeout=60)
    if p.returncode != want:
        raise AssertionError("taskq %s: exit %d, want %d: %s %s"
                             % (" ".join(args), p.returncode, want, p.stdout, p.stderr))
    return p.stdout.decode(), p.stderr.decode()


@suite.test
def test_cli_refuses_old_schema_until_migrated():
    db = os.path.join(TMP, "cli.db")
    make_v1(db)
    _, err = taskq(db, "list", want=1)
    check("taskq migrate" in err and "older" in err, err)
    con = sqlite3.connect(db)
    eq(con.execute("PRAGMA user_version").fetchone()[0], 1, "list must not migrate")
    con.close()


@suite.test
def test_cli_migrate_then_list():
    db = os.path.join(TMP, "cli.db")
    if not os.path.exists(db):
        make_v1(db)
    out, _ = taskq(db, "migrate")
    check("migrated from schema version 1 to" in out, out)
    doc = json.loads(taskq(db, "--json", "migrate")[0])
    eq(doc["from"], doc["to"], "second migrate is a no-op")
    tasks = json.loads(taskq(db, "--json", "list")[0])["tasks"]
    eq({t["id"] for t in tasks}, ALL_IDS, "tasks kept")
    eq(tasks[-1]["id"], SUCCESS_ID, "oldest last")
    failed = json.loads(taskq(db, "--json", "show", FAILED_ID)[0])
    eq(failed["error_message"], "smtp timeout talking to relay", "error kept")
    eq(failed["attempt"], 3, "attempt kept")
    found = json.loads(taskq(db, "--json", "list", "--q", "invoice")[0])["tasks"]
    eq([t["id"] for t in found], [SUCCESS_ID], "full-text over old rows")
    found = json.loads(taskq(db, "--json", "list", "--q", "smtp timeout")[0])["tasks"]
    eq([t["id"] for t in found], [FAILED_ID], "full-text over old errors")
    stats = json.loads(taskq(db, "--json", "stats")[0])
    eq(stats["by_status"], {"PENDING": 1, "RUNNING": 0, "SUCCESS": 1, "FAILED": 1, "CANCELLED": 1}, "counts")
    eq(stats["by_type"]["email"]["paused"], True, "pause kept")
    eq(json.loads(taskq(db, "--json", "check")[0]), {"ok": True, "problems": []}, "check")
    r = json.loads(taskq(db, "--json", "retry", FAILED_ID)[0])
    eq(r["retry_of"], FAILED_ID, "retry of an old task")


@suite.test
def test_api_and_runner_migrate_on_open():
    state = os.path.join(TMP, "stack")
    os.makedirs(state)
    make_v1(os.path.join(state, "taskq.db"))
    s = stack.Stack(runners=1, state_dir=state, runner_options=["poll_interval_ms=50"])
    with s:
        r = s.get("/api/tasks/?limit=10")
        eq(r.status, 200, "list status")
        eq({t["id"] for t in r.json()["tasks"]}, ALL_IDS, "tasks through the API")
        r = s.get("/api/tasks/" + SUCCESS_ID)
        eq(r.status, 200, "get")
        eq(r.json()["result_data"], {"message": "quarterly invoice", "elapsed_ms": 3}, "result kept")
        r = s.get("/api/tasks/?q=invoice")
        eq([t["id"] for t in r.json()["tasks"]], [SUCCESS_ID], "search")
        # The old PENDING echo task is claimed and run by the new runner.
        done = s.wait_for(PENDING_ID)
        eq(done["status"], "SUCCESS", "old pending task ran")
        eq(done["result_data"]["message"], "waiting patiently", "its result")
        new = s.submit("echo", {"message": "after upgrade"})
        eq(s.wait_for(new["id"])["status"], "SUCCESS", "new task")
        stats = s.get("/api/stats").json()
        eq(stats["by_status"]["SUCCESS"], 3, "counts after upgrade")
        # Migration 3 filled the duration histogram from the old rows (1 s
        # each in the fixture); the two new runs are fast.
        text = s.get("/api/metrics").body.decode()
        for line in ('taskq_tasks_finished_total{task_type="echo",outcome="SUCCESS"} 3',
                     'taskq_task_duration_seconds_bucket{task_type="echo",outcome="SUCCESS",le="0.500"} 2',
                     'taskq_task_duration_seconds_bucket{task_type="echo",outcome="SUCCESS",le="1.000"} 3',
                     'taskq_task_duration_seconds_bucket{task_type="email",outcome="FAILED",le="0.500"} 0',
                     'taskq_task_duration_seconds_bucket{task_type="email",outcome="FAILED",le="1.000"} 1'):
            check(line in text.splitlines(), "metrics lack %r", line)
    con = sqlite3.connect(os.path.join(state, "taskq.db"))
    try:
        check(con.execute("PRAGMA user_version").fetchone()[0] >= 2, "migrated")
        eq(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)], "integrity")
    finally:
        con.close()


try:
    suite.finish()
finally:
    if os.environ.get("TASKQ_KEEP_STATE") != "1":
        shutil.rmtree(TMP, ignore_errors=True)
