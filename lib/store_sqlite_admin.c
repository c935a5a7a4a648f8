/*
 * Administration of the SQLite task store for the taskq command: online
 * backup, migration with its before/after versions, and the consistency
 * check.  Part of the store module (it contains SQL); it reaches the
 * connection through the accessors of store_sqlite_internal.h, so the
 * hot-path file store_sqlite.c stays as it is.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_sqlite_internal.h"
#include "task.h"

/* A growable text of problem lines, for store_sqlite_integrity_check(). */
struct report {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 oom;
};

static void
report_add(struct report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
report_add(struct report *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*n;
	size_t	 cap;
	int	 len;

	if (r->oom)
		return;
	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0) {
		r->oom = 1;
		return;
	}
	if (r->len + (size_t)len + 2 > r->cap) {
		cap = (r->len + (size_t)len + 2) * 2;
		if ((n = realloc(r->p, cap)) == NULL) {
			r->oom = 1;
			return;
		}
		r->p = n;
		r->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(r->p + r->len, (size_t)len + 1, fmt, ap);
	va_end(ap);
	r->len += (size_t)len;
	r->p[r->len++] = '\n';
	r->p[r->len] = '\0';
}

/* Sets the handle's message from SQLite's and maps rc like the store does. */
static enum store_err
admin_err(struct store *st, sqlite3 *db, int rc, const char *what)
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
	default:
		e = STORE_DB;
		break;
	}
	store_sqlite_set_errmsg(st, "%s: %s", what,
	    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return e;
}

/*
 * The online backup: sqlite3_backup_step(-1) copies every page inside one
 * read transaction on the source, which under WAL never blocks the daemons'
 * writers and yields a snapshot as of its start.  The copy is written to
 * DEST.tmp-PID, switched from WAL to a rollback journal so that it is one
 * self-contained file, synced, and renamed over dest only when complete.
 */
enum store_err
store_sqlite_backup(struct store *st, const char *dest)
{
	sqlite3		*src, *db = NULL;
	sqlite3_backup	*b = NULL;
	enum store_err	 err = STORE_OK;
	char		*tmp = NULL, *aux = NULL;
	int		 rc;

	src = store_sqlite_handle(st);
	if (dest == NULL || *dest == '\0') {
		store_sqlite_set_errmsg(st, "backup: no destination");
		return STORE_INVALID;
	}
	if (asprintf(&tmp, "%s.tmp-%ld", dest, (long)getpid()) == -1) {
		tmp = NULL;
		store_sqlite_set_errmsg(st, "backup: out of memory");
		return STORE_NOMEM;
	}
	(void)unlink(tmp);
	rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = admin_err(st, db, rc, tmp);
		goto out;
	}
	if ((b = sqlite3_backup_init(db, "main", src, "main")) == NULL) {
		err = admin_err(st, db, sqlite3_errcode(db), "backup");
		goto out;
	}
	rc = sqlite3_backup_step(b, -1);
	/* finish releases the source's read transaction whatever happened. */
	if (sqlite3_backup_finish(b) != SQLITE_OK && rc == SQLITE_DONE)
		rc = sqlite3_errcode(db);
	b = NULL;
	if (rc != SQLITE_DONE) {
		err = admin_err(st, db, rc, "backup");
		goto out;
	}
	rc = sqlite3_exec(db, "PRAGMA journal_mode = DELETE;"
	    "PRAGMA synchronous = FULL;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = admin_err(st, db, rc, "backup: journal_mode");
		goto out;
	}
	rc = sqlite3_close(db);
	db = NULL;
	if (rc != SQLITE_OK) {
		err = admin_err(st, NULL, rc, "backup: close");
		goto out;
	}
	if (rename(tmp, dest) == -1) {
		store_sqlite_set_errmsg(st, "rename %s to %s: %s", tmp, dest,
		    strerror(errno));
		err = STORE_DB;
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (b != NULL)
		sqlite3_backup_finish(b);
	sqlite3_close(db);
	if (tmp != NULL) {
		(void)unlink(tmp);
		if (asprintf(&aux, "%s-journal", tmp) != -1) {
			(void)unlink(aux);
			free(aux);
		}
		free(tmp);
	}
	return err;
}

/*
 * Reads the schema version of the file at path without changing it, then
 * opens it with store_open (which creates or migrates): *from is -1 when
 * the file did not exist, *to the version afterwards.
 */
enum store_err
store_sqlite_migrate(const char *path, int busy_ms, int *from, int *to,
    char *errbuf, size_t errlen)
{
	struct store	*st = NULL;
	sqlite3		*db = NULL;
	sqlite3_stmt	*s = NULL;
	enum store_err	 err;
	int		 rc;

	*from = -1;
	*to = -1;
	if (access(path, F_OK) == 0) {
		rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
		if (rc == SQLITE_OK)
			sqlite3_busy_timeout(db, busy_ms);
		if (rc == SQLITE_OK)
			rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1,
			    &s, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			*from = sqlite3_column_int(s, 0);
			rc = SQLITE_OK;
		}
		if (rc != SQLITE_OK && errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: %s", path, db != NULL ?
			    sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_finalize(s);
		sqlite3_close(db);
		if (rc != SQLITE_OK)
			return (rc & 0xff) == SQLITE_BUSY ? STORE_BUSY : STORE_DB;
	}
	err = store_open(path, 0, busy_ms, &st, errbuf, errlen);
	if (err == STORE_OK)
		*to = store_schema_version(st);
	store_close(st);
	return err;
}

/* Appends every row of a one-column check (integrity_check's "ok" skipped). */
static int
check_rows(sqlite3 *db, const char *sql, const char *label, struct report *r)
{
	sqlite3_stmt	*s = NULL;
	const char	*text;
	int		 rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		text = (const char *)sqlite3_column_text(s, 0);
		if (text == NULL || strcmp(text, "ok") == 0)
			continue;
		report_add(r, "%s: %s", label, text);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * The kept counts (counts table) against COUNT(*) over tasks, per type and
 * status, in one read transaction so that both sides see the same snapshot.
 */
static int
check_counts(sqlite3 *db, struct report *r)
{
	static const char sql[] =
	    "WITH actual AS (SELECT task_type, status, count(*) AS n "
	    "FROM tasks GROUP BY task_type, status), "
	    "keys AS (SELECT task_type, status FROM counts "
	    "UNION SELECT task_type, status FROM actual) "
	    "SELECT k.task_type, k.status, "
	    "coalesce((SELECT n FROM counts AS c WHERE c.task_type = "
	    "k.task_type AND c.status = k.status), 0) AS kept, "
	    "coalesce((SELECT n FROM actual AS a WHERE a.task_type = "
	    "k.task_type AND a.status = k.status), 0) AS real "
	    "FROM keys AS k WHERE kept <> real ORDER BY 1, 2";
	sqlite3_stmt	*s = NULL;
	int		 rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		report_add(r, "counts: %s %s: kept %" PRId64 ", actual %"
		    PRId64, (const char *)sqlite3_column_text(s, 0),
		    (const char *)sqlite3_column_text(s, 1),
		    (int64_t)sqlite3_column_int64(s, 2),
		    (int64_t)sqlite3_column_int64(s, 3));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * PRAGMA integrity_check, PRAGMA foreign_key_check, the kept status counts
 * against the rows, and the FTS5 index against its content table.  The
 * last is an INSERT command to FTS5 and so takes the write lock for as long
 * as it runs: this is an operator's check, not a monitoring probe.
 */
enum store_err
store_sqlite_integrity_check(struct store *st, char **problems)
{
	sqlite3		*db;
	struct report	 r = { NULL, 0, 0, 0 };
	enum store_err	 err = STORE_OK;
	int		 rc;

	*problems = NULL;
	db = store_sqlite_handle(st);
	if ((rc = check_rows(db, "PRAGMA integrity_check", "integrity_check",
	    &r)) != SQLITE_OK) {
		err = admin_err(st, db, rc, "integrity_check");
		goto out;
	}
	if ((rc = check_rows(db, "PRAGMA foreign_key_check", "foreign_key_check",
	    &r)) != SQLITE_OK) {
		err = admin_err(st, db, rc, "foreign_key_check");
		goto out;
	}
	if ((rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK) {
		err = admin_err(st, db, rc, "begin");
		goto out;
	}
	rc = check_counts(db, &r);
	(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = admin_err(st, db, rc, "counts");
		goto out;
	}
	rc = sqlite3_exec(db, "INSERT INTO tasks_fts (tasks_fts, rank) "
	    "VALUES ('integrity-check', 1)", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_CORRUPT)
		report_add(&r, "full-text index: %s", sqlite3_errmsg(db));
	else if (rc != SQLITE_OK) {
		err = admin_err(st, db, rc, "full-text index check");
		goto out;
	}
	if (r.oom) {
		store_sqlite_set_errmsg(st, "integrity check: out of memory");
		err = STORE_NOMEM;
		goto out;
	}
	*problems = r.p;
	r.p = NULL;
out:
	free(r.p);
	return err;
}

/* ---- metrics ------------------------------------------------------------ */

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
 * Every (type, outcome) histogram of duration_hist (migration 3), ordered
 * by type then outcome, read in one statement, so one snapshot.  The table
 * holds a few rows per type and outcome: cheap enough for every scrape.
 */
enum store_err
store_sqlite_duration_hist(struct store *st, struct duration_hist **out,
    size_t *n)
{
	static const char sql[] =
	    "SELECT task_type, outcome, le_ms, n, sum_ms FROM duration_hist "
	    "ORDER BY task_type, outcome";
	sqlite3			*db = store_sqlite_handle(st);
	sqlite3_stmt		*s = NULL;
	struct duration_hist	*h = NULL, *nh, *cur = NULL;
	enum store_err		 err = STORE_OK;
	const char		*type, *outcome;
	size_t			 cnt = 0, cap = 0;
	int			 rc, sv;

	*out = NULL;
	*n = 0;
	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK)
		return admin_err(st, db, rc, "duration histogram");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		type = (const char *)sqlite3_column_text(s, 0);
		outcome = (const char *)sqlite3_column_text(s, 1);
		if (type == NULL || outcome == NULL ||
		    (sv = task_status_parse(outcome)) < 0)
			continue;
		if (cur == NULL || strcmp(cur->task_type, type) != 0 ||
		    cur->outcome != (enum task_status)sv) {
			if (cnt == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				if ((nh = reallocarray(h, cap, sizeof(*h))) == NULL) {
					store_sqlite_set_errmsg(st, "duration "
					    "histogram: out of memory");
					err = STORE_NOMEM;
					goto out;
				}
				h = nh;
			}
			cur = &h[cnt++];
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->task_type, sizeof(cur->task_type), "%s", type);
			cur->outcome = (enum task_status)sv;
		}
		cur->n[bucket_of(sqlite3_column_int64(s, 2))] +=
		    sqlite3_column_int64(s, 3);
		cur->count += sqlite3_column_int64(s, 3);
		cur->sum_ms += sqlite3_column_int64(s, 4);
	}
	if (rc != SQLITE_DONE) {
		err = admin_err(st, db, rc, "duration histogram");
		goto out;
	}
	*out = h;
	*n = cnt;
	h = NULL;
out:
	sqlite3_finalize(s);
	free(h);
	return err;
}
