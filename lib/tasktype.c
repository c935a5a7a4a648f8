/*
 * The task-type registry: the four types of API.md declared as data, one
 * generic validator that checks a submitted parameters object against a
 * declaration, and the rendering of the same declaration as the schema of
 * GET /api/task-types, so that what the UI checks and what the API enforces
 * cannot drift apart.
 */
/* <>, not "": lib/config.h is taskq's own config module. */
#include <config.h>

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "task.h"
#include "tasktype.h"

const char *const param_kind_names[PARAM_KIND__MAX] = {
	"string",		/* PARAM_STRING */
	"integer",		/* PARAM_INTEGER */
	"boolean",		/* PARAM_BOOLEAN */
	"enum",			/* PARAM_ENUM */
	"email_list",		/* PARAM_EMAIL_LIST */
	"email",		/* PARAM_EMAIL */
	"uuid",			/* PARAM_UUID */
};

#define EMAIL_MAX	254	/* RFC 5321 path limit less the brackets */
#define EMAIL_LOCAL_MAX	64
#define LABEL_MAX	63

/*
 * How much of a client-supplied name (an unknown parameter) is echoed back
 * in field and detail: enough to recognise a typo, not a megabyte.
 */
#define ECHO_NAME_MAX	64

/* ---- the declarations ------------------------------------------------ */

/*
 * echo: the timeout (1 h 1 min) outlives the longest delay (1 h) with room
 * to report; a deliberate failure is not worth retrying, hence one attempt.
 */
static const struct param_spec echo_params[] = {
	{ .name = "message", .kind = PARAM_STRING, .required = true,
	  .min = 0, .max = 10000,
	  .description = "Text returned unchanged in the result; may be "
	    "empty, at most 10,000 characters." },
	{ .name = "delay_ms", .kind = PARAM_INTEGER, .min = 0,
	  .max = 3600000, .default_json = "0",
	  .description = "Milliseconds to wait before finishing (0 to "
	    "3,600,000); progress advances during the wait." },
	{ .name = "fail", .kind = PARAM_BOOLEAN, .default_json = "false",
	  .description = "When true, the task ends FAILED with the error "
	    "\"requested failure\"." },
	{ .name = NULL }
};

static const struct param_rule echo_rules[] = {
	{ .kind = RULE__MAX }
};

/*
 * data_processing: csv is capped in bytes, not characters, because the
 * limit protects memory and the parser reads bytes.  The delimiter is one
 * ASCII character so the byte-oriented RFC 4180 parser can use it as is.
 */
static const struct param_spec data_processing_params[] = {
	{ .name = "file_id", .kind = PARAM_UUID,
	  .description = "Id of an uploaded CSV file (from POST /api/files). "
	    "Give either this or csv." },
	{ .name = "csv", .kind = PARAM_STRING, .min = 0, .max = 1048576,
	  .max_bytes = true,
	  .description = "Inline CSV text, at most 1 MiB (1,048,576 bytes "
	    "of UTF-8). Give either this or file_id." },
	{ .name = "delimiter", .kind = PARAM_STRING, .min = 1, .max = 1,
	  .single_char = true, .default_json = "\",\"",
	  .description = "Field separator: one printable ASCII character or "
	    "tab, not a double quote." },
	{ .name = "has_header", .kind = PARAM_BOOLEAN,
	  .default_json = "true",
	  .description = "Whether the first row names the columns (it is "
	    "then not counted as a data row)." },
	{ .name = NULL }
};

static const struct param_rule data_processing_rules[] = {
	{ .kind = RULE_EXACTLY_ONE, .a = "file_id", .b = "csv" },
	{ .kind = RULE__MAX }
};

/*
 * email: a recipient list of at most 100 for to and for cc (so at most 200
 * recipients per message), which keeps one task one ordinary message rather
 * than a mailing.  An empty cc array is accepted and means no cc, as a form
 * with an empty list would send.  The subject is one header line: a CR or
 * LF would let the submitter append headers of their own (Bcc:, or a second
 * body), so it is refused rather than folded; 998 is RFC 5322's line limit.
 * SMTP replies 4xx are temporary, hence several attempts.
 */
static const struct param_spec email_params[] = {
	{ .name = "to", .kind = PARAM_EMAIL_LIST, .required = true,
	  .min = 1, .max = 100,
	  .description = "Recipient address (local@domain), or a list of "
	    "1 to 100 addresses. Display names are not accepted." },
	{ .name = "subject", .kind = PARAM_STRING, .required = true,
	  .min = 0, .max = 998, .no_newlines = true,
	  .description = "Subject line, one line of at most 998 characters." },
	{ .name = "body", .kind = PARAM_STRING, .required = true,
	  .min = 0, .max = 1000000,
	  .description = "Plain-text message body (UTF-8), at most 1,000,000 "
	    "characters." },
	{ .name = "cc", .kind = PARAM_EMAIL_LIST, .min = 0, .max = 100,
	  .description = "Copy recipient address, or a list of up to 100 "
	    "addresses." },
	{ .name = "reply_to", .kind = PARAM_EMAIL,
	  .description = "Address replies should go to." },
	{ .name = NULL }
};

static const struct param_rule email_rules[] = {
	{ .kind = RULE__MAX }
};

static const char *const fit_choices[] = { "cover", "contain", "fill", NULL };
static const char *const format_choices[] = { "png", "jpeg", "webp", NULL };

/*
 * image_processing: fit has a default only when it applies, with both
 * sides given; format has none because its default is the input's format,
 * known only to the worker; quality has none because each encoder has its
 * own good default.
 */
static const struct param_spec image_processing_params[] = {
	{ .name = "file_id", .kind = PARAM_UUID, .required = true,
	  .description = "Id of an uploaded image (from POST /api/files)." },
	{ .name = "width", .kind = PARAM_INTEGER, .min = 1, .max = 10000,
	  .description = "Output width in pixels (1 to 10,000). Give width, "
	    "height or both; with one, the other keeps the aspect ratio." },
	{ .name = "height", .kind = PARAM_INTEGER, .min = 1, .max = 10000,
	  .description = "Output height in pixels (1 to 10,000)." },
	{ .name = "fit", .kind = PARAM_ENUM, .default_json = "\"cover\"",
	  .choices = fit_choices,
	  .description = "Only with both width and height: cover (exactly "
	    "width x height, centre-cropped), contain (inside the box, aspect "
	    "kept) or fill (stretched)." },
	{ .name = "format", .kind = PARAM_ENUM, .choices = format_choices,
	  .description = "Output format: png, jpeg or webp. Default: the "
	    "format of the input." },
	{ .name = "quality", .kind = PARAM_INTEGER, .min = 1, .max = 100,
	  .description = "Encoder quality, 1 to 100 (jpeg and webp)." },
	{ .name = NULL }
};

static const struct param_rule image_processing_rules[] = {
	{ .kind = RULE_AT_LEAST_ONE, .a = "width", .b = "height" },
	{ .kind = RULE_REQUIRES_BOTH, .a = "fit", .b = "width", .c = "height" },
	{ .kind = RULE__MAX }
};

const struct task_type task_types[TYPE__MAX] = {
	{ .id = TYPE_ECHO, .name = "echo",
	  .description = "Returns its message after an optional delay, or "
	    "fails on request. For health checks, demos, tests and "
	    "benchmarks.",
	  .params = echo_params, .rules = echo_rules,
	  .default_timeout_s = 3660, .default_max_attempts = 1 },
	{ .id = TYPE_DATA_PROCESSING, .name = "data_processing",
	  .description = "Parses a CSV file or inline CSV text (RFC 4180) "
	    "and reports rows, per-column inferred types and statistics.",
	  .params = data_processing_params, .rules = data_processing_rules,
	  .default_timeout_s = 600, .default_max_attempts = 1 },
	{ .id = TYPE_EMAIL, .name = "email",
	  .description = "Sends a plain-text email through the configured "
	    "transport (a local Maildir, or SMTP). Temporary SMTP failures "
	    "are retried.",
	  .params = email_params, .rules = email_rules,
	  .default_timeout_s = 120, .default_max_attempts = 5 },
	{ .id = TYPE_IMAGE_PROCESSING, .name = "image_processing",
	  .description = "Resizes an uploaded image and converts it to png, "
	    "jpeg or webp; the output is a new downloadable file.",
	  .params = image_processing_params, .rules = image_processing_rules,
	  .default_timeout_s = 300, .default_max_attempts = 1 },
};

const struct task_type *
tasktype_find(const char *name)
{
	size_t	 i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < TYPE__MAX; i++)
		if (strcmp(task_types[i].name, name) == 0)
			return &task_types[i];
	return NULL;
}

/* ---- email addresses ------------------------------------------------- */

/* RFC 5322 atext: the characters of a dot-atom other than the dot. */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/*
 * The practical subset of RFC 5321/5322 addresses (see tasktype.h):
 * what real mailboxes use, and nothing that needs quoting, so an accepted
 * address can go into a header or an SMTP command as is.  Refused on
 * purpose: display names ("A <a@b.c>"), quoted local parts, comments, IP
 * literals, non-ASCII (EAI), dotless domains ("root@localhost") and
 * all-numeric top-level labels, which are IP addresses mistyped.
 */
bool
email_address_valid(const char *s)
{
	const char	*at, *p, *label;
	size_t		 len, n;
	bool		 digits_only;

	if (s == NULL)
		return false;
	len = strlen(s);
	if (len == 0 || len > EMAIL_MAX)
		return false;
	if ((at = strchr(s, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return false;

	/* Local part: dot-atom of atext, 1..64 bytes. */
	n = (size_t)(at - s);
	if (n == 0 || n > EMAIL_LOCAL_MAX || s[0] == '.' || at[-1] == '.')
		return false;
	for (p = s; p < at; p++) {
		if (*p == '.') {
			if (p[1] == '.')
				return false;
		} else if (!is_atext((unsigned char)*p))
			return false;
	}

	/* Domain: LDH labels of 1..63, two at least, last not numeric. */
	label = at + 1;
	n = 0;
	for (;;) {
		digits_only = true;
		for (p = label; *p != '\0' && *p != '.'; p++) {
			if (!is_ldh((unsigned char)*p))
				return false;
			if (*p < '0' || *p > '9')
				digits_only = false;
		}
		if (p == label || p - label > LABEL_MAX ||
		    label[0] == '-' || p[-1] == '-')
			return false;
		n++;
		if (*p == '\0')
			break;
		label = p + 1;
	}
	return n >= 2 && !digits_only;
}

/* ---- validation -------------------------------------------------------- */

/* Where tasktype_validate writes its verdict. */
struct verdict {
	char		*field;
	size_t		 fieldlen;
	char		*detail;
	size_t		 detaillen;
};

/*
 * Drops a trailing UTF-8 sequence that a truncating snprintf cut in the
 * middle, so field and detail stay valid UTF-8 in the JSON error body.
 */
static void
utf8_trim(char *buf, size_t size)
{
	size_t		 len, i, need;
	unsigned char	 lead;

	if (size == 0)
		return;
	len = strlen(buf);
	i = len;
	while (i > 0 && ((unsigned char)buf[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)buf[i - 1];
	if (lead < 0x80)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (len - (i - 1) < need)
		buf[i - 1] = '\0';
}

/*
 * Records a failure: field as given, detail as "field: message".  Always
 * returns false, so callers can "return reject(...)".
 */
static bool
reject(struct verdict *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
reject(struct verdict *v, const char *field, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	/* utf8_trim leaves complete text alone, so it runs unconditionally. */
	if (v->fieldlen > 0) {
		snprintf(v->field, v->fieldlen, "%s", field);
		utf8_trim(v->field, v->fieldlen);
	}
	if (v->detaillen > 0) {
		n = snprintf(v->detail, v->detaillen, "%s: ", field);
		if (n >= 0 && (size_t)n < v->detaillen) {
			va_start(ap, fmt);
			vsnprintf(v->detail + n, v->detaillen - (size_t)n, fmt,
			    ap);
			va_end(ap);
		}
		utf8_trim(v->detail, v->detaillen);
	}
	return false;
}

/* Out of memory: empty field, so the caller can tell it from a 422. */
static bool
reject_nomem(struct verdict *v)
{
	if (v->fieldlen > 0)
		v->field[0] = '\0';
	if (v->detaillen > 0)
		snprintf(v->detail, v->detaillen, "out of memory");
	return false;
}

/* Number of UTF-8 code points in s (already known to be valid UTF-8). */
static size_t
utf8_chars(const char *s, size_t len)
{
	size_t	 i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* Bytes of the first at most max code points of s. */
static size_t
utf8_prefix(const char *s, size_t max)
{
	size_t	 i, n = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (n == max)
				break;
			n++;
		}
	}
	return i;
}

/* The JSON type of v as a client would name it, for "not a ..." details. */
static const char *
json_kind(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number with a fraction or exponent";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "an unknown JSON type";
}

/*
 * What a parameter must be, as the sentence the client reads ("must be an
 * integer between 0 and 3600000"); used for wrong types and wrong values
 * alike, so the client learns the whole rule from one error.
 */
static void
spec_expect(const struct param_spec *p, char *buf, size_t size)
{
	size_t	 i, n;
	int	 w;

	switch (p->kind) {
	case PARAM_STRING:
		if (p->single_char)
			snprintf(buf, size, "must be a single printable ASCII "
			    "character or tab, other than '\"'");
		else if (p->max_bytes)
			snprintf(buf, size, "must be a string of at most "
			    "%" PRId64 " bytes", p->max);
		else if (p->min > 0 && p->max > 0)
			snprintf(buf, size, "must be a string of %" PRId64
			    " to %" PRId64 " characters%s", p->min, p->max,
			    p->no_newlines ? ", without CR or LF" : "");
		else if (p->max > 0)
			snprintf(buf, size, "must be a string of at most %"
			    PRId64 " characters%s", p->max,
			    p->no_newlines ? ", without CR or LF" : "");
		else
			snprintf(buf, size, "must be a string%s",
			    p->no_newlines ? " without CR or LF" : "");
		break;
	case PARAM_INTEGER:
		snprintf(buf, size, "must be an integer between %" PRId64
		    " and %" PRId64, p->min, p->max);
		break;
	case PARAM_BOOLEAN:
		snprintf(buf, size, "must be true or false");
		break;
	case PARAM_ENUM:
		w = snprintf(buf, size, "must be one of");
		n = w > 0 ? (size_t)w : 0;
		for (i = 0; p->choices != NULL && p->choices[i] != NULL &&
		    n < size; i++) {
			w = snprintf(buf + n, size - n, "%s \"%s\"",
			    i == 0 ? "" : ",", p->choices[i]);
			if (w < 0)
				break;
			n += (size_t)w;
		}
		break;
	case PARAM_EMAIL_LIST:
		snprintf(buf, size, "must be an email address (local@domain) "
		    "or an array of %" PRId64 " to %" PRId64 " of them",
		    p->min, p->max);
		break;
	case PARAM_EMAIL:
		snprintf(buf, size, "must be an email address (local@domain)");
		break;
	case PARAM_UUID:
		snprintf(buf, size, "must be a file id, a UUID such as "
		    "0b6f4a7e-3c2d-4f5e-9a1b-2c3d4e5f6a7b");
		break;
	case PARAM_KIND__MAX:
		buf[0] = '\0';
		break;
	}
}

/* Refuses v for being of the wrong JSON type: "..., not a string". */
static bool
reject_type(struct verdict *v, const char *field, const struct param_spec *p,
    struct json_object *val)
{
	char	 expect[256];

	spec_expect(p, expect, sizeof(expect));
	return reject(v, field, "%s, not %s", expect, json_kind(val));
}

static bool
reject_value(struct verdict *v, const char *field, const struct param_spec *p)
{
	char	 expect[256];

	spec_expect(p, expect, sizeof(expect));
	return reject(v, field, "%s", expect);
}

/*
 * A string value as C text.  Embedded NUL (JSON "\u0000") is refused in
 * every parameter: workers are C programs and would silently cut the
 * value short.
 */
static bool
get_text(struct json_object *val, const char **s, size_t *len)
{
	*s = json_object_get_string(val);
	*len = (size_t)json_object_get_string_len(val);
	return *s != NULL && memchr(*s, '\0', *len) == NULL;
}

static bool
check_address(struct verdict *v, const char *field, struct json_object *val)
{
	const char	*s;
	size_t		 len;

	if (!json_object_is_type(val, json_type_string))
		return reject(v, field, "must be an email address string, "
		    "not %s", json_kind(val));
	if (!get_text(val, &s, &len) || !email_address_valid(s))
		return reject(v, field, "is not a valid email address: "
		    "expected local@domain, without display name, quotes, "
		    "spaces or line breaks");
	return true;
}

/* Checks one present value against its declaration. */
static bool
check_value(struct verdict *v, const struct param_spec *p,
    struct json_object *val)
{
	char		 field[160], item[192];
	char		 id[TASK_ID_LEN + 1];
	const char	*s;
	size_t		 len, chars, i, n;
	int64_t		 iv;
	unsigned char	 c;

	snprintf(field, sizeof(field), "parameters.%s", p->name);

	switch (p->kind) {
	case PARAM_STRING:
		if (!json_object_is_type(val, json_type_string))
			return reject_type(v, field, p, val);
		if (!get_text(val, &s, &len))
			return reject(v, field, "must not contain NUL "
			    "characters");
		if (p->single_char) {
			c = (unsigned char)s[0];
			if (len != 1 || c == '"' || c >= 0x7f ||
			    (c < 0x20 && c != '\t'))
				return reject_value(v, field, p);
			return true;
		}
		if (p->no_newlines && strpbrk(s, "\r\n") != NULL)
			return reject(v, field, "must not contain CR or LF "
			    "(a header line cannot be split)");
		chars = p->max_bytes ? len : utf8_chars(s, len);
		if ((int64_t)chars < p->min ||
		    (p->max > 0 && (int64_t)chars > p->max)) {
			char	 expect[256];

			spec_expect(p, expect, sizeof(expect));
			return reject(v, field, "%s (got %zu %s)", expect,
			    chars, p->max_bytes ? "bytes" : "characters");
		}
		return true;
	case PARAM_INTEGER:
		/* json-c keeps 1.0 and 1e2 as doubles: refused, not cast. */
		if (!json_object_is_type(val, json_type_int))
			return reject_type(v, field, p, val);
		/*
		 * json-c saturates out-of-range literals at INT64_MIN/MAX
		 * (and keeps larger ones as uint64); a value at either end
		 * may not be what was written, so it is out of range too.
		 */
		iv = json_object_get_int64(val);
		if (iv == INT64_MAX || iv == INT64_MIN ||
		    iv < p->min || iv > p->max)
			return reject_value(v, field, p);
		return true;
	case PARAM_BOOLEAN:
		if (!json_object_is_type(val, json_type_boolean))
			return reject_type(v, field, p, val);
		return true;
	case PARAM_ENUM:
		if (!json_object_is_type(val, json_type_string))
			return reject_type(v, field, p, val);
		if (!get_text(val, &s, &len))
			return reject_value(v, field, p);
		for (i = 0; p->choices[i] != NULL; i++)
			if (strcmp(s, p->choices[i]) == 0)
				return true;
		return reject_value(v, field, p);
	case PARAM_EMAIL:
		if (!json_object_is_type(val, json_type_string))
			return reject_type(v, field, p, val);
		return check_address(v, field, val);
	case PARAM_EMAIL_LIST:
		if (json_object_is_type(val, json_type_string))
			return check_address(v, field, val);
		if (!json_object_is_type(val, json_type_array))
			return reject_type(v, field, p, val);
		n = json_object_array_length(val);
		if ((int64_t)n < p->min || (int64_t)n > p->max)
			return reject(v, field, "must list %" PRId64 " to %"
			    PRId64 " addresses (got %zu)", p->min, p->max, n);
		for (i = 0; i < n; i++) {
			snprintf(item, sizeof(item), "%s[%zu]", field, i);
			if (!check_address(v, item,
			    json_object_array_get_idx(val, i)))
				return false;
		}
		return true;
	case PARAM_UUID:
		if (!json_object_is_type(val, json_type_string))
			return reject_type(v, field, p, val);
		if (!get_text(val, &s, &len) || !task_id_normalize(s, id))
			return reject_value(v, field, p);
		return true;
	case PARAM_KIND__MAX:
		break;
	}
	assert(!"unknown parameter kind");
	return reject_value(v, field, p);
}

static const struct param_spec *
spec_find(const struct task_type *type, const char *name)
{
	const struct param_spec	*p;

	for (p = type->params; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static bool
present(struct json_object *params, const char *name)
{
	return params != NULL &&
	    json_object_object_get_ex(params, name, NULL);
}

/* Checks the cross-field rules, in declaration order. */
static bool
check_rules(struct verdict *v, const struct task_type *type,
    struct json_object *params)
{
	const struct param_rule	*r;
	char			 field[160];

	for (r = type->rules; r->kind != RULE__MAX; r++) {
		switch (r->kind) {
		case RULE_EXACTLY_ONE:
			if (present(params, r->a) && present(params, r->b)) {
				snprintf(field, sizeof(field), "parameters.%s",
				    r->b);
				return reject(v, field, "give exactly one of "
				    "%s or %s, not both", r->a, r->b);
			}
			if (!present(params, r->a) && !present(params, r->b)) {
				snprintf(field, sizeof(field), "parameters.%s",
				    r->a);
				return reject(v, field, "exactly one of %s or "
				    "%s is required", r->a, r->b);
			}
			break;
		case RULE_AT_LEAST_ONE:
			if (!present(params, r->a) && !present(params, r->b)) {
				snprintf(field, sizeof(field), "parameters.%s",
				    r->a);
				return reject(v, field, "at least one of %s or "
				    "%s is required", r->a, r->b);
			}
			break;
		case RULE_REQUIRES_BOTH:
			if (present(params, r->a) && (!present(params, r->b) ||
			    !present(params, r->c))) {
				snprintf(field, sizeof(field), "parameters.%s",
				    r->a);
				return reject(v, field, "only allowed when both "
				    "%s and %s are given", r->b, r->c);
			}
			break;
		case RULE__MAX:
			break;
		}
	}
	return true;
}

/*
 * Whether the default of p applies to params: not when a rule makes p
 * meaningless without parameters that are absent (fit without both sides).
 */
static bool
default_applies(const struct task_type *type, const struct param_spec *p,
    struct json_object *params)
{
	const struct param_rule	*r;

	if (p->default_json == NULL)
		return false;
	for (r = type->rules; r->kind != RULE__MAX; r++)
		if (r->kind == RULE_REQUIRES_BOTH &&
		    strcmp(r->a, p->name) == 0 &&
		    (!present(params, r->b) || !present(params, r->c)))
			return false;
	return true;
}

/*
 * Builds the normalized object: given values in declaration order (file
 * ids lowercased, as every id taskq stores is), then the defaults that
 * apply.  NULL when out of memory.
 */
static struct json_object *
normalize(const struct task_type *type, struct json_object *params)
{
	const struct param_spec	*p;
	struct json_object	*out, *val, *copy;
	char			 id[TASK_ID_LEN + 1];

	if ((out = json_object_new_object()) == NULL)
		return NULL;
	for (p = type->params; p->name != NULL; p++) {
		copy = NULL;
		if (params != NULL &&
		    json_object_object_get_ex(params, p->name, &val)) {
			if (p->kind == PARAM_UUID) {
				if (!task_id_normalize(
				    json_object_get_string(val), id))
					goto fail;
				copy = json_object_new_string(id);
			} else if (json_object_deep_copy(val, &copy,
			    NULL) != 0)
				copy = NULL;
		} else if (default_applies(type, p, params))
			copy = json_tokener_parse(p->default_json);
		else
			continue;
		if (copy == NULL)
			goto fail;
		if (json_object_object_add(out, p->name, copy) != 0) {
			json_object_put(copy);
			goto fail;
		}
	}
	return out;
fail:
	json_object_put(out);
	return NULL;
}

/*
 * Order of checks: the shape of params, then unknown names (a misspelt
 * name is reported as such, not as the required one it was meant to be),
 * then each declared parameter in order, then the cross-field rules.  The
 * first failure is reported.
 */
bool
tasktype_validate(const struct task_type *type, struct json_object *params,
    struct json_object **normalized, char *field, size_t fieldlen,
    char *detail, size_t detaillen)
{
	struct verdict		 v = { field, fieldlen, detail, detaillen };
	const struct param_spec	*p;
	struct json_object	*val;
	char			 name[sizeof("parameters.") + ECHO_NAME_MAX * 4 +
				    sizeof("...")];
	size_t			 cut;

	assert(type != NULL);
	if (normalized != NULL)
		*normalized = NULL;
	if (fieldlen > 0)
		field[0] = '\0';
	if (detaillen > 0)
		detail[0] = '\0';

	if (params != NULL && !json_object_is_type(params, json_type_object))
		return reject(&v, "parameters", "must be a JSON object, not %s",
		    json_kind(params));

	if (params != NULL) {
		json_object_object_foreach(params, key, unused) {
			(void)unused;
			if (spec_find(type, key) != NULL)
				continue;
			cut = utf8_prefix(key, ECHO_NAME_MAX);
			snprintf(name, sizeof(name), "parameters.%.*s%s",
			    (int)cut, key, key[cut] != '\0' ? "..." : "");
			return reject(&v, name, "unknown parameter for task "
			    "type %s", type->name);
		}
	}

	for (p = type->params; p->name != NULL; p++) {
		if (params == NULL ||
		    !json_object_object_get_ex(params, p->name, &val)) {
			if (p->required) {
				snprintf(name, sizeof(name), "parameters.%s",
				    p->name);
				return reject(&v, name, "is required");
			}
			continue;
		}
		if (!check_value(&v, p, val))
			return false;
	}

	if (!check_rules(&v, type, params))
		return false;

	if (normalized != NULL &&
	    (*normalized = normalize(type, params)) == NULL)
		return reject_nomem(&v);
	return true;
}

/* ---- rendering ----------------------------------------------------------- */

/* Adds key: val to obj, taking val; false (val released) on failure. */
static bool
add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (val == NULL)
		return false;
	if (json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		return false;
	}
	return true;
}

static struct json_object *
string_array(const char *const *list)
{
	struct json_object	*arr, *s;
	size_t			 i;

	if ((arr = json_object_new_array()) == NULL)
		return NULL;
	for (i = 0; list[i] != NULL; i++) {
		if ((s = json_object_new_string(list[i])) == NULL ||
		    json_object_array_add(arr, s) != 0) {
			json_object_put(s);
			json_object_put(arr);
			return NULL;
		}
	}
	return arr;
}

/* A schema for one email address, for email and for list items. */
static struct json_object *
email_schema(void)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	if (!add(o, "type", json_object_new_string("string")) ||
	    !add(o, "format", json_object_new_string("email")) ||
	    !add(o, "maxLength", json_object_new_int(EMAIL_MAX))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/*
 * One parameter as a JSON-Schema-like object the UI builds its form and
 * client-side checks from: "type" in JSON Schema's words (an array of two
 * for email lists, which take a string or an array), "kind" in taskq's.
 */
static struct json_object *
param_to_json(const struct param_spec *p)
{
	struct json_object	*o, *types = NULL;
	const char		*both[] = { "string", "array", NULL };
	bool			 ok = true;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	switch (p->kind) {
	case PARAM_STRING:
	case PARAM_ENUM:
	case PARAM_EMAIL:
	case PARAM_UUID:
		ok = add(o, "type", json_object_new_string("string"));
		break;
	case PARAM_INTEGER:
		ok = add(o, "type", json_object_new_string("integer"));
		break;
	case PARAM_BOOLEAN:
		ok = add(o, "type", json_object_new_string("boolean"));
		break;
	case PARAM_EMAIL_LIST:
		types = string_array(both);
		ok = add(o, "type", types);
		break;
	case PARAM_KIND__MAX:
		break;
	}
	ok = ok && add(o, "kind", json_object_new_string(
	    param_kind_names[p->kind]));
	ok = ok && add(o, "required", json_object_new_boolean(p->required));

	switch (p->kind) {
	case PARAM_STRING:
		if (p->single_char) {
			ok = ok && add(o, "minLength", json_object_new_int64(1));
			ok = ok && add(o, "maxLength", json_object_new_int64(1));
		} else if (p->max_bytes) {
			/* Not JSON Schema's maxLength, which counts characters. */
			ok = ok && add(o, "maxBytes",
			    json_object_new_int64(p->max));
		} else {
			if (p->min > 0)
				ok = ok && add(o, "minLength",
				    json_object_new_int64(p->min));
			if (p->max > 0)
				ok = ok && add(o, "maxLength",
				    json_object_new_int64(p->max));
		}
		if (p->no_newlines)
			ok = ok && add(o, "pattern",
			    json_object_new_string("^[^\\r\\n]*$"));
		break;
	case PARAM_INTEGER:
		ok = ok && add(o, "minimum", json_object_new_int64(p->min));
		ok = ok && add(o, "maximum", json_object_new_int64(p->max));
		break;
	case PARAM_ENUM:
		ok = ok && add(o, "enum", string_array(p->choices));
		break;
	case PARAM_EMAIL:
		ok = ok && add(o, "format", json_object_new_string("email"));
		ok = ok && add(o, "maxLength", json_object_new_int(EMAIL_MAX));
		break;
	case PARAM_EMAIL_LIST:
		ok = ok && add(o, "format", json_object_new_string("email"));
		ok = ok && add(o, "items", email_schema());
		ok = ok && add(o, "minItems", json_object_new_int64(p->min));
		ok = ok && add(o, "maxItems", json_object_new_int64(p->max));
		break;
	case PARAM_UUID:
		ok = ok && add(o, "format", json_object_new_string("uuid"));
		break;
	case PARAM_BOOLEAN:
	case PARAM_KIND__MAX:
		break;
	}
	if (p->default_json != NULL)
		ok = ok && add(o, "default", json_tokener_parse(p->default_json));
	ok = ok && add(o, "description", json_object_new_string(
	    p->description != NULL ? p->description : ""));
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* A rule as {"exactly_one_of": [a, b], "description": ...} and the like. */
static struct json_object *
rule_to_json(const struct param_rule *r)
{
	struct json_object	*o;
	const char		*pair[] = { r->a, r->b, NULL };
	const char		*with[] = { r->b, r->c, NULL };
	char			 text[256];
	bool			 ok = true;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	switch (r->kind) {
	case RULE_EXACTLY_ONE:
		ok = add(o, "exactly_one_of", string_array(pair));
		snprintf(text, sizeof(text), "Give exactly one of %s or %s.",
		    r->a, r->b);
		break;
	case RULE_AT_LEAST_ONE:
		ok = add(o, "at_least_one_of", string_array(pair));
		snprintf(text, sizeof(text), "Give %s, %s or both.",
		    r->a, r->b);
		break;
	case RULE_REQUIRES_BOTH:
		ok = add(o, "param", json_object_new_string(r->a)) &&
		    add(o, "requires_all_of", string_array(with));
		snprintf(text, sizeof(text), "%s is allowed only when both "
		    "%s and %s are given.", r->a, r->b, r->c);
		break;
	case RULE__MAX:
		text[0] = '\0';
		break;
	}
	ok = ok && add(o, "description", json_object_new_string(text));
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *
tasktype_to_json(const struct task_type *type)
{
	struct json_object	*o, *params = NULL, *rules = NULL, *item;
	const struct param_spec	*p;
	const struct param_rule	*r;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	if (!add(o, "name", json_object_new_string(type->name)) ||
	    !add(o, "description", json_object_new_string(type->description)))
		goto fail;

	if ((params = json_object_new_object()) == NULL ||
	    !add(o, "parameters", params))
		goto fail;
	for (p = type->params; p->name != NULL; p++)
		if (!add(params, p->name, param_to_json(p)))
			goto fail;

	if ((rules = json_object_new_array()) == NULL ||
	    !add(o, "rules", rules))
		goto fail;
	for (r = type->rules; r->kind != RULE__MAX; r++) {
		if ((item = rule_to_json(r)) == NULL)
			goto fail;
		if (json_object_array_add(rules, item) != 0) {
			json_object_put(item);
			goto fail;
		}
	}

	if (!add(o, "default_timeout_s",
	    json_object_new_int(type->default_timeout_s)) ||
	    !add(o, "default_max_attempts",
	    json_object_new_int(type->default_max_attempts)))
		goto fail;
	return o;
fail:
	/* params and rules, once added, belong to o. */
	json_object_put(o);
	return NULL;
}

struct json_object *
tasktype_all_to_json(void)
{
	struct json_object	*arr, *t;
	size_t			 i;

	if ((arr = json_object_new_array()) == NULL)
		return NULL;
	for (i = 0; i < TYPE__MAX; i++) {
		if ((t = tasktype_to_json(&task_types[i])) == NULL)
			goto fail;
		if (json_object_array_add(arr, t) != 0) {
			json_object_put(t);
			goto fail;
		}
	}
	return arr;
fail:
	json_object_put(arr);
	return NULL;
}
