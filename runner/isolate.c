/*
 * A task child's isolation, shared by the two processes that fork task
 * children: the runner itself (child.c) and the spawner (spawner.c).  Own
 * process group, death with its parent, fresh signal state, descriptors 0
 * to 3 only, resource limits; then the worker runs.
 */
#include <config.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"

/* Moves fd to a number >= 10, so the dup2() to 0..3 cannot clobber it. */
static int
child_fd_high(int fd)
{
	int	 nfd;

	if ((nfd = fcntl(fd, F_DUPFD, 10)) == -1)
		_exit(127);
	return nfd;
}

static void
child_close_from(int lowfd)
{
	long	 max, fd;

	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9: close one by one up to the limit. */
	if ((max = sysconf(_SC_OPEN_MAX)) < 0 || max > 65536)
		max = 65536;
	for (fd = lowfd; fd < max; fd++)
		(void)close((int)fd);
}

static void
child_limit(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit	 rl;

	rl.rlim_cur = soft;
	rl.rlim_max = hard;
	if (setrlimit(resource, &rl) == -1)
		fprintf(stderr, "taskq-runner child: setrlimit: %s\n", strerror(errno));
}

/*
 * The child's side of the fork: isolate, then run the worker and leave with
 * _exit() (never exit(): the stdio buffers and atexit handlers are the
 * forking process's).  Runs in a copy of a single-threaded process (the
 * runner or the spawner), so allocating is safe here.  parent is the pid of
 * that process: if it is already gone, the task must not run at all.
 */
void
child_run(struct task *task, const struct config *cfg, bool test_hooks,
    worker_fn worker, pid_t parent, int rw, int ew)
{
	struct worker_ctx	 ctx;
	struct sigaction	 sa;
	sigset_t		 set;
	int			 sig, nul;

	/* Own process group, so that a kill reaches whatever it spawns. */
	(void)setpgid(0, 0);

	/* Die with the runner; the runner may have died before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(126);

	/* Fresh signal state: default dispositions, nothing blocked. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);	/* fails for KILL, STOP: fine */
	sigemptyset(&set);
	(void)sigprocmask(SIG_SETMASK, &set, NULL);

	/* Descriptors: 0 /dev/null, 1 and 2 the stderr pipe, 3 the report pipe. */
	rw = child_fd_high(rw);
	ew = child_fd_high(ew);
	if ((nul = open("/dev/null", O_RDWR)) == -1)
		_exit(127);
	nul = child_fd_high(nul);
	if (dup2(nul, STDIN_FILENO) == -1 || dup2(ew, STDOUT_FILENO) == -1 ||
	    dup2(ew, STDERR_FILENO) == -1 || dup2(rw, CHILD_REPORT_FD) == -1)
		_exit(127);
	child_close_from(CHILD_REPORT_FD + 1);

	/*
	 * AddressSanitizer has reserved terabytes of address space for its
	 * shadow memory, so under RLIMIT_AS every later allocation would
	 * fail: a --enable-sanitizers build (for tests only) leaves
	 * child_max_memory unapplied, and the tests of it skip.
	 */
#ifndef __SANITIZE_ADDRESS__
	if (cfg->child_max_memory > 0)
		child_limit(RLIMIT_AS, (rlim_t)cfg->child_max_memory,
		    (rlim_t)cfg->child_max_memory);
#endif
	if (cfg->child_max_cpu_s > 0)
		child_limit(RLIMIT_CPU, (rlim_t)cfg->child_max_cpu_s,
		    (rlim_t)cfg->child_max_cpu_s + 1);

	memset(&ctx, 0, sizeof(ctx));
	ctx.fd = CHILD_REPORT_FD;
	ctx.task = task;
	ctx.cfg = cfg;
	ctx.test_hooks = test_hooks;
	ctx.last_progress = -1;
	worker(&ctx);
	if (!ctx.done)
		worker_fail(&ctx, "worker returned without a result", false);
	_exit(0);
}
