/*
 * The data_processing worker: per-column statistics of an uploaded CSV file
 * or of inline CSV text, in one streaming pass of the csvstats engine, with
 * the engine's byte progress reported as the task's progress.  An uploaded
 * file of 4 MiB or more is parsed by two threads of this process when it
 * may run on two CPUs (csvstats.h): the progress callback still runs in
 * this thread only, and the result is that of one pass.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "csvstats.h"
#include "runner.h"

static int
data_progress(void *arg, uint64_t done, uint64_t total)
{
	struct worker_ctx	*ctx = arg;

	/* 0..99 while reading: 100 means the result is recorded. */
	if (total > 0)
		worker_progress(ctx, (int)(done >= total ? 99 :
		    done / (total / 100 + 1)));
	return 0;
}

/*
 * Opens STATE_DIR/files/<id> for reading: never through a symbolic link,
 * and only a regular file (a FIFO would hang the read).  Returns the
 * descriptor, or -1 after reporting the failure.
 */
static int
data_open(struct worker_ctx *ctx, const char *file_id)
{
	char		 id[TASK_ID_LEN + 1], path[CONFIG_PATH_MAX + 64];
	struct stat	 sb;
	int		 fd, e;

	/* The API validated it; a path is built from it, so check again. */
	if (!task_id_normalize(file_id, id)) {
		worker_fail(ctx, "file_id is not a file id", false);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/files/%s", ctx->cfg->state_dir, id);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) == -1) {
		e = errno;
		if (e == ENOENT)
			worker_failf(ctx, false, "file %s not found", id);
		else
			worker_failf(ctx, e != EACCES && e != ELOOP, "file %s: %s",
			    id, strerror(e));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		worker_failf(ctx, false, "file %s is not a regular file", id);
		close(fd);
		return -1;
	}
	return fd;
}

void
worker_data(struct worker_ctx *ctx)
{
	struct json_object	*params = NULL, *v, *res = NULL;
	struct csv_options	 o;
	enum csv_err		 e;
	const char		*s;
	char			 err[512];
	int			 fd = -1;

	if ((params = json_tokener_parse(ctx->task->parameters)) == NULL ||
	    !json_object_is_type(params, json_type_object)) {
		worker_fail(ctx, "data_processing: parameters are not a JSON object",
		    false);
		goto out;
	}
	csv_options_init(&o);
	o.max_field_bytes = (size_t)ctx->cfg->csv_max_field_bytes;
	if (json_object_object_get_ex(params, "delimiter", &v)) {
		s = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) != 1 ||
		    !csv_delimiter_ok((unsigned char)s[0])) {
			worker_fail(ctx, "delimiter must be one ASCII character "
			    "other than a double quote, CR or LF", false);
			goto out;
		}
		o.delimiter = s[0];
	}
	if (json_object_object_get_ex(params, "has_header", &v) &&
	    json_object_is_type(v, json_type_boolean))
		o.has_header = json_object_get_boolean(v);

	err[0] = '\0';
	worker_progress(ctx, 0);
	if (json_object_object_get_ex(params, "file_id", &v) &&
	    json_object_is_type(v, json_type_string)) {
		if ((fd = data_open(ctx, json_object_get_string(v))) == -1)
			goto out;
		e = csvstats_analyze_fd(fd, 0, &o, data_progress, ctx, &res,
		    err, sizeof(err));
	} else if (json_object_object_get_ex(params, "csv", &v) &&
	    json_object_is_type(v, json_type_string)) {
		e = csvstats_analyze_buffer(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), &o, data_progress, ctx,
		    &res, err, sizeof(err));
	} else {
		worker_fail(ctx, "one of file_id or csv is required", false);
		goto out;
	}
	if (e != CSV_OK) {
		/* A read error may pass; malformed input never will. */
		worker_fail(ctx, err[0] != '\0' ? err : csv_strerror(e),
		    e == CSV_EIO);
		goto out;
	}
	if ((s = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN)) == NULL)
		worker_fail(ctx, "data_processing: out of memory", true);
	else
		worker_result(ctx, s);
out:
	if (fd != -1)
		close(fd);
	json_object_put(res);
	json_object_put(params);
}
