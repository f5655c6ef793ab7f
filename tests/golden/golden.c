/* Golden tests of the generated BIRD include.
 *
 *   golden CASES_DIR        render every CASES_DIR/<case>/ and compare with
 *                           its expected.conf byte for byte; with
 *                           ROUTECTL_GOLDEN_UPDATE=1, rewrite expected.conf
 *   golden --render CASE    print the render of one case on stdout
 *
 * A case directory holds case.json (below), expected.conf and, optionally,
 * template.tmpl (used instead of the built-in template):
 *
 *   { "site": "ash", "local_as": 65001, "generation": 7,
 *     "services": [ { "name": "web", "prefixes": ["192.0.2.0/24"],
 *                     "mode": "prepend", "prepend": 3,
 *                     "actor": "alice", "reason": "drill",
 *                     "since": "2025-11-25T10:29:28Z", "change_id": "...",
 *                     "next_mode": "withdraw", "next_at": "..." } ] }
 *
 * Services and prefixes are sorted as the config loader sorts them. Where
 * BIRD is installed (ROUTECTL_BIRD or /usr/sbin/bird), each render is also
 * included from bird-templates/bird.conf.example and parsed with `bird -p`. */
#include "common/buf.h"
#include "common/diff.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/model.h"
#include "common/timeutil.h"
#include "conf/conf.h"
#include "render/render.h"
#include "store/store.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CASE_MAX (16 * 1024 * 1024)
#define EXAMPLE_INCLUDE "include \"/etc/bird/routectl.conf\";"

struct gcase {
	struct conf c;
	struct state st;
	char path[PATH_MAX];
};

static char *dup_or_null(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? strdup(s) : NULL;
}

static void gcase_free(struct gcase *g)
{
	for (size_t i = 0; i < g->c.n_services; i++) {
		free(g->c.services[i].name);
		free(g->c.services[i].prefixes);
	}
	for (size_t i = 0; i < g->st.n; i++) {
		free(g->st.svcs[i].name);
		free(g->st.svcs[i].actor);
		free(g->st.svcs[i].reason);
		free(g->st.svcs[i].change_id);
	}
	free(g->c.services);
	free(g->st.svcs);
	free(g->c.site);
	free(g->c.template_path);
	free(g->st.site);
}

static int cmp_prefix(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

/* Services and their state move together when sorted. */
struct svc_pair {
	struct conf_service cs;
	struct svc_state ss;
};

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(((const struct svc_pair *)a)->cs.name, ((const struct svc_pair *)b)->cs.name);
}

static int get_time(json_t *o, const char *key, time_t *out, const char *where, struct err *e)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_string(v) || time_parse_utc(json_string_value(v), out) < 0)
		return err_set(e, ERR_INVALID, "%s: '%s' is not an RFC 3339 time", where, key);
	return 0;
}

static int get_mode(json_t *o, const char *key, enum svc_mode *out, const char *where,
		    struct err *e)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s || svc_mode_parse(s, out) < 0)
		return err_set(e, ERR_INVALID, "%s: '%s' must be announce, prepend or withdraw",
			       where, key);
	return 0;
}

static int load_service(json_t *js, size_t idx, struct svc_pair *p, const char *file,
			struct err *e)
{
	char where[PATH_MAX + 64];
	snprintf(where, sizeof where, "%s: services[%zu]", file, idx);
	const char *name = json_string_value(json_object_get(js, "name"));
	if (!name)
		return err_set(e, ERR_INVALID, "%s: 'name' is missing", where);
	p->cs.name = strdup(name);
	p->ss.name = strdup(name);
	json_t *pfx = json_object_get(js, "prefixes");
	if (pfx && !json_is_array(pfx))
		return err_set(e, ERR_INVALID, "%s: 'prefixes' must be an array", where);
	size_t n = json_array_size(pfx);
	p->cs.prefixes = calloc(n ? n : 1, sizeof *p->cs.prefixes);
	for (size_t k = 0; k < n; k++) {
		const char *t = json_string_value(json_array_get(pfx, k));
		char why[256] = "not a string";
		if (!t || prefix_parse(t, &p->cs.prefixes[k], why, sizeof why) < 0)
			return err_set(e, ERR_INVALID, "%s: prefixes[%zu]: %s", where, k, why);
	}
	p->cs.n_prefixes = n;
	qsort(p->cs.prefixes, n, sizeof *p->cs.prefixes, cmp_prefix);

	int rc = get_mode(js, "mode", &p->ss.mode, where, e);
	if (rc < 0)
		return rc;
	p->ss.prepend = (unsigned)json_integer_value(json_object_get(js, "prepend"));
	p->ss.actor = dup_or_null(js, "actor");
	p->ss.reason = dup_or_null(js, "reason");
	p->ss.change_id = dup_or_null(js, "change_id");
	if ((rc = get_time(js, "since", &p->ss.since, where, e)) < 0)
		return rc;
	if (json_object_get(js, "next_mode")) {
		p->ss.has_next = 1;
		if ((rc = get_mode(js, "next_mode", &p->ss.next_mode, where, e)) < 0 ||
		    (rc = get_time(js, "next_at", &p->ss.next_at, where, e)) < 0)
			return rc;
		p->ss.next_prepend = (unsigned)json_integer_value(json_object_get(js, "next_prepend"));
	}
	return 0;
}

static int load_case(const char *dir, struct gcase *g, struct err *e)
{
	memset(g, 0, sizeof *g);
	char file[PATH_MAX];
	snprintf(file, sizeof file, "%s/case.json", dir);
	snprintf(g->path, sizeof g->path, "%s", dir);
	json_error_t je;
	json_t *root = json_load_file(file, 0, &je);
	if (!root)
		return err_set(e, ERR_INVALID, "%s:%d: %s", file, je.line, je.text);
	int rc = 0;
	g->c.site = dup_or_null(root, "site");
	g->st.site = dup_or_null(root, "state_site");
	if (!g->st.site && g->c.site)
		g->st.site = strdup(g->c.site);
	g->c.local_as = (uint32_t)json_integer_value(json_object_get(root, "local_as"));
	g->st.generation = (uint64_t)json_integer_value(json_object_get(root, "generation"));

	json_t *svcs = json_object_get(root, "services");
	size_t n = json_array_size(svcs);
	struct svc_pair *pairs = calloc(n ? n : 1, sizeof *pairs);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = load_service(json_array_get(svcs, i), i, &pairs[i], file, e);
	if (rc == 0) {
		qsort(pairs, n, sizeof *pairs, cmp_pair);
		for (size_t i = 1; i < n && rc == 0; i++)
			if (strcmp(pairs[i - 1].cs.name, pairs[i].cs.name) == 0)
				rc = err_set(e, ERR_INVALID, "%s: service '%s' appears twice", file,
					     pairs[i].cs.name);
	}
	g->c.services = calloc(n ? n : 1, sizeof *g->c.services);
	g->st.svcs = calloc(n ? n : 1, sizeof *g->st.svcs);
	for (size_t i = 0; i < n; i++) {
		g->c.services[i] = pairs[i].cs;
		g->st.svcs[i] = pairs[i].ss;
	}
	g->c.n_services = g->st.n = n;
	free(pairs);
	json_decref(root);

	char tmpl[PATH_MAX];
	snprintf(tmpl, sizeof tmpl, "%s/template.tmpl", dir);
	if (access(tmpl, F_OK) == 0)
		g->c.template_path = strdup(tmpl);
	return rc;
}

static int render_case(const char *dir, struct buf *out, struct err *e)
{
	struct gcase g;
	char *tmpl = NULL;
	int rc = load_case(dir, &g, e);
	if (rc == 0)
		rc = render_load_template(&g.c, &tmpl, e);
	if (rc == 0)
		rc = render_include(&g.c, &g.st, tmpl, out, e);
	free(tmpl);
	gcase_free(&g);
	return rc;
}

/* ---- BIRD parse check --------------------------------------------------- */

static const char *bird_path(void)
{
	const char *p = getenv("ROUTECTL_BIRD");
	if (p && *p)
		return p;
	return access("/usr/sbin/bird", X_OK) == 0 ? "/usr/sbin/bird" : NULL;
}

static char *load_example(const char *cases_dir)
{
	char path[PATH_MAX];
	const char *root = getenv("ROUTECTL_SOURCE_ROOT");
	if (root && *root)
		snprintf(path, sizeof path, "%s/bird-templates/bird.conf.example", root);
	else
		snprintf(path, sizeof path, "%s/../../../bird-templates/bird.conf.example", cases_dir);
	char *text = NULL;
	struct err e = { 0 };
	if (fs_read_file(path, 1 << 20, &text, NULL, &e) < 0) {
		fprintf(stderr, "golden: %s\n", e.msg);
		return NULL;
	}
	return text;
}

/* Includes the render from the example bird.conf and runs `bird -p`.
 * Returns 0 when BIRD accepts it. */
static int bird_parse(const char *bird, const char *example, const char *rendered,
		      const char *name)
{
	char dir[] = "/tmp/golden.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("golden: mkdtemp");
		return -1;
	}
	char inc[PATH_MAX], conf[PATH_MAX], log[PATH_MAX], cmd[3 * PATH_MAX];
	snprintf(inc, sizeof inc, "%s/routectl.conf", dir);
	snprintf(conf, sizeof conf, "%s/bird.conf", dir);
	snprintf(log, sizeof log, "%s/bird.out", dir);
	const char *at = strstr(example, EXAMPLE_INCLUDE);
	struct buf b = { 0 };
	int rc = -1;
	if (!at) {
		fprintf(stderr, "golden: bird.conf.example lacks the line %s\n", EXAMPLE_INCLUDE);
		goto out;
	}
	buf_append(&b, example, (size_t)(at - example));
	buf_printf(&b, "include \"%s\";", inc);
	buf_puts(&b, at + strlen(EXAMPLE_INCLUDE));
	if (fs_write_atomic(inc, rendered, strlen(rendered), 0644, NULL) < 0 ||
	    fs_write_atomic(conf, b.p, b.len, 0644, NULL) < 0)
		goto out;
	snprintf(cmd, sizeof cmd, "'%s' -p -c '%s' > '%s' 2>&1", bird, conf, log);
	int st = system(cmd);
	rc = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
	if (rc < 0) {
		char *msg = NULL;
		fs_read_file(log, 1 << 16, &msg, NULL, NULL);
		printf("FAIL %s: bird -p rejects the render: %s", name, msg ? msg : "?\n");
		free(msg);
	}
out:
	buf_free(&b);
	unlink(inc);
	unlink(conf);
	unlink(log);
	rmdir(dir);
	return rc;
}

/* ---- main --------------------------------------------------------------- */

static int only_dirs(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

static int run_cases(const char *cases_dir)
{
	int update = getenv("ROUTECTL_GOLDEN_UPDATE") &&
		     strcmp(getenv("ROUTECTL_GOLDEN_UPDATE"), "1") == 0;
	const char *bird = bird_path();
	char *example = bird ? load_example(cases_dir) : NULL;
	if (bird && !example)
		return 1;
	if (!bird)
		printf("note: bird not found, the bird -p checks are skipped\n");

	struct dirent **names;
	int n = scandir(cases_dir, &names, only_dirs, alphasort);
	if (n < 0) {
		perror(cases_dir);
		free(example);
		return 1;
	}
	int failed = 0, cases = 0;
	for (int i = 0; i < n; i++) {
		char dir[PATH_MAX];
		struct stat sb;
		snprintf(dir, sizeof dir, "%s/%s", cases_dir, names[i]->d_name);
		const char *name = names[i]->d_name;
		if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		cases++;
		struct err e = { 0 };
		struct buf got = { 0 };
		if (render_case(dir, &got, &e) < 0) {
			printf("FAIL %s: %s\n", name, e.msg);
			failed++;
			buf_free(&got);
			continue;
		}
		char expected_path[PATH_MAX];
		snprintf(expected_path, sizeof expected_path, "%s/expected.conf", dir);
		char *want = NULL;
		int rc = fs_read_file(expected_path, CASE_MAX, &want, NULL, &e);
		const char *text = got.p ? got.p : "";
		if (update) {
			/* Even a new expectation must be something BIRD takes. */
			if (bird && bird_parse(bird, example, text, name) < 0) {
				failed++;
			} else if (rc == 0 && strcmp(want, text) == 0) {
				printf("same %s\n", name);
			} else if (fs_write_atomic(expected_path, text, strlen(text), 0644, &e) < 0) {
				printf("FAIL %s: %s\n", name, e.msg);
				failed++;
			} else {
				printf("updated %s\n", name);
			}
		} else if (rc < 0) {
			printf("FAIL %s: %s (ROUTECTL_GOLDEN_UPDATE=1 writes it)\n", name, e.msg);
			failed++;
		} else if (strcmp(want, text) != 0) {
			struct buf d = { 0 };
			char label[PATH_MAX + 16];
			snprintf(label, sizeof label, "%s (rendered)", expected_path);
			diff_unified(want, text, expected_path, label, &d);
			printf("FAIL %s: render differs from expected.conf\n%s", name, d.p ? d.p : "");
			buf_free(&d);
			failed++;
		} else if (bird && bird_parse(bird, example, text, name) < 0) {
			failed++;
		} else {
			printf("ok   %s%s\n", name, bird ? " (bird -p ok)" : "");
		}
		free(want);
		buf_free(&got);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(example);
	if (cases == 0) {
		printf("FAIL: no cases under %s\n", cases_dir);
		return 1;
	}
	printf("%d of %d golden cases passed\n", cases - failed, cases);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--render") == 0) {
		struct err e = { 0 };
		struct buf out = { 0 };
		if (render_case(argv[2], &out, &e) < 0) {
			fprintf(stderr, "golden: %s\n", e.msg);
			buf_free(&out);
			return 1;
		}
		fwrite(out.p ? out.p : "", 1, out.len, stdout);
		buf_free(&out);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: golden CASES_DIR | golden --render CASE_DIR\n");
		return 2;
	}
	return run_cases(argv[1]);
}
