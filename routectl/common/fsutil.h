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
 * (size bytes): "DIR/.BASE.tmp.PID.XXXXXX". The leading dot keeps it out of
 * every include glob: glob(3), and BIRD's `include "DIR/\*";` which uses it,
 * skip names that start with a dot unless the pattern does, so a leftover
 * never gets included next to the real file ("Symbol ... already defined").
 * The PID tells a crashed writer's temp from a live one's. Returns 0 or
 * -ERR_INVALID (path too long, or no file name). */
int fs_temp_template(const char *path, char *out, size_t size, struct err *e);

/* Removes the temp files that writers of path which no longer run left in
 * path's directory: fs_write_atomic's ".BASE.tmp.PID.XXXXXX" and the
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

/* Reads a whole file (at most max bytes, else ERR_INVALID) into a NUL-terminated
 * heap buffer. A missing file gives -ERR_NOTFOUND. */
int fs_read_file(const char *path, size_t max, char **data, size_t *len, struct err *e);

/* mkdir -p with the given mode for directories it creates. */
int fs_mkdirs(const char *path, mode_t mode, struct err *e);

#endif
