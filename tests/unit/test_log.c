/*
 * Unit tests for lib/log.c.  stderr is replaced by a SOCK_SEQPACKET socket,
 * which keeps write(2) boundaries: each recv returns exactly one write, so
 * the tests can assert one complete line per call, even from many threads.
 */
#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

static int	 reader = -1;		/* our end of the socket on fd 2 */
static int	 saved_stderr = -1;

static int
setup(void **state)
{
	int	 sv[2];

	unsetenv("JOURNAL_STREAM");
	unsetenv("TASKQ_LOG_PREFIX");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1)
		return -1;
	if ((saved_stderr = dup(STDERR_FILENO)) == -1 ||
	    dup2(sv[1], STDERR_FILENO) == -1)
		return -1;
	close(sv[1]);
	reader = sv[0];
	log_init("/usr/sbin/taskq-test", LOG_LEVEL_INFO);
	return 0;
}

static int
teardown(void **state)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(reader);
	reader = saved_stderr = -1;
	return 0;
}

/* Receives one write's worth of bytes; "" if nothing is pending. */
static char *
next_write(char *buf, size_t len)
{
	ssize_t	 n;

	n = recv(reader, buf, len - 1, MSG_DONTWAIT);
	if (n == -1) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		n = 0;
	}
	buf[n] = '\0';
	return buf;
}

static void
test_plain_lines(void **state)
{
	char	 buf[8192];

	log_info("hello %d", 42);
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: info: hello 42\n");
	log_warnx("careful");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: warn: careful\n");
	log_error("broken %s", "thing");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: error: broken thing\n");
	assert_string_equal(next_write(buf, sizeof(buf)), "");
}

static void
test_warn_errno(void **state)
{
	char	 buf[8192];

	errno = ENOENT;
	log_warn("open %s", "/x");
	assert_int_equal(errno, ENOENT);
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: warn: open /x: No such file or directory\n");

	/* log_warnx and the others leave errno alone too. */
	errno = EACCES;
	log_warnx("x");
	log_info("y");
	assert_int_equal(errno, EACCES);
}

static void
test_levels(void **state)
{
	char	 buf[8192];

	log_debug("hidden");
	assert_string_equal(next_write(buf, sizeof(buf)), "");

	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("shown");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: debug: shown\n");

	/* At error level only errors pass. */
	log_set_level(LOG_LEVEL_ERROR);
	log_info("no");
	errno = EIO;
	log_warn("no");
	log_warnx("no");
	assert_string_equal(next_write(buf, sizeof(buf)), "");
	log_error("yes");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: error: yes\n");

	assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
	assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("info"), LOG_LEVEL_INFO);
	assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("DEBUG"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(NULL), -1);
	assert_string_equal(log_level_names[LOG_LEVEL_WARN], "warn");
}

static void
test_long_and_control(void **state)
{
	char	 buf[16384], *big;
	size_t	 len;

	big = malloc(10000);
	assert_non_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';

	/* One write, cut to fit a pipe's atomic size, marked "...". */
	log_info("%s", big);
	len = strlen(next_write(buf, sizeof(buf)));
	assert_true(len <= 4096);
	assert_true(len > 4000);
	assert_string_equal(buf + len - 4, "...\n");
	assert_string_equal(next_write(buf, sizeof(buf)), "");

	/* The errno text survives the truncation. */
	errno = EPIPE;
	log_warn("%s", big);
	len = strlen(next_write(buf, sizeof(buf)));
	assert_true(len <= 4096);
	assert_non_null(strstr(buf, "...: Broken pipe\n"));
	free(big);

	/* Embedded newlines cannot split the line or forge a prefix. */
	log_info("a\nb\r\n<3>c\001d");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: info: a b  <3>c?d\n");
}

static void
test_journal_prefix(void **state)
{
	struct stat	 st;
	char		 buf[8192], env[64];

	/* JOURNAL_STREAM naming our stderr: "<N>" priorities, no word. */
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("taskq-test", LOG_LEVEL_DEBUG);
	log_error("e");
	assert_string_equal(next_write(buf, sizeof(buf)), "<3>taskq-test: e\n");
	errno = ENOENT;
	log_warn("w");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "<4>taskq-test: w: No such file or directory\n");
	log_info("i");
	assert_string_equal(next_write(buf, sizeof(buf)), "<6>taskq-test: i\n");
	log_debug("d");
	assert_string_equal(next_write(buf, sizeof(buf)), "<7>taskq-test: d\n");

	/* JOURNAL_STREAM of some other stream: stderr was redirected. */
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_init("taskq-test", LOG_LEVEL_INFO);
	log_info("i");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: info: i\n");

	/* TASKQ_LOG_PREFIX forces it either way. */
	setenv("TASKQ_LOG_PREFIX", "1", 1);
	log_init("taskq-test", LOG_LEVEL_INFO);
	log_info("i");
	assert_string_equal(next_write(buf, sizeof(buf)), "<6>taskq-test: i\n");
	setenv("TASKQ_LOG_PREFIX", "0", 1);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("taskq-test", LOG_LEVEL_INFO);
	log_info("i");
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: info: i\n");
}

static void
test_fatal(void **state)
{
	char	 buf[8192];
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0)
		fatalx("cannot start: %s", "reason");
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: fatal: cannot start: reason\n");

	if ((pid = fork()) == 0) {
		log_set_level(LOG_LEVEL_ERROR);	/* fatal is never filtered */
		errno = EADDRINUSE;
		fatal("bind");
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_string_equal(next_write(buf, sizeof(buf)),
	    "taskq-test: fatal: bind: Address already in use\n");
}

#define NTHREADS	8
#define NLINES		2000

static void *
logger(void *arg)
{
	int	 id = (int)(intptr_t)arg, i;

	for (i = 0; i < NLINES; i++)
		log_info("thread %d line %d %s", id, i,
		    "padding padding padding padding padding padding");
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t	 th[NTHREADS];
	char		 buf[8192], want[128];
	int		 next[NTHREADS] = { 0 }, id, line, i, total = 0;
	ssize_t		 n;

	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, logger,
		    (void *)(intptr_t)i), 0);

	/* Every write is one whole line, each thread's in its order. */
	while (total < NTHREADS * NLINES) {
		n = recv(reader, buf, sizeof(buf) - 1, 0);
		assert_true(n > 0);
		buf[n] = '\0';
		assert_int_equal(sscanf(buf, "taskq-test: info: thread %d "
		    "line %d", &id, &line), 2);
		assert_true(id >= 0 && id < NTHREADS);
		assert_int_equal(line, next[id]);
		next[id]++;
		snprintf(want, sizeof(want), "taskq-test: info: thread %d "
		    "line %d padding padding padding padding padding "
		    "padding\n", id, line);
		assert_string_equal(buf, want);
		total++;
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_string_equal(next_write(buf, sizeof(buf)), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_warn_errno, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_and_control, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_journal_prefix, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
