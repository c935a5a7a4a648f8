/*
 * taskq-api: command line, configuration and the listening socket; the
 * serving itself is in server.c.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/config.h"
#include "api.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

#define DEFAULT_CONFIG	SYSCONFDIR "/taskq/taskq.conf"
#define LISTEN_BACKLOG	1024

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: taskq-api [-hnv] [-f config] [-d database] [-s state_dir] "
	    "[-l listen]\n"
	    "                 [-t threads] [-o key=value ...]\n");
	exit(status);
}

/* One command-line override, applied after the file is read. */
struct override {
	const char	*key;
	char		*value;
};

/*
 * A UNIX socket at path: a stale socket file is replaced, anything else
 * there is an error; created with mode 0660 so that only the owner and
 * the group (nginx's) connect.
 */
static int
listen_unix(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("listen %s: path too long for a UNIX socket", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			log_warnx("listen %s: exists and is not a socket", path);
			return -1;
		}
		/* Stale only if nobody answers: never steal a live socket. */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
			if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
				log_warnx("listen %s: another process is listening "
				    "there", path);
				close(fd);
				return -1;
			}
			close(fd);
		}
		if (unlink(path) == -1) {
			log_warn("listen %s: unlink stale socket", path);
			return -1;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("listen %s: socket", path);
		return -1;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("listen %s: bind", path);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("listen %s", path);
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

static bool
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	return false;
}

/* host:port over TCP, for a web server on this machine. */
static int
listen_tcp(const char *spec)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		*host = NULL, *port;
	int		 fd = -1, on = 1, e;

	if ((host = strdup(spec)) == NULL) {
		log_warn("strdup");
		return -1;
	}
	if ((port = strrchr(host, ':')) == NULL || port[1] == '\0') {
		log_warnx("listen %s: expected a socket path or host:port", spec);
		goto out;
	}
	*port++ = '\0';
	if (host[0] == '[' && port - host >= 3 && port[-2] == ']') {
		port[-2] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(*host != '\0' ? host : NULL, port, &hints, &res)) != 0) {
		log_warnx("listen %s: %s", spec, gai_strerror(e));
		goto out;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		log_warn("listen %s", spec);
	else if (!is_loopback(ai->ai_addr))
		log_warnx("listen %s: not a loopback address: FastCGI has no "
		    "authentication, anyone who can connect can use the API "
		    "as the web server would", spec);
out:
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	return fd;
}

/* fd 0 as handed over by spawn-fcgi or systemd socket activation. */
static int
listen_stdin(void)
{
	int		 acc = 0;
	socklen_t	 len = sizeof(acc);

	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 || !acc) {
		log_warnx("listen: api_listen is empty but standard input is not "
		    "a listening socket; set -l PATH or -l host:port");
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct config	 cfg;
	struct api	 api;
	struct override	*ovr = NULL;
	size_t		 novr = 0, i;
	const char	*cfgpath = DEFAULT_CONFIG;
	bool		 cfg_given = false, check_only = false;
	char		 err[1024], *eq;
	int		 ch, verbose = 0, fd = -1, rc = 1;
	bool		 is_unix = false;
	sigset_t	 sigs;

	signal(SIGPIPE, SIG_IGN);
	/*
	 * libfcgi installs a SIGUSR1 handler that makes every later accept
	 * fail (mod_fastcgi's restart signal), unless the signal is already
	 * handled: a stray SIGUSR1 must not stop the workers one by one.
	 */
	signal(SIGUSR1, SIG_IGN);
	/*
	 * SIGTERM, SIGINT and SIGHUP wait, blocked, for server_run's
	 * sigtimedwait: one arriving during start-up (the socket may already
	 * be visible) must not kill the process by its default action.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	log_init("taskq-api", LOG_LEVEL_INFO);
	memset(&api, 0, sizeof(api));

	if ((ovr = calloc((size_t)argc + 1, sizeof(*ovr))) == NULL)
		fatal("calloc");
	while ((ch = getopt(argc, argv, "hnvf:d:s:l:t:o:")) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 'n':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'f':
			cfgpath = optarg;
			cfg_given = true;
			break;
		case 'd':
			ovr[novr].key = "database";
			ovr[novr++].value = optarg;
			break;
		case 's':
			ovr[novr].key = "state_dir";
			ovr[novr++].value = optarg;
			break;
		case 'l':
			ovr[novr].key = "api_listen";
			ovr[novr++].value = optarg;
			break;
		case 't':
			ovr[novr].key = "api_threads";
			ovr[novr++].value = optarg;
			break;
		case 'o':
			if ((eq = strchr(optarg, '=')) == NULL) {
				log_warnx("-o %s: expected key=value", optarg);
				usage(1);
			}
			*eq = '\0';
			ovr[novr].key = optarg;
			ovr[novr++].value = eq + 1;
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	if (!config_load(&cfg, cfgpath, cfg_given, err, sizeof(err)))
		fatalx("%s", err);
	for (i = 0; i < novr; i++)
		if (!config_set(&cfg, ovr[i].key, ovr[i].value, err, sizeof(err)))
			fatalx("option %s: %s", ovr[i].key, err);
	free(ovr);
	ovr = NULL;
	if (check_only) {
		fprintf(stderr, "taskq-api: configuration OK\n");
		return 0;
	}
	log_set_level(verbose > 0 ? LOG_LEVEL_DEBUG : (enum log_level)cfg.log_level);

	api.cfg = &cfg;
	if (auth_init(&cfg) == -1)
		goto out;
	if (files_init(&api) == -1)
		goto out;
	if ((api.batch = batcher_new(cfg.database, cfg.busy_timeout_ms, err,
	    sizeof(err))) == NULL) {
		log_warnx("the submit committer: %s", err);
		goto out;
	}
	if (FCGX_Init() != 0) {
		log_warnx("FCGX_Init failed");
		goto out;
	}
	/*
	 * FCGX_Init installs its SIGUSR1 (and SIGTERM) handlers even over
	 * SIG_IGN: ignore SIGUSR1 again, now, before the socket exists.
	 */
	signal(SIGUSR1, SIG_IGN);

	if (cfg.api_listen[0] == '\0')
		fd = listen_stdin();
	else if (strchr(cfg.api_listen, '/') != NULL) {
		fd = listen_unix(cfg.api_listen);
		is_unix = fd != -1;
	} else
		fd = listen_tcp(cfg.api_listen);
	if (fd == -1)
		goto out;
	log_info("listening on %s, database %s",
	    cfg.api_listen[0] != '\0' ? cfg.api_listen : "standard input",
	    cfg.database);

	if (server_run(&api, fd) == 0)
		rc = 0;
	{
		uint64_t	 commits, tasks;

		batcher_counts(api.batch, &commits, &tasks);
		if (commits > 0)
			log_info("%" PRIu64 " submits in %" PRIu64 " commits",
			    tasks, commits);
	}
	if (fd > 0)
		close(fd);
	if (is_unix && unlink(cfg.api_listen) == -1 && errno != ENOENT)
		log_warn("unlink %s", cfg.api_listen);
	log_info("stopped");
out:
	batcher_free(api.batch);
	free(api.files_dir);
	return rc;
}
