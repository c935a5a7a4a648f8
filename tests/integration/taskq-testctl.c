/*
 * taskq-testctl: a small driver of the store for the runner's integration
 * tests and benchmark, so that they do not depend on taskq-api.  Not
 * installed.
 *
 *   taskq-testctl DB submit-echo N [delay_ms [message [timeout_s [max_attempts]]]]
 *   taskq-testctl DB submit TYPE PARAMS_JSON [timeout_s [max_attempts]]
 *   taskq-testctl DB get ID | cancel ID
 *   taskq-testctl DB statuses | counts | runners
 *   taskq-testctl DB wait-all TIMEOUT_S
 *   taskq-testctl DB wait ID TIMEOUT_S
 *
 * and, for bench/runner.sh:
 *   taskq-testctl DB raw N            the bare store cost of N task lives:
 *                                     submit, claim (max 1), finish (n = 1)
 *   taskq-testctl DB latency N        submit one echo task, wait for it, N
 *                                     times: started_at - created_at
 *   taskq-testctl DB submit-loop S    submit one task at a time for S seconds:
 *                                     how long each submit took, and the
 *                                     longest wait for the write lock
 *
 * Ids of submitted tasks are printed one per line; everything else as JSON.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "store.h"
#include "task.h"

#define BATCH	500

static struct store *st;

static void __attribute__((noreturn))
die(const char *what, enum store_err e)
{
	fprintf(stderr, "taskq-testctl: %s: %s: %s\n", what, store_strerror(e),
	    st != NULL ? store_errmsg(st) : "");
	exit(1);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: taskq-testctl DB command [args]\n");
	exit(2);
}

static void
sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static struct json_object *
task_json(const struct task *t)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "task_type", json_object_new_string(t->task_type));
	json_object_object_add(o, "status",
	    json_object_new_string(task_status_names[t->status]));
	json_object_object_add(o, "progress", json_object_new_int(t->progress));
	json_object_object_add(o, "attempt", json_object_new_int(t->attempt));
	json_object_object_add(o, "max_attempts", json_object_new_int(t->max_attempts));
	json_object_object_add(o, "result_data", t->result_data ?
	    json_tokener_parse(t->result_data) : NULL);
	json_object_object_add(o, "error_message", t->error_message ?
	    json_object_new_string(t->error_message) : NULL);
	json_object_object_add(o, "worker_output", t->worker_output ?
	    json_object_new_string(t->worker_output) : NULL);
	json_object_object_add(o, "created_at", json_object_new_int64(t->created_at));
	json_object_object_add(o, "started_at", json_object_new_int64(t->started_at));
	json_object_object_add(o, "completed_at", json_object_new_int64(t->completed_at));
	json_object_object_add(o, "claim_owner", t->claim_owner ?
	    json_object_new_string(t->claim_owner) : NULL);
	return o;
}

static void
print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void
submit(const char *type, const char *params, int n, int timeout_s, int max_attempts)
{
	struct task_new	*tn;
	struct task	**outs;
	bool		*existed;
	enum store_err	*errs, e;
	int		 done = 0, k, i;

	tn = calloc(BATCH, sizeof(*tn));
	outs = calloc(BATCH, sizeof(*outs));
	existed = calloc(BATCH, sizeof(*existed));
	errs = calloc(BATCH, sizeof(*errs));
	if (tn == NULL || outs == NULL || existed == NULL || errs == NULL)
		exit(1);
	while (done < n) {
		k = n - done < BATCH ? n - done : BATCH;
		for (i = 0; i < k; i++) {
			memset(&tn[i], 0, sizeof(tn[i]));
			tn[i].task_type = type;
			tn[i].parameters = params;
			tn[i].max_attempts = max_attempts;
			tn[i].timeout_s = timeout_s;
		}
		if ((e = store_task_submit_many(st, tn, (size_t)k, outs, existed,
		    errs)) != STORE_OK)
			die("submit", e);
		for (i = 0; i < k; i++) {
			if (errs[i] != STORE_OK)
				die("submit item", errs[i]);
			puts(outs[i]->id);
			task_free(outs[i]);
		}
		done += k;
	}
	free(tn);
	free(outs);
	free(existed);
	free(errs);
}

static void
statuses(void)
{
	struct json_object	*o = json_object_new_object();
	struct task_filter	 f;
	struct task_list	 l;
	int64_t			 cursor = 0;
	enum store_err		 e;
	size_t			 i;

	memset(&f, 0, sizeof(f));
	do {
		if ((e = store_task_list(st, &f, cursor, 500, &l)) != STORE_OK)
			die("list", e);
		for (i = 0; i < l.n; i++)
			json_object_object_add(o, l.tasks[i]->id, task_json(l.tasks[i]));
		cursor = l.next_cursor;
		store_task_list_free(&l);
	} while (cursor != 0);
	print_json(o);
}

static int
active(void)
{
	struct store_stats	 ss;
	enum store_err		 e;
	int64_t			 n;

	if ((e = store_stats_get(st, &ss)) != STORE_OK)
		die("stats", e);
	n = ss.by_status[TASK_PENDING] + ss.by_status[TASK_RUNNING];
	store_stats_free(&ss);
	return n > 0;
}

static int64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of n sorted values. */
static int64_t
pct(const int64_t *v, size_t n, int p)
{
	size_t	 i;

	if (n == 0)
		return 0;
	i = (n * (size_t)p + 99) / 100;
	return v[i == 0 ? 0 : i - 1];
}

static void
print_dist(struct json_object *o, const char *prefix, int64_t *v, size_t n,
    double scale)
{
	char	 key[64];

	qsort(v, n, sizeof(*v), cmp64);
	snprintf(key, sizeof(key), "%s_p50", prefix);
	json_object_object_add(o, key, json_object_new_double(pct(v, n, 50) / scale));
	snprintf(key, sizeof(key), "%s_p90", prefix);
	json_object_object_add(o, key, json_object_new_double(pct(v, n, 90) / scale));
	snprintf(key, sizeof(key), "%s_p99", prefix);
	json_object_object_add(o, key, json_object_new_double(pct(v, n, 99) / scale));
	snprintf(key, sizeof(key), "%s_max", prefix);
	json_object_object_add(o, key, json_object_new_double(
	    n ? v[n - 1] / scale : 0));
}

static const struct task_new bench_task = {
	.task_type = "echo",
	.parameters = "{\"message\":\"bench\",\"delay_ms\":0}",
	.max_attempts = 3,
	.timeout_s = 300,
};

/* The store's own cost of one task's life, n = 1 per call, same durability. */
static void
bench_raw(int n)
{
	struct runner_info	 ri;
	struct task_finish	 f;
	struct task		*t, **ts;
	struct json_object	*o;
	enum store_err		 e, fe;
	bool			 existed;
	size_t			 nt;
	int64_t			 t0, dt;
	int			 i;

	memset(&ri, 0, sizeof(ri));
	snprintf(ri.id, sizeof(ri.id), "bench-raw-%d", (int)getpid());
	snprintf(ri.host, sizeof(ri.host), "bench");
	ri.pid = (int)getpid();
	if ((e = store_runner_beat(st, &ri)) != STORE_OK)
		die("beat", e);
	t0 = mono_us();
	for (i = 0; i < n; i++) {
		if ((e = store_task_submit(st, &bench_task, &t, &existed)) != STORE_OK)
			die("submit", e);
		task_free(t);
		if ((e = store_task_claim(st, ri.id, 1, &ts, &nt)) != STORE_OK)
			die("claim", e);
		if (nt != 1)
			die("claim: nothing", STORE_NOTFOUND);
		memset(&f, 0, sizeof(f));
		f.id = ts[0]->id;
		f.claim_token = ts[0]->claim_token;
		f.outcome = OUTCOME_SUCCESS;
		f.result_data = "{\"message\":\"bench\",\"elapsed_ms\":0}";
		if ((e = store_task_finish_many(st, &f, 1, &fe)) != STORE_OK ||
		    (e = fe) != STORE_OK)
			die("finish", e);
		task_free(ts[0]);
		free(ts);
	}
	dt = mono_us() - t0;
	(void)store_runner_remove(st, ri.id);
	o = json_object_new_object();
	json_object_object_add(o, "tasks", json_object_new_int(n));
	json_object_object_add(o, "seconds", json_object_new_double(dt / 1e6));
	json_object_object_add(o, "per_s", json_object_new_double(n / (dt / 1e6)));
	print_json(o);
}

/* Dispatch latency on an idle runner: one task at a time. */
static void
bench_latency(int n)
{
	struct json_object	*o;
	struct task		*t, *g;
	enum store_err		 e;
	bool			 existed;
	int64_t			*lat, deadline;
	int			 i;

	if ((lat = calloc((size_t)n, sizeof(*lat))) == NULL)
		exit(1);
	for (i = 0; i < n; i++) {
		sleep_ms(20);	/* let the runner go idle */
		if ((e = store_task_submit(st, &bench_task, &t, &existed)) != STORE_OK)
			die("submit", e);
		deadline = mono_us() + 30 * 1000000;
		for (;;) {
			if ((e = store_task_get(st, t->id, &g)) != STORE_OK)
				die("get", e);
			if (g->status != TASK_PENDING && g->status != TASK_RUNNING)
				break;
			task_free(g);
			if (mono_us() > deadline)
				die("latency: task not done in 30 s", STORE_BUSY);
			sleep_ms(2);
		}
		lat[i] = g->started_at - t->created_at;
		task_free(g);
		task_free(t);
	}
	o = json_object_new_object();
	json_object_object_add(o, "tasks", json_object_new_int(n));
	print_dist(o, "dispatch_ms", lat, (size_t)n, 1.0);
	print_json(o);
	free(lat);
}

/* Submits one at a time for secs seconds, timing each call. */
static void
bench_submit_loop(int secs)
{
	struct json_object	*o;
	struct task		*t;
	enum store_err		 e;
	bool			 existed;
	int64_t			*d = NULL, *nd, t0, t1, end;
	size_t			 n = 0, cap = 0;

	end = mono_us() + (int64_t)secs * 1000000;
	while ((t0 = mono_us()) < end) {
		if ((e = store_task_submit(st, &bench_task, &t, &existed)) != STORE_OK)
			die("submit", e);
		t1 = mono_us();
		task_free(t);
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((nd = realloc(d, cap * sizeof(*d))) == NULL)
				exit(1);
			d = nd;
		}
		d[n++] = t1 - t0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "submits", json_object_new_int64((int64_t)n));
	json_object_object_add(o, "per_s", json_object_new_double((double)n / secs));
	print_dist(o, "submit_ms", d, n, 1000.0);
	/* The write-lock wait alone, without the commit's fsync. */
	json_object_object_add(o, "lock_wait_worst_ms", json_object_new_double(
	    (double)store_lock_wait_worst(st) / 1000.0));
	print_json(o);
	free(d);
}

int
main(int argc, char *argv[])
{
	struct store_stats	 ss;
	struct runner_info	*ri;
	struct json_object	*o;
	struct task		*t;
	enum store_err		 e;
	char			 err[512];
	const char		*cmd;
	time_t			 deadline;
	size_t			 n, i;

	if (argc < 3)
		usage();
	/* submit-loop stands for taskq-api, which runs the checkpointer. */
	if ((e = store_open(argv[1], strcmp(argv[2], "submit-loop") == 0 ?
	    STORE_OPEN_CHECKPOINTER : 0, 10000, &st, err, sizeof(err))) !=
	    STORE_OK) {
		fprintf(stderr, "taskq-testctl: %s\n", err);
		return 1;
	}
	cmd = argv[2];
	if (strcmp(cmd, "submit-echo") == 0 && argc >= 4) {
		char	*params = NULL;
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "message", json_object_new_string(
		    argc > 5 ? argv[5] : "hello"));
		json_object_object_add(p, "delay_ms", json_object_new_int(
		    argc > 4 ? atoi(argv[4]) : 0));
		params = strdup(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
		json_object_put(p);
		submit("echo", params, atoi(argv[3]), argc > 6 ? atoi(argv[6]) : 300,
		    argc > 7 ? atoi(argv[7]) : 3);
		free(params);
	} else if (strcmp(cmd, "submit") == 0 && argc >= 5) {
		submit(argv[3], argv[4], 1, argc > 5 ? atoi(argv[5]) : 300,
		    argc > 6 ? atoi(argv[6]) : 3);
	} else if (strcmp(cmd, "get") == 0 && argc == 4) {
		if ((e = store_task_get(st, argv[3], &t)) != STORE_OK)
			die("get", e);
		print_json(task_json(t));
		task_free(t);
	} else if (strcmp(cmd, "cancel") == 0 && argc == 4) {
		if ((e = store_task_cancel(st, argv[3], &t)) != STORE_OK)
			die("cancel", e);
		print_json(task_json(t));
		task_free(t);
	} else if (strcmp(cmd, "statuses") == 0) {
		statuses();
	} else if (strcmp(cmd, "counts") == 0) {
		if ((e = store_stats_get(st, &ss)) != STORE_OK)
			die("stats", e);
		o = json_object_new_object();
		for (i = 0; i < TASK_STATUS__MAX; i++)
			json_object_object_add(o, task_status_names[i],
			    json_object_new_int64(ss.by_status[i]));
		store_stats_free(&ss);
		print_json(o);
	} else if (strcmp(cmd, "runners") == 0) {
		if ((e = store_runner_list(st, &ri, &n)) != STORE_OK)
			die("runners", e);
		o = json_object_new_array();
		for (i = 0; i < n; i++) {
			struct json_object *r = json_object_new_object();

			json_object_object_add(r, "id", json_object_new_string(ri[i].id));
			json_object_object_add(r, "host", json_object_new_string(ri[i].host));
			json_object_object_add(r, "pid", json_object_new_int(ri[i].pid));
			json_object_object_add(r, "slots", json_object_new_int(ri[i].slots));
			json_object_object_add(r, "running", json_object_new_int(ri[i].running));
			json_object_object_add(r, "last_seen", json_object_new_int64(ri[i].last_seen));
			json_object_array_add(o, r);
		}
		free(ri);
		print_json(o);
	} else if (strcmp(cmd, "wait-all") == 0 && argc == 4) {
		deadline = time(NULL) + atoi(argv[3]);
		while (active()) {
			if (time(NULL) > deadline) {
				fprintf(stderr, "taskq-testctl: tasks still active\n");
				return 1;
			}
			sleep_ms(50);
		}
	} else if (strcmp(cmd, "wait") == 0 && argc == 5) {
		deadline = time(NULL) + atoi(argv[4]);
		for (;;) {
			if ((e = store_task_get(st, argv[3], &t)) != STORE_OK)
				die("get", e);
			if (t->status != TASK_PENDING && t->status != TASK_RUNNING)
				break;
			task_free(t);
			if (time(NULL) > deadline) {
				fprintf(stderr, "taskq-testctl: task still active\n");
				return 1;
			}
			sleep_ms(20);
		}
		print_json(task_json(t));
		task_free(t);
	} else if (strcmp(cmd, "raw") == 0 && argc == 4) {
		bench_raw(atoi(argv[3]));
	} else if (strcmp(cmd, "latency") == 0 && argc == 4) {
		bench_latency(atoi(argv[3]));
	} else if (strcmp(cmd, "submit-loop") == 0 && argc == 4) {
		bench_submit_loop(atoi(argv[3]));
	} else
		usage();
	store_close(st);
	return 0;
}
