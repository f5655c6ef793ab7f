/* Unit tests of the audit log (routectl/api/audit.c): a record's callback
 * runs once its line is on disk; many records go out in few group commits,
 * in order; write failures (a full device, a file size limit that cuts a
 * line) reach the callback with the file and the reason, and the next record
 * starts on a line of its own; reopen after logrotate's rename; and the
 * history read back from the end: newest first, filters, limit, intents
 * without outcome, broken lines, a large log read only at its tail. */
#include "api/audit.h"
#include "common/buf.h"
#include "common/err.h"
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[256];
static char log_path[512], idem_path[512];

static void setup(void)
{
	umask(022);
	tu_make_tmpdir(dir, sizeof dir, "routectl-audit");
	snprintf(log_path, sizeof log_path, "%s/audit.log", dir);
	snprintf(idem_path, sizeof idem_path, "%s/idempotency.jsonl", dir);
}

static void teardown(void)
{
	tu_remove_tree(dir);
}

/* What the callbacks saw. */
struct seen {
	const char *path;      /* the log, read by the callback */
	size_t calls;
	int rc[4096];
	char msg[512];
	long seq[4096];        /* ctx of each call, in order */
	char *log_at_callback; /* the log's content when the first callback ran */
};

static void on_done(void *ctx, int rc, const struct err *e)
{
	struct seen **sp = ctx;   /* ctx points at a cell holding the struct and a number */
	struct seen *s = sp[0];
	if (s->calls == 0 && s->path) {
		char *data = NULL;
		struct err fe;
		if (fs_read_file(s->path, 1 << 24, &data, NULL, &fe) == 0)
			s->log_at_callback = data;
	}
	s->rc[s->calls] = rc;
	s->seq[s->calls] = (long)(intptr_t)sp[1];
	if (rc < 0 && e && !s->msg[0])
		snprintf(s->msg, sizeof s->msg, "%s", e->msg);
	s->calls++;
}

/* Waits (at most 10 s) until n callbacks ran in all. */
static void wait_calls(struct audit *a, struct seen *s, size_t n)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (s->calls < n) {
		struct pollfd p = { .fd = audit_done_fd(a), .events = POLLIN };
		ck_assert_int_ge(poll(&p, 1, 1000), 0);
		audit_collect(a);
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ck_assert_msg(t.tv_sec - t0.tv_sec < 10, "only %zu of %zu callbacks ran", s->calls, n);
	}
}

/* ctx cells: [0] the struct seen, [1] a number. */
static void *cells[4096][2];

static json_t *record(long seq, const char *service, const char *reason)
{
	struct audit_who who = { .request_id = "r", .actor = "alice", .role = "operator",
				 .transport = "console" };
	char rid[32];
	snprintf(rid, sizeof rid, "req-%ld", seq);
	who.request_id = rid;
	json_t *r = audit_record_new(1764486000123LL + seq, &who, "drain", "ash",
				     json_pack("[s]", service), reason, false, "outcome");
	ck_assert_ptr_nonnull(r);
	json_object_set_new(r, "result", json_string("ok"));
	json_object_set_new(r, "seq", json_integer(seq));
	return r;
}

static int submit(struct audit *a, struct seen *s, long seq, json_t *rec, json_t *idem,
		  struct err *e)
{
	cells[seq][0] = s;
	cells[seq][1] = (void *)(intptr_t)seq;
	return audit_submit(a, rec, idem, on_done, cells[seq], e);
}

/* The lines of a text (each without its newline), in a JSON array of
 * strings. */
static json_t *lines_of(const char *text)
{
	json_t *arr = json_array();
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		json_array_append_new(arr, json_stringn(p, n));
		p += n + (nl ? 1 : 0);
	}
	return arr;
}

START_TEST(record_on_disk_when_callback_runs)
{
	struct err e;
	struct audit *a = audit_open(log_path, idem_path, &e);
	ck_assert_msg(a, "%s", e.msg);
	struct stat st;
	ck_assert_int_eq(stat(log_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);

	struct seen s = { .path = log_path };
	json_t *idem = json_pack("{s:s, s:i}", "key", "k1", "status", 200);
	/* a reason with a newline and a control character stays on one line */
	ck_assert_int_eq(submit(a, &s, 1, record(1, "web", "line one\nline two\x01"), idem, &e), 0);
	wait_calls(a, &s, 1);
	ck_assert_int_eq(s.rc[0], 0);
	ck_assert_ptr_nonnull(s.log_at_callback);

	json_t *lines = lines_of(s.log_at_callback);
	ck_assert_uint_eq(json_array_size(lines), 1);
	json_t *r = json_loads(json_string_value(json_array_get(lines, 0)), 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), "line one\nline two\x01");
	ck_assert_str_eq(json_string_value(json_object_get(r, "actor")), "alice");
	/* sorted keys: "action" comes first, "time" after "status" */
	ck_assert_msg(strncmp(s.log_at_callback, "{\"action\":\"drain\",", 18) == 0, "%s",
		      s.log_at_callback);
	json_decref(r);
	json_decref(lines);

	char *idem_text = tu_read_file(dir, "idempotency.jsonl");
	ck_assert_str_eq(idem_text, "{\"key\":\"k1\",\"status\":200}\n");
	free(idem_text);

	struct audit_stats stats;
	audit_stats(a, &stats);
	ck_assert_uint_eq(stats.records, 1);
	ck_assert_uint_eq(stats.failures, 0);
	ck_assert(stats.last_sync_seconds >= 0);
	audit_close(a);
	free(s.log_at_callback);
}
END_TEST

START_TEST(group_commit_keeps_order)
{
	/* A query that reads a large log keeps the writer busy while the
	 * records queue: they must then go out together, in order. */
	char *garbage = malloc(8000000u);
	for (size_t i = 0; i < (8000000u); i++)
		garbage[i] = (i % 100 == 99) ? '\n' : 'x';
	FILE *f = fopen(log_path, "w");
	fwrite(garbage, 1, 8000000u, f);
	fclose(f);
	free(garbage);

	struct err e;
	struct audit *a = audit_open(log_path, NULL, &e);
	ck_assert_msg(a, "%s", e.msg);
	ck_assert_int_eq(audit_query(a, 5, "none", NULL, NULL, &e), 0);
	struct seen *s = calloc(1, sizeof *s);
	const long n = 2000;
	for (long i = 0; i < n; i++)
		ck_assert_int_eq(submit(a, s, i, record(i, "web", "drill"), NULL, &e), 0);
	wait_calls(a, s, (size_t)n);
	for (long i = 0; i < n; i++) {
		ck_assert_int_eq(s->rc[i], 0);
		ck_assert_int_eq(s->seq[i], i);   /* callbacks in submission order */
	}
	struct audit_stats stats;
	audit_stats(a, &stats);
	ck_assert_uint_eq(stats.records, (unsigned long long)n);
	ck_assert_msg(stats.batches < 20, "%llu batches for %ld records", stats.batches, n);
	audit_close(a);

	char *text = tu_read_file(dir, "audit.log");
	json_t *lines = lines_of(text + (8000000u));
	ck_assert_uint_eq(json_array_size(lines), (size_t)n);
	for (long i = 0; i < n; i++) {
		json_t *r = json_loads(json_string_value(json_array_get(lines, (size_t)i)), 0, NULL);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "seq")), i);
		json_decref(r);
	}
	json_decref(lines);
	free(text);
	free(s);
}
END_TEST

START_TEST(full_device_fails_with_reason)
{
	struct err e;
	struct audit *a = audit_open("/dev/full", NULL, &e);
	ck_assert_msg(a, "%s", e.msg);
	struct seen s = { 0 };
	ck_assert_int_eq(submit(a, &s, 1, record(1, "web", "r"), NULL, &e), 0);
	ck_assert_int_eq(submit(a, &s, 2, record(2, "web", "r"), NULL, &e), 0);
	wait_calls(a, &s, 2);
	ck_assert_int_lt(s.rc[0], 0);
	ck_assert_int_lt(s.rc[1], 0);
	ck_assert_msg(strstr(s.msg, "/dev/full") && strstr(s.msg, "No space left on device"), "%s",
		      s.msg);
	ck_assert_msg(strncmp(s.msg, "audit log /dev/full", 19) == 0, "%s", s.msg);
	struct audit_stats stats;
	audit_stats(a, &stats);
	ck_assert_uint_eq(stats.records, 0);
	ck_assert_uint_eq(stats.failures, 2);
	audit_close(a);
}
END_TEST

START_TEST(idem_file_failure_fails_the_record)
{
	struct err e;
	struct audit *a = audit_open(log_path, "/dev/full", &e);
	ck_assert_msg(a, "%s", e.msg);
	struct seen s = { 0 };
	ck_assert_int_eq(submit(a, &s, 1, record(1, "web", "r"), json_pack("{s:s}", "key", "k"),
			       &e), 0);
	ck_assert_int_eq(submit(a, &s, 2, record(2, "web", "r"), NULL, &e), 0);
	wait_calls(a, &s, 2);
	ck_assert_int_lt(s.rc[0], 0);
	ck_assert_msg(strstr(s.msg, "idempotency file /dev/full") &&
		      strstr(s.msg, "No space left on device"), "%s", s.msg);
	ck_assert_int_eq(s.rc[1], 0);   /* no idempotency line: only the audit line counts */
	audit_close(a);

	/* an idempotency line without an idempotency file is refused at once */
	a = audit_open(log_path, NULL, &e);
	ck_assert_int_eq(audit_submit(a, record(3, "web", "r"), json_object(), on_done, NULL, &e),
			 -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "no idempotency file"), "%s", e.msg);
	audit_close(a);
}
END_TEST

/* A write cut short by the file size limit leaves a broken line; the next
 * record starts on a line of its own and history skips the broken one. */
START_TEST(cut_line_then_next_record_on_new_line)
{
	struct err e;
	struct audit *a = audit_open(log_path, NULL, &e);
	ck_assert_msg(a, "%s", e.msg);
	struct seen s = { 0 };
	ck_assert_int_eq(submit(a, &s, 1, record(1, "web", "first"), NULL, &e), 0);
	wait_calls(a, &s, 1);
	ck_assert_int_eq(s.rc[0], 0);

	struct stat st;
	ck_assert_int_eq(stat(log_path, &st), 0);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, lim;
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 10;
	/* No ck_assert while the limit holds: check writes its own records
	 * to a file, which the limit would cut too. */
	json_t *rec = record(2, "web", "cut");
	int lim_rc = setrlimit(RLIMIT_FSIZE, &lim);
	int sub_rc = submit(a, &s, 2, rec, NULL, &e);
	for (int i = 0; i < 100 && s.calls < 2; i++) {
		struct pollfd p = { .fd = audit_done_fd(a), .events = POLLIN };
		poll(&p, 1, 100);
		audit_collect(a);
	}
	int restore_rc = setrlimit(RLIMIT_FSIZE, &old);
	ck_assert_int_eq(lim_rc, 0);
	ck_assert_int_eq(restore_rc, 0);
	ck_assert_int_eq(sub_rc, 0);
	ck_assert_uint_eq(s.calls, 2);
	ck_assert_int_lt(s.rc[1], 0);
	ck_assert_msg(strstr(s.msg, log_path) && strstr(s.msg, "File too large") &&
		      strstr(s.msg, "after 10 of"), "%s", s.msg);

	ck_assert_int_eq(submit(a, &s, 3, record(3, "web", "third"), NULL, &e), 0);
	wait_calls(a, &s, 3);
	ck_assert_int_eq(s.rc[2], 0);
	audit_close(a);

	char *text = tu_read_file(dir, "audit.log");
	json_t *lines = lines_of(text);
	ck_assert_uint_eq(json_array_size(lines), 3);
	ck_assert_uint_eq(strlen(json_string_value(json_array_get(lines, 1))), 10);
	json_t *third = json_loads(json_string_value(json_array_get(lines, 2)), 0, NULL);
	ck_assert_ptr_nonnull(third);
	ck_assert_str_eq(json_string_value(json_object_get(third, "reason")), "third");
	json_decref(third);
	json_decref(lines);
	free(text);

	json_t *h;
	size_t skipped;
	ck_assert_int_eq(audit_history(log_path, 10, NULL, &h, &skipped, &e), 0);
	ck_assert_uint_eq(json_array_size(h), 2);
	ck_assert_uint_eq(skipped, 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 0), "reason")), "third");
	json_decref(h);
}
END_TEST

/* A log whose last line was cut (a crash) gets a newline before the next
 * record at open. */
START_TEST(open_after_crash_mid_line)
{
	tu_write_file(dir, "audit.log", "{\"phase\":\"outcome\",\"reason\":\"cut");
	struct err e;
	struct audit *a = audit_open(log_path, NULL, &e);
	struct seen s = { 0 };
	ck_assert_int_eq(submit(a, &s, 1, record(1, "web", "after"), NULL, &e), 0);
	wait_calls(a, &s, 1);
	audit_close(a);
	json_t *h;
	size_t skipped;
	ck_assert_int_eq(audit_history(log_path, 10, NULL, &h, &skipped, &e), 0);
	ck_assert_uint_eq(json_array_size(h), 1);
	ck_assert_uint_eq(skipped, 1);
	json_decref(h);
}
END_TEST

START_TEST(reopen_after_rename)
{
	struct err e;
	struct audit *a = audit_open(log_path, NULL, &e);
	struct seen s = { 0 };
	ck_assert_int_eq(submit(a, &s, 1, record(1, "web", "before rotate"), NULL, &e), 0);
	wait_calls(a, &s, 1);

	char rotated[600];
	snprintf(rotated, sizeof rotated, "%s.1", log_path);
	ck_assert_int_eq(rename(log_path, rotated), 0);
	ck_assert_int_eq(audit_reopen(a, &e), 0);
	ck_assert_int_eq(submit(a, &s, 2, record(2, "web", "after rotate"), NULL, &e), 0);
	wait_calls(a, &s, 2);
	ck_assert_int_eq(s.rc[1], 0);

	char *old = tu_read_file(dir, "audit.log.1");
	char *cur = tu_read_file(dir, "audit.log");
	ck_assert_ptr_nonnull(strstr(old, "before rotate"));
	ck_assert_ptr_null(strstr(old, "after rotate"));
	ck_assert_ptr_nonnull(strstr(cur, "after rotate"));
	ck_assert_ptr_null(strstr(cur, "before rotate"));
	free(old);
	free(cur);
	struct stat st;
	ck_assert_int_eq(stat(log_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);

	/* a reopen that fails leaves the open file in use */
	char sub[300], sub_log[600];
	snprintf(sub, sizeof sub, "%s/sub", dir);
	snprintf(sub_log, sizeof sub_log, "%s/audit.log", sub);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	struct audit *b = audit_open(sub_log, NULL, &e);
	ck_assert_msg(b, "%s", e.msg);
	ck_assert_int_eq(unlink(sub_log), 0);
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_int_eq(audit_reopen(b, &e), -ERR_IO);
	ck_assert_msg(strstr(e.msg, sub_log) && strstr(e.msg, "No such file or directory"), "%s",
		      e.msg);
	struct seen s2 = { 0 };
	ck_assert_int_eq(submit(b, &s2, 3, record(3, "web", "still"), NULL, &e), 0);
	wait_calls(b, &s2, 1);
	ck_assert_int_eq(s2.rc[0], 0);
	audit_close(b);
	audit_close(a);

	/* and one that cannot open at all says which file */
	ck_assert_ptr_null(audit_open(sub_log, NULL, &e));
	ck_assert_int_eq(e.code, ERR_IO);
	ck_assert_msg(strstr(e.msg, sub_log), "%s", e.msg);
}
END_TEST

static const char sample_log[] =
	"{\"phase\":\"intent\",\"request_id\":\"a\",\"services\":[\"web\"],\"result\":\"accepted\",\"n\":1}\n"
	"{\"phase\":\"outcome\",\"request_id\":\"a\",\"services\":[\"web\"],\"result\":\"ok\",\"n\":2}\n"
	"{\"phase\":\"intent\",\"request_id\":\"b\",\"services\":[\"dns\"],\"result\":\"accepted\",\"n\":3}\n"
	"{\"phase\":\"outcome\",\"request_id\":\"c\",\"services\":[\"web\",\"dns\"],\"result\":\"refused\",\"n\":4}\n"
	"{\"phase\":\"outcome\",\"request_id\":\"d\",\"servi\n"
	"not json at all\n"
	"[\"an array\"]\n"
	"\n"
	"{\"phase\":\"outcome\",\"request_id\":\"e\",\"services\":[\"mail\"],\"result\":\"failed\",\"n\":5}\n";

/* The "n" members of a history, "5,4,3,2". */
static void ns_of(json_t *h, char *out, size_t size)
{
	size_t i, used = 0;
	json_t *r;
	out[0] = '\0';
	json_array_foreach(h, i, r)
		used += (size_t)snprintf(out + used, size - used, "%s%lld", i ? "," : "",
					 (long long)json_integer_value(json_object_get(r, "n")));
}

START_TEST(history_newest_first_and_filters)
{
	tu_write_file(dir, "audit.log", sample_log);
	struct err e;
	json_t *h;
	size_t skipped;
	char ns[64];

	ck_assert_int_eq(audit_history(log_path, 10, NULL, &h, &skipped, &e), 0);
	ns_of(h, ns, sizeof ns);
	ck_assert_str_eq(ns, "5,4,3,2");   /* intent a has its outcome: left out */
	ck_assert_uint_eq(skipped, 3);      /* the cut line, the text, the array */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 2), "result")),
			 "unknown");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 1), "result")),
			 "refused");
	json_decref(h);

	ck_assert_int_eq(audit_history(log_path, 10, "web", &h, NULL, &e), 0);
	ns_of(h, ns, sizeof ns);
	ck_assert_str_eq(ns, "4,2");
	json_decref(h);
	ck_assert_int_eq(audit_history(log_path, 10, "dns", &h, NULL, &e), 0);
	ns_of(h, ns, sizeof ns);
	ck_assert_str_eq(ns, "4,3");
	json_decref(h);
	ck_assert_int_eq(audit_history(log_path, 10, "we", &h, NULL, &e), 0);
	ck_assert_uint_eq(json_array_size(h), 0);
	json_decref(h);

	ck_assert_int_eq(audit_history(log_path, 2, NULL, &h, &skipped, &e), 0);
	ns_of(h, ns, sizeof ns);
	ck_assert_str_eq(ns, "5,4");
	json_decref(h);
	ck_assert_int_eq(audit_history(log_path, 1, "dns", &h, NULL, &e), 0);
	ns_of(h, ns, sizeof ns);
	ck_assert_str_eq(ns, "4");
	json_decref(h);
}
END_TEST

START_TEST(history_limit_range)
{
	tu_write_file(dir, "audit.log", sample_log);
	struct err e;
	json_t *h = (json_t *)1;
	ck_assert_int_eq(audit_history(log_path, 0, NULL, &h, NULL, &e), -ERR_INVALID);
	ck_assert_ptr_null(h);
	ck_assert_msg(strstr(e.msg, "limit 0 is outside 1..1000"), "%s", e.msg);
	ck_assert_int_eq(audit_history(log_path, 1001, NULL, &h, NULL, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "limit 1001"), "%s", e.msg);
	ck_assert_int_eq(audit_history(log_path, 1000, NULL, &h, NULL, &e), 0);
	json_decref(h);
}
END_TEST

START_TEST(history_missing_file_is_empty)
{
	struct err e;
	json_t *h;
	size_t skipped = 7;
	ck_assert_int_eq(audit_history(log_path, 20, NULL, &h, &skipped, &e), 0);
	ck_assert(json_is_array(h));
	ck_assert_uint_eq(json_array_size(h), 0);
	ck_assert_uint_eq(skipped, 0);
	json_decref(h);
	tu_write_file(dir, "audit.log", "");
	ck_assert_int_eq(audit_history(log_path, 20, NULL, &h, &skipped, &e), 0);
	ck_assert_uint_eq(json_array_size(h), 0);
	json_decref(h);
}
END_TEST

/* Lines that cross the 64 KiB blocks, and a line longer than any record,
 * are read right. */
START_TEST(history_across_blocks_and_overlong_line)
{
	struct buf b = { 0 };
	for (int i = 0; i < 3000; i++)
		buf_printf(&b, "{\"phase\":\"outcome\",\"services\":[\"web\"],\"n\":%d,\"pad\":\"%0*d\"}\n",
			   i, 37 + i % 50, 0);
	/* 3 MiB without a newline: one broken line */
	for (int i = 0; i < (3 << 20) / 16; i++)
		buf_puts(&b, "0123456789abcdef");
	buf_puts(&b, "\n");
	for (int i = 3000; i < 3010; i++)
		buf_printf(&b, "{\"phase\":\"outcome\",\"services\":[\"web\"],\"n\":%d}\n", i);
	FILE *f = fopen(log_path, "w");
	fwrite(b.p, 1, b.len, f);
	fclose(f);
	buf_free(&b);

	struct err e;
	json_t *h;
	size_t skipped;
	ck_assert_int_eq(audit_history(log_path, 1000, NULL, &h, &skipped, &e), 0);
	ck_assert_uint_eq(json_array_size(h), 1000);
	ck_assert_uint_eq(skipped, 1);
	for (size_t i = 0; i < 1000; i++) {
		long long want = i < 10 ? 3009 - (long long)i : 2999 - ((long long)i - 10);
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(h, i), "n")), want);
	}
	json_decref(h);
}
END_TEST

/* 10 MB of log, limit 5: only the tail is read. The head is all broken
 * lines, so reading it would show in skipped. */
START_TEST(history_large_log_reads_only_the_tail)
{
	FILE *f = fopen(log_path, "w");
	char junk[101];
	memset(junk, 'j', 99);
	junk[99] = '\n';
	junk[100] = '\0';
	for (int i = 0; i < 100000; i++)
		fputs(junk, f);
	for (int i = 0; i < 100; i++)
		fprintf(f, "{\"phase\":\"outcome\",\"services\":[\"%s\"],\"n\":%d}\n",
			i % 2 ? "web" : "dns", i);
	fclose(f);

	struct err e;
	json_t *h;
	size_t skipped;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(audit_history(log_path, 5, "web", &h, &skipped, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	char ns[64];
	ns_of(h, ns, sizeof ns);
	ck_assert_str_eq(ns, "99,97,95,93,91");
	ck_assert_uint_eq(skipped, 0);
	ck_assert_msg(ms < 100, "reading the tail took %.1f ms", ms);
	json_decref(h);

	/* a filter that matches nothing reads all of it, and counts the junk */
	ck_assert_int_eq(audit_history(log_path, 5, "mail", &h, &skipped, &e), 0);
	ck_assert_uint_eq(json_array_size(h), 0);
	ck_assert_uint_eq(skipped, 100000);
	json_decref(h);
}
END_TEST

/* The scan stops AUDIT_SCAN_MAX bytes from the end: a record before a
 * 100 MB hole is not reached. */
START_TEST(history_stops_after_scan_max)
{
	const char a[] = "{\"phase\":\"outcome\",\"services\":[\"web\"],\"n\":1}\n";
	const char b[] = "\n{\"phase\":\"outcome\",\"services\":[\"web\"],\"n\":2}\n";
	FILE *f = fopen(log_path, "w");
	fputs(a, f);
	fflush(f);
	ck_assert_int_eq(ftruncate(fileno(f), (off_t)strlen(a) + (100 << 20)), 0);
	fseek(f, 0, SEEK_END);
	fputs(b, f);
	fclose(f);

	struct err e;
	json_t *h;
	size_t skipped;
	ck_assert_int_eq(audit_history(log_path, 10, NULL, &h, &skipped, &e), 0);
	char ns[64];
	ns_of(h, ns, sizeof ns);
	ck_assert_str_eq(ns, "2");
	ck_assert_uint_eq(skipped, 0);   /* the start of the hole's "line" was never reached */
	json_decref(h);
}
END_TEST

struct query_seen {
	int calls, rc;
	json_t *history;
	size_t skipped;
};

static void on_history(void *ctx, int rc, json_t *history, size_t skipped, const struct err *e)
{
	struct query_seen *q = ctx;
	(void)e;
	q->calls++;
	q->rc = rc;
	q->history = history;
	q->skipped = skipped;
}

START_TEST(query_runs_on_the_writer)
{
	tu_write_file(dir, "audit.log", sample_log);
	struct err e;
	struct audit *a = audit_open(log_path, NULL, &e);
	struct query_seen q = { 0 };
	ck_assert_int_eq(audit_query(a, 0, NULL, on_history, &q, &e), -ERR_INVALID);
	ck_assert_int_eq(audit_query(a, 3, "web", on_history, &q, &e), 0);
	while (q.calls == 0) {
		struct pollfd p = { .fd = audit_done_fd(a), .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		audit_collect(a);
	}
	ck_assert_int_eq(q.rc, 0);
	char ns[64];
	ns_of(q.history, ns, sizeof ns);
	ck_assert_str_eq(ns, "4,2");
	ck_assert_uint_eq(q.skipped, 3);
	json_decref(q.history);
	audit_close(a);
}
END_TEST

START_TEST(close_runs_pending_callbacks)
{
	struct err e;
	struct audit *a = audit_open(log_path, NULL, &e);
	struct seen s = { 0 };
	for (long i = 0; i < 50; i++)
		ck_assert_int_eq(submit(a, &s, i, record(i, "web", "r"), NULL, &e), 0);
	audit_close(a);
	ck_assert_uint_eq(s.calls, 50);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(s.rc[i], 0);
	char *text = tu_read_file(dir, "audit.log");
	json_t *lines = lines_of(text);
	ck_assert_uint_eq(json_array_size(lines), 50);
	json_decref(lines);
	free(text);
}
END_TEST

START_TEST(record_new_members)
{
	struct audit_who who = { .request_id = "q1", .actor = "bot", .on_behalf_of = "alice",
				 .role = "operator", .transport = "https", .remote = "10.0.0.1",
				 .idempotency_key = "key-1" };
	json_t *r = audit_record_new(1764486000007LL, &who, "set", "ash",
				     json_pack("[s]", "web"), "why", true, "intent");
	ck_assert_ptr_nonnull(r);
	char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(s,
		"{\"action\":\"set\",\"actor\":\"bot\",\"after\":null,\"before\":null,"
		"\"change_id\":null,\"dry_run\":true,\"error\":null,\"idempotency_key\":\"key-1\","
		"\"on_behalf_of\":\"alice\",\"phase\":\"intent\",\"reason\":\"why\","
		"\"remote\":\"10.0.0.1\",\"request_id\":\"q1\",\"result\":null,\"role\":\"operator\","
		"\"services\":[\"web\"],\"site\":\"ash\",\"status\":null,"
		"\"time\":\"2025-11-30T07:00:00.007Z\",\"transport\":\"https\"}");
	free(s);
	json_decref(r);

	r = audit_record_new(0, NULL, "drain", "chi", NULL, "r", false, "outcome");
	ck_assert(json_is_null(json_object_get(r, "actor")));
	ck_assert(json_is_null(json_object_get(r, "on_behalf_of")));
	ck_assert_uint_eq(json_array_size(json_object_get(r, "services")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "time")), "1970-01-01T00:00:00.000Z");
	json_decref(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("audit");
	TCase *t = tcase_create("writer");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, record_on_disk_when_callback_runs);
	tcase_add_test(t, group_commit_keeps_order);
	tcase_add_test(t, full_device_fails_with_reason);
	tcase_add_test(t, idem_file_failure_fails_the_record);
	tcase_add_test(t, cut_line_then_next_record_on_new_line);
	tcase_add_test(t, open_after_crash_mid_line);
	tcase_add_test(t, reopen_after_rename);
	tcase_add_test(t, query_runs_on_the_writer);
	tcase_add_test(t, close_runs_pending_callbacks);
	tcase_add_test(t, record_new_members);
	suite_add_tcase(s, t);

	t = tcase_create("history");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, history_newest_first_and_filters);
	tcase_add_test(t, history_limit_range);
	tcase_add_test(t, history_missing_file_is_empty);
	tcase_add_test(t, history_across_blocks_and_overlong_line);
	tcase_add_test(t, history_large_log_reads_only_the_tail);
	tcase_add_test(t, history_stops_after_scan_max);
	suite_add_tcase(s, t);
	return tu_run_suite(s);
}
