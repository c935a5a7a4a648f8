/*
 * Reading a request: FastCGI parameters, the Content-Type check, bodies
 * read against a hard limit, JSON bodies checked (UTF-8, surrogate escapes,
 * one object and nothing after it) before anything acts on them, and query
 * strings decoded and matched against the parameters a route accepts.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "../lib/config.h"
#include "api.h"
#include "log.h"

/* Read granularity for bodies; libfcgi delivers at most 64 KiB a record. */
#define BODY_CHUNK	(64 * 1024)

const char *
req_param(const struct req *r, const char *name)
{
	return FCGX_GetParam(name, r->fcgi->envp);
}

/*
 * Whether the request's Content-Type is the media type `type` (compared
 * without case).  Parameters are allowed only for JSON, and only
 * charset=utf-8: a body in another charset would be misread.
 */
bool
req_content_type_is(const struct req *r, const char *type)
{
	const char	*ct, *p;
	size_t		 n = strlen(type), vn;

	if ((ct = req_param(r, "CONTENT_TYPE")) == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, type, n) != 0)
		return false;
	p = ct + n;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return true;
	if (*p != ';')
		return false;
	if (strcasecmp(type, "application/json") != 0)
		return true;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return false;
	p += 8;
	if (*p == '"')
		p++;
	if (strncasecmp(p, "utf-8", 5) != 0)
		return false;
	p += 5;
	if (*p == '"')
		p++;
	vn = strspn(p, " \t");
	return p[vn] == '\0';
}

/*
 * Reads the whole body into b, never more than max bytes: a declared
 * CONTENT_LENGTH over max is refused before reading a byte, and a body
 * without one stops being read as soon as it passes max.  Returns 0, or
 * -1 after answering (400, 413, 503).
 */
int
req_body_read(struct req *r, int64_t max, struct buf *b)
{
	const char	*cl;
	char		*end;
	uintmax_t	 declared = 0;
	bool		 have_len = false;
	int		 got, want;

	cl = req_param(r, "CONTENT_LENGTH");
	if (cl != NULL && *cl != '\0') {
		if (!isdigit((unsigned char)*cl)) {
			resp_error(r, 400, NULL, "malformed Content-Length");
			return -1;
		}
		errno = 0;
		declared = strtoumax(cl, &end, 10);
		if (*end != '\0' || errno == ERANGE) {
			resp_error(r, 400, NULL, "malformed Content-Length");
			return -1;
		}
		have_len = true;
		if (declared > (uintmax_t)max) {
			resp_error(r, 413, NULL, "request body of %ju bytes is over "
			    "the limit of %" PRId64 " bytes", declared, max);
			return -1;
		}
	}
	/*
	 * The body arrives at the client's pace (nginx passes it on as it
	 * comes): no serving place is held meanwhile, or a few slow clients
	 * would hold them all.
	 */
	worker_wait(r->w);
	buf_reset(b);
	for (;;) {
		want = BODY_CHUNK;
		if (have_len && declared - b->len < (uintmax_t)want)
			want = (int)(declared - b->len);
		if (want == 0)
			break;
		if (!buf_reserve(b, (size_t)want)) {
			resp_nomem(r);
			return -1;
		}
		got = FCGX_GetStr(b->p + b->len, want, r->fcgi->in);
		if (got > 0) {
			b->len += (size_t)got;
			b->p[b->len] = '\0';
		}
		if ((int64_t)b->len > max) {
			resp_error(r, 413, NULL, "request body is over the limit of "
			    "%" PRId64 " bytes", max);
			return -1;
		}
		if (got < want)
			break;
	}
	if (FCGX_GetError(r->fcgi->in) != 0 ||
	    (have_len && b->len != declared)) {
		resp_error(r, 400, NULL, "request body ended early (%zu of %ju "
		    "bytes)", b->len, declared);
		return -1;
	}
	if (b->p == NULL && !buf_reserve(b, 0)) {
		resp_nomem(r);
		return -1;
	}
	return 0;
}

/*
 * Reads and parses a JSON object body into *out (caller owns).  Returns 0,
 * or -1 after answering: 415 wrong Content-Type, 413 over json_max_bytes,
 * 400 empty, not UTF-8, a lone surrogate escape, malformed, trailing data
 * or not an object, 503 out of memory.
 */
int
req_json_body(struct req *r, struct json_object **out)
{
	struct worker		*w = r->w;
	struct json_object	*v = NULL;
	enum json_tokener_error	 jerr;
	size_t			 end, i;

	*out = NULL;
	if (!req_content_type_is(r, "application/json")) {
		resp_error(r, 415, NULL, "Content-Type must be application/json");
		return -1;
	}
	if (req_body_read(r, r->api->cfg->json_max_bytes, &w->in) == -1)
		return -1;
	if (w->in.len == 0) {
		resp_error(r, 400, NULL, "request body is empty: expected a JSON "
		    "object");
		return -1;
	}
	if (!utf8_valid(w->in.p, w->in.len)) {
		resp_error(r, 400, NULL, "request body is not valid UTF-8");
		return -1;
	}
	switch (json_raw_check(w->in.p, w->in.len)) {
	case JSON_RAW_SURROGATE:
		resp_error(r, 400, NULL, "request body has a lone UTF-16 "
		    "surrogate escape (\\uD800-\\uDFFF without its pair)");
		return -1;
	case JSON_RAW_CONTROL:
		resp_error(r, 400, NULL, "malformed JSON: a control character "
		    "in a string must be escaped");
		return -1;
	case JSON_RAW_SYNTAX:
		resp_error(r, 400, NULL, "malformed JSON: unexpected word "
		    "(only true, false and null are literals)");
		return -1;
	default:
		break;
	}
	if (w->in.len > INT32_MAX) {
		resp_error(r, 413, NULL, "request body too large");
		return -1;
	}
	json_tokener_reset(w->tok);
	json_tokener_set_flags(w->tok, JSON_TOKENER_STRICT);
	v = json_tokener_parse_ex(w->tok, w->in.p, (int)w->in.len);
	jerr = json_tokener_get_error(w->tok);
	if (v == NULL || jerr != json_tokener_success) {
		if (jerr == json_tokener_continue)
			resp_error(r, 400, NULL, "malformed JSON: unexpected end "
			    "of input");
		else
			resp_error(r, 400, NULL, "malformed JSON at byte %zu: %s",
			    json_tokener_get_parse_end(w->tok),
			    json_tokener_error_desc(jerr));
		json_object_put(v);
		return -1;
	}
	end = json_tokener_get_parse_end(w->tok);
	for (i = end; i < w->in.len; i++) {
		if (w->in.p[i] != ' ' && w->in.p[i] != '\t' &&
		    w->in.p[i] != '\r' && w->in.p[i] != '\n') {
			resp_error(r, 400, NULL, "malformed JSON: data after the "
			    "value at byte %zu", i);
			json_object_put(v);
			return -1;
		}
	}
	if (!json_object_is_type(v, json_type_object)) {
		resp_error(r, 400, NULL, "request body must be a JSON object");
		json_object_put(v);
		return -1;
	}
	*out = v;
	return 0;
}


/*
 * Decodes s in place (application/x-www-form-urlencoded: %XX and '+').
 * Returns the decoded length, or -1 for a malformed escape.
 */
static ssize_t
pct_decode(char *s)
{
	char	*o = s, *start = s;
	int	 h, l;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%') {
			if ((h = hex_digit((unsigned char)s[1])) < 0 ||
			    (l = hex_digit((unsigned char)s[2])) < 0)
				return -1;
			*o++ = (char)(h * 16 + l);
			s += 2;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return o - start;
}

/*
 * Fills ps[i].value from QUERY_STRING for each parameter the route
 * accepts.  Returns 0, or -1 after a 422 naming the parameter: an unknown
 * or repeated parameter, a malformed %-escape, a value that is not UTF-8
 * or holds a NUL.  Values point into w->query, valid for this request.
 */
int
req_query(struct req *r, struct qparam *ps, size_t n)
{
	struct buf	*q = &r->w->query;
	const char	*qs;
	char		*seg, *next, *eq, *name, *value;
	ssize_t		 vlen;
	size_t		 i;

	for (i = 0; i < n; i++)
		ps[i].value = NULL;
	if ((qs = req_param(r, "QUERY_STRING")) == NULL || *qs == '\0')
		return 0;
	buf_reset(q);
	buf_puts(q, qs);
	if (buf_failed(q)) {
		resp_nomem(r);
		return -1;
	}
	for (seg = q->p; seg != NULL; seg = next) {
		if ((next = strchr(seg, '&')) != NULL)
			*next++ = '\0';
		if (*seg == '\0')
			continue;
		name = seg;
		/* "?q" is q with an empty value: an empty string in the
		 * buffer, since pct_decode writes to it (a literal "" is
		 * read-only memory: the write crashed the process). */
		value = seg + strlen(seg);
		if ((eq = strchr(seg, '=')) != NULL) {
			*eq = '\0';
			value = eq + 1;
		}
		if ((vlen = pct_decode(name)) <= 0 ||
		    memchr(name, '\0', (size_t)vlen) != NULL ||
		    !utf8_valid(name, (size_t)vlen)) {
			resp_error(r, 422, "query", "malformed query parameter "
			    "name");
			return -1;
		}
		for (i = 0; i < n; i++)
			if (strcmp(ps[i].name, name) == 0)
				break;
		if (i == n) {
			resp_error(r, 422, name, "unknown query parameter '%s'",
			    name);
			return -1;
		}
		if (ps[i].value != NULL) {
			resp_error(r, 422, name, "query parameter '%s' is given "
			    "more than once", name);
			return -1;
		}
		if ((vlen = pct_decode(value)) < 0) {
			resp_error(r, 422, name, "query parameter '%s' has a "
			    "malformed %%-escape", name);
			return -1;
		}
		if (memchr(value, '\0', (size_t)vlen) != NULL ||
		    !utf8_valid(value, (size_t)vlen)) {
			resp_error(r, 422, name, "query parameter '%s' is not "
			    "valid UTF-8 text", name);
			return -1;
		}
		ps[i].value = value;
	}
	return 0;
}
