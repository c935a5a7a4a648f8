/*
 * The email worker: builds the message from the task's parameters and
 * delivers it through the configured transport (lib/mail.c).  A temporary
 * failure (SMTP 4xx, a refused or dropped connection, a full disk) is
 * reported as such, and the runner retries the task with backoff until its
 * attempts are used up; a permanent one (SMTP 5xx, a bad address) ends it.
 * The server's reply is kept in the error message.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "mail.h"
#include "runner.h"

void
worker_email(struct worker_ctx *ctx)
{
	struct json_object	*params = NULL, *res = NULL;
	struct mail_message	 msg;
	struct mail_result	 out;
	enum mail_status	 st;
	const char		*text;
	char			 err[512];
	bool			 have_msg = false;

	memset(&out, 0, sizeof(out));
	if ((params = json_tokener_parse(ctx->task->parameters)) == NULL ||
	    !json_object_is_type(params, json_type_object)) {
		worker_fail(ctx, "email: parameters are not a JSON object", false);
		goto out;
	}
	if ((st = mail_message_from_json(params, &msg, err, sizeof(err))) !=
	    MAIL_OK) {
		worker_fail(ctx, err, st == MAIL_TEMPORARY);
		goto out;
	}
	have_msg = true;

	/*
	 * libcurl's global state is set up here, in the child, not once in
	 * the runner before forking: the runner itself never sends mail, and
	 * a parent free of TLS library state is one less thing to inherit
	 * across fork().  It costs a few milliseconds per message, nothing
	 * next to an SMTP conversation, and the Maildir transport skips it.
	 */
	if (strcmp(ctx->cfg->email_transport, "smtp") == 0 &&
	    !mail_global_init()) {
		worker_fail(ctx, "email: libcurl initialisation failed", true);
		goto out;
	}
	worker_progress(ctx, 10);
	if ((st = mail_deliver(ctx->cfg, &msg, &out)) != MAIL_OK) {
		worker_fail(ctx, out.error != NULL ? out.error :
		    mail_strerror(st), st == MAIL_TEMPORARY);
		goto out;
	}
	if ((res = mail_result_to_json(&out)) == NULL ||
	    (text = json_object_to_json_string_ext(res,
	    JSON_C_TO_STRING_PLAIN)) == NULL) {
		/* Sent, but unrecordable: retrying would send it twice. */
		worker_fail(ctx, "email: sent, but out of memory for the result",
		    false);
		goto out;
	}
	worker_result(ctx, text);
out:
	if (have_msg)
		mail_message_release(&msg);
	mail_result_free(&out);
	json_object_put(res);
	json_object_put(params);
}
