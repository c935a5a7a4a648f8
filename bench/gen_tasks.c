/*
 * gen_tasks: fills a taskq database with many echo tasks for bench/api,
 * through the store's own interface (store_task_submit_many in big
 * batches, then claim and finish) so the rows, counters and search index
 * are exactly what the programs would have written.  About 80% end
 * SUCCESS, 10% FAILED, the rest stay PENDING.
 *
 *	gen_tasks -d DB -n COUNT
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "task.h"

#define BATCH		10000
#define CLAIM_BATCH	1000

/* Words the messages draw on, so that q= searches hit a varied share. */
static const char *const words[] = {
	"invoice", "receipt", "report", "backup", "thumbnail", "newsletter",
	"payroll", "export", "import", "reminder", "digest", "archive",
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
	"hotel", "india", "juliet", "kilo", "lima", "mike", "november",
	"oscar", "papa", "quebec", "romeo", "sierra", "tango",
};
#define NWORDS	(sizeof(words) / sizeof(words[0]))

static void __attribute__((noreturn))
die(const char *what, struct store *st, enum store_err err)
{
	fprintf(stderr, "gen_tasks: %s: %s: %s\n", what, store_strerror(err),
	    st != NULL ? store_errmsg(st) : "");
	exit(1);
}

static uint64_t	 rng = 0x853c49e6748fea9bULL;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

int
main(int argc, char *argv[])
{
	struct store	*st = NULL;
	struct task_new	*tns;
	struct task	**outs, **claimed;
	struct task_finish *fin;
	enum store_err	*errs, err;
	bool		*existed;
	char		 errbuf[512], (*params)[160];
	const char	*db = NULL;
	long long	 count = 0, done, i;
	size_t		 n, j, nclaimed;
	int		 ch;

	while ((ch = getopt(argc, argv, "d:n:")) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'n':
			count = strtoll(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (db == NULL || count <= 0)
		goto usage;

	if ((err = store_open(db, 0, 60000, &st, errbuf, sizeof(errbuf))) != STORE_OK) {
		fprintf(stderr, "gen_tasks: %s\n", errbuf);
		return 1;
	}
	tns = calloc(BATCH, sizeof(*tns));
	outs = calloc(BATCH, sizeof(*outs));
	errs = calloc(BATCH, sizeof(*errs));
	existed = calloc(BATCH, sizeof(*existed));
	params = calloc(BATCH, sizeof(*params));
	fin = calloc(CLAIM_BATCH, sizeof(*fin));
	if (tns == NULL || outs == NULL || errs == NULL || existed == NULL ||
	    params == NULL || fin == NULL) {
		fprintf(stderr, "gen_tasks: out of memory\n");
		return 1;
	}

	for (done = 0; done < count; done += (long long)n) {
		n = count - done < BATCH ? (size_t)(count - done) : BATCH;
		for (j = 0; j < n; j++) {
			i = done + (long long)j;
			snprintf(params[j], sizeof(params[j]),
			    "{\"message\":\"task %lld %s %s %s\",\"delay_ms\":0,"
			    "\"fail\":false}", i, words[rnd() % NWORDS],
			    words[rnd() % NWORDS], words[rnd() % 8]);
			memset(&tns[j], 0, sizeof(tns[j]));
			tns[j].task_type = "echo";
			tns[j].parameters = params[j];
			tns[j].priority = (int)(rnd() % 3) - 1;
			tns[j].max_attempts = 1;
			tns[j].timeout_s = 60;
		}
		if ((err = store_task_submit_many(st, tns, n, outs, existed,
		    errs)) != STORE_OK)
			die("submit", st, err);
		for (j = 0; j < n; j++) {
			if (errs[j] != STORE_OK)
				die("submit item", st, errs[j]);
			task_free(outs[j]);
		}
	}
	fprintf(stderr, "gen_tasks: %lld tasks submitted\n", count);

	/* Run 90% of them: claim and finish in batches. */
	for (done = 0; done < count * 9 / 10; done += (long long)nclaimed) {
		if ((err = store_task_claim(st, "gen_tasks", CLAIM_BATCH, &claimed,
		    &nclaimed)) != STORE_OK)
			die("claim", st, err);
		if (nclaimed == 0) {
			free(claimed);
			break;
		}
		for (j = 0; j < nclaimed; j++) {
			memset(&fin[j], 0, sizeof(fin[j]));
			fin[j].id = claimed[j]->id;
			fin[j].claim_token = claimed[j]->claim_token;
			if (rnd() % 9 == 0) {
				fin[j].outcome = OUTCOME_FAILED;
				fin[j].error_message = "requested failure";
			} else {
				fin[j].outcome = OUTCOME_SUCCESS;
				fin[j].result_data = "{\"message\":\"done\",\"elapsed_ms\":0}";
			}
		}
		if ((err = store_task_finish_many(st, fin, nclaimed, errs)) != STORE_OK)
			die("finish", st, err);
		for (j = 0; j < nclaimed; j++)
			task_free(claimed[j]);
		free(claimed);
	}
	fprintf(stderr, "gen_tasks: %lld tasks finished\n", done);
	free(tns);
	free(outs);
	free(errs);
	free(existed);
	free(params);
	free(fin);
	store_close(st);
	return 0;
usage:
	fprintf(stderr, "usage: gen_tasks -d database -n count\n");
	return 1;
}
