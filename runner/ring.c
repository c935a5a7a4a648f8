/*
 * A byte ring that keeps the last RING_SIZE bytes a child wrote to stderr,
 * so that a chatty worker costs the runner a bounded 64 KiB, and the text
 * form stored as worker_output (valid UTF-8, no NULs, for the JSON API).
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "runner.h"

void
ring_init(struct ring *r)
{
	memset(r, 0, sizeof(*r));
}

void
ring_free(struct ring *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Appends n bytes, dropping the oldest beyond RING_SIZE.  False on ENOMEM. */
bool
ring_write(struct ring *r, const void *data, size_t n)
{
	const char	*p = data;
	size_t		 end, chunk;

	if (n == 0)
		return true;
	if (r->buf == NULL && (r->buf = malloc(RING_SIZE)) == NULL)
		return false;
	r->total += n;
	if (n >= RING_SIZE) {
		memcpy(r->buf, p + n - RING_SIZE, RING_SIZE);
		r->start = 0;
		r->len = RING_SIZE;
		return true;
	}
	while (n > 0) {
		end = (r->start + r->len) % RING_SIZE;
		chunk = RING_SIZE - end;
		if (chunk > n)
			chunk = n;
		memcpy(r->buf + end, p, chunk);
		p += chunk;
		n -= chunk;
		r->len += chunk;
		if (r->len > RING_SIZE) {
			r->start = (r->start + r->len - RING_SIZE) % RING_SIZE;
			r->len = RING_SIZE;
		}
	}
	return true;
}

/* Length of the valid UTF-8 sequence at p (of n bytes), or 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t		 len, i;
	unsigned	 cp;

	if (p[0] < 0x80)
		return p[0] == 0 ? 0 : 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void
utf8_sanitize(char *s, size_t n)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 i = 0, l;

	while (i < n) {
		if ((l = utf8_seq_len(p + i, n - i)) == 0) {
			p[i++] = '?';
			continue;
		}
		i += l;
	}
}

char *
ring_text(const struct ring *r)
{
	char	*s;
	size_t	 first;

	if (r->len == 0)
		return NULL;
	if ((s = malloc(r->len + 1)) == NULL)
		return NULL;
	first = RING_SIZE - r->start;
	if (first > r->len)
		first = r->len;
	memcpy(s, r->buf + r->start, first);
	memcpy(s + first, r->buf, r->len - first);
	s[r->len] = '\0';
	utf8_sanitize(s, r->len);
	return s;
}
