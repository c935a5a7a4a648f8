/*
 * The in-memory FastCGI request of fuzz_fcgi.h.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../lib/config.h"
#include "fuzz_fcgi.h"

/* The input is all there is: once read, the stream is at its end. */
static void
in_fill(FCGX_Stream *s)
{
	s->isClosed = 1;
}

/* The response is checked from the worker's buffers: drop the bytes. */
static void
out_empty(FCGX_Stream *s, int doclose)
{
	(void)doclose;
	s->wrNext = (unsigned char *)s->data;
}

int
fake_init(struct fake_fcgi *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg = config_defaults;
	f->api.cfg = &f->cfg;
	f->w.api = &f->api;
	if ((f->w.tok = json_tokener_new_ex(32)) == NULL)
		return 0;
	return 1;
}

void
fake_free(struct fake_fcgi *f)
{
	fake_end(f);
	buf_release(&f->w.out);
	buf_release(&f->w.hdr);
	buf_release(&f->w.xhdr);
	buf_release(&f->w.in);
	buf_release(&f->w.query);
	if (f->w.tok != NULL)
		json_tokener_free(f->w.tok);
}

void
fake_request(struct fake_fcgi *f, const char *method, const char *path,
    const void *body, size_t len)
{
	static unsigned char	 none[1];

	fake_end(f);
	if (body == NULL)
		body = none;
	memset(&f->in, 0, sizeof(f->in));
	f->in.rdNext = f->in.stopUnget = (unsigned char *)body;
	f->in.stop = (unsigned char *)body + len;
	f->in.wrNext = f->in.stop;
	f->in.isReader = 1;
	f->in.fillBuffProc = in_fill;
	memset(&f->out, 0, sizeof(f->out));
	f->out.data = f->outbuf;
	f->out.wrNext = f->outbuf;
	f->out.rdNext = f->out.stop = f->outbuf + sizeof(f->outbuf);
	f->out.emptyBuffProc = out_empty;

	f->w.fcgi.in = &f->in;
	f->w.fcgi.out = &f->out;
	f->w.fcgi.envp = f->envp;
	buf_reset(&f->w.out);
	buf_reset(&f->w.xhdr);
	buf_reset(&f->w.in);
	buf_reset(&f->w.query);
	json_tokener_reset(f->w.tok);

	memset(&f->r, 0, sizeof(f->r));
	f->r.w = &f->w;
	f->r.api = &f->api;
	f->r.fcgi = &f->w.fcgi;
	f->r.route = ROUTE__MAX;
	f->r.method = method;
	f->r.path = path;
	f->r.arg = f->r.argbuf;
}

void
fake_param(struct fake_fcgi *f, const char *name, const char *value)
{
	size_t	 n;
	char	*s;

	if (f->nenv >= FAKE_PARAMS_MAX)
		return;
	n = strlen(name) + 1 + strlen(value) + 1;
	if ((s = malloc(n)) == NULL)
		return;
	snprintf(s, n, "%s=%s", name, value);
	f->envp[f->nenv++] = s;
	f->envp[f->nenv] = NULL;
}

void
fake_end(struct fake_fcgi *f)
{
	while (f->nenv > 0)
		free(f->envp[--f->nenv]);
	f->envp[0] = NULL;
}

void
fake_check_response(struct fake_fcgi *f, const int *allowed)
{
	struct json_object	*v, *d;
	size_t			 i;

	if (f->r.status == 0) {
		fprintf(stderr, "handler sent no response\n");
		abort();
	}
	for (i = 0; allowed[i] != 0; i++)
		if (allowed[i] == f->r.status)
			break;
	if (allowed[i] == 0) {
		fprintf(stderr, "unexpected status %d: %.*s\n", f->r.status,
		    (int)(f->w.out.len > 500 ? 500 : f->w.out.len),
		    f->w.out.p != NULL ? f->w.out.p : "");
		abort();
	}
	if (f->w.out.len == 0 || !utf8_valid(f->w.out.p, f->w.out.len) ||
	    (v = json_tokener_parse(f->w.out.p)) == NULL) {
		fprintf(stderr, "status %d with a body that is not JSON: %.*s\n",
		    f->r.status, (int)(f->w.out.len > 500 ? 500 : f->w.out.len),
		    f->w.out.p != NULL ? f->w.out.p : "");
		abort();
	}
	if (!json_object_is_type(v, json_type_object) ||
	    (f->r.status >= 400 &&
	    (!json_object_object_get_ex(v, "detail", &d) ||
	    !json_object_is_type(d, json_type_string)))) {
		fprintf(stderr, "status %d: body is not an error object: %s\n",
		    f->r.status, f->w.out.p);
		abort();
	}
	json_object_put(v);
}
