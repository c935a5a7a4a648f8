/*
 * The echo worker: returns its message after an optional delay during which
 * progress advances, or fails on request.  For health checks, demos, tests
 * and benchmarks; it also carries the runner's test hooks (runner.h).
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "runner.h"

#define ECHO_STEP_MS		100	/* progress report period during the delay */
#define ECHO_ALLOC_STEP		(1024 * 1024)
#define ECHO_ALLOC_CEILING	((size_t)8 << 30)	/* never more than 8 GiB */

static void
echo_sleep_ms(int64_t ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/*
 * TASKQ_ECHO_TRACE: appends "<id>\n" in one write(2) to the file, with
 * O_APPEND so that lines from concurrent children never interleave.
 */
static void
echo_trace(const struct task *t)
{
	const char	*path;
	char		 line[TASK_ID_LEN + 2];
	int		 fd;

	if ((path = getenv("TASKQ_ECHO_TRACE")) == NULL || *path == '\0')
		return;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		fprintf(stderr, "echo: %s: %s\n", path, strerror(errno));
		return;
	}
	snprintf(line, sizeof(line), "%s\n", t->id);
	if (write(fd, line, strlen(line)) == -1)
		fprintf(stderr, "echo: %s: %s\n", path, strerror(errno));
	close(fd);
}

/*
 * Reports what the child inherited: its open descriptors, blocked and
 * ignored signals, and whether it leads its own process group.
 */
static void
echo_isolation(struct worker_ctx *ctx)
{
	struct json_object	*res, *fds;
	struct sigaction	 sa;
	sigset_t		 set;
	DIR			*d;
	struct dirent		*de;
	int			 sig, nblocked = 0, nignored = 0, fd;

	if ((res = json_object_new_object()) == NULL ||
	    (fds = json_object_new_array()) == NULL) {
		json_object_put(res);
		worker_fail(ctx, "out of memory", false);
		return;
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			fd = atoi(de->d_name);
			if (fd != dirfd(d))
				json_object_array_add(fds, json_object_new_int(fd));
		}
		closedir(d);
	}
	sigprocmask(SIG_SETMASK, NULL, &set);
	for (sig = 1; sig < NSIG; sig++) {
		if (sigismember(&set, sig) == 1)
			nblocked++;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			nignored++;
	}
	json_object_object_add(res, "fds", fds);
	json_object_object_add(res, "blocked", json_object_new_int(nblocked));
	json_object_object_add(res, "ignored", json_object_new_int(nignored));
	json_object_object_add(res, "pgid_is_pid",
	    json_object_new_boolean(getpgrp() == getpid()));
	worker_result(ctx, json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
	json_object_put(res);
}

/*
 * The test hooks; true when msg named one (and it was handled, or the
 * process is gone).  Only reached with TASKQ_TEST_HOOKS=1.
 */
static bool
echo_test_hook(struct worker_ctx *ctx, const char *msg)
{
	struct sigaction sa;
	size_t		 total = 0;
	char		*p, buf[1024];
	int		 i;

	if (strcmp(msg, "__taskq_test_alloc__") == 0) {
		if (ctx->cfg->child_max_memory <= 0) {
			worker_fail(ctx, "__taskq_test_alloc__ needs child_max_memory", false);
			return true;
		}
		while (total < ECHO_ALLOC_CEILING) {
			if ((p = malloc(ECHO_ALLOC_STEP)) == NULL) {
				worker_failf(ctx, false, "out of memory: the child memory "
				    "limit (child_max_memory = %lld bytes) was reached",
				    (long long)ctx->cfg->child_max_memory);
				return true;
			}
			memset(p, 0xa5, ECHO_ALLOC_STEP);	/* touch every page */
			total += ECHO_ALLOC_STEP;
		}
		worker_fail(ctx, "__taskq_test_alloc__: no limit stopped it", false);
		return true;
	}
	if (strcmp(msg, "__taskq_test_hang__") == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(SIGTERM, &sa, NULL);
		for (;;)
			pause();
	}
	if (strcmp(msg, "__taskq_test_crash__") == 0) {
		raise(SIGSEGV);
		_exit(99);	/* not reached */
	}
	if (strcmp(msg, "__taskq_test_exit__") == 0)
		_exit(3);
	if (strcmp(msg, "__taskq_test_tempfail__") == 0) {
		worker_fail(ctx, "temporary failure requested by the test hook", true);
		return true;
	}
	if (strcmp(msg, "__taskq_test_isolation__") == 0) {
		echo_isolation(ctx);
		return true;
	}
	if (strcmp(msg, "__taskq_test_stderr__") == 0) {
		memset(buf, 'x', sizeof(buf) - 1);
		buf[sizeof(buf) - 1] = '\n';
		for (i = 0; i < 200; i++)
			if (write(STDERR_FILENO, buf, sizeof(buf)) == -1)
				break;
		fprintf(stderr, "__taskq_test_stderr__ done\n");
		worker_result(ctx, "{\"message\":\"__taskq_test_stderr__\",\"elapsed_ms\":0}");
		return true;
	}
	return false;
}

void
worker_echo(struct worker_ctx *ctx)
{
	struct json_object	*params = NULL, *v, *res = NULL;
	const char		*msg = "";
	size_t			 msglen = 0;
	int64_t			 delay = 0, start, now, elapsed;
	bool			 fail = false;

	echo_trace(ctx->task);
	if ((params = json_tokener_parse(ctx->task->parameters)) == NULL ||
	    !json_object_is_type(params, json_type_object)) {
		worker_fail(ctx, "echo: parameters are not a JSON object", false);
		goto out;
	}
	if (json_object_object_get_ex(params, "message", &v) &&
	    json_object_is_type(v, json_type_string)) {
		msg = json_object_get_string(v);
		msglen = (size_t)json_object_get_string_len(v);
	}
	if (json_object_object_get_ex(params, "delay_ms", &v) &&
	    json_object_is_type(v, json_type_int))
		delay = json_object_get_int64(v);
	if (json_object_object_get_ex(params, "fail", &v) &&
	    json_object_is_type(v, json_type_boolean))
		fail = json_object_get_boolean(v);
	if (delay < 0 || delay > 3600000) {
		worker_fail(ctx, "echo: delay_ms out of range 0..3600000", false);
		goto out;
	}

	if (ctx->test_hooks && echo_test_hook(ctx, msg))
		goto out;

	start = mono_ms();
	worker_progress(ctx, 0);
	while ((elapsed = (now = mono_ms()) - start) < delay) {
		worker_progress(ctx, (int)(elapsed * 100 / delay));
		echo_sleep_ms(delay - elapsed < ECHO_STEP_MS ?
		    delay - elapsed : ECHO_STEP_MS);
	}
	elapsed = mono_ms() - start;

	if (fail) {
		worker_fail(ctx, "requested failure", false);
		goto out;
	}
	if ((res = json_object_new_object()) == NULL ||
	    json_object_object_add(res, "message", json_object_new_string_len(msg, (int)msglen)) != 0 ||
	    json_object_object_add(res, "elapsed_ms", json_object_new_int64(elapsed)) != 0) {
		worker_fail(ctx, "echo: out of memory", false);
		goto out;
	}
	worker_result(ctx, json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(res);
	json_object_put(params);
}
