/*
 * A first-come, first-served queue for the database's writers, shared by
 * every process that opens the database (taskq-api's threads, the
 * runners, the taskq CLI) through a small mapped file next to it.
 *
 * SQLite's write lock is not fair: a connection that finds it taken sleeps
 * and retries, and a writer that commits and begins again at once (a group
 * commit under load, a submit loop) takes it back before the sleeper wakes.
 * A writer first takes a ticket here and waits for its turn, then begins
 * its transaction, and hands the turn on when the transaction ends.
 *
 * The queue is advisory: SQLite's lock still decides who writes.  A waiter
 * hands a turn on itself when the process that took it has exited (after
 * 20 ms without progress) or when nothing moved for stale_us (a holder in
 * a long transaction, or one stopped), and goes to SQLite's lock as it
 * would without the queue; a holder whose turn was handed on for it then
 * hands nothing on.
 */
#ifndef TASKQ_WQUEUE_H
#define TASKQ_WQUEUE_H

#include <stdint.h>

struct wqueue;

/*
 * Opens (creating if needed, with the mode of the file at mode_of) the
 * queue file at path.  NULL with errno set if it cannot: the caller then
 * writes without the queue.
 */
struct wqueue	*wqueue_open(const char *path, const char *mode_of);
void		 wqueue_close(struct wqueue *);	/* NULL: no-op */

/* Waits for this writer's turn; returns its ticket for wqueue_leave(). */
uint32_t	 wqueue_enter(struct wqueue *, int64_t stale_us);

/* Ends the turn of ticket, handing it to the next writer. */
void		 wqueue_leave(struct wqueue *, uint32_t ticket);

#endif /* TASKQ_WQUEUE_H */
