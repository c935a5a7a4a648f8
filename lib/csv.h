/*
 * A streaming RFC 4180 CSV push parser.  The caller feeds bytes in chunks of
 * any size; the parser calls back once per field and once per record end,
 * and keeps only one partial field between chunks, so memory stays flat
 * whatever the size of the input.
 *
 * Dialect and strictness (RFC 4180, with the usual relaxations):
 *   - Records end at LF, CR LF or a lone CR; the last record need not end
 *     with one.  An empty physical line (no bytes at all between two line
 *     ends) is not a record and is skipped, as most tools do; a line holding
 *     only "" is a record with one empty field.
 *   - A field that starts with '"' is quoted: it may hold the delimiter, CR
 *     and LF, and '""' stands for one '"'.  After the closing quote only the
 *     delimiter, a line end or the end of input may follow ("line L,
 *     column C: unexpected character after closing quote").  A '"' inside an
 *     unquoted field is an error ("line L, column C: quote in unquoted
 *     field"): RFC 4180 forbids it, and accepting it silently hides broken
 *     quoting.  A quoted field still open at the end of input is "line L:
 *     unterminated quoted field", L being the line where the field starts.
 *   - Whitespace is data: nothing is trimmed.
 *   - A NUL byte anywhere is an error ("line L, column C: NUL byte"): CSV is
 *     text, and a NUL usually means a binary or UTF-16 file.
 *   - A UTF-8 byte order mark at the very start is skipped.  Other bytes are
 *     passed through unchanged: the parser is byte-based and does not
 *     validate UTF-8 (the consumer decides; csvstats repairs column names).
 *   - A field whose value is longer than max_field_bytes is an error ("line
 *     L: field longer than N bytes"), never an allocation.
 * Lines and columns in messages are 1-based; columns count bytes from the
 * start of the physical line (the BOM excluded).
 */
#ifndef TASKQ_CSV_H
#define TASKQ_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CSV_MAX_FIELD_DEFAULT	(1024 * 1024)

enum csv_err {
	CSV_OK = 0,
	CSV_EINVAL,		/* bad options */
	CSV_ESYNTAX,		/* malformed CSV (quote, NUL); message names the line */
	CSV_ETOOBIG,		/* a field over max_field_bytes, or too many columns */
	CSV_ENOMEM,
	CSV_EIO,		/* read(2) failed */
	CSV_ECALLBACK,		/* a callback returned non-zero */
	CSV_ECANCELLED,		/* the progress callback asked to stop */
	CSV_ERR__MAX
};

/* A short fixed description of the code ("malformed CSV", ...). */
const char	*csv_strerror(enum csv_err);

struct csv_options {
	char	 delimiter;	/* one ASCII byte other than '"', CR, LF, NUL */
	bool	 has_header;	/* first record names the columns (csvstats) */
	size_t	 max_field_bytes; /* 0 = CSV_MAX_FIELD_DEFAULT */
	size_t	 max_columns;	/* csvstats only; 0 = CSVSTATS_MAX_COLUMNS_DEFAULT */
	/*
	 * csvstats_analyze_fd on a regular file only: threads parsing it
	 * (0 = two when this process may run on two CPUs or more, else one;
	 * at most 2 are used), and the smallest input split between two
	 * threads (0 = CSVSTATS_SPLIT_MIN_DEFAULT; tests set it low).
	 */
	unsigned threads;
	uint64_t split_min_bytes;
};

/* Sets *o to ',' with a header and the default limits. */
void		 csv_options_init(struct csv_options *o);

/*
 * Whether c can be a delimiter: one ASCII byte other than '"', CR, LF and
 * NUL (a multi-byte character cannot be: the parser is byte-based).
 */
bool		 csv_delimiter_ok(int c);

/*
 * Called for each field, in order; col is its 0-based index in the record.
 * val points to the unescaped value (quotes removed, '""' turned into '"'),
 * which is NOT NUL-terminated, may hold any byte but NUL, and is borrowed:
 * valid only during the call.  Return 0 to go on, non-zero to stop parsing
 * (csv_parser_feed then returns CSV_ECALLBACK).
 */
typedef int	(*csv_field_fn)(void *arg, const char *val, size_t len, size_t col);

/*
 * Called after the last field of each record with its field count (>= 1)
 * and the line where the record starts.  Same return convention.
 */
typedef int	(*csv_record_fn)(void *arg, size_t nfields, uint64_t line);

struct csv_parser;

/*
 * A new parser (caller owns, csv_parser_free).  opts is copied.  Returns
 * NULL with *err set: CSV_EINVAL for a bad delimiter, CSV_ENOMEM.
 */
struct csv_parser	*csv_parser_new(const struct csv_options *opts,
			    csv_field_fn field, csv_record_fn record, void *arg,
			    enum csv_err *err);

/*
 * Parses len more bytes of input (buf is borrowed for the call only).
 * Fields are delivered as soon as they are complete.  After an error, the
 * parser stays failed: every later call returns the same error.
 */
enum csv_err	 csv_parser_feed(struct csv_parser *p, const char *buf, size_t len);

/* Ends the input: delivers a last unterminated record or reports an open quote. */
enum csv_err	 csv_parser_finish(struct csv_parser *p);

/*
 * The message of the last error ("line 4: unterminated quoted field"), or
 * "" if none; borrowed, valid until the next call on p.
 */
const char	*csv_parser_errmsg(const struct csv_parser *p);

/* Bytes fed so far, the BOM included. */
uint64_t	 csv_parser_bytes(const struct csv_parser *p);

void		 csv_parser_free(struct csv_parser *p);	/* NULL is a no-op */

#endif /* TASKQ_CSV_H */
