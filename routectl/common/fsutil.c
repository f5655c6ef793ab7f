#include "fsutil.h"
#include "err.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path);
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int rc = fsync(dfd);
	close(dfd);
	return rc;
}

int fs_fsync_dir_of(const char *path, struct err *e)
{
	if (fsync_dir_of(path) < 0)
		return err_set(e, ERR_IO, "cannot fsync the directory of %s: %s", path,
			       strerror(errno));
	return 0;
}

#define TEMP_INFIX ".tmp."
/* mkstemp(3) needs its template to end in six 'X' characters, which it
 * replaces with random ones. */
#define MKSTEMP_RANDOM_LEN 6

int fs_temp_template(const char *path, char *out, size_t size, struct err *e)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (!*base)
		return err_set(e, ERR_INVALID, "%s: not a file name", path);
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	int n = snprintf(out, size, "%.*s.%s" TEMP_INFIX "%ld.%*s", dirlen, path, base,
			 (long)getpid(), MKSTEMP_RANDOM_LEN, "");
	if (n < 0 || (size_t)n >= size)
		return err_set(e, ERR_INVALID, "%s: path too long", path);
	memset(out + n - MKSTEMP_RANDOM_LEN, 'X', MKSTEMP_RANDOM_LEN);
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *e)
{
	char tmp[PATH_MAX];
	int rc = fs_temp_template(path, tmp, sizeof tmp, e);
	if (rc < 0)
		return rc;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_IO, "%s: cannot create a temp file (%s) to write it: %s",
			       path, tmp, strerror(errno));
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int saved = errno;
		close(fd);
		unlink(tmp);
		return err_set(e, ERR_IO, "%s: cannot write: %s", tmp, strerror(saved));
	}
	if (close(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, ERR_IO, "%s: cannot close: %s", tmp, strerror(saved));
	}
	if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, ERR_IO, "%s: cannot rename into place: %s", path,
			       strerror(saved));
	}
	if (fsync_dir_of(path) < 0)
		return err_set(e, ERR_IO, "%s: cannot fsync its directory: %s", path,
			       strerror(errno));
	return 0;
}

/* Parses a decimal PID of [s, end); 0 if it is not one. */
static pid_t parse_pid(const char *s, const char *end)
{
	if (s >= end || end - s > 10 || *s == '0')
		return 0;
	long v = 0;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
	}
	return v > 0 && v <= INT32_MAX ? (pid_t)v : 0;
}

/* The PID in a temp name of base (any base if NULL), 0 if name is not one:
 * ".BASE.tmp.PID.RANDOM" (RANDOM: the 6 characters of mkstemp) or
 * "BASE.tmp.PID". */
static pid_t temp_name_pid(const char *name, const char *base)
{
	size_t n = strlen(name);
	const char *end = name + n;
	if (name[0] == '.' && n > 7 && end[-7] == '.') {
		/* .BASE.tmp.PID.RANDOM */
		const char *pid_end = end - 7;
		const char *pid = pid_end;
		while (pid > name && pid[-1] >= '0' && pid[-1] <= '9')
			pid--;
		size_t infix = strlen(TEMP_INFIX);
		if ((size_t)(pid - name) < 1 + 1 + infix || memcmp(pid - infix, TEMP_INFIX, infix) != 0)
			return 0;
		size_t blen = (size_t)(pid - infix - (name + 1));
		if (base && (strlen(base) != blen || memcmp(name + 1, base, blen) != 0))
			return 0;
		return parse_pid(pid, pid_end);
	}
	/* BASE.tmp.PID, written by versions before the temp names hid. */
	const char *pid = end;
	while (pid > name && pid[-1] >= '0' && pid[-1] <= '9')
		pid--;
	size_t infix = strlen(TEMP_INFIX);
	if ((size_t)(pid - name) < 1 + infix || memcmp(pid - infix, TEMP_INFIX, infix) != 0)
		return 0;
	size_t blen = (size_t)(pid - infix - name);
	if (base && (strlen(base) != blen || memcmp(name, base, blen) != 0))
		return 0;
	return parse_pid(pid, end);
}

static int process_runs(pid_t pid)
{
	if (pid == getpid())
		return 0;  /* a temp of ours from before: this process writes none yet */
	return kill(pid, 0) == 0 || errno == EPERM;
}

int fs_remove_stale_temps(const char *path, int any_base, struct err *e)
{
	char dir[PATH_MAX];
	const char *base = NULL;
	if (any_base) {
		if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
			return err_set(e, ERR_INVALID, "%s: path too long", path);
	} else {
		const char *slash = strrchr(path, '/');
		base = slash ? slash + 1 : path;
		if (!*base)
			return err_set(e, ERR_INVALID, "%s: not a file name", path);
		int n;
		if (!slash)
			n = snprintf(dir, sizeof dir, ".");
		else if (slash == path)
			n = snprintf(dir, sizeof dir, "/");
		else
			n = snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		if (n >= (int)sizeof dir)
			return err_set(e, ERR_INVALID, "%s: path too long", path);
	}
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, ERR_IO, "%s: cannot read the directory to remove stale temp files: %s",
			       dir, strerror(errno));
	}
	int removed = 0, rc = 0;
	for (struct dirent *de; rc == 0 && (errno = 0, de = readdir(d));) {
		pid_t pid = temp_name_pid(de->d_name, base);
		if (pid == 0 || process_runs(pid))
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !(S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			if (errno != ENOENT)
				rc = err_set(e, ERR_IO, "%s/%s: cannot remove this stale temp file: %s",
					     dir, de->d_name, strerror(errno));
			continue;
		}
		log_info("removed %s/%s, a temp file left by process %ld that no longer runs",
			 dir, de->d_name, (long)pid);
		removed++;
	}
	if (rc == 0 && errno != 0)
		rc = err_set(e, ERR_IO, "%s: cannot read the directory: %s", dir, strerror(errno));
	closedir(d);
	return rc < 0 ? rc : removed;
}

void fs_clean_stale_temps(const char *file, const char *own_dir)
{
	struct err e;
	if (file && fs_remove_stale_temps(file, 0, &e) < 0)
		log_warn("stale temp files of %s: %s", file, e.msg);
	if (own_dir && fs_remove_stale_temps(own_dir, 1, &e) < 0)
		log_warn("stale temp files in %s: %s", own_dir, e.msg);
}

/* What a file that is not a regular file is, for messages. */
static const char *kind_of(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO (named pipe)";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISLNK(m))
		return "a symbolic link";
	return "not a regular file";
}

/* " to 'TARGET'" (", which does not exist" when it dangles) for a
 * message about a symbolic link. */
static void describe_link(const char *path, char *out, size_t size)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n < 0) {
		snprintf(out, size, "%s", "");
		return;
	}
	target[n] = '\0';
	struct stat sb;
	int dangling = stat(path, &sb) < 0 && (errno == ENOENT || errno == ENOTDIR);
	snprintf(out, size, " to '%s'%s", target, dangling ? ", which does not exist" : "");
}


/* A path that cannot be opened or is not a regular file: the message says
 * what it is. st is from lstat (NOFOLLOW) or stat when have_st. */
static int refuse_not_regular(const char *path, const struct stat *st, const char *verb,
			      struct err *e)
{
	char link[PATH_MAX + 64] = "";
	if (S_ISLNK(st->st_mode)) {
		describe_link(path, link, sizeof link);
		return err_set(e, ERR_INVALID,
			       "%s is a symbolic link%s; refusing to follow it (only a regular "
			       "file is %s here)", path, link,
			       strcmp(verb, "read") == 0 ? "read" : "written");
	}
	return err_set(e, ERR_INVALID, "%s is %s, not a regular file; refusing to %s it", path,
		       kind_of(st->st_mode), verb);
}

/* Whether the descriptor fd, just opened at path, is a regular file (*st
 * filled): 0, or <0 with fd closed and e naming what it is (verb: "read",
 * "write to"). The check is on the descriptor, so that a file swapped in
 * after a look at the path is still caught. */
static int opened_regular(int fd, const char *path, const char *verb, struct stat *st,
			  struct err *e)
{
	if (fstat(fd, st) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_IO, "%s: cannot stat: %s", path, strerror(saved));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return refuse_not_regular(path, st, verb, e);
	}
	return 0;
}

static int open_failed(const char *path, int err, unsigned flags, struct err *e)
{
	struct stat lst;
	if (err == ENOENT) {
		/* A dangling symbolic link (e.g. into a file system that is not
		 * mounted) is named as such: it is not simply "no file". */
		if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
			char link[PATH_MAX + 64] = "";
			describe_link(path, link, sizeof link);
			return err_set(e, ERR_NOTFOUND, "%s is a symbolic link%s", path, link);
		}
		return err_set(e, ERR_NOTFOUND, "%s: no such file", path);
	}
	if ((err == ELOOP && (flags & FS_READ_NOFOLLOW)) || err == ENXIO) {
		if (lstat(path, &lst) == 0 && !S_ISREG(lst.st_mode))
			return refuse_not_regular(path, &lst, "read", e);
	}
	return err_set(e, ERR_IO, "%s: cannot open: %s", path, strerror(err));
}

int fs_open_append(const char *path, mode_t mode, int *created, struct err *e)
{
	struct stat st;
	*created = lstat(path, &st) < 0 && errno == ENOENT;
	/* O_NONBLOCK: a FIFO with no reader fails (ENXIO) instead of blocking
	 * the caller until someone reads it; O_NOFOLLOW: a link fails (ELOOP). */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				    O_NONBLOCK, mode);
	if (fd < 0) {
		int saved = errno;
		if ((saved == ELOOP || saved == ENXIO) && lstat(path, &st) == 0 &&
		    !S_ISREG(st.st_mode))
			return refuse_not_regular(path, &st, "write to", e);
		return err_set(e, ERR_IO, "%s: cannot open for appending: %s", path,
			       strerror(saved));
	}
	if (opened_regular(fd, path, "write to", &st, e) < 0)
		return -(int)e->code;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_IO, "%s: cannot make blocking: %s", path, strerror(saved));
	}
	return fd;
}

int fs_open_read(const char *path, unsigned flags, struct stat *stp, struct err *e)
{
	/* Look before opening: opening a device can have effects of its own
	 * (a tape rewinds, a tty becomes ours), and a FIFO blocks open() until
	 * a writer comes. Then open without blocking and check the descriptor
	 * itself, so that a file swapped in between is still caught. */
	struct stat st;
	int nofollow = (flags & FS_READ_NOFOLLOW) != 0;
	if ((nofollow ? lstat(path, &st) : stat(path, &st)) < 0)
		return open_failed(path, errno, flags, e);
	if (!S_ISREG(st.st_mode))
		return refuse_not_regular(path, &st, "read", e);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
				    (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return open_failed(path, errno, flags, e);
	if (opened_regular(fd, path, "read", &st, e) < 0)
		return -(int)e->code;
	if (stp)
		*stp = st;
	return fd;
}

int fs_read_file_flags(const char *path, size_t max, unsigned flags, char **data,
		       size_t *len, struct err *e)
{
	*data = NULL;
	struct stat st;
	int fd = fs_open_read(path, flags, &st, e);
	if (fd < 0)
		return fd;
	int head = (flags & FS_READ_HEAD) != 0;
	if (!head && (uintmax_t)st.st_size > (uintmax_t)max) {
		close(fd);
		return err_set(e, ERR_INVALID, "%s: larger than %zu bytes (%jd bytes)", path, max,
			       (intmax_t)st.st_size);
	}
	size_t cap = 4096, used = 0;
	char *p = malloc(cap);
	if (!p) {
		close(fd);
		return err_set(e, ERR_NOMEM, "%s: out of memory", path);
	}
	for (;;) {
		if (head && used >= max)
			break;
		if (used + 1 >= cap) {
			if (cap - 1 > max) {
				free(p);
				close(fd);
				return err_set(e, ERR_INVALID, "%s: larger than %zu bytes", path, max);
			}
			char *q = realloc(p, cap * 2);
			if (!q) {
				free(p);
				close(fd);
				return err_set(e, ERR_NOMEM, "%s: out of memory", path);
			}
			p = q;
			cap *= 2;
		}
		size_t want = cap - used - 1;
		if (head && want > max - used)
			want = max - used;
		ssize_t n = read(fd, p + used, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			free(p);
			close(fd);
			return err_set(e, ERR_IO, "%s: cannot read: %s", path, strerror(saved));
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	if (used > max) {
		free(p);
		return err_set(e, ERR_INVALID, "%s: larger than %zu bytes", path, max);
	}
	p[used] = '\0';
	*data = p;
	if (len)
		*len = used;
	return 0;
}

int fs_read_file(const char *path, size_t max, char **data, size_t *len, struct err *e)
{
	return fs_read_file_flags(path, max, 0, data, len, e);
}

int fs_mkdirs(const char *path, mode_t mode, struct err *e)
{
	char copy[PATH_MAX];
	if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
		return err_set(e, ERR_INVALID, "%s: path too long", path);
	for (char *s = copy + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return err_set(e, ERR_IO, "%s: cannot create: %s", copy, strerror(errno));
		*s = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "%s: cannot create: %s", copy, strerror(errno));
	return 0;
}
