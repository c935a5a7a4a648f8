/*
 * The spawner's request message, encoded by the runner (spawn.c) and
 * decoded by the spawner (spawner.c): a fixed header, then the task's id,
 * type and parameters, lengths in the header.  Both ends are the same
 * build, so the header is in host byte order.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "runner.h"

/* The size of t's request: the header, then id, type and parameters. */
size_t
spawn_req_size(const struct task *t)
{
	return sizeof(struct spawn_req) + strlen(t->id) + strlen(t->task_type) +
	    (t->parameters != NULL ? strlen(t->parameters) : 0);
}

/* The request's size, or 0 if it does not fit in cap (or SPAWN_MSG_MAX). */
size_t
spawn_req_encode(const struct task *t, const struct config *cfg,
    bool test_hooks, unsigned char *buf, size_t cap)
{
	struct spawn_req	 h;
	size_t			 il, tl, pl, n;

	il = strlen(t->id);
	tl = strlen(t->task_type);
	pl = t->parameters != NULL ? strlen(t->parameters) : 0;
	if (cap > SPAWN_MSG_MAX)
		cap = SPAWN_MSG_MAX;
	if (il > TASK_ID_LEN || tl > cap || pl > cap ||
	    (n = sizeof(h) + il + tl + pl) > cap)
		return 0;
	memset(&h, 0, sizeof(h));
	h.magic = SPAWN_MAGIC;
	h.id_len = (uint32_t)il;
	h.type_len = (uint32_t)tl;
	h.params_len = (uint32_t)pl;
	h.attempt = t->attempt;
	h.timeout_s = t->timeout_s;
	h.progress = t->progress;
	h.max_cpu_s = cfg->child_max_cpu_s;
	h.max_memory = cfg->child_max_memory;
	h.test_hooks = test_hooks;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), t->id, il);
	memcpy(buf + sizeof(h) + il, t->task_type, tl);
	if (pl > 0)
		memcpy(buf + sizeof(h) + il + tl, t->parameters, pl);
	return n;
}

/*
 * The task of a request (the caller frees it), with the limits in *cfg
 * (zeroed otherwise), or NULL when the lengths do not add up, a string
 * holds a NUL, or memory is short.
 */
struct task *
spawn_req_decode(const unsigned char *buf, size_t n, struct config *cfg,
    bool *test_hooks)
{
	struct spawn_req	 h;
	struct task		*t;
	const char		*p;

	if (n < sizeof(h))
		return NULL;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SPAWN_MAGIC || h.id_len > TASK_ID_LEN ||
	    h.type_len > SPAWN_MSG_MAX || h.params_len > SPAWN_MSG_MAX ||
	    (size_t)h.id_len + h.type_len + h.params_len != n - sizeof(h))
		return NULL;
	p = (const char *)buf + sizeof(h);
	if (memchr(p, '\0', n - sizeof(h)) != NULL)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	memcpy(t->id, p, h.id_len);
	t->id[h.id_len] = '\0';
	if ((t->task_type = strndup(p + h.id_len, h.type_len)) == NULL ||
	    (t->parameters = strndup(p + h.id_len + h.type_len,
	    h.params_len)) == NULL) {
		task_free(t);
		return NULL;
	}
	t->attempt = h.attempt;
	t->timeout_s = h.timeout_s;
	t->progress = h.progress;
	t->status = TASK_RUNNING;
	memset(cfg, 0, sizeof(*cfg));
	cfg->child_max_cpu_s = h.max_cpu_s;
	cfg->child_max_memory = h.max_memory;
	*test_hooks = h.test_hooks != 0;
	return t;
}
