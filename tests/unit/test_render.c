/* Unit tests of render: placeholders, modes, empty families, sanitising of
 * user text, determinism, input checks, speed; and, where BIRD is installed,
 * that BIRD parses what render writes. */
#include "render/render.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/model.h"
#include "common/timeutil.h"
#include "conf/conf.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a hand-built config and state (no parsers involved) --------------- */

#define MAX_SVC 4
#define MAX_PFX 10050

struct fixture {
	struct conf c;
	struct state st;
	struct conf_service svc[MAX_SVC];
	struct svc_state ss[MAX_SVC];
	struct prefix pfx[MAX_SVC][MAX_PFX];
};

static struct fixture fx;

static void add_prefix(size_t svc, const char *text)
{
	struct conf_service *s = &fx.svc[svc];
	ck_assert_uint_lt(s->n_prefixes, MAX_PFX);
	ck_assert_int_eq(prefix_parse(text, &fx.pfx[svc][s->n_prefixes], NULL, 0), 0);
	s->n_prefixes++;
}

static void add_service(const char *name, enum svc_mode mode, unsigned prepend)
{
	size_t i = fx.c.n_services++;
	ck_assert_uint_lt(i, MAX_SVC);
	fx.svc[i].name = (char *)name;
	fx.svc[i].prefixes = fx.pfx[i];
	fx.ss[i] = (struct svc_state){
		.name = (char *)name, .mode = mode, .prepend = prepend,
		.actor = "alice (uid 1000) via console", .reason = "drill",
		.change_id = "0123456789abcdef", .since = 1764066568,
	};
	fx.st.n++;
}

/* The lab: web and dns, one IPv4 and one IPv6 prefix each. */
static void lab(enum svc_mode dns, unsigned dns_prepend, enum svc_mode web, unsigned web_prepend)
{
	memset(&fx, 0, sizeof fx);
	fx.c.site = "ash";
	fx.c.local_as = 65001;
	fx.c.services = fx.svc;
	fx.st.site = "ash";
	fx.st.generation = 7;
	fx.st.svcs = fx.ss;
	add_service("dns", dns, dns_prepend);
	add_prefix(0, "198.51.100.0/24");
	add_prefix(0, "2001:db8:2::/48");
	add_service("web", web, web_prepend);
	add_prefix(1, "192.0.2.0/24");
	add_prefix(1, "2001:db8:1::/48");
}

static char *render_default(void)
{
	char *tmpl = NULL;
	struct err e = { 0 };
	struct buf out = { 0 };
	ck_assert_msg(render_load_template(&fx.c, &tmpl, &e) == 0, "%s", e.msg);
	ck_assert_msg(render_include(&fx.c, &fx.st, tmpl, &out, &e) == 0, "%s", e.msg);
	free(tmpl);
	return buf_steal(&out);
}

static char *render_with(const char *tmpl)
{
	struct err e = { 0 };
	struct buf out = { 0 };
	ck_assert_msg(render_include(&fx.c, &fx.st, tmpl, &out, &e) == 0, "%s", e.msg);
	return buf_steal(&out);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Like count(), in lines that are not comments. */
static size_t count_code(const char *text, const char *needle)
{
	size_t n = 0;
	char *copy = strdup(text);
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n"))
		if (line[strspn(line, " \t")] != '#')
			n += count(line, needle);
	free(copy);
	return n;
}

/* ---- BIRD, when installed: parse the output inside a bird.conf --------- */

static const char *bird_path(void)
{
	const char *p = getenv("ROUTECTL_BIRD");
	if (p && *p)
		return p;
	return access("/usr/sbin/bird", X_OK) == 0 ? "/usr/sbin/bird" : NULL;
}

/* Returns BIRD's exit status for a config that includes text and calls
 * routectl_export() from a BGP export filter; -1 if BIRD is missing. */
static int bird_parse(const char *text)
{
	const char *bird = bird_path();
	if (!bird)
		return -1;
	char dir[] = "/tmp/test_render.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char inc[256], conf[256], cmd[1024];
	snprintf(inc, sizeof inc, "%s/routectl.conf", dir);
	snprintf(conf, sizeof conf, "%s/bird.conf", dir);
	ck_assert_int_eq(fs_write_atomic(inc, text, strlen(text), 0644, NULL), 0);
	struct buf b = { 0 };
	buf_printf(&b,
		   "router id 127.0.0.2;\n"
		   "include \"%s\";\n"
		   "protocol bgp up {\n"
		   "\tlocal 127.0.0.2 as 65001;\n"
		   "\tneighbor 127.0.0.3 as 65000;\n"
		   "\tmultihop;\n"
		   "\tipv4 { import none; export filter { if proto = \"routectl_v4\" then { routectl_export(); accept; } reject; }; };\n"
		   "\tipv6 { import none; export filter { if proto = \"routectl_v6\" then { routectl_export(); bgp_next_hop = 2001:db8:ffff::2; accept; } reject; }; };\n"
		   "}\n", inc);
	ck_assert_int_eq(fs_write_atomic(conf, b.p, b.len, 0644, NULL), 0);
	buf_free(&b);
	snprintf(cmd, sizeof cmd, "'%s' -p -c '%s'", bird, conf);
	int rc = tu_run(cmd);
	unlink(inc);
	unlink(conf);
	rmdir(dir);
	return rc;
}

static void assert_bird_parses(const char *text)
{
	int rc = bird_parse(text);
	if (rc == -1) {
		fprintf(stderr, "test_render: bird not installed, parse check skipped\n");
		return;
	}
	ck_assert_msg(rc == 0, "bird -p rejected the rendered include:\n%s", text);
}

/* ---- tests -------------------------------------------------------------- */

/* The BIRD check above would be worthless if it passed anything. */
START_TEST(test_bird_check_rejects_junk)
{
	int rc = bird_parse("function routectl_export() { if net ~ then reject; }\n");
	if (rc == -1)
		return;
	ck_assert_int_ne(rc, 0);
	/* An include without the function: the filters name an undefined symbol. */
	ck_assert_int_ne(bird_parse("# empty\n"), 0);
}
END_TEST

#define SENTINEL_LINES_V4 \
	"\t# Sentinel: routectl_export() always rejects it. A peer that exports it\n" \
	"\t# does not call routectl_export() in its export filter.\n" \
	"\troute " RENDER_SENTINEL_V4 " blackhole { routectl_state = 1001; };\n"
#define SENTINEL_LINES_V6 \
	"\t# Sentinel: routectl_export() always rejects it. A peer that exports it\n" \
	"\t# does not call routectl_export() in its export filter.\n" \
	"\troute " RENDER_SENTINEL_V6 " blackhole { routectl_state = 1001; };\n"
#define PROVENANCE_TOP \
	"#   since 2025-11-25T10:29:28Z by alice (uid 1000) via console, change 0123456789abcdef\n" \
	"#   reason: drill\n"

/* The text of routectl_export() in a render: from its line to the closing
 * brace at the start of a line. Caller frees. */
static char *export_function(const char *out)
{
	const char *a = strstr(out, "function " RENDER_EXPORT_FUNCTION "()\n{\n");
	ck_assert_ptr_nonnull(a);
	const char *b = strstr(a, "\n}\n");
	ck_assert_ptr_nonnull(b);
	return strndup(a, (size_t)(b + 3 - a));
}

START_TEST(test_default_template_announce)
{
	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	char *out = render_default();
	ck_assert_ptr_nonnull(strstr(out, "# Generated by routectld for site ash, generation 7.\n"));
	ck_assert_ptr_nonnull(strstr(out, "Do not edit"));
	ck_assert_ptr_nonnull(strstr(out, "\nattribute int " RENDER_ATTRIBUTE ";\n"));
	/* Per service (config order) its state, where it came from, its value. */
	ck_assert_ptr_nonnull(strstr(out,
		"# dns: announce\n" PROVENANCE_TOP "define routectl_s0 = 0;\n"
		"# web: announce\n" PROVENANCE_TOP "define routectl_s1 = 0;\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"protocol static " RENDER_STATIC_V4 " {\n\tipv4;\n" SENTINEL_LINES_V4
		"\t# dns\n"
		"\troute 198.51.100.0/24 blackhole { routectl_state = routectl_s0; };\n"
		"\t# web\n"
		"\troute 192.0.2.0/24 blackhole { routectl_state = routectl_s1; };\n}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"protocol static " RENDER_STATIC_V6 " {\n\tipv6;\n" SENTINEL_LINES_V6
		"\t# dns\n"
		"\troute 2001:db8:2::/48 blackhole { routectl_state = routectl_s0; };\n"
		"\t# web\n"
		"\troute 2001:db8:1::/48 blackhole { routectl_state = routectl_s1; };\n}\n"));
	/* The attribute and the values are defined before any route uses them. */
	ck_assert(strstr(out, "attribute int") < strstr(out, "define routectl_s0"));
	ck_assert(strstr(out, "define routectl_s1") < strstr(out, "protocol static"));
	ck_assert_ptr_nonnull(strstr(out, "function " RENDER_EXPORT_FUNCTION "()\n{\n"
		"\t# routectl_state of each static route: 0 announce, 1..10 prepend the\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"\tif ! defined(routectl_state) then reject;\n"
		"\tif routectl_state > 10 then reject;\n"
		"\tif routectl_state >= 1 then bgp_path.prepend(65001);\n"
		"\tif routectl_state >= 2 then bgp_path.prepend(65001);\n"));
	ck_assert_ptr_nonnull(strstr(out, "\tif routectl_state >= 10 then bgp_path.prepend(65001);\n}\n"));
	ck_assert_uint_eq(count_code(out, "bgp_path.prepend"), PREPEND_MAX);
	ck_assert_uint_eq(count(out, "net ~"), 0);
	ck_assert_uint_eq(count_code(out, "define "), 2);
	ck_assert_uint_eq(out[strlen(out) - 1], '\n');
	assert_bird_parses(out);
	free(out);
}
END_TEST

START_TEST(test_withdraw)
{
	lab(MODE_ANNOUNCE, 0, MODE_WITHDRAW, 0);
	char *out = render_default();
	ck_assert_ptr_nonnull(strstr(out, "# web: withdraw\n" PROVENANCE_TOP "define routectl_s1 = 1000;\n"));
	ck_assert_ptr_nonnull(strstr(out, "# dns: announce\n" PROVENANCE_TOP "define routectl_s0 = 0;\n"));
	/* The routes are the same lines as when announced: only the value changed. */
	ck_assert_ptr_nonnull(strstr(out, "\troute 192.0.2.0/24 blackhole { routectl_state = routectl_s1; };\n"));
	ck_assert_ptr_nonnull(strstr(out, "\troute 2001:db8:1::/48 blackhole { routectl_state = routectl_s1; };\n"));
	ck_assert_uint_eq(count(out, "= 1000;"), 1);
	assert_bird_parses(out);
	free(out);
}
END_TEST

/* A change of state changes the lines of that service's state and nothing
 * else: the dry-run diff of a drain of a large service stays a few lines. */
START_TEST(test_change_is_local)
{
	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	char *a = render_default();
	lab(MODE_ANNOUNCE, 0, MODE_WITHDRAW, 0);
	fx.ss[1].reason = "fiber cut";
	char *b = render_default();
	size_t la = strlen(a), lb = strlen(b), pre = 0, suf = 0;
	while (pre < la && pre < lb && a[pre] == b[pre])
		pre++;
	while (suf < la - pre && suf < lb - pre && a[la - 1 - suf] == b[lb - 1 - suf])
		suf++;
	/* Everything that differs lies between "# web:" and its define. */
	const char *head = strstr(b, "# web: ");
	const char *def = strstr(b, "define routectl_s1 = 1000;\n");
	ck_assert_ptr_nonnull(head);
	ck_assert_ptr_nonnull(def);
	ck_assert_uint_ge(pre, (size_t)(head - b));
	ck_assert_uint_le(lb - suf, (size_t)(def - b) + strlen("define routectl_s1 = 1000;\n"));
	free(a);
	free(b);
}
END_TEST

START_TEST(test_prepend_counts)
{
	for (unsigned n = PREPEND_MIN; n <= PREPEND_MAX; n++) {
		lab(MODE_PREPEND, n, MODE_ANNOUNCE, 0);
		char *out = render_default();
		char want[160];
		snprintf(want, sizeof want, "# dns: prepend %u\n" PROVENANCE_TOP "define routectl_s0 = %u;\n", n, n);
		ck_assert_ptr_nonnull(strstr(out, want));
		ck_assert_ptr_nonnull(strstr(out, "\troute 198.51.100.0/24 blackhole { routectl_state = routectl_s0; };\n"));
		ck_assert_uint_eq(render_attr_value(MODE_PREPEND, n), n);
		if (n == 1 || n == PREPEND_MAX)
			assert_bird_parses(out);
		free(out);
	}
	/* The values do not collide: announce, prepend 1..10, withdraw, sentinel. */
	ck_assert_uint_eq(render_attr_value(MODE_ANNOUNCE, 0), 0);
	ck_assert_uint_gt(render_attr_value(MODE_WITHDRAW, 0), PREPEND_MAX);
	ck_assert_uint_gt(RENDER_ATTR_SENTINEL, PREPEND_MAX);
	ck_assert_uint_ne(RENDER_ATTR_SENTINEL, RENDER_ATTR_WITHDRAW);
}
END_TEST

/* routectl_export() is the same bytes whatever the state: BIRD then keeps
 * the export filters on `configure` and re-exports only the static routes
 * whose attribute changed (no channel reload, no re-send of every prefix). */
START_TEST(test_function_constant)
{
	static const struct {
		enum svc_mode dns, web;
		unsigned dp, wp;
	} states[] = {
		{ MODE_ANNOUNCE, MODE_ANNOUNCE, 0, 0 },
		{ MODE_WITHDRAW, MODE_ANNOUNCE, 0, 0 },
		{ MODE_PREPEND, MODE_WITHDRAW, 3, 0 },
		{ MODE_PREPEND, MODE_PREPEND, 1, PREPEND_MAX },
		{ MODE_WITHDRAW, MODE_WITHDRAW, 0, 0 },
	};
	char *first = NULL, *first_out = NULL;
	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
		lab(states[i].dns, states[i].dp, states[i].web, states[i].wp);
		fx.st.generation = 100 + i;
		fx.ss[0].reason = i % 2 ? "drill" : "fiber cut";
		char *out = render_default();
		char *fn = export_function(out);
		if (!first) {
			first = fn;
			first_out = out;
			continue;
		}
		ck_assert_str_eq(fn, first);
		/* ... while the include as a whole does change with the state. */
		ck_assert_str_ne(out, first_out);
		free(fn);
		free(out);
	}
	/* The function depends on the config: the local AS is in it. */
	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	fx.c.local_as = 65002;
	char *out = render_default();
	char *fn = export_function(out);
	ck_assert_str_ne(fn, first);
	ck_assert_ptr_nonnull(strstr(fn, "bgp_path.prepend(65002);"));
	free(fn);
	free(out);
	free(first);
	free(first_out);
}
END_TEST

/* The sentinels are always there, whatever the services, and a service
 * cannot use their prefixes. */
START_TEST(test_sentinels)
{
	lab(MODE_WITHDRAW, 0, MODE_PREPEND, 2);
	char *out = render_default();
	ck_assert_uint_eq(count(out, "route " RENDER_SENTINEL_V4 " blackhole { routectl_state = 1001; };"), 1);
	ck_assert_uint_eq(count(out, "route " RENDER_SENTINEL_V6 " blackhole { routectl_state = 1001; };"), 1);
	free(out);

	memset(&fx, 0, sizeof fx);
	fx.c.site = "chi";
	fx.c.local_as = 65002;
	out = render_default();
	ck_assert_ptr_nonnull(strstr(out, "protocol static routectl_v4 {\n\tipv4;\n" SENTINEL_LINES_V4 "}\n"));
	ck_assert_ptr_nonnull(strstr(out, "protocol static routectl_v6 {\n\tipv6;\n" SENTINEL_LINES_V6 "}\n"));
	assert_bird_parses(out);
	free(out);

	struct err e = { 0 };
	struct buf b = { 0 };
	const char *sentinels[] = { RENDER_SENTINEL_V4, RENDER_SENTINEL_V6 };
	for (int i = 0; i < 2; i++) {
		lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
		add_prefix(1, sentinels[i]);
		err_clear(&e);
		ck_assert_int_eq(render_include(&fx.c, &fx.st, "{{static_routes_v4}}\n", &b, &e),
				 -ERR_INVALID);
		ck_assert_msg(strstr(e.msg, "'web'") && strstr(e.msg, sentinels[i]) &&
			      strstr(e.msg, "sentinel"), "%s", e.msg);
	}
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_empty_families)
{
	memset(&fx, 0, sizeof fx);
	fx.c.site = "chi";
	fx.c.local_as = 65002;
	fx.c.services = fx.svc;
	fx.st.svcs = fx.ss;
	add_service("only6", MODE_WITHDRAW, 0);
	add_prefix(0, "2001:db8:6::/48");
	add_service("only4", MODE_PREPEND, 1);
	add_prefix(1, "203.0.113.0/24");
	add_service("zero", MODE_WITHDRAW, 0);
	char *out = render_default();
	/* A service appears only in the protocols of the families it has. */
	ck_assert_ptr_nonnull(strstr(out,
		"protocol static routectl_v4 {\n\tipv4;\n" SENTINEL_LINES_V4
		"\t# only4\n"
		"\troute 203.0.113.0/24 blackhole { routectl_state = routectl_s1; };\n}\n"));
	ck_assert_ptr_nonnull(strstr(out,
		"protocol static routectl_v6 {\n\tipv6;\n" SENTINEL_LINES_V6
		"\t# only6\n"
		"\troute 2001:db8:6::/48 blackhole { routectl_state = routectl_s0; };\n}\n"));
	/* A service without prefixes still has its state, and no routes. */
	ck_assert_ptr_nonnull(strstr(out, "# zero: withdraw\n" PROVENANCE_TOP "define routectl_s2 = 1000;\n"));
	ck_assert_uint_eq(count(out, "routectl_s2"), 1);
	assert_bird_parses(out);
	free(out);
}
END_TEST

START_TEST(test_placeholders)
{
	lab(MODE_ANNOUNCE, 0, MODE_WITHDRAW, 0);
	fx.st.generation = 42;
	char *out = render_with("site {{site}} as {{ local_as }} gen {{generation}}.\n");
	ck_assert_str_eq(out, "site ash as 65001 gen 42.\n");
	free(out);

	/* Alone on a line: indented line by line; an empty piece drops the line. */
	fx.svc[0].n_prefixes = 1;  /* dns keeps only 198.51.100.0/24 */
	fx.svc[1].n_prefixes = 1;
	fx.ss[0].reason = "r";
	fx.ss[0].actor = "a";
	fx.ss[1].reason = "r";
	fx.ss[1].actor = "a";
	out = render_with("a {\n    {{static_routes_v4}}  \n\t{{ attribute_definitions }}\n}\n  {{service_states}}\n");
	ck_assert_str_eq(out, "a {\n"
			 "    # Sentinel: routectl_export() always rejects it. A peer that exports it\n"
			 "    # does not call routectl_export() in its export filter.\n"
			 "    route 240.0.0.1/32 blackhole { routectl_state = 1001; };\n"
			 "    # dns\n"
			 "    route 198.51.100.0/24 blackhole { routectl_state = routectl_s0; };\n"
			 "    # web\n"
			 "    route 192.0.2.0/24 blackhole { routectl_state = routectl_s1; };\n"
			 "\tattribute int routectl_state;\n}\n"
			 "  # dns: announce\n"
			 "  #   since 2025-11-25T10:29:28Z by a, change 0123456789abcdef\n"
			 "  #   reason: r\n"
			 "  define routectl_s0 = 0;\n"
			 "  # web: withdraw\n"
			 "  #   since 2025-11-25T10:29:28Z by a, change 0123456789abcdef\n"
			 "  #   reason: r\n"
			 "  define routectl_s1 = 1000;\n");
	free(out);

	/* Inline, a piece of lines loses its last newline. */
	out = render_with("x {{attribute_definitions}} y\n");
	ck_assert_str_eq(out, "x attribute int routectl_state; y\n");
	free(out);

	/* Text without placeholders, a lone '}}' and a single '{' pass through. */
	out = render_with("if a then { b; }}\n{ {\n");
	ck_assert_str_eq(out, "if a then { b; }}\n{ {\n");
	free(out);

	out = render_with("");
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

START_TEST(test_bad_placeholders)
{
	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	struct err e = { 0 };
	struct buf out = { 0 };
	buf_puts(&out, "kept");
	ck_assert_int_eq(render_include(&fx.c, &fx.st, "ok\n{{site}}\nx {{bogus}} y\n", &out, &e),
			 -ERR_INVALID);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "line 3") && strstr(e.msg, "{{bogus}}"), "%s", e.msg);
	/* Nothing half-rendered is left behind. */
	ck_assert_str_eq(out.p, "kept");

	err_clear(&e);
	ck_assert_int_eq(render_include(&fx.c, &fx.st, "a\nb {{site\n}}\n", &out, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "line 2") && strstr(e.msg, "not closed"), "%s", e.msg);
	ck_assert_str_eq(out.p, "kept");

	err_clear(&e);
	ck_assert_int_eq(render_include(&fx.c, &fx.st, "{{}}\n", &out, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "line 1"), "%s", e.msg);
	err_clear(&e);
	ck_assert_int_eq(render_include(&fx.c, &fx.st, "{{Site}}\n", &out, &e), -ERR_INVALID);
	buf_free(&out);
}
END_TEST

START_TEST(test_load_template)
{
	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	struct err e = { 0 };
	char *tmpl = NULL;

	/* Built in. */
	ck_assert_int_eq(render_load_template(&fx.c, &tmpl, &e), 0);
	ck_assert_ptr_nonnull(strstr(tmpl, "{{export_body}}"));
	ck_assert_ptr_null(strstr(tmpl, "{{export_cases}}"));
	free(tmpl);

	char dir[] = "/tmp/test_render.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof path, "%s/t.tmpl", dir);

	/* From a file. */
	const char *good = "# {{site}}\n{{export_body}}\n";
	ck_assert_int_eq(fs_write_atomic(path, good, strlen(good), 0644, NULL), 0);
	fx.c.template_path = path;
	ck_assert_msg(render_load_template(&fx.c, &tmpl, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(tmpl, good);
	free(tmpl);

	/* A bad placeholder is caught at load, naming the file and line. */
	const char *bad = "# fine\n\n  {{export_case}}\n";
	ck_assert_int_eq(fs_write_atomic(path, bad, strlen(bad), 0644, NULL), 0);
	tmpl = NULL;
	ck_assert_int_eq(render_load_template(&fx.c, &tmpl, &e), -ERR_INVALID);
	ck_assert_ptr_null(tmpl);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "line 3") &&
		      strstr(e.msg, "{{export_case}}"), "%s", e.msg);

	/* A template written for the renderer before the state moved into a
	 * route attribute is refused, naming the placeholder and what to do. */
	const char *old_placeholders[] = { "export_cases", "prefix_sets" };
	for (int i = 0; i < 2; i++) {
		char old[128];
		snprintf(old, sizeof old, "# old\nfunction routectl_export()\n{\n\t{{%s}}\n}\n",
			 old_placeholders[i]);
		ck_assert_int_eq(fs_write_atomic(path, old, strlen(old), 0644, NULL), 0);
		err_clear(&e);
		tmpl = NULL;
		ck_assert_int_eq(render_load_template(&fx.c, &tmpl, &e), -ERR_INVALID);
		ck_assert_ptr_null(tmpl);
		char want[64];
		snprintf(want, sizeof want, "placeholder '{{%s}}' is no longer rendered", old_placeholders[i]);
		ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "line 4") && strstr(e.msg, want),
			      "%s", e.msg);
	}
	ck_assert_ptr_nonnull(strstr(e.msg, "remove the line"));

	/* Routes without what they refer to: named at load, not by BIRD later. */
	const char *partial[][2] = {
		{ "{{attribute_definitions}}\n{{static_routes_v4}}\n", "service_states" },
		{ "{{service_states}}\n{{static_routes_v6}}\n", "attribute_definitions" },
	};
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(fs_write_atomic(path, partial[i][0], strlen(partial[i][0]), 0644, NULL), 0);
		err_clear(&e);
		tmpl = NULL;
		ck_assert_int_eq(render_load_template(&fx.c, &tmpl, &e), -ERR_INVALID);
		char want[64];
		snprintf(want, sizeof want, "but not {{%s}}", partial[i][1]);
		ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, want), "%s", e.msg);
	}

	/* Too large. */
	size_t big = 2 * 1024 * 1024;
	char *junk = malloc(big);
	memset(junk, '#', big);
	ck_assert_int_eq(fs_write_atomic(path, junk, big, 0644, NULL), 0);
	free(junk);
	err_clear(&e);
	ck_assert_int_eq(render_load_template(&fx.c, &tmpl, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, path), "%s", e.msg);

	/* Missing. */
	unlink(path);
	err_clear(&e);
	ck_assert_int_eq(render_load_template(&fx.c, &tmpl, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, path), "%s", e.msg);
	rmdir(dir);
}
END_TEST

/* User text cannot leave its comment, whatever it holds. */
START_TEST(test_sanitising)
{
	lab(MODE_WITHDRAW, 0, MODE_PREPEND, 2);
	const char *hostile =
		"EVIL1\n}\nprotocol static evil { ipv4; route 10.0.0.0/8 blackhole; }\n"
		"EVIL2\r\nfunction x() { reject; } */ /* # \"quoted\" 'single' \\ "
		"EVIL3\x01\x1b[31m\x7f \xc3\xa9t\xc3\xa9 \xff\xfe \xe2\x80\xa8" "EVIL4\xe2\x80\xae"
		"\xc2\x85" "EVIL5 \xed\xa0\x80 \xc0\xaf end";
	fx.ss[0].reason = (char *)hostile;
	fx.ss[0].actor = (char *)hostile;
	fx.ss[0].change_id = "abc\n}\nEVIL6";
	fx.ss[1].has_next = 1;
	fx.ss[1].next_mode = MODE_WITHDRAW;
	fx.ss[1].next_at = 1764070168;
	char *out = render_default();

	/* No control characters but newline and tab anywhere. */
	for (const unsigned char *u = (const unsigned char *)out; *u; u++)
		ck_assert_msg(*u >= 0x20 || *u == '\n' || *u == '\t',
			      "control byte 0x%02x in output", *u);
	/* No block comment can open or close. */
	ck_assert_ptr_null(strstr(out, "*/"));
	ck_assert_ptr_null(strstr(out, "/*"));
	/* Every line that carries hostile text is a comment. */
	size_t seen = 0;
	char *copy = strdup(out);
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strstr(line, "EVIL") && !strstr(line, "evil"))
			continue;
		seen++;
		ck_assert_msg(line[strspn(line, " \t")] == '#', "not a comment: %s", line);
	}
	free(copy);
	ck_assert_uint_gt(seen, 0);
	/* Valid UTF-8 stays; invalid bytes, U+2028, U+202E, U+0085, surrogates
	 * and overlongs become '?'. */
	ck_assert_ptr_nonnull(strstr(out, "\xc3\xa9t\xc3\xa9"));
	ck_assert_ptr_null(strstr(out, "\xe2\x80\xa8"));
	ck_assert_ptr_null(strstr(out, "\xe2\x80\xae"));
	ck_assert_ptr_null(strstr(out, "\xc2\x85"));
	ck_assert_ptr_null(strstr(out, "\xff"));
	ck_assert_ptr_null(strstr(out, "\xed\xa0\x80"));
	ck_assert_ptr_null(strstr(out, "\xc0\xaf"));
	ck_assert_ptr_nonnull(strstr(out, "\n#   next: withdraw at 2025-11-25T11:29:28Z\n"));
	/* The hostile text added no code: the same code lines as without it. */
	ck_assert_uint_eq(count_code(out, "reject;"), 2);
	ck_assert_uint_eq(count_code(out, "route "), 6);
	ck_assert_uint_eq(count_code(out, "define "), 2);
	ck_assert_uint_eq(count_code(out, "protocol static"), 2);
	ck_assert_uint_eq(count_code(out, "{"), count_code(out, "}"));
	assert_bird_parses(out);
	free(out);

	/* A long reason is cut. */
	lab(MODE_WITHDRAW, 0, MODE_ANNOUNCE, 0);
	char longr[1000];
	memset(longr, 'r', sizeof longr - 1);
	longr[sizeof longr - 1] = '\0';
	fx.ss[0].reason = longr;
	out = render_default();
	ck_assert_ptr_nonnull(strstr(out, "rrr...\n"));
	ck_assert_ptr_null(strstr(out, longr));
	free(out);

	/* Names from the config are sanitised too; the site becomes a word. */
	lab(MODE_WITHDRAW, 0, MODE_ANNOUNCE, 0);
	fx.c.site = "a\"sh\n}";
	fx.st.site = fx.c.site;
	fx.svc[1].name = "we\nb";
	fx.ss[1].name = "we\nb";
	out = render_with("{{site}}\n{{service_states}}\n");
	ck_assert_ptr_nonnull(strstr(out, "a_sh__\n"));
	ck_assert_ptr_nonnull(strstr(out, "# we b: announce\n"));
	free(out);
}
END_TEST

START_TEST(test_deterministic)
{
	lab(MODE_PREPEND, 4, MODE_WITHDRAW, 0);
	char *a = render_default();
	/* Nothing depends on the clock or on memory addresses. */
	usleep(1100 * 1000);
	struct svc_state copy[MAX_SVC];
	memcpy(copy, fx.ss, sizeof copy);
	fx.st.svcs = copy;
	char *b = render_default();
	ck_assert_str_eq(a, b);
	free(b);
	/* ... and everything depends on the state. */
	copy[0].since++;
	b = render_default();
	ck_assert_str_ne(a, b);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_bad_inputs)
{
	struct err e = { 0 };
	struct buf out = { 0 };
	const char *t = "{{export_body}}\n";

	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	fx.ss[1].name = "mail";  /* the state names a service the config lacks */
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "'mail'"), "%s", e.msg);

	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	fx.st.n = 1;  /* web has no state */
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "'web'"), "%s", e.msg);

	lab(MODE_PREPEND, 0, MODE_ANNOUNCE, 0);
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "'dns'") && strstr(e.msg, "prepend"), "%s", e.msg);
	lab(MODE_PREPEND, PREPEND_MAX + 1, MODE_ANNOUNCE, 0);
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);

	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	fx.ss[0].mode = (enum svc_mode)17;
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);

	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	fx.st.site = "chi";
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "chi") && strstr(e.msg, "ash"), "%s", e.msg);

	lab(MODE_PREPEND, 1, MODE_ANNOUNCE, 0);
	fx.c.local_as = 0;
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);

	/* A prefix text filled by hand cannot carry BIRD code. */
	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	snprintf(fx.pfx[1][0].text, sizeof fx.pfx[1][0].text, "192.0.2.0/24 blackhole; }");
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "'web'"), "%s", e.msg);
	lab(MODE_ANNOUNCE, 0, MODE_ANNOUNCE, 0);
	fx.pfx[1][0].family = 5;
	ck_assert_int_eq(render_include(&fx.c, &fx.st, t, &out, &e), -ERR_INVALID);

	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

/* 10,000 prefixes: the render takes milliseconds and BIRD accepts it. */
START_TEST(test_ten_thousand)
{
	lab(MODE_ANNOUNCE, 0, MODE_PREPEND, 3);
	fx.svc[1].n_prefixes = 0;
	for (int i = 0; i < 9000; i++) {
		char t[64];
		snprintf(t, sizeof t, "10.%d.%d.0/24", i / 256, i % 256);
		add_prefix(1, t);
	}
	for (int i = 0; i < 998; i++) {
		char t[64];
		snprintf(t, sizeof t, "2001:db8:%x::/48", 0x100 + i);
		add_prefix(1, t);
	}
	ck_assert_uint_eq(fx.svc[0].n_prefixes + fx.svc[1].n_prefixes, 10000);
	char *tmpl = NULL;
	struct err e = { 0 };
	ck_assert_int_eq(render_load_template(&fx.c, &tmpl, &e), 0);
	struct buf out = { 0 };
	int64_t best = INT64_MAX;
	for (int run = 0; run < 5; run++) {
		buf_free(&out);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ck_assert_int_eq(render_include(&fx.c, &fx.st, tmpl, &out, &e), 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int64_t us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
		if (us < best)
			best = us;
	}
	fprintf(stderr, "test_render: 10000 prefixes rendered in %.2f ms (best of 5), %zu bytes\n",
		best / 1000.0, out.len);
	/* Generous, so that sanitizer builds pass; a normal build takes ~1-2 ms. */
	ck_assert_int_lt(best, 250 * 1000);
	ck_assert_uint_eq(count(out.p, " blackhole { routectl_state = "), 10000 + 2);  /* + sentinels */
	ck_assert_uint_eq(count(out.p, " blackhole { routectl_state = routectl_s1; };\n"), 9998);
	ck_assert_ptr_nonnull(strstr(out.p, "define routectl_s1 = 3;\n"));
	int64_t t0 = now_ms();
	assert_bird_parses(out.p);
	fprintf(stderr, "test_render: bird -p of 10000 prefixes took %lld ms\n",
		(long long)(now_ms() - t0));
	buf_free(&out);
	free(tmpl);
}
END_TEST

static Suite *render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("render");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bird_check_rejects_junk);
	tcase_add_test(tc, test_default_template_announce);
	tcase_add_test(tc, test_withdraw);
	tcase_add_test(tc, test_change_is_local);
	tcase_add_test(tc, test_prepend_counts);
	tcase_add_test(tc, test_function_constant);
	tcase_add_test(tc, test_sentinels);
	tcase_add_test(tc, test_empty_families);
	tcase_add_test(tc, test_placeholders);
	tcase_add_test(tc, test_bad_placeholders);
	tcase_add_test(tc, test_load_template);
	tcase_add_test(tc, test_sanitising);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_bad_inputs);
	tcase_add_test(tc, test_ten_thousand);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(render_suite());
}
