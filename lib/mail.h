/*
 * The email engine: builds an RFC 5322 message (UTF-8 plain text,
 * quoted-printable body, RFC 2047 subject) and delivers it through the
 * configured transport, a Maildir under STATE_DIR/maildir or SMTP through
 * libcurl.  No SQLite here: the runner calls this from a child process.
 */
#ifndef TASKQ_MAIL_H
#define TASKQ_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct json_object;

enum mail_status {
	MAIL_OK = 0,
	MAIL_TEMPORARY,		/* try again later: SMTP 4xx, network, disk full */
	MAIL_PERMANENT,		/* retrying cannot help: SMTP 5xx, bad message */
	MAIL__MAX
};

extern const char *const mail_status_names[MAIL__MAX];

/* A short description of a status ("temporary failure"). */
const char	*mail_strerror(enum mail_status);

/*
 * One message to send.  Every pointer is borrowed.  The strings with a
 * length may hold any bytes; a NUL inside the subject is refused like CR
 * and LF, a NUL inside the body is sent as =00.
 */
struct mail_message {
	const char		 *from;		/* NULL: config email_from; either
						 * "addr" or "Name <addr>" */
	const char *const	 *to;		/* nto addresses, nto >= 1 */
	size_t			  nto;
	const char *const	 *cc;		/* ncc addresses, may be NULL if 0 */
	size_t			  ncc;
	const char		 *reply_to;	/* or NULL */
	const char		 *subject;	/* UTF-8, subject_len bytes */
	size_t			  subject_len;
	const char		 *body;		/* UTF-8, body_len bytes; LF or CRLF
						 * line ends */
	size_t			  body_len;
};

/*
 * Fills msg from a task's (validated) parameters object: to and cc as a
 * string or an array of strings, subject, body, reply_to.  Strings are
 * borrowed from params, so params must outlive msg; the to and cc arrays
 * are allocated and released by mail_message_release.  A string holding a
 * NUL byte in an address is refused.  Returns MAIL_OK, or MAIL_PERMANENT
 * with the reason in err (malformed parameters will not improve on retry);
 * out of memory is MAIL_TEMPORARY.  On failure msg needs no release.
 */
enum mail_status mail_message_from_json(struct json_object *params,
	    struct mail_message *msg, char *err, size_t errlen);

/* Frees what mail_message_from_json allocated (not the strings); NULL ok. */
void		 mail_message_release(struct mail_message *msg);

/* Longest message id mail_message_id_make writes, without the NUL. */
#define MAIL_MSGID_MAX	320

/*
 * Writes a new Message-ID "<uuid@domain>" into buf (at least
 * MAIL_MSGID_MAX + 1 bytes), domain being that of the from address
 * ("addr" or "Name <addr>").  Returns false if from has no usable domain.
 */
bool		 mail_message_id_make(const char *from, char *buf, size_t size);

/*
 * Returns the whole message as RFC 5322 text with CRLF line ends (caller
 * frees), or NULL with the reason in err: a header field holding CR, LF or
 * NUL, an invalid address, or out of memory (*oom set when not NULL, so the
 * caller can tell a bad message from a lack of memory).  message_id is the
 * header's value with its angle brackets; date_ms the Date header's instant
 * (written in UTC, +0000).  msg->from must not be NULL here.  The length
 * is strlen of the result: the body's NUL bytes are encoded.
 *
 * Headers: Date, From, To, Cc (when given), Reply-To (when given),
 * Subject, Message-ID, MIME-Version, Content-Type text/plain UTF-8 and
 * Content-Transfer-Encoding quoted-printable, always: one encoding for
 * every body keeps the builder simple and no line of the message ever
 * starts with '.' (an initial dot is written =2E, an initial "From " as
 * =46rom), is longer than 76 characters or ends in white space.
 */
char		*mail_format(const struct mail_message *msg,
	    const char *message_id, int64_t date_ms, bool *oom,
	    char *err, size_t errlen);

/* What mail_deliver did; members are owned, released by mail_result_free. */
struct mail_result {
	char		 message_id[MAIL_MSGID_MAX + 1];	/* "<...@...>" */
	const char	*transport;	/* "maildir" or "smtp", static */
	size_t		 recipients;	/* distinct envelope recipients */
	long		 smtp_code;	/* last SMTP reply code, 0 if none */
	char		*smtp_reply;	/* last SMTP reply text, or NULL */
	char		*path;		/* maildir: the delivered file, or NULL */
	char		*error;		/* on failure: what went wrong */
};

/*
 * Builds and delivers msg with the transport cfg names (email_transport):
 *
 * maildir: cfg->state_dir/maildir/{tmp,new,cur} are created (0700) as
 * needed; the message is written to tmp/<unique>, fsync'd, linked into
 * new/<unique> and the tmp name removed, then new/ is fsync'd, as the
 * Maildir convention asks, so a reader never sees a partial message.
 * Files keep the message's CRLF line ends.  Disk full and I/O errors are
 * MAIL_TEMPORARY, anything else (permissions, no such directory)
 * MAIL_PERMANENT.
 *
 * smtp: libcurl to cfg->smtp_url.  smtp:// tries STARTTLS and goes on in
 * clear text if the server does not offer it (CURLUSESSL_TRY; for a
 * server that must be reached privately use smtps://, implicit TLS, whose
 * certificate is verified).  Optional AUTH with smtp_username and
 * smtp_password.  smtp_timeout_s bounds the connect, each server reply and
 * the whole conversation.  One transaction for all recipients (to and cc,
 * duplicates sent once): all are accepted or the message is not sent.  A
 * 4xx reply, a refused connection, a timeout or a dropped connection is
 * MAIL_TEMPORARY; a 5xx reply, a bad URL or a failed certificate check is
 * MAIL_PERMANENT.  The server's last reply is in out->smtp_reply and, on
 * failure, in out->error.  libcurl dot-stuffs the upload itself
 * (CRLF "." becomes CRLF ".."), and mail_format never starts a line with
 * '.' anyway.
 *
 * Returns MAIL_OK with *out filled, or a failure with out->error set (and
 * logged at warning level once).  out is always to be released with
 * mail_result_free.
 */
enum mail_status mail_deliver(const struct config *cfg,
	    const struct mail_message *msg, struct mail_result *out);

/*
 * Initialises libcurl's global state; call once at start-up before any
 * thread exists (mail_deliver otherwise does it on first use, which is
 * fine in a single-threaded child).  Returns false on failure.
 */
bool		 mail_global_init(void);

/* Frees the members of r (not r itself); NULL is a no-op. */
void		 mail_result_free(struct mail_result *r);

/*
 * The task result for API.md: {"message_id", "transport", "recipients"}
 * plus "smtp_reply" for smtp.  Caller owns; NULL when out of memory.
 */
struct json_object	*mail_result_to_json(const struct mail_result *r);

/*
 * Seam for tests: the clock used for Date (ms since the epoch).  NULL
 * means time_now_ms().
 */
extern int64_t	(*mail_clock)(void);

/*
 * Seam for tests: the write(2) used for Maildir files, so a full disk can
 * be simulated.  NULL means write(2).
 */
extern ssize_t	(*mail_write)(int fd, const void *buf, size_t n);

#endif /* TASKQ_MAIL_H */
