/* Unit tests of routectl/store: the state file round-trips byte for byte,
 * saves atomically, and every kind of bad file is refused (the daemon then
 * enters safe mode) with the file and the reason named, and nothing
 * returned. Data files are in tests/data/state/. */
#include "common/err.h"
#include "common/fsutil.h"
#include "conf/conf.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROOT "/routectl-state:state"

static char tmpdir[64];

static void make_tmpdir(void)
{
	tu_make_tmpdir(tmpdir, sizeof tmpdir, "test_store");
}

static void remove_tmpdir(void)
{
	tu_remove_tree(tmpdir);
}

static struct state *load_data(const char *name)
{
	char path[512];
	tu_data_path(path, sizeof path, "state", name);
	struct state *st = NULL;
	struct err e = { 0 };
	int rc = state_load(path, &st, &e);
	ck_assert_msg(rc == 0, "%s: %s", name, e.msg);
	return st;
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void assert_state_eq(const struct state *a, const struct state *b)
{
	ck_assert_str_eq(a->site, b->site);
	ck_assert_uint_eq(a->generation, b->generation);
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct svc_state *x = &a->svcs[i], *y = &b->svcs[i];
		ck_assert_str_eq(x->name, y->name);
		ck_assert_int_eq(x->mode, y->mode);
		ck_assert_uint_eq(x->prepend, y->prepend);
		ck_assert(str_eq(x->actor, y->actor));
		ck_assert(str_eq(x->reason, y->reason));
		ck_assert(str_eq(x->change_id, y->change_id));
		ck_assert_int_eq(x->since, y->since);
		ck_assert_int_eq(x->has_next, y->has_next);
		if (x->has_next) {
			ck_assert_int_eq(x->next_mode, y->next_mode);
			ck_assert_uint_eq(x->next_prepend, y->next_prepend);
			ck_assert_int_eq(x->next_at, y->next_at);
		}
	}
}

static char *to_json(const struct state *st)
{
	char *json = NULL;
	struct err e = { 0 };
	int rc = state_to_json(st, &json, &e);
	ck_assert_msg(rc == 0, "%s", e.msg);
	return json;
}

#define SVC_EARLY                                                                      \
	"{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"1\", "         \
	"\"service\": [{\"name\": \"web\", \"mode\": \"announce\", \"actor\": \"a\", "    \
	"\"reason\": \"r\", \"since\": \"0391-11-20T08:00:00+02:00\", "                  \
	"\"change-id\": \"0123456789abcdef\"}]}}"

START_TEST(test_parse_good)
{
	struct state *st = load_data("good.json");
	ck_assert_str_eq(st->site, "ash");
	ck_assert_uint_eq(st->generation, 12);
	ck_assert_uint_eq(st->n, 3);
	/* Sorted by name; the file has web, dns, api. */
	const struct svc_state *api = &st->svcs[0], *dns = &st->svcs[1], *web = &st->svcs[2];
	ck_assert_str_eq(api->name, "api");
	ck_assert_str_eq(dns->name, "dns");
	ck_assert_str_eq(web->name, "web");

	ck_assert_int_eq(web->mode, MODE_PREPEND);
	ck_assert_uint_eq(web->prepend, 3);
	ck_assert_str_eq(web->actor, "alice (uid 1000) via console");
	ck_assert_str_eq(web->reason, "fiber cut");
	ck_assert_str_eq(web->change_id, "0123456789abcdef");
	ck_assert_int_eq(web->since, 1795602568);           /* 2026-11-25T10:29:28Z */
	ck_assert_int_eq(web->has_next, 1);
	ck_assert_int_eq(web->next_mode, MODE_WITHDRAW);
	ck_assert_uint_eq(web->next_prepend, 0);
	ck_assert_int_eq(web->next_at, 1795602568 + 60);

	ck_assert_int_eq(dns->mode, MODE_ANNOUNCE);
	ck_assert_uint_eq(dns->prepend, 0);
	ck_assert_int_eq(dns->has_next, 0);
	/* 2026-11-20T08:00:00+02:00 is 06:00 UTC. */
	ck_assert_int_eq(dns->since, 1795154400);

	ck_assert_int_eq(api->mode, MODE_WITHDRAW);
	ck_assert_int_eq(api->next_mode, MODE_PREPEND);
	ck_assert_uint_eq(api->next_prepend, 2);
	state_free(st);
}
END_TEST

START_TEST(test_round_trip)
{
	struct state *st = load_data("good.json");
	char *first = to_json(st);
	struct state *again = NULL;
	struct err e = { 0 };
	ck_assert_msg(state_parse(first, "first", &again, &e) == 0, "%s", e.msg);
	assert_state_eq(st, again);
	char *second = to_json(again);
	ck_assert_str_eq(first, second);
	ck_assert_int_eq(first[strlen(first) - 1], '\n');
	/* Same bytes from a copy, from a state whose array is out of order,
	 * and in another time zone (libyang prints dates in local time;
	 * we must not). */
	struct state *dup = state_dup(st);
	struct svc_state tmp = dup->svcs[0];
	dup->svcs[0] = dup->svcs[2];
	dup->svcs[2] = tmp;
	setenv("TZ", "America/New_York", 1);
	tzset();
	char *third = to_json(dup);
	struct state *ny = NULL;
	ck_assert_msg(state_parse(third, "ny", &ny, &e) == 0, "%s", e.msg);
	assert_state_eq(st, ny);
	unsetenv("TZ");
	tzset();
	ck_assert_str_eq(first, third);
	free(first);
	free(second);
	free(third);
	state_free(st);
	state_free(again);
	state_free(dup);
	state_free(ny);
}
END_TEST

/* The exact bytes: the format is an interface (operators read the file,
 * the lab inspects it). */
START_TEST(test_to_json_format)
{
	struct svc_state svcs[2] = {
		{ .name = "web", .mode = MODE_PREPEND, .prepend = 2, .actor = "alice", .reason = "",
		  .change_id = "0123456789abcdef", .since = 1795602568, .has_next = 1,
		  .next_mode = MODE_WITHDRAW, .next_at = 1795602628 },
		{ .name = "dns", .mode = MODE_ANNOUNCE, .actor = "routectld", .reason = "new in config",
		  .change_id = "fedcba9876543210", .since = 0 },
	};
	struct state st = { .site = "ash", .generation = 18446744073709551615ull, .svcs = svcs, .n = 2 };
	char *json = to_json(&st);
	ck_assert_str_eq(json,
			 "{\n"
			 "  \"routectl-state:state\": {\n"
			 "    \"generation\": \"18446744073709551615\",\n"
			 "    \"service\": [\n"
			 "      {\n"
			 "        \"actor\": \"routectld\",\n"
			 "        \"change-id\": \"fedcba9876543210\",\n"
			 "        \"mode\": \"announce\",\n"
			 "        \"name\": \"dns\",\n"
			 "        \"reason\": \"new in config\",\n"
			 "        \"since\": \"1970-01-01T00:00:00Z\"\n"
			 "      },\n"
			 "      {\n"
			 "        \"actor\": \"alice\",\n"
			 "        \"change-id\": \"0123456789abcdef\",\n"
			 "        \"mode\": \"prepend\",\n"
			 "        \"name\": \"web\",\n"
			 "        \"next\": {\n"
			 "          \"at\": \"2026-11-25T10:30:28Z\",\n"
			 "          \"mode\": \"withdraw\"\n"
			 "        },\n"
			 "        \"prepend\": 2,\n"
			 "        \"reason\": \"\",\n"
			 "        \"since\": \"2026-11-25T10:29:28Z\"\n"
			 "      }\n"
			 "    ],\n"
			 "    \"site\": \"ash\"\n"
			 "  }\n"
			 "}\n");
	struct state *back = NULL;
	struct err e = { 0 };
	ck_assert_msg(state_parse(json, "format", &back, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(back->generation, 18446744073709551615ull);
	state_free(back);
	free(json);

	/* No services: no "service" member, still valid. */
	struct state empty = { .site = "chi", .generation = 0 };
	json = to_json(&empty);
	ck_assert_ptr_null(strstr(json, "service"));
	ck_assert_msg(state_parse(json, "empty", &back, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(back->n, 0);
	state_free(back);
	free(json);
}
END_TEST

/* Years before 1000 keep their four digits (strftime's %Y would not). */
START_TEST(test_early_year)
{
	struct state *st = NULL;
	struct err e = { 0 };
	ck_assert_msg(state_parse(SVC_EARLY, "early", &st, &e) == 0, "%s", e.msg);
	char *json = to_json(st);
	ck_assert_msg(strstr(json, "\"since\": \"0391-11-20T06:00:00Z\""), "%s", json);
	struct state *back = NULL;
	ck_assert_msg(state_parse(json, "early", &back, &e) == 0, "%s", e.msg);
	assert_state_eq(st, back);
	free(json);
	state_free(st);
	state_free(back);
}
END_TEST

static void list_dir(char names[][64], size_t *n, size_t max)
{
	*n = 0;
	DIR *d = opendir(tmpdir);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ck_assert_uint_lt(*n, max);
		snprintf(names[(*n)++], 64, "%s", de->d_name);
	}
	closedir(d);
}

START_TEST(test_save_load)
{
	char path[256];
	snprintf(path, sizeof path, "%s/state.json", tmpdir);
	struct state *st = load_data("good.json");
	struct err e = { 0 };
	ck_assert_msg(state_save(path, st, &e) == 0, "%s", e.msg);
	struct state *back = NULL;
	ck_assert_msg(state_load(path, &back, &e) == 0, "%s", e.msg);
	assert_state_eq(st, back);

	/* The bytes on disk are state_to_json's. */
	char *json = to_json(st), *disk = NULL;
	ck_assert_int_eq(fs_read_file(path, 1 << 20, &disk, NULL, &e), 0);
	ck_assert_str_eq(json, disk);

	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0640);

	/* Save again over it: one file, no temp file left behind. */
	back->generation++;
	ck_assert_msg(state_save(path, back, &e) == 0, "%s", e.msg);
	char names[8][64];
	size_t n;
	list_dir(names, &n, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(names[0], "state.json");
	struct state *third = NULL;
	ck_assert_int_eq(state_load(path, &third, &e), 0);
	ck_assert_uint_eq(third->generation, 13);
	free(json);
	free(disk);
	state_free(st);
	state_free(back);
	state_free(third);
}
END_TEST

/* A bad file: -ERR_INVALID, nothing returned, the message names the file
 * on every line and contains each expected piece. */
static void expect_bad(const char *name, const char *const *want)
{
	char path[512], head[600];
	tu_data_path(path, sizeof path, "state", name);
	snprintf(head, sizeof head, "state %s: ", path);
	struct state *st = (struct state *)0x1;
	struct err e = { 0 };
	int rc = state_load(path, &st, &e);
	ck_assert_msg(rc == -ERR_INVALID, "%s: rc %d (%s)", name, rc, e.msg);
	ck_assert_ptr_eq(st, (struct state *)0x1);
	tu_assert_message(name, e.msg, head, want);
}

#define BAD(name, ...) expect_bad(name, (const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_bad_files)
{
	BAD("empty.json", "empty");
	BAD("not-json.json", "line 1", "not valid JSON");
	BAD("truncated.json", "line 13", "not valid JSON");
	BAD("wrong-module.json", "/routectl-policy:policy: unexpected top-level member",
	    "routectl-state", ROOT "/site: missing");
	BAD("unknown-mode.json", ROOT "/service[name='dns']/mode: ", "\"drain\"");
	BAD("prepend-missing.json", ROOT "/service[name='web']/prepend: missing",
	    "when mode is prepend");
	BAD("prepend-11.json", ROOT "/service[name='web']/prepend: 11: out of range 1..10");
	BAD("prepend-on-announce.json", ROOT "/service[name='dns']/prepend: ",
	    "only allowed when mode is prepend");
	BAD("next-prepend-missing.json", ROOT "/service[name='api']/next/prepend: missing");
	BAD("bad-date.json", ROOT "/service[name='dns']/since: ", "2026-13-45T10:29:28Z",
	    "no such month");
	BAD("bad-date-feb30.json", ROOT "/service[name='api']/next/at: ", "no such day");
	BAD("extra-key.json", ROOT "/service[name='web']/colour: ", "unknown member");
	BAD("generation-number.json", ROOT "/generation: ", "JSON string");
	BAD("dup-service.json", ROOT "/service[name='dns']: ", "duplicate service entry");
	BAD("missing-actor.json", ROOT "/service[name='dns']/actor: missing");
}
END_TEST

static void parse_bad(const char *json, const char *want)
{
	struct state *st = NULL;
	struct err e = { 0 };
	ck_assert_msg(state_parse(json, "inline", &st, &e) == -ERR_INVALID, "accepted: %s", json);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(e.msg, "state inline: "), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, want), "\"%s\" lacks \"%s\"", e.msg, want);
}

#define SVC(extra)                                                                     \
	"{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"1\", "       \
	"\"service\": [{\"name\": \"web\", \"actor\": \"a\", \"reason\": \"r\", "       \
	"\"since\": \"2026-11-25T10:29:28Z\", \"change-id\": \"0123456789abcdef\"" extra \
	"}]}}"

#define SVC_SINCE(since)                                                               \
	"{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"1\", "         \
	"\"service\": [{\"name\": \"web\", \"mode\": \"announce\", \"actor\": \"a\", "    \
	"\"reason\": \"r\", \"since\": \"" since "\", \"change-id\": \"0123456789abcdef\"}]}}"

START_TEST(test_bad_inline)
{
	parse_bad("{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"-1\"}}",
		  ROOT "/generation: ");
	parse_bad("{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": "
		  "\"18446744073709551616\"}}", ROOT "/generation: ");
	parse_bad("{\"routectl-state:state\": {\"site\": \"Ash!\", \"generation\": \"1\"}}",
		  ROOT "/site: \"Ash!\"");
	parse_bad(SVC(""), ROOT "/service[name='web']/mode: missing");
	parse_bad(SVC(", \"mode\": \"prepend\", \"prepend\": 0"), "0: out of range 1..10");
	parse_bad(SVC(", \"mode\": \"withdraw\", \"next\": {\"mode\": \"announce\"}"),
		  ROOT "/service[name='web']/next/at: missing");
	parse_bad(SVC(", \"mode\": \"withdraw\", \"next\": {\"mode\": \"announce\", "
		      "\"prepend\": 2, \"at\": \"2026-11-25T10:29:28Z\"}"),
		  ROOT "/service[name='web']/next/prepend: only allowed");
	parse_bad(SVC(", \"mode\": \"withdraw\", \"next\": true"),
		  ROOT "/service[name='web']/next: expected a JSON object");
	parse_bad(SVC(", \"mode\": \"withdraw\", \"since\": \"yesterday\""), "duplicate object key");
	parse_bad(SVC(", \"mode\": \"announce\", \"change-id\": \"x y\""), "duplicate object key");
	parse_bad(SVC(", \"mode\": \"announce\", \"prepend\": null"), "got null");
	parse_bad("{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"1\", "
		  "\"service\": [{\"name\": \"web\", \"mode\": \"announce\", \"actor\": \"\", "
		  "\"reason\": \"r\", \"since\": \"2026-11-25T25:00:00Z\", "
		  "\"change-id\": \"not hex!\"}]}}", "/change-id: ");
	parse_bad(SVC_SINCE("9999-12-31T23:59:59-05:00"), "/since: \"9999-12-31T23:59:59-05:00\"");
	parse_bad(SVC_SINCE("9999-12-31T23:59:59-05:00"), "0000 to 9999");
	parse_bad(SVC_SINCE("0000-01-01T00:30:00+01:00"), "0000 to 9999");
	/* Both errors at once. */
	parse_bad("{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"1\", "
		  "\"service\": [{\"name\": \"web\", \"mode\": \"announce\", \"actor\": \"\", "
		  "\"reason\": \"r\", \"since\": \"2026-11-25T25:00:00Z\", "
		  "\"change-id\": \"not hex!\"}]}}", "/since: \"2026-11-25T25:00:00Z\"");
	parse_bad("{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"1\", "
		  "\"service\": [{\"name\": \"web\", \"mode\": \"announce\", \"actor\": \"\", "
		  "\"reason\": \"r\", \"since\": \"2026-11-25T25:00:00Z\", "
		  "\"change-id\": \"not hex!\"}]}}", "/actor: ");
}
END_TEST

START_TEST(test_missing_file)
{
	char path[256];
	snprintf(path, sizeof path, "%s/nope.json", tmpdir);
	struct state *st = NULL;
	struct err e = { 0 };
	ck_assert_int_eq(state_load(path, &st, &e), -ERR_NOTFOUND);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(e.msg, path), "%s", e.msg);
}
END_TEST

/* routectld writes state.json by rename(): anything but a regular file
 * there was not made by it and is refused at once, without blocking and
 * without following a link (a dangling one is a state directory on a mount
 * that did not come up). */
START_TEST(test_not_regular_file)
{
	char path[256], good[512];
	struct state *st = NULL;
	struct err e = { 0 };
	tu_data_path(good, sizeof good, "state", "good.json");

	snprintf(path, sizeof path, "%s/fifo.json", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(state_load(path, &st, &e), -ERR_INVALID);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "FIFO"), "%s", e.msg);
	ck_assert_int_eq(state_is_dangling_link(path), 0);

	snprintf(path, sizeof path, "%s/dir.json", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(state_load(path, &st, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "directory"), "%s", e.msg);

	snprintf(path, sizeof path, "%s/dangling.json", tmpdir);
	ck_assert_int_eq(symlink("/nonexistent-routectl-mount/state.json", path), 0);
	ck_assert_int_eq(state_load(path, &st, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "symbolic link") &&
		      strstr(e.msg, "does not exist"), "%s", e.msg);
	ck_assert_int_eq(state_is_dangling_link(path), 1);

	/* A link to a good state file is not followed either. */
	snprintf(path, sizeof path, "%s/link.json", tmpdir);
	ck_assert_int_eq(symlink(good, path), 0);
	ck_assert_int_eq(state_load(path, &st, &e), -ERR_INVALID);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(e.msg, "symbolic link"), "%s", e.msg);
	ck_assert_int_eq(state_is_dangling_link(path), 0);
}
END_TEST

START_TEST(test_include_header)
{
	char site[64] = "";
	uint64_t g = 0;
	ck_assert_int_eq(state_parse_include_header(
		"# Generated by routectld for site ash, generation 7.\n# Do not edit\n", site,
		sizeof site, &g), 1);
	ck_assert_str_eq(site, "ash");
	ck_assert_uint_eq(g, 7);
	ck_assert_int_eq(state_parse_include_header(
		"# Generated by routectld for site chi-2, generation 18446744073709551615. Do "
		"not edit.\n", site, sizeof site, &g), 1);
	ck_assert_str_eq(site, "chi-2");
	ck_assert_uint_eq(g, UINT64_MAX);
	static const char *const bad[] = {
		"",
		"protocol static routectl_v4 {\n",
		"# Generated by routectld for site ash, generation x.\n",
		"# Generated by routectld for site ash, generation 7x.\n",
		"# Generated by routectld for site ash\n",
		"\n# Generated by routectld for site ash, generation 7.\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		site[0] = '\0';
		ck_assert_msg(state_parse_include_header(bad[i], site, sizeof site, &g) == 0,
			      "taken: %s", bad[i]);
	}
}
END_TEST

START_TEST(test_evidence)
{
	char inc[256];
	snprintf(inc, sizeof inc, "%s/routectl.conf", tmpdir);
	struct conf c = { .include_path = inc };
	struct state_evidence ev;
	struct err e = { 0 };

	/* Nothing there: a first start. */
	ck_assert_int_eq(state_find_evidence(&c, &ev, &e), 0);
	ck_assert_int_eq(ev.found, 0);

	/* routectld's include: site and generation. */
	tu_write_file(tmpdir, "routectl.conf",
		      "# Generated by routectld for site ash, generation 7.\nprotocol static x {}\n");
	ck_assert_int_eq(state_find_evidence(&c, &ev, &e), 0);
	ck_assert_int_eq(ev.found, 1);
	ck_assert_int_eq(ev.has_header, 1);
	ck_assert_str_eq(ev.site, "ash");
	ck_assert_uint_eq(ev.generation, 7);
	ck_assert_msg(strstr(ev.what, inc) && strstr(ev.what, "generation 7 of site ash"), "%s",
		      ev.what);

	/* Something else: still evidence, named. */
	tu_write_file(tmpdir, "routectl.conf", "# hand-made\n");
	ck_assert_int_eq(state_find_evidence(&c, &ev, &e), 0);
	ck_assert_int_eq(ev.found, 1);
	ck_assert_int_eq(ev.has_header, 0);
	ck_assert_msg(strstr(ev.what, "header"), "%s", ev.what);

	/* A FIFO there is evidence too, and reading it does not block. */
	unlink(inc);
	ck_assert_int_eq(mkfifo(inc, 0600), 0);
	ck_assert_int_eq(state_find_evidence(&c, &ev, &e), 0);
	ck_assert_int_eq(ev.found, 1);
	ck_assert_int_eq(ev.has_header, 0);
	ck_assert_msg(strstr(ev.what, "FIFO"), "%s", ev.what);
	unlink(inc);

	/* A dangling link exists too. */
	ck_assert_int_eq(symlink("/nonexistent-routectl-mount/routectl.conf", inc), 0);
	ck_assert_int_eq(state_find_evidence(&c, &ev, &e), 0);
	ck_assert_int_eq(ev.found, 1);
	unlink(inc);
}
END_TEST

START_TEST(test_state_dir_check)
{
	char p[256];
	struct err e = { 0 };
	int dangling = 7;
	ck_assert_int_eq(state_dir_check(tmpdir, &dangling, &e), 0);
	ck_assert_int_eq(dangling, 0);

	snprintf(p, sizeof p, "%s/missing", tmpdir);
	ck_assert_int_eq(state_dir_check(p, &dangling, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, p) && strstr(e.msg, "does not exist"), "%s", e.msg);

	snprintf(p, sizeof p, "%s/file", tmpdir);
	tu_write_file(tmpdir, "file", "x");
	ck_assert_int_eq(state_dir_check(p, &dangling, &e), -ERR_INVALID);
	ck_assert_int_eq(dangling, 0);
	ck_assert_msg(strstr(e.msg, "not a directory"), "%s", e.msg);

	snprintf(p, sizeof p, "%s/mnt", tmpdir);
	ck_assert_int_eq(symlink("/nonexistent-routectl-mount/state", p), 0);
	ck_assert_int_eq(state_dir_check(p, &dangling, &e), -ERR_INVALID);
	ck_assert_int_eq(dangling, 1);
	ck_assert_msg(strstr(e.msg, "/nonexistent-routectl-mount/state") &&
		      strstr(e.msg, "does not exist"), "%s", e.msg);

	/* A link to a directory is the operator's layout: fine. */
	snprintf(p, sizeof p, "%s/linked", tmpdir);
	ck_assert_int_eq(symlink(tmpdir, p), 0);
	ck_assert_int_eq(state_dir_check(p, &dangling, &e), 0);
}
END_TEST

/* Run as an unprivileged user (root ignores directory permissions) in a
 * child; exits 0 when the save failed as it should. */
static int save_refused_in(const char *path, const struct state *st)
{
	struct err e = { 0 };
	int rc = state_save(path, st, &e);
	if (rc == 0) {
		fprintf(stderr, "save into a read-only directory succeeded\n");
		return 1;
	}
	if (rc != -ERR_IO || !strstr(e.msg, "cannot save state") || !strstr(e.msg, path) ||
	    !strstr(e.msg, "Permission denied")) {
		fprintf(stderr, "unclear message (rc %d): %s\n", rc, e.msg);
		return 1;
	}
	return 0;
}

START_TEST(test_save_read_only_dir)
{
	char dir[256], path[300];
	snprintf(dir, sizeof dir, "%s/ro", tmpdir);
	snprintf(path, sizeof path, "%s/state.json", dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	struct state *st = load_data("good.json");
	struct err e = { 0 };
	ck_assert_msg(state_save(path, st, &e) == 0, "%s", e.msg);
	char *before = NULL;
	ck_assert_int_eq(fs_read_file(path, 1 << 20, &before, NULL, &e), 0);

	st->generation = 99;
	st->svcs[0].mode = MODE_ANNOUNCE;
	ck_assert_int_eq(chmod(dir, 0555), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(tmpdir, 0755), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(2);
			int rc = save_refused_in(path, st);
			state_free(st);
			free(before);
			_exit(rc);
		}
		int status = 0;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
			      status);
	} else {
		ck_assert_int_eq(save_refused_in(path, st), 0);
	}
	chmod(dir, 0755);

	char *after = NULL;
	ck_assert_int_eq(fs_read_file(path, 1 << 20, &after, NULL, &e), 0);
	ck_assert_str_eq(before, after);
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	ck_assert_uint_eq(n, 1);
	free(before);
	free(after);
	state_free(st);
}
END_TEST

/* state_save writes only what state_load will take back. */
START_TEST(test_save_refuses_invalid)
{
	char path[256];
	snprintf(path, sizeof path, "%s/state.json", tmpdir);
	struct state *st = load_data("good.json");
	struct err e = { 0 };

	st->svcs[2].prepend = 0;        /* web: prepend 0 */
	ck_assert_int_eq(state_save(path, st, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "refusing to save an invalid state"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, ROOT "/service[name='web']/prepend: "), "%s", e.msg);
	st->svcs[2].prepend = 3;

	free(st->svcs[0].change_id);
	st->svcs[0].change_id = strdup("not an id");
	ck_assert_int_eq(state_save(path, st, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "/change-id: "), "%s", e.msg);
	free(st->svcs[0].change_id);
	st->svcs[0].change_id = strdup("0123456789abcdef");

	free(st->svcs[1].actor);
	st->svcs[1].actor = strdup("caf\xc3");   /* cut UTF-8 */
	ck_assert_int_eq(state_save(path, st, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "actor"), "%s", e.msg);
	free(st->svcs[1].actor);
	st->svcs[1].actor = NULL;
	ck_assert_int_eq(state_save(path, st, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "no actor"), "%s", e.msg);
	st->svcs[1].actor = strdup("");
	ck_assert_int_eq(state_save(path, st, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "/actor: "), "%s", e.msg);

	ck_assert_int_eq(access(path, F_OK), -1);
	state_free(st);
}
END_TEST

static struct conf *good_conf(void)
{
	char path[512];
	tu_data_path(path, sizeof path, "conf", "good.json");
	struct conf *c = NULL;
	struct err e = { 0 };
	ck_assert_msg(conf_load(path, &c, &e) == 0, "%s", e.msg);
	return c;
}

static int is_change_id(const char *s)
{
	return s && strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

START_TEST(test_state_new)
{
	struct conf *c = good_conf();
	struct state *st = state_new(c, 1795602568);
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->site, "ash");
	ck_assert_uint_eq(st->generation, 0);
	ck_assert_uint_eq(st->n, 3);
	ck_assert_str_eq(st->svcs[0].name, "api");
	ck_assert_int_eq(st->svcs[0].mode, MODE_PREPEND);
	ck_assert_uint_eq(st->svcs[0].prepend, 5);
	ck_assert_str_eq(st->svcs[1].name, "dns");
	ck_assert_int_eq(st->svcs[1].mode, MODE_WITHDRAW);
	ck_assert_uint_eq(st->svcs[1].prepend, 0);
	ck_assert_str_eq(st->svcs[2].name, "web");
	ck_assert_int_eq(st->svcs[2].mode, MODE_ANNOUNCE);
	for (size_t i = 0; i < st->n; i++) {
		ck_assert_str_eq(st->svcs[i].actor, "routectld");
		ck_assert_int_eq(st->svcs[i].since, 1795602568);
		ck_assert_int_eq(st->svcs[i].has_next, 0);
		ck_assert(is_change_id(st->svcs[i].change_id));
		/* One change made them all. */
		ck_assert_str_eq(st->svcs[i].change_id, st->svcs[0].change_id);
	}
	char path[256];
	snprintf(path, sizeof path, "%s/state.json", tmpdir);
	struct err e = { 0 };
	ck_assert_msg(state_save(path, st, &e) == 0, "%s", e.msg);
	state_free(st);
	conf_free(c);
}
END_TEST

START_TEST(test_sync_services)
{
	struct conf *c = good_conf();     /* api, dns, web */
	struct state *st = load_data("good.json");
	/* Rename api to old: old goes, api comes back; dns and web stay as
	 * they are. */
	free(st->svcs[0].name);
	st->svcs[0].name = strdup("zzz-old");
	struct state *before = state_dup(st);
	ck_assert_int_eq(state_sync_services(st, c, 1800000000), 2);
	ck_assert_uint_eq(st->n, 3);
	ck_assert_str_eq(st->svcs[0].name, "api");
	ck_assert_int_eq(st->svcs[0].mode, MODE_PREPEND);
	ck_assert_uint_eq(st->svcs[0].prepend, 5);
	ck_assert_str_eq(st->svcs[0].actor, "routectld");
	ck_assert_str_eq(st->svcs[0].reason, "new in config");
	ck_assert_int_eq(st->svcs[0].since, 1800000000);
	ck_assert(is_change_id(st->svcs[0].change_id));
	ck_assert_str_eq(st->svcs[1].name, "dns");
	ck_assert_str_eq(st->svcs[1].actor, before->svcs[1].actor);
	ck_assert_int_eq(st->svcs[1].since, before->svcs[1].since);
	ck_assert_str_eq(st->svcs[2].name, "web");
	ck_assert_int_eq(st->svcs[2].has_next, 1);
	ck_assert_str_eq(st->svcs[2].reason, "fiber cut");
	ck_assert_ptr_null(state_find(st, "zzz-old"));
	/* Nothing left to do. */
	ck_assert_int_eq(state_sync_services(st, c, 1800000001), 0);
	ck_assert_int_eq(st->svcs[0].since, 1800000000);
	state_free(before);
	state_free(st);
	conf_free(c);
}
END_TEST

/* A service taken out of the config and put back keeps what an operator
 * set (here: api withdrawn by bob), also across a save and load; one whose
 * initial mode drains more comes back in that. */
START_TEST(test_removed_service_comes_back)
{
	struct conf *c = good_conf();     /* api (initial prepend 5), dns, web */
	struct state *st = load_data("good.json");
	ck_assert_int_eq(state_find(st, "api")->mode, MODE_WITHDRAW);
	struct conf without_api = *c;     /* services are sorted: api first */
	without_api.services = c->services + 1;
	without_api.n_services = c->n_services - 1;
	ck_assert_int_eq(state_sync_services(st, &without_api, 1800000000), 1);
	ck_assert_ptr_null(state_find(st, "api"));
	ck_assert_uint_eq(st->n_removed, 1);
	ck_assert_str_eq(st->removed[0].name, "api");
	ck_assert_int_eq(st->removed[0].mode, MODE_WITHDRAW);
	ck_assert_str_eq(st->removed[0].actor, "bob (uid 1001) via http");
	ck_assert_int_eq(st->removed[0].removed_at, 1800000000);

	char path[256];
	snprintf(path, sizeof path, "%s/removed.json", tmpdir);
	struct err e = { 0 };
	ck_assert_msg(state_save(path, st, &e) == 0, "%s", e.msg);
	struct state *back = NULL;
	ck_assert_msg(state_load(path, &back, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(back->n_removed, 1);
	ck_assert_str_eq(back->removed[0].name, "api");
	ck_assert_int_eq(back->removed[0].removed_at, 1800000000);
	struct state *copy = state_dup(back);
	ck_assert_str_eq(copy->removed[0].reason, st->removed[0].reason);

	/* put back: withdrawn by bob again, not prepended as new */
	ck_assert_int_eq(state_sync_services(back, c, 1800000100), 1);
	const struct svc_state *api = state_find(back, "api");
	ck_assert_int_eq(api->mode, MODE_WITHDRAW);
	ck_assert_str_eq(api->actor, "bob (uid 1001) via http");
	ck_assert_str_eq(api->change_id, st->removed[0].change_id);
	ck_assert_uint_eq(back->n_removed, 0);

	/* announced when it left, initial prepend 5: back as prepend 5 */
	free(copy->removed[0].actor);
	copy->removed[0].actor = strdup("carol");
	copy->removed[0].mode = MODE_ANNOUNCE;
	ck_assert_int_eq(state_sync_services(copy, c, 1800000200), 1);
	api = state_find(copy, "api");
	ck_assert_int_eq(api->mode, MODE_PREPEND);
	ck_assert_uint_eq(api->prepend, 5);
	ck_assert_str_eq(api->reason, "new in config");

	/* at most STATE_REMOVED_MAX remembered, the newest */
	struct conf none = *c;
	none.n_services = 0;
	for (time_t t = 0; t < STATE_REMOVED_MAX + 3; t++) {
		ck_assert_int_ge(state_sync_services(copy, c, 1800001000 + t), 0);
		ck_assert_int_ge(state_sync_services(copy, &none, 1800001000 + t), 0);
	}
	ck_assert_uint_eq(copy->n_removed, 3);   /* api, dns, web: each once */
	state_free(copy);
	state_free(back);
	state_free(st);
	conf_free(c);
}
END_TEST

START_TEST(test_dup_find)
{
	struct state *st = load_data("good.json");
	struct state *d = state_dup(st);
	assert_state_eq(st, d);
	ck_assert_ptr_ne(d->site, st->site);
	ck_assert_ptr_ne(d->svcs[0].actor, st->svcs[0].actor);
	ck_assert_int_eq(svc_state_set(&d->svcs[0], MODE_ANNOUNCE, 0, "bob", "done", "00000000000000aa",
				       5), 0);
	ck_assert_int_eq(st->svcs[0].mode, MODE_WITHDRAW);
	ck_assert_str_eq(st->svcs[0].actor, "bob (uid 1001) via http");

	ck_assert_ptr_eq(state_find(st, "dns"), &st->svcs[1]);
	ck_assert_ptr_null(state_find(st, "nope"));
	ck_assert_ptr_null(state_find(st, NULL));
	state_free(d);
	state_free(st);
	state_free(NULL);
}
END_TEST

START_TEST(test_svc_state_set)
{
	struct state *st = load_data("good.json");
	struct svc_state *web = state_find(st, "web");
	ck_assert_int_eq(web->has_next, 1);
	/* Refused: nothing changes. */
	ck_assert_int_eq(svc_state_set(web, MODE_PREPEND, 0, "a", "r", "00000000000000aa", 1), -ERR_INVALID);
	ck_assert_int_eq(svc_state_set(web, MODE_PREPEND, 11, "a", "r", "00000000000000aa", 1), -ERR_INVALID);
	ck_assert_int_eq(svc_state_set(web, MODE_ANNOUNCE, 0, "", "r", "00000000000000aa", 1), -ERR_INVALID);
	ck_assert_int_eq(svc_state_set(web, MODE_ANNOUNCE, 0, "a", "r", NULL, 1), -ERR_INVALID);
	ck_assert_int_eq(web->mode, MODE_PREPEND);
	ck_assert_int_eq(web->has_next, 1);

	/* Its own strings as arguments. */
	ck_assert_int_eq(svc_state_set(web, MODE_PREPEND, 10, web->actor, web->reason, web->change_id,
				       1800000000), 0);
	ck_assert_uint_eq(web->prepend, 10);
	ck_assert_str_eq(web->actor, "alice (uid 1000) via console");
	ck_assert_str_eq(web->reason, "fiber cut");
	ck_assert_int_eq(web->since, 1800000000);
	ck_assert_int_eq(web->has_next, 0);

	/* A prepend count with another mode is dropped, not kept. */
	ck_assert_int_eq(svc_state_set(web, MODE_WITHDRAW, 4, "carol", NULL, "00000000000000bb", 2), 0);
	ck_assert_uint_eq(web->prepend, 0);
	ck_assert_str_eq(web->reason, "");
	char *json = to_json(st);
	struct state *back = NULL;
	struct err e = { 0 };
	ck_assert_msg(state_parse(json, "set", &back, &e) == 0, "%s", e.msg);
	assert_state_eq(st, back);
	free(json);
	state_free(back);
	state_free(st);
}
END_TEST

START_TEST(test_change_id)
{
	char a[17], b[17];
	change_id_new(a);
	change_id_new(b);
	ck_assert(is_change_id(a));
	ck_assert(is_change_id(b));
	ck_assert_str_ne(a, b);
	ck_assert(change_id_valid(a));
	ck_assert(change_id_valid("0123456789abcdef"));
	ck_assert(!change_id_valid("0123456789ABCDEF"));
	ck_assert(!change_id_valid("0123456789abcde"));
	ck_assert(!change_id_valid("0123456789abcdef0"));
	ck_assert(!change_id_valid("0123456789abcdeg"));
	ck_assert(!change_id_valid(""));
	ck_assert(!change_id_valid(NULL));
}
END_TEST

/* An id names a change when a service has it as its change, in its recent
 * changes or as its pending confirmation, or a confirmation of it ended. */
START_TEST(test_state_names_change)
{
	struct conf *c = good_conf();
	struct state *st = state_new(c, 1795000000);
	struct svc_state *web = state_find(st, "web");
	ck_assert(!state_names_change(st, "00000000000000a1"));
	ck_assert_int_eq(svc_state_set(web, MODE_WITHDRAW, 0, "a", "r", "00000000000000a1",
				       1795000001), 0);
	ck_assert(state_names_change(st, "00000000000000a1"));
	ck_assert_int_eq(svc_recent_add(web, "00000000000000a2", 1795000002, 0, 10), 0);
	ck_assert(state_names_change(st, "00000000000000a2"));
	web->has_confirm = 1;
	snprintf(web->confirm_change_id, sizeof web->confirm_change_id, "00000000000000a3");
	ck_assert(state_names_change(st, "00000000000000a3"));
	state_note_confirm_end(st, "00000000000000a4", CONFIRM_REVERTED, 1795000003);
	ck_assert(state_names_change(st, "00000000000000a4"));
	ck_assert(!state_names_change(st, "00000000000000a5"));
	ck_assert(!state_names_change(st, ""));
	ck_assert(!state_names_change(NULL, "00000000000000a1"));
	state_free(st);
	conf_free(c);
}
END_TEST

/* A pending confirmation and the ended ones round-trip through the file;
 * a later svc_state_set drops the pending one. */
START_TEST(test_confirm_round_trip)
{
	struct state *st = load_data("good.json");
	struct svc_state *a = &st->svcs[0];
	a->has_confirm = 1;
	snprintf(a->confirm_change_id, sizeof a->confirm_change_id, "00000000000000c1");
	a->confirm_deadline = 1796000000;
	a->revert_mode = MODE_PREPEND;
	a->revert_prepend = 4;
	state_note_confirm_end(st, "00000000000000c0", CONFIRM_REVERTED, 1795000000);
	state_note_confirm_end(st, "00000000000000bf", CONFIRM_CONFIRMED, 1795000100);
	char *json = to_json(st);
	ck_assert_ptr_nonnull(strstr(json, "\"confirm\": {"));
	ck_assert_ptr_nonnull(strstr(json, "\"revert-to\": {"));
	ck_assert_ptr_nonnull(strstr(json, "\"confirm-ended\": ["));
	struct state *again = NULL;
	struct err e = { 0 };
	ck_assert_msg(state_parse(json, "first", &again, &e) == 0, "%s\n%s", e.msg, json);
	assert_state_eq(st, again);
	const struct svc_state *b = &again->svcs[0];
	ck_assert(b->has_confirm);
	ck_assert_str_eq(b->confirm_change_id, "00000000000000c1");
	ck_assert_int_eq(b->confirm_deadline, 1796000000);
	ck_assert_int_eq(b->revert_mode, MODE_PREPEND);
	ck_assert_uint_eq(b->revert_prepend, 4);
	ck_assert(!again->svcs[1].has_confirm);
	ck_assert_uint_eq(again->n_ended, 2);
	ck_assert_int_eq(state_find_confirm_end(again, "00000000000000c0")->outcome,
			 CONFIRM_REVERTED);
	ck_assert_int_eq(state_find_confirm_end(again, "00000000000000bf")->at, 1795000100);
	ck_assert_ptr_null(state_find_confirm_end(again, "00000000000000be"));
	char *second = to_json(again);
	ck_assert_str_eq(json, second);
	struct state *dup = state_dup(again);
	ck_assert(dup->svcs[0].has_confirm);
	ck_assert_uint_eq(dup->n_ended, 2);
	/* A later change of the service supersedes its pending revert. */
	ck_assert_int_eq(svc_state_set(&dup->svcs[0], MODE_ANNOUNCE, 0, "bob", "r", "00000000000000c2",
				       1796000001), 0);
	ck_assert(!dup->svcs[0].has_confirm);
	/* Only the newest STATE_CONFIRMS_ENDED_MAX are kept; a note of the same
	 * id replaces the earlier one. */
	for (int i = 0; i < STATE_CONFIRMS_ENDED_MAX + 3; i++) {
		char id[17];
		snprintf(id, sizeof id, "%016x", 0x100 + i);
		state_note_confirm_end(dup, id, CONFIRM_SUPERSEDED, 1796000100 + i);
	}
	ck_assert_uint_eq(dup->n_ended, STATE_CONFIRMS_ENDED_MAX);
	ck_assert_ptr_null(state_find_confirm_end(dup, "00000000000000c0"));
	ck_assert_str_eq(dup->ended[STATE_CONFIRMS_ENDED_MAX - 1].change_id, "0000000000000112");
	state_note_confirm_end(dup, "0000000000000110", CONFIRM_CONFIRMED, 1796000200);
	ck_assert_uint_eq(dup->n_ended, STATE_CONFIRMS_ENDED_MAX);
	ck_assert_int_eq(state_find_confirm_end(dup, "0000000000000110")->outcome, CONFIRM_CONFIRMED);
	char *third = to_json(dup);
	struct state *back = NULL;
	ck_assert_msg(state_parse(third, "third", &back, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(back->n_ended, STATE_CONFIRMS_ENDED_MAX);
	/* oldest first after a load, whatever order the file lists them in */
	for (size_t i = 1; i < back->n_ended; i++)
		ck_assert_int_le(back->ended[i - 1].at, back->ended[i].at);
	free(json);
	free(second);
	free(third);
	state_free(st);
	state_free(again);
	state_free(dup);
	state_free(back);
}
END_TEST

/* A confirm that could not have been written by routectld is refused with
 * its path. */
START_TEST(test_confirm_bad)
{
	parse_bad(SVC(", \"mode\": \"withdraw\", \"confirm\": {\"change-id\": \"00000000000000c1\", "
		      "\"deadline\": \"2026-11-25T10:29:28Z\"}"),
		  ROOT "/service[name='web']/confirm/revert-to/mode: missing");
	parse_bad(SVC(", \"mode\": \"withdraw\", \"confirm\": {\"change-id\": \"00000000000000c1\", "
		      "\"deadline\": \"2026-13-25T10:29:28Z\", \"revert-to\": {\"mode\": \"announce\"}}"),
		  ROOT "/service[name='web']/confirm/deadline: \"2026-13-25T10:29:28Z\"");
	parse_bad(SVC(", \"mode\": \"withdraw\", \"confirm\": {\"change-id\": \"00000000000000c1\", "
		      "\"deadline\": \"2026-11-25T10:29:28Z\", \"revert-to\": {\"mode\": \"announce\", "
		      "\"prepend\": 2}}"),
		  ROOT "/service[name='web']/confirm/revert-to/prepend: only allowed");
	parse_bad(SVC(", \"mode\": \"withdraw\", \"confirm\": {\"change-id\": \"no way\", "
		      "\"deadline\": \"2026-11-25T10:29:28Z\", \"revert-to\": {\"mode\": \"announce\"}}"),
		  "/confirm/change-id: ");
	parse_bad("{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"1\", "
		  "\"confirm-ended\": [{\"change-id\": \"00000000000000c1\", \"outcome\": \"lost\", "
		  "\"at\": \"2026-11-25T10:29:28Z\"}]}}", "/outcome: ");
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *t = tcase_create("file");
	tcase_add_checked_fixture(t, make_tmpdir, remove_tmpdir);
	tcase_add_test(t, test_parse_good);
	tcase_add_test(t, test_round_trip);
	tcase_add_test(t, test_to_json_format);
	tcase_add_test(t, test_early_year);
	tcase_add_test(t, test_save_load);
	tcase_add_test(t, test_bad_files);
	tcase_add_test(t, test_bad_inline);
	tcase_add_test(t, test_missing_file);
	tcase_add_test(t, test_not_regular_file);
	tcase_add_test(t, test_include_header);
	tcase_add_test(t, test_evidence);
	tcase_add_test(t, test_state_dir_check);
	tcase_add_test(t, test_save_read_only_dir);
	tcase_add_test(t, test_save_refuses_invalid);
	suite_add_tcase(s, t);
	t = tcase_create("memory");
	tcase_add_checked_fixture(t, make_tmpdir, remove_tmpdir);
	tcase_add_test(t, test_state_new);
	tcase_add_test(t, test_sync_services);
	tcase_add_test(t, test_removed_service_comes_back);
	tcase_add_test(t, test_dup_find);
	tcase_add_test(t, test_svc_state_set);
	tcase_add_test(t, test_change_id);
	tcase_add_test(t, test_state_names_change);
	tcase_add_test(t, test_confirm_round_trip);
	tcase_add_test(t, test_confirm_bad);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(store_suite());
}
