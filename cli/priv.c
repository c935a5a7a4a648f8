/*
 * Running taskq as root on an installed system: SQLite creates the -wal
 * and -shm files with the uid of whoever opens the database first, and a
 * root-owned -shm locks the daemons (user taskq) out of their own queue.
 * So root becomes the owner of the database file (or, for a database not
 * yet created, of its directory) before opening anything.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/*
 * When running as root and the database (or its directory) belongs to
 * another user, switches to that user and group for good.  Returns false
 * with the reason in err when the switch fails; doing nothing is success.
 */
bool
priv_drop_to_owner(const char *dbpath, char *err, size_t errlen)
{
	struct stat	 sb;
	char		*copy = NULL;
	gid_t		 gid;
	uid_t		 uid;

	if (geteuid() != 0)
		return true;
	if (stat(dbpath, &sb) == -1) {
		if (errno != ENOENT || (copy = strdup(dbpath)) == NULL ||
		    stat(dirname(copy), &sb) == -1) {
			free(copy);
			return true;	/* opening will report the problem */
		}
		free(copy);
	}
	if (sb.st_uid == 0)
		return true;
	uid = sb.st_uid;
	gid = sb.st_gid;
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(uid) == -1) {
		snprintf(err, errlen, "cannot switch to the database owner "
		    "(uid %ju, gid %ju): %s", (uintmax_t)uid, (uintmax_t)gid,
		    strerror(errno));
		return false;
	}
	if (setuid(0) != -1) {
		snprintf(err, errlen, "could regain root after switching to "
		    "uid %ju", (uintmax_t)uid);
		return false;
	}
	return true;
}
