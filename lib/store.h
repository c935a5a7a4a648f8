/*
 * The task store: the only interface through which taskq reads and writes
 * tasks, runners and task-type state.  The SQLite implementation lives in
 * store_sqlite.c and is the only code that contains SQL.  Nothing here names a
 * sqlite3 type, so that another backend (PostgreSQL) can sit behind it.
 *
 * Ownership: every struct task and struct task_list returned through an out
 * parameter belongs to the caller and is released with store_task_free() /
 * store_task_list_free().  Strings passed in are borrowed for the call.
 *
 * Threads: a struct store is one database connection; use it from one thread
 * at a time.  Processes and threads coordinate only through the database:
 * every state transition is a conditional write, so of two racing callers
 * exactly one wins and the other gets STORE_CONFLICT.
 */
#ifndef TASKQ_STORE_H
#define TASKQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* no such task / runner / type */
	STORE_CONFLICT,		/* the row is not in the state the write expects */
	STORE_BUSY,		/* the database stayed locked past the busy timeout */
	STORE_NOMEM,
	STORE_FULL,		/* disk or database full (SQLITE_FULL, ENOSPC) */
	STORE_DB,		/* any other database error: see store_errmsg() */
	STORE_VERSION,		/* the file's schema is newer than this program */
	STORE_INVALID,		/* an argument out of its range */
	STORE_ERR__MAX
};

const char	*store_strerror(enum store_err);

struct store;

/* Flags for store_open(). */
#define STORE_OPEN_READONLY	0x01	/* no schema creation or migration */
#define STORE_OPEN_NOMIGRATE	0x02	/* refuse an older schema instead of upgrading */
/*
 * Map up to 2 GiB of the database file for reads instead of 256 MiB: reads
 * past the mapping go through read(2) and a copy, a third of a list's time
 * on a 500 MB database.  The page cache is then 4 MiB instead of 32.  Not
 * for a process whose children fork from it under an address-space limit
 * (the runner): they would inherit the map.
 */
#define STORE_OPEN_MAP_WHOLE	0x04
/*
 * Run the database's checkpointer thread in this process (one per file,
 * shared by its handles; see lib/store_sqlite_ckpt.c) so that commits find
 * little left to checkpoint.  Not for a process that forks and uses the
 * store in the child: the thread may hold SQLite's locks at the fork.
 */
#define STORE_OPEN_CHECKPOINTER	0x08

/* The schema version this program writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION	3

/*
 * Opens (creating if needed) the database at path in WAL mode with foreign
 * keys and a busy timeout of busy_ms, then creates or migrates the schema.
 * On failure *out is NULL and, if errbuf is not NULL, a message naming the
 * path and the cause is written to it (truncated to errlen).
 */
enum store_err	 store_open(const char *path, unsigned flags, int busy_ms,
		    struct store **out, char *errbuf, size_t errlen);
void		 store_close(struct store *);	/* NULL is a no-op */

/* The detail of the last error on this handle (borrowed, valid until the next call). */
const char	*store_errmsg(const struct store *);

/* Schema version of the open file (after migration). */
int		 store_schema_version(struct store *);

/*
 * Durability: submits, cancels, retries and finishes commit with
 * synchronous=FULL, so an acknowledged write survives power loss; progress
 * and heartbeat writes, which are rewritten every second anyway, use NORMAL.
 */

/* ---- tasks ------------------------------------------------------------ */

/* What a submit stores; strings borrowed. */
struct task_new {
	const char	*task_type;
	const char	*parameters;	/* JSON object text, already validated */
	int		 priority;	/* -100..100, higher first */
	int64_t		 run_at;	/* ms since the epoch; 0 = now */
	int		 max_attempts;	/* 1..25 */
	int		 timeout_s;	/* 1..86400 */
	const char	*idempotency_key; /* NULL: none */
	const char	*retry_of;	/* NULL: a fresh task */
};

/*
 * Stores one new PENDING task with a fresh UUID and returns it in *out.
 * With an idempotency key already used within the last 24 hours, nothing is
 * stored: *out is the first task and *existed is set.
 */
enum store_err	 store_task_submit(struct store *, const struct task_new *,
		    struct task **out, bool *existed);

/*
 * Group commit: stores n tasks in one durable transaction.  outs[i],
 * existed[i] and errs[i] describe item i; an item-level failure (errs[i] !=
 * STORE_OK) does not fail the others.  The return value is a failure of the
 * whole transaction, in which case nothing was stored.
 */
enum store_err	 store_task_submit_many(struct store *, const struct task_new *,
		    size_t n, struct task **outs, bool *existed,
		    enum store_err *errs);

/* The task with this id (any case). STORE_NOTFOUND if none. */
enum store_err	 store_task_get(struct store *, const char *id, struct task **out);

/* A list filter; all members optional (zero/NULL means "any"). */
struct task_filter {
	unsigned	 status_mask;	/* bit (1u << enum task_status) */
	const char	*const *types;	/* task type names */
	size_t		 ntypes;
	const char	*q;		/* full-text query, user syntax */
};

struct task_list {
	struct task	**tasks;
	size_t		  n;
	int64_t		  next_cursor;	/* 0: no more */
};

/*
 * Newest first.  cursor is 0 for the first page, else a next_cursor from a
 * previous page: paging walks every matching task exactly once even while
 * tasks are inserted.  limit 1..500.
 */
enum store_err	 store_task_list(struct store *, const struct task_filter *,
		    int64_t cursor, size_t limit, struct task_list *out);
void		 store_task_list_free(struct task_list *); /* frees contents */

/*
 * The same page as store_task_list(), without copying it: calls fn(task,
 * arg) for each task in order and sets *next_cursor as struct task_list's.
 * The task is lent for the call only: its strings may point into the
 * database library's buffers.
 */
enum store_err	 store_task_list_each(struct store *,
		    const struct task_filter *, int64_t cursor, size_t limit,
		    void (*fn)(const struct task *, void *), void *arg,
		    int64_t *next_cursor);

/* PENDING or RUNNING -> CANCELLED.  STORE_CONFLICT if already finished. */
enum store_err	 store_task_cancel(struct store *, const char *id, struct task **out);

/* FAILED or CANCELLED: a new PENDING task with retry_of = id. */
enum store_err	 store_task_retry(struct store *, const char *id, struct task **out);

/* Bulk forms over a filter: cancel what is PENDING/RUNNING, retry what is
 * FAILED/CANCELLED (and not already retried).  *count receives how many. */
enum store_err	 store_task_cancel_matching(struct store *, const struct task_filter *,
		    int64_t *count);
enum store_err	 store_task_retry_matching(struct store *, const struct task_filter *,
		    int64_t *count);

/* ---- the runner's side ------------------------------------------------ */

/*
 * Claims up to max PENDING tasks whose run_at has passed and whose type is
 * not paused, highest priority first then oldest, in one transaction: each
 * becomes RUNNING with claim_owner = runner_id and a fresh claim_token that
 * every later write of the task must quote (fencing).  *out receives an
 * array of *n tasks (caller frees each and the array).
 */
enum store_err	 store_task_claim(struct store *, const char *runner_id, size_t max,
		    struct task ***out, size_t *n);

/* One progress report, for store_task_progress_many(). */
struct task_progress {
	const char	*id;
	int64_t		 claim_token;
	int		 progress;	/* 0..100 */
};

/* Writes all these progress values in one transaction (synchronous=NORMAL);
 * rows whose token no longer matches are skipped silently. */
enum store_err	 store_task_progress_many(struct store *, const struct task_progress *,
		    size_t n);

/* How a run ended, for store_task_finish_many(). */
enum task_outcome {
	OUTCOME_SUCCESS,	/* -> SUCCESS with result */
	OUTCOME_FAILED,		/* -> FAILED with error */
	OUTCOME_RETRY,		/* temporary: -> PENDING at retry_at, attempt+1, or
				 * FAILED when max_attempts is reached */
	OUTCOME_LOST,		/* requeue after runner loss / shutdown: like RETRY,
				 * but error "runner lost" when exhausted */
	OUTCOME__MAX
};

struct task_finish {
	const char	*id;
	int64_t		 claim_token;
	enum task_outcome outcome;
	const char	*result_data;	/* JSON object text, SUCCESS only */
	const char	*error_message;	/* FAILED / RETRY */
	const char	*worker_output;	/* captured stderr, may be NULL */
	int64_t		 retry_at;	/* ms since epoch, RETRY/LOST */
};

/*
 * Records these outcomes in one durable transaction.  errs[i] is STORE_OK or
 * STORE_CONFLICT when the task is no longer RUNNING under that token (it was
 * cancelled or taken over): the outcome is then dropped, never overwriting.
 */
enum store_err	 store_task_finish_many(struct store *, const struct task_finish *,
		    size_t n, enum store_err *errs);

/*
 * Of the n tasks ids[i] held with tokens[i], sets gone[i] to true for each
 * that is no longer RUNNING under that token (cancelled, or re-queued by a
 * recovering runner): the runner must stop it.
 */
enum store_err	 store_task_check_held(struct store *, const char *const *ids,
		    const int64_t *tokens, size_t n, bool *gone);

/* ---- runners ---------------------------------------------------------- */

struct runner_info {
	char		 id[64];	/* unique per process start */
	char		 host[256];
	int		 pid;
	char		 version[32];
	int		 slots;
	int		 running;	/* tasks held now */
	int64_t		 started_at;	/* ms */
	int64_t		 last_seen;	/* ms */
};

/* Inserts or refreshes this runner's row (synchronous=NORMAL). */
enum store_err	 store_runner_beat(struct store *, const struct runner_info *);
/* Removes the row on clean shutdown. */
enum store_err	 store_runner_remove(struct store *, const char *runner_id);
/* All runner rows, newest heartbeat first; *out is an array of *n (free()). */
enum store_err	 store_runner_list(struct store *, struct runner_info **out, size_t *n);

/*
 * Recovery: every RUNNING task held by a runner whose heartbeat is older
 * than stale_ms (or that has no row at all) is re-queued with attempt+1, or
 * FAILED "runner lost" when its attempts are exhausted; the stale runner
 * rows are removed.  *requeued and *failed (may be NULL) receive counts.
 */
enum store_err	 store_recover_stale(struct store *, int64_t stale_ms,
		    int64_t *requeued, int64_t *failed);

/* ---- files ------------------------------------------------------------ */

/* Metadata of an uploaded or produced file; the bytes live under the state
 * directory at files/<id>, written by the caller before store_file_add(). */
struct file_info {
	char		 id[TASK_ID_LEN + 1];
	char		 name[256];	/* client's name, display only, never a path */
	int64_t		 size;
	char		 sha256[65];	/* lowercase hex */
	char		 content_type[128];
	int64_t		 created_at;	/* ms */
	char		 task_id[TASK_ID_LEN + 1]; /* producing task, "" for uploads */
};

enum store_err	 store_file_add(struct store *, const struct file_info *);
enum store_err	 store_file_get(struct store *, const char *id, struct file_info *out);

/*
 * Ids (up to max, *out an array of *n, caller frees) of files older than
 * before_ms that no remaining task references (by file_id or output_file_id
 * in its parameters or result), for retention; store_file_delete() then
 * drops each row after the caller unlinked the bytes.
 */
enum store_err	 store_file_unreferenced(struct store *, int64_t before_ms, size_t max,
		    char (**out)[TASK_ID_LEN + 1], size_t *n);
enum store_err	 store_file_delete(struct store *, const char *id);

/* ---- task types, stats, retention ------------------------------------- */

/* Pause or resume claiming of a type.  The type must be registered (the
 * caller checks); the store keeps the flag. */
enum store_err	 store_type_set_paused(struct store *, const char *type, bool paused);
enum store_err	 store_type_is_paused(struct store *, const char *type, bool *paused);

struct type_stats {
	char		 task_type[64];
	int64_t		 by_status[TASK_STATUS__MAX];
	int64_t		 finished_1h, failed_1h;	/* finished in the last hour */
	int64_t		 finished_24h, failed_24h;	/* ... and day */
	bool		 paused;
};

struct store_stats {
	int64_t		  by_status[TASK_STATUS__MAX];	/* exact, all types */
	struct type_stats *types;			/* every type seen */
	size_t		  ntypes;
	int64_t		  oldest_pending_ms;		/* created_at, 0 if none */
};

/* Exact counts, kept by the store in the same transaction as each write. */
enum store_err	 store_stats_get(struct store *, struct store_stats *out);
void		 store_stats_free(struct store_stats *);	/* frees contents */

/*
 * Deletes up to batch finished tasks completed before before_ms, each in a
 * short transaction; *deleted receives the count.  Call until it is below
 * batch.
 */
enum store_err	 store_purge(struct store *, int64_t before_ms, size_t batch,
		    int64_t *deleted);

/* Cheap liveness probe for /api/health. */
enum store_err	 store_ping(struct store *);

/* ---- administration --------------------------------------------------- */

/*
 * (Appended for the taskq command; lib/store_sqlite_admin.c.)
 *
 * store_backup: an online, consistent copy of the whole database into the
 * file dest (replaced atomically when complete, never left half-written),
 * taken while other processes go on writing.
 *
 * store_migrate: store_open() and close, reporting the schema version the
 * file had before (*from, -1 when it did not exist) and after (*to).
 *
 * store_integrity_check: SQLite's integrity and foreign-key checks, the
 * kept status counts against the rows and the full-text index against the
 * tasks.  STORE_OK when the check ran; *problems is then NULL when all is
 * consistent, else one line per problem (caller frees).
 */
enum store_err	 store_backup(struct store *, const char *dest);
enum store_err	 store_migrate(const char *path, int busy_ms, int *from, int *to,
		    char *errbuf, size_t errlen);
enum store_err	 store_integrity_check(struct store *, char **problems);

/*
 * The longest this handle has waited to begin a write transaction (for the
 * database's write lock, held by another connection or process), in
 * microseconds since it was opened; -1 where the backend does not measure
 * it.  Commit time (the fsync) is not part of it.
 */
int64_t		 store_lock_wait_worst(struct store *);

/* ---- backends and wake-ups -------------------------------------------- */

/*
 * (Appended with the PostgreSQL backend, lib/store_pg.c.)  The database
 * string given to store_open() and store_migrate() names the backend: a
 * "postgresql://" or "postgres://" URI is a PostgreSQL database (libpq
 * connection URI; the programs must then not treat it as a file path), a
 * "sqlite:PATH" URL or any other string the path of a SQLite file.
 * store_is_postgresql() tells which, without opening anything.
 */
bool		 store_is_postgresql(const char *database);

/*
 * An optional wake-up channel: a descriptor that becomes readable when
 * another process has submitted (or re-queued) a task, so that a runner
 * can sleep in poll() instead of polling the database.  -1 when the backend
 * has none (SQLite: watch the file instead) or the connection is down (ask
 * again later: it changes when the backend reconnects).  After the
 * descriptor polled readable, store_wakeup_drain() consumes what arrived
 * and returns true if any of it was a wake-up.  Wake-ups sent while the
 * connection was down are lost, so the first drain after a reconnect
 * reports one; polling stays the fallback.
 */
int		 store_wakeup_fd(struct store *);
bool		 store_wakeup_drain(struct store *);

/*
 * (Appended for GET /api/metrics.)  Durations (completed_at - started_at)
 * of finished tasks, per type and outcome (SUCCESS or FAILED), counted
 * since the database was created (schema version 3; retention does
 * not lower them) in buckets bounded by store_duration_bounds_ms.  n[i]
 * counts the finishes in bucket i alone (not cumulative);
 * n[STORE_DURATION_BUCKETS] those above every bound.  *out is an array of
 * *n (caller frees); a backend that keeps no histogram gives none.
 */
#define STORE_DURATION_BUCKETS	12
extern const int64_t store_duration_bounds_ms[STORE_DURATION_BUCKETS];

struct duration_hist {
	char		 task_type[64];
	enum task_status outcome;	/* TASK_SUCCESS or TASK_FAILED */
	int64_t		 n[STORE_DURATION_BUCKETS + 1];
	int64_t		 count;		/* sum of n */
	int64_t		 sum_ms;	/* sum of the durations */
};

enum store_err	 store_duration_hist_get(struct store *, struct duration_hist **out,
		    size_t *n);

#endif /* TASKQ_STORE_H */
