#!/usr/bin/env python3
"""taskq-api when the database is locked by another process: writes wait
busy_timeout_ms (here 200 ms) and then answer 503 with Retry-After and a
JSON detail, nothing half-done; reads go on under WAL; everything recovers
when the lock goes.
"""

import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import check, eq  # noqa: E402
from test_api import error, run  # noqa: E402

STACK_OPTIONS = dict(runners=0, api_options=["busy_timeout_ms=200"])


def make_tests(s):

    def total():
        return sum(s.get("/api/stats").json()["by_status"].values())

    def writes_503_while_another_process_writes():
        t = s.submit("echo", {"message": "before the lock"})
        before = total()
        db = sqlite3.connect(s.db, timeout=5, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            for what, r in (
                    ("submit", s.post("/api/tasks/submit",
                                      {"task_type": "echo", "parameters": {"message": "x"}})),
                    ("cancel", s.delete("/api/tasks/" + t["id"])),
                    ("bulk cancel", s.post("/api/tasks/cancel", {"status": "PENDING"})),
                    ("pause", s.post("/api/task-types/echo/pause"))):
                error(r, 503, None, what)
                eq(r.headers.get("retry-after"), "1", "%s Retry-After" % what)
            # Reads are not blocked by a writer under WAL.
            eq(s.get("/api/tasks/" + t["id"]).status, 200, "read during the lock")
            eq(s.get("/api/health").status, 200, "health during a write lock")
        finally:
            db.execute("ROLLBACK")
            db.close()
        eq(total(), before, "nothing stored by the refused submit")
        eq(s.get("/api/tasks/" + t["id"]).json()["status"], "PENDING", "not cancelled")
        eq(s.post("/api/tasks/submit", {"task_type": "echo",
                                        "parameters": {"message": "after"}}).status, 201,
           "writes again after the lock")

    return [writes_503_while_another_process_writes]


if __name__ == "__main__":
    run("test_api_busy", make_tests, STACK_OPTIONS).finish()
