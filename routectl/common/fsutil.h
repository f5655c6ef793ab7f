/* Files: atomic replace and bounded reads. */
#ifndef ROUTECTL_FSUTIL_H
#define ROUTECTL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

struct err;

/* Replaces path with data (len bytes, file mode mode) so that a crash at any
 * instant leaves either the old or the new content: write a temp file in the
 * same directory (named by fs_temp_template, created by mkstemp(3)), fsync
 * it, rename it over path, fsync the directory. Returns 0, or -ERR_INVALID
 * (path too long) / -ERR_IO with the file and the system's reason. A crash
 * before the rename leaves the temp file behind: fs_clean_stale_temps()
 * removes it at the next start. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *e);

/* The mkstemp(3) template of fs_write_atomic's temp file for path into out
 * (size bytes): "DIR/.BASE.tmp.PID.RANDOM", RANDOM being the six characters
 * mkstemp(3) fills in. The leading dot keeps it out of every include glob:
 * glob(3), and BIRD's `include "DIR/\*";` which uses it, skip names that
 * start with a dot unless the pattern does, so a leftover
 * never gets included next to the real file ("Symbol ... already defined").
 * The PID tells a crashed writer's temp from a live one's. Returns 0 or
 * -ERR_INVALID (path too long, or no file name). */
int fs_temp_template(const char *path, char *out, size_t size, struct err *e);

/* Removes the temp files that writers of path which no longer run left in
 * path's directory: fs_write_atomic's ".BASE.tmp.PID.RANDOM" and the
 * "BASE.tmp.PID" of earlier versions, where PID is not a running process
 * other than this one. With path a directory and any_base set, the temps of
 * every file in it (for a directory only routectl writes, e.g. the state
 * dir); otherwise only path's own, so a shared directory such as /etc/bird
 * keeps everything else. Only regular files and symlinks are removed.
 * Returns the number removed, or -ERR_IO naming the file that could not be
 * removed or the directory that could not be read. */
int fs_remove_stale_temps(const char *path, int any_base, struct err *e);

/* At start-up: fs_remove_stale_temps() for file (a file in a shared
 * directory: its own temps only) and for own_dir (a directory routectl owns:
 * all temps), each may be NULL. Logs every file removed, and a warning for
 * what could not be cleaned; never fails. */
void fs_clean_stale_temps(const char *file, const char *own_dir);

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

/* Opens path for reading as fs_read_file_flags does (FS_READ_NOFOLLOW is
 * honoured): only a regular file, looked at before and after the open, which
 * never blocks (a FIFO is refused, not waited on). Returns the descriptor
 * (O_CLOEXEC; O_NONBLOCK, harmless on a regular file) with *st filled when
 * st is not NULL, or fs_read_file's errors. */
struct stat;
int fs_open_read(const char *path, unsigned flags, struct stat *st, struct err *e);

/* fs_read_file with flags (FS_READ_*); same returns and errors. */
int fs_read_file_flags(const char *path, size_t max, unsigned flags, char **data,
		       size_t *len, struct err *e);

/* Opens path for appending (O_APPEND, write-only), creating it with mode
 * when missing (*created says so; fsync its directory before relying on
 * it). Only a regular file is opened: a symbolic link (dangling or not), a
 * FIFO (whose open would block until a reader comes), a socket or a device
 * is refused with -ERR_INVALID and a message naming the path and what it
 * is, and nothing is written. Returns the descriptor (blocking, O_CLOEXEC),
 * or -ERR_INVALID, or -ERR_IO naming the path with strerror. */
int fs_open_append(const char *path, mode_t mode, int *created, struct err *e);

/* fsync(2)s the directory that holds path, so that a file created, renamed
 * or removed there survives a crash. 0 or -ERR_IO naming path. */
int fs_fsync_dir_of(const char *path, struct err *e);

/* mkdir -p with the given mode for directories it creates. */
int fs_mkdirs(const char *path, mode_t mode, struct err *e);

#endif
