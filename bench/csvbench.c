/*
 * csvbench: runs the data_processing engine (csvstats_analyze_fd) on one
 * file and prints the wall and CPU time, the throughput and the peak RSS of
 * the process, for bench/workers-csv.sh.  With -j it prints the result JSON
 * too; -t sets the threads (csv_options.threads: 0, the default, lets the
 * engine decide from the CPUs), -s the smallest file split between two.
 * With -g BYTES it instead writes a deterministic CSV of about that size:
 * integer, decimal, float, boolean, plain and quoted string columns, some
 * empty values, escaped quotes and (rarely) newlines inside quotes.
 */
#include <config.h>

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
	fprintf(stderr, "usage: csvbench [-jn] [-d delimiter] [-s bytes] [-t threads] file\n"
	    "       csvbench -g bytes file\n");
	exit(2);
}

/* The decimal number s, or usage() when s is not one: no silent 0. */
static uint64_t
number(const char *s)
{
	unsigned long long	 n;
	char			*end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE)
		usage();
	return n;
}

static uint64_t	 rng = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: a fixed sequence, so every run benchmarks the same bytes. */
static uint64_t
rnd(uint64_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 0x2545f4914f6cdd1dULL >> 11) % n;
}

static int
generate(const char *path, uint64_t want)
{
	static const char *const first[] = { "Ada", "Grace", "Linus", "Ken",
	    "Barbara", "Dennis", "Margaret", "Edsger", "Frances", "Niklaus" };
	static const char *const last[] = { "Lovelace", "Hopper", "Torvalds",
	    "Thompson", "Liskov", "Ritchie", "Hamilton", "Dijkstra", "Allen",
	    "Wirth" };
	static const char *const city[] = { "Berlin", "Lisbon", "Osaka",
	    "Toronto", "Nairobi", "Lima", "Oslo", "Auckland", "Porto", "Quito" };
	static const char *const words[] = { "shipped", "on time", "late",
	    "fragile", "gift wrap", "returned", "express", "call first",
	    "back order", "paid" };
	FILE		*fp;
	uint64_t	 id, size = 0;
	int		 n, w, k;

	if ((fp = fopen(path, "w")) == NULL) {
		fprintf(stderr, "csvbench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	n = fprintf(fp, "id,customer,amount,quantity,rate,active,city,created,"
	    "note\r\n");
	size += (uint64_t)n;
	for (id = 1; size < want; id++) {
		n = fprintf(fp, "%llu,\"%s%s, %s\",%llu.%02llu,",
		    (unsigned long long)id, last[rnd(10)],
		    rnd(50) == 0 ? " \"\"Jr.\"\"" : "", first[rnd(10)],
		    (unsigned long long)rnd(100000), (unsigned long long)rnd(100));
		if (rnd(20) != 0)
			n += fprintf(fp, "%d", (int)rnd(500) - 20);
		n += fprintf(fp, ",%.4g,%s,%s,2026-%02d-%02dT%02d:%02d:%02dZ,\"",
		    (double)rnd(1000000) / 3e4, rnd(2) ? "true" : "false",
		    city[rnd(10)], (int)rnd(12) + 1, (int)rnd(28) + 1,
		    (int)rnd(24), (int)rnd(60), (int)rnd(60));
		for (w = 0, k = (int)rnd(4) + 1; w < k; w++)
			n += fprintf(fp, "%s%s", w ? ", " : "", words[rnd(10)]);
		n += fprintf(fp, "%s\"\r\n", rnd(1000) == 0 ? "\nsee attached" : "");
		size += (uint64_t)n;
	}
	if (fclose(fp) != 0) {
		fprintf(stderr, "csvbench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * The peak RSS of this program: VmHWM belongs to the address space, so
 * unlike ru_maxrss it does not count the parent's pages from before exec.
 */
static long
peak_rss_kb(void)
{
	struct rusage	 ru;
	FILE		*fp;
	char		 line[256];
	long		 kb = -1;

	if ((fp = fopen("/proc/self/status", "r")) != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL)
			if (sscanf(line, "VmHWM: %ld", &kb) == 1)
				break;
		fclose(fp);
	}
	if (kb < 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		kb = ru.ru_maxrss;
	return kb;
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
	uint64_t		 gen = 0, n;
	double			 cpu;
	int			 ch, fd, json = 0;
	off_t			 size;

	csv_options_init(&opts);
	while ((ch = getopt(argc, argv, "d:g:jns:t:")) != -1) {
		switch (ch) {
		case 'g':
			gen = number(optarg);
			break;
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
		case 's':
			opts.split_min_bytes = number(optarg);
			break;
		case 't':
			if ((n = number(optarg)) > UINT_MAX)
				usage();
			opts.threads = (unsigned)n;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (gen > 0)
		return generate(argv[optind], gen);
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
	cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	if (json)
		printf("%s\n", json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PRETTY));
	printf("seconds %.4f cpu %.4f MB/s %.1f maxrss_kb %ld progress_calls %u\n",
	    secs, cpu, (double)size / 1e6 / secs, peak_rss_kb(), calls);
	json_object_put(res);
	return 0;
}
