/* Unit tests of the admission rules (routectl/api/admission.c): on the
 * console, caps per process, per uid and in all; on TCP, caps per remote
 * address and in all; who is evicted; deadlines that stop slowloris and idle
 * connections; connections being served are never touched; one log report
 * per uid (address) per interval. */
#include "api/admission.h"
#include "common/err.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Small numbers so that the tests can fill the table. */
static const struct admission_limits small = {
	.total = 8, .per_uid = 4, .per_pid = 3, .header_ms = 5000, .idle_ms = 10000,
	.log_ms = 10000,
};

static int next_fd;

/* Admits a connection and checks that nothing was evicted; returns its fd. */
static int admit_quiet(struct admission *a, uid_t uid, pid_t pid, int64_t now)
{
	int fd = next_fd++, ev;
	enum admission_why why;
	struct err e;
	ck_assert_int_eq(admission_admit(a, fd, uid, pid, now, &ev, &why, &e), 0);
	ck_assert_int_eq(ev, -1);
	return fd;
}

/* Admits a connection that must evict; returns the evicted fd. */
static int admit_evicting(struct admission *a, uid_t uid, pid_t pid, int64_t now,
			  enum admission_why want, int *newfd)
{
	int fd = next_fd++, ev;
	enum admission_why why;
	struct err e;
	ck_assert_int_eq(admission_admit(a, fd, uid, pid, now, &ev, &why, &e), 0);
	ck_assert_int_ne(ev, -1);
	ck_assert_int_eq(why, want);
	if (newfd)
		*newfd = fd;
	return ev;
}

static void setup(void)
{
	next_fd = 10;
}

START_TEST(new_rejects_zero_limits)
{
	struct admission_limits l = small;
	l.per_pid = 0;
	ck_assert_ptr_null(admission_new(&l));
	l = small;
	l.header_ms = 0;
	ck_assert_ptr_null(admission_new(&l));
	ck_assert_ptr_null(admission_new(NULL));
	struct admission *a = admission_new(&ADMISSION_CONSOLE_LIMITS);
	ck_assert_ptr_nonnull(a);
	admission_free(a);
}
END_TEST

START_TEST(console_limits_are_sane)
{
	const struct admission_limits *l = &ADMISSION_CONSOLE_LIMITS;
	ck_assert_uint_lt(l->per_pid, l->per_uid);
	ck_assert_uint_lt(l->per_uid, l->total);
	ck_assert_int_le(l->header_ms, l->idle_ms);
}
END_TEST

START_TEST(process_flood_evicts_its_own_oldest)
{
	struct admission *a = admission_new(&small);
	int first = admit_quiet(a, 1000, 50, 0);
	admit_quiet(a, 1000, 50, 1);
	admit_quiet(a, 1000, 50, 2);
	ck_assert_uint_eq(admission_count_pid(a, 50), 3);
	/* the fourth from the same process pushes out its first */
	int newfd;
	ck_assert_int_eq(admit_evicting(a, 1000, 50, 3, ADM_OVER_PID, &newfd), first);
	ck_assert(admission_find(a, first)->closing);
	ck_assert_uint_eq(admission_count_pid(a, 50), 3);
	/* an operator of the same uid, another process: room without eviction */
	admit_quiet(a, 1000, 51, 4);
	ck_assert_uint_eq(admission_count_uid(a, 1000), 4);
	admission_free(a);
}
END_TEST

START_TEST(uid_flood_evicts_its_own_not_others)
{
	struct admission *a = admission_new(&small);
	int other = admit_quiet(a, 2000, 70, 0);   /* older than the whole flood */
	int oldest = admit_quiet(a, 1000, 60, 1);
	admit_quiet(a, 1000, 61, 2);
	admit_quiet(a, 1000, 62, 3);
	admit_quiet(a, 1000, 63, 4);
	ck_assert_int_eq(admit_evicting(a, 1000, 64, 5, ADM_OVER_UID, NULL), oldest);
	ck_assert(!admission_find(a, other)->closing);
	ck_assert_uint_eq(admission_count_uid(a, 1000), 4);
	admission_free(a);
}
END_TEST

START_TEST(full_table_evicts_from_the_largest_uid)
{
	struct admission *a = admission_new(&small);
	/* uid 3000 holds the two oldest connections, uid 1000 holds four */
	int old3000 = admit_quiet(a, 3000, 80, 0);
	admit_quiet(a, 3000, 81, 1);
	int old1000 = admit_quiet(a, 1000, 60, 2);
	admit_quiet(a, 1000, 61, 3);
	admit_quiet(a, 1000, 62, 4);
	admit_quiet(a, 1000, 63, 5);
	admit_quiet(a, 2000, 70, 6);
	admit_quiet(a, 2000, 71, 7);
	ck_assert_uint_eq(admission_count(a), 8);
	/* an operator from a uid with no connection gets in */
	int newfd;
	ck_assert_int_eq(admit_evicting(a, 0, 1, 8, ADM_TABLE_FULL, &newfd), old1000);
	ck_assert(!admission_find(a, old3000)->closing);
	ck_assert_ptr_nonnull(admission_find(a, newfd));
	ck_assert_uint_eq(admission_count(a), 8);
	admission_free(a);
}
END_TEST

START_TEST(served_connections_are_never_evicted)
{
	struct admission *a = admission_new(&small);
	int s1 = admit_quiet(a, 1000, 50, 0);
	int s2 = admit_quiet(a, 1000, 50, 1);
	int w = admit_quiet(a, 1000, 50, 2);
	admission_headers_done(a, s1, 3);
	admission_serving(a, s1, 3);
	admission_serving(a, s2, 3);
	/* the only waiting one goes, although it is the youngest */
	ck_assert_int_eq(admit_evicting(a, 1000, 50, 4, ADM_OVER_PID, NULL), w);
	admission_closed(a, w);
	/* now all three of the process are being served: refused */
	int newest = next_fd - 1;
	admission_serving(a, newest, 5);
	int ev;
	enum admission_why why;
	struct err e;
	ck_assert_int_eq(admission_admit(a, 99, 1000, 50, 6, &ev, &why, &e), -ERR_REFUSED);
	ck_assert_int_eq(ev, -1);
	ck_assert_msg(strstr(e.msg, "uid 1000 pid 50") && strstr(e.msg, "per-process limit of 3"),
		      "%s", e.msg);
	ck_assert_ptr_null(admission_find(a, 99));
	/* served connections never time out here either */
	int fds[8];
	ck_assert_uint_eq(admission_expire(a, 1000000, fds, NULL, 8), 0);
	/* a refusal is reported */
	struct admission_report r[4];
	ck_assert_uint_eq(admission_take_report(a, 7, r, 4), 1);
	ck_assert_uint_eq(r[0].count[ADM_REFUSED], 1);
	ck_assert_uint_eq(r[0].count[ADM_OVER_PID], 1);
	admission_free(a);
}
END_TEST

START_TEST(slowloris_times_out_whatever_trickles_in)
{
	struct admission *a = admission_new(&small);
	int slow = admit_quiet(a, 1000, 50, 0);
	int quick = admit_quiet(a, 1000, 51, 100);
	for (int64_t t = 1000; t < 5000; t += 1000)
		admission_activity(a, slow, t);   /* a header byte a second */
	admission_headers_done(a, quick, 101);
	admission_serving(a, quick, 101);
	ck_assert_int_eq(admission_next_deadline_ms(a), 5000);
	int fds[4];
	enum admission_why whys[4];
	ck_assert_uint_eq(admission_expire(a, 4999, fds, whys, 4), 0);
	ck_assert_uint_eq(admission_expire(a, 5000, fds, whys, 4), 1);
	ck_assert_int_eq(fds[0], slow);
	ck_assert_int_eq(whys[0], ADM_HEADER_TIMEOUT);
	ck_assert(admission_find(a, slow)->closing);
	ck_assert_uint_eq(admission_count(a), 1);
	/* named once only */
	ck_assert_uint_eq(admission_expire(a, 9000, fds, whys, 4), 0);
	admission_closed(a, slow);
	ck_assert_ptr_null(admission_find(a, slow));
	ck_assert_int_eq(admission_next_deadline_ms(a), INT64_MAX);
	admission_free(a);
}
END_TEST

START_TEST(body_and_keepalive_deadlines)
{
	struct admission *a = admission_new(&small);
	int c = admit_quiet(a, 1000, 50, 0);
	/* headers in at 4 s: the body has 5 s from there */
	admission_headers_done(a, c, 4000);
	ck_assert_int_eq(admission_next_deadline_ms(a), 9000);
	admission_serving(a, c, 4500);
	ck_assert_int_eq(admission_next_deadline_ms(a), INT64_MAX);
	/* reply done: idle for up to 10 s */
	admission_request_done(a, c, 6000);
	ck_assert_uint_eq(admission_find(a, c)->requests, 1);
	ck_assert_int_eq(admission_next_deadline_ms(a), 16000);
	int fds[2];
	enum admission_why whys[2];
	ck_assert_uint_eq(admission_expire(a, 15999, fds, whys, 2), 0);
	ck_assert_uint_eq(admission_expire(a, 16000, fds, whys, 2), 1);
	ck_assert_int_eq(whys[0], ADM_IDLE_TIMEOUT);
	admission_free(a);
}
END_TEST

START_TEST(expire_returns_at_most_max)
{
	struct admission *a = admission_new(&small);
	for (int i = 0; i < 5; i++)
		admit_quiet(a, (uid_t)(1000 + i), 50 + i, 0);
	int fds[2];
	ck_assert_uint_eq(admission_expire(a, 6000, fds, NULL, 2), 2);
	ck_assert_uint_eq(admission_expire(a, 6000, fds, NULL, 2), 2);
	ck_assert_uint_eq(admission_expire(a, 6000, fds, NULL, 2), 1);
	ck_assert_uint_eq(admission_expire(a, 6000, fds, NULL, 2), 0);
	admission_free(a);
}
END_TEST

START_TEST(table_grows_past_its_first_allocation)
{
	struct admission_limits l = small;
	l.total = 1000;
	l.per_uid = 1000;
	l.per_pid = 1000;
	struct admission *a = admission_new(&l);
	for (int i = 0; i < 300; i++)
		admit_quiet(a, 1000, 50, i);
	ck_assert_uint_eq(admission_count(a), 300);
	ck_assert_int_eq(admission_find(a, 10 + 299)->accepted_ms, 299);
	admission_free(a);
}
END_TEST

START_TEST(reused_fd_replaces_a_stale_entry)
{
	struct admission *a = admission_new(&small);
	int ev;
	enum admission_why why;
	struct err e;
	ck_assert_int_eq(admission_admit(a, 7, 1000, 50, 0, &ev, &why, &e), 0);
	admission_serving(a, 7, 1);
	ck_assert_int_eq(admission_admit(a, 7, 2000, 60, 2, &ev, &why, &e), 0);
	ck_assert_uint_eq(admission_count(a), 1);
	ck_assert_int_eq(admission_find(a, 7)->uid, 2000);
	ck_assert(!admission_find(a, 7)->serving);
	admission_free(a);
}
END_TEST

START_TEST(one_report_per_uid_per_interval)
{
	struct admission *a = admission_new(&small);
	struct admission_report r[4];
	ck_assert_uint_eq(admission_take_report(a, 0, r, 4), 0);   /* nothing yet */
	/* a flood of one process: every admission after the third evicts */
	for (int i = 0; i < 20; i++)
		(void)(i < 3 ? admit_quiet(a, 1000, 50, i)
			     : admit_evicting(a, 1000, 50, i, ADM_OVER_PID, NULL));
	ck_assert_uint_eq(admission_take_report(a, 100, r, 4), 1);
	ck_assert_uint_eq(r[0].uid, 1000);
	ck_assert_int_eq(r[0].last_pid, 50);
	ck_assert_uint_eq(r[0].count[ADM_OVER_PID], 17);
	/* more evictions within the interval: not reported yet */
	for (int i = 0; i < 5; i++)
		admit_evicting(a, 1000, 50, 200 + i, ADM_OVER_PID, NULL);
	ck_assert_uint_eq(admission_take_report(a, 5000, r, 4), 0);
	ck_assert_uint_eq(admission_take_report(a, 10100, r, 4), 1);
	ck_assert_uint_eq(r[0].count[ADM_OVER_PID], 5);
	/* then nothing to say: nothing reported */
	ck_assert_uint_eq(admission_take_report(a, 30000, r, 4), 0);
	admission_free(a);
}
END_TEST

START_TEST(report_folds_uids_beyond_max)
{
	struct admission *a = admission_new(&small);
	int fds[8];
	for (int i = 0; i < 6; i++)
		admit_quiet(a, (uid_t)(1000 + i), 50 + i, 0);
	ck_assert_uint_eq(admission_expire(a, 5000, fds, NULL, 8), 6);
	struct admission_report r[3];
	ck_assert_uint_eq(admission_take_report(a, 5000, r, 3), 3);
	ck_assert_uint_eq(r[0].uid, 1000);
	ck_assert_uint_eq(r[2].uid, (uid_t)-1);
	ck_assert_uint_eq(r[2].count[ADM_HEADER_TIMEOUT], 4);
	admission_free(a);
}
END_TEST

START_TEST(shed_when_out_of_descriptors)
{
	struct admission *a = admission_new(&small);
	int served = admit_quiet(a, 3000, 80, 0);
	admission_serving(a, served, 1);
	int old2000 = admit_quiet(a, 2000, 70, 2);
	int old1000 = admit_quiet(a, 1000, 60, 3);
	int new1000 = admit_quiet(a, 1000, 61, 4);
	int fds[8];
	/* the uid with the most first, oldest first; never the served one */
	ck_assert_uint_eq(admission_shed(a, fds, 1), 1);
	ck_assert_int_eq(fds[0], old1000);
	ck_assert_uint_eq(admission_shed(a, fds, 8), 2);
	ck_assert(fds[0] == new1000 || fds[0] == old2000);
	ck_assert(fds[1] == new1000 || fds[1] == old2000);
	ck_assert_uint_eq(admission_shed(a, fds, 8), 0);
	ck_assert(!admission_find(a, served)->closing);
	struct admission_report r[4];
	size_t n = admission_take_report(a, 10, r, 4);
	unsigned total = 0;
	for (size_t i = 0; i < n; i++)
		total += r[i].count[ADM_NO_DESCRIPTORS];
	ck_assert_uint_eq(total, 3);
	admission_free(a);
}
END_TEST


/* ---- address tables (TCP listeners) ---- */

static const struct admission_limits small_tcp = {
	.total = 8, .per_address = 3, .header_ms = 5000, .idle_ms = 10000, .log_ms = 10000,
};

static struct admission_addr addr_of(const char *text)
{
	struct admission_addr a = { 0 };
	a.family = strchr(text, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(a.family, text, a.bytes), 1);
	return a;
}

static int admit_addr_quiet(struct admission *a, const char *text, int64_t now)
{
	int fd = next_fd++, ev;
	enum admission_why why;
	struct err e;
	struct admission_addr ad = addr_of(text);
	ck_assert_int_eq(admission_admit_address(a, fd, &ad, now, &ev, &why, &e), 0);
	ck_assert_int_eq(ev, -1);
	return fd;
}

static int admit_addr_evicting(struct admission *a, const char *text, int64_t now,
			       enum admission_why want, int *newfd)
{
	int fd = next_fd++, ev;
	enum admission_why why;
	struct err e;
	struct admission_addr ad = addr_of(text);
	ck_assert_int_eq(admission_admit_address(a, fd, &ad, now, &ev, &why, &e), 0);
	ck_assert_int_ne(ev, -1);
	ck_assert_int_eq(why, want);
	if (newfd)
		*newfd = fd;
	return ev;
}

START_TEST(table_kinds_do_not_mix)
{
	struct admission_limits both = small_tcp;
	both.per_uid = 4;
	both.per_pid = 3;
	ck_assert_ptr_null(admission_new(&both));
	struct admission_limits none = small_tcp;
	none.per_address = 0;
	ck_assert_ptr_null(admission_new(&none));

	struct admission *tcp = admission_new(&small_tcp);
	struct admission *con = admission_new(&small);
	ck_assert_ptr_nonnull(tcp);
	ck_assert_ptr_nonnull(con);
	int ev;
	enum admission_why why;
	struct err e;
	struct admission_addr ad = addr_of("127.0.0.1");
	ck_assert_int_eq(admission_admit(tcp, 5, 1000, 50, 0, &ev, &why, &e), -ERR_INVALID);
	ck_assert_int_eq(admission_admit_address(con, 5, &ad, 0, &ev, &why, &e), -ERR_INVALID);
	struct admission_addr unix_family = { .family = AF_UNIX };
	ck_assert_int_eq(admission_admit_address(tcp, 5, &unix_family, 0, &ev, &why, &e),
			 -ERR_INVALID);
	ck_assert_uint_eq(admission_count(tcp), 0);
	ck_assert_uint_eq(admission_count(con), 0);
	admission_free(tcp);
	admission_free(con);
}
END_TEST

START_TEST(address_flood_evicts_its_own_oldest)
{
	struct admission *a = admission_new(&small_tcp);
	int other = admit_addr_quiet(a, "::1", 0);          /* older than the whole flood */
	int first = admit_addr_quiet(a, "127.0.0.1", 1);
	int second = admit_addr_quiet(a, "127.0.0.1", 2);
	admit_addr_quiet(a, "127.0.0.1", 3);
	struct admission_addr lo = addr_of("127.0.0.1"), lo6 = addr_of("::1");
	ck_assert_uint_eq(admission_count_address(a, &lo), 3);
	ck_assert_uint_eq(admission_count_address(a, &lo6), 1);
	/* the fourth from 127.0.0.1 pushes out that address's oldest */
	int newfd;
	ck_assert_int_eq(admit_addr_evicting(a, "127.0.0.1", 4, ADM_OVER_ADDRESS, &newfd),
			 first);
	ck_assert(admission_find(a, first)->closing);
	ck_assert(!admission_find(a, other)->closing);
	ck_assert_uint_eq(admission_count_address(a, &lo), 3);
	/* the next one, the then oldest: one being served is passed over */
	admission_serving(a, second, 5);
	int third = next_fd - 2;
	ck_assert_int_eq(admit_addr_evicting(a, "127.0.0.1", 6, ADM_OVER_ADDRESS, NULL), third);
	/* another address on the same host part is its own peer */
	admit_addr_quiet(a, "127.0.0.2", 7);
	ck_assert_uint_eq(admission_count(a), 5);
	ck_assert_int_eq(admission_find(a, newfd)->addr.family, AF_INET);
	admission_free(a);
}
END_TEST

START_TEST(full_address_table_evicts_from_the_largest_address)
{
	struct admission *a = admission_new(&small_tcp);
	int old1 = admit_addr_quiet(a, "192.0.2.1", 0);
	admit_addr_quiet(a, "192.0.2.1", 1);
	int old2 = admit_addr_quiet(a, "2001:db8::2", 2);
	admit_addr_quiet(a, "2001:db8::2", 3);
	admit_addr_quiet(a, "2001:db8::2", 4);
	admit_addr_quiet(a, "192.0.2.3", 5);
	admit_addr_quiet(a, "192.0.2.3", 6);
	admit_addr_quiet(a, "192.0.2.4", 7);
	ck_assert_uint_eq(admission_count(a), 8);
	/* a newcomer from an address with no connection gets in, at the cost
	 * of the oldest connection of the address holding the most */
	int newfd;
	ck_assert_int_eq(admit_addr_evicting(a, "198.51.100.9", 8, ADM_TABLE_FULL, &newfd),
			 old2);
	ck_assert(!admission_find(a, old1)->closing);
	ck_assert_ptr_nonnull(admission_find(a, newfd));
	ck_assert_uint_eq(admission_count(a), 8);
	admission_free(a);
}
END_TEST

START_TEST(address_refused_when_all_its_connections_are_served)
{
	struct admission *a = admission_new(&small_tcp);
	for (int i = 0; i < 3; i++)
		admission_serving(a, admit_addr_quiet(a, "2001:db8::7", i), i);
	int ev;
	enum admission_why why;
	struct err e;
	struct admission_addr ad = addr_of("2001:db8::7");
	ck_assert_int_eq(admission_admit_address(a, 99, &ad, 10, &ev, &why, &e), -ERR_REFUSED);
	ck_assert_int_eq(ev, -1);
	ck_assert_msg(strstr(e.msg, "2001:db8::7") && strstr(e.msg, "per-address limit of 3"),
		      "%s", e.msg);
	ck_assert_ptr_null(admission_find(a, 99));
	/* other addresses still get in */
	admit_addr_quiet(a, "2001:db8::8", 11);
	admission_free(a);
}
END_TEST

START_TEST(address_deadlines_and_reports)
{
	struct admission *a = admission_new(&small_tcp);
	int slow = admit_addr_quiet(a, "10.0.0.1", 0);
	for (int i = 0; i < 3; i++)
		admit_addr_quiet(a, "10.0.0.2", 1 + i);
	admit_addr_evicting(a, "10.0.0.2", 4, ADM_OVER_ADDRESS, NULL);
	admit_addr_evicting(a, "10.0.0.2", 5, ADM_OVER_ADDRESS, NULL);
	/* the slowloris of 10.0.0.1 is closed at the header deadline */
	int fds[8];
	enum admission_why whys[8];
	size_t n = admission_expire(a, 5000, fds, whys, 8);
	ck_assert_uint_ge(n, 1);
	ck_assert_int_eq(fds[0], slow);
	ck_assert_int_eq(whys[0], ADM_HEADER_TIMEOUT);
	/* one report per address */
	struct admission_report r[4];
	ck_assert_uint_eq(admission_take_report(a, 5000, r, 4), 2);
	char t0[INET6_ADDRSTRLEN], t1[INET6_ADDRSTRLEN];
	admission_addr_format(&r[0].addr, t0, sizeof t0);
	admission_addr_format(&r[1].addr, t1, sizeof t1);
	const struct admission_report *r1 = strcmp(t0, "10.0.0.1") == 0 ? &r[0] : &r[1];
	const struct admission_report *r2 = r1 == &r[0] ? &r[1] : &r[0];
	ck_assert_str_eq(r1 == &r[0] ? t0 : t1, "10.0.0.1");
	ck_assert_str_eq(r2 == &r[0] ? t0 : t1, "10.0.0.2");
	ck_assert_uint_eq(r1->count[ADM_HEADER_TIMEOUT], 1);
	ck_assert_uint_eq(r2->count[ADM_OVER_ADDRESS], 2);
	admission_free(a);
}
END_TEST

START_TEST(address_format)
{
	char t[INET6_ADDRSTRLEN];
	struct admission_addr v6 = addr_of("2001:db8::1");
	admission_addr_format(&v6, t, sizeof t);
	ck_assert_str_eq(t, "2001:db8::1");
	struct admission_addr none = { 0 };
	admission_addr_format(&none, t, sizeof t);
	ck_assert_str_eq(t, "?");
}
END_TEST

static Suite *admission_suite(void)
{
	Suite *s = suite_create("admission");
	TCase *t = tcase_create("rules");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, new_rejects_zero_limits);
	tcase_add_test(t, console_limits_are_sane);
	tcase_add_test(t, process_flood_evicts_its_own_oldest);
	tcase_add_test(t, uid_flood_evicts_its_own_not_others);
	tcase_add_test(t, full_table_evicts_from_the_largest_uid);
	tcase_add_test(t, served_connections_are_never_evicted);
	tcase_add_test(t, slowloris_times_out_whatever_trickles_in);
	tcase_add_test(t, body_and_keepalive_deadlines);
	tcase_add_test(t, expire_returns_at_most_max);
	tcase_add_test(t, table_grows_past_its_first_allocation);
	tcase_add_test(t, reused_fd_replaces_a_stale_entry);
	tcase_add_test(t, one_report_per_uid_per_interval);
	tcase_add_test(t, report_folds_uids_beyond_max);
	tcase_add_test(t, shed_when_out_of_descriptors);
	suite_add_tcase(s, t);
	TCase *tcp = tcase_create("address");
	tcase_add_checked_fixture(tcp, setup, NULL);
	tcase_add_test(tcp, table_kinds_do_not_mix);
	tcase_add_test(tcp, address_flood_evicts_its_own_oldest);
	tcase_add_test(tcp, full_address_table_evicts_from_the_largest_address);
	tcase_add_test(tcp, address_refused_when_all_its_connections_are_served);
	tcase_add_test(tcp, address_deadlines_and_reports);
	tcase_add_test(tcp, address_format);
	suite_add_tcase(s, tcp);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(admission_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
