/*
 * Unit tests of lib/image.c: sizes and fits, format conversion and quality,
 * and the refusals (pixel limit before decoding, not an image, truncated,
 * empty, blocked loaders), on images the test makes with libvips itself.
 */
#include <config.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <vips/vips.h>

#include "image.h"

static char	 dir[] = "/tmp/taskq-test-image.XXXXXX";
static char	 png_path[64], jpeg_path[64], webp_path[64], gif_path[64];
static char	 alpha_path[64], tall_path[64], anim_path[64];

static void
path_in_dir(char *buf, size_t bufsz, const char *name)
{
	int	 n = snprintf(buf, bufsz, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < bufsz);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE	*fp;

	assert_non_null(fp = fopen(path, "wb"));
	if (len > 0)
		assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* The whole file in a malloc'ed buffer (caller frees); its size in *len. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE		*fp;
	unsigned char	*buf;
	long		 sz;

	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((sz = ftell(fp)) >= 0);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)sz + 1));
	assert_int_equal(fread(buf, 1, (size_t)sz, fp), (size_t)sz);
	fclose(fp);
	*len = (size_t)sz;
	return buf;
}

static bool
file_exists(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0;
}

/* sRGB noise: compresses poorly, so quality shows in the size. */
static VipsImage *
make_noise(int w, int h)
{
	VipsImage	*noise = NULL, *u8 = NULL, *three = NULL, *rgb = NULL;
	double		 gb[2] = { 0.0, 64.0 };

	assert_int_equal(vips_gaussnoise(&noise, w, h, "mean", 128.0,
	    "sigma", 40.0, NULL), 0);
	assert_int_equal(vips_cast(noise, &u8, VIPS_FORMAT_UCHAR, NULL), 0);
	assert_int_equal(vips_bandjoin_const(u8, &three, gb, 2, NULL), 0);
	assert_int_equal(vips_copy(three, &rgb, "interpretation",
	    VIPS_INTERPRETATION_sRGB, NULL), 0);
	g_object_unref(noise);
	g_object_unref(u8);
	g_object_unref(three);
	return rgb;
}

static uint32_t
crc32_png(const unsigned char *p, size_t n)
{
	uint32_t	 c = 0xffffffffu;
	size_t		 i;
	int		 k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

static size_t
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
	return 4;
}

/* One PNG chunk at p: length, type, data, CRC over type and data. */
static size_t
put_chunk(unsigned char *p, const char *type, const unsigned char *data,
    uint32_t len)
{
	size_t	 n = 0;

	n += put_be32(p + n, len);
	memcpy(p + n, type, 4);
	if (len > 0)
		memcpy(p + n + 4, data, len);
	n += 4 + len;
	n += put_be32(p + n, crc32_png(p + 4, 4 + len));
	return n;
}

/*
 * A 57-byte PNG whose IHDR claims w x h RGB pixels, with a zlib stream of
 * nothing as its IDAT: a decompression bomb's header without the bomb.
 */
static size_t
make_bomb_png(unsigned char *buf, uint32_t w, uint32_t h)
{
	static const unsigned char sig[8] =
	    { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	static const unsigned char idat[8] =
	    { 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01 };
	unsigned char	 ihdr[13];
	size_t		 n = 0;

	put_be32(ihdr, w);
	put_be32(ihdr + 4, h);
	ihdr[8] = 8;		/* bit depth */
	ihdr[9] = 2;		/* RGB */
	ihdr[10] = ihdr[11] = ihdr[12] = 0;
	memcpy(buf, sig, sizeof(sig));
	n += sizeof(sig);
	n += put_chunk(buf + n, "IHDR", ihdr, sizeof(ihdr));
	n += put_chunk(buf + n, "IDAT", idat, sizeof(idat));
	n += put_chunk(buf + n, "IEND", NULL, 0);
	return n;
}

static int
group_setup(void **state)
{
	char		 err[256];
	VipsImage	*im, *alpha = NULL, *tall = NULL;

	(void)state;
	if (!image_init("test_image", 0, err, sizeof(err))) {
		fprintf(stderr, "image_init: %s\n", err);
		return -1;
	}
	if (mkdtemp(dir) == NULL)
		return -1;
	path_in_dir(png_path, sizeof(png_path), "in.png");
	path_in_dir(jpeg_path, sizeof(jpeg_path), "in.jpg");
	path_in_dir(webp_path, sizeof(webp_path), "in.webp");
	path_in_dir(gif_path, sizeof(gif_path), "in.gif");
	path_in_dir(alpha_path, sizeof(alpha_path), "alpha.png");
	path_in_dir(tall_path, sizeof(tall_path), "tall.png");
	path_in_dir(anim_path, sizeof(anim_path), "anim.gif");

	im = make_noise(640, 480);
	if (vips_pngsave(im, png_path, NULL) != 0 ||
	    vips_jpegsave(im, jpeg_path, "Q", 90, NULL) != 0 ||
	    vips_webpsave(im, webp_path, NULL) != 0 ||
	    vips_gifsave(im, gif_path, NULL) != 0) {
		fprintf(stderr, "setup: %s\n", vips_error_buffer());
		g_object_unref(im);
		return -1;
	}
	g_object_unref(im);

	/* Fully transparent black: flattened for jpeg, it must be white. */
	if (vips_black(&alpha, 64, 48, "bands", 4, NULL) != 0 ||
	    vips_pngsave(alpha, alpha_path, NULL) != 0)
		return -1;
	g_object_unref(alpha);

	/* 1 x 1000: width 10000 would make it 10000 x 10000000. */
	if (vips_black(&tall, 1, 1000, NULL) != 0 ||
	    vips_pngsave(tall, tall_path, NULL) != 0)
		return -1;
	g_object_unref(tall);

	/* Ten 100 x 100 frames, stacked as libvips holds pages. */
	im = make_noise(100, 1000);
	vips_image_set_int(im, VIPS_META_PAGE_HEIGHT, 100);
	if (vips_gifsave(im, anim_path, NULL) != 0) {
		g_object_unref(im);
		return -1;
	}
	g_object_unref(im);
	return 0;
}

static int
group_teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	image_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct image_request
req_for(const char *in, int w, int h)
{
	struct image_request	 req;

	memset(&req, 0, sizeof(req));
	req.in_path = in;
	req.width = w;
	req.height = h;
	return req;
}

/* Runs req into dir/out.<n> and expects IMAGE_OK; returns the path. */
static const char *
run_ok(const struct image_request *req, struct image_result *res)
{
	static char	 out[64];
	static int	 seq;
	char		 err[512], name[32];
	enum image_err	 rc;

	snprintf(name, sizeof(name), "out.%d", seq++);
	path_in_dir(out, sizeof(out), name);
	rc = image_process(req, out, NULL, NULL, res, err, sizeof(err));
	if (rc != IMAGE_OK)
		fail_msg("image_process(%s): %s: %s", req->in_path,
		    image_strerror(rc), err);
	assert_true(file_exists(out));
	return out;
}

/* Runs req and expects the error want; err is the message. */
static void
run_err(const struct image_request *req, enum image_err want, char *err,
    size_t errlen)
{
	char			 out[64];
	struct image_result	 res;
	enum image_err		 rc;

	path_in_dir(out, sizeof(out), "failed.out");
	rc = image_process(req, out, NULL, NULL, &res, err, errlen);
	if (rc != want)
		fail_msg("%s: got %s (%s), want %s", req->in_path,
		    image_strerror(rc), err, image_strerror(want));
	/* One clean line, and no partial output left behind. */
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	assert_false(file_exists(out));
}

/* Decodes path with libvips and checks its size. */
static void
assert_decoded_size(const char *path, int w, int h)
{
	VipsImage	*im;

	im = vips_image_new_from_file(path, "fail_on", VIPS_FAIL_ON_ERROR,
	    NULL);
	if (im == NULL)
		fail_msg("%s: %s", path, vips_error_buffer());
	assert_int_equal(vips_image_get_width(im), w);
	assert_int_equal(vips_image_get_height(im), h);
	g_object_unref(im);
}

static enum image_format
sniff(const char *path)
{
	unsigned char	*buf;
	size_t		 len;
	enum image_format f = IMAGE_FORMAT_SAME;

	buf = read_file(path, &len);
	if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0)
		f = IMAGE_FORMAT_PNG;
	else if (len >= 3 && memcmp(buf, "\xff\xd8\xff", 3) == 0)
		f = IMAGE_FORMAT_JPEG;
	else if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 &&
	    memcmp(buf + 8, "WEBP", 4) == 0)
		f = IMAGE_FORMAT_WEBP;
	free(buf);
	return f;
}

static long
maxrss_kib(void)
{
	struct rusage	 ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* First, while the process is small: peak memory must not move. */
static void
test_bomb_refused_before_decoding(void **state)
{
	unsigned char		 buf[128];
	char			 path[64], err[256];
	size_t			 n;
	long			 rss0;
	double			 t0;
	struct image_request	 req;

	(void)state;
	n = make_bomb_png(buf, 60000, 60000);
	assert_true(n < 100);
	path_in_dir(path, sizeof(path), "bomb.png");
	write_file(path, buf, n);

	req = req_for(path, 100, 0);
	rss0 = maxrss_kib();
	t0 = now_s();
	run_err(&req, IMAGE_TOOBIG, err, sizeof(err));
	assert_true(now_s() - t0 < 2.0);
	/* 60000 x 60000 x 3 would be 10 GB; allow 32 MiB of noise. */
	assert_true(maxrss_kib() - rss0 < 32 * 1024);
	assert_string_equal(err, "image is 60000x60000 pixels (3600 Mpx), "
	    "over the limit of 100 Mpx");
}

static void
test_limit_is_configurable(void **state)
{
	struct image_request	 req;
	struct image_result	 res;
	char			 err[256];

	(void)state;
	req = req_for(png_path, 100, 0);
	req.max_pixels = 640 * 480 - 1;
	run_err(&req, IMAGE_TOOBIG, err, sizeof(err));
	assert_string_equal(err, "image is 640x480 pixels (0.307 Mpx), "
	    "over the limit of 0.307 Mpx");
	req.max_pixels = 640 * 480;
	run_ok(&req, &res);
	assert_int_equal(res.width, 100);
}

/* The limit counts every page; the output is the first page only. */
static void
test_pages_count_toward_limit(void **state)
{
	struct image_request	 req;
	struct image_result	 res;
	char			 err[256];

	(void)state;
	req = req_for(anim_path, 50, 0);
	req.max_pixels = 50000;
	run_err(&req, IMAGE_TOOBIG, err, sizeof(err));
	assert_string_equal(err, "image is 100x100 pixels x 10 pages "
	    "(0.1 Mpx), over the limit of 0.05 Mpx");
	req.max_pixels = 100000;
	assert_decoded_size(run_ok(&req, &res), 50, 50);
	assert_int_equal(res.in_pages, 10);
	assert_int_equal(res.in_height, 100);
}

static void
test_output_over_limit_refused(void **state)
{
	struct image_request	 req;
	char			 err[256];

	(void)state;
	req = req_for(tall_path, 10000, 0);
	run_err(&req, IMAGE_TOOBIG, err, sizeof(err));
	assert_non_null(strstr(err, "output would be 10000x10000000 pixels"));
}

static void
test_width_only_keeps_aspect(void **state)
{
	struct image_request	 req = req_for(png_path, 320, 0);
	struct image_result	 res;
	const char		*out;

	(void)state;
	out = run_ok(&req, &res);
	assert_int_equal(res.width, 320);
	assert_int_equal(res.height, 240);
	assert_int_equal(res.in_width, 640);
	assert_int_equal(res.in_height, 480);
	assert_decoded_size(out, 320, 240);
}

static void
test_height_only_keeps_aspect(void **state)
{
	struct image_request	 req = req_for(png_path, 0, 120);
	struct image_result	 res;

	(void)state;
	assert_decoded_size(run_ok(&req, &res), 160, 120);
	assert_int_equal(res.width, 160);
	assert_int_equal(res.height, 120);
}

static void
test_fit_cover_is_exact(void **state)
{
	struct image_request	 req = req_for(png_path, 200, 200);
	struct image_result	 res;

	(void)state;
	req.fit = IMAGE_FIT_COVER;
	assert_decoded_size(run_ok(&req, &res), 200, 200);
	req = req_for(jpeg_path, 50, 300);
	assert_decoded_size(run_ok(&req, &res), 50, 300);
}

static void
test_fit_contain_keeps_aspect(void **state)
{
	struct image_request	 req = req_for(png_path, 200, 200);
	struct image_result	 res;

	(void)state;
	req.fit = IMAGE_FIT_CONTAIN;
	assert_decoded_size(run_ok(&req, &res), 200, 150);
	req.width = 400;
	req.height = 100;
	assert_decoded_size(run_ok(&req, &res), 133, 100);
}

static void
test_fit_fill_stretches(void **state)
{
	struct image_request	 req = req_for(png_path, 200, 300);
	struct image_result	 res;

	(void)state;
	req.fit = IMAGE_FIT_FILL;
	assert_decoded_size(run_ok(&req, &res), 200, 300);
	req = req_for(webp_path, 700, 100);
	req.fit = IMAGE_FIT_FILL;
	assert_decoded_size(run_ok(&req, &res), 700, 100);
}

static void
test_upscale_allowed(void **state)
{
	struct image_request	 req = req_for(png_path, 1280, 0);
	struct image_result	 res;

	(void)state;
	assert_decoded_size(run_ok(&req, &res), 1280, 960);
}

static void
test_format_defaults_to_input(void **state)
{
	struct image_request	 req;
	struct image_result	 res;
	const char		*out;

	(void)state;
	req = req_for(png_path, 64, 0);
	out = run_ok(&req, &res);
	assert_int_equal(res.format, IMAGE_FORMAT_PNG);
	assert_int_equal(sniff(out), IMAGE_FORMAT_PNG);

	req = req_for(jpeg_path, 64, 0);
	out = run_ok(&req, &res);
	assert_int_equal(res.format, IMAGE_FORMAT_JPEG);
	assert_int_equal(sniff(out), IMAGE_FORMAT_JPEG);
	assert_string_equal(res.in_loader, "jpegload_source");

	req = req_for(webp_path, 64, 0);
	out = run_ok(&req, &res);
	assert_int_equal(res.format, IMAGE_FORMAT_WEBP);
	assert_int_equal(sniff(out), IMAGE_FORMAT_WEBP);

	/* gif is read but not written: png, lossless and with alpha. */
	req = req_for(gif_path, 64, 0);
	out = run_ok(&req, &res);
	assert_int_equal(res.format, IMAGE_FORMAT_PNG);
	assert_int_equal(sniff(out), IMAGE_FORMAT_PNG);
	assert_decoded_size(out, 64, 48);
}

static void
test_png_to_jpeg_and_webp(void **state)
{
	struct image_request	 req = req_for(png_path, 100, 0);
	struct image_result	 res;
	const char		*out;
	struct stat		 st;

	(void)state;
	req.format = IMAGE_FORMAT_JPEG;
	out = run_ok(&req, &res);
	assert_int_equal(sniff(out), IMAGE_FORMAT_JPEG);
	assert_int_equal(res.format, IMAGE_FORMAT_JPEG);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(res.bytes, st.st_size);
	assert_decoded_size(out, 100, 75);

	req.format = IMAGE_FORMAT_WEBP;
	out = run_ok(&req, &res);
	assert_int_equal(sniff(out), IMAGE_FORMAT_WEBP);
	assert_int_equal(res.format, IMAGE_FORMAT_WEBP);
	assert_decoded_size(out, 100, 75);
}

static void
test_quality_affects_jpeg_size(void **state)
{
	struct image_request	 req = req_for(png_path, 640, 0);
	struct image_result	 res;
	int64_t			 low, high;

	(void)state;
	req.format = IMAGE_FORMAT_JPEG;
	req.quality = 10;
	run_ok(&req, &res);
	low = res.bytes;
	req.quality = 95;
	run_ok(&req, &res);
	high = res.bytes;
	assert_true(low > 0);
	assert_true(high > 2 * low);
}

static void
test_jpeg_flattens_alpha_on_white(void **state)
{
	struct image_request	 req = req_for(alpha_path, 32, 0);
	struct image_result	 res;
	VipsImage		*im;
	double			 avg;

	(void)state;
	req.format = IMAGE_FORMAT_JPEG;
	im = vips_image_new_from_file(run_ok(&req, &res), NULL);
	assert_non_null(im);
	assert_int_equal(im->Bands, 3);
	assert_int_equal(vips_avg(im, &avg, NULL), 0);
	assert_true(avg > 250);
	g_object_unref(im);
}

static void
record_progress(void *arg, int percent)
{
	int	*seen = arg;

	/* seen[0] counts; seen[1..] holds the values. */
	if (seen[0] < 255)
		seen[++seen[0]] = percent;
}

static void
test_progress_reported_in_order(void **state)
{
	struct image_request	 req = req_for(png_path, 320, 0);
	struct image_result	 res;
	char			 out[64], err[256];
	int			 seen[256], i;

	(void)state;
	memset(seen, 0, sizeof(seen));
	path_in_dir(out, sizeof(out), "progress.png");
	assert_int_equal(image_process(&req, out, record_progress, seen, &res,
	    err, sizeof(err)), IMAGE_OK);
	assert_true(seen[0] >= 3);
	assert_int_equal(seen[1], 10);
	assert_int_equal(seen[seen[0]], 100);
	for (i = 2; i <= seen[0]; i++)
		assert_true(seen[i] > seen[i - 1]);
	/* libvips' eval signal got through: something between 10 and 100. */
	assert_true(seen[2] > 10 && seen[2] < 100);
}

static void
test_random_bytes_not_an_image(void **state)
{
	unsigned char		 buf[4096];
	char			 path[64], err[256];
	uint32_t		 x = 12345;
	size_t			 i;
	struct image_request	 req;

	(void)state;
	for (i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = x >> 24;
	}
	path_in_dir(path, sizeof(path), "random.bin");
	write_file(path, buf, sizeof(buf));
	req = req_for(path, 100, 100);
	run_err(&req, IMAGE_NOTIMAGE, err, sizeof(err));
	assert_string_equal(err, "not an image (or a format taskq cannot read)");
}

/* A FIFO with no writer would block a plain open(2) forever. */
static void
test_fifo_refused_without_hanging(void **state)
{
	char			 path[64], err[256];
	struct image_request	 req;

	(void)state;
	path_in_dir(path, sizeof(path), "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	req = req_for(path, 100, 0);
	run_err(&req, IMAGE_NOTIMAGE, err, sizeof(err));
	assert_string_equal(err, "not an image (not a regular file)");
}

static void
test_empty_file_refused(void **state)
{
	char			 path[64], err[256];
	struct image_request	 req;

	(void)state;
	path_in_dir(path, sizeof(path), "empty.png");
	write_file(path, "", 0);
	req = req_for(path, 100, 0);
	run_err(&req, IMAGE_NOTIMAGE, err, sizeof(err));
	assert_string_equal(err, "not an image (the file is empty)");
}

/* The first half of src, written to dir/name. */
static void
truncate_copy(const char *src, const char *name, char *path, size_t pathsz)
{
	unsigned char	*buf;
	size_t		 len;

	buf = read_file(src, &len);
	path_in_dir(path, pathsz, name);
	write_file(path, buf, len / 2);
	free(buf);
}

static void
test_truncated_jpeg_fails(void **state)
{
	char			 path[64], err[512];
	struct image_request	 req;

	(void)state;
	truncate_copy(jpeg_path, "half.jpg", path, sizeof(path));
	req = req_for(path, 100, 0);
	run_err(&req, IMAGE_CORRUPT, err, sizeof(err));
	/* libvips 8.14: "VipsJpeg: Premature end of input file" */
	assert_true(strncmp(err, "cannot decode the image: ", 25) == 0);
	assert_null(strstr(err, "unable to write"));
}

static void
test_truncated_png_fails(void **state)
{
	char			 path[64], err[512];
	struct image_request	 req;

	(void)state;
	truncate_copy(png_path, "half.png", path, sizeof(path));
	req = req_for(path, 100, 0);
	run_err(&req, IMAGE_CORRUPT, err, sizeof(err));
	/* libvips 8.14: "vipspng: libpng read error" */
	assert_true(strncmp(err, "cannot decode the image: ", 25) == 0);
	assert_null(strstr(err, "unable to write"));
}

/* ppm and svg have loaders, but libvips does not vouch for them. */
static void
test_untrusted_loaders_blocked(void **state)
{
	static const char ppm[] = "P3\n2 1\n255\n255 0 0 0 255 0\n";
	static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\"/>"
	    "</svg>\n";
	char			 path[64], err[256];
	struct image_request	 req;

	(void)state;
	path_in_dir(path, sizeof(path), "in.ppm");
	write_file(path, ppm, sizeof(ppm) - 1);
	req = req_for(path, 10, 0);
	run_err(&req, IMAGE_NOTIMAGE, err, sizeof(err));

	path_in_dir(path, sizeof(path), "in.svg");
	write_file(path, svg, sizeof(svg) - 1);
	req = req_for(path, 10, 0);
	run_err(&req, IMAGE_NOTIMAGE, err, sizeof(err));
}

static void
test_missing_input_is_io_error(void **state)
{
	char			 path[64], err[256];
	struct image_request	 req;

	(void)state;
	path_in_dir(path, sizeof(path), "no-such-file");
	req = req_for(path, 10, 0);
	run_err(&req, IMAGE_IO, err, sizeof(err));
	assert_non_null(strstr(err, "No such file"));
}

/* A failed write(2) is an I/O error (worth a retry), not a bad image. */
static void
test_write_error_is_io_error(void **state)
{
	struct image_request	 req = req_for(png_path, 640, 0);
	struct rlimit		 old, small;
	char			 err[256];
	void			 (*oldsig)(int);

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 4096;
	oldsig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	run_err(&req, IMAGE_IO, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_string_equal(err, "cannot write the output: File too large");

	/* And so is a directory that is not there. */
	{
		char			 out[96];
		struct image_result	 res;

		path_in_dir(out, sizeof(out), "no-such-dir/out.png");
		assert_int_equal(image_process(&req, out, NULL, NULL, &res,
		    err, sizeof(err)), IMAGE_IO);
		assert_non_null(strstr(err, "cannot create the output"));
	}
}

static void
test_invalid_requests(void **state)
{
	struct image_request	 req;
	char			 err[256];

	(void)state;
	req = req_for(png_path, 0, 0);
	run_err(&req, IMAGE_INVALID, err, sizeof(err));
	req = req_for(png_path, IMAGE_SIZE_MAX + 1, 0);
	run_err(&req, IMAGE_INVALID, err, sizeof(err));
	req = req_for(png_path, 10, -1);
	run_err(&req, IMAGE_INVALID, err, sizeof(err));
	req = req_for(png_path, 10, 0);
	req.quality = 101;
	run_err(&req, IMAGE_INVALID, err, sizeof(err));
	req = req_for(png_path, 10, 0);
	req.format = IMAGE_FORMAT__MAX;
	run_err(&req, IMAGE_INVALID, err, sizeof(err));
}

static void
test_names_round_trip(void **state)
{
	int	 i;

	(void)state;
	for (i = IMAGE_FORMAT_PNG; i < IMAGE_FORMAT__MAX; i++)
		assert_int_equal(image_format_parse(image_format_name(i)), i);
	for (i = 0; i < IMAGE_FIT__MAX; i++)
		assert_int_equal(image_fit_parse(image_fit_names[i]), i);
	assert_int_equal(image_format_parse("same"), -1);
	assert_int_equal(image_format_parse("jpg"), -1);
	assert_int_equal(image_format_parse("PNG"), -1);
	assert_int_equal(image_format_parse(NULL), -1);
	assert_int_equal(image_fit_parse("Cover"), -1);
	assert_string_equal(image_strerror(IMAGE_TOOBIG), "image too large");
	assert_string_equal(image_strerror(IMAGE_ERR__MAX),
	    "unknown image error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bomb_refused_before_decoding),
		cmocka_unit_test(test_limit_is_configurable),
		cmocka_unit_test(test_pages_count_toward_limit),
		cmocka_unit_test(test_output_over_limit_refused),
		cmocka_unit_test(test_width_only_keeps_aspect),
		cmocka_unit_test(test_height_only_keeps_aspect),
		cmocka_unit_test(test_fit_cover_is_exact),
		cmocka_unit_test(test_fit_contain_keeps_aspect),
		cmocka_unit_test(test_fit_fill_stretches),
		cmocka_unit_test(test_upscale_allowed),
		cmocka_unit_test(test_format_defaults_to_input),
		cmocka_unit_test(test_png_to_jpeg_and_webp),
		cmocka_unit_test(test_quality_affects_jpeg_size),
		cmocka_unit_test(test_jpeg_flattens_alpha_on_white),
		cmocka_unit_test(test_progress_reported_in_order),
		cmocka_unit_test(test_random_bytes_not_an_image),
		cmocka_unit_test(test_empty_file_refused),
		cmocka_unit_test(test_fifo_refused_without_hanging),
		cmocka_unit_test(test_truncated_jpeg_fails),
		cmocka_unit_test(test_truncated_png_fails),
		cmocka_unit_test(test_untrusted_loaders_blocked),
		cmocka_unit_test(test_missing_input_is_io_error),
		cmocka_unit_test(test_write_error_is_io_error),
		cmocka_unit_test(test_invalid_requests),
		cmocka_unit_test(test_names_round_trip),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
