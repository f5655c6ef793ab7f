/* Small helpers shared by the unit tests (tests/unit/) and the fuzz targets
 * (tests/fuzz/). Header only, all static inline, so that no meson target
 * needs another source file and a test that does not use a helper does not
 * carry it.
 *
 * The fuzz targets do not link check: they define TESTUTIL_NO_CHECK before
 * including this file and get only the first part. */
#ifndef ROUTECTL_TESTUTIL_H
#define ROUTECTL_TESTUTIL_H

#include "common/err.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- without check ------------------------------------------------------ */

/* The source tree: ROUTECTL_SOURCE_ROOT, which meson test sets; "." when
 * run by hand from the top of the tree. */
static inline const char *tu_source_root(void)
{
	const char *r = getenv("ROUTECTL_SOURCE_ROOT");
	return r ? r : ".";
}

/* tests/data/<dir>/<name> under the source tree. */
static inline void tu_data_path(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/tests/data/%s/%s", tu_source_root(), dir, name);
}

/* The first line of msg (as the rest of msg from there) that does not start
 * with head, or NULL when every line does. An empty msg, or one that ends in
 * a newline, has an empty line that does not. */
static inline const char *tu_first_line_without(const char *msg, const char *head)
{
	for (const char *line = msg; line;) {
		if (strncmp(line, head, strlen(head)) != 0)
			return line;
		const char *nl = strchr(line, '\n');
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* The exit status of a shell command; 128 when it did not exit normally. */
static inline int tu_run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* rm -r, best effort; makes each directory writable first so that tests
 * may leave read-only ones behind. */
/* For fake servers in tests: writes all of s (stops at an error). */
static inline void tu_write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t k = write(fd, s, n);
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* For fake servers in tests: reads one line, without its newline (a longer
 * line than 8 KiB is cut); heap, NULL at EOF. */
static inline char *tu_read_line(int fd)
{
	char buf[8192];
	size_t n = 0;
	for (;;) {
		char c;
		if (read(fd, &c, 1) <= 0)
			return NULL;
		if (c == '\n')
			break;
		if (n + 1 < sizeof buf)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return strdup(buf);
}

static inline void tu_remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	chmod(dir, 0700);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		struct stat sb;
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			tu_remove_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Fuzz input as a NUL-terminated string (the parsers take C strings);
 * NULL if out of memory. */
static inline char *tu_fuzz_text(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return NULL;
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* Fuzz oracle for a parser's refusal (rc < 0): nothing was returned, rc is
 * -ERR_INVALID or -ERR_NOMEM, and an ERR_INVALID message is not empty and
 * has head (it names the file) at the start of every line. */
static inline void tu_fuzz_check_refusal(int rc, const void *result, const char *msg,
					 const char *head)
{
	if (result || (rc != -ERR_INVALID && rc != -ERR_NOMEM))
		abort();
	if (rc != -ERR_INVALID)
		return;
	if (msg[0] == '\0')
		abort();
	const char *bad = tu_first_line_without(msg, head);
	if (bad) {
		fprintf(stderr, "line without the file name: %s\n", bad);
		abort();
	}
}

/* ---- with check --------------------------------------------------------- */

#ifndef TESTUTIL_NO_CHECK

#include "common/fsutil.h"

#include <check.h>

/* A fresh directory /tmp/<name>.XXXXXX, its path in dir. */
static inline void tu_make_tmpdir(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/%s.XXXXXX", name);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Writes text to dir/name (replacing it). */
static inline void tu_write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	struct err e = { 0 };
	ck_assert_msg(fs_write_atomic(p, text, strlen(text), 0644, &e) == 0, "%s", e.msg);
}

/* Writes dir/routectld.json: site ash (AS 65001) with services web
 * (192.0.2.0/24) and dns (198.51.100.0/24), BIRD's socket dir/bird.ctl,
 * the include dir/routectl.conf, BGP protocol isp, state dir/state and the
 * console dir/d.sock: the site the controller's unit tests drive. */
static inline void tu_write_site_config(const char *dir)
{
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": 65001,"
		 " \"bird\": {\"control-socket\": \"%s/bird.ctl\", \"include\": \"%s/routectl.conf\","
		 " \"bgp-protocol\": [\"isp\"]},"
		 " \"state-dir\": \"%s/state\", \"console\": {\"socket\": \"%s/d.sock\"},"
		 " \"service\": ["
		 "  {\"name\": \"web\", \"ipv4-prefix\": [\"192.0.2.0/24\"]},"
		 "  {\"name\": \"dns\", \"ipv4-prefix\": [\"198.51.100.0/24\"]}]}}",
		 dir, dir, dir, dir);
	tu_write_file(dir, "routectld.json", conf);
}

/* The content of dir/name (at most 16 MiB), on the heap. */
static inline char *tu_read_file(const char *dir, const char *name)
{
	char p[512], *data = NULL;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	struct err e = { 0 };
	ck_assert_msg(fs_read_file(p, 1 << 24, &data, NULL, &e) == 0, "%s", e.msg);
	return data;
}

/* The message of a refusal: every line starts with head (it names the
 * file) and each string of want (NULL-terminated) appears in it. name
 * labels the failures. */
static inline void tu_assert_message(const char *name, const char *msg, const char *head,
				     const char *const *want)
{
	const char *line = tu_first_line_without(msg, head);
	ck_assert_msg(line == NULL, "%s: a line does not name the file: %s", name, line);
	for (size_t i = 0; want[i]; i++)
		ck_assert_msg(strstr(msg, want[i]), "%s: message lacks \"%s\":\n%s", name, want[i],
			      msg);
}

/* Runs a suite; the exit status for main. */
static inline int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* TESTUTIL_NO_CHECK */

#endif
