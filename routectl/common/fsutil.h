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

/* Reads a whole file (at most max bytes, else ERR_INVALID) into a NUL-terminated
 * heap buffer. A missing file gives -ERR_NOTFOUND. */
int fs_read_file(const char *path, size_t max, char **data, size_t *len, struct err *e);

/* mkdir -p with the given mode for directories it creates. */
int fs_mkdirs(const char *path, mode_t mode, struct err *e);

#endif
