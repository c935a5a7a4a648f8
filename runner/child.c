/*
 * One task's child process: spawning it isolated (own process group, fresh
 * signal state, no inherited descriptors but its two pipes, resource limits,
 * death with the runner), reading its report and stderr pipes, stopping it,
 * and turning how it ended into the outcome the store records.
 */
#include <config.h>

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "store.h"
#include "runner.h"

#define CHILD_READ_MAX	(64 * 1024)

static int
child_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

/*
 * Forks the child for task.  On success the child owns task (freed by
 * child_free) and is returned; on failure NULL, errno set, the caller still
 * owns task and the failure is logged here.
 */
struct child *
child_spawn(struct task *task, const struct config *cfg, bool test_hooks)
{
	return child_spawn_via(task, cfg, test_hooks, NULL);
}

/*
 * The same, through the spawner when sp is not NULL, the task's type is one
 * it runs and it is up; otherwise (or when it refuses) forked here.
 */
struct child *
child_spawn_via(struct task *task, const struct config *cfg, bool test_hooks,
    struct spawner *sp)
{
	struct child	*c = NULL;
	int		 rp[2] = { -1, -1 }, ep[2] = { -1, -1 }, serrno;
	pid_t		 parent, pid;
	worker_fn	 worker;

	worker = worker_find(task->task_type);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("task %s: calloc", task->id);
		goto fail;
	}
	c->rfd = c->efd = -1;
	proto_reader_init(&c->rd);
	ring_init(&c->err);
	if (pipe2(rp, O_CLOEXEC) == -1 || pipe2(ep, O_CLOEXEC) == -1) {
		log_warn("task %s: pipe", task->id);
		goto fail;
	}
	pid = -1;
	if (sp != NULL && spawn_type_ok(task) && spawner_ensure(sp) &&
	    (pid = spawner_spawn(sp, task, cfg, test_hooks, rp[1], ep[1])) > 0)
		c->spawned = true;
	if (!c->spawned) {
		parent = getpid();
		if ((pid = fork()) == -1) {
			log_warn("task %s: fork", task->id);
			goto fail;
		}
		if (pid == 0)
			child_run(task, cfg, test_hooks, worker, parent, rp[1],
			    ep[1]);
		/* Both sides set the group, so it is set whichever runs first. */
		if (setpgid(pid, pid) == -1 && errno != EACCES && errno != ESRCH)
			log_warn("task %s: setpgid %d", task->id, (int)pid);
	}
	close(rp[1]);
	close(ep[1]);
	c->rfd = rp[0];
	c->efd = ep[0];
	if (child_nonblock(c->rfd) == -1 || child_nonblock(c->efd) == -1)
		log_warn("task %s: O_NONBLOCK", task->id);	/* reads may block briefly */
	c->pid = pid;
	c->task = task;
	c->started = mono_ms();
	c->deadline = c->started + (int64_t)(task->timeout_s > 0 ?
	    task->timeout_s : 86400) * 1000;
	c->progress = task->progress;
	return c;
fail:
	serrno = errno;
	if (rp[0] != -1) {
		close(rp[0]);
		close(rp[1]);
	}
	if (ep[0] != -1) {
		close(ep[0]);
		close(ep[1]);
	}
	if (c != NULL) {
		proto_reader_free(&c->rd);
		free(c);
	}
	errno = serrno;
	return NULL;
}

void
child_free(struct child *c)
{
	if (c == NULL)
		return;
	if (c->rfd != -1)
		close(c->rfd);
	if (c->efd != -1)
		close(c->efd);
	proto_reader_free(&c->rd);
	ring_free(&c->err);
	free(c->result);
	free(c->proto_error);
	free(c->fin.error);
	free(c->fin.output);
	free(c->files);
	task_free(c->task);
	free(c);
}

/* Signals the child's whole process group (if it still exists). */
void
child_signal(struct child *c, int sig)
{
	if (c->pid <= 0)
		return;
	if (kill(-c->pid, sig) == -1 && errno == ESRCH)
		(void)kill(c->pid, sig);
}

/* A protocol violation: record why, stop reading and kill the child. */
static void
child_refuse(struct child *c, const char *why)
{
	if (c->proto_error == NULL && asprintf(&c->proto_error,
	    "worker protocol error: %s", why) == -1)
		c->proto_error = NULL;
	log_warnx("task %s: worker protocol error: %s", c->task->id, why);
	if (c->rfd != -1) {
		close(c->rfd);
		c->rfd = -1;
	}
	child_signal(c, SIGKILL);
}

/* Whether the n bytes at p are exactly one JSON object, in valid UTF-8. */
static bool
child_json_object(const unsigned char *p, size_t n)
{
	struct json_tokener	*tok;
	struct json_object	*obj;
	bool			 ok;

	if (n > INT32_MAX || memchr(p, '\0', n) != NULL ||
	    (tok = json_tokener_new()) == NULL)
		return false;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	ok = obj != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) == n &&
	    json_object_is_type(obj, json_type_object);
	json_object_put(obj);
	json_tokener_free(tok);
	return ok;
}

static void
child_frame(struct child *c, const struct proto_frame *f)
{
	const char *why;
	char	*s;

	switch (f->type) {
	case PROTO_PROGRESS:
		if (f->payload[0] <= 100 && f->payload[0] != c->progress) {
			c->progress = f->payload[0];
			c->progress_dirty = true;
		}
		break;
	case PROTO_RESULT:
		if (c->reported)
			break;	/* the first report wins */
		if (!child_json_object(f->payload, f->len)) {
			child_refuse(c, "the result is not a JSON object");
			break;
		}
		if ((s = strndup((const char *)f->payload, f->len)) == NULL) {
			child_refuse(c, "out of memory for the result");
			break;
		}
		c->reported = true;
		c->result = s;
		break;
	case PROTO_FAIL:
		if (c->reported)
			break;
		if ((s = malloc(f->len)) == NULL) {
			child_refuse(c, "out of memory for the error");
			break;
		}
		memcpy(s, f->payload + 1, f->len - 1);
		s[f->len - 1] = '\0';
		utf8_sanitize(s, f->len - 1);
		c->reported = true;
		c->failed = true;
		c->temporary = f->payload[0] != 0;
		c->result = s;
		break;
	case PROTO_FILE:
		if ((why = output_frame(c, f->payload, f->len)) != NULL)
			child_refuse(c, why);
		break;
	default:
		child_refuse(c, "unknown frame type");
		break;
	}
}

/*
 * Reads what is available on fd (one of the child's pipes), up to a bound per
 * call so that one chatty child cannot starve the others; closes it at EOF.
 * Returns true when it stopped at that bound (more may be waiting), false at
 * EAGAIN, EOF or an error.
 */
bool
child_read(struct child *c, int fd)
{
	unsigned char		 buf[16384];
	struct proto_frame	 f;
	enum proto_err		 e;
	ssize_t			 n;
	size_t			 total = 0;

	while (total < CHILD_READ_MAX) {
		if (fd == -1 || (fd != c->rfd && fd != c->efd))
			return false;
		n = read(fd, buf, sizeof(buf));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("task %s: read from child", c->task->id);
			if (errno == EAGAIN)
				return false;
			n = 0;	/* treat as EOF */
		}
		if (n == 0) {
			if (fd == c->rfd) {
				if ((e = proto_reader_eof(&c->rd)) != PROTO_OK &&
				    !c->reported)
					log_debug("task %s: report stream: %s",
					    c->task->id, proto_strerror(e));
				close(c->rfd);
				c->rfd = -1;
			} else {
				close(c->efd);
				c->efd = -1;
			}
			return false;
		}
		total += (size_t)n;
		if (fd == c->efd) {
			if (!ring_write(&c->err, buf, (size_t)n))
				log_warnx("task %s: out of memory for worker output",
				    c->task->id);
			continue;
		}
		if ((e = proto_reader_feed(&c->rd, buf, (size_t)n)) != PROTO_OK) {
			child_refuse(c, proto_strerror(e));
			return false;
		}
		while ((e = proto_reader_next(&c->rd, &f)) == PROTO_OK) {
			child_frame(c, &f);
			if (c->rfd == -1)
				return false;
		}
		if (e != PROTO_AGAIN) {
			child_refuse(c, proto_strerror(e));
			return false;
		}
	}
	return true;	/* the per-call bound was reached: more may be there */
}

/*
 * After the child exited: everything it wrote is in the pipes, so read until
 * EAGAIN and close them (a grandchild holding them open is not waited for).
 */
void
child_drain(struct child *c)
{
	int	 i;

	/* At most a full pipe each (64 KiB a call), whatever the writer does. */
	for (i = 0; i < 64 && c->rfd != -1 && child_read(c, c->rfd); i++)
		continue;
	for (i = 0; i < 64 && c->efd != -1 && child_read(c, c->efd); i++)
		continue;
	if (c->rfd != -1) {
		close(c->rfd);
		c->rfd = -1;
	}
	if (c->efd != -1) {
		close(c->efd);
		c->efd = -1;
	}
}

static char *
child_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
child_strdupf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	return rc == -1 ? NULL : s;
}

/*
 * Decides what the store records for an exited child.  Why we stopped it
 * comes first (a cancelled task records nothing; a timed-out one fails even
 * if a late result slipped in), then what it reported, then how it died.
 */
void
child_conclude(struct child *c, const struct config *cfg)
{
	int	 sig;

	c->finish_ready = true;
	c->fin.output = ring_text(&c->err);
	c->fin.outcome = OUTCOME_FAILED;
	switch (c->end) {
	case CHILD_END_CANCELLED:
		c->fin.outcome = -1;	/* nothing to write */
		return;
	case CHILD_END_SHUTDOWN:
		c->fin.outcome = OUTCOME_LOST;
		c->fin.retry_at = time_now_ms();
		c->fin.error = strdup("runner shut down before the task finished");
		return;
	case CHILD_END_TIMEOUT:
		c->fin.error = child_strdupf("timed out after %d s", c->task->timeout_s);
		return;
	case CHILD_END_SPAWNER:
		if (c->reported && c->proto_error == NULL)
			break;	/* it had finished: its report stands */
		/* Killed with the spawner, through no fault of its own. */
		c->fin.outcome = OUTCOME_LOST;
		c->fin.retry_at = time_now_ms();
		c->fin.error = strdup("the runner's spawner process died before "
		    "the task finished");
		return;
	case CHILD_END_NONE:
		break;
	}
	if (c->proto_error != NULL) {
		c->fin.error = c->proto_error;
		c->proto_error = NULL;
		return;
	}
	if (c->reported && !c->failed) {
		c->fin.outcome = OUTCOME_SUCCESS;
		return;
	}
	if (c->reported) {
		c->fin.error = c->result;
		c->result = NULL;
		if (c->temporary) {
			c->fin.outcome = OUTCOME_RETRY;
			c->fin.retry_at = time_now_ms() + backoff_delay_ms(
			    cfg->retry_base_ms, cfg->retry_max_ms,
			    c->task->attempt, backoff_random());
		}
		return;
	}
	if (WIFSIGNALED(c->status)) {
		sig = WTERMSIG(c->status);
		if (sig == SIGXCPU && cfg->child_max_cpu_s > 0)
			c->fin.error = child_strdupf("worker exceeded its CPU time "
			    "limit (child_max_cpu_s = %d)", cfg->child_max_cpu_s);
		else
			c->fin.error = child_strdupf("worker crashed (signal %d)", sig);
	} else
		c->fin.error = child_strdupf("worker exited with status %d "
		    "without a result", WEXITSTATUS(c->status));
}
