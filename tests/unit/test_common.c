/* Unit tests of routectl/common: diff (checked against the real patch and
 * diff tools), buffers, files, prefixes, modes, time, errors. */
#include "common/buf.h"
#include "common/diff.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/model.h"
#include "common/timeutil.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64];

static void make_tmpdir(void)
{
	tu_make_tmpdir(tmpdir, sizeof tmpdir, "test_common");
}

static void remove_tmpdir(void)
{
	tu_remove_tree(tmpdir);
}

static void tmp_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

/* ---- diff --------------------------------------------------------------- */

static char *diff_of(const char *a, const char *b)
{
	struct buf out = { 0 };
	ck_assert_int_eq(diff_unified(a, b, "old", "new", &out), 0);
	return buf_steal(&out);
}

/* The diff turns old into new when given to patch(1). */
static void assert_patch_applies(const char *old_text, const char *new_text)
{
	if (access("/usr/bin/patch", X_OK) != 0) {
		fprintf(stderr, "test_common: patch not installed, patch check skipped\n");
		return;
	}
	char *d = diff_of(old_text, new_text);
	make_tmpdir();
	tu_write_file(tmpdir, "old.txt", old_text);
	tu_write_file(tmpdir, "p.diff", d);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "cd '%s' && patch --batch --silent -o out.txt old.txt p.diff",
		 tmpdir);
	ck_assert_msg(tu_run(cmd) == 0, "patch rejected:\n%s", d);
	char *got = tu_read_file(tmpdir, "out.txt");
	ck_assert_msg(strcmp(got, new_text) == 0, "patch gave:\n%s\nfrom diff:\n%s", got, d);
	free(got);
	free(d);
	remove_tmpdir();
}

/* Where the change is one block, GNU diff -u writes the same bytes. */
static void assert_same_as_gnu_diff(const char *old_text, const char *new_text)
{
	if (access("/usr/bin/diff", X_OK) != 0)
		return;
	char *d = diff_of(old_text, new_text);
	make_tmpdir();
	tu_write_file(tmpdir, "a", old_text);
	tu_write_file(tmpdir, "b", new_text);
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && diff -u --label old --label new a b > gnu.diff; test $? -le 1", tmpdir);
	ck_assert_int_eq(tu_run(cmd), 0);
	char *gnu = tu_read_file(tmpdir, "gnu.diff");
	ck_assert_str_eq(d, gnu);
	free(gnu);
	free(d);
	remove_tmpdir();
}

static char *numbered(int from, int to, const char *tag)
{
	struct buf b = { 0 };
	for (int i = from; i <= to; i++)
		buf_printf(&b, "line %d%s\n", i, tag);
	return buf_steal(&b);
}

START_TEST(test_diff_equal)
{
	struct buf out = { 0 };
	ck_assert_int_eq(diff_unified("a\nb\n", "a\nb\n", "x", "y", &out), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(diff_unified("", "", "x", "y", &out), 0);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

START_TEST(test_diff_headers)
{
	char *old = numbered(1, 10, "");
	char *new = strdup(old);
	*strstr(new, "line 5") = 'L';
	char *d = diff_of(old, new);
	ck_assert_str_eq(d,
		"--- old\n+++ new\n@@ -2,7 +2,7 @@\n"
		" line 2\n line 3\n line 4\n-line 5\n+Line 5\n line 6\n line 7\n line 8\n");
	free(d);

	/* Names are written as given; appends after what out holds. */
	struct buf out = { 0 };
	buf_puts(&out, "head\n");
	ck_assert_int_eq(diff_unified("a\n", "b\n", "/etc/bird/routectl.conf",
				      "/etc/bird/routectl.conf (new)", &out), 0);
	ck_assert_str_eq(out.p, "head\n--- /etc/bird/routectl.conf\n"
			 "+++ /etc/bird/routectl.conf (new)\n@@ -1 +1 @@\n-a\n+b\n");
	buf_free(&out);
	assert_same_as_gnu_diff(old, new);
	assert_patch_applies(old, new);
	free(old);
	free(new);
}
END_TEST

START_TEST(test_diff_insertions)
{
	char *base = numbered(1, 10, "");
	struct buf b = { 0 };

	/* At the start. */
	buf_puts(&b, "new 1\nnew 2\n");
	buf_puts(&b, base);
	char *d = diff_of(base, b.p);
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -1,3 +1,5 @@\n+new 1\n+new 2\n"
			 " line 1\n line 2\n line 3\n");
	free(d);
	assert_same_as_gnu_diff(base, b.p);
	assert_patch_applies(base, b.p);

	/* In the middle. */
	buf_reset(&b);
	char *head = numbered(1, 5, ""), *tail = numbered(6, 10, "");
	buf_printf(&b, "%sinserted\n%s", head, tail);
	d = diff_of(base, b.p);
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -3,6 +3,7 @@\n line 3\n line 4\n line 5\n"
			 "+inserted\n line 6\n line 7\n line 8\n");
	free(d);
	assert_same_as_gnu_diff(base, b.p);
	assert_patch_applies(base, b.p);

	/* At the end. */
	buf_reset(&b);
	buf_printf(&b, "%sx\ny\n", base);
	d = diff_of(base, b.p);
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -8,3 +8,5 @@\n line 8\n line 9\n line 10\n"
			 "+x\n+y\n");
	free(d);
	assert_same_as_gnu_diff(base, b.p);
	assert_patch_applies(base, b.p);

	/* Near the start: less than 3 lines of context. */
	buf_reset(&b);
	buf_printf(&b, "line 1\nnew\n%s", base + strlen("line 1\n"));
	d = diff_of(base, b.p);
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -1,4 +1,5 @@\n line 1\n+new\n"
			 " line 2\n line 3\n line 4\n");
	free(d);
	assert_patch_applies(base, b.p);

	free(head);
	free(tail);
	free(base);
	buf_free(&b);
}
END_TEST

START_TEST(test_diff_deletion_and_replace)
{
	char *base = numbered(1, 12, "");
	char *head = numbered(1, 4, ""), *tail = numbered(8, 12, "");
	struct buf b = { 0 };

	buf_printf(&b, "%s%s", head, tail);  /* lines 5-7 deleted */
	char *d = diff_of(base, b.p);
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -2,9 +2,6 @@\n line 2\n line 3\n line 4\n"
			 "-line 5\n-line 6\n-line 7\n line 8\n line 9\n line 10\n");
	free(d);
	assert_same_as_gnu_diff(base, b.p);
	assert_patch_applies(base, b.p);

	buf_reset(&b);
	char *mid = numbered(5, 7, " changed");
	buf_printf(&b, "%s%sextra\n%s", head, mid, tail);  /* 3 lines become 4 */
	d = diff_of(base, b.p);
	ck_assert_ptr_nonnull(strstr(d, "@@ -2,9 +2,10 @@\n"));
	free(d);
	assert_same_as_gnu_diff(base, b.p);
	assert_patch_applies(base, b.p);

	/* Everything replaced. */
	assert_patch_applies("a\nb\n", "c\nd\ne\n");
	assert_same_as_gnu_diff("a\nb\n", "c\nd\ne\n");
	/* A big file with changes at both ends: two small hunks, as GNU diff
	 * writes them (a dry run of a drain must not print 10,000 routes). */
	char *big = numbered(1, 500, "");
	char *big2 = numbered(1, 500, "");
	big2[0] = 'L';
	big2[strlen(big2) - 2] = '1';
	d = diff_of(big, big2);
	ck_assert_ptr_nonnull(strstr(d, "@@ -1,4 +1,4 @@\n-line 1\n+Line 1\n"));
	ck_assert_ptr_nonnull(strstr(d, "@@ -497,4 +497,4 @@\n"));
	ck_assert_uint_lt(strlen(d), 200);
	free(d);
	assert_same_as_gnu_diff(big, big2);
	assert_patch_applies(big, big2);

	/* Changes 6 equal lines apart share a hunk; 7 apart do not. */
	char *near = numbered(1, 30, "");
	char *near2 = numbered(1, 30, "");
	*strstr(near2, "line 10\n") = 'L';
	*strstr(near2, "line 17\n") = 'L';
	*strstr(near2, "line 25\n") = 'L';
	d = diff_of(near, near2);
	ck_assert_ptr_nonnull(strstr(d, "@@ -7,14 +7,14 @@\n"));
	ck_assert_ptr_nonnull(strstr(d, "@@ -22,7 +22,7 @@\n"));
	free(d);
	assert_same_as_gnu_diff(near, near2);
	assert_patch_applies(near, near2);
	free(near);
	free(near2);

	/* Interleaved edits: the script is minimal (GNU diff agrees). */
	assert_same_as_gnu_diff("a\nb\nc\nd\ne\nf\n", "a\nx\nc\nd\ny\nf\nz\n");
	assert_patch_applies("a\nb\nc\nd\ne\nf\n", "b\na\nc\ne\nd\nf\n");

	/* Past the edit bound: still a diff patch accepts. */
	char *many = numbered(1, 3000, " a"), *many2 = numbered(1, 3000, " b");
	assert_patch_applies(many, many2);
	free(many);
	free(many2);

	free(big);
	free(big2);
	free(mid);
	free(head);
	free(tail);
	free(base);
	buf_free(&b);
}
END_TEST

START_TEST(test_diff_empty_sides)
{
	char *d = diff_of("", "a\nb\n");
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+a\n+b\n");
	free(d);
	assert_same_as_gnu_diff("", "a\nb\n");
	assert_patch_applies("", "a\nb\n");

	d = diff_of("a\nb\n", "");
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -1,2 +0,0 @@\n-a\n-b\n");
	free(d);
	assert_same_as_gnu_diff("a\nb\n", "");
	assert_patch_applies("a\nb\n", "");
}
END_TEST

START_TEST(test_diff_no_final_newline)
{
	char *d = diff_of("a\nb", "a\nb\n");
	ck_assert_str_eq(d, "--- old\n+++ new\n@@ -1,2 +1,2 @@\n a\n-b\n"
			 "\\ No newline at end of file\n+b\n");
	free(d);
	assert_same_as_gnu_diff("a\nb", "a\nb\n");
	assert_patch_applies("a\nb", "a\nb\n");
	assert_patch_applies("a\nb\n", "a\nc");
	assert_patch_applies("x", "y");
	assert_same_as_gnu_diff("x", "y");
}
END_TEST

/* ---- buf ----------------------------------------------------------------- */

START_TEST(test_buf)
{
	struct buf b = { 0 };
	ck_assert_ptr_null(b.p);
	ck_assert_int_eq(buf_puts(&b, "ab"), 0);
	ck_assert_int_eq(buf_append(&b, "c\0d", 3), 0);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_int_eq(memcmp(b.p, "abc\0d", 6), 0);  /* NUL-terminated */
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.p, "");
	/* Longer than the printf fast path. */
	char big[1000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(buf_printf(&b, "<%s|%d>", big, 42), 0);
	ck_assert_uint_eq(b.len, 999 + 5);
	ck_assert_str_eq(b.p + 1000, "|42>");
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, "%d,", i % 10);
	ck_assert_uint_eq(b.len, 1004 + 20000);
	ck_assert_uint_ge(b.cap, b.len + 1);
	char *s = buf_steal(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(strlen(s), 21004);
	free(s);
	/* Stealing an empty buffer still gives a string. */
	s = buf_steal(&b);
	ck_assert_str_eq(s, "");
	free(s);
	buf_free(&b);
	buf_free(&b);
}
END_TEST

/* ---- files --------------------------------------------------------------- */

START_TEST(test_fs_write_read)
{
	make_tmpdir();
	char p[256];
	tmp_path(p, sizeof p, "f");
	struct err e = { 0 };
	ck_assert_int_eq(fs_write_atomic(p, "one", 3, 0640, &e), 0);
	struct stat sb;
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0640);
	ck_assert_int_eq(fs_write_atomic(p, "second", 6, 0600, &e), 0);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	char *data = NULL;
	size_t len = 0;
	ck_assert_int_eq(fs_read_file(p, 100, &data, &len, &e), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq(data, "second");
	free(data);
	/* No temp file left next to it, hidden or not. */
	DIR *d = opendir(tmpdir);
	int entries = 0;
	for (struct dirent *de; (de = readdir(d));)
		entries += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	ck_assert_int_eq(entries, 1);
	/* Empty file. */
	ck_assert_int_eq(fs_write_atomic(p, "", 0, 0644, &e), 0);
	ck_assert_int_eq(fs_read_file(p, 100, &data, &len, &e), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(data, "");
	free(data);
	remove_tmpdir();
}
END_TEST

static void touch(const char *name)
{
	char p[512];
	tmp_path(p, sizeof p, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("protocol static routectl_v4 { ipv4; }\n", f);
	fclose(f);
}

static int exists(const char *name)
{
	char p[512];
	struct stat sb;
	tmp_path(p, sizeof p, name);
	return lstat(p, &sb) == 0;
}

/* A PID that no process has: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* The temp name is hidden from include globs (BIRD's `include "DIR/\*";`
 * uses glob(3)), lives in the target's directory and names the writer. */
START_TEST(test_fs_temp_name)
{
	make_tmpdir();
	char p[256], t[512], want[512];
	struct err e = { 0 };
	tmp_path(p, sizeof p, "routectl.conf");
	ck_assert_int_eq(fs_temp_template(p, t, sizeof t, &e), 0);
	snprintf(want, sizeof want, "%s/.routectl.conf.tmp.%ld.XXXXXX", tmpdir, (long)getpid());
	ck_assert_str_eq(t, want);

	/* What mkstemp makes of it is not matched by a glob of the directory. */
	int fd = mkstemp(t);
	ck_assert_int_ge(fd, 0);
	close(fd);
	touch("routectl.conf");
	char pattern[512];
	snprintf(pattern, sizeof pattern, "%s/*", tmpdir);
	glob_t g;
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	ck_assert_uint_eq(g.gl_pathc, 1);
	ck_assert_str_eq(g.gl_pathv[0], p);
	globfree(&g);
	unlink(t);

	ck_assert_int_eq(fs_temp_template("routectl.conf", t, sizeof t, &e), 0);
	snprintf(want, sizeof want, ".routectl.conf.tmp.%ld.XXXXXX", (long)getpid());
	ck_assert_str_eq(t, want);
	ck_assert_int_eq(fs_temp_template("/etc/bird/", t, sizeof t, &e), -ERR_INVALID);
	ck_assert_int_eq(fs_temp_template(p, t, 20, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "too long"), "%s", e.msg);
	remove_tmpdir();
}
END_TEST

START_TEST(test_fs_remove_stale_temps)
{
	make_tmpdir();
	struct err e = { 0 };
	char n[128], p[256];
	long dead = (long)dead_pid(), alive = (long)getppid(), self = (long)getpid();
	struct { char name[128]; int removed; } f[16];
	int nf = 0;
#define FILE_(want, ...) do { snprintf(f[nf].name, sizeof f[nf].name, __VA_ARGS__); \
		f[nf].removed = (want); touch(f[nf].name); nf++; } while (0)
	FILE_(0, "routectl.conf");
	FILE_(1, ".routectl.conf.tmp.%ld.a1B2c3", dead);     /* a crashed write */
	FILE_(1, "routectl.conf.tmp.%ld", dead);             /* an older version's */
	FILE_(1, ".routectl.conf.tmp.%ld.Zz9yY8", self);     /* a previous run with our PID */
	FILE_(0, ".routectl.conf.tmp.%ld.q1w2e3", alive);    /* a write in progress */
	FILE_(0, "routectl.conf.tmp.%ld", alive);
	FILE_(0, "other.conf.tmp.%ld", dead);                /* not routectl's */
	FILE_(0, ".other.conf.tmp.%ld.a1B2c3", dead);
	FILE_(0, "routectl.conf.tmp.x%ld", dead);
	FILE_(0, "routectl.conf.tmp.");
	FILE_(0, ".routectl.conf.tmp..a1B2c3");
	FILE_(0, "routectl.conf.tmp.0");
	FILE_(0, "xroutectl.conf.tmp.%ld", dead);
	/* Not a regular file: left alone. */
	snprintf(n, sizeof n, ".routectl.conf.tmp.%ld.dir123", dead);
	tmp_path(p, sizeof p, n);
	ck_assert_int_eq(mkdir(p, 0755), 0);

	tmp_path(p, sizeof p, "routectl.conf");
	ck_assert_int_eq(fs_remove_stale_temps(p, 0, &e), 3);
	for (int i = 0; i < nf; i++)
		ck_assert_msg(exists(f[i].name) == !f[i].removed, "%s %s", f[i].name,
			      f[i].removed ? "was not removed" : "was removed");
	ck_assert(exists(n));
	ck_assert_int_eq(fs_remove_stale_temps(p, 0, &e), 0);

	/* A directory routectl owns: every base. */
	ck_assert_int_eq(fs_remove_stale_temps(tmpdir, 1, &e), 3);
	ck_assert(!exists(f[6].name) && !exists(f[7].name) && !exists(f[12].name));
	ck_assert(exists(f[4].name) && exists(f[8].name) && exists(f[0].name));

	/* A missing directory has nothing stale; an unreadable path says so. */
	tmp_path(p, sizeof p, "missing/routectl.conf");
	ck_assert_int_eq(fs_remove_stale_temps(p, 0, &e), 0);
	tmp_path(p, sizeof p, "routectl.conf");
	ck_assert_int_eq(fs_remove_stale_temps(p, 1, &e), -ERR_IO);
	ck_assert_msg(strstr(e.msg, p), "%s", e.msg);

	/* The start-up hook removes both kinds and never fails. */
	FILE_(1, ".routectl.conf.tmp.%ld.a1B2c3", dead);
	FILE_(1, ".state.json.tmp.%ld.a1B2c3", dead);
	fs_clean_stale_temps(p, tmpdir);
	ck_assert(!exists(f[nf - 1].name) && !exists(f[nf - 2].name));
	fs_clean_stale_temps(NULL, "/nonexistent/routectl");
#undef FILE_
	remove_tmpdir();
}
END_TEST

START_TEST(test_fs_read_limits)
{
	make_tmpdir();
	char p[256];
	tmp_path(p, sizeof p, "f");
	struct err e = { 0 };
	char *data = NULL;

	ck_assert_int_eq(fs_read_file(p, 100, &data, NULL, &e), -ERR_NOTFOUND);
	ck_assert_int_eq(e.code, ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, p), "%s", e.msg);

	/* Exactly max is fine, one more is not; below and above the first
	 * read buffer size. */
	static const size_t sizes[] = { 10, 4095, 4096, 4097, 100000 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		char *junk = malloc(n);
		memset(junk, 'j', n);
		ck_assert_int_eq(fs_write_atomic(p, junk, n, 0644, &e), 0);
		free(junk);
		size_t len = 0;
		data = NULL;
		ck_assert_int_eq(fs_read_file(p, n, &data, &len, &e), 0);
		ck_assert_uint_eq(len, n);
		ck_assert_uint_eq(strlen(data), n);
		free(data);
		err_clear(&e);
		data = NULL;
		ck_assert_int_eq(fs_read_file(p, n - 1, &data, &len, &e), -ERR_INVALID);
		ck_assert_ptr_null(data);
		ck_assert_msg(strstr(e.msg, p) && strstr(e.msg, "larger"), "%s", e.msg);
	}

	/* A directory cannot be read as a file. */
	err_clear(&e);
	ck_assert_int_lt(fs_read_file(tmpdir, 100, &data, NULL, &e), 0);
	unlink(p);
	remove_tmpdir();
}
END_TEST

/* What must never be read as a file: each is refused at once (a FIFO
 * used to block open() for ever) with a message that names the path and
 * what it is. */
static void assert_refused(const char *path, unsigned flags, int code, const char *what)
{
	struct err e;
	err_clear(&e);
	char *data = (char *)"untouched";
	size_t len = 12345;
	int rc = fs_read_file_flags(path, 1 << 20, flags, &data, &len, &e);
	ck_assert_msg(rc == -code, "%s: rc %d, want %d (%s)", path, rc, -code, e.msg);
	ck_assert_ptr_null(data);
	ck_assert_uint_eq(len, 12345);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, what), "%s: message lacks \"%s\": %s",
		      path, what, e.msg);
}

START_TEST(test_fs_read_only_regular)
{
	make_tmpdir();
	char p[256], target[256];
	struct err e = { 0 };
	char *data = NULL;
	size_t len = 0;

	/* A FIFO with no writer: open() without O_NONBLOCK waits for ever. */
	tmp_path(p, sizeof p, "fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	assert_refused(p, 0, ERR_INVALID, "is a FIFO");
	assert_refused(p, FS_READ_NOFOLLOW, ERR_INVALID, "is a FIFO");
	/* The same through a symbolic link that is followed. */
	tmp_path(target, sizeof target, "link-to-fifo");
	ck_assert_int_eq(symlink(p, target), 0);
	assert_refused(target, 0, ERR_INVALID, "is a FIFO");
	assert_refused(target, FS_READ_NOFOLLOW, ERR_INVALID, "is a symbolic link to '");

	/* A listening Unix socket. */
	tmp_path(p, sizeof p, "sock");
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", p);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	assert_refused(p, 0, ERR_INVALID, "is a socket");
	close(fd);

	/* A directory, and a device that never ends. */
	assert_refused(tmpdir, 0, ERR_INVALID, "is a directory");
	assert_refused("/dev/zero", 0, ERR_INVALID, "is a character device");
	assert_refused("/dev/null", FS_READ_NOFOLLOW, ERR_INVALID, "is a character device");

	/* A dangling symbolic link (a file on a mount that did not come up):
	 * not found when followed, refused when not, and named either way. */
	tmp_path(p, sizeof p, "dangling");
	ck_assert_int_eq(symlink("/nonexistent-routectl-mount/state.json", p), 0);
	assert_refused(p, 0, ERR_NOTFOUND,
		       "is a symbolic link to '/nonexistent-routectl-mount/state.json', which does "
		       "not exist");
	assert_refused(p, FS_READ_NOFOLLOW, ERR_INVALID, "which does not exist");

	/* A link to a regular file: followed, or refused with NOFOLLOW. */
	tmp_path(target, sizeof target, "regular");
	ck_assert_int_eq(fs_write_atomic(target, "hello", 5, 0644, &e), 0);
	tmp_path(p, sizeof p, "good-link");
	ck_assert_int_eq(symlink(target, p), 0);
	ck_assert_int_eq(fs_read_file(p, 100, &data, &len, &e), 0);
	ck_assert_str_eq(data, "hello");
	free(data);
	assert_refused(p, FS_READ_NOFOLLOW, ERR_INVALID, "is a symbolic link to '");
	ck_assert_int_eq(fs_read_file_flags(target, 100, FS_READ_NOFOLLOW, &data, &len, &e), 0);
	ck_assert_str_eq(data, "hello");
	free(data);

	/* Over the size limit: refused from its size, before reading. */
	tmp_path(p, sizeof p, "big");
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)1 << 40), 0);   /* sparse, 1 TiB */
	close(fd);
	assert_refused(p, 0, ERR_INVALID, "larger than 1048576 bytes");

	/* FS_READ_HEAD: the first max bytes, whatever the size. */
	ck_assert_int_eq(fs_read_file_flags(target, 3, FS_READ_HEAD, &data, &len, &e), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_str_eq(data, "hel");
	free(data);
	ck_assert_int_eq(fs_read_file_flags(p, 5000, FS_READ_HEAD, &data, &len, &e), 0);
	ck_assert_uint_eq(len, 5000);
	free(data);
	ck_assert_int_eq(fs_read_file_flags(target, 100, FS_READ_HEAD, &data, &len, &e), 0);
	ck_assert_uint_eq(len, 5);
	free(data);

	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmpdir);
	ck_assert_int_eq(tu_run(cmd), 0);
}
END_TEST

START_TEST(test_fs_errors_and_mkdirs)
{
	make_tmpdir();
	char p[256];
	struct err e = { 0 };
	tmp_path(p, sizeof p, "missing/dir/f");
	ck_assert_int_eq(fs_write_atomic(p, "x", 1, 0644, &e), -ERR_IO);
	ck_assert_msg(strstr(e.msg, "missing/dir"), "%s", e.msg);

	tmp_path(p, sizeof p, "a/b/c");
	ck_assert_int_eq(fs_mkdirs(p, 0755, &e), 0);
	ck_assert_int_eq(fs_mkdirs(p, 0755, &e), 0);  /* already there */
	struct stat sb;
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	tmp_path(p, sizeof p, "a/b/c/f");
	ck_assert_int_eq(fs_write_atomic(p, "x", 1, 0644, &e), 0);
	/* A file in the way. */
	tmp_path(p, sizeof p, "a/b/c/f/g");
	ck_assert_int_eq(fs_mkdirs(p, 0755, &e), -ERR_IO);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmpdir);
	ck_assert_int_eq(tu_run(cmd), 0);
}
END_TEST

/* ---- prefixes and modes ------------------------------------------------- */

START_TEST(test_prefix_good)
{
	static const struct {
		const char *in, *text;
		int family;
		unsigned len;
	} cases[] = {
		{ "192.0.2.0/24", "192.0.2.0/24", 4, 24 },
		{ "0.0.0.0/0", "0.0.0.0/0", 4, 0 },
		{ "203.0.113.7/32", "203.0.113.7/32", 4, 32 },
		{ "2001:db8::/32", "2001:db8::/32", 6, 32 },
		{ "2001:DB8:0:0:0::/48", "2001:db8::/48", 6, 48 },
		{ "2001:0db8:0001:0000::/64", "2001:db8:1::/64", 6, 64 },
		{ "::/0", "::/0", 6, 0 },
		{ "2001:db8::1/128", "2001:db8::1/128", 6, 128 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct prefix p;
		char why[128] = "";
		ck_assert_msg(prefix_parse(cases[i].in, &p, why, sizeof why) == 0, "%s: %s",
			      cases[i].in, why);
		ck_assert_str_eq(p.text, cases[i].text);
		ck_assert_int_eq(p.family, cases[i].family);
		ck_assert_uint_eq(p.len, cases[i].len);
		/* The canonical text parses to the same prefix. */
		struct prefix q;
		ck_assert_int_eq(prefix_parse(p.text, &q, NULL, 0), 0);
		ck_assert_int_eq(prefix_cmp(&p, &q), 0);
	}
}
END_TEST

START_TEST(test_prefix_bad)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "192.0.2.1/24", "host bits" },
		{ "11.0.0.0/7", "host bits" },
		{ "2001:db8::1/64", "host bits" },
		{ "192.0.2.0/33", "at most 32" },
		{ "2001:db8::/129", "at most 128" },
		{ "192.0.2.0", "no prefix length" },
		{ "/24", "not an IP prefix" },
		{ "192.0.2.0/", "bad prefix length" },
		{ "192.0.2.0/2a", "bad prefix length" },
		{ "192.0.2.0/-1", "bad prefix length" },
		{ "192.0.2.0/0024", "bad prefix length" },
		{ "192.0.2.0/24 ", "bad prefix length" },
		{ " 192.0.2.0/24", "not an IPv4 or IPv6" },
		{ "192.0.2/24", "not an IPv4 or IPv6" },
		{ "web/24", "not an IPv4 or IPv6" },
		{ "", "no prefix length" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct prefix p;
		char why[128] = "";
		ck_assert_msg(prefix_parse(cases[i].in, &p, why, sizeof why) == -ERR_INVALID,
			      "'%s' accepted", cases[i].in);
		ck_assert_msg(strstr(why, cases[i].why), "'%s': %s", cases[i].in, why);
	}
	/* why may be NULL. */
	struct prefix p;
	ck_assert_int_eq(prefix_parse("junk", &p, NULL, 0), -ERR_INVALID);
}
END_TEST

START_TEST(test_prefix_order_and_modes)
{
	static const char *const sorted[] = {
		"10.0.0.0/8", "10.0.0.0/16", "192.0.2.0/24", "198.51.100.0/24",
		"::/0", "2001:db8::/32", "2001:db8:1::/48",
	};
	size_t n = sizeof sorted / sizeof sorted[0];
	for (size_t i = 0; i + 1 < n; i++) {
		struct prefix a, b;
		ck_assert_int_eq(prefix_parse(sorted[i], &a, NULL, 0), 0);
		ck_assert_int_eq(prefix_parse(sorted[i + 1], &b, NULL, 0), 0);
		ck_assert_msg(prefix_cmp(&a, &b) < 0, "%s < %s", sorted[i], sorted[i + 1]);
		ck_assert_msg(prefix_cmp(&b, &a) > 0, "%s > %s", sorted[i + 1], sorted[i]);
	}

	static const enum svc_mode modes[] = { MODE_ANNOUNCE, MODE_PREPEND, MODE_WITHDRAW };
	for (size_t i = 0; i < 3; i++) {
		enum svc_mode m;
		ck_assert_int_eq(svc_mode_parse(svc_mode_name(modes[i]), &m), 0);
		ck_assert_int_eq(m, modes[i]);
	}
	ck_assert_str_eq(svc_mode_name(MODE_PREPEND), "prepend");
	enum svc_mode m = MODE_ANNOUNCE;
	ck_assert_int_eq(svc_mode_parse("drain", &m), -ERR_INVALID);
	ck_assert_int_eq(svc_mode_parse("Announce", &m), -ERR_INVALID);
	ck_assert_int_eq(svc_mode_parse("", &m), -ERR_INVALID);
}
END_TEST

/* ---- time ---------------------------------------------------------------- */

START_TEST(test_time)
{
	char s[32];
	time_format_utc(0, s, sizeof s);
	ck_assert_str_eq(s, "1970-01-01T00:00:00Z");
	time_format_utc(1764066568, s, sizeof s);
	ck_assert_str_eq(s, "2025-11-25T10:29:28Z");

	static const time_t samples[] = { 0, 1, 951782400 /* 2000-02-29 */, 1764066568,
					  2147483647, 4102444799 };
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		time_t back = -1;
		time_format_utc(samples[i], s, sizeof s);
		ck_assert_int_eq(time_parse_utc(s, &back), 0);
		ck_assert_int_eq(back, samples[i]);
	}

	time_t t;
	ck_assert_int_eq(time_parse_utc("2025-11-25T12:29:28+02:00", &t), 0);
	ck_assert_int_eq(t, 1764066568);
	ck_assert_int_eq(time_parse_utc("2025-11-25T05:29:28-05:00", &t), 0);
	ck_assert_int_eq(t, 1764066568);
	ck_assert_int_eq(time_parse_utc("2025-11-25T10:29:28.123Z", &t), 0);
	ck_assert_int_eq(t, 1764066568);

	static const char *const bad[] = {
		"", "2025-11-25", "2025-11-25T10:29:28", "2025-11-25T10:29:28Zx",
		"2025-11-25 10:29:28Z", "yesterday", "2025-11-25T10:29:28+0200",
		"2025-11-25T10:29:28+02:00x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(time_parse_utc(bad[i], &t) == -ERR_INVALID, "'%s' accepted", bad[i]);

	int64_t a = now_ms();
	usleep(20 * 1000);
	int64_t b = now_ms();
	ck_assert_int_ge(b - a, 20);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

START_TEST(test_err)
{
	struct err e = { 0 };
	ck_assert_int_eq(err_set(&e, ERR_BIRD, "configure: %s", "8002 bad"), -ERR_BIRD);
	ck_assert_int_eq(e.code, ERR_BIRD);
	ck_assert_str_eq(e.msg, "configure: 8002 bad");
	ck_assert_int_eq(err_prefix(&e, "site %s", "ash"), -ERR_BIRD);
	ck_assert_str_eq(e.msg, "site ash: configure: 8002 bad");
	ck_assert_int_eq(err_append(&e, ERR_INVALID, "second"), -ERR_BIRD);
	ck_assert_str_eq(e.msg, "site ash: configure: 8002 bad\nsecond");
	err_clear(&e);
	ck_assert_int_eq(e.code, ERR_OK);
	ck_assert_str_eq(e.msg, "");
	ck_assert_int_eq(err_append(&e, ERR_INVALID, "first"), -ERR_INVALID);
	ck_assert_str_eq(e.msg, "first");
	ck_assert_int_eq(err_set(NULL, ERR_IO, "x"), -ERR_IO);
	/* a message made from the message it replaces */
	err_set(&e, ERR_CONNECT, "%s", "BIRD is not connected");
	ck_assert_int_eq(err_set(&e, ERR_CONNECT, "%s: %s", e.msg, "no such file"), -ERR_CONNECT);
	ck_assert_str_eq(e.msg, "BIRD is not connected: no such file");
	ck_assert_str_eq(err_code_name(ERR_INVALID), "invalid");
	ck_assert_str_eq(err_code_name(ERR_NOTFOUND), "not-found");
	ck_assert_str_eq(err_code_name((enum err_code)99), "unknown");
	/* A message longer than the buffer is cut, not overflowed. */
	char big[2 * ERR_MSG_MAX];
	memset(big, 'm', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	err_set(&e, ERR_IO, "%s", big);
	ck_assert_uint_eq(strlen(e.msg), ERR_MSG_MAX - 1);
	err_append(&e, ERR_IO, "more");
	ck_assert_uint_eq(strlen(e.msg), ERR_MSG_MAX - 1);
}
END_TEST

/* ---- log ---------------------------------------------------------------- */

START_TEST(test_log_escape)
{
	char out[256];
	/* A message from BIRD with embedded newlines stays on one line. */
	size_t n = log_escape("BIRD: a.conf:3:1 syntax error\nsecond line\r\n", out, sizeof out);
	ck_assert_str_eq(out, "BIRD: a.conf:3:1 syntax error\\nsecond line\\r\\n");
	ck_assert_uint_eq(n, strlen(out));
	log_escape("tab\there, bell\a, del\x7f, esc\x1b[31m, back\\slash", out, sizeof out);
	ck_assert_str_eq(out, "tab\\there, bell\\x07, del\\x7f, esc\\x1b[31m, back\\\\slash");
	/* UTF-8 passes unchanged. */
	log_escape("caf\xc3\xa9 \xe2\x86\x92 ok", out, sizeof out);
	ck_assert_str_eq(out, "caf\xc3\xa9 \xe2\x86\x92 ok");
	/* Cut at the boundary of an escape, never inside one; the return value
	 * is what the whole text needs. */
	n = log_escape("ab\ncd", out, 4);
	ck_assert_str_eq(out, "ab");
	ck_assert_uint_eq(n, 6);
	n = log_escape("ab\ncd", out, 5);
	ck_assert_str_eq(out, "ab\\n");
	ck_assert_uint_eq(log_escape("", out, sizeof out), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_log_line)
{
	char line[128];
	/* 2026-11-30T07:00:00.042Z */
	long long ms = 1796022000042LL;
	size_t n = log_format_line(LOG_LVL_WARN, ms, "one\ntwo", line, sizeof line);
	ck_assert_str_eq(line, "2026-11-30T07:00:00.042Z warn: one\\ntwo\n");
	ck_assert_uint_eq(n, strlen(line));
	/* Exactly one newline, at the end, whatever the message holds. */
	char msg[400];
	for (size_t i = 0; i < sizeof msg - 1; i++)
		msg[i] = i % 7 == 0 ? '\n' : 'x';
	msg[sizeof msg - 1] = '\0';
	n = log_format_line(LOG_LVL_ERROR, ms, msg, line, sizeof line);
	ck_assert_uint_eq(n, strlen(line));
	ck_assert_uint_lt(n, sizeof line);
	ck_assert_ptr_eq(strchr(line, '\n'), line + n - 1);
	ck_assert_ptr_nonnull(strstr(line, "...\n"));
	ck_assert_int_eq(strncmp(line, "2026-11-30T07:00:00.042Z error: ", 32), 0);
}
END_TEST

/* Under systemd with the journal gone, records still reach stderr, one per
 * line. */
START_TEST(test_log_journal_gone)
{
	char path[PATH_MAX];
	make_tmpdir();
	tmp_path(path, sizeof path, "stderr.log");
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	struct stat st;
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	char js[64];
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	struct log_fields lf = { LOG_MSGID_CHANGE, "0123456789abcdef", "ash", "web" };
	log_record(LOG_LVL_WARN, &lf, "drain %s failed: %s", "0123456789abcdef", "a\nb");
	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	char buf[512] = "";
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	remove_tmpdir();
	if (access("/run/systemd/journal/socket", F_OK) == 0)
		return;   /* a live journal took it */
	ck_assert_int_gt(n, 0);
	ck_assert_msg(strstr(buf, " warn: drain 0123456789abcdef failed: a\\nb\n") != NULL, "%s", buf);
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + n - 1);
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("diff");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_diff_equal);
	tcase_add_test(tc, test_diff_headers);
	tcase_add_test(tc, test_diff_insertions);
	tcase_add_test(tc, test_diff_deletion_and_replace);
	tcase_add_test(tc, test_diff_empty_sides);
	tcase_add_test(tc, test_diff_no_final_newline);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_fs_write_read);
	tcase_add_test(tc, test_fs_temp_name);
	tcase_add_test(tc, test_fs_remove_stale_temps);
	tcase_add_test(tc, test_fs_read_limits);
	tcase_add_test(tc, test_fs_errors_and_mkdirs);
	tcase_add_test(tc, test_fs_read_only_regular);
	tcase_add_test(tc, test_prefix_good);
	tcase_add_test(tc, test_prefix_bad);
	tcase_add_test(tc, test_prefix_order_and_modes);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_err);
	tcase_add_test(tc, test_log_escape);
	tcase_add_test(tc, test_log_line);
	tcase_add_test(tc, test_log_journal_gone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(common_suite());
}
