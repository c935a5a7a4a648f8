/*
 * taskq-api: the FastCGI responder behind nginx's /api/.  This header is the
 * map of the program: one section per source file.
 *
 * Threads: server.c runs api_threads workers; each takes whichever FastCGI
 * connection has a request ready (one epoll set shared by all), serves it
 * with FCGX_Accept_r, and owns one database connection (struct store) and
 * its reusable buffers.  Nothing
 * below is shared between workers except the read-only struct api and the
 * submit batcher, which has its own lock.
 */
#ifndef TASKQ_API_H
#define TASKQ_API_H

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>

#include "store.h"

struct config;
struct json_object;
struct json_tokener;
struct task;
struct batcher;

/* A growable byte buffer; len excludes the NUL kept after the bytes. */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* Process-wide state, read-only once the workers run. */
struct api {
	const struct config	*cfg;
	char			*files_dir;	/* STATE_DIR/files, no trailing slash */
	struct batcher		*batch;		/* group commit of submits */
	atomic_bool		 stopping;	/* set by server_run to drain */
};

/* One worker thread and everything it reuses from request to request. */
struct worker {
	size_t			 idx;
	pthread_t		 thread;
	struct api		*api;
	struct store		*store;		/* this thread's own connection */
	FCGX_Request		 fcgi;
	bool			 serving;	/* holds a serving place (server.c) */
	struct buf		 out;		/* response body being built */
	struct buf		 hdr;		/* response head, then the whole response */
	struct buf		 xhdr;		/* extra header lines of this response */
	struct buf		 in;		/* request body */
	struct buf		 query;		/* decoded copy of QUERY_STRING */
	struct json_tokener	*tok;		/* reused, depth-limited */
};

/* The routes, in the order of the table in server.c. */
enum route {
	ROUTE_TASK_SUBMIT,	/* POST   /api/tasks/submit */
	ROUTE_TASK_LIST,	/* GET    /api/tasks, /api/tasks/ */
	ROUTE_TASK_CANCEL_MATCHING, /* POST /api/tasks/cancel */
	ROUTE_TASK_RETRY_MATCHING,  /* POST /api/tasks/retry */
	ROUTE_TASK_GET,		/* GET    /api/tasks/{id} */
	ROUTE_TASK_CANCEL,	/* DELETE /api/tasks/{id} */
	ROUTE_TASK_RETRY,	/* POST   /api/tasks/{id}/retry */
	ROUTE_TYPE_LIST,	/* GET    /api/task-types */
	ROUTE_TYPE_PAUSE,	/* POST   /api/task-types/{name}/pause */
	ROUTE_TYPE_RESUME,	/* POST   /api/task-types/{name}/resume */
	ROUTE_STATS,		/* GET    /api/stats */
	ROUTE_HEALTH,		/* GET    /api/health */
	ROUTE_FILE_UPLOAD,	/* POST   /api/files */
	ROUTE_FILE_GET,		/* GET    /api/files/{id} */
	ROUTE_METRICS,		/* GET    /api/metrics (metrics.c) */
	ROUTE__MAX
};

/* One request being served; lives on the worker's stack. */
struct req {
	struct worker	*w;
	struct api	*api;
	FCGX_Request	*fcgi;
	enum route	 route;
	const char	*method;	/* borrowed from the FastCGI params */
	const char	*path;
	const char	*arg;		/* the {id} or {name} segment, NUL-terminated */
	char		 argbuf[256];	/* holds arg; longer segments are refused */
	int		 status;	/* sent status, 0 until a response went out */
	bool		 pending;	/* head in w->hdr, body in w->out, unsent */
};

/* auth.c */
int		 auth_init(const struct config *);
int		 auth_request(struct req *);

/* batch.c */
struct batcher	*batcher_new(const char *database, int busy_ms, char *errbuf,
		    size_t errlen);
void		 batcher_free(struct batcher *);
enum store_err	 batcher_submit(struct batcher *, const struct task_new *,
		    struct task **out, bool *existed);
void		 batcher_counts(struct batcher *, uint64_t *commits,
		    uint64_t *tasks);

/* buf.c */
bool		 buf_reserve(struct buf *, size_t more);
void		 buf_reset(struct buf *);
void		 buf_release(struct buf *);
void		 buf_put(struct buf *, const void *, size_t);
void		 buf_puts(struct buf *, const char *);
void		 buf_putc(struct buf *, char);
void		 buf_put_int(struct buf *, int64_t);
void		 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 buf_vprintf(struct buf *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
bool		 buf_failed(const struct buf *);
void		 json_put_str(struct buf *, const char *);
int		 hex_digit(int);
void		 json_put_strn(struct buf *, const char *, size_t);
void		 json_put_time(struct buf *, int64_t ms);
bool		 utf8_valid(const char *, size_t);
enum json_raw_err {
	JSON_RAW_OK = 0,
	JSON_RAW_SURROGATE,	/* a \uD800-\uDFFF escape without its pair */
	JSON_RAW_CONTROL,	/* an unescaped control character in a string */
	JSON_RAW_SYNTAX,	/* a bare word other than true, false, null */
	JSON_RAW_ERR__MAX
};
enum json_raw_err json_raw_check(const char *, size_t);

/* files.c */
void		 h_file_upload(struct req *);
void		 h_file_get(struct req *);
int		 files_init(struct api *);

/* info.c */
void		 h_type_list(struct req *);
void		 h_type_pause(struct req *);
void		 h_type_resume(struct req *);
void		 h_stats(struct req *);
void		 h_health(struct req *);

/* multipart.c */
enum mp_err {
	MP_OK = 0,
	MP_MALFORMED,		/* not multipart/form-data as RFC 7578 says */
	MP_TOO_LARGE,		/* part headers or part count over their bounds */
	MP_NOMEM,
	MP_ABORT,		/* a callback refused: it has answered already */
	MP_ERR__MAX
};

/* Called as parts arrive; each returns 0 to go on, else aborts the parse. */
struct mp_callbacks {
	int	(*part_begin)(void *arg, const char *name, const char *filename);
	int	(*part_data)(void *arg, const void *p, size_t n);
	int	(*part_end)(void *arg);
};

struct multipart;
bool		 mp_boundary(const char *content_type, char *out, size_t outlen);
struct multipart *mp_new(const char *boundary, const struct mp_callbacks *,
		    void *arg);
void		 mp_free(struct multipart *);
enum mp_err	 mp_feed(struct multipart *, const char *, size_t);
enum mp_err	 mp_finish(struct multipart *);

/* metrics.c */
void		 h_metrics(struct req *);

/* request.c */
const char	*req_param(const struct req *, const char *name);
bool		 req_content_type_is(const struct req *, const char *type);
int		 req_body_read(struct req *, int64_t max, struct buf *);
int		 req_json_body(struct req *, struct json_object **out);

/* A query parameter a route accepts; req_query fills value. */
struct qparam {
	const char	*name;
	const char	*value;		/* decoded, NULL if absent */
};
int		 req_query(struct req *, struct qparam *, size_t n);

/* server.c */
int		 server_run(struct api *, int listen_fd);
/* Before a long wait (a request body): gives up the serving place. */
void		 worker_wait(struct worker *);
void		 resp_header(struct req *, const char *name, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
void		 resp_send(struct req *, int status, const char *content_type);
void		 resp_json(struct req *, int status);
void		 resp_error(struct req *, int status, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void		 resp_store_error(struct req *, enum store_err, const char *what);
void		 resp_nomem(struct req *);
const char	*http_reason(int status);

/* tasks.c */
void		 h_task_submit(struct req *);
void		 h_task_list(struct req *);
void		 h_task_get(struct req *);
void		 h_task_cancel(struct req *);
void		 h_task_retry(struct req *);
void		 h_task_cancel_matching(struct req *);
void		 h_task_retry_matching(struct req *);
void		 task_to_json(struct buf *, const struct task *);
void		 cursor_encode(int64_t seq, char out[25]);
bool		 cursor_decode(const char *, int64_t *seq);

#endif /* TASKQ_API_H */
