/* apply: the precheck of BIRD's protocols, the rule for partial changes, and
 * the messages of a failed apply, against a scripted fake BIRD that answers
 * with replies recorded from BIRD 2.0.12 (tests/data/bird/). */
#include "apply/apply.h"
#include "bird/bird.h"
#include "common/err.h"
#include "conf/conf.h"
#include "render/render.h"
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * A fake BIRD: answers a fixed list of commands, in order.
 */

/* A fake BIRD (fakebird.h) in a directory of its own. */
struct fake {
	char dir[64];
	struct fake_bird b;
};

static struct bird_conn *fake_start(struct fake *f, const struct fake_exch *ex, size_t n)
{
	snprintf(f->dir, sizeof f->dir, "/tmp/routectl-test-apply-XXXXXX");
	ck_assert(mkdtemp(f->dir));
	char path[128];
	snprintf(path, sizeof path, "%s/bird.ctl", f->dir);
	return fake_bird_start(&f->b, path, ex, n);
}

static void fake_stop(struct fake *f, struct bird_conn *c)
{
	fake_bird_stop(&f->b, c);
	rmdir(f->dir);
}

/* A config whose include lives in dir. */
static struct conf *make_conf(const char *dir, unsigned local_as, const char *protocols)
{
	char json[2048];
	snprintf(json, sizeof json,
		 "{\"routectl-config:routectld\": {\"site\": \"ash\", \"local-as\": %u, "
		 "\"bird\": {\"control-socket\": \"%s/bird.ctl\", \"include\": \"%s/routectl.conf\", "
		 "\"bgp-protocol\": %s, \"configure-timeout\": 30, \"command-timeout-ms\": 300, "
		 "\"verify-timeout-ms\": 400}, "
		 "\"state-dir\": \"%s\", \"console\": {\"socket\": \"%s/c.sock\"}, "
		 "\"service\": [{\"name\": \"web\", \"ipv4-prefix\": [\"192.0.2.0/24\"]}]}}",
		 local_as, dir, dir, protocols, dir, dir);
	struct conf *c = NULL;
	struct err e;
	ck_assert_msg(conf_parse(json, "test", &c, &e) == 0, "%s", e.msg);
	return c;
}

static const struct apply_peer *peer(const struct apply_peers *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return &p->v[i];
	return NULL;
}

START_TEST(test_one_line)
{
	char out[64];
	apply_one_line("a\nb", out, sizeof out);
	ck_assert_str_eq(out, "a; b");
	apply_one_line("first\n  indented\n\nlast\n", out, sizeof out);
	ck_assert_str_eq(out, "first; indented; last");
	apply_one_line("tab\there\x01", out, sizeof out);
	ck_assert_str_eq(out, "tab here ");
	apply_one_line(NULL, out, sizeof out);
	ck_assert_str_eq(out, "");
	char small[6];
	apply_one_line("abcdefgh", small, sizeof small);
	ck_assert_str_eq(small, "abcde");
	apply_one_line("abc\ndef", small, sizeof small);
	ck_assert_uint_le(strlen(small), 5);
}
END_TEST

/* Listed: isp (both families), isp6 (IPv6 only), bad (exports the sentinel),
 * ips (misspelled). */
START_TEST(test_precheck_listed)
{
	static const struct fake_exch ex[] = {
		{ "show protocols all", "show_protocols_all.txt", 1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_sentinel_present.txt", 1 },
		{ "show route 100::1/128 protocol routectl_v6",
		  "1007-Table master6:\n 100::1/128           blackhole [routectl_v6 06:51:00.832] * (200)\n0000 \n",
		  0 },
		{ "show route 240.0.0.1/32 protocol routectl_v4 filter { routectl_export(); accept; }",
		  "0000 \n", 0 },
		{ "show route 100::1/128 protocol routectl_v6 filter { routectl_export(); accept; }",
		  "0000 \n", 0 },
		{ "show route 240.0.0.1/32 export isp", "show_route_sentinel_export_isp.txt", 1 },
		{ "show route 100::1/128 export isp", "0000 \n", 0 },
		{ "show route 100::1/128 export isp6", "0000 \n", 0 },
		{ "show route 240.0.0.1/32 export bad", "show_route_sentinel_export_bad.txt", 1 },
	};
	struct fake f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	struct conf *c = make_conf(f.dir, 65001, "[\"isp\", \"isp6\", \"bad\", \"ips\"]");
	struct apply_peers p;
	struct err e;
	ck_assert_msg(apply_precheck(b, c, NULL, 1000, &p, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(p.n, 4);
	const struct apply_peer *isp = peer(&p, "isp"), *isp6 = peer(&p, "isp6");
	const struct apply_peer *bad = peer(&p, "bad"), *ips = peer(&p, "ips");
	ck_assert(isp && isp6 && bad && ips);
	ck_assert_uint_eq(isp->problems, 0);
	ck_assert(isp->has_v4 && isp->has_v6 && isp->v4_up && isp->v6_up);
	ck_assert_uint_eq(isp6->problems, 0);
	ck_assert(!isp6->has_v4 && isp6->has_v6);
	ck_assert_uint_eq(bad->problems, PEER_IGNORES);
	ck_assert_ptr_nonnull(strstr(bad->text, "exports the sentinel route 240.0.0.1/32"));
	ck_assert_ptr_nonnull(strstr(bad->text, "does not call routectl_export()"));
	ck_assert_uint_eq(ips->problems, PEER_MISSING);
	ck_assert_ptr_nonnull(strstr(ips->text, "no protocol 'ips' (its BGP protocols: isp, "
					       "isp6, bad)"));
	ck_assert_int_eq(p.no_sentinel_v4, 0);
	ck_assert_int_eq(p.no_sentinel_v6, 0);

	struct apply_peers copy;
	ck_assert_int_eq(apply_peers_copy(&copy, &p), 0);
	ck_assert_uint_eq(copy.n, 4);
	ck_assert_ptr_ne(copy.v, p.v);
	ck_assert_str_eq(copy.v[2].text, bad->text);
	ck_assert_uint_eq(copy.problems, PEER_MISSING | PEER_IGNORES);
	apply_peers_free(&copy);
	ck_assert_ptr_null(copy.v);

	ck_assert_int_eq(apply_peers_blocking(&p, &e), -ERR_REFUSED);
	ck_assert_ptr_nonnull(strstr(e.msg, "ips: listed in bird/bgp-protocol"));
	ck_assert_ptr_null(strstr(e.msg, "bad:"));   /* not blocking */

	/* Partial: only a misconfigured peer that missed the change is named. */
	char text[1024];
	ck_assert_uint_eq(apply_peers_partial(&p, 1, text, sizeof text), 0);
	p.v[2].mismatches = 1;
	ck_assert_uint_eq(apply_peers_partial(&p, 1, text, sizeof text), 1);
	ck_assert_ptr_nonnull(strstr(text, "bad does not export what was asked (1 prefixes)"));
	p.v[0].mismatches = 3;   /* a correct peer's mismatches are not "partial" */
	ck_assert_uint_eq(apply_peers_partial(&p, 1, text, sizeof text), 1);
	apply_peers_free(&p);
	conf_free(c);
	fake_stop(&f, b);
}
END_TEST

/* BIRD's AS is not the config's; unlisted protocols that export routectl's
 * routes; an include without sentinels (8001). */
START_TEST(test_precheck_local_as_unlisted)
{
	static const struct fake_exch ex[] = {
		{ "show protocols all", "show_protocols_all.txt", 1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_prefix_not_found.txt", 1 },
		{ "show route 100::1/128 protocol routectl_v6", "show_route_prefix_not_found.txt", 1 },
		{ "show route export isp6 protocol routectl_v6 count",
		  "1007-0 of 2 routes for 2 networks in table master4\n 1 of 2 routes for 2 networks in table master6\n0014 Total: 1 of 4 routes for 4 networks in 2 tables\n",
		  0 },
		{ "show route export bad protocol routectl_v4 count", "show_route_export_count.txt", 1 },
	};
	struct fake f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	struct conf *c = make_conf(f.dir, 65009, "[\"isp\"]");
	struct apply_peers p;
	struct err e;
	ck_assert_msg(apply_precheck(b, c, NULL, 1000, &p, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(p.n, 3);
	ck_assert_uint_eq(p.v[0].problems, PEER_LOCAL_AS);
	ck_assert_ptr_nonnull(strstr(p.v[0].text, "BIRD's Local AS of 'isp' is 65001, but the "
						  "config's local-as is 65009"));
	ck_assert_int_eq(p.no_sentinel_v4, 1);
	ck_assert_int_eq(p.no_sentinel_v6, 1);
	const struct apply_peer *isp6 = peer(&p, "isp6"), *bad = peer(&p, "bad");
	ck_assert(isp6 && bad);
	ck_assert_int_eq(isp6->listed, 0);
	ck_assert_uint_eq(isp6->problems, PEER_UNLISTED);
	ck_assert_uint_eq(isp6->exported, 1);
	ck_assert_uint_eq(bad->exported, 2);
	ck_assert_ptr_nonnull(strstr(bad->text, "not in bird/bgp-protocol, but exports 2 of "
						"routectl's routes"));
	ck_assert_int_eq(apply_peers_blocking(&p, &e), -ERR_REFUSED);
	ck_assert_ptr_nonnull(strstr(e.msg, "isp: BIRD's Local AS"));
	char text[1024];
	/* Unlisted exporters make a change that takes announcements away partial. */
	ck_assert_uint_eq(apply_peers_partial(&p, 0, text, sizeof text), 0);
	ck_assert_uint_eq(apply_peers_partial(&p, 1, text, sizeof text), 2);
	ck_assert_ptr_nonnull(strstr(text, "unlisted isp6 still exports 1 of routectl's routes"));
	apply_peers_free(&p);
	conf_free(c);
	fake_stop(&f, b);
}
END_TEST

/* A running routectl_export() that accepts the sentinel (an include edited
 * by hand, a template without the export cases): a peer that exports the
 * sentinel is not named as ignoring the function; verify finds the
 * function's fault and rolls back. */
START_TEST(test_precheck_function_accepts_sentinel)
{
	static const struct fake_exch ex[] = {
		{ "show protocols all", "show_protocols_all.txt", 1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_sentinel_present.txt", 1 },
		{ "show route 100::1/128 protocol routectl_v6", "show_route_prefix_not_found.txt", 1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4 filter { routectl_export(); accept; }",
		  "show_route_sentinel_present.txt", 1 },
	};
	struct fake f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	struct conf *c = make_conf(f.dir, 65001, "[\"isp\", \"isp6\", \"bad\"]");
	struct apply_peers p;
	struct err e;
	ck_assert_msg(apply_precheck(b, c, NULL, 1000, &p, &e) == 0, "%s", e.msg);
	const struct apply_peer *bad = peer(&p, "bad");
	ck_assert_ptr_nonnull(bad);
	ck_assert_uint_eq(bad->problems, 0);
	ck_assert_uint_eq(p.problems, 0);
	apply_peers_free(&p);
	conf_free(c);
	fake_stop(&f, b);
}
END_TEST

/* With the desired state, an unlisted protocol is asked about two prefixes
 * (the sentinel, one announced prefix), not counted through its filter. */
START_TEST(test_precheck_unlisted_probe)
{
	static const struct fake_exch ex[] = {
		{ "show protocols all", "show_protocols_all.txt", 1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_sentinel_present.txt", 1 },
		{ "show route 100::1/128 protocol routectl_v6", "show_route_prefix_not_found.txt", 1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4 filter { routectl_export(); accept; }",
		  "0000 \n", 0 },
		{ "show route 240.0.0.1/32 export isp", "show_route_sentinel_export_isp.txt", 1 },
		/* isp6: no IPv6 sentinel, and the state announces no IPv6 prefix */
		{ "show route 240.0.0.1/32 export bad", "0000 \n", 0 },
		{ "show route 192.0.2.0/24 export bad",
		  "1007-Table master4:\n 192.0.2.0/24         blackhole [routectl_v4 06:58:48.185] * (200)\n0000 \n",
		  0 },
	};
	struct fake f;
	struct bird_conn *b = fake_start(&f, ex, sizeof ex / sizeof ex[0]);
	struct conf *c = make_conf(f.dir, 65001, "[\"isp\"]");
	struct state *st = state_new(c, time(NULL));
	ck_assert_ptr_nonnull(st);
	struct apply_peers p;
	struct err e;
	ck_assert_msg(apply_precheck(b, c, st, 1000, &p, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(p.n, 2);
	ck_assert_uint_eq(p.v[0].problems, 0);
	ck_assert_str_eq(p.v[1].name, "bad");
	ck_assert_uint_eq(p.v[1].problems, PEER_UNLISTED);
	ck_assert_msg(strstr(p.v[1].text, "exports routectl's routes (192.0.2.0/24)"), "%s",
		      p.v[1].text);
	ck_assert_int_eq(apply_peers_blocking(&p, &e), 0);
	apply_peers_free(&p);
	state_free(st);
	conf_free(c);
	fake_stop(&f, b);
}
END_TEST

/* The precheck of an apply when BIRD has isp only and no sentinels. */
#define PRECHECK_ISP                                                                       \
	{ "show protocols all", "show_protocols_all_isp.txt", 1 },                          \
	{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_prefix_not_found.txt", \
	  1 },                                                                             \
	{ "show route 100::1/128 protocol routectl_v6", "show_route_prefix_not_found.txt", 1 }

struct apply_case {
	struct fake f;
	struct bird_conn *b;
	struct conf *c;
	struct state *st;
	char *tmpl;
	char include[256];
};

static void case_start(struct apply_case *k, const struct fake_exch *ex, size_t n)
{
	k->b = fake_start(&k->f, ex, n);
	k->c = make_conf(k->f.dir, 65001, "[\"isp\"]");
	struct err e;
	ck_assert_msg(render_load_template(k->c, &k->tmpl, &e) == 0, "%s", e.msg);
	k->st = state_new(k->c, time(NULL));
	ck_assert_ptr_nonnull(k->st);
	snprintf(k->include, sizeof k->include, "%s/routectl.conf", k->f.dir);
	tu_write_file(k->f.dir, "routectl.conf", "# the include BIRD runs now\n");
}

static void case_stop(struct apply_case *k)
{
	char *now = tu_read_file(k->f.dir, "routectl.conf");
	ck_assert_str_eq(now, "# the include BIRD runs now\n");   /* put back */
	free(now);
	unlink(k->include);
	state_free(k->st);
	free(k->tmpl);
	conf_free(k->c);
	fake_stop(&k->f, k->b);
}

/* An error in the operator's bird.conf is not blamed on the include. */
START_TEST(test_message_operator_file)
{
	static const struct fake_exch ex[] = {
		PRECHECK_ISP,
		{ "configure timeout 30", "configure_check_syntax_error.txt", 1 },
	};
	struct apply_case k;
	case_start(&k, ex, sizeof ex / sizeof ex[0]);
	struct apply_report r;
	struct err e;
	ck_assert_int_eq(apply_state(k.b, k.c, k.st, k.tmpl, NULL, &r, &e), -ERR_BIRD);
	char want[512];
	snprintf(want, sizeof want, "BIRD rejected its config because of an error in "
		 "/tmp/birdrec/bad.conf, which is not routectl's include (%s): fix that file; "
		 "BIRD's running config is unchanged: BIRD: /tmp/birdrec/bad.conf:5:1 syntax "
		 "error", k.include);
	ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "%s", e.msg);
	ck_assert_ptr_null(strstr(e.msg, "generated include"));
	ck_assert_ptr_nonnull(strstr(e.msg, "\nthe previous include was put back"));
	ck_assert_ptr_null(strstr(e.msg, "configure undo"));   /* BIRD did not take it */
	ck_assert_int_eq(r.restored, 1);
	ck_assert_int_eq(r.undone, 0);
	apply_report_free(&r);
	case_stop(&k);
}
END_TEST

/* An error in the generated include names the include. */
START_TEST(test_message_include)
{
	static char reply[512];
	struct apply_case k;
	static struct fake_exch ex[] = {
		PRECHECK_ISP,
		{ "configure timeout 30", reply, 0 },
	};
	case_start(&k, ex, sizeof ex / sizeof ex[0]);
	snprintf(reply, sizeof reply, "0002-Reading configuration from %s/bird.conf\n"
		 "8002 %s:12:1 syntax error, unexpected '}'\n", k.f.dir, k.include);
	struct apply_report r;
	struct err e;
	ck_assert_int_eq(apply_state(k.b, k.c, k.st, k.tmpl, NULL, &r, &e), -ERR_BIRD);
	char want[512];
	snprintf(want, sizeof want, "BIRD rejected the generated include %s (its running config "
		 "is unchanged): BIRD: %s:12:1 syntax error", k.include, k.include);
	ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "%s", e.msg);
	apply_report_free(&r);
	case_stop(&k);
}
END_TEST

/* The operator's bird.conf cannot open the include (as BIRD words it). */
START_TEST(test_message_include_missing)
{
	static char reply[512];
	struct apply_case k;
	static struct fake_exch ex[] = {
		PRECHECK_ISP,
		{ "configure timeout 30", reply, 0 },
	};
	case_start(&k, ex, sizeof ex / sizeof ex[0]);
	snprintf(reply, sizeof reply, "0002-Reading configuration from %s/bird.conf\n"
		 "8002 %s/bird.conf:2:10 Unable to open included file %s\n", k.f.dir, k.f.dir,
		 k.include);
	struct apply_report r;
	struct err e;
	ck_assert_int_eq(apply_state(k.b, k.c, k.st, k.tmpl, NULL, &r, &e), -ERR_BIRD);
	char want[512];
	snprintf(want, sizeof want, "BIRD could not use the generated include %s where "
		 "%s/bird.conf includes it", k.include, k.f.dir);
	ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "%s", e.msg);
	apply_report_free(&r);
	case_stop(&k);
}
END_TEST

/* BIRD does not answer the configure: not "rejected", and undone to be sure. */
START_TEST(test_message_timeout)
{
	static const struct fake_exch ex[] = {
		PRECHECK_ISP,
		{ "configure timeout 30", "0002-Reading configuration from x\n", 0 },
	};
	struct apply_case k;
	case_start(&k, ex, sizeof ex / sizeof ex[0]);
	struct apply_report r;
	struct err e;
	ck_assert_int_eq(apply_state(k.b, k.c, k.st, k.tmpl, NULL, &r, &e), -ERR_TIMEOUT);
	ck_assert_msg(strncmp(e.msg, "BIRD did not answer `configure timeout 30` within "
			      "command-timeout-ms (300 ms); it may have taken the change: ",
			      82) == 0, "%s", e.msg);
	ck_assert_ptr_null(strstr(e.msg, "rejected"));
	ck_assert_ptr_nonnull(strstr(e.msg, "it undoes the change by itself within 30 s"));
	apply_report_free(&r);
	case_stop(&k);
}
END_TEST

/* A precheck that finds a blocking problem touches nothing. */
START_TEST(test_refused_before_touching)
{
	static const struct fake_exch ex[] = {
		PRECHECK_ISP,
	};
	struct apply_case k;
	case_start(&k, ex, sizeof ex / sizeof ex[0]);
	conf_free(k.c);
	k.c = make_conf(k.f.dir, 65001, "[\"isp\", \"ips\"]");
	struct apply_report r;
	struct err e;
	ck_assert_int_eq(apply_state(k.b, k.c, k.st, k.tmpl, NULL, &r, &e), -ERR_REFUSED);
	ck_assert_msg(strncmp(e.msg, "refused before touching BIRD (nothing was changed): BIRD's "
			      "protocols do not match the config:\nips: listed", 94) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(r.changed, 1);
	apply_report_free(&r);
	case_stop(&k);
}
END_TEST

static Suite *apply_suite(void)
{
	Suite *s = suite_create("apply");
	TCase *t = tcase_create("apply");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, test_one_line);
	tcase_add_test(t, test_precheck_listed);
	tcase_add_test(t, test_precheck_local_as_unlisted);
	tcase_add_test(t, test_precheck_unlisted_probe);
	tcase_add_test(t, test_precheck_function_accepts_sentinel);
	tcase_add_test(t, test_message_operator_file);
	tcase_add_test(t, test_message_include);
	tcase_add_test(t, test_message_include_missing);
	tcase_add_test(t, test_message_timeout);
	tcase_add_test(t, test_refused_before_touching);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(apply_suite());
}
