"""The store unit tests (tests/unit/test_store, the same test functions as
on SQLite) against a throwaway PostgreSQL server: initdb in a temporary
directory, postgres on a free loopback port, removed afterwards.  Skipped
(exit 77) where the server binaries are not installed."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
import stack  # noqa: E402

why = pgserver.available()
if why:
    print("SKIP: %s" % why)
    sys.exit(77)

suite = stack.Suite("test_store_pg")

with pgserver.PgServer() as pg:
    @suite.test
    def store_unit_tests_on_postgresql():
        env = dict(os.environ, TASKQ_TEST_PG_URL=pg.url, TASKQ_TEST_PG_ONLY="1")
        p = subprocess.run([stack.binary("tests/unit/test_store")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        out = p.stdout.decode(errors="replace")
        sys.stdout.write(out)
        stack.check(p.returncode == 0, "test_store on PostgreSQL failed (status %d)\n%s",
                    p.returncode, pg.log_tail())
        stack.check("Running 0 test" not in out and "PASSED" in out,
                    "no PostgreSQL tests ran (built without libpq?)")

    @suite.test
    def sqlite_copy_procedure_of_the_docs():
        """docs/POSTGRESQL.md's copy from SQLite, run as written."""
        import shutil
        import tempfile
        from runnerctl import Ctl

        if shutil.which("sqlite3") is None:
            print("  (no sqlite3 command: skipped)")
            return
        with open(os.path.join(stack.SRCDIR, "docs", "POSTGRESQL.md")) as f:
            doc = f.read()
        block = doc.split("<!-- copy-procedure")[1].split("```sh\n", 1)[1].split("```")[0]
        url = pg.createdb("copied")
        tmp = tempfile.mkdtemp(prefix="taskq-copy-")
        try:
            sq = os.path.join(tmp, "taskq.db")

            class Db:
                db = sq
            ctl = Ctl(Db)
            done = ctl.submit_echo(30, 0, "copied words")
            ctl.run("submit", "email", '{"to": "x@example.org", "subject": "caf\u00e9"}')
            # Finish some: a runner on the SQLite file.
            env = dict(os.environ, TASKQ_ECHO_TRACE="")
            p = subprocess.Popen([stack.binary("taskq-runner"), "-d", sq, "-s", tmp,
                                  "-o", "slots=4"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for tid in done:
                    ctl.wait(tid, 30)
            finally:
                p.terminate()
                p.wait(30)
            pending = ctl.submit_echo(5, 0, "still pending")
            want = ctl.counts()
            block = block.replace("SQLITE=/var/lib/taskq/taskq.db", "SQLITE=" + sq)
            block = block.replace("URL=postgresql://taskq@db.example.org/taskq", "URL=" + url)
            env = dict(os.environ, PATH=os.pathsep.join(
                [stack.BUILDDIR, pg.bindir, os.environ.get("PATH", "")]))
            r = subprocess.run(["sh", "-e", "-c", block], cwd=tmp, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            out = r.stdout.decode(errors="replace")
            stack.check(r.returncode == 0, "copy procedure failed:\n%s", out)

            class Pg:
                db = url
            pctl = Ctl(Pg)
            stack.eq(pctl.counts(), want, "counts after the copy")
            stack.eq(pctl.get(done[0])["status"], "SUCCESS", "a copied task")
            stack.eq(pg.psql("SELECT sum(n) FROM duration_hist WHERE outcome = 'SUCCESS'",
                             "copied"), str(len(done)), "run-time histogram copied")
            lst = subprocess.run([stack.binary("taskq"), "-j", "-d", url, "list", "-q", "cafe"],
                                 stdout=subprocess.PIPE, timeout=30)
            stack.check(b"email" in lst.stdout, "search of a copied task: %r", lst.stdout[:300])
            # New tasks continue the sequence; the pending ones still run.
            newer = pctl.submit_echo(1, 0)
            seq = pg.psql("SELECT seq FROM tasks WHERE id = '%s'" % newer[0], "copied")
            top = pg.psql("SELECT max(seq) FROM tasks WHERE id <> '%s'" % newer[0], "copied")
            stack.check(int(seq) > int(top), "seq %s continues after the copied rows (%s)",
                        seq, top)
            stack.eq(pctl.get(pending[0])["status"], "PENDING", "a copied pending task")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

suite.finish()
