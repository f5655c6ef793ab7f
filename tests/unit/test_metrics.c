/* Unit tests of routectl/api/metrics: the /metrics page rendered from a
 * hand-built command view and counters, checked line by line and by
 * promtool (Debian package prometheus). */
#include "api/audit.h"
#include "api/commands.h"
#include "api/metrics.h"
#include "common/err.h"
#include "site/site.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct last_apply no_apply;

/* Three services: web withdrawn, dns prepended 3 times, api announced
 * (sorted by name, as a state keeps them). */
static struct svc_state svcs[] = {
	{ .name = (char *)"api", .mode = MODE_ANNOUNCE },
	{ .name = (char *)"dns", .mode = MODE_PREPEND, .prepend = 3 },
	{ .name = (char *)"web", .mode = MODE_WITHDRAW },
};
static struct state three = { .site = (char *)"ash", .generation = 7, .svcs = svcs, .n = 3 };

static struct command_view base_view(void)
{
	struct command_view v = {
		.site = "ash", .bird_socket = "/run/bird/bird.ctl",
		.safe_mode = "", .bird_version = "2.0.12", .bird_error = "",
		.last = &no_apply, .state = &three, .bird_connected = 1, .repairs = 4,
	};
	return v;
}

/* Whether page has line as one whole line. */
static int has_line(const char *page, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = page; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return 1;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

#define ck_line(page, line) ck_assert_msg(has_line(page, line), "no line\n%s\nin\n%s", line, page)

/* The number of lines of page that start with prefix. */
static size_t count_lines(const char *page, const char *prefix)
{
	size_t n = 0, k = strlen(prefix);
	for (const char *p = page; p && *p;) {
		if (strncmp(p, prefix, k) == 0)
			n++;
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

/* Every sample belongs to a family announced before it with # HELP then
 * # TYPE (a histogram's samples by its _bucket, _sum and _count), and no
 * family is announced twice. */
static void check_families(const char *page)
{
	char types[64][96], kinds[64][16];
	size_t n_types = 0;
	char prev[512] = "";
	for (const char *p = page; *p;) {
		const char *nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "page does not end in a line feed");
		char line[512];
		size_t len = (size_t)(nl - p);
		ck_assert_uint_lt(len, sizeof line);
		memcpy(line, p, len);
		line[len] = '\0';
		char name[96], kind[16];
		if (sscanf(line, "# TYPE %95s %15s", name, kind) == 2) {
			char help[128];
			snprintf(help, sizeof help, "# HELP %s ", name);
			ck_assert_msg(strncmp(prev, help, strlen(help)) == 0,
				      "# TYPE %s without # HELP before it", name);
			for (size_t i = 0; i < n_types; i++)
				ck_assert_msg(strcmp(types[i], name) != 0, "family %s twice", name);
			ck_assert_uint_lt(n_types, 64);
			snprintf(types[n_types], sizeof types[0], "%s", name);
			snprintf(kinds[n_types++], sizeof kinds[0], "%s", kind);
		} else if (line[0] != '#') {
			size_t nlen = strcspn(line, "{ ");
			int found = 0;
			for (size_t i = 0; i < n_types && !found; i++) {
				size_t tl = strlen(types[i]);
				if (nlen == tl && strncmp(line, types[i], tl) == 0)
					found = strcmp(kinds[i], "histogram") != 0;
				else if (strcmp(kinds[i], "histogram") == 0 && nlen > tl &&
					 strncmp(line, types[i], tl) == 0)
					found = strncmp(line + tl, "_bucket", nlen - tl) == 0 ||
						strncmp(line + tl, "_sum", nlen - tl) == 0 ||
						strncmp(line + tl, "_count", nlen - tl) == 0;
			}
			ck_assert_msg(found, "sample of no announced family: %s", line);
		}
		snprintf(prev, sizeof prev, "%s", line);
		p = nl + 1;
	}
}

/* Runs `promtool check metrics` on page; its exit status, its words in out. */
static int promtool_check(const char *page, char *out, size_t size)
{
	ck_assert_msg(tu_run("command -v promtool >/dev/null 2>&1") == 0,
		      "promtool is not installed: it is in Debian package prometheus "
		      "(tests/run installs it)");
	char dir[64];
	tu_make_tmpdir(dir, sizeof dir, "test_metrics");
	tu_write_file(dir, "page.txt", page);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "promtool check metrics < %s/page.txt > %s/out.txt 2>&1", dir,
		 dir);
	int rc = tu_run(cmd);
	char *said = tu_read_file(dir, "out.txt");
	snprintf(out, size, "%s", said);
	free(said);
	tu_remove_tree(dir);
	return rc;
}

/* A page with every family filled. */
static char *full_page(struct metrics *m, struct apply_stats *st, struct audit_stats *as)
{
	apply_stats_record(st, APPLY_RESULT_OK, 40);
	apply_stats_record(st, APPLY_RESULT_PARTIAL, 700);
	apply_stats_record(st, APPLY_RESULT_FAILED, 12000);
	metrics_http(m, "/v1/status", "GET", 200);
	metrics_http(m, "/v1/status", "GET", 200);
	metrics_http(m, "/v1/sites/{site}/drain", "POST", 202);
	metrics_http(m, "/v1/sites/{site}/drain", "PATCH", 405);
	metrics_http(m, "/v1/status", "get", 400);   /* methods are case-sensitive */
	metrics_http(m, NULL, "GET", 404);
	metrics_auth_failure(m, "invalid");
	metrics_auth_failure(m, "forbidden");
	metrics_auth_failure(m, "forbidden");
	metrics_rate_limited(m);
	metrics_rate_limited(m);
	metrics_rate_limited(m);
	metrics_config_reload(m, 0, 1796000000);
	as->records = 10;
	as->failures = 1;
	as->last_sync_seconds = 0.0025;
	struct command_view v = base_view();
	v.apply_stats = st;
	char *page = metrics_render(m, &v, as);
	ck_assert_ptr_nonnull(page);
	return page;
}

START_TEST(exact_lines)
{
	struct metrics *m = metrics_new();
	ck_assert_ptr_nonnull(m);
	struct apply_stats st = { 0 };
	struct audit_stats as = { 0 };
	char *page = full_page(m, &st, &as);
	check_families(page);
	ck_line(page, "routectl_build_info{version=\"" ROUTECTL_VERSION "\"} 1");
	ck_line(page, "# TYPE routectl_service_state gauge");
	ck_line(page, "routectl_service_state{site=\"ash\",service=\"web\",state=\"withdraw\"} 1");
	ck_line(page, "routectl_service_state{site=\"ash\",service=\"web\",state=\"announce\"} 0");
	ck_line(page, "routectl_service_state{site=\"ash\",service=\"web\",state=\"prepend\"} 0");
	ck_line(page, "routectl_service_state{site=\"ash\",service=\"dns\",state=\"prepend\"} 1");
	ck_line(page, "routectl_service_state{site=\"ash\",service=\"api\",state=\"announce\"} 1");
	ck_assert_uint_eq(count_lines(page, "routectl_service_state{"), 9);
	ck_line(page, "routectl_service_prepend{site=\"ash\",service=\"dns\"} 3");
	ck_line(page, "routectl_service_prepend{site=\"ash\",service=\"web\"} 0");
	ck_line(page, "routectl_safe_mode{site=\"ash\"} 0");
	ck_line(page, "routectl_bird_up{site=\"ash\"} 1");
	ck_line(page, "# TYPE routectl_applies_total counter");
	ck_line(page, "routectl_applies_total{site=\"ash\",result=\"ok\"} 1");
	ck_line(page, "routectl_applies_total{site=\"ash\",result=\"partial\"} 1");
	ck_line(page, "routectl_applies_total{site=\"ash\",result=\"failed\"} 1");
	ck_line(page, "# TYPE routectl_apply_duration_seconds histogram");
	ck_line(page, "routectl_reconcile_repairs_total{site=\"ash\"} 4");
	ck_line(page, "# TYPE routectl_http_requests_total counter");
	ck_line(page, "routectl_http_requests_total{route=\"/v1/status\",method=\"GET\","
		      "status=\"200\"} 2");
	ck_line(page, "routectl_http_requests_total{route=\"/v1/sites/{site}/drain\","
		      "method=\"POST\",status=\"202\"} 1");
	ck_line(page, "routectl_http_requests_total{route=\"/v1/sites/{site}/drain\","
		      "method=\"other\",status=\"405\"} 1");
	ck_line(page, "routectl_http_requests_total{route=\"/v1/status\",method=\"other\","
		      "status=\"400\"} 1");
	ck_line(page, "routectl_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1");
	ck_line(page, "routectl_auth_failures_total{reason=\"missing\"} 0");
	ck_line(page, "routectl_auth_failures_total{reason=\"malformed\"} 0");
	ck_line(page, "routectl_auth_failures_total{reason=\"invalid\"} 1");
	ck_line(page, "routectl_auth_failures_total{reason=\"forbidden\"} 2");
	ck_line(page, "routectl_rate_limited_total 3");
	ck_line(page, "routectl_audit_records_total 10");
	ck_line(page, "routectl_audit_failures_total 1");
	ck_line(page, "routectl_audit_last_sync_seconds 0.0025");
	ck_line(page, "# TYPE routectl_config_last_reload_successful gauge");
	ck_line(page, "routectl_config_last_reload_successful 0");
	ck_line(page, "routectl_config_last_reload_success_timestamp_seconds 1796000000");
	char said[4096];
	ck_assert_msg(promtool_check(page, said, sizeof said) == 0, "promtool: %s\n%s", said, page);
	free(page);
	metrics_free(m);
}
END_TEST

/* Buckets are cumulative, an apply on a bound counts in it, +Inf is the
 * count, and the sum is exact. */
START_TEST(histogram_cumulative)
{
	static const int64_t ms[] = { 0, 5, 6, 30, 1000, 29999, 30000, 30001, 100000, -3 };
	struct apply_stats st = { 0 };
	int64_t sum = 0;
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
		apply_stats_record(&st, i % 3 == 0 ? APPLY_RESULT_FAILED : APPLY_RESULT_OK, ms[i]);
		sum += ms[i] > 0 ? ms[i] : 0;
	}
	struct command_view v = base_view();
	v.apply_stats = &st;
	char *page = metrics_render(NULL, &v, NULL);
	ck_assert_ptr_nonnull(page);
	check_families(page);
	/* The bounds in seconds, and for each how many of ms[] are at most it. */
	static const char *const le[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
					  "0.5", "1", "2.5", "5", "10", "30", "+Inf" };
	static const double bound_s[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					  0.5, 1, 2.5, 5, 10, 30, 1e300 };
	ck_assert_uint_eq(count_lines(page, "routectl_apply_duration_seconds_bucket{"), 13);
	for (size_t b = 0; b < 13; b++) {
		unsigned n = 0;
		for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
			n += (double)(ms[i] > 0 ? ms[i] : 0) / 1000.0 <= bound_s[b] + 1e-12;
		char want[160];
		snprintf(want, sizeof want,
			 "routectl_apply_duration_seconds_bucket{site=\"ash\",le=\"%s\"} %u", le[b], n);
		ck_line(page, want);
	}
	/* by hand, for the bounds that matter: 0 and 5 and -3 (as 0) in the
	 * first; 29999 and 30000 in "30"; 30001 and 100000 only in +Inf */
	ck_line(page, "routectl_apply_duration_seconds_bucket{site=\"ash\",le=\"0.005\"} 3");
	ck_line(page, "routectl_apply_duration_seconds_bucket{site=\"ash\",le=\"30\"} 8");
	ck_line(page, "routectl_apply_duration_seconds_bucket{site=\"ash\",le=\"+Inf\"} 10");
	char want[160];
	snprintf(want, sizeof want, "routectl_apply_duration_seconds_sum{site=\"ash\"} %lld.%03lld",
		 (long long)(sum / 1000), (long long)(sum % 1000));
	ck_line(page, want);
	ck_assert_int_eq(sum, 191041);
	ck_line(page, "routectl_apply_duration_seconds_count{site=\"ash\"} 10");
	ck_line(page, "routectl_applies_total{site=\"ash\",result=\"failed\"} 4");
	ck_line(page, "routectl_applies_total{site=\"ash\",result=\"ok\"} 6");
	ck_line(page, "routectl_applies_total{site=\"ash\",result=\"partial\"} 0");
	char said[4096];
	ck_assert_msg(promtool_check(page, said, sizeof said) == 0, "promtool: %s\n%s", said, page);
	free(page);
}
END_TEST

/* Backslash, double quote and line feed in a label value are escaped;
 * bytes that are not UTF-8 become U+FFFD, so the page still parses. */
START_TEST(label_escaping)
{
	struct svc_state hostile_svcs[] = {
		{ .name = (char *)"we\"b\\\nx", .mode = MODE_WITHDRAW },
	};
	struct state hostile = { .site = (char *)"ash", .svcs = hostile_svcs, .n = 1 };
	struct command_view v = base_view();
	v.state = &hostile;
	v.site = "a\"s\\h";
	struct metrics *m = metrics_new();
	ck_assert_ptr_nonnull(m);
	metrics_http(m, "/v1/a\"b\\c\nd}{ 1\n# TYPE x counter", "GET", 418);
	metrics_http(m, "/v1/bad\xff\xc3(utf8\xe2\x82", "POST", 400);
	metrics_http(m, "/v1/caf\xc3\xa9", "POST", 400);
	char *page = metrics_render(m, &v, NULL);
	ck_assert_ptr_nonnull(page);
	check_families(page);
	ck_line(page, "routectl_service_state{site=\"a\\\"s\\\\h\",service=\"we\\\"b\\\\\\nx\","
		      "state=\"withdraw\"} 1");
	ck_line(page, "routectl_safe_mode{site=\"a\\\"s\\\\h\"} 0");
	ck_line(page, "routectl_http_requests_total{route=\"/v1/a\\\"b\\\\c\\nd}{ 1\\n# TYPE x "
		      "counter\",method=\"GET\",status=\"418\"} 1");
	ck_line(page, "routectl_http_requests_total{route=\"/v1/bad\xef\xbf\xbd\xef\xbf\xbd(utf8"
		      "\xef\xbf\xbd\xef\xbf\xbd\",method=\"POST\",status=\"400\"} 1");
	ck_line(page, "routectl_http_requests_total{route=\"/v1/caf\xc3\xa9\",method=\"POST\","
		      "status=\"400\"} 1");
	ck_assert_ptr_null(strstr(page, "\n# TYPE x counter"));
	char said[4096];
	ck_assert_msg(promtool_check(page, said, sizeof said) == 0, "promtool: %s\n%s", said, page);
	free(page);
	metrics_free(m);
}
END_TEST

/* routectl_api_listener_up: one series per TCP listener, 0 while it is not
 * bound; none without listeners. */
START_TEST(listener_up)
{
	struct command_view v = base_view();
	struct metrics *m = metrics_new();
	ck_assert_ptr_nonnull(m);
	char *page = metrics_render(m, &v, NULL);
	ck_assert_ptr_null(strstr(page, "routectl_api_listener_up"));
	free(page);
	struct command_listener ls[] = {
		{ "10.0.0.5", 8443, "primary", "https", false, "cannot bind" },
		{ "::1", 8080, "out-of-band", "http", true, "" },
	};
	metrics_set_listeners(m, ls, 2);
	page = metrics_render(m, &v, NULL);
	check_families(page);
	ck_line(page, "routectl_api_listener_up{kind=\"primary\",address=\"10.0.0.5\","
		      "port=\"8443\"} 0");
	ck_line(page, "routectl_api_listener_up{kind=\"out-of-band\",address=\"::1\","
		      "port=\"8080\"} 1");
	char said[4096];
	ck_assert_msg(promtool_check(page, said, sizeof said) == 0, "promtool: %s\n%s", said, page);
	free(page);
	ls[0].bound = true;
	page = metrics_render(m, &v, NULL);
	ck_line(page, "routectl_api_listener_up{kind=\"primary\",address=\"10.0.0.5\","
		      "port=\"8443\"} 1");
	free(page);
	metrics_free(m);
}
END_TEST

/* The whole page passes promtool; and promtool does reject a page with a
 * label value left unescaped (so that the check above means something). */
START_TEST(promtool_accepts_page)
{
	struct metrics *m = metrics_new();
	ck_assert_ptr_nonnull(m);
	struct apply_stats st = { 0 };
	struct audit_stats as = { 0 };
	char *page = full_page(m, &st, &as);
	char said[4096];
	ck_assert_msg(promtool_check(page, said, sizeof said) == 0, "promtool: %s\n%s", said, page);
	free(page);
	metrics_free(m);

	const char *broken = "# HELP x_total x\n# TYPE x_total counter\nx_total{a=\"b\nc\"} 1\n";
	ck_assert_int_ne(promtool_check(broken, said, sizeof said), 0);
}
END_TEST

/* The (route, method, status) table is bounded: past it, new routes count
 * under route "other", and past that under route, method and status
 * "other"; nothing is lost, and routes already there keep counting. */
START_TEST(http_table_bounded)
{
	struct metrics *m = metrics_new();
	ck_assert_ptr_nonnull(m);
	unsigned long long total = 0;
	char route[64];
	for (int i = 0; i < 300; i++) {
		snprintf(route, sizeof route, "/v1/r%d", i);
		metrics_http(m, route, "GET", 200);
		total++;
	}
	metrics_http(m, "/v1/r0", "GET", 200);   /* an early route still counts as itself */
	total++;
	for (int s = 500; s < 600; s++) {
		snprintf(route, sizeof route, "/v1/x%d", s);
		metrics_http(m, route, "GET", s);
		total++;
	}
	char *page = metrics_render(m, NULL, NULL);
	ck_assert_ptr_nonnull(page);
	check_families(page);
	ck_assert_uint_le(count_lines(page, "routectl_http_requests_total{"), 257);
	ck_line(page, "routectl_http_requests_total{route=\"/v1/r0\",method=\"GET\",status=\"200\"} 2");
	/* 224 named routes fit, the other 76 of the first loop share one line */
	ck_line(page, "routectl_http_requests_total{route=\"/v1/r223\",method=\"GET\","
		      "status=\"200\"} 1");
	ck_assert_ptr_null(strstr(page, "route=\"/v1/r224\""));
	ck_line(page, "routectl_http_requests_total{route=\"other\",method=\"GET\",status=\"200\"} 76");
	/* 31 statuses more fill the table; the remaining 69 are "other" throughout */
	ck_line(page, "routectl_http_requests_total{route=\"other\",method=\"GET\",status=\"530\"} 1");
	ck_assert_ptr_null(strstr(page, "status=\"531\""));
	ck_line(page, "routectl_http_requests_total{route=\"other\",method=\"other\","
		      "status=\"other\"} 69");
	unsigned long long sum = 0;
	for (const char *p = strstr(page, "\nroutectl_http_requests_total{"); p;
	     p = strstr(p + 1, "\nroutectl_http_requests_total{"))
		sum += strtoull(strchr(p + 1, '}') + 2, NULL, 10);
	ck_assert_uint_eq(sum, total);
	char said[4096];
	ck_assert_msg(promtool_check(page, said, sizeof said) == 0, "promtool: %s", said);
	free(page);
	metrics_free(m);
}
END_TEST

/* In safe mode the desired state is unknown: no service series (the last
 * known state is not shown as desired), safe_mode 1. Families whose source
 * is NULL are left out. */
START_TEST(safe_mode_and_missing_sources)
{
	struct command_view v = base_view();
	v.state = NULL;
	v.last_known = &three;
	v.safe_mode = "state file does not load";
	v.safe_kind = SAFE_STATE_UNUSABLE;
	v.bird_connected = 0;
	char *page = metrics_render(NULL, &v, NULL);
	ck_assert_ptr_nonnull(page);
	check_families(page);
	ck_line(page, "routectl_safe_mode{site=\"ash\"} 1");
	ck_line(page, "routectl_bird_up{site=\"ash\"} 0");
	ck_line(page, "# TYPE routectl_service_state gauge");
	ck_assert_uint_eq(count_lines(page, "routectl_service_state{"), 0);
	ck_assert_uint_eq(count_lines(page, "routectl_service_prepend{"), 0);
	ck_assert_ptr_null(strstr(page, "routectl_apply_duration_seconds"));  /* no apply_stats */
	ck_assert_ptr_null(strstr(page, "routectl_http_requests_total"));
	ck_assert_ptr_null(strstr(page, "routectl_audit_"));
	char said[4096];
	ck_assert_msg(promtool_check(page, said, sizeof said) == 0, "promtool: %s", said);
	free(page);

	page = metrics_render(NULL, NULL, NULL);
	ck_assert_ptr_nonnull(page);
	ck_assert_uint_eq(count_lines(page, "# TYPE "), 1);
	ck_line(page, "routectl_build_info{version=\"" ROUTECTL_VERSION "\"} 1");
	free(page);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *t = tcase_create("metrics");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, exact_lines);
	tcase_add_test(t, histogram_cumulative);
	tcase_add_test(t, label_escaping);
	tcase_add_test(t, listener_up);
	tcase_add_test(t, promtool_accepts_page);
	tcase_add_test(t, http_table_bounded);
	tcase_add_test(t, safe_mode_and_missing_sources);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(metrics_suite());
}
