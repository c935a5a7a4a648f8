/*
 * Unit tests of lib/task.c: status names, RFC 3339 parsing and formatting,
 * and task ids.
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "task.h"

static void
test_status_names_round_trip(void **state)
{
	int	 i;

	(void)state;
	for (i = 0; i < TASK_STATUS__MAX; i++) {
		assert_non_null(task_status_names[i]);
		assert_int_equal(task_status_parse(task_status_names[i]), i);
	}
	assert_string_equal(task_status_names[TASK_PENDING], "PENDING");
	assert_string_equal(task_status_names[TASK_RUNNING], "RUNNING");
	assert_string_equal(task_status_names[TASK_SUCCESS], "SUCCESS");
	assert_string_equal(task_status_names[TASK_FAILED], "FAILED");
	assert_string_equal(task_status_names[TASK_CANCELLED], "CANCELLED");
}

static void
test_status_parse_rejects_inexact(void **state)
{
	(void)state;
	assert_int_equal(task_status_parse(NULL), -1);
	assert_int_equal(task_status_parse(""), -1);
	assert_int_equal(task_status_parse("success"), -1);
	assert_int_equal(task_status_parse("SUCCESS "), -1);
	assert_int_equal(task_status_parse(" SUCCESS"), -1);
	assert_int_equal(task_status_parse("SUCCES"), -1);
	assert_int_equal(task_status_parse("CANCELED"), -1);
}

static void
test_status_list_parse(void **state)
{
	unsigned	 mask;
	char		 bad[40];

	(void)state;
	mask = 0;
	assert_true(task_status_list_parse("PENDING", &mask, bad, sizeof(bad)));
	assert_int_equal(mask, 1u << TASK_PENDING);
	assert_true(task_status_list_parse("SUCCESS,FAILED,SUCCESS", &mask,
	    bad, sizeof(bad)));
	assert_int_equal(mask, (1u << TASK_PENDING) | (1u << TASK_SUCCESS) |
	    (1u << TASK_FAILED));
	assert_false(task_status_list_parse("PENDING,DONE", &mask, bad,
	    sizeof(bad)));
	assert_string_equal(bad, "DONE");
	assert_false(task_status_list_parse("PENDING,", &mask, bad, sizeof(bad)));
	assert_string_equal(bad, "");
	assert_false(task_status_list_parse("", &mask, bad, sizeof(bad)));
	assert_string_equal(bad, "");
	assert_false(task_status_list_parse("pending", &mask, bad, sizeof(bad)));
	assert_string_equal(bad, "pending");
	assert_false(task_status_list_parse("SUCCESSSUCCESSSUCCESSSUCCESSSUCCESS"
	    "SUCCESS", &mask, bad, sizeof(bad)));
	assert_int_equal(strlen(bad), 32);
}

static void
test_task_free_null_and_full(void **state)
{
	struct task	*t;

	(void)state;
	task_free(NULL);
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->task_type = strdup("echo");
	t->parameters = strdup("{}");
	t->result_data = strdup("{\"a\":1}");
	t->error_message = strdup("boom");
	t->worker_output = strdup("stderr");
	t->claim_owner = strdup("runner-1");
	task_free(t);	/* valgrind and ASan prove every field is released */
}

static void
test_time_now_is_recent(void **state)
{
	int64_t	 a, b;

	(void)state;
	a = time_now_ms();
	b = time_now_ms();
	/* After 2020-01-01 and before 2100-01-01; monotone enough in a test. */
	assert_true(a > 1577836800000LL);
	assert_true(a < 4102444800000LL);
	assert_true(b >= a);
}

static void
test_format_examples(void **state)
{
	char	 buf[TIME_RFC3339_LEN + 1];

	(void)state;
	time_format_rfc3339(1795918200123LL, buf);
	assert_string_equal(buf, "2026-11-29T02:10:00.123Z");
	time_format_rfc3339(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	time_format_rfc3339(-1, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	time_format_rfc3339(951782400000LL, buf);
	assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
	assert_int_equal(strlen(buf), TIME_RFC3339_LEN);
}

static void
test_format_clamps_out_of_range(void **state)
{
	char	 buf[TIME_RFC3339_LEN + 8];

	(void)state;
	/* Sentinels after the NUL prove nothing is written past the length. */
	memset(buf, 'X', sizeof(buf));
	time_format_rfc3339(INT64_MAX, buf);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	assert_int_equal(buf[TIME_RFC3339_LEN + 1], 'X');
	memset(buf, 'X', sizeof(buf));
	time_format_rfc3339(INT64_MIN, buf);
	assert_string_equal(buf, "0000-01-01T00:00:00.000Z");
	assert_int_equal(buf[TIME_RFC3339_LEN + 1], 'X');
}

static void
assert_parses(const char *s, int64_t want)
{
	int64_t	 ms = 42;

	if (!time_parse_rfc3339(s, &ms))
		fail_msg("\"%s\" refused", s);
	if (ms != want)
		fail_msg("\"%s\": got %lld, want %lld", s,
		    (long long)ms, (long long)want);
}

static void
assert_refused(const char *s)
{
	int64_t	 ms = 42;

	if (time_parse_rfc3339(s, &ms))
		fail_msg("\"%s\" accepted as %lld", s, (long long)ms);
	assert_int_equal(ms, 42);	/* untouched on failure */
}

static void
test_parse_valid(void **state)
{
	(void)state;
	assert_parses("2026-11-29T02:10:00.123Z", 1795918200123LL);
	assert_parses("2026-11-29T02:10:00Z", 1795918200000LL);
	assert_parses("2026-11-29t02:10:00z", 1795918200000LL);
	assert_parses("1970-01-01T00:00:00Z", 0);
	assert_parses("1969-12-31T23:59:59.999Z", -1);
	/* Fractions: short ones scale, long ones truncate (never round up). */
	assert_parses("2026-11-29T02:10:00.1Z", 1795918200100LL);
	assert_parses("2026-11-29T02:10:00.12Z", 1795918200120LL);
	assert_parses("2026-11-29T02:10:00.123999999Z", 1795918200123LL);
	assert_parses("2026-11-29T02:10:00.9999999999999999999999Z",
	    1795918200999LL);
	/* Offsets move the instant the other way. */
	assert_parses("2026-11-29T03:10:00.123+01:00", 1795918200123LL);
	assert_parses("2026-11-28T21:40:00.123-04:30", 1795918200123LL);
	assert_parses("2026-11-29T02:10:00.123-00:00", 1795918200123LL);
	assert_parses("2026-11-30T02:09:00.123+23:59", 1795918200123LL);
	/* Leap days. */
	assert_parses("2024-02-29T00:00:00Z", 1709164800000LL);
	assert_parses("2000-02-29T00:00:00Z", 951782400000LL);
	/* Range ends of the four-digit year. */
	assert_parses("0000-01-01T00:00:00Z", -62167219200000LL);
	assert_parses("9999-12-31T23:59:59.999Z", 253402300799999LL);
	/* A leap second at the end of a UTC day, in UTC or with an offset. */
	assert_parses("2016-12-31T23:59:60Z", 1483228799999LL);
	assert_parses("2016-12-31T22:59:60-01:00", 1483228799999LL);
}

static void
test_parse_invalid_dates(void **state)
{
	(void)state;
	assert_refused("2026-02-29T00:00:00Z");	/* not a leap year */
	assert_refused("1900-02-29T00:00:00Z");	/* century, not leap */
	assert_refused("2026-02-30T00:00:00Z");
	assert_refused("2026-04-31T00:00:00Z");
	assert_refused("2026-13-01T00:00:00Z");
	assert_refused("2026-00-01T00:00:00Z");
	assert_refused("2026-01-00T00:00:00Z");
	assert_refused("2026-01-32T00:00:00Z");
}

static void
test_parse_invalid_times(void **state)
{
	(void)state;
	assert_refused("2026-11-29T24:00:00Z");
	assert_refused("2026-11-29T23:60:00Z");
	assert_refused("2026-11-29T23:59:61Z");
	assert_refused("2026-11-29T12:00:60Z");	/* not a leap-second slot */
	assert_refused("2016-12-31T22:59:60Z");
	assert_refused("2026-11-29T02:10:00+24:00");
	assert_refused("2026-11-29T02:10:00+01:60");
	assert_refused("2026-11-29T02:10:00+0100");
	assert_refused("2026-11-29T02:10:00+01");
}

static void
test_parse_invalid_syntax(void **state)
{
	(void)state;
	assert_refused(NULL);
	assert_refused("");
	assert_refused("garbage");
	assert_refused("2026-11-29T02:10:00");		/* missing zone */
	assert_refused("2026-11-29 02:10:00Z");		/* space separator */
	assert_refused("2026-11-29");
	assert_refused("2026-11-29T02:10Z");
	assert_refused("2026-11-29T02:10:00.Z");	/* empty fraction */
	assert_refused("2026-11-29T02:10:00,5Z");
	assert_refused("2026-11-29T02:10:00ZZ");	/* trailing text */
	assert_refused("2026-11-29T02:10:00Z ");
	assert_refused(" 2026-11-29T02:10:00Z");
	assert_refused("2026-1-29T02:10:00Z");
	assert_refused("26-11-29T02:10:00Z");
	assert_refused("+2026-11-29T02:10:00Z");
	assert_refused("2026-11-29T2:10:00Z");
	assert_refused("2026/11/29T02:10:00Z");
	assert_refused("2026-11-29T02:10:00UTC");
	assert_refused("2026-11-29T02:10:00-");
	assert_refused("2026-11-29T0\xc3\xa9:10:00Z");
}

static void
test_parse_overflow(void **state)
{
	(void)state;
	/* Larger years and numbers that would overflow an int are refused. */
	assert_refused("10000-01-01T00:00:00Z");
	assert_refused("99999999999999999999-01-01T00:00:00Z");
	assert_refused("2026-11-29T99999999999999999999:00:00Z");
	assert_refused("2026-11-29T02:10:00+99999999999:00");
	assert_refused("-0001-01-01T00:00:00Z");
}

static void
test_time_round_trip(void **state)
{
	static const int64_t	 samples[] = {
		0, -1, 1, 999, 1000, 86399999, 86400000,
		951782400000LL, 1709164800000LL, 1795918200123LL,
		-62167219200000LL, 253402300799999LL, -2208988800001LL,
	};
	char			 buf[TIME_RFC3339_LEN + 1];
	int64_t			 ms, step;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		time_format_rfc3339(samples[i], buf);
		assert_true(time_parse_rfc3339(buf, &ms));
		assert_int_equal(ms, samples[i]);
	}
	/* A walk over four centuries in irregular steps hits every month end. */
	step = 86400000LL * 13 + 3600000LL * 7 + 61001;
	for (ms = -2208988800000LL; ms < 10413792000000LL; ms += step) {
		int64_t	 back = 0;

		time_format_rfc3339(ms, buf);
		assert_true(time_parse_rfc3339(buf, &back));
		assert_int_equal(back, ms);
	}
	/* Text in canonical form survives the reverse trip too. */
	assert_true(time_parse_rfc3339("2024-02-29T23:59:59.999Z", &ms));
	time_format_rfc3339(ms, buf);
	assert_string_equal(buf, "2024-02-29T23:59:59.999Z");
}

static bool
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void
test_id_generate(void **state)
{
	char	 a[TASK_ID_LEN + 1], b[TASK_ID_LEN + 1], n[TASK_ID_LEN + 1];
	size_t	 i;

	(void)state;
	task_id_generate(a);
	task_id_generate(b);
	assert_int_equal(strlen(a), TASK_ID_LEN);
	assert_string_not_equal(a, b);
	for (i = 0; i < TASK_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(a[i], '-');
		else
			assert_true(is_lower_hex(a[i]));
	}
	assert_int_equal(a[14], '4');				/* version 4 */
	assert_non_null(strchr("89ab", a[19]));			/* RFC 4122 variant */
	assert_true(task_id_normalize(a, n));
	assert_string_equal(n, a);
}

static void
test_id_normalize(void **state)
{
	char	 out[TASK_ID_LEN + 1];
	char	 in[TASK_ID_LEN + 1] = "0B6F4A7E-3C2D-4F5E-9A1B-2C3D4E5F6A7B";

	(void)state;
	assert_true(task_id_normalize(in, out));
	assert_string_equal(out, "0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b");
	assert_true(task_id_normalize("0b6f4a7e-3c2d-4f5e-9A1B-2c3d4e5f6a7b",
	    out));
	assert_string_equal(out, "0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b");
	/* In place. */
	assert_true(task_id_normalize(in, in));
	assert_string_equal(in, "0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b");
}

static void
test_id_normalize_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7",		/* 35 */
		"0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b0",	/* 37 */
		"0b6f4a7e3c2d4f5e9a1b2c3d4e5f6a7b",		/* no hyphens */
		"{0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b}",
		"urn:uuid:0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b",
		"0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7g",		/* not hex */
		"0b6f4a7e-3c2d4-f5e-9a1b-2c3d4e5f6a7b",		/* hyphen moved */
		"0b6f4a7e 3c2d-4f5e-9a1b-2c3d4e5f6a7b",
		" 0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7",
		"0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7\xc3\xa9",
		"not-a-uuid",
	};
	char	 out[TASK_ID_LEN + 1] = "untouched";
	size_t	 i;

	(void)state;
	assert_false(task_id_normalize(NULL, out));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (task_id_normalize(bad[i], out))
			fail_msg("accepted \"%s\"", bad[i]);
	assert_string_equal(out, "untouched");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names_round_trip),
		cmocka_unit_test(test_status_parse_rejects_inexact),
		cmocka_unit_test(test_status_list_parse),
		cmocka_unit_test(test_task_free_null_and_full),
		cmocka_unit_test(test_time_now_is_recent),
		cmocka_unit_test(test_format_examples),
		cmocka_unit_test(test_format_clamps_out_of_range),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid_dates),
		cmocka_unit_test(test_parse_invalid_times),
		cmocka_unit_test(test_parse_invalid_syntax),
		cmocka_unit_test(test_parse_overflow),
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test(test_id_generate),
		cmocka_unit_test(test_id_normalize),
		cmocka_unit_test(test_id_normalize_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
