/*
 * File upload and download.  An upload streams into a temporary file in
 * STATE_DIR/files (never a name the client chose), is checksummed and
 * sniffed on the way, made durable (fsync, rename, fsync of the
 * directory) and only then recorded in the store; any failure removes what
 * was written.  A download streams the bytes back with headers that keep a
 * browser from running them.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/config.h"
#include "api.h"
#include "log.h"
#include "sha256.h"
#include "store.h"
#include "task.h"

#define IO_CHUNK	(64 * 1024)
#define SNIFF_LEN	4096		/* bytes kept for type detection */
#define NAME_MAX_BYTES	255

/* One upload in progress. */
struct upload {
	struct req	*r;
	int		 fd;		/* temporary file, -1 when closed */
	char		*tmp;		/* its path */
	bool		 in_file;	/* multipart: inside the "file" part */
	bool		 got_file;	/* multipart: the "file" part was seen */
	int64_t		 size;
	struct sha256	 sha;
	unsigned char	 sniff[SNIFF_LEN];
	size_t		 sniff_len;
	bool		 text;		/* valid UTF-8 without NUL so far */
	unsigned char	 carry[4];	/* an incomplete UTF-8 sequence */
	size_t		 carry_len;
	int		 werrno;	/* errno of a failed write, 0 if none */
	char		 name[NAME_MAX_BYTES + 1];
	const char	*name_field;	/* what names the name in a 422 */
	bool		 name_bad;
};

int
files_init(struct api *api)
{
	const char	*sd = api->cfg->state_dir;
	size_t		 n = strlen(sd) + sizeof("/files");

	if ((api->files_dir = malloc(n)) == NULL) {
		log_warn("malloc");
		return -1;
	}
	snprintf(api->files_dir, n, "%s/files", sd);
	if (mkdir(api->files_dir, 0750) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", api->files_dir);
		return -1;
	}
	return 0;
}

/* Expected length of the UTF-8 sequence led by c; 0 if c cannot lead. */
static size_t
utf8_lead_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* Keeps u->text current across chunks split anywhere, even mid-character. */
static void
text_feed(struct upload *u, const unsigned char *p, size_t n)
{
	size_t	 i = 0, k, j, need;

	if (!u->text)
		return;
	if (memchr(p, '\0', n) != NULL) {
		u->text = false;
		return;
	}
	while (u->carry_len > 0 && i < n) {
		u->carry[u->carry_len++] = p[i++];
		need = utf8_lead_len(u->carry[0]);
		if (need == 0 || u->carry_len > need) {
			u->text = false;
			return;
		}
		if (u->carry_len == need) {
			if (!utf8_valid((const char *)u->carry, need)) {
				u->text = false;
				return;
			}
			u->carry_len = 0;
		}
	}
	/* Hold back a sequence cut by the end of this chunk. */
	k = n;
	for (j = n; j > i && n - j < 4; ) {
		j--;
		if ((p[j] & 0xc0) != 0x80) {
			need = utf8_lead_len(p[j]);
			if (need > n - j)
				k = j;
			break;
		}
	}
	if (!utf8_valid((const char *)p + i, k - i)) {
		u->text = false;
		return;
	}
	memcpy(u->carry, p + k, n - k);
	u->carry_len = n - k;
}

/* Appends file bytes: checksum, sniff, write.  Returns 0 or -1 (errno kept). */
static int
upload_write(struct upload *u, const void *p, size_t n)
{
	const char	*s = p;
	size_t		 take;
	ssize_t		 w;

	if (u->werrno != 0)
		return -1;
	sha256_update(&u->sha, p, n);
	text_feed(u, p, n);
	if (u->sniff_len < SNIFF_LEN) {
		take = SNIFF_LEN - u->sniff_len < n ? SNIFF_LEN - u->sniff_len : n;
		memcpy(u->sniff + u->sniff_len, p, take);
		u->sniff_len += take;
	}
	u->size += (int64_t)n;
	while (n > 0) {
		if ((w = write(u->fd, s, n)) == -1) {
			if (errno == EINTR)
				continue;
			u->werrno = errno;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Takes the display name: its last path component, checked. */
static void
upload_name(struct upload *u, const char *name, const char *field)
{
	const char	*base = name, *p;
	size_t		 n;

	u->name_field = field;
	for (p = name; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	n = strlen(base);
	if (n == 0) {
		snprintf(u->name, sizeof(u->name), "upload");
		return;
	}
	if (n > NAME_MAX_BYTES || !utf8_valid(base, n)) {
		u->name_bad = true;
		return;
	}
	for (p = base; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			u->name_bad = true;
			return;
		}
	memcpy(u->name, base, n + 1);
}

static int
mp_part_begin(void *arg, const char *name, const char *filename)
{
	struct upload	*u = arg;

	if (strcmp(name, "file") != 0)
		return 0;
	if (u->got_file) {
		resp_error(u->r, 422, "file", "more than one part named 'file'");
		return -1;
	}
	u->got_file = u->in_file = true;
	upload_name(u, filename, "file");
	return 0;
}

static int
mp_part_data(void *arg, const void *p, size_t n)
{
	struct upload	*u = arg;

	if (!u->in_file)
		return 0;
	return upload_write(u, p, n) == 0 ? 0 : -1;
}

static int
mp_part_end(void *arg)
{
	struct upload	*u = arg;

	u->in_file = false;
	return 0;
}

static const struct mp_callbacks upload_mp = {
	mp_part_begin, mp_part_data, mp_part_end,
};

/*
 * Whether the first lines look like CSV: at least two complete lines, each
 * with the same number (>= 1) of commas.
 */
static bool
looks_csv(const unsigned char *p, size_t n)
{
	size_t	 i, lines = 0, commas = 0, first = 0;

	for (i = 0; i < n && lines < 5; i++) {
		if (p[i] == ',')
			commas++;
		else if (p[i] == '\n') {
			if (lines == 0)
				first = commas;
			else if (commas != first)
				return false;
			lines++;
			commas = 0;
		}
	}
	return lines >= 2 && first > 0;
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t	 n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* The content type, from the magic bytes; text is UTF-8 without NUL. */
static const char *
sniff_type(const struct upload *u)
{
	const unsigned char	*p = u->sniff;
	size_t			 n = u->sniff_len;

	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return "image/webp";
	if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
		return "image/tiff";
	if (n >= 5 && memcmp(p, "%PDF-", 5) == 0)
		return "application/pdf";
	if (n >= 4 && (memcmp(p, "PK\x03\x04", 4) == 0 ||
	    memcmp(p, "PK\x05\x06", 4) == 0))
		return "application/zip";
	if (n >= 2 && memcmp(p, "\x1f\x8b", 2) == 0)
		return "application/gzip";
	if (u->text && u->carry_len == 0) {
		if (has_suffix(u->name, ".csv") || looks_csv(p, n))
			return "text/csv";
		return "text/plain";
	}
	return "application/octet-stream";
}

static void
upload_discard(struct upload *u)
{
	if (u->fd != -1) {
		close(u->fd);
		u->fd = -1;
	}
	if (u->tmp != NULL) {
		if (unlink(u->tmp) == -1 && errno != ENOENT)
			log_warn("unlink %s", u->tmp);
		free(u->tmp);
		u->tmp = NULL;
	}
}

/* Answers a failed write: 507 when the disk is full, else 500. */
static void
upload_io_error(struct upload *u, int e, const char *what)
{
	errno = e;
	if (e == ENOSPC || e == EDQUOT) {
		log_warnx("upload: %s %s: disk full", what, u->tmp);
		resp_error(u->r, 507, NULL, "insufficient storage for the upload");
	} else {
		log_warn("upload: %s %s", what, u->tmp);
		resp_error(u->r, 500, NULL, "could not store the upload");
	}
}

/* fsync of the directory, so the rename itself survives a crash. */
static int
sync_dir(const char *dir)
{
	int	 fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fsync(fd) == -1)
		rc = -1;
	close(fd);
	return rc;
}

/*
 * POST /api/files: a raw body named by X-Filename, or multipart/form-data
 * with a part named "file".
 * 201 {"id", "name", "size", "sha256", "content_type"}; 400 malformed
 * multipart or truncated body; 413 over upload_max_bytes; 415
 * application/x-www-form-urlencoded; 422 no X-Filename, no "file" part, a
 * bad name; 500 I/O error; 503 busy; 507 disk full.
 */
void
h_file_upload(struct req *r)
{
	struct api		*api = r->api;
	struct worker		*w = r->w;
	struct upload		 u;
	struct multipart	*mp = NULL;
	struct file_info	 fi;
	char			 boundary[80], id[TASK_ID_LEN + 1];
	char			*final = NULL;
	const char		*ct, *cl, *xname;
	int64_t			 max = api->cfg->upload_max_bytes, total = 0;
	uintmax_t		 declared = 0;
	bool			 have_len = false;
	enum mp_err		 me;
	enum store_err		 serr;
	int			 got, e;
	size_t			 n;

	memset(&u, 0, sizeof(u));
	u.r = r;
	u.fd = -1;
	u.text = true;
	sha256_init(&u.sha);

	ct = req_param(r, "CONTENT_TYPE");
	if (ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded",
	    33) == 0) {
		resp_error(r, 415, NULL, "upload the file raw (with X-Filename) or "
		    "as multipart/form-data, not form-urlencoded");
		return;
	}
	if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0) {
		if (!mp_boundary(ct, boundary, sizeof(boundary))) {
			resp_error(r, 400, NULL, "multipart/form-data without a "
			    "valid boundary");
			return;
		}
	} else {
		boundary[0] = '\0';
		xname = req_param(r, "HTTP_X_FILENAME");
		if (xname == NULL || *xname == '\0') {
			resp_error(r, 422, "X-Filename", "a raw upload needs the "
			    "X-Filename header (or use multipart/form-data)");
			return;
		}
		upload_name(&u, xname, "X-Filename");
		if (u.name_bad) {
			resp_error(r, 422, "X-Filename", "X-Filename must be UTF-8 "
			    "text of at most %d bytes without control "
			    "characters", NAME_MAX_BYTES);
			return;
		}
	}
	cl = req_param(r, "CONTENT_LENGTH");
	if (cl != NULL && *cl != '\0') {
		char	*end;

		errno = 0;
		declared = strtoumax(cl, &end, 10);
		if (*end != '\0' || errno != 0 || *cl < '0' || *cl > '9') {
			resp_error(r, 400, NULL, "malformed Content-Length");
			return;
		}
		have_len = true;
		if (declared > (uintmax_t)max) {
			resp_error(r, 413, NULL, "upload of %ju bytes is over the "
			    "limit of %" PRId64 " bytes", declared, max);
			return;
		}
	}

	/* Reading the body waits on the client: let another worker serve. */
	worker_wait(w);
	task_id_generate(id);
	n = strlen(api->files_dir) + sizeof("/.upload-.tmp") + TASK_ID_LEN;
	if ((u.tmp = malloc(n)) == NULL ||
	    (final = malloc(strlen(api->files_dir) + TASK_ID_LEN + 2)) == NULL) {
		resp_nomem(r);
		goto out;
	}
	snprintf(u.tmp, n, "%s/.upload-%s.tmp", api->files_dir, id);
	sprintf(final, "%s/%s", api->files_dir, id);
	u.fd = open(u.tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (u.fd == -1) {
		e = errno;
		free(u.tmp);	/* nothing to unlink */
		u.tmp = NULL;
		errno = e;
		if (e == ENOSPC || e == EDQUOT)
			resp_error(r, 507, NULL, "insufficient storage");
		else {
			log_warn("upload: open in %s", api->files_dir);
			resp_error(r, 500, NULL, "could not store the upload");
		}
		goto out;
	}
	if (boundary[0] != '\0' &&
	    (mp = mp_new(boundary, &upload_mp, &u)) == NULL) {
		resp_nomem(r);
		goto out;
	}

	for (;;) {
		if (!buf_reserve(&w->in, IO_CHUNK)) {
			resp_nomem(r);
			goto out;
		}
		got = FCGX_GetStr(w->in.p, IO_CHUNK, r->fcgi->in);
		if (got <= 0)
			break;
		total += got;
		if (total > max) {
			resp_error(r, 413, NULL, "upload is over the limit of %"
			    PRId64 " bytes", max);
			goto out;
		}
		if (mp != NULL) {
			me = mp_feed(mp, w->in.p, (size_t)got);
			if (me == MP_ABORT && u.werrno == 0)
				goto out;	/* answered by a callback */
			if (me != MP_OK && u.werrno == 0) {
				resp_error(r, me == MP_NOMEM ? 503 : 400, NULL,
				    "malformed multipart/form-data body");
				goto out;
			}
		} else
			upload_write(&u, w->in.p, (size_t)got);
		if (u.werrno != 0) {
			upload_io_error(&u, u.werrno, "write");
			goto out;
		}
	}
	if (FCGX_GetError(r->fcgi->in) != 0 ||
	    (have_len && (uintmax_t)total != declared)) {
		resp_error(r, 400, NULL, "request body ended early");
		goto out;
	}
	if (mp != NULL) {
		if (mp_finish(mp) != MP_OK) {
			resp_error(r, 400, NULL, "malformed multipart/form-data "
			    "body: no closing boundary");
			goto out;
		}
		if (!u.got_file) {
			resp_error(r, 422, "file", "no part named 'file' in the "
			    "form");
			goto out;
		}
		if (u.name_bad) {
			resp_error(r, 422, "file", "the file name must be UTF-8 "
			    "text of at most %d bytes without control "
			    "characters", NAME_MAX_BYTES);
			goto out;
		}
	}
	if (fsync(u.fd) == -1) {
		upload_io_error(&u, errno, "fsync");
		goto out;
	}
	if (close(u.fd) == -1) {
		u.fd = -1;
		upload_io_error(&u, errno, "close");
		goto out;
	}
	u.fd = -1;
	if (rename(u.tmp, final) == -1) {
		upload_io_error(&u, errno, "rename");
		goto out;
	}
	free(u.tmp);
	u.tmp = final;		/* from here, a failure removes the final file */
	final = NULL;
	if (sync_dir(api->files_dir) == -1) {
		upload_io_error(&u, errno, "fsync directory of");
		goto out;
	}

	memset(&fi, 0, sizeof(fi));
	memcpy(fi.id, id, sizeof(fi.id));
	snprintf(fi.name, sizeof(fi.name), "%s", u.name);
	fi.size = u.size;
	sha256_final_hex(&u.sha, fi.sha256);
	snprintf(fi.content_type, sizeof(fi.content_type), "%s", sniff_type(&u));
	fi.created_at = time_now_ms();
	if ((serr = store_file_add(w->store, &fi)) != STORE_OK) {
		resp_store_error(r, serr, "recording the file");
		goto out;
	}
	free(u.tmp);
	u.tmp = NULL;		/* kept: it is recorded */

	buf_printf(&w->out, "{\"id\": \"%s\", \"name\": ", fi.id);
	json_put_str(&w->out, fi.name);
	buf_printf(&w->out, ", \"size\": %" PRId64 ", \"sha256\": \"%s\", "
	    "\"content_type\": ", fi.size, fi.sha256);
	json_put_str(&w->out, fi.content_type);
	buf_putc(&w->out, '}');
	resp_header(r, "Location", "/api/files/%s", fi.id);
	resp_json(r, 201);
out:
	upload_discard(&u);
	mp_free(mp);
	free(final);
}

/* Whether a browser may show this type inline: images it cannot run. */
static bool
inline_type(const char *ct)
{
	return strcmp(ct, "image/png") == 0 || strcmp(ct, "image/jpeg") == 0 ||
	    strcmp(ct, "image/gif") == 0 || strcmp(ct, "image/webp") == 0;
}

/*
 * Content-Disposition: attachment with an ASCII fallback filename (quoted,
 * nothing that could end the quote) and the exact name as RFC 6266 /
 * RFC 8187 filename*.
 */
static void
disposition(struct req *r, const char *name)
{
	static const char	 hex[] = "0123456789ABCDEF";
	struct buf		*x = &r->w->xhdr;
	const unsigned char	*p;

	buf_puts(x, "Content-Disposition: attachment; filename=\"");
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		buf_putc(x, (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' &&
		    *p != '%') ? (char)*p : '_');
	buf_puts(x, "\"; filename*=UTF-8''");
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p) != NULL)
			buf_putc(x, (char)*p);
		else {
			buf_putc(x, '%');
			buf_putc(x, hex[*p >> 4]);
			buf_putc(x, hex[*p & 15]);
		}
	}
	buf_puts(x, "\r\n");
}

/*
 * GET /api/files/{id}: the bytes, streamed, with the stored content type.
 * 200; 404 unknown (or its bytes are gone); 422 malformed id; 500 read
 * error before the head was sent; 503 busy.
 */
void
h_file_get(struct req *r)
{
	struct worker	*w = r->w;
	struct file_info fi;
	struct stat	 sb;
	char		 id[TASK_ID_LEN + 1];
	char		*path = NULL;
	enum store_err	 err;
	ssize_t		 got;
	size_t		 n;
	int		 fd = -1;
	int64_t		 left;

	if (!task_id_normalize(r->arg, id)) {
		resp_error(r, 422, "id", "'%.64s' is not a file id (a UUID)", r->arg);
		return;
	}
	if ((err = store_file_get(w->store, id, &fi)) != STORE_OK) {
		if (err == STORE_NOTFOUND)
			resp_error(r, 404, "id", "no file %s", id);
		else
			resp_store_error(r, err, "reading the file record");
		return;
	}
	n = strlen(r->api->files_dir) + TASK_ID_LEN + 2;
	if ((path = malloc(n)) == NULL) {
		resp_nomem(r);
		return;
	}
	snprintf(path, n, "%s/%s", r->api->files_dir, id);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1) {
		if (errno == ENOENT) {
			log_warnx("file %s is recorded but %s is missing", id, path);
			resp_error(r, 404, "id", "the bytes of file %s are gone", id);
		} else {
			log_warn("open %s", path);
			resp_error(r, 500, NULL, "could not read the file");
		}
		goto out;
	}

	buf_reset(&w->hdr);
	buf_printf(&w->hdr, "Status: 200 OK\r\nContent-Type: %s\r\n"
	    "Content-Length: %jd\r\nX-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: private, max-age=3600\r\n",
	    fi.content_type[0] != '\0' ? fi.content_type :
	    "application/octet-stream", (intmax_t)sb.st_size);
	if (inline_type(fi.content_type))
		buf_puts(&w->hdr, "Content-Disposition: inline\r\n");
	else {
		buf_reset(&w->xhdr);
		disposition(r, fi.name[0] != '\0' ? fi.name : id);
		buf_put(&w->hdr, w->xhdr.p, w->xhdr.len);
	}
	buf_puts(&w->hdr, "\r\n");
	if (buf_failed(&w->hdr) || buf_failed(&w->xhdr)) {
		resp_nomem(r);
		goto out;
	}
	r->status = 200;
	if (FCGX_PutStr(w->hdr.p, (int)w->hdr.len, r->fcgi->out) < 0)
		goto out;
	if (strcmp(r->method, "HEAD") == 0)
		goto out;	/* nginx would drop the bytes anyway */
	/* The head is out: from here a failure can only cut the body short. */
	if (!buf_reserve(&w->out, IO_CHUNK)) {
		log_warnx("GET %s: out of memory", r->path);
		goto out;
	}
	for (left = sb.st_size; left > 0; left -= got) {
		got = read(fd, w->out.p, left < IO_CHUNK ? (size_t)left : IO_CHUNK);
		if (got == -1 && errno == EINTR) {
			got = 0;
			continue;
		}
		if (got <= 0) {
			log_warn("read %s", path);
			break;
		}
		if (FCGX_PutStr(w->out.p, (int)got, r->fcgi->out) < 0)
			break;
	}
out:
	if (fd != -1)
		close(fd);
	free(path);
}
