/*
 * GET /api/metrics: the queue in the Prometheus text exposition format
 * (version 0.0.4), for scraping: tasks by type and status, finishes and
 * failures over the last hour and day, the finished-task counters and the
 * duration histogram per type and outcome, paused types, the age of the
 * oldest pending task, and each runner's slots, load and heartbeat age.
 * Everything comes from the counts, rollups and runner rows the store
 * keeps, so a scrape costs a few index reads, never a scan of the tasks.
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "store.h"
#include "task.h"
#include "tasktype.h"

#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* A label value, escaped as the format wants: \\, \" and \n. */
static void
put_label(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '"')
			buf_puts(b, "\\\"");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

static void
put_help(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Milliseconds as seconds with millisecond precision. */
static void
put_seconds(struct buf *b, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	buf_printf(b, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}

/*
 * The rows of the per-type metrics: every registered type, with zeros when
 * it has no tasks (so that a series exists before its first task), then
 * any other type the database still holds.  *n receives the count; NULL
 * when out of memory.
 */
static const struct type_stats **
type_rows(const struct store_stats *st, struct type_stats *zeros, size_t *n)
{
	const struct type_stats	**rows;
	size_t			  i, j, k = 0;

	if ((rows = calloc(TYPE__MAX + st->ntypes, sizeof(*rows))) == NULL)
		return NULL;
	for (i = 0; i < TYPE__MAX; i++) {
		for (j = 0; j < st->ntypes; j++)
			if (strcmp(st->types[j].task_type, task_types[i].name) == 0)
				break;
		if (j < st->ntypes)
			rows[k++] = &st->types[j];
		else {
			memset(&zeros[i], 0, sizeof(zeros[i]));
			snprintf(zeros[i].task_type, sizeof(zeros[i].task_type),
			    "%s", task_types[i].name);
			rows[k++] = &zeros[i];
		}
	}
	for (j = 0; j < st->ntypes; j++)
		if (tasktype_find(st->types[j].task_type) == NULL)
			rows[k++] = &st->types[j];
	*n = k;
	return rows;
}

static void
put_tasks(struct buf *b, const struct type_stats *const *rows, size_t n)
{
	size_t	 i;
	int	 s;

	put_help(b, "taskq_tasks", "gauge",
	    "Tasks in the database by type and status (exact).");
	for (i = 0; i < n; i++) {
		for (s = 0; s < TASK_STATUS__MAX; s++) {
			buf_puts(b, "taskq_tasks{task_type=");
			put_label(b, rows[i]->task_type);
			buf_printf(b, ",status=\"%s\"} %" PRId64 "\n",
			    task_status_names[s], rows[i]->by_status[s]);
		}
	}
	put_help(b, "taskq_tasks_finished_recent", "gauge",
	    "Tasks finished (SUCCESS or FAILED) in the trailing window.");
	for (i = 0; i < n; i++) {
		buf_puts(b, "taskq_tasks_finished_recent{task_type=");
		put_label(b, rows[i]->task_type);
		buf_printf(b, ",window=\"1h\"} %" PRId64 "\n", rows[i]->finished_1h);
		buf_puts(b, "taskq_tasks_finished_recent{task_type=");
		put_label(b, rows[i]->task_type);
		buf_printf(b, ",window=\"24h\"} %" PRId64 "\n",
		    rows[i]->finished_24h);
	}
	put_help(b, "taskq_tasks_failed_recent", "gauge",
	    "Tasks that ended FAILED in the trailing window.");
	for (i = 0; i < n; i++) {
		buf_puts(b, "taskq_tasks_failed_recent{task_type=");
		put_label(b, rows[i]->task_type);
		buf_printf(b, ",window=\"1h\"} %" PRId64 "\n", rows[i]->failed_1h);
		buf_puts(b, "taskq_tasks_failed_recent{task_type=");
		put_label(b, rows[i]->task_type);
		buf_printf(b, ",window=\"24h\"} %" PRId64 "\n", rows[i]->failed_24h);
	}
	put_help(b, "taskq_task_type_paused", "gauge",
	    "1 when claiming of the type is paused.");
	for (i = 0; i < n; i++) {
		buf_puts(b, "taskq_task_type_paused{task_type=");
		put_label(b, rows[i]->task_type);
		buf_printf(b, "} %d\n", rows[i]->paused ? 1 : 0);
	}
}

/* One label set of the histogram: {task_type="...",outcome="..."}. */
static void
put_hist_labels(struct buf *b, const struct duration_hist *h)
{
	buf_puts(b, "task_type=");
	put_label(b, h->task_type);
	buf_printf(b, ",outcome=\"%s\"", task_status_names[h->outcome]);
}

static void
put_durations(struct buf *b, const struct duration_hist *h, size_t n)
{
	size_t	 i, k;
	int64_t	 cum;

	put_help(b, "taskq_tasks_finished_total", "counter",
	    "Tasks finished by type and outcome since the database was created.");
	for (i = 0; i < n; i++) {
		buf_puts(b, "taskq_tasks_finished_total{");
		put_hist_labels(b, &h[i]);
		buf_printf(b, "} %" PRId64 "\n", h[i].count);
	}
	put_help(b, "taskq_task_duration_seconds", "histogram",
	    "Run time of finished tasks (completed_at - started_at).");
	for (i = 0; i < n; i++) {
		cum = 0;
		for (k = 0; k <= STORE_DURATION_BUCKETS; k++) {
			cum += h[i].n[k];
			buf_puts(b, "taskq_task_duration_seconds_bucket{");
			put_hist_labels(b, &h[i]);
			if (k < STORE_DURATION_BUCKETS) {
				buf_puts(b, ",le=\"");
				put_seconds(b, store_duration_bounds_ms[k]);
				buf_putc(b, '"');
			} else
				buf_puts(b, ",le=\"+Inf\"");
			buf_printf(b, "} %" PRId64 "\n", cum);
		}
		buf_puts(b, "taskq_task_duration_seconds_sum{");
		put_hist_labels(b, &h[i]);
		buf_puts(b, "} ");
		put_seconds(b, h[i].sum_ms);
		buf_puts(b, "\ntaskq_task_duration_seconds_count{");
		put_hist_labels(b, &h[i]);
		buf_printf(b, "} %" PRId64 "\n", h[i].count);
	}
}

static void
put_runners(struct buf *b, const struct runner_info *rs, size_t n, int64_t now)
{
	size_t	 i;

	put_help(b, "taskq_runners", "gauge", "Runners recorded in the database.");
	buf_printf(b, "taskq_runners %zu\n", n);
	put_help(b, "taskq_runner_heartbeat_age_seconds", "gauge",
	    "Time since each runner's last heartbeat.");
	for (i = 0; i < n; i++) {
		buf_puts(b, "taskq_runner_heartbeat_age_seconds{runner=");
		put_label(b, rs[i].id);
		buf_puts(b, ",host=");
		put_label(b, rs[i].host);
		buf_puts(b, "} ");
		put_seconds(b, now - rs[i].last_seen);
		buf_putc(b, '\n');
	}
	put_help(b, "taskq_runner_slots", "gauge",
	    "Tasks each runner may run at once.");
	for (i = 0; i < n; i++) {
		buf_puts(b, "taskq_runner_slots{runner=");
		put_label(b, rs[i].id);
		buf_puts(b, ",host=");
		put_label(b, rs[i].host);
		buf_printf(b, "} %d\n", rs[i].slots);
	}
	put_help(b, "taskq_runner_running", "gauge",
	    "Tasks each runner holds at its last heartbeat.");
	for (i = 0; i < n; i++) {
		buf_puts(b, "taskq_runner_running{runner=");
		put_label(b, rs[i].id);
		buf_puts(b, ",host=");
		put_label(b, rs[i].host);
		buf_printf(b, "} %d\n", rs[i].running);
	}
}

/*
 * GET /api/metrics.  200 text/plain (Prometheus 0.0.4); 503 when the
 * database is busy or unavailable (the scrape fails, which is itself the
 * signal).
 */
void
h_metrics(struct req *r)
{
	struct store_stats	 st;
	struct type_stats	 zeros[TYPE__MAX];
	const struct type_stats	**rows = NULL;
	struct duration_hist	*h = NULL;
	struct runner_info	*rs = NULL;
	struct buf		*b = &r->w->out;
	enum store_err		 err;
	int64_t			 now = time_now_ms();
	size_t			 nh = 0, nr = 0, nrows = 0;

	memset(&st, 0, sizeof(st));
	if ((err = store_stats_get(r->w->store, &st)) != STORE_OK ||
	    (err = store_duration_hist_get(r->w->store, &h, &nh)) != STORE_OK ||
	    (err = store_runner_list(r->w->store, &rs, &nr)) != STORE_OK) {
		resp_store_error(r, err, "reading metrics");
		goto out;
	}
	if ((rows = type_rows(&st, zeros, &nrows)) == NULL) {
		resp_nomem(r);
		goto out;
	}
	put_tasks(b, rows, nrows);
	put_durations(b, h, nh);
	put_help(b, "taskq_oldest_pending_age_seconds", "gauge",
	    "Age of the oldest PENDING task; 0 when none is pending.");
	buf_puts(b, "taskq_oldest_pending_age_seconds ");
	put_seconds(b, st.oldest_pending_ms == 0 ? 0 : now - st.oldest_pending_ms);
	buf_putc(b, '\n');
	put_runners(b, rs, nr, now);
	resp_send(r, 200, METRICS_CONTENT_TYPE);
out:
	free(rows);
	free(rs);
	free(h);
	store_stats_free(&st);
}
