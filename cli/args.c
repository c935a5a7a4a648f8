/*
 * The taskq command line: global options, the command, its options and
 * operands, parsed into struct cli_args without side effects (no output, no
 * exit), so that tests/unit/test_cli.c can drive it.  Also the parsing of
 * submit's key=value operands and of purge's durations.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "task.h"

const char *const cli_cmd_names[CMD__MAX] = {
	"submit",	/* CMD_SUBMIT */
	"list",		/* CMD_LIST */
	"show",		/* CMD_SHOW */
	"cancel",	/* CMD_CANCEL */
	"retry",	/* CMD_RETRY */
	"stats",	/* CMD_STATS */
	"runners",	/* CMD_RUNNERS */
	"pause",	/* CMD_PAUSE */
	"resume",	/* CMD_RESUME */
	"purge",	/* CMD_PURGE */
	"backup",	/* CMD_BACKUP */
	"migrate",	/* CMD_MIGRATE */
	"check",	/* CMD_CHECK */
};

/* Operand counts per command: min, max (-1: any number). */
static const struct {
	int	 min, max;
	const char *what;	/* for "needs ..." messages */
} cmd_operands[CMD__MAX] = {
	[CMD_SUBMIT] = { 1, -1, "a task type" },
	[CMD_LIST] = { 0, 0, NULL },
	[CMD_SHOW] = { 1, 1, "a task id" },
	[CMD_CANCEL] = { 1, 1, "a task id" },
	[CMD_RETRY] = { 1, 1, "a task id" },
	[CMD_STATS] = { 0, 0, NULL },
	[CMD_RUNNERS] = { 0, 0, NULL },
	[CMD_PAUSE] = { 1, 1, "a task type" },
	[CMD_RESUME] = { 1, 1, "a task type" },
	[CMD_PURGE] = { 0, 0, NULL },
	[CMD_BACKUP] = { 1, 1, "a destination file" },
	[CMD_MIGRATE] = { 0, 0, NULL },
	[CMD_CHECK] = { 0, 0, NULL },
};

static bool
fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* A whole decimal integer in [min, max]. */
static bool
int_parse(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (*s == '\0')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * A duration: a positive integer with a unit s, m, h, d or w, or no unit
 * meaning days ("30" is 30 days, as retention_days counts).
 */
bool
cli_duration_parse(const char *s, int64_t *ms)
{
	static const struct {
		char	 unit;
		int64_t	 ms;
	} units[] = {
		{ 's', 1000LL }, { 'm', 60000LL }, { 'h', 3600000LL },
		{ 'd', 86400000LL }, { 'w', 7 * 86400000LL },
	};
	char		*end;
	long long	 v;
	int64_t		 mul = 86400000LL;
	size_t		 i;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v <= 0)
		return false;
	if (*end != '\0') {
		if (end[1] != '\0')
			return false;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (units[i].unit == *end)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return false;
		mul = units[i].ms;
	}
	if (v > INT64_MAX / mul)
		return false;
	*ms = (int64_t)v * mul;
	return true;
}

/*
 * A submit value: the JSON value it spells when the whole text is one
 * (numbers, true, false, null, arrays, objects, "quoted strings"), else the
 * text itself as a string.  *is_null tells JSON null (returned as NULL, as
 * json-c represents it) from running out of memory.
 */
struct json_object *
cli_value_parse(const char *text, bool *is_null)
{
	struct json_tokener	*tok;
	struct json_object	*v = NULL;
	size_t			 len = strlen(text);
	bool			 whole = false;

	*is_null = false;
	if (len > 0 && len < INT_MAX && (tok = json_tokener_new()) != NULL) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		/* Include the NUL, which ends a bare number. */
		v = json_tokener_parse_ex(tok, text, (int)len + 1);
		whole = json_tokener_get_error(tok) == json_tokener_success &&
		    json_tokener_get_parse_end(tok) >= len;
		json_tokener_free(tok);
		if (whole) {
			*is_null = v == NULL;
			return v;
		}
		json_object_put(v);
	}
	return json_object_new_string(text);
}

/*
 * The parameters object from "key=value" operands.  NULL with the reason in
 * err for a malformed or repeated key, or when out of memory.
 */
struct json_object *
cli_params_build(char *const *kv, size_t n, char *err, size_t errlen)
{
	struct json_object	*obj, *v;
	const char		*eq;
	char			*key = NULL;
	bool			 is_null;
	size_t			 i;

	if ((obj = json_object_new_object()) == NULL) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if ((eq = strchr(kv[i], '=')) == NULL || eq == kv[i]) {
			fail(err, errlen, "'%s': parameters are key=value", kv[i]);
			goto bad;
		}
		if ((key = strndup(kv[i], (size_t)(eq - kv[i]))) == NULL) {
			fail(err, errlen, "out of memory");
			goto bad;
		}
		if (json_object_object_get_ex(obj, key, NULL)) {
			fail(err, errlen, "parameter '%s' given twice", key);
			goto bad;
		}
		v = cli_value_parse(eq + 1, &is_null);
		if ((v == NULL && !is_null) ||
		    json_object_object_add(obj, key, v) != 0) {
			json_object_put(v);
			fail(err, errlen, "out of memory");
			goto bad;
		}
		free(key);
		key = NULL;
	}
	return obj;
bad:
	free(key);
	json_object_put(obj);
	return NULL;
}

/* --status: comma-separated exact status names into a mask. */
static bool
status_list_parse(const char *s, unsigned *mask, char *err, size_t errlen)
{
	char	 bad[40];

	*mask = 0;
	if (task_status_list_parse(s, mask, bad, sizeof(bad)))
		return true;
	if (bad[0] == '\0')
		return fail(err, errlen, "--status '%s': not a list of "
		    "PENDING, RUNNING, SUCCESS, FAILED, CANCELLED", s);
	return fail(err, errlen, "--status: unknown status '%s' "
	    "(PENDING, RUNNING, SUCCESS, FAILED, CANCELLED)", bad);
}

/* --type: comma-separated names, split into an owned copy. */
static bool
type_list_parse(struct cli_args *a, const char *s, char *err, size_t errlen)
{
	char	*p, **n;

	free(a->types);
	free(a->typebuf);
	a->types = NULL;
	a->ntypes = 0;
	if ((a->typebuf = strdup(s)) == NULL)
		return fail(err, errlen, "out of memory");
	for (p = a->typebuf;;) {
		char	*comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0')
			return fail(err, errlen, "--type '%s': empty type name", s);
		if ((n = reallocarray(a->types, a->ntypes + 1,
		    sizeof(*n))) == NULL)
			return fail(err, errlen, "out of memory");
		a->types = n;
		a->types[a->ntypes++] = p;
		if (comma == NULL)
			return true;
		p = comma + 1;
	}
}

/* The message for getopt's '?' or ':' (opterr is off). */
static bool
option_error(int ch, char *const argv[], const char *cmd, char *err,
    size_t errlen)
{
	const char	*where = cmd != NULL ? cmd : "taskq";
	const char	*arg = optind > 0 ? argv[optind - 1] : "?";

	if (ch == ':')
		return fail(err, errlen, "%s: option %s needs a value", where,
		    arg);
	if (optopt != 0)
		return fail(err, errlen, "%s: unknown option -%c", where, optopt);
	return fail(err, errlen, "%s: unknown option %s", where, arg);
}

/*
 * Parses the whole command line into *a (zeroed first; release it with
 * cli_args_free() whatever the result).  Returns false with a message for
 * the user in err on a usage error.  With -h, returns true with a->help
 * set and nothing else checked.
 */
bool
cli_parse(int argc, char *argv[], struct cli_args *a, char *err, size_t errlen)
{
	static const struct option gopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option copts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "status", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "q", required_argument, NULL, 'q' },
		{ "query", required_argument, NULL, 'q' },
		{ "limit", required_argument, NULL, 'n' },
		{ "priority", required_argument, NULL, 'p' },
		{ "max-attempts", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "run-at", required_argument, NULL, 'r' },
		{ "idempotency-key", required_argument, NULL, 'k' },
		{ "older-than", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	/* Which command accepts which option (beyond -j and -h). */
	static const char *const cmd_opts[CMD__MAX] = {
		[CMD_SUBMIT] = "paTrk",
		[CMD_LIST] = "stqn",
		[CMD_PURGE] = "o",
	};
	const char	*cmdname, *allowed;
	long long	 v;
	int		 ch, nops, i;
	size_t		 klen;

	memset(a, 0, sizeof(*a));
	a->limit = CLI_LIST_DEFAULT;
	if (errlen > 0)
		err[0] = '\0';

	/* Global options, up to the command ("+": stop at the first operand). */
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:hjf:d:", gopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			a->help = true;
			return true;
		case 'j':
			a->json = true;
			break;
		case 'f':
			a->config_path = optarg;
			break;
		case 'd':
			if (*optarg == '\0')
				return fail(err, errlen, "-d: empty database path");
			a->database = optarg;
			break;
		default:
			return option_error(ch, argv, NULL, err, errlen);
		}
	}
	if (optind >= argc)
		return fail(err, errlen, "no command given");
	cmdname = argv[optind];
	for (i = 0; i < CMD__MAX; i++)
		if (strcmp(cmdname, cli_cmd_names[i]) == 0)
			break;
	if (i == CMD__MAX)
		return fail(err, errlen, "unknown command '%s'", cmdname);
	a->cmd = (enum cli_cmd)i;
	allowed = cmd_opts[a->cmd] != NULL ? cmd_opts[a->cmd] : "";

	/* The command's own options; operands may come between them. */
	argc -= optind;
	argv += optind;
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":hjs:t:q:n:p:a:T:r:k:o:", copts,
	    NULL)) != -1) {
		if (ch != 'h' && ch != 'j' && ch != ':' && ch != '?' &&
		    strchr(allowed, ch) == NULL) {
			for (i = 0; copts[i].val != ch; i++)
				continue;
			return fail(err, errlen, "%s: option --%s does not "
			    "apply", cmdname, copts[i].name);
		}
		switch (ch) {
		case 'h':
			a->help = true;
			return true;
		case 'j':
			a->json = true;
			break;
		case 's':
			if (!status_list_parse(optarg, &a->status_mask, err,
			    errlen))
				return false;
			break;
		case 't':
			if (!type_list_parse(a, optarg, err, errlen))
				return false;
			break;
		case 'q':
			if (*optarg == '\0')
				return fail(err, errlen, "--q: empty query");
			a->q = optarg;
			break;
		case 'n':
			if (!int_parse(optarg, 1, CLI_LIST_MAX, &v))
				return fail(err, errlen, "--limit '%s': not an "
				    "integer in 1..%d", optarg, CLI_LIST_MAX);
			a->limit = (size_t)v;
			break;
		case 'p':
			if (!int_parse(optarg, -100, 100, &v))
				return fail(err, errlen, "--priority '%s': not "
				    "an integer in -100..100", optarg);
			a->priority = (int)v;
			break;
		case 'a':
			if (!int_parse(optarg, 1, 25, &v))
				return fail(err, errlen, "--max-attempts '%s': "
				    "not an integer in 1..25", optarg);
			a->max_attempts = (int)v;
			break;
		case 'T':
			if (!int_parse(optarg, 1, 86400, &v))
				return fail(err, errlen, "--timeout '%s': not an "
				    "integer in 1..86400 (seconds)", optarg);
			a->timeout_s = (int)v;
			break;
		case 'r':
			if (!time_parse_rfc3339(optarg, &a->run_at))
				return fail(err, errlen, "--run-at '%s': not an "
				    "RFC 3339 time", optarg);
			break;
		case 'k':
			klen = strlen(optarg);
			if (klen < 1 || klen > 128)
				return fail(err, errlen, "--idempotency-key: 1 "
				    "to 128 printable ASCII characters");
			for (const char *c = optarg; *c != '\0'; c++)
				if (*c < 0x20 || *c > 0x7e)
					return fail(err, errlen, "--idempotency-"
					    "key: 1 to 128 printable ASCII "
					    "characters");
			a->idempotency_key = optarg;
			break;
		case 'o':
			if (!cli_duration_parse(optarg, &a->older_than_ms))
				return fail(err, errlen, "--older-than '%s': a "
				    "duration such as 30d, 12h, 90m or 3600s",
				    optarg);
			break;
		default:
			return option_error(ch, argv, cmdname, err, errlen);
		}
	}

	nops = argc - optind;
	if (nops < cmd_operands[a->cmd].min)
		return fail(err, errlen, "%s: needs %s", cmdname,
		    cmd_operands[a->cmd].what);
	if (cmd_operands[a->cmd].max >= 0 && nops > cmd_operands[a->cmd].max)
		return fail(err, errlen, "%s: unexpected argument '%s'",
		    cmdname, argv[optind + cmd_operands[a->cmd].max]);
	if (nops > 0) {
		a->operand = argv[optind];
		if (*a->operand == '\0')
			return fail(err, errlen, "%s: empty argument", cmdname);
	}
	if (a->cmd == CMD_SUBMIT) {
		a->params = argv + optind + 1;
		a->nparams = (size_t)(nops - 1);
	}
	if (a->cmd == CMD_PURGE && a->older_than_ms == 0)
		return fail(err, errlen, "purge: needs --older-than AGE");
	return true;
}

void
cli_args_free(struct cli_args *a)
{
	if (a == NULL)
		return;
	free(a->types);
	free(a->typebuf);
	a->types = NULL;
	a->typebuf = NULL;
	a->ntypes = 0;
}
