/*
 * The email engine: an RFC 5322 / MIME message builder (quoted-printable
 * body, RFC 2047 encoded-word subject, CRLF everywhere, lines kept short)
 * and two transports, an atomic Maildir writer and an SMTP client on
 * libcurl whose failures are classified as temporary or permanent so the
 * runner knows whether a retry can help.
 */
/* <>, not "": lib/config.h is taskq's own config module. */
#include <config.h>

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/random.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "mail.h"
#include "sbuf.h"
#include "task.h"
#include "tasktype.h"

/*
 * Header lines are folded to at most this many characters (RFC 5322's
 * SHOULD); quoted-printable lines are at most 76 (RFC 2045's MUST).
 */
#define HDR_LINE_MAX	78
#define QP_LINE_MAX	76

/*
 * Source bytes per encoded-word: 42 bytes are 56 base64 characters, and
 * "=?UTF-8?B?" + 56 + "?=" is 68, so "Subject: " plus one word is 77
 * and every word stays under RFC 2047's 75.
 */
#define EW_BYTES	42
#define EW_PREFIX	"=?UTF-8?B?"
#define EW_SUFFIX	"?="

/* How much of an SMTP reply is kept for the result and messages. */
#define REPLY_MAX	1024

/* Attempts at a fresh Maildir name when one is taken. */
#define MAILDIR_TRIES	8

const char *const mail_status_names[MAIL__MAX] = {
	"ok",			/* MAIL_OK */
	"temporary",		/* MAIL_TEMPORARY */
	"permanent",		/* MAIL_PERMANENT */
};

static int64_t	 default_clock(void);

int64_t		(*mail_clock)(void) = NULL;
ssize_t		(*mail_write)(int, const void *, size_t) = NULL;

const char *
mail_strerror(enum mail_status st)
{
	switch (st) {
	case MAIL_OK:
		return "delivered";
	case MAIL_TEMPORARY:
		return "temporary failure";
	case MAIL_PERMANENT:
		return "permanent failure";
	default:
		return "unknown mail status";
	}
}

static int64_t
default_clock(void)
{
	return time_now_ms();
}

/* ---- small text helpers ----------------------------------------------- */

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * The length of the UTF-8 character at s (n bytes left): 1 for ASCII and
 * for any byte that does not start a well-formed sequence, so cutting at
 * these lengths never splits a real character and never stalls.
 */
static size_t
u8_len(const unsigned char *s, size_t n)
{
	size_t	 need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 1;
	if (need > n)
		return 1;
	for (i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 1;
	return need;
}

static void
base64_add(struct sbuf *b, const unsigned char *s, size_t n)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char			 out[4];
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[0] = tab[v >> 18 & 63];
		out[1] = tab[v >> 12 & 63];
		out[2] = tab[v >> 6 & 63];
		out[3] = tab[v & 63];
		sb_addn(b, out, 4);
	}
	if (n - i == 1) {
		v = (uint32_t)s[i] << 16;
		out[0] = tab[v >> 18 & 63];
		out[1] = tab[v >> 12 & 63];
		out[2] = out[3] = '=';
		sb_addn(b, out, 4);
	} else if (n - i == 2) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		out[0] = tab[v >> 18 & 63];
		out[1] = tab[v >> 12 & 63];
		out[2] = tab[v >> 6 & 63];
		out[3] = '=';
		sb_addn(b, out, 4);
	}
}

/*
 * Splits a configured sender, "addr" or "Name <addr>", into the display
 * name (possibly empty) and the address.  The address must be plain
 * printable ASCII with one '@' between a non-empty local part and domain;
 * looser than email_address_valid on purpose, so the default
 * "taskq@localhost" works.  The name must hold no control character.
 */
static bool
from_parse(const char *from, const char **name, size_t *namelen,
    const char **addr, size_t *addrlen)
{
	const char	*lt, *gt, *a, *at = NULL;
	size_t		 n, i;

	if (from == NULL)
		return false;
	for (i = 0; from[i] != '\0'; i++)
		if ((unsigned char)from[i] < 0x20 || from[i] == 0x7f)
			return false;
	if ((lt = strchr(from, '<')) != NULL) {
		if ((gt = strchr(lt, '>')) == NULL || gt[1] != '\0')
			return false;
		a = lt + 1;
		n = (size_t)(gt - a);
		*name = from;
		*namelen = (size_t)(lt - from);
		while (*namelen > 0 && (from[*namelen - 1] == ' ' ||
		    from[*namelen - 1] == '\t'))
			(*namelen)--;
		while (*namelen > 0 && (**name == ' ' || **name == '\t')) {
			(*name)++;
			(*namelen)--;
		}
	} else {
		a = from;
		n = strlen(from);
		*name = from;
		*namelen = 0;
	}
	if (n == 0 || n > 254)
		return false;
	for (i = 0; i < n; i++) {
		if (a[i] <= 0x20 || a[i] >= 0x7f ||
		    strchr("<>()[],;:\\\"", a[i]) != NULL)
			return false;
		if (a[i] == '@') {
			if (at != NULL)
				return false;
			at = a + i;
		}
	}
	if (at == NULL || at == a || at == a + n - 1)
		return false;
	*addr = a;
	*addrlen = n;
	return true;
}

bool
mail_message_id_make(const char *from, char *buf, size_t size)
{
	const char	*name, *addr, *dom;
	size_t		 namelen, addrlen, domlen;
	char		 uuid[TASK_ID_LEN + 1];
	int		 c;

	if (!from_parse(from, &name, &namelen, &addr, &addrlen))
		return false;
	dom = memchr(addr, '@', addrlen) + 1;
	domlen = addrlen - (size_t)(dom - addr);
	task_id_generate(uuid);
	c = snprintf(buf, size, "<%s@%.*s>", uuid, (int)domlen, dom);
	return c > 0 && (size_t)c < size;
}

/* A Message-ID value: "<" printable ASCII without space or "<>" ">". */
static bool
message_id_valid(const char *id)
{
	size_t	 n, i;

	if (id == NULL || (n = strlen(id)) < 3 || n > MAIL_MSGID_MAX ||
	    id[0] != '<' || id[n - 1] != '>')
		return false;
	for (i = 1; i < n - 1; i++)
		if (id[i] <= 0x20 || id[i] >= 0x7f || id[i] == '<' ||
		    id[i] == '>')
			return false;
	return strchr(id, '@') != NULL;
}

/* ---- headers ---------------------------------------------------------- */

/*
 * RFC 5322 date-time in UTC, with English names whatever the locale:
 * "Sun, 29 Nov 2026 03:43:18 +0000".
 */
static void
date_add(struct sbuf *b, int64_t ms)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm	 tm;
	time_t		 t;
	char		 s[64];

	t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	snprintf(s, sizeof(s), "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	sb_add(b, s);
}

/*
 * Writes s as RFC 2047 B encoded-words of at most EW_BYTES source bytes,
 * each cut on a UTF-8 character boundary, separated by a fold (CRLF SP):
 * white space between encoded-words is not part of the decoded text.
 */
static void
ew_add(struct sbuf *b, const unsigned char *s, size_t n)
{
	size_t	 i = 0, start, cl;

	while (i < n) {
		start = i;
		while (i < n) {
			cl = u8_len(s + i, n - i);
			if (i - start + cl > EW_BYTES)
				break;
			i += cl;
		}
		if (start > 0)
			sb_add(b, "\r\n ");
		sb_add(b, EW_PREFIX);
		base64_add(b, s + start, i - start);
		sb_add(b, EW_SUFFIX);
	}
}

#define IS_BLANK(c)	((c) == ' ' || (c) == '\t')

/*
 * Where the next fold after seg may go: a blank that follows a non-blank
 * and has a non-blank somewhere after it, so that no folded line is
 * blanks alone; n if there is none.
 */
static size_t
fold_next(const char *s, size_t n, size_t seg)
{
	size_t	 p, q;

	for (p = seg + 1; p < n; p++) {
		if (!IS_BLANK(s[p]) || IS_BLANK(s[p - 1]))
			continue;
		for (q = p; q < n && IS_BLANK(s[q]); q++)
			continue;
		return q < n ? p : n;
	}
	return n;
}

/*
 * Writes an unstructured value as is when it is printable ASCII that
 * folds into HDR_LINE_MAX columns (col is where the value starts) and
 * holds nothing a reader would take for an encoded-word.  Returns false,
 * writing nothing, otherwise.  A fold is a CRLF put before existing white
 * space, so unfolding gives the text back exactly.
 */
static bool
plain_add(struct sbuf *b, const char *s, size_t n, size_t col)
{
	size_t	 i, seg, end, line;

	for (i = 0; i < n; i++)
		if ((s[i] < 0x20 && s[i] != '\t') || (unsigned char)s[i] >= 0x7f)
			return false;
	if (n >= 2 && memmem(s, n, "=?", 2) != NULL)
		return false;
	/* Every piece between folds must fit a line of its own. */
	for (seg = 0; seg < n; seg = end) {
		end = fold_next(s, n, seg);
		if ((seg == 0 ? col : 0) + (end - seg) > HDR_LINE_MAX)
			return false;
	}
	/* Then fill lines greedily. */
	line = col;
	for (seg = 0; seg < n; seg = end) {
		end = fold_next(s, n, seg);
		if (seg > 0 && line + (end - seg) > HDR_LINE_MAX) {
			sb_add(b, "\r\n");
			line = 0;
		}
		sb_addn(b, s + seg, end - seg);
		line += end - seg;
	}
	return true;
}

/* "Name: value" for an unstructured value, plain or encoded, then CRLF. */
static void
unstructured_add(struct sbuf *b, const char *field, const char *s, size_t n)
{
	size_t	 col;

	sb_add(b, field);
	sb_add(b, ":");
	col = strlen(field) + 2;
	if (n > 0) {
		sb_add(b, " ");
		if (!plain_add(b, s, n, col))
			ew_add(b, (const unsigned char *)s, n);
	}
	sb_add(b, "\r\n");
}

/* "Name: a, b, ..." folded between addresses, then CRLF. */
static void
addrs_add(struct sbuf *b, const char *field, const char *const *v, size_t n)
{
	size_t	 i, col, len;

	sb_add(b, field);
	sb_add(b, ": ");
	col = strlen(field) + 2;
	for (i = 0; i < n; i++) {
		len = strlen(v[i]);
		if (i > 0) {
			/* Room for this address and the comma after it. */
			if (col + 2 + len + 1 > HDR_LINE_MAX) {
				sb_add(b, ",\r\n ");
				col = 1;
			} else {
				sb_add(b, ", ");
				col += 2;
			}
		}
		sb_addn(b, v[i], len);
		col += len;
	}
	sb_add(b, "\r\n");
}

/*
 * From: the address alone, or a display name (a quoted-string when it is
 * printable ASCII, encoded-words otherwise) and the address in brackets,
 * on the same line when it fits.
 */
static void
from_add(struct sbuf *b, const char *name, size_t namelen, const char *addr,
    size_t addrlen)
{
	struct sbuf	 nb = { NULL, 0, 0, false };
	size_t		 i;
	bool		 ascii = true;

	sb_add(b, "From: ");
	if (namelen == 0) {
		sb_addn(b, addr, addrlen);
		sb_add(b, "\r\n");
		return;
	}
	for (i = 0; i < namelen; i++)
		if ((unsigned char)name[i] >= 0x7f)
			ascii = false;
	if (ascii) {
		sb_add(&nb, "\"");
		for (i = 0; i < namelen; i++) {
			if (name[i] == '"' || name[i] == '\\')
				sb_add(&nb, "\\");
			sb_addn(&nb, name + i, 1);
		}
		sb_add(&nb, "\"");
	} else
		ew_add(&nb, (const unsigned char *)name, namelen);
	if (nb.oom) {
		b->oom = true;
		free(nb.p);
		return;
	}
	sb_addn(b, nb.p, nb.len);
	if (strstr(nb.p, "\r\n") == NULL &&
	    strlen("From: ") + nb.len + 2 + addrlen + 1 <= HDR_LINE_MAX)
		sb_add(b, " <");
	else
		sb_add(b, "\r\n <");
	sb_addn(b, addr, addrlen);
	sb_add(b, ">\r\n");
	free(nb.p);
}

/* ---- quoted-printable body -------------------------------------------- */

/* Whether a hard line break (LF or CRLF) or the end of the text is at j. */
static bool
at_line_end(const unsigned char *s, size_t n, size_t j)
{
	return j >= n || s[j] == '\n' ||
	    (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n');
}

/*
 * Encodes the character of cl bytes at s[i] into tok (at most 12 bytes)
 * and returns its length.  Literal: printable ASCII except '=', and blanks
 * not at the end of a line.  At the start of a line '.' is =2E (never an
 * SMTP end of data, whatever the transport does) and the F of "From " is
 * =46 (mbox readers would mangle it).
 */
static size_t
qp_token(const unsigned char *s, size_t n, size_t i, size_t cl,
    bool linestart, char *tok)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 k, t = 0;
	unsigned char		 c;
	bool			 lit;

	for (k = 0; k < cl; k++) {
		c = s[i + k];
		if (c == ' ' || c == '\t')
			lit = !at_line_end(s, n, i + k + 1);
		else
			lit = c >= 33 && c <= 126 && c != '=';
		if (lit && linestart && k == 0 && (c == '.' ||
		    (c == 'F' && n - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
			lit = false;
		if (lit)
			tok[t++] = (char)c;
		else {
			tok[t++] = '=';
			tok[t++] = hex[c >> 4];
			tok[t++] = hex[c & 15];
		}
	}
	return t;
}

/*
 * The body as quoted-printable: LF and CRLF become CRLF line breaks, a
 * lone CR is =0D; lines are cut with soft breaks ("=" CRLF) to at most
 * QP_LINE_MAX characters, never inside an =XX or a UTF-8 character.  A
 * body not ending in a line break ends with a soft break, so decoding
 * gives back exactly the bytes given.
 */
static void
qp_add(struct sbuf *b, const unsigned char *s, size_t n)
{
	char	 tok[16];
	size_t	 i = 0, col = 0, cl, t;

	while (i < n) {
		if (s[i] == '\n' || (s[i] == '\r' && i + 1 < n &&
		    s[i + 1] == '\n')) {
			sb_add(b, "\r\n");
			i += s[i] == '\r' ? 2 : 1;
			col = 0;
			continue;
		}
		cl = u8_len(s + i, n - i);
		t = qp_token(s, n, i, cl, col == 0, tok);
		if (col + t > QP_LINE_MAX - 1) {
			sb_add(b, "=\r\n");
			col = 0;
			t = qp_token(s, n, i, cl, true, tok);
		}
		sb_addn(b, tok, t);
		col += t;
		i += cl;
	}
	if (n > 0 && s[n - 1] != '\n')
		sb_add(b, "=\r\n");
}

/* ---- the message ------------------------------------------------------ */

char *
mail_format(const struct mail_message *msg, const char *message_id,
    int64_t date_ms, bool *oom, char *err, size_t errlen)
{
	struct sbuf	 b = { NULL, 0, 0, false };
	const char	*name, *addr;
	size_t		 namelen, addrlen, i;

	if (oom != NULL)
		*oom = false;
	if (!from_parse(msg->from, &name, &namelen, &addr, &addrlen)) {
		set_err(err, errlen, "from: not a usable sender address");
		return NULL;
	}
	if (msg->nto == 0 || msg->to == NULL) {
		set_err(err, errlen, "to: no recipient");
		return NULL;
	}
	for (i = 0; i < msg->nto; i++)
		if (!email_address_valid(msg->to[i])) {
			set_err(err, errlen, "to: invalid address");
			return NULL;
		}
	for (i = 0; i < msg->ncc; i++)
		if (msg->cc == NULL || !email_address_valid(msg->cc[i])) {
			set_err(err, errlen, "cc: invalid address");
			return NULL;
		}
	if (msg->reply_to != NULL && !email_address_valid(msg->reply_to)) {
		set_err(err, errlen, "reply_to: invalid address");
		return NULL;
	}
	if (msg->subject == NULL && msg->subject_len > 0) {
		set_err(err, errlen, "subject: missing");
		return NULL;
	}
	if (msg->subject_len > 0 &&
	    (memchr(msg->subject, '\r', msg->subject_len) != NULL ||
	    memchr(msg->subject, '\n', msg->subject_len) != NULL ||
	    memchr(msg->subject, '\0', msg->subject_len) != NULL)) {
		set_err(err, errlen, "subject: contains CR, LF or NUL");
		return NULL;
	}
	if (msg->body == NULL && msg->body_len > 0) {
		set_err(err, errlen, "body: missing");
		return NULL;
	}
	if (!message_id_valid(message_id)) {
		set_err(err, errlen, "message id: malformed");
		return NULL;
	}

	sb_add(&b, "Date: ");
	date_add(&b, date_ms);
	sb_add(&b, "\r\n");
	from_add(&b, name, namelen, addr, addrlen);
	addrs_add(&b, "To", msg->to, msg->nto);
	if (msg->ncc > 0)
		addrs_add(&b, "Cc", msg->cc, msg->ncc);
	if (msg->reply_to != NULL)
		addrs_add(&b, "Reply-To", &msg->reply_to, 1);
	unstructured_add(&b, "Subject", msg->subject, msg->subject_len);
	sb_add(&b, "Message-ID: ");
	sb_add(&b, message_id);
	sb_add(&b, "\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n");
	qp_add(&b, (const unsigned char *)msg->body, msg->body_len);

	if (b.oom) {
		free(b.p);
		if (oom != NULL)
			*oom = true;
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	return b.p;
}

/* ---- parameters ------------------------------------------------------- */

/* A string member without a NUL inside, or NULL with *bad set. */
static const char *
json_str(struct json_object *o, size_t *len, bool *bad)
{
	const char	*s;
	int		 n;

	if (!json_object_is_type(o, json_type_string)) {
		*bad = true;
		return NULL;
	}
	s = json_object_get_string(o);
	n = json_object_get_string_len(o);
	if (s == NULL || n < 0) {
		*bad = true;
		return NULL;
	}
	*len = (size_t)n;
	return s;
}

/* to or cc: one string or an array of strings, as an allocated vector. */
static enum mail_status
json_addrs(struct json_object *o, const char *key, const char *const **vp,
    size_t *np, char *err, size_t errlen)
{
	const char	**v = NULL;
	size_t		  n, i, len;
	bool		  bad = false;

	*vp = NULL;
	*np = 0;
	if (json_object_is_type(o, json_type_string))
		n = 1;
	else if (json_object_is_type(o, json_type_array))
		n = json_object_array_length(o);
	else {
		set_err(err, errlen, "%s: not a string or an array", key);
		return MAIL_PERMANENT;
	}
	if (n == 0)
		return MAIL_OK;
	if ((v = calloc(n, sizeof(*v))) == NULL) {
		set_err(err, errlen, "out of memory");
		return MAIL_TEMPORARY;
	}
	for (i = 0; i < n; i++) {
		v[i] = json_str(json_object_is_type(o, json_type_array) ?
		    json_object_array_get_idx(o, i) : o, &len, &bad);
		if (bad || strlen(v[i]) != len || !email_address_valid(v[i])) {
			set_err(err, errlen, "%s: invalid address", key);
			free(v);
			return MAIL_PERMANENT;
		}
	}
	*vp = v;
	*np = n;
	return MAIL_OK;
}

enum mail_status
mail_message_from_json(struct json_object *params, struct mail_message *msg,
    char *err, size_t errlen)
{
	struct json_object	*o;
	enum mail_status	 st;
	size_t			 len;
	bool			 bad = false;

	memset(msg, 0, sizeof(*msg));
	if (!json_object_is_type(params, json_type_object)) {
		set_err(err, errlen, "parameters: not an object");
		return MAIL_PERMANENT;
	}
	if (!json_object_object_get_ex(params, "to", &o)) {
		set_err(err, errlen, "to: missing");
		return MAIL_PERMANENT;
	}
	if ((st = json_addrs(o, "to", &msg->to, &msg->nto, err, errlen)) !=
	    MAIL_OK)
		goto fail;
	if (msg->nto == 0) {
		set_err(err, errlen, "to: no recipient");
		st = MAIL_PERMANENT;
		goto fail;
	}
	if (json_object_object_get_ex(params, "cc", &o) && o != NULL &&
	    (st = json_addrs(o, "cc", &msg->cc, &msg->ncc, err, errlen)) !=
	    MAIL_OK)
		goto fail;
	if (json_object_object_get_ex(params, "reply_to", &o) && o != NULL) {
		msg->reply_to = json_str(o, &len, &bad);
		if (bad || strlen(msg->reply_to) != len ||
		    !email_address_valid(msg->reply_to)) {
			set_err(err, errlen, "reply_to: invalid address");
			st = MAIL_PERMANENT;
			goto fail;
		}
	}
	if (!json_object_object_get_ex(params, "subject", &o) ||
	    (msg->subject = json_str(o, &msg->subject_len, &bad)) == NULL) {
		set_err(err, errlen, "subject: missing or not a string");
		st = MAIL_PERMANENT;
		goto fail;
	}
	if (!json_object_object_get_ex(params, "body", &o) ||
	    (msg->body = json_str(o, &msg->body_len, &bad)) == NULL) {
		set_err(err, errlen, "body: missing or not a string");
		st = MAIL_PERMANENT;
		goto fail;
	}
	return MAIL_OK;
fail:
	mail_message_release(msg);
	memset(msg, 0, sizeof(*msg));
	return st;
}

void
mail_message_release(struct mail_message *msg)
{
	if (msg == NULL)
		return;
	free((void *)msg->to);
	free((void *)msg->cc);
	msg->to = msg->cc = NULL;
	msg->nto = msg->ncc = 0;
}

/* ---- results ---------------------------------------------------------- */

void
mail_result_free(struct mail_result *r)
{
	if (r == NULL)
		return;
	free(r->smtp_reply);
	free(r->path);
	free(r->error);
	r->smtp_reply = r->path = r->error = NULL;
}

static void __attribute__((format(printf, 2, 3)))
result_error(struct mail_result *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	free(r->error);
	/* NULL here would hide the failure: keep a fixed text then. */
	r->error = s != NULL ? s : strdup("out of memory");
}

/* Adds v under key, or frees v and returns false. */
static bool
json_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL)
		return false;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

struct json_object *
mail_result_to_json(const struct mail_result *r)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	if (!json_add(o, "message_id", json_object_new_string(r->message_id)) ||
	    !json_add(o, "transport", json_object_new_string(r->transport !=
	    NULL ? r->transport : "")) ||
	    !json_add(o, "recipients",
	    json_object_new_int64((int64_t)r->recipients)))
		goto fail;
	if (r->transport != NULL && strcmp(r->transport, "smtp") == 0 &&
	    !json_add(o, "smtp_reply", json_object_new_string(
	    r->smtp_reply != NULL ? r->smtp_reply : "")))
		goto fail;
	return o;
fail:
	json_object_put(o);
	return NULL;
}

/* ---- maildir ---------------------------------------------------------- */

/* Errors a later attempt may not see again. */
static enum mail_status
errno_status(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case EAGAIN:
	case EINTR:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EBUSY:
		return MAIL_TEMPORARY;
	default:
		return MAIL_PERMANENT;
	}
}

static bool
mkdir_0700(const char *path)
{
	struct stat	 st;

	if (mkdir(path, 0700) == 0)
		return true;
	if (errno != EEXIST)
		return false;
	if (stat(path, &st) == -1)
		return false;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return false;
	}
	return true;
}

/*
 * A Maildir unique name, "SECONDS.MmicrosPpidRrandom.host", with '/' and
 * ':' in the host name written as \057 and \072 as the spec asks.
 */
static void
maildir_unique(char *buf, size_t size)
{
	struct timespec	 ts;
	uint64_t	 rnd;
	char		 host[256], safe[256 * 4 + 1];
	size_t		 i, j;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (i = j = 0; host[i] != '\0'; i++) {
		if (host[i] == '/') {
			memcpy(safe + j, "\\057", 4);
			j += 4;
		} else if (host[i] == ':') {
			memcpy(safe + j, "\\072", 4);
			j += 4;
		} else if ((unsigned char)host[i] <= 0x20 ||
		    (unsigned char)host[i] >= 0x7f)
			safe[j++] = '_';
		else
			safe[j++] = host[i];
	}
	if (j == 0) {
		memcpy(safe, "localhost", sizeof("localhost"));
		j = sizeof("localhost") - 1;
	}
	safe[j] = '\0';
	snprintf(buf, size, "%lld.M%ldP%ldR%016llx.%s", (long long)ts.tv_sec,
	    (long)(ts.tv_nsec / 1000), (long)getpid(), (unsigned long long)rnd,
	    safe);
}

static bool
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = mail_write != NULL ? mail_write(fd, p, n) : write(fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool
fsync_dir(const char *path)
{
	int	 fd, e;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return false;
	if (fsync(fd) == -1 && errno != EINVAL) {
		e = errno;
		close(fd);
		errno = e;
		return false;
	}
	close(fd);
	return true;
}

static enum mail_status
maildir_deliver(const struct config *cfg, const char *text, size_t len,
    struct mail_result *out)
{
	char		 root[PATH_MAX], dtmp[PATH_MAX], dnew[PATH_MAX],
			 dcur[PATH_MAX], uniq[1200], ptmp[PATH_MAX],
			 pnew[PATH_MAX];
	const char	*what = NULL;
	int		 fd = -1, tries, e = 0, c;
	bool		 tmp_made = false;
	enum mail_status st = MAIL_PERMANENT;

	if ((size_t)snprintf(root, sizeof(root), "%s/maildir",
	    cfg->state_dir) >= sizeof(root) ||
	    (size_t)snprintf(dtmp, sizeof(dtmp), "%s/tmp", root) >=
	    sizeof(dtmp) ||
	    (size_t)snprintf(dnew, sizeof(dnew), "%s/new", root) >=
	    sizeof(dnew) ||
	    (size_t)snprintf(dcur, sizeof(dcur), "%s/cur", root) >=
	    sizeof(dcur)) {
		result_error(out, "maildir: path too long under %s",
		    cfg->state_dir);
		goto out;
	}
	if (!mkdir_0700(root)) {
		what = root;
		goto syserr;
	}
	if (!mkdir_0700(dtmp)) {
		what = dtmp;
		goto syserr;
	}
	if (!mkdir_0700(dnew)) {
		what = dnew;
		goto syserr;
	}
	if (!mkdir_0700(dcur)) {
		what = dcur;
		goto syserr;
	}

	for (tries = 0; ; tries++) {
		maildir_unique(uniq, sizeof(uniq));
		c = snprintf(ptmp, sizeof(ptmp), "%s/%s", dtmp, uniq);
		if (c < 0 || (size_t)c >= sizeof(ptmp) ||
		    (size_t)snprintf(pnew, sizeof(pnew), "%s/%s", dnew, uniq) >=
		    sizeof(pnew)) {
			result_error(out, "maildir: path too long under %s",
			    root);
			goto out;
		}
		fd = open(ptmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1)
			break;
		if (errno != EEXIST || tries >= MAILDIR_TRIES) {
			what = ptmp;
			goto syserr;
		}
	}
	tmp_made = true;
	if (!write_all(fd, text, len) || fsync(fd) == -1) {
		what = ptmp;
		goto syserr;
	}
	if (close(fd) == -1) {
		fd = -1;
		what = ptmp;
		goto syserr;
	}
	fd = -1;

	/*
	 * link(2) never replaces an existing name; rename(2) would.  The
	 * fallback is for file systems without hard links, where the
	 * random part of the name stands in for O_EXCL.
	 */
	if (link(ptmp, pnew) == -1) {
		if (errno == EPERM || errno == EXDEV || errno == ENOSYS ||
		    errno == EOPNOTSUPP || errno == EMLINK) {
			if (rename(ptmp, pnew) == -1) {
				what = pnew;
				goto syserr;
			}
			tmp_made = false;
		} else {
			what = pnew;
			goto syserr;
		}
	} else if (unlink(ptmp) == -1)
		log_warn("maildir: unlink %s", ptmp);
	tmp_made = false;
	if (!fsync_dir(dnew)) {
		what = dnew;
		goto syserr;
	}
	if ((out->path = strdup(pnew)) == NULL) {
		/* Delivered; only the report lacks the path. */
		log_warnx("maildir: out of memory recording %s", pnew);
	}
	st = MAIL_OK;
	goto out;

syserr:
	e = errno;
	st = errno_status(e);
	result_error(out, "maildir: %s: %s", what, strerror(e));
out:
	if (fd != -1)
		close(fd);
	if (tmp_made && unlink(ptmp) == -1)
		log_warn("maildir: unlink %s", ptmp);
	return st;
}

/* ---- smtp ------------------------------------------------------------- */

struct smtp_upload {
	const char	*p;
	size_t		 len;
	size_t		 off;
};

static size_t
smtp_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct smtp_upload	*u = arg;
	size_t			 n;

	n = size * nitems;
	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(buf, u->p + u->off, n);
	u->off += n;
	return n;
}

/*
 * The server's latest reply, all its lines ("250-..." continuations and
 * the final "250 ...") joined by a space, control characters blanked.
 */
struct smtp_reply {
	char	 text[REPLY_MAX];
	size_t	 len;
	bool	 done;		/* text holds a complete reply */
};

static void
smtp_reply_line(struct smtp_reply *r, const char *s, size_t n)
{
	size_t	 i;

	if (n == 0)
		return;
	if (r->done) {
		r->len = 0;
		r->done = false;
	}
	if (r->len > 0 && r->len < sizeof(r->text) - 1)
		r->text[r->len++] = ' ';
	for (i = 0; i < n && r->len < sizeof(r->text) - 1; i++)
		r->text[r->len++] = ((unsigned char)s[i] < 0x20 ||
		    s[i] == 0x7f) ? ' ' : s[i];
	r->text[r->len] = '\0';
	/* "250-" continues, "250 " or a bare code ends a reply. */
	r->done = !(n >= 4 && s[3] == '-');
}

static int
smtp_debug(CURL *curl, curl_infotype type, char *data, size_t size,
    void *arg)
{
	struct smtp_reply	*r = arg;
	size_t			 i, start, end;

	(void)curl;
	if (type != CURLINFO_HEADER_IN)
		return 0;
	for (start = i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		end = i;
		while (end > start && (data[end - 1] == '\r' ||
		    data[end - 1] == '\n'))
			end--;
		smtp_reply_line(r, data + start, end - start);
		start = i + 1;
	}
	return 0;
}

/* Errors that a retry of the same configuration cannot cure. */
static bool
curl_permanent(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_LOGIN_DENIED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return true;
	default:
		return false;
	}
}

bool
mail_global_init(void)
{
	static bool	 done;

	if (done)
		return true;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return false;
	done = true;
	return true;
}

#define SETOPT(c, opt, val) do {					\
	if ((rc = curl_easy_setopt((c), (opt), (val))) != CURLE_OK)	\
		goto curlerr;						\
} while (0)

static enum mail_status
smtp_deliver(const struct config *cfg, const char *from_addr,
    const struct mail_message *msg, const char *text, size_t len,
    struct mail_result *out)
{
	CURL			*c = NULL;
	struct curl_slist	*rcpt = NULL, *l;
	struct smtp_upload	 up = { text, len, 0 };
	struct smtp_reply	 reply;
	char			 errbuf[CURL_ERROR_SIZE], *mailfrom = NULL;
	const char		*a;
	CURLcode		 rc = CURLE_OK;
	long			 code = 0;
	size_t			 i, n;
	enum mail_status	 st = MAIL_TEMPORARY;

	memset(&reply, 0, sizeof(reply));
	errbuf[0] = '\0';
	if (strncasecmp(cfg->smtp_url, "smtp://", 7) != 0 &&
	    strncasecmp(cfg->smtp_url, "smtps://", 8) != 0) {
		result_error(out, "smtp: smtp_url must start with smtp:// "
		    "or smtps://");
		return MAIL_PERMANENT;
	}
	if (!mail_global_init()) {
		result_error(out, "smtp: cannot initialise libcurl");
		return MAIL_TEMPORARY;
	}

	/* Envelope: to then cc, each address once. */
	out->recipients = 0;
	n = msg->nto + msg->ncc;
	for (i = 0; i < n; i++) {
		a = i < msg->nto ? msg->to[i] : msg->cc[i - msg->nto];
		for (l = rcpt; l != NULL; l = l->next)
			if (strcmp(l->data, a) == 0)
				break;
		if (l != NULL)
			continue;
		if ((l = curl_slist_append(rcpt, a)) == NULL) {
			result_error(out, "smtp: out of memory");
			goto out;
		}
		rcpt = l;
		out->recipients++;
	}
	if (asprintf(&mailfrom, "<%s>", from_addr) == -1) {
		mailfrom = NULL;
		result_error(out, "smtp: out of memory");
		goto out;
	}
	if ((c = curl_easy_init()) == NULL) {
		result_error(out, "smtp: cannot create a libcurl handle");
		goto out;
	}

	SETOPT(c, CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(c, CURLOPT_NOSIGNAL, 1L);
	SETOPT(c, CURLOPT_URL, cfg->smtp_url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
	SETOPT(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
	if (strncasecmp(cfg->smtp_url, "smtp://", 7) == 0)
		SETOPT(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	if (cfg->smtp_username[0] != '\0') {
		SETOPT(c, CURLOPT_USERNAME, cfg->smtp_username);
		SETOPT(c, CURLOPT_PASSWORD, cfg->smtp_password);
	}
	SETOPT(c, CURLOPT_CONNECTTIMEOUT, (long)cfg->smtp_timeout_s);
#if LIBCURL_VERSION_NUM >= 0x080600
	SETOPT(c, CURLOPT_SERVER_RESPONSE_TIMEOUT_MS,
	    (long)cfg->smtp_timeout_s * 1000L);
#else
	SETOPT(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)cfg->smtp_timeout_s);
#endif
	SETOPT(c, CURLOPT_TIMEOUT, (long)cfg->smtp_timeout_s);
	SETOPT(c, CURLOPT_MAIL_FROM, mailfrom);
	SETOPT(c, CURLOPT_MAIL_RCPT, rcpt);
	SETOPT(c, CURLOPT_UPLOAD, 1L);
	SETOPT(c, CURLOPT_READFUNCTION, smtp_read);
	SETOPT(c, CURLOPT_READDATA, &up);
	SETOPT(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	/* VERBOSE feeds the debug callback; nothing is printed. */
	SETOPT(c, CURLOPT_DEBUGFUNCTION, smtp_debug);
	SETOPT(c, CURLOPT_DEBUGDATA, &reply);
	SETOPT(c, CURLOPT_VERBOSE, 1L);

	rc = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	out->smtp_code = code;
	/* Without memory for it the reply goes unreported, nothing else. */
	if (reply.len > 0)
		out->smtp_reply = strdup(reply.text);
	if (rc == CURLE_OK) {
		st = MAIL_OK;
		goto out;
	}
curlerr:
	if (code >= 400 && code < 500)
		st = MAIL_TEMPORARY;
	else if (code >= 500 && code < 600)
		st = MAIL_PERMANENT;
	else
		st = curl_permanent(rc) ? MAIL_PERMANENT : MAIL_TEMPORARY;
	if (code >= 400 && reply.len > 0)
		result_error(out, "smtp: server replied %s (%s)", reply.text,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
	else
		result_error(out, "smtp: %s", errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(rc));
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(rcpt);
	free(mailfrom);
	return st;
}

/* ---- delivery --------------------------------------------------------- */

/* to and cc addresses counted once each, as the SMTP envelope has them. */
static size_t
count_unique(const struct mail_message *m)
{
	size_t		 i, j, n, count = 0;
	const char	*a, *b;

	n = m->nto + m->ncc;
	for (i = 0; i < n; i++) {
		a = i < m->nto ? m->to[i] : m->cc[i - m->nto];
		for (j = 0; j < i; j++) {
			b = j < m->nto ? m->to[j] : m->cc[j - m->nto];
			if (strcmp(a, b) == 0)
				break;
		}
		if (j == i)
			count++;
	}
	return count;
}

enum mail_status
mail_deliver(const struct config *cfg, const struct mail_message *msg,
    struct mail_result *out)
{
	struct mail_message	 m;
	const char		*name, *addr;
	size_t			 namelen, addrlen;
	char			*text = NULL, err[256], fromaddr[256];
	bool			 oom;
	enum mail_status	 st = MAIL_PERMANENT;

	memset(out, 0, sizeof(*out));
	m = *msg;
	if (m.from == NULL)
		m.from = cfg->email_from;
	if (strcmp(cfg->email_transport, "smtp") == 0)
		out->transport = "smtp";
	else if (cfg->email_transport[0] == '\0' ||
	    strcmp(cfg->email_transport, "maildir") == 0)
		out->transport = "maildir";
	else {
		result_error(out, "email_transport '%s' is unknown",
		    cfg->email_transport);
		goto out;
	}
	if (!from_parse(m.from, &name, &namelen, &addr, &addrlen) ||
	    addrlen >= sizeof(fromaddr)) {
		result_error(out, "%s: not a usable sender address",
		    msg->from != NULL ? "from" : "email_from");
		goto out;
	}
	memcpy(fromaddr, addr, addrlen);
	fromaddr[addrlen] = '\0';
	if (!mail_message_id_make(m.from, out->message_id,
	    sizeof(out->message_id))) {
		result_error(out, "%s: no domain for a Message-ID",
		    msg->from != NULL ? "from" : "email_from");
		goto out;
	}
	text = mail_format(&m, out->message_id,
	    mail_clock != NULL ? mail_clock() : default_clock(), &oom,
	    err, sizeof(err));
	if (text == NULL) {
		st = oom ? MAIL_TEMPORARY : MAIL_PERMANENT;
		result_error(out, "%s", err);
		goto out;
	}

	if (strcmp(out->transport, "smtp") == 0)
		st = smtp_deliver(cfg, fromaddr, &m, text, strlen(text), out);
	else {
		/* One file for the whole message, whoever it is for. */
		st = maildir_deliver(cfg, text, strlen(text), out);
		if (st == MAIL_OK)
			out->recipients = count_unique(&m);
	}
out:
	if (st != MAIL_OK)
		log_warnx("email %s: %s (%s)", out->message_id[0] != '\0' ?
		    out->message_id : "-", out->error != NULL ? out->error :
		    "failed", mail_strerror(st));
	free(text);
	return st;
}
