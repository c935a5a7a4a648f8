/*
 * The streaming RFC 4180 parser declared in csv.h.
 *
 * Two paths share one state.  The fast path works only at a field boundary
 * and only on fields that end inside the current chunk: it finds the next
 * special byte 16 at a time (SSE2) and hands out pointers into the caller's
 * chunk, so it neither copies nor allocates.  Whenever it meets anything
 * else -- a field cut by the end of the chunk, a field over the limit, a
 * stray quote, a NUL -- it stops at the start of that field, without having
 * changed any state, and the slow path takes the field over: it keeps the
 * partial value in the one carry buffer (bounded by max_field_bytes) across
 * chunks and is the only place that reports errors, so messages are the
 * same whichever path saw the input first.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "csv.h"

enum csv_state {
	ST_FIELD,		/* at the start of a field: nothing of it seen */
	ST_UNQUOTED,		/* inside an unquoted field, value in carry */
	ST_QUOTED,		/* inside a quoted field, value in carry */
	ST_QUOTE,		/* a '"' inside a quoted field: doubled or closing */
	ST_DONE			/* csv_parser_finish was called */
};

struct csv_parser {
	struct csv_options opts;
	csv_field_fn	 field;
	csv_record_fn	 record;
	void		*arg;
	enum csv_err	 err;		/* sticky */
	char		 errmsg[160];
	enum csv_state	 state;
	size_t		 col;		/* 0-based index of the current field */
	uint64_t	 line;		/* current physical line, 1-based */
	uint64_t	 line_off;	/* input offset of the current line's first byte */
	uint64_t	 rec_line;	/* line where the current record starts */
	uint64_t	 qline;		/* line where the open quoted field starts */
	uint64_t	 base;		/* input offset of buf[0] in the feed at hand */
	const char	*buf;		/* the chunk at hand (borrowed) */
	uint64_t	 fed;		/* bytes fed, BOM included */
	bool		 skip_lf;	/* a CR ended the last line: one LF belongs to it */
	bool		 in_cr;		/* quoted: the last byte was a CR (CR LF is one line end) */
	bool		 bom_done;	/* the first bytes were checked for a BOM */
	size_t		 nbom;		/* BOM prefix bytes held in bom[] */
	char		 bom[3];
	char		*carry;		/* the value of a field cut by a chunk end */
	size_t		 carry_len, carry_cap;
	unsigned char	 plain[256];	/* bytes that end an unquoted run */
	unsigned char	 quoted[256];	/* bytes that end a quoted run */
};

static const char *const csv_errs[CSV_ERR__MAX] = {
	"success",
	"invalid options",
	"malformed CSV",
	"field or record too large",
	"out of memory",
	"read error",
	"stopped by callback",
	"cancelled",
};

const char *
csv_strerror(enum csv_err e)
{
	if ((unsigned)e >= CSV_ERR__MAX)
		return "unknown error";
	return csv_errs[e];
}

void
csv_options_init(struct csv_options *o)
{
	memset(o, 0, sizeof(*o));
	o->delimiter = ',';
	o->has_header = true;
	o->max_field_bytes = CSV_MAX_FIELD_DEFAULT;
}

struct csv_parser *
csv_parser_new(const struct csv_options *opts, csv_field_fn field,
    csv_record_fn record, void *arg, enum csv_err *err)
{
	struct csv_parser	*p;
	unsigned char		 d = (unsigned char)opts->delimiter;

	if (d == '"' || d == '\r' || d == '\n' || d == '\0' || d >= 0x80 ||
	    field == NULL || record == NULL) {
		*err = CSV_EINVAL;
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		*err = CSV_ENOMEM;
		return NULL;
	}
	p->opts = *opts;
	if (p->opts.max_field_bytes == 0)
		p->opts.max_field_bytes = CSV_MAX_FIELD_DEFAULT;
	p->field = field;
	p->record = record;
	p->arg = arg;
	p->line = p->rec_line = 1;
	p->plain[d] = p->plain['"'] = p->plain['\n'] = p->plain['\r'] =
	    p->plain['\0'] = 1;
	p->quoted['"'] = p->quoted['\n'] = p->quoted['\r'] = p->quoted['\0'] = 1;
	*err = CSV_OK;
	return p;
}

void
csv_parser_free(struct csv_parser *p)
{
	if (p == NULL)
		return;
	free(p->carry);
	free(p);
}

const char *
csv_parser_errmsg(const struct csv_parser *p)
{
	return p->errmsg;
}

uint64_t
csv_parser_bytes(const struct csv_parser *p)
{
	return p->fed;
}

static uint64_t
csv_off(const struct csv_parser *p, const char *s)
{
	return p->base + (uint64_t)(s - p->buf);
}

static void
csv_fail_at(struct csv_parser *p, enum csv_err e, const char *s,
    const char *what)
{
	p->err = e;
	snprintf(p->errmsg, sizeof(p->errmsg), "line %llu, column %llu: %s",
	    (unsigned long long)p->line,
	    (unsigned long long)(csv_off(p, s) - p->line_off + 1), what);
}

static void
csv_fail_line(struct csv_parser *p, enum csv_err e, uint64_t line,
    const char *what)
{
	p->err = e;
	snprintf(p->errmsg, sizeof(p->errmsg), "line %llu: %s",
	    (unsigned long long)line, what);
}

static void
csv_fail_big(struct csv_parser *p, uint64_t line)
{
	p->err = CSV_ETOOBIG;
	snprintf(p->errmsg, sizeof(p->errmsg),
	    "line %llu: field longer than %zu bytes",
	    (unsigned long long)line, p->opts.max_field_bytes);
}

/* Makes room for n bytes in carry; n never exceeds max_field_bytes. */
static bool
csv_carry_reserve(struct csv_parser *p, size_t n)
{
	size_t	 cap;
	char	*c;

	if (n <= p->carry_cap)
		return true;
	cap = p->carry_cap ? p->carry_cap : 4096;
	while (cap < n)
		cap *= 2;
	if (cap > p->opts.max_field_bytes)
		cap = p->opts.max_field_bytes;
	if ((c = realloc(p->carry, cap)) == NULL) {
		p->err = CSV_ENOMEM;
		snprintf(p->errmsg, sizeof(p->errmsg), "out of memory");
		return false;
	}
	p->carry = c;
	p->carry_cap = cap;
	return true;
}

/* Appends n bytes of the field that started on line to carry, within the limit. */
static bool
csv_carry_add(struct csv_parser *p, const char *s, size_t n, uint64_t line)
{
	if (n == 0)
		return true;
	if (n > p->opts.max_field_bytes - p->carry_len) {
		csv_fail_big(p, line);
		return false;
	}
	if (!csv_carry_reserve(p, p->carry_len + n))
		return false;
	memcpy(p->carry + p->carry_len, s, n);
	p->carry_len += n;
	return true;
}

/*
 * The first byte at or after s that can end an unquoted (table plain) or
 * quoted (table quoted) run, or end.
 */
static inline const char *
csv_scan(const struct csv_parser *p, const char *s, const char *end, bool q)
{
	const unsigned char	*tab = q ? p->quoted : p->plain;
#if defined(__SSE2__)
	const __m128i		 vd = _mm_set1_epi8(q ? '"' : p->opts.delimiter);
	const __m128i		 vq = _mm_set1_epi8('"');
	const __m128i		 vn = _mm_set1_epi8('\n');
	const __m128i		 vr = _mm_set1_epi8('\r');
	const __m128i		 vz = _mm_setzero_si128();
	__m128i			 x, m;
	int			 mask;

	while (end - s >= 16) {
		x = _mm_loadu_si128((const __m128i *)(const void *)s);
		m = _mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(x, vd), _mm_cmpeq_epi8(x, vq)),
		    _mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(x, vn), _mm_cmpeq_epi8(x, vr)),
		    _mm_cmpeq_epi8(x, vz)));
		if ((mask = _mm_movemask_epi8(m)) != 0)
			return s + __builtin_ctz((unsigned)mask);
		s += 16;
	}
#endif
	while (s < end && !tab[(unsigned char)*s])
		s++;
	return s;
}

/*
 * Consumes the line end (CR, LF or CR LF) at e and returns what follows it.
 * A CR that is the last byte of the chunk leaves skip_lf set for the next.
 */
static inline const char *
csv_line_end(struct csv_parser *p, const char *e, const char *end)
{
	if (*e == '\r') {
		if (e + 1 == end)
			p->skip_lf = true;
		else if (e[1] == '\n')
			e++;
	}
	p->line++;
	p->line_off = csv_off(p, e + 1);
	p->rec_line = p->line;
	return e + 1;
}

/*
 * The fast path, from a field boundary: returns where it stopped (end, or
 * the start of a field it leaves to the slow path), or NULL when a callback
 * stopped parsing.
 */
static const char *
csv_fast(struct csv_parser *p, const char *s, const char *end)
{
	const char	 delim = p->opts.delimiter;
	const size_t	 max = p->opts.max_field_bytes;
	size_t		 col = p->col;
	const char	*e, *q, *v, *r;
	uint64_t	 line, loff;
	size_t		 len;
	bool		 esc;
	char		 c, *w;

	while (s < end) {
		if (*s != '"') {
			e = csv_scan(p, s, end, false);
			if (e == end || (size_t)(e - s) > max)
				break;
			if (*e == delim) {
				if (p->field(p->arg, s, (size_t)(e - s), col))
					goto cb;
				col++;
				s = e + 1;
				continue;
			}
			if (*e != '\n' && *e != '\r')
				break;		/* '"' or NUL: an error */
			if (e != s || col != 0) {	/* else a blank line */
				if (p->field(p->arg, s, (size_t)(e - s), col) ||
				    p->record(p->arg, col + 1, p->rec_line))
					goto cb;
				col = 0;
			}
			s = csv_line_end(p, e, end);
			continue;
		}

		/* A quoted field: find its closing quote within the chunk. */
		line = p->line;
		loff = p->line_off;
		esc = false;
		q = s + 1;
		for (;;) {
			q = csv_scan(p, q, end, true);
			if (q == end)
				goto slow;
			c = *q;
			if (c == '"') {
				if (q + 1 == end)
					goto slow;
				if (q[1] != '"')
					break;
				esc = true;
				q += 2;
				continue;
			}
			if (c == '\0')
				goto slow;
			if (c == '\r') {
				if (q + 1 == end)
					goto slow;
				if (q[1] == '\n')
					q++;
			}
			line++;
			loff = csv_off(p, q + 1);
			q++;
		}
		e = q + 1;
		c = *e;
		len = (size_t)(q - s - 1);
		if ((c != delim && c != '\n' && c != '\r') || len > max)
			goto slow;
		v = s + 1;
		if (esc) {
			if (!csv_carry_reserve(p, len))
				goto fail;
			w = p->carry;
			for (r = v; r < q; r++) {
				*w++ = *r;
				if (*r == '"')
					r++;
			}
			len = (size_t)(w - p->carry);
			v = p->carry;
		}
		p->line = line;
		p->line_off = loff;
		if (p->field(p->arg, v, len, col))
			goto cb;
		if (c == delim) {
			col++;
			s = e + 1;
			continue;
		}
		if (p->record(p->arg, col + 1, p->rec_line))
			goto cb;
		col = 0;
		s = csv_line_end(p, e, end);
	}
slow:
	p->col = col;
	return s;
cb:
	p->err = CSV_ECALLBACK;
	snprintf(p->errmsg, sizeof(p->errmsg), "stopped by callback");
fail:
	p->col = col;
	return NULL;
}

/* Delivers carry as the current field; the record too when last. */
static bool
csv_emit(struct csv_parser *p, bool last)
{
	if (p->field(p->arg, p->carry_len ? p->carry : "", p->carry_len,
	    p->col) != 0 ||
	    (last && p->record(p->arg, p->col + 1, p->rec_line) != 0)) {
		p->err = CSV_ECALLBACK;
		snprintf(p->errmsg, sizeof(p->errmsg), "stopped by callback");
		return false;
	}
	p->carry_len = 0;
	p->state = ST_FIELD;
	p->col = last ? 0 : p->col + 1;
	return true;
}

/*
 * The slow path: takes one field through the state machine, across chunks
 * if need be.  Returns what follows the field once it is complete (state
 * back to ST_FIELD), end if the chunk ran out first, NULL on error.
 */
static const char *
csv_slow(struct csv_parser *p, const char *s, const char *end)
{
	const char	 delim = p->opts.delimiter;
	const char	*e;
	char		 c;

	while (s < end) {
		c = *s;
		switch (p->state) {
		case ST_FIELD:
			p->carry_len = 0;
			if (c == '"') {
				p->state = ST_QUOTED;
				p->qline = p->line;
				p->in_cr = false;
				s++;
				break;
			}
			if (c == delim)
				return csv_emit(p, false) ? s + 1 : NULL;
			if (c == '\n' || c == '\r') {
				if (p->col != 0 && !csv_emit(p, true))
					return NULL;
				return csv_line_end(p, s, end);
			}
			if (c == '\0') {
				csv_fail_at(p, CSV_ESYNTAX, s, "NUL byte");
				return NULL;
			}
			p->state = ST_UNQUOTED;
			break;
		case ST_UNQUOTED:
			e = csv_scan(p, s, end, false);
			if (!csv_carry_add(p, s, (size_t)(e - s), p->line))
				return NULL;
			if ((s = e) == end)
				break;
			c = *s;
			if (c == delim)
				return csv_emit(p, false) ? s + 1 : NULL;
			if (c == '\n' || c == '\r')
				return csv_emit(p, true) ? csv_line_end(p, s, end) :
				    NULL;
			csv_fail_at(p, CSV_ESYNTAX, s, c == '"' ?
			    "quote in unquoted field" : "NUL byte");
			return NULL;
		case ST_QUOTED:
			if (c == '\n' && p->in_cr) {
				/* The LF of a CR LF: the line was counted at the CR. */
				p->line_off = csv_off(p, s + 1);
				p->in_cr = false;
				if (!csv_carry_add(p, s, 1, p->qline))
					return NULL;
				s++;
				break;
			}
			p->in_cr = false;
			e = csv_scan(p, s, end, true);
			if (!csv_carry_add(p, s, (size_t)(e - s), p->qline))
				return NULL;
			if ((s = e) == end)
				break;
			c = *s;
			if (c == '"') {
				p->state = ST_QUOTE;
				s++;
				break;
			}
			if (c == '\0') {
				csv_fail_at(p, CSV_ESYNTAX, s, "NUL byte");
				return NULL;
			}
			if (!csv_carry_add(p, s, 1, p->qline))
				return NULL;
			p->line++;
			p->line_off = csv_off(p, s + 1);
			p->in_cr = c == '\r';
			s++;
			break;
		case ST_QUOTE:
			if (c == '"') {
				if (!csv_carry_add(p, s, 1, p->qline))
					return NULL;
				p->state = ST_QUOTED;
				s++;
				break;
			}
			if (c == delim)
				return csv_emit(p, false) ? s + 1 : NULL;
			if (c == '\n' || c == '\r')
				return csv_emit(p, true) ? csv_line_end(p, s, end) :
				    NULL;
			csv_fail_at(p, CSV_ESYNTAX, s,
			    c == '\0' ? "NUL byte" :
			    "unexpected character after closing quote");
			return NULL;
		case ST_DONE:
			abort();
		}
	}
	return s;
}

/* Parses one chunk that holds no part of a BOM. */
static enum csv_err
csv_parse(struct csv_parser *p, const char *buf, size_t len)
{
	const char	*s = buf, *end = buf + len;

	p->buf = buf;
	while (s < end) {
		if (p->skip_lf) {
			p->skip_lf = false;
			if (*s == '\n') {
				s++;
				p->line_off = csv_off(p, s);
				continue;
			}
		}
		if (p->state == ST_FIELD &&
		    ((s = csv_fast(p, s, end)) == NULL || s == end))
			break;
		if ((s = csv_slow(p, s, end)) == NULL)
			break;
	}
	p->base += len;
	p->buf = NULL;
	return p->err;
}

enum csv_err
csv_parser_feed(struct csv_parser *p, const char *buf, size_t len)
{
	static const char	 bom[3] = { '\xef', '\xbb', '\xbf' };

	if (p->err != CSV_OK)
		return p->err;
	if (p->state == ST_DONE) {
		p->err = CSV_EINVAL;
		snprintf(p->errmsg, sizeof(p->errmsg), "input already finished");
		return p->err;
	}
	p->fed += len;
	/* The BOM may come split over chunks: hold its bytes until it is decided. */
	while (!p->bom_done && len > 0) {
		p->bom[p->nbom++] = *buf++;
		len--;
		if (p->bom[p->nbom - 1] != bom[p->nbom - 1]) {
			p->bom_done = true;
			if (csv_parse(p, p->bom, p->nbom) != CSV_OK)
				return p->err;
		} else if (p->nbom == 3) {
			p->bom_done = true;
			p->base = p->line_off = 3;
		}
	}
	if (len == 0)
		return p->err;
	return csv_parse(p, buf, len);
}

enum csv_err
csv_parser_finish(struct csv_parser *p)
{
	if (p->err != CSV_OK)
		return p->err;
	if (p->state == ST_DONE) {
		p->err = CSV_EINVAL;
		snprintf(p->errmsg, sizeof(p->errmsg), "input already finished");
		return p->err;
	}
	if (!p->bom_done) {
		p->bom_done = true;
		if (p->nbom > 0 && csv_parse(p, p->bom, p->nbom) != CSV_OK)
			return p->err;
	}
	switch (p->state) {
	case ST_FIELD:
		/* "a,b," ends with an empty field; "a,b\n" ends nothing. */
		if (p->col != 0 && !csv_emit(p, true))
			return p->err;
		break;
	case ST_UNQUOTED:
	case ST_QUOTE:
		if (!csv_emit(p, true))
			return p->err;
		break;
	case ST_QUOTED:
		csv_fail_line(p, CSV_ESYNTAX, p->qline, "unterminated quoted field");
		return p->err;
	case ST_DONE:
		break;
	}
	p->state = ST_DONE;
	return CSV_OK;
}
