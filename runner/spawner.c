/*
 * taskq-spawner: the runner's fork server (runner.h, "spawn.c and
 * spawner.c").  Started by taskq-runner with its socket as SPAWN_FD and the
 * runner's pid as the only argument; not meant to be run by hand.  It is a
 * small process (libc, json-c, the echo worker), so forking a task child
 * from it is several times cheaper than forking the runner.
 *
 * Loop: one poll() over the socket and a signalfd for SIGCHLD.  A request
 * (with the child's report and stderr pipes attached) is answered at once
 * with SPAWN_STARTED and the pid, or SPAWN_FAILED and an errno; an exited
 * child's group is killed (what the worker left behind goes with it, as
 * when the runner reaps its own children) and its exit reported with
 * SPAWN_EXITED; it is reaped when the runner answers SPAWN_REAP.  At EOF on the socket, or when the runner dies
 * (PR_SET_PDEATHSIG), the spawner kills its children's groups and exits.
 */
#include <config.h>

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

/* Children not yet reaped; reported: exited, told, awaiting SPAWN_REAP. */
static struct kid {
	pid_t	 pid;
	bool	 reported;
}		*kids;
static size_t	 nkids, kidcap;

/* The echo worker's clock (loop.c's, which the spawner does not link). */
int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn))
spawner_exit(int status)
{
	size_t	 i;

	for (i = 0; i < nkids; i++)
		(void)kill(-kids[i].pid, SIGKILL);
	_exit(status);
}

static void
spawner_send(int type, pid_t pid, int value)
{
	struct spawn_msg	 m;
	ssize_t			 n;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.pid = (int32_t)pid;
	m.value = value;
	do
		n = send(SPAWN_FD, &m, sizeof(m), MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(m))
		spawner_exit(0);	/* the runner is gone */
}

/*
 * Reports every newly exited child, after killing what it left in its
 * group, but does not reap it: the zombie keeps its pid and group id from
 * being reused until the runner, which may still signal them (cancel,
 * timeout), has read the exit and answered with SPAWN_REAP.
 */
static void
spawner_exits(void)
{
	siginfo_t	 si;
	size_t		 i;
	int		 status;

	for (i = 0; i < nkids; i++) {
		if (kids[i].reported)
			continue;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)kids[i].pid, &si,
		    WEXITED | WNOHANG | WNOWAIT) == -1 || si.si_pid == 0)
			continue;
		/* siginfo to a wait(2) status, as WIFEXITED & co. decode it. */
		switch (si.si_code) {
		case CLD_EXITED:
			status = (si.si_status & 0xff) << 8;
			break;
		case CLD_DUMPED:
			status = (si.si_status & 0x7f) | 0x80;
			break;
		default:
			status = si.si_status & 0x7f;
			break;
		}
		(void)kill(-kids[i].pid, SIGKILL);
		kids[i].reported = true;
		spawner_send(SPAWN_EXITED, kids[i].pid, status);
	}
}

/* SPAWN_REAP: the runner is done with these pids. */
static void
spawner_reap(const unsigned char *buf, size_t n)
{
	struct spawn_reap	 h;
	int32_t			 pid;
	size_t			 i, j;

	memcpy(&h, buf, sizeof(h));
	if (h.n > SPAWN_REAP_MAX || n != sizeof(h) + h.n * sizeof(pid)) {
		/* Not our runner's protocol. */
		fprintf(stderr, "taskq-spawner: a reap message of %zu bytes "
		    "for %u pids\n", n, (unsigned)h.n);
		spawner_exit(1);
	}
	for (j = 0; j < h.n; j++) {
		memcpy(&pid, buf + sizeof(h) + j * sizeof(pid), sizeof(pid));
		for (i = 0; i < nkids; i++) {
			if (kids[i].pid != pid || !kids[i].reported)
				continue;
			while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
				continue;
			kids[i] = kids[--nkids];
			break;
		}
	}
}

/* Receives and answers one request; false at EOF. */
static bool
spawner_request(unsigned char *buf)
{
	union {
		struct cmsghdr	 h;
		char		 b[CMSG_SPACE(4 * sizeof(int))];
	}			 cm;
	struct cmsghdr		*ch;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct config		 cfg;
	struct task		*t;
	const struct task_type	*tt;
	struct kid		*nk;
	uint32_t		 magic;
	pid_t			 pid, self;
	ssize_t			 n;
	size_t			 i, nfds = 0;
	int			 fds[4], err;
	bool			 hooks;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = SPAWN_MSG_MAX;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	do
		n = recvmsg(SPAWN_FD, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return true;
	if (n == -1) {
		fprintf(stderr, "taskq-spawner: recvmsg: %s\n", strerror(errno));
		return false;
	}
	if (n == 0)
		return false;
	for (ch = CMSG_FIRSTHDR(&mh); ch != NULL; ch = CMSG_NXTHDR(&mh, ch)) {
		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int) &&
		    nfds < 4; i++)
			memcpy(&fds[nfds++], CMSG_DATA(ch) + i * sizeof(int),
			    sizeof(int));
	}
	t = NULL;
	if ((size_t)n >= sizeof(struct spawn_reap) && nfds == 0 &&
	    !(mh.msg_flags & MSG_TRUNC)) {
		memcpy(&magic, buf, sizeof(magic));
		if (magic == SPAWN_REAP_MAGIC) {
			spawner_reap(buf, (size_t)n);
			return true;
		}
	}
	err = EPROTO;
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds != 2 ||
	    (t = spawn_req_decode(buf, (size_t)n, &cfg, &hooks)) == NULL)
		goto fail;
	err = EINVAL;
	if ((tt = tasktype_find(t->task_type)) == NULL || tt->id != TYPE_ECHO)
		goto fail;
	err = ENOMEM;
	if (nkids == kidcap) {
		if ((nk = reallocarray(kids, kidcap + 64, sizeof(*nk))) == NULL)
			goto fail;
		kids = nk;
		kidcap += 64;
	}
	self = getpid();
	if ((pid = fork()) == -1) {
		err = errno;
		goto fail;
	}
	if (pid == 0) {
		free(kids);
		child_run(t, &cfg, hooks, worker_echo, self, fds[0], fds[1]);
	}
	(void)setpgid(pid, pid);	/* as the child does itself */
	kids[nkids].pid = pid;
	kids[nkids++].reported = false;
	close(fds[0]);
	close(fds[1]);
	task_free(t);
	spawner_send(SPAWN_STARTED, pid, 0);
	return true;
fail:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	task_free(t);
	spawner_send(SPAWN_FAILED, 0, err);
	return true;
}

int
main(int argc, char *argv[])
{
	struct signalfd_siginfo	 si;
	struct sigaction	 sa;
	struct pollfd		 pfd[2];
	unsigned char		*buf;
	sigset_t		 set;
	char			*end;
	long			 runner;
	int			 sfd;

	if (argc != 2 || (runner = strtol(argv[1], &end, 10)) <= 1 ||
	    *end != '\0') {
		fprintf(stderr, "usage: taskq-spawner runner-pid (started by "
		    "taskq-runner only)\n");
		return 2;
	}
	/* Die with the runner; it may have died before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != runner)
		return 1;
	/* The runner decides when tasks stop; a terminal's ^C is not ours. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		fprintf(stderr, "taskq-spawner: signalfd: %s\n", strerror(errno));
		return 1;
	}
	if ((buf = malloc(SPAWN_MSG_MAX)) == NULL) {
		fprintf(stderr, "taskq-spawner: out of memory\n");
		return 1;
	}
	spawner_send(SPAWN_READY, getpid(), 0);

	for (;;) {
		pfd[0].fd = SPAWN_FD;
		pfd[0].events = POLLIN;
		pfd[1].fd = sfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "taskq-spawner: poll: %s\n",
			    strerror(errno));
			spawner_exit(1);
		}
		if (pfd[1].revents & POLLIN) {
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				continue;
			spawner_exits();
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* Requests one at a time, so exits are not delayed. */
			if (!spawner_request(buf))
				spawner_exit(0);
		}
		if (pfd[0].revents & POLLNVAL)
			spawner_exit(1);
	}
}
