/*
 * Tests of lib/mail.c's SMTP transport against a real server on loopback:
 * tests/smtpd.py (aiosmtpd) started as a child for each test.  Checks the
 * message as received byte for byte and as Python's email package decodes
 * it, the envelope, and the classification of 4xx, 5xx, refused
 * connections and a server that never answers.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mail.h"

#ifndef TASKQ_SRCDIR
#define TASKQ_SRCDIR	"."
#endif

#define PYTHON		"/usr/bin/python3"
#define DATE_MS		INT64_C(1795923798123)

/* The server of the current test; the teardown stops it. */
static struct {
	pid_t	 pid;
	int	 port;
	char	 dir[64];
} srv = { -1, 0, "" };

/* A test's certificate directory, if it made one; the teardown removes it. */
static char	 cert_dir[64];

static int64_t
fixed_clock(void)
{
	return DATE_MS;
}

/*
 * Starts tests/smtpd.py with the extra arguments (NULL-terminated) and
 * reads the port it prints.  Skips the test if aiosmtpd is not there.
 */
static void
server_start(const char *arg, ...)
{
	const char	*argv[16];
	char		 script[4096], line[64];
	int		 p[2], n = 0, status;
	size_t		 len = 0;
	ssize_t		 r;
	struct pollfd	 pfd;
	va_list		 ap;

	snprintf(script, sizeof(script), "%s/tests/smtpd.py", TASKQ_SRCDIR);
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/taskq-smtpd-XXXXXX");
	assert_non_null(mkdtemp(srv.dir));
	argv[n++] = PYTHON;
	argv[n++] = script;
	argv[n++] = "--dir";
	argv[n++] = srv.dir;
	va_start(ap, arg);
	for (; arg != NULL && n < 15; arg = va_arg(ap, const char *))
		argv[n++] = arg;
	va_end(ap);
	argv[n] = NULL;

	assert_int_equal(pipe(p), 0);
	srv.pid = fork();
	assert_true(srv.pid >= 0);
	if (srv.pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execv(PYTHON, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
		if (poll(&pfd, 1, 15000) <= 0)
			break;
		if ((r = read(p[0], line + len, sizeof(line) - 1 - len)) <= 0)
			break;
		len += (size_t)r;
	}
	close(p[0]);
	line[len] = '\0';
	if (sscanf(line, "PORT %d", &srv.port) != 1) {
		waitpid(srv.pid, &status, 0);
		srv.pid = -1;
		if (WIFEXITED(status) && (WEXITSTATUS(status) == 2 ||
		    WEXITSTATUS(status) == 127))
			skip();		/* no python3-aiosmtpd here */
		fail_msg("smtpd.py did not start: '%s'", line);
	}
}

/* Stops the server and removes its directory. */
static int
server_stop(void)
{
	char	 cmd[128];
	int	 status;

	if (srv.pid > 0) {
		kill(srv.pid, SIGTERM);
		waitpid(srv.pid, &status, 0);
		srv.pid = -1;
	}
	if (srv.dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv.dir);
		if (system(cmd) != 0)
			return -1;
		srv.dir[0] = '\0';
	}
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	if (server_stop() == -1)
		return -1;
	if (cert_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cert_dir);
		if (system(cmd) != 0)
			return -1;
		cert_dir[0] = '\0';
	}
	mail_clock = NULL;
	return 0;
}

static void
cfg_smtp(struct config *cfg, int port)
{
	*cfg = config_defaults;
	snprintf(cfg->email_transport, sizeof(cfg->email_transport), "smtp");
	snprintf(cfg->email_from, sizeof(cfg->email_from),
	    "Task Queue <taskq@example.org>");
	snprintf(cfg->smtp_url, sizeof(cfg->smtp_url), "smtp://127.0.0.1:%d",
	    port);
	cfg->smtp_timeout_s = 10;
}

static const char *const to2[] = { "alice@example.com", "bob@example.net" };
static const char *const cc2[] = { "alice@example.com", "carol@example.org" };

#define SUBJECT	"Rapport journalier \xe2\x80\x94 caf\xc3\xa9 \xf0\x9f\x93\xa7 " \
	"with a long enough tail to need several encoded-words, surely"
#define BODY	".leading dot\n..two\nFrom the start\n" \
	"a long line that goes on and on and on and on and on and on and on " \
	"and on, \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 and on and on and on and on\n" \
	".\n" \
	"end without newline"

static void
msg_init(struct mail_message *m)
{
	memset(m, 0, sizeof(*m));
	m->to = to2;
	m->nto = 2;
	m->cc = cc2;
	m->ncc = 2;
	m->reply_to = "replies@example.org";
	m->subject = SUBJECT;
	m->subject_len = strlen(SUBJECT);
	m->body = BODY;
	m->body_len = strlen(BODY);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
stored_count(void)
{
	char	 path[128];
	int	 n;

	for (n = 0; ; n++) {
		snprintf(path, sizeof(path), "%s/%d.json", srv.dir, n + 1);
		if (access(path, F_OK) != 0)
			return n;
	}
}

static void
test_smtp_delivery(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;
	struct json_object	*j, *v, *res;
	char			 path[128], *got, *want;
	size_t			 glen;

	(void)state;
	server_start(NULL);
	cfg_smtp(&cfg, srv.port);
	mail_clock = fixed_clock;
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_OK);
	assert_null(r.error);
	assert_string_equal(r.transport, "smtp");
	assert_int_equal(r.recipients, 3);
	assert_int_equal(r.smtp_code, 250);
	assert_non_null(r.smtp_reply);
	assert_string_equal(r.smtp_reply, "250 2.0.0 OK queued as 1");

	/* Byte for byte what mail_format makes, after SMTP's dot-stuffing. */
	snprintf(path, sizeof(path), "%s/1.eml", srv.dir);
	got = read_file(path, &glen);
	m.from = cfg.email_from;
	want = mail_format(&m, r.message_id, DATE_MS, NULL, NULL, 0);
	assert_non_null(want);
	assert_int_equal(glen, strlen(want));
	assert_memory_equal(got, want, glen);
	assert_non_null(strstr(got, "\r\nTo: alice@example.com, bob@example.net\r\n"));
	assert_non_null(strstr(got, "\r\nCc: alice@example.com, carol@example.org\r\n"));
	assert_non_null(strstr(got, "\r\nReply-To: replies@example.org\r\n"));
	assert_non_null(strstr(got,
	    "\r\nFrom: \"Task Queue\" <taskq@example.org>\r\n"));
	assert_true(strncmp(got, "Date: Sun, 29 Nov 2026 03:43:18 +0000\r\n",
	    39) == 0);
	free(got);
	free(want);

	/* The envelope, and the message as Python's email package reads it. */
	snprintf(path, sizeof(path), "%s/1.json", srv.dir);
	j = json_object_from_file(path);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "mail_from", &v));
	assert_string_equal(json_object_get_string(v), "taskq@example.org");
	assert_true(json_object_object_get_ex(j, "rcpt_tos", &v));
	assert_int_equal(json_object_array_length(v), 3);
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(v, 0)), "alice@example.com");
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(v, 1)), "bob@example.net");
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(v, 2)), "carol@example.org");
	assert_true(json_object_object_get_ex(j, "subject", &v));
	assert_string_equal(json_object_get_string(v), SUBJECT);
	assert_true(json_object_object_get_ex(j, "body", &v));
	assert_string_equal(json_object_get_string(v), BODY);
	assert_true(json_object_object_get_ex(j, "defects", &v));
	assert_int_equal(json_object_array_length(v), 0);
	json_object_put(j);

	res = mail_result_to_json(&r);
	assert_non_null(res);
	assert_true(json_object_object_get_ex(res, "smtp_reply", &v));
	assert_string_equal(json_object_get_string(v), r.smtp_reply);
	assert_true(json_object_object_get_ex(res, "transport", &v));
	assert_string_equal(json_object_get_string(v), "smtp");
	assert_true(json_object_object_get_ex(res, "recipients", &v));
	assert_int_equal(json_object_get_int(v), 3);
	assert_true(json_object_object_get_ex(res, "message_id", &v));
	assert_string_equal(json_object_get_string(v), r.message_id);
	json_object_put(res);
	mail_result_free(&r);
}

/* A 4xx is temporary with the server's words; the retry then succeeds. */
static void
test_smtp_4xx_temporary_then_ok(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;

	(void)state;
	server_start("--fail-first", "1", "--fail-code", "451", NULL);
	cfg_smtp(&cfg, srv.port);
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_TEMPORARY);
	assert_non_null(r.error);
	assert_non_null(strstr(r.error, "451 4.3.0 Try again later (test)"));
	assert_int_equal(r.smtp_code, 451);
	assert_int_equal(stored_count(), 0);
	mail_result_free(&r);

	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_OK);
	assert_null(r.error);
	assert_int_equal(stored_count(), 1);
	mail_result_free(&r);
}

/* A 4xx to RCPT TO: nothing sent to anyone, temporary. */
static void
test_smtp_4xx_at_rcpt(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;

	(void)state;
	server_start("--fail-first", "1", "--fail-code", "452",
	    "--fail-stage", "rcpt", NULL);
	cfg_smtp(&cfg, srv.port);
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_TEMPORARY);
	assert_non_null(strstr(r.error, "452"));
	mail_result_free(&r);
	assert_int_equal(stored_count(), 0);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_OK);
	mail_result_free(&r);
}

static void
test_smtp_5xx_permanent(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;

	(void)state;
	server_start("--reject", "550", NULL);
	cfg_smtp(&cfg, srv.port);
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(strstr(r.error, "550 5.7.1 Rejected (test)"));
	assert_int_equal(r.smtp_code, 550);
	mail_result_free(&r);
	assert_int_equal(stored_count(), 0);
}

static void
test_smtp_5xx_at_mail_from(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;

	(void)state;
	server_start("--reject", "553", "--reject-stage", "mail", NULL);
	cfg_smtp(&cfg, srv.port);
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(strstr(r.error, "553"));
	mail_result_free(&r);
}

/* AUTH with the configured user; wrong credentials are permanent. */
static void
test_smtp_auth(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;
	struct json_object	*j, *v;
	char			 path[128];

	(void)state;
	server_start("--auth", "mailer:s3cret pass", NULL);
	cfg_smtp(&cfg, srv.port);
	msg_init(&m);

	/* Without credentials the server refuses MAIL FROM (530). */
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(strstr(r.error, "530"));
	mail_result_free(&r);

	snprintf(cfg.smtp_username, sizeof(cfg.smtp_username), "mailer");
	snprintf(cfg.smtp_password, sizeof(cfg.smtp_password), "wrong");
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(strstr(r.error, "535"));
	assert_null(strstr(r.error, "wrong"));	/* no password in messages */
	mail_result_free(&r);
	assert_int_equal(stored_count(), 0);

	snprintf(cfg.smtp_password, sizeof(cfg.smtp_password), "s3cret pass");
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_OK);
	mail_result_free(&r);
	snprintf(path, sizeof(path), "%s/1.json", srv.dir);
	j = json_object_from_file(path);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "auth_login", &v));
	assert_string_equal(json_object_get_string(v), "mailer");
	json_object_put(j);
}

/*
 * Makes a self-signed certificate in the server's directory; skips the
 * test when the openssl tool is not there.
 */
static void
make_cert(char *cert, char *key, size_t size)
{
	char	 cmd[512];

	snprintf(cert_dir, sizeof(cert_dir), "/tmp/taskq-cert-XXXXXX");
	assert_non_null(mkdtemp(cert_dir));
	snprintf(cert, size, "%s/cert.pem", cert_dir);
	snprintf(key, size, "%s/key.pem", cert_dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes "
	    "-keyout '%s' -out '%s' -days 1 -subj /CN=127.0.0.1 "
	    ">/dev/null 2>&1", key, cert);
	if (system(cmd) != 0)
		skip();
}

/*
 * smtp:// tries STARTTLS when offered; a certificate that does not verify
 * stops the delivery (no fallback to clear text) and is permanent.
 */
static void
test_smtp_starttls_unverified_cert(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;
	char			 cert[128], key[128];

	(void)state;
	make_cert(cert, key, sizeof(cert));
	server_start("--tls-cert", cert, "--tls-key", key, NULL);
	cfg_smtp(&cfg, srv.port);
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(r.error);
	assert_non_null(strstr(r.error, "certificate"));
	assert_int_equal(stored_count(), 0);
	mail_result_free(&r);

	/* smtps:// to a server speaking TLS at once: the same check. */
	server_stop();
	server_start("--tls-cert", cert, "--tls-key", key, "--implicit-tls",
	    NULL);
	cfg_smtp(&cfg, srv.port);
	snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "smtps://127.0.0.1:%d",
	    srv.port);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(r.error);
	assert_non_null(strstr(r.error, "certificate"));
	assert_int_equal(stored_count(), 0);
	mail_result_free(&r);
}

/* A port with nobody listening. */
static void
test_smtp_connection_refused(void **state)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;
	int			 fd;

	(void)state;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	close(fd);	/* bound, never listened: the port is closed */

	cfg_smtp(&cfg, ntohs(sin.sin_port));
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_TEMPORARY);
	assert_non_null(r.error);
	assert_int_equal(r.smtp_code, 0);
	mail_result_free(&r);
}

/* The kernel completes the handshake; no greeting ever comes. */
static void
test_smtp_silent_server_times_out(void **state)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;
	struct timespec		 t0, t1;
	double			 el;
	int			 fd;

	(void)state;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);

	cfg_smtp(&cfg, ntohs(sin.sin_port));
	cfg.smtp_timeout_s = 2;
	msg_init(&m);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_TEMPORARY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	el = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(el >= 1.5);
	assert_true(el < 6.0);
	assert_non_null(r.error);
	assert_non_null(strstr(r.error, "timed out"));
	mail_result_free(&r);
	close(fd);
}

/* The same against smtpd.py --silent, which the runner tests use. */
static void
test_smtp_silent_smtpd(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;

	(void)state;
	server_start("--silent", NULL);
	cfg_smtp(&cfg, srv.port);
	cfg.smtp_timeout_s = 1;
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_TEMPORARY);
	mail_result_free(&r);
}

static void
test_smtp_bad_url_permanent(void **state)
{
	struct config		 cfg;
	struct mail_message	 m;
	struct mail_result	 r;

	(void)state;
	cfg_smtp(&cfg, 25);
	snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "http://127.0.0.1:1/");
	msg_init(&m);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(strstr(r.error, "smtp_url"));
	mail_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_smtp_delivery, teardown),
		cmocka_unit_test_teardown(test_smtp_4xx_temporary_then_ok,
		    teardown),
		cmocka_unit_test_teardown(test_smtp_4xx_at_rcpt, teardown),
		cmocka_unit_test_teardown(test_smtp_5xx_permanent, teardown),
		cmocka_unit_test_teardown(test_smtp_5xx_at_mail_from, teardown),
		cmocka_unit_test_teardown(test_smtp_auth, teardown),
		cmocka_unit_test_teardown(test_smtp_starttls_unverified_cert,
		    teardown),
		cmocka_unit_test_teardown(test_smtp_connection_refused,
		    teardown),
		cmocka_unit_test_teardown(test_smtp_silent_server_times_out,
		    teardown),
		cmocka_unit_test_teardown(test_smtp_silent_smtpd, teardown),
		cmocka_unit_test_teardown(test_smtp_bad_url_permanent,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_init("test_mail_smtp", LOG_LEVEL_ERROR);
	if (!mail_global_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
