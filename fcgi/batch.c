/*
 * Group commit of submits.  With synchronous=FULL every commit waits for
 * fsync, so committing each submit alone caps submits at the disk's flush
 * rate.  Instead a submitting thread queues its task; the first thread to
 * find no commit in progress becomes the leader, takes everything queued,
 * stores it in one transaction on its own connection and wakes the others
 * with their results.  While it commits, new submits queue up and the next
 * leader takes them all: the batch grows with the load, and no submit is
 * answered before the transaction holding it is durable.
 *
 * Each waiter sleeps on its own condition variable and is woken exactly
 * once, when its result is in or when it is first in the queue and must
 * lead the next commit: a shared broadcast would wake every waiter after
 * every commit, and under load the context switches cost more than the
 * commits.
 */
#include <config.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	bool			 done;		/* out, existed, err are set */
	pthread_cond_t		 wake;		/* the waiting thread sleeps here */
	struct batch_item	*next;
};

struct batcher {
	pthread_mutex_t		 lock;
	struct batch_item	*head;		/* queued, not yet taken */
	struct batch_item	**tail;
	bool			 leading;	/* a commit is in progress */
	uint64_t		 commits;	/* transactions so far */
	uint64_t		 tasks;		/* tasks they carried */
};

struct batcher *
batcher_new(void)
{
	struct batcher	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (pthread_mutex_init(&b->lock, NULL) != 0) {
		free(b);
		return NULL;
	}
	b->tail = &b->head;
	return b;
}

void
batcher_free(struct batcher *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Commits the taken items on st; called by the leader without the lock. */
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
 * Stores tn durably (possibly together with other threads' submits) and
 * returns the store's verdict, with *out (caller owns) and *existed as
 * store_task_submit() gives them.  st is the calling thread's connection,
 * used if this thread ends up leading a commit.
 */
enum store_err
batcher_submit(struct batcher *b, struct store *st, const struct task_new *tn,
    struct task **out, bool *existed)
{
	struct batch_item	 me;
	struct batch_item	*items[BATCH_MAX], *it;
	size_t			 n, i;

	memset(&me, 0, sizeof(me));
	me.tn = tn;
	me.err = STORE_OK;
	if (pthread_cond_init(&me.wake, NULL) != 0) {
		/* Cannot wait: commit alone, still durable. */
		return store_task_submit(st, tn, out, existed);
	}
	pthread_mutex_lock(&b->lock);
	*b->tail = &me;
	b->tail = &me.next;
	while (!me.done) {
		if (b->leading) {
			pthread_cond_wait(&me.wake, &b->lock);
			continue;
		}
		/* Lead: take up to BATCH_MAX queued items, oldest first. */
		b->leading = true;
		for (n = 0, it = b->head; it != NULL && n < BATCH_MAX; it = it->next)
			items[n++] = it;
		b->head = it;
		if (b->head == NULL)
			b->tail = &b->head;
		pthread_mutex_unlock(&b->lock);

		batch_commit(st, items, n);

		pthread_mutex_lock(&b->lock);
		b->leading = false;
		b->commits++;
		b->tasks += n;
		for (i = 0; i < n; i++) {
			items[i]->done = true;
			if (items[i] != &me)
				pthread_cond_signal(&items[i]->wake);
		}
		/* Hand the next commit to the first thread still queued. */
		if (b->head != NULL)
			pthread_cond_signal(&b->head->wake);
	}
	pthread_mutex_unlock(&b->lock);
	pthread_cond_destroy(&me.wake);
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
