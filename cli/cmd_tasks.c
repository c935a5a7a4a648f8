/*
 * taskq submit, list, show, cancel and retry: the API's task operations,
 * done through the store with the same validation and the same messages.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "log.h"
#include "task.h"
#include "tasktype.h"

/*
 * Submit: parameters from key=value operands, validated against the type's
 * schema by tasktype_validate exactly as POST /api/tasks/submit does, and
 * stored normalized (defaults filled in).  Exit 2 for invalid input, with
 * the field and the API's detail text.
 */
int
cmd_submit(struct cli_ctx *ctx)
{
	const struct cli_args	*a = ctx->args;
	const struct task_type	*type;
	struct json_object	*params = NULL, *norm = NULL;
	struct task_new		 tn;
	struct task		*t = NULL;
	enum store_err		 err;
	char			 field[256], detail[1024];
	const char		*text;
	bool			 existed = false;
	int			 rc = CLI_EXIT_ERROR;

	if ((type = tasktype_find(a->operand)) == NULL) {
		log_warnx("task_type: unknown task type '%s'", a->operand);
		return CLI_EXIT_USAGE;
	}
	if ((params = cli_params_build(a->params, a->nparams, detail,
	    sizeof(detail))) == NULL) {
		log_warnx("submit: %s", detail);
		return CLI_EXIT_USAGE;
	}
	if (!tasktype_validate(type, params, &norm, field, sizeof(field),
	    detail, sizeof(detail))) {
		if (field[0] == '\0') {
			log_warnx("submit: out of memory");
			goto out;
		}
		log_warnx("%s", detail);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if ((text = json_object_to_json_string_ext(norm,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) == NULL) {
		log_warnx("submit: out of memory");
		goto out;
	}
	memset(&tn, 0, sizeof(tn));
	tn.task_type = type->name;
	tn.parameters = text;
	tn.priority = a->priority;
	tn.run_at = a->run_at;
	tn.max_attempts = a->max_attempts > 0 ? a->max_attempts :
	    type->default_max_attempts;
	tn.timeout_s = a->timeout_s > 0 ? a->timeout_s : type->default_timeout_s;
	tn.idempotency_key = a->idempotency_key;
	if ((err = store_task_submit(ctx->st, &tn, &t, &existed)) != STORE_OK) {
		rc = cli_store_fail(ctx, err, "submit");
		goto out;
	}
	if (a->json)
		rc = json_print(ctx, task_json(t, false));
	else {
		fprintf(ctx->out, "%s\n", t->id);
		rc = CLI_EXIT_OK;
	}
	if (existed && !a->json)
		log_info("idempotency key already used: this is the task "
		    "created first");
out:
	task_free(t);
	json_object_put(norm);
	json_object_put(params);
	return rc;
}

/* A row of the human listing. */
static bool
list_row(struct table *tb, const struct task *t)
{
	char		 progress[8], attempt[32], created[TIME_RFC3339_LEN + 1];
	const char	*cells[6];

	snprintf(progress, sizeof(progress), "%d%%", t->progress);
	snprintf(attempt, sizeof(attempt), "%d/%d", t->attempt, t->max_attempts);
	time_or_dash(t->created_at, created);
	cells[0] = t->id;
	cells[1] = t->task_type;
	cells[2] = task_status_names[t->status];
	cells[3] = progress;
	cells[4] = attempt;
	cells[5] = created;
	return table_add(tb, cells);
}

/*
 * Newest first, as GET /api/tasks/: pages of up to 500 through the store's
 * keyset cursor until the limit or the end.  Exit 2 for a bad filter.
 */
int
cmd_list(struct cli_ctx *ctx)
{
	static const char *const headers[] = {
		"ID", "TYPE", "STATUS", "PROGRESS", "ATTEMPT", "CREATED"
	};
	const struct cli_args	*a = ctx->args;
	struct task_filter	 f;
	struct task_list	 page;
	struct table		*tb = NULL;
	struct json_object	*doc = NULL, *arr = NULL, *o;
	enum store_err		 err;
	int64_t			 cursor = 0;
	size_t			 got = 0, want, i;
	int			 rc = CLI_EXIT_ERROR;

	memset(&page, 0, sizeof(page));
	memset(&f, 0, sizeof(f));
	for (i = 0; i < a->ntypes; i++)
		if (tasktype_find(a->types[i]) == NULL) {
			log_warnx("--type: unknown task type '%s'", a->types[i]);
			return CLI_EXIT_USAGE;
		}
	f.status_mask = a->status_mask;
	f.types = (const char *const *)a->types;
	f.ntypes = a->ntypes;
	f.q = a->q;

	if (a->json) {
		if ((doc = json_object_new_object()) == NULL ||
		    (arr = json_object_new_array()) == NULL ||
		    json_object_object_add(doc, "tasks", arr) != 0) {
			json_object_put(arr);
			log_warnx("out of memory");
			goto out;
		}
	} else if ((tb = table_new(6, headers, "lllrrl")) == NULL) {
		log_warnx("out of memory");
		goto out;
	}

	while (got < a->limit) {
		want = a->limit - got;
		if (want > 500)
			want = 500;
		err = store_task_list(ctx->st, &f, cursor, want, &page);
		if (err != STORE_OK) {
			rc = cli_store_fail(ctx, err, "list");
			goto out;
		}
		for (i = 0; i < page.n; i++) {
			if (a->json) {
				if ((o = task_json(page.tasks[i], false)) == NULL ||
				    json_object_array_add(arr, o) != 0) {
					json_object_put(o);
					log_warnx("out of memory");
					goto out;
				}
			} else if (!list_row(tb, page.tasks[i])) {
				log_warnx("out of memory");
				goto out;
			}
		}
		got += page.n;
		cursor = page.next_cursor;
		store_task_list_free(&page);
		memset(&page, 0, sizeof(page));
		if (cursor == 0)
			break;
	}
	if (a->json) {
		rc = json_print(ctx, doc);
		doc = NULL;
	} else {
		table_print(tb, ctx->out);
		if (cursor != 0)
			log_info("more tasks may match: raise --limit (%zu shown)",
			    got);
		rc = CLI_EXIT_OK;
	}
out:
	store_task_list_free(&page);
	table_free(tb);
	json_object_put(doc);
	return rc;
}

/* Pretty JSON text of stored JSON, for the human "show". */
static void
show_json_field(FILE *fp, const char *label, const char *text)
{
	struct json_object	*v;
	const char		*s = NULL;

	if (text == NULL) {
		fprintf(fp, "%-14s -\n", label);
		return;
	}
	if ((v = json_tokener_parse(text)) != NULL)
		s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	fprintf(fp, "%-14s %s\n", label, s != NULL ? s : text);
	json_object_put(v);
}

static void
show_human(FILE *fp, const struct task *t)
{
	char	 buf[TIME_RFC3339_LEN + 1];

	fprintf(fp, "%-14s %s\n", "id:", t->id);
	fprintf(fp, "%-14s %s\n", "task_type:", t->task_type);
	fprintf(fp, "%-14s %s\n", "status:", task_status_names[t->status]);
	fprintf(fp, "%-14s %d%%\n", "progress:", t->progress);
	fprintf(fp, "%-14s %d of %d\n", "attempt:", t->attempt, t->max_attempts);
	fprintf(fp, "%-14s %d\n", "priority:", t->priority);
	fprintf(fp, "%-14s %ds\n", "timeout:", t->timeout_s);
	time_or_dash(t->created_at, buf);
	fprintf(fp, "%-14s %s\n", "created_at:", buf);
	time_or_dash(t->run_at, buf);
	fprintf(fp, "%-14s %s\n", "run_at:", buf);
	time_or_dash(t->started_at, buf);
	fprintf(fp, "%-14s %s\n", "started_at:", buf);
	time_or_dash(t->completed_at, buf);
	fprintf(fp, "%-14s %s\n", "completed_at:", buf);
	fprintf(fp, "%-14s %s\n", "retry_of:",
	    t->retry_of[0] != '\0' ? t->retry_of : "-");
	if (t->claim_owner != NULL)
		fprintf(fp, "%-14s %s\n", "runner:", t->claim_owner);
	show_json_field(fp, "parameters:", t->parameters);
	show_json_field(fp, "result_data:", t->result_data);
	fprintf(fp, "%-14s %s\n", "error_message:",
	    t->error_message != NULL ? t->error_message : "-");
	if (t->worker_output != NULL && t->worker_output[0] != '\0')
		fprintf(fp, "worker_output:\n%s%s", t->worker_output,
		    t->worker_output[strlen(t->worker_output) - 1] == '\n' ?
		    "" : "\n");
}

/* The operand as a canonical task id; false (exit 2) when malformed. */
static bool
task_id_arg(const char *s, char *id)
{
	if (!task_id_normalize(s, id)) {
		log_warnx("'%s' is not a task id (a UUID)", s);
		return false;
	}
	return true;
}

enum task_op {
	OP_SHOW,
	OP_CANCEL,
	OP_RETRY,
	OP__MAX
};

/* show, cancel and retry: one task in, one task out (retry: the new one). */
static int
task_op(struct cli_ctx *ctx, enum task_op op)
{
	static const char *const what[OP__MAX] = { "show", "cancel", "retry" };
	struct task	*t = NULL;
	enum store_err	 err;
	char		 id[TASK_ID_LEN + 1];
	int		 rc;

	if (!task_id_arg(ctx->args->operand, id))
		return CLI_EXIT_USAGE;
	switch (op) {
	case OP_SHOW:
		err = store_task_get(ctx->st, id, &t);
		break;
	case OP_CANCEL:
		err = store_task_cancel(ctx->st, id, &t);
		break;
	default:
		err = store_task_retry(ctx->st, id, &t);
		break;
	}
	if (err == STORE_NOTFOUND) {
		log_warnx("%s: no task %s", what[op], id);
		return CLI_EXIT_NOTFOUND;
	}
	if (err == STORE_CONFLICT) {
		log_warnx("%s: task %s: %s", what[op], id, op == OP_CANCEL ?
		    "already finished (SUCCESS, FAILED or CANCELLED)" :
		    "only FAILED and CANCELLED tasks can be retried");
		return CLI_EXIT_CONFLICT;
	}
	if (err != STORE_OK)
		return cli_store_fail(ctx, err, what[op]);
	if (ctx->args->json)
		rc = json_print(ctx, task_json(t, op == OP_SHOW));
	else {
		if (op == OP_SHOW)
			show_human(ctx->out, t);
		else if (op == OP_CANCEL)
			fprintf(ctx->out, "%s %s\n", t->id,
			    task_status_names[t->status]);
		else
			fprintf(ctx->out, "%s\n", t->id);
		rc = CLI_EXIT_OK;
	}
	task_free(t);
	return rc;
}

int
cmd_show(struct cli_ctx *ctx)
{
	return task_op(ctx, OP_SHOW);
}

int
cmd_cancel(struct cli_ctx *ctx)
{
	return task_op(ctx, OP_CANCEL);
}

int
cmd_retry(struct cli_ctx *ctx)
{
	return task_op(ctx, OP_RETRY);
}
