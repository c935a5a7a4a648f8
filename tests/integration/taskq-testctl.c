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
	if ((e = store_open(argv[1], 0, 10000, &st, err, sizeof(err))) != STORE_OK) {
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
	} else
		usage();
	store_close(st);
	return 0;
}
