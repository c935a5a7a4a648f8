/*
 * The core of the CSV parser of csv.h, private to lib/: the parser state
 * and the static functions that drive it.  It is included by csv.c, which
 * instantiates it with the callbacks as function pointers for the public
 * API, and by csvstats.c, which defines CSV_FIELD and CSV_RECORD first so
 * that its own handlers are called directly and inlined into the loops:
 * one source, no indirect call per field where speed matters.
 *
 * Two paths share one state.  The fast path works only at a field boundary
 * and only on fields that end inside the current chunk: 64 bytes at a time
 * it classifies bytes into bit masks and takes every field that ends in
 * the block (csv_walk, after csv_block's SSE2 or, where the CPU has it,
 * csv_block_avx2's classification), else it finds the next special byte
 * 16 at a time (csv_field1); either way it hands out pointers into the
 * caller's chunk and neither copies nor allocates.  Whenever it meets
 * anything else -- a field cut by the end of the chunk, a field over the
 * limit, a stray quote, a NUL -- it stops at the start of that field,
 * without having changed any state, and the slow path takes the field
 * over: it keeps the partial value in the one carry buffer (bounded by
 * max_field_bytes) across chunks and is the only place that reports
 * errors, so messages are the same whichever path saw the input first.
 */
#ifndef TASKQ_CSV_CORE_H
#define TASKQ_CSV_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CSV_HAVE_AVX2	1	/* an AVX2 fast path, chosen at run time */
#endif

#include "csv.h"

/*
 * The handlers.  A value handed to CSV_FIELD is always followed by a
 * readable byte that is not part of it: the delimiter, line end or quote
 * that ended it in the caller's chunk, or a NUL in carry (csvstats reads
 * numbers up to the first byte that is not a digit).
 */
#ifndef CSV_FIELD
#define CSV_FIELD(p, v, len, col)	((p)->field((p)->arg, (v), (len), (col)))
#define CSV_RECORD(p, n, line)		((p)->record((p)->arg, (n), (line)))
#endif

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
	bool		 avx2;		/* the CPU has AVX2 and PCLMUL */
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
	char		*carry;		/* the value of a field cut by a chunk end; also
					 * where the fast path unescapes "" */
	size_t		 carry_len, carry_cap;
	/*
	 * The block classifiers' compare operands: quote, delimiter, LF and
	 * CR, 32 of each, read from memory rather than built with set1, which
	 * gcc redid for every block (the handlers' calls clobber the vector
	 * registers).
	 */
	unsigned char	 splat[4][32];
	unsigned char	 plain[256];	/* bytes that end an unquoted run */
	unsigned char	 quoted[256];	/* bytes that end a quoted run */
};

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

/*
 * Makes room in carry for n bytes and the NUL that ends a value handed out
 * (see CSV_FIELD); n never exceeds max_field_bytes.
 */
static bool
csv_carry_reserve(struct csv_parser *p, size_t n)
{
	size_t	 cap, lim;
	char	*c;

	if (n < p->carry_cap)
		return true;
	lim = p->opts.max_field_bytes < SIZE_MAX ? p->opts.max_field_bytes + 1 :
	    SIZE_MAX;
	n++;
	cap = p->carry_cap ? p->carry_cap : 4096;
	while (cap < n)
		cap *= 2;
	if (cap > lim)
		cap = lim;
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
 * One field by scanning, from a field boundary: returns what follows it,
 * s itself when the slow path must take the field (cut by the chunk end,
 * over the limit, a stray quote, a NUL), or NULL when a callback stopped.
 * State changes only once the field is complete.
 */
static const char *
csv_field1(struct csv_parser *p, const char *s, const char *end)
{
	const char	 delim = p->opts.delimiter;
	const size_t	 max = p->opts.max_field_bytes;
	const char	*e, *q, *v, *r;
	uint64_t	 line, loff;
	size_t		 len;
	bool		 esc;
	char		 c, *w;

	if (*s != '"') {
		e = csv_scan(p, s, end, false);
		if (e == end || (size_t)(e - s) > max)
			return s;
		if (*e == delim) {
			if (CSV_FIELD(p, s, (size_t)(e - s), p->col))
				goto cb;
			p->col++;
			return e + 1;
		}
		if (*e != '\n' && *e != '\r')
			return s;		/* '"' or NUL: an error */
		if (e != s || p->col != 0) {	/* else a blank line */
			if (CSV_FIELD(p, s, (size_t)(e - s), p->col) ||
			    CSV_RECORD(p, p->col + 1, p->rec_line))
				goto cb;
			p->col = 0;
		}
		return csv_line_end(p, e, end);
	}

	/* A quoted field: find its closing quote within the chunk. */
	line = p->line;
	loff = p->line_off;
	esc = false;
	q = s + 1;
	for (;;) {
		q = csv_scan(p, q, end, true);
		if (q == end)
			return s;
		c = *q;
		if (c == '"') {
			if (q + 1 == end)
				return s;
			if (q[1] != '"')
				break;
			esc = true;
			q += 2;
			continue;
		}
		if (c == '\0')
			return s;
		if (c == '\r') {
			if (q + 1 == end)
				return s;
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
		return s;
	v = s + 1;
	if (esc) {
		if (!csv_carry_reserve(p, len))
			return NULL;
		w = p->carry;
		for (r = v; r < q; r++) {
			*w++ = *r;
			if (*r == '"')
				r++;
		}
		*w = '\0';
		len = (size_t)(w - p->carry);
		v = p->carry;
	}
	p->line = line;
	p->line_off = loff;
	if (CSV_FIELD(p, v, len, p->col))
		goto cb;
	if (c == delim) {
		p->col++;
		return e + 1;
	}
	if (CSV_RECORD(p, p->col + 1, p->rec_line))
		goto cb;
	p->col = 0;
	return csv_line_end(p, e, end);
cb:
	p->err = CSV_ECALLBACK;
	snprintf(p->errmsg, sizeof(p->errmsg), "stopped by callback");
	return NULL;
}

#if defined(__SSE2__)
/* Bit i set where byte i of the 16 at s equals one of the set in v. */
#define CSV_EQ(x, v)	((uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8((x), (v))))

/*
 * Many fields at once, from a field boundary s with at least 64 bytes
 * ahead, given the 64 bytes classified into bit masks (quotes q,
 * delimiters d, line ends nl, NULs z) and which bytes are inside quotes
 * (in, a prefix XOR of q): every terminator outside quotes is known
 * without a dependency from one field to the next.  The quotes are valid
 * when every opening quote follows a terminator, the block start or a
 * closing quote ("" inside a field), and every closing quote precedes a
 * terminator or an opening quote.  Fields from the first invalid byte on,
 * fields with a line end inside quotes, and the field cut by the block end
 * are left to the per-field path: it returns the boundary after the last
 * field it took (s if none), or NULL when a callback stopped.  Inlined
 * into each classifier below, so that both get the handlers inlined too.
 */
static inline __attribute__((always_inline)) const char *
csv_walk(struct csv_parser *p, const char *s, const char *end, uint64_t q,
    uint64_t d, uint64_t nl, uint64_t z, uint64_t in)
{
	uint64_t	 t, o, c, bad, esc;
	size_t		 col = p->col, len;
	unsigned	 i, fi;
	const char	*v, *r;
	char		*w;

	if ((t = (d | nl) & ~in) == 0)
		return s;
	o = q & in;
	c = q & ~in;
	bad = z | (nl & in) | (o & ~(((t | c) << 1) | 1)) | (c & ~((t | o) >> 1));
	bad &= ~0ULL >> __builtin_clzll(t);	/* up to the last terminator */
	if (bad != 0 && (t &= (1ULL << __builtin_ctzll(bad)) - 1) == 0)
		return s;
	esc = c & (o >> 1);		/* the first quote of each "" */
	nl &= t;			/* the line ends that end a field */

	/*
	 * Few values live across fields, so that the handlers inlined here
	 * keep theirs in registers: a field is quoted when its first byte is a
	 * quote (the quotes are valid up to the last terminator taken).
	 */
	fi = 0;
	do {
		i = (unsigned)__builtin_ctzll(t);
		t &= t - 1;
		v = s + fi;
		len = i - fi;
		if (*v == '"') {
			v++;
			len -= 2;
			/* esc keeps no bit of the fields before this one. */
			if (esc != 0 && (unsigned)__builtin_ctzll(esc) < i) {
				esc &= ~0ULL << i;
				if (!csv_carry_reserve(p, len))
					return NULL;
				w = p->carry;
				for (r = v; r < v + len; r++) {
					*w++ = *r;
					if (*r == '"')
						r++;
				}
				*w = '\0';
				len = (size_t)(w - p->carry);
				v = p->carry;
			}
		} else if (__builtin_expect(len == 0, 0) && col == 0 &&
		    ((nl >> i) & 1)) {
			goto line_end;			/* a blank line */
		}
		if (CSV_FIELD(p, v, len, col))
			goto cb;
		if (((nl >> i) & 1) == 0) {
			col++;
			fi = i + 1;
			continue;
		}
		if (CSV_RECORD(p, col + 1, p->rec_line))
			goto cb;
		col = 0;
line_end:
		/* The LF of a CR LF is a terminator bit too: drop it. */
		r = csv_line_end(p, s + i, end);
		if (r > s + i + 1 && i < 63)
			t &= ~(1ULL << (i + 1));
		fi = (unsigned)(r - s);
	} while (t != 0);
	p->col = col;
	return s + fi;
cb:
	p->col = col;
	p->err = CSV_ECALLBACK;
	snprintf(p->errmsg, sizeof(p->errmsg), "stopped by callback");
	return NULL;
}

/* csv_walk over the 64 bytes at s, classified 16 bytes at a time. */
static const char *
csv_block(struct csv_parser *p, const char *s, const char *end)
{
	const __m128i	 vq = _mm_loadu_si128((const __m128i *)(const void *)
			    p->splat[0]);
	const __m128i	 vd = _mm_loadu_si128((const __m128i *)(const void *)
			    p->splat[1]);
	const __m128i	 vn = _mm_loadu_si128((const __m128i *)(const void *)
			    p->splat[2]);
	const __m128i	 vr = _mm_loadu_si128((const __m128i *)(const void *)
			    p->splat[3]);
	const __m128i	 vz = _mm_setzero_si128();
	uint64_t	 q = 0, d = 0, nl = 0, z = 0, in;
	unsigned	 k;
	__m128i		 x;

	for (k = 0; k < 4; k++) {
		x = _mm_loadu_si128((const __m128i *)(const void *)(s + 16 * k));
		q |= CSV_EQ(x, vq) << (16 * k);
		d |= CSV_EQ(x, vd) << (16 * k);
		nl |= ((uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(x, vn), _mm_cmpeq_epi8(x, vr)))) << (16 * k);
		z |= CSV_EQ(x, vz) << (16 * k);
	}
	in = q ^ (q << 1);
	in ^= in << 2;
	in ^= in << 4;
	in ^= in << 8;
	in ^= in << 16;
	in ^= in << 32;			/* bit i: odd number of quotes in 0..i */
	return csv_walk(p, s, end, q, d, nl, z, in);
}
#endif

/*
 * The fast path, from a field boundary: fields 64 bytes at a time through
 * block where possible (NULL: no block classifier), else one by one.
 * Returns where it stopped (end, or the start of a field it leaves to the
 * slow path), or NULL when a callback stopped.  Inlined into csv_fast and
 * csv_fast_avx2, where block becomes a direct call.
 */
static inline __attribute__((always_inline)) const char *
csv_fast_with(struct csv_parser *p, const char *s, const char *end,
    const char *(*block)(struct csv_parser *, const char *, const char *))
{
	/* Fields in a block are under 64 bytes: only a smaller limit needs a test. */
	const bool	 blocks = block != NULL && p->opts.max_field_bytes >= 64;
	const char	*r;

	while (s < end) {
		while (blocks && end - s >= 64) {
			if ((r = block(p, s, end)) == NULL)
				return NULL;
			if (r == s)
				break;
			s = r;
		}
		if (s == end)
			break;
		if ((r = csv_field1(p, s, end)) == NULL || r == s)
			return r;
		s = r;
	}
	return s;
}

/* csv_fast_with the SSE2 classifier, where there is one. */
static const char *
csv_fast(struct csv_parser *p, const char *s, const char *end)
{
#if defined(__SSE2__)
	return csv_fast_with(p, s, end, csv_block);
#else
	return csv_fast_with(p, s, end, NULL);
#endif
}

#if defined(CSV_HAVE_AVX2)
/* Bit i set where byte i of the 32 at x equals v. */
#define CSV_EQ32(x, v)	((uint64_t)(uint32_t)_mm256_movemask_epi8( \
			    _mm256_cmpeq_epi8((x), (v))))

/*
 * csv_walk over the 64 bytes at s, classified 32 bytes at a time, with
 * the prefix XOR as one carry-less multiplication by all ones.
 */
static inline __attribute__((target("avx2,pclmul"))) const char *
csv_block_avx2(struct csv_parser *p, const char *s, const char *end)
{
	const __m256i	 vq = _mm256_loadu_si256((const __m256i *)(const void *)
			    p->splat[0]);
	const __m256i	 vd = _mm256_loadu_si256((const __m256i *)(const void *)
			    p->splat[1]);
	const __m256i	 vn = _mm256_loadu_si256((const __m256i *)(const void *)
			    p->splat[2]);
	const __m256i	 vr = _mm256_loadu_si256((const __m256i *)(const void *)
			    p->splat[3]);
	const __m256i	 vz = _mm256_setzero_si256();
	const __m256i	 x0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
	const __m256i	 x1 = _mm256_loadu_si256(
			    (const __m256i *)(const void *)(s + 32));
	uint64_t	 q, d, nl, z, in;

	q = CSV_EQ32(x0, vq) | CSV_EQ32(x1, vq) << 32;
	d = CSV_EQ32(x0, vd) | CSV_EQ32(x1, vd) << 32;
	nl = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_or_si256(
	    _mm256_cmpeq_epi8(x0, vn), _mm256_cmpeq_epi8(x0, vr))) |
	    (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_or_si256(
	    _mm256_cmpeq_epi8(x1, vn), _mm256_cmpeq_epi8(x1, vr))) << 32;
	/* NULs are rare: one test for the 64 bytes first. */
	z = 0;
	if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(x0, x1),
	    vz)) != 0)
		z = CSV_EQ32(x0, vz) | CSV_EQ32(x1, vz) << 32;
	in = (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(
	    _mm_set_epi64x(0, (long long)q), _mm_set1_epi8(-1), 0));
	return csv_walk(p, s, end, q, d, nl, z, in);
}

/* csv_fast with the AVX2 classifier. */
static __attribute__((target("avx2,pclmul"))) const char *
csv_fast_avx2(struct csv_parser *p, const char *s, const char *end)
{
	return csv_fast_with(p, s, end, csv_block_avx2);
}

/* Whether this CPU can run csv_fast_avx2 (csv_core_init asks). */
static inline bool
csv_cpu_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul");
}
#endif

/* Delivers carry as the current field; the record too when last. */
static bool
csv_emit(struct csv_parser *p, bool last)
{
	if (p->carry_len > 0)
		p->carry[p->carry_len] = '\0';
	if (CSV_FIELD(p, p->carry_len ? p->carry : "", p->carry_len,
	    p->col) != 0 ||
	    (last && CSV_RECORD(p, p->col + 1, p->rec_line) != 0)) {
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
		if (p->state == ST_FIELD) {
#if defined(CSV_HAVE_AVX2)
			s = p->avx2 ? csv_fast_avx2(p, s, end) :
			    csv_fast(p, s, end);
#else
			s = csv_fast(p, s, end);
#endif
			if (s == NULL || s == end)
				break;
		}
		if ((s = csv_slow(p, s, end)) == NULL)
			break;
	}
	p->base += len;
	p->buf = NULL;
	return p->err;
}

static enum csv_err
csv_core_feed(struct csv_parser *p, const char *buf, size_t len)
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

static enum csv_err
csv_core_finish(struct csv_parser *p)
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

/*
 * Sets up p, zeroed by the caller, for opts (delimiter checked by the
 * caller) and the handlers; csv_core_fini frees what it then holds.
 */
static inline void
csv_core_init(struct csv_parser *p, const struct csv_options *opts,
    csv_field_fn field, csv_record_fn record, void *arg)
{
	unsigned char	 d = (unsigned char)opts->delimiter;
#if defined(CSV_HAVE_AVX2)
	const char	*simd = getenv("TASKQ_CSV_SIMD");
#endif

	p->opts = *opts;
	if (p->opts.max_field_bytes == 0)
		p->opts.max_field_bytes = CSV_MAX_FIELD_DEFAULT;
	p->field = field;
	p->record = record;
	p->arg = arg;
	p->line = p->rec_line = 1;
#if defined(CSV_HAVE_AVX2)
	/* TASKQ_CSV_SIMD=sse2 keeps the SSE2 path, for tests and benchmarks. */
	p->avx2 = csv_cpu_avx2() && (simd == NULL || strcmp(simd, "sse2") != 0);
#endif
	memset(p->splat[0], '"', sizeof(p->splat[0]));
	memset(p->splat[1], d, sizeof(p->splat[1]));
	memset(p->splat[2], '\n', sizeof(p->splat[2]));
	memset(p->splat[3], '\r', sizeof(p->splat[3]));
	p->plain[d] = p->plain['"'] = p->plain['\n'] = p->plain['\r'] =
	    p->plain['\0'] = 1;
	p->quoted['"'] = p->quoted['\n'] = p->quoted['\r'] = p->quoted['\0'] = 1;
}

static inline void
csv_core_fini(struct csv_parser *p)
{
	free(p->carry);
}

#endif /* TASKQ_CSV_CORE_H */
