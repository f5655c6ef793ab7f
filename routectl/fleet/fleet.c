#include "fleet/fleet.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/yangctx.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libyang/libyang.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FLEET_TOP "routectl-fleet:fleet"
#define FLEET_ROOT "/" FLEET_TOP
#define DEFAULT_TIMEOUT_MS 10000u
/* A token file is read this far: its first line is the token. */
#define TOKEN_FILE_HEAD 4096

/* ---- the document ------------------------------------------------------- */

static int copy_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

/* A token may not carry what would end or split the header line. */
static bool token_usable(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x21 || (unsigned char)*t == 0x7f)
			return false;
	return true;
}

/* Fills tok->secret from the environment or the file's first line, or
 * tok->error with what was found there. Returns -1 on ENOMEM only. */
static int resolve_token(struct fleet_token *tok, const char *router, const char *which)
{
	char why[600];
	why[0] = '\0';
	char *value = NULL;
	if (tok->from_env) {
		const char *v = getenv(tok->ref);
		if (!v)
			snprintf(why, sizeof why, "the environment variable %s is not set", tok->ref);
		else if (!*v)
			snprintf(why, sizeof why, "the environment variable %s is empty", tok->ref);
		else if (!(value = strdup(v)))
			return -1;
	} else {
		struct err fe;
		size_t len = 0;
		int rc = fs_read_file_flags(tok->ref, TOKEN_FILE_HEAD, FS_READ_HEAD, &value, &len,
					    &fe);
		if (rc == -ERR_NOMEM)
			return -1;
		if (rc < 0) {
			snprintf(why, sizeof why, "%s", fe.msg);
		} else {
			value[strcspn(value, "\n")] = '\0';
			size_t n = strlen(value);
			while (n && isspace((unsigned char)value[n - 1]))
				value[--n] = '\0';
			if (!n)
				snprintf(why, sizeof why, "the first line of the file %s is empty",
					 tok->ref);
		}
	}
	if (!why[0] && strlen(value) > FLEET_TOKEN_MAX)
		snprintf(why, sizeof why, "the token in %s %s is longer than %u bytes",
			 tok->from_env ? "the environment variable" : "the file", tok->ref,
			 FLEET_TOKEN_MAX);
	else if (!why[0] && !token_usable(value))
		snprintf(why, sizeof why, "the token in %s %s has spaces or control characters",
			 tok->from_env ? "the environment variable" : "the file", tok->ref);
	if (why[0]) {
		free(value);
		char msg[800];
		snprintf(msg, sizeof msg, "router %s: %s: %s", router, which, why);
		tok->error = strdup(msg);
		return tok->error ? 0 : -1;
	}
	tok->secret = value;
	return 0;
}

static int fill_token(const struct lyd_node *router, const char *container,
		      struct fleet_token *tok, const char *router_name)
{
	char path[64];
	snprintf(path, sizeof path, "%s/env", container);
	const char *env = yangctx_get(router, path);
	snprintf(path, sizeof path, "%s/file", container);
	const char *file = yangctx_get(router, path);
	tok->from_env = env != NULL;
	if (copy_str(&tok->ref, env ? env : file) < 0)
		return -1;
	if (!tok->ref)   /* YANG makes the choice mandatory */
		return 0;
	return resolve_token(tok, router_name, container);
}

static int fill_router(const struct lyd_node *node, struct fleet_router *r, const char *site)
{
	r->site = site;
	if (copy_str(&r->name, yangctx_get(node, "name")) < 0 ||
	    copy_str(&r->api_url, yangctx_get(node, "api-url")) < 0 ||
	    copy_str(&r->oob_url, yangctx_get(node, "oob-url")) < 0)
		return -1;
	/* "/v1/..." is appended: a base written with a final '/' would
	 * make "//v1/..." */
	for (char *u = r->api_url; u; u = u == r->api_url ? r->oob_url : NULL) {
		size_t n = strlen(u);
		while (n > 8 && u[n - 1] == '/')
			u[--n] = '\0';
	}
	if (fill_token(node, "token", &r->token, r->name) < 0)
		return -1;
	struct lyd_node *oob = NULL;
	if (lyd_find_path(node, "oob-token", 0, &oob) == LY_SUCCESS && oob) {
		r->has_oob_token = true;
		if (fill_token(node, "oob-token", &r->oob_token, r->name) < 0)
			return -1;
	}
	return 0;
}

static int fill_fleet(const struct lyd_node *tree, const char *what, void *arg, struct err *e)
{
	struct fleet *f = arg;
	struct lyd_node *root = NULL;
	if (lyd_find_path(tree, FLEET_ROOT, 0, &root) != LY_SUCCESS || !root)
		return err_set(e, ERR_INVALID, "%s: no %s", what, FLEET_TOP);
	size_t ns = yangctx_count_children(root, "site");
	f->sites = calloc(ns ? ns : 1, sizeof *f->sites);
	if (!f->sites)
		goto nomem;
	for (const struct lyd_node *s = lyd_child(root); s; s = s->next) {
		if (!s->schema || strcmp(s->schema->name, "site") != 0)
			continue;
		struct fleet_site *site = &f->sites[f->n_sites++];
		if (copy_str(&site->name, yangctx_get(s, "name")) < 0)
			goto nomem;
		size_t nr = yangctx_count_children(s, "router");
		site->routers = calloc(nr ? nr : 1, sizeof *site->routers);
		if (!site->routers)
			goto nomem;
		for (const struct lyd_node *r = lyd_child(s); r; r = r->next) {
			if (!r->schema || strcmp(r->schema->name, "router") != 0)
				continue;
			if (fill_router(r, &site->routers[site->n_routers++], site->name) < 0)
				goto nomem;
		}
	}
	return 0;
nomem:
	return err_set(e, ERR_NOMEM, "%s: out of memory", what);
}

/* libyang names only the schema node of a missing mandatory choice, not
 * the router: say which router lacks a token reference. */
static void check_token_ref(json_t *r, const char *key, bool mandatory, const char *path,
			    const char *what, struct err *e)
{
	json_t *t = json_object_get(r, key);
	if (!t && !mandatory)
		return;
	if (json_is_object(t) && (json_object_get(t, "env") || json_object_get(t, "file")))
		return;
	if (t && !json_is_object(t))
		return;   /* the type check reports it */
	char p[600];
	snprintf(p, sizeof p, "%s/%s", path, key);
	yangctx_report(e, what, p, "%s; it is mandatory: {\"env\": VARIABLE} or "
		       "{\"file\": PATH}", t ? "neither env nor file" : "missing");
}

/* Router names identify a router in every message and in --json: YANG only
 * keeps them unique within a site. */
static void check_document(void *arg, json_t *doc, const char *what, struct err *e)
{
	(void)arg;
	json_t *sites = json_object_get(json_object_get(doc, FLEET_TOP), "site");
	if (!json_is_array(sites))
		return;
	size_t i, j;
	json_t *s, *r;
	json_t *seen = json_object();
	if (!seen)
		return;
	json_array_foreach(sites, i, s) {
		json_t *routers = json_object_get(s, "router");
		const char *sname = json_string_value(json_object_get(s, "name"));
		if (!json_is_array(routers) || !sname)
			continue;
		json_array_foreach(routers, j, r) {
			const char *rname = json_string_value(json_object_get(r, "name"));
			if (!rname)
				continue;
			char p[512];
			yangctx_entry_path(p, sizeof p, FLEET_ROOT, "site", "name", sname);
			size_t n = strlen(p);
			yangctx_entry_path(p + n, sizeof p - n, "", "router", "name", rname);
			check_token_ref(r, "token", true, p, what, e);
			check_token_ref(r, "oob-token", false, p, what, e);
			const char *other = json_string_value(json_object_get(seen, rname));
			if (other) {
				yangctx_report(e, what, p, "router %s is also listed under site %s; "
					       "router names must be unique in the fleet", rname, other);
			} else {
				json_object_set_new(seen, rname, json_string(sname));
			}
		}
	}
	json_decref(seen);
}

int fleet_parse(const char *json, const char *name, struct fleet **out, struct err *e)
{
	*out = NULL;
	struct fleet *f = calloc(1, sizeof *f);
	if (!f || !(f->source = strdup(name))) {
		free(f);
		return err_set(e, ERR_NOMEM, "fleet %s: out of memory", name);
	}
	char what[512];
	snprintf(what, sizeof what, "fleet %s", name);
	struct yangctx_checks checks = { .document = check_document };
	int rc = yangctx_read_document(json, "routectl-fleet", what, &checks, fill_fleet, f, e);
	if (rc < 0) {
		fleet_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int fleet_load(const char *path, struct fleet **out, struct err *e)
{
	*out = NULL;
	char *data = NULL;
	struct err fe;
	int rc = fs_read_file(path, FLEET_MAX_FILE_SIZE, &data, NULL, &fe);
	if (rc < 0)
		return err_set(e, fe.code, "fleet %s", fe.msg);
	rc = fleet_parse(data, path, out, e);
	free(data);
	return rc;
}

static void token_free(struct fleet_token *t)
{
	free(t->ref);
	if (t->secret) {
		/* not left behind in freed memory */
		memset(t->secret, 0, strlen(t->secret));
		free(t->secret);
	}
	free(t->error);
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_sites; i++) {
		struct fleet_site *s = &f->sites[i];
		for (size_t j = 0; j < s->n_routers; j++) {
			struct fleet_router *r = &s->routers[j];
			free(r->name);
			free(r->api_url);
			free(r->oob_url);
			token_free(&r->token);
			token_free(&r->oob_token);
		}
		free(s->routers);
		free(s->name);
	}
	free(f->sites);
	free(f->source);
	free(f);
}

int fleet_check_tokens(const struct fleet *f, struct err *e)
{
	int rc = 0;
	err_clear(e);
	for (size_t i = 0; i < f->n_sites; i++)
		for (size_t j = 0; j < f->sites[i].n_routers; j++) {
			const struct fleet_router *r = &f->sites[i].routers[j];
			const char *errs[2] = { r->token.error,
						r->has_oob_token ? r->oob_token.error : NULL };
			for (int k = 0; k < 2; k++) {
				if (!errs[k])
					continue;
				rc = rc ? err_append(e, ERR_NOTFOUND, "%s", errs[k])
					: err_set(e, ERR_NOTFOUND, "%s", errs[k]);
			}
		}
	return rc;
}

const struct fleet_site *fleet_find_site(const struct fleet *f, const char *name)
{
	for (size_t i = 0; name && i < f->n_sites; i++)
		if (strcmp(f->sites[i].name, name) == 0)
			return &f->sites[i];
	return NULL;
}

/* ---- calls -------------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One router's request: the primary endpoint, then perhaps the oob one. */
struct attempt {
	struct fleet_reply *reply;
	const struct fleet_router *router;
	CURL *easy;
	struct curl_slist *headers;
	struct buf rx;
	size_t max;
	bool too_big, nomem;
	bool on_oob;
	char *own_body;         /* site_per_router: the body with its site */
	char url[2400];
	char errbuf[CURL_ERROR_SIZE];
	long long start_ms, deadline_ms;
};

struct call {
	const char *method, *path, *body;
	const struct fleet_call_opts *opts;
	bool is_write;
	CURLM *multi;
	size_t active;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct attempt *a = ud;
	size_t len = size * nmemb;
	if (len > a->max - a->rx.len) {
		a->too_big = true;
		return 0;   /* CURLE_WRITE_ERROR */
	}
	if (buf_append(&a->rx, data, len) < 0) {
		a->nomem = true;
		return 0;
	}
	return len;
}

static void finish(struct attempt *a)
{
	a->reply->ms = (double)(now_ms() - a->start_ms);
}

/* The reply fails without anything sent: why says what. */
static void fail_unsent(struct attempt *a, const char *why)
{
	if (a->reply->primary_error[0])
		snprintf(a->reply->error, sizeof a->reply->error, "primary %s; out-of-band %s",
			 a->reply->primary_error, why);
	else
		snprintf(a->reply->error, sizeof a->reply->error, "%s", why);
	finish(a);
}

/* Appends a header line; false on ENOMEM (the list is kept as it was). */
static bool add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *n = curl_slist_append(*list, line);
	if (!n)
		return false;
	*list = n;
	return true;
}

/* Starts the request at the primary endpoint (oob false) or the
 * out-of-band one. Returns 0 when it is under way; -1 when it could not
 * start (reply->error says why; nothing was sent). */
static int start(struct call *c, struct attempt *a, bool oob)
{
	const struct fleet_router *r = a->router;
	const struct fleet_token *tok = oob && r->has_oob_token ? &r->oob_token : &r->token;
	const char *base = oob ? r->oob_url : r->api_url;
	a->on_oob = oob;
	if (!base) {
		char why[300];
		snprintf(why, sizeof why, "router %s has no oob-url in the fleet document "
			 "(--via oob); nothing was sent to it", r->name);
		fail_unsent(a, why);
		return -1;
	}
	if (!tok->secret) {
		fail_unsent(a, tok->error ? tok->error : "no token");
		return -1;
	}
	long long left = a->deadline_ms - now_ms();
	if (left <= 0) {
		char why[300];
		snprintf(why, sizeof why, "%s: no time left for it", base);
		fail_unsent(a, why);
		return -1;
	}
	snprintf(a->url, sizeof a->url, "%s%s", base, c->path);
	a->easy = curl_easy_init();
	if (!a->easy) {
		fail_unsent(a, "cannot set up libcurl");
		return -1;
	}
	char auth[FLEET_TOKEN_MAX + 32];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok->secret);
	bool nomem = !add_header(&a->headers, auth) ||
		     !add_header(&a->headers, "Accept: application/json") ||
		     (c->body && !add_header(&a->headers, "Content-Type: application/json"));
	memset(auth, 0, sizeof auth);
	for (const char *const *x = c->opts->headers; !nomem && x && *x; x++)
		nomem = !add_header(&a->headers, *x);
	if (nomem) {
		curl_easy_cleanup(a->easy);
		a->easy = NULL;
		curl_slist_free_all(a->headers);
		a->headers = NULL;
		fail_unsent(a, "out of memory");
		return -1;
	}
	struct curl_slist *h = a->headers;
	long connect_ms = left < FLEET_CONNECT_TIMEOUT_MS ? (long)left : FLEET_CONNECT_TIMEOUT_MS;
	if (!oob && r->oob_url && c->opts->via == FLEET_VIA_AUTO) {
		long share = (long)c->opts->timeout_ms * FLEET_PRIMARY_CONNECT_SHARE / 100;
		if (share > FLEET_PRIMARY_CONNECT_TIMEOUT_MS)
			share = FLEET_PRIMARY_CONNECT_TIMEOUT_MS;
		if (share < connect_ms)
			connect_ms = share > 0 ? share : 1;
	}
	CURL *x = a->easy;
	curl_easy_setopt(x, CURLOPT_URL, a->url);
	curl_easy_setopt(x, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x, CURLOPT_PROXY, "");
	curl_easy_setopt(x, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x, CURLOPT_NOSIGNAL, 1L);
	/* A read may be asked again elsewhere: a primary that takes it and
	 * does not answer (a flooded chat-ops path) gets a share of the
	 * deadline, and the oob the rest (done()). A write is not sent twice. */
	long total_ms = (long)left;
	if (!oob && r->oob_url && c->opts->via == FLEET_VIA_AUTO && !c->is_write) {
		long share = (long)(left * FLEET_PRIMARY_CONNECT_SHARE / 100);
		total_ms = share > 0 ? share : 1;
		if (connect_ms > total_ms)
			connect_ms = total_ms;
	}
	curl_easy_setopt(x, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(x, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(x, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(x, CURLOPT_USERAGENT, "routectl/" ROUTECTL_VERSION);
	curl_easy_setopt(x, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(x, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)a->max);
	curl_easy_setopt(x, CURLOPT_ERRORBUFFER, a->errbuf);
	curl_easy_setopt(x, CURLOPT_PRIVATE, a);
	if (strcmp(c->method, "GET") == 0) {
		curl_easy_setopt(x, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(x, CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(c->method, "POST") != 0)
			curl_easy_setopt(x, CURLOPT_CUSTOMREQUEST, c->method);
		const char *b = a->own_body ? a->own_body : c->body ? c->body : "";
		curl_easy_setopt(x, CURLOPT_POSTFIELDS, b);
		curl_easy_setopt(x, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(b));
		if (strcmp(c->method, "POST") != 0 && !c->body)
			curl_easy_setopt(x, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	a->errbuf[0] = '\0';
	if (curl_multi_add_handle(c->multi, x) != CURLM_OK) {
		curl_easy_cleanup(a->easy);
		a->easy = NULL;
		curl_slist_free_all(a->headers);
		a->headers = NULL;
		fail_unsent(a, "cannot add the request to libcurl");
		return -1;
	}
	c->active++;
	return 0;
}

static void release(struct call *c, struct attempt *a)
{
	if (a->easy) {
		curl_multi_remove_handle(c->multi, a->easy);
		curl_easy_cleanup(a->easy);
		a->easy = NULL;
	}
	curl_slist_free_all(a->headers);
	a->headers = NULL;
}

/* Nothing of the request left this host: another endpoint may be tried. */
static bool nothing_sent(CURLcode rc, long request_size)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		return request_size == 0;
	default:
		return false;
	}
}

static void describe(const struct attempt *a, CURLcode rc, long os_errno, long request_size,
		     char *out, size_t size)
{
	const char *base = a->on_oob ? a->router->oob_url : a->router->api_url;
	if (a->too_big)
		snprintf(out, size, "%s: the answer is larger than %zu bytes; not read", base,
			 a->max);
	else if (a->nomem)
		snprintf(out, size, "%s: out of memory reading the answer", base);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, size, "%s: %s", base,
			 request_size == 0 ? "could not connect in time" : "no answer in time");
	else if (rc == CURLE_COULDNT_CONNECT && os_errno)
		snprintf(out, size, "%s: cannot connect: %s", base, strerror((int)os_errno));
	else if (rc == CURLE_GOT_NOTHING)
		snprintf(out, size, "%s: the connection was closed before an answer came", base);
	else if (rc == CURLE_PARTIAL_FILE)
		snprintf(out, size, "%s: the connection was closed in the middle of the answer",
			 base);
	else
		snprintf(out, size, "%s: %s", base, a->errbuf[0] ? a->errbuf : curl_easy_strerror(rc));
}

/* One request is over: an answer, a failure, or a fallback started. */
static void done(struct call *c, struct attempt *a, CURLcode rc)
{
	long os_errno = 0, request_size = 0, status = 0;
	curl_easy_getinfo(a->easy, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(a->easy, CURLINFO_REQUEST_SIZE, &request_size);
	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_FILESIZE_EXCEEDED)
		a->too_big = true;
	struct fleet_reply *rep = a->reply;
	c->active--;
	if (rc == CURLE_OK && !a->nomem) {
		rep->status = status;
		rep->endpoint = a->on_oob ? "oob" : "primary";
		rep->body = buf_steal(&a->rx);
		if (!rep->body)
			rep->body = strdup("");
		rep->body_len = rep->body ? strlen(rep->body) : 0;
		release(c, a);
		finish(a);
		return;
	}
	char why[sizeof rep->error];
	describe(a, rc, os_errno, request_size, why, sizeof why);
	bool unsent = nothing_sent(rc, request_size) && !a->too_big;
	/* a read the primary did not answer in its share of the time */
	bool read_unanswered = !c->is_write && rc == CURLE_OPERATION_TIMEDOUT && !a->too_big;
	release(c, a);
	buf_free(&a->rx);
	a->too_big = a->nomem = false;
	if ((unsent || read_unanswered) && !a->on_oob && a->router->oob_url &&
	    c->opts->via == FLEET_VIA_AUTO) {
		snprintf(rep->primary_error, sizeof rep->primary_error, "%s", why);
		start(c, a, true);
		return;
	}
	if (unsent) {
		fail_unsent(a, why);
		return;
	}
	if (a->on_oob && rep->primary_error[0])
		snprintf(rep->error, sizeof rep->error, "primary %s; out-of-band %s",
			 rep->primary_error, why);
	else
		snprintf(rep->error, sizeof rep->error, "%s", why);
	rep->maybe_applied = c->is_write;
	finish(a);
}

const char *fleet_via_name(enum fleet_via v)
{
	switch (v) {
	case FLEET_VIA_PRIMARY: return "primary";
	case FLEET_VIA_OOB: return "oob";
	default: return "auto";
	}
}

static bool selected(const struct fleet_select *sel, const char *site)
{
	switch (sel->scope) {
	case FLEET_SITE:
		return strcmp(site, sel->site) == 0;
	case FLEET_EXCEPT_SITE:
		return !sel->site || strcmp(site, sel->site) != 0;
	default:
		return true;
	}
}

static bool method_ok(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };
	for (size_t i = 0; m && i < sizeof known / sizeof known[0]; i++)
		if (strcmp(m, known[i]) == 0)
			return true;
	return false;
}

static bool path_ok(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 1024)
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f || *p == '#')
			return false;
	return true;
}

int fleet_call(const struct fleet *f, struct fleet_select sel, const char *method,
	       const char *path, const char *body, const struct fleet_call_opts *opts,
	       struct fleet_replies *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!method_ok(method))
		return err_set(e, ERR_INVALID, "fleet: unknown HTTP method %s",
			       method ? method : "(none)");
	if (!path_ok(path))
		return err_set(e, ERR_INVALID, "fleet: bad request path %s", path ? path : "(none)");
	if (sel.scope == FLEET_SITE && !sel.site)
		return err_set(e, ERR_INVALID, "fleet: no site selected");
	if (sel.scope == FLEET_SITE && !fleet_find_site(f, sel.site))
		return err_set(e, ERR_NOTFOUND, "fleet %s has no site %s", f->source, sel.site);

	struct fleet_call_opts o = opts ? *opts : (struct fleet_call_opts){ 0 };
	if (!o.timeout_ms)
		o.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!o.max_response)
		o.max_response = FLEET_MAX_RESPONSE;

	size_t n = 0;
	for (size_t i = 0; i < f->n_sites; i++)
		if (selected(&sel, f->sites[i].name))
			n += f->sites[i].n_routers;
	if (!n)
		return err_set(e, ERR_NOTFOUND, "fleet %s: no router selected (it has no site "
			       "other than %s)", f->source, sel.site ? sel.site : "(none)");

	out->v = calloc(n, sizeof *out->v);
	struct attempt *att = calloc(n, sizeof *att);
	if (!out->v || !att) {
		free(out->v);
		free(att);
		out->v = NULL;
		return err_set(e, ERR_NOMEM, "fleet: out of memory");
	}
	out->n = n;
	json_t *tmpl = o.site_per_router ? json_loads(body ? body : "", 0, NULL) : NULL;
	if (o.site_per_router && !json_is_object(tmpl)) {
		json_decref(tmpl);
		free(att);
		fleet_replies_free(out);
		return err_set(e, ERR_INVALID, "fleet: the body is not a JSON object, so it cannot "
			       "name each router's site");
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		json_decref(tmpl);
		free(att);
		fleet_replies_free(out);
		return err_set(e, ERR_NOMEM, "fleet: libcurl cannot be initialised");
	}
	struct call c = {
		.method = method, .path = path, .body = body, .opts = &o,
		.is_write = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0,
		.multi = curl_multi_init(),
	};
	int rc = 0;
	size_t k = 0;
	if (!c.multi) {
		rc = err_set(e, ERR_NOMEM, "fleet: cannot set up libcurl");
		goto out;
	}
	long long t0 = now_ms();
	for (size_t i = 0; i < f->n_sites; i++) {
		if (!selected(&sel, f->sites[i].name))
			continue;
		for (size_t j = 0; j < f->sites[i].n_routers; j++, k++) {
			struct attempt *a = &att[k];
			a->reply = &out->v[k];
			a->reply->router = a->router = &f->sites[i].routers[j];
			a->max = o.max_response;
			a->start_ms = t0;
			a->deadline_ms = t0 + o.timeout_ms;
			if (tmpl) {
				json_object_set_new(tmpl, "site", json_string(f->sites[i].name));
				if (!(a->own_body = json_dumps(tmpl, JSON_COMPACT))) {
					fail_unsent(a, "out of memory");
					continue;
				}
			}
			start(&c, a, o.via == FLEET_VIA_OOB);
		}
	}
	while (c.active) {
		int running = 0;
		if (curl_multi_perform(c.multi, &running) != CURLM_OK)
			break;
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(c.multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			char *priv = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			struct attempt *a = (struct attempt *)(void *)priv;
			/* done() may add a handle; info_read's message is
			 * gone once its handle is removed */
			CURLcode result = m->data.result;
			done(&c, a, result);
		}
		if (!c.active)
			break;
		curl_multi_poll(c.multi, NULL, 0, 100, NULL);
	}
out:
	/* Only when libcurl itself failed is anything still open. */
	for (size_t i = 0; i < k; i++) {
		if (att[i].easy) {
			release(&c, &att[i]);
			snprintf(att[i].reply->error, sizeof att[i].reply->error,
				 "%s: libcurl failed", att[i].url);
			att[i].reply->maybe_applied = c.is_write;
		}
		buf_free(&att[i].rx);
		free(att[i].own_body);
	}
	json_decref(tmpl);
	if (c.multi)
		curl_multi_cleanup(c.multi);
	curl_global_cleanup();
	free(att);
	if (rc < 0)
		fleet_replies_free(out);
	return rc;
}

void fleet_replies_free(struct fleet_replies *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].body);
	free(r->v);
	memset(r, 0, sizeof *r);
}

/* ---- the view ----------------------------------------------------------- */

/* One service as one router said it. */
struct said {
	const char *name;
	bool known;
	enum svc_mode mode;
	unsigned prepend;
	bool has_next;
	enum svc_mode next_mode;
	unsigned next_prepend;
	const char *next_at;
};

/* How far a state takes the site out of traffic: announce 0, prepend N
 * is N, withdraw above every prepend. */
static unsigned drained_rank(enum svc_mode m, unsigned prepend)
{
	return m == MODE_WITHDRAW ? 1000u : m == MODE_PREPEND ? prepend : 0u;
}

static int read_state(json_t *o, enum svc_mode *mode, unsigned *prepend)
{
	const char *s = json_string_value(json_object_get(o, "state"));
	if (!s || svc_mode_parse(s, mode) < 0)
		return -1;
	json_t *p = json_object_get(o, "prepend");
	json_int_t n = json_is_integer(p) ? json_integer_value(p) : 0;
	if (*mode == MODE_PREPEND && (n < PREPEND_MIN || n > PREPEND_MAX))
		return -1;
	*prepend = *mode == MODE_PREPEND ? (unsigned)n : 0;
	return 0;
}

/* The services of a status answer; -1 with why filled when it is not one. */
static int read_status(json_t *body, const char *site, struct said **out, size_t *n,
		       char *why, size_t why_size)
{
	*out = NULL;
	*n = 0;
	const char *s = json_string_value(json_object_get(body, "site"));
	json_t *svcs = json_object_get(body, "services");
	if (!json_is_object(body) || !s || !json_is_array(svcs)) {
		snprintf(why, why_size, "its answer is not a status (no site or services)");
		return -1;
	}
	if (strcmp(s, site) != 0) {
		snprintf(why, why_size, "it says it is site %.64s, the fleet document says %s", s,
			 site);
		return -1;
	}
	struct said *v = calloc(json_array_size(svcs) + 1, sizeof *v);
	if (!v) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	size_t i;
	json_t *x;
	json_array_foreach(svcs, i, x) {
		struct said *d = &v[i];
		d->name = json_string_value(json_object_get(x, "name"));
		const char *st = json_string_value(json_object_get(x, "state"));
		if (!d->name || !st) {
			snprintf(why, why_size, "services[%zu] has no name or state", i);
			goto bad;
		}
		d->known = strcmp(st, "unknown") != 0;
		if (d->known && read_state(x, &d->mode, &d->prepend) < 0) {
			snprintf(why, why_size, "services[%zu] (%.64s): bad state %.32s", i, d->name,
				 st);
			goto bad;
		}
		json_t *next = json_object_get(x, "next");
		if (json_is_object(next)) {
			d->next_at = json_string_value(json_object_get(next, "at"));
			if (read_state(next, &d->next_mode, &d->next_prepend) < 0 || !d->next_at) {
				snprintf(why, why_size, "services[%zu] (%.64s): bad next step", i,
					 d->name);
				goto bad;
			}
			d->has_next = true;
		}
	}
	*out = v;
	*n = json_array_size(svcs);
	return 0;
bad:
	free(v);
	return -1;
}

static int cmp_view_service(const void *a, const void *b)
{
	return strcmp(((const struct fleet_view_service *)a)->name,
		      ((const struct fleet_view_service *)b)->name);
}

/* Merges what router k said into the site's services. */
static int merge(struct fleet_view_site *vs, const struct said *d, size_t nd, size_t answered_before)
{
	/* A service this router has and the others had not: they disagree. */
	for (size_t i = 0; i < nd; i++) {
		struct fleet_view_service *s = NULL;
		for (size_t j = 0; j < vs->n_services; j++)
			if (strcmp(vs->services[j].name, d[i].name) == 0)
				s = &vs->services[j];
		if (!s) {
			void *p = realloc(vs->services, (vs->n_services + 1) * sizeof *vs->services);
			if (!p)
				return -1;
			vs->services = p;
			s = &vs->services[vs->n_services++];
			memset(s, 0, sizeof *s);
			if (!(s->name = strdup(d[i].name)))
				return -1;
			s->known = d[i].known;
			s->mode = d[i].mode;
			s->prepend = d[i].prepend;
			s->disagree = answered_before > 0;
		} else if (s->known != d[i].known) {
			s->disagree = true;
			if (d[i].known) {
				s->known = true;
				s->mode = d[i].mode;
				s->prepend = d[i].prepend;
			}
		} else if (s->known && (s->mode != d[i].mode || s->prepend != d[i].prepend)) {
			s->disagree = true;
			if (drained_rank(d[i].mode, d[i].prepend) > drained_rank(s->mode, s->prepend)) {
				s->mode = d[i].mode;
				s->prepend = d[i].prepend;
			}
		}
		if (!s->has_next && d[i].has_next) {
			s->has_next = true;
			s->next_mode = d[i].next_mode;
			s->next_prepend = d[i].next_prepend;
			if (!(s->next_at = strdup(d[i].next_at)))
				return -1;
		}
	}
	/* A service the others had and this router has not. */
	for (size_t j = 0; j < vs->n_services; j++) {
		bool has = false;
		for (size_t i = 0; i < nd && !has; i++)
			has = strcmp(vs->services[j].name, d[i].name) == 0;
		if (!has)
			vs->services[j].disagree = true;
	}
	return 0;
}

int fleet_view_from_replies(const struct fleet *f, const struct fleet_replies *r,
			    struct fleet_view *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	out->sites = calloc(f->n_sites + 1, sizeof *out->sites);
	if (!out->sites)
		return err_set(e, ERR_NOMEM, "fleet view: out of memory");
	for (size_t i = 0; i < f->n_sites; i++) {
		const struct fleet_site *fs = &f->sites[i];
		size_t nr = 0;
		for (size_t k = 0; k < r->n; k++)
			nr += r->v[k].router->site == fs->name;
		if (!nr)
			continue;
		struct fleet_view_site *vs = &out->sites[out->n_sites++];
		vs->name = fs->name;
		vs->routers = calloc(nr, sizeof *vs->routers);
		if (!vs->routers)
			goto nomem;
		size_t answered = 0;
		for (size_t k = 0; k < r->n; k++) {
			const struct fleet_reply *rep = &r->v[k];
			if (rep->router->site != fs->name)
				continue;
			struct fleet_view_router *vr = &vs->routers[vs->n_routers++];
			vr->router = rep->router;
			vr->endpoint = rep->endpoint;
			char why[400] = "";
			struct said *d = NULL;
			size_t nd = 0;
			json_t *body = NULL;
			if (!rep->endpoint) {
				snprintf(vr->error, sizeof vr->error, "%s", rep->error);
			} else if (rep->status != 200) {
				json_t *b = json_loads(rep->body, 0, NULL);
				const char *m = json_string_value(
					json_object_get(json_object_get(b, "error"), "message"));
				snprintf(vr->error, sizeof vr->error, "%s answered HTTP %ld%s%.300s",
					 rep->endpoint, rep->status, m ? ": " : "", m ? m : "");
				json_decref(b);
			} else if (!(body = json_loads(rep->body, 0, NULL))) {
				snprintf(vr->error, sizeof vr->error,
					 "%s answered with a body that is not JSON", rep->endpoint);
			} else if (read_status(body, fs->name, &d, &nd, why, sizeof why) < 0) {
				snprintf(vr->error, sizeof vr->error, "%s: %s", rep->endpoint, why);
			} else {
				vr->answered = true;
				int m = merge(vs, d, nd, answered);
				answered++;
				free(d);
				if (m < 0) {
					json_decref(body);
					goto nomem;
				}
			}
			json_decref(body);
			if (!vr->answered)
				vs->n_unreachable++;
		}
		if (vs->n_services)
			qsort(vs->services, vs->n_services, sizeof *vs->services,
			      cmp_view_service);
		for (size_t j = 0; j < vs->n_services; j++)
			vs->disagree = vs->disagree || vs->services[j].disagree;
	}
	return 0;
nomem:
	fleet_view_free(out);
	return err_set(e, ERR_NOMEM, "fleet view: out of memory");
}

int fleet_view(const struct fleet *f, const char *except_site, unsigned timeout_ms,
	       struct fleet_view *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	struct fleet_replies r;
	struct fleet_call_opts o = { .timeout_ms = timeout_ms };
	struct fleet_select sel = { except_site ? FLEET_EXCEPT_SITE : FLEET_ALL, except_site };
	int rc = fleet_call(f, sel, "GET", "/v1/status", NULL, &o, &r, e);
	if (rc < 0)
		return rc;
	rc = fleet_view_from_replies(f, &r, out, e);
	fleet_replies_free(&r);
	return rc;
}

void fleet_view_free(struct fleet_view *v)
{
	for (size_t i = 0; i < v->n_sites; i++) {
		struct fleet_view_site *s = &v->sites[i];
		for (size_t j = 0; j < s->n_services; j++) {
			free(s->services[j].name);
			free(s->services[j].next_at);
		}
		free(s->services);
		free(s->routers);
	}
	free(v->sites);
	memset(v, 0, sizeof *v);
}

const struct fleet_view_site *fleet_view_find_site(const struct fleet_view *v, const char *name)
{
	for (size_t i = 0; name && i < v->n_sites; i++)
		if (strcmp(v->sites[i].name, name) == 0)
			return &v->sites[i];
	return NULL;
}

const struct fleet_view_service *fleet_view_find_service(const struct fleet_view_site *s,
							 const char *name)
{
	for (size_t i = 0; s && name && i < s->n_services; i++)
		if (strcmp(s->services[i].name, name) == 0)
			return &s->services[i];
	return NULL;
}
