/*
 * The public store functions: each picks the backend of its handle (chosen
 * once, by store_open(), from the configured database) and calls its
 * operation.  Nothing here touches a database; the SQL is in the backends.
 *
 * A database string names its backend: "postgresql://..." or
 * "postgres://..." is a libpq connection URI; "sqlite:PATH" (or
 * "sqlite://PATH") and any other string is the path of a SQLite file.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_backend.h"
#include "task.h"

static const char *const store_errs[STORE_ERR__MAX] = {
	[STORE_OK] = "success",
	[STORE_NOTFOUND] = "not found",
	[STORE_CONFLICT] = "state conflict",
	[STORE_BUSY] = "database busy",
	[STORE_NOMEM] = "out of memory",
	[STORE_FULL] = "disk or database full",
	[STORE_DB] = "database error",
	[STORE_VERSION] = "unsupported schema version",
	[STORE_INVALID] = "invalid argument",
};

const char *
store_strerror(enum store_err e)
{
	if ((unsigned)e >= STORE_ERR__MAX)
		return "unknown store error";
	return store_errs[e];
}

bool
store_is_postgresql(const char *db)
{
	return db != NULL && (strncmp(db, "postgresql://", 13) == 0 ||
	    strncmp(db, "postgres://", 11) == 0);
}

/*
 * The backend for a database string and, in *arg, what its open receives:
 * NULL with a message in errbuf when the backend is not compiled in.
 */
static const struct store_backend *
backend_for(const char *db, const char **arg, char *errbuf, size_t errlen)
{
	*arg = db;
	if (store_is_postgresql(db)) {
#ifdef HAVE_LIBPQ
		return &store_pg_backend;
#else
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: this taskq was built "
			    "without PostgreSQL support (configure "
			    "--with-postgresql, Debian package libpq-dev)", db);
		return NULL;
#endif
	}
	if (strncmp(db, "sqlite://", 9) == 0)
		*arg = db + 9;
	else if (strncmp(db, "sqlite:", 7) == 0)
		*arg = db + 7;
	return &store_sqlite_backend;
}

enum store_err
store_open(const char *db, unsigned flags, int busy_ms, struct store **out,
    char *errbuf, size_t errlen)
{
	const struct store_backend	*be;
	const char			*arg;

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (db == NULL || busy_ms < 0) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "store_open: invalid argument");
		return STORE_INVALID;
	}
	if ((be = backend_for(db, &arg, errbuf, errlen)) == NULL)
		return STORE_INVALID;
	return be->open(arg, flags, busy_ms, out, errbuf, errlen);
}

void
store_close(struct store *st)
{
	if (st != NULL)
		st->be->close(st);
}

const char *
store_errmsg(const struct store *st)
{
	if (st == NULL)
		return "no store";
	return st->errmsg[0] != '\0' ? st->errmsg : "no error";
}

int
store_schema_version(struct store *st)
{
	return st->be->schema_version(st);
}

enum store_err
store_task_submit_many(struct store *st, const struct task_new *tns, size_t n,
    struct task **outs, bool *existed, enum store_err *errs)
{
	return st->be->task_submit_many(st, tns, n, outs, existed, errs);
}

enum store_err
store_task_submit(struct store *st, const struct task_new *tn,
    struct task **out, bool *existed)
{
	enum store_err	 err, item;
	bool		 ex = false;

	err = st->be->task_submit_many(st, tn, 1, out, &ex, &item);
	if (existed != NULL)
		*existed = ex;
	return err != STORE_OK ? err : item;
}

enum store_err
store_task_get(struct store *st, const char *id, struct task **out)
{
	return st->be->task_get(st, id, out);
}

enum store_err
store_task_list(struct store *st, const struct task_filter *f, int64_t cursor,
    size_t limit, struct task_list *out)
{
	return st->be->task_list(st, f, cursor, limit, out);
}

enum store_err
store_task_list_each(struct store *st, const struct task_filter *f,
    int64_t cursor, size_t limit, void (*fn)(const struct task *, void *),
    void *arg, int64_t *next_cursor)
{
	struct task_list	 l;
	enum store_err		 err;
	size_t			 i;

	if (st->be->task_list_each != NULL)
		return st->be->task_list_each(st, f, cursor, limit, fn, arg,
		    next_cursor);
	*next_cursor = 0;
	if ((err = st->be->task_list(st, f, cursor, limit, &l)) != STORE_OK)
		return err;
	for (i = 0; i < l.n; i++)
		fn(l.tasks[i], arg);
	*next_cursor = l.next_cursor;
	store_task_list_free(&l);
	return STORE_OK;
}

int64_t
store_lock_wait_worst(struct store *st)
{
	if (st->be->lock_wait_worst == NULL)
		return -1;
	return st->be->lock_wait_worst(st);
}

void
store_task_list_free(struct task_list *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		task_free(l->tasks[i]);
	free(l->tasks);
	l->tasks = NULL;
	l->n = 0;
	l->next_cursor = 0;
}

enum store_err
store_task_cancel(struct store *st, const char *id, struct task **out)
{
	return st->be->task_cancel(st, id, out);
}

enum store_err
store_task_retry(struct store *st, const char *id, struct task **out)
{
	return st->be->task_retry(st, id, out);
}

enum store_err
store_task_cancel_matching(struct store *st, const struct task_filter *f,
    int64_t *count)
{
	return st->be->task_cancel_matching(st, f, count);
}

enum store_err
store_task_retry_matching(struct store *st, const struct task_filter *f,
    int64_t *count)
{
	return st->be->task_retry_matching(st, f, count);
}

enum store_err
store_task_claim(struct store *st, const char *runner_id, size_t max,
    struct task ***out, size_t *n)
{
	return st->be->task_claim(st, runner_id, max, out, n);
}

enum store_err
store_task_progress_many(struct store *st, const struct task_progress *ps,
    size_t n)
{
	return st->be->task_progress_many(st, ps, n);
}

enum store_err
store_task_finish_many(struct store *st, const struct task_finish *fs,
    size_t n, enum store_err *errs)
{
	return st->be->task_finish_many(st, fs, n, errs);
}

enum store_err
store_task_check_held(struct store *st, const char *const *ids,
    const int64_t *tokens, size_t n, bool *gone)
{
	return st->be->task_check_held(st, ids, tokens, n, gone);
}

enum store_err
store_runner_beat(struct store *st, const struct runner_info *ri)
{
	return st->be->runner_beat(st, ri);
}

enum store_err
store_runner_remove(struct store *st, const char *runner_id)
{
	return st->be->runner_remove(st, runner_id);
}

enum store_err
store_runner_list(struct store *st, struct runner_info **out, size_t *n)
{
	return st->be->runner_list(st, out, n);
}

enum store_err
store_recover_stale(struct store *st, int64_t stale_ms, int64_t *requeued,
    int64_t *failed)
{
	return st->be->recover_stale(st, stale_ms, requeued, failed);
}

enum store_err
store_file_add(struct store *st, const struct file_info *fi)
{
	return st->be->file_add(st, fi);
}

enum store_err
store_file_get(struct store *st, const char *id, struct file_info *out)
{
	return st->be->file_get(st, id, out);
}

enum store_err
store_file_unreferenced(struct store *st, int64_t before_ms, size_t max,
    char (**out)[TASK_ID_LEN + 1], size_t *n)
{
	return st->be->file_unreferenced(st, before_ms, max, out, n);
}

enum store_err
store_file_delete(struct store *st, const char *id)
{
	return st->be->file_delete(st, id);
}

enum store_err
store_type_set_paused(struct store *st, const char *type, bool paused)
{
	return st->be->type_set_paused(st, type, paused);
}

enum store_err
store_type_is_paused(struct store *st, const char *type, bool *paused)
{
	return st->be->type_is_paused(st, type, paused);
}

enum store_err
store_stats_get(struct store *st, struct store_stats *out)
{
	return st->be->stats_get(st, out);
}

void
store_stats_free(struct store_stats *ss)
{
	if (ss == NULL)
		return;
	free(ss->types);
	ss->types = NULL;
	ss->ntypes = 0;
}

enum store_err
store_purge(struct store *st, int64_t before_ms, size_t batch,
    int64_t *deleted)
{
	return st->be->purge(st, before_ms, batch, deleted);
}

enum store_err
store_ping(struct store *st)
{
	return st->be->ping(st);
}

enum store_err
store_backup(struct store *st, const char *dest)
{
	return st->be->backup(st, dest);
}

enum store_err
store_migrate(const char *db, int busy_ms, int *from, int *to,
    char *errbuf, size_t errlen)
{
	const struct store_backend	*be;
	const char			*arg;

	*from = -1;
	*to = -1;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (db == NULL || busy_ms < 0) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "store_migrate: invalid argument");
		return STORE_INVALID;
	}
	if ((be = backend_for(db, &arg, errbuf, errlen)) == NULL)
		return STORE_INVALID;
	return be->migrate(arg, busy_ms, from, to, errbuf, errlen);
}

enum store_err
store_integrity_check(struct store *st, char **problems)
{
	return st->be->integrity_check(st, problems);
}

int
store_wakeup_fd(struct store *st)
{
	if (st == NULL || st->be->wakeup_fd == NULL)
		return -1;
	return st->be->wakeup_fd(st);
}

bool
store_wakeup_drain(struct store *st)
{
	if (st == NULL || st->be->wakeup_drain == NULL)
		return false;
	return st->be->wakeup_drain(st);
}

/*
 * The bucket bounds of the duration histogram.  Migration 3 of each
 * backend (DURATION_BUCKET_SQL in store_sqlite.c and store_pg.c) files
 * each finish under the first bound it does not exceed (or INT64_MAX,
 * "+Inf"): the three lists must stay equal.
 */
const int64_t store_duration_bounds_ms[STORE_DURATION_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
	900000, 3600000,
};

enum store_err
store_duration_hist_get(struct store *st, struct duration_hist **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (st->be->duration_hist == NULL)
		return STORE_OK;
	return st->be->duration_hist(st, out, n);
}

struct type_stats *
store_stats_type(struct store_stats *ss, const char *type, size_t *cap)
{
	struct type_stats	*p;
	size_t			 i;

	for (i = 0; i < ss->ntypes; i++)
		if (strncmp(ss->types[i].task_type, type,
		    sizeof(ss->types[i].task_type) - 1) == 0)
			return &ss->types[i];
	if (ss->ntypes == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		if ((p = reallocarray(ss->types, *cap, sizeof(*p))) == NULL)
			return NULL;
		ss->types = p;
	}
	p = &ss->types[ss->ntypes++];
	memset(p, 0, sizeof(*p));
	snprintf(p->task_type, sizeof(p->task_type), "%s", type);
	return p;
}

int
store_stats_cmp(const void *a, const void *b)
{
	return strcmp(((const struct type_stats *)a)->task_type,
	    ((const struct type_stats *)b)->task_type);
}

const char *
store_task_new_check(const struct task_new *tn, char *msg, size_t len)
{
	if (tn->task_type == NULL || tn->task_type[0] == '\0')
		return "task_type: empty";
	if (tn->priority < -100 || tn->priority > 100) {
		snprintf(msg, len, "priority: %d out of -100..100", tn->priority);
		return msg;
	}
	if (tn->max_attempts < 1 || tn->max_attempts > 25) {
		snprintf(msg, len, "max_attempts: %d out of 1..25",
		    tn->max_attempts);
		return msg;
	}
	if (tn->timeout_s < 1 || tn->timeout_s > 86400) {
		snprintf(msg, len, "timeout_s: %d out of 1..86400",
		    tn->timeout_s);
		return msg;
	}
	if (tn->run_at < 0)
		return "run_at: negative";
	if (tn->idempotency_key != NULL && (tn->idempotency_key[0] == '\0' ||
	    strlen(tn->idempotency_key) > 128))
		return "idempotency_key: length out of 1..128";
	return NULL;
}

void
store_task_new_retry(const struct task *old, struct task_new *tn)
{
	memset(tn, 0, sizeof(*tn));
	tn->task_type = old->task_type;
	tn->parameters = old->parameters;
	tn->priority = old->priority;
	tn->max_attempts = old->max_attempts;
	tn->timeout_s = old->timeout_s;
	tn->retry_of = old->id;
}

bool
store_err_is_fatal(enum store_err e)
{
	return e != STORE_OK && e != STORE_INVALID && e != STORE_CONFLICT &&
	    e != STORE_NOTFOUND;
}
