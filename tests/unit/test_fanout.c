/* Unit tests of routectl -f FLEET's checking and rendering (cli/fanout.c,
 * cli/output_fleet.c) from hand-made router answers: the status table
 * (states, next stage, pending confirmation, routers that disagree, an
 * unreachable site), the change lines (endpoint, refusal, nothing sent,
 * outcome unknown), sites whose routers disagree, the exit codes, --json. */
#include "cli/fanout.h"
#include "cli/output.h"
#include "common/buf.h"
#include "common/err.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct fleet *test_fleet(void)
{
	setenv("TEST_FANOUT_TOKEN", "t", 1);
	struct fleet *f = NULL;
	struct err e = { 0 };
	int rc = fleet_parse(
		"{\"routectl-fleet:fleet\": {\"site\": ["
		"{\"name\": \"ash\", \"router\": ["
		" {\"name\": \"a1\", \"api-url\": \"http://10.0.0.1:8080\", \"oob-url\": \"http://10.9.0.1:8080\","
		"  \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}},"
		" {\"name\": \"a2\", \"api-url\": \"http://10.0.0.2:8080\", \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}}]},"
		"{\"name\": \"chi\", \"router\": ["
		" {\"name\": \"c1\", \"api-url\": \"http://10.0.1.1:8080\", \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}}]},"
		"{\"name\": \"sea\", \"router\": ["
		" {\"name\": \"s1\", \"api-url\": \"http://10.0.2.1:8080\", \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}}]}"
		"]}}", "fleet.json", &f, &e);
	ck_assert_msg(rc == 0, "%s", e.msg);
	return f;
}

/* Replies in fleet order; a NULL body is "no answer" with error text err. */
struct canned {
	const char *endpoint;
	long status;
	const char *body;
	const char *error;
	const char *primary_error;
	bool maybe_applied;
};

static void make_replies(const struct fleet *f, const char *only_site, const struct canned *c,
			 struct fleet_replies *out)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_sites; i++)
		if (!only_site || strcmp(f->sites[i].name, only_site) == 0)
			n += f->sites[i].n_routers;
	out->v = calloc(n, sizeof *out->v);
	out->n = n;
	size_t k = 0;
	for (size_t i = 0; i < f->n_sites; i++) {
		if (only_site && strcmp(f->sites[i].name, only_site) != 0)
			continue;
		for (size_t j = 0; j < f->sites[i].n_routers; j++, k++) {
			struct fleet_reply *r = &out->v[k];
			r->router = &f->sites[i].routers[j];
			r->endpoint = c[k].endpoint;
			r->status = c[k].status;
			r->body = c[k].body ? strdup(c[k].body) : NULL;
			r->body_len = c[k].body ? strlen(c[k].body) : 0;
			snprintf(r->error, sizeof r->error, "%s", c[k].error ? c[k].error : "");
			snprintf(r->primary_error, sizeof r->primary_error, "%s",
				 c[k].primary_error ? c[k].primary_error : "");
			r->maybe_applied = c[k].maybe_applied;
		}
	}
}

static void parse_req(struct cli_request *req, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	struct err e = { 0 };
	ck_assert_msg(cli_parse_args(argc, argv, NULL, req, &e) == 0, "%s", e.msg);
}

#define SVC(name, state, prepend, next, confirm)                                              \
	"{\"name\": \"" name "\", \"state\": \"" state "\", \"prepend\": " #prepend ", "      \
	"\"prefix_count\": {\"ipv4\": 1, \"ipv6\": 1}, \"next\": " next ", \"confirm\": " confirm "}"
#define STATUS(site, svcs)                                                                    \
	"{\"site\": \"" site "\", \"generation\": 4, \"bird\": {\"connected\": true}, "        \
	"\"services\": [" svcs "]}"
/* A status whose primary listener is not bound (it answered out-of-band). */
#define STATUS_PRIMARY_UNBOUND(site, svcs)                                                    \
	"{\"site\": \"" site "\", \"generation\": 4, \"bird\": {\"connected\": true}, "        \
	"\"services\": [" svcs "], \"api\": {\"listeners\": [{\"address\": \"10.0.0.1\", "       \
	"\"port\": 8080, \"kind\": \"primary\", \"transport\": \"http\", \"bound\": false, "       \
	"\"error\": \"api listen 10.0.0.1:8080: cannot bind: Address already in use\"}, "        \
	"{\"address\": \"10.9.0.1\", \"port\": 8080, \"kind\": \"out-of-band\", "              \
	"\"transport\": \"http\", \"bound\": true, \"error\": null}]}}"
#define NEXT_WITHDRAW "{\"state\": \"withdraw\", \"prepend\": 0, \"at\": \"2026-12-01T10:05:00Z\", \"in_s\": 45}"
#define CONFIRM "{\"change_id\": \"c0ffee\", \"deadline\": \"2026-12-01T10:10:00Z\", \"in_s\": 345}"

START_TEST(test_status)
{
	struct fleet *f = test_fleet();
	const struct canned c[] = {
		{ "oob", 200,
		  STATUS_PRIMARY_UNBOUND("ash", SVC("dns", "withdraw", 0, "null", CONFIRM) ", "
				SVC("web", "prepend", 3, NEXT_WITHDRAW, "null")),
		  NULL, "http://10.0.0.1:8080: cannot connect: Connection refused", false },
		{ "primary", 200,
		  STATUS("ash", SVC("dns", "announce", 0, "null", "null") ", "
				SVC("web", "prepend", 3, NEXT_WITHDRAW, "null")),
		  NULL, NULL, false },
		/* its last config reload failed: said in its note */
		{ "primary", 200,
		  "{\"site\": \"chi\", \"generation\": 4, \"bird\": {\"connected\": true}, "
		  "\"services\": [" SVC("web", "announce", 0, "null", "null") "], "
		  "\"reload\": {\"ok\": false, \"at\": \"2026-12-01T09:00:00Z\", "
		  "\"error\": \"reload of /etc/routectl/routectld.json: keeping the running config\"}}",
		  NULL, NULL, false },
		{ NULL, 0, NULL, "http://10.0.2.1:8080: cannot connect: No route to host", NULL, false },
	};
	struct fleet_replies rep;
	make_replies(f, NULL, c, &rep);
	struct cli_request req;
	char *argv[] = { "routectl", "-f", "fleet.json", "status", NULL };
	parse_req(&req, argv);
	struct fanout_result r;
	struct err e = { 0 };
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_ptr_null(rep.v);   /* taken over */
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_FAILED);   /* sea could not be asked */

	struct buf b = { 0 };
	ck_assert_int_eq(output_fleet_status_text(&b, &r), 0);
	const char *want =
		"fleet fleet.json: 3 sites, 4 routers, 1 UNREACHABLE\n"
		"SITE  SERVICE  STATE                                       NEXT                                        CONFIRM\n"
		"ash   dns      ROUTERS DISAGREE: a1 withdraw, a2 announce  -                                           ROUTERS DIFFER: a1 c0ffee, a2 none\n"
		"ash   web      prepend 3                                   withdraw at 2026-12-01T10:05:00Z (in 45 s)  -\n"
		"chi   web      announce                                    -                                           -\n"
		"sea   -        UNREACHABLE (no router answered)            -                                           -\n"
		"\n"
		"ROUTER  SITE  ANSWERED     NOTE\n"
		"a1      ash   oob          primary passed over: http://10.0.0.1:8080: cannot connect: Connection refused; primary listener 10.0.0.1:8080 NOT BOUND\n"
		"a2      ash   primary      -\n"
		"c1      chi   primary      config reload at 2026-12-01T09:00:00Z FAILED, the config loaded before runs\n"
		"s1      sea   UNREACHABLE  http://10.0.2.1:8080: cannot connect: No route to host\n";
	ck_assert_msg(strcmp(b.p, want) == 0, "got:\n%s\nwant:\n%s", b.p, want);
	buf_free(&b);

	ck_assert_int_eq(output_fleet_json_text(&b, &r), 0);
	json_t *j = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(j);
	json_t *ash = json_array_get(json_object_get(j, "sites"), 0);
	json_t *dns = json_array_get(json_object_get(ash, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(dns, "state")), "withdraw");
	ck_assert(json_is_true(json_object_get(dns, "disagree")));
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(json_object_get(dns, "routers"), "a2"), "state")),
			 "announce");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dns, "confirm"),
							   "change_id")), "c0ffee");
	json_t *sea = json_array_get(json_object_get(j, "sites"), 2);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(sea, "unreachable"), 0), "router")), "s1");
	json_t *a1 = json_array_get(json_object_get(j, "routers"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a1, "endpoint")), "oob");
	ck_assert_str_eq(json_string_value(json_object_get(a1, "url")), "http://10.9.0.1:8080");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a1, "answer"), "site")),
			 "ash");
	json_decref(j);
	buf_free(&b);
	fanout_result_free(&r);

	/* every router answers, but c1 answers for another site: it is
	 * unreachable as far as the fleet goes, and the exit code says so */
	const struct canned other[] = {
		{ "primary", 200, STATUS("ash", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
		{ "primary", 200, STATUS("ash", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
		{ "primary", 200, STATUS("sea", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
		{ "primary", 200, STATUS("sea", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
	};
	make_replies(f, NULL, other, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_FAILED);
	ck_assert_int_eq(output_fleet_status_text(&b, &r), 0);
	ck_assert_msg(strstr(b.p, "c1      chi   UNREACHABLE  primary: it says it is site sea, the "
			      "fleet document says chi\n"), "%s", b.p);
	buf_free(&b);
	fanout_result_free(&r);
	cli_request_free(&req);
	fleet_free(f);
}
END_TEST

#define CHANGE(id, from, to) \
	"{\"site\": \"ash\", \"dry_run\": false, \"change_id\": \"" id "\", \"changes\": [" \
	"{\"service\": \"web\", \"from\": {\"state\": \"" from "\", \"prepend\": 0}, " \
	"\"to\": {\"state\": \"" to "\", \"prepend\": 0}, \"next\": null}], " \
	"\"apply\": {\"result\": \"ok\", \"ms\": 12}}"

START_TEST(test_change)
{
	struct fleet *f = test_fleet();
	struct cli_request req;
	char *argv[] = { "routectl", "-f", "fleet.json", "drain", "ash", "--reason", "drill",
			 "--now", NULL };
	parse_req(&req, argv);
	struct fanout_result r;
	struct fleet_replies rep;
	struct err e = { 0 };
	struct buf b = { 0 };

	/* both applied, one through its out-of-band endpoint */
	const struct canned ok[] = {
		{ "oob", 200, CHANGE("id1", "announce", "withdraw"), NULL, "http://10.0.0.1:8080: cannot connect: Connection refused", false },
		{ "primary", 200, CHANGE("id2", "announce", "withdraw"), NULL, NULL, false },
	};
	make_replies(f, "ash", ok, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_OK);
	char why[256];
	ck_assert(!fanout_site_disagrees(&r, "ash", why, sizeof why));
	ck_assert_int_eq(output_fleet_change_text(&b, &r), 0);
	const char *want =
		"a1 (ash) via oob (primary passed over: http://10.0.0.1:8080: cannot connect: Connection refused): ok, change id1\n"
		"    web: announce \xe2\x86\x92 withdraw\n"
		"    applied in 12 ms, change id1\n"
		"a2 (ash) via primary: ok, change id2\n"
		"    web: announce \xe2\x86\x92 withdraw\n"
		"    applied in 12 ms, change id2\n"
		"drain ash: 2 routers: 2 ok\n";
	ck_assert_msg(strcmp(b.p, want) == 0, "got:\n%s\nwant:\n%s", b.p, want);
	buf_free(&b);
	fanout_result_free(&r);

	/* one refused by a guard: the site's routers disagree, exit 1 */
	const struct canned refused[] = {
		{ "primary", 200, CHANGE("id1", "announce", "withdraw"), NULL, NULL, false },
		{ "primary", 422,
		  "{\"error\": {\"code\": \"policy\", \"message\": \"last site announcing web\\n"
		  "nothing changed\"}, "
		  "\"guards\": [{\"name\": \"last-site\", \"verdict\": \"refused\", "
		  "\"message\": \"web is announced from no other site\"}]}", NULL, NULL, false },
	};
	make_replies(f, "ash", refused, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_FAILED);
	ck_assert(fanout_site_disagrees(&r, "ash", why, sizeof why));
	ck_assert_str_eq(why, "routers of ash disagree: a1 ok; a2 refused");
	ck_assert_int_eq(output_fleet_change_text(&b, &r), 0);
	/* a message of several lines: the first on the router's line, the rest
	 * indented below it */
	ck_assert_msg(strstr(b.p, "a2 (ash) via primary: REFUSED (HTTP 422 policy): last site "
			      "announcing web\n"
			      "    nothing changed\n"
			      "    guard last-site: refused: web is announced from no other site\n"),
		      "%s", b.p);
	ck_assert_msg(strstr(b.p, "SITE ash: routers of ash disagree: a1 ok; a2 refused\n"
			      "drain ash: 2 routers: 1 ok, 1 refused\n"), "%s", b.p);
	buf_free(&b);
	ck_assert_int_eq(output_fleet_json_text(&b, &r), 0);
	json_t *j = json_loads(b.p, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(j, "routers"), 1), "result")), "refused");
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(j, "disagree"), 0), "site")), "ash");
	json_decref(j);
	buf_free(&b);
	fanout_result_free(&r);

	/* one not reached (nothing sent), one sent and not answered: exit 3 */
	const struct canned lost[] = {
		{ NULL, 0, NULL, "primary http://10.0.0.1:8080: cannot connect: Connection refused; "
		  "out-of-band http://10.9.0.1:8080: cannot connect: Connection refused", NULL, false },
		{ NULL, 0, NULL, "http://10.0.0.2:8080: no answer in time", NULL, true },
	};
	make_replies(f, "ash", lost, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_UNKNOWN);
	ck_assert_int_eq(output_fleet_change_text(&b, &r), 0);
	ck_assert_msg(strstr(b.p, "a1 (ash): NOT REACHED: primary http://10.0.0.1:8080: cannot "
			      "connect: Connection refused; out-of-band http://10.9.0.1:8080: cannot "
			      "connect: Connection refused; the drain was not applied there (nothing "
			      "was sent)\n"), "%s", b.p);
	ck_assert_msg(strstr(b.p, "a2 (ash): OUTCOME UNKNOWN: outcome unknown: the drain may or may "
			      "not have been applied: http://10.0.0.2:8080: no answer in time"),
		      "%s", b.p);
	ck_assert_msg(strstr(b.p, "drain ash: 2 routers: 0 ok, 1 outcome unknown, 1 not reached\n"),
		      "%s", b.p);
	buf_free(&b);
	fanout_result_free(&r);

	/* both applied, to different states: they disagree */
	const struct canned split[] = {
		{ "primary", 200, CHANGE("id1", "announce", "withdraw"), NULL, NULL, false },
		{ "primary", 200, CHANGE("id2", "withdraw", "announce"), NULL, NULL, false },
	};
	make_replies(f, "ash", split, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert(fanout_site_disagrees(&r, "ash", why, sizeof why));
	ck_assert_msg(strstr(why, "different states"), "%s", why);
	fanout_result_free(&r);
	cli_request_free(&req);

	/* commands that act on one router only are refused with -f */
	char *hist[] = { "routectl", "-f", "fleet.json", "history", NULL };
	parse_req(&req, hist);
	ck_assert_int_eq(fanout_check_command(&req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "not with -f"), "%s", e.msg);
	cli_request_free(&req);
	fleet_free(f);
}
END_TEST

#define PENDING(id, deadline, in_s, svc)                                                      \
	"{\"change_id\": \"" id "\", \"deadline\": \"" deadline "\", \"in_s\": " #in_s ", "      \
	"\"services\": [{\"service\": \"" svc "\", \"revert_to\": {\"state\": \"announce\", "     \
	"\"prepend\": 0}}]}"
#define CONFIRM_AT(id, deadline) \
	"{\"change_id\": \"" id "\", \"deadline\": \"" deadline "\", \"in_s\": 30}"
#define STATUS_PENDING(site, svcs, pending)                                                   \
	"{\"site\": \"" site "\", \"generation\": 4, \"bird\": {\"connected\": true}, "        \
	"\"services\": [" svcs "], \"pending_confirms\": [" pending "]}"

/* A change made with -f waits under one id on every router: status shows it
 * once, with its routers, its earliest deadline and its services; routers
 * of a site that wait for different changes are shown as such. */
START_TEST(test_status_pending_one_id)
{
	struct fleet *f = test_fleet();
	const struct canned c[] = {
		{ "primary", 200,
		  STATUS_PENDING("ash", SVC("web", "withdraw", 0, "null",
					    CONFIRM_AT("00000000000000aa", "2026-12-01T10:10:01Z")),
				 PENDING("00000000000000aa", "2026-12-01T10:10:01Z", 31, "web")),
		  NULL, NULL, false },
		{ "primary", 200,
		  STATUS_PENDING("ash", SVC("web", "withdraw", 0, "null",
					    CONFIRM_AT("00000000000000aa", "2026-12-01T10:10:00Z")),
				 PENDING("00000000000000aa", "2026-12-01T10:10:00Z", 30, "web")),
		  NULL, NULL, false },
		{ "primary", 200,
		  STATUS_PENDING("chi", SVC("web", "withdraw", 0, "null",
					    CONFIRM_AT("00000000000000aa", "2026-12-01T10:10:02Z")),
				 PENDING("00000000000000aa", "2026-12-01T10:10:02Z", 32, "web")),
		  NULL, NULL, false },
		{ "primary", 200,
		  STATUS_PENDING("sea", SVC("dns", "withdraw", 0, "null",
					    CONFIRM_AT("00000000000000bb", "2026-12-01T11:00:00Z")),
				 PENDING("00000000000000bb", "2026-12-01T11:00:00Z", 3000, "dns")),
		  NULL, NULL, false },
	};
	struct fleet_replies rep;
	make_replies(f, NULL, c, &rep);
	struct cli_request req;
	char *argv[] = { "routectl", "-f", "fleet.json", "status", NULL };
	parse_req(&req, argv);
	struct fanout_result r;
	struct err e = { 0 };
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	struct buf b = { 0 };
	ck_assert_int_eq(output_fleet_status_text(&b, &r), 0);
	const char *want =
		"waiting for a confirmation (routectl -f fleet.json confirm CHANGE):\n"
		"CHANGE            DEADLINE                          ROUTERS     SITES     SERVICES\n"
		"00000000000000aa  2026-12-01T10:10:00Z (in 30 s)    a1, a2, c1  ash, chi  web\n"
		"00000000000000bb  2026-12-01T11:00:00Z (in 3000 s)  s1          sea       dns\n";
	ck_assert_msg(strstr(b.p, want), "got:\n%s\nwant:\n%s", b.p, want);
	/* one id on both routers of ash: the site's row names it once */
	ck_assert_msg(strstr(b.p, "ash   web      withdraw  -     by 2026-12-01T10:10:01Z (in 30 s), "
			      "change 00000000000000aa\n"), "%s", b.p);
	buf_free(&b);
	ck_assert_int_eq(output_fleet_json_text(&b, &r), 0);
	json_t *j = json_loads(b.p, 0, NULL);
	json_t *pc = json_object_get(j, "pending_confirms");
	ck_assert_uint_eq(json_array_size(pc), 2);
	json_t *p0 = json_array_get(pc, 0);
	ck_assert_str_eq(json_string_value(json_object_get(p0, "change_id")), "00000000000000aa");
	ck_assert_str_eq(json_string_value(json_object_get(p0, "deadline")), "2026-12-01T10:10:00Z");
	ck_assert_uint_eq(json_array_size(json_object_get(p0, "routers")), 3);
	ck_assert_uint_eq(json_array_size(json_object_get(p0, "sites")), 2);
	json_decref(j);
	buf_free(&b);
	fanout_result_free(&r);
	cli_request_free(&req);
	fleet_free(f);
}
END_TEST

#define CONFIRMED(id)                                                                           \
	"{\"site\": \"ash\", \"change_id\": \"" id "\", \"confirmed\": true, "                   \
	"\"deadline\": \"2026-12-01T10:10:00Z\", \"services\": [{\"service\": \"web\", "            \
	"\"state\": {\"state\": \"withdraw\", \"prepend\": 0}, "                                  \
	"\"revert_to_cancelled\": {\"state\": \"announce\", \"prepend\": 0}}]}"
#define ENDED(outcome, msg)                                                                     \
	"{\"error\": {\"code\": \"refused\", \"message\": \"" msg "\", \"outcome\": \"" outcome "\", " \
	"\"at\": \"2026-12-01T10:10:00Z\"}}"
#define NOT_HERE "{\"error\": {\"code\": \"not-found\", \"message\": \"no change waits\"}}"

/* Runs confirm over the four routers with answers c; returns the exit code
 * and leaves the text in *b. */
static enum cli_exit confirm_with(const struct canned *c, struct buf *b)
{
	struct fleet *f = test_fleet();
	struct fleet_replies rep;
	make_replies(f, NULL, c, &rep);
	struct cli_request req;
	char *argv[] = { "routectl", "-f", "fleet.json", "confirm", "00000000000000aa", NULL };
	parse_req(&req, argv);
	struct fanout_result r;
	struct err e = { 0 };
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	enum cli_exit x = fanout_exit(&r);
	memset(b, 0, sizeof *b);
	ck_assert_int_eq(output_fleet_confirm_text(b, &r), 0);
	fanout_result_free(&r);
	cli_request_free(&req);
	fleet_free(f);
	return x;
}

/* confirm with -f: one line per router, and the exit code: 0 only when
 * every router that had the change confirmed it (now or before). */
START_TEST(test_confirm)
{
	struct buf b;
	const struct canned mixed[] = {
		{ "primary", 200, CONFIRMED("00000000000000aa"), NULL, NULL, false },
		{ "primary", 409, ENDED("confirmed", "it was confirmed already"), NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 409, ENDED("superseded", "later changes replaced it"), NULL, NULL, false },
	};
	ck_assert_int_eq(confirm_with(mixed, &b), CLI_EXIT_OK);
	const char *want =
		"a1 (ash) via primary: confirmed: web stays withdraw (deadline 2026-12-01T10:10:00Z)\n"
		"a2 (ash) via primary: confirmed before (HTTP 409): it was confirmed already\n"
		"c1 (chi) via primary: not pending there (HTTP 404): no change waits\n"
		"s1 (sea) via primary: SUPERSEDED (HTTP 409): later changes replaced it\n"
		"confirm 00000000000000aa: 4 routers, 1 confirmed, 1 confirmed before, "
		"1 not pending there, 1 SUPERSEDED\n";
	ck_assert_msg(strcmp(b.p, want) == 0, "got:\n%s\nwant:\n%s", b.p, want);
	buf_free(&b);

	/* too late at one router: exit 1, with routectld's words */
	const struct canned late[] = {
		{ "primary", 200, CONFIRMED("00000000000000aa"), NULL, NULL, false },
		{ "primary", 409, ENDED("reverted", "its confirm deadline passed and routectld reverted it"),
		  NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
	};
	ck_assert_int_eq(confirm_with(late, &b), CLI_EXIT_FAILED);
	ck_assert_msg(strstr(b.p, "a2 (ash) via primary: LATE (HTTP 409): its confirm deadline "
			      "passed and routectld reverted it\n"), "%s", b.p);
	buf_free(&b);

	/* a router that cannot be asked: named, exit 1 */
	const struct canned down[] = {
		{ "primary", 200, CONFIRMED("00000000000000aa"), NULL, NULL, false },
		{ NULL, 0, NULL, "http://10.0.0.2:8080: cannot connect: Connection refused", NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
	};
	ck_assert_int_eq(confirm_with(down, &b), CLI_EXIT_FAILED);
	ck_assert_msg(strstr(b.p, "a2 (ash): UNREACHABLE: http://10.0.0.2:8080: cannot connect: "
			      "Connection refused; the confirm was not applied there (nothing was "
			      "sent)\n"), "%s", b.p);
	buf_free(&b);

	/* sent, no answer: unknown (3) */
	const struct canned lost[] = {
		{ "primary", 200, CONFIRMED("00000000000000aa"), NULL, NULL, false },
		{ NULL, 0, NULL, "http://10.0.0.2:8080: no answer in time", NULL, true },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
	};
	ck_assert_int_eq(confirm_with(lost, &b), CLI_EXIT_UNKNOWN);
	ck_assert_msg(strstr(b.p, "a2 (ash): OUTCOME UNKNOWN: "), "%s", b.p);
	buf_free(&b);

	/* no router has it: a wrong id, exit 1 */
	const struct canned nowhere[] = {
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
	};
	ck_assert_int_eq(confirm_with(nowhere, &b), CLI_EXIT_FAILED);
	ck_assert_msg(strstr(b.p, "; no router has change 00000000000000aa"), "%s", b.p);
	buf_free(&b);

	/* a 409 that does not say how the wait ended (another site, an older
	 * routectld) is a refusal, not "confirmed before" */
	const struct canned other[] = {
		{ "primary", 200, CONFIRMED("00000000000000aa"), NULL, NULL, false },
		{ "primary", 409, "{\"error\": {\"code\": \"refused\", \"message\": \"this "
				  "routectld serves site 'chi', not 'ash'\"}}", NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
		{ "primary", 404, NOT_HERE, NULL, NULL, false },
	};
	ck_assert_int_eq(confirm_with(other, &b), CLI_EXIT_FAILED);
	ck_assert_msg(strstr(b.p, "a2 (ash) via primary: REFUSED (HTTP 409)"), "%s", b.p);
	buf_free(&b);
}
END_TEST

/* A change with -f carries one fresh id, the same to every router; a dry
 * run none; confirm can act on a fleet, of one site or all. */
START_TEST(test_change_one_id)
{
	struct fleet *f = test_fleet();
	struct cli_request req;
	struct err e = { 0 };
	char *argv[] = { "routectl", "-f", "fleet.json", "confirm", "00000000000000aa", "--site",
			 "nowhere", NULL };
	parse_req(&req, argv);
	ck_assert_int_eq(fanout_check_command(&req, &e), 0);
	struct fanout_result r;
	/* a site the fleet does not have: refused before anything is sent */
	ck_assert_int_eq(fanout_execute(f, &req, &r, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, "has no site nowhere"), "%s", e.msg);
	cli_request_free(&req);
	fleet_free(f);
}
END_TEST

static Suite *fanout_suite(void)
{
	Suite *s = suite_create("fanout");
	TCase *t = tcase_create("fanout");
	tcase_add_test(t, test_status);
	tcase_add_test(t, test_change);
	tcase_add_test(t, test_status_pending_one_id);
	tcase_add_test(t, test_confirm);
	tcase_add_test(t, test_change_one_id);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(fanout_suite());
}
