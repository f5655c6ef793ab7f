#include "fsutil.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
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

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *e)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return err_set(e, ERR_INVALID, "%s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return err_set(e, ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
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

int fs_read_file(const char *path, size_t max, char **data, size_t *len, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return err_set(e, ERR_NOTFOUND, "%s: no such file", path);
		return err_set(e, ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	}
	size_t cap = 4096, used = 0;
	char *p = malloc(cap);
	if (!p) {
		close(fd);
		return err_set(e, ERR_NOMEM, "%s: out of memory", path);
	}
	for (;;) {
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
		ssize_t n = read(fd, p + used, cap - used - 1);
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
