/*
 * Group commit of submits.  With synchronous=FULL every commit waits for
 * fsync, so committing each submit alone caps submits at the disk's flush
 * rate.  Instead a submitting thread queues its task and sleeps; one
 * committer thread takes everything queued, stores it in one transaction
 * and wakes each submitter with its result.  While it commits, new
 * submits queue up and its next transaction takes them all: the batch
 * grows with the load, and no submit is answered before the transaction
 * holding it is durable.
 *
 * Why one thread with its own connection rather than whichever submitter
 * comes first leading the commit on its own connection (as this file did
 * first): a connection's page cache is dropped whenever another one has
 * written, so a leader on a different connection each time began every
 * commit cold, re-reading some 70 pages (the index leaves and the
 * full-text segments being written to) and spending 200 us in BEGIN; the
 * committer's cache stays warm, and its pages stay in one malloc arena.
 *
 * Each submitter sleeps on a word of its own with futex(2) and is woken
 * exactly once, when its result is in, with the batcher's lock not held: a
 * shared broadcast would wake every waiter after every commit, and a
 * condition variable signalled under the lock wakes its waiter only to
 * block it again on the lock (two context switches a submit, and the
 * committer's time spent in wake-ups).
 */
#include <config.h>

#include <sys/syscall.h>

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "store.h"

/* Most tasks one transaction takes, to bound its latency and memory. */
#define BATCH_MAX	256

struct batch_item {
	const struct task_new	*tn;		/* borrowed from the waiting thread */
	struct task		*out;
	bool			 existed;
	enum store_err		 err;
	_Atomic uint32_t	 done;		/* 1: out, existed, err are set */
	struct batch_item	*next;
};

struct batcher {
	struct store		*st;		/* the committer's connection */
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;		/* the committer sleeps here */
	bool			 idle;		/* ...and is asleep */
	bool			 stop;
	struct batch_item	*head;		/* queued, not yet taken */
	struct batch_item	**tail;
	uint64_t		 commits;	/* transactions so far */
	uint64_t		 tasks;		/* tasks they carried */
};

/* Sleeps while *word is val (or until a signal or spurious wake-up). */
static void
futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	(void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void
futex_wake(_Atomic uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Commits the taken items on st; called by the committer without the lock. */
static void
batch_commit(struct store *st, struct batch_item **items, size_t n)
{
	struct task_new	 tns[BATCH_MAX];
	struct task	*outs[BATCH_MAX];
	bool		 existed[BATCH_MAX];
	enum store_err	 errs[BATCH_MAX], err;
	size_t		 i;

	for (i = 0; i < n; i++) {
		tns[i] = *items[i]->tn;
		outs[i] = NULL;
		existed[i] = false;
		errs[i] = STORE_OK;
	}
	err = store_task_submit_many(st, tns, n, outs, existed, errs);
	for (i = 0; i < n; i++) {
		if (err != STORE_OK) {
			/* Nothing was stored: every item fails alike. */
			task_free(outs[i]);
			items[i]->out = NULL;
			items[i]->err = err;
		} else {
			items[i]->out = outs[i];
			items[i]->existed = existed[i];
			items[i]->err = errs[i];
		}
	}
	if (err != STORE_OK && err != STORE_BUSY)
		log_warnx("group commit of %zu submits: %s: %s", n,
		    store_strerror(err), store_errmsg(st));
}

/*
 * The committer: takes up to BATCH_MAX queued items, oldest first, commits
 * them and wakes their threads, until stopped with nothing queued.
 */
static void *
batch_main(void *arg)
{
	struct batcher		*b = arg;
	struct batch_item	*items[BATCH_MAX], *it;
	size_t			 n, i;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (b->head == NULL && !b->stop) {
			b->idle = true;
			pthread_cond_wait(&b->work, &b->lock);
			b->idle = false;
		}
		if (b->head == NULL)
			break;
		for (n = 0, it = b->head; it != NULL && n < BATCH_MAX;
		    it = it->next)
			items[n++] = it;
		b->head = it;
		if (b->head == NULL)
			b->tail = &b->head;
		pthread_mutex_unlock(&b->lock);

		batch_commit(b->st, items, n);

		/*
		 * Once done is set the item's thread may return and its item
		 * (on its stack) be gone: a wake-up then finds no waiter at
		 * that address, or a later one, which waits in a loop.
		 */
		for (i = 0; i < n; i++) {
			atomic_store_explicit(&items[i]->done, 1,
			    memory_order_release);
			futex_wake(&items[i]->done);
		}
		pthread_mutex_lock(&b->lock);
		b->commits++;
		b->tasks += n;
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

struct batcher *
batcher_new(const char *database, int busy_ms, char *errbuf, size_t errlen)
{
	struct batcher	*b;
	sigset_t	 all, old;
	int		 e;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	b->tail = &b->head;
	if (store_open(database, STORE_OPEN_MAP_WHOLE | STORE_OPEN_CHECKPOINTER,
	    busy_ms, &b->st, errbuf, errlen) != STORE_OK) {
		free(b);
		return NULL;
	}
	if ((e = pthread_mutex_init(&b->lock, NULL)) != 0 ||
	    (e = pthread_cond_init(&b->work, NULL)) != 0) {
		snprintf(errbuf, errlen, "pthread init: %s", strerror(e));
		goto fail;
	}
	/* Signals stay with the thread that waits for them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&b->thread, NULL, batch_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snprintf(errbuf, errlen, "pthread_create: %s", strerror(e));
		pthread_cond_destroy(&b->work);
		goto fail;
	}
	/* Named for top -H and perf; a failure changes nothing else. */
	(void)pthread_setname_np(b->thread, "taskq-commit");
	return b;
fail:
	/* (A mutex whose init failed may be destroyed: it is a no-op.) */
	pthread_mutex_destroy(&b->lock);
	store_close(b->st);
	free(b);
	return NULL;
}

/* Commits what is queued, then stops the committer: no submit is lost. */
void
batcher_free(struct batcher *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->work);
	pthread_mutex_destroy(&b->lock);
	store_close(b->st);
	free(b);
}

/*
 * Stores tn durably (possibly together with other threads' submits) and
 * returns the store's verdict, with *out (caller owns) and *existed as
 * store_task_submit() gives them.
 */
enum store_err
batcher_submit(struct batcher *b, const struct task_new *tn, struct task **out,
    bool *existed)
{
	struct batch_item	 me;

	memset(&me, 0, sizeof(me));
	me.tn = tn;
	me.err = STORE_OK;
	atomic_init(&me.done, 0);
	*out = NULL;
	*existed = false;
	pthread_mutex_lock(&b->lock);
	if (b->stop) {
		pthread_mutex_unlock(&b->lock);
		return STORE_BUSY;
	}
	*b->tail = &me;
	b->tail = &me.next;
	if (b->idle)
		pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
	while (atomic_load_explicit(&me.done, memory_order_acquire) == 0)
		futex_wait(&me.done, 0);
	*out = me.out;
	*existed = me.existed;
	return me.err;
}

/* How many transactions carried how many submits, for tests and logs. */
void
batcher_counts(struct batcher *b, uint64_t *commits, uint64_t *tasks)
{
	pthread_mutex_lock(&b->lock);
	*commits = b->commits;
	*tasks = b->tasks;
	pthread_mutex_unlock(&b->lock);
}
