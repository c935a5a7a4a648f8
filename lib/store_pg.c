/*
 * The task store on PostgreSQL (libpq): the same behaviour as store_sqlite.c
 * for several API and runner hosts sharing one database.
 *
 * One struct store is one connection, used by one thread at a time.  Every
 * state transition is an UPDATE conditional on the expected status (and
 * the claim token for a runner's writes), as on SQLite; claiming locks its
 * candidates with FOR UPDATE SKIP LOCKED inside the claim statement, so that
 * runners on many hosts claim disjoint tasks without waiting on each other.
 *
 * Durability: submits, cancels, retries, claims and finishes commit with
 * synchronous_commit on: a task is acknowledged only after COMMIT returned
 * OK, so it survives a crash of the server.  Progress and heartbeats use
 * synchronous_commit off (the setting is per session and switched only when
 * it changes).  lock_timeout is busy_ms: a lock wait past it is STORE_BUSY.
 *
 * Connection loss (server restart, network): the next call finds the
 * connection bad, and reconnects with a backoff of 0.1 s doubling to 5 s;
 * until it succeeds every call fails fast with STORE_BUSY (the API answers
 * 503 with Retry-After, the runner retries).  A call whose transaction was
 * interrupted before COMMIT returned is STORE_BUSY too and nothing of it
 * was acknowledged.  An idle connection found dead at BEGIN is reconnected
 * and the call goes on.
 *
 * Counts: statement triggers append per (type, status) deltas to
 * count_deltas (and finishes to rollup_deltas and duration_deltas) in the
 * same transaction as each write: appending never waits on another
 * writer, where one counter row per status would serialize every write of
 * every host.  Readers sum the compacted table and the deltas;
 * taskq_compact() folds the deltas in (under an advisory lock, from stats,
 * recovery and purge).
 *
 * Search: the words of parameters, result and error are split in C by the
 * very tokenizer the SQLite backend indexes with (FTS5 unicode61 with
 * diacritics removed, on a private in-memory SQLite handle) and stored as
 * space-separated words; a generated tsvector column ('simple'
 * configuration) with a GIN index holds them.  A query is the AND of its
 * words, split the same way, so both backends find the same tasks.
 *
 * Schema: numbered migrations recorded in taskq_schema, applied at open
 * under pg_advisory_lock, so that hosts starting together migrate once.
 */
#include <config.h>

#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "store_backend.h"
#include "task.h"

#define IDEMPOTENCY_MS	(24 * 60 * 60 * 1000LL)
#define ROLLUP_KEEP_MIN	(25 * 60)
#define CLAIM_MAX	1000
#define LIST_MAX	500
#define FILTER_TYPES_MAX 64
#define LOST_ERROR	"runner lost"
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000
#define MIGRATE_LOCK	"7370002541"	/* pg_advisory_lock key: "taskq" */
#define RETRY_LOCK	"7370002542"	/* serializes bulk retries */
#define WAKEUP_CHANNEL	"taskq_wakeup"

/*
 * The histogram bucket of a duration d in ms, for migration 3: the first
 * bound of store_duration_bounds_ms (store.c) not below d, else INT64_MAX
 * ("+Inf"); the same as the SQLite schema's.  Part of a shipped migration
 * once released: never edit.
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
 * Migration n takes the schema from version n-1 to n; never edit one that
 * has shipped.  The numbers follow the SQLite schema's: 1 the core tables
 * and counts, 2 search and the finish rollup, 3 the duration histogram.
 */
static const char *const migrations[] = {
	/* 1: core tables, indexes and the status counts. */
	"CREATE TABLE tasks (\n"
	"\tseq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"\tid text NOT NULL UNIQUE,\n"
	"\ttask_type text NOT NULL,\n"
	"\tstatus text NOT NULL CHECK (status IN\n"
	"\t    ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED')),\n"
	"\tprogress integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),\n"
	"\tparameters text NOT NULL DEFAULT '{}',\n"
	"\tresult_data text,\n"
	"\terror_message text,\n"
	"\tworker_output text,\n"
	"\tretry_of text,\n"
	"\tattempt integer NOT NULL DEFAULT 1,\n"
	"\tmax_attempts integer NOT NULL DEFAULT 1,\n"
	"\tpriority integer NOT NULL DEFAULT 0,\n"
	"\ttimeout_s integer NOT NULL,\n"
	"\tcreated_at bigint NOT NULL,\n"
	"\trun_at bigint NOT NULL,\n"
	"\tstarted_at bigint,\n"
	"\tcompleted_at bigint,\n"
	"\tupdated_at bigint NOT NULL,\n"
	"\tclaim_owner text,\n"
	"\tclaim_token bigint,\n"
	"\theartbeat bigint\n"
	");\n"
	"CREATE INDEX tasks_status ON tasks (status, seq);\n"
	"CREATE INDEX tasks_type ON tasks (task_type, seq);\n"
	"CREATE INDEX tasks_type_status ON tasks (task_type, status, seq);\n"
	"CREATE INDEX tasks_claim ON tasks (priority DESC, seq)\n"
	"    WHERE status = 'PENDING';\n"
	"CREATE INDEX tasks_running ON tasks (claim_owner)\n"
	"    WHERE status = 'RUNNING';\n"
	"CREATE INDEX tasks_retry_of ON tasks (retry_of)\n"
	"    WHERE retry_of IS NOT NULL;\n"
	"CREATE INDEX tasks_done ON tasks (completed_at)\n"
	"    WHERE status IN ('SUCCESS', 'FAILED', 'CANCELLED');\n"
	"CREATE TABLE runners (\n"
	"\tid text PRIMARY KEY,\n"
	"\thost text NOT NULL,\n"
	"\tpid integer NOT NULL,\n"
	"\tversion text NOT NULL,\n"
	"\tslots integer NOT NULL,\n"
	"\trunning integer NOT NULL,\n"
	"\tstarted_at bigint NOT NULL,\n"
	"\tlast_seen bigint NOT NULL\n"
	");\n"
	"CREATE TABLE paused_types (task_type text PRIMARY KEY);\n"
	"CREATE TABLE idempotency (\n"
	"\tkey text PRIMARY KEY,\n"
	"\ttask_seq bigint NOT NULL REFERENCES tasks (seq) ON DELETE CASCADE,\n"
	"\tcreated_at bigint NOT NULL\n"
	");\n"
	"CREATE INDEX idempotency_task ON idempotency (task_seq);\n"
	"CREATE INDEX idempotency_created ON idempotency (created_at);\n"
	"CREATE TABLE files (\n"
	"\tid text PRIMARY KEY,\n"
	"\tname text NOT NULL,\n"
	"\tsize bigint NOT NULL,\n"
	"\tsha256 text NOT NULL,\n"
	"\tcontent_type text NOT NULL,\n"
	"\tcreated_at bigint NOT NULL,\n"
	"\ttask_id text NOT NULL DEFAULT ''\n"
	");\n"
	"CREATE INDEX files_created ON files (created_at);\n"
	"CREATE TABLE counts (\n"
	"\ttask_type text NOT NULL,\n"
	"\tstatus text NOT NULL,\n"
	"\tn bigint NOT NULL,\n"
	"\tPRIMARY KEY (task_type, status)\n"
	");\n"
	"CREATE TABLE count_deltas (\n"
	"\ttask_type text NOT NULL,\n"
	"\tstatus text NOT NULL,\n"
	"\tn bigint NOT NULL\n"
	");\n"
	"CREATE VIEW counts_now AS SELECT task_type, status, sum(n)::bigint AS n\n"
	"    FROM (SELECT task_type, status, n FROM counts UNION ALL\n"
	"    SELECT task_type, status, n FROM count_deltas) AS c\n"
	"    GROUP BY task_type, status;\n"
	"CREATE FUNCTION taskq_counts_insert() RETURNS trigger\n"
	"    LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tINSERT INTO count_deltas (task_type, status, n)\n"
	"\t    SELECT task_type, status, count(*) FROM new_rows GROUP BY 1, 2;\n"
	"\tRETURN NULL;\n"
	"END $$;\n"
	"CREATE FUNCTION taskq_counts_delete() RETURNS trigger\n"
	"    LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tINSERT INTO count_deltas (task_type, status, n)\n"
	"\t    SELECT task_type, status, -count(*) FROM old_rows GROUP BY 1, 2;\n"
	"\tRETURN NULL;\n"
	"END $$;\n"
	"CREATE FUNCTION taskq_counts_update() RETURNS trigger\n"
	"    LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tINSERT INTO count_deltas (task_type, status, n)\n"
	"\t    SELECT task_type, status, sum(n) FROM (\n"
	"\t    SELECT o.task_type, o.status, -1 AS n FROM old_rows AS o\n"
	"\t    JOIN new_rows AS w USING (seq) WHERE o.status <> w.status\n"
	"\t    UNION ALL\n"
	"\t    SELECT w.task_type, w.status, 1 FROM old_rows AS o\n"
	"\t    JOIN new_rows AS w USING (seq) WHERE o.status <> w.status) AS d\n"
	"\t    GROUP BY 1, 2 HAVING sum(n) <> 0;\n"
	"\tRETURN NULL;\n"
	"END $$;\n"
	"CREATE TRIGGER tasks_counts_insert AFTER INSERT ON tasks\n"
	"    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT\n"
	"    EXECUTE FUNCTION taskq_counts_insert();\n"
	"CREATE TRIGGER tasks_counts_delete AFTER DELETE ON tasks\n"
	"    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT\n"
	"    EXECUTE FUNCTION taskq_counts_delete();\n"
	"CREATE TRIGGER tasks_counts_update AFTER UPDATE ON tasks\n"
	"    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows\n"
	"    FOR EACH STATEMENT EXECUTE FUNCTION taskq_counts_update();\n"
	"CREATE FUNCTION taskq_notify() RETURNS trigger\n"
	"    LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tPERFORM pg_notify('" WAKEUP_CHANNEL "', '');\n"
	"\tRETURN NULL;\n"
	"END $$;\n"
	"CREATE TRIGGER tasks_notify AFTER INSERT ON tasks\n"
	"    FOR EACH STATEMENT EXECUTE FUNCTION taskq_notify();\n",

	/* 2: full-text search and the per-minute finish rollup. */
	"ALTER TABLE tasks ADD COLUMN p_words text;\n"
	"ALTER TABLE tasks ADD COLUMN r_words text;\n"
	"ALTER TABLE tasks ADD COLUMN e_words text;\n"
	"ALTER TABLE tasks ADD COLUMN search tsvector GENERATED ALWAYS AS\n"
	"    (to_tsvector('simple'::regconfig, coalesce(p_words, '') || ' ' ||\n"
	"    coalesce(r_words, '') || ' ' || coalesce(e_words, ''))) STORED;\n"
	"CREATE INDEX tasks_search ON tasks USING gin (search);\n"
	"CREATE INDEX tasks_unsplit ON tasks (seq) WHERE p_words IS NULL;\n"
	"CREATE TABLE finish_rollup (\n"
	"\ttask_type text NOT NULL,\n"
	"\tminute bigint NOT NULL,\n"
	"\tfinished bigint NOT NULL,\n"
	"\tfailed bigint NOT NULL,\n"
	"\tPRIMARY KEY (task_type, minute)\n"
	");\n"
	"CREATE INDEX finish_rollup_minute ON finish_rollup (minute);\n"
	"CREATE TABLE rollup_deltas (\n"
	"\ttask_type text NOT NULL,\n"
	"\tminute bigint NOT NULL,\n"
	"\tfinished bigint NOT NULL,\n"
	"\tfailed bigint NOT NULL\n"
	");\n"
	"CREATE OR REPLACE FUNCTION taskq_counts_update() RETURNS trigger\n"
	"    LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tINSERT INTO count_deltas (task_type, status, n)\n"
	"\t    SELECT task_type, status, sum(n) FROM (\n"
	"\t    SELECT o.task_type, o.status, -1 AS n FROM old_rows AS o\n"
	"\t    JOIN new_rows AS w USING (seq) WHERE o.status <> w.status\n"
	"\t    UNION ALL\n"
	"\t    SELECT w.task_type, w.status, 1 FROM old_rows AS o\n"
	"\t    JOIN new_rows AS w USING (seq) WHERE o.status <> w.status) AS d\n"
	"\t    GROUP BY 1, 2 HAVING sum(n) <> 0;\n"
	"\tINSERT INTO rollup_deltas (task_type, minute, finished, failed)\n"
	"\t    SELECT w.task_type, coalesce(w.completed_at, w.updated_at) / 60000,\n"
	"\t    count(*), count(*) FILTER (WHERE w.status = 'FAILED')\n"
	"\t    FROM old_rows AS o JOIN new_rows AS w USING (seq)\n"
	"\t    WHERE w.status IN ('SUCCESS', 'FAILED') AND o.status <> w.status\n"
	"\t    GROUP BY 1, 2;\n"
	"\tRETURN NULL;\n"
	"END $$;\n"
	"CREATE FUNCTION taskq_compact() RETURNS void LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tIF NOT pg_try_advisory_xact_lock(7370002543) THEN\n"
	"\t\tRETURN;\n"
	"\tEND IF;\n"
	"\tWITH d AS (DELETE FROM count_deltas RETURNING task_type, status, n)\n"
	"\tINSERT INTO counts (task_type, status, n)\n"
	"\t    SELECT task_type, status, sum(n) FROM d GROUP BY 1, 2\n"
	"\t    ON CONFLICT (task_type, status) DO UPDATE\n"
	"\t    SET n = counts.n + excluded.n;\n"
	"\tWITH d AS (DELETE FROM rollup_deltas\n"
	"\t    RETURNING task_type, minute, finished, failed)\n"
	"\tINSERT INTO finish_rollup (task_type, minute, finished, failed)\n"
	"\t    SELECT task_type, minute, sum(finished), sum(failed) FROM d\n"
	"\t    GROUP BY 1, 2 ON CONFLICT (task_type, minute) DO UPDATE\n"
	"\t    SET finished = finish_rollup.finished + excluded.finished,\n"
	"\t    failed = finish_rollup.failed + excluded.failed;\n"
	"END $$;\n"
	/*
	 * Statistics from the start: a table never analyzed is planned as
	 * ten pages of rows whatever it holds, and the claim then sorts
	 * every pending task instead of walking tasks_claim.
	 */
	"ANALYZE tasks;\n"
	"ANALYZE paused_types;\n"
	"ANALYZE runners;\n",

	/*
	 * 3: run times of finished tasks per type and outcome, in the
	 * buckets of store_duration_bounds_ms, counted since creation (GET
	 * /api/metrics), as the SQLite schema's migration 3.  Like the counts,
	 * finishes append delta rows (duration_deltas) that taskq_compact()
	 * folds into duration_hist: an upsert on the one row per (type,
	 * outcome, bucket) would make every finish of a type wait on every
	 * other runner's finishing transaction.  The rows are added to
	 * taskq_counts_update(), as migration 2 did the rollup, so an UPDATE
	 * still fires one trigger.  Replacing that function takes no lock on
	 * tasks, so the LOCK keeps a finish committing during the backfill
	 * from being counted by neither: writers wait for the commit and then
	 * run the new function.  (This step replaced an unreleased
	 * placeholder that only analyzed finish_rollup.)
	 */
	"LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE;\n"
	"CREATE TABLE duration_hist (\n"
	"\ttask_type text NOT NULL,\n"
	"\toutcome text NOT NULL,\n"
	"\tle_ms bigint NOT NULL,\n"
	"\tn bigint NOT NULL,\n"
	"\tsum_ms bigint NOT NULL,\n"
	"\tPRIMARY KEY (task_type, outcome, le_ms)\n"
	");\n"
	"CREATE TABLE duration_deltas (\n"
	"\ttask_type text NOT NULL,\n"
	"\toutcome text NOT NULL,\n"
	"\tle_ms bigint NOT NULL,\n"
	"\tn bigint NOT NULL,\n"
	"\tsum_ms bigint NOT NULL\n"
	");\n"
	"CREATE OR REPLACE FUNCTION taskq_counts_update() RETURNS trigger\n"
	"    LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tINSERT INTO count_deltas (task_type, status, n)\n"
	"\t    SELECT task_type, status, sum(n) FROM (\n"
	"\t    SELECT o.task_type, o.status, -1 AS n FROM old_rows AS o\n"
	"\t    JOIN new_rows AS w USING (seq) WHERE o.status <> w.status\n"
	"\t    UNION ALL\n"
	"\t    SELECT w.task_type, w.status, 1 FROM old_rows AS o\n"
	"\t    JOIN new_rows AS w USING (seq) WHERE o.status <> w.status) AS d\n"
	"\t    GROUP BY 1, 2 HAVING sum(n) <> 0;\n"
	"\tINSERT INTO rollup_deltas (task_type, minute, finished, failed)\n"
	"\t    SELECT w.task_type, coalesce(w.completed_at, w.updated_at) / 60000,\n"
	"\t    count(*), count(*) FILTER (WHERE w.status = 'FAILED')\n"
	"\t    FROM old_rows AS o JOIN new_rows AS w USING (seq)\n"
	"\t    WHERE w.status IN ('SUCCESS', 'FAILED') AND o.status <> w.status\n"
	"\t    GROUP BY 1, 2;\n"
	"\tINSERT INTO duration_deltas (task_type, outcome, le_ms, n, sum_ms)\n"
	"\t    SELECT task_type, status, " DURATION_BUCKET_SQL ",\n"
	"\t    count(*), sum(d) FROM (SELECT w.task_type, w.status,\n"
	"\t    greatest(0, coalesce(w.completed_at, w.updated_at) -\n"
	"\t    coalesce(w.started_at, w.completed_at, w.updated_at)) AS d\n"
	"\t    FROM old_rows AS o JOIN new_rows AS w USING (seq)\n"
	"\t    WHERE w.status IN ('SUCCESS', 'FAILED') AND o.status <> w.status)\n"
	"\t    AS f GROUP BY 1, 2, 3;\n"
	"\tRETURN NULL;\n"
	"END $$;\n"
	"CREATE OR REPLACE FUNCTION taskq_compact() RETURNS void\n"
	"    LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	"\tIF NOT pg_try_advisory_xact_lock(7370002543) THEN\n"
	"\t\tRETURN;\n"
	"\tEND IF;\n"
	"\tWITH d AS (DELETE FROM count_deltas RETURNING task_type, status, n)\n"
	"\tINSERT INTO counts (task_type, status, n)\n"
	"\t    SELECT task_type, status, sum(n) FROM d GROUP BY 1, 2\n"
	"\t    ON CONFLICT (task_type, status) DO UPDATE\n"
	"\t    SET n = counts.n + excluded.n;\n"
	"\tWITH d AS (DELETE FROM rollup_deltas\n"
	"\t    RETURNING task_type, minute, finished, failed)\n"
	"\tINSERT INTO finish_rollup (task_type, minute, finished, failed)\n"
	"\t    SELECT task_type, minute, sum(finished), sum(failed) FROM d\n"
	"\t    GROUP BY 1, 2 ON CONFLICT (task_type, minute) DO UPDATE\n"
	"\t    SET finished = finish_rollup.finished + excluded.finished,\n"
	"\t    failed = finish_rollup.failed + excluded.failed;\n"
	"\tWITH d AS (DELETE FROM duration_deltas\n"
	"\t    RETURNING task_type, outcome, le_ms, n, sum_ms)\n"
	"\tINSERT INTO duration_hist (task_type, outcome, le_ms, n, sum_ms)\n"
	"\t    SELECT task_type, outcome, le_ms, sum(n), sum(sum_ms) FROM d\n"
	"\t    GROUP BY 1, 2, 3 ON CONFLICT (task_type, outcome, le_ms)\n"
	"\t    DO UPDATE SET n = duration_hist.n + excluded.n,\n"
	"\t    sum_ms = duration_hist.sum_ms + excluded.sum_ms;\n"
	"END $$;\n"
	"INSERT INTO duration_hist (task_type, outcome, le_ms, n, sum_ms)\n"
	"    SELECT task_type, status, " DURATION_BUCKET_SQL ", count(*), sum(d)\n"
	"    FROM (SELECT task_type, status, greatest(0, coalesce(completed_at,\n"
	"    updated_at) - coalesce(started_at, completed_at, updated_at)) AS d\n"
	"    FROM tasks WHERE status IN ('SUCCESS', 'FAILED')) AS f\n"
	"    GROUP BY 1, 2, 3;\n"
	"ANALYZE finish_rollup;\n",
};

#define NMIGRATIONS	((int)(sizeof(migrations) / sizeof(migrations[0])))

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
 * Requeue or fail a RUNNING task: $1 now, $2 the next run_at, $3 the error
 * when exhausted, $4 the worker output, $5 the error's words.  PostgreSQL,
 * like SQLite, evaluates every SET expression on the old row.
 */
#define REQUEUE_SET \
	"status = CASE WHEN attempt >= max_attempts THEN 'FAILED' " \
	"    ELSE 'PENDING' END, " \
	"attempt = CASE WHEN attempt >= max_attempts THEN attempt " \
	"    ELSE attempt + 1 END, " \
	"error_message = CASE WHEN attempt >= max_attempts THEN $3::text END, " \
	"e_words = CASE WHEN attempt >= max_attempts THEN $5::text END, " \
	"completed_at = CASE WHEN attempt >= max_attempts THEN $1::bigint END, " \
	"started_at = CASE WHEN attempt >= max_attempts THEN started_at END, " \
	"progress = CASE WHEN attempt >= max_attempts THEN progress ELSE 0 END, " \
	"run_at = CASE WHEN attempt >= max_attempts THEN run_at " \
	"    ELSE $2::bigint END, " \
	"worker_output = coalesce($4::text, worker_output), " \
	"claim_owner = NULL, claim_token = NULL, heartbeat = NULL, " \
	"updated_at = $1::bigint "

/* The statements prepared once per connection (on first use). */
enum stmt_id {
	ST_TASK_INSERT,
	ST_TASK_INSERT_MANY,
	ST_IDEM_LOCK,
	ST_IDEM_GET,
	ST_IDEM_PUT,
	ST_TASK_GET,
	ST_TASK_GET_LOCK,
	ST_TASK_STATUS,
	ST_TASK_CANCEL,
	ST_CLAIM,
	ST_PROGRESS,
	ST_FINISH_SUCCESS,
	ST_FINISH_FAILED,
	ST_FINISH_RETRY,
	ST_FINISH_DONE,
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
	ST_COMPACT,
	ST_DURATION_HIST,
	ST__MAX
};

static const char *const stmt_sql[ST__MAX] = {
	[ST_TASK_INSERT] =
	    "INSERT INTO tasks (id, task_type, status, progress, parameters, "
	    "retry_of, attempt, max_attempts, priority, timeout_s, created_at, "
	    "run_at, updated_at, p_words) VALUES ($1, $2, 'PENDING', 0, $3, $4, "
	    "1, $5, $6, $7, $8, $9, $8, $10) RETURNING " TASK_COLS,
	/*
	 * Submits with the same key wait for each other, as SQLite's single
	 * writer makes them: the second then finds the first's task.
	 */
	/*
	 * The tasks of a group without idempotency keys in one statement, in
	 * the group's order ($1 now, then per task: id, type, parameters,
	 * retry_of, max_attempts, priority, timeout_s, run_at, words).
	 */
	[ST_TASK_INSERT_MANY] =
	    "INSERT INTO tasks (id, task_type, status, progress, parameters, "
	    "retry_of, attempt, max_attempts, priority, timeout_s, created_at, "
	    "run_at, updated_at, p_words) SELECT u.id, u.task_type, 'PENDING', "
	    "0, u.parameters, u.retry_of, 1, u.max_attempts, u.priority, "
	    "u.timeout_s, $1, u.run_at, $1, u.words FROM unnest($2::text[], "
	    "$3::text[], $4::text[], $5::text[], $6::integer[], $7::integer[], "
	    "$8::integer[], $9::bigint[], $10::text[]) WITH ORDINALITY AS u "
	    "(id, task_type, parameters, retry_of, max_attempts, priority, "
	    "timeout_s, run_at, words, i) ORDER BY u.i RETURNING " TASK_COLS,
	[ST_IDEM_LOCK] =
	    "SELECT pg_advisory_xact_lock(hashtextextended($1, 7370002544))",
	[ST_IDEM_GET] =
	    "SELECT " TASK_COLS " FROM tasks WHERE seq = (SELECT task_seq "
	    "FROM idempotency WHERE key = $1 AND created_at >= $2)",
	[ST_IDEM_PUT] =
	    "INSERT INTO idempotency (key, task_seq, created_at) "
	    "VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET "
	    "task_seq = excluded.task_seq, created_at = excluded.created_at",
	[ST_TASK_GET] = "SELECT " TASK_COLS " FROM tasks WHERE id = $1",
	[ST_TASK_GET_LOCK] =
	    "SELECT " TASK_COLS " FROM tasks WHERE id = $1 FOR UPDATE",
	[ST_TASK_STATUS] = "SELECT status FROM tasks WHERE id = $1",
	[ST_TASK_CANCEL] =
	    "UPDATE tasks SET status = 'CANCELLED', completed_at = $2, "
	    "updated_at = $2, heartbeat = NULL WHERE id = $1 "
	    "AND status IN ('PENDING', 'RUNNING') RETURNING " TASK_COLS,
	/*
	 * The candidates are locked inside the claim with SKIP LOCKED: a
	 * row another runner is claiming is passed over instead of waited
	 * for, and a row that changed before we locked it is re-checked.
	 */
	[ST_CLAIM] =
	    "WITH c AS MATERIALIZED (SELECT seq FROM tasks "
	    "WHERE status = 'PENDING' AND run_at <= $1 AND NOT EXISTS "
	    "(SELECT 1 FROM paused_types AS p WHERE p.task_type = "
	    "tasks.task_type) ORDER BY priority DESC, seq LIMIT $4 "
	    "FOR UPDATE SKIP LOCKED) "
	    "UPDATE tasks AS t SET status = 'RUNNING', started_at = $1, "
	    "updated_at = $1, heartbeat = $1, claim_owner = $2, "
	    "claim_token = $3, progress = 0 FROM c WHERE t.seq = c.seq "
	    "RETURNING " TASK_COLS_T,
	[ST_PROGRESS] =
	    "UPDATE tasks AS t SET progress = p.progress, heartbeat = $4, "
	    "updated_at = $4 FROM unnest($1::text[], $2::bigint[], "
	    "$3::integer[]) AS p (id, token, progress) WHERE t.id = p.id "
	    "AND t.status = 'RUNNING' AND t.claim_token = p.token",
	[ST_FINISH_SUCCESS] =
	    "UPDATE tasks SET status = 'SUCCESS', progress = 100, "
	    "result_data = $3, error_message = NULL, r_words = $6, "
	    "e_words = NULL, worker_output = $4, completed_at = $5, "
	    "updated_at = $5, heartbeat = NULL WHERE id = $1 "
	    "AND status = 'RUNNING' AND claim_token = $2",
	[ST_FINISH_FAILED] =
	    "UPDATE tasks SET status = 'FAILED', result_data = NULL, "
	    "r_words = NULL, error_message = $3, e_words = $6, "
	    "worker_output = $4, completed_at = $5, updated_at = $5, "
	    "heartbeat = NULL WHERE id = $1 AND status = 'RUNNING' "
	    "AND claim_token = $2",
	[ST_FINISH_RETRY] =
	    "UPDATE tasks SET " REQUEUE_SET
	    "WHERE id = $6 AND status = 'RUNNING' AND claim_token = $7",
	/*
	 * Every SUCCESS and FAILED of a group in one statement (one round
	 * trip, one run of the count triggers): $1 now, then per task its id,
	 * token, new status, result, error, output and words.  The ids
	 * returned are those still RUNNING under their token.
	 */
	[ST_FINISH_DONE] =
	    "UPDATE tasks AS t SET status = f.status, progress = CASE WHEN "
	    "f.status = 'SUCCESS' THEN 100 ELSE t.progress END, "
	    "result_data = f.result, error_message = f.error, "
	    "r_words = f.r_words, e_words = f.e_words, "
	    "worker_output = f.output, completed_at = $1, updated_at = $1, "
	    "heartbeat = NULL FROM unnest($2::text[], $3::bigint[], "
	    "$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
	    "$9::text[]) AS f (id, token, status, result, error, output, "
	    "r_words, e_words) WHERE t.id = f.id AND t.status = 'RUNNING' "
	    "AND t.claim_token = f.token RETURNING t.id",
	[ST_CHECK_HELD] =
	    "SELECT h.i FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY "
	    "AS h (id, token, i) JOIN tasks AS t ON t.id = h.id "
	    "AND t.claim_token = h.token AND t.status = 'RUNNING'",
	[ST_RUNNER_BEAT] =
	    "INSERT INTO runners (id, host, pid, version, slots, running, "
	    "started_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
	    "ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
	    "pid = excluded.pid, version = excluded.version, "
	    "slots = excluded.slots, running = excluded.running, "
	    "last_seen = excluded.last_seen",
	[ST_RUNNER_REMOVE] = "DELETE FROM runners WHERE id = $1",
	[ST_RUNNER_LIST] =
	    "SELECT id, host, pid, version, slots, running, started_at, "
	    "last_seen FROM runners ORDER BY last_seen DESC",
	[ST_RECOVER] =
	    "UPDATE tasks SET " REQUEUE_SET
	    "WHERE status = 'RUNNING' AND (claim_owner IS NULL OR "
	    "claim_owner NOT IN (SELECT id FROM runners WHERE "
	    "last_seen >= $6)) RETURNING status",
	[ST_RUNNER_PRUNE] = "DELETE FROM runners WHERE last_seen < $1",
	[ST_FILE_ADD] =
	    "INSERT INTO files (id, name, size, sha256, content_type, "
	    "created_at, task_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	[ST_FILE_GET] =
	    "SELECT id, name, size, sha256, content_type, created_at, task_id "
	    "FROM files WHERE id = $1",
	/* Referenced: by its producing task, or by the words of its id in
	 * order in any task's search text (which errs on keeping it). */
	[ST_FILE_UNREF] =
	    "SELECT f.id FROM files AS f WHERE f.created_at < $1 "
	    "AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.id = f.task_id) "
	    "AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.search @@ "
	    "phraseto_tsquery('simple'::regconfig, translate(f.id, '-', ' '))) "
	    "ORDER BY f.created_at LIMIT $2",
	[ST_FILE_DELETE] = "DELETE FROM files WHERE id = $1",
	[ST_PAUSE] =
	    "INSERT INTO paused_types (task_type) VALUES ($1) "
	    "ON CONFLICT DO NOTHING",
	[ST_RESUME] = "DELETE FROM paused_types WHERE task_type = $1",
	[ST_IS_PAUSED] = "SELECT 1 FROM paused_types WHERE task_type = $1",
	[ST_COUNTS] = "SELECT task_type, status, n FROM counts_now",
	[ST_ROLLUP] =
	    "SELECT task_type, sum(finished), sum(failed), "
	    "coalesce(sum(finished) FILTER (WHERE minute >= $2), 0), "
	    "coalesce(sum(failed) FILTER (WHERE minute >= $2), 0) "
	    "FROM (SELECT task_type, minute, finished, failed FROM finish_rollup "
	    "WHERE minute >= $1 UNION ALL SELECT task_type, minute, finished, "
	    "failed FROM rollup_deltas WHERE minute >= $1) AS r "
	    "GROUP BY task_type",
	[ST_OLDEST_PENDING] =
	    "SELECT created_at FROM tasks WHERE status = 'PENDING' "
	    "ORDER BY status, seq LIMIT 1",
	[ST_PAUSED_LIST] = "SELECT task_type FROM paused_types",
	[ST_PURGE] =
	    "DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks "
	    "WHERE status IN ('SUCCESS', 'FAILED', 'CANCELLED') "
	    "AND completed_at < $1 ORDER BY completed_at LIMIT $2)",
	[ST_PURGE_IDEM] =
	    "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency "
	    "WHERE created_at < $1 LIMIT $2)",
	[ST_PURGE_ROLLUP] = "DELETE FROM finish_rollup WHERE minute < $1",
	[ST_COMPACT] = "SELECT taskq_compact()",
	/* Ordered as the SQLite backend's (binary collation). */
	[ST_DURATION_HIST] =
	    "SELECT task_type, outcome, le_ms, sum(n), sum(sum_ms) "
	    "FROM (SELECT task_type, outcome, le_ms, n, sum_ms "
	    "FROM duration_hist UNION ALL SELECT task_type, outcome, le_ms, "
	    "n, sum_ms FROM duration_deltas) AS h "
	    "GROUP BY task_type, outcome, le_ms "
	    "ORDER BY task_type COLLATE \"C\", outcome COLLATE \"C\", le_ms",
};

struct pg_store {
	struct store	 base;		/* first: store.c's view */
	PGconn		*conn;		/* NULL only before the first connect */
	char		*conninfo;
	char		 name[256];	/* for messages: no password */
	int		 busy_ms;
	int		 version;
	unsigned	 flags;
	bool		 prepared[ST__MAX];
	int		 sync_on;	/* -1 unknown, 0 off, 1 on */
	bool		 in_tx;
	bool		 setup_ok;	/* session_setup() done on this connection */
	bool		 listening;	/* LISTEN wanted (store_wakeup_fd) */
	bool		 rewoken;	/* listening again: report one wake-up */
	bool		 retryable;	/* last error: deadlock or serialization */
	int64_t		 next_connect;	/* monotonic ms of the next attempt */
	int		 backoff_ms;
	sqlite3		*tokdb;		/* the word splitter's SQLite handle */
	fts5_tokenizer	 tokapi;
	Fts5Tokenizer	*tok;
};

static struct pg_store *
pq(struct store *base)
{
	return (struct pg_store *)(void *)base;
}

static enum store_err
set_err(struct pg_store *st, enum store_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum store_err
set_err(struct pg_store *st, enum store_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->base.errmsg, sizeof(st->base.errmsg), fmt, ap);
	va_end(ap);
	return e;
}

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq's message without its trailing newline. */
static void
trim_copy(char *buf, size_t sz, const char *msg)
{
	size_t	 n;

	snprintf(buf, sz, "%s", msg != NULL ? msg : "");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

/*
 * Maps a failed result (or, with res NULL, the connection's state) to a
 * store error by SQLSTATE and keeps the server's message.  A lost
 * connection, a lock wait past lock_timeout, a deadlock and a server
 * shutting down are all STORE_BUSY: transient, worth retrying.
 */
static enum store_err
db_err(struct pg_store *st, const PGresult *res, const char *what)
{
	const char	*state = NULL;
	char		 msg[400];
	enum store_err	 e = STORE_DB;

	st->retryable = false;
	if (res != NULL)
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	trim_copy(msg, sizeof(msg), res != NULL ?
	    PQresultErrorMessage(res) : PQerrorMessage(st->conn));
	if (msg[0] == '\0')
		trim_copy(msg, sizeof(msg), PQerrorMessage(st->conn));
	if (PQstatus(st->conn) == CONNECTION_BAD)
		e = STORE_BUSY;
	else if (state == NULL)
		e = STORE_DB;
	else if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0) {
		e = STORE_BUSY;
		st->retryable = true;
	} else if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 ||
	    strcmp(state, "53300") == 0 || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0)
		e = STORE_BUSY;
	else if (strcmp(state, "53100") == 0)
		e = STORE_FULL;
	else if (strcmp(state, "53200") == 0)
		e = STORE_NOMEM;
	else if (strcmp(state, "23505") == 0)
		e = STORE_CONFLICT;
	return set_err(st, e, "%s: %s: %s", st->name, what, msg);
}

/* ---- connection ------------------------------------------------------- */

static void
notice_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Per-session settings, after every (re)connect. */
static enum store_err
session_setup(struct pg_store *st)
{
	PGresult	*r;
	char		 sql[256];
	enum store_err	 err = STORE_OK;

	memset(st->prepared, 0, sizeof(st->prepared));
	st->sync_on = 1;
	st->in_tx = false;
	st->setup_ok = false;
	PQsetNoticeProcessor(st->conn, notice_quiet, NULL);
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d; "
	    "SET synchronous_commit = on; SET client_min_messages = warning;"
	    "%s%s", st->busy_ms > 0 ? st->busy_ms : 1,
	    (st->flags & STORE_OPEN_READONLY) ?
	    " SET default_transaction_read_only = on;" : "",
	    st->listening ? " LISTEN " WAKEUP_CHANNEL ";" : "");
	r = PQexec(st->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		err = db_err(st, r, "session settings");
	else {
		st->setup_ok = true;
		/* Notifications sent while we were away are lost. */
		st->rewoken = st->listening;
	}
	PQclear(r);
	return err;
}

/*
 * Makes sure the connection is up: if it went bad, reconnects (PQreset)
 * unless the backoff says wait, in which case this fails fast.
 */
static enum store_err
conn_ready(struct pg_store *st)
{
	enum store_err	 err;
	int64_t		 now;

	if (PQstatus(st->conn) == CONNECTION_OK) {
		if (st->setup_ok)
			return STORE_OK;
		return session_setup(st);
	}
	now = mono_ms();
	if (now < st->next_connect)
		return set_err(st, STORE_BUSY, "%s: connection lost; "
		    "reconnecting", st->name);
	PQreset(st->conn);
	if (PQstatus(st->conn) == CONNECTION_OK &&
	    (err = session_setup(st)) == STORE_OK) {
		st->backoff_ms = 0;
		st->next_connect = 0;
		return STORE_OK;
	}
	st->backoff_ms = st->backoff_ms == 0 ? BACKOFF_MIN_MS :
	    st->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    st->backoff_ms * 2;
	st->next_connect = mono_ms() + st->backoff_ms;
	return db_err(st, NULL, "reconnect");
}

/* ---- statements and transactions -------------------------------------- */

/*
 * Runs the prepared statement id with n text parameters (NULL for SQL
 * NULL).  Returns the result (caller clears) when its status is want,
 * else NULL with the error in *err.
 */
static PGresult *
run(struct pg_store *st, enum stmt_id id, int n, const char *const *vals,
    ExecStatusType want, const char *what, enum store_err *err)
{
	PGresult	*r;
	char		 name[16];

	assert((unsigned)id < ST__MAX && stmt_sql[id] != NULL);
	snprintf(name, sizeof(name), "q%d", (int)id);
	if (!st->prepared[id]) {
		r = PQprepare(st->conn, name, stmt_sql[id], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			*err = db_err(st, r, what);
			PQclear(r);
			return NULL;
		}
		PQclear(r);
		st->prepared[id] = true;
	}
	r = PQexecPrepared(st->conn, name, n, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != want) {
		*err = db_err(st, r, what);
		PQclear(r);
		return NULL;
	}
	return r;
}

/* Runs dynamic SQL with n text parameters, like run(). */
static PGresult *
run_sql(struct pg_store *st, const char *sql, int n, const char *const *vals,
    ExecStatusType want, const char *what, enum store_err *err)
{
	PGresult	*r;

	r = PQexecParams(st->conn, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != want) {
		*err = db_err(st, r, what);
		PQclear(r);
		return NULL;
	}
	return r;
}

static enum store_err
exec_simple(struct pg_store *st, const char *sql, const char *what)
{
	PGresult	*r;
	enum store_err	 err = STORE_OK;

	r = PQexec(st->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		err = db_err(st, r, what);
	PQclear(r);
	return err;
}

enum tx_kind {
	TX_READ,		/* one snapshot for several reads */
	TX_WRITE,		/* durable: synchronous_commit on */
	TX_WRITE_LIGHT		/* progress and heartbeats: off */
};

/* Sets synchronous_commit for the coming writes (when it changes). */
static enum store_err
sync_mode(struct pg_store *st, bool on)
{
	enum store_err	 err;

	if (st->sync_on == (int)on)
		return STORE_OK;
	err = exec_simple(st, on ? "SET synchronous_commit = on" :
	    "SET synchronous_commit = off", "synchronous_commit");
	if (err == STORE_OK)
		st->sync_on = on;
	return err;
}

/*
 * Begins a transaction.  A connection found dead here (say the server
 * restarted while we were idle) is reconnected once and the BEGIN retried:
 * nothing was sent yet, so nothing can be lost or doubled.
 */
static enum store_err
tx_begin(struct pg_store *st, enum tx_kind kind)
{
	enum store_err	 err;
	const char	*sql;
	int		 attempt;

	sql = kind == TX_READ ? "BEGIN ISOLATION LEVEL REPEATABLE READ" :
	    "BEGIN";
	for (attempt = 0; attempt < 2; attempt++) {
		if ((err = conn_ready(st)) != STORE_OK)
			return err;
		if (kind != TX_READ &&
		    (err = sync_mode(st, kind == TX_WRITE)) != STORE_OK) {
			if (PQstatus(st->conn) == CONNECTION_BAD && attempt == 0)
				continue;
			return err;
		}
		if ((err = exec_simple(st, sql, "begin")) == STORE_OK) {
			st->in_tx = true;
			return STORE_OK;
		}
		if (PQstatus(st->conn) != CONNECTION_BAD)
			return err;
	}
	return err;
}

static enum store_err
tx_commit(struct pg_store *st)
{
	PGresult	*r;
	enum store_err	 err = STORE_OK;

	r = PQexec(st->conn, "COMMIT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		err = db_err(st, r, "commit");
	else if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
		err = set_err(st, STORE_DB, "%s: commit: the transaction "
		    "was rolled back", st->name);
	PQclear(r);
	st->in_tx = false;
	if (err != STORE_OK && PQstatus(st->conn) == CONNECTION_OK &&
	    PQtransactionStatus(st->conn) != PQTRANS_IDLE) {
		r = PQexec(st->conn, "ROLLBACK");
		PQclear(r);
	}
	return err;
}

/* Rolls back if a transaction is open, keeping the first error's message. */
static void
tx_rollback(struct pg_store *st)
{
	PGresult	*r;

	st->in_tx = false;
	if (PQstatus(st->conn) != CONNECTION_OK ||
	    PQtransactionStatus(st->conn) == PQTRANS_IDLE)
		return;
	r = PQexec(st->conn, "ROLLBACK");
	PQclear(r);
}

/* A read outside a transaction: the connection made ready first. */
static PGresult *
run_read(struct pg_store *st, enum stmt_id id, int n, const char *const *vals,
    const char *what, enum store_err *err)
{
	PGresult	*r;
	int		 attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((*err = conn_ready(st)) != STORE_OK)
			return NULL;
		r = run(st, id, n, vals, PGRES_TUPLES_OK, what, err);
		if (r != NULL || PQstatus(st->conn) != CONNECTION_BAD)
			return r;
	}
	return NULL;
}

/* ---- values ----------------------------------------------------------- */

/* Decimal text of v in buf (at least 24 bytes). */
static const char *
i64(char *buf, int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

static int64_t
get_i64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int
get_int(const PGresult *r, int row, int col)
{
	return (int)get_i64(r, row, col);
}

static int
get_strdup(const PGresult *r, int row, int col, char **out)
{
	*out = NULL;
	if (PQgetisnull(r, row, col))
		return 0;
	return (*out = strdup(PQgetvalue(r, row, col))) == NULL ? -1 : 0;
}

static void
get_copy(const PGresult *r, int row, int col, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s", PQgetisnull(r, row, col) ? "" :
	    PQgetvalue(r, row, col));
}

/* The task in row of r (selected with TASK_COLS), or NULL. */
static struct task *
task_from_row(const PGresult *r, int row)
{
	struct task	*t;
	int		 sv;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->seq = get_i64(r, row, 0);
	get_copy(r, row, 1, t->id, sizeof(t->id));
	sv = task_status_parse(PQgetvalue(r, row, 3));
	t->status = sv >= 0 ? (enum task_status)sv : TASK_FAILED;
	t->progress = get_int(r, row, 4);
	get_copy(r, row, 9, t->retry_of, sizeof(t->retry_of));
	t->attempt = get_int(r, row, 10);
	t->max_attempts = get_int(r, row, 11);
	t->priority = get_int(r, row, 12);
	t->timeout_s = get_int(r, row, 13);
	t->created_at = get_i64(r, row, 14);
	t->run_at = get_i64(r, row, 15);
	t->started_at = get_i64(r, row, 16);
	t->completed_at = get_i64(r, row, 17);
	t->updated_at = get_i64(r, row, 18);
	t->claim_token = get_i64(r, row, 20);
	if (get_strdup(r, row, 2, &t->task_type) == -1 ||
	    get_strdup(r, row, 5, &t->parameters) == -1 ||
	    get_strdup(r, row, 6, &t->result_data) == -1 ||
	    get_strdup(r, row, 7, &t->error_message) == -1 ||
	    get_strdup(r, row, 8, &t->worker_output) == -1 ||
	    get_strdup(r, row, 19, &t->claim_owner) == -1 ||
	    t->task_type == NULL || t->parameters == NULL) {
		task_free(t);
		return NULL;
	}
	return t;
}

/* An array literal element, double-quoted and escaped. */
static void
arr_elem(struct sbuf *sb, const char *s, bool first)
{
	sb_add(sb, first ? "{\"" : ",\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			sb_addn(sb, "\\", 1);
		sb_addn(sb, s, 1);
	}
	sb_add(sb, "\"");
}

/* An array element that may be NULL. */
static void
arr_elem_or_null(struct sbuf *sb, const char *s, bool first)
{
	if (s != NULL)
		arr_elem(sb, s, first);
	else
		sb_add(sb, first ? "{NULL" : ",NULL");
}

/* Appends a bigint/int array literal element. */
static void
arr_num(struct sbuf *sb, int64_t v, bool first)
{
	char	 num[32];

	snprintf(num, sizeof(num), "%s%" PRId64, first ? "{" : ",", v);
	sb_add(sb, num);
}

/* ---- words (search) --------------------------------------------------- */

/*
 * The tokenizer of the SQLite backend's index (unicode61, diacritics
 * removed), on a private in-memory SQLite handle created on first use.
 */
static enum store_err
words_init(struct pg_store *st)
{
	static const char *const args[] = { "remove_diacritics", "2" };
	sqlite3_stmt	*s = NULL;
	fts5_api	*api = NULL;
	void		*ud = NULL;
	int		 rc;

	if (st->tok != NULL)
		return STORE_OK;
	if (st->tokdb == NULL &&
	    sqlite3_open_v2(":memory:", &st->tokdb, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return set_err(st, STORE_NOMEM, "word splitter: cannot open "
		    "an in-memory SQLite handle");
	rc = sqlite3_prepare_v2(st->tokdb, "SELECT fts5(?1)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	if (api == NULL || api->iVersion < 2)
		return set_err(st, STORE_DB, "word splitter: no FTS5 API");
	rc = api->xFindTokenizer(api, "unicode61", &ud, &st->tokapi);
	if (rc == SQLITE_OK)
		rc = st->tokapi.xCreate(ud, (const char **)args, 2, &st->tok);
	if (rc != SQLITE_OK) {
		st->tok = NULL;
		return set_err(st, STORE_DB, "word splitter: %s",
		    sqlite3_errstr(rc));
	}
	return STORE_OK;
}

struct words {
	struct sbuf	 sb;
	size_t		 n;
	bool		 query;		/* 'a' & 'b' instead of a b */
};

static int
words_token(void *arg, int tflags, const char *tok, int ntok, int start,
    int end)
{
	struct words	*w = arg;
	int		 i;

	(void)start;
	(void)end;
	if ((tflags & FTS5_TOKEN_COLOCATED) || ntok <= 0)
		return SQLITE_OK;
	if (!w->query) {
		if (w->n++ > 0)
			sb_add(&w->sb, " ");
		sb_addn(&w->sb, tok, (size_t)ntok);
		return w->sb.oom ? SQLITE_NOMEM : SQLITE_OK;
	}
	sb_add(&w->sb, w->n++ > 0 ? " & '" : "'");
	/* unicode61 tokens hold no quote or backslash; escape anyway. */
	for (i = 0; i < ntok; i++) {
		if (tok[i] == '\'' || tok[i] == '\\')
			sb_addn(&w->sb, tok[i] == '\'' ? "'" : "\\", 1);
		sb_addn(&w->sb, &tok[i], 1);
	}
	sb_add(&w->sb, "'");
	return w->sb.oom ? SQLITE_NOMEM : SQLITE_OK;
}

/*
 * The words of text, space-separated (query: a tsquery ANDing them).
 * *out is NULL for a NULL text; for a text without words it is "" (or,
 * for a query, NULL: it matches nothing).
 */
static enum store_err
words(struct pg_store *st, const char *text, bool query, char **out)
{
	struct words	 w;
	enum store_err	 err;
	size_t		 len;
	int		 rc;

	*out = NULL;
	if (text == NULL)
		return STORE_OK;
	if ((err = words_init(st)) != STORE_OK)
		return err;
	if ((len = strlen(text)) > INT_MAX)
		return set_err(st, STORE_INVALID, "text too long");
	memset(&w, 0, sizeof(w));
	w.query = query;
	sb_add(&w.sb, "");
	rc = st->tokapi.xTokenize(st->tok, &w, query ? FTS5_TOKENIZE_QUERY :
	    FTS5_TOKENIZE_DOCUMENT, text, (int)len, words_token);
	if (rc != SQLITE_OK || w.sb.oom) {
		free(w.sb.p);
		return set_err(st, STORE_NOMEM, "word splitter: %s",
		    sqlite3_errstr(rc));
	}
	if (query && w.n == 0) {
		free(w.sb.p);
		return STORE_OK;
	}
	*out = w.sb.p;
	return STORE_OK;
}

/* ---- open, migrate, close --------------------------------------------- */

/* A name for messages: the URI's user, host, port and database only. */
static void
display_name(const char *conninfo, char *buf, size_t sz)
{
	PQconninfoOption	*opts, *o;
	const char		*host = "", *port = "", *db = "", *user = "";

	snprintf(buf, sz, "postgresql database");
	if ((opts = PQconninfoParse(conninfo, NULL)) == NULL)
		return;
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
	}
	snprintf(buf, sz, "postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "",
	    host, *port ? ":" : "", port, db);
	PQconninfoFree(opts);
}

/* The recorded schema version of c (-1: no taskq_schema table yet). */
static PGresult *
version_query(PGconn *c, int *v)
{
	PGresult	*r;

	*v = -1;
	r = PQexec(c, "SELECT to_regclass('taskq_schema') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return r;
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		return r;
	PQclear(r);
	r = PQexec(c, "SELECT coalesce(max(version), 0) FROM taskq_schema");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		*v = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	return r;
}

static enum store_err
read_version(struct pg_store *st, int *v)
{
	PGresult	*r;
	enum store_err	 err = STORE_OK;

	r = version_query(st->conn, v);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		err = db_err(st, r, "schema version");
	PQclear(r);
	return err;
}

static enum store_err	split_missing_words(struct pg_store *);

/*
 * Brings the schema to the newest version under a session advisory lock:
 * a second host starting at the same time waits, then finds it done.
 * Each migration and its version row commit together.
 */
static enum store_err
migrate(struct pg_store *st, unsigned flags)
{
	enum store_err	 err = STORE_OK;
	char		 sql[128];
	PGresult	*r;
	int		 v;

	if ((err = read_version(st, &v)) != STORE_OK)
		return err;
	if (v > NMIGRATIONS)
		return set_err(st, STORE_VERSION, "%s: schema version %d is "
		    "newer than this program's %d: upgrade taskq", st->name,
		    v, NMIGRATIONS);
	if (v == NMIGRATIONS) {
		if (flags & STORE_OPEN_READONLY)
			return STORE_OK;
		return split_missing_words(st);
	}
	if (flags & (STORE_OPEN_READONLY | STORE_OPEN_NOMIGRATE))
		return set_err(st, STORE_VERSION, "%s: schema version %d is "
		    "older than this program's %d and migration is disabled",
		    st->name, v < 0 ? 0 : v, NMIGRATIONS);
	if ((err = exec_simple(st, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")",
	    "migration lock")) != STORE_OK)
		return err;
	if ((err = exec_simple(st, "CREATE TABLE IF NOT EXISTS taskq_schema "
	    "(version integer NOT NULL)", "schema table")) != STORE_OK)
		goto out;
	if ((err = read_version(st, &v)) != STORE_OK)
		goto out;
	if (v < 0)
		v = 0;
	while (v < NMIGRATIONS) {
		if ((err = exec_simple(st, "BEGIN", "migrate")) != STORE_OK)
			goto out;
		r = PQexec(st->conn, migrations[v]);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			err = db_err(st, r, "migration");
			PQclear(r);
			tx_rollback(st);
			goto out;
		}
		PQclear(r);
		snprintf(sql, sizeof(sql), "DELETE FROM taskq_schema; "
		    "INSERT INTO taskq_schema (version) VALUES (%d)", v + 1);
		if ((err = exec_simple(st, sql, "schema version")) != STORE_OK) {
			tx_rollback(st);
			goto out;
		}
		if ((err = tx_commit(st)) != STORE_OK)
			goto out;
		v++;
	}
	err = split_missing_words(st);
out:
	if (PQstatus(st->conn) == CONNECTION_OK)
		PQclear(PQexec(st->conn,
		    "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")"));
	return err;
}

/*
 * Splits the words of tasks stored without them (p_words NULL: rows
 * copied in from another database, see docs/POSTGRESQL.md), in batches,
 * under the migration lock.  Normally the partial index is empty and this
 * is one probe.
 */
static enum store_err
split_missing_words(struct pg_store *st)
{
	PGresult	*r = NULL, *u;
	enum store_err	 err = STORE_OK;
	char		*pw = NULL, *rw = NULL, *ew = NULL;
	const char	*v[4];
	int		 row;

	for (;;) {
		r = PQexec(st->conn, "SELECT seq, parameters, result_data, "
		    "error_message FROM tasks WHERE p_words IS NULL LIMIT 500");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			err = db_err(st, r, "split words");
			goto out;
		}
		if (PQntuples(r) == 0)
			goto out;
		for (row = 0; row < PQntuples(r); row++) {
			if ((err = words(st, PQgetvalue(r, row, 1), false,
			    &pw)) != STORE_OK ||
			    (err = words(st, PQgetisnull(r, row, 2) ? NULL :
			    PQgetvalue(r, row, 2), false, &rw)) != STORE_OK ||
			    (err = words(st, PQgetisnull(r, row, 3) ? NULL :
			    PQgetvalue(r, row, 3), false, &ew)) != STORE_OK)
				goto out;
			v[0] = PQgetvalue(r, row, 0);
			v[1] = pw;
			v[2] = rw;
			v[3] = ew;
			u = PQexecParams(st->conn, "UPDATE tasks SET p_words = $2, "
			    "r_words = $3, e_words = $4 WHERE seq = $1", 4, NULL,
			    v, NULL, NULL, 0);
			if (PQresultStatus(u) != PGRES_COMMAND_OK) {
				err = db_err(st, u, "split words");
				PQclear(u);
				goto out;
			}
			PQclear(u);
			free(pw);
			free(rw);
			free(ew);
			pw = rw = ew = NULL;
		}
		PQclear(r);
		r = NULL;
	}
out:
	PQclear(r);
	free(pw);
	free(rw);
	free(ew);
	return err;
}

static void	pg_close(struct store *);

static enum store_err
pg_open(const char *conninfo, unsigned flags, int busy_ms, struct store **out,
    char *errbuf, size_t errlen)
{
	static const char *const keys[] = {
		"connect_timeout", "fallback_application_name", "dbname", NULL
	};
	const char	*vals[4];
	struct pg_store	*st;
	enum store_err	 err = STORE_OK;
	int		 v;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->conninfo = strdup(conninfo)) == NULL) {
		free(st);
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "out of memory");
		return STORE_NOMEM;
	}
	st->base.be = &store_pg_backend;
	st->busy_ms = busy_ms;
	st->flags = flags;
	st->sync_on = -1;
	display_name(conninfo, st->name, sizeof(st->name));
	vals[0] = "5";
	vals[1] = "taskq";
	vals[2] = conninfo;
	vals[3] = NULL;
	st->conn = PQconnectdbParams(keys, vals, 1);
	if (st->conn == NULL) {
		err = set_err(st, STORE_NOMEM, "%s: out of memory", st->name);
		goto out;
	}
	if (PQstatus(st->conn) != CONNECTION_OK) {
		err = db_err(st, NULL, "connect");
		goto out;
	}
	if ((err = session_setup(st)) != STORE_OK)
		goto out;
	if ((err = migrate(st, flags)) != STORE_OK)
		goto out;
	if ((err = read_version(st, &v)) != STORE_OK)
		goto out;
	st->version = v;
	st->base.errmsg[0] = '\0';
	*out = &st->base;
	st = NULL;
out:
	if (st != NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s", st->base.errmsg[0] != '\0' ?
			    st->base.errmsg : store_strerror(err));
		pg_close(&st->base);
	}
	return err;
}

static void
pg_close(struct store *base)
{
	struct pg_store	*st = pq(base);

	if (st == NULL)
		return;
	if (st->tok != NULL)
		st->tokapi.xDelete(st->tok);
	sqlite3_close(st->tokdb);
	PQfinish(st->conn);
	free(st->conninfo);
	free(st);
}

static int
pg_schema_version(struct store *base)
{
	return pq(base)->version;
}

/* ---- submit ----------------------------------------------------------- */


static enum store_err
task_new_check(struct pg_store *st, const struct task_new *tn)
{
	const char	*bad;
	char		 msg[64];

	if ((bad = store_task_new_check(tn, msg, sizeof(msg))) != NULL)
		return set_err(st, STORE_INVALID, "%s", bad);
	return STORE_OK;
}

/*
 * Inserts one task inside the caller's transaction (under a savepoint, so
 * that an item that fails alone leaves the others intact), or finds the
 * task its idempotency key names.
 */
static enum store_err
submit_one(struct pg_store *st, const struct task_new *tn, int64_t now,
    struct task **out, bool *existed)
{
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	char		 id[TASK_ID_LEN + 1], retry_of[TASK_ID_LEN + 1];
	char		 b[6][24], *pw = NULL;
	const char	*v[10];

	*out = NULL;
	*existed = false;
	if ((err = task_new_check(st, tn)) != STORE_OK)
		return err;
	if (tn->retry_of != NULL && !task_id_normalize(tn->retry_of, retry_of))
		return set_err(st, STORE_INVALID, "retry_of: not a task id");
	if (tn->idempotency_key != NULL) {
		v[0] = tn->idempotency_key;
		if ((r = run(st, ST_IDEM_LOCK, 1, v, PGRES_TUPLES_OK,
		    "idempotency lock", &err)) == NULL)
			return err == STORE_OK || !store_err_is_fatal(err) ?
			    STORE_DB : err;
		PQclear(r);
		v[1] = i64(b[0], now - IDEMPOTENCY_MS);
		if ((r = run(st, ST_IDEM_GET, 2, v, PGRES_TUPLES_OK,
		    "idempotency", &err)) == NULL)
			return err;
		if (PQntuples(r) > 0) {
			*out = task_from_row(r, 0);
			PQclear(r);
			if (*out == NULL)
				return set_err(st, STORE_NOMEM, "out of memory");
			*existed = true;
			return STORE_OK;
		}
		PQclear(r);
	}
	if ((err = words(st, tn->parameters != NULL ? tn->parameters : "{}",
	    false, &pw)) != STORE_OK)
		return err;
	task_id_generate(id);
	v[0] = id;
	v[1] = tn->task_type;
	v[2] = tn->parameters != NULL ? tn->parameters : "{}";
	v[3] = tn->retry_of != NULL ? retry_of : NULL;
	v[4] = i64(b[0], tn->max_attempts);
	v[5] = i64(b[1], tn->priority);
	v[6] = i64(b[2], tn->timeout_s);
	v[7] = i64(b[3], now);
	v[8] = i64(b[4], tn->run_at > 0 ? tn->run_at : now);
	v[9] = pw;
	r = run(st, ST_TASK_INSERT, 10, v, PGRES_TUPLES_OK, "insert task", &err);
	free(pw);
	if (r == NULL)
		return err == STORE_OK ? STORE_DB : err;
	if (PQntuples(r) != 1 || (*out = task_from_row(r, 0)) == NULL) {
		PQclear(r);
		return set_err(st, STORE_NOMEM, "insert task: no row or out "
		    "of memory");
	}
	PQclear(r);
	if (tn->idempotency_key != NULL) {
		v[0] = tn->idempotency_key;
		v[1] = i64(b[0], (*out)->seq);
		v[2] = i64(b[1], now);
		if ((r = run(st, ST_IDEM_PUT, 3, v, PGRES_COMMAND_OK,
		    "idempotency key", &err)) == NULL) {
			task_free(*out);
			*out = NULL;
			return err == STORE_OK || err == STORE_INVALID ||
			    err == STORE_CONFLICT ? STORE_DB : err;
		}
		PQclear(r);
	}
	return STORE_OK;
}

/*
 * Inserts the valid items without an idempotency key (plain[i]) with one
 * statement, inside the caller's transaction.  Any failure is the group's.
 */
static enum store_err
submit_plain(struct pg_store *st, const struct task_new *tns, size_t n,
    const bool *plain, int64_t now, struct task **outs)
{
	struct sbuf	 a[9];
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	const char	*v[10];
	char		(*ids)[TASK_ID_LEN + 1] = NULL, *id;
	char		 retry_of[TASK_ID_LEN + 1], b[24], *w = NULL;
	size_t		 i, j, k = 0;
	int		 row;

	memset(a, 0, sizeof(a));
	if ((ids = calloc(n, sizeof(*ids))) == NULL)
		return set_err(st, STORE_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (!plain[i])
			continue;
		id = ids[i];
		task_id_generate(id);
		if ((err = words(st, tns[i].parameters != NULL ?
		    tns[i].parameters : "{}", false, &w)) != STORE_OK)
			goto out;
		arr_elem(&a[0], id, k == 0);
		arr_elem(&a[1], tns[i].task_type, k == 0);
		arr_elem(&a[2], tns[i].parameters != NULL ? tns[i].parameters :
		    "{}", k == 0);
		arr_elem_or_null(&a[3], tns[i].retry_of != NULL &&
		    task_id_normalize(tns[i].retry_of, retry_of) ? retry_of :
		    NULL, k == 0);
		arr_num(&a[4], tns[i].max_attempts, k == 0);
		arr_num(&a[5], tns[i].priority, k == 0);
		arr_num(&a[6], tns[i].timeout_s, k == 0);
		arr_num(&a[7], tns[i].run_at > 0 ? tns[i].run_at : now, k == 0);
		arr_elem(&a[8], w, k == 0);
		free(w);
		w = NULL;
		k++;
	}
	if (k == 0)
		goto out;
	for (j = 0; j < 9; j++) {
		sb_add(&a[j], "}");
		if (a[j].oom) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
		v[j + 1] = a[j].p;
	}
	v[0] = i64(b, now);
	if ((r = run(st, ST_TASK_INSERT_MANY, 10, v, PGRES_TUPLES_OK,
	    "insert tasks", &err)) == NULL) {
		if (err == STORE_OK || !store_err_is_fatal(err))
			err = STORE_DB;
		goto out;
	}
	if ((size_t)PQntuples(r) != k) {
		err = set_err(st, STORE_DB, "%s: insert returned %d rows for "
		    "%zu tasks", st->name, PQntuples(r), k);
		goto out;
	}
	/* Each row back to its item by the id generated for it. */
	for (row = 0; row < PQntuples(r); row++) {
		for (i = 0; i < n; i++)
			if (plain[i] && outs[i] == NULL &&
			    strcmp(ids[i], PQgetvalue(r, row, 1)) == 0)
				break;
		if (i == n) {
			err = set_err(st, STORE_DB, "%s: insert returned an "
			    "unknown task", st->name);
			goto out;
		}
		if ((outs[i] = task_from_row(r, row)) == NULL) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
	}
out:
	PQclear(r);
	free(ids);
	free(w);
	for (j = 0; j < 9; j++)
		free(a[j].p);
	return err;
}

/*
 * One transaction for all n items, acknowledged only once COMMIT returned
 * OK.  Items are checked before anything is sent, so an invalid item never
 * aborts the transaction; the items without an idempotency key go in one
 * INSERT, those with one each look their key up first.  Any database
 * error fails the whole group.
 */
static enum store_err
pg_task_submit_many(struct store *base, const struct task_new *tns, size_t n,
    struct task **outs, bool *existed, enum store_err *errs)
{
	struct pg_store	*st = pq(base);
	enum store_err	 err = STORE_OK;
	char		 retry_of[TASK_ID_LEN + 1];
	bool		*plain = NULL;
	int64_t		 now;
	size_t		 i;

	for (i = 0; i < n; i++) {
		outs[i] = NULL;
		existed[i] = false;
		errs[i] = STORE_OK;
	}
	if (n == 0)
		return STORE_OK;
	if ((plain = calloc(n, sizeof(*plain))) == NULL) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if ((errs[i] = task_new_check(st, &tns[i])) == STORE_OK &&
		    tns[i].retry_of != NULL &&
		    !task_id_normalize(tns[i].retry_of, retry_of))
			errs[i] = set_err(st, STORE_INVALID, "retry_of: not a "
			    "task id");
		plain[i] = errs[i] == STORE_OK && tns[i].idempotency_key == NULL;
	}
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto fail;
	now = time_now_ms();
	if ((err = submit_plain(st, tns, n, plain, now, outs)) != STORE_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		if (plain[i] || errs[i] != STORE_OK)
			continue;
		errs[i] = submit_one(st, &tns[i], now, &outs[i], &existed[i]);
		if (store_err_is_fatal(errs[i]) || (errs[i] != STORE_OK &&
		    PQtransactionStatus(st->conn) == PQTRANS_INERROR)) {
			err = errs[i] == STORE_OK || !store_err_is_fatal(errs[i]) ?
			    STORE_DB : errs[i];
			goto fail;
		}
	}
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	free(plain);
	return STORE_OK;
fail:
	tx_rollback(st);
	for (i = 0; i < n; i++) {
		task_free(outs[i]);
		outs[i] = NULL;
		existed[i] = false;
		errs[i] = err;
	}
	free(plain);
	return err;
}

/* ---- reads ------------------------------------------------------------ */

static enum store_err
pg_task_get(struct store *base, const char *id, struct task **out)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	const char	*v[1];

	*out = NULL;
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	v[0] = lid;
	if ((r = run_read(st, ST_TASK_GET, 1, v, "get task", &err)) == NULL)
		return err;
	if (PQntuples(r) == 0)
		err = set_err(st, STORE_NOTFOUND, "task %s not found", lid);
	else if ((*out = task_from_row(r, 0)) == NULL)
		err = set_err(st, STORE_NOMEM, "out of memory");
	PQclear(r);
	return err;
}

/* A filter resolved for SQL: statuses, types as array literals, query. */
struct fshape {
	unsigned	 statuses;	/* 0: any */
	size_t		 ntypes;
	char		*match;		/* tsquery text or NULL */
	bool		 none;		/* matches nothing */
	struct sbuf	 status_arr;	/* {A,B} */
	struct sbuf	 type_arr;	/* {"x","y"} */
};

static size_t
popcount(unsigned m)
{
	size_t	 n = 0;

	for (; m != 0; m &= m - 1)
		n++;
	return n;
}

static void
fshape_free(struct fshape *fs)
{
	free(fs->match);
	free(fs->status_arr.p);
	free(fs->type_arr.p);
}

static enum store_err
fshape_init(struct pg_store *st, const struct task_filter *f, unsigned allowed,
    struct fshape *fs)
{
	const unsigned	 all = (1u << TASK_STATUS__MAX) - 1;
	enum store_err	 err;
	size_t		 i, k;

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
	for (i = 0, k = 0; i < TASK_STATUS__MAX; i++)
		if (fs->statuses & (1u << i))
			arr_elem(&fs->status_arr, task_status_names[i], k++ == 0);
	if (k > 0)
		sb_add(&fs->status_arr, "}");
	fs->ntypes = f != NULL ? f->ntypes : 0;
	for (i = 0; i < fs->ntypes; i++)
		arr_elem(&fs->type_arr, f->types[i], i == 0);
	if (fs->ntypes > 0)
		sb_add(&fs->type_arr, "}");
	if (fs->status_arr.oom || fs->type_arr.oom) {
		fshape_free(fs);
		return set_err(st, STORE_NOMEM, "out of memory");
	}
	if (f != NULL && f->q != NULL && f->q[0] != '\0') {
		if ((err = words(st, f->q, true, &fs->match)) != STORE_OK) {
			fshape_free(fs);
			return err;
		}
		if (fs->match == NULL)
			fs->none = true;
	}
	return STORE_OK;
}

/*
 * Appends the filter's terms with parameters from *idx on, and their
 * values to v: one status or type is an equality (an index range newest
 * first), several an ANY of an array.
 */
static void
fshape_sql(struct sbuf *sb, const struct fshape *fs, const char **v, int *idx)
{
	char	 num[32];

	if (fs->statuses != 0) {
		snprintf(num, sizeof(num), "%d", *idx + 1);
		if (popcount(fs->statuses) == 1) {
			sb_add(sb, " AND status = ($");
			sb_add(sb, num);
			sb_add(sb, "::text[])[1]");
		} else {
			sb_add(sb, " AND status = ANY ($");
			sb_add(sb, num);
			sb_add(sb, "::text[])");
		}
		v[(*idx)++] = fs->status_arr.p;
	}
	if (fs->ntypes > 0) {
		snprintf(num, sizeof(num), "%d", *idx + 1);
		if (fs->ntypes == 1) {
			sb_add(sb, " AND task_type = ($");
			sb_add(sb, num);
			sb_add(sb, "::text[])[1]");
		} else {
			sb_add(sb, " AND task_type = ANY ($");
			sb_add(sb, num);
			sb_add(sb, "::text[])");
		}
		v[(*idx)++] = fs->type_arr.p;
	}
	if (fs->match != NULL) {
		snprintf(num, sizeof(num), "%d", *idx + 1);
		sb_add(sb, " AND search @@ to_tsquery('simple'::regconfig, $");
		sb_add(sb, num);
		sb_add(sb, ")");
		v[(*idx)++] = fs->match;
	}
}

static enum store_err
pg_task_list(struct store *base, const struct task_filter *f, int64_t cursor,
    size_t limit, struct task_list *out)
{
	struct pg_store	*st = pq(base);
	struct fshape	 fs;
	struct sbuf	 sb = { 0 };
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	const char	*v[6];
	char		 b[2][24], num[16];
	int		 idx = 1, i, nrows, attempt;

	memset(out, 0, sizeof(*out));
	if (limit < 1 || limit > LIST_MAX)
		return set_err(st, STORE_INVALID, "limit %zu out of 1..%d",
		    limit, LIST_MAX);
	if (cursor < 0)
		return set_err(st, STORE_INVALID, "cursor: negative");
	if ((err = fshape_init(st, f, (1u << TASK_STATUS__MAX) - 1, &fs)) !=
	    STORE_OK)
		return err;
	if (fs.none)
		goto out;
	v[0] = i64(b[0], cursor > 0 ? cursor : INT64_MAX);
	sb_add(&sb, "SELECT " TASK_COLS " FROM tasks WHERE seq < $1");
	fshape_sql(&sb, &fs, v, &idx);
	snprintf(num, sizeof(num), "%d", idx + 1);
	sb_add(&sb, " ORDER BY seq DESC LIMIT $");
	sb_add(&sb, num);
	/* One row more than asked tells whether there is a next page. */
	v[idx++] = i64(b[1], (int64_t)limit + 1);
	if (sb.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	for (attempt = 0; attempt < 2 && r == NULL; attempt++) {
		if ((err = conn_ready(st)) != STORE_OK)
			goto out;
		r = run_sql(st, sb.p, idx, v, PGRES_TUPLES_OK, "list tasks",
		    &err);
		if (r == NULL && PQstatus(st->conn) != CONNECTION_BAD)
			goto out;
	}
	if (r == NULL)
		goto out;
	if ((out->tasks = calloc(limit, sizeof(*out->tasks))) == NULL) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	nrows = PQntuples(r);
	for (i = 0; i < nrows; i++) {
		if (out->n == limit) {
			out->next_cursor = out->tasks[out->n - 1]->seq;
			break;
		}
		if ((out->tasks[out->n] = task_from_row(r, i)) == NULL) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
		out->n++;
	}
out:
	PQclear(r);
	free(sb.p);
	fshape_free(&fs);
	if (err != STORE_OK)
		store_task_list_free(out);
	return err;
}

/* ---- cancel and retry ------------------------------------------------- */

static enum store_err
why_unchanged(struct pg_store *st, const char *id, const char *what)
{
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	const char	*v[1] = { id };

	if ((r = run(st, ST_TASK_STATUS, 1, v, PGRES_TUPLES_OK, what,
	    &err)) == NULL)
		return err;
	if (PQntuples(r) > 0)
		err = set_err(st, STORE_CONFLICT, "cannot %s task %s: it is %s",
		    what, id, PQgetvalue(r, 0, 0));
	else
		err = set_err(st, STORE_NOTFOUND, "task %s not found", id);
	PQclear(r);
	return err;
}

static enum store_err
pg_task_cancel(struct store *base, const char *id, struct task **out)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1], b[24];
	const char	*v[2];

	*out = NULL;
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	v[0] = lid;
	v[1] = i64(b, time_now_ms());
	if ((r = run(st, ST_TASK_CANCEL, 2, v, PGRES_TUPLES_OK, "cancel",
	    &err)) == NULL)
		goto fail;
	if (PQntuples(r) == 0)
		err = why_unchanged(st, lid, "cancel");
	else if ((*out = task_from_row(r, 0)) == NULL)
		err = set_err(st, STORE_NOMEM, "out of memory");
	PQclear(r);
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

static enum store_err
retry_one(struct pg_store *st, const struct task *old, int64_t now,
    struct task **out)
{
	struct task_new	 tn;
	bool		 existed;

	store_task_new_retry(old, &tn);
	return submit_one(st, &tn, now, out, &existed);
}

static enum store_err
pg_task_retry(struct store *base, const char *id, struct task **out)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	struct task	*old = NULL;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	const char	*v[1];

	*out = NULL;
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	v[0] = lid;
	if ((r = run(st, ST_TASK_GET_LOCK, 1, v, PGRES_TUPLES_OK, "retry",
	    &err)) == NULL)
		goto fail;
	if (PQntuples(r) == 0)
		err = set_err(st, STORE_NOTFOUND, "task %s not found", lid);
	else if ((old = task_from_row(r, 0)) == NULL)
		err = set_err(st, STORE_NOMEM, "out of memory");
	PQclear(r);
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
pg_task_cancel_matching(struct store *base, const struct task_filter *f,
    int64_t *count)
{
	struct pg_store	*st = pq(base);
	struct fshape	 fs;
	struct sbuf	 sb = { 0 };
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	const char	*v[5];
	char		 b[24];
	int		 idx = 1;

	*count = 0;
	err = fshape_init(st, f, (1u << TASK_PENDING) | (1u << TASK_RUNNING),
	    &fs);
	if (err != STORE_OK)
		return err;
	if (fs.none)
		goto out;
	v[0] = i64(b, time_now_ms());
	sb_add(&sb, "UPDATE tasks SET status = 'CANCELLED', completed_at = $1, "
	    "updated_at = $1, heartbeat = NULL WHERE true");
	fshape_sql(&sb, &fs, v, &idx);
	if (sb.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto out;
	if ((r = run_sql(st, sb.p, idx, v, PGRES_COMMAND_OK,
	    "cancel matching", &err)) == NULL)
		goto out;
	*count = strtoll(PQcmdTuples(r), NULL, 10);
	err = tx_commit(st);
out:
	PQclear(r);
	if (err != STORE_OK) {
		tx_rollback(st);
		*count = 0;
	}
	free(sb.p);
	fshape_free(&fs);
	return err;
}

/*
 * Bulk retries take an advisory lock for their transaction, so that two
 * hosts retrying the same failures at once do not both insert retries.
 */
static enum store_err
pg_task_retry_matching(struct store *base, const struct task_filter *f,
    int64_t *count)
{
	struct pg_store	*st = pq(base);
	struct fshape	 fs;
	struct sbuf	 sb = { 0 };
	PGresult	*r = NULL;
	struct task	**olds = NULL, *nt;
	size_t		 nolds = 0, i;
	enum store_err	 err = STORE_OK;
	const char	*v[5];
	int64_t		 now;
	int		 idx = 0, row;

	*count = 0;
	err = fshape_init(st, f, (1u << TASK_FAILED) | (1u << TASK_CANCELLED),
	    &fs);
	if (err != STORE_OK)
		return err;
	if (fs.none)
		goto out;
	sb_add(&sb, "SELECT " TASK_COLS " FROM tasks WHERE true");
	fshape_sql(&sb, &fs, v, &idx);
	sb_add(&sb, " AND NOT EXISTS (SELECT 1 FROM tasks AS r "
	    "WHERE r.retry_of = tasks.id) ORDER BY seq");
	if (sb.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto out;
	if ((err = exec_simple(st, "SELECT pg_advisory_xact_lock(" RETRY_LOCK
	    ")", "retry lock")) != STORE_OK)
		goto out;
	if ((r = run_sql(st, sb.p, idx, v, PGRES_TUPLES_OK, "retry matching",
	    &err)) == NULL)
		goto out;
	if (PQntuples(r) > 0 &&
	    (olds = calloc((size_t)PQntuples(r), sizeof(*olds))) == NULL) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	for (row = 0; row < PQntuples(r); row++) {
		if ((olds[nolds] = task_from_row(r, row)) == NULL) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
		nolds++;
	}
	PQclear(r);
	r = NULL;
	now = time_now_ms();
	for (i = 0; i < nolds; i++) {
		if ((err = retry_one(st, olds[i], now, &nt)) != STORE_OK)
			goto out;
		task_free(nt);
		(*count)++;
	}
	err = tx_commit(st);
out:
	PQclear(r);
	if (err != STORE_OK) {
		tx_rollback(st);
		*count = 0;
	}
	for (i = 0; i < nolds; i++)
		task_free(olds[i]);
	free(olds);
	free(sb.p);
	fshape_free(&fs);
	return err;
}

/* ---- the runner's side ------------------------------------------------ */

static int
claim_order(const void *a, const void *b)
{
	const struct task *ta = *(const struct task *const *)a;
	const struct task *tb = *(const struct task *const *)b;

	if (ta->priority != tb->priority)
		return ta->priority > tb->priority ? -1 : 1;
	return ta->seq < tb->seq ? -1 : ta->seq > tb->seq;
}

/* A fresh 63-bit, non-zero fencing token (the same scheme as SQLite's). */
static int64_t
new_token(void)
{
	int64_t	 token;

	do {
		sqlite3_randomness(sizeof(token), &token);
		token &= INT64_MAX;
	} while (token == 0);
	return token;
}

static enum store_err
pg_task_claim(struct store *base, const char *runner_id, size_t max,
    struct task ***out, size_t *n)
{
	struct pg_store	*st = pq(base);
	PGresult	*r = NULL;
	struct task	**ts = NULL;
	enum store_err	 err = STORE_OK;
	const char	*v[4];
	char		 b[3][24];
	size_t		 i, nt = 0;
	int		 row;

	*out = NULL;
	*n = 0;
	if (runner_id == NULL || runner_id[0] == '\0')
		return set_err(st, STORE_INVALID, "runner id: empty");
	if (max < 1 || max > CLAIM_MAX)
		return set_err(st, STORE_INVALID, "claim max %zu out of "
		    "1..%d", max, CLAIM_MAX);
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	v[0] = i64(b[0], time_now_ms());
	v[1] = runner_id;
	v[2] = i64(b[1], new_token());
	v[3] = i64(b[2], (int64_t)max);
	if ((r = run(st, ST_CLAIM, 4, v, PGRES_TUPLES_OK, "claim", &err)) ==
	    NULL)
		goto fail;
	if (PQntuples(r) > 0 &&
	    (ts = calloc((size_t)PQntuples(r), sizeof(*ts))) == NULL) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto fail;
	}
	for (row = 0; row < PQntuples(r) && nt < max; row++) {
		if ((ts[nt] = task_from_row(r, row)) == NULL) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto fail;
		}
		nt++;
	}
	PQclear(r);
	r = NULL;
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	/* ts is NULL when nothing was claimed: qsort must not see it. */
	if (nt > 1)
		qsort(ts, nt, sizeof(*ts), claim_order);
	*out = ts;
	*n = nt;
	return STORE_OK;
fail:
	PQclear(r);
	tx_rollback(st);
	for (i = 0; i < nt; i++)
		task_free(ts[i]);
	free(ts);
	return err;
}

/* All progress values in one statement, synchronous_commit off. */
static enum store_err
pg_task_progress_many(struct store *base, const struct task_progress *ps,
    size_t n)
{
	struct pg_store	*st = pq(base);
	struct sbuf	 ids = { 0 }, toks = { 0 }, prs = { 0 };
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1], b[24];
	const char	*v[4];
	size_t		 i, k = 0;

	for (i = 0; i < n; i++) {
		if (ps[i].id == NULL || !task_id_normalize(ps[i].id, lid))
			continue;
		arr_elem(&ids, lid, k == 0);
		arr_num(&toks, ps[i].claim_token, k == 0);
		arr_num(&prs, ps[i].progress < 0 ? 0 : ps[i].progress > 100 ?
		    100 : ps[i].progress, k == 0);
		k++;
	}
	if (k == 0)
		goto out;
	sb_add(&ids, "}");
	sb_add(&toks, "}");
	sb_add(&prs, "}");
	if (ids.oom || toks.oom || prs.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	if ((err = tx_begin(st, TX_WRITE_LIGHT)) != STORE_OK)
		goto out;
	v[0] = ids.p;
	v[1] = toks.p;
	v[2] = prs.p;
	v[3] = i64(b, time_now_ms());
	if ((r = run(st, ST_PROGRESS, 4, v, PGRES_COMMAND_OK, "progress",
	    &err)) == NULL)
		goto out;
	err = tx_commit(st);
out:
	PQclear(r);
	if (err != STORE_OK)
		tx_rollback(st);
	free(ids.p);
	free(toks.p);
	free(prs.p);
	return err;
}

static enum store_err
finish_one(struct pg_store *st, const struct task_finish *fi, int64_t now)
{
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	const char	*msg, *v[7];
	char		 lid[TASK_ID_LEN + 1], b[3][24], *w = NULL;

	if (fi->id == NULL || !task_id_normalize(fi->id, lid))
		return set_err(st, STORE_INVALID, "not a task id");
	switch (fi->outcome) {
	case OUTCOME_SUCCESS:
		msg = fi->result_data != NULL ? fi->result_data : "{}";
		if ((err = words(st, msg, false, &w)) != STORE_OK)
			return err;
		v[0] = lid;
		v[1] = i64(b[0], fi->claim_token);
		v[2] = msg;
		v[3] = fi->worker_output;
		v[4] = i64(b[1], now);
		v[5] = w;
		r = run(st, ST_FINISH_SUCCESS, 6, v, PGRES_COMMAND_OK,
		    "finish", &err);
		break;
	case OUTCOME_FAILED:
		msg = fi->error_message != NULL && fi->error_message[0] != '\0' ?
		    fi->error_message : "failed";
		if ((err = words(st, msg, false, &w)) != STORE_OK)
			return err;
		v[0] = lid;
		v[1] = i64(b[0], fi->claim_token);
		v[2] = msg;
		v[3] = fi->worker_output;
		v[4] = i64(b[1], now);
		v[5] = w;
		r = run(st, ST_FINISH_FAILED, 6, v, PGRES_COMMAND_OK,
		    "finish", &err);
		break;
	case OUTCOME_RETRY:
	case OUTCOME_LOST:
		msg = fi->outcome == OUTCOME_LOST ? LOST_ERROR :
		    fi->error_message;
		if (msg == NULL || msg[0] == '\0')
			msg = "failed";
		if ((err = words(st, msg, false, &w)) != STORE_OK)
			return err;
		v[0] = i64(b[0], now);
		v[1] = i64(b[1], fi->retry_at > 0 ? fi->retry_at : now);
		v[2] = msg;
		v[3] = fi->worker_output;
		v[4] = w;
		v[5] = lid;
		v[6] = i64(b[2], fi->claim_token);
		r = run(st, ST_FINISH_RETRY, 7, v, PGRES_COMMAND_OK, "finish",
		    &err);
		break;
	default:
		return set_err(st, STORE_INVALID, "outcome %d", fi->outcome);
	}
	free(w);
	if (r == NULL)
		return err == STORE_OK || !store_err_is_fatal(err) ? STORE_DB : err;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		err = set_err(st, STORE_CONFLICT, "task %s is no longer "
		    "running under this claim", lid);
	PQclear(r);
	return err;
}

/*
 * Records the SUCCESS and FAILED outcomes among fs (done[i] set) with one
 * statement; errs[i] becomes STORE_CONFLICT for those no longer running
 * under their token.
 */
static enum store_err
finish_done(struct pg_store *st, const struct task_finish *fs, size_t n,
    const bool *done, const char (*lids)[TASK_ID_LEN + 1], int64_t now,
    enum store_err *errs)
{
	struct sbuf	 a[8];
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	const char	*v[9], *msg;
	char		 b[24], *w = NULL;
	size_t		 i, k = 0, j;
	int		 row;

	memset(a, 0, sizeof(a));
	for (i = 0; i < n; i++) {
		if (!done[i])
			continue;
		arr_elem(&a[0], lids[i], k == 0);
		arr_num(&a[1], fs[i].claim_token, k == 0);
		if (fs[i].outcome == OUTCOME_SUCCESS) {
			msg = fs[i].result_data != NULL ? fs[i].result_data : "{}";
			arr_elem(&a[2], "SUCCESS", k == 0);
			arr_elem(&a[3], msg, k == 0);
			arr_elem_or_null(&a[4], NULL, k == 0);
		} else {
			msg = fs[i].error_message != NULL &&
			    fs[i].error_message[0] != '\0' ?
			    fs[i].error_message : "failed";
			arr_elem(&a[2], "FAILED", k == 0);
			arr_elem_or_null(&a[3], NULL, k == 0);
			arr_elem(&a[4], msg, k == 0);
		}
		arr_elem_or_null(&a[5], fs[i].worker_output, k == 0);
		if ((err = words(st, msg, false, &w)) != STORE_OK)
			goto out;
		arr_elem_or_null(&a[6], fs[i].outcome == OUTCOME_SUCCESS ? w :
		    NULL, k == 0);
		arr_elem_or_null(&a[7], fs[i].outcome == OUTCOME_SUCCESS ? NULL :
		    w, k == 0);
		free(w);
		w = NULL;
		/* Unmatched until the statement returns the id. */
		errs[i] = STORE_CONFLICT;
		k++;
	}
	if (k == 0)
		goto out;
	for (j = 0; j < 8; j++) {
		sb_add(&a[j], "}");
		if (a[j].oom) {
			err = set_err(st, STORE_NOMEM, "out of memory");
			goto out;
		}
		v[j + 1] = a[j].p;
	}
	v[0] = i64(b, now);
	if ((r = run(st, ST_FINISH_DONE, 9, v, PGRES_TUPLES_OK, "finish",
	    &err)) == NULL) {
		if (err == STORE_OK || !store_err_is_fatal(err))
			err = STORE_DB;
		goto out;
	}
	for (row = 0; row < PQntuples(r); row++)
		for (i = 0; i < n; i++)
			if (done[i] && strcmp(lids[i], PQgetvalue(r, row, 0)) == 0)
				errs[i] = STORE_OK;
	for (i = 0; i < n; i++)
		if (done[i] && errs[i] == STORE_CONFLICT)
			set_err(st, STORE_CONFLICT, "task %s is no longer "
			    "running under this claim", lids[i]);
out:
	PQclear(r);
	free(w);
	for (j = 0; j < 8; j++)
		free(a[j].p);
	return err;
}

/*
 * One durable transaction: the SUCCESS and FAILED outcomes in one
 * statement (when no task appears twice), each re-queue in its own.
 */
static enum store_err
pg_task_finish_many(struct store *base, const struct task_finish *fs,
    size_t n, enum store_err *errs)
{
	struct pg_store	*st = pq(base);
	enum store_err	 err = STORE_OK;
	char		(*lids)[TASK_ID_LEN + 1] = NULL;
	bool		*done = NULL, batch = true;
	int64_t		 now;
	size_t		 i, j;
	int		 attempt;

	for (i = 0; i < n; i++)
		errs[i] = STORE_OK;
	if (n == 0)
		return STORE_OK;
	if ((lids = calloc(n, sizeof(*lids))) == NULL ||
	    (done = calloc(n, sizeof(*done))) == NULL) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (fs[i].id == NULL || !task_id_normalize(fs[i].id, lids[i]))
			lids[i][0] = '\0';
		for (j = 0; j < i && batch; j++)
			if (lids[i][0] != '\0' && strcmp(lids[i], lids[j]) == 0)
				batch = false;
	}
	/* A deadlock with a bulk cancel is retried here, not by the runner. */
	for (attempt = 0; ; attempt++) {
		st->retryable = false;
		if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
			goto fail;
		now = time_now_ms();
		for (i = 0; i < n; i++) {
			errs[i] = STORE_OK;
			done[i] = batch && lids[i][0] != '\0' &&
			    (fs[i].outcome == OUTCOME_SUCCESS ||
			    fs[i].outcome == OUTCOME_FAILED);
		}
		err = finish_done(st, fs, n, done, lids, now, errs);
		for (i = 0; err == STORE_OK && i < n; i++) {
			if (done[i])
				continue;
			errs[i] = finish_one(st, &fs[i], now);
			if (store_err_is_fatal(errs[i]))
				err = errs[i];
		}
		if (err == STORE_OK && (err = tx_commit(st)) == STORE_OK)
			goto out;
		tx_rollback(st);
		if (!st->retryable || attempt == 2)
			break;
	}
fail:
	tx_rollback(st);
	for (i = 0; i < n; i++)
		errs[i] = err;
out:
	free(lids);
	free(done);
	return err;
}

static enum store_err
pg_task_check_held(struct store *base, const char *const *ids,
    const int64_t *tokens, size_t n, bool *gone)
{
	struct pg_store	*st = pq(base);
	struct sbuf	 a = { 0 }, t = { 0 };
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	const char	*v[2];
	size_t		 i, k = 0;
	int64_t		 ord;
	int		 row;

	for (i = 0; i < n; i++) {
		gone[i] = true;
		/* Unparseable ids become "" and match nothing. */
		if (ids[i] == NULL || !task_id_normalize(ids[i], lid))
			lid[0] = '\0';
		arr_elem(&a, lid, k == 0);
		arr_num(&t, tokens[i], k == 0);
		k++;
	}
	if (k == 0)
		return STORE_OK;
	sb_add(&a, "}");
	sb_add(&t, "}");
	if (a.oom || t.oom) {
		err = set_err(st, STORE_NOMEM, "out of memory");
		goto out;
	}
	v[0] = a.p;
	v[1] = t.p;
	if ((r = run_read(st, ST_CHECK_HELD, 2, v, "check held", &err)) ==
	    NULL)
		goto out;
	for (row = 0; row < PQntuples(r); row++) {
		ord = get_i64(r, row, 0);
		if (ord >= 1 && (size_t)ord <= n)
			gone[ord - 1] = false;
	}
out:
	PQclear(r);
	free(a.p);
	free(t.p);
	return err;
}

/* ---- runners ---------------------------------------------------------- */

static enum store_err
pg_runner_beat(struct store *base, const struct runner_info *ri)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	const char	*v[8];
	char		 b[5][24];
	int64_t		 now;

	if (ri->id[0] == '\0')
		return set_err(st, STORE_INVALID, "runner id: empty");
	if ((err = tx_begin(st, TX_WRITE_LIGHT)) != STORE_OK)
		return err;
	now = time_now_ms();
	v[0] = ri->id;
	v[1] = ri->host;
	v[2] = i64(b[0], ri->pid);
	v[3] = ri->version;
	v[4] = i64(b[1], ri->slots);
	v[5] = i64(b[2], ri->running);
	v[6] = i64(b[3], ri->started_at > 0 ? ri->started_at : now);
	v[7] = i64(b[4], ri->last_seen > 0 ? ri->last_seen : now);
	if ((r = run(st, ST_RUNNER_BEAT, 8, v, PGRES_COMMAND_OK,
	    "runner beat", &err)) == NULL)
		goto fail;
	PQclear(r);
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
pg_runner_remove(struct store *base, const char *runner_id)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	const char	*v[1] = { runner_id };

	if ((err = tx_begin(st, TX_WRITE_LIGHT)) != STORE_OK)
		return err;
	if ((r = run(st, ST_RUNNER_REMOVE, 1, v, PGRES_COMMAND_OK,
	    "runner remove", &err)) == NULL)
		goto fail;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		err = set_err(st, STORE_NOTFOUND, "runner %s not found",
		    runner_id);
	PQclear(r);
	if (err != STORE_OK)
		goto fail;
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
pg_runner_list(struct store *base, struct runner_info **out, size_t *n)
{
	struct pg_store		*st = pq(base);
	struct runner_info	*rs = NULL, *ri;
	PGresult		*r;
	enum store_err		 err = STORE_OK;
	int			 row, nr;

	*out = NULL;
	*n = 0;
	if ((r = run_read(st, ST_RUNNER_LIST, 0, NULL, "runner list",
	    &err)) == NULL)
		return err;
	nr = PQntuples(r);
	if (nr > 0 && (rs = calloc((size_t)nr, sizeof(*rs))) == NULL) {
		PQclear(r);
		return set_err(st, STORE_NOMEM, "out of memory");
	}
	for (row = 0; row < nr; row++) {
		ri = &rs[row];
		get_copy(r, row, 0, ri->id, sizeof(ri->id));
		get_copy(r, row, 1, ri->host, sizeof(ri->host));
		ri->pid = get_int(r, row, 2);
		get_copy(r, row, 3, ri->version, sizeof(ri->version));
		ri->slots = get_int(r, row, 4);
		ri->running = get_int(r, row, 5);
		ri->started_at = get_i64(r, row, 6);
		ri->last_seen = get_i64(r, row, 7);
	}
	PQclear(r);
	*out = rs;
	*n = (size_t)nr;
	return STORE_OK;
}

/*
 * Folds the count, rollup and duration deltas in (skipped if another host
 * is).
 */
static enum store_err
compact(struct pg_store *st)
{
	PGresult	*r;
	enum store_err	 err = STORE_OK;

	if ((err = tx_begin(st, TX_WRITE_LIGHT)) != STORE_OK)
		return err;
	if ((r = run(st, ST_COMPACT, 0, NULL, PGRES_TUPLES_OK, "compact",
	    &err)) == NULL) {
		tx_rollback(st);
		return err;
	}
	PQclear(r);
	return tx_commit(st);
}

static enum store_err
pg_recover_stale(struct store *base, int64_t stale_ms, int64_t *requeued,
    int64_t *failed)
{
	struct pg_store	*st = pq(base);
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	const char	*v[6];
	char		 b[3][24], *w = NULL;
	int64_t		 now, nreq = 0, nfail = 0;
	int		 row;

	if (requeued != NULL)
		*requeued = 0;
	if (failed != NULL)
		*failed = 0;
	if (stale_ms < 0)
		return set_err(st, STORE_INVALID, "stale_ms: negative");
	if ((err = words(st, LOST_ERROR, false, &w)) != STORE_OK)
		return err;
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		goto out;
	now = time_now_ms();
	v[0] = i64(b[0], now);
	v[1] = i64(b[1], now);
	v[2] = LOST_ERROR;
	v[3] = NULL;
	v[4] = w;
	v[5] = i64(b[2], now - stale_ms);
	if ((r = run(st, ST_RECOVER, 6, v, PGRES_TUPLES_OK, "recover",
	    &err)) == NULL)
		goto out;
	for (row = 0; row < PQntuples(r); row++) {
		if (strcmp(PQgetvalue(r, row, 0), "FAILED") == 0)
			nfail++;
		else
			nreq++;
	}
	PQclear(r);
	v[0] = b[2];
	if ((r = run(st, ST_RUNNER_PRUNE, 1, v, PGRES_COMMAND_OK,
	    "prune runners", &err)) == NULL)
		goto out;
	PQclear(r);
	r = NULL;
	if ((err = tx_commit(st)) != STORE_OK)
		goto out;
	if (requeued != NULL)
		*requeued = nreq;
	if (failed != NULL)
		*failed = nfail;
	/* Recovery runs every few seconds on some runner: a good moment. */
	(void)compact(st);
	st->base.errmsg[0] = '\0';
out:
	if (err != STORE_OK)
		tx_rollback(st);
	free(w);
	return err;
}

/* ---- files ------------------------------------------------------------ */

static enum store_err
pg_file_add(struct store *base, const struct file_info *fi)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	char		 id[TASK_ID_LEN + 1], tid[TASK_ID_LEN + 1], b[2][24];
	const char	*v[7];

	if (!task_id_normalize(fi->id, id))
		return set_err(st, STORE_INVALID, "file id: not a uuid");
	tid[0] = '\0';
	if (fi->task_id[0] != '\0' && !task_id_normalize(fi->task_id, tid))
		return set_err(st, STORE_INVALID, "file task_id: not a uuid");
	if (fi->size < 0)
		return set_err(st, STORE_INVALID, "file size: negative");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	v[0] = id;
	v[1] = fi->name;
	v[2] = i64(b[0], fi->size);
	v[3] = fi->sha256;
	v[4] = fi->content_type;
	v[5] = i64(b[1], fi->created_at > 0 ? fi->created_at : time_now_ms());
	v[6] = tid;
	if ((r = run(st, ST_FILE_ADD, 7, v, PGRES_COMMAND_OK, "file add",
	    &err)) == NULL) {
		if (err == STORE_CONFLICT)
			set_err(st, STORE_CONFLICT, "file %s exists", id);
		goto fail;
	}
	PQclear(r);
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
pg_file_get(struct store *base, const char *id, struct file_info *out)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	const char	*v[1];

	memset(out, 0, sizeof(*out));
	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "file id: not a uuid");
	v[0] = lid;
	if ((r = run_read(st, ST_FILE_GET, 1, v, "file get", &err)) == NULL)
		return err;
	if (PQntuples(r) == 0)
		err = set_err(st, STORE_NOTFOUND, "file %s not found", lid);
	else {
		get_copy(r, 0, 0, out->id, sizeof(out->id));
		get_copy(r, 0, 1, out->name, sizeof(out->name));
		out->size = get_i64(r, 0, 2);
		get_copy(r, 0, 3, out->sha256, sizeof(out->sha256));
		get_copy(r, 0, 4, out->content_type, sizeof(out->content_type));
		out->created_at = get_i64(r, 0, 5);
		get_copy(r, 0, 6, out->task_id, sizeof(out->task_id));
	}
	PQclear(r);
	return err;
}

static enum store_err
pg_file_unreferenced(struct store *base, int64_t before_ms, size_t max,
    char (**out)[TASK_ID_LEN + 1], size_t *n)
{
	struct pg_store	*st = pq(base);
	char		(*ids)[TASK_ID_LEN + 1] = NULL;
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	const char	*v[2];
	char		 b[2][24];
	int		 row, nr;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return STORE_OK;
	if (max > 100000)
		return set_err(st, STORE_INVALID, "max %zu too large", max);
	v[0] = i64(b[0], before_ms);
	v[1] = i64(b[1], (int64_t)max);
	if ((r = run_read(st, ST_FILE_UNREF, 2, v, "unreferenced files",
	    &err)) == NULL)
		return err;
	nr = PQntuples(r);
	if (nr > 0) {
		if ((ids = calloc((size_t)nr, sizeof(*ids))) == NULL) {
			PQclear(r);
			return set_err(st, STORE_NOMEM, "out of memory");
		}
		for (row = 0; row < nr; row++)
			get_copy(r, row, 0, ids[row], sizeof(ids[0]));
		*out = ids;
		*n = (size_t)nr;
	}
	PQclear(r);
	return STORE_OK;
}

static enum store_err
pg_file_delete(struct store *base, const char *id)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	char		 lid[TASK_ID_LEN + 1];
	const char	*v[1];

	if (id == NULL || !task_id_normalize(id, lid))
		return set_err(st, STORE_INVALID, "file id: not a uuid");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	v[0] = lid;
	if ((r = run(st, ST_FILE_DELETE, 1, v, PGRES_COMMAND_OK, "file delete",
	    &err)) == NULL)
		goto fail;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		err = set_err(st, STORE_NOTFOUND, "file %s not found", lid);
	PQclear(r);
	if (err != STORE_OK)
		goto fail;
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

/* ---- task types, stats, retention ------------------------------------- */

static enum store_err
pg_type_set_paused(struct store *base, const char *type, bool paused)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	const char	*v[1] = { type };

	if (type == NULL || type[0] == '\0')
		return set_err(st, STORE_INVALID, "task type: empty");
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	if ((r = run(st, paused ? ST_PAUSE : ST_RESUME, 1, v, PGRES_COMMAND_OK,
	    paused ? "pause" : "resume", &err)) == NULL)
		goto fail;
	PQclear(r);
	/* A resumed type's backlog is work for idle runners. */
	if (!paused && (err = exec_simple(st, "SELECT pg_notify('"
	    WAKEUP_CHANNEL "', '')", "notify")) != STORE_OK)
		goto fail;
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	return STORE_OK;
fail:
	tx_rollback(st);
	return err;
}

static enum store_err
pg_type_is_paused(struct store *base, const char *type, bool *paused)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	const char	*v[1] = { type };

	*paused = false;
	if (type == NULL)
		return set_err(st, STORE_INVALID, "task type: NULL");
	if ((r = run_read(st, ST_IS_PAUSED, 1, v, "is paused", &err)) == NULL)
		return err;
	*paused = PQntuples(r) > 0;
	PQclear(r);
	return STORE_OK;
}

/*
 * The counts (compacted table plus deltas), rollup, paused types and the
 * oldest pending task, all in one REPEATABLE READ snapshot.
 */
static enum store_err
pg_stats_get(struct store *base, struct store_stats *out)
{
	struct pg_store		*st = pq(base);
	struct type_stats	*ts;
	PGresult		*r = NULL;
	enum store_err		 err = STORE_OK;
	const char		*v[2];
	char			 b[2][24];
	int64_t			 minute, n;
	size_t			 cap = 0;
	int			 row, sv;

	memset(out, 0, sizeof(*out));
	if ((err = compact(st)) != STORE_OK && err != STORE_BUSY)
		return err;
	if ((err = tx_begin(st, TX_READ)) != STORE_OK)
		return err;
	if ((r = run(st, ST_COUNTS, 0, NULL, PGRES_TUPLES_OK, "counts",
	    &err)) == NULL)
		goto out;
	for (row = 0; row < PQntuples(r); row++) {
		if ((sv = task_status_parse(PQgetvalue(r, row, 1))) < 0)
			continue;
		n = get_i64(r, row, 2);
		if (n == 0)
			continue;	/* a type whose tasks were all purged */
		if ((ts = store_stats_type(out, PQgetvalue(r, row, 0), &cap)) == NULL)
			goto oom;
		ts->by_status[sv] += n;
		out->by_status[sv] += n;
	}
	PQclear(r);
	minute = time_now_ms() / 60000;
	v[0] = i64(b[0], minute - 24 * 60 + 1);
	v[1] = i64(b[1], minute - 60 + 1);
	if ((r = run(st, ST_ROLLUP, 2, v, PGRES_TUPLES_OK, "rollup",
	    &err)) == NULL)
		goto out;
	for (row = 0; row < PQntuples(r); row++) {
		if ((ts = store_stats_type(out, PQgetvalue(r, row, 0), &cap)) == NULL)
			goto oom;
		ts->finished_24h = get_i64(r, row, 1);
		ts->failed_24h = get_i64(r, row, 2);
		ts->finished_1h = get_i64(r, row, 3);
		ts->failed_1h = get_i64(r, row, 4);
	}
	PQclear(r);
	if ((r = run(st, ST_PAUSED_LIST, 0, NULL, PGRES_TUPLES_OK,
	    "paused types", &err)) == NULL)
		goto out;
	for (row = 0; row < PQntuples(r); row++) {
		if ((ts = store_stats_type(out, PQgetvalue(r, row, 0), &cap)) == NULL)
			goto oom;
		ts->paused = true;
	}
	PQclear(r);
	if ((r = run(st, ST_OLDEST_PENDING, 0, NULL, PGRES_TUPLES_OK,
	    "oldest pending", &err)) == NULL)
		goto out;
	if (PQntuples(r) > 0)
		out->oldest_pending_ms = get_i64(r, 0, 0);
	PQclear(r);
	r = NULL;
	if (out->ntypes > 1)
		qsort(out->types, out->ntypes, sizeof(*out->types), store_stats_cmp);
	err = tx_commit(st);
	goto out;
oom:
	err = set_err(st, STORE_NOMEM, "out of memory");
out:
	PQclear(r);
	tx_rollback(st);
	if (err != STORE_OK)
		store_stats_free(out);
	return err;
}

/* The bucket index of a stored bound; STORE_DURATION_BUCKETS for +Inf. */
static size_t
bucket_of(int64_t le_ms)
{
	size_t	 i;

	for (i = 0; i < STORE_DURATION_BUCKETS; i++)
		if (store_duration_bounds_ms[i] == le_ms)
			return i;
	return STORE_DURATION_BUCKETS;
}

/*
 * Every (type, outcome) histogram (migration 3): the compacted table plus
 * the deltas, summed in one statement, so one snapshot, ordered by type
 * then outcome as the SQLite backend's.  No compaction here: the stats
 * read that precedes it in GET /api/metrics, recovery and purge fold the
 * deltas in often enough to keep the sum over few rows.
 */
static enum store_err
pg_duration_hist(struct store *base, struct duration_hist **out, size_t *n)
{
	struct pg_store		*st = pq(base);
	struct duration_hist	*h = NULL, *nh, *cur = NULL;
	PGresult		*r;
	enum store_err		 err = STORE_OK;
	const char		*type, *outcome;
	size_t			 cnt = 0, cap = 0;
	int			 row, sv;

	*out = NULL;
	*n = 0;
	if ((r = run_read(st, ST_DURATION_HIST, 0, NULL, "duration histogram",
	    &err)) == NULL)
		return err;
	for (row = 0; row < PQntuples(r); row++) {
		type = PQgetvalue(r, row, 0);
		outcome = PQgetvalue(r, row, 1);
		if ((sv = task_status_parse(outcome)) < 0)
			continue;
		if (cur == NULL || strcmp(cur->task_type, type) != 0 ||
		    cur->outcome != (enum task_status)sv) {
			if (cnt == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				if ((nh = reallocarray(h, cap, sizeof(*h))) ==
				    NULL) {
					err = set_err(st, STORE_NOMEM,
					    "duration histogram: out of memory");
					goto out;
				}
				h = nh;
			}
			cur = &h[cnt++];
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->task_type, sizeof(cur->task_type), "%s", type);
			cur->outcome = (enum task_status)sv;
		}
		cur->n[bucket_of(get_i64(r, row, 2))] += get_i64(r, row, 3);
		cur->count += get_i64(r, row, 3);
		cur->sum_ms += get_i64(r, row, 4);
	}
	*out = h;
	*n = cnt;
	h = NULL;
out:
	PQclear(r);
	free(h);
	return err;
}

static enum store_err
pg_purge(struct store *base, int64_t before_ms, size_t batch,
    int64_t *deleted)
{
	struct pg_store	*st = pq(base);
	PGresult	*r;
	enum store_err	 err = STORE_OK;
	const char	*v[2];
	char		 b[2][24];
	int64_t		 now;

	*deleted = 0;
	if (batch < 1 || batch > 100000)
		return set_err(st, STORE_INVALID, "batch %zu out of 1..100000",
		    batch);
	if ((err = tx_begin(st, TX_WRITE)) != STORE_OK)
		return err;
	v[0] = i64(b[0], before_ms);
	v[1] = i64(b[1], (int64_t)batch);
	if ((r = run(st, ST_PURGE, 2, v, PGRES_COMMAND_OK, "purge",
	    &err)) == NULL)
		goto fail;
	*deleted = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	now = time_now_ms();
	v[0] = i64(b[0], now - IDEMPOTENCY_MS);
	if ((r = run(st, ST_PURGE_IDEM, 2, v, PGRES_COMMAND_OK,
	    "purge idempotency keys", &err)) == NULL)
		goto fail;
	PQclear(r);
	v[0] = i64(b[0], now / 60000 - ROLLUP_KEEP_MIN);
	if ((r = run(st, ST_PURGE_ROLLUP, 1, v, PGRES_COMMAND_OK,
	    "purge rollup", &err)) == NULL)
		goto fail;
	PQclear(r);
	if ((err = tx_commit(st)) != STORE_OK)
		goto fail;
	(void)compact(st);
	st->base.errmsg[0] = '\0';
	return STORE_OK;
fail:
	tx_rollback(st);
	*deleted = 0;
	return err;
}

/* A connection found dead is re-established once, as for any read. */
static enum store_err
pg_ping(struct store *base)
{
	struct pg_store	*st = pq(base);
	enum store_err	 err;
	int		 attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((err = conn_ready(st)) != STORE_OK)
			return err;
		err = exec_simple(st, "SELECT 1", "ping");
		if (err == STORE_OK || PQstatus(st->conn) != CONNECTION_BAD)
			break;
	}
	return err;
}

/* ---- administration --------------------------------------------------- */

static enum store_err
pg_backup(struct store *base, const char *dest)
{
	struct pg_store	*st = pq(base);

	(void)dest;
	return set_err(st, STORE_INVALID, "%s: taskq backup copies SQLite "
	    "files only; back up a PostgreSQL database with pg_dump "
	    "(e.g. pg_dump -Fc -f taskq.dump DATABASE-URL) or the server's "
	    "own continuous archiving", st->name);
}

static enum store_err
pg_migrate(const char *conninfo, int busy_ms, int *from, int *to,
    char *errbuf, size_t errlen)
{
	struct store	*base = NULL;
	struct pg_store	*st;
	PGconn		*c;
	enum store_err	 err;

	*from = -1;
	*to = -1;
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		if (errbuf != NULL && errlen > 0)
			trim_copy(errbuf, errlen, PQerrorMessage(c));
		PQfinish(c);
		return STORE_BUSY;
	}
	PQclear(version_query(c, from));
	PQfinish(c);
	err = pg_open(conninfo, 0, busy_ms, &base, errbuf, errlen);
	if (err == STORE_OK) {
		st = pq(base);
		*to = st->version;
	}
	pg_close(base);
	return err;
}

/* Appends a problem line. */
static void
report_add(struct sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
report_add(struct sbuf *sb, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[512];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sb_add(sb, line);
	sb_add(sb, "\n");
}

/*
 * The consistency check: the kept counts (compacted plus deltas) against
 * COUNT(*) over the rows, and the search vectors against their words, in
 * one REPEATABLE READ snapshot; PostgreSQL checks its own storage.
 */
static enum store_err
pg_integrity_check(struct store *base, char **problems)
{
	struct pg_store	*st = pq(base);
	struct sbuf	 rep = { 0 };
	PGresult	*r = NULL;
	enum store_err	 err = STORE_OK;
	int		 row;

	*problems = NULL;
	if ((err = tx_begin(st, TX_READ)) != STORE_OK)
		return err;
	r = PQexec(st->conn,
	    "WITH actual AS (SELECT task_type, status, count(*) AS n "
	    "FROM tasks GROUP BY task_type, status) "
	    "SELECT coalesce(k.task_type, a.task_type), "
	    "coalesce(k.status, a.status), coalesce(k.n, 0), coalesce(a.n, 0) "
	    "FROM counts_now AS k FULL JOIN actual AS a "
	    "ON a.task_type = k.task_type AND a.status = k.status "
	    "WHERE coalesce(k.n, 0) <> coalesce(a.n, 0) ORDER BY 1, 2");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		err = db_err(st, r, "counts check");
		goto out;
	}
	for (row = 0; row < PQntuples(r); row++)
		report_add(&rep, "counts: %s %s: kept %s, actual %s",
		    PQgetvalue(r, row, 0), PQgetvalue(r, row, 1),
		    PQgetvalue(r, row, 2), PQgetvalue(r, row, 3));
	PQclear(r);
	r = PQexec(st->conn, "SELECT count(*) FROM tasks WHERE search IS "
	    "DISTINCT FROM to_tsvector('simple'::regconfig, coalesce(p_words, '') || ' ' || "
	    "coalesce(r_words, '') || ' ' || coalesce(e_words, ''))");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		err = db_err(st, r, "search check");
		goto out;
	}
	if (get_i64(r, 0, 0) != 0)
		report_add(&rep, "full-text index: %s tasks with a stale "
		    "search vector", PQgetvalue(r, 0, 0));
	if (rep.oom) {
		err = set_err(st, STORE_NOMEM, "integrity check: out of memory");
		goto out;
	}
	err = tx_commit(st);
	if (err == STORE_OK) {
		*problems = rep.p;
		rep.p = NULL;
	}
out:
	PQclear(r);
	tx_rollback(st);
	free(rep.p);
	return err;
}

/* ---- wake-ups --------------------------------------------------------- */

/* LISTENs on first use (and after every reconnect, in session_setup). */
static int
pg_wakeup_fd(struct store *base)
{
	struct pg_store	*st = pq(base);

	if (!st->listening) {
		if (conn_ready(st) != STORE_OK ||
		    exec_simple(st, "LISTEN " WAKEUP_CHANNEL, "listen") !=
		    STORE_OK)
			return -1;
		st->listening = true;
	}
	if (PQstatus(st->conn) != CONNECTION_OK)
		return -1;
	return PQsocket(st->conn);
}

static bool
pg_wakeup_drain(struct store *base)
{
	struct pg_store	*st = pq(base);
	PGnotify	*n;
	bool		 got = false;

	if (PQstatus(st->conn) != CONNECTION_OK)
		return false;
	if (st->rewoken) {
		st->rewoken = false;
		got = true;
	}
	/* A read error shows as CONNECTION_BAD, handled at the next call. */
	(void)PQconsumeInput(st->conn);
	while ((n = PQnotifies(st->conn)) != NULL) {
		got = true;
		PQfreemem(n);
	}
	return got;
}

const struct store_backend store_pg_backend = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.schema_version = pg_schema_version,
	.task_submit_many = pg_task_submit_many,
	.task_get = pg_task_get,
	.task_list = pg_task_list,
	.task_cancel = pg_task_cancel,
	.task_retry = pg_task_retry,
	.task_cancel_matching = pg_task_cancel_matching,
	.task_retry_matching = pg_task_retry_matching,
	.task_claim = pg_task_claim,
	.task_progress_many = pg_task_progress_many,
	.task_finish_many = pg_task_finish_many,
	.task_check_held = pg_task_check_held,
	.runner_beat = pg_runner_beat,
	.runner_remove = pg_runner_remove,
	.runner_list = pg_runner_list,
	.recover_stale = pg_recover_stale,
	.file_add = pg_file_add,
	.file_get = pg_file_get,
	.file_unreferenced = pg_file_unreferenced,
	.file_delete = pg_file_delete,
	.type_set_paused = pg_type_set_paused,
	.type_is_paused = pg_type_is_paused,
	.stats_get = pg_stats_get,
	.purge = pg_purge,
	.ping = pg_ping,
	.backup = pg_backup,
	.migrate = pg_migrate,
	.integrity_check = pg_integrity_check,
	.wakeup_fd = pg_wakeup_fd,
	.wakeup_drain = pg_wakeup_drain,
	.duration_hist = pg_duration_hist,
};
