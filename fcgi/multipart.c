/*
 * A streaming multipart/form-data parser (RFC 7578, RFC 2046 section
 * 5.1.1): bytes are fed as they arrive, in pieces of any size, and part
 * data is handed to a callback without buffering the part, so an upload of
 * any size needs only the parser's few hundred bytes.  A delimiter split
 * across two reads is found all the same: bytes that might begin one are
 * held back until the next byte decides.  Part headers are bounded.
 */
#include <config.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

#define MP_BOUNDARY_MAX	70		/* RFC 2046 */
#define MP_HEADERS_MAX	(16 * 1024)	/* all header lines of one part */
#define MP_PARTS_MAX	64

enum mp_state {
	MP_S_PREAMBLE,		/* before the first delimiter: discarded */
	MP_S_AFTER_DELIM,	/* just after "--boundary" */
	MP_S_DASH2,		/* saw the first '-' of the closing "--" */
	MP_S_PAD,		/* transport padding before CRLF */
	MP_S_PAD_LF,		/* saw CR of the line end after the delimiter */
	MP_S_HEADERS,		/* part header lines */
	MP_S_BODY,		/* part data */
	MP_S_EPILOGUE,		/* after the closing delimiter: discarded */
	MP_S__MAX
};

struct multipart {
	enum mp_state		 state;
	char			 delim[4 + MP_BOUNDARY_MAX + 1];	/* "\r\n--" boundary */
	size_t			 dlen;
	size_t			 matched;	/* bytes of delim matched and held */
	char			*hdr;		/* header block being read */
	size_t			 hlen;
	size_t			 parts;
	const struct mp_callbacks *cb;
	void			*arg;
};

/* Extracts the boundary parameter of a multipart Content-Type into out. */
bool
mp_boundary(const char *ct, char *out, size_t outlen)
{
	const char	*p;
	size_t		 n = 0;

	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return false;
	for (p = ct + 19; (p = strchr(p, ';')) != NULL; ) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "boundary=", 9) != 0)
			continue;
		p += 9;
		if (*p == '"') {
			for (p++; *p != '"' && *p != '\0'; p++) {
				if (n + 1 >= outlen)
					return false;
				out[n++] = *p;
			}
			if (*p != '"')
				return false;
		} else {
			for (; *p != '\0' && *p != ';' && *p != ' ' && *p != '\t'; p++) {
				if (n + 1 >= outlen)
					return false;
				out[n++] = *p;
			}
		}
		out[n] = '\0';
		return n >= 1 && n <= MP_BOUNDARY_MAX &&
		    strpbrk(out, "\r\n") == NULL;
	}
	return false;
}

struct multipart *
mp_new(const char *boundary, const struct mp_callbacks *cb, void *arg)
{
	struct multipart	*mp;
	size_t			 n = strlen(boundary);

	if (n < 1 || n > MP_BOUNDARY_MAX || strpbrk(boundary, "\r\n") != NULL)
		return NULL;
	if ((mp = calloc(1, sizeof(*mp))) == NULL)
		return NULL;
	memcpy(mp->delim, "\r\n--", 4);
	memcpy(mp->delim + 4, boundary, n + 1);
	mp->dlen = n + 4;
	/* The body starts with the delimiter, as if after a line end. */
	mp->state = MP_S_PREAMBLE;
	mp->matched = 2;
	mp->cb = cb;
	mp->arg = arg;
	return mp;
}

void
mp_free(struct multipart *mp)
{
	if (mp == NULL)
		return;
	free(mp->hdr);
	free(mp);
}

/*
 * The value of parameter `param` (e.g. name, filename) of a
 * Content-Disposition header value, unquoted, into out; false if absent
 * or too long.
 */
static bool
disp_param(const char *v, const char *param, char *out, size_t outlen)
{
	const char	*p = v;
	size_t		 plen = strlen(param), n = 0;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, param, plen) != 0 || p[plen] != '=')
			continue;
		p += plen + 1;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					return false;
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (n + 1 >= outlen)
					return false;
				out[n++] = *p;
			}
		} else {
			for (; *p != '\0' && *p != ';' && *p != ' ' && *p != '\t'; p++) {
				if (n + 1 >= outlen)
					return false;
				out[n++] = *p;
			}
		}
		out[n] = '\0';
		return true;
	}
	return false;
}

/* Parses the finished header block and starts the part. */
static enum mp_err
mp_headers_done(struct multipart *mp)
{
	char		*line, *next, *colon, *v;
	char		 name[256], filename[1024];
	bool		 have_disp = false;

	name[0] = filename[0] = '\0';
	mp->hdr[mp->hlen] = '\0';
	for (line = mp->hdr; line != NULL && *line != '\0'; line = next) {
		if ((next = strstr(line, "\r\n")) != NULL) {
			*next = '\0';
			next += 2;
		}
		if ((colon = strchr(line, ':')) == NULL)
			return MP_MALFORMED;
		*colon = '\0';
		if (strcasecmp(line, "Content-Disposition") != 0)
			continue;
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strncasecmp(v, "form-data", 9) != 0)
			return MP_MALFORMED;
		if (!disp_param(v, "name", name, sizeof(name)))
			return MP_MALFORMED;
		if (!disp_param(v, "filename", filename, sizeof(filename)))
			filename[0] = '\0';
		have_disp = true;
	}
	if (!have_disp)
		return MP_MALFORMED;
	if (++mp->parts > MP_PARTS_MAX)
		return MP_TOO_LARGE;
	if (mp->cb->part_begin(mp->arg, name, filename) != 0)
		return MP_ABORT;
	return MP_OK;
}

/* Hands data of the current part (or drops preamble/epilogue bytes). */
static enum mp_err
mp_emit(struct multipart *mp, const char *p, size_t n)
{
	if (mp->state != MP_S_BODY || n == 0)
		return MP_OK;
	return mp->cb->part_data(mp->arg, p, n) == 0 ? MP_OK : MP_ABORT;
}

/* The delimiter was seen: the current part (if any) ends. */
static enum mp_err
mp_delimiter(struct multipart *mp)
{
	if (mp->state == MP_S_BODY && mp->cb->part_end(mp->arg) != 0)
		return MP_ABORT;
	mp->state = MP_S_AFTER_DELIM;
	return MP_OK;
}

/*
 * Feeds n bytes.  The delimiter "\r\n--boundary" cannot overlap itself
 * in a way that matters: CR occurs in it only first (a boundary holds no
 * CR), so after a mismatch the held bytes are data and only the current
 * byte can start a new match.
 */
enum mp_err
mp_feed(struct multipart *mp, const char *p, size_t n)
{
	const char	*end = p + n, *run, *cr;
	enum mp_err	 e;
	char		 c;

	while (p < end) {
		switch (mp->state) {
		case MP_S_PREAMBLE:
		case MP_S_BODY:
		case MP_S_EPILOGUE:
			if (mp->state == MP_S_EPILOGUE)
				return MP_OK;
			if (mp->matched == 0) {
				/* Fast path: data up to the next CR. */
				run = p;
				cr = memchr(p, '\r', (size_t)(end - p));
				p = cr != NULL ? cr : end;
				if ((e = mp_emit(mp, run, (size_t)(p - run))) != MP_OK)
					return e;
				if (p == end)
					break;
			}
			c = *p++;
			if (c == mp->delim[mp->matched]) {
				if (++mp->matched == mp->dlen) {
					mp->matched = 0;
					if ((e = mp_delimiter(mp)) != MP_OK)
						return e;
				}
				break;
			}
			if ((e = mp_emit(mp, mp->delim, mp->matched)) != MP_OK)
				return e;
			mp->matched = 0;
			if (c == '\r')
				mp->matched = 1;
			else if ((e = mp_emit(mp, &c, 1)) != MP_OK)
				return e;
			break;
		case MP_S_AFTER_DELIM:
			c = *p++;
			if (c == '-')
				mp->state = MP_S_DASH2;
			else if (c == ' ' || c == '\t')
				mp->state = MP_S_PAD;
			else if (c == '\r')
				mp->state = MP_S_PAD_LF;
			else
				return MP_MALFORMED;
			break;
		case MP_S_DASH2:
			if (*p++ != '-')
				return MP_MALFORMED;
			mp->state = MP_S_EPILOGUE;
			return MP_OK;
		case MP_S_PAD:
			c = *p++;
			if (c == '\r')
				mp->state = MP_S_PAD_LF;
			else if (c != ' ' && c != '\t')
				return MP_MALFORMED;
			break;
		case MP_S_PAD_LF:
			if (*p++ != '\n')
				return MP_MALFORMED;
			mp->state = MP_S_HEADERS;
			mp->hlen = 0;
			break;
		case MP_S_HEADERS:
			if (mp->hdr == NULL &&
			    (mp->hdr = malloc(MP_HEADERS_MAX + 1)) == NULL)
				return MP_NOMEM;
			if (mp->hlen >= MP_HEADERS_MAX)
				return MP_TOO_LARGE;
			mp->hdr[mp->hlen++] = *p++;
			/* The block ends with an empty line. */
			if (mp->hlen == 2 && memcmp(mp->hdr, "\r\n", 2) == 0)
				return MP_MALFORMED;	/* no headers at all */
			if (mp->hlen >= 4 &&
			    memcmp(mp->hdr + mp->hlen - 4, "\r\n\r\n", 4) == 0) {
				mp->hlen -= 2;
				if ((e = mp_headers_done(mp)) != MP_OK)
					return e;
				mp->state = MP_S_BODY;
				mp->matched = 0;
			}
			break;
		default:
			return MP_MALFORMED;
		}
	}
	return MP_OK;
}

/* At the end of the body: complete only after the closing delimiter. */
enum mp_err
mp_finish(struct multipart *mp)
{
	return mp->state == MP_S_EPILOGUE ? MP_OK : MP_MALFORMED;
}
