/*
 * Fuzzes the data_processing engine: the streaming RFC 4180 parser
 * (lib/csv.c) and the column statistics (lib/csvstats.c).  Each input is
 * analysed once whole (csvstats_analyze_buffer) and once fed in pieces of
 * pseudo-random sizes, which must agree exactly: same verdict, same error
 * message, same result text.  A result must be a JSON object that prints
 * as valid JSON and reads back; an error must name its line.  Small
 * limits (field size, columns) make their error paths reachable.
 *
 * Input: one byte of options (delimiter from a small set, header or not),
 * then the CSV text.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "csvstats.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

static void
die(const char *why, const char *a, const char *b)
{
	fprintf(stderr, "fuzz_csv: %s\n  whole: %.400s\n  pieces: %.400s\n",
	    why, a, b);
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
	static const char	 delims[8] = { ',', ';', '\t', '|', ' ', ':', 'x', '#' };
	struct csv_options	 o;
	struct csvstats		*st;
	struct json_object	*ra = NULL, *rb = NULL, *back;
	enum csv_err		 ea, eb, e;
	char			 erra[512], errb[512];
	const char		*ta, *tb;
	uint32_t		 seed = 2166136261u;
	size_t			 off, n, i;

	if (size == 0)
		return 0;
	csv_options_init(&o);
	o.delimiter = delims[data[0] & 7];
	o.has_header = (data[0] & 8) != 0;
	o.max_field_bytes = (data[0] & 16) ? 64 : 0;
	o.max_columns = (data[0] & 32) ? 8 : 0;
	data++;
	size--;
	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;

	erra[0] = errb[0] = '\0';
	ea = csvstats_analyze_buffer((const char *)data, size, &o, NULL, NULL,
	    &ra, erra, sizeof(erra));

	if ((st = csvstats_new(&o, &e)) == NULL) {
		if (e == CSV_ENOMEM)
			return 0;
		die("csvstats_new refused valid options", "", "");
	}
	eb = CSV_OK;
	for (off = 0; off < size && eb == CSV_OK; off += n) {
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % ((seed & 1) ? 4 : 300);
		if (n > size - off)
			n = size - off;
		eb = csvstats_feed(st, (const char *)data + off, n);
	}
	if (eb == CSV_OK)
		eb = csvstats_finish(st, &rb);
	snprintf(errb, sizeof(errb), "%s", csvstats_errmsg(st));
	csvstats_free(st);

	if (ea == CSV_ENOMEM || eb == CSV_ENOMEM)
		goto out;
	if (ea != eb)
		die("whole and pieces disagree on the verdict", erra, errb);
	if (ea != CSV_OK) {
		if (ra != NULL || rb != NULL)
			die("a result after an error", erra, errb);
		if (strcmp(erra, errb) != 0)
			die("whole and pieces give different errors", erra, errb);
		if (ea == CSV_ESYNTAX && strncmp(erra, "line ", 5) != 0)
			die("a syntax error that names no line", erra, errb);
		goto out;
	}
	if (ra == NULL || rb == NULL || !json_object_is_type(ra, json_type_object))
		die("success without a result object", "", "");
	ta = json_object_to_json_string_ext(ra, JSON_C_TO_STRING_PLAIN);
	tb = json_object_to_json_string_ext(rb, JSON_C_TO_STRING_PLAIN);
	if (ta == NULL || tb == NULL)
		goto out;
	if (strcmp(ta, tb) != 0)
		die("whole and pieces give different results", ta, tb);
	if ((back = json_tokener_parse(ta)) == NULL)
		die("the result does not read back as JSON", ta, "");
	json_object_put(back);
out:
	json_object_put(ra);
	json_object_put(rb);
	return 0;
}
