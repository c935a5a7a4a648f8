/*
 * Durability under power loss: every task the store acknowledged
 * (store_task_submit returned STORE_OK, which is when taskq-api answers
 * 201) is still there after a power cut at any moment, and the database
 * is intact.
 *
 * The store runs on "powercut", a SQLite VFS wrapping the default unix
 * one (selected through store_sqlite_vfs, store_sqlite_internal.h).  It
 * writes through, but for each file keeps undo records of every write and
 * truncation since that file's last successful xSync.  At the simulated
 * cut (the Nth xWrite/xTruncate/xSync of the run) that call and every
 * later one fail as if the machine had stopped; once the store is closed,
 * the undo records are applied, newest first, so each file holds what a
 * disk would: everything synced, and of the rest either nothing (the
 * strict model) or an ordered prefix of the unsynced writes (a disk that
 * wrote in order and stopped part way).  The -shm file needs no model:
 * SQLite rebuilds it from the WAL when the first connection opens.  File
 * creation and deletion count as durable (directory entries are not
 * modelled).  The database is then reopened with the plain VFS: it must
 * open, pass store_integrity_check (SQLite's integrity and foreign-key
 * checks, the kept counts, the full-text index), and hold every
 * acknowledged task, each acknowledged finish as SUCCESS.
 *
 * The workload mixes single submits, group submits, claims, finishes and
 * explicit checkpoints (so the cut also lands while pages move from the
 * WAL into the database).  A run without a cut counts its calls; then
 * DURABILITY_RUNS (200) runs cut at random points, alternating the two
 * models.  TASKQ_DURABILITY_SEED replays one sequence.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store_sqlite_internal.h"
#include "task.h"

#define DURABILITY_RUNS	200
#define WORK_STEPS	40

/* ---- the powercut VFS --------------------------------------------------- */

/* One write or truncation not yet synced, and how to undo it. */
struct undo {
	int64_t		 off;		/* where the old bytes go back */
	unsigned char	*old;		/* bytes the op overwrote or cut off */
	size_t		 len;
	int64_t		 size_before;	/* file size before the op */
};

/* Per path: what has changed since its last sync. */
struct track {
	char		*path;
	struct undo	*u;
	size_t		 n, cap;
	struct track	*next;
};

struct pc_file {
	sqlite3_file	 base;
	sqlite3_file	*real;		/* the unix VFS's file, after this struct */
	struct track	*t;		/* NULL: not tracked (no name) */
};

static sqlite3_vfs	*unix_vfs;
static sqlite3_vfs	 pc_vfs;
static struct track	*tracks;
static long		 pc_ops;	/* counted calls so far */
static long		 pc_cut_at;	/* the call that fails first; 0 never */
static int		 pc_dead;	/* the power is off */

static struct track *
track_get(const char *path)
{
	struct track	*t;

	for (t = tracks; t != NULL; t = t->next)
		if (strcmp(t->path, path) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->path = strdup(path);
	assert_non_null(t->path);
	t->next = tracks;
	tracks = t;
	return t;
}

static void
track_clear(struct track *t)
{
	size_t	 i;

	for (i = 0; i < t->n; i++)
		free(t->u[i].old);
	t->n = 0;
}

static void
tracks_free(void)
{
	struct track	*t;

	while ((t = tracks) != NULL) {
		tracks = t->next;
		track_clear(t);
		free(t->u);
		free(t->path);
		free(t);
	}
}

/* Counts one write, truncation or sync; false once the power is off. */
static int
pc_tick(void)
{
	if (pc_dead)
		return 0;
	pc_ops++;
	if (pc_cut_at != 0 && pc_ops >= pc_cut_at) {
		pc_dead = 1;
		return 0;
	}
	return 1;
}

/* Records the bytes [off, off+len) of f before they change. */
static int
pc_record(struct pc_file *f, int64_t off, int64_t len)
{
	struct undo	*u;
	sqlite3_int64	 size;
	int		 rc;

	if (f->t == NULL)
		return SQLITE_OK;
	if ((rc = f->real->pMethods->xFileSize(f->real, &size)) != SQLITE_OK)
		return rc;
	if (f->t->n == f->t->cap) {
		f->t->cap = f->t->cap ? f->t->cap * 2 : 16;
		u = realloc(f->t->u, f->t->cap * sizeof(*u));
		assert_non_null(u);
		f->t->u = u;
	}
	u = &f->t->u[f->t->n];
	memset(u, 0, sizeof(*u));
	u->off = off;
	u->size_before = size;
	if (off < size) {
		u->len = (size_t)((off + len <= size ? len : size - off));
		u->old = malloc(u->len);
		assert_non_null(u->old);
		rc = f->real->pMethods->xRead(f->real, u->old, (int)u->len, off);
		if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
			free(u->old);
			return rc;
		}
	}
	f->t->n++;
	return SQLITE_OK;
}

static int
pc_close(sqlite3_file *file)
{
	struct pc_file	*f = (struct pc_file *)file;
	int		 rc = SQLITE_OK;

	if (f->real->pMethods != NULL)
		rc = f->real->pMethods->xClose(f->real);
	return rc;
}

static int
pc_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int
pc_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
	struct pc_file	*f = (struct pc_file *)file;
	int		 rc;

	if (!pc_tick())
		return SQLITE_IOERR_WRITE;
	if ((rc = pc_record(f, off, amt)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

static int
pc_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct pc_file	*f = (struct pc_file *)file;
	sqlite3_int64	 cur;
	int		 rc;

	if (!pc_tick())
		return SQLITE_IOERR_TRUNCATE;
	if ((rc = f->real->pMethods->xFileSize(f->real, &cur)) != SQLITE_OK)
		return rc;
	if (cur > size && (rc = pc_record(f, size, cur - size)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xTruncate(f->real, size);
}

static int
pc_sync(sqlite3_file *file, int flags)
{
	struct pc_file	*f = (struct pc_file *)file;
	int		 rc;

	if (!pc_tick())
		return SQLITE_IOERR_FSYNC;
	rc = f->real->pMethods->xSync(f->real, flags);
	if (rc == SQLITE_OK && f->t != NULL)
		track_clear(f->t);
	return rc;
}

static int
pc_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xFileSize(f->real, size);
}

static int
pc_lock(sqlite3_file *file, int lock)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xLock(f->real, lock);
}

static int
pc_unlock(sqlite3_file *file, int lock)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xUnlock(f->real, lock);
}

static int
pc_check_reserved(sqlite3_file *file, int *out)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
pc_file_control(sqlite3_file *file, int op, void *arg)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
pc_sector_size(sqlite3_file *file)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xSectorSize(f->real);
}

static int
pc_device_characteristics(sqlite3_file *file)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int
pc_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int
pc_shm_lock(sqlite3_file *file, int off, int n, int flags)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xShmLock(f->real, off, n, flags);
}

static void
pc_shm_barrier(sqlite3_file *file)
{
	struct pc_file	*f = (struct pc_file *)file;

	f->real->pMethods->xShmBarrier(f->real);
}

static int
pc_shm_unmap(sqlite3_file *file, int del)
{
	struct pc_file	*f = (struct pc_file *)file;

	return f->real->pMethods->xShmUnmap(f->real, del);
}

/* Version 2: shared memory for WAL, but no xFetch, so no mmap'd pages
 * that would change the file without an xWrite. */
static const sqlite3_io_methods pc_io = {
	2, pc_close, pc_read, pc_write, pc_truncate, pc_sync, pc_file_size,
	pc_lock, pc_unlock, pc_check_reserved, pc_file_control, pc_sector_size,
	pc_device_characteristics, pc_shm_map, pc_shm_lock, pc_shm_barrier,
	pc_shm_unmap, NULL, NULL,
};

static int
pc_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
    int *outflags)
{
	struct pc_file	*f = (struct pc_file *)file;
	int		 rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = unix_vfs->xOpen(unix_vfs, name, f->real, flags, outflags);
	if (rc != SQLITE_OK)
		return rc;
	if (name != NULL)
		f->t = track_get(name);
	f->base.pMethods = &pc_io;
	return SQLITE_OK;
}

static int
pc_delete(sqlite3_vfs *vfs, const char *name, int syncdir)
{
	struct track	*t;

	(void)vfs;
	if (pc_dead)
		return SQLITE_IOERR_DELETE;
	for (t = tracks; t != NULL; t = t->next)
		if (strcmp(t->path, name) == 0)
			track_clear(t);
	return unix_vfs->xDelete(unix_vfs, name, syncdir);
}

static int
pc_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return unix_vfs->xAccess(unix_vfs, name, flags, out);
}

static int
pc_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xFullPathname(unix_vfs, name, n, out);
}

static int
pc_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xRandomness(unix_vfs, n, out);
}

static int
pc_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return unix_vfs->xSleep(unix_vfs, us);
}

static int
pc_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return unix_vfs->xCurrentTime(unix_vfs, out);
}

static int
pc_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xGetLastError(unix_vfs, n, out);
}

static int
pc_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return unix_vfs->xCurrentTimeInt64(unix_vfs, out);
}

static void
pc_register(void)
{
	unix_vfs = sqlite3_vfs_find(NULL);
	assert_non_null(unix_vfs);
	memset(&pc_vfs, 0, sizeof(pc_vfs));
	pc_vfs.iVersion = 2;
	pc_vfs.szOsFile = (int)sizeof(struct pc_file) + unix_vfs->szOsFile;
	pc_vfs.mxPathname = unix_vfs->mxPathname;
	pc_vfs.zName = "powercut";
	pc_vfs.xOpen = pc_open;
	pc_vfs.xDelete = pc_delete;
	pc_vfs.xAccess = pc_access;
	pc_vfs.xFullPathname = pc_full_pathname;
	pc_vfs.xRandomness = pc_randomness;
	pc_vfs.xSleep = pc_sleep;
	pc_vfs.xCurrentTime = pc_current_time;
	pc_vfs.xGetLastError = pc_last_error;
	pc_vfs.xCurrentTimeInt64 = pc_current_time64;
	assert_int_equal(sqlite3_vfs_register(&pc_vfs, 0), SQLITE_OK);
}

/*
 * The disk after the cut: the unsynced ops of each file from index keep
 * on are undone, newest first, and the file cut to its size before the
 * first of them.  keep_prefix: keep a random prefix of them (an
 * in-order disk that stopped part way) instead of none.
 */
static void
pc_apply_cut(int keep_prefix)
{
	struct track	*t;
	struct undo	*u;
	size_t		 keep, i;
	int		 fd;

	for (t = tracks; t != NULL; t = t->next) {
		if (t->n == 0)
			continue;
		keep = keep_prefix ? (size_t)rand() % (t->n + 1) : 0;
		if (keep == t->n) {
			track_clear(t);
			continue;
		}
		fd = open(t->path, O_WRONLY);
		if (fd == -1 && errno == ENOENT) {
			track_clear(t);
			continue;
		}
		assert_true(fd != -1);
		for (i = t->n; i-- > keep; ) {
			u = &t->u[i];
			if (u->len > 0)
				assert_int_equal(pwrite(fd, u->old, u->len, u->off),
				    (ssize_t)u->len);
		}
		assert_int_equal(ftruncate(fd, t->u[keep].size_before), 0);
		close(fd);
		track_clear(t);
	}
}

/* ---- the workload -------------------------------------------------------- */

struct acked {
	char	 (*ids)[TASK_ID_LEN + 1];	/* submits acknowledged */
	size_t	 n;
	char	 (*done)[TASK_ID_LEN + 1];	/* finishes acknowledged */
	size_t	 ndone;
};

static char	 dir[128], db[192];

static void
acked_add(char (**v)[TASK_ID_LEN + 1], size_t *n, const char *id)
{
	char	 (*p)[TASK_ID_LEN + 1];

	p = realloc(*v, (*n + 1) * sizeof(**v));
	assert_non_null(p);
	*v = p;
	memcpy(p[*n], id, TASK_ID_LEN + 1);
	(*n)++;
}

static void
remove_db(void)
{
	char	 p[256];

	unlink(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
}

/*
 * Runs the workload through the powercut VFS until it ends or the power
 * goes; records what the store acknowledged.
 */
static void
workload(struct acked *a)
{
	static const char *const params = "{\"message\": \"durable\"}";
	struct store		*st = NULL;
	struct task		*t, *outs[3], **claimed;
	struct task_new		 tn, many[3];
	struct task_finish	 fin[2];
	enum store_err		 errs[3], ferrs[2];
	bool			 existed, ex3[3];
	char			 err[512];
	size_t			 i, j, n;

	memset(a, 0, sizeof(*a));
	store_sqlite_vfs = "powercut";
	if (store_open(db, 0, 1000, &st, err, sizeof(err)) != STORE_OK) {
		assert_true(pc_dead);
		goto out;
	}
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.parameters = params;
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	for (i = 0; i < 3; i++)
		many[i] = tn;
	for (i = 0; i < WORK_STEPS && !pc_dead; i++) {
		if (i % 7 == 3) {
			if (store_task_submit_many(st, many, 3, outs, ex3, errs) ==
			    STORE_OK)
				for (j = 0; j < 3; j++) {
					if (errs[j] == STORE_OK)
						acked_add(&a->ids, &a->n, outs[j]->id);
					task_free(outs[j]);
				}
		} else if (i % 10 == 5) {
			if (store_task_claim(st, "durability-runner", 2, &claimed,
			    &n) != STORE_OK)
				continue;
			memset(fin, 0, sizeof(fin));
			for (j = 0; j < n; j++) {
				fin[j].id = claimed[j]->id;
				fin[j].claim_token = claimed[j]->claim_token;
				fin[j].outcome = OUTCOME_SUCCESS;
				fin[j].result_data = "{\"message\": \"durable\"}";
			}
			if (n > 0 && store_task_finish_many(st, fin, n, ferrs) ==
			    STORE_OK)
				for (j = 0; j < n; j++)
					if (ferrs[j] == STORE_OK)
						acked_add(&a->done, &a->ndone,
						    claimed[j]->id);
			for (j = 0; j < n; j++)
				task_free(claimed[j]);
			free(claimed);
		} else if (i % 13 == 12) {
			/* What wal_autocheckpoint does after 4096 pages. */
			sqlite3_wal_checkpoint_v2(store_sqlite_handle(st), NULL,
			    i % 2 ? SQLITE_CHECKPOINT_TRUNCATE :
			    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		} else if (store_task_submit(st, &tn, &t, &existed) == STORE_OK) {
			acked_add(&a->ids, &a->n, t->id);
			task_free(t);
		}
	}
out:
	store_close(st);
	store_sqlite_vfs = NULL;
}

/* Reopens with the plain VFS and checks what a; returns the task count. */
static int64_t
verify(const struct acked *a, long cut)
{
	struct store		*st = NULL;
	struct store_stats	 ss;
	struct task		*t;
	char			 err[512], *problems = NULL;
	int64_t			 total = 0;
	size_t			 i;
	int			 s;

	if (store_open(db, 0, 1000, &st, err, sizeof(err)) != STORE_OK)
		fail_msg("cut at call %ld: the database does not reopen: %s",
		    cut, err);
	assert_int_equal(store_integrity_check(st, &problems), STORE_OK);
	if (problems != NULL)
		fail_msg("cut at call %ld: integrity check: %s", cut, problems);
	for (i = 0; i < a->n; i++) {
		if (store_task_get(st, a->ids[i], &t) != STORE_OK)
			fail_msg("cut at call %ld: acknowledged task %s is lost",
			    cut, a->ids[i]);
		task_free(t);
	}
	for (i = 0; i < a->ndone; i++) {
		assert_int_equal(store_task_get(st, a->done[i], &t), STORE_OK);
		if (t->status != TASK_SUCCESS)
			fail_msg("cut at call %ld: acknowledged finish of %s is "
			    "lost (%s)", cut, a->done[i],
			    task_status_names[t->status]);
		task_free(t);
	}
	assert_int_equal(store_stats_get(st, &ss), STORE_OK);
	for (s = 0; s < TASK_STATUS__MAX; s++)
		total += ss.by_status[s];
	store_stats_free(&ss);
	assert_true(total >= (int64_t)a->n);
	store_close(st);
	return total;
}

static void
acked_free(struct acked *a)
{
	free(a->ids);
	free(a->done);
}

static void
test_power_cut_keeps_acknowledged_tasks(void **state)
{
	struct acked	 a;
	const char	*env;
	unsigned	 seed;
	long		 total_ops, cut;
	int64_t		 lost_unacked = 0, n;
	size_t		 acked_sum = 0;
	int		 run, runs = DURABILITY_RUNS;

	(void)state;
	seed = (unsigned)time(NULL);
	if ((env = getenv("TASKQ_DURABILITY_SEED")) != NULL)
		seed = (unsigned)strtoul(env, NULL, 10);
	print_message("seed %u (TASKQ_DURABILITY_SEED replays it)\n", seed);
	srand(seed);

	/* A full run, uncut, counts the calls a cut can land on. */
	remove_db();
	pc_cut_at = 0;
	pc_ops = 0;
	pc_dead = 0;
	workload(&a);
	total_ops = pc_ops;
	assert_true(total_ops > 50);
	assert_true(a.n > 20 && a.ndone > 0);
	verify(&a, 0);
	acked_free(&a);
	tracks_free();

	for (run = 0; run < runs; run++) {
		remove_db();
		cut = 1 + rand() % total_ops;
		pc_cut_at = cut;
		pc_ops = 0;
		pc_dead = 0;
		workload(&a);
		pc_apply_cut(run % 2);
		n = verify(&a, cut);
		acked_sum += a.n;
		lost_unacked += n - (int64_t)a.n;
		acked_free(&a);
		tracks_free();
	}
	print_message("%d power cuts over %ld calls: %zu acknowledged tasks, "
	    "all found; %" PRId64 " unacknowledged ones survived too\n", runs,
	    total_ops, acked_sum, lost_unacked);
	remove_db();
}

static int
setup(void **state)
{
	(void)state;
	log_init("test_durability", LOG_LEVEL_ERROR);
	snprintf(dir, sizeof(dir), "%s/taskq-durability-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(db, sizeof(db), "%s/taskq.db", dir);
	pc_register();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	remove_db();
	rmdir(dir);
	sqlite3_vfs_unregister(&pc_vfs);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_cut_keeps_acknowledged_tasks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
