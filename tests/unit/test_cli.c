/*
 * Unit tests of the taskq command line (cli/args.c): global and per-command
 * options, operand counts, filters, durations, and the key=value values of
 * submit (JSON literal when the whole text is one, else a string).
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cli.h"
#include "task.h"

#define ARGC(v)	((int)(sizeof(v) / sizeof((v)[0])) - 1)

static char	 err[512];

/* Parses a NULL-terminated vector (copied: getopt permutes argv). */
static bool
parse(char **v, struct cli_args *a)
{
	int	 n = 0;

	while (v[n] != NULL)
		n++;
	return cli_parse(n, v, a, err, sizeof(err));
}

static void
test_global_options(void **state)
{
	char *v[] = { "taskq", "-f", "/etc/x.conf", "-d", "/tmp/q.db", "-j",
	    "stats", NULL };
	struct cli_args a;

	(void)state;
	assert_true(parse(v, &a));
	assert_string_equal(a.config_path, "/etc/x.conf");
	assert_string_equal(a.database, "/tmp/q.db");
	assert_true(a.json);
	assert_int_equal(a.cmd, CMD_STATS);
	assert_null(a.operand);
	cli_args_free(&a);
}

static void
test_json_after_command(void **state)
{
	char *v[] = { "taskq", "list", "--json", NULL };
	struct cli_args a;

	(void)state;
	assert_true(parse(v, &a));
	assert_true(a.json);
	assert_int_equal(a.limit, CLI_LIST_DEFAULT);
	cli_args_free(&a);
}

static void
test_help(void **state)
{
	char *v1[] = { "taskq", "-h", NULL };
	char *v2[] = { "taskq", "list", "--help", NULL };
	struct cli_args a;

	(void)state;
	assert_true(parse(v1, &a));
	assert_true(a.help);
	cli_args_free(&a);
	assert_true(parse(v2, &a));
	assert_true(a.help);
	cli_args_free(&a);
}

static void
test_no_or_unknown_command(void **state)
{
	char *v1[] = { "taskq", NULL };
	char *v2[] = { "taskq", "frobnicate", NULL };
	char *v3[] = { "taskq", "-x", "list", NULL };
	struct cli_args a;

	(void)state;
	assert_false(parse(v1, &a));
	assert_string_equal(err, "no command given");
	cli_args_free(&a);
	assert_false(parse(v2, &a));
	assert_string_equal(err, "unknown command 'frobnicate'");
	cli_args_free(&a);
	assert_false(parse(v3, &a));
	assert_string_equal(err, "taskq: unknown option -x");
	cli_args_free(&a);
}

static void
test_missing_option_value(void **state)
{
	char *v1[] = { "taskq", "-d", NULL };
	char *v2[] = { "taskq", "list", "--status", NULL };
	struct cli_args a;

	(void)state;
	assert_false(parse(v1, &a));
	assert_string_equal(err, "taskq: option -d needs a value");
	cli_args_free(&a);
	assert_false(parse(v2, &a));
	assert_string_equal(err, "list: option --status needs a value");
	cli_args_free(&a);
}

static void
test_list_filters(void **state)
{
	char *v[] = { "taskq", "list", "--status", "FAILED,CANCELLED", "-t",
	    "echo,email", "--q", "smtp timeout", "--limit", "700", NULL };
	struct cli_args a;

	(void)state;
	assert_true(parse(v, &a));
	assert_int_equal(a.cmd, CMD_LIST);
	assert_int_equal(a.status_mask,
	    (1u << TASK_FAILED) | (1u << TASK_CANCELLED));
	assert_int_equal(a.ntypes, 2);
	assert_string_equal(a.types[0], "echo");
	assert_string_equal(a.types[1], "email");
	assert_string_equal(a.q, "smtp timeout");
	assert_int_equal(a.limit, 700);
	cli_args_free(&a);
}

static void
test_list_bad_filters(void **state)
{
	char *v1[] = { "taskq", "list", "-s", "DONE", NULL };
	char *v2[] = { "taskq", "list", "-s", "SUCCESS,", NULL };
	char *v3[] = { "taskq", "list", "-t", "echo,,email", NULL };
	char *v4[] = { "taskq", "list", "-n", "0", NULL };
	char *v5[] = { "taskq", "list", "-n", "100001", NULL };
	char *v6[] = { "taskq", "list", "-n", "5x", NULL };
	char *v7[] = { "taskq", "list", "-s", "success", NULL };
	struct cli_args a;

	(void)state;
	assert_false(parse(v1, &a));
	assert_non_null(strstr(err, "unknown status 'DONE'"));
	cli_args_free(&a);
	assert_false(parse(v2, &a));
	cli_args_free(&a);
	assert_false(parse(v3, &a));
	assert_non_null(strstr(err, "empty type name"));
	cli_args_free(&a);
	assert_false(parse(v4, &a));
	cli_args_free(&a);
	assert_false(parse(v5, &a));
	cli_args_free(&a);
	assert_false(parse(v6, &a));
	cli_args_free(&a);
	/* Status values are exact, as in the API. */
	assert_false(parse(v7, &a));
	cli_args_free(&a);
}

static void
test_option_of_other_command(void **state)
{
	char *v1[] = { "taskq", "show", "--status", "FAILED", "x", NULL };
	char *v2[] = { "taskq", "list", "--older-than", "3d", NULL };
	struct cli_args a;

	(void)state;
	assert_false(parse(v1, &a));
	assert_string_equal(err, "show: option --status does not apply");
	cli_args_free(&a);
	assert_false(parse(v2, &a));
	assert_string_equal(err, "list: option --older-than does not apply");
	cli_args_free(&a);
}

static void
test_operand_counts(void **state)
{
	char *v1[] = { "taskq", "show", NULL };
	char *v2[] = { "taskq", "cancel", "a", "b", NULL };
	char *v3[] = { "taskq", "stats", "extra", NULL };
	char *v4[] = { "taskq", "backup", "/tmp/b.db", NULL };
	char *v5[] = { "taskq", "submit", NULL };
	char *v6[] = { "taskq", "retry", "", NULL };
	struct cli_args a;

	(void)state;
	assert_false(parse(v1, &a));
	assert_string_equal(err, "show: needs a task id");
	cli_args_free(&a);
	assert_false(parse(v2, &a));
	assert_string_equal(err, "cancel: unexpected argument 'b'");
	cli_args_free(&a);
	assert_false(parse(v3, &a));
	assert_string_equal(err, "stats: unexpected argument 'extra'");
	cli_args_free(&a);
	assert_true(parse(v4, &a));
	assert_int_equal(a.cmd, CMD_BACKUP);
	assert_string_equal(a.operand, "/tmp/b.db");
	cli_args_free(&a);
	assert_false(parse(v5, &a));
	assert_string_equal(err, "submit: needs a task type");
	cli_args_free(&a);
	assert_false(parse(v6, &a));
	assert_string_equal(err, "retry: empty argument");
	cli_args_free(&a);
}

static void
test_submit_options_and_params(void **state)
{
	char *v[] = { "taskq", "submit", "echo", "message=hi", "--priority",
	    "7", "delay_ms=5", "-a", "3", "-T", "60", "-r",
	    "2026-11-29T02:10:00Z", "-k", "key-1", NULL };
	struct cli_args a;
	int64_t want;

	(void)state;
	assert_true(parse(v, &a));
	assert_int_equal(a.cmd, CMD_SUBMIT);
	assert_string_equal(a.operand, "echo");
	assert_int_equal(a.nparams, 2);
	assert_string_equal(a.params[0], "message=hi");
	assert_string_equal(a.params[1], "delay_ms=5");
	assert_int_equal(a.priority, 7);
	assert_int_equal(a.max_attempts, 3);
	assert_int_equal(a.timeout_s, 60);
	assert_true(time_parse_rfc3339("2026-11-29T02:10:00Z", &want));
	assert_int_equal(a.run_at, want);
	assert_string_equal(a.idempotency_key, "key-1");
	cli_args_free(&a);
}

static void
test_submit_option_bounds(void **state)
{
	char *v1[] = { "taskq", "submit", "-p", "101", "echo", NULL };
	char *v2[] = { "taskq", "submit", "-a", "26", "echo", NULL };
	char *v3[] = { "taskq", "submit", "-T", "86401", "echo", NULL };
	char *v4[] = { "taskq", "submit", "-r", "tomorrow", "echo", NULL };
	char *v5[] = { "taskq", "submit", "-k", "bad\tkey", "echo", NULL };
	char *v6[] = { "taskq", "submit", "-p", "-100", "echo", NULL };
	struct cli_args a;

	(void)state;
	assert_false(parse(v1, &a));
	assert_non_null(strstr(err, "-100..100"));
	cli_args_free(&a);
	assert_false(parse(v2, &a));
	cli_args_free(&a);
	assert_false(parse(v3, &a));
	cli_args_free(&a);
	assert_false(parse(v4, &a));
	assert_non_null(strstr(err, "RFC 3339"));
	cli_args_free(&a);
	assert_false(parse(v5, &a));
	cli_args_free(&a);
	assert_true(parse(v6, &a));
	assert_int_equal(a.priority, -100);
	cli_args_free(&a);
}

static void
test_purge_needs_age(void **state)
{
	char *v1[] = { "taskq", "purge", NULL };
	char *v2[] = { "taskq", "purge", "--older-than", "30d", NULL };
	char *v3[] = { "taskq", "purge", "--older-than", "soon", NULL };
	struct cli_args a;

	(void)state;
	assert_false(parse(v1, &a));
	assert_string_equal(err, "purge: needs --older-than AGE");
	cli_args_free(&a);
	assert_true(parse(v2, &a));
	assert_int_equal(a.older_than_ms, 30LL * 86400000);
	cli_args_free(&a);
	assert_false(parse(v3, &a));
	cli_args_free(&a);
}

static void
test_durations(void **state)
{
	int64_t ms;

	(void)state;
	assert_true(cli_duration_parse("45s", &ms));
	assert_int_equal(ms, 45000);
	assert_true(cli_duration_parse("90m", &ms));
	assert_int_equal(ms, 90 * 60000);
	assert_true(cli_duration_parse("12h", &ms));
	assert_int_equal(ms, 12 * 3600000LL);
	assert_true(cli_duration_parse("2w", &ms));
	assert_int_equal(ms, 14 * 86400000LL);
	assert_true(cli_duration_parse("30", &ms));	/* days */
	assert_int_equal(ms, 30 * 86400000LL);
	assert_false(cli_duration_parse("0d", &ms));
	assert_false(cli_duration_parse("-3d", &ms));
	assert_false(cli_duration_parse("3dd", &ms));
	assert_false(cli_duration_parse("3y", &ms));
	assert_false(cli_duration_parse("d", &ms));
	assert_false(cli_duration_parse("", &ms));
	assert_false(cli_duration_parse("99999999999999999w", &ms));
}

/* Each value's JSON type after parsing, and its text. */
static void
test_values(void **state)
{
	static const struct {
		const char	*in;
		json_type	 type;
		const char	*json;
	} cases[] = {
		{ "hello", json_type_string, "\"hello\"" },
		{ "42", json_type_int, "42" },
		{ "-1.5", json_type_double, "-1.5" },
		{ "true", json_type_boolean, "true" },
		{ "false", json_type_boolean, "false" },
		{ "[\"a@example.org\",\"b@example.org\"]", json_type_array,
		  "[\"a@example.org\",\"b@example.org\"]" },
		{ "\"42\"", json_type_string, "\"42\"" },	/* forced string */
		{ "12abc", json_type_string, "\"12abc\"" },
		{ "tru", json_type_string, "\"tru\"" },
		{ "", json_type_string, "\"\"" },
		{ "hello world", json_type_string, "\"hello world\"" },
		{ "{\"a\":1} x", json_type_string, "\"{\\\"a\\\":1} x\"" },
	};
	struct json_object	*v;
	bool			 is_null;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = cli_value_parse(cases[i].in, &is_null);
		assert_non_null(v);
		assert_false(is_null);
		assert_int_equal(json_object_get_type(v), cases[i].type);
		assert_string_equal(json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
		    cases[i].json);
		json_object_put(v);
	}
	v = cli_value_parse("null", &is_null);
	assert_null(v);
	assert_true(is_null);
}

static void
test_params_build(void **state)
{
	char *ok[] = { "message=a=b", "delay_ms=10", "fail=false" };
	char *dup[] = { "message=a", "message=b" };
	char *nokey[] = { "=x" };
	char *noeq[] = { "message" };
	struct json_object *o, *v;

	(void)state;
	o = cli_params_build(ok, 3, err, sizeof(err));
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "message", &v));
	assert_string_equal(json_object_get_string(v), "a=b");
	assert_true(json_object_object_get_ex(o, "delay_ms", &v));
	assert_int_equal(json_object_get_int(v), 10);
	assert_true(json_object_object_get_ex(o, "fail", &v));
	assert_true(json_object_is_type(v, json_type_boolean));
	json_object_put(o);

	assert_null(cli_params_build(dup, 2, err, sizeof(err)));
	assert_string_equal(err, "parameter 'message' given twice");
	assert_null(cli_params_build(nokey, 1, err, sizeof(err)));
	assert_string_equal(err, "'=x': parameters are key=value");
	assert_null(cli_params_build(noeq, 1, err, sizeof(err)));
	assert_string_equal(err, "'message': parameters are key=value");

	o = cli_params_build(NULL, 0, err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_object_object_length(o), 0);
	json_object_put(o);
}

/* Parsing twice in one process works: getopt state is reset each time. */
static void
test_reparse(void **state)
{
	char *v1[] = { "taskq", "list", "-s", "PENDING", NULL };
	char *v2[] = { "taskq", "-d", "x.db", "show", "id", NULL };
	struct cli_args a;

	(void)state;
	assert_true(parse(v1, &a));
	cli_args_free(&a);
	assert_true(parse(v2, &a));
	assert_int_equal(a.cmd, CMD_SHOW);
	assert_string_equal(a.operand, "id");
	assert_int_equal(a.status_mask, 0);
	cli_args_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_global_options),
		cmocka_unit_test(test_json_after_command),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_no_or_unknown_command),
		cmocka_unit_test(test_missing_option_value),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_list_bad_filters),
		cmocka_unit_test(test_option_of_other_command),
		cmocka_unit_test(test_operand_counts),
		cmocka_unit_test(test_submit_options_and_params),
		cmocka_unit_test(test_submit_option_bounds),
		cmocka_unit_test(test_purge_needs_age),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_params_build),
		cmocka_unit_test(test_reparse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
