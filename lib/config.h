/*
 * taskq.conf: "key = value" lines, '#' comments.  Defaults live in one const
 * struct (config_defaults); every value is parsed against its bounds, and an
 * unknown key or bad value is an error naming the file, line and key.
 * Command-line options override the file.
 */
#ifndef TASKQ_CONFIG_H
#define TASKQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define CONFIG_PATH_MAX	4096
#define CONFIG_AUTH_TOKENS_MAX	4096	/* auth_tokens text: about 60 tokens */

struct config {
	char		 database[CONFIG_PATH_MAX];	/* SQLite file path */
	char		 state_dir[CONFIG_PATH_MAX];	/* uploads, outputs, maildir */
	int		 log_level;			/* enum log_level */
	int		 busy_timeout_ms;		/* SQLite busy timeout */

	/* taskq-api */
	char		 api_listen[CONFIG_PATH_MAX];	/* "" = fd 0; a path = UNIX socket; host:port */
	int		 api_threads;
	int64_t		 upload_max_bytes;
	int64_t		 json_max_bytes;

	/* taskq-runner */
	int		 slots;				/* 0 = number of CPUs */
	int		 poll_interval_ms;
	int		 heartbeat_interval_s;
	int		 stale_after_s;			/* runner heartbeat age that counts as lost */
	int		 shutdown_grace_s;
	int		 kill_grace_s;			/* SIGTERM -> SIGKILL on cancel/timeout */
	int64_t		 child_max_memory;		/* RLIMIT_AS bytes, 0 = unlimited */
	int		 child_max_cpu_s;		/* RLIMIT_CPU seconds, 0 = unlimited */
	int		 retention_days;		/* 0 = keep forever */
	int		 retry_base_ms;			/* backoff base for temporary failures */
	int		 retry_max_ms;			/* backoff cap */

	/* workers */
	int64_t		 csv_max_field_bytes;
	int64_t		 image_max_pixels;
	char		 email_transport[16];		/* "maildir" or "smtp" */
	char		 email_from[256];
	char		 smtp_url[1024];
	char		 smtp_username[256];
	char		 smtp_password[256];
	int		 smtp_timeout_s;

	/*
	 * (Appended.)  taskq-api authentication: "" (off), or SHA-256
	 * digests of bearer tokens, 64 hex digits each, separated by commas,
	 * each optionally followed by ":ro" (a viewer: GET and HEAD only) or
	 * ":rw" (the default).  Checked by config_load; fcgi/auth.c parses it.
	 */
	char		 auth_tokens[CONFIG_AUTH_TOKENS_MAX];
};

extern const struct config config_defaults;

/*
 * Resets *cfg to the defaults, then reads path over it.  A missing file is
 * an error only when must_exist.  On error returns false with a message
 * "FILE:LINE: key 'KEY': why" in err and leaves *cfg as it was (so a
 * failed SIGHUP reload keeps the running configuration).
 */
bool	config_load(struct config *cfg, const char *path, bool must_exist,
	    char *err, size_t errlen);

/*
 * Sets one key from a string, as a line of the file would (used for
 * command-line overrides and by config_load).  Returns false with the reason
 * in err (without file and line).
 */
bool	config_set(struct config *cfg, const char *key, const char *value,
	    char *err, size_t errlen);

/*
 * Checks the rules between keys (retry_base_ms <= retry_max_ms,
 * stale_after_s > heartbeat_interval_s, smtp needs smtp_url, ...).
 * config_load already does; call it again after config_set overrides.
 * Returns false with "key 'KEY': why" in err.
 */
bool	config_check(const struct config *cfg, char *err, size_t errlen);

/* Writes every key with its current value, one "key = value" per line. */
void	config_dump(const struct config *cfg, FILE *fp);

#endif /* TASKQ_CONFIG_H */
