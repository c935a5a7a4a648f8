/*
 * Unit tests of lib/tasktype.c: every way a parameters object can be
 * invalid is refused with the exact field name, valid ones are accepted
 * with their defaults filled in, and the rendered schema carries every
 * declared parameter.
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tasktype.h"

#define UUID_LOWER	"0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b"
#define UUID_UPPER	"0B6F4A7E-3C2D-4F5E-9A1B-2C3D4E5F6A7B"

struct reject_case {
	const char	*type;
	const char	*json;		/* the parameters object */
	const char	*field;		/* the field that must be named */
};

static const struct task_type *
type_named(const char *name)
{
	const struct task_type	*t;

	t = tasktype_find(name);
	if (t == NULL)
		fail_msg("no task type %s", name);
	return t;
}

static struct json_object *
parse(const char *json)
{
	struct json_object	*o;
	enum json_tokener_error	 err;

	o = json_tokener_parse_verbose(json, &err);
	if (o == NULL && err != json_tokener_success)
		fail_msg("test JSON does not parse: %.200s", json);
	return o;
}

/* Validates json as type and requires a refusal naming field exactly. */
static void
check_rejected(const char *type, const char *json, const char *field)
{
	struct json_object	*params, *norm = (struct json_object *)1;
	char			 f[256], d[512], prefix[300];

	params = parse(json);
	if (tasktype_validate(type_named(type), params, &norm, f, sizeof(f),
	    d, sizeof(d)))
		fail_msg("%s accepted %.200s (wanted refusal on %s)", type,
		    json, field);
	if (strcmp(f, field) != 0)
		fail_msg("%s %.200s: field \"%s\", want \"%s\" (detail: %s)",
		    type, json, f, field, d);
	/* The detail names the field first, then says what is wrong. */
	snprintf(prefix, sizeof(prefix), "%s: ", field);
	if (strncmp(d, prefix, strlen(prefix)) != 0 ||
	    strlen(d) <= strlen(prefix))
		fail_msg("detail \"%s\" does not start with \"%s\"", d,
		    prefix);
	assert_null(norm);
	json_object_put(params);
}

static void
run_rejects(const struct reject_case *c, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		check_rejected(c[i].type, c[i].json, c[i].field);
}

/* Validates json as type and requires acceptance with output want. */
static void
check_accepted(const char *type, const char *json, const char *want)
{
	struct json_object	*params, *norm = NULL, *expect;
	char			 f[256], d[512];

	params = parse(json);
	if (!tasktype_validate(type_named(type), params, &norm, f, sizeof(f),
	    d, sizeof(d)))
		fail_msg("%s refused %.200s: %s (%s)", type, json, f, d);
	assert_non_null(norm);
	if (want != NULL) {
		expect = parse(want);
		if (!json_object_equal(norm, expect))
			fail_msg("%s %.200s normalized to %s, want %s", type,
			    json, json_object_to_json_string(norm), want);
		json_object_put(expect);
	}
	json_object_put(norm);
	json_object_put(params);
}

/* "{\"key\":\"" + n copies of unit + "\"" + tail + "}", caller frees. */
static char *
long_string_json(const char *key, const char *unit, size_t n,
    const char *tail)
{
	size_t	 ulen = strlen(unit), cap, off, i;
	char	*s;

	cap = strlen(key) + ulen * n + strlen(tail) + 16;
	s = malloc(cap);
	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "{\"%s\":\"", key);
	for (i = 0; i < n; i++) {
		memcpy(s + off, unit, ulen);
		off += ulen;
	}
	snprintf(s + off, cap - off, "\"%s}", tail);
	return s;
}

/* ---- registry -------------------------------------------------------- */

static void
test_find(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < TYPE__MAX; i++) {
		assert_ptr_equal(tasktype_find(task_types[i].name),
		    &task_types[i]);
		assert_int_equal(task_types[i].id, i);
		assert_true(task_types[i].default_timeout_s > 0);
		assert_true(task_types[i].default_max_attempts >= 1);
		assert_true(task_types[i].default_max_attempts <= 25);
	}
	assert_string_equal(task_types[TYPE_ECHO].name, "echo");
	assert_string_equal(task_types[TYPE_DATA_PROCESSING].name,
	    "data_processing");
	assert_string_equal(task_types[TYPE_EMAIL].name, "email");
	assert_string_equal(task_types[TYPE_IMAGE_PROCESSING].name,
	    "image_processing");
	assert_null(tasktype_find(NULL));
	assert_null(tasktype_find(""));
	assert_null(tasktype_find("Echo"));
	assert_null(tasktype_find("echo "));
	assert_null(tasktype_find("sleep"));
	/* The timeouts chosen: echo outlives its longest delay. */
	assert_true(task_types[TYPE_ECHO].default_timeout_s * 1000 > 3600000);
	assert_int_equal(task_types[TYPE_EMAIL].default_max_attempts, 5);
}

/* ---- shape of the parameters object ---------------------------------- */

static void
test_params_not_object(void **state)
{
	static const struct reject_case c[] = {
		{ "echo", "[]", "parameters" },
		{ "echo", "[{\"message\":\"x\"}]", "parameters" },
		{ "echo", "\"message\"", "parameters" },
		{ "echo", "1", "parameters" },
		{ "echo", "1.5", "parameters" },
		{ "echo", "true", "parameters" },
		{ "email", "[]", "parameters" },
	};

	(void)state;
	run_rejects(c, sizeof(c) / sizeof(c[0]));
}

static void
test_params_null_is_empty(void **state)
{
	struct json_object	*norm = NULL;
	char			 f[128], d[256];

	(void)state;
	/* NULL means {}: echo then lacks its required message. */
	assert_false(tasktype_validate(type_named("echo"), NULL, &norm,
	    f, sizeof(f), d, sizeof(d)));
	assert_string_equal(f, "parameters.message");
	assert_string_equal(d, "parameters.message: is required");
	assert_null(norm);
}

static void
test_unknown_params(void **state)
{
	static const struct reject_case c[] = {
		{ "echo", "{\"message\":\"x\",\"extra\":1}", "parameters.extra" },
		{ "echo", "{\"mesage\":\"x\"}", "parameters.mesage" },
		{ "echo", "{\"message\":\"x\",\"Message\":\"y\"}",
		  "parameters.Message" },
		{ "echo", "{\"message\":\"x\",\"\":1}", "parameters." },
		{ "data_processing", "{\"csv\":\"a\",\"header\":true}",
		  "parameters.header" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\",\"body\":\"b\","
		  "\"bcc\":\"c@d.co\"}", "parameters.bcc" },
		{ "image_processing", "{\"file_id\":\"" UUID_LOWER "\","
		  "\"width\":1,\"rotate\":90}", "parameters.rotate" },
		/* Unknown is reported before a missing required one. */
		{ "email", "{\"too\":\"a@b.co\"}", "parameters.too" },
	};

	(void)state;
	run_rejects(c, sizeof(c) / sizeof(c[0]));
}

static void
test_unknown_long_name_is_cut(void **state)
{
	struct json_object	*params;
	char			 json[512], f[256], d[512];
	size_t			 i;

	(void)state;
	/* 100 three-byte characters: echoed as 64 of them and "...". */
	strcpy(json, "{\"message\":\"x\",\"");
	for (i = 0; i < 100; i++)
		strcat(json, "\xe2\x82\xac");
	strcat(json, "\":1}");
	params = parse(json);
	assert_false(tasktype_validate(type_named("echo"), params, NULL,
	    f, sizeof(f), d, sizeof(d)));
	assert_int_equal(strlen(f), strlen("parameters.") + 64 * 3 + 3);
	assert_memory_equal(f + strlen(f) - 3, "...", 3);
	json_object_put(params);
}

static void
test_small_buffers_truncate_safely(void **state)
{
	struct json_object	*params;
	char			 f[13 + 4], d[16 + 4];

	(void)state;
	params = parse("{\"message\":\"x\",\"\xe2\x82\xac\xe2\x82\xac\":1}");
	memset(f, 'Z', sizeof(f));
	memset(d, 'Z', sizeof(d));
	/* Sizes that cut a three-byte euro sign in the middle. */
	assert_false(tasktype_validate(type_named("echo"), params, NULL,
	    f, 13, d, 16));
	assert_string_equal(f, "parameters.");	/* no half character */
	assert_int_equal(f[13], 'Z');
	assert_string_equal(d, "parameters.\xe2\x82\xac");
	assert_int_equal(d[16], 'Z');
	/* Zero-length buffers are not written at all. */
	assert_false(tasktype_validate(type_named("echo"), params, NULL,
	    NULL, 0, NULL, 0));
	json_object_put(params);
}

/* ---- echo ------------------------------------------------------------ */

static void
test_echo_rejects(void **state)
{
	static const struct reject_case c[] = {
		{ "echo", "{}", "parameters.message" },
		{ "echo", "{\"delay_ms\":5}", "parameters.message" },
		{ "echo", "{\"message\":null}", "parameters.message" },
		{ "echo", "{\"message\":1}", "parameters.message" },
		{ "echo", "{\"message\":true}", "parameters.message" },
		{ "echo", "{\"message\":[\"x\"]}", "parameters.message" },
		{ "echo", "{\"message\":{}}", "parameters.message" },
		{ "echo", "{\"message\":\"a\\u0000b\"}", "parameters.message" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":\"5\"}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":1.0}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":1e3}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":0.5}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":true}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":null}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":[1]}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":-1}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":3600001}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":9223372036854775807}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":99999999999999999999}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"delay_ms\":-99999999999999999999}",
		  "parameters.delay_ms" },
		{ "echo", "{\"message\":\"x\",\"fail\":\"true\"}",
		  "parameters.fail" },
		{ "echo", "{\"message\":\"x\",\"fail\":\"false\"}",
		  "parameters.fail" },
		{ "echo", "{\"message\":\"x\",\"fail\":1}", "parameters.fail" },
		{ "echo", "{\"message\":\"x\",\"fail\":0}", "parameters.fail" },
		{ "echo", "{\"message\":\"x\",\"fail\":null}", "parameters.fail" },
	};

	(void)state;
	run_rejects(c, sizeof(c) / sizeof(c[0]));
}

static void
test_echo_details(void **state)
{
	struct json_object	*params;
	char			 f[128], d[256];

	(void)state;
	params = parse("{\"message\":\"x\",\"delay_ms\":-1}");
	assert_false(tasktype_validate(type_named("echo"), params, NULL,
	    f, sizeof(f), d, sizeof(d)));
	assert_string_equal(d,
	    "parameters.delay_ms: must be an integer between 0 and 3600000");
	json_object_put(params);

	params = parse("{\"message\":\"x\",\"delay_ms\":1.0}");
	assert_false(tasktype_validate(type_named("echo"), params, NULL,
	    f, sizeof(f), d, sizeof(d)));
	assert_non_null(strstr(d, "must be an integer between 0 and 3600000"));
	assert_non_null(strstr(d, "not a number with a fraction"));
	json_object_put(params);

	params = parse("{\"message\":\"x\",\"fail\":\"true\"}");
	assert_false(tasktype_validate(type_named("echo"), params, NULL,
	    f, sizeof(f), d, sizeof(d)));
	assert_string_equal(d,
	    "parameters.fail: must be true or false, not a string");
	json_object_put(params);
}

static void
test_echo_message_counts_characters(void **state)
{
	char	*json;

	(void)state;
	/* 10,000 two-byte characters are 20,000 bytes: still allowed. */
	json = long_string_json("message", "\xc3\xa9", 10000, "");
	check_accepted("echo", json, NULL);
	free(json);
	/* 10,000 four-byte characters (emoji). */
	json = long_string_json("message", "\xf0\x9f\x98\x80", 10000, "");
	check_accepted("echo", json, NULL);
	free(json);
	/* JSON escapes count as the character they stand for. */
	json = long_string_json("message", "\\u00e9", 10000, "");
	check_accepted("echo", json, NULL);
	free(json);
	json = long_string_json("message", "\xc3\xa9", 10001, "");
	check_rejected("echo", json, "parameters.message");
	free(json);
	json = long_string_json("message", "a", 10001, "");
	check_rejected("echo", json, "parameters.message");
	free(json);
	json = long_string_json("message", "a", 10000, "");
	check_accepted("echo", json, NULL);
	free(json);
}

static void
test_echo_accepts(void **state)
{
	(void)state;
	check_accepted("echo", "{\"message\":\"hi\"}",
	    "{\"message\":\"hi\",\"delay_ms\":0,\"fail\":false}");
	check_accepted("echo", "{\"message\":\"\"}",
	    "{\"message\":\"\",\"delay_ms\":0,\"fail\":false}");
	check_accepted("echo", "{\"fail\":true,\"message\":\"x\","
	    "\"delay_ms\":3600000}",
	    "{\"message\":\"x\",\"delay_ms\":3600000,\"fail\":true}");
	check_accepted("echo", "{\"message\":\"x\",\"delay_ms\":-0}",
	    "{\"message\":\"x\",\"delay_ms\":0,\"fail\":false}");
	check_accepted("echo", "{\"message\":\"line\\nbreak\\ttab\"}", NULL);
}

static void
test_validate_without_normalized(void **state)
{
	struct json_object	*params;
	char			 f[128] = "x", d[256] = "x";

	(void)state;
	params = parse("{\"message\":\"hi\"}");
	assert_true(tasktype_validate(type_named("echo"), params, NULL,
	    f, sizeof(f), d, sizeof(d)));
	/* Success leaves field and detail empty. */
	assert_string_equal(f, "");
	assert_string_equal(d, "");
	json_object_put(params);
}

static void
test_normalized_is_a_copy(void **state)
{
	struct json_object	*params, *norm = NULL, *v;
	char			 f[128], d[256];

	(void)state;
	params = parse("{\"to\":[\"a@b.co\"],\"subject\":\"s\",\"body\":\"b\"}");
	assert_true(tasktype_validate(type_named("email"), params, &norm,
	    f, sizeof(f), d, sizeof(d)));
	/* Releasing the input leaves the normalized object intact. */
	json_object_put(params);
	assert_true(json_object_object_get_ex(norm, "to", &v));
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(v, 0)), "a@b.co");
	json_object_put(norm);
}

/* ---- data_processing ------------------------------------------------- */

static void
test_data_processing_rejects(void **state)
{
	static const struct reject_case c[] = {
		/* Neither, both. */
		{ "data_processing", "{}", "parameters.file_id" },
		{ "data_processing", "{\"delimiter\":\";\"}",
		  "parameters.file_id" },
		{ "data_processing", "{\"file_id\":\"" UUID_LOWER "\","
		  "\"csv\":\"a\"}", "parameters.csv" },
		{ "data_processing", "{\"file_id\":\"" UUID_LOWER "\","
		  "\"csv\":\"\"}", "parameters.csv" },
		/* file_id */
		{ "data_processing", "{\"file_id\":\"not-a-uuid\"}",
		  "parameters.file_id" },
		{ "data_processing", "{\"file_id\":\"\"}", "parameters.file_id" },
		{ "data_processing",
		  "{\"file_id\":\"0b6f4a7e3c2d4f5e9a1b2c3d4e5f6a7b\"}",
		  "parameters.file_id" },
		{ "data_processing", "{\"file_id\":\"" UUID_LOWER "0\"}",
		  "parameters.file_id" },
		{ "data_processing", "{\"file_id\":\"{" UUID_LOWER "}\"}",
		  "parameters.file_id" },
		{ "data_processing",
		  "{\"file_id\":\"0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7g\"}",
		  "parameters.file_id" },
		{ "data_processing", "{\"file_id\":42}", "parameters.file_id" },
		{ "data_processing", "{\"file_id\":null}", "parameters.file_id" },
		/* csv */
		{ "data_processing", "{\"csv\":5}", "parameters.csv" },
		{ "data_processing", "{\"csv\":[\"a,b\"]}", "parameters.csv" },
		{ "data_processing", "{\"csv\":null}", "parameters.csv" },
		{ "data_processing", "{\"csv\":\"a\\u0000b\"}", "parameters.csv" },
		/* delimiter */
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":\"\"}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":\";;\"}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":\"\\\"\"}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":\"\\n\"}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":\"\\r\"}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":\"\\u0000\"}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":\"\xc2\xa7\"}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":44}",
		  "parameters.delimiter" },
		{ "data_processing", "{\"csv\":\"a\",\"delimiter\":null}",
		  "parameters.delimiter" },
		/* has_header */
		{ "data_processing", "{\"csv\":\"a\",\"has_header\":\"false\"}",
		  "parameters.has_header" },
		{ "data_processing", "{\"csv\":\"a\",\"has_header\":0}",
		  "parameters.has_header" },
		{ "data_processing", "{\"csv\":\"a\",\"has_header\":null}",
		  "parameters.has_header" },
	};

	(void)state;
	run_rejects(c, sizeof(c) / sizeof(c[0]));
}

static void
test_data_processing_csv_counts_bytes(void **state)
{
	char	*json;

	(void)state;
	json = long_string_json("csv", "a", 1048576, "");
	check_accepted("data_processing", json, NULL);
	free(json);
	json = long_string_json("csv", "a", 1048577, "");
	check_rejected("data_processing", json, "parameters.csv");
	free(json);
	/* 524,289 characters, but 1,048,578 bytes: over the limit. */
	json = long_string_json("csv", "\xc3\xa9", 524289, "");
	check_rejected("data_processing", json, "parameters.csv");
	free(json);
}

static void
test_data_processing_accepts(void **state)
{
	(void)state;
	check_accepted("data_processing", "{\"csv\":\"a,b\\n1,2\\n\"}",
	    "{\"csv\":\"a,b\\n1,2\\n\",\"delimiter\":\",\","
	    "\"has_header\":true}");
	check_accepted("data_processing", "{\"csv\":\"\"}", NULL);
	/* The file id is stored lowercase, like every id. */
	check_accepted("data_processing", "{\"file_id\":\"" UUID_UPPER "\"}",
	    "{\"file_id\":\"" UUID_LOWER "\",\"delimiter\":\",\","
	    "\"has_header\":true}");
	check_accepted("data_processing", "{\"csv\":\"a\\tb\","
	    "\"delimiter\":\"\\t\",\"has_header\":false}",
	    "{\"csv\":\"a\\tb\",\"delimiter\":\"\\t\",\"has_header\":false}");
	check_accepted("data_processing", "{\"csv\":\"a;b\","
	    "\"delimiter\":\";\"}", NULL);
	check_accepted("data_processing", "{\"csv\":\"a|b\","
	    "\"delimiter\":\"|\"}", NULL);
}

/* ---- email ------------------------------------------------------------- */

static const char *const bad_addresses[] = {
	"",				/* empty */
	"plainaddress",			/* no @ */
	"a@b@example.com",		/* two @ */
	"Alice <alice@example.com>",	/* display name */
	"<alice@example.com>",		/* angle brackets */
	"\"alice\"@example.com",	/* quoted local part */
	"alice.@example.com",		/* trailing dot in local part */
	".alice@example.com",		/* leading dot */
	"al..ice@example.com",		/* consecutive dots */
	"alice@example..com",		/* empty label */
	"alice@example.com.",		/* trailing root dot */
	"alice@.example.com",
	"alice@localhost",		/* no dot in domain */
	"alice@-example.com",		/* hyphen first */
	"alice@example-.com",		/* hyphen last */
	"alice@exa_mple.com",		/* underscore */
	"alice@example.123",		/* numeric TLD */
	"alice@192.168.0.1",		/* IP address */
	"alice@[192.168.0.1]",		/* IP literal */
	"alice@example.com\r\nBcc: eve@example.com",	/* CRLF injection */
	"alice@example.com\n",
	"ali ce@example.com",		/* space */
	" alice@example.com",
	"alice@",			/* no domain */
	"@example.com",			/* no local part */
	"al(comment)ice@example.com",	/* comment */
	"al,ice@example.com",
	"j\xc3\xb6rg@example.com",	/* non-ASCII */
	"alice@ex\xc3\xa4mple.com",
	/* 65-byte local part */
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"@example.com",
	/* 64-byte label */
	"alice@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaa.com",
	NULL
};

static const char *const good_addresses[] = {
	"alice@example.com",
	"ALICE@EXAMPLE.COM",
	"a@b.co",
	"first.last@sub.example.co.uk",
	"user+tag@example.org",
	"o'brien@example.ie",
	"!#$%&'*+-/=?^_`{|}~@example.com",
	"x@xn--bcher-kva.example",
	"x@1.example",
	"x@example.c0m",
	"x@a-b.example",
	/* 64-byte local part, 63-byte label */
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	NULL
};

static void
test_email_address_valid(void **state)
{
	char	 buf[400];
	size_t	 i;

	(void)state;
	assert_false(email_address_valid(NULL));
	for (i = 0; bad_addresses[i] != NULL; i++)
		if (email_address_valid(bad_addresses[i]))
			fail_msg("accepted \"%s\"", bad_addresses[i]);
	for (i = 0; good_addresses[i] != NULL; i++)
		if (!email_address_valid(good_addresses[i]))
			fail_msg("refused \"%s\"", good_addresses[i]);

	/* 254 bytes in all is the most: a@, three 63-byte labels, 57, .co */
	strcpy(buf, "a@");
	for (i = 0; i < 3; i++) {
		memset(buf + strlen(buf), 'b', 63);
		buf[2 + i * 64 + 63] = '\0';
		strcat(buf, ".");
	}
	memset(buf + strlen(buf), 'b', 57);
	buf[2 + 3 * 64 + 57] = '\0';
	strcat(buf, ".co");
	assert_int_equal(strlen(buf), 254);
	assert_true(email_address_valid(buf));
	strcpy(buf + 254 - 3, "b.co");			/* 255 */
	assert_int_equal(strlen(buf), 255);
	assert_false(email_address_valid(buf));
}

/* Each bad address as to, in a list, as cc and as reply_to. */
static void
test_email_bad_addresses_named(void **state)
{
	struct json_object	*js;
	char			*json;
	const char		*quoted;
	size_t			 i, len;

	(void)state;
	for (i = 0; bad_addresses[i] != NULL; i++) {
		js = json_object_new_string(bad_addresses[i]);
		quoted = json_object_to_json_string_ext(js,
		    JSON_C_TO_STRING_PLAIN);
		len = strlen(quoted) * 2 + 200;
		json = malloc(len);
		assert_non_null(json);

		snprintf(json, len, "{\"to\":%s,\"subject\":\"s\","
		    "\"body\":\"b\"}", quoted);
		check_rejected("email", json, "parameters.to");
		snprintf(json, len, "{\"to\":[\"ok@example.com\",%s],"
		    "\"subject\":\"s\",\"body\":\"b\"}", quoted);
		check_rejected("email", json, "parameters.to[1]");
		snprintf(json, len, "{\"to\":\"ok@example.com\",\"cc\":%s,"
		    "\"subject\":\"s\",\"body\":\"b\"}", quoted);
		check_rejected("email", json, "parameters.cc");
		snprintf(json, len, "{\"to\":\"ok@example.com\","
		    "\"cc\":[\"a@b.co\",\"c@d.co\",%s],"
		    "\"subject\":\"s\",\"body\":\"b\"}", quoted);
		check_rejected("email", json, "parameters.cc[2]");
		snprintf(json, len, "{\"to\":\"ok@example.com\","
		    "\"reply_to\":%s,\"subject\":\"s\",\"body\":\"b\"}",
		    quoted);
		check_rejected("email", json, "parameters.reply_to");

		free(json);
		json_object_put(js);
	}
}

/* {"to": [n addresses], "subject": "s", "body": "b"}, caller frees. */
static char *
email_with_n(size_t n, const char *extra_item)
{
	size_t	 cap = n * 24 + 128 + (extra_item ? strlen(extra_item) : 0);
	size_t	 off, i;
	char	*s;

	s = malloc(cap);
	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "{\"to\":[");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off,
		    "%s\"u%zu@example.com\"", i ? "," : "", i);
	if (extra_item != NULL)
		off += (size_t)snprintf(s + off, cap - off, "%s%s",
		    n ? "," : "", extra_item);
	snprintf(s + off, cap - off, "],\"subject\":\"s\",\"body\":\"b\"}");
	return s;
}

static void
test_email_to_list_bounds(void **state)
{
	char	*json;

	(void)state;
	json = email_with_n(0, NULL);
	check_rejected("email", json, "parameters.to");
	free(json);
	json = email_with_n(101, NULL);
	check_rejected("email", json, "parameters.to");
	free(json);
	json = email_with_n(100, NULL);
	check_accepted("email", json, NULL);
	free(json);
	json = email_with_n(1, NULL);
	check_accepted("email", json, NULL);
	free(json);
	/* A non-string item is named with its index. */
	json = email_with_n(3, "5");
	check_rejected("email", json, "parameters.to[3]");
	free(json);
	json = email_with_n(0, "null");
	check_rejected("email", json, "parameters.to[0]");
	free(json);
	json = email_with_n(7, "[\"x@y.co\"]");
	check_rejected("email", json, "parameters.to[7]");
	free(json);
	json = email_with_n(2, "{\"address\":\"x@y.co\"}");
	check_rejected("email", json, "parameters.to[2]");
	free(json);
}

static void
test_email_rejects(void **state)
{
	static const struct reject_case c[] = {
		/* Missing required ones, in declaration order. */
		{ "email", "{}", "parameters.to" },
		{ "email", "{\"subject\":\"s\",\"body\":\"b\"}", "parameters.to" },
		{ "email", "{\"to\":\"a@b.co\",\"body\":\"b\"}",
		  "parameters.subject" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\"}",
		  "parameters.body" },
		/* Wrong types. */
		{ "email", "{\"to\":5,\"subject\":\"s\",\"body\":\"b\"}",
		  "parameters.to" },
		{ "email", "{\"to\":null,\"subject\":\"s\",\"body\":\"b\"}",
		  "parameters.to" },
		{ "email", "{\"to\":{\"a\":\"a@b.co\"},\"subject\":\"s\","
		  "\"body\":\"b\"}", "parameters.to" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":1,\"body\":\"b\"}",
		  "parameters.subject" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":null,\"body\":\"b\"}",
		  "parameters.subject" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\",\"body\":5}",
		  "parameters.body" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\","
		  "\"body\":[\"b\"]}", "parameters.body" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\","
		  "\"body\":\"a\\u0000b\"}", "parameters.body" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\",\"body\":\"b\","
		  "\"cc\":5}", "parameters.cc" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\",\"body\":\"b\","
		  "\"cc\":null}", "parameters.cc" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\",\"body\":\"b\","
		  "\"cc\":[5]}", "parameters.cc[0]" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\",\"body\":\"b\","
		  "\"reply_to\":[\"c@d.co\"]}", "parameters.reply_to" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"s\",\"body\":\"b\","
		  "\"reply_to\":null}", "parameters.reply_to" },
		/* Header injection through the subject. */
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"hi\\r\\nBcc: "
		  "eve@example.com\",\"body\":\"b\"}", "parameters.subject" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"hi\\nthere\","
		  "\"body\":\"b\"}", "parameters.subject" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"hi\\r\","
		  "\"body\":\"b\"}", "parameters.subject" },
		{ "email", "{\"to\":\"a@b.co\",\"subject\":\"hi\\u0000\","
		  "\"body\":\"b\"}", "parameters.subject" },
	};

	(void)state;
	run_rejects(c, sizeof(c) / sizeof(c[0]));
}

static void
test_email_cc_bounds_and_subject_length(void **state)
{
	char	*json, *cc;
	size_t	 off, i, cap = 101 * 24 + 16;

	(void)state;
	cc = malloc(cap);
	assert_non_null(cc);
	off = 0;
	for (i = 0; i < 101; i++)
		off += (size_t)snprintf(cc + off, cap - off,
		    "%s\"c%zu@example.com\"", i ? "," : "", i);
	json = malloc(cap + 128);
	assert_non_null(json);
	snprintf(json, cap + 128, "{\"to\":\"a@b.co\",\"subject\":\"s\","
	    "\"body\":\"b\",\"cc\":[%s]}", cc);
	check_rejected("email", json, "parameters.cc");
	/* Drop the last one: 100 is allowed. */
	*strrchr(cc, ',') = '\0';
	snprintf(json, cap + 128, "{\"to\":\"a@b.co\",\"subject\":\"s\","
	    "\"body\":\"b\",\"cc\":[%s]}", cc);
	check_accepted("email", json, NULL);
	free(json);
	free(cc);

	/* The subject is one line of at most 998 characters. */
	json = long_string_json("subject", "\xc3\xa9", 998,
	    ",\"to\":\"a@b.co\",\"body\":\"b\"");
	check_accepted("email", json, NULL);
	free(json);
	json = long_string_json("subject", "x", 999,
	    ",\"to\":\"a@b.co\",\"body\":\"b\"");
	check_rejected("email", json, "parameters.subject");
	free(json);
}

static void
test_email_accepts(void **state)
{
	(void)state;
	/* No defaults: the given values come back as given. */
	check_accepted("email", "{\"to\":\"a@b.co\",\"subject\":\"\","
	    "\"body\":\"\"}",
	    "{\"to\":\"a@b.co\",\"subject\":\"\",\"body\":\"\"}");
	check_accepted("email", "{\"body\":\"b\",\"to\":[\"a@b.co\","
	    "\"c@d.co\"],\"reply_to\":\"r@e.co\",\"cc\":\"x@y.co\","
	    "\"subject\":\"R\xc3\xa9sum\xc3\xa9\"}",
	    "{\"to\":[\"a@b.co\",\"c@d.co\"],\"subject\":\"R\xc3\xa9sum\xc3\xa9\","
	    "\"body\":\"b\",\"cc\":\"x@y.co\",\"reply_to\":\"r@e.co\"}");
	/* An empty cc list means no cc. */
	check_accepted("email", "{\"to\":\"a@b.co\",\"subject\":\"s\","
	    "\"body\":\"line 1\\r\\nline 2\",\"cc\":[]}", NULL);
}

/* ---- image_processing ------------------------------------------------- */

#define IMG	"{\"file_id\":\"" UUID_LOWER "\","

static void
test_image_rejects(void **state)
{
	static const struct reject_case c[] = {
		{ "image_processing", "{\"width\":10}", "parameters.file_id" },
		{ "image_processing", "{\"file_id\":\"x\",\"width\":10}",
		  "parameters.file_id" },
		{ "image_processing", "{\"file_id\":7,\"width\":10}",
		  "parameters.file_id" },
		/* Neither side. */
		{ "image_processing", "{\"file_id\":\"" UUID_LOWER "\"}",
		  "parameters.width" },
		{ "image_processing", IMG "\"format\":\"png\"}",
		  "parameters.width" },
		/* width, height: type and range. */
		{ "image_processing", IMG "\"width\":0}", "parameters.width" },
		{ "image_processing", IMG "\"width\":10001}", "parameters.width" },
		{ "image_processing", IMG "\"width\":-5}", "parameters.width" },
		{ "image_processing", IMG "\"width\":\"100\"}",
		  "parameters.width" },
		{ "image_processing", IMG "\"width\":100.0}", "parameters.width" },
		{ "image_processing", IMG "\"width\":null}", "parameters.width" },
		{ "image_processing", IMG "\"height\":0}", "parameters.height" },
		{ "image_processing", IMG "\"height\":10001}",
		  "parameters.height" },
		{ "image_processing", IMG "\"height\":true}",
		  "parameters.height" },
		{ "image_processing", IMG "\"height\":2.5}", "parameters.height" },
		/* fit only with both sides, and from its list. */
		{ "image_processing", IMG "\"width\":10,\"fit\":\"cover\"}",
		  "parameters.fit" },
		{ "image_processing", IMG "\"height\":10,\"fit\":\"fill\"}",
		  "parameters.fit" },
		{ "image_processing", IMG "\"fit\":\"contain\"}",
		  "parameters.width" },
		{ "image_processing", IMG "\"width\":1,\"height\":1,"
		  "\"fit\":\"stretch\"}", "parameters.fit" },
		{ "image_processing", IMG "\"width\":1,\"height\":1,"
		  "\"fit\":\"Cover\"}", "parameters.fit" },
		{ "image_processing", IMG "\"width\":1,\"height\":1,"
		  "\"fit\":1}", "parameters.fit" },
		{ "image_processing", IMG "\"width\":1,\"height\":1,"
		  "\"fit\":null}", "parameters.fit" },
		/* format */
		{ "image_processing", IMG "\"width\":1,\"format\":\"gif\"}",
		  "parameters.format" },
		{ "image_processing", IMG "\"width\":1,\"format\":\"PNG\"}",
		  "parameters.format" },
		{ "image_processing", IMG "\"width\":1,\"format\":\"jpg\"}",
		  "parameters.format" },
		{ "image_processing", IMG "\"width\":1,\"format\":\"\"}",
		  "parameters.format" },
		{ "image_processing", IMG "\"width\":1,\"format\":[\"png\"]}",
		  "parameters.format" },
		/* quality */
		{ "image_processing", IMG "\"width\":1,\"quality\":0}",
		  "parameters.quality" },
		{ "image_processing", IMG "\"width\":1,\"quality\":101}",
		  "parameters.quality" },
		{ "image_processing", IMG "\"width\":1,\"quality\":\"90\"}",
		  "parameters.quality" },
		{ "image_processing", IMG "\"width\":1,\"quality\":90.5}",
		  "parameters.quality" },
	};

	(void)state;
	run_rejects(c, sizeof(c) / sizeof(c[0]));
}

static void
test_image_accepts(void **state)
{
	(void)state;
	/* One side: no fit default, no format default. */
	check_accepted("image_processing", IMG "\"width\":640}",
	    "{\"file_id\":\"" UUID_LOWER "\",\"width\":640}");
	check_accepted("image_processing", IMG "\"height\":10000}",
	    "{\"file_id\":\"" UUID_LOWER "\",\"height\":10000}");
	/* Both: fit defaults to cover. */
	check_accepted("image_processing", IMG "\"width\":1,\"height\":1}",
	    "{\"file_id\":\"" UUID_LOWER "\",\"width\":1,\"height\":1,"
	    "\"fit\":\"cover\"}");
	check_accepted("image_processing", "{\"quality\":100,"
	    "\"format\":\"webp\",\"fit\":\"contain\",\"height\":20,"
	    "\"width\":10,\"file_id\":\"" UUID_UPPER "\"}",
	    "{\"file_id\":\"" UUID_LOWER "\",\"width\":10,\"height\":20,"
	    "\"fit\":\"contain\",\"format\":\"webp\",\"quality\":100}");
	check_accepted("image_processing", IMG "\"width\":5,\"height\":5,"
	    "\"fit\":\"fill\",\"format\":\"jpeg\",\"quality\":1}", NULL);
	check_accepted("image_processing", IMG "\"width\":5,"
	    "\"format\":\"png\"}", NULL);
}

/* ---- schema ---------------------------------------------------------- */

static struct json_object *
get(struct json_object *o, const char *key)
{
	struct json_object	*v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static bool
has(struct json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static void
check_schema(const struct task_type *t, struct json_object *o)
{
	const struct param_spec	*p;
	const struct param_rule	*r;
	struct json_object	*params, *ps, *def, *types;
	const char		*want;
	size_t			 n = 0, nrules = 0;

	assert_string_equal(json_object_get_string(get(o, "name")), t->name);
	assert_string_equal(json_object_get_string(get(o, "description")),
	    t->description);
	assert_int_equal(json_object_get_int(get(o, "default_timeout_s")),
	    t->default_timeout_s);
	assert_int_equal(json_object_get_int(get(o, "default_max_attempts")),
	    t->default_max_attempts);
	params = get(o, "parameters");
	assert_true(json_object_is_type(params, json_type_object));

	for (p = t->params; p->name != NULL; p++, n++) {
		ps = get(params, p->name);
		assert_string_equal(json_object_get_string(get(ps, "kind")),
		    param_kind_names[p->kind]);
		assert_true(json_object_is_type(get(ps, "required"),
		    json_type_boolean));
		assert_int_equal(json_object_get_boolean(get(ps, "required")),
		    p->required);
		assert_true(json_object_is_type(get(ps, "description"),
		    json_type_string));
		assert_true(json_object_get_string_len(
		    get(ps, "description")) > 0);
		if (p->default_json != NULL) {
			def = json_tokener_parse(p->default_json);
			assert_true(json_object_equal(get(ps, "default"), def));
			json_object_put(def);
		} else
			assert_false(has(ps, "default"));

		switch (p->kind) {
		case PARAM_INTEGER:
			want = "integer";
			assert_int_equal(json_object_get_int64(
			    get(ps, "minimum")), p->min);
			assert_int_equal(json_object_get_int64(
			    get(ps, "maximum")), p->max);
			break;
		case PARAM_BOOLEAN:
			want = "boolean";
			break;
		case PARAM_EMAIL_LIST:
			want = NULL;
			types = get(ps, "type");
			assert_int_equal(json_object_array_length(types), 2);
			assert_int_equal(json_object_get_int64(
			    get(ps, "maxItems")), p->max);
			assert_int_equal(json_object_get_int64(
			    get(ps, "minItems")), p->min);
			assert_string_equal(json_object_get_string(
			    get(get(ps, "items"), "format")), "email");
			break;
		case PARAM_ENUM:
			want = "string";
			assert_true(json_object_is_type(get(ps, "enum"),
			    json_type_array));
			break;
		default:
			want = "string";
			break;
		}
		if (want != NULL)
			assert_string_equal(json_object_get_string(
			    get(ps, "type")), want);
	}
	assert_int_equal(json_object_object_length(params), n);
	for (r = t->rules; r->kind != RULE__MAX; r++)
		nrules++;
	assert_int_equal(json_object_array_length(get(o, "rules")), nrules);
}

static void
test_schema_every_type(void **state)
{
	struct json_object	*o;
	size_t			 i;

	(void)state;
	for (i = 0; i < TYPE__MAX; i++) {
		o = tasktype_to_json(&task_types[i]);
		assert_non_null(o);
		check_schema(&task_types[i], o);
		json_object_put(o);
	}
}

static void
test_schema_all_in_order(void **state)
{
	struct json_object	*a;
	size_t			 i;

	(void)state;
	a = tasktype_all_to_json();
	assert_non_null(a);
	assert_int_equal(json_object_array_length(a), TYPE__MAX);
	for (i = 0; i < TYPE__MAX; i++)
		check_schema(&task_types[i], json_object_array_get_idx(a, i));
	json_object_put(a);
}

static void
test_schema_specifics(void **state)
{
	struct json_object	*o, *p, *rule, *list;

	(void)state;
	o = tasktype_to_json(type_named("echo"));
	p = get(get(o, "parameters"), "message");
	assert_int_equal(json_object_get_int(get(p, "maxLength")), 10000);
	assert_true(json_object_get_boolean(get(p, "required")));
	p = get(get(o, "parameters"), "delay_ms");
	assert_int_equal(json_object_get_int(get(p, "maximum")), 3600000);
	assert_int_equal(json_object_get_int(get(p, "default")), 0);
	assert_int_equal(json_object_array_length(get(o, "rules")), 0);
	json_object_put(o);

	o = tasktype_to_json(type_named("data_processing"));
	p = get(get(o, "parameters"), "csv");
	assert_int_equal(json_object_get_int(get(p, "maxBytes")), 1048576);
	assert_false(has(p, "maxLength"));
	p = get(get(o, "parameters"), "file_id");
	assert_string_equal(json_object_get_string(get(p, "format")), "uuid");
	p = get(get(o, "parameters"), "delimiter");
	assert_string_equal(json_object_get_string(get(p, "default")), ",");
	assert_int_equal(json_object_get_int(get(p, "maxLength")), 1);
	rule = json_object_array_get_idx(get(o, "rules"), 0);
	list = get(rule, "exactly_one_of");
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(list, 0)), "file_id");
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(list, 1)), "csv");
	json_object_put(o);

	o = tasktype_to_json(type_named("email"));
	p = get(get(o, "parameters"), "to");
	assert_int_equal(json_object_get_int(get(p, "maxItems")), 100);
	assert_int_equal(json_object_get_int(get(p, "minItems")), 1);
	p = get(get(o, "parameters"), "subject");
	assert_string_equal(json_object_get_string(get(p, "pattern")),
	    "^[^\\r\\n]*$");
	p = get(get(o, "parameters"), "reply_to");
	assert_string_equal(json_object_get_string(get(p, "format")), "email");
	json_object_put(o);

	o = tasktype_to_json(type_named("image_processing"));
	p = get(get(o, "parameters"), "fit");
	assert_string_equal(json_object_get_string(get(p, "default")),
	    "cover");
	assert_int_equal(json_object_array_length(get(p, "enum")), 3);
	p = get(get(o, "parameters"), "format");
	assert_false(has(p, "default"));
	assert_int_equal(json_object_array_length(get(p, "enum")), 3);
	rule = json_object_array_get_idx(get(o, "rules"), 0);
	assert_int_equal(json_object_array_length(
	    get(rule, "at_least_one_of")), 2);
	rule = json_object_array_get_idx(get(o, "rules"), 1);
	assert_string_equal(json_object_get_string(get(rule, "param")), "fit");
	assert_int_equal(json_object_array_length(
	    get(rule, "requires_all_of")), 2);
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_params_not_object),
		cmocka_unit_test(test_params_null_is_empty),
		cmocka_unit_test(test_unknown_params),
		cmocka_unit_test(test_unknown_long_name_is_cut),
		cmocka_unit_test(test_small_buffers_truncate_safely),
		cmocka_unit_test(test_echo_rejects),
		cmocka_unit_test(test_echo_details),
		cmocka_unit_test(test_echo_message_counts_characters),
		cmocka_unit_test(test_echo_accepts),
		cmocka_unit_test(test_validate_without_normalized),
		cmocka_unit_test(test_normalized_is_a_copy),
		cmocka_unit_test(test_data_processing_rejects),
		cmocka_unit_test(test_data_processing_csv_counts_bytes),
		cmocka_unit_test(test_data_processing_accepts),
		cmocka_unit_test(test_email_address_valid),
		cmocka_unit_test(test_email_bad_addresses_named),
		cmocka_unit_test(test_email_to_list_bounds),
		cmocka_unit_test(test_email_rejects),
		cmocka_unit_test(test_email_cc_bounds_and_subject_length),
		cmocka_unit_test(test_email_accepts),
		cmocka_unit_test(test_image_rejects),
		cmocka_unit_test(test_image_accepts),
		cmocka_unit_test(test_schema_every_type),
		cmocka_unit_test(test_schema_all_in_order),
		cmocka_unit_test(test_schema_specifics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
