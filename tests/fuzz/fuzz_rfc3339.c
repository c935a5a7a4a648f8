/*
 * Fuzzes the time and id parsers of lib/task.c: time_parse_rfc3339 (the
 * submit body's run_at) and task_id_normalize (every {id} in a path).  A
 * time that parses must, within the years 0000..9999, print
 * (time_format_rfc3339) as text that parses back to the same instant, and
 * the API's own printer (json_put_time, fcgi/buf.c) must print the same
 * text.  An id that normalizes is 36 bytes of lowercase canonical UUID,
 * and normalizing it again changes nothing.
 *
 * Input: the text (up to its first NUL byte).
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "task.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define MIN_MS	INT64_C(-62167219200000)	/* 0000-01-01T00:00:00Z */
#define MAX_MS	INT64_C(253402300799999)	/* 9999-12-31T23:59:59.999Z */

static void
die(const char *why, const char *in, const char *out)
{
	fprintf(stderr, "fuzz_rfc3339: %s: '%s' -> '%s'\n", why, in, out);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 b = { NULL, 0, 0 };
	char		*s, text[TIME_RFC3339_LEN + 1], id[TASK_ID_LEN + 1];
	char		 id2[TASK_ID_LEN + 1];
	int64_t		 ms, back;
	size_t		 i;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (time_parse_rfc3339(s, &ms) && ms >= MIN_MS && ms <= MAX_MS) {
		time_format_rfc3339(ms, text);
		if (strlen(text) != TIME_RFC3339_LEN)
			die("printed time has the wrong length", s, text);
		if (!time_parse_rfc3339(text, &back) || back != ms)
			die("printed time does not parse back", s, text);
		if (ms != 0) {
			json_put_time(&b, ms);
			if (buf_failed(&b))
				goto out;
			if (b.len != TIME_RFC3339_LEN + 2 ||
			    memcmp(b.p + 1, text, TIME_RFC3339_LEN) != 0)
				die("json_put_time and time_format_rfc3339 "
				    "disagree", text, b.p);
		}
	}

	if (task_id_normalize(s, id)) {
		if (strlen(id) != TASK_ID_LEN)
			die("normalized id has the wrong length", s, id);
		for (i = 0; i < TASK_ID_LEN; i++)
			if ((i == 8 || i == 13 || i == 18 || i == 23) ?
			    id[i] != '-' : strchr("0123456789abcdef", id[i]) ==
			    NULL || id[i] == '\0')
				die("normalized id is not canonical", s, id);
		if (!task_id_normalize(id, id2) || strcmp(id, id2) != 0)
			die("normalizing an id twice changes it", id, id2);
	}
out:
	buf_release(&b);
	free(s);
	return 0;
}
