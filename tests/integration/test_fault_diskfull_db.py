#!/usr/bin/env python3
"""The state directory full, the database in it: submits answer 507 (or 503)
with a JSON error, never a 500 or a dropped connection; uploads answer 507;
the database stays intact (PRAGMA integrity_check on a read-only
connection) with every acknowledged task; and once space returns, submits
and uploads work again without a restart.  (test_api_diskfull.py covers an
upload filling the files directory; this one fills the volume under the
database.)  The database and files live on a 4 MiB tmpfs, so this runs
only where the test may mount one (root); elsewhere it is skipped (77).
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402


class VolumeStack(stack.Stack):
    """A Stack whose database and state directory are on vol."""

    def __init__(self, vol, **kw):
        super().__init__(**kw)
        self.vol = vol
        self.db = os.path.join(vol, "taskq.db")

    def _common_args(self):
        return ["-d", self.db, "-s", self.vol]


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(vol, leave):
    """A filler file taking all but about leave bytes of vol."""
    path = os.path.join(vol, "filler")
    chunk = b"\0" * 65536
    with open(path, "ab") as f:
        while free_bytes(vol) > leave + len(chunk):
            f.write(chunk)
            f.flush()
    return path


def is_error_json(r, statuses):
    if r.status not in statuses:
        return False
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body.get("detail"), str)


def main():
    state = tempfile.mkdtemp(prefix="taskq-it-dbfull-")
    vol = os.path.join(state, "vol")
    os.makedirs(vol)
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0750", "tmpfs", vol],
            capture_output=True).returncode != 0:
        print("SKIP: cannot mount a small tmpfs here")
        print("0 passed, 0 failed")
        shutil.rmtree(state, ignore_errors=True)
        sys.exit(77)
    suite = stack.Suite("test_fault_diskfull_db")
    acked = []
    try:
        with VolumeStack(vol, runners=0, state_dir=state) as st:
            os.makedirs(os.path.join(vol, "files"), exist_ok=True)

            def submit(i):
                return st.post("/api/tasks/submit", {
                    "task_type": "echo", "parameters": {"message": ("%d " % i) + "x" * 6000}})

            @suite.test
            def submits_answer_507_when_the_volume_is_full():
                for i in range(20):
                    r = submit(i)
                    stack.eq(r.status, 201, "submit with room")
                    acked.append(r.json()["id"])
                fill(vol, 64 * 1024)
                refused, seen = 0, {}
                for i in range(20, 600):
                    r = submit(i)
                    if r.status == 201:
                        acked.append(r.json()["id"])
                        continue
                    stack.check(is_error_json(r, (503, 507)), "full volume -> %r", r)
                    seen[r.status] = seen.get(r.status, 0) + 1
                    refused += 1
                    if refused >= 10:
                        break
                stack.check(refused >= 10, "the volume never filled (%d accepted)", len(acked))
                print("full volume: %d submits accepted, then %s" % (
                    len(acked), ", ".join("%d x %d" % (n, s) for s, n in sorted(seen.items()))))
                stack.check(st.api.poll() is None, "taskq-api exited")

            @suite.test
            def uploads_answer_507_when_the_volume_is_full():
                r = st.post("/api/files", raw=b"u" * (512 * 1024),
                            headers={"X-Filename": "big.bin",
                                     "Content-Type": "application/octet-stream"})
                stack.check(is_error_json(r, (507,)), "upload -> %r", r)
                stack.eq(os.listdir(os.path.join(vol, "files")), [], "no partial upload left")

            @suite.test
            def database_intact_with_every_acknowledged_task():
                con = sqlite3.connect("file:%s?mode=ro" % st.db, uri=True, timeout=10)
                try:
                    stack.eq(con.execute("PRAGMA integrity_check").fetchone()[0], "ok",
                             "integrity_check")
                    have = {row[0] for row in con.execute("SELECT id FROM tasks")}
                finally:
                    con.close()
                missing = [t for t in acked if t not in have]
                stack.check(not missing, "acknowledged tasks missing: %s", missing[:3])

            @suite.test
            def service_resumes_when_space_returns():
                os.unlink(os.path.join(vol, "filler"))
                r = submit(10000)
                stack.eq(r.status, 201, "submit after space returned")
                acked.append(r.json()["id"])
                r = st.post("/api/files", raw=b"u" * (256 * 1024),
                            headers={"X-Filename": "ok.bin",
                                     "Content-Type": "application/octet-stream"})
                stack.eq(r.status, 201, "upload after space returned")
                for tid in acked:
                    stack.eq(st.get("/api/tasks/" + tid).status, 200, "task %s" % tid)
                print("%d tasks acknowledged around the full volume, all present" % len(acked))

            @suite.test
            def api_exits_0_on_sigterm():
                stack.eq(st.stop(), 0, "exit status")
    finally:
        subprocess.run(["umount", vol])
        shutil.rmtree(state, ignore_errors=True)
    suite.finish()


if __name__ == "__main__":
    main()
