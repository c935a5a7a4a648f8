/*
 * Fuzzes the runner's decoder of a child's report stream (runner/proto.c):
 * the child runs a worker on hostile input (an uploaded image, a CSV) and
 * its pipe is the one channel back into the process that holds the
 * database, so a child gone wrong must not make the runner crash or
 * allocate without bound.  The stream is fed in pseudo-random pieces with
 * the frames consumed after each feed, as the runner does; every frame
 * returned must be of a known type and at most PROTO_MAX_PAYLOAD, the
 * buffer must stay within one frame plus one read, a refused stream stays
 * refused, and the frames must be those of the same stream fed whole (up
 * to a refused header, which drops the frames of the read it came in).
 *
 * Input: the bytes a child wrote, except that the harness rewrites each
 * frame header's length field before feeding: bytes 1-2 modulo 4 KiB, or,
 * when byte 3 is 0xff, PROTO_MAX_PAYLOAD - 8 + (byte 4 & 15), so both the
 * payload paths and the limit are reached with small inputs (a payload
 * running past the input is completed with zeros).
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define READ_MAX	65536	/* the runner's read(2) size */

/* runner/loop.c's clock, which the worker side of proto.c reads. */
int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
die(const char *why)
{
	fprintf(stderr, "fuzz_proto: %s\n", why);
	abort();
}

#define FRAMES_MAX	8192

/* A digest of each frame decoded, to compare whole and pieces. */
struct digest {
	uint64_t	 h[FRAMES_MAX];
	size_t		 frames;
	enum proto_err	 end;
};

static void
digest_frame(struct digest *d, const struct proto_frame *f)
{
	uint64_t h = 14695981039346656037u;
	size_t	 i;

	if (f->type < PROTO_PROGRESS || f->type >= PROTO__MAX)
		die("a frame of an unknown type");
	if (f->len > PROTO_MAX_PAYLOAD)
		die("a frame over PROTO_MAX_PAYLOAD");
	h = (h ^ (uint64_t)f->type) * 1099511628211u;
	h = (h ^ (uint64_t)f->len) * 1099511628211u;
	for (i = 0; i < f->len; i++)
		h = (h ^ f->payload[i]) * 1099511628211u;
	if (d->frames < FRAMES_MAX)
		d->h[d->frames] = h;
	d->frames++;
}

static void
decode(const unsigned char *p, size_t len, uint32_t seed, struct digest *d)
{
	struct proto_reader	 r;
	struct proto_frame	 f;
	enum proto_err		 e = PROTO_OK;
	size_t			 off = 0, n;

	d->frames = 0;
	proto_reader_init(&r);
	while (off < len) {
		n = len - off;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % ((seed & 1) ? 7 : 5000);
		}
		if (n > READ_MAX)
			n = READ_MAX;
		if (n > len - off)
			n = len - off;
		if ((e = proto_reader_feed(&r, p + off, n)) != PROTO_OK)
			break;
		off += n;
		if (r.cap > 2 * (PROTO_HDR_LEN + PROTO_MAX_PAYLOAD + READ_MAX))
			die("the reader's buffer grew past one frame and a read");
		while ((e = proto_reader_next(&r, &f)) == PROTO_OK)
			digest_frame(d, &f);
		if (e != PROTO_AGAIN)
			break;
		e = PROTO_OK;
	}
	if (e == PROTO_OK)
		e = proto_reader_eof(&r);
	else if (proto_reader_feed(&r, "x", 1) != e ||
	    proto_reader_next(&r, &f) != e)
		die("a refused stream did not stay refused");
	d->end = e;
	proto_reader_free(&r);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*p;
	static struct digest a, b;
	uint32_t	 seed = 2166136261u, len;
	size_t		 pos = 0, out = 0, cap, have, i, n;

	cap = size + 4 * (PROTO_HDR_LEN + PROTO_MAX_PAYLOAD);
	if ((p = calloc(1, cap)) == NULL)
		return 0;
	/* Rewrite each header's length; payloads past the input are zeros. */
	while (pos + PROTO_HDR_LEN <= size) {
		len = (uint32_t)data[pos + 1] << 8 | data[pos + 2];
		if (data[pos + 3] == 0xff)
			len = PROTO_MAX_PAYLOAD - 8 + (data[pos + 4] & 15);
		else
			len %= 4096;
		if (out + PROTO_HDR_LEN + len > cap - size)
			break;
		p[out] = data[pos];
		p[out + 1] = (unsigned char)(len >> 24);
		p[out + 2] = (unsigned char)(len >> 16);
		p[out + 3] = (unsigned char)(len >> 8);
		p[out + 4] = (unsigned char)len;
		pos += PROTO_HDR_LEN;
		have = size - pos < len ? size - pos : len;
		memcpy(p + out + PROTO_HDR_LEN, data + pos, have);
		pos += have;
		out += PROTO_HDR_LEN + len;
	}
	memcpy(p + out, data + pos, size - pos);
	out += size - pos;
	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	decode(p, out, 0, &a);
	decode(p, out, seed | 2, &b);
	/*
	 * A refused header fails the whole read it came in, so the frames
	 * before it in the same read are not delivered: after a hard error
	 * one sequence is a prefix of the other; otherwise they are equal.
	 */
	n = a.frames < b.frames ? a.frames : b.frames;
	if (n > FRAMES_MAX)
		n = FRAMES_MAX;
	if (a.end != b.end || memcmp(a.h, b.h, n * sizeof(a.h[0])) != 0 ||
	    ((a.end == PROTO_OK || a.end == PROTO_TRUNCATED) &&
	    a.frames != b.frames))
		die("the stream decoded in pieces differs from the whole");
	free(p);
	return 0;
}
