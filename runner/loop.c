/*
 * The runner's main loop: one ppoll() over a signalfd, an inotify watch on
 * the database's directory (on PostgreSQL: the store's LISTEN connection)
 * and every child's pipes, and between waits the
 * periodic work (claiming, batched progress and finish writes, cancellation
 * checks, heartbeats, recovery of lost runners, retention), each due at its
 * own deadline so that an idle runner sleeps until something happens.
 */
#include <config.h>

#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "runner.h"

#define CANCEL_CHECK_MS		250	/* held tasks re-checked this often */
#define PROGRESS_FLUSH_MS	250	/* a task's progress written at most this often */
#define CANCEL_GRACE_MAX_MS	1000	/* the API promises the child gone in 2 s */
#define PURGE_INTERVAL_MS	(5 * 60 * 1000)
#define PURGE_FIRST_MS		(30 * 1000)	/* first retention pass after start */
#define PURGE_BATCH		500
#define PURGE_BATCHES_PER_TICK	20	/* then yield to the loop for a second */
#define STORE_RETRY_MS		100	/* after a busy or failed write */
#define CLAIM_BATCH_MAX		1000	/* the store's bound per claim */
#define STORE_OPEN_RETRY_MS	10000	/* keep trying a busy database this long */
#define FINISH_LINGER_MS	8	/* group commit: wait at most this long for more outcomes */
#define RETRY_WAKE_MAX		256	/* retry times remembered for wake-ups */
#define WAKE_DEBOUNCE_MS	2	/* claims triggered by commits at most this often */

struct runner {
	struct config		*cfg;
	const struct runner_opts *opts;
	struct store		*store;
	struct runner_info	 info;
	bool			 test_hooks;	/* TASKQ_TEST_HOOKS=1 */
	struct spawner		 sp;		/* the fork server (spawn.c) */

	struct child		**kids;		/* one per busy slot */
	size_t			 nkids;
	size_t			 kidcap;
	int			 slots;		/* effective slot count */

	int			 sfd;		/* signalfd */
	int			 ifd;		/* inotify, -1 if unavailable */
	char			 wal_name[CONFIG_PATH_MAX + 8]; /* the database's -wal file, basename */

	bool			 wake;		/* claim at the next chance */
	bool			 draining;	/* SIGTERM: no more claims */
	bool			 drain_killed;	/* grace over, the rest killed */
	int64_t			 drain_deadline;

	/* Monotonic deadlines of the periodic work. */
	int64_t			 next_poll;
	int64_t			 next_claim_ok;	/* debounce / busy backoff */
	int64_t			 next_progress;
	int64_t			 next_check;
	int64_t			 next_beat;
	int64_t			 next_purge;
	int64_t			 next_watchdog;
	int64_t			 next_finish;	/* retry of a failed finish write */
	int64_t			 finish_by;	/* group commit deadline, 0 none */
	double			 run_ms_avg;	/* moving average of task run times */
	unsigned		 finish_fails;	/* consecutive failed finish writes */
	int64_t			 watchdog_ms;

	/*
	 * Monotonic times at which tasks this runner re-queued with a delay
	 * (temporary failures) become due, so that it wakes for them instead
	 * of waiting for the next poll.  Bounded: beyond it, polling covers.
	 */
	int64_t			 due[RETRY_WAKE_MAX];
	size_t			 ndue;

	/* Counters for the log and the benchmark. */
	uint64_t		 n_started;
	uint64_t		 n_finished;
	int64_t			 worst_write_ms; /* slowest store write, commit included */
	const char		*worst_write_op;
	uint64_t		 n_writes;
};

int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Records how long a store write took (lock wait, work and commit). */
static void
runner_write_time(struct runner *r, const char *op, int64_t t0)
{
	int64_t	 d = mono_ms() - t0;

	r->n_writes++;
	if (d > r->worst_write_ms) {
		r->worst_write_ms = d;
		r->worst_write_op = op;
		if (d >= 100)
			log_warnx("store %s took %lld ms (lock wait or disk)",
			    op, (long long)d);
	}
}

/*
 * Loads the config file, then applies the -o overrides in order, then the
 * cross-field checks.  *cfg is only replaced on success.
 */
bool
runner_config_load(const struct runner_opts *o, struct config *cfg,
    char *err, size_t errlen)
{
	struct config	 tmp;
	const char	*path;
	char		*kv = NULL, *eq, why[512];
	size_t		 i;
	bool		 ok = false;

	path = o->config_path != NULL ? o->config_path : SYSCONFDIR "/taskq/taskq.conf";
	if (!config_load(&tmp, path, o->config_must_exist, err, errlen))
		return false;
	for (i = 0; i < o->noverrides; i++) {
		free(kv);
		if ((kv = strdup(o->overrides[i])) == NULL) {
			snprintf(err, errlen, "-o %s: out of memory", o->overrides[i]);
			goto out;
		}
		if ((eq = strchr(kv, '=')) == NULL) {
			snprintf(err, errlen, "-o %s: expected key=value", kv);
			goto out;
		}
		*eq = '\0';
		if (!config_set(&tmp, kv, eq + 1, why, sizeof(why))) {
			snprintf(err, errlen, "-o %s=%s: %s", kv, eq + 1, why);
			goto out;
		}
	}
	if (!config_check(&tmp, err, errlen))
		goto out;
	*cfg = tmp;
	ok = true;
out:
	free(kv);
	return ok;
}

static int
runner_slots(const struct config *cfg)
{
	long	 n;

	if (cfg->slots > 0)
		return cfg->slots;
	if ((n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	return n > 1024 ? 1024 : (int)n;
}

/* ---- signals and wake-ups --------------------------------------------- */

static int
runner_signals(void)
{
	sigset_t	 set;
	struct sigaction sa;
	int		 fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction SIGPIPE");
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	return fd;
}

/*
 * Watches the database's directory: every commit appends to the -wal file,
 * so its modification is the sign that a task may have been submitted.
 * Without inotify the runner still works, by polling.
 */
static void
runner_inotify(struct runner *r)
{
	char		 dir[CONFIG_PATH_MAX];
	const char	*db = r->cfg->database, *slash;
	size_t		 dlen;

	r->ifd = -1;
	/* A PostgreSQL URL names no file: the store's LISTEN wakes us. */
	if (store_is_postgresql(db))
		return;
	slash = strrchr(db, '/');
	if (slash == NULL) {
		strcpy(dir, ".");
		snprintf(r->wal_name, sizeof(r->wal_name), "%s-wal", db);
	} else {
		dlen = slash == db ? 1 : (size_t)(slash - db);
		snprintf(dir, sizeof(dir), "%.*s", (int)dlen, db);
		snprintf(r->wal_name, sizeof(r->wal_name), "%s-wal", slash + 1);
	}
	if ((r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("inotify_init1: polling every %d ms instead",
		    r->cfg->poll_interval_ms);
		return;
	}
	if (inotify_add_watch(r->ifd, dir, IN_MODIFY | IN_CLOSE_WRITE |
	    IN_CREATE | IN_MOVED_TO) == -1) {
		log_warn("inotify_add_watch %s: polling every %d ms instead",
		    dir, r->cfg->poll_interval_ms);
		close(r->ifd);
		r->ifd = -1;
	}
}

/* Reads all pending inotify events; sets the wake flag if one was a commit. */
static void
runner_inotify_read(struct runner *r)
{
	char			 buf[8192]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t			 n;
	char			*p;

	for (;;) {
		if ((n = read(r->ifd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("inotify read");
			return;
		}
		if (n == 0)
			return;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				r->wake = true;
			if (ev->len > 0 && strcmp(ev->name, r->wal_name) == 0)
				r->wake = true;
		}
	}
}

static void
runner_reload(struct runner *r)
{
	struct config	 ncfg;
	char		 err[1024];

	notify_reloading();
	if (!runner_config_load(r->opts, &ncfg, err, sizeof(err))) {
		log_warnx("reload failed, keeping the old configuration: %s", err);
		notify_ready();
		return;
	}
	if (strcmp(ncfg.database, r->cfg->database) != 0 ||
	    strcmp(ncfg.state_dir, r->cfg->state_dir) != 0)
		log_warnx("reload: database and state_dir changes need a restart");
	/* Everything else takes effect now; running children keep their limits. */
	memcpy(ncfg.database, r->cfg->database, sizeof(ncfg.database));
	memcpy(ncfg.state_dir, r->cfg->state_dir, sizeof(ncfg.state_dir));
	ncfg.busy_timeout_ms = r->cfg->busy_timeout_ms;
	*r->cfg = ncfg;
	log_set_level(r->cfg->log_level);
	r->slots = runner_slots(r->cfg);
	r->next_beat = r->next_poll = mono_ms();
	log_info("configuration reloaded: %d slots", r->slots);
	notify_ready();
}

static struct child *
runner_kid_by_pid(struct runner *r, pid_t pid)
{
	size_t	 i;

	for (i = 0; i < r->nkids; i++)
		if (r->kids[i]->pid == pid)
			return r->kids[i];
	return NULL;
}

/* A child has exited (reaped by us or by the spawner) with status. */
static void
runner_kid_exited(struct runner *r, struct child *c, int status)
{
	pid_t	 pid = c->pid;

	c->exited = true;
	c->status = status;
	c->pid = 0;
	child_drain(c);
	/*
	 * Whatever the worker left in its group goes with it (the spawner
	 * did that before reaping its own, while the group id was still
	 * held: after the reap the id is free for reuse).
	 */
	if (!c->spawned)
		(void)kill(-pid, SIGKILL);
	child_conclude(c, r->cfg);
	r->run_ms_avg = r->run_ms_avg * 0.9 +
	    (double)(mono_ms() - c->started) * 0.1;
	log_debug("task %s: child %d exited (status %#x) after %lld ms",
	    c->task->id, (int)pid, status,
	    (long long)(mono_ms() - c->started));
}

/*
 * The spawner is gone, and with it (PR_SET_PDEATHSIG) every child it ran
 * whose exit it had not reported: those are concluded as killed, and
 * requeued unless they had reported (child_conclude).
 */
static void
runner_spawner_lost(struct runner *r)
{
	struct child	*c;
	size_t		 i, n = 0;

	for (i = 0; i < r->nkids; i++) {
		c = r->kids[i];
		if (!c->spawned || c->exited)
			continue;
		if (c->end == CHILD_END_NONE)
			c->end = CHILD_END_SPAWNER;
		/* A dead spawner killed no groups: what the child left. */
		(void)kill(-c->pid, SIGKILL);
		runner_kid_exited(r, c, SIGKILL);	/* as if WTERMSIG 9 */
		n++;
	}
	if (n > 0)
		log_warnx("%zu task(s) ran under the lost spawner", n);
	r->wake = true;
}

/* The exits the spawner reported, and its loss. */
static void
runner_spawner_read(struct runner *r)
{
	struct spawn_msg	 m;
	struct child		*c;
	int			 rc;

	while ((rc = spawner_next(&r->sp, &m)) == 1) {
		if ((c = runner_kid_by_pid(r, m.pid)) == NULL || !c->spawned) {
			log_debug("spawner reaped unknown child %d", (int)m.pid);
			continue;
		}
		runner_kid_exited(r, c, m.value);
	}
	if (rc == -1)
		runner_spawner_lost(r);
}

/* Reaps every exited child; each one's outcome is then ready to write. */
static void
runner_reap(struct runner *r)
{
	struct child	*c;
	pid_t		 pid;
	int		 status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		if (r->sp.pid > 0 && pid == r->sp.pid) {
			spawner_reaped(&r->sp, status);
			runner_spawner_read(r);
			continue;
		}
		if ((c = runner_kid_by_pid(r, pid)) == NULL || c->spawned) {
			log_debug("reaped unknown child %d", (int)pid);
			continue;
		}
		runner_kid_exited(r, c, status);
	}
}

static void
runner_signal_read(struct runner *r)
{
	struct signalfd_siginfo	 si;
	ssize_t			 n;

	for (;;) {
		n = read(r->sfd, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return;
		switch (si.ssi_signo) {
		case SIGCHLD:
			runner_reap(r);
			break;
		case SIGTERM:
		case SIGINT:
			if (!r->draining) {
				r->draining = true;
				r->drain_deadline = mono_ms() +
				    (int64_t)r->cfg->shutdown_grace_s * 1000;
				notify_stopping();
				log_info("signal %d: draining %zu running task(s), "
				    "grace %d s", (int)si.ssi_signo, r->nkids,
				    r->cfg->shutdown_grace_s);
			} else {
				log_info("second signal: stopping now");
				r->drain_deadline = mono_ms();
			}
			break;
		case SIGHUP:
			runner_reload(r);
			break;
		default:
			break;
		}
	}
}

/* ---- store writes ----------------------------------------------------- */

static void
runner_kid_remove(struct runner *r, size_t i)
{
	child_free(r->kids[i]);
	r->kids[i] = r->kids[--r->nkids];
}

/* Remembers that a task becomes claimable at wall-clock time at_ms. */
static void
runner_due_add(struct runner *r, int64_t at_ms)
{
	int64_t	 when = mono_ms() + (at_ms - time_now_ms());

	if (r->ndue < RETRY_WAKE_MAX)
		r->due[r->ndue++] = when;
}

/* The earliest remembered due time, or INT64_MAX; drops those passed. */
static int64_t
runner_due_next(struct runner *r, int64_t now, bool drop)
{
	int64_t	 t = INT64_MAX;
	size_t	 i;

	for (i = 0; i < r->ndue; ) {
		if (drop && r->due[i] <= now) {
			r->due[i] = r->due[--r->ndue];
			continue;
		}
		if (r->due[i] < t)
			t = r->due[i];
		i++;
	}
	return t;
}

/*
 * Whether a still-running child is expected to end within the group-commit
 * window, judging by the average run time: waiting for a long task would
 * only delay the short ones.
 */
static bool
runner_linger(const struct runner *r)
{
	const struct child	*c;
	int64_t			 now = mono_ms(), horizon;
	size_t			 i;

	horizon = (r->finish_by != 0 ? r->finish_by : now + FINISH_LINGER_MS);
	for (i = 0; i < r->nkids; i++) {
		c = r->kids[i];
		if (c->finish_ready || c->exited)
			continue;
		if (c->started + (int64_t)(r->run_ms_avg * 2) + 1 <= horizon)
			return true;
	}
	return false;
}

/*
 * Writes the outcomes of every concluded child in one transaction and frees
 * their slots.  On failure of the whole transaction the children keep their
 * slots (so RUNNING never exceeds slots) and the write is retried shortly.
 */
static void
runner_finish(struct runner *r)
{
	struct task_finish	*fin = NULL;
	enum store_err		*errs = NULL, e;
	struct child		*c;
	size_t			 i, n = 0;
	int64_t			 t0;

	if (mono_ms() < r->next_finish)
		return;
	for (i = 0; i < r->nkids; ) {
		c = r->kids[i];
		if (c->finish_ready && c->fin.outcome == -1) {
			log_info("task %s: stopped (cancelled or taken over)",
			    c->task->id);
			outputs_settle(r->store, r->cfg, c, false);
			runner_kid_remove(r, i);
			r->wake = true;
			continue;
		}
		if (c->finish_ready)
			n++;
		i++;
	}
	if (n == 0) {
		r->finish_by = 0;
		return;
	}
	/*
	 * Group commit: each durable transaction costs an fsync, so when other
	 * children are expected to finish within a few milliseconds (short
	 * tasks), wait for them and record all outcomes together.
	 */
	if (n < r->nkids && !r->draining && runner_linger(r)) {
		if (r->finish_by == 0)
			r->finish_by = mono_ms() + FINISH_LINGER_MS;
		if (mono_ms() < r->finish_by)
			return;
	}
	r->finish_by = 0;
	/* Produced files are in the store before the SUCCESS naming them. */
	for (i = 0; i < r->nkids; i++)
		if (r->kids[i]->finish_ready &&
		    !outputs_register(r->store, r->cfg, r->kids[i])) {
			r->next_finish = mono_ms() + STORE_RETRY_MS;
			return;
		}
	if ((fin = calloc(n, sizeof(*fin))) == NULL ||
	    (errs = calloc(n, sizeof(*errs))) == NULL) {
		log_warn("finish: calloc");
		r->next_finish = mono_ms() + STORE_RETRY_MS;
		goto out;
	}
	for (i = 0, n = 0; i < r->nkids; i++) {
		c = r->kids[i];
		if (!c->finish_ready)
			continue;
		fin[n].id = c->task->id;
		fin[n].claim_token = c->task->claim_token;
		fin[n].outcome = c->fin.outcome;
		fin[n].result_data = c->fin.outcome == OUTCOME_SUCCESS ?
		    c->result : NULL;
		fin[n].error_message = c->fin.error != NULL ? c->fin.error :
		    (c->fin.outcome == OUTCOME_SUCCESS ? NULL : "unknown failure");
		fin[n].worker_output = c->fin.output;
		fin[n].retry_at = c->fin.retry_at;
		n++;
	}
	t0 = mono_ms();
	e = store_task_finish_many(r->store, fin, n, errs);
	runner_write_time(r, "finish", t0);
	if (e != STORE_OK) {
		/* The slots stay held; back off up to 5 s, log now and then. */
		if (r->finish_fails++ % 50 == 0)
			log_warnx("recording %zu outcome(s): %s: %s (retrying)", n,
			    store_strerror(e), store_errmsg(r->store));
		r->next_finish = mono_ms() + min64(STORE_RETRY_MS *
		    ((int64_t)1 << (r->finish_fails < 6 ? r->finish_fails : 6)), 5000);
		goto out;
	}
	if (r->finish_fails > 0)
		log_info("outcomes recorded again after %u failed attempt(s)",
		    r->finish_fails);
	r->finish_fails = 0;
	for (i = 0; i < n; i++) {
		if (errs[i] == STORE_CONFLICT)
			log_info("task %s: no longer ours (cancelled or taken "
			    "over); outcome dropped", fin[i].id);
		else if (errs[i] != STORE_OK)
			log_warnx("task %s: outcome not recorded: %s", fin[i].id,
			    store_strerror(errs[i]));
		else if (fin[i].outcome == OUTCOME_SUCCESS)
			log_debug("task %s: SUCCESS", fin[i].id);
		else
			log_debug("task %s: %s: %s", fin[i].id,
			    fin[i].outcome == OUTCOME_RETRY ? "retry" :
			    fin[i].outcome == OUTCOME_LOST ? "requeued" : "FAILED",
			    fin[i].error_message);
	}
	r->n_finished += n;
	for (i = 0; i < n; i++)
		if (errs[i] == STORE_OK && (fin[i].outcome == OUTCOME_RETRY ||
		    fin[i].outcome == OUTCOME_LOST))
			runner_due_add(r, fin[i].retry_at);
	/* In the order fin[] was built: the files of what was not recorded go. */
	for (i = 0, n = 0; i < r->nkids; i++)
		if (r->kids[i]->finish_ready)
			outputs_settle(r->store, r->cfg, r->kids[i],
			    errs[n++] == STORE_OK);
	for (i = 0; i < r->nkids; ) {
		if (r->kids[i]->finish_ready)
			runner_kid_remove(r, i);
		else
			i++;
	}
	r->wake = true;		/* slots freed */
out:
	free(fin);
	free(errs);
}

/* Writes every changed progress value in one transaction. */
static void
runner_progress(struct runner *r)
{
	struct task_progress	*p = NULL;
	struct child		*c;
	size_t			 i, n = 0;
	enum store_err		 e;
	int64_t			 t0;

	for (i = 0; i < r->nkids; i++)
		if (r->kids[i]->progress_dirty && !r->kids[i]->exited)
			n++;
	if (n == 0)
		return;
	if ((p = calloc(n, sizeof(*p))) == NULL) {
		log_warn("progress: calloc");
		return;
	}
	for (i = 0, n = 0; i < r->nkids; i++) {
		c = r->kids[i];
		if (!c->progress_dirty || c->exited)
			continue;
		p[n].id = c->task->id;
		p[n].claim_token = c->task->claim_token;
		p[n].progress = c->progress;
		n++;
	}
	t0 = mono_ms();
	e = store_task_progress_many(r->store, p, n);
	runner_write_time(r, "progress", t0);
	if (e != STORE_OK)
		log_debug("progress of %zu task(s): %s: %s", n, store_strerror(e),
		    store_errmsg(r->store));
	else
		for (i = 0; i < r->nkids; i++)
			if (!r->kids[i]->exited)
				r->kids[i]->progress_dirty = false;
	free(p);
}

/* Stops a child: SIGTERM now, SIGKILL after grace_ms. */
static void
runner_stop_kid(struct child *c, enum child_end why, int64_t grace_ms)
{
	if (c->exited || c->end != CHILD_END_NONE)
		return;
	c->end = why;
	child_signal(c, SIGTERM);
	c->kill_at = mono_ms() + grace_ms;
	if (c->kill_at == 0)
		c->kill_at = 1;
}

static int64_t
runner_cancel_grace(const struct runner *r)
{
	return min64((int64_t)r->cfg->kill_grace_s * 1000, CANCEL_GRACE_MAX_MS);
}

/* Asks the store which held tasks are no longer ours, and stops those. */
static void
runner_check_held(struct runner *r)
{
	const char	**ids = NULL;
	int64_t		 *tokens = NULL;
	bool		 *gone = NULL;
	struct child	**which = NULL;
	size_t		  i, n = 0;
	enum store_err	  e;

	if (r->nkids == 0)
		return;
	if ((ids = calloc(r->nkids, sizeof(*ids))) == NULL ||
	    (tokens = calloc(r->nkids, sizeof(*tokens))) == NULL ||
	    (gone = calloc(r->nkids, sizeof(*gone))) == NULL ||
	    (which = calloc(r->nkids, sizeof(*which))) == NULL) {
		log_warn("check held: calloc");
		goto out;
	}
	for (i = 0; i < r->nkids; i++) {
		if (r->kids[i]->exited || r->kids[i]->end != CHILD_END_NONE)
			continue;
		ids[n] = r->kids[i]->task->id;
		tokens[n] = r->kids[i]->task->claim_token;
		which[n] = r->kids[i];
		n++;
	}
	if (n == 0)
		goto out;
	if ((e = store_task_check_held(r->store, ids, tokens, n, gone)) != STORE_OK) {
		log_debug("check held: %s: %s", store_strerror(e),
		    store_errmsg(r->store));
		goto out;
	}
	for (i = 0; i < n; i++)
		if (gone[i]) {
			log_info("task %s: cancelled or taken over; stopping "
			    "child %d", which[i]->task->id, (int)which[i]->pid);
			runner_stop_kid(which[i], CHILD_END_CANCELLED,
			    runner_cancel_grace(r));
		}
out:
	free(ids);
	free(tokens);
	free(gone);
	free(which);
}

/* Enforces task timeouts and the SIGKILL after a SIGTERM's grace. */
static void
runner_deadlines(struct runner *r, int64_t now)
{
	struct child	*c;
	size_t		 i;

	for (i = 0; i < r->nkids; i++) {
		c = r->kids[i];
		if (c->exited)
			continue;
		if (c->end == CHILD_END_NONE && now >= c->deadline) {
			if (c->reported) {
				/* Done but lingering: its report stands. */
				log_info("task %s: worker still alive after "
				    "reporting; killing it", c->task->id);
				child_signal(c, SIGKILL);
				c->deadline = now + 1000;
				continue;
			}
			log_info("task %s: timed out after %d s", c->task->id,
			    c->task->timeout_s);
			runner_stop_kid(c, CHILD_END_TIMEOUT,
			    (int64_t)r->cfg->kill_grace_s * 1000);
		}
		if (c->kill_at != 0 && now >= c->kill_at) {
			log_debug("task %s: SIGKILL to child %d", c->task->id,
			    (int)c->pid);
			child_signal(c, SIGKILL);
			c->kill_at = 0;
		}
	}
}

static void
runner_beat(struct runner *r)
{
	enum store_err	 e;
	int64_t		 requeued = 0, failed = 0, t0;

	r->info.slots = r->slots;
	r->info.running = (int)r->nkids;
	r->info.last_seen = time_now_ms();
	t0 = mono_ms();
	if ((e = store_runner_beat(r->store, &r->info)) != STORE_OK)
		log_warnx("heartbeat: %s: %s", store_strerror(e),
		    store_errmsg(r->store));
	runner_write_time(r, "heartbeat", t0);
	t0 = mono_ms();
	e = store_recover_stale(r->store, (int64_t)r->cfg->stale_after_s * 1000,
	    &requeued, &failed);
	runner_write_time(r, "recover", t0);
	if (e != STORE_OK)
		log_warnx("recovery: %s: %s", store_strerror(e),
		    store_errmsg(r->store));
	else if (requeued > 0 || failed > 0) {
		log_info("recovered the tasks of lost runners: %lld requeued, "
		    "%lld failed", (long long)requeued, (long long)failed);
		r->wake = true;
	}
}

/*
 * Retention: deletes finished tasks older than retention_days in small
 * batches (each its own short transaction, so the API never waits long),
 * then the files no remaining task references.  Returns true when more
 * remains, so the caller comes back soon instead of in five minutes.
 */
static bool
runner_purge(struct runner *r)
{
	char		(*ids)[TASK_ID_LEN + 1] = NULL;
	char		 path[CONFIG_PATH_MAX + 64];
	int64_t		 before, deleted, total = 0, t0;
	size_t		 i, n = 0, batches;
	enum store_err	 e;
	bool		 more = false;

	if (r->cfg->retention_days <= 0)
		return false;
	before = time_now_ms() - (int64_t)r->cfg->retention_days * 86400000;
	for (batches = 0; batches < PURGE_BATCHES_PER_TICK; batches++) {
		deleted = 0;
		t0 = mono_ms();
		e = store_purge(r->store, before, PURGE_BATCH, &deleted);
		runner_write_time(r, "purge", t0);
		if (e != STORE_OK) {
			log_warnx("retention: %s: %s", store_strerror(e),
			    store_errmsg(r->store));
			return false;
		}
		total += deleted;
		if (deleted < PURGE_BATCH)
			break;
	}
	if (batches == PURGE_BATCHES_PER_TICK)
		more = true;
	if (total > 0)
		log_info("retention: purged %lld task(s) finished before %d day(s) ago",
		    (long long)total, r->cfg->retention_days);

	if ((e = store_file_unreferenced(r->store, before, PURGE_BATCH, &ids,
	    &n)) != STORE_OK) {
		log_warnx("retention: files: %s: %s", store_strerror(e),
		    store_errmsg(r->store));
		return more;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/files/%s", r->cfg->state_dir, ids[i]);
		if (unlink(path) == -1 && errno != ENOENT) {
			log_warn("retention: unlink %s", path);
			continue;
		}
		if ((e = store_file_delete(r->store, ids[i])) != STORE_OK)
			log_warnx("retention: file %s: %s: %s", ids[i],
			    store_strerror(e), store_errmsg(r->store));
	}
	if (n > 0)
		log_info("retention: removed %zu unreferenced file(s)", n);
	if (n == PURGE_BATCH)
		more = true;
	free(ids);
	return more;
}

/*
 * Claims up to the free slots' worth of tasks in one transaction and starts
 * a child for each.  A full batch means more may be waiting: stay awake.
 */
static void
runner_claim(struct runner *r)
{
	struct task	**tasks = NULL;
	struct task_finish f;
	struct child	**nk;
	struct child	 *c;
	size_t		  want, n = 0, i, ncap;
	enum store_err	  e, fe;
	int64_t		  t0;

	if (r->nkids >= (size_t)r->slots)
		return;
	want = (size_t)r->slots - r->nkids;
	if (want > CLAIM_BATCH_MAX)
		want = CLAIM_BATCH_MAX;
	if (r->kidcap < (size_t)r->slots) {
		ncap = (size_t)r->slots;
		if ((nk = reallocarray(r->kids, ncap, sizeof(*nk))) == NULL) {
			log_warn("claim: reallocarray");
			return;
		}
		r->kids = nk;
		r->kidcap = ncap;
	}
	t0 = mono_ms();
	e = store_task_claim(r->store, r->info.id, want, &tasks, &n);
	runner_write_time(r, "claim", t0);
	if (e != STORE_OK) {
		log_debug("claim: %s: %s", store_strerror(e), store_errmsg(r->store));
		r->next_claim_ok = mono_ms() + STORE_RETRY_MS;
		return;
	}
	r->wake = n == want;
	r->next_poll = mono_ms() + r->cfg->poll_interval_ms;
	/* Commits come in bursts: one claim per burst is enough. */
	r->next_claim_ok = mono_ms() + (r->wake ? 0 : WAKE_DEBOUNCE_MS);
	for (i = 0; i < n; i++) {
		if ((c = child_spawn_via(tasks[i], r->cfg, r->test_hooks,
		    &r->sp)) == NULL) {
			/*
			 * Hand it back (as an interrupted run: attempt + 1, or
			 * FAILED "runner lost" when exhausted) and claim
			 * nothing for a second: fork or pipe is failing.
			 */
			r->next_claim_ok = mono_ms() + 1000;
			r->wake = false;
			memset(&f, 0, sizeof(f));
			f.id = tasks[i]->id;
			f.claim_token = tasks[i]->claim_token;
			f.outcome = OUTCOME_LOST;
			f.error_message = "the runner could not start a worker";
			f.retry_at = time_now_ms() + 1000;
			if (store_task_finish_many(r->store, &f, 1, &fe) != STORE_OK)
				log_warnx("task %s: could not requeue: %s",
				    tasks[i]->id, store_errmsg(r->store));
			task_free(tasks[i]);
			continue;
		}
		log_debug("task %s (%s, attempt %d): started child %d%s",
		    c->task->id, c->task->task_type, c->task->attempt,
		    (int)c->pid, c->spawned ? " (spawner)" : "");
		r->kids[r->nkids++] = c;
		r->n_started++;
	}
	free(tasks);
	/* Exits the spawner reported while we waited for its answers. */
	if (spawner_pending(&r->sp))
		runner_spawner_read(r);
}

/* ---- the loop --------------------------------------------------------- */

/*
 * At the end of the shutdown grace, the remaining tasks are stopped and
 * re-queued (OUTCOME_LOST, due now).  That consumes an attempt, like any
 * interrupted run: the work may have had side effects already, and a task
 * that never fits in the grace must not bounce between restarts forever;
 * with its attempts used up it ends FAILED "runner lost".
 */
static void
runner_drain_check(struct runner *r, int64_t now)
{
	size_t	 i;

	if (!r->draining || r->drain_killed || now < r->drain_deadline)
		return;
	r->drain_killed = true;
	if (r->nkids > 0)
		log_info("shutdown grace over: stopping %zu task(s) and requeueing them",
		    r->nkids);
	for (i = 0; i < r->nkids; i++)
		runner_stop_kid(r->kids[i], CHILD_END_SHUTDOWN,
		    (int64_t)r->cfg->kill_grace_s * 1000);
}

/* The ppoll() timeout: until the earliest piece of work falls due. */
static int64_t
runner_timeout(struct runner *r, int64_t now)
{
	int64_t	 t = now + 3600 * 1000;
	size_t	 i;
	bool	 dirty = false;

	if (spawner_pending(&r->sp))
		return 0;

	t = min64(t, r->next_beat);
	if (r->watchdog_ms > 0)
		t = min64(t, r->next_watchdog);
	if (r->cfg->retention_days > 0 && !r->draining)
		t = min64(t, r->next_purge);
	if (!r->draining && r->nkids < (size_t)r->slots) {
		if (r->wake)
			t = min64(t, r->next_claim_ok);
		else
			t = min64(t, min64(r->next_poll,
			    runner_due_next(r, now, false)));
	}
	if (r->draining && !r->drain_killed)
		t = min64(t, r->drain_deadline);
	if (r->sp.fd == -1 && !r->sp.disabled && !r->draining)
		t = min64(t, r->sp.retry_at);
	for (i = 0; i < r->nkids; i++) {
		struct child *c = r->kids[i];

		if (c->finish_ready)
			t = min64(t, r->finish_by != 0 ?
			    r->finish_by : r->next_finish);
		if (c->exited)
			continue;
		dirty |= c->progress_dirty;
		if (c->end == CHILD_END_NONE)
			t = min64(t, c->deadline);
		if (c->kill_at != 0)
			t = min64(t, c->kill_at);
	}
	if (r->nkids > 0)
		t = min64(t, r->next_check);
	if (dirty)
		t = min64(t, r->next_progress);
	return t > now ? t - now : 0;
}

static int
runner_loop(struct runner *r)
{
	struct pollfd	*pfd = NULL, *np;
	struct child	**owner = NULL, **no;
	size_t		  npfd, cap = 0, i;
	struct timespec	  ts;
	int64_t		  now, wait;
	int		  rc, wfd;

	for (;;) {
		now = mono_ms();
		runner_drain_check(r, now);
		if (r->draining && r->nkids == 0)
			break;

		if (cap < 4 + 2 * r->nkids) {
			cap = 4 + 2 * r->nkids + 16;
			if ((np = reallocarray(pfd, cap, sizeof(*pfd))) == NULL)
				fatal("reallocarray");
			pfd = np;
			if ((no = reallocarray(owner, cap, sizeof(*owner))) == NULL)
				fatal("reallocarray");
			owner = no;
		}
		npfd = 0;
		pfd[npfd].fd = r->sfd;
		pfd[npfd].events = POLLIN;
		owner[npfd++] = NULL;
		if (r->ifd != -1) {
			pfd[npfd].fd = r->ifd;
			pfd[npfd].events = POLLIN;
			owner[npfd++] = NULL;
		}
		/*
		 * PostgreSQL's NOTIFY of a new task: the store's connection,
		 * polling stays the fallback.  Notices libpq read during our
		 * own queries are not on the socket any more: drain first.
		 */
		if (store_wakeup_drain(r->store))
			r->wake = true;
		if ((wfd = store_wakeup_fd(r->store)) != -1) {
			pfd[npfd].fd = wfd;
			pfd[npfd].events = POLLIN;
			owner[npfd++] = NULL;
		}
		if (r->sp.fd != -1) {
			pfd[npfd].fd = r->sp.fd;
			pfd[npfd].events = POLLIN;
			owner[npfd++] = NULL;
		}
		for (i = 0; i < r->nkids; i++) {
			if (r->kids[i]->rfd != -1) {
				pfd[npfd].fd = r->kids[i]->rfd;
				pfd[npfd].events = POLLIN;
				owner[npfd++] = r->kids[i];
			}
			if (r->kids[i]->efd != -1) {
				pfd[npfd].fd = r->kids[i]->efd;
				pfd[npfd].events = POLLIN;
				owner[npfd++] = r->kids[i];
			}
		}
		wait = runner_timeout(r, now);
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (long)(wait % 1000) * 1000000L;
		rc = ppoll(pfd, npfd, &ts, NULL);
		if (rc == -1 && errno != EINTR)
			fatal("ppoll");

		if (rc > 0) {
			for (i = 0; i < npfd; i++) {
				if (pfd[i].revents == 0)
					continue;
				if (pfd[i].fd == r->sfd)
					runner_signal_read(r);
				else if (pfd[i].fd == r->ifd && owner[i] == NULL)
					runner_inotify_read(r);
				else if (pfd[i].fd == wfd && owner[i] == NULL) {
					if (store_wakeup_drain(r->store))
						r->wake = true;
				}
				else if (pfd[i].fd == r->sp.fd && owner[i] == NULL)
					runner_spawner_read(r);
				else if (owner[i] != NULL)
					child_read(owner[i], pfd[i].fd);
			}
		}
		/*
		 * A child's exit may come before its SIGCHLD is read.  Only
		 * children forked here need the waitpid(): the spawner's
		 * come over its socket, and its own death by SIGCHLD or EOF.
		 */
		for (i = 0; i < r->nkids && r->kids[i]->spawned; i++)
			continue;
		if (i < r->nkids)
			runner_reap(r);
		if (spawner_pending(&r->sp))
			runner_spawner_read(r);

		now = mono_ms();
		runner_deadlines(r, now);
		runner_finish(r);
		if (now >= r->next_progress) {
			runner_progress(r);
			r->next_progress = now + PROGRESS_FLUSH_MS;
		}
		if (now >= r->next_check) {
			runner_check_held(r);
			r->next_check = now + CANCEL_CHECK_MS;
		}
		if (now >= r->next_beat) {
			runner_beat(r);
			r->next_beat = now + (int64_t)r->cfg->heartbeat_interval_s * 1000;
		}
		if (r->watchdog_ms > 0 && now >= r->next_watchdog) {
			notify_watchdog();
			r->next_watchdog = now + r->watchdog_ms;
		}
		if (r->ndue > 0 && runner_due_next(r, now, false) <= now) {
			(void)runner_due_next(r, now, true);
			r->wake = true;
		}
		/* A lost spawner is replaced before the next task needs it. */
		if (r->sp.fd == -1 && !r->sp.disabled && !r->draining &&
		    now >= r->sp.retry_at)
			(void)spawner_ensure(&r->sp);
		if (!r->draining && (r->wake || now >= r->next_poll) &&
		    now >= r->next_claim_ok) {
			runner_claim(r);
		}
		if (!r->draining && r->cfg->retention_days > 0 && now >= r->next_purge)
			r->next_purge = mono_ms() + (runner_purge(r) ? 1000 :
			    PURGE_INTERVAL_MS);
	}
	free(pfd);
	free(owner);
	return 0;
}

int
runner_run(const struct runner_opts *opts, struct config *cfg)
{
	struct runner	 r;
	char		 err[1024], host[256];
	enum store_err	 e;
	const char	*env;
	int		 rc;
	int64_t		 now, t0;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.opts = opts;
	r.ifd = -1;
	env = getenv("TASKQ_TEST_HOOKS");
	r.test_hooks = env != NULL && strcmp(env, "1") == 0;
	if (r.test_hooks)
		log_warnx("TASKQ_TEST_HOOKS=1: test hooks are active (never in production)");

	/*
	 * The spawner first, while this process is small (its fork is the
	 * only one from here that precedes an exec).
	 */
	spawner_init(&r.sp);
	(void)spawner_ensure(&r.sp);

	/*
	 * Opening races with other processes opening the same file (switching
	 * to WAL mode can report busy without waiting): retry for a while.
	 */
	t0 = mono_ms();
	/* Its children fork from it but never touch the store. */
	while ((e = store_open(cfg->database, STORE_OPEN_CHECKPOINTER,
	    cfg->busy_timeout_ms, &r.store, err, sizeof(err))) == STORE_BUSY &&
	    mono_ms() - t0 < STORE_OPEN_RETRY_MS) {
		log_debug("%s; retrying", err);
		(void)nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
	}
	if (e != STORE_OK)
		fatalx("%s", err);

	r.sfd = runner_signals();
	runner_inotify(&r);
	r.slots = runner_slots(cfg);

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	task_id_generate(r.info.id);
	snprintf(r.info.host, sizeof(r.info.host), "%s", host);
	r.info.pid = (int)getpid();
	snprintf(r.info.version, sizeof(r.info.version), "%s", PACKAGE_VERSION);
	r.info.started_at = time_now_ms();

	/* Register before recovering, or our own claims would look orphaned. */
	runner_beat(&r);
	now = mono_ms();
	r.next_beat = now + (int64_t)cfg->heartbeat_interval_s * 1000;
	r.next_purge = now + PURGE_FIRST_MS;
	r.watchdog_ms = notify_watchdog_interval_ms();
	r.next_watchdog = now;
	r.wake = true;

	log_info("runner %s started: %d slots, database %s", r.info.id, r.slots,
	    cfg->database);
	notify_ready();

	rc = runner_loop(&r);

	if ((e = store_runner_remove(r.store, r.info.id)) != STORE_OK)
		log_warnx("removing runner row: %s: %s", store_strerror(e),
		    store_errmsg(r.store));
	log_info("runner %s stopped: %llu task(s) started, %llu finished; "
	    "%llu store writes, worst %lld ms (%s); worst write-lock wait "
	    "%.1f ms", r.info.id,
	    (unsigned long long)r.n_started, (unsigned long long)r.n_finished,
	    (unsigned long long)r.n_writes, (long long)r.worst_write_ms,
	    r.worst_write_op != NULL ? r.worst_write_op : "none",
	    (double)store_lock_wait_worst(r.store) / 1000.0);
	if (r.sp.spawned > 0)
		log_info("%llu task(s) started through the spawner",
		    (unsigned long long)r.sp.spawned);
	spawner_stop(&r.sp);
	free(r.kids);
	if (r.ifd != -1)
		close(r.ifd);
	close(r.sfd);
	store_close(r.store);
	return rc;
}
