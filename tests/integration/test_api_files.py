#!/usr/bin/env python3
"""taskq-api files through nginx: raw and multipart uploads, size and
SHA-256, the sniffed content type, download headers (nosniff, inline or
attachment with a safe filename), the upload limit (413, here 1 MiB),
415 for form-urlencoded, 404/422 ids, and nginx's 502 as JSON when the
responder is gone.
"""

import hashlib
import os
import signal
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import check, eq  # noqa: E402
from test_api import UUID_RE, error, run  # noqa: E402

STACK_OPTIONS = dict(runners=0, api_options=["upload_max_bytes=1M"], upload_max="1m")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(100)
SAMPLES = [
    ("a.csv", b"name,age\nann,31\nbob,42\n", "text/csv"),
    ("data.txt", b"x,y\n1,2\n3,4\n", "text/csv"),           # sniffed, not by name
    ("notes.txt", "plain text, caf\u00e9\n".encode(), "text/plain"),
    ("p.png", PNG, "image/png"),
    ("j.jpg", b"\xff\xd8\xff\xe0" + bytes(60), "image/jpeg"),
    ("g.gif", b"GIF89a" + bytes(40), "image/gif"),
    ("w.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(40), "image/webp"),
    ("t.tif", b"II*\x00" + bytes(40), "image/tiff"),
    ("d.pdf", b"%PDF-1.7\n" + bytes(40), "application/pdf"),
    ("z.zip", b"PK\x03\x04" + bytes(40), "application/zip"),
    ("z.gz", b"\x1f\x8b\x08" + bytes(40), "application/gzip"),
    ("bin.dat", b"abc\x00def", "application/octet-stream"),
    ("latin1.txt", b"caf\xe9\n", "application/octet-stream"),
]


def multipart(parts, boundary="----taskqBoundary7MA4YWxk"):
    """parts: (name, filename or None, bytes)."""
    out = b""
    for name, filename, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += b"Content-Disposition: " + disp.encode() + b"\r\n"
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


def make_tests(s):

    def upload_raw(data, name, ctype="application/octet-stream"):
        return s.post("/api/files", raw=data, headers={"X-Filename": name, "Content-Type": ctype})

    def leftovers():
        d = os.path.join(s.state, "files")
        return [f for f in os.listdir(d) if f.startswith(".")]

    def raw_upload_and_download_round_trip():
        for name, data, ctype in SAMPLES:
            r = upload_raw(data, name)
            eq(r.status, 201, "upload %s (%r)" % (name, r.body[:200]))
            f = r.json()
            check(UUID_RE.match(f["id"]), "id %r", f["id"])
            eq(f["name"], name, "name")
            eq(f["size"], len(data), "size of %s" % name)
            eq(f["sha256"], hashlib.sha256(data).hexdigest(), "sha256 of %s" % name)
            eq(f["content_type"], ctype, "content type of %s" % name)
            eq(r.headers.get("location"), "/api/files/" + f["id"], "Location")
            d = s.get("/api/files/" + f["id"])
            eq(d.status, 200, "download")
            eq(d.body, data, "bytes of %s" % name)
            eq(d.headers["content-type"], ctype, "served type")
            eq(d.headers["content-length"], str(len(data)), "length")
            eq(d.headers.get("x-content-type-options"), "nosniff", "nosniff")
            disp = d.headers.get("content-disposition")
            if ctype in ("image/png", "image/jpeg", "image/gif", "image/webp"):
                eq(disp, "inline", "inline for %s" % ctype)
            else:
                check(disp.startswith("attachment; filename=\"%s\"" % name), "disposition %r", disp)
        eq(leftovers(), [], "no temporary files left")

    def download_filename_is_safe():
        name = 'r\u00e9sum\u00e9 "final" 100%;.txt'
        r = s.post("/api/files", raw=b"hello\n",
                   headers={"X-Filename": name.encode("utf-8"), "Content-Type": "text/plain"})
        eq(r.status, 201, "upload")
        f = r.json()
        eq(f["name"], name, "name kept for display")
        disp = s.get("/api/files/" + f["id"]).headers["content-disposition"]
        ascii_part = disp.split("filename=\"", 1)[1].split("\"", 1)[0]
        check('"' not in ascii_part and "\\" not in ascii_part, "quoted safely: %r", disp)
        star = disp.split("filename*=UTF-8''", 1)[1]
        eq(urllib.parse.unquote(star, encoding="utf-8"), name, "filename* round-trips")

    def path_in_name_is_dropped():
        r = upload_raw(b"x\n", "../../etc/passwd")
        eq(r.status, 201, "upload")
        f = r.json()
        eq(f["name"], "passwd", "only the last component")
        check(os.path.exists(os.path.join(s.state, "files", f["id"])), "stored under its id")
        check(not os.path.exists(os.path.join(s.state, "etc")), "nothing outside files/")
        eq(upload_raw(b"x\n", "C:\\Users\\ann\\report.txt").json()["name"], "report.txt",
           "a Windows path too")

    def raw_upload_needs_a_good_name():
        error(s.post("/api/files", raw=b"x", headers={"Content-Type": "application/octet-stream"}),
              422, "X-Filename")
        error(upload_raw(b"x", "a\x01b"), 422, "X-Filename")
        error(s.post("/api/files", raw=b"x", headers={"X-Filename": b"\xff\xfe.bin"}),
              422, "X-Filename")
        error(upload_raw(b"x", "n" * 256), 422, "X-Filename")

    def multipart_upload():
        data = bytes(range(256)) * 300 + b"\r\n--not-the-boundary\r\n"
        body, ctype = multipart([("comment", None, b"ignored"),
                                 ("file", "photo.bin", data),
                                 ("after", None, b"also ignored")])
        r = s.post("/api/files", raw=body, headers={"Content-Type": ctype})
        eq(r.status, 201, "multipart (%r)" % r.body[:200])
        f = r.json()
        eq(f["name"], "photo.bin", "name from filename")
        eq(f["size"], len(data), "size")
        eq(f["sha256"], hashlib.sha256(data).hexdigest(), "sha256")
        eq(s.get("/api/files/" + f["id"]).body, data, "bytes")
        body, ctype = multipart([("file", "a.csv", b"a,b\n1,2\n")])
        r = s.post("/api/files", raw=body, headers={"Content-Type": ctype})
        eq(r.json()["content_type"], "text/csv", "csv sniffed in a form")

    def multipart_errors():
        body, ctype = multipart([("other", "x.txt", b"data")])
        error(s.post("/api/files", raw=body, headers={"Content-Type": ctype}), 422, "file")
        body, ctype = multipart([("file", "a", b"1"), ("file", "b", b"2")])
        error(s.post("/api/files", raw=body, headers={"Content-Type": ctype}), 422, "file")
        body, ctype = multipart([("file", "x.txt", b"data")])
        error(s.post("/api/files", raw=body[:-12], headers={"Content-Type": ctype}), 400)
        error(s.post("/api/files", raw=body, headers={"Content-Type": "multipart/form-data"}), 400)
        error(s.post("/api/files", raw=b"garbage", headers={"Content-Type": ctype}), 400)
        eq(leftovers(), [], "no temporary files left")

    def form_urlencoded_is_415():
        error(s.post("/api/files", raw=b"file=abc",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)

    def upload_limit_is_413():
        eq(upload_raw(b"z" * (1024 * 1024), "max.bin").status, 201, "exactly the limit")
        before = len(os.listdir(os.path.join(s.state, "files")))
        r = upload_raw(b"z" * (1024 * 1024 + 1), "over.bin")
        error(r, 413, None, "over the limit")
        body, ctype = multipart([("file", "big.bin", b"z" * (1536 * 1024))])
        error(s.post("/api/files", raw=body, headers={"Content-Type": ctype}), 413)
        eq(len(os.listdir(os.path.join(s.state, "files"))), before, "nothing stored")

    def unknown_and_malformed_file_ids():
        error(s.get("/api/files/0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b"), 404, "id")
        error(s.get("/api/files/nope"), 422, "id")
        f = upload_raw(b"case\n", "case.txt").json()
        eq(s.get("/api/files/" + f["id"].upper()).body, b"case\n", "upper-case id")

    def nginx_502_is_json_when_api_is_gone():
        s.api.send_signal(signal.SIGTERM)
        eq(s.api.wait(30), 0, "taskq-api exit status")
        check(not os.path.exists(s.sock), "socket removed on exit")
        r = s.get("/api/health")
        body = error(r, 502, None, "API down")
        check("not reachable" in body["detail"], "detail %r", body)
        # Outside /api/ nginx is unaffected.
        eq(s.get("/").status in (200, 404), True, "static side still served")

    return [raw_upload_and_download_round_trip, download_filename_is_safe,
            path_in_name_is_dropped, raw_upload_needs_a_good_name, multipart_upload,
            multipart_errors, form_urlencoded_is_415, upload_limit_is_413,
            unknown_and_malformed_file_ids, nginx_502_is_json_when_api_is_gone]


if __name__ == "__main__":
    run("test_api_files", make_tests, STACK_OPTIONS).finish()
