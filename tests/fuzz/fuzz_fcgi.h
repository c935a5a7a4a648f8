/*
 * An in-memory stand-in for one FastCGI request, so the fuzz harnesses can
 * call taskq-api's real handlers (fcgi/) without a socket: the parameters
 * are an envp array, the body a reader stream over the input bytes that
 * reports end of input once they are consumed, and the response goes to a
 * writer stream that keeps the last 64 KiB.
 */
#ifndef TASKQ_FUZZ_FCGI_H
#define TASKQ_FUZZ_FCGI_H

#include <stddef.h>

#include "api.h"

#define FAKE_PARAMS_MAX	16

struct fake_fcgi {
	struct worker	 w;
	struct api	 api;
	struct config	 cfg;
	FCGX_Stream	 in, out;
	unsigned char	 outbuf[65536];
	char		*envp[FAKE_PARAMS_MAX + 1];
	size_t		 nenv;
	struct req	 r;
};

/* Sets up f (the worker's buffers and tokenizer); false when out of memory. */
int	fake_init(struct fake_fcgi *f);
/* Frees what fake_init and the requests allocated. */
void	fake_free(struct fake_fcgi *f);
/*
 * Starts a new request with this method and path and no parameters other
 * than those; the body (borrowed until the request ends) is body/len.
 */
void	fake_request(struct fake_fcgi *f, const char *method, const char *path,
	    const void *body, size_t len);
/* Adds the parameter NAME=value (copied); silently ignored past the max. */
void	fake_param(struct fake_fcgi *f, const char *name, const char *value);
/* Frees the parameters of the request. */
void	fake_end(struct fake_fcgi *f);
/*
 * Checks the response the handler sent: some status was sent, it is one
 * of the allowed (a 0-terminated list) and the body built is one JSON
 * object holding a string "detail" when status >= 400.  Aborts otherwise.
 */
void	fake_check_response(struct fake_fcgi *f, const int *allowed);

#endif /* TASKQ_FUZZ_FCGI_H */
