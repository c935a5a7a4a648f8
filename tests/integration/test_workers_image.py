"""image_processing end to end (nginx -> taskq-api -> SQLite <- taskq-runner):
a PNG made here is uploaded, resized and converted to JPEG, WebP and PNG;
each output is downloaded through GET /api/files/{output_file_id} and its
dimensions read from its own header (stdlib only).  cover, contain and fill
give their sizes; an image bomb and random bytes end FAILED cleanly while
the runner carries on."""

import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402

suite = stack.Suite("test_workers_image")


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def make_png(w, h):
    """An RGB gradient, filter 0 on every row."""
    rows = bytearray()
    for y in range(h):
        rows.append(0)
        g = y * 255 // max(h - 1, 1)
        for x in range(w):
            rows += bytes((x * 255 // max(w - 1, 1), g, 128))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(bytes(rows))) + png_chunk(b"IEND", b""))


def make_bomb():
    """A tiny, well-formed PNG header claiming 60000x60000 pixels."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + png_chunk(b"IEND", b""))


def png_size(b):
    stack.eq(b[:8], b"\x89PNG\r\n\x1a\n", "PNG signature")
    stack.eq(b[12:16], b"IHDR", "first chunk")
    return struct.unpack(">II", b[16:24])


def jpeg_size(b):
    """Walks the markers to the first SOF0..SOF15 (not DHT, JPG, DAC)."""
    stack.eq(b[:2], b"\xff\xd8", "JPEG SOI")
    i = 2
    while i + 4 <= len(b):
        stack.eq(b[i], 0xff, "marker at %d" % i)
        m = b[i + 1]
        if m == 0xff:
            i += 1
            continue
        seglen = struct.unpack(">H", b[i + 2:i + 4])[0]
        if 0xc0 <= m <= 0xcf and m not in (0xc4, 0xc8, 0xcc):
            h, w = struct.unpack(">HH", b[i + 5:i + 9])
            return w, h
        i += 2 + seglen
    raise AssertionError("no SOF marker")


def webp_size(b):
    stack.eq((b[:4], b[8:12]), (b"RIFF", b"WEBP"), "RIFF/WEBP")
    kind = b[12:16]
    if kind == b"VP8 ":
        stack.eq(b[23:26], b"\x9d\x01\x2a", "VP8 start code")
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3fff, h & 0x3fff
    if kind == b"VP8L":
        stack.eq(b[20], 0x2f, "VP8L signature")
        v = struct.unpack("<I", b[21:25])[0]
        return (v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1
    if kind == b"VP8X":
        w = int.from_bytes(b[24:27], "little") + 1
        h = int.from_bytes(b[27:30], "little") + 1
        return w, h
    raise AssertionError("unknown WebP chunk %r" % kind)


SIZERS = {"png": png_size, "jpeg": jpeg_size, "webp": webp_size}
TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def upload(st, data, name):
    r = st.post("/api/files", raw=data, headers={"X-Filename": name,
                                                 "Content-Type": "application/octet-stream"})
    stack.eq(r.status, 201, "upload status")
    return r.json()


st = stack.Stack().start()
SRC = upload(st, make_png(640, 480), "gradient.png")


def resize(params, want_format, want_w, want_h):
    p = {"file_id": SRC["id"]}
    p.update(params)
    t = st.wait_for(st.submit("image_processing", p)["id"])
    stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
    stack.eq(t["progress"], 100, "progress")
    res = t["result_data"]
    stack.eq((res["width"], res["height"], res["format"]), (want_w, want_h, want_format), "result")
    r = st.get("/api/files/" + res["output_file_id"])
    stack.eq(r.status, 200, "download status")
    stack.eq(r.headers.get("content-type"), TYPES[want_format], "content type")
    stack.eq(r.headers.get("x-content-type-options"), "nosniff", "nosniff")
    stack.eq(len(r.body), res["bytes"], "bytes")
    stack.eq(SIZERS[want_format](r.body), (want_w, want_h), "decoded dimensions")
    stack.check(res["output_file_id"] != SRC["id"], "a new file")
    return res


@suite.test
def upload_sniffed_as_png():
    stack.eq(SRC["content_type"], "image/png", "content type")


@suite.test
def width_only_to_jpeg():
    resize({"width": 320, "format": "jpeg", "quality": 80}, "jpeg", 320, 240)


@suite.test
def height_only_to_webp():
    resize({"height": 120, "format": "webp"}, "webp", 160, 120)


@suite.test
def cover_is_exact_and_default():
    resize({"width": 200, "height": 200}, "png", 200, 200)
    resize({"width": 300, "height": 100, "fit": "cover", "format": "webp"}, "webp", 300, 100)


@suite.test
def contain_keeps_aspect():
    resize({"width": 200, "height": 200, "fit": "contain", "format": "jpeg"}, "jpeg", 200, 150)


@suite.test
def fill_stretches():
    resize({"width": 100, "height": 300, "fit": "fill"}, "png", 100, 300)


def fails_cleanly(file_id, *words):
    t = st.wait_for(st.submit("image_processing", {"file_id": file_id, "width": 100})["id"])
    stack.eq(t["status"], "FAILED", "status")
    msg = t["error_message"]
    for w in words:
        stack.check(w in msg, "error %r lacks %r", msg, w)
    stack.check("\n" not in msg and len(msg) < 300, "one clean line: %r", msg)
    stack.check(st.runner_procs[0].poll() is None, "runner exited")
    return t


@suite.test
def image_bomb_refused():
    f = upload(st, make_bomb(), "bomb.png")
    stack.check(f["size"] < 200, "bomb is tiny (%d bytes)", f["size"])
    fails_cleanly(f["id"], "60000x60000", "limit")


@suite.test
def random_bytes_not_an_image():
    f = upload(st, os.urandom(4096), "noise.bin")
    fails_cleanly(f["id"], "not an image")


@suite.test
def missing_input_fails():
    fid = "0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b"
    fails_cleanly(fid, "file %s not found" % fid)


@suite.test
def failures_leave_no_files_behind():
    names = os.listdir(os.path.join(st.state, "files"))
    stack.check(not [n for n in names if n.startswith(".")], "temporary files left: %r", names)
    # Three uploads (source, bomb, noise) and the six outputs so far.
    stack.eq(len(names), 3 + 6, "files on disk %r" % names)


@suite.test
def runner_still_works():
    resize({"width": 64}, "png", 64, 48)


@suite.test
def small_memory_limit_refused_clearly():
    if os.environ.get("TASKQ_SANITIZERS") == "1":
        print("  skipped: child_max_memory is not applied under AddressSanitizer")
        return
    small = stack.Stack(runner_options=["child_max_memory=200M"]).start()
    try:
        f = upload(small, make_png(64, 48), "small.png")
        t = small.wait_for(small.submit("image_processing", {"file_id": f["id"], "width": 32})["id"])
        stack.eq(t["status"], "FAILED", "status")
        stack.eq(t["error_message"], "child_max_memory (200 MiB) is too small for image "
                 "processing, which needs at least 256 MiB", "error")
    finally:
        small.cleanup()


st.cleanup()
suite.finish()
