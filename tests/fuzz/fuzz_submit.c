/*
 * Fuzzes what POST /api/tasks/submit does with a hostile body before it
 * reaches the database: taskq-api's real handler (fcgi/tasks.c) with its
 * body reading, UTF-8 and surrogate checks and strict JSON parsing
 * (fcgi/request.c, fcgi/buf.c), the top-level fields and
 * tasktype_validate() on the parameters.  The batcher is replaced by a
 * stub that checks what would be stored: a registered type, options in
 * their bounds, and parameters that are a JSON object which validates
 * again to the very same text (normalization is idempotent).  Every
 * answer must be one of the contract's statuses with a JSON body.
 *
 * Input: the request body, or, when the first byte is below 4, that byte
 * picks the Content-Type (0 JSON, 1 JSON with charset, 2 text/plain,
 * 3 taken from the first line) and the bytes after it (the first line
 * for 3) are the body.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../lib/config.h"
#include "fuzz_fcgi.h"
#include "log.h"
#include "task.h"
#include "tasktype.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

static struct fake_fcgi	 fake;

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_submit: %s: %s\n", what, detail);
	abort();
}

/* Stands in for fcgi/batch.c: checks the task instead of storing it. */
enum store_err
batcher_submit(struct batcher *b, const struct task_new *tn, struct task **out,
    bool *existed)
{
	const struct task_type	*type;
	struct json_object	*p, *norm = NULL;
	struct task		*t;
	char			 field[160], detail[512];
	const char		*again;

	(void)b;
	*out = NULL;
	*existed = false;
	if ((type = tasktype_find(tn->task_type)) == NULL)
		fail("unregistered type stored", tn->task_type);
	if (tn->priority < -100 || tn->priority > 100 ||
	    tn->max_attempts < 1 || tn->max_attempts > 25 ||
	    tn->timeout_s < 1 || tn->timeout_s > 86400)
		fail("option out of bounds", tn->parameters);
	p = json_tokener_parse(tn->parameters);
	if (p == NULL || !json_object_is_type(p, json_type_object))
		fail("stored parameters are not a JSON object", tn->parameters);
	if (!tasktype_validate(type, p, &norm, field, sizeof(field), detail,
	    sizeof(detail)))
		fail("stored parameters do not validate again", detail);
	again = json_object_to_json_string_ext(norm,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (again == NULL || strcmp(again, tn->parameters) != 0)
		fail("normalizing twice changes the parameters", tn->parameters);
	json_object_put(norm);
	json_object_put(p);

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return STORE_NOMEM;
	task_id_generate(t->id);
	t->task_type = strdup(tn->task_type);
	t->parameters = strdup(tn->parameters);
	if (t->task_type == NULL || t->parameters == NULL) {
		task_free(t);
		return STORE_NOMEM;
	}
	t->seq = 1;
	t->attempt = 1;
	t->max_attempts = tn->max_attempts;
	t->priority = tn->priority;
	t->timeout_s = tn->timeout_s;
	t->created_at = t->updated_at = 1764382200123;
	t->run_at = tn->run_at != 0 ? tn->run_at : t->created_at;
	*out = t;
	return STORE_OK;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_submit", LOG_LEVEL_ERROR);
	if (!fake_init(&fake))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	 allowed[] = { 201, 400, 413, 415, 422, 0 };
	char			 ct[256], len[32];
	const uint8_t		*nl;
	size_t			 n;

	snprintf(ct, sizeof(ct), "application/json");
	if (size > 0 && data[0] < 4) {
		switch (data[0]) {
		case 1:
			snprintf(ct, sizeof(ct), "application/json; charset=utf-8");
			break;
		case 2:
			snprintf(ct, sizeof(ct), "text/plain");
			break;
		case 3:
			nl = memchr(data + 1, '\n', size - 1);
			n = nl != NULL ? (size_t)(nl - data - 1) : size - 1;
			if (n >= sizeof(ct))
				n = sizeof(ct) - 1;
			memcpy(ct, data + 1, n);
			ct[n] = '\0';
			if (nl != NULL) {
				size -= (size_t)(nl - data);
				data = nl;
			}
			break;
		}
		data++;
		size--;
	}
	/* A small limit, so the 413 path is reachable. */
	fake.cfg.json_max_bytes = 4096;
	fake_request(&fake, "POST", "/api/tasks/submit", data, size);
	fake_param(&fake, "CONTENT_TYPE", ct);
	/* nginx passes the length; a chunked body arrives without one. */
	if (size % 2 == 0) {
		snprintf(len, sizeof(len), "%zu", size);
		fake_param(&fake, "CONTENT_LENGTH", len);
	}
	h_task_submit(&fake.r);
	fake_check_response(&fake, allowed);
	fake_end(&fake);
	return 0;
}
