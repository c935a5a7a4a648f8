/*
 * The SQLite store's checkpointer: one thread per database file in a
 * process, started with the first read-write handle on it and stopped with
 * the last, that copies the write-ahead log into the database file as the
 * log grows (a PASSIVE checkpoint: it neither waits for nor blocks
 * writers), every 100 ms while the log grows and every second while it
 * does not.
 *
 * Why: SQLite checkpoints inside the commit that takes the log past 4096
 * pages, copying all of them into the database and syncing it while that
 * writer still has its turn, so every writer queued behind it (submits in
 * taskq-api, the runner's finishes) waits 30 to 300 ms.  That checkpoint
 * cannot simply be dropped: only a checkpoint that reaches the end of the
 * log lets the next writer start the log over, and one running beside the
 * writers never does (the log grew past 300 MB in 15 s of submits when it
 * was tried).  So this thread copies ahead, and once the log is past
 * CKPT_FINISH_LOG pages it reaches the end itself, holding up the writers
 * only for the last few pages (ckpt_finish): the commits' own checkpoint
 * is left for when the thread cannot keep up.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_internal.h"
#include "wqueue.h"

/*
 * The log's length in pages past which the thread finishes a checkpoint
 * while holding a turn in the writers' queue (see ckpt_finish), well
 * short of the 4096 pages at which a commit would checkpoint itself.
 */
#define CKPT_FINISH_LOG		1024

struct sqlite_ckpt {
	pid_t			 pid;		/* whose thread: not a forked child's */
	char			*path;
	size_t			 refs;
	bool			 stop;
	pthread_cond_t		 wake;
	pthread_t		 thread;
	sqlite3			*db;
	struct wqueue		*wq;		/* the writers' queue, or NULL */
	struct sqlite_ckpt	*next;
};

/* Guards the list and every member of its entries. */
static pthread_mutex_t		 ckpt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sqlite_ckpt	*ckpts;

/*
 * Syncs the database file: what passive passes copied into it so far
 * reaches the disk now, while no writer waits for it.
 */
static int
ckpt_sync_db(struct sqlite_ckpt *c)
{
	sqlite3_file	*f = NULL;
	int		 rc;

	rc = sqlite3_file_control(c->db, "main", SQLITE_FCNTL_FILE_POINTER, &f);
	if (rc != SQLITE_OK || f == NULL || f->pMethods == NULL)
		return rc;
	return f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
}

/*
 * Finishes the checkpoint of a log longer than CKPT_FINISH_LOG pages.
 *
 * A passive pass copies the frames there were when it began, and writers
 * append more meanwhile, so it never reaches the end of a log that is
 * being written; and only a pass that reaches the end syncs the database
 * file, then lets the next writer start the log over.  Left to itself,
 * the commit that takes the log past wal_autocheckpoint does it, copying
 * the rest and syncing every page copied since the log began while each
 * writer queued behind it waits (17 to 40 ms at 400 commits a second: the
 * submits' p99).
 *
 * So the thread syncs the database file and copies what was appended
 * meanwhile, twice, without holding anyone up (each round leaves less to
 * copy and sync), then makes the last pass in a turn of the writers'
 * queue, where nothing is appended: it copies a few dozen pages, syncs
 * them and reaches the end.
 */
static int
ckpt_finish(struct sqlite_ckpt *c, int *log, int *done)
{
	uint32_t	 ticket;
	int		 rc = SQLITE_OK, round;

	for (round = 0; round < 2 && rc == SQLITE_OK; round++)
		if ((rc = ckpt_sync_db(c)) == SQLITE_OK)
			rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
			    SQLITE_CHECKPOINT_PASSIVE, log, done);
	if (rc != SQLITE_OK)
		return rc;
	ticket = wqueue_enter(c->wq, STORE_SQLITE_WQ_STALE_US);
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    log, done);
	wqueue_leave(c->wq, ticket);
	return rc;
}

static void *
ckpt_main(void *arg)
{
	struct sqlite_ckpt	*c = arg;
	struct timespec		 until;
	time_t			 warned = 0;
	int			 log = 0, done = 0, prev_log = -1, prev_done = -1;
	int			 rc;
	long			 ms;

	pthread_mutex_lock(&ckpt_lock);
	while (!c->stop) {
		pthread_mutex_unlock(&ckpt_lock);
		/*
		 * BUSY is another process checkpointing.  Other failures (a
		 * full disk) are said at most once a minute and tried again:
		 * the commits' own checkpoints still run meanwhile.  (By the
		 * code: a failed sync in ckpt_finish leaves no message on the
		 * connection.)
		 */
		rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		/* (An unchanged log: the last pass found no writer.) */
		if (rc == SQLITE_OK && c->wq != NULL && log > CKPT_FINISH_LOG &&
		    log != prev_log)
			rc = ckpt_finish(c, &log, &done);
		if (rc != SQLITE_OK) {
			if ((rc & 0xff) != SQLITE_BUSY &&
			    time(NULL) - warned >= 60) {
				warned = time(NULL);
				log_warnx("%s: checkpoint: %s (code %d)",
				    c->path, sqlite3_errstr(rc), rc);
			}
			log = done = -1;
		}
		ms = log != prev_log || done != prev_done ? 100 : 1000;
		prev_log = log;
		prev_done = done;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ms / 1000;
		until.tv_nsec += (ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&ckpt_lock);
		while (!c->stop &&
		    pthread_cond_timedwait(&c->wake, &ckpt_lock, &until) == 0)
			continue;
	}
	pthread_mutex_unlock(&ckpt_lock);
	return NULL;
}

static void
ckpt_free(struct sqlite_ckpt *c)
{
	wqueue_close(c->wq);
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->wake);
	free(c->path);
	free(c);
}

struct sqlite_ckpt *
sqlite_ckpt_attach(const char *path)
{
	struct sqlite_ckpt	*c;
	sigset_t		 all, old;
	int			 e;

	pthread_mutex_lock(&ckpt_lock);
	for (c = ckpts; c != NULL; c = c->next)
		if (c->pid == getpid() && strcmp(c->path, path) == 0) {
			c->refs++;
			pthread_mutex_unlock(&ckpt_lock);
			return c;
		}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL ||
	    pthread_cond_init(&c->wake, NULL) != 0) {
		if (c != NULL)
			free(c->path);
		free(c);
		pthread_mutex_unlock(&ckpt_lock);
		log_warnx("%s: no checkpointer: out of memory", path);
		return NULL;
	}
	/*
	 * A connection takes the file for a WAL database only once it has
	 * read it: until then a checkpoint would do nothing.
	 */
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "PRAGMA schema_version", NULL, NULL,
	    NULL) != SQLITE_OK) {
		log_warnx("%s: no checkpointer: %s", path, c->db != NULL ?
		    sqlite3_errmsg(c->db) : "out of memory");
		ckpt_free(c);
		pthread_mutex_unlock(&ckpt_lock);
		return NULL;
	}
	c->wq = store_sqlite_wqueue_open(path);
	/*
	 * The thread takes no signal: taskq-api and the runner wait for
	 * theirs in one thread with them blocked, and a signal delivered here
	 * would take its default action (SIGTERM: exit at once).
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&c->thread, NULL, ckpt_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e == 0)
		(void)pthread_setname_np(c->thread, "taskq-ckpt");
	if (e != 0) {
		log_warnx("%s: no checkpointer: pthread_create: %s", path,
		    strerror(e));
		ckpt_free(c);
		pthread_mutex_unlock(&ckpt_lock);
		return NULL;
	}
	c->refs = 1;
	c->pid = getpid();
	c->next = ckpts;
	ckpts = c;
	pthread_mutex_unlock(&ckpt_lock);
	return c;
}

void
sqlite_ckpt_detach(struct sqlite_ckpt *c)
{
	struct sqlite_ckpt	**pp;

	/* A forked child's copy: its thread did not follow the fork. */
	if (c == NULL || c->pid != getpid())
		return;
	pthread_mutex_lock(&ckpt_lock);
	if (--c->refs > 0) {
		pthread_mutex_unlock(&ckpt_lock);
		return;
	}
	for (pp = &ckpts; *pp != c; pp = &(*pp)->next)
		continue;
	*pp = c->next;
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&ckpt_lock);
	pthread_join(c->thread, NULL);
	ckpt_free(c);
}

size_t
sqlite_ckpt_running(void)
{
	struct sqlite_ckpt	*c;
	size_t			 n = 0;

	pthread_mutex_lock(&ckpt_lock);
	for (c = ckpts; c != NULL; c = c->next)
		n++;
	pthread_mutex_unlock(&ckpt_lock);
	return n;
}
