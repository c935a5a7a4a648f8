/*
 * Unit tests for lib/config.c: defaults, every kind of value, every error
 * with its "FILE:LINE: key 'KEY'" prefix, odd files (long lines, CRLF, NUL,
 * BOM), overrides, cross-field rules and the shipped conf/taskq.conf.
 */
#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"

/* Each test writes its file here; unlinked by the teardown. */
static char	 tmp_path[64];

static int
setup(void **state)
{
	tmp_path[0] = '\0';
	return 0;
}

static int
teardown(void **state)
{
	if (tmp_path[0] != '\0')
		unlink(tmp_path);
	tmp_path[0] = '\0';
	return 0;
}

/* Writes len bytes of text to a fresh temporary file at tmp_path. */
static void
write_file_len(const char *text, size_t len)
{
	const char	*dir = getenv("TMPDIR");
	FILE		*fp;
	int		 fd;

	if (tmp_path[0] != '\0')
		unlink(tmp_path);
	snprintf(tmp_path, sizeof(tmp_path), "%s/tqconfXXXXXX",
	    dir != NULL && strlen(dir) < 40 ? dir : "/tmp");
	fd = mkstemp(tmp_path);
	assert_true(fd != -1);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
write_file(const char *text)
{
	write_file_len(text, strlen(text));
}

/* Loads text as a file; returns config_load's result. */
static bool
load(const char *text, struct config *cfg, char *err, size_t errlen)
{
	write_file(text);
	return config_load(cfg, tmp_path, true, err, errlen);
}

/* Returns config_dump's output; caller frees. */
static char *
dump(const struct config *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	config_dump(cfg, fp);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

static void
assert_same_config(const struct config *a, const struct config *b)
{
	char	*da = dump(a), *db = dump(b);

	assert_string_equal(da, db);
	free(da);
	free(db);
}

/* Asserts that err is exactly "tmp_path:LINE: " followed by rest. */
static void
assert_error(const char *err, int line, const char *rest)
{
	char	 want[2048];

	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d: %s", tmp_path, line, rest);
	else
		snprintf(want, sizeof(want), "%s: %s", tmp_path, rest);
	assert_string_equal(err, want);
}

/* Asserts that err starts with "tmp_path:LINE: key 'KEY': ". */
static void
assert_error_prefix(const char *err, int line, const char *key)
{
	char	 want[2048];

	snprintf(want, sizeof(want), "%s:%d: key '%s': ", tmp_path, line,
	    key);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err, want);
}

/* Loading a file that sets key to value fails at line 1 with why. */
static void
assert_bad_value(const char *key, const char *value, const char *why)
{
	struct config	 cfg;
	char		 line[512], err[1024], rest[1024];

	snprintf(line, sizeof(line), "%s = %s\n", key, value);
	assert_false(load(line, &cfg, err, sizeof(err)));
	snprintf(rest, sizeof(rest), "key '%s': %s", key, why);
	assert_error(err, 1, rest);
}

static void
test_defaults(void **state)
{
	struct config	 cfg;
	char		 err[256];
	size_t		 n;

	memset(&cfg, 0xa5, sizeof(cfg));
	assert_true(config_load(&cfg, "/nonexistent/taskq.conf", false,
	    err, sizeof(err)));
	assert_string_equal(err, "");
	assert_same_config(&cfg, &config_defaults);

	n = strlen(cfg.database);
	assert_true(n > strlen("/lib/taskq/taskq.db"));
	assert_string_equal(cfg.database + n - strlen("/lib/taskq/taskq.db"),
	    "/lib/taskq/taskq.db");
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg.busy_timeout_ms, 5000);
	assert_string_equal(cfg.api_listen, "");
	assert_int_equal(cfg.api_threads, 48);
	assert_int_equal(cfg.upload_max_bytes, 64 * 1024 * 1024);
	assert_int_equal(cfg.json_max_bytes, 2 * 1024 * 1024);
	assert_int_equal(cfg.slots, 0);
	assert_int_equal(cfg.poll_interval_ms, 1000);
	assert_int_equal(cfg.heartbeat_interval_s, 5);
	assert_int_equal(cfg.stale_after_s, 30);
	assert_int_equal(cfg.shutdown_grace_s, 30);
	assert_int_equal(cfg.kill_grace_s, 5);
	assert_int_equal(cfg.child_max_memory, INT64_C(1) << 30);
	assert_int_equal(cfg.child_max_cpu_s, 0);
	assert_int_equal(cfg.retention_days, 30);
	assert_int_equal(cfg.retry_base_ms, 1000);
	assert_int_equal(cfg.retry_max_ms, 300000);
	assert_int_equal(cfg.csv_max_field_bytes, 1024 * 1024);
	assert_int_equal(cfg.image_max_pixels, 100000000);
	assert_string_equal(cfg.email_transport, "maildir");
	assert_string_equal(cfg.email_from, "taskq@localhost");
	assert_string_equal(cfg.smtp_url, "");
	assert_string_equal(cfg.smtp_password, "");
	assert_int_equal(cfg.smtp_timeout_s, 30);

	/* The defaults pass the cross-field rules. */
	assert_true(config_check(&config_defaults, err, sizeof(err)));

	/* An empty file and a comments-only file also give the defaults. */
	assert_true(load("", &cfg, err, sizeof(err)));
	assert_same_config(&cfg, &config_defaults);
	assert_true(load("# nothing\n\n   \n\t# indented\n", &cfg, err,
	    sizeof(err)));
	assert_same_config(&cfg, &config_defaults);
}

static void
test_missing_file(void **state)
{
	struct config	 cfg;
	char		 err[256];

	assert_false(config_load(&cfg, "/nonexistent/taskq.conf", true, err,
	    sizeof(err)));
	assert_string_equal(err,
	    "/nonexistent/taskq.conf: No such file or directory");

	/* A directory is not a config file, must_exist or not. */
	assert_false(config_load(&cfg, "/", false, err, sizeof(err)));
	assert_string_equal(err, "/: Is a directory");
}

static void
test_values(void **state)
{
	struct config	 cfg;
	char		 err[256];

	assert_true(load(
	    "database = /srv/q.db\n"
	    "state_dir = relative/dir\n"
	    "log_level = debug\n"
	    "busy_timeout_ms = 2s\n"
	    "api_listen = 127.0.0.1:9000\n"
	    "api_threads = 1024\n"
	    "upload_max_bytes = 1G\n"
	    "json_max_bytes = 512k\n"
	    "slots = 4\n"
	    "poll_interval_ms = 250ms\n"
	    "heartbeat_interval_s = 1m\n"
	    "stale_after_s = 1h\n"
	    "shutdown_grace_s = 0\n"
	    "kill_grace_s = 10s\n"
	    "child_max_memory = 0\n"
	    "child_max_cpu_s = 2d\n"
	    "retention_days = 0\n"
	    "retry_base_ms = 1m\n"
	    "retry_max_ms = 1d\n"
	    "csv_max_field_bytes = 4096\n"
	    "image_max_pixels = 10000000000\n"
	    "email_transport = smtp\n"
	    "email_from = Task Queue <q@example.org>\n"
	    "smtp_url = smtps://mail.example.org:465\n"
	    "smtp_username = q\n"
	    "smtp_password = s3cret\n"
	    "smtp_timeout_s = 2m\n", &cfg, err, sizeof(err)));
	assert_string_equal(err, "");
	assert_string_equal(cfg.database, "/srv/q.db");
	assert_string_equal(cfg.state_dir, "relative/dir");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg.busy_timeout_ms, 2000);
	assert_string_equal(cfg.api_listen, "127.0.0.1:9000");
	assert_int_equal(cfg.api_threads, 1024);
	assert_int_equal(cfg.upload_max_bytes, INT64_C(1) << 30);
	assert_int_equal(cfg.json_max_bytes, 512 * 1024);
	assert_int_equal(cfg.slots, 4);
	assert_int_equal(cfg.poll_interval_ms, 250);
	assert_int_equal(cfg.heartbeat_interval_s, 60);
	assert_int_equal(cfg.stale_after_s, 3600);
	assert_int_equal(cfg.shutdown_grace_s, 0);
	assert_int_equal(cfg.kill_grace_s, 10);
	assert_int_equal(cfg.child_max_memory, 0);
	assert_int_equal(cfg.child_max_cpu_s, 2 * 86400);
	assert_int_equal(cfg.retention_days, 0);
	assert_int_equal(cfg.retry_base_ms, 60000);
	assert_int_equal(cfg.retry_max_ms, 86400000);
	assert_int_equal(cfg.csv_max_field_bytes, 4096);
	assert_int_equal(cfg.image_max_pixels, INT64_C(10000000000));
	assert_string_equal(cfg.email_transport, "smtp");
	assert_string_equal(cfg.email_from, "Task Queue <q@example.org>");
	assert_string_equal(cfg.smtp_url, "smtps://mail.example.org:465");
	assert_string_equal(cfg.smtp_username, "q");
	assert_string_equal(cfg.smtp_password, "s3cret");
	assert_int_equal(cfg.smtp_timeout_s, 120);
}

static void
test_suffixes(void **state)
{
	struct config	 cfg = config_defaults;
	char		 err[256];

	/* Sizes: powers of 1024, several spellings, bare bytes. */
	assert_true(config_set(&cfg, "upload_max_bytes", "64M", err,
	    sizeof(err)));
	assert_int_equal(cfg.upload_max_bytes, 64 << 20);
	assert_true(config_set(&cfg, "upload_max_bytes", "3k", err,
	    sizeof(err)));
	assert_int_equal(cfg.upload_max_bytes, 3072);
	assert_true(config_set(&cfg, "upload_max_bytes", "3K", err,
	    sizeof(err)));
	assert_int_equal(cfg.upload_max_bytes, 3072);
	assert_true(config_set(&cfg, "upload_max_bytes", "2MiB", err,
	    sizeof(err)));
	assert_int_equal(cfg.upload_max_bytes, 2 << 20);
	assert_true(config_set(&cfg, "upload_max_bytes", "1T", err,
	    sizeof(err)));
	assert_int_equal(cfg.upload_max_bytes, INT64_C(1) << 40);
	assert_true(config_set(&cfg, "upload_max_bytes", "1025", err,
	    sizeof(err)));
	assert_int_equal(cfg.upload_max_bytes, 1025);
	assert_true(config_set(&cfg, "child_max_memory", "512G", err,
	    sizeof(err)));
	assert_int_equal(cfg.child_max_memory, INT64_C(512) << 30);

	/* Millisecond durations take ms, s, m, h, d. */
	assert_true(config_set(&cfg, "retry_max_ms", "1500ms", err,
	    sizeof(err)));
	assert_int_equal(cfg.retry_max_ms, 1500);
	assert_true(config_set(&cfg, "retry_max_ms", "5s", err, sizeof(err)));
	assert_int_equal(cfg.retry_max_ms, 5000);
	assert_true(config_set(&cfg, "retry_max_ms", "2h", err, sizeof(err)));
	assert_int_equal(cfg.retry_max_ms, 7200000);
	assert_true(config_set(&cfg, "retry_max_ms", "7d", err, sizeof(err)));
	assert_int_equal(cfg.retry_max_ms, 604800000);

	/* Second durations take s, m, h, d but not ms. */
	assert_true(config_set(&cfg, "shutdown_grace_s", "90s", err,
	    sizeof(err)));
	assert_int_equal(cfg.shutdown_grace_s, 90);
	assert_true(config_set(&cfg, "shutdown_grace_s", "1d", err,
	    sizeof(err)));
	assert_int_equal(cfg.shutdown_grace_s, 86400);
	assert_false(config_set(&cfg, "shutdown_grace_s", "500ms", err,
	    sizeof(err)));
	assert_string_equal(err, "key 'shutdown_grace_s': must be a duration "
	    "between 0 and 86400 seconds (suffix s, m, h, d), got '500ms'");

	/* retention_days is a plain number of days: no suffixes. */
	assert_false(config_set(&cfg, "retention_days", "7d", err,
	    sizeof(err)));
	assert_string_equal(err, "key 'retention_days': must be an integer "
	    "between 0 and 36500, got '7d'");

	/* A size suffix on a plain integer is not accepted either. */
	assert_false(config_set(&cfg, "image_max_pixels", "1M", err,
	    sizeof(err)));
}

static void
test_error_example(void **state)
{
	struct config	 cfg;
	char		 err[512];

	/* The exact message for a bad integer, on line 12. */
	assert_false(load("# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n"
	    "\n\nslots = abc\n", &cfg, err, sizeof(err)));
	assert_error(err, 12, "key 'slots': must be an integer between 0 and "
	    "1024, got 'abc'");
}

static void
test_error_unknown(void **state)
{
	struct config	 cfg;
	char		 err[512];

	assert_false(load("slots = 1\nslot = 2\n", &cfg, err, sizeof(err)));
	assert_error(err, 2, "key 'slot': unknown key");

	/* Key names are case-sensitive, like the struct fields. */
	assert_false(load("Slots = 1\n", &cfg, err, sizeof(err)));
	assert_error(err, 1, "key 'Slots': unknown key");
}

static void
test_error_duplicate(void **state)
{
	struct config	 cfg;
	char		 err[512];

	assert_false(load("slots = 1\n# again\nslots = 1\n", &cfg, err,
	    sizeof(err)));
	assert_error(err, 3, "key 'slots': duplicate key, already set on "
	    "line 1");
}

static void
test_error_syntax(void **state)
{
	struct config	 cfg;
	char		 err[512];

	assert_false(load("\nslots 4\n", &cfg, err, sizeof(err)));
	assert_error(err, 2, "key 'slots': missing '=' (expected "
	    "'key = value')");

	assert_false(load(" = 4\n", &cfg, err, sizeof(err)));
	assert_error(err, 1, "key '': empty key name");

	assert_false(load("smtp_password = \"abc\n", &cfg, err, sizeof(err)));
	assert_error(err, 1, "key 'smtp_password': unterminated quoted value");

	assert_false(load("smtp_password = \"abc\" def\n", &cfg, err,
	    sizeof(err)));
	assert_error(err, 1, "key 'smtp_password': unexpected text after the "
	    "closing quote");

	assert_false(load("slots = 1\nslots = 2 = 3\n", &cfg, err,
	    sizeof(err)));
	assert_error_prefix(err, 2, "slots");
}

static void
test_error_values(void **state)
{
	char	 huge[64];

	assert_bad_value("slots", "", "must be an integer between 0 and 1024, "
	    "got ''");
	assert_bad_value("slots", "1025", "must be an integer between 0 and "
	    "1024, got '1025'");
	assert_bad_value("slots", "-1", "must be an integer between 0 and "
	    "1024, got '-1'");
	assert_bad_value("slots", "+4", "must be an integer between 0 and "
	    "1024, got '+4'");
	assert_bad_value("slots", "0x10", "must be an integer between 0 and "
	    "1024, got '0x10'");
	assert_bad_value("slots", "4.5", "must be an integer between 0 and "
	    "1024, got '4.5'");
	assert_bad_value("api_threads", "0", "must be an integer between 1 "
	    "and 1024, got '0'");

	/* strtoll overflow, and overflow from the suffix multiplication. */
	snprintf(huge, sizeof(huge), "%s", "99999999999999999999999");
	assert_bad_value("image_max_pixels", huge, "must be an integer "
	    "between 1 and 10000000000, got '99999999999999999999999'");
	assert_bad_value("upload_max_bytes", "9000000000000T", "must be a "
	    "size between 1k and 1T (suffix k, M, G, T), got "
	    "'9000000000000T'");
	assert_bad_value("upload_max_bytes", "2T", "must be a size between "
	    "1k and 1T (suffix k, M, G, T), got '2T'");
	assert_bad_value("upload_max_bytes", "64X", "must be a size between "
	    "1k and 1T (suffix k, M, G, T), got '64X'");
	assert_bad_value("upload_max_bytes", "M", "must be a size between "
	    "1k and 1T (suffix k, M, G, T), got 'M'");
	assert_bad_value("upload_max_bytes", "64 M", "must be a size between "
	    "1k and 1T (suffix k, M, G, T), got '64 M'");
	assert_bad_value("poll_interval_ms", "5", "must be a duration between "
	    "10 and 3600000 milliseconds (suffix ms, s, m, h, d), got '5'");
	assert_bad_value("poll_interval_ms", "9999999999999d", "must be a "
	    "duration between 10 and 3600000 milliseconds (suffix ms, s, m, "
	    "h, d), got '9999999999999d'");

	assert_bad_value("log_level", "verbose", "must be one of error, warn, "
	    "info, debug, got 'verbose'");
	assert_bad_value("log_level", "INFO", "must be one of error, warn, "
	    "info, debug, got 'INFO'");
	assert_bad_value("email_transport", "sendmail", "must be one of "
	    "maildir, smtp, got 'sendmail'");
	assert_bad_value("database", "", "must not be empty");
	assert_bad_value("database", "\"\"", "must not be empty");
	assert_bad_value("api_listen", "\"a\tb\"", "must not contain control "
	    "characters");
	assert_bad_value("smtp_url", "http://mail", "must start with smtp:// "
	    "or smtps://, got 'http://mail'");
	assert_bad_value("email_from", "nobody", "must be an email address "
	    "(containing '@'), got 'nobody'");
}

static void
test_error_overlong(void **state)
{
	struct config	 cfg;
	char		*text, err[512], want[256], addr[300];
	size_t		 n = 5000;

	/* A value longer than its fixed-size field is an error, not cut. */
	text = malloc(n + 32);
	assert_non_null(text);
	strcpy(text, "# x\ndatabase = /");
	memset(text + strlen(text), 'a', n);
	strcpy(text + strlen("# x\ndatabase = /") + n, "\n");
	assert_false(load(text, &cfg, err, sizeof(err)));
	snprintf(want, sizeof(want), "key 'database': must be at most %d "
	    "bytes long, got %zu", CONFIG_PATH_MAX - 1, n + 1);
	assert_error(err, 2, want);
	free(text);

	/* The limit itself: 255 bytes fit email_from[256], 256 do not. */
	cfg = config_defaults;
	memset(addr, 'a', 255);
	addr[0] = '@';
	addr[255] = '\0';
	assert_true(config_set(&cfg, "email_from", addr, err, sizeof(err)));
	assert_string_equal(cfg.email_from, addr);
	strcat(addr, "a");
	assert_false(config_set(&cfg, "email_from", addr, err, sizeof(err)));
	assert_string_equal(err, "key 'email_from': must be at most 255 bytes "
	    "long, got 256");
}

static void
test_long_lines(void **state)
{
	struct config	 cfg;
	char		*text, err[512], shown[80];
	size_t		 n = 1 << 20, off;

	/* A megabyte-long comment line, then a real setting. */
	text = malloc(n + 64);
	assert_non_null(text);
	text[0] = '#';
	memset(text + 1, 'c', n);
	off = n + 1;
	off += (size_t)sprintf(text + off, "\nslots = 9\n");
	assert_true(load(text, &cfg, err, sizeof(err)));
	assert_int_equal(cfg.slots, 9);

	/* A megabyte-long unknown key is reported, quoted only in part. */
	memset(text, 'k', n);
	strcpy(text + n, " = 1\n");
	assert_false(load(text, &cfg, err, sizeof(err)));
	memset(shown, 'k', 64);
	strcpy(shown + 64, "...");
	assert_error_prefix(err, 1, shown);
	assert_true(strlen(err) < 200);

	/* A megabyte-long value for an integer key. */
	strcpy(text, "slots = ");
	memset(text + 8, '7', n);
	strcpy(text + 8 + n, "\n");
	assert_false(load(text, &cfg, err, sizeof(err)));
	assert_error_prefix(err, 1, "slots");
	assert_true(strlen(err) < 200);
	free(text);
}

static void
test_crlf(void **state)
{
	struct config	 cfg;
	char		 err[512];

	assert_true(load("# comment\r\nslots = 3\r\n\r\nlog_level = warn\r\n"
	    "email_from = \"a@b\"\r\n", &cfg, err, sizeof(err)));
	assert_int_equal(cfg.slots, 3);
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);
	assert_string_equal(cfg.email_from, "a@b");

	/* No final newline at all. */
	assert_true(load("slots = 5", &cfg, err, sizeof(err)));
	assert_int_equal(cfg.slots, 5);
}

static void
test_comments(void **state)
{
	struct config	 cfg;
	char		 err[512];

	assert_true(load(
	    "slots = 3 # three slots\n"
	    "log_level = debug\t# tab before the comment\n"
	    "   # indented comment\n"
	    "email_from = ops#1@example.org\n"
	    "smtp_password = \"pass #word\"   # kept inside quotes\n"
	    "smtp_username = \"u\" # quoted, then a comment\n"
	    "api_listen = #\n"
	    "state_dir = /var/lib/q#1 # comment\n"
	    "smtp_url = smtp://h#x\n", &cfg, err, sizeof(err)));
	assert_int_equal(cfg.slots, 3);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(cfg.email_from, "ops#1@example.org");
	assert_string_equal(cfg.smtp_password, "pass #word");
	assert_string_equal(cfg.smtp_username, "u");
	assert_string_equal(cfg.api_listen, "");
	assert_string_equal(cfg.state_dir, "/var/lib/q#1");
	assert_string_equal(cfg.smtp_url, "smtp://h#x");
}

static void
test_spacing(void **state)
{
	struct config	 cfg;
	char		 err[512];

	/* Blanks around key, '=' and value are optional and trimmed. */
	assert_true(load("slots=4\n\t api_threads\t=\t16 \t\n"
	    "smtp_url = smtp://h/?a=b\n", &cfg, err, sizeof(err)));
	assert_int_equal(cfg.slots, 4);
	assert_int_equal(cfg.api_threads, 16);
	assert_string_equal(cfg.smtp_url, "smtp://h/?a=b");
}

static void
test_quotes(void **state)
{
	struct config	 cfg;
	char		 err[512];

	assert_true(load(
	    "smtp_password = \"  sp ace \\\"q\\\" back\\\\slash \\n \"\n"
	    "smtp_username = u\n"
	    "api_listen = \"\"\n"
	    "slots = \"12\"\n"
	    "  email_from   =   \"x@y\"  \n", &cfg, err, sizeof(err)));
	assert_string_equal(cfg.smtp_password,
	    "  sp ace \"q\" back\\slash \\n ");
	assert_string_equal(cfg.api_listen, "");
	assert_int_equal(cfg.slots, 12);
	assert_string_equal(cfg.email_from, "x@y");

	/* A quote not at the start of the value is an ordinary character. */
	assert_true(load("smtp_username = a\"b\n", &cfg, err, sizeof(err)));
	assert_string_equal(cfg.smtp_username, "a\"b");
}

static void
test_odd_bytes(void **state)
{
	static const char	 nul[] = "slots = 1\nslots\0 = 2\n";
	struct config		 cfg;
	char			 err[512];

	write_file_len(nul, sizeof(nul) - 1);
	assert_false(config_load(&cfg, tmp_path, true, err, sizeof(err)));
	assert_error(err, 2, "NUL byte in line");

	/* A UTF-8 byte order mark before the first key is skipped. */
	assert_true(load("\xef\xbb\xbfslots = 6\n", &cfg, err, sizeof(err)));
	assert_int_equal(cfg.slots, 6);

	/* A short err buffer truncates the message, never overflows. */
	err[4] = 'X';
	assert_false(load("slots = abc\n", &cfg, err, 4));
	assert_int_equal(strlen(err), 3);
	assert_int_equal(err[4], 'X');
}

static void
test_set(void **state)
{
	struct config	 cfg = config_defaults;
	char		 err[512];

	assert_true(config_set(&cfg, "slots", "7", err, sizeof(err)));
	assert_int_equal(cfg.slots, 7);
	assert_string_equal(err, "");
	assert_true(config_set(&cfg, "database", "/tmp/x.db", err,
	    sizeof(err)));
	assert_string_equal(cfg.database, "/tmp/x.db");

	/* Errors have no file and line, and leave the field untouched. */
	assert_false(config_set(&cfg, "slots", "many", err, sizeof(err)));
	assert_string_equal(err, "key 'slots': must be an integer between 0 "
	    "and 1024, got 'many'");
	assert_int_equal(cfg.slots, 7);
	assert_false(config_set(&cfg, "database", "", err, sizeof(err)));
	assert_string_equal(err, "key 'database': must not be empty");
	assert_string_equal(cfg.database, "/tmp/x.db");
	assert_false(config_set(&cfg, "nope", "1", err, sizeof(err)));
	assert_string_equal(err, "key 'nope': unknown key");
	assert_false(config_set(&cfg, "", "1", err, sizeof(err)));
	assert_string_equal(err, "key '': empty key name");

	/* Overrides on top of a loaded file. */
	assert_true(load("slots = 2\n", &cfg, err, sizeof(err)));
	assert_true(config_set(&cfg, "slots", "3", err, sizeof(err)));
	assert_int_equal(cfg.slots, 3);
	assert_true(config_check(&cfg, err, sizeof(err)));
}

static void
test_cross_field(void **state)
{
	struct config	 cfg;
	char		 err[512];

	assert_false(load("retry_max_ms = 1000\n\nretry_base_ms = 2s\n", &cfg,
	    err, sizeof(err)));
	assert_error(err, 3, "key 'retry_base_ms': must not exceed "
	    "retry_max_ms (2000 > 1000)");

	/* retry_base_ms is left at its default: no line to point at. */
	assert_false(load("retry_max_ms = 500\n", &cfg, err, sizeof(err)));
	assert_error(err, 0, "key 'retry_base_ms': must not exceed "
	    "retry_max_ms (1000 > 500)");

	assert_false(load("heartbeat_interval_s = 10\nstale_after_s = 10\n",
	    &cfg, err, sizeof(err)));
	assert_error(err, 2, "key 'stale_after_s': must be greater than "
	    "heartbeat_interval_s (10 <= 10)");
	assert_true(load("heartbeat_interval_s = 10\nstale_after_s = 11\n",
	    &cfg, err, sizeof(err)));

	assert_false(load("email_transport = smtp\n", &cfg, err,
	    sizeof(err)));
	assert_error(err, 0, "key 'smtp_url': must be set when "
	    "email_transport is smtp");
	assert_false(load("email_transport = smtp\nsmtp_url = \"\"\n", &cfg,
	    err, sizeof(err)));
	assert_error(err, 2, "key 'smtp_url': must be set when "
	    "email_transport is smtp");

	assert_false(load("smtp_password = x\n", &cfg, err, sizeof(err)));
	assert_error(err, 0, "key 'smtp_username': must be set when "
	    "smtp_password is");

	/* config_check catches the same after command-line overrides. */
	cfg = config_defaults;
	assert_true(config_set(&cfg, "heartbeat_interval_s", "1m", err,
	    sizeof(err)));
	assert_false(config_check(&cfg, err, sizeof(err)));
	assert_string_equal(err, "key 'stale_after_s': must be greater than "
	    "heartbeat_interval_s (30 <= 60)");
}

static void
test_failed_load_keeps_config(void **state)
{
	struct config	 cfg, before;
	char		 err[512];

	assert_true(load("slots = 2\nlog_level = debug\n", &cfg, err,
	    sizeof(err)));
	before = cfg;
	assert_false(load("slots = 3\nlog_level = loud\n", &cfg, err,
	    sizeof(err)));
	assert_same_config(&cfg, &before);
	assert_false(load("retry_max_ms = 1\n", &cfg, err, sizeof(err)));
	assert_same_config(&cfg, &before);
}

static void
test_dump(void **state)
{
	struct config	 cfg = config_defaults, back;
	char		 err[512], *text;

	assert_true(config_set(&cfg, "smtp_password", "top\"secret\\", err,
	    sizeof(err)));
	assert_true(config_set(&cfg, "smtp_username", "me", err, sizeof(err)));
	assert_true(config_set(&cfg, "api_listen", " odd # value ", err,
	    sizeof(err)));
	assert_true(config_set(&cfg, "upload_max_bytes", "1025", err,
	    sizeof(err)));
	text = dump(&cfg);
	assert_null(strstr(text, "top"));
	assert_non_null(strstr(text, "\nsmtp_password = \"********\"\n"));
	assert_non_null(strstr(text, "\nupload_max_bytes = 1025\n"));
	assert_non_null(strstr(text, "\njson_max_bytes = 2M\n"));
	assert_non_null(strstr(text, "\nlog_level = info\n"));
	assert_non_null(strstr(text, "\napi_listen = \" odd # value \"\n"));
	assert_non_null(strstr(text, "\nemail_transport = \"maildir\"\n"));
	assert_non_null(strstr(text, "\nslots = 0\n"));

	/* The dump reads back as the same configuration (bar the mask). */
	assert_true(load(text, &back, err, sizeof(err)));
	assert_string_equal(back.smtp_password, "********");
	assert_true(config_set(&back, "smtp_password", "x", err,
	    sizeof(err)));
	assert_true(config_set(&cfg, "smtp_password", "x", err, sizeof(err)));
	assert_same_config(&cfg, &back);
	free(text);

	/* An unset password dumps as empty, not as a mask. */
	text = dump(&config_defaults);
	assert_non_null(strstr(text, "\nsmtp_password = \"\"\n"));
	free(text);
}

/* Reads the shipped conf/taskq.conf, found through automake's srcdir. */
static char *
read_shipped(char *path, size_t pathlen)
{
	const char	*srcdir = getenv("srcdir");
	char		*text = NULL;
	size_t		 len = 0;
	FILE		*fp, *out;
	int		 c;

	snprintf(path, pathlen, "%s/conf/taskq.conf",
	    srcdir != NULL && *srcdir != '\0' ? srcdir : ".");
	fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	out = open_memstream(&text, &len);
	assert_non_null(out);
	while ((c = fgetc(fp)) != EOF)
		fputc(c, out);
	fclose(fp);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* A line "# key = value", key in [a-z0-9_]: a commented-out setting. */
static bool
is_commented_setting(const char *line)
{
	const char	*p;

	if (strncmp(line, "# ", 2) != 0)
		return false;
	for (p = line + 2; islower((unsigned char)*p) || isdigit(
	    (unsigned char)*p) || *p == '_'; p++)
		continue;
	return p > line + 2 && strncmp(p, " = ", 3) == 0;
}

static void
test_shipped_conf(void **state)
{
	struct config	 cfg;
	char		 path[4096], err[512], *text, *line, *save;
	char		*out = NULL, *got, *want, *gl, *wl, *s1, *s2;
	size_t		 outlen = 0, settings = 0, keys = 0;
	FILE		*fp;

	/* As shipped, every key is commented out: the defaults. */
	text = read_shipped(path, sizeof(path));
	if (!config_load(&cfg, path, true, err, sizeof(err)))
		fail_msg("%s", err);
	assert_same_config(&cfg, &config_defaults);

	/* Uncomment every "# key = value" line: still loads, same values. */
	fp = open_memstream(&out, &outlen);
	assert_non_null(fp);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (is_commented_setting(line)) {
			fprintf(fp, "%s\n", line + 2);
			settings++;
		} else
			fprintf(fp, "%s\n", line);
	}
	assert_int_equal(fclose(fp), 0);
	write_file(out);
	if (!config_load(&cfg, tmp_path, true, err, sizeof(err)))
		fail_msg("uncommented shipped file: %s", err);

	/*
	 * Same dump as the defaults, line by line, except the two paths,
	 * which depend on configure's localstatedir.
	 */
	got = dump(&cfg);
	want = dump(&config_defaults);
	for (gl = strtok_r(got, "\n", &s1), wl = strtok_r(want, "\n", &s2);
	    gl != NULL && wl != NULL;
	    gl = strtok_r(NULL, "\n", &s1), wl = strtok_r(NULL, "\n", &s2)) {
		keys++;
		if (strncmp(gl, "database = ", 11) == 0)
			assert_string_equal(gl,
			    "database = \"/var/lib/taskq/taskq.db\"");
		else if (strncmp(gl, "state_dir = ", 12) == 0)
			assert_string_equal(gl,
			    "state_dir = \"/var/lib/taskq\"");
		else
			assert_string_equal(gl, wl);
	}
	assert_null(gl);
	assert_null(wl);

	/* Every key is in the file exactly once (duplicates would fail). */
	assert_int_equal(settings, keys);

	free(got);
	free(want);
	free(out);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suffixes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_example, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_unknown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_duplicate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_syntax, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_overlong, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spacing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quotes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cross_field, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failed_load_keeps_config,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shipped_conf, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
