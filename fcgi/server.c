/*
 * The serving core: worker threads accepting FastCGI requests, the route
 * table every request is matched against, and the response writers,
 * including the one table that maps store errors to HTTP statuses.
 */
#include <config.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../lib/config.h"
#include "api.h"
#include "log.h"
#include "store.h"

/* Most of an unread request body read and dropped to keep the connection. */
#define DRAIN_MAX	(1024 * 1024)

/* Nesting a JSON request may have: the contract's bodies need three. */
#define JSON_MAX_DEPTH	32

typedef void	(*route_fn)(struct req *);

/*
 * A route: method and a path pattern whose segments are literals or "*"
 * (one segment captured as req->arg).  A request path is matched against
 * every pattern; of the patterns that match, only those with the most
 * literal segments count, so "/api/tasks/cancel" is the bulk route and not
 * a task id, and GET on it is a 405 rather than a malformed id.
 */
struct route_def {
	const char	*method;
	const char	*pattern;
	route_fn	 fn;
};

static const struct route_def routes[ROUTE__MAX] = {
	{ "POST", "/api/tasks/submit", h_task_submit },		/* ROUTE_TASK_SUBMIT */
	{ "GET", "/api/tasks", h_task_list },			/* ROUTE_TASK_LIST */
	{ "POST", "/api/tasks/cancel", h_task_cancel_matching },	/* ROUTE_TASK_CANCEL_MATCHING */
	{ "POST", "/api/tasks/retry", h_task_retry_matching },	/* ROUTE_TASK_RETRY_MATCHING */
	{ "GET", "/api/tasks/*", h_task_get },			/* ROUTE_TASK_GET */
	{ "DELETE", "/api/tasks/*", h_task_cancel },		/* ROUTE_TASK_CANCEL */
	{ "POST", "/api/tasks/*/retry", h_task_retry },		/* ROUTE_TASK_RETRY */
	{ "GET", "/api/task-types", h_type_list },		/* ROUTE_TYPE_LIST */
	{ "POST", "/api/task-types/*/pause", h_type_pause },	/* ROUTE_TYPE_PAUSE */
	{ "POST", "/api/task-types/*/resume", h_type_resume },	/* ROUTE_TYPE_RESUME */
	{ "GET", "/api/stats", h_stats },			/* ROUTE_STATS */
	{ "GET", "/api/health", h_health },			/* ROUTE_HEALTH */
	{ "POST", "/api/files", h_file_upload },			/* ROUTE_FILE_UPLOAD */
	{ "GET", "/api/files/*", h_file_get },			/* ROUTE_FILE_GET */
	{ "GET", "/api/metrics", h_metrics },			/* ROUTE_METRICS */
};

/*
 * Store errors as HTTP, in one place.  STORE_INVALID reaches here only when
 * a handler did not validate an argument itself, hence a generic 422.
 */
static const struct {
	int		 status;
	const char	*detail;
} store_http[STORE_ERR__MAX] = {
	{ 200, "ok" },						/* STORE_OK */
	{ 404, "not found" },					/* STORE_NOTFOUND */
	{ 409, "conflicts with the current state" },		/* STORE_CONFLICT */
	{ 503, "database busy, retry shortly" },		/* STORE_BUSY */
	{ 503, "out of memory, retry shortly" },		/* STORE_NOMEM */
	{ 507, "insufficient storage" },			/* STORE_FULL */
	{ 500, "database error" },				/* STORE_DB */
	{ 500, "database schema is newer than this program" },	/* STORE_VERSION */
	{ 422, "invalid argument" },				/* STORE_INVALID */
};

static const struct {
	int		 status;
	const char	*reason;
} reasons[] = {
	{ 200, "OK" },
	{ 201, "Created" },
	{ 400, "Bad Request" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 409, "Conflict" },
	{ 413, "Content Too Large" },
	{ 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
	{ 507, "Insufficient Storage" },
};

/* Guards the count of live workers. */
static pthread_mutex_t	 server_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t		 server_live;

const char *
http_reason(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

/* Adds one header line to the response being built. */
void
resp_header(struct req *r, const char *name, const char *fmt, ...)
{
	va_list	 ap;

	buf_puts(&r->w->xhdr, name);
	buf_puts(&r->w->xhdr, ": ");
	va_start(ap, fmt);
	buf_vprintf(&r->w->xhdr, fmt, ap);
	va_end(ap);
	buf_puts(&r->w->xhdr, "\r\n");
}

/*
 * Prepares the response: its head in w->hdr, w->out as its body.  serve()
 * sends both once the request is done with (resp_write), unless the
 * handler went on to stream a body through libfcgi itself.
 */
void
resp_send(struct req *r, int status, const char *content_type)
{
	struct worker	*w = r->w;

	if (r->status != 0)
		return;
	if (buf_failed(&w->out) || buf_failed(&w->xhdr)) {
		buf_reset(&w->out);
		buf_reset(&w->xhdr);
		status = 503;
		content_type = "application/json";
		buf_puts(&w->out, "{\"detail\": \"out of memory, retry shortly\"}");
		buf_puts(&w->xhdr, "Retry-After: 1\r\n");
	}
	buf_reset(&w->hdr);
	buf_printf(&w->hdr, "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n",
	    status, http_reason(status), content_type, w->out.len);
	if (w->xhdr.len > 0)
		buf_put(&w->hdr, w->xhdr.p, w->xhdr.len);
	buf_put(&w->hdr, "\r\n", 2);
	r->status = status;
	if (buf_failed(&w->hdr) || buf_failed(&w->out)) {
		static const char oom[] = "Status: 503 Service Unavailable\r\n"
		    "Content-Type: application/json\r\nRetry-After: 1\r\n\r\n"
		    "{\"detail\": \"out of memory, retry shortly\"}";

		log_warnx("%s %s: out of memory building the response",
		    r->method, r->path);
		r->status = 503;
		FCGX_PutStr(oom, (int)sizeof(oom) - 1, r->fcgi->out);
		return;
	}
	r->pending = true;
}

/* FastCGI record types and the largest content of one record. */
#define FCGI_REC_END_REQUEST	3
#define FCGI_REC_STDOUT		6
#define FCGI_REC_CONTENT_MAX	65535

/*
 * Records of a response resp_write builds without allocating: 1 MiB, so
 * that a page of 500 tasks (~300 KiB) is sent without a malloc (~1 KiB of
 * stack).
 */
#define RESP_SMALL_RECORDS	16

static void
fcgi_header(unsigned char *h, int type, int request_id, size_t len)
{
	h[0] = 1;				/* FCGI_VERSION_1 */
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(request_id >> 8);
	h[3] = (unsigned char)request_id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;				/* no padding */
	h[7] = 0;
}

/* writev(2) of all of iov[0..n), however the kernel splits it. */
static int
writev_all(int fd, struct iovec *iov, size_t n)
{
	ssize_t	 got;
	size_t	 left;

	while (n > 0) {
		got = writev(fd, iov, n > IOV_MAX ? IOV_MAX : (int)n);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (left = (size_t)got; n > 0 && left >= iov->iov_len; n--)
			left -= (iov++)->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/*
 * Sends the prepared response and ends the request: the head and body as
 * FastCGI stdout records, the end of stdout and the end-request record,
 * all in one writev(2).  Through FCGX_PutStr and FCGX_Finish_r the same
 * took a write per 8 KiB record plus one to finish (five for a page of
 * tasks), each waking nginx.  Returns -1 if the connection failed.
 */
static int
resp_write(struct req *r)
{
	struct worker	*w = r->w;
	const char	*part[2] = { w->hdr.p, w->out.p != NULL ? w->out.p : "" };
	size_t		 plen[2] = { w->hdr.len, w->out.len };
	size_t		 total = plen[0] + plen[1], nrec, niov, k, p, off, take;
	size_t		 rec, room;
	unsigned char	 hdrs_small[(RESP_SMALL_RECORDS + 3) * 8], *hdrs;
	struct iovec	 iov_small[RESP_SMALL_RECORDS * 3 + 2], *iov;
	int		 rid = r->fcgi->requestId, rc;

	nrec = (total + FCGI_REC_CONTENT_MAX - 1) / FCGI_REC_CONTENT_MAX;
	/*
	 * Per record a header and at most two pieces; then two closing
	 * records, the end-request one with its 8-byte body.  All but the
	 * largest responses fit the arrays on the stack.
	 */
	niov = nrec * 3 + 2;
	if (nrec <= RESP_SMALL_RECORDS) {
		hdrs = hdrs_small;
		iov = iov_small;
	} else {
		hdrs = malloc((nrec + 3) * 8);
		iov = calloc(niov, sizeof(*iov));
		if (hdrs == NULL || iov == NULL) {
			free(hdrs);
			free(iov);
			log_warnx("%s %s: out of memory sending the response",
			    r->method, r->path);
			return -1;
		}
	}
	k = 0;
	p = off = 0;
	for (rec = 0; rec < nrec; rec++) {
		room = total - (rec * FCGI_REC_CONTENT_MAX);
		if (room > FCGI_REC_CONTENT_MAX)
			room = FCGI_REC_CONTENT_MAX;
		fcgi_header(hdrs + rec * 8, FCGI_REC_STDOUT, rid, room);
		iov[k].iov_base = hdrs + rec * 8;
		iov[k++].iov_len = 8;
		while (room > 0) {
			take = plen[p] - off < room ? plen[p] - off : room;
			if (take > 0) {
				iov[k].iov_base = (char *)part[p] + off;
				iov[k++].iov_len = take;
			}
			room -= take;
			off += take;
			if (off == plen[p]) {
				p++;
				off = 0;
			}
		}
	}
	/* The end of stdout, then FCGI_END_REQUEST: app status 0, complete. */
	fcgi_header(hdrs + nrec * 8, FCGI_REC_STDOUT, rid, 0);
	iov[k].iov_base = hdrs + nrec * 8;
	iov[k++].iov_len = 8;
	fcgi_header(hdrs + (nrec + 1) * 8, FCGI_REC_END_REQUEST, rid, 8);
	memset(hdrs + (nrec + 2) * 8, 0, 8);
	iov[k].iov_base = hdrs + (nrec + 1) * 8;
	iov[k++].iov_len = 16;
	rc = writev_all(r->fcgi->ipcFd, iov, k);
	if (rc == -1)
		log_debug("%s %s: client went away while sending the response",
		    r->method, r->path);
	if (hdrs != hdrs_small) {
		free(hdrs);
		free(iov);
	}
	return rc;
}

void
resp_json(struct req *r, int status)
{
	resp_send(r, status, "application/json");
}

/*
 * Replaces the body built so far with an error {"detail", "field"}.
 * field is the offending input (e.g. "parameters.to"), or NULL.
 */
void
resp_error(struct req *r, int status, const char *field, const char *fmt, ...)
{
	struct worker	*w = r->w;
	struct buf	 msg = { NULL, 0, 0 };
	va_list		 ap;

	/* Header lines already added (Allow, Retry-After) stay. */
	buf_reset(&w->out);
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	buf_puts(&w->out, "{\"detail\": ");
	json_put_str(&w->out, msg.p != NULL ? msg.p : "error");
	if (field != NULL) {
		buf_puts(&w->out, ", \"field\": ");
		json_put_str(&w->out, field);
	}
	buf_putc(&w->out, '}');
	buf_release(&msg);
	if (status == 503)
		resp_header(r, "Retry-After", "1");
	resp_json(r, status);
}

/*
 * Answers a store failure through store_http[].  Failures that are the
 * server's (database errors, memory) are logged here, once, with the
 * store's detail; the client's (not found, conflict) are not.
 */
void
resp_store_error(struct req *r, enum store_err err, const char *what)
{
	int	 status;

	if ((unsigned)err >= STORE_ERR__MAX)
		err = STORE_DB;
	status = store_http[err].status;
	if (status >= 500)
		log_warnx("%s %s: %s: %s: %s", r->method, r->path, what,
		    store_strerror(err), store_errmsg(r->w->store));
	resp_error(r, status, NULL, "%s: %s", what, store_http[err].detail);
}

void
resp_nomem(struct req *r)
{
	log_warnx("%s %s: out of memory", r->method, r->path);
	resp_error(r, 503, NULL, "out of memory, retry shortly");
}

/*
 * Matches path against pattern; on success returns the number of literal
 * segments and stores a captured segment in r->argbuf.  -1: no match.
 */
static int
route_match(const char *pattern, const char *path, struct req *r,
    bool *toolong)
{
	const char	*p = pattern, *s = path, *pe, *se;
	int		 literals = 0;
	size_t		 n;

	while (*p == '/' && *s == '/') {
		p++;
		s++;
		pe = strchr(p, '/');
		if (pe == NULL)
			pe = p + strlen(p);
		se = strchr(s, '/');
		if (se == NULL)
			se = s + strlen(s);
		if (pe - p == 1 && *p == '*') {
			if (se == s)
				return -1;
			n = (size_t)(se - s);
			if (n >= sizeof(r->argbuf)) {
				*toolong = true;
				n = 0;
			}
			memcpy(r->argbuf, s, n);
			r->argbuf[n] = '\0';
		} else {
			if (pe - p != se - s || memcmp(p, s, (size_t)(pe - p)) != 0)
				return -1;
			literals++;
		}
		p = pe;
		s = se;
	}
	return (*p == '\0' && *s == '\0') ? literals : -1;
}

/*
 * Routes one request: 404 for an unknown path, 405 with Allow listing the
 * methods of the path, else the handler.
 */
static void
dispatch(struct req *r)
{
	char		 path[1024];
	char		 allow[128];
	const char	*method;
	size_t		 n, i;
	int		 best = -1, m[ROUTE__MAX];
	bool		 toolong = false;
	const struct route_def *hit = NULL;

	n = strlen(r->path);
	if (n >= sizeof(path)) {
		resp_error(r, 404, NULL, "no such resource");
		return;
	}
	memcpy(path, r->path, n + 1);
	/* "/api/tasks/" is "/api/tasks": one trailing slash is not a segment. */
	if (n > 1 && path[n - 1] == '/')
		path[n - 1] = '\0';

	for (i = 0; i < ROUTE__MAX; i++) {
		m[i] = route_match(routes[i].pattern, path, r, &toolong);
		if (m[i] > best)
			best = m[i];
	}
	if (best < 0) {
		resp_error(r, 404, NULL, "no such resource: %s", r->path);
		return;
	}
	allow[0] = '\0';
	/*
	 * HEAD is GET without the body, which nginx drops: monitors probing
	 * /api/health with HEAD get the status and headers of a GET.
	 */
	method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	for (i = 0; i < ROUTE__MAX; i++) {
		if (m[i] != best)
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			hit = &routes[i];
			r->route = (enum route)i;
			break;
		}
		if (allow[0] != '\0')
			strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
		strncat(allow, strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD" :
		    routes[i].method, sizeof(allow) - strlen(allow) - 1);
	}
	if (hit == NULL) {
		resp_header(r, "Allow", "%s", allow);
		resp_error(r, 405, NULL, "method %s not allowed on %s; allowed: %s",
		    r->method, r->path, allow);
		return;
	}
	/* Recapture the argument of the chosen route (others overwrote it). */
	route_match(hit->pattern, path, r, &toolong);
	r->arg = r->argbuf;
	if (toolong) {
		resp_error(r, 404, NULL, "no such resource");
		return;
	}
	/* Tokens, and changes a page on another site could have sent. */
	if (auth_request(r) == -1)
		return;
	/*
	 * Only the listing takes query parameters; elsewhere any is a 422
	 * naming it, as an unknown one is for the listing: a typo in a
	 * parameter should not silently do something else.
	 */
	if (r->route != ROUTE_TASK_LIST && req_query(r, NULL, 0) == -1)
		return;
	hit->fn(r);
}

/*
 * Reads what is left of the request body, up to DRAIN_MAX bytes, so the
 * kept-alive connection is positioned at the next request: libfcgi does
 * not skip an unread body, and the next FCGX_Accept_r would take its
 * records for a protocol error and drop the connection, failing the
 * request nginx already sent on it.  A larger rest (a refused upload) is
 * not read: the connection is closed instead, which nginx expects, as it
 * has not finished sending that body.
 */
static void
drain_body(struct worker *w)
{
	char	 trash[16384];
	size_t	 total = 0;
	int	 n;

	while (!FCGX_HasSeenEOF(w->fcgi.in)) {
		if (total >= DRAIN_MAX) {
			w->fcgi.keepConnection = 0;
			return;
		}
		n = FCGX_GetStr(trash, sizeof(trash), w->fcgi.in);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	if (FCGX_GetError(w->fcgi.in) != 0)
		w->fcgi.keepConnection = 0;
}

/*
 * Serves the request FCGX_Accept_r just returned and ends it, leaving
 * w->fcgi.ipcFd open if the connection is to be kept, -1 if it was closed.
 */
static void
serve(struct worker *w)
{
	struct req	 r;

	memset(&r, 0, sizeof(r));
	r.w = w;
	r.api = w->api;
	r.fcgi = &w->fcgi;
	r.route = ROUTE__MAX;
	buf_reset(&w->out);
	buf_reset(&w->xhdr);
	buf_reset(&w->in);
	buf_reset(&w->query);
	if ((r.method = req_param(&r, "REQUEST_METHOD")) == NULL)
		r.method = "";
	/* nginx passes $uri (decoded, dot-segments resolved) as PATH_INFO. */
	if ((r.path = req_param(&r, "PATH_INFO")) == NULL || *r.path == '\0')
		if ((r.path = req_param(&r, "DOCUMENT_URI")) == NULL)
			r.path = "";

	/* Even while draining: a request that arrived is served. */
	dispatch(&r);
	if (r.status == 0) {
		/* A handler that returns without answering is a bug: say so. */
		log_warnx("%s %s: handler sent no response", r.method, r.path);
		resp_error(&r, 500, NULL, "internal error");
	}
	if (r.status >= 500)
		log_debug("%s %s -> %d", r.method, r.path, r.status);
	drain_body(w);
	/*
	 * What FCGX_Finish_r does, less the writes resp_write made
	 * (drain_body cleared keepConnection on a read error).
	 */
	if (r.pending)
		FCGX_Free(&w->fcgi, resp_write(&r) == -1 ||
		    !w->fcgi.keepConnection);
	else
		FCGX_Finish_r(&w->fcgi);
	/* Release large buffers kept from an unusually large request. */
	if (w->in.cap > (4u << 20))
		buf_release(&w->in);
	if (w->out.cap > (4u << 20))
		buf_release(&w->out);
	if (w->hdr.cap > (4u << 20))
		buf_release(&w->hdr);
	json_tokener_reset(w->tok);
}

/*
 * Connections.  The workers share one epoll set holding the listening
 * socket, a stop event and every connection from the web server that is
 * not carrying a request.  Each is registered EPOLLONESHOT: an event goes
 * to one worker, and the descriptor is that worker's until it re-arms it.
 * A worker given a connection serves one request on it with libfcgi:
 * FCGX_Accept_r finds the request's ipcFd set and reads the request from
 * it rather than accepting (the requests are initialised with no listening
 * socket, so libfcgi itself never accepts).
 *
 * Why not libfcgi's own model, a thread blocked on each connection for the
 * connection's whole life: nginx keeps idle connections open
 * (fastcgi_keep_conn), and each would pin a thread, so the threads had to
 * outnumber every connection nginx might hold or a new one waited in the
 * backlog behind idle ones; and every request had to wake its connection's
 * own thread.  Here a thread is busy only while a request is, nginx may
 * keep as many connections as it likes (up to CONN_MAX), and under load a
 * worker that has just answered takes the next ready connection without
 * sleeping.
 */

/*
 * Connections open at once; past it, the listening socket is left unarmed
 * (new connections wait in its backlog) until one closes.  libfcgi waits
 * with select(2) when it closes a connection, so no descriptor it is given
 * may reach FD_SETSIZE.
 */
#define CONN_MAX	512

struct conns {
	int		 ep;		/* the epoll set */
	int		 listen_fd;
	int		 stop_fd;	/* eventfd, readable once stopping */
	bool		 tcp;		/* TCP listener: set TCP_NODELAY */
	atomic_size_t	 open;		/* connections open */
	atomic_bool	 parked;	/* listen_fd unarmed: CONN_MAX open */
};

static struct conns	 conns = { .ep = -1, .listen_fd = -1, .stop_fd = -1 };

/*
 * Workers serving at once.  There are api_threads workers so that many can
 * wait (on a group commit's fsync, on a request body) while others serve,
 * but serving itself is CPU work: more runnable threads than CPUs only take
 * turns at them, each with its own SQLite page cache cold, and measured a
 * third slower on two CPUs with 16 serving than with 4.  So a worker holds
 * one of these places to wait for and serve requests, and gives it up
 * before a long wait (worker_wait); the rest of that request (a submit's
 * commit, an upload's hashing) runs without one, and the worker takes one
 * again before waiting for its next request.
 */
static sem_t		 serving;

/* Takes a serving place; w->serving says it holds one. */
static void
serving_take(struct worker *w)
{
	while (sem_wait(&serving) == -1 && errno == EINTR)
		continue;
	w->serving = true;
}

static void
serving_give(struct worker *w)
{
	if (w->serving) {
		w->serving = false;
		sem_post(&serving);
	}
}

void
worker_wait(struct worker *w)
{
	serving_give(w);
}

static int
conn_arm(int fd, int op)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.fd = fd;
	return epoll_ctl(conns.ep, op, fd, &ev);
}

static void
listen_arm(void)
{
	/* ENOENT: conns_stop took it out of the set. */
	if (conn_arm(conns.listen_fd, EPOLL_CTL_MOD) == -1 && errno != ENOENT)
		log_warn("epoll_ctl: the listening socket");
}

/* Counts a connection closed, re-arming the listener if it waited for it. */
static void
conn_closed(void)
{
	bool	 parked = true;

	atomic_fetch_sub(&conns.open, 1);
	if (atomic_compare_exchange_strong(&conns.parked, &parked, false))
		listen_arm();
}

/*
 * After a failure to take a connection that will not pass at once (out of
 * descriptors or memory, a broken listening socket): pauses this worker
 * 100 ms, so that the listening socket, re-armed after, is not spun on,
 * and says why at most once a second.
 */
static void
accept_pause(const char *why)
{
	static _Atomic time_t	 last_log;
	struct timespec		 ts = { 0, 100 * 1000 * 1000 };
	time_t			 now;

	now = time(NULL);
	if (now != atomic_exchange(&last_log, now))
		log_warnx("accept: %s; retrying", why);
	nanosleep(&ts, NULL);
}

/* Accepts every pending connection into the epoll set, up to CONN_MAX. */
static void
conn_accept(void)
{
	bool	 parked;
	int	 fd, e, one = 1;

	for (;;) {
		if (atomic_load(&conns.open) >= CONN_MAX) {
			/* conn_closed re-arms the listener from now on... */
			atomic_store(&conns.parked, true);
			/* ...unless every connection closed meanwhile. */
			parked = true;
			if (atomic_load(&conns.open) >= CONN_MAX ||
			    !atomic_compare_exchange_strong(&conns.parked,
			    &parked, false))
				return;
		}
		fd = accept4(conns.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if ((e = errno) == EAGAIN || e == EWOULDBLOCK)
				break;
			/* A signal, or a connection that went away. */
			if (e == EINTR || e == ECONNABORTED || e == EPROTO)
				continue;
			accept_pause(strerror(e));
			break;
		}
		if (fd >= FD_SETSIZE) {
			/* As good as out of descriptors, for libfcgi. */
			close(fd);
			accept_pause("descriptors past FD_SETSIZE; a "
			    "connection closed (lower api_threads or nginx's "
			    "keepalive)");
			break;
		}
		/*
		 * (libfcgi's own accept would also check the peer against
		 * FCGI_WEB_SERVER_ADDRS; taskq-api listens on a UNIX socket or
		 * on loopback only, main.c refusing anything else.)
		 */
		if (conns.tcp && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one)) == -1)
			log_warn("setsockopt TCP_NODELAY");
		atomic_fetch_add(&conns.open, 1);
		if (conn_arm(fd, EPOLL_CTL_ADD) == -1) {
			log_warn("epoll_ctl: a new connection");
			close(fd);
			atomic_fetch_sub(&conns.open, 1);
		}
	}
	listen_arm();
}

/*
 * Serves the request waiting on connection fd, then hands the connection
 * back to the epoll set, or counts it closed when libfcgi closed it: the
 * web server ended it (a kept connection it no longer wanted), it broke the
 * protocol, or it did not ask to keep it.  While draining, a connection is
 * closed once its request is answered rather than handed back: re-armed, it
 * could carry request after request and hold the drain open until its
 * deadline.
 */
static void
conn_serve(struct worker *w, int fd)
{
	/* Set, so that FCGX_Accept_r's finishing of a previous request keeps fd. */
	w->fcgi.keepConnection = 1;
	w->fcgi.ipcFd = fd;
	if (FCGX_Accept_r(&w->fcgi) < 0) {
		/* libfcgi has closed fd, then failed to accept on no socket. */
		w->fcgi.ipcFd = -1;
		conn_closed();
		return;
	}
	serve(w);
	if (w->fcgi.ipcFd < 0) {
		conn_closed();
		return;
	}
	w->fcgi.ipcFd = -1;
	if (!atomic_load(&w->api->stopping)) {
		if (conn_arm(fd, EPOLL_CTL_MOD) == 0)
			return;
		log_warn("epoll_ctl: a kept connection");
	}
	close(fd);
	conn_closed();
}

/*
 * Draining: requests that already reached a connection are served (and
 * their connections closed, conn_serve), then the worker leaves.  The stop
 * event stays readable, so it comes back with every call; anything else
 * ready is a connection with a request (the listener is out of the set).
 */
static void
worker_drain(struct worker *w)
{
	struct epoll_event	 evs[16];
	int			 i, n, served;

	for (;;) {
		n = epoll_wait(conns.ep, evs,
		    (int)(sizeof(evs) / sizeof(evs[0])), 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("worker %zu: epoll_wait while draining",
			    w->idx);
			return;
		}
		served = 0;
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == conns.stop_fd ||
			    evs[i].data.fd == conns.listen_fd)
				continue;
			conn_serve(w, evs[i].data.fd);
			served++;
		}
		if (served == 0)
			return;
	}
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct epoll_event	 ev;
	int			 n;

	for (;;) {
		/* Kept from request to request, unless a wait gave it up. */
		if (!w->serving)
			serving_take(w);
		n = epoll_wait(conns.ep, &ev, 1, -1);
		if (n < 1) {
			if (n == 0 || errno == EINTR)
				continue;
			log_warn("worker %zu: epoll_wait; the worker stops",
			    w->idx);
			break;
		}
		if (ev.data.fd == conns.stop_fd) {
			worker_drain(w);
			break;
		}
		if (ev.data.fd == conns.listen_fd)
			conn_accept();
		else
			conn_serve(w, ev.data.fd);
	}
	serving_give(w);
	FCGX_Free(&w->fcgi, 1);
	pthread_mutex_lock(&server_lock);
	server_live--;
	pthread_mutex_unlock(&server_lock);
	return NULL;
}

/* Two per CPU, at most all of the n workers. */
static unsigned int
serving_places(size_t n)
{
	long	 cpus;

	if ((cpus = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		cpus = 1;
	return (unsigned int)((size_t)cpus * 2 < n ? (size_t)cpus * 2 : n);
}

/* Sets up the epoll set around listen_fd; -1 on failure, logged. */
static int
conns_init(int listen_fd)
{
	struct epoll_event	 ev;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	int			 fl;

	conns.listen_fd = listen_fd;
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &sslen) == 0)
		conns.tcp = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
	if ((fl = fcntl(listen_fd, F_GETFL)) == -1 ||
	    fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		log_warn("fcntl O_NONBLOCK: the listening socket");
		return -1;
	}
	if ((conns.ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_warn("epoll_create1");
		return -1;
	}
	if ((conns.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("eventfd");
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;	/* level-triggered: every worker sees it */
	ev.data.fd = conns.stop_fd;
	if (epoll_ctl(conns.ep, EPOLL_CTL_ADD, conns.stop_fd, &ev) == -1 ||
	    conn_arm(listen_fd, EPOLL_CTL_ADD) == -1) {
		log_warn("epoll_ctl");
		return -1;
	}
	return 0;
}

/* Stops accepting and tells every worker to drain and leave. */
static void
conns_stop(void)
{
	uint64_t	 one = 1;

	if (conns.listen_fd != -1 &&
	    epoll_ctl(conns.ep, EPOLL_CTL_DEL, conns.listen_fd, NULL) == -1)
		log_warn("epoll_ctl: taking the listening socket out");
	if (write(conns.stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("write: the stop event");
}

/* Kept connections still open close with the process. */
static void
conns_close(void)
{
	if (conns.stop_fd != -1)
		close(conns.stop_fd);
	if (conns.ep != -1)
		close(conns.ep);
	conns.stop_fd = conns.ep = conns.listen_fd = -1;
}

static void
worker_cleanup(struct worker *w)
{
	store_close(w->store);
	buf_release(&w->out);
	buf_release(&w->hdr);
	buf_release(&w->xhdr);
	buf_release(&w->in);
	buf_release(&w->query);
	if (w->tok != NULL)
		json_tokener_free(w->tok);
}

/*
 * Runs the workers until SIGTERM or SIGINT, then drains: no new request is
 * accepted, requests being served finish and are answered, idle kept-alive
 * connections are closed.  Returns 0 on a clean stop, -1 if the workers
 * could not start or all died.
 *
 * Why a thread per worker, each with its own connection: a SQLite
 * connection is single-threaded, and under WAL every connection reads
 * concurrently with one writer, so N connections serve N requests in
 * parallel with no lock in the responder; each connection also keeps its
 * own prepared statements.  A pool shared under a mutex would serialize
 * exactly what WAL lets run in parallel.  Submits, the one write on the hot
 * path, are grouped across threads by the batcher.
 */
int
server_run(struct api *api, int listen_fd)
{
	const struct config	*cfg = api->cfg;
	struct worker		*ws = NULL;
	sigset_t		 set;
	siginfo_t		 si;
	struct timespec		 ts;
	char			 err[512];
	size_t			 n, i, started = 0, live;
	int			 sig, rc = -1, e;
	unsigned int		 places;
	enum store_err		 serr;
	time_t			 deadline;

	n = (size_t)cfg->api_threads;
	if ((ws = calloc(n, sizeof(*ws))) == NULL) {
		log_warn("calloc %zu workers", n);
		return -1;
	}

	if (conns_init(listen_fd) == -1)
		goto out;
	places = serving_places(n);
	if (sem_init(&serving, 0, places) == -1) {
		log_warn("sem_init");
		goto out;
	}

	for (i = 0; i < n; i++) {
		ws[i].idx = i;
		ws[i].api = api;
		serr = store_open(cfg->database, STORE_OPEN_MAP_WHOLE |
		    STORE_OPEN_CHECKPOINTER, cfg->busy_timeout_ms, &ws[i].store,
		    err, sizeof(err));
		if (serr != STORE_OK) {
			log_warnx("worker %zu: %s", i, err);
			goto out;
		}
		if ((ws[i].tok = json_tokener_new_ex(JSON_MAX_DEPTH)) == NULL) {
			log_warnx("worker %zu: json_tokener_new_ex failed", i);
			goto out;
		}
		/* No listening socket: conn_serve gives it its connections. */
		FCGX_InitRequest(&ws[i].fcgi, -1, FCGI_FAIL_ACCEPT_ON_INTR);
	}

	/* Workers inherit this mask: only main takes SIGTERM and SIGINT. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if ((e = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0) {
		log_warnx("pthread_sigmask: %s", strerror(e));
		goto out;
	}
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&server_lock);
		server_live++;
		pthread_mutex_unlock(&server_lock);
		if ((e = pthread_create(&ws[i].thread, NULL, worker_main,
		    &ws[i])) != 0) {
			pthread_mutex_lock(&server_lock);
			server_live--;
			pthread_mutex_unlock(&server_lock);
			log_warnx("pthread_create: %s", strerror(e));
			break;
		}
		started++;
	}
	if (started == n) {
		log_info("serving with %zu threads, %u at once",
		    n, places);
		for (;;) {
			ts.tv_sec = 1;
			ts.tv_nsec = 0;
			sig = sigtimedwait(&set, &si, &ts);
			if (sig == SIGTERM || sig == SIGINT) {
				log_info("%s: draining", strsignal(sig));
				rc = 0;
				break;
			}
			if (sig == SIGHUP)
				log_info("SIGHUP: nothing to reload; restart to "
				    "apply a new configuration");
			pthread_mutex_lock(&server_lock);
			live = server_live;
			pthread_mutex_unlock(&server_lock);
			if (live == 0) {
				log_warnx("every worker has exited");
				break;
			}
		}
	}

	/*
	 * Drain: no new connection is accepted, requests being served or
	 * already sent finish and are answered and their connections close,
	 * then the workers leave and the idle kept connections close.
	 */
	atomic_store(&api->stopping, true);
	conns_stop();
	deadline = time(NULL) + 60;
	for (;;) {
		pthread_mutex_lock(&server_lock);
		live = server_live;
		pthread_mutex_unlock(&server_lock);
		if (live == 0 || time(NULL) > deadline)
			break;
		ts.tv_sec = 0;
		ts.tv_nsec = 20 * 1000 * 1000;
		nanosleep(&ts, NULL);
	}
	if (live != 0) {
		log_warnx("%zu workers still busy after 60 s; exiting", live);
		rc = -1;
		/* Their threads still use ws: leave it to process exit. */
		return rc;
	}
	for (i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
out:
	for (i = 0; i < n; i++)
		worker_cleanup(&ws[i]);
	free(ws);
	conns_close();
	return rc;
}
