/*
 * Output of the taskq command: aligned text tables for people, and JSON
 * (the API's task object) for scripts.  Write errors on stdout are noticed
 * once, at the end, by output_done().
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "log.h"
#include "task.h"

struct table {
	size_t	  ncols;
	char	 *align;	/* per column 'l' or 'r' */
	char	**cells;	/* rows * ncols, owned, header row first */
	size_t	  nrows;
	size_t	  cap;		/* rows allocated */
};

/* Display width: UTF-8 code points (no wide characters in our columns). */
static size_t
text_width(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * A table with these column headers; align is a string of 'l' and 'r', one
 * per column.  NULL when out of memory.
 */
struct table *
table_new(size_t ncols, const char *const *headers, const char *align)
{
	struct table	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ncols = ncols;
	if ((t->align = strdup(align)) == NULL || !table_add(t, headers)) {
		table_free(t);
		return NULL;
	}
	return t;
}

/* Appends a row (cells copied; NULL cells print as "-"). */
bool
table_add(struct table *t, const char *const *cells)
{
	char	**n;
	size_t	  i, base;

	if (t->nrows == t->cap) {
		if ((n = reallocarray(t->cells, (t->cap + 16) * t->ncols,
		    sizeof(*n))) == NULL)
			return false;
		t->cells = n;
		t->cap += 16;
	}
	base = t->nrows * t->ncols;
	for (i = 0; i < t->ncols; i++) {
		t->cells[base + i] = strdup(cells[i] != NULL ? cells[i] : "-");
		if (t->cells[base + i] == NULL) {
			while (i-- > 0)
				free(t->cells[base + i]);
			return false;
		}
	}
	t->nrows++;
	return true;
}

void
table_print(const struct table *t, FILE *fp)
{
	size_t	*w, r, c, cw;
	const char *cell;

	if ((w = calloc(t->ncols, sizeof(*w))) == NULL) {
		log_warnx("out of memory");
		return;
	}
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if ((cw = text_width(t->cells[r * t->ncols + c])) > w[c])
				w[c] = cw;
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			cell = t->cells[r * t->ncols + c];
			cw = text_width(cell);
			if (t->align[c] == 'r')
				fprintf(fp, "%*s%s", (int)(w[c] - cw), "", cell);
			else if (c + 1 < t->ncols)
				fprintf(fp, "%s%*s", cell, (int)(w[c] - cw), "");
			else
				fputs(cell, fp);
			fputs(c + 1 < t->ncols ? "  " : "\n", fp);
		}
	}
	free(w);
}

void
table_free(struct table *t)
{
	size_t	 i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->align);
	free(t);
}

/* RFC 3339 of ms, or "-" for 0 (null); buf holds TIME_RFC3339_LEN + 1. */
void
time_or_dash(int64_t ms, char *buf)
{
	if (ms == 0)
		strcpy(buf, "-");
	else
		time_format_rfc3339(ms, buf);
}

static int
add_time(struct json_object *o, const char *key, int64_t ms)
{
	char	 buf[TIME_RFC3339_LEN + 1];

	if (ms == 0)
		return json_object_object_add(o, key, NULL);
	time_format_rfc3339(ms, buf);
	return json_object_object_add(o, key, json_object_new_string(buf));
}

/* Stored JSON text as a value; text that does not parse stays a string. */
static struct json_object *
json_or_string(const char *text)
{
	struct json_object	*v;

	if (text == NULL)
		return NULL;
	if ((v = json_tokener_parse(text)) != NULL)
		return v;
	return json_object_new_string(text);
}

static int
add_str(struct json_object *o, const char *key, const char *s)
{
	return json_object_object_add(o, key,
	    s != NULL ? json_object_new_string(s) : NULL);
}

/*
 * The task as the API renders it (API.md's task object plus attempt,
 * priority and times); with detail, also what only operators need: the
 * captured worker output and the claim.  NULL when out of memory.
 */
struct json_object *
task_json(const struct task *t, bool detail)
{
	struct json_object	*o;
	int			 rc = 0;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	rc |= add_str(o, "id", t->id);
	rc |= add_str(o, "task_type", t->task_type);
	rc |= add_str(o, "status", task_status_names[t->status]);
	rc |= json_object_object_add(o, "progress",
	    json_object_new_int(t->progress));
	rc |= json_object_object_add(o, "parameters",
	    json_or_string(t->parameters != NULL ? t->parameters : "{}"));
	rc |= json_object_object_add(o, "result_data",
	    json_or_string(t->result_data));
	rc |= add_str(o, "error_message", t->error_message);
	rc |= add_time(o, "created_at", t->created_at);
	rc |= add_time(o, "started_at", t->started_at);
	rc |= add_time(o, "completed_at", t->completed_at);
	rc |= add_str(o, "retry_of", t->retry_of[0] != '\0' ? t->retry_of : NULL);
	rc |= json_object_object_add(o, "attempt",
	    json_object_new_int(t->attempt));
	rc |= json_object_object_add(o, "max_attempts",
	    json_object_new_int(t->max_attempts));
	rc |= json_object_object_add(o, "priority",
	    json_object_new_int(t->priority));
	rc |= json_object_object_add(o, "timeout_s",
	    json_object_new_int(t->timeout_s));
	rc |= add_time(o, "run_at", t->run_at);
	rc |= add_time(o, "updated_at", t->updated_at);
	if (detail) {
		rc |= add_str(o, "worker_output", t->worker_output);
		rc |= add_str(o, "claim_owner", t->claim_owner);
	}
	if (rc != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Prints v (consumed) pretty, one document per call. */
int
json_print(struct cli_ctx *ctx, struct json_object *v)
{
	const char	*text;

	if (v == NULL) {
		log_warnx("out of memory");
		return CLI_EXIT_ERROR;
	}
	text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL) {
		json_object_put(v);
		log_warnx("out of memory");
		return CLI_EXIT_ERROR;
	}
	fprintf(ctx->out, "%s\n", text);
	json_object_put(v);
	return CLI_EXIT_OK;
}

/* Flushes stdout; a write error (full disk, closed pipe) fails the command. */
int
output_done(struct cli_ctx *ctx)
{
	if (fflush(ctx->out) == EOF || ferror(ctx->out)) {
		log_warn("standard output");
		return CLI_EXIT_ERROR;
	}
	return CLI_EXIT_OK;
}
