/*
 * The task endpoints: submit, list, get, cancel and retry, one by one and
 * over a filter, and the task object of the contract (API.md) written by
 * hand: the stored parameters and result are already JSON text, so they
 * are copied into the response rather than parsed and printed again.
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../lib/config.h"
#include "api.h"
#include "log.h"
#include "store.h"
#include "task.h"
#include "tasktype.h"

#define LIST_LIMIT_DEFAULT	50
#define LIST_LIMIT_MAX		500
#define Q_MAX_CHARS		256	/* longest full-text query */
#define FILTER_TYPES_MAX	32	/* task_type values in one filter */
#define IDEMPOTENCY_KEY_MAX	128

/* A filter being built from a query string or a JSON body. */
struct filter_in {
	struct task_filter	 f;
	const char		*types[FILTER_TYPES_MAX];
};

/* Appends stored JSON text, or fallback if the text is not an object. */
static void
put_raw_object(struct buf *b, const char *json, const char *fallback)
{
	const char	*p = json;

	if (p != NULL)
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
	if (p == NULL || *p != '{') {
		buf_puts(b, fallback);
		return;
	}
	buf_puts(b, p);
}

/* The contract's task object, plus the fields API.md allows adding. */
void
task_to_json(struct buf *b, const struct task *t)
{
	buf_puts(b, "{\"id\": \"");
	buf_puts(b, t->id);
	buf_puts(b, "\", \"task_type\": ");
	json_put_str(b, t->task_type != NULL ? t->task_type : "");
	buf_puts(b, ", \"status\": \"");
	buf_puts(b, (unsigned)t->status < TASK_STATUS__MAX ?
	    task_status_names[t->status] : "PENDING");
	buf_puts(b, "\", \"progress\": ");
	buf_put_int(b, t->status == TASK_SUCCESS ? 100 : t->progress);
	buf_puts(b, ", \"parameters\": ");
	put_raw_object(b, t->parameters, "{}");
	buf_puts(b, ", \"result_data\": ");
	put_raw_object(b, t->status == TASK_SUCCESS ? t->result_data : NULL,
	    "null");
	/* The contract: a string on FAILED, else null (a task re-queued
	 * after a temporary failure keeps its last error only internally). */
	buf_puts(b, ", \"error_message\": ");
	json_put_str(b, t->status == TASK_FAILED ? t->error_message : NULL);
	buf_puts(b, ", \"created_at\": ");
	json_put_time(b, t->created_at);
	buf_puts(b, ", \"started_at\": ");
	json_put_time(b, t->started_at);
	buf_puts(b, ", \"completed_at\": ");
	json_put_time(b, t->completed_at);
	buf_puts(b, ", \"retry_of\": ");
	if (t->retry_of[0] != '\0') {
		buf_putc(b, '"');
		buf_puts(b, t->retry_of);
		buf_putc(b, '"');
	} else
		buf_puts(b, "null");
	buf_puts(b, ", \"attempt\": ");
	buf_put_int(b, t->attempt);
	buf_puts(b, ", \"max_attempts\": ");
	buf_put_int(b, t->max_attempts);
	buf_puts(b, ", \"priority\": ");
	buf_put_int(b, t->priority);
	buf_puts(b, ", \"timeout_s\": ");
	buf_put_int(b, t->timeout_s);
	buf_puts(b, ", \"run_at\": ");
	json_put_time(b, t->run_at != 0 ? t->run_at : t->created_at);
	buf_puts(b, ", \"updated_at\": ");
	json_put_time(b, t->updated_at != 0 ? t->updated_at : t->created_at);
	buf_puts(b, ", \"worker_output\": ");
	json_put_str(b, t->worker_output);
	buf_putc(b, '}');
}

/*
 * Cursors: the store's keyset position (a sequence number) as 16 hex
 * digits and an 8-digit check, so a mangled cursor is a 422 and not a
 * silently wrong page.  The check is a fixed mix, not a secret: a forged
 * cursor only reaches tasks the client may list anyway.
 */
static uint32_t
cursor_check(int64_t seq)
{
	uint64_t	 z = (uint64_t)seq + UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (uint32_t)(z >> 32);
}

void
cursor_encode(int64_t seq, char out[25])
{
	snprintf(out, 25, "%016" PRIx64 "%08" PRIx32, (uint64_t)seq,
	    cursor_check(seq));
}

bool
cursor_decode(const char *s, int64_t *seq)
{
	uint64_t	 v = 0;
	uint32_t	 c = 0;
	size_t		 i;
	int		 d;

	if (strlen(s) != 24)
		return false;
	for (i = 0; i < 24; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return false;
		if (i < 16)
			v = v << 4 | (uint64_t)d;
		else
			c = c << 4 | (uint32_t)d;
	}
	if (v == 0 || v > INT64_MAX || cursor_check((int64_t)v) != c)
		return false;
	*seq = (int64_t)v;
	return true;
}

/*
 * Adds the comma-separated task types in s to fi.  Each must be a
 * registered type; the filter keeps the registry's own name, so s need
 * not outlive it and is not modified.
 */
static bool
type_list_parse(const char *s, struct filter_in *fi, char *bad, size_t badlen)
{
	const struct task_type	*t;
	const char		*p = s, *e;
	char			 one[64];
	size_t			 n;

	for (;;) {
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		t = NULL;
		if (n > 0 && n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			t = tasktype_find(one);
		}
		if (t == NULL || fi->f.ntypes >= FILTER_TYPES_MAX) {
			snprintf(bad, badlen, "%.*s", (int)(n > 64 ? 64 : n), p);
			return false;
		}
		fi->types[fi->f.ntypes++] = t->name;
		if (e == NULL)
			return true;
		p = e + 1;
	}
}

/* Counts UTF-8 characters (s is valid UTF-8). */
static size_t
utf8_chars(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static bool
q_valid(struct req *r, const char *q, const char *field)
{
	if (utf8_chars(q) > Q_MAX_CHARS) {
		resp_error(r, 422, field, "%s is longer than %d characters",
		    field, Q_MAX_CHARS);
		return false;
	}
	return true;
}

/*
 * GET /api/tasks/{id}.
 * 200 the task; 404 unknown; 422 malformed id; 503 busy.
 */
void
h_task_get(struct req *r)
{
	struct task	*t = NULL;
	char		 id[TASK_ID_LEN + 1];
	enum store_err	 err;

	if (!task_id_normalize(r->arg, id)) {
		resp_error(r, 422, "id", "'%.64s' is not a task id (a UUID)", r->arg);
		return;
	}
	if ((err = store_task_get(r->w->store, id, &t)) != STORE_OK) {
		if (err == STORE_NOTFOUND)
			resp_error(r, 404, "id", "no task %s", id);
		else
			resp_store_error(r, err, "reading the task");
		return;
	}
	task_to_json(&r->w->out, t);
	task_free(t);
	resp_json(r, 200);
}

/* A 409 that names the task's current status. */
static void
conflict(struct req *r, const char *id, const char *action, const char *allowed)
{
	struct task	*t = NULL;

	if (store_task_get(r->w->store, id, &t) == STORE_OK &&
	    (unsigned)t->status < TASK_STATUS__MAX)
		resp_error(r, 409, "status", "task %s is %s; only %s tasks can "
		    "be %s", id, task_status_names[t->status], allowed, action);
	else
		resp_error(r, 409, "status", "task %s: only %s tasks can be %s",
		    id, allowed, action);
	task_free(t);
}

/* One task's state change, as DELETE /api/tasks/{id} and .../retry do it. */
struct task_action {
	enum store_err	 (*fn)(struct store *, const char *, struct task **);
	const char	*done;		/* "cancelled", for the 409 */
	const char	*allowed;	/* the statuses it applies to */
	const char	*doing;		/* "cancelling the task", for a 5xx */
	int		 status;	/* of the answer with the task */
};

static void
task_action(struct req *r, const struct task_action *a)
{
	struct task	*t = NULL;
	char		 id[TASK_ID_LEN + 1];
	enum store_err	 err;

	if (!task_id_normalize(r->arg, id)) {
		resp_error(r, 422, "id", "'%.64s' is not a task id (a UUID)", r->arg);
		return;
	}
	err = a->fn(r->w->store, id, &t);
	if (err == STORE_NOTFOUND)
		resp_error(r, 404, "id", "no task %s", id);
	else if (err == STORE_CONFLICT)
		conflict(r, id, a->done, a->allowed);
	else if (err != STORE_OK)
		resp_store_error(r, err, a->doing);
	else {
		if (a->status == 201)
			resp_header(r, "Location", "/api/tasks/%s", t->id);
		task_to_json(&r->w->out, t);
		resp_json(r, a->status);
	}
	task_free(t);
}

/*
 * DELETE /api/tasks/{id}: cancel.
 * 200 the task, now CANCELLED; 404 unknown; 409 already finished;
 * 422 malformed id; 503 busy; 507 disk full.
 */
void
h_task_cancel(struct req *r)
{
	static const struct task_action	 cancel = { store_task_cancel,
	    "cancelled", "PENDING or RUNNING", "cancelling the task", 200 };

	task_action(r, &cancel);
}

/*
 * POST /api/tasks/{id}/retry.
 * 201 the new task (Location); 404 unknown; 409 unless FAILED or CANCELLED;
 * 422 malformed id; 503 busy; 507 disk full.
 */
void
h_task_retry(struct req *r)
{
	static const struct task_action	 retry = { store_task_retry,
	    "retried", "FAILED or CANCELLED", "retrying the task", 201 };

	task_action(r, &retry);
}

/* An integer member of the submit body within [min, max], else a 422. */
static bool
body_int(struct req *r, struct json_object *v, const char *name, int min,
    int max, int *out)
{
	int64_t	 i;

	if (!json_object_is_type(v, json_type_int)) {
		resp_error(r, 422, name, "%s must be an integer from %d to %d",
		    name, min, max);
		return false;
	}
	i = json_object_get_int64(v);
	if (i < min || i > max) {
		resp_error(r, 422, name, "%s must be from %d to %d", name, min,
		    max);
		return false;
	}
	*out = (int)i;
	return true;
}

/* Whether the Idempotency-Key header, if any, is 1..128 printable ASCII. */
static bool
idempotency_key(struct req *r, const char **key)
{
	const char	*k;
	size_t		 i;

	*key = NULL;
	if ((k = req_param(r, "HTTP_IDEMPOTENCY_KEY")) == NULL)
		return true;
	for (i = 0; k[i] != '\0'; i++)
		if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e ||
		    i >= IDEMPOTENCY_KEY_MAX)
			break;
	if (i == 0 || k[i] != '\0') {
		resp_error(r, 422, "Idempotency-Key", "the Idempotency-Key header "
		    "must be 1 to %d printable ASCII characters",
		    IDEMPOTENCY_KEY_MAX);
		return false;
	}
	*key = k;
	return true;
}

/*
 * POST /api/tasks/submit.
 * 201 the new task (Location); 200 the first task for a repeated
 * Idempotency-Key; 400 malformed body; 413 too large; 415 not JSON;
 * 422 unknown field, unknown type, invalid parameter or option, bad
 * Idempotency-Key; 503 busy; 507 disk full.
 */
void
h_task_submit(struct req *r)
{
	struct json_object	*body = NULL, *params = NULL, *norm = NULL;
	const struct task_type	*type = NULL;
	struct task_new		 tn;
	struct task		*t = NULL;
	char			 field[160], detail[512];
	bool			 existed = false;
	enum store_err		 err;
	const char		*key, *s;

	memset(&tn, 0, sizeof(tn));
	if (!idempotency_key(r, &tn.idempotency_key))
		return;
	if (req_json_body(r, &body) == -1)
		return;
	tn.priority = 0;
	tn.run_at = 0;
	tn.max_attempts = -1;
	tn.timeout_s = -1;

	json_object_object_foreach(body, k, v) {
		key = k;
		if (strcmp(key, "task_type") == 0) {
			if (!json_object_is_type(v, json_type_string)) {
				resp_error(r, 422, "task_type", "task_type must be "
				    "a string");
				goto out;
			}
			s = json_object_get_string(v);
			if ((type = tasktype_find(s)) == NULL) {
				resp_error(r, 422, "task_type", "unknown task type "
				    "'%.64s'", s);
				goto out;
			}
		} else if (strcmp(key, "parameters") == 0) {
			if (json_object_is_type(v, json_type_null))
				continue;
			if (!json_object_is_type(v, json_type_object)) {
				resp_error(r, 422, "parameters", "parameters must "
				    "be an object");
				goto out;
			}
			params = v;
		} else if (strcmp(key, "priority") == 0) {
			if (v != NULL &&
			    !body_int(r, v, "priority", -100, 100, &tn.priority))
				goto out;
		} else if (strcmp(key, "max_attempts") == 0) {
			if (v != NULL &&
			    !body_int(r, v, "max_attempts", 1, 25, &tn.max_attempts))
				goto out;
		} else if (strcmp(key, "timeout_s") == 0) {
			if (v != NULL &&
			    !body_int(r, v, "timeout_s", 1, 86400, &tn.timeout_s))
				goto out;
		} else if (strcmp(key, "run_at") == 0) {
			if (v == NULL)
				continue;
			if (!json_object_is_type(v, json_type_string) ||
			    !time_parse_rfc3339(json_object_get_string(v),
			    &tn.run_at)) {
				resp_error(r, 422, "run_at", "run_at must be an "
				    "RFC 3339 time, e.g. 2026-11-29T02:10:00Z");
				goto out;
			}
		} else {
			resp_error(r, 422, key, "unknown field '%.64s'", key);
			goto out;
		}
	}
	if (type == NULL) {
		resp_error(r, 422, "task_type", "task_type is required");
		goto out;
	}
	field[0] = detail[0] = '\0';
	if (!tasktype_validate(type, params, &norm, field, sizeof(field),
	    detail, sizeof(detail))) {
		if (field[0] == '\0')
			resp_nomem(r);
		else
			resp_error(r, 422, field, "%s", detail);
		goto out;
	}
	tn.task_type = type->name;
	tn.parameters = json_object_to_json_string_ext(norm,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (tn.parameters == NULL) {
		resp_nomem(r);
		goto out;
	}
	if (tn.max_attempts < 0)
		tn.max_attempts = type->default_max_attempts;
	if (tn.timeout_s < 0)
		tn.timeout_s = type->default_timeout_s;

	/* (Reading the body gave up this worker's serving place: the commit
	 * waits for fsync while another worker serves.) */
	err = batcher_submit(r->api->batch, &tn, &t, &existed);
	if (err != STORE_OK) {
		resp_store_error(r, err, "storing the task");
		goto out;
	}
	resp_header(r, "Location", "/api/tasks/%s", t->id);
	task_to_json(&r->w->out, t);
	resp_json(r, existed ? 200 : 201);
out:
	task_free(t);
	json_object_put(norm);
	json_object_put(body);
}

/* A page of tasks being written into the response's "tasks" array. */
struct list_out {
	struct buf	*b;
	size_t		 n;
};

static void
list_put_task(const struct task *t, void *arg)
{
	struct list_out	*lo = arg;

	if (lo->n++ > 0)
		buf_puts(lo->b, ", ");
	task_to_json(lo->b, t);
}

/*
 * GET /api/tasks and /api/tasks/: newest first, keyset-paged.
 * 200 {"tasks", "next_cursor"}; 422 bad status, task_type, limit, cursor,
 * q, or an unknown or repeated parameter; 503 busy.
 */
void
h_task_list(struct req *r)
{
	struct qparam	 qp[] = {
		{ "status", NULL }, { "task_type", NULL }, { "limit", NULL },
		{ "cursor", NULL }, { "q", NULL },
	};
	struct filter_in fi;
	struct buf	*b = &r->w->out;
	struct list_out	 lo = { b, 0 };
	char		 bad[80], cur[25];
	int64_t		 cursor = 0, next = 0;
	size_t		 limit = LIST_LIMIT_DEFAULT, i;
	enum store_err	 err;
	const char	*s;

	memset(&fi, 0, sizeof(fi));
	fi.f.types = fi.types;
	if (req_query(r, qp, sizeof(qp) / sizeof(qp[0])) == -1)
		return;
	if (qp[0].value != NULL &&
	    !task_status_list_parse(qp[0].value, &fi.f.status_mask, bad, sizeof(bad))) {
		resp_error(r, 422, "status", "unknown status '%s' (one of PENDING, "
		    "RUNNING, SUCCESS, FAILED, CANCELLED)", bad);
		return;
	}
	if (qp[1].value != NULL &&
	    !type_list_parse(qp[1].value, &fi, bad, sizeof(bad))) {
		resp_error(r, 422, "task_type", "unknown task type '%s'", bad);
		return;
	}
	if ((s = qp[2].value) != NULL) {
		limit = 0;
		for (i = 0; s[i] >= '0' && s[i] <= '9' && limit <= LIST_LIMIT_MAX; i++)
			limit = limit * 10 + (size_t)(s[i] - '0');
		if (i == 0 || s[i] != '\0' || limit < 1 || limit > LIST_LIMIT_MAX) {
			resp_error(r, 422, "limit", "limit must be an integer from "
			    "1 to %d", LIST_LIMIT_MAX);
			return;
		}
	}
	if (qp[3].value != NULL && qp[3].value[0] != '\0' &&
	    !cursor_decode(qp[3].value, &cursor)) {
		resp_error(r, 422, "cursor", "malformed cursor: pass back the "
		    "next_cursor of the previous page");
		return;
	}
	if (qp[4].value != NULL && qp[4].value[0] != '\0') {
		if (!q_valid(r, qp[4].value, "q"))
			return;
		fi.f.q = qp[4].value;
	}

	/* The tasks are written as the store reads them, none copied. */
	buf_puts(b, "{\"tasks\": [");
	err = store_task_list_each(r->w->store, &fi.f, cursor, limit,
	    list_put_task, &lo, &next);
	if (err == STORE_INVALID && fi.f.q != NULL) {
		resp_error(r, 422, "q", "q is not a valid search");
		return;
	}
	if (err != STORE_OK) {
		resp_store_error(r, err, "listing tasks");
		return;
	}
	buf_puts(b, "], \"next_cursor\": ");
	if (next != 0) {
		cursor_encode(next, cur);
		buf_putc(b, '"');
		buf_puts(b, cur);
		buf_putc(b, '"');
	} else
		buf_puts(b, "null");
	buf_putc(b, '}');
	resp_json(r, 200);
}

/*
 * A filter member of a bulk body: a comma-separated string, as in the
 * query string, or an array of such strings.
 */
static bool
filter_member(struct req *r, struct json_object *v, const char *name,
    struct filter_in *fi)
{
	struct json_object	*e;
	char			 bad[80];
	size_t			 i, n;
	bool			 ok, is_array;

	is_array = json_object_is_type(v, json_type_array);
	if (!json_object_is_type(v, json_type_string) &&
	    !(is_array && json_object_array_length(v) > 0)) {
		resp_error(r, 422, name, "%s must be a string (values separated "
		    "by commas) or a non-empty array of strings", name);
		return false;
	}
	n = is_array ? json_object_array_length(v) : 1;
	for (i = 0; i < n; i++) {
		e = is_array ? json_object_array_get_idx(v, i) : v;
		if (!json_object_is_type(e, json_type_string)) {
			resp_error(r, 422, name, "%s must hold strings", name);
			return false;
		}
		if (strcmp(name, "status") == 0)
			ok = task_status_list_parse(json_object_get_string(e),
			    &fi->f.status_mask, bad, sizeof(bad));
		else
			ok = type_list_parse(json_object_get_string(e), fi, bad,
			    sizeof(bad));
		if (!ok) {
			resp_error(r, 422, name, "unknown %s '%s'",
			    strcmp(name, "status") == 0 ? "status" : "task type",
			    bad);
			return false;
		}
	}
	return true;
}

/*
 * The filter body of the bulk routes: {"status", "task_type", "q"}, each
 * optional.  Returns the parsed body (caller puts it: the filter points
 * into it) or NULL after answering.
 */
static struct json_object *
bulk_filter(struct req *r, struct filter_in *fi)
{
	struct json_object	*body = NULL;

	memset(fi, 0, sizeof(*fi));
	fi->f.types = fi->types;
	if (req_json_body(r, &body) == -1)
		return NULL;
	json_object_object_foreach(body, k, v) {
		if (strcmp(k, "status") == 0 || strcmp(k, "task_type") == 0) {
			if (v != NULL && !filter_member(r, v, k, fi))
				goto fail;
		} else if (strcmp(k, "q") == 0) {
			if (v == NULL)
				continue;
			if (!json_object_is_type(v, json_type_string)) {
				resp_error(r, 422, "q", "q must be a string");
				goto fail;
			}
			if (!q_valid(r, json_object_get_string(v), "q"))
				goto fail;
			if (json_object_get_string_len(v) > 0)
				fi->f.q = json_object_get_string(v);
		} else {
			resp_error(r, 422, k, "unknown field '%.64s'", k);
			goto fail;
		}
	}
	return body;
fail:
	json_object_put(body);
	return NULL;
}

static void
bulk(struct req *r, bool cancel)
{
	struct json_object	*body;
	struct filter_in	 fi;
	int64_t			 count = 0;
	enum store_err		 err;

	if ((body = bulk_filter(r, &fi)) == NULL)
		return;
	if (cancel)
		err = store_task_cancel_matching(r->w->store, &fi.f, &count);
	else
		err = store_task_retry_matching(r->w->store, &fi.f, &count);
	if (err == STORE_INVALID && fi.f.q != NULL)
		resp_error(r, 422, "q", "q is not a valid search");
	else if (err != STORE_OK)
		resp_store_error(r, err, cancel ? "cancelling tasks" :
		    "retrying tasks");
	else {
		buf_printf(&r->w->out, "{\"%s\": %" PRId64 "}",
		    cancel ? "cancelled" : "retried", count);
		resp_json(r, 200);
	}
	json_object_put(body);
}

/*
 * POST /api/tasks/cancel: cancels the PENDING and RUNNING tasks matching
 * the filter body.  200 {"cancelled": n}; 400, 413, 415 body; 422 filter;
 * 503 busy; 507 disk full.
 */
void
h_task_cancel_matching(struct req *r)
{
	bulk(r, true);
}

/*
 * POST /api/tasks/retry: retries the FAILED and CANCELLED tasks matching
 * the filter body (each once).  200 {"retried": n}; 400, 413, 415 body;
 * 422 filter; 503 busy; 507 disk full.
 */
void
h_task_retry_matching(struct req *r)
{
	bulk(r, false);
}
