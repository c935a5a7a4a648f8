/*
 * Fuzzes taskq-api's multipart/form-data parser (fcgi/multipart.c): the
 * boundary taken from a hostile Content-Type, then the body fed once whole
 * and once in pieces of pseudo-random sizes (1 byte up), which must give
 * the same parts, the same bytes and the same verdict: a delimiter split
 * across two reads is found all the same.  The callbacks check the order
 * of events (data only inside a part, every part ended before the next
 * begins or the parse completes) and the bounds (64 parts, names short).
 *
 * Input: the Content-Type value, a line feed, then the body.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* What the callbacks saw: a transcript of events, and the checks' state. */
struct seen {
	char	*t;		/* "B" name NUL filename NUL, data as hex, "E" */
	size_t	 len, cap;
	int	 in_part;
	size_t	 parts;
	int	 calls;
};

static void
die(const char *why)
{
	fprintf(stderr, "fuzz_multipart: %s\n", why);
	abort();
}

static void
put(struct seen *s, const void *p, size_t n)
{
	char	*q;

	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2 + 64;
		if ((q = realloc(s->t, s->cap)) == NULL)
			die("out of memory");
		s->t = q;
	}
	memcpy(s->t + s->len, p, n);
	s->len += n;
}

static int
cb_begin(void *arg, const char *name, const char *filename)
{
	struct seen	*s = arg;

	if (s->in_part)
		die("a part began inside another");
	if (strlen(name) > 255 || strlen(filename) > 1023)
		die("a name longer than its bound");
	if (++s->parts > 64)
		die("more than 64 parts");
	s->in_part = 1;
	put(s, "B", 1);
	put(s, name, strlen(name) + 1);
	put(s, filename, strlen(filename) + 1);
	return 0;
}

static int
cb_data(void *arg, const void *p, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	struct seen		*s = arg;
	const unsigned char	*b = p;
	char			 h[2];
	size_t			 i;

	if (!s->in_part)
		die("data outside a part");
	if (n == 0)
		die("an empty data callback");
	for (i = 0; i < n; i++) {
		h[0] = hex[b[i] >> 4];
		h[1] = hex[b[i] & 15];
		put(s, h, 2);
	}
	s->calls++;
	return 0;
}

static int
cb_end(void *arg)
{
	struct seen	*s = arg;

	if (!s->in_part)
		die("a part ended that had not begun");
	s->in_part = 0;
	put(s, "E", 1);
	return 0;
}

static const struct mp_callbacks cbs = { cb_begin, cb_data, cb_end };

/* Parses body in pieces (whole when seed is 0); returns the verdict. */
static enum mp_err
parse(const char *boundary, const char *body, size_t len, uint32_t seed,
    struct seen *s)
{
	struct multipart	*mp;
	enum mp_err		 e = MP_OK;
	size_t			 off = 0, n;

	memset(s, 0, sizeof(*s));
	if ((mp = mp_new(boundary, &cbs, s)) == NULL)
		die("mp_new refused a boundary mp_boundary gave");
	while (off < len) {
		n = len - off;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (seed & 1 ? 3 : 97);
			if (n > len - off)
				n = len - off;
		}
		if ((e = mp_feed(mp, body + off, n)) != MP_OK)
			break;
		off += n;
	}
	if (e == MP_OK) {
		e = mp_finish(mp);
		if (e == MP_OK && s->in_part)
			die("complete with a part still open");
	}
	mp_free(mp);
	return e;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nl;
	char		*ct, boundary[128];
	struct seen	 a, b;
	enum mp_err	 ea, eb;
	uint32_t	 seed = 2166136261u;
	size_t		 ctlen, i;

	if ((nl = memchr(data, '\n', size)) == NULL)
		return 0;
	ctlen = (size_t)(nl - data);
	if ((ct = malloc(ctlen + 1)) == NULL)
		return 0;
	memcpy(ct, data, ctlen);
	ct[ctlen] = '\0';
	if (!mp_boundary(ct, boundary, sizeof(boundary))) {
		free(ct);
		return 0;
	}
	if (strlen(boundary) < 1 || strlen(boundary) > 70)
		die("mp_boundary gave a boundary out of RFC 2046's bounds");
	free(ct);
	data += ctlen + 1;
	size -= ctlen + 1;
	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	ea = parse(boundary, (const char *)data, size, 0, &a);
	eb = parse(boundary, (const char *)data, size, seed | 2, &b);
	if (ea != eb || a.len != b.len || (a.len > 0 &&
	    memcmp(a.t, b.t, a.len) != 0)) {
		fprintf(stderr, "whole: %d %.*s\npieces: %d %.*s\n", ea,
		    (int)(a.len > 300 ? 300 : a.len), a.t ? a.t : "", eb,
		    (int)(b.len > 300 ? 300 : b.len), b.t ? b.t : "");
		die("the body parsed in pieces differs from the whole");
	}
	free(a.t);
	free(b.t);
	return 0;
}
