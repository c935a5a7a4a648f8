/*
 * taskq-runner: command line, configuration and start-up; the work is in
 * loop.c.  Stays in the foreground and logs to stderr (journald under
 * systemd, Type=notify); never daemonizes.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "runner.h"

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: taskq-runner [-hnv] [-f config] [-d database] [-s state_dir]"
	    " [-j slots]\n"
	    "                    [-o key=value ...]\n");
	exit(status);
}

/* Appends "key=value" to the override list (the strings are built here). */
static void
add_override(struct runner_opts *o, const char *key, const char *value)
{
	char	**n, *kv;

	if ((n = reallocarray(o->overrides, o->noverrides + 1, sizeof(*n))) == NULL)
		fatal("reallocarray");
	o->overrides = n;
	if (key == NULL)
		kv = strdup(value);
	else if (asprintf(&kv, "%s=%s", key, value) == -1)
		kv = NULL;
	if (kv == NULL)
		fatal("strdup");
	o->overrides[o->noverrides++] = kv;
}

int
main(int argc, char *argv[])
{
	struct runner_opts	 opts;
	struct config		 cfg;
	char			 err[1024];
	int			 ch, rc;
	bool			 check = false, verbose = false;
	size_t			 i;

	memset(&opts, 0, sizeof(opts));
	log_init("taskq-runner", LOG_LEVEL_INFO);

	/* -d, -s and -j are overrides too, in order, so SIGHUP keeps them. */
	while ((ch = getopt(argc, argv, "hnvf:d:s:j:o:")) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 'n':
			check = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'f':
			opts.config_path = optarg;
			opts.config_must_exist = true;
			break;
		case 'd':
			add_override(&opts, "database", optarg);
			break;
		case 's':
			add_override(&opts, "state_dir", optarg);
			break;
		case 'j':
			add_override(&opts, "slots", optarg);
			break;
		case 'o':
			add_override(&opts, NULL, optarg);
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	if (verbose)
		add_override(&opts, "log_level", "debug");

	if (!runner_config_load(&opts, &cfg, err, sizeof(err)))
		fatalx("%s", err);
	log_set_level(cfg.log_level);
	if (check) {
		fprintf(stderr, "configuration OK\n");
		rc = 0;
	} else
		rc = runner_run(&opts, &cfg);

	for (i = 0; i < opts.noverrides; i++)
		free(opts.overrides[i]);
	free(opts.overrides);
	return rc;
}
