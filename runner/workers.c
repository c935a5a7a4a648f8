/*
 * The table from task type to the worker that executes it in the child.
 * A type this runner does not know (a newer API's, sharing the database)
 * fails with an explicit message rather than sitting PENDING forever.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "runner.h"

static void	 worker_unknown(struct worker_ctx *);

static const worker_fn workers[TYPE__MAX] = {
	worker_echo,		/* TYPE_ECHO */
	worker_data,		/* TYPE_DATA_PROCESSING */
	worker_email,		/* TYPE_EMAIL */
	worker_image,		/* TYPE_IMAGE_PROCESSING */
};

static void
worker_unknown(struct worker_ctx *ctx)
{
	worker_failf(ctx, false,
	    "task type '%s' is not executable by this runner version",
	    ctx->task->task_type);
}

worker_fn
worker_find(const char *type_name)
{
	const struct task_type	*t;

	if ((t = tasktype_find(type_name)) == NULL ||
	    (unsigned)t->id >= TYPE__MAX || workers[t->id] == NULL)
		return worker_unknown;
	return workers[t->id];
}
