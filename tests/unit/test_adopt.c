/* Unit tests of routectl/site/adopt: deriving the desired state from what
 * BIRD exports, over made-up exports (no BIRD, no sockets). */
#include "bird/bird.h"
#include "common/err.h"
#include "conf/conf.h"
#include "site/adopt.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char conf_json[] =
	"{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": 65001,"
	" \"bird\": {\"control-socket\": \"/run/bird/bird.ctl\", \"include\": \"/etc/bird/routectl.conf\"},"
	" \"state-dir\": \"/var/lib/routectl\", \"console\": {\"socket\": \"/run/routectl/routectld.sock\"},"
	" \"service\": ["
	"  {\"name\": \"web\", \"ipv4-prefix\": [\"192.0.2.0/24\"], \"ipv6-prefix\": [\"2001:db8:1::/48\"]},"
	"  {\"name\": \"dns\", \"ipv4-prefix\": [\"198.51.100.0/24\"], \"ipv6-prefix\": [\"2001:db8:2::/48\"]},"
	"  {\"name\": \"api\", \"ipv6-prefix\": [\"2001:db8:3::/48\"]}]}}";

static struct conf *conf;

static void setup(void)
{
	struct err e = { 0 };
	ck_assert_msg(conf_parse(conf_json, "test", &conf, &e) == 0, "%s", e.msg);
}

static void teardown(void)
{
	conf_free(conf);
	conf = NULL;
}

/* A view built from lists: "PREFIX" is a route of routectl_v4/v6 that the
 * function rejects; "PREFIX LEN RUN" is also accepted with that AS path. */
struct view_builder {
	struct bird_export routes[32], accepted[32];
	struct adopt_bird_view v;
};

static int cmp(const void *a, const void *b)
{
	return prefix_cmp(&((const struct bird_export *)a)->prefix,
			  &((const struct bird_export *)b)->prefix);
}

static struct adopt_bird_view *build(struct view_builder *b, const char *const *spec)
{
	memset(b, 0, sizeof *b);
	for (size_t i = 0; spec[i]; i++) {
		char pfx[64];
		unsigned len = 0, run = 0;
		int n = sscanf(spec[i], "%63s %u %u", pfx, &len, &run);
		struct bird_export x = { 0 };
		ck_assert_msg(prefix_parse(pfx, &x.prefix, NULL, 0) == 0, "%s", pfx);
		x.path_len = len;
		x.first_asn_run = run;
		b->routes[b->v.n_routes++] = x;
		if (n == 3)
			b->accepted[b->v.n_accepted++] = x;
	}
	qsort(b->routes, b->v.n_routes, sizeof b->routes[0], cmp);
	qsort(b->accepted, b->v.n_accepted, sizeof b->accepted[0], cmp);
	b->v.routes = b->routes;
	b->v.accepted = b->accepted;
	return &b->v;
}

static const struct adopt_item *item(const struct adopt_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].service, name) == 0)
			return &p->items[i];
	ck_abort_msg("no item %s", name);
	return NULL;
}

/* A refusal: -ERR_REFUSED, nothing returned, and each want in the message. */
static void expect_refused(const struct adopt_bird_view *v, const struct adopt_assumption *a,
			   size_t na, int force, const char *const *want)
{
	struct adopt_plan p;
	struct err e;
	err_clear(&e);
	int rc = adopt_derive(conf, v, a, na, force, &p, &e);
	ck_assert_msg(rc == -ERR_REFUSED, "rc %d: %s", rc, e.msg);
	ck_assert_ptr_null(p.items);
	ck_assert_uint_eq(p.n, 0);
	for (size_t i = 0; want[i]; i++)
		ck_assert_msg(strstr(e.msg, want[i]), "message lacks \"%s\":\n%s", want[i], e.msg);
}

START_TEST(test_clear_modes)
{
	struct view_builder b;
	static const char *const spec[] = {
		"192.0.2.0/24", "2001:db8:1::/48",                    /* web: rejected */
		"198.51.100.0/24 3 3", "2001:db8:2::/48 3 3",         /* dns: prepend 3 */
		"2001:db8:3::/48 0 0",                                /* api: announce */
		"240.0.0.1/32", "100::1/128",                         /* sentinels */
		NULL,
	};
	struct adopt_plan p;
	struct err e = { 0 };
	ck_assert_int_eq(adopt_derive(conf, build(&b, spec), NULL, 0, 0, &p, &e), 0);
	ck_assert_uint_eq(p.n, 3);
	ck_assert_int_eq(item(&p, "web")->mode, MODE_WITHDRAW);
	ck_assert_int_eq(item(&p, "web")->source, ADOPT_FROM_BIRD);
	ck_assert_int_eq(item(&p, "dns")->mode, MODE_PREPEND);
	ck_assert_uint_eq(item(&p, "dns")->prepend, 3);
	ck_assert_int_eq(item(&p, "api")->mode, MODE_ANNOUNCE);
	ck_assert_str_eq(p.warnings, "");

	struct state *st = adopt_state(conf, &p, 8, "alice (uid 1000) via console",
				       "state file lost", "00000000000000aa", 1700000000);
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->site, "ash");
	ck_assert_uint_eq(st->generation, 8);
	ck_assert_uint_eq(st->n, 3);
	const struct svc_state *w = state_find(st, "web");
	ck_assert_int_eq(w->mode, MODE_WITHDRAW);
	ck_assert_str_eq(w->actor, "alice (uid 1000) via console");
	ck_assert_str_eq(w->reason, "state file lost");
	ck_assert_str_eq(w->change_id, "00000000000000aa");
	ck_assert_int_eq(w->has_next, 0);
	ck_assert_uint_eq(state_find(st, "dns")->prepend, 3);
	/* What adopt saves is a state the daemon loads. */
	char *json = NULL;
	struct state *back = NULL;
	ck_assert_int_eq(state_to_json(st, &json, &e), 0);
	ck_assert_msg(state_parse(json, "adopted", &back, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(back->generation, 8);
	state_free(back);
	free(json);
	state_free(st);
	adopt_plan_free(&p);
}
END_TEST

START_TEST(test_disagree_and_missing)
{
	struct view_builder b;
	static const char *const spec[] = {
		"192.0.2.0/24", "2001:db8:1::/48 0 0",                /* web: disagree */
		"198.51.100.0/24 1 1",                                /* dns: v6 missing */
		NULL,                                                 /* api: missing */
	};
	struct adopt_bird_view *v = build(&b, spec);
	expect_refused(v, NULL, 0, 0,
		       (const char *const[]){ "nothing changed",
					      "service web: its prefixes disagree",
					      "192.0.2.0/24 withdraw, 2001:db8:1::/48 announce",
					      "--state web=announce|withdraw|prepend:N",
					      "service dns: BIRD has only part of it",
					      "2001:db8:2::/48 missing from BIRD",
					      "service api: BIRD does not have it", NULL });

	/* The operator says what they should be. */
	struct adopt_assumption a[] = {
		{ "web", MODE_WITHDRAW, 0 }, { "dns", MODE_PREPEND, 1 }, { "api", MODE_ANNOUNCE, 0 },
	};
	struct adopt_plan p;
	struct err e = { 0 };
	ck_assert_msg(adopt_derive(conf, v, a, 3, 0, &p, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(item(&p, "web")->mode, MODE_WITHDRAW);
	ck_assert_int_eq(item(&p, "web")->source, ADOPT_FROM_OPERATOR);
	ck_assert_int_eq(item(&p, "web")->bird_clear, 0);
	ck_assert_int_eq(item(&p, "dns")->mode, MODE_PREPEND);
	ck_assert_uint_eq(item(&p, "dns")->prepend, 1);
	ck_assert_int_eq(item(&p, "api")->source, ADOPT_FROM_OPERATOR);
	adopt_plan_free(&p);

	/* Only some of them: the rest are still named. */
	expect_refused(v, a, 1, 0,
		       (const char *const[]){ "service dns", "service api", NULL });
}
END_TEST

START_TEST(test_foreign_paths)
{
	struct view_builder b;
	static const char *const spec[] = {
		"192.0.2.0/24 2 1", "2001:db8:1::/48 2 1",            /* web: another AS in the path */
		"198.51.100.0/24 11 11", "2001:db8:2::/48 11 11",     /* dns: more than 10 */
		"2001:db8:3::/48 0 0",
		NULL,
	};
	expect_refused(build(&b, spec), NULL, 0, 0,
		       (const char *const[]){ "service web: BIRD exports it in a way "
					      "routectl_export() does not",
					      "AS path length 2", "service dns", NULL });

	/* Routes of one net with different paths (ADD-PATH). */
	static const char *const dup[] = {
		"192.0.2.0/24 0 0", "192.0.2.0/24 1 1", "2001:db8:1::/48 0 0",
		"198.51.100.0/24 0 0", "2001:db8:2::/48 0 0", "2001:db8:3::/48 0 0", NULL,
	};
	expect_refused(build(&b, dup), NULL, 0, 0,
		       (const char *const[]){ "service web", "different AS paths", NULL });
}
END_TEST

START_TEST(test_assumption_against_bird)
{
	struct view_builder b;
	static const char *const spec[] = {
		"192.0.2.0/24", "2001:db8:1::/48",
		"198.51.100.0/24 0 0", "2001:db8:2::/48 0 0", "2001:db8:3::/48 0 0", NULL,
	};
	struct adopt_bird_view *v = build(&b, spec);
	struct adopt_assumption a = { "web", MODE_ANNOUNCE, 0 };
	expect_refused(v, &a, 1, 0,
		       (const char *const[]){ "service web: BIRD exports it as withdraw, not "
					      "announce", NULL });
	/* The same as BIRD: fine, and BIRD's word. */
	a.mode = MODE_WITHDRAW;
	struct adopt_plan p;
	struct err e = { 0 };
	ck_assert_int_eq(adopt_derive(conf, v, &a, 1, 0, &p, &e), 0);
	ck_assert_int_eq(item(&p, "web")->source, ADOPT_FROM_BIRD);
	adopt_plan_free(&p);

	/* Bad assumptions. */
	struct adopt_assumption bad[][2] = {
		{ { "nosuch", MODE_WITHDRAW, 0 }, { 0 } },
		{ { "web", MODE_WITHDRAW, 0 }, { "web", MODE_WITHDRAW, 0 } },
		{ { "web", MODE_PREPEND, 11 }, { 0 } },
		{ { "web", MODE_WITHDRAW, 2 }, { 0 } },
	};
	static const size_t nbad[] = { 1, 2, 1, 1 };
	static const char *const why[] = { "no service 'nosuch'", "twice", "1..10", "only with prepend" };
	for (size_t i = 0; i < 4; i++) {
		err_clear(&e);
		ck_assert_int_eq(adopt_derive(conf, v, bad[i], nbad[i], 0, &p, &e), -ERR_INVALID);
		ck_assert_ptr_null(p.items);
		ck_assert_msg(strstr(e.msg, why[i]), "%s", e.msg);
	}
}
END_TEST

START_TEST(test_stray_routes)
{
	struct view_builder b;
	static const char *const spec[] = {
		"192.0.2.0/24 0 0", "2001:db8:1::/48 0 0", "198.51.100.0/24 0 0",
		"2001:db8:2::/48 0 0", "2001:db8:3::/48 0 0",
		"203.0.113.0/24 0 0", "2001:db8:99::/48", NULL,
	};
	struct adopt_bird_view *v = build(&b, spec);
	expect_refused(v, NULL, 0, 0,
		       (const char *const[]){ "203.0.113.0/24 is a route of BIRD's routectl_v4 but "
					      "in no service",
					      "2001:db8:99::/48 is a route of BIRD's routectl_v6",
					      "--force", NULL });
	struct adopt_plan p;
	struct err e = { 0 };
	ck_assert_int_eq(adopt_derive(conf, v, NULL, 0, 1, &p, &e), 0);
	ck_assert_msg(strstr(p.warnings, "203.0.113.0/24, 2001:db8:99::/48") &&
		      strstr(p.warnings, "withdraws them"), "%s", p.warnings);
	adopt_plan_free(&p);
}
END_TEST

START_TEST(test_parse_assumption)
{
	struct adopt_assumption a;
	struct err e = { 0 };
	char t1[] = "web=withdraw", t2[] = "dns=prepend:4", t3[] = "api=announce";
	ck_assert_int_eq(adopt_parse_assumption(t1, &a, &e), 0);
	ck_assert_str_eq(a.service, "web");
	ck_assert_int_eq(a.mode, MODE_WITHDRAW);
	ck_assert_int_eq(adopt_parse_assumption(t2, &a, &e), 0);
	ck_assert_str_eq(a.service, "dns");
	ck_assert_int_eq(a.mode, MODE_PREPEND);
	ck_assert_uint_eq(a.prepend, 4);
	ck_assert_int_eq(adopt_parse_assumption(t3, &a, &e), 0);
	ck_assert_int_eq(a.mode, MODE_ANNOUNCE);
	static const char *const bad[][2] = {
		{ "web", "SERVICE=announce" }, { "=withdraw", "SERVICE=announce" },
		{ "web=prepend:0", "from 1 to 10" }, { "web=prepend:11", "from 1 to 10" },
		{ "web=prepend:", "from 1 to 10" }, { "web=prepend 3", "announce, withdraw or prepend:N" },
		{ "web=sideways", "announce, withdraw or prepend:N" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char t[64];
		snprintf(t, sizeof t, "%s", bad[i][0]);
		err_clear(&e);
		ck_assert_int_eq(adopt_parse_assumption(t, &a, &e), -ERR_INVALID);
		ck_assert_msg(strstr(e.msg, bad[i][1]), "%s: %s", bad[i][0], e.msg);
	}
}
END_TEST

static Suite *adopt_suite(void)
{
	Suite *s = suite_create("adopt");
	TCase *t = tcase_create("derive");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_clear_modes);
	tcase_add_test(t, test_disagree_and_missing);
	tcase_add_test(t, test_foreign_paths);
	tcase_add_test(t, test_assumption_against_bird);
	tcase_add_test(t, test_stray_routes);
	tcase_add_test(t, test_parse_assumption);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(adopt_suite());
}
