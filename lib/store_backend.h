/*
 * The seam between lib/store.c, which holds the public store_* functions,
 * and the backends that implement them (store_sqlite.c, store_pg.c).  Private
 * to lib/: nothing outside the store module includes it.
 *
 * Every backend's handle begins with a struct store, so that store.c can
 * find the backend's operations and the error message without knowing the
 * rest; the backend converts the pointer back to its own handle.
 */
#ifndef TASKQ_STORE_BACKEND_H
#define TASKQ_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"
#include "store.h"

struct store_backend;

struct store {
	const struct store_backend *be;
	char		 errmsg[512];	/* store_errmsg(): the last error's detail */
};

/*
 * One backend's operations, each with the meaning of the store.h function
 * of the same name.  open receives the database string as configured (for
 * SQLite with any "sqlite:" prefix removed).  wakeup_fd and wakeup_drain
 * may be NULL: the backend then has no wake-up channel.
 */
struct store_backend {
	const char	*name;
	enum store_err	 (*open)(const char *, unsigned, int, struct store **,
			    char *, size_t);
	void		 (*close)(struct store *);
	int		 (*schema_version)(struct store *);
	enum store_err	 (*task_submit_many)(struct store *,
			    const struct task_new *, size_t, struct task **,
			    bool *, enum store_err *);
	enum store_err	 (*task_get)(struct store *, const char *,
			    struct task **);
	enum store_err	 (*task_list)(struct store *, const struct task_filter *,
			    int64_t, size_t, struct task_list *);
	/* Optional: store.c falls back on task_list. */
	enum store_err	 (*task_list_each)(struct store *,
			    const struct task_filter *, int64_t, size_t,
			    void (*)(const struct task *, void *), void *,
			    int64_t *);
	enum store_err	 (*task_cancel)(struct store *, const char *,
			    struct task **);
	enum store_err	 (*task_retry)(struct store *, const char *,
			    struct task **);
	enum store_err	 (*task_cancel_matching)(struct store *,
			    const struct task_filter *, int64_t *);
	enum store_err	 (*task_retry_matching)(struct store *,
			    const struct task_filter *, int64_t *);
	enum store_err	 (*task_claim)(struct store *, const char *, size_t,
			    struct task ***, size_t *);
	enum store_err	 (*task_progress_many)(struct store *,
			    const struct task_progress *, size_t);
	enum store_err	 (*task_finish_many)(struct store *,
			    const struct task_finish *, size_t, enum store_err *);
	enum store_err	 (*task_check_held)(struct store *, const char *const *,
			    const int64_t *, size_t, bool *);
	enum store_err	 (*runner_beat)(struct store *,
			    const struct runner_info *);
	enum store_err	 (*runner_remove)(struct store *, const char *);
	enum store_err	 (*runner_list)(struct store *, struct runner_info **,
			    size_t *);
	enum store_err	 (*recover_stale)(struct store *, int64_t, int64_t *,
			    int64_t *);
	enum store_err	 (*file_add)(struct store *, const struct file_info *);
	enum store_err	 (*file_get)(struct store *, const char *,
			    struct file_info *);
	enum store_err	 (*file_unreferenced)(struct store *, int64_t, size_t,
			    char (**)[TASK_ID_LEN + 1], size_t *);
	enum store_err	 (*file_delete)(struct store *, const char *);
	enum store_err	 (*type_set_paused)(struct store *, const char *, bool);
	enum store_err	 (*type_is_paused)(struct store *, const char *, bool *);
	enum store_err	 (*stats_get)(struct store *, struct store_stats *);
	enum store_err	 (*purge)(struct store *, int64_t, size_t, int64_t *);
	enum store_err	 (*ping)(struct store *);
	enum store_err	 (*backup)(struct store *, const char *);
	enum store_err	 (*migrate)(const char *, int, int *, int *, char *,
			    size_t);
	enum store_err	 (*integrity_check)(struct store *, char **);
	int		 (*wakeup_fd)(struct store *);
	bool		 (*wakeup_drain)(struct store *);
	/* (Appended for GET /api/metrics; NULL: the backend keeps none.) */
	enum store_err	 (*duration_hist)(struct store *, struct duration_hist **,
			    size_t *);
	/* (Appended; NULL: not measured.) */
	int64_t		 (*lock_wait_worst)(struct store *);
};

/*
 * Helpers both backends use to build struct store_stats (store.c).
 * store_stats_type() returns the entry for type, appended (zeroed, named)
 * if new, growing ss->types with *cap; NULL on allocation failure.
 * store_stats_cmp() orders entries by type name, for qsort().
 */
struct type_stats	*store_stats_type(struct store_stats *ss, const char *type,
			    size_t *cap);

/*
 * What both backends check and build alike.  store_task_new_check() is
 * NULL for a valid new task, else what is wrong with it (static text, or
 * msg filled); store_task_new_retry() fills tn for a retry of old (borrowing
 * its strings); store_err_is_fatal() says whether an item's error must roll
 * back the whole group's transaction.
 */
const char		*store_task_new_check(const struct task_new *tn,
			    char *msg, size_t len);
void			 store_task_new_retry(const struct task *old,
			    struct task_new *tn);
bool			 store_err_is_fatal(enum store_err);

int			 store_stats_cmp(const void *a, const void *b);

extern const struct store_backend store_sqlite_backend;
#ifdef HAVE_LIBPQ
extern const struct store_backend store_pg_backend;
#endif

#endif /* TASKQ_STORE_BACKEND_H */
