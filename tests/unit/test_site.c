/* Unit tests of routectl/site: the site controller driven without a daemon,
 * an event loop or BIRD (the BIRD connection it is handed is NULL), except
 * for the apply statistics, which a scripted fake BIRD drives. */
#include "bird/bird.h"
#include "common/err.h"
#include "common/timeutil.h"
#include "site/site.h"
#include "store/store.h"
#include "fakebird.h"
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[64];

static void write_config(void)
{
	tu_write_site_config(tmpdir);
}

static void open_site(struct site *s)
{
	char path[128];
	struct err e;
	snprintf(path, sizeof path, "%s/routectld.json", tmpdir);
	int rc = site_open(s, path, &e);
	ck_assert_msg(rc == 0, "site_open: %s", e.msg);
}

static void setup(void)
{
	tu_make_tmpdir(tmpdir, sizeof tmpdir, "test_site");
	write_config();
}

static void teardown(void)
{
	tu_remove_tree(tmpdir);
}

static struct change_request drain_req(const char **svc, size_t n, int dry_run)
{
	struct change_request req = { 0 };
	req.kind = CHANGE_DRAIN;
	req.site = "ash";
	req.services = svc;
	req.n_services = n;
	req.reason = "maintenance";
	req.now = 1;
	req.dry_run = dry_run;
	/* These tests are about the controller, not the guards across sites
	 * (test_guards.c): this site has no fleet, so a drain is forced. */
	req.force = 1;
	return req;
}

START_TEST(open_creates_state_and_include)
{
	struct site s;
	open_site(&s);
	ck_assert_str_eq(s.safe_mode, "");
	ck_assert_ptr_nonnull(s.state);
	ck_assert_uint_eq(s.state->n, 2);
	char *inc = tu_read_file(tmpdir, "routectl.conf");
	ck_assert_ptr_nonnull(strstr(inc, "192.0.2.0/24"));
	free(inc);
	site_close(&s);
}
END_TEST

/* Without BIRD a change fails and nothing changes: not the desired state in
 * memory, not the state file, not the include. */
START_TEST(change_without_bird_changes_nothing)
{
	struct site s;
	open_site(&s);
	char *inc0 = tu_read_file(tmpdir, "routectl.conf");
	char *st0 = tu_read_file(tmpdir, "state/state.json");
	uint64_t gen0 = s.state->generation;
	const char *svc[] = { "web" };
	struct change_request req = drain_req(svc, 1, 0);
	struct caller who = { .actor = "alice (uid 1000) via console" };
	struct change_result res;
	struct err e;
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_CONNECT);
	ck_assert_msg(strstr(e.msg, "not connected") != NULL, "%s", e.msg);
	ck_assert_uint_eq(s.state->generation, gen0);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_ANNOUNCE);
	char *inc1 = tu_read_file(tmpdir, "routectl.conf");
	char *st1 = tu_read_file(tmpdir, "state/state.json");
	ck_assert_str_eq(inc0, inc1);
	ck_assert_str_eq(st0, st1);
	ck_assert(s.last.have && !s.last.ok);
	ck_assert_str_eq(s.last.trigger, "drain");
	free(inc0);
	free(inc1);
	free(st0);
	free(st1);
	site_close(&s);
}
END_TEST

/* A dry run needs no BIRD: it gives the plan and the diff of the include. */
START_TEST(dry_run_without_bird)
{
	struct site s;
	open_site(&s);
	const char *svc[] = { "web" };
	struct change_request req = drain_req(svc, 1, 1);
	snprintf(req.change_id, sizeof req.change_id, "0123456789abcdef");
	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), 0);
	ck_assert_str_eq(res.change_id, "0123456789abcdef");
	ck_assert_uint_eq(res.n_items, 1);
	ck_assert_str_eq(res.items[0].service, "web");
	ck_assert_int_eq(res.items[0].to_mode, MODE_WITHDRAW);
	ck_assert_ptr_nonnull(res.diff);
	ck_assert_ptr_nonnull(strstr(res.diff, "@@"));
	ck_assert(!res.applied);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_ANNOUNCE);
	change_result_free(&res);
	site_close(&s);
}
END_TEST

START_TEST(refusals_name_the_problem)
{
	struct site s;
	open_site(&s);
	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;
	struct change_request req = drain_req(NULL, 0, 0);
	req.site = "chi";
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "serves site 'ash', not 'chi'") != NULL, "%s", e.msg);
	const char *svc[] = { "nope" };
	req = drain_req(svc, 1, 0);
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, "no service 'nope'") != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "dns, web") != NULL, "%s", e.msg);
	req = drain_req(NULL, 0, 0);
	req.reason = " \t";
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "a reason is required") != NULL, "%s", e.msg);
	site_close(&s);
}
END_TEST

/* A state file that does not load: safe mode, changes refused, BIRD left
 * alone (reconcile does nothing). */
START_TEST(safe_mode_refuses)
{
	char dir[128];
	snprintf(dir, sizeof dir, "%s/state", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	tu_write_file(dir, "state.json", "{ not json");
	struct site s;
	open_site(&s);
	ck_assert_msg(strstr(s.safe_mode, "state file does not load") != NULL, "%s", s.safe_mode);
	ck_assert_ptr_null(s.state);
	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;
	struct change_request req = drain_req(NULL, 0, 0);
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_UNAVAILABLE);
	ck_assert_msg(strstr(e.msg, "safe mode") != NULL, "%s", e.msg);
	ck_assert_int_eq(site_reconcile(&s, NULL, "test", 1), 0);
	ck_assert(!s.last.have);
	site_close(&s);
}
END_TEST

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static struct adopt_request adopt_req(int force)
{
	struct adopt_request req = { 0 };
	req.site = "ash";
	req.reason = "state dir did not mount";
	req.force = force;
	return req;
}

/* A state file deleted where routectld ran before (the include is there):
 * safe mode "state-lost", no fresh state, nothing created; changes refused;
 * adopt needs BIRD and a reason, and changes nothing without them. */
START_TEST(lost_state_is_safe_mode)
{
	struct site s;
	open_site(&s);
	site_close(&s);
	char st[256];
	path_of(st, sizeof st, "state/state.json");
	ck_assert_int_eq(unlink(st), 0);
	open_site(&s);
	ck_assert_int_eq(s.safe_kind, SAFE_STATE_LOST);
	ck_assert_str_eq(safe_kind_name(s.safe_kind), "state-lost");
	ck_assert_msg(strstr(s.safe_mode, "the desired state is lost") &&
		      strstr(s.safe_mode, "routectl.conf (generation 0 of site ash)") &&
		      strstr(s.safe_mode, "routectl adopt ash --reason"), "%s", s.safe_mode);
	ck_assert_ptr_null(s.state);
	struct stat sb;
	ck_assert_int_eq(lstat(st, &sb), -1);

	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;
	struct change_request req = drain_req(NULL, 0, 0);
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_UNAVAILABLE);
	ck_assert_int_eq(site_reconcile(&s, NULL, "test", 1), 0);

	struct adopt_request ar = adopt_req(0);
	struct adopt_result out;
	ar.reason = " ";
	ck_assert_int_eq(site_adopt(&s, NULL, &ar, &who, &out, &e), -ERR_INVALID);
	ar = adopt_req(0);
	ar.site = "chi";
	ck_assert_int_eq(site_adopt(&s, NULL, &ar, &who, &out, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "serves site 'ash', not 'chi'") != NULL, "%s", e.msg);
	ar = adopt_req(0);
	ck_assert_int_eq(site_adopt(&s, NULL, &ar, &who, &out, &e), -ERR_CONNECT);
	ck_assert_msg(strstr(e.msg, "cannot read what BIRD exports") &&
		      strstr(e.msg, "nothing changed"), "%s", e.msg);
	ck_assert_int_eq(s.safe_kind, SAFE_STATE_LOST);
	ck_assert_int_eq(lstat(st, &sb), -1);
	site_close(&s);
}
END_TEST

/* A state directory that is gone (a mount that did not come up) with the
 * include still there: safe mode, and the directory is not made. */
START_TEST(missing_state_dir_is_safe_mode)
{
	struct site s;
	open_site(&s);
	site_close(&s);
	char dir[256];
	path_of(dir, sizeof dir, "state");
	tu_remove_tree(dir);
	open_site(&s);
	ck_assert_int_eq(s.safe_kind, SAFE_STATE_LOST);
	ck_assert_msg(strstr(s.safe_mode, "does not exist") != NULL, "%s", s.safe_mode);
	struct stat sb;
	ck_assert_int_eq(lstat(dir, &sb), -1);
	site_close(&s);

	/* a dangling symbolic link in its place: the same */
	ck_assert_int_eq(symlink("/nonexistent/routectl-state", dir), 0);
	open_site(&s);
	ck_assert_int_eq(s.safe_kind, SAFE_STATE_LOST);
	ck_assert_msg(strstr(s.safe_mode, "symbolic link") != NULL, "%s", s.safe_mode);
	site_close(&s);
}
END_TEST

/* A FIFO at state.json: refused at once (not opened, so nothing blocks),
 * safe mode "state-unusable"; adopt over it only with force. */
START_TEST(fifo_state_is_unusable)
{
	char dir[256], st[256];
	path_of(dir, sizeof dir, "state");
	path_of(st, sizeof st, "state/state.json");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(mkfifo(st, 0600), 0);
	struct site s;
	open_site(&s);
	ck_assert_int_eq(s.safe_kind, SAFE_STATE_UNUSABLE);
	ck_assert_msg(strstr(s.safe_mode, "FIFO") && strstr(s.safe_mode, st), "%s", s.safe_mode);
	struct caller who = { .actor = "alice" };
	struct adopt_request ar = adopt_req(0);
	struct adopt_result out;
	struct err e;
	ck_assert_int_eq(site_adopt(&s, NULL, &ar, &who, &out, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "not for a lost state") && strstr(e.msg, "--force"), "%s",
		      e.msg);
	ar = adopt_req(1);
	ck_assert_int_eq(site_adopt(&s, NULL, &ar, &who, &out, &e), -ERR_CONNECT);
	struct stat sb;
	ck_assert_int_eq(lstat(st, &sb), 0);
	ck_assert(S_ISFIFO(sb.st_mode));
	site_close(&s);
}
END_TEST

/* adopt is only for safe mode. */
START_TEST(adopt_refused_when_state_loaded)
{
	struct site s;
	open_site(&s);
	struct caller who = { .actor = "alice" };
	struct adopt_request ar = adopt_req(1);
	struct adopt_result out;
	struct err e;
	ck_assert_int_eq(site_adopt(&s, NULL, &ar, &who, &out, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "not in safe mode") != NULL, "%s", e.msg);
	site_close(&s);
}
END_TEST

/* SIGHUP after the state file was deleted under a running site: safe mode
 * "state-lost", not a fresh state. */
/* A policy file changed under a running routectld: a good one is taken on
 * reload, a bad one is refused with its path and the old one stays. */
START_TEST(reload_policy_bad_keeps_old)
{
	char conf[2048], policy[300];
	snprintf(policy, sizeof policy, "%s/policy.json", tmpdir);
	tu_write_file(tmpdir, "policy.json",
		      "{\"routectl-policy:policy\": {\"guards\": {\"max-drained-sites\": 2}}}");
	snprintf(conf, sizeof conf,
		 "{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": 65001,"
		 " \"bird\": {\"control-socket\": \"%s/bird.ctl\", \"include\": \"%s/routectl.conf\","
		 " \"bgp-protocol\": [\"isp\"]},"
		 " \"state-dir\": \"%s/state\", \"console\": {\"socket\": \"%s/d.sock\"},"
		 " \"policy-file\": \"%s\","
		 " \"service\": [{\"name\": \"web\", \"ipv4-prefix\": [\"192.0.2.0/24\"]}]}}",
		 tmpdir, tmpdir, tmpdir, tmpdir, policy);
	tu_write_file(tmpdir, "routectld.json", conf);
	struct site s;
	open_site(&s);
	ck_assert_uint_eq(s.policy.max_drained_sites, 2);
	int changed;
	struct err e;
	tu_write_file(tmpdir, "policy.json",
		      "{\"routectl-policy:policy\": {\"guards\": {\"max-drained-sites\": 3}}}");
	ck_assert_msg(site_reload(&s, &changed, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.policy.max_drained_sites, 3);
	tu_write_file(tmpdir, "policy.json",
		      "{\"routectl-policy:policy\": {\"guards\": {\"max-drained-sites\": 0}}}");
	ck_assert_int_eq(site_reload(&s, &changed, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "keeping the running config") && strstr(e.msg, policy) &&
			      strstr(e.msg, "max-drained-sites: 0: out of range"),
		      "%s", e.msg);
	ck_assert_uint_eq(s.policy.max_drained_sites, 3);
	site_close(&s);
}
END_TEST

/* What only a restart can change is refused by name, with both values,
 * and nothing is swapped; a good config is swapped in and the one it
 * replaced handed back. */
START_TEST(reload_load_refuses_restart_only_then_swaps)
{
	struct site s;
	open_site(&s);
	char conf[2048];
	static const char *const fmt =
		"{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": 65001,"
		" \"bird\": {\"control-socket\": \"%s/bird.ctl\", \"include\": \"%s/routectl.conf\","
		" \"bgp-protocol\": [\"isp\"]},"
		" \"state-dir\": \"%s/%s\", \"console\": {\"socket\": \"%s/%s\"},"
		" \"service\": [{\"name\": \"web\", \"ipv4-prefix\": [\"192.0.2.0/24\"]}]}}";
	struct site_config c;
	struct err e;
	snprintf(conf, sizeof conf, fmt, tmpdir, tmpdir, tmpdir, "state", tmpdir, "other.sock");
	tu_write_file(tmpdir, "routectld.json", conf);
	ck_assert_int_eq(site_reload_load(&s, &c, &e), -ERR_INVALID);
	ck_assert_ptr_null(c.conf);
	ck_assert_msg(strstr(e.msg, "keeping the running config: console/socket changed from") &&
			      strstr(e.msg, "d.sock' to '") && strstr(e.msg, "other.sock'") &&
			      strstr(e.msg, "only with a restart") && strstr(e.msg, s.conf_path),
		      "%s", e.msg);
	snprintf(conf, sizeof conf, fmt, tmpdir, tmpdir, tmpdir, "state2", tmpdir, "d.sock");
	tu_write_file(tmpdir, "routectld.json", conf);
	ck_assert_int_eq(site_reload_load(&s, &c, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "state-dir changed from"), "%s", e.msg);
	ck_assert_uint_eq(s.conf->n_services, 2);

	snprintf(conf, sizeof conf, fmt, tmpdir, tmpdir, tmpdir, "state", tmpdir, "d.sock");
	tu_write_file(tmpdir, "routectld.json", conf);
	ck_assert_msg(site_reload_load(&s, &c, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.conf->n_services, 2);   /* loaded, not yet in force */
	const struct conf *fresh = c.conf, *old = s.conf;
	int changed = -1;
	site_reload_swap(&s, &c, &changed);
	ck_assert_ptr_eq(s.conf, fresh);
	ck_assert_ptr_eq(c.conf, old);
	ck_assert_int_eq(changed, 0);
	ck_assert_uint_eq(s.conf->n_services, 1);
	site_config_free(&c);
	ck_assert_ptr_null(c.conf);
	site_close(&s);
}
END_TEST

START_TEST(reload_after_delete_is_safe_mode)
{
	struct site s;
	open_site(&s);
	char st[256];
	path_of(st, sizeof st, "state/state.json");
	ck_assert_int_eq(unlink(st), 0);
	int changed;
	struct err e;
	time_t before = time(NULL);
	ck_assert_int_eq(site_reload(&s, &changed, &e), 0);
	ck_assert_int_eq(s.safe_kind, SAFE_STATE_LOST);
	struct stat sb;
	ck_assert_int_eq(lstat(st, &sb), -1);
	/* What it held is kept as the last known state (status shows it as
	 * such), with when the loss was found; a second SIGHUP keeps that. */
	ck_assert_ptr_nonnull(s.state);
	ck_assert(s.safe_since >= before && s.safe_since <= time(NULL));
	s.safe_since -= 60;
	time_t first = s.safe_since;
	ck_assert_int_eq(site_reload(&s, &changed, &e), 0);
	ck_assert_int_eq(s.safe_kind, SAFE_STATE_LOST);
	ck_assert(s.safe_since == first);
	site_close(&s);
}
END_TEST

/* The first start's "not yet compared with BIRD" survives a restart (the
 * marker in the state directory); a state loaded without the marker (a
 * later start, a crash in a first drain after the comparison) is not
 * compared again. */
START_TEST(first_start_unchecked_survives_restart)
{
	struct site s;
	open_site(&s);
	ck_assert_int_eq(s.first_start_unchecked, 1);
	char marker[256];
	path_of(marker, sizeof marker, "state/" FIRST_START_MARKER);
	struct stat sb;
	ck_assert_int_eq(lstat(marker, &sb), 0);
	site_close(&s);

	open_site(&s);  /* restarted before BIRD was ever reached */
	ck_assert_str_eq(s.safe_mode, "");
	ck_assert_ptr_nonnull(s.state);
	ck_assert_int_eq(s.first_start_unchecked, 1);
	site_close(&s);

	ck_assert_int_eq(unlink(marker), 0);  /* as after the comparison */
	open_site(&s);
	ck_assert_int_eq(s.first_start_unchecked, 0);
	site_close(&s);
}
END_TEST

/* A state file older than the include (a restored backup) continues from
 * the include's generation: the generation never goes backwards. */
START_TEST(generation_continues_from_include)
{
	struct site s;
	open_site(&s);
	site_close(&s);
	char *inc = tu_read_file(tmpdir, "routectl.conf");
	size_t first_line = strcspn(inc, "\n");
	ck_assert(inc[first_line] == '\n');
	char *text = NULL;
	ck_assert_int_ge(asprintf(&text, "# Generated by routectld for site ash, generation 7.%s",
				  inc + first_line), 0);
	free(inc);
	tu_write_file(tmpdir, "routectl.conf", text);
	free(text);
	open_site(&s);
	ck_assert_str_eq(s.safe_mode, "");
	ck_assert_uint_eq(s.state->generation, 7);
	site_close(&s);
	char *st = tu_read_file(tmpdir, "state/state.json");
	ck_assert_msg(strstr(st, "\"generation\": \"7\"") || strstr(st, "\"generation\":\"7\"") ||
		      strstr(st, "\"generation\": 7"), "%s", st);
	free(st);
}
END_TEST

/* The transport knows only the uid; the name is looked up off the loop. */
START_TEST(caller_name_resolved_off_the_loop)
{
	struct caller root = { .actor = "uid 0 via console", .has_uid = 1, .uid = 0 };
	caller_resolve_name(&root);
	ck_assert_str_eq(root.actor, "root (uid 0) via console");
	/* No such user: the uid stays the name. */
	struct caller ghost = { .actor = "uid 3999999999 via console", .has_uid = 1,
				.uid = 3999999999u };
	caller_resolve_name(&ghost);
	ck_assert_str_eq(ghost.actor, "uid 3999999999 via console");
	/* No uid (not a console caller): the actor is left as given. */
	struct caller bot = { .actor = "chatops" };
	caller_resolve_name(&bot);
	ck_assert_str_eq(bot.actor, "chatops");
}
END_TEST

/* The fake BIRD (fakebird.h) listens where the site's config says BIRD is. */
static struct bird_conn *fake_start(struct fake_bird *f, const struct fake_exch *ex, size_t n)
{
	char path[128];
	snprintf(path, sizeof path, "%s/bird.ctl", tmpdir);
	return fake_bird_start(f, path, ex, n);
}

/* ... and must have been asked every command it was given. */
static void fake_stop(struct fake_bird *f, struct bird_conn *c)
{
	fake_bird_stop(f, c);
	ck_assert_msg(f->done == f->n_ex, "fake BIRD: %zu of %zu commands asked", f->done,
		      f->n_ex);
}

/* BIRD has protocol isp (both families) and no sentinel routes. */
#define PRECHECK_ISP                                                                       \
	{ "show protocols all", "show_protocols_all_isp.txt", 1 },                          \
	{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_prefix_not_found.txt", \
	  1 },                                                                             \
	{ "show route 100::1/128 protocol routectl_v6", "show_route_prefix_not_found.txt", 1 }

/* Every apply is counted with its result and duration: a drain that BIRD
 * takes is ok, an undrain that BIRD refuses is failed, a dry run is not
 * counted; the histogram's count and sum follow. */
START_TEST(apply_stats_count_applies)
{
	static const struct fake_exch ex[] = {
		/* drain web --now: BIRD exports dns only (no service has IPv6
		 * prefixes: verify asks about IPv4 only) */
		PRECHECK_ISP,
		{ "configure timeout 30", "configure_timeout.txt", 1 },
		{ "show route export isp protocol routectl_v4 all",
		  "1007-Table master4:\n"
		  " 198.51.100.0/24      blackhole [routectl_v4 10:36:01.554] * (200)\n"
		  "1008-\tType: static univ\n0000 \n", 0 },
		{ "configure confirm", "configure_confirm.txt", 1 },
		/* undrain web --now: BIRD rejects the config */
		PRECHECK_ISP,
		{ "configure timeout 30", "configure_check_syntax_error.txt", 1 },
	};
	struct site s;
	open_site(&s);
	site_close(&s);
	char marker[256];
	snprintf(marker, sizeof marker, "%s/state/" FIRST_START_MARKER, tmpdir);
	ck_assert_int_eq(unlink(marker), 0);   /* as after the first comparison with BIRD */
	open_site(&s);
	ck_assert_uint_eq(s.apply_stats.count, 0);

	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	const char *svc[] = { "web" };
	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;

	struct change_request req = drain_req(svc, 1, 1);
	ck_assert_int_eq(site_change(&s, b, &req, &who, &res, &e), 0);
	change_result_free(&res);
	ck_assert_uint_eq(s.apply_stats.count, 0);   /* a dry run applies nothing */

	req = drain_req(svc, 1, 0);
	ck_assert_msg(site_change(&s, b, &req, &who, &res, &e) == 0, "%s", e.msg);
	ck_assert(res.applied && !res.partial);
	change_result_free(&res);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_WITHDRAW);
	ck_assert_uint_eq(s.apply_stats.ok, 1);
	ck_assert_uint_eq(s.apply_stats.partial, 0);
	ck_assert_uint_eq(s.apply_stats.failed, 0);
	ck_assert_uint_eq(s.apply_stats.count, 1);
	ck_assert_int_eq(s.apply_stats.sum_ms, s.last.ms);
	int64_t first_ms = s.last.ms;

	req = drain_req(svc, 1, 0);
	req.kind = CHANGE_UNDRAIN;
	ck_assert_int_eq(site_change(&s, b, &req, &who, &res, &e), -ERR_BIRD);
	ck_assert(!s.last.ok);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_WITHDRAW);
	ck_assert_uint_eq(s.apply_stats.ok, 1);
	ck_assert_uint_eq(s.apply_stats.failed, 1);
	ck_assert_uint_eq(s.apply_stats.count, 2);
	ck_assert_int_eq(s.apply_stats.sum_ms, first_ms + s.last.ms);
	unsigned long long in_buckets = 0;
	for (size_t i = 0; i <= APPLY_DURATION_BUCKETS; i++)
		in_buckets += s.apply_stats.bucket[i];
	ck_assert_uint_eq(in_buckets, 2);
	fake_stop(&f, b);

	/* Without BIRD a change fails too, and counts as failed. */
	req = drain_req(svc, 1, 0);
	req.kind = CHANGE_UNDRAIN;
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_CONNECT);
	ck_assert_uint_eq(s.apply_stats.failed, 2);
	ck_assert_uint_eq(s.apply_stats.count, 3);
	site_close(&s);
}
END_TEST

/* Each duration lands in the one bucket whose bound is the first at or
 * above it; the sum and the count follow. */
START_TEST(apply_stats_buckets)
{
	struct apply_stats st = { 0 };
	apply_stats_record(&st, APPLY_RESULT_OK, 5);        /* on the first bound */
	apply_stats_record(&st, APPLY_RESULT_PARTIAL, 6);   /* just above it */
	apply_stats_record(&st, APPLY_RESULT_FAILED, 30001); /* above the last */
	apply_stats_record(&st, APPLY_RESULT_OK, -1);       /* a clock step: 0 */
	ck_assert_uint_eq(st.bucket[0], 2);
	ck_assert_uint_eq(st.bucket[1], 1);
	ck_assert_uint_eq(st.bucket[APPLY_DURATION_BUCKETS], 1);
	ck_assert_uint_eq(st.ok, 2);
	ck_assert_uint_eq(st.partial, 1);
	ck_assert_uint_eq(st.failed, 1);
	ck_assert_uint_eq(st.count, 4);
	ck_assert_int_eq(st.sum_ms, 5 + 6 + 30001);
	ck_assert_int_eq(apply_duration_bounds_ms[0], 5);
	ck_assert_int_eq(apply_duration_bounds_ms[APPLY_DURATION_BUCKETS - 1], 30000);
}
END_TEST

/*
 * Commit-confirm and staged steps, with the scripted BIRD. The deadline and
 * the time of a step are moved into the past in the state (site.c reads the
 * wall clock, and these tests do not wait for it).
 */

/* Exports of web (192.0.2.0/24) and dns (198.51.100.0/24) as BIRD 2.0.12
 * prints them; routectl_export() accepts both unchanged. */
#define EXPORT_BOTH                                                                        \
	"1007-Table master4:\n"                                                            \
	" 192.0.2.0/24         blackhole [routectl_v4 10:36:01.554] * (200)\n"             \
	" 198.51.100.0/24      blackhole [routectl_v4 10:36:01.554] * (200)\n"             \
	"0000 \n"
/* web withdrawn: dns only. */
#define EXPORT_DNS                                                                         \
	"1007-Table master4:\n"                                                            \
	" 198.51.100.0/24      blackhole [routectl_v4 10:36:01.554] * (200)\n"             \
	"1008-\tType: static univ\n0000 \n"

#define APPLY_EXPORTING(what)                                                              \
	PRECHECK_ISP,                                                                      \
	{ "configure timeout 30", "configure_timeout.txt", 1 },                             \
	{ "show route export isp protocol routectl_v4 all", what, 0 },                      \
	{ "configure confirm", "configure_confirm.txt", 1 }

/* A site whose first comparison with BIRD is done. */
static void open_checked_site(struct site *s)
{
	open_site(s);
	site_close(s);
	char marker[256];
	snprintf(marker, sizeof marker, "%s/state/" FIRST_START_MARKER, tmpdir);
	ck_assert_int_eq(unlink(marker), 0);
	open_site(s);
}

/* Takes the site's automatic change records: exactly n of them. */
static void take_autos(struct site *s, struct auto_changes *a, size_t n)
{
	memset(a, 0, sizeof *a);
	ck_assert_int_ge(site_take_auto_changes(s, a), 0);
	ck_assert_uint_eq(a->n, n);
	ck_assert_uint_eq(s->autos.n, 0);
}

static void drain_web_confirmed(struct site *s, struct bird_conn *b, unsigned within,
				char id[17])
{
	const char *svc[] = { "web" };
	struct change_request req = drain_req(svc, 1, 0);
	req.confirm_within_s = within;
	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;
	time_t before = time(NULL);
	ck_assert_msg(site_change(s, b, &req, &who, &res, &e) == 0, "%s", e.msg);
	ck_assert(res.applied);
	ck_assert_int_ge(res.confirm_deadline, before + (time_t)within);
	ck_assert_int_le(res.confirm_deadline, time(NULL) + (time_t)within);
	memcpy(id, res.change_id, 17);
	change_result_free(&res);
	const struct svc_state *web = state_find(s->state, "web");
	ck_assert_int_eq(web->mode, MODE_WITHDRAW);
	ck_assert(web->has_confirm);
	ck_assert_str_eq(web->confirm_change_id, id);
	ck_assert_int_eq(web->revert_mode, MODE_ANNOUNCE);
	ck_assert(!state_find(s->state, "dns")->has_confirm);
}

/* An unconfirmed drain: the deadline is in the state file (a restart keeps
 * it), and once it passed routectld puts web back to announce as its own
 * change; a confirm then is too late (409), an id never seen is 404. */
START_TEST(confirm_deadline_reverts_across_restart)
{
	static const struct fake_exch ex[] = {
		APPLY_EXPORTING(EXPORT_DNS),    /* the drain */
		APPLY_EXPORTING(EXPORT_BOTH),   /* the revert */
	};
	struct site s;
	open_checked_site(&s);
	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	char id[17];
	drain_web_confirmed(&s, b, 600, id);
	time_t deadline = state_find(s.state, "web")->confirm_deadline;

	/* Nothing is due before the deadline. */
	site_run_due(&s, b, now_ms());
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_WITHDRAW);
	ck_assert_uint_eq(f.done, 6);   /* the drain's commands, no more */

	/* routectld restarts: the pending revert comes back from the file. */
	site_close(&s);
	open_site(&s);
	struct svc_state *web = state_find(s.state, "web");
	ck_assert(web->has_confirm);
	ck_assert_str_eq(web->confirm_change_id, id);
	ck_assert_int_eq(web->confirm_deadline, deadline);
	ck_assert_int_eq(web->revert_mode, MODE_ANNOUNCE);
	ck_assert_int_eq(web->mode, MODE_WITHDRAW);
	/* ... and is due as soon as the deadline passed. */
	ck_assert_int_le(site_next_due_ms(&s, b), now_ms() + 601 * 1000);
	web->confirm_deadline = time(NULL) - 1;
	ck_assert_int_le(site_next_due_ms(&s, b), now_ms());
	uint64_t gen = s.state->generation;
	struct auto_changes autos;
	take_autos(&s, &autos, 0);     /* nothing was done on its own yet */
	site_run_due(&s, b, now_ms());
	web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_ANNOUNCE);
	ck_assert(!web->has_confirm);
	/* The revert has a record of its own: on which change, what moved. */
	take_autos(&s, &autos, 1);
	const struct auto_change *ac = &autos.recs[0];
	ck_assert_int_eq(ac->kind, AUTO_CONFIRM_REVERT);
	ck_assert_str_eq(auto_kind_name(ac->kind), "confirm-revert");
	ck_assert_str_eq(ac->change_id, web->change_id);
	ck_assert_str_eq(ac->follows, id);
	ck_assert_str_eq(ac->follows_actor, "alice");
	ck_assert_ptr_nonnull(strstr(ac->reason, id));
	ck_assert_int_eq(ac->result, APPLY_RESULT_OK);
	ck_assert_str_eq(ac->error, "");
	ck_assert_uint_eq(ac->failed_attempts, 0);
	ck_assert_uint_eq(ac->n_svcs, 1);
	ck_assert_str_eq(ac->svcs[0].name, "web");
	ck_assert_int_eq(ac->svcs[0].from_mode, MODE_WITHDRAW);
	ck_assert_int_eq(ac->svcs[0].to_mode, MODE_ANNOUNCE);
	ck_assert_int_gt(ac->epoch_ms, (int64_t)(time(NULL) - 60) * 1000);
	auto_changes_free(&autos);
	char actor[128];
	snprintf(actor, sizeof actor, "routectld (confirm deadline of %s passed)", id);
	ck_assert_str_eq(web->actor, actor);
	ck_assert_str_ne(web->change_id, id);
	ck_assert_ptr_nonnull(strstr(web->reason, "maintenance"));
	ck_assert_uint_eq(s.state->generation, gen + 1);
	ck_assert_str_eq(s.last.trigger, "confirm-revert");
	ck_assert(s.last.ok);
	/* dns was not part of the change: left alone. */
	ck_assert_str_eq(state_find(s.state, "dns")->actor, "routectld");

	struct confirm_request cr = { .change_id = id };
	struct caller who = { .actor = "alice" };
	struct confirm_result cres;
	struct err e;
	ck_assert_int_eq(site_confirm(&s, &cr, &who, &cres, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "reverted") != NULL, "%s", e.msg);
	ck_assert_str_eq(cres.ended, "reverted");
	cr.change_id = "00000000deadbeef";
	ck_assert_int_eq(site_confirm(&s, &cr, &who, &cres, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, "00000000deadbeef") != NULL, "%s", e.msg);
	ck_assert_str_eq(cres.ended, "");
	/* A change that brings the id of one the state has (a fleet's id used
	 * twice) is refused before BIRD is asked. */
	const char *dns[] = { "dns" };
	struct change_request again = drain_req(dns, 1, 0);
	memcpy(again.change_id, id, sizeof again.change_id);
	struct change_result res;
	size_t done = f.done;
	ck_assert_int_eq(site_change(&s, b, &again, &who, &res, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "already names another change"), "%s", e.msg);
	ck_assert_uint_eq(f.done, done);
	ck_assert_int_eq(state_find(s.state, "dns")->mode, MODE_ANNOUNCE);
	fake_stop(&f, b);

	/* The revert and its outcome are in the file too. */
	site_close(&s);
	open_site(&s);
	web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_ANNOUNCE);
	ck_assert(!web->has_confirm);
	const struct confirm_end *ce = state_find_confirm_end(s.state, id);
	ck_assert_ptr_nonnull(ce);
	ck_assert_int_eq(ce->outcome, CONFIRM_REVERTED);
	site_close(&s);
}
END_TEST

/* An unconfirmed undrain whose revert would withdraw web again, with no
 * fleet to say another site announces it: the guards refuse the revert, so
 * web stays announced (safety first) and the wait ends as "kept". */
START_TEST(confirm_revert_refused_by_guard_keeps_service)
{
	static const struct fake_exch ex[] = {
		APPLY_EXPORTING(EXPORT_DNS),    /* the drain */
		APPLY_EXPORTING(EXPORT_BOTH),   /* the undrain */
		APPLY_EXPORTING(EXPORT_BOTH),   /* the kept state saved */
	};
	struct site s;
	open_checked_site(&s);
	s.policy.stand_alone = 0;
	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	const char *svc[] = { "web" };
	struct change_request req = drain_req(svc, 1, 0);
	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;
	ck_assert_msg(site_change(&s, b, &req, &who, &res, &e) == 0, "%s", e.msg);
	change_result_free(&res);
	req.kind = CHANGE_UNDRAIN;
	req.confirm_within_s = 600;
	ck_assert_msg(site_change(&s, b, &req, &who, &res, &e) == 0, "%s", e.msg);
	char id[17];
	memcpy(id, res.change_id, 17);
	change_result_free(&res);
	struct svc_state *web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_ANNOUNCE);
	ck_assert(web->has_confirm);
	ck_assert_int_eq(web->revert_mode, MODE_WITHDRAW);

	web->confirm_deadline = time(NULL) - 1;
	site_run_due(&s, b, now_ms());
	web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_ANNOUNCE);
	ck_assert(!web->has_confirm);
	const struct confirm_end *ce = state_find_confirm_end(s.state, id);
	ck_assert_ptr_nonnull(ce);
	ck_assert_int_eq(ce->outcome, CONFIRM_KEPT);
	ck_assert_str_eq(s.last.trigger, "confirm-kept");
	/* The kept revert has a record: web stays announced, and why. */
	struct auto_changes autos;
	take_autos(&s, &autos, 1);
	const struct auto_change *ac = &autos.recs[0];
	ck_assert_int_eq(ac->kind, AUTO_REVERT_KEPT);
	ck_assert_str_eq(auto_kind_name(ac->kind), "confirm-revert-kept");
	ck_assert_str_eq(ac->follows, id);
	ck_assert_int_eq(ac->result, APPLY_RESULT_OK);
	ck_assert_int_eq(ac->error_code, ERR_POLICY);
	ck_assert_msg(ac->error[0] != '\0', "the guard that kept it is named");
	ck_assert_uint_eq(ac->n_svcs, 1);
	ck_assert_int_eq(ac->svcs[0].from_mode, MODE_ANNOUNCE);
	ck_assert_int_eq(ac->svcs[0].to_mode, MODE_ANNOUNCE);
	auto_changes_free(&autos);
	fake_stop(&f, b);
	site_close(&s);
}
END_TEST

/* A confirm in time keeps the change: nothing is reverted at the deadline,
 * BIRD is not asked, and a second confirm says it was confirmed already. */
START_TEST(confirm_in_time_keeps_change)
{
	static const struct fake_exch ex[] = { APPLY_EXPORTING(EXPORT_DNS) };
	struct site s;
	open_checked_site(&s);
	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	char id[17];
	drain_web_confirmed(&s, b, 60, id);
	uint64_t gen = s.state->generation;

	struct confirm_request cr = { .change_id = id, .reason = "looks good" };
	struct caller who = { .actor = "bob" };
	struct confirm_result cres;
	struct err e;
	ck_assert_msg(site_confirm(&s, &cr, &who, &cres, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(cres.change_id, id);
	ck_assert_uint_eq(cres.n_items, 1);
	ck_assert_str_eq(cres.items[0].service, "web");
	ck_assert_int_eq(cres.items[0].from_mode, MODE_ANNOUNCE);
	ck_assert_int_eq(cres.items[0].to_mode, MODE_WITHDRAW);
	confirm_result_free(&cres);
	ck_assert_uint_eq(s.state->generation, gen);   /* BIRD's include is unchanged */
	ck_assert(!state_find(s.state, "web")->has_confirm);

	/* Past the old deadline nothing happens (the fake would see it). */
	site_run_due(&s, b, now_ms());
	ck_assert_int_eq(site_confirm(&s, &cr, &who, &cres, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "confirmed already") != NULL, "%s", e.msg);
	fake_stop(&f, b);

	site_close(&s);
	open_site(&s);
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_WITHDRAW);
	ck_assert(!state_find(s.state, "web")->has_confirm);
	ck_assert_int_eq(state_find_confirm_end(s.state, id)->outcome, CONFIRM_CONFIRMED);
	site_close(&s);
}
END_TEST

/* A later change of the service supersedes the pending revert: at the old
 * deadline nothing is reverted, and confirming the old change says why. */
START_TEST(later_change_supersedes_revert)
{
	static const struct fake_exch ex[] = {
		APPLY_EXPORTING(EXPORT_DNS),    /* drain --confirm-within */
		APPLY_EXPORTING(EXPORT_BOTH),   /* undrain --now */
	};
	struct site s;
	open_checked_site(&s);
	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	char id[17];
	drain_web_confirmed(&s, b, 600, id);
	const char *svc[] = { "web" };
	struct change_request req = drain_req(svc, 1, 0);
	req.kind = CHANGE_UNDRAIN;
	struct caller who = { .actor = "carol" };
	struct change_result res;
	struct err e;
	ck_assert_msg(site_change(&s, b, &req, &who, &res, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(res.confirm_deadline, 0);
	change_result_free(&res);
	const struct svc_state *web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_ANNOUNCE);
	ck_assert(!web->has_confirm);
	ck_assert_int_eq(state_find_confirm_end(s.state, id)->outcome, CONFIRM_SUPERSEDED);
	site_run_due(&s, b, now_ms());
	struct confirm_request cr = { .change_id = id };
	struct confirm_result cres;
	ck_assert_int_eq(site_confirm(&s, &cr, &who, &cres, &e), -ERR_REFUSED);
	ck_assert_msg(strstr(e.msg, "replaced") != NULL, "%s", e.msg);
	fake_stop(&f, b);
	site_close(&s);
}
END_TEST

/* A staged drain interrupted by a restart: the step planned before it is in
 * the state file and runs once due; it keeps the pending confirmation of
 * the change that planned it (the revert goes back to the state before that
 * change, not to the prepend). */
START_TEST(staged_step_resumes_after_restart)
{
	static const struct fake_exch ex[] = { APPLY_EXPORTING(EXPORT_DNS) };
	struct site s;
	open_checked_site(&s);
	/* As a staged drain with a confirm deadline leaves it after its first
	 * stage: web prepended, withdraw next. */
	struct svc_state *web = state_find(s.state, "web");
	struct err e;
	ck_assert_int_eq(svc_state_set(web, MODE_PREPEND, 3, "alice", "drill", "00000000000000aa",
				       time(NULL)), 0);
	web->has_next = 1;
	web->next_mode = MODE_WITHDRAW;
	web->next_at = time(NULL) + 300;
	web->has_confirm = 1;
	snprintf(web->confirm_change_id, sizeof web->confirm_change_id, "00000000000000aa");
	web->confirm_deadline = time(NULL) + 900;
	web->revert_mode = MODE_ANNOUNCE;
	char path[256];
	snprintf(path, sizeof path, "%s/state/state.json", tmpdir);
	ck_assert_msg(state_save(path, s.state, &e) == 0, "%s", e.msg);
	site_close(&s);

	open_site(&s);
	web = state_find(s.state, "web");
	ck_assert(web->has_next);
	ck_assert_int_eq(web->next_mode, MODE_WITHDRAW);
	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	site_run_due(&s, b, now_ms());    /* not yet due: BIRD is not asked */
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_PREPEND);
	web->next_at = time(NULL);     /* the planned time has come */
	site_run_due(&s, b, now_ms());
	web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_WITHDRAW);
	ck_assert(!web->has_next);
	ck_assert_str_eq(s.last.trigger, "staged");
	ck_assert(web->has_confirm);
	ck_assert_str_eq(web->confirm_change_id, "00000000000000aa");
	ck_assert_int_eq(web->revert_mode, MODE_ANNOUNCE);
	/* The step has a record: routectld's change on the staged drain's. */
	struct auto_changes autos;
	take_autos(&s, &autos, 1);
	const struct auto_change *ac = &autos.recs[0];
	ck_assert_int_eq(ac->kind, AUTO_STAGED_STEP);
	ck_assert_str_eq(auto_kind_name(ac->kind), "staged-step");
	ck_assert_str_eq(ac->change_id, web->change_id);
	ck_assert_str_ne(ac->change_id, "00000000000000aa");
	ck_assert_str_eq(ac->follows, "00000000000000aa");
	ck_assert_str_eq(ac->follows_actor, "alice");
	ck_assert_str_eq(ac->reason, "drill");
	ck_assert_int_eq(ac->result, APPLY_RESULT_OK);
	ck_assert_uint_eq(ac->n_svcs, 1);
	ck_assert_str_eq(ac->svcs[0].name, "web");
	ck_assert_int_eq(ac->svcs[0].from_mode, MODE_PREPEND);
	ck_assert_uint_eq(ac->svcs[0].from_prepend, 3);
	ck_assert_int_eq(ac->svcs[0].to_mode, MODE_WITHDRAW);
	auto_changes_free(&autos);
	fake_stop(&f, b);
	site_close(&s);
}
END_TEST

/* A staged step that BIRD refuses is retried; only the first failure of
 * the streak has a record (failed, with BIRD's words), the retries that
 * fail too have none, and the step that then goes through says how many
 * failed before it. Its next failure starts a new streak. */
START_TEST(staged_step_failure_streak_recorded_once)
{
	static const struct fake_exch ex[] = {
		PRECHECK_ISP,
		{ "configure timeout 30", "configure_check_syntax_error.txt", 1 },
		PRECHECK_ISP,
		{ "configure timeout 30", "configure_check_syntax_error.txt", 1 },
		PRECHECK_ISP,
		{ "configure timeout 30", "configure_check_syntax_error.txt", 1 },
		APPLY_EXPORTING(EXPORT_DNS),
	};
	struct site s;
	open_checked_site(&s);
	struct svc_state *web = state_find(s.state, "web");
	ck_assert_int_eq(svc_state_set(web, MODE_PREPEND, 3, "alice", "drill", "00000000000000cc",
				       time(NULL)), 0);
	web->has_next = 1;
	web->next_mode = MODE_WITHDRAW;
	web->next_at = time(NULL);
	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	struct auto_changes autos;

	site_run_due(&s, b, now_ms());
	ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_PREPEND);
	take_autos(&s, &autos, 1);
	ck_assert_int_eq(autos.recs[0].kind, AUTO_STAGED_STEP);
	ck_assert_int_eq(autos.recs[0].result, APPLY_RESULT_FAILED);
	ck_assert_int_eq(autos.recs[0].error_code, ERR_BIRD);
	ck_assert_msg(autos.recs[0].error[0] != '\0', "BIRD's words are in the record");
	ck_assert_str_eq(autos.recs[0].follows, "00000000000000cc");
	ck_assert_int_eq(autos.recs[0].svcs[0].to_mode, MODE_WITHDRAW);
	ck_assert_uint_eq(autos.recs[0].failed_attempts, 0);
	auto_changes_free(&autos);

	/* Retried (not waiting the 5 s here): fails again, no record. */
	for (int i = 0; i < 2; i++) {
		s.step_retry_ms = 0;
		site_run_due(&s, b, now_ms());
		ck_assert_int_eq(state_find(s.state, "web")->mode, MODE_PREPEND);
		take_autos(&s, &autos, 0);
	}
	s.step_retry_ms = 0;
	site_run_due(&s, b, now_ms());
	web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_WITHDRAW);
	take_autos(&s, &autos, 1);
	ck_assert_int_eq(autos.recs[0].result, APPLY_RESULT_OK);
	ck_assert_uint_eq(autos.recs[0].failed_attempts, 3);
	ck_assert_str_eq(autos.recs[0].change_id, web->change_id);
	ck_assert_str_eq(autos.recs[0].error, "");
	auto_changes_free(&autos);
	ck_assert_uint_eq(s.step_failures, 0);   /* the streak ended */
	fake_stop(&f, b);
	site_close(&s);
}
END_TEST

/* A new change supersedes a staged plan: no step is left behind. */
START_TEST(new_change_supersedes_staged_plan)
{
	static const struct fake_exch ex[] = { APPLY_EXPORTING(EXPORT_BOTH) };
	struct site s;
	open_checked_site(&s);
	struct svc_state *web = state_find(s.state, "web");
	ck_assert_int_eq(svc_state_set(web, MODE_PREPEND, 3, "alice", "drill", "00000000000000bb",
				       time(NULL)), 0);
	web->has_next = 1;
	web->next_mode = MODE_WITHDRAW;
	web->next_at = time(NULL) + 300;
	struct fake_bird f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	const char *svc[] = { "web" };
	struct change_request req = drain_req(svc, 1, 0);
	req.kind = CHANGE_UNDRAIN;
	struct caller who = { .actor = "carol" };
	struct change_result res;
	struct err e;
	ck_assert_msg(site_change(&s, b, &req, &who, &res, &e) == 0, "%s", e.msg);
	change_result_free(&res);
	web = state_find(s.state, "web");
	ck_assert_int_eq(web->mode, MODE_ANNOUNCE);
	ck_assert(!web->has_next);
	ck_assert_int_eq(site_next_due_ms(&s, b), s.next_reconcile_ms);
	fake_stop(&f, b);
	site_close(&s);
}
END_TEST

/* confirm_within beyond a day is refused before anything is done. */
START_TEST(confirm_within_bounded)
{
	struct site s;
	open_site(&s);
	const char *svc[] = { "web" };
	struct change_request req = drain_req(svc, 1, 0);
	req.confirm_within_s = CONFIRM_WITHIN_MAX_S + 1;
	struct caller who = { .actor = "alice" };
	struct change_result res;
	struct err e;
	ck_assert_int_eq(site_change(&s, NULL, &req, &who, &res, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "confirm within") != NULL, "%s", e.msg);
	site_close(&s);
}
END_TEST

static Suite *site_suite(void)
{
	Suite *su = suite_create("site");
	TCase *tc = tcase_create("controller");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, open_creates_state_and_include);
	tcase_add_test(tc, caller_name_resolved_off_the_loop);
	tcase_add_test(tc, change_without_bird_changes_nothing);
	tcase_add_test(tc, dry_run_without_bird);
	tcase_add_test(tc, refusals_name_the_problem);
	tcase_add_test(tc, safe_mode_refuses);
	tcase_add_test(tc, lost_state_is_safe_mode);
	tcase_add_test(tc, missing_state_dir_is_safe_mode);
	tcase_add_test(tc, fifo_state_is_unusable);
	tcase_add_test(tc, adopt_refused_when_state_loaded);
	tcase_add_test(tc, reload_after_delete_is_safe_mode);
	tcase_add_test(tc, reload_policy_bad_keeps_old);
	tcase_add_test(tc, reload_load_refuses_restart_only_then_swaps);
	tcase_add_test(tc, first_start_unchecked_survives_restart);
	tcase_add_test(tc, generation_continues_from_include);
	tcase_add_test(tc, apply_stats_count_applies);
	tcase_add_test(tc, apply_stats_buckets);
	tcase_add_test(tc, confirm_deadline_reverts_across_restart);
	tcase_add_test(tc, confirm_revert_refused_by_guard_keeps_service);
	tcase_add_test(tc, confirm_in_time_keeps_change);
	tcase_add_test(tc, later_change_supersedes_revert);
	tcase_add_test(tc, staged_step_resumes_after_restart);
	tcase_add_test(tc, new_change_supersedes_staged_plan);
	tcase_add_test(tc, confirm_within_bounded);
	tcase_add_test(tc, staged_step_failure_streak_recorded_once);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tu_run_suite(site_suite());
}
