/*
 * Unit tests of lib/mail.c: the message builder header by header (decoded
 * back here with an independent QP and RFC 2047 decoder), header injection,
 * parameters from JSON, and atomic Maildir delivery.  The SMTP transport
 * is tested against a real server in test_mail_smtp.c.
 */
#include <config.h>

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mail.h"

#define MSGID	"<0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b@example.org>"
#define DATE_MS	INT64_C(1795923798123)	/* 2026-11-29T03:43:18.123Z */

static const char *const one_to[] = { "alice@example.com" };

static void
msg_init(struct mail_message *m, const char *subject, const char *body)
{
	memset(m, 0, sizeof(*m));
	m->from = "taskq@example.org";
	m->to = one_to;
	m->nto = 1;
	m->subject = subject;
	m->subject_len = strlen(subject);
	m->body = body;
	m->body_len = strlen(body);
}

static char *
fmt(const struct mail_message *m)
{
	char	 err[256];
	char	*s;
	bool	 oom;

	s = mail_format(m, MSGID, DATE_MS, &oom, err, sizeof(err));
	if (s == NULL)
		fail_msg("mail_format: %s", err);
	assert_false(oom);
	return s;
}

/* Every CR is followed by LF and every LF preceded by CR. */
static void
assert_crlf_only(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\r')
			assert_int_equal(s[i + 1], '\n');
		if (s[i] == '\n')
			assert_true(i > 0 && s[i - 1] == '\r');
	}
}

/* The longest line of s[0..n), without its CRLF. */
static size_t
longest_line(const char *s, size_t n)
{
	size_t	 i, col = 0, max = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			col = 0;
			i++;
			continue;
		}
		if (++col > max)
			max = col;
	}
	return max;
}

static const char *
body_of(const char *m)
{
	const char	*p = strstr(m, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

/* How many header fields are named name (case-insensitive). */
static int
header_count(const char *m, const char *name)
{
	const char	*p = m, *end = body_of(m);
	size_t		 n = strlen(name);
	int		 count = 0;

	while (p < end) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			count++;
		p = strstr(p, "\r\n") + 2;
	}
	return count;
}

/*
 * The value of the header name, raw (folds kept) when raw, else unfolded
 * (CRLF removed), without the space after the colon.  Caller frees.
 */
static char *
header_get(const char *m, const char *name, bool raw)
{
	const char	*p = m, *end = body_of(m), *v, *e;
	size_t		 n = strlen(name), i, j;
	char		*out;

	while (p < end) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			break;
		p = strstr(p, "\r\n") + 2;
	}
	if (p >= end)
		return NULL;
	v = p + n + 1;
	if (*v == ' ')
		v++;
	/* The field ends at a CRLF not followed by white space. */
	for (e = v; ; e += 2) {
		e = strstr(e, "\r\n");
		if (e[2] != ' ' && e[2] != '\t')
			break;
	}
	out = malloc((size_t)(e - v) + 1);
	assert_non_null(out);
	for (i = j = 0; v + i < e; i++) {
		if (!raw && v[i] == '\r' && v[i + 1] == '\n') {
			i++;
			continue;
		}
		out[j++] = v[i];
	}
	out[j] = '\0';
	return out;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes quoted-printable strictly (uppercase hex, soft breaks "=" CRLF,
 * no trailing blanks on a line) into a buffer; *len is its length.
 */
static char *
qp_decode(const char *s, size_t *len)
{
	size_t	 n = strlen(s), i, j;
	char	*out = malloc(n + 1);
	int	 hi, lo;

	assert_non_null(out);
	for (i = j = 0; i < n; i++) {
		if (s[i] == '=' && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
			continue;
		}
		if (s[i] == '=') {
			hi = hexval(s[i + 1]);
			lo = hi < 0 ? -1 : hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				fail_msg("bad QP escape at %zu", i);
			out[j++] = (char)(hi << 4 | lo);
			i += 2;
			continue;
		}
		if ((s[i] == ' ' || s[i] == '\t') && s[i + 1] == '\r')
			fail_msg("trailing blank at %zu", i);
		out[j++] = s[i];
	}
	out[j] = '\0';
	*len = j;
	return out;
}

static int
b64val(int c)
{
	const char	*tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/";
	const char	*p = c != '\0' ? strchr(tab, c) : NULL;

	return p == NULL ? -1 : (int)(p - tab);
}

/* Appends the decoded text of base64 s[0..n) to out at *j. */
static void
b64_decode(const char *s, size_t n, char *out, size_t *j)
{
	size_t		 i;
	uint32_t	 acc = 0;
	int		 bits = 0, v;

	assert_int_equal(n % 4, 0);
	for (i = 0; i < n && s[i] != '='; i++) {
		v = b64val(s[i]);
		assert_true(v >= 0);
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[(*j)++] = (char)(acc >> bits & 0xff);
		}
	}
}

/* Whether s[0..n) is well-formed UTF-8. */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t	 i = 0, k, need;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			need = 1;
		else if ((s[i] & 0xf0) == 0xe0)
			need = 2;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			need = 3;
		else
			return false;
		for (k = 1; k <= need; k++)
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

/* Whether ew_decode insists on whole UTF-8 characters per word. */
static bool	 ew_strict = true;

/*
 * Decodes an unfolded unstructured value: encoded-words (B or Q, UTF-8)
 * are decoded and the white space between two of them dropped, as RFC
 * 2047 section 6.2 says; each word must be at most 75 characters and its
 * text well-formed UTF-8 on its own (a character never split across
 * words).  Caller frees.
 */
static char *
ew_decode(const char *v)
{
	size_t	 n = strlen(v), i = 0, j = 0, k, ws, q, wl;
	char	*out = malloc(n + 1), enc;
	bool	 prev_ew = false;
	size_t	 start;

	assert_non_null(out);
	while (i < n) {
		ws = i;
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (strncmp(v + i, "=?", 2) == 0) {
			const char *end = strstr(v + i + 2, "?=");
			const char *q1 = strchr(v + i + 2, '?');

			assert_non_null(end);
			assert_non_null(q1);
			wl = (size_t)(end + 2 - (v + i));
			assert_true(wl <= 75);
			assert_true(strncasecmp(v + i + 2, "UTF-8?", 6) == 0);
			enc = q1[1];
			assert_int_equal(q1[2], '?');
			if (!prev_ew)
				for (k = ws; k < i; k++)
					out[j++] = v[k];
			start = j;
			q = (size_t)(q1 + 3 - v);
			if (enc == 'B' || enc == 'b')
				b64_decode(v + q, (size_t)(end - (v + q)), out, &j);
			else {
				assert_true(enc == 'Q' || enc == 'q');
				for (; v + q < end; q++) {
					if (v[q] == '_')
						out[j++] = ' ';
					else if (v[q] == '=') {
						out[j++] = (char)(hexval(v[q + 1]) << 4 |
						    hexval(v[q + 2]));
						q += 2;
					} else
						out[j++] = v[q];
				}
			}
			if (ew_strict)
				assert_true(utf8_valid((unsigned char *)out +
				    start, j - start));
			i = (size_t)(end + 2 - v);
			prev_ew = true;
			continue;
		}
		for (k = ws; k < i; k++)
			out[j++] = v[k];
		while (i < n && v[i] != ' ' && v[i] != '\t')
			out[j++] = v[i++];
		prev_ew = false;
	}
	out[j] = '\0';
	return out;
}

/* What the body decodes to must be the input with LF made CRLF. */
static void
assert_body_round_trip(const char *body, size_t blen)
{
	struct mail_message	 m;
	char			*s, *dec, *want;
	const char		*b, *line;
	size_t			 dlen, i, j, wlen;

	msg_init(&m, "t", "");
	m.body = body;
	m.body_len = blen;
	s = fmt(&m);
	assert_crlf_only(s);
	b = body_of(s);
	assert_true(longest_line(b, strlen(b)) <= 76);
	/* No line starts with '.', or "From ", whatever SMTP does. */
	for (line = b; *line != '\0'; line = strstr(line, "\r\n") + 2) {
		assert_int_not_equal(line[0], '.');
		assert_int_not_equal(strncmp(line, "From ", 5), 0);
		if (strstr(line, "\r\n") == NULL)
			fail_msg("body does not end in CRLF");
	}
	/* A soft-broken line never ends inside a UTF-8 character. */
	for (line = b; *line != '\0'; line = strstr(line, "\r\n") + 2) {
		const char	*e = strstr(line, "\r\n");
		char		*one, *part;
		size_t		 plen;

		one = strndup(line, (size_t)(e - line) + 2);
		assert_non_null(one);
		part = qp_decode(one, &plen);
		if (utf8_valid((const unsigned char *)body, blen))
			assert_true(utf8_valid((unsigned char *)part, plen));
		free(part);
		free(one);
	}
	dec = qp_decode(b, &dlen);
	want = malloc(blen * 2 + 1);
	assert_non_null(want);
	for (i = j = 0; i < blen; i++) {
		if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
			want[j++] = '\r';
		want[j++] = body[i];
	}
	wlen = j;
	assert_int_equal(dlen, wlen);
	assert_memory_equal(dec, want, wlen);
	free(want);
	free(dec);
	free(s);
}

/* ---- headers ---------------------------------------------------------- */

static void
test_date_header(void **state)
{
	struct mail_message	 m;
	char			*s, *v;

	(void)state;
	msg_init(&m, "hello", "hi\n");
	s = fmt(&m);
	assert_int_equal(header_count(s, "Date"), 1);
	v = header_get(s, "Date", false);
	assert_string_equal(v, "Sun, 29 Nov 2026 03:43:18 +0000");
	free(v);
	free(s);
	/* a leap day, single-digit fields padded */
	s = mail_format(&m, MSGID, INT64_C(951868799000), NULL, NULL, 0);
	assert_non_null(s);
	v = header_get(s, "Date", false);
	assert_string_equal(v, "Tue, 29 Feb 2000 23:59:59 +0000");
	free(v);
	free(s);
	s = mail_format(&m, MSGID, INT64_C(0), NULL, NULL, 0);
	v = header_get(s, "Date", false);
	assert_string_equal(v, "Thu, 01 Jan 1970 00:00:00 +0000");
	free(v);
	free(s);
}

static void
test_message_id(void **state)
{
	struct mail_message	 m;
	char			 id[MAIL_MSGID_MAX + 1], id2[MAIL_MSGID_MAX + 1];
	char			*s, *v;
	size_t			 i;

	(void)state;
	assert_true(mail_message_id_make("taskq@example.org", id, sizeof(id)));
	assert_int_equal(strlen(id), 1 + 36 + 1 + strlen("example.org") + 1);
	assert_int_equal(id[0], '<');
	for (i = 1; i <= 36; i++) {
		if (i == 9 || i == 14 || i == 19 || i == 24)
			assert_int_equal(id[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", id[i]));
	}
	assert_int_equal(id[15], '4');		/* version 4 */
	assert_string_equal(id + 37, "@example.org>");
	assert_true(mail_message_id_make("taskq@example.org", id2, sizeof(id2)));
	assert_string_not_equal(id, id2);
	/* The domain of a "Name <addr>" sender. */
	assert_true(mail_message_id_make("Task Queue <q@mail.example.net>",
	    id, sizeof(id)));
	assert_string_equal(id + 37, "@mail.example.net>");
	assert_false(mail_message_id_make("no-at-sign", id, sizeof(id)));
	assert_false(mail_message_id_make("x@", id, sizeof(id)));
	assert_false(mail_message_id_make("a@b\r\nX: y", id, sizeof(id)));
	assert_false(mail_message_id_make("a@b", id, 10));

	msg_init(&m, "s", "b");
	s = fmt(&m);
	assert_int_equal(header_count(s, "Message-ID"), 1);
	v = header_get(s, "Message-ID", false);
	assert_string_equal(v, MSGID);
	free(v);
	free(s);
}

static void
test_mime_and_address_headers(void **state)
{
	static const char *const cc[] = { "carol@example.com", "dave@example.net" };
	struct mail_message	 m;
	char			*s, *v;

	(void)state;
	msg_init(&m, "s", "b");
	s = fmt(&m);
	assert_int_equal(header_count(s, "MIME-Version"), 1);
	v = header_get(s, "MIME-Version", false);
	assert_string_equal(v, "1.0");
	free(v);
	v = header_get(s, "Content-Type", false);
	assert_string_equal(v, "text/plain; charset=UTF-8");
	free(v);
	v = header_get(s, "Content-Transfer-Encoding", false);
	assert_string_equal(v, "quoted-printable");
	free(v);
	v = header_get(s, "From", false);
	assert_string_equal(v, "taskq@example.org");
	free(v);
	v = header_get(s, "To", false);
	assert_string_equal(v, "alice@example.com");
	free(v);
	assert_int_equal(header_count(s, "Cc"), 0);
	assert_int_equal(header_count(s, "Reply-To"), 0);
	assert_int_equal(header_count(s, "Bcc"), 0);
	free(s);

	m.cc = cc;
	m.ncc = 2;
	m.reply_to = "replies@example.org";
	m.from = "Task \"Q\" <taskq@example.org>";
	s = fmt(&m);
	v = header_get(s, "Cc", false);
	assert_string_equal(v, "carol@example.com, dave@example.net");
	free(v);
	v = header_get(s, "Reply-To", false);
	assert_string_equal(v, "replies@example.org");
	free(v);
	v = header_get(s, "From", false);
	assert_string_equal(v, "\"Task \\\"Q\\\"\" <taskq@example.org>");
	free(v);
	free(s);

	/* A long name puts the address on a line of its own. */
	m.from = "A Very Long Display Name For The Task Queue Of Example "
	    "Org Limited <taskq@example.org>";
	s = fmt(&m);
	assert_true(longest_line(s, (size_t)(body_of(s) - s)) <= 78);
	v = header_get(s, "From", true);
	assert_string_equal(v, "\"A Very Long Display Name For The Task Queue "
	    "Of Example Org Limited\"\r\n <taskq@example.org>");
	free(v);
	free(s);

	/* A non-ASCII display name is encoded. */
	m.from = "T\xc3\xa2" "che <taskq@example.org>";
	s = fmt(&m);
	v = header_get(s, "From", false);
	assert_string_equal(v, "=?UTF-8?B?VMOiY2hl?= <taskq@example.org>");
	free(v);
	free(s);
}

static void
test_address_list_folding(void **state)
{
	const char		*to[100];
	char			 addrs[100][32];
	struct mail_message	 m;
	char			*s, *v, *raw;
	size_t			 i;
	const char		*b;

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "user%zu@example.com", i);
		to[i] = addrs[i];
	}
	msg_init(&m, "s", "b");
	m.to = to;
	m.nto = 100;
	s = fmt(&m);
	b = body_of(s);
	assert_true(longest_line(s, (size_t)(b - s)) <= 78);
	raw = header_get(s, "To", true);
	assert_non_null(strstr(raw, ",\r\n user"));
	v = header_get(s, "To", false);
	/* Unfolded, the list reads "a, b, ..." (a fold keeps its space). */
	assert_int_equal(strncmp(v, "user0@example.com, user1@example.com",
	    36), 0);
	for (i = 0; i < 100; i++) {
		char	 want[64];

		snprintf(want, sizeof(want), "%.31s%s", addrs[i],
		    i < 99 ? ", " : "");
		assert_non_null(strstr(v, want));
	}
	assert_null(strstr(v, ",,"));
	free(raw);
	free(v);
	free(s);
}

static void
test_subject_ascii_plain(void **state)
{
	struct mail_message	 m;
	char			*s, *v;

	(void)state;
	msg_init(&m, "Invoice 42 is ready", "b");
	s = fmt(&m);
	v = header_get(s, "Subject", true);
	assert_string_equal(v, "Invoice 42 is ready");
	free(v);
	free(s);

	/* Empty: the field is there, with no value. */
	msg_init(&m, "", "b");
	s = fmt(&m);
	assert_non_null(strstr(s, "\r\nSubject:\r\n"));
	free(s);

	/* Something that looks like an encoded-word must not be one. */
	msg_init(&m, "=?UTF-8?B?aGk=?=", "b");
	s = fmt(&m);
	v = header_get(s, "Subject", false);
	assert_string_not_equal(v, "=?UTF-8?B?aGk=?=");
	free(v);
	v = header_get(s, "Subject", false);
	{
		char *d = ew_decode(v);

		assert_string_equal(d, "=?UTF-8?B?aGk=?=");
		free(d);
	}
	free(v);
	free(s);
}

static void
test_subject_long_ascii_folded(void **state)
{
	struct mail_message	 m;
	char			 subj[999];
	char			*s, *v, *raw;
	size_t			 i;

	(void)state;
	/* 998 characters of words: folded at spaces, unfolds exactly. */
	for (i = 0; i < sizeof(subj) - 1; i++)
		subj[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
	subj[sizeof(subj) - 1] = '\0';
	subj[5] = '\t';
	msg_init(&m, subj, "b");
	s = fmt(&m);
	assert_true(longest_line(s, (size_t)(body_of(s) - s)) <= 78);
	raw = header_get(s, "Subject", true);
	assert_non_null(strstr(raw, "\r\n "));
	assert_null(strstr(raw, "=?"));
	v = header_get(s, "Subject", false);
	assert_string_equal(v, subj);
	free(raw);
	free(v);
	free(s);

	/* One 200-character word cannot fold: encoded-words instead. */
	memset(subj, 'x', 200);
	subj[200] = '\0';
	msg_init(&m, subj, "b");
	s = fmt(&m);
	assert_true(longest_line(s, (size_t)(body_of(s) - s)) <= 78);
	v = header_get(s, "Subject", false);
	raw = ew_decode(v);
	assert_string_equal(raw, subj);
	free(raw);
	free(v);
	free(s);

	/* Leading and doubled blanks come back exactly. */
	msg_init(&m, "   lead  two  spaces\t\ttabs and a much longer tail of "
	    "words to fold somewhere along the line, twice or more, since it "
	    "goes on", "b");
	s = fmt(&m);
	assert_true(longest_line(s, (size_t)(body_of(s) - s)) <= 78);
	raw = header_get(s, "Subject", true);
	assert_non_null(strstr(raw, "\r\n "));
	v = header_get(s, "Subject", false);
	assert_string_equal(v, m.subject);
	free(raw);
	free(v);
	free(s);

	/* Trailing blanks never make a line of blanks alone. */
	msg_init(&m, "word word word word word word word word word word "
	    "word word word word word word           ", "b");
	s = fmt(&m);
	raw = header_get(s, "Subject", true);
	assert_null(strstr(raw, "\r\n  \r\n"));
	v = header_get(s, "Subject", false);
	assert_string_equal(v, m.subject);
	free(raw);
	free(v);
	free(s);
}

static void
test_subject_utf8_encoded_words(void **state)
{
	/* 2-, 3- and 4-byte characters, long enough for many words. */
	static const char *const pieces[] = { "\xc3\xa9t\xc3\xa9 ",
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x93\xa7",
	    " caf\xc3\xa9 ", "\xe2\x82\xac" };
	struct mail_message	 m;
	char			 subj[1000];
	char			*s, *v, *raw, *d, *line;
	size_t			 len = 0, k;

	(void)state;
	for (k = 0; len + 12 < 600; k++) {
		strcpy(subj + len, pieces[k % 5]);
		len += strlen(pieces[k % 5]);
	}
	msg_init(&m, subj, "b");
	s = fmt(&m);
	assert_crlf_only(s);
	raw = header_get(s, "Subject", true);
	assert_non_null(strstr(raw, "=?UTF-8?B?"));
	/* Every line of the field at most 78, every word at most 75. */
	assert_true(longest_line(s, (size_t)(body_of(s) - s)) <= 78);
	for (line = raw; line != NULL; line = strstr(line, "\r\n")) {
		if (line[0] == '\r')
			line += 2;
		assert_true(strspn(line, " ") <= 1);
	}
	v = header_get(s, "Subject", false);
	d = ew_decode(v);	/* asserts each word holds whole characters */
	assert_string_equal(d, subj);
	free(d);
	free(v);
	free(raw);
	free(s);

	/* A short one, and control characters other than CR/LF. */
	msg_init(&m, "Caf\xc3\xa9", "b");
	s = fmt(&m);
	v = header_get(s, "Subject", false);
	assert_string_equal(v, "=?UTF-8?B?Q2Fmw6k=?=");
	free(v);
	free(s);
	msg_init(&m, "bell\a esc\x1b", "b");
	s = fmt(&m);
	v = header_get(s, "Subject", false);
	d = ew_decode(v);
	assert_string_equal(d, "bell\a esc\x1b");
	free(d);
	free(v);
	free(s);
}

static void
test_header_injection_refused(void **state)
{
	static const char *const bad_to[] = { "a@example.com\r\nBcc: x@evil.example" };
	static const char *const bad_lf[] = { "a@example.com\nBcc: x@evil.example" };
	static const char *const good[] = { "a@example.com" };
	struct mail_message	 m;
	char			 err[128];
	char			*s;
	bool			 oom;

	(void)state;
	msg_init(&m, "hi\r\nBcc: x@evil.example", "b");
	s = mail_format(&m, MSGID, DATE_MS, &oom, err, sizeof(err));
	assert_null(s);
	assert_false(oom);
	assert_non_null(strstr(err, "subject"));

	msg_init(&m, "hi\nBcc: x@evil.example", "b");
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	msg_init(&m, "hi\rthere", "b");
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	/* A NUL inside the counted subject. */
	msg_init(&m, "hi", "b");
	m.subject = "hi\0Bcc: x@evil.example";
	m.subject_len = 22;
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "subject"));

	msg_init(&m, "ok", "b");
	m.to = bad_to;
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "to"));
	m.to = bad_lf;
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	m.to = good;
	m.cc = bad_to;
	m.ncc = 1;
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cc"));
	m.ncc = 0;
	m.cc = NULL;
	m.reply_to = "r@example.com\r\nBcc: x@evil.example";
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "reply_to"));
	m.reply_to = "Name <r@example.com>";	/* display names are not taken */
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	m.reply_to = NULL;
	m.from = "taskq@example.org\r\nBcc: x@evil.example";
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "from"));
	m.from = "Evil\r\nBcc: x@evil.example <taskq@example.org>";
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	m.from = "taskq@example.org";
	assert_null(mail_format(&m, "<a@b>\r\nBcc: x@evil.example", DATE_MS,
	    NULL, err, sizeof(err)));
	assert_null(mail_format(&m, "no-brackets@example.org", DATE_MS,
	    NULL, err, sizeof(err)));
	m.nto = 0;
	assert_null(mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err)));
	m.nto = 1;
	/* And the same message without the injection is fine. */
	s = mail_format(&m, MSGID, DATE_MS, NULL, err, sizeof(err));
	assert_non_null(s);
	free(s);
}

/* ---- body ------------------------------------------------------------- */

static void
test_body_simple(void **state)
{
	struct mail_message	 m;
	char			*s;

	(void)state;
	msg_init(&m, "s", "Hello,\nthe report is ready.\n");
	s = fmt(&m);
	assert_string_equal(body_of(s), "Hello,\r\nthe report is ready.\r\n");
	free(s);
	/* No final newline: a soft break, so decoding adds none. */
	msg_init(&m, "s", "no newline");
	s = fmt(&m);
	assert_string_equal(body_of(s), "no newline=\r\n");
	free(s);
	msg_init(&m, "s", "");
	s = fmt(&m);
	assert_string_equal(body_of(s), "");
	free(s);
	msg_init(&m, "s", "a=b \nc\t\n");
	s = fmt(&m);
	assert_string_equal(body_of(s), "a=3Db=20\r\nc=09\r\n");
	free(s);
}

static void
test_body_leading_dots_and_from(void **state)
{
	struct mail_message	 m;
	char			*s;

	(void)state;
	msg_init(&m, "s", ".\n..\n.hidden\nFrom here\nFromage\n");
	s = fmt(&m);
	assert_string_equal(body_of(s),
	    "=2E\r\n=2E.\r\n=2Ehidden\r\n=46rom here\r\nFromage\r\n");
	free(s);
	assert_body_round_trip(".\n", 2);
	assert_body_round_trip("x\r\n.\r\n.\r\n", 9);
}

static void
test_body_long_lines(void **state)
{
	char	*b;
	size_t	 i;

	(void)state;
	b = malloc(5001);
	assert_non_null(b);
	/* 5000 ASCII characters, dots everywhere to land at line starts. */
	for (i = 0; i < 5000; i++)
		b[i] = i % 3 == 0 ? '.' : (i % 5 == 0 ? ' ' : 'x');
	b[5000] = '\0';
	assert_body_round_trip(b, 5000);
	/* '=' everywhere: every escape is 3 characters and never split. */
	memset(b, '=', 5000);
	assert_body_round_trip(b, 5000);
	/* blanks everywhere, some at line ends */
	memset(b, ' ', 5000);
	b[2500] = '\n';
	assert_body_round_trip(b, 5000);
	free(b);
}

static void
test_body_utf8_never_split(void **state)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac",
	    "\xf0\x9f\x93\xa7", "a", " " };
	char	*b;
	size_t	 len = 0, k, off;

	(void)state;
	b = malloc(20000);
	assert_non_null(b);
	for (off = 0; off < 5; off++) {
		len = 0;
		for (k = off; len + 4 < 10000; k++) {
			memcpy(b + len, chars[k % 5], strlen(chars[k % 5]));
			len += strlen(chars[k % 5]);
			if (k % 97 == 0)
				b[len++] = '\n';
		}
		b[len] = '\0';
		/* The round trip also checks each line ends on a boundary. */
		assert_body_round_trip(b, len);
	}
	free(b);
}

static void
test_body_odd_bytes(void **state)
{
	(void)state;
	/* CRLF kept, a lone CR encoded, NUL and invalid UTF-8 carried. */
	assert_body_round_trip("a\r\nb\rc\n", 7);
	assert_body_round_trip("nul\0byte\n", 9);
	assert_body_round_trip("\xff\xfe bad \xc3 utf8\n", 14);
	assert_body_round_trip("\n\n\n", 3);
	assert_body_round_trip("trailing   ", 11);
	assert_body_round_trip("tab\t\r\n", 6);
}

static void
test_whole_message_shape(void **state)
{
	static const char *const cc[] = { "carol@example.com" };
	struct mail_message	 m;
	char			*s;
	const char		*b;

	(void)state;
	msg_init(&m, "R\xc3\xa9sum\xc3\xa9 of the day", ".start\nline\n");
	m.cc = cc;
	m.ncc = 1;
	m.reply_to = "r@example.com";
	s = fmt(&m);
	assert_crlf_only(s);
	b = body_of(s);
	assert_true(longest_line(s, (size_t)(b - s)) <= 78);
	assert_true(longest_line(b, strlen(b)) <= 76);
	/* Headers in the documented order. */
	assert_true(strncmp(s, "Date: ", 6) == 0);
	assert_true(strstr(s, "\r\nFrom: ") < strstr(s, "\r\nTo: "));
	assert_true(strstr(s, "\r\nTo: ") < strstr(s, "\r\nCc: "));
	assert_true(strstr(s, "\r\nCc: ") < strstr(s, "\r\nReply-To: "));
	assert_true(strstr(s, "\r\nReply-To: ") < strstr(s, "\r\nSubject: "));
	assert_true(strstr(s, "\r\nSubject: ") < strstr(s, "\r\nMessage-ID: "));
	assert_true(strstr(s, "\r\nMessage-ID: ") < strstr(s, "\r\nMIME-Version: "));
	/* 8-bit free: everything is ASCII. */
	for (b = s; *b != '\0'; b++)
		assert_true((unsigned char)*b < 0x80);
	free(s);
}

/* xorshift: the same "random" texts on every run. */
static uint32_t
rnd(void)
{
	static uint32_t	 x = 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* Random text from pieces that stress folding and encoding. */
static size_t
random_text(char *buf, size_t max, bool newlines)
{
	static const char *const pieces[] = { " ", "  ", "\t", "a", "word",
	    "longerword", ".", "=", "=?", "?=", "From ", "\xc3\xa9",
	    "\xe2\x82\xac", "\xf0\x9f\x93\xa7", "\xff", "\x01", "\n", "\r\n",
	    "\r" };
	size_t	 len = 0, want = rnd() % max, k, pl;

	while (len < want) {
		k = rnd() % (newlines ? 19 : 16);
		pl = strlen(pieces[k]);
		if (len + pl > want)
			break;
		memcpy(buf + len, pieces[k], pl);
		len += pl;
	}
	buf[len] = '\0';
	return len;
}

static void
test_random_round_trips(void **state)
{
	struct mail_message	 m;
	char			 subj[999], body[3000];
	char			*s, *v, *d;
	size_t			 i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		msg_init(&m, "", "");
		m.subject_len = random_text(subj, sizeof(subj), false);
		m.subject = subj;
		s = fmt(&m);
		assert_crlf_only(s);
		assert_true(longest_line(s, (size_t)(body_of(s) - s)) <= 78);
		v = header_get(s, "Subject", false);
		/* Invalid UTF-8 is carried, but cannot be cut on characters. */
		ew_strict = utf8_valid((unsigned char *)subj, m.subject_len);
		d = ew_decode(v);
		ew_strict = true;
		assert_string_equal(d, subj);
		free(d);
		free(v);
		free(s);
		assert_body_round_trip(body, random_text(body, sizeof(body),
		    true));
	}
}

/* ---- parameters ------------------------------------------------------- */

static void
test_message_from_json(void **state)
{
	struct json_object	*p;
	struct mail_message	 m;
	char			 err[128];

	(void)state;
	p = json_tokener_parse("{\"to\": \"a@example.com\", \"subject\": \"s\","
	    " \"body\": \"b\\u0000c\"}");
	assert_non_null(p);
	assert_int_equal(mail_message_from_json(p, &m, err, sizeof(err)),
	    MAIL_OK);
	assert_int_equal(m.nto, 1);
	assert_string_equal(m.to[0], "a@example.com");
	assert_int_equal(m.ncc, 0);
	assert_null(m.reply_to);
	assert_int_equal(m.body_len, 3);	/* the NUL is kept, counted */
	assert_null(m.from);
	mail_message_release(&m);
	json_object_put(p);

	p = json_tokener_parse("{\"to\": [\"a@example.com\", \"b@example.com\"],"
	    " \"cc\": [], \"reply_to\": \"r@example.com\", \"subject\": \"\","
	    " \"body\": \"\"}");
	assert_int_equal(mail_message_from_json(p, &m, err, sizeof(err)),
	    MAIL_OK);
	assert_int_equal(m.nto, 2);
	assert_string_equal(m.to[1], "b@example.com");
	assert_int_equal(m.ncc, 0);
	assert_string_equal(m.reply_to, "r@example.com");
	mail_message_release(&m);
	json_object_put(p);

	/* A NUL hidden in an address is refused, not truncated. */
	p = json_tokener_parse("{\"to\": \"a@example.com\\u0000x\", "
	    "\"subject\": \"s\", \"body\": \"b\"}");
	assert_int_equal(mail_message_from_json(p, &m, err, sizeof(err)),
	    MAIL_PERMANENT);
	assert_non_null(strstr(err, "to"));
	json_object_put(p);
	p = json_tokener_parse("{\"to\": \"a@example.com\", \"cc\": [1], "
	    "\"subject\": \"s\", \"body\": \"b\"}");
	assert_int_equal(mail_message_from_json(p, &m, err, sizeof(err)),
	    MAIL_PERMANENT);
	assert_non_null(strstr(err, "cc"));
	json_object_put(p);
	p = json_tokener_parse("{\"to\": \"a@example.com\", \"body\": \"b\"}");
	assert_int_equal(mail_message_from_json(p, &m, err, sizeof(err)),
	    MAIL_PERMANENT);
	assert_non_null(strstr(err, "subject"));
	json_object_put(p);
	p = json_tokener_parse("{\"to\": [], \"subject\": \"s\", \"body\": \"b\"}");
	assert_int_equal(mail_message_from_json(p, &m, err, sizeof(err)),
	    MAIL_PERMANENT);
	json_object_put(p);
	mail_message_release(NULL);
}

/* ---- maildir ---------------------------------------------------------- */

static int64_t
fixed_clock(void)
{
	return DATE_MS;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	*f;
	char	*buf;
	long	 n;

	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The names in dir other than . and ..; returns the count, first in name. */
static int
dir_entries(const char *dir, char *name, size_t size)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n++ == 0 && name != NULL)
			snprintf(name, size, "%s", e->d_name);
	}
	closedir(d);
	return n;
}

/* The state directory of a maildir test; the teardown removes it. */
static char	 tmpl[64];

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpl, sizeof(tmpl), "/tmp/taskq-mail-XXXXXX");
	return mkdtemp(tmpl) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char	 cmd[128];

	(void)state;
	mail_clock = NULL;
	mail_write = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_maildir_delivery(void **state)
{
	static const char *const to[] = { "a@example.com", "b@example.com" };
	static const char *const cc[] = { "a@example.com", "c@example.com" };
	struct config		 cfg = config_defaults;
	struct mail_message	 m;
	struct mail_result	 r;
	struct json_object	*j, *v;
	struct stat		 st;
	char			 path[4200], name[512], *got, *want;
	const char		*sub[] = { "tmp", "new", "cur" };
	size_t			 glen, i;

	(void)state;
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", tmpl);
	snprintf(cfg.email_from, sizeof(cfg.email_from), "taskq@example.org");
	mail_clock = fixed_clock;

	msg_init(&m, "Caf\xc3\xa9", ".dot\nbody\n");
	m.to = to;
	m.nto = 2;
	m.cc = cc;
	m.ncc = 2;
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_OK);
	assert_null(r.error);
	assert_string_equal(r.transport, "maildir");
	assert_int_equal(r.recipients, 3);	/* a@ once */
	assert_non_null(strstr(r.message_id, "@example.org>"));

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/maildir/%s", tmpl, sub[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	snprintf(path, sizeof(path), "%s/maildir/tmp", tmpl);
	assert_int_equal(dir_entries(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/maildir/cur", tmpl);
	assert_int_equal(dir_entries(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/maildir/new", tmpl);
	assert_int_equal(dir_entries(path, name, sizeof(name)), 1);
	assert_null(strchr(name, ':'));
	assert_null(strchr(name, '/'));
	snprintf(path, sizeof(path), "%s/maildir/new/%s", tmpl, name);
	assert_non_null(r.path);
	assert_string_equal(r.path, path);

	/* The file is exactly the formatted message. */
	got = read_file(path, &glen);
	m.from = cfg.email_from;
	want = mail_format(&m, r.message_id, DATE_MS, NULL, NULL, 0);
	assert_non_null(want);
	assert_int_equal(glen, strlen(want));
	assert_memory_equal(got, want, glen);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(got);
	free(want);

	j = mail_result_to_json(&r);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "message_id", &v));
	assert_string_equal(json_object_get_string(v), r.message_id);
	assert_true(json_object_object_get_ex(j, "transport", &v));
	assert_string_equal(json_object_get_string(v), "maildir");
	assert_true(json_object_object_get_ex(j, "recipients", &v));
	assert_int_equal(json_object_get_int(v), 3);
	assert_false(json_object_object_get_ex(j, "smtp_reply", &v));
	json_object_put(j);
	mail_result_free(&r);

	/* A second delivery gets its own file. */
	m.from = NULL;
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_OK);
	mail_result_free(&r);
	snprintf(path, sizeof(path), "%s/maildir/new", tmpl);
	assert_int_equal(dir_entries(path, NULL, 0), 2);
	snprintf(path, sizeof(path), "%s/maildir/tmp", tmpl);
	assert_int_equal(dir_entries(path, NULL, 0), 0);

	mail_clock = NULL;
	mail_result_free(NULL);
}

static void
test_maildir_failures(void **state)
{
	struct config		 cfg = config_defaults;
	struct mail_message	 m;
	struct mail_result	 r;
	char			 path[4200];
	int			 fd;

	(void)state;
	msg_init(&m, "s", "b");

	/* No such state directory: a configuration problem. */
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/missing/deeper", tmpl);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(r.error);
	assert_non_null(strstr(r.error, "maildir"));
	mail_result_free(&r);

	/* maildir is a file, not a directory. */
	snprintf(path, sizeof(path), "%s/maildir", tmpl);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", tmpl);
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(r.error);
	mail_result_free(&r);

	/* A bad sender is refused before any transport. */
	snprintf(cfg.email_from, sizeof(cfg.email_from), "nobody");
	m.from = NULL;
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(strstr(r.error, "email_from"));
	mail_result_free(&r);

	/* An injected subject is refused by mail_deliver too. */
	snprintf(cfg.email_from, sizeof(cfg.email_from), "taskq@localhost");
	unlink(path);
	msg_init(&m, "x\r\nBcc: e@evil.example", "b");
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_PERMANENT);
	assert_non_null(strstr(r.error, "subject"));
	mail_result_free(&r);
	assert_int_equal(access(path, F_OK), -1);	/* nothing written */
}

/* write(2) on a full disk, after a first short write. */
static ssize_t
write_enospc(int fd, const void *buf, size_t n)
{
	static int	 calls;

	if (calls++ % 2 == 0)
		return write(fd, buf, n < 10 ? n : 10);
	errno = ENOSPC;
	return -1;
}

static void
test_maildir_disk_full_temporary(void **state)
{
	struct config		 cfg = config_defaults;
	struct mail_message	 m;
	struct mail_result	 r;
	char			 path[4200];

	(void)state;
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", tmpl);
	msg_init(&m, "s", "a body longer than ten bytes\n");
	mail_write = write_enospc;
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_TEMPORARY);
	mail_write = NULL;
	assert_non_null(r.error);
	assert_non_null(strstr(r.error, "No space left"));
	assert_null(r.path);
	mail_result_free(&r);
	/* Nothing half-written is left, in tmp/ or new/. */
	snprintf(path, sizeof(path), "%s/maildir/tmp", tmpl);
	assert_int_equal(dir_entries(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/maildir/new", tmpl);
	assert_int_equal(dir_entries(path, NULL, 0), 0);
	/* And the next attempt goes through. */
	assert_int_equal(mail_deliver(&cfg, &m, &r), MAIL_OK);
	mail_result_free(&r);
	assert_int_equal(dir_entries(path, NULL, 0), 1);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(mail_status_names[MAIL_OK], "ok");
	assert_string_equal(mail_status_names[MAIL_TEMPORARY], "temporary");
	assert_string_equal(mail_status_names[MAIL_PERMANENT], "permanent");
	assert_non_null(strstr(mail_strerror(MAIL_TEMPORARY), "temporary"));
	assert_non_null(strstr(mail_strerror(MAIL_PERMANENT), "permanent"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date_header),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_mime_and_address_headers),
		cmocka_unit_test(test_address_list_folding),
		cmocka_unit_test(test_subject_ascii_plain),
		cmocka_unit_test(test_subject_long_ascii_folded),
		cmocka_unit_test(test_subject_utf8_encoded_words),
		cmocka_unit_test(test_header_injection_refused),
		cmocka_unit_test(test_body_simple),
		cmocka_unit_test(test_body_leading_dots_and_from),
		cmocka_unit_test(test_body_long_lines),
		cmocka_unit_test(test_body_utf8_never_split),
		cmocka_unit_test(test_body_odd_bytes),
		cmocka_unit_test(test_whole_message_shape),
		cmocka_unit_test(test_random_round_trips),
		cmocka_unit_test(test_message_from_json),
		cmocka_unit_test_setup_teardown(test_maildir_delivery,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_maildir_failures,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_maildir_disk_full_temporary,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_status_names),
	};

	log_init("test_mail", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
