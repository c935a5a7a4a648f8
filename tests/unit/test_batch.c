/*
 * Unit tests of fcgi/batch.c against a real store in a temporary
 * directory: submits from many threads are all stored, each answered with
 * its own task, grouped into fewer transactions than submits, and an
 * idempotency key repeated across threads yields one task.
 */
#include <config.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "store.h"
#include "task.h"

#define THREADS		16
#define PER_THREAD	40

struct shared {
	char		 db[256];
	struct batcher	*b;
	const char	*key;		/* every submit uses it, if not NULL */
	int		 bad_every;	/* if > 0, every nth submit is invalid */
	int		 invalid;	/* STORE_INVALID answers */
	char		 ids[THREADS * PER_THREAD][TASK_ID_LEN + 1];
	int		 existed;
	pthread_mutex_t	 lock;
	pthread_barrier_t start;
	size_t		 next;
};

struct arg {
	struct shared	*sh;
	int		 n;
};

static void *
submitter(void *p)
{
	struct arg	*a = p;
	struct shared	*sh = a->sh;
	struct task_new	 tn;
	struct task	*t;
	char		 params[64];
	bool		 existed;
	int		 i;

	pthread_barrier_wait(&sh->start);
	for (i = 0; i < PER_THREAD; i++) {
		snprintf(params, sizeof(params), "{\"message\":\"t%d-%d\"}", a->n, i);
		memset(&tn, 0, sizeof(tn));
		tn.task_type = "echo";
		tn.parameters = params;
		tn.max_attempts = 1;
		tn.timeout_s = 60;
		tn.idempotency_key = sh->key;
		t = NULL;
		if (sh->bad_every > 0 && i % sh->bad_every == 0) {
			tn.max_attempts = 0;
			assert_int_equal(batcher_submit(sh->b, &tn, &t,
			    &existed), STORE_INVALID);
			assert_null(t);
			pthread_mutex_lock(&sh->lock);
			sh->invalid++;
			pthread_mutex_unlock(&sh->lock);
			continue;
		}
		assert_int_equal(batcher_submit(sh->b, &tn, &t, &existed), STORE_OK);
		assert_non_null(t);
		if (sh->key == NULL)
			assert_string_equal(t->parameters, params);
		pthread_mutex_lock(&sh->lock);
		memcpy(sh->ids[sh->next++], t->id, TASK_ID_LEN + 1);
		sh->existed += existed;
		pthread_mutex_unlock(&sh->lock);
		task_free(t);
	}
	return NULL;
}

static void
run_threads(struct shared *sh)
{
	pthread_t	 th[THREADS];
	struct arg	 args[THREADS];
	int		 i;

	pthread_mutex_init(&sh->lock, NULL);
	pthread_barrier_init(&sh->start, NULL, THREADS);
	for (i = 0; i < THREADS; i++) {
		args[i].sh = sh;
		args[i].n = i;
		assert_int_equal(pthread_create(&th[i], NULL, submitter, &args[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&sh->start);
	pthread_mutex_destroy(&sh->lock);
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static struct shared *
setup_shared(void)
{
	struct shared	*sh;
	char		 dir[] = "/tmp/taskq-test-batch-XXXXXX";
	struct store	*st = NULL;
	char		 err[256];

	sh = calloc(1, sizeof(*sh));
	assert_non_null(sh);
	assert_non_null(mkdtemp(dir));
	snprintf(sh->db, sizeof(sh->db), "%s/taskq.db", dir);
	/* Create the schema once, before the threads race to open it. */
	assert_int_equal(store_open(sh->db, 0, 10000, &st, err, sizeof(err)), STORE_OK);
	store_close(st);
	sh->b = batcher_new(sh->db, 10000, err, sizeof(err));
	if (sh->b == NULL)
		fail_msg("batcher_new: %s", err);
	return sh;
}

static void
teardown_shared(struct shared *sh)
{
	char	 cmd[300];

	batcher_free(sh->b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strrchr(sh->db, '/') - sh->db),
	    sh->db);
	assert_int_equal(system(cmd), 0);
	free(sh);
}

static void
test_every_submit_stored_once_and_grouped(void **state)
{
	struct shared	*sh = setup_shared();
	struct store	*st = NULL;
	struct task	*t;
	uint64_t	 commits, tasks;
	char		 err[256];
	size_t		 i;

	(void)state;
	run_threads(sh);
	assert_int_equal(sh->next, THREADS * PER_THREAD);
	assert_int_equal(sh->existed, 0);
	qsort(sh->ids, sh->next, sizeof(sh->ids[0]), cmp_id);
	for (i = 1; i < sh->next; i++)
		assert_string_not_equal(sh->ids[i - 1], sh->ids[i]);
	assert_int_equal(store_open(sh->db, 0, 10000, &st, err, sizeof(err)), STORE_OK);
	for (i = 0; i < sh->next; i++) {
		assert_int_equal(store_task_get(st, sh->ids[i], &t), STORE_OK);
		assert_int_equal(t->status, TASK_PENDING);
		task_free(t);
	}
	store_close(st);
	batcher_counts(sh->b, &commits, &tasks);
	assert_int_equal(tasks, THREADS * PER_THREAD);
	/* Sixteen threads at once: commits must have carried several each. */
	assert_true(commits < tasks);
	printf("# %ju submits in %ju commits\n", (uintmax_t)tasks, (uintmax_t)commits);
	teardown_shared(sh);
}

static void
test_idempotency_key_across_threads(void **state)
{
	struct shared	*sh = setup_shared();
	size_t		 i;

	(void)state;
	sh->key = "same-key";
	run_threads(sh);
	for (i = 1; i < sh->next; i++)
		assert_string_equal(sh->ids[0], sh->ids[i]);
	assert_int_equal(sh->existed, THREADS * PER_THREAD - 1);
	teardown_shared(sh);
}

/*
 * An invalid submit fails alone: the others committed with it are stored
 * and answered with their own tasks.
 */
static void
test_invalid_submit_fails_alone(void **state)
{
	struct shared	*sh = setup_shared();
	struct store	*st = NULL;
	struct task	*t;
	struct store_stats stats;
	char		 err[256];
	size_t		 i, valid;

	(void)state;
	sh->bad_every = 4;
	run_threads(sh);
	valid = THREADS * PER_THREAD - THREADS * (PER_THREAD / 4);
	assert_int_equal(sh->invalid, THREADS * (PER_THREAD / 4));
	assert_int_equal(sh->next, valid);
	assert_int_equal(store_open(sh->db, 0, 10000, &st, err, sizeof(err)), STORE_OK);
	for (i = 0; i < sh->next; i++) {
		assert_int_equal(store_task_get(st, sh->ids[i], &t), STORE_OK);
		task_free(t);
	}
	assert_int_equal(store_stats_get(st, &stats), STORE_OK);
	assert_int_equal(stats.by_status[TASK_PENDING], valid);
	store_stats_free(&stats);
	store_close(st);
	teardown_shared(sh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_submit_stored_once_and_grouped),
		cmocka_unit_test(test_idempotency_key_across_threads),
		cmocka_unit_test(test_invalid_submit_fails_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
