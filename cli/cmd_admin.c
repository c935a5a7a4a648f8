/*
 * taskq stats, runners, pause, resume, purge, backup, migrate and check:
 * the operator's view of the queue and the care of its database.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "log.h"
#include "task.h"
#include "tasktype.h"

#define PURGE_BATCH	1000

/* Status counts as {"PENDING": n, ...}, all five. */
static struct json_object *
by_status_json(const int64_t *by)
{
	struct json_object	*o;
	int			 s;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	for (s = 0; s < TASK_STATUS__MAX; s++)
		if (json_object_object_add(o, task_status_names[s],
		    json_object_new_int64(by[s])) != 0) {
			json_object_put(o);
			return NULL;
		}
	return o;
}

static struct json_object *
stats_json(const struct store_stats *ss, int64_t now)
{
	struct json_object	*doc, *types, *o;
	const struct type_stats	*ts;
	size_t			 i;
	int			 rc = 0;

	if ((doc = json_object_new_object()) == NULL)
		return NULL;
	rc |= json_object_object_add(doc, "by_status", by_status_json(ss->by_status));
	if ((types = json_object_new_object()) == NULL ||
	    json_object_object_add(doc, "by_type", types) != 0) {
		json_object_put(types);
		json_object_put(doc);
		return NULL;
	}
	for (i = 0; i < ss->ntypes; i++) {
		ts = &ss->types[i];
		if ((o = by_status_json(ts->by_status)) == NULL ||
		    json_object_object_add(types, ts->task_type, o) != 0) {
			json_object_put(o);
			json_object_put(doc);
			return NULL;
		}
		rc |= json_object_object_add(o, "finished_1h",
		    json_object_new_int64(ts->finished_1h));
		rc |= json_object_object_add(o, "failed_1h",
		    json_object_new_int64(ts->failed_1h));
		rc |= json_object_object_add(o, "finished_24h",
		    json_object_new_int64(ts->finished_24h));
		rc |= json_object_object_add(o, "failed_24h",
		    json_object_new_int64(ts->failed_24h));
		rc |= json_object_object_add(o, "paused",
		    json_object_new_boolean(ts->paused));
	}
	rc |= json_object_object_add(doc, "oldest_pending_age_s",
	    ss->oldest_pending_ms == 0 ? NULL : json_object_new_int64(
	    (now - ss->oldest_pending_ms) / 1000));
	if (rc != 0) {
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

/* One table row of counts; label is the type or "total". */
static bool
stats_row(struct table *tb, const char *label, const int64_t *by,
    int64_t fin1h, int64_t fail1h, const char *paused)
{
	char		 num[TASK_STATUS__MAX + 2][24];
	const char	*cells[TASK_STATUS__MAX + 4];
	int		 s;

	cells[0] = label;
	for (s = 0; s < TASK_STATUS__MAX; s++) {
		snprintf(num[s], sizeof(num[s]), "%" PRId64, by[s]);
		cells[1 + s] = num[s];
	}
	snprintf(num[TASK_STATUS__MAX], sizeof(num[0]), "%" PRId64, fin1h);
	snprintf(num[TASK_STATUS__MAX + 1], sizeof(num[0]), "%" PRId64, fail1h);
	cells[1 + TASK_STATUS__MAX] = num[TASK_STATUS__MAX];
	cells[2 + TASK_STATUS__MAX] = num[TASK_STATUS__MAX + 1];
	cells[3 + TASK_STATUS__MAX] = paused;
	return table_add(tb, cells);
}

/* Counts per type and status (exact), finishes in the last hour, pauses. */
int
cmd_stats(struct cli_ctx *ctx)
{
	static const char *const headers[] = {
		"TYPE", "PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED",
		"DONE_1H", "FAILED_1H", "PAUSED"
	};
	struct store_stats	 ss;
	struct table		*tb = NULL;
	enum store_err		 err;
	char			 when[TIME_RFC3339_LEN + 1];
	int64_t			 now = time_now_ms(), fin = 0, failed = 0;
	size_t			 i;
	int			 rc = CLI_EXIT_ERROR;

	if ((err = store_stats_get(ctx->st, &ss)) != STORE_OK)
		return cli_store_fail(ctx, err, "stats");
	if (ctx->args->json) {
		rc = json_print(ctx, stats_json(&ss, now));
		goto out;
	}
	if ((tb = table_new(9, headers, "lrrrrrrrl")) == NULL)
		goto oom;
	for (i = 0; i < ss.ntypes; i++) {
		fin += ss.types[i].finished_1h;
		failed += ss.types[i].failed_1h;
		if (!stats_row(tb, ss.types[i].task_type, ss.types[i].by_status,
		    ss.types[i].finished_1h, ss.types[i].failed_1h,
		    ss.types[i].paused ? "yes" : "no"))
			goto oom;
	}
	if (!stats_row(tb, "total", ss.by_status, fin, failed, ""))
		goto oom;
	table_print(tb, ctx->out);
	if (ss.oldest_pending_ms != 0) {
		time_format_rfc3339(ss.oldest_pending_ms, when);
		fprintf(ctx->out, "oldest pending: %s (%" PRId64 " s ago)\n",
		    when, (now - ss.oldest_pending_ms) / 1000);
	} else
		fprintf(ctx->out, "oldest pending: none\n");
	rc = CLI_EXIT_OK;
	goto out;
oom:
	log_warnx("out of memory");
out:
	table_free(tb);
	store_stats_free(&ss);
	return rc;
}

/* The runners' rows, with the age of each heartbeat. */
int
cmd_runners(struct cli_ctx *ctx)
{
	static const char *const headers[] = {
		"ID", "HOST", "PID", "SLOTS", "RUNNING", "STARTED", "SEEN"
	};
	struct runner_info	*rs = NULL;
	struct json_object	*doc = NULL, *arr, *o;
	struct table		*tb = NULL;
	enum store_err		 err;
	char			 pid[24], slots[24], running[24], seen[32];
	char			 started[TIME_RFC3339_LEN + 1];
	const char		*cells[7];
	int64_t			 now = time_now_ms();
	size_t			 n = 0, i;
	int			 rc = CLI_EXIT_ERROR, r = 0;

	if ((err = store_runner_list(ctx->st, &rs, &n)) != STORE_OK)
		return cli_store_fail(ctx, err, "runners");
	if (ctx->args->json) {
		if ((doc = json_object_new_object()) == NULL ||
		    (arr = json_object_new_array()) == NULL)
			goto oom;
		if (json_object_object_add(doc, "runners", arr) != 0) {
			json_object_put(arr);
			goto oom;
		}
		for (i = 0; i < n; i++) {
			if ((o = json_object_new_object()) == NULL ||
			    json_object_array_add(arr, o) != 0) {
				json_object_put(o);
				goto oom;
			}
			time_format_rfc3339(rs[i].last_seen, started);
			r |= json_object_object_add(o, "id",
			    json_object_new_string(rs[i].id));
			r |= json_object_object_add(o, "host",
			    json_object_new_string(rs[i].host));
			r |= json_object_object_add(o, "pid",
			    json_object_new_int(rs[i].pid));
			r |= json_object_object_add(o, "version",
			    json_object_new_string(rs[i].version));
			r |= json_object_object_add(o, "slots",
			    json_object_new_int(rs[i].slots));
			r |= json_object_object_add(o, "running",
			    json_object_new_int(rs[i].running));
			r |= json_object_object_add(o, "last_heartbeat",
			    json_object_new_string(started));
			r |= json_object_object_add(o, "heartbeat_age_s",
			    json_object_new_double((now - rs[i].last_seen) /
			    1000.0));
			time_format_rfc3339(rs[i].started_at, started);
			r |= json_object_object_add(o, "started_at",
			    json_object_new_string(started));
		}
		if (r != 0)
			goto oom;
		rc = json_print(ctx, doc);
		doc = NULL;
		goto out;
	}
	if ((tb = table_new(7, headers, "llrrrll")) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		snprintf(pid, sizeof(pid), "%d", rs[i].pid);
		snprintf(slots, sizeof(slots), "%d", rs[i].slots);
		snprintf(running, sizeof(running), "%d", rs[i].running);
		snprintf(seen, sizeof(seen), "%.1fs ago",
		    (now - rs[i].last_seen) / 1000.0);
		time_format_rfc3339(rs[i].started_at, started);
		cells[0] = rs[i].id;
		cells[1] = rs[i].host;
		cells[2] = pid;
		cells[3] = slots;
		cells[4] = running;
		cells[5] = started;
		cells[6] = seen;
		if (!table_add(tb, cells))
			goto oom;
	}
	table_print(tb, ctx->out);
	rc = CLI_EXIT_OK;
	goto out;
oom:
	log_warnx("out of memory");
out:
	json_object_put(doc);
	table_free(tb);
	free(rs);
	return rc;
}

/* pause and resume: the type must be registered, as for the API (404). */
static int
set_paused(struct cli_ctx *ctx, bool paused)
{
	const struct task_type	*type;
	struct json_object	*o;
	enum store_err		 err;

	if ((type = tasktype_find(ctx->args->operand)) == NULL) {
		log_warnx("%s: no task type '%s'", paused ? "pause" : "resume",
		    ctx->args->operand);
		return CLI_EXIT_NOTFOUND;
	}
	if ((err = store_type_set_paused(ctx->st, type->name, paused)) !=
	    STORE_OK)
		return cli_store_fail(ctx, err, paused ? "pause" : "resume");
	if (!ctx->args->json) {
		fprintf(ctx->out, "%s %s\n", type->name,
		    paused ? "paused" : "resumed");
		return CLI_EXIT_OK;
	}
	if ((o = json_object_new_object()) != NULL &&
	    (json_object_object_add(o, "name",
	    json_object_new_string(type->name)) != 0 ||
	    json_object_object_add(o, "paused",
	    json_object_new_boolean(paused)) != 0)) {
		json_object_put(o);
		o = NULL;
	}
	return json_print(ctx, o);
}

int
cmd_pause(struct cli_ctx *ctx)
{
	return set_paused(ctx, true);
}

int
cmd_resume(struct cli_ctx *ctx)
{
	return set_paused(ctx, false);
}

/*
 * Deletes finished tasks completed before now - AGE in batches (each its
 * own short transaction, so the daemons keep running), then the files
 * older than that which no remaining task references: the bytes under
 * state_dir/files first, then the row, so that a crash leaves at worst a
 * row without bytes, never unreachable bytes.
 */
int
cmd_purge(struct cli_ctx *ctx)
{
	char			 (*ids)[TASK_ID_LEN + 1] = NULL;
	struct json_object	*o;
	enum store_err		 err;
	char			*path = NULL;
	int64_t			 before, deleted, tasks = 0, files = 0;
	size_t			 n, i;
	int			 rc = CLI_EXIT_ERROR;

	before = time_now_ms() - ctx->args->older_than_ms;
	do {
		if ((err = store_purge(ctx->st, before, PURGE_BATCH,
		    &deleted)) != STORE_OK)
			return cli_store_fail(ctx, err, "purge");
		tasks += deleted;
	} while (deleted == PURGE_BATCH);

	do {
		err = store_file_unreferenced(ctx->st, before, PURGE_BATCH,
		    &ids, &n);
		if (err != STORE_OK) {
			rc = cli_store_fail(ctx, err, "purge files");
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (asprintf(&path, "%s/files/%s", ctx->cfg.state_dir,
			    ids[i]) == -1) {
				path = NULL;
				log_warnx("out of memory");
				goto out;
			}
			if (unlink(path) == -1 && errno != ENOENT) {
				log_warn("purge: %s", path);
				goto out;
			}
			free(path);
			path = NULL;
			if ((err = store_file_delete(ctx->st, ids[i])) !=
			    STORE_OK) {
				rc = cli_store_fail(ctx, err, "purge files");
				goto out;
			}
			files++;
		}
		free(ids);
		ids = NULL;
	} while (n == PURGE_BATCH);

	if (ctx->args->json) {
		if ((o = json_object_new_object()) != NULL &&
		    (json_object_object_add(o, "tasks",
		    json_object_new_int64(tasks)) != 0 ||
		    json_object_object_add(o, "files",
		    json_object_new_int64(files)) != 0)) {
			json_object_put(o);
			o = NULL;
		}
		rc = json_print(ctx, o);
	} else {
		fprintf(ctx->out, "purged %" PRId64 " tasks and %" PRId64
		    " files\n", tasks, files);
		rc = CLI_EXIT_OK;
	}
out:
	free(path);
	free(ids);
	return rc;
}

/* An online copy of the database through SQLite's backup API. */
int
cmd_backup(struct cli_ctx *ctx)
{
	struct json_object	*o;
	struct stat		 sb;
	enum store_err		 err;
	const char		*dest = ctx->args->operand;

	if ((err = store_backup(ctx->st, dest)) != STORE_OK)
		return cli_store_fail(ctx, err, "backup");
	if (stat(dest, &sb) == -1) {
		log_warn("backup: %s", dest);
		return CLI_EXIT_ERROR;
	}
	if (!ctx->args->json) {
		fprintf(ctx->out, "backed up %s to %s (%jd bytes)\n",
		    ctx->cfg.database, dest, (intmax_t)sb.st_size);
		return CLI_EXIT_OK;
	}
	if ((o = json_object_new_object()) != NULL &&
	    (json_object_object_add(o, "database",
	    json_object_new_string(ctx->cfg.database)) != 0 ||
	    json_object_object_add(o, "backup",
	    json_object_new_string(dest)) != 0 ||
	    json_object_object_add(o, "bytes",
	    json_object_new_int64((int64_t)sb.st_size)) != 0)) {
		json_object_put(o);
		o = NULL;
	}
	return json_print(ctx, o);
}

/* Creates the database or brings its schema to this program's version. */
int
cmd_migrate(struct cli_ctx *ctx)
{
	struct json_object	*o;
	enum store_err		 err;
	char			 msg[1024];
	int			 from, to;

	err = store_migrate(ctx->cfg.database, ctx->cfg.busy_timeout_ms,
	    &from, &to, msg, sizeof(msg));
	if (err != STORE_OK) {
		log_warnx("migrate: %s", msg);
		return err == STORE_BUSY ? CLI_EXIT_BUSY : CLI_EXIT_ERROR;
	}
	if (!ctx->args->json) {
		if (from < 0)
			fprintf(ctx->out, "created %s at schema version %d\n",
			    ctx->cfg.database, to);
		else if (from == to)
			fprintf(ctx->out, "%s: schema version %d, up to date\n",
			    ctx->cfg.database, to);
		else
			fprintf(ctx->out, "%s: migrated from schema version %d "
			    "to %d\n", ctx->cfg.database, from, to);
		return CLI_EXIT_OK;
	}
	if ((o = json_object_new_object()) != NULL &&
	    (json_object_object_add(o, "database",
	    json_object_new_string(ctx->cfg.database)) != 0 ||
	    json_object_object_add(o, "from", from < 0 ? NULL :
	    json_object_new_int(from)) != 0 ||
	    json_object_object_add(o, "to", json_object_new_int(to)) != 0)) {
		json_object_put(o);
		o = NULL;
	}
	return json_print(ctx, o);
}

/* Integrity and consistency; exit 1 when anything is wrong. */
int
cmd_check(struct cli_ctx *ctx)
{
	struct json_object	*o = NULL, *arr = NULL;
	enum store_err		 err;
	char			*problems = NULL, *line, *save = NULL;
	int			 rc;

	if ((err = store_integrity_check(ctx->st, &problems)) != STORE_OK)
		return cli_store_fail(ctx, err, "check");
	rc = problems == NULL ? CLI_EXIT_OK : CLI_EXIT_ERROR;
	if (ctx->args->json) {
		if ((o = json_object_new_object()) == NULL ||
		    (arr = json_object_new_array()) == NULL ||
		    json_object_object_add(o, "ok",
		    json_object_new_boolean(problems == NULL)) != 0 ||
		    json_object_object_add(o, "problems", arr) != 0) {
			json_object_put(arr);
			goto oom;
		}
	}
	if (problems != NULL) {
		for (line = strtok_r(problems, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (arr != NULL) {
				if (json_object_array_add(arr,
				    json_object_new_string(line)) != 0)
					goto oom;
			} else
				fprintf(ctx->out, "%s\n", line);
		}
	} else if (!ctx->args->json)
		fprintf(ctx->out, "%s: ok\n", ctx->cfg.database);
	free(problems);
	if (o != NULL && json_print(ctx, o) != CLI_EXIT_OK)
		return CLI_EXIT_ERROR;
	return rc;
oom:
	free(problems);
	json_object_put(o);
	log_warnx("out of memory");
	return CLI_EXIT_ERROR;
}
