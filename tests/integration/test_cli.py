"""The taskq command against a temporary database: every command, its
--json output and its exit status (0 ok, 1 error, 2 usage, 3 not found,
4 conflict, 5 busy), the same validation messages as the API, and an online
backup taken while tasks are being written that opens and passes
integrity_check."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Suite, check, eq  # noqa: E402

TMP = tempfile.mkdtemp(prefix="taskq-cli-")
DB = os.path.join(TMP, "taskq.db")
CONF = os.path.join(TMP, "taskq.conf")
with open(CONF, "w") as f:
    f.write("database = %s\nstate_dir = %s\nbusy_timeout_ms = 300\n" % (DB, TMP))

suite = Suite("test_cli")


def taskq(*args, db=DB, want=0):
    """Runs taskq; checks the exit status; returns (stdout, stderr)."""
    cmd = [stack.binary("taskq")]
    if db is not None:
        cmd += ["-d", db]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    out, err = p.stdout.decode(), p.stderr.decode()
    if want is not None and p.returncode != want:
        raise AssertionError("%s: exit %d, want %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, want, out, err))
    return out, err


def tj(*args, **kw):
    out, _ = taskq("--json", *args, **kw)
    return json.loads(out)


def submit(*args):
    return tj("submit", *args)


@suite.test
def test_missing_database_is_not_created():
    _, err = taskq("list", want=1)
    check("taskq migrate" in err, err)
    check(not os.path.exists(DB), "list created the database")


@suite.test
def test_migrate_creates_then_is_up_to_date():
    out, _ = taskq("migrate")
    check("created" in out and "schema version" in out, out)
    doc = tj("migrate")
    eq(doc["from"], doc["to"], "from/to")
    check(doc["to"] >= 2, doc)


@suite.test
def test_usage_errors_exit_2():
    for args in (["frobnicate"], [], ["show"], ["list", "--status", "DONE"],
                 ["list", "--limit", "0"], ["purge"], ["stats", "extra"],
                 ["list", "--older-than", "1d"]):
        _, err = taskq(*args, want=2)
        check("usage: taskq" in err, err)
    out, _ = taskq("-h")
    check(out.startswith("usage: taskq"), out)


@suite.test
def test_submit_show_list():
    t = submit("echo", "message=hello cli", "delay_ms=0", "--priority", "5")
    eq(t["status"], "PENDING", "status")
    eq(t["parameters"], {"message": "hello cli", "delay_ms": 0, "fail": False}, "parameters")
    eq(t["priority"], 5, "priority")
    out, _ = taskq("submit", "echo", "message=plain")
    plain_id = out.strip()
    check(len(plain_id) == 36, out)
    shown = tj("show", t["id"].upper())
    eq(shown["id"], t["id"], "id")
    eq(shown["task_type"], "echo", "type")
    out, _ = taskq("show", t["id"])
    check("hello cli" in out and "PENDING" in out, out)
    listed = tj("list")["tasks"]
    eq([x["id"] for x in listed[:2]], [plain_id, t["id"]], "newest first")
    out, _ = taskq("list")
    lines = out.splitlines()
    check(lines[0].split() == ["ID", "TYPE", "STATUS", "PROGRESS", "ATTEMPT", "CREATED"], lines[0])
    # aligned: every row's STATUS column starts where the header's does
    col = lines[0].index("STATUS")
    for line in lines[1:]:
        check(line[col:].startswith("PENDING"), line)
    eq(len(tj("list", "--limit", "1")["tasks"]), 1, "limit")
    found = tj("list", "--q", "cli")["tasks"]
    eq([x["id"] for x in found], [t["id"]], "full-text")
    eq(tj("list", "--status", "SUCCESS,FAILED")["tasks"], [], "status filter")
    eq(len(tj("list", "--type", "echo", "-s", "PENDING")["tasks"]), len(listed), "type filter")
    _, err = taskq("list", "--type", "nope", want=2)
    check("nope" in err, err)


@suite.test
def test_submit_values_are_json_literals():
    t = submit("email", 'to=["a@example.org","b@example.org"]', "subject=hi", "body=text")
    eq(t["parameters"]["to"], ["a@example.org", "b@example.org"], "array")
    t = submit("echo", 'message="42"')
    eq(t["parameters"]["message"], "42", "quoted string")


@suite.test
def test_submit_validation_matches_api():
    cases = [
        (["echo"], {}),
        (["echo", "message=42"], {"message": 42}),
        (["echo", "message=x", "colour=red"], {"message": "x", "colour": "red"}),
        (["echo", "message=x", "delay_ms=-1"], {"message": "x", "delay_ms": -1}),
        (["email", "to=not-an-address", "subject=s", "body=b"],
         {"to": "not-an-address", "subject": "s", "body": "b"}),
    ]
    api_details = None
    if os.access(os.path.join(stack.BUILDDIR, "taskq-api"), os.X_OK):
        api_details = []
        with stack.Stack(runners=0) as s:
            for args, params in cases:
                r = s.post("/api/tasks/submit", {"task_type": args[0], "parameters": params})
                eq(r.status, 422, "API status for %s" % args)
                api_details.append(r.json()["detail"])
    for i, (args, _) in enumerate(cases):
        _, err = taskq("submit", *args, want=2)
        check(err.startswith("taskq: "), err)
        if api_details is not None:
            check(api_details[i] in err, "CLI %r vs API %r" % (err, api_details[i]))
        else:
            check("parameters." in err, err)
    _, err = taskq("submit", "nosuchtype", want=2)
    check("nosuchtype" in err, err)
    _, err = taskq("submit", "echo", "message=a", "message=b", want=2)
    check("twice" in err, err)


@suite.test
def test_cancel_retry_and_their_conflicts():
    t = submit("echo", "message=to cancel")
    c = tj("cancel", t["id"])
    eq(c["status"], "CANCELLED", "cancelled")
    _, err = taskq("cancel", t["id"], want=4)
    check("already finished" in err, err)
    r = tj("retry", t["id"])
    eq(r["retry_of"], t["id"], "retry_of")
    eq(r["status"], "PENDING", "retry status")
    taskq("retry", r["id"], want=4)
    taskq("show", "00000000-0000-4000-8000-000000000000", want=3)
    taskq("cancel", "00000000-0000-4000-8000-000000000000", want=3)
    taskq("show", "not-a-uuid", want=2)


@suite.test
def test_pause_resume_stats():
    before = tj("stats")
    out, _ = taskq("pause", "email")
    eq(out.strip(), "email paused", "pause output")
    doc = tj("stats")
    eq(doc["by_type"]["email"]["paused"], True, "paused")
    eq(doc["by_status"], before["by_status"], "counts unchanged")
    eq(sum(doc["by_status"].values()), len(tj("list", "--limit", "1000")["tasks"]), "exact total")
    taskq("resume", "email")
    eq(tj("stats")["by_type"]["email"]["paused"], False, "resumed")
    taskq("pause", "nosuchtype", want=3)
    out, _ = taskq("stats")
    check(out.splitlines()[0].split()[:3] == ["TYPE", "PENDING", "RUNNING"], out)
    check("total" in out and "oldest pending" in out, out)


@suite.test
def test_runner_runs_cli_tasks_and_shows_in_runners():
    state = tempfile.mkdtemp(prefix="taskq-cli-runner-", dir=TMP)
    p = subprocess.Popen([stack.binary("taskq-runner"), "-d", DB, "-s", state,
                          "-o", "poll_interval_ms=50", "-o", "heartbeat_interval_s=1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t = submit("echo", "message=run me")
        deadline = time.time() + 30
        while time.time() < deadline:
            cur = tj("show", t["id"])
            if cur["status"] == "SUCCESS":
                break
            time.sleep(0.1)
        eq(cur["status"], "SUCCESS", "status")
        eq(cur["result_data"]["message"], "run me", "result")
        runners = tj("runners")["runners"]
        eq(len(runners), 1, "one runner")
        eq(runners[0]["pid"], p.pid, "runner pid")
        out, _ = taskq("runners")
        check(str(p.pid) in out, out)
    finally:
        p.terminate()
        p.wait(30)


@suite.test
def test_backup_while_writing_is_consistent():
    stop = threading.Event()
    written = []
    errors = []

    def writer():
        while not stop.is_set():
            p = subprocess.run([stack.binary("taskq"), "-d", DB, "submit", "echo",
                                "message=during backup %d" % len(written)], capture_output=True)
            if p.returncode == 0:
                written.append(p.stdout.decode().strip())
            elif p.returncode != 5:
                errors.append(p.stderr)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for th in threads:
        th.start()
    try:
        time.sleep(0.3)
        dests = []
        for i in range(3):
            dest = os.path.join(TMP, "backup%d.db" % i)
            out, _ = taskq("backup", dest)
            check("backed up" in out, out)
            dests.append(dest)
            time.sleep(0.1)
    finally:
        stop.set()
        for th in threads:
            th.join()
    eq(errors, [], "writer errors")
    check(len(written) > 0, "nothing was written during the backup")
    for dest in dests:
        check(not os.path.exists(dest + "-wal"), "backup left a WAL file")
        con = sqlite3.connect(dest)
        try:
            eq(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)], "integrity_check")
            eq(con.execute("PRAGMA journal_mode").fetchone()[0], "delete", "journal mode")
            n = con.execute("SELECT count(*) FROM tasks").fetchone()[0]
            kept = con.execute("SELECT coalesce(sum(n), 0) FROM counts").fetchone()[0]
            eq(kept, n, "counts consistent in the snapshot")
        finally:
            con.close()
        doc = tj("check", db=dest)
        eq(doc, {"ok": True, "problems": []}, "check of the backup")
    check(not [f for f in os.listdir(TMP) if ".tmp-" in f], "temporary backup file left")
    # The backup is a working database for the CLI too.
    eq(tj("show", written[0], db=dests[-1])["id"], written[0], "task in the backup")


@suite.test
def test_check_finds_count_drift():
    dest = os.path.join(TMP, "drift.db")
    taskq("backup", dest)
    out, _ = taskq("check", db=dest)
    check(out.strip().endswith(": ok"), out)
    con = sqlite3.connect(dest)
    con.execute("UPDATE counts SET n = n + 7 WHERE task_type = 'echo' AND status = 'PENDING'")
    con.commit()
    con.close()
    out, _ = taskq("check", db=dest, want=1)
    check("counts: echo PENDING" in out, out)
    doc = json.loads(taskq("--json", "check", db=dest, want=1)[0])
    eq(doc["ok"], False, "ok")
    check(any("kept" in p for p in doc["problems"]), doc)


@suite.test
def test_sqlite_prefix_names_the_file():
    for db in ("sqlite:" + DB, "sqlite://" + DB):
        eq(tj("stats", db=db)["by_status"], tj("stats")["by_status"], db)
    _, err = taskq("list", db="sqlite:" + os.path.join(TMP, "nope.db"), want=1)
    check("no such database" in err, err)


@suite.test
def test_busy_exits_5():
    con = sqlite3.connect(DB, timeout=5, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    try:
        start = time.time()
        _, err = taskq("-f", CONF, "submit", "echo", "message=blocked", db=None, want=5)
        check(time.time() - start < 10, "took too long")
        check("busy" in err, err)
    finally:
        con.execute("ROLLBACK")
        con.close()


@suite.test
def test_config_file_errors():
    taskq("-f", os.path.join(TMP, "missing.conf"), "stats", db=None, want=1)
    bad = os.path.join(TMP, "bad.conf")
    with open(bad, "w") as f:
        f.write("no_such_key = 1\n")
    _, err = taskq("-f", bad, "stats", db=None, want=1)
    check("no_such_key" in err and ":1" in err, err)
    out, _ = taskq("-f", CONF, "stats", db=None)
    check("total" in out, out)


@suite.test
def test_purge_older_than():
    t = submit("echo", "message=old")
    tj("cancel", t["id"])
    time.sleep(1.2)
    doc = tj("purge", "--older-than", "1s")
    check(doc["tasks"] >= 1, doc)
    taskq("show", t["id"], want=3)
    out, _ = taskq("purge", "--older-than", "30d")
    check(out.startswith("purged 0 tasks"), out)
    eq(tj("check"), {"ok": True, "problems": []}, "consistent after purge")


@suite.test
def test_schema_newer_than_program_is_refused():
    dest = os.path.join(TMP, "future.db")
    taskq("backup", dest)
    con = sqlite3.connect(dest)
    con.execute("PRAGMA user_version = 999")
    con.commit()
    con.close()
    _, err = taskq("list", db=dest, want=1)
    check("newer" in err, err)
    taskq("migrate", db=dest, want=1)


@suite.test
def test_root_works_as_the_database_owner():
    """Run by root, taskq switches to the owner of the database (or of its
    directory) first, so the files SQLite creates stay the daemons'."""
    if os.geteuid() != 0:
        print("     (not root: nothing to switch)")
        return
    import pwd
    nobody = pwd.getpwnam("nobody")
    d = os.path.join(TMP, "owned")
    os.makedirs(d)
    os.chmod(TMP, 0o755)
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    db = os.path.join(d, "taskq.db")
    taskq("migrate", db=db)
    eq(os.stat(db).st_uid, nobody.pw_uid, "database owner")
    con = sqlite3.connect(db)   # root keeps the WAL open while taskq writes
    try:
        submit_out, _ = taskq("submit", "echo", "message=owned", db=db)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(db + suffix):
                eq(os.stat(db + suffix).st_uid, nobody.pw_uid, "owner of " + suffix)
    finally:
        con.close()
    # A backup where the owner cannot write fails cleanly, naming the cause.
    rootonly = os.path.join(TMP, "rootonly")
    os.makedirs(rootonly, mode=0o700)
    _, err = taskq("backup", os.path.join(rootonly, "b.db"), db=db, want=1)
    check("backup" in err, err)


try:
    suite.finish()
finally:
    if os.environ.get("TASKQ_KEEP_STATE") != "1":
        shutil.rmtree(TMP, ignore_errors=True)
