/*
 * Fuzzes the e-mail task's checks and message builder: email_address_valid
 * (lib/tasktype.c), the email type's parameter validation, and
 * mail_message_from_json + mail_format (lib/mail.c).  The oracles are
 * those that keep a task from injecting into a message: an address the
 * validator accepts is one plain local@domain of the practical subset; a
 * message mail_format builds has only CRLF line ends, no NUL, lines within
 * RFC 5322's 998 characters (76 in the body), and a header section made
 * only of the headers the builder writes, each once, so no field value
 * can start a header of its own.  Parameters the validator accepts must
 * build (validator and worker agree).
 *
 * Input: one byte choosing the mode (0 address, 1 raw parameters, 2
 * validated parameters), then the address or the parameters' JSON text.
 */
#include <config.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "log.h"
#include "mail.h"
#include "tasktype.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

static void
die(const char *why, const char *what)
{
	fprintf(stderr, "fuzz_email: %s\n%.2000s\n", why, what);
	abort();
}

static void
check_address(const char *s)
{
	const char	*at;
	size_t		 i;

	if (!email_address_valid(s))
		return;
	if (strlen(s) > 254 || (at = strchr(s, '@')) == NULL ||
	    strchr(at + 1, '@') != NULL || at == s || at - s > 64 ||
	    strchr(at + 1, '.') == NULL)
		die("accepted an address outside the subset", s);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
		    strchr("<>()[]\\,;:\"", s[i]) != NULL)
			die("accepted an address with a special character", s);
}

/* The header names mail_format writes; each may appear once. */
static const char *const headers[] = {
	"Date", "From", "To", "Cc", "Reply-To", "Subject", "Message-ID",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", NULL,
};

static void
check_message(const char *m)
{
	const char	*line = m, *eol, *colon;
	int		 seen[sizeof(headers) / sizeof(headers[0])];
	size_t		 i, len;
	int		 in_body = 0;

	memset(seen, 0, sizeof(seen));
	for (i = 0; m[i] != '\0'; i++)
		if ((m[i] == '\r' && m[i + 1] != '\n') ||
		    (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')))
			die("a bare CR or LF in the message", m);
	while (*line != '\0') {
		if ((eol = strstr(line, "\r\n")) == NULL)
			die("the message does not end with CRLF", m);
		len = (size_t)(eol - line);
		if (len > 998 || (in_body && len > 76))
			die("a line over its length limit", line);
		if (in_body) {
			if (line[0] == '.')
				die("a body line starts with a dot", line);
		} else if (len == 0) {
			in_body = 1;
		} else if (line[0] != ' ' && line[0] != '\t') {
			if ((colon = memchr(line, ':', len)) == NULL)
				die("a header line without a name", line);
			for (i = 0; headers[i] != NULL; i++)
				if (strlen(headers[i]) == (size_t)(colon - line) &&
				    strncasecmp(headers[i], line,
				    (size_t)(colon - line)) == 0)
					break;
			if (headers[i] == NULL)
				die("a header the builder does not write", line);
			if (seen[i]++)
				die("a header written twice", line);
		}
		line = eol + 2;
	}
	if (!in_body)
		die("no body separator", m);
}

/* Builds the message of params; must_build: the validator accepted them. */
static void
build(struct json_object *params, int must_build)
{
	struct mail_message	 msg;
	char			 err[512], *m;
	bool			 oom = false;

	if (mail_message_from_json(params, &msg, err, sizeof(err)) != MAIL_OK) {
		if (must_build && strstr(err, "memory") == NULL)
			die("validated parameters refused by the worker", err);
		return;
	}
	msg.from = "taskq <taskq@example.org>";
	m = mail_format(&msg, "<00000000-0000-4000-8000-000000000000@example.org>",
	    1764382200123, &oom, err, sizeof(err));
	if (m == NULL) {
		if (must_build && !oom)
			die("validated parameters do not build a message", err);
	} else {
		check_message(m);
		free(m);
	}
	mail_message_release(&msg);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_email", LOG_LEVEL_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener	*tok;
	struct json_object	*v, *norm = NULL;
	char			*s, field[160], detail[512];
	int			 mode;

	if (size == 0)
		return 0;
	mode = data[0] % 3;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (mode == 0) {
		check_address(s);
		free(s);
		return 0;
	}
	if ((tok = json_tokener_new_ex(32)) == NULL) {
		free(s);
		return 0;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	v = json_tokener_parse_ex(tok, (const char *)data + 1, (int)(size - 1));
	json_tokener_free(tok);
	free(s);
	if (v == NULL)
		return 0;
	if (mode == 1)
		build(v, 0);
	else if (json_object_is_type(v, json_type_object) &&
	    tasktype_validate(&task_types[TYPE_EMAIL], v, &norm, field,
	    sizeof(field), detail, sizeof(detail))) {
		build(norm, 1);
		json_object_put(norm);
	}
	json_object_put(v);
	return 0;
}
