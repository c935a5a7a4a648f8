/*
 * The endpoints about the system rather than one task: the task-type
 * registry with its pause switches, the counters of /api/stats and the
 * liveness report of /api/health.
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "log.h"
#include "store.h"
#include "task.h"
#include "tasktype.h"

static bool
type_paused(struct req *r, const char *name, bool *paused, enum store_err *errp)
{
	enum store_err	 err;

	*paused = false;
	err = store_type_is_paused(r->w->store, name, paused);
	if (err == STORE_NOTFOUND) {
		*paused = false;
		err = STORE_OK;
	}
	*errp = err;
	return err == STORE_OK;
}

static void
put_json_object(struct req *r, struct json_object *o)
{
	const char	*s;

	s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL) {
		resp_nomem(r);
		return;
	}
	buf_puts(&r->w->out, s);
	resp_json(r, 200);
}

/*
 * GET /api/task-types: every registered type with its parameter schema
 * and whether it is paused.  200; 503 busy.
 */
void
h_type_list(struct req *r)
{
	struct json_object	*arr, *t, *name;
	enum store_err		 err = STORE_OK;
	size_t			 i, n;
	bool			 paused;

	if ((arr = tasktype_all_to_json()) == NULL) {
		resp_nomem(r);
		return;
	}
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(arr, i);
		if (!json_object_object_get_ex(t, "name", &name))
			continue;
		if (!type_paused(r, json_object_get_string(name), &paused, &err)) {
			resp_store_error(r, err, "reading task types");
			goto out;
		}
		json_object_object_add(t, "paused", json_object_new_boolean(paused));
	}
	put_json_object(r, arr);
out:
	json_object_put(arr);
}

/*
 * POST /api/task-types/{name}/pause and .../resume.
 * 200 the type with "paused"; 404 unknown type; 503 busy; 507 disk full.
 */
static void
type_set_paused(struct req *r, bool pause)
{
	const struct task_type	*type;
	struct json_object	*o = NULL;
	enum store_err		 err;
	bool			 paused;

	if ((type = tasktype_find(r->arg)) == NULL) {
		resp_error(r, 404, "name", "no task type '%.64s'", r->arg);
		return;
	}
	if ((err = store_type_set_paused(r->w->store, type->name, pause)) !=
	    STORE_OK) {
		resp_store_error(r, err, pause ? "pausing the type" :
		    "resuming the type");
		return;
	}
	if (!type_paused(r, type->name, &paused, &err)) {
		resp_store_error(r, err, "reading the type");
		return;
	}
	if ((o = tasktype_to_json(type)) == NULL) {
		resp_nomem(r);
		return;
	}
	json_object_object_add(o, "paused", json_object_new_boolean(paused));
	put_json_object(r, o);
	json_object_put(o);
}

void
h_type_pause(struct req *r)
{
	type_set_paused(r, true);
}

void
h_type_resume(struct req *r)
{
	type_set_paused(r, false);
}

static void
put_counts(struct buf *b, const int64_t *by_status)
{
	int	 i;

	for (i = 0; i < TASK_STATUS__MAX; i++)
		buf_printf(b, "%s\"%s\": %" PRId64, i > 0 ? ", " : "",
		    task_status_names[i], by_status[i]);
}

/* A failure rate in [0, 1], or null when nothing finished in the window. */
static void
put_rate(struct buf *b, int64_t failed, int64_t finished)
{
	if (finished <= 0)
		buf_puts(b, "null");
	else
		buf_printf(b, "%.4f", (double)failed / (double)finished);
}

static void
put_type_stats(struct buf *b, const char *name, const struct type_stats *ts,
    bool paused)
{
	static const struct type_stats	 zero;

	if (ts == NULL)
		ts = &zero;
	json_put_str(b, name);
	buf_puts(b, ": {");
	put_counts(b, ts->by_status);
	buf_printf(b, ", \"throughput_1h\": %" PRId64 ", \"failure_rate_1h\": ",
	    ts->finished_1h);
	put_rate(b, ts->failed_1h, ts->finished_1h);
	buf_printf(b, ", \"throughput_24h\": %" PRId64 ", \"failure_rate_24h\": ",
	    ts->finished_24h);
	put_rate(b, ts->failed_24h, ts->finished_24h);
	buf_printf(b, ", \"paused\": %s}", paused ? "true" : "false");
}

/* The runners array of /api/stats and /api/health. */
static bool
put_runners(struct req *r, struct buf *b, int64_t now)
{
	struct runner_info	*rs = NULL;
	size_t			 n = 0, i;
	enum store_err		 err;

	if ((err = store_runner_list(r->w->store, &rs, &n)) != STORE_OK) {
		resp_store_error(r, err, "listing runners");
		return false;
	}
	buf_puts(b, "[");
	for (i = 0; i < n; i++) {
		buf_puts(b, i > 0 ? ", {\"id\": " : "{\"id\": ");
		json_put_str(b, rs[i].id);
		buf_puts(b, ", \"host\": ");
		json_put_str(b, rs[i].host);
		buf_printf(b, ", \"pid\": %d, \"version\": ", rs[i].pid);
		json_put_str(b, rs[i].version);
		buf_printf(b, ", \"slots\": %d, \"running\": %d, \"started_at\": ",
		    rs[i].slots, rs[i].running);
		json_put_time(b, rs[i].started_at);
		buf_puts(b, ", \"last_heartbeat\": ");
		json_put_time(b, rs[i].last_seen);
		buf_printf(b, ", \"heartbeat_age_s\": %.3f}",
		    now > rs[i].last_seen ? (double)(now - rs[i].last_seen) / 1000.0 :
		    0.0);
	}
	buf_puts(b, "]");
	free(rs);
	return true;
}

static void
put_oldest(struct buf *b, int64_t oldest_ms, int64_t now)
{
	if (oldest_ms == 0)
		buf_puts(b, "null");
	else
		buf_printf(b, "%" PRId64, now > oldest_ms ?
		    (now - oldest_ms) / 1000 : 0);
}

/*
 * GET /api/stats: exact counts by status and by type (every registered
 * type, even with no tasks), recent throughput and failure rates, runners
 * and the age of the oldest PENDING task.  200; 503 busy.
 */
void
h_stats(struct req *r)
{
	struct store_stats	 st;
	struct buf		*b = &r->w->out;
	enum store_err		 err;
	int64_t			 now = time_now_ms();
	size_t			 i, j;
	bool			 paused, first = true;

	memset(&st, 0, sizeof(st));
	if ((err = store_stats_get(r->w->store, &st)) != STORE_OK) {
		resp_store_error(r, err, "reading statistics");
		return;
	}
	buf_puts(b, "{\"by_status\": {");
	put_counts(b, st.by_status);
	buf_puts(b, "}, \"by_type\": {");
	for (i = 0; i < TYPE__MAX; i++) {
		for (j = 0; j < st.ntypes; j++)
			if (strcmp(st.types[j].task_type, task_types[i].name) == 0)
				break;
		if (j < st.ntypes)
			paused = st.types[j].paused;
		else if (!type_paused(r, task_types[i].name, &paused, &err)) {
			resp_store_error(r, err, "reading statistics");
			goto out;
		}
		if (!first)
			buf_puts(b, ", ");
		first = false;
		put_type_stats(b, task_types[i].name,
		    j < st.ntypes ? &st.types[j] : NULL, paused);
	}
	/* Types no longer registered but still in the database. */
	for (j = 0; j < st.ntypes; j++) {
		if (tasktype_find(st.types[j].task_type) != NULL)
			continue;
		buf_puts(b, ", ");
		put_type_stats(b, st.types[j].task_type, &st.types[j],
		    st.types[j].paused);
	}
	buf_puts(b, "}, \"runners\": ");
	if (!put_runners(r, b, now))
		goto out;
	buf_puts(b, ", \"oldest_pending_age_s\": ");
	put_oldest(b, st.oldest_pending_ms, now);
	buf_putc(b, '}');
	resp_json(r, 200);
out:
	store_stats_free(&st);
}

/*
 * GET /api/health.  200 {"status": "ok", "database": "ok", "runners",
 * "oldest_pending_age_s"}; 503 {"status": "unavailable", "database":
 * "error: ..."} with Retry-After when the database does not answer.
 */
void
h_health(struct req *r)
{
	struct store_stats	 st;
	struct buf		*b = &r->w->out;
	struct buf		 msg = { NULL, 0, 0 };
	enum store_err		 err;
	int64_t			 now = time_now_ms();

	memset(&st, 0, sizeof(st));
	if ((err = store_ping(r->w->store)) != STORE_OK ||
	    (err = store_stats_get(r->w->store, &st)) != STORE_OK) {
		log_warnx("health: database: %s: %s", store_strerror(err),
		    store_errmsg(r->w->store));
		buf_printf(&msg, "error: %s", store_strerror(err));
		buf_puts(b, "{\"status\": \"unavailable\", \"database\": ");
		json_put_str(b, msg.p != NULL ? msg.p : "error");
		buf_puts(b, ", \"detail\": \"database unavailable\"}");
		buf_release(&msg);
		resp_header(r, "Retry-After", "1");
		resp_json(r, 503);
		goto out;
	}
	buf_puts(b, "{\"status\": \"ok\", \"database\": \"ok\", \"runners\": ");
	if (!put_runners(r, b, now))
		goto out;
	buf_puts(b, ", \"oldest_pending_age_s\": ");
	put_oldest(b, st.oldest_pending_ms, now);
	buf_putc(b, '}');
	resp_json(r, 200);
out:
	store_stats_free(&st);
}
