/* Prometheus metrics of routectld: counters of the API, and the page in the
 * text exposition format 0.0.4. */
#include "api/metrics.h"

#include "api/audit.h"
#include "api/commands.h"
#include "common/buf.h"
#include "common/model.h"
#include "site/site.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ROUTECTL_VERSION
#define ROUTECTL_VERSION "unknown"
#endif

/* The (route, method, status) table is bounded so that a client that
 * invents paths cannot grow the page or the memory: routes are templates,
 * but a bug in the router (or a new route) must not turn every raw path
 * into a series. The last METRICS_HTTP_OTHER_ROOM entries are kept for
 * route "other", which counts what did not fit. */
#define METRICS_HTTP_MAX 256
#define METRICS_HTTP_OTHER_ROOM 32
#define METRICS_ROUTE_MAX 96

struct http_count {
	char route[METRICS_ROUTE_MAX];
	const char *method;   /* one of http_methods */
	int status;
	unsigned long long n;
};

static const char *const http_methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "other" };

static const char *const auth_reasons[] = { "missing", "malformed", "invalid", "forbidden" };
#define N_AUTH_REASONS (sizeof auth_reasons / sizeof auth_reasons[0])

/* Bumped and read on one thread: the one that serves requests (api/http.h
 * runs on the caller's event loop, with no threads of its own), so no lock. */
struct metrics {
	struct http_count http[METRICS_HTTP_MAX];
	size_t n_http;
	/* requests that found the table full even for route "other" */
	unsigned long long http_overflow;
	unsigned long long auth[N_AUTH_REASONS];
	unsigned long long auth_other;   /* a reason outside auth_reasons */
	unsigned long long rate_limited;
	int have_reload;
	int reload_ok;
	time_t config_loaded_at;
	const struct command_listener *listeners;
	size_t n_listeners;
};

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	free(m);
}

static const char *method_label(const char *method)
{
	/* HTTP methods are case-sensitive (RFC 9110, 9.1). */
	for (size_t i = 0; method && i + 1 < sizeof http_methods / sizeof http_methods[0]; i++)
		if (strcmp(method, http_methods[i]) == 0)
			return http_methods[i];
	return "other";
}

/* route: as kept in the table (route_key). */
static struct http_count *http_find(struct metrics *m, const char *route, const char *method,
				    int status)
{
	for (size_t i = 0; i < m->n_http; i++) {
		struct http_count *c = &m->http[i];
		if (c->status == status && c->method == method && strcmp(c->route, route) == 0)
			return c;
	}
	return NULL;
}

static struct http_count *http_add(struct metrics *m, const char *route, const char *method,
				   int status)
{
	struct http_count *c = &m->http[m->n_http++];
	memcpy(c->route, route, sizeof c->route);
	c->method = method;
	c->status = status;
	c->n = 0;
	return c;
}

void metrics_http(struct metrics *m, const char *route, const char *method, int status)
{
	if (!m)
		return;
	const char *meth = method_label(method);
	/* A route longer than the field is cut: it still counts, under its
	 * first METRICS_ROUTE_MAX - 1 bytes (the renderer mends a cut UTF-8
	 * sequence). */
	char key[METRICS_ROUTE_MAX] = { 0 }, other[METRICS_ROUTE_MAX] = { 0 };
	snprintf(key, sizeof key, "%s", route && route[0] ? route : "other");
	snprintf(other, sizeof other, "other");
	struct http_count *c = http_find(m, key, meth, status);
	if (!c && m->n_http < METRICS_HTTP_MAX - METRICS_HTTP_OTHER_ROOM)
		c = http_add(m, key, meth, status);
	if (!c) {
		c = http_find(m, other, meth, status);
		if (!c && m->n_http < METRICS_HTTP_MAX)
			c = http_add(m, other, meth, status);
	}
	if (c)
		c->n++;
	else
		m->http_overflow++;
}

void metrics_auth_failure(struct metrics *m, const char *reason)
{
	if (!m)
		return;
	for (size_t i = 0; reason && i < N_AUTH_REASONS; i++) {
		if (strcmp(reason, auth_reasons[i]) == 0) {
			m->auth[i]++;
			return;
		}
	}
	m->auth_other++;
}

void metrics_rate_limited(struct metrics *m)
{
	if (m)
		m->rate_limited++;
}

/* ---- the page ------------------------------------------------------------ */

/* The page being written; rc keeps the first failure (out of memory), after
 * which nothing more is written. */
struct page {
	struct buf b;
	int rc;
};

struct label {
	const char *name;
	const char *value;
};

static void put(struct page *pg, const char *s, size_t n)
{
	if (pg->rc == 0)
		pg->rc = buf_append(&pg->b, s, n);
}

static void put_str(struct page *pg, const char *s)
{
	put(pg, s, strlen(s));
}

/* Length of the valid UTF-8 sequence (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF) at s, or 0 when s does not start one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

/* A label value as the format wants it: backslash, double quote and line
 * feed escaped (exposition format 0.0.4), and, since label values must be
 * UTF-8, a byte that is not part of a valid sequence written as U+FFFD. */
static void put_label_value(struct page *pg, const char *value)
{
	const unsigned char *s = (const unsigned char *)value;
	while (*s) {
		size_t n = utf8_len(s);
		if (n == 0) {
			put_str(pg, "\xEF\xBF\xBD");
			s++;
		} else if (*s == '\\') {
			put_str(pg, "\\\\");
			s++;
		} else if (*s == '"') {
			put_str(pg, "\\\"");
			s++;
		} else if (*s == '\n') {
			put_str(pg, "\\n");
			s++;
		} else {
			put(pg, (const char *)s, n);
			s += n;
		}
	}
}

static void family(struct page *pg, const char *name, const char *type, const char *help)
{
	put_str(pg, "# HELP ");
	put_str(pg, name);
	put_str(pg, " ");
	put_str(pg, help);
	put_str(pg, "\n# TYPE ");
	put_str(pg, name);
	put_str(pg, " ");
	put_str(pg, type);
	put_str(pg, "\n");
}

static void sample(struct page *pg, const char *name, const struct label *l, size_t n,
		   const char *value)
{
	put_str(pg, name);
	for (size_t i = 0; i < n; i++) {
		put_str(pg, i ? "," : "{");
		put_str(pg, l[i].name);
		put_str(pg, "=\"");
		put_label_value(pg, l[i].value);
		put_str(pg, "\"");
	}
	put_str(pg, n ? "} " : " ");
	put_str(pg, value);
	put_str(pg, "\n");
}

static const char *u64_text(char out[24], unsigned long long v)
{
	snprintf(out, 24, "%llu", v);
	return out;
}

/* ms as seconds, exactly and without trailing zeros: 5 -> "0.005",
 * 1000 -> "1", 2500 -> "2.5". */
static const char *ms_seconds_text(char out[32], int64_t ms)
{
	if (ms < 0)
		ms = 0;
	int len = snprintf(out, 32, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
	while (len > 0 && out[len - 1] == '0')
		out[--len] = '\0';
	if (len > 0 && out[len - 1] == '.')
		out[--len] = '\0';
	return out;
}

static const char *double_text(char out[32], double v)
{
	if (isnan(v))
		snprintf(out, 32, "NaN");
	else if (isinf(v))
		snprintf(out, 32, v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(out, 32, "%.9g", v);
	return out;
}

static void render_services(struct page *pg, const char *site, const struct command_view *v)
{
	char num[24];
	family(pg, "routectl_service_state", "gauge",
	       "Desired state of a service at this site: 1 for its state, 0 for the others "
	       "(no series in safe mode).");
	for (size_t i = 0; v->state && i < v->state->n; i++) {
		const struct svc_state *ss = &v->state->svcs[i];
		static const enum svc_mode modes[] = { MODE_ANNOUNCE, MODE_PREPEND, MODE_WITHDRAW };
		for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
			struct label l[] = { { "site", site },
					     { "service", ss->name },
					     { "state", svc_mode_name(modes[k]) } };
			sample(pg, "routectl_service_state", l, 3, ss->mode == modes[k] ? "1" : "0");
		}
	}
	family(pg, "routectl_service_prepend", "gauge",
	       "How many times the site's AS is prepended to a service's paths (0 unless "
	       "its state is prepend).");
	for (size_t i = 0; v->state && i < v->state->n; i++) {
		const struct svc_state *ss = &v->state->svcs[i];
		struct label l[] = { { "site", site }, { "service", ss->name } };
		sample(pg, "routectl_service_prepend", l, 2,
		       u64_text(num, ss->mode == MODE_PREPEND ? ss->prepend : 0));
	}
}

static void render_applies(struct page *pg, const char *site, const struct apply_stats *st)
{
	char num[24], le[32], sum[32];
	struct label site_l[] = { { "site", site } };
	family(pg, "routectl_applies_total", "counter",
	       "Applies of a desired state to BIRD (changes, staged steps, repairs; not dry "
	       "runs) by result.");
	const struct {
		const char *result;
		unsigned long long n;
	} by[] = { { "ok", st->ok }, { "partial", st->partial }, { "failed", st->failed } };
	for (size_t i = 0; i < sizeof by / sizeof by[0]; i++) {
		struct label l[] = { { "site", site }, { "result", by[i].result } };
		sample(pg, "routectl_applies_total", l, 2, u64_text(num, by[i].n));
	}
	family(pg, "routectl_apply_duration_seconds", "histogram",
	       "Duration of an apply (render, precheck, configure, verify, confirm).");
	unsigned long long cumulative = 0;
	for (size_t i = 0; i <= APPLY_DURATION_BUCKETS; i++) {
		cumulative += st->bucket[i];
		struct label l[] = {
			{ "site", site },
			{ "le", i < APPLY_DURATION_BUCKETS
					? ms_seconds_text(le, apply_duration_bounds_ms[i])
					: "+Inf" },
		};
		/* +Inf is the count, whatever the buckets say. */
		sample(pg, "routectl_apply_duration_seconds_bucket", l, 2,
		       u64_text(num, i < APPLY_DURATION_BUCKETS ? cumulative : st->count));
	}
	sample(pg, "routectl_apply_duration_seconds_sum", site_l, 1,
	       ms_seconds_text(sum, st->sum_ms));
	sample(pg, "routectl_apply_duration_seconds_count", site_l, 1, u64_text(num, st->count));
}

static void render_view(struct page *pg, const struct command_view *v)
{
	char num[24];
	const char *site = v->site ? v->site : "";
	struct label site_l[] = { { "site", site } };
	render_services(pg, site, v);
	family(pg, "routectl_safe_mode", "gauge",
	       "1 while routectld is in safe mode (leaves BIRD alone, refuses changes).");
	sample(pg, "routectl_safe_mode", site_l, 1, v->safe_mode && v->safe_mode[0] ? "1" : "0");
	family(pg, "routectl_bird_up", "gauge", "1 while routectld is connected to BIRD.");
	sample(pg, "routectl_bird_up", site_l, 1, v->bird_connected ? "1" : "0");
	if (v->apply_stats)
		render_applies(pg, site, v->apply_stats);
	family(pg, "routectl_reconcile_repairs_total", "counter",
	       "Drift between BIRD and the desired state repaired by the reconciler.");
	sample(pg, "routectl_reconcile_repairs_total", site_l, 1, u64_text(num, v->repairs));
}

void metrics_set_listeners(struct metrics *m, const struct command_listener *v, size_t n)
{
	if (!m)
		return;
	m->listeners = v;
	m->n_listeners = n;
}

static void render_listeners(struct page *pg, const struct metrics *m)
{
	char port[16];
	if (!m->n_listeners)
		return;
	family(pg, "routectl_api_listener_up", "gauge",
	       "1 while a TCP listener of the API is bound (one that cannot bind is tried "
	       "again every few seconds).");
	for (size_t i = 0; i < m->n_listeners; i++) {
		const struct command_listener *l = &m->listeners[i];
		snprintf(port, sizeof port, "%u", l->port);
		struct label lb[] = { { "kind", l->kind }, { "address", l->address },
				      { "port", port } };
		sample(pg, "routectl_api_listener_up", lb, 3, l->bound ? "1" : "0");
	}
}

static void render_api(struct page *pg, const struct metrics *m)
{
	char num[24], status[16];
	family(pg, "routectl_http_requests_total", "counter",
	       "HTTP requests answered, by route template, method and status.");
	for (size_t i = 0; i < m->n_http; i++) {
		const struct http_count *c = &m->http[i];
		snprintf(status, sizeof status, "%d", c->status);
		struct label l[] = { { "route", c->route },
				     { "method", c->method },
				     { "status", status } };
		sample(pg, "routectl_http_requests_total", l, 3, u64_text(num, c->n));
	}
	if (m->http_overflow) {
		struct label l[] = { { "route", "other" },
				     { "method", "other" },
				     { "status", "other" } };
		sample(pg, "routectl_http_requests_total", l, 3, u64_text(num, m->http_overflow));
	}
	family(pg, "routectl_auth_failures_total", "counter",
	       "Requests refused by authentication (401: missing, malformed, invalid) or "
	       "authorization (403: forbidden).");
	for (size_t i = 0; i < N_AUTH_REASONS; i++) {
		struct label l[] = { { "reason", auth_reasons[i] } };
		sample(pg, "routectl_auth_failures_total", l, 1, u64_text(num, m->auth[i]));
	}
	if (m->auth_other) {
		struct label l[] = { { "reason", "other" } };
		sample(pg, "routectl_auth_failures_total", l, 1, u64_text(num, m->auth_other));
	}
	family(pg, "routectl_rate_limited_total", "counter",
	       "Requests refused by a connection or write-rate limit.");
	sample(pg, "routectl_rate_limited_total", NULL, 0, u64_text(num, m->rate_limited));
}

void metrics_config_reload(struct metrics *m, int ok, time_t loaded_at)
{
	if (!m)
		return;
	m->have_reload = 1;
	m->reload_ok = ok;
	m->config_loaded_at = loaded_at;
}

/* Named as Prometheus names its own, so that the usual alert reads the same. */
static void render_reload(struct page *pg, const struct metrics *m)
{
	char num[24];
	family(pg, "routectl_config_last_reload_successful", "gauge",
	       "1 when the last configuration reload (SIGHUP) succeeded or there was none, "
	       "0 when it failed and the config loaded before is still running.");
	sample(pg, "routectl_config_last_reload_successful", NULL, 0, m->reload_ok ? "1" : "0");
	family(pg, "routectl_config_last_reload_success_timestamp_seconds", "gauge",
	       "When the running configuration was loaded (start or last good reload), "
	       "in seconds since the epoch.");
	snprintf(num, sizeof num, "%lld", (long long)m->config_loaded_at);
	sample(pg, "routectl_config_last_reload_success_timestamp_seconds", NULL, 0, num);
}

static void render_audit(struct page *pg, const struct audit_stats *as)
{
	char num[32];
	family(pg, "routectl_audit_records_total", "counter", "Audit records written.");
	sample(pg, "routectl_audit_records_total", NULL, 0, u64_text(num, as->records));
	family(pg, "routectl_audit_failures_total", "counter",
	       "Audit records that could not be written (their changes were refused).");
	sample(pg, "routectl_audit_failures_total", NULL, 0, u64_text(num, as->failures));
	family(pg, "routectl_audit_last_sync_seconds", "gauge",
	       "Duration of the last write and fdatasync of the audit log.");
	sample(pg, "routectl_audit_last_sync_seconds", NULL, 0,
	       double_text(num, as->last_sync_seconds));
}

char *metrics_render(const struct metrics *m, const struct command_view *v,
		     const struct audit_stats *as)
{
	struct page pg = { { 0 }, 0 };
	family(&pg, "routectl_build_info", "gauge", "routectld's version; always 1.");
	struct label ver[] = { { "version", ROUTECTL_VERSION } };
	sample(&pg, "routectl_build_info", ver, 1, "1");
	if (v)
		render_view(&pg, v);
	if (m) {
		render_api(&pg, m);
		render_listeners(&pg, m);
	}
	if (m && m->have_reload)
		render_reload(&pg, m);
	if (as)
		render_audit(&pg, as);
	if (pg.rc < 0) {
		buf_free(&pg.b);
		return NULL;
	}
	return buf_steal(&pg.b);
}
