"""data_processing on uploads large enough for the engine to parse them with
two threads (4 MiB and more, when the runner's child may use two CPUs):
through nginx -> taskq-api -> taskq-runner, the result is the one computed
here independently, a multi-line quoted field across the middle changes
nothing, and an error in the second half names its line."""

import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402

suite = stack.Suite("test_workers_data_split")

NROWS = 120000      # about 6 MB


def make_rows(n):
    """Rows of (id, amount text, flag, note text): integers, 2-place
    decimals, booleans, quoted strings with commas and doubled quotes."""
    rows = []
    for i in range(n):
        amount = "%d.%02d" % ((i * 7919) % 100000, i % 100)
        flag = "true" if i % 3 else "FALSE"
        note = '"n %d, ""q"" %s"' % (i, "x" * (i % 17))
        rows.append((i - 500, amount, flag, note))
    return rows


def encode(rows, middle=None):
    """The CSV (CRLF), with the line middle, if given, inserted at the row
    that starts nearest the middle of the file."""
    lines = ["id,amount,flag,note"] + ["%d,%s,%s,%s" % r for r in rows]
    if middle is not None:
        total = sum(len(x) + 2 for x in lines)
        pos = 0
        for k, x in enumerate(lines):
            if pos >= total // 2:
                lines.insert(k, middle)
                break
            pos += len(x) + 2
    return ("\r\n".join(lines) + "\r\n").encode()


def close(got, want, what):
    stack.check(got is not None and math.isclose(got, want, rel_tol=1e-9),
                "%s: got %r, want %r", what, got, want)


def check_result(res, rows, nbytes, extra=0):
    stack.eq(res["rows"], len(rows) + extra, "rows")
    stack.eq(res["ragged_rows"], 0, "ragged_rows")
    stack.eq(res["bytes"], nbytes, "bytes")
    cols = {c["name"]: c for c in res["columns"]}
    stack.eq([c["name"] for c in res["columns"]], ["id", "amount", "flag", "note"], "names")
    stack.eq([c["type"] for c in res["columns"]],
             ["integer", "number", "boolean", "string"], "types")
    ids = [r[0] for r in rows]
    amounts = [float(r[1]) for r in rows]
    c = cols["id"]
    stack.eq((c["min"], c["max"]), (min(ids), max(ids)), "id min, max")
    close(c["mean"], statistics.fmean(ids), "id mean")
    close(c["stddev"], statistics.stdev(ids), "id stddev")
    c = cols["amount"]
    stack.eq((c["min"], c["max"]), (min(amounts), max(amounts)), "amount min, max")
    close(c["mean"], statistics.fmean(amounts), "amount mean")
    close(c["stddev"], statistics.stdev(amounts), "amount stddev")
    for name in cols:
        stack.eq(cols[name]["non_empty"], len(rows) + extra, "non_empty of %s" % name)
        stack.eq(cols[name]["empty"], 0, "empty of %s" % name)


def upload(st, data, name):
    r = st.post("/api/files", raw=data, headers={"X-Filename": name,
                                                 "Content-Type": "application/octet-stream"},
                timeout=120)
    stack.eq(r.status, 201, "upload status")
    return r.json()


def run(st, file_id):
    t = st.submit("data_processing", {"file_id": file_id})
    return st.wait_for(t["id"], timeout=120)


ROWS = make_rows(NROWS)
st = stack.Stack().start()


@suite.test
def large_upload_known_answers():
    data = encode(ROWS)
    stack.check(len(data) > 5 * 1024 * 1024, "file of %d bytes is too small to split", len(data))
    f = upload(st, data, "large.csv")
    t = run(st, f["id"])
    stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
    stack.eq(t["progress"], 100, "progress")
    check_result(t["result_data"], ROWS, len(data))


@suite.test
def quoted_line_ends_across_the_middle():
    # The engine's second thread would start inside these quotes: its guess
    # is wrong, and the first thread parses the second half itself.
    middle = '0,1.00,true,"a\r\nb\nc\r' + "\r\n" * 50 + 'd"'
    data = encode(ROWS, middle)
    f = upload(st, data, "middle.csv")
    t = run(st, f["id"])
    stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
    res = t["result_data"]
    stack.eq(res["rows"], NROWS + 1, "rows")
    stack.eq(res["bytes"], len(data), "bytes")
    stack.eq([c["type"] for c in res["columns"]],
             ["integer", "number", "boolean", "string"], "types")


@suite.test
def error_in_the_second_half_names_its_line():
    lines = encode(ROWS).split(b"\r\n")
    k = len(lines) * 3 // 4
    lines[k] = b'7,2.50,true,"x"y'
    data = b"\r\n".join(lines)
    f = upload(st, data, "bad.csv")
    t = run(st, f["id"])
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["error_message"],
             "line %d, column 16: unexpected character after closing quote" % (k + 1),
             "error")


st.cleanup()
suite.finish()
