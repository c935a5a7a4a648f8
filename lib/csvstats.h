/*
 * The data_processing engine: per-column statistics of a CSV input, built
 * on the streaming parser of csv.h, in one pass and flat memory.
 *
 * The result is the JSON object of API.md:
 *   {"rows": n, "columns": [{"name", "type", "non_empty", "empty",
 *    "min", "max", "mean", "stddev"}, ...], "ragged_rows": n, "bytes": n}
 *
 * Rules, where the contract leaves a choice:
 *   - rows counts data records (the header excluded; blank lines are not
 *     records, see csv.h).  bytes is the input size, a BOM included.
 *   - The first record (the header, or the first data row without one) sets
 *     the width.  A data record with another field count is counted in
 *     ragged_rows; its fields beyond the width are ignored, and the columns
 *     it lacks count neither as empty nor as non-empty.
 *   - Names: header fields; an empty one becomes "column_N" (N 1-based);
 *     a repeated one gets "_2", "_3", ... appended until unique.  Without a
 *     header the names are "column_1", "column_2", ...  Invalid UTF-8 in a
 *     name is replaced by U+FFFD, so the names are valid JSON strings.  A
 *     name is cut to CSVSTATS_NAME_MAX bytes, at a character boundary.
 *   - empty counts zero-length values ("" quoted too); anything else,
 *     whitespace included, is non_empty.  Values are not trimmed.
 *   - type, from the non-empty values (all of them):
 *       integer  all match [+-]?[0-9]+ and fit in int64;
 *       number   all are integers or decimals [+-]?(D+|D+.D*|.D+)([eE][+-]?D+)?
 *                with a finite double value (no hex, inf, nan, spaces);
 *       boolean  all are true or false, in any case (0 and 1 are integers);
 *       empty    there is no non-empty value;
 *       string   anything else.
 *   - min, max, mean, stddev only for integer and number columns (absent,
 *     not null, for the others).  min and max are JSON integers for an
 *     integer column, numbers otherwise.  mean and stddev are computed with
 *     Welford's algorithm in double; stddev is the sample deviation (n - 1),
 *     null under two values.  A mean or stddev that overflows a double is
 *     null.  Numbers are printed as the shortest text that reads back as
 *     the same double.
 * Numbers are read and printed with strtod and snprintf: LC_NUMERIC must be
 * "C", as it is unless the program calls setlocale().
 */
#ifndef TASKQ_CSVSTATS_H
#define TASKQ_CSVSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "csv.h"

#define CSVSTATS_MAX_COLUMNS_DEFAULT	16384
#define CSVSTATS_NAME_MAX		1024	/* bytes of a header name kept */
#define CSVSTATS_SPLIT_MIN_DEFAULT	(4ULL * 1024 * 1024)

struct json_object;

/*
 * Progress: bytes_done of bytes_total (0 when unknown, e.g. a pipe) read so
 * far.  Called when at least the smaller of 1% and 64 MiB more has been
 * read, and once at the end with bytes_done == bytes_total.  Return 0 to go
 * on, non-zero to stop with CSV_ECANCELLED.
 */
typedef int	(*csvstats_progress_fn)(void *arg, uint64_t bytes_done,
		    uint64_t bytes_total);

struct csvstats;

/*
 * The incremental form, for callers that have the input in pieces (and for
 * tests): new, feed any number of times, finish, free.  opts is copied.
 * Returns NULL with *err set (CSV_EINVAL, CSV_ENOMEM).
 */
struct csvstats	*csvstats_new(const struct csv_options *opts, enum csv_err *err);
enum csv_err	 csvstats_feed(struct csvstats *st, const char *buf, size_t len);

/*
 * Ends the input and builds the result into *result (caller owns,
 * json_object_put).  After any error *result is NULL.
 */
enum csv_err	 csvstats_finish(struct csvstats *st, struct json_object **result);

/* The message of the last error ("line 4: unterminated quoted field"), or "". */
const char	*csvstats_errmsg(const struct csvstats *st);

void		 csvstats_free(struct csvstats *st);	/* NULL is a no-op */

/*
 * Analyses everything read from fd (borrowed, not closed; read from its
 * current offset in 256 KiB reads, and left at the end) into *result
 * (caller owns).  size_hint is the expected size for progress; 0 asks
 * fstat.  progress may be NULL; it is only ever called from the calling
 * thread.  On error returns the code, *result is NULL and err holds a
 * message for the user (the line for malformed input, "read: <errno
 * text>" for CSV_EIO).
 *
 * A regular file of at least opts->split_min_bytes is parsed by two
 * threads when opts->threads allows (see csv.h): the second starts at the
 * first line end after the middle, guessing that it is outside quotes, and
 * its statistics are merged once the first thread, reaching that point,
 * finds the guess right.  If it was wrong, or the second half holds an
 * error, the second half is parsed again by the calling thread, so errors
 * name the same line as in one pass.  The result is that of one pass,
 * except that mean and stddev may differ in the last bits (the two halves'
 * are combined by Chan et al.'s formula).
 */
enum csv_err	 csvstats_analyze_fd(int fd, uint64_t size_hint,
		    const struct csv_options *opts, csvstats_progress_fn progress,
		    void *arg, struct json_object **result, char *err, size_t errlen);

/* The same for a file path (opened read-only, closed before return). */
enum csv_err	 csvstats_analyze_path(const char *path,
		    const struct csv_options *opts, csvstats_progress_fn progress,
		    void *arg, struct json_object **result, char *err, size_t errlen);

/* The same for inline text (buf borrowed; progress may be NULL). */
enum csv_err	 csvstats_analyze_buffer(const char *buf, size_t len,
		    const struct csv_options *opts, csvstats_progress_fn progress,
		    void *arg, struct json_object **result, char *err, size_t errlen);

#endif /* TASKQ_CSVSTATS_H */
