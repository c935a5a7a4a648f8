/*
 * Unit tests of the runner's modules: the frame protocol (including
 * truncated, oversized and malformed frames), backoff bounds and jitter, the
 * stderr ring, children run for real through child.c (isolation, outcomes,
 * test hooks), and claim, fencing and recovery as the runner sees them,
 * through the real store on a temporary file.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <json-c/json.h>

#include "log.h"
#include "store.h"
#include "runner.h"

/* ---- proto ------------------------------------------------------------ */

static void
put_header(unsigned char *p, unsigned type, uint32_t len)
{
	p[0] = (unsigned char)type;
	p[1] = (unsigned char)(len >> 24);
	p[2] = (unsigned char)(len >> 16);
	p[3] = (unsigned char)(len >> 8);
	p[4] = (unsigned char)len;
}

/* Reads everything available from a pipe into buf; returns the length. */
static size_t
slurp(int fd, unsigned char *buf, size_t cap)
{
	size_t	 n = 0;
	ssize_t	 r;

	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	return n;
}

static void
test_proto_round_trip(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	unsigned char		 buf[4096], pct = 42;
	int			 p[2];
	size_t			 n;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(proto_write(p[1], PROTO_PROGRESS, &pct, 1), PROTO_OK);
	assert_int_equal(proto_write(p[1], PROTO_RESULT, "{\"a\":1}", 7), PROTO_OK);
	assert_int_equal(proto_write(p[1], PROTO_FAIL, "\001oops", 5), PROTO_OK);
	close(p[1]);
	n = slurp(p[0], buf, sizeof(buf));
	close(p[0]);
	assert_int_equal(n, 3 * PROTO_HDR_LEN + 1 + 7 + 5);

	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, n), PROTO_OK);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_OK);
	assert_int_equal(f.type, PROTO_PROGRESS);
	assert_int_equal(f.len, 1);
	assert_int_equal(f.payload[0], 42);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_OK);
	assert_int_equal(f.type, PROTO_RESULT);
	assert_int_equal(f.len, 7);
	assert_memory_equal(f.payload, "{\"a\":1}", 7);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_OK);
	assert_int_equal(f.type, PROTO_FAIL);
	assert_memory_equal(f.payload, "\001oops", 5);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_AGAIN);
	assert_int_equal(proto_reader_eof(&rd), PROTO_OK);
	proto_reader_free(&rd);
}

static void
test_proto_byte_at_a_time(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	unsigned char		 buf[64];
	size_t			 i;
	int			 frames = 0;

	(void)state;
	put_header(buf, PROTO_RESULT, 2);
	memcpy(buf + 5, "{}", 2);
	put_header(buf + 7, PROTO_PROGRESS, 1);
	buf[12] = 100;
	proto_reader_init(&rd);
	for (i = 0; i < 13; i++) {
		assert_int_equal(proto_reader_feed(&rd, buf + i, 1), PROTO_OK);
		while (proto_reader_next(&rd, &f) == PROTO_OK) {
			frames++;
			if (frames == 1) {
				assert_int_equal(i, 6);
				assert_int_equal(f.type, PROTO_RESULT);
				assert_memory_equal(f.payload, "{}", 2);
			} else {
				assert_int_equal(i, 12);
				assert_int_equal(f.type, PROTO_PROGRESS);
				assert_int_equal(f.payload[0], 100);
			}
		}
	}
	assert_int_equal(frames, 2);
	assert_int_equal(proto_reader_eof(&rd), PROTO_OK);
	proto_reader_free(&rd);
}

static void
test_proto_oversized_refused_from_header(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	unsigned char		 hdr[PROTO_HDR_LEN];

	(void)state;
	put_header(hdr, PROTO_RESULT, PROTO_MAX_PAYLOAD + 1);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, hdr, sizeof(hdr)), PROTO_TOOBIG);
	/* Refused before any payload arrived: nothing near 1 MiB was allocated. */
	assert_true(rd.cap < 4096);
	/* And it stays refused. */
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_TOOBIG);
	assert_int_equal(proto_reader_feed(&rd, "x", 1), PROTO_TOOBIG);
	assert_int_equal(proto_reader_eof(&rd), PROTO_TOOBIG);
	proto_reader_free(&rd);

	/* 4 GiB - 1 announced: also refused, no overflow. */
	put_header(hdr, PROTO_RESULT, UINT32_MAX);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, hdr, sizeof(hdr)), PROTO_TOOBIG);
	proto_reader_free(&rd);

	/* The writer refuses too. */
	assert_int_equal(proto_write(-1, PROTO_RESULT, hdr, PROTO_MAX_PAYLOAD + 1),
	    PROTO_TOOBIG);
}

static void
test_proto_oversized_second_frame(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	unsigned char		 buf[32];

	(void)state;
	put_header(buf, PROTO_PROGRESS, 1);
	buf[5] = 7;
	put_header(buf + 6, PROTO_FAIL, PROTO_MAX_PAYLOAD + 100);
	proto_reader_init(&rd);
	/* The second header is checked as soon as it is complete. */
	assert_int_equal(proto_reader_feed(&rd, buf, 11), PROTO_TOOBIG);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_TOOBIG);
	proto_reader_free(&rd);
}

static void
test_proto_max_payload_accepted(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	unsigned char		*buf;
	size_t			 n = PROTO_HDR_LEN + PROTO_MAX_PAYLOAD;

	(void)state;
	buf = malloc(n);
	assert_non_null(buf);
	put_header(buf, PROTO_RESULT, PROTO_MAX_PAYLOAD);
	memset(buf + PROTO_HDR_LEN, 'a', PROTO_MAX_PAYLOAD);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, n / 2), PROTO_OK);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_AGAIN);
	assert_int_equal(proto_reader_eof(&rd), PROTO_TRUNCATED);
	assert_int_equal(proto_reader_feed(&rd, buf + n / 2, n - n / 2), PROTO_OK);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_OK);
	assert_int_equal(f.len, PROTO_MAX_PAYLOAD);
	assert_int_equal(f.payload[PROTO_MAX_PAYLOAD - 1], 'a');
	proto_reader_free(&rd);
	free(buf);
}

static void
test_proto_malformed(void **state)
{
	struct proto_reader	 rd;
	unsigned char		 buf[16];

	(void)state;
	/* Type 0 and unknown types. */
	put_header(buf, 0, 0);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, 5), PROTO_BADTYPE);
	proto_reader_free(&rd);
	put_header(buf, PROTO__MAX, 0);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, 5), PROTO_BADTYPE);
	proto_reader_free(&rd);
	/* A progress frame must carry exactly one byte. */
	put_header(buf, PROTO_PROGRESS, 2);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, 5), PROTO_BADFRAME);
	proto_reader_free(&rd);
	/* A failure carries at least its temporary flag. */
	put_header(buf, PROTO_FAIL, 0);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, 5), PROTO_BADFRAME);
	proto_reader_free(&rd);
}

static void
test_proto_truncated(void **state)
{
	struct proto_reader	 rd;
	unsigned char		 buf[16];

	(void)state;
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_eof(&rd), PROTO_OK);	/* empty stream */
	put_header(buf, PROTO_RESULT, 10);
	/* Half a header. */
	assert_int_equal(proto_reader_feed(&rd, buf, 3), PROTO_OK);
	assert_int_equal(proto_reader_eof(&rd), PROTO_TRUNCATED);
	/* The header and part of the payload. */
	assert_int_equal(proto_reader_feed(&rd, buf + 3, 2), PROTO_OK);
	assert_int_equal(proto_reader_feed(&rd, "{\"a\"", 4), PROTO_OK);
	assert_int_equal(proto_reader_eof(&rd), PROTO_TRUNCATED);
	proto_reader_free(&rd);
}

static struct worker_ctx
ctx_on(int fd)
{
	struct worker_ctx	 ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.fd = fd;
	ctx.last_progress = -1;
	return ctx;
}

static void
test_worker_first_report_wins(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	struct worker_ctx	 ctx;
	unsigned char		 buf[4096];
	int			 p[2], frames = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	ctx = ctx_on(p[1]);
	worker_result(&ctx, "{\"ok\":true}");
	worker_fail(&ctx, "too late", false);
	worker_result(&ctx, "{\"again\":1}");
	worker_progress(&ctx, 50);
	close(p[1]);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, slurp(p[0], buf, sizeof(buf))),
	    PROTO_OK);
	close(p[0]);
	while (proto_reader_next(&rd, &f) == PROTO_OK) {
		frames++;
		assert_int_equal(f.type, PROTO_RESULT);
		assert_memory_equal(f.payload, "{\"ok\":true}", f.len);
	}
	assert_int_equal(frames, 1);
	proto_reader_free(&rd);
}

static void
test_worker_fail_flag_and_message(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	struct worker_ctx	 ctx;
	unsigned char		 buf[4096];
	int			 p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	ctx = ctx_on(p[1]);
	worker_failf(&ctx, true, "smtp %s", "timeout");
	close(p[1]);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, slurp(p[0], buf, sizeof(buf))),
	    PROTO_OK);
	close(p[0]);
	assert_int_equal(proto_reader_next(&rd, &f), PROTO_OK);
	assert_int_equal(f.type, PROTO_FAIL);
	assert_int_equal(f.payload[0], 1);
	assert_int_equal(f.len, 1 + strlen("smtp timeout"));
	assert_memory_equal(f.payload + 1, "smtp timeout", f.len - 1);
	proto_reader_free(&rd);
}

static void
test_worker_progress_dedup_and_clamp(void **state)
{
	struct proto_reader	 rd;
	struct proto_frame	 f;
	struct worker_ctx	 ctx;
	unsigned char		 buf[8192];
	int			 p[2], i, frames = 0, last = -1;

	(void)state;
	assert_int_equal(pipe(p), 0);
	ctx = ctx_on(p[1]);
	/* Repeated values are not sent again ... */
	for (i = 0; i <= 100; i++) {
		worker_progress(&ctx, i);
		worker_progress(&ctx, i);
	}
	worker_progress(&ctx, 250);	/* clamped */
	close(p[1]);
	proto_reader_init(&rd);
	assert_int_equal(proto_reader_feed(&rd, buf, slurp(p[0], buf, sizeof(buf))),
	    PROTO_OK);
	close(p[0]);
	while (proto_reader_next(&rd, &f) == PROTO_OK) {
		assert_int_equal(f.type, PROTO_PROGRESS);
		assert_true((int)f.payload[0] > last);
		last = f.payload[0];
		frames++;
	}
	/* ... each change is, once, and out-of-range values are clamped. */
	assert_int_equal(frames, 101);
	assert_int_equal(last, 100);
	proto_reader_free(&rd);
}

/* ---- backoff ---------------------------------------------------------- */

static void
test_backoff_bounds(void **state)
{
	(void)state;
	/* r = 0 is the lower bound, r = max the ceiling for that attempt. */
	assert_int_equal(backoff_delay_ms(1000, 300000, 1, 0), 0);
	assert_int_equal(backoff_delay_ms(1000, 300000, 1, 1000), 1000);
	assert_int_equal(backoff_delay_ms(1000, 300000, 2, 2000), 2000);
	assert_int_equal(backoff_delay_ms(1000, 300000, 3, 4000), 4000);
	assert_int_equal(backoff_delay_ms(1000, 300000, 1, UINT64_MAX) <= 1000, 1);
	/* Attempt 0 or negative is treated as the first. */
	assert_true(backoff_delay_ms(1000, 300000, 0, UINT64_MAX) <= 1000);
	assert_true(backoff_delay_ms(1000, 300000, -5, UINT64_MAX) <= 1000);
	/* Degenerate settings. */
	assert_int_equal(backoff_delay_ms(0, 300000, 3, 12345), 0);
	assert_int_equal(backoff_delay_ms(1000, 0, 3, 12345), 0);
}

static void
test_backoff_cap_and_overflow(void **state)
{
	uint64_t	 r;
	int		 attempt;
	int64_t		 d;

	(void)state;
	/* 1000 << 9 = 512000 > cap: capped from attempt 10 on. */
	assert_int_equal(backoff_delay_ms(1000, 300000, 10, 300000), 300000);
	assert_int_equal(backoff_delay_ms(1000, 300000, 10, 300001), 0);
	/* Base above the cap: the cap. */
	assert_int_equal(backoff_delay_ms(500000, 300000, 1, 300000), 300000);
	/* Huge attempts neither overflow nor exceed the cap. */
	for (attempt = 20; attempt < 100000; attempt = attempt * 3 + 1) {
		for (r = UINT64_MAX - 5; r != 4; r++) {
			d = backoff_delay_ms(1000, 300000, attempt, r);
			assert_true(d >= 0 && d <= 300000);
		}
	}
	d = backoff_delay_ms(INT64_MAX / 2, INT64_MAX, INT32_MAX, UINT64_MAX);
	assert_true(d >= 0);
	d = backoff_delay_ms(3, INT64_MAX - 1, INT32_MAX, UINT64_MAX - 1);
	assert_true(d >= 0);
}

static void
test_backoff_full_jitter_range(void **state)
{
	int64_t		 d, lo = INT64_MAX, hi = -1;
	int		 i, low_half = 0;

	(void)state;
	/* Real random draws spread over the whole [0, 8000] range. */
	for (i = 0; i < 2000; i++) {
		d = backoff_delay_ms(1000, 300000, 4, backoff_random());
		assert_true(d >= 0 && d <= 8000);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
		if (d < 4000)
			low_half++;
	}
	assert_true(lo < 800);
	assert_true(hi > 7200);
	assert_true(low_half > 800 && low_half < 1200);
}

/* ---- ring ------------------------------------------------------------- */

static void
test_ring_keeps_last_64k(void **state)
{
	struct ring	 r;
	char		 chunk[1000], *s;
	int		 i;

	(void)state;
	ring_init(&r);
	assert_null(ring_text(&r));
	assert_true(ring_write(&r, "hello ", 6));
	assert_true(ring_write(&r, "world", 5));
	s = ring_text(&r);
	assert_string_equal(s, "hello world");
	free(s);
	/* 200 chunks of 1000: only the last 65536 bytes remain, in order. */
	for (i = 0; i < 200; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		assert_true(ring_write(&r, chunk, sizeof(chunk)));
	}
	assert_int_equal(r.len, RING_SIZE);
	assert_int_equal(r.total, 11 + 200 * 1000);
	s = ring_text(&r);
	assert_int_equal(strlen(s), RING_SIZE);
	assert_int_equal(s[RING_SIZE - 1], 'a' + 199 % 26);
	assert_int_equal(s[RING_SIZE - 1000], 'a' + 199 % 26);
	assert_int_equal(s[RING_SIZE - 1001], 'a' + 198 % 26);
	assert_int_equal(s[0], 'a' + (200 - 66) % 26);	/* 536 bytes of chunk 134 */
	free(s);
	ring_free(&r);
}

static void
test_ring_one_huge_write(void **state)
{
	struct ring	 r;
	char		*big, *s;
	size_t		 n = 3 * RING_SIZE + 17;

	(void)state;
	big = malloc(n);
	assert_non_null(big);
	memset(big, 'x', n);
	big[n - 1] = 'z';
	big[n - RING_SIZE] = 'y';
	ring_init(&r);
	assert_true(ring_write(&r, "abc", 3));
	assert_true(ring_write(&r, big, n));
	s = ring_text(&r);
	assert_int_equal(strlen(s), RING_SIZE);
	assert_int_equal(s[0], 'y');
	assert_int_equal(s[RING_SIZE - 1], 'z');
	free(s);
	free(big);
	ring_free(&r);
}

static void
test_utf8_sanitize(void **state)
{
	char	 s[64];

	(void)state;
	strcpy(s, "plain \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	utf8_sanitize(s, strlen(s));
	assert_string_equal(s, "plain \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* Lone continuation, truncated sequence, overlong, surrogate, > U+10FFFF. */
	memcpy(s, "a\x80" "b\xc3" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80\x80", 16);
	utf8_sanitize(s, 16);
	assert_memory_equal(s, "a?b?c??d???e????", 16);
	/* NUL bytes inside the output. */
	memcpy(s, "x\0y", 3);
	utf8_sanitize(s, 3);
	assert_memory_equal(s, "x?y", 3);
}

/* ---- children, for real ----------------------------------------------- */

static struct config	 cfg;

static struct task *
mktask(const char *type, const char *params, int timeout_s)
{
	struct task	*t;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	task_id_generate(t->id);
	t->task_type = strdup(type);
	t->parameters = strdup(params);
	t->status = TASK_RUNNING;
	t->attempt = 1;
	t->max_attempts = 3;
	t->timeout_s = timeout_s;
	t->claim_token = 1;
	return t;
}

/* When set, run_child() goes through this spawner (and asserts it did). */
static struct spawner	*via;

/* Waits for the spawner's report of pid's exit; its wait status. */
static int
spawner_wait_exit(struct spawner *sp, pid_t pid)
{
	struct spawn_msg	 m;
	struct pollfd		 pfd;
	int			 rc;

	for (;;) {
		while ((rc = spawner_next(sp, &m)) == 1)
			if (m.type == SPAWN_EXITED && m.pid == pid)
				return m.value;
		assert_int_equal(rc, 0);
		pfd.fd = sp->fd;
		pfd.events = POLLIN;
		assert_true(poll(&pfd, 1, 20000) > 0);
	}
}

/* Runs a child to its end as the loop would, minus the store. */
static struct child *
run_child(const char *type, const char *params, bool hooks)
{
	struct child	*c;
	struct pollfd	 pfd[2];
	int		 n;

	c = child_spawn_via(mktask(type, params, 30), &cfg, hooks, via);
	assert_non_null(c);
	assert_true(c->pid > 0);
	assert_int_equal(c->spawned, via != NULL);
	while (c->rfd != -1 || c->efd != -1) {
		n = 0;
		if (c->rfd != -1) {
			pfd[n].fd = c->rfd;
			pfd[n++].events = POLLIN;
		}
		if (c->efd != -1) {
			pfd[n].fd = c->efd;
			pfd[n++].events = POLLIN;
		}
		assert_true(poll(pfd, (nfds_t)n, 20000) > 0);
		while (n-- > 0)
			if (pfd[n].revents != 0)
				child_read(c, pfd[n].fd);
	}
	if (via != NULL)
		c->status = spawner_wait_exit(via, c->pid);
	else
		assert_int_equal(waitpid(c->pid, &c->status, 0), c->pid);
	c->exited = true;
	c->pid = 0;
	child_drain(c);
	child_conclude(c, &cfg);
	assert_true(c->finish_ready);
	return c;
}

static void
test_child_echo_success(void **state)
{
	struct child		*c;
	struct json_object	*o, *v;

	(void)state;
	c = run_child("echo", "{\"message\":\"hi \\u00e9\",\"delay_ms\":250}", false);
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_null(c->fin.error);
	o = json_tokener_parse(c->result);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "message", &v));
	assert_string_equal(json_object_get_string(v), "hi \xc3\xa9");
	assert_true(json_object_object_get_ex(o, "elapsed_ms", &v));
	assert_true(json_object_get_int(v) >= 250 && json_object_get_int(v) < 2000);
	json_object_put(o);
	/* Progress advanced during the delay. */
	assert_true(c->progress > 0);
	child_free(c);
}

static void
test_child_echo_requested_failure(void **state)
{
	struct child	*c;

	(void)state;
	c = run_child("echo", "{\"message\":\"x\",\"fail\":true}", false);
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_string_equal(c->fin.error, "requested failure");
	child_free(c);
}

static void
test_child_isolation(void **state)
{
	struct child		*c;
	struct json_object	*o, *v;
	int			 extra, i, n, fd;

	(void)state;
	/* Give the runner extra descriptors and blocked/ignored signals. */
	extra = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC on purpose */
	assert_true(extra >= 0);
	signal(SIGUSR1, SIG_IGN);
	c = run_child("echo", "{\"message\":\"__taskq_test_isolation__\"}", true);
	signal(SIGUSR1, SIG_DFL);
	close(extra);
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	o = json_tokener_parse(c->result);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "fds", &v));
	/*
	 * 0, 1, 2 and the report pipe 3, nothing else (below 1000: valgrind
	 * keeps its own descriptors near the top of the table).
	 */
	for (i = 0, n = 0; i < (int)json_object_array_length(v); i++) {
		fd = json_object_get_int(json_object_array_get_idx(v, (size_t)i));
		if (fd < 1000) {
			assert_true(fd <= 3);
			n++;
		}
	}
	assert_int_equal(n, 4);
	assert_true(json_object_object_get_ex(o, "blocked", &v));
	assert_int_equal(json_object_get_int(v), 0);
	assert_true(json_object_object_get_ex(o, "ignored", &v));
	assert_int_equal(json_object_get_int(v), 0);
	assert_true(json_object_object_get_ex(o, "pgid_is_pid", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(o);
	child_free(c);
}

static void
test_child_hooks_inert_without_env(void **state)
{
	struct child	*c;

	(void)state;
	c = run_child("echo", "{\"message\":\"__taskq_test_crash__\"}", false);
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_non_null(strstr(c->result, "__taskq_test_crash__"));
	child_free(c);
}

static void
test_child_crash(void **state)
{
	struct child	*c;

	(void)state;
	c = run_child("echo", "{\"message\":\"__taskq_test_crash__\"}", true);
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_string_equal(c->fin.error, "worker crashed (signal 11)");
	child_free(c);
}

static void
test_child_exit_without_result(void **state)
{
	struct child	*c;

	(void)state;
	c = run_child("echo", "{\"message\":\"__taskq_test_exit__\"}", true);
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_string_equal(c->fin.error,
	    "worker exited with status 3 without a result");
	child_free(c);
}

static void
test_child_temporary_failure_retries(void **state)
{
	struct child	*c;
	int64_t		 now = time_now_ms();

	(void)state;
	c = run_child("echo", "{\"message\":\"__taskq_test_tempfail__\"}", true);
	assert_int_equal(c->fin.outcome, OUTCOME_RETRY);
	assert_non_null(c->fin.error);
	/* attempt 1: within [now, now + retry_base_ms] */
	assert_true(c->fin.retry_at >= now);
	assert_true(c->fin.retry_at <= time_now_ms() + cfg.retry_base_ms);
	child_free(c);
}

static void
test_child_stderr_captured_bounded(void **state)
{
	struct child	*c;
	size_t		 n;

	(void)state;
	c = run_child("echo", "{\"message\":\"__taskq_test_stderr__\"}", true);
	assert_int_equal(c->fin.outcome, OUTCOME_SUCCESS);
	assert_non_null(c->fin.output);
	n = strlen(c->fin.output);
	assert_int_equal(n, RING_SIZE);
	assert_string_equal(c->fin.output + n - strlen("__taskq_test_stderr__ done\n"),
	    "__taskq_test_stderr__ done\n");
	child_free(c);
}

static void
test_child_memory_limit(void **state)
{
	struct child	*c;
	int64_t		 saved = cfg.child_max_memory;

	(void)state;
#ifdef __SANITIZE_ADDRESS__
	/* RLIMIT_AS is not applied under ASan (runner/child.c). */
	print_message("skipped: child_max_memory is not applied under "
	    "AddressSanitizer\n");
	skip();
#endif
	cfg.child_max_memory = 256 * 1024 * 1024;
	c = run_child("echo", "{\"message\":\"__taskq_test_alloc__\"}", true);
	cfg.child_max_memory = saved;
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_non_null(strstr(c->fin.error, "out of memory"));
	assert_non_null(strstr(c->fin.error, "child_max_memory"));
	child_free(c);
}

static void
test_child_unimplemented_type(void **state)
{
	struct child	*c;

	(void)state;
	c = run_child("no_such_type", "{}", false);
	assert_int_equal(c->fin.outcome, OUTCOME_FAILED);
	assert_string_equal(c->fin.error,
	    "task type 'no_such_type' is not executable by this runner version");
	child_free(c);
}

/* ---- claim, fencing and recovery through the real store --------------- */

struct db {
	char		 path[64];
	struct store	*st;
};

static int
db_setup(void **state)
{
	struct db	*d;
	char		 err[256];
	int		 fd;

	d = calloc(1, sizeof(*d));
	assert_non_null(d);
	strcpy(d->path, "/tmp/test_runner.XXXXXX");
	assert_true((fd = mkstemp(d->path)) >= 0);
	close(fd);
	unlink(d->path);
	assert_int_equal(store_open(d->path, 0, 5000, &d->st, err, sizeof(err)),
	    STORE_OK);
	*state = d;
	return 0;
}

static int
db_teardown(void **state)
{
	struct db	*d = *state;
	char		 p[80];

	store_close(d->st);
	unlink(d->path);
	snprintf(p, sizeof(p), "%s-wal", d->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", d->path);
	unlink(p);
	free(d);
	return 0;
}

static void
submit_n(struct store *st, int n, int max_attempts)
{
	struct task_new	 tn;
	struct task	*t;
	bool		 existed;
	int		 i;

	memset(&tn, 0, sizeof(tn));
	tn.task_type = "echo";
	tn.parameters = "{\"message\":\"m\"}";
	tn.max_attempts = max_attempts;
	tn.timeout_s = 60;
	for (i = 0; i < n; i++) {
		assert_int_equal(store_task_submit(st, &tn, &t, &existed), STORE_OK);
		task_free(t);
	}
}

static void
beat(struct store *st, const char *id, int64_t last_seen)
{
	struct runner_info	 ri;

	memset(&ri, 0, sizeof(ri));
	snprintf(ri.id, sizeof(ri.id), "%s", id);
	snprintf(ri.host, sizeof(ri.host), "test");
	ri.pid = 1;
	ri.slots = 2;
	ri.last_seen = last_seen;
	assert_int_equal(store_runner_beat(st, &ri), STORE_OK);
}

static void
free_tasks(struct task **ts, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		task_free(ts[i]);
	free(ts);
}

static void
test_claim_never_twice(void **state)
{
	struct db	*d = *state;
	struct task	**a, **b, **c;
	size_t		 na, nb, nc, i, j;

	submit_n(d->st, 5, 3);
	beat(d->st, "runner-a", 0);
	beat(d->st, "runner-b", 0);
	assert_int_equal(store_task_claim(d->st, "runner-a", 3, &a, &na), STORE_OK);
	assert_int_equal(store_task_claim(d->st, "runner-b", 3, &b, &nb), STORE_OK);
	assert_int_equal(na, 3);
	assert_int_equal(nb, 2);
	for (i = 0; i < na; i++) {
		assert_int_equal(a[i]->status, TASK_RUNNING);
		assert_string_equal(a[i]->claim_owner, "runner-a");
		assert_true(a[i]->claim_token != 0);
		for (j = 0; j < nb; j++)
			assert_string_not_equal(a[i]->id, b[j]->id);
	}
	assert_int_equal(store_task_claim(d->st, "runner-a", 3, &c, &nc), STORE_OK);
	assert_int_equal(nc, 0);
	free_tasks(a, na);
	free_tasks(b, nb);
	free(c);
}

static void
test_fencing_token_and_cancel(void **state)
{
	struct db		*d = *state;
	struct task		**a, *t;
	struct task_finish	 f[2];
	enum store_err		 errs[2];
	const char		*ids[2];
	int64_t			 tokens[2];
	bool			 gone[2];
	size_t			 na;

	submit_n(d->st, 2, 3);
	beat(d->st, "runner-a", 0);
	assert_int_equal(store_task_claim(d->st, "runner-a", 2, &a, &na), STORE_OK);
	assert_int_equal(na, 2);

	/* The API cancels the first while it runs. */
	assert_int_equal(store_task_cancel(d->st, a[0]->id, &t), STORE_OK);
	task_free(t);
	ids[0] = a[0]->id;
	ids[1] = a[1]->id;
	tokens[0] = a[0]->claim_token;
	tokens[1] = a[1]->claim_token;
	assert_int_equal(store_task_check_held(d->st, ids, tokens, 2, gone), STORE_OK);
	assert_true(gone[0]);
	assert_false(gone[1]);
	/* A wrong token is not ours either. */
	tokens[1] = a[1]->claim_token ^ 1;
	assert_int_equal(store_task_check_held(d->st, ids, tokens, 2, gone), STORE_OK);
	assert_true(gone[1]);

	/* Finishing: the cancelled one conflicts and stays CANCELLED; a stale
	 * token conflicts; the right token wins. */
	memset(f, 0, sizeof(f));
	f[0].id = a[0]->id;
	f[0].claim_token = a[0]->claim_token;
	f[0].outcome = OUTCOME_SUCCESS;
	f[0].result_data = "{}";
	f[1].id = a[1]->id;
	f[1].claim_token = a[1]->claim_token ^ 1;
	f[1].outcome = OUTCOME_SUCCESS;
	f[1].result_data = "{}";
	assert_int_equal(store_task_finish_many(d->st, f, 2, errs), STORE_OK);
	assert_int_equal(errs[0], STORE_CONFLICT);
	assert_int_equal(errs[1], STORE_CONFLICT);
	f[1].claim_token = a[1]->claim_token;
	assert_int_equal(store_task_finish_many(d->st, f + 1, 1, errs), STORE_OK);
	assert_int_equal(errs[0], STORE_OK);

	assert_int_equal(store_task_get(d->st, a[0]->id, &t), STORE_OK);
	assert_int_equal(t->status, TASK_CANCELLED);
	task_free(t);
	assert_int_equal(store_task_get(d->st, a[1]->id, &t), STORE_OK);
	assert_int_equal(t->status, TASK_SUCCESS);
	assert_int_equal(t->progress, 100);
	task_free(t);
	free_tasks(a, na);
}

static void
test_recovery_of_a_lost_runner(void **state)
{
	struct db		*d = *state;
	struct task		**a, **b, *t;
	struct task_finish	 f;
	enum store_err		 err;
	const char		*id;
	int64_t			 token, requeued, failed;
	bool			 gone;
	size_t			 na, nb;

	submit_n(d->st, 1, 3);
	/* Runner a's heartbeat is 10 s old; b is alive. */
	beat(d->st, "runner-a", time_now_ms() - 10000);
	beat(d->st, "runner-b", 0);
	assert_int_equal(store_task_claim(d->st, "runner-a", 1, &a, &na), STORE_OK);
	assert_int_equal(na, 1);
	id = a[0]->id;
	token = a[0]->claim_token;

	assert_int_equal(store_recover_stale(d->st, 5000, &requeued, &failed), STORE_OK);
	assert_int_equal(requeued, 1);
	assert_int_equal(failed, 0);
	assert_int_equal(store_task_get(d->st, id, &t), STORE_OK);
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->attempt, 2);
	task_free(t);

	/* The lost runner, if it comes back, sees its task gone ... */
	assert_int_equal(store_task_check_held(d->st, &id, &token, 1, &gone), STORE_OK);
	assert_true(gone);
	/* ... and b claims it under a new token, which a cannot overwrite. */
	assert_int_equal(store_task_claim(d->st, "runner-b", 1, &b, &nb), STORE_OK);
	assert_int_equal(nb, 1);
	assert_true(b[0]->claim_token != token);
	memset(&f, 0, sizeof(f));
	f.id = id;
	f.claim_token = token;
	f.outcome = OUTCOME_SUCCESS;
	f.result_data = "{}";
	assert_int_equal(store_task_finish_many(d->st, &f, 1, &err), STORE_OK);
	assert_int_equal(err, STORE_CONFLICT);
	free_tasks(a, na);
	free_tasks(b, nb);
}

static void
test_retry_outcomes_and_exhaustion(void **state)
{
	struct db		*d = *state;
	struct task		**a, *t;
	struct task_finish	 f;
	enum store_err		 err;
	size_t			 na;
	char			 id[TASK_ID_LEN + 1];

	/* max_attempts 2: a temporary failure requeues once, then fails. */
	submit_n(d->st, 1, 2);
	beat(d->st, "runner-a", 0);
	assert_int_equal(store_task_claim(d->st, "runner-a", 1, &a, &na), STORE_OK);
	assert_int_equal(na, 1);
	strcpy(id, a[0]->id);
	memset(&f, 0, sizeof(f));
	f.id = id;
	f.claim_token = a[0]->claim_token;
	f.outcome = OUTCOME_RETRY;
	f.error_message = "temporary";
	f.retry_at = time_now_ms();
	assert_int_equal(store_task_finish_many(d->st, &f, 1, &err), STORE_OK);
	assert_int_equal(err, STORE_OK);
	free_tasks(a, na);
	assert_int_equal(store_task_get(d->st, id, &t), STORE_OK);
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->attempt, 2);
	task_free(t);

	assert_int_equal(store_task_claim(d->st, "runner-a", 1, &a, &na), STORE_OK);
	assert_int_equal(na, 1);
	f.claim_token = a[0]->claim_token;
	f.outcome = OUTCOME_LOST;	/* e.g. a shutdown requeue */
	assert_int_equal(store_task_finish_many(d->st, &f, 1, &err), STORE_OK);
	free_tasks(a, na);
	assert_int_equal(store_task_get(d->st, id, &t), STORE_OK);
	assert_int_equal(t->status, TASK_FAILED);
	assert_string_equal(t->error_message, "runner lost");
	task_free(t);
}

static void
test_retry_delay_respected_by_claim(void **state)
{
	struct db		*d = *state;
	struct task		**a;
	struct task_finish	 f;
	enum store_err		 err;
	size_t			 na;

	submit_n(d->st, 1, 3);
	beat(d->st, "runner-a", 0);
	assert_int_equal(store_task_claim(d->st, "runner-a", 1, &a, &na), STORE_OK);
	memset(&f, 0, sizeof(f));
	f.id = a[0]->id;
	f.claim_token = a[0]->claim_token;
	f.outcome = OUTCOME_RETRY;
	f.error_message = "later";
	f.retry_at = time_now_ms() + 60000;
	assert_int_equal(store_task_finish_many(d->st, &f, 1, &err), STORE_OK);
	free_tasks(a, na);
	/* Not claimable before retry_at. */
	assert_int_equal(store_task_claim(d->st, "runner-a", 1, &a, &na), STORE_OK);
	assert_int_equal(na, 0);
	free(a);
}

/* ---- spawner ---------------------------------------------------------- */

static void
test_spawn_req_round_trip(void **state)
{
	struct task	*t, *d;
	struct config	 lim;
	unsigned char	 buf[1024];
	size_t		 n;
	bool		 hooks = false;

	(void)state;
	t = mktask("echo", "{\"message\":\"x\"}", 7);
	t->attempt = 2;
	t->progress = 40;
	cfg.child_max_memory = 123456789;
	cfg.child_max_cpu_s = 9;
	n = spawn_req_encode(t, &cfg, true, buf, sizeof(buf));
	cfg.child_max_memory = 0;
	cfg.child_max_cpu_s = 0;
	assert_true(n > sizeof(struct spawn_req));
	d = spawn_req_decode(buf, n, &lim, &hooks);
	assert_non_null(d);
	assert_string_equal(d->id, t->id);
	assert_string_equal(d->task_type, "echo");
	assert_string_equal(d->parameters, "{\"message\":\"x\"}");
	assert_int_equal(d->attempt, 2);
	assert_int_equal(d->timeout_s, 7);
	assert_int_equal(d->progress, 40);
	assert_int_equal(lim.child_max_memory, 123456789);
	assert_int_equal(lim.child_max_cpu_s, 9);
	assert_true(hooks);
	task_free(d);
	/* Too small a buffer: refused, not truncated. */
	assert_int_equal(spawn_req_encode(t, &cfg, false, buf, n - 1), 0);
	task_free(t);
}

static void
test_spawn_req_malformed(void **state)
{
	struct task	*t;
	struct config	 lim;
	struct spawn_req h;
	unsigned char	 buf[1024];
	size_t		 n;
	bool		 hooks;

	(void)state;
	t = mktask("echo", "{}", 1);
	n = spawn_req_encode(t, &cfg, false, buf, sizeof(buf));
	task_free(t);
	assert_true(n > 0);
	/* Short, one byte more or less than the lengths say. */
	assert_null(spawn_req_decode(buf, sizeof(h) - 1, &lim, &hooks));
	assert_null(spawn_req_decode(buf, n - 1, &lim, &hooks));
	buf[n] = 'x';
	assert_null(spawn_req_decode(buf, n + 1, &lim, &hooks));
	/* A NUL inside a string. */
	buf[n - 1] = '\0';
	assert_null(spawn_req_decode(buf, n, &lim, &hooks));
	buf[n - 1] = '}';
	assert_non_null(t = spawn_req_decode(buf, n, &lim, &hooks));
	task_free(t);
	/* Wrong magic; an id longer than an id; lengths that overflow. */
	memcpy(&h, buf, sizeof(h));
	h.magic ^= 1;
	memcpy(buf, &h, sizeof(h));
	assert_null(spawn_req_decode(buf, n, &lim, &hooks));
	h.magic ^= 1;
	h.id_len = TASK_ID_LEN + 1;
	memcpy(buf, &h, sizeof(h));
	assert_null(spawn_req_decode(buf, n, &lim, &hooks));
	h.id_len = 0xffffffffu;
	h.type_len = 2;
	memcpy(buf, &h, sizeof(h));
	assert_null(spawn_req_decode(buf, n, &lim, &hooks));
}

static struct spawner	 the_spawner;

/* Starts the build's taskq-spawner for the tests after it; skips without. */
static int
spawner_setup(void **state)
{
	const char	*b;
	char		 path[4096];

	(void)state;
	if ((b = getenv("TASKQ_BUILDDIR")) == NULL)
		b = ".";
	snprintf(path, sizeof(path), "%s/taskq-spawner", b);
	if (access(path, X_OK) == -1)
		return 0;	/* the tests see via == NULL and skip */
	setenv("TASKQ_SPAWNER", path, 1);
	spawner_init(&the_spawner);
	if (!spawner_ensure(&the_spawner))
		return -1;
	via = &the_spawner;
	return 0;
}

static int
spawner_teardown(void **state)
{
	(void)state;
	if (via != NULL)
		spawner_stop(via);
	via = NULL;
	unsetenv("TASKQ_SPAWNER");
	return 0;
}

/*
 * No spawner, or one that does not start: tasks are forked by the runner,
 * a missing one is not looked for again, a failing one is retried later.
 */
static void
test_spawner_unavailable(void **state)
{
	struct spawner	 sp;
	struct child	*c;

	(void)state;
	setenv("TASKQ_SPAWNER", "none", 1);
	spawner_init(&sp);
	assert_true(sp.disabled);
	assert_false(spawner_ensure(&sp));
	spawner_stop(&sp);

	setenv("TASKQ_SPAWNER", "/nonexistent/taskq-spawner", 1);
	spawner_init(&sp);
	assert_false(spawner_ensure(&sp));
	assert_true(sp.disabled);
	spawner_stop(&sp);

	/* Runs, but never says READY. */
	setenv("TASKQ_SPAWNER", "/bin/true", 1);
	spawner_init(&sp);
	assert_false(spawner_ensure(&sp));
	assert_false(sp.disabled);
	assert_int_equal(sp.fd, -1);
	assert_int_equal(sp.pid, 0);
	assert_true(sp.retry_at > mono_ms());
	assert_false(spawner_ensure(&sp));	/* not before retry_at */
	c = child_spawn_via(mktask("echo", "{\"message\":\"x\"}", 30), &cfg,
	    false, &sp);
	assert_non_null(c);
	assert_false(c->spawned);
	assert_int_equal(waitpid(c->pid, &c->status, 0), c->pid);
	child_free(c);
	spawner_stop(&sp);
	unsetenv("TASKQ_SPAWNER");
}

/* The state letter of pid in /proc (R, S, Z...), or 0 if it is gone. */
static char
pid_state(pid_t pid)
{
	char	 path[64], buf[512], *p, st = 0;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
	    p[1] == ' ')
		st = p[2];
	fclose(f);
	return st;
}

static void
test_spawner_reaps_after_ack(void **state)
{
	struct child		*c;
	struct spawn_msg	 m;
	pid_t			 pid;
	int			 i;

	(void)state;
	if (via == NULL)
		skip();
	c = child_spawn_via(mktask("echo", "{\"message\":\"x\"}", 30), &cfg,
	    false, via);
	assert_non_null(c);
	assert_true(c->spawned);
	assert_int_equal(via->running, 1);
	pid = c->pid;
	assert_int_equal(spawner_wait_exit(via, pid), 0);
	assert_int_equal(via->running, 0);
	/*
	 * Reported, not reaped: the zombie holds the pid and group id the
	 * runner may still signal, until the runner says it is done.
	 */
	usleep(50 * 1000);
	assert_int_equal(pid_state(pid), 'Z');
	assert_int_equal(kill(-pid, 0), 0);
	assert_int_equal(spawner_next(via, &m), 0);	/* sends SPAWN_REAP */
	for (i = 0; i < 200 && pid_state(pid) != 0; i++)
		usleep(10000);
	assert_int_equal(pid_state(pid), 0);
	c->pid = 0;
	child_free(c);
}

static void
test_spawner_children(void **state)
{
	struct child	*c;

	if (via == NULL)
		skip();
	/* The same children and isolation as when the runner forks them. */
	test_child_echo_success(state);
	test_child_isolation(state);
	test_child_crash(state);
	test_child_exit_without_result(state);
	test_child_stderr_captured_bounded(state);
	/* Types it does not link are forked by the runner. */
	c = child_spawn_via(mktask("email", "{}", 30), &cfg, false, via);
	assert_non_null(c);
	assert_false(c->spawned);
	child_signal(c, SIGKILL);
	assert_int_equal(waitpid(c->pid, &c->status, 0), c->pid);
	child_free(c);
	assert_true(via->spawned >= 5);
}

/*
 * An exit of a child the spawner was never asked for is a broken spawner,
 * not something to queue: the exits read are bounded by the children run.
 */
static void
test_spawner_exit_without_child(void **state)
{
	struct spawner		 sp;
	struct spawn_msg	 m;
	int			 sv[2];

	(void)state;
	spawner_init(&sp);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	sp.fd = sv[0];
	memset(&m, 0, sizeof(m));
	m.type = SPAWN_EXITED;
	m.pid = 12345;
	assert_int_equal(send(sv[1], &m, sizeof(m), 0), (ssize_t)sizeof(m));
	assert_int_equal(spawner_next(&sp, &m), -1);
	assert_int_equal(sp.fd, -1);
	assert_int_equal(sp.nq, 0);
	assert_int_equal(spawner_next(&sp, &m), 0);
	close(sv[1]);
	spawner_stop(&sp);
}

/* Whether pid exists and is not a zombie. */
static bool
pid_alive(pid_t pid)
{
	char	 st = pid_state(pid);

	return st != 0 && st != 'Z';
}

static void
test_spawner_death_takes_its_children(void **state)
{
	struct child		*c;
	struct spawn_msg	 m;
	pid_t			 kid, old;
	int			 i, rc;

	(void)state;
	if (via == NULL)
		skip();
	c = child_spawn_via(mktask("echo", "{\"message\":\"__taskq_test_hang__\"}",
	    30), &cfg, true, via);
	assert_non_null(c);
	assert_true(c->spawned);
	kid = c->pid;
	old = via->pid;
	assert_int_equal(kill(old, SIGKILL), 0);
	/* The loop notices at EOF (or by reaping it): exits, then -1 once. */
	for (i = 0; i < 500; i++) {
		if ((rc = spawner_next(via, &m)) == -1)
			break;
		assert_true(rc == 0 || m.pid != kid);
		usleep(10000);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(via->fd, -1);
	assert_int_equal(spawner_next(via, &m), 0);
	/* PR_SET_PDEATHSIG: the hanging child went with it. */
	for (i = 0; i < 200 && pid_alive(kid); i++)
		usleep(10000);
	assert_false(pid_alive(kid));
	child_free(c);
	/* Not restarted at once; after a second, a new one runs tasks again. */
	assert_false(spawner_ensure(via));
	usleep(1100 * 1000);
	assert_true(spawner_ensure(via));
	assert_true(via->pid != old);
	test_child_echo_requested_failure(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_round_trip),
		cmocka_unit_test(test_proto_byte_at_a_time),
		cmocka_unit_test(test_proto_oversized_refused_from_header),
		cmocka_unit_test(test_proto_oversized_second_frame),
		cmocka_unit_test(test_proto_max_payload_accepted),
		cmocka_unit_test(test_proto_malformed),
		cmocka_unit_test(test_proto_truncated),
		cmocka_unit_test(test_worker_first_report_wins),
		cmocka_unit_test(test_worker_fail_flag_and_message),
		cmocka_unit_test(test_worker_progress_dedup_and_clamp),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_cap_and_overflow),
		cmocka_unit_test(test_backoff_full_jitter_range),
		cmocka_unit_test(test_ring_keeps_last_64k),
		cmocka_unit_test(test_ring_one_huge_write),
		cmocka_unit_test(test_utf8_sanitize),
		cmocka_unit_test(test_spawn_req_round_trip),
		cmocka_unit_test(test_spawn_req_malformed),
		cmocka_unit_test_setup_teardown(test_spawner_children,
		    spawner_setup, spawner_teardown),
		cmocka_unit_test(test_spawner_unavailable),
		cmocka_unit_test(test_spawner_exit_without_child),
		cmocka_unit_test_setup_teardown(test_spawner_reaps_after_ack,
		    spawner_setup, spawner_teardown),
		cmocka_unit_test_setup_teardown(test_spawner_death_takes_its_children,
		    spawner_setup, spawner_teardown),
		cmocka_unit_test(test_child_echo_success),
		cmocka_unit_test(test_child_echo_requested_failure),
		cmocka_unit_test(test_child_isolation),
		cmocka_unit_test(test_child_hooks_inert_without_env),
		cmocka_unit_test(test_child_crash),
		cmocka_unit_test(test_child_exit_without_result),
		cmocka_unit_test(test_child_temporary_failure_retries),
		cmocka_unit_test(test_child_stderr_captured_bounded),
		cmocka_unit_test(test_child_memory_limit),
		cmocka_unit_test(test_child_unimplemented_type),
		cmocka_unit_test_setup_teardown(test_claim_never_twice, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_fencing_token_and_cancel, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_recovery_of_a_lost_runner, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_retry_outcomes_and_exhaustion, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_retry_delay_respected_by_claim, db_setup, db_teardown),
	};

	log_init("test_runner", LOG_LEVEL_ERROR);
	cfg = config_defaults;
	cfg.child_max_memory = 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
