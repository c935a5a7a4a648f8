"""A throwaway PostgreSQL server for the tests: initdb in a temporary
directory, postgres on a free loopback port (socket in the same directory),
one database, and stop + remove afterwards.

As root, the cluster belongs to the `postgres` user (initdb refuses root)
and every server command runs through `runuser -u postgres`.  Durability
stays as in production (fsync=on, synchronous_commit=on), so the tests
exercise the same commit path.

    with PgServer() as pg:
        pg.url            # postgresql://postgres@127.0.0.1:PORT/taskq
        pg.restart()      # pg_ctl restart -m fast
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

PG_BINDIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
              "/usr/lib/postgresql/17/bin")


def pg_bindir():
    """The directory of initdb/pg_ctl/postgres, or None if not installed."""
    env = os.environ.get("TASKQ_PG_BINDIR")
    for d in ((env,) if env else ()) + PG_BINDIRS:
        if d and os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    return None


def available():
    """Why a server cannot be started here, or None if it can."""
    if pg_bindir() is None:
        return "PostgreSQL server binaries not found (Debian package postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no postgres user"
        if shutil.which("runuser") is None:
            return "no runuser"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, dbname="taskq", max_connections=200):
        why = available()
        if why:
            raise RuntimeError(why)
        self.bindir = pg_bindir()
        self.dbname = dbname
        self.max_connections = max_connections
        self.dir = tempfile.mkdtemp(prefix="taskq-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = None
        self.running = False
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.dir, 0o700)

    def _run(self, *args, check=True):
        cmd = self.as_user + [os.path.join(self.bindir, args[0])] + list(args[1:])
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           cwd=self.dir, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s\n%s" % (
                args[0], p.returncode, p.stdout.decode(errors="replace")[-2000:],
                self.log_tail()))
        return p

    def log_tail(self, n=3000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def _options(self):
        # -k: the UNIX socket in our directory, never /var/run/postgresql.
        return ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on "
                "-c synchronous_commit=on -c max_connections=%d "
                "-c shared_buffers=64MB" % (self.port, self.dir, self.max_connections))

    def start(self):
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        for attempt in range(5):
            self.port = free_port()
            p = self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                          "-o", self._options(), "start", check=False)
            if p.returncode == 0:
                break
            if attempt == 4:
                raise RuntimeError("pg_ctl start failed: %s\n%s" % (
                    p.stdout.decode(errors="replace"), self.log_tail()))
        self.running = True
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  self.dbname)
        return self

    @property
    def url(self):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, self.dbname)

    def url_for(self, dbname):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, dbname)

    def createdb(self, name):
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url_for(name)

    def psql(self, sql, dbname=None):
        """Runs sql with psql (unaligned, tuples only); returns stdout text."""
        psql = os.path.join(self.bindir, "psql")
        if not os.access(psql, os.X_OK):
            psql = shutil.which("psql")
        p = subprocess.run([psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", dbname or self.dbname, "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, p.stderr.decode(errors="replace")))
        return p.stdout.decode().strip()

    def restart(self):
        """A fast restart: every connection is dropped; clients reconnect."""
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                  "-m", "fast", "-o", self._options(), "restart")

    def stop(self):
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-w", "-t", "60", "-m", "immediate",
                      "stop", check=False)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
