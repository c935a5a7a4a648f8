/*
 * The task record's small vocabulary: status names, ids and the RFC 3339
 * times of the API contract, done without locale or time-zone state so the
 * same text means the same instant in every process.
 */
/* <>, not "": lib/config.h is taskq's own config module. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uuid/uuid.h>

#include "task.h"

const char *const task_status_names[TASK_STATUS__MAX] = {
	"PENDING",		/* TASK_PENDING */
	"RUNNING",		/* TASK_RUNNING */
	"SUCCESS",		/* TASK_SUCCESS */
	"FAILED",		/* TASK_FAILED */
	"CANCELLED",		/* TASK_CANCELLED */
};

/*
 * Exact, case-sensitive match: the contract's filter values are exact, so
 * "success" is a client error rather than a guess.
 */
int
task_status_parse(const char *name)
{
	int	 i;

	if (name == NULL)
		return -1;
	for (i = 0; i < TASK_STATUS__MAX; i++)
		if (strcmp(name, task_status_names[i]) == 0)
			return i;
	return -1;
}

void
task_free(struct task *t)
{
	if (t == NULL)
		return;
	free(t->task_type);
	free(t->parameters);
	free(t->result_data);
	free(t->error_message);
	free(t->worker_output);
	free(t->claim_owner);
	free(t);
}

int64_t
time_now_ms(void)
{
	struct timespec	 ts;

	/* CLOCK_REALTIME cannot fail with a valid pointer on Linux. */
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The representable range of the fixed-width format: 0000-01-01 to
 * 9999-12-31T23:59:59.999Z.  Times outside it are clamped so the output
 * always has exactly TIME_RFC3339_LEN characters and never overruns buf.
 */
#define TIME_MIN_MS	(-62167219200000LL)
#define TIME_MAX_MS	(253402300799999LL)

void
time_format_rfc3339(int64_t ms, char *buf)
{
	struct tm	 tm;
	time_t		 secs;
	int64_t		 msec;
	unsigned int	 year, mon, mday, hour, min, sec, milli;

	if (ms < TIME_MIN_MS)
		ms = TIME_MIN_MS;
	if (ms > TIME_MAX_MS)
		ms = TIME_MAX_MS;

	/* Floor division, so times before 1970 keep a positive millisecond. */
	secs = (time_t)(ms / 1000);
	msec = ms % 1000;
	if (msec < 0) {
		msec += 1000;
		secs--;
	}

	memset(&tm, 0, sizeof(tm));
	if (gmtime_r(&secs, &tm) == NULL) {
		/* Unreachable within the clamped range; still emit valid text. */
		memcpy(buf, "1970-01-01T00:00:00.000Z", TIME_RFC3339_LEN + 1);
		return;
	}

	/* Reduce each field to its width so the output length is certain. */
	year = (unsigned int)(tm.tm_year + 1900) % 10000;
	mon = (unsigned int)(tm.tm_mon + 1) % 100;
	mday = (unsigned int)tm.tm_mday % 100;
	hour = (unsigned int)tm.tm_hour % 100;
	min = (unsigned int)tm.tm_min % 100;
	sec = (unsigned int)tm.tm_sec % 100;
	milli = (unsigned int)msec % 1000;
	snprintf(buf, TIME_RFC3339_LEN + 1,
	    "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
	    year, mon, mday, hour, min, sec, milli);
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): pure arithmetic, no TZ or locale, valid for all years
 * of the four-digit range.
 */
static int64_t
days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t		 era;
	unsigned int	 yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int	 days[12] =
	    { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && is_leap(y))
		return 29;
	return days[m - 1];
}

/* Reads exactly n ASCII digits at *sp, advancing it; false if any is not. */
static bool
digits(const char **sp, int n, int *out)
{
	const char	*s = *sp;
	int		 v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*sp = s + n;
	*out = v;
	return true;
}

static bool
expect(const char **sp, char c)
{
	if (**sp != c)
		return false;
	(*sp)++;
	return true;
}

/*
 * RFC 3339 section 5.6 date-time, strictly: full-date "T" full-time, with
 * "t"/"z" accepted as the RFC allows, fractional seconds of any length
 * (truncated to milliseconds so they never carry into the next second), and
 * Z or a numeric offset up to 23:59.  A leap second (:60) is accepted only
 * where it can occur, 23:59:60 UTC, and read as 23:59:59.999 since epoch
 * milliseconds cannot name it.  Anything else, including trailing text or
 * a calendar-impossible date, is refused.
 */
bool
time_parse_rfc3339(const char *s, int64_t *ms)
{
	int	 year, mon, mday, hour, min, sec, oh = 0, om = 0, sign = 0;
	int	 frac = 0, nfrac = 0;
	int64_t	 t;
	bool	 leap = false;

	if (s == NULL)
		return false;
	if (!digits(&s, 4, &year) || !expect(&s, '-') ||
	    !digits(&s, 2, &mon) || !expect(&s, '-') ||
	    !digits(&s, 2, &mday))
		return false;
	if (*s != 'T' && *s != 't')
		return false;
	s++;
	if (!digits(&s, 2, &hour) || !expect(&s, ':') ||
	    !digits(&s, 2, &min) || !expect(&s, ':') ||
	    !digits(&s, 2, &sec))
		return false;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9') {
			if (nfrac < 3) {
				frac = frac * 10 + (*s - '0');
				nfrac++;
			}
			s++;
		}
		while (nfrac < 3) {
			frac *= 10;
			nfrac++;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		s++;
		if (!digits(&s, 2, &oh) || !expect(&s, ':') ||
		    !digits(&s, 2, &om))
			return false;
		if (oh > 23 || om > 59)
			return false;
	} else
		return false;
	if (*s != '\0')
		return false;

	if (mon < 1 || mon > 12 || mday < 1 ||
	    mday > days_in_month(year, mon))
		return false;
	if (hour > 23 || min > 59 || sec > 60)
		return false;
	if (sec == 60) {
		leap = true;
		sec = 59;
	}

	t = days_from_civil(year, (unsigned int)mon, (unsigned int)mday);
	t = t * 86400 + hour * 3600 + min * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	if (leap) {
		/* Only the last second of a UTC day can be a leap second. */
		if ((t % 86400 + 86400) % 86400 != 86399)
			return false;
		frac = 999;
	}
	*ms = t * 1000 + frac;
	return true;
}

void
task_id_generate(char *buf)
{
	uuid_t	 u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, buf);
}

/*
 * Accepts only the canonical 8-4-4-4-12 text, so that one task has one id
 * spelling: no braces, no "urn:uuid:", no missing hyphens.  The version is
 * not checked, since ids created elsewhere (imports, tests) are still ids.
 * out may alias s.
 */
bool
task_id_normalize(const char *s, char *out)
{
	char	 buf[TASK_ID_LEN + 1];
	size_t	 i;
	char	 c;

	if (s == NULL)
		return false;
	for (i = 0; i < TASK_ID_LEN; i++) {
		c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (c >= '0' && c <= '9')
			;
		else if (c >= 'a' && c <= 'f')
			;
		else if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		else
			return false;	/* includes an early NUL */
		buf[i] = c;
	}
	if (s[TASK_ID_LEN] != '\0')
		return false;
	buf[TASK_ID_LEN] = '\0';
	memcpy(out, buf, sizeof(buf));
	return true;
}

/*
 * Adds the comma-separated statuses in s to *mask.  Each value must be a
 * status named exactly; an empty one ("", "PENDING,") is an error.  On an
 * error, bad holds the offending value (at most 32 bytes of it).
 */
bool
task_status_list_parse(const char *s, unsigned *mask, char *bad, size_t badlen)
{
	const char	*p = s, *e;
	char		 one[16];
	size_t		 n;
	int		 st;

	for (;;) {
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (n == 0 || n >= sizeof(one)) {
			snprintf(bad, badlen, "%.*s", (int)(n > 32 ? 32 : n), p);
			return false;
		}
		memcpy(one, p, n);
		one[n] = '\0';
		if ((st = task_status_parse(one)) < 0) {
			snprintf(bad, badlen, "%s", one);
			return false;
		}
		*mask |= 1u << st;
		if (e == NULL)
			return true;
		p = e + 1;
	}
}
