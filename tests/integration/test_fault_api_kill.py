#!/usr/bin/env python3
"""kill -9 of taskq-api in the middle of writes: 16 clients submit as fast as
they can, the API is killed at a random moment and started again, three
times.  After each kill the database file, opened read-only with Python's
sqlite3 exactly as the crash left it, passes PRAGMA integrity_check, and
every task acknowledged with 201 before the kill is there, unchanged, once
the API is back.
"""

import os
import random
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402

CLIENTS = 16
ROUNDS = int(os.environ.get("TASKQ_FAULT_KILLS", "3"))

suite = stack.Suite("test_fault_api_kill")


def integrity(db):
    """PRAGMA integrity_check on a read-only connection: "ok" or the problems."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        rows = con.execute("PRAGMA integrity_check").fetchall()
        count = con.execute("SELECT count(*) FROM tasks").fetchone()[0]
    finally:
        con.close()
    return "\n".join(r[0] for r in rows), count


@suite.test
def kill9_api_during_concurrent_submits():
    rnd = random.Random(os.environ.get("TASKQ_FAULT_SEED") or time.time())
    acked = {}
    lock = threading.Lock()
    with stack.Stack(runners=0) as st:
        for rnd_no in range(ROUNDS):
            stop = threading.Event()
            refused = [0]

            def client(k):
                i = 0
                while not stop.is_set():
                    i += 1
                    body = {"message": "round %d client %d #%d" % (rnd_no, k, i)}
                    try:
                        r = st.post("/api/tasks/submit", {"task_type": "echo", "parameters": body},
                                    timeout=10)
                    except OSError:
                        refused[0] += 1
                        time.sleep(0.01)
                        continue
                    if r.status == 201:
                        t = r.json()
                        with lock:
                            acked[t["id"]] = t
                    else:
                        # 502 from nginx once the API is gone; 503 busy.
                        stack.check(r.status in (502, 503), "submit -> %r", r)
                        refused[0] += 1
                        time.sleep(0.01)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(rnd.uniform(0.5, 2.0))
            st.api.kill()
            st.api.wait(30)
            with lock:
                before = len(acked)
            time.sleep(0.2)
            stop.set()
            for t in threads:
                t.join(30)

            check, stored = integrity(st.db)
            stack.eq(check, "ok", "integrity_check after kill %d" % (rnd_no + 1))
            stack.check(stored >= len(acked), "%d rows for %d acknowledged tasks",
                        stored, len(acked))

            st.start_api()
            for tid, t in acked.items():
                r = st.get("/api/tasks/" + tid)
                stack.eq(r.status, 200, "acknowledged task %s after kill %d" % (tid, rnd_no + 1))
                got = r.json()
                stack.eq((got["task_type"], got["parameters"], got["created_at"]),
                         (t["task_type"], t["parameters"], t["created_at"]), "task %s" % tid)
            print("kill %d: %d tasks acknowledged so far (%d by the kill), %d rows, "
                  "%d submits refused while the API was down; integrity ok"
                  % (rnd_no + 1, len(acked), before, stored, refused[0]))
        r = st.post("/api/tasks/submit", {"task_type": "echo", "parameters": {"message": "after"}})
        stack.eq(r.status, 201, "a submit after the last restart")


if __name__ == "__main__":
    suite.finish()
