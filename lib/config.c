/*
 * taskq.conf parser: one static table describes every key (type, place in
 * struct config, bounds); defaults live in config_defaults.  A file is read
 * into a scratch copy and only committed when every line and the
 * cross-field checks pass, so a failed reload leaves the old config intact.
 */
/*
 * Angle brackets on purpose: a quoted "config.h" here would find
 * lib/config.h (this module's header) before the autoconf header.
 */
#include <config.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif

#define KiB	(INT64_C(1) << 10)
#define MiB	(INT64_C(1) << 20)
#define GiB	(INT64_C(1) << 30)
#define TiB	(INT64_C(1) << 40)

/* How much of an offending key or value an error message quotes. */
#define CONFIG_QUOTE_MAX	64

const struct config config_defaults = {
	.database = LOCALSTATEDIR "/lib/taskq/taskq.db",
	.state_dir = LOCALSTATEDIR "/lib/taskq",
	.log_level = LOG_LEVEL_INFO,
	.busy_timeout_ms = 5000,

	.api_listen = "",
	.api_threads = 48,
	.upload_max_bytes = 64 * MiB,
	.json_max_bytes = 2 * MiB,

	.slots = 0,
	.poll_interval_ms = 1000,
	.heartbeat_interval_s = 5,
	.stale_after_s = 30,
	.shutdown_grace_s = 30,
	.kill_grace_s = 5,
	.child_max_memory = 1 * GiB,
	.child_max_cpu_s = 0,
	.retention_days = 30,
	.retry_base_ms = 1000,
	.retry_max_ms = 300000,

	.csv_max_field_bytes = 1 * MiB,
	.image_max_pixels = 100000000,
	.email_transport = "maildir",
	.email_from = "taskq@localhost",
	.smtp_url = "",
	.smtp_username = "",
	.smtp_password = "",
	.smtp_timeout_s = 30,
};

enum config_type {
	CONFIG_PATH,		/* non-empty string, no control characters */
	CONFIG_STRING,		/* string, may be empty, no control characters */
	CONFIG_INT,		/* plain decimal integer */
	CONFIG_SIZE,		/* bytes, suffix k, M, G, T (powers of 1024) */
	CONFIG_DURATION,	/* in the field's unit, suffix ms, s, m, h, d */
	CONFIG_ENUM,		/* one of choices[], stored as its index (int) */
};

enum config_unit {
	UNIT_NONE,
	UNIT_MS,		/* duration field counts milliseconds */
	UNIT_S,			/* duration field counts seconds */
};

struct config_key {
	const char		 *name;
	enum config_type	  type;
	size_t			  offset;	/* in struct config */
	size_t			  size;		/* field size: buffer or int width */
	int64_t			  min, max;	/* numbers: inclusive bounds */
	enum config_unit	  unit;		/* CONFIG_DURATION only */
	const char *const	 *choices;	/* CONFIG_ENUM, or allowed strings */
	const char		*(*check)(const char *);	/* extra string rule */
	bool			  secret;	/* masked by config_dump */
};

#define FIELD(f)	offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const char *const email_transports[] = { "maildir", "smtp", NULL };
/* Same order as enum log_level; the index is what log_level stores. */
static const char *const log_levels[] = { "error", "warn", "info", "debug",
    NULL };
_Static_assert(LOG_LEVEL__MAX == 4 && LOG_LEVEL_DEBUG == 3,
    "log_levels[] must follow enum log_level");

static const char	*check_smtp_url(const char *);
static const char	*check_email_from(const char *);
static const char	*check_auth_tokens(const char *);

/*
 * Every key, in the order of struct config and conf/taskq.conf.  Bounds are
 * what still makes a working daemon: beyond them is a typo, not a tuning.
 */
static const struct config_key config_keys[] = {
	{ "database", CONFIG_PATH, FIELD(database), 0, 0, UNIT_NONE, NULL, NULL, false },
	{ "state_dir", CONFIG_PATH, FIELD(state_dir), 0, 0, UNIT_NONE, NULL, NULL, false },
	{ "log_level", CONFIG_ENUM, FIELD(log_level), 0, 0, UNIT_NONE, log_levels, NULL, false },
	{ "busy_timeout_ms", CONFIG_DURATION, FIELD(busy_timeout_ms), 0, 3600000, UNIT_MS, NULL, NULL, false },

	{ "api_listen", CONFIG_STRING, FIELD(api_listen), 0, 0, UNIT_NONE, NULL, NULL, false },
	{ "api_threads", CONFIG_INT, FIELD(api_threads), 1, 1024, UNIT_NONE, NULL, NULL, false },
	{ "upload_max_bytes", CONFIG_SIZE, FIELD(upload_max_bytes), 1 * KiB, 1 * TiB, UNIT_NONE, NULL, NULL, false },
	{ "json_max_bytes", CONFIG_SIZE, FIELD(json_max_bytes), 1 * KiB, 1 * GiB, UNIT_NONE, NULL, NULL, false },

	{ "slots", CONFIG_INT, FIELD(slots), 0, 1024, UNIT_NONE, NULL, NULL, false },
	{ "poll_interval_ms", CONFIG_DURATION, FIELD(poll_interval_ms), 10, 3600000, UNIT_MS, NULL, NULL, false },
	{ "heartbeat_interval_s", CONFIG_DURATION, FIELD(heartbeat_interval_s), 1, 3600, UNIT_S, NULL, NULL, false },
	{ "stale_after_s", CONFIG_DURATION, FIELD(stale_after_s), 2, 86400, UNIT_S, NULL, NULL, false },
	{ "shutdown_grace_s", CONFIG_DURATION, FIELD(shutdown_grace_s), 0, 86400, UNIT_S, NULL, NULL, false },
	{ "kill_grace_s", CONFIG_DURATION, FIELD(kill_grace_s), 0, 3600, UNIT_S, NULL, NULL, false },
	{ "child_max_memory", CONFIG_SIZE, FIELD(child_max_memory), 0, 1024 * TiB, UNIT_NONE, NULL, NULL, false },
	{ "child_max_cpu_s", CONFIG_DURATION, FIELD(child_max_cpu_s), 0, 31536000, UNIT_S, NULL, NULL, false },
	{ "retention_days", CONFIG_INT, FIELD(retention_days), 0, 36500, UNIT_NONE, NULL, NULL, false },
	{ "retry_base_ms", CONFIG_DURATION, FIELD(retry_base_ms), 1, 86400000, UNIT_MS, NULL, NULL, false },
	{ "retry_max_ms", CONFIG_DURATION, FIELD(retry_max_ms), 1, 604800000, UNIT_MS, NULL, NULL, false },

	{ "csv_max_field_bytes", CONFIG_SIZE, FIELD(csv_max_field_bytes), 1, 1 * GiB, UNIT_NONE, NULL, NULL, false },
	{ "image_max_pixels", CONFIG_INT, FIELD(image_max_pixels), 1, INT64_C(10000000000), UNIT_NONE, NULL, NULL, false },
	{ "email_transport", CONFIG_STRING, FIELD(email_transport), 0, 0, UNIT_NONE, email_transports, NULL, false },
	{ "email_from", CONFIG_STRING, FIELD(email_from), 0, 0, UNIT_NONE, NULL, check_email_from, false },
	{ "smtp_url", CONFIG_STRING, FIELD(smtp_url), 0, 0, UNIT_NONE, NULL, check_smtp_url, false },
	{ "smtp_username", CONFIG_STRING, FIELD(smtp_username), 0, 0, UNIT_NONE, NULL, NULL, false },
	{ "smtp_password", CONFIG_STRING, FIELD(smtp_password), 0, 0, UNIT_NONE, NULL, NULL, true },
	{ "smtp_timeout_s", CONFIG_DURATION, FIELD(smtp_timeout_s), 1, 3600, UNIT_S, NULL, NULL, false },

	{ "auth_tokens", CONFIG_STRING, FIELD(auth_tokens), 0, 0, UNIT_NONE, NULL, check_auth_tokens, false },
};

#define CONFIG_NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))

struct config_suffix {
	const char	*name;
	int64_t		 mult;
};

/* Size suffixes; "" is the bare number.  Powers of 1024, as in "64M". */
static const struct config_suffix size_suffixes[] = {
	{ "", 1 }, { "B", 1 },
	{ "k", KiB }, { "K", KiB }, { "KB", KiB }, { "KiB", KiB },
	{ "M", MiB }, { "MB", MiB }, { "MiB", MiB },
	{ "G", GiB }, { "GB", GiB }, { "GiB", GiB },
	{ "T", TiB }, { "TB", TiB }, { "TiB", TiB },
	{ NULL, 0 },
};

static const struct config_suffix ms_suffixes[] = {
	{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
	{ "h", 3600000 }, { "d", 86400000 },
	{ NULL, 0 },
};

static const struct config_suffix s_suffixes[] = {
	{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
	{ NULL, 0 },
};

static const char *
check_smtp_url(const char *v)
{
	if (*v == '\0' || strncmp(v, "smtp://", 7) == 0 ||
	    strncmp(v, "smtps://", 8) == 0)
		return NULL;
	return "must start with smtp:// or smtps://";
}

static const char *
check_email_from(const char *v)
{
	if (strchr(v, '@') == NULL)
		return "must be an email address (containing '@')";
	return NULL;
}

/*
 * auth_tokens: "" or "HEX[:ro|:rw], ..." with HEX 64 hex digits, the
 * SHA-256 of a token (the file holds no usable secret).  Spaces around
 * the commas are allowed; an empty entry is not.
 */
static const char *
check_auth_tokens(const char *v)
{
	static const char	 why[] = "must be SHA-256 digests (64 hex digits) "
	    "of the tokens, each optionally followed by :ro or :rw, separated "
	    "by commas";
	const char		*p = v;
	size_t			 n;

	if (*v == '\0')
		return NULL;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		for (n = 0; isxdigit((unsigned char)p[n]); n++)
			;
		if (n != 64)
			return why;
		p += n;
		if (strncmp(p, ":ro", 3) == 0 || strncmp(p, ":rw", 3) == 0)
			p += 3;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return NULL;
		if (*p++ != ',')
			return why;
	}
}

/*
 * Appends to err like snprintf at its current end; errors are built in
 * pieces (file, line, key, reason) and a short err just truncates.
 */
static void __attribute__((format(printf, 3, 4)))
err_append(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 len;

	if (err == NULL || errlen == 0)
		return;
	len = strnlen(err, errlen);
	if (len >= errlen - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(err + len, errlen - len, fmt, ap);
	va_end(ap);
}

static void
err_clear(char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

/*
 * Appends s in quotes for an error message: at most CONFIG_QUOTE_MAX bytes
 * (then "..."), control characters as '?', so a hostile line cannot make
 * the message unreadable.
 */
static void
err_quote(char *err, size_t errlen, const char *s)
{
	char	 buf[CONFIG_QUOTE_MAX + sizeof("...")];
	size_t	 i;

	for (i = 0; s[i] != '\0' && i < CONFIG_QUOTE_MAX; i++)
		buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	err_append(err, errlen, "'%s'", buf);
}

/* Starts an error "key 'KEY': " on a cleared err. */
static void
err_key(char *err, size_t errlen, const char *key)
{
	err_clear(err, errlen);
	err_append(err, errlen, "key ");
	err_quote(err, errlen, key);
	err_append(err, errlen, ": ");
}

static const struct config_key *
config_key_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/*
 * Parses an optionally signed decimal integer followed by one of the
 * suffixes, scaling by its multiplier.  Returns false on junk, a missing
 * number, an unknown suffix or overflow; the caller reports all of those
 * the same way, with the bounds.
 */
static bool
parse_scaled(const char *v, const struct config_suffix *sfx, int64_t *out)
{
	char		*end;
	long long	 n;
	size_t		 i;

	/* strtoll skips leading space and accepts "+": the value is trimmed. */
	if (!(isdigit((unsigned char)v[0]) ||
	    (v[0] == '-' && isdigit((unsigned char)v[1]))))
		return false;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno == ERANGE || end == v)
		return false;
	for (i = 0; sfx[i].name != NULL; i++)
		if (strcmp(end, sfx[i].name) == 0)
			break;
	if (sfx[i].name == NULL)
		return false;
	if (n > INT64_MAX / sfx[i].mult || n < INT64_MIN / sfx[i].mult)
		return false;
	*out = (int64_t)n * sfx[i].mult;
	return true;
}

/* Formats n with the largest suffix that divides it exactly: "64M", "1h". */
static void
format_scaled(char *buf, size_t len, int64_t n,
    const struct config_suffix *sfx)
{
	const struct config_suffix	*best = NULL;
	size_t				 i;

	for (i = 0; sfx[i].name != NULL; i++) {
		if (sfx[i].mult == 1 || n == 0 || n % sfx[i].mult != 0)
			continue;
		if (best == NULL || sfx[i].mult > best->mult)
			best = &sfx[i];
	}
	if (best == NULL)
		snprintf(buf, len, "%" PRId64, n);
	else
		snprintf(buf, len, "%" PRId64 "%s", n / best->mult,
		    best->name);
}

static const struct config_suffix *
key_suffixes(const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_SIZE:
		return size_suffixes;
	case CONFIG_DURATION:
		return k->unit == UNIT_MS ? ms_suffixes : s_suffixes;
	default:
		return NULL;
	}
}

/*
 * Builds "must be ... between MIN and MAX" for a numeric key.  Size bounds
 * read best with suffixes ("1k and 1G"); durations stay in the unit the key
 * name carries.
 */
static void
err_range(char *err, size_t errlen, const struct config_key *k)
{
	char	 lo[32], hi[32];

	switch (k->type) {
	case CONFIG_SIZE:
		format_scaled(lo, sizeof(lo), k->min, size_suffixes);
		format_scaled(hi, sizeof(hi), k->max, size_suffixes);
		err_append(err, errlen, "must be a size between %s and %s "
		    "(suffix k, M, G, T)", lo, hi);
		break;
	case CONFIG_DURATION:
		err_append(err, errlen, "must be a duration between %" PRId64
		    " and %" PRId64 " %s", k->min, k->max,
		    k->unit == UNIT_MS ?
		    "milliseconds (suffix ms, s, m, h, d)" :
		    "seconds (suffix s, m, h, d)");
		break;
	default:
		err_append(err, errlen,
		    "must be an integer between %" PRId64 " and %" PRId64,
		    k->min, k->max);
		break;
	}
}

static bool
set_number(struct config *cfg, const struct config_key *k, const char *v,
    char *err, size_t errlen)
{
	const struct config_suffix	*sfx = key_suffixes(k);
	static const struct config_suffix plain[] = { { "", 1 }, { NULL, 0 } };
	int64_t				 n;
	char				*field = (char *)cfg + k->offset;

	if (!parse_scaled(v, sfx != NULL ? sfx : plain, &n) ||
	    n < k->min || n > k->max) {
		err_range(err, errlen, k);
		err_append(err, errlen, ", got ");
		err_quote(err, errlen, v);
		return false;
	}
	if (k->size == sizeof(int)) {
		int	 i = (int)n;

		assert(k->min >= INT_MIN && k->max <= INT_MAX);
		memcpy(field, &i, sizeof(i));
	} else {
		assert(k->size == sizeof(int64_t));
		memcpy(field, &n, sizeof(n));
	}
	return true;
}

static bool
set_string(struct config *cfg, const struct config_key *k, const char *v,
    char *err, size_t errlen)
{
	const char	*why;
	size_t		 len, i;

	len = strlen(v);
	if (k->type == CONFIG_PATH && len == 0) {
		err_append(err, errlen, "must not be empty");
		return false;
	}
	if (len >= k->size) {
		err_append(err, errlen, "must be at most %zu bytes long, "
		    "got %zu", k->size - 1, len);
		return false;
	}
	for (i = 0; i < len; i++)
		if (iscntrl((unsigned char)v[i])) {
			err_append(err, errlen, "must not contain control "
			    "characters");
			return false;
		}
	if (k->choices != NULL) {
		for (i = 0; k->choices[i] != NULL; i++)
			if (strcmp(v, k->choices[i]) == 0)
				break;
		if (k->choices[i] == NULL) {
			err_append(err, errlen, "must be one of");
			for (i = 0; k->choices[i] != NULL; i++)
				err_append(err, errlen, "%s%s",
				    i == 0 ? " " : ", ", k->choices[i]);
			err_append(err, errlen, ", got ");
			err_quote(err, errlen, v);
			return false;
		}
	}
	if (k->check != NULL && (why = k->check(v)) != NULL) {
		err_append(err, errlen, "%s, got ", why);
		err_quote(err, errlen, v);
		return false;
	}
	memcpy((char *)cfg + k->offset, v, len + 1);
	return true;
}

static bool
set_enum(struct config *cfg, const struct config_key *k, const char *v,
    char *err, size_t errlen)
{
	int	 i;

	assert(k->size == sizeof(int));
	for (i = 0; k->choices[i] != NULL; i++)
		if (strcmp(v, k->choices[i]) == 0) {
			memcpy((char *)cfg + k->offset, &i, sizeof(i));
			return true;
		}
	err_append(err, errlen, "must be one of");
	for (i = 0; k->choices[i] != NULL; i++)
		err_append(err, errlen, "%s%s", i == 0 ? " " : ", ",
		    k->choices[i]);
	err_append(err, errlen, ", got ");
	err_quote(err, errlen, v);
	return false;
}

/*
 * Sets one key.  On failure *cfg is unchanged and err holds
 * "key 'KEY': why".
 */
bool
config_set(struct config *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	const struct config_key	*k;

	assert(cfg != NULL && key != NULL && value != NULL);
	err_key(err, errlen, key);
	if (*key == '\0') {
		err_append(err, errlen, "empty key name");
		return false;
	}
	if ((k = config_key_find(key)) == NULL) {
		err_append(err, errlen, "unknown key");
		return false;
	}
	switch (k->type) {
	case CONFIG_PATH:
	case CONFIG_STRING:
		if (!set_string(cfg, k, value, err, errlen))
			return false;
		break;
	case CONFIG_INT:
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		if (!set_number(cfg, k, value, err, errlen))
			return false;
		break;
	case CONFIG_ENUM:
		if (!set_enum(cfg, k, value, err, errlen))
			return false;
		break;
	}
	err_clear(err, errlen);
	return true;
}

/*
 * Cross-field rules, checked after the whole file (and after command-line
 * overrides, by the caller).  Returns the key at fault and its reason in
 * err (as "key 'KEY': why"), or NULL when consistent.
 */
static const char *
config_check_key(const struct config *cfg, char *err, size_t errlen)
{
	const char	*key = NULL;

	err_clear(err, errlen);
	if (cfg->retry_base_ms > cfg->retry_max_ms) {
		key = "retry_base_ms";
		err_key(err, errlen, key);
		err_append(err, errlen, "must not exceed retry_max_ms "
		    "(%d > %d)", cfg->retry_base_ms, cfg->retry_max_ms);
	} else if (cfg->stale_after_s <= cfg->heartbeat_interval_s) {
		key = "stale_after_s";
		err_key(err, errlen, key);
		err_append(err, errlen, "must be greater than "
		    "heartbeat_interval_s (%d <= %d)", cfg->stale_after_s,
		    cfg->heartbeat_interval_s);
	} else if (strcmp(cfg->email_transport, "smtp") == 0 &&
	    cfg->smtp_url[0] == '\0') {
		key = "smtp_url";
		err_key(err, errlen, key);
		err_append(err, errlen, "must be set when email_transport "
		    "is smtp");
	} else if (cfg->smtp_password[0] != '\0' &&
	    cfg->smtp_username[0] == '\0') {
		key = "smtp_username";
		err_key(err, errlen, key);
		err_append(err, errlen, "must be set when smtp_password is");
	}
	return key;
}

bool
config_check(const struct config *cfg, char *err, size_t errlen)
{
	return config_check_key(cfg, err, errlen) == NULL;
}

/* Skips leading blanks; trims trailing blanks (and CR) in place. */
static char *
trim(char *s)
{
	size_t	 len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r' || s[len - 1] == '\n'))
		s[--len] = '\0';
	return s;
}

/*
 * Extracts the value from the text after '=', in place: either a
 * double-quoted string (with \" and \\ escapes; '#' inside is literal),
 * or bare text up to a '#' that follows a blank (so "a#b" keeps its '#').
 * Returns NULL with the reason in *why.
 */
static char *
parse_value(char *s, const char **why)
{
	char	*r, *w;

	s = trim(s);
	if (*s != '"') {
		for (r = s; *r != '\0'; r++)
			if (*r == '#' && (r == s || r[-1] == ' ' ||
			    r[-1] == '\t')) {
				*r = '\0';
				break;
			}
		return trim(s);
	}
	for (r = w = s + 1; *r != '"'; r++, w++) {
		if (*r == '\0') {
			*why = "unterminated quoted value";
			return NULL;
		}
		if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
			r++;
		*w = *r;
	}
	*w = '\0';
	for (r++; *r == ' ' || *r == '\t'; r++)
		continue;
	if (*r != '\0' && *r != '#') {
		*why = "unexpected text after the closing quote";
		return NULL;
	}
	return s + 1;
}

/*
 * Handles one line (already stripped of its newline).  Returns the index of
 * the key set, -1 for a blank or comment line, -2 on error (err holds
 * "key 'KEY': why").  seen[] holds the line each key was set on.
 */
static int
config_line(struct config *cfg, char *line, size_t lineno,
    size_t seen[CONFIG_NKEYS], char *err, size_t errlen)
{
	const struct config_key	*k;
	const char		*why = NULL;
	char			*key, *eq, *value, *p;

	key = trim(line);
	if (*key == '\0' || *key == '#')
		return -1;

	if ((eq = strchr(key, '=')) == NULL) {
		/* Name the first word: that is what the user meant as key. */
		for (p = key; *p != '\0' && *p != ' ' && *p != '\t'; p++)
			continue;
		*p = '\0';
		err_key(err, errlen, key);
		err_append(err, errlen, "missing '=' (expected "
		    "'key = value')");
		return -2;
	}
	*eq = '\0';
	key = trim(key);
	if ((value = parse_value(eq + 1, &why)) == NULL) {
		err_key(err, errlen, key);
		err_append(err, errlen, "%s", why);
		return -2;
	}
	if ((k = config_key_find(key)) != NULL &&
	    seen[k - config_keys] != 0) {
		err_key(err, errlen, key);
		err_append(err, errlen, "duplicate key, already set on line "
		    "%zu", seen[k - config_keys]);
		return -2;
	}
	if (!config_set(cfg, key, value, err, errlen))
		return -2;
	assert(k != NULL);
	seen[k - config_keys] = lineno;
	return (int)(k - config_keys);
}

/*
 * Reads path into a scratch copy of the defaults, line by line with
 * getline so no line is too long, then checks cross-field rules and only
 * then overwrites *cfg.
 */
bool
config_load(struct config *cfg, const char *path, bool must_exist,
    char *err, size_t errlen)
{
	struct config	*tmp = NULL;
	FILE		*fp = NULL;
	char		*line = NULL;
	size_t		 cap = 0, lineno = 0, i;
	size_t		 seen[CONFIG_NKEYS];
	ssize_t		 len;
	const char	*key;
	bool		 ok = false;
	char		 why[512];

	assert(cfg != NULL && path != NULL);
	err_clear(err, errlen);
	memset(seen, 0, sizeof(seen));

	if ((tmp = malloc(sizeof(*tmp))) == NULL) {
		err_append(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	*tmp = config_defaults;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && !must_exist) {
			*cfg = *tmp;
			ok = true;
		} else
			err_append(err, errlen, "%s: %s", path,
			    strerror(errno));
		goto out;
	}

	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (strlen(line) != (size_t)len) {
			err_append(err, errlen, "%s:%zu: NUL byte in line",
			    path, lineno);
			goto out;
		}
		/* A UTF-8 byte order mark some editors add. */
		if (lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, (size_t)len - 2);
		if (config_line(tmp, line, lineno, seen, why,
		    sizeof(why)) == -2) {
			err_append(err, errlen, "%s:%zu: %s", path, lineno,
			    why);
			goto out;
		}
	}
	/* getline also returns -1 when out of memory, without EOF. */
	if (ferror(fp) || !feof(fp)) {
		err_append(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}

	if ((key = config_check_key(tmp, why, sizeof(why))) != NULL) {
		/* Point at the line that set the key, if the file did. */
		for (i = 0; i < CONFIG_NKEYS; i++)
			if (strcmp(config_keys[i].name, key) == 0)
				break;
		assert(i < CONFIG_NKEYS);
		if (seen[i] != 0)
			err_append(err, errlen, "%s:%zu: %s", path, seen[i],
			    why);
		else
			err_append(err, errlen, "%s: %s", path, why);
		goto out;
	}
	*cfg = *tmp;
	ok = true;
out:
	free(line);
	if (fp != NULL)
		fclose(fp);
	free(tmp);
	return ok;
}

/* Writes s double-quoted, escaping '"' and '\\' as parse_value reads them. */
static void
dump_quoted(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

void
config_dump(const struct config *cfg, FILE *fp)
{
	const struct config_key	*k;
	const char		*field;
	size_t			 i;
	int64_t			 n;
	int			 v;
	char			 buf[32];

	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		field = (const char *)cfg + k->offset;
		fprintf(fp, "%s = ", k->name);
		switch (k->type) {
		case CONFIG_PATH:
		case CONFIG_STRING:
			if (k->secret && *field != '\0')
				dump_quoted(fp, "********");
			else
				dump_quoted(fp, field);
			break;
		case CONFIG_INT:
		case CONFIG_SIZE:
		case CONFIG_DURATION:
			if (k->size == sizeof(int)) {
				memcpy(&v, field, sizeof(v));
				n = v;
			} else
				memcpy(&n, field, sizeof(n));
			/* Sizes read better as "64M"; durations stay in
			 * the unit the key name carries. */
			if (k->type == CONFIG_SIZE)
				format_scaled(buf, sizeof(buf), n,
				    size_suffixes);
			else
				snprintf(buf, sizeof(buf), "%" PRId64, n);
			fputs(buf, fp);
			break;
		case CONFIG_ENUM:
			memcpy(&v, field, sizeof(v));
			fputs(k->choices[v], fp);
			break;
		}
		fputc('\n', fp);
	}
}
