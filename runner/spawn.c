/*
 * The runner's side of the spawner (runner.h explains why it exists):
 * finding and starting taskq-spawner, asking it for a task's child, and
 * reading the children's exits it reports.  Anything unexpected from it
 * (no answer within SPAWN_ANSWER_MS, a malformed message, EOF) stops it; the
 * loop then requeues what ran under it and tasks are forked directly until
 * a new one starts, at most once a second.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "runner.h"

#define SPAWN_ANSWER_MS		5000	/* a fork answers in well under 1 ms */
#define SPAWN_RESTART_MS	1000	/* doubled per failure, up to ... */
#define SPAWN_RESTART_MAX_MS	60000
#define SPAWN_NAME		"taskq-spawner"

void
spawner_init(struct spawner *sp)
{
	const char	*env;

	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	env = getenv("TASKQ_SPAWNER");
	if (env != NULL && strcmp(env, "none") == 0) {
		log_info("TASKQ_SPAWNER=none: the runner forks every task itself");
		sp->disabled = true;
	}
}

/*
 * The executable: $TASKQ_SPAWNER, else next to our own (a build
 * directory, or an install with both in one directory), else the
 * installed one in PKGLIBEXECDIR.
 */
static bool
spawner_path(char *buf, size_t len)
{
	const char	*env;
	char		 self[PATH_MAX], *slash;
	ssize_t		 n;

	if ((env = getenv("TASKQ_SPAWNER")) != NULL && *env != '\0') {
		/* A path longer than the buffer is not run truncated. */
		return (size_t)snprintf(buf, len, "%s", env) < len &&
		    access(buf, X_OK) == 0;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(buf, len, "%s/%s", self,
			    SPAWN_NAME) < len && access(buf, X_OK) == 0)
				return true;
		}
	}
	return (size_t)snprintf(buf, len, "%s/%s", PKGLIBEXECDIR, SPAWN_NAME) <
	    len && access(buf, X_OK) == 0;
}

static bool
spawner_queue(struct spawner *sp, const struct spawn_msg *m)
{
	struct spawn_msg	*nq;
	size_t			 ncap;

	if (sp->nq == sp->qcap) {
		ncap = sp->qcap == 0 ? 16 : sp->qcap * 2;
		if ((nq = reallocarray(sp->q, ncap, sizeof(*nq))) == NULL) {
			log_warn("spawner: reallocarray");
			return false;
		}
		sp->q = nq;
		sp->qcap = ncap;
	}
	sp->q[sp->nq++] = *m;
	return true;
}

/*
 * One message, or 0 at EAGAIN, -1 at EOF or on an error (logged).  An exit
 * is one of the children it runs, so those it reports are bounded by those
 * it started (sp->running): the queue of them cannot grow without end.
 */
static int
spawner_recv(struct spawner *sp, struct spawn_msg *m)
{
	ssize_t	 n;

	do
		n = recv(sp->fd, m, sizeof(*m), MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n == -1) {
		log_warn("spawner %d: recv", (int)sp->pid);
		return -1;
	}
	if (n == 0)
		return -1;
	if ((size_t)n != sizeof(*m)) {
		log_warnx("spawner %d: a message of %zd bytes", (int)sp->pid, n);
		return -1;
	}
	if (m->type == SPAWN_EXITED) {
		if (sp->running == 0) {
			log_warnx("spawner %d: exit of %d, more exits than "
			    "children", (int)sp->pid, (int)m->pid);
			return -1;
		}
		sp->running--;
	}
	return 1;
}

/*
 * Stops it if it still runs (reaped is set when the loop's waitpid got it
 * already), keeping the exits it reported before it went, and marks it
 * lost so that the loop requeues its remaining children.
 */
static void
spawner_kill(struct spawner *sp, bool reaped)
{
	struct spawn_msg	 m;
	int64_t			 delay;

	if (sp->pid > 0 && !reaped) {
		(void)kill(sp->pid, SIGKILL);
		while (waitpid(sp->pid, NULL, 0) == -1 && errno == EINTR)
			continue;
	}
	sp->pid = 0;
	if (sp->fd != -1) {
		while (spawner_recv(sp, &m) == 1)
			if (m.type == SPAWN_EXITED && !spawner_queue(sp, &m))
				break;
		close(sp->fd);
		sp->fd = -1;
		sp->lost = true;
	}
	sp->nacks = 0;		/* its zombies went with it */
	sp->running = 0;
	/* One that keeps dying is retried less and less often. */
	delay = (int64_t)SPAWN_RESTART_MS << (sp->fails < 6 ? sp->fails : 6);
	if (delay > SPAWN_RESTART_MAX_MS)
		delay = SPAWN_RESTART_MAX_MS;
	sp->retry_at = mono_ms() + delay;
	sp->fails++;
}

/* Waits until then for the socket to be readable; false on timeout or error. */
static bool
spawner_wait(struct spawner *sp, int64_t until)
{
	struct pollfd	 pfd;
	int64_t		 left;
	int		 rc;

	for (;;) {
		if ((left = until - mono_ms()) < 0)
			left = 0;
		pfd.fd = sp->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc == -1 && errno == EINTR)
			continue;
		return rc > 0;
	}
}

bool
spawner_ensure(struct spawner *sp)
{
	struct spawn_msg	 m;
	char			 path[PATH_MAX], arg[32];
	int			 sv[2], nul;
	pid_t			 pid, runner;
	sigset_t		 set;

	if (sp->fd != -1)
		return true;
	if (sp->disabled || mono_ms() < sp->retry_at)
		return false;
	sp->retry_at = mono_ms() + SPAWN_RESTART_MS;	/* if socketpair, fork fail */
	if (!spawner_path(path, sizeof(path))) {
		log_info("no %s found (%s): the runner forks every task itself",
		    SPAWN_NAME, path);
		sp->disabled = true;
		return false;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("spawner: socketpair");
		return false;
	}
	runner = getpid();
	snprintf(arg, sizeof(arg), "%d", (int)runner);
	if ((pid = fork()) == -1) {
		log_warn("spawner: fork");
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (pid == 0) {
		/* Only the socket as SPAWN_FD, stdin /dev/null, our stderr. */
		if (sv[1] == SPAWN_FD) {
			if (fcntl(sv[1], F_SETFD, 0) == -1)
				_exit(127);
		} else if (dup2(sv[1], SPAWN_FD) == -1)
			_exit(127);
		if ((nul = open("/dev/null", O_RDONLY)) == -1 ||
		    dup2(nul, STDIN_FILENO) == -1)
			_exit(127);
		if (close_range(SPAWN_FD + 1, ~0U, 0) == -1)
			_exit(127);
		sigemptyset(&set);
		(void)sigprocmask(SIG_SETMASK, &set, NULL);
		execl(path, SPAWN_NAME, arg, (char *)NULL);
		fprintf(stderr, "taskq-runner: exec %s: %s\n", path,
		    strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	sp->fd = sv[0];
	sp->pid = pid;
	if (!spawner_wait(sp, mono_ms() + SPAWN_ANSWER_MS) ||
	    spawner_recv(sp, &m) != 1 || m.type != SPAWN_READY) {
		spawner_kill(sp, false);
		sp->lost = false;	/* it ran nothing */
		log_warnx("spawner %s did not start: forking tasks directly, "
		    "retrying in %lld ms", path,
		    (long long)(sp->retry_at - mono_ms()));
		return false;
	}
	log_info("spawner %d started (%s)", (int)pid, path);
	return true;
}

bool
spawn_type_ok(const struct task *t)
{
	return worker_find(t->task_type) == worker_echo &&
	    spawn_req_size(t) <= SPAWN_MSG_MAX;
}

pid_t
spawner_spawn(struct spawner *sp, const struct task *t,
    const struct config *cfg, bool test_hooks, int rw, int ew)
{
	unsigned char		*buf = NULL;
	union {
		struct cmsghdr	 h;
		char		 b[CMSG_SPACE(2 * sizeof(int))];
	}			 cm;
	struct cmsghdr		*ch;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct spawn_msg	 m;
	int			 fds[2] = { rw, ew }, rc;
	size_t			 n;
	ssize_t			 w;
	int64_t			 until;
	pid_t			 pid = -1;

	if (sp->fd == -1) {
		errno = ESRCH;
		return -1;
	}
	if ((n = spawn_req_size(t)) > SPAWN_MSG_MAX) {
		errno = E2BIG;
		return -1;
	}
	if ((buf = malloc(n)) == NULL)
		return -1;
	if ((n = spawn_req_encode(t, cfg, test_hooks, buf, n)) == 0) {
		errno = E2BIG;
		goto out;
	}
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = buf;
	iov.iov_len = n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	ch = CMSG_FIRSTHDR(&mh);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(ch), fds, sizeof(fds));
	do
		w = sendmsg(sp->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w == -1 && errno == EINTR);
	if (w == -1 && (errno == EAGAIN || errno == ENOBUFS || errno == ENOMEM))
		goto out;	/* busy: this one is forked directly */
	if (w != (ssize_t)n) {
		log_warn("task %s: sending to spawner %d", t->id, (int)sp->pid);
		goto broken;
	}
	/* The answer: exits of earlier children may come first. */
	until = mono_ms() + SPAWN_ANSWER_MS;
	for (;;) {
		if ((rc = spawner_recv(sp, &m)) == -1)
			goto broken;
		if (rc == 0) {
			if (!spawner_wait(sp, until)) {
				log_warnx("task %s: spawner %d did not answer "
				    "within %d ms", t->id, (int)sp->pid,
				    SPAWN_ANSWER_MS);
				goto broken;
			}
			continue;
		}
		if (m.type == SPAWN_EXITED) {
			if (!spawner_queue(sp, &m))
				goto broken;
			continue;
		}
		if (m.type == SPAWN_STARTED && m.pid > 0) {
			pid = m.pid;
			sp->spawned++;
			sp->running++;
			goto out;
		}
		if (m.type == SPAWN_FAILED) {
			log_debug("task %s: spawner: %s", t->id, strerror(m.value));
			errno = m.value;
			goto out;
		}
		log_warnx("task %s: spawner %d: unexpected message %d", t->id,
		    (int)sp->pid, (int)m.type);
		goto broken;
	}
broken:
	spawner_kill(sp, false);
	errno = EPIPE;
out:
	free(buf);
	return pid;
}

/* Remembers that the caller is being handed pid's exit. */
static void
spawner_handout(struct spawner *sp, const struct spawn_msg *m)
{
	int32_t	*na;
	size_t	 ncap;

	if (sp->nacks == sp->ackcap) {
		ncap = sp->ackcap == 0 ? 64 : sp->ackcap * 2;
		if ((na = reallocarray(sp->acks, ncap, sizeof(*na))) == NULL) {
			/* The zombie stays until the spawner goes: harmless. */
			log_warn("spawner: reallocarray");
			return;
		}
		sp->acks = na;
		sp->ackcap = ncap;
	}
	sp->acks[sp->nacks++] = m->pid;
}

/*
 * SPAWN_REAP for the exits handed out: the caller has processed them (the
 * loop reads them all before it could signal anything again).  Kept for the
 * next time if the socket is full.
 */
static void
spawner_ack(struct spawner *sp)
{
	unsigned char		 buf[sizeof(struct spawn_reap) +
				    SPAWN_REAP_MAX * sizeof(int32_t)];
	struct spawn_reap	 h;
	size_t			 n, done = 0;
	ssize_t			 w;

	while (sp->fd != -1 && done < sp->nacks) {
		n = sp->nacks - done;
		if (n > SPAWN_REAP_MAX)
			n = SPAWN_REAP_MAX;
		h.magic = SPAWN_REAP_MAGIC;
		h.n = (uint32_t)n;
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), sp->acks + done, n * sizeof(int32_t));
		do
			w = send(sp->fd, buf, sizeof(h) + n * sizeof(int32_t),
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w == -1 && errno == EINTR);
		if (w == -1)
			break;	/* full: later; gone: the next read says so */
		done += n;
	}
	if (done > 0 && done < sp->nacks)
		memmove(sp->acks, sp->acks + done,
		    (sp->nacks - done) * sizeof(int32_t));
	sp->nacks -= done;
}

int
spawner_next(struct spawner *sp, struct spawn_msg *m)
{
	int	 rc;

	if (sp->qoff < sp->nq) {
		*m = sp->q[sp->qoff++];
		if (sp->qoff == sp->nq)
			sp->qoff = sp->nq = 0;
		spawner_handout(sp, m);
		return 1;
	}
	if (sp->lost) {
		sp->lost = false;
		return -1;
	}
	if (sp->fd == -1)
		return 0;
	while ((rc = spawner_recv(sp, m)) == 1) {
		if (m->type == SPAWN_EXITED) {
			sp->fails = 0;	/* it works */
			spawner_handout(sp, m);
			return 1;
		}
		log_warnx("spawner %d: unexpected message %d", (int)sp->pid,
		    (int)m->type);
		rc = -1;
		break;
	}
	if (rc == 0) {
		spawner_ack(sp);
		return 0;
	}
	log_warnx("spawner %d went away: its running tasks are requeued",
	    (int)sp->pid);
	spawner_kill(sp, false);
	return spawner_next(sp, m);
}

/* The loop's waitpid() reaped it: it died on its own. */
void
spawner_reaped(struct spawner *sp, int status)
{
	log_warnx("spawner %d died (status %#x): its running tasks are "
	    "requeued", (int)sp->pid, status);
	spawner_kill(sp, true);
}

bool
spawner_pending(const struct spawner *sp)
{
	return sp->qoff < sp->nq || sp->lost;
}

void
spawner_stop(struct spawner *sp)
{
	spawner_kill(sp, false);
	sp->lost = false;
	free(sp->q);
	sp->q = NULL;
	sp->nq = sp->qcap = sp->qoff = 0;
	free(sp->acks);
	sp->acks = NULL;
	sp->nacks = sp->ackcap = 0;
}
