#!/usr/bin/env python3
"""taskq-api under concurrent load through nginx: 32 client threads, each
on its own keep-alive connection, submit 1,600 tasks; every submit is a 201
with a distinct id, every task is stored (group commit loses nothing) and
listable; reads interleaved with the writes all succeed.
"""

import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import check, eq  # noqa: E402
from test_api import run  # noqa: E402

THREADS = 32
PER_THREAD = 50
# More threads than nginx can hold connections (32 active + 2 x 2 idle).
STACK_OPTIONS = dict(runners=0, api_options=["api_threads=48"])


def make_tests(s):

    def concurrent_submits_all_stored():
        before = s.get("/api/stats").json()["by_status"]["PENDING"]
        ids, errors, lock = [], [], threading.Lock()
        start = threading.Barrier(THREADS)

        def client(n):
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            mine = []
            try:
                start.wait()
                for i in range(PER_THREAD):
                    body = json.dumps({"task_type": "echo",
                                       "parameters": {"message": "load %d %d" % (n, i)}})
                    conn.request("POST", "/api/tasks/submit", body=body,
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                    if r.status != 201:
                        raise AssertionError("submit -> %d %r" % (r.status, data[:200]))
                    mine.append(json.loads(data)["id"])
                    if i % 10 == 0:
                        conn.request("GET", "/api/tasks/" + mine[-1])
                        r = conn.getresponse()
                        data = r.read()
                        if r.status != 200:
                            raise AssertionError("get -> %d %r" % (r.status, data[:200]))
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append("thread %d: %r" % (n, e))
            finally:
                conn.close()
                with lock:
                    ids.extend(mine)

        t0 = time.time()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - t0
        print("     %d submits by %d threads in %.2fs (%.0f/s)"
              % (len(ids), THREADS, elapsed, len(ids) / max(elapsed, 1e-9)))
        eq(errors, [], "client errors")
        eq(len(ids), THREADS * PER_THREAD, "submits answered")
        eq(len(set(ids)), THREADS * PER_THREAD, "distinct ids")
        after = s.get("/api/stats").json()["by_status"]["PENDING"]
        eq(after - before, THREADS * PER_THREAD, "PENDING count grew by every submit")
        seen, cursor = set(), None
        while True:
            q = "/api/tasks?status=PENDING&limit=500" + ("&cursor=" + cursor if cursor else "")
            page = s.get(q).json()
            seen.update(t["id"] for t in page["tasks"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        check(set(ids) <= seen, "%d submitted tasks not listed" % len(set(ids) - seen))

    return [concurrent_submits_all_stored]


if __name__ == "__main__":
    run("test_api_concurrency", make_tests, STACK_OPTIONS).finish()
