"""data_processing end to end (nginx -> taskq-api -> SQLite <- taskq-runner):
a known CSV, inline and uploaded, with quoted fields, CRLF line ends and a
column of each inferred type gives the known rows, types, counts and
statistics; malformed CSV and a missing file end FAILED naming the cause."""

import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402

suite = stack.Suite("test_workers_data")

# Quoted fields holding the delimiter, a doubled quote and a line break;
# CRLF line ends; one column of each type.
ROWS = [
    ["id", "name", "price", "active", "note", "blank"],
    ["1", '"Smith, John"', "10.5", "true", '"say ""hi"""', ""],
    ["2", "Alice", "20", "false", "plain", '""'],
    ["3", '"multi\r\nline"', "-3.25", "TRUE", "", ""],
    ["4", "Bob", "1e2", "False", "x", ""],
    ["-7", "Eve", "0.125", "true", "y", ""],
]
CSV = "\r\n".join(",".join(r) for r in ROWS) + "\r\n"
IDS = [1, 2, 3, 4, -7]
PRICES = [10.5, 20.0, -3.25, 100.0, 0.125]


def close(got, want, what):
    stack.check(got is not None and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9),
                "%s: got %r, want %r", what, got, want)


def check_known_result(res, nbytes):
    stack.eq(res["rows"], 5, "rows")
    stack.eq(res["ragged_rows"], 0, "ragged_rows")
    stack.eq(res["bytes"], nbytes, "bytes")
    cols = {c["name"]: c for c in res["columns"]}
    stack.eq([c["name"] for c in res["columns"]], ROWS[0], "column names in order")
    want_types = {"id": "integer", "name": "string", "price": "number",
                  "active": "boolean", "note": "string", "blank": "empty"}
    for name, typ in want_types.items():
        stack.eq(cols[name]["type"], typ, "type of %s" % name)
    counts = {"id": (5, 0), "name": (5, 0), "price": (5, 0), "active": (5, 0),
              "note": (4, 1), "blank": (0, 5)}
    for name, (ne, em) in counts.items():
        stack.eq(cols[name]["non_empty"], ne, "non_empty of %s" % name)
        stack.eq(cols[name]["empty"], em, "empty of %s" % name)
    c = cols["id"]
    stack.eq(c["min"], -7, "id min")
    stack.eq(c["max"], 4, "id max")
    stack.check(isinstance(c["min"], int) and isinstance(c["max"], int), "integer min/max %r", c)
    close(c["mean"], statistics.mean(IDS), "id mean")
    close(c["stddev"], statistics.stdev(IDS), "id stddev")
    c = cols["price"]
    close(c["min"], -3.25, "price min")
    close(c["max"], 100.0, "price max")
    close(c["mean"], statistics.mean(PRICES), "price mean")
    close(c["stddev"], statistics.stdev(PRICES), "price stddev")
    for name in ("name", "active", "note", "blank"):
        stack.check("mean" not in cols[name], "%s has statistics: %r", name, cols[name])


def run(st, params):
    t = st.submit("data_processing", params)
    return st.wait_for(t["id"])


def upload(st, data, name):
    r = st.post("/api/files", raw=data, headers={"X-Filename": name,
                                                 "Content-Type": "application/octet-stream"})
    stack.eq(r.status, 201, "upload status")
    return r.json()


st = stack.Stack().start()


@suite.test
def inline_csv_known_answers():
    t = run(st, {"csv": CSV})
    stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
    stack.eq(t["progress"], 100, "progress")
    check_known_result(t["result_data"], len(CSV.encode()))


@suite.test
def uploaded_csv_same_answers():
    f = upload(st, CSV.encode(), "known.csv")
    stack.eq(f["content_type"], "text/csv", "sniffed type")
    t = run(st, {"file_id": f["id"].upper()})
    stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
    check_known_result(t["result_data"], f["size"])


@suite.test
def delimiter_and_no_header():
    t = run(st, {"csv": "1;2.5\n3;x\n5\n", "delimiter": ";", "has_header": False})
    stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
    res = t["result_data"]
    stack.eq(res["rows"], 3, "rows")
    stack.eq(res["ragged_rows"], 1, "ragged_rows")
    stack.eq([c["name"] for c in res["columns"]], ["column_1", "column_2"], "names")
    stack.eq(res["columns"][0]["type"], "integer", "column_1 type")
    close(res["columns"][0]["mean"], 3.0, "column_1 mean")
    stack.eq(res["columns"][1]["type"], "string", "column_2 type")


@suite.test
def single_value_has_null_stddev():
    t = run(st, {"csv": "n\n42\n"})
    c = t["result_data"]["columns"][0]
    stack.eq((c["min"], c["max"], c["stddev"]), (42, 42, None), "one value")
    close(c["mean"], 42.0, "mean")


@suite.test
def unterminated_quote_names_its_line():
    t = run(st, {"csv": 'a,b\r\n1,2\r\n3,4\r\n"open,5\r\n6,7\r\n'})
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["error_message"], "line 4: unterminated quoted field", "error")
    stack.eq(t["result_data"], None, "result")


@suite.test
def uploaded_malformed_csv_fails_once():
    f = upload(st, b'a,b\n1,x"y\n', "bad.csv")
    t = run(st, {"file_id": f["id"]})
    stack.eq(t["status"], "FAILED", "status")
    stack.check(t["error_message"].startswith("line 2, column "), "error %r", t["error_message"])
    stack.check("quote in unquoted field" in t["error_message"], "error %r", t["error_message"])
    stack.eq(t.get("attempt", 1), 1, "not retried")


@suite.test
def missing_file_fails():
    fid = "0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b"
    t = run(st, {"file_id": fid})
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["error_message"], "file %s not found" % fid, "error")


@suite.test
def runner_still_alive():
    stack.check(st.runner_procs[0].poll() is None, "runner exited")
    t = run(st, {"csv": "x\n1\n"})
    stack.eq(t["status"], "SUCCESS", "a task afterwards")


st.cleanup()
suite.finish()
