/* The routectl CLI: command line parsing, the daemon's answers checked and
 * rendered (golden text), and the HTTP client against a fake routectld on a
 * Unix socket in a temp directory. The last group runs the built binary for
 * exit codes and messages. */
#include "cli/client.h"
#include "cli/output.h"
#include "cli/transport.h"
#include "common/buf.h"
#include "common/err.h"
#include "testutil.h"

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ARGC(v) ((int)(sizeof(v) / sizeof(v[0])) - 1)

static int parse(char **argv, int argc, struct cli_request *req, struct err *e)
{
	return cli_parse_args(argc, argv, NULL, req, e);
}

/* ---------------------------------------------------------------- parsing */

/* -f FLEET and --force on the write commands (routectl -f, cli/fanout.h). */
START_TEST(parse_fleet_and_force)
{
	struct cli_request req;
	struct err e;
	char *v[] = { "routectl", "-f", "/etc/routectl/fleet.json", "drain", "ash", "--reason",
		      "drill", "--force", NULL };
	ck_assert_int_eq(parse(v, 8, &req, &e), 0);
	ck_assert_str_eq(req.fleet_path, "/etc/routectl/fleet.json");
	ck_assert(!req.socket_given);
	ck_assert(req.force);
	json_t *body = cli_request_body(&req);
	ck_assert_ptr_eq(json_object_get(body, "force"), json_true());
	json_decref(body);
	cli_request_free(&req);

	/* without --force the member is not sent at all */
	char *w[] = { "routectl", "--fleet=/f.json", "set", "ash", "web", "prepend", "2",
		      "--reason", "x", NULL };
	ck_assert_int_eq(parse(w, 9, &req, &e), 0);
	ck_assert_str_eq(req.fleet_path, "/f.json");
	body = cli_request_body(&req);
	ck_assert_ptr_null(json_object_get(body, "force"));
	ck_assert_int_eq(json_integer_value(json_object_get(body, "prepend")), 2);
	json_decref(body);
	cli_request_free(&req);

	char *x[] = { "routectl", "-f", "/f.json", "-s", "/x.sock", "status", NULL };
	ck_assert_int_eq(parse(x, 6, &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "-s (one router) and -f (a fleet) exclude each other"), "%s",
		      e.msg);
	cli_request_free(&req);
	char *y[] = { "routectl", "-f", "", "status", NULL };
	ck_assert_int_eq(parse(y, 4, &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "needs a fleet document"), "%s", e.msg);
	cli_request_free(&req);
}
END_TEST

/* --via primary|oob|auto: any place on the line; a wrong value names the
 * choices. (Without -f it is refused in main, after $ROUTECTL_FLEET.) */
START_TEST(parse_via)
{
	struct cli_request req;
	struct err e;
	char *v[] = { "routectl", "-f", "/f.json", "drain", "ash", "--reason", "x", "--via",
		      "oob", NULL };
	ck_assert_int_eq(parse(v, 9, &req, &e), 0);
	ck_assert_int_eq(req.via, CLI_VIA_OOB);
	ck_assert(req.via_given);
	cli_request_free(&req);
	char *w[] = { "routectl", "--via=primary", "-f", "/f.json", "check", NULL };
	ck_assert_int_eq(parse(w, 5, &req, &e), 0);
	ck_assert_int_eq(req.via, CLI_VIA_PRIMARY);
	cli_request_free(&req);
	char *x[] = { "routectl", "-f", "/f.json", "status", NULL };
	ck_assert_int_eq(parse(x, 4, &req, &e), 0);
	ck_assert_int_eq(req.via, CLI_VIA_AUTO);
	ck_assert(!req.via_given);
	cli_request_free(&req);
	char *y[] = { "routectl", "-f", "/f.json", "status", "--via", "mgmt", NULL };
	ck_assert_int_eq(parse(y, 6, &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "--via takes primary, oob or auto, not \"mgmt\""), "%s", e.msg);
	cli_request_free(&req);
	ck_assert_msg(strstr(cli_usage(NULL), "--via primary|oob|auto"), "%s", cli_usage(NULL));
}
END_TEST

START_TEST(parse_status_defaults)
{
	struct cli_request req;
	struct err e;
	char *v[] = { "routectl", "status", NULL };
	ck_assert_int_eq(cli_parse_args(2, v, NULL, &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_STATUS);
	ck_assert_str_eq(req.socket_path, CLI_DEFAULT_SOCKET);
	ck_assert_int_eq(req.timeout_s, 60);
	ck_assert(!req.json);
	cli_request_free(&req);

	ck_assert_int_eq(cli_parse_args(2, v, "/tmp/env.sock", &req, &e), 0);
	ck_assert_str_eq(req.socket_path, "/tmp/env.sock");
	cli_request_free(&req);

	/* an empty variable is as good as none */
	ck_assert_int_eq(cli_parse_args(2, v, "", &req, &e), 0);
	ck_assert_str_eq(req.socket_path, CLI_DEFAULT_SOCKET);
	cli_request_free(&req);
}
END_TEST

START_TEST(parse_global_options_anywhere)
{
	struct cli_request req;
	struct err e;
	char *a[] = { "routectl", "-s", "/a.sock", "--json", "status", "--timeout", "5", NULL };
	ck_assert_int_eq(cli_parse_args(ARGC(a), a, "/env.sock", &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_STATUS);
	ck_assert_str_eq(req.socket_path, "/a.sock");
	ck_assert(req.json);
	ck_assert_int_eq(req.timeout_s, 5);
	cli_request_free(&req);

	char *b[] = { "routectl", "status", "--socket=/b.sock", "--timeout=7", "--json", NULL };
	ck_assert_int_eq(parse(b, ARGC(b), &req, &e), 0);
	ck_assert_str_eq(req.socket_path, "/b.sock");
	ck_assert_int_eq(req.timeout_s, 7);
	ck_assert(req.json);
	cli_request_free(&req);

	char *c[] = { "routectl", "-s/c.sock", "status", NULL };
	ck_assert_int_eq(parse(c, ARGC(c), &req, &e), 0);
	ck_assert_str_eq(req.socket_path, "/c.sock");
	cli_request_free(&req);
}
END_TEST

START_TEST(parse_drain_full)
{
	struct cli_request req;
	struct err e;
	char *v[] = { "routectl", "--json", "drain", "ash", "--service", "web",
		      "--reason", "fiber cut", "--service=dns", "--now", "--dry-run", NULL };
	ck_assert_int_eq(parse(v, ARGC(v), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_DRAIN);
	ck_assert_str_eq(req.cmd_name, "drain");
	ck_assert_str_eq(req.site, "ash");
	ck_assert_uint_eq(req.n_services, 2);
	ck_assert_str_eq(req.services[0], "web");
	ck_assert_str_eq(req.services[1], "dns");
	ck_assert_str_eq(req.reason, "fiber cut");
	ck_assert(req.now);
	ck_assert(req.dry_run);
	ck_assert(req.json);
	ck_assert_str_eq(cli_method(req.cmd), "POST");
	ck_assert_str_eq(cli_path(req.cmd), "/v1/drain");

	json_t *body = cli_request_body(&req);
	json_t *want = json_loads("{\"site\":\"ash\",\"services\":[\"web\",\"dns\"],"
				  "\"reason\":\"fiber cut\",\"now\":true,\"dry_run\":true}", 0, NULL);
	ck_assert_ptr_nonnull(body);
	ck_assert(json_equal(body, want));
	json_decref(body);
	json_decref(want);
	cli_request_free(&req);

	/* no --service: an empty list, which means every service */
	char *u[] = { "routectl", "undrain", "chi", "--reason", "repaired", NULL };
	ck_assert_int_eq(parse(u, ARGC(u), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_UNDRAIN);
	ck_assert_str_eq(cli_path(req.cmd), "/v1/undrain");
	body = cli_request_body(&req);
	want = json_loads("{\"site\":\"chi\",\"services\":[],\"reason\":\"repaired\","
			  "\"now\":false,\"dry_run\":false}", 0, NULL);
	ck_assert(json_equal(body, want));
	json_decref(body);
	json_decref(want);
	cli_request_free(&req);
}
END_TEST

START_TEST(parse_set_states)
{
	struct cli_request req;
	struct err e;
	char *p[] = { "routectl", "set", "ash", "web", "prepend", "3", "--reason", "drill", NULL };
	ck_assert_int_eq(parse(p, ARGC(p), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_SET);
	ck_assert_str_eq(req.site, "ash");
	ck_assert_str_eq(req.service, "web");
	ck_assert_int_eq(req.mode, MODE_PREPEND);
	ck_assert_uint_eq(req.prepend, 3);
	ck_assert_str_eq(cli_path(req.cmd), "/v1/set");
	json_t *body = cli_request_body(&req);
	json_t *want = json_loads("{\"site\":\"ash\",\"service\":\"web\",\"state\":\"prepend\","
				  "\"prepend\":3,\"reason\":\"drill\",\"dry_run\":false}", 0, NULL);
	ck_assert(json_equal(body, want));
	json_decref(body);
	json_decref(want);
	cli_request_free(&req);

	char *w[] = { "routectl", "set", "ash", "web", "withdraw", "--reason", "x", "--dry-run", NULL };
	ck_assert_int_eq(parse(w, ARGC(w), &req, &e), 0);
	ck_assert_int_eq(req.mode, MODE_WITHDRAW);
	body = cli_request_body(&req);
	/* no count outside state prepend: the daemon refuses one */
	want = json_loads("{\"site\":\"ash\",\"service\":\"web\",\"state\":\"withdraw\","
			  "\"reason\":\"x\",\"dry_run\":true}", 0, NULL);
	ck_assert(json_equal(body, want));
	json_decref(body);
	json_decref(want);
	cli_request_free(&req);

	char *a[] = { "routectl", "set", "ash", "web", "announce", "--reason", "x", NULL };
	ck_assert_int_eq(parse(a, ARGC(a), &req, &e), 0);
	ck_assert_int_eq(req.mode, MODE_ANNOUNCE);
	cli_request_free(&req);

	char *b[] = { "routectl", "set", "ash", "web", "prepend", "10", "--reason", "x", NULL };
	ck_assert_int_eq(parse(b, ARGC(b), &req, &e), 0);
	ck_assert_uint_eq(req.prepend, 10);
	cli_request_free(&req);
}
END_TEST

START_TEST(parse_adopt)
{
	struct cli_request req;
	struct err e;
	char *p[] = { "routectl", "adopt", "ash", "--reason", "state lost", "--state",
		      "web=withdraw", "--state", "dns=prepend:3", "--force", "--dry-run", NULL };
	ck_assert_int_eq(parse(p, ARGC(p), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_ADOPT);
	ck_assert_str_eq(req.site, "ash");
	ck_assert_str_eq(cli_path(req.cmd), "/v1/adopt");
	ck_assert_str_eq(cli_method(req.cmd), "POST");
	json_t *body = cli_request_body(&req);
	json_t *want = json_loads("{\"site\":\"ash\",\"reason\":\"state lost\",\"force\":true,"
				  "\"dry_run\":true,\"assume\":[{\"service\":\"web\",\"state\":"
				  "\"withdraw\"},{\"service\":\"dns\",\"state\":\"prepend\","
				  "\"prepend\":3}]}", 0, NULL);
	ck_assert(json_equal(body, want));
	json_decref(body);
	json_decref(want);
	cli_request_free(&req);

	char *plain[] = { "routectl", "adopt", "ash", "--reason", "x", NULL };
	ck_assert_int_eq(parse(plain, ARGC(plain), &req, &e), 0);
	body = cli_request_body(&req);
	want = json_loads("{\"site\":\"ash\",\"reason\":\"x\",\"force\":false,\"dry_run\":false,"
			  "\"assume\":[]}", 0, NULL);
	ck_assert(json_equal(body, want));
	json_decref(body);
	json_decref(want);
	cli_request_free(&req);

	static const struct {
		char *argv[8];
		const char *why;
	} bad[] = {
		{ { "routectl", "adopt", "--reason", "x", NULL }, "missing SITE" },
		{ { "routectl", "adopt", "ash", NULL }, "--reason is required" },
		{ { "routectl", "adopt", "ash", "chi", "--reason", "x", NULL }, "unexpected argument" },
		{ { "routectl", "adopt", "ash", "--reason", "x", "--state", "web", NULL },
		  "SERVICE=announce" },
		{ { "routectl", "adopt", "ash", "--reason", "x", "--state", "web=prepend:12", NULL },
		  "from 1 to 10" },
		{ { "routectl", "adopt", "ash", "--reason", "x", "--state", "web=up", NULL },
		  "announce, withdraw or prepend:N" },
		{ { "routectl", "status", "--force", NULL }, "--force does not apply to status" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int argc = 0;
		while (bad[i].argv[argc])
			argc++;
		err_clear(&e);
		ck_assert_int_eq(parse((char **)bad[i].argv, argc, &req, &e), -ERR_INVALID);
		ck_assert_msg(strstr(e.msg, bad[i].why), "case %zu: %s", i, e.msg);
		cli_request_free(&req);
	}
}
END_TEST

/* routectl emergency: local, with routectld's config. */
START_TEST(parse_emergency)
{
	struct cli_request req;
	struct err e;
	char *d[] = { "routectl", "emergency", "drain", "--service", "web", "--reason", "fiber cut",
		      "--config", "/etc/x.json", "--force", NULL };
	ck_assert_int_eq(parse(d, ARGC(d), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_EMERGENCY);
	ck_assert_int_eq(req.emergency, CLI_EMERGENCY_DRAIN);
	ck_assert_str_eq(req.config_path, "/etc/x.json");
	ck_assert_uint_eq(req.n_services, 1);
	ck_assert_str_eq(req.services[0], "web");
	ck_assert(req.force);
	ck_assert_ptr_null(cli_method(req.cmd));   /* nothing goes to a daemon */
	cli_request_free(&req);

	char *u[] = { "routectl", "emergency", "undrain", "--reason", "back", NULL };
	ck_assert_int_eq(parse(u, ARGC(u), &req, &e), 0);
	ck_assert_int_eq(req.emergency, CLI_EMERGENCY_UNDRAIN);
	ck_assert_str_eq(req.config_path, CLI_DEFAULT_CONFIG);
	cli_request_free(&req);

	char *st[] = { "routectl", "emergency", "status", NULL };
	ck_assert_int_eq(parse(st, ARGC(st), &req, &e), 0);
	ck_assert_int_eq(req.emergency, CLI_EMERGENCY_STATUS);
	cli_request_free(&req);

	static const struct {
		char *argv[8];
		const char *why;
	} bad[] = {
		{ { "routectl", "emergency", NULL }, "missing what to do" },
		{ { "routectl", "emergency", "drain", NULL }, "--reason is required" },
		{ { "routectl", "emergency", "drain", "--reason", " ", NULL }, "blank" },
		{ { "routectl", "emergency", "drain", "ash", "--reason", "x", NULL },
		  "unexpected argument \"ash\"" },
		{ { "routectl", "emergency", "withdraw", "--reason", "x", NULL },
		  "unknown emergency command" },
		{ { "routectl", "emergency", "status", "--reason", "x", NULL }, "changes nothing" },
		{ { "routectl", "emergency", "drain", "--reason", "x", "--now", NULL },
		  "--now does not apply to emergency" },
		{ { "routectl", "emergency", "drain", "--reason", "x", "--config", "", NULL },
		  "needs a file path" },
		{ { "routectl", "drain", "ash", "--reason", "x", "--config", "c", NULL },
		  "--config does not apply to drain" },
		{ { "routectl", "-f", "fleet.json", "emergency", "status", NULL }, "-f and -s do not apply" },
		{ { "routectl", "emergency", "status", "--json", NULL }, "--json does not apply" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int argc = 0;
		while (bad[i].argv[argc])
			argc++;
		err_clear(&e);
		ck_assert_int_eq(parse((char **)bad[i].argv, argc, &req, &e), -ERR_INVALID);
		ck_assert_msg(strstr(e.msg, bad[i].why), "case %zu: %s", i, e.msg);
		cli_request_free(&req);
	}
}
END_TEST

START_TEST(parse_help_and_version)
{
	struct cli_request req;
	struct err e;

	char *h1[] = { "routectl", "--help", NULL };
	ck_assert_int_eq(parse(h1, ARGC(h1), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_HELP);
	ck_assert_ptr_null(req.help_topic);
	cli_request_free(&req);

	char *h2[] = { "routectl", "help", NULL };
	ck_assert_int_eq(parse(h2, ARGC(h2), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_HELP);
	cli_request_free(&req);

	char *h3[] = { "routectl", "help", "set", NULL };
	ck_assert_int_eq(parse(h3, ARGC(h3), &req, &e), 0);
	ck_assert_str_eq(req.help_topic, "set");
	ck_assert_ptr_nonnull(strstr(cli_usage(req.help_topic), "prepend N"));
	cli_request_free(&req);

	/* help wins over a missing --reason */
	char *h4[] = { "routectl", "drain", "-h", NULL };
	ck_assert_int_eq(parse(h4, ARGC(h4), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_HELP);
	ck_assert_str_eq(req.help_topic, "drain");
	cli_request_free(&req);

	char *v[] = { "routectl", "--version", NULL };
	ck_assert_int_eq(parse(v, ARGC(v), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_VERSION);
	cli_request_free(&req);

	const char *all = cli_usage(NULL);
	ck_assert_ptr_nonnull(strstr(all, "status"));
	ck_assert_ptr_nonnull(strstr(all, "undrain SITE"));
	ck_assert_ptr_nonnull(strstr(all, "--dry-run"));
	ck_assert_ptr_null(cli_usage("frob"));
}
END_TEST

/* Every wrong command line: refused before anything is sent, with a
 * message that names the command and what is wrong. */
static const struct usage_case {
	const char *args[12];
	const char *msg;
} usage_cases[] = {
	{ { NULL }, "missing command" },
	{ { "frob" }, "unknown command \"frob\"" },
	{ { "status", "--frob" }, "status: unknown option --frob" },
	{ { "--frob", "status" }, "status: unknown option --frob" },
	{ { "-x", "status" }, "status: unknown option -x" },
	{ { "status", "extra" }, "status: unexpected argument \"extra\"" },
	{ { "status", "--reason", "x" }, "status: --reason does not apply to status" },
	{ { "status", "--now" }, "status: --now does not apply to status" },
	{ { "set", "ash", "web", "announce", "--reason", "x", "--now" },
	  "set: --now does not apply to set" },
	{ { "set", "ash", "web", "announce", "--reason", "x", "--service", "y" },
	  "set: --service does not apply to set" },
	{ { "status", "--json=yes" }, "status: --json takes no value" },
	{ { "status", "--timeout" }, "status: --timeout needs a value" },
	{ { "status", "--timeout", "0" }, "--timeout needs whole seconds from 1 to 86400, not \"0\"" },
	{ { "status", "--timeout", "5s" }, "--timeout needs whole seconds from 1 to 86400, not \"5s\"" },
	{ { "status", "--timeout", "86401" }, "not \"86401\"" },
	{ { "status", "-s", "" }, "-s needs a socket path" },
	{ { "status", "-s",
	    "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock" },
	  "too long for a Unix socket" },
	{ { "drain" }, "drain: missing SITE" },
	{ { "drain", "--reason", "x" }, "drain: missing SITE" },
	{ { "drain", "ash" },
	  "drain: --reason is required: say why the site is drained (it goes into the audit trail)" },
	{ { "drain", "ash", "--reason", "" }, "drain: --reason is blank" },
	{ { "drain", "ash", "--reason", "  \t " }, "drain: --reason is blank" },
	{ { "drain", "ash", "--reason" }, "drain: --reason needs a value" },
	{ { "drain", "ash", "--reason", "a", "--reason", "b" },
	  "drain: --reason is given more than once" },
	{ { "drain", "ash", "chi", "--reason", "x" }, "drain: unexpected argument \"chi\"" },
	{ { "drain", "ash", "--service", "", "--reason", "x" }, "drain: --service is empty" },
	{ { "drain", "a b", "--reason", "x" }, "drain: SITE \"a b\" contains white space" },
	{ { "drain", "ash", "--reason", "\xff\xfe" }, "drain: --reason is not valid UTF-8" },
	{ { "undrain", "ash" }, "undrain: --reason is required: say why the site is undrained" },
	{ { "undrain", "ash", "--reason", " " }, "undrain: --reason is blank" },
	{ { "set" }, "set: missing SITE" },
	{ { "set", "ash" }, "set: missing SERVICE" },
	{ { "set", "ash", "web" }, "set: missing the state" },
	{ { "set", "ash", "web", "drain", "--reason", "x" }, "set: unknown state \"drain\"" },
	{ { "set", "ash", "web", "prepend", "--reason", "x" }, "set: prepend needs a count from 1 to 10" },
	{ { "set", "ash", "web", "prepend", "0", "--reason", "x" },
	  "set: prepend needs a count from 1 to 10, not \"0\"" },
	{ { "set", "ash", "web", "prepend", "11", "--reason", "x" }, "not \"11\"" },
	{ { "set", "ash", "web", "prepend", "-1", "--reason", "x" }, "not \"-1\"" },
	{ { "set", "ash", "web", "prepend", "3x", "--reason", "x" }, "not \"3x\"" },
	{ { "set", "ash", "web", "prepend", "99999999999999999999", "--reason", "x" },
	  "not \"99999999999999999999\"" },
	{ { "set", "ash", "web", "withdraw", "3", "--reason", "x" },
	  "set: unexpected argument \"3\" after withdraw" },
	{ { "set", "ash", "web", "withdraw" }, "set: --reason is required: say why the state changes" },
	{ { "set", "ash", "web", "withdraw", "--reason", "\n" }, "set: --reason is blank" },
	{ { "help", "frob" }, "help: unknown command \"frob\"" },
	{ { "history", "-n", "0" }, "history: -n needs a number of records from 1 to 1000, not \"0\"" },
	{ { "history", "--limit", "1001" }, "history: --limit needs a number of records from 1 to 1000" },
	{ { "history", "-n", "5x" }, "not \"5x\"" },
	{ { "history", "-n" }, "history: -n needs a value" },
	{ { "history", "web" }, "history: unexpected argument \"web\"" },
	{ { "history", "--service", "a", "--service", "b" }, "history: --service is given more than once" },
	{ { "history", "--reason", "x" }, "history: --reason does not apply to history" },
	{ { "status", "-n", "5" }, "status: -n does not apply to status" },
};

START_TEST(parse_usage_errors)
{
	const struct usage_case *c = &usage_cases[_i];
	char *argv[16] = { "routectl" };
	int argc = 1;
	for (; c->args[argc - 1]; argc++)
		argv[argc] = (char *)c->args[argc - 1];
	argv[argc] = NULL;

	struct cli_request req;
	struct err e;
	int rc = cli_parse_args(argc, argv, NULL, &req, &e);
	cli_request_free(&req);
	ck_assert_msg(rc == -ERR_INVALID, "case %d: rc %d, want -ERR_INVALID", _i, rc);
	ck_assert_msg(strstr(e.msg, c->msg) != NULL,
		      "case %d: message \"%s\" lacks \"%s\"", _i, e.msg, c->msg);
}
END_TEST

START_TEST(parse_history)
{
	struct cli_request req;
	struct err e;
	char target[256];

	char *a[] = { "routectl", "history", NULL };
	ck_assert_int_eq(parse(a, ARGC(a), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_HISTORY);
	ck_assert_int_eq(req.limit, 20);
	ck_assert_str_eq(cli_method(req.cmd), "GET");
	ck_assert_ptr_null(cli_request_body(&req));
	ck_assert_int_eq(cli_request_target(&req, target, sizeof target), 0);
	ck_assert_str_eq(target, "/v1/history?limit=20");
	cli_request_free(&req);

	char *b[] = { "routectl", "--json", "history", "-n", "5", "--service", "web", NULL };
	ck_assert_int_eq(parse(b, ARGC(b), &req, &e), 0);
	ck_assert(req.json);
	ck_assert_int_eq(req.limit, 5);
	ck_assert_int_eq(cli_request_target(&req, target, sizeof target), 0);
	ck_assert_str_eq(target, "/v1/history?limit=5&service=web");
	cli_request_free(&req);

	/* the service is percent-encoded: '&' cannot start another argument */
	char *c[] = { "routectl", "history", "--limit=1000", "--service=w\xc3\xa9" "b&x=1", NULL };
	ck_assert_int_eq(parse(c, ARGC(c), &req, &e), 0);
	ck_assert_int_eq(cli_request_target(&req, target, sizeof target), 0);
	ck_assert_str_eq(target, "/v1/history?limit=1000&service=w%C3%A9b%26x%3D1");
	ck_assert_int_eq(cli_request_target(&req, target, 20), -ERR_INVALID);
	cli_request_free(&req);

	char *d[] = { "routectl", "history", "-n1", NULL };
	ck_assert_int_eq(parse(d, ARGC(d), &req, &e), 0);
	ck_assert_int_eq(req.limit, 1);
	cli_request_free(&req);
	ck_assert_ptr_nonnull(strstr(cli_usage("history"), "history [--service NAME] [-n N]"));
}
END_TEST

/* ----------------------------------------------------- answers and text */

static const char sample_status[] =
	"{\"site\":\"ash\",\"generation\":5,\"safe_mode\":null,"
	"\"bird\":{\"connected\":true,\"socket\":\"/x/bird.ctl\",\"version\":\"2.0.12\",\"error\":null},"
	"\"last_apply\":{\"result\":\"ok\",\"at\":\"2026-11-25T10:29:28Z\",\"change_id\":\"c-42\","
	"\"message\":\"applied\",\"ms\":12.5},"
	"\"services\":["
	"{\"name\":\"web\",\"ipv4\":[\"192.0.2.0/24\"],\"ipv6\":[\"2001:db8:1::/48\"],"
	"\"state\":\"prepend\",\"prepend\":3,\"since\":\"2026-11-25T10:29:28Z\",\"actor\":\"alice\","
	"\"reason\":\"fiber cut\",\"change_id\":\"c-42\","
	"\"next\":{\"state\":\"withdraw\",\"prepend\":0,\"at\":\"2026-11-25T10:35:00Z\"}},"
	"{\"name\":\"dns-resolvers\",\"ipv4\":[\"198.51.100.0/24\",\"203.0.113.0/24\",\"192.0.2.53/32\"],"
	"\"ipv6\":[\"2001:db8:2::/48\",\"2001:db8:3::/48\"],"
	"\"state\":\"announce\",\"prepend\":0,\"since\":\"2026-11-20T08:00:00Z\",\"actor\":\"bob\","
	"\"reason\":\"initial\",\"change_id\":\"c-1\",\"next\":null},"
	"{\"name\":\"api\",\"ipv4\":[],\"ipv6\":[\"2001:db8:4::/48\"],"
	"\"state\":\"withdraw\",\"prepend\":0,\"since\":null,\"actor\":null,\"reason\":null,"
	"\"change_id\":null,\"next\":null}"
	"]}";

static const char golden_status[] =
	"site        ash\n"
	"generation  5\n"
	"bird        connected to /x/bird.ctl (BIRD 2.0.12)\n"
	"last apply  ok at 2026-11-25T10:29:28Z, 12.5 ms, change c-42\n"
	"\n"
	"SERVICE        PREFIXES                       STATE                              SINCE                 ACTOR  REASON\n"
	"web            192.0.2.0/24, 2001:db8:1::/48  prepend 3 \xe2\x86\x92 withdraw at 10:35:00Z  2026-11-25T10:29:28Z  alice  fiber cut\n"
	"dns-resolvers  5 prefixes                     announce                           2026-11-20T08:00:00Z  bob    initial\n"
	"api            2001:db8:4::/48                withdraw                           -                     -      -\n";

static struct cli_request request_for(enum cli_cmd cmd, const char *name)
{
	struct cli_request req;
	memset(&req, 0, sizeof req);
	req.cmd = cmd;
	req.cmd_name = name;
	req.socket_path = "/nowhere.sock";
	req.timeout_s = 5;
	return req;
}

static char *render_status(const char *body, struct cli_result *res)
{
	struct cli_request req = request_for(CMD_STATUS, "status");
	cli_result_from_response(&req, 200, body, strlen(body), res);
	ck_assert_msg(res->kind == RESULT_STATUS, "not a status: %s", res->local_msg);
	struct buf b = { 0 };
	ck_assert_int_eq(output_status_text(&b, &res->status), 0);
	return buf_steal(&b);
}

START_TEST(status_table_golden)
{
	struct cli_result res;
	char *text = render_status(sample_status, &res);
	ck_assert_str_eq(text, golden_status);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_OK);
	ck_assert_uint_eq(res.status.n_services, 3);
	ck_assert_uint_eq(res.status.services[1].n_prefixes, 5);
	free(text);
	cli_result_free(&res);
}
END_TEST

/* bird.peers: a "peers" block after the header, one line per protocol with
 * its families and problems; a missing sentinel is said. */
START_TEST(status_peers_block)
{
	static const char body[] =
		"{\"site\":\"ash\",\"generation\":5,\"safe_mode\":null,"
		"\"bird\":{\"connected\":true,\"socket\":\"/x/bird.ctl\",\"version\":\"2.0.12\","
		"\"error\":null,\"peers_checked_at\":\"2026-11-25T10:29:28Z\","
		"\"sentinels\":{\"ipv4\":true,\"ipv6\":false},\"peers\":["
		"{\"name\":\"isp\",\"listed\":true,\"up\":true,\"families\":[\"ipv4\",\"ipv6\"],"
		"\"problems\":[],\"message\":null},"
		"{\"name\":\"bad\",\"listed\":true,\"up\":true,\"families\":[\"ipv4\"],"
		"\"problems\":[\"ignores-routectl-export\"],"
		"\"message\":\"bad exports the sentinel route 240.0.0.1/32\\nsecond line\"},"
		"{\"name\":\"isp6\",\"listed\":false,\"up\":false,\"families\":[\"ipv6\"],"
		"\"problems\":[\"unlisted-exporter\"],\"message\":null}]},"
		"\"last_apply\":null,\"services\":[]}";
	struct cli_result res;
	char *text = render_status(body, &res);
	ck_assert_msg(strstr(text, "peers       checked at 2026-11-25T10:29:28Z\n"), "%s", text);
	ck_assert_msg(strstr(text, "\n  isp              ipv4,ipv6  ok\n"), "%s", text);
	ck_assert_msg(strstr(text, "\n  bad              ipv4       ignores-routectl-export: "
				   "bad exports the sentinel route 240.0.0.1/32"),
		      "%s", text);
	ck_assert_msg(!strstr(text, "240.0.0.1/32\nsecond"), "newline not cleaned: %s", text);
	ck_assert_msg(strstr(text, "\n  isp6             ipv6       (not listed) (down) "
				   "unlisted-exporter\n"),
		      "%s", text);
	ck_assert_msg(strstr(text, "no IPv6 sentinel route in BIRD"), "%s", text);
	free(text);
	cli_result_free(&res);

	/* No bird.peers (not checked yet): no block. */
	text = render_status(sample_status, &res);
	ck_assert_msg(!strstr(text, "peers"), "%s", text);
	free(text);
	cli_result_free(&res);
}
END_TEST

/* api.listeners: a listener that is not bound is shown with its reason;
 * bound ones are not listed. */
START_TEST(status_unbound_listener)
{
	static const char body[] =
		"{\"site\":\"ash\",\"generation\":5,\"safe_mode\":null,"
		"\"bird\":{\"connected\":true,\"socket\":\"/x/bird.ctl\"},"
		"\"last_apply\":null,\"services\":[],\"api\":{\"listeners\":["
		"{\"address\":\"10.0.0.5\",\"port\":8443,\"kind\":\"primary\",\"transport\":\"https\","
		"\"bound\":false,\"error\":\"api listen 10.0.0.5:8443: cannot bind: Address already in use\"},"
		"{\"address\":\"::1\",\"port\":8080,\"kind\":\"out-of-band\",\"transport\":\"http\","
		"\"bound\":false,\"error\":null},"
		"{\"address\":\"10.9.0.5\",\"port\":8080,\"kind\":\"out-of-band\",\"transport\":\"http\","
		"\"bound\":true,\"error\":null}]}}";
	struct cli_result res;
	char *text = render_status(body, &res);
	ck_assert_uint_eq(res.status.n_listeners, 3);
	ck_assert_msg(strstr(text, "listener    NOT BOUND: primary 10.0.0.5:8443: api listen "
				   "10.0.0.5:8443: cannot bind: Address already in use (routectld "
				   "tries again every few seconds)\n"), "%s", text);
	ck_assert_msg(strstr(text, "listener    NOT BOUND: out-of-band [::1]:8080 (routectld"),
		      "%s", text);
	ck_assert_msg(!strstr(text, "10.9.0.5"), "%s", text);
	free(text);
	cli_result_free(&res);

	/* a listener entry of the wrong shape is a protocol error naming it */
	static const char bad[] =
		"{\"site\":\"ash\",\"generation\":5,\"bird\":{\"connected\":true},"
		"\"services\":[],\"api\":{\"listeners\":[{\"address\":\"x\",\"port\":0,"
		"\"kind\":\"primary\",\"bound\":true}]}}";
	struct cli_request req = request_for(CMD_STATUS, "status");
	cli_result_from_response(&req, 200, bad, strlen(bad), &res);
	ck_assert_int_ne(res.kind, RESULT_STATUS);
	ck_assert_msg(strstr(res.local_msg, "api.listeners[0]"), "%s", res.local_msg);
	cli_result_free(&res);
}
END_TEST

/* A large service comes with its prefix counts only. */
START_TEST(status_prefix_counts)
{
	static const char body[] =
		"{\"site\":\"ash\",\"generation\":5,\"safe_mode\":null,"
		"\"bird\":{\"connected\":true,\"socket\":\"/x/bird.ctl\",\"version\":\"2.0.12\",\"error\":null},"
		"\"last_apply\":null,\"in_flight\":{\"change_id\":\"0123456789abcdef\",\"kind\":\"drain\","
		"\"since\":\"2026-11-25T10:29:28Z\"},"
		"\"services\":["
		"{\"name\":\"web\",\"prefix_count\":{\"ipv4\":40000,\"ipv6\":10000},"
		"\"state\":\"announce\",\"prepend\":0,\"next\":null},"
		"{\"name\":\"dns\",\"prefix_count\":{\"ipv4\":1,\"ipv6\":0},\"ipv4\":[\"198.51.100.0/24\"],"
		"\"ipv6\":[],\"state\":\"announce\",\"prepend\":0,\"next\":null}]}";
	struct cli_result res;
	char *text = render_status(body, &res);
	ck_assert_uint_eq(res.status.services[0].n_prefixes, 50000);
	ck_assert_uint_eq(res.status.services[0].n_listed, 0);
	ck_assert_uint_eq(res.status.services[1].n_prefixes, 1);
	ck_assert_msg(strstr(text, "web      50000 prefixes ") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "dns      198.51.100.0/24 ") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "\nin flight   drain 0123456789abcdef since 2026-11-25T10:29:28Z "
			      "(states below are from before it)\n") != NULL, "%s", text);
	free(text);
	cli_result_free(&res);

	/* Counts that disagree with the list are a protocol error naming the field. */
	static const char bad[] =
		"{\"site\":\"ash\",\"generation\":5,\"safe_mode\":null,"
		"\"bird\":{\"connected\":true,\"socket\":\"/x\",\"version\":null,\"error\":null},"
		"\"last_apply\":null,\"services\":["
		"{\"name\":\"dns\",\"prefix_count\":{\"ipv4\":2,\"ipv6\":0},\"ipv4\":[\"198.51.100.0/24\"],"
		"\"state\":\"announce\",\"prepend\":0,\"next\":null}]}";
	struct cli_request req = request_for(CMD_STATUS, "status");
	cli_result_from_response(&req, 200, bad, strlen(bad), &res);
	ck_assert_int_ne(res.kind, RESULT_STATUS);
	ck_assert_msg(strstr(res.local_msg, "prefix_count") != NULL, "%s", res.local_msg);
	cli_result_free(&res);
}
END_TEST

START_TEST(status_header_trouble_golden)
{
	/* safe mode (state unknown), BIRD down, last apply failed; a control
	 * sequence in a reason is defused */
	static const char body[] =
		"{\"site\":\"chi\",\"generation\":0,"
		"\"safe_mode\":{\"reason\":\"state file /var/lib/routectl/state.json: \\u001b[2Jbad\"},"
		"\"bird\":{\"connected\":false,\"socket\":\"/run/bird/bird.ctl\",\"version\":null,"
		"\"error\":\"connect: No such file or directory\"},"
		"\"last_apply\":{\"result\":\"failed\",\"at\":\"2026-11-25T10:29:28Z\",\"change_id\":\"c-9\","
		"\"message\":\"configure check: 8002 /etc/bird/routectl.conf:3:1 syntax error\",\"ms\":3,"
		"\"trigger\":\"set\"},"
		"\"repairs\":2,\"services\":[{\"name\":\"web\",\"ipv4\":[\"192.0.2.0/24\"],"
		"\"state\":\"unknown\",\"prepend\":0,\"next\":null}]}";
	static const char golden[] =
		"SAFE MODE: state file /var/lib/routectl/state.json: ?[2Jbad\n"
		"  routectld leaves BIRD alone and refuses changes until this is fixed.\n"
		"\n"
		"site        chi\n"
		"generation  0\n"
		"bird        NOT CONNECTED to /run/bird/bird.ctl: connect: No such file or directory\n"
		"last apply  FAILED at 2026-11-25T10:29:28Z (set), 3 ms, change c-9: "
		"configure check: 8002 /etc/bird/routectl.conf:3:1 syntax error\n"
		"repairs     2 since start\n"
		"\n"
		"SERVICE  PREFIXES      STATE    SINCE  ACTOR  REASON\n"
		"web      192.0.2.0/24  unknown  -      -      -\n";
	struct cli_result res;
	char *text = render_status(body, &res);
	ck_assert_str_eq(text, golden);
	free(text);
	cli_result_free(&res);

	static const char empty[] =
		"{\"site\":\"ash\",\"generation\":1,\"bird\":{\"connected\":true},"
		"\"services\":[]}";
	text = render_status(empty, &res);
	ck_assert_str_eq(text,
			 "site        ash\n"
			 "generation  1\n"
			 "bird        connected\n"
			 "last apply  none yet\n"
			 "\n"
			 "no services configured\n");
	free(text);
	cli_result_free(&res);

	static const char quiet[] =
		"{\"site\":\"ash\",\"generation\":1,\"bird\":{\"connected\":true},"
		"\"services\":[{\"name\":\"w\",\"state\":\"announce\"}]}";
	text = render_status(quiet, &res);
	ck_assert_str_eq(text,
			 "site        ash\n"
			 "generation  1\n"
			 "bird        connected\n"
			 "last apply  none yet\n"
			 "\n"
			 "SERVICE  PREFIXES  STATE     SINCE  ACTOR  REASON\n"
			 "w        -         announce  -      -      -\n");
	free(text);
	cli_result_free(&res);
}
END_TEST

/* status's reload block: a failed reload is said first, with what still
 * runs; the running config's line names the file and, after a good reload,
 * what waits for a restart. */
START_TEST(status_reload_text)
{
	static const char failed[] =
		"{\"site\":\"ash\",\"generation\":1,\"bird\":{\"connected\":true},\"services\":[],"
		"\"reload\":{\"config_path\":\"/etc/routectl/routectld.json\","
		"\"config_loaded_at\":\"2026-11-30T09:00:00Z\",\"at\":\"2026-11-30T12:00:00Z\","
		"\"ok\":false,\"error\":\"reload of /etc/routectl/routectld.json: keeping the "
		"running config: token file /etc/routectl/tokens: line 2: bad\\u001b\","
		"\"warning\":null}}";
	struct cli_result res;
	char *text = render_status(failed, &res);
	ck_assert_str_eq(text,
			 "config reload at 2026-11-30T12:00:00Z FAILED: reload of "
			 "/etc/routectl/routectld.json: keeping the running config: token file "
			 "/etc/routectl/tokens: line 2: bad?; running the config loaded at "
			 "2026-11-30T09:00:00Z\n"
			 "\n"
			 "site        ash\n"
			 "generation  1\n"
			 "config      /etc/routectl/routectld.json (loaded at 2026-11-30T09:00:00Z)\n"
			 "bird        connected\n"
			 "last apply  none yet\n"
			 "\n"
			 "no services configured\n");
	ck_assert(res.status.has_reload);
	ck_assert(!res.status.reload_ok);
	free(text);
	cli_result_free(&res);

	static const char good[] =
		"{\"site\":\"ash\",\"generation\":1,\"bird\":{\"connected\":true},\"services\":[],"
		"\"reload\":{\"config_path\":\"/etc/routectl/routectld.json\","
		"\"config_loaded_at\":\"2026-11-30T12:00:00Z\",\"at\":\"2026-11-30T12:00:00Z\","
		"\"ok\":true,\"error\":null,\"warning\":\"api/max-connections (running 256, new 7)\"}}";
	text = render_status(good, &res);
	ck_assert_str_eq(text,
			 "site        ash\n"
			 "generation  1\n"
			 "config      /etc/routectl/routectld.json (loaded at 2026-11-30T12:00:00Z); "
			 "api/max-connections (running 256, new 7)\n"
			 "bird        connected\n"
			 "last apply  none yet\n"
			 "\n"
			 "no services configured\n");
	free(text);
	cli_result_free(&res);
}
END_TEST

/* Safe mode after the state was lost under a running routectld: the states
 * routectld held before are shown as last known, never as the state. */
START_TEST(status_last_known_golden)
{
	static const char body[] =
		"{\"site\":\"ash\",\"generation\":0,"
		"\"safe_mode\":{\"reason\":\"the desired state is lost\",\"kind\":\"state-lost\","
		"\"last_known\":{\"generation\":7,\"until\":\"2026-11-30T08:00:00Z\"}},"
		"\"bird\":{\"connected\":true,\"socket\":\"/run/bird/bird.ctl\",\"version\":\"2.0.12\"},"
		"\"last_apply\":null,\"repairs\":0,\"services\":["
		"{\"name\":\"web\",\"ipv4\":[\"192.0.2.0/24\"],\"state\":\"unknown\",\"prepend\":0,"
		"\"next\":null,\"last_known\":{\"state\":\"withdraw\",\"prepend\":0,"
		"\"since\":\"2026-11-30T07:00:00Z\",\"actor\":\"alice\",\"reason\":\"evacuate\","
		"\"change_id\":\"0123456789abcdef\",\"next\":null}},"
		"{\"name\":\"dns\",\"ipv4\":[\"198.51.100.0/24\"],\"state\":\"unknown\","
		"\"prepend\":0,\"next\":null}]}";
	static const char golden[] =
		"SAFE MODE: the desired state is lost\n"
		"  routectld leaves BIRD alone and refuses changes until this is fixed.\n"
		"  The desired state is not known. LAST KNOWN below is what routectld held "
		"until 2026-11-30T08:00:00Z (generation 7), before the state was lost; BIRD "
		"may run something else.\n"
		"\n"
		"site        ash\n"
		"generation  0\n"
		"bird        connected to /run/bird/bird.ctl (BIRD 2.0.12)\n"
		"last apply  none yet\n"
		"repairs     0 since start\n"
		"\n"
		"SERVICE  PREFIXES         STATE                          SINCE                 "
		"ACTOR  REASON\n"
		"web      192.0.2.0/24     unknown (LAST KNOWN withdraw)  2026-11-30T07:00:00Z  "
		"alice  evacuate\n"
		"dns      198.51.100.0/24  unknown                        -                     "
		"-      -\n";
	struct cli_result res;
	char *text = render_status(body, &res);
	ck_assert_str_eq(text, golden);
	free(text);
	cli_result_free(&res);
}
END_TEST

static char *render_change(enum cli_cmd cmd, const char *name, const char *body,
			   struct cli_result *res)
{
	struct cli_request req = request_for(cmd, name);
	cli_result_from_response(&req, 200, body, strlen(body), res);
	ck_assert_msg(res->kind == RESULT_CHANGE, "not a change: %s", res->local_msg);
	struct buf b = { 0 };
	ck_assert_int_eq(output_change_text(&b, &res->change), 0);
	return buf_steal(&b);
}

START_TEST(change_text_golden)
{
	struct cli_result res;
	char *text = render_change(CMD_DRAIN, "drain",
		"{\"site\":\"ash\",\"dry_run\":false,\"change_id\":\"c-43\",\"changes\":["
		"{\"service\":\"web\",\"from\":{\"state\":\"announce\",\"prepend\":0},"
		"\"to\":{\"state\":\"prepend\",\"prepend\":3},"
		"\"next\":{\"state\":\"withdraw\",\"prepend\":0,\"at\":\"2026-11-25T10:35:00Z\"}},"
		"{\"service\":\"dns\",\"from\":{\"state\":\"prepend\",\"prepend\":2},"
		"\"to\":{\"state\":\"withdraw\",\"prepend\":0},\"next\":null}],"
		"\"diff\":\"\",\"apply\":{\"result\":\"ok\",\"ms\":12.5}}", &res);
	ck_assert_str_eq(text,
			 "web: announce \xe2\x86\x92 prepend 3 (then withdraw at 10:35:00Z)\n"
			 "dns: prepend 2 \xe2\x86\x92 withdraw\n"
			 "applied in 12.5 ms, change c-43\n");
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_OK);
	free(text);
	cli_result_free(&res);

	text = render_change(CMD_UNDRAIN, "undrain",
		"{\"site\":\"ash\",\"dry_run\":false,\"change_id\":null,\"changes\":[],"
		"\"diff\":null,\"apply\":null}", &res);
	ck_assert_str_eq(text, "no change\n");
	free(text);
	cli_result_free(&res);

	text = render_change(CMD_SET, "set",
		"{\"site\":\"ash\",\"dry_run\":true,\"changes\":["
		"{\"service\":\"web\",\"from\":{\"state\":\"announce\",\"prepend\":0},"
		"\"to\":{\"state\":\"withdraw\",\"prepend\":0},\"next\":null}],"
		"\"diff\":\"--- a\\n+++ b\\n-  accept;\\n+  reject;\",\"apply\":null}", &res);
	ck_assert_str_eq(text,
			 "dry run: nothing changed\n"
			 "web: announce \xe2\x86\x92 withdraw\n"
			 "BIRD include diff:\n"
			 "--- a\n+++ b\n-  accept;\n+  reject;\n");
	free(text);
	cli_result_free(&res);

	text = render_change(CMD_SET, "set",
		"{\"site\":\"ash\",\"dry_run\":true,\"changes\":[],\"diff\":\"\"}", &res);
	ck_assert_str_eq(text,
			 "dry run: nothing changed\n"
			 "no change\n"
			 "the BIRD include would stay the same\n");
	free(text);
	cli_result_free(&res);

	/* the guards: every verdict in a dry run, what a forced change passed */
	text = render_change(CMD_DRAIN, "drain",
		"{\"site\":\"sea\",\"dry_run\":true,\"changes\":[],\"diff\":\"\",\"guards\":["
		"{\"name\":\"last-site\",\"verdict\":\"refused\",\"message\":\"web from no site\"},"
		"{\"name\":\"flap-budget\",\"verdict\":\"pass\",\"message\":\"\"}],"
		"\"override\":null}", &res);
	ck_assert_str_eq(text,
			 "dry run: nothing changed\n"
			 "no change\n"
			 "guard last-site: refused: web from no site\n"
			 "guard flap-budget: pass\n"
			 "the BIRD include would stay the same\n");
	free(text);
	cli_result_free(&res);
	text = render_change(CMD_DRAIN, "drain",
		"{\"site\":\"ash\",\"dry_run\":false,\"changes\":[],\"guards\":["
		"{\"name\":\"unreachable\",\"verdict\":\"overridden\",\"message\":\"sea\"}],"
		"\"override\":[{\"guard\":\"unreachable\",\"message\":\"cannot ask site sea\"}]}",
		&res);
	ck_assert_str_eq(text, "no change\nforced past guard unreachable: cannot ask site sea\n");
	free(text);
	cli_result_free(&res);

	/* a 200 whose apply did not succeed is not a success */
	text = render_change(CMD_SET, "set",
		"{\"site\":\"ash\",\"changes\":[],\"apply\":{\"result\":\"failed\"}}", &res);
	ck_assert_str_eq(text, "no change\napply FAILED: failed\n");
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	free(text);
	cli_result_free(&res);
}
END_TEST

START_TEST(adopt_text_golden)
{
	struct cli_result res;
	/* "from" is what BIRD exports now; null when its prefixes are in no
	 * single state (the operator said what it should be). */
	char *text = render_change(CMD_ADOPT, "adopt",
		"{\"site\":\"ash\",\"dry_run\":false,\"change_id\":\"c-44\",\"changes\":["
		"{\"service\":\"web\",\"from\":{\"state\":\"withdraw\",\"prepend\":0},"
		"\"to\":{\"state\":\"withdraw\",\"prepend\":0},\"next\":null},"
		"{\"service\":\"api\",\"from\":null,"
		"\"to\":{\"state\":\"announce\",\"prepend\":0},\"next\":null}],"
		"\"generation\":8,\"evidence\":\"/etc/bird/routectl.conf (generation 7 of site ash)\","
		"\"apply\":{\"result\":\"ok\",\"ms\":3}}", &res);
	ck_assert_str_eq(text,
			 "web: withdraw (unchanged)\n"
			 "api: BIRD exports no single state \xe2\x86\x92 announce\n"
			 "applied in 3 ms, change c-44\n");
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_OK);
	free(text);
	cli_result_free(&res);
}
END_TEST

static void answer(enum cli_cmd cmd, const char *name, long status, const char *body,
		   struct cli_result *res)
{
	struct cli_request req = request_for(cmd, name);
	cli_result_from_response(&req, status, body, strlen(body), res);
}

static char *error_text(const struct cli_result *res)
{
	struct buf b = { 0 };
	ck_assert_int_eq(output_error_text(&b, res), 0);
	return buf_steal(&b);
}

static const char sample_history[] =
	"{\"history\":["
	"{\"time\":\"2026-11-30T07:02:00.120Z\",\"actor\":\"chatbot\",\"on_behalf_of\":\"alice\","
	"\"action\":\"drain\",\"site\":\"ash\",\"services\":[\"web\",\"dns\"],\"result\":\"ok\","
	"\"change_id\":\"c-7\",\"reason\":\"fiber cut\\nsee ticket\",\"phase\":\"outcome\","
	"\"dry_run\":false,\"status\":200},"
	"{\"time\":\"2026-11-30T07:01:00.000Z\",\"actor\":\"bob\",\"on_behalf_of\":null,"
	"\"action\":\"set\",\"site\":\"ash\",\"services\":[\"web\"],\"result\":\"unknown\","
	"\"change_id\":null,\"reason\":\"drill\",\"phase\":\"intent\"},"
	"{\"time\":\"2026-11-30T07:00:00.000Z\",\"actor\":\"carol\",\"action\":\"undrain\","
	"\"site\":\"ash\",\"services\":[],\"result\":\"refused\",\"dry_run\":true,"
	"\"reason\":\"try\"}"
	"],\"skipped\":2}";

static const char golden_history[] =
	"TIME                      ACTOR              ACTION             SITE  SERVICES  RESULT   CHANGE  REASON\n"
	"2026-11-30T07:02:00.120Z  chatbot for alice  drain              ash   web,dns   ok       c-7     fiber cut?see ticket\n"
	"2026-11-30T07:01:00.000Z  bob                set                ash   web       unknown  -       drill\n"
	"2026-11-30T07:00:00.000Z  carol              undrain (dry run)  ash   -         refused  -       try\n"
	"(2 lines of the audit log could not be read and are left out)\n";

START_TEST(history_text_golden)
{
	struct cli_request req = request_for(CMD_HISTORY, "history");
	struct cli_result res;
	cli_result_from_response(&req, 200, sample_history, strlen(sample_history), &res);
	ck_assert_msg(res.kind == RESULT_HISTORY, "kind %d: %s", res.kind, res.local_msg);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_OK);
	ck_assert_uint_eq(res.history.n_records, 3);
	ck_assert_int_eq(res.history.skipped, 2);
	struct buf b = { 0 };
	ck_assert_int_eq(output_history_text(&b, &res.history), 0);
	ck_assert_str_eq(b.p, golden_history);
	buf_free(&b);
	/* --json prints the daemon's answer */
	ck_assert_int_eq(output_json_text(&b, &res), 0);
	json_t *doc = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "history")), 3);
	json_decref(doc);
	buf_free(&b);
	cli_result_free(&res);

	const char empty[] = "{\"history\":[],\"skipped\":0}";
	cli_result_from_response(&req, 200, empty, strlen(empty), &res);
	ck_assert_int_eq(res.kind, RESULT_HISTORY);
	ck_assert_int_eq(output_history_text(&b, &res.history), 0);
	ck_assert_str_eq(b.p, "no audit records\n");
	buf_free(&b);
	cli_result_free(&res);
}
END_TEST

/* Changes routectld made on its own show on whose change they follow and
 * each service's move; a success after failed attempts says so. */
static const char sample_auto_history[] =
	"{\"history\":["
	"{\"time\":\"2026-11-30T07:05:00.000Z\",\"actor\":\"routectld\",\"on_behalf_of\":null,"
	"\"action\":\"confirm-revert\",\"site\":\"ash\",\"services\":[\"web\"],"
	"\"result\":\"ok\",\"change_id\":\"r-2\",\"reason\":\"not confirmed\","
	"\"follows_change_id\":\"c-1\",\"follows_actor\":\"alice\",\"failed_attempts\":0,"
	"\"before\":{\"web\":{\"state\":\"withdraw\",\"prepend\":0}},"
	"\"after\":{\"web\":{\"state\":\"announce\",\"prepend\":0}}},"
	"{\"time\":\"2026-11-30T07:04:00.000Z\",\"actor\":\"routectld\",\"on_behalf_of\":null,"
	"\"action\":\"staged-step\",\"site\":\"ash\",\"services\":[\"web\"],"
	"\"result\":\"ok\",\"change_id\":\"s-1\",\"reason\":\"drill\","
	"\"follows_change_id\":\"c-1\",\"follows_actor\":\"alice\",\"failed_attempts\":2,"
	"\"before\":{\"web\":{\"state\":\"prepend\",\"prepend\":3}},"
	"\"after\":{\"web\":{\"state\":\"withdraw\",\"prepend\":0}}}"
	"],\"skipped\":0}";

static const char golden_auto_history[] =
	"TIME                      ACTOR                           ACTION          SITE  SERVICES                   RESULT               CHANGE  REASON\n"
	"2026-11-30T07:05:00.000Z  routectld (after c-1 of alice)  confirm-revert  ash   web withdraw -> announce   ok                   r-2     not confirmed\n"
	"2026-11-30T07:04:00.000Z  routectld (after c-1 of alice)  staged-step     ash   web prepend 3 -> withdraw  ok (after 2 failed)  s-1     drill\n";

START_TEST(history_text_automatic)
{
	struct cli_request req = request_for(CMD_HISTORY, "history");
	struct cli_result res;
	cli_result_from_response(&req, 200, sample_auto_history, strlen(sample_auto_history), &res);
	ck_assert_msg(res.kind == RESULT_HISTORY, "kind %d: %s", res.kind, res.local_msg);
	struct buf b = { 0 };
	ck_assert_int_eq(output_history_text(&b, &res.history), 0);
	ck_assert_str_eq(b.p, golden_auto_history);
	buf_free(&b);
	cli_result_free(&res);
}
END_TEST

static const struct {
	const char *body, *msg;
} bad_history[] = {
	{ "[]", "the history should be an object, not an array" },
	{ "{}", "history is missing" },
	{ "{\"history\":{}}", "history should be an array, not an object" },
	{ "{\"history\":[],\"skipped\":-1}", "skipped is -1, outside 0.." },
	{ "{\"history\":[7]}", "history[0] should be an object, not an integer" },
	{ "{\"history\":[{\"action\":\"drain\",\"result\":\"ok\"}]}", "history[0].time is missing" },
	{ "{\"history\":[{\"time\":\"t\",\"action\":\"drain\",\"result\":\"ok\"},"
	  "{\"time\":\"t\",\"action\":\"drain\",\"result\":1}]}",
	  "history[1].result should be a string, not an integer" },
	{ "{\"history\":[{\"time\":\"t\",\"action\":\"drain\",\"result\":\"ok\","
	  "\"services\":[\"web\",null]}]}", "history[0].services[1] should be a string, not null" },
	{ "{\"history\":[{\"time\":\"t\",\"action\":\"drain\",\"result\":\"ok\","
	  "\"dry_run\":\"no\"}]}", "history[0].dry_run should be true or false, not a string" },
};

START_TEST(history_bad_bodies)
{
	struct cli_request req = request_for(CMD_HISTORY, "history");
	struct cli_result res;
	cli_result_from_response(&req, 200, bad_history[_i].body, strlen(bad_history[_i].body),
				 &res);
	ck_assert_msg(res.kind == RESULT_LOCAL_ERROR, "case %d: kind %d", _i, res.kind);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);   /* a read: never "unknown" */
	ck_assert_str_eq(res.local_code, "protocol");
	ck_assert_msg(strstr(res.local_msg, bad_history[_i].msg) != NULL,
		      "case %d: message \"%s\" lacks \"%s\"", _i, res.local_msg, bad_history[_i].msg);
	cli_result_free(&res);
}
END_TEST

START_TEST(error_document_message)
{
	struct cli_result res;
	answer(CMD_DRAIN, "drain", 409,
	       "{\"error\":{\"code\":\"refused\",\"message\":\"this routectld serves site ash, not chi\"}}",
	       &res);
	ck_assert_int_eq(res.kind, RESULT_API_ERROR);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	char *t = error_text(&res);
	ck_assert_str_eq(t, "routectl: drain: refused: this routectld serves site ash, not chi\n");
	free(t);

	/* --json prints the daemon's document itself */
	struct buf b = { 0 };
	ck_assert_int_eq(output_json_text(&b, &res), 0);
	json_t *back = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(back, res.body));
	ck_assert_ptr_nonnull(strstr(b.p, "\n  \"error\": {"));
	json_decref(back);
	buf_free(&b);
	cli_result_free(&res);

	/* several lines: the rest indented under the first */
	answer(CMD_SET, "set", 502,
	       "{\"error\":{\"code\":\"bird\",\"message\":\"configure check failed\\n8002 x:1:2 bad\"}}",
	       &res);
	t = error_text(&res);
	ck_assert_str_eq(t, "routectl: set: bird: configure check failed\n  8002 x:1:2 bad\n");
	free(t);
	cli_result_free(&res);

	/* a code is optional */
	answer(CMD_STATUS, "status", 500, "{\"error\":{\"message\":\"disk full\"}}", &res);
	ck_assert_int_eq(res.kind, RESULT_API_ERROR);
	t = error_text(&res);
	ck_assert_str_eq(t, "routectl: status: unknown: disk full\n");
	free(t);
	cli_result_free(&res);
}
END_TEST

/* Bodies that do not follow the contract: a clear message, exit 1, no crash;
 * a change that routectld accepted (2xx) but whose answer cannot be read has
 * an unknown outcome: exit 3. */
static const struct bad_case {
	enum cli_cmd cmd;
	long status;
	const char *body;
	const char *msg;
} bad_cases[] = {
	{ CMD_STATUS, 200, "", "body that is not JSON" },
	{ CMD_STATUS, 200, "<html>502 Bad Gateway</html>", "not JSON" },
	{ CMD_STATUS, 200, "{\"site\":", "not JSON" },
	{ CMD_STATUS, 200, "[]", "the status should be an object, not an array" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"site\":\"b\"}", "not JSON" },
	{ CMD_STATUS, 200, "{}", "site is missing" },
	{ CMD_STATUS, 200, "{\"site\":1}", "site should be a string, not an integer" },
	{ CMD_STATUS, 200, "{\"site\":\"a\"}", "generation is missing" },
	{ CMD_STATUS, 200,
	  "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},\"services\":[],"
	  "\"reload\":{\"ok\":\"no\"}}",
	  "reload.ok should be" },
	{ CMD_STATUS, 200,
	  "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},\"services\":[],"
	  "\"reload\":{\"at\":\"2026-11-30T12:00:00Z\"}}",
	  "reload.ok is missing" },
	{ CMD_STATUS, 200,
	  "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},\"services\":[],"
	  "\"reload\":[]}",
	  "reload should be an object" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":-1}", "generation is -1" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1.5}", "generation should be an integer" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"services\":[]}", "bird is missing" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{},\"services\":[]}",
	  "bird.connected is missing" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":1},\"services\":[]}",
	  "bird.connected should be true or false" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true}}",
	  "services is missing" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"safe_mode\":{},\"services\":[]}", "safe_mode.reason is missing" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"safe_mode\":\"yes\",\"services\":[]}", "safe_mode should be an object" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"last_apply\":{\"ms\":\"fast\"},\"services\":[]}", "last_apply.result is missing" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"last_apply\":{\"result\":\"ok\",\"ms\":\"fast\"},\"services\":[]}",
	  "last_apply.ms should be a number" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"announce\"},7]}",
	  "services[1] should be an object" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"announce\"},{\"name\":\"x\",\"state\":\"gone\"}]}",
	  "services[1].state: unknown state \"gone\"" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"prepend\",\"prepend\":0}]}",
	  "services[0].prepend is 0, but state prepend needs 1..10" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"prepend\",\"prepend\":11}]}",
	  "services[0].prepend is 11, outside 0..10" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"announce\",\"ipv4\":[\"1.2.3.0/24\",null]}]}",
	  "services[0].ipv4[1] should be a string, not null" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"announce\",\"ipv6\":\"2001:db8::/32\"}]}",
	  "services[0].ipv6 should be an array" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"announce\",\"next\":{\"state\":\"withdraw\"}}]}",
	  "services[0].next.at is missing" },
	/* null is absent; the closed shapes (two address families) refuse a
	 * member they do not know */
	{ CMD_STATUS, 200, "{\"site\":null}", "site is missing" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"announce\","
	  "\"prefix_count\":{\"ipv4\":1,\"ipv6\":0,\"ipv5\":2}}]}",
	  "services[0].prefix_count has unexpected members: ipv5" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"services\":[{\"name\":\"w\",\"state\":\"announce\","
	  "\"prefix_count\":{\"ipv4\":1,\"ipv6\":\"0\"}}]}",
	  "services[0].prefix_count.ipv6 should be an integer, not a string" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true,"
	  "\"peers\":[],\"sentinels\":{\"ipv4\":true,\"ipv6\":\"no\"}},\"services\":[]}",
	  "bird.sentinels.ipv6 should be true or false, not a string" },
	{ CMD_STATUS, 200, "{\"site\":\"a\",\"generation\":1,\"bird\":{\"connected\":true},"
	  "\"in_flight\":{\"kind\":\"drain\",\"change_id\":7},\"services\":[]}",
	  "in_flight.change_id should be a string, not an integer" },
	{ CMD_DRAIN, 200, "{\"site\":\"a\"}", "changes is missing" },
	{ CMD_DRAIN, 200, "{\"site\":\"a\",\"changes\":[{\"service\":\"w\",\"from\":{\"state\":\"announce\"}}]}",
	  "changes[0].to is missing" },
	{ CMD_DRAIN, 200, "{\"site\":\"a\",\"changes\":[{\"service\":\"w\",\"from\":{\"state\":\"announce\"},"
	  "\"to\":{\"state\":\"up\"}}]}", "changes[0].to.state: unknown state \"up\"" },
	{ CMD_DRAIN, 200, "{\"site\":\"a\",\"changes\":[],\"apply\":{\"ms\":1}}", "apply.result is missing" },
	{ CMD_DRAIN, 200, "{\"site\":\"a\",\"changes\":[],\"diff\":[]}", "diff should be a string" },
	{ CMD_DRAIN, 409, "{\"message\":\"no\"}", "HTTP 409 without a usable error document: error is missing" },
	{ CMD_DRAIN, 500, "{\"error\":{\"code\":\"io\"}}", "error.message is missing" },
	{ CMD_DRAIN, 500, "[1]", "HTTP 500 without a usable error document" },
	{ CMD_DRAIN, 502, "Bad Gateway", "HTTP 502 with a body that is not JSON" },
};

START_TEST(bad_bodies)
{
	const struct bad_case *c = &bad_cases[_i];
	struct cli_result res;
	answer(c->cmd, c->cmd == CMD_STATUS ? "status" : "drain", c->status, c->body, &res);
	ck_assert_msg(res.kind == RESULT_LOCAL_ERROR, "case %d: kind %d", _i, res.kind);
	bool accepted_change = c->cmd != CMD_STATUS && c->status >= 200 && c->status < 300;
	ck_assert_int_eq(cli_result_exit(&res), accepted_change ? CLI_EXIT_UNKNOWN : CLI_EXIT_FAILED);
	ck_assert_str_eq(res.local_code, accepted_change ? "outcome-unknown" : "protocol");
	if (accepted_change)
		ck_assert_msg(strstr(res.local_msg, "may or may not have been applied") != NULL,
			      "case %d: %s", _i, res.local_msg);
	ck_assert_msg(strstr(res.local_msg, c->msg) != NULL,
		      "case %d: message \"%s\" lacks \"%s\"", _i, res.local_msg, c->msg);

	/* --json turns it into an error document */
	struct buf b = { 0 };
	ck_assert_int_eq(output_json_text(&b, &res), 0);
	json_t *doc = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
			 res.local_code);
	json_decref(doc);
	buf_free(&b);
	cli_result_free(&res);
}
END_TEST

/* An accepted change whose answer has a change id but not the expected
 * shape: the id is in the message. A dry run changes nothing: a plain
 * protocol error. */
START_TEST(accepted_change_unreadable_answer)
{
	struct cli_request req = request_for(CMD_DRAIN, "drain");
	req.reason = "fiber cut";
	struct cli_result res;
	const char *body = "{\"site\":\"ash\",\"change_id\":\"5f3a9c01d2e4b6a7\"}";
	cli_result_from_response(&req, 200, body, strlen(body), &res);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_UNKNOWN);
	ck_assert_msg(strstr(res.local_msg, "outcome unknown: the drain (change id "
			     "5f3a9c01d2e4b6a7) may or may not have been applied: ") == res.local_msg,
		      "%s", res.local_msg);
	ck_assert_msg(strstr(res.local_msg, "run `routectl -s /nowhere.sock status` to see the state"),
		      "%s", res.local_msg);
	ck_assert_msg(strstr(res.local_msg, "\"fiber cut\""), "%s", res.local_msg);
	cli_result_free(&res);

	req.dry_run = true;
	cli_result_from_response(&req, 200, body, strlen(body), &res);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	ck_assert_str_eq(res.local_code, "protocol");
	ck_assert(!res.outcome_unknown);
	cli_result_free(&res);
}
END_TEST

/* --------------------------------------------------- against a fake daemon */

struct fake {
	char dir[64];
	char sock[128];
	char seen[160];     /* the fake writes the request it got here */
	pid_t pid;
};

enum fake_mode {
	FAKE_ANSWER,   /* the canned response */
	FAKE_SILENT,   /* reads the request, never answers */
	FAKE_HUGE,     /* an answer larger than the CLI reads */
	FAKE_CLOSE,    /* reads the request, closes without a byte (a daemon that died) */
	FAKE_HALF,     /* reads the request, sends part of an answer, closes */
};

static void fake_serve(struct fake *f, int ls, enum fake_mode mode, const char *response);

static void fake_dir(struct fake *f)
{
	snprintf(f->dir, sizeof f->dir, "/tmp/routectl-cli-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->sock, sizeof f->sock, "%s/d.sock", f->dir);
	snprintf(f->seen, sizeof f->seen, "%s/request", f->dir);
}

/* Serves one connection: reads the request (headers, then Content-Length
 * bytes), records it, and answers with the canned response. */
static void fake_start(struct fake *f, enum fake_mode mode, const char *response)
{
	fake_dir(f);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(ls, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->sock);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(ls, 4), 0);
	fake_serve(f, ls, mode, response);
}

/* The same on TCP, 127.0.0.1 and a port the kernel picks (into *port). */
static void fake_start_tcp(struct fake *f, enum fake_mode mode, const char *response, int *port)
{
	fake_dir(f);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(ls, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(ls, 4), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	fake_serve(f, ls, mode, response);
}

static void fake_serve(struct fake *f, int ls, enum fake_mode mode, const char *response)
{
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid > 0) {
		close(ls);
		return;
	}
	/* check's SIGTERM handler would take the whole process group down */
	signal(SIGTERM, SIG_DFL);
	alarm(20);   /* never outlive a broken test */
	int c = accept(ls, NULL, NULL);
	if (c < 0)
		_exit(1);
	struct buf req = { 0 };
	char chunk[4096];
	for (;;) {
		char *end = req.p ? strstr(req.p, "\r\n\r\n") : NULL;
		if (end) {
			const char *cl = strcasestr(req.p, "Content-Length:");
			size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
			if (req.len >= (size_t)(end + 4 - req.p) + want)
				break;
		}
		ssize_t n = read(c, chunk, sizeof chunk);
		if (n <= 0)
			_exit(1);
		buf_append(&req, chunk, (size_t)n);
	}
	FILE *out = fopen(f->seen, "w");
	if (out) {
		fwrite(req.p, 1, req.len, out);
		fclose(out);
	}
	if (mode == FAKE_SILENT) {
		pause();
		_exit(0);
	}
	if (mode == FAKE_CLOSE)
		_exit(0);   /* the kernel closes the connection, as for a killed daemon */
	if (mode == FAKE_HALF) {
		const char *h = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				"Content-Length: 400\r\n\r\n{\"site\":\"ash\",\"change_id\":";
		if (write(c, h, strlen(h)) < 0)
			_exit(1);
		_exit(0);
	}
	if (mode == FAKE_HUGE) {
		/* A well-formed answer that never ends within the limit. */
		const char *h = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				"Content-Length: 104857600\r\n\r\n";
		if (write(c, h, strlen(h)) < 0)
			_exit(1);
		static char blob[1 << 16];
		memset(blob, ' ', sizeof blob);
		for (size_t sent = 0; sent < (100u << 20); sent += sizeof blob)
			if (write(c, blob, sizeof blob) < 0)
				_exit(0);
		_exit(0);
	}
	size_t len = strlen(response);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(c, response + off, len - off);
		if (n <= 0)
			_exit(1);
		off += (size_t)n;
	}
	close(c);
	_exit(0);
}

static char *fake_finish(struct fake *f)
{
	int st;
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
	char *seen = NULL;
	FILE *in = fopen(f->seen, "r");
	if (in) {
		struct buf b = { 0 };
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof chunk, in)) > 0)
			buf_append(&b, chunk, n);
		fclose(in);
		seen = buf_steal(&b);
	}
	unlink(f->seen);
	unlink(f->sock);
	rmdir(f->dir);
	return seen;
}

static char *http_response(int status, const char *reason, const char *body)
{
	struct buf b = { 0 };
	buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		   status, reason, strlen(body), body);
	return buf_steal(&b);
}

START_TEST(client_status_roundtrip)
{
	struct fake f;
	char *resp = http_response(200, "OK", sample_status);
	fake_start(&f, FAKE_ANSWER, resp);

	struct cli_request req = request_for(CMD_STATUS, "status");
	req.socket_path = f.sock;
	struct cli_result res;
	cli_execute(&req, &res);
	char *seen = fake_finish(&f);

	ck_assert_msg(res.kind == RESULT_STATUS, "kind %d: %s", res.kind, res.local_msg);
	ck_assert_int_eq(res.http_status, 200);
	ck_assert_str_eq(res.status.site, "ash");
	ck_assert_ptr_nonnull(seen);
	ck_assert_msg(strncmp(seen, "GET /v1/status HTTP/1.1\r\n", 25) == 0, "request: %s", seen);
	ck_assert_ptr_nonnull(strcasestr(seen, "\r\nAccept: application/json\r\n"));
	free(seen);
	free(resp);
	cli_result_free(&res);
}
END_TEST

START_TEST(client_history_roundtrip)
{
	struct fake f;
	char *resp = http_response(200, "OK", sample_history);
	fake_start(&f, FAKE_ANSWER, resp);

	struct cli_request req = request_for(CMD_HISTORY, "history");
	const char *svc[] = { "web" };
	req.socket_path = f.sock;
	req.limit = 3;
	req.services = svc;
	req.n_services = 1;
	struct cli_result res;
	cli_execute(&req, &res);
	char *seen = fake_finish(&f);

	ck_assert_msg(res.kind == RESULT_HISTORY, "kind %d: %s", res.kind, res.local_msg);
	ck_assert_uint_eq(res.history.n_records, 3);
	ck_assert_str_eq(res.history.records[0].on_behalf_of, "alice");
	ck_assert_ptr_nonnull(seen);
	ck_assert_msg(strncmp(seen, "GET /v1/history?limit=3&service=web HTTP/1.1\r\n", 46) == 0,
		      "request: %s", seen);
	free(seen);
	free(resp);
	cli_result_free(&res);
}
END_TEST

START_TEST(client_drain_roundtrip_and_refusal)
{
	struct fake f;
	char *resp = http_response(409, "Conflict",
		"{\"error\":{\"code\":\"refused\",\"message\":\"this routectld serves site ash, not chi\"}}");
	fake_start(&f, FAKE_ANSWER, resp);

	char *argv[] = { "routectl", "drain", "chi", "--service", "web", "--reason",
			 "fiber \"cut\"", NULL };
	struct cli_request req;
	struct err e;
	ck_assert_int_eq(cli_parse_args(ARGC(argv), argv, f.sock, &req, &e), 0);
	struct cli_result res;
	cli_execute(&req, &res);
	char *seen = fake_finish(&f);

	ck_assert_int_eq(res.kind, RESULT_API_ERROR);
	ck_assert_int_eq(res.http_status, 409);
	ck_assert_str_eq(res.error_code, "refused");
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);

	ck_assert_ptr_nonnull(seen);
	ck_assert_msg(strncmp(seen, "POST /v1/drain HTTP/1.1\r\n", 25) == 0, "request: %s", seen);
	ck_assert_ptr_nonnull(strcasestr(seen, "\r\nContent-Type: application/json\r\n"));
	/* the body is JSON made by jansson, quotes escaped */
	json_t *body = json_loads(strstr(seen, "\r\n\r\n") + 4, 0, NULL);
	json_t *want = json_loads("{\"site\":\"chi\",\"services\":[\"web\"],"
				  "\"reason\":\"fiber \\\"cut\\\"\",\"now\":false,\"dry_run\":false}",
				  0, NULL);
	ck_assert_ptr_nonnull(body);
	ck_assert(json_equal(body, want));
	json_decref(body);
	json_decref(want);
	free(seen);
	free(resp);
	cli_result_free(&res);
	cli_request_free(&req);
}
END_TEST

START_TEST(client_unreachable)
{
	struct cli_request req = request_for(CMD_STATUS, "status");
	req.socket_path = "/tmp/routectl-cli-no-such-dir/d.sock";
	struct cli_result res;
	cli_execute(&req, &res);
	ck_assert_int_eq(res.kind, RESULT_LOCAL_ERROR);
	ck_assert_str_eq(res.local_code, "connect");
	ck_assert_msg(strstr(res.local_msg,
			     "cannot connect to routectld at /tmp/routectl-cli-no-such-dir/d.sock: "
			     "No such file or directory (no socket there: is routectld running?")
		      == res.local_msg, "%s", res.local_msg);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	char *t = error_text(&res);
	ck_assert_ptr_nonnull(strstr(t, "routectl: cannot connect to routectld at "));
	free(t);
	cli_result_free(&res);

	/* a socket file nobody listens on */
	char dir[] = "/tmp/routectl-cli-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/dead.sock", dir);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	close(s);
	req.socket_path = path;
	cli_execute(&req, &res);
	unlink(path);
	rmdir(dir);
	ck_assert_int_eq(res.kind, RESULT_LOCAL_ERROR);
	ck_assert_msg(strstr(res.local_msg, "Connection refused (is routectld running?)") != NULL,
		      "%s", res.local_msg);
	ck_assert_msg(strstr(res.local_msg, "localhost") == NULL, "%s", res.local_msg);
	cli_result_free(&res);
}
END_TEST

/* A change that could not be sent was not applied, for certain: say so. */
START_TEST(client_unreachable_change_not_applied)
{
	char *argv[] = { "routectl", "drain", "ash", "--reason", "x", NULL };
	struct cli_request req;
	struct err e;
	ck_assert_int_eq(cli_parse_args(ARGC(argv), argv, "/tmp/routectl-cli-no-such-dir/d.sock",
					&req, &e), 0);
	struct cli_result res;
	cli_execute(&req, &res);
	ck_assert_str_eq(res.local_code, "connect");
	ck_assert(!res.outcome_unknown);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	ck_assert_msg(strstr(res.local_msg, "/tmp/routectl-cli-no-such-dir/d.sock") &&
		      strstr(res.local_msg, "; the drain was not applied (nothing was sent)"),
		      "%s", res.local_msg);
	cli_result_free(&res);
	cli_request_free(&req);
}
END_TEST

/* A console whose queue of new connections is full (connect(2) fails with
 * EAGAIN, which libcurl reports without an errno): the message names the
 * socket and the reason, never libcurl's "localhost port 80". */
START_TEST(client_listen_queue_full)
{
	char dir[] = "/tmp/routectl-cli-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/full.sock", dir);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(ls, 0), 0);
	int held[16], n = 0;
	for (; n < 16; n++) {
		held[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(held[n], (struct sockaddr *)&sa, sizeof sa) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
	}
	ck_assert_int_lt(n, 16);

	char *argv[] = { "routectl", "undrain", "ash", "--reason", "x", NULL };
	struct cli_request req;
	struct err e;
	ck_assert_int_eq(cli_parse_args(ARGC(argv), argv, path, &req, &e), 0);
	struct cli_result res;
	cli_execute(&req, &res);
	for (int i = 0; i <= n; i++)
		close(held[i]);
	close(ls);
	unlink(path);
	rmdir(dir);
	ck_assert_str_eq(res.local_code, "connect");
	ck_assert_msg(strstr(res.local_msg, "cannot connect to routectld at ") == res.local_msg &&
		      strstr(res.local_msg, "full.sock: Resource temporarily unavailable (its queue "
			     "of new connections is full") &&
		      strstr(res.local_msg, "; tried 5 times; the undrain was not applied"), "%s",
		      res.local_msg);
	ck_assert_msg(strstr(res.local_msg, "localhost") == NULL, "%s", res.local_msg);
	cli_result_free(&res);
	cli_request_free(&req);
}
END_TEST

/* The queue of new connections is full for a moment (routectld working
 * through a burst): the CLI tries again and gets its answer. */
START_TEST(client_retries_while_queue_full)
{
	char dir[] = "/tmp/routectl-cli-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/busy.sock", dir);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(ls, 0), 0);
	int held[16], n = 0;
	for (; n < 16; n++) {
		held[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(held[n], (struct sockaddr *)&sa, sizeof sa) < 0)
			break;
	}
	ck_assert_int_lt(n, 16);

	char *resp = http_response(200, "OK", sample_status);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		alarm(20);
		usleep(300 * 1000);   /* busy for a while, then accept everything */
		for (;;) {
			int c = accept(ls, NULL, NULL);
			if (c < 0)
				_exit(1);
			struct pollfd p = { .fd = c, .events = POLLIN };
			if (poll(&p, 1, 100) <= 0) {
				close(c);   /* one of the held ones: sends nothing */
				continue;
			}
			char buf[4096];
			size_t got = 0;
			while (got < sizeof buf - 1) {
				ssize_t k = read(c, buf + got, sizeof buf - 1 - got);
				if (k <= 0)
					_exit(1);
				got += (size_t)k;
				buf[got] = '\0';
				if (strstr(buf, "\r\n\r\n"))
					break;
			}
			if (write(c, resp, strlen(resp)) < 0)
				_exit(1);
			close(c);
			_exit(0);
		}
	}
	struct cli_request req = request_for(CMD_STATUS, "status");
	req.socket_path = path;
	struct cli_result res;
	cli_execute(&req, &res);
	int st;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	for (int i = 0; i <= n; i++)
		close(held[i]);
	close(ls);
	unlink(path);
	rmdir(dir);
	free(resp);
	ck_assert_msg(res.kind == RESULT_STATUS, "kind %d: %s", res.kind, res.local_msg);
	cli_result_free(&res);
}
END_TEST

/* routectld dies after reading a change: the outcome is unknown, exit 3,
 * and the message says how to find out. A status is just a failure. */
START_TEST(client_daemon_closes_before_replying)
{
	struct fake f;
	fake_start(&f, FAKE_CLOSE, NULL);
	char *argv[] = { "routectl", "drain", "ash", "--reason", "fiber cut", "--now", NULL };
	struct cli_request req;
	struct err e;
	ck_assert_int_eq(cli_parse_args(ARGC(argv), argv, f.sock, &req, &e), 0);
	struct cli_result res;
	cli_execute(&req, &res);
	free(fake_finish(&f));
	ck_assert_int_eq(res.kind, RESULT_LOCAL_ERROR);
	ck_assert_str_eq(res.local_code, "outcome-unknown");
	ck_assert(res.outcome_unknown);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_UNKNOWN);
	char want[512];
	snprintf(want, sizeof want,
		 "outcome unknown: the drain may or may not have been applied: routectld at %s "
		 "closed the connection before replying; run `routectl -s %s status` to see the "
		 "state (each service shows the reason of its last change: \"fiber cut\")",
		 f.sock, f.sock);
	ck_assert_str_eq(res.local_msg, want);
	char *t = error_text(&res);
	ck_assert_msg(strncmp(t, "routectl: outcome unknown: the drain may or may not", 51) == 0,
		      "%s", t);
	free(t);
	cli_result_free(&res);
	cli_request_free(&req);

	fake_start(&f, FAKE_CLOSE, NULL);
	struct cli_request st = request_for(CMD_STATUS, "status");
	st.socket_path = f.sock;
	cli_execute(&st, &res);
	free(fake_finish(&f));
	ck_assert(!res.outcome_unknown);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	ck_assert_msg(strstr(res.local_msg, "closed the connection before replying") &&
		      strstr(res.local_msg, f.sock), "%s", res.local_msg);
	cli_result_free(&res);
}
END_TEST

/* adopt writes the desired state too: a lost answer is an unknown outcome;
 * its dry run is not. */
START_TEST(client_adopt_outcome_unknown)
{
	struct fake f;
	fake_start(&f, FAKE_CLOSE, NULL);
	char *argv[] = { "routectl", "adopt", "ash", "--reason", "state dir did not mount", NULL };
	struct cli_request req;
	struct err e;
	ck_assert_int_eq(cli_parse_args(ARGC(argv), argv, f.sock, &req, &e), 0);
	struct cli_result res;
	cli_execute(&req, &res);
	free(fake_finish(&f));
	ck_assert(res.outcome_unknown);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_UNKNOWN);
	ck_assert_msg(strstr(res.local_msg, "outcome unknown: the adopt may or may not have been "
			     "applied") != NULL, "%s", res.local_msg);
	cli_result_free(&res);

	fake_start(&f, FAKE_CLOSE, NULL);
	req.dry_run = true;
	cli_execute(&req, &res);
	free(fake_finish(&f));
	ck_assert(!res.outcome_unknown);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	cli_result_free(&res);
	cli_request_free(&req);
}
END_TEST

/* The connection ends in the middle of the answer to a set. */
START_TEST(client_daemon_closes_mid_reply)
{
	struct fake f;
	fake_start(&f, FAKE_HALF, NULL);
	char *argv[] = { "routectl", "set", "ash", "web", "withdraw", "--reason", "x", NULL };
	struct cli_request req;
	struct err e;
	ck_assert_int_eq(cli_parse_args(ARGC(argv), argv, f.sock, &req, &e), 0);
	struct cli_result res;
	cli_execute(&req, &res);
	free(fake_finish(&f));
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_UNKNOWN);
	ck_assert_msg(strstr(res.local_msg, "the set may or may not have been applied: routectld "
			     "at ") && strstr(res.local_msg, "in the middle of its reply"),
		      "%s", res.local_msg);
	cli_result_free(&res);

	/* a dry run changes nothing: not an unknown outcome */
	fake_start(&f, FAKE_CLOSE, NULL);
	req.dry_run = true;
	cli_execute(&req, &res);
	free(fake_finish(&f));
	ck_assert(!res.outcome_unknown);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	cli_result_free(&res);
	cli_request_free(&req);
}
END_TEST

START_TEST(client_timeout)
{
	struct fake f;
	fake_start(&f, FAKE_SILENT, NULL);
	char *argv[] = { "routectl", "--timeout", "1", "drain", "ash", "--reason", "x", NULL };
	struct cli_request req;
	struct err e;
	ck_assert_int_eq(cli_parse_args(ARGC(argv), argv, f.sock, &req, &e), 0);
	struct cli_result res;
	cli_execute(&req, &res);
	free(fake_finish(&f));
	ck_assert_int_eq(res.kind, RESULT_LOCAL_ERROR);
	ck_assert_str_eq(res.local_code, "outcome-unknown");
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_UNKNOWN);
	ck_assert_msg(strstr(res.local_msg, "did not answer within 1 s (--timeout)") != NULL, "%s",
		      res.local_msg);
	ck_assert_msg(strstr(res.local_msg, "the drain may or may not have been applied") != NULL,
		      "%s", res.local_msg);
	cli_result_free(&res);
	cli_request_free(&req);
}
END_TEST

START_TEST(client_response_too_large)
{
	struct fake f;
	fake_start(&f, FAKE_HUGE, NULL);
	struct cli_request req = request_for(CMD_STATUS, "status");
	req.socket_path = f.sock;
	req.timeout_s = 30;
	struct cli_result res;
	cli_execute(&req, &res);
	free(fake_finish(&f));
	ck_assert_int_eq(res.kind, RESULT_LOCAL_ERROR);
	ck_assert_msg(strstr(res.local_msg, "larger than 64 MiB") != NULL, "%s", res.local_msg);
	cli_result_free(&res);
}
END_TEST

/* ------------------------------------------------------ the built binary */

struct run {
	int status;
	char out[8192];
	char err[8192];
};

static void slurp(int fd, char *dst, size_t size)
{
	size_t used = 0;
	ssize_t n;
	while (used + 1 < size && (n = read(fd, dst + used, size - 1 - used)) > 0)
		used += (size_t)n;
	dst[used] = '\0';
}

static void run_cli(struct run *r, const char *const *args)
{
	const char *root = getenv("ROUTECTL_BUILD_ROOT");
	ck_assert_msg(root != NULL, "ROUTECTL_BUILD_ROOT is not set (run through meson test)");
	char bin[512];
	snprintf(bin, sizeof bin, "%s/routectl/routectl", root);

	char *argv[32] = { bin };
	int n = 1;
	for (; args[n - 1]; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;

	int out[2], err[2];
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	posix_spawn_file_actions_addclose(&fa, err[0]);
	pid_t pid;
	setenv("ROUTECTL_SOCKET", "/tmp/routectl-cli-no-such-dir/d.sock", 1);
	ck_assert_int_eq(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(err[1]);
	slurp(out[0], r->out, sizeof r->out);
	slurp(err[0], r->err, sizeof r->err);
	close(out[0]);
	close(err[0]);
	int st;
	waitpid(pid, &st, 0);
	ck_assert(WIFEXITED(st));
	r->status = WEXITSTATUS(st);
}

START_TEST(binary_usage_errors_exit_2)
{
	struct run r;
	const struct usage_case *c = &usage_cases[_i];
	run_cli(&r, c->args);
	ck_assert_msg(r.status == 2, "case %d: exit %d, stderr %s", _i, r.status, r.err);
	ck_assert_msg(strncmp(r.err, "routectl: ", 10) == 0 && strstr(r.err, c->msg),
		      "case %d: stderr \"%s\" lacks \"%s\"", _i, r.err, c->msg);
	ck_assert_str_eq(r.out, "");
}
END_TEST

START_TEST(binary_exit_codes)
{
	struct run r;

	run_cli(&r, (const char *[]){ "--help", NULL });
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage:"));

	run_cli(&r, (const char *[]){ "help", "drain", NULL });
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "drain SITE"));

	run_cli(&r, (const char *[]){ "--version", NULL });
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "routectl "));

	/* unreachable: exit 1, the socket named */
	run_cli(&r, (const char *[]){ "status", NULL });
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "routectl: cannot connect to routectld at "
			     "/tmp/routectl-cli-no-such-dir/d.sock: No such file or directory") == r.err,
		      "%s", r.err);

	/* --json: a JSON error document on stdout too */
	run_cli(&r, (const char *[]){ "drain", "ash", "--reason", "x", "--json", NULL });
	ck_assert_int_eq(r.status, 1);
	json_t *doc = json_loads(r.out, 0, NULL);
	ck_assert_msg(doc != NULL, "stdout is not JSON: %s", r.out);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
			 "connect");
	json_decref(doc);

	/* a change sent, the connection closed before any answer: exit 3 */
	struct fake f;
	fake_start(&f, FAKE_CLOSE, NULL);
	run_cli(&r, (const char *[]){ "-s", f.sock, "drain", "ash", "--reason", "x", NULL });
	free(fake_finish(&f));
	ck_assert_msg(r.status == 3, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strncmp(r.err, "routectl: outcome unknown: the drain may or may not have "
			      "been applied: routectld at ", 76) == 0, "%s", r.err);
	ck_assert_str_eq(r.out, "");

	fake_start(&f, FAKE_CLOSE, NULL);
	run_cli(&r, (const char *[]){ "-s", f.sock, "--json", "undrain", "ash", "--reason", "x",
				      NULL });
	free(fake_finish(&f));
	ck_assert_int_eq(r.status, 3);
	doc = json_loads(r.out, 0, NULL);
	ck_assert_msg(doc != NULL, "stdout is not JSON: %s", r.out);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
			 "outcome-unknown");
	json_decref(doc);
}
END_TEST

/* ------------------------------------------- the transport over TCP */

START_TEST(transport_tcp_with_token)
{
	struct fake f;
	int port;
	char *resp = http_response(200, "OK", "{\"site\":\"ash\",\"changes\":[]}");
	fake_start_tcp(&f, FAKE_ANSWER, resp, &port);

	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);   /* a final / is fine */
	struct transport_endpoint ep = { .base_url = url, .token = "s3cret-token" };
	struct transport_reply reply;
	int rc = transport_call(&ep, "POST", "/v1/drain", "{\"site\":\"ash\"}", 5, &reply);
	char *seen = fake_finish(&f);

	ck_assert_msg(rc == 0, "%d: %s", rc, reply.message);
	ck_assert_int_eq(reply.outcome, TRANSPORT_ANSWERED);
	ck_assert_int_eq(reply.http_status, 200);
	ck_assert_str_eq(reply.body.p, "{\"site\":\"ash\",\"changes\":[]}");
	ck_assert_ptr_nonnull(seen);
	ck_assert_msg(strncmp(seen, "POST /v1/drain HTTP/1.1\r\n", 25) == 0, "request: %s", seen);
	ck_assert_ptr_nonnull(strcasestr(seen, "\r\nAuthorization: Bearer s3cret-token\r\n"));
	ck_assert_ptr_nonnull(strcasestr(seen, "\r\nContent-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(seen, "\r\n\r\n{\"site\":\"ash\"}"));
	transport_reply_free(&reply);
	free(seen);
	free(resp);

	/* without a token, no Authorization header */
	resp = http_response(200, "OK", "{}");
	fake_start_tcp(&f, FAKE_ANSWER, resp, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	ep.token = NULL;
	ck_assert_int_eq(transport_call(&ep, "GET", "/v1/status", NULL, 5, &reply), 0);
	seen = fake_finish(&f);
	ck_assert_ptr_nonnull(seen);
	ck_assert_msg(strncmp(seen, "GET /v1/status HTTP/1.1\r\n", 25) == 0, "request: %s", seen);
	ck_assert_ptr_null(strcasestr(seen, "Authorization:"));
	transport_reply_free(&reply);
	free(seen);
	free(resp);
}
END_TEST

START_TEST(transport_tcp_exit_rules)
{
	/* A port that is bound but not listening refuses: nothing was sent. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	char url[64], want[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
	struct transport_endpoint ep = { .base_url = url, .token = "s3cret-token" };
	struct transport_reply reply;
	ck_assert_int_eq(transport_call(&ep, "POST", "/v1/drain", "{}", 5, &reply), -ERR_CONNECT);
	close(s);
	ck_assert_int_eq(reply.outcome, TRANSPORT_NOT_SENT);
	ck_assert_str_eq(reply.code, "connect");
	snprintf(want, sizeof want, "cannot connect to routectld at %s: Connection refused "
		 "(is routectld running?)", url);
	ck_assert_str_eq(reply.message, want);
	transport_reply_free(&reply);

	/* Connected, the request read, the connection closed: maybe acted upon. */
	struct fake f;
	int port;
	fake_start_tcp(&f, FAKE_CLOSE, NULL, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	ck_assert_int_eq(transport_call(&ep, "POST", "/v1/drain", "{}", 5, &reply), -ERR_IO);
	free(fake_finish(&f));
	ck_assert_int_eq(reply.outcome, TRANSPORT_NO_ANSWER);
	snprintf(want, sizeof want, "routectld at %s closed the connection before replying", url);
	ck_assert_str_eq(reply.message, want);
	transport_reply_free(&reply);

	/* Connected, no answer in time. */
	fake_start_tcp(&f, FAKE_SILENT, NULL, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	ck_assert_int_eq(transport_call(&ep, "GET", "/v1/status", NULL, 1, &reply), -ERR_TIMEOUT);
	free(fake_finish(&f));
	ck_assert_int_eq(reply.outcome, TRANSPORT_NO_ANSWER);
	ck_assert_str_eq(reply.code, "timeout");
	ck_assert_ptr_null(strstr(reply.message, "s3cret"));
	transport_reply_free(&reply);
}
END_TEST

/* A whole command over TCP: the answer decoded, the exit rules kept. */
START_TEST(execute_on_tcp)
{
	struct fake f;
	int port;
	char url[64], want[160];
	char *resp = http_response(200, "OK", sample_status);
	fake_start_tcp(&f, FAKE_ANSWER, resp, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	struct transport_endpoint ep = { .base_url = url, .token = "s3cret-token" };
	struct cli_request req = request_for(CMD_STATUS, "status");
	struct cli_result res;
	cli_execute_on(&req, &ep, &res);
	free(fake_finish(&f));
	ck_assert_msg(res.kind == RESULT_STATUS, "kind %d: %s", res.kind, res.local_msg);
	ck_assert_str_eq(res.status.site, "ash");
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_OK);
	cli_result_free(&res);
	free(resp);

	/* refused: the drain was certainly not applied */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
	req = request_for(CMD_DRAIN, "drain");
	req.site = "ash";
	req.reason = "drill";
	cli_execute_on(&req, &ep, &res);
	close(s);
	ck_assert_int_eq(res.kind, RESULT_LOCAL_ERROR);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	snprintf(want, sizeof want, "cannot connect to routectld at %s: Connection refused (is "
		 "routectld running?); the drain was not applied (nothing was sent)", url);
	ck_assert_str_eq(res.local_msg, want);
	cli_result_free(&res);
}
END_TEST

/* Endpoints that cannot be used are refused before anything is sent, and
 * the token never shows in a message. */
static const struct bad_endpoint {
	const char *socket_path, *base_url, *token, *msg;
} bad_endpoints[] = {
	{ NULL, NULL, NULL, "name either a console socket or an API URL" },
	{ "/tmp/x.sock", "http://127.0.0.1:1", NULL, "name either a console socket or an API URL" },
	{ NULL, "ftp://127.0.0.1:1", NULL, "\"ftp://127.0.0.1:1\" is not http://HOST:PORT" },
	{ NULL, "127.0.0.1:1", NULL, "is not http://HOST:PORT" },
	{ NULL, "http://", NULL, "is not http://HOST:PORT" },
	{ NULL, "https://h:1/api", NULL, "\"https://h:1/api\" is not http://HOST:PORT" },
	{ NULL, "http://h:1?x=1", NULL, "is not http://HOST:PORT" },
	{ NULL, "http://h :1", NULL, "is not http://HOST:PORT" },
	{ NULL, "http://127.0.0.1:1", "s3cret\r\nX-Evil: 1", "the token for routectld at "
	  "http://127.0.0.1:1 is empty or contains white space" },
	{ NULL, "http://127.0.0.1:1", "", "is empty or contains white space" },
};

START_TEST(transport_bad_endpoints)
{
	const struct bad_endpoint *c = &bad_endpoints[_i];
	struct transport_endpoint ep = { .socket_path = c->socket_path, .base_url = c->base_url,
					 .token = c->token };
	struct transport_reply reply;
	ck_assert_int_eq(transport_call(&ep, "GET", "/v1/status", NULL, 5, &reply), -ERR_INVALID);
	ck_assert_int_eq(reply.outcome, TRANSPORT_LOCAL);
	ck_assert_str_eq(reply.code, "invalid");
	ck_assert_msg(strstr(reply.message, c->msg), "case %d: \"%s\" lacks \"%s\"", _i,
		      reply.message, c->msg);
	ck_assert_ptr_null(strstr(reply.message, "s3cret"));
	transport_reply_free(&reply);
}
END_TEST

/* ------------------------------------------------------- commit-confirm */

/* --confirm-within takes seconds or units, one after the other, up to a
 * day; it goes into the body as seconds, and only where it applies. */
START_TEST(parse_confirm_within)
{
	static const struct { const char *in; long want; } good[] = {
		{ "600", 600 }, { "90s", 90 }, { "10m", 600 }, { "1h30m", 5400 },
		{ "2h", 7200 }, { "1d", 86400 }, { "1m30s", 90 },
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		long s = 0;
		struct err e;
		ck_assert_msg(cli_parse_duration(good[i].in, &s, &e) == 0, "%s: %s", good[i].in,
			      e.msg);
		ck_assert_int_eq(s, good[i].want);
	}
	static const char *const bad[] = { "", "0", "0s", "10x", "1h30", "-5m", "m", "1d1s",
					   "99999999999999999999", "1.5h" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long s = 0;
		struct err e;
		ck_assert_msg(cli_parse_duration(bad[i], &s, &e) == -ERR_INVALID, "took %s", bad[i]);
		ck_assert_msg(strstr(e.msg, "--confirm-within") != NULL, "%s", e.msg);
	}

	struct cli_request req;
	struct err e;
	char *v[] = { "routectl", "drain", "ash", "--reason", "drill", "--confirm-within", "10m",
		      NULL };
	ck_assert_int_eq(parse(v, ARGC(v), &req, &e), 0);
	ck_assert_int_eq(req.confirm_within_s, 600);
	json_t *body = cli_request_body(&req);
	ck_assert_int_eq(json_integer_value(json_object_get(body, "confirm_within")), 600);
	json_decref(body);
	cli_request_free(&req);

	char *s[] = { "routectl", "set", "ash", "web", "prepend", "2", "--reason", "r",
		      "--confirm-within=90s", NULL };
	ck_assert_int_eq(parse(s, ARGC(s), &req, &e), 0);
	body = cli_request_body(&req);
	ck_assert_int_eq(json_integer_value(json_object_get(body, "confirm_within")), 90);
	json_decref(body);
	cli_request_free(&req);

	/* without it, no member */
	char *u[] = { "routectl", "undrain", "ash", "--reason", "r", NULL };
	ck_assert_int_eq(parse(u, ARGC(u), &req, &e), 0);
	body = cli_request_body(&req);
	ck_assert_ptr_null(json_object_get(body, "confirm_within"));
	json_decref(body);
	cli_request_free(&req);

	char *x[] = { "routectl", "drain", "ash", "--reason", "r", "--confirm-within", "2d", NULL };
	ck_assert_int_eq(parse(x, ARGC(x), &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "drain") && strstr(e.msg, "longer than a day"), "%s", e.msg);
	cli_request_free(&req);
	char *h[] = { "routectl", "history", "--confirm-within", "10m", NULL };
	ck_assert_int_eq(parse(h, ARGC(h), &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "does not apply to history"), "%s", e.msg);
	cli_request_free(&req);
}
END_TEST

/* confirm CHANGE_ID: POST to the change's confirm path, the id encoded as
 * one segment; the reason is optional; it is a change (an answer that
 * never comes leaves its outcome unknown). */
START_TEST(parse_confirm_command)
{
	struct cli_request req;
	struct err e;
	char target[256];
	char *v[] = { "routectl", "confirm", "6f1c2a9e0b3d4c5f", NULL };
	ck_assert_int_eq(parse(v, ARGC(v), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_CONFIRM);
	ck_assert_str_eq(req.change_id, "6f1c2a9e0b3d4c5f");
	ck_assert_str_eq(cli_method(req.cmd), "POST");
	ck_assert_int_eq(cli_request_target(&req, target, sizeof target), 0);
	ck_assert_str_eq(target, "/v1/changes/6f1c2a9e0b3d4c5f/confirm");
	ck_assert(cli_request_is_change(&req));
	json_t *body = cli_request_body(&req);
	ck_assert_uint_eq(json_object_size(body), 0);
	json_decref(body);
	cli_request_free(&req);

	char *r[] = { "routectl", "confirm", "a/b", "--reason", "looks good", NULL };
	ck_assert_int_eq(parse(r, ARGC(r), &req, &e), 0);
	ck_assert_int_eq(cli_request_target(&req, target, sizeof target), 0);
	ck_assert_str_eq(target, "/v1/changes/a%2Fb/confirm");
	body = cli_request_body(&req);
	ck_assert_str_eq(json_string_value(json_object_get(body, "reason")), "looks good");
	json_decref(body);
	cli_request_free(&req);

	char *m[] = { "routectl", "confirm", NULL };
	ck_assert_int_eq(parse(m, ARGC(m), &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "missing CHANGE_ID"), "%s", e.msg);
	cli_request_free(&req);
	char *n[] = { "routectl", "confirm", "x", "--now", NULL };
	ck_assert_int_eq(parse(n, ARGC(n), &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "--now does not apply to confirm"), "%s", e.msg);
	cli_request_free(&req);
}
END_TEST

/* confirm with -f FLEET and --site: the site goes into the body (a
 * routectld of another site refuses), is checked like a name, and applies to
 * confirm only; a fleet drain's body is the one-router body (the id is
 * added by the fan-out). */
START_TEST(parse_fleet_confirm)
{
	struct cli_request req;
	struct err e;
	char *v[] = { "routectl", "-f", "fleet.json", "confirm", "6f1c2a9e0b3d4c5f", "--site", "ash",
		      "--reason", "ok", NULL };
	ck_assert_int_eq(parse(v, ARGC(v), &req, &e), 0);
	ck_assert_int_eq(req.cmd, CMD_CONFIRM);
	ck_assert_str_eq(req.fleet_path, "fleet.json");
	ck_assert_str_eq(req.site, "ash");
	json_t *body = cli_request_body(&req);
	ck_assert_str_eq(json_string_value(json_object_get(body, "site")), "ash");
	ck_assert_str_eq(json_string_value(json_object_get(body, "reason")), "ok");
	ck_assert_uint_eq(json_object_size(body), 2);
	json_decref(body);
	cli_request_free(&req);

	char *bad[] = { "routectl", "confirm", "6f1c2a9e0b3d4c5f", "--site", "a b", NULL };
	ck_assert_int_eq(parse(bad, ARGC(bad), &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "--site"), "%s", e.msg);
	cli_request_free(&req);
	char *twice[] = { "routectl", "confirm", "x", "--site", "ash", "--site=chi", NULL };
	ck_assert_int_eq(parse(twice, ARGC(twice), &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "--site is given more than once"), "%s", e.msg);
	cli_request_free(&req);
	char *other[] = { "routectl", "drain", "ash", "--reason", "r", "--site", "chi", NULL };
	ck_assert_int_eq(parse(other, ARGC(other), &req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "--site does not apply to drain"), "%s", e.msg);
	cli_request_free(&req);

	char *d[] = { "routectl", "-f", "fleet.json", "drain", "ash", "--reason", "r", NULL };
	ck_assert_int_eq(parse(d, ARGC(d), &req, &e), 0);
	body = cli_request_body(&req);
	ck_assert_ptr_null(json_object_get(body, "change_id"));
	json_decref(body);
	cli_request_free(&req);
}
END_TEST

/* Status with a pending confirmation and a staged step: the header says
 * which change reverts what and when, and how to confirm it; the state
 * column says what the service goes back to and when the next stage is. */
START_TEST(status_pending_confirm_text)
{
	static const char body[] =
		"{\"site\":\"ash\",\"generation\":9,\"safe_mode\":null,"
		"\"bird\":{\"connected\":true,\"socket\":\"/run/bird/bird.ctl\"},"
		"\"last_apply\":null,\"in_flight\":null,\"repairs\":0,"
		"\"pending_confirms\":[{\"change_id\":\"00000000000000cc\","
		"\"deadline\":\"2026-11-30T10:45:00Z\",\"in_s\":552,"
		"\"services\":[{\"service\":\"web\",\"revert_to\":{\"state\":\"announce\",\"prepend\":0}}]}],"
		"\"services\":[{\"name\":\"web\",\"ipv4\":[\"192.0.2.0/24\"],\"ipv6\":[],"
		"\"state\":\"prepend\",\"prepend\":3,\"since\":\"2026-11-30T10:35:00Z\","
		"\"actor\":\"alice\",\"reason\":\"drill\",\"change_id\":\"00000000000000cc\","
		"\"next\":{\"state\":\"withdraw\",\"prepend\":0,\"at\":\"2026-11-30T10:36:00Z\",\"in_s\":42},"
		"\"confirm\":{\"change_id\":\"00000000000000cc\",\"deadline\":\"2026-11-30T10:45:00Z\","
		"\"in_s\":552,\"revert_to\":{\"state\":\"announce\",\"prepend\":0}}}]}";
	struct cli_result res;
	char *text = render_status(body, &res);
	ck_assert_uint_eq(res.status.n_pending, 1);
	ck_assert_msg(strstr(text, "confirm     change 00000000000000cc reverts web at "
			     "2026-11-30T10:45:00Z (in 9m 12s) unless confirmed: routectl "
			     "confirm 00000000000000cc\n"), "%s", text);
	ck_assert_msg(strstr(text, "prepend 3 \xe2\x86\x92 withdraw at 10:36:00Z (in 42s) "
			     "(unconfirmed: back to announce at 10:45:00Z)"), "%s", text);
	free(text);
	cli_result_free(&res);
	/* a bad revert target is named */
	struct cli_request req = request_for(CMD_STATUS, "status");
	const char *bad = "{\"site\":\"ash\",\"generation\":1,\"bird\":{\"connected\":false},"
			  "\"services\":[{\"name\":\"web\",\"state\":\"withdraw\",\"confirm\":"
			  "{\"change_id\":\"x\",\"deadline\":\"d\",\"revert_to\":{\"state\":\"up\"}}}]}";
	cli_result_from_response(&req, 200, bad, strlen(bad), &res);
	ck_assert_int_eq(res.kind, RESULT_LOCAL_ERROR);
	ck_assert_msg(strstr(res.local_msg, "services[0].confirm.revert_to.state: unknown state"),
		      "%s", res.local_msg);
	cli_result_free(&res);
}
END_TEST

/* A change made with --confirm-within says how to confirm it; the answer to
 * confirm says what stays. */
START_TEST(confirm_texts)
{
	struct cli_result res;
	char *text = render_change(CMD_DRAIN, "drain",
		"{\"site\":\"ash\",\"dry_run\":false,\"change_id\":\"c-44\",\"changes\":["
		"{\"service\":\"web\",\"from\":{\"state\":\"announce\",\"prepend\":0},"
		"\"to\":{\"state\":\"withdraw\",\"prepend\":0},\"next\":null}],"
		"\"apply\":{\"result\":\"ok\",\"ms\":7},\"confirm_deadline\":\"2026-11-30T10:45:00Z\"}",
		&res);
	ck_assert_str_eq(text,
			 "web: announce \xe2\x86\x92 withdraw\n"
			 "applied in 7 ms, change c-44\n"
			 "reverts by itself at 2026-11-30T10:45:00Z unless confirmed: "
			 "routectl confirm c-44\n");
	free(text);
	cli_result_free(&res);

	struct cli_request req = request_for(CMD_CONFIRM, "confirm");
	const char *body = "{\"site\":\"ash\",\"change_id\":\"c-44\",\"confirmed\":true,"
			   "\"deadline\":\"2026-11-30T10:45:00Z\",\"services\":[{\"service\":\"web\","
			   "\"state\":{\"state\":\"withdraw\",\"prepend\":0},"
			   "\"revert_to_cancelled\":{\"state\":\"announce\",\"prepend\":0}}]}";
	cli_result_from_response(&req, 200, body, strlen(body), &res);
	ck_assert_msg(res.kind == RESULT_CONFIRMED, "%s", res.local_msg);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_OK);
	struct buf b = { 0 };
	ck_assert_int_eq(output_confirmed_text(&b, &res.confirmed), 0);
	ck_assert_str_eq(b.p, "confirmed change c-44 (its deadline was 2026-11-30T10:45:00Z): "
			      "it stays\nweb: withdraw (no longer goes back to announce)\n");
	buf_free(&b);
	cli_result_free(&res);

	/* a late confirm is the daemon's 409, shown as such (exit 1) */
	const char *late = "{\"error\":{\"code\":\"refused\",\"message\":\"too late\"}}";
	cli_result_from_response(&req, 409, late, strlen(late), &res);
	ck_assert_int_eq(res.kind, RESULT_API_ERROR);
	ck_assert_int_eq(cli_result_exit(&res), CLI_EXIT_FAILED);
	cli_result_free(&res);
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *t = tcase_create("parse");
	tcase_add_test(t, parse_status_defaults);
	tcase_add_test(t, parse_global_options_anywhere);
	tcase_add_test(t, parse_drain_full);
	tcase_add_test(t, parse_set_states);
	tcase_add_test(t, parse_adopt);
	tcase_add_test(t, parse_emergency);
	tcase_add_test(t, parse_fleet_and_force);
	tcase_add_test(t, parse_via);
	tcase_add_test(t, parse_help_and_version);
	tcase_add_test(t, parse_history);
	tcase_add_loop_test(t, parse_usage_errors, 0,
			    (int)(sizeof usage_cases / sizeof usage_cases[0]));
	suite_add_tcase(s, t);

	t = tcase_create("render");
	tcase_add_test(t, status_table_golden);
	tcase_add_test(t, status_prefix_counts);
	tcase_add_test(t, status_peers_block);
	tcase_add_test(t, status_unbound_listener);
	tcase_add_test(t, status_header_trouble_golden);
	tcase_add_test(t, status_last_known_golden);
	tcase_add_test(t, status_reload_text);
	tcase_add_test(t, change_text_golden);
	tcase_add_test(t, adopt_text_golden);
	tcase_add_test(t, error_document_message);
	tcase_add_loop_test(t, bad_bodies, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
	tcase_add_test(t, accepted_change_unreadable_answer);
	tcase_add_test(t, history_text_golden);
	tcase_add_test(t, history_text_automatic);
	tcase_add_loop_test(t, history_bad_bodies, 0,
			    (int)(sizeof bad_history / sizeof bad_history[0]));
	suite_add_tcase(s, t);

	t = tcase_create("client");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, client_status_roundtrip);
	tcase_add_test(t, client_history_roundtrip);
	tcase_add_test(t, client_drain_roundtrip_and_refusal);
	tcase_add_test(t, client_unreachable);
	tcase_add_test(t, client_unreachable_change_not_applied);
	tcase_add_test(t, client_listen_queue_full);
	tcase_add_test(t, client_retries_while_queue_full);
	tcase_add_test(t, client_daemon_closes_before_replying);
	tcase_add_test(t, client_daemon_closes_mid_reply);
	tcase_add_test(t, client_adopt_outcome_unknown);
	tcase_add_test(t, client_timeout);
	tcase_add_test(t, client_response_too_large);
	suite_add_tcase(s, t);

	t = tcase_create("transport");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, transport_tcp_with_token);
	tcase_add_test(t, transport_tcp_exit_rules);
	tcase_add_test(t, execute_on_tcp);
	tcase_add_loop_test(t, transport_bad_endpoints, 0,
			    (int)(sizeof bad_endpoints / sizeof bad_endpoints[0]));
	suite_add_tcase(s, t);

	t = tcase_create("binary");
	tcase_set_timeout(t, 30);
	tcase_add_loop_test(t, binary_usage_errors_exit_2, 0,
			    (int)(sizeof usage_cases / sizeof usage_cases[0]));
	tcase_add_test(t, binary_exit_codes);
	tcase_add_test(t, parse_confirm_within);
	tcase_add_test(t, parse_confirm_command);
	tcase_add_test(t, parse_fleet_confirm);
	tcase_add_test(t, status_pending_confirm_text);
	tcase_add_test(t, confirm_texts);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = tu_run_suite(cli_suite());
	curl_global_cleanup();
	return rc;
}
