/*
 * The task-type registry.  Each type declares its parameters as data (name,
 * kind, required, bounds, default, description); one generic validator checks
 * a submitted parameters object against the declaration and names the
 * offending field, and the same declaration renders GET /api/task-types.
 * Adding a type is adding a table entry here and a worker in runner/.
 */
#ifndef TASKQ_TASKTYPE_H
#define TASKQ_TASKTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

enum param_kind {
	PARAM_STRING,
	PARAM_INTEGER,
	PARAM_BOOLEAN,
	PARAM_ENUM,		/* a string from a fixed list */
	PARAM_EMAIL_LIST,	/* one address string or an array of them */
	PARAM_EMAIL,		/* one address string */
	PARAM_UUID,		/* a file id */
	PARAM_KIND__MAX
};

extern const char *const param_kind_names[PARAM_KIND__MAX];

struct param_spec {
	const char	*name;
	enum param_kind	 kind;
	bool		 required;
	int64_t		 min, max;	/* INTEGER: value bounds; STRING: length in
					 * characters (max 0 = unbounded); EMAIL_LIST:
					 * number of addresses */
	bool		 no_newlines;	/* STRING: CR, LF (and NUL) refused */
	bool		 single_char;	/* STRING: exactly one character */
	const char	*default_json;	/* default as JSON text, NULL: none */
	const char	*const *choices; /* ENUM: NULL-terminated */
	const char	*description;
	bool		 max_bytes;	/* STRING: max counts bytes, not characters
					 * (data_processing.csv's 1 MiB); appended by
					 * the types helper */
};

/* A rule across parameters, checked after each field is valid. */
enum param_rule_kind {
	RULE_EXACTLY_ONE,	/* exactly one of a, b present */
	RULE_AT_LEAST_ONE,	/* at least one of a, b present */
	RULE_REQUIRES_BOTH,	/* a present only when b and c are (fit needs width and height) */
	RULE__MAX
};

struct param_rule {
	enum param_rule_kind kind;
	const char	*a, *b, *c;
};

enum task_type_id {
	TYPE_ECHO,
	TYPE_DATA_PROCESSING,
	TYPE_EMAIL,
	TYPE_IMAGE_PROCESSING,
	TYPE__MAX
};

struct task_type {
	enum task_type_id	 id;
	const char		*name;
	const char		*description;
	const struct param_spec	*params;	/* terminated by a NULL name */
	const struct param_rule	*rules;		/* terminated by RULE__MAX */
	int			 default_timeout_s;
	int			 default_max_attempts;
};

extern const struct task_type task_types[TYPE__MAX];

/* The type with this exact name, or NULL. */
const struct task_type	*tasktype_find(const char *name);

/*
 * Validates params (a JSON object, or NULL for {}) against type.  On success
 * returns true and, if normalized is not NULL, sets *normalized to a new
 * object (caller owns, json_object_put) holding every given value plus the
 * defaults of the absent ones.  On failure returns false and writes to
 * field (e.g. "parameters.to") and detail a message for the client; neither
 * is truncated below 128 bytes.  Values of the wrong JSON type are rejected,
 * never converted; unknown parameters are rejected.
 */
bool	 tasktype_validate(const struct task_type *type, struct json_object *params,
	    struct json_object **normalized, char *field, size_t fieldlen,
	    char *detail, size_t detaillen);
/*
 * (Appended.)  When validation could not be completed because memory ran
 * out, tasktype_validate returns false with field set to "" (empty): the
 * caller answers that as a server error, not as a 422.
 */

/*
 * The schema of one type as rendered by GET /api/task-types (caller owns;
 * NULL only when out of memory, as for tasktype_all_to_json).
 */
struct json_object	*tasktype_to_json(const struct task_type *type);

/* The array of all types (caller owns). */
struct json_object	*tasktype_all_to_json(void);

/*
 * Whether s is an address of the practical subset taskq accepts:
 * local@domain, dot-atom local part of at most 64 bytes, a domain of
 * LDH labels with a dot, 254 bytes in all; no display name, no quoting.
 * In detail: ASCII only; the local part is RFC 5322 atext (letters, digits
 * and !#$%&'*+-/=?^_`{|}~) in dot-separated atoms, no leading, trailing or
 * doubled dot; the domain is labels of 1..63 letters, digits and hyphens
 * (no hyphen first or last), at least two labels, the last not all digits;
 * no IP literals, no comments, no trailing root dot.  NULL is not valid.
 */
bool	 email_address_valid(const char *s);

#endif /* TASKQ_TASKTYPE_H */
