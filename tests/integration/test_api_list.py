#!/usr/bin/env python3
"""taskq-api listing through nginx: filters (status, task_type, q), limit,
opaque cursors, paging that walks every task exactly once while another
thread submits, and the bulk cancel/retry routes over the same filters.
"""

import os
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import check, eq  # noqa: E402
from test_api import check_task, error, run  # noqa: E402

STACK_OPTIONS = dict(runners=0)


def make_tests(s):

    def listing(query):
        r = s.get("/api/tasks?" + query)
        eq(r.status, 200, "list %s (%r)" % (query, r.body[:200]))
        return r.json()

    def walk(query, limit):
        """Every id of a paged listing, in order."""
        ids, cursor, pages = [], None, 0
        while True:
            q = "%s&limit=%d" % (query, limit) if query else "limit=%d" % limit
            if cursor:
                q += "&cursor=" + urllib.parse.quote(cursor)
            page = listing(q)
            check(len(page["tasks"]) <= limit, "page over limit")
            ids += [t["id"] for t in page["tasks"]]
            cursor = page["next_cursor"]
            pages += 1
            if cursor is None:
                return ids
            check(isinstance(cursor, str) and cursor, "cursor %r", cursor)
            check(pages < 10000, "paging does not end")

    def newest_first_and_limit():
        ids = [s.submit("echo", {"message": "order %d" % i})["id"] for i in range(5)]
        page = listing("limit=5&task_type=echo")
        eq([t["id"] for t in page["tasks"]], ids[::-1], "newest first")
        for t in page["tasks"]:
            check_task(t)
        check(listing("limit=3&task_type=echo")["next_cursor"] is not None, "more pages")
        eq(len(listing("")["tasks"]), min(50, sum(s.get("/api/stats").json()["by_status"].values())),
           "default limit 50")

    def paging_walks_each_task_once_while_submitting():
        word = "pagingword"
        mine = set(s.submit("echo", {"message": "%s %d" % (word, i)})["id"] for i in range(120))
        stop = threading.Event()
        extra = []

        def submitter():
            while not stop.is_set():
                extra.append(s.submit("echo", {"message": "%s extra" % word})["id"])

        th = threading.Thread(target=submitter)
        th.start()
        try:
            seen = walk("task_type=echo", 7)
        finally:
            stop.set()
            th.join()
        check(len(extra) > 0, "the other thread submitted")
        eq(len(seen), len(set(seen)), "no task twice")
        check(mine <= set(seen), "every task seen: %d missing" % len(mine - set(seen)))
        # And with a search: the q-filtered walk sees exactly the matching set.
        seen_q = walk("q=" + word, 11)
        eq(len(seen_q), len(set(seen_q)), "no task twice (q)")
        eq(set(seen_q), mine | set(extra), "q walk is exactly the matching tasks")

    def status_and_type_filters():
        a = s.submit("echo", {"message": "filter a"})
        b = s.submit("email", {"to": "x@example.com", "subject": "s", "body": "filter b"})
        s.delete("/api/tasks/" + b["id"])
        page = listing("status=CANCELLED&limit=500")
        check(all(t["status"] == "CANCELLED" for t in page["tasks"]), "only CANCELLED")
        check(b["id"] in [t["id"] for t in page["tasks"]], "cancelled one listed")
        page = listing("status=PENDING,CANCELLED&task_type=email&limit=500")
        check(all(t["task_type"] == "email" for t in page["tasks"]), "only email")
        check(b["id"] in [t["id"] for t in page["tasks"]], "email listed")
        page = listing("task_type=echo,email&status=PENDING&limit=500")
        check(a["id"] in [t["id"] for t in page["tasks"]], "echo listed with two types")
        check(b["id"] not in [t["id"] for t in page["tasks"]], "cancelled email filtered out")

    def bad_filters_are_422():
        for q, field in (("status=success", "status"), ("status=", "status"),
                         ("status=PENDING,", "status"), ("status=,PENDING", "status"),
                         ("status=DONE", "status"), ("task_type=", "task_type"),
                         ("task_type=nope", "task_type"), ("task_type=echo,,email", "task_type"),
                         ("cursor=abc", "cursor"), ("cursor=" + "0" * 24, "cursor")):
            error(s.get("/api/tasks?" + q), 422, field, q)
        # A real cursor with one digit changed is refused, not misread.
        page = listing("limit=1")
        c = page["next_cursor"]
        check(c, "a cursor")
        bad = c[:-1] + ("0" if c[-1] != "0" else "1")
        error(s.get("/api/tasks?limit=1&cursor=" + bad), 422, "cursor")
        bad = ("1" if c[0] != "1" else "2") + c[1:]
        error(s.get("/api/tasks?limit=1&cursor=" + bad), 422, "cursor")

    def q_searches_parameters():
        t1 = s.submit("echo", {"message": "quarterly invoice zebra"})
        t2 = s.submit("echo", {"message": "smtp timeout giraffe"})
        t3 = s.submit("email", {"to": "ops@example.com", "subject": "invoice zebra",
                                "body": "hello"})
        ids = [t["id"] for t in listing("q=zebra&limit=500")["tasks"]]
        eq(sorted(ids), sorted([t1["id"], t3["id"]]), "q=zebra")
        ids = [t["id"] for t in listing("q=smtp+timeout&limit=500")["tasks"]]
        eq(ids, [t2["id"]], "q=smtp timeout")
        ids = [t["id"] for t in listing("q=zebra&task_type=email")["tasks"]]
        eq(ids, [t3["id"]], "q with task_type")
        ids = [t["id"] for t in listing("q=nosuchwordanywhere")["tasks"]]
        eq(ids, [], "no match")
        # User syntax never breaks the search: quotes, operators, stray signs.
        for q in ('"', 'zebra"', "AND", "a OR", "(", "*", "-", "NEAR(", ":", "zebra*"):
            r = s.get("/api/tasks?q=" + urllib.parse.quote(q))
            check(r.status in (200, 422), "q=%r -> %d" % (q, r.status))
            if r.status == 422:
                error(r, 422, "q", q)

    def bulk_cancel_and_retry():
        word = "bulkword%d" % os.getpid()
        ids = [s.submit("echo", {"message": "%s %d" % (word, i)})["id"] for i in range(6)]
        other = s.submit("echo", {"message": "not in bulk"})
        r = s.post("/api/tasks/cancel", {"q": word, "task_type": "echo"})
        eq(r.status, 200, "cancel status")
        eq(r.json(), {"cancelled": 6}, "cancelled count")
        for i in ids:
            eq(s.get("/api/tasks/" + i).json()["status"], "CANCELLED", "cancelled")
        eq(s.get("/api/tasks/" + other["id"]).json()["status"], "PENDING", "other untouched")
        eq(s.post("/api/tasks/cancel", {"q": word}).json(), {"cancelled": 0}, "nothing left")
        r = s.post("/api/tasks/retry", {"q": word, "status": ["CANCELLED", "FAILED"]})
        eq(r.status, 200, "retry status")
        eq(r.json(), {"retried": 6}, "retried count")
        new = listing("q=%s&status=PENDING&limit=500" % word)["tasks"]
        eq(sorted(t["retry_of"] for t in new), sorted(ids), "new tasks retry the old")
        # Retried tasks are not retried twice.
        eq(s.post("/api/tasks/retry", {"q": word, "status": "CANCELLED,FAILED"}).json(),
           {"retried": 0}, "retried once")
        eq(s.post("/api/tasks/cancel", {"q": word, "status": "PENDING"}).json(),
           {"cancelled": 6}, "string status")

    def bulk_filter_errors():
        for body, field in (({"status": "DONE"}, "status"), ({"status": ["PENDING", 5]}, "status"),
                            ({"status": []}, "status"), ({"status": 5}, "status"),
                            ({"task_type": "nope"}, "task_type"), ({"task_type": ["echo", ""]}, "task_type"),
                            ({"q": 5}, "q"), ({"q": "x" * 300}, "q"), ({"colour": "red"}, "colour")):
            error(s.post("/api/tasks/cancel", body), 422, field, repr(body))
            error(s.post("/api/tasks/retry", body), 422, field, repr(body))
        error(s.post("/api/tasks/cancel", raw=b"[]", headers={"Content-Type": "application/json"}),
              400)
        error(s.post("/api/tasks/retry", raw=b"{", headers={"Content-Type": "application/json"}),
              400)

    return [newest_first_and_limit, paging_walks_each_task_once_while_submitting,
            status_and_type_filters, bad_filters_are_422, q_searches_parameters,
            bulk_cancel_and_retry, bulk_filter_errors]


if __name__ == "__main__":
    run("test_api_list", make_tests, STACK_OPTIONS).finish()
