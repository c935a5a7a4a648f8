/*
 * Fuzzes the taskq.conf parser (lib/config.c config_load) on a file whose
 * contents are the input.  A file that loads must pass config_check and
 * survive a round trip: what config_dump writes loads again and dumps to
 * the same text.  A file that does not load must leave the configuration
 * as it was (a failed SIGHUP reload keeps the running one) and say why,
 * naming the file.
 *
 * Input: the file's bytes.
 */
#include <config.h>

#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/config.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

static int	 fd = -1;
static char	 path[64];

static void
die(const char *why, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s\n%.3000s\n", why, detail);
	abort();
}

/* Replaces the memory file's contents. */
static void
file_set(const void *p, size_t n)
{
	if (ftruncate(fd, 0) == -1 || pwrite(fd, p, n, 0) != (ssize_t)n)
		die("cannot write the memory file", "");
}

/* config_dump's text (caller frees). */
static char *
dump(const struct config *cfg, size_t *len)
{
	char	*p = NULL;
	FILE	*fp;

	if ((fp = open_memstream(&p, len)) == NULL)
		die("open_memstream", "");
	config_dump(cfg, fp);
	if (fclose(fp) != 0)
		die("fclose of the memory stream", "");
	return p;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_config", LOG_LEVEL_ERROR);
	if ((fd = memfd_create("taskq.conf", 0)) == -1)
		die("memfd_create", "");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config	 cfg, before, again;
	char			 err[1024], *d1, *d2;
	size_t			 l1, l2;

	memset(&cfg, 0x5a, sizeof(cfg));
	cfg.database[0] = '\0';
	before = cfg;
	file_set(data, size);
	if (!config_load(&cfg, path, true, err, sizeof(err))) {
		if (memcmp(&cfg, &before, sizeof(cfg)) != 0)
			die("a failed load changed the configuration", err);
		if (strncmp(err, path, strlen(path)) != 0)
			die("the error does not name the file", err);
		return 0;
	}
	if (!config_check(&cfg, err, sizeof(err)))
		die("a loaded configuration fails config_check", err);
	d1 = dump(&cfg, &l1);
	file_set(d1, l1);
	if (!config_load(&again, path, true, err, sizeof(err)))
		die("config_dump's text does not load", d1);
	d2 = dump(&again, &l2);
	if (l1 != l2 || memcmp(d1, d2, l1) != 0)
		die("config_dump's text loads to something else", d2);
	free(d1);
	free(d2);
	return 0;
}
