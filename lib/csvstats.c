/*
 * Per-column statistics of a CSV input (csvstats.h).  The field and record
 * handlers are compiled into the parser core (csv_core.h) rather than
 * called through pointers; they classify each value with cheap byte
 * checks, parse numbers by hand and keep running min, max and Welford mean
 * and variance, so a pass costs about ten nanoseconds a field and memory is
 * about a hundred bytes a column.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "csv.h"
#include "csvstats.h"

static inline __attribute__((always_inline)) int
		csvstats_field(void *, const char *, size_t, size_t);
static inline int	csvstats_record(void *, size_t, uint64_t);

/*
 * The parser core with our handlers called directly, see csv_core.h.  The
 * parser is the first member of struct csvstats: its address is ours, no
 * load from p->arg.
 */
#define CSV_FIELD(p, v, len, col)	csvstats_field((p), (v), (len), (col))
#define CSV_RECORD(p, n, line)		csvstats_record((p), (n), (line))
#include "csv_core.h"

#define CSVSTATS_CHUNK		(256 * 1024)	/* fits the L2 cache */
#define CSVSTATS_STEP_MAX	(64ULL * 1024 * 1024)
#define CSVSTATS_SWAR		(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#define CSVSTATS_SEEK_MAX	(16ULL * 1024 * 1024)	/* to find a line end */

/* What a column can still be; a value that rules out all of them makes a string. */
enum {
	POSS_INT = 1,		/* implies POSS_NUM */
	POSS_NUM = 2,
	POSS_BOOL = 4,
};

enum num_kind {
	NUM_NONE,		/* not a number */
	NUM_INT,		/* an integer that fits int64 */
	NUM_FLOAT		/* any other finite number */
};

struct colstat {
	/*
	 * Set by csvstats_finish, from seen.  Derivable, but it also keeps
	 * the struct at 96 bytes: at 88, cols[col]'s address took more
	 * instructions (0.8% more of a pass).
	 */
	uint64_t	 non_empty;
	uint64_t	 seen;		/* values in records shorter than the width */
	uint64_t	 empty;
	unsigned	 poss;		/* POSS_* still possible */
	double		 n;		/* numeric values seen: exact to 2^53, and
					 * Welford's update needs no conversion */
	double		 mean, m2;	/* Welford's running mean and sum of squares */
	int64_t		 imin, imax;	/* while POSS_INT */
	double		 dmin, dmax;	/* once only POSS_NUM */
	char		*name;		/* header field as read (owned), or NULL */
};

struct csvstats {
	struct csv_parser	 core;		/* first, see CSV_FIELD */
	struct csv_options	 opts;
	struct colstat		*cols;
	size_t			 ncols, capcols;
	bool			 width_fixed;	/* the first record is complete */
	size_t			 fast_cols;	/* ncols once width_fixed, else 0 */
	bool			 too_wide;	/* the first record passed max_columns */
	bool			 digit_delim;	/* see csvstats_number */
	uint64_t		 rows, ragged;
	/*
	 * Data records with every column: with seen, the values of a column,
	 * counted a record at a time rather than a field at a time.
	 */
	uint64_t		 full;
	uint64_t		 merged_bytes;	/* parsed by a second thread */
	enum csv_err		 err;		/* set by the callbacks */
	char			 errmsg[200];
	char			*numbuf;	/* NUL-terminated copy for strtod */
	size_t			 numcap;
};

static const double pow10_exact[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static void
csvstats_nomem(struct csvstats *st)
{
	st->err = CSV_ENOMEM;
	snprintf(st->errmsg, sizeof(st->errmsg), "out of memory");
}

/* The column with index col, appended while the first record is read. */
static bool
csvstats_add_column(struct csvstats *st)
{
	struct colstat	*c;
	size_t		 cap;

	if (st->ncols == st->capcols) {
		cap = st->capcols ? st->capcols * 2 : 16;
		if ((c = reallocarray(st->cols, cap, sizeof(*c))) == NULL) {
			csvstats_nomem(st);
			return false;
		}
		st->cols = c;
		st->capcols = cap;
	}
	c = &st->cols[st->ncols++];
	memset(c, 0, sizeof(*c));
	c->poss = POSS_INT | POSS_NUM | POSS_BOOL;
	/* So that the first value needs no test of n. */
	c->imin = INT64_MAX;
	c->imax = INT64_MIN;
	c->dmin = INFINITY;
	c->dmax = -INFINITY;
	return true;
}

/*
 * Reads v as a number by the grammar of csvstats.h.  Integers that fit
 * int64 come back in *ip; other numbers in *dp, exactly when the digits fit
 * a 53-bit mantissa and the power of ten is exact (Clinger's fast path),
 * through strtod otherwise.
 */
static enum num_kind
csvstats_number_slow(struct csvstats *st, const char *v, size_t len,
    int64_t *ip, double *dp)
{
	const char	*s = v, *end = v + len, *ds;
	uint64_t	 m = 0;
	int		 ndig = 0, exp10 = 0, ex = 0;
	bool		 neg = false, isint = true, inexact = false, any, eneg;
	double		 d;
	char		*ep;

	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	for (ds = s; s < end && (unsigned)(*s - '0') < 10; s++) {
		if (ndig < 19) {
			m = m * 10 + (unsigned)(*s - '0');
			ndig += m != 0;
		} else {
			exp10++;
			inexact = true;
		}
	}
	any = s != ds;
	if (s < end && *s == '.') {
		isint = false;
		for (ds = ++s; s < end && (unsigned)(*s - '0') < 10; s++) {
			if (ndig < 19) {
				m = m * 10 + (unsigned)(*s - '0');
				ndig += m != 0;
				exp10--;
			} else
				inexact = true;
		}
		any |= s != ds;
	}
	if (!any)
		return NUM_NONE;
	if (s < end && (*s == 'e' || *s == 'E')) {
		isint = false;
		if (++s < end && (*s == '-' || *s == '+'))
			eneg = *s++ == '-';
		else
			eneg = false;
		if (s == end)
			return NUM_NONE;
		for (; s < end && (unsigned)(*s - '0') < 10; s++)
			if (ex < 100000)
				ex = ex * 10 + (*s - '0');
		exp10 += eneg ? -ex : ex;
	}
	if (s != end)
		return NUM_NONE;

	if (isint && !inexact) {
		if (!neg && m <= (uint64_t)INT64_MAX) {
			*ip = (int64_t)m;
			return NUM_INT;
		}
		if (neg && m <= (uint64_t)INT64_MAX + 1) {
			*ip = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
			    -(int64_t)m;
			return NUM_INT;
		}
	}
	if (!inexact && m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
		d = (double)m;
		d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
		*dp = neg ? -d : d;
		return NUM_FLOAT;
	}
	if (m == 0 && !inexact) {
		*dp = neg ? -0.0 : 0.0;
		return NUM_FLOAT;
	}

	/* The slow, correctly rounded way: the grammar is checked already. */
	if (len + 1 > st->numcap) {
		free(st->numbuf);
		st->numcap = 0;
		if ((st->numbuf = malloc(len + 1)) == NULL) {
			csvstats_nomem(st);	/* the field callback stops */
			return NUM_NONE;
		}
		st->numcap = len + 1;
	}
	memcpy(st->numbuf, v, len);
	st->numbuf[len] = '\0';
	d = strtod(st->numbuf, &ep);
	if (ep != st->numbuf + len || !isfinite(d))
		return NUM_NONE;
	*dp = d;
	return NUM_FLOAT;
}

/*
 * Folds the digits from s into *m (m * 10 + digit each) and returns the
 * first byte that is not one.  No bounds test: the byte after a value is
 * never a digit (see CSV_FIELD in csv_core.h) unless the delimiter is one,
 * which the callers rule out (digit_delim).
 */
static inline __attribute__((always_inline)) const unsigned char *
csvstats_digits(const unsigned char *s, uint64_t *m)
{
	uint64_t	 x = *m;
	unsigned	 dig;

	for (; (dig = (unsigned)*s - '0') < 10; s++)
		x = x * 10 + dig;
	*m = x;
	return s;
}

/*
 * The common case first: at most 18 digits in all, so the mantissa cannot
 * overflow, and no exponent.  Anything else goes to csvstats_number_slow.
 */
static inline __attribute__((always_inline)) enum num_kind
csvstats_number(struct csvstats *st, const char *v, size_t len, int64_t *ip,
    double *dp)
{
	const unsigned char	*s = (const unsigned char *)v, *e = s + len, *ds;
	uint64_t		 m = 0;
	size_t			 nint, nfrac;
	bool			 neg = false;

	if (__builtin_expect(st->digit_delim, 0))
		return csvstats_number_slow(st, v, len, ip, dp);
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	ds = s;
	s = csvstats_digits(s, &m);
	nint = (size_t)(s - ds);
	if (s == e) {
		if (nint == 0)
			return NUM_NONE;
		if (nint > 18)
			return csvstats_number_slow(st, v, len, ip, dp);
		*ip = neg ? -(int64_t)m : (int64_t)m;
		return NUM_INT;
	}
	if (*s != '.')
		return (*s | 0x20) == 'e' && nint > 0 ?
		    csvstats_number_slow(st, v, len, ip, dp) : NUM_NONE;
	ds = ++s;
	s = csvstats_digits(s, &m);
	nfrac = (size_t)(s - ds);
	if (s != e || nint + nfrac > 15)	/* 10^15 < 2^53: exact */
		return nint + nfrac == 0 ? NUM_NONE :
		    csvstats_number_slow(st, v, len, ip, dp);
	if (nint + nfrac == 0)
		return NUM_NONE;
	*dp = (double)m / pow10_exact[nfrac];
	if (neg)
		*dp = -*dp;
	return NUM_FLOAT;
}

/* true or false in any case: four bytes compared at once, lower-cased. */
static inline __attribute__((always_inline)) bool
csvstats_is_bool(const char *v, size_t len)
{
	uint32_t	 w, t, f;

	if (len != 4 && len != 5)
		return false;
	memcpy(&w, v, sizeof(w));
	memcpy(&t, "true", sizeof(t));
	memcpy(&f, "fals", sizeof(f));
	w |= 0x20202020;
	return len == 4 ? w == t : w == f && (v[4] | 0x20) == 'e';
}

static inline void
csvstats_welford(struct colstat *c, double x)
{
	double	 delta;

	/*
	 * 1/n depends on the count only, so the division runs ahead of the
	 * mean's dependency chain instead of on it.
	 */
	c->n += 1;
	delta = x - c->mean;
	c->mean += delta * (1.0 / c->n);
	c->m2 += delta * (x - c->mean);
}

/* Folds integer i into a column of integers: min, max, mean, deviation. */
static inline __attribute__((always_inline)) void
csvstats_fold_int(struct colstat *c, int64_t i)
{
	if (i < c->imin)
		c->imin = i;
	if (i > c->imax)
		c->imax = i;
	csvstats_welford(c, (double)i);
}

/*
 * The common value of a column that holds integers only so far (poss
 * exactly POSS_INT | POSS_NUM): [+-]?D{1,18}, folded as csvstats_value
 * would, without its general parser.  false leaves the value to it.  The
 * byte after the value is not a digit (the caller checked the delimiter).
 */
static inline __attribute__((always_inline)) bool
csvstats_int_fast(struct colstat *c, const char *v, size_t len)
{
	const unsigned char	*s = (const unsigned char *)v, *e = s + len, *ds;
	uint64_t		 m = 0;
	int64_t			 i;
	bool			 neg;

	neg = *s == '-';
	s += neg || *s == '+';
	ds = s;
	s = csvstats_digits(s, &m);
	if (s != e || s == ds || s - ds > 18)
		return false;
	i = neg ? -(int64_t)m : (int64_t)m;
	csvstats_fold_int(c, i);
	return true;
}

/*
 * csvstats_int_fast without a loop, for a value of at most 8 bytes whose 8
 * bytes ending at v + len may be read: they are loaded at once, the bytes
 * before the digits become '0's, the digits are checked together and
 * converted with three multiplications (Lemire's SWAR method), with no
 * branch on their number.  The first byte loaded must be the lowest of x:
 * little-endian only (CSVSTATS_SWAR).
 */
static inline __attribute__((always_inline)) bool
csvstats_int8(struct colstat *c, const char *v, size_t len)
{
	const uint64_t	 ones = 0x0101010101010101ULL;
	uint64_t	 x, pad, neg = v[0] == '-';
	size_t		 nd = len - (neg | (v[0] == '+'));
	int64_t		 i;

	if (nd == 0)
		return false;
	memcpy(&x, v + len - 8, sizeof(x));
	pad = (1ULL << (8 * (8 - nd))) - 1;	/* the bytes before the digits */
	x = (x & ~pad) | (pad & ones * '0');
	if (((x & ones * 0xf0) | (((x + ones * 0x06) & ones * 0xf0) >> 4)) !=
	    ones * 0x33)
		return false;
	x -= ones * '0';
	x = x * 10 + (x >> 8);
	x = (((x & 0x000000ff000000ffULL) * (100 + (1000000ULL << 32))) +
	    (((x >> 16) & 0x000000ff000000ffULL) * (1 + (10000ULL << 32)))) >> 32;
	i = neg ? -(int64_t)x : (int64_t)x;
	csvstats_fold_int(c, i);
	return true;
}

/*
 * Likewise for a column of numbers (poss exactly POSS_NUM) and a value
 * [+-]?D*(.D*)? of 1 to 15 digits: exact, as csvstats_number reads it (an
 * integer through int64, so "-0" is 0 and "-0.0" is -0).
 */
static inline __attribute__((always_inline)) bool
csvstats_num_fast(struct colstat *c, const char *v, size_t len)
{
	const unsigned char	*s = (const unsigned char *)v, *e = s + len, *ds;
	uint64_t		 m = 0;
	size_t			 nint, nfrac = 0;
	double			 d;
	bool			 neg;

	neg = *s == '-';
	s += neg || *s == '+';
	ds = s;
	s = csvstats_digits(s, &m);
	nint = (size_t)(s - ds);
	if (*s == '.' && s != e) {
		ds = ++s;
		s = csvstats_digits(s, &m);
		nfrac = (size_t)(s - ds);
		if (s != e || nint + nfrac == 0 || nint + nfrac > 15)
			return false;
		d = (double)m / pow10_exact[nfrac];
		if (neg)
			d = -d;
	} else {
		if (s != e || nint == 0 || nint > 15)
			return false;
		d = (double)(neg ? -(int64_t)m : (int64_t)m);
	}
	if (d < c->dmin)
		c->dmin = d;
	if (d > c->dmax)
		c->dmax = d;
	csvstats_welford(c, d);
	return true;
}

/*
 * csvstats_value's general case: any value of a column that may still be
 * typed.  Out of line, so that the parser's loop keeps its registers (the
 * whole of csvstats_value out of line cost 8% of the instructions of a
 * pass).  Returns -1 when out of memory (strtod's copy), else 0.
 */
static __attribute__((noinline)) int
csvstats_value_general(struct csvstats *st, struct colstat *c, const char *v,
    size_t len)
{
	int64_t	 i;
	double	 d;

	if (c->poss & POSS_NUM) {
		switch (csvstats_number(st, v, len, &i, &d)) {
		case NUM_INT:
			if (c->poss & POSS_INT) {
				c->poss = POSS_INT | POSS_NUM;
				csvstats_fold_int(c, i);
				return 0;
			}
			d = (double)i;
			break;
		case NUM_FLOAT:
			if ((c->poss & POSS_INT) && c->n > 0) {
				c->dmin = (double)c->imin;
				c->dmax = (double)c->imax;
			}
			break;
		case NUM_NONE:
			if (__builtin_expect(st->err != CSV_OK, 0))
				return -1;
			c->poss &= ~(unsigned)(POSS_INT | POSS_NUM);
			goto other;
		}
		if (d < c->dmin)
			c->dmin = d;
		if (d > c->dmax)
			c->dmax = d;
		c->poss = POSS_NUM;
		csvstats_welford(c, d);
		return 0;
	}
other:
	if ((c->poss & POSS_BOOL) && csvstats_is_bool(v, len))
		c->poss = POSS_BOOL;
	else
		c->poss = 0;
	return 0;
}

/*
 * Folds one non-empty value into a column that may still be typed: the
 * common cases here, inlined into the parser's loop; the others, a
 * column's first values mostly, through the general parser, out of line.
 * Returns -1 when out of memory (strtod's copy), else 0.
 */
static inline __attribute__((always_inline)) int
csvstats_value(struct csvstats *st, struct colstat *c, const char *v,
    size_t len)
{
	/* A column's type is mostly settled after its first values. */
	if (__builtin_expect(!st->digit_delim, 1)) {
		/*
		 * A value in the chunk (not in carry) and 8 bytes or more
		 * into it: its last 8 bytes may be read at once.
		 */
		if (c->poss == (POSS_INT | POSS_NUM) && (CSVSTATS_SWAR &&
		    len <= 8 && v != st->core.carry &&
		    (size_t)(v + len - st->core.buf) >= 8 ?
		    csvstats_int8(c, v, len) : csvstats_int_fast(c, v, len)))
			return 0;
		if (c->poss == POSS_NUM && csvstats_num_fast(c, v, len))
			return 0;
	}
	if (c->poss == POSS_BOOL && csvstats_is_bool(v, len))
		return 0;
	return csvstats_value_general(st, c, v, len);
}

/*
 * A field of the first record, or beyond the width: adds its column, and
 * takes its name with a header.  Returns 1 when the field is a value to
 * count, 0 when done with it, -1 on error.
 */
static __attribute__((noinline)) int
csvstats_field_first(struct csvstats *st, const char *v, size_t len,
    size_t col)
{
	struct colstat	*c;

	if (col >= st->ncols) {
		if (st->width_fixed)
			return 0;		/* beyond the width: ignored */
		if (col >= st->opts.max_columns) {
			st->too_wide = true;	/* reported with the line at its end */
			return 0;
		}
		if (!csvstats_add_column(st))
			return -1;
	}
	if (st->width_fixed || !st->opts.has_header)
		return 1;
	c = &st->cols[col];
	if (len > CSVSTATS_NAME_MAX) {
		/* Cut at a character boundary: not in a UTF-8 sequence. */
		len = CSVSTATS_NAME_MAX;
		while (len > 0 && ((unsigned char)v[len] & 0xc0) == 0x80)
			len--;
	}
	if ((c->name = malloc(len + 1)) == NULL) {
		csvstats_nomem(st);
		return -1;
	}
	memcpy(c->name, v, len);
	c->name[len] = '\0';
	return 0;
}

/* The first record is complete: it set the width. */
static void
csvstats_fix_width(struct csvstats *st)
{
	st->width_fixed = true;
	st->fast_cols = st->ncols;
}

static inline __attribute__((always_inline)) int
csvstats_field(void *arg, const char *v, size_t len, size_t col)
{
	struct csvstats	*st = arg;
	struct colstat	*c;
	int		 r;

	/* One test for both: the first record, and a field past the width. */
	if (__builtin_expect(col >= st->fast_cols, 0) &&
	    (r = csvstats_field_first(st, v, len, col)) <= 0)
		return r;
	c = &st->cols[col];
	if (len == 0) {
		c->empty++;
		return 0;
	}
	if (c->poss != 0)
		return csvstats_value(st, c, v, len);
	return 0;
}

static inline int
csvstats_record(void *arg, size_t nfields, uint64_t line)
{
	struct csvstats	*st = arg;
	size_t		 i;

	if (__builtin_expect(!st->width_fixed, 0)) {
		if (st->too_wide) {
			st->err = CSV_ETOOBIG;
			snprintf(st->errmsg, sizeof(st->errmsg),
			    "line %llu: more than %zu columns",
			    (unsigned long long)line, st->opts.max_columns);
			return -1;
		}
		csvstats_fix_width(st);
		if (st->opts.has_header)
			return 0;
	}
	st->rows++;
	if (__builtin_expect(nfields < st->ncols, 0)) {
		for (i = 0; i < nfields; i++)
			st->cols[i].seen++;
	} else
		st->full++;
	if (nfields != st->ncols)
		st->ragged++;
	return 0;
}

struct csvstats *
csvstats_new(const struct csv_options *opts, enum csv_err *err)
{
	struct csvstats	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		*err = CSV_ENOMEM;
		return NULL;
	}
	st->opts = *opts;
	if (st->opts.max_columns == 0)
		st->opts.max_columns = CSVSTATS_MAX_COLUMNS_DEFAULT;
	st->digit_delim = (unsigned)st->opts.delimiter - '0' < 10;
	if (!csv_delimiter_ok((unsigned char)st->opts.delimiter)) {
		free(st);
		*err = CSV_EINVAL;
		return NULL;
	}
	/* The handlers' pointers are never called: CSV_FIELD calls ours. */
	csv_core_init(&st->core, &st->opts, csvstats_field, csvstats_record, st);
	*err = CSV_OK;
	return st;
}

void
csvstats_free(struct csvstats *st)
{
	size_t	 i;

	if (st == NULL)
		return;
	for (i = 0; i < st->ncols; i++)
		free(st->cols[i].name);
	free(st->cols);
	free(st->numbuf);
	csv_core_fini(&st->core);
	free(st);
}

const char *
csvstats_errmsg(const struct csvstats *st)
{
	return st->errmsg;
}

/* Settles the outcome of a parser call: the callbacks' own error wins. */
static enum csv_err
csvstats_result(struct csvstats *st, enum csv_err e)
{
	if (e == CSV_OK)
		return CSV_OK;
	if (e == CSV_ECALLBACK && st->err != CSV_OK)
		return st->err;
	st->err = e;
	snprintf(st->errmsg, sizeof(st->errmsg), "%s",
	    csv_parser_errmsg(&st->core));
	return e;
}

enum csv_err
csvstats_feed(struct csvstats *st, const char *buf, size_t len)
{
	if (st->err != CSV_OK)
		return st->err;
	return csvstats_result(st, csv_core_feed(&st->core, buf, len));
}

/* Ends the input: the last record, or the error of an open quote. */
static enum csv_err
csvstats_end(struct csvstats *st)
{
	if (st->err != CSV_OK)
		return st->err;
	return csvstats_result(st, csv_core_finish(&st->core));
}

/*
 * A copy of s (NUL-terminated, no NUL inside) with every byte that does not
 * belong to a well-formed UTF-8 sequence replaced by U+FFFD.  Overlong forms,
 * surrogates and code points above U+10FFFF are ill-formed.
 */
static char *
csvstats_utf8_fix(const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 len = strlen(s), i = 0, n;
	char			*out, *w;
	unsigned char		 c, lo, hi;

	if ((out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (w = out; i < len; ) {
		c = u[i];
		n = 0;
		lo = 0x80;
		hi = 0xbf;
		if (c < 0x80)
			n = 1;
		else if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		}
		if (n > 1 && (i + n > len || u[i + 1] < lo || u[i + 1] > hi ||
		    (n > 2 && (u[i + 2] < 0x80 || u[i + 2] > 0xbf)) ||
		    (n > 3 && (u[i + 3] < 0x80 || u[i + 3] > 0xbf))))
			n = 0;
		if (n == 0) {
			memcpy(w, "\xef\xbf\xbd", 3);
			w += 3;
			i++;
			continue;
		}
		memcpy(w, u + i, n);
		w += n;
		i += n;
	}
	*w = '\0';
	return out;
}

/* Open-addressing set of the names given so far, for de-duplication. */
struct nameset {
	struct nameent {
		const char	*name;		/* borrowed from the column */
		unsigned	 next;		/* next suffix to try */
	}		*ents;
	size_t		 mask;
};

static uint64_t
csvstats_hash(const char *s)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

/* The entry holding name, or the empty slot where it would go. */
static struct nameent *
csvstats_nameset_find(struct nameset *ns, const char *name)
{
	size_t	 i = (size_t)csvstats_hash(name) & ns->mask;

	while (ns->ents[i].name != NULL && strcmp(ns->ents[i].name, name) != 0)
		i = (i + 1) & ns->mask;
	return &ns->ents[i];
}

/*
 * Gives every column its final name (see csvstats.h): valid UTF-8, not
 * empty, unique.  Returns false when out of memory.
 */
static bool
csvstats_names(struct csvstats *st)
{
	struct nameset	 ns = { NULL, 0 };
	struct nameent	*e, *base;
	size_t		 i, cap = 16;
	char		*name, *alt;
	bool		 ok = false;

	while (cap < st->ncols * 2)
		cap *= 2;
	if ((ns.ents = calloc(cap, sizeof(*ns.ents))) == NULL)
		goto out;
	ns.mask = cap - 1;
	for (i = 0; i < st->ncols; i++) {
		name = NULL;
		if (st->cols[i].name != NULL && st->cols[i].name[0] != '\0')
			name = csvstats_utf8_fix(st->cols[i].name);
		else if (asprintf(&name, "column_%zu", i + 1) == -1)
			name = NULL;
		if (name == NULL)
			goto out;
		free(st->cols[i].name);
		st->cols[i].name = name;
		base = csvstats_nameset_find(&ns, name);
		if (base->name != NULL) {
			/* Taken: try name_2, name_3, ... from where we left off. */
			if (base->next < 2)
				base->next = 2;
			for (;;) {
				if (asprintf(&alt, "%s_%u", name, base->next++) == -1)
					goto out;
				e = csvstats_nameset_find(&ns, alt);
				if (e->name == NULL)
					break;
				free(alt);
			}
			free(st->cols[i].name);
			st->cols[i].name = name = alt;
		} else
			e = base;
		e->name = name;
		e->next = 2;
	}
	ok = true;
out:
	free(ns.ents);
	return ok;
}

/*
 * A JSON number for d, printed as the shortest of %.15g..%.17g that reads
 * back as d; NULL (JSON null) if d is not finite.  *nomem is set if the
 * allocation fails.
 */
static struct json_object *
csvstats_json_double(double d, bool *nomem)
{
	struct json_object	*o;
	char			 buf[40];
	int			 prec;

	if (!isfinite(d))
		return NULL;
	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if ((o = json_object_new_double_s(d, buf)) == NULL)
		*nomem = true;
	return o;
}

static bool
csvstats_add(struct json_object *obj, const char *key, struct json_object *v,
    bool may_be_null, bool *nomem)
{
	if (v == NULL && !may_be_null) {
		*nomem = true;
		return false;
	}
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		*nomem = true;
		return false;
	}
	return true;
}

/* The JSON object of one column, or NULL when out of memory. */
static struct json_object *
csvstats_column_json(const struct colstat *c)
{
	struct json_object	*o;
	const char		*type;
	bool			 nomem = false, isint = false;

	if (c->non_empty == 0)
		type = "empty";
	else if (c->poss & POSS_INT) {
		type = "integer";
		isint = true;
	} else if (c->poss & POSS_NUM)
		type = "number";
	else if (c->poss & POSS_BOOL)
		type = "boolean";
	else
		type = "string";

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	csvstats_add(o, "name", json_object_new_string(c->name), false, &nomem);
	csvstats_add(o, "type", json_object_new_string(type), false, &nomem);
	csvstats_add(o, "non_empty", json_object_new_int64((int64_t)c->non_empty),
	    false, &nomem);
	csvstats_add(o, "empty", json_object_new_int64((int64_t)c->empty),
	    false, &nomem);
	if (c->non_empty > 0 && (c->poss & POSS_NUM)) {
		if (isint) {
			csvstats_add(o, "min", json_object_new_int64(c->imin),
			    false, &nomem);
			csvstats_add(o, "max", json_object_new_int64(c->imax),
			    false, &nomem);
		} else {
			csvstats_add(o, "min",
			    csvstats_json_double(c->dmin, &nomem), true, &nomem);
			csvstats_add(o, "max",
			    csvstats_json_double(c->dmax, &nomem), true, &nomem);
		}
		csvstats_add(o, "mean", csvstats_json_double(c->mean, &nomem),
		    true, &nomem);
		csvstats_add(o, "stddev", c->n < 2 ? NULL :
		    csvstats_json_double(sqrt(c->m2 / (c->n - 1)),
		    &nomem), true, &nomem);
	}
	if (nomem) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

enum csv_err
csvstats_finish(struct csvstats *st, struct json_object **result)
{
	struct json_object	*res = NULL, *cols, *c;
	enum csv_err		 e;
	bool			 nomem = false;
	size_t			 i;

	*result = NULL;
	if ((e = csvstats_end(st)) != CSV_OK)
		return e;
	if (!csvstats_names(st))
		goto nomem;
	if ((res = json_object_new_object()) == NULL)
		goto nomem;
	csvstats_add(res, "rows", json_object_new_int64((int64_t)st->rows),
	    false, &nomem);
	if ((cols = json_object_new_array_ext((int)st->ncols)) == NULL ||
	    !csvstats_add(res, "columns", cols, false, &nomem))
		goto nomem;
	for (i = 0; i < st->ncols; i++) {
		st->cols[i].non_empty = st->full + st->cols[i].seen -
		    st->cols[i].empty;
		if ((c = csvstats_column_json(&st->cols[i])) == NULL)
			goto nomem;
		if (json_object_array_add(cols, c) != 0) {
			json_object_put(c);
			goto nomem;
		}
	}
	csvstats_add(res, "ragged_rows", json_object_new_int64((int64_t)st->ragged),
	    false, &nomem);
	csvstats_add(res, "bytes",
	    json_object_new_int64((int64_t)(csv_parser_bytes(&st->core) +
	    st->merged_bytes)), false, &nomem);
	if (nomem)
		goto nomem;
	*result = res;
	return CSV_OK;
nomem:
	json_object_put(res);
	csvstats_nomem(st);
	return st->err;
}

/* Copies the outcome into the caller's err buffer. */
static enum csv_err
csvstats_report(enum csv_err e, const struct csvstats *st, char *err,
    size_t errlen)
{
	if (e != CSV_OK && errlen > 0) {
		if (st != NULL && st->errmsg[0] != '\0')
			snprintf(err, errlen, "%s", st->errmsg);
		else if (e == CSV_EINVAL)
			snprintf(err, errlen, "delimiter must be one ASCII "
			    "character other than '\"', CR and LF");
		else
			snprintf(err, errlen, "%s", csv_strerror(e));
	}
	return e;
}

/*
 * Folds b, the statistics of the records that follow a's, into a, so that
 * a holds what one pass over both would have given.  A column's type is
 * the intersection of what each value allows (see csvstats_value), so the
 * possible types intersect; counts add; min and max of an integer column
 * stay integers, and become doubles as one pass would have converted them
 * once a non-integer number came; mean and M2 combine by Chan et al.'s
 * formula, equal to one pass's Welford figures up to rounding.
 */
static void
csvstats_merge(struct csvstats *a, const struct csvstats *b)
{
	struct colstat		*ca;
	const struct colstat	*cb;
	unsigned		 poss;
	double			 bmin, bmax, delta, na, nb, n;
	size_t			 i;

	for (i = 0; i < a->ncols; i++) {
		ca = &a->cols[i];
		cb = &b->cols[i];
		poss = ca->poss & cb->poss;
		if ((poss & POSS_NUM) && !(poss & POSS_INT) &&
		    (ca->poss & POSS_INT) && ca->n > 0) {
			ca->dmin = (double)ca->imin;
			ca->dmax = (double)ca->imax;
		}
		if ((poss & POSS_NUM) && cb->n > 0) {
			if (poss & POSS_INT) {
				if (ca->n == 0 || cb->imin < ca->imin)
					ca->imin = cb->imin;
				if (ca->n == 0 || cb->imax > ca->imax)
					ca->imax = cb->imax;
			} else {
				bmin = cb->poss & POSS_INT ? (double)cb->imin :
				    cb->dmin;
				bmax = cb->poss & POSS_INT ? (double)cb->imax :
				    cb->dmax;
				/* Strictly: of equal values (0 and -0) the first stays. */
				if (ca->n == 0 || bmin < ca->dmin)
					ca->dmin = bmin;
				if (ca->n == 0 || bmax > ca->dmax)
					ca->dmax = bmax;
			}
			if (ca->n == 0) {
				ca->mean = cb->mean;
				ca->m2 = cb->m2;
			} else {
				na = ca->n;
				nb = cb->n;
				n = na + nb;
				delta = cb->mean - ca->mean;
				ca->mean += delta * (nb / n);
				ca->m2 += cb->m2 + delta * delta * (na * nb / n);
			}
			ca->n += cb->n;
		}
		ca->poss = poss;
		ca->seen += cb->seen;
		ca->empty += cb->empty;
	}
	a->rows += b->rows;
	a->full += b->full;
	a->ragged += b->ragged;
	a->merged_bytes += csv_parser_bytes(&b->core) + b->merged_bytes;
}

/*
 * The second thread's part of a split file: from the split point to the
 * end of the file, into statistics of its own.  Once started, only the
 * fields marked (mtx) are shared, and the atomics.
 */
struct csvstats_half {
	struct csvstats	*st;
	char		*buf;
	int		 fd;
	uint64_t	 off;		/* next pread offset; the end once finished */
	pthread_t	 thread;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;		/* signalled when finished */
	_Atomic uint64_t done;		/* bytes read */
	bool		 finished;	/* (mtx) */
	enum csv_err	 err;		/* (mtx) its outcome, once finished */
	atomic_bool	 stop;		/* the first thread asks it to stop */
};

/* What the calling thread reads, and the progress of both threads. */
struct csvstats_reader {
	struct csvstats		*st;
	char			*buf;
	int			 fd;
	bool			 positional;	/* pread from off, else read(2) */
	uint64_t		 off;		/* input offset of the next read */
	uint64_t		 done;		/* bytes parsed, a merged half's too */
	uint64_t		 total;		/* expected size, 0 if unknown */
	uint64_t		 shown, next, step;
	csvstats_progress_fn	 progress;
	void			*arg;
	struct csvstats_half	*half;		/* running, or NULL */
};

/* The progress interval for a total: 1% or 64 MiB, whichever is smaller. */
static uint64_t
csvstats_step(uint64_t total)
{
	if (total == 0 || total / 100 > CSVSTATS_STEP_MAX)
		return CSVSTATS_STEP_MAX;
	return total / 100 > 0 ? total / 100 : 1;
}

/*
 * Reports progress if due, other being the bytes the second thread has
 * read.  Never reports less than before: after a wrong guess the first
 * thread reads again what the second had counted.  Returns false (the
 * error set) when the callback asks to stop.
 */
static bool
csvstats_tick(struct csvstats_reader *r, uint64_t other)
{
	uint64_t	 done = r->done + other;

	if (r->progress == NULL || done < r->next)
		return true;
	if (done < r->shown)
		done = r->shown;
	r->shown = done;
	r->next = done + r->step;
	/* A file that grew past its size: never above 100%. */
	if (r->progress(r->arg, done, r->total == 0 ? 0 :
	    r->total > done ? r->total : done)) {
		r->st->err = CSV_ECANCELLED;
		snprintf(r->st->errmsg, sizeof(r->st->errmsg), "cancelled");
		return false;
	}
	return true;
}

static uint64_t
csvstats_half_done(struct csvstats_half *h)
{
	return atomic_load_explicit(&h->done, memory_order_relaxed);
}

/*
 * Reads and parses input up to offset limit (positional reads; UINT64_MAX
 * for all) or to the end of input, whichever comes first; with width,
 * only until the first record is complete, in small reads that leave some
 * of the input before limit to the rest (at least half of what is left:
 * the first record usually fits in the first 4 KiB).  Returns CSV_OK at
 * the limit or the end of input (*eof set), else the error.
 */
static enum csv_err
csvstats_pump(struct csvstats_reader *r, uint64_t limit, bool width, bool *eof)
{
	struct csvstats	*st = r->st;
	size_t		 want;
	ssize_t		 n;
	enum csv_err	 e;

	*eof = false;
	while (!(width && st->width_fixed)) {
		want = CSVSTATS_CHUNK;
		if (r->positional) {
			if (r->off >= limit)
				break;
			if (limit - r->off < want)
				want = (size_t)(limit - r->off);
			if (width && want > 8192)
				want = 8192;
			if (width && want > 1)
				want /= 2;
			n = pread(r->fd, r->buf, want, (off_t)r->off);
		} else
			n = read(r->fd, r->buf, want);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			st->err = CSV_EIO;
			snprintf(st->errmsg, sizeof(st->errmsg), "read: %s",
			    strerror(errno));
			return CSV_EIO;
		}
		if (n == 0) {
			*eof = true;
			break;
		}
		r->off += (uint64_t)n;
		r->done += (uint64_t)n;
		if ((e = csvstats_feed(st, r->buf, (size_t)n)) != CSV_OK)
			return e;
		if (!csvstats_tick(r, r->half != NULL ?
		    csvstats_half_done(r->half) : 0))
			return CSV_ECANCELLED;
	}
	return CSV_OK;
}

/*
 * Where the second thread starts: just after the first line end (CR, LF or
 * CR LF) at or after mid, read through buf in 4 KiB reads (a line is
 * usually shorter).  0 when there is none before the end of the file or
 * within CSVSTATS_SEEK_MAX, or on a read error (the split is only an
 * optimisation).
 */
static uint64_t
csvstats_split_point(int fd, uint64_t mid, uint64_t size, char *buf)
{
	uint64_t	 off = mid, x;
	ssize_t		 n, i;
	char		 c;

	while (off < size && off - mid < CSVSTATS_SEEK_MAX) {
		if ((n = pread(fd, buf, 4096, (off_t)off)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (i = 0; i < n && buf[i] != '\n' && buf[i] != '\r'; i++)
			continue;
		if (i == n) {
			off += (uint64_t)n;
			continue;
		}
		x = off + (uint64_t)i + 1;
		if (buf[i] == '\r') {
			if (i + 1 < n)
				c = buf[i + 1];
			else if (pread(fd, &c, 1, (off_t)x) != 1)
				return 0;
			if (c == '\n')
				x++;
		}
		return x < size ? x : 0;
	}
	return 0;
}

static void *
csvstats_half_run(void *arg)
{
	struct csvstats_half	*h = arg;
	enum csv_err		 e;
	ssize_t			 n;

	for (;;) {
		if (atomic_load_explicit(&h->stop, memory_order_relaxed)) {
			e = CSV_ECANCELLED;
			break;
		}
		if ((n = pread(h->fd, h->buf, CSVSTATS_CHUNK, (off_t)h->off)) == -1) {
			if (errno == EINTR)
				continue;
			e = CSV_EIO;	/* the first thread will meet it too */
			break;
		}
		if (n == 0) {
			e = csvstats_end(h->st);
			break;
		}
		h->off += (uint64_t)n;
		e = csvstats_feed(h->st, h->buf, (size_t)n);
		atomic_fetch_add_explicit(&h->done, (uint64_t)n,
		    memory_order_relaxed);
		if (e != CSV_OK)
			break;
	}
	pthread_mutex_lock(&h->mtx);
	h->err = e;
	h->finished = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mtx);
	return NULL;
}

/*
 * Frees a half that is not running (NULL is a no-op); sync: its mutex and
 * condition variable were initialised.
 */
static void
csvstats_half_free(struct csvstats_half *h, bool sync)
{
	if (h == NULL)
		return;
	if (sync) {
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mtx);
	}
	csvstats_free(h->st);
	free(h->buf);
	free(h);
}

/*
 * Starts the second thread at x, the first record (the width) known.  On
 * any failure the first thread simply reads on alone: r->half stays NULL.
 */
static void
csvstats_half_start(struct csvstats_reader *r, uint64_t x, uint64_t start)
{
	struct csvstats_half	*h;
	struct csv_parser	*p;
	pthread_attr_t		 attr;
	pthread_condattr_t	 cattr;
	sigset_t		 all, old;
	enum csv_err		 e;
	size_t			 i;
	int			 rc;
	bool			 mtx = false, cv = false;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return;
	h->fd = r->fd;
	h->off = x;
	atomic_init(&h->stop, false);
	atomic_init(&h->done, 0);
	if ((h->buf = malloc(CSVSTATS_CHUNK)) == NULL ||
	    (h->st = csvstats_new(&r->st->opts, &e)) == NULL)
		goto fail;
	for (i = 0; i < r->st->ncols; i++)
		if (!csvstats_add_column(h->st))
			goto fail;
	/* Data records only, at the width the first record set; no BOM here. */
	csvstats_fix_width(h->st);
	p = &h->st->core;
	p->bom_done = true;
	p->base = p->line_off = x - start;
	/*
	 * The carry, allocated here, grows by realloc in this thread's malloc
	 * arena: the second thread usually allocates nothing, so it creates no
	 * arena of its own (64 MiB of address space, under child_max_memory).
	 */
	if (!csv_carry_reserve(p, 4095))	/* 4 KiB with the NUL */
		goto fail;
	if (pthread_mutex_init(&h->mtx, NULL) != 0)
		goto fail;
	mtx = true;
	if (pthread_condattr_init(&cattr) != 0)
		goto fail;
	(void)pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	cv = pthread_cond_init(&h->cv, &cattr) == 0;
	pthread_condattr_destroy(&cattr);
	/*
	 * Signals stay with the calling thread, as without the split.  A 1 MiB
	 * stack rather than RLIMIT_STACK's 8: the parser's frames are small.
	 */
	if (!cv || pthread_attr_init(&attr) != 0)
		goto fail;
	(void)pthread_attr_setstacksize(&attr, 1024 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->thread, &attr, csvstats_half_run, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		goto fail;
	r->half = h;
	return;
fail:
	if (mtx && !cv)
		pthread_mutex_destroy(&h->mtx);
	csvstats_half_free(h, cv);
}

/*
 * The first thread has reached the split point (or the end of input, eof):
 * waits for the second, reporting progress every 50 ms meanwhile (not at
 * each of its reads: on a busy machine every wake-up of this thread may
 * take the CPU from the one it waits for), and merges its
 * statistics if the guess held -- the first thread's parser is then
 * outside quotes at the start of a record -- and the second half ended
 * without error.  Sets *merged accordingly; the half is gone on return.
 * Returns CSV_ECANCELLED if the progress callback asked to stop.
 */
static enum csv_err
csvstats_half_join(struct csvstats_reader *r, bool eof, bool *merged)
{
	struct csvstats_half	*h = r->half;
	const struct csv_parser	*p = &r->st->core;
	enum csv_err		 herr, e = CSV_OK;
	struct timespec		 until;
	bool			 ok, fin;

	*merged = false;
	ok = !eof && p->err == CSV_OK && p->state == ST_FIELD && p->col == 0;
	if (!ok)
		atomic_store(&h->stop, true);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 50 * 1000 * 1000;
		if (until.tv_nsec >= 1000 * 1000 * 1000) {
			until.tv_sec++;
			until.tv_nsec -= 1000 * 1000 * 1000;
		}
		pthread_mutex_lock(&h->mtx);
		while (!h->finished &&
		    pthread_cond_timedwait(&h->cv, &h->mtx, &until) == 0)
			continue;
		fin = h->finished;
		herr = h->err;
		pthread_mutex_unlock(&h->mtx);
		if (fin)
			break;
		if (ok && e == CSV_OK &&
		    !csvstats_tick(r, csvstats_half_done(h))) {
			e = CSV_ECANCELLED;
			atomic_store(&h->stop, true);
		}
	}
	pthread_join(h->thread, NULL);
	if (ok && e == CSV_OK && herr == CSV_OK) {
		csvstats_merge(r->st, h->st);
		r->done += csvstats_half_done(h);
		r->off = h->off;
		*merged = true;
	}
	csvstats_half_free(h, true);
	r->half = NULL;
	return e;
}

/*
 * Threads for opts->threads: 0 asks the CPUs this process may run on.  Not
 * whether one is idle: under load (4 to 8 runnable tasks on 2 CPUs) two
 * threads still did better than one, median 0.33 s against 0.40 s on the
 * 200 MB benchmark, and the runnable count in /proc/loadavg, sampled once,
 * mostly saw short-lived tasks.
 */
static unsigned
csvstats_threads(unsigned want)
{
	cpu_set_t	 set;
	long		 n;

	if (want == 0) {
		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			n = CPU_COUNT(&set);
		else
			n = sysconf(_SC_NPROCESSORS_ONLN);
		want = n >= 2 ? 2 : 1;
	}
	return want > 2 ? 2 : want;
}

enum csv_err
csvstats_analyze_fd(int fd, uint64_t size_hint, const struct csv_options *opts,
    csvstats_progress_fn progress, void *arg, struct json_object **result,
    char *err, size_t errlen)
{
	struct csvstats_reader	 r;
	struct stat		 sb;
	uint64_t		 split_min, x = 0;
	off_t			 start = -1;
	enum csv_err		 e;
	bool			 eof = false, merged = false;

	*result = NULL;
	memset(&r, 0, sizeof(r));
	r.fd = fd;
	r.progress = progress;
	r.arg = arg;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		if (size_hint == 0)
			size_hint = (uint64_t)sb.st_size;
		split_min = opts->split_min_bytes != 0 ? opts->split_min_bytes :
		    CSVSTATS_SPLIT_MIN_DEFAULT;
		if ((start = lseek(fd, 0, SEEK_CUR)) != -1 &&
		    sb.st_size > start &&
		    (uint64_t)(sb.st_size - start) >= split_min &&
		    csvstats_threads(opts->threads) > 1) {
			r.positional = true;
			r.off = (uint64_t)start;
		}
	}
	r.total = size_hint;
	r.next = r.step = csvstats_step(size_hint);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((r.st = csvstats_new(opts, &e)) == NULL)
		goto out;
	if ((r.buf = malloc(CSVSTATS_CHUNK)) == NULL) {
		e = CSV_ENOMEM;
		csvstats_nomem(r.st);
		goto out;
	}
	if (r.positional)
		x = csvstats_split_point(fd, (uint64_t)start +
		    (uint64_t)(sb.st_size - start) / 2, (uint64_t)sb.st_size,
		    r.buf);
	if (x != 0) {
		/* The first record first: the second thread needs the width. */
		if ((e = csvstats_pump(&r, x, true, &eof)) != CSV_OK)
			goto out;
		if (!eof && r.off < x)
			csvstats_half_start(&r, x, (uint64_t)start);
		if ((e = csvstats_pump(&r, x, false, &eof)) != CSV_OK)
			goto out;
		if (r.half != NULL &&
		    (e = csvstats_half_join(&r, eof, &merged)) != CSV_OK)
			goto out;
	}
	if (!merged && !eof &&
	    (e = csvstats_pump(&r, UINT64_MAX, false, &eof)) != CSV_OK)
		goto out;
	if ((e = csvstats_finish(r.st, result)) != CSV_OK)
		goto out;
	if (progress != NULL)
		(void)progress(arg, r.done, r.done);
out:
	if (r.half != NULL) {
		atomic_store(&r.half->stop, true);
		pthread_join(r.half->thread, NULL);
		csvstats_half_free(r.half, true);
	}
	if (r.positional)
		(void)lseek(fd, (off_t)r.off, SEEK_SET);
	e = csvstats_report(e, r.st, err, errlen);
	free(r.buf);
	csvstats_free(r.st);
	return e;
}

enum csv_err
csvstats_analyze_path(const char *path, const struct csv_options *opts,
    csvstats_progress_fn progress, void *arg, struct json_object **result,
    char *err, size_t errlen)
{
	enum csv_err	 e;
	int		 fd;

	*result = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return CSV_EIO;
	}
	e = csvstats_analyze_fd(fd, 0, opts, progress, arg, result, err, errlen);
	close(fd);
	return e;
}

enum csv_err
csvstats_analyze_buffer(const char *buf, size_t len,
    const struct csv_options *opts, csvstats_progress_fn progress, void *arg,
    struct json_object **result, char *err, size_t errlen)
{
	struct csvstats	*st = NULL;
	uint64_t	 step = csvstats_step(len), next = step;
	size_t		 off, n;
	enum csv_err	 e;

	*result = NULL;
	if ((st = csvstats_new(opts, &e)) == NULL)
		goto out;
	for (off = 0; off < len; off += n) {
		n = len - off < CSVSTATS_CHUNK ? len - off : CSVSTATS_CHUNK;
		if ((e = csvstats_feed(st, buf + off, n)) != CSV_OK)
			goto out;
		if (progress != NULL && off + n >= next) {
			if (progress(arg, off + n, len)) {
				e = CSV_ECANCELLED;
				snprintf(st->errmsg, sizeof(st->errmsg), "cancelled");
				goto out;
			}
			next = off + n + step;
		}
	}
	if ((e = csvstats_finish(st, result)) == CSV_OK && progress != NULL)
		(void)progress(arg, len, len);
out:
	e = csvstats_report(e, st, err, errlen);
	csvstats_free(st);
	return e;
}
