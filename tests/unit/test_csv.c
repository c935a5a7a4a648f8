/*
 * Unit tests of lib/csv.c (the streaming RFC 4180 parser) and lib/csvstats.c
 * (the data_processing statistics): dialect, errors with their lines,
 * chunking invariance, limits, type inference, names and the numbers
 * against independent computations.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
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

#include "csv.h"
#include "csvstats.h"

/* A growing text log of what the parser delivered. */
struct log {
	char	*s;
	size_t	 len, cap;
	int	 stop_after;	/* stop at this field (1-based), 0 never */
	int	 fields;
};

static void
log_add(struct log *l, const char *s, size_t n)
{
	if (l->len + n + 1 > l->cap) {
		l->cap = (l->len + n + 1) * 2;
		l->s = realloc(l->s, l->cap);
		assert_non_null(l->s);
	}
	memcpy(l->s + l->len, s, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static int
on_field(void *arg, const char *v, size_t len, size_t col)
{
	struct log	*l = arg;
	char		 num[32];

	snprintf(num, sizeof(num), "%s%zu<", col == 0 ? "" : " ", col);
	log_add(l, num, strlen(num));
	log_add(l, v, len);
	log_add(l, ">", 1);
	l->fields++;
	return l->stop_after != 0 && l->fields >= l->stop_after;
}

static int
on_record(void *arg, size_t nfields, uint64_t line)
{
	struct log	*l = arg;
	char		 buf[64];

	snprintf(buf, sizeof(buf), " =%zu@%llu\n", nfields,
	    (unsigned long long)line);
	log_add(l, buf, strlen(buf));
	return 0;
}

/*
 * Parses in[0..len) fed in chunks of chunk bytes (0: all at once) and
 * returns the log, or "ERROR <code>: <message>" (caller frees).
 */
static char *
parse(const char *in, size_t len, size_t chunk, const struct csv_options *o)
{
	struct log		 l = { NULL, 0, 0, 0, 0 };
	struct csv_parser	*p;
	struct csv_options	 def;
	enum csv_err		 e;
	size_t			 off, n;
	char			 buf[256];

	if (o == NULL) {
		csv_options_init(&def);
		o = &def;
	}
	p = csv_parser_new(o, on_field, on_record, &l, &e);
	assert_non_null(p);
	assert_int_equal(e, CSV_OK);
	log_add(&l, "", 0);
	if (chunk == 0)
		chunk = len ? len : 1;
	for (off = 0, e = CSV_OK; off < len && e == CSV_OK; off += n) {
		n = len - off < chunk ? len - off : chunk;
		e = csv_parser_feed(p, in + off, n);
	}
	if (e == CSV_OK)
		e = csv_parser_finish(p);
	if (e != CSV_OK) {
		snprintf(buf, sizeof(buf), "ERROR %d: %s", (int)e,
		    csv_parser_errmsg(p));
		free(l.s);
		l.s = strdup(buf);
	} else
		assert_string_equal(csv_parser_errmsg(p), "");
	assert_int_equal(csv_parser_bytes(p), e == CSV_OK ? len : csv_parser_bytes(p));
	csv_parser_free(p);
	return l.s;
}

static void
check(const char *in, const char *want)
{
	char	*got = parse(in, strlen(in), 0, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void
check_n(const char *in, size_t len, const char *want)
{
	char	*got = parse(in, len, 0, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void
test_simple_records(void **state)
{
	(void)state;
	check("a,b,c\n1,2,3\n", "0<a> 1<b> 2<c> =3@1\n0<1> 1<2> 2<3> =3@2\n");
	check("a,b\n1,2", "0<a> 1<b> =2@1\n0<1> 1<2> =2@2\n");
	check("", "");
	check("x", "0<x> =1@1\n");
	check("a,b,\n", "0<a> 1<b> 2<> =3@1\n");
	check("a,b,", "0<a> 1<b> 2<> =3@1\n");
	check(",", "0<> 1<> =2@1\n");
	check(" a , b ", "0< a > 1< b > =2@1\n");
}

static void
test_line_ends(void **state)
{
	(void)state;
	check("a\r\nb\r\n", "0<a> =1@1\n0<b> =1@2\n");
	check("a\rb\rc", "0<a> =1@1\n0<b> =1@2\n0<c> =1@3\n");
	check("a\nb\r\nc\rd", "0<a> =1@1\n0<b> =1@2\n0<c> =1@3\n0<d> =1@4\n");
	/* Blank lines are skipped but counted as lines. */
	check("a\n\n\r\n\rb\n\n", "0<a> =1@1\n0<b> =1@5\n");
	check("\"\"\n", "0<> =1@1\n");
	check("\n\n", "");
}

static void
test_quoted_fields(void **state)
{
	(void)state;
	check("\"a,b\",c\n", "0<a,b> 1<c> =2@1\n");
	check("\"say \"\"hi\"\"\",x\n", "0<say \"hi\"> 1<x> =2@1\n");
	check("\"\"\"\"\n", "0<\"> =1@1\n");
	check("\"\",\"\"", "0<> 1<> =2@1\n");
	check("\"a\nb\",c\nd,e\n", "0<a\nb> 1<c> =2@1\n0<d> 1<e> =2@3\n");
	check("\"a\r\nb\"\r\nc\r\n", "0<a\r\nb> =1@1\n0<c> =1@3\n");
	check("\"a\rb\"\rc", "0<a\rb> =1@1\n0<c> =1@3\n");
	check("\"x\"", "0<x> =1@1\n");
	check("\"x\"\r", "0<x> =1@1\n");
}

static void
test_bom(void **state)
{
	(void)state;
	check("\xef\xbb\xbf" "a,b\n", "0<a> 1<b> =2@1\n");
	check("\xef\xbb\xbf", "");
	check("\xef\xbb", "0<\xef\xbb> =1@1\n");
	check("\xef\xbbx,y", "0<\xef\xbbx> 1<y> =2@1\n");
	/* Only at the very start. */
	check("a\n\xef\xbb\xbf" "b\n", "0<a> =1@1\n0<\xef\xbb\xbf" "b> =1@2\n");
	/* Columns in messages do not count the BOM. */
	check("\xef\xbb\xbf" "ab\"c\n",
	    "ERROR 2: line 1, column 3: quote in unquoted field");
}

static void
test_delimiters(void **state)
{
	struct csv_options	 o;
	struct csv_parser	*p;
	struct log		 l = { NULL, 0, 0, 0, 0 };
	enum csv_err		 e;
	const char		 bad[] = { '"', '\r', '\n', '\0', (char)0xc3 };
	size_t			 i;
	char			*got;

	(void)state;
	csv_options_init(&o);
	o.delimiter = ';';
	got = parse("a;\"b;c\";d,e\n", 12, 0, &o);
	assert_string_equal(got, "0<a> 1<b;c> 2<d,e> =3@1\n");
	free(got);
	o.delimiter = '\t';
	got = parse("a\tb c\t\n", 7, 0, &o);
	assert_string_equal(got, "0<a> 1<b c> 2<> =3@1\n");
	free(got);
	for (i = 0; i < sizeof(bad); i++) {
		o.delimiter = bad[i];
		p = csv_parser_new(&o, on_field, on_record, &l, &e);
		assert_null(p);
		assert_int_equal(e, CSV_EINVAL);
		assert_false(csv_delimiter_ok((unsigned char)bad[i]));
	}
	assert_true(csv_delimiter_ok(','));
	assert_true(csv_delimiter_ok('\t'));
	assert_true(csv_delimiter_ok('|'));
	assert_false(csv_delimiter_ok(-1));
	assert_false(csv_delimiter_ok(0x100));
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	check("a,b\n\"c,d\ne\n",
	    "ERROR 2: line 2: unterminated quoted field");
	check("a\n\nb,\"\n\n\n", "ERROR 2: line 3: unterminated quoted field");
	check("\"", "ERROR 2: line 1: unterminated quoted field");
	check("a,b\r\nab\"c,d\r\n",
	    "ERROR 2: line 2, column 3: quote in unquoted field");
	check("x\n\"a\nb\"c\n",
	    "ERROR 2: line 3, column 3: unexpected character after closing quote");
	check("\"a\" ,b", "ERROR 2: line 1, column 4: unexpected character after closing quote");
	check("1,2,3\n4,5,6\n7,\"ab\"x\n",
	    "ERROR 2: line 3, column 7: unexpected character after closing quote");
}

static void
test_nul_bytes(void **state)
{
	(void)state;
	check_n("a,b\x00" "c\n", 6, "ERROR 2: line 1, column 4: NUL byte");
	check_n("a\n\x00\n", 4, "ERROR 2: line 2, column 1: NUL byte");
	check_n("a\n\"x\n\x00\"\n", 8, "ERROR 2: line 3, column 1: NUL byte");
	check_n("\"x\"\x00", 4, "ERROR 2: line 1, column 4: NUL byte");
}

static void
test_field_limit(void **state)
{
	struct csv_options	 o;
	char			*in, *got;
	size_t			 n = 100, i;

	(void)state;
	csv_options_init(&o);
	o.max_field_bytes = n;
	in = malloc(4 * n);
	assert_non_null(in);
	/* Exactly at the limit is fine, one more byte is not. */
	memset(in, 'x', n);
	memcpy(in + n, ",y\n", 3);
	got = parse(in, n + 3, 0, &o);
	assert_int_equal(strncmp(got, "0<xxx", 5), 0);
	free(got);
	for (i = 1; i <= 9; i += 4) {
		memset(in, 'x', n + 1);
		memcpy(in + n + 1, ",y\n", 3);
		got = parse(in, n + 4, i == 1 ? 0 : i, &o);
		assert_string_equal(got, "ERROR 3: line 1: field longer than 100 bytes");
		free(got);
	}
	/* Quoted: counted after unescaping, reported at the field's first line. */
	in[0] = 'a';
	in[1] = '\n';
	in[2] = '"';
	memset(in + 3, '\n', n + 1);
	in[n + 4] = '"';
	got = parse(in, n + 5, 0, &o);
	assert_string_equal(got, "ERROR 3: line 2: field longer than 100 bytes");
	free(got);
	in[0] = '"';
	for (i = 1; i < 2 * n; i += 2)
		memcpy(in + i, "\"\"", 2);
	in[2 * n - 1] = '"';
	got = parse(in, 2 * n, 0, &o);		/* 99 quotes: fits */
	assert_int_equal(strncmp(got, "0<\"\"\"", 5), 0);
	free(got);
	/* The default limit is 1 MiB. */
	csv_options_init(&o);
	assert_int_equal(o.max_field_bytes, CSV_MAX_FIELD_DEFAULT);
	assert_int_equal(CSV_MAX_FIELD_DEFAULT, 1048576);
	free(in);
}

/* Inputs whose result must not depend on how they are cut into chunks. */
static const char *const chunk_inputs[] = {
	"id,name,price\r\n1,\"a, \"\"b\"\"\",2.5\r\n2,c,3\r\n\r\n3,\"multi\nline\",4\n",
	"\xef\xbb\xbfx;y\n\"1\";2\n",
	"a\rb\r\r\"c\r\nd\"\re",
	"q,\"\"\"\",\"\",,\n,\n",
	"a,b\n\"open\nstill open",
	"a,b\nc\"d,e\n",
	"a,b\n\"c\"d,e\n",
	"\"\"\"\"\"\"\"\"x",
	"last,field,no,newline",
	"\r\n\r\n\"\"\r\n",
	"t\n\"x\"\r",
};

static void
test_chunk_boundaries(void **state)
{
	static const size_t	 sizes[] = { 1, 2, 3, 4, 5, 7, 11, 13, 16, 17, 31, 64 };
	struct csv_options	 o;
	size_t			 i, j, len;
	char			*whole, *got;

	(void)state;
	csv_options_init(&o);
	for (i = 0; i < sizeof(chunk_inputs) / sizeof(chunk_inputs[0]); i++) {
		o.delimiter = i == 1 ? ';' : ',';
		len = strlen(chunk_inputs[i]);
		whole = parse(chunk_inputs[i], len, 0, &o);
		for (j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			got = parse(chunk_inputs[i], len, sizes[j], &o);
			if (strcmp(got, whole) != 0)
				fail_msg("input %zu chunk %zu: got '%s' want '%s'",
				    i, sizes[j], got, whole);
			free(got);
		}
		free(whole);
	}
}

/* Every split point of a record, fields long enough for the SIMD path. */
static void
test_every_split_point(void **state)
{
	const char	*in = "0123456789abcdefghij,\"quoted, with \"\"escapes\"\" "
	    "and\r\nnewline in it\",plain field number three\r\n"
	    "next,record,here\n";
	struct csv_parser *p;
	struct log	 l;
	enum csv_err	 e;
	size_t		 len = strlen(in), cut;
	char		*whole;

	(void)state;
	whole = parse(in, len, 0, NULL);
	assert_string_equal(whole,
	    "0<0123456789abcdefghij> 1<quoted, with \"escapes\" and\r\nnewline in it> "
	    "2<plain field number three> =3@1\n0<next> 1<record> 2<here> =3@3\n");
	for (cut = 0; cut <= len; cut++) {
		struct csv_options o;

		memset(&l, 0, sizeof(l));
		csv_options_init(&o);
		p = csv_parser_new(&o, on_field, on_record, &l, &e);
		assert_non_null(p);
		log_add(&l, "", 0);
		assert_int_equal(csv_parser_feed(p, in, cut), CSV_OK);
		assert_int_equal(csv_parser_feed(p, in + cut, len - cut), CSV_OK);
		assert_int_equal(csv_parser_finish(p), CSV_OK);
		assert_string_equal(l.s, whole);
		csv_parser_free(p);
		free(l.s);
	}
	free(whole);
}

/*
 * Random inputs, valid and not, from a small alphabet rich in quotes and
 * line ends: the result (records or error) must be the same whole, byte by
 * byte (where only the slow path runs) and in random pieces.  Long runs of
 * plain bytes make fields and blocks of every size for the 64-byte path.
 */
static void
test_random_differential(void **state)
{
	static const char	 alpha[] = "ab,,,\"\"\"\n\n\r x;";
	struct csv_options	 o;
	char			 in[600], *whole, *bytes, *pieces;
	size_t			 len, off, n, k;
	unsigned		 seed = 4242;
	int			 iter;

	(void)state;
	csv_options_init(&o);
	for (iter = 0; iter < 30000; iter++) {
		len = (size_t)(rand_r(&seed) % sizeof(in));
		for (k = 0; k < len; k++) {
			if (rand_r(&seed) % 8 == 0) {
				/* A run of plain bytes. */
				for (n = rand_r(&seed) % 70; n > 0 && k < len; n--)
					in[k++] = 'p';
				if (k == len)
					break;
			}
			in[k] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
			if (rand_r(&seed) % 5000 == 0)
				in[k] = '\0';
		}
		/* Mostly balanced quotes, so that most inputs are valid. */
		if (iter % 2 == 0)
			for (k = 0, n = 0; k < len; k++)
				if (in[k] == '"' && ++n % 2 == 1 && k + 1 < len &&
				    in[k + 1] != '"' && k > 0 && in[k - 1] != ',' &&
				    in[k - 1] != '\n' && in[k - 1] != '\r')
					in[k] = 'q';
		o.max_field_bytes = iter % 7 == 0 ? 1 + (size_t)(rand_r(&seed) % 80) :
		    CSV_MAX_FIELD_DEFAULT;
		o.delimiter = iter % 11 == 0 ? ';' : ',';
		whole = parse(in, len, 0, &o);
		bytes = parse(in, len, 1, &o);
		if (strcmp(whole, bytes) != 0)
			fail_msg("iter %d: whole '%s' bytes '%s'", iter, whole, bytes);
		/* Random pieces. */
		{
			struct log		 l = { NULL, 0, 0, 0, 0 };
			struct csv_parser	*p;
			enum csv_err		 e;
			char			 buf[256];

			p = csv_parser_new(&o, on_field, on_record, &l, &e);
			assert_non_null(p);
			log_add(&l, "", 0);
			for (off = 0, e = CSV_OK; off < len && e == CSV_OK; off += n) {
				n = 1 + (size_t)(rand_r(&seed) % 130);
				if (n > len - off)
					n = len - off;
				e = csv_parser_feed(p, in + off, n);
			}
			if (e == CSV_OK)
				e = csv_parser_finish(p);
			if (e != CSV_OK) {
				snprintf(buf, sizeof(buf), "ERROR %d: %s", (int)e,
				    csv_parser_errmsg(p));
				free(l.s);
				l.s = strdup(buf);
			}
			pieces = l.s;
			csv_parser_free(p);
		}
		if (strcmp(whole, pieces) != 0)
			fail_msg("iter %d: whole '%s' pieces '%s'", iter, whole, pieces);
		free(whole);
		free(bytes);
		free(pieces);
	}
}

static void
test_long_lines(void **state)
{
	struct csv_options	 o;
	size_t			 n = 3 * 1024 * 1024, i, j;
	char			*in, *got, *whole, tail[64];
	int			 fields = 0;

	(void)state;
	in = malloc(n + 1);
	assert_non_null(in);
	/* One 3 MiB line of short fields. */
	for (i = 0; i + 8 < n; i += 8) {
		memcpy(in + i, "1234567,", 8);
		fields++;
	}
	in[i] = '\n';
	csv_options_init(&o);
	whole = parse(in, i + 1, 0, &o);
	assert_int_equal(strncmp(whole, "0<1234567> 1<1234567> 2<", 24), 0);
	snprintf(tail, sizeof(tail), " %d<> =%d@1\n", fields, fields + 1);
	assert_string_equal(whole + strlen(whole) - strlen(tail), tail);
	for (j = 0; j < 2; j++) {
		got = parse(in, i + 1, j == 0 ? 4096 : 65537, &o);
		assert_string_equal(got, whole);
		free(got);
	}
	free(whole);
	/* A quoted field just under the 1 MiB limit, across chunks. */
	in[0] = '"';
	memset(in + 1, 'q', 1048576);
	memcpy(in + 1 + 1048576, "\",z\n", 4);
	for (j = 0; j < 2; j++) {
		got = parse(in, 1048576 + 5, j == 0 ? 0 : 262144, &o);
		assert_int_equal(strlen(got), 2 + 1048576 + 12);
		assert_string_equal(got + 2 + 1048576, "> 1<z> =2@1\n");
		free(got);
	}
	free(in);
}

static void
test_callback_stop_and_finish(void **state)
{
	struct csv_options	 o;
	struct csv_parser	*p;
	struct log		 l = { NULL, 0, 0, 2, 0 };
	enum csv_err		 e;
	int			 i;

	(void)state;
	csv_options_init(&o);
	p = csv_parser_new(&o, on_field, on_record, &l, &e);
	assert_non_null(p);
	assert_int_equal(csv_parser_feed(p, "a,b,c\n", 6), CSV_ECALLBACK);
	assert_int_equal(l.fields, 2);
	assert_int_equal(csv_parser_feed(p, "d\n", 2), CSV_ECALLBACK);
	assert_int_equal(csv_parser_finish(p), CSV_ECALLBACK);
	csv_parser_free(p);
	free(l.s);

	memset(&l, 0, sizeof(l));
	p = csv_parser_new(&o, on_field, on_record, &l, &e);
	assert_int_equal(csv_parser_finish(p), CSV_OK);
	assert_int_equal(csv_parser_feed(p, "x", 1), CSV_EINVAL);
	csv_parser_free(p);
	free(l.s);
	csv_parser_free(NULL);
	for (i = 0; i < CSV_ERR__MAX; i++)
		assert_true(strlen(csv_strerror(i)) > 0);
	assert_string_equal(csv_strerror(CSV_ERR__MAX), "unknown error");
}

/* ---- statistics ---- */

static struct json_object *
analyze(const char *in, size_t len, const struct csv_options *o, char *err,
    size_t errlen, enum csv_err *ep)
{
	struct csv_options	 def;
	struct json_object	*res = NULL;
	enum csv_err		 e;

	if (o == NULL) {
		csv_options_init(&def);
		o = &def;
	}
	err[0] = '\0';
	e = csvstats_analyze_buffer(in, len, o, NULL, NULL, &res, err, errlen);
	if (ep != NULL)
		*ep = e;
	else if (e != CSV_OK)
		fail_msg("analyze: %s", err);
	return res;
}

static struct json_object *
col(struct json_object *res, size_t i)
{
	struct json_object	*cols;

	assert_true(json_object_object_get_ex(res, "columns", &cols));
	assert_true(i < json_object_array_length(cols));
	return json_object_array_get_idx(cols, i);
}

static const char *
col_str(struct json_object *res, size_t i, const char *key)
{
	struct json_object	*v;

	assert_true(json_object_object_get_ex(col(res, i), key, &v));
	return json_object_get_string(v);
}

static double
col_num(struct json_object *res, size_t i, const char *key)
{
	struct json_object	*v;

	assert_true(json_object_object_get_ex(col(res, i), key, &v));
	assert_true(json_object_is_type(v, json_type_double) ||
	    json_object_is_type(v, json_type_int));
	return json_object_get_double(v);
}

static bool
col_has(struct json_object *res, size_t i, const char *key)
{
	return json_object_object_get_ex(col(res, i), key, NULL);
}

static void
check_json(const char *in, const struct csv_options *o, const char *want)
{
	struct json_object	*res;
	char			 err[256];

	res = analyze(in, strlen(in), o, err, sizeof(err), NULL);
	assert_string_equal(json_object_to_json_string_ext(res,
	    JSON_C_TO_STRING_PLAIN), want);
	json_object_put(res);
}

static void
test_stats_known_values(void **state)
{
	struct json_object	*res;
	char			 err[256];

	(void)state;
	check_json("n\n1\n2\n3\n4\n", NULL,
	    "{\"rows\":4,\"columns\":[{\"name\":\"n\",\"type\":\"integer\","
	    "\"non_empty\":4,\"empty\":0,\"min\":1,\"max\":4,\"mean\":2.5,"
	    "\"stddev\":1.2909944487358056}],\"ragged_rows\":0,\"bytes\":10}");
	/* One value: stddev null; strings and booleans: no numbers at all. */
	check_json("x,s,b,e\n-7.25,hi,TRUE,\n", NULL,
	    "{\"rows\":1,\"columns\":["
	    "{\"name\":\"x\",\"type\":\"number\",\"non_empty\":1,\"empty\":0,"
	    "\"min\":-7.25,\"max\":-7.25,\"mean\":-7.25,\"stddev\":null},"
	    "{\"name\":\"s\",\"type\":\"string\",\"non_empty\":1,\"empty\":0},"
	    "{\"name\":\"b\",\"type\":\"boolean\",\"non_empty\":1,\"empty\":0},"
	    "{\"name\":\"e\",\"type\":\"empty\",\"non_empty\":0,\"empty\":1}],"
	    "\"ragged_rows\":0,\"bytes\":23}");
	/* Mixed integers and decimals: a number column over all values. */
	res = analyze("v\n1\n0.5\n2\n", 10, NULL, err, sizeof(err), NULL);
	assert_string_equal(col_str(res, 0, "type"), "number");
	assert_true(col_num(res, 0, "min") == 0.5);
	assert_true(col_num(res, 0, "max") == 2.0);
	assert_true(fabs(col_num(res, 0, "mean") - 3.5 / 3) < 1e-15);
	assert_true(fabs(col_num(res, 0, "stddev") - sqrt(7.0 / 12)) < 1e-15);
	json_object_put(res);
}

static const char *
type_of(const char *values)
{
	static char		 type[16];
	struct json_object	*res;
	char			*in, err[256];

	assert_true(asprintf(&in, "h\n%s", values) > 0);
	res = analyze(in, strlen(in), NULL, err, sizeof(err), NULL);
	snprintf(type, sizeof(type), "%s", col_str(res, 0, "type"));
	json_object_put(res);
	free(in);
	return type;
}

static void
test_type_inference(void **state)
{
	(void)state;
	assert_string_equal(type_of("1\n-2\n+3\n007\n"), "integer");
	assert_string_equal(type_of("9223372036854775807\n-9223372036854775808\n"),
	    "integer");
	assert_string_equal(type_of("9223372036854775808\n"), "number");
	assert_string_equal(type_of("1\n\n2\n"), "integer");
	assert_string_equal(type_of("1.5\n"), "number");
	assert_string_equal(type_of("1e3\n"), "number");
	assert_string_equal(type_of("-.5\n5.\n+1.25E-2\n"), "number");
	assert_string_equal(type_of("1\n2.0\n"), "number");
	assert_string_equal(type_of("true\nFALSE\nTrue\n"), "boolean");
	assert_string_equal(type_of("true\n1\n"), "string");
	assert_string_equal(type_of("0\n1\n"), "integer");
	assert_string_equal(type_of("1\ntrue\n"), "string");
	assert_string_equal(type_of("\n\"\"\n"), "empty");
	assert_string_equal(type_of(""), "empty");
	assert_string_equal(type_of("yes\n"), "string");
	assert_string_equal(type_of("truee\n"), "string");
	assert_string_equal(type_of(" 5\n"), "string");
	assert_string_equal(type_of("5 \n"), "string");
	assert_string_equal(type_of("0x10\n"), "string");
	assert_string_equal(type_of("inf\n"), "string");
	assert_string_equal(type_of("nan\n"), "string");
	assert_string_equal(type_of("1e999\n"), "string");
	assert_string_equal(type_of("1e-999\n"), "number");
	assert_string_equal(type_of(".\n"), "string");
	assert_string_equal(type_of("-\n"), "string");
	assert_string_equal(type_of("1e\n"), "string");
	assert_string_equal(type_of("e5\n"), "string");
	assert_string_equal(type_of("1.2.3\n"), "string");
	assert_string_equal(type_of("--1\n"), "string");
	assert_string_equal(type_of("1,5\n"), "integer");	/* two columns */
	assert_string_equal(type_of("\"1,5\"\n"), "string");
	assert_string_equal(type_of("\"42\"\n"), "integer");
	assert_string_equal(type_of(" \n"), "string");
}

/* Parsed numbers are the correctly rounded doubles strtod gives. */
static void
test_number_values(void **state)
{
	static const char *const nums[] = {
		"0.1", "123.456", "1e22", "1e23", "9007199254740993.0",
		"0.30000000000000004", "123456789012345678901234567890",
		"4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
		"3.14159265358979323846264338327950288", "-0.000001", "1e-22",
		"18446744073709551615", "18446744073709551616.5", "0.0",
		"00000000000000000000000000001.5", "7e-10", "12345678901234567.0",
		"1.00000000000000011102230246251565404236316680908203125",
	};
	struct json_object	*res;
	char			*in, err[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		assert_true(asprintf(&in, "h\n%s\n", nums[i]) > 0);
		res = analyze(in, strlen(in), NULL, err, sizeof(err), NULL);
		assert_string_equal(col_str(res, 0, "type"), "number");
		if (col_num(res, 0, "min") != strtod(nums[i], NULL))
			fail_msg("%s: got %.17g", nums[i], col_num(res, 0, "min"));
		json_object_put(res);
		free(in);
	}
}

/* Welford against the two-pass textbook formula in long double. */
static void
test_mean_stddev_generated(void **state)
{
	const size_t	 n = 20000;
	struct json_object *res;
	long double	 sum = 0, ss = 0, mean, sd;
	double		*v, mn = INFINITY, mx = -INFINITY;
	char		*in, *w, err[256];
	size_t		 i;

	(void)state;
	v = calloc(n, sizeof(*v));
	in = malloc(n * 40 + 16);
	assert_non_null(v);
	assert_non_null(in);
	srand(12345);
	w = in + sprintf(in, "x\n");
	for (i = 0; i < n; i++) {
		v[i] = 1e6 + ((double)rand() / RAND_MAX - 0.5) * 1000.0 *
		    (i % 7 + 1);
		w += sprintf(w, "%.17g\n", v[i]);	/* %.17g round-trips */
		sum += v[i];
		mn = fmin(mn, v[i]);
		mx = fmax(mx, v[i]);
	}
	mean = sum / n;
	for (i = 0; i < n; i++)
		ss += (v[i] - mean) * (v[i] - mean);
	sd = sqrtl(ss / (n - 1));
	res = analyze(in, (size_t)(w - in), NULL, err, sizeof(err), NULL);
	assert_string_equal(col_str(res, 0, "type"), "number");
	assert_true(col_num(res, 0, "min") == mn);
	assert_true(col_num(res, 0, "max") == mx);
	assert_true(fabsl(col_num(res, 0, "mean") - mean) <= fabsl(mean) * 1e-13);
	assert_true(fabsl(col_num(res, 0, "stddev") - sd) <= sd * 1e-9);
	json_object_put(res);
	free(in);
	free(v);
}

static void
test_names(void **state)
{
	struct csv_options	 o;
	struct json_object	*res;
	char			 err[256];
	const char		*in;

	(void)state;
	in = "a,,a,a_2,a,\"b\xff" "\xc3\xa9\",\xed\xa0\x80,\"\xe2\x82\xac\"\n1,2,3,4,5,6,7,8\n";
	res = analyze(in, strlen(in), NULL, err, sizeof(err), NULL);
	assert_string_equal(col_str(res, 0, "name"), "a");
	assert_string_equal(col_str(res, 1, "name"), "column_2");
	assert_string_equal(col_str(res, 2, "name"), "a_2");
	assert_string_equal(col_str(res, 3, "name"), "a_2_2");
	assert_string_equal(col_str(res, 4, "name"), "a_3");
	assert_string_equal(col_str(res, 5, "name"), "b\xef\xbf\xbd\xc3\xa9");
	assert_string_equal(col_str(res, 6, "name"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(col_str(res, 7, "name"), "\xe2\x82\xac");
	json_object_put(res);

	/* Long names are cut at a character boundary; é is 2 bytes. */
	{
		char	 *hdr, *w;
		size_t	  k;

		hdr = malloc(4000);
		assert_non_null(hdr);
		w = hdr;
		*w++ = 'x';
		for (k = 0; k < 1500; k++)
			w += sprintf(w, "\xc3\xa9");
		w += sprintf(w, ",b\n1,2\n");
		res = analyze(hdr, (size_t)(w - hdr), NULL, err, sizeof(err), NULL);
		assert_int_equal(strlen(col_str(res, 0, "name")), 1023);
		assert_string_equal(col_str(res, 0, "name") + 1021, "\xc3\xa9");
		assert_string_equal(col_str(res, 1, "name"), "b");
		json_object_put(res);
		free(hdr);
	}

	csv_options_init(&o);
	o.has_header = false;
	in = "1,x\n2,y\n";
	res = analyze(in, strlen(in), &o, err, sizeof(err), NULL);
	assert_string_equal(col_str(res, 0, "name"), "column_1");
	assert_string_equal(col_str(res, 1, "name"), "column_2");
	assert_string_equal(col_str(res, 0, "type"), "integer");
	assert_int_equal((int)col_num(res, 0, "non_empty"), 2);
	json_object_put(res);
}

static void
test_header_only_and_empty(void **state)
{
	struct csv_options	 o;

	(void)state;
	check_json("a,b\n", NULL, "{\"rows\":0,\"columns\":["
	    "{\"name\":\"a\",\"type\":\"empty\",\"non_empty\":0,\"empty\":0},"
	    "{\"name\":\"b\",\"type\":\"empty\",\"non_empty\":0,\"empty\":0}],"
	    "\"ragged_rows\":0,\"bytes\":4}");
	check_json("", NULL,
	    "{\"rows\":0,\"columns\":[],\"ragged_rows\":0,\"bytes\":0}");
	check_json("\xef\xbb\xbf\n\n", NULL,
	    "{\"rows\":0,\"columns\":[],\"ragged_rows\":0,\"bytes\":5}");
	csv_options_init(&o);
	o.has_header = false;
	check_json("", &o,
	    "{\"rows\":0,\"columns\":[],\"ragged_rows\":0,\"bytes\":0}");
}

static void
test_ragged_rows(void **state)
{
	struct json_object	*res;
	char			 err[256];
	const char		*in = "a,b,c\n1,2,3\n4,5\n6,7,8,x\n9,10,11\n\n";

	(void)state;
	res = analyze(in, strlen(in), NULL, err, sizeof(err), NULL);
	assert_int_equal(json_object_get_int(json_object_object_get(res, "rows")), 4);
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "ragged_rows")), 2);
	assert_int_equal(json_object_array_length(json_object_object_get(res,
	    "columns")), 3);
	/* The short row lacks c: c has 3 values; x beyond the width is ignored. */
	assert_int_equal((int)col_num(res, 2, "non_empty"), 3);
	assert_int_equal((int)col_num(res, 2, "empty"), 0);
	assert_string_equal(col_str(res, 2, "type"), "integer");
	assert_int_equal((int)col_num(res, 2, "max"), 11);
	assert_int_equal((int)col_num(res, 0, "non_empty"), 4);
	json_object_put(res);
}

static void
test_empty_and_whitespace_counts(void **state)
{
	struct json_object	*res;
	char			 err[256];
	const char		*in = "a,b\n,1\n\"\",\n \t,3\nx,\"\"\n";

	(void)state;
	res = analyze(in, strlen(in), NULL, err, sizeof(err), NULL);
	assert_int_equal((int)col_num(res, 0, "empty"), 2);
	assert_int_equal((int)col_num(res, 0, "non_empty"), 2);
	assert_string_equal(col_str(res, 0, "type"), "string");
	assert_false(col_has(res, 0, "min"));
	assert_false(col_has(res, 0, "mean"));
	assert_int_equal((int)col_num(res, 1, "empty"), 2);
	assert_int_equal((int)col_num(res, 1, "non_empty"), 2);
	assert_string_equal(col_str(res, 1, "type"), "integer");
	assert_true(col_num(res, 1, "mean") == 2.0);
	json_object_put(res);
}

static void
test_stats_errors(void **state)
{
	struct csv_options	 o;
	struct json_object	*res;
	enum csv_err		 e;
	char			 err[256];
	const char		*in;

	(void)state;
	in = "a,b\n1,2\n3,\"4\n5,6\n";
	res = analyze(in, strlen(in), NULL, err, sizeof(err), &e);
	assert_null(res);
	assert_int_equal(e, CSV_ESYNTAX);
	assert_string_equal(err, "line 3: unterminated quoted field");

	csv_options_init(&o);
	o.max_columns = 3;
	in = "\n\na,b,c,d\n1,2,3,4\n";
	res = analyze(in, strlen(in), &o, err, sizeof(err), &e);
	assert_null(res);
	assert_int_equal(e, CSV_ETOOBIG);
	assert_string_equal(err, "line 3: more than 3 columns");
	in = "a,b,c\n1,2,3,4\n";
	res = analyze(in, strlen(in), &o, err, sizeof(err), &e);
	assert_int_equal(e, CSV_OK);
	json_object_put(res);

	csv_options_init(&o);
	o.max_field_bytes = 4;
	in = "a\n12345\n";
	res = analyze(in, strlen(in), &o, err, sizeof(err), &e);
	assert_null(res);
	assert_int_equal(e, CSV_ETOOBIG);
	assert_string_equal(err, "line 2: field longer than 4 bytes");

	o.delimiter = '"';
	res = analyze("a", 1, &o, err, sizeof(err), &e);
	assert_null(res);
	assert_int_equal(e, CSV_EINVAL);
	assert_string_equal(err, "delimiter must be one ASCII character "
	    "other than '\"', CR and LF");
}

struct prog {
	uint64_t	 last, total, calls;
	uint64_t	 cancel_after;
};

static int
on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct prog	*p = arg;

	assert_true(done >= p->last);
	assert_true(done <= total);
	p->last = done;
	p->total = total;
	p->calls++;
	return p->cancel_after != 0 && p->calls >= p->cancel_after;
}

static char *
big_csv(size_t rows, size_t *lenp)
{
	char	*in, *w;
	size_t	 i;

	in = malloc(rows * 32 + 32);
	assert_non_null(in);
	w = in + sprintf(in, "i,d,s\n");
	for (i = 0; i < rows; i++)
		w += sprintf(w, "%zu,%zu.5,\"s%zu\"\n", i, i % 1000, i);
	*lenp = (size_t)(w - in);
	return in;
}

static void
test_progress_buffer(void **state)
{
	struct csv_options	 o;
	struct json_object	*res = NULL;
	struct prog		 p = { 0, 0, 0, 0 };
	enum csv_err		 e;
	size_t			 len;
	char			*in, err[256];

	(void)state;
	in = big_csv(200000, &len);
	csv_options_init(&o);
	e = csvstats_analyze_buffer(in, len, &o, on_progress, &p, &res, err,
	    sizeof(err));
	assert_int_equal(e, CSV_OK);
	assert_int_equal(p.last, len);
	assert_int_equal(p.total, len);
	assert_true(p.calls >= 2 && p.calls <= 102);
	assert_int_equal(json_object_get_int(json_object_object_get(res, "rows")),
	    200000);
	json_object_put(res);

	memset(&p, 0, sizeof(p));
	p.cancel_after = 1;
	e = csvstats_analyze_buffer(in, len, &o, on_progress, &p, &res, err,
	    sizeof(err));
	assert_int_equal(e, CSV_ECANCELLED);
	assert_null(res);
	assert_string_equal(err, "cancelled");
	free(in);
}

/* The statistics' own copy of the parser core, likewise: whole, byte by byte, pieces. */
static char *
stats_text(const char *in, size_t len, size_t piece, unsigned *seed)
{
	struct csv_options	 o;
	struct csvstats		*st;
	struct json_object	*res;
	enum csv_err		 e;
	size_t			 off, n;
	char			*out;

	csv_options_init(&o);
	st = csvstats_new(&o, &e);
	assert_non_null(st);
	for (off = 0, e = CSV_OK; off < len && e == CSV_OK; off += n) {
		n = piece == 0 ? len : piece == 1 ? 1 :
		    1 + (size_t)(rand_r(seed) % piece);
		if (n > len - off)
			n = len - off;
		e = csvstats_feed(st, in + off, n);
	}
	if (e == CSV_OK)
		e = csvstats_finish(st, &res);
	if (e != CSV_OK)
		assert_true(asprintf(&out, "ERROR %d: %s", (int)e,
		    csvstats_errmsg(st)) > 0);
	else {
		out = strdup(json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(res);
	}
	csvstats_free(st);
	return out;
}

/*
 * Fills in (cap bytes) with a random CSV for iteration iter: 1 to 5
 * columns of one family each (fam, by column and iter), with the odd
 * empty or stray value and the odd extra field, up to maxrows data rows
 * after a header, each ended by one of eol; every tenth input is cut
 * anywhere.  Returns its length.
 */
static size_t
random_csv(char *in, size_t cap, const char *const fam[5][6],
    const char *const eol[4], int maxrows, int iter, unsigned *seed)
{
	const char	*t;
	size_t		 len = 0, cols, k;
	unsigned	 f;
	int		 rows, r;

	cols = 1 + (size_t)(rand_r(seed) % 5);
	rows = rand_r(seed) % maxrows;
	for (r = 0; r <= rows && len < cap - 200; r++) {
		for (k = 0; k < cols + (rand_r(seed) % 9 == 0); k++) {
			f = (unsigned)(k + (size_t)iter) % 5;
			if (rand_r(seed) % 20 == 0)
				f = 4;
			else if (rand_r(seed) % 60 == 0)
				f = (unsigned)rand_r(seed) % 5;
			t = r == 0 ? "h" : fam[f][rand_r(seed) % 6];
			len += (size_t)sprintf(in + len, "%s%s", k ? "," : "", t);
		}
		len += (size_t)sprintf(in + len, "%s", eol[rand_r(seed) % 4]);
	}
	if (iter % 10 == 0 && len > 0)
		len -= (size_t)(rand_r(seed) % len);	/* cut anywhere */
	return len;
}

static void
test_stats_random_differential(void **state)
{
	/* Columns of one family each, with the odd empty or stray value. */
	static const char *const fam[5][6] = {
		{ "1", "-2", "007", "0", "+5", "\"42\"" },
		{ "3.5", ".5", "1e3", "-0.25", "2.", "99999999999999999999" },
		{ "true", "FALSE", "True", "\"false\"", "true", "false" },
		{ "x", "\"a,b\"", "\"q\"\"\"", "\"l\nm\"", " ", "-" },
		{ "", "\"\"", "", "1", "", "\"\"" },
	};
	/* One line end in four is CR LF. */
	static const char *const eol[4] = { "\r\n", "\n", "\n", "\n" };
	char		 in[2000], *whole, *bytes, *pieces;
	size_t		 len;
	unsigned	 seed = 99;
	int		 iter;

	(void)state;
	for (iter = 0; iter < 3000; iter++) {
		len = random_csv(in, sizeof(in), fam, eol, 30, iter, &seed);
		whole = stats_text(in, len, 0, &seed);
		bytes = stats_text(in, len, 1, &seed);
		pieces = stats_text(in, len, 97, &seed);
		if (strcmp(whole, bytes) != 0 || strcmp(whole, pieces) != 0)
			fail_msg("iter %d:\nwhole  %s\nbytes  %s\npieces %s",
			    iter, whole, bytes, pieces);
		free(whole);
		free(bytes);
		free(pieces);
	}
}

/*
 * Type inference and min/max against an independent reading of the
 * grammar of csvstats.h (strtoll and strtod on the values it accepts), on
 * random number-like values, bare and quoted, with ',', with a digit as
 * the delimiter (csvstats' digit loops then must not rely on the byte
 * after a value) and with '.' (the byte after a value is a point), each
 * file fed whole and byte by byte.
 */
enum ref_kind { REF_NONE, REF_INT, REF_NUM };

static enum ref_kind
ref_number(const char *tok, long long *ip, double *dp)
{
	const char	*s = tok;
	size_t		 nd;
	bool		 isint = true;
	char		*end;

	if (*s == '+' || *s == '-')
		s++;
	nd = strspn(s, "0123456789");
	s += nd;
	if (*s == '.') {
		isint = false;
		s++;
		nd += strspn(s, "0123456789");
		s += strspn(s, "0123456789");
	}
	if (nd == 0)
		return REF_NONE;
	if (*s == 'e' || *s == 'E') {
		isint = false;
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (strspn(s, "0123456789") == 0)
			return REF_NONE;
		s += strspn(s, "0123456789");
	}
	if (*s != '\0')
		return REF_NONE;
	if (isint) {
		errno = 0;
		*ip = strtoll(tok, &end, 10);
		if (errno == 0 && *end == '\0')
			return REF_INT;
	}
	*dp = strtod(tok, &end);
	return isfinite(*dp) ? REF_NUM : REF_NONE;
}

/* A random value: mostly of a number's shape, by the column's mode. */
static void
ref_token(char *t, int mode, unsigned *seed)
{
	static const char	 any[] = "0123456789.-+eE x";
	static const char	*const fixed[] = { "-0", "+0", "-0.0", "0.",
	    ".0", "-.5", "5.", ".", "-", "+", "1e5", "1E-3", "12345678",
	    "99999999", "-9999999", "123456789", "1234567.8", ".1234567",
	    "9223372036854775807", "-9223372036854775808",
	    "9223372036854775808", "000000001", "00.000" };
	size_t			 n = 0, k;
	int			 r = rand_r(seed) % 100;

	if (r < 8) {
		strcpy(t, fixed[rand_r(seed) % (sizeof(fixed) / sizeof(fixed[0]))]);
		return;
	}
	if (mode == 2 || r < 12) {
		for (k = 1 + (size_t)(rand_r(seed) % 10); n < k; n++)
			t[n] = any[rand_r(seed) % (sizeof(any) - 1)];
		t[n] = '\0';
		return;
	}
	if (rand_r(seed) % 6 == 0)
		t[n++] = rand_r(seed) % 2 ? '-' : '+';
	for (k = (size_t)(rand_r(seed) % 11); k > 0; k--)
		t[n++] = (char)('0' + rand_r(seed) % 10);
	if (mode == 1 && rand_r(seed) % 4 != 0) {
		t[n++] = '.';
		for (k = (size_t)(rand_r(seed) % 9); k > 0; k--)
			t[n++] = (char)('0' + rand_r(seed) % 10);
	}
	if (rand_r(seed) % 40 == 0)
		n += (size_t)sprintf(t + n, "e%d", rand_r(seed) % 40 - 20);
	t[n] = '\0';
}

/* The result of csvstats on in (caller owns), fed whole or byte by byte. */
static struct json_object *
ref_stats(const char *in, size_t len, char delim, bool bytes)
{
	struct csv_options	 o;
	struct csvstats		*st;
	struct json_object	*res;
	enum csv_err		 e;
	size_t			 off, n;

	csv_options_init(&o);
	o.delimiter = delim;
	st = csvstats_new(&o, &e);
	assert_non_null(st);
	for (off = 0, e = CSV_OK; off < len && e == CSV_OK; off += n) {
		n = bytes ? 1 : len;
		e = csvstats_feed(st, in + off, n);
	}
	if (e == CSV_OK)
		e = csvstats_finish(st, &res);
	if (e != CSV_OK)
		fail_msg("ref_stats: %s", csvstats_errmsg(st));
	csvstats_free(st);
	return res;
}

static void
test_value_inference_random(void **state)
{
	struct ref_col {
		uint64_t	 non_empty, empty;
		bool		 isint, isnum;
		long long	 imin, imax;
		double		 dmin, dmax;
	}			 rc[3];
	struct json_object	*res, *res1, *v;
	char			 in[8192], tok[64], delim;
	const char		*type;
	size_t			 len, ncols, k;
	unsigned		 seed = 4242;
	long long		 iv = 0;
	double			 dv = 0;
	int			 iter, rows, r, mode[3];
	enum ref_kind		 kind;

	(void)state;
	for (iter = 0; iter < 1500; iter++) {
		delim = iter % 4 == 2 ? '7' : iter % 4 == 3 ? '.' : ',';
		ncols = 1 + (size_t)(rand_r(&seed) % 3);
		rows = 1 + rand_r(&seed) % 60;
		memset(rc, 0, sizeof(rc));
		for (k = 0; k < ncols; k++) {
			mode[k] = rand_r(&seed) % 3;
			rc[k].isint = rc[k].isnum = true;
		}
		len = 0;
		for (k = 0; k < ncols; k++)
			len += (size_t)sprintf(in + len, "%.*sh%zu", k ? 1 : 0,
			    &delim, k);
		in[len++] = '\n';
		for (r = 0; r < rows && len < sizeof(in) - 400; r++) {
			for (k = 0; k < ncols; k++) {
				if (k > 0)
					in[len++] = delim;
				if (rand_r(&seed) % 15 == 0)
					tok[0] = '\0';
				else
					ref_token(tok, mode[k], &seed);
				/* An empty line would be no record at all. */
				if (strchr(tok, delim) != NULL ||
				    (tok[0] == '\0' && ncols == 1) ||
				    rand_r(&seed) % 5 == 0)
					len += (size_t)sprintf(in + len, "\"%s\"", tok);
				else
					len += (size_t)sprintf(in + len, "%s", tok);
				if (tok[0] == '\0') {
					rc[k].empty++;
					continue;
				}
				rc[k].non_empty++;
				kind = ref_number(tok, &iv, &dv);
				if (kind == REF_NONE) {
					rc[k].isint = rc[k].isnum = false;
					continue;
				}
				if (kind == REF_INT) {
					dv = (double)iv;
					if (rc[k].non_empty == 1 || iv < rc[k].imin)
						rc[k].imin = iv;
					if (rc[k].non_empty == 1 || iv > rc[k].imax)
						rc[k].imax = iv;
				} else
					rc[k].isint = false;
				if (rc[k].non_empty == 1 || dv < rc[k].dmin)
					rc[k].dmin = dv;
				if (rc[k].non_empty == 1 || dv > rc[k].dmax)
					rc[k].dmax = dv;
			}
			in[len++] = rand_r(&seed) % 3 == 0 ? '\r' : '\n';
		}
		in[len] = '\0';
		res = ref_stats(in, len, delim, false);
		res1 = ref_stats(in, len, delim, true);
		if (!json_object_equal(res, res1))
			fail_msg("iter %d: whole %s\nbytes %s", iter,
			    json_object_to_json_string(res),
			    json_object_to_json_string(res1));
		json_object_put(res1);
		for (k = 0; k < ncols; k++) {
			type = rc[k].non_empty == 0 ? "empty" : rc[k].isint ?
			    "integer" : rc[k].isnum ? "number" : "string";
			if (strcmp(col_str(res, k, "type"), type) != 0)
				fail_msg("iter %d column %zu: %s, want %s in\n%s",
				    iter, k, col_str(res, k, "type"), type, in);
			assert_int_equal(json_object_get_int64(json_object_object_get(
			    col(res, k), "non_empty")), rc[k].non_empty);
			assert_int_equal(json_object_get_int64(json_object_object_get(
			    col(res, k), "empty")), rc[k].empty);
			if (strcmp(type, "integer") == 0) {
				v = json_object_object_get(col(res, k), "min");
				assert_true(json_object_is_type(v, json_type_int));
				assert_true(json_object_get_int64(v) == rc[k].imin);
				v = json_object_object_get(col(res, k), "max");
				assert_true(json_object_get_int64(v) == rc[k].imax);
			} else if (strcmp(type, "number") == 0) {
				if (col_num(res, k, "min") != rc[k].dmin ||
				    col_num(res, k, "max") != rc[k].dmax ||
				    signbit(col_num(res, k, "min")) !=
				    signbit(rc[k].dmin))
					fail_msg("iter %d column %zu: min %.17g max "
					    "%.17g, want %.17g %.17g in\n%s", iter, k,
					    col_num(res, k, "min"),
					    col_num(res, k, "max"), rc[k].dmin,
					    rc[k].dmax, in);
			}
		}
		json_object_put(res);
	}
}

static void
test_analyze_fd_and_path(void **state)
{
	struct csv_options	 o;
	struct json_object	*res = NULL, *res2 = NULL;
	struct prog		 p = { 0, 0, 0, 0 };
	enum csv_err		 e;
	char			 path[] = "/tmp/test_csv.XXXXXX", err[256];
	char			*in;
	size_t			 len;
	int			 fd;

	(void)state;
	in = big_csv(100000, &len);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, in, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	csv_options_init(&o);
	e = csvstats_analyze_fd(fd, 0, &o, on_progress, &p, &res, err,
	    sizeof(err));
	assert_int_equal(e, CSV_OK);
	assert_int_equal(p.last, len);
	assert_int_equal(p.total, len);
	assert_true(p.calls >= 2 && p.calls <= 102);
	assert_int_equal(json_object_get_int64(json_object_object_get(res,
	    "bytes")), (int64_t)len);
	close(fd);

	/* The same result from the path and from the buffer. */
	e = csvstats_analyze_path(path, &o, NULL, NULL, &res2, err, sizeof(err));
	assert_int_equal(e, CSV_OK);
	assert_true(json_object_equal(res, res2));
	json_object_put(res2);
	e = csvstats_analyze_buffer(in, len, &o, NULL, NULL, &res2, err,
	    sizeof(err));
	assert_int_equal(e, CSV_OK);
	assert_true(json_object_equal(res, res2));
	json_object_put(res2);
	assert_string_equal(col_str(res, 1, "type"), "number");
	assert_true(fabs(col_num(res, 1, "mean") - 500.0) < 1e-9);
	json_object_put(res);
	unlink(path);

	e = csvstats_analyze_path(path, &o, NULL, NULL, &res, err, sizeof(err));
	assert_int_equal(e, CSV_EIO);
	assert_null(res);
	assert_non_null(strstr(err, "No such file"));
	e = csvstats_analyze_fd(-1, 0, &o, NULL, NULL, &res, err, sizeof(err));
	assert_int_equal(e, CSV_EIO);
	assert_string_equal(err, "read: Bad file descriptor");
	free(in);
}

/* The incremental form, fed in odd pieces, gives the one-shot result. */
static void
test_stats_chunked(void **state)
{
	struct csv_options	 o;
	struct csvstats		*st;
	struct json_object	*whole, *res;
	enum csv_err		 e;
	size_t			 len, off, n, sizes[] = { 1, 7, 4093 }, i;
	char			*in, err[256];

	(void)state;
	in = big_csv(3000, &len);
	csv_options_init(&o);
	whole = analyze(in, len, &o, err, sizeof(err), NULL);
	for (i = 0; i < 3; i++) {
		st = csvstats_new(&o, &e);
		assert_non_null(st);
		for (off = 0; off < len; off += n) {
			n = len - off < sizes[i] ? len - off : sizes[i];
			assert_int_equal(csvstats_feed(st, in + off, n), CSV_OK);
		}
		assert_int_equal(csvstats_finish(st, &res), CSV_OK);
		assert_true(json_object_equal(res, whole));
		json_object_put(res);
		csvstats_free(st);
	}
	csvstats_free(NULL);
	json_object_put(whole);
	free(in);
}

/* ---- two threads on a file (csvstats_analyze_fd) ---- */

/* One csvstats_analyze_fd run over a temporary file. */
struct fdrun {
	struct json_object	*res;
	enum csv_err		 e;
	char			 err[256];
	struct prog		 p;
	off_t			 end;		/* the descriptor's offset after */
	uint64_t		 read;		/* bytes the analysis read */
};

/* The bytes this process has read so far (rchar of /proc/self/io). */
static uint64_t
rchar(void)
{
	char			 buf[512];
	unsigned long long	 n = 0;
	ssize_t			 len;
	int			 fd;

	fd = open("/proc/self/io", O_RDONLY);
	assert_true(fd >= 0);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(len > 0);
	buf[len] = '\0';
	assert_int_equal(sscanf(buf, "rchar: %llu", &n), 1);
	return n;
}

/* Options for fd_run other than the defaults (delimiter, header), or NULL. */
static const struct csv_options	*fd_opts;

/*
 * Analyses in, written to a temporary file after prefix bytes of junk that
 * the descriptor's offset skips, with the given threads and split size.
 */
static void
fd_run(const char *in, size_t len, size_t prefix, unsigned threads,
    uint64_t split_min, uint64_t cancel_after, struct fdrun *r)
{
	struct csv_options	 o;
	char			 path[] = "/tmp/test_csv_split.XXXXXX";
	size_t			 i;
	int			 fd;

	memset(r, 0, sizeof(*r));
	r->p.cancel_after = cancel_after;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	for (i = 0; i < prefix; i++)
		assert_int_equal(write(fd, "\"", 1), 1);
	assert_int_equal(write(fd, in, len), (ssize_t)len);
	assert_int_equal(lseek(fd, (off_t)prefix, SEEK_SET), (off_t)prefix);
	if (fd_opts != NULL)
		o = *fd_opts;
	else
		csv_options_init(&o);
	o.threads = threads;
	o.split_min_bytes = split_min;
	r->read = rchar();
	r->e = csvstats_analyze_fd(fd, 0, &o, on_progress, &r->p, &r->res,
	    r->err, sizeof(r->err));
	r->read = rchar() - r->read;
	r->end = lseek(fd, 0, SEEK_CUR);
	close(fd);
}

/* Whether two numbers (or nulls) agree within a relative 1e-12. */
static bool
close_enough(struct json_object *a, struct json_object *b)
{
	double	 x, y;

	if (a == NULL || b == NULL)
		return a == b;
	x = json_object_get_double(a);
	y = json_object_get_double(b);
	return x == y || fabs(x - y) <= 1e-12 * fmax(fabs(x), fabs(y));
}

/*
 * The two results are the same: everything bit for bit, except mean and
 * stddev, which the merge of two halves may round differently.
 */
static void
assert_same_stats(struct json_object *a, struct json_object *b,
    const char *what)
{
	static const char *const exact[] = { "name", "type", "non_empty",
	    "empty", "min", "max" };
	static const char *const top[] = { "rows", "ragged_rows", "bytes" };
	struct json_object	*ca, *cb, *x, *y, *va, *vb;
	size_t			 i, k, n;

	for (k = 0; k < 3; k++)
		if (!json_object_equal(json_object_object_get(a, top[k]),
		    json_object_object_get(b, top[k])))
			goto differ;
	ca = json_object_object_get(a, "columns");
	cb = json_object_object_get(b, "columns");
	if ((n = json_object_array_length(ca)) != json_object_array_length(cb))
		goto differ;
	for (i = 0; i < n; i++) {
		x = json_object_array_get_idx(ca, i);
		y = json_object_array_get_idx(cb, i);
		if (json_object_object_length(x) != json_object_object_length(y))
			goto differ;
		for (k = 0; k < 6; k++) {
			va = json_object_object_get(x, exact[k]);
			vb = json_object_object_get(y, exact[k]);
			if (!json_object_equal(va, vb) || (va != NULL && vb != NULL &&
			    strcmp(json_object_to_json_string(va),
			    json_object_to_json_string(vb)) != 0))
				goto differ;
		}
		if (!close_enough(json_object_object_get(x, "mean"),
		    json_object_object_get(y, "mean")) ||
		    !close_enough(json_object_object_get(x, "stddev"),
		    json_object_object_get(y, "stddev")))
			goto differ;
	}
	return;
differ:
	fail_msg("%s:\none pass    %s\ntwo threads %s", what,
	    json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
	    json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
}

/* The bytes read by check_split's last two-thread run. */
static uint64_t	 split_read;

/*
 * in analysed by one thread and by two (split whatever the size), from a
 * descriptor at offset prefix: the same outcome, the same error message,
 * the descriptor left at the end.  Returns the split run's result (caller
 * puts it), NULL on error.
 */
static struct json_object *
check_split(const char *in, size_t len, size_t prefix, const char *what)
{
	struct fdrun	 one, two;

	fd_run(in, len, prefix, 1, 0, 0, &one);
	fd_run(in, len, prefix, 2, 1, 0, &two);
	split_read = two.read;
	if (one.e != two.e || strcmp(one.err, two.err) != 0)
		fail_msg("%s: one pass %d \"%s\", two threads %d \"%s\"", what,
		    (int)one.e, one.err, (int)two.e, two.err);
	if (one.e == CSV_OK) {
		assert_same_stats(one.res, two.res, what);
		assert_int_equal(two.p.last, len);
		assert_int_equal(two.p.total, len);
		assert_int_equal(two.end, (off_t)(prefix + len));
	}
	assert_int_equal(one.end, (off_t)(prefix + len));
	json_object_put(one.res);
	return two.res;
}

/*
 * check_split's last run merged the second thread's half: its bytes were
 * read once (the split point's 4 KiB read and /proc aside), not again by
 * the first thread as after a wrong guess or a failed start.
 */
static void
assert_merged(size_t len, const char *what)
{
	if (split_read >= len + len / 4)
		fail_msg("%s: %llu bytes read for %zu: the halves were not "
		    "merged", what, (unsigned long long)split_read, len);
}

/* The input of rows generated rows, each line ending in eol. */
static char *
split_csv(size_t rows, const char *eol, size_t *lenp)
{
	char	*in, *w;
	size_t	 i;

	in = malloc(rows * 64 + 64);
	assert_non_null(in);
	w = in + sprintf(in, "i,d,b,s%s", eol);
	for (i = 0; i < rows; i++)
		w += sprintf(w, "%zu,%zu.%02zu,%s,\"s,%zu\"%s", i * 7919 % 1000,
		    i % 97, i % 100, i % 3 ? "true" : "FALSE", i, eol);
	*lenp = (size_t)(w - in);
	return in;
}

static void
test_split_same_result(void **state)
{
	struct json_object	*res;
	struct fdrun		 r;
	char			*in;
	size_t			 len;

	(void)state;
	/* LF, CR LF, CR only; from offset 0 and from inside the file. */
	in = split_csv(5000, "\n", &len);
	res = check_split(in, len, 0, "LF");
	assert_merged(len, "LF");
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "rows")), 5000);
	assert_string_equal(col_str(res, 1, "type"), "number");
	assert_string_equal(col_str(res, 2, "type"), "boolean");
	json_object_put(res);
	json_object_put(check_split(in, len, 17, "LF, from offset 17"));
	assert_merged(len, "LF, from offset 17");
	free(in);
	in = split_csv(5000, "\r\n", &len);
	json_object_put(check_split(in, len, 0, "CR LF"));
	assert_merged(len, "CR LF");
	free(in);
	in = split_csv(5000, "\r", &len);
	res = check_split(in, len, 0, "CR");
	assert_merged(len, "CR");
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "rows")), 5000);
	json_object_put(res);
	free(in);

	/* Smaller than the default split size: one thread, same result. */
	in = split_csv(50, "\n", &len);
	fd_run(in, len, 0, 2, 0, 0, &r);
	assert_int_equal(r.e, CSV_OK);
	json_object_put(check_split(in, len, 0, "small"));
	json_object_put(r.res);
	free(in);

	/*
	 * A line longer than one 4 KiB read spans the middle, and the CR of
	 * its CR LF is the last byte of the second read: the second thread
	 * starts after the LF.
	 */
	in = malloc(3 + 11189 + 2 + 3 * 1000);
	assert_non_null(in);
	memcpy(in, "a\r\n", 3);
	memset(in + 3, 'x', 11189);
	memcpy(in + 3 + 11189, "\r\n", 2);
	for (len = 3 + 11189 + 2; len < 3 + 11189 + 2 + 3 * 1000; len += 3)
		memcpy(in + len, "2\r\n", 3);
	assert_int_equal(in[len / 2 + 4095], '\r');
	res = check_split(in, len, 0, "long line at the middle");
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "rows")), 1001);
	json_object_put(res);
	free(in);

	/* A header only, one row, a BOM, an empty file, no line end at all. */
	json_object_put(check_split("a,b,c\n", 6, 0, "header only"));
	json_object_put(check_split("a,b,c", 5, 0, "header, no line end"));
	json_object_put(check_split("a,b\n1,2\n", 8, 0, "one row"));
	json_object_put(check_split("a,b\r\n1,2", 8, 0, "one row, no end"));
	json_object_put(check_split("\xef\xbb\xbf" "a\n1\n2\n3\n", 11, 0, "BOM"));
	json_object_put(check_split("", 0, 0, "empty"));
	json_object_put(check_split("\n\n\n\n", 4, 0, "blank lines"));
	json_object_put(check_split("a\r\n\r\n\r\n1\r\n", 10, 0, "blank CR LF"));
}

/* Each column's type over both halves is the type of one pass. */
static void
test_split_type_merge(void **state)
{
	/* First half, second half: integer/number, number/integer, ... */
	static const char *const half[2][8] = {
		{ "5", "2.5", "", "7", "true", "-3", "0", "x" },
		{ "1.25", "-4", "9", "x", "FALSE", "", "-0.0", "" },
	};
	struct json_object	*res;
	char			*in, *w;
	size_t			 len, i, k, h;

	(void)state;
	in = malloc(64 * 1024);
	assert_non_null(in);
	w = in + sprintf(in, "a,b,c,d,e,f,g,h\n");
	for (h = 0; h < 2; h++)
		for (i = 0; i < 500; i++) {
			for (k = 0; k < 8; k++)
				w += sprintf(w, "%s%s", k ? "," : "", half[h][k]);
			*w++ = '\n';
		}
	len = (size_t)(w - in);
	res = check_split(in, len, 0, "type merge");
	assert_merged(len, "type merge");
	assert_string_equal(col_str(res, 0, "type"), "number");
	assert_true(col_num(res, 0, "min") == 1.25);
	assert_true(col_num(res, 0, "max") == 5.0);
	assert_string_equal(col_str(res, 1, "type"), "number");
	assert_true(col_num(res, 1, "min") == -4.0);
	assert_string_equal(col_str(res, 2, "type"), "integer");
	assert_int_equal(json_object_get_int(json_object_object_get(col(res,
	    2), "min")), 9);
	assert_string_equal(col_str(res, 3, "type"), "string");
	assert_string_equal(col_str(res, 4, "type"), "boolean");
	assert_string_equal(col_str(res, 5, "type"), "integer");
	assert_string_equal(col_str(res, 6, "type"), "number");
	assert_string_equal(col_str(res, 7, "type"), "string");
	json_object_put(res);
	free(in);
}

/*
 * The guess that the middle is outside quotes is wrong: a quoted field
 * with line ends spans the middle, or a line end inside quotes sits right
 * at it.  The first thread parses the rest itself; same result.
 */
static void
test_split_wrong_guess(void **state)
{
	struct json_object	*res;
	char			*in, *w;
	size_t			 len, i, shift;

	(void)state;
	in = malloc(64 * 1024);
	assert_non_null(in);
	for (shift = 0; shift < 12; shift++) {
		w = in + sprintf(in, "n,s\n");
		for (i = 0; i < 200; i++)
			w += sprintf(w, "%zu,plain\n", i);
		/* The multi-line field, with quotes and line ends of each kind. */
		w += sprintf(w, "-1,\"a\nb,\"\"c\"\"\r\n,d\r\"");
		w += sprintf(w, "\n");
		for (i = 0; i < 200 - 5 * shift; i++)
			w += sprintf(w, "%zu,\"q\"\n", i);
		len = (size_t)(w - in);
		res = check_split(in, len, 0, "quotes across the middle");
		json_object_put(res);
	}
	/* A line end inside quotes exactly at the middle. */
	w = in + sprintf(in, "n,s\n1,\"");
	memset(w, 'x', 100);
	w += 100;
	*w++ = '\n';
	memset(w, 'y', 100);
	w += 100;
	w += sprintf(w, "\"\n2,z\n");
	len = (size_t)(w - in);
	assert_int_equal(in[len / 2], '\n');
	res = check_split(in, len, 0, "line end in quotes at the middle");
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "rows")), 2);
	json_object_put(res);
	/* The second "half" is the inside of an unterminated quote. */
	w = in + sprintf(in, "n,s\n1,\"");
	memset(w, 'x', 100);
	w += 100;
	w += sprintf(w, "\n2,3\n4,5\n6,7\n");
	len = (size_t)(w - in);
	json_object_put(check_split(in, len, 0, "unterminated across the middle"));
	free(in);
}

/* Errors in either half name the line and column of one pass. */
static void
test_split_errors(void **state)
{
	static const char *const bad[] = { "x\"y", "\"a\"b", "\"open" };
	struct fdrun		 r;
	char			*in, want[64];
	size_t			 len, i, at, k, line;

	(void)state;
	for (i = 0; i < 3; i++) {
		in = split_csv(4000, "\n", &len);
		/* Overwrite a field of a row in the second half, then the first. */
		for (at = len * 3 / 4; in[at] != '\n'; at++)
			continue;
		memcpy(in + at + 1, bad[i], strlen(bad[i]));
		assert_null(check_split(in, len, 0, bad[i]));
		for (k = 0, line = 2; k < at; k++)
			line += in[k] == '\n';
		/* "open runs to the next quote, on the same line. */
		if (i < 2)
			snprintf(want, sizeof(want), "line %zu, column %d: ",
			    line, i == 0 ? 2 : 4);
		else
			snprintf(want, sizeof(want), "line %zu, column ", line);
		fd_run(in, len, 0, 2, 1, 0, &r);
		assert_int_equal(r.e, CSV_ESYNTAX);
		if (strncmp(r.err, want, strlen(want)) != 0)
			fail_msg("\"%s\", want \"%s...\"", r.err, want);
		for (at = len / 4; in[at] != '\n'; at++)
			continue;
		memcpy(in + at + 1, bad[i], strlen(bad[i]));
		assert_null(check_split(in, len, 0, bad[i]));
		free(in);
	}
	/* NUL in the second half; an unterminated quote at the very end. */
	in = split_csv(4000, "\r\n", &len);
	in[len - 10] = '\0';
	assert_null(check_split(in, len, 0, "NUL"));
	in[len - 10] = 'x';
	in[len - 3] = '"';
	assert_null(check_split(in, len, 0, "quote at the end"));
	free(in);
}

/* Random inputs of every family, quotes with line ends, ragged rows. */
static void
test_split_random(void **state)
{
	static const char *const fam[5][6] = {
		{ "1", "-2", "007", "0", "+5", "\"42\"" },
		{ "3.5", ".5", "1e3", "-0.25", "2.", "99999999999999999999" },
		{ "true", "FALSE", "True", "\"false\"", "true", "false" },
		{ "x", "\"a,b\"", "\"q\"\"\"", "\"l\nm\"", " ", "\"\r\"" },
		{ "", "\"\"", "", "1", "", "\"\"" },
	};
	static const char *const eol[4] = { "\n", "\r\n", "\r", "\n" };
	char		 in[4000];
	size_t		 len;
	unsigned	 seed = 7;
	int		 iter;

	(void)state;
	for (iter = 0; iter < 1500; iter++) {
		len = random_csv(in, sizeof(in), fam, eol, 60, iter, &seed);
		json_object_put(check_split(in, len, (size_t)(iter % 3),
		    "random"));
	}
}

/* Without a header, with another delimiter: the same as one pass. */
static void
test_split_options(void **state)
{
	struct csv_options	 o;
	struct json_object	*res;
	char			*in;
	size_t			 len, i;

	(void)state;
	in = split_csv(3000, "\r\n", &len);
	csv_options_init(&o);
	o.has_header = false;
	fd_opts = &o;
	res = check_split(in, len, 0, "no header");
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "rows")), 3001);
	assert_string_equal(col_str(res, 0, "type"), "string");
	assert_string_equal(col_str(res, 0, "name"), "column_1");
	json_object_put(res);
	for (i = 0; i < len; i++)
		if (in[i] == ',')
			in[i] = ';';
	o.has_header = true;
	o.delimiter = ';';
	res = check_split(in, len, 0, "semicolons");
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "rows")), 3000);
	assert_string_equal(col_str(res, 1, "type"), "number");
	json_object_put(res);
	/* A width set by a short first record: the rows are ragged. */
	for (i = 0; i < len; i++)
		if (in[i] == ';')
			in[i] = ',';
	o.delimiter = ',';
	memcpy(in, "x\r\n", 3);		/* "x", then ",b,s" */
	res = check_split(in, len, 0, "ragged");
	assert_int_equal(json_object_get_int(json_object_object_get(res,
	    "ragged_rows")), 3001);
	json_object_put(res);
	fd_opts = NULL;
	free(in);
}

/* Progress of both threads: monotone, at most the total, ending at it. */
static void
test_split_progress(void **state)
{
	struct fdrun	 r;
	char		*in, *half;
	size_t		 len, a;

	(void)state;
	in = big_csv(400000, &len);
	assert_true(len > 2 * CSVSTATS_SPLIT_MIN_DEFAULT);
	fd_run(in, len, 0, 2, 0, 0, &r);	/* on_progress checks the order */
	assert_int_equal(r.e, CSV_OK);
	assert_int_equal(r.p.last, len);
	assert_int_equal(r.p.total, len);
	assert_true(r.p.calls >= 2 && r.p.calls <= 102);
	assert_int_equal(json_object_get_int(json_object_object_get(r.res,
	    "rows")), 400000);
	json_object_put(r.res);

	/* Cancelled at the first report, and half way. */
	fd_run(in, len, 0, 2, 0, 2, &r);
	assert_int_equal(r.e, CSV_ECANCELLED);
	assert_null(r.res);
	assert_string_equal(r.err, "cancelled");
	fd_run(in, len, 0, 2, 0, 10, &r);
	assert_int_equal(r.e, CSV_ECANCELLED);
	assert_null(r.res);

	/*
	 * A wrong guess: a line end in quotes exactly at the middle.  The
	 * count goes on from where it was, never back.
	 */
	half = big_csv(200000, &a);
	in = realloc(in, 2 * a + 14);
	assert_non_null(in);
	memcpy(in, half, a);
	memcpy(in + a, "1,2.5,\"\nyyyyyyyyyy\"\n", 20);
	memcpy(in + a + 20, half + 6, a - 6);
	len = 2 * a + 14;
	assert_int_equal(in[len / 2], '\n');
	free(half);
	fd_run(in, len, 0, 2, 0, 0, &r);
	assert_int_equal(r.e, CSV_OK);
	assert_int_equal(r.p.last, len);
	assert_int_equal(json_object_get_int(json_object_object_get(r.res,
	    "rows")), 400001);
	json_object_put(r.res);

	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_records),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_quoted_fields),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_delimiters),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_field_limit),
		cmocka_unit_test(test_chunk_boundaries),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_random_differential),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_callback_stop_and_finish),
		cmocka_unit_test(test_stats_known_values),
		cmocka_unit_test(test_type_inference),
		cmocka_unit_test(test_number_values),
		cmocka_unit_test(test_mean_stddev_generated),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_header_only_and_empty),
		cmocka_unit_test(test_ragged_rows),
		cmocka_unit_test(test_empty_and_whitespace_counts),
		cmocka_unit_test(test_stats_errors),
		cmocka_unit_test(test_progress_buffer),
		cmocka_unit_test(test_analyze_fd_and_path),
		cmocka_unit_test(test_stats_chunked),
		cmocka_unit_test(test_stats_random_differential),
		cmocka_unit_test(test_value_inference_random),
		cmocka_unit_test(test_split_same_result),
		cmocka_unit_test(test_split_type_merge),
		cmocka_unit_test(test_split_wrong_guess),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_split_random),
		cmocka_unit_test(test_split_options),
		cmocka_unit_test(test_split_progress),
	};
	int	 failed;

	/*
	 * Twice: with the AVX2 block classifier where the CPU has one, then
	 * with the SSE2 one (csv_parser_new reads TASKQ_CSV_SIMD).
	 */
	unsetenv("TASKQ_CSV_SIMD");
	failed = cmocka_run_group_tests_name("csv, best SIMD", tests, NULL, NULL);
	setenv("TASKQ_CSV_SIMD", "sse2", 1);
	failed += cmocka_run_group_tests_name("csv, SSE2", tests, NULL, NULL);
	return failed != 0;
}
