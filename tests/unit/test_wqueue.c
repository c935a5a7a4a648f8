/*
 * Unit tests for lib/wqueue.c: the writers' ticket queue, across
 * processes (fork) as the API and the runners use it, and its way out of
 * a turn whose holder died.
 */
#include <config.h>

#include <sys/types.h>
#include <sys/wait.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "wqueue.h"

static char	 dir[64];
static char	 path[128];

static int64_t
ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/taskq-wqueue.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/db-writers", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

/*
 * Three processes that queue while a fourth holds the turn get it in the
 * order they queued, one at a time.
 */
static void
test_turns_in_order_across_processes(void **state)
{
	struct wqueue	*q;
	pid_t		 pids[3];
	char		 order[4] = { 0 };
	int		 fds[2], i, st;
	uint32_t	 t;

	(void)state;
	assert_non_null(q = wqueue_open(path, NULL));
	assert_int_equal(pipe(fds), 0);
	t = wqueue_enter(q, 5000000);
	for (i = 0; i < 3; i++) {
		if ((pids[i] = fork()) == 0) {
			struct wqueue	*cq = wqueue_open(path, NULL);
			uint32_t	 ct;
			char		 c = (char)('a' + i);

			if (cq == NULL)
				_exit(2);
			ct = wqueue_enter(cq, 5000000);
			/* Alone in its turn: write, linger, write again. */
			if (write(fds[1], &c, 1) != 1)
				_exit(3);
			sleep_ms(30);
			if (write(fds[1], &c, 1) != 1)
				_exit(3);
			wqueue_leave(cq, ct);
			wqueue_close(cq);
			_exit(0);
		}
		assert_true(pids[i] > 0);
		sleep_ms(100);		/* child i queues before child i + 1 */
	}
	close(fds[1]);
	wqueue_leave(q, t);
	for (i = 0; i < 3; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (i = 0; i < 6; i++)
		assert_int_equal(read(fds[0], &order[i / 2], 1), 1);
	close(fds[0]);
	assert_string_equal(order, "abc");
	wqueue_close(q);
}

/* A holder that dies without leaving is passed at once, not after stale. */
static void
test_dead_holder_is_passed(void **state)
{
	struct wqueue	*q;
	pid_t		 pid;
	int64_t		 t0;
	uint32_t	 t;
	int		 st;

	(void)state;
	assert_non_null(q = wqueue_open(path, NULL));
	if ((pid = fork()) == 0) {
		struct wqueue	*cq = wqueue_open(path, NULL);

		if (cq == NULL)
			_exit(2);
		(void)wqueue_enter(cq, 5000000);
		_exit(0);			/* dies holding its turn */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	t0 = ms_now();
	t = wqueue_enter(q, 5000000);
	assert_true(ms_now() - t0 < 1000);
	wqueue_leave(q, t);
	t0 = ms_now();
	t = wqueue_enter(q, 5000000);
	assert_true(ms_now() - t0 < 100);
	wqueue_leave(q, t);
	wqueue_close(q);
}

static void *
enter_forever(void *arg)
{
	(void)wqueue_enter(arg, 60000000);
	return NULL;
}

/*
 * Forks a process that takes a turn, then queues `queued` threads behind
 * it, and keeps them until killed; returns once they are all in place.
 */
static pid_t
fork_holder(int queued)
{
	pid_t		 pid;
	int		 fds[2];
	char		 c = 'h';

	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		struct wqueue	*cq = wqueue_open(path, NULL);
		pthread_t	 th;
		int		 i;

		if (cq == NULL)
			_exit(2);
		(void)wqueue_enter(cq, 60000000);
		for (i = 0; i < queued; i++)
			if (pthread_create(&th, NULL, enter_forever, cq) != 0)
				_exit(3);
		if (queued > 0)
			sleep_ms(200);		/* all of them queued */
		if (write(fds[1], &c, 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	assert_true(pid > 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

/*
 * A process killed with one turn held and ten more queued (kill -9 of
 * taskq-api with threads waiting) costs the next writer about 20 ms a dead
 * turn, not the stale time for each.
 */
static void
test_dead_queue_is_passed_quickly(void **state)
{
	struct wqueue	*q;
	pid_t		 pid;
	int64_t		 t0;
	uint32_t	 t;
	int		 st;

	(void)state;
	assert_non_null(q = wqueue_open(path, NULL));
	pid = fork_holder(10);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	t0 = ms_now();
	t = wqueue_enter(q, 5000000);
	assert_true(ms_now() - t0 < 3000);
	wqueue_leave(q, t);
	wqueue_close(q);
}

/*
 * A live holder that keeps its turn (a long transaction, a stopped
 * process) is passed after the stale time.
 */
static void
test_slow_holder_is_passed_after_stale(void **state)
{
	struct wqueue	*q;
	pid_t		 pid;
	int64_t		 t0, waited;
	uint32_t	 t;
	int		 st;

	(void)state;
	assert_non_null(q = wqueue_open(path, NULL));
	pid = fork_holder(0);
	t0 = ms_now();
	t = wqueue_enter(q, 300000);
	waited = ms_now() - t0;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(waited >= 250);
	assert_true(waited < 3000);
	wqueue_leave(q, t);
	wqueue_close(q);
}

/*
 * A holder whose turn was passed on for it (too slow) hands nothing on
 * when it leaves: the writer now in its turn keeps it.
 */
static void
test_late_leave_passes_nothing(void **state)
{
	struct wqueue	*q;
	pid_t		 pid;
	int		 fds[2], st;
	uint32_t	 slow, mine;
	char		 c;

	(void)state;
	assert_non_null(q = wqueue_open(path, NULL));
	assert_int_equal(pipe(fds), 0);
	slow = wqueue_enter(q, 100000);
	mine = wqueue_enter(q, 100000);	/* passes the slow turn on */
	if ((pid = fork()) == 0) {
		struct wqueue	*cq = wqueue_open(path, NULL);
		uint32_t	 ct;

		if (cq == NULL)
			_exit(2);
		ct = wqueue_enter(cq, 5000000);
		c = 'x';
		if (write(fds[1], &c, 1) != 1)
			_exit(3);
		wqueue_leave(cq, ct);
		_exit(0);
	}
	close(fds[1]);
	sleep_ms(100);
	wqueue_leave(q, slow);		/* late: must not end my turn */
	sleep_ms(200);
	/* The child still waits for my turn to end. */
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
	wqueue_leave(q, mine);
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fds[0]);
	wqueue_close(q);
}

/* A queue that cannot be created is an error with errno, not a crash. */
static void
test_open_fails_cleanly(void **state)
{
	(void)state;
	assert_null(wqueue_open("/nonexistent-dir-for-taskq/db-writers", NULL));
	wqueue_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_turns_in_order_across_processes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_holder_is_passed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_queue_is_passed_quickly,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_holder_is_passed_after_stale,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_leave_passes_nothing,
		    setup, teardown),
		cmocka_unit_test(test_open_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
