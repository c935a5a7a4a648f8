"""The integration-test harness: a real nginx, taskq-api and taskq-runner on a
free loopback port, with a temporary state directory and SQLite file.

Each test file imports this module, starts a Stack (or several), drives it
over HTTP and records results with Suite, which prints the closing line
"N passed, M failed" and sets the exit status.

Binaries are found in TASKQ_BUILDDIR (set by `make check`; default: the
current directory); sources (conf/, www/) in srcdir (set by automake's test
driver; default: this file's ../..).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get("srcdir") or os.path.join(HERE, "..", ".."))
BUILDDIR = os.path.abspath(os.environ.get("TASKQ_BUILDDIR") or os.getcwd())
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")


def free_port():
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name):
    path = os.path.join(BUILDDIR, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not built (looked in %s)" % (name, BUILDDIR))
    return path


def render_nginx_conf(template, out, **values):
    with open(template) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, str(value))
    if "@" in "".join(line.split("#")[0] for line in text.splitlines()):
        raise RuntimeError("unfilled placeholder in %s" % template)
    with open(out, "w") as f:
        f.write(text)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body        # bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:200])


class Stack:
    """nginx -> taskq-api (UNIX socket) -> SQLite <- taskq-runner(s)."""

    def __init__(self, runners=1, api_options=(), runner_options=(), state_dir=None,
                 upload_max="64m", api_extra_args=(), valgrind=False, frontend="nginx"):
        self.runners_wanted = runners
        self.api_options = list(api_options)
        self.runner_options = list(runner_options)
        self.api_extra_args = list(api_extra_args)
        self.valgrind = valgrind or os.environ.get("TASKQ_VALGRIND") == "1"
        self.own_state = state_dir is None
        self.state = state_dir or tempfile.mkdtemp(prefix="taskq-it-")
        self.db = os.path.join(self.state, "taskq.db")
        self.sock = os.path.join(self.state, "api.sock")
        self.port = None
        self.upload_max = upload_max
        self.api = None
        self.runner_procs = []
        self.nginx = None
        # "nginx" (taskq-dev.conf.in) or, from frontends.py, "nginx-site"
        # and "apache" (the shipped site configurations).
        self.frontend = frontend
        self.frontend_proc = None
        self.logs = []

    # -- processes -------------------------------------------------------

    def _log(self, name):
        f = open(os.path.join(self.state, name + ".log"), "ab")
        self.logs.append(f)
        return f

    def _common_args(self):
        return ["-d", self.db, "-s", self.state]

    def start_api(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        cmd = [binary("taskq-api")] + self._common_args() + ["-l", self.sock]
        for o in self.api_options:
            cmd += ["-o", o]
        cmd += self.api_extra_args
        if self.valgrind:
            cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                   "--errors-for-leak-kinds=definite", "--log-file=%s/valgrind-api.%%p.log" % self.state] + cmd
        self.api = subprocess.Popen(cmd, stdout=self._log("api"), stderr=subprocess.STDOUT)
        deadline = time.time() + (60 if self.valgrind else 15)
        while not os.path.exists(self.sock):
            if self.api.poll() is not None:
                raise RuntimeError("taskq-api exited with %s; log:\n%s" % (self.api.returncode, self.read_log("api")))
            if time.time() > deadline:
                raise RuntimeError("taskq-api did not create %s" % self.sock)
            time.sleep(0.02)

    def start_runner(self, extra_options=()):
        cmd = [binary("taskq-runner")] + self._common_args()
        for o in self.runner_options + list(extra_options):
            cmd += ["-o", o]
        n = len(self.runner_procs)
        p = subprocess.Popen(cmd, stdout=self._log("runner%d" % n), stderr=subprocess.STDOUT)
        self.runner_procs.append(p)
        return p

    def start_nginx(self):
        ngx = os.path.join(self.state, "nginx")
        for d in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(ngx, d), exist_ok=True)
        conf = os.path.join(ngx, "nginx.conf")
        for attempt in range(5):
            self.port = free_port()
            render_nginx_conf(os.path.join(SRCDIR, "conf", "nginx", "taskq-dev.conf.in"), conf,
                              PORT=self.port, STATE_DIR=self.state, WWW_DIR=os.path.join(SRCDIR, "www"),
                              API_SOCKET=self.sock, UPLOAD_MAX=self.upload_max)
            self.nginx = subprocess.Popen([NGINX, "-p", ngx, "-c", conf, "-e", "stderr"],
                                          stdout=self._log("nginx"), stderr=subprocess.STDOUT)
            deadline = time.time() + 10
            while time.time() < deadline:
                if self.nginx.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return
                except OSError:
                    time.sleep(0.02)
            if self.nginx.poll() is None:
                self.nginx.kill()
                self.nginx.wait()
        raise RuntimeError("nginx did not start; log:\n" + self.read_log("nginx"))

    def start(self):
        try:
            self.start_api()
            for _ in range(self.runners_wanted):
                self.start_runner()
            if self.frontend == "nginx":
                self.start_nginx()
            else:
                import frontends
                self.port, self.frontend_proc = frontends.start(self, self.frontend)
        except BaseException:
            self.stop()
            raise
        return self

    def read_log(self, name):
        try:
            with open(os.path.join(self.state, name + ".log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    @staticmethod
    def _terminate(p, sig=signal.SIGTERM, timeout=30):
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def kill_runner(self, i=0, sig=signal.SIGKILL):
        p = self.runner_procs[i]
        p.send_signal(sig)
        return p.wait(30)

    def stop(self):
        """Stops everything; returns the API's exit status."""
        self._terminate(self.nginx, signal.SIGQUIT)
        self._terminate(self.frontend_proc)
        for p in self.runner_procs:
            self._terminate(p)
        rc = self._terminate(self.api)
        for f in self.logs:
            f.close()
        self.logs = []
        return rc

    def cleanup(self):
        self.stop()
        if self.own_state and os.environ.get("TASKQ_KEEP_STATE") != "1":
            shutil.rmtree(self.state, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- HTTP ------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        """One HTTP/1.1 request through nginx.  body is JSON-encoded; raw is
        sent as is (bytes).  Returns a Response."""
        hdrs = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if raw is not None:
            data = raw
        # As the browser UI does (www/js/api.js): taskq-api refuses a
        # change a web form could have sent without it (fcgi/auth.c).
        if method not in ("GET", "HEAD"):
            hdrs["X-Requested-With"] = "taskq"
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def submit(self, task_type, parameters=None, **fields):
        body = {"task_type": task_type}
        if parameters is not None:
            body["parameters"] = parameters
        body.update(fields)
        r = self.post("/api/tasks/submit", body)
        if r.status != 201:
            raise AssertionError("submit %s -> %r" % (task_type, r))
        return r.json()

    def wait_for(self, task_id, statuses=("SUCCESS", "FAILED", "CANCELLED"), timeout=30):
        """Polls the task until its status is one of statuses; returns it."""
        deadline = time.time() + timeout
        while True:
            r = self.get("/api/tasks/" + task_id)
            if r.status == 200 and r.json()["status"] in statuses:
                return r.json()
            if time.time() > deadline:
                raise AssertionError("task %s still %s after %ss" % (task_id, r.body[:300], timeout))
            time.sleep(0.05)


class Suite:
    """A minimal test runner: suite.test(fn) runs fn and records the outcome;
    suite.finish() prints "N passed, M failed" and exits non-zero on failure."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        only = os.environ.get("TASKQ_TEST_ONLY")
        self.only = set(only.split(",")) if only else None

    def test(self, fn):
        if self.only and fn.__name__ not in self.only:
            return fn
        start = time.time()
        try:
            fn()
        except Exception:
            self.failed += 1
            print("FAIL %s (%.2fs)" % (fn.__name__, time.time() - start))
            traceback.print_exc(file=sys.stdout)
        else:
            self.passed += 1
            print("ok   %s (%.2fs)" % (fn.__name__, time.time() - start))
        sys.stdout.flush()
        return fn

    def finish(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        sys.exit(1 if self.failed or not self.passed else 0)


def check(cond, msg="", *args):
    """assert that survives python -O."""
    if not cond:
        raise AssertionError(msg % args if args else msg)


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what or "value", got, want))
