/*
 * The image engine of the image_processing task type: a thumbnail-style
 * resize (libvips, shrink-on-load) of one input file into png, jpeg or webp,
 * written to a path the caller names.
 *
 * Process model: libvips starts threads and keeps global state, so it must
 * be initialised in the worker's child process AFTER fork(), never in the
 * runner parent (a fork of a process with running threads may inherit locked
 * mutexes).  The child calls image_init() once, image_process() for its one
 * task, image_shutdown(), then _exit().
 *
 * Security: the input's header is read first and the image is refused,
 * before any pixel is decoded, when its pixel count (width x height x pages)
 * is over max_pixels; the output's pixel count is held to the same limit.
 * Loaders stop on truncated or corrupt data (fail_on = error); libvips'
 * untrusted loaders (ImageMagick, PDF, SVG, FITS, Matlab, OpenSlide, vips,
 * csv, ...) are blocked, so those files are "not an image" to taskq.
 * Concurrency is small and the operation cache is off.
 *
 * Behaviour where the API is silent:
 * - Output format "same as input" is png for inputs taskq reads but does not
 *   write (gif, tiff, heif/avif): lossless, and it keeps transparency.
 * - quality applies to jpeg and webp (default 75, libvips' own); png is
 *   lossless, so quality is ignored there (zlib level 6 always).
 * - jpeg has no alpha: transparent pixels are flattened onto white.
 * - Multi-page and animated inputs: the output is the first page; the
 *   pixel limit still counts every page (width x height x pages).
 * - Sizes may be larger than the input (upscaling is allowed); a given
 *   side whose aspect-kept partner would push the output over the limit is
 *   refused ("output would be ...").
 * - EXIF orientation is applied (the output is upright); metadata (EXIF,
 *   ICC profile) is kept as libvips' savers keep it.
 *
 * Memory: jpeg, png, tiff and webp are decoded as a stream or shrunk on
 * load (a 4000x3000 jpeg or png to 800 px peaks at ~45-55 MB RSS), but gif
 * and heif decode a whole frame first: ~4 bytes x max_pixels at worst, so
 * the runner's child_max_memory (RLIMIT_AS) should be at least that plus
 * ~300 MB, the address space libvips and its modules take at start-up.
 */
#ifndef TASKQ_IMAGE_H
#define TASKQ_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAGE_MAX_PIXELS_DEFAULT	(100 * 1000 * 1000)	/* 100 Mpx */
#define IMAGE_SIZE_MAX			10000	/* width, height: the API's bound */
#define IMAGE_CONCURRENCY_DEFAULT	2	/* libvips worker threads */

enum image_format {
	IMAGE_FORMAT_SAME = 0,	/* request: that of the input (png if other) */
	IMAGE_FORMAT_PNG,
	IMAGE_FORMAT_JPEG,
	IMAGE_FORMAT_WEBP,
	IMAGE_FORMAT__MAX
};

enum image_fit {
	IMAGE_FIT_COVER = 0,	/* exactly width x height, centre-cropped */
	IMAGE_FIT_CONTAIN,	/* inside width x height, aspect kept */
	IMAGE_FIT_FILL,		/* stretched to exactly width x height */
	IMAGE_FIT__MAX
};

enum image_err {
	IMAGE_OK = 0,
	IMAGE_INVALID,		/* bad request: sizes, quality, format, fit */
	IMAGE_NOTIMAGE,		/* empty, not an image, or a blocked format */
	IMAGE_TOOBIG,		/* input or output over max_pixels */
	IMAGE_CORRUPT,		/* truncated or corrupt data while decoding */
	IMAGE_IO,		/* cannot open the input or write the output */
	IMAGE_NOMEM,
	IMAGE_VIPS,		/* any other libvips failure */
	IMAGE_ERR__MAX
};

/* Names as in the API's parameters: "png", "jpeg", "webp"; [0] is "same". */
extern const char *const image_format_names[IMAGE_FORMAT__MAX];
/* "cover", "contain", "fill". */
extern const char *const image_fit_names[IMAGE_FIT__MAX];

struct image_request {
	const char		*in_path;	/* borrowed */
	int			 width;		/* 1..IMAGE_SIZE_MAX, 0 = follows aspect */
	int			 height;	/* idem; at least one of the two */
	enum image_fit		 fit;		/* used only when both are given */
	enum image_format	 format;	/* 0 = same as input */
	int			 quality;	/* 1..100, 0 = default (75); png ignores it */
	int64_t			 max_pixels;	/* <= 0 = IMAGE_MAX_PIXELS_DEFAULT */
};

struct image_result {
	int			 width;		/* of the output */
	int			 height;
	enum image_format	 format;	/* of the output, never SAME */
	int64_t			 bytes;		/* size of the output file */
	int			 in_width;	/* of the input (its first page) */
	int			 in_height;
	int			 in_pages;	/* 1 unless multi-page/animated */
	char			 in_loader[32];	/* libvips loader, e.g. "jpegload_source" */
};

/*
 * Called with a percentage 0..100 that never decreases: 10 once the header
 * is checked, 10..95 while pixels are computed and written (libvips' eval
 * progress), 100 once the output is on disk.  Called from libvips' threads
 * too, never concurrently; must not call back into this module.
 */
typedef void (*image_progress_fn)(void *arg, int percent);

/*
 * Starts libvips in this process (VIPS_INIT), blocks its untrusted loaders,
 * sets concurrency (<= 0: IMAGE_CONCURRENCY_DEFAULT) and turns the operation
 * cache off.  Call once per process, in the child after fork().  Returns
 * false with the reason in err.
 */
bool		 image_init(const char *progname, int concurrency, char *err,
		    size_t errlen);

/* Stops libvips; image_process must not be called afterwards. */
void		 image_shutdown(void);

/*
 * Resizes req->in_path into out_path, which is created (mode 0644) or
 * truncated, written, fsync'ed and closed; the caller renames it into place.
 * On failure out_path is removed, and err holds one clean line for the
 * task's error_message, e.g. "image is 60000x60000 pixels (3600 Mpx), over
 * the limit of 100 Mpx".  progress may be NULL.  IMAGE_IO and IMAGE_NOMEM
 * are worth a retry; the other errors come from the input or the request.
 */
enum image_err	 image_process(const struct image_request *req,
		    const char *out_path, image_progress_fn progress, void *arg,
		    struct image_result *res, char *err, size_t errlen);

const char	*image_strerror(enum image_err);
const char	*image_format_name(enum image_format);	/* "png"...; "same" for 0 */

/*
 * Exact, case-sensitive names as in the API ("jpg" and "same" are not
 * accepted); -1 if unknown.
 */
int		 image_format_parse(const char *name);
int		 image_fit_parse(const char *name);

#endif /* TASKQ_IMAGE_H */
