/*
 * A growable NUL-terminated string: after an allocation failure oom is set
 * and further appends do nothing, so a builder checks once at the end.
 * Start from { 0 }; the caller frees p.
 */
#ifndef TASKQ_SBUF_H
#define TASKQ_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char	*p;
	size_t	 len, cap;
	bool	 oom;
};

void	 sb_add(struct sbuf *, const char *);
void	 sb_addn(struct sbuf *, const char *, size_t);

#endif /* TASKQ_SBUF_H */
