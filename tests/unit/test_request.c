/*
 * Unit tests of taskq-api's request reading (fcgi/request.c) on an
 * in-memory FastCGI request (tests/fuzz/fuzz_fcgi.c): the query-string
 * parser and the JSON body checks, with the inputs the fuzzers found.
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../lib/config.h"
#include "../fuzz/fuzz_fcgi.h"
#include "log.h"

static struct fake_fcgi	 fake;

static int
setup(void **state)
{
	(void)state;
	log_init("test_request", LOG_LEVEL_ERROR);
	return fake_init(&fake) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fake_free(&fake);
	return 0;
}

/* req_query on qs with the listing's parameters; returns its result. */
static int
query(const char *qs, struct qparam *ps, size_t n)
{
	int	 rc;

	fake_request(&fake, "GET", "/api/tasks", NULL, 0);
	fake_param(&fake, "QUERY_STRING", qs);
	rc = req_query(&fake.r, ps, n);
	return rc;
}

/*
 * fuzz_query's first find: a name without '=' ("?q") made pct_decode
 * write the terminating NUL into a string literal, and taskq-api died of
 * SIGSEGV on GET /api/tasks?q.  It is now the parameter with an empty
 * value.
 */
static void
test_query_name_without_value(void **state)
{
	struct qparam	 ps[] = { { "q", NULL }, { "limit", NULL }, { "status", NULL } };

	(void)state;
	assert_int_equal(query("q", ps, 3), 0);
	assert_int_equal(fake.r.status, 0);
	assert_non_null(ps[0].value);
	assert_string_equal(ps[0].value, "");
	assert_null(ps[1].value);

	assert_int_equal(query("q&limit&status=SUCCESS", ps, 3), 0);
	assert_string_equal(ps[0].value, "");
	assert_string_equal(ps[1].value, "");
	assert_string_equal(ps[2].value, "SUCCESS");

	/* A %-escaped name without a value: decoded in place, value empty. */
	assert_int_equal(query("%71", ps, 3), 0);
	assert_string_equal(ps[0].value, "");
	fake_end(&fake);
}

static void
test_query_malformed(void **state)
{
	static const int	 only422[] = { 422, 0 };
	struct qparam		 ps[] = { { "q", NULL }, { "limit", NULL } };

	(void)state;
	assert_int_equal(query("q=%zz", ps, 2), -1);
	fake_check_response(&fake, only422);
	assert_int_equal(query("q=a&q=b", ps, 2), -1);
	fake_check_response(&fake, only422);
	assert_int_equal(query("nope", ps, 2), -1);
	fake_check_response(&fake, only422);
	assert_int_equal(query("q=%c3", ps, 2), -1);	/* not UTF-8 */
	fake_check_response(&fake, only422);
	assert_int_equal(query("q=a%00b", ps, 2), -1);	/* a NUL */
	fake_check_response(&fake, only422);
	/* No parameter allowed (every route but the listing). */
	assert_int_equal(query("&&", NULL, 0), 0);
	assert_int_equal(query("x", NULL, 0), -1);
	fake_check_response(&fake, only422);
	fake_end(&fake);
}

/* A JSON body through req_json_body; returns its result. */
static int
body(const char *ct, const char *text, struct json_object **out)
{
	fake_request(&fake, "POST", "/api/tasks/submit", text, strlen(text));
	fake_param(&fake, "CONTENT_TYPE", ct);
	return req_json_body(&fake.r, out);
}

static void
test_json_body_checks(void **state)
{
	static const int	 only400[] = { 400, 0 };
	static const int	 only415[] = { 415, 0 };
	struct json_object	*v = NULL;

	(void)state;
	assert_int_equal(body("application/json", "{\"a\": \"\\ud83d\\ude00\"}", &v), 0);
	assert_non_null(v);
	json_object_put(v);
	assert_int_equal(body("application/json", "{\"a\": \"\\ud800\"}", &v), -1);
	fake_check_response(&fake, only400);
	assert_int_equal(body("application/json", "{\"a\": 1} x", &v), -1);
	fake_check_response(&fake, only400);
	assert_int_equal(body("application/json", "[1]", &v), -1);
	fake_check_response(&fake, only400);
	assert_int_equal(body("application/json", "{\"a\": \"\xc3\"}", &v), -1);
	fake_check_response(&fake, only400);
	assert_int_equal(body("text/plain", "{}", &v), -1);
	fake_check_response(&fake, only415);
	fake_end(&fake);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_name_without_value),
		cmocka_unit_test(test_query_malformed),
		cmocka_unit_test(test_json_body_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
