/*
 * Fuzzes the query string of GET /api/tasks: taskq-api's real handler
 * (fcgi/tasks.c h_task_list) with the query parser of fcgi/request.c
 * (%-escapes, '+', repeated and unknown names, UTF-8), the status, type,
 * limit and cursor parsers, and the full-text query handed to the store,
 * which here is a real SQLite store holding a few tasks, so FTS5's query
 * syntax meets hostile input too.  Every answer must be 200, 422 or 503
 * with a JSON body.  The same string also goes through req_query with no
 * parameters allowed, as the dispatcher does for every other route: it
 * must either pass (an empty string) or answer 422.
 *
 * Input: the query string (up to its first NUL byte, as FastCGI cannot
 * carry one).
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/config.h"
#include "fuzz_fcgi.h"
#include "log.h"
#include "store.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

static struct fake_fcgi	 fake;
static char		 dir[64], db[128];

static void
cleanup(void)
{
	char	 p[160];

	store_close(fake.w.store);
	fake.w.store = NULL;
	fake_free(&fake);
	unlink(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const params[] = {
		"{\"message\": \"invoice 42\"}", "{\"message\": \"smtp timeout\"}",
		"{\"message\": \"\\u00e9t\\u00e9 caf\\u00e9\"}",
	};
	struct task_new	 tn;
	struct task	*t;
	bool		 existed;
	char		 err[512];
	size_t		 i;

	(void)argc;
	(void)argv;
	log_init("fuzz_query", LOG_LEVEL_ERROR);
	if (!fake_init(&fake))
		abort();
	snprintf(dir, sizeof(dir), "%s/taskq-fuzz-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(db, sizeof(db), "%s/taskq.db", dir);
	if (store_open(db, 0, 1000, &fake.w.store, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	atexit(cleanup);
	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.max_attempts = 1;
	tn.timeout_s = 60;
	for (i = 0; i < 30; i++) {
		tn.parameters = params[i % 3];
		tn.priority = (int)(i % 5) - 2;
		if (store_task_submit(fake.w.store, &tn, &t, &existed) != STORE_OK)
			abort();
		task_free(t);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	 list_allowed[] = { 200, 422, 503, 0 };
	static const int	 none_allowed[] = { 422, 503, 0 };
	char			*qs;

	if ((qs = malloc(size + 1)) == NULL)
		return 0;
	memcpy(qs, data, size);
	qs[size] = '\0';

	fake_request(&fake, "GET", "/api/tasks", NULL, 0);
	fake_param(&fake, "QUERY_STRING", qs);
	h_task_list(&fake.r);
	fake_check_response(&fake, list_allowed);

	fake_request(&fake, "GET", "/api/stats", NULL, 0);
	fake_param(&fake, "QUERY_STRING", qs);
	if (req_query(&fake.r, NULL, 0) == -1)
		fake_check_response(&fake, none_allowed);
	else if (fake.r.status != 0 || qs[strspn(qs, "&")] != '\0') {
		fprintf(stderr, "req_query accepted parameters no route takes: "
		    "'%s'\n", qs);
		abort();
	}
	fake_end(&fake);
	free(qs);
	return 0;
}
