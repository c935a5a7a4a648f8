/*
 * The image engine (see image.h): libvips' thumbnail operation, which
 * shrinks on load where the format allows (jpeg, webp, heif), behind a
 * header check that refuses oversized images before any pixel is decoded.
 *
 * Files are handed to libvips as descriptors (VipsSource, VipsTarget), never
 * as names: libvips reads "name[options]" from a filename string, and a
 * path is not a place for options.
 */
/* <>, not "": lib/config.h is taskq's own config module. */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#include "image.h"

#if VIPS_MAJOR_VERSION < 8 || \
    (VIPS_MAJOR_VERSION == 8 && VIPS_MINOR_VERSION < 13)
#error "lib/image.c needs libvips >= 8.13 (fail_on, vips_block_untrusted_set)"
#endif

#define IMAGE_QUALITY_DEFAULT	75	/* libvips' own default for jpeg and webp */

const char *const image_format_names[IMAGE_FORMAT__MAX] = {
	"same",			/* IMAGE_FORMAT_SAME */
	"png",			/* IMAGE_FORMAT_PNG */
	"jpeg",			/* IMAGE_FORMAT_JPEG */
	"webp",			/* IMAGE_FORMAT_WEBP */
};

const char *const image_fit_names[IMAGE_FIT__MAX] = {
	"cover",		/* IMAGE_FIT_COVER */
	"contain",		/* IMAGE_FIT_CONTAIN */
	"fill",			/* IMAGE_FIT_FILL */
};

static const char *const image_errs[IMAGE_ERR__MAX] = {
	"success",		/* IMAGE_OK */
	"invalid request",	/* IMAGE_INVALID */
	"not an image",		/* IMAGE_NOTIMAGE */
	"image too large",	/* IMAGE_TOOBIG */
	"corrupt image",	/* IMAGE_CORRUPT */
	"input/output error",	/* IMAGE_IO */
	"out of memory",	/* IMAGE_NOMEM */
	"image library error",	/* IMAGE_VIPS */
};

/*
 * The output's writer: a custom libvips target over our descriptor, so a
 * failed write(2) is told apart from a failed decode (libvips reports both
 * as "unable to write to target").
 */
struct image_writer {
	int			 fd;
	int			 error;		/* errno of the first failed write */
};

/* What the eval signal handler needs; percent only grows. */
struct image_progress {
	image_progress_fn	 fn;
	void			*arg;
	int			 last;		/* last percent reported */
};

static bool	image_started;

const char *
image_strerror(enum image_err e)
{
	if (e < 0 || e >= IMAGE_ERR__MAX)
		return "unknown image error";
	return image_errs[e];
}

const char *
image_format_name(enum image_format f)
{
	if (f < 0 || f >= IMAGE_FORMAT__MAX)
		return "unknown";
	return image_format_names[f];
}

/* "same" is not a name a request may use: it is the absence of one. */
int
image_format_parse(const char *name)
{
	int	 i;

	if (name == NULL)
		return -1;
	for (i = IMAGE_FORMAT_SAME + 1; i < IMAGE_FORMAT__MAX; i++)
		if (strcmp(name, image_format_names[i]) == 0)
			return i;
	return -1;
}

int
image_fit_parse(const char *name)
{
	int	 i;

	if (name == NULL)
		return -1;
	for (i = 0; i < IMAGE_FIT__MAX; i++)
		if (strcmp(name, image_fit_names[i]) == 0)
			return i;
	return -1;
}

static void
image_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
image_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Whether the n bytes at line contain needle. */
static bool
image_line_has(const char *line, size_t n, const char *needle)
{
	size_t	 len = strlen(needle), i;

	for (i = 0; i + len <= n; i++)
		if (memcmp(line + i, needle, len) == 0)
			return true;
	return false;
}

/*
 * Takes libvips' error buffer (several "domain: text\n" lines, often the
 * same cause told twice), empties it, and writes "what: line; line" into err
 * as one line of printable text, repeated and empty-handed lines dropped.
 */
static void
image_seterr_vips(char *err, size_t errlen, const char *what)
{
	const char	*line, *nl;
	const char	*seen[8];
	size_t		 len, n, nseen = 0, i, j;
	int		 w;
	bool		 dup;

	if (err == NULL || errlen == 0)
		goto out;
	w = snprintf(err, errlen, "%s", what);
	len = w < 0 ? 0 : (size_t)w;
	for (line = vips_error_buffer(); *line != '\0' && len + 3 < errlen;
	    line = *nl == '\0' ? nl : nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		n = (size_t)(nl - line);
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r'))
			n--;
		/* A saver's echo of its reader's failure says nothing. */
		if (n == 0 || image_line_has(line, n, "unable to write to target"))
			continue;
		dup = false;
		for (i = 0; i < nseen && !dup; i++)
			dup = strncmp(seen[i], line, n) == 0 &&
			    (seen[i][n] == '\n' || seen[i][n] == '\0');
		if (dup)
			continue;
		err[len++] = nseen == 0 ? ':' : ';';
		err[len++] = ' ';
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = line;
		/* Control characters out: the message is one log line. */
		for (j = 0; j < n && len + 1 < errlen; j++)
			err[len++] = (unsigned char)line[j] < 0x20 ||
			    line[j] == 0x7f ? ' ' : line[j];
		err[len] = '\0';
	}
	if (nseen == 0 && len < errlen)
		snprintf(err + len, errlen - len, ": unknown error");
out:
	vips_error_clear();
}

/* Megapixels for messages: "3600", "100", "1.44", "0.001". */
static void
image_mpx(char *buf, size_t bufsz, double px)
{
	double	 mpx = px / 1e6;

	if (mpx >= 10)
		snprintf(buf, bufsz, "%.0f", mpx);
	else
		snprintf(buf, bufsz, "%.3g", mpx);
}

static void
image_report(struct image_progress *pr, int percent)
{
	if (pr->fn == NULL || percent <= pr->last)
		return;
	pr->last = percent;
	pr->fn(pr->arg, percent);
}

/* libvips' "eval" signal on the output: its percent maps to 10..95. */
static void
image_eval_cb(VipsImage *im, VipsProgress *p, void *data)
{
	(void)im;
	image_report(data, 10 + p->percent * 85 / 100);
}

bool
image_init(const char *progname, int concurrency, char *err, size_t errlen)
{
	if (image_started)
		return true;
	if (VIPS_INIT(progname != NULL ? progname : "taskq") != 0) {
		image_seterr_vips(err, errlen, "cannot start libvips");
		return false;
	}
	/*
	 * ImageMagick, poppler, rsvg, cfitsio, matio, openslide and friends
	 * are big parsers libvips itself does not vouch for.
	 */
	vips_block_untrusted_set(TRUE);
	vips_concurrency_set(concurrency > 0 ? concurrency :
	    IMAGE_CONCURRENCY_DEFAULT);
	/* One image per process: a cache only holds memory and descriptors. */
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max_files(0);
	image_started = true;
	return true;
}

void
image_shutdown(void)
{
	if (!image_started)
		return;
	vips_shutdown();
	image_started = false;
}

static bool
image_request_check(const struct image_request *req, const char *out_path,
    char *err, size_t errlen)
{
	if (req == NULL || req->in_path == NULL || out_path == NULL) {
		image_seterr(err, errlen, "no input or output file");
		return false;
	}
	if (req->width < 0 || req->width > IMAGE_SIZE_MAX) {
		image_seterr(err, errlen, "width must be 1..%d", IMAGE_SIZE_MAX);
		return false;
	}
	if (req->height < 0 || req->height > IMAGE_SIZE_MAX) {
		image_seterr(err, errlen, "height must be 1..%d", IMAGE_SIZE_MAX);
		return false;
	}
	if (req->width == 0 && req->height == 0) {
		image_seterr(err, errlen, "width or height is required");
		return false;
	}
	if (req->fit < 0 || req->fit >= IMAGE_FIT__MAX) {
		image_seterr(err, errlen, "unknown fit");
		return false;
	}
	if (req->format < 0 || req->format >= IMAGE_FORMAT__MAX) {
		image_seterr(err, errlen, "unknown format");
		return false;
	}
	if (req->quality < 0 || req->quality > 100) {
		image_seterr(err, errlen, "quality must be 1..100");
		return false;
	}
	return true;
}

/* The output format that "same as input" means for a loader's name. */
static enum image_format
image_format_of_loader(const char *loader)
{
	if (strncmp(loader, "jpegload", 8) == 0)
		return IMAGE_FORMAT_JPEG;
	if (strncmp(loader, "webpload", 8) == 0)
		return IMAGE_FORMAT_WEBP;
	/* png, and every format taskq cannot write (gif, tiff, heif): png. */
	return IMAGE_FORMAT_PNG;
}

/*
 * Classifies a failure to decode by libvips' text, which is all it gives:
 * out of memory is worth a retry, bad data is not.
 */
static enum image_err
image_decode_err(void)
{
	const char	*buf = vips_error_buffer();

	if (strstr(buf, "out of memory") != NULL ||
	    strstr(buf, "Cannot allocate memory") != NULL)
		return IMAGE_NOMEM;
	return IMAGE_CORRUPT;
}

/* Whether libvips has blocked the loader (by its GType name). */
static bool
image_loader_blocked(const char *name)
{
	GType			 type;
	VipsOperationClass	*class;
	bool			 blocked;

	if ((type = g_type_from_name(name)) == 0)
		return true;
	class = g_type_class_ref(type);
	blocked = (class->flags & VIPS_OPERATION_BLOCKED) != 0;
	g_type_class_unref(class);
	return blocked;
}

/*
 * Reads the header of the image in source, fills res's input fields and
 * refuses it when over max_pixels.  Nothing is decoded: libvips' loaders
 * are lazy and only the header is parsed until pixels are asked for.
 */
static enum image_err
image_header(VipsSource *source, int64_t max_pixels, struct image_result *res,
    bool *swap, char *err, size_t errlen)
{
	VipsImage	*hdr = NULL;
	const char	*loader = NULL;
	double		 total;
	char		 have[32], lim[32];
	enum image_err	 rc;

	/* libvips sniffs the bytes; the sniff ignores the blocking. */
	if ((loader = vips_foreign_find_load_source(source)) == NULL ||
	    image_loader_blocked(loader)) {
		vips_error_clear();
		image_seterr(err, errlen,
		    "not an image (or a format taskq cannot read)");
		return IMAGE_NOTIMAGE;
	}
	hdr = vips_image_new_from_source(source, "",
	    "access", VIPS_ACCESS_SEQUENTIAL,
	    "fail_on", VIPS_FAIL_ON_ERROR, NULL);
	if (hdr == NULL) {
		rc = image_decode_err();
		image_seterr_vips(err, errlen, "cannot read the image header");
		return rc;
	}
	loader = NULL;
	if (vips_image_get_typeof(hdr, VIPS_META_LOADER) != 0 &&
	    vips_image_get_string(hdr, VIPS_META_LOADER, &loader) == 0)
		snprintf(res->in_loader, sizeof(res->in_loader), "%s", loader);
	vips_error_clear();
	res->in_width = vips_image_get_width(hdr);
	res->in_height = vips_image_get_page_height(hdr);
	res->in_pages = vips_image_get_n_pages(hdr);
	if (res->in_pages < 1)
		res->in_pages = 1;

	/*
	 * Only the first page is decoded, but the limit counts every page:
	 * some loaders walk all frames to open a file, and an output of one
	 * page from thousands is not what anyone means to ask for.
	 */
	total = (double)res->in_width * res->in_height * res->in_pages;
	if (total > (double)max_pixels) {
		image_mpx(have, sizeof(have), total);
		image_mpx(lim, sizeof(lim), (double)max_pixels);
		if (res->in_pages > 1)
			image_seterr(err, errlen, "image is %dx%d pixels x %d "
			    "pages (%s Mpx), over the limit of %s Mpx",
			    res->in_width, res->in_height, res->in_pages,
			    have, lim);
		else
			image_seterr(err, errlen, "image is %dx%d pixels "
			    "(%s Mpx), over the limit of %s Mpx",
			    res->in_width, res->in_height, have, lim);
		rc = IMAGE_TOOBIG;
		goto out;
	}

	/* 90 and 270 degrees: thumbnail turns the image upright. */
	*swap = vips_image_get_orientation_swap(hdr);
	rc = IMAGE_OK;
out:
	g_object_unref(hdr);
	return rc;
}

/* Pixel count check of the output before any pixel is computed. */
static enum image_err
image_output_check(int w, int h, int64_t max_pixels, char *err, size_t errlen)
{
	double	 total = (double)w * h;
	char	 have[32], lim[32];

	if (total <= (double)max_pixels && w <= VIPS_MAX_COORD &&
	    h <= VIPS_MAX_COORD)
		return IMAGE_OK;
	image_mpx(have, sizeof(have), total);
	image_mpx(lim, sizeof(lim), (double)max_pixels);
	image_seterr(err, errlen, "output would be %.0fx%.0f pixels (%s Mpx), "
	    "over the limit of %s Mpx", (double)w, (double)h, have, lim);
	return IMAGE_TOOBIG;
}

/*
 * The other side when one is given, as thumbnail rounds it, in the upright
 * orientation; used to refuse an absurd output before libvips builds it.
 */
static double
image_other_side(int given, int in_given, int in_other)
{
	if (in_given <= 0)
		return 0;
	return floor((double)in_other * given / in_given + 0.5);
}

static gint64
image_write_cb(VipsTargetCustom *target, const void *data, gint64 len,
    void *arg)
{
	struct image_writer	*w = arg;
	const char		*p = data;
	gint64			 left = len;
	ssize_t			 n;

	(void)target;
	while (left > 0) {
		if ((n = write(w->fd, p, (size_t)left)) == -1) {
			if (errno == EINTR)
				continue;
			if (w->error == 0)
				w->error = errno;
			return -1;
		}
		p += n;
		left -= n;
	}
	return len;
}

/*
 * Writes im through w in format at quality q.  False with libvips' error
 * set, and w->error set when it was write(2) that failed.
 */
static bool
image_save(VipsImage *im, struct image_writer *w, enum image_format format,
    int q)
{
	VipsTargetCustom	*custom;
	VipsTarget		*target;
	int			 rc = -1;

	if ((custom = vips_target_custom_new()) == NULL)
		return false;
	g_signal_connect(custom, "write", G_CALLBACK(image_write_cb), w);
	target = VIPS_TARGET(custom);
	switch (format) {
	case IMAGE_FORMAT_JPEG:
		rc = vips_jpegsave_target(im, target, "Q", q, NULL);
		break;
	case IMAGE_FORMAT_WEBP:
		rc = vips_webpsave_target(im, target, "Q", q, NULL);
		break;
	case IMAGE_FORMAT_PNG:
		/* Lossless: quality has no meaning; zlib level 6. */
		rc = vips_pngsave_target(im, target, NULL);
		break;
	default:
		vips_error("image_save", "no saver for format %d", format);
		break;
	}
	g_object_unref(custom);
	return rc == 0;
}

enum image_err
image_process(const struct image_request *req, const char *out_path,
    image_progress_fn progress, void *arg, struct image_result *res,
    char *err, size_t errlen)
{
	struct image_progress	 pr = { progress, arg, -1 };
	struct image_writer	 writer = { -1, 0 };
	struct stat		 st;
	VipsSource		*source = NULL;
	VipsImage		*thumb = NULL, *flat = NULL, *im;
	VipsSize		 size = VIPS_SIZE_BOTH;
	VipsInteresting		 crop = VIPS_INTERESTING_NONE;
	enum image_format	 format;
	enum image_err		 rc;
	int64_t			 max_pixels;
	int			 fd = -1, outfd = -1, tw, th, q, inw, inh;
	bool			 created = false, swap = false;
	double			 other;
	VipsArrayDouble		*white = NULL;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (res == NULL || !image_request_check(req, out_path, err, errlen))
		return IMAGE_INVALID;
	memset(res, 0, sizeof(*res));
	if (!image_started) {
		image_seterr(err, errlen, "image_init was not called");
		return IMAGE_VIPS;
	}
	vips_error_clear();
	max_pixels = req->max_pixels > 0 ? req->max_pixels :
	    IMAGE_MAX_PIXELS_DEFAULT;

	/* O_NONBLOCK: a FIFO must not hang us; regular files ignore it. */
	fd = open(req->in_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		image_seterr(err, errlen, "cannot open the input: %s",
		    strerror(errno));
		rc = IMAGE_IO;
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		image_seterr(err, errlen, "cannot stat the input: %s",
		    strerror(errno));
		rc = IMAGE_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		image_seterr(err, errlen, "not an image (%s)",
		    S_ISREG(st.st_mode) ? "the file is empty" :
		    "not a regular file");
		rc = IMAGE_NOTIMAGE;
		goto out;
	}
	/* The source holds its own duplicate of fd. */
	if ((source = vips_source_new_from_descriptor(fd)) == NULL) {
		image_seterr_vips(err, errlen, "cannot read the input");
		rc = IMAGE_IO;
		goto out;
	}
	close(fd);
	fd = -1;

	if ((rc = image_header(source, max_pixels, res, &swap, err,
	    errlen)) != IMAGE_OK)
		goto out;
	image_report(&pr, 10);

	format = req->format != IMAGE_FORMAT_SAME ? req->format :
	    image_format_of_loader(res->in_loader);
	q = req->quality > 0 ? req->quality : IMAGE_QUALITY_DEFAULT;

	/*
	 * One side given: the other is unbounded (VIPS_MAX_COORD, as
	 * vipsthumbnail does) so the given one decides the scale.
	 */
	tw = req->width > 0 ? req->width : VIPS_MAX_COORD;
	th = req->height > 0 ? req->height : VIPS_MAX_COORD;
	if (req->width > 0 && req->height > 0) {
		if (req->fit == IMAGE_FIT_COVER)
			crop = VIPS_INTERESTING_CENTRE;
		else if (req->fit == IMAGE_FIT_FILL)
			size = VIPS_SIZE_FORCE;
	} else {
		/*
		 * Refused here, before libvips is asked for a 10000 x
		 * 100000000 image it would refuse less clearly.
		 */
		inw = swap ? res->in_height : res->in_width;
		inh = swap ? res->in_width : res->in_height;
		if (req->width > 0)
			other = image_other_side(req->width, inw, inh);
		else
			other = image_other_side(req->height, inh, inw);
		if (other > VIPS_MAX_COORD)
			other = VIPS_MAX_COORD + 1;
		rc = req->width > 0 ?
		    image_output_check(req->width, (int)other, max_pixels,
		    err, errlen) :
		    image_output_check((int)other, req->height, max_pixels,
		    err, errlen);
		if (rc != IMAGE_OK)
			goto out;
	}

	if (vips_thumbnail_source(source, &thumb, tw,
	    "height", th,
	    "size", size,
	    "crop", crop,
	    "fail_on", VIPS_FAIL_ON_ERROR,
	    /* thumbnail_source passes only this on to the loader (8.14). */
	    "option_string", "fail_on=error",
	    NULL) != 0) {
		rc = image_decode_err();
		image_seterr_vips(err, errlen, "cannot read the image");
		goto out;
	}
	res->width = vips_image_get_width(thumb);
	res->height = vips_image_get_height(thumb);
	res->format = format;
	if ((rc = image_output_check(res->width, res->height, max_pixels,
	    err, errlen)) != IMAGE_OK)
		goto out;

	/*
	 * Progress is signalled on the most-downstream image that asked
	 * for it, so the saver's own conversions still report here.
	 */
	vips_image_set_progress(thumb, TRUE);
	g_signal_connect(thumb, "eval", G_CALLBACK(image_eval_cb), &pr);
	im = thumb;

	/* jpeg has no alpha: transparent pixels become white, not black. */
	if (format == IMAGE_FORMAT_JPEG && vips_image_hasalpha(thumb)) {
		white = vips_array_double_newv(1,
		    thumb->BandFmt == VIPS_FORMAT_USHORT ? 65535.0 : 255.0);
		if (vips_flatten(thumb, &flat, "background", white,
		    NULL) != 0) {
			rc = image_decode_err();
			image_seterr_vips(err, errlen, "cannot flatten");
			goto out;
		}
		im = flat;
	}

	outfd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (outfd == -1) {
		image_seterr(err, errlen, "cannot create the output: %s",
		    strerror(errno));
		rc = IMAGE_IO;
		goto out;
	}
	/* Only a regular file is ours to remove on failure. */
	if (fstat(outfd, &st) == -1 || !S_ISREG(st.st_mode)) {
		image_seterr(err, errlen, "cannot create the output: %s",
		    "not a regular file");
		rc = IMAGE_IO;
		goto out;
	}
	created = true;
	writer.fd = outfd;
	if (!image_save(im, &writer, format, q)) {
		if (writer.error != 0) {
			vips_error_clear();
			image_seterr(err, errlen, "cannot write the output: %s",
			    strerror(writer.error));
			rc = IMAGE_IO;
		} else {
			rc = image_decode_err();
			image_seterr_vips(err, errlen, "cannot decode the image");
		}
		goto out;
	}
	if (fsync(outfd) == -1 || fstat(outfd, &st) == -1) {
		image_seterr(err, errlen, "cannot write the output: %s",
		    strerror(errno));
		rc = IMAGE_IO;
		goto out;
	}
	res->bytes = (int64_t)st.st_size;
	if (close(outfd) == -1) {
		outfd = -1;
		image_seterr(err, errlen, "cannot write the output: %s",
		    strerror(errno));
		rc = IMAGE_IO;
		goto out;
	}
	outfd = -1;
	image_report(&pr, 100);
	rc = IMAGE_OK;
out:
	if (white != NULL)
		vips_area_unref(VIPS_AREA(white));
	if (flat != NULL)
		g_object_unref(flat);
	if (thumb != NULL)
		g_object_unref(thumb);
	if (source != NULL)
		g_object_unref(source);
	if (fd != -1)
		close(fd);
	if (outfd != -1)
		close(outfd);
	if (rc != IMAGE_OK && created)
		unlink(out_path);
	vips_error_clear();
	return rc;
}
