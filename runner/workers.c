/*
 * The table from task type to the worker that executes it in the child.
 * Only echo is implemented in this version; the other registered types are
 * accepted by the API but fail here with an explicit message until their
 * workers land, rather than sitting PENDING forever.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "runner.h"

static void	 worker_unimplemented(struct worker_ctx *);

static const worker_fn workers[TYPE__MAX] = {
	worker_echo,		/* TYPE_ECHO */
	worker_unimplemented,	/* TYPE_DATA_PROCESSING: not yet */
	worker_unimplemented,	/* TYPE_EMAIL: not yet */
	worker_unimplemented,	/* TYPE_IMAGE_PROCESSING: not yet */
};

static void
worker_unimplemented(struct worker_ctx *ctx)
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
		return worker_unimplemented;
	return workers[t->id];
}
