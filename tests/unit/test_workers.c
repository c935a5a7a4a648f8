/*
 * Unit tests of the runner's workers (runner/worker_data.c,
 * worker_email.c, worker_image.c) run in real children, and of the
 * produced-file mechanism (runner/outputs.c, worker_file in proto.c)
 * against a real store in a temporary state directory.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"
#include "store.h"
#include "runner.h"

static struct config	 cfg;
static char		 state[64];

static struct task *
mktask(const char *type, const char *params)
{
	struct task	*t;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	task_id_generate(t->id);
	t->task_type = strdup(type);
	t->parameters = strdup(params);
	assert_non_null(t->task_type);
	assert_non_null(t->parameters);
	t->status = TASK_RUNNING;
	t->attempt = 1;
	t->max_attempts = 3;
	t->timeout_s = 30;
	t->claim_token = 1;
	return t;
}

/* Runs a child to its end as the loop would, minus the store. */
static struct child *
run_child(const char *type, const char *params)
{
	struct child	*c;
	struct pollfd	 pfd[2];
	int		 n;

	c = child_spawn(mktask(type, params), &cfg, false);
	assert_non_null(c);
	while (c->rfd != -1 || c->efd != -1) {
		n = 0;
		if (c->rfd != -1) {
			pfd[n].fd = c->rfd;
			pfd[n++].events = POLLIN;
		}
		if (c->efd != -1) {
			pfd[n].fd = c->efd;
			pfd[n++].events = POLLIN;
		}
		assert_true(poll(pfd, (nfds_t)n, 20000) > 0);
		while (n-- > 0)
			if (pfd[n].revents != 0)
				child_read(c, pfd[n].fd);
	}
	assert_int_equal(waitpid(c->pid, &c->status, 0), c->pid);
	c->exited = true;
	c->pid = 0;
	child_drain(c);
	child_conclude(c, &cfg);
	assert_true(c->finish_ready);
	return c;
}

static void
write_file(const char *path, const char *text)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int
count_dir(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- data_processing -------------------------------------------------- */

static void
test_data_inline(void **state_)
{
	struct child		*c;
	struct json_object	*o, *v;

	(void)state_;
	c = run_child("data_processing", "{\"csv\":\"a,b\\r\\n1,x\\r\\n2,\\\"y,z\\\"\\r\\n\"}");
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_non_null(o = json_tokener_parse(c->result));
	assert_true(json_object_object_get_ex(o, "rows", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(o, "bytes", &v));
	assert_int_equal(json_object_get_int(v), 19);
	json_object_put(o);
	child_free(c);
}

static void
test_data_malformed_is_permanent(void **state_)
{
	struct child	*c;

	(void)state_;
	c = run_child("data_processing", "{\"csv\":\"a\\n1\\n\\\"x\\n\"}");
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_string_equal(c->fin.error, "line 3: unterminated quoted field");
	child_free(c);
}

static void
test_data_delimiter_and_header(void **state_)
{
	struct child		*c;
	struct json_object	*o, *v;

	(void)state_;
	c = run_child("data_processing", "{\"csv\":\"1;2\\n3;4\\n\","
	    "\"delimiter\":\";\",\"has_header\":false}");
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_non_null(o = json_tokener_parse(c->result));
	assert_true(json_object_object_get_ex(o, "rows", &v));
	assert_int_equal(json_object_get_int(v), 2);
	json_object_put(o);
	child_free(c);
}

static void
test_data_file(void **state_)
{
	struct child	*c;
	char		 id[TASK_ID_LEN + 1], path[256], params[128];

	(void)state_;
	task_id_generate(id);
	snprintf(path, sizeof(path), "%s/files/%s", state, id);
	write_file(path, "n\n1\n2\n3\n");
	snprintf(params, sizeof(params), "{\"file_id\":\"%s\"}", id);
	c = run_child("data_processing", params);
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_non_null(strstr(c->result, "\"rows\":3"));
	child_free(c);
	unlink(path);
}

static void
test_data_file_missing_or_symlink(void **state_)
{
	struct child	*c;
	char		 id[TASK_ID_LEN + 1], path[256], params[128], want[128];

	(void)state_;
	task_id_generate(id);
	snprintf(params, sizeof(params), "{\"file_id\":\"%s\"}", id);
	c = run_child("data_processing", params);
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	snprintf(want, sizeof(want), "file %s not found", id);
	assert_string_equal(c->fin.error, want);
	child_free(c);

	/* A symbolic link under files/ is never followed. */
	snprintf(path, sizeof(path), "%s/files/%s", state, id);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	c = run_child("data_processing", params);
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_non_null(strstr(c->fin.error, "symbolic links"));
	child_free(c);
	unlink(path);

	c = run_child("data_processing", "{\"file_id\":\"../../etc/passwd\"}");
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_string_equal(c->fin.error, "file_id is not a file id");
	child_free(c);
}

/* ---- email and image -------------------------------------------------- */

static void
test_email_maildir(void **state_)
{
	struct child	*c;
	char		 path[256];

	(void)state_;
	c = run_child("email", "{\"to\":[\"a@example.com\",\"b@example.com\"],"
	    "\"subject\":\"hi\",\"body\":\"text\"}");
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_non_null(strstr(c->result, "\"transport\":\"maildir\""));
	assert_non_null(strstr(c->result, "\"recipients\":2"));
	snprintf(path, sizeof(path), "%s/maildir/new", state);
	assert_int_equal(count_dir(path), 1);
	child_free(c);
}

static void
test_email_bad_address_is_permanent(void **state_)
{
	struct child	*c;

	(void)state_;
	c = run_child("email", "{\"to\":\"not an address\",\"subject\":\"s\","
	    "\"body\":\"b\"}");
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_non_null(c->fin.error);
	child_free(c);
}

static void
test_image_missing_input(void **state_)
{
	struct child	*c;
	char		 id[TASK_ID_LEN + 1], params[128], want[128];

	(void)state_;
	task_id_generate(id);
	snprintf(params, sizeof(params), "{\"file_id\":\"%s\",\"width\":10}", id);
	c = run_child("image_processing", params);
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	snprintf(want, sizeof(want), "file %s not found", id);
	assert_string_equal(c->fin.error, want);
	child_free(c);
}

/* ---- produced files --------------------------------------------------- */

#define SHA_A	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *
announce(struct child *c, const char *id, const char *name, long long size,
    const char *sha, const char *ct)
{
	char	 buf[1024];

	snprintf(buf, sizeof(buf), "{\"id\":\"%s\",\"name\":\"%s\",\"size\":%lld,"
	    "\"sha256\":\"%s\",\"content_type\":\"%s\"}", id, name, size, sha, ct);
	return output_frame(c, (const unsigned char *)buf, strlen(buf));
}

static struct child *
fake_child(void)
{
	struct child	*c;

	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->rfd = c->efd = -1;
	c->task = mktask("image_processing", "{}");
	c->finish_ready = true;
	c->fin.outcome = OUTCOME_SUCCESS;
	return c;
}

static void
test_output_frame_checks(void **state_)
{
	struct child	*c = fake_child();
	char		 id[TASK_ID_LEN + 1], up[TASK_ID_LEN + 1];
	const char	*bad = "x";
	size_t		 i;

	(void)state_;
	task_id_generate(id);
	for (i = 0; i <= TASK_ID_LEN; i++)
		up[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	assert_non_null(announce(c, up, "a.png", 1, SHA_A, "image/png"));
	assert_non_null(announce(c, "../x", "a.png", 1, SHA_A, "image/png"));
	assert_non_null(announce(c, id, "a/b.png", 1, SHA_A, "image/png"));
	assert_non_null(announce(c, id, "", 1, SHA_A, "image/png"));
	assert_non_null(announce(c, id, "a.png", -1, SHA_A, "image/png"));
	assert_non_null(announce(c, id, "a.png", 1, "0123", "image/png"));
	assert_non_null(announce(c, id, "a.png", 1, SHA_A, "text/html; x"));
	assert_non_null(announce(c, id, "a.png", 1, SHA_A, "image"));
	assert_non_null(output_frame(c, (const unsigned char *)bad, 1));
	assert_int_equal(c->nfiles, 0);

	assert_null(announce(c, id, "a.png", 1, SHA_A, "image/png"));
	assert_int_equal(c->nfiles, 1);
	assert_string_equal(c->files[0].task_id, c->task->id);
	assert_string_equal(announce(c, id, "a.png", 1, SHA_A, "image/png"),
	    "a file announced twice");
	for (i = 1; i < OUTPUT_FILES_MAX; i++) {
		task_id_generate(id);
		assert_null(announce(c, id, "a.png", 1, SHA_A, "image/png"));
	}
	task_id_generate(id);
	assert_non_null(announce(c, id, "a.png", 1, SHA_A, "image/png"));
	assert_int_equal(c->nfiles, OUTPUT_FILES_MAX);
	child_free(c);
}

static void
test_worker_file_frame(void **state_)
{
	struct worker_ctx	 ctx;
	struct proto_reader	 rd;
	struct proto_frame	 f;
	struct file_info	 fi;
	struct child		*c = fake_child();
	unsigned char		 buf[4096];
	ssize_t			 n;
	int			 p[2];

	(void)state_;
	assert_int_equal(pipe(p), 0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.fd = p[1];
	memset(&fi, 0, sizeof(fi));
	task_id_generate(fi.id);
	snprintf(fi.name, sizeof(fi.name), "output-10x5.webp");
	fi.size = 1234;
	snprintf(fi.sha256, sizeof(fi.sha256), "%s", SHA_A);
	snprintf(fi.content_type, sizeof(fi.content_type), "image/webp");
	assert_true(worker_file(&ctx, &fi));
	close(p[1]);
	n = read(p[0], buf, sizeof(buf));
	close(p[0]);
	assert_true(n > PROTO_HDR_LEN);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, (size_t)n), PROTO_OK);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_OK);
	assert_int_equal(f.type, PROTO_FILE);
	assert_null(output_frame(c, f.payload, f.len));
	proto_reader_free(&rd);
	assert_string_equal(c->files[0].id, fi.id);
	assert_string_equal(c->files[0].name, fi.name);
	assert_int_equal(c->files[0].size, 1234);
	assert_string_equal(c->files[0].sha256, SHA_A);
	assert_string_equal(c->files[0].content_type, "image/webp");
	child_free(c);
}

static void
test_outputs_register_and_settle(void **state_)
{
	struct store		*st = NULL;
	struct file_info	 got, up;
	struct child		*c;
	char			 db[128], id[TASK_ID_LEN + 1], path[256], err[256];

	(void)state_;
	snprintf(db, sizeof(db), "%s/taskq.db", state);
	assert_int_equal(store_open(db, 0, 1000, &st, err, sizeof(err)), STORE_OK);

	/* SUCCESS: registered with its task, kept. */
	c = fake_child();
	task_id_generate(id);
	snprintf(path, sizeof(path), "%s/files/%s", state, id);
	write_file(path, "12345");
	assert_null(announce(c, id, "out.png", 5, SHA_A, "image/png"));
	assert_true(outputs_register(st, &cfg, c));
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_int_equal(c->nfiles_added, 1);
	assert_int_equal(store_file_get(st, id, &got), STORE_OK);
	assert_string_equal(got.task_id, c->task->id);
	assert_string_equal(got.content_type, "image/png");
	assert_int_equal(got.size, 5);
	outputs_settle(st, &cfg, c, true);
	assert_int_equal(access(path, F_OK), 0);
	child_free(c);

	/* Registered, then the SUCCESS was not recorded: row and bytes go. */
	c = fake_child();
	task_id_generate(id);
	snprintf(path, sizeof(path), "%s/files/%s", state, id);
	write_file(path, "abc");
	assert_null(announce(c, id, "out.png", 3, SHA_A, "image/png"));
	assert_true(outputs_register(st, &cfg, c));
	outputs_settle(st, &cfg, c, false);
	assert_int_equal(store_file_get(st, id, &got), STORE_NOTFOUND);
	assert_int_equal(access(path, F_OK), -1);
	child_free(c);

	/* Announced but missing, or not the size announced: FAILED. */
	c = fake_child();
	task_id_generate(id);
	assert_null(announce(c, id, "out.png", 3, SHA_A, "image/png"));
	assert_true(outputs_register(st, &cfg, c));
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_non_null(strstr(c->fin.error, "No such file"));
	outputs_settle(st, &cfg, c, true);
	child_free(c);
	c = fake_child();
	task_id_generate(id);
	snprintf(path, sizeof(path), "%s/files/%s", state, id);
	write_file(path, "abcd");
	assert_null(announce(c, id, "out.png", 3, SHA_A, "image/png"));
	assert_true(outputs_register(st, &cfg, c));
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	outputs_settle(st, &cfg, c, true);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_file_get(st, id, &got), STORE_NOTFOUND);
	child_free(c);

	/* A failed task announcing a file the store knows: never removed. */
	memset(&up, 0, sizeof(up));
	task_id_generate(up.id);
	snprintf(up.name, sizeof(up.name), "upload.png");
	up.size = 2;
	snprintf(up.sha256, sizeof(up.sha256), "%s", SHA_A);
	snprintf(up.content_type, sizeof(up.content_type), "image/png");
	assert_int_equal(store_file_add(st, &up), STORE_OK);
	snprintf(path, sizeof(path), "%s/files/%s", state, up.id);
	write_file(path, "xy");
	c = fake_child();
	c->fin.outcome = OUTCOME_FAILED;
	assert_null(announce(c, up.id, "out.png", 2, SHA_A, "image/png"));
	assert_true(outputs_register(st, &cfg, c));	/* not a SUCCESS: nothing */
	assert_int_equal(c->nfiles_added, 0);
	outputs_settle(st, &cfg, c, true);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(store_file_get(st, up.id, &got), STORE_OK);
	child_free(c);

	/* A SUCCESS announcing it: refused by the store, FAILED, kept. */
	c = fake_child();
	assert_null(announce(c, up.id, "out.png", 2, SHA_A, "image/png"));
	assert_true(outputs_register(st, &cfg, c));
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	outputs_settle(st, &cfg, c, true);
	assert_int_equal(access(path, F_OK), 0);
	child_free(c);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_inline),
		cmocka_unit_test(test_data_malformed_is_permanent),
		cmocka_unit_test(test_data_delimiter_and_header),
		cmocka_unit_test(test_data_file),
		cmocka_unit_test(test_data_file_missing_or_symlink),
		cmocka_unit_test(test_email_maildir),
		cmocka_unit_test(test_email_bad_address_is_permanent),
		cmocka_unit_test(test_image_missing_input),
		cmocka_unit_test(test_output_frame_checks),
		cmocka_unit_test(test_worker_file_frame),
		cmocka_unit_test(test_outputs_register_and_settle),
	};
	char	 cmd[128], files[128];
	int	 rc;

	log_init("test_workers", LOG_LEVEL_ERROR);
	snprintf(state, sizeof(state), "/tmp/taskq-test-workers-XXXXXX");
	if (mkdtemp(state) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(files, sizeof(files), "%s/files", state);
	if (mkdir(files, 0750) == -1) {
		perror("mkdir");
		return 1;
	}
	cfg = config_defaults;
	cfg.child_max_memory = 0;
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", state);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
	if (system(cmd) != 0)
		fprintf(stderr, "test_workers: could not remove %s\n", state);
	return rc;
}
