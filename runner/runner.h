/*
 * taskq-runner: the daemon that claims PENDING tasks from the store, runs
 * each in a forked, isolated child and records how it ended.  This header is
 * the map of the program: one section per file.
 *
 * Process model.  The runner process is the only one of its side that
 * touches the database.  A child never opens it: it reports progress, its
 * result or its failure over a pipe in length-prefixed frames (proto.c) and
 * its stderr is captured into a bounded ring (ring.c).  Echo children are
 * forked by a small helper process, the spawner (spawn.c, spawner.c),
 * because a fork of the runner itself is expensive; the others by the
 * runner.  The main loop
 * (loop.c) waits in one ppoll() over a signalfd, an inotify descriptor on the
 * database's directory (every commit by taskq-api writes the -wal file, which
 * is the wake-up signal) and every child's pipes.
 *
 * Signals: SIGTERM/SIGINT stop claiming and let running tasks finish within
 * shutdown_grace_s; what remains is killed and re-queued (consuming an
 * attempt, see loop.c), the runner row removed, exit 0.  SIGHUP reloads the
 * config (slots, limits, intervals, log level; not the database path).
 *
 * Test hooks (inert unless the runner's environment has TASKQ_TEST_HOOKS=1,
 * so that no submitted task can trigger them in production):
 *   echo message "__taskq_test_alloc__"    allocates and touches memory in
 *                                           1 MiB steps until child_max_memory
 *                                           stops it (refuses if it is 0)
 *   echo message "__taskq_test_hang__"     ignores SIGTERM and sleeps forever
 *   echo message "__taskq_test_crash__"    raises SIGSEGV
 *   echo message "__taskq_test_exit__"     exits with status 3, no result
 *   echo message "__taskq_test_tempfail__" reports a temporary failure
 *   echo message "__taskq_test_stderr__"   writes 200 KiB to stderr, then
 *                                           succeeds
 *   echo message "__taskq_test_isolation__" succeeds with what the child
 *                                           inherited: open fds, blocked and
 *                                           ignored signals, process group
 * and, independent of TASKQ_TEST_HOOKS, TASKQ_ECHO_TRACE=PATH: the echo
 * worker appends "<task id>\n" to PATH (O_APPEND, one write(2)) when it
 * starts executing; the exactly-once tests count these lines.  And
 * TASKQ_SPAWNER=PATH runs that taskq-spawner instead of the one found next
 * to the runner or in PKGLIBEXECDIR; TASKQ_SPAWNER=none runs none (every
 * child is then forked by the runner, as for the other task types).
 */
#ifndef TASKQ_RUNNER_H
#define TASKQ_RUNNER_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/config.h"
#include "task.h"
#include "tasktype.h"

struct store;
struct file_info;

/* proto.c */

/*
 * A frame is a 5-byte header, type (1 byte) and payload length (4 bytes,
 * big-endian), then the payload.  Payloads are bounded: a frame announcing
 * more than PROTO_MAX_PAYLOAD is refused from its header, before anything is
 * allocated, and ends the task as FAILED.
 */
#define PROTO_HDR_LEN		5
#define PROTO_MAX_PAYLOAD	(1024 * 1024)	/* 1 MiB: results, messages */

enum proto_type {
	PROTO_PROGRESS = 1,	/* payload: one byte, 0..100 */
	PROTO_RESULT,		/* payload: JSON object text */
	PROTO_FAIL,		/* payload: temporary flag byte (0/1), message */
	PROTO_FILE,		/* payload: a produced file's metadata, JSON
				 * {"id", "name", "size", "sha256",
				 * "content_type"} (outputs.c) */
	PROTO__MAX
};

enum proto_err {
	PROTO_OK = 0,
	PROTO_AGAIN,		/* no complete frame buffered yet */
	PROTO_TOOBIG,		/* a frame larger than PROTO_MAX_PAYLOAD */
	PROTO_BADTYPE,		/* an unknown frame type */
	PROTO_BADFRAME,		/* a malformed payload for its type */
	PROTO_TRUNCATED,	/* end of stream inside a frame */
	PROTO_NOMEM,
	PROTO_IO,		/* write(2) failed (worker side) */
	PROTO_ERR__MAX
};

const char	*proto_strerror(enum proto_err);

/* An incremental decoder of one child's report stream. */
struct proto_reader {
	unsigned char	*buf;		/* owned; buffered bytes */
	size_t		 len;		/* bytes buffered */
	size_t		 cap;
	size_t		 off;		/* bytes already returned as frames */
	bool		 failed;	/* a hard error was returned: stay failed */
	enum proto_err	 err;		/* ... that error */
};

/* One decoded frame; payload borrowed from the reader until the next feed. */
struct proto_frame {
	enum proto_type	 type;
	const unsigned char *payload;
	size_t		 len;
};

void		 proto_reader_init(struct proto_reader *);
void		 proto_reader_free(struct proto_reader *);	/* contents only */
enum proto_err	 proto_reader_feed(struct proto_reader *, const void *, size_t);
enum proto_err	 proto_reader_next(struct proto_reader *, struct proto_frame *);
enum proto_err	 proto_reader_eof(const struct proto_reader *);

/* Encoding, for tests and the worker side: writes one frame to fd. */
enum proto_err	 proto_write(int fd, enum proto_type, const void *, size_t);

/*
 * The worker side.  A worker runs in the child with a struct worker_ctx and
 * reports through these three helpers only.  worker_progress() sends a
 * frame only when the value (clamped to 0..100) changed, so a worker may call
 * it as often as it likes; the runner writes it at most every 250 ms.  The first of worker_result()/worker_fail() is final; later
 * reports are ignored.
 */
struct worker_ctx {
	int			 fd;		/* report pipe */
	const struct task	*task;		/* borrowed */
	const struct config	*cfg;		/* borrowed */
	bool			 test_hooks;	/* TASKQ_TEST_HOOKS=1 */
	int			 last_progress;	/* last value sent, -1 none */
	int64_t			 last_progress_ms;
	bool			 done;		/* result or failure sent */
};

void	worker_progress(struct worker_ctx *, int pct);
void	worker_result(struct worker_ctx *, const char *json);
void	worker_fail(struct worker_ctx *, const char *msg, bool temporary);
void	worker_failf(struct worker_ctx *, bool temporary, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * Announces a file the worker wrote to STATE_DIR/files/<id> (or is about
 * to rename there): from this frame on the runner owns it, registers it
 * in the store before recording a SUCCESS and removes it on any other
 * outcome.  Send it before the result.  false if the frame was not sent.
 */
bool	worker_file(struct worker_ctx *, const struct file_info *);

/* backoff.c */

/*
 * Exponential backoff with full jitter: a delay uniformly drawn from
 * [0, min(max_ms, base_ms * 2^(attempt-1))], computed without overflow for
 * any attempt.  r is the random draw (a seam for tests).
 */
int64_t	 backoff_delay_ms(int64_t base_ms, int64_t max_ms, int attempt, uint64_t r);
uint64_t backoff_random(void);

/* ring.c */

#define RING_SIZE	(64 * 1024)	/* worker stderr kept: the last 64 KiB */

struct ring {
	char		*buf;		/* owned, RING_SIZE bytes, NULL until first write */
	size_t		 start;		/* oldest byte */
	size_t		 len;
	uint64_t	 total;		/* bytes ever written */
};

void	 ring_init(struct ring *);
void	 ring_free(struct ring *);	/* contents only */
bool	 ring_write(struct ring *, const void *, size_t);
/* The contents as a NUL-terminated string with invalid UTF-8 and NULs
 * replaced (caller frees), or NULL if empty or out of memory. */
char	*ring_text(const struct ring *);
/* Replaces, in place, bytes that are not valid UTF-8 (and NUL) with '?'. */
void	 utf8_sanitize(char *, size_t);

/* workers.c */

typedef void (*worker_fn)(struct worker_ctx *);

/* The worker of a type name; never NULL (an unknown type gets one that
 * fails the task with an explanation). */
worker_fn	 worker_find(const char *type_name);

/* worker_echo.c, worker_data.c, worker_email.c, worker_image.c */

void	 worker_echo(struct worker_ctx *);
void	 worker_data(struct worker_ctx *);
void	 worker_email(struct worker_ctx *);
void	 worker_image(struct worker_ctx *);

/* isolate.c */

#define CHILD_REPORT_FD	3	/* the report pipe's number in the child */

/*
 * In a freshly forked child of parent: isolates it (own process group,
 * PR_SET_PDEATHSIG, default signal dispositions and an empty mask, 0 =
 * /dev/null, 1 and 2 = ew, 3 = rw and nothing else, RLIMIT_AS and
 * RLIMIT_CPU from cfg), runs worker and _exit()s.
 */
void	 child_run(struct task *, const struct config *, bool test_hooks,
	    worker_fn, pid_t parent, int rw, int ew) __attribute__((noreturn));

/* spawn.c (the runner's side) and spawner.c (taskq-spawner) */

/*
 * The spawner is a small fork server, a separate executable linked with
 * libc, json-c and the echo worker only, started by the runner (fork and
 * exec, so it holds none of the runner's memory or shared libraries).
 * Forking a task child from it costs a fraction of a fork of the runner,
 * whose hundred shared libraries (libvips, libcurl, libpq and theirs) make
 * every fork copy some six hundred mappings.  The runner sends it one
 * request per task on a SOCK_SEQPACKET socket, with the child's report and
 * stderr pipes attached (SCM_RIGHTS); it forks, the child isolates itself
 * as child_run() does, and the spawner answers with the child's pid, and
 * later with its wait status.  Only types whose worker the spawner links
 * (spawn_type_ok) go through it; every other task, and every task while the
 * spawner is unavailable, is forked by the runner as before.
 *
 * Lifetime: the spawner has PR_SET_PDEATHSIG(SIGKILL) on the runner and its
 * children on the spawner, so a kill -9 of the runner takes them all.  The
 * spawner ignores SIGTERM, SIGINT and SIGHUP (the runner's shutdown decides
 * when children stop) and exits at EOF on its socket, killing its
 * children's process groups.  When it dies first, the runner requeues what
 * ran under it (OUTCOME_LOST) and starts a new one after a second (then
 * two, four... up to a minute while it keeps dying).
 *
 * The spawner, not the runner, is these children's parent, yet the runner
 * signals their process groups (cancel, timeout) until it has read their
 * exit.  So the spawner reports an exit without reaping (waitid WNOWAIT:
 * the zombie holds the pid and the group id) and reaps only when the runner
 * answers SPAWN_REAP, after which it never names that pid again.
 */
#define SPAWN_FD		3	/* the socket's number in the spawner */
#define SPAWN_MSG_MAX		(64 * 1024)	/* a larger request: forked directly */
#define SPAWN_MAGIC		0x74717370u	/* "tqsp", protocol version 1 */

/* Runner to spawner: this, then id, type and parameters (no NULs). */
struct spawn_req {
	uint32_t	 magic;
	uint32_t	 id_len;
	uint32_t	 type_len;
	uint32_t	 params_len;
	int32_t		 attempt;
	int32_t		 timeout_s;
	int32_t		 progress;
	int32_t		 max_cpu_s;	/* cfg->child_max_cpu_s */
	int64_t		 max_memory;	/* cfg->child_max_memory */
	int32_t		 test_hooks;
	int32_t		 pad;
};

/* Runner to spawner: done with these exited children, reap them. */
#define SPAWN_REAP_MAGIC	0x74717272u	/* "tqrr" */
#define SPAWN_REAP_MAX		1024
struct spawn_reap {
	uint32_t	 magic;
	uint32_t	 n;		/* then n int32_t pids */
};

enum spawn_ev {
	SPAWN_READY = 1,	/* the spawner runs: pid = its own */
	SPAWN_STARTED,		/* a request's child runs: pid */
	SPAWN_FAILED,		/* a request refused: value = errno */
	SPAWN_EXITED,		/* a child ended: pid, value = wait status;
				 * a zombie until the runner's SPAWN_REAP */
};

/* Spawner to runner: answers come in the order of the requests. */
struct spawn_msg {
	int32_t		 type;		/* enum spawn_ev */
	int32_t		 pid;
	int32_t		 value;
	int32_t		 pad;
};

struct spawner {
	pid_t		 pid;		/* 0: not running */
	int		 fd;		/* socket, -1 when not running */
	bool		 disabled;	/* not found or TASKQ_SPAWNER=none */
	bool		 lost;		/* it died: its children need requeueing */
	int64_t		 retry_at;	/* monotonic ms of the next start */
	unsigned	 fails;		/* losses since one last worked */
	struct spawn_msg *q;		/* exits read while awaiting an answer */
	size_t		 nq, qcap, qoff;
	int32_t		*acks;		/* exits handed out, to answer SPAWN_REAP */
	size_t		 nacks, ackcap;
	uint64_t	 spawned;	/* children started through it */
	size_t		 running;	/* of those, exits not yet read */
};

void	 spawner_init(struct spawner *);
/* Starts it if it is not running and may be (re)started now. */
bool	 spawner_ensure(struct spawner *);
/* Whether a task of this type and size can go through the spawner. */
bool	 spawn_type_ok(const struct task *);
/*
 * Asks the spawner for a child of task with pipes rw and ew; the pid, or -1
 * with errno set (ENOMEM, EAGAIN...: fork the task directly instead).  A
 * broken spawner is stopped (spawner_dead tells).
 */
pid_t	 spawner_spawn(struct spawner *, const struct task *,
	    const struct config *, bool test_hooks, int rw, int ew);
/*
 * The next child exit: 1 and *m, 0 none pending, -1 once when the spawner
 * has gone (the children it ran and did not report exited are dead).
 */
int	 spawner_next(struct spawner *, struct spawn_msg *);
/* Whether spawner_next() has something without reading the socket. */
bool	 spawner_pending(const struct spawner *);
/* The runner's waitpid() reaped the spawner with this status. */
void	 spawner_reaped(struct spawner *, int status);
/* Stops it (SIGKILL, then reaps it): its children die with it. */
void	 spawner_stop(struct spawner *);
/* The size of a task's request (at most SPAWN_MSG_MAX to be sent). */
size_t	 spawn_req_size(const struct task *);
/* The spawner-side protocol's encoding of a request (for tests too). */
size_t	 spawn_req_encode(const struct task *, const struct config *,
	    bool test_hooks, unsigned char *, size_t);
/* Decodes a request into a new task, or NULL if it is malformed. */
struct task *spawn_req_decode(const unsigned char *, size_t,
	    struct config *, bool *test_hooks);

/* child.c */

enum child_end {
	CHILD_END_NONE = 0,	/* running, or ended by itself */
	CHILD_END_CANCELLED,	/* gone from under us: no finish is written */
	CHILD_END_TIMEOUT,	/* exceeded task->timeout_s */
	CHILD_END_SHUTDOWN,	/* killed at the end of the shutdown grace */
	CHILD_END_SPAWNER,	/* its spawner died: requeued unless reported */
};

struct child {
	struct task	*task;		/* owned */
	pid_t		 pid;		/* also its process group; 0 once reaped */
	bool		 spawned;	/* forked by the spawner, not by us */
	int		 rfd;		/* report pipe, -1 when closed */
	int		 efd;		/* stderr pipe, -1 when closed */
	struct proto_reader rd;
	struct ring	 err;
	int64_t		 started;	/* monotonic ms */
	int64_t		 deadline;	/* monotonic ms of the timeout */
	int64_t		 kill_at;	/* monotonic ms of the SIGKILL, 0 none */
	enum child_end	 end;		/* why we stopped it */
	int		 progress;	/* last reported */
	bool		 progress_dirty; /* not yet written */
	bool		 reported;	/* result or failure received */
	bool		 failed;	/* ... and it was a failure */
	bool		 temporary;	/* ... a temporary one */
	char		*result;	/* owned: result JSON or error message */
	char		*proto_error;	/* owned: why the stream was refused */
	bool		 exited;
	int		 status;	/* waitpid() status once exited */
	bool		 finish_ready;	/* outcome computed, awaiting the store */
	struct file_info *files;	/* owned: files the child announced */
	size_t		 nfiles;	/* at most OUTPUT_FILES_MAX */
	size_t		 nfiles_added;	/* files[0..n) are in the store */
	struct task_finish_buf {
		int		 outcome;	/* enum task_outcome */
		char		*error;		/* owned */
		char		*output;	/* owned */
		int64_t		 retry_at;
	} fin;
};

struct child	*child_spawn(struct task *, const struct config *, bool test_hooks);
/* The same through sp when the task allows it and sp runs (NULL: fork). */
struct child	*child_spawn_via(struct task *, const struct config *,
		    bool test_hooks, struct spawner *sp);
void		 child_free(struct child *);
void		 child_signal(struct child *, int sig);
/* Reads what is available on one of the child's pipes (bounded per call);
 * true if it stopped at the bound with more possibly waiting. */
bool		 child_read(struct child *, int fd);
void		 child_drain(struct child *);
/* Computes the outcome of an exited child into c->fin (c->finish_ready). */
void		 child_conclude(struct child *, const struct config *);

/* outputs.c */

#define OUTPUT_FILES_MAX	4	/* produced files kept per task */

/* A PROTO_FILE frame: NULL if taken, else why it is refused. */
const char	*output_frame(struct child *, const unsigned char *, size_t);
/*
 * Before a SUCCESS is recorded: registers the child's files not yet in the
 * store.  A file missing on disk or refused by the store turns the outcome
 * into FAILED (the files are then removed).  false only for a store error
 * worth retrying (busy, full): the caller tries again shortly.
 */
bool		 outputs_register(struct store *, const struct config *,
		    struct child *);
/* After the outcome is written (kept: a SUCCESS was recorded) or dropped:
 * removes the files unless they belong to a recorded SUCCESS. */
void		 outputs_settle(struct store *, const struct config *,
		    struct child *, bool kept);

/* loop.c */

struct runner_opts {
	const char	*config_path;	/* NULL: the default, missing is OK */
	bool		 config_must_exist;
	char	       **overrides;	/* "key=value" strings, borrowed */
	size_t		 noverrides;
};

/* Loads the config file and the overrides into cfg; false with err set. */
bool	 runner_config_load(const struct runner_opts *, struct config *,
	    char *err, size_t errlen);
/* Runs until SIGTERM/SIGINT and the drain; returns the exit status. */
int	 runner_run(const struct runner_opts *, struct config *);
int64_t	 mono_ms(void);

/* notify.c (no-ops without libsystemd) */

void	 notify_ready(void);
void	 notify_stopping(void);
void	 notify_reloading(void);
void	 notify_watchdog(void);
void	 notify_status(const char *);
/* Half the watchdog period in ms, or 0 when no watchdog is configured. */
int64_t	 notify_watchdog_interval_ms(void);

#endif /* TASKQ_RUNNER_H */
