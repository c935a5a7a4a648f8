"""docs/OPERATIONS.md's "staged install, without root", run literally in a
fresh copy of the source tree: autoreconf, configure, make, make install
DESTDIR, then the installed daemons behind the installed nginx site
configuration must answer /api/health and run a submitted task.  Only the
port is changed (to a free one)."""

import fnmatch
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import SRCDIR, Suite, check, free_port  # noqa: E402

TMP = tempfile.mkdtemp(prefix="taskq-ops-")
suite = Suite("test_operations")

# What a fresh checkout does not have: build outputs and generated files.
TOP_IGNORE = ("build*", "autom4te.cache", "configure", "configure~", "Makefile.in", "Makefile",
              "aclocal.m4", "build-aux", "config.h", "config.h.in", "config.h.in~", "config.status",
              "config.log", "stamp-h1", "var", "taskq-*.tar.gz")
ALL_IGNORE = (".git", "node_modules", ".deps", ".dirstamp", "*.o", "*.a")


def ignore(directory, names):
    pats = ALL_IGNORE + (TOP_IGNORE if os.path.abspath(directory) == SRCDIR else ())
    return {n for n in names if any(fnmatch.fnmatch(n, p) for p in pats)}


def staged_block():
    with open(os.path.join(SRCDIR, "docs", "OPERATIONS.md")) as f:
        text = f.read()
    section = text.split("### A staged install, without root", 1)[1]
    m = re.search(r"```sh\n(.*?)\n```", section, re.S)
    check(m is not None, "no shell block in the staged-install section")
    return m.group(1)


@suite.test
def test_staged_install_steps_work_literally():
    src = os.path.join(TMP, "taskq")
    shutil.copytree(SRCDIR, src, ignore=ignore, symlinks=True)
    block = staged_block()
    check("8081" in block, "the block no longer uses port 8081")
    port = free_port()
    script = "set -e\n" + block.replace("8081", str(port)) + "\n"
    # Output goes to a file, not a pipe: daemons the script started in the
    # background would hold a pipe open after the script itself failed, and
    # reading it to the end would wait for them.
    log = os.path.join(TMP, "staged.log")
    with open(log, "wb") as logf:
        p = subprocess.Popen(["bash", "-c", script], cwd=src, stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            p.wait(timeout=900)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    with open(log, "rb") as f:
        out = f.read()
    text = out.decode("utf-8", "replace")
    check(p.returncode == 0, "exit %d:\n%s", p.returncode, text[-3000:])
    check('"status": "ok"' in text and '"database": "ok"' in text, "no healthy answer:\n%s", text[-3000:])
    check(re.search(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", text, re.M),
          "no task id printed:\n%s", text[-3000:])
    check(re.search(r"^ID +TYPE +STATUS", text, re.M) and re.search(r"  echo  ", text),
          "no listing:\n%s", text[-3000:])


try:
    suite.finish()
finally:
    if os.environ.get("TASKQ_KEEP_STATE") != "1":
        shutil.rmtree(TMP, ignore_errors=True)
