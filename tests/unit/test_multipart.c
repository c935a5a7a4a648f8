/*
 * Unit tests of fcgi/multipart.c: parts and data come out the same however
 * the body is split into reads, including inside the delimiter; malformed
 * bodies and oversized headers are refused.
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

#include "api.h"

struct collect {
	char	 names[8][64];
	char	 files[8][64];
	char	 data[8][256];
	size_t	 dlen[8];
	int	 nparts;
	int	 open;		/* a part has begun and not ended */
	int	 refuse;	/* part_begin returns -1 for this name */
};

static int
c_begin(void *arg, const char *name, const char *filename)
{
	struct collect	*c = arg;

	assert_false(c->open);
	assert_true(c->nparts < 8);
	snprintf(c->names[c->nparts], sizeof(c->names[0]), "%s", name);
	snprintf(c->files[c->nparts], sizeof(c->files[0]), "%s", filename);
	c->dlen[c->nparts] = 0;
	c->open = 1;
	return c->refuse && strcmp(name, "file") == 0 ? -1 : 0;
}

static int
c_data(void *arg, const void *p, size_t n)
{
	struct collect	*c = arg;
	size_t		 i = (size_t)c->nparts;

	assert_true(c->open);
	assert_true(c->dlen[i] + n < sizeof(c->data[0]));
	memcpy(c->data[i] + c->dlen[i], p, n);
	c->dlen[i] += n;
	return 0;
}

static int
c_end(void *arg)
{
	struct collect	*c = arg;

	assert_true(c->open);
	c->data[c->nparts][c->dlen[c->nparts]] = '\0';
	c->open = 0;
	c->nparts++;
	return 0;
}

static const struct mp_callbacks cbs = { c_begin, c_data, c_end };

static const char body[] =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n"
    "\r\n"
    "hello\r\n--Xy not a delimiter\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".csv\"\r\n"
    "Content-Type: text/csv\r\n"
    "\r\n"
    "a,b\r\n1,2\r\r\n\r\n-\r\n"
    "--XyZ--\r\n"
    "epilogue";

/* Feeds body in pieces of `step` bytes, starting with a piece of `first`. */
static enum mp_err
feed(struct collect *c, const char *b, size_t n, size_t first, size_t step)
{
	struct multipart	*mp;
	enum mp_err		 e = MP_OK;
	size_t			 off = 0, k;

	memset(c, 0, sizeof(*c));
	mp = mp_new("XyZ", &cbs, c);
	assert_non_null(mp);
	k = first;
	while (off < n && e == MP_OK) {
		if (k > n - off)
			k = n - off;
		e = mp_feed(mp, b + off, k);
		off += k;
		k = step;
	}
	if (e == MP_OK)
		e = mp_finish(mp);
	mp_free(mp);
	return e;
}

static void
check_parts(const struct collect *c)
{
	assert_int_equal(c->nparts, 2);
	assert_string_equal(c->names[0], "note");
	assert_string_equal(c->files[0], "");
	assert_string_equal(c->data[0], "hello\r\n--Xy not a delimiter");
	assert_string_equal(c->names[1], "file");
	assert_string_equal(c->files[1], "a \"b\".csv");
	assert_string_equal(c->data[1], "a,b\r\n1,2\r\r\n\r\n-");
}

static void
test_whole(void **state)
{
	struct collect	 c;

	(void)state;
	assert_int_equal(feed(&c, body, sizeof(body) - 1, sizeof(body), 1), MP_OK);
	check_parts(&c);
}

/* Every split point, so the delimiter is cut in every possible place. */
static void
test_every_split(void **state)
{
	struct collect	 c;
	size_t		 i;

	(void)state;
	for (i = 1; i < sizeof(body) - 1; i++) {
		assert_int_equal(feed(&c, body, sizeof(body) - 1, i, 4096), MP_OK);
		check_parts(&c);
	}
}

static void
test_byte_at_a_time(void **state)
{
	struct collect	 c;

	(void)state;
	assert_int_equal(feed(&c, body, sizeof(body) - 1, 1, 1), MP_OK);
	check_parts(&c);
}

static void
test_missing_close_is_malformed(void **state)
{
	static const char	 b[] = "--XyZ\r\nContent-Disposition: form-data; "
	    "name=\"file\"\r\n\r\nabc";
	struct collect		 c;

	(void)state;
	assert_int_equal(feed(&c, b, sizeof(b) - 1, 5, 5), MP_MALFORMED);
}

static void
test_part_without_disposition_is_malformed(void **state)
{
	static const char	 b[] = "--XyZ\r\nContent-Type: text/plain\r\n\r\n"
	    "abc\r\n--XyZ--\r\n";
	struct collect		 c;

	(void)state;
	assert_int_equal(feed(&c, b, sizeof(b) - 1, 100, 100), MP_MALFORMED);
}

static void
test_garbage_after_delimiter_is_malformed(void **state)
{
	static const char	 b[] = "--XyZx\r\n";
	struct collect		 c;

	(void)state;
	assert_int_equal(feed(&c, b, sizeof(b) - 1, 100, 100), MP_MALFORMED);
}

static void
test_huge_headers_refused(void **state)
{
	struct collect	 c;
	char		*b;
	size_t		 n = 40000;

	(void)state;
	b = malloc(n);
	assert_non_null(b);
	memset(b, 'x', n);
	memcpy(b, "--XyZ\r\nX-Long: ", 15);
	assert_int_equal(feed(&c, b, n, 1000, 1000), MP_TOO_LARGE);
	free(b);
}

static void
test_callback_abort(void **state)
{
	struct collect		 c;
	struct multipart	*mp;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.refuse = 1;
	mp = mp_new("XyZ", &cbs, &c);
	assert_non_null(mp);
	assert_int_equal(mp_feed(mp, body, sizeof(body) - 1), MP_ABORT);
	mp_free(mp);
}

static void
test_boundary_parameter(void **state)
{
	char	 b[80];

	(void)state;
	assert_true(mp_boundary("multipart/form-data; boundary=abc", b, sizeof(b)));
	assert_string_equal(b, "abc");
	assert_true(mp_boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"",
	    b, sizeof(b)));
	assert_string_equal(b, "a b");
	assert_false(mp_boundary("multipart/form-data", b, sizeof(b)));
	assert_false(mp_boundary("multipart/form-data; boundary=", b, sizeof(b)));
	assert_false(mp_boundary("text/plain; boundary=abc", b, sizeof(b)));
	assert_false(mp_boundary("multipart/form-data; boundary="
	    "0123456789012345678901234567890123456789012345678901234567890123456789X",
	    b, sizeof(b)));
	assert_null(mp_new("", &cbs, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_missing_close_is_malformed),
		cmocka_unit_test(test_part_without_disposition_is_malformed),
		cmocka_unit_test(test_garbage_after_delimiter_is_malformed),
		cmocka_unit_test(test_huge_headers_refused),
		cmocka_unit_test(test_callback_abort),
		cmocka_unit_test(test_boundary_parameter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
