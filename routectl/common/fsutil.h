/* Files: atomic replace and bounded reads. */
#ifndef ROUTECTL_FSUTIL_H
#define ROUTECTL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

struct err;

/* Replaces path with data so that a crash at any instant leaves either the
 * old or the new content: write a temp file in the same directory, fsync it,
 * rename it over path, fsync the directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *e);

/* Reads a whole regular file (at most max bytes, else -ERR_INVALID) into a
 * NUL-terminated heap buffer (*data; *len gets its length without the NUL if
 * len is not NULL). Follows symbolic links (config files are often links).
 *
 * It never blocks and never reads what is not a regular file: it looks with
 * stat() first, opens with O_NONBLOCK|O_NOCTTY and checks the descriptor
 * with fstat(), so a FIFO (whose open() would wait for a writer for ever), a
 * socket, a device (/dev/zero never ends), or a directory is refused at once
 * with -ERR_INVALID and a message that names the path and what it is.
 *
 * Errors: -ERR_NOTFOUND when nothing is there (the message says so, and
 * names a dangling symbolic link and its target as such); -ERR_INVALID for
 * a file that is not regular or is larger than max; -ERR_IO when a system
 * call fails (permission, I/O), with strerror; -ERR_NOMEM. On error *data is
 * NULL. */
int fs_read_file(const char *path, size_t max, char **data, size_t *len, struct err *e);

/* Flags of fs_read_file_flags. */
#define FS_READ_NOFOLLOW 1u  /* refuse a symbolic link (-ERR_INVALID, naming its
				target), dangling or not: for files routectld
				itself writes by rename(), which never makes one */
#define FS_READ_HEAD     2u  /* read the first max bytes only; a longer file is
				not an error */

/* fs_read_file with flags (FS_READ_*); same returns and errors. */
int fs_read_file_flags(const char *path, size_t max, unsigned flags, char **data,
		       size_t *len, struct err *e);

/* mkdir -p with the given mode for directories it creates. */
int fs_mkdirs(const char *path, mode_t mode, struct err *e);

#endif
