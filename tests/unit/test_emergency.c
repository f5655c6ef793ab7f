/* Unit tests of routectl/site/emergency: the site lock, the emergency
 * journal (written, read back, a torn last line, an outcome without its
 * intent) and its adoption by the site controller (the order of the
 * records, refused ones left out, an intent without outcome adopted, the
 * journal set aside only after the state is saved, a writer at work). */
#include "common/err.h"
#include "site/emergency.h"
#include "site/site.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];
static char state_dir[128];
static char journal[192];

static void setup(void)
{
	tu_make_tmpdir(tmpdir, sizeof tmpdir, "test_emergency");
	tu_write_site_config(tmpdir);
	snprintf(state_dir, sizeof state_dir, "%s/state", tmpdir);
	snprintf(journal, sizeof journal, "%s/%s", state_dir, EMERGENCY_JOURNAL);
	ck_assert_int_eq(mkdir(state_dir, 0750), 0);
}

static void teardown(void)
{
	tu_remove_tree(tmpdir);
}

static void open_site(struct site *s)
{
	char path[128];
	struct err e;
	snprintf(path, sizeof path, "%s/routectld.json", tmpdir);
	ck_assert_msg(site_open(s, path, &e) == 0, "site_open: %s", e.msg);
}

/* One intent: services "web=withdraw,dns=announce" style pairs. */
static void intent(struct emergency_record *r, const char *id, const char *action,
		   const char *actor, const char *reason, long long epoch_ms)
{
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	snprintf(r->action, sizeof r->action, "%s", action);
	r->actor = (char *)actor;
	r->reason = (char *)reason;
	r->epoch_ms = epoch_ms;
	r->svcs = calloc(2, sizeof *r->svcs);
	ck_assert_ptr_nonnull(r->svcs);
}

static void add_svc(struct emergency_record *r, const char *name, enum svc_mode mode,
		    enum svc_mode before)
{
	struct emergency_service *s = &r->svcs[r->n_svcs++];
	snprintf(s->name, sizeof s->name, "%s", name);
	s->mode = mode;
	s->has_before = 1;
	s->before_mode = before;
}

/* Writes one command: its intent and, unless result is NO_OUTCOME, its
 * outcome (with the guards of g, may be NULL). */
static void write_command_guards(const char *id, const char *action, const char *actor,
				 const char *reason, long long epoch_ms, enum svc_mode mode,
				 const char *svc1, const char *svc2, enum emergency_result result,
				 const struct guard_report *g)
{
	struct emergency_writer w;
	struct err e;
	ck_assert_msg(emergency_writer_open(state_dir, 0, &w, &e) == 0, "%s", e.msg);
	struct emergency_record r;
	intent(&r, id, action, actor, reason, epoch_ms);
	add_svc(&r, svc1, mode, MODE_ANNOUNCE);
	if (svc2)
		add_svc(&r, svc2, mode, MODE_ANNOUNCE);
	ck_assert_msg(emergency_write_intent(&w, &r, &e) == 0, "%s", e.msg);
	free(r.svcs);
	if (result != EMERGENCY_NO_OUTCOME)
		ck_assert_msg(emergency_write_outcome(&w, id, result,
						      result == EMERGENCY_APPLIED ? NULL : "it failed",
						      7, 12, g, &e) == 0, "%s", e.msg);
	emergency_writer_close(&w);
}

static void write_command(const char *id, const char *action, const char *actor,
			  const char *reason, long long epoch_ms, enum svc_mode mode,
			  const char *svc1, const char *svc2, enum emergency_result result)
{
	write_command_guards(id, action, actor, reason, epoch_ms, mode, svc1, svc2, result, NULL);
}

static void append_raw(const char *text)
{
	int fd = open(journal, O_WRONLY | O_APPEND | O_CREAT, 0640);
	ck_assert_int_ge(fd, 0);
	tu_write_all(fd, text, strlen(text));
	close(fd);
}

static size_t adopted_files(void)
{
	char pat[256];
	snprintf(pat, sizeof pat, "%s.adopted-*", journal);
	glob_t g;
	size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
	globfree(&g);
	return n;
}

START_TEST(test_write_read)
{
	struct guard_report g = { .judged = 1 };
	g.g[GUARD_LAST_SITE].verdict = GUARD_OVERRIDDEN;
	snprintf(g.g[GUARD_LAST_SITE].message, sizeof g.g[0].message, "web is announced nowhere");
	write_command_guards("c1", "drain", "emergency: alice (uid 1000) on r1", "fiber cut",
			     1700000000123, MODE_WITHDRAW, "web", "dns", EMERGENCY_APPLIED, &g);
	struct emergency_journal j;
	struct err e;
	ck_assert_msg(emergency_journal_read(journal, &j, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(j.n, 1);
	ck_assert_uint_eq(j.skipped, 0);
	const struct emergency_record *r = &j.recs[0];
	ck_assert_str_eq(r->id, "c1");
	ck_assert_str_eq(r->action, "drain");
	ck_assert_str_eq(r->actor, "emergency: alice (uid 1000) on r1");
	ck_assert_str_eq(r->reason, "fiber cut");
	ck_assert_int_eq(r->epoch_ms, 1700000000123);
	ck_assert_uint_eq(r->n_svcs, 2);
	ck_assert_int_eq(r->result, EMERGENCY_APPLIED);
	ck_assert_ptr_null(r->error);
	ck_assert_uint_eq(r->generation, 7);
	ck_assert_int_eq(r->ms, 12);
	ck_assert_uint_eq(r->n_overrides, 1);
	ck_assert_str_eq(r->overrides[0].guard, "last-site");
	ck_assert_str_eq(r->overrides[0].message, "web is announced nowhere");
	int web = strcmp(r->svcs[0].name, "web") == 0 ? 0 : 1;
	ck_assert_str_eq(r->svcs[web].name, "web");
	ck_assert_int_eq(r->svcs[web].mode, MODE_WITHDRAW);
	ck_assert_int_eq(r->svcs[web].has_before, 1);
	ck_assert_int_eq(r->svcs[web].before_mode, MODE_ANNOUNCE);
	emergency_journal_free(&j);
	/* one line per record, each whole */
	char *text = tu_read_file(state_dir, EMERGENCY_JOURNAL);
	size_t lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	ck_assert_uint_eq(lines, 2);
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	free(text);
}
END_TEST

START_TEST(test_torn_last_line)
{
	write_command("c1", "drain", "a", "r1", 1000, MODE_WITHDRAW, "web", NULL,
		      EMERGENCY_APPLIED);
	/* a crash in the middle of the next write(2) */
	append_raw("{\"type\":\"intent\",\"id\":\"c2\",\"action\":\"undr");
	struct emergency_journal j;
	struct err e;
	ck_assert_msg(emergency_journal_read(journal, &j, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(j.n, 1);
	ck_assert_uint_eq(j.skipped, 1);
	ck_assert_str_eq(j.recs[0].id, "c1");
	emergency_journal_free(&j);

	/* A whole line that is not a record, in the middle, is skipped too;
	 * the records after it are read. */
	append_raw("\nnot json\n{\"type\":\"outcome\",\"id\":\"nobody\",\"result\":\"applied\"}\n");
	write_command("c3", "undrain", "b", "r3", 2000, MODE_ANNOUNCE, "web", NULL,
		      EMERGENCY_NO_OUTCOME);
	ck_assert_msg(emergency_journal_read(journal, &j, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(j.n, 2);
	ck_assert_uint_eq(j.skipped, 3);   /* the torn line, "not json", the orphan outcome */
	ck_assert_str_eq(j.recs[1].id, "c3");
	ck_assert_int_eq(j.recs[1].result, EMERGENCY_NO_OUTCOME);
	emergency_journal_free(&j);

	ck_assert_int_eq(emergency_journal_read("/nonexistent/emergency.jsonl", &j, &e),
			 -ERR_NOTFOUND);
}
END_TEST

START_TEST(test_bad_records)
{
	static const char *const bad[] = {
		"{\"type\":\"intent\",\"id\":\"x\",\"action\":\"drain\",\"actor\":\"a\",\"reason\":\"r\","
		"\"services\":{\"web\":{\"state\":\"sideways\",\"prepend\":0}}}\n",
		"{\"type\":\"intent\",\"id\":\"x\",\"action\":\"drain\",\"actor\":\"a\",\"reason\":\"r\","
		"\"services\":{\"web\":{\"state\":\"prepend\",\"prepend\":11}}}\n",
		"{\"type\":\"intent\",\"action\":\"drain\",\"actor\":\"a\",\"reason\":\"r\","
		"\"services\":{}}\n",
		"{\"type\":\"intent\",\"id\":\"x\",\"action\":\"drain\",\"actor\":\"a\",\"reason\":\"r\"}\n",
		"[1,2]\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct emergency_journal j;
		struct err e;
		ck_assert_int_eq(emergency_journal_parse(bad[i], strlen(bad[i]), "t", &j, &e), 0);
		ck_assert_msg(j.n == 0 && j.skipped == 1, "case %zu: %zu records, %zu skipped", i,
			      j.n, j.skipped);
		emergency_journal_free(&j);
	}
}
END_TEST

START_TEST(test_adoption_order)
{
	struct site s;
	open_site(&s);
	uint64_t gen0 = s.state->generation;
	/* drain both, then undrain web (killed: no outcome), then a drain of
	 * web that a guard refused */
	write_command("c1", "drain", "emergency: alice", "fiber cut", 1700000000000,
		      MODE_WITHDRAW, "web", "dns", EMERGENCY_APPLIED);
	write_command("c2", "undrain", "emergency: bob", "web is fine", 1700000060000,
		      MODE_ANNOUNCE, "web", NULL, EMERGENCY_NO_OUTCOME);
	write_command("c3", "drain", "emergency: carol", "refused", 1700000120000,
		      MODE_WITHDRAW, "web", NULL, EMERGENCY_REFUSED);
	struct emergency_journal adopted;
	char aside[512];
	struct err e;
	ck_assert_int_eq(site_emergency_adopt(&s, &adopted, aside, sizeof aside, &e), 1);
	ck_assert_uint_eq(adopted.n, 3);
	ck_assert_int_eq(adopted.recs[2].result, EMERGENCY_REFUSED);
	emergency_journal_free(&adopted);

	struct svc_state *web = state_find(s.state, "web"), *dns = state_find(s.state, "dns");
	ck_assert_int_eq(web->mode, MODE_ANNOUNCE);
	ck_assert_str_eq(web->actor, "emergency: bob");
	ck_assert_str_eq(web->reason, "web is fine");
	ck_assert_str_eq(web->change_id, "c2");
	ck_assert_int_eq(dns->mode, MODE_WITHDRAW);
	ck_assert_str_eq(dns->actor, "emergency: alice");
	ck_assert_str_eq(dns->change_id, "c1");
	ck_assert_int_eq(dns->since, 1700000000);
	/* the outcome's generation (7) is continued, +1 */
	ck_assert_uint_eq(s.state->generation, (gen0 > 7 ? gen0 : 7) + 1);

	/* saved, and the journal set aside */
	char path[256];
	snprintf(path, sizeof path, "%s/state.json", state_dir);
	struct state *saved = NULL;
	ck_assert_msg(state_load(path, &saved, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(state_find(saved, "dns")->mode, MODE_WITHDRAW);
	ck_assert_str_eq(state_find(saved, "web")->change_id, "c2");
	ck_assert_uint_eq(saved->generation, s.state->generation);
	state_free(saved);
	ck_assert_int_ne(access(journal, F_OK), 0);
	ck_assert_uint_eq(adopted_files(), 1);
	ck_assert_ptr_nonnull(strstr(aside, ".adopted-"));

	/* nothing more to adopt */
	ck_assert_int_eq(site_emergency_adopt(&s, &adopted, aside, sizeof aside, &e), 0);
	site_close(&s);
}
END_TEST

START_TEST(test_adopt_waits_for_writer)
{
	struct site s;
	open_site(&s);
	write_command("c1", "drain", "emergency: alice", "fiber cut", 1700000000000,
		      MODE_WITHDRAW, "web", NULL, EMERGENCY_APPLIED);
	struct emergency_writer w;
	struct err e;
	ck_assert_msg(emergency_writer_open(state_dir, 0, &w, &e) == 0, "%s", e.msg);
	struct emergency_journal adopted;
	char aside[512];
	ck_assert_int_eq(site_emergency_adopt(&s, &adopted, aside, sizeof aside, &e), -ERR_BUSY);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_ANNOUNCE);
	ck_assert_int_eq(access(journal, F_OK), 0);
	/* a second writer waits for the first, and gives up */
	struct emergency_writer w2;
	ck_assert_int_eq(emergency_writer_open(state_dir, 100, &w2, &e), -ERR_BUSY);
	emergency_writer_close(&w);
	ck_assert_int_eq(site_emergency_adopt(&s, &adopted, aside, sizeof aside, &e), 1);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_WITHDRAW);
	emergency_journal_free(&adopted);
	site_close(&s);
}
END_TEST

START_TEST(test_adopt_unknown_service_and_safe_mode)
{
	struct site s;
	open_site(&s);
	write_command("c1", "drain", "emergency: alice", "gone", 1700000000000, MODE_WITHDRAW,
		      "mail", "web", EMERGENCY_APPLIED);
	struct emergency_journal adopted;
	char aside[512];
	struct err e;
	ck_assert_int_eq(site_emergency_adopt(&s, &adopted, aside, sizeof aside, &e), 1);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_WITHDRAW);
	ck_assert_ptr_null(state_find(s.state, "mail"));
	emergency_journal_free(&adopted);

	/* in safe mode the journal stays for later */
	write_command("c2", "undrain", "emergency: bob", "back", 1700000060000, MODE_ANNOUNCE,
		      "web", NULL, EMERGENCY_APPLIED);
	snprintf(s.safe_mode, sizeof s.safe_mode, "test");
	ck_assert_int_eq(site_emergency_adopt(&s, &adopted, aside, sizeof aside, &e),
			 -ERR_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(e.msg, EMERGENCY_JOURNAL));
	ck_assert_int_eq(access(journal, F_OK), 0);
	site_close(&s);
}
END_TEST

START_TEST(test_site_lock)
{
	int fd1 = -1, fd2 = -1;
	struct err e;
	ck_assert_msg(site_lock_take(state_dir, 0, &fd1, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(site_lock_take(state_dir, 100, &fd2, &e), -ERR_BUSY);
	ck_assert_int_eq(fd2, -1);
	char pid[32];
	snprintf(pid, sizeof pid, "process %ld", (long)getpid());
	ck_assert_msg(strstr(e.msg, pid), "%s", e.msg);
	close(fd1);
	ck_assert_msg(site_lock_take(state_dir, 0, &fd2, &e) == 0, "%s", e.msg);
	close(fd2);
	char missing[256];
	snprintf(missing, sizeof missing, "%s/nothing-here", tmpdir);
	ck_assert_int_eq(site_lock_take(missing, 0, &fd1, &e), -ERR_NOTFOUND);
	ck_assert_int_ne(access(missing, F_OK), 0);   /* nothing created */
}
END_TEST

/* A journal that is not a regular file (left by someone else, or by
 * mistake) is refused at once with a message that says what it is: a FIFO
 * is not waited on (its open would block until a reader comes), a
 * symbolic link is not followed. */
START_TEST(test_writer_refuses_odd_journal)
{
	struct emergency_writer w;
	struct err e;
	ck_assert_int_eq(mkfifo(journal, 0640), 0);
	ck_assert_int_eq(emergency_writer_open(state_dir, 0, &w, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, journal) && strstr(e.msg, "FIFO"), "%s", e.msg);
	ck_assert_int_eq(w.fd, -1);
	ck_assert_int_eq(w.lock_fd, -1);
	ck_assert_int_eq(unlink(journal), 0);

	char target[256];
	snprintf(target, sizeof target, "%s/elsewhere.jsonl", tmpdir);
	ck_assert_int_eq(symlink(target, journal), 0);
	ck_assert_int_eq(emergency_writer_open(state_dir, 0, &w, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "symbolic link") && strstr(e.msg, target), "%s", e.msg);
	ck_assert_int_ne(access(target, F_OK), 0);   /* nothing created through it */
	ck_assert_int_eq(unlink(journal), 0);

	/* the lock was dropped: a regular journal opens */
	ck_assert_msg(emergency_writer_open(state_dir, 0, &w, &e) == 0, "%s", e.msg);
	emergency_writer_close(&w);
}
END_TEST

static Suite *emergency_suite(void)
{
	Suite *s = suite_create("emergency");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write_read);
	tcase_add_test(tc, test_torn_last_line);
	tcase_add_test(tc, test_bad_records);
	tcase_add_test(tc, test_adoption_order);
	tcase_add_test(tc, test_adopt_waits_for_writer);
	tcase_add_test(tc, test_adopt_unknown_service_and_safe_mode);
	tcase_add_test(tc, test_site_lock);
	tcase_add_test(tc, test_writer_refuses_odd_journal);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(emergency_suite());
}
