/*
 * Who may do what, decided before a handler runs: bearer-token
 * authentication when auth_tokens is set, and, always, the refusal of
 * state-changing requests that a page on another site could have made a
 * browser send (cross-site request forgery): the API has no cookies of its
 * own, but a site behind the web server's basic authentication, or on an
 * intranet, is reachable with the user's credentials by any page the user
 * visits.
 */
#include <config.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/config.h"
#include "api.h"
#include "log.h"
#include "sha256.h"

#define AUTH_TOKENS_MAX	64		/* more than auth_tokens' text can hold */
#define AUTH_TOKEN_LEN_MAX 1024		/* a presented token, in bytes */

struct auth_token {
	unsigned char	 digest[SHA256_DIGEST_LEN];
	bool		 read_only;	/* ":ro": GET and HEAD only */
};

/* Set once by auth_init before the workers start, read-only after. */
static struct auth_token	 tokens[AUTH_TOKENS_MAX];
static size_t			 ntokens;


/*
 * Parses cfg->auth_tokens (already checked by config_load) into the token
 * table.  Returns 0, or -1 (logged) for text config_load would not have
 * let through or too many tokens.
 */
int
auth_init(const struct config *cfg)
{
	const char	*p = cfg->auth_tokens;
	size_t		 i, ro = 0;
	int		 h, l;

	ntokens = 0;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (ntokens == AUTH_TOKENS_MAX) {
			log_warnx("auth_tokens: more than %d tokens", AUTH_TOKENS_MAX);
			return -1;
		}
		for (i = 0; i < SHA256_DIGEST_LEN; i++) {
			if ((h = hex_digit((unsigned char)p[2 * i])) < 0 ||
			    (l = hex_digit((unsigned char)p[2 * i + 1])) < 0) {
				log_warnx("auth_tokens: token %zu is not a SHA-256 "
				    "digest in hex", ntokens + 1);
				return -1;
			}
			tokens[ntokens].digest[i] = (unsigned char)(h << 4 | l);
		}
		p += 2 * SHA256_DIGEST_LEN;
		tokens[ntokens].read_only = strncmp(p, ":ro", 3) == 0;
		if (strncmp(p, ":ro", 3) == 0 || strncmp(p, ":rw", 3) == 0)
			p += 3;
		if (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
			log_warnx("auth_tokens: token %zu is followed by junk",
			    ntokens + 1);
			return -1;
		}
		ro += tokens[ntokens].read_only;
		ntokens++;
	}
	if (ntokens > 0)
		log_info("authentication: %zu bearer tokens (%zu read-only)",
		    ntokens, ro);
	else
		log_info("authentication: none in taskq-api (auth_tokens is "
		    "empty); cross-site changes are refused all the same");
	return 0;
}

/* Whether the method only reads (the contract's safe methods). */
static bool
method_safe(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(m, "OPTIONS") == 0;
}

/*
 * The token of "Authorization: Bearer TOKEN" into *tok (borrowed), or
 * false: no header, another scheme, or not a b64token (RFC 6750 2.1).
 */
static bool
bearer(struct req *r, const char **tok, size_t *len)
{
	const char	*h, *t;
	size_t		 n;

	if ((h = req_param(r, "HTTP_AUTHORIZATION")) == NULL ||
	    strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	for (t = h + 7; *t == ' '; t++)
		;
	n = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~+/");
	n += strspn(t + n, "=");
	if (n == 0 || n > AUTH_TOKEN_LEN_MAX || t[n + strspn(t + n, " ")] != '\0')
		return false;
	*tok = t;
	*len = n;
	return true;
}

/*
 * The configured token whose digest is that of tok, or NULL.  Every
 * digest is compared in full, without an early exit, so the time taken
 * says nothing about how close a guess came.
 */
static const struct auth_token *
token_find(const char *tok, size_t len)
{
	struct sha256		 ctx;
	unsigned char		 d[SHA256_DIGEST_LEN], diff;
	const struct auth_token	*hit = NULL;
	size_t			 i, j;

	sha256_init(&ctx);
	sha256_update(&ctx, tok, len);
	sha256_final(&ctx, d);
	for (i = 0; i < ntokens; i++) {
		diff = 0;
		for (j = 0; j < SHA256_DIGEST_LEN; j++)
			diff |= (unsigned char)(d[j] ^ tokens[i].digest[j]);
		if (diff == 0)
			hit = &tokens[i];
	}
	return hit;
}

/*
 * Splits an authority "host", "host:port" or "[v6]:port" into the host
 * (its length in *hlen) and the port (NULL when absent).
 */
static const char *
authority_split(const char *a, size_t *hlen, const char **port)
{
	const char	*c;

	*port = NULL;
	if (*a == '[') {
		c = strchr(a, ']');
		*hlen = c != NULL ? (size_t)(c - a) + 1 : strlen(a);
		if (c != NULL && c[1] == ':')
			*port = c + 2;
		return a;
	}
	if ((c = strrchr(a, ':')) != NULL) {
		*hlen = (size_t)(c - a);
		*port = c + 1;
	} else
		*hlen = strlen(a);
	return a;
}

/*
 * Whether the Origin header ("scheme://host[:port]") names the host the
 * request was sent to (the Host header, without case).  A browser sends
 * Origin with every POST, PUT, PATCH and DELETE; "null" (a sandboxed
 * frame, a file: page) matches nothing.  The ports are compared when Host
 * has one; Debian's nginx passes Host without its port ($host), and then
 * the host name decides (another port of the same host is the same site,
 * which Sec-Fetch-Site: same-site refuses in browsers that send it).
 */
static bool
origin_matches(const char *origin, const char *host)
{
	const char	*p, *oport, *hport;
	size_t		 olen, hlen;
	bool		 https;

	if (host == NULL || *host == '\0' ||
	    (p = strstr(origin, "://")) == NULL)
		return false;
	https = (size_t)(p - origin) == 5 && strncasecmp(origin, "https", 5) == 0;
	p += 3;
	authority_split(p, &olen, &oport);
	authority_split(host, &hlen, &hport);
	if (olen == 0 || olen != hlen || strncasecmp(p, host, olen) != 0)
		return false;
	/* "http://host:1.evil.example" is another host, not a port. */
	if (oport != NULL && (*oport == '\0' ||
	    oport[strspn(oport, "0123456789")] != '\0'))
		return false;
	if (hport == NULL)
		return true;
	if (oport == NULL)
		oport = https ? "443" : "80";
	return strcmp(oport, hport) == 0;
}

/*
 * Whether the request could come from an HTML form or a "simple" fetch
 * of another page without the server's consent: a POST with no body type
 * or one of the three CORS-safelisted ones.  Any other type, or a custom
 * header such as X-Requested-With, makes a browser ask first (a CORS
 * preflight, which taskq-api never grants).
 */
static bool
formable(struct req *r)
{
	const char	*ct, *xr;

	if (strcmp(r->method, "POST") != 0)
		return false;
	if ((xr = req_param(r, "HTTP_X_REQUESTED_WITH")) != NULL && *xr != '\0')
		return false;
	ct = req_param(r, "CONTENT_TYPE");
	if (ct == NULL || *ct == '\0')
		return true;
	return strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 ||
	    strncasecmp(ct, "multipart/form-data", 19) == 0 ||
	    strncasecmp(ct, "text/plain", 10) == 0;
}

/*
 * Decides whether the routed request r may go on to its handler.  Returns
 * 0, or -1 after answering:
 *   401 with WWW-Authenticate: Bearer when tokens are configured and none
 *       or an unknown one is presented;
 *   403 for a change asked with a read-only token;
 *   403 for a change a browser was made to send from another site:
 *       Sec-Fetch-Site other than same-origin or none, an Origin that is
 *       not this Host, or, on the routes a form can reach (retry,
 *       pause, resume, upload), a form's body type without the
 *       X-Requested-With header taskq's UI sends.
 * The routes that take only a JSON body are left to their 415: a form
 * cannot send JSON.
 */
int
auth_request(struct req *r)
{
	const struct auth_token	*t = NULL;
	const char		*tok, *sfs, *origin, *ct;
	size_t			 len;
	bool			 change = !method_safe(r->method);

	if (ntokens > 0) {
		if (!bearer(r, &tok, &len)) {
			resp_header(r, "WWW-Authenticate", "Bearer realm=\"taskq\"");
			resp_error(r, 401, NULL, "authentication required: send "
			    "Authorization: Bearer TOKEN");
			return -1;
		}
		if ((t = token_find(tok, len)) == NULL) {
			resp_header(r, "WWW-Authenticate", "Bearer realm=\"taskq\", "
			    "error=\"invalid_token\"");
			resp_error(r, 401, NULL, "the bearer token is not valid");
			return -1;
		}
		if (t->read_only && change) {
			resp_error(r, 403, NULL, "this token is read-only: %s is "
			    "not allowed", r->method);
			return -1;
		}
	}
	if (!change)
		return 0;
	if ((sfs = req_param(r, "HTTP_SEC_FETCH_SITE")) != NULL &&
	    strcmp(sfs, "same-origin") != 0 && strcmp(sfs, "none") != 0) {
		resp_error(r, 403, NULL, "cross-site request refused "
		    "(Sec-Fetch-Site: %.32s)", sfs);
		return -1;
	}
	if ((origin = req_param(r, "HTTP_ORIGIN")) != NULL &&
	    !origin_matches(origin, req_param(r, "HTTP_HOST"))) {
		resp_error(r, 403, NULL, "cross-site request refused: Origin "
		    "'%.128s' is not this site", origin);
		return -1;
	}
	switch (r->route) {
	case ROUTE_FILE_UPLOAD:
		ct = req_param(r, "CONTENT_TYPE");
		if (ct != NULL && strncasecmp(ct,
		    "application/x-www-form-urlencoded", 33) == 0)
			break;		/* its handler's 415 */
		/* FALLTHROUGH */
	case ROUTE_TASK_RETRY:
	case ROUTE_TYPE_PAUSE:
	case ROUTE_TYPE_RESUME:
		if (formable(r)) {
			resp_error(r, 403, NULL, "this POST needs the header "
			    "X-Requested-With: taskq (or a JSON Content-Type): "
			    "without it a web form on any site could send it");
			return -1;
		}
		break;
	default:
		break;
	}
	return 0;
}
