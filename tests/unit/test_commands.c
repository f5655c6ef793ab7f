/* Unit tests of routectl/api/commands: status answered from a view lent by
 * a backend, without a daemon. */
#include "api/commands.h"
#include "common/err.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define STATE_GEN7                                                                     \
	"{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"7\", "         \
	"\"service\": [{\"name\": \"web\", \"mode\": \"withdraw\", \"actor\": \"alice\", " \
	"\"reason\": \"evacuate\", \"since\": \"2026-11-30T07:00:00Z\", "                \
	"\"change-id\": \"0123456789abcdef\"}]}}"

static const char *const web_prefixes[] = { "192.0.2.0/24" };
static const struct command_service services[] = {
	{ "web", 1, 0, web_prefixes },
};
static const struct last_apply no_apply;

static void lend_view(void *arg, void (*fn)(const struct command_view *v, void *fn_arg),
		      void *fn_arg)
{
	fn(arg, fn_arg);
}

static int no_submit(void *arg, struct command_job *job, struct err *e)
{
	(void)arg;
	(void)job;
	return err_set(e, ERR_REFUSED, "no changes in this test");
}

/* GET /v1/status against v, parsed. */
static json_t *status_of_view(struct command_view *v)
{
	struct command_backend b = { v, lend_view, no_submit };
	struct caller who = { .actor = "test" };
	int status = 0;
	char *reply = NULL;
	ck_assert_int_eq(commands_handle(&b, &who, "GET", "/v1/status", NULL, 0, NULL, &status,
					 &reply), 1);
	ck_assert_int_eq(status, 200);
	json_error_t je;
	json_t *j = json_loads(reply, 0, &je);
	ck_assert_msg(j != NULL, "not JSON: %s", reply);
	free(reply);
	return j;
}

static struct command_view base_view(void)
{
	struct command_view v = {
		.site = "ash", .bird_socket = "/run/bird/bird.ctl",
		.services = services, .n_services = 1,
		.safe_mode = "", .bird_version = "", .bird_error = "",
		.last = &no_apply,
	};
	return v;
}

/* Not in safe mode: the desired state, and no last_known anywhere. */
START_TEST(status_desired_state)
{
	struct state *st = NULL;
	struct err e;
	ck_assert_msg(state_parse(STATE_GEN7, "t", &st, &e) == 0, "%s", e.msg);
	struct command_view v = base_view();
	v.state = st;
	json_t *j = status_of_view(&v);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "generation")), 7);
	ck_assert(json_is_null(json_object_get(j, "safe_mode")));
	json_t *web = json_array_get(json_object_get(j, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(web, "state")), "withdraw");
	ck_assert_str_eq(json_string_value(json_object_get(web, "actor")), "alice");
	ck_assert_ptr_null(json_object_get(web, "last_known"));
	json_decref(j);
	state_free(st);
}
END_TEST

/* Safe mode after the state was lost under a running routectld: the state
 * it held is never the service's "state"; it is "last_known", with the
 * generation and the time the loss was found. */
START_TEST(status_safe_mode_last_known)
{
	struct state *st = NULL;
	struct err e;
	ck_assert_msg(state_parse(STATE_GEN7, "t", &st, &e) == 0, "%s", e.msg);
	struct command_view v = base_view();
	v.safe_mode = "the desired state is lost";
	v.safe_kind = SAFE_STATE_LOST;
	v.last_known = st;
	v.last_known_at = 1795000000; /* 2026-11-18T11:06:40Z */
	json_t *j = status_of_view(&v);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "generation")), 0);
	json_t *safe = json_object_get(j, "safe_mode");
	ck_assert_str_eq(json_string_value(json_object_get(safe, "kind")), "state-lost");
	json_t *lk = json_object_get(safe, "last_known");
	ck_assert_int_eq(json_integer_value(json_object_get(lk, "generation")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(lk, "until")), "2026-11-18T11:06:40Z");
	json_t *web = json_array_get(json_object_get(j, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(web, "state")), "unknown");
	ck_assert_ptr_null(json_object_get(web, "actor"));
	json_t *wlk = json_object_get(web, "last_known");
	ck_assert_str_eq(json_string_value(json_object_get(wlk, "state")), "withdraw");
	ck_assert_str_eq(json_string_value(json_object_get(wlk, "actor")), "alice");
	ck_assert_str_eq(json_string_value(json_object_get(wlk, "change_id")),
			 "0123456789abcdef");
	json_decref(j);

	/* Safe mode from the start: nothing known, and it says so. */
	v.last_known = NULL;
	j = status_of_view(&v);
	ck_assert(json_is_null(json_object_get(json_object_get(j, "safe_mode"), "last_known")));
	web = json_array_get(json_object_get(j, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(web, "state")), "unknown");
	ck_assert_ptr_null(json_object_get(web, "last_known"));
	json_decref(j);
	state_free(st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("commands");
	TCase *tc = tcase_create("status");
	tcase_add_test(tc, status_desired_state);
	tcase_add_test(tc, status_safe_mode_last_known);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
