/*
 * The task record shared by the store, the API, the runner and the CLI, with
 * the status set, ids and times in the forms the contract (API.md) uses.
 */
#ifndef TASKQ_TASK_H
#define TASKQ_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum task_status {
	TASK_PENDING,
	TASK_RUNNING,
	TASK_SUCCESS,
	TASK_FAILED,
	TASK_CANCELLED,
	TASK_STATUS__MAX
};

extern const char *const task_status_names[TASK_STATUS__MAX];

/* The status named exactly (e.g. "SUCCESS"), or -1. */
int	task_status_parse(const char *name);
/*
 * Adds the statuses of a comma-separated list ("FAILED,CANCELLED") to *mask
 * as 1u << status.  false if a value is empty or not a status named
 * exactly; bad then holds it (at most 32 bytes of it).
 */
bool	task_status_list_parse(const char *s, unsigned *mask, char *bad,
	    size_t badlen);

#define TASK_ID_LEN	36	/* canonical UUID text, without the NUL */

/*
 * One task as stored.  Every pointer is owned by the struct and released by
 * task_free(); times are milliseconds since the epoch, 0 meaning null.
 */
struct task {
	int64_t		 seq;		/* insertion order: the keyset cursor */
	char		 id[TASK_ID_LEN + 1];
	char		*task_type;
	enum task_status status;
	int		 progress;	/* 0..100 */
	char		*parameters;	/* JSON object text */
	char		*result_data;	/* JSON object text or NULL */
	char		*error_message;	/* or NULL */
	char		*worker_output;	/* captured stderr tail, or NULL */
	char		 retry_of[TASK_ID_LEN + 1]; /* "" when not a retry */
	int		 attempt;	/* 1 for the first run */
	int		 max_attempts;
	int		 priority;
	int		 timeout_s;
	int64_t		 created_at;
	int64_t		 run_at;	/* not claimed before */
	int64_t		 started_at;
	int64_t		 completed_at;
	int64_t		 updated_at;
	char		*claim_owner;	/* runner id while claimed, or NULL */
	int64_t		 claim_token;	/* fencing token of the current claim, 0 if none */
};

void	 task_free(struct task *);	/* NULL is a no-op */

/* Milliseconds since the epoch, from CLOCK_REALTIME. */
int64_t	 time_now_ms(void);

#define TIME_RFC3339_LEN 24	/* "2026-11-29T02:10:00.123Z" */

/* Formats ms as RFC 3339 UTC with milliseconds into buf (>= TIME_RFC3339_LEN+1). */
void	 time_format_rfc3339(int64_t ms, char *buf);

/*
 * Parses an RFC 3339 date-time ("2026-11-29T02:10:00Z", fractional seconds
 * and a numeric offset allowed) into ms since the epoch.  Returns false for
 * anything else, including impossible dates.
 */
bool	 time_parse_rfc3339(const char *s, int64_t *ms);

/* Writes a new random (v4) UUID, lowercase, into buf (TASK_ID_LEN+1). */
void	 task_id_generate(char *buf);

/* Whether s is a UUID in either case; if so, writes it lowercased to out. */
bool	 task_id_normalize(const char *s, char *out);

#endif /* TASKQ_TASK_H */
