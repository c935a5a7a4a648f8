/*
 * Fuzzes taskq-api's access decisions (fcgi/auth.c) with hostile header
 * values: Authorization, Origin, Host, Sec-Fetch-Site, X-Requested-With
 * and Content-Type, on every route and method, with bearer tokens
 * configured (one read-write, one read-only).  The oracle: a request is
 * let through only when it presents a configured token, a read-only one
 * only for GET and HEAD, and a change only when neither Sec-Fetch-Site
 * nor Origin says it comes from elsewhere; every refusal is a 401 (with
 * WWW-Authenticate) or a 403, with a JSON body.
 *
 * Input: one byte for the route and one for the method, then the six
 * header values separated by newlines (a missing one is absent).
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/config.h"
#include "fuzz_fcgi.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* SHA-256 of "operator-token" and of "viewer-token". */
#define RW_DIGEST "0850123315d21ab90f4f7236408a52ef6dbd6a02a6550e5c10dc73f4d993680e"
#define RO_DIGEST "d036bd6d01a1cae081d39a2f8dab751dc042de814fd60df31fcb553170950f29"

static struct fake_fcgi	 fake;
static const char *const methods[] = { "GET", "HEAD", "POST", "DELETE", "PUT",
    "OPTIONS", "PATCH", "" };
static const char *const params[] = { "HTTP_AUTHORIZATION", "HTTP_ORIGIN",
    "HTTP_HOST", "HTTP_SEC_FETCH_SITE", "HTTP_X_REQUESTED_WITH", "CONTENT_TYPE" };

static void
die(const char *why)
{
	fprintf(stderr, "fuzz_auth: %s (%s %d -> %d)\n", why, fake.r.method,
	    (int)fake.r.route, fake.r.status);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[256];

	(void)argc;
	(void)argv;
	log_init("fuzz_auth", LOG_LEVEL_ERROR);
	if (!fake_init(&fake))
		abort();
	if (!config_set(&fake.cfg, "auth_tokens", RW_DIGEST ", " RO_DIGEST ":ro",
	    err, sizeof(err)) || auth_init(&fake.cfg) != 0)
		die(err);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*text, *p, *nl, *val[6];
	const char	*m;
	size_t		 i;
	bool		 safe;
	int		 rc;

	if (size < 2)
		return 0;
	if ((text = malloc(size - 1)) == NULL)
		return 0;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	m = methods[data[1] % 8];
	fake_request(&fake, m, "/api/x", NULL, 0);
	fake.r.route = (enum route)(data[0] % ROUTE__MAX);
	for (i = 0, p = text; i < 6; i++) {
		val[i] = NULL;
		if (p == NULL)
			continue;
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		val[i] = p;
		fake_param(&fake, params[i], p);
		p = nl != NULL ? nl + 1 : NULL;
	}
	rc = auth_request(&fake.r);
	safe = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(m, "OPTIONS") == 0;
	if (rc == 0) {
		if (fake.r.status != 0)
			die("let through after answering");
		/* Only the two tokens, written out, could have got in. */
		if (val[0] == NULL || strncasecmp(val[0], "Bearer ", 7) != 0 ||
		    (strstr(val[0], "operator-token") == NULL &&
		    strstr(val[0], "viewer-token") == NULL))
			die("let through without a configured token");
		if (!safe && strstr(val[0], "viewer-token") != NULL)
			die("a change with the read-only token");
		if (!safe && val[3] != NULL && strcmp(val[3], "same-origin") != 0 &&
		    strcmp(val[3], "none") != 0)
			die("a change from another site (Sec-Fetch-Site)");
		if (!safe && val[1] != NULL && strcmp(val[1], "null") == 0)
			die("a change from Origin null");
	} else {
		if (fake.r.status != 401 && fake.r.status != 403)
			die("refused with a status other than 401 or 403");
		if (fake.r.status == 401 && (fake.w.xhdr.p == NULL ||
		    strstr(fake.w.xhdr.p, "WWW-Authenticate: Bearer") == NULL))
			die("a 401 without WWW-Authenticate");
		fake_check_response(&fake, (const int[]){ 401, 403, 0 });
	}
	fake_end(&fake);
	free(text);
	return 0;
}
