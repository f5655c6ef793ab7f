/* The routes documented in api/openapi.yaml against the routes the command
 * layer serves (commands_routes(), api/commands.h): every documented route
 * must be served and every served route documented, so that the document
 * cannot drift from routectl/api/commands.c unnoticed.
 *
 * The document is read with a small line parser, not a YAML library: the
 * layout the document keeps is that of every OpenAPI document written by
 * hand (a path is a key at indent 2 under the top-level "paths:", an
 * operation a key at indent 4 under its path), and the parser refuses what
 * it cannot follow rather than skip it. */
#include "api/commands.h"
#include "testutil.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One operation of the document: "GET" and "/v1/status". */
struct doc_route {
	char method[8];
	char path[128];
};

struct doc_routes {
	struct doc_route *v;
	size_t n;
};

static void doc_routes_free(struct doc_routes *d)
{
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/* The operation keys of a path item (OpenAPI 3.0, "Path Item Object"). */
static const char *const METHODS[] = { "get", "put", "post", "delete",
				       "options", "head", "patch", "trace" };

/* The key of a "key: value" or "key:" line (text after the indentation)
 * into key; a quoted key loses its quotes. Returns 0, or -1 when the line
 * is not a mapping key. */
static int line_key(const char *text, char *key, size_t size)
{
	const char *end;
	if (text[0] == '"' || text[0] == '\'') {
		end = strchr(text + 1, text[0]);
		if (!end || end[1] != ':')
			return -1;
		text++;
	} else {
		end = text;
		while (*end && !(*end == ':' && (end[1] == '\0' || end[1] == ' ')))
			end++;
		if (!*end)
			return -1;
	}
	size_t n = (size_t)(end - text);
	if (n == 0 || n >= size)
		return -1;
	memcpy(key, text, n);
	key[n] = '\0';
	return 0;
}

static int is_method(const char *key)
{
	for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
		if (strcmp(key, METHODS[i]) == 0)
			return 1;
	return 0;
}

/* Reads the operations under the top-level "paths:" of the OpenAPI document
 * at file into *out (the caller frees it with doc_routes_free): a path is a
 * key at indent 2 that starts with '/' (keys starting with "x-" are
 * extensions and skipped), an operation is a key at indent 4 that is an HTTP
 * method, stored upper-case. Returns 0, or -1 with why naming the file, the
 * line and what it could not follow: no "paths:", a tab in the indentation,
 * a path key without '/', an operation before any path, a path item $ref,
 * an operation listed twice. */
static int doc_routes_load(const char *file, struct doc_routes *out, char *why, size_t why_size)
{
	memset(out, 0, sizeof *out);
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(why, why_size, "%s: cannot open it", file);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0, lineno = 0, alloc = 0;
	int in_paths = 0, seen_paths = 0, rc = 0;
	char path[sizeof out->v->path] = "";
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		size_t indent = strspn(line, " ");
		const char *text = line + indent;
		if (*text == '\t') {
			snprintf(why, why_size, "%s:%zu: a tab in the indentation", file, lineno);
			rc = -1;
			break;
		}
		if (*text == '\0' || *text == '#')
			continue;
		char key[sizeof out->v->path];
		if (indent == 0) {
			in_paths = line_key(text, key, sizeof key) == 0 && strcmp(key, "paths") == 0;
			seen_paths |= in_paths;
			continue;
		}
		if (!in_paths || (indent != 2 && indent != 4) || line_key(text, key, sizeof key) < 0)
			continue;
		if (indent == 2) {
			if (strncmp(key, "x-", 2) == 0) {
				path[0] = '\0';
				continue;
			}
			if (key[0] != '/') {
				snprintf(why, why_size, "%s:%zu: path '%s' does not start with '/'", file,
					 lineno, key);
				rc = -1;
				break;
			}
			snprintf(path, sizeof path, "%s", key);
			continue;
		}
		if (strcmp(key, "$ref") == 0 && path[0]) {
			snprintf(why, why_size, "%s:%zu: path %s is a $ref; this test reads "
				 "operations written under their path only", file, lineno, path);
			rc = -1;
			break;
		}
		if (!is_method(key))
			continue;
		if (!path[0]) {
			snprintf(why, why_size, "%s:%zu: operation '%s' outside a path", file, lineno,
				 key);
			rc = -1;
			break;
		}
		struct doc_route r = { "", "" };
		for (size_t i = 0; key[i] && i + 1 < sizeof r.method; i++)
			r.method[i] = (char)toupper((unsigned char)key[i]);
		snprintf(r.path, sizeof r.path, "%s", path);
		for (size_t i = 0; i < out->n; i++) {
			if (strcmp(out->v[i].method, r.method) == 0 &&
			    strcmp(out->v[i].path, r.path) == 0) {
				snprintf(why, why_size, "%s:%zu: %s %s is documented twice", file,
					 lineno, r.method, r.path);
				rc = -1;
			}
		}
		if (rc < 0)
			break;
		if (out->n == alloc) {
			alloc = alloc ? 2 * alloc : 16;
			struct doc_route *v = realloc(out->v, alloc * sizeof *v);
			ck_assert_ptr_nonnull(v);
			out->v = v;
		}
		out->v[out->n++] = r;
	}
	free(line);
	fclose(f);
	if (rc == 0 && !seen_paths) {
		snprintf(why, why_size, "%s: no top-level 'paths:'", file);
		rc = -1;
	}
	if (rc < 0)
		doc_routes_free(out);
	return rc;
}

/* Appends one line to msg (size bytes, kept NUL-terminated, cut when full). */
static void msg_add(char *msg, size_t size, const char *what, const char *method,
		    const char *path)
{
	size_t used = strlen(msg);
	if (used + 1 < size)
		snprintf(msg + used, size - used, "%s: %s %s\n", what, method, path);
}

/* Compares the documented routes with the served ones both ways. msg gets
 * one line per route found on one side only, naming it and the side it is
 * missing from. Returns how many such routes there are. */
static size_t routes_compare(const struct doc_routes *doc, const struct command_route *served,
			     size_t n_served, char *msg, size_t size)
{
	size_t missing = 0;
	msg[0] = '\0';
	for (size_t i = 0; i < n_served; i++) {
		int found = 0;
		for (size_t k = 0; k < doc->n && !found; k++)
			found = strcmp(doc->v[k].method, served[i].method) == 0 &&
				strcmp(doc->v[k].path, served[i].path) == 0;
		if (!found) {
			msg_add(msg, size, "served by commands.c but not documented", served[i].method,
				served[i].path);
			missing++;
		}
	}
	for (size_t k = 0; k < doc->n; k++) {
		int found = 0;
		for (size_t i = 0; i < n_served && !found; i++)
			found = strcmp(doc->v[k].method, served[i].method) == 0 &&
				strcmp(doc->v[k].path, served[i].path) == 0;
		if (!found) {
			msg_add(msg, size, "documented but not served by commands.c", doc->v[k].method,
				doc->v[k].path);
			missing++;
		}
	}
	return missing;
}

/* Writes text to a fresh temporary file whose name goes into path. */
static void write_temp(const char *text, char *path, size_t size)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, size, "%s/test_openapi.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	tu_write_all(fd, text, strlen(text));
	ck_assert_int_eq(close(fd), 0);
}

/* The document of the tree against the routes commands.c serves. */
START_TEST(document_matches_served_routes)
{
	char file[4096], why[1024];
	snprintf(file, sizeof file, "%s/api/openapi.yaml", tu_source_root());
	struct doc_routes doc;
	ck_assert_msg(doc_routes_load(file, &doc, why, sizeof why) == 0, "%s", why);
	ck_assert_msg(doc.n > 0, "%s documents no operation under paths:", file);
	size_t n_served = 0;
	const struct command_route *served = commands_routes(&n_served);
	char msg[8192];
	size_t missing = routes_compare(&doc, served, n_served, msg, sizeof msg);
	ck_assert_msg(missing == 0, "%s and routectl/api/commands.c disagree on %zu routes:\n%s",
		      file, missing, msg);
	doc_routes_free(&doc);
}
END_TEST

/* The served routes are ones a document can list: an upper-case method the
 * parser reads, a path from the root, each once. */
START_TEST(served_routes_are_documentable)
{
	size_t n = 0;
	const struct command_route *r = commands_routes(&n);
	ck_assert_uint_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		char lower[8] = "";
		ck_assert_uint_lt(strlen(r[i].method), sizeof lower);
		for (size_t k = 0; r[i].method[k]; k++) {
			ck_assert_msg(isupper((unsigned char)r[i].method[k]), "method %s",
				      r[i].method);
			lower[k] = (char)tolower((unsigned char)r[i].method[k]);
		}
		ck_assert_msg(is_method(lower), "%s %s: not an OpenAPI operation", r[i].method,
			      r[i].path);
		ck_assert_msg(r[i].path[0] == '/', "path %s", r[i].path);
		for (size_t k = 0; k < i; k++)
			ck_assert_msg(strcmp(r[i].method, r[k].method) != 0 ||
					      strcmp(r[i].path, r[k].path) != 0,
				      "%s %s is served twice", r[i].method, r[i].path);
	}
}
END_TEST

/* The comparison names what is missing on either side, and the parser
 * takes only the operations under the top-level paths: (quoted keys,
 * path-level parameters, block scalars and other sections do not fool it). */
START_TEST(compare_names_routes_missing_on_either_side)
{
	static const char text[] =
		"openapi: 3.0.3\n"
		"info:\n"
		"  title: t\n"
		"  description: |\n"
		"    paths:\n"
		"      /v1/fake:\n"
		"        get: {}\n"
		"paths:\n"
		"  # a comment\n"
		"  /v1/status:\n"
		"    get:\n"
		"      description: |\n"
		"        post:\n"
		"    post:\n"
		"      responses: {}\n"
		"\n"
		"  x-note: not a path\n"
		"  \"/v1/services/{service}\":\n"
		"    parameters: []\n"
		"    summary: one service\n"
		"    put:\n"
		"      responses: {}\n"
		"components:\n"
		"  /v1/ghost:\n"
		"    delete: {}\n";
	char file[4096], why[1024];
	write_temp(text, file, sizeof file);
	struct doc_routes doc;
	ck_assert_msg(doc_routes_load(file, &doc, why, sizeof why) == 0, "%s", why);
	unlink(file);
	ck_assert_uint_eq(doc.n, 3);
	ck_assert_str_eq(doc.v[0].method, "GET");
	ck_assert_str_eq(doc.v[0].path, "/v1/status");
	ck_assert_str_eq(doc.v[1].method, "POST");
	ck_assert_str_eq(doc.v[2].method, "PUT");
	ck_assert_str_eq(doc.v[2].path, "/v1/services/{service}");

	static const struct command_route served[] = {
		{ "GET", "/v1/status" },
		{ "PUT", "/v1/services/{service}" },
		{ "GET", "/healthz" },
		{ "GET", "/v1/services/{service}" },
	};
	char msg[2048];
	ck_assert_uint_eq(routes_compare(&doc, served, 4, msg, sizeof msg), 3);
	ck_assert_msg(strstr(msg, "served by commands.c but not documented: GET /healthz\n"),
		      "%s", msg);
	ck_assert_msg(strstr(msg, "served by commands.c but not documented: GET "
				  "/v1/services/{service}\n"), "%s", msg);
	ck_assert_msg(strstr(msg, "documented but not served by commands.c: POST /v1/status\n"),
		      "%s", msg);
	ck_assert_msg(!strstr(msg, "GET /v1/status") && !strstr(msg, "PUT") &&
			      !strstr(msg, "ghost") && !strstr(msg, "fake"), "%s", msg);

	ck_assert_uint_eq(routes_compare(&doc, served, 2, msg, sizeof msg), 1);
	ck_assert_str_eq(msg, "documented but not served by commands.c: POST /v1/status\n");
	doc_routes_free(&doc);
}
END_TEST

/* A document the parser cannot follow fails the test, naming the line,
 * instead of passing with routes left out. */
START_TEST(parser_refuses_what_it_cannot_follow)
{
	static const struct {
		const char *text;
		const char *why;   /* a part of the message */
	} cases[] = {
		{ "openapi: 3.0.3\ninfo:\n  title: t\n", "no top-level 'paths:'" },
		{ "paths:\n    get:\n      responses: {}\n", ":2: operation 'get' outside a path" },
		{ "paths:\n  /a:\n    get: {}\n  /a:\n    get: {}\n", ":5: GET /a is documented twice" },
		{ "paths:\n  /a:\n\t  get: {}\n", ":3: a tab in the indentation" },
		{ "paths:\n  v1/status:\n    get: {}\n", ":2: path 'v1/status' does not start" },
		{ "paths:\n  /a:\n    $ref: \"other.yaml#/a\"\n", ":3: path /a is a $ref" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char file[4096], why[1024] = "";
		write_temp(cases[i].text, file, sizeof file);
		struct doc_routes doc;
		int rc = doc_routes_load(file, &doc, why, sizeof why);
		unlink(file);
		ck_assert_msg(rc == -1, "case %zu was read: %zu routes", i, doc.n);
		ck_assert_msg(strstr(why, cases[i].why) && strstr(why, file), "case %zu: %s", i,
			      why);
		ck_assert_ptr_null(doc.v);
	}
	char why[1024];
	struct doc_routes doc;
	ck_assert_int_eq(doc_routes_load("/nonexistent/openapi.yaml", &doc, why, sizeof why), -1);
	ck_assert_str_eq(why, "/nonexistent/openapi.yaml: cannot open it");
}
END_TEST

static Suite *openapi_suite(void)
{
	Suite *s = suite_create("openapi");
	TCase *tc = tcase_create("routes");
	tcase_add_test(tc, document_matches_served_routes);
	tcase_add_test(tc, served_routes_are_documentable);
	tcase_add_test(tc, compare_names_routes_missing_on_either_side);
	tcase_add_test(tc, parser_refuses_what_it_cannot_follow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(openapi_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
