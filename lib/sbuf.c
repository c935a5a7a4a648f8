/*
 * The growable string of sbuf.h, shared by the store's SQL builders and
 * the mail composer.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

void
sb_addn(struct sbuf *sb, const char *s, size_t n)
{
	size_t	 cap;
	char	*p;

	if (sb->oom)
		return;
	if (n >= SIZE_MAX / 2 - sb->len) {
		sb->oom = true;
		return;
	}
	if (sb->len + n + 1 > sb->cap) {
		cap = sb->cap ? sb->cap : 256;
		while (cap < sb->len + n + 1)
			cap *= 2;
		if ((p = realloc(sb->p, cap)) == NULL) {
			sb->oom = true;
			return;
		}
		sb->p = p;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

void
sb_add(struct sbuf *sb, const char *s)
{
	sb_addn(sb, s, strlen(s));
}
