/*
 * Growable buffers for building responses, and the JSON text primitives the
 * responder writes by hand on its hot paths (task objects, errors): string
 * escaping that always yields valid UTF-8, RFC 3339 times, and the two
 * checks a request body passes before json-c sees it.
 */
#include <config.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "task.h"

/*
 * A buffer whose allocation failed is marked by cap == SIZE_MAX and ignores
 * further writes, so builders need not check every call: the sender checks
 * buf_failed() once and answers 503.
 */
#define BUF_FAILED	SIZE_MAX

bool
buf_failed(const struct buf *b)
{
	return b->cap == BUF_FAILED;
}

bool
buf_reserve(struct buf *b, size_t more)
{
	size_t	 want, ncap;
	char	*np;

	if (b->cap == BUF_FAILED)
		return false;
	if (more > SIZE_MAX / 2 - b->len - 1)
		goto fail;
	want = b->len + more + 1;
	if (want <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < want)
		ncap *= 2;
	if ((np = realloc(b->p, ncap)) == NULL)
		goto fail;
	b->p = np;
	b->cap = ncap;
	return true;
fail:
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = BUF_FAILED;
	return false;
}

/* Empties the buffer but keeps its memory for the next request. */
void
buf_reset(struct buf *b)
{
	if (b->cap == BUF_FAILED)
		b->cap = 0;
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
buf_release(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
buf_put(struct buf *b, const void *p, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void
buf_putc(struct buf *b, char c)
{
	if (!buf_reserve(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	if (!buf_reserve(b, 64))
		return;
	va_copy(ap2, ap);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->p[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!buf_reserve(b, (size_t)n))
			return;
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if the
 * bytes there are not one: overlong forms, UTF-16 surrogates (ED A0..BF)
 * and code points above U+10FFFF are invalid (RFC 3629).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char	 c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;	/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;	/* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;	/* above U+10FFFF */
		return 4;
	}
	return 0;
}

bool
utf8_valid(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, k;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq(p + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

/* The value of hexadecimal digit c (either case), or -1. */
int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The code unit of "\uXXXX" at s (s[0] == '\\'), or -1. */
static long
json_u_escape(const char *s, size_t n)
{
	long	 v = 0;
	int	 i, h;

	if (n < 6 || s[0] != '\\' || s[1] != 'u')
		return -1;
	for (i = 2; i < 6; i++) {
		if ((h = hex_digit((unsigned char)s[i])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/*
 * What json-c 0.16 lets through and the contract forbids, found in the raw
 * text before parsing: a lone UTF-16 surrogate escape (a high surrogate
 * not followed at once by a low one, or a low one alone), which json-c
 * silently turns into other bytes, and a raw control character inside a
 * string, which it accepts even in strict mode, as it does NaN and
 * Infinity: outside strings the only words are true, false, null and the
 * exponent of a number.  Other syntax errors are left to json-c.
 */
enum json_raw_err
json_raw_check(const char *s, size_t n)
{
	size_t	 i = 0;
	long	 u, lo;
	bool	 in_str = false;

	while (i < n) {
		unsigned char	 c = (unsigned char)s[i];

		if (!in_str) {
			size_t	 w = i;

			if (c == '"')
				in_str = true;
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
				i++;
				continue;
			}
			while (w < n && ((s[w] >= 'a' && s[w] <= 'z') ||
			    (s[w] >= 'A' && s[w] <= 'Z')))
				w++;
			if (!(w - i == 4 && (memcmp(s + i, "true", 4) == 0 ||
			    memcmp(s + i, "null", 4) == 0)) &&
			    !(w - i == 5 && memcmp(s + i, "false", 5) == 0) &&
			    !(w - i == 1 && (c == 'e' || c == 'E') && i > 0 &&
			    ((s[i - 1] >= '0' && s[i - 1] <= '9') || s[i - 1] == '.')))
				return JSON_RAW_SYNTAX;
			i = w;
			continue;
		}
		if (c == '"') {
			in_str = false;
			i++;
			continue;
		}
		if (c < 0x20)
			return JSON_RAW_CONTROL;
		if (c != '\\') {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return JSON_RAW_OK;	/* truncated: json-c says so */
		if (s[i + 1] != 'u' || (u = json_u_escape(s + i, n - i)) < 0) {
			i += 2;
			continue;
		}
		if (u >= 0xdc00 && u <= 0xdfff)
			return JSON_RAW_SURROGATE;
		if (u >= 0xd800 && u <= 0xdbff) {
			lo = json_u_escape(s + i + 6, n - i - 6);
			if (lo < 0xdc00 || lo > 0xdfff)
				return JSON_RAW_SURROGATE;
			i += 12;
			continue;
		}
		i += 6;
	}
	return JSON_RAW_OK;
}

/*
 * Appends s (n bytes) as a JSON string literal.  Control characters are
 * escaped, and bytes that are not valid UTF-8 (a worker's stderr may hold
 * anything) become U+FFFD, so the response is always valid JSON.
 */
void
json_put_strn(struct buf *b, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, start, k;
	unsigned char		 c;

	/* Worst case: every byte becomes 6 ("\u00XX") or 3 (U+FFFD). */
	if (n > SIZE_MAX / 8 || !buf_reserve(b, n * 6 + 2))
		return;
	buf_putc(b, '"');
	while (i < n) {
		start = i;
		while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' &&
		    p[i] != '\\')
			i++;
		if (i > start)
			buf_put(b, p + start, i - start);
		if (i >= n)
			break;
		c = p[i];
		if (c >= 0x80) {
			if ((k = utf8_seq(p + i, n - i)) == 0) {
				buf_put(b, "\xef\xbf\xbd", 3);
				i++;
			} else {
				buf_put(b, p + i, k);
				i += k;
			}
			continue;
		}
		switch (c) {
		case '"':
			buf_put(b, "\\\"", 2);
			break;
		case '\\':
			buf_put(b, "\\\\", 2);
			break;
		case '\n':
			buf_put(b, "\\n", 2);
			break;
		case '\r':
			buf_put(b, "\\r", 2);
			break;
		case '\t':
			buf_put(b, "\\t", 2);
			break;
		default: {
			char	 e[6] = { '\\', 'u', '0', '0',
			    hex[c >> 4], hex[c & 15] };

			buf_put(b, e, sizeof(e));
			break;
		}
		}
		i++;
	}
	buf_putc(b, '"');
}

void
json_put_str(struct buf *b, const char *s)
{
	if (s == NULL) {
		buf_puts(b, "null");
		return;
	}
	json_put_strn(b, s, strlen(s));
}

/* Writes the low `width` decimal digits of v at t[at], zero-padded. */
static void
put_digits(char *t, size_t at, unsigned v, size_t width)
{
	while (width-- > 0) {
		t[at + width] = (char)('0' + v % 10);
		v /= 10;
	}
}

void
buf_put_int(struct buf *b, int64_t v)
{
	char		 t[24];
	size_t		 i = sizeof(t);
	uint64_t	 u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		t[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		t[--i] = '-';
	buf_put(b, t + i, sizeof(t) - i);
}

/*
 * A time as an RFC 3339 string ("2026-11-29T02:10:00.123Z"), or null for 0
 * (the store's "no time").  Computed here rather than with gmtime_r, which
 * takes glibc's time-zone lock: a page of tasks formats hundreds of times
 * on every worker thread at once.  Days to a civil date is Howard
 * Hinnant's civil_from_days; years outside 0000..9999 are clamped as
 * time_format_rfc3339 does.
 */
void
json_put_time(struct buf *b, int64_t ms)
{
	char		 t[48];
	int64_t		 days, secs, era, z;
	unsigned	 doe, yoe, doy, mp, d, m, sod, milli;
	int64_t		 y;

	if (ms == 0) {
		buf_puts(b, "null");
		return;
	}
	if (ms < INT64_C(-62167219200000))
		ms = INT64_C(-62167219200000);
	if (ms > INT64_C(253402300799999))
		ms = INT64_C(253402300799999);
	secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	milli = (unsigned)(ms - secs * 1000);
	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	sod = (unsigned)(secs - days * 86400);
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	/* Digits written by hand: snprintf here was a tenth of a list's CPU. */
	put_digits(t, 1, (unsigned)y % 10000, 4);
	t[5] = '-';
	put_digits(t, 6, m, 2);
	t[8] = '-';
	put_digits(t, 9, d, 2);
	t[11] = 'T';
	put_digits(t, 12, sod / 3600, 2);
	t[14] = ':';
	put_digits(t, 15, sod / 60 % 60, 2);
	t[17] = ':';
	put_digits(t, 18, sod % 60, 2);
	t[20] = '.';
	put_digits(t, 21, milli, 3);
	t[0] = '"';
	t[24] = 'Z';
	t[25] = '"';
	buf_put(b, t, TIME_RFC3339_LEN + 2);
}
