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

suite.finish()
