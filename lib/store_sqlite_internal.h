/*
 * Test-only hooks into the SQLite store, so that the unit tests can check
 * the query plans and the migration text without copying any SQL, and the
 * SQLite backend's administration half.  Nothing outside tests/ and lib/
 * includes this header.
 */
#ifndef TASKQ_STORE_SQLITE_INTERNAL_H
#define TASKQ_STORE_SQLITE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store;

/*
 * The names of the internal queries store_sqlite_explain() knows, ending
 * with NULL (e.g. "get", "list_status", "claim").
 */
extern const char *const store_sqlite_query_names[];

/*
 * The EXPLAIN QUERY PLAN of the named internal query as its detail lines
 * joined by '\n' (caller frees), or NULL for an unknown name or an error
 * (see store_errmsg()).
 */
char		*store_sqlite_explain(struct store *, const char *query_name);

/*
 * A search combined with a status or type filter admitting at most this
 * many tasks walks the filter's index and looks each row up in the FTS
 * index; above it, the FTS matches are walked.  The tests lower it to
 * exercise both plans.
 */
extern int64_t	 store_sqlite_search_by_filter_max;

/* The SQL that migration number version (1..STORE_SCHEMA_VERSION) runs, or NULL. */
const char	*store_sqlite_migration(int version);

/*
 * (Appended for lib/store_sqlite_admin.c, the administration half of the
 * store module, which is the one user outside tests/.)  The connection of
 * a handle (borrowed), and setting the message store_errmsg() returns.
 */
struct sqlite3;
struct sqlite3	*store_sqlite_handle(struct store *);
void		 store_sqlite_set_errmsg(struct store *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * The SQLite backend's store_backup(), store_migrate() (path without any
 * "sqlite:" prefix) and store_integrity_check(), in store_sqlite_admin.c;
 * lib/store.c reaches them through store_sqlite_backend.
 */
enum store_err	 store_sqlite_backup(struct store *, const char *dest);
enum store_err	 store_sqlite_migrate(const char *path, int busy_ms, int *from,
		    int *to, char *errbuf, size_t errlen);
enum store_err	 store_sqlite_integrity_check(struct store *, char **problems);

/*
 * (Appended for tests/unit/test_durability.c.)  The name of the SQLite
 * VFS store_open() opens files through; NULL (the default) is SQLite's
 * default VFS.  The durability test registers a VFS that can simulate a
 * power cut and points this at it.
 */
extern const char *store_sqlite_vfs;

/* (Appended.)  The SQLite backend's store_duration_hist_get(). */
struct duration_hist;
enum store_err	 store_sqlite_duration_hist(struct store *,
		    struct duration_hist **, size_t *);

/*
 * (Appended for lib/store_sqlite_ckpt.c.)  The checkpointer thread of the
 * database at path, shared by the process's read-write handles on it:
 * attach starts it with the first (NULL if it cannot: the handle goes on
 * without), detach stops it with the last.  sqlite_ckpt_running() counts
 * the threads, for the tests.
 */
struct sqlite_ckpt;
struct sqlite_ckpt	*sqlite_ckpt_attach(const char *path);
void			 sqlite_ckpt_detach(struct sqlite_ckpt *);
size_t			 sqlite_ckpt_running(void);

/*
 * (Appended for the checkpointer.)  The writers' queue of the database at
 * path (lib/wqueue.h), or NULL when it cannot be had (said once a
 * process): its holder then writes on SQLite's lock alone.  A writer
 * whose turn is not handed on within STORE_SQLITE_WQ_STALE_US (its holder
 * died, or holds a long transaction) moves the queue on.
 */
#define STORE_SQLITE_WQ_STALE_US	(500 * 1000)
struct wqueue;
struct wqueue	*store_sqlite_wqueue_open(const char *path);

#endif /* TASKQ_STORE_SQLITE_INTERNAL_H */
