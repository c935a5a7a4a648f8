/*
 * csvbench: runs the data_processing engine (csvstats_analyze_fd) on one
 * file and prints the wall time, the throughput and the peak RSS of the
 * process, for bench/workers-csv.sh.  With -j it prints the result JSON too.
 */
#include <config.h>

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "csv.h"
#include "csvstats.h"

static void
usage(void)
{
	fprintf(stderr, "usage: csvbench [-jn] [-d delimiter] file\n");
	exit(2);
}

static int
progress(void *arg, uint64_t done, uint64_t total)
{
	unsigned	*calls = arg;

	(*calls)++;
	return 0;
}

int
main(int argc, char *argv[])
{
	struct csv_options	 opts;
	struct json_object	*res = NULL;
	struct timespec		 t0, t1;
	struct rusage		 ru;
	char			 err[256];
	unsigned		 calls = 0;
	double			 secs;
	enum csv_err		 e;
	int			 ch, fd, json = 0;
	off_t			 size;

	csv_options_init(&opts);
	while ((ch = getopt(argc, argv, "d:jn")) != -1) {
		switch (ch) {
		case 'd':
			if (strlen(optarg) != 1)
				usage();
			opts.delimiter = optarg[0];
			break;
		case 'j':
			json = 1;
			break;
		case 'n':
			opts.has_header = false;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if ((fd = open(argv[optind], O_RDONLY)) == -1) {
		fprintf(stderr, "csvbench: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	size = lseek(fd, 0, SEEK_END);
	(void)lseek(fd, 0, SEEK_SET);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = csvstats_analyze_fd(fd, 0, &opts, progress, &calls, &res, err,
	    sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	if (e != CSV_OK) {
		fprintf(stderr, "csvbench: %s: %s\n", csv_strerror(e), err);
		return 1;
	}
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	getrusage(RUSAGE_SELF, &ru);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PRETTY));
	printf("seconds %.4f MB/s %.1f maxrss_kb %ld progress_calls %u\n",
	    secs, (double)size / 1e6 / secs, ru.ru_maxrss, calls);
	json_object_put(res);
	return 0;
}
