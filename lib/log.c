/*
 * Logging to stderr for journald: every event is formatted into a stack
 * buffer and handed to one write(2), so lines from several threads (or from
 * a daemon and its children sharing stderr) never interleave mid-line.
 */
/*
 * Angle brackets on purpose: a quoted "config.h" from lib/ would find
 * lib/config.h (taskq's configuration) before the autoconf header.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

/*
 * Longest line written, newline included.  Writes of at most PIPE_BUF (4096
 * on Linux) bytes to a pipe are atomic, which is what journald reads from.
 */
#define LOG_LINE_MAX	4096

#define LOG_PRI_FATAL	2	/* syslog LOG_CRIT */

const char *const log_level_names[LOG_LEVEL__MAX] = {
	"error",	/* LOG_LEVEL_ERROR */
	"warn",		/* LOG_LEVEL_WARN */
	"info",		/* LOG_LEVEL_INFO */
	"debug",	/* LOG_LEVEL_DEBUG */
};

/* syslog priorities journald reads from a "<N>" line prefix. */
static const int log_level_pri[LOG_LEVEL__MAX] = {
	3,		/* LOG_ERR */
	4,		/* LOG_WARNING */
	6,		/* LOG_INFO */
	7,		/* LOG_DEBUG */
};

/*
 * Set by log_init before any thread starts; only the level changes later
 * (SIGHUP reload), hence the atomic.
 */
static char		 log_progname[64] = "taskq";
static int		 log_journal;		/* emit "<N>" priority prefixes */
static atomic_int	 log_level = LOG_LEVEL_INFO;

/*
 * Whether stderr is the journal: systemd sets JOURNAL_STREAM to the
 * "device:inode" of the stream it connects, and documents comparing it with
 * fstat(2) of stderr so that a redirected stderr gets plain text.
 * TASKQ_LOG_PREFIX=1 forces the prefix (for setups that pipe into journald
 * by other means); TASKQ_LOG_PREFIX=0 turns it off.
 */
static int
log_detect_journal(void)
{
	const char	*env;
	uintmax_t	 dev, ino;
	struct stat	 st;
	char		 tail;

	if ((env = getenv("TASKQ_LOG_PREFIX")) != NULL && *env != '\0')
		return strcmp(env, "0") != 0;
	if ((env = getenv("JOURNAL_STREAM")) == NULL || *env == '\0')
		return 0;
	if (sscanf(env, "%ju:%ju%c", &dev, &ino, &tail) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void
log_init(const char *progname, enum log_level level)
{
	const char	*p;
	int		 saved = errno;

	if (progname != NULL && *progname != '\0') {
		if ((p = strrchr(progname, '/')) != NULL && p[1] != '\0')
			progname = p + 1;
		snprintf(log_progname, sizeof(log_progname), "%s", progname);
	}
	log_journal = log_detect_journal();
	log_set_level(level);
	errno = saved;
}

void
log_set_level(enum log_level level)
{
	if ((int)level < 0 || level >= LOG_LEVEL__MAX)
		level = LOG_LEVEL_INFO;
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

int
log_level_parse(const char *name)
{
	int	 i;

	if (name == NULL)
		return -1;
	for (i = 0; i < LOG_LEVEL__MAX; i++)
		if (strcasecmp(name, log_level_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Formats "[<pri>]progname: [level: ]message[: errstr]\n" into one buffer
 * and writes it with a single write(2).  A message too long for the buffer
 * is cut and marked with "..."; the errno text, when given, is kept.
 * Control characters in the message become spaces or '?', so that data
 * quoted in a message can neither split the line nor forge a prefix.
 * Preserves errno.
 */
static void
log_emit(int pri, const char *word, const char *errstr, const char *fmt,
    va_list ap)
{
	char		 buf[LOG_LINE_MAX];
	size_t		 len, room, tail, i;
	ssize_t		 n;
	int		 rc, saved = errno;
	static const char ellipsis[] = "...";

	/* Reserve space for the suffix so truncation never loses it. */
	tail = 1;					/* "\n" */
	if (errstr != NULL)
		tail += 2 + strlen(errstr);		/* ": errstr" */
	if (tail > sizeof(buf) / 2)
		tail = sizeof(buf) / 2;

	if (log_journal)
		rc = snprintf(buf, sizeof(buf), "<%d>%s: ", pri, log_progname);
	else
		rc = snprintf(buf, sizeof(buf), "%s: %s: ", log_progname, word);
	len = rc < 0 ? 0 : (size_t)rc;

	room = sizeof(buf) - tail - len;		/* incl. the NUL */
	rc = vsnprintf(buf + len, room, fmt, ap);
	if (rc < 0)
		rc = 0;
	if ((size_t)rc >= room) {
		/* Truncated: overwrite the end with "...". */
		len += room - 1;
		memcpy(buf + len - (sizeof(ellipsis) - 1), ellipsis,
		    sizeof(ellipsis) - 1);
	} else
		len += (size_t)rc;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n' || c == '\r' || c == '\t')
			buf[i] = ' ';
		else if (c < 0x20 || c == 0x7f)
			buf[i] = '?';
	}

	if (errstr != NULL) {
		rc = snprintf(buf + len, sizeof(buf) - len - 1, ": %s",
		    errstr);
		if (rc > 0)
			len += (size_t)rc < sizeof(buf) - len - 1 ?
			    (size_t)rc : sizeof(buf) - len - 2;
	}
	buf[len++] = '\n';

	/* One write; loop only if a signal or a full pipe splits it. */
	for (i = 0; i < len; i += (size_t)n) {
		n = write(STDERR_FILENO, buf + i, len - i);
		if (n == -1) {
			if (errno == EINTR)
				n = 0;
			else
				break;
		}
	}
	errno = saved;
}

static int
log_enabled(enum log_level level)
{
	return (int)level <=
	    atomic_load_explicit(&log_level, memory_order_relaxed);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	if (!log_enabled(LOG_LEVEL_WARN))
		return;
	va_start(ap, fmt);
	log_emit(log_level_pri[LOG_LEVEL_WARN], "warn", strerror(saved),
	    fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_enabled(LOG_LEVEL_WARN))
		return;
	va_start(ap, fmt);
	log_emit(log_level_pri[LOG_LEVEL_WARN], "warn", NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	va_start(ap, fmt);
	log_emit(log_level_pri[LOG_LEVEL_INFO], "info", NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	va_start(ap, fmt);
	log_emit(log_level_pri[LOG_LEVEL_DEBUG], "debug", NULL, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list	 ap;

	/* Errors pass every level: LOG_LEVEL_ERROR is the lowest. */
	va_start(ap, fmt);
	log_emit(log_level_pri[LOG_LEVEL_ERROR], "error", NULL, fmt, ap);
	va_end(ap);
}

/* fatal and fatalx are never filtered: the reason a daemon died must show. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_PRI_FATAL, "fatal", strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(LOG_PRI_FATAL, "fatal", NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
