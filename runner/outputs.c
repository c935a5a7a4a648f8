/*
 * Files a task produces (image_processing's output), the runner's side.
 * The child writes the bytes under STATE_DIR/files and announces each file
 * with a PROTO_FILE frame, since it never opens the database; the runner
 * keeps the announcements with the child, registers the files in the store
 * BEFORE the task's SUCCESS is written (so that a client that sees SUCCESS
 * can always download the output), and removes them on any other outcome
 * (failure, retry, cancel, timeout, shutdown), so that no run leaves bytes
 * behind that nothing references.  A runner killed between the child's
 * frame and the outcome may leave a file on disk without a row.
 *
 * A child is not trusted to name only its own files: an announced id must
 * be new to the store to be registered, and is never unlinked when the
 * store knows it from elsewhere.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "sha256.h"
#include "store.h"
#include "runner.h"

/* Copies the string member key of o into dst; false if absent or too long. */
static bool
output_string(struct json_object *o, const char *key, char *dst, size_t size)
{
	struct json_object	*v;
	size_t			 len;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return false;
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len >= size || memchr(json_object_get_string(v), '\0',
	    len) != NULL)
		return false;
	memcpy(dst, json_object_get_string(v), len + 1);
	return true;
}

/*
 * Parses and checks one announcement: a canonical lowercase id, a display
 * name without control characters or slashes, a size, a lowercase hex
 * SHA-256 and a plain "type/subtype" content type.
 */
static bool
output_parse(const unsigned char *p, size_t n, struct file_info *fi)
{
	struct json_tokener	*tok = NULL;
	struct json_object	*o = NULL, *v;
	char			 norm[TASK_ID_LEN + 1];
	const unsigned char	*s;
	bool			 ok = false;
	size_t			 i, slashes = 0;

	memset(fi, 0, sizeof(*fi));
	if (n > 4096 || memchr(p, '\0', n) != NULL ||
	    (tok = json_tokener_new()) == NULL)
		goto out;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != n ||
	    !json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) != 5)
		goto out;
	if (!output_string(o, "id", fi->id, sizeof(fi->id)) ||
	    !task_id_normalize(fi->id, norm) || strcmp(fi->id, norm) != 0)
		goto out;
	if (!output_string(o, "name", fi->name, sizeof(fi->name)))
		goto out;
	for (s = (const unsigned char *)fi->name; *s != '\0'; s++)
		if (*s < 0x20 || *s == 0x7f || *s == '/' || *s == '\\')
			goto out;
	if (!json_object_object_get_ex(o, "size", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (fi->size = json_object_get_int64(v)) < 0)
		goto out;
	if (!output_string(o, "sha256", fi->sha256, sizeof(fi->sha256)) ||
	    strlen(fi->sha256) != SHA256_HEX_LEN)
		goto out;
	for (i = 0; fi->sha256[i] != '\0'; i++)
		if (strchr("0123456789abcdef", fi->sha256[i]) == NULL)
			goto out;
	if (!output_string(o, "content_type", fi->content_type,
	    sizeof(fi->content_type)))
		goto out;
	for (i = 0; fi->content_type[i] != '\0'; i++) {
		if (fi->content_type[i] == '/')
			slashes++;
		else if (strchr("abcdefghijklmnopqrstuvwxyz0123456789.+-",
		    fi->content_type[i]) == NULL)
			goto out;
	}
	ok = slashes == 1 && fi->content_type[0] != '/' &&
	    fi->content_type[i - 1] != '/';
out:
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	return ok;
}

const char *
output_frame(struct child *c, const unsigned char *p, size_t n)
{
	struct file_info	 fi, *nf;
	size_t			 i;

	if (c->nfiles >= OUTPUT_FILES_MAX)
		return "more than 4 produced files";
	if (!output_parse(p, n, &fi))
		return "malformed file announcement";
	for (i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i].id, fi.id) == 0)
			return "a file announced twice";
	if ((nf = reallocarray(c->files, c->nfiles + 1, sizeof(*nf))) == NULL)
		return "out of memory for a file announcement";
	c->files = nf;
	memcpy(fi.task_id, c->task->id, sizeof(fi.task_id));
	c->files[c->nfiles++] = fi;
	return NULL;
}

/* Turns a SUCCESS whose output cannot be served into a failure. */
static void
output_fail(struct child *c, const char *id, const char *why)
{
	char	*msg;

	if (asprintf(&msg, "output file %s: %s", id, why) == -1)
		msg = NULL;
	log_warnx("task %s: %s", c->task->id, msg != NULL ? msg :
	    "output file not registered");
	free(c->fin.error);
	c->fin.error = msg;	/* NULL: the loop writes "unknown failure" */
	c->fin.outcome = OUTCOME_FAILED;
}

bool
outputs_register(struct store *st, const struct config *cfg, struct child *c)
{
	struct file_info	*fi;
	struct stat		 sb;
	char			 path[CONFIG_PATH_MAX + 64];
	enum store_err		 e;

	if (c->fin.outcome != OUTCOME_SUCCESS)
		return true;
	while (c->nfiles_added < c->nfiles) {
		fi = &c->files[c->nfiles_added];
		snprintf(path, sizeof(path), "%s/files/%s", cfg->state_dir, fi->id);
		/* The announced bytes must be there, as announced. */
		if (lstat(path, &sb) == -1) {
			output_fail(c, fi->id, strerror(errno));
			return true;
		}
		if (!S_ISREG(sb.st_mode) || sb.st_size != fi->size) {
			output_fail(c, fi->id, "not the size announced");
			return true;
		}
		fi->created_at = time_now_ms();
		e = store_file_add(st, fi);
		if (e == STORE_BUSY || e == STORE_FULL || e == STORE_NOMEM ||
		    e == STORE_DB) {
			log_debug("task %s: registering file %s: %s: %s",
			    c->task->id, fi->id, store_strerror(e), store_errmsg(st));
			return false;
		}
		if (e != STORE_OK) {
			output_fail(c, fi->id, store_errmsg(st));
			return true;
		}
		c->nfiles_added++;
	}
	return true;
}

void
outputs_settle(struct store *st, const struct config *cfg, struct child *c,
    bool kept)
{
	struct file_info	 other;
	char			 path[CONFIG_PATH_MAX + 64];
	enum store_err		 e;
	size_t			 i;

	if (c->nfiles == 0 || (kept && c->fin.outcome == OUTCOME_SUCCESS))
		return;
	for (i = 0; i < c->nfiles; i++) {
		if (i < c->nfiles_added) {
			/* Ours: registered for a SUCCESS that was not recorded. */
			if ((e = store_file_delete(st, c->files[i].id)) != STORE_OK) {
				/* Unreferenced: retention removes both later. */
				log_warnx("task %s: file %s: %s: %s", c->task->id,
				    c->files[i].id, store_strerror(e),
				    store_errmsg(st));
				continue;
			}
		} else if ((e = store_file_get(st, c->files[i].id, &other)) !=
		    STORE_NOTFOUND) {
			/* Known from elsewhere, or unknown whether: keep. */
			if (e != STORE_OK)
				log_warnx("task %s: file %s left in place: %s",
				    c->task->id, c->files[i].id, store_strerror(e));
			continue;
		}
		snprintf(path, sizeof(path), "%s/files/%s", cfg->state_dir,
		    c->files[i].id);
		if (unlink(path) == -1 && errno != ENOENT)
			log_warn("task %s: unlink %s", c->task->id, path);
		/* A child stopped before its rename left the temporary name. */
		snprintf(path, sizeof(path), "%s/files/.tmp-%s", cfg->state_dir,
		    c->files[i].id);
		if (unlink(path) == -1 && errno != ENOENT)
			log_warn("task %s: unlink %s", c->task->id, path);
	}
	c->nfiles = c->nfiles_added = 0;
}
