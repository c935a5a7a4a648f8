/*
 * The image_processing worker: resizes an uploaded image with the libvips
 * engine (lib/image.c) into a new file under STATE_DIR/files, which the
 * runner registers for download (outputs.c) before the task's SUCCESS.
 *
 * libvips starts threads, so image_init() runs here, in the child after
 * fork(), never in the runner.  Under child_max_memory (RLIMIT_AS), with
 * malloc arenas capped at two (below), a 3000x2000 PNG resized to 800 px
 * into png, jpeg or webp succeeded every time at 256 MiB and above and
 * failed at 192 MiB ("Error creating thread", "out of memory", or an
 * abort inside glib): the default of 1 GiB leaves ample room, and a limit
 * under 256 MiB is refused up front with a message saying so rather than
 * with a crash (see lib/image.h for what large gif and heif inputs need).
 *
 * The output is written to STATE_DIR/files/.tmp-<id>, fsync'd by the
 * engine, announced to the runner, renamed to STATE_DIR/files/<id> and the
 * directory fsync'd: a crash never leaves a partial file under a real id.
 */
#include <config.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "image.h"
#include "sha256.h"
#include "store.h"
#include "runner.h"

#define IMAGE_READ_CHUNK	(64 * 1024)
#define IMAGE_MIN_AS		((rlim_t)256 << 20)	/* measured: see below */

static const char *const image_content_types[IMAGE_FORMAT__MAX] = {
	"application/octet-stream",	/* IMAGE_FORMAT_SAME: never an output */
	"image/png",
	"image/jpeg",
	"image/webp",
};

/* Called from libvips' threads too, never concurrently (image.h). */
static void
image_progress(void *arg, int pct)
{
	worker_progress(arg, pct >= 100 ? 99 : pct);
}

/* An integer parameter, or 0 when absent. */
static int
image_int(struct json_object *params, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(params, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int(v);
}

/* A string parameter, or NULL when absent. */
static const char *
image_str(struct json_object *params, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(params, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Size and SHA-256 of the file at path, read back as it is on disk. */
static bool
image_checksum(const char *path, struct file_info *fi, char *err, size_t errlen)
{
	unsigned char	 buf[IMAGE_READ_CHUNK];
	struct sha256	 sha;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot read the output back: %s",
		    strerror(errno));
		return false;
	}
	sha256_init(&sha);
	fi->size = 0;
	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot read the output back: %s",
			    strerror(errno));
			close(fd);
			return false;
		}
		if (n == 0)
			break;
		sha256_update(&sha, buf, (size_t)n);
		fi->size += n;
	}
	close(fd);
	sha256_final_hex(&sha, fi->sha256);
	return true;
}

static bool
image_sync_dir(const char *dir)
{
	int	 fd;
	bool	 ok;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return false;
	ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

void
worker_image(struct worker_ctx *ctx)
{
	struct json_object	*params = NULL, *res = NULL;
	struct image_request	 req;
	struct image_result	 ir;
	struct file_info	 fi;
	struct stat		 sb;
	struct rlimit		 rl;
	enum image_err		 e;
	const char		*s, *text;
	char			 id[TASK_ID_LEN + 1], dir[CONFIG_PATH_MAX + 8];
	char			 in[64], src[CONFIG_PATH_MAX + 64];
	char			 tmp[CONFIG_PATH_MAX + 64];
	char			 out[CONFIG_PATH_MAX + 64], err[512];
	int			 fd = -1, v;
	bool			 started = false, tmp_made = false;

	memset(&req, 0, sizeof(req));
	if ((params = json_tokener_parse(ctx->task->parameters)) == NULL ||
	    !json_object_is_type(params, json_type_object)) {
		worker_fail(ctx, "image_processing: parameters are not a JSON "
		    "object", false);
		goto out;
	}
	/* The API validated it; a path is built from it, so check again. */
	if ((s = image_str(params, "file_id")) == NULL ||
	    !task_id_normalize(s, id)) {
		worker_fail(ctx, "file_id is not a file id", false);
		goto out;
	}
	req.width = image_int(params, "width");
	req.height = image_int(params, "height");
	if ((s = image_str(params, "fit")) != NULL &&
	    (v = image_fit_parse(s)) != -1)
		req.fit = (enum image_fit)v;
	if ((s = image_str(params, "format")) != NULL) {
		if ((v = image_format_parse(s)) == -1) {
			worker_failf(ctx, false, "unknown format '%.32s'", s);
			goto out;
		}
		req.format = (enum image_format)v;
	}
	req.quality = image_int(params, "quality");
	req.max_pixels = ctx->cfg->image_max_pixels;

	/*
	 * The input is opened here, never through a symbolic link, and the
	 * engine, which takes a path, reads that very descriptor through its
	 * /proc name.
	 */
	snprintf(dir, sizeof(dir), "%s/files", ctx->cfg->state_dir);
	snprintf(src, sizeof(src), "%s/%s", dir, id);
	if ((fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) == -1) {
		if (errno == ENOENT)
			worker_failf(ctx, false, "file %s not found", id);
		else
			worker_failf(ctx, errno != EACCES && errno != ELOOP,
			    "file %s: %s", id, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		worker_failf(ctx, false, "file %s is not a regular file", id);
		goto out;
	}
	snprintf(in, sizeof(in), "/proc/self/fd/%d", fd);
	req.in_path = in;

	worker_progress(ctx, 0);
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < IMAGE_MIN_AS) {
		worker_failf(ctx, false, "child_max_memory (%llu MiB) is too "
		    "small for image processing, which needs at least %llu MiB",
		    (unsigned long long)(rl.rlim_cur >> 20),
		    (unsigned long long)(IMAGE_MIN_AS >> 20));
		goto out;
	}
	/*
	 * glibc gives each thread that allocates its own malloc arena, each
	 * reserving 64 MiB or more of address space: under RLIMIT_AS, libvips'
	 * threads would spend the limit on reservations.  Two arenas suffice
	 * for its few threads.
	 */
	(void)mallopt(M_ARENA_MAX, 2);
	if (!image_init("taskq-runner", 0, err, sizeof(err))) {
		worker_failf(ctx, true, "cannot start the image library: %s", err);
		goto out;
	}
	started = true;

	memset(&fi, 0, sizeof(fi));
	task_id_generate(fi.id);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, fi.id);
	snprintf(out, sizeof(out), "%s/%s", dir, fi.id);
	tmp_made = true;	/* from here on, removed on failure */
	if ((e = image_process(&req, tmp, image_progress, ctx, &ir, err,
	    sizeof(err))) != IMAGE_OK) {
		/* Out of memory or a write error may pass; the input stays as it is. */
		worker_fail(ctx, err, e == IMAGE_IO || e == IMAGE_NOMEM);
		goto out;
	}
	if (!image_checksum(tmp, &fi, err, sizeof(err))) {
		worker_fail(ctx, err, true);
		goto out;
	}
	snprintf(fi.name, sizeof(fi.name), "output-%dx%d.%s", ir.width,
	    ir.height, image_format_name(ir.format));
	snprintf(fi.content_type, sizeof(fi.content_type), "%s",
	    image_content_types[ir.format]);

	/* From the announcement on, the runner removes the file on failure. */
	if (!worker_file(ctx, &fi)) {
		worker_fail(ctx, "cannot announce the output to the runner", true);
		goto out;
	}
	if (rename(tmp, out) == -1) {
		worker_failf(ctx, true, "cannot store the output: rename: %s",
		    strerror(errno));
		goto out;
	}
	tmp_made = false;
	if (!image_sync_dir(dir)) {
		worker_failf(ctx, true, "cannot store the output: fsync %s: %s",
		    dir, strerror(errno));
		goto out;
	}

	if ((res = json_object_new_object()) == NULL ||
	    json_object_object_add(res, "output_file_id",
	    json_object_new_string(fi.id)) != 0 ||
	    json_object_object_add(res, "width", json_object_new_int(ir.width)) != 0 ||
	    json_object_object_add(res, "height", json_object_new_int(ir.height)) != 0 ||
	    json_object_object_add(res, "format",
	    json_object_new_string(image_format_name(ir.format))) != 0 ||
	    json_object_object_add(res, "bytes", json_object_new_int64(fi.size)) != 0 ||
	    (text = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN)) == NULL) {
		worker_fail(ctx, "image_processing: out of memory", true);
		goto out;
	}
	worker_result(ctx, text);
out:
	if (tmp_made && unlink(tmp) == -1 && errno != ENOENT)
		fprintf(stderr, "image: unlink %s: %s\n", tmp, strerror(errno));
	if (started)
		image_shutdown();
	if (fd != -1)
		close(fd);
	json_object_put(res);
	json_object_put(params);
}
