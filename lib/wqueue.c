/*
 * The writers' ticket queue (wqueue.h): two counters in a shared mapping,
 * waited on with futex(2) on that mapping, which works across processes.
 */
#include <config.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/futex.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "wqueue.h"

/* Tickets whose holders are recorded (a ring; older entries are reused). */
#define HOLDERS		256

/*
 * The file's layout; the counters wrap, compared by signed difference.
 * holders[t % HOLDERS] names the process that took ticket t, so that the
 * turn of a process that died (kill -9 of taskq-api with threads queued)
 * is passed on at once instead of after stale_us for each dead ticket.
 */
struct wqueue_shm {
	_Atomic uint32_t	 next;		/* the next ticket to hand out */
	_Atomic uint32_t	 serving;	/* the ticket whose turn it is */
	struct {
		_Atomic uint32_t ticket;
		_Atomic int32_t	 pid;
	}			 holders[HOLDERS];
};

struct wqueue {
	struct wqueue_shm	*shm;
	size_t			 len;
};

/* How long one futex wait lasts at most, to look at the clock again. */
#define WAIT_SLICE_NS	(10 * 1000 * 1000)

/* How long a turn may go unused before its holder is looked for. */
#define GRACE_US	(20 * 1000)

/* Whether the process that took ticket t is known to be gone. */
static bool
holder_gone(struct wqueue_shm *shm, uint32_t t)
{
	pid_t	 pid;

	if (atomic_load(&shm->holders[t % HOLDERS].ticket) != t)
		return false;		/* not recorded (yet, or any more) */
	pid = (pid_t)atomic_load(&shm->holders[t % HOLDERS].pid);
	return pid > 0 && kill(pid, 0) == -1 && errno == ESRCH;
}

static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct wqueue *
wqueue_open(const char *path, const char *mode_of)
{
	struct wqueue	*q = NULL;
	struct stat	 sb;
	mode_t		 mode = 0600;
	long		 page;
	void		*p = MAP_FAILED;
	int		 fd, e;

	if (mode_of != NULL && stat(mode_of, &sb) == 0)
		mode = sb.st_mode & 0666;
	if ((page = sysconf(_SC_PAGESIZE)) < (long)sizeof(struct wqueue_shm))
		page = 4096;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    mode)) == -1)
		return NULL;
	/* A new file reads as zeros: both counters at 0, nobody's turn taken. */
	if (fstat(fd, &sb) == 0 && (sb.st_size >= page ||
	    ftruncate(fd, page) == 0))
		p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	e = errno;
	close(fd);
	if (p != MAP_FAILED && (q = calloc(1, sizeof(*q))) == NULL) {
		e = errno;
		munmap(p, (size_t)page);
	}
	if (q == NULL) {
		errno = e;
		return NULL;
	}
	q->shm = p;
	q->len = (size_t)page;
	return q;
}

void
wqueue_close(struct wqueue *q)
{
	if (q == NULL)
		return;
	munmap(q->shm, q->len);
	free(q);
}

uint32_t
wqueue_enter(struct wqueue *q, int64_t stale_us)
{
	struct timespec	 slice = { 0, WAIT_SLICE_NS };
	uint32_t	 t, s, seen;
	int64_t		 since, waited;

	t = atomic_fetch_add(&q->shm->next, 1);
	atomic_store(&q->shm->holders[t % HOLDERS].pid, (int32_t)getpid());
	atomic_store(&q->shm->holders[t % HOLDERS].ticket, t);
	seen = atomic_load(&q->shm->serving);
	since = now_us();
	while ((s = atomic_load(&q->shm->serving)) != t) {
		/* The turn went past this ticket (handed on for it): go. */
		if ((int32_t)(s - t) > 0)
			break;
		waited = now_us() - since;
		if (s != seen) {
			seen = s;
			since += waited;
		} else if (waited >= stale_us ||
		    (waited >= GRACE_US && holder_gone(q->shm, s))) {
			/* Its holder is gone or slow: hand its turn on. */
			if (atomic_compare_exchange_strong(&q->shm->serving, &s,
			    s + 1))
				syscall(SYS_futex, &q->shm->serving, FUTEX_WAKE,
				    INT_MAX, NULL, NULL, 0);
			since = now_us();
			continue;
		}
		/* EAGAIN (it moved), EINTR and the time-out all mean: look again. */
		syscall(SYS_futex, &q->shm->serving, FUTEX_WAIT, s, &slice,
		    NULL, 0);
	}
	return t;
}

void
wqueue_leave(struct wqueue *q, uint32_t ticket)
{
	uint32_t	 expect = ticket;

	/*
	 * Unless a waiter handed this turn on already, hand it to the next,
	 * waking the waiters only if a ticket was taken after this one (the
	 * usual case, a lone writer, then makes no system call).
	 */
	if (atomic_compare_exchange_strong(&q->shm->serving, &expect,
	    ticket + 1) && atomic_load(&q->shm->next) != ticket + 1)
		syscall(SYS_futex, &q->shm->serving, FUTEX_WAKE, INT_MAX, NULL,
		    NULL, 0);
}
