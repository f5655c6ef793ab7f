/* Unit tests of routectld's fleet view for the guards (fleet/fleetview.c):
 * the fleet view from hand-made answers of the routers, as the guards see
 * it, and the errors that leave no view at all. */
#include "common/err.h"
#include "fleet/fleetview.h"
#include "fleet/fleet.h"
#include "site/guards.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const char DOC[] =
	"{\"routectl-fleet:fleet\": {\"site\": ["
	"{\"name\": \"ash\", \"router\": [{\"name\": \"ash-r1\", \"api-url\": \"http://h:1\","
	" \"token\": {\"env\": \"TEST_FLEETVIEW\"}}]},"
	"{\"name\": \"chi\", \"router\": ["
	" {\"name\": \"chi-r1\", \"api-url\": \"http://h:2\", \"token\": {\"env\": \"TEST_FLEETVIEW\"}},"
	" {\"name\": \"chi-r2\", \"api-url\": \"http://h:3\", \"token\": {\"env\": \"TEST_FLEETVIEW\"}}]},"
	"{\"name\": \"sea\", \"router\": [{\"name\": \"sea-r1\", \"api-url\": \"http://h:4\","
	" \"token\": {\"env\": \"TEST_FLEETVIEW\"}}]}]}}";

static const struct guard_view_site *site_of(const struct guard_view *v, const char *name)
{
	for (size_t i = 0; i < v->n_sites; i++)
		if (strcmp(v->sites[i].name, name) == 0)
			return &v->sites[i];
	return NULL;
}

static const struct guard_view_service *svc_of(const struct guard_view_site *s, const char *name)
{
	for (size_t i = 0; i < s->n_services; i++)
		if (strcmp(s->services[i].name, name) == 0)
			return &s->services[i];
	return NULL;
}

/* chi's routers disagree on web (announce, prepend 3): the guards see the
 * most drained; dns is withdrawn at both; api is unknown (safe mode) and
 * left out. sea did not answer: not reachable, naming its router. */
START_TEST(view_from_answers)
{
	setenv("TEST_FLEETVIEW", "t", 1);
	struct fleet *f = NULL;
	struct err e = { 0 };
	ck_assert_msg(fleet_parse(DOC, "doc", &f, &e) == 0, "%s", e.msg);
	const char *bodies[3] = {
		"{\"site\": \"chi\", \"services\": [{\"name\": \"web\", \"state\": \"announce\"},"
		" {\"name\": \"dns\", \"state\": \"withdraw\"}, {\"name\": \"api\", \"state\": \"unknown\"}]}",
		"{\"site\": \"chi\", \"services\": [{\"name\": \"web\", \"state\": \"prepend\", \"prepend\": 3},"
		" {\"name\": \"dns\", \"state\": \"withdraw\"}, {\"name\": \"api\", \"state\": \"unknown\"}]}",
		NULL,
	};
	struct fleet_reply rep[3];
	memset(rep, 0, sizeof rep);
	rep[0].router = &f->sites[1].routers[0];
	rep[1].router = &f->sites[1].routers[1];
	rep[2].router = &f->sites[2].routers[0];
	for (int i = 0; i < 3; i++) {
		if (bodies[i]) {
			rep[i].status = 200;
			rep[i].endpoint = "primary";
			rep[i].body = (char *)bodies[i];
			rep[i].body_len = strlen(bodies[i]);
		} else {
			snprintf(rep[i].error, sizeof rep[i].error,
				 "http://h:4: cannot connect: Connection refused");
		}
	}
	ck_assert_str_eq(rep[0].router->name, "chi-r1");
	ck_assert_str_eq(rep[1].router->name, "chi-r2");
	ck_assert_str_eq(rep[2].router->name, "sea-r1");
	struct fleet_replies r = { rep, 3 };
	struct fleet_view fv;
	ck_assert_msg(fleet_view_from_replies(f, &r, &fv, &e) == 0, "%s", e.msg);
	struct guard_view gv;
	ck_assert_msg(fleetview_from_view(&fv, &gv, &e) == 0, "%s", e.msg);
	fleet_view_free(&fv);

	const struct guard_view_site *chi = site_of(&gv, "chi"), *sea = site_of(&gv, "sea");
	ck_assert_ptr_nonnull(chi);
	ck_assert_ptr_nonnull(sea);
	ck_assert_int_eq(chi->reachable, 1);
	ck_assert_int_eq(svc_of(chi, "web")->mode, MODE_PREPEND);
	ck_assert_uint_eq(svc_of(chi, "web")->prepend, 3);
	ck_assert_int_eq(svc_of(chi, "dns")->mode, MODE_WITHDRAW);
	ck_assert_ptr_null(svc_of(chi, "api"));
	ck_assert_int_eq(sea->reachable, 0);
	ck_assert_msg(strstr(sea->why, "router sea-r1: ") && strstr(sea->why, "Connection refused"),
		      "%s", sea->why);
	guard_view_free(&gv);
	fleet_free(f);
}
END_TEST

/* No view at all: a document that does not load, or that lacks this site. */
START_TEST(no_view)
{
	char dir[64], path[128];
	struct err e = { 0 };
	struct guard_view gv;
	tu_make_tmpdir(dir, sizeof dir, "test_fleetview");
	snprintf(path, sizeof path, "%s/fleet.json", dir);
	ck_assert_int_lt(fleetview_ask(path, "ash", 500, &gv, &e), 0);
	ck_assert_msg(strstr(e.msg, "the fleet document does not load"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, path), "%s", e.msg);
	setenv("TEST_FLEETVIEW", "t", 1);
	tu_write_file(dir, "fleet.json", DOC);
	ck_assert_int_eq(fleetview_ask(path, "lax", 500, &gv, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "has no site 'lax'"), "%s", e.msg);
	tu_remove_tree(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fleetview");
	TCase *t = tcase_create("fleetview");
	tcase_add_test(t, view_from_answers);
	tcase_add_test(t, no_view);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(suite());
}
