/*
 * taskq, the operators' and scripts' command: reads and writes the queue's
 * database directly through the store (lib/store.h), as taskq-api does.
 * This header is the map of the program: one section per source file.
 */
#ifndef TASKQ_CLI_H
#define TASKQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../lib/config.h"
#include "store.h"

struct json_object;

/* Exit statuses, documented in taskq(1). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,	/* anything else: database, I/O, check found problems */
	CLI_EXIT_USAGE = 2,	/* bad command line or invalid input */
	CLI_EXIT_NOTFOUND = 3,	/* no such task or task type */
	CLI_EXIT_CONFLICT = 4,	/* the task is not in a state that allows it */
	CLI_EXIT_BUSY = 5,	/* the database stayed locked: try again */
};

enum cli_cmd {
	CMD_SUBMIT,
	CMD_LIST,
	CMD_SHOW,
	CMD_CANCEL,
	CMD_RETRY,
	CMD_STATS,
	CMD_RUNNERS,
	CMD_PAUSE,
	CMD_RESUME,
	CMD_PURGE,
	CMD_BACKUP,
	CMD_MIGRATE,
	CMD_CHECK,
	CMD__MAX
};

extern const char *const cli_cmd_names[CMD__MAX];

#define CLI_LIST_DEFAULT	50
#define CLI_LIST_MAX		100000

/* The parsed command line.  Strings are borrowed from argv unless noted. */
struct cli_args {
	const char	*config_path;	/* -f; NULL: the default file, if any */
	const char	*database;	/* -d; NULL: from the configuration */
	bool		 json;		/* -j, --json: machine-readable output */
	bool		 help;		/* -h: usage on stdout */
	enum cli_cmd	 cmd;
	const char	*operand;	/* the ID, TYPE or FILE, else NULL */

	/* submit */
	char *const	*params;	/* "key=value" operands after the type */
	size_t		 nparams;
	int		 priority;	/* -100..100 */
	int		 max_attempts;	/* 0: the type's default */
	int		 timeout_s;	/* 0: the type's default */
	int64_t		 run_at;	/* ms; 0: now */
	const char	*idempotency_key; /* NULL: none */

	/* list */
	unsigned	 status_mask;	/* bit (1u << enum task_status); 0: any */
	char		**types;	/* owned, with typebuf; NULL: any */
	size_t		 ntypes;
	char		*typebuf;	/* owned copy of the --type value */
	const char	*q;		/* full-text query */
	size_t		 limit;		/* 1..CLI_LIST_MAX */

	/* purge */
	int64_t		 older_than_ms;	/* > 0 */
};

/* Everything a command works with. */
struct cli_ctx {
	const struct cli_args	*args;
	struct config		 cfg;
	struct store		*st;		/* open, except for migrate */
	FILE			*out;		/* stdout */
};

/* args.c */
bool		 cli_parse(int argc, char *argv[], struct cli_args *,
		    char *err, size_t errlen);
void		 cli_args_free(struct cli_args *);	/* frees owned members */
bool		 cli_duration_parse(const char *, int64_t *ms);
struct json_object *cli_value_parse(const char *text, bool *is_null);
struct json_object *cli_params_build(char *const *kv, size_t n, char *err,
		    size_t errlen);

/* cmd_admin.c */
int		 cmd_stats(struct cli_ctx *);
int		 cmd_runners(struct cli_ctx *);
int		 cmd_pause(struct cli_ctx *);
int		 cmd_resume(struct cli_ctx *);
int		 cmd_purge(struct cli_ctx *);
int		 cmd_backup(struct cli_ctx *);
int		 cmd_migrate(struct cli_ctx *);
int		 cmd_check(struct cli_ctx *);

/* cmd_tasks.c */
int		 cmd_submit(struct cli_ctx *);
int		 cmd_list(struct cli_ctx *);
int		 cmd_show(struct cli_ctx *);
int		 cmd_cancel(struct cli_ctx *);
int		 cmd_retry(struct cli_ctx *);

/* main.c */
int		 cli_store_fail(struct cli_ctx *, enum store_err, const char *what);

/* output.c */
struct table;
struct table	*table_new(size_t ncols, const char *const *headers,
		    const char *align);
bool		 table_add(struct table *, const char *const *cells);
void		 table_print(const struct table *, FILE *);
void		 table_free(struct table *);
struct json_object *task_json(const struct task *, bool detail);
void		 time_or_dash(int64_t ms, char *buf);
int		 json_print(struct cli_ctx *, struct json_object *);
int		 output_done(struct cli_ctx *);

/* priv.c */
bool		 priv_drop_to_owner(const char *dbpath, char *err, size_t errlen);

#endif /* TASKQ_CLI_H */
