/*
 * Unit tests of the store against real databases: every transition and its
 * conflicts, races between connections and processes, migrations, counts
 * checked against COUNT(*), query plans, pagination, search, recovery,
 * retention and files.  The tests read the database directly (sqlite3, or
 * libpq) to check what the store wrote.
 *
 * The same test functions run on both backends: once on SQLite files in a
 * temporary directory, and once more on PostgreSQL when TASKQ_TEST_PG_URL
 * names a database (tests/integration/test_store_pg.py starts a throwaway
 * server and sets it); each PostgreSQL test starts from an empty schema.
 * Tests of what only SQLite has (WAL, PRAGMA user_version, query plans,
 * the v1 fixture, the busy handler, a full disk by file size) run on
 * SQLite only.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#ifdef HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "store.h"
#include "store_sqlite_internal.h"
#include "task.h"

#define BUSY_MS	5000

struct fix {
	char		 dir[256];
	char		 path[300];
	struct store	*st;
};

/* The PostgreSQL database of the second run; NULL while on SQLite. */
static const char *pg_url;

/* ---- helpers ------------------------------------------------------------ */

#ifdef HAVE_LIBPQ
static PGconn *
pg_raw_open(void)
{
	PGconn	*c;

	c = PQconnectdb(pg_url);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("%s: %s", pg_url, PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

/* Runs sql on a connection of its own; the result (caller clears). */
static PGresult *
pg_raw(const char *sql)
{
	PGconn		*c = pg_raw_open();
	PGresult	*r;

	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQfinish(c);
	return r;
}

/* Each test starts from an empty database. */
static int
setup_pg(void **state)
{
	struct fix	*fx;
	char		 eb[512];

	PQclear(pg_raw("DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s", "");
	snprintf(fx->path, sizeof(fx->path), "%s", pg_url);
	if (store_open(fx->path, 0, BUSY_MS, &fx->st, eb, sizeof(eb)) !=
	    STORE_OK)
		fail_msg("store_open: %s", eb);
	*state = fx;
	return 0;
}

static int
teardown_pg(void **state)
{
	struct fix	*fx = *state;

	store_close(fx->st);
	free(fx);
	return 0;
}
#endif

static int
setup(void **state)
{
	struct fix	*fx;
	const char	*tmp;
	char		 eb[512];

	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	if ((tmp = getenv("TMPDIR")) == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/test_store.XXXXXX", tmp);
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/taskq.db", fx->dir);
	assert_int_equal(store_open(fx->path, 0, BUSY_MS, &fx->st, eb,
	    sizeof(eb)), STORE_OK);
	*state = fx;
	return 0;
}

static void
unlink_db(const char *path)
{
	char	 p[400];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-journal", path);
	unlink(p);
}

static int
teardown(void **state)
{
	struct fix	*fx = *state;
	char		 p[400];

	store_close(fx->st);
	unlink_db(fx->path);
	snprintf(p, sizeof(p), "%s/other.db", fx->dir);
	unlink_db(p);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static sqlite3 *
raw_open(const char *path)
{
	sqlite3	*db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, BUSY_MS);
	return db;
}

/* The first column of the first row of sql on the file, read directly. */
static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3		*db;
	sqlite3_stmt	*s = NULL;
	int64_t		 v = -1;

#ifdef HAVE_LIBPQ
	if (pg_url != NULL) {
		PGresult	*r = pg_raw(sql);

		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		return v;
	}
#endif
	db = raw_open(path);

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3	*db;
	char	*msg = NULL;
	int	 rc;

#ifdef HAVE_LIBPQ
	if (pg_url != NULL) {
		PQclear(pg_raw(sql));
		return;
	}
#endif
	db = raw_open(path);

	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static struct task *
submit(struct store *st, const char *type, const char *params, int priority)
{
	struct task_new	 tn;
	struct task	*t = NULL;
	bool		 existed = true;

	memset(&tn, 0, sizeof(tn));
	tn.task_type = type;
	tn.parameters = params;
	tn.priority = priority;
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	assert_int_equal(store_task_submit(st, &tn, &t, &existed), STORE_OK);
	assert_false(existed);
	assert_non_null(t);
	return t;
}

static struct task *
submit_attempts(struct store *st, int max_attempts)
{
	struct task_new	 tn;
	struct task	*t = NULL;
	bool		 existed;

	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.parameters = "{}";
	tn.max_attempts = max_attempts;
	tn.timeout_s = 60;
	assert_int_equal(store_task_submit(st, &tn, &t, &existed), STORE_OK);
	return t;
}

/* Claims exactly one task (asserted) as runner. */
static struct task *
claim_one(struct store *st, const char *runner)
{
	struct task	**ts = NULL, *t;
	size_t		 n = 0;

	assert_int_equal(store_task_claim(st, runner, 1, &ts, &n), STORE_OK);
	assert_int_equal(n, 1);
	t = ts[0];
	free(ts);
	return t;
}

static size_t
claim_count(struct store *st, const char *runner, size_t max)
{
	struct task	**ts = NULL;
	size_t		 n = 0, i;

	assert_int_equal(store_task_claim(st, runner, max, &ts, &n), STORE_OK);
	for (i = 0; i < n; i++)
		task_free(ts[i]);
	free(ts);
	return n;
}

static enum store_err
finish(struct store *st, const struct task *t, int64_t token,
    enum task_outcome oc, const char *result, const char *error)
{
	struct task_finish	 fi;
	enum store_err		 ie = STORE_DB;

	memset(&fi, 0, sizeof(fi));
	fi.id = t->id;
	fi.claim_token = token;
	fi.outcome = oc;
	fi.result_data = result;
	fi.error_message = error;
	assert_int_equal(store_task_finish_many(st, &fi, 1, &ie), STORE_OK);
	return ie;
}

static struct task *
get(struct store *st, const char *id)
{
	struct task	*t = NULL;

	assert_int_equal(store_task_get(st, id, &t), STORE_OK);
	return t;
}

static enum task_status
status_of(struct store *st, const char *id)
{
	struct task	*t = get(st, id);
	enum task_status s = t->status;

	task_free(t);
	return s;
}

/*
 * The store's counts (per type and in total) equal COUNT(*) over the tasks
 * table computed here directly, and the full-text index is consistent.
 */
static void
assert_counts_exact(struct fix *fx)
{
	static const char	 sql[] = "SELECT task_type, status, count(*) "
	    "FROM tasks GROUP BY 1, 2";
	struct store_stats	 ss;
	sqlite3			*db = NULL;
	sqlite3_stmt		*s = NULL;
	int64_t			 total_raw[TASK_STATUS__MAX] = { 0 };
	int64_t			 sum_types = 0, nraw = 0, n;
	size_t			 i, j;
	int			 sv, row = 0;
	const char		*type, *status;
	char			*problems = (char *)1;
#ifdef HAVE_LIBPQ
	PGresult		*r = NULL;
#endif

	assert_int_equal(store_stats_get(fx->st, &ss), STORE_OK);
#ifdef HAVE_LIBPQ
	if (pg_url != NULL)
		r = pg_raw(sql);
	else
#endif
	{
		db = raw_open(fx->path);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL),
		    SQLITE_OK);
	}
	for (;; row++) {
#ifdef HAVE_LIBPQ
		if (r != NULL) {
			if (row >= PQntuples(r))
				break;
			type = PQgetvalue(r, row, 0);
			status = PQgetvalue(r, row, 1);
			n = strtoll(PQgetvalue(r, row, 2), NULL, 10);
		} else
#endif
		{
			if (sqlite3_step(s) != SQLITE_ROW)
				break;
			type = (const char *)sqlite3_column_text(s, 0);
			status = (const char *)sqlite3_column_text(s, 1);
			n = sqlite3_column_int64(s, 2);
		}
		sv = task_status_parse(status);
		assert_true(sv >= 0);
		total_raw[sv] += n;
		nraw += n;
		for (i = 0; i < ss.ntypes; i++)
			if (strcmp(ss.types[i].task_type, type) == 0)
				break;
		assert_true(i < ss.ntypes);
		assert_int_equal(ss.types[i].by_status[sv], n);
	}
#ifdef HAVE_LIBPQ
	PQclear(r);
#endif
	sqlite3_finalize(s);
	sqlite3_close(db);
	for (j = 0; j < TASK_STATUS__MAX; j++) {
		assert_int_equal(ss.by_status[j], total_raw[j]);
		for (i = 0; i < ss.ntypes; i++)
			sum_types += ss.types[i].by_status[j];
	}
	/* No count that COUNT(*) does not see. */
	assert_int_equal(sum_types, nraw);
	store_stats_free(&ss);
	/* The store's own check agrees. */
	assert_int_equal(store_integrity_check(fx->st, &problems), STORE_OK);
	if (problems != NULL)
		fail_msg("integrity check: %s", problems);
	if (pg_url != NULL)
		return;
	/* The FTS index matches the rows it indexes (an error otherwise). */
	raw_exec(fx->path, "INSERT INTO tasks_fts (tasks_fts) "
	    "VALUES ('integrity-check')");
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM "
	    "pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
}

/* ---- open and schema ---------------------------------------------------- */

static void
test_open_creates_wal_schema(void **state)
{
	struct fix	*fx = *state;
	char		 q[64];

	assert_int_equal(store_schema_version(fx->st), STORE_SCHEMA_VERSION);
	assert_true(STORE_SCHEMA_VERSION >= 2);
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"),
	    STORE_SCHEMA_VERSION);
	/* journal_mode is a string: compare through SQL. */
	assert_int_equal(raw_int(fx->path,
	    "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_master "
	    "WHERE name IN ('tasks', 'tasks_fts', 'finish_rollup', 'counts', "
	    "'runners', 'paused_types', 'idempotency', 'files')"), 8);
	assert_int_equal(store_ping(fx->st), STORE_OK);
	snprintf(q, sizeof(q), "%s", store_strerror(STORE_CONFLICT));
	assert_string_equal(q, "state conflict");
	assert_non_null(store_strerror(STORE_ERR__MAX));
	store_close(NULL);
}

static void
test_open_twice_migrates_once(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = NULL;
	char		 eb[256];

	/* Reopening an up-to-date file changes nothing. */
	assert_int_equal(store_open(fx->path, 0, BUSY_MS, &st2, eb,
	    sizeof(eb)), STORE_OK);
	assert_int_equal(store_schema_version(st2), STORE_SCHEMA_VERSION);
	store_close(st2);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'tasks_fts'"), 1);
}

/*
 * Several processes opening a new file at once: all succeed and the
 * migrations run once (a second run would fail on CREATE TABLE).
 */
static void
test_open_concurrent_processes(void **state)
{
	struct fix	*fx = *state;
	char		 path[400];
	pid_t		 pids[6];
	int		 status, round;
	size_t		 i;

	for (round = 0; round < 3; round++) {
		snprintf(path, sizeof(path), "%s/other.db", fx->dir);
		unlink_db(path);
		for (i = 0; i < 6; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				struct store	*st = NULL;
				char		 eb[256];

				if (store_open(path, 0, BUSY_MS, &st, eb,
				    sizeof(eb)) != STORE_OK) {
					fprintf(stderr, "%s\n", eb);
					_exit(1);
				}
				status = store_schema_version(st) ==
				    STORE_SCHEMA_VERSION ? 0 : 2;
				store_close(st);
				_exit(status);
			}
		}
		for (i = 0; i < 6; i++) {
			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
		assert_int_equal(raw_int(path, "PRAGMA user_version"),
		    STORE_SCHEMA_VERSION);
		assert_int_equal(raw_int(path, "SELECT count(*) FROM "
		    "finish_rollup"), 0);
	}
}

static void
test_open_not_a_database(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = (struct store *)1;
	char		 path[400], eb[512];
	FILE		*f;
	int		 i;

	snprintf(path, sizeof(path), "%s/other.db", fx->dir);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < 512; i++)
		fputs("this is not an SQLite file\n", f);
	fclose(f);
	assert_int_equal(store_open(path, 0, 100, &st2, eb, sizeof(eb)),
	    STORE_DB);
	assert_null(st2);
	assert_non_null(strstr(eb, path));
}

static void
test_open_newer_version_refused(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = (struct store *)1;
	char		 eb[512], want[64];

	raw_exec(fx->path, "PRAGMA user_version = 7");
	assert_int_equal(store_open(fx->path, 0, BUSY_MS, &st2, eb,
	    sizeof(eb)), STORE_VERSION);
	assert_null(st2);
	assert_non_null(strstr(eb, fx->path));
	assert_non_null(strstr(eb, "7"));
	snprintf(want, sizeof(want), "%d", STORE_SCHEMA_VERSION);
	assert_non_null(strstr(eb, want));
	/* Nothing was changed by the refused open. */
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 7);
}

static void
test_open_errors_name_path(void **state)
{
	struct store	*st2 = (struct store *)1;
	char		 eb[512];

	(void)state;
	assert_int_equal(store_open("/nonexistent-dir/x/taskq.db", 0, 100,
	    &st2, eb, sizeof(eb)), STORE_DB);
	assert_null(st2);
	assert_non_null(strstr(eb, "/nonexistent-dir/x/taskq.db"));
}

/* The database string names the backend: "sqlite:" URLs are files too. */
static void
test_open_backend_by_name(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = NULL;
	struct task	*t, *g;
	char		 url[400], eb[512];

	assert_true(store_is_postgresql("postgresql://h/db"));
	assert_true(store_is_postgresql("postgres://u@h:5432/db"));
	assert_false(store_is_postgresql("/var/lib/taskq/taskq.db"));
	assert_false(store_is_postgresql("sqlite:/x.db"));
	assert_false(store_is_postgresql("postgresql.db"));
	assert_int_equal(store_wakeup_fd(fx->st), -1);
	assert_false(store_wakeup_drain(fx->st));
	t = submit(fx->st, "echo", "{}", 0);
	snprintf(url, sizeof(url), "sqlite:%s", fx->path);
	assert_int_equal(store_open(url, 0, BUSY_MS, &st2, eb, sizeof(eb)),
	    STORE_OK);
	g = get(st2, t->id);
	task_free(g);
	store_close(st2);
	snprintf(url, sizeof(url), "sqlite://%s", fx->path);
	assert_int_equal(store_open(url, 0, BUSY_MS, &st2, eb, sizeof(eb)),
	    STORE_OK);
	g = get(st2, t->id);
	task_free(g);
	store_close(st2);
#ifndef HAVE_LIBPQ
	/* Without libpq a PostgreSQL URL is refused, saying why. */
	st2 = (struct store *)1;
	assert_int_equal(store_open("postgresql://127.0.0.1/x", 0, BUSY_MS,
	    &st2, eb, sizeof(eb)), STORE_INVALID);
	assert_null(st2);
	assert_non_null(strstr(eb, "without PostgreSQL"));
#endif
	task_free(t);
}

static const char *
fixture_path(char *buf, size_t sz)
{
	const char	*srcdir = getenv("srcdir");

#ifdef TASKQ_TOP_SRCDIR
	if (srcdir == NULL)
		srcdir = TASKQ_TOP_SRCDIR;
#endif
	if (srcdir == NULL)
		srcdir = ".";
	snprintf(buf, sz, "%s/tests/unit/fixtures/schema_v1.sql", srcdir);
	return buf;
}

static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(path, "r")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return buf;
}

static void
test_migrate_from_v1_fixture(void **state)
{
	struct fix		*fx = *state;
	struct store		*st2 = NULL;
	struct task_filter	 f;
	struct task_list	 l;
	struct task		*t;
	struct store_stats	 ss;
	char			 fp[512], path[400], eb[512];
	char			*sql;
	const char		*m1;
	bool			 paused, existed;
	struct task_new		 tn;

	sql = slurp(fixture_path(fp, sizeof(fp)));
	/* The fixture is migration 1 verbatim, then rows. */
	m1 = store_sqlite_migration(1);
	assert_non_null(m1);
	assert_int_equal(strncmp(sql, m1, strlen(m1)), 0);
	assert_null(store_sqlite_migration(0));
	assert_null(store_sqlite_migration(STORE_SCHEMA_VERSION + 1));

	snprintf(path, sizeof(path), "%s/other.db", fx->dir);
	raw_exec(path, sql);
	free(sql);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);

	/* NOMIGRATE refuses the old file and leaves it alone. */
	assert_int_equal(store_open(path, STORE_OPEN_NOMIGRATE, BUSY_MS, &st2,
	    eb, sizeof(eb)), STORE_VERSION);
	assert_non_null(strstr(eb, path));
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);

	assert_int_equal(store_open(path, 0, BUSY_MS, &st2, eb, sizeof(eb)),
	    STORE_OK);
	assert_int_equal(store_schema_version(st2), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(path, "PRAGMA user_version"),
	    STORE_SCHEMA_VERSION);

	/* Data kept. */
	t = get(st2, "11111111-1111-4111-8111-111111111111");
	assert_int_equal(t->status, TASK_SUCCESS);
	assert_string_equal(t->task_type, "echo");
	task_free(t);
	assert_int_equal(store_type_is_paused(st2, "email", &paused), STORE_OK);
	assert_true(paused);

	/* Search finds rows written before FTS existed. */
	memset(&f, 0, sizeof(f));
	f.q = "invoice";
	assert_int_equal(store_task_list(st2, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id,
	    "11111111-1111-4111-8111-111111111111");
	store_task_list_free(&l);
	f.q = "smtp timeout";
	assert_int_equal(store_task_list(st2, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id,
	    "22222222-2222-4222-8222-222222222222");
	store_task_list_free(&l);

	/* Counts exact, and the rollup was backfilled from finished rows. */
	assert_int_equal(store_stats_get(st2, &ss), STORE_OK);
	assert_int_equal(ss.by_status[TASK_PENDING], 1);
	assert_int_equal(ss.by_status[TASK_SUCCESS], 1);
	assert_int_equal(ss.by_status[TASK_FAILED], 1);
	assert_int_equal(ss.by_status[TASK_CANCELLED], 1);
	assert_int_equal(ss.by_status[TASK_RUNNING], 0);
	assert_int_equal(ss.oldest_pending_ms, 1764374420000LL);
	store_stats_free(&ss);
	assert_int_equal(raw_int(path, "SELECT sum(finished) FROM "
	    "finish_rollup"), 2);
	assert_int_equal(raw_int(path, "SELECT sum(failed) FROM "
	    "finish_rollup"), 1);

	/* The idempotency key of the old file is honoured (its own time). */
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	tn.idempotency_key = "fixture-key";
	assert_int_equal(store_task_submit(st2, &tn, &t, &existed), STORE_OK);
	/* The fixture's key is years old by the clock, so a new task. */
	assert_false(existed);
	assert_true(t->seq > 4);
	task_free(t);
	store_close(st2);
}

/* ---- submit, get, idempotency ------------------------------------------ */

static void
test_submit_and_get(void **state)
{
	struct fix	*fx = *state;
	struct task	*t, *g;
	char		 upper[TASK_ID_LEN + 1];
	size_t		 i;

	t = submit(fx->st, "echo", "{\"message\": \"hi\"}", 7);
	assert_int_equal(t->status, TASK_PENDING);
	assert_string_equal(t->task_type, "echo");
	assert_string_equal(t->parameters, "{\"message\": \"hi\"}");
	assert_null(t->result_data);
	assert_null(t->error_message);
	assert_null(t->claim_owner);
	assert_string_equal(t->retry_of, "");
	assert_int_equal(t->attempt, 1);
	assert_int_equal(t->priority, 7);
	assert_int_equal(t->progress, 0);
	assert_true(t->created_at > 0);
	assert_int_equal(t->run_at, t->created_at);
	assert_int_equal(t->started_at, 0);
	assert_int_equal(t->claim_token, 0);
	assert_int_equal(strlen(t->id), TASK_ID_LEN);

	/* Any case finds it. */
	for (i = 0; i <= TASK_ID_LEN; i++)
		upper[i] = (char)(t->id[i] >= 'a' && t->id[i] <= 'f' ?
		    t->id[i] - 32 : t->id[i]);
	g = get(fx->st, upper);
	assert_string_equal(g->id, t->id);
	assert_int_equal(g->seq, t->seq);
	task_free(g);

	assert_int_equal(store_task_get(fx->st,
	    "00000000-0000-4000-8000-000000000000", &g), STORE_NOTFOUND);
	assert_null(g);
	assert_int_equal(store_task_get(fx->st, "nope", &g), STORE_INVALID);
	task_free(t);
}

static void
test_submit_invalid(void **state)
{
	struct fix	*fx = *state;
	struct task_new	 tn;
	struct task	*t = NULL;
	bool		 ex;

	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	tn.priority = 101;
	assert_int_equal(store_task_submit(fx->st, &tn, &t, &ex), STORE_INVALID);
	assert_null(t);
	tn.priority = 0;
	tn.max_attempts = 26;
	assert_int_equal(store_task_submit(fx->st, &tn, &t, &ex), STORE_INVALID);
	tn.max_attempts = 1;
	tn.timeout_s = 0;
	assert_int_equal(store_task_submit(fx->st, &tn, &t, &ex), STORE_INVALID);
	tn.timeout_s = 60;
	tn.task_type = "";
	assert_int_equal(store_task_submit(fx->st, &tn, &t, &ex), STORE_INVALID);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks"), 0);
	assert_counts_exact(fx);
}

static void
test_submit_many_group(void **state)
{
	struct fix	*fx = *state;
	struct task_new	 tn[4];
	struct task	*outs[4];
	bool		 ex[4];
	enum store_err	 errs[4];
	size_t		 i;

	memset(tn, 0, sizeof(tn));
	for (i = 0; i < 4; i++) {
		tn[i].task_type = i == 3 ? "email" : "echo";
		tn[i].parameters = "{}";
		tn[i].max_attempts = 1;
		tn[i].timeout_s = 60;
	}
	tn[1].priority = 500;		/* item-level failure */
	tn[2].idempotency_key = "k";
	tn[3].idempotency_key = "k";	/* same key in the same batch */
	assert_int_equal(store_task_submit_many(fx->st, tn, 4, outs, ex, errs),
	    STORE_OK);
	assert_int_equal(errs[0], STORE_OK);
	assert_int_equal(errs[1], STORE_INVALID);
	assert_null(outs[1]);
	assert_int_equal(errs[2], STORE_OK);
	assert_false(ex[2]);
	assert_int_equal(errs[3], STORE_OK);
	assert_true(ex[3]);
	assert_string_equal(outs[3]->id, outs[2]->id);
	assert_true(outs[2]->seq > outs[0]->seq);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks"), 2);
	for (i = 0; i < 4; i++)
		task_free(outs[i]);
	assert_counts_exact(fx);
	assert_int_equal(store_task_submit_many(fx->st, tn, 0, outs, ex, errs),
	    STORE_OK);
}

/*
 * A batch of 100 (more than one multi-row INSERT: 64 + 32 + 4 rows) with
 * an invalid item and a keyed one among them: every valid item is stored
 * with its own fields, in batch order, once, and is found by search.
 */
static void
test_submit_many_large(void **state)
{
	struct fix		*fx = *state;
	struct task_new		 tn[100];
	struct task		*outs[100];
	bool			 ex[100];
	enum store_err		 errs[100];
	char			 params[100][64], q[32];
	struct task_filter	 f;
	struct task_list	 l;
	size_t			 i, j;

	memset(tn, 0, sizeof(tn));
	for (i = 0; i < 100; i++) {
		snprintf(params[i], sizeof(params[i]),
		    "{\"message\": \"word%zu\"}", i);
		tn[i].task_type = i % 3 ? "echo" : "email";
		tn[i].parameters = params[i];
		tn[i].max_attempts = 1 + (int)(i % 5);
		tn[i].priority = (int)(i % 7) - 3;
		tn[i].timeout_s = 60 + (int)i;
		tn[i].run_at = i == 40 ? 4102444800000 : 0;
	}
	tn[13].timeout_s = 0;			/* invalid */
	tn[77].idempotency_key = "large-batch";
	assert_int_equal(store_task_submit_many(fx->st, tn, 100, outs, ex,
	    errs), STORE_OK);
	for (i = 0; i < 100; i++) {
		if (i == 13) {
			assert_int_equal(errs[i], STORE_INVALID);
			assert_null(outs[i]);
			continue;
		}
		assert_int_equal(errs[i], STORE_OK);
		assert_non_null(outs[i]);
		assert_false(ex[i]);
		assert_string_equal(outs[i]->parameters, params[i]);
		assert_string_equal(outs[i]->task_type, tn[i].task_type);
		assert_int_equal(outs[i]->max_attempts, tn[i].max_attempts);
		assert_int_equal(outs[i]->priority, tn[i].priority);
		assert_int_equal(outs[i]->timeout_s, tn[i].timeout_s);
		assert_int_equal(outs[i]->status, TASK_PENDING);
		if (i == 40)
			assert_int_equal(outs[i]->run_at, 4102444800000);
		else
			assert_int_equal(outs[i]->run_at, outs[i]->created_at);
		for (j = 0; j < i; j++)
			if (outs[j] != NULL) {
				assert_string_not_equal(outs[j]->id, outs[i]->id);
				/* Plain items in batch order; the keyed one after. */
				if (i != 77 && j != 77)
					assert_true(outs[j]->seq < outs[i]->seq);
			}
	}
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks"), 99);
	assert_counts_exact(fx);
	for (i = 0; i < 100; i += 11) {
		snprintf(q, sizeof(q), "word%zu", i);
		memset(&f, 0, sizeof(f));
		f.q = q;
		assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
		assert_int_equal(l.n, i == 13 ? 0 : 1);
		if (l.n == 1)
			assert_string_equal(l.tasks[0]->id, outs[i]->id);
		store_task_list_free(&l);
	}
	for (i = 0; i < 100; i++)
		task_free(outs[i]);
}

static void
test_idempotency_returns_first(void **state)
{
	struct fix	*fx = *state;
	struct task_new	 tn;
	struct task	*a, *b, *c;
	bool		 ex;

	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.parameters = "{\"message\": \"one\"}";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	tn.idempotency_key = "order-42";
	assert_int_equal(store_task_submit(fx->st, &tn, &a, &ex), STORE_OK);
	assert_false(ex);
	tn.parameters = "{\"message\": \"two\"}";
	assert_int_equal(store_task_submit(fx->st, &tn, &b, &ex), STORE_OK);
	assert_true(ex);
	assert_string_equal(a->id, b->id);
	assert_string_equal(b->parameters, "{\"message\": \"one\"}");
	tn.idempotency_key = "order-43";
	assert_int_equal(store_task_submit(fx->st, &tn, &c, &ex), STORE_OK);
	assert_false(ex);
	assert_string_not_equal(c->id, a->id);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks"), 2);

	/* An expired key (older than 24 h) makes a new task. */
	raw_exec(fx->path, "UPDATE idempotency SET created_at = created_at - "
	    "86400001 WHERE key = 'order-42'");
	task_free(b);
	tn.idempotency_key = "order-42";
	assert_int_equal(store_task_submit(fx->st, &tn, &b, &ex), STORE_OK);
	assert_false(ex);
	assert_string_not_equal(b->id, a->id);
	task_free(a);
	task_free(b);
	task_free(c);
}

/* ---- transitions -------------------------------------------------------- */

static void
test_cancel_transitions(void **state)
{
	struct fix	*fx = *state;
	struct task	*p, *r, *c, *out;

	p = submit(fx->st, "echo", "{}", 0);
	assert_int_equal(store_task_cancel(fx->st, p->id, &out), STORE_OK);
	assert_int_equal(out->status, TASK_CANCELLED);
	assert_true(out->completed_at > 0);
	task_free(out);
	assert_counts_exact(fx);

	/* Cancelled again: conflict. */
	assert_int_equal(store_task_cancel(fx->st, p->id, &out), STORE_CONFLICT);
	assert_null(out);
	assert_non_null(strstr(store_errmsg(fx->st), "CANCELLED"));

	/* RUNNING -> CANCELLED, and the runner's finish then loses. */
	r = submit(fx->st, "echo", "{}", 0);
	c = claim_one(fx->st, "r1");
	assert_string_equal(c->id, r->id);
	assert_int_equal(store_task_cancel(fx->st, r->id, &out), STORE_OK);
	assert_int_equal(out->status, TASK_CANCELLED);
	task_free(out);
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{}", NULL), STORE_CONFLICT);
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_FAILED,
	    NULL, "x"), STORE_CONFLICT);
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_RETRY,
	    NULL, "x"), STORE_CONFLICT);
	assert_int_equal(status_of(fx->st, r->id), TASK_CANCELLED);
	task_free(c);

	/* Finished tasks cannot be cancelled. */
	task_free(p);
	p = submit(fx->st, "echo", "{}", 0);
	c = claim_one(fx->st, "r1");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{}", NULL), STORE_OK);
	assert_int_equal(store_task_cancel(fx->st, p->id, &out), STORE_CONFLICT);
	assert_int_equal(status_of(fx->st, p->id), TASK_SUCCESS);
	task_free(c);
	task_free(p);
	p = submit(fx->st, "echo", "{}", 0);
	c = claim_one(fx->st, "r1");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_FAILED,
	    NULL, "boom"), STORE_OK);
	assert_int_equal(store_task_cancel(fx->st, p->id, &out), STORE_CONFLICT);
	assert_int_equal(status_of(fx->st, p->id), TASK_FAILED);

	assert_int_equal(store_task_cancel(fx->st,
	    "00000000-0000-4000-8000-000000000000", &out), STORE_NOTFOUND);
	assert_int_equal(store_task_cancel(fx->st, "bad", &out), STORE_INVALID);
	task_free(c);
	task_free(p);
	task_free(r);
	assert_counts_exact(fx);
}

static void
test_finish_success_and_failed(void **state)
{
	struct fix	*fx = *state;
	struct task	*p, *c, *g;

	p = submit(fx->st, "echo", "{}", 0);
	c = claim_one(fx->st, "runner-a");
	assert_int_equal(c->status, TASK_RUNNING);
	assert_string_equal(c->claim_owner, "runner-a");
	assert_true(c->claim_token > 0);
	assert_true(c->started_at > 0);
	assert_counts_exact(fx);

	/* Fencing: a wrong token is a conflict and changes nothing. */
	assert_int_equal(finish(fx->st, c, c->claim_token ^ 1,
	    OUTCOME_SUCCESS, "{\"a\": 1}", NULL), STORE_CONFLICT);
	assert_int_equal(status_of(fx->st, p->id), TASK_RUNNING);

	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{\"a\": 1}", NULL), STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->status, TASK_SUCCESS);
	assert_int_equal(g->progress, 100);
	assert_string_equal(g->result_data, "{\"a\": 1}");
	assert_null(g->error_message);
	assert_true(g->completed_at >= g->started_at);
	task_free(g);
	/* A second finish of the same claim: conflict, result kept. */
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_FAILED,
	    NULL, "late"), STORE_CONFLICT);
	assert_int_equal(status_of(fx->st, p->id), TASK_SUCCESS);
	task_free(c);
	task_free(p);

	p = submit(fx->st, "echo", "{}", 0);
	c = claim_one(fx->st, "runner-a");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_FAILED,
	    NULL, "requested failure"), STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->status, TASK_FAILED);
	assert_string_equal(g->error_message, "requested failure");
	assert_null(g->result_data);
	task_free(g);
	task_free(c);
	task_free(p);
	assert_counts_exact(fx);
}

static void
test_finish_many_mixed(void **state)
{
	struct fix		*fx = *state;
	struct task		*a, *b, *ca, *cb;
	struct task_finish	 fi[2];
	enum store_err		 errs[2];

	a = submit(fx->st, "echo", "{}", 0);
	b = submit(fx->st, "echo", "{}", 0);
	ca = claim_one(fx->st, "r");
	cb = claim_one(fx->st, "r");
	assert_string_equal(ca->id, a->id);
	memset(fi, 0, sizeof(fi));
	fi[0].id = ca->id;
	fi[0].claim_token = ca->claim_token;
	fi[0].outcome = OUTCOME_SUCCESS;
	fi[0].result_data = "{}";
	fi[0].worker_output = "some stderr";
	fi[1].id = cb->id;
	fi[1].claim_token = 12345;	/* not its token */
	fi[1].outcome = OUTCOME_SUCCESS;
	assert_int_equal(store_task_finish_many(fx->st, fi, 2, errs), STORE_OK);
	assert_int_equal(errs[0], STORE_OK);
	assert_int_equal(errs[1], STORE_CONFLICT);
	task_free(ca);
	ca = get(fx->st, a->id);
	assert_string_equal(ca->worker_output, "some stderr");
	assert_int_equal(status_of(fx->st, b->id), TASK_RUNNING);
	task_free(a);
	task_free(b);
	task_free(ca);
	task_free(cb);
	assert_counts_exact(fx);
}

static void
test_finish_retry_and_lost(void **state)
{
	struct fix	*fx = *state;
	struct task	*p, *c, *g;
	struct task_finish fi;
	enum store_err	 ie;
	int64_t		 later;

	p = submit_attempts(fx->st, 3);
	c = claim_one(fx->st, "r");
	later = time_now_ms() + 3600 * 1000;
	memset(&fi, 0, sizeof(fi));
	fi.id = c->id;
	fi.claim_token = c->claim_token;
	fi.outcome = OUTCOME_RETRY;
	fi.error_message = "temporary";
	fi.retry_at = later;
	assert_int_equal(store_task_finish_many(fx->st, &fi, 1, &ie), STORE_OK);
	assert_int_equal(ie, STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->status, TASK_PENDING);
	assert_int_equal(g->attempt, 2);
	assert_int_equal(g->run_at, later);
	assert_int_equal(g->claim_token, 0);
	assert_null(g->claim_owner);
	assert_int_equal(g->progress, 0);
	assert_null(g->error_message);
	task_free(g);
	/* Not claimable before run_at. */
	assert_int_equal(claim_count(fx->st, "r", 10), 0);
	raw_exec(fx->path, "UPDATE tasks SET run_at = 0");
	task_free(c);
	c = claim_one(fx->st, "r");
	assert_int_equal(c->attempt, 2);
	/* LOST requeues too. */
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_LOST, NULL,
	    NULL), STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->status, TASK_PENDING);
	assert_int_equal(g->attempt, 3);
	task_free(g);
	task_free(c);
	/* The third attempt is the last: RETRY now fails with its error. */
	c = claim_one(fx->st, "r");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_RETRY, NULL,
	    "still temporary"), STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->status, TASK_FAILED);
	assert_int_equal(g->attempt, 3);
	assert_string_equal(g->error_message, "still temporary");
	assert_true(g->completed_at > 0);
	task_free(g);
	task_free(c);
	task_free(p);

	/* LOST on the last attempt: FAILED "runner lost". */
	p = submit_attempts(fx->st, 1);
	c = claim_one(fx->st, "r");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_LOST, NULL,
	    NULL), STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->status, TASK_FAILED);
	assert_string_equal(g->error_message, "runner lost");
	task_free(g);
	task_free(c);
	task_free(p);
	assert_counts_exact(fx);
}

static void
test_retry_creates_new_task(void **state)
{
	struct fix	*fx = *state;
	struct task	*p, *c, *r1, *r2, *old;

	p = submit(fx->st, "echo", "{\"message\": \"again\"}", 3);
	/* PENDING cannot be retried. */
	assert_int_equal(store_task_retry(fx->st, p->id, &r1), STORE_CONFLICT);
	assert_null(r1);
	c = claim_one(fx->st, "r");
	assert_int_equal(store_task_retry(fx->st, p->id, &r1), STORE_CONFLICT);
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_FAILED,
	    NULL, "boom"), STORE_OK);
	assert_int_equal(store_task_retry(fx->st, p->id, &r1), STORE_OK);
	assert_string_not_equal(r1->id, p->id);
	assert_string_equal(r1->retry_of, p->id);
	assert_int_equal(r1->status, TASK_PENDING);
	assert_string_equal(r1->parameters, "{\"message\": \"again\"}");
	assert_int_equal(r1->priority, 3);
	assert_int_equal(r1->attempt, 1);
	/* The old task is untouched. */
	old = get(fx->st, p->id);
	assert_int_equal(old->status, TASK_FAILED);
	assert_string_equal(old->error_message, "boom");
	task_free(old);
	/* Retrying again makes another new task. */
	assert_int_equal(store_task_retry(fx->st, p->id, &r2), STORE_OK);
	assert_string_not_equal(r2->id, r1->id);
	assert_string_equal(r2->retry_of, p->id);
	/* SUCCESS cannot be retried; unknown is NOTFOUND. */
	task_free(c);
	c = claim_one(fx->st, "r");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{}", NULL), STORE_OK);
	assert_int_equal(store_task_retry(fx->st, c->id, &old), STORE_CONFLICT);
	assert_int_equal(store_task_retry(fx->st,
	    "00000000-0000-4000-8000-000000000000", &old), STORE_NOTFOUND);
	task_free(c);
	task_free(p);
	task_free(r1);
	task_free(r2);
	assert_counts_exact(fx);
}

static void
test_bulk_cancel_and_retry(void **state)
{
	struct fix		*fx = *state;
	struct task_filter	 f;
	struct task		*t[6], *c;
	const char		*types[] = { "email" };
	int64_t			 n;
	size_t			 i;

	for (i = 0; i < 6; i++)
		t[i] = submit(fx->st, i < 4 ? "echo" : "email",
		    i == 1 ? "{\"message\": \"needle\"}" : "{}", 0);
	c = claim_one(fx->st, "r");		/* t[0] RUNNING */
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{}", NULL), STORE_OK);		/* t[0] SUCCESS */
	task_free(c);

	/* Cancel only email. */
	memset(&f, 0, sizeof(f));
	f.types = types;
	f.ntypes = 1;
	assert_int_equal(store_task_cancel_matching(fx->st, &f, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(status_of(fx->st, t[4]->id), TASK_CANCELLED);
	assert_int_equal(status_of(fx->st, t[1]->id), TASK_PENDING);
	/* A status filter outside PENDING/RUNNING touches nothing. */
	memset(&f, 0, sizeof(f));
	f.status_mask = 1u << TASK_SUCCESS;
	assert_int_equal(store_task_cancel_matching(fx->st, &f, &n), STORE_OK);
	assert_int_equal(n, 0);
	/* By search. */
	memset(&f, 0, sizeof(f));
	f.q = "needle";
	assert_int_equal(store_task_cancel_matching(fx->st, &f, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(status_of(fx->st, t[1]->id), TASK_CANCELLED);
	assert_counts_exact(fx);

	/* Retry all CANCELLED/FAILED: 3 cancelled so far. */
	memset(&f, 0, sizeof(f));
	assert_int_equal(store_task_retry_matching(fx->st, &f, &n), STORE_OK);
	assert_int_equal(n, 3);
	/* Again: each already has a retry, so none. */
	assert_int_equal(store_task_retry_matching(fx->st, &f, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks "
	    "WHERE retry_of IS NOT NULL"), 3);
	/* Cancel everything left: 2 echo PENDING + 3 retries. */
	assert_int_equal(store_task_cancel_matching(fx->st, NULL, &n), STORE_OK);
	assert_int_equal(n, 5);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks WHERE "
	    "status IN ('PENDING', 'RUNNING')"), 0);
	/* An all-punctuation q matches nothing. */
	memset(&f, 0, sizeof(f));
	f.q = "\"*(:-^";
	assert_int_equal(store_task_retry_matching(fx->st, &f, &n), STORE_OK);
	assert_int_equal(n, 0);
	for (i = 0; i < 6; i++)
		task_free(t[i]);
	assert_counts_exact(fx);
}

/* ---- claiming ----------------------------------------------------------- */

static void
test_claim_order_run_at_paused(void **state)
{
	struct fix	*fx = *state;
	struct task_new	 tn;
	struct task	*lo, *hi1, *hi2, *future, *mail, *c, **ts;
	bool		 ex, paused;
	size_t		 n;

	lo = submit(fx->st, "echo", "{}", -5);
	hi1 = submit(fx->st, "echo", "{}", 10);
	hi2 = submit(fx->st, "echo", "{}", 10);
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	tn.priority = 100;
	tn.run_at = time_now_ms() + 3600 * 1000;
	assert_int_equal(store_task_submit(fx->st, &tn, &future, &ex), STORE_OK);
	mail = submit(fx->st, "email", "{}", 50);
	assert_int_equal(store_type_set_paused(fx->st, "email", true), STORE_OK);
	assert_int_equal(store_type_is_paused(fx->st, "email", &paused),
	    STORE_OK);
	assert_true(paused);
	assert_int_equal(store_type_is_paused(fx->st, "echo", &paused),
	    STORE_OK);
	assert_false(paused);

	/* Highest priority first, then oldest. */
	c = claim_one(fx->st, "r");
	assert_string_equal(c->id, hi1->id);
	task_free(c);
	assert_int_equal(store_task_claim(fx->st, "r", 10, &ts, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ts[0]->id, hi2->id);
	assert_string_equal(ts[1]->id, lo->id);
	assert_int_equal(ts[0]->claim_token, ts[1]->claim_token);
	task_free(ts[0]);
	task_free(ts[1]);
	free(ts);
	/* The paused type and the future task wait. */
	assert_int_equal(claim_count(fx->st, "r", 10), 0);
	assert_int_equal(store_type_set_paused(fx->st, "email", false),
	    STORE_OK);
	c = claim_one(fx->st, "r");
	assert_string_equal(c->id, mail->id);
	task_free(c);
	assert_int_equal(claim_count(fx->st, "r", 10), 0);
	assert_int_equal(status_of(fx->st, future->id), TASK_PENDING);

	assert_int_equal(store_task_claim(fx->st, "r", 0, &ts, &n),
	    STORE_INVALID);
	assert_int_equal(store_task_claim(fx->st, "", 1, &ts, &n),
	    STORE_INVALID);
	task_free(lo);
	task_free(hi1);
	task_free(hi2);
	task_free(future);
	task_free(mail);
	assert_counts_exact(fx);
}

static void
test_claim_race_two_connections(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = NULL;
	struct task	*t, *a, **ts;
	char		 eb[256];
	size_t		 n;
	int		 i;

	assert_int_equal(store_open(fx->path, 0, BUSY_MS, &st2, eb,
	    sizeof(eb)), STORE_OK);
	for (i = 0; i < 20; i++) {
		t = submit(fx->st, "echo", "{}", 0);
		/* Alternate who goes first; exactly one gets it. */
		a = claim_one(i % 2 ? st2 : fx->st, "r1");
		assert_string_equal(a->id, t->id);
		assert_int_equal(store_task_claim(i % 2 ? fx->st : st2, "r2",
		    1, &ts, &n), STORE_OK);
		assert_int_equal(n, 0);
		assert_null(ts);
		/* The loser cannot finish it either. */
		assert_int_equal(finish(i % 2 ? fx->st : st2, a,
		    a->claim_token + 1, OUTCOME_SUCCESS, "{}", NULL),
		    STORE_CONFLICT);
		task_free(a);
		task_free(t);
	}
	store_close(st2);
}

struct racer {
	const char	*path;
	const char	*runner;
	int64_t		 claimed[600];
	size_t		 n;
	int		 failed;
};

static void *
racer_run(void *arg)
{
	struct racer	*r = arg;
	struct store	*st = NULL;
	struct task	**ts;
	char		 eb[256];
	size_t		 n, i;
	enum store_err	 e;

	if (store_open(r->path, 0, BUSY_MS, &st, eb, sizeof(eb)) != STORE_OK) {
		r->failed = 1;
		return NULL;
	}
	for (;;) {
		e = store_task_claim(st, r->runner, 3, &ts, &n);
		if (e == STORE_BUSY)
			continue;
		if (e != STORE_OK) {
			r->failed = 1;
			break;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			if (r->n < 600)
				r->claimed[r->n++] = ts[i]->seq;
			task_free(ts[i]);
		}
		free(ts);
	}
	store_close(st);
	return NULL;
}

static void
fill_tasks(struct store *st, size_t n)
{
	struct task_new	 tn[50];
	struct task	*outs[50];
	bool		 ex[50];
	enum store_err	 errs[50];
	size_t		 i, j, k;

	memset(tn, 0, sizeof(tn));
	for (i = 0; i < 50; i++) {
		tn[i].task_type = "echo";
		tn[i].parameters = "{}";
		tn[i].max_attempts = 1;
		tn[i].timeout_s = 60;
	}
	for (i = 0; i < n; i += k) {
		k = n - i < 50 ? n - i : 50;
		assert_int_equal(store_task_submit_many(st, tn, k, outs, ex,
		    errs), STORE_OK);
		for (j = 0; j < k; j++) {
			assert_int_equal(errs[j], STORE_OK);
			task_free(outs[j]);
		}
	}
}

static void
test_claim_race_threads(void **state)
{
	struct fix	*fx = *state;
	struct racer	 r[4];
	pthread_t	 th[4];
	char		*seen;
	size_t		 i, j, total = 0;
	char		 names[4][8];

	fill_tasks(fx->st, 500);
	memset(r, 0, sizeof(r));
	for (i = 0; i < 4; i++) {
		snprintf(names[i], sizeof(names[i]), "t%zu", i);
		r[i].path = fx->path;
		r[i].runner = names[i];
		assert_int_equal(pthread_create(&th[i], NULL, racer_run, &r[i]),
		    0);
	}
	seen = calloc(600, 1);
	assert_non_null(seen);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].failed, 0);
		for (j = 0; j < r[i].n; j++) {
			assert_true(r[i].claimed[j] >= 1 &&
			    r[i].claimed[j] <= 500);
			assert_int_equal(seen[r[i].claimed[j]], 0);
			seen[r[i].claimed[j]] = 1;
			total++;
		}
	}
	assert_int_equal(total, 500);
	free(seen);
	assert_counts_exact(fx);
}

/*
 * Real processes: each child opens its own connection and claims in a loop,
 * writing every claimed seq to a pipe; every task must be claimed exactly
 * once across all of them.
 */
static void
test_claim_race_processes(void **state)
{
	struct fix	*fx = *state;
	pid_t		 pids[4];
	int		 fds[2], status;
	int64_t		 seq;
	char		*seen;
	size_t		 i, total = 0;
	ssize_t		 nr;

	fill_tasks(fx->st, 500);
	assert_int_equal(pipe(fds), 0);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store	*st = NULL;
			struct task	**ts;
			char		 eb[256], name[16];
			size_t		 n, k;
			enum store_err	 e;

			close(fds[0]);
			snprintf(name, sizeof(name), "proc%zu", i);
			if (store_open(fx->path, 0, BUSY_MS, &st, eb,
			    sizeof(eb)) != STORE_OK)
				_exit(2);
			for (;;) {
				e = store_task_claim(st, name, 2, &ts, &n);
				if (e == STORE_BUSY)
					continue;
				if (e != STORE_OK)
					_exit(3);
				if (n == 0)
					break;
				for (k = 0; k < n; k++) {
					seq = ts[k]->seq;
					if (write(fds[1], &seq, sizeof(seq)) !=
					    sizeof(seq))
						_exit(4);
					task_free(ts[k]);
				}
				free(ts);
			}
			store_close(st);
			_exit(0);
		}
	}
	close(fds[1]);
	seen = calloc(600, 1);
	assert_non_null(seen);
	while ((nr = read(fds[0], &seq, sizeof(seq))) == sizeof(seq)) {
		assert_true(seq >= 1 && seq <= 500);
		assert_int_equal(seen[seq], 0);
		seen[seq] = 1;
		total++;
	}
	assert_int_equal(nr, 0);
	close(fds[0]);
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(total, 500);
	free(seen);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks WHERE "
	    "status = 'RUNNING'"), 500);
	assert_counts_exact(fx);
}

struct duel {
	const char	*path;
	struct task	**tasks;
	size_t		 n;
	bool		 cancel;		/* else finish */
	enum store_err	 res[100];
	int		 failed;
};

static void *
duel_run(void *arg)
{
	struct duel	*d = arg;
	struct store	*st = NULL;
	struct task	*out;
	struct task_finish fi;
	char		 eb[256];
	size_t		 i;

	if (store_open(d->path, 0, BUSY_MS, &st, eb, sizeof(eb)) != STORE_OK) {
		d->failed = 1;
		return NULL;
	}
	for (i = 0; i < d->n; i++) {
		if (d->cancel) {
			d->res[i] = store_task_cancel(st, d->tasks[i]->id, &out);
			task_free(out);
		} else {
			memset(&fi, 0, sizeof(fi));
			fi.id = d->tasks[i]->id;
			fi.claim_token = d->tasks[i]->claim_token;
			fi.outcome = OUTCOME_SUCCESS;
			fi.result_data = "{}";
			if (store_task_finish_many(st, &fi, 1, &d->res[i]) !=
			    STORE_OK)
				d->failed = 1;
		}
	}
	store_close(st);
	return NULL;
}

/*
 * Cancel and finish racing on two connections over the same RUNNING
 * tasks: for each, exactly one wins, the other gets STORE_CONFLICT, and the
 * final status is the winner's.
 */
static void
test_cancel_finish_race(void **state)
{
	struct fix	*fx = *state;
	struct task	**ts = NULL;
	struct duel	 d[2];
	pthread_t	 th[2];
	size_t		 n, i, ncancel = 0;
	int		 k;

	fill_tasks(fx->st, 100);
	assert_int_equal(store_task_claim(fx->st, "r", 100, &ts, &n), STORE_OK);
	assert_int_equal(n, 100);
	memset(d, 0, sizeof(d));
	for (k = 0; k < 2; k++) {
		d[k].path = fx->path;
		d[k].tasks = ts;
		d[k].n = n;
		d[k].cancel = k == 0;
		assert_int_equal(pthread_create(&th[k], NULL, duel_run, &d[k]),
		    0);
	}
	for (k = 0; k < 2; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(d[k].failed, 0);
	}
	for (i = 0; i < n; i++) {
		enum task_status s = status_of(fx->st, ts[i]->id);

		if (d[0].res[i] == STORE_OK) {
			assert_int_equal(d[1].res[i], STORE_CONFLICT);
			assert_int_equal(s, TASK_CANCELLED);
			ncancel++;
		} else {
			assert_int_equal(d[0].res[i], STORE_CONFLICT);
			assert_int_equal(d[1].res[i], STORE_OK);
			assert_int_equal(s, TASK_SUCCESS);
		}
		task_free(ts[i]);
	}
	free(ts);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks WHERE "
	    "status = 'CANCELLED'"), (int64_t)ncancel);
	assert_counts_exact(fx);
}

static void
test_progress_and_check_held(void **state)
{
	struct fix		*fx = *state;
	struct task		*p, *c, *g;
	struct task_progress	 pr[2];
	const char		*ids[2];
	int64_t			 tokens[2];
	bool			 gone[2];
	struct task		*out;

	p = submit(fx->st, "echo", "{}", 0);
	c = claim_one(fx->st, "r");
	pr[0].id = c->id;
	pr[0].claim_token = c->claim_token;
	pr[0].progress = 40;
	pr[1].id = c->id;
	pr[1].claim_token = c->claim_token + 1;	/* stale: skipped */
	pr[1].progress = 90;
	assert_int_equal(store_task_progress_many(fx->st, pr, 2), STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->progress, 40);
	task_free(g);

	ids[0] = c->id;
	tokens[0] = c->claim_token;
	ids[1] = c->id;
	tokens[1] = c->claim_token + 1;
	assert_int_equal(store_task_check_held(fx->st, ids, tokens, 2, gone),
	    STORE_OK);
	assert_false(gone[0]);
	assert_true(gone[1]);
	/* After a cancel the runner must let go. */
	assert_int_equal(store_task_cancel(fx->st, p->id, &out), STORE_OK);
	task_free(out);
	assert_int_equal(store_task_check_held(fx->st, ids, tokens, 1, gone),
	    STORE_OK);
	assert_true(gone[0]);
	/* Progress on a cancelled task is dropped. */
	pr[0].progress = 70;
	assert_int_equal(store_task_progress_many(fx->st, pr, 1), STORE_OK);
	g = get(fx->st, p->id);
	assert_int_equal(g->progress, 40);
	assert_int_equal(g->status, TASK_CANCELLED);
	task_free(g);
	task_free(c);
	task_free(p);
}

/* ---- runners and recovery ----------------------------------------------- */

static void
beat(struct store *st, const char *id, int64_t last_seen)
{
	struct runner_info	 ri;

	memset(&ri, 0, sizeof(ri));
	snprintf(ri.id, sizeof(ri.id), "%s", id);
	snprintf(ri.host, sizeof(ri.host), "host");
	snprintf(ri.version, sizeof(ri.version), "0.1.0");
	ri.pid = 42;
	ri.slots = 4;
	ri.last_seen = last_seen;
	assert_int_equal(store_runner_beat(st, &ri), STORE_OK);
}

static void
test_runners(void **state)
{
	struct fix		*fx = *state;
	struct runner_info	*rs;
	size_t			 n;
	int64_t			 now = time_now_ms();

	beat(fx->st, "old", now - 5000);
	beat(fx->st, "new", now);
	beat(fx->st, "new", now + 1);		/* refresh, not a second row */
	assert_int_equal(store_runner_list(fx->st, &rs, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(rs[0].id, "new");
	assert_string_equal(rs[0].host, "host");
	assert_int_equal(rs[0].slots, 4);
	assert_int_equal(rs[0].last_seen, now + 1);
	assert_string_equal(rs[1].id, "old");
	free(rs);
	assert_int_equal(store_runner_remove(fx->st, "old"), STORE_OK);
	assert_int_equal(store_runner_remove(fx->st, "old"), STORE_NOTFOUND);
	assert_int_equal(store_runner_list(fx->st, &rs, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(rs);
}

static void
test_recover_stale(void **state)
{
	struct fix	*fx = *state;
	struct task	*a, *b, *c, *d, *ca, *cb, *cc, *cd, *g, *out;
	int64_t		 now = time_now_ms(), req, fail;
	struct runner_info *rs;
	size_t		 n;

	beat(fx->st, "dead", now - 60000);
	beat(fx->st, "alive", now);
	a = submit_attempts(fx->st, 3);
	b = submit_attempts(fx->st, 1);
	c = submit_attempts(fx->st, 3);
	d = submit_attempts(fx->st, 3);
	ca = claim_one(fx->st, "dead");		/* requeued */
	cb = claim_one(fx->st, "dead");		/* exhausted: FAILED */
	cc = claim_one(fx->st, "alive");	/* untouched */
	cd = claim_one(fx->st, "gone");		/* no runner row: requeued */
	assert_string_equal(cd->id, d->id);
	/* A cancelled task of the dead runner is never touched. */
	assert_int_equal(store_task_cancel(fx->st, ca->id, &out), STORE_OK);
	task_free(out);
	g = submit_attempts(fx->st, 3);
	task_free(g);
	g = claim_one(fx->st, "dead");		/* requeued */

	assert_int_equal(store_recover_stale(fx->st, 10000, &req, &fail),
	    STORE_OK);
	assert_int_equal(req, 2);
	assert_int_equal(fail, 1);
	assert_int_equal(status_of(fx->st, a->id), TASK_CANCELLED);
	out = get(fx->st, b->id);
	assert_int_equal(out->status, TASK_FAILED);
	assert_string_equal(out->error_message, "runner lost");
	task_free(out);
	assert_int_equal(status_of(fx->st, c->id), TASK_RUNNING);
	out = get(fx->st, d->id);
	assert_int_equal(out->status, TASK_PENDING);
	assert_int_equal(out->attempt, 2);
	assert_null(out->claim_owner);
	task_free(out);
	out = get(fx->st, g->id);
	assert_int_equal(out->status, TASK_PENDING);
	task_free(out);
	/* The old claim is fenced off. */
	assert_int_equal(finish(fx->st, cd, cd->claim_token, OUTCOME_SUCCESS,
	    "{}", NULL), STORE_CONFLICT);
	/* The dead runner's row is gone, the live one stays. */
	assert_int_equal(store_runner_list(fx->st, &rs, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(rs[0].id, "alive");
	free(rs);
	/* Nothing left to do. */
	assert_int_equal(store_recover_stale(fx->st, 10000, &req, NULL),
	    STORE_OK);
	assert_int_equal(req, 0);
	task_free(a);
	task_free(b);
	task_free(c);
	task_free(d);
	task_free(ca);
	task_free(cb);
	task_free(cc);
	task_free(cd);
	task_free(g);
	assert_counts_exact(fx);
}

/* ---- listing and search ------------------------------------------------- */

/* What list_each_record saw: copies of the lent tasks' fields. */
struct each_seen {
	size_t	 n;
	char	 ids[8][TASK_ID_LEN + 1];
	char	 params[8][64];
	char	 results[8][64];
	int	 status[8];
};

static void
list_each_record(const struct task *t, void *arg)
{
	struct each_seen	*e = arg;

	assert_true(e->n < 8);
	snprintf(e->ids[e->n], sizeof(e->ids[0]), "%s", t->id);
	snprintf(e->params[e->n], sizeof(e->params[0]), "%s", t->parameters);
	snprintf(e->results[e->n], sizeof(e->results[0]), "%s",
	    t->result_data != NULL ? t->result_data : "(null)");
	e->status[e->n] = (int)t->status;
	e->n++;
}

/*
 * store_task_list_each lends the very page store_task_list copies: the
 * same tasks, fields and order, the same next cursor, page after page,
 * with and without a filter.
 */
static void
test_list_each_matches_list(void **state)
{
	struct fix		*fx = *state;
	struct task_filter	 f;
	struct task_list	 l;
	struct each_seen	 e;
	struct task		*t, *c;
	char			 params[32];
	int64_t			 cur, next, cur_l;
	size_t			 i, pass;

	for (i = 0; i < 7; i++) {
		snprintf(params, sizeof(params), "{\"n\": %zu}", i);
		t = submit(fx->st, i % 2 ? "echo" : "email", params, 0);
		task_free(t);
	}
	c = claim_one(fx->st, "r");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{\"ok\": 1}", NULL), STORE_OK);
	task_free(c);
	for (pass = 0; pass < 2; pass++) {
		memset(&f, 0, sizeof(f));
		if (pass == 1)
			f.status_mask = 1u << TASK_PENDING;
		cur = cur_l = 0;
		do {
			memset(&e, 0, sizeof(e));
			assert_int_equal(store_task_list_each(fx->st, &f, cur, 3,
			    list_each_record, &e, &next), STORE_OK);
			assert_int_equal(store_task_list(fx->st, &f, cur_l, 3, &l),
			    STORE_OK);
			assert_int_equal(e.n, l.n);
			assert_true(e.n > 0);
			for (i = 0; i < l.n; i++) {
				assert_string_equal(e.ids[i], l.tasks[i]->id);
				assert_string_equal(e.params[i],
				    l.tasks[i]->parameters);
				assert_string_equal(e.results[i],
				    l.tasks[i]->result_data != NULL ?
				    l.tasks[i]->result_data : "(null)");
				assert_int_equal(e.status[i], l.tasks[i]->status);
			}
			assert_int_equal(next, l.next_cursor);
			cur = next;
			cur_l = l.next_cursor;
			store_task_list_free(&l);
		} while (cur != 0);
	}
	/* A bad limit is refused alike. */
	assert_int_equal(store_task_list_each(fx->st, NULL, 0, 0,
	    list_each_record, &e, &next), STORE_INVALID);
}

static void
test_list_filters(void **state)
{
	struct fix		*fx = *state;
	struct task_filter	 f;
	struct task_list	 l;
	struct task		*t[6], *c;
	const char		*types2[] = { "email", "image_processing" };
	const char		*types1[] = { "echo" };
	size_t			 i;

	t[0] = submit(fx->st, "echo", "{}", 0);
	t[1] = submit(fx->st, "email", "{}", 0);
	t[2] = submit(fx->st, "echo", "{}", 0);
	t[3] = submit(fx->st, "image_processing", "{}", 0);
	t[4] = submit(fx->st, "echo", "{}", 0);
	t[5] = submit(fx->st, "data_processing", "{}", 0);
	c = claim_one(fx->st, "r");		/* t[0] */
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{}", NULL), STORE_OK);
	task_free(c);
	c = claim_one(fx->st, "r");		/* t[1] RUNNING */
	task_free(c);

	memset(&f, 0, sizeof(f));
	assert_int_equal(store_task_list(fx->st, &f, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 6);
	assert_int_equal(l.next_cursor, 0);
	for (i = 0; i < 6; i++)		/* newest first */
		assert_string_equal(l.tasks[i]->id, t[5 - i]->id);
	store_task_list_free(&l);
	assert_int_equal(store_task_list(fx->st, NULL, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 6);
	store_task_list_free(&l);

	f.status_mask = 1u << TASK_PENDING;
	assert_int_equal(store_task_list(fx->st, &f, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 4);
	store_task_list_free(&l);

	f.status_mask = (1u << TASK_SUCCESS) | (1u << TASK_RUNNING);
	assert_int_equal(store_task_list(fx->st, &f, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.tasks[0]->id, t[1]->id);
	assert_string_equal(l.tasks[1]->id, t[0]->id);
	store_task_list_free(&l);

	f.status_mask = 1u << TASK_PENDING;
	f.types = types1;
	f.ntypes = 1;
	assert_int_equal(store_task_list(fx->st, &f, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.tasks[0]->id, t[4]->id);
	assert_string_equal(l.tasks[1]->id, t[2]->id);
	store_task_list_free(&l);

	f.status_mask = 0;
	f.types = types2;
	f.ntypes = 2;
	assert_int_equal(store_task_list(fx->st, &f, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.tasks[0]->id, t[3]->id);
	assert_string_equal(l.tasks[1]->id, t[1]->id);
	store_task_list_free(&l);

	f.status_mask = 1u << TASK_CANCELLED;
	assert_int_equal(store_task_list(fx->st, &f, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 0);
	store_task_list_free(&l);

	/* Bad arguments. */
	assert_int_equal(store_task_list(fx->st, NULL, 0, 0, &l),
	    STORE_INVALID);
	assert_int_equal(store_task_list(fx->st, NULL, 0, 501, &l),
	    STORE_INVALID);
	memset(&f, 0, sizeof(f));
	f.status_mask = 1u << TASK_STATUS__MAX;
	assert_int_equal(store_task_list(fx->st, &f, 0, 5, &l), STORE_INVALID);
	for (i = 0; i < 6; i++)
		task_free(t[i]);
}

/*
 * Keyset paging newest first: pages neither skip nor repeat, even with
 * inserts between pages (the new tasks are above the cursor).
 */
static void
test_keyset_pagination_with_inserts(void **state)
{
	struct fix		*fx = *state;
	struct task_filter	 f;
	struct task_list	 l;
	struct task		*t;
	char			*seen;
	int64_t			 cursor = 0, last = INT64_MAX;
	size_t			 i, total = 0, pages = 0;

	fill_tasks(fx->st, 95);
	seen = calloc(200, 1);
	assert_non_null(seen);
	memset(&f, 0, sizeof(f));
	f.status_mask = 1u << TASK_PENDING;
	do {
		assert_int_equal(store_task_list(fx->st, &f, cursor, 10, &l),
		    STORE_OK);
		for (i = 0; i < l.n; i++) {
			assert_true(l.tasks[i]->seq < last);
			last = l.tasks[i]->seq;
			assert_true(l.tasks[i]->seq <= 95);
			assert_int_equal(seen[l.tasks[i]->seq], 0);
			seen[l.tasks[i]->seq] = 1;
			total++;
		}
		cursor = l.next_cursor;
		store_task_list_free(&l);
		/* Concurrent submits between pages. */
		t = submit(fx->st, "echo", "{}", 0);
		task_free(t);
		pages++;
	} while (cursor != 0);
	assert_int_equal(total, 95);
	assert_int_equal(pages, 10);
	free(seen);
}

static void
test_search(void **state)
{
	struct fix		*fx = *state;
	struct task_filter	 f;
	struct task_list	 l;
	struct task		*a, *b, *c, *d, *ca, *cb;
	const char		*echo[] = { "echo" };
	int64_t			 cursor;
	int			 plan;
	static const char	*hostile[] = {
		"\"*(:-^", "\"", "*", "(", "a AND", "NOT", "OR b", "x:y",
		"NEAR(a b)", "-invoice", "^invoice", "{parameters}: x",
		"invoice\"", "'; DROP TABLE tasks; --", "\xc3\xa9t\xc3\xa9",
		"   ", "", "\xf0\x9f\x99\x82", "\xff\xfe\xc3", "a\x01b",
		"\xe2\x80\x94"
	};
	size_t			 i;

	a = submit(fx->st, "echo", "{\"message\": \"Quarterly invoice "
	    "for ACME\"}", 0);
	b = submit(fx->st, "email", "{\"to\": \"x@example.org\"}", 0);
	c = submit(fx->st, "echo", "{\"message\": \"other\"}", 0);
	d = submit(fx->st, "echo", "{\"message\": \"l\xe2\x80\x99\xc3\xa9t\xc3\xa9 "
	    "\xe6\x97\xa5\xe6\x9c\xac\"}", -1);
	ca = claim_one(fx->st, "r");
	assert_string_equal(ca->id, a->id);
	assert_int_equal(finish(fx->st, ca, ca->claim_token, OUTCOME_SUCCESS,
	    "{\"message\": \"done\", \"zebra\": 1}", NULL), STORE_OK);
	cb = claim_one(fx->st, "r");
	assert_int_equal(finish(fx->st, cb, cb->claim_token, OUTCOME_FAILED,
	    NULL, "smtp timeout talking to relay"), STORE_OK);

	memset(&f, 0, sizeof(f));
	f.q = "invoice";			/* in parameters */
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, a->id);
	store_task_list_free(&l);
	f.q = "ZEBRA";				/* in the result, any case */
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, a->id);
	store_task_list_free(&l);
	f.q = "smtp timeout";			/* in the error, both words */
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, b->id);
	store_task_list_free(&l);
	f.q = "smtp invoice";			/* AND: none has both */
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 0);
	store_task_list_free(&l);
	f.q = "message";			/* several, newest first */
	assert_int_equal(store_task_list(fx->st, &f, 0, 1, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, d->id);
	assert_true(l.next_cursor != 0);
	f.status_mask = 1u << TASK_SUCCESS;	/* combined with status */
	store_task_list_free(&l);
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, a->id);
	store_task_list_free(&l);
	f.status_mask = 0;
	assert_int_equal(store_task_list(fx->st, &f, c->seq, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);		/* keyset below c */
	assert_string_equal(l.tasks[0]->id, a->id);
	store_task_list_free(&l);

	/* FTS syntax in q is never an error. */
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		f.q = hostile[i];
		assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l),
		    STORE_OK);
		store_task_list_free(&l);
	}
	f.q = "\"*(:-^";
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 0);
	store_task_list_free(&l);
	f.q = "\"invoice\"";			/* quotes are punctuation */
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	store_task_list_free(&l);
	/* Non-ASCII punctuation and symbols are separators, not words. */
	f.q = "\xe2\x80\x94 invoice \xc2\xab\xe2\x80\xa6\xc2\xbb";
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, a->id);
	store_task_list_free(&l);
	/* Words in any script and case, diacritics folded. */
	f.q = "\xc3\x89T\xc3\x89";		/* "ÉTÉ" */
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, d->id);
	store_task_list_free(&l);
	f.q = "ete";
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	store_task_list_free(&l);
	f.q = "\xe6\x97\xa5\xe6\x9c\xac";		/* CJK */
	assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	store_task_list_free(&l);

	/* Both plans of a search with a filter give the same pages. */
	for (plan = 0; plan < 2; plan++) {
		store_sqlite_search_by_filter_max = plan ? -1 : 10000;
		memset(&f, 0, sizeof(f));
		f.q = "message";
		f.status_mask = 1u << TASK_SUCCESS;
		assert_int_equal(store_task_list(fx->st, &f, 0, 10, &l),
		    STORE_OK);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.tasks[0]->id, a->id);
		store_task_list_free(&l);
		f.status_mask = 0;
		f.types = echo;
		f.ntypes = 1;
		assert_int_equal(store_task_list(fx->st, &f, 0, 2, &l),
		    STORE_OK);
		assert_int_equal(l.n, 2);
		assert_string_equal(l.tasks[0]->id, d->id);
		assert_string_equal(l.tasks[1]->id, c->id);
		cursor = l.next_cursor;
		assert_int_equal(cursor, c->seq);
		store_task_list_free(&l);
		assert_int_equal(store_task_list(fx->st, &f, cursor, 2, &l),
		    STORE_OK);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.tasks[0]->id, a->id);
		assert_int_equal(l.next_cursor, 0);
		store_task_list_free(&l);
		f.status_mask = 1u << TASK_FAILED;
		assert_int_equal(store_task_list(fx->st, &f, 0, 2, &l),
		    STORE_OK);
		assert_int_equal(l.n, 0);
		store_task_list_free(&l);
	}
	store_sqlite_search_by_filter_max = 10000;
	task_free(a);
	task_free(b);
	task_free(c);
	task_free(d);
	task_free(ca);
	task_free(cb);
}

/* ---- stats, plans, purge, files ----------------------------------------- */

static void
test_stats(void **state)
{
	struct fix		*fx = *state;
	struct store_stats	 ss;
	struct task		*a, *c;
	size_t			 i;
	bool			 found = false;

	assert_int_equal(store_stats_get(fx->st, &ss), STORE_OK);
	assert_int_equal(ss.ntypes, 0);
	assert_int_equal(ss.oldest_pending_ms, 0);
	store_stats_free(&ss);

	a = submit(fx->st, "echo", "{}", 0);
	task_free(submit(fx->st, "echo", "{}", 0));
	task_free(submit(fx->st, "echo", "{}", 0));
	c = claim_one(fx->st, "r");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{}", NULL), STORE_OK);
	task_free(c);
	c = claim_one(fx->st, "r");
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_FAILED,
	    NULL, "x"), STORE_OK);
	task_free(c);
	assert_int_equal(store_type_set_paused(fx->st, "email", true),
	    STORE_OK);

	assert_int_equal(store_stats_get(fx->st, &ss), STORE_OK);
	assert_int_equal(ss.by_status[TASK_SUCCESS], 1);
	assert_int_equal(ss.by_status[TASK_FAILED], 1);
	assert_int_equal(ss.by_status[TASK_PENDING], 1);
	assert_true(ss.oldest_pending_ms >= a->created_at);
	assert_int_equal(ss.ntypes, 2);		/* echo, and paused email */
	for (i = 0; i < ss.ntypes; i++) {
		if (strcmp(ss.types[i].task_type, "echo") == 0) {
			found = true;
			assert_int_equal(ss.types[i].finished_1h, 2);
			assert_int_equal(ss.types[i].failed_1h, 1);
			assert_int_equal(ss.types[i].finished_24h, 2);
			assert_int_equal(ss.types[i].failed_24h, 1);
			assert_false(ss.types[i].paused);
		} else {
			assert_string_equal(ss.types[i].task_type, "email");
			assert_true(ss.types[i].paused);
		}
	}
	assert_true(found);
	store_stats_free(&ss);
	store_stats_free(NULL);

	/* Minutes outside the window do not count. */
	raw_exec(fx->path, "UPDATE finish_rollup SET minute = minute - 120");
	assert_int_equal(store_stats_get(fx->st, &ss), STORE_OK);
	for (i = 0; i < ss.ntypes; i++)
		if (strcmp(ss.types[i].task_type, "echo") == 0) {
			assert_int_equal(ss.types[i].finished_1h, 0);
			assert_int_equal(ss.types[i].finished_24h, 2);
		}
	store_stats_free(&ss);
	task_free(a);
	assert_counts_exact(fx);
}

/*
 * Submits, claims and finishes one task of type as outcome, its start moved
 * shift_ms earlier first (negative: later than the finish, a clock step).
 */
static void
finish_shifted(struct fix *fx, const char *type, int64_t shift_ms,
    enum task_outcome oc)
{
	struct task	*p, *c;
	char		 sql[256];

	p = submit(fx->st, type, "{}", 0);
	c = claim_one(fx->st, "r");
	snprintf(sql, sizeof(sql), "UPDATE tasks SET started_at = started_at "
	    "- %" PRId64 " WHERE id = '%s'", shift_ms, c->id);
	raw_exec(fx->path, sql);
	assert_int_equal(finish(fx->st, c, c->claim_token, oc,
	    oc == OUTCOME_SUCCESS ? "{}" : NULL,
	    oc == OUTCOME_SUCCESS ? NULL : "x"), STORE_OK);
	task_free(c);
	task_free(p);
}

/* The histograms test_duration_hist expects, in the order returned. */
static void
assert_duration_hist(const struct duration_hist *h, size_t n)
{
	size_t	 i, k;
	int64_t	 sum;

	assert_int_equal(n, 3);
	/* Binary order of type, then outcome: "Email" < "echo", F < S. */
	assert_string_equal(h[0].task_type, "Email");
	assert_int_equal(h[0].outcome, TASK_SUCCESS);
	assert_string_equal(h[1].task_type, "echo");
	assert_int_equal(h[1].outcome, TASK_FAILED);
	assert_string_equal(h[2].task_type, "echo");
	assert_int_equal(h[2].outcome, TASK_SUCCESS);
	for (i = 0; i < n; i++) {
		sum = 0;
		for (k = 0; k <= STORE_DURATION_BUCKETS; k++)
			sum += h[i].n[k];
		assert_int_equal(sum, h[i].count);
	}
	/* 20 s (plus the test's own run time): the 30 s bucket. */
	assert_int_equal(h[0].count, 1);
	assert_int_equal(h[0].n[7], 1);
	assert_int_equal(store_duration_bounds_ms[7], 30000);
	assert_in_range(h[0].sum_ms, 20000, 29999);
	/* 2 h: above every bound. */
	assert_int_equal(h[1].count, 1);
	assert_int_equal(h[1].n[STORE_DURATION_BUCKETS], 1);
	assert_in_range(h[1].sum_ms, 7200000, 7299999);
	/* 1.5 s in the 2.5 s bucket; a start after the finish counts 0. */
	assert_int_equal(h[2].count, 2);
	assert_int_equal(h[2].n[0], 1);
	assert_int_equal(h[2].n[4], 1);
	assert_int_equal(store_duration_bounds_ms[4], 2500);
	assert_in_range(h[2].sum_ms, 1500, 2499);
}

/*
 * The run-time histogram: kept as tasks finish (not as they are cancelled
 * or re-finished), bucketed and summed, ordered by type then outcome, and
 * the same when migration 3 rebuilds it from the finished tasks.
 */
static void
test_duration_hist(void **state)
{
	struct fix		*fx = *state;
	struct duration_hist	*h = NULL, *h2 = NULL;
	struct store		*st2 = NULL;
	struct task		*p, *out;
	size_t			 n = 99, n2 = 99, i;
	int64_t			 deleted = 0;
	char			 eb[512];

	assert_int_equal(store_duration_hist_get(fx->st, &h, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_null(h);

	finish_shifted(fx, "echo", 1500, OUTCOME_SUCCESS);
	finish_shifted(fx, "echo", -10000, OUTCOME_SUCCESS);
	finish_shifted(fx, "echo", 2 * 3600 * 1000, OUTCOME_FAILED);
	finish_shifted(fx, "Email", 20000, OUTCOME_SUCCESS);
	p = submit(fx->st, "echo", "{}", 0);
	assert_int_equal(store_task_cancel(fx->st, p->id, &out), STORE_OK);
	task_free(out);
	task_free(p);

	assert_int_equal(store_duration_hist_get(fx->st, &h, &n), STORE_OK);
	assert_duration_hist(h, n);

	/* Migration 3 again, on these finished tasks: the same histogram. */
	if (pg_url != NULL)
		raw_exec(fx->path, "DROP TABLE duration_hist, duration_deltas; "
		    "UPDATE taskq_schema SET version = 2");
	else
		raw_exec(fx->path, "DROP TRIGGER tasks_duration_hist; "
		    "DROP TABLE duration_hist; PRAGMA user_version = 2");
	if (store_open(fx->path, 0, BUSY_MS, &st2, eb, sizeof(eb)) != STORE_OK)
		fail_msg("store_open: %s", eb);
	assert_int_equal(store_schema_version(st2), STORE_SCHEMA_VERSION);
	assert_int_equal(store_duration_hist_get(st2, &h2, &n2), STORE_OK);
	assert_duration_hist(h2, n2);
	for (i = 0; i < n; i++) {
		assert_memory_equal(h[i].n, h2[i].n, sizeof(h[i].n));
		assert_int_equal(h[i].sum_ms, h2[i].sum_ms);
	}
	/* And the re-created trigger counts the next finish. */
	finish_shifted(fx, "Email", 20000, OUTCOME_SUCCESS);
	free(h2);
	assert_int_equal(store_duration_hist_get(st2, &h2, &n2), STORE_OK);
	assert_int_equal(n2, 3);
	assert_int_equal(h2[0].count, 2);
	assert_int_equal(h2[0].n[7], 2);
	free(h2);

	/* Counted since creation: retention does not lower it. */
	assert_int_equal(store_purge(fx->st, time_now_ms() + 3600 * 1000,
	    1000, &deleted), STORE_OK);
	assert_int_equal(deleted, 6);
	assert_int_equal(store_duration_hist_get(st2, &h2, &n2), STORE_OK);
	assert_int_equal(n2, 3);
	assert_int_equal(h2[0].count, 2);
	assert_int_equal(h2[1].count, 1);
	assert_int_equal(h2[2].count, 2);
	store_close(st2);
	free(h2);
	free(h);
}

/*
 * Listing with one status filter, then another, then the first again
 * reuses each cached statement as prepared: none is re-prepared because a
 * bound value changed (the planner's partial-index check once made every
 * list re-parse its statement).
 */
/* Times the statements of db were prepared again since they were made. */
static int
reprepare_count(sqlite3 *db)
{
	sqlite3_stmt	*s;
	int		 n = 0;

	for (s = sqlite3_next_stmt(db, NULL); s != NULL;
	    s = sqlite3_next_stmt(db, s))
		n += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_REPREPARE, 0);
	return n;
}

/*
 * Listing with one status filter, then another, then the first again
 * reuses each cached statement as prepared: none is prepared again because
 * a bound value changed (the planner's partial-index check once made every
 * list re-parse its statement).
 */
static void
test_list_statements_not_reprepared(void **state)
{
	struct fix		*fx = *state;
	struct task_filter	 f;
	struct task_list	 l;
	sqlite3			*db = store_sqlite_handle(fx->st);
	const unsigned		 masks[] = { 1u << TASK_SUCCESS,
				    1u << TASK_PENDING, 1u << TASK_SUCCESS,
				    (1u << TASK_FAILED) | (1u << TASK_SUCCESS),
				    1u << TASK_PENDING, 1u << TASK_SUCCESS };
	int			 before;
	size_t			 i;

	fill_tasks(fx->st, 20);
	before = reprepare_count(db);
	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		memset(&f, 0, sizeof(f));
		f.status_mask = masks[i];
		assert_int_equal(store_task_list(fx->st, &f, 0, 5, &l), STORE_OK);
		if (masks[i] == (1u << TASK_PENDING))
			assert_int_equal(l.n, 5);
		else
			assert_int_equal(l.n, 0);
		store_task_list_free(&l);
	}
	assert_int_equal(reprepare_count(db), before);
}

static void
test_query_plans(void **state)
{
	struct fix		*fx = *state;
	const char *const	*q;
	char			*plan, *line, *save;
	static const struct {
		const char	*name;
		const char	*must;		/* index the plan names */
		bool		 sorted;	/* may sort for ORDER BY */
	} want[] = {
		{ "get", "sqlite_autoindex_tasks_1", false },
		{ "list", "INTEGER PRIMARY KEY (rowid<?)", false },
		{ "list_status", "tasks_status (status=? AND seq<?)", false },
		{ "list_type", "tasks_type (task_type=? AND seq<?)", false },
		{ "list_type_status",
		    "tasks_type_status (task_type=? AND status=? AND seq<?)",
		    false },
		{ "list_statuses", "tasks_status", true },
		{ "list_types", "tasks_type", true },
		{ "list_q", "tasks_fts VIRTUAL TABLE", false },
		{ "list_q_status", "tasks_fts VIRTUAL TABLE", false },
		{ "list_q_status_small", "tasks_status (status=? AND seq<?)",
		    false },
		{ "claim", "USING INDEX tasks_claim", false },
		{ "oldest_pending", "tasks_status (status=?)", false },
		{ "purge", "tasks_done (completed_at<?)", false },
		{ "recover", "tasks_status (status=?)", false },
		{ "idempotency", "idempotency USING PRIMARY KEY", false },
		{ "retry_candidates", "tasks_retry_of", true },
		{ "file_unreferenced", "files_created", false },
	};
	size_t			 i, n = 0;

	fill_tasks(fx->st, 20);
	for (q = store_sqlite_query_names; *q != NULL; q++)
		n++;
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		plan = store_sqlite_explain(fx->st, want[i].name);
		if (plan == NULL)
			fail_msg("%s: %s", want[i].name, store_errmsg(fx->st));
		if (strstr(plan, want[i].must) == NULL)
			fail_msg("%s: plan lacks \"%s\":\n%s", want[i].name,
			    want[i].must, plan);
		if (!want[i].sorted && strstr(plan, "TEMP B-TREE") != NULL)
			fail_msg("%s: sorts:\n%s", want[i].name, plan);
		for (line = strtok_r(plan, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			/* A full scan of tasks, or of one of its indexes. */
			if (strcmp(line, "SCAN tasks") == 0 ||
			    strcmp(line, "SCAN t") == 0 ||
			    (strncmp(line, "SCAN tasks USING", 16) == 0 &&
			    strstr(line, "tasks_claim") == NULL))
				fail_msg("%s: full scan: %s", want[i].name,
				    line);
		}
		free(plan);
	}
	assert_null(store_sqlite_explain(fx->st, "no_such_query"));
}

static void
test_purge(void **state)
{
	struct fix		*fx = *state;
	struct task		*c, *p;
	struct task_filter	 f;
	struct task_list	 l;
	struct task_new		 tn;
	int64_t			 deleted, total = 0;
	bool			 ex;
	int			 i;

	for (i = 0; i < 7; i++) {
		memset(&tn, 0, sizeof(tn));
		tn.task_type = "echo";
		tn.parameters = "{\"message\": \"purgeable\"}";
		tn.max_attempts = 1;
		tn.timeout_s = 60;
		tn.idempotency_key = i == 0 ? "purge-key" : NULL;
		assert_int_equal(store_task_submit(fx->st, &tn, &p, &ex),
		    STORE_OK);
		task_free(p);
		c = claim_one(fx->st, "r");
		assert_int_equal(finish(fx->st, c, c->claim_token,
		    i % 2 ? OUTCOME_SUCCESS : OUTCOME_FAILED, "{}", "x"),
		    STORE_OK);
		task_free(c);
	}
	p = submit(fx->st, "echo", "{\"message\": \"purgeable\"}", 0);

	/* Nothing finished before an old cutoff. */
	assert_int_equal(store_purge(fx->st, 1000, 3, &deleted), STORE_OK);
	assert_int_equal(deleted, 0);
	do {
		assert_int_equal(store_purge(fx->st, time_now_ms() + 1000, 3,
		    &deleted), STORE_OK);
		assert_true(deleted <= 3);
		total += deleted;
		assert_counts_exact(fx);
	} while (deleted == 3);
	assert_int_equal(total, 7);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks"), 1);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM idempotency"),
	    0);
	/* The FTS index forgot the purged rows. */
	memset(&f, 0, sizeof(f));
	f.q = "purgeable";
	assert_int_equal(store_task_list(fx->st, &f, 0, 50, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.tasks[0]->id, p->id);
	store_task_list_free(&l);
	if (pg_url == NULL)
		raw_exec(fx->path, "INSERT INTO tasks_fts (tasks_fts) "
		    "VALUES ('integrity-check')");
	assert_int_equal(store_purge(fx->st, 0, 0, &deleted), STORE_INVALID);
	task_free(p);
}

static void
test_files(void **state)
{
	struct fix		*fx = *state;
	struct file_info	 fi, out;
	char			 (*ids)[TASK_ID_LEN + 1];
	char			 params[128];
	struct task		*t, *c;
	size_t			 n;
	int64_t			 later = time_now_ms() + 1000;

	memset(&fi, 0, sizeof(fi));
	snprintf(fi.id, sizeof(fi.id), "AAAAAAAA-0000-4000-8000-000000000001");
	snprintf(fi.name, sizeof(fi.name), "report.csv");
	fi.size = 1234;
	snprintf(fi.sha256, sizeof(fi.sha256), "%064d", 0);
	snprintf(fi.content_type, sizeof(fi.content_type), "text/csv");
	assert_int_equal(store_file_add(fx->st, &fi), STORE_OK);
	assert_int_equal(store_file_add(fx->st, &fi), STORE_CONFLICT);
	assert_int_equal(store_file_get(fx->st,
	    "aaaaaaaa-0000-4000-8000-000000000001", &out), STORE_OK);
	assert_string_equal(out.id, "aaaaaaaa-0000-4000-8000-000000000001");
	assert_string_equal(out.name, "report.csv");
	assert_int_equal(out.size, 1234);
	assert_string_equal(out.content_type, "text/csv");
	assert_string_equal(out.task_id, "");
	assert_true(out.created_at > 0);
	assert_int_equal(store_file_get(fx->st,
	    "aaaaaaaa-0000-4000-8000-000000000009", &out), STORE_NOTFOUND);
	assert_int_equal(store_file_get(fx->st, "../etc/passwd", &out),
	    STORE_INVALID);

	/* Two more: one used by a task's parameters, one produced by a task. */
	snprintf(fi.id, sizeof(fi.id), "aaaaaaaa-0000-4000-8000-000000000002");
	assert_int_equal(store_file_add(fx->st, &fi), STORE_OK);
	snprintf(params, sizeof(params), "{\"file_id\": \"%s\"}", fi.id);
	t = submit(fx->st, "data_processing", params, 0);
	c = claim_one(fx->st, "r");
	snprintf(fi.id, sizeof(fi.id), "aaaaaaaa-0000-4000-8000-000000000003");
	snprintf(fi.task_id, sizeof(fi.task_id), "%s", t->id);
	assert_int_equal(store_file_add(fx->st, &fi), STORE_OK);

	assert_int_equal(store_file_unreferenced(fx->st, later, 10, &ids, &n),
	    STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "aaaaaaaa-0000-4000-8000-000000000001");
	free(ids);
	/* Too recent: not yet. */
	assert_int_equal(store_file_unreferenced(fx->st, 1, 10, &ids, &n),
	    STORE_OK);
	assert_int_equal(n, 0);
	assert_null(ids);

	/* Once the task is purged both of its files are unreferenced. */
	assert_int_equal(finish(fx->st, c, c->claim_token, OUTCOME_SUCCESS,
	    "{\"output_file_id\": \"aaaaaaaa-0000-4000-8000-000000000003\"}",
	    NULL), STORE_OK);
	assert_int_equal(store_file_unreferenced(fx->st, later, 10, &ids, &n),
	    STORE_OK);
	assert_int_equal(n, 1);
	free(ids);
	{
		int64_t deleted;

		assert_int_equal(store_purge(fx->st, later, 100, &deleted),
		    STORE_OK);
		assert_int_equal(deleted, 1);
	}
	assert_int_equal(store_file_unreferenced(fx->st, later, 10, &ids, &n),
	    STORE_OK);
	assert_int_equal(n, 3);
	free(ids);
	assert_int_equal(store_file_delete(fx->st,
	    "aaaaaaaa-0000-4000-8000-000000000001"), STORE_OK);
	assert_int_equal(store_file_delete(fx->st,
	    "aaaaaaaa-0000-4000-8000-000000000001"), STORE_NOTFOUND);
	assert_int_equal(store_file_unreferenced(fx->st, later, 1, &ids, &n),
	    STORE_OK);
	assert_int_equal(n, 1);
	free(ids);
	task_free(t);
	task_free(c);
}

/* A writer holding the lock makes a store call fail with STORE_BUSY soon
 * after busy_ms, not hang. */
static void
test_busy(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = NULL;
	struct task_new	 tn;
	struct task	*t = NULL;
	sqlite3		*db;
	char		 eb[256];
	bool		 ex;
	int64_t		 t0, el;

	assert_int_equal(store_open(fx->path, 0, 150, &st2, eb, sizeof(eb)),
	    STORE_OK);
	db = raw_open(fx->path);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	t0 = time_now_ms();
	assert_int_equal(store_task_submit(st2, &tn, &t, &ex), STORE_BUSY);
	el = time_now_ms() - t0;
	assert_true(el >= 140 && el < 2000);
	assert_null(t);
	assert_non_null(strstr(store_errmsg(st2), fx->path));
	/* Reads still work under WAL while a writer holds the lock. */
	assert_int_equal(store_ping(st2), STORE_OK);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_int_equal(store_task_submit(st2, &tn, &t, &ex), STORE_OK);
	task_free(t);
	store_close(st2);
}

/* The mapping size a handle's connection reads the database through. */
static int64_t
mmap_size_of(struct store *st)
{
	sqlite3_stmt	*s;
	int64_t		 v = -1;

	assert_int_equal(sqlite3_prepare_v2(store_sqlite_handle(st),
	    "PRAGMA mmap_size", -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* STORE_OPEN_MAP_WHOLE maps up to 2 GiB; a default handle 256 MiB. */
static void
test_open_map_whole(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = NULL;

	assert_int_equal(mmap_size_of(fx->st), 268435456);
	assert_int_equal(store_open(fx->path, STORE_OPEN_MAP_WHOLE, 1000, &st2,
	    NULL, 0), STORE_OK);
	assert_true(mmap_size_of(st2) > 268435456);
	fill_tasks(st2, 3);
	store_close(st2);
}

/* Holds the write lock of a raw connection for hold_ms, then commits. */
struct lock_holder {
	sqlite3		*db;
	int		 hold_ms;
};

static void *
lock_holder_main(void *arg)
{
	struct lock_holder	*h = arg;
	struct timespec		 ts = { h->hold_ms / 1000,
				    (long)(h->hold_ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

/*
 * store_lock_wait_worst reports how long a write waited for another
 * connection's write lock: about the time the lock was held, and no more
 * than that (the commit's own time is not counted).
 */
static void
test_lock_wait_worst(void **state)
{
	struct fix		*fx = *state;
	struct store		*st2 = NULL;
	struct lock_holder	 h;
	pthread_t		 th;
	int64_t			 w;

	assert_int_equal(store_open(fx->path, 0, 5000, &st2, NULL, 0),
	    STORE_OK);
	assert_int_equal(store_lock_wait_worst(st2), 0);
	fill_tasks(st2, 5);
	w = store_lock_wait_worst(st2);
	assert_true(w >= 0 && w < 100000);
	h.db = raw_open(fx->path);
	h.hold_ms = 300;
	assert_int_equal(sqlite3_exec(h.db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(pthread_create(&th, NULL, lock_holder_main, &h), 0);
	fill_tasks(st2, 5);
	pthread_join(th, NULL);
	sqlite3_close(h.db);
	w = store_lock_wait_worst(st2);
	assert_true(w >= 250000);
	assert_true(w < 5000000);
	store_close(st2);
}

/* A full database maps to STORE_FULL, stores nothing half, and the handle
 * goes on working. */
static void
test_full(void **state)
{
	struct fix	*fx = *state;
	struct task_new	 tn;
	struct task	*t = NULL;
	char		*big;
	bool		 ex;
	enum store_err	 e = STORE_OK;
	int64_t		 before;
	int		 i;

	t = submit(fx->st, "echo", "{}", 0);
	task_free(t);
	assert_int_equal(sqlite3_exec(store_sqlite_handle(fx->st),
	    "PRAGMA max_page_count = 60", NULL, NULL, NULL), SQLITE_OK);
	big = malloc(20000);
	assert_non_null(big);
	memset(big, 'x', 19999);
	big[19999] = '\0';
	memcpy(big, "{\"m\": \"", 7);
	memcpy(big + 19997, "\"}", 2);
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.parameters = big;
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	for (i = 0; i < 100 && e == STORE_OK; i++) {
		before = raw_int(fx->path, "SELECT count(*) FROM tasks");
		e = store_task_submit(fx->st, &tn, &t, &ex);
		task_free(t);
		t = NULL;
	}
	assert_int_equal(e, STORE_FULL);
	assert_non_null(strstr(store_errmsg(fx->st), fx->path));
	/* The failed submit left nothing behind, counts stay exact. */
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks"),
	    before);
	assert_counts_exact(fx);
	assert_int_equal(store_ping(fx->st), STORE_OK);
	free(big);
}

static void
test_finish_invalid_outcome(void **state)
{
	struct fix		*fx = *state;
	struct task		*p, *c;
	struct task_finish	 fi;
	enum store_err		 ie;

	p = submit(fx->st, "echo", "{}", 0);
	c = claim_one(fx->st, "r");
	memset(&fi, 0, sizeof(fi));
	fi.id = c->id;
	fi.claim_token = c->claim_token;
	fi.outcome = OUTCOME__MAX;
	assert_int_equal(store_task_finish_many(fx->st, &fi, 1, &ie), STORE_OK);
	assert_int_equal(ie, STORE_INVALID);
	fi.id = "not-an-id";
	fi.outcome = OUTCOME_SUCCESS;
	assert_int_equal(store_task_finish_many(fx->st, &fi, 1, &ie), STORE_OK);
	assert_int_equal(ie, STORE_INVALID);
	assert_int_equal(status_of(fx->st, p->id), TASK_RUNNING);
	task_free(p);
	task_free(c);
}

/* Size of the database's write-ahead log file, in bytes (0 if none). */
static long long
wal_bytes(const char *db)
{
	char		 p[320];
	struct stat	 sb;

	snprintf(p, sizeof(p), "%s-wal", db);
	return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

/*
 * A process's handles opened STORE_OPEN_CHECKPOINTER on one database share
 * one checkpointer thread, which copies the log into the database file by
 * itself, and which stops with the last of them: after
 * fewer writes than make a commit checkpoint (4096 pages), the database
 * file grows within a couple of seconds with nobody calling a checkpoint.
 */
static void
test_checkpointer(void **state)
{
	struct fix	*fx = *state;
	struct store	*w, *w2;
	struct stat	 sb;
	off_t		 before;
	int		 i;

	/* The fixture's handle runs none: it was opened without the flag. */
	assert_int_equal(sqlite_ckpt_running(), 0);
	assert_int_equal(store_open(fx->path, STORE_OPEN_CHECKPOINTER, 1000, &w,
	    NULL, 0), STORE_OK);
	assert_int_equal(sqlite_ckpt_running(), 1);
	assert_int_equal(store_open(fx->path, STORE_OPEN_CHECKPOINTER, 1000, &w2,
	    NULL, 0), STORE_OK);
	assert_int_equal(sqlite_ckpt_running(), 1);	/* one per file */
	store_close(w2);
	assert_int_equal(stat(fx->path, &sb), 0);
	before = sb.st_size;
	fill_tasks(w, 1000);
	assert_true(wal_bytes(fx->path) < 4096LL * 4096);
	for (i = 0; i < 50; i++) {
		assert_int_equal(stat(fx->path, &sb), 0);
		if (sb.st_size > before)
			break;
		usleep(100 * 1000);
	}
	assert_true(sb.st_size > before);
	store_close(w);
	assert_int_equal(sqlite_ckpt_running(), 0);
}

/* What the log held after each commit of a connection (its wal hook). */
struct wal_seen {
	int	 last;
	int	 restarts;	/* times it held fewer than after the commit before */
	int	 max;		/* most frames after the first restart */
};

static int
wal_seen_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct wal_seen	*ws = arg;

	(void)db;
	(void)name;
	if (frames < ws->last)
		ws->restarts++;
	if (ws->restarts > 0 && frames > ws->max)
		ws->max = frames;
	ws->last = frames;
	return SQLITE_OK;
}

/*
 * Under writes that never pause, the checkpointer thread reaches the end
 * of the log itself, so that the next writer starts it over.  The writer's
 * own checkpoints are off (its wal hook replaces SQLite's), so without the
 * thread's last pass in a writers' turn the log would only grow: passive
 * passes beside a writer never reach its end.  (How long the log gets
 * depends on how fast this machine writes against how fast it syncs, so
 * it is printed, not checked.)
 */
static void
test_checkpointer_restarts_the_log(void **state)
{
	struct fix	*fx = *state;
	struct store	*w;
	struct wal_seen	 ws = { 0, 0, 0 };
	int		 rounds;

	assert_int_equal(store_open(fx->path, STORE_OPEN_CHECKPOINTER, 1000, &w,
	    NULL, 0), STORE_OK);
	sqlite3_wal_hook(store_sqlite_handle(w), wal_seen_hook, &ws);
	for (rounds = 0; rounds < 4000 && ws.restarts < 5; rounds++)
		fill_tasks(w, 50);
	printf("# %d rounds of 50 tasks: the log started over %d times, held "
	    "at most %d pages after the first\n", rounds, ws.restarts, ws.max);
	assert_true(ws.restarts >= 5);
	store_close(w);
}

static void
test_readonly(void **state)
{
	struct fix	*fx = *state;
	struct store	*ro = NULL;
	struct task	*t, *g;
	char		 eb[256];
	bool		 ex;
	struct task_new	 tn;

	t = submit(fx->st, "echo", "{}", 0);
	assert_int_equal(store_open(fx->path, STORE_OPEN_READONLY, BUSY_MS,
	    &ro, eb, sizeof(eb)), STORE_OK);
	g = get(ro, t->id);
	assert_string_equal(g->id, t->id);
	task_free(g);
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	assert_int_equal(store_task_submit(ro, &tn, &g, &ex), STORE_DB);
	store_close(ro);
	task_free(t);
}

/* A submitter on its own connection, for test_idempotency_race. */
struct idem_racer {
	const char	*path;
	char		 id[TASK_ID_LEN + 1];
	int		 failed;
};

static void *
idem_run(void *arg)
{
	struct idem_racer	*r = arg;
	struct store		*st = NULL;
	struct task_new		 tn;
	struct task		*t = NULL;
	char			 eb[256];
	bool			 existed;
	enum store_err		 e;

	if (store_open(r->path, 0, BUSY_MS, &st, eb, sizeof(eb)) != STORE_OK) {
		r->failed = 1;
		return NULL;
	}
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.parameters = "{}";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	tn.idempotency_key = "race";
	while ((e = store_task_submit(st, &tn, &t, &existed)) == STORE_BUSY)
		continue;
	if (e != STORE_OK)
		r->failed = 1;
	else
		snprintf(r->id, sizeof(r->id), "%s", t->id);
	task_free(t);
	store_close(st);
	return NULL;
}

/* Submits with one key on many connections at once store one task. */
static void
test_idempotency_race(void **state)
{
	struct fix		*fx = *state;
	struct idem_racer	 r[8];
	pthread_t		 th[8];
	size_t			 i;

	memset(r, 0, sizeof(r));
	for (i = 0; i < 8; i++) {
		r[i].path = fx->path;
		assert_int_equal(pthread_create(&th[i], NULL, idem_run, &r[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r[i].failed, 0);
		assert_string_equal(r[i].id, r[0].id);
	}
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM tasks"), 1);
	assert_counts_exact(fx);
}

#ifdef HAVE_LIBPQ
/*
 * PostgreSQL only: hosts starting together migrate once (advisory lock),
 * a newer schema is refused, backup points to pg_dump, and a connection
 * the server dropped is re-established by the next call.
 */
static void
test_pg_open_concurrent_processes(void **state)
{
	struct fix	*fx = *state;
	pid_t		 pids[6];
	int		 status, round;
	size_t		 i;

	for (round = 0; round < 3; round++) {
		store_close(fx->st);
		fx->st = NULL;
		PQclear(pg_raw("DROP SCHEMA public CASCADE; "
		    "CREATE SCHEMA public"));
		for (i = 0; i < 6; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				struct store	*st = NULL;
				char		 eb[256];

				if (store_open(fx->path, 0, BUSY_MS, &st, eb,
				    sizeof(eb)) != STORE_OK) {
					fprintf(stderr, "%s\n", eb);
					_exit(1);
				}
				status = store_schema_version(st) ==
				    STORE_SCHEMA_VERSION ? 0 : 2;
				store_close(st);
				_exit(status);
			}
		}
		for (i = 0; i < 6; i++) {
			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
		assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM "
		    "taskq_schema"), 1);
		assert_int_equal(raw_int(fx->path, "SELECT version FROM "
		    "taskq_schema"), STORE_SCHEMA_VERSION);
	}
}

static void
test_pg_newer_version_and_backup(void **state)
{
	struct fix	*fx = *state;
	struct store	*st2 = (struct store *)1;
	char		 eb[512];
	int		 from, to;

	assert_int_equal(store_backup(fx->st, "/tmp/x"), STORE_INVALID);
	assert_non_null(strstr(store_errmsg(fx->st), "pg_dump"));
	assert_int_equal(store_migrate(fx->path, BUSY_MS, &from, &to, eb,
	    sizeof(eb)), STORE_OK);
	assert_int_equal(from, STORE_SCHEMA_VERSION);
	assert_int_equal(to, STORE_SCHEMA_VERSION);
	raw_exec(fx->path, "UPDATE taskq_schema SET version = 7");
	assert_int_equal(store_open(fx->path, 0, BUSY_MS, &st2, eb,
	    sizeof(eb)), STORE_VERSION);
	assert_null(st2);
	assert_non_null(strstr(eb, "7"));
	assert_int_equal(raw_int(fx->path, "SELECT version FROM taskq_schema"),
	    7);
}

static void
test_pg_reconnect(void **state)
{
	struct fix	*fx = *state;
	struct task	*t, *g;
	int		 fd;

	t = submit(fx->st, "echo", "{}", 0);
	fd = store_wakeup_fd(fx->st);
	assert_true(fd >= 0);
	/* Every other connection of this database is dropped. */
	PQclear(pg_raw("SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE datname = current_database() "
	    "AND pid <> pg_backend_pid()"));
	usleep(100 * 1000);
	g = get(fx->st, t->id);		/* reconnected on the way */
	task_free(g);
	task_free(submit(fx->st, "echo", "{}", 0));
	/* The submit above notified the new LISTEN. */
	fd = store_wakeup_fd(fx->st);
	assert_true(fd >= 0);
	assert_true(store_wakeup_drain(fx->st));
	assert_false(store_wakeup_drain(fx->st));
	PQclear(pg_raw("SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE datname = current_database() "
	    "AND pid <> pg_backend_pid()"));
	usleep(100 * 1000);
	task_free(claim_one(fx->st, "r"));
	assert_counts_exact(fx);
	task_free(t);
}
#endif

int
main(void)
{
	int	 rc = 0;
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_open_creates_wal_schema),
		T(test_open_twice_migrates_once),
		T(test_open_concurrent_processes),
		T(test_open_not_a_database),
		T(test_open_newer_version_refused),
		T(test_open_errors_name_path),
		T(test_open_backend_by_name),
		T(test_migrate_from_v1_fixture),
		T(test_submit_and_get),
		T(test_submit_invalid),
		T(test_submit_many_group),
		T(test_submit_many_large),
		T(test_idempotency_returns_first),
		T(test_idempotency_race),
		T(test_cancel_transitions),
		T(test_finish_success_and_failed),
		T(test_finish_many_mixed),
		T(test_finish_retry_and_lost),
		T(test_retry_creates_new_task),
		T(test_bulk_cancel_and_retry),
		T(test_claim_order_run_at_paused),
		T(test_claim_race_two_connections),
		T(test_claim_race_threads),
		T(test_claim_race_processes),
		T(test_cancel_finish_race),
		T(test_progress_and_check_held),
		T(test_runners),
		T(test_recover_stale),
		T(test_list_filters),
		T(test_list_each_matches_list),
		T(test_keyset_pagination_with_inserts),
		T(test_search),
		T(test_stats),
		T(test_duration_hist),
		T(test_query_plans),
		T(test_list_statements_not_reprepared),
		T(test_purge),
		T(test_files),
		T(test_busy),
		T(test_lock_wait_worst),
		T(test_open_map_whole),
		T(test_full),
		T(test_finish_invalid_outcome),
		T(test_readonly),
		T(test_checkpointer),
		T(test_checkpointer_restarts_the_log),
#undef T
	};
#ifdef HAVE_LIBPQ
	/* The same tests, less what only SQLite has, plus PostgreSQL's own. */
	const struct CMUnitTest pg_tests[] = {
#define P(f) cmocka_unit_test_setup_teardown(f, setup_pg, teardown_pg)
		P(test_pg_open_concurrent_processes),
		P(test_pg_newer_version_and_backup),
		P(test_pg_reconnect),
		P(test_submit_and_get),
		P(test_submit_invalid),
		P(test_submit_many_group),
		P(test_submit_many_large),
		P(test_idempotency_returns_first),
		P(test_idempotency_race),
		P(test_cancel_transitions),
		P(test_finish_success_and_failed),
		P(test_finish_many_mixed),
		P(test_finish_retry_and_lost),
		P(test_retry_creates_new_task),
		P(test_bulk_cancel_and_retry),
		P(test_claim_order_run_at_paused),
		P(test_claim_race_two_connections),
		P(test_claim_race_threads),
		P(test_claim_race_processes),
		P(test_cancel_finish_race),
		P(test_progress_and_check_held),
		P(test_runners),
		P(test_recover_stale),
		P(test_list_filters),
		P(test_list_each_matches_list),
		P(test_keyset_pagination_with_inserts),
		P(test_search),
		P(test_stats),
		P(test_duration_hist),
		P(test_purge),
		P(test_files),
		P(test_finish_invalid_outcome),
		P(test_readonly),
#undef P
	};
	const char	*url = getenv("TASKQ_TEST_PG_URL");
	const char	*only = getenv("TASKQ_TEST_PG_ONLY");

	if (url == NULL || *url == '\0' || only == NULL || *only != '1')
		rc = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
	if (url != NULL && *url != '\0') {
		pg_url = url;
		rc |= cmocka_run_group_tests_name("postgresql", pg_tests, NULL,
		    NULL);
	}
	return rc;
#else
	rc = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
	return rc;
#endif
}
