/*
 * The task store on SQLite: the only file in taskq that contains SQL.
 *
 * One struct sqlite_store is one connection (opened SQLITE_OPEN_NOMUTEX, used by one
 * thread at a time).  Processes coordinate only through the database: every
 * write transaction starts with BEGIN IMMEDIATE and every state transition is
 * an UPDATE conditional on the expected status (and, for the runner's writes,
 * on the claim token), so of two racing writers exactly one changes the row.
 *
 * Durability: the file is in WAL mode.  Submits, cancels, retries, claims
 * and finishes commit with synchronous=FULL, so that a task acknowledged to a
 * client, or an outcome acknowledged to a runner, survives a power loss.
 * Progress and heartbeat writes commit with synchronous=NORMAL: they are
 * rewritten every second and losing the last one is harmless, and NORMAL
 * spares them the fsync.  The pragma is per connection and read at commit,
 * so it is switched before each write transaction (only when it changes).
 *
 * Locking: SQLite's default busy handler sleeps 1, 2, 5, 10 ... 100 ms, which
 * starves a writer for seconds behind a stream of short transactions.  We
 * install our own that sleeps 0.2-1 ms with jitter until busy_ms elapses, and
 * then report STORE_BUSY.
 *
 * Counts are never computed with COUNT(*): triggers keep a counts table and
 * a per-type per-minute finish rollup in the same transaction as each write,
 * and another set keeps the FTS5 index over parameters, result and error.
 * The schema is versioned with PRAGMA user_version and upgraded on open by
 * the numbered migrations below, each in one BEGIN IMMEDIATE transaction.
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store.h"
#include "store_backend.h"
#include "store_sqlite_internal.h"
#include "task.h"
#include "log.h"
#include "wqueue.h"

#define IDEMPOTENCY_MS	(24 * 60 * 60 * 1000LL)	/* how long a key is honoured */
#define ROLLUP_KEEP_MIN	(25 * 60)		/* minutes of rollup kept */
#define CLAIM_MAX	1000			/* tasks per claim call */
#define LIST_MAX	500
#define FILTER_TYPES_MAX 64			/* task types in one filter */
#define DYN_CACHE	16			/* cached filter-shaped statements */
#define INS_ROWS_SHIFT	6			/* insert_rows(): up to 64 rows */
#define LOST_ERROR	"runner lost"

/*
 * The histogram bucket of a duration d in ms, for migration 3: the first
 * bound of store_duration_bounds_ms (store.c) not below d, else INT64_MAX
 * ("+Inf").  Part of a shipped migration: never edit.
 */
#define DURATION_BUCKET_SQL \
	"CASE WHEN d <= 100 THEN 100 WHEN d <= 250 THEN 250 " \
	"WHEN d <= 500 THEN 500 WHEN d <= 1000 THEN 1000 " \
	"WHEN d <= 2500 THEN 2500 WHEN d <= 5000 THEN 5000 " \
	"WHEN d <= 10000 THEN 10000 WHEN d <= 30000 THEN 30000 " \
	"WHEN d <= 60000 THEN 60000 WHEN d <= 300000 THEN 300000 " \
	"WHEN d <= 900000 THEN 900000 WHEN d <= 3600000 THEN 3600000 " \
	"ELSE 9223372036854775807 END"

/*
 * Migration n (1-based) takes a file from user_version n-1 to n.  Never edit
 * one that has shipped: add the next.  tests/unit/fixtures/schema_v1.sql
 * starts with exactly the text of migration 1.
 *
 * The indexes serve the list queries as range scans newest first; the
 * claim index holds only PENDING rows in claim order, and carries run_at
 * and task_type so that a backlog of scheduled or paused tasks is skipped
 * inside the index without visiting the rows.
 */
static const char *const migrations[] = {
	/* 1: core tables, indexes and the status counts. */
	"CREATE TABLE tasks (\n"
	"\tseq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"\tid TEXT NOT NULL UNIQUE,\n"
	"\ttask_type TEXT NOT NULL,\n"
	"\tstatus TEXT NOT NULL CHECK (status IN\n"
	"\t    ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED')),\n"
	"\tprogress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),\n"
	"\tparameters TEXT NOT NULL DEFAULT '{}',\n"
	"\tresult_data TEXT,\n"
	"\terror_message TEXT,\n"
	"\tworker_output TEXT,\n"
	"\tretry_of TEXT,\n"
	"\tattempt INTEGER NOT NULL DEFAULT 1,\n"
	"\tmax_attempts INTEGER NOT NULL DEFAULT 1,\n"
	"\tpriority INTEGER NOT NULL DEFAULT 0,\n"
	"\ttimeout_s INTEGER NOT NULL,\n"
	"\tcreated_at INTEGER NOT NULL,\n"
	"\trun_at INTEGER NOT NULL,\n"
	"\tstarted_at INTEGER,\n"
	"\tcompleted_at INTEGER,\n"
	"\tupdated_at INTEGER NOT NULL,\n"
	"\tclaim_owner TEXT,\n"
	"\tclaim_token INTEGER,\n"
	"\theartbeat INTEGER\n"
	");\n"
	"CREATE INDEX tasks_status ON tasks (status, seq);\n"
	"CREATE INDEX tasks_type ON tasks (task_type, seq);\n"
	"CREATE INDEX tasks_type_status ON tasks (task_type, status, seq);\n"
	"CREATE INDEX tasks_claim ON tasks (priority DESC, seq, run_at, task_type)\n"
	"    WHERE status = 'PENDING';\n"
	"CREATE INDEX tasks_retry_of ON tasks (retry_of)\n"
	"    WHERE retry_of IS NOT NULL;\n"
	"CREATE INDEX tasks_done ON tasks (completed_at)\n"
	"    WHERE status IN ('SUCCESS', 'FAILED', 'CANCELLED');\n"
	"CREATE TABLE runners (\n"
	"\tid TEXT PRIMARY KEY,\n"
	"\thost TEXT NOT NULL,\n"
	"\tpid INTEGER NOT NULL,\n"
	"\tversion TEXT NOT NULL,\n"
	"\tslots INTEGER NOT NULL,\n"
	"\trunning INTEGER NOT NULL,\n"
	"\tstarted_at INTEGER NOT NULL,\n"
	"\tlast_seen INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE paused_types (\n"
	"\ttask_type TEXT PRIMARY KEY\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE idempotency (\n"
	"\tkey TEXT PRIMARY KEY,\n"
	"\ttask_seq INTEGER NOT NULL REFERENCES tasks (seq) ON DELETE CASCADE,\n"
	"\tcreated_at INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX idempotency_task ON idempotency (task_seq);\n"
	"CREATE INDEX idempotency_created ON idempotency (created_at);\n"
	"CREATE TABLE files (\n"
	"\tid TEXT PRIMARY KEY,\n"
	"\tname TEXT NOT NULL,\n"
	"\tsize INTEGER NOT NULL,\n"
	"\tsha256 TEXT NOT NULL,\n"
	"\tcontent_type TEXT NOT NULL,\n"
	"\tcreated_at INTEGER NOT NULL,\n"
	"\ttask_id TEXT NOT NULL DEFAULT ''\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX files_created ON files (created_at);\n"
	"CREATE TABLE counts (\n"
	"\ttask_type TEXT NOT NULL,\n"
	"\tstatus TEXT NOT NULL,\n"
	"\tn INTEGER NOT NULL,\n"
	"\tPRIMARY KEY (task_type, status)\n"
	") WITHOUT ROWID;\n"
	"CREATE TRIGGER tasks_counts_insert AFTER INSERT ON tasks BEGIN\n"
	"\tINSERT INTO counts (task_type, status, n)\n"
	"\t    VALUES (new.task_type, new.status, 1)\n"
	"\t    ON CONFLICT (task_type, status) DO UPDATE SET n = n + 1;\n"
	"END;\n"
	"CREATE TRIGGER tasks_counts_update AFTER UPDATE OF status ON tasks\n"
	"    WHEN old.status IS NOT new.status BEGIN\n"
	"\tUPDATE counts SET n = n - 1\n"
	"\t    WHERE task_type = old.task_type AND status = old.status;\n"
	"\tINSERT INTO counts (task_type, status, n)\n"
	"\t    VALUES (new.task_type, new.status, 1)\n"
	"\t    ON CONFLICT (task_type, status) DO UPDATE SET n = n + 1;\n"
	"END;\n"
	"CREATE TRIGGER tasks_counts_delete AFTER DELETE ON tasks BEGIN\n"
	"\tUPDATE counts SET n = n - 1\n"
	"\t    WHERE task_type = old.task_type AND status = old.status;\n"
	"END;\n",

	/* 2: full-text search and the per-minute finish rollup. */
	"CREATE VIRTUAL TABLE tasks_fts USING fts5 (\n"
	"\tparameters, result_data, error_message,\n"
	"\tcontent = 'tasks', content_rowid = 'seq',\n"
	"\ttokenize = 'unicode61 remove_diacritics 2'\n"
	");\n"
	"CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN\n"
	"\tINSERT INTO tasks_fts (rowid, parameters, result_data, error_message)\n"
	"\t    VALUES (new.seq, new.parameters, new.result_data, new.error_message);\n"
	"END;\n"
	"CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN\n"
	"\tINSERT INTO tasks_fts (tasks_fts, rowid, parameters, result_data,\n"
	"\t    error_message) VALUES ('delete', old.seq, old.parameters,\n"
	"\t    old.result_data, old.error_message);\n"
	"END;\n"
	"CREATE TRIGGER tasks_fts_update\n"
	"    AFTER UPDATE OF parameters, result_data, error_message ON tasks\n"
	"    WHEN old.parameters IS NOT new.parameters\n"
	"    OR old.result_data IS NOT new.result_data\n"
	"    OR old.error_message IS NOT new.error_message BEGIN\n"
	"\tINSERT INTO tasks_fts (tasks_fts, rowid, parameters, result_data,\n"
	"\t    error_message) VALUES ('delete', old.seq, old.parameters,\n"
	"\t    old.result_data, old.error_message);\n"
	"\tINSERT INTO tasks_fts (rowid, parameters, result_data, error_message)\n"
	"\t    VALUES (new.seq, new.parameters, new.result_data, new.error_message);\n"
	"END;\n"
	"INSERT INTO tasks_fts (tasks_fts) VALUES ('rebuild');\n"
	"CREATE TABLE finish_rollup (\n"
	"\ttask_type TEXT NOT NULL,\n"
	"\tminute INTEGER NOT NULL,\n"
	"\tfinished INTEGER NOT NULL,\n"
	"\tfailed INTEGER NOT NULL,\n"
	"\tPRIMARY KEY (task_type, minute)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX finish_rollup_minute ON finish_rollup (minute);\n"
	"CREATE TRIGGER tasks_finish_rollup AFTER UPDATE OF status ON tasks\n"
	"    WHEN new.status IN ('SUCCESS', 'FAILED')\n"
	"    AND old.status IS NOT new.status BEGIN\n"
	"\tINSERT INTO finish_rollup (task_type, minute, finished, failed)\n"
	"\t    VALUES (new.task_type,\n"
	"\t    coalesce(new.completed_at, new.updated_at) / 60000,\n"
	"\t    1, new.status = 'FAILED')\n"
	"\t    ON CONFLICT (task_type, minute) DO UPDATE SET\n"
	"\t    finished = finished + 1, failed = failed + excluded.failed;\n"
	"END;\n"
	"INSERT INTO finish_rollup (task_type, minute, finished, failed)\n"
	"    SELECT task_type, completed_at / 60000, count(*),\n"
	"    sum(status = 'FAILED') FROM tasks\n"
	"    WHERE status IN ('SUCCESS', 'FAILED') AND completed_at IS NOT NULL\n"
	"    GROUP BY 1, 2;\n",

	/*
	 * 3: run times of finished tasks per type and outcome, in histogram
	 * buckets, counted since creation (GET /api/metrics).  The bounds
	 * are store_duration_bounds_ms (store.c).
	 */
	"CREATE TABLE duration_hist (\n"
	"\ttask_type TEXT NOT NULL,\n"
	"\toutcome TEXT NOT NULL,\n"
	"\tle_ms INTEGER NOT NULL,\n"
	"\tn INTEGER NOT NULL,\n"
	"\tsum_ms INTEGER NOT NULL,\n"
	"\tPRIMARY KEY (task_type, outcome, le_ms)\n"
	") WITHOUT ROWID;\n"
	"CREATE TRIGGER tasks_duration_hist AFTER UPDATE OF status ON tasks\n"
	"    WHEN new.status IN ('SUCCESS', 'FAILED')\n"
	"    AND old.status IS NOT new.status BEGIN\n"
	"\tINSERT INTO duration_hist (task_type, outcome, le_ms, n, sum_ms)\n"
	"\t    SELECT new.task_type, new.status, " DURATION_BUCKET_SQL ", 1, d\n"
	"\t    FROM (SELECT max(0, coalesce(new.completed_at, new.updated_at)\n"
	"\t    - coalesce(new.started_at, new.completed_at, new.updated_at)) AS d)\n"
	"\t    WHERE true\n"
	"\t    ON CONFLICT (task_type, outcome, le_ms) DO UPDATE SET\n"
	"\t    n = n + 1, sum_ms = sum_ms + excluded.sum_ms;\n"
	"END;\n"
	"INSERT INTO duration_hist (task_type, outcome, le_ms, n, sum_ms)\n"
	"    SELECT task_type, status, " DURATION_BUCKET_SQL ", count(*), sum(d)\n"
	"    FROM (SELECT task_type, status, max(0, coalesce(completed_at,\n"
	"    updated_at) - coalesce(started_at, completed_at, updated_at)) AS d\n"
	"    FROM tasks WHERE status IN ('SUCCESS', 'FAILED'))\n"
	"    GROUP BY 1, 2, 3;\n",
};

#define NMIGRATIONS	(sizeof(migrations) / sizeof(migrations[0]))

/* The columns every task query returns, in the order task_from_row() reads. */
#define TASK_COLS \
	"seq, id, task_type, status, progress, parameters, result_data, " \
	"error_message, worker_output, retry_of, attempt, max_attempts, " \
	"priority, timeout_s, created_at, run_at, started_at, completed_at, " \
	"updated_at, claim_owner, claim_token"
#define TASK_COLS_T \
	"t.seq, t.id, t.task_type, t.status, t.progress, t.parameters, " \
	"t.result_data, t.error_message, t.worker_output, t.retry_of, " \
	"t.attempt, t.max_attempts, t.priority, t.timeout_s, t.created_at, " \
	"t.run_at, t.started_at, t.completed_at, t.updated_at, " \
	"t.claim_owner, t.claim_token"

/*
 * The statements prepared once per handle (SQLITE_PREPARE_PERSISTENT).
 * Claim and purge name their partial index (INDEXED BY): without ANALYZE
 * statistics the planner would pick the (status, seq) index and sort, and
 * INDEXED BY turns a lost index into an error instead of a silent scan.
 */
enum stmt_id {
	ST_BEGIN,
	ST_BEGIN_IMMEDIATE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SYNC_FULL,
	ST_SYNC_NORMAL,
	ST_TASK_INSERT,
	ST_IDEM_GET,
	ST_IDEM_PUT,
	ST_TASK_GET,
	ST_TASK_STATUS,
	ST_TASK_CANCEL,
	ST_CLAIM,
	ST_PROGRESS,
	ST_FINISH_SUCCESS,
	ST_FINISH_FAILED,
	ST_FINISH_RETRY,
	ST_CHECK_HELD,
	ST_RUNNER_BEAT,
	ST_RUNNER_REMOVE,
	ST_RUNNER_LIST,
	ST_RECOVER,
	ST_RUNNER_PRUNE,
	ST_FILE_ADD,
	ST_FILE_GET,
	ST_FILE_UNREF,
	ST_FILE_DELETE,
	ST_PAUSE,
	ST_RESUME,
	ST_IS_PAUSED,
	ST_COUNTS,
	ST_ROLLUP,
	ST_OLDEST_PENDING,
	ST_PAUSED_LIST,
	ST_PURGE,
	ST_PURGE_IDEM,
	ST_PURGE_ROLLUP,
	ST_PING,
	ST__MAX
};

/*
 * Requeue or fail a RUNNING task (OUTCOME_RETRY and OUTCOME_LOST, and stale
 * recovery): the SET list shared by ST_FINISH_RETRY and ST_RECOVER.  ?1 is
 * now, ?2 the run_at of the next attempt, ?3 the error when exhausted, ?4
 * the worker output.  SQLite evaluates every SET expression on the old row.
 */
#define REQUEUE_SET \
	"status = CASE WHEN attempt >= max_attempts THEN 'FAILED' " \
	"    ELSE 'PENDING' END, " \
	"attempt = CASE WHEN attempt >= max_attempts THEN attempt " \
	"    ELSE attempt + 1 END, " \
	"error_message = CASE WHEN attempt >= max_attempts THEN ?3 END, " \
	"completed_at = CASE WHEN attempt >= max_attempts THEN ?1 END, " \
	"started_at = CASE WHEN attempt >= max_attempts THEN started_at END, " \
	"progress = CASE WHEN attempt >= max_attempts THEN progress ELSE 0 END, " \
	"run_at = CASE WHEN attempt >= max_attempts THEN run_at ELSE ?2 END, " \
	"worker_output = coalesce(?4, worker_output), " \
	"claim_owner = NULL, claim_token = NULL, heartbeat = NULL, " \
	"updated_at = ?1 "

static const char *const stmt_sql[ST__MAX] = {
	[ST_BEGIN] = "BEGIN",
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
	[ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
	[ST_TASK_INSERT] =
	    "INSERT INTO tasks (id, task_type, status, progress, parameters, "
	    "retry_of, attempt, max_attempts, priority, timeout_s, created_at, "
	    "run_at, updated_at) VALUES (?1, ?2, 'PENDING', 0, ?3, ?4, 1, ?5, "
	    "?6, ?7, ?8, ?9, ?8) RETURNING " TASK_COLS,
	[ST_IDEM_GET] =
	    "SELECT " TASK_COLS " FROM tasks WHERE seq = (SELECT task_seq "
	    "FROM idempotency WHERE key = ?1 AND created_at >= ?2)",
	[ST_IDEM_PUT] =
	    "INSERT INTO idempotency (key, task_seq, created_at) "
	    "VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET "
	    "task_seq = excluded.task_seq, created_at = excluded.created_at",
	[ST_TASK_GET] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
	[ST_TASK_STATUS] = "SELECT status FROM tasks WHERE id = ?1",
	[ST_TASK_CANCEL] =
	    "UPDATE tasks SET status = 'CANCELLED', completed_at = ?2, "
	    "updated_at = ?2, heartbeat = NULL WHERE id = ?1 "
	    "AND status IN ('PENDING', 'RUNNING') RETURNING " TASK_COLS,
	[ST_CLAIM] =
	    "UPDATE tasks SET status = 'RUNNING', started_at = ?1, "
	    "updated_at = ?1, heartbeat = ?1, claim_owner = ?2, "
	    "claim_token = ?3, progress = 0 WHERE seq IN (SELECT seq FROM tasks "
	    "INDEXED BY tasks_claim WHERE status = 'PENDING' AND run_at <= ?1 "
	    "AND task_type NOT IN (SELECT task_type FROM paused_types) "
	    "ORDER BY priority DESC, seq "
	    "LIMIT ?4) RETURNING " TASK_COLS,
	[ST_PROGRESS] =
	    "UPDATE tasks SET progress = ?3, heartbeat = ?4, updated_at = ?4 "
	    "WHERE id = ?1 AND status = 'RUNNING' AND claim_token = ?2",
	[ST_FINISH_SUCCESS] =
	    "UPDATE tasks SET status = 'SUCCESS', progress = 100, "
	    "result_data = ?3, error_message = NULL, "
	    "worker_output = ?4, completed_at = ?5, updated_at = ?5, "
	    "heartbeat = NULL WHERE id = ?1 AND status = 'RUNNING' "
	    "AND claim_token = ?2",
	[ST_FINISH_FAILED] =
	    "UPDATE tasks SET status = 'FAILED', result_data = NULL, "
	    "error_message = ?3, worker_output = ?4, completed_at = ?5, "
	    "updated_at = ?5, heartbeat = NULL WHERE id = ?1 "
	    "AND status = 'RUNNING' AND claim_token = ?2",
	[ST_FINISH_RETRY] =
	    "UPDATE tasks SET " REQUEUE_SET
	    "WHERE id = ?5 AND status = 'RUNNING' AND claim_token = ?6",
	[ST_CHECK_HELD] =
	    "SELECT 1 FROM tasks WHERE id = ?1 AND status = 'RUNNING' "
	    "AND claim_token = ?2",
	[ST_RUNNER_BEAT] =
	    "INSERT INTO runners (id, host, pid, version, slots, running, "
	    "started_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
	    "ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
	    "pid = excluded.pid, version = excluded.version, "
	    "slots = excluded.slots, running = excluded.running, "
	    "last_seen = excluded.last_seen",
	[ST_RUNNER_REMOVE] = "DELETE FROM runners WHERE id = ?1",
	[ST_RUNNER_LIST] =
	    "SELECT id, host, pid, version, slots, running, started_at, "
	    "last_seen FROM runners ORDER BY last_seen DESC",
	[ST_RECOVER] =
	    "UPDATE tasks SET " REQUEUE_SET
	    "WHERE status = 'RUNNING' AND (claim_owner IS NULL OR "
	    "claim_owner NOT IN (SELECT id FROM runners WHERE last_seen >= ?5)) "
	    "RETURNING status",
	[ST_RUNNER_PRUNE] = "DELETE FROM runners WHERE last_seen < ?1",
	[ST_FILE_ADD] =
	    "INSERT INTO files (id, name, size, sha256, content_type, "
	    "created_at, task_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_FILE_GET] =
	    "SELECT id, name, size, sha256, content_type, created_at, task_id "
	    "FROM files WHERE id = ?1",
	/*
	 * A file is referenced while its producing task exists or while any
	 * task's parameters or result mention its id: the FTS phrase match of
	 * the uuid's tokens errs on the side of keeping the file.
	 */
	[ST_FILE_UNREF] =
	    "SELECT f.id FROM files AS f WHERE f.created_at < ?1 "
	    "AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.id = f.task_id) "
	    "AND NOT EXISTS (SELECT 1 FROM tasks_fts WHERE tasks_fts MATCH "
	    "'{parameters result_data} : \"' || f.id || '\"') "
	    "ORDER BY f.created_at LIMIT ?2",
	[ST_FILE_DELETE] = "DELETE FROM files WHERE id = ?1",
	[ST_PAUSE] =
	    "INSERT INTO paused_types (task_type) VALUES (?1) "
	    "ON CONFLICT DO NOTHING",
	[ST_RESUME] = "DELETE FROM paused_types WHERE task_type = ?1",
	[ST_IS_PAUSED] = "SELECT 1 FROM paused_types WHERE task_type = ?1",
	[ST_COUNTS] = "SELECT task_type, status, n FROM counts",
	[ST_ROLLUP] =
	    "SELECT task_type, sum(finished), sum(failed), "
	    "sum(finished) FILTER (WHERE minute >= ?2), "
	    "sum(failed) FILTER (WHERE minute >= ?2) "
	    "FROM finish_rollup WHERE minute >= ?1 GROUP BY task_type",
	[ST_OLDEST_PENDING] =
	    "SELECT created_at FROM tasks WHERE status = 'PENDING' "
	    "ORDER BY seq LIMIT 1",
	[ST_PAUSED_LIST] = "SELECT task_type FROM paused_types",
	[ST_PURGE] =
	    "DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks "
	    "INDEXED BY tasks_done WHERE status IN ('SUCCESS', 'FAILED', "
	    "'CANCELLED') AND completed_at < ?1 ORDER BY completed_at "
	    "LIMIT ?2)",
	[ST_PURGE_IDEM] =
	    "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency "
	    "WHERE created_at < ?1 LIMIT ?2)",
	[ST_PURGE_ROLLUP] = "DELETE FROM finish_rollup WHERE minute < ?1",
	[ST_PING] = "SELECT count(*) FROM paused_types",
};

/* A statement prepared for one filter shape, cached by its SQL text. */
struct dyn_stmt {
	char		*sql;
	sqlite3_stmt	*stmt;
	uint64_t	 used;		/* LRU clock */
};

struct sqlite_store {
	struct store	 base;		/* first: store.c's view */
	sqlite3		*db;
	char		*path;
	int		 busy_ms;
	int64_t		 busy_since;	/* monotonic us at the first busy call */
	int64_t		 lock_wait_worst; /* us, the longest BEGIN IMMEDIATE */
	struct wqueue	*wq;		/* the writers' queue, or NULL */
	struct sqlite_ckpt *ckpt;	/* the checkpointer, or NULL */
	uint32_t	 ticket;	/* this writer's turn in wq, ... */
	bool		 queued;	/* ... while it holds one */
	uint64_t	 rng;		/* xorshift state for busy jitter */
	int		 sync_full;	/* -1 unknown, 0 NORMAL, 1 FULL */
	int		 version;
	sqlite3_stmt	*stmts[ST__MAX];
	struct dyn_stmt	 dyn[DYN_CACHE];
	uint64_t	 dyn_clock;
	sqlite3_stmt	*ins_rows[INS_ROWS_SHIFT + 1];	/* see insert_rows() */
	fts5_tokenizer	 tokapi;	/* splits search text like the index */
	Fts5Tokenizer	*tok;
};

/* The SQLite handle of a store.c handle (the base is its first member). */
static struct sqlite_store *
sq(struct store *base)
{
	return (struct sqlite_store *)(void *)base;
}

static int
sqlite_schema_version(struct store *base_)
{
	struct sqlite_store	*st = sq(base_);
	return st->version;
}

static enum store_err
set_err(struct sqlite_store *st, enum store_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum store_err
set_err(struct sqlite_store *st, enum store_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->base.errmsg, sizeof(st->base.errmsg), fmt, ap);
	va_end(ap);
	return e;
}

/*
 * Maps an SQLite result code to a store error and keeps SQLite's message,
 * prefixed with what we were doing, in the handle.
 */
static enum store_err
db_err(struct sqlite_store *st, int rc, const char *what)
{
	enum store_err	 e;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		e = STORE_BUSY;
		break;
	case SQLITE_FULL:
		e = STORE_FULL;
		break;
	case SQLITE_NOMEM:
		e = STORE_NOMEM;
		break;
	case SQLITE_IOERR:
		e = sqlite3_system_errno(st->db) == ENOSPC ? STORE_FULL : STORE_DB;
		break;
	default:
		e = STORE_DB;
		break;
	}
	return set_err(st, e, "%s: %s: %s", st->path, what,
	    sqlite3_errmsg(st->db));
}

static int64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Busy handler: short jittered sleeps until busy_ms has passed since this
 * lock wait began, so that a waiting writer takes the lock within a
 * millisecond of it being released instead of after an escalating sleep.
 */
static int
busy_handler(void *arg, int count)
{
	struct sqlite_store	*st = arg;
	struct timespec	 ts;
	int64_t		 now, left, us;

	now = mono_us();
	if (count == 0)
		st->busy_since = now;
	left = (int64_t)st->busy_ms * 1000 - (now - st->busy_since);
	if (left <= 0)
		return 0;
	st->rng ^= st->rng << 13;
	st->rng ^= st->rng >> 7;
	st->rng ^= st->rng << 17;
	us = 200 + (int64_t)(st->rng % 800);
	if (us > left)
		us = left;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)us * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

/* ---- statements and transactions --------------------------------------- */

/* The cached statement id, prepared on first use; NULL with the error set. */
static sqlite3_stmt *
stmt_get(struct sqlite_store *st, enum stmt_id id, enum store_err *err)
{
	int	 rc;

	assert((unsigned)id < ST__MAX && stmt_sql[id] != NULL);
	if (st->stmts[id] != NULL)
		return st->stmts[id];
	rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
	    SQLITE_PREPARE_PERSISTENT, &st->stmts[id], NULL);
	if (rc != SQLITE_OK) {
		*err = db_err(st, rc, "prepare");
		st->stmts[id] = NULL;
		return NULL;
	}
	return st->stmts[id];
}

/* A statement for this dynamic SQL from the small LRU cache, or prepared. */
static sqlite3_stmt *
dyn_get(struct sqlite_store *st, const char *sql, enum store_err *err)
{
	struct dyn_stmt	*d, *victim = NULL;
	char		*copy;
	int		 rc;
	size_t		 i;

	for (i = 0; i < DYN_CACHE; i++) {
		d = &st->dyn[i];
		if (d->sql != NULL && strcmp(d->sql, sql) == 0) {
			d->used = ++st->dyn_clock;
			return d->stmt;
		}
		if (victim == NULL || d->sql == NULL ||
		    (victim->sql != NULL && d->used < victim->used))
			victim = d;
	}
	if ((copy = strdup(sql)) == NULL) {
		*err = set_err(st, STORE_NOMEM, "%s: out of memory", st->path);
		return NULL;
	}
	sqlite3_finalize(victim->stmt);
	free(victim->sql);
	victim->sql = NULL;
	victim->stmt = NULL;
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &victim->stmt, NULL);
	if (rc != SQLITE_OK) {
		*err = db_err(st, rc, "prepare");
		free(copy);
		return NULL;
	}
	victim->sql = copy;
	victim->used = ++st->dyn_clock;
	return victim->stmt;
}

static void
stmt_done(sqlite3_stmt *s)
{
	if (s != NULL) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Runs a cached statement that returns no rows. */
static enum store_err
exec_id(struct sqlite_store *st, enum stmt_id id, const char *what)
{
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	int		 rc;

	if ((s = stmt_get(st, id, &err)) == NULL)
		return err;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		continue;
	if (rc != SQLITE_DONE)
		err = db_err(st, rc, what);
	stmt_done(s);
	return err;
}

enum tx_kind {
	TX_READ,		/* a consistent snapshot for several reads */
	TX_WRITE,		/* durable: synchronous=FULL */
	TX_WRITE_LIGHT		/* progress and heartbeats: synchronous=NORMAL */
};

/*
 * The writers' queue (lib/wqueue.c): a turn is taken before every write
 * transaction and handed on when it ends.
 */
static void
wq_enter(struct sqlite_store *st)
{
	if (st->wq != NULL && !st->queued) {
		st->ticket = wqueue_enter(st->wq, STORE_SQLITE_WQ_STALE_US);
		st->queued = true;
	}
}

static void
wq_leave(struct sqlite_store *st)
{
	if (st->queued) {
		st->queued = false;
		wqueue_leave(st->wq, st->ticket);
	}
}

/*
 * Opens the queue in the file DB-writers next to the database file, with
 * its mode.  Without it (a read-only directory, a name SQLite alone
 * understands) the caller writes unqueued, as SQLite alone would have it.
 */
struct wqueue *
store_sqlite_wqueue_open(const char *path)
{
	static atomic_bool	 warned;
	struct wqueue		*wq;
	char			*qpath;

	if (path[0] == '\0' || path[0] == ':' || strncmp(path, "file:", 5) == 0)
		return NULL;
	if (asprintf(&qpath, "%s-writers", path) == -1)
		return NULL;
	/* Said once a process: every handle of taskq-api would repeat it. */
	if ((wq = wqueue_open(qpath, path)) == NULL &&
	    !atomic_exchange(&warned, true))
		log_warn("%s: writers wait on SQLite's lock alone", qpath);
	free(qpath);
	return wq;
}

static enum store_err
tx_begin(struct sqlite_store *st, enum tx_kind kind)
{
	enum store_err	 err = STORE_OK;
	int64_t		 t0;
	int		 want;

	if (kind == TX_READ)
		return exec_id(st, ST_BEGIN, "begin");
	want = kind == TX_WRITE;
	if (st->sync_full != want) {
		err = exec_id(st, want ? ST_SYNC_FULL : ST_SYNC_NORMAL,
		    "synchronous");
		if (err != STORE_OK)
			return err;
		st->sync_full = want;
	}
	/*
	 * The turn in the writers' queue, then BEGIN IMMEDIATE, which takes
	 * the write lock: together the lock wait.
	 */
	t0 = mono_us();
	wq_enter(st);
	err = exec_id(st, ST_BEGIN_IMMEDIATE, "begin immediate");
	if (err != STORE_OK)
		wq_leave(st);
	else if ((t0 = mono_us() - t0) > st->lock_wait_worst)
		st->lock_wait_worst = t0;
	return err;
}

static enum store_err
tx_commit(struct sqlite_store *st)
{
	enum store_err	 err = STORE_OK;

	if ((err = exec_id(st, ST_COMMIT, "commit")) != STORE_OK &&
	    !sqlite3_get_autocommit(st->db))
		(void)exec_id(st, ST_ROLLBACK, "rollback");
	wq_leave(st);
	return err;
}

/* Rolls back if a transaction is open, keeping the first error's message. */
static void
tx_rollback(struct sqlite_store *st)
{
	char	 saved[sizeof(st->base.errmsg)];

	if (!sqlite3_get_autocommit(st->db)) {
		memcpy(saved, st->base.errmsg, sizeof(saved));
		(void)exec_id(st, ST_ROLLBACK, "rollback");
		memcpy(st->base.errmsg, saved, sizeof(saved));
	}
	wq_leave(st);
}

static int
bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* ---- rows --------------------------------------------------------------- */

/*
 * Column i as text, lent until s is stepped or reset: NULL for SQL NULL;
 * *oom set if SQLite could not make the text.
 */
static char *
col_text(sqlite3_stmt *s, int i, bool *oom)
{
	const unsigned char	*v;

	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return NULL;
	if ((v = sqlite3_column_text(s, i)) == NULL)
		*oom = true;
	/* struct task's strings are not const; nothing writes through these. */
	return (char *)v;
}

static void
col_copy(sqlite3_stmt *s, int i, char *buf, size_t sz)
{
	const unsigned char	*v;

	v = sqlite3_column_text(s, i);
	snprintf(buf, sz, "%s", v != NULL ? (const char *)v : "");
}

/*
 * The task in the current row of s, lent: its strings point into s's
 * column buffers, valid until s is stepped or reset.  -1 if SQLite ran out
 * of memory making them.
 */
static int
task_view_from_row(sqlite3_stmt *s, struct task *t)
{
	const char	*status;
	bool		 oom = false;
	int		 sv;

	memset(t, 0, sizeof(*t));
	t->seq = sqlite3_column_int64(s, 0);
	col_copy(s, 1, t->id, sizeof(t->id));
	status = (const char *)sqlite3_column_text(s, 3);
	sv = status != NULL ? task_status_parse(status) : -1;
	t->status = sv >= 0 ? (enum task_status)sv : TASK_FAILED;
	t->progress = sqlite3_column_int(s, 4);
	col_copy(s, 9, t->retry_of, sizeof(t->retry_of));
	t->attempt = sqlite3_column_int(s, 10);
	t->max_attempts = sqlite3_column_int(s, 11);
	t->priority = sqlite3_column_int(s, 12);
	t->timeout_s = sqlite3_column_int(s, 13);
	t->created_at = sqlite3_column_int64(s, 14);
	t->run_at = sqlite3_column_int64(s, 15);
	t->started_at = sqlite3_column_int64(s, 16);
	t->completed_at = sqlite3_column_int64(s, 17);
	t->updated_at = sqlite3_column_int64(s, 18);
	t->claim_token = sqlite3_column_int64(s, 20);
	t->task_type = col_text(s, 2, &oom);
	t->parameters = col_text(s, 5, &oom);
	t->result_data = col_text(s, 6, &oom);
	t->error_message = col_text(s, 7, &oom);
	t->worker_output = col_text(s, 8, &oom);
	t->claim_owner = col_text(s, 19, &oom);
	return oom || t->task_type == NULL || t->parameters == NULL ? -1 : 0;
}

/* The task in the current row of s (selected with TASK_COLS), or NULL. */
static struct task *
task_from_row(sqlite3_stmt *s)
{
	struct task	*t;
	char		**own[6];
	size_t		 i, j;

	if ((t = malloc(sizeof(*t))) == NULL)
		return NULL;
	if (task_view_from_row(s, t) == -1) {
		free(t);
		return NULL;
	}
	own[0] = &t->task_type;
	own[1] = &t->parameters;
	own[2] = &t->result_data;
	own[3] = &t->error_message;
	own[4] = &t->worker_output;
	own[5] = &t->claim_owner;
	/* Each lent string becomes a copy the task owns. */
	for (i = 0; i < 6; i++)
		if (*own[i] != NULL && (*own[i] = strdup(*own[i])) == NULL) {
			for (j = i + 1; j < 6; j++)
				*own[j] = NULL;		/* still lent */
			task_free(t);
			return NULL;
		}
	return t;
}

/* Steps s once expecting one task row: STORE_NOTFOUND if none. */
static enum store_err
step_task(struct sqlite_store *st, sqlite3_stmt *s, const char *what,
    struct task **out)
{
	int	 rc;

	*out = NULL;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return STORE_NOTFOUND;
	if (rc != SQLITE_ROW)
		return db_err(st, rc, what);
	if ((*out = task_from_row(s)) == NULL)
		return set_err(st, STORE_NOMEM, "%s: %s: out of memory",
		    st->path, what);
	/* Finish the statement so an UPDATE ... RETURNING completes. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		continue;
	if (rc != SQLITE_DONE) {
		task_free(*out);
		*out = NULL;
		return db_err(st, rc, what);
	}
	return STORE_OK;
}

/* ---- open, migrate, close ----------------------------------------------- */

static enum store_err
user_version(struct sqlite_store *st, int *v)
{
	sqlite3_stmt	*s = NULL;
	int		 rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		*v = sqlite3_column_int(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_OK ? STORE_OK : db_err(st, rc, "user_version");
}

/*
 * Brings the schema to STORE_SCHEMA_VERSION, one migration per BEGIN
 * IMMEDIATE transaction; the version is re-read under the lock, so when two
 * processes open a new file at once, the second finds the work done.
 */
static enum store_err
migrate(struct sqlite_store *st, unsigned flags)
{
	enum store_err	 err = STORE_OK;
	char		 sql[64];
	char		*msg = NULL;
	int		 v, rc;

	if ((err = user_version(st, &v)) != STORE_OK)
		return err;
	if (v > STORE_SCHEMA_VERSION)
		return set_err(st, STORE_VERSION, "%s: schema version %d is "
		    "newer than this program's %d: upgrade taskq", st->path,
		    v, STORE_SCHEMA_VERSION);
	if (v < STORE_SCHEMA_VERSION &&
	    (flags & (STORE_OPEN_READONLY | STORE_OPEN_NOMIGRATE)))
		return set_err(st, STORE_VERSION, "%s: schema version %d is "
		    "older than this program's %d and migration is disabled",
		    st->path, v, STORE_SCHEMA_VERSION);
	while (v < STORE_SCHEMA_VERSION) {
		if ((err = exec_id(st, ST_BEGIN_IMMEDIATE, "migrate")) != STORE_OK)
			return err;
		if ((err = user_version(st, &v)) != STORE_OK)
			goto fail;
		if (v >= STORE_SCHEMA_VERSION) {
			err = exec_id(st, ST_COMMIT, "commit");
			break;
		}
		rc = sqlite3_exec(st->db, migrations[v], NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			err = set_err(st, rc == SQLITE_BUSY ? STORE_BUSY :
			    STORE_DB, "%s: migration %d: %s", st->path, v + 1,
			    msg != NULL ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
			err = db_err(st, rc, "user_version");
			goto fail;
		}
		if ((err = exec_id(st, ST_COMMIT, "commit")) != STORE_OK)
			goto fail;
		v++;
	}
	return err;
fail:
	tx_rollback(st);
	return err;
}

/*
 * Puts the file in WAL mode (a persistent property of the file).  SQLite
 * does not call the busy handler for this change and, while several
 * processes open a new file at once, one may also see the rollback journal
 * of another vanish under it (SQLITE_IOERR_DELETE_NOENT): both are
 * transient, so retry them with short sleeps until busy_ms has passed.
 */
static enum store_err
set_wal(struct sqlite_store *st)
{
	sqlite3_stmt	*s = NULL;
	const char	*mode;
	int64_t		 deadline;
	int		 rc, n;

	deadline = mono_us() + (int64_t)st->busy_ms * 1000;
	for (n = 0; ; n++) {
		rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1,
		    &s, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			mode = (const char *)sqlite3_column_text(s, 0);
			if (mode != NULL && (strcmp(mode, "wal") == 0 ||
			    strcmp(mode, "memory") == 0)) {
				sqlite3_finalize(s);
				return STORE_OK;
			}
			sqlite3_finalize(s);
			return set_err(st, STORE_DB, "%s: cannot use WAL mode "
			    "(journal mode stays %s)", st->path,
			    mode != NULL ? mode : "?");
		}
		sqlite3_finalize(s);
		s = NULL;
		if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED &&
		    rc != SQLITE_IOERR_DELETE_NOENT && rc != SQLITE_PROTOCOL) ||
		    mono_us() >= deadline)
			return db_err(st, rc, "journal_mode");
		(void)busy_handler(st, n);
	}
}

static void	sqlite_close(struct store *);

static enum store_err
sqlite_open(const char *path, unsigned flags, int busy_ms, struct store **out,
    char *errbuf, size_t errlen)
{
	struct sqlite_store	*st = NULL;
	enum store_err	 err = STORE_OK;
	char		*msg = NULL;
	int		 rc, oflags;
	static const char pragmas[] =
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA cache_size = -32768;"		/* 32 MiB */
	    "PRAGMA mmap_size = 268435456;"		/* 256 MiB */
	    "PRAGMA temp_store = MEMORY;"
	    "PRAGMA journal_size_limit = 67108864;"	/* WAL kept <= 64 MiB */
	    /*
	     * Checkpoint every 16 MiB instead of 4: a submit batch rewrites
	     * a page of the random-uuid index per task, and a page written
	     * by many commits reaches the database file once per checkpoint
	     * (a fifth fewer bytes written per task than with 4 MiB; 32 MiB
	     * saves little more and makes the commit that checkpoints slow).
	     */
	    "PRAGMA wal_autocheckpoint = 4096;";

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (path == NULL || busy_ms < 0) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "store_open: invalid argument");
		return STORE_INVALID;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = strdup(path)) == NULL) {
		err = STORE_NOMEM;
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	st->base.be = &store_sqlite_backend;
	st->busy_ms = busy_ms;
	st->sync_full = -1;
	sqlite3_randomness(sizeof(st->rng), &st->rng);
	st->rng |= 1;

	oflags = SQLITE_OPEN_NOMUTEX;
	oflags |= (flags & STORE_OPEN_READONLY) ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &st->db, oflags, store_sqlite_vfs);
	if (rc != SQLITE_OK) {
		if (st->db == NULL)
			err = set_err(st, STORE_NOMEM, "%s: out of memory",
			    path);
		else
			err = db_err(st, rc, "open");
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_handler(st->db, busy_handler, st);

	if (!(flags & STORE_OPEN_READONLY)) {
		if ((err = set_wal(st)) != STORE_OK)
			goto out;
	}
	if ((rc = sqlite3_exec(st->db, pragmas, NULL, NULL, &msg)) != SQLITE_OK) {
		err = set_err(st, STORE_DB, "%s: pragmas: %s", path,
		    msg != NULL ? msg : sqlite3_errstr(rc));
		goto out;
	}
	/*
	 * With the whole file mapped, pages are read from the map and the
	 * cache holds only those read from the log and those being written,
	 * a few hundred.  A larger one costs: at the end of every write
	 * transaction SQLite truncates the cache to the database's size, and
	 * pcache1 walked its whole hash table doing it (perf: 10 % of the
	 * submit committer's time with 32 MiB, 1.6 % with 4).
	 */
	if ((flags & STORE_OPEN_MAP_WHOLE) && (rc = sqlite3_exec(st->db,
	    "PRAGMA cache_size = -4096; PRAGMA mmap_size = 2147418112",
	    NULL, NULL, &msg)) != SQLITE_OK) {
		err = set_err(st, STORE_DB, "%s: cache and map size: %s", path,
		    msg != NULL ? msg : sqlite3_errstr(rc));
		goto out;
	}
	if ((err = migrate(st, flags)) != STORE_OK)
		goto out;
	if (!(flags & STORE_OPEN_READONLY)) {
		st->wq = store_sqlite_wqueue_open(path);
		/* Not under a test's VFS, whose writes it counts and cuts. */
		if ((flags & STORE_OPEN_CHECKPOINTER) &&
		    store_sqlite_vfs == NULL && path[0] != ':' &&
		    strncmp(path, "file:", 5) != 0)
			st->ckpt = sqlite_ckpt_attach(path);
	}
	if ((err = user_version(st, &st->version)) != STORE_OK)
		goto out;
	st->base.errmsg[0] = '\0';
	*out = &st->base;
	st = NULL;
out:
	sqlite3_free(msg);
	if (st != NULL) {
		if (errbuf != NULL && errlen > 0 && errbuf[0] == '\0')
			snprintf(errbuf, errlen, "%s", st->base.errmsg[0] != '\0' ?
			    st->base.errmsg : store_strerror(err));
		sqlite_close(&st->base);
	}
	return err;
}

static void
sqlite_close(struct store *base_)
{
	struct sqlite_store	*st = sq(base_);
	size_t	 i;

	if (st == NULL)
		return;
	for (i = 0; i < ST__MAX; i++)
		sqlite3_finalize(st->stmts[i]);
	for (i = 0; i < DYN_CACHE; i++) {
		sqlite3_finalize(st->dyn[i].stmt);
		free(st->dyn[i].sql);
	}
	for (i = 0; i <= INS_ROWS_SHIFT; i++)
		sqlite3_finalize(st->ins_rows[i]);
	wq_leave(st);
	wqueue_close(st->wq);
	sqlite_ckpt_detach(st->ckpt);
	if (st->tok != NULL)
		st->tokapi.xDelete(st->tok);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

/* ---- submit ------------------------------------------------------------- */

static enum store_err
task_new_check(struct sqlite_store *st, const struct task_new *tn)
{
	const char	*bad;
	char		 msg[64];

	if ((bad = store_task_new_check(tn, msg, sizeof(msg))) != NULL)
		return set_err(st, STORE_INVALID, "%s", bad);
	return STORE_OK;
}

/*
 * Inserts one task inside the caller's transaction, or finds the task its
 * idempotency key names.  A failed INSERT leaves nothing behind (statements
 * are atomic, triggers included), so a failure here is the item's alone
 * unless it is a lock or I/O error, which the caller treats as fatal.
 */
static enum store_err
submit_one(struct sqlite_store *st, const struct task_new *tn, int64_t now,
    struct task **out, bool *existed)
{
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 id[TASK_ID_LEN + 1], retry_of[TASK_ID_LEN + 1];
	int		 rc;

	*out = NULL;
	*existed = false;
	if ((err = task_new_check(st, tn)) != STORE_OK)
		return err;
	if (tn->retry_of != NULL && !task_id_normalize(tn->retry_of, retry_of))
		return set_err(st, STORE_INVALID, "retry_of: not a task id");

	if (tn->idempotency_key != NULL) {
		if ((s = stmt_get(st, ST_IDEM_GET, &err)) == NULL)
			return err;
		sqlite3_bind_text(s, 1, tn->idempotency_key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now - IDEMPOTENCY_MS);
		err = step_task(st, s, "idempotency", out);
		stmt_done(s);
		if (err == STORE_OK) {
			*existed = true;
			return STORE_OK;
		}
		if (err != STORE_NOTFOUND)
			return err;
	}

	if ((s = stmt_get(st, ST_TASK_INSERT, &err)) == NULL)
		return err;
	task_id_generate(id);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, tn->task_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, tn->parameters != NULL ? tn->parameters : "{}",
	    -1, SQLITE_STATIC);
	bind_text_or_null(s, 4, tn->retry_of != NULL ? retry_of : NULL);
	sqlite3_bind_int(s, 5, tn->max_attempts);
	sqlite3_bind_int(s, 6, tn->priority);
	sqlite3_bind_int(s, 7, tn->timeout_s);
	sqlite3_bind_int64(s, 8, now);
	sqlite3_bind_int64(s, 9, tn->run_at > 0 ? tn->run_at : now);
	err = step_task(st, s, "insert task", out);
	stmt_done(s);
	if (err == STORE_NOTFOUND)
		err = set_err(st, STORE_DB, "%s: insert returned no row",
		    st->path);
	if (err != STORE_OK)
		return err;

	if (tn->idempotency_key != NULL) {
		if ((s = stmt_get(st, ST_IDEM_PUT, &err)) == NULL)
			goto fail;
		sqlite3_bind_text(s, 1, tn->idempotency_key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (*out)->seq);
		sqlite3_bind_int64(s, 3, now);
		rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			err = db_err(st, rc, "idempotency key");
		stmt_done(s);
		if (err != STORE_OK)
			goto fail;
	}
	return STORE_OK;
fail:
	/* The task row is in the transaction; the caller must roll back. */
	task_free(*out);
	*out = NULL;
	return err == STORE_OK || err == STORE_INVALID ? STORE_DB : err;
}

/*
 * The INSERT of 2^shift new tasks in one statement, prepared once.  Why not
 * one INSERT a task: every statement that writes the FTS index opens a
 * statement savepoint, and FTS5 writes its pending terms out as a new
 * segment at each savepoint, so a batch of n single-row INSERTs wrote n
 * small segments (and merged them); one INSERT of n rows writes one.
 * Measured on a batch of 64: 50-68 us a task one by one, 31 us together.
 */
static sqlite3_stmt *
insert_rows_stmt(struct sqlite_store *st, unsigned shift, enum store_err *err)
{
	struct sbuf	 sb = { 0 };
	size_t		 i, rows = (size_t)1 << shift;
	int		 rc;

	if (st->ins_rows[shift] != NULL)
		return st->ins_rows[shift];
	sb_add(&sb, "INSERT INTO tasks (id, task_type, status, progress, "
	    "parameters, attempt, max_attempts, priority, timeout_s, "
	    "created_at, run_at, updated_at) VALUES ");
	for (i = 0; i < rows; i++)
		sb_add(&sb, i == 0 ? "(?, ?, 'PENDING', 0, ?, 1, ?, ?, ?, ?, ?, ?)" :
		    ", (?, ?, 'PENDING', 0, ?, 1, ?, ?, ?, ?, ?, ?)");
	sb_add(&sb, " RETURNING " TASK_COLS);
	if (sb.oom) {
		*err = set_err(st, STORE_NOMEM, "%s: out of memory", st->path);
		return NULL;
	}
	rc = sqlite3_prepare_v3(st->db, sb.p, -1, SQLITE_PREPARE_PERSISTENT,
	    &st->ins_rows[shift], NULL);
	free(sb.p);
	if (rc != SQLITE_OK) {
		*err = db_err(st, rc, "prepare insert");
		return NULL;
	}
	return st->ins_rows[shift];
}

/*
 * Inserts the 2^shift tasks tns[idx[0..]] in one statement, inside the
 * caller's transaction, and sets their outs[].  A failure inserts none of
 * them (a statement is atomic, triggers included).
 */
static enum store_err
insert_rows(struct sqlite_store *st, unsigned shift, const struct task_new *tns,
    const size_t *idx, int64_t now, struct task **outs)
{
	char		 ids[(size_t)1 << INS_ROWS_SHIFT][TASK_ID_LEN + 1];
	sqlite3_stmt	*s;
	struct task	*t;
	enum store_err	 err = STORE_OK;
	size_t		 i, j, rows = (size_t)1 << shift;
	int		 p = 1, rc;

	if ((s = insert_rows_stmt(st, shift, &err)) == NULL)
		return err;
	for (i = 0; i < rows; i++) {
		const struct task_new	*tn = &tns[idx[i]];

		task_id_generate(ids[i]);
		sqlite3_bind_text(s, p++, ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, p++, tn->task_type, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, p++, tn->parameters != NULL ?
		    tn->parameters : "{}", -1, SQLITE_STATIC);
		sqlite3_bind_int(s, p++, tn->max_attempts);
		sqlite3_bind_int(s, p++, tn->priority);
		sqlite3_bind_int(s, p++, tn->timeout_s);
		sqlite3_bind_int64(s, p++, now);
		sqlite3_bind_int64(s, p++, tn->run_at > 0 ? tn->run_at : now);
		sqlite3_bind_int64(s, p++, now);
	}
	/*
	 * RETURNING's order is not promised: match the rows by id, looking
	 * first where the row was written (where SQLite returns it now).
	 */
	for (j = 0; (rc = sqlite3_step(s)) == SQLITE_ROW; j++) {
		if ((t = task_from_row(s)) == NULL) {
			err = set_err(st, STORE_NOMEM, "%s: out of memory",
			    st->path);
			break;
		}
		if (j < rows && strcmp(ids[j], t->id) == 0)
			i = j;
		else
			for (i = 0; i < rows && strcmp(ids[i], t->id) != 0;
			    i++)
				continue;
		if (i == rows || outs[idx[i]] != NULL) {
			task_free(t);
			err = set_err(st, STORE_DB, "%s: insert returned an "
			    "unknown row", st->path);
			break;
		}
		outs[idx[i]] = t;
	}
	if (err == STORE_OK && rc != SQLITE_DONE)
		err = db_err(st, rc, "insert tasks");
	if (err == STORE_OK && j != rows)
		err = set_err(st, STORE_DB, "%s: insert returned %zu rows of "
		    "%zu", st->path, j, rows);
	stmt_done(s);
	if (err != STORE_OK)
		for (i = 0; i < rows; i++) {
			task_free(outs[idx[i]]);
			outs[idx[i]] = NULL;
		}
	return err;
}

/*
 * One BEGIN IMMEDIATE ... COMMIT (synchronous=FULL) for all n items: the
 * fsync is shared, which is what makes the API's group commit pay.  An
 * invalid item is STORE_INVALID in errs[] alone; a lock, disk or memory
 * failure rolls everything back and is returned (and copied to all errs[]).
 *
 * Plain items (no idempotency key, not a retry) are inserted together, in
 * statements of 64, 32, ... 1 rows (insert_rows); the others one by one
 * after them, as submit_one looks up and records their keys.
 */
static enum store_err
sqlite_task_submit_many(struct store *base_, const struct task_new *tns, size_t n,
    struct task **outs, bool *existed, enum store_err *errs)
{
	struct sqlite_store	*st = sq(base_);
	enum store_err	 err = STORE_OK;
	int64_t		 now;
	size_t		*plain = NULL, np = 0, done, i, k;
	unsigned	 shift;

	for (i = 0; i < n; i++) {
		outs[i] = NULL;
		existed[i] = false;
		errs[i] = STORE_OK;
	}
	if (n == 0)
		return STORE_OK;
	if ((plain = calloc(n, sizeof(*plain))) == NULL) {
		err = set_err(st, STORE_NOMEM, "%s: out of memory", st->path);
		goto fail;
	}
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto fail;
	now = time_now_ms();
	for (i = 0; i < n; i++) {
		if (tns[i].idempotency_key != NULL || tns[i].retry_of != NULL)
			continue;
		if ((errs[i] = task_new_check(st, &tns[i])) == STORE_OK)
			plain[np++] = i;
	}
	for (done = 0; done < np; done += k) {
		for (shift = INS_ROWS_SHIFT; ((size_t)1 << shift) > np - done;
		    shift--)
			continue;
		k = (size_t)1 << shift;
		err = insert_rows(st, shift, tns, plain + done, now, outs);
		if (store_err_is_fatal(err))
			goto fail;
		if (err != STORE_OK)
			/* Not the batch's fault: find the item, one by one. */
			for (i = done; i < done + k; i++) {
				errs[plain[i]] = submit_one(st, &tns[plain[i]],
				    now, &outs[plain[i]], &existed[plain[i]]);
				if (store_err_is_fatal(errs[plain[i]])) {
					err = errs[plain[i]];
					goto fail;
				}
			}
		err = STORE_OK;
	}
	for (i = 0; i < n; i++) {
		if (tns[i].idempotency_key == NULL && tns[i].retry_of == NULL)
			continue;
		errs[i] = submit_one(st, &tns[i], now, &outs[i], &existed[i]);
		if (store_err_is_fatal(errs[i])) {
			err = errs[i];
			goto fail;
		}
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	free(plain);
	return STORE_OK;
fail:
	tx_rollback(st);
	free(plain);
	for (i = 0; i < n; i++) {
		task_free(outs[i]);
		outs[i] = NULL;
		existed[i] = false;
		errs[i] = err;
	}
	return err;
}

/* ---- reads -------------------------------------------------------------- */

/* A malformed id is STORE_INVALID (no such row can exist). */
static enum store_err
sqlite_task_get(struct store *base_, const char *id, struct task **out)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];

	*out = NULL;
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	if ((s = stmt_get(st, ST_TASK_GET, &err)) == NULL)
		return err;
	sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
	err = step_task(st, s, "get task", out);
	stmt_done(s);
	if (err == STORE_NOTFOUND)
		set_err(st, err, "task %s not found", lid);
	return err;
}

/* "?, ?, ?" with n placeholders. */
static void
sb_params(struct sbuf *sb, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		sb_add(sb, i == 0 ? "?" : ", ?");
}

static size_t
popcount(unsigned m)
{
	size_t	 n = 0;

	for (; m != 0; m &= m - 1)
		n++;
	return n;
}

/*
 * The unicode61 tokenizer with the arguments tasks_fts was created with
 * (migration 2), created once per handle, so that user text is split into
 * exactly the tokens the index holds.
 */
static enum store_err
fts_tokenizer(struct sqlite_store *st)
{
	static const char *const args[] = { "remove_diacritics", "2" };
	sqlite3_stmt	*s = NULL;
	fts5_api	*api = NULL;
	void		*ud = NULL;
	int		 rc;

	if (st->tok != NULL)
		return STORE_OK;
	rc = sqlite3_prepare_v2(st->db, "SELECT fts5(?1)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	if (api == NULL || api->iVersion < 2)
		return set_err(st, STORE_DB, "%s: no FTS5 API (%d)", st->path,
		    rc);
	rc = api->xFindTokenizer(api, "unicode61", &ud, &st->tokapi);
	if (rc == SQLITE_OK)
		rc = st->tokapi.xCreate(ud, (const char **)args, 2, &st->tok);
	if (rc != SQLITE_OK) {
		st->tok = NULL;
		return set_err(st, rc == SQLITE_NOMEM ? STORE_NOMEM : STORE_DB,
		    "%s: unicode61 tokenizer: %s", st->path,
		    sqlite3_errstr(rc));
	}
	return STORE_OK;
}

struct fts_tokens {
	struct sbuf	 sb;
	size_t		 n;
};

static int
fts_token(void *arg, int tflags, const char *tok, int ntok, int start,
    int end)
{
	struct fts_tokens	*ft = arg;
	const char		*q;

	if ((tflags & FTS5_TOKEN_COLOCATED) || ntok <= 0)
		return SQLITE_OK;
	sb_add(&ft->sb, ft->n++ ? " AND \"" : "\"");
	/* unicode61 tokens hold no '"'; double any anyway. */
	while ((q = memchr(tok, '"', (size_t)ntok)) != NULL) {
		sb_addn(&ft->sb, tok, (size_t)(q - tok) + 1);
		sb_add(&ft->sb, "\"");
		ntok -= (int)(q - tok) + 1;
		tok = q + 1;
	}
	sb_addn(&ft->sb, tok, (size_t)ntok);
	sb_add(&ft->sb, "\"");
	return ft->sb.oom ? SQLITE_NOMEM : SQLITE_OK;
}

/*
 * Turns user text into a safe FTS5 query: the text is split by the index's
 * own tokenizer and every token becomes a double-quoted phrase, the phrases
 * ANDed.  FTS syntax in q is thereby just punctuation, and a q with no word
 * in it matches nothing (*match NULL) instead of being an error.
 */
static enum store_err
fts_query(struct sqlite_store *st, const char *q, char **match)
{
	struct fts_tokens	 ft;
	enum store_err		 err;
	size_t			 len;
	int			 rc;

	*match = NULL;
	memset(&ft, 0, sizeof(ft));
	if ((err = fts_tokenizer(st)) != STORE_OK)
		return err;
	if ((len = strlen(q)) > INT_MAX)
		return set_err(st, STORE_INVALID, "q: too long");
	rc = st->tokapi.xTokenize(st->tok, &ft, FTS5_TOKENIZE_QUERY, q,
	    (int)len, fts_token);
	if (rc != SQLITE_OK || ft.sb.oom) {
		free(ft.sb.p);
		return set_err(st, rc == SQLITE_NOMEM || ft.sb.oom ?
		    STORE_NOMEM : STORE_DB, "q: tokenizer: %s",
		    sqlite3_errstr(rc));
	}
	if (ft.n == 0) {
		free(ft.sb.p);
		return STORE_OK;
	}
	*match = ft.sb.p;
	return STORE_OK;
}

/* A filter prepared for binding: the statuses and the FTS query. */
struct fshape {
	unsigned	 statuses;	/* mask to filter on; 0: any */
	size_t		 ntypes;
	char		*match;		/* FTS query or NULL */
	bool		 none;		/* matches nothing */
	bool		 by_filter;	/* search: walk the filter's index */
};

/*
 * Resolves a filter against the statuses an operation may touch (allowed):
 * a list allows all, a bulk cancel PENDING|RUNNING.
 */
static enum store_err
fshape_init(struct sqlite_store *st, const struct task_filter *f, unsigned allowed,
    struct fshape *fs)
{
	const unsigned	 all = (1u << TASK_STATUS__MAX) - 1;
	enum store_err	 err;
	size_t		 i;

	memset(fs, 0, sizeof(*fs));
	if (f != NULL && (f->status_mask & ~all) != 0)
		return set_err(st, STORE_INVALID, "status mask 0x%x",
		    f->status_mask);
	if (f != NULL && f->ntypes > 0 && f->types == NULL)
		return set_err(st, STORE_INVALID, "types: NULL");
	if (f != NULL && f->ntypes > FILTER_TYPES_MAX)
		return set_err(st, STORE_INVALID, "more than %d task types",
		    FILTER_TYPES_MAX);
	for (i = 0; f != NULL && i < f->ntypes; i++)
		if (f->types[i] == NULL)
			return set_err(st, STORE_INVALID, "types[%zu]: NULL", i);
	fs->statuses = (f != NULL && f->status_mask != 0) ?
	    f->status_mask & allowed : allowed;
	if (fs->statuses == 0)
		fs->none = true;
	if (fs->statuses == all)
		fs->statuses = 0;
	fs->ntypes = f != NULL ? f->ntypes : 0;
	if (f != NULL && f->q != NULL && f->q[0] != '\0') {
		if ((err = fts_query(st, f->q, &fs->match)) != STORE_OK)
			return err;
		if (fs->match == NULL)
			fs->none = true;
	}
	return STORE_OK;
}

/* Appends the statuses of mask as SQL string literals, comma-separated. */
static void
sb_statuses(struct sbuf *sb, unsigned mask)
{
	size_t	 i;
	bool	 first = true;

	for (i = 0; i < TASK_STATUS__MAX; i++) {
		if (!(mask & (1u << i)))
			continue;
		sb_add(sb, first ? "'" : ", '");
		sb_add(sb, task_status_names[i]);
		sb_add(sb, "'");
		first = false;
	}
}

/*
 * Appends " AND ..." terms for the status and type filter.  When the FTS
 * index drives the query (prefix "t."), the terms get a unary "+" so that
 * the planner does not pick a status/type index instead.
 *
 * Statuses are written as literals (our own fixed names), not bound: the
 * planner compares a bound status with the WHERE of the partial indexes
 * (tasks_claim: status = 'PENDING'), and a statement whose plan depended
 * on a bound value is prepared again each time that value is rebound,
 * which made re-parsing a fifth of every list.  With literals each status
 * set is its own cached statement.
 */
static void
fshape_sql(struct sbuf *sb, const struct fshape *fs, const char *prefix,
    bool noindex)
{
	size_t	 ns = popcount(fs->statuses);

	if (ns == 1) {
		sb_add(sb, noindex ? " AND +" : " AND ");
		sb_add(sb, prefix);
		sb_add(sb, "status = ");
		sb_statuses(sb, fs->statuses);
	} else if (ns > 1) {
		sb_add(sb, noindex ? " AND +" : " AND ");
		sb_add(sb, prefix);
		sb_add(sb, "status IN (");
		sb_statuses(sb, fs->statuses);
		sb_add(sb, ")");
	}
	if (fs->ntypes == 1) {
		sb_add(sb, noindex ? " AND +" : " AND ");
		sb_add(sb, prefix);
		sb_add(sb, "task_type = ?");
	} else if (fs->ntypes > 1) {
		sb_add(sb, noindex ? " AND +" : " AND ");
		sb_add(sb, prefix);
		sb_add(sb, "task_type IN (");
		sb_params(sb, fs->ntypes);
		sb_add(sb, ")");
	}
}

/* Binds what fshape_sql() added, from parameter *idx on. */
static void
fshape_bind(sqlite3_stmt *s, const struct fshape *fs,
    const struct task_filter *f, int *idx)
{
	size_t	 i;

	for (i = 0; i < fs->ntypes; i++)
		sqlite3_bind_text(s, (*idx)++, f->types[i], -1, SQLITE_STATIC);
}

/*
 * The listing query for a filter shape.  Without a search it walks one of
 * the (status, seq), (task_type, seq), (task_type, status, seq) indexes or
 * the primary key backwards from the cursor.  With one, either the FTS index
 * yields matching rowids newest first below the cursor and each is checked
 * against the other filters, or (by_filter) the filter's index is walked
 * and each row is looked up in the FTS index.  Parameters: [match if FTS
 * drives] cursor filters... [match if by_filter] limit.
 */
static void
list_sql(struct sbuf *sb, const struct fshape *fs)
{
	if (fs->match != NULL && fs->by_filter) {
		sb_add(sb, "SELECT " TASK_COLS " FROM tasks WHERE seq < ?");
		fshape_sql(sb, fs, "", false);
		sb_add(sb, " AND EXISTS (SELECT 1 FROM tasks_fts WHERE tasks_fts "
		    "MATCH ? AND tasks_fts.rowid = tasks.seq) "
		    "ORDER BY seq DESC LIMIT ?");
	} else if (fs->match != NULL) {
		sb_add(sb, "SELECT " TASK_COLS_T " FROM tasks_fts CROSS JOIN "
		    "tasks AS t ON t.seq = tasks_fts.rowid WHERE tasks_fts "
		    "MATCH ? AND tasks_fts.rowid < ?");
		fshape_sql(sb, fs, "t.", true);
		sb_add(sb, " ORDER BY tasks_fts.rowid DESC LIMIT ?");
	} else {
		sb_add(sb, "SELECT " TASK_COLS " FROM tasks WHERE seq < ?");
		fshape_sql(sb, fs, "", false);
		sb_add(sb, " ORDER BY seq DESC LIMIT ?");
	}
}

/* See filter_count(); a variable so that the tests can try both plans. */
int64_t store_sqlite_search_by_filter_max = 10000;

/* NULL: SQLite's default VFS; set only by tests (test_durability). */
const char *store_sqlite_vfs;

/*
 * How many tasks the status and type filter admits, exactly, from the
 * counts table: a search combined with a filter this small walks the
 * filter's index instead of the FTS matches, so that a common word with a
 * rare status does not visit every task that has the word.
 */
static enum store_err
filter_count(struct sqlite_store *st, const struct fshape *fs,
    const struct task_filter *f, int64_t *n)
{
	struct fshape	 cf = *fs;
	struct sbuf	 sb = { 0 };
	sqlite3_stmt	*s = NULL;
	enum store_err	 err = STORE_OK;
	int		 idx = 1, rc;

	*n = 0;
	cf.match = NULL;
	sb_add(&sb, "SELECT coalesce(sum(n), 0) FROM counts WHERE 1");
	fshape_sql(&sb, &cf, "", false);
	if (sb.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	if ((s = dyn_get(st, sb.p, &err)) == NULL)
		goto out;
	fshape_bind(s, &cf, f, &idx);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*n = sqlite3_column_int64(s, 0);
	else
		err = db_err(st, rc, "filter count");
out:
	stmt_done(s);
	free(sb.p);
	return err;
}

/* What list_walk does with each row: 0, or -1 when out of memory. */
typedef int	(*list_row_fn)(sqlite3_stmt *, void *);

/*
 * The cursor is the seq of the last task of the previous page; the next
 * page starts strictly below it, so tasks inserted meanwhile (higher seq)
 * never shift a page.  A q without any word matches nothing.  Hands each
 * row of the page to row and sets *next_cursor (0: no more).
 */
static enum store_err
list_walk(struct sqlite_store *st, const struct task_filter *f, int64_t cursor,
    size_t limit, list_row_fn row, void *arg, int64_t *next_cursor)
{
	struct fshape	 fs;
	struct sbuf	 sb = { 0 };
	sqlite3_stmt	*s = NULL;
	enum store_err	 err = STORE_OK;
	int64_t		 nfilter, last = 0;
	size_t		 n = 0;
	int		 idx = 1, rc;

	*next_cursor = 0;
	if (limit < 1 || limit > LIST_MAX)
		return set_err(st, STORE_INVALID, "limit %zu out of 1..%d",
		    limit, LIST_MAX);
	if (cursor < 0)
		return set_err(st, STORE_INVALID, "cursor: negative");
	if ((err = fshape_init(st, f, (1u << TASK_STATUS__MAX) - 1, &fs)) !=
	    STORE_OK)
		goto out;
	if (fs.none)
		goto out;
	if (fs.match != NULL && (fs.statuses != 0 || fs.ntypes != 0)) {
		if ((err = filter_count(st, &fs, f, &nfilter)) != STORE_OK)
			goto out;
		fs.by_filter = nfilter <= store_sqlite_search_by_filter_max;
	}
	list_sql(&sb, &fs);
	if (sb.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	if ((s = dyn_get(st, sb.p, &err)) == NULL)
		goto out;
	if (fs.match != NULL && !fs.by_filter)
		sqlite3_bind_text(s, idx++, fs.match, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, idx++, cursor > 0 ? cursor : INT64_MAX);
	fshape_bind(s, &fs, f, &idx);
	if (fs.match != NULL && fs.by_filter)
		sqlite3_bind_text(s, idx++, fs.match, -1, SQLITE_STATIC);
	/* One row more than asked tells whether there is a next page. */
	sqlite3_bind_int64(s, idx++, (int64_t)limit + 1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == limit) {
			*next_cursor = last;
			break;
		}
		last = sqlite3_column_int64(s, 0);
		if (row(s, arg) == -1) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = db_err(st, rc, "list tasks");
out:
	stmt_done(s);
	free(sb.p);
	free(fs.match);
	return err;
}

static int
list_row_copy(sqlite3_stmt *s, void *arg)
{
	struct task_list	*out = arg;
	struct task		*t;

	if ((t = task_from_row(s)) == NULL)
		return -1;
	out->tasks[out->n++] = t;
	return 0;
}

static enum store_err
sqlite_task_list(struct store *base_, const struct task_filter *f, int64_t cursor,
    size_t limit, struct task_list *out)
{
	struct sqlite_store	*st = sq(base_);
	enum store_err		 err;

	memset(out, 0, sizeof(*out));
	if (limit >= 1 && limit <= LIST_MAX &&
	    (out->tasks = calloc(limit, sizeof(*out->tasks))) == NULL)
		return set_err(st, STORE_NOMEM, "out of memory");
	err = list_walk(st, f, cursor, limit, list_row_copy, out,
	    &out->next_cursor);
	if (err != STORE_OK)
		store_task_list_free(out);
	return err;
}

struct list_each {
	void	 (*fn)(const struct task *, void *);
	void	 *arg;
};

static int
list_row_lend(sqlite3_stmt *s, void *arg)
{
	struct list_each	*le = arg;
	struct task		 t;

	if (task_view_from_row(s, &t) == -1)
		return -1;
	le->fn(&t, le->arg);
	return 0;
}

/* store_task_list() without copying a task: no allocation per row. */
static enum store_err
sqlite_task_list_each(struct store *base_, const struct task_filter *f,
    int64_t cursor, size_t limit, void (*fn)(const struct task *, void *),
    void *arg, int64_t *next_cursor)
{
	struct list_each	 le = { fn, arg };

	return list_walk(sq(base_), f, cursor, limit, list_row_lend, &le,
	    next_cursor);
}

/* ---- cancel and retry --------------------------------------------------- */

/* After a conditional write touched nothing: NOTFOUND or CONFLICT. */
static enum store_err
why_unchanged(struct sqlite_store *st, const char *id, const char *what)
{
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	const char	*status;
	int		 rc;

	if ((s = stmt_get(st, ST_TASK_STATUS, &err)) == NULL)
		return err;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		status = (const char *)sqlite3_column_text(s, 0);
		err = set_err(st, STORE_CONFLICT, "cannot %s task %s: it is %s",
		    what, id, status != NULL ? status : "?");
	} else if (rc == SQLITE_DONE)
		err = set_err(st, STORE_NOTFOUND, "task %s not found", id);
	else
		err = db_err(st, rc, what);
	stmt_done(s);
	return err;
}

static enum store_err
sqlite_task_cancel(struct store *base_, const char *id, struct task **out)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];

	*out = NULL;
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_TASK_CANCEL, &err)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, time_now_ms());
	err = step_task(st, s, "cancel", out);
	stmt_done(s);
	if (err == STORE_NOTFOUND)
		err = why_unchanged(st, lid, "cancel");
	if (err != STORE_OK)
		goto fail;
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	task_free(*out);
	*out = NULL;
	return err;
}

/* Inserts the retry of old inside the caller's transaction. */
static enum store_err
retry_one(struct sqlite_store *st, const struct task *old, int64_t now,
    struct task **out)
{
	struct task_new	 tn;
	bool		 existed;

	store_task_new_retry(old, &tn);
	return submit_one(st, &tn, now, out, &existed);
}

static enum store_err
sqlite_task_retry(struct store *base_, const char *id, struct task **out)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	struct task	*old = NULL;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];

	*out = NULL;
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_TASK_GET, &err)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
	err = step_task(st, s, "retry", &old);
	stmt_done(s);
	if (err == STORE_NOTFOUND)
		set_err(st, err, "task %s not found", lid);
	if (err != STORE_OK)
		goto fail;
	if (old->status != TASK_FAILED && old->status != TASK_CANCELLED) {
		err = set_err(st, STORE_CONFLICT, "cannot retry task %s: it "
		    "is %s", lid, task_status_names[old->status]);
		goto fail;
	}
	if ((err = retry_one(st, old, time_now_ms(), out)) != STORE_OK)
		goto fail;
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	task_free(old);
	return STORE_OK;
fail:
	tx_rollback(st);
	task_free(old);
	task_free(*out);
	*out = NULL;
	return err;
}

static enum store_err
sqlite_task_cancel_matching(struct store *base_, const struct task_filter *f,
    int64_t *count)
{
	struct sqlite_store	*st = sq(base_);
	struct fshape	 fs;
	struct sbuf	 sb = { 0 };
	sqlite3_stmt	*s = NULL;
	enum store_err	 err = STORE_OK;
	int64_t		 now;
	int		 idx = 1, rc;

	*count = 0;
	err = fshape_init(st, f, (1u << TASK_PENDING) | (1u << TASK_RUNNING),
	    &fs);
	if (err != STORE_OK || fs.none)
		goto out;
	sb_add(&sb, "UPDATE tasks SET status = 'CANCELLED', completed_at = ?, "
	    "updated_at = ?, heartbeat = NULL WHERE 1");
	fshape_sql(&sb, &fs, "", false);
	if (fs.match != NULL)
		sb_add(&sb, " AND seq IN (SELECT rowid FROM tasks_fts WHERE "
		    "tasks_fts MATCH ?)");
	if (sb.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto out;
	if ((s = dyn_get(st, sb.p, &err)) == NULL)
		goto out;
	now = time_now_ms();
	sqlite3_bind_int64(s, idx++, now);
	sqlite3_bind_int64(s, idx++, now);
	fshape_bind(s, &fs, f, &idx);
	if (fs.match != NULL)
		sqlite3_bind_text(s, idx++, fs.match, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
		err = db_err(st, rc, "cancel matching");
		goto out;
	}
	*count = sqlite3_changes64(st->db);
	stmt_done(s);
	s = NULL;
	err = tx_commit(st);
out:
	stmt_done(s);
	if (err != STORE_OK) {
		tx_rollback(st);
		*count = 0;
	}
	free(sb.p);
	free(fs.match);
	return err;
}

static enum store_err
sqlite_task_retry_matching(struct store *base_, const struct task_filter *f,
    int64_t *count)
{
	struct sqlite_store	*st = sq(base_);
	struct fshape	 fs;
	struct sbuf	 sb = { 0 };
	sqlite3_stmt	*s = NULL;
	struct task	**olds = NULL, **p, *t, *nt;
	size_t		 nolds = 0, cap = 0, i;
	enum store_err	 err = STORE_OK;
	int64_t		 now;
	int		 idx = 1, rc;

	*count = 0;
	err = fshape_init(st, f, (1u << TASK_FAILED) | (1u << TASK_CANCELLED),
	    &fs);
	if (err != STORE_OK || fs.none)
		goto out;
	/* A task that has a retry already is skipped: no duplicate storms. */
	sb_add(&sb, "SELECT " TASK_COLS " FROM tasks WHERE 1");
	fshape_sql(&sb, &fs, "", false);
	if (fs.match != NULL)
		sb_add(&sb, " AND seq IN (SELECT rowid FROM tasks_fts WHERE "
		    "tasks_fts MATCH ?)");
	sb_add(&sb, " AND NOT EXISTS (SELECT 1 FROM tasks AS r "
	    "WHERE r.retry_of = tasks.id) ORDER BY seq");
	if (sb.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto out;
	if ((s = dyn_get(st, sb.p, &err)) == NULL)
		goto out;
	fshape_bind(s, &fs, f, &idx);
	if (fs.match != NULL)
		sqlite3_bind_text(s, idx++, fs.match, -1, SQLITE_STATIC);
	/* Read all first: inserting while stepping would see the new rows. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nolds == cap) {
			cap = cap ? cap * 2 : 64;
			if ((p = reallocarray(olds, cap, sizeof(*p))) == NULL) {
				err = set_err(st, STORE_NOMEM, "out of memory");
				goto out;
			}
			olds = p;
		}
		if ((t = task_from_row(s)) == NULL) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
		olds[nolds++] = t;
	}
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "retry matching");
		goto out;
	}
	stmt_done(s);
	s = NULL;
	now = time_now_ms();
	for (i = 0; i < nolds; i++) {
		if ((err = retry_one(st, olds[i], now, &nt)) != STORE_OK)
			goto out;
		task_free(nt);
		(*count)++;
	}
	err = tx_commit(st);
out:
	stmt_done(s);
	if (err != STORE_OK) {
		tx_rollback(st);
		*count = 0;
	}
	for (i = 0; i < nolds; i++)
		task_free(olds[i]);
	free(olds);
	free(sb.p);
	free(fs.match);
	return err;
}

/* ---- the runner's side -------------------------------------------------- */

static int
claim_order(const void *a, const void *b)
{
	const struct task *ta = *(const struct task *const *)a;
	const struct task *tb = *(const struct task *const *)b;

	if (ta->priority != tb->priority)
		return ta->priority > tb->priority ? -1 : 1;
	return ta->seq < tb->seq ? -1 : ta->seq > tb->seq;
}

/*
 * One token serves every task of this claim: fencing compares (id, token),
 * and any later claim of a task draws a new one.  max is 1..CLAIM_MAX.
 */
static enum store_err
sqlite_task_claim(struct store *base_, const char *runner_id, size_t max,
    struct task ***out, size_t *n)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s = NULL;
	struct task	**ts = NULL, *t;
	enum store_err	 err = STORE_OK;
	int64_t		 token;
	size_t		 i, nt = 0;
	int		 rc;

	*out = NULL;
	*n = 0;
	if (runner_id == NULL || runner_id[0] == '\0')
		return set_err(st, STORE_INVALID, "runner id: empty");
	if (max < 1 || max > CLAIM_MAX)
		return set_err(st, STORE_INVALID, "claim max %zu out of "
		    "1..%d", max, CLAIM_MAX);
	if ((ts = calloc(max, sizeof(*ts))) == NULL)
		return set_err(st, STORE_NOMEM, "out of memory");
	/* A fresh 63-bit, non-zero fencing token for this claim. */
	do {
		sqlite3_randomness(sizeof(token), &token);
		token &= INT64_MAX;
	} while (token == 0);

	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto out;
	if ((s = stmt_get(st, ST_CLAIM, &err)) == NULL)
		goto out;
	sqlite3_bind_int64(s, 1, time_now_ms());
	sqlite3_bind_text(s, 2, runner_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, token);
	sqlite3_bind_int64(s, 4, (int64_t)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nt == max)
			continue;	/* cannot happen: LIMIT max */
		if ((t = task_from_row(s)) == NULL) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
		ts[nt++] = t;
	}
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "claim");
		goto out;
	}
	stmt_done(s);
	s = NULL;
	if ((err = tx_commit(st)) != STORE_OK)
		goto out;
	qsort(ts, nt, sizeof(*ts), claim_order);
	if (nt == 0) {
		free(ts);
		ts = NULL;
	}
	*out = ts;
	*n = nt;
	return STORE_OK;
out:
	stmt_done(s);
	tx_rollback(st);
	for (i = 0; i < nt; i++)
		task_free(ts[i]);
	free(ts);
	return err;
}

static enum store_err
sqlite_task_progress_many(struct store *base_, const struct task_progress *ps,
    size_t n)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	int64_t		 now;
	size_t		 i;
	int		 rc;

	if (n == 0)
		return STORE_OK;
	if ((err = tx_begin(st, TX_WRITE_LIGHT)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_PROGRESS, &err)) == NULL)
		goto fail;
	now = time_now_ms();
	for (i = 0; i < n; i++) {
		if (ps[i].id == NULL || !task_id_normalize(ps[i].id, lid))
			continue;
		sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, ps[i].claim_token);
		sqlite3_bind_int(s, 3, ps[i].progress < 0 ? 0 :
		    ps[i].progress > 100 ? 100 : ps[i].progress);
		sqlite3_bind_int64(s, 4, now);
		rc = sqlite3_step(s);
		stmt_done(s);
		if (rc != SQLITE_DONE) {
			err = db_err(st, rc, "progress");
			goto fail;
		}
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

/* Records one outcome inside the caller's transaction. */
static enum store_err
finish_one(struct sqlite_store *st, const struct task_finish *fi, int64_t now)
{
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	const char	*msg;
	char		 lid[TASK_ID_LEN + 1];
	int		 rc;

	if (fi->id == NULL || !task_id_normalize(fi->id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	switch (fi->outcome) {
	case OUTCOME_SUCCESS:
		if ((s = stmt_get(st, ST_FINISH_SUCCESS, &err)) == NULL)
			return err;
		sqlite3_bind_text(s, 3, fi->result_data != NULL ?
		    fi->result_data : "{}", -1, SQLITE_STATIC);
		bind_text_or_null(s, 4, fi->worker_output);
		sqlite3_bind_int64(s, 5, now);
		break;
	case OUTCOME_FAILED:
		if ((s = stmt_get(st, ST_FINISH_FAILED, &err)) == NULL)
			return err;
		msg = fi->error_message;
		sqlite3_bind_text(s, 3, msg != NULL && msg[0] != '\0' ? msg :
		    "failed", -1, SQLITE_STATIC);
		bind_text_or_null(s, 4, fi->worker_output);
		sqlite3_bind_int64(s, 5, now);
		break;
	case OUTCOME_RETRY:
	case OUTCOME_LOST:
		if ((s = stmt_get(st, ST_FINISH_RETRY, &err)) == NULL)
			return err;
		msg = fi->outcome == OUTCOME_LOST ? LOST_ERROR :
		    fi->error_message;
		sqlite3_bind_int64(s, 1, now);
		sqlite3_bind_int64(s, 2, fi->retry_at > 0 ? fi->retry_at : now);
		sqlite3_bind_text(s, 3, msg != NULL && msg[0] != '\0' ? msg :
		    "failed", -1, SQLITE_STATIC);
		bind_text_or_null(s, 4, fi->worker_output);
		sqlite3_bind_text(s, 5, lid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, fi->claim_token);
		goto step;
	default:
		return set_err(st, STORE_INVALID, "outcome %d", fi->outcome);
	}
	sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, fi->claim_token);
step:
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE)
		return db_err(st, rc, "finish");
	if (sqlite3_changes(st->db) == 0)
		return set_err(st, STORE_CONFLICT, "task %s is no longer "
		    "running under this claim", lid);
	return STORE_OK;
}

static enum store_err
sqlite_task_finish_many(struct store *base_, const struct task_finish *fs,
    size_t n, enum store_err *errs)
{
	struct sqlite_store	*st = sq(base_);
	enum store_err	 err = STORE_OK;
	int64_t		 now;
	size_t		 i;

	for (i = 0; i < n; i++)
		errs[i] = STORE_OK;
	if (n == 0)
		return STORE_OK;
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto fail;
	now = time_now_ms();
	for (i = 0; i < n; i++) {
		errs[i] = finish_one(st, &fs[i], now);
		if (store_err_is_fatal(errs[i])) {
			err = errs[i];
			goto fail;
		}
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	for (i = 0; i < n; i++)
		errs[i] = err;
	return err;
}

static enum store_err
sqlite_task_check_held(struct store *base_, const char *const *ids,
    const int64_t *tokens, size_t n, bool *gone)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	size_t		 i;
	int		 rc;

	if (n == 0)
		return STORE_OK;
	if ((err = tx_begin(st, TX_READ)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_CHECK_HELD, &err)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (ids[i] == NULL || !task_id_normalize(ids[i], lid)) {
			gone[i] = true;
			continue;
		}
		sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, tokens[i]);
		rc = sqlite3_step(s);
		stmt_done(s);
		if (rc == SQLITE_ROW)
			gone[i] = false;
		else if (rc == SQLITE_DONE)
			gone[i] = true;
		else {
			err = db_err(st, rc, "check held");
			goto out;
		}
	}
	err = tx_commit(st);
out:
	tx_rollback(st);
	return err;
}

/* ---- runners ------------------------------------------------------------ */

/*
 * started_at and last_seen are taken from ri when set (non-zero), else
 * now, so that a runner (or a test) states its own clock.
 */
static enum store_err
sqlite_runner_beat(struct store *base_, const struct runner_info *ri)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	int64_t		 now;
	int		 rc;

	if (ri->id[0] == '\0')
		return set_err(st, STORE_INVALID, "runner id: empty");
	if ((err = tx_begin(st, TX_WRITE_LIGHT)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_RUNNER_BEAT, &err)) == NULL)
		goto fail;
	now = time_now_ms();
	sqlite3_bind_text(s, 1, ri->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ri->host, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, ri->pid);
	sqlite3_bind_text(s, 4, ri->version, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 5, ri->slots);
	sqlite3_bind_int(s, 6, ri->running);
	sqlite3_bind_int64(s, 7, ri->started_at > 0 ? ri->started_at : now);
	sqlite3_bind_int64(s, 8, ri->last_seen > 0 ? ri->last_seen : now);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "runner beat");
		goto fail;
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
sqlite_runner_remove(struct store *base_, const char *runner_id)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	int		 rc;

	if ((err = tx_begin(st, TX_WRITE_LIGHT)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_RUNNER_REMOVE, &err)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, runner_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "runner remove");
		goto fail;
	}
	if (sqlite3_changes(st->db) == 0) {
		err = set_err(st, STORE_NOTFOUND, "runner %s not found",
		    runner_id);
		goto fail;
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
sqlite_runner_list(struct store *base_, struct runner_info **out, size_t *n)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt		*s;
	struct runner_info	*rs = NULL, *p, *r;
	size_t			 nr = 0, cap = 0;
	enum store_err		 err = STORE_OK;
	int			 rc;

	*out = NULL;
	*n = 0;
	if ((s = stmt_get(st, ST_RUNNER_LIST, &err)) == NULL)
		return err;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nr == cap) {
			cap = cap ? cap * 2 : 8;
			if ((p = reallocarray(rs, cap, sizeof(*p))) == NULL) {
				err = set_err(st, STORE_NOMEM, "out of memory");
				goto out;
			}
			rs = p;
		}
		r = &rs[nr++];
		memset(r, 0, sizeof(*r));
		col_copy(s, 0, r->id, sizeof(r->id));
		col_copy(s, 1, r->host, sizeof(r->host));
		r->pid = sqlite3_column_int(s, 2);
		col_copy(s, 3, r->version, sizeof(r->version));
		r->slots = sqlite3_column_int(s, 4);
		r->running = sqlite3_column_int(s, 5);
		r->started_at = sqlite3_column_int64(s, 6);
		r->last_seen = sqlite3_column_int64(s, 7);
	}
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "runner list");
		goto out;
	}
	*out = rs;
	*n = nr;
	rs = NULL;
out:
	stmt_done(s);
	free(rs);
	return err;
}

static enum store_err
sqlite_recover_stale(struct store *base_, int64_t stale_ms, int64_t *requeued,
    int64_t *failed)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s = NULL;
	enum store_err	 err = STORE_OK;
	const char	*status;
	int64_t		 now, nreq = 0, nfail = 0;
	int		 rc;

	if (requeued != NULL)
		*requeued = 0;
	if (failed != NULL)
		*failed = 0;
	if (stale_ms < 0)
		return set_err(st, STORE_INVALID, "stale_ms: negative");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_RECOVER, &err)) == NULL)
		goto fail;
	now = time_now_ms();
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, LOST_ERROR, -1, SQLITE_STATIC);
	sqlite3_bind_null(s, 4);
	sqlite3_bind_int64(s, 5, now - stale_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		status = (const char *)sqlite3_column_text(s, 0);
		if (status != NULL && strcmp(status, "FAILED") == 0)
			nfail++;
		else
			nreq++;
	}
	stmt_done(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "recover");
		goto fail;
	}
	if ((s = stmt_get(st, ST_RUNNER_PRUNE, &err)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, now - stale_ms);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "prune runners");
		goto fail;
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	if (requeued != NULL)
		*requeued = nreq;
	if (failed != NULL)
		*failed = nfail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

/* ---- files -------------------------------------------------------------- */

/* An id already stored is STORE_CONFLICT; created_at 0 means now. */
static enum store_err
sqlite_file_add(struct store *base_, const struct file_info *fi)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 id[TASK_ID_LEN + 1], tid[TASK_ID_LEN + 1];
	int		 rc;

	if (!task_id_normalize(fi->id, id))
		return set_err(st, STORE_INVALID, "file id: not a uuid");
	tid[0] = '\0';
	if (fi->task_id[0] != '\0' && !task_id_normalize(fi->task_id, tid))
		return set_err(st, STORE_INVALID, "file task_id: not a uuid");
	if (fi->size < 0)
		return set_err(st, STORE_INVALID, "file size: negative");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_FILE_ADD, &err)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, fi->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, fi->size);
	sqlite3_bind_text(s, 4, fi->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, fi->content_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, fi->created_at > 0 ? fi->created_at :
	    time_now_ms());
	sqlite3_bind_text(s, 7, tid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	stmt_done(s);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		err = set_err(st, STORE_CONFLICT, "file %s exists", id);
		goto fail;
	}
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "file add");
		goto fail;
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
sqlite_file_get(struct store *base_, const char *id, struct file_info *out)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	int		 rc;

	memset(out, 0, sizeof(*out));
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "file id: not a uuid");
	if ((s = stmt_get(st, ST_FILE_GET, &err)) == NULL)
		return err;
	sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		col_copy(s, 0, out->id, sizeof(out->id));
		col_copy(s, 1, out->name, sizeof(out->name));
		out->size = sqlite3_column_int64(s, 2);
		col_copy(s, 3, out->sha256, sizeof(out->sha256));
		col_copy(s, 4, out->content_type, sizeof(out->content_type));
		out->created_at = sqlite3_column_int64(s, 5);
		col_copy(s, 6, out->task_id, sizeof(out->task_id));
	} else if (rc == SQLITE_DONE)
		err = set_err(st, STORE_NOTFOUND, "file %s not found", lid);
	else
		err = db_err(st, rc, "file get");
	stmt_done(s);
	return err;
}

static enum store_err
sqlite_file_unreferenced(struct store *base_, int64_t before_ms, size_t max,
    char (**out)[TASK_ID_LEN + 1], size_t *n)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	char		(*ids)[TASK_ID_LEN + 1] = NULL;
	enum store_err	 err = STORE_OK;
	size_t		 nids = 0;
	int		 rc;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return STORE_OK;
	if (max > 100000)
		return set_err(st, STORE_INVALID, "max %zu too large", max);
	if ((ids = calloc(max, sizeof(*ids))) == NULL)
		return set_err(st, STORE_NOMEM, "out of memory");
	if ((s = stmt_get(st, ST_FILE_UNREF, &err)) == NULL)
		goto out;
	sqlite3_bind_int64(s, 1, before_ms);
	sqlite3_bind_int64(s, 2, (int64_t)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && nids < max)
		col_copy(s, 0, ids[nids++], sizeof(ids[0]));
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = db_err(st, rc, "unreferenced files");
		goto out;
	}
	if (nids > 0) {
		*out = ids;
		*n = nids;
		ids = NULL;
	}
out:
	stmt_done(s);
	free(ids);
	return err;
}

static enum store_err
sqlite_file_delete(struct store *base_, const char *id)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	int		 rc;

	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "file id: not a uuid");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_FILE_DELETE, &err)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, lid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "file delete");
		goto fail;
	}
	if (sqlite3_changes(st->db) == 0) {
		err = set_err(st, STORE_NOTFOUND, "file %s not found", lid);
		goto fail;
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

/* ---- task types, stats, retention -------------------------------------- */

static enum store_err
sqlite_type_set_paused(struct store *base_, const char *type, bool paused)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	int		 rc;

	if (type == NULL || type[0] == '\0')
		return set_err(st, STORE_INVALID, "task type: empty");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, paused ? ST_PAUSE : ST_RESUME, &err)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, paused ? "pause" : "resume");
		goto fail;
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
sqlite_type_is_paused(struct store *base_, const char *type, bool *paused)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	int		 rc;

	*paused = false;
	if (type == NULL)
		return set_err(st, STORE_INVALID, "task type: NULL");
	if ((s = stmt_get(st, ST_IS_PAUSED, &err)) == NULL)
		return err;
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*paused = true;
	else if (rc != SQLITE_DONE)
		err = db_err(st, rc, "is paused");
	stmt_done(s);
	return err;
}

static enum store_err
sqlite_stats_get(struct store *base_, struct store_stats *out)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt		*s = NULL;
	struct type_stats	*ts;
	enum store_err		 err = STORE_OK;
	const char		*type, *status;
	int64_t			 minute;
	size_t			 cap = 0;
	int			 rc, sv;

	memset(out, 0, sizeof(*out));
	if ((err = tx_begin(st, TX_READ)) != STORE_OK)
		return err;

	if ((s = stmt_get(st, ST_COUNTS, &err)) == NULL)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		type = (const char *)sqlite3_column_text(s, 0);
		status = (const char *)sqlite3_column_text(s, 1);
		if (type == NULL || status == NULL ||
		    (sv = task_status_parse(status)) < 0)
			continue;
		if ((ts = store_stats_type(out, type, &cap)) == NULL)
			goto oom;
		ts->by_status[sv] += sqlite3_column_int64(s, 2);
		out->by_status[sv] += sqlite3_column_int64(s, 2);
	}
	stmt_done(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "counts");
		goto out;
	}

	if ((s = stmt_get(st, ST_ROLLUP, &err)) == NULL)
		goto out;
	minute = time_now_ms() / 60000;
	sqlite3_bind_int64(s, 1, minute - 24 * 60 + 1);
	sqlite3_bind_int64(s, 2, minute - 60 + 1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((type = (const char *)sqlite3_column_text(s, 0)) == NULL)
			continue;
		if ((ts = store_stats_type(out, type, &cap)) == NULL)
			goto oom;
		ts->finished_24h = sqlite3_column_int64(s, 1);
		ts->failed_24h = sqlite3_column_int64(s, 2);
		ts->finished_1h = sqlite3_column_int64(s, 3);
		ts->failed_1h = sqlite3_column_int64(s, 4);
	}
	stmt_done(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "rollup");
		goto out;
	}

	if ((s = stmt_get(st, ST_PAUSED_LIST, &err)) == NULL)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((type = (const char *)sqlite3_column_text(s, 0)) == NULL)
			continue;
		if ((ts = store_stats_type(out, type, &cap)) == NULL)
			goto oom;
		ts->paused = true;
	}
	stmt_done(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "paused types");
		goto out;
	}

	if ((s = stmt_get(st, ST_OLDEST_PENDING, &err)) == NULL)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		out->oldest_pending_ms = sqlite3_column_int64(s, 0);
	stmt_done(s);
	s = NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = db_err(st, rc, "oldest pending");
		goto out;
	}
	if (out->ntypes > 1)
		qsort(out->types, out->ntypes, sizeof(*out->types), store_stats_cmp);
	err = tx_commit(st);
	goto out;
oom:
	err = set_err(st, STORE_NOMEM, "out of memory");
out:
	stmt_done(s);
	tx_rollback(st);
	if (err != STORE_OK)
		store_stats_free(out);
	return err;
}

/*
 * One purge batch in one short transaction: finished tasks (the triggers
 * keep counts and FTS right, idempotency keys go by cascade), then expired
 * idempotency keys and rollup minutes past the 24 h window.
 */
static enum store_err
sqlite_purge(struct store *base_, int64_t before_ms, size_t batch,
    int64_t *deleted)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	int64_t		 now;
	int		 rc;

	*deleted = 0;
	if (batch < 1 || batch > 100000)
		return set_err(st, STORE_INVALID, "batch %zu out of 1..100000",
		    batch);
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((s = stmt_get(st, ST_PURGE, &err)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, before_ms);
	sqlite3_bind_int64(s, 2, (int64_t)batch);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "purge");
		goto fail;
	}
	*deleted = sqlite3_changes64(st->db);

	now = time_now_ms();
	if ((s = stmt_get(st, ST_PURGE_IDEM, &err)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, now - IDEMPOTENCY_MS);
	sqlite3_bind_int64(s, 2, (int64_t)batch);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "purge idempotency keys");
		goto fail;
	}
	if ((s = stmt_get(st, ST_PURGE_ROLLUP, &err)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, now / 60000 - ROLLUP_KEEP_MIN);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		err = db_err(st, rc, "purge rollup");
		goto fail;
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	*deleted = 0;
	return err;
}

static enum store_err
sqlite_ping(struct store *base_)
{
	struct sqlite_store	*st = sq(base_);
	sqlite3_stmt	*s;
	enum store_err	 err = STORE_OK;
	int		 rc;

	if ((s = stmt_get(st, ST_PING, &err)) == NULL)
		return err;
	rc = sqlite3_step(s);
	err = rc == SQLITE_ROW ? STORE_OK : db_err(st, rc, "ping");
	stmt_done(s);
	return err;
}

/* ---- test hooks (store_sqlite_internal.h) -------------------------------- */

const char *const store_sqlite_query_names[] = {
	"get", "list", "list_status", "list_type", "list_type_status",
	"list_statuses", "list_types", "list_q", "list_q_status",
	"list_q_status_small",
	"claim", "oldest_pending", "purge", "recover", "idempotency",
	"retry_candidates", "file_unreferenced", NULL
};

const char *
store_sqlite_migration(int version)
{
	if (version < 1 || (size_t)version > NMIGRATIONS)
		return NULL;
	return migrations[version - 1];
}

/* The SQL text of a named query, or NULL (*sb owns dynamic text). */
static const char *
explain_sql(const char *name, struct sbuf *sb)
{
	struct fshape	 fs;
	static const struct {
		const char	*name;
		enum stmt_id	 id;
	} fixed[] = {
		{ "get", ST_TASK_GET },
		{ "claim", ST_CLAIM },
		{ "oldest_pending", ST_OLDEST_PENDING },
		{ "purge", ST_PURGE },
		{ "recover", ST_RECOVER },
		{ "idempotency", ST_IDEM_GET },
		{ "file_unreferenced", ST_FILE_UNREF },
	};
	size_t		 i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(name, fixed[i].name) == 0)
			return stmt_sql[fixed[i].id];
	memset(&fs, 0, sizeof(fs));
	if (strcmp(name, "list") == 0)
		;
	else if (strcmp(name, "list_status") == 0)
		fs.statuses = 1u << TASK_SUCCESS;
	else if (strcmp(name, "list_type") == 0)
		fs.ntypes = 1;
	else if (strcmp(name, "list_type_status") == 0) {
		fs.statuses = 1u << TASK_SUCCESS;
		fs.ntypes = 1;
	} else if (strcmp(name, "list_statuses") == 0)
		fs.statuses = (1u << TASK_SUCCESS) | (1u << TASK_FAILED);
	else if (strcmp(name, "list_types") == 0)
		fs.ntypes = 2;
	else if (strcmp(name, "list_q") == 0)
		fs.match = (char *)"\"x\"";
	else if (strcmp(name, "list_q_status") == 0) {
		fs.match = (char *)"\"x\"";
		fs.statuses = 1u << TASK_SUCCESS;
	} else if (strcmp(name, "list_q_status_small") == 0) {
		fs.match = (char *)"\"x\"";
		fs.statuses = 1u << TASK_SUCCESS;
		fs.by_filter = true;
	} else if (strcmp(name, "retry_candidates") == 0) {
		fs.statuses = (1u << TASK_FAILED) | (1u << TASK_CANCELLED);
		sb_add(sb, "SELECT " TASK_COLS " FROM tasks WHERE 1");
		fshape_sql(sb, &fs, "", false);
		sb_add(sb, " AND NOT EXISTS (SELECT 1 FROM tasks AS r "
		    "WHERE r.retry_of = tasks.id) ORDER BY seq");
		return sb->oom ? NULL : sb->p;
	} else
		return NULL;
	list_sql(sb, &fs);
	return sb->oom ? NULL : sb->p;
}

char *
store_sqlite_explain(struct store *base_, const char *name)
{
	struct sqlite_store	*st = sq(base_);
	struct sbuf	 sb = { 0 }, plan = { 0 };
	sqlite3_stmt	*s = NULL;
	const char	*sql, *detail;
	char		*q = NULL;
	int		 rc;

	if ((sql = explain_sql(name, &sb)) == NULL) {
		set_err(st, STORE_INVALID, "no query %s", name);
		goto out;
	}
	if ((q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql)) == NULL)
		goto out;
	if ((rc = sqlite3_prepare_v2(st->db, q, -1, &s, NULL)) != SQLITE_OK) {
		db_err(st, rc, "explain");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		detail = (const char *)sqlite3_column_text(s, 3);
		if (plan.len > 0)
			sb_add(&plan, "\n");
		sb_add(&plan, detail != NULL ? detail : "");
	}
	if (rc != SQLITE_DONE) {
		db_err(st, rc, "explain");
		free(plan.p);
		plan.p = NULL;
	}
	if (plan.oom) {
		free(plan.p);
		plan.p = NULL;
	}
out:
	sqlite3_finalize(s);
	sqlite3_free(q);
	free(sb.p);
	return plan.p;
}

/* ---- accessors for store_sqlite_admin.c (store_sqlite_internal.h) ------- */

sqlite3 *
store_sqlite_handle(struct store *base_)
{
	struct sqlite_store	*st = sq(base_);
	return st->db;
}

void
store_sqlite_set_errmsg(struct store *base_, const char *fmt, ...)
{
	struct sqlite_store	*st = sq(base_);
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(st->base.errmsg, sizeof(st->base.errmsg), fmt, ap);
	va_end(ap);
}

/* ---- the backend (store_backend.h) -------------------------------------- */

static int64_t
sqlite_lock_wait_worst(struct store *base_)
{
	return sq(base_)->lock_wait_worst;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.schema_version = sqlite_schema_version,
	.task_submit_many = sqlite_task_submit_many,
	.task_get = sqlite_task_get,
	.task_list = sqlite_task_list,
	.task_list_each = sqlite_task_list_each,
	.lock_wait_worst = sqlite_lock_wait_worst,
	.task_cancel = sqlite_task_cancel,
	.task_retry = sqlite_task_retry,
	.task_cancel_matching = sqlite_task_cancel_matching,
	.task_retry_matching = sqlite_task_retry_matching,
	.task_claim = sqlite_task_claim,
	.task_progress_many = sqlite_task_progress_many,
	.task_finish_many = sqlite_task_finish_many,
	.task_check_held = sqlite_task_check_held,
	.runner_beat = sqlite_runner_beat,
	.runner_remove = sqlite_runner_remove,
	.runner_list = sqlite_runner_list,
	.recover_stale = sqlite_recover_stale,
	.file_add = sqlite_file_add,
	.file_get = sqlite_file_get,
	.file_unreferenced = sqlite_file_unreferenced,
	.file_delete = sqlite_file_delete,
	.type_set_paused = sqlite_type_set_paused,
	.type_is_paused = sqlite_type_is_paused,
	.stats_get = sqlite_stats_get,
	.purge = sqlite_purge,
	.ping = sqlite_ping,
	.backup = store_sqlite_backup,
	.migrate = store_sqlite_migrate,
	.integrity_check = store_sqlite_integrity_check,
	.duration_hist = store_sqlite_duration_hist,
	.wakeup_fd = NULL,		/* the runner watches the file instead */
	.wakeup_drain = NULL,
};
