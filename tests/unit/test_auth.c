/*
 * Unit tests of taskq-api's access decisions (fcgi/auth.c) on in-memory
 * FastCGI requests (tests/fuzz/fuzz_fcgi.c): bearer tokens, read-only
 * tokens, and the refusal of cross-site changes (Sec-Fetch-Site, Origin,
 * form-sendable POSTs without X-Requested-With); and the auth_tokens key.
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/config.h"
#include "../fuzz/fuzz_fcgi.h"
#include "log.h"
#include "sha256.h"

static struct fake_fcgi	 fake;

static int
setup(void **state)
{
	(void)state;
	log_init("test_auth", LOG_LEVEL_ERROR);
	return fake_init(&fake) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fake_free(&fake);
	return 0;
}

static void
digest_hex(const char *token, char hex[SHA256_HEX_LEN + 1])
{
	struct sha256	 ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, token, strlen(token));
	sha256_final_hex(&ctx, hex);
}

/*
 * Runs auth_request on a request with these parameters (NULL-terminated
 * name, value pairs); returns the status it answered, 0 if it let the
 * request through.
 */
static int
decide(const char *method, enum route route, ...)
{
	va_list		 ap;
	const char	*name, *value;

	fake_request(&fake, method, "/api/x", NULL, 0);
	fake.r.route = route;
	va_start(ap, route);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		fake_param(&fake, name, value);
	}
	va_end(ap);
	fake_param(&fake, "HTTP_HOST", "taskq.example.org:8080");
	if (auth_request(&fake.r) == 0) {
		assert_int_equal(fake.r.status, 0);
		return 0;
	}
	assert_int_not_equal(fake.r.status, 0);
	return fake.r.status;
}

static bool
header_has(const char *text)
{
	return fake.w.xhdr.p != NULL && strstr(fake.w.xhdr.p, text) != NULL;
}

static void
test_cross_site_changes_refused(void **state)
{
	(void)state;
	assert_int_equal(auth_init(&config_defaults), 0);

	/* Reads are never refused for where they come from. */
	assert_int_equal(decide("GET", ROUTE_TASK_LIST, "HTTP_SEC_FETCH_SITE",
	    "cross-site", "HTTP_ORIGIN", "https://evil.example", NULL), 0);

	/* Sec-Fetch-Site: only same-origin and none (typed, bookmarked). */
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_SEC_FETCH_SITE",
	    "cross-site", NULL), 403);
	assert_int_equal(decide("DELETE", ROUTE_TASK_CANCEL, "HTTP_SEC_FETCH_SITE",
	    "same-site", NULL), 403);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_SEC_FETCH_SITE",
	    "same-origin", "CONTENT_TYPE", "application/json", NULL), 0);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_SEC_FETCH_SITE",
	    "none", NULL), 0);

	/* Origin must be this Host. */
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_ORIGIN",
	    "http://taskq.example.org:8080", NULL), 0);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_ORIGIN",
	    "http://TASKQ.example.org:8080", NULL), 0);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_ORIGIN",
	    "https://evil.example", NULL), 403);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_ORIGIN",
	    "http://taskq.example.org:8080.evil.example", NULL), 403);
	assert_int_equal(decide("DELETE", ROUTE_TASK_CANCEL, "HTTP_ORIGIN",
	    "null", NULL), 403);
	fake_check_response(&fake, (const int[]){ 403, 0 });
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_ORIGIN",
	    "http://taskq.example.org:9090", NULL), 403);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_ORIGIN",
	    "http://taskq.example.org", NULL), 403);
	fake_end(&fake);
}

/* Debian's nginx passes Host without its port ($host): the name decides. */
static void
test_origin_against_host_without_port(void **state)
{
	(void)state;
	assert_int_equal(auth_init(&config_defaults), 0);
	fake_request(&fake, "POST", "/api/tasks/submit", NULL, 0);
	fake.r.route = ROUTE_TASK_SUBMIT;
	fake_param(&fake, "HTTP_HOST", "127.0.0.1");
	fake_param(&fake, "HTTP_ORIGIN", "http://127.0.0.1:8080");
	assert_int_equal(auth_request(&fake.r), 0);

	fake_request(&fake, "POST", "/api/tasks/submit", NULL, 0);
	fake.r.route = ROUTE_TASK_SUBMIT;
	fake_param(&fake, "HTTP_HOST", "[::1]");
	fake_param(&fake, "HTTP_ORIGIN", "http://[::1]:8080");
	assert_int_equal(auth_request(&fake.r), 0);

	fake_request(&fake, "POST", "/api/tasks/submit", NULL, 0);
	fake.r.route = ROUTE_TASK_SUBMIT;
	fake_param(&fake, "HTTP_HOST", "127.0.0.1");
	fake_param(&fake, "HTTP_ORIGIN", "http://127.0.0.2:8080");
	assert_int_equal(auth_request(&fake.r), -1);
	assert_int_equal(fake.r.status, 403);

	/* Found by test_security.py: what follows the last ':' is a port
	 * only if it is digits. */
	fake_request(&fake, "POST", "/api/tasks/submit", NULL, 0);
	fake.r.route = ROUTE_TASK_SUBMIT;
	fake_param(&fake, "HTTP_HOST", "127.0.0.1");
	fake_param(&fake, "HTTP_ORIGIN", "http://127.0.0.1:8080.evil.example");
	assert_int_equal(auth_request(&fake.r), -1);
	assert_int_equal(fake.r.status, 403);

	fake_request(&fake, "POST", "/api/tasks/submit", NULL, 0);
	fake.r.route = ROUTE_TASK_SUBMIT;
	fake_param(&fake, "HTTP_HOST", "example.org:443");
	fake_param(&fake, "HTTP_ORIGIN", "https://example.org");
	assert_int_equal(auth_request(&fake.r), 0);
	fake_end(&fake);
}

static void
test_form_sendable_posts_need_the_header(void **state)
{
	(void)state;
	assert_int_equal(auth_init(&config_defaults), 0);

	/* Bodyless POSTs a form could send: retry, pause, resume. */
	assert_int_equal(decide("POST", ROUTE_TASK_RETRY, NULL), 403);
	assert_int_equal(decide("POST", ROUTE_TYPE_PAUSE, "CONTENT_TYPE",
	    "text/plain", NULL), 403);
	assert_int_equal(decide("POST", ROUTE_TYPE_RESUME, "CONTENT_TYPE",
	    "application/x-www-form-urlencoded", NULL), 403);
	assert_int_equal(decide("POST", ROUTE_TASK_RETRY,
	    "HTTP_X_REQUESTED_WITH", "taskq", NULL), 0);
	assert_int_equal(decide("POST", ROUTE_TYPE_PAUSE, "CONTENT_TYPE",
	    "application/json", NULL), 0);

	/* Uploads: multipart (a form's) needs it; raw bytes do not. */
	assert_int_equal(decide("POST", ROUTE_FILE_UPLOAD, "CONTENT_TYPE",
	    "multipart/form-data; boundary=x", NULL), 403);
	assert_int_equal(decide("POST", ROUTE_FILE_UPLOAD, "CONTENT_TYPE",
	    "multipart/form-data; boundary=x", "HTTP_X_REQUESTED_WITH", "taskq",
	    NULL), 0);
	assert_int_equal(decide("POST", ROUTE_FILE_UPLOAD, "CONTENT_TYPE",
	    "application/octet-stream", "HTTP_X_FILENAME", "a.bin", NULL), 0);
	/* Form-urlencoded is the handler's 415, not a 403. */
	assert_int_equal(decide("POST", ROUTE_FILE_UPLOAD, "CONTENT_TYPE",
	    "application/x-www-form-urlencoded", NULL), 0);

	/* JSON-only routes are left to their handler's 415. */
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "CONTENT_TYPE",
	    "text/plain", NULL), 0);
	/* DELETE cannot come from a form or a simple fetch. */
	assert_int_equal(decide("DELETE", ROUTE_TASK_CANCEL, NULL), 0);
	fake_end(&fake);
}

static void
test_bearer_tokens(void **state)
{
	struct config	 cfg = config_defaults;
	char		 rw[SHA256_HEX_LEN + 1], ro[SHA256_HEX_LEN + 1], err[256];
	char		 value[300];

	(void)state;
	digest_hex("s3cret-operator", rw);
	digest_hex("viewer-token", ro);
	snprintf(value, sizeof(value), "%s, %s:ro", rw, ro);
	assert_true(config_set(&cfg, "auth_tokens", value, err, sizeof(err)));
	assert_int_equal(auth_init(&cfg), 0);

	/* Without a token, or with another scheme: 401 and the challenge. */
	assert_int_equal(decide("GET", ROUTE_STATS, NULL), 401);
	assert_true(header_has("WWW-Authenticate: Bearer realm=\"taskq\""));
	fake_check_response(&fake, (const int[]){ 401, 0 });
	assert_int_equal(decide("GET", ROUTE_STATS, "HTTP_AUTHORIZATION",
	    "Basic dXNlcjpwYXNz", NULL), 401);
	assert_int_equal(decide("GET", ROUTE_STATS, "HTTP_AUTHORIZATION",
	    "Bearer not-the-token", NULL), 401);
	assert_true(header_has("error=\"invalid_token\""));
	assert_int_equal(decide("GET", ROUTE_STATS, "HTTP_AUTHORIZATION",
	    "Bearer s3cret-operator x", NULL), 401);
	assert_int_equal(decide("GET", ROUTE_STATS, "HTTP_AUTHORIZATION",
	    "Bearer ", NULL), 401);

	/* The operator's token: everything. */
	assert_int_equal(decide("GET", ROUTE_STATS, "HTTP_AUTHORIZATION",
	    "Bearer s3cret-operator", NULL), 0);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_AUTHORIZATION",
	    "bearer s3cret-operator", NULL), 0);
	assert_int_equal(decide("DELETE", ROUTE_TASK_CANCEL, "HTTP_AUTHORIZATION",
	    "Bearer s3cret-operator", NULL), 0);

	/* The viewer's token: reads only. */
	assert_int_equal(decide("GET", ROUTE_TASK_LIST, "HTTP_AUTHORIZATION",
	    "Bearer viewer-token", NULL), 0);
	assert_int_equal(decide("HEAD", ROUTE_FILE_GET, "HTTP_AUTHORIZATION",
	    "Bearer viewer-token", NULL), 0);
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_AUTHORIZATION",
	    "Bearer viewer-token", NULL), 403);
	fake_check_response(&fake, (const int[]){ 403, 0 });
	assert_int_equal(decide("DELETE", ROUTE_TASK_CANCEL, "HTTP_AUTHORIZATION",
	    "Bearer viewer-token", NULL), 403);

	/* A valid token does not excuse a cross-site change. */
	assert_int_equal(decide("POST", ROUTE_TASK_SUBMIT, "HTTP_AUTHORIZATION",
	    "Bearer s3cret-operator", "HTTP_ORIGIN", "https://evil.example",
	    NULL), 403);

	assert_int_equal(auth_init(&config_defaults), 0);
	fake_end(&fake);
}

static void
test_auth_tokens_key(void **state)
{
	struct config	 cfg = config_defaults;
	char		 hex[SHA256_HEX_LEN + 1], err[256], value[400];

	(void)state;
	digest_hex("t", hex);
	assert_true(config_set(&cfg, "auth_tokens", "", err, sizeof(err)));
	assert_true(config_set(&cfg, "auth_tokens", hex, err, sizeof(err)));
	snprintf(value, sizeof(value), "%s:rw ,%s:ro", hex, hex);
	assert_true(config_set(&cfg, "auth_tokens", value, err, sizeof(err)));
	/* Not a digest: the token itself must never be in the file. */
	assert_false(config_set(&cfg, "auth_tokens", "s3cret", err, sizeof(err)));
	assert_non_null(strstr(err, "SHA-256"));
	snprintf(value, sizeof(value), "%s:admin", hex);
	assert_false(config_set(&cfg, "auth_tokens", value, err, sizeof(err)));
	snprintf(value, sizeof(value), "%s,,%s", hex, hex);
	assert_false(config_set(&cfg, "auth_tokens", value, err, sizeof(err)));
	snprintf(value, sizeof(value), "%s,", hex);
	assert_false(config_set(&cfg, "auth_tokens", value, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cross_site_changes_refused),
		cmocka_unit_test(test_origin_against_host_without_port),
		cmocka_unit_test(test_form_sendable_posts_need_the_header),
		cmocka_unit_test(test_bearer_tokens),
		cmocka_unit_test(test_auth_tokens_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
