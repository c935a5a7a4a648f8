/*
 * taskq: command line, configuration and dispatch; each command is in
 * cmd_tasks.c or cmd_admin.c.  Reads the same configuration file as the
 * daemons for the database path, state directory and busy timeout.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

static int (*const cmds[CMD__MAX])(struct cli_ctx *) = {
	cmd_submit,	/* CMD_SUBMIT */
	cmd_list,	/* CMD_LIST */
	cmd_show,	/* CMD_SHOW */
	cmd_cancel,	/* CMD_CANCEL */
	cmd_retry,	/* CMD_RETRY */
	cmd_stats,	/* CMD_STATS */
	cmd_runners,	/* CMD_RUNNERS */
	cmd_pause,	/* CMD_PAUSE */
	cmd_resume,	/* CMD_RESUME */
	cmd_purge,	/* CMD_PURGE */
	cmd_backup,	/* CMD_BACKUP */
	cmd_migrate,	/* CMD_MIGRATE */
	cmd_check,	/* CMD_CHECK */
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: taskq [-hj] [-f config] [-d database] command [argument ...]\n"
	    "\n"
	    "commands:\n"
	    "  submit [-p priority] [-a max_attempts] [-T timeout_s] [-r run_at]\n"
	    "         [-k idempotency_key] type [key=value ...]\n"
	    "  list [-s status] [-t type] [-q query] [-n limit]\n"
	    "  show id\n"
	    "  cancel id\n"
	    "  retry id\n"
	    "  stats\n"
	    "  runners\n"
	    "  pause type\n"
	    "  resume type\n"
	    "  purge -o age\n"
	    "  backup file\n"
	    "  migrate\n"
	    "  check\n"
	    "\n"
	    "exit status: 0 ok, 1 error, 2 usage or invalid input, 3 not found,\n"
	    "4 conflict, 5 database busy.  See taskq(1).\n");
}

/*
 * The file of an SQLite database string (without its "sqlite:" or
 * "sqlite://" prefix), or NULL for a PostgreSQL one, which names no file.
 */
static const char *
database_file(const char *db)
{
	if (store_is_postgresql(db))
		return NULL;
	if (strncmp(db, "sqlite://", 9) == 0)
		return db + 9;
	if (strncmp(db, "sqlite:", 7) == 0)
		return db + 7;
	return db;
}

/*
 * Reports a store failure once, with the handle's detail, and returns the
 * exit status it maps to.
 */
int
cli_store_fail(struct cli_ctx *ctx, enum store_err err, const char *what)
{
	log_warnx("%s: %s: %s", what, store_strerror(err),
	    store_errmsg(ctx->st));
	switch (err) {
	case STORE_NOTFOUND:
		return CLI_EXIT_NOTFOUND;
	case STORE_CONFLICT:
		return CLI_EXIT_CONFLICT;
	case STORE_BUSY:
		return CLI_EXIT_BUSY;
	case STORE_INVALID:
		return CLI_EXIT_USAGE;
	default:
		return CLI_EXIT_ERROR;
	}
}

int
main(int argc, char *argv[])
{
	struct cli_args	 args;
	struct cli_ctx	 ctx;
	enum store_err	 err;
	const char	*conf, *file;
	char		 msg[1024];
	int		 rc = CLI_EXIT_ERROR;

	log_init("taskq", LOG_LEVEL_INFO);
	memset(&ctx, 0, sizeof(ctx));
	ctx.args = &args;
	ctx.out = stdout;

	if (!cli_parse(argc, argv, &args, msg, sizeof(msg))) {
		fprintf(stderr, "taskq: %s\n", msg);
		usage(stderr);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (args.help) {
		usage(stdout);
		rc = CLI_EXIT_OK;
		goto out;
	}

	conf = args.config_path != NULL ? args.config_path :
	    SYSCONFDIR "/taskq/taskq.conf";
	if (!config_load(&ctx.cfg, conf, args.config_path != NULL, msg,
	    sizeof(msg))) {
		log_warnx("%s", msg);
		goto out;
	}
	if (args.database != NULL && (!config_set(&ctx.cfg, "database",
	    args.database, msg, sizeof(msg)) ||
	    !config_check(&ctx.cfg, msg, sizeof(msg)))) {
		log_warnx("-d: %s", msg);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	file = database_file(ctx.cfg.database);
	if (file != NULL && !priv_drop_to_owner(file, msg, sizeof(msg))) {
		log_warnx("%s", msg);
		goto out;
	}

	if (args.cmd != CMD_MIGRATE) {
		/*
		 * A mistyped path must not quietly create an empty queue (a
		 * PostgreSQL URL names no file: opening checks the schema).
		 */
		if (file != NULL && access(file, F_OK) == -1) {
			if (errno == ENOENT)
				log_warnx("%s: no such database (\"taskq migrate\" "
				    "creates it)", file);
			else
				log_warn("%s", file);
			goto out;
		}
		err = store_open(ctx.cfg.database, STORE_OPEN_NOMIGRATE,
		    ctx.cfg.busy_timeout_ms, &ctx.st, msg, sizeof(msg));
		if (err != STORE_OK) {
			log_warnx("%s%s", msg, err == STORE_VERSION ?
			    " (run \"taskq migrate\")" : "");
			rc = err == STORE_BUSY ? CLI_EXIT_BUSY : CLI_EXIT_ERROR;
			goto out;
		}
	}
	rc = cmds[args.cmd](&ctx);
	if (output_done(&ctx) != CLI_EXIT_OK && rc == CLI_EXIT_OK)
		rc = CLI_EXIT_ERROR;
out:
	store_close(ctx.st);
	cli_args_free(&args);
	return rc;
}
