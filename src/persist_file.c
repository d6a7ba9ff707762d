/*
 * persist_file.c - the state file on disk: atomic save (temporary file,
 * fsync, rename, fsync the directory), bounded load, set aside.  The
 * format is persist.c's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strerror_r returning char *, renameat2 */
#endif

#include "errf.h"
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PERSIST_FMT_MAX 4096    /* the largest valid state formats to < 2 KiB */

static int
persist_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create tmp afresh, write it whole, fsync, close; on failure nothing remains. */
static int
persist_write_tmp(const char *tmp, const char *buf, size_t len, char *err, size_t errlen)
{
	char eb[128];
	const char *step = "create";
	int fd, eno;

	if (unlink(tmp) == -1 && errno != ENOENT) {
		eno = errno;
		return errf(err, errlen, "cannot remove stale %s: %s", tmp,
		    strerror_r(eno, eb, sizeof eb));
	}
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
	if (fd == -1) {
		eno = errno;
		return errf(err, errlen, "cannot create %s: %s", tmp,
		    strerror_r(eno, eb, sizeof eb));
	}
	if (persist_write_all(fd, buf, len) == -1)
		step = "write";
	else if (fsync(fd) == -1)
		step = "fsync";
	else
		step = NULL;
	eno = errno;
	if (close(fd) == -1 && step == NULL) {
		eno = errno;
		step = "close";
	}
	fd = -1;
	if (step == NULL)
		return 0;
	unlink(tmp);
	return errf(err, errlen, "cannot %s %s: %s", step, tmp,
	    strerror_r(eno, eb, sizeof eb));
}

/* fsync the directory holding path, so the rename itself survives a crash. */
static int
persist_sync_dir(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], eb[128];
	const char *slash = strrchr(path, '/');
	int fd, eno;

	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1) {
		eno = errno;
		if (fd != -1)
			close(fd);
		return errf(err, errlen, "%s written, but cannot fsync directory %s: %s "
		    "(the change may not survive a power cut)", path, dir,
		    strerror_r(eno, eb, sizeof eb));
	}
	close(fd);
	return 0;
}

int
persist_save_text(const char *path, const char *buf, size_t len, char *err, size_t errlen)
{
	char tmp[PATH_MAX], eb[128];
	int n, eno;

	n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return errf(err, errlen, "path too long: %s", path);
	if (persist_write_tmp(tmp, buf, len, err, errlen) == -1)
		return -1;
	if (rename(tmp, path) == -1) {
		eno = errno;
		unlink(tmp);
		return errf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		    strerror_r(eno, eb, sizeof eb));
	}
	return persist_sync_dir(path, err, errlen);
}

int
persist_save(const char *path, const struct split_state *st, char *err, size_t errlen)
{
	char buf[PERSIST_FMT_MAX], tmp[PATH_MAX], why[256], eb[128];
	int n, eno;

	if (persist_check(st, why, sizeof why) == -1)
		return errf(err, errlen, "refusing to write an invalid state to %s: %s",
		    path, why);
	n = persist_format(st, buf, sizeof buf);
	if (n == -1)
		return errf(err, errlen, "state for %s does not fit in %d bytes",
		    path, PERSIST_FMT_MAX);
	n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return errf(err, errlen, "state file path too long: %s", path);
	if (persist_write_tmp(tmp, buf, strlen(buf), err, errlen) == -1)
		return -1;
	if (rename(tmp, path) == -1) {
		eno = errno;
		unlink(tmp);
		return errf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		    strerror_r(eno, eb, sizeof eb));
	}
	return persist_sync_dir(path, err, errlen);
}

/* Read at most PERSIST_MAX_FILE + 1 bytes, so a file that grew is still caught. */
static ssize_t
persist_read_fd(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

/* path's bytes (at most cap) into a new *buf: 0, 1 when there is no such
 * file, or -1 with err. */
static int
persist_read(const char *path, size_t cap, char **buf, size_t *len, char *err, size_t errlen)
{
	char eb[128];
	struct stat sb;
	ssize_t n;
	int fd, eno;

	*buf = NULL;
	/* O_NONBLOCK: a FIFO planted at path must not hang the start */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT)
		return 1;
	if (fd == -1 || fstat(fd, &sb) == -1) {
		eno = errno;
		if (fd != -1)
			close(fd);
		return errf(err, errlen, "%s: cannot read: %s", path,
		    strerror_r(eno, eb, sizeof eb));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return errf(err, errlen, "%s: not a regular file", path);
	}
	*buf = malloc(cap + 1);
	if (*buf == NULL) {
		close(fd);
		return errf(err, errlen, "%s: out of memory", path);
	}
	n = persist_read_fd(fd, *buf, cap + 1);
	eno = errno;
	close(fd);
	if (n == -1) {
		free(*buf);
		*buf = NULL;
		return errf(err, errlen, "%s: cannot read: %s", path,
		    strerror_r(eno, eb, sizeof eb));
	}
	*len = (size_t)n;
	return 0;
}

int
persist_load(const char *path, struct split_state *st, char *err, size_t errlen)
{
	char perr[384], *buf;
	size_t n;
	int rc = persist_read(path, PERSIST_MAX_FILE, &buf, &n, err, errlen);

	if (rc != 0)
		return rc;
	if ((rc = persist_parse(buf, n, st, perr, sizeof perr)) == -1)
		errf(err, errlen, "%s: %s", path, perr);
	free(buf);
	return rc;
}

int
persist_svcs_load(const char *path, struct persist_svc **out, size_t *nout, char *err,
    size_t errlen)
{
	char perr[384], *buf;
	size_t n, hl = strlen(PERSIST_SVCS_HEADER);
	int rc = persist_read(path, PERSIST_MAX_SVCS_FILE, &buf, &n, err, errlen);

	*out = NULL;
	*nout = 0;
	if (rc != 0)
		return rc;
	/* the file of one service (without a services list, or from before):
	 * whatever is not a services file, its errors as they always were */
	if (!(n > hl && memcmp(buf, PERSIST_SVCS_HEADER, hl) == 0 && buf[hl] == '\n')) {
		*out = calloc(1, sizeof(**out));
		if (*out == NULL)
			rc = errf(err, errlen, "%s: out of memory", path);
		else if ((rc = persist_parse(buf, n, &(*out)[0].st, perr, sizeof perr)) == -1) {
			errf(err, errlen, "%s: %s", path, perr);
			free(*out);
			*out = NULL;
		} else {
			*nout = 1;      /* named "": the one service */
		}
	} else if ((rc = persist_svcs_parse(buf, n, out, nout, perr, sizeof perr)) == -1) {
		errf(err, errlen, "%s: %s", path, perr);
	}
	free(buf);
	return rc;
}

int
persist_svcs_save(const char *path, const struct persist_svc *v, size_t n, char *err,
    size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	if (persist_svcs_format(v, n, &buf, &len, err, errlen) == -1)
		return -1;
	rc = persist_save_text(path, buf, len, err, errlen);
	free(buf);
	return rc;
}

/*
 * Rename without ever replacing an existing name.  RENAME_NOREPLACE makes
 * that atomic; on file systems without it, check first (a race there only
 * matters if two processes set the same file aside in the same second).
 */
static int
persist_rename_noreplace(const char *from, const char *to)
{
	struct stat sb;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (lstat(to, &sb) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	return rename(from, to);
}

int
persist_set_aside(const char *path, char *aside, size_t asidelen, char *err, size_t errlen)
{
	char stamp[32], name[PATH_MAX], eb[128];
	struct tm tm;
	time_t now = time(NULL);
	int i, n, eno;

	if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm) == 0)
		return errf(err, errlen, "cannot format the time");
	for (i = 0; i < 1000; i++) {
		if (i == 0)
			n = snprintf(name, sizeof name, "%s.corrupt.%s", path, stamp);
		else
			n = snprintf(name, sizeof name, "%s.corrupt.%s.%d", path, stamp, i);
		if (n < 0 || (size_t)n >= sizeof name || (size_t)n >= asidelen)
			return errf(err, errlen, "name for setting %s aside is too long",
			    path);
		if (persist_rename_noreplace(path, name) == 0) {
			memcpy(aside, name, (size_t)n + 1);
			return 0;
		}
		if (errno != EEXIST) {
			eno = errno;
			return errf(err, errlen, "cannot move %s aside to %s: %s", path, name,
			    strerror_r(eno, eb, sizeof eb));
		}
	}
	return errf(err, errlen, "cannot move %s aside: %s.corrupt.%s.1..999 all exist",
	    path, path, stamp);
}
