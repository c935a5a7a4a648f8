/*
 * The framed message format between a child and the runner, both sides: the
 * runner's incremental decoder, which refuses oversized frames from their
 * header so that a misbehaving child cannot make the runner allocate, and the
 * worker's reporting helpers.
 */
#include <config.h>

#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "store.h"
#include "runner.h"

static const char *const proto_errs[PROTO_ERR__MAX] = {
	"success",			/* PROTO_OK */
	"incomplete frame",		/* PROTO_AGAIN */
	"frame larger than 1 MiB",	/* PROTO_TOOBIG */
	"unknown frame type",		/* PROTO_BADTYPE */
	"malformed frame",		/* PROTO_BADFRAME */
	"stream ends inside a frame",	/* PROTO_TRUNCATED */
	"out of memory",		/* PROTO_NOMEM */
	"write error",			/* PROTO_IO */
};

const char *
proto_strerror(enum proto_err e)
{
	if ((unsigned)e >= PROTO_ERR__MAX)
		return "unknown error";
	return proto_errs[e];
}

void
proto_reader_init(struct proto_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void
proto_reader_free(struct proto_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static uint32_t
proto_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * Checks the frame header at p: the type must be known and the length within
 * bounds for it.
 */
static enum proto_err
proto_check_header(const unsigned char *p)
{
	uint32_t	 len = proto_get32(p + 1);

	if (p[0] == 0 || p[0] >= PROTO__MAX)
		return PROTO_BADTYPE;
	if (len > PROTO_MAX_PAYLOAD)
		return PROTO_TOOBIG;
	if (p[0] == PROTO_PROGRESS && len != 1)
		return PROTO_BADFRAME;
	if (p[0] == PROTO_FAIL && len < 1)
		return PROTO_BADFRAME;
	return PROTO_OK;
}

static enum proto_err
proto_reader_fail(struct proto_reader *r, enum proto_err e)
{
	r->failed = true;
	r->err = e;
	return e;
}

/*
 * Appends n bytes and validates every frame header now complete, so that an
 * oversized or unknown frame is refused as soon as its header arrives.  The
 * runner consumes complete frames after each feed, so the buffer holds at
 * most one frame (at most PROTO_MAX_PAYLOAD) plus one read's worth.
 */
enum proto_err
proto_reader_feed(struct proto_reader *r, const void *data, size_t n)
{
	enum proto_err	 e;
	size_t		 ncap, pos;
	unsigned char	*nbuf;

	if (r->failed)
		return r->err;
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (n == 0)
		return PROTO_OK;
	if (r->len + n > r->cap) {
		ncap = r->cap ? r->cap : 256;
		while (ncap < r->len + n)
			ncap *= 2;
		if ((nbuf = realloc(r->buf, ncap)) == NULL)
			return proto_reader_fail(r, PROTO_NOMEM);
		r->buf = nbuf;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	for (pos = 0; r->len - pos >= PROTO_HDR_LEN; ) {
		if ((e = proto_check_header(r->buf + pos)) != PROTO_OK)
			return proto_reader_fail(r, e);
		pos += PROTO_HDR_LEN + (size_t)proto_get32(r->buf + pos + 1);
		if (pos > r->len)
			break;
	}
	return PROTO_OK;
}

/*
 * Returns the next complete frame (PROTO_OK), PROTO_AGAIN if none is
 * buffered, or the error that made the stream unusable.  The payload stays
 * valid until the next proto_reader_feed().
 */
enum proto_err
proto_reader_next(struct proto_reader *r, struct proto_frame *f)
{
	size_t	 avail, len;

	if (r->failed)
		return r->err;
	avail = r->len - r->off;
	if (avail < PROTO_HDR_LEN)
		return PROTO_AGAIN;
	len = proto_get32(r->buf + r->off + 1);
	if (avail < PROTO_HDR_LEN + len)
		return PROTO_AGAIN;
	f->type = r->buf[r->off];
	f->payload = r->buf + r->off + PROTO_HDR_LEN;
	f->len = len;
	r->off += PROTO_HDR_LEN + len;
	return PROTO_OK;
}

/* At end of stream: PROTO_TRUNCATED if a frame was left incomplete. */
enum proto_err
proto_reader_eof(const struct proto_reader *r)
{
	if (r->failed)
		return r->err;
	return r->len == r->off ? PROTO_OK : PROTO_TRUNCATED;
}

/*
 * Writes one frame with writev, retrying short writes and EINTR.  Uses no
 * heap, so that a worker that ran out of memory can still report it.
 */
enum proto_err
proto_write(int fd, enum proto_type type, const void *payload, size_t len)
{
	unsigned char	 hdr[PROTO_HDR_LEN];
	struct iovec	 iov[2];
	int		 iovcnt = 2, i = 0;
	ssize_t		 w;

	if (len > PROTO_MAX_PAYLOAD)
		return PROTO_TOOBIG;
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = len;
	while (i < iovcnt) {
		w = writev(fd, iov + i, iovcnt - i);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return PROTO_IO;
		}
		while (i < iovcnt && (size_t)w >= iov[i].iov_len) {
			w -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < iovcnt) {
			iov[i].iov_base = (char *)iov[i].iov_base + w;
			iov[i].iov_len -= (size_t)w;
		}
	}
	return PROTO_OK;
}

void
worker_progress(struct worker_ctx *ctx, int pct)
{
	int64_t		 now;
	unsigned char	 b;

	if (ctx->done)
		return;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	if (pct == ctx->last_progress)
		return;
	now = mono_ms();
	b = (unsigned char)pct;
	if (proto_write(ctx->fd, PROTO_PROGRESS, &b, 1) != PROTO_OK)
		return;		/* the runner is gone; PDEATHSIG follows */
	ctx->last_progress = pct;
	ctx->last_progress_ms = now;
}

void
worker_result(struct worker_ctx *ctx, const char *json)
{
	size_t	 len;

	if (ctx->done)
		return;
	len = strlen(json);
	if (len > PROTO_MAX_PAYLOAD) {
		worker_fail(ctx, "result larger than 1 MiB", false);
		return;
	}
	ctx->done = true;
	(void)proto_write(ctx->fd, PROTO_RESULT, json, len);
}

/*
 * Sends a failure: the temporary flag, then the message, truncated to the
 * frame bound.  Written as one frame without allocating.
 */
void
worker_fail(struct worker_ctx *ctx, const char *msg, bool temporary)
{
	unsigned char	 hdr[PROTO_HDR_LEN + 1];
	struct iovec	 iov[2];
	size_t		 len, plen;
	ssize_t		 w;
	int		 i = 0;

	if (ctx->done)
		return;		/* the first report wins */
	ctx->done = true;
	len = strlen(msg);
	if (len > PROTO_MAX_PAYLOAD - 1)
		len = PROTO_MAX_PAYLOAD - 1;
	plen = len + 1;
	hdr[0] = PROTO_FAIL;
	hdr[1] = (unsigned char)(plen >> 24);
	hdr[2] = (unsigned char)(plen >> 16);
	hdr[3] = (unsigned char)(plen >> 8);
	hdr[4] = (unsigned char)plen;
	hdr[5] = temporary ? 1 : 0;
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)msg;
	iov[1].iov_len = len;
	while (i < 2) {
		if ((w = writev(ctx->fd, iov + i, 2 - i)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		while (i < 2 && (size_t)w >= iov[i].iov_len) {
			w -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + w;
			iov[i].iov_len -= (size_t)w;
		}
	}
}

void
worker_failf(struct worker_ctx *ctx, bool temporary, const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	worker_fail(ctx, buf, temporary);
}

/* The PROTO_FILE frame: the file's metadata as one JSON object. */
bool
worker_file(struct worker_ctx *ctx, const struct file_info *fi)
{
	struct json_object	*o;
	const char		*text;
	bool			 ok = false;

	if (ctx->done || (o = json_object_new_object()) == NULL)
		return false;
	if (json_object_object_add(o, "id", json_object_new_string(fi->id)) == 0 &&
	    json_object_object_add(o, "name", json_object_new_string(fi->name)) == 0 &&
	    json_object_object_add(o, "size", json_object_new_int64(fi->size)) == 0 &&
	    json_object_object_add(o, "sha256", json_object_new_string(fi->sha256)) == 0 &&
	    json_object_object_add(o, "content_type",
	    json_object_new_string(fi->content_type)) == 0 &&
	    (text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) != NULL)
		ok = proto_write(ctx->fd, PROTO_FILE, text, strlen(text)) == PROTO_OK;
	json_object_put(o);
	return ok;
}
