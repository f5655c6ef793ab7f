/* Unit tests of routectl/conf (config and policy) and of the YANG context:
 * good files give the right values and defaults; every bad file is refused
 * with messages that name the file, the data path and the reason, all of
 * them at once. Data files are in tests/data/conf/. */
#include "common/err.h"
#include "common/yangctx.h"
#include "conf/conf.h"
#include "testutil.h"

#include <check.h>
#include <libyang/libyang.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define ROOT "/routectl-config:routectld"

static struct conf *load_good(const char *name)
{
	char path[512];
	tu_data_path(path, sizeof path, "conf", name);
	struct conf *c = NULL;
	struct err e = { 0 };
	int rc = conf_load(path, &c, &e);
	ck_assert_msg(rc == 0, "%s: %s", name, e.msg);
	ck_assert_ptr_nonnull(c);
	return c;
}

static unsigned count_lines(const char *s)
{
	unsigned n = *s ? 1 : 0;
	for (; *s; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Loads a bad file: refused, nothing returned, and every line of the
 * message names the file; each expected substring appears. */
static void expect_bad(const char *name, const char *const *want)
{
	char path[512], head[600];
	tu_data_path(path, sizeof path, "conf", name);
	snprintf(head, sizeof head, "config %s: ", path);
	struct conf *c = NULL;
	struct err e = { 0 };
	int rc = conf_load(path, &c, &e);
	ck_assert_msg(rc == -ERR_INVALID, "%s: rc %d (%s)", name, rc, e.msg);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(e.code, ERR_INVALID);
	tu_assert_message(name, e.msg, head, want);
}

#define BAD(name, ...) expect_bad(name, (const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_good)
{
	struct conf *c = load_good("good.json");
	ck_assert_str_eq(c->site, "ash");
	ck_assert_uint_eq(c->local_as, 65001);
	ck_assert_str_eq(c->bird_socket, "/tmp/routectl-lab/ash/bird.ctl");
	ck_assert_str_eq(c->include_path, "/tmp/routectl-lab/ash/routectl.conf");
	ck_assert_str_eq(c->template_path, "/etc/routectl/routectl.conf.tmpl");
	ck_assert_uint_eq(c->n_bgp_protocols, 2);
	ck_assert_str_eq(c->bgp_protocols[0], "isp");
	ck_assert_str_eq(c->bgp_protocols[1], "isp_v6");
	ck_assert_uint_eq(c->configure_timeout_s, 20);
	ck_assert_uint_eq(c->bird_timeout_ms, 4000);
	ck_assert_uint_eq(c->verify_timeout_ms, 7000);
	ck_assert_str_eq(c->state_dir, "/tmp/routectl-lab/ash/state");
	ck_assert_str_eq(c->console_socket, "/tmp/routectl-lab/ash/routectld.sock");
	ck_assert_uint_eq(c->console_mode, 0600);
	ck_assert_uint_eq(c->reconcile_interval_s, 15);
	ck_assert_str_eq(c->policy_path, "/etc/routectl/policy.json");

	/* Sorted by name; the file has web, dns, api. */
	ck_assert_uint_eq(c->n_services, 3);
	ck_assert_str_eq(c->services[0].name, "api");
	ck_assert_str_eq(c->services[1].name, "dns");
	ck_assert_str_eq(c->services[2].name, "web");

	const struct conf_service *api = &c->services[0];
	ck_assert_int_eq(api->initial_mode, MODE_PREPEND);
	ck_assert_uint_eq(api->initial_prepend, 5);
	ck_assert_uint_eq(api->n_prefixes, 1);
	ck_assert_str_eq(api->prefixes[0].text, "2001:db8:3::/48");

	const struct conf_service *dns = &c->services[1];
	ck_assert_int_eq(dns->initial_mode, MODE_WITHDRAW);
	ck_assert_uint_eq(dns->initial_prepend, 0);

	/* IPv4 first, each family sorted, text canonical (lowercase). */
	const struct conf_service *web = &c->services[2];
	ck_assert_int_eq(web->initial_mode, MODE_ANNOUNCE);
	ck_assert_uint_eq(web->n_prefixes, 3);
	ck_assert_str_eq(web->prefixes[0].text, "10.1.0.0/16");
	ck_assert_str_eq(web->prefixes[1].text, "192.0.2.0/24");
	ck_assert_str_eq(web->prefixes[2].text, "2001:db8:1::/48");
	ck_assert_int_eq(web->prefixes[0].family, 4);
	ck_assert_int_eq(web->prefixes[2].family, 6);
	ck_assert_uint_eq(web->prefixes[1].len, 24);
	conf_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf *c = load_good("minimal.json");
	ck_assert_str_eq(c->site, "chi");
	ck_assert_ptr_null(c->template_path);
	ck_assert_ptr_null(c->policy_path);
	ck_assert_uint_eq(c->n_bgp_protocols, 0);
	ck_assert_uint_eq(c->configure_timeout_s, 30);
	ck_assert_uint_eq(c->bird_timeout_ms, 5000);
	ck_assert_uint_eq(c->verify_timeout_ms, 5000);
	ck_assert_uint_eq(c->console_mode, 0660);
	ck_assert_uint_eq(c->reconcile_interval_s, 30);
	ck_assert_uint_eq(c->n_services, 2);
	ck_assert_str_eq(c->services[0].name, "cdn");
	ck_assert_int_eq(c->services[0].initial_mode, MODE_PREPEND);
	ck_assert_uint_eq(c->services[0].initial_prepend, 3);
	ck_assert_int_eq(c->services[1].initial_mode, MODE_ANNOUNCE);
	conf_free(c);
}
END_TEST

START_TEST(test_find_service)
{
	struct conf *c = load_good("good.json");
	for (size_t i = 0; i < c->n_services; i++)
		ck_assert_ptr_eq(conf_find_service(c, c->services[i].name), &c->services[i]);
	ck_assert_ptr_null(conf_find_service(c, "nope"));
	ck_assert_ptr_null(conf_find_service(c, ""));
	ck_assert_ptr_null(conf_find_service(c, NULL));
	conf_free(c);
	conf_free(NULL);
}
END_TEST

START_TEST(test_bad_prefix)
{
	BAD("bad-prefix.json", ROOT "/service[name='web']/ipv4-prefix: ", "192.0.2.0/33",
	    "at most 32");
	BAD("host-bits.json", ROOT "/service[name='web']/ipv4-prefix: ", "'192.0.2.1/24'",
	    "host bits");
	BAD("v6-in-v4.json", ROOT "/service[name='web']/ipv4-prefix: ", "'2001:db8::/32'",
	    "IPv6 prefix");
	BAD("no-prefix.json", ROOT "/service[name='web']: ", "at least one prefix");
}
END_TEST

START_TEST(test_duplicates)
{
	BAD("dup-service.json", ROOT "/service[name='web']: ", "duplicate service entry");
	/* Names both services. */
	BAD("prefix-two-services.json", ROOT "/service[name='web']/ipv4-prefix: ", "192.0.2.0/24",
	    "'cdn'", "'web'");
	BAD("prefix-twice.json", ROOT "/service[name='web']/ipv4-prefix: ",
	    "duplicate value \"192.0.2.0/24\"");
}
END_TEST

START_TEST(test_unknown_keys)
{
	BAD("unknown-key.json", ROOT "/colour: ", "unknown member");
	BAD("unknown-key-nested.json", ROOT "/bird/socket: ", "unknown member");
	BAD("unknown-key-top.json", "/routectl-config:extra: ", "unknown member");
}
END_TEST

START_TEST(test_missing)
{
	BAD("missing-site.json", ROOT "/site: ", "mandatory");
	BAD("missing-control-socket.json", ROOT "/bird/control-socket: ", "mandatory");
}
END_TEST

START_TEST(test_bad_json)
{
	BAD("truncated.json", "line 9", "not valid JSON");
	BAD("trailing-comma.json", "line 8", "not valid JSON");
}
END_TEST

START_TEST(test_bad_values)
{
	BAD("wrong-type.json", ROOT "/local-as: ", "\"abc\"", "JSON number");
	BAD("relative-path.json", ROOT "/state-dir: ", "\"var/lib/routectl\"", "absolute path");
	BAD("bad-initial-prepend.json", ROOT "/service[name='web']/initial-prepend: ",
	    "initial-state is prepend");
}
END_TEST

/* The api container and console/admin-group. */
START_TEST(test_api)
{
	struct conf *c = load_good("api-good.json");
	ck_assert_str_eq(c->console_admin_group, "netops");
	ck_assert_uint_eq(c->n_listen, 3);
	ck_assert_str_eq(c->listen[0].address, "127.0.0.1");
	ck_assert_uint_eq(c->listen[0].port, 28080);
	ck_assert_ptr_null(c->listen[0].tls_cert);
	ck_assert_str_eq(c->listen[1].address, "::1");
	ck_assert_str_eq(c->listen[1].tls_cert, "/etc/routectl/api.crt");
	ck_assert_str_eq(c->listen[1].tls_key, "/etc/routectl/api.key");
	ck_assert_int_eq(c->listen[2].metrics_only, 1);
	ck_assert_int_eq(c->listen[0].metrics_only, 0);
	ck_assert_str_eq(c->token_file, "/etc/routectl/tokens");
	ck_assert_str_eq(c->audit_log, "/tmp/routectl-lab/ash/state/audit.log");
	ck_assert_uint_eq(c->write_rate_per_min, 30);
	ck_assert_uint_eq(c->write_burst, 5);
	ck_assert_uint_eq(c->max_connections, 100);
	ck_assert_uint_eq(c->max_per_address, 10);
	conf_free(c);

	c = load_good("good.json");   /* no api container: the defaults */
	ck_assert_uint_eq(c->n_listen, 0);
	ck_assert_ptr_null(c->token_file);
	ck_assert_ptr_null(c->console_admin_group);
	ck_assert_str_eq(c->audit_log, "/tmp/routectl-lab/ash/state/audit.log");
	ck_assert_uint_eq(c->write_rate_per_min, 60);
	ck_assert_uint_eq(c->write_burst, 20);
	ck_assert_uint_eq(c->max_connections, 256);
	ck_assert_uint_eq(c->max_per_address, 32);
	conf_free(c);

	BAD("api-bad.json", ROOT "/api/listen[1]/address: ", "'localhost' is not an IPv4 or IPv6",
	    ROOT "/api/listen[4]/port: 0: out of range", ROOT "/api/write-rate: 0: out of range");
	BAD("api-tls-half.json", "tls-certificate needs tls-key");
}
END_TEST

START_TEST(test_many_errors)
{
	BAD("many-errors.json", ROOT "/site: ", ROOT "/local-as: ", ROOT "/bird/include: ",
	    ROOT "/bird/colour: ", ROOT "/service[name='web']/ipv4-prefix: ",
	    ROOT "/service[3]/name: ", "\"Bad Name\"");
	char path[512];
	tu_data_path(path, sizeof path, "conf", "many-errors.json");
	struct conf *c = NULL;
	struct err e = { 0 };
	ck_assert_int_eq(conf_load(path, &c, &e), -ERR_INVALID);
	ck_assert_uint_eq(count_lines(e.msg), 6);
}
END_TEST

/* Thousands of mistakes give a bounded message of whole lines, each
 * naming the file, and say that there are more. */
START_TEST(test_error_cap)
{
	size_t size = 1 << 20, used = 0;
	char *json = malloc(size);
	used += (size_t)snprintf(json + used, size - used,
				 "{\"routectl-config:routectld\": {\"service\": [");
	for (int i = 0; i < 2000; i++)
		used += (size_t)snprintf(json + used, size - used,
					 "%s{\"name\": \"s%d\", \"ipv4-prefix\": [\"10.%d.%d.1/24\"], "
					 "\"bad\\nkey\": 1}", i ? ", " : "", i, i / 256, i % 256);
	snprintf(json + used, size - used, "]}}");
	struct conf *c = NULL;
	struct err e = { 0 };
	ck_assert_int_eq(conf_parse(json, "big", &c, &e), -ERR_INVALID);
	free(json);
	unsigned lines = count_lines(e.msg);
	ck_assert_uint_le(lines, 45);
	ck_assert_uint_ge(lines, 10);
	for (const char *line = e.msg; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		ck_assert_msg(strncmp(line, "config big: ", 12) == 0, "%s", line);
	ck_assert_msg(strstr(e.msg, "more errors not shown"), "%s", e.msg);
	/* The member name's newline is not a line break of its own. */
	ck_assert_msg(strstr(e.msg, ROOT "/service[name='s0']/bad key: unknown member"), "%s", e.msg);
}
END_TEST

/* Inline documents: the whole range of what is not a config. */
static void parse_bad(const char *json, const char *want)
{
	struct conf *c = NULL;
	struct err e = { 0 };
	int rc = conf_parse(json, "inline", &c, &e);
	ck_assert_msg(rc == -ERR_INVALID, "accepted: %s", json);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.msg, "config inline: "), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, want), "\"%s\" lacks \"%s\"", e.msg, want);
}

#define GOOD_BODY                                                                       \
	"\"site\": \"ash\", \"bird\": {\"control-socket\": \"/b\", \"include\": \"/i\"}, " \
	"\"state-dir\": \"/s\", \"console\": {\"socket\": \"/c\"}"

/* BIRD undoes a change by itself when configure-timeout runs out: a config
 * whose configure-timeout cannot cover configure + verify + confirm is
 * refused, naming both values and the minimum. */
START_TEST(test_configure_timeout_room)
{
	ck_assert_uint_eq(conf_min_configure_timeout(5000, 5000), 16);
	ck_assert_uint_eq(conf_min_configure_timeout(300, 400), 2);
	ck_assert_uint_eq(conf_min_configure_timeout(300, 401), 3);
	ck_assert_uint_eq(conf_min_configure_timeout(3600000, 3600000), 10801);

	struct conf *c = NULL;
	struct err e = { 0 };
	const char *doc =
		"{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": 1, "
		"\"bird\": {\"control-socket\": \"/b\", \"include\": \"/i\", "
		"\"configure-timeout\": 10}, "
		"\"state-dir\": \"/s\", \"console\": {\"socket\": \"/c\"}}}";
	ck_assert_int_eq(conf_parse(doc, "inline", &c, &e), -ERR_INVALID);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.msg, ROOT "/bird/configure-timeout: 10 s leaves no room to verify "
			     "and confirm"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "command-timeout-ms 5000"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "verify-timeout-ms 5000"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "need at least 16 s"), "%s", e.msg);

	doc = "{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": 1, "
	      "\"bird\": {\"control-socket\": \"/b\", \"include\": \"/i\", "
	      "\"configure-timeout\": 2, \"command-timeout-ms\": 300, \"verify-timeout-ms\": 400}, "
	      "\"state-dir\": \"/s\", \"console\": {\"socket\": \"/c\"}}}";
	ck_assert_msg(conf_parse(doc, "inline", &c, &e) == 0, "%s", e.msg);
	conf_free(c);
	/* The default (30 s, 5 s, 5 s) has room. */
	ck_assert_int_eq(conf_parse("{\"routectl-config:routectld\": {" GOOD_BODY
				    ", \"local-as\": 1}}", "inline", &c, &e), 0);
	ck_assert_uint_eq(c->configure_timeout_s, 30);
	conf_free(c);
}
END_TEST

START_TEST(test_inline)
{
	parse_bad("", "empty");
	parse_bad("   \n", "empty");
	parse_bad("[]", "expected a JSON object");
	parse_bad("null", "not valid JSON");
	parse_bad("{}", ROOT "/site: missing");
	parse_bad("{\"routectl-config:routectld\": []}", "expected a JSON object");
	parse_bad("{\"routectl-state:state\": {}}", "document of YANG module routectl-config");
	parse_bad("{\"routectld\": {}}", "MODULE:NAME");
	parse_bad("{\"nosuch:x\": {}}", "no YANG module \"nosuch\"");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 0}}",
		  ROOT "/local-as: 0: an AS number is 1..4294967295");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 4294967296}}",
		  ROOT "/local-as: ");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1.5}}",
		  "expected an integer");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, \"local-as\": 2}}",
		  "duplicate object key");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"service\": {\"name\": \"web\"}}}",
		  ROOT "/service: expected a JSON array");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"service\": [{\"ipv4-prefix\": [\"192.0.2.0/24\"]}]}}",
		  ROOT "/service[1]/name: missing");
	parse_bad("{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": 1, "
		  "\"bird\": {\"control-socket\": \"/b\", \"include\": \"/i\", \"bgp-protocol\": [\"1x\"]}, "
		  "\"state-dir\": \"/s\", \"console\": {\"socket\": \"/c\", \"mode\": \"999\"}}}",
		  ROOT "/bird/bgp-protocol: \"1x\": not a BIRD symbol");
	parse_bad("{\"routectl-config:routectld\": {\"site\": \"Ash\", \"local-as\": 1, "
		  "\"bird\": {\"control-socket\": \"/b\", \"include\": \"/i\", \"configure-timeout\": 0}, "
		  "\"state-dir\": \"/s\", \"console\": {\"socket\": \"/c\", \"mode\": \"999\"}}}",
		  ROOT "/console/mode: \"999\"");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"service\": [{\"name\": \"web\", \"ipv4-prefix\": [\"192.0.2.0/24\"], "
		  "\"initial-state\": \"drain\"}]}}",
		  ROOT "/service[name='web']/initial-state: ");

	struct conf *c = NULL;
	struct err e = { 0 };
	ck_assert_int_eq(conf_parse("{\"routectl-config:routectld\": {" GOOD_BODY
				    ", \"local-as\": 4294967295}}", "inline", &c, &e), 0);
	ck_assert_uint_eq(c->local_as, 4294967295u);
	ck_assert_uint_eq(c->n_services, 0);
	conf_free(c);
}
END_TEST

/* api/out-of-band: its own listen list, token file and limits (defaults 64
 * and 16); refused when it shares the primary token file or an address. */
START_TEST(test_out_of_band)
{
	struct conf *c = NULL;
	struct err e = { 0 };
	int rc = conf_parse("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
			    "\"api\": {\"listen\": [{\"address\": \"10.0.0.5\", \"port\": 8080}], "
			    "\"token-file\": \"/etc/routectl/tokens\", \"out-of-band\": {"
			    "\"listen\": [{\"address\": \"10.9.0.5\", \"port\": 8080}, "
			    "{\"address\": \"10.0.0.5\", \"port\": 8081, "
			    "\"tls-certificate\": \"/c.pem\", \"tls-key\": \"/k.pem\"}], "
			    "\"token-file\": \"/etc/routectl/oob-tokens\", \"max-connections\": 8}}}}",
			    "inline", &c, &e);
	ck_assert_msg(rc == 0, "%s", e.msg);
	ck_assert_uint_eq(c->n_listen, 1);
	ck_assert_uint_eq(c->n_oob_listen, 2);
	ck_assert_str_eq(c->oob_listen[0].address, "10.9.0.5");
	ck_assert_uint_eq(c->oob_listen[0].port, 8080);
	ck_assert_ptr_null(c->oob_listen[0].tls_cert);
	ck_assert_str_eq(c->oob_listen[1].address, "10.0.0.5");
	ck_assert_uint_eq(c->oob_listen[1].port, 8081);
	ck_assert_str_eq(c->oob_listen[1].tls_cert, "/c.pem");
	ck_assert_str_eq(c->oob_listen[1].tls_key, "/k.pem");
	ck_assert_int_eq(c->oob_listen[1].metrics_only, 0);
	ck_assert_str_eq(c->token_file, "/etc/routectl/tokens");
	ck_assert_str_eq(c->oob_token_file, "/etc/routectl/oob-tokens");
	ck_assert_uint_eq(c->oob_max_connections, 8);
	ck_assert_uint_eq(c->oob_max_per_address, 16);
	/* the primary limits are their own */
	ck_assert_uint_eq(c->max_connections, 256);
	conf_free(c);

	/* none: no out-of-band listener, no token file */
	c = load_good("api-good.json");
	ck_assert_uint_eq(c->n_oob_listen, 0);
	ck_assert_ptr_null(c->oob_token_file);
	ck_assert_uint_eq(c->oob_max_connections, 64);
	conf_free(c);

	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"token-file\": \"/t\", \"out-of-band\": {\"token-file\": \"/t\"}}}}",
		  ROOT "/api/out-of-band/token-file: /t is also api/token-file");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"listen\": [{\"address\": \"127.0.0.1\", \"port\": 80}], "
		  "\"out-of-band\": {\"listen\": [{\"address\": \"127.0.0.1\", \"port\": 80}]}}}}",
		  "127.0.0.1 port 80 is also in api/listen");
	/* a wildcard of the same family on the same port overlaps (either way
	 * round); another family or another port does not */
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"listen\": [{\"address\": \"0.0.0.0\", \"port\": 80}], "
		  "\"out-of-band\": {\"listen\": [{\"address\": \"10.9.0.5\", \"port\": 80}]}}}}",
		  "10.9.0.5 port 80 overlaps api/listen 0.0.0.0 port 80");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"listen\": [{\"address\": \"0.0.0.0\", \"port\": 9100}, "
		  "{\"address\": \"127.0.0.1\", \"port\": 9100, \"metrics-only\": true}]}}}",
		  ROOT "/api/listen[address='127.0.0.1']: 127.0.0.1 port 9100 overlaps api/listen "
		  "0.0.0.0 port 9100");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"listen\": [{\"address\": \"::1\", \"port\": 80}, "
		  "{\"address\": \"0::1\", \"port\": 80}]}}}",
		  "0::1 port 80 overlaps api/listen ::1 port 80");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"listen\": [{\"address\": \"2001:db8::1\", \"port\": 80}], "
		  "\"out-of-band\": {\"listen\": [{\"address\": \"::\", \"port\": 80}]}}}}",
		  ":: port 80 overlaps api/listen 2001:db8::1 port 80");
	struct err pe;
	ck_assert_msg(conf_parse("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
				 "\"api\": {\"listen\": [{\"address\": \"0.0.0.0\", \"port\": 80}, "
				 "{\"address\": \"::\", \"port\": 443}], \"out-of-band\": {\"listen\": "
				 "[{\"address\": \"::1\", \"port\": 80}, {\"address\": \"10.9.0.5\", "
				 "\"port\": 443}]}}}}", "t", &c, &pe) == 0, "%s", pe.msg);
	conf_free(c);
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"out-of-band\": {\"listen\": [{\"address\": \"127.0.0.1\", "
		  "\"port\": 80, \"metrics-only\": true}]}}}}",
		  "metrics-only");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"out-of-band\": {\"max-connections\": 0}}}}",
		  ROOT "/api/out-of-band/max-connections: 0: out of range");
	parse_bad("{\"routectl-config:routectld\": {" GOOD_BODY ", \"local-as\": 1, "
		  "\"api\": {\"out-of-band\": {\"listen\": [{\"address\": \"mgmt\", "
		  "\"port\": 80}]}}}}",
		  "'mgmt' is not an IPv4 or IPv6 address");
}
END_TEST

START_TEST(test_missing_file)
{
	struct conf *c = NULL;
	struct err e = { 0 };
	ck_assert_int_eq(conf_load("/nonexistent/routectl.json", &c, &e), -ERR_NOTFOUND);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.msg, "config /nonexistent/routectl.json"), "%s", e.msg);
}
END_TEST

START_TEST(test_policy)
{
	struct policy p;
	struct err e = { 0 };
	ck_assert_int_eq(policy_load(NULL, &p, &e), 0);
	ck_assert_uint_eq(p.drain_prepend, 3);
	ck_assert_uint_eq(p.drain_wait_s, 60);
	ck_assert_uint_eq(p.undrain_prepend, 3);
	ck_assert_uint_eq(p.undrain_wait_s, 60);

	/* The built-in copy is the shipped file. */
	char path[512];
	snprintf(path, sizeof path, "%s/policies/default.json", tu_source_root());
	struct policy shipped;
	ck_assert_int_eq(policy_load(path, &shipped, &e), 0);
	ck_assert_mem_eq(&p, &shipped, sizeof p);

	ck_assert_int_eq(p.refuse_drain_unlisted, 0);   /* default: report */

	tu_data_path(path, sizeof path, "conf", "policy-good.json");
	ck_assert_int_eq(policy_load(path, &p, &e), 0);
	ck_assert_int_eq(p.refuse_drain_unlisted, 1);
	ck_assert_uint_eq(p.drain_prepend, 5);
	ck_assert_uint_eq(p.drain_wait_s, 300);
	ck_assert_uint_eq(p.undrain_prepend, 2);
	ck_assert_uint_eq(p.undrain_wait_s, 0);

	tu_data_path(path, sizeof path, "conf", "policy-partial.json");
	ck_assert_int_eq(policy_load(path, &p, &e), 0);
	ck_assert_uint_eq(p.drain_prepend, 3);
	ck_assert_uint_eq(p.drain_wait_s, 60);
	ck_assert_uint_eq(p.undrain_prepend, 3);
	ck_assert_uint_eq(p.undrain_wait_s, 120);
}
END_TEST

/* The shipped policies: production defaults and the lab's short stages. */
START_TEST(test_policy_shipped)
{
	char path[512];
	struct policy p;
	struct err e = { 0 };
	ck_assert_msg(policy_load(NULL, &p, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(p.guard_last_site, 1);
	ck_assert_uint_eq(p.max_drained_sites, 1);
	ck_assert_uint_eq(p.flap_changes, 6);
	ck_assert_uint_eq(p.flap_window_s, 3600);
	ck_assert_uint_eq(p.drain_wait_s, 60);
	snprintf(path, sizeof path, "%s/policies/lab.json", tu_source_root());
	ck_assert_msg(policy_load(path, &p, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(p.max_drained_sites, 2);
	ck_assert_uint_eq(p.drain_wait_s, 5);
	ck_assert_uint_eq(p.ask_timeout_ms, 1000);
	ck_assert_msg(policy_parse("{\"routectl-policy:policy\": {\"guards\": "
				   "{\"max-drained-sites\": 0}}}", "t", &p, &e) == -ERR_INVALID,
		      "accepted 0");
	ck_assert_msg(strstr(e.msg, "guards/max-drained-sites: 0: out of range 1..1000"), "%s",
		      e.msg);
}
END_TEST

START_TEST(test_policy_bad)
{
	char path[512], head[600];
	tu_data_path(path, sizeof path, "conf", "policy-bad.json");
	snprintf(head, sizeof head, "policy %s: ", path);
	struct policy p = { 1, 2, 3, 4, 1, 0, 5, 6, 7, 8, 1 }, before = p;
	struct err e = { 0 };
	ck_assert_int_eq(policy_load(path, &p, &e), -ERR_INVALID);
	ck_assert_mem_eq(&p, &before, sizeof p);
	ck_assert_uint_eq(count_lines(e.msg), 4);
	ck_assert_msg(strncmp(e.msg, head, strlen(head)) == 0, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "/routectl-policy:policy/unlisted-exporter: "), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "/routectl-policy:policy/drain/prepend: 11: out of range 1..10"),
		      "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "/routectl-policy:policy/undrain/wait: 90000: out of range 0..86400"),
		      "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "/routectl-policy:policy/undrain/hold: unknown member"), "%s",
		      e.msg);

	ck_assert_int_eq(policy_parse("{\"routectl-policy:policy\": {\"drain\": {\"wait\": -1}}}",
				      "inline", &p, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "policy inline: /routectl-policy:policy/drain/wait: "), "%s",
		      e.msg);
	ck_assert_int_eq(policy_parse("{\"routectl-policy:policy\": {\"drain\": {\"prepend\": \"3\"}}}",
				      "inline", &p, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "expected a JSON number (uint8)"), "%s", e.msg);
	ck_assert_int_eq(policy_load("/nonexistent/policy.json", &p, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, "policy /nonexistent/policy.json"), "%s", e.msg);
}
END_TEST

START_TEST(test_yangctx)
{
	struct ly_ctx *ctx = NULL;
	struct err e = { 0 };
	ck_assert_int_eq(yangctx_new(&ctx, &e), 0);
	static const char *const mods[] = { "routectl-config", "routectl-state", "routectl-policy",
					    "ietf-inet-types", "ietf-yang-types" };
	for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
		ck_assert_msg(ly_ctx_get_module_implemented(ctx, mods[i]) ||
			      ly_ctx_get_module_latest(ctx, mods[i]), "%s missing", mods[i]);
	const struct lys_module *m = ly_ctx_get_module_implemented(ctx, "routectl-config");
	ck_assert_str_eq(m->revision, "2026-11-25");
	ck_assert_str_eq(m->ns, "urn:routectl:config");

	/* libyang's own errors come out as "WHAT: PATH (line N): MESSAGE". */
	struct lyd_node *tree = NULL;
	ck_assert_int_ne(lyd_parse_data_mem(ctx, "{\"routectl-policy:policy\": {\"drain\": 1}}",
					    LYD_JSON, LYD_PARSE_STRICT, 0, &tree), LY_SUCCESS);
	err_clear(&e);
	ck_assert_int_eq(yangctx_errors(ctx, "policy x", &e), -ERR_INVALID);
	ck_assert_msg(strncmp(e.msg, "policy x: /routectl-policy:policy (line 1): ", 44) == 0,
		      "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "\"drain\""), "%s", e.msg);
	ck_assert_msg(!strchr(e.msg, '\n'), "%s", e.msg);
	ck_assert_ptr_null(ly_err_first(ctx));
	lyd_free_all(tree);
	ly_ctx_destroy(ctx);
}
END_TEST

/* The modules pass yanglint, and yanglint accepts the good config: the
 * files are usable by other YANG tools, not just by us. */
START_TEST(test_yanglint)
{
	if (system("command -v yanglint >/dev/null 2>&1") != 0)
		return;
	char cmd[2048];
	const char *r = tu_source_root();
	snprintf(cmd, sizeof cmd, "cd '%s' && yanglint api/routectl-config.yang api/routectl-state.yang "
		 "api/routectl-policy.yang >/dev/null 2>&1", r);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "cd '%s' && yanglint -t config api/routectl-config.yang "
		 "tests/data/conf/good.json >/dev/null 2>&1", r);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "cd '%s' && yanglint -t config api/routectl-policy.yang "
		 "policies/default.json >/dev/null 2>&1", r);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "cd '%s' && yanglint -t config -p api api/routectl-state.yang "
		 "tests/data/state/good.json >/dev/null 2>&1", r);
	ck_assert_int_eq(system(cmd), 0);
	/* And it refuses a bad one, so the lines above prove something. */
	snprintf(cmd, sizeof cmd, "cd '%s' && yanglint -t config api/routectl-config.yang "
		 "tests/data/conf/missing-site.json >/dev/null 2>&1", r);
	ck_assert_int_ne(system(cmd), 0);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *t = tcase_create("config");
	tcase_add_test(t, test_good);
	tcase_add_test(t, test_api);
	tcase_add_test(t, test_policy_shipped);
	tcase_add_test(t, test_defaults);
	tcase_add_test(t, test_find_service);
	tcase_add_test(t, test_bad_prefix);
	tcase_add_test(t, test_duplicates);
	tcase_add_test(t, test_unknown_keys);
	tcase_add_test(t, test_missing);
	tcase_add_test(t, test_bad_json);
	tcase_add_test(t, test_bad_values);
	tcase_add_test(t, test_many_errors);
	tcase_add_test(t, test_inline);
	tcase_add_test(t, test_out_of_band);
	tcase_add_test(t, test_configure_timeout_room);
	tcase_add_test(t, test_error_cap);
	tcase_add_test(t, test_missing_file);
	suite_add_tcase(s, t);
	t = tcase_create("policy");
	tcase_add_test(t, test_policy);
	tcase_add_test(t, test_policy_bad);
	suite_add_tcase(s, t);
	t = tcase_create("yang");
	tcase_add_test(t, test_yangctx);
	tcase_add_test(t, test_yanglint);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(conf_suite());
}
