#!/usr/bin/env python3
"""taskq-api when the disk fills during an upload: 507 in JSON, no partial
or temporary file left, and uploads work again once there is room.  The
files directory is a 512 KiB tmpfs, so this runs only where the test may
mount one (root in a privileged container or VM); elsewhere it is skipped
(exit 77, automake's SKIP).
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, Suite, eq  # noqa: E402
from test_api import error  # noqa: E402


def main():
    state = tempfile.mkdtemp(prefix="taskq-it-full-")
    files = os.path.join(state, "files")
    os.makedirs(files)
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k,mode=0750", "tmpfs", files],
            capture_output=True).returncode != 0:
        print("SKIP: cannot mount a small tmpfs here")
        shutil.rmtree(state, ignore_errors=True)
        sys.exit(77)
    suite = Suite("test_api_diskfull")
    try:
        with Stack(runners=0, state_dir=state) as s:
            def upload(n, name):
                return s.post("/api/files", raw=b"d" * n,
                              headers={"X-Filename": name, "Content-Type": "application/octet-stream"})

            def disk_full_is_507_and_leaves_nothing():
                error(upload(900 * 1024, "big.bin"), 507, None, "over the free space")
                eq(os.listdir(files), [], "no partial or temporary file")

            def uploads_work_again():
                r = upload(100 * 1024, "small.bin")
                eq(r.status, 201, "small upload (%r)" % r.body[:200])
                eq(os.listdir(files), [r.json()["id"]], "only the stored file")
                eq(s.get("/api/files/" + r.json()["id"]).body, b"d" * 100 * 1024, "bytes")

            suite.test(disk_full_is_507_and_leaves_nothing)
            suite.test(uploads_work_again)
            rc = s.stop()

            def api_exits_0_on_sigterm():
                eq(rc, 0, "exit status")
            suite.test(api_exits_0_on_sigterm)
    finally:
        subprocess.run(["umount", files])
        if os.environ.get("TASKQ_KEEP_STATE") != "1":
            shutil.rmtree(state, ignore_errors=True)
    suite.finish()


if __name__ == "__main__":
    main()
