/*
 * bench/imagebench: the driver of bench/workers-image.sh.  It generates the
 * test JPEG, runs lib/image.c's engine the way a runner child does (one
 * image_init, one image_process), and measures a command as a child process
 * (wall time, CPU time and peak RSS from wait4), so the engine and
 * vipsthumbnail are measured the same way.
 *
 *   imagebench -g WIDTH HEIGHT OUT.jpg       generate a photo-like JPEG
 *   imagebench [-c N] [-q Q] IN OUT WIDTH    resize IN to WIDTH, same format
 *   imagebench -m CMD [ARG ...]              run CMD, print "wall cpu rss_kib"
 */
#include <config.h>

#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#include "image.h"

static void
usage(void)
{
	fprintf(stderr, "usage: imagebench -g width height out.jpg\n"
	    "       imagebench [-c concurrency] [-q quality] in out width\n"
	    "       imagebench -m command [argument ...]\n");
	exit(2);
}

static int
parse_int(const char *s, int min, int max, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "imagebench: %s: %s must be %d..%d\n", s, what,
		    min, max);
		exit(2);
	}
	return (int)v;
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A smooth gradient under mild noise, saved at Q 90: closer to a photo's
 * entropy than pure noise (which makes every decoder look slow) or a flat
 * colour (which makes every decoder look fast).
 */
static int
generate(int w, int h, const char *out)
{
	VipsImage	*t[8] = { NULL };
	int		 rc = 1, i;
	char		 err[256];

	if (!image_init("imagebench", 0, err, sizeof(err))) {
		fprintf(stderr, "imagebench: %s\n", err);
		return 1;
	}
	if (vips_xyz(&t[0], w, h, NULL) != 0 ||
	    /* x/w*200 and y/h*200 in two bands, plus their mean as a third */
	    vips_linear1(t[0], &t[1], 200.0 / (w > h ? w : h), 20.0,
	    NULL) != 0 ||
	    vips_bandmean(t[1], &t[2], NULL) != 0 ||
	    vips_bandjoin2(t[1], t[2], &t[3], NULL) != 0 ||
	    vips_gaussnoise(&t[4], w, h, "mean", 0.0, "sigma", 12.0,
	    NULL) != 0 ||
	    vips_add(t[3], t[4], &t[5], NULL) != 0 ||
	    vips_cast(t[5], &t[6], VIPS_FORMAT_UCHAR, NULL) != 0 ||
	    vips_copy(t[6], &t[7], "interpretation", VIPS_INTERPRETATION_sRGB,
	    NULL) != 0 ||
	    vips_jpegsave(t[7], out, "Q", 90, NULL) != 0) {
		fprintf(stderr, "imagebench: generate: %s", vips_error_buffer());
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < 8; i++)
		if (t[i] != NULL)
			g_object_unref(t[i]);
	image_shutdown();
	return rc;
}

static int
resize(const char *in, const char *out, int width, int concurrency,
    int quality)
{
	struct image_request	 req;
	struct image_result	 res;
	struct rusage		 ru;
	enum image_err		 rc;
	double			 t0;
	char			 err[512];

	if (!image_init("imagebench", concurrency, err, sizeof(err))) {
		fprintf(stderr, "imagebench: %s\n", err);
		return 1;
	}
	memset(&req, 0, sizeof(req));
	req.in_path = in;
	req.width = width;
	req.quality = quality;
	t0 = now_s();
	rc = image_process(&req, out, NULL, NULL, &res, err, sizeof(err));
	if (rc != IMAGE_OK) {
		fprintf(stderr, "imagebench: %s: %s\n", image_strerror(rc),
		    err);
		image_shutdown();
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%dx%d %s %lld bytes in %.3f s, maxrss_kb %ld\n", res.width,
	    res.height, image_format_name(res.format), (long long)res.bytes,
	    now_s() - t0, ru.ru_maxrss);
	image_shutdown();
	return 0;
}

/*
 * Runs argv as a child and prints its wall and CPU seconds and peak RSS.
 * The fork happens before libvips is started here, so the child's peak
 * before exec is this small process's, not a big parent's.
 */
static int
measure(char **argv)
{
	struct rusage	 ru;
	pid_t		 pid;
	int		 status;
	double		 t0;

	t0 = now_s();
	if ((pid = fork()) == -1) {
		perror("imagebench: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "imagebench: %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) == -1)
		if (errno != EINTR) {
			perror("imagebench: wait4");
			return 1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "imagebench: %s failed\n", argv[0]);
		return 1;
	}
	printf("%.4f %.4f %ld\n", now_s() - t0,
	    ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
	return 0;
}

int
main(int argc, char *argv[])
{
	int	 ch, gen = 0, meas = 0, concurrency = 0, quality = 0;

	while ((ch = getopt(argc, argv, "+c:gmq:")) != -1) {
		switch (ch) {
		case 'c':
			concurrency = parse_int(optarg, 1, 64, "concurrency");
			break;
		case 'g':
			gen = 1;
			break;
		case 'm':
			meas = 1;
			break;
		case 'q':
			quality = parse_int(optarg, 1, 100, "quality");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (meas)
		return argc < 1 ? (usage(), 2) : measure(argv);
	if (gen)
		return argc != 3 ? (usage(), 2) :
		    generate(parse_int(argv[0], 1, 100000, "width"),
		    parse_int(argv[1], 1, 100000, "height"), argv[2]);
	if (argc != 3)
		usage();
	return resize(argv[0], argv[1],
	    parse_int(argv[2], 1, IMAGE_SIZE_MAX, "width"), concurrency,
	    quality);
}
