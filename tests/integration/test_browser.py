"""The browser UI in real headless Chromium: starts two real stacks (one
with a runner, one without any, for the no-runner warning), installs
playwright-core with `npm ci` when tests/browser/node_modules is missing,
and runs tests/browser/run.mjs against them.  That script prints the
closing "N passed, M failed"; its exit status is ours.

Needs Node.js >= 18 with npm and Chromium (Debian: nodejs npm chromium);
without them the test is skipped (exit 77), saying what is missing.
"""

import os
import shutil
import subprocess
import sys

import stack

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(stack.SRCDIR, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SKIP = 77


def skip(why):
    print("SKIP: %s" % why)
    print("0 passed, 0 failed")
    sys.exit(SKIP)


def node_ok(node):
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return False
    try:
        return int(out.strip().lstrip("v").split(".")[0]) >= 18
    except ValueError:
        return False


def main():
    if os.environ.get("TASKQ_SANITIZERS") == "1":
        skip("under --enable-sanitizers (TASKQ_SANITIZERS=1): the UI is tested in "
             "the plain build; this build checks the C code under ASan/UBSan")
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None or not node_ok(node):
        skip("Node.js 18 or later not found (Debian: apt-get install nodejs npm)")
    if not os.access(CHROMIUM, os.X_OK):
        skip("%s not found (Debian: apt-get install chromium)" % CHROMIUM)
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        npm = shutil.which("npm")
        if npm is None:
            skip("npm not found (Debian: apt-get install npm)")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BROWSER_DIR)
        if r.returncode != 0:
            print("npm ci failed in %s" % BROWSER_DIR)
            print("0 passed, 1 failed")
            sys.exit(1)

    with stack.Stack(runners=1) as main_stack, stack.Stack(runners=0) as idle_stack:
        env = dict(os.environ,
                   TASKQ_BASE_URL="http://127.0.0.1:%d" % main_stack.port,
                   TASKQ_BASE_URL_NORUNNER="http://127.0.0.1:%d" % idle_stack.port,
                   CHROMIUM=CHROMIUM)
        try:
            r = subprocess.run([node, os.path.join(BROWSER_DIR, "run.mjs")], cwd=BROWSER_DIR, env=env,
                               timeout=600)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            print("run.mjs did not finish in 600 s")
            print("0 passed, 1 failed")
            rc = 1
        if rc != 0:
            for name in ("api", "runner0", "nginx"):
                log = main_stack.read_log(name)
                if log:
                    print("---- %s log (last 2000 characters) ----\n%s" % (name, log[-2000:]))
    sys.exit(rc)


if __name__ == "__main__":
    main()
