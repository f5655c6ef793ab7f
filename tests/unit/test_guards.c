/* Unit tests of the guards across sites and the flap budget (site/guards.h),
 * through the site controller with hand-built views of the other sites.
 * There is no BIRD (the connection is NULL): a change that passes the
 * guards fails at BIRD with -ERR_CONNECT, one that a guard refuses fails
 * with -ERR_POLICY before BIRD, and a dry run reports every verdict. */
#include "common/err.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "site/guards.h"
#include "site/site.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char tmpdir[64];

/* ---- a hand-built fleet view --------------------------------------------- */

struct fake_site {
	const char *name;
	int reachable;
	const char *why;
	const char *web, *dns;     /* "announce", "prepend", "withdraw"; NULL: not configured */
};

static struct fake_site fake[4];
static size_t n_fake;
static int fake_calls;
static char fake_except[64];
static unsigned fake_timeout;
static const char *fake_error;     /* the hook fails with this */

static void add_service(struct guard_view_site *vs, const char *name, const char *mode)
{
	if (!mode)
		return;
	struct guard_view_service *sv = &vs->services[vs->n_services++];
	snprintf(sv->name, sizeof sv->name, "%s", name);
	ck_assert_int_eq(svc_mode_parse(mode, &sv->mode), 0);
	sv->prepend = sv->mode == MODE_PREPEND ? 3 : 0;
}

static int fake_view(void *arg, const char *except_site, unsigned timeout_ms,
		     struct guard_view *out, struct err *e)
{
	ck_assert_ptr_eq(arg, &fake);
	fake_calls++;
	snprintf(fake_except, sizeof fake_except, "%s", except_site);
	fake_timeout = timeout_ms;
	if (fake_error)
		return err_set(e, ERR_INVALID, "%s", fake_error);
	out->sites = calloc(n_fake + 1, sizeof *out->sites);
	ck_assert_ptr_nonnull(out->sites);
	for (size_t i = 0; i < n_fake; i++) {
		struct guard_view_site *vs = &out->sites[i];
		snprintf(vs->name, sizeof vs->name, "%s", fake[i].name);
		vs->reachable = fake[i].reachable;
		snprintf(vs->why, sizeof vs->why, "%s", fake[i].why ? fake[i].why : "");
		vs->services = calloc(2, sizeof *vs->services);
		ck_assert_ptr_nonnull(vs->services);
		if (vs->reachable) {
			add_service(vs, "web", fake[i].web);
			add_service(vs, "dns", fake[i].dns);
		}
		out->n_sites++;
	}
	return 0;
}

static void fleet(size_t n, const struct fake_site *sites)
{
	n_fake = n;
	memcpy(fake, sites, n * sizeof *sites);
}

/* ---- the site ------------------------------------------------------------ */

static void open_site(struct site *s)
{
	char path[128];
	tu_write_site_config(tmpdir);
	snprintf(path, sizeof path, "%s/routectld.json", tmpdir);
	struct err e;
	ck_assert_msg(site_open(s, path, &e) == 0, "site_open: %s", e.msg);
	s->fleet_view = fake_view;
	s->fleet_arg = &fake;
}

static void setup(void)
{
	tu_make_tmpdir(tmpdir, sizeof tmpdir, "test_guards");
	n_fake = 0;
	fake_calls = 0;
	fake_error = NULL;
	fake_except[0] = '\0';
}

static void teardown(void)
{
	tu_remove_tree(tmpdir);
}

static const char *web_only[] = { "web" };

static struct change_request req_of(enum change_kind kind, int now, int dry_run, int force)
{
	struct change_request req = { 0 };
	req.kind = kind;
	req.site = "ash";
	req.services = web_only;
	req.n_services = 1;
	req.reason = "test";
	req.now = now;
	req.dry_run = dry_run;
	req.force = force;
	return req;
}

static const struct caller who = { .actor = "alice (uid 1000) via console" };

/* Runs req; returns site_change's rc, with res kept for the caller. */
static int run(struct site *s, const struct change_request *req, struct change_result *res,
	       struct err *e)
{
	err_clear(e);
	return site_change(s, NULL, req, &who, res, e);
}

static void assert_has(const char *text, const char *part)
{
	ck_assert_msg(strstr(text, part) != NULL, "'%s' not in: %s", part, text);
}

/* ---- last site ------------------------------------------------------------- */

START_TEST(last_site_refused_names_service_and_sites)
{
	struct site s;
	open_site(&s);
	fleet(2, (struct fake_site[]){ { "chi", 1, NULL, "withdraw", "announce" },
				       { "sea", 1, NULL, "withdraw", "announce" } });
	s.policy.max_drained_sites = 10;   /* only the last-site guard speaks */
	char *st0 = tu_read_file(tmpdir, "state/state.json");
	struct change_request req = req_of(CHANGE_DRAIN, 1, 0, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), -ERR_POLICY);
	assert_has(e.msg, "last-site");
	assert_has(e.msg, "service web would be announced from no site");
	assert_has(e.msg, "ash (this site) withdraw");
	assert_has(e.msg, "chi withdraw");
	assert_has(e.msg, "sea withdraw");
	ck_assert_int_eq(res.guards.judged, 1);
	ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_REFUSED);
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_PASS);
	ck_assert_int_eq(fake_calls, 1);
	ck_assert_str_eq(fake_except, "ash");
	ck_assert_uint_eq(fake_timeout, s.policy.ask_timeout_ms);
	/* nothing changed: not in memory, not on disk */
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_ANNOUNCE);
	char *st1 = tu_read_file(tmpdir, "state/state.json");
	ck_assert_str_eq(st0, st1);
	free(st0);
	free(st1);
	change_result_free(&res);
	site_close(&s);
}
END_TEST

/* Another site that announces, even prepended, keeps the service on the
 * internet: the change passes the guards (and fails at BIRD here). */
START_TEST(last_site_passes_when_another_site_announces)
{
	static const char *const modes[] = { "announce", "prepend" };
	for (size_t i = 0; i < 2; i++) {
		struct site s;
		open_site(&s);
		fleet(2, (struct fake_site[]){ { "chi", 1, NULL, modes[i], "announce" },
					       { "sea", 1, NULL, "announce", "announce" } });
		struct change_request req = req_of(CHANGE_DRAIN, 1, 0, 0);
		struct change_result res;
		struct err e;
		ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s: %s", modes[i], e.msg);
		req.dry_run = 1;
		ck_assert_int_eq(run(&s, &req, &res, &e), 0);
		ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_PASS);
		change_result_free(&res);
		site_close(&s);
	}
}
END_TEST

/* A staged drain is judged as the withdraw it leads to: its later step is
 * not judged again. A prepend alone leaves the service announced. */
START_TEST(staged_drain_judged_as_its_withdraw)
{
	struct site s;
	open_site(&s);
	fleet(1, (struct fake_site[]){ { "chi", 1, NULL, "withdraw", "withdraw" } });
	struct change_request req = req_of(CHANGE_DRAIN, 0, 0, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), -ERR_POLICY);
	assert_has(e.msg, "service web would be announced from no site");
	change_result_free(&res);

	struct change_request set = req_of(CHANGE_SET, 1, 0, 0);
	set.mode = MODE_PREPEND;
	set.prepend = 2;
	ck_assert_msg(run(&s, &set, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	site_close(&s);
}
END_TEST

/* Unreachable sites are not taken to announce. */
START_TEST(last_site_does_not_count_unreachable_sites)
{
	struct site s;
	open_site(&s);
	fleet(2, (struct fake_site[]){ { "chi", 1, NULL, "withdraw", "announce" },
				       { "sea", 0, "connection refused", NULL, NULL } });
	s.policy.max_drained_sites = 10;
	struct change_request req = req_of(CHANGE_DRAIN, 1, 1, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_REFUSED);
	assert_has(res.guards.g[GUARD_LAST_SITE].message, "sea not reachable");
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_REFUSED);
	change_result_free(&res);
	site_close(&s);
}
END_TEST

START_TEST(last_site_can_be_turned_off)
{
	struct site s;
	open_site(&s);
	fleet(1, (struct fake_site[]){ { "chi", 1, NULL, "withdraw", "withdraw" } });
	s.policy.guard_last_site = 0;
	s.policy.max_drained_sites = 2;
	struct change_request req = req_of(CHANGE_DRAIN, 1, 0, 0);
	struct change_result res;
	struct err e;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	req.dry_run = 1;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_SKIPPED);
	change_result_free(&res);
	site_close(&s);
}
END_TEST

/* ---- sites withdrawn at once ----------------------------------------------------- */

START_TEST(max_drained_sites_counts_this_site)
{
	struct site s;
	open_site(&s);
	fleet(3, (struct fake_site[]){ { "chi", 1, NULL, "withdraw", "announce" },
				       { "sea", 1, NULL, "announce", "announce" },
				       { "lax", 1, NULL, "withdraw", "withdraw" } });
	s.policy.max_drained_sites = 2;
	struct change_request req = req_of(CHANGE_DRAIN, 1, 0, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), -ERR_POLICY);
	assert_has(e.msg, "max-drained-sites");
	assert_has(e.msg, "service web would be withdrawn at 3 sites at once");
	assert_has(e.msg, "ash (this site, after this change), chi, lax");
	assert_has(e.msg, "the policy allows 2");
	ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_PASS);
	ck_assert_int_eq(res.guards.g[GUARD_MAX_DRAINED].verdict, GUARD_REFUSED);
	change_result_free(&res);

	/* K = 3 lets it through; dns (withdrawn at lax only) is fine with K = 2 */
	s.policy.max_drained_sites = 3;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	s.policy.max_drained_sites = 2;
	const char *dns[] = { "dns" };
	req.services = dns;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	site_close(&s);
}
END_TEST

/* ---- sites that cannot be asked ------------------------------------------------- */

START_TEST(unreachable_refused_unless_forced)
{
	struct site s;
	open_site(&s);
	fleet(2, (struct fake_site[]){ { "chi", 1, NULL, "announce", "announce" },
				       { "sea", 0, "router sea-r1: connection refused", NULL, NULL } });
	struct change_request req = req_of(CHANGE_DRAIN, 1, 0, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), -ERR_POLICY);
	assert_has(e.msg, "refused by guard unreachable: cannot ask site sea "
			  "(router sea-r1: connection refused)");
	assert_has(e.msg, "override (routectl --force, or \"force\": true over the API)");
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_REFUSED);
	change_result_free(&res);

	req.force = 1;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	req.dry_run = 1;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_OVERRIDDEN);
	assert_has(res.guards.g[GUARD_UNREACHABLE].message, "sea");
	ck_assert_int_eq(guards_overridden(&res.guards), 1);
	change_result_free(&res);
	site_close(&s);
}
END_TEST

START_TEST(no_view_is_refused_unless_forced)
{
	struct site s;
	open_site(&s);
	/* the hook cannot make a view at all */
	fake_error = "fleet /etc/routectl/fleet.json: no such file";
	struct change_request req = req_of(CHANGE_DRAIN, 1, 1, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_REFUSED);
	assert_has(res.guards.g[GUARD_UNREACHABLE].message, "fleet.json: no such file");
	ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_SKIPPED);
	ck_assert_int_eq(res.guards.g[GUARD_MAX_DRAINED].verdict, GUARD_SKIPPED);
	change_result_free(&res);

	/* no fleet at all */
	s.fleet_view = NULL;
	req.dry_run = 0;
	ck_assert_int_eq(run(&s, &req, &res, &e), -ERR_POLICY);
	assert_has(e.msg, "no fleet document is configured");
	change_result_free(&res);
	req.force = 1;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);

	/* a policy that lets this routectld stand alone skips them */
	req.force = 0;
	s.policy.stand_alone = 1;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	req.dry_run = 1;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_SKIPPED);
	assert_has(res.guards.g[GUARD_UNREACHABLE].message, "stand alone");
	ck_assert_int_eq(res.guards.g[GUARD_FLAP_BUDGET].verdict, GUARD_PASS);
	change_result_free(&res);
	site_close(&s);
}
END_TEST

/* An undrain gives announcements back: the other sites are not asked. */
START_TEST(undrain_does_not_ask_the_fleet)
{
	struct site s;
	open_site(&s);
	state_find(s.state, "web")->mode = MODE_WITHDRAW;
	fleet(1, (struct fake_site[]){ { "chi", 0, "timeout", NULL, NULL } });
	struct change_request req = req_of(CHANGE_UNDRAIN, 0, 1, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(fake_calls, 0);
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_SKIPPED);
	assert_has(res.guards.g[GUARD_UNREACHABLE].message, "takes no announcement away");
	change_result_free(&res);
	req.dry_run = 0;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	ck_assert_int_eq(fake_calls, 0);
	site_close(&s);
}
END_TEST

/* A dry run reports all four verdicts in order and changes nothing, also
 * when a guard would refuse. */
START_TEST(dry_run_reports_every_verdict)
{
	struct site s;
	open_site(&s);
	fleet(1, (struct fake_site[]){ { "chi", 1, NULL, "withdraw", "announce" } });
	struct change_request req = req_of(CHANGE_DRAIN, 1, 1, 0);
	struct change_result res;
	struct err e;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.judged, 1);
	ck_assert_str_eq(guard_name(GUARD_LAST_SITE), "last-site");
	ck_assert_str_eq(guard_name(GUARD_MAX_DRAINED), "max-drained-sites");
	ck_assert_str_eq(guard_name(GUARD_UNREACHABLE), "unreachable");
	ck_assert_str_eq(guard_name(GUARD_FLAP_BUDGET), "flap-budget");
	ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_REFUSED);
	ck_assert_int_eq(res.guards.g[GUARD_MAX_DRAINED].verdict, GUARD_REFUSED);
	ck_assert_int_eq(res.guards.g[GUARD_UNREACHABLE].verdict, GUARD_PASS);
	ck_assert_int_eq(res.guards.g[GUARD_FLAP_BUDGET].verdict, GUARD_PASS);
	for (size_t i = 0; i < GUARD_COUNT; i++)
		ck_assert_msg(res.guards.g[i].message[0], "guard %zu without a message", i);
	ck_assert_str_eq(guard_verdict_name(GUARD_REFUSED), "refused");
	ck_assert_ptr_nonnull(res.diff);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_ANNOUNCE);
	change_result_free(&res);

	/* forced: the same guards overridden */
	req.force = 1;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.g[GUARD_LAST_SITE].verdict, GUARD_OVERRIDDEN);
	ck_assert_int_eq(res.guards.g[GUARD_MAX_DRAINED].verdict, GUARD_OVERRIDDEN);
	ck_assert_str_eq(guard_verdict_name(GUARD_OVERRIDDEN), "overridden");
	change_result_free(&res);
	site_close(&s);
}
END_TEST

/* ---- the flap budget ---------------------------------------------------------- */

static void add_recent(struct state *st, const char *svc, const char *id, time_t at)
{
	ck_assert_int_eq(svc_recent_add(state_find(st, svc), id, at, 0, STATE_RECENT_MAX), 0);
}

START_TEST(flap_budget_holds_down_until_the_oldest_leaves)
{
	struct site s;
	open_site(&s);
	fleet(1, (struct fake_site[]){ { "chi", 1, NULL, "announce", "announce" } });
	s.policy.flap_changes = 3;
	s.policy.flap_window_s = 600;
	time_t now = time(NULL);
	add_recent(s.state, "web", "old", now - 700);     /* out of the window */
	add_recent(s.state, "web", "c1", now - 500);
	add_recent(s.state, "web", "c2", now - 100);
	struct change_request req = req_of(CHANGE_DRAIN, 1, 0, 0);
	struct change_result res;
	struct err e;
	/* two in the window: a third change fits */
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	add_recent(s.state, "web", "c3", now - 50);
	ck_assert_int_eq(run(&s, &req, &res, &e), -ERR_POLICY);
	assert_has(e.msg, "refused by guard flap-budget: service web changed 3 times at site "
			  "ash within the last 600 s");
	char until[40], want[80];
	time_format_utc(now - 500 + 600, until, sizeof until);
	snprintf(want, sizeof want, "held down until %s", until);
	assert_has(e.msg, want);
	ck_assert_int_eq(res.guards.g[GUARD_FLAP_BUDGET].verdict, GUARD_REFUSED);
	change_result_free(&res);

	/* another service has its own budget; force overrides */
	const char *dns[] = { "dns" };
	req.services = dns;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	req.services = web_only;
	req.force = 1;
	ck_assert_msg(run(&s, &req, &res, &e) == -ERR_CONNECT, "%s", e.msg);
	req.dry_run = 1;
	ck_assert_int_eq(run(&s, &req, &res, &e), 0);
	ck_assert_int_eq(res.guards.g[GUARD_FLAP_BUDGET].verdict, GUARD_OVERRIDDEN);
	change_result_free(&res);
	site_close(&s);
}
END_TEST

/* The recent changes: bounded, pruned, kept across a save and a load, and
 * kept by the staged steps' svc_state_set. */
START_TEST(recent_changes_persist_bounded)
{
	struct site s;
	open_site(&s);
	struct svc_state *web = state_find(s.state, "web");
	time_t now = time(NULL);
	for (int i = 0; i < 5; i++) {
		char id[17];
		snprintf(id, sizeof id, "c%d", i);
		ck_assert_int_eq(svc_recent_add(web, id, now - 100 + i, now - 1000, 3), 0);
	}
	ck_assert_uint_eq(web->n_recent, 3);
	ck_assert_str_eq(web->recent[0].change_id, "c2");
	ck_assert_str_eq(web->recent[2].change_id, "c4");
	/* older than the window: dropped */
	ck_assert_int_eq(svc_recent_add(web, "c5", now, now - 98, 3), 0);
	ck_assert_uint_eq(web->n_recent, 3);
	ck_assert_str_eq(web->recent[0].change_id, "c3");
	ck_assert_int_eq(svc_state_set(web, MODE_PREPEND, 3, "routectld (staged)", "r", "s1", now),
			 0);
	ck_assert_uint_eq(web->n_recent, 3);

	struct err e;
	char path[128];
	snprintf(path, sizeof path, "%s/state/state.json", tmpdir);
	ck_assert_msg(state_save(path, s.state, &e) == 0, "%s", e.msg);
	struct state *back = NULL;
	ck_assert_msg(state_load(path, &back, &e) == 0, "%s", e.msg);
	struct svc_state *bw = state_find(back, "web");
	ck_assert_uint_eq(bw->n_recent, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(bw->recent[i].change_id, web->recent[i].change_id);
		ck_assert_int_eq(bw->recent[i].at, web->recent[i].at);
	}
	struct state *dup = state_dup(back);
	ck_assert_uint_eq(state_find(dup, "web")->n_recent, 3);
	state_free(dup);
	state_free(back);

	/* a state file with two entries of one change does not load */
	char *text = NULL;
	ck_assert_msg(fs_read_file(path, 1 << 20, &text, NULL, &e) == 0, "%s", e.msg);
	const char *c4 = strstr(text, "\"change-id\": \"c4\"");
	ck_assert_ptr_nonnull(c4);
	size_t at = (size_t)(c4 - text) + strlen("\"change-id\": \"c");
	text[at] = '3';
	ck_assert_int_eq(state_parse(text, "dup", &back, &e), -ERR_INVALID);
	free(text);
	site_close(&s);
}
END_TEST

START_TEST(takes_away)
{
	ck_assert(guard_takes_away(MODE_ANNOUNCE, 0, MODE_WITHDRAW, 0));
	ck_assert(guard_takes_away(MODE_PREPEND, 3, MODE_WITHDRAW, 0));
	ck_assert(guard_takes_away(MODE_ANNOUNCE, 0, MODE_PREPEND, 1));
	ck_assert(guard_takes_away(MODE_PREPEND, 1, MODE_PREPEND, 2));
	ck_assert(!guard_takes_away(MODE_PREPEND, 2, MODE_PREPEND, 1));
	ck_assert(!guard_takes_away(MODE_WITHDRAW, 0, MODE_PREPEND, 3));
	ck_assert(!guard_takes_away(MODE_WITHDRAW, 0, MODE_WITHDRAW, 0));
	ck_assert(!guard_takes_away(MODE_PREPEND, 3, MODE_ANNOUNCE, 0));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("guards");
	TCase *tc = tcase_create("guards");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, last_site_refused_names_service_and_sites);
	tcase_add_test(tc, last_site_passes_when_another_site_announces);
	tcase_add_test(tc, staged_drain_judged_as_its_withdraw);
	tcase_add_test(tc, last_site_does_not_count_unreachable_sites);
	tcase_add_test(tc, last_site_can_be_turned_off);
	tcase_add_test(tc, max_drained_sites_counts_this_site);
	tcase_add_test(tc, unreachable_refused_unless_forced);
	tcase_add_test(tc, no_view_is_refused_unless_forced);
	tcase_add_test(tc, undrain_does_not_ask_the_fleet);
	tcase_add_test(tc, dry_run_reports_every_verdict);
	tcase_add_test(tc, flap_budget_holds_down_until_the_oldest_leaves);
	tcase_add_test(tc, recent_changes_persist_bounded);
	tcase_add_test(tc, takes_away);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(suite());
}
