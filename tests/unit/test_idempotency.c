/* Unit tests of the idempotency store (routectl/api/idempotency.c): keys,
 * fingerprints, the first request and its retries (replay, mismatch, in
 * flight, abort), expiry, and the file: persistence across a restart, bad
 * lines skipped, expired entries dropped and the file compacted, the bound
 * on entries. */
#include "api/idempotency.h"
#include "common/err.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256], path[512];
static const time_t T0 = 1764486000;

static void setup(void)
{
	tu_make_tmpdir(dir, sizeof dir, "routectl-idem");
	snprintf(path, sizeof path, "%s/idempotency.jsonl", dir);
}

static void teardown(void)
{
	tu_remove_tree(dir);
}

static void fp_of(const char *body, uint8_t fp[32])
{
	idem_fingerprint("POST", "/v1/drain", body, strlen(body), fp);
}

/* Appends the line the audit writer would append for this answer. */
static void append_line(const char *principal, const char *key, const uint8_t fp[32],
			int status, const char *body, time_t at)
{
	json_t *o = idem_line(principal, key, fp, status, body, at);
	ck_assert_ptr_nonnull(o);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	FILE *f = fopen(path, "a");
	fprintf(f, "%s\n", s);
	fclose(f);
	free(s);
	json_decref(o);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

START_TEST(key_validity)
{
	char k[300];
	ck_assert(idem_key_valid("a"));
	ck_assert(idem_key_valid("8e03978e-40d5-43e8-bc93-6894a57f9324"));
	ck_assert(idem_key_valid("!~"));
	ck_assert(!idem_key_valid(""));
	ck_assert(!idem_key_valid(NULL));
	ck_assert(!idem_key_valid("with space"));
	ck_assert(!idem_key_valid("tab\there"));
	ck_assert(!idem_key_valid("del\x7f"));
	ck_assert(!idem_key_valid("caf\xc3\xa9"));
	memset(k, 'k', IDEM_KEY_MAX);
	k[IDEM_KEY_MAX] = '\0';
	ck_assert(idem_key_valid(k));
	k[IDEM_KEY_MAX] = 'k';
	k[IDEM_KEY_MAX + 1] = '\0';
	ck_assert(!idem_key_valid(k));
}
END_TEST

START_TEST(fingerprint_is_sha256_of_method_path_body)
{
	uint8_t fp[32], other[32];
	char hex[65];
	fp_of("{\"site\":\"ash\"}", fp);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", fp[i]);
	/* sha256("POST\0/v1/drain\0{\"site\":\"ash\"}"), from Python's hashlib */
	ck_assert_str_eq(hex, "6542951b7e6143edbd386001c3a6aacf9252f7f328972acbde90a063038d7eb5");

	idem_fingerprint("POST", "/v1/undrain", "{\"site\":\"ash\"}", 14, other);
	ck_assert(memcmp(fp, other, 32) != 0);
	idem_fingerprint("PUT", "/v1/drain", "{\"site\":\"ash\"}", 14, other);
	ck_assert(memcmp(fp, other, 32) != 0);
	fp_of("{\"site\":\"chi\"}", other);
	ck_assert(memcmp(fp, other, 32) != 0);
	/* the boundary between path and body counts */
	uint8_t a[32], b[32];
	idem_fingerprint("POST", "/v1/ab", "c", 1, a);
	idem_fingerprint("POST", "/v1/a", "bc", 2, b);
	ck_assert(memcmp(a, b, 32) != 0);
}
END_TEST

START_TEST(begin_finish_replay)
{
	struct err e;
	struct idem *s = idem_open(path, T0, &e);
	ck_assert_msg(s, "%s", e.msg);
	uint8_t fp[32], other[32];
	fp_of("{\"site\":\"ash\"}", fp);
	fp_of("{\"site\":\"chi\"}", other);
	int status = 0;
	const char *body = NULL;

	ck_assert_int_eq(idem_begin(s, "alice", "k1", fp, T0, &status, &body), IDEM_NEW);
	/* the retry comes while the first is still being applied */
	ck_assert_int_eq(idem_begin(s, "alice", "k1", fp, T0 + 1, &status, &body), IDEM_IN_FLIGHT);
	ck_assert_int_eq(idem_begin(s, "alice", "k1", other, T0 + 1, &status, &body),
			 IDEM_MISMATCH);
	/* keys are per principal */
	ck_assert_int_eq(idem_begin(s, "bob", "k1", other, T0 + 1, &status, &body), IDEM_NEW);

	idem_finish(s, "alice", "k1", 200, "{\"change_id\":\"c-1\"}", T0 + 2);
	ck_assert_int_eq(idem_begin(s, "alice", "k1", fp, T0 + 3, &status, &body), IDEM_REPLAY);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(body, "{\"change_id\":\"c-1\"}");
	ck_assert_int_eq(idem_begin(s, "alice", "k1", other, T0 + 3, &status, &body),
			 IDEM_MISMATCH);
	/* bob's is still in flight */
	ck_assert_int_eq(idem_begin(s, "bob", "k1", other, T0 + 3, &status, &body),
			 IDEM_IN_FLIGHT);

	/* an answer expires IDEM_TTL_S after it was given */
	ck_assert_int_eq(idem_begin(s, "alice", "k1", fp, T0 + 2 + IDEM_TTL_S - 1, &status, &body),
			 IDEM_REPLAY);
	ck_assert_int_eq(idem_begin(s, "alice", "k1", other, T0 + 2 + IDEM_TTL_S, &status, &body),
			 IDEM_NEW);
	idem_free(s);
}
END_TEST

START_TEST(abort_forgets)
{
	struct err e;
	struct idem *s = idem_open(path, T0, &e);
	uint8_t fp[32];
	fp_of("{}", fp);
	int status;
	const char *body;
	ck_assert_int_eq(idem_begin(s, "alice", "k", fp, T0, &status, &body), IDEM_NEW);
	idem_abort(s, "alice", "k");
	ck_assert_int_eq(idem_begin(s, "alice", "k", fp, T0, &status, &body), IDEM_NEW);
	idem_finish(s, "alice", "k", 409, "{\"error\":{}}", T0);
	/* an answered key is not aborted */
	idem_abort(s, "alice", "k");
	ck_assert_int_eq(idem_begin(s, "alice", "k", fp, T0, &status, &body), IDEM_REPLAY);
	ck_assert_int_eq(status, 409);
	idem_free(s);
}
END_TEST

START_TEST(persists_across_restart)
{
	struct err e;
	struct idem *s = idem_open(path, T0, &e);
	uint8_t fp[32];
	fp_of("{\"site\":\"ash\"}", fp);
	int status;
	const char *body;
	ck_assert_int_eq(idem_begin(s, "alice", "k1", fp, T0, &status, &body), IDEM_NEW);
	append_line("alice", "k1", fp, 202, "{\"ok\":true}", T0);
	idem_finish(s, "alice", "k1", 202, "{\"ok\":true}", T0);
	idem_free(s);

	struct stat before, after;
	ck_assert_int_eq(stat(path, &before), 0);
	s = idem_open(path, T0 + 60, &e);
	ck_assert_msg(s, "%s", e.msg);
	ck_assert_int_eq(idem_begin(s, "alice", "k1", fp, T0 + 60, &status, &body), IDEM_REPLAY);
	ck_assert_int_eq(status, 202);
	ck_assert_str_eq(body, "{\"ok\":true}");
	ck_assert_int_eq(idem_begin(s, "bob", "k1", fp, T0 + 60, &status, &body), IDEM_NEW);
	idem_free(s);
	/* nothing to drop: the file was left as it was */
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);

	/* a missing file is an empty store */
	unlink(path);
	s = idem_open(path, T0, &e);
	ck_assert_msg(s, "%s", e.msg);
	ck_assert_int_eq(idem_begin(s, "alice", "k1", fp, T0, &status, &body), IDEM_NEW);
	idem_free(s);
}
END_TEST

START_TEST(expired_dropped_and_file_compacted)
{
	uint8_t fp[32];
	fp_of("{}", fp);
	append_line("alice", "old", fp, 200, "old", T0 - IDEM_TTL_S - 5);
	append_line("alice", "dup", fp, 500, "first", T0 - 100);
	append_line("alice", "fresh", fp, 200, "fresh", T0 - 10);
	append_line("alice", "dup", fp, 200, "second", T0 - 50);

	struct err e;
	struct idem *s = idem_open(path, T0, &e);
	ck_assert_msg(s, "%s", e.msg);
	int status;
	const char *body;
	ck_assert_int_eq(idem_begin(s, "alice", "old", fp, T0, &status, &body), IDEM_NEW);
	ck_assert_int_eq(idem_begin(s, "alice", "fresh", fp, T0, &status, &body), IDEM_REPLAY);
	ck_assert_str_eq(body, "fresh");
	ck_assert_int_eq(idem_begin(s, "alice", "dup", fp, T0, &status, &body), IDEM_REPLAY);
	ck_assert_str_eq(body, "second");
	idem_free(s);

	char *text = tu_read_file(dir, "idempotency.jsonl");
	ck_assert_uint_eq(count_lines(text), 2);
	ck_assert_ptr_null(strstr(text, "\"old\""));
	ck_assert_ptr_null(strstr(text, "\"first\""));
	ck_assert_ptr_nonnull(strstr(text, "\"key\":\"fresh\""));
	ck_assert_ptr_nonnull(strstr(text, "\"body\":\"second\""));
	free(text);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0077, 0);
}
END_TEST

START_TEST(bad_lines_skipped)
{
	uint8_t fp[32];
	fp_of("{}", fp);
	FILE *f = fopen(path, "w");
	fputs("not json\n", f);
	fputs("[1,2]\n", f);
	fputs("\n", f);
	fputs("{\"principal\":\"a\",\"key\":\"k\",\"status\":200,\"body\":\"\",\"at\":1764486000}\n", f);
	fprintf(f, "{\"principal\":\"a\",\"key\":\"k\",\"fingerprint\":\"%064d\",\"status\":200,"
		"\"body\":\"\",\"at\":\"yesterday\"}\n", 0);
	fprintf(f, "{\"principal\":\"a\",\"key\":\"k\",\"fingerprint\":\"%063d\",\"status\":200,"
		"\"body\":\"\",\"at\":1764486000}\n", 0);
	fprintf(f, "{\"principal\":\"a\",\"key\":\"k\",\"fingerprint\":\"%064d\",\"status\":99,"
		"\"body\":\"\",\"at\":1764486000}\n", 0);
	fprintf(f, "{\"principal\":\"a\",\"key\":\"bad key\",\"fingerprint\":\"%064d\",\"status\":200,"
		"\"body\":\"\",\"at\":1764486000}\n", 0);
	fprintf(f, "{\"principal\":\"a\",\"key\":\"k\",\"fingerprint\":\"%064d\",\"status\":200,"
		"\"body\":\"\",\"at\":1764486000,\"at\":1}\n", 0);
	fclose(f);
	append_line("alice", "good", fp, 201, "kept", T0);
	/* a last line cut by a crash */
	f = fopen(path, "a");
	fputs("{\"principal\":\"alice\",\"key\":\"cut\",\"fing", f);
	fclose(f);

	struct err e;
	struct idem *s = idem_open(path, T0, &e);
	ck_assert_msg(s, "%s", e.msg);
	int status;
	const char *body;
	ck_assert_int_eq(idem_begin(s, "alice", "good", fp, T0, &status, &body), IDEM_REPLAY);
	ck_assert_int_eq(status, 201);
	ck_assert_int_eq(idem_begin(s, "a", "k", fp, T0, &status, &body), IDEM_NEW);
	ck_assert_int_eq(idem_begin(s, "alice", "cut", fp, T0, &status, &body), IDEM_NEW);
	idem_free(s);

	char *text = tu_read_file(dir, "idempotency.jsonl");
	ck_assert_uint_eq(count_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "\"key\":\"good\""));
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	free(text);
}
END_TEST

START_TEST(unreadable_file_is_an_error)
{
	struct err e;
	/* a directory where the file should be */
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_ptr_null(idem_open(path, T0, &e));
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "directory"), "%s", e.msg);
	ck_assert_int_eq(rmdir(path), 0);
	/* a FIFO is refused at once: its open would wait for a writer, and
	 * routectld's start with it (SIGTERM is blocked there already) */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_ptr_null(idem_open(path, T0, &e));
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "FIFO"), "%s", e.msg);
}
END_TEST

START_TEST(line_is_what_load_reads)
{
	uint8_t fp[32];
	fp_of("{}", fp);
	json_t *o = idem_line("alice", "k", fp, 200, "{\"a\":1}", T0);
	ck_assert_str_eq(json_string_value(json_object_get(o, "principal")), "alice");
	ck_assert_str_eq(json_string_value(json_object_get(o, "key")), "k");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "status")), 200);
	ck_assert_str_eq(json_string_value(json_object_get(o, "body")), "{\"a\":1}");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "at")), T0);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "fingerprint"))), 64);
	json_decref(o);
}
END_TEST

START_TEST(bounded_oldest_forgotten)
{
	struct err e;
	struct idem *s = idem_open(path, T0, &e);
	uint8_t fp[32];
	fp_of("{}", fp);
	int status;
	const char *body;
	char key[32];
	/* one in flight, oldest of all: kept, its finish must find it */
	ck_assert_int_eq(idem_begin(s, "p", "in-flight", fp, T0, &status, &body), IDEM_NEW);
	for (int i = 0; i < IDEM_MAX_ENTRIES + 1; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ck_assert_int_eq(idem_begin(s, "p", key, fp, T0, &status, &body), IDEM_NEW);
		idem_finish(s, "p", key, 200, "", T0);
	}
	/* k0 and k1 went to make room; k2 is the oldest left */
	ck_assert_int_eq(idem_begin(s, "p", "k2", fp, T0, &status, &body), IDEM_REPLAY);
	snprintf(key, sizeof key, "k%d", IDEM_MAX_ENTRIES);
	ck_assert_int_eq(idem_begin(s, "p", key, fp, T0, &status, &body), IDEM_REPLAY);
	ck_assert_int_eq(idem_begin(s, "p", "in-flight", fp, T0, &status, &body), IDEM_IN_FLIGHT);
	ck_assert_int_eq(idem_begin(s, "p", "k1", fp, T0, &status, &body), IDEM_NEW);
	ck_assert_int_eq(idem_begin(s, "p", "k0", fp, T0, &status, &body), IDEM_NEW);
	idem_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("idempotency");
	TCase *t = tcase_create("store");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, key_validity);
	tcase_add_test(t, fingerprint_is_sha256_of_method_path_body);
	tcase_add_test(t, begin_finish_replay);
	tcase_add_test(t, abort_forgets);
	tcase_add_test(t, persists_across_restart);
	tcase_add_test(t, expired_dropped_and_file_compacted);
	tcase_add_test(t, bad_lines_skipped);
	tcase_add_test(t, unreadable_file_is_an_error);
	tcase_add_test(t, line_is_what_load_reads);
	tcase_add_test(t, bounded_oldest_forgotten);
	suite_add_tcase(s, t);
	return tu_run_suite(s);
}
