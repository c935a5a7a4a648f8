/*
 * The streaming RFC 4180 parser declared in csv.h: the public entry points
 * around the core in csv_core.h, with the callbacks called through the
 * function pointers the caller gave.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "csv_core.h"

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

bool
csv_delimiter_ok(int c)
{
	return c > 0 && c < 0x80 && c != '"' && c != '\r' && c != '\n';
}

struct csv_parser *
csv_parser_new(const struct csv_options *opts, csv_field_fn field,
    csv_record_fn record, void *arg, enum csv_err *err)
{
	struct csv_parser	*p;

	if (!csv_delimiter_ok((unsigned char)opts->delimiter) || field == NULL ||
	    record == NULL) {
		*err = CSV_EINVAL;
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		*err = CSV_ENOMEM;
		return NULL;
	}
	csv_core_init(p, opts, field, record, arg);
	*err = CSV_OK;
	return p;
}

void
csv_parser_free(struct csv_parser *p)
{
	if (p == NULL)
		return;
	csv_core_fini(p);
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

enum csv_err
csv_parser_feed(struct csv_parser *p, const char *buf, size_t len)
{
	return csv_core_feed(p, buf, len);
}

enum csv_err
csv_parser_finish(struct csv_parser *p)
{
	return csv_core_finish(p);
}
